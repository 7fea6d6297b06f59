#pragma once
// A report spool: ring frames that found no room in a stage's report ring
// wait here, in the stage's shared-memory state segment, and move on as the
// ring frees room. The aggregator (whole report cycles) and the
// fingerprinter (observation batches) both use it, so that neither ever
// waits for the uplink, and both get the same crash rules:
//  - frames are placed by one release store of `pos`: a crash before it
//    leaves the spool as it was;
//  - frames move to the ring by publishing the ring first, then storing
//    `pos`: a crash in between sends them again, with the same batch ids,
//    which the uplink applies once.
// `pos` packs tail << 32 | head (byte offsets from the spool's start) and is
// 0 whenever the spool is empty, so its space is reused once it drains.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>

#include <kj/common.h>

#include "common/ipc/ring.h"

namespace tapsense::ipc {

class spool {
 public:
  spool() = default;
  spool(std::uint8_t* base, std::uint64_t capacity, std::atomic<std::uint64_t>* pos) noexcept
      : base_(base), capacity_(std::min<std::uint64_t>(capacity, 0xfffff000ULL)), pos_(pos) {}

  bool attached() const noexcept { return pos_ != nullptr; }
  std::uint64_t capacity() const noexcept { return capacity_; }

  // The packed position, to put back after a crash (the aggregator's
  // half-done cycle restores the spool as that cycle found it).
  std::uint64_t position() const noexcept { return pos_->load(std::memory_order_relaxed); }
  void restore(std::uint64_t pos) noexcept { pos_->store(pos, std::memory_order_release); }

  // Bytes of frames waiting.
  std::uint64_t waiting() const noexcept {
    const auto p = position();
    return head(p) - tail(p);
  }
  // Whether `need` bytes of frames fit now (space is reused only once empty).
  bool fits(std::uint64_t need) const noexcept { return capacity_ - head(position()) >= need; }

  // Appending: take the ends, put frames while they fit, commit them all
  // with one store.
  struct ends {
    std::uint64_t head, tail;
  };
  ends begin() const noexcept {
    const auto p = position();
    return {head(p), tail(p)};
  }
  bool put(ends& e, frame_type type, kj::ArrayPtr<const kj::byte> bytes) noexcept {
    const auto len = static_cast<std::uint32_t>(bytes.size());
    if (capacity_ - e.head < frame_span(len)) return false;
    const frame_header fh{len, static_cast<std::uint16_t>(type), 0};
    std::memcpy(base_ + e.head, &fh, sizeof fh);
    std::memcpy(base_ + e.head + sizeof fh, bytes.begin(), bytes.size());
    e.head += frame_span(len);
    return true;
  }
  // Returns the bytes now waiting (for a high-water mark).
  std::uint64_t commit(const ends& e) noexcept {
    pos_->store(pack(e.head, e.tail), std::memory_order_release);
    return e.head - e.tail;
  }

  // Moves waiting frames to the ring while it has room; never waits.
  void drain(ring_writer& out) noexcept {
    const auto p = position();
    const std::uint64_t h = head(p);
    std::uint64_t t = tail(p);
    bool moved = false;
    while (t < h) {
      frame_header fh;
      std::memcpy(&fh, base_ + t, sizeof fh);
      auto* dst = out.try_reserve(fh.len, static_cast<frame_type>(fh.type));
      if (dst == nullptr) break;  // the ring is full: the rest waits here
      std::memcpy(dst, base_ + t + sizeof fh, fh.len);
      t += frame_span(fh.len);
      moved = true;
    }
    if (!moved) return;
    out.publish();  // publish first, then forget (see above)
    pos_->store(pack(h, t), std::memory_order_release);
  }

 private:
  static std::uint64_t head(std::uint64_t p) noexcept { return static_cast<std::uint32_t>(p); }
  static std::uint64_t tail(std::uint64_t p) noexcept { return static_cast<std::uint32_t>(p >> 32); }
  static std::uint64_t pack(std::uint64_t h, std::uint64_t t) noexcept { return h == t ? 0 : (t << 32 | h); }

  std::uint8_t* base_ = nullptr;
  std::uint64_t capacity_ = 0;
  std::atomic<std::uint64_t>* pos_ = nullptr;
};

}  // namespace tapsense::ipc
