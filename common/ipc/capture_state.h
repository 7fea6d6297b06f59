#pragma once
// Capture's progress, in shared memory the supervisor creates, so that a
// restarted capture neither repeats nor skips packets of an offline input.
#include <atomic>
#include <cstdint>

namespace tapsense::capture {

inline constexpr std::uint64_t state_magic = 0x5441545350414354ULL;  // "TCAPSTAT"

inline constexpr unsigned max_lcores = 32;

struct alignas(64) capture_state {
  std::uint64_t magic;
  // Per RX lcore: ordinal of the last packet whose records are published in
  // every ring of that lcore (1-based over its inputs). A restarted capture
  // skips packets up to it.
  std::atomic<std::uint64_t> published_ordinal[max_lcores];
  // Set once end_of_input frames are in every ring.
  std::atomic<std::uint32_t> end_of_input_sent;
  std::atomic<std::uint32_t> restarts;
};

}  // namespace tapsense::capture
