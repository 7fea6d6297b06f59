// S7comm parser: broken input first (every truncation, hostile TPKT/COTP/S7
// lengths, SZL counts), then hand-built TPKT/COTP/S7 PDUs (connection
// request, setup, SZL 0x0011 and 0x001C requests and answers, an answer split
// over two PDUs with a record cut in the middle) with their facts, then
// agreement with tshark, MANIFEST.tsv and the icsnpp baseline logs on the
// shared captures, fed one TCP segment payload at a time with per-connection
// state.
#include <gtest/gtest.h>
#include <toml++/toml.h>

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
#include "common/proto/s7comm.h"
#include "tests/unit/test_plumbing.h"

using namespace tapsense;
using proto::parse_s7comm;
using proto::s7comm_error;
using proto::s7comm_flow_state;
using proto::s7comm_segment;

namespace {


std::vector<std::uint8_t> be16(unsigned v) {
  return {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v & 0xff)};
}

// TPKT + COTP DT (EOT) + payload.
std::vector<std::uint8_t> tpkt_dt(const std::vector<std::uint8_t>& s7, bool eot = true) {
  return cat({{0x03, 0x00}, be16(static_cast<unsigned>(s7.size() + 7)),
              {0x02, 0xf0, static_cast<std::uint8_t>(eot ? 0x80 : 0x00)}, s7});
}

// S7 userdata PDU.
std::vector<std::uint8_t> userdata(unsigned pdu_ref, const std::vector<std::uint8_t>& params,
                                   const std::vector<std::uint8_t>& data) {
  return cat({{0x32, 0x07, 0x00, 0x00}, be16(pdu_ref), be16(static_cast<unsigned>(params.size())),
              be16(static_cast<unsigned>(data.size())), params, data});
}

// Read-SZL response parameters: seq, data unit reference, last data unit.
std::vector<std::uint8_t> szl_response_params(std::uint8_t dur, bool last) {
  return {0x00, 0x01, 0x12, 0x08, 0x12, 0x84, 0x01, 0x01, dur,
          static_cast<std::uint8_t>(last ? 0x00 : 0x01), 0x00, 0x00};
}

std::vector<std::uint8_t> szl_data(const std::vector<std::uint8_t>& payload) {
  return cat({{0xff, 0x09}, be16(static_cast<unsigned>(payload.size())), payload});
}

std::vector<std::uint8_t> padded(std::string_view text, std::size_t n, char pad) {
  std::vector<std::uint8_t> v(text.begin(), text.end());
  v.resize(n, static_cast<std::uint8_t>(pad));
  return v;
}

std::vector<std::uint8_t> rec_0011(unsigned index, std::string_view mlfb, unsigned ausbg,
                                   unsigned ausbe) {
  return cat({be16(index), padded(mlfb, 20, ' '), be16(0), be16(ausbg), be16(ausbe)});
}

std::vector<std::uint8_t> rec_001c(unsigned index, const std::vector<std::uint8_t>& body) {
  auto b = body;
  b.resize(32, 0);
  return cat({be16(index), b});
}

std::vector<std::uint8_t> prefix_of(const std::vector<std::uint8_t>& v, std::size_t n) {
  return {v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n)};
}
std::vector<std::uint8_t> suffix_of(const std::vector<std::uint8_t>& v, std::size_t n) {
  return {v.begin() + static_cast<std::ptrdiff_t>(n), v.end()};
}

const std::vector<std::uint8_t>& keep(std::vector<std::uint8_t> v) {
  static std::deque<std::vector<std::uint8_t>> alive;
  return alive.emplace_back(std::move(v));
}

const auto connect_request = from_hex("03 00 00 16 11 e0 0000 0001 00 c0 01 0a c1 02 01 00 c2 02 01 02");
const auto setup_job = tpkt_dt(from_hex("32 01 0000 0000 0008 0000 f0 00 0001 0001 01e0"));
const auto setup_ack = tpkt_dt(from_hex("32 03 0000 0000 0008 0000 00 00 f0 00 0001 0001 00f0"));
const auto szl_0011_request = tpkt_dt(
    userdata(0x0100, from_hex("00 01 12 04 11 44 01 00"), from_hex("ff 09 0004 0011 0000")));
const std::vector<std::vector<std::uint8_t>> records_0011 = {
    rec_0011(1, "6ES7 214-1AG40-0XB0", 0x0001, 0x0002),
    rec_0011(6, "6ES7 214-1AG40-0XB0", 0x0005, 0x0000),
    rec_0011(7, "", 0x5604, 0x0203)};
const auto szl_0011_response = tpkt_dt(userdata(
    0x0100, szl_response_params(0, true),
    szl_data(cat({from_hex("0011 0000 001c 0003"), records_0011[0], records_0011[1],
                  records_0011[2]}))));
const std::vector<std::vector<std::uint8_t>> records_001c = {
    rec_001c(1, text_bytes("PLC_1")),
    rec_001c(2, text_bytes("CPU 1214C DC/DC/DC")),
    rec_001c(3, text_bytes("line-3")),
    rec_001c(4, text_bytes("Original Siemens Equipment")),
    rec_001c(5, text_bytes("S V-H1234567890")),
    rec_001c(7, text_bytes("CPU 1214C DC/DC/DC")),
    rec_001c(8, text_bytes("MMC 1234ABCD")),
    rec_001c(9, from_hex("002a f600 0001")),
    rec_001c(10, {}),
    rec_001c(11, text_bytes("Hall 2"))};
std::vector<std::uint8_t> all_001c_records() {
  std::vector<std::uint8_t> v;
  for (const auto& r : records_001c) {
    v.insert(v.end(), r.begin(), r.end());
  }
  return v;
}
const auto szl_001c_response = tpkt_dt(userdata(
    0x0200, szl_response_params(0, true),
    szl_data(cat({from_hex("001c 0000 0022 000a"), all_001c_records()}))));
// The same answer in two PDUs, cut inside record 6 (after 5 records + 10 bytes).
const std::size_t cut_at = 5 * 34 + 10;
const auto szl_001c_first = tpkt_dt(userdata(
    0x1400, szl_response_params(6, false),
    szl_data(cat({from_hex("001c 0000 0022 000a"),
                  prefix_of(all_001c_records(), cut_at)}))));
const auto szl_001c_followup_request = tpkt_dt(
    userdata(0x1500, from_hex("00 01 12 08 12 44 01 02 06 00 00 00"), from_hex("0a 00 00 00")));
const auto szl_001c_second = tpkt_dt(userdata(
    0x1500, szl_response_params(6, true), szl_data(suffix_of(all_001c_records(), cut_at))));
const auto s7plus = tpkt_dt(from_hex("72 01 00 10 31 00 00 04 ca 00 00 00 01 00 00 01 20 36 00 00"));

const std::vector<const std::vector<std::uint8_t>*> fixtures = {
    &connect_request,  &setup_job,      &setup_ack,       &szl_0011_request,
    &szl_0011_response, &szl_001c_response, &szl_001c_first, &szl_001c_followup_request,
    &szl_001c_second,  &s7plus};

std::vector<std::uint8_t> prefix(const std::vector<std::uint8_t>& v, std::size_t n) {
  return {v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n)};
}

proto::s7comm_vendor_lookup lookup(const std::map<std::uint32_t, std::string>& table) {
  return [&table](std::uint16_t id) -> std::string_view {
    const auto it = table.find(id);
    return it == table.end() ? std::string_view{} : it->second;
  };
}

// ---------------------------------------------------------------------------
// Broken input

TEST(S7comm, EveryTruncationOfEveryFixtureIsSafe) {
  for (const auto* full : fixtures) {
    for (std::size_t len = 0; len < full->size(); ++len) {
      const auto cut = prefix(*full, len);
      s7comm_segment s;
      s.pdus_len = 3;  // the parse must reset the output
      s7comm_flow_state st{};
      const auto e = parse_s7comm(cut, s, &st);
      EXPECT_EQ(s.pdus_len, 0u) << len;
      EXPECT_EQ(s.module_ids_len + s.component_ids_len, 0u) << len;
      EXPECT_EQ(s.incomplete, len != 0) << len;
      EXPECT_EQ(e, len == 0 ? s7comm_error::none : s7comm_error::truncated_tpkt) << len;
    }
    s7comm_segment s;
    EXPECT_EQ(parse_s7comm(*full, s), s7comm_error::none) << proto::s7comm_error_name(s.error);
    EXPECT_EQ(s.tpkts, 1u);
  }
}

// The TPKT length cut together with the segment: every length of COTP and S7.
TEST(S7comm, EveryShortenedTpktIsSafe) {
  for (const auto* full : fixtures) {
    for (std::size_t len = 7; len < full->size(); ++len) {
      auto v = prefix(*full, len);
      v[2] = static_cast<std::uint8_t>(len >> 8);
      v[3] = static_cast<std::uint8_t>(len & 0xff);
      s7comm_segment s;
      s7comm_flow_state st{};
      parse_s7comm(szl_001c_first, s, &st);  // a fragmented answer in progress
      parse_s7comm(v, s, &st);
      ASSERT_LE(s.module_ids_len, proto::s7comm_max_0011);
      ASSERT_LE(s.component_ids_len, proto::s7comm_max_001c);
      ASSERT_LE(st.carry_len, st.carry.size());
      collecting_sink sink;
      proto::s7comm_facts(s, {}, sink);
    }
  }
}

TEST(S7comm, HostileLengths) {
  s7comm_segment s;
  // TPKT version 2, TPKT length 3.
  EXPECT_EQ(parse_s7comm(from_hex("02 00 00 0a 02 f0 80 32 01 00"), s), s7comm_error::bad_tpkt);
  EXPECT_EQ(parse_s7comm(from_hex("03 00 00 03 02 f0 80"), s), s7comm_error::bad_tpkt);
  // COTP length indicator past the TPKT.
  EXPECT_EQ(parse_s7comm(from_hex("03 00 00 09 7f f0 80 32 01"), s), s7comm_error::bad_cotp);
  EXPECT_EQ(parse_s7comm(from_hex("03 00 00 07 00 f0 80"), s), s7comm_error::bad_cotp);
  // S7 parameter + data lengths past the TPKT.
  EXPECT_EQ(parse_s7comm(keep(tpkt_dt(from_hex("32 07 0000 0100 0008 ffff 00 01 12 04 11 44 01 00"))), s),
            s7comm_error::truncated_s7);
  ASSERT_EQ(s.pdus_len, 1u);
  EXPECT_FALSE(s.pdus[0].userdata);
  // SZL count far beyond the records present, and a record length of 0 / 65535.
  s7comm_flow_state st{};
  auto v = tpkt_dt(userdata(0x0100, szl_response_params(0, true),
                            szl_data(cat({from_hex("0011 0000 001c ffff"), records_0011[0]}))));
  EXPECT_EQ(parse_s7comm(keep(v), s, &st), s7comm_error::none);
  EXPECT_EQ(s.module_ids_len, 1u);
  EXPECT_FALSE(st.active);  // the last data unit ends the list, whatever the count said
  v = tpkt_dt(userdata(0x0100, szl_response_params(0, true),
                       szl_data(cat({from_hex("0011 0000 0000 0003"), records_0011[0]}))));
  EXPECT_EQ(parse_s7comm(keep(v), s, &st), s7comm_error::bad_szl);
  v = tpkt_dt(userdata(0x0100, szl_response_params(0, true),
                       szl_data(cat({from_hex("001c 0000 ffff 0001"), records_001c[0]}))));
  EXPECT_EQ(parse_s7comm(keep(v), s, &st), s7comm_error::bad_szl);
  EXPECT_EQ(s.component_ids_len, 0u);
  // Records shorter than the layout needs.
  v = tpkt_dt(userdata(0x0100, szl_response_params(0, true),
                       szl_data(cat({from_hex("0011 0000 0004 0002 0001 4142 0007 4344")}))));
  EXPECT_EQ(parse_s7comm(keep(v), s, &st), s7comm_error::bad_szl);
  EXPECT_EQ(s.module_ids_len, 0u);
  // A follow-up PDU of another list's fragmented answer is never read as an
  // identification header, however its bytes look.
  v = tpkt_dt(userdata(0x0500, szl_response_params(5, false),
                       szl_data(from_hex("0000 0000 0002 0070 0000 0f00"))));
  EXPECT_EQ(parse_s7comm(keep(v), s, &st), s7comm_error::none);
  EXPECT_TRUE(st.active);
  v = tpkt_dt(userdata(0x0500, szl_response_params(5, true),
                       szl_data(cat({from_hex("0011 0000 001c 0001"), records_0011[0]}))));
  EXPECT_EQ(parse_s7comm(keep(v), s, &st), s7comm_error::none);
  EXPECT_TRUE(s.pdus[0].continuation);
  EXPECT_EQ(s.module_ids_len, 0u);
  EXPECT_FALSE(st.active);
  // The data length field of the userdata data part past its data.
  v = tpkt_dt(userdata(0x0100, szl_response_params(0, true),
                       cat({from_hex("ff 09 0fff 0011 0000 001c 0001"), records_0011[0]})));
  EXPECT_EQ(parse_s7comm(keep(v), s, &st), s7comm_error::truncated_s7);
  EXPECT_EQ(s.module_ids_len, 1u);  // what is there is read
  // A COTP fragment (no EOT) with data is skipped.
  EXPECT_EQ(parse_s7comm(keep(tpkt_dt(from_hex("32 01 0000"), false)), s), s7comm_error::cotp_fragment);
  EXPECT_EQ(s.pdus_len, 0u);
  // More than twelve 0x001C records: the rest counted, not kept.
  std::vector<std::uint8_t> many;
  for (int i = 0; i < 20; ++i) {
    const auto r = rec_001c(1, text_bytes("X"));
    many.insert(many.end(), r.begin(), r.end());
  }
  v = tpkt_dt(userdata(0x0100, szl_response_params(0, true),
                       szl_data(cat({from_hex("001c 0000 0022 0014"), many}))));
  EXPECT_EQ(parse_s7comm(keep(v), s, &st), s7comm_error::item_overflow);
  EXPECT_EQ(s.component_ids_len, proto::s7comm_max_001c);
}

TEST(S7comm, RandomMutationsStayInBounds) {
  std::uint32_t state = 102;
  auto rnd = [&state](std::uint32_t n) {
    state = state * 1664525u + 1013904223u;
    return (state >> 8) % n;
  };
  s7comm_flow_state st{};
  for (int round = 0; round < 30000; ++round) {
    auto v = *fixtures[rnd(static_cast<std::uint32_t>(fixtures.size()))];
    for (std::uint32_t k = 0, n = 1 + rnd(4); k < n; ++k) {
      v[rnd(static_cast<std::uint32_t>(v.size()))] = static_cast<std::uint8_t>(rnd(256));
    }
    if (rnd(2) == 0) {
      v.resize(rnd(static_cast<std::uint32_t>(v.size() + 1)));
    }
    v.shrink_to_fit();
    s7comm_segment s;
    parse_s7comm(v, s, rnd(3) == 0 ? nullptr : &st);
    ASSERT_LE(st.carry_len, st.carry.size());
    for (const auto& r : s.component_id_list()) {
      ASSERT_LE(r.text.len, r.text.buf.size());
    }
    collecting_sink sink;
    proto::s7comm_facts(s, {}, sink);
  }
}

// ---------------------------------------------------------------------------
// Fixtures

TEST(S7comm, ConnectionAndSetup) {
  s7comm_flow_state st{};
  s7comm_segment s;
  ASSERT_EQ(parse_s7comm(connect_request, s, &st), s7comm_error::none);
  EXPECT_TRUE(s.has_tsap);
  EXPECT_EQ(s.cotp_type, 0xe0);
  EXPECT_EQ(s.calling_tsap, 0x0100);
  EXPECT_EQ(s.called_tsap, 0x0102);
  EXPECT_EQ(st.called_tsap, 0x0102);
  EXPECT_EQ(s.pdus_len, 0u);
  ASSERT_EQ(parse_s7comm(cat({setup_job, setup_ack}), s, &st), s7comm_error::none);
  ASSERT_EQ(s.pdus_len, 2u);
  EXPECT_EQ(s.pdus[0].rosctr, proto::s7comm_rosctr::job);
  EXPECT_EQ(s.pdus[0].function, 0xf0);
  EXPECT_EQ(s.pdus[1].rosctr, proto::s7comm_rosctr::ack_data);
  EXPECT_EQ(s.pdus[1].error_class, 0);
  EXPECT_EQ(s.pdus[1].function, 0xf0);
  ASSERT_EQ(parse_s7comm(s7plus, s, &st), s7comm_error::none);
  EXPECT_EQ(s.pdus[0].protocol_id, 0x72);
}

TEST(S7comm, ModuleIdentificationAndFacts) {
  s7comm_flow_state st{};
  s7comm_segment s;
  ASSERT_EQ(parse_s7comm(szl_0011_request, s, &st), s7comm_error::none);
  EXPECT_TRUE(s.pdus[0].read_szl);
  EXPECT_EQ(s.pdus[0].type, 4);
  EXPECT_EQ(s.pdus[0].szl_id, 0x0011);
  EXPECT_EQ(st.last_request_szl_id, 0x0011);
  ASSERT_EQ(parse_s7comm(szl_0011_response, s, &st), s7comm_error::none);
  EXPECT_EQ(s.pdus[0].type, 8);
  EXPECT_EQ(s.pdus[0].szl_id, 0x0011);
  EXPECT_FALSE(st.active);
  ASSERT_EQ(s.module_ids_len, 3u);
  EXPECT_EQ(s.module_ids[0].index, 1);
  EXPECT_EQ(s.module_ids[0].mlfb.view(), "6ES7 214-1AG40-0XB0 ");
  EXPECT_EQ(s.module_ids[2].mlfb.view(), "                    ");
  EXPECT_EQ(proto::s7comm_version(0x5604, 0x0203), "V4.2.3");
  EXPECT_EQ(proto::s7comm_version(4, 1), "4");
  collecting_sink sink;
  proto::s7comm_facts(s, {}, sink);
  EXPECT_EQ(sink.about(proto::subject::sender),
            (std::vector<std::string>{"order_number=6ES7 214-1AG40-0XB0", "firmware=V4.2.3",
                                      "hardware_version=5"}));
  for (const auto& f : sink.facts) {
    EXPECT_EQ(f.source.str(), "s7comm");
  }
}

TEST(S7comm, ComponentIdentificationAndFacts) {
  s7comm_segment s;
  ASSERT_EQ(parse_s7comm(szl_001c_response, s), s7comm_error::none);
  ASSERT_EQ(s.component_ids_len, 10u);
  EXPECT_EQ(s.component_ids[7].manufacturer_id, 0x002a);
  EXPECT_EQ(s.component_ids[7].profile_id, 0xf600);
  const auto vendors = load_vendor_table("profinet_vendors.toml");
  collecting_sink sink;
  proto::s7comm_facts(s, {}, sink, lookup(vendors));
  EXPECT_EQ(sink.about(proto::subject::sender),
            (std::vector<std::string>{
                "plc_name=PLC_1", "device_name=PLC_1", "module_name=CPU 1214C DC/DC/DC",
                "plant_id=line-3", "copyright=Original Siemens Equipment",
                "serial=S V-H1234567890", "model=CPU 1214C DC/DC/DC",
                "memory_card_serial=MMC 1234ABCD", "vendor_id=0x002a", "vendor=Siemens AG",
                "location=Hall 2"}));
}

TEST(S7comm, AnswerSplitOverTwoPdusNeedsTheState) {
  s7comm_flow_state st{};
  s7comm_segment s;
  ASSERT_EQ(parse_s7comm(szl_001c_first, s, &st), s7comm_error::none);
  EXPECT_EQ(s.component_ids_len, 5u);
  EXPECT_TRUE(st.active);
  EXPECT_EQ(st.carry_len, 10u);
  EXPECT_EQ(st.records_left, 5u);
  ASSERT_EQ(parse_s7comm(szl_001c_followup_request, s, &st), s7comm_error::none);
  EXPECT_TRUE(st.active);
  ASSERT_EQ(parse_s7comm(szl_001c_second, s, &st), s7comm_error::none);
  EXPECT_TRUE(s.pdus[0].continuation);
  EXPECT_EQ(s.pdus[0].szl_id, 0x001c);
  ASSERT_EQ(s.component_ids_len, 5u);
  EXPECT_EQ(s.component_ids[0].index, 7);  // the record that was cut
  EXPECT_EQ(s.component_ids[0].text.view(), "CPU 1214C DC/DC/DC");
  EXPECT_EQ(s.component_ids[4].text.view(), "Hall 2");
  EXPECT_FALSE(st.active);
  // Without state, only the first PDU's records come out.
  ASSERT_EQ(parse_s7comm(szl_001c_first, s), s7comm_error::none);
  EXPECT_EQ(s.component_ids_len, 5u);
  ASSERT_EQ(parse_s7comm(szl_001c_second, s), s7comm_error::none);
  EXPECT_EQ(s.component_ids_len, 0u);
  // A new answer (another data unit reference) abandons a pending one.
  ASSERT_EQ(parse_s7comm(szl_001c_first, s, &st), s7comm_error::none);
  ASSERT_EQ(parse_s7comm(szl_0011_response, s, &st), s7comm_error::none);
  EXPECT_EQ(s.module_ids_len, 3u);
  EXPECT_FALSE(st.active);
}

TEST(S7comm, SeveralTpktsInOneSegment) {
  s7comm_segment s;
  s7comm_flow_state st{};
  ASSERT_EQ(parse_s7comm(cat({szl_0011_response, szl_001c_response}), s, &st), s7comm_error::none);
  EXPECT_EQ(s.tpkts, 2u);
  EXPECT_EQ(s.module_ids_len, 3u);
  EXPECT_EQ(s.component_ids_len, 10u);
  EXPECT_EQ(parse_s7comm(cat({setup_job, prefix(setup_ack, 10)}), s), s7comm_error::truncated_tpkt);
  EXPECT_EQ(s.pdus_len, 1u);
  EXPECT_EQ(s.consumed, setup_job.size());
  EXPECT_TRUE(s.incomplete);
}

// ---------------------------------------------------------------------------
// Agreement with tshark and icsnpp

const std::vector<std::string> s7_fields = {
    "s7comm.header.rosctr",
    "s7comm.data.userdata.szl_id",
    "s7comm.szl.xy11.0001.index",
    "s7comm.szl.xy11.0001.anz",
    "s7comm.szl.xy11.0001.ausbg",
    "s7comm.szl.xy11.0001.ausbe",
    "s7comm.szl.001c.000x.index",
    "s7comm.szl.001c.0001.name",
    "s7comm.szl.001c.0002.name",
    "s7comm.szl.001c.0003.tag",
    "s7comm.szl.001c.0004.copyright",
    "s7comm.szl.001c.0005.serialn",
    "s7comm.szl.001c.0007.cputypname",
    "s7comm.szl.001c.0008.snmcmmc",
    "s7comm.szl.001c.0009.manufacturer_id",
    "s7comm.szl.001c.000b.loc_id",
    "s7comm.param.userdata.type",
};

TEST(S7comm, AgreesWithTsharkAndIcsnppOnSharedCaptures) {
  const std::string root = TAPSENSE_SHARED_PCAPS;
  if (!std::filesystem::exists(root)) {
    GTEST_SKIP() << "shared pcaps absent";
  }
  if (!have_tshark()) {
    GTEST_SKIP() << "tshark absent";
  }
  const auto vendors = load_vendor_table("profinet_vendors.toml");
  std::size_t total = 0;
  for (const std::string name : {"s7comm/s7ident.pcap", "s7comm/s7comm_reading_plc_status.pcap"}) {
    SCOPED_TRACE(name);
    const std::string path = root + "/" + name;
    const auto frames = read_pcap(path);
    const auto truth = tshark_fields(path, "s7comm", s7_fields);
    ASSERT_FALSE(truth.empty());
    agreement ag{name};
    // Per connection, in frame order: the SZL records and ids (ours, with
    // state, as they complete; tshark's where it reassembled them).
    std::map<std::string, std::vector<std::string>> ours;
    std::map<std::string, std::vector<std::string>> theirs;
    std::map<std::string, s7comm_flow_state> flows;
    std::map<std::string, std::string> facts;  // field -> value, from all answers
    std::vector<std::string> our_pdus;          // "T,7,0x44" as icsnpp's s7comm.log
    std::size_t seen = 0;
    for (const auto& fr : frames) {
      if (!fr.decoded || fr.rec.ip_proto != net::ipproto::tcp || fr.payload().empty() ||
          (fr.rec.src_port != proto::s7comm_port && fr.rec.dst_port != proto::s7comm_port)) {
        continue;
      }
      SCOPED_TRACE("frame " + u(fr.number));
      const bool to_plc = fr.rec.dst_port == proto::s7comm_port;
      const std::string conn = u(to_plc ? fr.rec.src_port : fr.rec.dst_port);
      auto& st = flows[conn];
      s7comm_segment s;
      parse_s7comm(fr.payload(), s, &st);
      auto& o = ours[conn];
      auto& t = theirs[conn];
      for (const auto& p : s.pdu_list()) {
        if (p.protocol_id != 0x32) {
          continue;
        }
        char h[8];
        std::snprintf(h, sizeof h, "0x%02x", p.userdata ? (p.type << 4) | p.function_group : p.function);
        our_pdus.push_back(std::string(to_plc ? "T" : "F") + "," + u(p.rosctr) + "," + h);
        if (p.read_szl && p.type == 8 && !p.continuation && p.return_code == 0xff) {
          std::snprintf(h, sizeof h, "0x%04x", p.szl_id);
          o.push_back(std::string("szl_id=") + h);
        }
      }
      for (const auto& r : s.module_id_list()) {
        char h[8];
        std::snprintf(h, sizeof h, "0x%04x", r.index);
        o.push_back(std::string("0011.index=") + h);
        o.push_back("0011.mlfb=" + std::string(r.mlfb.view()));
        o.push_back("0011.ausbg=" + u(r.ausbg));
        o.push_back("0011.ausbe=" + u(r.ausbe));
      }
      for (const auto& r : s.component_id_list()) {
        char h[8];
        std::snprintf(h, sizeof h, "0x%04x", r.index);
        o.push_back(std::string("001c.index=") + h);
        static const std::map<unsigned, std::string> text_names = {
            {1, "0001.name"}, {2, "0002.name"}, {3, "0003.tag"}, {4, "0004.copyright"},
            {5, "0005.serialn"}, {7, "0007.cputypname"}, {8, "0008.snmcmmc"}, {11, "000b.loc_id"}};
        if (const auto it = text_names.find(r.index); it != text_names.end()) {
          o.push_back(it->second + "=" + std::string(r.text.view()));
        }
        if (r.index == 9) {
          std::snprintf(h, sizeof h, "0x%04x", r.manufacturer_id);
          o.push_back(std::string("0009.manufacturer_id=") + h);
        }
      }
      collecting_sink sink;
      proto::s7comm_facts(s, fr.view(), sink, lookup(vendors));
      for (const auto& f : sink.facts) {
        facts[std::string(f.field)] = f.value;
      }
      const auto row = truth.find(fr.number);
      if (row == truth.end()) {
        continue;
      }
      ++seen;
      const auto& c = row->second;
      // tshark lists all records' indexes first, then the text fields: put
      // them back in record order (each text field occurs once per answer).
      // Answers' SZL ids (tshark shows a fragmented one where it reassembled
      // it; we where its header is: the order per connection is the same).
      if (!c[1].empty() && c[16] == "8") {
        t.push_back("szl_id=" + c[1]);
      }
      const auto idx = values(c[2]);
      const auto mlfb = values(c[3]);
      const auto ausbg = values(c[4]);
      const auto ausbe = values(c[5]);
      for (std::size_t i = 0; i < idx.size(); ++i) {
        t.push_back("0011.index=" + idx[i]);
        t.push_back("0011.mlfb=" + (i < mlfb.size() ? mlfb[i] : "?"));
        t.push_back("0011.ausbg=" + (i < ausbg.size() ? ausbg[i] : "?"));
        t.push_back("0011.ausbe=" + (i < ausbe.size() ? ausbe[i] : "?"));
      }
      const std::vector<std::pair<std::string, std::size_t>> per_index = {
          {"0x0001", 7}, {"0x0002", 8}, {"0x0003", 9}, {"0x0004", 10}, {"0x0005", 11},
          {"0x0007", 12}, {"0x0008", 13}, {"0x000b", 15}};
      static const std::map<std::size_t, std::string> column_names = {
          {7, "0001.name"}, {8, "0002.name"}, {9, "0003.tag"}, {10, "0004.copyright"},
          {11, "0005.serialn"}, {12, "0007.cputypname"}, {13, "0008.snmcmmc"}, {15, "000b.loc_id"}};
      for (const auto& i : values(c[6])) {
        t.push_back("001c.index=" + i);
        for (const auto& [index, col] : per_index) {
          if (i == index) {
            t.push_back(column_names.at(col) + "=" + c[col]);
          }
        }
        if (i == "0x0009") {
          t.push_back("0009.manufacturer_id=" + c[14]);
        }
      }
    }
    EXPECT_GT(seen, 0u);
    for (const auto& [conn, list] : theirs) {
      SCOPED_TRACE("connection " + conn);
      const auto& mine = ours[conn];
      ag.check(mine == list);
      EXPECT_EQ(mine, list);
      // Field by field for the report.
      for (std::size_t i = 0; i < std::min(mine.size(), list.size()); ++i) {
        ag.check(mine[i] == list[i]);
      }
    }
    // MANIFEST.tsv: "S7 SZL 0x0011/0x001c (...): Copyright: Original Siemens
    // Equipment ; Cputypname (Module type namee): CPU 315-2 PN/DP ; MlfB ...".
    const std::string manifest = manifest_truth(root, name);
    const std::vector<std::pair<std::string, std::string>> manifest_keys = {
        {"copyright", "Copyright: "},
        {"model", "Cputypname (Module type namee): "},
        {"order_number", "MlfB (Order number of the module): "},
        {"plc_name", "Name (Name of the PLC): "},
        {"module_name", "Name (Name of the module): "},
        {"serial", "Serialn (Serialnumber of the module): "}};
    for (const auto& [field, label] : manifest_keys) {
      ASSERT_EQ(facts.count(field), 1u) << field;
      ag.check(manifest.find(label + facts[field]) != std::string::npos);
      EXPECT_NE(manifest.find(label + facts[field]), std::string::npos) << label << facts[field];
    }
    ag.eq(facts["vendor"], "Siemens AG", "vendor from the data file");
    ag.eq(facts["firmware"], "V3.2.6", "firmware (SZL 0x0011 index 7, 0x5603/0x0206)");
    // icsnpp baseline beside s7ident.pcap: s7comm_known_devices.log and the
    // ROSCTR/function sequence of s7comm.log.
    const std::string base = path + ".icsnpp-baseline/";
    if (std::filesystem::exists(base)) {
      std::ifstream known(base + "s7comm_known_devices.log");
      std::string line;
      std::size_t devices = 0;
      while (std::getline(known, line)) {
        if (line.empty() || line[0] == '#') {
          continue;
        }
        const auto c = split(line, '\t');
        ASSERT_EQ(c.size(), 15u) << line;
        ag.eq(facts["plc_name"], c[11], "icsnpp automation_system_name");
        ag.eq(facts["module_name"], c[12], "icsnpp module_name");
        ag.eq(facts.count("plant_id") ? facts["plant_id"] : "(empty)", c[13], "icsnpp plant_name");
        ag.eq(facts["serial"], c[14], "icsnpp module_serial");
        ++devices;
      }
      EXPECT_EQ(devices, 1u);
      std::ifstream log(base + "s7comm.log");
      std::vector<std::string> icsnpp_pdus;
      while (std::getline(log, line)) {
        if (line.empty() || line[0] == '#') {
          continue;
        }
        const auto c = split(line, '\t');
        ASSERT_GE(c.size(), 15u) << line;
        icsnpp_pdus.push_back(c[6] + "," + c[11] + "," + c[14]);
      }
      // icsnpp does not log a bare Ack (ROSCTR 2, no parameters).
      std::erase_if(our_pdus, [](const std::string& p) { return p.rfind("F,2,", 0) == 0; });
      ag.check(our_pdus == icsnpp_pdus);
      EXPECT_EQ(our_pdus, icsnpp_pdus);
    }
    ag.report("s7comm");
    EXPECT_EQ(ag.agreed, ag.compared);
    total += ag.compared;
  }
  ASSERT_GT(total, 0u) << "nothing was compared";
}

}  // namespace
