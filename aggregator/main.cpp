// tapsense-aggregator: one shard of the flow and asset tables. Reads packet
// records from its capture ring, aggregates them in shared memory (which
// survives a restart of this process), and emits flow and sighting batches to
// the uplink on the reporting cadence.
#include <cstdio>

#include "aggregator/apps.h"
#include "aggregator/shard.h"
#include "aggregator/state.h"
#include "common/ipc/layouts.h"
#include "common/ipc/names.h"
#include "common/ipc/ring.h"
#include "common/net/snapshot.h"
#include "common/pcapfile/quarantine.h"
#include "common/stage/crash_guard.h"
#include "common/stage/fault.h"
#include "common/stage/exit_codes.h"
#include "common/stage/stage.h"
#include "common/util/time.h"

namespace ts = tapsense;
using namespace tapsense::aggregator;

int main(int argc, char** argv) {
  ts::stage::context ctx(argc, argv, "aggregator", true);
  auto log = ctx.logger("flow");
  const auto k = static_cast<unsigned>(ctx.index());

  ts::ipc::segment state_seg;
  std::vector<ts::ipc::ring> ins;  // one per capture lcore
  std::optional<ts::ipc::ring> out;
  try {
    state_seg = ts::ipc::segment::open(ts::ipc::names::aggregator_state(ctx.instance(), k));
    for (unsigned l = 0; l < std::max(1u, ctx.cfg().capture.lcores); ++l) {
      ins.push_back(ts::ipc::ring::open(ts::ipc::names::capture_to_aggregator(ctx.instance(), l, k)));
    }
    out.emplace(ts::ipc::ring::open(ts::ipc::names::aggregator_to_uplink(ctx.instance(), k)));
  } catch (const ts::ipc::segment_error& e) {
    return ctx.fatal(ts::exit_code::software, e.what());
  }
  auto& h = *static_cast<state_header*>(state_seg.data());
  if (h.magic != state_magic || h.version != state_version || h.shard != k ||
      h.total_bytes > state_seg.size() || h.total_bytes != ts::ipc::layouts::aggregator_state(ctx.cfg())) {
    return ctx.fatal(ts::exit_code::software,
                     "aggregator state segment " + state_seg.name() + " is not initialised for shard " +
                         std::to_string(k));
  }
  if (h.packets != 0 || h.cycle != 0 || h.applied_seq[0].load() != 0) {
    ++h.restarts;
    for (auto& in : ins) in.header().consumer.restarts.fetch_add(1);
    log->warn("re-attached to shard {} state: {} packets applied, cycle {}, resuming", k,
              h.packets, h.cycle);
  }

  std::unique_ptr<ndpi_classifier> apps;
  if (ctx.cfg().aggregator.applications) {
    try {
      apps = std::make_unique<ndpi_classifier>();
    } catch (const std::exception& e) {
      log->warn("application classification unavailable: {}", e.what());
    }
  }
  // A record in hand at two deaths in a row is poison: skipped from now on,
  // counted, and kept (its bytes, when the frame carried them) in a bounded
  // pcap in the state directory.
  ts::stage::crash_guard guard(h.guard);
  ts::pcapfile::quarantine_file quarantine(ctx.cfg().sensor.state_dir + "/quarantine/" + ctx.identity() + ".pcap",
                                           1 /* DLT_EN10MB */, ts::stage::quarantine_max_bytes);
  {
    std::uint64_t lane = 0;
    std::uint64_t pos = 0;
    switch (guard.on_start(lane, pos)) {
      case ts::stage::crash_guard::verdict::suspect:
        log->warn("the previous shard died while applying a record (lane {}, position {}); it is applied "
                  "again, and skipped if it kills this one too", lane, pos);
        break;
      case ts::stage::crash_guard::verdict::poisoned:
        log->error("a record (lane {}, position {}) killed the shard twice: it is quarantined and skipped", lane,
                   pos);
        break;
      case ts::stage::crash_guard::verdict::none:
        break;
    }
  }
  const std::uint64_t fault_at = ts::stage::fault_ordinal("aggregator");
  auto record_of = [](const ts::ipc::frame_view& f, ts::net::packet_record& rec,
                      std::span<const std::uint8_t>& bytes) {
    if (f.type == ts::ipc::frame_type::packet && f.payload.size() >= sizeof rec) {
      std::memcpy(&rec, f.payload.data(), sizeof rec);
      return true;
    }
    if (f.type == ts::ipc::frame_type::packet_payload && f.payload.size() >= sizeof(ts::net::snapshot_header)) {
      ts::net::snapshot_header sh;
      std::memcpy(&sh, f.payload.data(), sizeof sh);
      rec = sh.rec;
      bytes = f.payload.subspan(sizeof sh);
      bytes = bytes.first(std::min<std::size_t>(sh.caplen, bytes.size()));
      return true;
    }
    return false;
  };
  auto quarantine_frame = [&](const ts::ipc::frame_view& f) {
    ts::net::packet_record rec{};
    std::span<const std::uint8_t> bytes;
    if (!record_of(f, rec, bytes)) {
      log->error("quarantined a frame of type {} ({} bytes)", static_cast<unsigned>(f.type), f.payload.size());
      return;
    }
    if (!bytes.empty() && !quarantine.keep(rec.ts_ns, bytes, rec.wire_len) && !quarantine.error().empty()) {
      log->warn("quarantine: {}", quarantine.error());
    }
    log->error("quarantined packet {} ({} -> {}, protocol {}, {} bytes at {}){}", rec.seq, rec.src_ip.to_string(),
               rec.dst_ip.to_string(), static_cast<unsigned>(rec.ip_proto), rec.wire_len,
               ts::util::rfc3339(rec.ts_ns),
               bytes.empty() ? std::string(" (headers only: no bytes to keep)") : " in " + quarantine.path());
  };

  std::function<ts::control::counter_list()> counters_fn;
  shard s(h, ctx.cfg(), *out, ctx.identity(),
          [&] {
            // Waiting for the uplink: stay visible to the supervisor meanwhile.
            ctx.service(counters_fn);
            return !ctx.stopping();
          },
          apps.get());
  auto counters = [&] {
    ts::control::counter_list c{
        {"packets", h.packets},
        {"replayed_skipped", h.replayed_skipped},
        {"non_ip", h.non_ip},
        {"untracked", h.external_only},
        {"time_backwards", h.time_backwards},
        {"table.connections", h.conn_size},
        {"table.reports", h.report_size},
        {"table.assets", h.asset_size},
        {"drops.connection_table_full", h.conn_table_full},
        {"drops.report_table_full", h.report_table_full},
        {"drops.asset_table_full", h.asset_table_full},
        {"drops.binding_table_full", h.binding_table_full},
        {"connections_expired", h.conns_expired},
        {"connections_evicted", h.conns_evicted},
        {"early_flow_flushes", h.early_flow_flushes},
        {"assets_evicted", h.assets_evicted},
        {"excluded_packets", h.excluded_packets},
        {"names_learnt", h.names_learnt},
        {"batches", h.batches},
        {"cycle", h.cycle},
        {"restarts", h.restarts},
        {"quarantined", h.guard.quarantined},
        {"quarantine.not_kept", quarantine.not_kept()},
        {"out.waits", out->header().producer.waits.load(std::memory_order_relaxed)},
        {"spool.bytes", s.spooled_bytes()},
        {"spool.high_water", h.spool_high_water},
        {"spool.capacity", h.spool_capacity},
        {"reports.spooled", h.cycles_spooled},
        {"reports.deferred", h.cycles_deferred},
        {"reports.intervals_merged", h.intervals_merged},
        {"reports.spool_overflows", h.spool_overflows},
        {"drops.flow_packets", h.flow_packets_dropped},
        {"drops.asset_packets", h.asset_packets_dropped},
    };
    for (std::size_t l = 0; l < ins.size(); ++l) {
      c.emplace_back("in." + std::to_string(l) + ".drops", ins[l].header().producer.drops.load(std::memory_order_relaxed));
    }
    if (apps) {
      c.emplace_back("apps.detected", apps->detections());
      c.emplace_back("apps.guessed", apps->guesses());
      c.emplace_back("apps.evicted", apps->evictions());
    }
    return c;
  };
  counters_fn = counters;

  const bool recovered = s.recover();
  if (!s.fatal().empty()) {
    return ctx.fatal(ts::exit_code::config, s.fatal());
  }
  if (!recovered) {
    return ts::exit_code::ok;  // stopped while re-emitting
  }
  std::vector<ts::ipc::ring_reader> readers;
  for (auto& in : ins) readers.emplace_back(in);
  ts::ipc::backoff bo;
  // Bounded tables: say what overflowing cost, at most once a minute.
  std::uint64_t next_warn = 0;
  std::uint64_t warned_evicted = h.conns_evicted;
  std::uint64_t warned_early = h.early_flow_flushes;
  std::uint64_t warned_assets = h.asset_table_full;
  std::uint64_t warned_deferred = h.cycles_deferred;
  std::uint64_t warned_overflows = h.spool_overflows;
  std::uint64_t warned_dropped = h.flow_packets_dropped + h.asset_packets_dropped;
  auto warn_overflow = [&] {
    if (h.conns_evicted != warned_evicted) {
      log->warn("connection table full: {} connections evicted early (their counts are kept, their "
                "client/server roles are not); aggregator.flow_table is {}",
                h.conns_evicted - warned_evicted, h.conn_capacity);
      warned_evicted = h.conns_evicted;
    }
    if (h.early_flow_flushes != warned_early) {
      log->warn("report table full: an interval was reported in {} extra parts (merged by the uplink); "
                "aggregator.report_table is {}",
                h.early_flow_flushes - warned_early, h.report_capacity);
      warned_early = h.early_flow_flushes;
    }
    if (h.asset_table_full != warned_assets) {
      log->warn("asset table full {} times: assets reported early and the table restarted; "
                "aggregator.asset_table is {}",
                h.asset_table_full - warned_assets, h.asset_capacity);
      warned_assets = h.asset_table_full;
    }
    if (h.cycles_deferred != warned_deferred) {
      log->warn("report spool full: {} report cycles stayed in the tables ({} flow intervals merged with the "
                "next so far); the uplink is slow or stopped; aggregator.report_spool_mb is {}",
                h.cycles_deferred - warned_deferred, h.intervals_merged, h.spool_capacity >> 20);
      warned_deferred = h.cycles_deferred;
    }
    if (h.spool_overflows != warned_overflows) {
      log->warn("{} report cycles were bigger than the whole report spool and waited for the uplink; "
                "raise aggregator.report_spool_mb (now {})",
                h.spool_overflows - warned_overflows, h.spool_capacity >> 20);
      warned_overflows = h.spool_overflows;
    }
    if (const auto d = h.flow_packets_dropped + h.asset_packets_dropped; d != warned_dropped) {
      log->warn("tables and report spool full: packets left out of flow records {} and of asset records {} "
                "so far", h.flow_packets_dropped, h.asset_packets_dropped);
      warned_dropped = d;
    }
  };
  while (!s.finished() && !ctx.stopping()) {
    unsigned n = 0;
    for (std::size_t l = 0; l < readers.size() && !s.finished(); ++l) {
      auto& rd = readers[l];
      for (unsigned i = 0; i < 512; ++i) {
        const std::uint64_t pos = rd.position();
        auto f = rd.next();
        if (!f) {
          break;
        }
        ++n;
        if (const auto m = guard.check(l, pos); m != ts::stage::crash_guard::meet::healthy) {
          if (m == ts::stage::crash_guard::meet::first) quarantine_frame(*f);
          continue;
        }
        guard.enter(l, pos);
        if (fault_at != 0) {
          ts::net::packet_record rec{};
          std::span<const std::uint8_t> bytes;
          if (record_of(*f, rec, bytes)) ts::stage::maybe_fault(fault_at, rec.seq);
        }
        const bool go_on = s.on_frame(*f, static_cast<unsigned>(l));
        guard.leave();
        if (!s.fatal().empty()) {
          return ctx.fatal(ts::exit_code::config, s.fatal());
        }
        if (!go_on || s.finished()) {
          break;  // stopped while emitting, or done
        }
      }
      // Everything walked is applied to shared memory: hand the space back.
      rd.release();
    }
    // Report batches waiting in the spool move on as the uplink frees room;
    // the end of input completes once they are all out.
    if (!s.poll()) {
      if (!s.fatal().empty()) return ctx.fatal(ts::exit_code::config, s.fatal());
      break;  // stopping
    }
    ctx.service(counters);
    if (const auto now = ts::util::mono_ns(); now >= next_warn) {
      warn_overflow();
      next_warn = now + 60'000'000'000ULL;
    }
    if (n == 0) {
      bo.pause();
    } else {
      bo.reset();
    }
  }
  ctx.heartbeat_now(counters());
  if (s.finished()) {
    ctx.done("end_of_reports", std::to_string(h.batches) + " batches");
    warn_overflow();
    log->info("shard {} done: {} packets, {} batches; untracked {}, excluded {}; connections expired {}, "
              "evicted {}; early flow reports {}; asset table restarts {}; idle assets evicted {}; "
              "time backwards {}",
              k, h.packets, h.batches, h.external_only, h.excluded_packets, h.conns_expired, h.conns_evicted,
              h.early_flow_flushes, h.asset_table_full, h.assets_evicted, h.time_backwards);
  }
  return ts::exit_code::ok;
}
