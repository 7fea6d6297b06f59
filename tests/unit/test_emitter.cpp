// The fingerprinter's report hand-off: with the report ring full (an uplink
// that does not read), the emitter never waits. Batches wait in the spool
// (the worker's shared-memory state), or, when the spool is full too, the
// observations stay pending; once the uplink reads again every observation
// arrives exactly once, in order, also after a restart of the worker.
#include <gtest/gtest.h>
#include <unistd.h>

#include <capnp/serialize.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/fp/rules.h"
#include "common/ipc/fingerprinter_state.h"
#include "common/ipc/ring.h"
#include "common/ipc/segment.h"
#include "common/schema/report.capnp.h"
#include "fingerprinter/observations.h"
#include "tests/unit/test_observations.h"

using namespace tapsense;
using namespace tapsense::fingerprinter;

namespace {

struct spool_fixture : ::testing::Test {
  std::string ring_name = "/tapsense.test" + std::to_string(::getpid()) + ".fpout";
  std::optional<ipc::ring> out;
  std::vector<std::uint64_t> mem;
  state_header* st = nullptr;
  int waits = 0;

  void make(std::uint64_t spool_bytes) {
    out.emplace(ipc::ring::create(ring_name, 64 << 10, true));
    mem.assign((sizeof(state_header) + spool_bytes) / 8 + 8, 0);
    st = new (mem.data()) state_header{};
  }
  void TearDown() override { ipc::segment::remove(ring_name); }

  std::unique_ptr<emitter> worker(std::uint64_t spool_bytes) {
    auto e = std::make_unique<emitter>(*out, "fingerprinter.0", [this] {
      ++waits;
      return false;  // waiting is a failure here: the flush gives up
    });
    e->set_spool(st, reinterpret_cast<std::uint8_t*>(st + 1), spool_bytes);
    return e;
  }
  void facts(emitter& e, int from, int to) {
    const auto ip = *net::ip_address::parse("192.168.1.10");
    for (int i = from; i < to; ++i) {
      e.about_ip(ip, 1000, "ssh", "banner", "fact number " + std::to_string(i) + std::string(40, 'x'), 50);
    }
  }
  // Reads the ring: the facts' numbers in arrival order, batch ids, end seen.
  struct got {
    std::vector<int> values;
    std::vector<std::uint64_t> ids;
    bool ended = false;
  };
  void read(got& g) {
    ipc::ring_reader rd(*out);
    while (auto f = rd.next()) {
      if (f->type == ipc::frame_type::end_of_reports) {
        g.ended = true;
        continue;
      }
      ASSERT_EQ(f->type, ipc::frame_type::observation_batch);
      kj::ArrayPtr<const capnp::word> w(reinterpret_cast<const capnp::word*>(f->payload.data()),
                                        f->payload.size() / 8);
      capnp::FlatArrayMessageReader r(w);
      auto b = r.getRoot<schema::ObservationBatch>();
      g.ids.push_back(b.getBatchId());
      for (auto o : b.getObservations()) {
        std::string v = o.getValue();
        g.values.push_back(std::stoi(v.substr(12)));
      }
    }
    rd.release();
  }
  void expect_all(const got& g, int n) {
    ASSERT_EQ(g.values.size(), static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) ASSERT_EQ(g.values[static_cast<std::size_t>(i)], i) << "out of order or lost";
    EXPECT_EQ(std::set<std::uint64_t>(g.ids.begin(), g.ids.end()).size(), g.ids.size()) << "a batch id twice";
  }
};

}  // namespace

TEST_F(spool_fixture, FullReportRingNeverMakesTheWorkerWaitAndTheSpoolSurvivesARestart) {
  const std::uint64_t spool = 4u << 20;
  make(spool);
  auto e = worker(spool);
  const int n = 6000;  // about 600 KiB of batches: ten times the ring
  for (int i = 0; i < n; i += 200) {
    facts(*e, i, i + 200);
    ASSERT_TRUE(e->flush()) << e->fatal();
    EXPECT_EQ(e->pending(), 0u);  // delivered: to the ring or the spool
  }
  EXPECT_EQ(waits, 0);
  EXPECT_EQ(out->header().producer.waits.load(), 0u);
  EXPECT_GT(e->spooled_bytes(), 256u << 10);
  EXPECT_GT(st->spool_batches, 0u);
  EXPECT_EQ(st->spool_deferred, 0u);
  // The worker dies; the next one finds the spool and sends it on as the
  // uplink reads.
  e.reset();
  auto e2 = worker(spool);
  got g;
  for (int turns = 0; turns < 1000 && (e2->spooled_bytes() != 0 || g.values.size() < std::size_t{n}); ++turns) {
    read(g);
    e2->poll();
  }
  EXPECT_EQ(e2->spooled_bytes(), 0u);
  ASSERT_TRUE(e2->end_of_reports());
  read(g);
  EXPECT_TRUE(g.ended);
  expect_all(g, n);
  EXPECT_EQ(waits, 0);
}

TEST_F(spool_fixture, FullSpoolKeepsTheFactsPendingWithoutWaiting) {
  const std::uint64_t spool = 64u << 10;
  make(spool);
  auto e = worker(spool);
  const int n = 3000;
  for (int i = 0; i < n; i += 100) {
    facts(*e, i, i + 100);
    ASSERT_TRUE(e->flush()) << e->fatal();
  }
  // Ring and spool full: the rest is held (its snapshots stay unreleased).
  EXPECT_GT(e->pending(), 0u);
  EXPECT_GT(st->spool_deferred, 0u);
  EXPECT_EQ(waits, 0);
  EXPECT_EQ(out->header().producer.waits.load(), 0u);
  got g;
  for (int turns = 0; turns < 1000 && (e->pending() != 0 || e->spooled_bytes() != 0); ++turns) {
    read(g);
    e->poll();
    ASSERT_TRUE(e->flush());
  }
  EXPECT_EQ(e->pending(), 0u);
  ASSERT_TRUE(e->end_of_reports());
  read(g);
  EXPECT_TRUE(g.ended);
  expect_all(g, n);
  EXPECT_EQ(waits, 0);
}

// Repeats are judged before anything is copied: a repeat within 30 minutes
// of packet time is suppressed, a fact still true is sent again after them,
// and a rule's derived fact ("rule:<id>") goes through the same check.
TEST_F(spool_fixture, RepeatsAreSuppressedAndRulesDeriveOnce) {
  make(1u << 20);
  const auto rules = fp::rule_set::parse(R"([[rule]]
id = "t-ubuntu"
comment = "Ubuntu builds of OpenSSH name Ubuntu in their banner"
source = ["ssh"]
field = ["banner"]
regex = 'Ubuntu'
confidence = 80
set = { os_family = "Linux" }
)",
                                         "test.toml");
  auto e = worker(1u << 20);
  e->set_rules(&rules);
  const auto ip = *net::ip_address::parse("192.168.1.10");
  const std::uint64_t s = 1'000'000'000ULL;
  e->about(0, ip, 100 * s, "ssh", "banner", "OpenSSH_8.9p1 Ubuntu-3", 50);
  e->about(0, ip, 200 * s, "ssh", "banner", "OpenSSH_8.9p1 Ubuntu-3", 50);   // repeat
  e->about(0, ip, 300 * s, "ssh", "banner", "OpenSSH_9.6p1 Ubuntu-3", 50);   // new fact, same derived one
  e->about(0, ip, 2000 * s, "ssh", "banner", "OpenSSH_8.9p1 Ubuntu-3", 50);  // 30 min on: again
  ASSERT_TRUE(e->flush());
  EXPECT_EQ(e->suppressed(), 2u);  // the repeat, and the derived fact of the second banner
  EXPECT_EQ(e->emitted(), 5u);     // three banners, two derived facts
  ipc::ring_reader rd(*out);
  std::vector<std::string> seen;
  while (auto f = rd.next()) {
    kj::ArrayPtr<const capnp::word> w(reinterpret_cast<const capnp::word*>(f->payload.data()), f->payload.size() / 8);
    capnp::FlatArrayMessageReader r(w);
    for (auto o : r.getRoot<schema::ObservationBatch>().getObservations()) {
      seen.push_back(observation_name(o) + "=" + o.getValue().cStr() + "@" +
                    std::to_string(o.getTs() / s) + ":" + std::to_string(o.getConfidence()));
    }
  }
  rd.release();
  const std::vector<std::string> want = {
      "ssh/banner=OpenSSH_8.9p1 Ubuntu-3@100:50", "rule:t-ubuntu/os_family=Linux@100:40",
      "ssh/banner=OpenSSH_9.6p1 Ubuntu-3@300:50", "ssh/banner=OpenSSH_8.9p1 Ubuntu-3@2000:50",
      "rule:t-ubuntu/os_family=Linux@2000:40"};
  EXPECT_EQ(seen, want);
}
