#pragma once
// Fixed-capacity open-addressing hash table laid out in caller-provided
// memory (a shared-memory segment): no pointers, no allocation, POD slots.
// Linear probing; erase uses backward-shift deletion so no tombstones build
// up. Keys must be trivially copyable with no padding bytes left
// uninitialised (callers zero keys before filling them); they are compared
// with memcmp.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

namespace tapsense::ipc {

inline std::uint64_t hash_bytes(const void* p, std::size_t n) noexcept {
  // 64-bit multiply-mix over 8-byte words; keys are small and fixed-size.
  const auto* b = static_cast<const std::uint8_t*>(p);
  std::uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
  while (n >= 8) {
    std::uint64_t w;
    std::memcpy(&w, b, 8);
    h = (h ^ w) * 0xff51afd7ed558ccdULL;
    h ^= h >> 32;
    b += 8;
    n -= 8;
  }
  std::uint64_t w = 0;
  std::memcpy(&w, b, n);
  h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 29;
  return h;
}

template <typename Key, typename Value>
class shm_table {
  static_assert(std::is_trivially_copyable_v<Key> && std::is_trivially_copyable_v<Value>);

 public:
  struct slot {
    std::uint32_t used;  // 0 empty, 1 used
    std::uint32_t pad;
    Key key;
    Value value;
  };

  // Bytes needed for `capacity` slots (capacity: power of two).
  static constexpr std::size_t bytes_for(std::uint32_t capacity) noexcept {
    return sizeof(slot) * capacity;
  }

  shm_table() = default;
  shm_table(void* memory, std::uint32_t capacity, std::uint32_t* size_counter) noexcept
      : slots_(static_cast<slot*>(memory)), mask_(capacity - 1), size_(size_counter) {}

  std::uint32_t capacity() const noexcept { return mask_ + 1; }
  std::uint32_t size() const noexcept { return *size_; }
  // Full means 15/16 occupied: beyond that probe lengths explode.
  bool full() const noexcept { return *size_ >= capacity() - capacity() / 16; }

  Value* find(const Key& k) noexcept {
    for (std::uint32_t i = index(k), n = 0; n <= mask_; i = (i + 1) & mask_, ++n) {
      slot& s = slots_[i];
      if (s.used == 0) {
        return nullptr;
      }
      if (std::memcmp(&s.key, &k, sizeof(Key)) == 0) {
        return &s.value;
      }
    }
    return nullptr;
  }

  // The value at slot `pos` if that slot holds `k` (a remembered position,
  // checked), else nullptr.
  Value* at_if(std::uint32_t pos, const Key& k) noexcept {
    if (pos > mask_) return nullptr;
    slot& s = slots_[pos];
    return s.used != 0 && std::memcmp(&s.key, &k, sizeof(Key)) == 0 ? &s.value : nullptr;
  }
  // The slot of a value this table returned.
  std::uint32_t slot_of(const Value* v) const noexcept {
    return static_cast<std::uint32_t>(
        (reinterpret_cast<const char*>(v) - reinterpret_cast<const char*>(&slots_[0].value)) / sizeof(slot));
  }

  // Finds or inserts (value zero-initialised). nullptr when the table is full.
  // `inserted` tells which.
  Value* find_or_insert(const Key& k, bool& inserted) noexcept {
    inserted = false;
    for (std::uint32_t i = index(k), n = 0; n <= mask_; i = (i + 1) & mask_, ++n) {
      slot& s = slots_[i];
      if (s.used == 0) {
        if (full()) {
          return nullptr;
        }
        std::memset(&s.value, 0, sizeof(Value));
        std::memcpy(&s.key, &k, sizeof(Key));
        s.used = 1;  // last: a crash before this leaves the slot empty
        ++*size_;
        inserted = true;
        return &s.value;
      }
      if (std::memcmp(&s.key, &k, sizeof(Key)) == 0) {
        return &s.value;
      }
    }
    return nullptr;
  }

  // Removes the slot at position `pos` (from for_each), shifting later
  // members of its probe run back. Returns true if another entry moved into
  // `pos` (the caller must look at `pos` again).
  bool erase_at(std::uint32_t pos) noexcept {
    std::uint32_t hole = pos;
    bool moved_into_pos = false;
    for (std::uint32_t j = (hole + 1) & mask_;; j = (j + 1) & mask_) {
      slot& s = slots_[j];
      if (s.used == 0) {
        break;
      }
      const std::uint32_t home = index(s.key);
      // Move s into the hole if its home is not in (hole, j] cyclically.
      const bool between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
      if (!between) {
        slots_[hole] = s;
        if (hole == pos) {
          moved_into_pos = true;
        }
        hole = j;
      }
    }
    slots_[hole].used = 0;
    --*size_;
    return moved_into_pos;
  }

  void clear() noexcept {
    std::memset(static_cast<void*>(slots_), 0, bytes_for(capacity()));
    *size_ = 0;
  }
  // clear() for a caller that knows every used slot (`slots`, as many as
  // size()): empties those, not the whole table. Otherwise (a list a crash
  // left short) the whole table.
  template <typename Slots>
  void clear_listed(const Slots& slots) noexcept {
    if (slots.size() != *size_) {
      clear();
      return;
    }
    for (const std::uint32_t i : slots) slots_[i].used = 0;
    *size_ = 0;
  }

  // The used slots, in slot order.
  std::vector<std::uint32_t> used_slots() const {
    std::vector<std::uint32_t> out;
    out.reserve(*size_);
    for (std::uint32_t i = 0; i <= mask_; ++i) {
      if (slots_[i].used != 0) out.push_back(i);
    }
    return out;
  }
  // used_slots() for a caller that lists every used slot (`slots`, as many
  // as size()): the list, sorted, without a scan of the table. Otherwise (a
  // list a crash left short) the scan.
  template <typename Slots>
  std::vector<std::uint32_t> used_slots(const Slots& slots) const {
    if (slots.size() != *size_) return used_slots();
    std::vector<std::uint32_t> out(slots.begin(), slots.end());
    std::sort(out.begin(), out.end());
    return out;
  }

  // Visits used slots in slot order (deterministic for a given content).
  template <typename F>
  void for_each(F&& f) {
    for (std::uint32_t i = 0; i <= mask_; ++i) {
      if (slots_[i].used != 0) {
        f(i, slots_[i].key, slots_[i].value);
      }
    }
  }
  slot& at(std::uint32_t pos) noexcept { return slots_[pos]; }

 private:
  std::uint32_t index(const Key& k) const noexcept {
    return static_cast<std::uint32_t>(hash_bytes(&k, sizeof(Key))) & mask_;
  }
  slot* slots_ = nullptr;
  std::uint32_t mask_ = 0;
  std::uint32_t* size_ = nullptr;
};

}  // namespace tapsense::ipc
