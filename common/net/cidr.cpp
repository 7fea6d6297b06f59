#include "common/net/cidr.h"

#include <charconv>

namespace tapsense::net {

namespace detail {
ip_address next_address(const ip_address& a) noexcept {
  ip_address r = a;
  for (int i = 15; i >= 0; --i) {
    auto& byte = r.b[static_cast<std::size_t>(i)];
    if (byte != 0xff) {
      ++byte;
      return r;
    }
    byte = 0;
  }
  return a;  // saturate at the top
}
ip_address prev_address(const ip_address& a) noexcept {
  ip_address r = a;
  for (int i = 15; i >= 0; --i) {
    auto& byte = r.b[static_cast<std::size_t>(i)];
    if (byte != 0) {
      --byte;
      return r;
    }
    byte = 0xff;
  }
  return a;
}
}  // namespace detail

namespace {
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}
void set_why(std::string* why, std::string msg) {
  if (why != nullptr) *why = std::move(msg);
}
}  // namespace

std::optional<ip_range> ip_range::parse(std::string_view s, std::string* why) {
  s = trim(s);
  if (const auto slash = s.find('/'); slash != std::string_view::npos) {
    const auto addr = ip_address::parse(trim(s.substr(0, slash)));
    if (!addr) {
      set_why(why, "'" + std::string(s.substr(0, slash)) + "' is not an IP address");
      return std::nullopt;
    }
    const auto len_s = trim(s.substr(slash + 1));
    unsigned len = 0;
    auto [p, ec] = std::from_chars(len_s.data(), len_s.data() + len_s.size(), len);
    const unsigned max = addr->is_v4() ? 32 : 128;
    if (ec != std::errc{} || p != len_s.data() + len_s.size() || len_s.empty() || len > max) {
      set_why(why, "prefix length '" + std::string(len_s) + "' must be 0.." + std::to_string(max));
      return std::nullopt;
    }
    const unsigned bits = addr->is_v4() ? len + 96 : len;  // in the mapped space
    ip_range r{*addr, *addr};
    for (unsigned bit = bits; bit < 128; ++bit) {
      const auto byte = bit / 8;
      const auto mask = static_cast<std::uint8_t>(0x80u >> (bit % 8));
      if ((r.first.b[byte] & mask) != 0) {
        set_why(why, "'" + std::string(s) + "' has host bits set (did you mean " +
                         [&] {
                           ip_address net = *addr;
                           for (unsigned b2 = bits; b2 < 128; ++b2) {
                             net.b[b2 / 8] &= static_cast<std::uint8_t>(~(0x80u >> (b2 % 8)));
                           }
                           return net.to_string();
                         }() + "/" + std::to_string(len) + "?)");
        return std::nullopt;
      }
      r.last.b[byte] |= mask;
    }
    return r;
  }
  if (const auto dash = s.find('-'); dash != std::string_view::npos) {
    const auto a = ip_address::parse(trim(s.substr(0, dash)));
    const auto b = ip_address::parse(trim(s.substr(dash + 1)));
    if (!a || !b) {
      set_why(why, "'" + std::string(s) + "' is not a from-to range of IP addresses");
      return std::nullopt;
    }
    if (a->is_v4() != b->is_v4()) {
      set_why(why, "'" + std::string(s) + "' mixes IPv4 and IPv6");
      return std::nullopt;
    }
    if (*b < *a) {
      set_why(why, "'" + std::string(s) + "' ends before it starts");
      return std::nullopt;
    }
    return ip_range{*a, *b};
  }
  const auto a = ip_address::parse(s);
  if (!a) {
    set_why(why, "'" + std::string(s) + "' is not an IP address, CIDR or from-to range");
    return std::nullopt;
  }
  return ip_range{*a, *a};
}

std::string ip_range::to_string() const {
  if (first == last) {
    return first.to_string();
  }
  return first.to_string() + "-" + last.to_string();
}

}  // namespace tapsense::net
