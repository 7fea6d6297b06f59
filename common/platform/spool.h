#pragma once
// The report spool: reports not yet acknowledged by the platform, one file
// per report (<state_dir>/platform/spool/<20-digit id>.report, packed Cap'n
// Proto), written atomically before it is sent and removed once the
// platform acknowledges it. The ids are the per-sensor report sequence
// (from 1); the last one made is kept in spool/last-id, so ids never repeat
// across restarts. Thread-safe: the uplink's main thread adds, its sender
// thread reads and removes.
//
// Bounded by bytes: past `max_bytes` the oldest reports are dropped (never
// the one just added), and what was dropped is counted in spool/dropped
// ("<reports> <bytes>", since the spool began), which the supervisor raises
// as a "Reports Dropped" event at its next check-in. The platform sees the
// gap in the ids and asks for a full report, which puts the inventory right
// again (the flows of the dropped reports are lost: that is what is counted).
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace tapsense::platform_client {

class spool {
 public:
  // max_bytes: 0 = unbounded.
  explicit spool(const std::string& state_dir, std::uint64_t max_bytes = 0);

  // Takes the next id, asks `make` for the report carrying it, and stores it.
  std::uint64_t add(const std::function<std::string(std::uint64_t)>& make);
  // Unacknowledged ids, oldest first.
  std::vector<std::uint64_t> pending() const;
  std::optional<std::string> read(std::uint64_t id) const;
  void remove(std::uint64_t id);
  // Replaces a report the platform found too large (413) by `parts`
  // reports made by `make(part, new id)`, with the next ids; false (nothing
  // changed) when the report is gone.
  bool split(std::uint64_t id, std::size_t parts,
             const std::function<std::string(std::size_t, std::uint64_t)>& make);
  // Drops a report that cannot be sent (counted as dropped).
  void drop(std::uint64_t id);
  // The highest id ever made (0: none).
  std::uint64_t last_id() const;
  // Bytes of the reports waiting now.
  std::uint64_t bytes() const;
  struct drops {
    std::uint64_t reports = 0, bytes = 0;
  };
  // Dropped past the bound since the spool began (spool/dropped).
  drops dropped() const;
  static drops read_dropped(const std::string& spool_dir);
  const std::string& dir() const noexcept { return dir_; }

 private:
  std::string path(std::uint64_t id) const;
  void count_dropped(std::uint64_t reports, std::uint64_t bytes);  // under mu_
  std::string dir_;
  mutable std::mutex mu_;
  std::uint64_t last_ = 0;
  std::uint64_t max_bytes_ = 0;
  std::uint64_t bytes_ = 0;  // under mu_
  drops dropped_;            // under mu_
};

}  // namespace tapsense::platform_client
