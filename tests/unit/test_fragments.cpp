// Fragment tracker and reassembler on hand-built fragments: the bad cases
// first (overlaps, inconsistent repeats, limits, timeouts, garbage), then the
// normal ones.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "common/net/decode.h"
#include "common/net/fragments.h"
#include "tests/unit/test_decap_support.h"

using namespace tapsense::net;
using namespace decap_test;

namespace {

constexpr std::uint64_t sec = 1'000'000'000ULL;
constexpr std::uint64_t host_a = 0x3c22fb000001;
constexpr std::uint64_t host_b = 0x001b21000002;

// An IPv4 fragment of a UDP datagram: `datagram` is the whole IP payload
// (UDP header + data); [begin, end) of it goes into this fragment.
frame v4_fragment(const frame& datagram, std::size_t begin, std::size_t end, std::uint16_t id = 0x4242,
                  const char* src = "10.0.0.1", const char* dst = "10.0.0.2") {
  const bool more = end < datagram.size();
  const frame part(datagram.begin() + static_cast<std::ptrdiff_t>(begin),
                   datagram.begin() + static_cast<std::ptrdiff_t>(end));
  ipv4_opts o;
  o.id = id;
  o.frag = static_cast<std::uint16_t>((more ? 0x2000u : 0u) | (begin / 8));
  return ipv4(src, dst, ipproto::udp, part, o);
}
frame v6_fragment(const frame& datagram, std::size_t begin, std::size_t end, std::uint32_t id = 0x01020304,
                  bool dest_opts = false) {
  const bool more = end < datagram.size();
  const frame part(datagram.begin() + static_cast<std::ptrdiff_t>(begin),
                   datagram.begin() + static_cast<std::ptrdiff_t>(end));
  return ipv6("2001:db8::1", "2001:db8::2", 44,
              ipv6_frag(dest_opts ? 60 : ipproto::udp, static_cast<unsigned>(begin), more, id, part));
}
// A UDP datagram of `n` data bytes from 5353 to 5353.
frame datagram(std::size_t n, std::uint8_t seed = 0x41) { return udp(5353, 5353, filler(n, seed)); }

bytes view(const frame& f) { return {f.data(), f.size()}; }

struct tracked {
  packet_record rec{};
  fragment_info frag{};
};
tracked decode(const frame& f, std::uint64_t ts) {
  tracked t;
  layer_offsets off;
  anomaly_counters an;
  decode_frame(view(f), 0, t.rec, off, t.frag, an);
  t.rec.ts_ns = ts;
  return t;
}

}  // namespace

// ---------------------------------------------------------------------------
// Reassembler: what must not be reassembled

TEST(Reassembler, PartialOverlapDropsTheDatagram) {
  reassembler r;
  const frame d = datagram(200);
  EXPECT_EQ(r.add(view(v4_fragment(d, 0, 96)), sec).status, reassembly_status::held);
  // [64, 208) overlaps [0, 96): ambiguous, whatever the bytes say.
  EXPECT_EQ(r.add(view(v4_fragment(d, 64, 208)), sec).status, reassembly_status::dropped);
  EXPECT_EQ(r.counters().overlaps, 1u);
  EXPECT_EQ(r.datagrams_held(), 0u);
  EXPECT_EQ(r.bytes_held(), 0u);
}

TEST(Reassembler, RepeatWithOtherBytesDropsTheDatagram) {
  reassembler r;
  const frame d = datagram(200);
  frame other = d;
  other[20] ^= 0xff;
  r.add(view(v4_fragment(d, 0, 96)), sec);
  EXPECT_EQ(r.add(view(v4_fragment(other, 0, 96)), sec).status, reassembly_status::dropped);
  EXPECT_EQ(r.counters().inconsistent, 1u);
}

TEST(Reassembler, ExactDuplicateIsIgnored) {
  reassembler r;
  const frame d = datagram(200);
  r.add(view(v4_fragment(d, 0, 96)), sec);
  EXPECT_EQ(r.add(view(v4_fragment(d, 0, 96)), sec).status, reassembly_status::held);
  EXPECT_EQ(r.counters().duplicates, 1u);
  const auto done = r.add(view(v4_fragment(d, 96, d.size())), sec);
  ASSERT_EQ(done.status, reassembly_status::complete);
  EXPECT_TRUE(std::equal(done.payload.begin(), done.payload.end(), d.begin(), d.end()));
}

TEST(Reassembler, EndsThatDisagreeDropTheDatagram) {
  const frame d = datagram(200);
  {
    reassembler r;  // two last fragments with different ends
    r.add(view(v4_fragment(d, 96, d.size())), sec);
    const frame shorter(d.begin(), d.begin() + 160);
    EXPECT_EQ(r.add(view(v4_fragment(shorter, 104, 160)), sec).status, reassembly_status::dropped);
    EXPECT_EQ(r.counters().inconsistent, 1u);
  }
  {
    reassembler r;  // data past the end the last fragment told
    r.add(view(v4_fragment(d, 0, 48)), sec);
    r.add(view(v4_fragment(d, 96, 160)), sec);
    const frame shorter(d.begin(), d.begin() + 56);
    EXPECT_EQ(r.add(view(v4_fragment(shorter, 48, 56)), sec).status, reassembly_status::dropped);
    EXPECT_EQ(r.counters().inconsistent, 1u);
  }
  {
    reassembler r;  // a fragment past the known end
    r.add(view(v4_fragment(d, 96, d.size())), sec);
    frame longer = datagram(400);
    EXPECT_EQ(r.add(view(v4_fragment(longer, 208, 304)), sec).status, reassembly_status::dropped);
    EXPECT_EQ(r.counters().inconsistent, 1u);
  }
}

TEST(Reassembler, TooBigIsDropped) {
  reassembly_options o;
  o.max_datagram_bytes = 1024;
  reassembler r(o);
  const frame d = datagram(2000);
  EXPECT_EQ(r.add(view(v4_fragment(d, 0, 512)), sec).status, reassembly_status::held);
  EXPECT_EQ(r.add(view(v4_fragment(d, 1000, 1504)), sec).status, reassembly_status::dropped);
  EXPECT_EQ(r.counters().too_big, 1u);
  // The largest IPv4 offset with a full-size fragment, under default limits.
  reassembler big;
  frame last = ipv4("10.0.0.1", "10.0.0.2", ipproto::udp, filler(1400), {.frag = 0x1fff});
  EXPECT_EQ(big.add(view(last), sec).status, reassembly_status::dropped);
  EXPECT_EQ(big.counters().too_big, 1u);
}

TEST(Reassembler, TooManyFragmentsIsDropped) {
  reassembly_options o;
  o.max_fragments = 4;
  reassembler r(o);
  const frame d = datagram(200);
  reassembly_status last = reassembly_status::held;
  for (std::size_t b = 0; b < 200; b += 16) {  // 8-byte fragments with gaps
    last = r.add(view(v4_fragment(d, b, b + 8)), sec).status;
  }
  EXPECT_EQ(last, reassembly_status::held);  // a new datagram started after the drop
  EXPECT_GE(r.counters().too_many_fragments, 1u);
}

TEST(Reassembler, TimeoutByPacketTime) {
  reassembler r;
  const frame d = datagram(200);
  r.add(view(v4_fragment(d, 0, 96)), 100 * sec);
  EXPECT_EQ(r.datagrams_held(), 1u);
  // The rest comes 31 s later: the first part is gone.
  EXPECT_EQ(r.add(view(v4_fragment(d, 96, d.size())), 131 * sec).status, reassembly_status::held);
  EXPECT_EQ(r.counters().timed_out, 1u);
  r.expire(200 * sec);
  EXPECT_EQ(r.datagrams_held(), 0u);
  EXPECT_EQ(r.counters().timed_out, 2u);
  // Time that steps back does not expire anything.
  r.add(view(v4_fragment(d, 0, 96)), 300 * sec);
  r.expire(299 * sec);
  EXPECT_EQ(r.datagrams_held(), 1u);
}

TEST(Reassembler, DatagramSlotsAreBounded) {
  reassembly_options o;
  o.max_datagrams = 2;
  reassembler r(o);
  const frame d = datagram(200);
  r.add(view(v4_fragment(d, 0, 96, 1)), 1 * sec);
  r.add(view(v4_fragment(d, 0, 96, 2)), 2 * sec);
  r.add(view(v4_fragment(d, 0, 96, 3)), 3 * sec);  // evicts id 1, the oldest
  EXPECT_EQ(r.counters().evicted, 1u);
  EXPECT_EQ(r.datagrams_held(), 2u);
  EXPECT_EQ(r.add(view(v4_fragment(d, 96, d.size(), 1)), 4 * sec).status, reassembly_status::held);
  EXPECT_EQ(r.add(view(v4_fragment(d, 96, d.size(), 3)), 4 * sec).status, reassembly_status::complete);
}

TEST(Reassembler, BufferMemoryIsBounded) {
  reassembly_options o;
  o.max_total_bytes = 8 * 1024;  // four 2 KiB chunks
  reassembler r(o);
  const frame d = datagram(6000);
  for (std::uint16_t id = 1; id <= 5; ++id) {
    r.add(view(v4_fragment(d, 0, 2048, id)), id * sec);
    EXPECT_LE(r.bytes_held(), o.max_total_bytes);
  }
  EXPECT_GE(r.counters().evicted, 1u);
  // One datagram larger than all the memory: it gives up, leaving nothing.
  reassembler small(o);
  const frame huge = datagram(9000);
  small.add(view(v4_fragment(huge, 0, 4096, 9)), sec);
  EXPECT_EQ(small.add(view(v4_fragment(huge, 4096, huge.size(), 9)), sec).status, reassembly_status::dropped);
  EXPECT_EQ(small.bytes_held(), 0u);
}

TEST(Reassembler, MalformedAndTruncatedInput) {
  reassembler r;
  EXPECT_EQ(r.add({}, sec).status, reassembly_status::malformed);
  const frame junk = filler(30, 0x10);
  EXPECT_EQ(r.add(view(junk), sec).status, reassembly_status::malformed);
  const frame d = datagram(200);
  // A non-last fragment whose length is not a multiple of 8.
  frame odd = v4_fragment(d, 0, 96);
  odd.resize(odd.size() - 3);
  odd[3] = static_cast<std::uint8_t>(odd[3] - 3);
  EXPECT_EQ(r.add(view(odd), sec).status, reassembly_status::malformed);
  // Cut short by the capture: the IP length says more than there is.
  frame cut = v4_fragment(d, 0, 96);
  cut.resize(60);
  EXPECT_EQ(r.add(view(cut), sec).status, reassembly_status::malformed);
  EXPECT_EQ(r.counters().truncated, 1u);
  // Every prefix of valid fragments is safe.
  const frame v6 = v6_fragment(d, 0, 96);
  for (std::size_t n = 0; n < v6.size(); ++n) {
    r.add({v6.data(), n}, sec);
  }
  EXPECT_EQ(r.datagrams_held(), 0u);
}

// ---------------------------------------------------------------------------
// Reassembler: the normal cases

TEST(Reassembler, NotAFragment) {
  reassembler r;
  const frame p = ipv4("10.0.0.1", "10.0.0.2", ipproto::udp, datagram(20));
  const auto x = r.add(view(p), sec);
  EXPECT_EQ(x.status, reassembly_status::not_fragment);
  EXPECT_EQ(x.payload.size(), 28u);
  EXPECT_EQ(x.proto, ipproto::udp);
  // An IPv6 atomic fragment (offset 0, no more) is already whole.
  const frame atomic = ipv6("2001:db8::1", "2001:db8::2", 44, ipv6_frag(ipproto::udp, 0, false, 9, datagram(20)));
  const auto y = r.add(view(atomic), sec);
  EXPECT_EQ(y.status, reassembly_status::not_fragment);
  EXPECT_EQ(y.payload.size(), 28u);
  EXPECT_EQ(r.counters().fragments, 0u);
}

TEST(Reassembler, Ipv4InAnyOrder) {
  const frame d = datagram(3000);
  std::vector<std::pair<std::size_t, std::size_t>> parts;
  for (std::size_t b = 0; b < d.size(); b += 1480) {
    parts.emplace_back(b, std::min(b + 1480, d.size()));
  }
  std::mt19937 rng(7);
  for (int round = 0; round < 10; ++round) {
    std::shuffle(parts.begin(), parts.end(), rng);
    reassembler r;
    reassembled_datagram last;
    for (const auto& [b, e] : parts) {
      last = r.add(view(v4_fragment(d, b, e, 77, "192.168.1.7", "224.0.0.251")), sec);
    }
    ASSERT_EQ(last.status, reassembly_status::complete);
    EXPECT_EQ(last.family, 4);
    EXPECT_EQ(last.proto, ipproto::udp);
    EXPECT_EQ(last.id, 77u);
    EXPECT_EQ(last.src.to_string(), "192.168.1.7");
    EXPECT_EQ(last.dst.to_string(), "224.0.0.251");
    EXPECT_TRUE(std::equal(last.payload.begin(), last.payload.end(), d.begin(), d.end()));
    EXPECT_EQ(r.datagrams_held(), 0u);
    EXPECT_EQ(r.bytes_held(), 0u);
    EXPECT_EQ(r.counters().completed, 1u);
  }
}

TEST(Reassembler, Ipv6WithDestinationOptionsAfterTheFragmentHeader) {
  // The fragmentable part starts with destination options, then UDP.
  const frame inner = cat({frame{ipproto::udp, 0, 1, 4, 0, 0, 0, 0}, datagram(1500)});
  reassembler r;
  r.add(view(v6_fragment(inner, 0, 1232, 5, true)), sec);
  const auto done = r.add(view(v6_fragment(inner, 1232, inner.size(), 5, true)), sec);
  ASSERT_EQ(done.status, reassembly_status::complete);
  EXPECT_EQ(done.family, 6);
  EXPECT_EQ(done.id, 5u);
  EXPECT_EQ(done.proto, ipproto::udp);
  EXPECT_EQ(done.payload.size(), 1508u);
  EXPECT_EQ(load_be16(done.payload.data() + 4), 1508);  // the UDP length
}

TEST(Reassembler, InterleavedDatagrams) {
  reassembler r;
  const frame a = datagram(2000, 0x41);
  const frame b = datagram(2000, 0x61);
  r.add(view(v4_fragment(a, 0, 1000, 1)), sec);
  r.add(view(v4_fragment(b, 1000, b.size(), 2)), sec);
  r.add(view(v4_fragment(b, 0, 1000, 2)), sec);
  r.add(view(v4_fragment(a, 1000, a.size(), 1)), sec);
  EXPECT_EQ(r.counters().completed, 2u);
}

// ---------------------------------------------------------------------------
// Tracker

TEST(FragmentTracker, LaterFragmentBeforeTheFirstStaysUnattributed) {
  fragment_tracker t;
  const frame d = datagram(3000);
  auto later = decode(eth(host_b, host_a, 0x0800, v4_fragment(d, 1480, 2960)), sec);
  const auto before = later.rec;
  t.on_packet(later.rec, later.frag);
  EXPECT_EQ(t.counters().unattributed, 1u);
  EXPECT_EQ(std::memcmp(&later.rec, &before, sizeof before), 0);
}

TEST(FragmentTracker, LaterFragmentsGetTheFlowOfTheFirst) {
  fragment_tracker t;
  const frame d = datagram(3000);
  auto first = decode(eth(host_b, host_a, 0x0800, v4_fragment(d, 0, 1480)), sec);
  auto mid = decode(eth(host_b, host_a, 0x0800, v4_fragment(d, 1480, 2960)), sec + 1000);
  auto last = decode(eth(host_b, host_a, 0x0800, v4_fragment(d, 2960, d.size())), sec + 2000);
  t.on_packet(first.rec, first.frag);
  EXPECT_EQ(t.counters().tracked, 1u);
  EXPECT_FALSE(mid.rec.flags & pktflag::has_ports);
  EXPECT_NE(mid.rec.flow_hash, first.rec.flow_hash);
  for (auto* p : {&mid, &last}) {
    t.on_packet(p->rec, p->frag);
    EXPECT_TRUE(p->rec.flags & pktflag::has_ports);
    EXPECT_TRUE(p->rec.flags & pktflag::later_fragment);
    EXPECT_EQ(p->rec.src_port, 5353);
    EXPECT_EQ(p->rec.dst_port, 5353);
    EXPECT_EQ(p->rec.flow_hash, first.rec.flow_hash);
    EXPECT_EQ(p->rec.flow_hash, symmetric_flow_hash(p->rec));
  }
  EXPECT_EQ(t.counters().attributed, 2u);
}

TEST(FragmentTracker, EntriesExpireByPacketTime) {
  fragment_tracker t;
  const frame d = datagram(3000);
  auto first = decode(eth(host_b, host_a, 0x0800, v4_fragment(d, 0, 1480)), 10 * sec);
  auto late = decode(eth(host_b, host_a, 0x0800, v4_fragment(d, 1480, 2960)), 41 * sec);
  t.on_packet(first.rec, first.frag);
  t.on_packet(late.rec, late.frag);
  EXPECT_EQ(t.counters().unattributed, 1u);
  EXPECT_FALSE(late.rec.flags & pktflag::has_ports);
}

TEST(FragmentTracker, Ipv6ByFragmentIdentification) {
  fragment_tracker t;
  const frame d = datagram(2000);
  auto first = decode(eth(host_b, host_a, 0x86dd, v6_fragment(d, 0, 1232, 0xabcdef01)), sec);
  auto other_id = decode(eth(host_b, host_a, 0x86dd, v6_fragment(d, 1232, d.size(), 0xabcdef02)), sec);
  auto later = decode(eth(host_b, host_a, 0x86dd, v6_fragment(d, 1232, d.size(), 0xabcdef01)), sec);
  t.on_packet(first.rec, first.frag);
  t.on_packet(other_id.rec, other_id.frag);
  t.on_packet(later.rec, later.frag);
  EXPECT_EQ(t.counters().unattributed, 1u);
  EXPECT_EQ(t.counters().attributed, 1u);
  EXPECT_EQ(later.rec.dst_port, 5353);
  EXPECT_EQ(later.rec.flow_hash, first.rec.flow_hash);
}

TEST(FragmentTracker, FragmentedTunnelPacketsGetTheInnerFlow) {
  // A mirrored 1400-byte TCP segment in GRE TEB, fragmented by the mirror's path.
  const frame inner = eth(host_b, host_a, 0x0800,
                          ipv4("192.168.10.5", "192.168.10.9", ipproto::tcp, tcp(51000, 443, tcpflag::ack, filler(1400))));
  const frame gre_payload = gre(0x6558, inner);
  auto piece = [&](std::size_t b, std::size_t e) {
    const bool more = e < gre_payload.size();
    return eth(0x02aaaaaaaa01, 0x02aaaaaaaa02, 0x0800,
               ipv4("10.200.0.3", "10.200.0.224", ipproto::gre,
                    frame(gre_payload.begin() + static_cast<std::ptrdiff_t>(b), gre_payload.begin() + static_cast<std::ptrdiff_t>(e)),
                    {.id = 0xe119, .frag = static_cast<std::uint16_t>((more ? 0x2000u : 0u) | (b / 8))}));
  };
  fragment_tracker t;
  auto first = decode(piece(0, 1000), sec);
  auto later = decode(piece(1000, gre_payload.size()), sec);
  EXPECT_EQ(first.rec.src_port, 51000);
  EXPECT_EQ(later.rec.ip_proto, ipproto::gre);
  EXPECT_EQ(later.rec.src_ip.to_string(), "10.200.0.3");
  t.on_packet(first.rec, first.frag);
  t.on_packet(later.rec, later.frag);
  EXPECT_EQ(t.counters().attributed, 1u);
  EXPECT_EQ(later.rec.src_ip.to_string(), "192.168.10.5");
  EXPECT_EQ(later.rec.dst_port, 443);
  EXPECT_EQ(later.rec.ip_proto, ipproto::tcp);
  EXPECT_EQ(later.rec.tunnel, static_cast<std::uint8_t>(tunnel_type::gre_teb));
  EXPECT_EQ(later.rec.tunnel_src.to_string(), "10.200.0.3");
  EXPECT_EQ(later.rec.src_mac.to_string(), mac_address::from_u64(host_a).to_string());
  EXPECT_EQ(later.rec.flow_hash, first.rec.flow_hash);
  EXPECT_EQ(later.rec.tcp_flags, 0);  // not the first fragment's flags
}

TEST(FragmentTracker, OnlyWhatLaterFragmentsWouldMissIsTracked) {
  fragment_tracker t;
  // A fragmented ICMP echo: the later fragments already tell the whole flow.
  frame icmp = icmp_echo(filler(3000));
  frame part(icmp.begin(), icmp.begin() + 1480);
  auto first = decode(eth(host_b, host_a, 0x0800, ipv4("10.0.0.1", "10.0.0.2", ipproto::icmp, part, {.frag = 0x2000})), sec);
  t.on_packet(first.rec, first.frag);
  EXPECT_EQ(t.counters().tracked, 0u);
  // Not a fragment at all: nothing happens.
  auto plain = decode(eth(host_b, host_a, 0x0800, ipv4("10.0.0.1", "10.0.0.2", ipproto::udp, datagram(10))), sec);
  t.on_packet(plain.rec, plain.frag);
  EXPECT_EQ(t.counters().tracked + t.counters().attributed + t.counters().unattributed, 0u);
}

TEST(FragmentTracker, FullSetsEvictTheOldest) {
  fragment_tracker_options o;
  o.entries = 4;  // a single 4-way set
  fragment_tracker t(o);
  ASSERT_EQ(t.capacity(), 4u);
  const frame d = datagram(3000);
  std::vector<tracked> later;
  for (std::uint16_t id = 1; id <= 5; ++id) {
    auto first = decode(eth(host_b, host_a, 0x0800, v4_fragment(d, 0, 1480, id)), id * sec);
    t.on_packet(first.rec, first.frag);
    later.push_back(decode(eth(host_b, host_a, 0x0800, v4_fragment(d, 1480, 2960, id)), 6 * sec));
  }
  EXPECT_EQ(t.counters().evicted, 1u);
  for (auto& l : later) {
    t.on_packet(l.rec, l.frag);
  }
  EXPECT_EQ(t.counters().attributed, 4u);
  EXPECT_EQ(t.counters().unattributed, 1u);
  EXPECT_FALSE(later[0].rec.flags & pktflag::has_ports);  // id 1 was the oldest
}

TEST(FragmentTracker, AnIdThatComesRoundAgainIsANewDatagram) {
  fragment_tracker t;
  const frame a = udp(1000, 53, filler(3000));
  const frame b = udp(2000, 53, filler(3000));
  auto first_a = decode(eth(host_b, host_a, 0x0800, v4_fragment(a, 0, 1480, 9)), sec);
  auto first_b = decode(eth(host_b, host_a, 0x0800, v4_fragment(b, 0, 1480, 9)), 2 * sec);
  auto later_b = decode(eth(host_b, host_a, 0x0800, v4_fragment(b, 1480, 2960, 9)), 2 * sec);
  t.on_packet(first_a.rec, first_a.frag);
  t.on_packet(first_b.rec, first_b.frag);
  t.on_packet(later_b.rec, later_b.frag);
  EXPECT_EQ(later_b.rec.src_port, 2000);
  EXPECT_EQ(t.counters().evicted, 0u);
}
