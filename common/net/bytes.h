#pragma once
// Wire integer loads. Callers check lengths first; these never bounds-check.
// Byte-by-byte decoding keeps us free of alignment and aliasing traps.
#include <cstddef>
#include <cstdint>
#include <span>

namespace tapsense::net {

using bytes = std::span<const std::uint8_t>;

constexpr std::uint16_t load_be16(const std::uint8_t* p) noexcept {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
constexpr std::uint32_t load_be24(const std::uint8_t* p) noexcept {
  return (std::uint32_t{p[0]} << 16) | (std::uint32_t{p[1]} << 8) | p[2];
}
constexpr std::uint32_t load_be32(const std::uint8_t* p) noexcept {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         p[3];
}
constexpr std::uint64_t load_be64(const std::uint8_t* p) noexcept {
  return (std::uint64_t{load_be32(p)} << 32) | load_be32(p + 4);
}
constexpr std::uint16_t load_le16(const std::uint8_t* p) noexcept {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
constexpr std::uint32_t load_le32(const std::uint8_t* p) noexcept {
  return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8) | (std::uint32_t{p[2]} << 16) |
         (std::uint32_t{p[3]} << 24);
}

// True when [off, off+len) lies inside a buffer of size `size`; written so that
// no intermediate can overflow or form a pointer past the end.
constexpr bool fits(std::size_t size, std::size_t off, std::size_t len) noexcept {
  return off <= size && len <= size - off;
}

}  // namespace tapsense::net
