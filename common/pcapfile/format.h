#pragma once
// What scan.cpp and records.cpp both read from a capture file's bytes: the
// classic pcap magics and a whole read at an offset.
#include <cstddef>
#include <cstdint>

namespace tapsense::pcapfile {

inline constexpr std::uint32_t pcap_magic_us = 0xa1b2c3d4;  // microsecond time stamps
inline constexpr std::uint32_t pcap_magic_ns = 0xa1b23c4d;  // nanosecond time stamps

// Reads exactly n bytes at `offset` of fd (pread, again on EINTR and short
// reads): false at the end of the file first, or on an error.
bool pread_all(int fd, void* out, std::size_t n, std::uint64_t offset) noexcept;

}  // namespace tapsense::pcapfile
