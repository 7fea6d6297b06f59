#pragma once
// What a registered sensor keeps in its state directory, under
// <state_dir>/platform/ (README "The platform"):
//   uid          the id the sensor generated once (a retried registration
//                sends it again, so the platform never makes two sensors)
//   identity     platform URL, sensor id, key, name, location and a copy of
//                the pinned CA (TOML, mode 0600)
//   state        what it last did: config revision applied (or failed and
//                why), last command id, paused, deregistered
//   config.toml  the configuration fragment of the applied revision
//   spool/       reports not yet acknowledged (spool.h)
// Every file is written atomically (temporary file, fsync, rename).
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

namespace tapsense::platform_client {

struct identity_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct identity {
  std::string url;         // https://host:port
  std::string sensor_id;
  std::string sensor_key;
  std::string uid;
  std::string name;
  std::string location;
  std::string ca_pem;
  std::string auth() const { return sensor_id + ":" + sensor_key; }
};

struct sensor_state {
  std::uint64_t config_revision = 0;   // applied
  std::uint64_t failed_revision = 0;   // last revision that failed (0: none)
  std::string config_error;            // why it failed
  std::uint64_t last_command_id = 0;   // highest executed
  bool paused = false;                 // the platform paused it: no sensing
  bool deregistered = false;           // 403: must register again
  std::uint64_t last_event_id = 0;     // events raised so far (their ids)
};

std::string platform_dir(const std::string& state_dir);

// Writes `content` to `path` atomically with the given mode.
void write_file_atomic(const std::string& path, const std::string& content, unsigned mode = 0600);
// The whole file, or nullopt when it does not exist (throws on other errors).
std::optional<std::string> read_file(const std::string& path);

// The uid, generated (128 random bits, hex) and kept on first use.
std::string ensure_uid(const std::string& state_dir);

// nullopt: not registered. Throws identity_error on a damaged file.
std::optional<identity> load_identity(const std::string& state_dir);
void save_identity(const std::string& state_dir, const identity& id);

sensor_state load_state(const std::string& state_dir);
void save_state(const std::string& state_dir, const sensor_state& s);

// A marker the supervisor leaves (delete_assets, a fresh registration) so
// the uplink's next report is a full one; the uplink removes it once the
// full report is in the spool.
void request_full_report(const std::string& state_dir);
bool full_report_requested(const std::string& state_dir);
void clear_full_report(const std::string& state_dir);

}  // namespace tapsense::platform_client
