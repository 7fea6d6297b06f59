// The shared-memory hash table: lookups across probe runs, backward-shift
// erase, and the two ways to empty it (whole, or the slots a caller listed).
#include <gtest/gtest.h>

#include <cstdint>
#include <algorithm>
#include <set>
#include <vector>

#include "common/ipc/shm_table.h"

using tapsense::ipc::shm_table;

namespace {
struct key {
  std::uint64_t v;
};
using table = shm_table<key, std::uint64_t>;

struct table_fixture : ::testing::Test {
  static constexpr std::uint32_t capacity = 1024;
  std::vector<table::slot> memory = std::vector<table::slot>(capacity);
  std::uint32_t size = 0;
  table t{memory.data(), capacity, &size};

  // Inserts keys 1..n with value key * 10; returns the slots they took.
  std::vector<std::uint32_t> fill(std::uint64_t n) {
    std::vector<std::uint32_t> slots;
    for (std::uint64_t k = 1; k <= n; ++k) {
      bool inserted = false;
      auto* v = t.find_or_insert(key{k}, inserted);
      EXPECT_TRUE(inserted);
      *v = k * 10;
      slots.push_back(t.slot_of(v));
    }
    return slots;
  }
  std::set<std::uint64_t> keys() {
    std::set<std::uint64_t> out;
    t.for_each([&](std::uint32_t, const key& k, const std::uint64_t& v) {
      EXPECT_EQ(v, k.v * 10);
      out.insert(k.v);
    });
    return out;
  }
};
}  // namespace

TEST_F(table_fixture, EveryKeyIsFoundAfterErasesInItsProbeRun) {
  fill(900);  // past 3/4 full: long probe runs
  EXPECT_EQ(t.size(), 900u);
  // Erase every third key, wherever its slot is.
  for (std::uint64_t k = 3; k <= 900; k += 3) {
    auto* v = t.find(key{k});
    ASSERT_NE(v, nullptr) << k;
    t.erase_at(t.slot_of(v));
  }
  EXPECT_EQ(t.size(), 600u);
  for (std::uint64_t k = 1; k <= 900; ++k) {
    auto* v = t.find(key{k});
    if (k % 3 == 0) {
      EXPECT_EQ(v, nullptr) << k;
    } else {
      ASSERT_NE(v, nullptr) << k;
      EXPECT_EQ(*v, k * 10);
      EXPECT_NE(t.at_if(t.slot_of(v), key{k}), nullptr);
      EXPECT_EQ(t.at_if(t.slot_of(v), key{k + 1}), nullptr);
    }
  }
}

TEST_F(table_fixture, ClearListedEmptiesTheListedSlotsAndKeepsTheRestOfMemory) {
  const auto slots = fill(100);
  t.clear_listed(slots);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_TRUE(keys().empty());
  for (std::uint64_t k = 1; k <= 100; ++k) EXPECT_EQ(t.find(key{k}), nullptr);
  // Reused slots start from a zero value, as after a whole clear.
  bool inserted = false;
  auto* v = t.find_or_insert(key{7}, inserted);
  ASSERT_TRUE(inserted);
  EXPECT_EQ(*v, 0u);
  EXPECT_EQ(t.size(), 1u);
}

TEST_F(table_fixture, AListShorterThanTheTableClearsEverything) {
  auto slots = fill(100);
  slots.resize(60);  // what a crash half-way through listing leaves
  t.clear_listed(slots);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_TRUE(keys().empty());
}

TEST_F(table_fixture, UsedSlotsFromAWholeListOrFromAScanAreTheSameInSlotOrder) {
  auto slots = fill(300);
  const auto scanned = t.used_slots();
  ASSERT_EQ(scanned.size(), 300u);
  EXPECT_TRUE(std::is_sorted(scanned.begin(), scanned.end()));
  std::reverse(slots.begin(), slots.end());  // a list in insertion order, not slot order
  EXPECT_EQ(t.used_slots(slots), scanned);
  slots.resize(200);  // short: the table is scanned instead
  EXPECT_EQ(t.used_slots(slots), scanned);
}
