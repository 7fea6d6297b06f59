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
  // Creates (replacing any stale segment of that name) and zero-fills.
  static segment create(const std::string& name, std::size_t size);
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
