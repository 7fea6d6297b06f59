// tapsense-capture: the only DPDK process. Reads every input through a DPDK
// port (net_pcap for files, net_af_packet for kernel interfaces, PCI NICs),
// decodes each frame, writes packet records to the aggregator shards and
// payload snapshots to the fingerprinter workers, and signals the end of an
// offline input downstream.
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "capture/dispatch.h"
#include "capture/ports.h"
#include "capture/state.h"
#include "common/ipc/names.h"
#include "common/ipc/segment.h"
#include "common/pcapfile/scan.h"
#include "common/stage/exit_codes.h"
#include "common/stage/stage.h"
#include "common/util/time.h"

namespace ts = tapsense;
using namespace tapsense::capture;

namespace {

constexpr unsigned burst = 64;
constexpr std::size_t linear_buf = 16384;  // enough for every header and a snapshot

struct file_input {
  ts::pcapfile::scan_result scan;
};

// Packet time of an mbuf: the PMD's RX timestamp (microseconds from net_pcap
// in DPDK 22.11) or, for PMDs without one, the wall clock at the burst.
inline std::uint64_t packet_time(const rte_mbuf* m, const rx_timestamp& t, std::uint64_t now) {
  if (t.offset >= 0 && (m->ol_flags & t.flag) != 0) {
    std::uint64_t us;
    std::memcpy(&us, reinterpret_cast<const std::uint8_t*>(m) + t.offset, sizeof us);
    return us * 1000;
  }
  return now;
}

// Contiguous view of the first bytes of a packet (copies only multi-segment mbufs).
inline ts::net::bytes packet_bytes(const rte_mbuf* m, std::uint8_t* buf) {
  if (m->nb_segs == 1) {
    return {rte_pktmbuf_mtod(m, const std::uint8_t*), m->data_len};
  }
  const std::uint32_t len = std::min<std::uint32_t>(m->pkt_len, linear_buf);
  const auto* p = static_cast<const std::uint8_t*>(rte_pktmbuf_read(m, 0, len, buf));
  return {p, p ? len : 0};
}

struct eal_guard {
  bool up = false;
  ~eal_guard() {
    if (up) {
      rte_eal_cleanup();
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  bool rx_and_drop = false;
  ts::stage::context ctx(argc, argv, "capture", false, [&](ts::stage::CLI_App_adder& a) {
    a.flag("--rx-and-drop", rx_and_drop,
           "benchmark baseline: read the inputs through DPDK and drop every packet");
  });
  auto log = ctx.logger("rx");
  const auto& cfg = ctx.cfg();

  // --- inputs ---------------------------------------------------------
  std::vector<input> inputs;
  std::vector<file_input> files;
  std::uint64_t total_packets = 0;
  for (const auto& path : cfg.capture.pcap) {
    auto scan = ts::pcapfile::scan(path);
    if (scan.error != ts::pcapfile::scan_error::none &&
        scan.error != ts::pcapfile::scan_error::truncated) {
      return ctx.fatal(ts::exit_code::input, scan.message);
    }
    if (scan.error == ts::pcapfile::scan_error::truncated) {
      log->warn("{}", scan.message);
    }
    inputs.push_back({input_kind::file, path, "", 0, scan.packets});
    total_packets += scan.packets;
    files.push_back({std::move(scan)});
  }
  for (const auto& i : cfg.capture.interfaces) {
    const auto kind = i.driver == "pci" ? input_kind::pci
                      : i.driver == "pcap" ? input_kind::file
                                           : input_kind::af_packet;
    if (kind == input_kind::file) {
      return ctx.fatal(ts::exit_code::config, "interface driver pcap: list capture files under capture.pcap");
    }
    inputs.push_back({kind, i.name, "", 0, 0});
  }
  if (inputs.empty()) {
    return ctx.fatal(ts::exit_code::config, "nothing to capture: set capture.pcap or [[capture.interface]]");
  }
  const bool offline = !files.empty() && files.size() == inputs.size();

  // --- shared memory ---------------------------------------------------
  std::vector<ts::ipc::ring> agg_rings;
  std::vector<ts::ipc::ring> fp_rings;
  ts::ipc::segment state_seg;
  capture_state* state = nullptr;
  if (!rx_and_drop) {
    try {
      for (unsigned k = 0; k < cfg.aggregator.shards; ++k) {
        agg_rings.push_back(ts::ipc::ring::open(ts::ipc::names::capture_to_aggregator(ctx.instance(), k)));
      }
      for (unsigned j = 0; j < cfg.fingerprinter.workers; ++j) {
        fp_rings.push_back(ts::ipc::ring::open(ts::ipc::names::capture_to_fingerprinter(ctx.instance(), j)));
      }
      state_seg = ts::ipc::segment::open(ts::ipc::names::capture_state(ctx.instance()));
      state = static_cast<capture_state*>(state_seg.data());
    } catch (const ts::ipc::segment_error& e) {
      return ctx.fatal(ts::exit_code::software, e.what());
    }
    if (state->magic != state_magic) {
      return ctx.fatal(ts::exit_code::software, "capture state segment is not initialised");
    }
    if (state->end_of_input_sent.load() != 0) {
      log->info("end of input already delivered; nothing left to do");
      ctx.done("end_of_input", "already sent");
      return ts::exit_code::ok;
    }
  }
  const std::uint64_t resume = state ? state->published_ordinal.load() : 0;
  if (resume != 0) {
    state->restarts.fetch_add(1);
    log->warn("restarted: resuming after packet {}", resume);
  }

  // --- EAL and ports ----------------------------------------------------
  auto eal_args = eal_arguments(cfg, inputs, "tapsense-" + ctx.instance());
  std::vector<char*> eal_argv;
  for (auto& s : eal_args) {
    eal_argv.push_back(s.data());
  }
  eal_argv.push_back(nullptr);
  eal_guard eal;
  if (rte_eal_init(static_cast<int>(eal_args.size()), eal_argv.data()) < 0) {
    return ctx.fatal(ts::exit_code::software,
                     std::string("DPDK EAL initialisation failed: ") + rte_strerror(rte_errno));
  }
  eal.up = true;
  rte_mempool* pool = rte_pktmbuf_pool_create("tapsense_mbufs", cfg.capture.mbufs, 256, 0,
                                              RTE_MBUF_DEFAULT_BUF_SIZE,
                                              static_cast<int>(rte_socket_id()));
  if (pool == nullptr) {
    return ctx.fatal(ts::exit_code::software,
                     std::string("cannot create mbuf pool: ") + rte_strerror(rte_errno));
  }
  if (auto err = start_ports(inputs, pool, 1024); !err.empty()) {
    return ctx.fatal(inputs.front().kind == input_kind::file ? ts::exit_code::input
                                                             : ts::exit_code::unavailable,
                     err);
  }
  const rx_timestamp tsfield = lookup_rx_timestamp();

  std::vector<ts::ipc::ring*> agg_ptrs;
  std::vector<ts::ipc::ring*> fp_ptrs;
  for (auto& r : agg_rings) agg_ptrs.push_back(&r);
  for (auto& r : fp_rings) fp_ptrs.push_back(&r);
  dispatch_options dopt;
  dopt.snaplen = cfg.capture.snaplen;
  dopt.payload_packets = cfg.capture.payload_packets;
  dopt.lossless = offline;
  dopt.payload_to_aggregator = cfg.aggregator.applications;
  std::uint64_t ordinal = 0;
  std::uint64_t total_for_progress = total_packets;
  std::function<ts::control::counter_list()> counters_fn;
  dispatcher disp(dopt, agg_ptrs, fp_ptrs, [&] {
    // Waiting for a consumer: stay visible to the supervisor meanwhile.
    ctx.service(counters_fn, {ordinal, total_for_progress});
    return !ctx.stopping();
  });

  std::uint64_t lost_in_pmd = 0;
  auto counters = [&] {
    ts::control::counter_list c;
    const auto& dc = disp.counters();
    c.emplace_back("rx.packets", dc.packets.load(std::memory_order_relaxed));
    c.emplace_back("rx.wire_bytes", dc.wire_bytes.load(std::memory_order_relaxed));
    c.emplace_back("rx.decode_failures", dc.decode_failures.load(std::memory_order_relaxed));
    c.emplace_back("rx.non_ip", dc.non_ip.load(std::memory_order_relaxed));
    c.emplace_back("snapshots", dc.snapshots.load(std::memory_order_relaxed));
    c.emplace_back("snapshots.truncated", dc.snapshot_truncated.load(std::memory_order_relaxed));
    c.emplace_back("drops.record_ring_full", dc.record_drops.load(std::memory_order_relaxed));
    c.emplace_back("drops.snapshot_ring_full", dc.snapshot_drops.load(std::memory_order_relaxed));
    c.emplace_back("drops.pmd", lost_in_pmd);
    for (std::size_t a = 0; a < ts::net::anomaly_count; ++a) {
      if (const auto v = disp.anomalies().n[a]; v != 0) {
        c.emplace_back(std::string("anomaly.") + ts::net::anomaly_name(static_cast<ts::net::anomaly>(a)), v);
      }
    }
    for (const auto& in : inputs) {
      rte_eth_stats st{};
      if (rte_eth_stats_get(in.port, &st) == 0) {
        const auto p = "port." + in.devname + ".";
        c.emplace_back(p + "ipackets", st.ipackets);
        c.emplace_back(p + "imissed", st.imissed);
        c.emplace_back(p + "ierrors", st.ierrors);
        c.emplace_back(p + "rx_nombuf", st.rx_nombuf);
      }
    }
    for (std::size_t k = 0; k < agg_rings.size(); ++k) {
      c.emplace_back("shard." + std::to_string(k) + ".packets", disp.packets_to_shard(k));
    }
    return c;
  };
  counters_fn = counters;

  rte_mbuf* bufs[burst];
  alignas(64) static std::uint8_t linear[linear_buf];
  const auto start_ns = ts::util::mono_ns();
  std::uint64_t wire_bytes = 0;

  if (offline) {
    for (std::size_t f = 0; f < inputs.size() && !ctx.stopping(); ++f) {
      const auto& in = inputs[f];
      const auto& fixes = files[f].scan.fixes;
      std::size_t fix = 0;
      std::uint64_t received = 0;
      std::uint64_t idle_since = 0;
      while (received < in.packets && !ctx.stopping()) {
        const std::uint16_t n = rte_eth_rx_burst(in.port, 0, bufs, burst);
        if (n == 0) {
          // net_pcap has no end-of-file signal in 22.11: we know how many
          // records the file holds. If the PMD lost some (mbuf shortage,
          // oversized record), its counters say so; stop waiting for them.
          rte_eth_stats st{};
          rte_eth_stats_get(in.port, &st);
          const std::uint64_t lost = st.ierrors + st.rx_nombuf;
          if (received + lost >= in.packets) {
            log->warn("{}: the PMD dropped {} records", in.name, lost);
            lost_in_pmd += in.packets - received;
            break;
          }
          const auto now = ts::util::mono_ns();
          if (idle_since == 0) {
            idle_since = now;
          } else if (now - idle_since > 10'000'000'000ULL) {
            log->error("{}: no packets for 10 s after {} of {}; giving up", in.name, received, in.packets);
            lost_in_pmd += in.packets - received;
            break;
          }
          ctx.service(counters, {ordinal, total_packets});
          continue;
        }
        idle_since = 0;
        for (std::uint16_t i = 0; i < n; ++i) {
          rte_mbuf* m = bufs[i];
          const std::uint64_t file_index = received++;
          ++ordinal;
          if (ordinal <= resume || rx_and_drop) {
            wire_bytes += m->pkt_len;
            continue;
          }
          std::uint32_t wire = 0;
          while (fix < fixes.size() && fixes[fix].index < file_index) {
            ++fix;
          }
          if (fix < fixes.size() && fixes[fix].index == file_index && fixes[fix].caplen == m->pkt_len) {
            wire = fixes[fix].orig_len;
          }
          disp.on_packet(packet_bytes(m, linear), wire, packet_time(m, tsfield, 0), in.port, ordinal);
        }
        rte_pktmbuf_free_bulk(bufs, n);
        if (!rx_and_drop) {
          disp.publish();
          state->published_ordinal.store(ordinal, std::memory_order_release);
          ctx.service(counters, {ordinal, total_packets});
          if (cfg.capture.offline_rate != 0) {
            // Replay no faster than offline_rate packets/s.
            const auto due = start_ns + ordinal * 1'000'000'000ULL / cfg.capture.offline_rate;
            const auto now = ts::util::mono_ns();
            if (due > now) {
              std::this_thread::sleep_for(std::chrono::nanoseconds(due - now));
            }
          }
        }
      }
    }
    if (rx_and_drop) {
      const double secs = static_cast<double>(ts::util::mono_ns() - start_ns) / 1e9;
      std::printf("rx-and-drop: %lu packets, %lu bytes in %.3f s: %.0f packets/s, %.3f Gbit/s\n",
                  static_cast<unsigned long>(ordinal), static_cast<unsigned long>(wire_bytes), secs,
                  static_cast<double>(ordinal) / secs,
                  static_cast<double>(wire_bytes) * 8 / secs / 1e9);
      return ts::exit_code::ok;
    }
    if (ctx.stopping()) {
      log->info("stopped before the end of the input");
    }
    if (!disp.end_of_input(disp.last_ts_ns())) {
      return ts::exit_code::ok;  // stopped while waiting for room
    }
    state->end_of_input_sent.store(1);
    ctx.heartbeat_now(counters(), {ordinal, total_packets});
    ctx.done("end_of_input", std::to_string(ordinal) + " packets");
    log->info("end of input after {} packets", ordinal);
    return ts::exit_code::ok;
  }

  // --- live -------------------------------------------------------------
  std::uint64_t last_rx_ns = ts::util::now_ns();
  std::uint64_t last_idle_tick = 0;
  ordinal = resume;
  while (!ctx.stopping()) {
    const std::uint64_t now = ts::util::now_ns();
    bool any = false;
    for (const auto& in : inputs) {
      const std::uint16_t n = rte_eth_rx_burst(in.port, 0, bufs, burst);
      if (n == 0) {
        continue;
      }
      any = true;
      for (std::uint16_t i = 0; i < n; ++i) {
        rte_mbuf* m = bufs[i];
        disp.on_packet(packet_bytes(m, linear), m->pkt_len, packet_time(m, tsfield, now), in.port, ++ordinal);
      }
      rte_pktmbuf_free_bulk(bufs, n);
    }
    if (any) {
      disp.publish();
      state->published_ordinal.store(ordinal, std::memory_order_release);
      last_rx_ns = now;
    } else if (now - last_rx_ns > 1'000'000'000ULL && now - last_idle_tick > 1'000'000'000ULL) {
      // Quiet link: packet time is wall time, so keep intervals closing.
      disp.tick(now);
      last_idle_tick = now;
    }
    ctx.service(counters, {ordinal, 0});
    if (!any) {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
  // Stop: hand over what we have and tell the consumers nothing more comes.
  ctx.stop_flag().store(false);
  if (disp.end_of_input(disp.last_ts_ns())) {
    state->end_of_input_sent.store(1);
  }
  ctx.heartbeat_now(counters(), {ordinal, 0});
  ctx.done("end_of_input", std::to_string(ordinal) + " packets");
  return ts::exit_code::ok;
}
