#include "common/ipc/segment.h"

#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace bip = boost::interprocess;

namespace tapsense::ipc {

segment segment::create(const std::string& name, std::size_t size, bool reserve) {
  bip::shared_memory_object::remove(name.c_str());
  try {
    bip::shared_memory_object shm(bip::create_only, name.c_str(), bip::read_write);
    if (reserve) {
      shm.truncate(static_cast<bip::offset_t>(size));  // posix_fallocate, then ftruncate
    } else {
      const int fd = shm.get_mapping_handle().handle;
      while (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
        if (errno != EINTR) throw bip::interprocess_exception(bip::error_info(bip::system_error_code()));
      }
    }
    segment s;
    s.name_ = name;
    s.region_ = std::make_unique<bip::mapped_region>(shm, bip::read_write);
    // A freshly created (truncated) segment reads as zeros: no need to touch
    // its pages here, which would cost start-up time and charge every page
    // to the creator's resident size.
    return s;
  } catch (const bip::interprocess_exception& e) {
    // Leave no empty segment behind for the next start to trip over.
    bip::shared_memory_object::remove(name.c_str());
    throw segment_error("cannot create shared memory " + name + ": " + e.what());
  }
}

segment segment::open(const std::string& name, const char* creator) {
  try {
    bip::shared_memory_object shm(bip::open_only, name.c_str(), bip::read_write);
    segment s;
    s.name_ = name;
    s.region_ = std::make_unique<bip::mapped_region>(shm, bip::read_write);
    return s;
  } catch (const bip::interprocess_exception& e) {
    throw segment_error("cannot open shared memory " + name + " (" + e.what() + ") - is " +
                        creator + " running?");
  }
}

std::string segment::reserve(const std::string& name) {
  // As Boost opens it: shm_open() of "/name" (the names carry the slash).
  const std::string path = name.starts_with('/') ? name : "/" + name;
  const int fd = ::shm_open(path.c_str(), O_RDWR | O_CLOEXEC, 0);
  int rc = fd < 0 ? errno : 0;
  struct stat st {};
  if (rc == 0 && ::fstat(fd, &st) != 0) rc = errno;
  if (rc == 0) {
    do {
      rc = ::posix_fallocate(fd, 0, st.st_size);
    } while (rc == EINTR);
  }
  if (fd >= 0) ::close(fd);
  if (rc == 0) return {};
  const std::string shown = path.substr(1);
  if (fd < 0) return "shared memory: cannot open " + shown + ": " + std::strerror(rc);
  return "shared memory: cannot reserve " + std::to_string(static_cast<std::uint64_t>(st.st_size) >> 20) +
         " MiB for " + shown + ": " + std::strerror(rc);
}

bool segment::remove(const std::string& name) noexcept {
  return bip::shared_memory_object::remove(name.c_str());
}

bool segment::exists(const std::string& name) noexcept {
  try {
    bip::shared_memory_object shm(bip::open_only, name.c_str(), bip::read_only);
    return true;
  } catch (...) {
    return false;
  }
}

segment::segment() = default;
segment::segment(segment&&) noexcept = default;
segment& segment::operator=(segment&&) noexcept = default;
segment::~segment() = default;

void* segment::data() const noexcept { return region_ ? region_->get_address() : nullptr; }
std::size_t segment::size() const noexcept { return region_ ? region_->get_size() : 0; }

}  // namespace tapsense::ipc
