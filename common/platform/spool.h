#pragma once
// The report spool: reports not yet acknowledged by the platform, one file
// per report (<state_dir>/platform/spool/<20-digit id>.report, packed Cap'n
// Proto), written atomically before it is sent and removed once the
// platform acknowledges it. The ids are the per-sensor report sequence
// (from 1); the last one made is kept in spool/last-id, so ids never repeat
// across restarts. Thread-safe: the uplink's main thread adds, its sender
// thread reads and removes.
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace tapsense::platform_client {

class spool {
 public:
  explicit spool(const std::string& state_dir);

  // Takes the next id, asks `make` for the report carrying it, and stores it.
  std::uint64_t add(const std::function<std::string(std::uint64_t)>& make);
  // Unacknowledged ids, oldest first.
  std::vector<std::uint64_t> pending() const;
  std::optional<std::string> read(std::uint64_t id) const;
  void remove(std::uint64_t id);
  // The highest id ever made (0: none).
  std::uint64_t last_id() const;
  const std::string& dir() const noexcept { return dir_; }

 private:
  std::string path(std::uint64_t id) const;
  std::string dir_;
  mutable std::mutex mu_;
  std::uint64_t last_ = 0;
};

}  // namespace tapsense::platform_client
