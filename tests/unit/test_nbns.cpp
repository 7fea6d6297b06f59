// NetBIOS name service and datagram service (browser protocol) parsers:
// broken input first (every truncation, encoding errors, pointer loops,
// rdata that does not fit, SMB and browser frames cut short), then
// hand-built fixtures with their facts, then agreement with tshark on the
// shared captures.
#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

#include "common/proto/nbns.h"
#include "tests/unit/test_names_capture.h"

using namespace tapsense;
using proto::nbdgm_error;
using proto::nbdgm_message;
using proto::nbns_error;
using proto::nbns_message;
using proto::parse_nbdgm;
using proto::parse_nbns;
using proto::subject;

namespace {

class builder {
 public:
  builder& u8(unsigned v) {
    b.push_back(static_cast<std::uint8_t>(v));
    return *this;
  }
  builder& u16(unsigned v) { return u8(v >> 8).u8(v & 0xff); }
  builder& u32(std::uint32_t v) { return u16(v >> 16).u16(v & 0xffff); }
  builder& le16(unsigned v) { return u8(v & 0xff).u8(v >> 8); }
  builder& le32(std::uint32_t v) { return le16(v & 0xffff).le16(v >> 16); }
  builder& raw(std::string_view s) {
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  builder& zeros(std::size_t n) {
    b.insert(b.end(), n, 0);
    return *this;
  }
  // Second-level encoded NetBIOS name: 0x20, 32 letters, [scope labels], 0.
  builder& nbname(std::string_view name, unsigned suffix, std::string_view scope = {}) {
    std::string padded(name);
    padded.resize(15, ' ');
    padded += static_cast<char>(suffix);
    u8(32);
    for (char c : padded) {
      const auto x = static_cast<unsigned char>(c);
      u8('A' + (x >> 4)).u8('A' + (x & 15));
    }
    while (!scope.empty()) {
      const auto dot = scope.find('.');
      const std::string_view label = scope.substr(0, dot);
      u8(static_cast<unsigned>(label.size())).raw(label);
      scope = dot == std::string_view::npos ? std::string_view{} : scope.substr(dot + 1);
    }
    return u8(0);
  }
  builder& ipv4(std::string_view s) {
    const auto ip = net::ip_address::parse(s);
    EXPECT_TRUE(ip && ip->is_v4());
    for (int i = 12; i < 16; ++i) {
      u8(ip->b[static_cast<std::size_t>(i)]);
    }
    return *this;
  }
  void patch16(std::size_t at, std::size_t v) {
    b[at] = static_cast<std::uint8_t>(v >> 8);
    b[at + 1] = static_cast<std::uint8_t>(v);
  }
  void patch_le16(std::size_t at, std::size_t v) {
    b[at] = static_cast<std::uint8_t>(v);
    b[at + 1] = static_cast<std::uint8_t>(v >> 8);
  }
  std::size_t here() const { return b.size(); }
  std::vector<std::uint8_t> b;
};

const std::vector<std::uint8_t>& keep(std::vector<std::uint8_t> v) {
  static std::deque<std::vector<std::uint8_t>> store;
  return store.emplace_back(std::move(v));
}

// Name registration request (RFC 1002 4.2.2): question + additional NB.
const std::vector<std::uint8_t>& registration(std::string_view name, unsigned suffix, bool group,
                                              std::string_view addr, unsigned opcode = 5) {
  builder m;
  m.u16(0x1001).u16(0x0110 | (opcode << 11)).u16(1).u16(0).u16(0).u16(1);
  m.nbname(name, suffix).u16(0x20).u16(1);
  m.u16(0xc00c).u16(0x20).u16(1).u32(300000).u16(6).u16(group ? 0x8000 : 0).ipv4(addr);
  return keep(std::move(m.b));
}

// Node status response (RFC 1002 4.2.18) with names and a unit ID.
const std::vector<std::uint8_t>& node_status() {
  static const std::vector<std::uint8_t>& v = [] {
    builder m;
    m.u16(0x20a8).u16(0x8400).u16(0).u16(1).u16(0).u16(0);
    m.nbname("*", 0).u16(0x21).u16(1).u32(0);
    const std::size_t rdlen_at = m.here();
    m.u16(0);
    struct entry {
      const char* name;
      unsigned suffix;
      unsigned flags;
    };
    const entry names[] = {{"GUNNAR", 0x00, 0x0400}, {"VIGILANT_GROUP", 0x00, 0x8400}, {"GUNNAR", 0x20, 0x0400},
                           {"VIGILANT_GROUP", 0x1e, 0x8400}, {"VIGILANT_GROUP", 0x1d, 0x0400},
                           {"\x01\x02__MSBROWSE__\x02", 0x01, 0x8400}};
    m.u8(6);
    for (const auto& e : names) {
      std::string padded(e.name);
      padded.resize(15, ' ');
      m.raw(padded).u8(e.suffix).u16(e.flags);
    }
    m.u8(0x00).u8(0x1c).u8(0xc4).u8(0x10).u8(0x79).u8(0x0f).zeros(40);  // unit ID + statistics
    m.patch16(rdlen_at, m.here() - rdlen_at - 2);
    return keep(std::move(m.b));
  }();
  return v;
}

struct test_sink : proto::fact_sink {
  void add(proto::fact f) override { facts.push_back(std::move(f)); }
  std::vector<proto::fact> facts;
  bool has(subject about, std::string_view field, std::string_view value, std::string_view ip = {}) const {
    for (const auto& f : facts) {
      if (f.about == about && f.field == field && f.value == value && (ip.empty() || f.ip.to_string() == ip)) {
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

proto::packet_view from(std::string_view src, std::string_view dst, std::uint16_t sport, std::uint16_t dport) {
  proto::packet_view p;
  p.src_ip = *net::ip_address::parse(src);
  p.dst_ip = *net::ip_address::parse(dst);
  p.src_port = sport;
  p.dst_port = dport;
  p.ip_proto = 17;
  p.has_ip = true;
  return p;
}

// ---------------------------------------------------------------------------
// Name service: broken input

TEST(Nbns, EveryTruncationIsSafe) {
  for (const auto* full : {&registration("WORKSTATION", 0, false, "10.0.0.5"), &node_status()}) {
    nbns_message whole;
    ASSERT_EQ(parse_nbns(*full, whole), nbns_error::none);
    for (std::size_t len = 0; len < full->size(); ++len) {
      const std::vector<std::uint8_t> cut(full->begin(), full->begin() + static_cast<std::ptrdiff_t>(len));
      nbns_message m;
      const nbns_error e = parse_nbns(cut, m);
      if (len < 12) {
        EXPECT_EQ(e, nbns_error::truncated_header) << len;
        continue;
      }
      EXPECT_TRUE(e == nbns_error::bad_name || e == nbns_error::truncated_record ||
                  e == nbns_error::bad_netbios_name)
          << len << " " << proto::nbns_error_name(e);
      EXPECT_LE(m.record_len, whole.record_len);
      test_sink sink;
      proto::nbns_facts(m, from("10.0.0.5", "10.0.0.255", 137, 137), sink);
    }
  }
}

TEST(Nbns, NameEncodingErrors) {
  nbns_message m;
  auto with_first_label = [](const std::string& label) {
    builder b;
    b.u16(1).u16(0x0110).u16(1).u16(0).u16(0).u16(0);
    b.u8(static_cast<unsigned>(label.size())).raw(label).u8(0).u16(0x20).u16(1);
    return keep(std::move(b.b));
  };
  EXPECT_EQ(parse_nbns(with_first_label(std::string(32, 'A')), m), nbns_error::none);
  EXPECT_EQ(m.questions[0].name.len, 15);  // "AA" is a NUL byte; only spaces are trimmed
  EXPECT_EQ(m.questions[0].name.suffix, 0);
  EXPECT_EQ(parse_nbns(with_first_label(std::string(31, 'A')), m), nbns_error::bad_netbios_name);
  EXPECT_EQ(parse_nbns(with_first_label(std::string(33, 'A')), m), nbns_error::bad_netbios_name);
  EXPECT_EQ(parse_nbns(with_first_label(std::string(31, 'A') + "Q"), m), nbns_error::bad_netbios_name);
  EXPECT_EQ(parse_nbns(with_first_label(std::string(31, 'A') + "a"), m), nbns_error::bad_netbios_name);
  EXPECT_EQ(parse_nbns(with_first_label(std::string(64, 'A')), m), nbns_error::bad_name);  // label > 63
  // Pointer loop in a record name.
  builder loop;
  loop.u16(1).u16(0x8400).u16(0).u16(1).u16(0).u16(0).u16(0xc00c);
  EXPECT_EQ(parse_nbns(keep(loop.b), m), nbns_error::bad_name);
  // A scope ID is allowed and noted.
  builder scoped;
  scoped.u16(1).u16(0x0110).u16(1).u16(0).u16(0).u16(0).nbname("HOST", 0x20, "corp.example").u16(0x20).u16(1);
  ASSERT_EQ(parse_nbns(keep(scoped.b), m), nbns_error::none);
  EXPECT_TRUE(m.questions[0].name.has_scope);
  EXPECT_EQ(m.questions[0].name.name(), "HOST");
  EXPECT_EQ(m.questions[0].name.suffix, 0x20);
}

TEST(Nbns, RdataThatDoesNotFit) {
  nbns_message m;
  // NB rdata of 8 bytes: one entry taken, bad_rdata noted.
  builder nb;
  nb.u16(1).u16(0x8500).u16(0).u16(1).u16(0).u16(0).nbname("HOST", 0).u16(0x20).u16(1).u32(0).u16(8);
  nb.u16(0).ipv4("10.1.2.3").u16(0);
  EXPECT_EQ(parse_nbns(keep(nb.b), m), nbns_error::bad_rdata);
  ASSERT_EQ(m.record_len, 1);
  ASSERT_EQ(m.addresses_of(m.records[0]).size(), 1u);
  EXPECT_EQ(m.addresses_of(m.records[0])[0].addr.to_string(), "10.1.2.3");
  // Node status claiming 20 names in 2 names' worth of bytes.
  builder ns;
  ns.u16(1).u16(0x8400).u16(0).u16(1).u16(0).u16(0).nbname("*", 0).u16(0x21).u16(1).u32(0).u16(1 + 36);
  ns.u8(20).raw("ALPHA          ").u8(0).u16(0).raw("BETA           ").u8(0).u16(0);
  EXPECT_EQ(parse_nbns(keep(ns.b), m), nbns_error::bad_rdata);
  EXPECT_EQ(m.node_name_len, 2);
  EXPECT_TRUE(m.unit_id.is_zero());
  // rdlength past the end; counts that do not fit.
  builder past;
  past.u16(1).u16(0x8500).u16(0).u16(1).u16(0).u16(0).nbname("HOST", 0).u16(0x20).u16(1).u32(0).u16(600).u16(0);
  EXPECT_EQ(parse_nbns(keep(past.b), m), nbns_error::truncated_record);
  builder counts;
  counts.u16(1).u16(0x0110).u16(65535).u16(65535).u16(0).u16(0).nbname("HOST", 0).u16(0x20).u16(1);
  EXPECT_EQ(parse_nbns(keep(counts.b), m), nbns_error::bad_name);
  EXPECT_EQ(m.question_len, 1);
}

TEST(Nbns, RandomMutationsStayInBounds) {
  std::uint32_t state = 99;
  auto rnd = [&state](std::uint32_t n) {
    state = state * 1664525u + 1013904223u;
    return (state >> 8) % n;
  };
  for (int round = 0; round < 20000; ++round) {
    std::vector<std::uint8_t> v = round % 2 == 0 ? node_status() : registration("PC", 0x20, false, "10.0.0.1");
    for (std::uint32_t k = 0, n = 1 + rnd(6); k < n; ++k) {
      v[rnd(static_cast<std::uint32_t>(v.size()))] = static_cast<std::uint8_t>(rnd(256));
    }
    if (rnd(2) == 0) {
      v.resize(rnd(static_cast<std::uint32_t>(v.size() + 1)));
    }
    v.shrink_to_fit();
    nbns_message m;
    parse_nbns(v, m);
    ASSERT_LE(m.address_len, proto::nbns_max_addresses);
    for (const auto& rr : m.record_list()) {
      ASSERT_LE(std::size_t{rr.first_address} + rr.address_count, m.address_len);
    }
    test_sink sink;
    proto::nbns_facts(m, from("10.0.0.1", "10.0.0.255", 137, 137), sink);
  }
}

// ---------------------------------------------------------------------------
// Name service: fixtures

TEST(Nbns, QueryNamesWhatTheSenderLooksFor) {
  builder q;
  q.u16(0x8001).u16(0x0110).u16(1).u16(0).u16(0).u16(0).nbname("WPAD", 0).u16(0x20).u16(1);
  nbns_message m;
  ASSERT_EQ(parse_nbns(keep(q.b), m), nbns_error::none);
  EXPECT_EQ(m.opcode(), proto::nbns_opcode::query);
  EXPECT_TRUE(m.broadcast());
  EXPECT_EQ(proto::netbios_name_string(m.questions[0].name), "WPAD<00>");
  test_sink sink;
  proto::nbns_facts(m, from("192.168.115.8", "192.168.255.255", 137, 137), sink);
  ASSERT_EQ(sink.facts.size(), 1u) << sink.dump();
  EXPECT_TRUE(sink.has(subject::sender, "nbns_query", "WPAD<00>"));
  EXPECT_EQ(sink.facts[0].source.str(), "nbns");
}

TEST(Nbns, RegistrationsBindNamesToTheirAddress) {
  nbns_message m;
  ASSERT_EQ(parse_nbns(registration("KEVIN-PC", 0x00, false, "192.168.5.41"), m), nbns_error::none);
  EXPECT_EQ(m.opcode(), proto::nbns_opcode::registration);
  ASSERT_EQ(m.record_len, 1);
  EXPECT_EQ(m.records[0].section, proto::dns_section::additional);
  EXPECT_EQ(m.records[0].name.name(), "KEVIN-PC");
  test_sink sink;
  proto::nbns_facts(m, from("192.168.5.41", "192.168.5.255", 137, 137), sink);
  EXPECT_TRUE(sink.has(subject::sender, "netbios_name", "KEVIN-PC")) << sink.dump();
  EXPECT_TRUE(sink.has(subject::sender, "nbns_name", "KEVIN-PC<00>"));
  EXPECT_EQ(sink.facts.size(), 2u);

  ASSERT_EQ(parse_nbns(registration("WORKGROUP", 0x00, true, "192.168.5.41", 8), m), nbns_error::none);
  test_sink group;
  proto::nbns_facts(m, from("192.168.5.41", "192.168.5.255", 137, 137), group);
  EXPECT_TRUE(group.has(subject::sender, "workgroup", "WORKGROUP")) << group.dump();

  ASSERT_EQ(parse_nbns(registration("CORP", 0x1c, true, "10.0.0.10", 9), m), nbns_error::none);
  test_sink wins;  // sent by a WINS client on behalf of 10.0.0.10
  proto::nbns_facts(m, from("10.0.0.2", "10.0.0.1", 137, 137), wins);
  EXPECT_TRUE(wins.has(subject::ip, "domain", "CORP", "10.0.0.10")) << wins.dump();

  ASSERT_EQ(parse_nbns(registration("OLDPC", 0x20, false, "10.0.0.11", 6), m), nbns_error::none);
  test_sink release;
  proto::nbns_facts(m, from("10.0.0.11", "10.0.0.255", 137, 137), release);
  ASSERT_FALSE(release.facts.empty());
  EXPECT_TRUE(release.has(subject::sender, "netbios_name", "OLDPC"));
  EXPECT_EQ(release.facts[0].confidence, 50);
}

TEST(Nbns, PositiveResponseAndNodeStatus) {
  builder r;
  r.u16(0x8486).u16(0x8500).u16(0).u16(1).u16(0).u16(0).nbname("GURU", 0).u16(0x20).u16(1).u32(300000).u16(12);
  r.u16(0x6000).ipv4("10.0.5.1").u16(0x6000).ipv4("10.0.6.1");
  nbns_message m;
  ASSERT_EQ(parse_nbns(keep(r.b), m), nbns_error::none);
  ASSERT_EQ(m.addresses_of(m.records[0]).size(), 2u);
  EXPECT_EQ(m.addresses_of(m.records[0])[1].flags, 0x6000);
  test_sink sink;
  proto::nbns_facts(m, from("10.0.5.1", "10.0.4.24", 137, 137), sink);
  EXPECT_TRUE(sink.has(subject::sender, "netbios_name", "GURU")) << sink.dump();
  EXPECT_TRUE(sink.has(subject::ip, "netbios_name", "GURU", "10.0.6.1"));

  ASSERT_EQ(parse_nbns(node_status(), m), nbns_error::none);
  ASSERT_TRUE(m.has_node_status);
  ASSERT_EQ(m.node_name_len, 6);
  EXPECT_EQ(m.node_names[1].name.name(), "VIGILANT_GROUP");
  EXPECT_EQ(m.node_names[1].flags, 0x8400);
  EXPECT_EQ(m.unit_id.to_string(), "00:1c:c4:10:79:0f");
  test_sink ns;
  proto::nbns_facts(m, from("10.0.4.24", "10.0.1.87", 137, 137), ns);
  EXPECT_TRUE(ns.has(subject::sender, "netbios_name", "GUNNAR")) << ns.dump();
  EXPECT_TRUE(ns.has(subject::sender, "workgroup", "VIGILANT_GROUP"));
  EXPECT_TRUE(ns.has(subject::sender, "nbns_name", "VIGILANT_GROUP<1d>"));
  EXPECT_TRUE(ns.has(subject::sender, "netbios_mac", "00:1c:c4:10:79:0f"));
  for (const auto& f : ns.facts) {
    EXPECT_EQ(f.value.find("MSBROWSE") != std::string::npos && f.field != "nbns_name", false) << f.value;
  }
  // Negative responses give nothing.
  builder neg;
  neg.u16(1).u16(0x8503).u16(0).u16(1).u16(0).u16(0).nbname("NOPE", 0).u16(0x20).u16(1).u32(0).u16(0);
  ASSERT_EQ(parse_nbns(keep(neg.b), m), nbns_error::none);
  test_sink none;
  proto::nbns_facts(m, from("10.0.0.1", "10.0.0.2", 137, 137), none);
  EXPECT_TRUE(none.facts.empty());
}

// ---------------------------------------------------------------------------
// Datagram service and browser

// A direct group datagram carrying an SMB Transaction mailslot write of
// `frame` to \MAILSLOT\BROWSE, as Windows and Samba send them.
std::vector<std::uint8_t> browser_datagram(std::string_view src_name, std::string_view dst_name, unsigned dst_suffix,
                                           const std::vector<std::uint8_t>& frame,
                                           std::string_view mailslot = "\\MAILSLOT\\BROWSE") {
  builder d;
  d.u8(0x11).u8(0x0a).u16(0x2e43).ipv4("192.168.5.67").u16(138);
  const std::size_t len_at = d.here();
  d.u16(0).u16(0);
  const std::size_t names_at = d.here();
  d.nbname(src_name, 0x00).nbname(dst_name, dst_suffix);
  // SMB header
  const std::size_t smb = d.here();
  d.u8(0xff).raw("SMB").u8(0x25).zeros(4).u8(0).le16(0).zeros(20);
  // Transaction request, 17 words (14 + 3 setup words)
  d.u8(17);
  const std::size_t words = d.here();
  d.le16(0).le16(static_cast<unsigned>(frame.size())).le16(0).le16(0).u8(0).u8(0).le16(0).le32(0).le16(0);
  d.le16(0).le16(0);  // ParameterCount, ParameterOffset
  d.le16(static_cast<unsigned>(frame.size())).le16(0);  // DataCount, DataOffset (patched)
  d.u8(3).u8(0).le16(1).le16(1).le16(2);  // SetupCount, reserved, setup: write mailslot, priority, class
  const std::size_t bc_at = d.here();
  d.le16(0);
  const std::size_t bytes_at = d.here();
  d.raw(mailslot).u8(0);
  const std::size_t data_at = d.here();
  d.b.insert(d.b.end(), frame.begin(), frame.end());
  d.patch_le16(words + 20, data_at - smb);  // ParameterOffset = data start (no parameters)
  d.patch_le16(words + 24, data_at - smb);
  d.patch_le16(bc_at, d.here() - bytes_at);
  d.patch16(len_at, d.here() - names_at);
  return d.b;
}

std::vector<std::uint8_t> announcement(unsigned opcode, std::string_view server, unsigned major, unsigned minor,
                                       std::uint32_t type, std::string_view comment) {
  builder f;
  f.u8(opcode).u8(80).le32(720000);
  std::string name(server);
  name.resize(16, '\0');
  f.raw(name).u8(major).u8(minor).le32(type).u8(15).u8(1).le16(0xaa55).raw(comment).u8(0);
  return f.b;
}

TEST(Nbdgm, HostAnnouncementFieldsAndFacts) {
  const auto& v = keep(browser_datagram("NVR9", "VIGILANT_GROUP", 0x1d,
                                        announcement(0x01, "NVR9", 6, 1, 0x00011007, "Video recorder")));
  nbdgm_message m;
  ASSERT_EQ(parse_nbdgm(v, m), nbdgm_error::none) << proto::nbdgm_error_name(m.error);
  EXPECT_EQ(m.type, proto::nbdgm_type::direct_group);
  EXPECT_EQ(m.src_ip.to_string(), "192.168.5.67");
  EXPECT_EQ(m.source.name(), "NVR9");
  EXPECT_EQ(m.destination.suffix, 0x1d);
  ASSERT_TRUE(m.is_mailslot);
  EXPECT_EQ(m.mailslot, "\\MAILSLOT\\BROWSE");
  ASSERT_TRUE(m.has_browser);
  EXPECT_TRUE(m.is_announcement);
  EXPECT_EQ(m.browser_command, proto::browser_op::host_announcement);
  EXPECT_EQ(m.server_name, "NVR9");
  EXPECT_EQ(m.version_major, 6);
  EXPECT_EQ(m.version_minor, 1);
  EXPECT_EQ(m.server_type, 0x00011007u);
  EXPECT_EQ(m.periodicity_ms, 720000u);
  EXPECT_EQ(m.signature, 0xaa55);
  EXPECT_EQ(m.comment, "Video recorder");
  test_sink sink;
  proto::nbdgm_facts(m, from("10.0.5.9", "10.0.5.255", 138, 138), sink);
  EXPECT_TRUE(sink.has(subject::sender, "netbios_name", "NVR9")) << sink.dump();
  EXPECT_TRUE(sink.has(subject::sender, "windows_version", "6.1"));
  EXPECT_TRUE(sink.has(subject::sender, "browser_server_type", "0x00011007"));
  EXPECT_TRUE(sink.has(subject::sender, "browser_comment", "Video recorder"));
  EXPECT_TRUE(sink.has(subject::sender, "workgroup", "VIGILANT_GROUP"));
}

TEST(Nbdgm, LocalMasterDomainAnnouncementAndElection) {
  nbdgm_message m;
  const auto& lmb = keep(browser_datagram("SANJI-LIFEBOOK-", "WORKGROUP", 0x1e,
                                          announcement(0x0f, "SANJI-LIFEBOOK-L", 4, 9, 0x00849a03, "Samba")));
  ASSERT_EQ(parse_nbdgm(lmb, m), nbdgm_error::none);
  test_sink s1;
  proto::nbdgm_facts(m, from("192.168.5.67", "192.168.5.255", 138, 138), s1);
  EXPECT_TRUE(s1.has(subject::sender, "netbios_name", "SANJI-LIFEBOOK-L")) << s1.dump();
  EXPECT_TRUE(s1.has(subject::sender, "netbios_name", "SANJI-LIFEBOOK-"));  // datagram source name
  EXPECT_TRUE(s1.has(subject::sender, "windows_version", "4.9"));
  EXPECT_TRUE(s1.has(subject::sender, "workgroup", "WORKGROUP"));

  const auto& dom = keep(browser_datagram("SANJI-LIFEBOOK-", "\x01\x02__MSBROWSE__\x02", 0x01,
                                          announcement(0x0c, "WORKGROUP", 4, 9, 0x80001000, "SANJI-LIFEBOOK-L")));
  ASSERT_EQ(parse_nbdgm(dom, m), nbdgm_error::none);
  test_sink s2;
  proto::nbdgm_facts(m, from("192.168.5.67", "192.168.5.255", 138, 138), s2);
  EXPECT_TRUE(s2.has(subject::sender, "workgroup", "WORKGROUP")) << s2.dump();
  EXPECT_TRUE(s2.has(subject::sender, "browser_config_version", "4.9"));
  EXPECT_TRUE(s2.has(subject::sender, "netbios_name", "SANJI-LIFEBOOK-L"));
  EXPECT_FALSE(s2.has(subject::sender, "windows_version", "4.9"));

  builder e;
  e.u8(0x08).u8(1).le32(0x20010f03).le32(123456).le32(0).raw("MACBOOKAIR-E1D0").u8(0);
  ASSERT_EQ(parse_nbdgm(keep(browser_datagram("MACBOOKAIR-E1D0", "WORKGROUP", 0x1e, e.b)), m), nbdgm_error::none);
  EXPECT_EQ(m.other_name, "MACBOOKAIR-E1D0");
  test_sink s3;
  proto::nbdgm_facts(m, from("192.168.5.45", "192.168.5.255", 138, 138), s3);
  EXPECT_TRUE(s3.has(subject::sender, "netbios_name", "MACBOOKAIR-E1D0")) << s3.dump();
}

TEST(Nbdgm, BrokenDatagrams) {
  const auto full = browser_datagram("NVR9", "VIGILANT_GROUP", 0x1d, announcement(0x01, "NVR9", 6, 1, 0x1003, "c"));
  nbdgm_message whole;
  ASSERT_EQ(parse_nbdgm(full, whole), nbdgm_error::none);
  for (std::size_t len = 0; len < full.size(); ++len) {
    const std::vector<std::uint8_t> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(len));
    nbdgm_message m;
    const nbdgm_error e = parse_nbdgm(cut, m);
    EXPECT_NE(e, nbdgm_error::none) << len;
    test_sink sink;
    proto::nbdgm_facts(m, from("10.0.5.9", "10.0.5.255", 138, 138), sink);
    for (const auto& f : sink.facts) {
      EXPECT_TRUE(f.field == "netbios_name" || f.field == "browser_comment") << len << " " << f.field;
    }
  }
  // Not SMB in the user data.
  auto not_smb = full;
  not_smb[14 + 34 + 34] = 0x00;
  nbdgm_message m;
  EXPECT_EQ(parse_nbdgm(not_smb, m), nbdgm_error::not_smb);
  EXPECT_TRUE(m.has_source);
  // A later fragment (FIRST flag clear) is not parsed as SMB.
  auto frag = full;
  frag[1] = 0x08;
  EXPECT_EQ(parse_nbdgm(frag, m), nbdgm_error::none);
  EXPECT_FALSE(m.is_mailslot);
  // A data offset pointing past the end.
  auto bad_off = full;
  const std::size_t words = 14 + 34 + 34 + 32 + 1;
  bad_off[words + 24] = 0xff;
  EXPECT_EQ(parse_nbdgm(bad_off, m), nbdgm_error::bad_smb);
  // Another mailslot: kept as data, no browser frame.
  const auto other = browser_datagram("PC", "DOM", 0x1c, {0x12, 0x00}, "\\MAILSLOT\\NET\\NETLOGON");
  ASSERT_EQ(parse_nbdgm(keep(other), m), nbdgm_error::none);
  EXPECT_TRUE(m.is_mailslot);
  EXPECT_FALSE(m.has_browser);
  EXPECT_EQ(m.mailslot_data.size(), 2u);
  // Announcement frame too short for its fixed part.
  ASSERT_EQ(parse_nbdgm(keep(browser_datagram("PC", "WG", 0x1d, {0x01, 0x00, 0x00})), m),
            nbdgm_error::bad_browser_frame);
  // Query request: destination name only.
  builder q;
  q.u8(0x14).u8(0x02).u16(1).ipv4("10.0.0.1").u16(138).nbname("TARGET", 0x20);
  ASSERT_EQ(parse_nbdgm(keep(q.b), m), nbdgm_error::none);
  EXPECT_TRUE(m.has_destination);
  EXPECT_FALSE(m.has_source);
  EXPECT_EQ(m.destination.name(), "TARGET");
}

TEST(Nbdgm, RandomMutationsStayInBounds) {
  const auto base = browser_datagram("NVR9", "VIGILANT_GROUP", 0x1d, announcement(0x01, "NVR9", 6, 1, 0x1003, "c"));
  std::uint32_t state = 7;
  auto rnd = [&state](std::uint32_t n) {
    state = state * 1664525u + 1013904223u;
    return (state >> 8) % n;
  };
  for (int round = 0; round < 20000; ++round) {
    auto v = base;
    for (std::uint32_t k = 0, n = 1 + rnd(6); k < n; ++k) {
      v[rnd(static_cast<std::uint32_t>(v.size()))] = static_cast<std::uint8_t>(rnd(256));
    }
    if (rnd(2) == 0) {
      v.resize(rnd(static_cast<std::uint32_t>(v.size() + 1)));
    }
    v.shrink_to_fit();
    nbdgm_message m;
    parse_nbdgm(v, m);
    const auto* b = reinterpret_cast<const char*>(v.data());
    for (std::string_view s : {m.mailslot, m.server_name, m.comment, m.other_name}) {
      if (!s.empty()) {
        ASSERT_GE(s.data(), b);
        ASSERT_LE(s.data() + s.size(), b + v.size());
      }
    }
    test_sink sink;
    proto::nbdgm_facts(m, from("10.0.5.9", "10.0.5.255", 138, 138), sink);
  }
}

TEST(Nbns, WriteFuzzSeeds) {
  if (names_test::seed_dir() == nullptr) {
    GTEST_SKIP() << "TAPSENSE_WRITE_SEEDS not set";
  }
  // One corpus for both parsers: the fuzz target feeds each input to both.
  names_test::write_seed("nbns", registration("KEVIN-PC", 0x00, false, "192.168.5.41"));
  names_test::write_seed("nbns", registration("WORKGROUP", 0x1e, true, "192.168.5.41", 8));
  names_test::write_seed("nbns", node_status());
  builder q;
  q.u16(0x8001).u16(0x0110).u16(1).u16(0).u16(0).u16(0).nbname("WPAD", 0).u16(0x20).u16(1);
  names_test::write_seed("nbns", q.b);
  names_test::write_seed("nbns", browser_datagram("NVR9", "VIGILANT_GROUP", 0x1d,
                                                  announcement(0x01, "NVR9", 6, 1, 0x00011007, "Video recorder")));
  names_test::write_seed("nbns", browser_datagram("SANJI", "\x01\x02__MSBROWSE__\x02", 0x01,
                                                  announcement(0x0c, "WORKGROUP", 4, 9, 0x80001000, "SANJI")));
  builder e;
  e.u8(0x08).u8(1).le32(0x20010f03).le32(123456).le32(0).raw("MACBOOKAIR-E1D0").u8(0);
  names_test::write_seed("nbns", browser_datagram("MACBOOKAIR-E1D0", "WORKGROUP", 0x1e, e.b));
}

// ---------------------------------------------------------------------------
// Agreement with tshark

// The fact fields a bound name gives, by suffix and group bit (nbns.h).
std::string classify(const std::string& name, unsigned suffix, bool group) {
  if (name.empty() || name[0] == '*' || name[0] == '<') {
    return {};
  }
  switch (suffix) {
    case 0x00:
      return group ? "workgroup" : "netbios_name";
    case 0x20:
      return group ? "" : "netbios_name";
    case 0x1e:
      return group ? "workgroup" : "";
    case 0x1d:
      return group ? "" : "workgroup";
    case 0x1b:
      return group ? "" : "domain";
    case 0x1c:
      return group ? "domain" : "";
    default:
      return {};
  }
}

// "NAME<xx>" (tshark, maybe followed by " (Workstation/Redirector)") ->
// name and suffix.
bool split_name(const std::string& shown, std::string& name, unsigned& suffix) {
  const auto lt = shown.rfind('<', shown.find(" ("));
  if (lt == std::string::npos || lt + 4 > shown.size() || shown[lt + 3] != '>') {
    return false;
  }
  name = shown.substr(0, lt);
  suffix = static_cast<unsigned>(std::stoul(shown.substr(lt + 1, 2), nullptr, 16));
  return true;
}

void expect_nbns(const boost::json::value& pkt, names_test::agreement& agr) {
  using names_test::str;
  using names_test::triple;
  const std::string src = names_test::json_src(pkt);
  const auto* nbns = names_test::layer(pkt, "nbns");
  if (nbns == nullptr) {
    return;
  }
  const auto* ft = nbns->if_contains("nbns.flags_tree");
  if (ft == nullptr || !ft->is_object()) {
    return;
  }
  const bool response = str(ft->as_object(), "nbns.flags.response") == "1";
  const unsigned opcode = static_cast<unsigned>(std::stoul(str(ft->as_object(), "nbns.flags.opcode")));
  const std::string rcode = str(ft->as_object(), "nbns.flags.rcode");
  auto section = [&](const char* key, auto&& fn) {
    const auto* sec = nbns->if_contains(key);
    if (sec == nullptr || !sec->is_object()) {
      return;
    }
    for (const auto& [summary, value] : sec->as_object()) {
      for (const auto* o : names_test::objects(&value)) {
        const std::string s(summary);
        fn(s.substr(0, s.find(": type ")), *o);
      }
    }
  };
  auto bound = [&](const std::string& shown, const boost::json::object& o) {
    std::string name;
    unsigned suffix = 0;
    if (str(o, "nbns.type") != "32" || !split_name(shown, name, suffix)) {
      return;
    }
    const auto addrs = names_test::strings(o, "nbns.addr");
    const auto flags = names_test::objects(o.if_contains("nbns.nb_flags_tree"));
    for (std::size_t i = 0; i < addrs.size(); ++i) {
      const bool group = i < flags.size() && str(*flags[i], "nbns.nb_flags.group") == "1";
      const std::string field = classify(name, suffix, group);
      if (!field.empty()) {
        agr.expect(triple(addrs[i], field, name));
      }
      agr.expect(triple(addrs[i], "nbns_name", shown));
    }
  };
  if (!response) {
    if (opcode == 0) {
      section("Queries", [&](const std::string& shown, const boost::json::object& o) {
        if (str(o, "nbns.type") == "32" && !shown.empty() && shown[0] != '*') {
          agr.expect(triple(src, "nbns_query", shown));
        }
      });
    } else if (opcode == 5 || opcode == 6 || opcode == 8 || opcode == 9 || opcode == 15) {
      section("Additional records", bound);
    }
    return;
  }
  if (rcode != "0") {
    return;
  }
  section("Answers", [&](const std::string& shown, const boost::json::object& o) {
    bound(shown, o);
    if (str(o, "nbns.type") == "33") {
      // tshark shows node status names without their suffix: any fact
      // about the sender naming them counts.
      for (const auto& n : names_test::strings(o, "nbns.netbios_name")) {
        agr.expect(triple(src, "*", n));
      }
      const std::string mac = str(o, "nbns.unit_id");
      if (!mac.empty() && mac != "00:00:00:00:00:00") {
        agr.expect(triple(src, "netbios_mac", mac));
      }
    }
  });
}

void expect_browser(const boost::json::value& pkt, names_test::agreement& agr) {
  using names_test::str;
  using names_test::triple;
  const std::string src = names_test::json_src(pkt);
  if (const auto* dgm = names_test::layer(pkt, "nbdgm")) {
    std::string name;
    unsigned suffix = 0;
    if (split_name(str(*dgm, "nbdgm.source_name"), name, suffix) && (suffix == 0x00 || suffix == 0x20)) {
      agr.expect(triple(src, "netbios_name", name));
    }
  }
  const auto* b = names_test::layer(pkt, "browser");
  if (b == nullptr) {
    return;
  }
  const std::string cmd = str(*b, "browser.command");
  const std::string version = str(*b, "browser.os_major") + "." + str(*b, "browser.os_minor");
  if (cmd == "0x01" || cmd == "0x0f") {
    agr.expect(triple(src, "netbios_name", str(*b, "browser.server")));
    agr.expect(triple(src, "windows_version", version));
    agr.expect(triple(src, "browser_server_type", str(*b, "browser.server_type")));
    if (!str(*b, "browser.comment").empty()) {
      agr.expect(triple(src, "browser_comment", str(*b, "browser.comment")));
    }
  } else if (cmd == "0x0c") {
    // tshark labels the DomainAnnouncement's BrowserConfigVersion fields as
    // the OS version; [MS-BRWS] 2.2.7 says they are not.
    agr.expect(triple(src, "workgroup", str(*b, "browser.server")));
    agr.expect(triple(src, "browser_config_version", version));
    agr.expect(triple(src, "browser_server_type", str(*b, "browser.server_type")));
  }
}

TEST(Nbns, AgreesWithTsharkOnSharedCaptures) {
  if (!std::filesystem::exists(names_test::shared_pcaps())) {
    GTEST_SKIP() << "shared pcaps absent";
  }
  if (!names_test::have_tshark()) {
    GTEST_SKIP() << "tshark absent";
  }
  std::size_t total_expected = 0;
  std::size_t total_found = 0;
  for (const char* name : {"nbns/netbios.pcap", "dhcp/1kxun.pcap", "gre/erspan.pcap"}) {
    SCOPED_TRACE(name);
    const std::string path = names_test::shared_pcaps() + "/" + name;
    std::map<std::size_t, std::set<std::string>> ours;
    std::size_t datagrams = 0;
    for (const auto& p : names_test::decode_capture(path)) {
      if (p.rec.ip_proto != net::ipproto::udp || p.fragment) {
        continue;
      }
      names_test::recording_sink sink;
      sink.set_packet(p.view, p.frame);
      if (p.view.src_port == 137 || p.view.dst_port == 137) {
        nbns_message m;
        parse_nbns(p.payload, m);
        proto::nbns_facts(m, p.view, sink);
      } else if (p.view.src_port == 138 || p.view.dst_port == 138) {
        nbdgm_message m;
        parse_nbdgm(p.payload, m);
        proto::nbdgm_facts(m, p.view, sink);
      } else {
        continue;
      }
      ++datagrams;
      ours[p.frame] = names_test::triples(sink.facts);
    }
    const auto packets = names_test::tshark_json(path, "(nbns || nbdgm) && !(ip.flags.mf == 1) && !(ip.frag_offset > 0)",
                                                 "frame ip udp nbns nbdgm smb mailslot browser");
    names_test::agreement agr;
    agr.capture = name;
    std::set<std::string> have;
    for (const auto& pkt : packets) {
      const auto it = ours.find(names_test::json_frame(pkt));
      if (it != ours.end()) {
        have.insert(it->second.begin(), it->second.end());
      }
      expect_nbns(pkt, agr);
      expect_browser(pkt, agr);
    }
    agr.check(have);
    std::cout << agr.report("nbns") << " (" << packets.size() << " packets, " << datagrams << " datagrams parsed)\n";
    EXPECT_GT(agr.expected.size(), 0u) << "nothing compared in " << name;
    EXPECT_EQ(agr.missing.size(), 0u) << agr.report("nbns");
    total_expected += agr.expected.size();
    total_found += agr.found.size();
  }
  ASSERT_GT(total_expected, 0u) << "no NetBIOS fact was compared with tshark";
  std::cout << "[ nbns ] total " << total_found << "/" << total_expected << "\n";
}

}  // namespace
