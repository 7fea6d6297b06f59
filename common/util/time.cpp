#include "common/util/time.h"

#include <charconv>
#include <chrono>
#include <ctime>

namespace tapsense::util {

std::string rfc3339(std::uint64_t ns) {
  const std::time_t secs = static_cast<std::time_t>(ns / ns_per_s);
  const auto us = static_cast<unsigned>((ns % ns_per_s) / ns_per_us);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  const auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%.*s.%06uZ", static_cast<int>(n), buf, us);
  return out;
}

std::uint64_t now_ns() noexcept {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

std::uint64_t mono_ns() noexcept {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

std::optional<std::uint64_t> parse_duration_s(std::string_view s) {
  if (s.empty()) {
    return std::nullopt;
  }
  std::uint64_t mult = 1;
  switch (s.back()) {
    case 's': mult = 1; s.remove_suffix(1); break;
    case 'm': mult = 60; s.remove_suffix(1); break;
    case 'h': mult = 3600; s.remove_suffix(1); break;
    case 'd': mult = 86400; s.remove_suffix(1); break;
    default: break;
  }
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || s.empty()) {
    return std::nullopt;
  }
  return v * mult;
}

}  // namespace tapsense::util
