#pragma once
// Poison-frame quarantine for stages that replay unreleased ring frames after
// a restart (fingerprinter, aggregator).
//
// A stage records in shared memory which frame it is handling (ring lane and
// ring position, both stable across replays: the ring indices live in the
// segment and a replay walks the same frames from the released tail). If the
// process dies inside that frame, the next incarnation finds the mark. A frame
// that was in hand at two consecutive deaths is poison: it is skipped from then
// on, counted, and kept for a bug report (see common/pcapfile/quarantine.h).
// One death alone is not enough, because an operator's kill -9 or the
// supervisor's hang kill lands inside some frame too, and quarantining that
// frame would lose a healthy packet.
//
// Cost on the packet path: two plain stores per frame (relaxed atomics and a
// compiler barrier: the marks only need to reach memory before the handling
// code runs, and a dying process does not lose stores it already made).
#include <array>
#include <atomic>
#include <cstdint>

namespace tapsense::stage {

inline constexpr std::size_t poison_slots = 32;
// Bound of each stage instance's quarantine file (<state_dir>/quarantine/).
inline constexpr std::uint64_t quarantine_max_bytes = 16ULL << 20;

// Lives inside a stage's state segment, zero-initialised by the supervisor.
struct alignas(64) crash_guard_state {
  std::atomic<std::uint64_t> lane_plus1{0};  // lane + 1 of the frame in hand; 0: none
  std::atomic<std::uint64_t> position{0};    // its ring position (reader position before next())
  std::uint64_t suspect_lane_plus1 = 0;      // the frame in hand at the last death
  std::uint64_t suspect_position = 0;
  std::uint64_t deaths_in_frame = 0;         // deaths with a frame in hand
  std::uint64_t quarantined = 0;             // poison frames skipped (each time one is met)
  std::uint32_t poison_count = 0;            // valid entries in the arrays below (ring buffer)
  std::uint32_t poison_next = 0;
  std::array<std::uint64_t, poison_slots> poison_lane_plus1{};
  std::array<std::uint64_t, poison_slots> poison_position{};
  std::array<std::uint8_t, poison_slots> poison_kept{};  // 1 once quarantined and counted
};

class crash_guard {
 public:
  enum class verdict { none, suspect, poisoned };

  explicit crash_guard(crash_guard_state& s) noexcept : s_(s) {}

  // Call once at start, before any frame. Looks at the mark the previous
  // incarnation left and says what it means.
  verdict on_start(std::uint64_t& lane, std::uint64_t& position) noexcept {
    const std::uint64_t l = s_.lane_plus1.load(std::memory_order_relaxed);
    const std::uint64_t p = s_.position.load(std::memory_order_relaxed);
    s_.lane_plus1.store(0, std::memory_order_relaxed);
    if (l == 0) {
      return verdict::none;
    }
    lane = l - 1;
    position = p;
    ++s_.deaths_in_frame;
    if (s_.suspect_lane_plus1 == l && s_.suspect_position == p) {
      const std::uint32_t i = s_.poison_next;
      s_.poison_lane_plus1[i] = l;
      s_.poison_position[i] = p;
      s_.poison_kept[i] = 0;
      s_.poison_next = static_cast<std::uint32_t>((i + 1) % poison_slots);
      if (s_.poison_count < poison_slots) {
        ++s_.poison_count;
      }
      s_.suspect_lane_plus1 = 0;
      s_.suspect_position = 0;
      return verdict::poisoned;
    }
    s_.suspect_lane_plus1 = l;
    s_.suspect_position = p;
    return verdict::suspect;
  }

  // Whether the frame at (lane, position) is poison and must be skipped:
  // `first` the first time it is met (count it and keep it), `again` when a
  // later replay meets it once more.
  enum class meet { healthy, first, again };
  meet check(std::uint64_t lane, std::uint64_t position) noexcept {
    if (s_.poison_count == 0) {
      return meet::healthy;
    }
    for (std::uint32_t i = 0; i < s_.poison_count; ++i) {
      if (s_.poison_lane_plus1[i] == lane + 1 && s_.poison_position[i] == position) {
        if (s_.poison_kept[i] != 0) {
          return meet::again;
        }
        s_.poison_kept[i] = 1;
        ++s_.quarantined;
        return meet::first;
      }
    }
    return meet::healthy;
  }

  void enter(std::uint64_t lane, std::uint64_t position) noexcept {
    s_.position.store(position, std::memory_order_relaxed);
    s_.lane_plus1.store(lane + 1, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);  // marks before the work
  }
  void leave() noexcept {
    std::atomic_signal_fence(std::memory_order_seq_cst);  // the work before the unmark
    s_.lane_plus1.store(0, std::memory_order_relaxed);
  }

  std::uint64_t quarantined() const noexcept { return s_.quarantined; }
  std::uint64_t deaths_in_frame() const noexcept { return s_.deaths_in_frame; }

 private:
  crash_guard_state& s_;
};

}  // namespace tapsense::stage
