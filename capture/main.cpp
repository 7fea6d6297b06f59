// tapsense-capture: the only DPDK process. Reads every input through a DPDK
// port (net_pcap for files, net_af_packet for kernel interfaces, PCI NICs),
// decodes each frame, writes packet records to the aggregator shards and
// payload snapshots to the fingerprinter workers, and signals the end of an
// offline input downstream.
//
// RX runs on `capture.lcores` lcores. Each has its own rings to every
// consumer (one producer per ring), its own dispatcher and counters, and a
// share of the (port, queue) pairs; with several queues per NIC a symmetric
// RSS key keeps both directions of a flow on one queue. Files are read by
// lcore 0, in order, losslessly.
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <thread>

#include "capture/dispatch.h"
#include "capture/eal_timer.h"
#include "capture/kernel_sockets.h"
#include "capture/pcap_files.h"
#include "capture/ports.h"
#include "capture/state.h"
#include "common/ipc/layouts.h"
#include "common/ipc/names.h"
#include "common/ipc/ring.h"
#include "common/ipc/segment.h"
#include "common/net/cidr.h"
#include "common/pcapfile/handoff.h"
#include "common/pcapfile/scan.h"
#include "common/stage/exit_codes.h"
#include "common/stage/stage.h"
#include "common/util/time.h"

namespace ts = tapsense;
using namespace tapsense::capture;

namespace {

constexpr unsigned burst = 64;
// The pool for files: a burst of the largest records and the pool's lcore
// cache (up to 1.5 times its 256) fit, with room to spare. net_pcap keeps
// lengths in 16 bits: a record fills at most 33 buffers of 2 KB (2,496 for
// a burst and the cache). It drops a record whose chain it cannot fill:
// tests/e2e/test_large_frames.py loses records with 1,023.
constexpr unsigned file_mbufs = 4095;
constexpr std::size_t linear_buf = 16384;  // enough for every header and a snapshot

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

// EAL makes a runtime directory (/run/dpdk/<file prefix>) and leaves it
// behind; a prefix is a run's own, so every run left one. With --no-shconf
// (ports.cpp) it holds nothing, and goes here, whether EAL started or not.
struct eal_guard {
  bool up = false;
  ~eal_guard() {
    if (up) {
      rte_eal_cleanup();
    }
    if (const char* dir = rte_eal_get_runtime_dir(); dir != nullptr && dir[0] != '\0') {
      std::error_code ec;
      std::filesystem::remove(dir, ec);  // only if empty
    }
  }
};

struct queue_ref {
  std::uint16_t input;  // index among the configured inputs (record port_id)
  std::uint16_t port;   // DPDK port
  std::uint16_t queue;
};

// One RX lcore and everything it owns.
struct rx_lcore {
  unsigned index = 0;
  std::vector<queue_ref> queues;
  std::vector<ts::ipc::ring> agg_rings;
  std::vector<ts::ipc::ring> fp_rings;
  std::unique_ptr<dispatcher> disp;
  std::uint64_t ordinal = 0;
  std::uint64_t last_rx_ns = 0;
  std::uint64_t last_idle_tick = 0;
  alignas(64) std::uint8_t linear[linear_buf];
};

struct live_shared {
  std::atomic<bool> stop{false};
  capture_state* state = nullptr;
  rx_timestamp tsfield;
};

// One pass over an lcore's queues; returns whether anything arrived.
bool poll_once(rx_lcore& lc, live_shared& sh) {
  rte_mbuf* bufs[burst];
  const std::uint64_t now = ts::util::now_ns();
  bool any = false;
  for (const auto& q : lc.queues) {
    const std::uint16_t n = rte_eth_rx_burst(q.port, q.queue, bufs, burst);
    if (n == 0) {
      continue;
    }
    any = true;
    for (std::uint16_t i = 0; i < n; ++i) {
      rte_mbuf* m = bufs[i];
      lc.disp->on_packet(packet_bytes(m, lc.linear), m->pkt_len, packet_time(m, sh.tsfield, now), q.input,
                         ++lc.ordinal);
    }
    rte_pktmbuf_free_bulk(bufs, n);
  }
  if (any) {
    lc.disp->publish();
    sh.state->published_ordinal[lc.index].store(lc.ordinal, std::memory_order_release);
    lc.last_rx_ns = now;
  } else if (now - lc.last_rx_ns > 1'000'000'000ULL && now - lc.last_idle_tick > 1'000'000'000ULL) {
    // Quiet link: packet time is wall time, so keep intervals closing.
    lc.disp->tick(now);
    lc.last_idle_tick = now;
  }
  return any;
}

// Worker lcores (live inputs only): RX until told to stop, then end of input.
int worker_main(void* arg) {
  auto* pair = static_cast<std::pair<rx_lcore*, live_shared*>*>(arg);
  auto& lc = *pair->first;
  auto& sh = *pair->second;
  while (!sh.stop.load(std::memory_order_relaxed)) {
    if (!poll_once(lc, sh)) {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
  lc.disp->end_of_input(lc.disp->last_ts_ns());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bool rx_and_drop = false;
  std::string scans_file;
  ts::stage::context ctx(argc, argv, "capture", false, [&](ts::stage::CLI_App_adder& a) {
    a.flag("--rx-and-drop", rx_and_drop,
           "benchmark baseline: read the inputs through DPDK and drop every packet");
    a.option("--scans", scans_file,
             "the supervisor's scan of the input files as it goes (handoff.h): packets are read as far as "
             "it has scanned (a file changed since is scanned here)");
  });
  auto log = ctx.logger("rx");
  const auto& cfg = ctx.cfg();

  // --- inputs ---------------------------------------------------------
  std::vector<input> inputs;
  for (const auto& path : cfg.capture.pcap) {
    input in;
    in.kind = input_kind::file;
    in.name = path;
    inputs.push_back(std::move(in));
  }
  // How far each file has been scanned (the count tells where net_pcap's
  // input ends), entry f for file f: the supervisor's scan as it goes
  // (--scans, followed once the ports are up), or, started by hand, a scan
  // here before anything else. Neither lists cut-short records: their wire
  // lengths come from net_pcap's own reads (pcap_files.h).
  ts::pcapfile::scan_follower scans(scans_file);
  bool following = !scans_file.empty();
  std::vector<char> judged(cfg.capture.pcap.size(), 0);  // file f's ended scan was checked
  std::uint64_t total_packets = 0;                        // known so far (progress only)
  if (!following) {
    for (std::size_t i = 0; i < cfg.capture.pcap.size(); ++i) {
      auto r = ts::pcapfile::scan(cfg.capture.pcap[i]);
      if (const auto why = ts::pcapfile::refusal(r); !why.empty()) {
        return ctx.fatal(ts::exit_code::input, why);
      }
      total_packets += r.packets;
      scans.put(i, std::move(r));
    }
  }
  std::vector<port_filter> filters(inputs.size());
  for (const auto& i : cfg.capture.interfaces) {
    const auto kind = i.driver == "pci" ? input_kind::pci : input_kind::af_packet;
    if (i.driver == "pcap") {
      return ctx.fatal(ts::exit_code::config, "interface driver pcap: list capture files under capture.pcap");
    }
    input in;
    in.kind = kind;
    in.name = i.name;
    in.rx_queues = i.rx_queues;
    inputs.push_back(std::move(in));
    port_filter f;
    if (i.mode == "erspan") {
      f.erspan_only = true;
      if (auto a = ts::net::ip_address::parse(i.erspan_address)) {
        f.addresses.push_back(*a);
      }
    }
    filters.push_back(std::move(f));
  }
  if (inputs.empty()) {
    return ctx.fatal(ts::exit_code::config, "nothing to capture: set capture.pcap or [[capture.interface]]");
  }
  // Files only: read in order, losslessly.
  const bool offline = !cfg.capture.pcap.empty() && cfg.capture.interfaces.empty();
  // The supervisor resolved capture.lcores (1 for files: they are read in order).
  const unsigned lcores = std::clamp(cfg.capture.lcores, 1u, max_lcores);

  // --- shared memory ---------------------------------------------------
  std::vector<std::unique_ptr<rx_lcore>> lcs;
  for (unsigned l = 0; l < lcores; ++l) {
    lcs.push_back(std::make_unique<rx_lcore>());
    lcs.back()->index = l;
  }
  ts::ipc::segment state_seg;
  live_shared shared;
  if (!rx_and_drop) {
    try {
      for (unsigned l = 0; l < lcores; ++l) {
        auto& lc = *lcs[l];
        for (unsigned k = 0; k < cfg.aggregator.shards; ++k) {
          lc.agg_rings.push_back(ts::ipc::ring::open(ts::ipc::names::capture_to_aggregator(ctx.instance(), l, k)));
        }
        for (unsigned j = 0; j < cfg.fingerprinter.workers; ++j) {
          lc.fp_rings.push_back(ts::ipc::ring::open(ts::ipc::names::capture_to_fingerprinter(ctx.instance(), l, j)));
        }
      }
      state_seg = ts::ipc::segment::open(ts::ipc::names::capture_state(ctx.instance()));
      shared.state = static_cast<capture_state*>(state_seg.data());
    } catch (const ts::ipc::segment_error& e) {
      return ctx.fatal(ts::exit_code::software, e.what());
    }
    if (state_seg.size() < ts::ipc::layouts::capture_state(cfg) || shared.state->magic != state_magic) {
      return ctx.fatal(ts::exit_code::software, "capture state segment is not initialised");
    }
    if (shared.state->end_of_input_sent.load() != 0) {
      log->info("end of input already delivered; nothing left to do");
      ctx.done("end_of_input", "already sent");
      return ts::exit_code::ok;
    }
  }

  // --- EAL and ports ----------------------------------------------------
  auto eal_args = eal_arguments(cfg, inputs, "tapsense-" + ctx.instance(), lcores);
  std::vector<char*> eal_argv;
  for (auto& s : eal_args) {
    eal_argv.push_back(s.data());
  }
  eal_argv.push_back(nullptr);
  eal_guard eal;
  ts::capture::eal_calibration(true);
  const int eal_rc = rte_eal_init(static_cast<int>(eal_args.size()), eal_argv.data());
  ts::capture::eal_calibration(false);
  if (eal_rc < 0) {
    return ctx.fatal(ts::exit_code::software,
                     std::string("DPDK EAL initialisation failed: ") + rte_strerror(rte_errno));
  }
  eal.up = true;
  log->info("EAL memory: {}; TSC {} MHz", std::find(eal_args.begin(), eal_args.end(), "--no-huge") == eal_args.end()
                                            ? "hugepages" : "no hugepages (--no-huge)",
            rte_get_tsc_hz() / 1'000'000);
  // Files need fewer buffers: net_pcap fills a burst, which goes back to
  // the pool before the next. Every buffer of the pool is touched when it
  // is made, a page fault every two buffers.
  const unsigned mbufs = offline ? std::min(cfg.capture.mbufs, file_mbufs) : cfg.capture.mbufs;
  rte_mempool* pool = rte_pktmbuf_pool_create("tapsense_mbufs", mbufs, 256, 0,
                                              RTE_MBUF_DEFAULT_BUF_SIZE,
                                              static_cast<int>(rte_socket_id()));
  if (pool == nullptr) {
    return ctx.fatal(ts::exit_code::software,
                     std::string("cannot create mbuf pool: ") + rte_strerror(rte_errno));
  }
  if (auto err = start_ports(inputs, pool, 1024); !err.empty()) {
    return ctx.fatal(offline ? ts::exit_code::input : ts::exit_code::unavailable, err);
  }
  shared.tsfield = lookup_rx_timestamp();
  for (const auto& in : inputs) {
    if (in.kind != input_kind::file) {
      log->info("sniffing {} ({}): {} RX queue(s){}", in.name, in.devname, in.rx_queues,
                in.rss ? ", symmetric RSS" : "");
    }
    if (in.kind == input_kind::af_packet) {
      if (in.kernel_fds.size() != in.rx_queues) {
        log->warn("{}: found {} of the PMD's {} AF_PACKET socket(s); drops.kernel counts only those", in.name,
                  in.kernel_fds.size(), in.rx_queues);
      }
      for (const int fd : in.kernel_fds) {
        if (fanout_defrag(fd)) {
          log->warn("{}: the kernel reassembles IPv4 fragments before capture (PACKET_FANOUT_FLAG_DEFRAG is set): "
                    "live and offline runs will differ on fragments", in.name);
          break;
        }
      }
    }
  }

  // Spread (port, queue) pairs over the lcores.
  {
    unsigned next = 0;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      for (unsigned q = 0; q < inputs[i].rx_queues; ++q) {
        lcs[next % lcores]->queues.push_back(
            {static_cast<std::uint16_t>(i), inputs[i].port, static_cast<std::uint16_t>(q)});
        ++next;
      }
    }
  }
  dispatch_options dopt;
  dopt.snaplen = cfg.capture.snaplen;
  dopt.payload_packets = cfg.capture.payload_packets;
  dopt.lossless = offline;
  dopt.payload_to_aggregator = cfg.aggregator.applications;
  dopt.dedup = cfg.capture.dedup;
  dopt.dedup_window_ns = std::uint64_t{cfg.capture.dedup_window_us} * 1000;
  dopt.tcp_idle_s = cfg.aggregator.tcp_idle_s;
  dopt.udp_idle_s = cfg.aggregator.udp_idle_s;
  dopt.other_idle_s = cfg.aggregator.other_idle_s;
  std::function<ts::control::counter_list()> counters_fn;
  std::uint64_t progress = 0;
  std::vector<std::uint16_t> lc0_link_types;  // files: lcore 0's link type per port
  const ts::config::classifier cls(cfg);
  std::vector<std::unique_ptr<name_watcher>> watchers;
  for (auto& lcp : lcs) {
    auto& lc = *lcp;
    std::vector<ts::ipc::ring*> agg_ptrs;
    std::vector<ts::ipc::ring*> fp_ptrs;
    for (auto& r : lc.agg_rings) agg_ptrs.push_back(&r);
    for (auto& r : lc.fp_rings) fp_ptrs.push_back(&r);
    std::function<bool()> keep;
    if (lc.index == 0) {
      // Lcore 0 owns the control channel: while it waits for a consumer it
      // stays visible to the supervisor.
      keep = [&] {
        ctx.service(counters_fn, {progress, total_packets});
        return !ctx.stopping() || !offline;
      };
    } else {
      keep = [] { return true; };
    }
    lc.disp = std::make_unique<dispatcher>(dopt, agg_ptrs, fp_ptrs, keep);
    lc.disp->set_port_filters(filters);
    if (offline) {
      // Each file is one port; its link type tells what its records start
      // with (a followed scan's, once it names its file).
      std::vector<std::uint16_t> link_types(cfg.capture.pcap.size(), 1);
      for (std::size_t f = 0; f < scans.files().size(); ++f) {
        const auto& lts = scans.files()[f].result.linktypes;
        if (!lts.empty()) link_types[f] = static_cast<std::uint16_t>(lts.front());
      }
      lc.disp->set_port_link_types(link_types);
      if (lc.index == 0) lc0_link_types = link_types;
    }
    watchers.push_back(std::make_unique<name_watcher>(cls, static_cast<std::uint32_t>(cfg.aggregator.tcp_idle_s)));
    lc.disp->set_name_watcher(watchers.back().get());
    if (shared.state != nullptr) {
      lc.ordinal = shared.state->published_ordinal[lc.index].load();
    }
  }
  const std::uint64_t resume = lcs[0]->ordinal;
  if (resume != 0 && offline) {
    shared.state->restarts.fetch_add(1);
    log->warn("restarted: resuming after packet {}", resume);
  }

  std::uint64_t lost_in_pmd = 0;
  auto counters = [&] {
    ts::control::counter_list c;
    std::uint64_t tot[10] = {};
    std::uint64_t frag[4] = {};
    std::vector<std::uint64_t> anomalies(ts::net::anomaly_count, 0);
    for (const auto& lcp : lcs) {
      const auto& dc = lcp->disp->counters();
      const std::uint64_t v[10] = {dc.packets.load(std::memory_order_relaxed),
                                   dc.wire_bytes.load(std::memory_order_relaxed),
                                   dc.decode_failures.load(std::memory_order_relaxed),
                                   dc.non_ip.load(std::memory_order_relaxed),
                                   dc.snapshots.load(std::memory_order_relaxed),
                                   dc.snapshot_truncated.load(std::memory_order_relaxed),
                                   dc.record_drops.load(std::memory_order_relaxed),
                                   dc.snapshot_drops.load(std::memory_order_relaxed),
                                   dc.duplicates.load(std::memory_order_relaxed),
                                   dc.not_for_erspan.load(std::memory_order_relaxed)};
      for (int i = 0; i < 10; ++i) tot[i] += v[i];
      if (lcs.size() > 1) {
        const auto p = "lcore." + std::to_string(lcp->index) + ".";
        c.emplace_back(p + "rx.packets", v[0]);
        c.emplace_back(p + "duplicates", v[8]);
        c.emplace_back(p + "drops.record_ring_full", v[6]);
        c.emplace_back(p + "drops.snapshot_ring_full", v[7]);
      }
      for (std::size_t a = 0; a < ts::net::anomaly_count; ++a) anomalies[a] += lcp->disp->anomalies().n[a];
      const auto& fc = lcp->disp->fragments();
      frag[0] += fc.tracked;
      frag[1] += fc.attributed;
      frag[2] += fc.unattributed;
      frag[3] += fc.evicted;
    }
    c.emplace_back("rx.packets", tot[0]);
    c.emplace_back("rx.wire_bytes", tot[1]);
    c.emplace_back("rx.decode_failures", tot[2]);
    c.emplace_back("rx.non_ip", tot[3]);
    c.emplace_back("snapshots", tot[4]);
    c.emplace_back("snapshots.truncated", tot[5]);
    c.emplace_back("drops.record_ring_full", tot[6]);
    c.emplace_back("drops.snapshot_ring_full", tot[7]);
    c.emplace_back("duplicates", tot[8]);
    c.emplace_back("drops.not_for_erspan_address", tot[9]);
    c.emplace_back("drops.pmd", lost_in_pmd);
    // Frames the kernel dropped because a socket ring was full: the PMD
    // cannot see them (kernel_sockets.h).
    std::uint64_t kernel_drops = 0;
    for (auto& in : inputs) {
      add_kernel_counters(in.kernel_fds, in.kernel);
      kernel_drops += in.kernel.drops;
    }
    c.emplace_back("drops.kernel", kernel_drops);
    std::uint64_t names = 0;
    for (const auto& w : watchers) names += w->matches();
    c.emplace_back("monitored_names", names);
    c.emplace_back("fragments.tracked", frag[0]);
    c.emplace_back("fragments.attributed", frag[1]);
    c.emplace_back("fragments.unattributed", frag[2]);
    c.emplace_back("fragments.evicted", frag[3]);
    for (std::size_t a = 0; a < ts::net::anomaly_count; ++a) {
      if (anomalies[a] != 0) {
        c.emplace_back(std::string("anomaly.") + ts::net::anomaly_name(static_cast<ts::net::anomaly>(a)), anomalies[a]);
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
      if (in.kind == input_kind::af_packet) {
        const auto p = "port." + in.devname + ".";
        c.emplace_back(p + "kernel_packets", in.kernel.packets);
        c.emplace_back(p + "kernel_drops", in.kernel.drops);
      }
    }
    if (!lcs.empty()) {
      for (std::size_t k = 0; k < lcs[0]->agg_rings.size(); ++k) {
        std::uint64_t n = 0;
        for (const auto& lcp : lcs) n += lcp->disp->packets_to_shard(k);
        c.emplace_back("shard." + std::to_string(k) + ".packets", n);
      }
      for (const auto& lcp : lcs) {
        for (const auto& r : lcp->agg_rings) {
          c.emplace_back("ring" + r.name().substr(r.name().rfind(".cap-")) + ".drops",
                         r.header().producer.drops.load(std::memory_order_relaxed));
        }
        for (const auto& r : lcp->fp_rings) {
          c.emplace_back("ring" + r.name().substr(r.name().rfind(".cap-")) + ".drops",
                         r.header().producer.drops.load(std::memory_order_relaxed));
        }
      }
    }
    return c;
  };
  counters_fn = counters;

  const auto start_ns = ts::util::mono_ns();
  std::uint64_t wire_bytes = 0;

  if (offline) {
    // --- files: lcore 0, in order, losslessly ------------------------------
    auto& lc = *lcs[0];
    rte_mbuf* bufs[burst];
    record_lengths lengths;
    std::uint64_t ordinal = 0;
    std::uint64_t rate_origin_ns = 0;  // offline_rate: when and after which packet pacing began
    std::uint64_t rate_origin = 0;
    auto& link_types = lc0_link_types;
    // The supervisor's scan, followed: what it has added since, and the
    // total known so far. Followed no further when it cannot be read or
    // describes another file than the one here: every file whose scan has
    // not ended is then scanned here.
    auto stop_following = [&](const std::string& why) {
      log->warn("scanning the inputs here: {}", why);
      following = false;
      for (std::size_t f = 0; f < inputs.size(); ++f) {
        if (f >= scans.files().size() || !scans.files()[f].ended) {
          scans.put(f, ts::pcapfile::scan(inputs[f].name));
        }
      }
    };
    auto refresh = [&] {
      if (!following) return;
      if (std::string why; !scans.poll(why)) stop_following(why);
      std::uint64_t known = 0;
      for (const auto& x : scans.files()) known += x.scanned;
      total_packets = known;
    };
    // A file's scan, once ended: refused (the supervisor stops the run
    // first; capture started by hand stops here) or cut short.
    auto judge = [&](std::size_t f) -> int {
      const auto& x = scans.files()[f];
      if (judged[f] || !x.ended) return ts::exit_code::ok;
      judged[f] = 1;
      if (const auto why = ts::pcapfile::refusal(x.result); !why.empty()) {
        return ctx.fatal(ts::exit_code::input, why);
      }
      if (x.result.error == ts::pcapfile::scan_error::truncated) log->warn("{}", x.result.message);
      return ts::exit_code::ok;
    };
    // Before file f is read: its scan has begun (and is of this file), and
    // its link type is known.
    auto prepare = [&](std::size_t f) -> int {
      ts::ipc::backoff bo;
      while (following && scans.files().size() <= f) {
        if (ctx.stopping()) return ts::exit_code::ok;
        if (scans.complete()) {
          stop_following("the supervisor's scan has no file " + std::to_string(f + 1));
          break;
        }
        const auto had = scans.files().size();
        refresh();
        if (scans.files().size() == had) {
          ctx.service(counters, {ordinal, total_packets});
          bo.pause();
        }
      }
      if (following) {
        const auto& r = scans.files()[f].result;
        if (r.path != inputs[f].name || !ts::pcapfile::still_current(r, r.path)) {
          stop_following(inputs[f].name + " changed since the supervisor scanned it");
        }
      }
      const auto& lts = scans.files()[f].result.linktypes;
      link_types[f] = static_cast<std::uint16_t>(lts.empty() ? 1 : lts.front());
      lc.disp->set_port_link_types(link_types);
      return judge(f);
    };
    // Packet `index` of file f is read only once the scan has passed it.
    auto wait_for_scan = [&](std::size_t f, std::uint64_t index) -> int {
      ts::ipc::backoff bo;
      const auto& x = scans.files()[f];
      while (!x.ended && x.scanned <= index && !ctx.stopping()) {
        const auto had = x.scanned;
        refresh();
        if (x.scanned == had && !x.ended) {
          ctx.service(counters, {ordinal, total_packets});
          bo.pause();
        }
      }
      return judge(f);
    };
    for (std::size_t f = 0; f < inputs.size() && !ctx.stopping(); ++f) {
      const auto& in = inputs[f];
      if (const int rc = prepare(f); rc != ts::exit_code::ok) return rc;
      if (ctx.stopping()) break;
      // The file's scan (the entry stays where it is while later files are
      // added; a scan made here replaces it in place). Packets below
      // `avail` the scan has passed: they are read without a look.
      const auto& x = scans.files()[f];
      std::uint64_t avail = x.ended ? UINT64_MAX : x.scanned;
      std::uint64_t received = 0;
      std::uint64_t idle_since = 0;
      while (!(x.ended && received >= x.result.packets) && !ctx.stopping()) {
        // The records' wire lengths, as net_pcap reads them (pcap_files.h).
        collect_record_lengths(&lengths);
        const std::uint16_t n = rte_eth_rx_burst(in.port, 0, bufs, burst);
        collect_record_lengths(nullptr);
        if (n == 0) {
          if (!x.ended) {
            // net_pcap is ahead of the scan, or the other way round: either
            // way the scan says where the file ends.
            if (const int rc = wait_for_scan(f, received); rc != ts::exit_code::ok) return rc;
            avail = x.ended ? UINT64_MAX : x.scanned;
            continue;
          }
          // net_pcap has no end-of-file signal in 22.11: we know how many
          // records the file holds. If the PMD lost some (mbuf shortage,
          // oversized record), its counters say so; stop waiting for them.
          const std::uint64_t packets = x.result.packets;
          rte_eth_stats st{};
          rte_eth_stats_get(in.port, &st);
          const std::uint64_t lost = st.ierrors + st.rx_nombuf;
          if (received + lost >= packets) {
            log->warn("{}: the PMD dropped {} records", in.name, lost);
            lost_in_pmd += packets - received;
            break;
          }
          const auto now = ts::util::mono_ns();
          if (idle_since == 0) {
            idle_since = now;
          } else if (now - idle_since > 10'000'000'000ULL) {
            log->error("{}: no packets for 10 s after {} of {}; giving up", in.name, received, packets);
            lost_in_pmd += packets - received;
            break;
          }
          ctx.service(counters, {ordinal, total_packets});
          continue;
        }
        idle_since = 0;
        for (std::uint16_t i = 0; i < n; ++i) {
          rte_mbuf* m = bufs[i];
          if (received >= avail) {
            if (const int rc = wait_for_scan(f, received); rc != ts::exit_code::ok) {
              rte_pktmbuf_free_bulk(bufs, n);
              return rc;
            }
            if (ctx.stopping()) break;  // this packet and the rest of the burst are not counted
            avail = x.ended ? UINT64_MAX : x.scanned;
          }
          ++received;
          ++ordinal;
          if (ordinal <= resume || rx_and_drop) {
            wire_bytes += m->pkt_len;
            continue;
          }
          lc.disp->on_packet(packet_bytes(m, lc.linear), lengths.wire_len(i, m->pkt_len),
                             packet_time(m, shared.tsfield, 0), static_cast<std::uint16_t>(f), ordinal);
        }
        rte_pktmbuf_free_bulk(bufs, n);
        progress = ordinal;
        if (!rx_and_drop && ordinal <= resume) {
          // Still skipping what an earlier capture published: nothing new
          // to publish, and the resume point must not move back.
          ctx.service(counters, {ordinal, total_packets});
          continue;
        }
        if (!rx_and_drop) {
          lc.disp->publish();
          shared.state->published_ordinal[0].store(ordinal, std::memory_order_release);
          ctx.service(counters, {ordinal, total_packets});
          if (cfg.capture.offline_rate != 0) {
            // Replay no faster than offline_rate packets/s, counting the
            // packets this capture published (ordinal > resume here) from
            // the moment it published its first one.
            if (rate_origin_ns == 0) {
              rate_origin_ns = ts::util::mono_ns();
              rate_origin = std::max(resume, ordinal - n);
            }
            const auto due = rate_origin_ns + static_cast<std::uint64_t>(
                                                  static_cast<double>(ordinal - rate_origin) * 1e9 /
                                                  static_cast<double>(cfg.capture.offline_rate));
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
                  static_cast<double>(ordinal) / secs, static_cast<double>(wire_bytes) * 8 / secs / 1e9);
      return ts::exit_code::ok;
    }
    if (ctx.stopping()) {
      log->info("stopped before the end of the input");
    }
    // End of input on every ring of every lcore index the consumers read.
    if (!lc.disp->end_of_input(lc.disp->last_ts_ns())) {
      return ts::exit_code::ok;  // stopped while waiting for room
    }
    shared.state->end_of_input_sent.store(1);
    ctx.heartbeat_now(counters(), {ordinal, total_packets});
    ctx.done("end_of_input", std::to_string(ordinal) + " packets");
    log->info("end of input after {} packets; {} duplicate copies dropped",
              ordinal, lc.disp->counters().duplicates.load());
    return ts::exit_code::ok;
  }

  // --- live ---------------------------------------------------------------
  std::vector<std::pair<rx_lcore*, live_shared*>> args;
  args.reserve(lcs.size());
  for (auto& lcp : lcs) args.emplace_back(lcp.get(), &shared);
  {
    unsigned l = 1;
    unsigned id;
    RTE_LCORE_FOREACH_WORKER(id) {
      if (l < lcs.size()) {
        rte_eal_remote_launch(worker_main, &args[l], id);
        ++l;
      }
    }
  }
  auto& lc0 = *lcs[0];
  while (!ctx.stopping()) {
    if (!poll_once(lc0, shared)) {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    std::uint64_t done = 0;
    for (const auto& lcp : lcs) done += lcp->disp->counters().packets.load(std::memory_order_relaxed);
    progress = done;
    ctx.service(counters, {done, 0});
  }
  // Stop: every lcore hands over what it has and tells its consumers that
  // nothing more comes.
  shared.stop.store(true);
  ctx.stop_flag().store(false);
  const bool delivered = lc0.disp->end_of_input(lc0.disp->last_ts_ns());
  rte_eal_mp_wait_lcore();
  if (delivered) {
    shared.state->end_of_input_sent.store(1);
  }
  const auto last = counters();
  ctx.heartbeat_now(last, {progress, 0});
  for (const auto& [name, value] : last) {
    if (name == "drops.kernel" && value != 0) {
      log->warn("the kernel dropped {} packet(s): a socket ring was full (drops.kernel)", value);
    }
  }
  ctx.done("end_of_input", std::to_string(progress) + " packets");
  return ts::exit_code::ok;
}
