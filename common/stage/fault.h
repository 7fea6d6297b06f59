#pragma once
// Fault injection for the fault tests, compiled in only where the build sets
// TAPSENSE_FAULT_INJECTION (CMake option of the same name, on in test builds).
//
//   TAPSENSE_FAULT="fingerprinter@1234,aggregator@99"
//
// makes the named stage abort (SIGABRT) when it handles the packet whose
// capture ordinal (packet_record::seq, 1-based file order offline) is given,
// every time it meets it: a parser that crashes on one packet.
// "fingerprinter@start" makes it abort as soon as it starts: a crash loop.
// "scan@MS" is no crash: each 65,536-packet step of the supervisor's scan of
// a capture file takes MS milliseconds more (an input still being scanned
// when a test interrupts the run). "reserve@MS": the supervisor reserves the
// shared memory MS milliseconds late (a test fills /dev/shm meanwhile);
// "reserve_late@1": once every stage but the uplink has finished.
// Without the variable, or in builds without the option, this costs nothing.
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace tapsense::stage {

#ifdef TAPSENSE_FAULT_INJECTION
inline constexpr bool fault_injection_built = true;

// The ordinal at which `role` must abort, 0 for none. Parsed once.
inline std::uint64_t fault_ordinal(std::string_view role) noexcept {
  const char* env = std::getenv("TAPSENSE_FAULT");
  if (env == nullptr) {
    return 0;
  }
  std::string_view s(env);
  while (!s.empty()) {
    const auto comma = s.find(',');
    const std::string_view item = s.substr(0, comma);
    const auto at = item.find('@');
    if (at != std::string_view::npos && item.substr(0, at) == role) {
      if (item.substr(at + 1) == "start") {
        std::abort();
      }
      std::uint64_t v = 0;
      for (char c : item.substr(at + 1)) {
        if (c < '0' || c > '9') {
          return 0;
        }
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
      }
      return v;
    }
    if (comma == std::string_view::npos) {
      break;
    }
    s.remove_prefix(comma + 1);
  }
  return 0;
}

inline void maybe_fault(std::uint64_t armed, std::uint64_t seq) noexcept {
  if (armed != 0 && seq == armed) {
    std::abort();
  }
}
#else
inline constexpr bool fault_injection_built = false;
inline std::uint64_t fault_ordinal(std::string_view) noexcept { return 0; }
inline void maybe_fault(std::uint64_t, std::uint64_t) noexcept {}
#endif

}  // namespace tapsense::stage
