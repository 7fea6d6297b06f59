#pragma once
// When connections expire, at a cost proportional to the connections that
// come due rather than to the connection table's capacity.
//
// A timing wheel of `granularity`-wide buckets (the sweep period, 10 s of
// packet time). Each connection in the table has exactly one node, in the
// bucket of the expiry it had when it was registered. A packet only moves
// its connection's last_ns (expiry only ever moves later), so registration
// is lazy: when a bucket comes due, each of its connections either expires
// or moves to the bucket of its real expiry. An expiry beyond the wheel's
// span waits in its farthest bucket and is looked at again from there.
//
// The wheel is process memory: the connection table (shared memory)
// survives a crash, the wheel is rebuilt from it at start, and again after
// anything removes connections without it (the full-table eviction scan).
//
// Invariant: every node sits in a bucket whose tick is in
// [cursor, cursor + span); a sweep at `now` visits the buckets of ticks
// [cursor, now / granularity] and then sets the cursor to now's tick, so a
// connection whose registered expiry is before `now` is always visited.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "aggregator/state.h"

namespace tapsense::aggregator {

class expiry_wheel {
 public:
  static constexpr std::uint32_t none = ~0u;

  // `nodes`: most connections at once (the table's capacity); `horizon_ns`:
  // the longest idle timeout, so most connections are re-checked at most
  // once. No allocation after this.
  void init(std::uint32_t nodes, std::uint64_t granularity_ns, std::uint64_t horizon_ns) {
    granularity_ = granularity_ns;
    std::uint64_t span = 16;
    while (span < horizon_ns / granularity_ns + 2 && span < 4096) span <<= 1;
    mask_ = span - 1;
    heads_.assign(span, none);
    // Reserved, not touched: resident memory follows the connections there
    // are, not the table's capacity.
    nodes_.reserve(nodes);
    limit_ = nodes;
    clear(0);
  }

  // Forgets every node; the wheel starts at `now_ns`.
  void clear(std::uint64_t now_ns) noexcept {
    std::fill(heads_.begin(), heads_.end(), none);
    nodes_.clear();
    free_ = none;
    size_ = 0;
    cursor_ = now_ns / granularity_;
  }

  // Registers a connection expiring at `expiry_ns`. False when every node is
  // taken (cannot happen while there is one node per table entry).
  bool add(const conn_key& k, std::uint64_t expiry_ns) noexcept {
    std::uint32_t n = free_;
    if (n != none) {
      free_ = nodes_[n].next;
    } else if (nodes_.size() < limit_) {
      n = static_cast<std::uint32_t>(nodes_.size());
      nodes_.emplace_back();  // within the reserved capacity: no allocation
    } else {
      return false;
    }
    nodes_[n].key = k;
    link(n, expiry_ns);
    ++size_;
    return true;
  }

  // Visits every connection whose bucket is due at `now_ns`. `check(key)`
  // returns the connection's real expiry to keep it (it is re-registered
  // there), or 0 once it is gone (expired, or not in the table).
  template <typename F>
  void due(std::uint64_t now_ns, F&& check) {
    const std::uint64_t now_tick = now_ns / granularity_;
    if (now_tick < cursor_) return;
    // Detach every due bucket into one list first: what is re-registered
    // during the visit (possibly into now's bucket) waits for a later sweep.
    std::uint32_t list = none;
    const std::uint64_t last = std::min<std::uint64_t>(now_tick, cursor_ + mask_);
    for (std::uint64_t t = cursor_; t <= last; ++t) {
      std::uint32_t& head = heads_[t & mask_];
      while (head != none) {
        const std::uint32_t n = head;
        head = nodes_[n].next;
        nodes_[n].next = list;
        list = n;
      }
    }
    cursor_ = now_tick;
    while (list != none) {
      const std::uint32_t n = list;
      list = nodes_[n].next;
      const std::uint64_t expiry = check(nodes_[n].key);
      if (expiry != 0) {
        link(n, expiry);
      } else {
        nodes_[n].next = free_;
        free_ = n;
        --size_;
      }
    }
  }

  std::uint32_t size() const noexcept { return size_; }

 private:
  struct node {
    conn_key key;
    std::uint32_t next;
  };
  void link(std::uint32_t n, std::uint64_t expiry_ns) noexcept {
    std::uint64_t tick = expiry_ns / granularity_;
    tick = std::max(tick, cursor_);            // overdue: the next sweep looks at it
    tick = std::min(tick, cursor_ + mask_);    // beyond the span: looked at again from the farthest bucket
    std::uint32_t& head = heads_[tick & mask_];
    nodes_[n].next = head;
    head = n;
  }

  std::uint64_t granularity_ = 1;
  std::uint64_t cursor_ = 0;  // tick of the oldest bucket that may hold nodes
  std::uint64_t mask_ = 0;
  std::vector<std::uint32_t> heads_;
  std::vector<node> nodes_;
  std::uint32_t free_ = none;
  std::uint32_t limit_ = 0;
  std::uint32_t size_ = 0;
};

}  // namespace tapsense::aggregator
