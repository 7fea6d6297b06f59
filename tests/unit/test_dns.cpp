// DNS / mDNS / LLMNR parser: broken input first (every truncation of a
// valid message, compression pointer loops and forward pointers, long
// labels and names, counts that do not fit, bad rdata), then hand-built
// fixtures of each message kind with their facts, then agreement with
// tshark on the shared captures.
#include <gtest/gtest.h>

#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "common/proto/dns.h"
#include "tests/unit/test_names_capture.h"

using namespace tapsense;
using proto::dns_error;
using proto::dns_message;
using proto::parse_dns;
namespace dns_type = proto::dns_type;

namespace {

// ---------------------------------------------------------------------------
// Building messages by hand

class builder {
 public:
  builder& u8(unsigned v) {
    b.push_back(static_cast<std::uint8_t>(v));
    return *this;
  }
  builder& u16(unsigned v) { return u8(v >> 8).u8(v & 0xff); }
  builder& u32(std::uint32_t v) { return u16(v >> 16).u16(v & 0xffff); }
  builder& raw(std::string_view s) {
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  builder& header(unsigned id, unsigned flags, unsigned qd, unsigned an, unsigned ns, unsigned ar) {
    return u16(id).u16(flags).u16(qd).u16(an).u16(ns).u16(ar);
  }
  // Labels of `dotted` ("" = root), then a pointer to `ptr` or the root byte.
  builder& name(std::string_view dotted, int ptr = -1) {
    while (!dotted.empty()) {
      const auto dot = dotted.find('.');
      const std::string_view label = dotted.substr(0, dot);
      u8(static_cast<unsigned>(label.size())).raw(label);
      dotted = dot == std::string_view::npos ? std::string_view{} : dotted.substr(dot + 1);
    }
    return ptr >= 0 ? u16(0xc000u | static_cast<unsigned>(ptr)) : u8(0);
  }
  builder& question(std::string_view n, unsigned type, unsigned cls = 1, int ptr = -1) {
    return name(n, ptr).u16(type).u16(cls);
  }
  // Record header; the rdata follows, then end_rr() patches RDLENGTH.
  builder& rr(std::string_view n, unsigned type, std::uint32_t ttl, unsigned cls = 1, int ptr = -1) {
    name(n, ptr).u16(type).u16(cls).u32(ttl);
    rdlen_at_ = b.size();
    return u16(0);
  }
  builder& end_rr() {
    const std::size_t len = b.size() - rdlen_at_ - 2;
    b[rdlen_at_] = static_cast<std::uint8_t>(len >> 8);
    b[rdlen_at_ + 1] = static_cast<std::uint8_t>(len);
    return *this;
  }
  builder& a(std::string_view dotted_quad) {
    const auto ip = net::ip_address::parse(dotted_quad);
    EXPECT_TRUE(ip && ip->is_v4());
    for (int i = 12; i < 16; ++i) {
      u8(ip->b[static_cast<std::size_t>(i)]);
    }
    return *this;
  }
  builder& aaaa(std::string_view text) {
    const auto ip = net::ip_address::parse(text);
    EXPECT_TRUE(ip.has_value());
    for (auto x : ip->b) {
      u8(x);
    }
    return *this;
  }
  builder& txt(std::initializer_list<std::string_view> strings) {
    for (auto s : strings) {
      u8(static_cast<unsigned>(s.size())).raw(s);
    }
    return *this;
  }
  std::size_t here() const { return b.size(); }
  std::vector<std::uint8_t> b;

 private:
  std::size_t rdlen_at_ = 0;
};

// Messages stay alive for the whole run: dns_message views point into them.
const std::vector<std::uint8_t>& keep(std::vector<std::uint8_t> v) {
  static std::deque<std::vector<std::uint8_t>> store;
  return store.emplace_back(std::move(v));
}

// A unicast response exercising every decoded type and compression:
// www.example.com -> CNAME cdn.example.net -> A, AAAA; NS in authority; glue,
// MX, SRV and TXT in additional.
const std::vector<std::uint8_t>& unicast_response() {
  static const std::vector<std::uint8_t>& v = [] {
    builder m;
    m.header(0x1234, 0x8180, 1, 3, 1, 4);
    m.question("www.example.com", dns_type::a);  // name at 12
    m.rr("", dns_type::cname, 3600, 1, 12);
    const std::size_t cdn = m.here();
    m.name("cdn.example.net").end_rr();
    m.rr("", dns_type::a, 300, 1, static_cast<int>(cdn)).a("93.184.216.34").end_rr();
    m.rr("", dns_type::aaaa, 300, 1, static_cast<int>(cdn)).aaaa("2606:2800:220:1::1").end_rr();
    m.rr("", dns_type::ns, 86400, 1, static_cast<int>(cdn) + 4);  // example.net
    const std::size_t ns1 = m.here();
    m.name("ns1", static_cast<int>(cdn) + 4).end_rr();
    m.rr("", dns_type::a, 86400, 1, static_cast<int>(ns1)).a("192.0.2.53").end_rr();
    m.rr("", dns_type::mx, 600, 1, 16).u16(10).name("mail", 16).end_rr();  // example.com
    m.rr("_sip._udp", dns_type::srv, 600, 1, 16).u16(1).u16(5).u16(5060).name("sip", 16).end_rr();
    m.rr("", dns_type::txt, 600, 1, 16).txt({"v=spf1 -all", ""}).end_rr();
    return keep(std::move(m.b));
  }();
  return v;
}

std::string name_at(const dns_message& m, std::uint16_t off) { return proto::dns_name_at(m, off); }

struct test_sink : proto::fact_sink {
  void add(proto::fact f) override { facts.push_back(std::move(f)); }
  std::vector<proto::fact> facts;
  bool has(proto::subject about, std::string_view field, std::string_view value,
           std::string_view ip = {}) const {
    for (const auto& f : facts) {
      if (f.about == about && f.field == field && f.value == value &&
          (ip.empty() || f.ip.to_string() == ip)) {
        return true;
      }
    }
    return false;
  }
  std::string dump() const {
    std::string s;
    for (const auto& f : facts) {
      s += std::string(f.source) + "/" + std::string(f.field) + "=" + f.value + " about " +
           std::to_string(static_cast<int>(f.about)) + " " + f.ip.to_string() + "\n";
    }
    return s;
  }
};

proto::packet_view from(std::string_view src, std::string_view dst, std::uint16_t sport,
                        std::uint16_t dport) {
  proto::packet_view p;
  p.src_ip = *net::ip_address::parse(src);
  p.dst_ip = *net::ip_address::parse(dst);
  p.src_port = sport;
  p.dst_port = dport;
  p.ip_proto = 17;
  p.has_ip = true;
  return p;
}

using proto::subject;

// ---------------------------------------------------------------------------
// Broken input

TEST(Dns, ShortInputIsTruncatedHeader) {
  const auto& full = unicast_response();
  for (std::size_t len = 0; len < 12; ++len) {
    const std::vector<std::uint8_t> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(len));
    dns_message m;
    m.id = 7;
    EXPECT_EQ(parse_dns(cut, m), dns_error::truncated_header) << len;
    EXPECT_EQ(m.id, 0);
    EXPECT_EQ(m.record_len, 0);
  }
}

// Every cut of a valid message, in an exact-size buffer (the sanitizer
// build catches over-reads): the result names a truncation, and what was
// decoded is a prefix of the full parse.
TEST(Dns, EveryTruncationIsSafeAndKeepsAPrefix) {
  const auto& full = unicast_response();
  dns_message whole;
  ASSERT_EQ(parse_dns(full, whole), dns_error::none);
  ASSERT_EQ(whole.record_len, 8);
  for (std::size_t len = 12; len < full.size(); ++len) {
    const std::vector<std::uint8_t> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(len));
    dns_message m;
    const dns_error e = parse_dns(cut, m);
    EXPECT_TRUE(e == dns_error::truncated_name || e == dns_error::truncated_record ||
                e == dns_error::bad_pointer)
        << len << " " << proto::dns_error_name(e);
    ASSERT_LE(m.record_len, whole.record_len);
    for (std::size_t i = 0; i < m.record_len; ++i) {
      EXPECT_EQ(m.records[i].type, whole.records[i].type) << len;
      EXPECT_EQ(m.records[i].ttl, whole.records[i].ttl) << len;
      EXPECT_EQ(name_at(m, m.records[i].name_off), name_at(whole, whole.records[i].name_off));
    }
    test_sink sink;
    proto::dns_facts(m, from("192.0.2.1", "192.0.2.2", 53, 5000), sink);  // never crashes
  }
}

TEST(Dns, CompressionPointerLoopsAndForwardPointersAreRejected) {
  dns_message m;
  // Question name is a pointer to itself.
  builder self;
  self.header(1, 0, 1, 0, 0, 0).u16(0xc00c).u16(1).u16(1);
  EXPECT_EQ(parse_dns(keep(self.b), m), dns_error::bad_pointer);
  // Two pointers pointing at each other: 12 -> 14 is forward.
  builder pair;
  pair.header(1, 0, 1, 0, 0, 0).u16(0xc00e).u16(0xc00c).u16(1).u16(1);
  EXPECT_EQ(parse_dns(keep(pair.b), m), dns_error::bad_pointer);
  // A label then a pointer back into that same label run: a loop.
  builder inner;
  inner.header(1, 0, 1, 0, 0, 0).u8(1).raw("a").u16(0xc00c).u16(1).u16(1);
  EXPECT_EQ(parse_dns(keep(inner.b), m), dns_error::bad_pointer);
  // Pointer past the end of the message.
  builder past;
  past.header(1, 0, 1, 0, 0, 0).u16(0xc3ff).u16(1).u16(1);
  EXPECT_EQ(parse_dns(keep(past.b), m), dns_error::bad_pointer);
  // Half a pointer at the end.
  builder half;
  half.header(1, 0, 1, 0, 0, 0).u8(0xc0);
  EXPECT_EQ(parse_dns(keep(half.b), m), dns_error::truncated_name);
  // A chain of backward pointers is fine: 40 -> 30 -> 20 -> 12.
  builder chain;
  chain.header(1, 0x8000, 4, 0, 0, 0);
  chain.question("com", 1);                  // 12..20
  chain.question("example", 1, 1, 12);       // 21: example + ptr 12
  chain.question("www", 1, 1, 21);           // www + ptr 21
  const std::size_t third = 21 + 8 + 2 + 4;  // offset of "www"
  chain.question("x", 1, 1, static_cast<int>(third));
  ASSERT_EQ(parse_dns(keep(chain.b), m), dns_error::none);
  ASSERT_EQ(m.question_len, 4);
  EXPECT_EQ(name_at(m, m.questions[3].name_off), "x.www.example.com");
  // A pointer into the middle of an earlier name (a suffix) is fine too.
  builder suffix;
  suffix.header(1, 0, 2, 0, 0, 0).question("www.example.com", 1).question("mail", 1, 1, 16);
  ASSERT_EQ(parse_dns(keep(suffix.b), m), dns_error::none);
  EXPECT_EQ(name_at(m, m.questions[1].name_off), "mail.example.com");
}

TEST(Dns, LabelTypesAndNameLength) {
  dns_message m;
  for (unsigned bad : {0x40u, 0x7fu, 0x80u, 0xbfu}) {
    builder b;
    b.header(1, 0, 1, 0, 0, 0).u8(bad).raw(std::string(70, 'a')).u8(0).u16(1).u16(1);
    EXPECT_EQ(parse_dns(keep(b.b), m), dns_error::bad_label_type) << bad;
  }
  // 63 is the longest label.
  builder ok63;
  ok63.header(1, 0, 1, 0, 0, 0).question(std::string(63, 'a'), 1);
  EXPECT_EQ(parse_dns(keep(ok63.b), m), dns_error::none);
  // 4 labels of 63 = 4*64 + 1 = 257 octets: too long. 3 of 63 + 1 of 61:
  // 3*64 + 62 + 1 = 255, the maximum.
  const std::string l63(63, 'a');
  builder long_name;
  long_name.header(1, 0, 1, 0, 0, 0).question(l63 + "." + l63 + "." + l63 + "." + l63, 1);
  EXPECT_EQ(parse_dns(keep(long_name.b), m), dns_error::name_too_long);
  builder max_name;
  max_name.header(1, 0, 1, 0, 0, 0).question(l63 + "." + l63 + "." + l63 + "." + std::string(61, 'b'), 1);
  ASSERT_EQ(parse_dns(keep(max_name.b), m), dns_error::none);
  EXPECT_EQ(name_at(m, m.questions[0].name_off).size(), 253u);
  // Too long only through compression: each question adds 64 octets to the
  // previous name.
  builder grow;
  grow.header(1, 0, 5, 0, 0, 0).question(l63, 1);
  std::size_t prev = 12;
  for (int i = 0; i < 4; ++i) {
    const std::size_t at = grow.here();
    grow.question(l63, 1, 1, static_cast<int>(prev));
    prev = at;
  }
  EXPECT_EQ(parse_dns(keep(grow.b), m), dns_error::name_too_long);
  EXPECT_EQ(m.question_len, 3);  // 64, 128, 192 octets + root fit; 256 does not
}

TEST(Dns, CountsThatDoNotFit) {
  dns_message m;
  builder b;
  b.header(1, 0x8000, 65535, 65535, 65535, 65535).question("a.b", 1);
  EXPECT_EQ(parse_dns(keep(b.b), m), dns_error::truncated_name);
  EXPECT_EQ(m.question_len, 1);
  EXPECT_EQ(m.qdcount, 65535);
  // rdlength past the end.
  builder r;
  r.header(1, 0x8000, 0, 1, 0, 0).name("a").u16(1).u16(1).u32(5).u16(400).a("10.0.0.1");
  EXPECT_EQ(parse_dns(keep(r.b), m), dns_error::truncated_record);
  EXPECT_EQ(m.record_len, 0);
  // Record header cut.
  builder h;
  h.header(1, 0x8000, 0, 1, 0, 0).name("a").u16(1).u16(1);
  EXPECT_EQ(parse_dns(keep(h.b), m), dns_error::truncated_record);
}

TEST(Dns, BadRdataKeepsTheRecordAndGoesOn) {
  dns_message m;
  builder b;
  b.header(1, 0x8000, 0, 5, 0, 0);
  b.rr("a", dns_type::a, 1).u8(10).u8(0).u8(0).u8(1).u8(9).end_rr();  // 5 bytes
  b.rr("b", dns_type::aaaa, 1).a("10.0.0.2").end_rr();                 // 4 bytes
  b.rr("c", dns_type::cname, 1).u16(0xc0ff).end_rr();                  // forward pointer
  b.rr("d", dns_type::txt, 1).u8(9).raw("abc").end_rr();               // string past rdata
  b.rr("e", dns_type::a, 1).a("10.0.0.5").end_rr();
  EXPECT_EQ(parse_dns(keep(b.b), m), dns_error::bad_rdata);
  ASSERT_EQ(m.record_len, 5);
  for (int i = 0; i < 4; ++i) {
    EXPECT_FALSE(m.records[static_cast<std::size_t>(i)].rdata_ok) << i;
  }
  EXPECT_TRUE(m.records[4].rdata_ok);
  EXPECT_EQ(m.records[4].addr.to_string(), "10.0.0.5");
}

TEST(Dns, TooManyRecordsKeepsTheFirstOnes) {
  builder b;
  b.header(1, 0x8000, 0, 200, 0, 0);
  for (int i = 0; i < 200; ++i) {
    b.rr("h" + std::to_string(i), dns_type::a, static_cast<std::uint32_t>(i)).a("10.0.0.1").end_rr();
  }
  dns_message m;
  EXPECT_EQ(parse_dns(keep(b.b), m), dns_error::too_many_records);
  EXPECT_EQ(m.record_len, proto::dns_max_records);
  EXPECT_EQ(m.records[proto::dns_max_records - 1].ttl, proto::dns_max_records - 1);
}

TEST(Dns, RandomMutationsStayInBounds) {
  std::uint32_t state = 4242;
  auto rnd = [&state](std::uint32_t n) {
    state = state * 1664525u + 1013904223u;
    return (state >> 8) % n;
  };
  const auto& base = unicast_response();
  std::size_t errors = 0;
  for (int round = 0; round < 20000; ++round) {
    std::vector<std::uint8_t> v = base;
    for (std::uint32_t k = 0, n = 1 + rnd(6); k < n; ++k) {
      v[rnd(static_cast<std::uint32_t>(v.size()))] = static_cast<std::uint8_t>(rnd(3) == 0 ? 0xc0 : rnd(256));
    }
    if (rnd(2) == 0) {
      v.resize(rnd(static_cast<std::uint32_t>(v.size() + 1)));
    }
    v.shrink_to_fit();
    dns_message m;
    if (parse_dns(v, m) != dns_error::none) {
      ++errors;
    }
    for (const auto& rr : m.record_list()) {
      ASSERT_LE(std::size_t{rr.rdata_off} + rr.rdata_len, v.size());
      (void)name_at(m, rr.name_off);
      if (rr.rdata_ok && rr.type == dns_type::txt) {
        proto::dns_txt_reader r(m.rdata(rr));
        std::string_view s;
        while (r.next(s)) {
          ASSERT_GE(reinterpret_cast<const std::uint8_t*>(s.data()), v.data());
          ASSERT_LE(reinterpret_cast<const std::uint8_t*>(s.data() + s.size()), v.data() + v.size());
        }
      }
    }
    test_sink sink;
    proto::dns_facts(m, from("192.0.2.1", "192.0.2.2", 53, 5000), sink);
    proto::mdns_facts(m, from("192.0.2.1", "224.0.0.251", 5353, 5353), sink);
  }
  EXPECT_GT(errors, 0u);
}

TEST(Dns, ReverseNames) {
  EXPECT_EQ(proto::dns_reverse_address("34.216.184.93.in-addr.arpa")->to_string(), "93.184.216.34");
  EXPECT_EQ(proto::dns_reverse_address("1.0.0.127.IN-ADDR.ARPA")->to_string(), "127.0.0.1");
  EXPECT_EQ(proto::dns_reverse_address(
                "4.c.d.4.1.e.e.f.f.f.6.d.c.3.8.8.5.3.2.8.c.3.0.c.e.9.2.4.2.5.d.f.ip6.arpa")
                ->to_string(),
            "fd52:429e:c03c:8235:883c:d6ff:fee1:4dc4");
  for (const char* bad : {"216.184.93.in-addr.arpa", "1.2.3.4.5.in-addr.arpa", "256.1.1.1.in-addr.arpa",
                          "01.1.1.1.in-addr.arpa", "a.1.1.1.in-addr.arpa", ".1.1.1.in-addr.arpa",
                          "1.2.3.4.in-addr.arpa.evil", "1.ip6.arpa", "example.com", ""}) {
    EXPECT_FALSE(proto::dns_reverse_address(bad)) << bad;
  }
}

// ---------------------------------------------------------------------------
// Fixtures

TEST(Dns, UnicastResponseFields) {
  dns_message m;
  ASSERT_EQ(parse_dns(unicast_response(), m), dns_error::none);
  EXPECT_EQ(m.id, 0x1234);
  EXPECT_TRUE(m.is_response());
  EXPECT_EQ(m.rcode(), 0);
  ASSERT_EQ(m.question_len, 1);
  EXPECT_EQ(name_at(m, m.questions[0].name_off), "www.example.com");
  ASSERT_EQ(m.record_len, 8);
  const auto& r = m.records;
  EXPECT_EQ(r[0].type, dns_type::cname);
  EXPECT_EQ(name_at(m, r[0].name_off), "www.example.com");
  EXPECT_EQ(name_at(m, r[0].target_off), "cdn.example.net");
  EXPECT_EQ(r[0].ttl, 3600u);
  EXPECT_EQ(r[1].addr.to_string(), "93.184.216.34");
  EXPECT_EQ(name_at(m, r[1].name_off), "cdn.example.net");
  EXPECT_EQ(r[2].addr.to_string(), "2606:2800:220:1::1");
  EXPECT_EQ(r[3].section, proto::dns_section::authority);
  EXPECT_EQ(name_at(m, r[3].name_off), "example.net");
  EXPECT_EQ(name_at(m, r[3].target_off), "ns1.example.net");
  EXPECT_EQ(r[4].section, proto::dns_section::additional);
  EXPECT_EQ(r[5].type, dns_type::mx);
  EXPECT_EQ(r[5].priority, 10);
  EXPECT_EQ(name_at(m, r[5].target_off), "mail.example.com");
  EXPECT_EQ(r[6].type, dns_type::srv);
  EXPECT_EQ(name_at(m, r[6].name_off), "_sip._udp.example.com");
  EXPECT_EQ(r[6].priority, 1);
  EXPECT_EQ(r[6].weight, 5);
  EXPECT_EQ(r[6].port, 5060);
  EXPECT_EQ(name_at(m, r[6].target_off), "sip.example.com");
  ASSERT_TRUE(r[7].rdata_ok);
  proto::dns_txt_reader txt(m.rdata(r[7]));
  std::string_view s;
  ASSERT_TRUE(txt.next(s));
  EXPECT_EQ(s, "v=spf1 -all");
  ASSERT_TRUE(txt.next(s));
  EXPECT_EQ(s, "");
  EXPECT_FALSE(txt.next(s));
  EXPECT_FALSE(txt.malformed());
  EXPECT_TRUE(proto::dns_names_equal(m, r[1].name_off, r[0].target_off));
  EXPECT_FALSE(proto::dns_names_equal(m, r[0].name_off, r[0].target_off));
}

TEST(Dns, UnicastFactsFollowCnameChainsWithTtl) {
  dns_message m;
  ASSERT_EQ(parse_dns(unicast_response(), m), dns_error::none);
  test_sink sink;
  proto::dns_facts(m, from("192.0.2.53", "192.0.2.10", 53, 40000), sink);
  const char* v4 = "93.184.216.34";
  const char* v6 = "2606:2800:220:1::1";
  EXPECT_TRUE(sink.has(subject::ip, "dns_name", "cdn.example.net", v4)) << sink.dump();
  EXPECT_TRUE(sink.has(subject::ip, "dns_name", "www.example.com", v4));
  EXPECT_TRUE(sink.has(subject::ip, "dns_name_ttl", "cdn.example.net/300", v4));
  EXPECT_TRUE(sink.has(subject::ip, "dns_name_ttl", "www.example.com/300", v4));
  EXPECT_TRUE(sink.has(subject::ip, "dns_name", "www.example.com", v6));
  EXPECT_TRUE(sink.has(subject::ip, "dns_name", "ns1.example.net", "192.0.2.53"));
  EXPECT_FALSE(sink.has(subject::ip, "dns_name", "www.example.com", "192.0.2.53"));
  for (const auto& f : sink.facts) {
    EXPECT_EQ(f.source.str(), "dns");
  }
  EXPECT_EQ(sink.facts.size(), 10u) << sink.dump();
}

TEST(Dns, PtrAnswersNameTheEncodedAddress) {
  builder b;
  b.header(2, 0x8180, 1, 1, 0, 0).question("34.216.184.93.in-addr.arpa", dns_type::ptr);
  b.rr("", dns_type::ptr, 3600, 1, 12).name("host.example.com").end_rr();
  dns_message m;
  ASSERT_EQ(parse_dns(keep(b.b), m), dns_error::none);
  test_sink sink;
  proto::dns_facts(m, from("192.0.2.53", "192.0.2.10", 53, 40000), sink);
  ASSERT_EQ(sink.facts.size(), 1u) << sink.dump();
  EXPECT_TRUE(sink.has(subject::ip, "hostname", "host.example.com", "93.184.216.34"));
  EXPECT_EQ(sink.facts[0].confidence, 70);

  builder v6;
  v6.header(3, 0x8180, 0, 1, 0, 0);
  v6.rr("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", dns_type::ptr, 60)
      .name("v6host.example")
      .end_rr();
  ASSERT_EQ(parse_dns(keep(v6.b), m), dns_error::none);
  test_sink s6;
  proto::dns_facts(m, from("192.0.2.53", "192.0.2.10", 53, 40000), s6);
  EXPECT_TRUE(s6.has(subject::ip, "hostname", "v6host.example", "2001:db8::1")) << s6.dump();
}

TEST(Dns, QueriesNameWhatTheSenderLooksUp) {
  builder b;
  b.header(5, 0x0100, 1, 0, 0, 0).question("time.apple.com", dns_type::a);
  dns_message m;
  ASSERT_EQ(parse_dns(keep(b.b), m), dns_error::none);
  EXPECT_FALSE(m.is_response());
  test_sink sink;
  proto::dns_facts(m, from("192.168.1.20", "192.168.1.1", 5000, 53), sink);
  ASSERT_EQ(sink.facts.size(), 1u);
  EXPECT_TRUE(sink.has(subject::sender, "dns_query", "time.apple.com"));
}

// An Apple TV announcing itself: DNS-SD service enumeration, an AirPlay
// instance with SRV and TXT, its addresses and reverse mapping.
const std::vector<std::uint8_t>& mdns_announcement() {
  static const std::vector<std::uint8_t>& v = [] {
    builder m;
    m.header(0, 0x8400, 0, 7, 0, 0);
    m.rr("_services._dns-sd._udp.local", dns_type::ptr, 4500);  // name at 12; "local" at 35
    const std::size_t svc = m.here();
    m.name("_airplay._tcp", 35).end_rr();
    m.rr("", dns_type::ptr, 4500, 1, static_cast<int>(svc));
    const std::size_t inst = m.here();
    m.name("Kitchen TV", static_cast<int>(svc)).end_rr();
    m.rr("", dns_type::srv, 120, 0x8001, static_cast<int>(inst)).u16(0).u16(0).u16(7000);
    const std::size_t host = m.here();
    m.name("Apple-TV", 35).end_rr();
    m.rr("", dns_type::txt, 4500, 0x8001, static_cast<int>(inst))
        .txt({"model=AppleTV5,3", "osxvers=19", "srcvers=220.68", "features=0x5A7FFFF7", "flag", "=x", ""})
        .end_rr();
    m.rr("", dns_type::a, 120, 0x8001, static_cast<int>(host)).a("192.168.1.20").end_rr();
    m.rr("", dns_type::aaaa, 120, 0x8001, static_cast<int>(host)).aaaa("fe80::1c2:3ff:fe04:506").end_rr();
    m.rr("20.1.168.192.in-addr.arpa", dns_type::ptr, 120, 0x8001).name("", static_cast<int>(host)).end_rr();
    return keep(std::move(m.b));
  }();
  return v;
}

TEST(Mdns, AnnouncementFieldsAndFacts) {
  dns_message m;
  ASSERT_EQ(parse_dns(mdns_announcement(), m), dns_error::none);
  ASSERT_EQ(m.record_len, 7);
  EXPECT_EQ(name_at(m, m.records[1].target_off), "Kitchen TV._airplay._tcp.local");
  EXPECT_TRUE(m.records[2].cache_flush());
  EXPECT_EQ(m.records[2].class_code(), 1);
  EXPECT_EQ(name_at(m, m.records[2].target_off), "Apple-TV.local");
  test_sink sink;
  proto::mdns_facts(m, from("192.168.1.20", "224.0.0.251", 5353, 5353), sink);
  EXPECT_TRUE(sink.has(subject::sender, "hostname", "Apple-TV")) << sink.dump();
  EXPECT_TRUE(sink.has(subject::ip, "hostname", "Apple-TV", "fe80::1c2:3ff:fe04:506"));
  EXPECT_TRUE(sink.has(subject::sender, "mdns_service", "_airplay._tcp"));
  EXPECT_TRUE(sink.has(subject::sender, "instance_name", "Kitchen TV"));
  EXPECT_TRUE(sink.has(subject::sender, "srv_hostname", "Apple-TV"));
  EXPECT_TRUE(sink.has(subject::sender, "model", "AppleTV5,3"));
  EXPECT_TRUE(sink.has(subject::sender, "osxvers", "19"));
  EXPECT_TRUE(sink.has(subject::sender, "txt:srcvers", "220.68"));
  EXPECT_TRUE(sink.has(subject::sender, "txt", "features=0x5A7FFFF7"));
  EXPECT_TRUE(sink.has(subject::sender, "txt", "flag"));
  EXPECT_FALSE(sink.has(subject::sender, "txt", "=x"));
  // Each fact once, although the service type shows up in three records.
  std::size_t services = 0;
  for (const auto& f : sink.facts) {
    EXPECT_EQ(f.source.str(), "mdns");
    services += f.field == "mdns_service" ? 1 : 0;
  }
  EXPECT_EQ(services, 1u);

  // Relayed by someone else (a sleep proxy): the A record is about the
  // address, not the sender.
  test_sink proxy;
  proto::mdns_facts(m, from("192.168.1.2", "224.0.0.251", 5353, 5353), proxy);
  EXPECT_TRUE(proxy.has(subject::ip, "hostname", "Apple-TV", "192.168.1.20")) << proxy.dump();
  EXPECT_FALSE(proxy.has(subject::sender, "hostname", "Apple-TV"));
}

TEST(Mdns, ChromecastTxtKeysAndUnicodeInstanceNames) {
  builder m;
  m.header(0, 0x8400, 0, 1, 0, 0);
  m.rr("Chromecast-Ultra-0123._googlecast._tcp.local", dns_type::txt, 4500, 0x8001)
      .txt({"id=0123abcd", "md=Chromecast Ultra", "fn=Living Room", "ve=05", "MODEL=ignored-case"})
      .end_rr();
  dns_message msg;
  ASSERT_EQ(parse_dns(keep(m.b), msg), dns_error::none);
  test_sink sink;
  proto::mdns_facts(msg, from("10.0.0.7", "224.0.0.251", 5353, 5353), sink);
  EXPECT_TRUE(sink.has(subject::sender, "txt:md", "Chromecast Ultra")) << sink.dump();
  EXPECT_TRUE(sink.has(subject::sender, "txt:fn", "Living Room"));
  EXPECT_TRUE(sink.has(subject::sender, "txt:ve", "05"));
  EXPECT_TRUE(sink.has(subject::sender, "txt", "id=0123abcd"));
  EXPECT_TRUE(sink.has(subject::sender, "model", "ignored-case"));
  EXPECT_TRUE(sink.has(subject::sender, "mdns_service", "_googlecast._tcp"));
  EXPECT_TRUE(sink.has(subject::sender, "instance_name", "Chromecast-Ultra-0123"));

  // UTF-8 instance names pass through printable() whole.
  builder u;
  u.header(0, 0x8400, 0, 1, 0, 0);
  u.rr("_smb._tcp.local", dns_type::ptr, 4500).name("Luca\xe2\x80\x99s iMac._smb._tcp.local").end_rr();
  ASSERT_EQ(parse_dns(keep(u.b), msg), dns_error::none);
  test_sink s2;
  proto::mdns_facts(msg, from("10.0.0.8", "224.0.0.251", 5353, 5353), s2);
  EXPECT_TRUE(s2.has(subject::sender, "instance_name", "Luca\xe2\x80\x99s iMac")) << s2.dump();
}

TEST(Mdns, ProbesClaimAuthorityRecordsKnownAnswersDoNot) {
  builder b;
  b.header(0, 0, 1, 1, 1, 0);
  b.question("Apple-TV.local", dns_type::any, 0x8001);
  b.rr("Other.local", dns_type::a, 120).a("192.168.1.99").end_rr();  // known answer
  b.rr("", dns_type::a, 120, 1, 12).a("192.168.1.20").end_rr();      // probe claim
  dns_message m;
  ASSERT_EQ(parse_dns(keep(b.b), m), dns_error::none);
  EXPECT_EQ(m.questions[0].qclass, 0x8001);  // QU bit
  test_sink sink;
  proto::mdns_facts(m, from("192.168.1.20", "224.0.0.251", 5353, 5353), sink);
  EXPECT_TRUE(sink.has(subject::sender, "mdns_query", "Apple-TV.local")) << sink.dump();
  EXPECT_TRUE(sink.has(subject::sender, "hostname", "Apple-TV"));
  EXPECT_FALSE(sink.has(subject::ip, "hostname", "Other", "192.168.1.99"));
  EXPECT_EQ(sink.facts.size(), 2u);
}

TEST(Llmnr, QueriesAndAnswers) {
  builder q;
  q.header(0x5a5a, 0, 1, 0, 0, 0).question("jason-PC", dns_type::any);
  dns_message m;
  ASSERT_EQ(parse_dns(keep(q.b), m), dns_error::none);
  test_sink sink;
  proto::llmnr_facts(m, from("192.168.5.44", "224.0.0.252", 50000, 5355), sink);
  ASSERT_EQ(sink.facts.size(), 1u);
  EXPECT_TRUE(sink.has(subject::sender, "llmnr_query", "jason-PC"));
  EXPECT_EQ(sink.facts[0].source.str(), "llmnr");

  builder r;
  r.header(0x5a5a, 0x8000, 1, 2, 0, 0).question("kevin-PC", dns_type::any);
  r.rr("", dns_type::a, 30, 1, 12).a("192.168.5.41").end_rr();
  r.rr("", dns_type::aaaa, 30, 1, 12).aaaa("fe80::4568:efbc:40b1:1346").end_rr();
  ASSERT_EQ(parse_dns(keep(r.b), m), dns_error::none);
  test_sink s2;
  proto::llmnr_facts(m, from("192.168.5.41", "192.168.5.9", 5355, 50001), s2);
  EXPECT_TRUE(s2.has(subject::sender, "hostname", "kevin-PC")) << s2.dump();
  EXPECT_TRUE(s2.has(subject::ip, "hostname", "kevin-PC", "fe80::4568:efbc:40b1:1346"));
  EXPECT_FALSE(s2.has(subject::ip, "hostname", "kevin-PC", "192.168.5.41"));
  EXPECT_EQ(s2.facts.size(), 2u);
}

TEST(Dns, WriteFuzzSeeds) {
  if (names_test::seed_dir() == nullptr) {
    GTEST_SKIP() << "TAPSENSE_WRITE_SEEDS not set";
  }
  names_test::write_seed("dns", unicast_response());
  names_test::write_seed("dns", mdns_announcement());
  builder ptr;
  ptr.header(2, 0x8180, 1, 1, 0, 0).question("34.216.184.93.in-addr.arpa", dns_type::ptr);
  ptr.rr("", dns_type::ptr, 3600, 1, 12).name("host.example.com").end_rr();
  names_test::write_seed("dns", ptr.b);
  builder probe;
  probe.header(0, 0, 1, 0, 1, 0).question("Apple-TV.local", dns_type::any, 0x8001);
  probe.rr("", dns_type::a, 120, 1, 12).a("192.168.1.20").end_rr();
  names_test::write_seed("dns", probe.b);
  builder llmnr;
  llmnr.header(0x5a5a, 0x8000, 1, 1, 0, 0).question("kevin-PC", dns_type::any);
  llmnr.rr("", dns_type::aaaa, 30, 1, 12).aaaa("fe80::4568:efbc:40b1:1346").end_rr();
  names_test::write_seed("dns", llmnr.b);
  builder loop;
  loop.header(1, 0, 1, 0, 0, 0).u8(1).raw("a").u16(0xc00c).u16(1).u16(1);
  names_test::write_seed("dns", loop.b);
}

// ---------------------------------------------------------------------------
// Agreement with tshark

// Feeds every whole UDP datagram to and from ports 53, 5353 and 5355 to
// parse_dns and the matching facts function; facts keyed by frame.
std::map<std::size_t, std::set<std::string>> our_facts(const std::string& path, std::size_t& datagrams) {
  std::map<std::size_t, std::set<std::string>> by_frame;
  for (const auto& p : names_test::decode_capture(path)) {
    if (p.rec.ip_proto != net::ipproto::udp || p.fragment) {
      continue;
    }
    auto on = [&](std::uint16_t port) { return p.view.src_port == port || p.view.dst_port == port; };
    if (!on(53) && !on(5353) && !on(5355)) {
      continue;
    }
    dns_message m;
    parse_dns(p.payload, m);
    names_test::recording_sink sink;
    sink.set_packet(p.view, p.frame);
    if (on(5353)) {
      proto::mdns_facts(m, p.view, sink);
    } else if (on(5355)) {
      proto::llmnr_facts(m, p.view, sink);
    } else {
      proto::dns_facts(m, p.view, sink);
    }
    ++datagrams;
    by_frame[p.frame] = names_test::triples(sink.facts);
  }
  return by_frame;
}

std::string strip_local(const std::string& s) {
  constexpr std::string_view local = ".local";
  if (s.size() > local.size() && s.compare(s.size() - local.size(), local.size(), local) == 0) {
    return s.substr(0, s.size() - local.size());
  }
  return s;
}

// One resource record as tshark shows it.
struct shown_rr {
  std::string owner;
  int type = 0;
  std::string ttl;
  std::string addr;                  // A, AAAA
  std::string target;                // PTR, SRV
  std::vector<std::string> strings;  // TXT
};

// The records of one section of tshark's DNS tree. The owner comes from
// dns.resp.name, or (SRV, NSEC, which tshark shows split or not at all)
// from the summary key "<owner>: type ...".
std::vector<shown_rr> shown_section(const boost::json::object& dns, std::string_view section) {
  std::vector<shown_rr> out;
  const auto* sec = dns.if_contains(section);
  if (sec == nullptr || !sec->is_object()) {
    return out;
  }
  for (const auto& [summary, value] : sec->as_object()) {
    for (const auto* o : names_test::objects(&value)) {
      shown_rr rr;
      rr.owner = names_test::str(*o, "dns.resp.name");
      if (rr.owner.empty()) {
        const std::string key(summary);
        rr.owner = key.substr(0, key.find(": type "));
      }
      const std::string t = names_test::str(*o, "dns.resp.type");
      rr.type = t.empty() ? 0 : std::stoi(t);
      rr.ttl = names_test::str(*o, "dns.resp.ttl");
      rr.addr = rr.type == 1 ? names_test::str(*o, "dns.a") : rr.type == 28 ? names_test::str(*o, "dns.aaaa") : "";
      rr.target = rr.type == 12 ? names_test::str(*o, "dns.ptr.domain_name")
                  : rr.type == 33 ? names_test::str(*o, "dns.srv.target")
                                  : "";
      if (rr.type == 16) {
        rr.strings = names_test::strings(*o, "dns.txt");
      }
      out.push_back(std::move(rr));
    }
  }
  return out;
}

std::vector<std::string> shown_queries(const boost::json::object& dns) {
  std::vector<std::string> out;
  const auto* sec = dns.if_contains("Queries");
  if (sec == nullptr || !sec->is_object()) {
    return out;
  }
  for (const auto& [summary, value] : sec->as_object()) {
    for (const auto* o : names_test::objects(&value)) {
      out.push_back(names_test::str(*o, "dns.qry.name"));
    }
  }
  return out;
}

// Every fact tshark's view of a capture implies, for DNS, mDNS and LLMNR
// datagrams that are not IP fragments:
//   dns:   A/AAAA -> address dns_name owner, dns_name_ttl owner/ttl;
//          PTR of a reverse name -> address hostname target; queries ->
//          sender dns_query name
//   mdns:  A/AAAA of <host>.local -> address hostname host; reverse PTR ->
//          address hostname; PTR of _services._dns-sd._udp.local -> sender
//          mdns_service; SRV target <host>.local -> sender srv_hostname;
//          TXT model=, osxvers= -> sender model, osxvers; queries -> sender
//          mdns_query (responses: every section; queries: the authority
//          section only, the probe's claims)
//   llmnr: queries -> sender llmnr_query; answers -> sender hostname
void expect_from_tshark(const boost::json::array& packets, names_test::agreement& agr) {
  using names_test::triple;
  for (const auto& pkt : packets) {
    const std::string src = names_test::json_src(pkt);
    const auto* udp = names_test::layer(pkt, "udp");
    if (udp == nullptr) {
      continue;
    }
    const std::string sport = names_test::str(*udp, "udp.srcport");
    const std::string dport = names_test::str(*udp, "udp.dstport");
    const bool mdns = sport == "5353" || dport == "5353";
    const bool llmnr = sport == "5355" || dport == "5355";
    const auto* dns = names_test::layer(pkt, mdns ? "mdns" : llmnr ? "llmnr" : "dns");
    if (dns == nullptr) {
      continue;
    }
    const auto* flags = dns->if_contains("dns.flags_tree");
    const bool response =
        flags != nullptr && flags->is_object() && names_test::str(flags->as_object(), "dns.flags.response") == "1";
    if (!response) {
      for (const auto& q : shown_queries(*dns)) {
        agr.expect(triple(src, mdns ? "mdns_query" : llmnr ? "llmnr_query" : "dns_query", q));
      }
      if (!mdns) {
        continue;
      }
    }
    std::vector<shown_rr> records;
    for (const char* section : {"Answers", "Authoritative nameservers", "Additional records"}) {
      if (!response && std::string_view(section) != "Authoritative nameservers") {
        continue;
      }
      auto r = shown_section(*dns, section);
      records.insert(records.end(), r.begin(), r.end());
    }
    for (const auto& rr : records) {
      const auto rev = proto::dns_reverse_address(rr.owner);
      if (llmnr) {
        if (!rr.addr.empty()) {
          agr.expect(triple(src, "hostname", rr.owner));
        }
      } else if (!mdns) {
        if (!rr.addr.empty()) {
          agr.expect(triple(rr.addr, "dns_name", rr.owner));
          agr.expect(triple(rr.addr, "dns_name_ttl", rr.owner + "/" + rr.ttl));
        }
        if (rr.type == 12 && rev) {
          agr.expect(triple(rev->to_string(), "hostname", rr.target));
        }
      } else {
        if (!rr.addr.empty() && strip_local(rr.owner) != rr.owner) {
          agr.expect(triple(rr.addr, "hostname", strip_local(rr.owner)));
        }
        if (rr.type == 12 && rev) {
          agr.expect(triple(rev->to_string(), "hostname", strip_local(rr.target)));
        }
        if (rr.type == 12 && rr.owner == "_services._dns-sd._udp.local") {
          agr.expect(triple(src, "mdns_service", strip_local(rr.target)));
        }
        if (rr.type == 33 && strip_local(rr.target) != rr.target) {
          agr.expect(triple(src, "srv_hostname", strip_local(rr.target)));
        }
        for (const auto& s : rr.strings) {
          if (s.rfind("model=", 0) == 0) {
            agr.expect(triple(src, "model", s.substr(6)));
          } else if (s.rfind("osxvers=", 0) == 0) {
            agr.expect(triple(src, "osxvers", s.substr(8)));
          }
        }
      }
    }
  }
}

TEST(Dns, AgreesWithTsharkOnSharedCaptures) {
  if (!std::filesystem::exists(names_test::shared_pcaps())) {
    GTEST_SKIP() << "shared pcaps absent";
  }
  if (!names_test::have_tshark()) {
    GTEST_SKIP() << "tshark absent";
  }
  std::size_t total_expected = 0;
  std::size_t total_found = 0;
  for (const char* name : {"dns/var-services-std-ports.pcap", "ipv6/ipv6-fragmented-dns.pcap",
                           "dhcp/1kxun.pcap", "mdns/iphone.pcap", "mdns/mdns.pcap"}) {
    SCOPED_TRACE(name);
    const std::string path = names_test::shared_pcaps() + "/" + name;
    std::size_t datagrams = 0;
    const auto ours = our_facts(path, datagrams);
    // Unfragmented UDP only: the fingerprinter does no IP reassembly.
    const auto packets = names_test::tshark_json(
        path, "(dns || mdns || llmnr) && udp && !ipv6.fraghdr && !(ip.flags.mf == 1) && !(ip.frag_offset > 0)",
        "frame ip ipv6 udp dns mdns llmnr");
    names_test::agreement agr;
    agr.capture = name;
    std::set<std::string> have;
    for (const auto& pkt : packets) {
      const auto it = ours.find(names_test::json_frame(pkt));
      if (it != ours.end()) {
        have.insert(it->second.begin(), it->second.end());
      }
    }
    expect_from_tshark(packets, agr);
    agr.check(have);
    std::cout << agr.report("dns") << " (" << packets.size() << " packets, " << datagrams
              << " datagrams parsed)\n";
    EXPECT_GT(agr.expected.size(), 0u) << "nothing compared in " << name;
    EXPECT_EQ(agr.missing.size(), 0u) << agr.report("dns");
    total_expected += agr.expected.size();
    total_found += agr.found.size();
  }
  RecordProperty("dns_tshark_facts", static_cast<int>(total_expected));
  ASSERT_GT(total_expected, 0u) << "no DNS fact was compared with tshark";
  std::cout << "[ dns ] total " << total_found << "/" << total_expected << "\n";
}

}  // namespace
