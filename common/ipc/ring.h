#pragma once
// Single-producer single-consumer frame ring in shared memory.
//
// Layout: a ring_header (indices and counters) followed by a power-of-two data
// area. Frames are an 8-byte frame_header plus a payload padded to 8 bytes;
// a frame never wraps: the producer fills the end of the area with a pad frame
// instead. head and tail are monotonically increasing byte counts, so
// (head - tail) is the fill level and position = index & (capacity - 1).
//
// Both indices live in the segment: a consumer that crashes and restarts
// resumes at `tail` (frames it read but did not release are read again), and a
// producer that restarts continues at `head` (frames reserved but not
// published are discarded). Nothing in the segment is pointer-shaped.
//
// Memory ordering: the producer writes frame bytes, then publishes with a
// release store of head; the consumer's acquire load of head pairs with it.
// The consumer releases space with a release store of tail after it is done
// with the bytes; the producer's acquire load of tail pairs with it, so it
// never overwrites bytes still being read.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "common/ipc/frame_types.h"
#include "common/ipc/segment.h"

namespace tapsense::ipc {

inline constexpr std::uint64_t ring_magic = 0x474e495253505354ULL;  // "TSPSRING"
inline constexpr std::uint32_t ring_version = 1;
inline constexpr std::size_t cache_line = 64;

struct frame_header {
  std::uint32_t len;   // payload bytes (before padding)
  std::uint16_t type;  // frame_type
  std::uint16_t flags;
};
static_assert(sizeof(frame_header) == 8);

// Adds to a counter that only one thread writes: a relaxed load and store
// (a plain add), not a locked read-modify-write; readers on other threads or
// processes still see whole values through relaxed loads.
inline void single_writer_add(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

// Single-writer counter blocks, each on its own cache line.
struct alignas(cache_line) ring_producer_counters {
  std::atomic<std::uint64_t> frames{0};         // frames published
  std::atomic<std::uint64_t> bytes{0};          // payload bytes published
  std::atomic<std::uint64_t> drops{0};          // frames dropped because the ring was full
  std::atomic<std::uint64_t> drop_bytes{0};
  std::atomic<std::uint64_t> waits{0};          // times a lossless producer had to wait
};
struct alignas(cache_line) ring_consumer_counters {
  std::atomic<std::uint64_t> frames{0};  // frames released
  std::atomic<std::uint64_t> restarts{0};
};

struct ring_header {
  std::uint64_t magic;
  std::uint32_t version;
  std::uint32_t lossless;   // 1: report path (producer waits); 0: packet path (drops)
  std::uint64_t capacity;   // data bytes, power of two
  std::uint64_t data_offset;
  char name[64];
  alignas(cache_line) std::atomic<std::uint64_t> head;  // written by the producer only
  alignas(cache_line) std::atomic<std::uint64_t> tail;  // written by the consumer only
  ring_producer_counters producer;
  ring_consumer_counters consumer;
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

// A mapped ring (creator or opener). Owns the mapping.
class ring {
 public:
  // Bytes of shared memory a ring with `capacity` data bytes needs.
  static std::size_t segment_size(std::uint64_t capacity) noexcept;
  // Supervisor side: create and initialise. capacity must be a power of two >= 4096.
  // reserve: as segment::create's.
  static ring create(const std::string& name, std::uint64_t capacity, bool lossless, bool reserve = true);
  // Stage side: open an existing ring; throws segment_error naming the creator.
  static ring open(const std::string& name);

  ring_header& header() const noexcept { return *hdr_; }
  std::uint8_t* data() const noexcept { return data_; }
  std::uint64_t capacity() const noexcept { return hdr_->capacity; }
  const std::string& name() const noexcept { return seg_.name(); }
  // Largest payload a single frame may carry.
  std::uint32_t max_payload() const noexcept {
    return static_cast<std::uint32_t>(hdr_->capacity / 4 - sizeof(frame_header));
  }

 private:
  segment seg_;
  ring_header* hdr_ = nullptr;
  std::uint8_t* data_ = nullptr;
};

inline constexpr std::uint64_t frame_span(std::uint32_t len) noexcept {
  return sizeof(frame_header) + ((std::uint64_t{len} + 7) & ~std::uint64_t{7});
}

// Producer side. Frames become visible to the consumer only on publish(), so a
// burst of frames costs one release store.
class ring_writer {
 public:
  explicit ring_writer(ring& r) noexcept;

  // Reserves a frame of `len` payload bytes and returns where to write it, or
  // nullptr when the ring has no room (nothing is counted; see count_drop).
  std::uint8_t* try_reserve(std::uint32_t len, frame_type type) noexcept;

  // Reserves, waiting for the consumer while the ring is full. Returns nullptr
  // only if `keep_waiting` returns false. Counts one wait per blocking episode.
  std::uint8_t* reserve(std::uint32_t len, frame_type type,
                        const std::function<bool()>& keep_waiting);

  // Copies a whole frame in (convenience for small frames); lossy semantics:
  // counts a drop and returns false when full.
  bool try_push(frame_type type, const void* payload, std::uint32_t len) noexcept;

  // Makes every reserved frame visible.
  void publish() noexcept;
  // Counts frames the caller dropped because try_reserve failed.
  void count_drop(std::uint64_t payload_bytes) noexcept;

  std::uint64_t unpublished() const noexcept { return local_head_ - published_head_; }
  // Largest payload one frame of this ring can carry.
  std::uint32_t max_payload() const noexcept { return r_->max_payload(); }

 private:
  bool make_room(std::uint64_t need) noexcept;

  ring* r_;
  std::uint64_t local_head_;
  std::uint64_t published_head_;
  std::uint64_t cached_tail_;
  std::uint64_t pending_frames_ = 0;
  std::uint64_t pending_bytes_ = 0;
};

struct frame_view {
  frame_type type;
  std::span<const std::uint8_t> payload;  // 8-byte aligned
};

// Consumer side. next() walks frames without freeing them; release() frees
// everything walked so far. A consumer that must not lose data releases only
// after it has durably handled the frames.
class ring_reader {
 public:
  explicit ring_reader(ring& r) noexcept;

  std::optional<frame_view> next() noexcept;
  void release() noexcept;
  // Forget frames walked since the last release (they will be read again).
  void rewind() noexcept;
  // Frames walked since the last release.
  std::uint64_t pending() const noexcept { return pending_frames_; }
  // Where the next next() starts walking: a byte index that names the frame
  // it returns, the same on every replay of the ring after a restart.
  std::uint64_t position() const noexcept { return local_tail_; }
  bool empty() noexcept;

 private:
  ring* r_;
  std::uint64_t local_tail_;
  std::uint64_t cached_head_;
  std::uint64_t pending_frames_ = 0;
};

// Progressive back-off for pollers: spin, then yield, then sleep up to `max`.
class backoff {
 public:
  explicit backoff(std::chrono::microseconds max = std::chrono::microseconds(1000)) noexcept
      : max_(max) {}
  void pause() noexcept;
  void reset() noexcept { n_ = 0; }

 private:
  std::chrono::microseconds max_;
  std::uint32_t n_ = 0;
};

}  // namespace tapsense::ipc
