#pragma once
// MAC and IP address value types shared by every stage. Both are trivially
// copyable PODs so they can live in packet records and shared memory.
#include <array>
#include <bit>
#include <compare>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace tapsense::net {

// A 48-bit MAC address in network byte order.
struct mac_address {
  std::array<std::uint8_t, 6> b{};

  static mac_address from_bytes(const std::uint8_t* p) noexcept {
    mac_address m;
    std::memcpy(m.b.data(), p, 6);
    return m;
  }
  // 0x0000AABBCCDDEEFF for the MAC aa:bb:cc:dd:ee:ff.
  constexpr std::uint64_t to_u64() const noexcept {
    std::uint64_t v = 0;
    for (auto x : b) {
      v = (v << 8) | x;
    }
    return v;
  }
  static constexpr mac_address from_u64(std::uint64_t v) noexcept {
    mac_address m;
    for (int i = 5; i >= 0; --i) {
      m.b[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v & 0xff);
      v >>= 8;
    }
    return m;
  }
  constexpr bool is_zero() const noexcept { return to_u64() == 0; }
  // Group bit: multicast and broadcast destinations, never a device.
  constexpr bool is_multicast() const noexcept { return (b[0] & 0x01) != 0; }
  // U/L bit: locally administered, typically a randomised (private) MAC.
  constexpr bool is_local() const noexcept { return (b[0] & 0x02) != 0; }
  // Lower-case, colon-separated: "aa:bb:cc:dd:ee:ff".
  std::string to_string() const;
  static std::optional<mac_address> parse(std::string_view s);

  friend constexpr auto operator<=>(const mac_address&, const mac_address&) = default;
};
static_assert(sizeof(mac_address) == 6);

// An IPv4 or IPv6 address. IPv4 is stored IPv4-mapped (::ffff:a.b.c.d), so one
// 16-byte comparison and hash serve both families.
struct ip_address {
  std::array<std::uint8_t, 16> b{};

  static ip_address from_v4(const std::uint8_t* p) noexcept {
    ip_address a;
    a.b[10] = 0xff;
    a.b[11] = 0xff;
    std::memcpy(a.b.data() + 12, p, 4);
    return a;
  }
  static ip_address from_v4(std::uint32_t host_order) noexcept {
    const std::uint8_t p[4] = {static_cast<std::uint8_t>(host_order >> 24),
                               static_cast<std::uint8_t>(host_order >> 16),
                               static_cast<std::uint8_t>(host_order >> 8),
                               static_cast<std::uint8_t>(host_order)};
    return from_v4(p);
  }
  static ip_address from_v6(const std::uint8_t* p) noexcept {
    ip_address a;
    std::memcpy(a.b.data(), p, 16);
    return a;
  }
  bool is_v4() const noexcept {
    static constexpr std::uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(b.data(), prefix, 12) == 0;
  }
  std::uint32_t v4() const noexcept {
    return (std::uint32_t{b[12]} << 24) | (std::uint32_t{b[13]} << 16) |
           (std::uint32_t{b[14]} << 8) | b[15];
  }
  bool is_unspecified() const noexcept {
    if (is_v4()) {
      return v4() == 0;
    }
    for (auto x : b) {
      if (x != 0) {
        return false;
      }
    }
    return true;
  }
  bool is_multicast() const noexcept {
    return is_v4() ? (b[12] & 0xf0) == 0xe0 : b[0] == 0xff;
  }
  // Dotted quad for IPv4, RFC 5952 text for IPv6.
  std::string to_string() const;
  static std::optional<ip_address> parse(std::string_view s);

  // The address as two 64-bit numbers, most significant first: their
  // order is the byte-wise order of b.
  constexpr std::array<std::uint64_t, 2> halves() const noexcept {
    auto h = std::bit_cast<std::array<std::uint64_t, 2>>(b);
    if constexpr (std::endian::native == std::endian::little) {
      h[0] = __builtin_bswap64(h[0]);
      h[1] = __builtin_bswap64(h[1]);
    }
    return h;
  }
  // Byte-wise order and equality, as defaulted ones would be, but on the two
  // halves: the defaulted ones call memcmp(), and addresses are compared for
  // every packet (classification, connection keys) and in every map the
  // uplink keys by address.
  friend constexpr std::strong_ordering operator<=>(const ip_address& x, const ip_address& y) noexcept {
    const auto a = x.halves();
    const auto c = y.halves();
    return a[0] != c[0] ? a[0] <=> c[0] : a[1] <=> c[1];
  }
  friend constexpr bool operator==(const ip_address& x, const ip_address& y) noexcept {
    const auto a = std::bit_cast<std::array<std::uint64_t, 2>>(x.b);
    const auto c = std::bit_cast<std::array<std::uint64_t, 2>>(y.b);
    return a[0] == c[0] && a[1] == c[1];
  }
};
static_assert(sizeof(ip_address) == 16);

}  // namespace tapsense::net
