#include "common/net/addr.h"

#include <arpa/inet.h>

namespace tapsense::net {

std::string mac_address::to_string() const {
  static constexpr char hex[] = "0123456789abcdef";
  std::string s(17, ':');
  for (std::size_t i = 0; i < 6; ++i) {
    s[i * 3] = hex[b[i] >> 4];
    s[i * 3 + 1] = hex[b[i] & 0x0f];
  }
  return s;
}

std::optional<mac_address> mac_address::parse(std::string_view s) {
  // Accepts aa:bb:cc:dd:ee:ff and aa-bb-cc-dd-ee-ff, any case.
  if (s.size() != 17) {
    return std::nullopt;
  }
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  mac_address m;
  for (std::size_t i = 0; i < 6; ++i) {
    const int hi = nibble(s[i * 3]);
    const int lo = nibble(s[i * 3 + 1]);
    if (hi < 0 || lo < 0) {
      return std::nullopt;
    }
    if (i < 5 && s[i * 3 + 2] != ':' && s[i * 3 + 2] != '-') {
      return std::nullopt;
    }
    m.b[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return m;
}

std::string ip_address::to_string() const {
  if (is_v4()) {
    // glibc's inet_ntop formats IPv4 with sprintf: by hand, a tenth of the
    // time (addresses are written by the hundred thousand into the outputs).
    char buf[16];
    char* p = buf;
    for (std::size_t i = 12; i < 16; ++i) {
      unsigned v = b[i];
      if (v >= 100) {
        *p++ = static_cast<char>('0' + v / 100);
        v %= 100;
        *p++ = static_cast<char>('0' + v / 10);
      } else if (v >= 10) {
        *p++ = static_cast<char>('0' + v / 10);
      }
      *p++ = static_cast<char>('0' + v % 10);
      if (i < 15) *p++ = '.';
    }
    return std::string(buf, p);
  }
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, b.data(), buf, sizeof buf);
  return buf;
}

std::optional<ip_address> ip_address::parse(std::string_view s) {
  if (s.empty() || s.size() >= INET6_ADDRSTRLEN) {
    return std::nullopt;
  }
  char buf[INET6_ADDRSTRLEN];
  s.copy(buf, s.size());
  buf[s.size()] = '\0';
  std::uint8_t raw[16];
  if (inet_pton(AF_INET, buf, raw) == 1) {
    return from_v4(raw);
  }
  if (inet_pton(AF_INET6, buf, raw) == 1) {
    return from_v6(raw);
  }
  return std::nullopt;
}

}  // namespace tapsense::net
