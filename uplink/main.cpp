// tapsense-uplink: merges flow and sighting batches (aggregator shards) and
// observation batches (fingerprinter workers) into the inventory (SQLite in
// the state directory) and writes the output files. The report path is
// lossless: ring space is released only after the batches are committed.
#include <cstring>
#include <filesystem>
#include <future>
#include <memory>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <sqlite3.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include "common/ipc/names.h"
#include "common/ipc/ring.h"
#include "common/stage/exit_codes.h"
#include "common/stage/stage.h"
#include "common/util/time.h"
#include "common/platform/client.h"
#include "uplink/inventory.h"
#include "uplink/platform_sender.h"
#include "uplink/report.h"

namespace ts = tapsense;
using namespace tapsense::uplink;

namespace {
struct producer {
  std::string name;
  ts::ipc::ring ring;
  std::optional<ts::ipc::ring_reader> reader;
  bool ended = false;
};

// A full disk is not a crash: restarting cannot help, and a live sensor must
// keep sensing until there is room again.
bool disk_full(const std::exception& e) {
  if (const auto* se = dynamic_cast<const SQLite::Exception*>(&e)) {
    if (se->getErrorCode() == SQLITE_FULL) return true;
  }
  if (const auto* fe = dynamic_cast<const std::filesystem::filesystem_error*>(&e)) {
    if (fe->code() == std::errc::no_space_on_device) return true;
  }
  const std::string w = e.what();
  return w.find("No space left on device") != std::string::npos ||
         w.find("database or disk is full") != std::string::npos;
}

kj::ArrayPtr<const capnp::word> as_words(std::span<const std::uint8_t> p) {
  return {reinterpret_cast<const capnp::word*>(p.data()), p.size() / sizeof(capnp::word)};
}
}  // namespace

int main(int argc, char** argv) {
  // --platform-state DIR: the sensor is registered (its identity and spool
  // are under DIR/platform): reports go to the platform as well.
  std::string platform_state;
  std::string run_token;
  ts::stage::context ctx(argc, argv, "uplink", false, [&](ts::stage::CLI_App_adder& a) {
    a.option("--platform-state", platform_state, "state directory of a registered sensor: report to its platform");
    a.option("--run-token", run_token, "the supervisor's run (a new one forgets the last run's batch ids)");
  });
  auto log = ctx.logger("inventory");
  const auto& cfg = ctx.cfg();
  const std::string out_dir = cfg.sensor.output_dir.empty() ? cfg.sensor.state_dir : cfg.sensor.output_dir;
  const std::string db_path =
      cfg.uplink.database.empty() ? cfg.sensor.state_dir + "/inventory.sqlite" : cfg.uplink.database;

  std::vector<producer> producers;
  try {
    for (unsigned k = 0; k < cfg.aggregator.shards; ++k) {
      producers.push_back({"aggregator." + std::to_string(k),
                           ts::ipc::ring::open(ts::ipc::names::aggregator_to_uplink(ctx.instance(), k)), {}, false});
    }
    for (unsigned j = 0; j < cfg.fingerprinter.workers; ++j) {
      producers.push_back({"fingerprinter." + std::to_string(j),
                           ts::ipc::ring::open(ts::ipc::names::fingerprinter_to_uplink(ctx.instance(), j)), {}, false});
    }
  } catch (const ts::ipc::segment_error& e) {
    return ctx.fatal(ts::exit_code::software, e.what());
  }
  for (auto& p : producers) {
    p.reader.emplace(p.ring);
  }

  std::unique_ptr<inventory> inv;
  try {
    std::filesystem::create_directories(std::filesystem::path(db_path).parent_path());
    std::filesystem::create_directories(out_dir);
    inv = std::make_unique<inventory>(db_path);
    if (!run_token.empty() && inv->begin_run(run_token)) {
      log->info("a new run: the previous run's batch ids and ended producers are forgotten");
    }
    for (const auto& name : inv->ended()) {
      for (auto& p : producers) {
        if (p.name == name) p.ended = true;
      }
    }
  } catch (const std::exception& e) {
    return ctx.fatal(ts::exit_code::unavailable, "cannot open inventory " + db_path + ": " + e.what());
  }

  std::unique_ptr<platform_sender> platform;
  if (!platform_state.empty()) {
    try {
      platform = std::make_unique<platform_sender>(platform_state, ctx.logger("platform"),
                                                   cfg.aggregator.asset_update_interval_s, cfg.capture.pcap.empty(),
                                                   ts::platform_client::proxy_from(cfg.uplink),
                                                   cfg.uplink.spool_mb << 20);
    } catch (const std::exception& e) {
      return ctx.fatal(ts::exit_code::unavailable, std::string("platform: ") + e.what());
    }
  }

  std::uint64_t frames = 0;
  std::uint64_t active_1h = 0;
  std::uint64_t disk_full_now = 0;   // 1 while the state or output disk is full (live)
  std::uint64_t disk_full_times = 0;
  auto counters = [&] {
    ts::control::counter_list c{{"batches.applied", inv->batches_applied()},
                                {"batches.replayed", inv->batches_replayed()},
                                {"batches.invalid", inv->batches_invalid()},
                                {"observations.excluded", inv->filtered()},
                                {"active_assets_1h", active_1h},
                                {"disk_full", disk_full_now},
                                {"disk_full.episodes", disk_full_times},
                                {"frames", frames}};
    if (platform) {
      c.emplace_back("platform.reports_spooled", platform->reports_spooled());
      c.emplace_back("platform.reports_acked", platform->reports_acked());
      c.emplace_back("platform.reports_pending", platform->pending());
      c.emplace_back("platform.bytes_sent", platform->bytes_sent());
      c.emplace_back("platform.assets_sent", platform->assets_sent());
      c.emplace_back("platform.errors", platform->errors());
      c.emplace_back("platform.spool_bytes", platform->spool_bytes());
      c.emplace_back("platform.reports_dropped", platform->reports_dropped());
    }
    for (const auto& p : producers) {
      const auto& h = p.ring.header();
      c.emplace_back("backlog_bytes." + p.name,
                     h.head.load(std::memory_order_relaxed) - h.tail.load(std::memory_order_relaxed));
    }
    return c;
  };
  const bool live = cfg.capture.pcap.empty();
  const ts::config::classifier cls(cfg);
  // Excluded assets keep no attributes: what the fingerprinter says about
  // them is dropped before it is stored.
  inv->set_filter([&](std::uint64_t mac, capnp::Data::Reader ip) {
    if (mac != 0 && cls.excluded_mac(ts::net::mac_address::from_u64(mac))) return true;
    if (ip.size() == 16) {
      ts::net::ip_address a;
      std::memcpy(a.b.data(), ip.begin(), 16);
      return cls.excluded_ip(a);
    }
    return false;
  });
  try {
    const auto t0 = ts::util::mono_ns();
    inv->load();
    log->info("inventory loaded: {} flows, {} addresses, {} observations, {} journal bytes replayed ({:.3f} s)",
              inv->model().flows().size(), inv->model().sightings().size(), inv->model().observations().size(),
              inv->journal_bytes(), static_cast<double>(ts::util::mono_ns() - t0) / 1e9);
  } catch (const std::exception& e) {
    return ctx.fatal(ts::exit_code::unavailable, "cannot read inventory " + db_path + ": " + e.what());
  }
  // What the output files are written from: the assets built from the model
  // and its flows (a copy, live, so the files can be written in a thread
  // while the uplink goes on draining its rings; the model's own at the end).
  struct output_job {
    std::uint64_t now = 0;
    std::vector<asset_view> assets;
    flow_table copy;
    const flow_table* flows = nullptr;
  };
  struct output_result {
    std::string summary;
    std::uint64_t active_1h = 0;
  };
  // Retention bounds a long-running sensor's inventory; an offline
  // analysis keeps every interval of its capture.
  auto retain = [&] {
    const auto now = inv->newest_packet_time();
    if (live && now > cfg.uplink.flow_retention_s * 1'000'000'000ULL) {
      inv->prune_flows(now - cfg.uplink.flow_retention_s * 1'000'000'000ULL);
    }
  };
  // (After retain(): the assets are built from the model as it stands.)
  auto prepare_outputs = [&](bool copy_flows) {
    auto job = std::make_unique<output_job>();
    job->now = inv->newest_packet_time();
    const auto t0 = ts::util::mono_ns();
    job->assets = build_assets(inv->model(), cls);
    if (copy_flows) {
      job->copy = inv->model().flows();
      job->flows = &job->copy;
    } else {
      job->flows = &inv->model().flows();
    }
    log->debug("assets built{}: {:.3f} s", copy_flows ? " and flows copied" : "",
               static_cast<double>(ts::util::mono_ns() - t0) / 1e9);
    return job;
  };
  auto write_outputs = [&](const output_job& job) {
    std::uint64_t t = ts::util::mono_ns();
    auto lap = [&](const char* what) {
      const auto n = ts::util::mono_ns();
      log->debug("{}: {:.3f} s", what, static_cast<double>(n - t) / 1e9);
      t = n;
    };
    // The flow files need nothing of the asset model: a second thread
    // writes them while this one writes the assets.
    auto flow_files = std::async(std::launch::async, [&] {
      const auto t0 = ts::util::mono_ns();
      const auto n = write_flows_json(*job.flows, out_dir + "/flows.json");
      if (cfg.uplink.ecs) write_flows_ecs(*job.flows, out_dir + "/flows.ecs.jsonl", cfg.sensor.name);
      log->debug("flows.json{}: {:.3f} s", cfg.uplink.ecs ? " and flows.ecs.jsonl" : "",
                 static_cast<double>(ts::util::mono_ns() - t0) / 1e9);
      return n;
    });
    std::size_t na = 0;
    try {
      // traffic.json (a pass over the flows) beside assets.json.
      auto traffic = std::async(std::launch::async, [&] {
        write_traffic_json(*job.flows, job.assets, out_dir + "/traffic.json");
      });
      try {
        na = write_assets_json(job.assets, out_dir + "/assets.json");
      } catch (...) {
        traffic.wait();
        throw;
      }
      traffic.get();
      lap("assets.json and traffic.json");
    } catch (...) {
      flow_files.wait();  // it uses this frame's references
      throw;
    }
    const auto nf = flow_files.get();
    lap("flow files joined");
    auto st = status_of(job.assets, job.now);
    st.sensor = cfg.sensor.name;
    st.flows = nf;
    write_status_json(st, out_dir + "/status.json");
    // Live: the reports due now, from the same assets (the sender thread
    // delivers them; this thread does not wait for the network).
    if (platform && live) platform->offer(job.assets, *job.flows, false);
    return output_result{std::to_string(na) + " assets (" + std::to_string(st.active_assets_1h) +
                             " active in the last hour), " + std::to_string(nf) + " flows",
                         st.active_assets_1h};
  };
  constexpr std::uint64_t journal_limit = 256ULL << 20;
  auto checkpoint = [&] {
    const auto t0 = ts::util::mono_ns();
    const auto cpu0 = ts::util::thread_cpu_ns();
    const auto journal = inv->journal_bytes();
    const auto rows = inv->checkpoint();
    log->info("inventory checkpoint: {} rows written, {} journal bytes emptied ({:.3f} s, {:.3f} s of CPU)", rows,
              journal, static_cast<double>(ts::util::mono_ns() - t0) / 1e9,
              static_cast<double>(ts::util::thread_cpu_ns() - cpu0) / 1e9);
  };
  const std::uint64_t output_every = cfg.uplink.output_interval_s * 1'000'000'000ULL;
  std::uint64_t next_output = ts::util::mono_ns() + output_every;
  // A full report waiting (the platform deleted the assets): at once.
  if (platform && platform->full_due()) next_output = ts::util::mono_ns();
  ts::ipc::backoff bo;
  auto all_ended = [&] {
    return std::all_of(producers.begin(), producers.end(), [](const producer& p) { return p.ended; });
  };
  auto full_disk_message = [&] {
    return "no space left on " + (std::filesystem::path(db_path).parent_path() == std::filesystem::path(out_dir)
                                      ? out_dir
                                      : std::filesystem::path(db_path).parent_path().string() + " or " + out_dir);
  };
  // Live outputs being written in the background (at most one at a time).
  std::future<output_result> pending_outputs;
  auto finish_outputs = [&] {
    try {
      const auto r = pending_outputs.get();
      active_1h = r.active_1h;
      log->info("outputs: {}", r.summary);
    } catch (const std::exception& e) {
      if (!disk_full(e)) throw;
      log->error("{}: outputs not rewritten this time ({})", full_disk_message(), e.what());
    }
  };

  // Live, a full disk waits: the batches stay in the rings (nothing is
  // released before it is committed) and the commit is retried.
  auto wait_for_room = [&](const std::exception& e) {
    inv->rollback();
    for (auto& p : producers) p.reader->rewind();
    if (disk_full_now == 0) {
      ++disk_full_times;
      log->error("{}: reports wait in memory; retrying every 10 s ({})", full_disk_message(), e.what());
    }
    disk_full_now = 1;
    const auto until = ts::util::mono_ns() + 10'000'000'000ULL;
    while (!ctx.stopping() && ts::util::mono_ns() < until) {
      ctx.service(counters);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  };
  try {
    while (!all_ended() && !ctx.stopping()) {
      std::uint64_t n = 0;
      try {
      inv->begin();
      for (auto& p : producers) {
        if (p.ended) continue;
        for (unsigned i = 0; i < 256; ++i) {
          auto f = p.reader->next();
          if (!f) break;
          ++n;
          switch (f->type) {
            case ts::ipc::frame_type::flow_batch:
              inv->apply_flow_batch(as_words(f->payload));
              break;
            case ts::ipc::frame_type::sighting_batch:
              inv->apply_sighting_batch(as_words(f->payload));
              break;
            case ts::ipc::frame_type::observation_batch:
              inv->apply_observation_batch(as_words(f->payload));
              break;
            case ts::ipc::frame_type::end_of_reports:
              inv->mark_ended(p.name);
              p.ended = true;
              break;
            default:
              break;
          }
          if (p.ended) break;
        }
      }
      inv->commit();
      } catch (const std::exception& e) {
        if (!live || !disk_full(e)) throw;
        wait_for_room(e);
        for (auto& p : producers) p.ended = false;
        for (const auto& name : inv->ended()) {
          for (auto& p : producers) {
            if (p.name == name) p.ended = true;
          }
        }
        continue;
      }
      if (disk_full_now != 0) {
        log->info("disk has room again: reports flow");
        disk_full_now = 0;
      }
      // Committed: only now may the producers reuse the space.
      for (auto& p : producers) {
        p.reader->release();
      }
      // The journal is replayed at start: a checkpoint bounds it (and the
      // time a restart takes) by writing the model's changed rows.
      if (inv->journal_bytes() >= journal_limit) {
        try {
          checkpoint();
        } catch (const std::exception& e) {
          if (!live || !disk_full(e)) throw;
          log->error("{}: inventory checkpoint deferred ({})", full_disk_message(), e.what());
        }
      }
      frames += n;
      ctx.service(counters);
      if (pending_outputs.valid() &&
          pending_outputs.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
        finish_outputs();
      }
      // The assets are built here (from memory); the files are written in
      // a thread while the rings drain. Outputs still being written when
      // the next are due delay them.
      if (live && ts::util::mono_ns() >= next_output && !pending_outputs.valid()) {
        retain();
        std::shared_ptr<const output_job> job = prepare_outputs(true);
        pending_outputs = std::async(std::launch::async, [&write_outputs, job] { return write_outputs(*job); });
        next_output = ts::util::mono_ns() + output_every;
      }
      if (n == 0) {
        bo.pause();
      } else {
        bo.reset();
      }
    }
    if (pending_outputs.valid()) finish_outputs();
    log->info("inventory model: about {} bytes in memory", inv->model().approx_bytes());
    // The last outputs, from the model itself, while the checkpoint writes
    // the inventory tables (it changes nothing the asset builder and the
    // writers read: only the rows' dirty marks). The checkpoint is the
    // longer of the two (0.50 s against 0.17 s to build the assets and 0.18
    // s to write the files on the 30-copy benchmark), so it starts first.
    retain();
    inv->refresh();
    auto tables = std::async(std::launch::async, checkpoint);
    std::unique_ptr<output_job> job;
    try {
      job = prepare_outputs(false);
    } catch (...) {
      tables.wait();
      throw;
    }
    std::string summary;
    try {
      const auto r = write_outputs(*job);
      summary = r.summary;
      active_1h = r.active_1h;
    } catch (...) {
      tables.wait();
      throw;
    }
    tables.get();
    log->info("outputs written to {}: {}", out_dir, summary);
    if (platform) {
      // The end of a run: everything not sent yet. An offline run succeeds
      // only once the platform has it all; live, what is not acknowledged
      // soon waits in the spool for the next start.
      platform->offer(job->assets, *job->flows, true);
      std::string why;
      const auto wait = live ? std::chrono::seconds(5) : std::chrono::seconds(120);
      const bool delivered = platform->drain(job->assets, *job->flows, wait, why);
      ctx.heartbeat_now(counters());
      if (!delivered && !live) {
        const auto why_failed = platform->last_failure();
        const bool proxy_said = why_failed == ts::platform_client::failure::proxy_auth ||
                                why_failed == ts::platform_client::failure::proxy_intercepts;
        return ctx.fatal(platform->deregistered() ? ts::platform_client::exit_code::deregistered
                         : proxy_said             ? ts::platform_client::exit_code_for(why_failed)
                                                  : ts::platform_client::exit_code::unacknowledged,
                         "reports not acknowledged by the platform: " + why);
      }
      if (!delivered) log->warn("platform: {}", why);
      log->info("platform: {} report(s) acknowledged, {} asset records, {} bytes packed",
                platform->reports_acked(), platform->assets_sent(), platform->bytes_sent());
    }
    ctx.heartbeat_now(counters());
    // Also when stopped early: the supervisor then knows the outputs hold
    // what was committed.
    ctx.done("outputs", summary);
    // The process ends now. The database is closed here; the model and the
    // last outputs' views are left to the exit rather than freed node by
    // node (64 ms after the supervisor heard "done" on the 30-copy
    // benchmark). Reachable from statics, so a leak checker counts nothing.
    inv->close();
    [[maybe_unused]] static const inventory* const kept_inventory = inv.release();
    [[maybe_unused]] static const output_job* const kept_job = job.release();
  } catch (const std::exception& e) {
    if (disk_full(e)) {
      return ctx.fatal(ts::exit_code::no_space, full_disk_message());
    }
    return ctx.fatal(ts::exit_code::software, std::string("inventory: ") + e.what());
  }
  return ts::exit_code::ok;
}
