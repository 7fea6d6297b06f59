#include "common/ipc/segment.h"

#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <cstring>

namespace bip = boost::interprocess;

namespace tapsense::ipc {

segment segment::create(const std::string& name, std::size_t size) {
  bip::shared_memory_object::remove(name.c_str());
  try {
    bip::shared_memory_object shm(bip::create_only, name.c_str(), bip::read_write);
    shm.truncate(static_cast<bip::offset_t>(size));
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
