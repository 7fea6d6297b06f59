// L2-L4 decoding: truncated and malformed input first, then each layer on
// hand-built frames whose fields are known.
#include <gtest/gtest.h>

#include <vector>

#include "common/net/decode.h"

using namespace tapsense::net;

namespace {
using frame = std::vector<std::uint8_t>;

frame hex(const char* s) {
  frame out;
  auto nib = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  for (const char* p = s; *p != 0;) {
    if (*p == ' ' || *p == '\n') { ++p; continue; }
    out.push_back(static_cast<std::uint8_t>(nib(p[0]) << 4 | nib(p[1])));
    p += 2;
  }
  return out;
}

// Ethernet + IPv4 + TCP SYN 10.0.0.1:49152 -> 93.184.216.34:80, ttl 128, MSS option.
const char* syn_hex =
    "005056c00008 000c29aabbcc 0800"
    "4500002c 1c46 4000 80 06 0000 0a000001 5db8d822"
    "c000 0050 00000001 00000000 6002 faf0 0000 0000"
    "020405b4";

struct decoded {
  packet_record rec;
  layer_offsets off;
  anomaly_counters an;
  bool ok;
};
decoded run(const frame& f, std::uint32_t wire = 0) {
  decoded d{};
  d.ok = decode_frame({f.data(), f.size()}, wire, d.rec, d.off, d.an);
  return d;
}
}  // namespace

TEST(Decode, EveryTruncationOfASynIsSafe) {
  const frame full = hex(syn_hex);
  for (std::size_t n = 0; n <= full.size(); ++n) {
    const frame cut(full.begin(), full.begin() + static_cast<long>(n));
    const auto d = run(cut);
    EXPECT_LE(d.off.end, n);
    EXPECT_LE(d.off.payload, n) << n;
    if (n < 14) {
      EXPECT_FALSE(d.ok);
      EXPECT_EQ(d.an[anomaly::truncated_ethernet], 1u);
    } else if (n < 34) {
      EXPECT_EQ(d.an[anomaly::truncated_ipv4], 1u) << n;
    } else if (n < 54) {
      EXPECT_EQ(d.an[anomaly::truncated_tcp], 1u) << n;
      EXPECT_EQ(d.rec.src_ip.to_string(), "10.0.0.1");
      // The IP header tells the real frame size even when the capture cut it.
      EXPECT_EQ(d.rec.wire_len, 58u);
    }
  }
}

TEST(Decode, BadIpv4HeaderLengthIsNamed) {
  frame f = hex(syn_hex);
  f[14] = 0x44;  // IHL 4 words = 16 bytes < 20
  const auto d = run(f);
  EXPECT_EQ(d.an[anomaly::bad_ipv4_header_length], 1u);
  EXPECT_EQ(d.rec.flags & pktflag::has_ports, 0);
}

TEST(Decode, TcpDataOffsetPastTheEndIsNamed) {
  frame f = hex(syn_hex);
  f[14 + 20 + 12] = 0xf0;  // 60-byte TCP header in a 24-byte segment
  const auto d = run(f);
  EXPECT_EQ(d.an[anomaly::bad_tcp_header_length], 1u);
  EXPECT_EQ(d.rec.src_port, 49152);  // ports came before the problem
}

TEST(Decode, TcpSyn) {
  const auto d = run(hex(syn_hex));
  ASSERT_TRUE(d.ok);
  EXPECT_EQ(d.rec.l3, static_cast<std::uint8_t>(l3_type::ipv4));
  EXPECT_EQ(d.rec.src_mac.to_string(), "00:0c:29:aa:bb:cc");
  EXPECT_EQ(d.rec.dst_mac.to_string(), "00:50:56:c0:00:08");
  EXPECT_EQ(d.rec.src_ip.to_string(), "10.0.0.1");
  EXPECT_EQ(d.rec.dst_ip.to_string(), "93.184.216.34");
  EXPECT_EQ(d.rec.src_port, 49152);
  EXPECT_EQ(d.rec.dst_port, 80);
  EXPECT_EQ(d.rec.ip_proto, ipproto::tcp);
  EXPECT_EQ(d.rec.ttl, 128);
  EXPECT_EQ(d.rec.tcp_flags, tcpflag::syn);
  EXPECT_EQ(d.rec.tcp_window, 64240);
  EXPECT_EQ(d.rec.l4_payload, 0);
  EXPECT_EQ(d.rec.wire_len, 58u);
  EXPECT_EQ(d.off.l3, 14);
  EXPECT_EQ(d.off.l4, 34);
  EXPECT_EQ(d.off.payload, 58);
  EXPECT_EQ(d.rec.ethertype, 0x0800);
}

TEST(Decode, EthernetPaddingIsNotPayload) {
  frame f = hex(syn_hex);
  f.resize(64, 0);  // padded by a switch
  const auto d = run(f);
  EXPECT_EQ(d.off.end, 58);
  EXPECT_EQ(d.rec.wire_len, 64u);  // the frame on the wire includes the padding
}

TEST(Decode, OriginalLengthFromTheSourceWins) {
  const auto d = run(hex(syn_hex), 62);  // e.g. FCS counted by the capture
  EXPECT_EQ(d.rec.wire_len, 62u);
}

TEST(Decode, QinQAndVlan) {
  // 0x88a8 outer (vid 100), 0x8100 inner (vid 200), then IPv4/UDP.
  const frame f = hex(
      "ffffffffffff 001122334455 88a8 0064 8100 00c8 0800"
      "4500001c 0000 0000 40 11 0000 c0a80001 c0a800ff"
      "0089 0089 0008 0000");
  const auto d = run(f);
  EXPECT_EQ(d.rec.vlan_count, 2);
  EXPECT_EQ(d.rec.vlan[0], 100);
  EXPECT_EQ(d.rec.vlan[1], 200);
  EXPECT_EQ(d.rec.ip_proto, ipproto::udp);
  EXPECT_EQ(d.rec.src_port, 137);
  EXPECT_EQ(d.off.l3, 22);
}

TEST(Decode, VlanDepthIsCapped) {
  frame f = hex("ffffffffffff 001122334455");
  for (int i = 0; i < 6; ++i) {
    f.push_back(0x81);
    f.push_back(0x00);
    f.push_back(0x00);
    f.push_back(0x01);
  }
  f.push_back(0x08);
  f.push_back(0x00);
  const auto d = run(f);
  EXPECT_EQ(d.an[anomaly::vlan_depth_exceeded], 1u);
}

TEST(Decode, Arp) {
  const frame f = hex(
      "ffffffffffff 3c22fb000001 0806"
      "0001 0800 06 04 0001 3c22fb000001 c0a80a05 000000000000 c0a80a01");
  const auto d = run(f);
  EXPECT_EQ(d.rec.l3, static_cast<std::uint8_t>(l3_type::arp));
  EXPECT_TRUE(d.rec.flags & pktflag::arp_request);
  EXPECT_EQ(d.rec.src_ip.to_string(), "192.168.10.5");
  EXPECT_EQ(d.rec.dst_ip.to_string(), "192.168.10.1");
  EXPECT_EQ(d.rec.src_mac.to_string(), "3c:22:fb:00:00:01");
  const frame cut(f.begin(), f.begin() + 30);
  EXPECT_EQ(run(cut).an[anomaly::truncated_arp], 1u);
}

TEST(Decode, Ipv6WithHopByHopAndUdp) {
  const frame f = hex(
      "333300000001 001122334455 86dd"
      "60000000 0010 00 01 fe800000000000000000000000000001 ff020000000000000000000000000001"
      "11 00 0000 00000000"    // hop-by-hop, next header UDP, 8 bytes
      "14e9 14e9 0008 0000");  // UDP 5353 -> 5353
  const auto d = run(f);
  EXPECT_EQ(d.rec.l3, static_cast<std::uint8_t>(l3_type::ipv6));
  EXPECT_EQ(d.rec.ip_proto, ipproto::udp);
  EXPECT_EQ(d.rec.src_port, 5353);
  EXPECT_EQ(d.rec.ttl, 1);
  EXPECT_EQ(d.rec.src_ip.to_string(), "fe80::1");
  EXPECT_EQ(d.off.l4, 14 + 40 + 8);
}

TEST(Decode, Ipv4LaterFragmentHasNoPorts) {
  const frame f = hex(
      "005056c00008 000c29aabbcc 0800"
      "45000020 1c46 00b9 40 11 0000 0a000001 0a000002"
      "0102030405060708 090a0b0c");
  const auto d = run(f);
  EXPECT_TRUE(d.rec.flags & pktflag::fragment);
  EXPECT_TRUE(d.rec.flags & pktflag::later_fragment);
  EXPECT_FALSE(d.rec.flags & pktflag::has_ports);
  EXPECT_EQ(d.rec.ip_proto, ipproto::udp);
  EXPECT_EQ(d.rec.l4_payload, 12);
}

TEST(Decode, IcmpTypeAndCode) {
  const frame f = hex(
      "005056c00008 000c29aabbcc 0800"
      "45000020 0001 0000 40 01 0000 0a000001 08080808"
      "0800 0000 00010001 61626364");
  const auto d = run(f);
  EXPECT_EQ(d.rec.ip_proto, ipproto::icmp);
  EXPECT_EQ(d.rec.src_port, 8);  // echo request
  EXPECT_EQ(d.rec.l4_payload, 8);
}

TEST(Decode, FlowHashIsSymmetric) {
  frame f = hex(syn_hex);
  const auto a = run(f);
  // Swap MACs, IPs and ports: the reverse direction.
  frame r = f;
  std::swap_ranges(r.begin(), r.begin() + 6, r.begin() + 6);
  std::swap_ranges(r.begin() + 26, r.begin() + 30, r.begin() + 30);
  std::swap_ranges(r.begin() + 34, r.begin() + 36, r.begin() + 36);
  const auto b = run(r);
  EXPECT_EQ(b.rec.src_port, 80);
  EXPECT_EQ(a.rec.flow_hash, b.rec.flow_hash);
  // A different port gives a different hash (almost surely).
  frame o = f;
  o[35] ^= 1;
  EXPECT_NE(run(o).rec.flow_hash, a.rec.flow_hash);
}

TEST(Decode, UnknownEthertypeIsKept) {
  const auto d = run(hex("0180c200000e 001122334455 88cc 0207040011223344"));
  EXPECT_EQ(d.rec.l3, static_cast<std::uint8_t>(l3_type::other));
  EXPECT_EQ(d.rec.ethertype, 0x88cc);
}
