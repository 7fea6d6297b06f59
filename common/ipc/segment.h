#pragma once
// A named POSIX shared-memory segment (Boost.Interprocess), mapped read-write.
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>

namespace boost::interprocess {
class mapped_region;
}

namespace tapsense::ipc {

struct segment_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class segment {
 public:
  // Creates (replacing any stale segment of that name); it reads as zeros.
  // reserve: every page is allocated now (posix_fallocate, which is what
  // Boost's truncate does), so touching one later cannot fail for want of
  // room in /dev/shm (a SIGBUS). Without it the pages are allocated when
  // first touched, and reserve() allocates the rest later: the supervisor
  // starts the stages first (0.06-0.1 s of allocating 313 MiB of tables and
  // rings no longer comes before the first packet).
  static segment create(const std::string& name, std::size_t size, bool reserve = true);
  // Allocates every page of the named segment not allocated yet. Empty on
  // success, else one line saying why (ENOSPC: /dev/shm is full).
  static std::string reserve(const std::string& name);
  // Opens an existing segment; `creator` names the process that should have
  // made it, for the error message.
  static segment open(const std::string& name, const char* creator = "tapsense-supervisor");
  static bool remove(const std::string& name) noexcept;
  static bool exists(const std::string& name) noexcept;

  segment();
  segment(segment&&) noexcept;
  segment& operator=(segment&&) noexcept;
  ~segment();

  void* data() const noexcept;
  std::size_t size() const noexcept;
  const std::string& name() const noexcept { return name_; }

 private:
  std::string name_;
  std::unique_ptr<boost::interprocess::mapped_region> region_;
};

}  // namespace tapsense::ipc
