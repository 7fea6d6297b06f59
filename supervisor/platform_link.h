#pragma once
// The supervisor's side of the platform protocol for a registered sensor:
// registration (--register), and the check-in loop (a thread): health, the
// configuration revision applied, the last command executed; new
// configuration and commands in return. Commands and a new configuration
// that need the pipeline stopped are handed to the main loop as an action;
// the main loop drains the pipeline and then acts (restarts itself with the
// new configuration, waits paused, or stops for good).
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/logger.h>

#include "common/config/config.h"
#include "common/platform/client.h"
#include "common/platform/identity.h"
#include "supervisor/metrics.h"

namespace tapsense::supervisor {

// Registers with a personalization code; prints the outcome. Returns the
// process exit code.
// `proxy`: the configuration's [uplink] proxy (empty: direct).
int register_sensor(const std::string& code, const std::string& url, const std::string& ca_file,
                    const std::string& config_path, const std::string& state_dir,
                    const platform_client::proxy_settings& proxy = {});

enum class platform_action { none, restart, pause, deregister, delete_assets };

// What the main loop measures, for the next check-in.
struct health_input {
  std::uint64_t packets = 0;
  std::uint64_t wire_bytes = 0;
  std::uint64_t drops = 0;
  std::uint64_t active_assets_1h = 0;
  std::uint64_t estimated_max_bps = 0;  // the scaling run's measure
  std::vector<int> pids;  // the stages', for CPU
};

class platform_link {
 public:
  platform_link(std::string config_path, const config::config& cfg, platform_client::identity id,
                std::shared_ptr<spdlog::logger> log, unsigned cores);
  ~platform_link();

  // One check-in now (in the caller's thread); applies what it brings.
  platform_client::result checkin_now();
  // Check-ins in a thread until destroyed.
  void start();

  void set_health(health_input h);
  // An event for the platform: sent with the next check-in (ids are a
  // per-sensor sequence kept in the state, so a resend is stored once).
  void raise_event(const std::string& name, const std::string& module, const std::string& type,
                   const std::string& message);
  void set_sensing(bool s) { sensing_ = s; }
  // The action waiting for the main loop (and takes it).
  platform_action take_action() { return action_.exchange(platform_action::none); }
  platform_action peek_action() const { return action_.load(); }
  bool paused() const;
  // Waits until an action arrives, or `stop` becomes true.
  platform_action wait_action(const std::function<bool()>& stop);

 private:
  void run();
  void apply(const platform_client::result& r, std::uint64_t events_upto);
  void raise(platform_action a);
  // A "Reports Dropped" event when the uplink's spool dropped reports.
  void raise_spool_drops();
  // The message, and the highest event id it carries.
  std::string build_checkin(std::uint64_t& events_upto);

  std::string config_path_;
  config::config cfg_;
  platform_client::identity id_;
  std::shared_ptr<spdlog::logger> log_;
  unsigned cores_;
  platform_client::client client_;
  std::string state_dir_;
  mutable std::mutex mu_;  // state_, health_, previous samples
  std::condition_variable cv_;
  platform_client::sensor_state state_;
  health_input health_;
  struct event {
    std::uint64_t id = 0, time_ns = 0;
    std::string name, module, type, message;
  };
  std::vector<event> pending_events_;   // not yet acknowledged by a check-in
  std::uint64_t drops_noted_ = 0;       // spool drops covered by a Reports Dropped event (under mu_)
  std::uint64_t drop_event_id_ = 0;     // that event while not acknowledged (under mu_)
  health_sampler sampler_;  // CPU, network, RAM, disk between two check-ins (under mu_)
  std::uint64_t started_ns_;
  std::atomic<bool> sensing_{false};
  std::atomic<platform_action> action_{platform_action::none};
  std::atomic<unsigned> poll_s_{30};
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace tapsense::supervisor
