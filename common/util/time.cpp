#include "common/util/time.h"

#include <charconv>
#include <chrono>
#include <ctime>

namespace tapsense::util {

std::string rfc3339(std::uint64_t ns) {
  char out[27];
  rfc3339_to(out, ns);
  return std::string(out, 27);
}

void rfc3339_to(char* out, std::uint64_t ns) noexcept {
  // Civil date from days since 1970-01-01 (H. Hinnant's days_from_civil
  // inverse): no time zone database, no locale, no allocation.
  const std::uint64_t secs = ns / ns_per_s;
  const auto us = static_cast<unsigned>((ns % ns_per_s) / ns_per_us);
  const std::int64_t z = static_cast<std::int64_t>(secs / 86400) + 719468;
  const unsigned sod = static_cast<unsigned>(secs % 86400);
  const std::int64_t era = z / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const auto y = static_cast<unsigned>(static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0));
  auto put = [&](int at, unsigned v, int width) {
    for (int i = width - 1; i >= 0; --i) {
      out[at + i] = static_cast<char>('0' + v % 10);
      v /= 10;
    }
  };
  put(0, y, 4);
  out[4] = '-';
  put(5, m, 2);
  out[7] = '-';
  put(8, d, 2);
  out[10] = 'T';
  put(11, sod / 3600, 2);
  out[13] = ':';
  put(14, sod / 60 % 60, 2);
  out[16] = ':';
  put(17, sod % 60, 2);
  out[19] = '.';
  put(20, us, 6);
  out[26] = 'Z';
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

std::uint64_t thread_cpu_ns() noexcept {
  timespec t{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<std::uint64_t>(t.tv_sec) * ns_per_s + static_cast<std::uint64_t>(t.tv_nsec);
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
