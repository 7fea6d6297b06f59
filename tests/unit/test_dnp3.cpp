// DNP3 link-layer parser: broken input first (every truncation, hostile
// lengths, junk, CRC damage), then hand-built frames with their facts, then
// agreement with tshark and with Zeek's own baseline (dnp3.log and the event
// trace beside the capture), fed one TCP segment payload at a time.
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
#include "common/proto/dnp3.h"
#include "tests/unit/test_plumbing.h"

using namespace tapsense;
using proto::dnp3_error;
using proto::dnp3_frame;
using proto::dnp3_segment;
using proto::parse_dnp3;

namespace {

// A link frame: header with CRC, user data in 16-byte blocks each with CRC.
std::vector<std::uint8_t> link_frame(std::uint8_t control, std::uint16_t dst, std::uint16_t src,
                                     const std::vector<std::uint8_t>& user) {
  std::vector<std::uint8_t> v;
  for (int b : {0x05, 0x64, static_cast<int>(user.size() + 5), int{control}, dst & 0xff, dst >> 8,
                src & 0xff, src >> 8}) {
    v.push_back(static_cast<std::uint8_t>(b));
  }
  auto put_crc = [&v](std::size_t from) {
    const std::uint16_t crc =
        proto::dnp3_crc(net::bytes(v).subspan(from, v.size() - from));
    v.push_back(static_cast<std::uint8_t>(crc & 0xff));
    v.push_back(static_cast<std::uint8_t>(crc >> 8));
  };
  put_crc(0);
  for (std::size_t i = 0; i < user.size(); i += 16) {
    const std::size_t from = v.size();
    for (std::size_t k = i; k < std::min(user.size(), i + 16); ++k) {
      v.push_back(user[k]);
    }
    put_crc(from);
  }
  return v;
}

const std::vector<std::uint8_t>& keep(std::vector<std::uint8_t> v) {
  static std::deque<std::vector<std::uint8_t>> alive;
  return alive.emplace_back(std::move(v));
}

// Master 1 -> outstation 10: link status request (no user data).
const auto link_status = link_frame(0xc9, 10, 1, {});
// Master 1 -> outstation 10: READ class 1 (transport FIR|FIN, app FIR|FIN).
const auto read_request = link_frame(0xc4, 10, 1, from_hex("c0 c0 01 3c 02 06"));
// Outstation 10 -> master 1: RESPONSE with IIN 0x9002 and 24 bytes of
// objects: two data blocks.
const auto response = link_frame(
    0x44, 1, 10,
    cat({from_hex("c1 c1 81 90 02"), from_hex("1e 05 00 00 03 01 11 22 33 44 01 55 66 77 88 01"
                                              "99 aa bb cc")}));
// Outstation 10 -> master 1: UNSOLICITED_RESPONSE.
const auto unsolicited = link_frame(0x44, 1, 10, from_hex("c2 f2 82 10 00"));
// A second fragment frame (transport FIN only): no application header.
const auto continuation = link_frame(0x44, 1, 10, from_hex("83 01 02 03"));

const std::vector<const std::vector<std::uint8_t>*> fixtures = {
    &link_status, &read_request, &response, &unsolicited, &continuation};

std::vector<std::uint8_t> prefix(const std::vector<std::uint8_t>& v, std::size_t n) {
  return {v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n)};
}

// ---------------------------------------------------------------------------
// Broken input

TEST(Dnp3, CrcMatchesTheCatalogueCheckValue) {
  // CRC-16/DNP: poly 0x3D65, reflected, init 0, xorout 0xFFFF; check 0xEA82.
  const auto v = text_bytes("123456789");
  EXPECT_EQ(proto::dnp3_crc(v), 0xea82);
  EXPECT_EQ(proto::dnp3_crc({}), 0xffff);
}

TEST(Dnp3, EveryTruncationOfEveryFixtureIsSafe) {
  for (const auto* full : fixtures) {
    for (std::size_t len = 0; len < full->size(); ++len) {
      const auto cut = prefix(*full, len);
      dnp3_segment s;
      s.frames_len = 3;  // the parse must reset the output
      const auto e = parse_dnp3(cut, s);
      EXPECT_EQ(s.frames_len, 0u) << len;
      EXPECT_EQ(s.incomplete, len != 0) << len;
      EXPECT_EQ(e, len == 0 ? dnp3_error::none : dnp3_error::truncated_frame) << len;
      EXPECT_EQ(s.crc_errors, 0u);
    }
    dnp3_segment s;
    EXPECT_EQ(parse_dnp3(*full, s), dnp3_error::none);
    ASSERT_EQ(s.frames_len, 1u);
    EXPECT_TRUE(s.frames[0].header_crc_ok);
    EXPECT_EQ(s.frames[0].bad_blocks, 0);
    EXPECT_EQ(s.consumed, full->size());
  }
}

TEST(Dnp3, EveryCutOfAMultiFrameSegmentKeepsTheCompleteFrames) {
  std::vector<std::uint8_t> all;
  std::vector<std::size_t> ends;
  for (const auto* f : fixtures) {
    all.insert(all.end(), f->begin(), f->end());
    ends.push_back(all.size());
  }
  for (std::size_t len = 0; len <= all.size(); ++len) {
    const auto cut = prefix(all, len);
    dnp3_segment s;
    parse_dnp3(cut, s);
    const auto complete = static_cast<std::size_t>(
        std::upper_bound(ends.begin(), ends.end(), len) - ends.begin());
    ASSERT_EQ(s.frames_len, complete) << len;
    EXPECT_EQ(s.crc_errors, 0u) << len;
    EXPECT_EQ(s.skipped, 0u) << len;
  }
}

TEST(Dnp3, HostileLengthsAndJunk) {
  dnp3_segment s;
  // Length below 5: the start bytes are skipped and the next frame found.
  auto v = cat({from_hex("05 64 04 c4 01 00 02 00 00 00"), read_request});
  EXPECT_EQ(parse_dnp3(v, s), dnp3_error::bad_length);
  ASSERT_EQ(s.frames_len, 1u);
  EXPECT_EQ(s.frames[0].app_function, 1);
  EXPECT_EQ(s.skipped, 10u);
  // Length 255 with a short frame: incomplete, nothing read past the end.
  v = read_request;
  v[2] = 255;
  EXPECT_EQ(parse_dnp3(v, s), dnp3_error::truncated_frame);
  EXPECT_TRUE(s.incomplete);
  EXPECT_EQ(s.frames_len, 0u);
  // Junk before a frame, and a lone first start byte at the end.
  v = cat({from_hex("00 11 05 22 64"), response, from_hex("05")});
  EXPECT_EQ(parse_dnp3(v, s), dnp3_error::bad_start);
  ASSERT_EQ(s.frames_len, 1u);
  EXPECT_EQ(s.skipped, 5u);
  EXPECT_TRUE(s.incomplete);
  EXPECT_EQ(s.consumed, 5 + response.size());
  // Forty frames: sixteen kept, all CRC-checked.
  v.clear();
  for (int i = 0; i < 40; ++i) {
    v.insert(v.end(), link_status.begin(), link_status.end());
  }
  v[40 * link_status.size() - 1] ^= 1;  // damage the last header CRC
  EXPECT_EQ(parse_dnp3(v, s), dnp3_error::frame_overflow);
  EXPECT_EQ(s.frames_len, proto::dnp3_max_frames);
  EXPECT_EQ(s.frames_seen, 40u);
  EXPECT_EQ(s.crc_errors, 1u);
}

TEST(Dnp3, CrcErrorsAreCountedNotFatal) {
  dnp3_segment s;
  auto v = response;
  v[12] ^= 0x40;  // inside the first data block
  EXPECT_EQ(parse_dnp3(v, s), dnp3_error::data_crc);
  ASSERT_EQ(s.frames_len, 1u);
  EXPECT_TRUE(s.frames[0].header_crc_ok);
  EXPECT_EQ(s.frames[0].blocks, 2);
  EXPECT_EQ(s.frames[0].bad_blocks, 1);
  EXPECT_EQ(s.crc_errors, 1u);
  EXPECT_EQ(s.frames[0].source, 10);
  // Header damage: decoded, counted, and no facts from it.
  v = keep(response);
  v[4] ^= 0x01;
  const auto& damaged = keep(v);
  EXPECT_EQ(parse_dnp3(damaged, s), dnp3_error::header_crc);
  ASSERT_EQ(s.frames_len, 1u);
  EXPECT_FALSE(s.frames[0].header_crc_ok);
  collecting_sink sink;
  proto::dnp3_facts(s, {}, sink);
  EXPECT_TRUE(sink.facts.empty());
}

TEST(Dnp3, RandomMutationsStayInBounds) {
  std::uint32_t state = 777;
  auto rnd = [&state](std::uint32_t n) {
    state = state * 1664525u + 1013904223u;
    return (state >> 8) % n;
  };
  const auto all = cat({link_status, read_request, response, unsolicited, continuation});
  for (int round = 0; round < 20000; ++round) {
    auto v = all;
    for (std::uint32_t k = 0, n = 1 + rnd(6); k < n; ++k) {
      v[rnd(static_cast<std::uint32_t>(v.size()))] = static_cast<std::uint8_t>(rnd(256));
    }
    v.resize(rnd(static_cast<std::uint32_t>(v.size() + 1)));
    v.shrink_to_fit();
    dnp3_segment s;
    parse_dnp3(v, s);
    ASSERT_LE(s.consumed, v.size());
    ASSERT_LE(s.frames_len, proto::dnp3_max_frames);
    collecting_sink sink;
    proto::dnp3_facts(s, {}, sink);
  }
}

// ---------------------------------------------------------------------------
// Fixtures

TEST(Dnp3, LinkStatusRequestFromTheMaster) {
  dnp3_segment s;
  ASSERT_EQ(parse_dnp3(link_status, s), dnp3_error::none);
  const auto& f = s.frames[0];
  EXPECT_EQ(f.length, 5);
  EXPECT_TRUE(f.dir);
  EXPECT_TRUE(f.prm);
  EXPECT_EQ(f.link_function, 9);
  EXPECT_EQ(f.destination, 10);
  EXPECT_EQ(f.source, 1);
  EXPECT_FALSE(f.has_transport);
  EXPECT_FALSE(f.has_application);
  collecting_sink sink;
  proto::dnp3_facts(s, {}, sink);
  EXPECT_EQ(sink.about(proto::subject::sender),
            (std::vector<std::string>{"address=1", "role=master"}));
  EXPECT_EQ(sink.about(proto::subject::receiver),
            (std::vector<std::string>{"address=10", "role=outstation"}));
  EXPECT_EQ(sink.facts[0].confidence, 90);
  EXPECT_EQ(sink.facts[1].confidence, 80);
  EXPECT_EQ(sink.facts[2].confidence, 70);
  EXPECT_EQ(sink.facts[3].confidence, 60);
}

TEST(Dnp3, RequestAndResponseApplicationHeaders) {
  dnp3_segment s;
  ASSERT_EQ(parse_dnp3(cat({read_request, response}), s), dnp3_error::none);
  ASSERT_EQ(s.frames_len, 2u);
  const auto& rq = s.frames[0];
  EXPECT_TRUE(rq.transport_fir);
  EXPECT_TRUE(rq.transport_fin);
  EXPECT_TRUE(rq.has_application);
  EXPECT_EQ(rq.app_control, 0xc0);
  EXPECT_EQ(rq.app_function, proto::dnp3_function::read);
  EXPECT_FALSE(rq.has_iin);
  const auto& rs = s.frames[1];
  EXPECT_FALSE(rs.dir);
  EXPECT_EQ(rs.length, 5 + 25);
  EXPECT_EQ(rs.user_data_len, 25);
  EXPECT_EQ(rs.blocks, 2);
  EXPECT_EQ(rs.transport_seq, 1);
  EXPECT_EQ(rs.app_function, proto::dnp3_function::response);
  EXPECT_TRUE(rs.has_iin);
  EXPECT_EQ(rs.iin, 0x9002);
  EXPECT_EQ(proto::dnp3_sender_role(rs), "outstation");
  // Both directions in one segment: one set of facts each.
  collecting_sink sink;
  proto::dnp3_facts(s, {}, sink);
  EXPECT_EQ(sink.about(proto::subject::sender),
            (std::vector<std::string>{"address=1", "role=master", "address=10",
                                      "role=outstation"}));
}

TEST(Dnp3, UnsolicitedAndContinuationFrames) {
  dnp3_segment s;
  ASSERT_EQ(parse_dnp3(cat({unsolicited, continuation, unsolicited}), s), dnp3_error::none);
  ASSERT_EQ(s.frames_len, 3u);
  EXPECT_EQ(s.frames[0].app_function, proto::dnp3_function::unsolicited_response);
  EXPECT_EQ(s.frames[0].iin, 0x1000);
  EXPECT_TRUE(s.frames[1].has_transport);
  EXPECT_FALSE(s.frames[1].transport_fir);
  EXPECT_FALSE(s.frames[1].has_application);
  // Repeated (source, destination, direction): facts once.
  collecting_sink sink;
  proto::dnp3_facts(s, {}, sink);
  EXPECT_EQ(sink.facts.size(), 4u);
}

TEST(Dnp3, BroadcastDestinationIsNotAnAddress) {
  dnp3_segment s;
  const auto& v = keep(link_frame(0xc4, 0xffff, 1, from_hex("c0 c0 15")));
  ASSERT_EQ(parse_dnp3(v, s), dnp3_error::none);
  collecting_sink sink;
  proto::dnp3_facts(s, {}, sink);
  EXPECT_EQ(sink.about(proto::subject::receiver).size(), 0u);
  EXPECT_EQ(sink.about(proto::subject::sender).size(), 2u);
}

// ---------------------------------------------------------------------------
// Agreement with tshark and Zeek

std::string function_name(unsigned fc) {
  static const char* const names[] = {
      "CONFIRM", "READ", "WRITE", "SELECT", "OPERATE", "DIRECT_OPERATE", "DIRECT_OPERATE_NR",
      "IMMED_FREEZE", "IMMED_FREEZE_NR", "FREEZE_CLEAR", "FREEZE_CLEAR_NR", "FREEZE_AT_TIME",
      "FREEZE_AT_TIME_NR", "COLD_RESTART", "WARM_RESTART", "INITIALIZE_DATA", "INITIALIZE_APPL",
      "START_APPL", "STOP_APPL", "SAVE_CONFIG", "ENABLE_UNSOLICITED", "DISABLE_UNSOLICITED",
      "ASSIGN_CLASS", "DELAY_MEASURE", "RECORD_CURRENT_TIME", "OPEN_FILE", "CLOSE_FILE",
      "DELETE_FILE", "GET_FILE_INFO", "AUTHENTICATE_FILE", "ABORT_FILE", "ACTIVATE_CONFIG",
      "AUTHENTICATE_REQ", "AUTHENTICATE_ERR"};
  if (fc < std::size(names)) {
    return names[fc];
  }
  if (fc == 129) {
    return "RESPONSE";
  }
  if (fc == 130) {
    return "UNSOLICITED_RESPONSE";
  }
  if (fc == 131) {
    return "AUTHENTICATE_RESP";
  }
  return "fc" + std::to_string(fc);
}

TEST(Dnp3, AgreesWithTsharkAndZeekOnTheSharedCapture) {
  const std::string root = TAPSENSE_SHARED_PCAPS;
  if (!std::filesystem::exists(root)) {
    GTEST_SKIP() << "shared pcaps absent";
  }
  if (!have_tshark()) {
    GTEST_SKIP() << "tshark absent";
  }
  const std::string name = "dnp3/dnp3.pcap";
  const std::string path = root + "/" + name;
  const auto frames = read_pcap(path);
  const auto truth = tshark_fields(
      path, "dnp3",
      {"dnp3.len", "dnp3.ctl", "dnp3.dst", "dnp3.src", "dnp3.ctl.dir", "dnp3.ctl.prm",
       "dnp.hdr.CRC.status", "dnp.data_chunk.CRC.status", "dnp3.tr.fir", "dnp3.al.func"});
  ASSERT_FALSE(truth.empty());
  agreement ag{name};
  // Zeek's event trace, in packet order.
  std::vector<std::string> zeek_blocks;
  std::vector<std::string> zeek_apps;
  {
    std::ifstream f(root +
                    "/dnp3/dnp3.pcap.zeek-baseline/scripts.base.protocols.dnp3.events/output");
    std::string line;
    while (std::getline(f, line)) {
      if (line.rfind("dnp3_header_block, ", 0) == 0) {
        zeek_blocks.push_back(line.substr(19));
      } else if (line.rfind("dnp3_application_re", 0) == 0) {
        zeek_apps.push_back(line.substr(line.find(", ") + 2));
      }
    }
  }
  ASSERT_FALSE(zeek_blocks.empty());
  std::vector<std::string> our_blocks;
  std::vector<std::string> our_apps;
  // Function codes and IIN per connection (keyed by the client's port).
  std::map<std::string, std::set<std::string>> our_requests;
  std::map<std::string, std::set<std::string>> our_replies;
  std::map<std::string, std::set<std::string>> our_iin;
  std::set<std::string> link_pairs;  // "ip:src=a->dst=b", as MANIFEST.tsv writes them
  std::size_t seen = 0;
  for (const auto& fr : frames) {
    if (!fr.decoded || fr.rec.ip_proto != net::ipproto::tcp || fr.payload().empty() ||
        (fr.rec.src_port != proto::dnp3_port && fr.rec.dst_port != proto::dnp3_port)) {
      continue;
    }
    SCOPED_TRACE("frame " + u(fr.number));
    dnp3_segment s;
    parse_dnp3(fr.payload(), s);
    const auto row = truth.find(fr.number);
    if (row == truth.end()) {
      ag.eq(u(s.frames_len), "0", "frames where tshark sees no DNP3");
      continue;
    }
    ++seen;
    const auto& t = row->second;
    std::string len, ctl, dst, src, dir, prm, hcrc, dcrc, fir, func;
    auto add = [](std::string& to, const std::string& v) {
      to += (to.empty() ? "" : std::string(1, agg)) + v;
    };
    const bool orig = fr.rec.dst_port == proto::dnp3_port;
    const std::string conn = u(orig ? fr.rec.src_port : fr.rec.dst_port);
    for (const auto& f : s.frame_list()) {
      add(len, u(f.length));
      char h[8];
      std::snprintf(h, sizeof h, "0x%02x", f.control);
      add(ctl, h);
      add(dst, u(f.destination));
      add(src, u(f.source));
      add(dir, f.dir ? "1" : "0");
      add(prm, f.prm ? "1" : "0");
      add(hcrc, f.header_crc_ok ? "1" : "2");
      for (std::size_t b = 0; b < f.blocks; ++b) {
        add(dcrc, "1");  // tshark: 1 good, 2 bad
      }
      if (f.has_transport) {
        add(fir, f.transport_fir ? "1" : "0");
      }
      if (f.has_application) {
        add(func, u(f.app_function));
        (f.dir ? our_requests : our_replies)[conn].insert(function_name(f.app_function));
        if (f.has_iin) {
          our_iin[conn].insert(u(f.iin));
          our_apps.push_back(std::string(orig ? "T" : "F") + ", " + u(f.app_control) + ", " +
                             u(f.app_function) + ", " + u(f.iin));
        } else {
          our_apps.push_back(std::string(orig ? "T" : "F") + ", " + u(f.app_control) + ", " +
                             u(f.app_function));
        }
      }
      our_blocks.push_back(std::string(orig ? "T" : "F") + ", " + u(f.length) + ", " +
                           u(f.control) + ", " + u(f.destination) + ", " + u(f.source));
      link_pairs.insert(fr.rec.src_ip.to_string() + ":src=" + u(f.source) +
                        "->dst=" + u(f.destination));
    }
    EXPECT_EQ(s.crc_errors, 0u);
    EXPECT_FALSE(s.incomplete);
    ag.eq(len, t[0], "length");
    ag.eq(ctl, t[1], "control");
    ag.eq(dst, t[2], "destination");
    ag.eq(src, t[3], "source");
    ag.eq(dir, t[4], "DIR");
    ag.eq(prm, t[5], "PRM");
    ag.eq(hcrc, t[6], "header CRC status");
    ag.eq(dcrc, t[7], "data CRC status");
    ag.eq(fir, t[8], "transport FIR");
    ag.eq(func, t[9], "application function");
  }
  EXPECT_EQ(seen, truth.size()) << "every frame tshark calls DNP3 was compared";
  // Zeek's header blocks and application headers, one for one, in order.
  ag.check(our_blocks == zeek_blocks);
  EXPECT_EQ(our_blocks, zeek_blocks);
  ag.check(our_apps == zeek_apps);
  EXPECT_EQ(our_apps, zeek_apps);
  // dnp3.log: every function code and IIN Zeek logged per connection was seen.
  {
    std::ifstream f(root +
                    "/dnp3/dnp3.pcap.zeek-baseline/scripts.base.protocols.dnp3.events/dnp3.log");
    std::string line;
    std::size_t rows = 0;
    while (std::getline(f, line)) {
      if (line.empty() || line[0] == '#') {
        continue;
      }
      const auto c = split(line, '\t');
      ASSERT_EQ(c.size(), 9u) << line;
      const std::string conn = c[3];
      if (c[6] != "-") {
        ag.check(our_requests[conn].count(c[6]) == 1);
        EXPECT_EQ(our_requests[conn].count(c[6]), 1u) << line;
      }
      if (c[7] != "-") {
        ag.check(our_replies[conn].count(c[7]) == 1);
        EXPECT_EQ(our_replies[conn].count(c[7]), 1u) << line;
        ag.check(our_iin[conn].count(c[8]) == 1);
        EXPECT_EQ(our_iin[conn].count(c[8]), 1u) << line;
      }
      ++rows;
    }
    EXPECT_GT(rows, 0u);
  }
  // MANIFEST.tsv: "DNP3 link addrs: 10.0.0.3:src=4->dst=3 ...".
  const std::string manifest = manifest_truth(root, name);
  const auto at = manifest.find("DNP3 link addrs: ");
  ASSERT_NE(at, std::string::npos);
  const auto list = manifest.substr(at + 17, manifest.find(';', at) - at - 17);
  for (const auto& pair : split(list, ' ')) {
    ag.check(link_pairs.count(pair) == 1);
    EXPECT_EQ(link_pairs.count(pair), 1u) << pair;
  }
  ag.report("dnp3");
  EXPECT_EQ(ag.agreed, ag.compared);
  ASSERT_GT(ag.compared, 0u) << "nothing was compared";
}

}  // namespace
