#pragma once
// Backup and restore of a sensor (the guide's best practice 5): one file
// (tar.gz, mode 0600: it holds the sensor's private key) with
//   MANIFEST             format, sensor name, where each part came from
//   tapsense.toml        the configuration file
//   platform/            registration identity, platform state (revision,
//                        event and report ids), the pushed configuration,
//                        the report spool
//   inventory.sqlite     the inventory (a consistent copy: SQLite backup API)
//   events.jsonl         the sensor's events
// Restored into a fresh state directory, the sensor carries on as the same
// registered sensor (no new registration).
#include <string>

namespace tapsense::supervisor {

// Returns the process exit code; prints one line on failure.
int backup_sensor(const std::string& file, const std::string& config_path);
// Writes the configuration to `config_path` (its [sensor] state_dir set to
// `state_dir` when given) and the state into that state directory, which
// must hold no sensor identity yet.
int restore_sensor(const std::string& file, const std::string& config_path, const std::string& state_dir);

}  // namespace tapsense::supervisor
