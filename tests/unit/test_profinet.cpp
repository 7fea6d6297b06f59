// PROFINET DCP parser: broken input first (every truncation, hostile block
// lengths), then hand-built frames of each service with their facts (also
// shown to tshark), then agreement with tshark and MANIFEST.tsv on the shared
// PROFINET captures, fed the Ethernet payload after the EtherType.
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
#include "common/proto/profinet.h"
#include "tests/unit/test_plumbing.h"

using namespace tapsense;
using proto::parse_profinet_dcp;
using proto::profinet_dcp_message;
using proto::profinet_error;

namespace {


std::vector<std::uint8_t> be16(unsigned v) {
  return {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v & 0xff)};
}
std::vector<std::uint8_t> be32(std::uint32_t v) {
  return cat({be16(v >> 16), be16(v & 0xffff)});
}

// A DCP block: option, suboption, length, data, padded to even.
std::vector<std::uint8_t> block(std::uint8_t option, std::uint8_t sub,
                                const std::vector<std::uint8_t>& data) {
  auto v = cat({{option, sub}, be16(static_cast<unsigned>(data.size())), data});
  if ((data.size() & 1) != 0) {
    v.push_back(0);
  }
  return v;
}

// FrameID + DCP header + blocks.
std::vector<std::uint8_t> dcp(unsigned frame_id, std::uint8_t service, std::uint8_t type,
                              std::uint32_t xid, unsigned delay,
                              const std::vector<std::uint8_t>& blocks) {
  return cat({be16(frame_id), {service, type}, be32(xid), be16(delay),
              be16(static_cast<unsigned>(blocks.size())), blocks});
}

const std::vector<std::uint8_t> no_info = {0, 0};

const std::vector<std::uint8_t>& keep_buffer(std::vector<std::uint8_t> v) {
  static std::deque<std::vector<std::uint8_t>> alive;
  return alive.emplace_back(std::move(v));
}
const auto ip_params = from_hex("0a 01 02 03 ff ff ff 00 0a 01 02 01");

const auto identify_all = dcp(0xfefe, 5, 0, 0x0abc0001, 0x0080, block(0xff, 0xff, {}));
const auto identify_by_name =
    dcp(0xfefe, 5, 0, 0x0abc0002, 1, block(2, 2, text_bytes("plc-line-7")));
const auto identify_response = dcp(
    0xfeff, 5, 1, 0x0abc0001, 0,
    cat({block(2, 5, cat({no_info, from_hex("0201 0202 0203 0204 0102")})),
         block(2, 1, cat({no_info, text_bytes("ET 200SP")})),
         block(2, 2, cat({no_info, text_bytes("io-dev-12")})),
         block(2, 3, cat({no_info, from_hex("002a 0313")})),
         block(2, 4, cat({no_info, from_hex("01 00")})),
         block(1, 2, cat({from_hex("0001"), ip_params})),
         block(2, 7, cat({no_info, from_hex("00 05")})),
         block(2, 8, cat({no_info, from_hex("002a 0313")})),
         block(2, 6, cat({no_info, text_bytes("port-001.sw-3")}))}));
const auto set_request =
    dcp(0xfefd, 4, 0, 0x0abc0003, 0,
        cat({block(1, 2, cat({from_hex("0001"), from_hex("0a 09 08 07 ff ff 00 00 0a 09 00 01")})),
             block(2, 2, cat({from_hex("0001"), text_bytes("new-name")}))}));
const auto set_response = dcp(0xfefd, 4, 1, 0x0abc0003, 0, block(5, 4, from_hex("01 02 00")));
const auto hello =
    dcp(0xfefc, 6, 0, 0x0abc0004, 0,
        cat({block(2, 2, cat({no_info, text_bytes("hello-dev")})),
             block(1, 2, cat({from_hex("0001"), from_hex("c0 a8 00 05 ff ff ff 00 00 00 00 00")})),
             block(2, 3, cat({no_info, from_hex("0493 0001")})),
             block(2, 4, cat({no_info, from_hex("02 00")}))}));
const auto get_request = dcp(0xfefd, 3, 0, 0x0abc0005, 0, from_hex("02 02 01 02"));
const auto get_response =
    dcp(0xfefd, 3, 1, 0x0abc0005, 0, block(2, 2, cat({no_info, text_bytes("got-name")})));

const std::vector<const std::vector<std::uint8_t>*> fixtures = {
    &identify_all, &identify_by_name, &identify_response, &set_request,
    &set_response, &hello,            &get_request,       &get_response};

std::vector<std::uint8_t> prefix(const std::vector<std::uint8_t>& v, std::size_t n) {
  return {v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n)};
}

proto::packet_view l2_view(std::string_view src, std::string_view dst) {
  proto::packet_view v;
  v.src_mac = *net::mac_address::parse(src);
  v.dst_mac = *net::mac_address::parse(dst);
  return v;
}

// ---------------------------------------------------------------------------
// Broken input

TEST(Profinet, EveryTruncationOfEveryFixtureIsSafeAndKeepsWhatFits) {
  for (const auto* full : fixtures) {
    profinet_dcp_message whole;
    ASSERT_EQ(parse_profinet_dcp(*full, whole), profinet_error::none);
    for (std::size_t len = 0; len < full->size(); ++len) {
      const auto cut = prefix(*full, len);
      profinet_dcp_message m;
      m.blocks_len = 7;  // the parse must reset the output
      const auto e = parse_profinet_dcp(cut, m);
      if (len < 12) {
        EXPECT_EQ(e, profinet_error::truncated_header) << len;
        EXPECT_EQ(m.blocks_len, 0u);
        EXPECT_EQ(m.frame_id, 0u);
        continue;
      }
      EXPECT_EQ(e, profinet_error::truncated_data) << len;
      EXPECT_EQ(m.xid, whole.xid);
      EXPECT_LE(m.blocks_len, whole.blocks_len);
      // What was decoded is the full parse's value or absent.
      EXPECT_TRUE(m.name_of_station.empty() || m.name_of_station == whole.name_of_station);
      EXPECT_TRUE(!m.vendor_id || m.vendor_id == whole.vendor_id);
      EXPECT_TRUE(!m.has_ip || m.ip == whole.ip);
      EXPECT_TRUE(m.type_of_station.empty() || m.type_of_station == whole.type_of_station);
    }
  }
}

TEST(Profinet, HostileBlocks) {
  profinet_dcp_message m;
  // Not DCP: cyclic RT data and PTCP share the EtherType.
  EXPECT_EQ(parse_profinet_dcp(dcp(0x8000, 5, 1, 1, 0, {}), m), profinet_error::not_dcp);
  EXPECT_EQ(parse_profinet_dcp(dcp(0xff40, 5, 1, 1, 0, {}), m), profinet_error::not_dcp);
  // A block length past the DCP data: blocks before it kept.
  auto v = dcp(0xfeff, 5, 1, 1, 0,
               cat({block(2, 2, cat({no_info, text_bytes("ok")})), from_hex("02 01 01 00 00 00")}));
  const auto& kept = keep_buffer(v);
  EXPECT_EQ(parse_profinet_dcp(kept, m), profinet_error::truncated_block);
  EXPECT_EQ(m.name_of_station, "ok");
  EXPECT_TRUE(m.type_of_station.empty());
  // DCPDataLength past the frame: walked up to the frame's end.
  v = identify_response;
  v[10] = 0x7f;
  const auto& long_data = keep_buffer(v);
  EXPECT_EQ(parse_profinet_dcp(long_data, m), profinet_error::truncated_data);
  EXPECT_EQ(m.name_of_station, "io-dev-12");
  // DCPDataLength shorter than the blocks: Ethernet padding is not read.
  const auto padded = keep_buffer(cat({identify_by_name, std::vector<std::uint8_t>(30, 0)}));
  EXPECT_EQ(parse_profinet_dcp(padded, m), profinet_error::none);
  EXPECT_EQ(m.blocks_len, 1u);
  // Fixed-size blocks of the wrong size are skipped; the walk goes on.
  v = dcp(0xfeff, 5, 1, 1, 0,
          cat({block(2, 3, cat({no_info, from_hex("002a")})), block(2, 4, cat({no_info, from_hex("01")})),
               block(1, 2, cat({no_info, from_hex("0a000001")})), block(1, 1, cat({no_info, from_hex("01")})),
               block(2, 2, no_info)}));
  const auto& wrong = keep_buffer(v);
  EXPECT_EQ(parse_profinet_dcp(wrong, m), profinet_error::bad_block_length);
  EXPECT_FALSE(m.vendor_id);
  EXPECT_FALSE(m.device_role);
  EXPECT_FALSE(m.has_ip);
  EXPECT_FALSE(m.mac);
  EXPECT_EQ(m.name_of_station, "");
  EXPECT_NE(m.name_of_station.data(), nullptr);  // present, empty
  // A response block too short for its BlockInfo.
  const auto& tiny = keep_buffer(dcp(0xfeff, 5, 1, 1, 0, block(2, 2, from_hex("00"))));
  EXPECT_EQ(parse_profinet_dcp(tiny, m), profinet_error::bad_block_length);
  EXPECT_EQ(m.name_of_station.data(), nullptr);
  // Sixty empty blocks: thirty-two listed.
  std::vector<std::uint8_t> many;
  for (int i = 0; i < 60; ++i) {
    const auto b = block(2, 5, no_info);
    many.insert(many.end(), b.begin(), b.end());
  }
  const auto& lots = keep_buffer(dcp(0xfeff, 5, 1, 1, 0, many));
  EXPECT_EQ(parse_profinet_dcp(lots, m), profinet_error::block_overflow);
  EXPECT_EQ(m.blocks_len, proto::profinet_max_blocks);
}

TEST(Profinet, RandomMutationsStayInBounds) {
  std::uint32_t state = 99;
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
    profinet_dcp_message m;
    parse_profinet_dcp(v, m);
    const auto* b = reinterpret_cast<const char*>(v.data());
    for (std::string_view s : {m.name_of_station, m.type_of_station, m.alias_name}) {
      if (!s.empty()) {
        ASSERT_GE(s.data(), b);
        ASSERT_LE(s.data() + s.size(), b + v.size());
      }
    }
    collecting_sink sink;
    proto::profinet_facts(m, l2_view("00:11:22:33:44:55", "66:77:88:99:aa:bb"), sink);
  }
}

// ---------------------------------------------------------------------------
// Fixtures

TEST(Profinet, IdentifyResponseAndFacts) {
  profinet_dcp_message m;
  ASSERT_EQ(parse_profinet_dcp(identify_response, m), profinet_error::none);
  EXPECT_EQ(m.frame_id, proto::profinet_frame_id::identify_response);
  EXPECT_EQ(m.service_id, proto::profinet_service::identify);
  EXPECT_FALSE(m.is_request());
  EXPECT_TRUE(m.is_self_description());
  EXPECT_EQ(m.xid, 0x0abc0001u);
  EXPECT_EQ(m.blocks_len, 9u);
  EXPECT_EQ(m.type_of_station, "ET 200SP");
  EXPECT_EQ(m.name_of_station, "io-dev-12");
  EXPECT_EQ(m.alias_name, "port-001.sw-3");
  EXPECT_EQ(m.vendor_id, 0x002a);
  EXPECT_EQ(m.device_id, 0x0313);
  EXPECT_EQ(m.device_role, 0x01);
  EXPECT_EQ(m.device_instance, 5);
  EXPECT_EQ(m.oem_vendor_id, 0x002a);
  ASSERT_TRUE(m.has_ip);
  EXPECT_EQ(m.ip.to_string(), "10.1.2.3");
  EXPECT_EQ(m.netmask.to_string(), "255.255.255.0");
  EXPECT_EQ(m.gateway.to_string(), "10.1.2.1");
  EXPECT_EQ(m.ip_block_info, 1);
  const auto vendors = load_vendor_table("profinet_vendors.toml");
  collecting_sink sink;
  proto::profinet_facts(m, l2_view("00:1b:1b:12:34:56", "00:0c:29:00:00:01"), sink,
                        [&vendors](std::uint16_t id) -> std::string_view {
                          const auto it = vendors.find(id);
                          return it == vendors.end() ? std::string_view{} : it->second;
                        });
  EXPECT_EQ(sink.about(proto::subject::sender),
            (std::vector<std::string>{"station_name=io-dev-12", "alias_name=port-001.sw-3",
                                      "model=ET 200SP", "vendor_id=0x002a", "vendor=Siemens AG",
                                      "device_id=0x0313", "device_role=io-device",
                                      "ip=10.1.2.3"}));
  ASSERT_EQ(sink.about(proto::subject::ip), (std::vector<std::string>{"mac=00:1b:1b:12:34:56"}));
  for (const auto& f : sink.facts) {
    EXPECT_EQ(f.source.str(), "profinet");
    if (f.about == proto::subject::ip) {
      EXPECT_EQ(f.ip.to_string(), "10.1.2.3");
    }
  }
  EXPECT_EQ(sink.facts[0].confidence, 90);
}

TEST(Profinet, IdentifyRequests) {
  profinet_dcp_message m;
  ASSERT_EQ(parse_profinet_dcp(identify_all, m), profinet_error::none);
  EXPECT_TRUE(m.is_request());
  EXPECT_EQ(m.response_delay, 0x80);
  ASSERT_EQ(m.blocks_len, 1u);
  EXPECT_EQ(m.blocks[0].option, 0xff);
  collecting_sink sink;
  proto::profinet_facts(m, l2_view("00:0c:29:00:00:01", "01:0e:cf:00:00:00"), sink);
  EXPECT_TRUE(sink.facts.empty());
  // A name filter: no BlockInfo in a request.
  ASSERT_EQ(parse_profinet_dcp(identify_by_name, m), profinet_error::none);
  EXPECT_EQ(m.name_of_station, "plc-line-7");
  proto::profinet_facts(m, l2_view("00:0c:29:00:00:01", "01:0e:cf:00:00:00"), sink);
  EXPECT_EQ(sink.about(proto::subject::sender),
            (std::vector<std::string>{"queried_station_name=plc-line-7"}));
  EXPECT_EQ(sink.facts[0].confidence, 30);
}

TEST(Profinet, SetRequestIsAboutTheReceiver) {
  profinet_dcp_message m;
  ASSERT_EQ(parse_profinet_dcp(set_request, m), profinet_error::none);
  EXPECT_EQ(m.name_of_station, "new-name");
  EXPECT_EQ(m.ip.to_string(), "10.9.8.7");
  EXPECT_EQ(m.ip_block_info, 0);  // a qualifier, not BlockInfo
  collecting_sink sink;
  proto::profinet_facts(m, l2_view("00:0c:29:00:00:01", "00:1b:1b:12:34:56"), sink);
  EXPECT_TRUE(sink.about(proto::subject::sender).empty());
  EXPECT_EQ(sink.about(proto::subject::receiver),
            (std::vector<std::string>{"station_name=new-name", "ip=10.9.8.7"}));
  EXPECT_EQ(sink.about(proto::subject::ip), (std::vector<std::string>{"mac=00:1b:1b:12:34:56"}));
  // The answer: a Control/Response block, no facts.
  ASSERT_EQ(parse_profinet_dcp(set_response, m), profinet_error::none);
  ASSERT_TRUE(m.response_to);
  EXPECT_EQ(m.response_to->option, 1);
  EXPECT_EQ(m.response_to->suboption, 2);
  EXPECT_EQ(m.response_error, 0);
  collecting_sink none;
  proto::profinet_facts(m, l2_view("00:1b:1b:12:34:56", "00:0c:29:00:00:01"), none);
  EXPECT_TRUE(none.facts.empty());
}

TEST(Profinet, HelloAndGet) {
  profinet_dcp_message m;
  ASSERT_EQ(parse_profinet_dcp(hello, m), profinet_error::none);
  EXPECT_TRUE(m.is_self_description());
  collecting_sink sink;
  proto::profinet_facts(m, l2_view("00:1b:1b:12:34:56", "01:0e:cf:00:00:01"), sink);
  EXPECT_EQ(sink.about(proto::subject::sender),
            (std::vector<std::string>{"station_name=hello-dev", "vendor_id=0x0493",
                                      "device_id=0x0001", "device_role=io-controller",
                                      "ip=192.168.0.5"}));
  ASSERT_EQ(parse_profinet_dcp(get_request, m), profinet_error::none);
  ASSERT_EQ(m.blocks_len, 2u);
  EXPECT_EQ(m.blocks[1].option, 1);
  EXPECT_EQ(m.blocks[1].suboption, 2);
  ASSERT_EQ(parse_profinet_dcp(get_response, m), profinet_error::none);
  EXPECT_TRUE(m.is_self_description());
  EXPECT_EQ(m.name_of_station, "got-name");
}

TEST(Profinet, RoleStrings) {
  EXPECT_EQ(proto::profinet_role_string(0x01), "io-device");
  EXPECT_EQ(proto::profinet_role_string(0x03), "io-device,io-controller");
  EXPECT_EQ(proto::profinet_role_string(0x0c), "io-multidevice,pn-supervisor");
  EXPECT_EQ(proto::profinet_role_string(0x21), "io-device,0x20");
  EXPECT_EQ(proto::profinet_role_string(0x00), "0x00");
}

TEST(Profinet, VendorTableIsWellFormed) {
  const auto vendors = load_vendor_table("profinet_vendors.toml");
  ASSERT_EQ(vendors.count(0x002a), 1u);
  EXPECT_EQ(vendors.at(0x002a), "Siemens AG");
}

// ---------------------------------------------------------------------------
// Agreement with tshark

// Writes Ethernet frames (EtherType 0x8892) carrying `payloads` to a pcap.
std::string write_dcp_pcap(const std::vector<std::vector<std::uint8_t>>& payloads) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("tapsense_pndcp_" + std::to_string(::getpid()) + ".pcap"))
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
    auto fr = cat({from_hex("010ecf000000 001b1b123456 8892"), p});
    if (fr.size() < 60) {
      fr.resize(60, 0);
    }
    le32(0);
    le32(0);
    le32(static_cast<std::uint32_t>(fr.size()));
    le32(static_cast<std::uint32_t>(fr.size()));
    f.write(reinterpret_cast<const char*>(fr.data()), static_cast<std::streamsize>(fr.size()));
  }
  return path;
}

const std::vector<std::string> dcp_fields = {
    "pn_dcp.service_id",
    "pn_dcp.service_type",
    "pn_dcp.xid",
    "pn_dcp.suboption_device_nameofstation",
    "pn_dcp.suboption_device_devicevendorvalue",
    "pn_dcp.suboption_vendor_id",
    "pn_dcp.suboption_device_id",
    "pn_dcp.suboption_device_role",
    "pn_dcp.suboption_ip_ip",
    "pn_dcp.suboption_ip_subnetmask",
    "pn_dcp.suboption_ip_standard_gateway",
    "pn_dcp.suboption_device_aliasname",
    "pn_dcp.block_error",
};

void compare_with_tshark(const profinet_dcp_message& m, const std::vector<std::string>& t,
                         agreement& ag) {
  char h[16];
  ag.eq(u(m.service_id), t[0], "service id");
  ag.eq(u(m.service_type), t[1], "service type");
  std::snprintf(h, sizeof h, "0x%08x", m.xid);
  ag.eq(h, t[2], "xid");
  ag.eq(m.name_of_station.data() ? std::string(m.name_of_station) : "", t[3], "NameOfStation");
  ag.eq(m.type_of_station.data() ? std::string(m.type_of_station) : "", t[4], "TypeOfStation");
  std::string vid, did, role;
  if (m.vendor_id) {
    std::snprintf(h, sizeof h, "0x%04x", *m.vendor_id);
    vid = h;
    std::snprintf(h, sizeof h, "0x%04x", *m.device_id);
    did = h;
  }
  if (m.device_role) {
    std::snprintf(h, sizeof h, "0x%02x", *m.device_role);
    role = h;
  }
  ag.eq(vid, t[5], "VendorID");
  ag.eq(did, t[6], "DeviceID");
  ag.eq(role, t[7], "DeviceRole");
  ag.eq(m.has_ip ? m.ip.to_string() : "", t[8], "IP");
  ag.eq(m.has_ip ? m.netmask.to_string() : "", t[9], "netmask");
  ag.eq(m.has_ip ? m.gateway.to_string() : "", t[10], "gateway");
  ag.eq(m.alias_name.data() ? std::string(m.alias_name) : "", t[11], "AliasName");
  ag.eq(m.response_to ? u(m.response_error) : "", t[12], "block error");
}

TEST(Profinet, FixturesAgreeWithTshark) {
  if (!have_tshark()) {
    GTEST_SKIP() << "tshark absent";
  }
  std::vector<std::vector<std::uint8_t>> payloads;
  for (const auto* f : fixtures) {
    payloads.push_back(*f);
  }
  const std::string path = write_dcp_pcap(payloads);
  const auto truth = tshark_fields(path, "pn_dcp", dcp_fields);
  std::filesystem::remove(path);
  ASSERT_EQ(truth.size(), fixtures.size());
  agreement ag{"hand-built fixtures"};
  for (std::size_t i = 0; i < fixtures.size(); ++i) {
    SCOPED_TRACE("fixture " + u(i));
    profinet_dcp_message m;
    parse_profinet_dcp(*fixtures[i], m);
    compare_with_tshark(m, truth.at(i + 1), ag);
  }
  ag.report("profinet");
  EXPECT_EQ(ag.agreed, ag.compared);
}

TEST(Profinet, AgreesWithTsharkOnSharedCaptures) {
  const std::string root = TAPSENSE_SHARED_PCAPS;
  if (!std::filesystem::exists(root)) {
    GTEST_SKIP() << "shared pcaps absent";
  }
  if (!have_tshark()) {
    GTEST_SKIP() << "tshark absent";
  }
  const auto vendors = load_vendor_table("profinet_vendors.toml");
  std::size_t total = 0;
  for (const std::string name : {"profinet/ChangeIPUsingDCP.pcap", "profinet/PROFINET-RT.pcap",
                                 "profinet/profinet-io-le.pcap"}) {
    SCOPED_TRACE(name);
    const std::string path = root + "/" + name;
    const auto frames = read_pcap(path);
    const auto truth = tshark_fields(path, "pn_dcp", dcp_fields);
    agreement ag{name};
    std::string idents;              // "mac=... name=..." per self-description
    std::set<std::string> requests;  // "name(mac)" / "all(mac)" per Identify request
    std::size_t dcp_frames = 0;
    for (const auto& fr : frames) {
      if (!fr.decoded || fr.rec.ethertype != proto::profinet_ethertype) {
        ag.check(truth.count(fr.number) == 0);
        continue;
      }
      SCOPED_TRACE("frame " + u(fr.number));
      profinet_dcp_message m;
      const auto e = parse_profinet_dcp(fr.l3(), m);
      const auto row = truth.find(fr.number);
      if (row == truth.end()) {
        ag.eq(proto::profinet_error_name(e), "not_dcp", "frames tshark does not call DCP");
        continue;
      }
      ++dcp_frames;
      EXPECT_EQ(e, profinet_error::none) << proto::profinet_error_name(e);
      compare_with_tshark(m, row->second, ag);
      collecting_sink sink;
      proto::profinet_facts(m, fr.view(), sink,
                            [&vendors](std::uint16_t id) -> std::string_view {
                              const auto it = vendors.find(id);
                              return it == vendors.end() ? std::string_view{} : it->second;
                            });
      if (m.is_self_description()) {
        idents += "mac=" + fr.rec.src_mac.to_string() + " name=" + sink.value("station_name") +
                  " type=" + sink.value("model") + " vendor=" + sink.value("vendor_id") +
                  " device=" + sink.value("device_id") + "\n";
        if (sink.value("vendor_id") == "0x002a") {
          ag.eq(sink.value("vendor"), "Siemens AG", "vendor name from the data file");
        }
      } else if (m.service_id == proto::profinet_service::identify && m.is_request()) {
        const std::string q = sink.value("queried_station_name");
        requests.insert((q == "<none>" ? "all" : q) + "(" + fr.rec.src_mac.to_string() + ")");
      }
    }
    EXPECT_EQ(dcp_frames, truth.size()) << "every frame tshark calls DCP was compared";
    // MANIFEST.tsv: "DCP Ident-OK: mac=... name=X208-BORD type=INC vendor=0x002a
    // device=0x0a01 role=0x01 ip=...; DCP requests: switch3(00:1b:...) ..." (the
    // request list there is cut after six entries).
    const std::string manifest = manifest_truth(root, name);
    for (const auto& line : split(idents, '\n')) {
      if (!line.empty()) {
        ag.check(manifest.find(line.substr(0, line.size())) != std::string::npos);
        EXPECT_NE(manifest.find(line), std::string::npos) << line << " in " << manifest;
      }
    }
    const auto at = manifest.find("DCP requests: ");
    if (at != std::string::npos) {
      const auto list = manifest.substr(at + 14, manifest.find(" ||", at) - at - 14);
      for (const auto& item : split(list, ' ')) {
        ag.check(requests.count(item) == 1);
        EXPECT_EQ(requests.count(item), 1u) << item;
      }
    }
    ag.report("profinet");
    EXPECT_EQ(ag.agreed, ag.compared);
    total += ag.compared;
  }
  ASSERT_GT(total, 0u) << "nothing was compared";
}

}  // namespace
