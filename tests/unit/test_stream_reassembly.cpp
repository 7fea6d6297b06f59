// The fingerprinter's TCP stream reassembly (fingerprinter/analyzer.cpp):
// the first bytes of each direction are put together in sequence order
// before TLS, SSH and HTTP are parsed. Segments are fed as capture would
// snapshot them (decode_frame, then a snapshot header); what the analyzer
// emits is read back from its report ring, as the uplink reads it.
//
// Cases: an HTTP request split over three segments, out of order (a gap
// ends the stream: nothing after it is read), retransmitted and
// overlapping segments (only the new bytes count), a message cut short
// (the final parse at finish()), an SSH banner split in two, a second HTTP
// message on a kept-alive connection, and the eviction of the oldest
// stream when the table is full.
#include <gtest/gtest.h>
#include <unistd.h>

#include <capnp/serialize.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "common/ipc/ring.h"
#include "common/ipc/segment.h"
#include "common/net/decode.h"
#include "common/net/snapshot.h"
#include "common/schema/report.capnp.h"
#include "fingerprinter/analyzer.h"
#include "fingerprinter/observations.h"
#include "tests/unit/test_observations.h"
#include "tests/unit/test_decap_support.h"

using namespace tapsense;
using namespace decap_test;

namespace {

constexpr std::uint64_t client_mac = 0x3c22fb000001;
constexpr std::uint64_t server_mac = 0x001b21000002;

struct StreamReassembly : ::testing::Test {
  std::string name = "/tapsense-test-stream-" + std::to_string(::getpid());
  ipc::ring ring = ipc::ring::create(name, 1 << 20, false);
  fingerprinter::emitter out{ring, "test", [] { return false; }};
  std::unique_ptr<fingerprinter::analyzer> a;
  std::uint64_t ts = 1'700'000'000'000'000'000ULL;

  void SetUp() override { make({}); }
  void TearDown() override {
    a.reset();
    ipc::segment::remove(name);
  }
  void make(fingerprinter::analyzer_options opt) {
    a = std::make_unique<fingerprinter::analyzer>(fingerprinter::analyzer::tables{}, out, nullptr, opt);
  }

  // One TCP segment from client (or server) with sequence number `seq`.
  void segment(bool from_client, std::uint32_t seq, const std::string& payload, std::uint16_t cport = 51000,
               std::uint16_t sport = 80) {
    frame body(payload.begin(), payload.end());
    frame t = tcp(from_client ? cport : sport, from_client ? sport : cport, net::tcpflag::ack | net::tcpflag::psh, body);
    t[4] = static_cast<std::uint8_t>(seq >> 24);
    t[5] = static_cast<std::uint8_t>(seq >> 16);
    t[6] = static_cast<std::uint8_t>(seq >> 8);
    t[7] = static_cast<std::uint8_t>(seq);
    const frame f = from_client ? eth(server_mac, client_mac, 0x0800,
                                      ipv4("192.168.10.5", "192.168.10.9", net::ipproto::tcp, t, {.ttl = 64}))
                                : eth(client_mac, server_mac, 0x0800,
                                      ipv4("192.168.10.9", "192.168.10.5", net::ipproto::tcp, t, {.ttl = 64}));
    net::snapshot_header h{};
    net::layer_offsets off{};
    net::fragment_info frag{};
    net::anomaly_counters an{};
    ASSERT_TRUE(net::decode_frame({f.data(), f.size()}, 0, h.rec, off, frag, an));
    h.rec.ts_ns = ts++;
    h.caplen = static_cast<std::uint16_t>(f.size());
    h.l3_off = off.l3;
    h.l4_off = off.l4;
    h.payload_off = off.payload;
    h.reason = net::snapreason::flow_start;
    a->on_snapshot(h, {f.data(), f.size()});
  }

  // field -> values the analyzer emitted (source/field), read from the ring.
  std::multimap<std::string, std::string> facts() {
    EXPECT_TRUE(out.flush());
    std::multimap<std::string, std::string> m;
    ipc::ring_reader r(ring);
    while (auto f = r.next()) {
      if (f->type != ipc::frame_type::observation_batch) continue;
      const kj::ArrayPtr<const capnp::word> words(reinterpret_cast<const capnp::word*>(f->payload.data()),
                                                  f->payload.size() / sizeof(capnp::word));
      capnp::FlatArrayMessageReader reader(words);
      for (auto o : reader.getRoot<schema::ObservationBatch>().getObservations()) {
        m.emplace(observation_name(o), o.getValue().cStr());
      }
    }
    r.release();
    return m;
  }
  std::vector<std::string> values(const std::string& key) {
    std::vector<std::string> v;
    const auto all = facts();
    for (auto [it, end] = all.equal_range(key); it != end; ++it) v.push_back(it->second);
    return v;
  }
};

const std::string request = "GET /index.html HTTP/1.1\r\nHost: cam.local\r\nUser-Agent: TestAgent/1.0\r\n\r\n";

TEST_F(StreamReassembly, InOrderSegmentsMakeOneMessage) {
  segment(true, 1000, request.substr(0, 10));
  segment(true, 1010, request.substr(10, 25));
  EXPECT_TRUE(values("http/user_agent").empty()) << "the head is not complete yet";
  segment(true, 1035, request.substr(35));
  EXPECT_EQ(values("http/user_agent"), std::vector<std::string>{"TestAgent/1.0"});
  EXPECT_EQ(a->counters().streams, 1u);
  EXPECT_EQ(a->counters().stream_gaps, 0u);
}

TEST_F(StreamReassembly, RetransmissionsAndOverlapsAddOnlyNewBytes) {
  segment(true, 1000, request.substr(0, 20));
  segment(true, 1000, request.substr(0, 20));  // retransmitted whole
  segment(true, 1010, request.substr(10, 30));  // overlaps 10 bytes, adds 20
  segment(true, 1040, request.substr(40));
  EXPECT_EQ(values("http/user_agent"), std::vector<std::string>{"TestAgent/1.0"});
  EXPECT_EQ(a->counters().stream_gaps, 0u);
}

TEST_F(StreamReassembly, AGapEndsTheStream) {
  segment(true, 1000, request.substr(0, 20));
  segment(true, 1040, request.substr(40));  // 20 bytes missing
  segment(true, 1020, request.substr(20, 20));  // too late: the stream ended
  EXPECT_EQ(a->counters().stream_gaps, 1u);
  EXPECT_TRUE(values("http/user_agent").empty()) << "nothing is made up across a gap";
}

TEST_F(StreamReassembly, AHeadCutShortIsParsedAtFinish) {
  // The server's head, without its final empty line: only finish() gives it.
  const std::string response = "HTTP/1.1 200 OK\r\nServer: lighttpd/1.4.35\r\nContent-Length: 0\r\n";
  segment(false, 5000, response);
  EXPECT_TRUE(values("http/server").empty());
  a->finish();
  EXPECT_EQ(values("http/server"), std::vector<std::string>{"lighttpd/1.4.35"});
}

TEST_F(StreamReassembly, ALineCutInTheMiddleIsNotRead) {
  // A gap after "Server: lightt": the value would be cut, so it is not taken.
  segment(false, 5000, "HTTP/1.1 200 OK\r\nX-Powered-By: PHP/5.6\r\nServer: lightt");
  segment(false, 5100, "whatever");  // a gap
  a->finish();
  EXPECT_TRUE(values("http/server").empty());
  EXPECT_EQ(a->counters().stream_gaps, 1u);
}

TEST_F(StreamReassembly, SshBannerInTwoSegments) {
  segment(false, 7000, "SSH-2.0-OpenSSH_8.", 51000, 22);
  segment(false, 7018, "2p1 Ubuntu-4ubuntu0.5\r\n", 51000, 22);
  a->finish();
  const auto v = values("ssh/banner");
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0], "SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.5");
}

TEST_F(StreamReassembly, KeptAliveConnectionsGiveEveryMessage) {
  const std::string second = "GET /b HTTP/1.1\r\nHost: cam.local\r\nUser-Agent: Other/2.0\r\n\r\n";
  segment(true, 1000, request + second);
  const auto v = values("http/user_agent");
  EXPECT_EQ(v.size(), 2u);
  EXPECT_NE(std::find(v.begin(), v.end(), "Other/2.0"), v.end());
}

TEST_F(StreamReassembly, TheOldestStreamIsEvictedWhenFull) {
  a.reset();
  make({.stream_bytes = 16384, .streams = 2});
  segment(true, 1000, request.substr(0, 20), 51001);
  segment(true, 1000, request.substr(0, 20), 51002);
  segment(true, 1000, request.substr(0, 20), 51003);  // the first one gives up
  EXPECT_EQ(a->counters().streams, 3u);
  EXPECT_EQ(a->counters().streams_evicted, 1u);
  // Its rest now starts a new stream mid-message: not an HTTP start, nothing read.
  segment(true, 1020, request.substr(20), 51001);
  EXPECT_TRUE(values("http/user_agent").empty());
}

TEST_F(StreamReassembly, TheStreamPrefixIsBounded) {
  a.reset();
  make({.stream_bytes = 64, .streams = 16});
  // A head longer than the prefix kept: the parse at the bound is final.
  const std::string big = "GET / HTTP/1.1\r\nX-Pad: " + std::string(100, 'a') + "\r\nUser-Agent: Late/1.0\r\n\r\n";
  segment(true, 1000, big);
  a->finish();
  EXPECT_TRUE(values("http/user_agent").empty());
}

}  // namespace
