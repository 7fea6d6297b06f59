// Modbus/TCP parser: broken input first (every truncation of every fixture,
// hostile lengths and counts), then hand-built fixtures of each message kind
// with their facts, then agreement with tshark (and MANIFEST.tsv) on the
// shared Modbus captures, fed one TCP segment payload at a time.
#include <gtest/gtest.h>

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
#include "common/proto/modbus.h"
#include "tests/unit/test_plumbing.h"

using namespace tapsense;
using proto::modbus_adu;
using proto::modbus_error;
using proto::modbus_kind;
using proto::modbus_segment;
using proto::parse_modbus;

namespace {

// An ADU: MBAP (transaction id, protocol 0, length, unit) + PDU.
std::vector<std::uint8_t> adu(std::uint16_t tid, std::uint8_t unit,
                              const std::vector<std::uint8_t>& pdu) {
  const std::size_t len = pdu.size() + 1;
  std::vector<std::uint8_t> v;
  v.reserve(7 + pdu.size());
  for (auto b : {tid >> 8, tid & 0xff, 0, 0, static_cast<int>(len >> 8),
                 static_cast<int>(len & 0xff), int{unit}}) {
    v.push_back(static_cast<std::uint8_t>(b));
  }
  for (auto b : pdu) {
    v.push_back(b);
  }
  return v;
}

// One Read Device Identification object: id, length, value.
std::vector<std::uint8_t> object(std::uint8_t id, std::string_view value) {
  return cat({{id, static_cast<std::uint8_t>(value.size())}, text_bytes(value)});
}

// Hand-built messages (no capture bytes).
const auto device_id_request = adu(1, 0xff, from_hex("2b 0e 01 00"));
const auto device_id_basic = adu(
    1, 0xff,
    cat({from_hex("2b 0e 01 01 00 00 03"), object(0, "Schneider Electric"),
         object(1, "BMX P34 2020"), object(2, "v2.7")}));
const auto device_id_regular = adu(
    7, 1,
    cat({from_hex("2b 0e 02 82 ff 05 05"), object(3, "http://example.com/plc"),
         object(4, "Example PLC"), object(5, "EPLC-3000"), object(6, "pump station 4"),
         object(0x80, "private")}));
const auto server_id_request = adu(3, 0x0a, from_hex("11"));
const auto server_id_response =
    adu(3, 0x0a, cat({from_hex("11 13 2a ff"), text_bytes("ACME PLC-100 v1.0")}));
const auto exception_response = adu(4, 1, from_hex("ab 01"));
const auto read_holding = adu(5, 1, from_hex("03 00 00 00 02"));

// Buffers outliving the parse results that point into them.
const std::vector<std::uint8_t>& keep(std::vector<std::uint8_t> v) {
  static std::deque<std::vector<std::uint8_t>> alive;
  return alive.emplace_back(std::move(v));
}

const std::vector<const std::vector<std::uint8_t>*> fixtures = {
    &device_id_request,  &device_id_basic,    &device_id_regular, &server_id_request,
    &server_id_response, &exception_response, &read_holding};

std::vector<std::uint8_t> prefix(const std::vector<std::uint8_t>& v, std::size_t n) {
  return {v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n)};
}

// ---------------------------------------------------------------------------
// Broken input

TEST(Modbus, EveryTruncationOfEveryFixtureIsSafe) {
  for (const auto* full : fixtures) {
    for (std::size_t len = 0; len < full->size(); ++len) {
      const auto cut = prefix(*full, len);  // exact-size buffer: ASan sees over-reads
      modbus_segment s;
      s.adus_len = 9;  // the parse must reset the output
      const auto e = parse_modbus(cut, s);
      EXPECT_EQ(s.adus_len, 0u) << len;
      if (len == 0) {
        EXPECT_EQ(e, modbus_error::none);
        EXPECT_FALSE(s.incomplete);
      } else {
        EXPECT_TRUE(s.incomplete) << len;
        EXPECT_TRUE(e == modbus_error::truncated_header || e == modbus_error::truncated_adu)
            << len << " " << proto::modbus_error_name(e);
      }
      EXPECT_EQ(s.consumed, 0u);
    }
    modbus_segment s;
    EXPECT_EQ(parse_modbus(*full, s), modbus_error::none);
    EXPECT_EQ(s.adus_len, 1u);
    EXPECT_EQ(s.consumed, full->size());
  }
}

// All fixtures back to back in one segment, cut at every length: exactly the
// complete ADUs are decoded, identical to the full parse.
TEST(Modbus, EveryCutOfAMultiAduSegmentKeepsTheCompleteAdus) {
  std::vector<std::uint8_t> all;
  std::vector<std::size_t> ends;
  for (const auto* f : fixtures) {
    all.insert(all.end(), f->begin(), f->end());
    ends.push_back(all.size());
  }
  modbus_segment whole;
  ASSERT_EQ(parse_modbus(all, whole), modbus_error::none);
  ASSERT_EQ(whole.adus_len, fixtures.size());
  for (std::size_t len = 0; len <= all.size(); ++len) {
    const auto cut = prefix(all, len);
    modbus_segment s;
    parse_modbus(cut, s);
    const auto complete = static_cast<std::size_t>(
        std::upper_bound(ends.begin(), ends.end(), len) - ends.begin());
    ASSERT_EQ(s.adus_len, complete) << len;
    EXPECT_EQ(s.incomplete, complete == 0 ? len != 0 : len != ends[complete - 1]) << len;
    for (std::size_t i = 0; i < s.adus_len; ++i) {
      EXPECT_EQ(s.adus[i].transaction_id, whole.adus[i].transaction_id);
      EXPECT_EQ(s.adus[i].kind, whole.adus[i].kind);
      EXPECT_EQ(s.adus[i].objects_len, whole.adus[i].objects_len);
    }
  }
}

TEST(Modbus, HostileHeaders) {
  modbus_segment s;
  // Protocol id 1: not Modbus, nothing decoded.
  auto v = device_id_basic;
  v[3] = 1;
  EXPECT_EQ(parse_modbus(v, s), modbus_error::bad_protocol_id);
  EXPECT_EQ(s.adus_len, 0u);
  // Lengths 0, 1 and 255..65535.
  for (int len : {0, 1, 255, 0x8804, 0xffff}) {
    v = device_id_basic;
    v[4] = static_cast<std::uint8_t>(len >> 8);
    v[5] = static_cast<std::uint8_t>(len);
    EXPECT_EQ(parse_modbus(v, s), modbus_error::bad_length) << len;
    EXPECT_EQ(s.adus_len, 0u);
    EXPECT_FALSE(s.incomplete);
  }
  // A length one past the segment.
  v = device_id_basic;
  v[5] = static_cast<std::uint8_t>(v[5] + 1);
  EXPECT_EQ(parse_modbus(v, s), modbus_error::truncated_adu);
  EXPECT_TRUE(s.incomplete);
  // A good ADU, then garbage: the good one is kept.
  v = cat({read_holding, from_hex("00 01 00 10 00 06 0a 01")});
  EXPECT_EQ(parse_modbus(v, s), modbus_error::bad_protocol_id);
  EXPECT_EQ(s.adus_len, 1u);
  EXPECT_EQ(s.consumed, read_holding.size());
}

TEST(Modbus, HostileObjectCountsAndLengths) {
  modbus_segment s;
  // Count 255, two objects present.
  auto pdu = cat({from_hex("2b 0e 01 01 00 00 ff"), object(0, "Vendor"), object(1, "Code")});
  EXPECT_EQ(parse_modbus(keep(adu(1, 1, pdu)), s), modbus_error::bad_device_id);
  ASSERT_EQ(s.adus_len, 1u);
  EXPECT_EQ(s.adus[0].object_count, 255);
  ASSERT_EQ(s.adus[0].objects_len, 2u);
  EXPECT_EQ(s.adus[0].objects[1].value, "Code");
  // An object whose length runs past the PDU (but not past the segment: the
  // next ADU's bytes must not be read as its value).
  pdu = from_hex("2b 0e 01 01 00 00 02 00 03 41 42 43 01 7f 41");
  const auto& seg = keep(cat({adu(1, 1, pdu), read_holding}));
  EXPECT_EQ(parse_modbus(seg, s), modbus_error::bad_device_id);
  ASSERT_EQ(s.adus_len, 2u);
  ASSERT_EQ(s.adus[0].objects_len, 1u);
  EXPECT_EQ(s.adus[0].objects[0].value, "ABC");
  EXPECT_EQ(s.adus[1].function, 3);
  // A response too short for its header fields.
  EXPECT_EQ(parse_modbus(adu(1, 1, from_hex("2b 0e 01 01")), s, proto::modbus_direction::response),
            modbus_error::bad_device_id);
  EXPECT_EQ(s.adus[0].kind, modbus_kind::other);
  // The same 4-byte PDU from the client is a request; with trailing slack too.
  EXPECT_EQ(parse_modbus(adu(1, 1, from_hex("2b 0e 03 01 00")), s, proto::modbus_direction::request),
            modbus_error::none);
  EXPECT_EQ(s.adus[0].kind, modbus_kind::device_id_request);
  EXPECT_EQ(s.adus[0].object_id, 1);
  EXPECT_EQ(parse_modbus(adu(1, 1, from_hex("2b 0e 03 01 00")), s), modbus_error::bad_device_id);
  // Forty empty objects: sixteen kept.
  pdu = from_hex("2b 0e 03 83 00 00 28");
  for (int i = 0; i < 40; ++i) {
    pdu.push_back(static_cast<std::uint8_t>(0x80 + i));
    pdu.push_back(0);
  }
  EXPECT_EQ(parse_modbus(adu(1, 1, pdu), s), modbus_error::object_overflow);
  EXPECT_EQ(s.adus[0].objects_len, proto::modbus_max_objects);
  // FC 17 byte count past the PDU: what is there is kept.
  EXPECT_EQ(parse_modbus(keep(adu(1, 1, from_hex("11 40 01 ff 41 42"))), s),
            modbus_error::bad_server_id);
  EXPECT_EQ(s.adus[0].server_data.size(), 4u);
  EXPECT_EQ(proto::modbus_server_id_text(s.adus[0]), "AB");
}

TEST(Modbus, TooManyAdusInOneSegment) {
  std::vector<std::uint8_t> v;
  for (int i = 0; i < 20; ++i) {
    const auto a = adu(static_cast<std::uint16_t>(i), 1, from_hex("03 00 00 00 01"));
    v.insert(v.end(), a.begin(), a.end());
  }
  modbus_segment s;
  EXPECT_EQ(parse_modbus(v, s), modbus_error::adu_overflow);
  EXPECT_EQ(s.adus_len, proto::modbus_max_adus);
  EXPECT_EQ(s.adus_seen, 20u);
  EXPECT_EQ(s.consumed, v.size());
  EXPECT_FALSE(s.incomplete);
}

TEST(Modbus, RandomMutationsStayInBounds) {
  std::uint32_t state = 4242;
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
    modbus_segment s;
    parse_modbus(v, s);
    const auto* b = reinterpret_cast<const char*>(v.data());
    for (const auto& a : s.adu_list()) {
      for (const auto& o : a.object_list()) {
        ASSERT_GE(o.value.data(), b);
        ASSERT_LE(o.value.data() + o.value.size(), b + v.size());
      }
      ASSERT_LE(a.server_data.size(), v.size());
    }
    collecting_sink sink;
    proto::modbus_facts(s, {}, sink);
  }
}

// ---------------------------------------------------------------------------
// Fixtures

TEST(Modbus, DeviceIdRequest) {
  modbus_segment s;
  ASSERT_EQ(parse_modbus(device_id_request, s), modbus_error::none);
  const auto& a = s.adus[0];
  EXPECT_EQ(a.kind, modbus_kind::device_id_request);
  EXPECT_EQ(a.transaction_id, 1);
  EXPECT_EQ(a.unit_id, 0xff);
  EXPECT_EQ(a.function, 43);
  EXPECT_EQ(a.mei_type, 14);
  EXPECT_EQ(a.read_device_id_code, 1);
  EXPECT_EQ(a.object_id, 0);
  EXPECT_FALSE(a.is_response());
  collecting_sink sink;
  proto::modbus_facts(s, {}, sink);
  EXPECT_TRUE(sink.facts.empty());
}

TEST(Modbus, DeviceIdBasicResponseAndFacts) {
  modbus_segment s;
  ASSERT_EQ(parse_modbus(device_id_basic, s), modbus_error::none);
  const auto& a = s.adus[0];
  EXPECT_EQ(a.kind, modbus_kind::device_id_response);
  EXPECT_EQ(a.conformity_level, 1);
  EXPECT_EQ(a.more_follows, 0);
  EXPECT_EQ(a.object_count, 3);
  ASSERT_EQ(a.objects_len, 3u);
  EXPECT_EQ(a.objects[0].value, "Schneider Electric");
  EXPECT_EQ(a.objects[2].id, 2);
  collecting_sink sink;
  proto::modbus_facts(s, {}, sink);
  EXPECT_EQ(sink.about(proto::subject::sender),
            (std::vector<std::string>{"vendor=Schneider Electric", "product_code=BMX P34 2020",
                                      "firmware=v2.7"}));
  for (const auto& f : sink.facts) {
    EXPECT_EQ(f.source.str(), "modbus");
    EXPECT_EQ(f.confidence, 90);
  }
}

TEST(Modbus, DeviceIdRegularResponseAndFacts) {
  modbus_segment s;
  ASSERT_EQ(parse_modbus(device_id_regular, s), modbus_error::none);
  const auto& a = s.adus[0];
  EXPECT_EQ(a.read_device_id_code, 2);
  EXPECT_EQ(a.conformity_level, 0x82);
  EXPECT_EQ(a.more_follows, 0xff);
  EXPECT_EQ(a.next_object_id, 5);
  ASSERT_EQ(a.objects_len, 5u);
  EXPECT_EQ(a.objects[4].id, 0x80);
  collecting_sink sink;
  proto::modbus_facts(s, {}, sink);
  EXPECT_EQ(sink.about(proto::subject::sender),
            (std::vector<std::string>{"vendor_url=http://example.com/plc", "model=Example PLC",
                                      "model=EPLC-3000", "application_name=pump station 4"}));
}

TEST(Modbus, ReportServerId) {
  modbus_segment s;
  ASSERT_EQ(parse_modbus(server_id_request, s), modbus_error::none);
  EXPECT_EQ(s.adus[0].kind, modbus_kind::server_id_request);
  ASSERT_EQ(parse_modbus(server_id_response, s), modbus_error::none);
  const auto& a = s.adus[0];
  EXPECT_EQ(a.kind, modbus_kind::server_id_response);
  EXPECT_EQ(a.byte_count, 19);
  EXPECT_EQ(a.server_data.size(), 19u);
  EXPECT_EQ(proto::modbus_server_id_text(a), "ACME PLC-100 v1.0");
  collecting_sink sink;
  proto::modbus_facts(s, {}, sink);
  ASSERT_EQ(sink.facts.size(), 1u);
  EXPECT_EQ(sink.facts[0].field.str(), "server_id");
  EXPECT_EQ(sink.facts[0].value, "ACME PLC-100 v1.0");
  EXPECT_EQ(sink.facts[0].confidence, 70);
  // Only binary data: shown as hex.
  ASSERT_EQ(parse_modbus(keep(adu(3, 1, from_hex("11 02 05 ff"))), s), modbus_error::none);
  EXPECT_EQ(proto::modbus_server_id_text(s.adus[0]), "05ff");
}

TEST(Modbus, ExceptionAndOtherFunctions) {
  modbus_segment s;
  ASSERT_EQ(parse_modbus(cat({exception_response, read_holding}), s), modbus_error::none);
  ASSERT_EQ(s.adus_len, 2u);
  EXPECT_EQ(s.adus[0].kind, modbus_kind::exception);
  EXPECT_EQ(s.adus[0].function, 0xab);
  EXPECT_EQ(s.adus[0].exception_code, 1);
  EXPECT_EQ(s.adus[1].kind, modbus_kind::other);
  EXPECT_EQ(s.adus[1].function, 3);
  EXPECT_EQ(s.adus[1].data.size(), 4u);
  // MEI 13 (CANopen) is framed, not decoded.
  ASSERT_EQ(parse_modbus(adu(9, 1, from_hex("2b 0d 00 00 00")), s), modbus_error::none);
  EXPECT_EQ(s.adus[0].kind, modbus_kind::mei_other);
  collecting_sink sink;
  proto::modbus_facts(s, {}, sink);
  EXPECT_TRUE(sink.facts.empty());
}

// ---------------------------------------------------------------------------
// Agreement with tshark on the shared captures

TEST(Modbus, AgreesWithTsharkOnSharedCaptures) {
  const std::string root = TAPSENSE_SHARED_PCAPS;
  if (!std::filesystem::exists(root)) {
    GTEST_SKIP() << "shared pcaps absent";
  }
  if (!have_tshark()) {
    GTEST_SKIP() << "tshark absent";
  }
  std::size_t total = 0;
  for (const std::string name : {"modbus/modbus-eit.pcap", "modbus/modbus_test_data_part1.pcap"}) {
    SCOPED_TRACE(name);
    const std::string path = root + "/" + name;
    const auto frames = read_pcap(path);
    const auto truth = tshark_fields(
        path, "mbtcp",
        {"mbtcp.trans_id", "mbtcp.unit_id", "modbus.func_code", "modbus.exception_code",
         "modbus.mei", "modbus.read_device_id", "modbus.object_id", "modbus.num_objects",
         "modbus.conformity_level", "modbus.more_follows", "modbus.next_object_id",
         "modbus.object_str_value", "modbus.data"});
    ASSERT_FALSE(truth.empty());
    // The same without TCP reassembly: one segment at a time, as we are fed.
    // Used only where the default view shows nothing (tshark holds a segment
    // back when junk after a complete ADU looks like the start of another).
    const auto per_segment = tshark_fields(
        path, "mbtcp", {"mbtcp.trans_id", "mbtcp.unit_id", "modbus.func_code"},
        "-o tcp.desegment_tcp_streams:FALSE");
    agreement ag{name};
    std::set<std::string> server_ids;
    for (const auto& fr : frames) {
      if (!fr.decoded || fr.rec.ip_proto != net::ipproto::tcp ||
          (fr.rec.src_port != proto::modbus_port && fr.rec.dst_port != proto::modbus_port) ||
          fr.payload().empty()) {
        continue;
      }
      SCOPED_TRACE("frame " + u(fr.number));
      modbus_segment s;
      parse_modbus(fr.payload(), s,
                   fr.rec.dst_port == proto::modbus_port ? proto::modbus_direction::request
                                                         : proto::modbus_direction::response);
      const auto row = truth.find(fr.number);
      if (row == truth.end()) {
        const auto seg_row = per_segment.find(fr.number);
        if (s.adus_len == 1 && s.incomplete && seg_row != per_segment.end()) {
          ag.eq(u(s.adus[0].transaction_id), seg_row->second[0], "per-segment transaction id");
          ag.eq(u(s.adus[0].function), seg_row->second[2], "per-segment function code");
          continue;
        }
        // tshark holds these back for reassembly (a length past 254) or
        // treats them as its continuation: we must not decode them either.
        ag.eq(u(s.adus_len), "0", "ADUs where tshark sees no complete Modbus/TCP");
        continue;
      }
      const auto& t = row->second;
      std::string tids, units, fcs, excs, meis, codes, objids, nums, confs, mores, nexts, strs, data;
      auto add = [](std::string& to, const std::string& v) {
        to += (to.empty() ? "" : std::string(1, agg)) + v;
      };
      for (const auto& a : s.adu_list()) {
        add(tids, u(a.transaction_id));
        add(units, u(a.unit_id));
        add(fcs, u(a.function & 0x7f));
        if (a.kind == modbus_kind::exception) {
          add(excs, u(a.exception_code));
        }
        if (a.function == 43 && !a.data.empty()) {
          add(meis, u(a.mei_type));
        }
        if (a.kind == modbus_kind::device_id_request) {
          add(codes, u(a.read_device_id_code));
          add(objids, u(a.object_id));
        }
        if (a.kind == modbus_kind::device_id_response) {
          add(codes, u(a.read_device_id_code));
          add(nums, u(a.object_count));
          char h[8];
          std::snprintf(h, sizeof h, "0x%02x", a.conformity_level);
          add(confs, h);
          std::snprintf(h, sizeof h, "0x%02x", a.more_follows);
          add(mores, h);
          add(nexts, u(a.next_object_id));
          for (const auto& o : a.object_list()) {
            add(objids, u(o.id));
            add(strs, std::string(o.value));
          }
        }
        if (a.kind == modbus_kind::server_id_response) {
          char h[3];
          std::string hex;
          std::snprintf(h, sizeof h, "%02x", a.byte_count);
          hex += h;
          for (auto b : a.server_data) {
            std::snprintf(h, sizeof h, "%02x", b);
            hex += h;
          }
          data = hex;
          server_ids.insert(proto::modbus_server_id_text(a));
        }
      }
      ag.eq(tids, t[0], "transaction ids");
      ag.eq(units, t[1], "unit ids");
      // tshark leaves the function code out of an ADU it could not dissect
      // (frame 113 of part1: a 4-byte PDU of function 42 followed by junk).
      if (!t[2].empty()) {
        ag.eq(fcs, t[2], "function codes");
      }
      ag.eq(excs, t[3], "exception codes");
      ag.eq(meis, t[4], "MEI types");
      ag.eq(codes, t[5], "read device id codes");
      ag.eq(objids, t[6], "object ids");
      ag.eq(nums, t[7], "number of objects");
      ag.eq(confs, t[8], "conformity levels");
      ag.eq(mores, t[9], "more follows");
      ag.eq(nexts, t[10], "next object ids");
      ag.eq(strs, t[11], "object string values");
      if (!data.empty()) {
        ag.eq(data, t[12], "report server id data");
      }
    }
    // MANIFEST.tsv: "FC17 printable=Wingpath Limited".
    const std::string manifest = manifest_truth(root, name);
    for (const auto& id : server_ids) {
      ag.check(manifest.find("FC17 printable=" + id) != std::string::npos);
      EXPECT_NE(manifest.find("FC17 printable=" + id), std::string::npos) << id;
    }
    ag.report("modbus");
    EXPECT_EQ(ag.agreed, ag.compared);
    total += ag.compared;
  }
  ASSERT_GT(total, 0u) << "nothing was compared";
}

}  // namespace
