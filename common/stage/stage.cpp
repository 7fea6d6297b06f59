#include "common/stage/stage.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>

#include "common/ipc/names.h"
#include "common/stage/exit_codes.h"
#include "common/util/resources.h"
#include "common/util/time.h"

namespace tapsense::stage {

namespace {
std::atomic<bool>* g_stop = nullptr;

extern "C" void on_signal(int) {
  if (g_stop != nullptr) {
    g_stop->store(true, std::memory_order_relaxed);
  }
}

class cli_adder final : public CLI_App_adder {
 public:
  explicit cli_adder(CLI::App& app) : app_(app) {}
  void flag(const std::string& name, bool& out, const std::string& help) override {
    app_.add_flag(name, out, help);
  }
  void option(const std::string& name, std::string& out, const std::string& help) override {
    app_.add_option(name, out, help);
  }

 private:
  CLI::App& app_;
};
}  // namespace

context::context(int argc, char** argv, std::string role, bool indexed,
                 const std::function<void(CLI_App_adder&)>& extra)
    : role_(std::move(role)) {
  CLI::App app{"tapsense " + role_ + " stage (started by tapsense-supervisor)"};
  std::string config_path;
  bool standalone = false;
  app.add_option("--config", config_path, "effective configuration file")->required();
  if (indexed) {
    app.add_option("--index", index_, "shard or worker index")->required()->check(CLI::NonNegativeNumber);
  }
  app.add_flag("--standalone", standalone, "run without a supervisor (no control channel)");
  if (extra) {
    cli_adder adder(app);
    extra(adder);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    std::exit(app.exit(e));
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "tapsense-%s: %s\n", role_.c_str(), e.what());
    std::exit(exit_code::usage);
  }
  try {
    cfg_ = config::load(config_path);
  } catch (const config::config_error& e) {
    std::fprintf(stderr, "tapsense-%s: %s\n", role_.c_str(), e.what());
    std::exit(exit_code::config);
  }
  identity_ = ipc::names::stage_identity(role_, indexed ? index_ : -1);
  log::options lo;
  lo.process = identity_;
  if (!cfg_.sensor.output_dir.empty()) {
    lo.file = cfg_.sensor.output_dir + "/tapsense.log";
  }
  lo.file_level = cfg_.sensor.log_level;
  log::init(lo);
  log_ = log::get(role_);

  // Exit with the supervisor: a stage must never outlive it.
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  g_stop = &stop_;
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  std::signal(SIGPIPE, SIG_IGN);

  heartbeat_ns_ = std::uint64_t{cfg_.supervisor.heartbeat_ms} * 1'000'000;
  if (!standalone) {
    ctl_ = std::make_unique<control::stage_channel>(
        ipc::names::control_endpoint(cfg_.sensor.run_dir), identity_);
    ctl_->hello(version);
  }
}

std::shared_ptr<spdlog::logger> context::logger(std::string_view sub) const {
  return log::get(role_ + "." + std::string(sub));
}

bool context::heartbeat_due() noexcept {
  const std::uint64_t now = util::mono_ns();
  if (now < next_heartbeat_ns_) {
    return false;
  }
  next_heartbeat_ns_ = now + heartbeat_ns_;
  return ctl_ != nullptr;
}

std::optional<schema::CommandKind> context::heartbeat_and_poll(const control::counter_list& counters,
                                                               progress p) {
  ctl_->heartbeat(counters, p.done, p.total);
  std::optional<schema::CommandKind> other;
  while (auto cmd = ctl_->poll_command(0)) {
    if (*cmd == schema::CommandKind::STOP) {
      stop_.store(true, std::memory_order_relaxed);
    } else {
      other = cmd;
    }
  }
  return other;
}

void context::heartbeat_now(const control::counter_list& counters, progress p) {
  if (ctl_) {
    ctl_->heartbeat(counters, p.done, p.total);
  }
}

void context::done(const std::string& what, const std::string& detail) {
  if (ctl_) {
    ctl_->done(what, detail);
  }
}

void context::log_resources() {
  if (resources_logged_) {
    return;
  }
  resources_logged_ = true;
  log_->info("resources: {}", util::resources_summary());
}

context::~context() { log_resources(); }

int context::fatal(int code, const std::string& message) {
  if (ctl_) {
    // The supervisor says it once, on its own stderr line.
    log::file_only(log_->name(), spdlog::level::err, message);
    ctl_->fatal(code, message);
  } else {
    log_->error("{}", message);
  }
  return code;
}

}  // namespace tapsense::stage
