// LLDP parser. Broken input first (every truncation, TLVs past the end,
// wrong fixed sizes, long runs of empty TLVs), then renderer tables, then
// hand-built frames shown to tshark (LLDP-MED inventory, MUD URL, VLAN
// names, every id subtype), then agreement with tshark on every LLDP frame
// of the shared captures. All fixtures are built here.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "common/proto/lldp.h"
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

bytes_t tlv(std::uint8_t type, const bytes_t& value) {
  bytes_t t;
  const std::size_t head = (std::size_t{type} << 9) | value.size();
  t.push_back(static_cast<std::uint8_t>(head >> 8));
  t.push_back(static_cast<std::uint8_t>(head));
  // (A loop rather than insert(): GCC 12 -O3 reports a bogus -Warray-bounds
  // for insert() of an empty vector here.)
  for (const std::uint8_t b : value) {
    t.push_back(b);
  }
  return t;
}
bytes_t cat(std::initializer_list<bytes_t> parts) {
  bytes_t v;
  for (const auto& p : parts) {
    v.insert(v.end(), p.begin(), p.end());
  }
  return v;
}
bytes_t org(const char* oui_sub_hex, const bytes_t& info) {
  return tlv(127, cat({from_hex(oui_sub_hex), info}));
}

const bytes_t eth_header = from_hex("0180c200000e 020000aabbcc 88cc");

// A switch port announcing itself, every TLV kind we decode.
bytes_t switch_frame() {
  return cat({eth_header,
              tlv(1, from_hex("04 020000aabb00")),
              tlv(2, cat({from_hex("05"), text("GigabitEthernet1/0/7")})),
              tlv(3, from_hex("0078")),
              tlv(4, text("uplink to floor 3")),
              tlv(5, text("sw-floor3.example.net")),
              tlv(6, text("Example OS 7.1\r\nModel EX-4800")),
              tlv(7, from_hex("0014 0014")),
              tlv(8, from_hex("05 01 c0000205 02 00000007 00")),
              tlv(8, from_hex("11 02 20010db8000000000000000000000001 02 00000007 00")),
              tlv(8, from_hex("07 06 020000aabb00 03 00000001 02 2b06")),
              org("0080c2 01", from_hex("000a")),
              org("0080c2 03", cat({from_hex("000a 05"), text("users")})),
              org("00120f 01", from_hex("03 6c01 001e")),
              org("00120f 04", from_hex("05ee")),
              org("0012bb 01", from_hex("0033 04")),
              org("0012bb 05", text("rev B")),
              org("0012bb 06", text("fw 2.3.1")),
              org("0012bb 07", text("7.1.0")),
              org("0012bb 08", cat({text("SN12345"), from_hex("0000")})),
              org("0012bb 09", text("Example Networks")),
              org("0012bb 0a", text("EX-4800")),
              org("0012bb 0b", text("asset-42")),
              org("00005e 01", text("https://mud.example.com/.well-known/mud/v1/ex4800")),
              tlv(0, {}),
              from_hex("00000000 deadbeef")});  // padding and FCS after End
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

TEST(Lldp, EveryTruncationIsSafeAndKeepsThePrefix) {
  const bytes_t full = switch_frame();
  lldp_frame whole;
  ASSERT_EQ(parse_lldp(full, whole), lldp_error::none);
  const std::size_t end_tlv = full.size() - 8 - 2;  // offset of End
  for (std::size_t len = 0; len <= full.size(); ++len) {
    const bytes_t c = cut(full, len);
    lldp_frame f;
    const lldp_error e = parse_lldp(c, f);
    if (len < 14) {
      ASSERT_EQ(e, lldp_error::truncated_header) << len;
      continue;
    }
    if (len < end_tlv + 2) {
      ASSERT_TRUE(e == lldp_error::truncated_tlv || e == lldp_error::missing_end)
          << len << " " << lldp_error_name(e);
    } else {
      ASSERT_EQ(e, lldp_error::none) << len;
    }
    // What was decoded is the full frame's value or absent.
    EXPECT_TRUE(!f.system_name.present || f.system_name.view() == whole.system_name.view());
    EXPECT_TRUE(!f.has_ttl || f.ttl == whole.ttl);
    EXPECT_LE(f.mgmt_count, whole.mgmt_count);
    EXPECT_TRUE(!f.med_model.present || f.med_model.view() == whole.med_model.view()) << len;
    EXPECT_TRUE(!f.mud_url.present || f.mud_url.view() == whole.mud_url.view()) << len;
  }
}

TEST(Lldp, HostileTlvs) {
  lldp_frame f;
  // Not LLDP, or too short for the header.
  EXPECT_EQ(parse_lldp(from_hex("0180c200000e 020000aabbcc 0800 4500"), f), lldp_error::not_lldp);
  EXPECT_EQ(parse_lldp(from_hex("0180c200000e 020000aabbcc 88"), f),
            lldp_error::truncated_header);
  EXPECT_EQ(parse_lldp(from_hex("0180c200000e 020000aabbcc 8100 00"), f),
            lldp_error::truncated_header);
  // A TLV length past the end of the frame (511 bytes claimed).
  EXPECT_EQ(parse_lldp(cat({eth_header, tlv(1, from_hex("04020000aabb00")), from_hex("05ff 6162")}), f),
            lldp_error::truncated_tlv);
  EXPECT_TRUE(f.chassis.present);
  // Fixed sizes too small: skipped, the walk goes on.
  EXPECT_EQ(parse_lldp(cat({eth_header, tlv(1, from_hex("04")), tlv(2, from_hex("0761")),
                            tlv(3, from_hex("00")), tlv(7, from_hex("0004")),
                            tlv(8, from_hex("0501c0000201")), tlv(8, from_hex("ff01c000020102000000010000")),
                            org("0080c2", {}), org("0080c2 01", from_hex("00")),
                            org("0012bb 01", from_hex("00")), tlv(5, text("still read")),
                            tlv(0, {})}),
                       f),
            lldp_error::bad_tlv_length);
  EXPECT_FALSE(f.chassis.present);
  EXPECT_TRUE(f.port.present);
  EXPECT_FALSE(f.has_ttl);
  EXPECT_FALSE(f.has_capabilities);
  EXPECT_EQ(f.mgmt_count, 0);
  EXPECT_FALSE(f.has_port_vlan);
  EXPECT_EQ(f.system_name.view(), "still read");
  // Out of order mandatory TLVs.
  EXPECT_EQ(parse_lldp(cat({eth_header, tlv(5, text("x")), tlv(1, from_hex("04020000aabb00")),
                            tlv(0, {})}),
                       f),
            lldp_error::missing_mandatory);
  EXPECT_EQ(f.system_name.view(), "x");
  EXPECT_TRUE(f.chassis.present);
  // Thousands of empty reserved TLVs: the walk is bounded by the frame.
  bytes_t loop = cat({eth_header, tlv(1, from_hex("04020000aabb00")), tlv(2, from_hex("0761")),
                      tlv(3, from_hex("0078"))});
  for (int i = 0; i < 5000; ++i) {
    const bytes_t t = tlv(9, {});
    loop.insert(loop.end(), t.begin(), t.end());
  }
  EXPECT_EQ(parse_lldp(loop, f), lldp_error::missing_end);
  EXPECT_EQ(f.tlv_count, 5003);
  // More management addresses than kept.
  bytes_t many = cat({eth_header, tlv(1, from_hex("04020000aabb00")), tlv(2, from_hex("0761")),
                      tlv(3, from_hex("0078"))});
  for (int i = 0; i < 6; ++i) {
    const bytes_t t = tlv(8, from_hex("0501c00002010200000001 00"));
    many.insert(many.end(), t.begin(), t.end());
  }
  EXPECT_EQ(parse_lldp(many, f), lldp_error::list_overflow);
  EXPECT_EQ(f.mgmt_count, 4);
  // A VLAN name longer than its TLV.
  EXPECT_EQ(parse_lldp(cat({eth_header, org("0080c2 03", from_hex("000a 09 6162")), tlv(0, {})}), f),
            lldp_error::missing_mandatory);  // first error: the walk still notes the bad name
  EXPECT_EQ(f.vlan_name_count, 0);
}

TEST(Lldp, RandomMutationsStayInBounds) {
  std::uint32_t state = 31337;
  auto rnd = [&state](std::uint32_t n) {
    state = state * 1664525u + 1013904223u;
    return (state >> 8) % n;
  };
  const bytes_t base = switch_frame();
  std::size_t errors = 0;
  for (int round = 0; round < 20000; ++round) {
    bytes_t v = base;
    for (std::uint32_t k = 0, n = 1 + rnd(6); k < n; ++k) {
      v[14 + rnd(static_cast<std::uint32_t>(v.size() - 14))] = static_cast<std::uint8_t>(rnd(256));
    }
    if (rnd(2) == 0) {
      v.resize(rnd(static_cast<std::uint32_t>(v.size() + 1)));
    }
    v.shrink_to_fit();
    lldp_frame f;
    errors += parse_lldp(v, f) != lldp_error::none;
    ASSERT_LE(f.mgmt_count, f.mgmt.size());
    ASSERT_LE(f.vlan_name_count, f.vlan_names.size());
    (void)lldp_chassis_id_text(f.chassis);
    (void)lldp_port_id_text(f.port);
  }
  EXPECT_GT(errors, 0u);
}

// ---------------------------------------------------------------------------
// Decoding and rendering

TEST(Lldp, SwitchFrame) {
  lldp_frame f;
  ASSERT_EQ(parse_lldp(switch_frame(), f), lldp_error::none);
  EXPECT_EQ(f.src.to_string(), "02:00:00:aa:bb:cc");
  EXPECT_EQ(lldp_chassis_id_text(f.chassis), "02:00:00:aa:bb:00");
  EXPECT_EQ(f.port.subtype, lldp_port_subtype::interface_name);
  EXPECT_EQ(lldp_port_id_text(f.port), "GigabitEthernet1/0/7");
  EXPECT_EQ(f.ttl, 120);
  EXPECT_EQ(f.port_description.view(), "uplink to floor 3");
  EXPECT_EQ(f.system_name.view(), "sw-floor3.example.net");
  EXPECT_EQ(f.system_description.view(), "Example OS 7.1\r\nModel EX-4800");
  EXPECT_EQ(lldp_capabilities_text(f.capabilities), "bridge,router");
  ASSERT_EQ(f.mgmt_count, 3);
  EXPECT_EQ(f.mgmt[0].ip.to_string(), "192.0.2.5");
  EXPECT_EQ(f.mgmt[0].if_number, 7u);
  EXPECT_EQ(f.mgmt[1].ip.to_string(), "2001:db8::1");
  EXPECT_TRUE(f.mgmt[2].is_mac);
  EXPECT_EQ(f.mgmt[2].mac.to_string(), "02:00:00:aa:bb:00");
  EXPECT_EQ(f.port_vlan, 10);
  ASSERT_EQ(f.vlan_name_count, 1);
  EXPECT_EQ(f.vlan_names[0].name.view(), "users");
  EXPECT_EQ(f.mau_type, 0x1e);
  EXPECT_EQ(f.max_frame_size, 1518);
  EXPECT_EQ(f.med_device_class, 4);
  EXPECT_EQ(f.med_serial.view(), "SN12345");  // cut at its NUL
  EXPECT_EQ(f.med_model.view(), "EX-4800");
  EXPECT_EQ(f.mud_url.view(), "https://mud.example.com/.well-known/mud/v1/ex4800");
  // The same frame behind two VLAN tags.
  bytes_t tagged = from_hex("0180c200000e 020000aabbcc 88a8 0064 8100 000a");
  const bytes_t body = switch_frame();
  tagged.insert(tagged.end(), body.begin() + 12, body.end());
  lldp_frame t;
  ASSERT_EQ(parse_lldp(tagged, t), lldp_error::none);
  EXPECT_EQ(t.system_name.view(), "sw-floor3.example.net");
}

TEST(Lldp, IdAndCapabilityTextTable) {
  struct row {
    bool chassis;
    const char* value_hex;  // subtype then id
    const char* text;
  };
  const row rows[] = {
      {true, "04 001122334455", "00:11:22:33:44:55"},
      {true, "05 01 c0000201", "192.0.2.1"},
      {true, "05 02 20010db8000000000000000000000002", "2001:db8::2"},
      {true, "05 06 001122334455", "06001122334455"},
      {true, "07 6c6f63616c", "local"},
      {true, "04 0011", "??"},  // a short MAC is shown as bytes (printable())
      {false, "03 001122334455", "00:11:22:33:44:55"},
      {false, "04 01 0a000001", "10.0.0.1"},
      {false, "05 657468302f31", "eth0/1"},
      {false, "07 31", "1"},
      {false, "01 00ff41", "??A"},
  };
  for (const auto& r : rows) {
    const bytes_t v = from_hex(r.value_hex);
    const bytes_t frame = cat({eth_header, tlv(r.chassis ? 1 : 2, v), tlv(0, {})});
    lldp_frame f;
    parse_lldp(frame, f);
    const std::string got = r.chassis ? lldp_chassis_id_text(f.chassis) : lldp_port_id_text(f.port);
    EXPECT_EQ(got, std::string(r.text)) << r.value_hex;
  }
  EXPECT_EQ(lldp_capabilities_text(0), "");
  EXPECT_EQ(lldp_capabilities_text(0x009c), "bridge,wlan_access_point,router,station_only");
  EXPECT_EQ(lldp_capabilities_text(0x8701), "other,c_vlan,s_vlan,tpmr,bit15");
}

TEST(Lldp, Facts) {
  lldp_frame f;
  ASSERT_EQ(parse_lldp(switch_frame(), f), lldp_error::none);
  fact_list s;
  tapsense::proto::packet_view pkt;
  pkt.src_mac = f.src;
  lldp_facts(f, pkt, s);
  EXPECT_EQ(s.get("chassis_id"), "02:00:00:aa:bb:00");
  EXPECT_EQ(s.get("port_id"), "GigabitEthernet1/0/7");
  EXPECT_EQ(s.get("system_name"), "sw-floor3.example.net");
  EXPECT_EQ(s.get("hostname"), "sw-floor3.example.net");
  EXPECT_EQ(s.get("system_description"), "Example OS 7.1??Model EX-4800");  // printable()
  EXPECT_EQ(s.get("capabilities"), "bridge,router");
  EXPECT_EQ(s.get("capabilities_enabled"), "bridge,router");
  EXPECT_EQ(s.get("management_address"), "192.0.2.5");
  EXPECT_EQ(s.get("port_vlan"), "10");
  EXPECT_EQ(s.get("vendor"), "Example Networks");
  EXPECT_EQ(s.get("model"), "EX-4800");
  EXPECT_EQ(s.get("serial"), "SN12345");
  EXPECT_EQ(s.get("firmware"), "fw 2.3.1");
  EXPECT_EQ(s.get("software_revision"), "7.1.0");
  EXPECT_EQ(s.get("hardware_revision"), "rev B");
  EXPECT_EQ(s.get("asset_id"), "asset-42");
  EXPECT_EQ(s.get("mud_url"), "https://mud.example.com/.well-known/mud/v1/ex4800");
  std::vector<std::string> bound;
  std::size_t mgmt = 0;
  for (const auto& x : s.facts) {
    EXPECT_EQ(x.source.str(), "lldp");
    if (x.about == subject::ip) {
      EXPECT_EQ(x.field.str(), "mac");
      EXPECT_EQ(x.value, "02:00:00:aa:bb:cc");
      bound.push_back(x.ip.to_string());
    } else {
      EXPECT_EQ(x.about, subject::sender);
      mgmt += x.field == "management_address";
    }
    if (x.field == "hostname") {
      EXPECT_EQ(x.confidence, 80);
    }
  }
  EXPECT_EQ(bound, (std::vector<std::string>{"192.0.2.5", "2001:db8::1"}));
  EXPECT_EQ(mgmt, 3u);
  // Nothing at all for a frame that is not LLDP.
  lldp_frame n;
  parse_lldp(from_hex("0180c200000e 020000aabbcc 0800 4500"), n);
  fact_list none;
  lldp_facts(n, pkt, none);
  EXPECT_TRUE(none.facts.empty());
}

TEST(Lldp, FuzzSeeds) {
  bytes_t tagged = from_hex("0180c200000e 020000aabbcc 8100 000a");
  const bytes_t body = switch_frame();
  tagged.insert(tagged.end(), body.begin() + 12, body.end());
  const std::vector<std::pair<const char*, bytes_t>> seeds = {
      {"switch", switch_frame()},
      {"tagged", tagged},
      {"minimal", cat({eth_header, tlv(1, from_hex("04020000aabb00")), tlv(2, from_hex("0731")),
                       tlv(3, from_hex("0078")), tlv(0, {})})},
  };
  const char* dir = std::getenv("TAPSENSE_WRITE_FUZZ_SEEDS");
  for (const auto& [name, bytes] : seeds) {
    lldp_frame f;
    EXPECT_EQ(parse_lldp(bytes, f), lldp_error::none) << name;
    if (dir != nullptr) {
      std::ofstream out(std::string(dir) + "/seed-" + name, std::ios::binary);
      out.write(reinterpret_cast<const char*>(bytes.data()),
                static_cast<std::streamsize>(bytes.size()));
    }
  }
}

// ---------------------------------------------------------------------------
// Agreement with tshark: hand-built frames, then the shared captures.

// tshark's display form of a string field: non-printable bytes escaped.
std::string tshark_escaped(std::string_view s) {
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '\r':
        out += "\\r";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char b[8];
          std::snprintf(b, sizeof b, "\\x%02x", c);
          out += b;
        } else {
          out += ch;
        }
    }
  }
  return out;
}

std::string hex4(std::uint16_t v) {
  char b[8];
  std::snprintf(b, sizeof b, "0x%04x", static_cast<unsigned>(v));
  return b;
}

const std::vector<std::string> lldp_fields = {
    "frame.number",           "lldp.chassis.subtype",         "lldp.chassis.id.mac",
    "lldp.chassis.id.ip4",    "lldp.chassis.id.ip6",          "lldp.port.subtype",
    "lldp.port.id",           "lldp.port.id.mac",             "lldp.time_to_live",
    "lldp.port.desc",         "lldp.tlv.system.name",         "lldp.tlv.system.desc",
    "lldp.tlv.system_cap",    "lldp.tlv.enable_system_cap",   "lldp.mgn.addr.ip4",
    "lldp.mgn.addr.ip6",      "lldp.mgn.interface.number",    "lldp.ieee.802_1.port_vlan.id",
    "lldp.ieee.802_1.vlan.name", "lldp.ieee.802_3.pmd_mau_type", "lldp.ieee.802_3.max_frame_size",
    "lldp.iana.mudurl",       "lldp.media.hardware",          "lldp.media.firmware",
    "lldp.media.software",    "lldp.media.sn",                "lldp.media.manufacturer",
    "lldp.media.model",       "lldp.media.asset",
};

// Our view of a frame in the same columns (after frame.number).
std::vector<std::string> our_columns(const lldp_frame& f) {
  auto opt_text = [](const lldp_text& t) {
    return t.present ? tshark_escaped(t.view()) : std::string();
  };
  std::string ip4, ip6, ifn;
  for (std::size_t i = 0; i < f.mgmt_count; ++i) {
    const auto& m = f.mgmt[i];
    if (m.is_ip) {
      std::string& dst = m.ip.is_v4() ? ip4 : ip6;
      dst += (dst.empty() ? "" : "|") + m.ip.to_string();
    }
    ifn += (ifn.empty() ? "" : "|") + std::to_string(m.if_number);
  }
  std::string vlan_names;
  for (std::size_t i = 0; i < f.vlan_name_count; ++i) {
    vlan_names += (vlan_names.empty() ? "" : "|") + tshark_escaped(f.vlan_names[i].name.view());
  }
  const bool cmac = f.chassis.subtype == lldp_chassis_subtype::mac_address;
  const bool cnet = f.chassis.subtype == lldp_chassis_subtype::network_address;
  const bool pmac = f.port.subtype == lldp_port_subtype::mac_address;
  const std::string ctext = lldp_chassis_id_text(f.chassis);
  return {
      f.chassis.present ? std::to_string(f.chassis.subtype) : "",
      cmac ? ctext : "",
      cnet && f.chassis.len == 5 ? ctext : "",
      cnet && f.chassis.len == 17 ? ctext : "",
      f.port.present ? std::to_string(f.port.subtype) : "",
      f.port.present && !pmac && f.port.subtype != lldp_port_subtype::network_address
          ? tshark_escaped(std::string_view(reinterpret_cast<const char*>(f.port.raw.data()), f.port.len))
          : "",
      pmac ? lldp_port_id_text(f.port) : "",
      f.has_ttl ? std::to_string(f.ttl) : "",
      opt_text(f.port_description),
      opt_text(f.system_name),
      opt_text(f.system_description),
      f.has_capabilities ? hex4(f.capabilities) : "",
      f.has_capabilities ? hex4(f.enabled_capabilities) : "",
      ip4,
      ip6,
      ifn,
      f.has_port_vlan ? std::to_string(f.port_vlan) : "",
      vlan_names,
      f.has_mac_phy ? hex4(f.mau_type) : "",
      f.has_max_frame_size ? std::to_string(f.max_frame_size) : "",
      opt_text(f.mud_url),
      opt_text(f.med_hardware_revision),
      opt_text(f.med_firmware_revision),
      opt_text(f.med_software_revision),
      opt_text(f.med_serial),
      opt_text(f.med_manufacturer),
      opt_text(f.med_model),
      opt_text(f.med_asset_id),
  };
}

// Compares every LLDP frame tshark decodes in `path` with our parse of the
// same frame (tunnels removed as in test_tls_capture.h). Returns the number
// of frames compared; `same` counts the frames equal in every column.
std::size_t compare_with_tshark(const std::string& path, std::size_t& same) {
  std::map<std::size_t, std::vector<std::string>> truth;
  for (auto& r : testcap::tshark_fields(path, "lldp", lldp_fields, "", 'a', '|')) {
    truth[std::stoul(r[0])] = std::move(r);
  }
  std::size_t compared = 0;
  for (const auto& p : testcap::read_capture(path)) {
    const auto d = testcap::decode(p);
    lldp_frame f;
    const lldp_error e = parse_lldp(d.frame, f);
    const auto row = truth.find(p.frame);
    if (e == lldp_error::not_lldp || e == lldp_error::truncated_header) {
      EXPECT_EQ(row, truth.end()) << "frame " << p.frame << ": tshark sees LLDP, we do not";
      continue;
    }
    if (row == truth.end()) {
      ADD_FAILURE() << "frame " << p.frame << ": we see LLDP, tshark does not";
      continue;
    }
    EXPECT_EQ(e, lldp_error::none) << "frame " << p.frame << " " << lldp_error_name(e);
    const auto ours = our_columns(f);
    bool all = true;
    for (std::size_t i = 0; i < ours.size(); ++i) {
      EXPECT_EQ(ours[i], row->second[i + 1]) << "frame " << p.frame << " " << lldp_fields[i + 1];
      all = all && ours[i] == row->second[i + 1];
    }
    same += all ? 1 : 0;
    ++compared;
  }
  EXPECT_EQ(compared, truth.size()) << path;
  return compared;
}

TEST(Lldp, SyntheticFramesAgreeWithTshark) {
  if (!testcap::have_tshark()) {
    GTEST_SKIP() << "tshark absent";
  }
  std::vector<std::vector<std::uint8_t>> frames = {
      switch_frame(),
      cat({eth_header, tlv(1, from_hex("05 01 c0000209")), tlv(2, from_hex("03 020000aabb01")),
           tlv(3, from_hex("0000")), tlv(5, text("phone-1")), tlv(7, from_hex("0024 0020")),
           org("0012bb 0a", text("Desk Phone 9")), tlv(0, {})}),
      cat({eth_header, tlv(1, from_hex("07 73776974636831")), tlv(2, from_hex("07 3432")),
           tlv(3, from_hex("0e10")), tlv(6, text("tab\there")), tlv(0, {})}),
  };
  const std::string path = testcap::temp_path("tapsense_lldp");
  testcap::write_pcap(path, frames);
  std::size_t same = 0;
  const std::size_t n = compare_with_tshark(path, same);
  std::filesystem::remove(path);
  EXPECT_EQ(n, frames.size());
  EXPECT_EQ(same, frames.size());
}

TEST(Lldp, AgreesWithTsharkOnSharedCaptures) {
  const std::string root = testcap::shared_pcaps();
  if (!std::filesystem::exists(root)) {
    GTEST_SKIP() << "../shared/pcaps absent";
  }
  if (!testcap::have_tshark()) {
    GTEST_SKIP() << "tshark absent";
  }
  // Every capture with LLDP (surveyed with tshark over MANIFEST.tsv); the
  // ERSPAN type I one is decapsulated by the test helper.
  std::ostringstream report;
  std::size_t total = 0;
  for (const char* name : {"lldp/lldp.pcap", "lldp/lldp_mudurl.pcap", "erspan/erspan-type-i-4.pcap"}) {
    SCOPED_TRACE(name);
    std::size_t same = 0;
    const std::size_t n = compare_with_tshark(root + "/" + name, same);
    EXPECT_GT(n, 0u) << name;
    report << "  " << name << ": " << same << "/" << n << " frames equal in all "
           << lldp_fields.size() - 1 << " tshark fields\n";
    total += n;
  }
  std::cout << "[ lldp     ] agreement:\n" << report.str();
  ASSERT_GT(total, 0u) << "nothing was compared";
}

}  // namespace

// ---------------------------------------------------------------------------
// Unconfigured devices.

TEST(Lldp, AnUnconfiguredSwitchAnnouncesNoAddress) {
  const bytes_t f = cat({eth_header, tlv(1, from_hex("04 020000aabb00")), tlv(2, cat({from_hex("05"), text("Fa0/1")})),
                         tlv(3, from_hex("0078")), tlv(5, text("Switch")),
                         tlv(8, from_hex("05 01 00000000 02 00000001 00")), tlv(0, {})});
  lldp_frame l;
  ASSERT_EQ(parse_lldp(f, l), lldp_error::none);
  ASSERT_EQ(l.mgmt_count, 1);
  fact_list s;
  tapsense::proto::packet_view pkt;
  pkt.src_mac = l.src;
  lldp_facts(l, pkt, s);
  EXPECT_EQ(s.get("system_name"), "Switch");
  EXPECT_EQ(s.get("management_address"), "<absent>");
  EXPECT_EQ(s.get("mac", subject::ip), "<absent>");
}
