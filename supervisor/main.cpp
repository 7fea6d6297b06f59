// tapsense-supervisor: the sensor's init process. Creates the shared-memory
// segments, starts the stages in dependency order (uplink, aggregators,
// fingerprinters, capture), takes their heartbeats over the ZeroMQ control
// channel, restarts a stage that dies (SIGKILL included) with its original
// configuration, and drives an offline run to a clean finish.
#include <poll.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <deque>
#include <functional>
#include <atomic>
#include <thread>
#include <filesystem>
#include <fstream>
#include <map>

#include "common/config/config.h"
#include "common/control/channel.h"
#include "common/ipc/layouts.h"
#include "common/ipc/names.h"
#include "common/ipc/ring.h"
#include "common/log/log.h"
#include "common/net/decode.h"
#include "common/pcapfile/handoff.h"
#include "common/pcapfile/scan.h"
#include "common/stage/exit_codes.h"
#include "common/stage/fault.h"
#include "common/util/resources.h"
#include "common/util/time.h"
#include "supervisor/backup.h"
#include "supervisor/conditions.h"
#include "supervisor/events.h"
#include "supervisor/metrics.h"
#include "supervisor/service.h"
#include "common/platform/fragment.h"
#include "supervisor/instance.h"
#include "supervisor/interfaces.h"
#include "supervisor/platform_link.h"
#include "supervisor/process.h"
#include "supervisor/scaling.h"

namespace ts = tapsense;
namespace fs = std::filesystem;
using ts::supervisor::spawn;

namespace {

constexpr const char* prog = "tapsense-supervisor";
volatile std::sig_atomic_t g_signals = 0;
extern "C" void on_signal(int) { g_signals = g_signals + 1; }

// What a failure after the instance lock must undo (lock file, run
// directory, segments made so far), so a refused start leaves nothing behind.
std::function<void()> g_undo;

[[noreturn]] void die(int code, const std::string& msg) {
  std::fprintf(stderr, "%s: %s\n", prog, msg.c_str());
  if (g_undo) g_undo();
  std::exit(code);
}

struct stage {
  std::string identity;
  std::string binary;
  std::vector<std::string> args;
  pid_t pid = 0;
  bool running = false;
  bool finished = false;      // exited 0: its work is done
  bool said_hello = false;
  bool answered = false;      // a heartbeat since it started (its counters are known)
  std::uint32_t restarts = 0;
  std::deque<std::uint64_t> recent_restarts;
  std::uint64_t started_ns = 0;
  std::uint64_t last_heartbeat_ns = 0;
  std::uint64_t next_start_ns = 0;
  std::uint64_t backoff_ms = 100;
  std::string fatal_message;
  int fatal_code = 0;
  ts::control::counter_list counters;
  std::uint64_t progress_done = 0;
  std::uint64_t progress_total = 0;
  std::uint64_t quarantined = 0;  // poison packets this stage skipped (its shared-memory count)
};

unsigned online_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    return static_cast<unsigned>(CPU_COUNT(&set));
  }
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<unsigned>(n) : 1;
}

std::string human(std::uint64_t v) {
  std::string s = std::to_string(v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<std::size_t>(i), ",");
  return s;
}

void print_stats(const ts::control::message& m) {
  auto reply = m.get().getStatsReply();
  for (auto st : reply.getStages()) {
    std::printf("%s (pid %u, restarts %u)\n", st.getStage().cStr(), st.getPid(), st.getRestarts());
    for (auto c : st.getCounters()) {
      std::printf("  %-40s %20" PRIu64 "\n", c.getName().cStr(), c.getValue());
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tapsense passive network sensor: runs the capture, aggregator, fingerprinter "
               "and uplink stages and supervises them"};
  std::string pcap;
  std::string output;
  std::string config_path;
  std::string run_dir_opt;
  std::string instance_opt;
  bool stats = false;
  bool quiet = false;
  std::string register_code;
  std::string platform_url;
  std::string ca_file;
  app.add_option("--pcap", pcap, "analyse this pcap or pcapng file, then exit");
  app.add_option("--output", output, "directory for assets.json, flows.json and the inventory");
  app.add_option("--config", config_path, "sensor configuration (TOML)");
  app.add_option("--run-dir", run_dir_opt, "directory for the control socket and run files");
  app.add_option("--instance", instance_opt, "name prefix of the shared-memory segments");
  app.add_flag("--stats", stats, "print the counters of a running sensor and exit");
  app.add_flag("--quiet", quiet, "no progress on stderr");
  bool measure_throughput = false;
  app.add_flag("--measure-throughput", measure_throughput,
               "measure what this sensor can take on the cores given (sensor.cores, else its CPU affinity) on the "
               "built-in sample, print it, and exit");
  app.add_option("--register", register_code,
                 "register this sensor with its platform using a 14-digit personalization code, then exit "
                 "(needs --platform and --ca; the identity goes to the configuration's state_dir)");
  app.add_option("--platform", platform_url, "with --register: the platform, https://HOST:PORT");
  app.add_option("--ca", ca_file, "with --register: the platform's CA certificate (PEM) to pin");
  std::string backup_file, restore_file, restore_state_dir;
  app.add_option("--backup", backup_file,
                 "save this sensor (identity, configuration, inventory, spool) to FILE (tar.gz) and exit; needs --config");
  app.add_option("--restore", restore_file,
                 "restore a --backup FILE: the configuration to --config, the state to its state_dir (which must hold "
                 "no sensor yet), then exit");
  app.add_option("--state-dir", restore_state_dir, "with --restore: restore the state here (the configuration's "
                                                   "state_dir is set to it)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "%s: %s (see --help)\n", prog, e.what());
    return ts::exit_code::usage;
  }

  if (!backup_file.empty() && !restore_file.empty()) {
    std::fprintf(stderr, "%s: --backup and --restore exclude each other (see --help)\n", prog);
    return ts::exit_code::usage;
  }
  if (!backup_file.empty()) return ts::supervisor::backup_sensor(backup_file, config_path);
  if (!restore_file.empty()) return ts::supervisor::restore_sensor(restore_file, config_path, restore_state_dir);
  if (!restore_state_dir.empty()) {
    std::fprintf(stderr, "%s: --state-dir goes with --restore (see --help)\n", prog);
    return ts::exit_code::usage;
  }

  // --- configuration ----------------------------------------------------
  ts::config::config cfg;
  try {
    // The local file with the configuration the platform pushed, if any.
    cfg = ts::platform_client::load_with_fragment(config_path);
  } catch (const ts::config::config_error& e) {
    die(ts::exit_code::config, e.what());
  } catch (const ts::platform_client::fragment_error& e) {
    die(ts::exit_code::config, e.what());
  } catch (const ts::platform_client::identity_error& e) {
    die(ts::exit_code::config, e.what());
  }
  if (!register_code.empty() || !platform_url.empty() || !ca_file.empty()) {
    if (register_code.empty() || platform_url.empty() || ca_file.empty()) {
      std::fprintf(stderr, "%s: --register needs CODE, --platform https://HOST:PORT and --ca FILE (see --help)\n", prog);
      return ts::exit_code::usage;
    }
    return ts::supervisor::register_sensor(register_code, platform_url, ca_file, config_path, cfg.sensor.state_dir,
                                               ts::platform_client::proxy_from(cfg.uplink));
  }
  // A registered sensor keeps its identity in the configuration's state_dir
  // (an offline run writes its outputs elsewhere, but reports as itself).
  const std::string identity_dir = cfg.sensor.state_dir;
  std::optional<ts::platform_client::identity> identity;
  if (!stats) {
    try {
      identity = ts::platform_client::load_identity(identity_dir);
    } catch (const std::exception& e) {
      die(ts::exit_code::unavailable, e.what());
    }
    if (identity && ts::platform_client::load_state(identity_dir).deregistered) {
      die(ts::platform_client::exit_code::deregistered,
          "this sensor was deregistered by its platform " + identity->url +
              "; register it again with --register CODE (or remove " + ts::platform_client::platform_dir(identity_dir) +
              " to run it unregistered)");
    }
  }
  if (!run_dir_opt.empty()) cfg.sensor.run_dir = run_dir_opt;
  for (const auto& w : cfg.warnings) {
    std::fprintf(stderr, "%s: warning: %s\n", prog, w.c_str());
  }

  if (measure_throughput) {
    const unsigned c = cfg.sensor.cores != 0 ? cfg.sensor.cores : online_cores();
    const std::string sample = ts::supervisor::scaling_sample(ts::supervisor::self_dir());
    if (sample.empty()) die(ts::exit_code::unavailable, "no scaling sample (share/tapsense/scaling.pcap): build or install it");
    std::string why;
    const auto r = ts::supervisor::measure_scaling(ts::supervisor::self_dir() + "/tapsense-supervisor", sample, c, 32, why);
    if (!r) die(ts::exit_code::software, why);
    std::printf("cores %u\n", r->cores);
    for (const auto& t : r->trials) {
      std::printf("  shards %u workers %u: %.1f Mbit/s, %.0f packets/s (%" PRIu64 " packets in %.3f s)\n", t.shards,
                  t.workers, static_cast<double>(t.bits_per_second) / 1e6, t.packets_per_second, t.packets, t.seconds);
    }
    std::printf("estimated maximum throughput %.1f Mbit/s (%.0f packets/s) with %u shard(s), %u worker(s)\n",
                static_cast<double>(r->bits_per_second) / 1e6, r->packets_per_second, r->shards, r->workers);
    return ts::exit_code::ok;
  }

  if (stats) {
    auto m = ts::control::request_stats(ts::ipc::names::control_endpoint(cfg.sensor.run_dir), 2000);
    if (!m || !m->get().isStatsReply()) {
      die(ts::exit_code::unavailable, "no sensor answered on " + cfg.sensor.run_dir + "/control.sock");
    }
    print_stats(*m);
    return ts::exit_code::ok;
  }

  const bool offline = !pcap.empty();
  if (offline && output.empty()) {
    std::fprintf(stderr, "%s: --pcap needs --output DIR (see --help)\n", prog);
    return ts::exit_code::usage;
  }
  if (!offline && !output.empty()) {
    cfg.sensor.output_dir = output;
  }
  if (!offline && cfg.capture.pcap.empty() && cfg.capture.interfaces.empty()) {
    std::fprintf(stderr, "%s: nothing to analyse: give --pcap FILE --output DIR, or a --config with "
                         "[[capture.interface]] or capture.pcap (see --help)\n", prog);
    return ts::exit_code::usage;
  }

  // --- inputs -------------------------------------------------------------
  std::uint64_t total_packets = 0;
  if (offline) {
    cfg.capture.pcap = {fs::absolute(pcap).string()};
    cfg.capture.interfaces.clear();
  }
  // --- sniffing interfaces: those the kernel has now --------------------------
  // The pipeline runs on the configured interfaces that exist and are up (and,
  // in ERSPAN mode, have their address); a change restarts it (below).
  const auto configured_ifs = cfg.capture.interfaces;
  std::unique_ptr<ts::supervisor::link_watch> links;
  if (!offline && !configured_ifs.empty()) {
    try {
      links = std::make_unique<ts::supervisor::link_watch>();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: warning: %s: interface changes will not be followed\n", prog, e.what());
    }
    cfg.capture.interfaces = ts::supervisor::present_interfaces(configured_ifs);
    if (cfg.capture.interfaces.empty()) {
      std::fprintf(stderr, "%s: none of the sniffing interfaces (%s) is present and up: waiting for one\n", prog,
                   ts::supervisor::interface_names(configured_ifs).c_str());
      std::signal(SIGINT, on_signal);
      std::signal(SIGTERM, on_signal);
      while (cfg.capture.interfaces.empty()) {
        if (g_signals > 0) return ts::exit_code::ok;
        pollfd p{links ? links->fd() : -1, POLLIN, 0};
        ::poll(&p, 1, 1000);
        if (links) links->changed();
        cfg.capture.interfaces = ts::supervisor::present_interfaces(configured_ifs);
      }
      ::usleep(500'000);  // a new interface's addresses and link state settle
      cfg.capture.interfaces = ts::supervisor::present_interfaces(configured_ifs);
    }
  }

  // --- resolve every "auto" ---------------------------------------------------
  const unsigned cores = cfg.sensor.cores != 0 ? cfg.sensor.cores : online_cores();
  // Measured at start (the scaling run); sent to the platform and served as a metric.
  std::uint64_t estimated_max_bps = 0;
  std::string scaling_note;
  // "auto": a service sniffing interfaces (started by systemd); "on": any live run.
  if (!offline && (cfg.supervisor.scaling == "on" ||
                   (cfg.supervisor.scaling == "auto" && cfg.capture.pcap.empty() &&
                    ts::supervisor::service::notifying()))) {
    const std::string file = cfg.sensor.state_dir + "/scaling.json";
    auto r = ts::supervisor::load_scaling(file, cores);
    if (!r) {
      const std::string sample = ts::supervisor::scaling_sample(ts::supervisor::self_dir());
      std::string why = "no scaling sample (share/tapsense/scaling.pcap)";
      if (!sample.empty()) {
        ts::supervisor::service::status("measuring the throughput of " + std::to_string(cores) + " core(s)");
        r = ts::supervisor::measure_scaling(ts::supervisor::self_dir() + "/tapsense-supervisor", sample, cores, 32, why);
      }
      if (r) {
        std::error_code e1;
        fs::create_directories(cfg.sensor.state_dir, e1);
        ts::supervisor::save_scaling(file, *r);
      } else {
        scaling_note = "scaling: not measured (" + why + "); sizing by formula";
      }
    }
    if (r) {
      estimated_max_bps = r->bits_per_second;
      if (cfg.aggregator.shards == 0) cfg.aggregator.shards = r->shards;
      if (cfg.fingerprinter.workers == 0) cfg.fingerprinter.workers = r->workers;
      scaling_note = "scaling: " + std::to_string(cores) + " core(s) take about " +
                     std::to_string(r->bits_per_second / 1'000'000) + " Mbit/s (" +
                     std::to_string(static_cast<std::uint64_t>(r->packets_per_second)) + " packets/s) with " +
                     std::to_string(r->shards) + " shard(s), " + std::to_string(r->workers) + " worker(s)";
    }
  }
  // Capture takes one core; the rest is shared by aggregator shards (the
  // heavier per-packet work) and fingerprinter workers (selected packets only).
  const unsigned spare = cores > 1 ? cores - 1 : 1;
  if (cfg.aggregator.shards == 0) cfg.aggregator.shards = std::max(1u, (spare + 1) / 2);
  if (cfg.fingerprinter.workers == 0) cfg.fingerprinter.workers = std::max(1u, spare / 4);
  if (!cfg.capture.pcap.empty()) {
    cfg.capture.lcores = 1;  // files are read in order by one lcore
  } else if (cfg.capture.lcores == 0) {
    // One RX lcore per four cores, never more than the RX queues to poll.
    unsigned queues = 0;
    for (const auto& i : cfg.capture.interfaces) queues += i.rx_queues;
    cfg.capture.lcores = std::clamp(cores / 4, 1u, std::max(1u, queues));
  }
  cfg.capture.lcores = std::min(cfg.capture.lcores, ts::capture::max_lcores);
  if (cfg.sensor.instance.empty()) {
    cfg.sensor.instance = offline ? "ts" + std::to_string(::getpid()) : cfg.sensor.name;
  }
  if (!instance_opt.empty()) cfg.sensor.instance = instance_opt;
  const bool own_run_dir = offline && run_dir_opt.empty();
  if (own_run_dir) {
    cfg.sensor.run_dir = "/tmp/tapsense." + std::to_string(::getpid());
  }

  // --- checks before anything is started, changed or deleted ---------------
  // ZeroMQ ipc:// endpoints are Unix socket paths (107 bytes and a NUL).
  if (const auto ep = ts::ipc::names::control_endpoint(cfg.sensor.run_dir); ep.size() - 6 > 107) {
    die(ts::exit_code::usage, "run directory " + cfg.sensor.run_dir + " is too long (" +
                                  std::to_string(cfg.sensor.run_dir.size()) +
                                  " bytes): its control socket path must fit in 107 bytes");
  }
  // One sensor per instance name; reclaim what dead supervisors left.
  std::string why;
  const auto reclaimed = ts::supervisor::reclaim_dead_instances(cfg.sensor.instance);
  // A lock held by the stages of a supervisor that died is waited for: the
  // wait is said on stderr when it begins and, with how long it lasted, in
  // the log once it is open.
  std::vector<std::pair<std::string, double>> lock_waits;
  auto wait_for_lock = [&](auto take) {
    std::string said;
    const auto t0 = ts::util::mono_ns();
    auto lock = take([&](const std::string& line) {
      std::fprintf(stderr, "%s: %s\n", prog, line.c_str());
      said = line;
    });
    if (!said.empty()) lock_waits.emplace_back(said, static_cast<double>(ts::util::mono_ns() - t0) / 1e9);
    return lock;
  };
  auto instance_lock = wait_for_lock([&](const auto& say) {
    return ts::supervisor::lock_instance(cfg.sensor.instance, cfg.sensor.run_dir, own_run_dir, why, say);
  });
  if (!instance_lock.held()) die(ts::exit_code::busy, why);
  auto lock_directory = [&](const std::string& dir, const char* what) {
    return wait_for_lock([&](const auto& say) { return ts::supervisor::lock_directory(dir, what, why, say); });
  };
  g_undo = [&] {
    std::error_code e2;
    if (own_run_dir) fs::remove_all(cfg.sensor.run_dir, e2);
    ::unlink(ts::supervisor::instance_lock_path(cfg.sensor.instance).c_str());
  };
  std::uint64_t stale_bytes = 0;
  const unsigned stale = ts::supervisor::remove_segments(cfg.sensor.instance, &stale_bytes);
  const auto dpdk_dirs = ts::supervisor::remove_dpdk_runtime_dirs(cfg.sensor.instance);
  std::vector<ts::supervisor::held_lock> dir_locks;
  std::error_code ec;
  bool made_output = false;  // this run made the output directory
  if (offline) {
    made_output = fs::create_directories(output, ec);
    if (ec || access(output.c_str(), W_OK) != 0) {
      die(ts::exit_code::input, "cannot write to output directory " + output + ": " +
                                    (ec ? ec.message() : std::string(std::strerror(errno))));
    }
    output = fs::absolute(output).string();
    cfg.sensor.output_dir = output;
    cfg.sensor.state_dir = output;
    dir_locks.push_back(lock_directory(output, "output directory"));
    if (!dir_locks.back().held()) die(ts::exit_code::busy, why);
  } else {
    fs::create_directories(cfg.sensor.state_dir, ec);
    if (ec || access(cfg.sensor.state_dir.c_str(), W_OK) != 0) {
      die(ts::exit_code::unavailable, "cannot write to state directory " + cfg.sensor.state_dir + ": " +
                                          (ec ? ec.message() : std::string(std::strerror(errno))));
    }
    if (cfg.sensor.output_dir.empty()) cfg.sensor.output_dir = cfg.sensor.state_dir;
    fs::create_directories(cfg.sensor.output_dir, ec);
    if (ec || access(cfg.sensor.output_dir.c_str(), W_OK) != 0) {
      die(ts::exit_code::unavailable, "cannot write to output directory " + cfg.sensor.output_dir + ": " +
                                          (ec ? ec.message() : std::string(std::strerror(errno))));
    }
    dir_locks.push_back(lock_directory(cfg.sensor.state_dir, "state directory"));
    if (!dir_locks.back().held()) die(ts::exit_code::busy, why);
    if (fs::absolute(cfg.sensor.output_dir) != fs::absolute(cfg.sensor.state_dir)) {
      dir_locks.push_back(lock_directory(cfg.sensor.output_dir, "output directory"));
      if (!dir_locks.back().held()) die(ts::exit_code::busy, why);
    }
  }
  // One run at a time per registered sensor: its spool and report ids.
  if (identity) {
    fs::create_directories(ts::platform_client::platform_dir(identity_dir), ec);
    dir_locks.push_back(lock_directory(ts::platform_client::platform_dir(identity_dir), "platform state directory"));
    if (!dir_locks.back().held()) die(ts::exit_code::busy, why);
  }
  // A run directory this run makes is removed at the end even when the user
  // named it; one that was there before keeps everything but our own files.
  const bool made_run_dir = fs::create_directories(cfg.sensor.run_dir, ec);
  if (ec || access(cfg.sensor.run_dir.c_str(), W_OK) != 0) {
    die(ts::exit_code::unavailable, "cannot create run directory " + cfg.sensor.run_dir + ": " +
                                        (ec ? ec.message() : std::string(std::strerror(errno))));
  }
  if (offline) {
    // An offline analysis starts from an empty inventory.
    for (const char* f : {"inventory.sqlite", "inventory.sqlite-wal", "inventory.sqlite-shm",
                          "assets.json", "flows.json", "traffic.json", "flows.ecs.jsonl", "status.json",
                          "events.jsonl", "tapsense.log"}) {
      fs::remove(fs::path(output) / f, ec);
    }
    fs::remove_all(fs::path(output) / "quarantine", ec);
  }

  ts::log::options lo;
  lo.process = "supervisor";
  lo.file = cfg.sensor.output_dir.empty() ? "" : cfg.sensor.output_dir + "/tapsense.log";
  lo.file_level = cfg.sensor.log_level;
  ts::log::init(lo);
  auto log = ts::log::get("supervisor");
  log->info("sensor {} instance {}: {} cores, {} RX lcore(s), {} aggregator shard(s), {} fingerprinter worker(s)",
            cfg.sensor.name, cfg.sensor.instance, cores, cfg.capture.lcores, cfg.aggregator.shards,
            cfg.fingerprinter.workers);

  for (const auto& [line, seconds] : lock_waits) {
    // Said on stderr already, when the wait began.
    ts::log::file_only("supervisor", spdlog::level::warn, fmt::format("{}: they ended after {:.1f} s", line, seconds));
  }
  if (!scaling_note.empty()) log->info("{}", scaling_note);
  if (reclaimed.segments != 0) {
    std::string names;
    for (const auto& n : reclaimed.names) names += (names.empty() ? "" : ", ") + n;
    log->warn("removed {} shared-memory segment(s) ({} MiB) left by {} sensor(s) whose supervisor died: {}",
              reclaimed.segments, reclaimed.bytes >> 20, reclaimed.instances, names);
  }
  if (stale != 0) {
    log->warn("removed {} stale shared-memory segment(s) ({} MiB) of instance {}", stale, stale_bytes >> 20,
              cfg.sensor.instance);
  }
  if (dpdk_dirs.dirs != 0) {
    log->info("removed {} DPDK runtime director{} ({} MiB) left by earlier captures", dpdk_dirs.dirs,
              dpdk_dirs.dirs == 1 ? "y" : "ies", dpdk_dirs.bytes >> 20);
  }

  // --- the platform (a registered sensor) ---------------------------------------
  // One check-in before anything starts: a new configuration or a command
  // waiting there applies to this run already.
  std::unique_ptr<ts::supervisor::platform_link> link;
  auto reexec = [&](const char* reason) {
    log->info("restarting the sensor: {}", reason);
    if (g_undo) g_undo();
    ts::log::get("supervisor")->flush();
    ::execv("/proc/self/exe", argv);
    die(ts::exit_code::software, std::string("cannot restart myself: ") + std::strerror(errno));
  };
  // delete_assets, once the uplink is stopped: the inventory goes (an
  // offline run starts from none anyway) and the uplink's next report is a
  // full one, empty until it sees traffic again.
  auto remove_inventory = [&] {
    if (!offline) {
      const std::string db =
          cfg.uplink.database.empty() ? cfg.sensor.state_dir + "/inventory.sqlite" : cfg.uplink.database;
      for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(db + suffix, ec);
    }
    try {
      ts::platform_client::request_full_report(identity_dir);
    } catch (const std::exception& e) {
      log->error("platform: {}", e.what());
    }
  };
  auto platform_cfg = cfg;
  platform_cfg.sensor.state_dir = identity_dir;
  if (identity) {
    link = std::make_unique<ts::supervisor::platform_link>(config_path, platform_cfg, *identity,
                                                           ts::log::get("platform"), cores);
    // About to sense unless the platform paused it.
    link->set_sensing(!link->paused());
    try {
      const auto r = link->checkin_now();
      // Not reachable now: the run goes on (the check-in thread and the
      // report sender keep trying); deregistered: said once just below.
      if (!r.ok() && r.why != ts::platform_client::failure::deregistered) {
        log->info("platform: check-in failed: {}", r.message);
      }
    } catch (const std::exception& e) {
      log->warn("platform: check-in answer unusable: {}", e.what());
    }
    const auto first = link->take_action();
    if (first == ts::supervisor::platform_action::deregister) {
      die(ts::platform_client::exit_code::deregistered,
          "the platform deregistered this sensor; register it again with --register CODE");
    }
    if (first == ts::supervisor::platform_action::restart ||
        first == ts::supervisor::platform_action::delete_assets) {
      if (first == ts::supervisor::platform_action::delete_assets) remove_inventory();
      reexec("the platform changed its configuration");
    }
    if (link->paused()) {
      // Say so at once: the platform shows Paused and the command done.
      link->set_sensing(false);
      try {
        link->checkin_now();
      } catch (const std::exception& e) {
        log->warn("platform: check-in answer unusable: {}", e.what());
      }
      if (offline) {
        die(ts::platform_client::exit_code::paused,
            "this sensor is paused on its platform " + identity->url + "; start sensing there first");
      }
      // Registered, not sensing: check in until a user starts it again.
      log->info("paused by the platform: not sensing; waiting for start_sensing");
      std::fprintf(stderr, "%s: paused by the platform %s: waiting for start_sensing\n", prog, identity->url.c_str());
      std::signal(SIGINT, on_signal);
      std::signal(SIGTERM, on_signal);
      link->start();
      for (;;) {
        const auto a = link->wait_action([] { return g_signals > 0; });
        if (g_signals > 0) {
          if (g_undo) g_undo();
          return ts::exit_code::ok;
        }
        link->take_action();
        if (a == ts::supervisor::platform_action::deregister) {
          link.reset();
          die(ts::platform_client::exit_code::deregistered,
              "the platform deregistered this sensor; register it again with --register CODE");
        }
        if (a == ts::supervisor::platform_action::delete_assets) {
          remove_inventory();
          link.reset();
          reexec("the platform deleted the assets");
        }
        if (a == ts::supervisor::platform_action::restart && !link->paused()) {
          link.reset();
          reexec("the platform started sensing");
        }
      }
    }
  }

  const std::string effective = cfg.sensor.run_dir + "/effective.toml";
  {
    std::ofstream f(effective, std::ios::trunc);
    // It may hold the proxy password ([uplink] proxy_password): the sensor's only.
    std::error_code perm_ec;
    std::filesystem::permissions(effective, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
                                 perm_ec);
    f << ts::config::to_toml(cfg);
    if (!f) die(ts::exit_code::unavailable, "cannot write " + effective);
  }
  // The scan (a pass over every file: 0.6 s for the 940 MB benchmark file
  // here) runs in a thread while the run is set up, the stages start and the
  // loop below supervises them. It writes what it finds to scans.bin as it
  // goes (handoff.h); capture follows that file instead of scanning again,
  // and reads packet N once the scan has passed N. Its verdict (scan_failure,
  // read once scan_over is set) decides whether the run goes on; an
  // interrupt or a stop ends it at its next progress step (scan_stop).
  const std::string scans_file = cfg.sensor.run_dir + "/scans.bin";
  std::remove(scans_file.c_str());
  std::string scan_failure;  // one line; empty: every file can be run
  int scan_failure_code = ts::exit_code::input;  // or unavailable: scans.bin could not be written
  bool scan_stopped = false;                     // it was stopped before the end of the input
  std::atomic<bool> scan_stop{false};
  std::atomic<bool> scan_over{false};        // set last by the thread: the three above are final
  std::atomic<std::uint64_t> scanned{0};     // packets scanned so far, every file
  ts::pcapfile::scan_writer scan_out;
  std::jthread scanner;
  if (!cfg.capture.pcap.empty()) {
    if (!scan_out.open(scans_file, why)) {
      die(ts::exit_code::unavailable, why);
    }
    // Tests: TAPSENSE_FAULT="scan@MS" makes each progress step of the scan
    // take MS milliseconds more, so a small file is still being scanned
    // when the test interrupts the run (fault.h; test builds only).
    const std::uint64_t step_delay_ms = ts::stage::fault_ordinal("scan");
    scanner = std::jthread([&total_packets, &scan_failure, &scan_failure_code, &scan_stopped, &scan_stop,
                            &scan_over, &scanned, &scan_out, step_delay_ms, files = cfg.capture.pcap] {
      std::string err;
      bool writing = true;  // until a write fails: capture then waits, and the verdict says why
      std::uint64_t before = 0;  // packets of the files scanned before this one
      for (const auto& f : files) {
        // Progress goes out while the file's link types are ones the run
        // reads: a file refused for its link type sends capture nothing.
        // (The scan lists no length fixes: capture reads each record's wire
        // length as net_pcap reads the record, capture/pcap_files.h.)
        auto scan = ts::pcapfile::scan(f, [&](ts::pcapfile::scan_result& r) {
          if (step_delay_ms != 0) std::this_thread::sleep_for(std::chrono::milliseconds(step_delay_ms));
          scanned.store(before + r.packets, std::memory_order_relaxed);
          if (scan_stop.load(std::memory_order_relaxed)) return false;
          if (!writing || !ts::pcapfile::refusal(r).empty()) return true;
          writing = scan_out.progress(r, r.fixes, err);
          r.fixes.clear();  // handed on (none: see above)
          return true;
        });
        if (scan.stopped) {
          scan_stopped = true;
          break;
        }
        if (scan_failure = ts::pcapfile::refusal(scan); !scan_failure.empty()) break;
        if (writing) writing = scan_out.end(scan, err);
        before += scan.packets;
        scanned.store(before, std::memory_order_relaxed);
        if (scan_stop.load(std::memory_order_relaxed)) {
          scan_stopped = &f != &files.back();
          break;
        }
      }
      if (scan_failure.empty() && !scan_stopped) {
        if (writing) writing = scan_out.finish(static_cast<std::uint32_t>(files.size()), err);
        if (!writing) {
          scan_failure = err;
          scan_failure_code = ts::exit_code::unavailable;
        }
        total_packets = before;
      }
      scan_over.store(true, std::memory_order_release);
    });
  }

  // --- shared memory ----------------------------------------------------------
  const auto& inst = cfg.sensor.instance;
  std::vector<std::string> segments;
  namespace layouts = ts::ipc::layouts;
  {
    // Segments are sparse until touched: a table too big for /dev/shm would
    // start, then die of SIGBUS hours later. Say it now. (They are created
    // sparse and reserved whole once the stages are started: see reserver.)
    const std::uint64_t need = layouts::total(cfg);
    if (const auto free = ts::supervisor::free_bytes("/dev/shm"); free && *free < need) {
      die(ts::exit_code::unavailable,
          "shared memory: the tables and rings need " + std::to_string(need >> 20) + " MiB but /dev/shm has " +
              std::to_string(*free >> 20) +
              " MiB free; lower aggregator.flow_table/report_table/asset_table or the ring sizes, or enlarge /dev/shm");
    }
  }
  std::vector<ts::ipc::segment> keep;  // the supervisor holds every mapping for the run
  std::vector<ts::ipc::ring> rings;
  std::vector<std::string> uplink_rings;  // the rings the uplink reads
  try {
    for (unsigned k = 0; k < cfg.aggregator.shards; ++k) {
      for (unsigned l = 0; l < cfg.capture.lcores; ++l) {
        rings.push_back(ts::ipc::ring::create(ts::ipc::names::capture_to_aggregator(inst, l, k),
                                              layouts::packet_ring_capacity(cfg), false, false));
      }
      rings.push_back(ts::ipc::ring::create(ts::ipc::names::aggregator_to_uplink(inst, k),
                                            layouts::aggregator_report_ring_capacity(cfg), true, false));
      uplink_rings.push_back(rings.back().name());
      auto seg = ts::ipc::segment::create(ts::ipc::names::aggregator_state(inst, k), layouts::aggregator_state(cfg),
                                          false);
      auto* h = new (seg.data()) ts::aggregator::state_header{};
      layouts::aggregator_state(cfg, *h);
      h->version = ts::aggregator::state_version;
      h->shard = k;
      h->inputs = cfg.capture.lcores;
      h->magic = ts::aggregator::state_magic;
      segments.push_back(seg.name());
      keep.push_back(std::move(seg));
    }
    for (unsigned j = 0; j < cfg.fingerprinter.workers; ++j) {
      {
        auto seg = ts::ipc::segment::create(ts::ipc::names::fingerprinter_state(inst, j),
                                            layouts::fingerprinter_state(cfg), false);
        auto* fh = new (seg.data()) ts::fingerprinter::state_header{};
        fh->version = ts::fingerprinter::state_version;
        fh->capacity = layouts::fingerprinter_conns;
        fh->magic = ts::fingerprinter::state_magic;
        segments.push_back(seg.name());
        keep.push_back(std::move(seg));
      }
      for (unsigned l = 0; l < cfg.capture.lcores; ++l) {
        rings.push_back(ts::ipc::ring::create(ts::ipc::names::capture_to_fingerprinter(inst, l, j),
                                              layouts::snapshot_ring_capacity(cfg), false, false));
      }
      rings.push_back(ts::ipc::ring::create(ts::ipc::names::fingerprinter_to_uplink(inst, j),
                                            layouts::fingerprinter_report_ring_capacity(cfg), true, false));
      uplink_rings.push_back(rings.back().name());
    }
    auto cs = ts::ipc::segment::create(ts::ipc::names::capture_state(inst), layouts::capture_state(cfg), false);
    auto* st = new (cs.data()) ts::capture::capture_state{};
    st->magic = ts::capture::state_magic;
    segments.push_back(cs.name());
    keep.push_back(std::move(cs));
  } catch (const ts::ipc::segment_error& e) {
    for (const auto& r : rings) ts::ipc::segment::remove(r.name());
    for (const auto& s : segments) ts::ipc::segment::remove(s);
    die(ts::exit_code::unavailable, e.what());
  }
  for (const auto& r : rings) segments.push_back(r.name());
  auto cleanup = [&] {
    for (const auto& s : segments) ts::ipc::segment::remove(s);
    // A capture stopped by SIGKILL (a refused file, shared memory that
    // could not be reserved) leaves its DPDK runtime directory.
    ts::supervisor::remove_dpdk_runtime_dirs(cfg.sensor.instance);
    // Still holding it: nobody can take it between the unlink and our exit.
    ::unlink(ts::supervisor::instance_lock_path(cfg.sensor.instance).c_str());
    std::error_code e2;
    if (own_run_dir) {
      fs::remove_all(cfg.sensor.run_dir, e2);
      return;
    }
    // What this run put there: the control socket, the effective
    // configuration and capture's links to its input files.
    for (fs::directory_iterator it(cfg.sensor.run_dir, e2), end; !e2 && it != end; it.increment(e2)) {
      const auto name = it->path().filename().string();
      if (name == "control.sock" || name == "effective.toml" || name == "scans.bin" ||
          (name.starts_with("input") && name.ends_with(".pcap"))) {
        std::error_code e3;
        fs::remove(it->path(), e3);
      }
    }
    if (made_run_dir) fs::remove(cfg.sensor.run_dir, e2);  // only if nothing else is in it
  };
  g_undo = cleanup;

  std::unique_ptr<ts::control::supervisor_channel> ctl;
  try {
    ctl = std::make_unique<ts::control::supervisor_channel>(ts::ipc::names::control_endpoint(cfg.sensor.run_dir));
  } catch (const std::exception& e) {
    cleanup();
    die(ts::exit_code::unavailable, std::string("cannot bind control channel: ") + e.what());
  }

  // --- stages, in dependency order -------------------------------------------
  const std::string bin = ts::supervisor::self_dir();
  std::vector<stage> stages;
  auto add = [&](const std::string& id, const std::string& binary, std::vector<std::string> extra) {
    stage s;
    s.identity = id;
    s.binary = bin + "/" + binary;
    s.args = {"--config", effective};
    s.args.insert(s.args.end(), extra.begin(), extra.end());
    stages.push_back(std::move(s));
  };
  // The run token tells the uplink that this run's rings and batch ids are
  // new (a restarted uplink gets the same one and keeps them).
  std::vector<std::string> uplink_args{"--run-token",
                                       std::to_string(::getpid()) + "-" + std::to_string(ts::util::now_ns())};
  if (identity) {
    uplink_args.push_back("--platform-state");
    uplink_args.push_back(identity_dir);
  }
  add("uplink", "tapsense-uplink", uplink_args);
  for (unsigned k = 0; k < cfg.aggregator.shards; ++k) {
    add("aggregator." + std::to_string(k), "tapsense-aggregator", {"--index", std::to_string(k)});
  }
  for (unsigned j = 0; j < cfg.fingerprinter.workers; ++j) {
    add("fingerprinter." + std::to_string(j), "tapsense-fingerprinter", {"--index", std::to_string(j)});
  }
  add("capture", "tapsense-capture",
      cfg.capture.pcap.empty() ? std::vector<std::string>{} : std::vector<std::string>{"--scans", scans_file});
  for (auto& s : stages) {
    if (access(s.binary.c_str(), X_OK) != 0) {
      cleanup();
      die(ts::exit_code::unavailable, "stage binary " + s.binary + " is missing; build the project first");
    }
  }

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGPIPE, SIG_IGN);

  // The run's locks go with every stage: a supervisor killed alone leaves
  // them held until its stages have ended their run.
  std::vector<int> run_locks{instance_lock.fd()};
  for (const auto& l : dir_locks) run_locks.push_back(l.fd());
  auto start = [&](stage& s) {
    s.pid = spawn(s.binary, s.args, run_locks);
    s.running = true;
    s.said_hello = false;
    s.started_ns = ts::util::mono_ns();
    s.last_heartbeat_ns = s.started_ns;
    log->info("started {} (pid {})", s.identity, s.pid);
  };
  // The platform hears the sensor is sensing once every file can be run
  // (a refused file ends the run before it says anything).
  bool link_started = false;
  auto start_link = [&] {
    if (!link || link_started) return;
    link_started = true;
    link->set_sensing(true);
    link->start();
  };
  // Files: every stage but the uplink starts while the files are still
  // being scanned (capture starts DPDK, then reads as far as the scan has
  // gone). The uplink, the one stage that keeps anything, starts once the
  // scan says every file can be run (in the loop below, which supervises
  // the others meanwhile): a file refused, even far into it, leaves no
  // output and no inventory behind, and the stages that began on it are
  // stopped. An interrupt during the scan stops it; the uplink then starts
  // on what was read, as after any interrupt.
  stage* uplink_waits = nullptr;  // for the scan's verdict
  if (cfg.capture.pcap.empty()) {
    for (auto& s : stages) start(s);  // live: consumers first
  } else {
    uplink_waits = &stages.front();
    for (auto& s : stages) {
      if (&s != uplink_waits) start(s);
    }
  }
  // A run refused after its stages started (a bad file, shared memory that
  // cannot be reserved): they have nothing to finish.
  auto kill_stages = [&] {
    for (auto& s : stages) {
      if (!s.running) continue;
      ::kill(s.pid, SIGKILL);
      ::waitpid(s.pid, nullptr, 0);
      s.running = false;
    }
  };
  // The scan is over: the run fails on its verdict, or the uplink starts.
  auto scan_verdict = [&] {
    scanner.join();
    if (!scan_failure.empty()) {
      kill_stages();
      // A file refused leaves nothing behind: not even the output
      // directory this run made for it (a directory that was there keeps
      // the log of the refusal).
      // (stderr gets the one line from die())
      ts::log::file_only("supervisor", spdlog::level::err, scan_failure);
      log->flush();
      cleanup();
      std::error_code rm_ec;
      if (made_output) fs::remove_all(cfg.sensor.output_dir, rm_ec);
      die(scan_failure_code, scan_failure);
    }
    if (scan_stopped) log->info("scan stopped after {} packets", scanned.load());
    start(*uplink_waits);
    uplink_waits = nullptr;
    start_link();
  };
  if (uplink_waits == nullptr) start_link();
  // Every page of every segment allocated now, beside the stages' start
  // (EAL, rules, the inventory) rather than before it: from here on no
  // stage can die of SIGBUS when /dev/shm fills. Should /dev/shm have
  // filled since the check above, the run stops with that reason.
  std::string reserve_failure;  // final once reserved is set
  std::atomic<bool> reserved{false};
  // Tests: TAPSENSE_FAULT="reserve@MS" makes the reservation start MS
  // milliseconds late, so that a test can fill /dev/shm meanwhile;
  // "reserve_late@1" makes it start once every stage but the uplink has
  // finished (a short file), when the loop below may free segments.
  std::atomic<bool> packet_stages_done{false};
  std::jthread reserver([&segments, &reserve_failure, &reserved, &packet_stages_done,
                         delay_ms = ts::stage::fault_ordinal("reserve"),
                         late = ts::stage::fault_ordinal("reserve_late") != 0](const std::stop_token& stop) {
    for (std::uint64_t waited = 0; waited < delay_ms && !stop.stop_requested(); waited += 10) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    while (late && !packet_stages_done.load(std::memory_order_acquire) && !stop.stop_requested()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    for (const auto& name : segments) {
      if (stop.stop_requested()) break;  // the run is over
      reserve_failure = ts::ipc::segment::reserve(name);
      if (!reserve_failure.empty()) break;
    }
    reserved.store(true, std::memory_order_release);
  });
  bool reserve_judged = false;
  ts::supervisor::platform_action platform_stop = ts::supervisor::platform_action::none;
  std::uint64_t next_health_ns = 0;
  auto give_health = [&] {
    ts::supervisor::health_input h;
    for (const auto& st : stages) {
      if (st.running) h.pids.push_back(st.pid);
      for (const auto& [name, value] : st.counters) {
        if (st.identity == "capture") {
          if (name == "rx.packets") h.packets += value;
          if (name == "rx.wire_bytes") h.wire_bytes += value;
          if (name.starts_with("drops.")) h.drops += value;
        }
        if (st.identity == "uplink" && name == "active_assets_1h") h.active_assets_1h = value;
      }
    }
    h.estimated_max_bps = estimated_max_bps;
    link->set_health(std::move(h));
  };

  // --- health: metrics, events, systemd ---------------------------------------
  std::unique_ptr<ts::supervisor::metrics_server> metrics;
  // An offline analysis is no service: only live runs serve metrics.
  if (!offline && !cfg.supervisor.metrics_listen.empty()) {
    try {
      metrics = std::make_unique<ts::supervisor::metrics_server>(cfg.supervisor.metrics_listen);
      log->info("metrics: http://{}/metrics", cfg.supervisor.metrics_listen);
    } catch (const std::exception& e) {
      // Sensing matters more than its metrics: say so and go on.
      log->error("{}; sensing goes on without metrics", e.what());
    }
  }
  std::vector<std::string> sniffing;
  std::vector<std::string> pci;
  for (const auto& i : cfg.capture.interfaces) {
    (i.driver == "pci" ? pci : sniffing).push_back(i.name);
  }
  ts::supervisor::health_sampler sampler(cfg.sensor.state_dir, sniffing, cores);
  ts::supervisor::traffic_watch traffic;
  std::uint64_t next_sample_ns = 0, next_watchdog_ns = 0, next_reboot_check_ns = 0;
  bool ready_sent = false;
  const std::uint64_t watchdog_ns = ts::supervisor::service::watchdog_ns();
  const std::uint64_t stall_allowed_ns =
      (cfg.supervisor.reporting_stall_s != 0
           ? std::uint64_t{cfg.supervisor.reporting_stall_s}
           : 2 * std::max<std::uint64_t>(cfg.aggregator.asset_interval_s, cfg.uplink.output_interval_s)) *
      1'000'000'000ULL;

  const auto t0 = ts::util::mono_ns();
  const bool tty = isatty(2) != 0;
  const bool show_progress = !quiet && offline;
  std::uint64_t next_progress_ns = t0 + 2'000'000'000ULL;
  bool progress_shown = false;
  bool outputs_done = false;
  bool released_early = false;  // an offline run's segments no stage reads any more
  std::string outputs_summary;
  int exit_code = ts::exit_code::ok;
  std::string abort_message;
  bool stopping = false;
  std::uint64_t stop_deadline = 0;
  const std::uint64_t hang_ns = std::uint64_t{cfg.supervisor.hang_timeout_ms} * 1'000'000;
  const std::uint64_t window_ns = std::uint64_t{cfg.supervisor.restart_window_s} * 1'000'000'000ULL;
  ts::supervisor::event_log events(cfg.sensor.state_dir + "/events.jsonl");
  // Events go to events.jsonl and, for a registered sensor, to the platform.
  auto raise_event = [&](const std::string& name, const std::string& module, const std::string& type,
                         const std::string& detail) {
    events.raise(name, module, type, detail);
    if (link) link->raise_event(name, module, type, detail);
  };
  // After the first interrupt the pipeline drains; it must not take for ever.
  constexpr std::uint64_t drain_timeout_ns = 60'000'000'000ULL;
  std::uint64_t drain_deadline = 0;
  bool capture_stop_pending = false;  // an interrupt came while capture was restarting
  bool interrupted = false;

  auto find_by_id = [&](const std::string& id) -> stage* {
    for (auto& s : stages) if (s.identity == id) return &s;
    return nullptr;
  };
  ts::supervisor::conditions conds(raise_event);
  if (!pci.empty()) {
    const std::string self = ts::supervisor::self_dir();
    std::string nic_check = self + "/../share/tapsense/nic-check.py";
    if (access(nic_check.c_str(), R_OK) != 0) nic_check = self + "/../../deploy/nic-check.py";
    for (const auto& a : ts::supervisor::nics_needing_driver_change(nic_check, pci)) {
      conds.set("Driver Change Required", a, true, "error",
                a + " is held by a kernel driver; the installed DPDK drives it once bound: run nic-bind.sh " + a);
    }
  }
  // Once a second: the health sample (metrics, platform, events).
  auto sample_health = [&](std::uint64_t now) {
    ts::supervisor::health_sample h;
    std::uint64_t reports = 0;
    for (const auto& st : stages) {
      ts::supervisor::stage_sample ss;
      ss.identity = st.identity;
      ss.pid = st.pid;
      ss.running = st.running;
      ss.restarts = st.restarts;
      ss.counters.assign(st.counters.begin(), st.counters.end());
      for (const auto& [name, value] : st.counters) {
        if (st.identity == "capture" && name == "rx.packets") h.packets += value;
        if (st.identity == "capture" && name == "rx.wire_bytes") h.wire_bytes += value;
        if (name.starts_with("drops.")) h.drops += value;
        if (st.identity == "uplink" && name == "active_assets_1h") h.active_assets_1h = value;
        // A report: acknowledged by the platform when registered, else stored.
        if (st.identity == "uplink" && name == (identity ? "platform.reports_acked" : "batches.applied")) {
          reports = value;
        }
      }
      h.stages.push_back(std::move(ss));
    }
    for (const auto& r : rings) {
      const auto& hd = r.header();
      const auto used = hd.head.load(std::memory_order_relaxed) - hd.tail.load(std::memory_order_relaxed);
      std::string n = r.name();
      if (const auto dot = n.find('.', n.find('.') + 1); dot != std::string::npos) n = n.substr(dot + 1);
      h.ring_fill.emplace_back(n, static_cast<double>(used) / static_cast<double>(r.capacity()));
    }
    h.estimated_max_bits_per_second = estimated_max_bps;
    sampler.sample(h);
    if (metrics) metrics->update(h);
    traffic.add({now, h.packets, h.drops, reports});
    if (const double ratio = traffic.drop_ratio(10'000'000'000ULL, 1000); ratio >= 0) {
      const bool high = ratio * 100.0 > static_cast<double>(cfg.supervisor.drop_event_percent);
      if (high != conds.active("Drops Above Threshold", "capture")) {
        char what[160];
        std::snprintf(what, sizeof what, "%.2f%% of packets dropped over the last 10 s (threshold %u%%)",
                      ratio * 100.0, cfg.supervisor.drop_event_percent);
        conds.set("Drops Above Threshold", "capture", high, "warning", what);
      }
    }
    if (!offline) {
      const auto stalled = traffic.reporting_stalled_ns();
      const bool stopped = stalled > stall_allowed_ns;
      if (stopped != conds.active("Asset Reporting Stopped", "uplink")) {
        conds.set("Asset Reporting Stopped", "uplink", stopped, "error",
                  stopped ? "packets arrive but no asset report went " +
                                std::string(identity ? "to the platform" : "into the inventory") + " for " +
                                std::to_string(stalled / 1'000'000'000ULL) + " s"
                          : "asset reports flow again");
      }
    }
    if (now >= next_reboot_check_ns) {
      next_reboot_check_ns = now + 10'000'000'000ULL;
      const bool reboot = access("/run/reboot-required", F_OK) == 0;
      if (reboot != conds.active("Reboot Required", "system")) {
        conds.set("Reboot Required", "system", reboot, "warning",
                  reboot ? "/run/reboot-required: an update installed here takes effect at the next reboot"
                         : "rebooted");
      }
    }
  };
  auto begin_stop = [&](std::uint64_t grace_ns) {
    if (stopping) return;
    stopping = true;
    ts::supervisor::service::stopping();
    stop_deadline = ts::util::mono_ns() + grace_ns;
    for (auto& s : stages) {
      if (s.running) ctl->command(s.identity, ts::schema::CommandKind::STOP);
    }
  };

  const std::string running_ifs = ts::supervisor::interface_names(cfg.capture.interfaces);
  std::uint64_t links_settle_ns = 0;   // a change seen: look again once it settled
  bool interfaces_changed = false;
  if (links) log->info("sniffing {} of {}", running_ifs, ts::supervisor::interface_names(configured_ifs));

  for (;;) {
    // Control messages (waiting less while the scan's verdict is awaited: the
    // uplink starts as soon as it comes; and once the outputs are written or
    // the stages stop: a stage that exits is reaped below, after the wait,
    // and the run ends with the last one: 17 ms after the uplink exited, of a
    // 20 ms wait, in a traced run).
    while (auto m = ctl->receive(uplink_waits != nullptr ? 2 : outputs_done || stopping ? 1 : 20)) {
      auto msg = m->get();
      stage* s = find_by_id(m->identity);
      switch (msg.which()) {
        case ts::schema::ControlMessage::HELLO:
          if (s) {
            s->said_hello = true;
            s->last_heartbeat_ns = ts::util::mono_ns();
            if (capture_stop_pending && s->identity == "capture") {
              ctl->command("capture", ts::schema::CommandKind::STOP);
              capture_stop_pending = false;
            }
          }
          break;
        case ts::schema::ControlMessage::HEARTBEAT:
          if (s) {
            s->last_heartbeat_ns = ts::util::mono_ns();
            s->answered = true;
            s->counters.clear();
            for (auto c : msg.getHeartbeat().getCounters()) s->counters.emplace_back(c.getName(), c.getValue());
            // Progress only grows; a last heartbeat without it says nothing.
            for (const auto& [name, value] : s->counters) {
              if (name == "quarantined" && value > s->quarantined) {
                raise_event("Packet Quarantined", s->identity, "warning",
                            std::to_string(value - s->quarantined) + " packet(s) crashed " + s->identity +
                                " twice and were skipped; kept in " + cfg.sensor.state_dir + "/quarantine/");
                s->quarantined = value;
              }
            }
            s->progress_done = std::max(s->progress_done, msg.getHeartbeat().getProgressDone());
            s->progress_total = std::max(s->progress_total, msg.getHeartbeat().getProgressTotal());
          }
          break;
        case ts::schema::ControlMessage::DONE:
          log->info("{}: done: {} {}", m->identity, msg.getDone().getWhat().cStr(), msg.getDone().getDetail().cStr());
          if (m->identity == "uplink" && std::string(msg.getDone().getWhat().cStr()) == "outputs") {
            outputs_done = true;
            outputs_summary = msg.getDone().getDetail();
          }
          break;
        case ts::schema::ControlMessage::FATAL:
          if (s) {
            s->fatal_code = msg.getFatal().getExitCode();
            s->fatal_message = msg.getFatal().getMessage();
          }
          break;
        case ts::schema::ControlMessage::STATS_REQUEST: {
          capnp::MallocMessageBuilder b;
          auto list = b.initRoot<ts::schema::ControlMessage>().initStatsReply().initStages(
              static_cast<unsigned>(stages.size()));
          for (unsigned i = 0; i < stages.size(); ++i) {
            list[i].setStage(stages[i].identity);
            list[i].setPid(static_cast<std::uint32_t>(stages[i].pid));
            list[i].setRestarts(stages[i].restarts);
            auto cs = list[i].initCounters(static_cast<unsigned>(stages[i].counters.size()));
            for (unsigned c = 0; c < stages[i].counters.size(); ++c) {
              cs[c].setName(stages[i].counters[c].first);
              cs[c].setValue(stages[i].counters[c].second);
            }
          }
          ctl->send(m->identity, b);
          break;
        }
        default:
          break;
      }
    }
    if (!reserve_judged && reserved.load(std::memory_order_acquire)) {
      reserve_judged = true;
      if (!reserve_failure.empty()) {
        kill_stages();
        if (scanner.joinable()) {
          scan_stop.store(true, std::memory_order_relaxed);
          scanner.join();
        }
        ts::log::file_only("supervisor", spdlog::level::err, reserve_failure);
        log->flush();
        cleanup();
        die(ts::exit_code::unavailable, reserve_failure + "; free /dev/shm or lower aggregator.flow_table/"
                                                          "report_table/asset_table or the ring sizes");
      }
    }
    // The scan: stopped by an interrupt or a stop; judged once it is over.
    if (uplink_waits != nullptr) {
      if (g_signals > 0 || stopping) scan_stop.store(true, std::memory_order_relaxed);
      if (scan_over.load(std::memory_order_acquire)) {
        if (stopping) {
          scanner.join();  // stopping anyway: no uplink to start
          uplink_waits = nullptr;
          start_link();    // (for the last check-in below)
        } else {
          scan_verdict();
        }
      }
    }
    const std::uint64_t now = ts::util::mono_ns();
    if (now >= next_sample_ns) {
      next_sample_ns = now + 1'000'000'000ULL;
      sample_health(now);
    }
    // systemd: ready once every stage answered a heartbeat; the watchdog is fed only
    // while every running stage answers (a hung stage or a hung loop here
    // lets systemd restart the whole sensor).
    if (!ready_sent && !stopping &&
        std::all_of(stages.begin(), stages.end(), [](const stage& s) { return s.answered || s.finished; })) {
      ready_sent = true;
      ts::supervisor::service::ready("sensing: " + std::to_string(stages.size()) + " stages up");
      log->info("every stage is up");
    }
    if (watchdog_ns != 0 && ready_sent && now >= next_watchdog_ns) {
      // Answering: a heartbeat within four intervals (at least 1 s); a stage
      // silent longer is hung or about to be killed as hung (hang_timeout_ms).
      const std::uint64_t answer_ns =
          std::max<std::uint64_t>(4ULL * cfg.supervisor.heartbeat_ms * 1'000'000ULL, 1'000'000'000ULL);
      const bool answering = std::all_of(stages.begin(), stages.end(), [&](const stage& s) {
        return !s.running || now - std::min(now, s.last_heartbeat_ns) < answer_ns;
      });
      if (answering) {
        ts::supervisor::service::watchdog();
        next_watchdog_ns = now + watchdog_ns / 2;
      }
    }

    // Sniffing interfaces added, removed, up, down, address changed: once
    // the burst of netlink messages is over, restart the pipeline on the new
    // set (drained first, as on an interrupt, so nothing counted is lost).
    if (links && !stopping && links->changed()) links_settle_ns = now + 1'000'000'000ULL;
    if (links_settle_ns != 0 && now >= links_settle_ns && !stopping && g_signals == 0) {
      links_settle_ns = 0;
      const auto now_ifs = ts::supervisor::interface_names(ts::supervisor::present_interfaces(configured_ifs));
      if (now_ifs != running_ifs) {
        raise_event("Sniffing Interfaces Changed", "supervisor", "info",
                    "sniffing " + now_ifs + " (was " + running_ifs + "): restarting the pipeline");
        log->warn("sniffing interfaces changed: {} (was {}); draining and restarting the pipeline", now_ifs,
                  running_ifs);
        interfaces_changed = true;
        g_signals = 1;
      }
    }

    // Exited children.
    while (auto ex = ts::supervisor::reap()) {
      auto it = std::find_if(stages.begin(), stages.end(), [&](const stage& s) { return s.pid == ex->pid; });
      if (it == stages.end()) continue;
      stage& s = *it;
      s.running = false;
      if (!ex->signaled && ex->code == ts::exit_code::ok) {
        s.finished = true;
        log->info("{} finished", s.identity);
        continue;
      }
      const std::string how = ex->signaled ? "was killed by signal " + std::to_string(ex->code)
                                           : "exited with code " + std::to_string(ex->code);
      if (stopping) {
        s.finished = true;
        continue;
      }
      if (!ex->signaled && !ts::exit_code::restartable(ex->code)) {
        abort_message = s.fatal_message.empty() ? s.identity + " " + how : s.fatal_message;
        exit_code = ex->code;
        begin_stop(2'000'000'000ULL);
        continue;
      }
      // Crash: restart with the same arguments, backing off on a crash loop.
      s.recent_restarts.push_back(now);
      while (!s.recent_restarts.empty() && now - s.recent_restarts.front() > window_ns) {
        s.recent_restarts.pop_front();
      }
      if (s.recent_restarts.size() > cfg.supervisor.max_restarts) {
        const std::string what = s.identity + " keeps failing (" + how + ", " +
                                 std::to_string(s.recent_restarts.size()) + " times in " +
                                 std::to_string(cfg.supervisor.restart_window_s) + " s)" +
                                 (s.fatal_message.empty() ? "" : ": " + s.fatal_message);
        raise_event("Stage Crash Loop", s.identity, "error", what);
        if (offline) {
          // Finish with what was analysed: the uplink writes the outputs of
          // everything committed when it is stopped.
          abort_message = what + (s.identity == "uplink" ? "" : "; the outputs hold what was analysed before");
          exit_code = ts::exit_code::software;
          begin_stop(60'000'000'000ULL);
          continue;
        }
        // Live: the other stages keep sensing; this one is retried, slowly,
        // for as long as the sensor runs.
        s.recent_restarts.clear();
        s.backoff_ms = std::max<std::uint64_t>(s.backoff_ms, 30'000);
        s.next_start_ns = now + s.backoff_ms * 1'000'000;
        log->error("{}; the other stages go on, retrying it in {} s", what, s.backoff_ms / 1000);
        s.backoff_ms = std::min<std::uint64_t>(s.backoff_ms * 2, 300'000);
        continue;
      }
      if (now - s.started_ns > window_ns) s.backoff_ms = 100;
      s.next_start_ns = now + s.backoff_ms * 1'000'000;
      log->warn("{} {}; restarting in {} ms", s.identity, how, s.backoff_ms);
      if (s.backoff_ms < 30'000) s.backoff_ms = std::min<std::uint64_t>(s.backoff_ms * 2, 5000);
    }
    // A file's end: once capture, the aggregators and the fingerprinters have
    // finished (none is started again), only the uplink's rings are read.
    // The rest goes now, while the uplink writes the outputs, not after it:
    // the pages of 313 MiB of segments took 25 ms to free at the end of a
    // traced run, after every stage had exited. (Not before the reservation
    // is over: a short file can end first, and it must not find its segments
    // gone.)
    if (offline && !released_early &&
        std::all_of(stages.begin(), stages.end(), [](const stage& s) { return s.identity == "uplink" || s.finished; })) {
      packet_stages_done.store(true, std::memory_order_release);
    }
    if (offline && !released_early && reserve_judged && packet_stages_done.load(std::memory_order_relaxed)) {
      released_early = true;
      for (const auto& seg : keep) ts::ipc::segment::remove(seg.name());
      keep.clear();
      std::vector<ts::ipc::ring> to_uplink;
      for (auto& r : rings) {
        if (std::find(uplink_rings.begin(), uplink_rings.end(), r.name()) != uplink_rings.end()) {
          to_uplink.push_back(std::move(r));
        } else {
          ts::ipc::segment::remove(r.name());
        }
      }
      rings = std::move(to_uplink);
    }
    if (!stopping) {
      for (auto& s : stages) {
        if (!s.running && !s.finished && s.next_start_ns != 0 && now >= s.next_start_ns) {
          s.next_start_ns = 0;
          ++s.restarts;
          start(s);
        }
        // A stage that stopped talking is hung: kill it; the reaper restarts it.
        if (s.running && now > s.last_heartbeat_ns && now - s.last_heartbeat_ns > hang_ns) {
          log->warn("{} missed heartbeats for {} ms; killing it", s.identity, (now - s.last_heartbeat_ns) / 1'000'000);
          ::kill(s.pid, SIGKILL);
          s.last_heartbeat_ns = now;
        }
      }
    }

    // Progress on long offline runs.
    if (show_progress && now >= next_progress_ns && !outputs_done && !stopping) {
      const auto* cap = find_by_id("capture");
      const std::uint64_t done = cap ? cap->progress_done : 0;
      const double secs = static_cast<double>(now - t0) / 1e9;
      if (uplink_waits != nullptr) {
        // Still scanning: the total is not known yet.
        std::fprintf(stderr, "%s%s: scanning  %s of at least %s packets  %.1f s%s", tty ? "\r" : "", prog,
                     human(done).c_str(), human(scanned.load(std::memory_order_relaxed)).c_str(), secs,
                     tty ? "   " : "\n");
      } else {
        const double pct =
            total_packets ? 100.0 * static_cast<double>(done) / static_cast<double>(total_packets) : 0;
        std::fprintf(stderr, "%s%s: %5.1f%%  %s of %s packets  %.1f s%s", tty ? "\r" : "", prog, pct,
                     human(done).c_str(), human(total_packets).c_str(), secs, tty ? "   " : "\n");
      }
      progress_shown = true;
      next_progress_ns = now + (tty ? 500'000'000ULL : 5'000'000'000ULL);
    }

    // The platform: health for the next check-in; an action that needs the
    // pipeline stopped drains it as an interrupt does, then acts (below).
    if (link && now >= next_health_ns) {
      next_health_ns = now + 1'000'000'000ULL;
      give_health();
    }
    if (link && platform_stop == ts::supervisor::platform_action::none && !stopping) {
      const auto a = link->take_action();
      // Offline, a new configuration or deleted assets wait for the next run.
      const bool stops = !offline || a == ts::supervisor::platform_action::pause ||
                         a == ts::supervisor::platform_action::deregister;
      // Offline, deleted assets: this run's report is the full inventory.
      if (a == ts::supervisor::platform_action::delete_assets && offline) remove_inventory();
      if (a != ts::supervisor::platform_action::none && stops) {
        platform_stop = a;
        log->warn("platform: stopping the pipeline to apply what the platform asked");
        if (g_signals == 0) g_signals = 1;
      }
    }

    // Signals: stop capture first; the pipeline then drains and the uplink
    // writes its outputs. A second signal stops everything now.
    if (g_signals > 0 && !stopping) {
      if (g_signals == 1) {
        interrupted = true;
        if (interfaces_changed) {
          log->info("draining the pipeline before it restarts on the new interfaces");
        } else {
          log->warn("interrupted: draining the pipeline (interrupt again to stop now)");
        }
        if (stage* cap = find_by_id("capture"); cap && cap->running && cap->said_hello) {
          ctl->command("capture", ts::schema::CommandKind::STOP);
        } else if (cap && !cap->finished) {
          capture_stop_pending = true;  // restarting: stop it as soon as it is back
        }
        drain_deadline = now + drain_timeout_ns;
        if (exit_code == ts::exit_code::ok) exit_code = 128 + SIGINT;
        g_signals = 2;  // handled; a further signal pushes it past 2
      } else if (g_signals > 2) {
        abort_message = "interrupted";
        begin_stop(1'000'000'000ULL);
      }
    }

    if (outputs_done && !stopping) {
      begin_stop(5'000'000'000ULL);
    }
    if (drain_deadline != 0 && !stopping && now > drain_deadline) {
      log->warn("the pipeline did not drain within {} s of the interrupt; stopping every stage",
                drain_timeout_ns / 1'000'000'000ULL);
      begin_stop(30'000'000'000ULL);
    }
    if (stopping) {
      const bool any_running = std::any_of(stages.begin(), stages.end(), [](const stage& s) { return s.running; });
      if (!any_running) break;
      if (ts::util::mono_ns() > stop_deadline) {
        for (auto& s : stages) {
          if (s.running) {
            log->warn("{} did not stop; killing it", s.identity);
            ::kill(s.pid, SIGKILL);
          }
        }
        stop_deadline = ts::util::mono_ns() + 2'000'000'000ULL;
      }
    }
  }

  if (progress_shown && tty) std::fprintf(stderr, "\n");
  // A last check-in: the revision applied, the commands executed and the
  // run's counts reach the platform now rather than at the next start.
  if (link && platform_stop != ts::supervisor::platform_action::deregister) {
    give_health();
    try {
      if (const auto r = link->checkin_now(); !r.ok()) log->info("platform: last check-in failed: {}", r.message);
    } catch (const std::exception& e) {
      log->warn("platform: last check-in answer unusable: {}", e.what());
    }
    // What it brought waits for the next start (it is kept in the state).
    if (platform_stop == ts::supervisor::platform_action::none) {
      const auto late = link->take_action();
      if (late == ts::supervisor::platform_action::deregister) platform_stop = late;
      if (late == ts::supervisor::platform_action::delete_assets) remove_inventory();
    }
  }
  if (interfaces_changed && platform_stop == ts::supervisor::platform_action::none && abort_message.empty()) {
    link.reset();
    links.reset();
    cleanup();
    g_undo = nullptr;
    reexec("the sniffing interfaces changed");
  }
  if (platform_stop != ts::supervisor::platform_action::none) {
    link.reset();
    cleanup();
    g_undo = nullptr;
    switch (platform_stop) {
      case ts::supervisor::platform_action::deregister:
        std::fprintf(stderr, "%s: the platform deregistered this sensor: sensing stopped; register it again with "
                             "--register CODE\n", prog);
        return ts::platform_client::exit_code::deregistered;
      case ts::supervisor::platform_action::pause:
        if (offline) {
          std::fprintf(stderr, "%s: the platform paused this sensor: the run stopped\n", prog);
          return ts::platform_client::exit_code::paused;
        }
        reexec("paused by the platform");
        break;
      case ts::supervisor::platform_action::delete_assets:
        remove_inventory();
        reexec("the platform deleted the assets");
        break;
      default:
        reexec("the platform changed its configuration or asked a reboot");
        break;
    }
  }
  log->info("resources: {}", ts::util::resources_summary());
  cleanup();
  if (!abort_message.empty()) {
    std::fprintf(stderr, "%s: %s\n", prog, abort_message.c_str());
    return exit_code != ts::exit_code::ok ? exit_code : ts::exit_code::software;
  }
  if (!outputs_done) {
    std::fprintf(stderr, "%s: the run ended before the outputs were written\n", prog);
    return ts::exit_code::software;
  }
  const double secs = static_cast<double>(ts::util::mono_ns() - t0) / 1e9;
  if (!quiet) {
    std::string what = offline ? "analysed " + human(total_packets) + " packets" : "ran";
    if (offline && interrupted) {
      const auto* cap = find_by_id("capture");
      if (scan_stopped) {
        // Interrupted while the input was still being scanned.
        const std::uint64_t seen = scanned.load();
        const std::uint64_t read = cap ? std::min(cap->progress_done, seen) : 0;
        what = "interrupted: analysed " + human(read) + " of at least " + human(seen) + " packets";
      } else {
        const std::uint64_t read = cap ? std::min(cap->progress_done, total_packets) : 0;
        what = "interrupted: analysed " + human(read) + " of " + human(total_packets) + " packets";
      }
    }
    // The inventory is named where it is: beside the outputs unless the
    // configuration put it elsewhere (uplink.database, or the state
    // directory of a run that is not a --pcap analysis).
    const fs::path db = cfg.uplink.database.empty() ? fs::path(cfg.sensor.state_dir) / "inventory.sqlite"
                                                    : fs::path(cfg.uplink.database);
    const bool db_beside = db.filename() == "inventory.sqlite" &&
                           fs::absolute(db).parent_path() == fs::absolute(cfg.sensor.output_dir);
    std::fprintf(stderr,
                 "%s: %s in %.1f s: %s\n%s: outputs in %s (assets.json, flows.json, traffic.json, %sstatus.json, "
                 "%stapsense.log)\n",
                 prog, what.c_str(), secs, outputs_summary.c_str(), prog, cfg.sensor.output_dir.c_str(),
                 cfg.uplink.ecs ? "flows.ecs.jsonl, " : "", db_beside ? "inventory.sqlite, " : "");
    if (!db_beside) std::fprintf(stderr, "%s: inventory in %s\n", prog, fs::absolute(db).string().c_str());
  }
  std::uint64_t quarantined = 0;
  for (const auto& st : stages) quarantined += st.quarantined;
  if (quarantined != 0) {
    std::fprintf(stderr, "%s: %s packet(s) crashed a stage and were skipped; they are kept in %s/quarantine/\n",
                 prog, human(quarantined).c_str(), cfg.sensor.state_dir.c_str());
  }
  return exit_code;
}
