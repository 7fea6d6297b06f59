#pragma once
// What makes a sensor run the only one of its name, and what a dead one left
// behind reclaimable.
//
// Instance lock: /dev/shm/tapsense.<instance>.lock, flock()ed for the life of
// the run and naming its supervisor's pid and run directory. The stages
// inherit the locked descriptor (spawn's `inherit`), so the lock is free
// only once the supervisor and every stage have ended. A second supervisor of
// the same instance finds it held and refuses to start; a supervisor killed
// with SIGKILL (or by the OOM killer) leaves its stages ending their run (they
// get SIGTERM): a start meanwhile waits for them (up to `patience`) rather
// than run beside them (two uplinks on one inventory and one report spool).
// Once they have ended, the next start of any sensor finds a lock it can
// take, and removes that instance's segments and private run directory.
//
// Directory locks: flock() on the directory itself (no file left in it), so
// two runs can never write one output or state directory at once; the
// stages hold them too.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace tapsense::supervisor {

class held_lock {
 public:
  held_lock() = default;
  explicit held_lock(int fd) noexcept : fd_(fd) {}
  held_lock(held_lock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  held_lock& operator=(held_lock&& o) noexcept;
  held_lock(const held_lock&) = delete;
  held_lock& operator=(const held_lock&) = delete;
  ~held_lock();
  bool held() const noexcept { return fd_ >= 0; }
  int fd() const noexcept { return fd_; }

 private:
  int fd_ = -1;
};

std::string instance_lock_path(const std::string& instance);

// Takes the instance lock and writes our pid and run directory into it. On
// failure returns an unheld lock and sets `why` (one line: who holds it).
// Held by the stages of a supervisor that is gone: `waiting` is told once
// (one line), and the lock is retried until `patience` has passed.
held_lock lock_instance(const std::string& instance, const std::string& run_dir, bool private_run_dir,
                        std::string& why, const std::function<void(const std::string&)>& waiting = {},
                        std::chrono::milliseconds patience = std::chrono::seconds(30));

// Processes that have `path` open (from /proc/<pid>/fd), ascending.
std::vector<int> processes_holding(const std::string& path);

// flock()s a directory. On failure sets `why` (one line). Held by a
// supervisor that runs: refused at once. Held only by processes that are not
// one (the stages of a supervisor that died, ending their run): `waiting` is
// told once, and the lock is retried until `patience` has passed.
held_lock lock_directory(const std::string& dir, const std::string& what, std::string& why,
                         const std::function<void(const std::string&)>& waiting = {},
                         std::chrono::milliseconds patience = std::chrono::seconds(30));

struct reclaimed {
  unsigned instances = 0;
  unsigned segments = 0;
  std::uint64_t bytes = 0;
  std::vector<std::string> names;  // instance names
};

// Removes the segments (and private run directories) of every instance whose
// lock no process holds any more. `self` is skipped (its own segments are
// reclaimed by lock_instance's caller with remove_segments()).
reclaimed reclaim_dead_instances(const std::string& self);

// Removes /dev/shm/tapsense.<instance>.* segments (not the lock). Returns how many.
unsigned remove_segments(const std::string& instance, std::uint64_t* bytes = nullptr);

// DPDK's runtime directories of capture (<root>/tapsense-<instance>: root is
// /var/run/dpdk for root, else $XDG_RUNTIME_DIR/dpdk, as EAL makes them)
// of every instance no live supervisor holds, `self` included (call it
// with the instance lock held, before capture starts). Capture runs EAL
// without shared files and removes its directory when it ends; these are
// what a killed capture, or a version before that, left: 6.5 MB each.
struct reclaimed_dirs {
  unsigned dirs = 0;
  std::uint64_t bytes = 0;
};
reclaimed_dirs remove_dpdk_runtime_dirs(const std::string& self, const std::string& root = {});

// Free bytes on the file system holding `path` (statvfs), or nullopt.
std::optional<std::uint64_t> free_bytes(const std::string& path);

}  // namespace tapsense::supervisor
