// CDP parser. Broken input first (every truncation, TLV lengths below the
// header, address lists past their TLV, other LLC/SNAP protocols), then
// renderer tables, then hand-built v1/v2 frames shown to tshark, then
// agreement with tshark on every CDP frame of the shared captures. All
// fixtures are built here.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "common/proto/cdp.h"
#include "tests/unit/test_tls_capture.h"

using namespace tapsense;
using namespace tapsense::proto;
using testcap::from_hex;

namespace {

using bytes_t = std::vector<std::uint8_t>;

bytes_t text(std::string_view s) { return bytes_t(s.begin(), s.end()); }
bytes_t cut(const bytes_t& v, std::size_t n) {
  return bytes_t(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n));
}
void put16(bytes_t& v, std::size_t x) {
  v.push_back(static_cast<std::uint8_t>(x >> 8));
  v.push_back(static_cast<std::uint8_t>(x));
}
bytes_t cat(std::initializer_list<bytes_t> parts) {
  bytes_t v;
  for (const auto& p : parts) {
    for (const std::uint8_t b : p) {
      v.push_back(b);
    }
  }
  return v;
}
bytes_t tlv(std::uint16_t type, const bytes_t& value) {
  bytes_t t;
  put16(t, type);
  put16(t, value.size() + 4);
  for (const std::uint8_t b : value) {
    t.push_back(b);
  }
  return t;
}
bytes_t ipv4_entry(const char* hex4) { return cat({from_hex("01 01 cc 0004"), from_hex(hex4)}); }
bytes_t ipv6_entry(const char* hex16) {
  return cat({from_hex("02 08 aaaa0300000086dd 0010"), from_hex(hex16)});
}
bytes_t addresses(std::initializer_list<bytes_t> entries) {
  bytes_t v = {0, 0, 0, static_cast<std::uint8_t>(entries.size())};
  for (const auto& e : entries) {
    for (const std::uint8_t b : e) {
      v.push_back(b);
    }
  }
  return v;
}

// RFC 1071 checksum over the CDP PDU (even lengths only here).
std::uint16_t checksum(const bytes_t& pdu) {
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i + 1 < pdu.size(); i += 2) {
    sum += static_cast<std::uint32_t>((pdu[i] << 8) | pdu[i + 1]);
  }
  if (pdu.size() % 2 != 0) {
    sum += static_cast<std::uint32_t>(pdu.back() << 8);
  }
  while (sum >> 16) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<std::uint16_t>(~sum);
}

// An 802.3 frame to 01:00:0c:cc:cc:cc carrying a CDP PDU of `tlvs`, with a
// correct checksum, padded to the Ethernet minimum, plus a fake FCS.
bytes_t cdp_frame_of(std::uint8_t version, const bytes_t& tlvs, const char* tags_hex = "") {
  bytes_t pdu = {version, 180, 0, 0};
  for (const std::uint8_t b : tlvs) {
    pdu.push_back(b);
  }
  const std::uint16_t c = checksum(pdu);
  pdu[2] = static_cast<std::uint8_t>(c >> 8);
  pdu[3] = static_cast<std::uint8_t>(c);
  bytes_t f = cat({from_hex("01000ccccccc 020000112233"), from_hex(tags_hex)});
  put16(f, 8 + pdu.size());
  f = cat({f, from_hex("aaaa03 00000c 2000"), pdu});
  while (f.size() < 60) {
    f.push_back(0);
  }
  return cat({f, from_hex("cafebabe")});
}

bytes_t switch_tlvs() {
  return cat({tlv(0x0001, text("access-sw-7.example.net")),
              tlv(0x0005, text("Example IOS Software, Version 15.2(7)E4\nCopyright (c) 1986-2021\nCompiled Tue")),
              tlv(0x0006, text("cisco WS-C2960X-48FPD-L")),
              tlv(0x0002, addresses({ipv4_entry("c0000207"),
                                     ipv6_entry("20010db8000000000000000000000007")})),
              tlv(0x0003, text("GigabitEthernet1/0/24")),
              tlv(0x0004, from_hex("00000028")),
              tlv(0x0009, text("CAMPUS")),
              tlv(0x000a, from_hex("0064")),
              tlv(0x000b, from_hex("01")),
              tlv(0x0012, from_hex("00")),
              tlv(0x0013, from_hex("00")),
              tlv(0x0014, text("access-sw-7")),
              tlv(0x0016, addresses({ipv4_entry("c6336407")})),
              tlv(0x001a, from_hex("0000000100000000ffffffff"))});
}

bytes_t router_tlvs() {
  return cat({tlv(0x0001, text("R9")), tlv(0x0002, addresses({ipv4_entry("0a000009")})),
              tlv(0x0003, text("Ethernet0")), tlv(0x0004, from_hex("00000001")),
              tlv(0x0005, text("IOS (tm) 1600 Software\nVersion 11.2")),
              tlv(0x0006, text("cisco 1601"))});
}

struct fact_list : fact_sink {
  std::vector<fact> facts;
  void add(fact f) override { facts.push_back(std::move(f)); }
  std::string get(std::string_view field, subject about = subject::sender) const {
    for (const auto& f : facts) {
      if (f.field == field && f.about == about) {
        return f.value;
      }
    }
    return "<absent>";
  }
};

// ---------------------------------------------------------------------------
// Broken input

TEST(Cdp, EveryTruncationIsSafeAndKeepsThePrefix) {
  const bytes_t full = cdp_frame_of(2, switch_tlvs());
  cdp_frame whole;
  ASSERT_EQ(parse_cdp(full, whole), cdp_error::none);
  const std::size_t pdu_end = 14 + 8 + 4 + switch_tlvs().size();
  for (std::size_t len = 0; len <= full.size(); ++len) {
    const bytes_t c = cut(full, len);
    cdp_frame f;
    const cdp_error e = parse_cdp(c, f);
    if (len < 14 + 8 + 4) {
      ASSERT_EQ(e, cdp_error::truncated_header) << len;
      continue;
    }
    if (len < pdu_end) {
      // Cut at a TLV boundary, the frame just looks shorter.
      ASSERT_TRUE(e == cdp_error::truncated_tlv || e == cdp_error::none) << len;
    } else {
      ASSERT_EQ(e, cdp_error::none) << len;
    }
    EXPECT_TRUE(!f.device_id.present || f.device_id.view() == whole.device_id.view());
    EXPECT_TRUE(!f.platform.present || f.platform.view() == whole.platform.view());
    EXPECT_LE(f.address_count, whole.address_count);
    EXPECT_TRUE(!f.has_native_vlan || f.native_vlan == whole.native_vlan);
  }
}

TEST(Cdp, HostileFrames) {
  cdp_frame f;
  // An EtherType, not an 802.3 length.
  EXPECT_EQ(parse_cdp(from_hex("01000ccccccc 020000112233 0800 4500000000000000000000"), f),
            cdp_error::not_cdp);
  // Another SNAP protocol (VTP, PID 0x2003) and another LLC (STP).
  EXPECT_EQ(parse_cdp(from_hex("01000ccccccc 020000112233 0010 aaaa0300000c2003 01b40000"), f),
            cdp_error::not_cdp);
  EXPECT_EQ(parse_cdp(from_hex("0180c2000000 020000112233 0026 424203 0000000000000000000000"), f),
            cdp_error::not_cdp);
  // An 802.3 length too small for LLC/SNAP + header.
  EXPECT_EQ(parse_cdp(from_hex("01000ccccccc 020000112233 0008 aaaa0300000c2000 02b4"), f),
            cdp_error::not_cdp);
  // A TLV length below its own header: the walk stops.
  EXPECT_EQ(parse_cdp(cdp_frame_of(2, cat({tlv(0x0001, text("a")), from_hex("00060000"),
                                           tlv(0x0006, text("never"))})),
                      f),
            cdp_error::bad_tlv_length);
  EXPECT_EQ(f.device_id.view(), "a");
  EXPECT_FALSE(f.platform.present);
  EXPECT_EQ(parse_cdp(cdp_frame_of(2, from_hex("00010003 00")), f), cdp_error::bad_tlv_length);
  // A TLV longer than the PDU (the 802.3 length), though the frame's
  // padding would have covered it.
  EXPECT_EQ(parse_cdp(cdp_frame_of(2, cat({tlv(0x0001, text("a")), from_hex("0006 0020 6162")})), f),
            cdp_error::truncated_tlv);
  // Address lists: a count of 4 billion, an entry past its TLV, more than kept.
  EXPECT_EQ(parse_cdp(cdp_frame_of(2, tlv(0x0002, cat({from_hex("ffffffff"), ipv4_entry("0a000001")}))),
                      f),
            cdp_error::bad_address);
  EXPECT_EQ(f.address_count, 1);
  EXPECT_EQ(parse_cdp(cdp_frame_of(2, tlv(0x0002, from_hex("00000001 01 01 cc 0010 0a000001"))), f),
            cdp_error::bad_address);
  EXPECT_EQ(f.address_count, 0);
  EXPECT_EQ(parse_cdp(cdp_frame_of(2, tlv(0x0002, from_hex("00000001 01 ff"))), f),
            cdp_error::bad_address);
  EXPECT_EQ(parse_cdp(cdp_frame_of(2, tlv(0x0002, addresses({ipv4_entry("0a000001"), ipv4_entry("0a000002"),
                                                            ipv4_entry("0a000003"), ipv4_entry("0a000004"),
                                                            ipv4_entry("0a000005")}))),
                      f),
            cdp_error::list_overflow);
  EXPECT_EQ(f.address_count, 4);
  // Fixed sizes.
  EXPECT_EQ(parse_cdp(cdp_frame_of(2, cat({tlv(0x0004, from_hex("0001")), tlv(0x000a, from_hex("00")),
                                           tlv(0x000b, from_hex("0101")), tlv(0x0003, text("p"))})),
                      f),
            cdp_error::bad_tlv_length);
  EXPECT_FALSE(f.has_capabilities);
  EXPECT_FALSE(f.has_native_vlan);
  EXPECT_FALSE(f.has_duplex);
  EXPECT_EQ(f.port_id.view(), "p");
  // A software version longer than kept is cut and flagged.
  EXPECT_EQ(parse_cdp(cdp_frame_of(2, tlv(0x0005, bytes_t(1300, 'v'))), f), cdp_error::none);
  EXPECT_EQ(f.software_version.n, 1024);
  EXPECT_TRUE(f.software_version.truncated);
}

TEST(Cdp, RandomMutationsStayInBounds) {
  std::uint32_t state = 4242;
  auto rnd = [&state](std::uint32_t n) {
    state = state * 1664525u + 1013904223u;
    return (state >> 8) % n;
  };
  const bytes_t bases[] = {cdp_frame_of(2, switch_tlvs()), cdp_frame_of(1, router_tlvs())};
  std::size_t errors = 0;
  for (int round = 0; round < 20000; ++round) {
    bytes_t v = bases[round % 2];
    for (std::uint32_t k = 0, n = 1 + rnd(6); k < n; ++k) {
      v[26 + rnd(static_cast<std::uint32_t>(v.size() - 26))] = static_cast<std::uint8_t>(rnd(256));
    }
    if (rnd(2) == 0) {
      v.resize(rnd(static_cast<std::uint32_t>(v.size() + 1)));
    }
    v.shrink_to_fit();
    cdp_frame f;
    errors += parse_cdp(v, f) != cdp_error::none;
    ASSERT_LE(f.address_count, f.addresses.size());
    ASSERT_LE(f.mgmt_address_count, f.mgmt_addresses.size());
    ASSERT_LE(f.software_version.n, f.software_version.b.size());
  }
  EXPECT_GT(errors, 0u);
}

// ---------------------------------------------------------------------------
// Decoding and rendering

TEST(Cdp, SwitchAndRouterFrames) {
  cdp_frame f;
  ASSERT_EQ(parse_cdp(cdp_frame_of(2, switch_tlvs()), f), cdp_error::none);
  EXPECT_EQ(f.version, 2);
  EXPECT_EQ(f.ttl, 180);
  EXPECT_EQ(f.src.to_string(), "02:00:00:11:22:33");
  EXPECT_EQ(f.device_id.view(), "access-sw-7.example.net");
  EXPECT_EQ(f.platform.view(), "cisco WS-C2960X-48FPD-L");
  EXPECT_EQ(f.port_id.view(), "GigabitEthernet1/0/24");
  EXPECT_EQ(cdp_capabilities_text(f.capabilities), "switch,igmp");
  ASSERT_EQ(f.address_count, 2);
  EXPECT_EQ(f.addresses[0].ip.to_string(), "192.0.2.7");
  EXPECT_EQ(f.addresses[1].ip.to_string(), "2001:db8::7");
  ASSERT_EQ(f.mgmt_address_count, 1);
  EXPECT_EQ(f.mgmt_addresses[0].ip.to_string(), "198.51.100.7");
  EXPECT_EQ(f.vtp_domain.view(), "CAMPUS");
  EXPECT_EQ(f.native_vlan, 100);
  EXPECT_TRUE(f.full_duplex);
  EXPECT_EQ(f.system_name.view(), "access-sw-7");
  EXPECT_EQ(f.tlv_count, 14);
  // Behind an 802.1Q tag.
  cdp_frame t;
  ASSERT_EQ(parse_cdp(cdp_frame_of(1, router_tlvs(), "8100 0005"), t), cdp_error::none);
  EXPECT_EQ(t.version, 1);
  EXPECT_EQ(t.device_id.view(), "R9");
  EXPECT_EQ(t.software_version.view(), "IOS (tm) 1600 Software\nVersion 11.2");
}

TEST(Cdp, CapabilityTextTable) {
  EXPECT_EQ(cdp_capabilities_text(0), "");
  EXPECT_EQ(cdp_capabilities_text(0x01), "router");
  EXPECT_EQ(cdp_capabilities_text(0x29), "router,switch,igmp");
  EXPECT_EQ(cdp_capabilities_text(0x490), "host,voip_phone,two_port_mac_relay");
  EXPECT_EQ(cdp_capabilities_text(0x80000200), "cvta_stp_camera,bit31");
}

TEST(Cdp, Facts) {
  cdp_frame f;
  ASSERT_EQ(parse_cdp(cdp_frame_of(2, switch_tlvs()), f), cdp_error::none);
  fact_list s;
  cdp_facts(f, packet_view{}, s);
  EXPECT_EQ(s.get("device_id"), "access-sw-7.example.net");
  EXPECT_EQ(s.get("hostname"), "access-sw-7.example.net");
  EXPECT_EQ(s.get("platform"), "cisco WS-C2960X-48FPD-L");
  EXPECT_EQ(s.get("model"), "cisco WS-C2960X-48FPD-L");
  EXPECT_EQ(s.get("software_version"),
            "Example IOS Software, Version 15.2(7)E4 Copyright (c) 1986-2021 Compiled Tue");
  EXPECT_EQ(s.get("capabilities"), "switch,igmp");
  EXPECT_EQ(s.get("port_id"), "GigabitEthernet1/0/24");
  EXPECT_EQ(s.get("native_vlan"), "100");
  EXPECT_EQ(s.get("vtp_domain"), "CAMPUS");
  EXPECT_EQ(s.get("system_name"), "access-sw-7");
  EXPECT_EQ(s.get("address"), "192.0.2.7");
  EXPECT_EQ(s.get("management_address"), "198.51.100.7");
  std::vector<std::string> bound;
  for (const auto& x : s.facts) {
    EXPECT_EQ(x.source.str(), "cdp");
    if (x.about == subject::ip) {
      EXPECT_EQ(x.field.str(), "mac");
      EXPECT_EQ(x.value, "02:00:00:11:22:33");
      bound.push_back(x.ip.to_string());
    }
  }
  EXPECT_EQ(bound, (std::vector<std::string>{"192.0.2.7", "2001:db8::7", "198.51.100.7"}));
  cdp_frame n;
  parse_cdp(from_hex("01000ccccccc 020000112233 0800 4500"), n);
  fact_list none;
  cdp_facts(n, packet_view{}, none);
  EXPECT_TRUE(none.facts.empty());
}

TEST(Cdp, FuzzSeeds) {
  const std::vector<std::pair<const char*, bytes_t>> seeds = {
      {"v2-switch", cdp_frame_of(2, switch_tlvs())},
      {"v1-router", cdp_frame_of(1, router_tlvs())},
      {"v1-router-tagged", cdp_frame_of(1, router_tlvs(), "8100 0005")},
  };
  const char* dir = std::getenv("TAPSENSE_WRITE_FUZZ_SEEDS");
  for (const auto& [name, bytes] : seeds) {
    cdp_frame f;
    EXPECT_EQ(parse_cdp(bytes, f), cdp_error::none) << name;
    if (dir != nullptr) {
      std::ofstream out(std::string(dir) + "/seed-" + name, std::ios::binary);
      out.write(reinterpret_cast<const char*>(bytes.data()),
                static_cast<std::streamsize>(bytes.size()));
    }
  }
}

// ---------------------------------------------------------------------------
// Agreement with tshark

const std::vector<std::string> cdp_fields = {
    "frame.number",          "cdp.version",         "cdp.ttl",
    "cdp.checksum",          "cdp.deviceid",        "cdp.portid",
    "cdp.platform",          "cdp.software_version", "cdp.capabilities",
    "cdp.nrgyz.ip_address",  "cdp.nrgyz.ipv6_address", "cdp.native_vlan",
    "cdp.vtp_management_domain", "cdp.duplex",      "cdp.system_name",
};

std::vector<std::string> our_columns(const cdp_frame& f) {
  auto hex = [](std::uint32_t v, int digits) {
    char b[16];
    std::snprintf(b, sizeof b, "0x%0*x", digits, static_cast<unsigned>(v));
    return std::string(b);
  };
  // tshark shows each software version line as one field occurrence.
  std::string sw;
  if (f.software_version.present) {
    sw = std::string(f.software_version.view());
    for (auto& c : sw) {
      if (c == '\n') {
        c = '|';
      }
    }
  }
  std::string v4, v6;
  auto add = [&v4, &v6](const std::array<cdp_address, 4>& l, std::uint8_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      if (l[i].is_ip) {
        std::string& d = l[i].ip.is_v4() ? v4 : v6;
        d += (d.empty() ? "" : "|") + l[i].ip.to_string();
      }
    }
  };
  add(f.addresses, f.address_count);
  add(f.mgmt_addresses, f.mgmt_address_count);
  auto t = [](const auto& x) { return x.present ? std::string(x.view()) : std::string(); };
  return {
      std::to_string(f.version),
      std::to_string(f.ttl),
      hex(f.checksum, 4),
      t(f.device_id),
      t(f.port_id),
      t(f.platform),
      sw,
      f.has_capabilities ? hex(f.capabilities, 8) : "",
      v4,
      v6,
      f.has_native_vlan ? std::to_string(f.native_vlan) : "",
      t(f.vtp_domain),
      f.has_duplex ? (f.full_duplex ? "1" : "0") : "",
      t(f.system_name),
  };
}

std::size_t compare_with_tshark(const std::string& path, std::size_t& same) {
  std::map<std::size_t, std::vector<std::string>> truth;
  for (auto& r : testcap::tshark_fields(path, "cdp", cdp_fields, "", 'a', '|')) {
    truth[std::stoul(r[0])] = std::move(r);
  }
  std::size_t compared = 0;
  for (const auto& p : testcap::read_capture(path)) {
    const auto d = testcap::decode(p);
    cdp_frame f;
    const cdp_error e = parse_cdp(d.frame, f);
    const auto row = truth.find(p.frame);
    if (e == cdp_error::not_cdp || e == cdp_error::truncated_header) {
      EXPECT_EQ(row, truth.end()) << "frame " << p.frame << ": tshark sees CDP, we do not";
      continue;
    }
    if (row == truth.end()) {
      ADD_FAILURE() << "frame " << p.frame << ": we see CDP, tshark does not";
      continue;
    }
    EXPECT_EQ(e, cdp_error::none) << "frame " << p.frame << " " << cdp_error_name(e);
    const auto ours = our_columns(f);
    bool all = true;
    for (std::size_t i = 0; i < ours.size(); ++i) {
      EXPECT_EQ(ours[i], row->second[i + 1]) << "frame " << p.frame << " " << cdp_fields[i + 1];
      all = all && ours[i] == row->second[i + 1];
    }
    same += all ? 1 : 0;
    ++compared;
  }
  EXPECT_EQ(compared, truth.size()) << path;
  return compared;
}

TEST(Cdp, SyntheticFramesAgreeWithTshark) {
  if (!testcap::have_tshark()) {
    GTEST_SKIP() << "tshark absent";
  }
  const std::vector<std::vector<std::uint8_t>> frames = {
      cdp_frame_of(2, switch_tlvs()),
      cdp_frame_of(1, router_tlvs()),
      cdp_frame_of(2, router_tlvs(), "8100 0005"),
  };
  const std::string path = testcap::temp_path("tapsense_cdp");
  testcap::write_pcap(path, frames);
  std::size_t same = 0;
  const std::size_t n = compare_with_tshark(path, same);
  std::filesystem::remove(path);
  EXPECT_EQ(n, frames.size());
  EXPECT_EQ(same, frames.size());
}

TEST(Cdp, AgreesWithTsharkOnSharedCaptures) {
  const std::string root = testcap::shared_pcaps();
  if (!std::filesystem::exists(root)) {
    GTEST_SKIP() << "../shared/pcaps absent";
  }
  if (!testcap::have_tshark()) {
    GTEST_SKIP() << "tshark absent";
  }
  // Every capture with CDP (surveyed with tshark over MANIFEST.tsv).
  std::ostringstream report;
  std::size_t total = 0;
  for (const char* name : {"cdp/cdp-v1.pcap", "bench/EIP-ChangePortConfigurationAttempt.pcap"}) {
    SCOPED_TRACE(name);
    std::size_t same = 0;
    const std::size_t n = compare_with_tshark(root + "/" + name, same);
    EXPECT_GT(n, 0u) << name;
    report << "  " << name << ": " << same << "/" << n << " frames equal in all "
           << cdp_fields.size() - 1 << " tshark fields\n";
    total += n;
  }
  std::cout << "[ cdp      ] agreement:\n" << report.str();
  ASSERT_GT(total, 0u) << "nothing was compared";
}

}  // namespace

// ---------------------------------------------------------------------------
// The PDU alone (as GRE protocol 0x2000 carries it) and unconfigured devices.

TEST(Cdp, PduWithoutEthernetParsesAlike) {
  const bytes_t f = cdp_frame_of(2, router_tlvs());
  const std::size_t len = (std::size_t{f[12]} << 8) | f[13];
  const bytes_t pdu(f.begin() + 22, f.begin() + 14 + static_cast<std::ptrdiff_t>(len));
  cdp_frame whole;
  cdp_frame alone;
  ASSERT_EQ(parse_cdp(f, whole), cdp_error::none);
  ASSERT_EQ(parse_cdp_pdu(pdu, alone), cdp_error::none);
  EXPECT_EQ(alone.device_id.view(), "R9");
  EXPECT_EQ(alone.platform.view(), whole.platform.view());
  EXPECT_EQ(alone.address_count, whole.address_count);
  EXPECT_TRUE(alone.src.is_zero());
  for (std::size_t n = 0; n < pdu.size(); ++n) {
    cdp_frame cut;
    const auto e = parse_cdp_pdu(std::span<const std::uint8_t>(pdu.data(), n), cut);
    // Without the 802.3 length a cut between TLVs looks whole (fewer TLVs).
    if (n < 4) {
      EXPECT_EQ(e, cdp_error::truncated_header) << n;
    } else {
      EXPECT_TRUE(e == cdp_error::none || e == cdp_error::truncated_tlv) << n;
      EXPECT_LE(cut.tlv_count, alone.tlv_count);
    }
  }
  // Carried in GRE the frame's MAC is not the device's: no address is bound to one.
  fact_list facts;
  cdp_facts(alone, packet_view{}, facts);
  EXPECT_EQ(facts.get("device_id"), "R9");
  EXPECT_EQ(facts.get("address"), "10.0.0.9");
  EXPECT_EQ(facts.get("mac", subject::ip), "<absent>");
}

TEST(Cdp, AnUnconfiguredSwitchAnnouncesNoAddress) {
  // 0.0.0.0 in Addresses and Management Addresses: the device is still
  // described (device_id...), but 0.0.0.0 is neither its address nor bound to its MAC.
  const bytes_t tlvs = cat({tlv(0x0001, text("Switch")), tlv(0x0002, addresses({ipv4_entry("00000000")})),
                            tlv(0x0003, text("FastEthernet0/1")), tlv(0x0004, from_hex("00000028")),
                            tlv(0x0006, text("cisco WS-C3560-24PS")),
                            tlv(0x0016, addresses({ipv4_entry("00000000")}))});
  cdp_frame f;
  ASSERT_EQ(parse_cdp(cdp_frame_of(2, tlvs), f), cdp_error::none);
  ASSERT_EQ(f.address_count, 1);
  fact_list facts;
  packet_view pv;
  pv.src_mac = f.src;
  cdp_facts(f, pv, facts);
  EXPECT_EQ(facts.get("device_id"), "Switch");
  EXPECT_EQ(facts.get("address"), "<absent>");
  EXPECT_EQ(facts.get("management_address"), "<absent>");
  EXPECT_EQ(facts.get("mac", subject::ip), "<absent>");
}
