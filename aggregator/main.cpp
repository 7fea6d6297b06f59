// tapsense-aggregator: one shard of the flow and asset tables. Reads packet
// records from its capture ring, aggregates them in shared memory (which
// survives a restart of this process), and emits flow and sighting batches to
// the uplink on the reporting cadence.
#include <cstdio>

#include "aggregator/shard.h"
#include "aggregator/state.h"
#include "common/ipc/names.h"
#include "common/ipc/ring.h"
#include "common/stage/exit_codes.h"
#include "common/stage/stage.h"

namespace ts = tapsense;
using namespace tapsense::aggregator;

int main(int argc, char** argv) {
  ts::stage::context ctx(argc, argv, "aggregator", true);
  auto log = ctx.logger("flow");
  const auto k = static_cast<unsigned>(ctx.index());

  ts::ipc::segment state_seg;
  std::optional<ts::ipc::ring> in;
  std::optional<ts::ipc::ring> out;
  try {
    state_seg = ts::ipc::segment::open(ts::ipc::names::aggregator_state(ctx.instance(), k));
    in.emplace(ts::ipc::ring::open(ts::ipc::names::capture_to_aggregator(ctx.instance(), k)));
    out.emplace(ts::ipc::ring::open(ts::ipc::names::aggregator_to_uplink(ctx.instance(), k)));
  } catch (const ts::ipc::segment_error& e) {
    return ctx.fatal(ts::exit_code::software, e.what());
  }
  auto& h = *static_cast<state_header*>(state_seg.data());
  if (h.magic != state_magic || h.version != state_version || h.shard != k ||
      h.total_bytes > state_seg.size()) {
    return ctx.fatal(ts::exit_code::software,
                     "aggregator state segment " + state_seg.name() + " is not initialised for shard " +
                         std::to_string(k));
  }
  if (h.packets != 0 || h.cycle != 0 || h.applied_seq.load() != 0) {
    ++h.restarts;
    in->header().consumer.restarts.fetch_add(1);
    log->warn("re-attached to shard {} state: {} packets applied, cycle {}, resuming", k,
              h.packets, h.cycle);
  }

  shard s(h, ctx.cfg(), *out, ctx.identity(), [&] { return !ctx.stopping(); });
  auto counters = [&] {
    ts::control::counter_list c{
        {"packets", h.packets},
        {"replayed_skipped", h.replayed_skipped},
        {"non_ip", h.non_ip},
        {"untracked", h.external_only},
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
        {"out.waits", out->header().producer.waits.load(std::memory_order_relaxed)},
        {"in.drops", in->header().producer.drops.load(std::memory_order_relaxed)},
    };
    return c;
  };

  if (!s.recover()) {
    return ts::exit_code::ok;  // stopped while re-emitting
  }
  ts::ipc::ring_reader rd(*in);
  ts::ipc::backoff bo;
  while (!s.finished() && !ctx.stopping()) {
    unsigned n = 0;
    while (n < 512) {
      auto f = rd.next();
      if (!f) {
        break;
      }
      ++n;
      if (!s.on_frame(*f)) {
        break;  // stopped while emitting
      }
      if (s.finished()) {
        break;
      }
    }
    // Everything walked is applied to shared memory: hand the space back.
    rd.release();
    ctx.service(counters);
    if (n == 0) {
      bo.pause();
    } else {
      bo.reset();
    }
  }
  ctx.heartbeat_now(counters());
  if (s.finished()) {
    ctx.done("end_of_reports", std::to_string(h.batches) + " batches");
    log->info("shard {} done: {} packets, {} batches", k, h.packets, h.batches);
  }
  return ts::exit_code::ok;
}
