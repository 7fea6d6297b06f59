#include "common/ipc/ring.h"

#include <sched.h>

#include <new>
#include <thread>

namespace tapsense::ipc {

namespace {
constexpr std::uint64_t header_bytes = 4096;  // header, padded to a page
static_assert(sizeof(ring_header) <= header_bytes);

bool is_pow2(std::uint64_t v) noexcept { return v != 0 && (v & (v - 1)) == 0; }
}  // namespace

std::size_t ring::segment_size(std::uint64_t capacity) noexcept {
  return static_cast<std::size_t>(header_bytes + capacity);
}

ring ring::create(const std::string& name, std::uint64_t capacity, bool lossless, bool reserve) {
  if (!is_pow2(capacity) || capacity < 4096) {
    throw segment_error("ring " + name + ": capacity must be a power of two >= 4096");
  }
  ring r;
  r.seg_ = segment::create(name, segment_size(capacity), reserve);
  auto* h = new (r.seg_.data()) ring_header{};
  h->magic = ring_magic;
  h->version = ring_version;
  h->lossless = lossless ? 1 : 0;
  h->capacity = capacity;
  h->data_offset = header_bytes;
  name.copy(h->name, sizeof h->name - 1);
  h->head.store(0, std::memory_order_relaxed);
  h->tail.store(0, std::memory_order_relaxed);
  r.hdr_ = h;
  r.data_ = static_cast<std::uint8_t*>(r.seg_.data()) + header_bytes;
  return r;
}

ring ring::open(const std::string& name) {
  ring r;
  r.seg_ = segment::open(name);
  auto* h = static_cast<ring_header*>(r.seg_.data());
  if (r.seg_.size() < header_bytes || h->magic != ring_magic || h->version != ring_version ||
      r.seg_.size() < segment_size(h->capacity)) {
    throw segment_error("shared memory " + name + " is not a tapsense ring of this version");
  }
  r.hdr_ = h;
  r.data_ = static_cast<std::uint8_t*>(r.seg_.data()) + h->data_offset;
  return r;
}

ring_writer::ring_writer(ring& r) noexcept
    : r_(&r),
      // Relaxed is enough: we are the only writer of head.
      local_head_(r.header().head.load(std::memory_order_relaxed)),
      published_head_(local_head_),
      // Pairs with the consumer's release store of tail.
      cached_tail_(r.header().tail.load(std::memory_order_acquire)) {}

bool ring_writer::make_room(std::uint64_t need) noexcept {
  const std::uint64_t cap = r_->capacity();
  if (cap - (local_head_ - cached_tail_) >= need) {
    return true;
  }
  // Pairs with the consumer's release store of tail: the bytes before tail are
  // no longer read, so they may be overwritten.
  cached_tail_ = r_->header().tail.load(std::memory_order_acquire);
  return cap - (local_head_ - cached_tail_) >= need;
}

std::uint8_t* ring_writer::try_reserve(std::uint32_t len, frame_type type) noexcept {
  if (len > r_->max_payload()) {
    return nullptr;
  }
  const std::uint64_t cap = r_->capacity();
  const std::uint64_t span = frame_span(len);
  const std::uint64_t pos = local_head_ & (cap - 1);
  const std::uint64_t to_end = cap - pos;
  const std::uint64_t pad = to_end < span ? to_end : 0;
  if (!make_room(span + pad)) {
    return nullptr;
  }
  std::uint8_t* d = r_->data();
  if (pad != 0) {
    frame_header ph{static_cast<std::uint32_t>(pad - sizeof(frame_header)),
                    static_cast<std::uint16_t>(frame_type::pad), 0};
    std::memcpy(d + pos, &ph, sizeof ph);
    local_head_ += pad;
  }
  const std::uint64_t at = local_head_ & (cap - 1);
  frame_header fh{len, static_cast<std::uint16_t>(type), 0};
  std::memcpy(d + at, &fh, sizeof fh);
  local_head_ += span;
  ++pending_frames_;
  pending_bytes_ += len;
  return d + at + sizeof(frame_header);
}

std::uint8_t* ring_writer::reserve(std::uint32_t len, frame_type type,
                                   const std::function<bool()>& keep_waiting) {
  if (auto* p = try_reserve(len, type)) {
    return p;
  }
  if (len > r_->max_payload()) {
    return nullptr;
  }
  // Make what we have visible first, or a consumer waiting on it never frees room.
  publish();
  single_writer_add(r_->header().producer.waits, 1);
  backoff bo;
  for (;;) {
    if (auto* p = try_reserve(len, type)) {
      return p;
    }
    if (!keep_waiting()) {
      return nullptr;
    }
    bo.pause();
  }
}

bool ring_writer::try_push(frame_type type, const void* payload, std::uint32_t len) noexcept {
  std::uint8_t* p = try_reserve(len, type);
  if (p == nullptr) {
    count_drop(len);
    return false;
  }
  std::memcpy(p, payload, len);
  return true;
}

void ring_writer::publish() noexcept {
  if (local_head_ == published_head_) {
    return;
  }
  auto& h = r_->header();
  // Counters first (relaxed; readers only report them), then the release store
  // that makes the frame bytes visible; pairs with the consumer's acquire load.
  single_writer_add(h.producer.frames, pending_frames_);
  single_writer_add(h.producer.bytes, pending_bytes_);
  pending_frames_ = pending_bytes_ = 0;
  h.head.store(local_head_, std::memory_order_release);
  published_head_ = local_head_;
}

void ring_writer::count_drop(std::uint64_t payload_bytes) noexcept {
  auto& p = r_->header().producer;
  single_writer_add(p.drops, 1);
  single_writer_add(p.drop_bytes, payload_bytes);
}

ring_reader::ring_reader(ring& r) noexcept
    : r_(&r),
      local_tail_(r.header().tail.load(std::memory_order_relaxed)),
      // Pairs with the producer's release store of head.
      cached_head_(r.header().head.load(std::memory_order_acquire)) {}

bool ring_reader::empty() noexcept {
  if (local_tail_ != cached_head_) {
    return false;
  }
  cached_head_ = r_->header().head.load(std::memory_order_acquire);
  return local_tail_ == cached_head_;
}

std::optional<frame_view> ring_reader::next() noexcept {
  const std::uint64_t cap = r_->capacity();
  for (;;) {
    if (local_tail_ == cached_head_) {
      // Pairs with the producer's release store of head: frame bytes written
      // before it are visible now.
      cached_head_ = r_->header().head.load(std::memory_order_acquire);
      if (local_tail_ == cached_head_) {
        return std::nullopt;
      }
    }
    const std::uint64_t pos = local_tail_ & (cap - 1);
    frame_header fh;
    std::memcpy(&fh, r_->data() + pos, sizeof fh);
    const std::uint64_t span = frame_span(fh.len);
    local_tail_ += span;
    if (static_cast<frame_type>(fh.type) == frame_type::pad) {
      continue;
    }
    ++pending_frames_;
    return frame_view{static_cast<frame_type>(fh.type),
                      {r_->data() + pos + sizeof(frame_header), fh.len}};
  }
}

void ring_reader::release() noexcept {
  auto& h = r_->header();
  if (pending_frames_ != 0) {
    single_writer_add(h.consumer.frames, pending_frames_);
    pending_frames_ = 0;
  }
  // Pairs with the producer's acquire load of tail: we are done with the bytes.
  h.tail.store(local_tail_, std::memory_order_release);
}

void ring_reader::rewind() noexcept {
  local_tail_ = r_->header().tail.load(std::memory_order_relaxed);
  pending_frames_ = 0;
}

void backoff::pause() noexcept {
  ++n_;
  if (n_ < 64) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    return;
  }
  if (n_ < 80) {
    sched_yield();
    return;
  }
  // Sleep grows 16us, 32us, ... up to max_.
  const auto shift = std::min<std::uint32_t>(n_ - 80, 6);
  const auto us = std::min<std::chrono::microseconds>(std::chrono::microseconds(16 << shift), max_);
  std::this_thread::sleep_for(us);
}

}  // namespace tapsense::ipc
