#pragma once
// What every pipeline stage process shares: the standard command line
// (--config EFFECTIVE.toml [--index N]), configuration loading (exit 78 with
// file:line:col on error), logging, SIGTERM/SIGINT handling, and the control
// channel: hello at start, heartbeats with counters, commands.
//
// service() is cheap enough to call once per burst: it looks at the clock and
// only talks to the supervisor every heartbeat_ms.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/config/config.h"
#include "common/control/channel.h"
#include "common/log/log.h"

namespace tapsense::stage {

inline constexpr const char* version = "0.1.0";

struct progress {
  std::uint64_t done = 0;
  std::uint64_t total = 0;
};

// Extra command-line options for a stage: CLI11 lives only in stage.cpp.
class CLI_App_adder {
 public:
  virtual ~CLI_App_adder() = default;
  virtual void flag(const std::string& name, bool& out, const std::string& help) = 0;
  virtual void option(const std::string& name, std::string& out, const std::string& help) = 0;
};

class context {
 public:
  // Parses argv; on --help prints usage and exits 0; on bad usage exits 2; on
  // a bad configuration exits 78. `indexed` stages require --index.
  context(int argc, char** argv, std::string role, bool indexed,
          const std::function<void(CLI_App_adder&)>& extra = nullptr);

  const config::config& cfg() const noexcept { return cfg_; }
  const std::string& role() const noexcept { return role_; }
  int index() const noexcept { return index_; }
  const std::string& identity() const noexcept { return identity_; }
  const std::string& instance() const noexcept { return cfg_.sensor.instance; }
  std::shared_ptr<spdlog::logger> logger(std::string_view sub) const;
  bool supervised() const noexcept { return ctl_ != nullptr; }

  // Set by SIGTERM/SIGINT or a stop command.
  std::atomic<bool>& stop_flag() noexcept { return stop_; }
  bool stopping() const noexcept { return stop_.load(std::memory_order_relaxed); }

  // Heartbeat and command handling; returns a command other than stop if one
  // arrived (stop only sets the flag). `counters` is called only when a
  // heartbeat is due.
  // A template, so a lambda is called as it is: no std::function is built
  // (and possibly allocated) on every call, which is once per burst.
  template <typename Counters>
  std::optional<schema::CommandKind> service(const Counters& counters, progress p = {}) {
    if (!heartbeat_due()) {
      return std::nullopt;
    }
    return heartbeat_and_poll(counters(), p);
  }
  // Immediately sends a heartbeat (e.g. right before exiting).
  void heartbeat_now(const control::counter_list& counters, progress p = {});
  void done(const std::string& what, const std::string& detail = "");
  // Tells the supervisor why we cannot go on, logs it, and returns `code` for
  // main() to exit with.
  int fatal(int code, const std::string& message);
  // Logs peak memory and CPU time of this process ("resources: ..."), for
  // benchmarks and capacity planning. Called by the destructor too.
  void log_resources();
  ~context();

 private:
  std::string role_;
  int index_ = -1;
  // True when a heartbeat is due and there is a supervisor to send it to
  // (then the next one is scheduled).
  bool heartbeat_due() noexcept;
  std::optional<schema::CommandKind> heartbeat_and_poll(const control::counter_list& counters, progress p);

  std::string identity_;
  config::config cfg_;
  std::unique_ptr<control::stage_channel> ctl_;
  std::shared_ptr<spdlog::logger> log_;
  std::atomic<bool> stop_{false};
  std::uint64_t next_heartbeat_ns_ = 0;
  std::uint64_t heartbeat_ns_ = 500'000'000;
  bool resources_logged_ = false;
};

}  // namespace tapsense::stage
