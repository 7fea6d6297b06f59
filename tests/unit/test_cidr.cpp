#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "common/net/cidr.h"

using namespace tapsense::net;

namespace {
ip_address ip(const char* s) { return *ip_address::parse(s); }
// A pseudo-random address (xorshift state x).
ip_address random_address(std::uint64_t& x) {
  ip_address a{};
  for (auto& byte : a.b) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    byte = static_cast<std::uint8_t>(x);
  }
  return a;
}
// The same, IPv4 (mapped).
ip_address random_v4_address(std::uint64_t& x) {
  const ip_address a = random_address(x);
  return ip_address::from_v4(a.b.data() + 12);
}
}  // namespace

TEST(IpRange, RejectsMalformed) {
  std::string why;
  EXPECT_FALSE(ip_range::parse("", &why));
  EXPECT_FALSE(ip_range::parse("10.0.0.0/33", &why));
  EXPECT_NE(why.find("0..32"), std::string::npos) << why;
  EXPECT_FALSE(ip_range::parse("10.1.2.3/8", &why));
  EXPECT_NE(why.find("10.0.0.0/8"), std::string::npos) << why;
  EXPECT_FALSE(ip_range::parse("10.0.0.9-10.0.0.1", &why));
  EXPECT_FALSE(ip_range::parse("10.0.0.1-::1", &why));
  EXPECT_FALSE(ip_range::parse("banana", &why));
  EXPECT_FALSE(ip_range::parse("10.0.0.0/", &why));
  EXPECT_FALSE(ip_range::parse("10.0.0.0/x", &why));
}

TEST(IpRange, ParsesEveryForm) {
  auto r = ip_range::parse("192.168.0.0/16");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first.to_string(), "192.168.0.0");
  EXPECT_EQ(r->last.to_string(), "192.168.255.255");
  r = ip_range::parse(" 10.0.0.5 - 10.0.0.9 ");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->contains(ip("10.0.0.7")));
  EXPECT_FALSE(r->contains(ip("10.0.0.10")));
  r = ip_range::parse("fc00::/7");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->contains(ip("fd12:3456::1")));
  EXPECT_FALSE(r->contains(ip("fe80::1")));
  r = ip_range::parse("0.0.0.0/0");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->contains(ip("255.255.255.255")));
  EXPECT_FALSE(r->contains(ip("::1")));  // IPv4 /0 is only the IPv4 space
  r = ip_range::parse("::/0");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->contains(ip("8.8.8.8")));  // mapped IPv4 lies inside ::/0
}

TEST(RangeMap, EarlierRangesWinOverlaps) {
  range_map<int> m;
  m.add(*ip_range::parse("10.1.0.0/16"), 1);
  m.add(*ip_range::parse("10.0.0.0/8"), 2);
  m.add(*ip_range::parse("192.168.1.10-192.168.1.20"), 3);
  m.build();
  EXPECT_EQ(*m.lookup(ip("10.1.2.3")), 1);
  EXPECT_EQ(*m.lookup(ip("10.0.0.1")), 2);
  EXPECT_EQ(*m.lookup(ip("10.2.0.1")), 2);
  EXPECT_EQ(*m.lookup(ip("10.255.255.255")), 2);
  EXPECT_EQ(m.lookup(ip("11.0.0.0")), nullptr);
  EXPECT_EQ(*m.lookup(ip("192.168.1.10")), 3);
  EXPECT_EQ(*m.lookup(ip("192.168.1.20")), 3);
  EXPECT_EQ(m.lookup(ip("192.168.1.21")), nullptr);
  EXPECT_EQ(m.lookup(ip("192.168.1.9")), nullptr);
  const auto ov = m.overlaps();
  ASSERT_EQ(ov.size(), 1u);
  EXPECT_EQ(ov[0], (std::pair<std::size_t, std::size_t>{0, 1}));
}

TEST(RangeMap, DefaultRanges) {
  cidr_set s;
  for (const char* r : {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"}) {
    s.add(*ip_range::parse(r), 1);
  }
  s.build();
  EXPECT_TRUE(s.contains(ip("172.31.255.255")));
  EXPECT_FALSE(s.contains(ip("172.32.0.0")));
  EXPECT_FALSE(s.contains(ip("8.8.8.8")));
  EXPECT_FALSE(s.contains(ip("::ffff:0:0")));
  EXPECT_TRUE(s.contains(ip("fdff::1")));
  EXPECT_FALSE(s.contains(ip("2001:db8::1")));
}

// lookup() compares addresses as two 64-bit numbers: it must answer as the
// ranges themselves do (ip_range::contains, byte-wise order, the first range
// added winning) for addresses at and around every edge, in both halves of
// the 128-bit space and with the top bit of each half set.
TEST(RangeMap, LookupAgreesWithTheRangesAtEveryEdge) {
  const char* ranges[] = {"10.0.0.0/8",       "10.1.0.0/16",     "192.168.1.10-192.168.1.20",
                          "0.0.0.0/32",       "255.255.255.255", "128.0.0.0/1",
                          "fc00::/7",         "fe80::/10",       "2001:db8::-2001:db8::8000:0:0:0",
                          "ffff:ffff::/32",   "::/128",          "8000::/1"};
  range_map<int> m;
  std::vector<ip_range> rs;
  for (const char* r : ranges) {
    auto p = ip_range::parse(r);
    ASSERT_TRUE(p) << r;
    m.add(*p, static_cast<int>(rs.size()));
    rs.push_back(*p);
  }
  m.build();
  auto expected = [&](const ip_address& a) -> const int* {
    static int found;
    for (std::size_t i = 0; i < rs.size(); ++i) {
      if (rs[i].contains(a)) {
        found = static_cast<int>(i);
        return &found;
      }
    }
    return nullptr;
  };
  std::vector<ip_address> probes;
  for (const auto& r : rs) {
    for (const auto& edge : {r.first, r.last}) {
      probes.push_back(edge);
      probes.push_back(detail::next_address(edge));
      probes.push_back(detail::prev_address(edge));
    }
  }
  std::uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (int i = 0; i < 2000; ++i) {
    probes.push_back(i % 2 == 0 ? random_v4_address(x) : random_address(x));
  }
  for (const auto& a : probes) {
    const int* want = expected(a);
    const int* got = m.lookup(a);
    ASSERT_EQ(got == nullptr, want == nullptr) << a.to_string();
    if (got != nullptr) {
      EXPECT_EQ(*got, *want) << a.to_string();
    }
  }
}

// ip_address compares on its two 64-bit halves: the order and equality must
// be the byte-wise ones (std::lexicographical_compare over the 16 bytes),
// for addresses that differ in any byte, including the top bit of a half.
TEST(IpAddress, OrderIsTheByteWiseOrder) {
  std::vector<ip_address> as;
  std::uint64_t x = 0x2545f4914f6cdd1dULL;
  for (int i = 0; i < 300; ++i) {
    const ip_address a = random_address(x);
    as.push_back(a);
    // The same with one byte changed, anywhere, and with a top bit set.
    ip_address b = a;
    b.b[static_cast<std::size_t>(i % 16)] ^= 0x80;
    as.push_back(b);
    ip_address c = a;
    c.b[static_cast<std::size_t>(i % 16)] ^= 0x01;
    as.push_back(c);
  }
  as.push_back(ip("::"));
  as.push_back(ip("10.0.0.1"));
  as.push_back(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
  for (const auto& a : as) {
    for (const auto& b : {as[0], as[1], as[2], as[as.size() - 1], as[as.size() - 2], a}) {
      const bool less = std::lexicographical_compare(a.b.begin(), a.b.end(), b.b.begin(), b.b.end());
      const bool same = a.b == b.b;
      EXPECT_EQ(a < b, less) << a.to_string() << " " << b.to_string();
      EXPECT_EQ(a == b, same) << a.to_string() << " " << b.to_string();
      EXPECT_EQ((a <=> b) == 0, same);
      EXPECT_EQ(a > b, !less && !same);
    }
  }
  for (std::size_t i = 1; i < as.size(); ++i) {
    const auto& a = as[i - 1];
    const auto& b = as[i];
    EXPECT_EQ(a < b, std::lexicographical_compare(a.b.begin(), a.b.end(), b.b.begin(), b.b.end()));
  }
}

// IPv4 addresses are written by hand, not by inet_ntop: the same text for
// every value of each octet (one, two and three digits) and at random.
TEST(IpAddress, Ipv4TextIsInetNtops) {
  auto ntop = [](const ip_address& a) {
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, a.b.data() + 12, buf, sizeof buf);
    return std::string(buf);
  };
  std::uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (unsigned v = 0; v < 256; ++v) {
    for (std::size_t at = 0; at < 4; ++at) {
      std::uint8_t raw[4] = {10, 0, 200, 99};
      raw[at] = static_cast<std::uint8_t>(v);
      const ip_address a = ip_address::from_v4(raw);
      ASSERT_EQ(a.to_string(), ntop(a)) << v << " at " << at;
    }
    const ip_address a = random_v4_address(x);
    ASSERT_EQ(a.to_string(), ntop(a));
    EXPECT_EQ(ip_address::parse(a.to_string()), a);
  }
  EXPECT_EQ(ip("0.0.0.0").to_string(), "0.0.0.0");
  EXPECT_EQ(ip("255.255.255.255").to_string(), "255.255.255.255");
  EXPECT_EQ(ip("2001:db8::1").to_string(), "2001:db8::1");
}
