// tapsense-fingerprinter: one worker. Parses the payload snapshots capture
// selected (discovery protocols, TCP SYNs, first payload packets of flows)
// and sends what they say about each device to the uplink.
#include <algorithm>
#include <optional>

#include "common/fp/oui.h"
#include "common/fp/p0f.h"
#include "common/fp/rules.h"
#include "common/ipc/layouts.h"
#include "common/ipc/names.h"
#include "common/ipc/ring.h"
#include "common/pcapfile/quarantine.h"
#include "common/stage/crash_guard.h"
#include "common/stage/fault.h"
#include "common/stage/exit_codes.h"
#include "common/stage/stage.h"
#include "common/util/time.h"
#include "common/config/classifier.h"
#include "fingerprinter/analyzer.h"
#include "fingerprinter/vendors.h"

namespace ts = tapsense;
using namespace tapsense::fingerprinter;

int main(int argc, char** argv) {
  ts::stage::context ctx(argc, argv, "fingerprinter", true);
  auto log = ctx.logger("parse");
  const auto& cfg = ctx.cfg();
  const auto j = static_cast<unsigned>(ctx.index());

  std::vector<ts::ipc::ring> ins;  // one per capture lcore
  std::optional<ts::ipc::ring> out;
  ts::ipc::segment state_seg;
  try {
    state_seg = ts::ipc::segment::open(ts::ipc::names::fingerprinter_state(ctx.instance(), j));
    for (unsigned l = 0; l < std::max(1u, cfg.capture.lcores); ++l) {
      ins.push_back(ts::ipc::ring::open(ts::ipc::names::capture_to_fingerprinter(ctx.instance(), l, j)));
    }
    out.emplace(ts::ipc::ring::open(ts::ipc::names::fingerprinter_to_uplink(ctx.instance(), j)));
  } catch (const ts::ipc::segment_error& e) {
    return ctx.fatal(ts::exit_code::software, e.what());
  }

  // Reference data. Missing data degrades the evidence, it does not stop sensing.
  std::optional<ts::fp::oui_registry> oui;
  std::optional<ts::fp::p0f_db> p0f;
  try {
    oui.emplace(ts::fp::oui_registry::load(cfg.fingerprinter.ieee_dir));
  } catch (const std::exception& e) {
    log->warn("MAC vendors unavailable: {}", e.what());
  }
  try {
    p0f.emplace(ts::fp::p0f_db::load(cfg.fingerprinter.p0f_db));
  } catch (const std::exception& e) {
    log->warn("TCP/IP fingerprints unavailable: {}", e.what());
  }

  std::function<ts::control::counter_list()> counters;
  emitter em(*out, ctx.identity(), [&] {
    ctx.service(counters);
    return !ctx.stopping();
  });
  // Vendor-id tables of the industrial protocols.
  const std::string data = data_dir(cfg.fingerprinter.data_dir);
  auto load_vendors = [&](const char* name) -> std::optional<vendor_table> {
    try {
      return vendor_table::load(data + "/" + name);
    } catch (const std::exception& e) {
      log->warn("vendor table unavailable: {}", e.what());
      return std::nullopt;
    }
  };
  const auto cip = load_vendors("cip_vendors.toml");
  const auto bacnet = load_vendors("bacnet_vendors.toml");
  const auto profinet = load_vendors("profinet_vendors.toml");
  // Inference rules: shipped data the user may edit; a broken file is a
  // configuration error with its line and column, not a silent loss of OS
  // and device-type inference.
  std::optional<ts::fp::rule_set> rules;
  try {
    rules.emplace(ts::fp::rule_set::load_dir(data + "/rules"));
  } catch (const ts::fp::rules_error& e) {
    if (e.line != 0) return ctx.fatal(ts::exit_code::config, e.what());
    log->warn("inference rules unavailable: {}", e.what());
  } catch (const std::exception& e) {
    log->warn("inference rules unavailable: {}", e.what());
  }
  if (rules) {
    em.set_rules(&*rules);
    log->debug("{} inference rules from {} files in {}/rules", rules->size(), rules->file_count(), data);
  }
  const ts::config::classifier cls(cfg);
  auto* st = static_cast<state_header*>(state_seg.data());
  if (st->magic != state_magic || st->version != state_version ||
      spool_offset(st->capacity) > state_seg.size() ||
      ts::ipc::layouts::fingerprinter_state(cfg) > state_seg.size()) {
    return ctx.fatal(ts::exit_code::software, "fingerprinter state segment " + state_seg.name() + " is not initialised");
  }
  analyzer::tables tables;
  tables.oui = oui ? &*oui : nullptr;
  tables.p0f = p0f ? &*p0f : nullptr;
  tables.cip = cip ? &*cip : nullptr;
  tables.bacnet = bacnet ? &*bacnet : nullptr;
  tables.profinet = profinet ? &*profinet : nullptr;
  tables.classifier = &cls;
  analyzer_options aopt;
  aopt.stream_bytes = cfg.fingerprinter.stream_bytes;
  aopt.streams = cfg.fingerprinter.streams;
  analyzer an(tables, em, st, aopt);
  auto seen = attach_seen(*st);
  em.set_seen_table(&seen, &st->seen_cleared);
  em.set_spool(st, static_cast<std::uint8_t*>(state_seg.data()) + spool_offset(st->capacity),
               state_seg.size() - spool_offset(st->capacity));

  // A snapshot in hand at two deaths in a row is poison: skipped from now on,
  // counted and kept in a bounded pcap in the state directory.
  ts::stage::crash_guard guard(st->guard);
  ts::pcapfile::quarantine_file quarantine(cfg.sensor.state_dir + "/quarantine/" + ctx.identity() + ".pcap",
                                           1 /* DLT_EN10MB */, ts::stage::quarantine_max_bytes);
  {
    std::uint64_t lane = 0;
    std::uint64_t pos = 0;
    switch (guard.on_start(lane, pos)) {
      case ts::stage::crash_guard::verdict::suspect:
        log->warn("the previous worker died while parsing a snapshot (lane {}, position {}); it is parsed "
                  "again, and skipped if it kills this one too", lane, pos);
        break;
      case ts::stage::crash_guard::verdict::poisoned:
        log->error("a snapshot (lane {}, position {}) killed the worker twice: it is quarantined and skipped",
                   lane, pos);
        break;
      case ts::stage::crash_guard::verdict::none:
        break;
    }
  }
  const std::uint64_t fault_at = ts::stage::fault_ordinal("fingerprinter");
  counters = [&] {
    const auto& c = an.counters();
    ts::control::counter_list l{
        {"snapshots", c.snapshots},         {"dhcp", c.dhcp},
        {"dhcp.errors", c.dhcp_errors},     {"upnp_descriptions", c.upnp},     {"tcp_signatures", c.tcp_signatures},
        {"p0f.matches", c.p0f_matches},     {"vendor_lookups", c.vendor_lookups},
        {"observations", em.emitted()},     {"observations.repeats", em.suppressed()},
        {"batches", em.batches()},
        {"fragments.reassembled", c.reassembled},
        {"fragments.dropped", an.reassembly().overlaps + an.reassembly().inconsistent + an.reassembly().too_big +
                                   an.reassembly().timed_out + an.reassembly().evicted},
        {"out.waits", out->header().producer.waits.load(std::memory_order_relaxed)},
        {"spool.bytes", em.spooled_bytes()},
        {"spool.high_water", st->spool_high_water},
        {"reports.spooled", st->spool_batches},
        {"reports.deferred", st->spool_deferred},
        {"facts", c.facts},
        {"facts.derived", em.derived()},
        {"facts.excluded", c.excluded},
        {"streams", c.streams},
        {"streams.gaps", c.stream_gaps},
        {"streams.evicted", c.streams_evicted},
        {"quarantined", guard.quarantined()},
        {"quarantine.not_kept", quarantine.not_kept()}};
    for (std::size_t i = 0; i < std::size(protocol_names); ++i) {
      l.emplace_back(std::string("parsed.") + protocol_names[i], c.parsed[i]);
    }
    return l;
  };

  std::vector<ts::ipc::ring_reader> readers;
  for (auto& in : ins) readers.emplace_back(in);
  std::vector<bool> ended(readers.size(), false);
  ts::ipc::backoff bo;
  bool finished = false;
  std::uint64_t last_flush = ts::util::mono_ns();
  while (!finished && !ctx.stopping()) {
    unsigned n = 0;
    for (std::size_t l = 0; l < readers.size(); ++l) {
      if (ended[l]) continue;
      for (unsigned i = 0; i < 512; ++i) {
        const std::uint64_t pos = readers[l].position();
        auto f = readers[l].next();
        if (!f) break;
        ++n;
        if (f->type == ts::ipc::frame_type::snapshot && f->payload.size() >= sizeof(ts::net::snapshot_header)) {
          ts::net::snapshot_header h;
          std::memcpy(&h, f->payload.data(), sizeof h);
          const auto bytes = f->payload.subspan(sizeof h);
          if (const auto m = guard.check(l, pos); m != ts::stage::crash_guard::meet::healthy) {
            if (m == ts::stage::crash_guard::meet::first) {
              const auto frame = bytes.first(std::min<std::size_t>(h.caplen, bytes.size()));
              if (!quarantine.keep(h.rec.ts_ns, frame, h.rec.wire_len) && !quarantine.error().empty()) {
                log->warn("quarantine: {}", quarantine.error());
              }
              log->error("quarantined packet {} ({} bytes at {}) in {}", h.rec.seq, frame.size(),
                         ts::util::rfc3339(h.rec.ts_ns), quarantine.path());
            }
            continue;
          }
          guard.enter(l, pos);
          ts::stage::maybe_fault(fault_at, h.rec.seq);
          an.on_snapshot(h, bytes);
          guard.leave();
        } else if (f->type == ts::ipc::frame_type::end_of_input) {
          ended[l] = true;
          break;
        }
      }
    }
    em.poll();  // spooled batches move on as the uplink frees room
    const auto now = ts::util::mono_ns();
    // Observations leave before their snapshots are released: a crash in
    // between replays the snapshots, and repeats of a fact are harmless.
    const bool eoi = std::all_of(ended.begin(), ended.end(), [](bool e) { return e; });
    if (eoi) {
      an.finish();  // streams still open give what they have
      if (!em.end_of_reports()) break;
      for (auto& rd : readers) rd.release();
      finished = true;
      break;
    }
    if (em.pending() >= 1024 || (em.pending() != 0 && (n == 0 || now - last_flush > 200'000'000ULL))) {
      if (!em.flush()) break;
      last_flush = now;
    }
    if (em.pending() == 0) {
      for (auto& rd : readers) rd.release();
    }
    ctx.service(counters);
    if (n == 0) {
      bo.pause();
    } else {
      bo.reset();
    }
  }
  if (!em.fatal().empty()) {
    return ctx.fatal(ts::exit_code::config, em.fatal());
  }
  ctx.heartbeat_now(counters());
  if (finished) {
    ctx.done("end_of_reports", std::to_string(em.batches()) + " batches");
  }
  return ts::exit_code::ok;
}
