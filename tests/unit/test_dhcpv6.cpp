// DHCPv6 parser: broken input first (every truncation, hostile option
// lengths, relay nesting), then hand-built messages of each kind with their
// facts (also shown to tshark), then agreement with tshark on every DHCPv6
// packet of the shared captures, fed the UDP payload.
#include <gtest/gtest.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/net/bytes.h"
#include "common/net/decode.h"
#include "common/proto/dhcpv6.h"
#include "tests/unit/test_plumbing.h"

using namespace tapsense;
using proto::dhcpv6_error;
using proto::dhcpv6_message;
using proto::parse_dhcpv6;

namespace {


std::vector<std::uint8_t> be16(unsigned v) {
  return {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v & 0xff)};
}

std::vector<std::uint8_t> option(unsigned code, const std::vector<std::uint8_t>& data) {
  return cat({be16(code), be16(static_cast<unsigned>(data.size())), data});
}

std::vector<std::uint8_t> message(std::uint8_t type, const std::vector<std::uint8_t>& options) {
  return cat({{type, 0x12, 0x34, 0x56}, options});
}

std::vector<std::uint8_t> relay(std::uint8_t type, std::string_view peer_hex,
                                const std::vector<std::uint8_t>& options) {
  return cat({{type, 0}, from_hex("20010db8000000000000000000000001"), from_hex(peer_hex),
              options});
}

const std::vector<std::uint8_t>& keep(std::vector<std::uint8_t> v) {
  static std::deque<std::vector<std::uint8_t>> alive;
  return alive.emplace_back(std::move(v));
}

const auto duid_llt = from_hex("0001 0001 2a3b4c5d 0011 22aa bbcc");
const auto duid_en = from_hex("0002 00000009 0c c0ff ee01");
const auto duid_ll = from_hex("0003 0001 0050 56ab cdef");
const auto duid_uuid = from_hex("0004 00112233445566778899aabbccddeeff");

const auto solicit = message(
    1, cat({option(1, duid_llt), option(3, from_hex("0e005056 00000000 00000000")),
            option(8, from_hex("0000")),
            option(39, cat({{0x01}, from_hex("04"), text_bytes("host"), from_hex("07"),
                             text_bytes("example"), from_hex("03"), text_bytes("com"), {0}})),
            option(16, cat({from_hex("00000137 0008"), text_bytes("MSFT 5.0")})),
            option(6, from_hex("0017 0018 0011 0027")),
            option(15, cat({from_hex("0003"), text_bytes("lab"), from_hex("0002"), text_bytes("gw")})),
            option(17, from_hex("0000118b 0001 0002 abcd"))}));
const auto advertise =
    message(2, cat({option(1, duid_llt), option(2, duid_en), option(7, from_hex("ff"))}));
const auto info_request =
    message(11, cat({option(1, duid_ll), option(6, from_hex("0017 0018")), option(8, from_hex("0000"))}));
const auto request_uuid = message(
    3, cat({option(1, duid_uuid), option(2, duid_en),
            option(39, cat({{0x00}, from_hex("06"), text_bytes("laptop")}))}));
const auto relayed = relay(
    12, "fe800000000000000211 22ff feaa bbcc",
    cat({option(18, text_bytes("eth0")), option(79, from_hex("0001 001122aabbcc")),
         option(9, solicit)}));
const auto double_relayed =
    relay(12, "fe800000000000000000000000000002",
          cat({option(9, relayed)}));

const std::vector<const std::vector<std::uint8_t>*> fixtures = {
    &solicit, &advertise, &info_request, &request_uuid, &relayed, &double_relayed};

std::vector<std::uint8_t> prefix(const std::vector<std::uint8_t>& v, std::size_t n) {
  return {v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n)};
}

// ---------------------------------------------------------------------------
// Broken input

TEST(Dhcpv6, EveryTruncationOfEveryFixtureIsSafeAndKeepsThePrefix) {
  for (const auto* full : fixtures) {
    dhcpv6_message whole;
    ASSERT_EQ(parse_dhcpv6(*full, whole), dhcpv6_error::none);
    for (std::size_t len = 0; len < full->size(); ++len) {
      const auto cut = prefix(*full, len);
      dhcpv6_message m;
      m.oro_len = 9;  // the parse must reset the output
      const auto e = parse_dhcpv6(cut, m);
      // DHCPv6 has no end marker: a cut between two options of the innermost
      // message is a well-formed shorter message; any other cut is an error.
      if (e == dhcpv6_error::none) {
        EXPECT_LT(m.option_codes_len, whole.option_codes_len) << len;
        EXPECT_EQ(m.relay_depth, 0) << len;
      }
      // Option codes seen are a prefix of the full list.
      ASSERT_LE(m.option_codes_len, whole.option_codes_len) << len;
      for (std::size_t i = 0; i < m.option_codes_len; ++i) {
        EXPECT_EQ(m.option_codes[i], whole.option_codes[i]) << len;
      }
      EXPECT_TRUE(m.oro_len == 0 || proto::dhcpv6_oro_string(m) == proto::dhcpv6_oro_string(whole));
      EXPECT_TRUE(!m.client_id.present || m.client_id.raw.size() == whole.client_id.raw.size());
      EXPECT_TRUE(m.fqdn_len == 0 || m.fqdn() == whole.fqdn()) << len;
      collecting_sink sink;
      proto::dhcpv6_facts(m, {}, sink);
    }
  }
}

TEST(Dhcpv6, HostileOptions) {
  dhcpv6_message m;
  // An option running past the message: options before it kept.
  auto v = message(1, cat({option(6, from_hex("0017")), from_hex("0001 00ff 0001")}));
  EXPECT_EQ(parse_dhcpv6(keep(v), m), dhcpv6_error::truncated_option);
  EXPECT_EQ(proto::dhcpv6_oro_string(m), "23");
  EXPECT_FALSE(m.client_id.present);
  // Odd ORO, short DUIDs, short vendor class: skipped, the walk goes on.
  v = message(1, cat({option(6, from_hex("001700")), option(1, from_hex("00")),
                      option(2, from_hex("0001 0001 0000")), option(16, from_hex("000001")),
                      option(39, {}), option(8, from_hex("0000"))}));
  EXPECT_EQ(parse_dhcpv6(keep(v), m), dhcpv6_error::bad_option_length);
  EXPECT_EQ(m.oro_len, 0);
  EXPECT_FALSE(m.client_id.present);
  EXPECT_TRUE(m.server_id.present);  // present but too short for LLT fields
  EXPECT_FALSE(m.server_id.has_mac);
  EXPECT_FALSE(m.has_vendor_class);
  EXPECT_FALSE(m.has_fqdn);
  EXPECT_EQ(m.option_codes_len, 6);
  // FQDN: a label past the option, and a compression pointer.
  v = message(1, option(39, from_hex("00 04 61626364 09 6566")));
  EXPECT_EQ(parse_dhcpv6(keep(v), m), dhcpv6_error::bad_fqdn);
  EXPECT_EQ(m.fqdn(), "abcd");
  v = message(1, option(39, from_hex("00 c00c")));
  EXPECT_EQ(parse_dhcpv6(keep(v), m), dhcpv6_error::bad_fqdn);
  EXPECT_EQ(m.fqdn(), "");
  // ORO of 100 codes: 64 kept.
  std::vector<std::uint8_t> codes;
  for (unsigned i = 0; i < 100; ++i) {
    const auto c = be16(i);
    codes.insert(codes.end(), c.begin(), c.end());
  }
  v = message(1, option(6, codes));
  EXPECT_EQ(parse_dhcpv6(keep(v), m), dhcpv6_error::list_overflow);
  EXPECT_EQ(m.oro_len, proto::dhcpv6_max_list);
}

TEST(Dhcpv6, HostileRelays) {
  dhcpv6_message m;
  // A relay message without option 9.
  EXPECT_EQ(parse_dhcpv6(relay(12, "fe800000000000000000000000000009", option(18, {1})), m),
            dhcpv6_error::missing_relay_message);
  // Shorter than the relay header.
  EXPECT_EQ(parse_dhcpv6(prefix(relayed, 20), m), dhcpv6_error::truncated_header);
  // Nine relays deep: refused at eight.
  std::vector<std::uint8_t> v = solicit;
  for (int i = 0; i < 9; ++i) {
    v = relay(12, "fe800000000000000000000000000009", option(9, v));
  }
  EXPECT_EQ(parse_dhcpv6(keep(v), m), dhcpv6_error::relay_depth);
  EXPECT_EQ(m.relay_depth, proto::dhcpv6_max_relay_depth);
  collecting_sink sink;
  proto::dhcpv6_facts(m, {}, sink);
  EXPECT_TRUE(sink.facts.empty());
  // A relay message whose option 9 holds too little.
  EXPECT_EQ(parse_dhcpv6(keep(relay(12, "fe800000000000000000000000000009", option(9, {1, 2}))), m),
            dhcpv6_error::truncated_header);
}

TEST(Dhcpv6, RandomMutationsStayInBounds) {
  std::uint32_t state = 6;
  auto rnd = [&state](std::uint32_t n) {
    state = state * 1664525u + 1013904223u;
    return (state >> 8) % n;
  };
  for (int round = 0; round < 20000; ++round) {
    auto v = *fixtures[rnd(static_cast<std::uint32_t>(fixtures.size()))];
    for (std::uint32_t k = 0, n = 1 + rnd(4); k < n; ++k) {
      v[rnd(static_cast<std::uint32_t>(v.size()))] = static_cast<std::uint8_t>(rnd(256));
    }
    if (rnd(2) == 0) {
      v.resize(rnd(static_cast<std::uint32_t>(v.size() + 1)));
    }
    v.shrink_to_fit();
    dhcpv6_message m;
    parse_dhcpv6(v, m);
    for (auto s : {m.client_id.raw, m.server_id.raw, m.vendor_class, m.user_class}) {
      if (!s.empty()) {
        ASSERT_GE(s.data(), v.data());
        ASSERT_LE(s.data() + s.size(), v.data() + v.size());
      }
    }
    ASSERT_LE(m.fqdn_len, m.fqdn_buf.size());
    collecting_sink sink;
    proto::dhcpv6_facts(m, {}, sink);
    (void)proto::dhcpv6_class_items(m.vendor_class);
    (void)proto::dhcpv6_class_items(m.user_class);
  }
}

// ---------------------------------------------------------------------------
// Fixtures

TEST(Dhcpv6, SolicitAndFacts) {
  dhcpv6_message m;
  ASSERT_EQ(parse_dhcpv6(solicit, m), dhcpv6_error::none);
  EXPECT_EQ(m.msg_type, proto::dhcpv6_type::solicit);
  EXPECT_EQ(m.transaction_id, 0x123456u);
  EXPECT_TRUE(m.from_client());
  ASSERT_TRUE(m.client_id.present);
  EXPECT_EQ(m.client_id.type, proto::dhcpv6_duid_type::llt);
  EXPECT_EQ(m.client_id.hardware_type, 1);
  EXPECT_EQ(m.client_id.time, 0x2a3b4c5du);
  ASSERT_TRUE(m.client_id.has_mac);
  EXPECT_EQ(m.client_id.mac.to_string(), "00:11:22:aa:bb:cc");
  EXPECT_EQ(m.fqdn_flags, 1);
  EXPECT_EQ(m.fqdn(), "host.example.com");
  EXPECT_EQ(m.vendor_class_enterprise, 311u);
  EXPECT_EQ(proto::dhcpv6_class_items(m.vendor_class), "MSFT 5.0");
  EXPECT_EQ(proto::dhcpv6_class_items(m.user_class), "lab,gw");
  EXPECT_EQ(m.vendor_opts_enterprise, 4491u);
  EXPECT_EQ(proto::dhcpv6_oro_string(m), "23,24,17,39");
  collecting_sink sink;
  proto::dhcpv6_facts(m, {}, sink);
  EXPECT_EQ(sink.about(proto::subject::sender),
            (std::vector<std::string>{
                "duid=000100012a3b4c5d001122aabbcc", "mac=00:11:22:aa:bb:cc",
                "fqdn=host.example.com", "hostname=host", "vendor_class=MSFT 5.0",
                "enterprise_number=311", "user_class=lab,gw", "option_request_list=23,24,17,39"}));
  ASSERT_EQ(sink.about(proto::subject::mac),
            (std::vector<std::string>{"duid=000100012a3b4c5d001122aabbcc"}));
  for (const auto& f : sink.facts) {
    if (f.about == proto::subject::mac) {
      EXPECT_EQ(f.mac.to_string(), "00:11:22:aa:bb:cc");
      EXPECT_EQ(f.confidence, 60);
    }
  }
}

TEST(Dhcpv6, ServerMessages) {
  dhcpv6_message m;
  ASSERT_EQ(parse_dhcpv6(advertise, m), dhcpv6_error::none);
  EXPECT_TRUE(m.from_server());
  EXPECT_EQ(m.server_id.type, proto::dhcpv6_duid_type::en);
  EXPECT_EQ(m.server_id.enterprise, 9u);
  EXPECT_EQ(m.server_id.identifier.size(), 5u);
  collecting_sink sink;
  proto::dhcpv6_facts(m, {}, sink);
  EXPECT_EQ(sink.about(proto::subject::sender),
            (std::vector<std::string>{"server_duid=0002000000090cc0ffee01"}));
}

TEST(Dhcpv6, DuidKinds) {
  dhcpv6_message m;
  ASSERT_EQ(parse_dhcpv6(info_request, m), dhcpv6_error::none);
  EXPECT_EQ(m.client_id.type, proto::dhcpv6_duid_type::ll);
  EXPECT_EQ(m.client_id.mac.to_string(), "00:50:56:ab:cd:ef");
  ASSERT_EQ(parse_dhcpv6(request_uuid, m), dhcpv6_error::none);
  EXPECT_EQ(m.client_id.type, proto::dhcpv6_duid_type::uuid);
  EXPECT_FALSE(m.client_id.has_mac);
  EXPECT_EQ(m.client_id.identifier.size(), 16u);
  EXPECT_EQ(m.fqdn(), "laptop");  // a partial name
  collecting_sink sink;
  proto::dhcpv6_facts(m, {}, sink);
  EXPECT_EQ(sink.value("hostname"), "laptop");
  EXPECT_EQ(sink.value("mac"), "<none>");
}

TEST(Dhcpv6, RelayedClientIsTheRelaysPeer) {
  dhcpv6_message m;
  ASSERT_EQ(parse_dhcpv6(double_relayed, m), dhcpv6_error::none);
  EXPECT_EQ(m.relay_depth, 2);
  EXPECT_EQ(m.msg_type, proto::dhcpv6_type::solicit);
  EXPECT_EQ(m.relay_peer_address.to_string(), "fe80::211:22ff:feaa:bbcc");
  ASSERT_TRUE(m.has_client_link_layer);
  EXPECT_EQ(m.client_link_layer.to_string(), "00:11:22:aa:bb:cc");
  EXPECT_EQ(m.fqdn(), "host.example.com");
  collecting_sink sink;
  proto::dhcpv6_facts(m, {}, sink);
  EXPECT_TRUE(sink.about(proto::subject::sender).empty());
  const auto about_peer = sink.about(proto::subject::ip);
  EXPECT_EQ(about_peer.front(), "duid=000100012a3b4c5d001122aabbcc");
  EXPECT_EQ(about_peer.back(), "mac=00:11:22:aa:bb:cc");
  for (const auto& f : sink.facts) {
    if (f.about == proto::subject::ip) {
      EXPECT_EQ(f.ip.to_string(), "fe80::211:22ff:feaa:bbcc");
    }
  }
}

// ---------------------------------------------------------------------------
// Agreement with tshark

const std::vector<std::string> v6_fields = {
    "dhcpv6.msgtype",
    "dhcpv6.option.type",
    "dhcpv6.duid.bytes",
    "dhcpv6.duid.type",
    "dhcpv6.duidllt.link_layer_addr",
    "dhcpv6.duidll.link_layer_addr",
    "dhcpv6.client_domain",
    "dhcpv6.vendorclass.enterprise",
    "dhcpv6.vendorclass.data",
    "dhcpv6.requested_option_code",
    "dhcpv6.vendoropts.enterprise",
    "dhcpv6.duiden.enterprise",
};

void compare_with_tshark(const dhcpv6_message& m, const std::vector<std::string>& t,
                         agreement& ag) {
  auto join = [](const std::vector<std::string>& items) {
    std::string s;
    for (const auto& i : items) {
      s += (s.empty() ? "" : std::string(1, agg)) + i;
    }
    return s;
  };
  // Only the innermost message is compared: relay levels' own options are
  // not kept.
  const auto types = values(t[0]);
  ag.eq(u(m.msg_type), types.empty() ? "" : types.back(), "message type");
  ag.eq(u(m.relay_depth), u(types.size() - 1), "relay depth");
  std::vector<std::string> codes;
  for (auto c : m.option_list()) {
    codes.push_back(u(c));
  }
  const auto all_codes = values(t[1]);
  ag.eq(join(codes),
        join(std::vector<std::string>(all_codes.end() - static_cast<std::ptrdiff_t>(std::min(
                                                            codes.size(), all_codes.size())),
                                      all_codes.end())),
        "option codes (innermost message)");
  std::vector<std::string> duids, duid_types, llt, ll, en;
  for (auto c : m.option_list()) {
    const auto* d = c == 1 ? &m.client_id : c == 2 ? &m.server_id : nullptr;
    if (d == nullptr || !d->present) {
      continue;
    }
    duids.push_back(proto::dhcpv6_hex(d->raw));
    duid_types.push_back(u(d->type));
    if (d->type == 1 && d->has_mac) {
      llt.push_back(d->mac.to_string());
    }
    if (d->type == 3 && d->has_mac) {
      ll.push_back(d->mac.to_string());
    }
    if (d->type == 2) {
      en.push_back(u(d->enterprise));
    }
  }
  ag.eq(join(duids), t[2], "DUIDs");
  ag.eq(join(duid_types), t[3], "DUID types");
  ag.eq(join(llt), t[4], "DUID-LLT link-layer address");
  ag.eq(join(ll), t[5], "DUID-LL link-layer address");
  std::string domain = t[6];
  if (!domain.empty() && domain.back() == '.') {
    domain.pop_back();  // tshark shows the root label as a trailing dot
  }
  ag.eq(m.has_fqdn ? std::string(m.fqdn()) : "", domain, "client FQDN");
  ag.eq(m.has_vendor_class ? u(m.vendor_class_enterprise) : "", t[7], "vendor class enterprise");
  ag.eq(m.has_vendor_class ? proto::dhcpv6_class_items(m.vendor_class) : "", t[8],
        "vendor class data");
  std::string oro = proto::dhcpv6_oro_string(m);
  std::replace(oro.begin(), oro.end(), ',', agg);
  ag.eq(oro, t[9], "option request list");
  ag.eq(m.has_vendor_opts ? u(m.vendor_opts_enterprise) : "", t[10], "vendor opts enterprise");
  ag.eq(join(en), t[11], "DUID-EN enterprise");
}

std::string write_udp6_pcap(const std::vector<std::vector<std::uint8_t>>& payloads) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("tapsense_dhcpv6_" + std::to_string(::getpid()) + ".pcap"))
                               .string();
  std::ofstream f(path, std::ios::binary);
  auto le32 = [&f](std::uint32_t x) {
    const char b[4] = {static_cast<char>(x), static_cast<char>(x >> 8),
                       static_cast<char>(x >> 16), static_cast<char>(x >> 24)};
    f.write(b, 4);
  };
  le32(0xa1b2c3d4);
  le32(0x00040002);
  le32(0);
  le32(0);
  le32(65535);
  le32(1);
  for (const auto& p : payloads) {
    const std::size_t udp_len = 8 + p.size();
    auto fr = cat({from_hex("333300010002 001122aabbcc 86dd"), from_hex("60000000"),
                   be16(static_cast<unsigned>(udp_len)), from_hex("11 01"),
                   from_hex("fe800000000000000211 22ff feaa bbcc"),
                   from_hex("ff020000000000000000000000010002"), be16(546), be16(547),
                   be16(static_cast<unsigned>(udp_len)), from_hex("0000"), p});
    le32(0);
    le32(0);
    le32(static_cast<std::uint32_t>(fr.size()));
    le32(static_cast<std::uint32_t>(fr.size()));
    f.write(reinterpret_cast<const char*>(fr.data()), static_cast<std::streamsize>(fr.size()));
  }
  return path;
}

TEST(Dhcpv6, FixturesAgreeWithTshark) {
  if (!have_tshark()) {
    GTEST_SKIP() << "tshark absent";
  }
  std::vector<std::vector<std::uint8_t>> payloads;
  for (const auto* f : fixtures) {
    payloads.push_back(*f);
  }
  const std::string path = write_udp6_pcap(payloads);
  const auto truth = tshark_fields(path, "dhcpv6", v6_fields);
  std::filesystem::remove(path);
  ASSERT_EQ(truth.size(), fixtures.size());
  agreement ag{"hand-built fixtures"};
  for (std::size_t i = 0; i < fixtures.size(); ++i) {
    SCOPED_TRACE("fixture " + u(i));
    dhcpv6_message m;
    parse_dhcpv6(*fixtures[i], m);
    compare_with_tshark(m, truth.at(i + 1), ag);
  }
  ag.report("dhcpv6");
  EXPECT_EQ(ag.agreed, ag.compared);
}

TEST(Dhcpv6, AgreesWithTsharkOnSharedCaptures) {
  const std::string root = TAPSENSE_SHARED_PCAPS;
  if (!std::filesystem::exists(root)) {
    GTEST_SKIP() << "shared pcaps absent";
  }
  if (!have_tshark()) {
    GTEST_SKIP() << "tshark absent";
  }
  std::size_t total = 0;
  for (const std::string name : {"dhcp/1kxun.pcap", "gre/erspan.pcap"}) {
    SCOPED_TRACE(name);
    const std::string path = root + "/" + name;
    const auto frames = read_pcap(path);
    const auto truth = tshark_fields(path, "dhcpv6", v6_fields);
    ASSERT_FALSE(truth.empty());
    agreement ag{name};
    std::size_t seen = 0;
    for (const auto& fr : frames) {
      const auto row = truth.find(fr.number);
      const bool ports = fr.decoded && fr.rec.ip_proto == net::ipproto::udp &&
                         (fr.rec.src_port == 546 || fr.rec.src_port == 547 ||
                          fr.rec.dst_port == 546 || fr.rec.dst_port == 547);
      if (!ports) {
        EXPECT_EQ(row, truth.end()) << "frame " << fr.number << ": tshark sees DHCPv6";
        continue;
      }
      if (row == truth.end()) {
        continue;
      }
      SCOPED_TRACE("frame " + u(fr.number));
      ++seen;
      dhcpv6_message m;
      EXPECT_EQ(parse_dhcpv6(fr.payload(), m), dhcpv6_error::none)
          << proto::dhcpv6_error_name(m.error);
      compare_with_tshark(m, row->second, ag);
      collecting_sink sink;
      proto::dhcpv6_facts(m, fr.view(), sink);
      EXPECT_FALSE(sink.facts.empty());
    }
    EXPECT_EQ(seen, truth.size()) << "every packet tshark calls DHCPv6 was compared";
    ag.report("dhcpv6");
    EXPECT_EQ(ag.agreed, ag.compared);
    total += ag.compared;
  }
  ASSERT_GT(total, 0u) << "nothing was compared";
}

}  // namespace
