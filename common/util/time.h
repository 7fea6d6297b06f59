#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tapsense::util {

inline constexpr std::uint64_t ns_per_us = 1000;
inline constexpr std::uint64_t ns_per_s = 1000000000ULL;

// RFC 3339 in UTC with microseconds: "2013-02-26T22:02:41.116234Z".
std::string rfc3339(std::uint64_t ns_since_epoch);
// The same 27 characters written to out (no allocation).
void rfc3339_to(char* out, std::uint64_t ns_since_epoch) noexcept;

// Wall clock now, ns since the epoch.
std::uint64_t now_ns() noexcept;
// Monotonic clock, ns.
std::uint64_t mono_ns() noexcept;
// CPU time the calling thread has used, ns.
std::uint64_t thread_cpu_ns() noexcept;

// "90", "90s", "5m", "1h", "2d" -> seconds. nullopt when malformed.
std::optional<std::uint64_t> parse_duration_s(std::string_view s);

}  // namespace tapsense::util
