// The shared-memory SPSC frame ring: wrap-around, full, consumer restart,
// producer restart, and a two-process stress run.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <numeric>
#include <vector>

#include "common/ipc/ring.h"

using namespace tapsense::ipc;

namespace {
std::string unique_name(const char* what) {
  return "/tapsense.test" + std::to_string(::getpid()) + "." + what;
}

struct ring_fixture : ::testing::Test {
  std::string name;
  void TearDown() override { segment::remove(name); }
};

bool push_u64(ring_writer& w, std::uint64_t v, std::uint32_t len = 8) {
  auto* p = w.try_reserve(len, frame_type::packet);
  if (p == nullptr) {
    return false;
  }
  std::memset(p, 0, len);
  std::memcpy(p, &v, sizeof v);
  return true;
}

std::uint64_t read_u64(const frame_view& f) {
  std::uint64_t v;
  std::memcpy(&v, f.payload.data(), sizeof v);
  return v;
}
}  // namespace

TEST_F(ring_fixture, EmptyRingYieldsNothing) {
  name = unique_name("empty");
  auto r = ring::create(name, 4096, false);
  ring_reader rd(r);
  EXPECT_FALSE(rd.next().has_value());
  EXPECT_TRUE(rd.empty());
}

TEST_F(ring_fixture, RejectsBadCapacity) {
  name = unique_name("badcap");
  EXPECT_THROW(ring::create(name, 5000, false), segment_error);
  EXPECT_THROW(ring::create(name, 1024, false), segment_error);
}

TEST_F(ring_fixture, OpenMissingNamesTheCreator) {
  name = unique_name("missing");
  try {
    ring::open(name);
    FAIL() << "expected segment_error";
  } catch (const segment_error& e) {
    EXPECT_NE(std::string(e.what()).find("tapsense-supervisor"), std::string::npos) << e.what();
  }
}

TEST_F(ring_fixture, FramesAreInvisibleUntilPublished) {
  name = unique_name("publish");
  auto r = ring::create(name, 4096, false);
  ring_writer w(r);
  ring_reader rd(r);
  ASSERT_TRUE(push_u64(w, 7));
  EXPECT_FALSE(rd.next().has_value());
  w.publish();
  auto f = rd.next();
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->type, frame_type::packet);
  EXPECT_EQ(read_u64(*f), 7u);
}

TEST_F(ring_fixture, FullRingRefusesAndCountsDrops) {
  name = unique_name("full");
  auto r = ring::create(name, 4096, false);
  ring_writer w(r);
  // 64-byte payload + 8-byte header = 72-byte frames; 4096/72 = 56 fit.
  int pushed = 0;
  while (w.try_push(frame_type::packet, std::vector<std::uint8_t>(64).data(), 64)) {
    ++pushed;
  }
  w.publish();
  EXPECT_EQ(pushed, 56);
  EXPECT_EQ(r.header().producer.drops.load(), 1u);
  EXPECT_EQ(r.header().producer.frames.load(), 56u);
  // Freeing space lets the producer continue.
  ring_reader rd(r);
  ASSERT_TRUE(rd.next().has_value());
  rd.release();
  EXPECT_TRUE(w.try_push(frame_type::packet, std::vector<std::uint8_t>(64).data(), 64));
}

TEST_F(ring_fixture, WrapAroundKeepsOrderAndAlignment) {
  name = unique_name("wrap");
  auto r = ring::create(name, 4096, false);
  ring_writer w(r);
  ring_reader rd(r);
  std::uint64_t next_in = 0;
  std::uint64_t next_out = 0;
  // Odd sizes force pad frames at the end of the buffer many times over.
  for (int round = 0; round < 2000; ++round) {
    const std::uint32_t len = 8 + static_cast<std::uint32_t>((round * 37) % 300);
    while (push_u64(w, next_in, len)) {
      ++next_in;
    }
    w.publish();
    while (auto f = rd.next()) {
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(f->payload.data()) % 8, 0u);
      EXPECT_EQ(read_u64(*f), next_out);
      ++next_out;
    }
    rd.release();
  }
  EXPECT_EQ(next_in, next_out);
  EXPECT_GT(r.header().head.load(), 10 * r.capacity()) << "the test must wrap many times";
}

TEST_F(ring_fixture, ConsumerRestartResumesAtReleasedPosition) {
  name = unique_name("crestart");
  auto r = ring::create(name, 1 << 16, true);
  ring_writer w(r);
  for (std::uint64_t i = 0; i < 100; ++i) {
    ASSERT_TRUE(push_u64(w, i));
  }
  w.publish();
  {
    ring_reader rd(r);
    for (int i = 0; i < 40; ++i) {
      ASSERT_TRUE(rd.next().has_value());
    }
    rd.release();  // 0..39 handled
    for (int i = 0; i < 10; ++i) {
      ASSERT_TRUE(rd.next().has_value());  // 40..49 read but not released: "crash"
    }
  }
  // A new process opens the same ring by name.
  auto r2 = ring::open(name);
  ring_reader rd2(r2);
  auto f = rd2.next();
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(read_u64(*f), 40u);
  std::uint64_t n = 1;
  while (rd2.next()) {
    ++n;
  }
  EXPECT_EQ(n, 60u);
}

TEST_F(ring_fixture, ProducerRestartDiscardsUnpublished) {
  name = unique_name("prestart");
  auto r = ring::create(name, 4096, true);
  {
    ring_writer w(r);
    ASSERT_TRUE(push_u64(w, 1));
    w.publish();
    ASSERT_TRUE(push_u64(w, 2));  // never published: the producer "dies"
  }
  ring_writer w2(r);
  ASSERT_TRUE(push_u64(w2, 3));
  w2.publish();
  ring_reader rd(r);
  EXPECT_EQ(read_u64(*rd.next()), 1u);
  EXPECT_EQ(read_u64(*rd.next()), 3u);
  EXPECT_FALSE(rd.next().has_value());
}

TEST_F(ring_fixture, LosslessReserveWaitsForConsumer) {
  name = unique_name("wait");
  auto r = ring::create(name, 4096, true);
  ring_writer w(r);
  while (push_u64(w, 0, 64)) {
  }
  int asked = 0;
  // With nobody consuming, reserve() gives up only when told to.
  auto* p = w.reserve(64, frame_type::packet, [&] { return ++asked < 5; });
  EXPECT_EQ(p, nullptr);
  EXPECT_EQ(asked, 5);
  EXPECT_EQ(r.header().producer.waits.load(), 1u);
  EXPECT_EQ(r.header().producer.drops.load(), 0u);
}

TEST_F(ring_fixture, OversizedFrameIsRefused) {
  name = unique_name("big");
  auto r = ring::create(name, 4096, false);
  ring_writer w(r);
  EXPECT_EQ(w.try_reserve(r.max_payload() + 1, frame_type::packet), nullptr);
  EXPECT_NE(w.try_reserve(r.max_payload(), frame_type::packet), nullptr);
}

TEST_F(ring_fixture, TwoProcessesTransferEverythingInOrder) {
  name = unique_name("xproc");
  auto r = ring::create(name, 1 << 14, true);
  constexpr std::uint64_t total = 200000;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto rc = ring::open(name);
    ring_writer w(rc);
    for (std::uint64_t i = 0; i < total; ++i) {
      auto* p = w.reserve(16, frame_type::packet, [] { return true; });
      std::memcpy(p, &i, 8);
      std::memcpy(p + 8, &i, 8);
      if (i % 32 == 31) {
        w.publish();
      }
    }
    w.publish();
    ::_exit(0);
  }
  ring_reader rd(r);
  std::uint64_t expect = 0;
  backoff bo;
  while (expect < total) {
    auto f = rd.next();
    if (!f) {
      rd.release();
      bo.pause();
      continue;
    }
    bo.reset();
    std::uint64_t a;
    std::uint64_t b;
    std::memcpy(&a, f->payload.data(), 8);
    std::memcpy(&b, f->payload.data() + 8, 8);
    ASSERT_EQ(a, expect);
    ASSERT_EQ(b, expect);
    ++expect;
    if (expect % 64 == 0) {
      rd.release();
    }
  }
  rd.release();
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

// The supervisor creates segments sparse and reserves them once the stages
// are started: both must leave a segment that reads as zeros, and only a
// reserved one has its pages allocated (what keeps a stage from SIGBUS when
// /dev/shm fills later).
namespace {
std::uint64_t allocated_bytes(const std::string& name) {
  struct stat st {};
  const std::string path = "/dev/shm/" + name.substr(name.find_first_not_of('/'));
  if (::stat(path.c_str(), &st) != 0) return ~std::uint64_t{0};
  return static_cast<std::uint64_t>(st.st_blocks) * 512;
}
}  // namespace

TEST_F(ring_fixture, SegmentSparseUntilReserved) {
  name = unique_name("sparse");
  constexpr std::size_t size = std::size_t{8} << 20;
  auto seg = segment::create(name, size, false);
  EXPECT_EQ(allocated_bytes(name), 0u);
  const auto* bytes = static_cast<const unsigned char*>(seg.data());
  EXPECT_EQ(bytes[size - 1], 0);
  EXPECT_EQ(segment::reserve(name), "");
  EXPECT_GE(allocated_bytes(name), size);
  EXPECT_EQ(bytes[0], 0);
  EXPECT_EQ(bytes[size / 2], 0);
}

TEST_F(ring_fixture, SegmentReservedByDefault) {
  name = unique_name("reserved");
  constexpr std::size_t size = std::size_t{4} << 20;
  auto seg = segment::create(name, size);
  EXPECT_GE(allocated_bytes(name), size);
  auto r = ring::create(unique_name("ring-sparse"), 1 << 20, false, false);
  EXPECT_LT(allocated_bytes(r.name()), std::uint64_t{1} << 20);
  EXPECT_EQ(segment::reserve(r.name()), "");
  EXPECT_GE(allocated_bytes(r.name()), std::uint64_t{1} << 20);
  segment::remove(r.name());
}

TEST(segment, ReserveOfAMissingSegmentSaysWhy) {
  const auto why = segment::reserve(unique_name("never-made"));
  EXPECT_NE(why.find("shared memory: cannot open tapsense.test"), std::string::npos) << why;
  EXPECT_NE(why.find("No such file"), std::string::npos) << why;
}
