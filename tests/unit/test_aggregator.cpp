// Aggregator shard on real shared memory: flows per reporting tuple and
// interval, client/server roles, classification, sightings and bindings, and
// the exactly-once behaviour across a restart.
#include <gtest/gtest.h>
#include <map>
#include <optional>
#include <set>
#include <unistd.h>

#include <capnp/serialize.h>

#include "aggregator/shard.h"
#include "aggregator/state.h"
#include "common/ipc/ring.h"
#include "common/schema/report.capnp.h"

using namespace tapsense;
using namespace tapsense::aggregator;

namespace {

struct fixture : ::testing::Test {
  std::string ring_name = "/tapsense.test" + std::to_string(::getpid()) + ".aggout";
  std::string state_name = "/tapsense.test" + std::to_string(::getpid()) + ".aggstate";
  config::config cfg = config::defaults();
  std::optional<ipc::ring> out;
  ipc::segment seg;
  state_header* h = nullptr;
  std::uint64_t seq = 0;
  std::uint64_t spool_bytes = 4u << 20;

  void SetUp() override {
    out.emplace(ipc::ring::create(ring_name, 1 << 20, true));
    state_header probe{};
    const auto bytes = layout(probe, 4096, 4096, 1024, 2048, 1024, 1024, spool_bytes);
    seg = ipc::segment::create(state_name, bytes);
    h = new (seg.data()) state_header{};
    layout(*h, 4096, 4096, 1024, 2048, 1024, 1024, spool_bytes);
    h->magic = state_magic;
    h->version = state_version;
  }
  void TearDown() override {
    ipc::segment::remove(ring_name);
    ipc::segment::remove(state_name);
  }

  shard make() { return shard(*h, cfg, *out, "aggregator.0", [] { return true; }); }

  net::packet_record pkt(const char* src, std::uint16_t sp, const char* dst, std::uint16_t dp,
                         std::uint64_t t_s, std::uint32_t len, std::uint8_t flags = net::tcpflag::ack,
                         std::uint8_t proto = net::ipproto::tcp) {
    net::packet_record r{};
    r.ts_ns = t_s * 1'000'000'000ULL;
    r.wire_len = len;
    r.src_ip = *net::ip_address::parse(src);
    r.dst_ip = *net::ip_address::parse(dst);
    r.src_mac = net::mac_address::from_u64(0x3c22fb000000ULL + (r.src_ip.b[15]));
    r.dst_mac = net::mac_address::from_u64(0x3c22fb000000ULL + (r.dst_ip.b[15]));
    r.src_port = sp;
    r.dst_port = dp;
    r.ip_proto = proto;
    r.tcp_flags = flags;
    r.flags = net::pktflag::has_ports;
    r.l3 = static_cast<std::uint8_t>(r.src_ip.is_v4() ? net::l3_type::ipv4 : net::l3_type::ipv6);
    r.seq = ++seq;
    return r;
  }

  bool feed(shard& s, const net::packet_record& r) {
    ipc::frame_view f{ipc::frame_type::packet,
                      {reinterpret_cast<const std::uint8_t*>(&r), sizeof r}};
    return s.on_frame(f);
  }
  void end(shard& s) {
    ipc::end_of_input_frame e{};
    ipc::frame_view f{ipc::frame_type::end_of_input,
                      {reinterpret_cast<const std::uint8_t*>(&e), sizeof e}};
    ASSERT_TRUE(s.on_frame(f));
  }

  struct flow {
    std::string client, server;
    std::uint16_t port;
    std::uint64_t interval, packets, c2s, s2c;
    schema::AddressClass client_class = schema::AddressClass::EXTERNAL;
    schema::AddressClass server_class = schema::AddressClass::EXTERNAL;
    std::uint64_t client_mac = 0, first = 0, last = 0, interval_end = 0;
  };
  struct sighting {
    std::string ip;
    bool is_new;
    std::uint64_t packets_out;
  };
  struct collected {
    std::vector<sighting> sightings;
    std::vector<flow> flows;
    std::vector<std::uint64_t> ids;
    std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> assets;  // ip -> (in, out)
    std::vector<std::pair<std::string, std::uint64_t>> bindings;
    bool ended = false;
  };
  collected drain() {
    collected c;
    ipc::ring_reader rd(*out);
    while (auto f = rd.next()) {
      kj::ArrayPtr<const capnp::word> w(reinterpret_cast<const capnp::word*>(f->payload.data()),
                                        f->payload.size() / 8);
      auto ip = [](capnp::Data::Reader d) {
        if (d.size() != 16) return std::string("External");
        net::ip_address a;
        std::memcpy(a.b.data(), d.begin(), 16);
        return a.to_string();
      };
      if (f->type == ipc::frame_type::flow_batch) {
        capnp::FlatArrayMessageReader r(w);
        auto b = r.getRoot<schema::FlowBatch>();
        c.ids.push_back(b.getBatchId());
        for (auto x : b.getFlows()) {
          c.flows.push_back({ip(x.getClient()), ip(x.getServer()), x.getServerPort(), x.getIntervalStart(),
                             x.getPackets(), x.getBytesClientToServer(), x.getBytesServerToClient(),
                             x.getClientClass(), x.getServerClass(), x.getClientMac(), x.getFirstSeen(),
                             x.getLastSeen(), x.getIntervalEnd()});
        }
      } else if (f->type == ipc::frame_type::sighting_batch) {
        capnp::FlatArrayMessageReader r(w);
        auto b = r.getRoot<schema::SightingBatch>();
        c.ids.push_back(b.getBatchId());
        for (auto x : b.getSightings()) {
          c.sightings.push_back({ip(x.getIp()), x.getIsNew(), x.getPacketsOut()});
          auto& a = c.assets[ip(x.getIp())];
          a.first += x.getBytesIn();
          a.second += x.getBytesOut();
        }
        for (auto x : b.getBindings()) c.bindings.emplace_back(ip(x.getIp()), x.getMac());
      } else if (f->type == ipc::frame_type::end_of_reports) {
        c.ended = true;
      }
    }
    rd.release();
    return c;
  }
};

}  // namespace

TEST_F(fixture, HandshakeDecidesClientAndBytesGoBothWays) {
  auto s = make();
  feed(s, pkt("192.168.1.10", 50000, "93.184.216.34", 443, 100, 74, net::tcpflag::syn));
  feed(s, pkt("93.184.216.34", 443, "192.168.1.10", 50000, 100, 74, net::tcpflag::syn | net::tcpflag::ack));
  feed(s, pkt("192.168.1.10", 50000, "93.184.216.34", 443, 101, 600));
  feed(s, pkt("93.184.216.34", 443, "192.168.1.10", 50000, 101, 1500));
  end(s);
  const auto c = drain();
  ASSERT_EQ(c.flows.size(), 1u);
  EXPECT_EQ(c.flows[0].client, "192.168.1.10");
  EXPECT_EQ(c.flows[0].server, "External");
  EXPECT_EQ(c.flows[0].port, 443);
  EXPECT_EQ(c.flows[0].packets, 4u);
  EXPECT_EQ(c.flows[0].c2s, 74u + 600u);
  EXPECT_EQ(c.flows[0].s2c, 74u + 1500u);
  EXPECT_EQ(c.assets.at("192.168.1.10"), (std::pair<std::uint64_t, std::uint64_t>{1574, 674}));
  EXPECT_EQ(c.assets.count("93.184.216.34"), 0u);  // External: no per-IP state
  EXPECT_TRUE(c.ended);
}

TEST_F(fixture, MidStreamRolesComeFromWellKnownPorts) {
  auto s = make();
  // First packet seen is the server's answer.
  feed(s, pkt("10.0.0.5", 22, "10.0.0.9", 40000, 100, 100));
  feed(s, pkt("10.0.0.9", 40000, "10.0.0.5", 22, 100, 60));
  end(s);
  const auto c = drain();
  ASSERT_EQ(c.flows.size(), 1u);
  EXPECT_EQ(c.flows[0].client, "10.0.0.9");
  EXPECT_EQ(c.flows[0].server, "10.0.0.5");
  EXPECT_EQ(c.flows[0].port, 22);
}

TEST_F(fixture, ConnectionsOfOneTupleMergeAndIntervalsSplit) {
  cfg.aggregator.flow_interval_s = 1800;
  auto s = make();
  const std::uint64_t t0 = 1800 * 1000;  // interval boundary
  for (std::uint16_t sp = 50000; sp < 50003; ++sp) {
    feed(s, pkt("192.168.1.10", sp, "192.168.1.20", 80, t0 + 10, 100, net::tcpflag::syn));
  }
  feed(s, pkt("192.168.1.10", 50009, "192.168.1.20", 80, t0 + 1800 + 5, 100, net::tcpflag::syn));
  end(s);
  const auto c = drain();
  ASSERT_EQ(c.flows.size(), 2u);
  std::map<std::uint64_t, std::uint64_t> by_interval;
  for (const auto& f : c.flows) by_interval[f.interval] += f.packets;
  EXPECT_EQ(by_interval[t0 * 1'000'000'000ULL], 3u);
  EXPECT_EQ(by_interval[(t0 + 1800) * 1'000'000'000ULL], 1u);
}

TEST_F(fixture, ExternalToExternalIsNotTracked) {
  auto s = make();
  feed(s, pkt("8.8.8.8", 53, "1.1.1.1", 40000, 100, 90, 0, net::ipproto::udp));
  end(s);
  EXPECT_TRUE(drain().flows.empty());
  EXPECT_EQ(h->external_only, 1u);
}

TEST_F(fixture, RouterMacIsRecognised) {
  auto s = make();
  auto r = pkt("8.8.8.8", 53, "192.168.1.10", 40000, 100, 90, 0, net::ipproto::udp);
  r.src_mac = net::mac_address::from_u64(0x001122334455ULL);
  feed(s, r);
  end(s);
  ipc::ring_reader rd(*out);
  bool found = false;
  while (auto f = rd.next()) {
    if (f->type != ipc::frame_type::sighting_batch) continue;
    capnp::FlatArrayMessageReader m({reinterpret_cast<const capnp::word*>(f->payload.data()), f->payload.size() / 8});
    for (auto g : m.getRoot<schema::SightingBatch>().getGatewayMacs()) found |= g == 0x001122334455ULL;
  }
  EXPECT_TRUE(found);
}

TEST_F(fixture, RestartSkipsReplayedPacketsAndReemitsIdempotently) {
  std::vector<net::packet_record> pkts;
  for (int i = 0; i < 10; ++i) {
    pkts.push_back(pkt("192.168.1.10", 50000, "192.168.1.20", 80, 100 + i, 100));
  }
  {
    auto s = make();
    for (int i = 0; i < 6; ++i) feed(s, pkts[i]);
  }
  // A new incarnation attaches to the same state; the ring replays from 4.
  {
    auto s = make();
    ASSERT_TRUE(s.recover());
    for (int i = 4; i < 10; ++i) feed(s, pkts[i]);
    end(s);
  }
  const auto c = drain();
  ASSERT_EQ(c.flows.size(), 1u);
  EXPECT_EQ(c.flows[0].packets, 10u);
  EXPECT_EQ(h->replayed_skipped, 2u);
}

TEST_F(fixture, CrashWhileEmittingReplaysTheSameBatchIds) {
  {
    auto s = make();
    feed(s, pkt("192.168.1.10", 50000, "192.168.1.20", 80, 100, 100));
  }
  // Simulate a crash in the middle of a report cycle.
  h->phase.store(static_cast<std::uint32_t>(phase::emitting));
  h->cycle_kind = cycle_kind::flows;
  h->cycle_interval_start = h->flow_interval_start;
  std::vector<std::uint64_t> first_ids;
  {
    auto s = make();
    ASSERT_TRUE(s.recover());
    first_ids = drain().ids;
  }
  EXPECT_EQ(first_ids.size(), 1u);
  EXPECT_EQ(static_cast<phase>(h->phase.load()), phase::idle);
  EXPECT_EQ(h->report_size, 0u);  // reported, then cleared
}

TEST_F(fixture, NewAssetsWithinFiveMinutesUpdatesEveryThirty) {
  cfg.aggregator.asset_interval_s = 300;
  cfg.aggregator.asset_update_interval_s = 1800;
  auto s = make();
  const std::uint64_t t0 = 1800 * 1000;  // on a 30-minute boundary
  feed(s, pkt("192.168.1.10", 50000, "192.168.1.20", 80, t0 + 10, 100, net::tcpflag::syn));
  // 5 minutes later: the new asset is reported (nothing else yet).
  feed(s, pkt("192.168.1.10", 50000, "192.168.1.20", 80, t0 + 301, 100));
  // Only the sender is followed here (its peer gets sightings too).
  auto of10 = [](const collected& x) {
    std::vector<sighting> v;
    for (const auto& s2 : x.sightings) if (s2.ip == "192.168.1.10") v.push_back(s2);
    return v;
  };
  auto c = drain();
  c.sightings = of10(c);
  ASSERT_EQ(c.sightings.size(), 1u);
  EXPECT_EQ(c.sightings[0].ip, "192.168.1.10");
  EXPECT_TRUE(c.sightings[0].is_new);
  EXPECT_EQ(c.sightings[0].packets_out, 1u);
  // Known now: further 5-minute boundaries do not report it again ...
  feed(s, pkt("192.168.1.10", 50000, "192.168.1.20", 80, t0 + 602, 100));
  feed(s, pkt("192.168.1.10", 50000, "192.168.1.20", 80, t0 + 1201, 100));
  c = drain();
  c.sightings = of10(c);
  EXPECT_TRUE(c.sightings.empty());
  // ... until the 30-minute update, which carries everything since.
  feed(s, pkt("192.168.1.10", 50000, "192.168.1.20", 80, t0 + 1801, 100));
  c = drain();
  c.sightings = of10(c);
  ASSERT_EQ(c.sightings.size(), 1u);
  EXPECT_FALSE(c.sightings[0].is_new);
  EXPECT_EQ(c.sightings[0].packets_out, 3u);  // the packets at +301, +602, +1201
  // Silent assets are not reported again; the final flush sends what is pending.
  end(s);
  c = drain();
  c.sightings = of10(c);
  ASSERT_EQ(c.sightings.size(), 1u);
  EXPECT_EQ(c.sightings[0].packets_out, 1u);  // the packet at +1801
}

// Addresses that belong to no one (issue: DHCP showed as External -> router
// with the client's bytes lost). 0.0.0.0 is "unassigned" and its packets are
// tracked under the sender's MAC, one flow per client; 255.255.255.255 and a
// subnet-directed broadcast (Ethernet broadcast MAC) are "broadcast";
// 224.0.0.0/4 and ff00::/8 are "multicast". None is External, none is an
// asset, even when a configured range covers them.
TEST_F(fixture, UnassignedBroadcastAndMulticastAreTheirOwnClasses) {
  config::internal_group all;
  all.name = "everything";
  all.ranges = {"0.0.0.0/0", "::/0"};
  cfg.internal = {all};
  auto s = make();
  const std::uint64_t mac_a = 0x3c22fb0000aaULL;
  const std::uint64_t mac_b = 0x3c22fb0000bbULL;
  auto dhcp = [&](std::uint64_t mac, std::uint64_t t, std::uint32_t len) {
    auto r = pkt("0.0.0.0", 68, "255.255.255.255", 67, t, len, 0, net::ipproto::udp);
    r.src_mac = net::mac_address::from_u64(mac);
    r.dst_mac = net::mac_address::from_u64(0xffffffffffffULL);
    r.ttl = 64;
    return r;
  };
  feed(s, dhcp(mac_a, 100, 342));
  feed(s, dhcp(mac_b, 101, 350));
  feed(s, dhcp(mac_a, 102, 342));
  // The server's answer to the broadcast address.
  auto offer = pkt("192.168.1.1", 67, "255.255.255.255", 68, 103, 400, 0, net::ipproto::udp);
  offer.dst_mac = net::mac_address::from_u64(0xffffffffffffULL);
  feed(s, offer);
  // NetBIOS to the subnet's broadcast address, and mDNS to its group.
  auto nb = pkt("192.168.1.10", 137, "192.168.1.255", 137, 104, 92, 0, net::ipproto::udp);
  nb.dst_mac = net::mac_address::from_u64(0xffffffffffffULL);
  feed(s, nb);
  auto mdns = pkt("192.168.1.10", 5353, "224.0.0.251", 5353, 105, 120, 0, net::ipproto::udp);
  mdns.dst_mac = net::mac_address::from_u64(0x01005e0000fbULL);
  feed(s, mdns);
  // IPv6 duplicate address detection from :: to a solicited-node group.
  auto dad = pkt("::", 0, "ff02::1:ff00:aa", 0, 106, 78, 0, net::ipproto::icmpv6);
  dad.flags = 0;
  dad.src_port = 135;  // ICMPv6 type: neighbour solicitation
  dad.src_mac = net::mac_address::from_u64(mac_a);
  feed(s, dad);
  end(s);
  const auto c = drain();
  using AC = schema::AddressClass;
  std::map<std::uint64_t, std::uint64_t> dhcp_bytes;
  std::uint64_t seen = 0;
  for (const auto& f : c.flows) {
    EXPECT_NE(f.client_class, AC::EXTERNAL) << f.client;
    EXPECT_NE(f.server_class, AC::EXTERNAL) << f.server;
    if (f.client == "0.0.0.0") {
      EXPECT_EQ(f.client_class, AC::UNASSIGNED);
      EXPECT_EQ(f.server, "255.255.255.255");
      EXPECT_EQ(f.server_class, AC::BROADCAST);
      EXPECT_EQ(f.port, 67);
      dhcp_bytes[f.client_mac] += f.c2s;
      seen |= 1;
    } else if (f.server == "192.168.1.1") {
      EXPECT_EQ(f.client, "255.255.255.255");
      EXPECT_EQ(f.client_class, AC::BROADCAST);
      EXPECT_EQ(f.s2c, 400u);
      seen |= 2;
    } else if (f.server == "192.168.1.255") {
      EXPECT_EQ(f.server_class, AC::BROADCAST);
      EXPECT_EQ(f.client_class, AC::INVENTORIED);
      seen |= 4;
    } else if (f.server == "224.0.0.251") {
      EXPECT_EQ(f.server_class, AC::MULTICAST);
      seen |= 8;
    } else if (f.client == "::") {
      EXPECT_EQ(f.client_class, AC::UNASSIGNED);
      EXPECT_EQ(f.client_mac, mac_a);
      EXPECT_EQ(f.server, "ff02::1:ff00:aa");
      EXPECT_EQ(f.server_class, AC::MULTICAST);
      seen |= 16;
    } else {
      ADD_FAILURE() << "unexpected flow " << f.client << " -> " << f.server;
    }
  }
  EXPECT_EQ(seen, 31u);
  // One flow per client MAC, each with its own bytes.
  EXPECT_EQ(dhcp_bytes, (std::map<std::uint64_t, std::uint64_t>{{mac_a, 684}, {mac_b, 350}}));
  // No asset, no binding for an address that is no one's.
  for (const char* ip : {"0.0.0.0", "255.255.255.255", "192.168.1.255", "224.0.0.251", "::", "ff02::1:ff00:aa"}) {
    EXPECT_EQ(c.assets.count(ip), 0u) << ip;
  }
  for (const auto& [ip, mac] : c.bindings) EXPECT_NE(ip, "0.0.0.0");
  EXPECT_EQ(c.assets.at("192.168.1.10").second, 92u + 120u);
}

// Time going backwards: a packet an hour older than the one before it, in
// the middle of the input, is counted in the open flow interval at the
// newest packet time (counter time_backwards); flows and assets agree on its
// bytes, and every flow's times lie inside its interval.
TEST_F(fixture, PacketOlderThanTheOpenIntervalIsClampedIntoIt) {
  cfg.aggregator.flow_interval_s = 1800;
  auto s = make();
  const std::uint64_t t0 = 1800 * 1000;
  feed(s, pkt("192.168.1.10", 50000, "192.168.1.20", 80, t0 + 10, 100, net::tcpflag::syn));
  feed(s, pkt("192.168.1.10", 50000, "192.168.1.20", 80, t0 + 1800 + 20, 200));  // next interval
  feed(s, pkt("192.168.1.10", 50000, "192.168.1.20", 80, t0 + 1800 + 20 - 3600, 300));  // an hour older
  feed(s, pkt("192.168.1.10", 50000, "192.168.1.20", 80, t0 + 1800 + 30, 400));
  end(s);
  EXPECT_EQ(h->time_backwards, 1u);
  const auto c = drain();
  std::uint64_t flow_bytes = 0;
  std::map<std::uint64_t, std::uint64_t> by_interval;
  for (const auto& f : c.flows) {
    flow_bytes += f.c2s + f.s2c;
    by_interval[f.interval] += f.c2s + f.s2c;
    EXPECT_GE(f.first, f.interval);
    EXPECT_LT(f.last, f.interval_end);
    EXPECT_LE(f.first, f.last);
  }
  const std::uint64_t ns = 1'000'000'000ULL;
  EXPECT_EQ(by_interval[t0 * ns], 100u);
  EXPECT_EQ(by_interval[(t0 + 1800) * ns], 900u);
  EXPECT_EQ(flow_bytes, 1000u);
  EXPECT_EQ(c.assets.at("192.168.1.10").second, 1000u);
  EXPECT_EQ(c.assets.at("192.168.1.20").first, 1000u);
}

// A group address is multicast as a destination only: anonymised and
// synthetic captures give hosts such addresses, and as senders the
// configured ranges apply to them (the pair stays tracked).
TEST_F(fixture, MulticastRangeSenderFollowsTheRanges) {
  config::internal_group all;
  all.name = "everything";
  all.ranges = {"0.0.0.0/0", "::/0"};
  cfg.internal = {all};
  auto s = make();
  feed(s, pkt("235.1.1.1", 50000, "235.1.1.2", 80, 100, 100, net::tcpflag::syn));
  feed(s, pkt("235.1.1.2", 80, "235.1.1.1", 50000, 100, 200, net::tcpflag::syn | net::tcpflag::ack));
  end(s);
  const auto c = drain();
  ASSERT_EQ(c.flows.size(), 1u);
  EXPECT_EQ(c.flows[0].client, "235.1.1.1");
  EXPECT_EQ(c.flows[0].client_class, schema::AddressClass::INVENTORIED);
  EXPECT_EQ(c.flows[0].server_class, schema::AddressClass::MULTICAST);
  EXPECT_EQ(c.flows[0].c2s + c.flows[0].s2c, 300u);
  EXPECT_EQ(h->external_only, 0u);
}

// Classes follow roles: connections of one tuple whose first packets in the
// interval come from either side still make one record.
TEST_F(fixture, MulticastRangeTupleIsOneRecordWhicheverSideSpeaksFirst) {
  config::internal_group all;
  all.name = "everything";
  all.ranges = {"0.0.0.0/0", "::/0"};
  cfg.internal = {all};
  auto s = make();
  feed(s, pkt("235.1.1.1", 50000, "235.1.1.2", 443, 100, 100, net::tcpflag::syn));
  feed(s, pkt("235.1.1.2", 443, "235.1.1.1", 50001, 101, 200));  // mid-stream: the server first
  feed(s, pkt("235.1.1.1", 50001, "235.1.1.2", 443, 101, 50));
  end(s);
  const auto c = drain();
  ASSERT_EQ(c.flows.size(), 1u);
  EXPECT_EQ(c.flows[0].client, "235.1.1.1");
  EXPECT_EQ(c.flows[0].server, "235.1.1.2");
  EXPECT_EQ(c.flows[0].packets, 3u);
}

namespace {

// The uplink does not read for a while: 20 intervals of 500 flow records
// each, about 2 MB of batches, meet a 1 MiB report ring nobody drains.
struct stalled_uplink {
  static constexpr int intervals = 20;
  static constexpr int tuples = 500;

  // Feeds every packet (each must be accepted at once: the packet path does
  // not wait), then ends the input and plays the uplink: reads the ring,
  // lets the shard move spooled batches on, until end_of_reports.
  template <typename F>
  static F::collected run(F& f, shard& s) {
    for (int i = 0; i < intervals; ++i) {
      for (int j = 0; j < tuples; ++j) {
        // Server ports 1..500: one report tuple each, per interval.
        EXPECT_TRUE(f.feed(s, f.pkt("192.168.1.10", 40000, "192.168.1.20", static_cast<std::uint16_t>(j + 1),
                                    100 + 10 * i, 100)));
      }
    }
    f.end(s);
    typename F::collected all;
    for (int round = 0; round < 1000 && !all.ended; ++round) {
      auto c = f.drain();
      all.flows.insert(all.flows.end(), c.flows.begin(), c.flows.end());
      all.ids.insert(all.ids.end(), c.ids.begin(), c.ids.end());
      all.ended = c.ended;
      EXPECT_TRUE(s.poll());
    }
    return all;
  }
};

struct small_spool : fixture {
  small_spool() { spool_bytes = 256u << 10; }
};

}  // namespace

TEST_F(fixture, FullReportRingNeverStopsThePacketPath) {
  cfg.aggregator.flow_interval_s = 10;
  auto s = make();
  const auto all = stalled_uplink::run(*this, s);
  ASSERT_TRUE(all.ended);
  // The ring filled and the rest waited in the spool, without a single wait.
  EXPECT_GT(h->spool_high_water, std::uint64_t{1} << 19);
  EXPECT_GT(h->cycles_spooled, 0u);
  EXPECT_EQ(out->header().producer.waits.load(), 0u);
  EXPECT_EQ(s.spooled_bytes(), 0u);
  // Every interval, every tuple, every packet: nothing merged or dropped.
  EXPECT_EQ(h->intervals_merged, 0u);
  EXPECT_EQ(h->flow_packets_dropped, 0u);
  std::set<std::pair<std::uint64_t, std::uint16_t>> tuples;
  std::uint64_t packets = 0;
  for (const auto& x : all.flows) {
    EXPECT_TRUE(tuples.emplace(x.interval, x.port).second) << "two records for one tuple and interval";
    EXPECT_EQ(x.interval_end - x.interval, 10'000'000'000ULL);
    packets += x.packets;
  }
  EXPECT_EQ(tuples.size(), std::size_t{stalled_uplink::intervals * stalled_uplink::tuples});
  EXPECT_EQ(packets, std::uint64_t{stalled_uplink::intervals * stalled_uplink::tuples});
  EXPECT_EQ(std::set<std::uint64_t>(all.ids.begin(), all.ids.end()).size(), all.ids.size());
}

TEST_F(small_spool, FullSpoolMergesIntervalsAndLosesNoPacket) {
  cfg.aggregator.flow_interval_s = 10;
  auto s = make();
  const auto all = stalled_uplink::run(*this, s);
  ASSERT_TRUE(all.ended);
  // Ring and spool full: closed intervals stayed in the report table and
  // left later as one longer interval; counted, and no packet lost.
  EXPECT_GT(h->cycles_deferred, 0u);
  EXPECT_GT(h->intervals_merged, 0u);
  EXPECT_EQ(h->flow_packets_dropped, 0u);
  EXPECT_EQ(h->spool_overflows, 0u);
  EXPECT_EQ(out->header().producer.waits.load(), 0u);
  std::uint64_t packets = 0;
  std::uint64_t longer = 0;
  std::set<std::pair<std::uint64_t, std::uint16_t>> tuples;
  for (const auto& x : all.flows) {
    EXPECT_TRUE(tuples.emplace(x.interval, x.port).second) << "two records for one tuple and interval";
    EXPECT_EQ((x.interval_end - x.interval) % 10'000'000'000ULL, 0u);
    EXPECT_LE(x.first, x.last);
    EXPECT_GE(x.first, x.interval);
    EXPECT_LT(x.last, x.interval_end);
    longer += x.interval_end - x.interval > 10'000'000'000ULL ? 1 : 0;
    packets += x.packets;
  }
  EXPECT_GT(longer, 0u);
  EXPECT_EQ(packets, std::uint64_t{stalled_uplink::intervals * stalled_uplink::tuples});
}

TEST_F(fixture, CrashAfterACycleWasSpooledSendsTheSameBatchesAndNoStaleCopy) {
  cfg.aggregator.flow_interval_s = 10;
  std::vector<std::uint8_t> before;
  {
    auto s = make();
    feed(s, pkt("192.168.1.10", 50000, "192.168.1.20", 80, 100, 100));
    feed(s, pkt("192.168.1.10", 50001, "192.168.1.20", 443, 101, 200));
    const auto* b = static_cast<const std::uint8_t*>(seg.data());
    before.assign(b, b + seg.size());
    feed(s, pkt("192.168.1.10", 50002, "192.168.1.20", 22, 115, 300));  // closes [100 s, 110 s)
  }
  const auto first = drain();
  ASSERT_EQ(first.flows.size(), 2u);
  // The state as if that cycle had been placed in the spool and the process
  // died before clearing the tables: the spool holds a copy (here garbage, so
  // sending it would fail to parse) the restart must drop, then place the
  // same batches again.
  std::memcpy(seg.data(), before.data(), before.size());
  h->phase.store(static_cast<std::uint32_t>(phase::emitting));
  h->cycle_kind = cycle_kind::flows;
  h->cycle_interval_start = h->flow_interval_start;
  h->cycle_interval_end = h->flow_interval_start + 10'000'000'000ULL;
  h->spool_cycle_pos = h->spool_pos.load();
  ASSERT_EQ(h->spool_cycle_pos, 0u);
  auto* spool = reinterpret_cast<std::uint8_t*>(h) + h->spool_offset;
  const ipc::frame_header fh{64, static_cast<std::uint16_t>(ipc::frame_type::flow_batch), 0};
  std::memcpy(spool, &fh, sizeof fh);
  std::memset(spool + sizeof fh, 0xab, 64);
  h->spool_pos.store(sizeof fh + 64);
  {
    auto s = make();
    ASSERT_TRUE(s.recover());
    ASSERT_TRUE(s.poll());
    EXPECT_EQ(s.spooled_bytes(), 0u);
  }
  const auto again = drain();
  EXPECT_EQ(again.ids, first.ids);
  ASSERT_EQ(again.flows.size(), 2u);
  EXPECT_EQ(again.flows[0].interval_end, 110'000'000'000ULL);
  EXPECT_EQ(static_cast<phase>(h->phase.load()), phase::idle);
  EXPECT_EQ(h->report_size, 0u);
}

// Connection expiry: the timing wheel expires exactly what the old scan of
// the whole table did (idle timeout passed at a sweep, every 10 s of packet
// time), whatever the gaps in time, across restarts and evictions.
TEST_F(fixture, IdleConnectionsExpireAtTheFirstSweepAfterTheirTimeout) {
  auto s = make();
  feed(s, pkt("192.168.1.10", 5353, "192.168.1.20", 5000, 100, 100, 0, net::ipproto::udp));
  // A TCP connection that stays busy keeps its entry.
  for (std::uint64_t t : {100, 150, 200, 219}) feed(s, pkt("192.168.1.10", 50000, "192.168.1.20", 80, t, 100));
  EXPECT_EQ(h->conns_expired, 0u);  // UDP idle 120 s: expires after 220 s
  EXPECT_EQ(h->conn_size, 2u);
  feed(s, pkt("192.168.1.10", 50000, "192.168.1.20", 80, 230, 100));
  EXPECT_EQ(h->conns_expired, 1u);
  EXPECT_EQ(h->conn_size, 1u);
  // Hours later (beyond the wheel's span): the TCP one goes too.
  feed(s, pkt("192.168.1.11", 50000, "192.168.1.20", 80, 230 + 3600 + 11, 100));
  EXPECT_EQ(h->conns_expired, 2u);
  EXPECT_EQ(h->conn_size, 1u);
}

TEST_F(fixture, ExpiryMatchesAScanOfEveryConnectionAcrossGapsAndRestarts) {
  // Reference: the rule the whole-table scan applied, on a model of the table.
  const std::uint64_t idle[3] = {cfg.aggregator.tcp_idle_s, cfg.aggregator.udp_idle_s, cfg.aggregator.other_idle_s};
  const std::uint8_t protos[3] = {net::ipproto::tcp, net::ipproto::udp, net::ipproto::icmp};
  std::map<int, std::uint64_t> model;  // connection -> last packet (ns)
  std::uint64_t expired = 0;
  std::uint64_t t_ms = 100'000;
  std::uint64_t rng = 12345;
  auto next = [&] {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
  };
  std::optional<shard> s;
  s.emplace(*h, cfg, *out, "aggregator.0", [] { return true; });
  for (int i = 0; i < 20000; ++i) {
    const auto r = next();
    // Mostly busy, sometimes a pause, now and then hours of silence.
    t_ms += r % 100 == 0 ? 4'000'000 + next() % 4'000'000 : r % 10 == 0 ? next() % 200'000 : next() % 3000;
    const int c = static_cast<int>(next() % 1500);
    const int kind = c % 3;
    const std::string a = "10.0." + std::to_string(c / 250) + "." + std::to_string(c % 250 + 1);
    auto p = pkt(a.c_str(), static_cast<std::uint16_t>(40000 + c), "10.9.0.1", 80, 0, 100, net::tcpflag::ack,
                 protos[kind]);
    p.ts_ns = t_ms * 1'000'000ULL;
    if (protos[kind] == net::ipproto::icmp) p.src_port = 8, p.dst_port = 0;
    if (p.ts_ns >= h->next_sweep_ns) {
      for (auto it = model.begin(); it != model.end();) {
        if (it->second + idle[it->first % 3] * 1'000'000'000ULL < p.ts_ns) {
          it = model.erase(it);
          ++expired;
        } else {
          ++it;
        }
      }
    }
    model[c] = p.ts_ns;
    if (i % 3001 == 3000) {
      s.reset();  // a crash: the table survives, the wheel is rebuilt from it
      s.emplace(*h, cfg, *out, "aggregator.0", [] { return true; });
    }
    ASSERT_TRUE(feed(*s, p));
    ASSERT_EQ(h->conns_expired, expired) << "packet " << i;
    ASSERT_EQ(h->conn_size, model.size()) << "packet " << i;
    drain();
  }
  EXPECT_GT(expired, 1000u);
  EXPECT_EQ(h->conns_evicted, 0u);
}

TEST_F(fixture, FullConnectionTableEvictsTheOldestAndTheRestStillExpire) {
  cfg.aggregator.tcp_idle_s = 100000;
  auto s = make();
  const int total = 6000;  // the table (4096 slots) is full at 3840
  for (int i = 0; i < total; ++i) {
    const std::string a = "10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
    ASSERT_TRUE(feed(s, pkt(a.c_str(), 40000, "10.9.0.1", 80, 100 + i, 100)));
    if (i % 500 == 0) drain();
  }
  drain();
  EXPECT_GT(h->conns_evicted, 0u);
  EXPECT_EQ(h->conn_table_full, 0u);  // eviction always made room
  EXPECT_EQ(h->conns_expired, 0u);
  // Oldest first: the newest connection is still there, with its packets.
  EXPECT_EQ(h->conn_size + h->conns_evicted, std::uint64_t{total});
  // Long after: every remaining connection expires, none twice.
  feed(s, pkt("10.2.0.1", 40000, "10.9.0.1", 80, 100 + total + 100001, 100));
  EXPECT_EQ(h->conns_expired + h->conns_evicted, std::uint64_t{total});
  EXPECT_EQ(h->conn_size, 1u);
}

// The binding table is reported and emptied by the slots it used (a list in
// process memory, rebuilt at start), not by scanning and clearing it whole:
// each cycle reports exactly the bindings seen since the last, also across a
// restart.
// The shard lists the report slots in use and the assets not reported yet
// (process memory), so a cycle need not scan both tables: a restarted shard
// rebuilds the lists from the tables, and reports the same as one that ran
// throughout.
TEST_F(fixture, NewAssetsAndFlowsAreReportedOnceAcrossARestart) {
  cfg.aggregator.asset_interval_s = 300;
  cfg.aggregator.asset_update_interval_s = 1800;
  const std::uint64_t t0 = 1800 * 1000;  // on a 30-minute boundary
  auto p = [&](const char* src, std::uint64_t t) { return pkt(src, 50000, "192.168.1.20", 80, t, 100); };
  {
    auto s = make();
    feed(s, p("192.168.1.10", t0 + 10));
    feed(s, p("192.168.1.11", t0 + 20));
  }
  EXPECT_TRUE(drain().sightings.empty());  // nothing reported before the restart
  auto s = make();
  ASSERT_TRUE(s.recover());
  feed(s, p("192.168.1.12", t0 + 30));
  feed(s, p("192.168.1.12", t0 + 301));  // the 5-minute cycle: every new asset, once
  auto c = drain();
  std::multiset<std::string> got;
  for (const auto& x : c.sightings) {
    EXPECT_TRUE(x.is_new) << x.ip;
    got.insert(x.ip);
  }
  EXPECT_EQ(got, (std::multiset<std::string>{"192.168.1.10", "192.168.1.11", "192.168.1.12", "192.168.1.20"}));
  EXPECT_EQ(h->asset_size, 4u);  // reported, still known
  feed(s, p("192.168.1.12", t0 + 602));  // nothing new since
  EXPECT_TRUE(drain().sightings.empty());
  feed(s, p("192.168.1.12", t0 + 1801));  // the 30-minute cycle: the interval's flows, once
  c = drain();
  std::map<std::string, std::uint64_t> flows;
  for (const auto& f : c.flows) {
    EXPECT_EQ(f.interval, t0 * 1'000'000'000ULL) << f.client;
    flows[f.client] += f.packets;
  }
  EXPECT_EQ(flows, (std::map<std::string, std::uint64_t>{{"192.168.1.10", 1}, {"192.168.1.11", 1}, {"192.168.1.12", 3}}));
  EXPECT_EQ(c.flows.size(), 3u);
  EXPECT_EQ(h->report_size, 1u);  // only the new interval's packet
  end(s);
  c = drain();
  ASSERT_EQ(c.flows.size(), 1u);
  EXPECT_EQ(c.flows[0].packets, 1u);
  EXPECT_EQ(h->report_size, 0u);
}

TEST_F(fixture, BindingsAreReportedOncePerCycleAcrossARestart) {
  auto p = [&](const char* src, std::uint64_t t) {
    auto r = pkt(src, 50000, "192.168.1.20", 80, t, 100);
    r.ttl = 64;  // sent by the host itself: its MAC is its own
    return r;
  };
  {
    auto s = make();
    feed(s, p("192.168.1.10", 100));
    feed(s, p("192.168.1.11", 100));
    EXPECT_EQ(h->binding_size, 2u);
    feed(s, p("192.168.1.11", 700));  // past asset_interval: a sighting cycle first
    EXPECT_EQ(h->binding_size, 1u);
  }
  const auto first = drain();
  std::multiset<std::string> got;
  for (const auto& b : first.bindings) got.insert(b.first);
  EXPECT_EQ(got, (std::multiset<std::string>{"192.168.1.10", "192.168.1.11"}));
  {
    auto s = make();  // a restart: the list comes back from the table
    ASSERT_TRUE(s.recover());
    feed(s, p("192.168.1.12", 710));
    feed(s, p("192.168.1.12", 711));
    EXPECT_EQ(h->binding_size, 2u);
    end(s);
  }
  EXPECT_EQ(h->binding_size, 0u);
  const auto last = drain();
  got.clear();
  for (const auto& b : last.bindings) got.insert(b.first);
  EXPECT_EQ(got, (std::multiset<std::string>{"192.168.1.11", "192.168.1.12"}));
}
