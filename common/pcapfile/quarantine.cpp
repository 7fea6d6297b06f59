#include "common/pcapfile/quarantine.h"

#include <pcap/pcap.h>

#include <algorithm>
#include <filesystem>
#include <memory>

namespace tapsense::pcapfile {

bool quarantine_file::keep(std::uint64_t ts_ns, std::span<const std::uint8_t> bytes, std::uint32_t orig_len) {
  namespace fs = std::filesystem;
  constexpr std::uint64_t file_header = 24;
  constexpr std::uint64_t record_header = 16;
  std::error_code ec;
  const auto size = fs::exists(path_, ec) ? fs::file_size(path_, ec) : 0;
  const std::uint64_t after = (size == 0 ? file_header : size) + record_header + bytes.size();
  if (after > max_bytes_) {
    ++not_kept_;
    return false;
  }
  fs::create_directories(fs::path(path_).parent_path(), ec);
  std::unique_ptr<pcap_t, void (*)(pcap_t*)> dead(
      pcap_open_dead_with_tstamp_precision(linktype_, 262144, PCAP_TSTAMP_PRECISION_MICRO), pcap_close);
  if (!dead) {
    error_ = path_ + ": libpcap cannot make a writer";
    ++not_kept_;
    return false;
  }
  pcap_dumper_t* d = pcap_dump_open_append(dead.get(), path_.c_str());
  if (d == nullptr) {
    error_ = path_ + ": " + pcap_geterr(dead.get());
    ++not_kept_;
    return false;
  }
  pcap_pkthdr h{};
  h.ts.tv_sec = static_cast<time_t>(ts_ns / 1'000'000'000ULL);
  h.ts.tv_usec = static_cast<suseconds_t>((ts_ns % 1'000'000'000ULL) / 1000);
  h.caplen = static_cast<bpf_u_int32>(bytes.size());
  h.len = std::max<bpf_u_int32>(orig_len, h.caplen);
  pcap_dump(reinterpret_cast<u_char*>(d), &h, bytes.data());
  const bool ok = pcap_dump_flush(d) == 0;
  pcap_dump_close(d);
  if (!ok) {
    error_ = path_ + ": write failed";
    ++not_kept_;
    return false;
  }
  ++kept_;
  return true;
}

}  // namespace tapsense::pcapfile
