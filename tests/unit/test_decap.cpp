// Decapsulation on hand-built frames: every truncation of every encapsulation
// first (safe, the right anomaly, what came before kept), then each
// encapsulation's fields, then the limits (depth caps, unknown inner types).
#include <gtest/gtest.h>

#include <functional>
#include <numeric>
#include <string>

#include "common/net/decode.h"
#include "tests/unit/test_decap_support.h"

using namespace tapsense::net;
using namespace decap_test;

namespace {

constexpr std::uint64_t outer_dst = 0x02aaaaaaaa01;  // the collector
constexpr std::uint64_t outer_src = 0x02aaaaaaaa02;  // the mirroring switch
constexpr std::uint64_t host_a = 0x3c22fb000001;     // the inner devices
constexpr std::uint64_t host_b = 0x001b21000002;

struct decoded {
  packet_record rec{};
  layer_offsets off{};
  fragment_info frag{};
  anomaly_counters an{};
  bool ok = false;

  std::uint64_t anomalies() const { return std::accumulate(an.n.begin(), an.n.end(), std::uint64_t{0}); }
  tunnel_type tunnel() const { return static_cast<tunnel_type>(rec.tunnel); }
};

decoded run(const frame& f, std::uint32_t wire = 0, const decode_options& opt = {}) {
  decoded d;
  d.ok = decode_frame({f.data(), f.size()}, wire, d.rec, d.off, d.frag, d.an, opt);
  return d;
}

std::string ip(const ip_address& a) { return a.to_string(); }
std::string mac(const mac_address& m) { return m.to_string(); }
std::string mac(std::uint64_t m) { return mac_address::from_u64(m).to_string(); }

// The inner conversation most tests carry: 192.168.10.5:51000 -> 192.168.10.9:443 SYN.
frame inner_tcp_ip() { return ipv4("192.168.10.5", "192.168.10.9", ipproto::tcp, tcp(51000, 443, tcpflag::syn), {.ttl = 128}); }
frame inner_tcp_eth() { return eth(host_b, host_a, 0x0800, inner_tcp_ip()); }
// The outer IPv4 header of a mirror session carrying `payload` as `proto`.
frame outer(std::uint8_t proto, const frame& payload) {
  return eth(outer_dst, outer_src, 0x0800, ipv4("10.200.0.3", "10.200.0.224", proto, payload, {.ttl = 253}));
}

void expect_inner_tcp(const decoded& d) {
  EXPECT_EQ(d.rec.l3, static_cast<std::uint8_t>(l3_type::ipv4));
  EXPECT_EQ(ip(d.rec.src_ip), "192.168.10.5");
  EXPECT_EQ(ip(d.rec.dst_ip), "192.168.10.9");
  EXPECT_EQ(d.rec.ip_proto, ipproto::tcp);
  EXPECT_EQ(d.rec.src_port, 51000);
  EXPECT_EQ(d.rec.dst_port, 443);
  EXPECT_EQ(d.rec.tcp_flags, tcpflag::syn);
  EXPECT_EQ(d.rec.ttl, 128);
  EXPECT_TRUE(d.rec.flags & pktflag::has_ports);
}
void expect_outer_tunnel(const decoded& d, tunnel_type t, std::uint32_t id) {
  EXPECT_EQ(d.tunnel(), t);
  EXPECT_EQ(d.rec.tunnel_id, id);
  EXPECT_EQ(d.rec.tunnel_depth, 1);
  EXPECT_EQ(ip(d.rec.tunnel_src), "10.200.0.3");
  EXPECT_EQ(ip(d.rec.tunnel_dst), "10.200.0.224");
}
void expect_offsets_sane(const decoded& d, std::size_t n) {
  EXPECT_LE(d.off.l2, d.off.l3);
  EXPECT_LE(d.off.l3, d.off.l4);
  EXPECT_LE(d.off.l4, d.off.payload);
  EXPECT_LE(d.off.payload, d.off.end);
  EXPECT_LE(d.off.end, n);
}

// A truncation plan: cutting the capture at n in [from, next region's from)
// must count exactly `expected` (count_: none) and leave what `kept` checks.
struct region {
  std::size_t from;
  anomaly expected;
  std::function<void(const decoded&)> kept;
};

void every_truncation(const frame& full, const std::vector<region>& plan) {
  ASSERT_FALSE(plan.empty());
  ASSERT_EQ(plan.front().from, 14u);
  for (std::size_t n = 0; n <= full.size(); ++n) {
    SCOPED_TRACE("cut at " + std::to_string(n) + " of " + std::to_string(full.size()));
    const frame cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    const decoded d = run(cut);
    expect_offsets_sane(d, n);
    if (n < 14) {
      EXPECT_FALSE(d.ok);
      EXPECT_EQ(d.an[anomaly::truncated_ethernet], 1u);
      EXPECT_EQ(d.anomalies(), 1u);
      continue;
    }
    EXPECT_TRUE(d.ok);
    const region* r = &plan.front();
    for (const auto& x : plan) {
      if (x.from <= n) {
        r = &x;
      }
    }
    if (r->expected == anomaly::count_) {
      EXPECT_EQ(d.anomalies(), 0u);
    } else {
      EXPECT_EQ(d.an[r->expected], 1u) << "expected " << anomaly_name(r->expected);
      EXPECT_EQ(d.anomalies(), 1u);
    }
    if (n < full.size() && r->expected != anomaly::count_) {
      EXPECT_TRUE(d.rec.flags & pktflag::truncated);
    }
    if (r->kept) {
      r->kept(d);
    }
  }
}

// Checks shared by the plans: what a cut at each depth keeps.
void kept_outer_ip(const decoded& d) {
  EXPECT_EQ(ip(d.rec.src_ip), "10.200.0.3");
  EXPECT_EQ(d.tunnel(), tunnel_type::none);
  EXPECT_EQ(mac(d.rec.src_mac), mac(outer_src));
}
std::function<void(const decoded&)> kept_tunnel(tunnel_type t) {
  return [t](const decoded& d) {
    // The tunnel header decoded, the inner Ethernet did not: outer record.
    EXPECT_EQ(d.tunnel(), t);
    EXPECT_EQ(ip(d.rec.src_ip), "10.200.0.3");
    EXPECT_EQ(ip(d.rec.tunnel_src), "10.200.0.3");
    EXPECT_EQ(mac(d.rec.src_mac), mac(outer_src));
  };
}
std::function<void(const decoded&)> kept_inner_l2(tunnel_type t) {
  return [t](const decoded& d) {
    // The inner Ethernet decoded, its IP header did not: inner MACs, outer addresses.
    EXPECT_EQ(d.tunnel(), t);
    EXPECT_EQ(mac(d.rec.src_mac), mac(host_a));
    EXPECT_EQ(ip(d.rec.src_ip), "10.200.0.3");
  };
}
std::function<void(const decoded&)> kept_inner_ip(tunnel_type t) {
  return [t](const decoded& d) {
    EXPECT_EQ(d.tunnel(), t);
    EXPECT_EQ(ip(d.rec.src_ip), "192.168.10.5");
    EXPECT_EQ(ip(d.rec.tunnel_src), "10.200.0.3");
    EXPECT_FALSE(d.rec.flags & pktflag::has_ports);
  };
}
std::function<void(const decoded&)> kept_all(tunnel_type t) {
  return [t](const decoded& d) {
    EXPECT_EQ(d.tunnel(), t);
    expect_inner_tcp(d);
  };
}

}  // namespace

// ---------------------------------------------------------------------------
// Truncated input first: every cut of every encapsulation.

TEST(DecapTruncation, GreWithChecksumKeySequenceCarryingIpv4) {
  const gre_opts g{.checksum = true, .key = true, .sequence = true, .key_value = 7, .seq_value = 9};
  const frame f = outer(ipproto::gre, gre(0x0800, inner_tcp_ip(), g));
  every_truncation(f, {{14, anomaly::truncated_ipv4, nullptr},
                       {34, anomaly::truncated_gre, kept_outer_ip},
                       {50, anomaly::truncated_ipv4, kept_tunnel(tunnel_type::gre)},
                       {70, anomaly::truncated_tcp, kept_inner_ip(tunnel_type::gre)},
                       {90, anomaly::count_, kept_all(tunnel_type::gre)}});
}

TEST(DecapTruncation, GreTransparentEthernetBridging) {
  const frame f = outer(ipproto::gre, gre(0x6558, inner_tcp_eth()));
  every_truncation(f, {{14, anomaly::truncated_ipv4, nullptr},
                       {34, anomaly::truncated_gre, kept_outer_ip},
                       {38, anomaly::truncated_ethernet, kept_tunnel(tunnel_type::gre_teb)},
                       {52, anomaly::truncated_ipv4, kept_inner_l2(tunnel_type::gre_teb)},
                       {72, anomaly::truncated_tcp, kept_inner_ip(tunnel_type::gre_teb)},
                       {92, anomaly::count_, kept_all(tunnel_type::gre_teb)}});
}

TEST(DecapTruncation, ErspanTypeI) {
  const frame f = outer(ipproto::gre, gre(0x88be, inner_tcp_eth()));
  every_truncation(f, {{14, anomaly::truncated_ipv4, nullptr},
                       {34, anomaly::truncated_gre, kept_outer_ip},
                       {38, anomaly::truncated_ethernet, kept_tunnel(tunnel_type::erspan1)},
                       {52, anomaly::truncated_ipv4, kept_inner_l2(tunnel_type::erspan1)},
                       {72, anomaly::truncated_tcp, kept_inner_ip(tunnel_type::erspan1)},
                       {92, anomaly::count_, kept_all(tunnel_type::erspan1)}});
}

TEST(DecapTruncation, ErspanTypeII) {
  const frame f = outer(ipproto::gre, gre(0x88be, erspan2(23, 100, inner_tcp_eth()), {.sequence = true}));
  every_truncation(f, {{14, anomaly::truncated_ipv4, nullptr},
                       {34, anomaly::truncated_gre, kept_outer_ip},
                       {42, anomaly::truncated_erspan, kept_outer_ip},
                       {50, anomaly::truncated_ethernet, kept_tunnel(tunnel_type::erspan2)},
                       {64, anomaly::truncated_ipv4, kept_inner_l2(tunnel_type::erspan2)},
                       {84, anomaly::truncated_tcp, kept_inner_ip(tunnel_type::erspan2)},
                       {104, anomaly::count_, kept_all(tunnel_type::erspan2)}});
}

TEST(DecapTruncation, ErspanTypeIIIWithPlatformSubheader) {
  const frame f = outer(ipproto::gre,
                        gre(0x22eb, erspan3(20, 5, inner_tcp_eth(), 0, true), {.sequence = true}));
  every_truncation(f, {{14, anomaly::truncated_ipv4, nullptr},
                       {34, anomaly::truncated_gre, kept_outer_ip},
                       {42, anomaly::truncated_erspan, kept_outer_ip},
                       {62, anomaly::truncated_ethernet, kept_tunnel(tunnel_type::erspan3)},
                       {76, anomaly::truncated_ipv4, kept_inner_l2(tunnel_type::erspan3)},
                       {96, anomaly::truncated_tcp, kept_inner_ip(tunnel_type::erspan3)},
                       {116, anomaly::count_, kept_all(tunnel_type::erspan3)}});
}

TEST(DecapTruncation, Vxlan) {
  const frame f = outer(ipproto::udp, udp(50000, 4789, vxlan(1, inner_tcp_eth())));
  every_truncation(f, {{14, anomaly::truncated_ipv4, nullptr},
                       {34, anomaly::truncated_udp, kept_outer_ip},
                       {42, anomaly::truncated_vxlan,
                        [](const decoded& d) {
                          kept_outer_ip(d);
                          EXPECT_EQ(d.rec.dst_port, 4789);  // the outer UDP is the result so far
                        }},
                       {50, anomaly::truncated_ethernet, kept_tunnel(tunnel_type::vxlan)},
                       {64, anomaly::truncated_ipv4, kept_inner_l2(tunnel_type::vxlan)},
                       {84, anomaly::truncated_tcp, kept_inner_ip(tunnel_type::vxlan)},
                       {104, anomaly::count_, kept_all(tunnel_type::vxlan)}});
}

TEST(DecapTruncation, GeneveWithOptions) {
  const frame opts = cat({geneve_option(0x0103, 0x80, filler(8)), geneve_option(0xffff, 1, filler(4))});
  const frame f = outer(ipproto::udp, udp(40000, 6081, geneve(0x1092, 0x6558, opts, inner_tcp_eth())));
  every_truncation(f, {{14, anomaly::truncated_ipv4, nullptr},
                       {34, anomaly::truncated_udp, kept_outer_ip},
                       {42, anomaly::truncated_geneve, kept_outer_ip},
                       {70, anomaly::truncated_ethernet, kept_tunnel(tunnel_type::geneve)},
                       {84, anomaly::truncated_ipv4, kept_inner_l2(tunnel_type::geneve)},
                       {104, anomaly::truncated_tcp, kept_inner_ip(tunnel_type::geneve)},
                       {124, anomaly::count_, kept_all(tunnel_type::geneve)}});
}

TEST(DecapTruncation, IpInIp) {
  const frame f = outer(4, inner_tcp_ip());
  every_truncation(f, {{14, anomaly::truncated_ipv4, nullptr},
                       {34, anomaly::truncated_ipv4, kept_tunnel(tunnel_type::ip_in_ip)},
                       {54, anomaly::truncated_tcp, kept_inner_ip(tunnel_type::ip_in_ip)},
                       {74, anomaly::count_, kept_all(tunnel_type::ip_in_ip)}});
}

TEST(DecapTruncation, Ipv6InIpv4) {
  const frame inner = ipv6("2001:db8::5", "2001:db8::9", ipproto::udp, udp(5353, 5353, filler(4)), 255);
  const frame f = outer(41, inner);
  every_truncation(f, {{14, anomaly::truncated_ipv4, nullptr},
                       {34, anomaly::truncated_ipv6, kept_tunnel(tunnel_type::ip_in_ip)},
                       {74, anomaly::truncated_udp,
                        [](const decoded& d) {
                          EXPECT_EQ(ip(d.rec.src_ip), "2001:db8::5");
                          EXPECT_EQ(d.rec.l3, static_cast<std::uint8_t>(l3_type::ipv6));
                        }},
                       {82, anomaly::count_, [](const decoded& d) { EXPECT_EQ(d.rec.src_port, 5353); }}});
}

TEST(DecapTruncation, MplsStackCarryingIpv4) {
  const frame f = eth(outer_dst, outer_src, 0x8847, mpls({16, 29}, inner_tcp_ip()));
  every_truncation(f, {{14, anomaly::truncated_mpls, nullptr},
                       {23, anomaly::truncated_ipv4, nullptr},  // at 22 no byte tells what follows
                       {42, anomaly::truncated_tcp, [](const decoded& d) { EXPECT_EQ(ip(d.rec.src_ip), "192.168.10.5"); }},
                       {62, anomaly::count_, kept_all(tunnel_type::none)}});
}

TEST(DecapTruncation, MplsPseudowireWithControlWord) {
  const frame f = eth(outer_dst, outer_src, 0x8847, mpls({100}, cat({frame{0, 0, 0, 0}, inner_tcp_eth()})));
  every_truncation(f, {{14, anomaly::truncated_mpls, nullptr},
                       {22, anomaly::truncated_ethernet, nullptr},
                       {36, anomaly::truncated_ipv4, [](const decoded& d) { EXPECT_EQ(mac(d.rec.src_mac), mac(host_a)); }},
                       {56, anomaly::truncated_tcp, nullptr},
                       {76, anomaly::count_, kept_all(tunnel_type::none)}});
}

TEST(DecapTruncation, QinQ88a8) {
  const frame f = eth(host_b, host_a, 0x88a8, tag(100, 0x8100, tag(200, 0x0800, inner_tcp_ip())));
  every_truncation(f, {{14, anomaly::truncated_vlan, nullptr},
                       {22, anomaly::truncated_ipv4, [](const decoded& d) { EXPECT_EQ(d.rec.vlan_count, 2); }},
                       {42, anomaly::truncated_tcp, nullptr},
                       {62, anomaly::count_, kept_all(tunnel_type::none)}});
}

// ---------------------------------------------------------------------------
// Each encapsulation's fields

TEST(Decap, GreKeySequenceChecksumCarryingIpv4) {
  const gre_opts g{.checksum = true, .key = true, .sequence = true, .key_value = 0xdeadbeef, .seq_value = 42};
  const frame f = outer(ipproto::gre, gre(0x0800, inner_tcp_ip(), g));
  const auto d = run(f);
  EXPECT_EQ(d.anomalies(), 0u);
  expect_inner_tcp(d);
  expect_outer_tunnel(d, tunnel_type::gre, 0xdeadbeef);
  // No inner Ethernet: the snapshot starts at the inner IP header and the
  // MACs stay the outer ones.
  EXPECT_EQ(d.off.l2, 50);
  EXPECT_EQ(d.off.l3, 50);
  EXPECT_EQ(d.off.l4, 70);
  EXPECT_EQ(d.off.payload, 90);
  EXPECT_EQ(d.off.end, 90);
  EXPECT_EQ(mac(d.rec.src_mac), mac(outer_src));
  EXPECT_EQ(d.rec.ethertype, 0x0800);
  EXPECT_EQ(d.rec.wire_len, f.size());
}

TEST(Decap, GreKeyOnlyAndIpv6Inner) {
  const frame inner = ipv6("fe80::1", "ff02::fb", ipproto::udp, udp(5353, 5353, filler(10)), 255);
  const frame f = outer(ipproto::gre, gre(0x86dd, inner, {.key = true, .key_value = 5}));
  const auto d = run(f);
  EXPECT_EQ(d.anomalies(), 0u);
  EXPECT_EQ(d.rec.l3, static_cast<std::uint8_t>(l3_type::ipv6));
  EXPECT_EQ(ip(d.rec.src_ip), "fe80::1");
  EXPECT_EQ(d.rec.dst_port, 5353);
  EXPECT_EQ(d.rec.l4_payload, 10);
  EXPECT_EQ(d.rec.ethertype, 0x86dd);
  expect_outer_tunnel(d, tunnel_type::gre, 5);
  EXPECT_EQ(d.off.l2, 42);
  EXPECT_EQ(d.off.l3, 42);
}

TEST(Decap, GreTebWithVlanTaggedInnerFrame) {
  const frame inner = eth(host_b, host_a, 0x8100, tag(10, 0x0800, inner_tcp_ip()));
  const frame f = eth(outer_dst, outer_src, 0x8100,
                      tag(999, 0x0800, ipv4("10.200.0.3", "10.200.0.224", ipproto::gre, gre(0x6558, inner))));
  const auto d = run(f);
  EXPECT_EQ(d.anomalies(), 0u);
  expect_inner_tcp(d);
  expect_outer_tunnel(d, tunnel_type::gre_teb, 0);
  // The inner frame's VLAN, not the transport's.
  EXPECT_EQ(d.rec.vlan_count, 1);
  EXPECT_EQ(d.rec.vlan[0], 10);
  EXPECT_EQ(mac(d.rec.src_mac), mac(host_a));
  EXPECT_EQ(mac(d.rec.dst_mac), mac(host_b));
  EXPECT_EQ(d.off.l2, 42);
  EXPECT_EQ(d.off.l3, 60);
  EXPECT_EQ(d.off.l4, 80);
}

TEST(Decap, ErspanTypeIHasNoHeader) {
  const frame f = outer(ipproto::gre, gre(0x88be, inner_tcp_eth()));
  const auto d = run(f);
  EXPECT_EQ(d.anomalies(), 0u);
  expect_inner_tcp(d);
  expect_outer_tunnel(d, tunnel_type::erspan1, 0);
  EXPECT_EQ(d.off.l2, 38);
  EXPECT_EQ(mac(d.rec.src_mac), mac(host_a));
}

TEST(Decap, ErspanTypeIISessionAndMirroredVlan) {
  const frame f = outer(ipproto::gre, gre(0x88be, erspan2(23, 100, inner_tcp_eth()), {.sequence = true, .seq_value = 3}));
  const auto d = run(f);
  EXPECT_EQ(d.anomalies(), 0u);
  expect_inner_tcp(d);
  expect_outer_tunnel(d, tunnel_type::erspan2, 100);
  // The mirrored frame is untagged: the ERSPAN header's VLAN is the device's.
  EXPECT_EQ(d.rec.vlan_count, 1);
  EXPECT_EQ(d.rec.vlan[0], 23);
  EXPECT_EQ(d.off.l2, 50);
  EXPECT_EQ(d.off.l3, 64);
}

TEST(Decap, ErspanTypeIIInnerTagWinsOverHeaderVlan) {
  const frame inner = eth(host_b, host_a, 0x8100, tag(77, 0x0800, inner_tcp_ip()));
  const frame f = outer(ipproto::gre, gre(0x88be, erspan2(23, 1023, inner), {.sequence = true}));
  const auto d = run(f);
  EXPECT_EQ(d.rec.vlan_count, 1);
  EXPECT_EQ(d.rec.vlan[0], 77);
  EXPECT_EQ(d.rec.tunnel_id, 1023u);
}

TEST(Decap, ErspanTypeIII) {
  const frame f = outer(ipproto::gre, gre(0x22eb, erspan3(20, 0x155, inner_tcp_eth()), {.sequence = true}));
  const auto d = run(f);
  EXPECT_EQ(d.anomalies(), 0u);
  expect_inner_tcp(d);
  expect_outer_tunnel(d, tunnel_type::erspan3, 0x155);
  EXPECT_EQ(d.rec.vlan[0], 20);
  EXPECT_EQ(d.off.l2, 54);
}

TEST(Decap, ErspanTypeIIIWithPlatformSubheader) {
  const frame f = outer(ipproto::gre, gre(0x22eb, erspan3(20, 7, inner_tcp_eth(), 0, true), {.sequence = true}));
  const auto d = run(f);
  EXPECT_EQ(d.anomalies(), 0u);
  expect_inner_tcp(d);
  expect_outer_tunnel(d, tunnel_type::erspan3, 7);
  EXPECT_EQ(d.off.l2, 62);
}

TEST(Decap, ErspanTypeIIICarryingIp) {
  const frame f = outer(ipproto::gre, gre(0x22eb, erspan3(0, 9, inner_tcp_ip(), 2), {.sequence = true}));
  const auto d = run(f);
  EXPECT_EQ(d.anomalies(), 0u);
  expect_inner_tcp(d);
  expect_outer_tunnel(d, tunnel_type::erspan3, 9);
  EXPECT_EQ(d.off.l2, d.off.l3);
  EXPECT_EQ(mac(d.rec.src_mac), mac(outer_src));
}

TEST(Decap, Vxlan) {
  const frame f = outer(ipproto::udp, udp(50000, 4789, vxlan(0xabcdef, inner_tcp_eth())));
  const auto d = run(f);
  EXPECT_EQ(d.anomalies(), 0u);
  expect_inner_tcp(d);
  expect_outer_tunnel(d, tunnel_type::vxlan, 0xabcdef);
  EXPECT_EQ(mac(d.rec.src_mac), mac(host_a));
  EXPECT_EQ(d.off.l2, 50);
  EXPECT_EQ(d.off.l3, 64);
  EXPECT_EQ(d.off.l4, 84);
  EXPECT_EQ(d.rec.wire_len, f.size());
}

TEST(Decap, VxlanOnAnotherPortIsPlainUdp) {
  const frame f = outer(ipproto::udp, udp(50000, 4790, vxlan(1, inner_tcp_eth())));
  decode_options opt;
  const auto d = run(f);
  EXPECT_EQ(d.tunnel(), tunnel_type::none);
  EXPECT_EQ(d.rec.dst_port, 4790);
  opt.vxlan_port = 4790;
  EXPECT_EQ(run(f, 0, opt).tunnel(), tunnel_type::vxlan);
}

TEST(Decap, GeneveWithOptionsCarryingEthernet) {
  const frame opts = cat({geneve_option(0x0103, 0x80, filler(8)), geneve_option(0xffff, 1, filler(4)),
                          geneve_option(0x0000, 2, {})});
  const frame f = outer(ipproto::udp, udp(47101, 6081, geneve(0x001092, 0x6558, opts, inner_tcp_eth())));
  const auto d = run(f);
  EXPECT_EQ(d.anomalies(), 0u);
  expect_inner_tcp(d);
  expect_outer_tunnel(d, tunnel_type::geneve, 0x1092);
  EXPECT_EQ(d.off.l2, 42 + 8 + 24);
}

TEST(Decap, GeneveCarryingIpv4) {
  const frame f = outer(ipproto::udp, udp(47101, 6081, geneve(77, 0x0800, {}, inner_tcp_ip())));
  const auto d = run(f);
  EXPECT_EQ(d.anomalies(), 0u);
  expect_inner_tcp(d);
  expect_outer_tunnel(d, tunnel_type::geneve, 77);
  EXPECT_EQ(d.off.l2, 50);
  EXPECT_EQ(d.off.l3, 50);
}

TEST(Decap, MplsStackCarryingIpv4AndIpv6) {
  const frame f4 = eth(outer_dst, outer_src, 0x8847, mpls({254, 99}, inner_tcp_ip()));
  const auto d4 = run(f4);
  EXPECT_EQ(d4.anomalies(), 0u);
  expect_inner_tcp(d4);
  EXPECT_EQ(d4.tunnel(), tunnel_type::none);  // label switching is not a tunnel
  EXPECT_EQ(d4.off.l2, 0);
  EXPECT_EQ(d4.off.l3, 22);
  EXPECT_EQ(d4.rec.ethertype, 0x8847);
  const frame f6 = eth(outer_dst, outer_src, 0x8847,
                       mpls({16}, ipv6("2001:db8::1", "2001:db8::2", ipproto::tcp, tcp(1, 2, tcpflag::ack))));
  const auto d6 = run(f6);
  EXPECT_EQ(d6.anomalies(), 0u);
  EXPECT_EQ(d6.rec.l3, static_cast<std::uint8_t>(l3_type::ipv6));
  EXPECT_EQ(d6.rec.dst_port, 2);
}

TEST(Decap, MplsInsideVlan) {
  const frame f = eth(outer_dst, outer_src, 0x8100, tag(3399, 0x8847, mpls({254, 99}, inner_tcp_ip())));
  const auto d = run(f);
  expect_inner_tcp(d);
  EXPECT_EQ(d.rec.vlan_count, 1);
  EXPECT_EQ(d.rec.vlan[0], 3399);
  EXPECT_EQ(d.off.l3, 26);
}

TEST(Decap, MplsPseudowireControlWordAndEthernet) {
  const frame f = eth(outer_dst, outer_src, 0x8847, mpls({100, 200}, cat({frame{0, 0, 0, 0}, inner_tcp_eth()})));
  const auto d = run(f);
  EXPECT_EQ(d.anomalies(), 0u);
  expect_inner_tcp(d);
  EXPECT_EQ(mac(d.rec.src_mac), mac(host_a));
  EXPECT_EQ(d.tunnel(), tunnel_type::none);
  EXPECT_EQ(d.off.l2, 26);
  EXPECT_EQ(d.off.l3, 40);
}

TEST(Decap, MplsOverGre) {
  const frame f = outer(ipproto::gre, gre(0x8847, mpls({30}, inner_tcp_ip())));
  const auto d = run(f);
  EXPECT_EQ(d.anomalies(), 0u);
  expect_inner_tcp(d);
  expect_outer_tunnel(d, tunnel_type::gre, 0);
  EXPECT_EQ(d.off.l2, d.off.l3);
  EXPECT_EQ(d.off.l3, 42);
}

TEST(Decap, IpInIpAndIpv6InIpv6) {
  const auto d = run(outer(4, inner_tcp_ip()));
  EXPECT_EQ(d.anomalies(), 0u);
  expect_inner_tcp(d);
  expect_outer_tunnel(d, tunnel_type::ip_in_ip, 0);
  EXPECT_EQ(d.off.l2, 34);

  const frame inner = ipv6("2001:db8::5", "2001:db8::9", ipproto::tcp, tcp(40000, 22, tcpflag::syn));
  const frame f = eth(outer_dst, outer_src, 0x86dd, ipv6("2001:db8:ffff::1", "2001:db8:ffff::2", 41, inner));
  const auto d6 = run(f);
  EXPECT_EQ(d6.anomalies(), 0u);
  EXPECT_EQ(ip(d6.rec.src_ip), "2001:db8::5");
  EXPECT_EQ(d6.rec.dst_port, 22);
  EXPECT_EQ(d6.tunnel(), tunnel_type::ip_in_ip);
  EXPECT_EQ(ip(d6.rec.tunnel_src), "2001:db8:ffff::1");
  EXPECT_EQ(ip(d6.rec.tunnel_dst), "2001:db8:ffff::2");
}

TEST(Decap, SixInFour) {
  const frame inner = ipv6("2002:c000:201::1", "2001:db8::9", ipproto::udp, udp(546, 547, filler(20)));
  const auto d = run(outer(41, inner));
  EXPECT_EQ(d.anomalies(), 0u);
  EXPECT_EQ(d.rec.l3, static_cast<std::uint8_t>(l3_type::ipv6));
  EXPECT_EQ(ip(d.rec.src_ip), "2002:c000:201::1");
  EXPECT_EQ(d.rec.src_port, 546);
  EXPECT_EQ(d.rec.l4_payload, 20);
  expect_outer_tunnel(d, tunnel_type::ip_in_ip, 0);
}

TEST(Decap, QinQWithEveryTpid) {
  for (unsigned tpid : {0x88a8u, 0x9100u, 0x8100u}) {
    const frame f = eth(host_b, host_a, tpid, tag(100, 0x8100, tag(200, 0x0800, inner_tcp_ip())));
    const auto d = run(f);
    EXPECT_EQ(d.anomalies(), 0u);
    EXPECT_EQ(d.rec.vlan_count, 2);
    EXPECT_EQ(d.rec.vlan[0], 100);
    EXPECT_EQ(d.rec.vlan[1], 200);
    expect_inner_tcp(d);
    EXPECT_EQ(d.off.l3, 22);
  }
}

TEST(Decap, Ipv4OptionsInTheInnerHeader) {
  const frame inner = ipv4("192.168.10.5", "192.168.10.9", ipproto::tcp, tcp(51000, 443, tcpflag::syn),
                           {.ttl = 128, .options = {0x94, 0x04, 0x00, 0x00, 0x01, 0x01, 0x01, 0x00}});
  const auto d = run(outer(ipproto::gre, gre(0x0800, inner)));
  EXPECT_EQ(d.anomalies(), 0u);
  expect_inner_tcp(d);
  EXPECT_EQ(d.off.l4, 38 + 28);
}

TEST(Decap, InnerNonIpFrameIsNotTheOuterPacket) {
  // LLDP mirrored through ERSPAN: the record is the LLDP frame's.
  const frame lldp = eth(0x0180c200000e, host_a, 0x88cc, filler(30));
  const auto d = run(outer(ipproto::gre, gre(0x88be, erspan2(5, 1, lldp), {.sequence = true})));
  EXPECT_EQ(d.anomalies(), 0u);
  EXPECT_EQ(d.rec.l3, static_cast<std::uint8_t>(l3_type::other));
  EXPECT_EQ(d.rec.ethertype, 0x88cc);
  EXPECT_EQ(mac(d.rec.src_mac), mac(host_a));
  EXPECT_TRUE(d.rec.src_ip.is_unspecified());
  EXPECT_EQ(d.rec.ip_proto, 0);
  EXPECT_EQ(d.tunnel(), tunnel_type::erspan2);
}

TEST(Decap, InnerArp) {
  const frame arp = eth(0xffffffffffff, host_a, 0x0806,
                        cat({frame{0, 1, 8, 0, 6, 4, 0, 1}, frame{0x3c, 0x22, 0xfb, 0, 0, 1, 192, 168, 10, 5},
                             frame{0, 0, 0, 0, 0, 0, 192, 168, 10, 1}}));
  const auto d = run(outer(ipproto::udp, udp(1, 4789, vxlan(3, arp))));
  EXPECT_EQ(d.rec.l3, static_cast<std::uint8_t>(l3_type::arp));
  EXPECT_TRUE(d.rec.flags & pktflag::arp_request);
  EXPECT_FALSE(d.rec.flags & pktflag::has_ports);
  EXPECT_EQ(ip(d.rec.src_ip), "192.168.10.5");
  EXPECT_EQ(d.tunnel(), tunnel_type::vxlan);
}

TEST(Decap, FlowHashIsOverTheInnerFlowAndSymmetric) {
  const frame plain = inner_tcp_eth();
  const frame reverse = eth(host_a, host_b, 0x0800,
                            ipv4("192.168.10.9", "192.168.10.5", ipproto::tcp, tcp(443, 51000, tcpflag::syn | tcpflag::ack)));
  const auto p = run(plain);
  const auto v = run(outer(ipproto::udp, udp(50000, 4789, vxlan(1, plain))));
  const auto g = run(outer(ipproto::gre, gre(0x88be, erspan2(1, 2, reverse), {.sequence = true})));
  EXPECT_EQ(p.rec.flow_hash, v.rec.flow_hash);
  EXPECT_EQ(p.rec.flow_hash, g.rec.flow_hash);
}

TEST(Decap, WireLenIsTheOuterFrames) {
  const frame f = outer(ipproto::gre, gre(0x6558, inner_tcp_eth()));
  // A truncating ERSPAN session / snap length: the outer IP tells the size.
  const frame cut(f.begin(), f.begin() + 60);
  const auto d = run(cut);
  EXPECT_EQ(d.rec.wire_len, f.size());
  // The inner IP claims more than the outer carried: no effect on wire_len.
  frame lie = f;
  lie[52 + 2] = 0x05;  // inner total length 0x05xx
  const auto l = run(lie);
  EXPECT_EQ(l.rec.wire_len, f.size());
  EXPECT_TRUE(l.rec.flags & pktflag::truncated);
  EXPECT_EQ(l.off.end, f.size());
}

TEST(Decap, InnerPaddingIsTrimmed) {
  frame inner = inner_tcp_eth();
  inner.resize(64, 0);  // the mirrored frame kept its Ethernet padding
  const auto d = run(outer(ipproto::gre, gre(0x6558, inner)));
  EXPECT_EQ(d.off.end, 38 + 14 + 40);
  EXPECT_EQ(d.off.payload, d.off.end);
}

// ---------------------------------------------------------------------------
// Limits and what is not understood

TEST(Decap, TunnelDepthIsCapped) {
  frame f = inner_tcp_ip();
  for (int i = 0; i < 10; ++i) {
    f = ipv4("10.0.0.1", "10.0.0.2", ipproto::gre, gre(0x0800, f, {.key = true, .key_value = static_cast<std::uint32_t>(i)}));
  }
  const auto d = run(eth(outer_dst, outer_src, 0x0800, f));
  EXPECT_EQ(d.an[anomaly::tunnel_depth_exceeded], 1u);
  EXPECT_EQ(d.rec.tunnel_depth, 8);
  EXPECT_EQ(d.rec.tunnel_id, 9u);  // the outermost GRE's key
  EXPECT_EQ(d.rec.ip_proto, ipproto::gre);
  decode_options opt;
  opt.max_tunnel_depth = 10;
  const auto all = run(eth(outer_dst, outer_src, 0x0800, f), 0, opt);
  EXPECT_EQ(all.anomalies(), 0u);
  EXPECT_EQ(all.rec.tunnel_depth, 10);
  expect_inner_tcp(all);
}

TEST(Decap, PseudowiresCountTowardsTheDepthCap) {
  // Ethernet over MPLS over Ethernet over MPLS ...: each pseudowire is a layer.
  frame f = inner_tcp_eth();
  for (int i = 0; i < 12; ++i) {
    f = eth(outer_dst, outer_src, 0x8847, mpls({static_cast<std::uint32_t>(i + 16)}, cat({frame{0, 0, 0, 0}, f})));
  }
  const auto d = run(f);
  EXPECT_EQ(d.an[anomaly::tunnel_depth_exceeded], 1u);
  EXPECT_EQ(d.rec.tunnel_depth, 0);
}

TEST(Decap, MplsDepthIsCapped) {
  const frame f = eth(outer_dst, outer_src, 0x8847, mpls({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, inner_tcp_ip()));
  const auto d = run(f);
  EXPECT_EQ(d.an[anomaly::mpls_depth_exceeded], 1u);
  EXPECT_EQ(d.off.payload, 14 + 32);
}

TEST(Decap, UnknownMplsPayloadIsNamed) {
  const frame f = eth(outer_dst, outer_src, 0x8847, mpls({16}, filler(20, 0x10)));
  const auto d = run(f);
  EXPECT_EQ(d.an[anomaly::unsupported_mpls], 1u);
  EXPECT_EQ(d.off.payload, 18);
}

TEST(Decap, UnsupportedGreKeepsTheOuterPacket) {
  for (const frame& g : {gre(0x880b, filler(20), {.version = 1}), gre(0x883e, filler(20))}) {
    const auto d = run(outer(ipproto::gre, g));
    EXPECT_EQ(d.an[anomaly::unsupported_gre], 1u);
    EXPECT_EQ(d.tunnel(), tunnel_type::none);
    EXPECT_EQ(ip(d.rec.src_ip), "10.200.0.3");
    EXPECT_EQ(d.rec.ip_proto, ipproto::gre);
  }
  frame routing = gre(0x0800, inner_tcp_ip());
  routing[0] |= 0x40;
  EXPECT_EQ(run(outer(ipproto::gre, routing)).an[anomaly::unsupported_gre], 1u);
}

TEST(Decap, UnsupportedErspanVersionsAndFrameTypes) {
  frame bad = erspan2(1, 1, inner_tcp_eth());
  bad[0] = static_cast<std::uint8_t>((bad[0] & 0x0f) | 0x30);  // version 3 does not exist
  EXPECT_EQ(run(outer(ipproto::gre, gre(0x88be, bad, {.sequence = true}))).an[anomaly::unsupported_erspan], 1u);
  const auto ft = run(outer(ipproto::gre, gre(0x22eb, erspan3(1, 1, inner_tcp_eth(), 5), {.sequence = true})));
  EXPECT_EQ(ft.an[anomaly::unsupported_erspan], 1u);
  EXPECT_EQ(ft.tunnel(), tunnel_type::none);
  // Frame type IP whose payload is neither IPv4 nor IPv6.
  const auto ip_ft = run(outer(ipproto::gre, gre(0x22eb, erspan3(1, 1, filler(20, 0x10), 2), {.sequence = true})));
  EXPECT_EQ(ip_ft.an[anomaly::unsupported_erspan], 1u);
}

TEST(Decap, UnsupportedGeneveAndVxlan) {
  EXPECT_EQ(run(outer(ipproto::udp, udp(1, 6081, geneve(1, 0x6558, {}, inner_tcp_eth(), 1))))
                .an[anomaly::unsupported_geneve], 1u);
  EXPECT_EQ(run(outer(ipproto::udp, udp(1, 6081, geneve(1, 0x8847, {}, inner_tcp_eth()))))
                .an[anomaly::unsupported_geneve], 1u);
  const auto v = run(outer(ipproto::udp, udp(1, 4789, vxlan(1, inner_tcp_eth(), 0x00))));
  EXPECT_EQ(v.an[anomaly::unsupported_vxlan], 1u);
  EXPECT_EQ(v.tunnel(), tunnel_type::none);
  EXPECT_EQ(v.rec.dst_port, 4789);
}

TEST(Decap, GeneveOptionsPastTheEnd) {
  frame g = geneve(1, 0x6558, filler(8), inner_tcp_eth());
  g[0] = 0x3f;  // 252 bytes of options claimed
  const auto d = run(outer(ipproto::udp, udp(1, 6081, g)));
  EXPECT_EQ(d.an[anomaly::truncated_geneve], 1u);
  EXPECT_EQ(d.tunnel(), tunnel_type::none);
}

TEST(Decap, UdpLengthBoundsTheTunnelPayload) {
  // A VXLAN packet whose UDP length stops inside the inner Ethernet header.
  frame f = outer(ipproto::udp, udp(50000, 4789, vxlan(1, inner_tcp_eth())));
  f[34 + 4] = 0;
  f[34 + 5] = 8 + 8 + 10;
  const auto d = run(f);
  EXPECT_EQ(d.an[anomaly::truncated_ethernet], 1u);
  EXPECT_EQ(d.tunnel(), tunnel_type::vxlan);
}

// ---------------------------------------------------------------------------
// Fragments: what decode_frame tells the tracker

TEST(DecapFragments, Ipv4FirstAndLaterFragment) {
  const frame first = eth(host_b, host_a, 0x0800,
                          ipv4("10.0.0.1", "10.0.0.2", ipproto::udp, udp(5353, 5353, filler(100)), {.id = 0xbeef, .frag = 0x2000, .total_override = 20 + 48}));
  const auto a = run(frame(first.begin(), first.begin() + 14 + 20 + 48));
  EXPECT_EQ(a.frag.kind, fragment_info::first);
  EXPECT_EQ(a.frag.id, 0xbeefu);
  EXPECT_EQ(a.frag.proto, ipproto::udp);
  EXPECT_EQ(a.frag.family, 4);
  EXPECT_TRUE(a.frag.more);
  EXPECT_TRUE(a.frag.innermost);
  EXPECT_EQ(a.frag.l3, 14);
  EXPECT_EQ(ip(a.frag.src), "10.0.0.1");
  EXPECT_TRUE(a.rec.flags & pktflag::fragment);
  EXPECT_FALSE(a.rec.flags & pktflag::later_fragment);
  EXPECT_EQ(a.rec.src_port, 5353);

  const frame later = eth(host_b, host_a, 0x0800,
                          ipv4("10.0.0.1", "10.0.0.2", ipproto::udp, filler(60), {.id = 0xbeef, .frag = 6}));
  const auto b = run(later);
  EXPECT_EQ(b.frag.kind, fragment_info::later);
  EXPECT_EQ(b.frag.offset, 48u);
  EXPECT_FALSE(b.frag.more);
  EXPECT_TRUE(b.rec.flags & pktflag::later_fragment);
  EXPECT_FALSE(b.rec.flags & pktflag::has_ports);

  const auto none = run(inner_tcp_eth());
  EXPECT_EQ(none.frag.kind, fragment_info::none);
}

TEST(DecapFragments, Ipv6FragmentIdentification) {
  const frame first = eth(host_b, host_a, 0x86dd,
                          ipv6("2001:db8::1", "2001:db8::2", 44, ipv6_frag(ipproto::udp, 0, true, 0xf88eb466, udp(53, 41000, filler(40)))));
  const auto a = run(first);
  EXPECT_EQ(a.frag.kind, fragment_info::first);
  EXPECT_EQ(a.frag.id, 0xf88eb466u);
  EXPECT_EQ(a.frag.family, 6);
  EXPECT_EQ(a.frag.proto, ipproto::udp);
  EXPECT_EQ(a.rec.src_port, 53);
  const frame later = eth(host_b, host_a, 0x86dd,
                          ipv6("2001:db8::1", "2001:db8::2", 44, ipv6_frag(ipproto::udp, 1232, false, 0xf88eb466, filler(40))));
  const auto b = run(later);
  EXPECT_EQ(b.frag.kind, fragment_info::later);
  EXPECT_EQ(b.frag.offset, 1232u);
  EXPECT_EQ(b.frag.id, 0xf88eb466u);
  EXPECT_TRUE(b.rec.flags & pktflag::later_fragment);
  EXPECT_EQ(b.rec.ip_proto, ipproto::udp);
}

TEST(DecapFragments, FragmentedTunnelPacket) {
  // The mirror's own IP packet was fragmented: the first fragment still
  // shows the inner packet, and the fragment is the outer header.
  frame whole = outer(ipproto::gre, gre(0x6558, eth(host_b, host_a, 0x0800,
                      ipv4("192.168.10.5", "192.168.10.9", ipproto::tcp, tcp(51000, 443, tcpflag::ack, filler(1400))))));
  whole[14 + 6] = 0x20;  // MF
  whole[14 + 2] = 0x02;  // total length 0x0200 = 512 bytes in this fragment
  whole[14 + 3] = 0x00;
  whole.resize(14 + 512);
  const auto d = run(whole);
  EXPECT_EQ(d.frag.kind, fragment_info::first);
  EXPECT_EQ(d.frag.proto, ipproto::gre);
  EXPECT_FALSE(d.frag.innermost);
  EXPECT_EQ(ip(d.frag.src), "10.200.0.3");
  EXPECT_EQ(ip(d.rec.src_ip), "192.168.10.5");
  EXPECT_EQ(d.rec.src_port, 51000);
  EXPECT_EQ(d.tunnel(), tunnel_type::gre_teb);
  EXPECT_TRUE(d.rec.flags & pktflag::fragment);
  EXPECT_EQ(d.rec.wire_len, 14u + 512u);
}

// ---------------------------------------------------------------------------
// PPPoE sessions, 802.11 in GRE (Aruba), L2TPv2, and capture link types
// other than Ethernet.

namespace {

// PPPoE session header (version/type 0x11, code 0, session 0x1234) and the
// PPP protocol field; the length covers the PPP part.
frame pppoe(unsigned ppp_proto, const frame& payload, unsigned code = 0) {
  frame f{0x11, static_cast<std::uint8_t>(code)};
  put16(f, 0x1234);
  put16(f, static_cast<unsigned>(payload.size() + 2));
  put16(f, ppp_proto);
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}

// An 802.11 data frame without FCS: frame control, duration, three or four
// addresses, sequence control, QoS control for QoS data.
struct wlan_opts {
  bool to_ds = true;
  bool from_ds = false;
  bool qos = true;
  bool order = false;
  bool protect = false;
  unsigned fragment = 0;
};
constexpr std::uint64_t bssid = 0x00246c000010;
constexpr std::uint64_t wlan_a1 = 0x0a0000000001, wlan_a2 = 0x0a0000000002, wlan_a3 = 0x0a0000000003,
                        wlan_a4 = 0x0a0000000004;
frame wlan(const frame& payload, const wlan_opts& o = {}) {
  frame f{static_cast<std::uint8_t>(o.qos ? 0x88 : 0x08),
          static_cast<std::uint8_t>((o.to_ds ? 0x01 : 0) | (o.from_ds ? 0x02 : 0) | (o.protect ? 0x40 : 0) |
                                    (o.order ? 0x80 : 0)),
          0x2c, 0x00};
  put_mac(f, wlan_a1);
  put_mac(f, wlan_a2);
  put_mac(f, wlan_a3);
  f.push_back(static_cast<std::uint8_t>(0x50 | o.fragment));  // sequence control, little-endian
  f.push_back(0x01);
  if (o.to_ds && o.from_ds) {
    put_mac(f, wlan_a4);
  }
  if (o.qos) {
    f.push_back(0x00);
    f.push_back(0x00);
  }
  if (o.qos && o.order) {
    put32(f, 0);
  }
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}
frame snap(unsigned type, const frame& payload) {
  frame f{0xaa, 0xaa, 0x03, 0x00, 0x00, 0x00};
  put16(f, type);
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}
frame pppoe_tcp() { return eth(host_b, host_a, 0x8864, pppoe(0x0021, inner_tcp_ip())); }
frame aruba_tcp(const wlan_opts& o = {}) {
  return outer(ipproto::gre, gre(0x8200, wlan(snap(0x0800, inner_tcp_ip()), o)));
}

void kept_pppoe_l2(const decoded& d) {
  EXPECT_EQ(d.rec.l3, static_cast<std::uint8_t>(l3_type::other));
  EXPECT_EQ(mac(d.rec.src_mac), mac(host_a));
  EXPECT_EQ(d.rec.ethertype, 0x8864);
}
void kept_pppoe_ip(const decoded& d) {
  EXPECT_EQ(d.rec.l3, static_cast<std::uint8_t>(l3_type::ipv4));
  EXPECT_EQ(mac(d.rec.src_mac), mac(host_a));
  EXPECT_EQ(d.tunnel(), tunnel_type::none);
}
std::function<void(const decoded&)> kept_wlan_l2() {
  return [](const decoded& d) {
    // The 802.11 header decoded: its SA (addr2, ToDS) is the source MAC, the
    // addresses stay the outer ones.
    EXPECT_EQ(d.tunnel(), tunnel_type::gre_wlan);
    EXPECT_EQ(mac(d.rec.src_mac), mac(wlan_a2));
    EXPECT_EQ(mac(d.rec.dst_mac), mac(wlan_a3));
    EXPECT_EQ(ip(d.rec.src_ip), "10.200.0.3");
  };
}

}  // namespace

TEST(DecapTruncation, PppoeSessionCarryingIpv4) {
  every_truncation(pppoe_tcp(), {{14, anomaly::truncated_pppoe, kept_pppoe_l2},
                                 {22, anomaly::truncated_ipv4, kept_pppoe_ip},
                                 {42, anomaly::truncated_tcp, kept_pppoe_ip},
                                 {62, anomaly::count_, kept_pppoe_ip}});
}

TEST(DecapTruncation, ArubaGreCarrying80211QosData) {
  every_truncation(aruba_tcp(), {{14, anomaly::truncated_ipv4, nullptr},
                                 {34, anomaly::truncated_gre, kept_outer_ip},
                                 {38, anomaly::truncated_wlan, kept_tunnel(tunnel_type::gre_wlan)},
                                 {64, anomaly::truncated_llc, kept_wlan_l2()},
                                 {72, anomaly::truncated_ipv4, kept_wlan_l2()},
                                 {92, anomaly::truncated_tcp, kept_inner_ip(tunnel_type::gre_wlan)},
                                 {112, anomaly::count_, kept_all(tunnel_type::gre_wlan)}});
}

TEST(DecapTruncation, L2tpCarryingPpp) {
  // flags: L and S set, version 2; length, tunnel 3, session 4, Ns, Nr, ff 03, PPP IPv4.
  const frame l2tp = cat({{0x48, 0x02, 0x00, 0x00, 0x00, 0x03, 0x00, 0x04, 0, 0, 0, 0, 0xff, 0x03, 0x00, 0x21},
                          inner_tcp_ip()});
  const frame f = outer(ipproto::udp, udp(1701, 1701, l2tp));
  every_truncation(f, {{14, anomaly::truncated_ipv4, nullptr},
                       {34, anomaly::truncated_udp, kept_outer_ip},
                       {42, anomaly::truncated_l2tp, kept_outer_ip},
                       {44, anomaly::truncated_l2tp, kept_outer_ip},
                       {58, anomaly::truncated_ipv4, kept_tunnel(tunnel_type::l2tp)},
                       {78, anomaly::truncated_tcp, kept_inner_ip(tunnel_type::l2tp)},
                       {98, anomaly::count_, kept_all(tunnel_type::l2tp)}});
}

TEST(Decap, PppoeSessionCarryingIpv6KeepsTheEthernetMacs) {
  const frame f = eth(host_b, host_a, 0x8864,
                      pppoe(0x0057, ipv6("2001:db8::1", "2001:db8::2", ipproto::udp, udp(546, 547, filler(4)))));
  const decoded d = run(f);
  EXPECT_EQ(d.anomalies(), 0u);
  EXPECT_EQ(d.rec.l3, static_cast<std::uint8_t>(l3_type::ipv6));
  EXPECT_EQ(ip(d.rec.src_ip), "2001:db8::1");
  EXPECT_EQ(d.rec.dst_port, 547);
  EXPECT_EQ(mac(d.rec.src_mac), mac(host_a));
  EXPECT_EQ(mac(d.rec.dst_mac), mac(host_b));
  EXPECT_EQ(d.rec.ethertype, 0x8864);
  EXPECT_EQ(d.tunnel(), tunnel_type::none);
  EXPECT_EQ(d.off.l3, 22);
}

TEST(Decap, PppoeControlAndDiscoveryStayLayer2) {
  for (const frame& f : {eth(host_b, host_a, 0x8864, pppoe(0xc021, filler(10))),          // LCP
                         eth(host_b, host_a, 0x8863, pppoe(0x0101, filler(4), 0x09)),     // PADI
                         eth(host_b, host_a, 0x8864, pppoe(0x0021, inner_tcp_ip(), 7))}) {  // code != 0
    const decoded d = run(f);
    EXPECT_TRUE(d.ok);
    EXPECT_EQ(d.anomalies(), 0u);
    EXPECT_EQ(d.rec.l3, static_cast<std::uint8_t>(l3_type::other));
    EXPECT_EQ(mac(d.rec.src_mac), mac(host_a));
  }
}

TEST(Decap, ArubaAddressRolesByDsBits) {
  // (ToDS, FromDS) -> (SA, DA): (0,0) a2,a1; (1,0) a2,a3; (0,1) a3,a1; (1,1) a4,a3.
  struct c {
    bool to, from;
    std::uint64_t sa, da;
  };
  for (const c& x : {c{false, false, wlan_a2, wlan_a1}, c{true, false, wlan_a2, wlan_a3},
                     c{false, true, wlan_a3, wlan_a1}, c{true, true, wlan_a4, wlan_a3}}) {
    for (bool qos : {false, true}) {
      SCOPED_TRACE(std::to_string(x.to) + std::to_string(x.from) + (qos ? " qos" : ""));
      const decoded d = run(aruba_tcp({.to_ds = x.to, .from_ds = x.from, .qos = qos}));
      EXPECT_EQ(d.anomalies(), 0u);
      expect_inner_tcp(d);
      expect_outer_tunnel(d, tunnel_type::gre_wlan, 0);
      EXPECT_EQ(mac(d.rec.src_mac), mac(x.sa));
      EXPECT_EQ(mac(d.rec.dst_mac), mac(x.da));
      EXPECT_EQ(d.rec.ethertype, 0x0800);
      EXPECT_EQ(d.off.l2, d.off.l3);  // no Ethernet header to snapshot
    }
  }
}

TEST(Decap, ArubaHtControlAndOtherGreProtocols) {
  const decoded d = run(aruba_tcp({.order = true}));
  EXPECT_EQ(d.anomalies(), 0u);
  expect_inner_tcp(d);
  // Order without QoS is not an HT control field.
  const decoded d2 = run(aruba_tcp({.qos = false, .order = true}));
  EXPECT_EQ(d2.anomalies(), 0u);
  expect_inner_tcp(d2);
  for (unsigned proto : {0x8210u, 0x8370u}) {
    const decoded e = run(outer(ipproto::gre, gre(proto, wlan(snap(0x0800, inner_tcp_ip())))));
    expect_inner_tcp(e);
  }
  for (unsigned proto : {0x8201u, 0x8380u}) {
    const decoded e = run(outer(ipproto::gre, gre(proto, wlan(snap(0x0800, inner_tcp_ip())))));
    EXPECT_EQ(e.an[anomaly::unsupported_gre], 1u);
    EXPECT_EQ(ip(e.rec.src_ip), "10.200.0.3");
  }
}

TEST(Decap, ArubaOpaqueFramesKeepTheOuterPacket) {
  for (const wlan_opts& o : {wlan_opts{.protect = true}, wlan_opts{.fragment = 1}}) {
    const decoded d = run(aruba_tcp(o));
    EXPECT_EQ(d.an[anomaly::unsupported_wlan], 1u);
    EXPECT_EQ(d.anomalies(), 1u);
    EXPECT_EQ(ip(d.rec.src_ip), "10.200.0.3");
    EXPECT_EQ(d.tunnel(), tunnel_type::gre_wlan);
  }
  // Not LLC/SNAP: named, outer packet kept.
  const decoded d = run(outer(ipproto::gre, gre(0x8200, wlan(cat({{0xf0, 0xf0, 0x03}, filler(20)})))));
  EXPECT_EQ(d.an[anomaly::unsupported_llc], 1u);
  EXPECT_EQ(ip(d.rec.src_ip), "10.200.0.3");
  // ARP over 802.11.
  frame arp{0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01};
  put_mac(arp, wlan_a2);
  put_ip(arp, "10.1.1.5", false);
  put_mac(arp, 0);
  put_ip(arp, "10.1.1.1", false);
  const decoded a = run(outer(ipproto::gre, gre(0x8200, wlan(snap(0x0806, arp)))));
  EXPECT_EQ(a.anomalies(), 0u);
  EXPECT_EQ(a.rec.l3, static_cast<std::uint8_t>(l3_type::arp));
  EXPECT_EQ(ip(a.rec.src_ip), "10.1.1.5");
}

TEST(Decap, L2tpControlAndNonIpPppKeepTheUdpPacket) {
  const frame control = outer(ipproto::udp, udp(1701, 1701, cat({{0xc8, 0x02, 0x00, 0x0c}, filler(8)})));
  const frame lcp = outer(ipproto::udp, udp(1701, 1701, {0x00, 0x02, 0, 3, 0, 4, 0xff, 0x03, 0xc0, 0x21, 1, 1}));
  for (const frame& f : {control, lcp}) {
    const decoded d = run(f);
    EXPECT_EQ(d.anomalies(), 0u);
    EXPECT_EQ(ip(d.rec.src_ip), "10.200.0.3");
    EXPECT_EQ(d.rec.dst_port, 1701);
    EXPECT_EQ(d.tunnel(), tunnel_type::none);
  }
  const decoded v3 = run(outer(ipproto::udp, udp(1701, 1701, {0x00, 0x03, 0, 0, 0, 0, 0, 1})));
  EXPECT_EQ(v3.an[anomaly::unsupported_l2tp], 1u);
  // Without address/control, from the source port, with an offset field.
  const frame l2tp = cat({{0x02, 0x02, 0x00, 0x03, 0x00, 0x04, 0x00, 0x02, 0xee, 0xee, 0x00, 0x21}, inner_tcp_ip()});
  const decoded d = run(outer(ipproto::udp, udp(1701, 40000, l2tp)));
  EXPECT_EQ(d.anomalies(), 0u);
  expect_inner_tcp(d);
  expect_outer_tunnel(d, tunnel_type::l2tp, 0x00030004);
}

namespace {
decoded run_link(const frame& f, std::uint16_t lt) {
  decode_options o;
  o.link_type = lt;
  return run(f, 0, o);
}
// Linux cooked v1: packet type, ARPHRD, address length, address (8), protocol.
frame sll(unsigned arphrd, unsigned alen, std::uint64_t addr, unsigned proto, const frame& payload) {
  frame f;
  put16(f, 0);
  put16(f, arphrd);
  put16(f, alen);
  put_mac(f, addr);
  put16(f, 0);
  put16(f, proto);
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}
frame sll2(unsigned arphrd, unsigned alen, std::uint64_t addr, unsigned proto, const frame& payload) {
  frame f;
  put16(f, proto);
  put16(f, 0);
  put32(f, 3);  // interface index
  put16(f, arphrd);
  f.push_back(4);  // outgoing
  f.push_back(static_cast<std::uint8_t>(alen));
  put_mac(f, addr);
  put16(f, 0);
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}
}  // namespace

TEST(DecapLinkTypes, TruncatedLinkHeadersFirst) {
  const frame full_sll = sll(1, 6, host_a, 0x0800, inner_tcp_ip());
  const frame full_sll2 = sll2(1, 6, host_a, 0x0800, inner_tcp_ip());
  for (std::uint16_t lt : {link_types::linux_sll, link_types::linux_sll2}) {
    const frame& full = lt == link_types::linux_sll ? full_sll : full_sll2;
    const std::size_t hlen = lt == link_types::linux_sll ? 16 : 20;
    for (std::size_t n = 0; n <= full.size(); ++n) {
      SCOPED_TRACE(std::to_string(lt) + " cut at " + std::to_string(n));
      const decoded d = run_link(frame(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n)), lt);
      expect_offsets_sane(d, n);
      if (n < hlen) {
        EXPECT_FALSE(d.ok);
        EXPECT_EQ(d.an[anomaly::truncated_link_header], 1u);
        EXPECT_EQ(d.rec.l3, 0);
        continue;
      }
      EXPECT_TRUE(d.ok);
      EXPECT_EQ(mac(d.rec.src_mac), mac(host_a));
      EXPECT_EQ(d.anomalies(), n == full.size() ? 0u : 1u);
      if (n >= hlen + 20) {
        EXPECT_EQ(ip(d.rec.src_ip), "192.168.10.5");
      }
    }
  }
  const frame raw = inner_tcp_ip();
  for (std::uint16_t lt : {link_types::raw, link_types::ipv4, link_types::raw_dlt12, link_types::raw_dlt14}) {
    for (std::size_t n = 0; n <= raw.size(); ++n) {
      SCOPED_TRACE(std::to_string(lt) + " cut at " + std::to_string(n));
      const decoded d = run_link(frame(raw.begin(), raw.begin() + static_cast<std::ptrdiff_t>(n)), lt);
      expect_offsets_sane(d, n);
      EXPECT_EQ(d.ok, n > 0 || lt == link_types::ipv4);
      EXPECT_EQ(d.anomalies(), n == raw.size() ? 0u : 1u);
      if (n >= 20) {
        EXPECT_EQ(ip(d.rec.src_ip), "192.168.10.5");
      }
    }
  }
}

TEST(DecapLinkTypes, CookedAndRawCarryTheSameFlow) {
  const frame v6 = ipv6("2001:db8::1", "2001:db8::2", ipproto::tcp, tcp(51000, 443, tcpflag::syn));
  struct c {
    frame f;
    std::uint16_t lt;
    bool mac_known;
    bool is_v6;
  };
  const std::vector<c> cases = {
      {sll(1, 6, host_a, 0x0800, inner_tcp_ip()), link_types::linux_sll, true, false},
      {sll2(1, 6, host_a, 0x0800, inner_tcp_ip()), link_types::linux_sll2, true, false},
      {sll(772, 6, host_a, 0x0800, inner_tcp_ip()), link_types::linux_sll, false, false},  // loopback
      {sll2(65534, 0, 0, 0x86dd, v6), link_types::linux_sll2, false, true},              // tun, no address
      {inner_tcp_ip(), link_types::raw, false, false},
      {v6, link_types::raw, false, true},
      {inner_tcp_ip(), link_types::ipv4, false, false},
      {v6, link_types::ipv6, false, true},
  };
  for (const auto& x : cases) {
    SCOPED_TRACE(std::to_string(x.lt));
    const decoded d = run_link(x.f, x.lt);
    EXPECT_TRUE(d.ok);
    EXPECT_EQ(d.anomalies(), 0u);
    if (x.is_v6) {
      EXPECT_EQ(ip(d.rec.src_ip), "2001:db8::1");
      EXPECT_EQ(d.rec.dst_port, 443);
      EXPECT_EQ(d.rec.ethertype, 0x86dd);
    } else {
      expect_inner_tcp(d);
      EXPECT_EQ(d.rec.ethertype, 0x0800);
    }
    EXPECT_EQ(mac(d.rec.src_mac), x.mac_known ? mac(host_a) : mac(0));
    EXPECT_EQ(d.off.l2, d.off.l3);
    EXPECT_EQ(d.rec.wire_len, x.f.size());
  }
  // ARP and a non-IP protocol in SLL; a raw frame that is not IP.
  const decoded lldp = run_link(sll(1, 6, host_a, 0x88cc, filler(20)), link_types::linux_sll);
  EXPECT_EQ(lldp.rec.l3, static_cast<std::uint8_t>(l3_type::other));
  EXPECT_EQ(lldp.rec.ethertype, 0x88cc);
  const decoded llc = run_link(sll(1, 6, host_a, 0x0004, filler(20)), link_types::linux_sll);
  EXPECT_EQ(llc.rec.l3, static_cast<std::uint8_t>(l3_type::other));
  EXPECT_EQ(llc.anomalies(), 0u);
  const decoded junk = run_link(filler(30, 0x21), link_types::raw);
  EXPECT_EQ(junk.an[anomaly::bad_raw_ip_version], 1u);
  const decoded unknown = run_link(filler(30), 127);
  EXPECT_FALSE(unknown.ok);
  EXPECT_EQ(unknown.an[anomaly::unsupported_link_type], 1u);
}

// ---------------------------------------------------------------------------
// Cisco MetaData (EtherType 0x8909, TrustSec SGT) and discovery PDUs in GRE.
// Layouts as Wireshark's packet-cisco-metadata.c reads them: in Ethernet
// version(1) length(1) option(2) SGT(2) EtherType(2); in GRE the EtherType
// first, then version, length, option, SGT.

namespace {
frame cmd_eth(unsigned sgt, unsigned type) {
  return {0x01, 0x01, 0x00, 0x01, static_cast<std::uint8_t>(sgt >> 8), static_cast<std::uint8_t>(sgt),
          static_cast<std::uint8_t>(type >> 8), static_cast<std::uint8_t>(type)};
}
frame cmd_gre(unsigned sgt, unsigned type) {
  return {static_cast<std::uint8_t>(type >> 8), static_cast<std::uint8_t>(type), 0x01, 0x01, 0x00, 0x01,
          static_cast<std::uint8_t>(sgt >> 8), static_cast<std::uint8_t>(sgt)};
}
}  // namespace

TEST(DecapTruncation, CiscoMetadataInEthernet) {
  const frame f = eth(host_b, host_a, 0x8909, cat({cmd_eth(100, 0x0800), inner_tcp_ip()}));
  every_truncation(f, {{14, anomaly::truncated_cisco_metadata, nullptr},
                       {22, anomaly::truncated_ipv4, nullptr},
                       {42, anomaly::truncated_tcp, nullptr},
                       {62, anomaly::count_, kept_all(tunnel_type::none)}});
}

TEST(DecapTruncation, CiscoMetadataInGre) {
  const frame f = outer(ipproto::gre, gre(0x8909, cat({cmd_gre(100, 0x0800), inner_tcp_ip()})));
  every_truncation(f, {{14, anomaly::truncated_ipv4, nullptr},
                       {34, anomaly::truncated_gre, kept_outer_ip},
                       {38, anomaly::truncated_cisco_metadata, kept_outer_ip},
                       {46, anomaly::truncated_ipv4, kept_tunnel(tunnel_type::gre)},
                       {66, anomaly::truncated_tcp, kept_inner_ip(tunnel_type::gre)},
                       {86, anomaly::count_, kept_all(tunnel_type::gre)}});
}

TEST(Decap, CiscoMetadataAfterAVlanTag) {
  const frame f = eth(host_b, host_a, 0x8100, tag(30, 0x8909, cat({cmd_eth(7, 0x0800), inner_tcp_ip()})));
  const auto d = run(f);
  EXPECT_EQ(d.anomalies(), 0u);
  EXPECT_EQ(d.rec.vlan_count, 1);
  EXPECT_EQ(d.rec.vlan[0], 30);
  EXPECT_EQ(d.rec.ethertype, 0x0800);
  EXPECT_EQ(d.off.l3, 14u + 4u + 8u);
  expect_inner_tcp(d);
  EXPECT_EQ(mac(d.rec.src_mac), mac(host_a));
}

TEST(Decap, OneCiscoMetadataHeaderPerFrame) {
  // A second header is not skipped: the frame is layer 2 (as an unknown EtherType).
  const frame f = eth(host_b, host_a, 0x8909, cat({cmd_eth(7, 0x8909), cmd_eth(8, 0x0800), inner_tcp_ip()}));
  const auto d = run(f);
  EXPECT_EQ(d.rec.l3, static_cast<std::uint8_t>(l3_type::other));
  EXPECT_EQ(d.rec.ethertype, 0x8909);
  const frame g = outer(ipproto::gre, gre(0x8909, cat({cmd_gre(7, 0x8909), cmd_gre(8, 0x0800), inner_tcp_ip()})));
  const auto e = run(g);
  EXPECT_EQ(e.an[anomaly::unsupported_gre], 1u);
  EXPECT_EQ(e.tunnel(), tunnel_type::none);
}

TEST(Decap, CdpInGreIsTheRoutersOwnPacket) {
  // A CDP PDU (GRE protocol 0x2000): no tunnel, no anomaly, the record is
  // the GRE packet, the payload offset at the PDU.
  {
    const auto d = run(outer(ipproto::gre, gre(0x2000, filler(40))));
    EXPECT_EQ(d.anomalies(), 0u);
    EXPECT_EQ(d.tunnel(), tunnel_type::none);
    EXPECT_EQ(d.rec.ip_proto, ipproto::gre);
    EXPECT_EQ(ip(d.rec.src_ip), "10.200.0.3");
    EXPECT_EQ(d.off.l4, 34u);
    EXPECT_EQ(d.off.payload, 38u);
  }
}
