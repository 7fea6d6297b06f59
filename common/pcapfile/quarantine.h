#pragma once
// A bounded pcap file of frames that crashed a stage (see
// common/stage/crash_guard.h), kept so they can be reported and fixed.
// Written through libpcap (pcap_dump_open_append), opened per frame: poison
// frames are rare, and a file left closed survives the next crash intact.
#include <cstdint>
#include <span>
#include <string>

namespace tapsense::pcapfile {

class quarantine_file {
 public:
  // linktype: a DLT_ value (1 Ethernet, 101 raw IP). The file never grows past
  // max_bytes; frames beyond that are counted, not kept.
  quarantine_file(std::string path, int linktype, std::uint64_t max_bytes) noexcept
      : path_(std::move(path)), linktype_(linktype), max_bytes_(max_bytes) {}

  // Appends one frame; false when it was not kept (bound reached, or the
  // file could not be written: error() says why).
  bool keep(std::uint64_t ts_ns, std::span<const std::uint8_t> bytes, std::uint32_t orig_len);

  const std::string& path() const noexcept { return path_; }
  std::uint64_t kept() const noexcept { return kept_; }
  std::uint64_t not_kept() const noexcept { return not_kept_; }
  const std::string& error() const noexcept { return error_; }

 private:
  std::string path_;
  int linktype_;
  std::uint64_t max_bytes_;
  std::uint64_t kept_ = 0;
  std::uint64_t not_kept_ = 0;
  std::string error_;
};

}  // namespace tapsense::pcapfile
