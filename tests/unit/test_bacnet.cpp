// BACnet/IP parser: broken input first (every truncation, extended tag
// lengths, unterminated and over-deep constructed values), then hand-built
// messages (I-Am, Who-Is, ReadProperty and ReadPropertyMultiple requests and
// acknowledgements in several character sets, forwarded and routed NPDUs)
// with their facts, also shown to tshark, then agreement with tshark and
// MANIFEST.tsv on the shared captures, fed the UDP payload.
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
#include "common/proto/bacnet.h"
#include "tests/unit/test_plumbing.h"

using namespace tapsense;
using proto::bacnet_error;
using proto::bacnet_message;
using proto::parse_bacnet;

namespace {


std::vector<std::uint8_t> be16(unsigned v) {
  return {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v & 0xff)};
}

// BVLC header (type 0x81) with its length filled in.
std::vector<std::uint8_t> bvlc(std::uint8_t function, const std::vector<std::uint8_t>& rest) {
  return cat({{0x81, function}, be16(static_cast<unsigned>(rest.size() + 4)), rest});
}

// Application-tagged CharacterString: charset byte + bytes, extended length
// when needed.
std::vector<std::uint8_t> char_string(std::uint8_t charset, const std::vector<std::uint8_t>& s) {
  const std::size_t len = s.size() + 1;
  std::vector<std::uint8_t> tag = len < 5 ? std::vector<std::uint8_t>{static_cast<std::uint8_t>(0x70 | len)}
                                          : std::vector<std::uint8_t>{0x75, static_cast<std::uint8_t>(len)};
  return cat({tag, {charset}, s});
}
std::vector<std::uint8_t> ucs2(std::string_view s) {
  std::vector<std::uint8_t> v;
  for (char c : s) {
    v.push_back(0);
    v.push_back(static_cast<std::uint8_t>(c));
  }
  return v;
}

const auto device_1001 = from_hex("0c 02 00 03 e9");  // context 0: device,1001
const auto device_any = from_hex("0c 02 3f ff ff");   // context 0: device,4194303

// ReadProperty-ACK of `prop` with `value`.
std::vector<std::uint8_t> rp_ack(const std::vector<std::uint8_t>& object, std::uint8_t prop,
                                 const std::vector<std::uint8_t>& value) {
  return bvlc(0x0a, cat({from_hex("01 00 30 07 0c"), object, {0x19, prop, 0x3e}, value, {0x3f}}));
}

const std::vector<std::uint8_t>& keep(std::vector<std::uint8_t> v) {
  static std::deque<std::vector<std::uint8_t>> alive;
  return alive.emplace_back(std::move(v));
}

const auto i_am_body = from_hex("10 00 c4 02 00 03 e9 22 05 c4 91 03 21 24");
const auto i_am = bvlc(0x0b, cat({from_hex("01 20 ff ff 00 ff"), i_am_body}));
const auto who_is = bvlc(0x0b, from_hex("01 20 ff ff 00 ff 10 08 09 00 1a 03 e8"));
const auto rp_request =
    bvlc(0x0a, cat({from_hex("01 04 02 75 07 0c"), device_1001, from_hex("19 79")}));
const auto rp_vendor_name =
    rp_ack(device_1001, 121, char_string(0, text_bytes("Tridium, Inc.")));
const auto rp_model_ucs2 = rp_ack(device_any, 70, char_string(4, ucs2("NAE-55")));
const auto rp_object_id = rp_ack(device_any, 75, from_hex("c4 02 00 03 e9"));
const auto rp_vendor_id = rp_ack(device_any, 120, from_hex("22 01 04"));
const auto rpm_request = bvlc(
    0x0a, cat({from_hex("01 04 02 75 08 0e"), device_1001, from_hex("1e 09 4d 09 2c 09 0c 1f")}));
// Device properties (Latin-1 object name, a property error), then an analog
// input whose object-name must not be taken for the device's.
const auto rpm_ack = bvlc(
    0x0a,
    cat({from_hex("01 00 30 08 0e"), device_1001, {0x1e},
         {0x29, 0x4d, 0x4e}, char_string(5, from_hex("4b e4 6c 74 65 61 6e 6c 61 67 65")), {0x4f},
         {0x29, 0x2c, 0x4e}, char_string(0, text_bytes("1.2.3")), {0x4f},
         {0x29, 0x0c, 0x4e}, char_string(0, text_bytes("4.5")), {0x4f},
         {0x29, 0x1c, 0x4e}, char_string(0, text_bytes("Chiller plant")), {0x4f},
         {0x29, 0x3a, 0x4e}, char_string(3, from_hex("00000052 0000006f 0000006f 00000066")), {0x4f},
         from_hex("29 78 4e 22 01 04 4f"),
         from_hex("2a 03 e7 5e 91 02 91 20 5f"),
         {0x1f},
         from_hex("0c 00 00 00 00 1e 29 4d 4e"), char_string(0, text_bytes("AI-0")),
         from_hex("4f 1f")}));
const auto forwarded_i_am =
    bvlc(0x04, cat({from_hex("c0 a8 01 05 ba c0"), from_hex("01 00"), i_am_body}));
const auto routed_i_am = bvlc(0x0b, cat({from_hex("01 08 00 05 01 0a"), i_am_body}));
const auto network_message = bvlc(0x0b, from_hex("01 80 00"));
const auto bvlc_result = bvlc(0x00, from_hex("00 00"));

const std::vector<const std::vector<std::uint8_t>*> fixtures = {
    &i_am,        &who_is,        &rp_request,     &rp_vendor_name, &rp_model_ucs2,
    &rp_object_id, &rp_vendor_id, &rpm_request,    &rpm_ack,        &forwarded_i_am,
    &routed_i_am, &network_message, &bvlc_result};

std::vector<std::uint8_t> prefix(const std::vector<std::uint8_t>& v, std::size_t n) {
  return {v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n)};
}

proto::bacnet_vendor_lookup lookup(const std::map<std::uint32_t, std::string>& table) {
  return [&table](std::uint32_t id) -> std::string_view {
    const auto it = table.find(id);
    return it == table.end() ? std::string_view{} : it->second;
  };
}

// ---------------------------------------------------------------------------
// Broken input

// A datagram cut short (the BVLC length still claims the whole) keeps the
// BVLC/NPDU header fields and, of the values, only ones equal to the full
// parse's.
TEST(Bacnet, EveryTruncationOfEveryFixtureIsSafeAndKeepsThePrefix) {
  for (const auto* full : fixtures) {
    bacnet_message whole;
    ASSERT_EQ(parse_bacnet(*full, whole), bacnet_error::none);
    for (std::size_t len = 0; len < full->size(); ++len) {
      const auto cut = prefix(*full, len);
      bacnet_message m;
      m.device_properties = 99;  // the parse must reset the output
      const auto e = parse_bacnet(cut, m);
      if (len < 4) {
        EXPECT_EQ(e, bacnet_error::truncated_bvlc);
        EXPECT_EQ(m.bvlc_function, 0);
        continue;
      }
      EXPECT_NE(e, bacnet_error::none) << len;  // bad_bvlc_length at least
      EXPECT_TRUE(!m.has_device_instance || m.device_instance == whole.device_instance) << len;
      EXPECT_TRUE(!m.has_vendor_id || m.vendor_id == whole.vendor_id) << len;
      for (auto [a, b] : {std::pair{&m.vendor_name, &whole.vendor_name},
                          std::pair{&m.model_name, &whole.model_name},
                          std::pair{&m.object_name, &whole.object_name},
                          std::pair{&m.location, &whole.location}}) {
        EXPECT_TRUE(!a->present || a->view() == b->view()) << len;
      }
      collecting_sink sink;
      proto::bacnet_facts(m, {}, sink);
    }
  }
}

// The BVLC length cut together with the datagram: every length of APDU.
TEST(Bacnet, EveryShortenedApduIsSafe) {
  for (const auto* full : fixtures) {
    for (std::size_t len = 4; len < full->size(); ++len) {
      auto v = prefix(*full, len);
      v[2] = static_cast<std::uint8_t>(len >> 8);
      v[3] = static_cast<std::uint8_t>(len & 0xff);
      bacnet_message m;
      parse_bacnet(v, m);
      ASSERT_LE(m.vendor_name.len, m.vendor_name.buf.size());
      collecting_sink sink;
      proto::bacnet_facts(m, {}, sink);
    }
  }
}

TEST(Bacnet, HostileTagsAndHeaders) {
  bacnet_message m;
  EXPECT_EQ(parse_bacnet(from_hex("82 0a 00 08 01 00 10 08"), m), bacnet_error::bad_bvlc_type);
  EXPECT_EQ(parse_bacnet(from_hex("81 04 00 07 c0 a8 01"), m), bacnet_error::truncated_bvlc);
  EXPECT_EQ(parse_bacnet(from_hex("81 0a 00 06 02 00"), m), bacnet_error::bad_npdu_version);
  // DNET with a DLEN past the end; SNET cut.
  EXPECT_EQ(parse_bacnet(from_hex("81 0a 00 0a 01 20 00 05 09 01"), m), bacnet_error::truncated_npdu);
  EXPECT_EQ(parse_bacnet(from_hex("81 0a 00 09 01 08 00 05 02"), m), bacnet_error::truncated_npdu);
  // Extended lengths far past the data: 254 -> 16 bits, 255 -> 32 bits.
  for (const char* value : {"75 fe ff ff 00 41", "75 ff 7f ff ff ff 00 41", "75 fd 00 41",
                            "75", "75 fe 00", "75 ff 00 00"}) {
    const auto& v = keep(rp_ack(device_1001, 121, from_hex(value)));
    EXPECT_NE(parse_bacnet(v, m), bacnet_error::none) << value;
    EXPECT_FALSE(m.vendor_name.present) << value;
  }
  // An extended tag number at the very end.
  EXPECT_EQ(parse_bacnet(keep(bvlc(0x0a, from_hex("01 00 30 07 0c f9"))), m), bacnet_error::bad_tag);
  // An opening tag never closed.
  EXPECT_EQ(parse_bacnet(keep(bvlc(0x0a, cat({from_hex("01 00 30 07 0c"), device_1001,
                                              from_hex("19 79 3e 75 04 00 41 42 43")}))),
                         m),
            bacnet_error::bad_tag);
  EXPECT_TRUE(m.vendor_name.present);  // the value itself was whole
  // Constructed values nested deeper than the cap.
  std::vector<std::uint8_t> deep = from_hex("19 4c 3e");
  for (int i = 0; i < 12; ++i) {
    deep.push_back(0x0e);
  }
  for (int i = 0; i < 12; ++i) {
    deep.push_back(0x0f);
  }
  deep.push_back(0x3f);
  EXPECT_EQ(parse_bacnet(keep(bvlc(0x0a, cat({from_hex("01 00 30 07 0c"), device_1001, deep}))), m),
            bacnet_error::depth_exceeded);
  // Wrong application types for the properties.
  EXPECT_EQ(parse_bacnet(keep(rp_ack(device_1001, 120, from_hex("75 03 00 41 42"))), m),
            bacnet_error::bad_value);
  EXPECT_FALSE(m.has_vendor_id);
  EXPECT_EQ(parse_bacnet(keep(rp_ack(device_1001, 120, from_hex("25 05 01 02 03 04 05"))), m),
            bacnet_error::bad_value);
  // An RPM-ACK whose result list never closes.
  EXPECT_EQ(parse_bacnet(keep(bvlc(0x0a, cat({from_hex("01 00 30 08 0e"), device_1001,
                                              from_hex("1e 29 4d 4e 71 00 4f 29")}))),
                         m),
            bacnet_error::bad_tag);
  EXPECT_TRUE(m.object_name.present);
}

TEST(Bacnet, LongAndOddStrings) {
  bacnet_message m;
  // 400 characters: cut at 256 bytes, said so.
  const auto& v = keep(rp_ack(device_1001, 28,
                              cat({from_hex("75 fe 01 91 00"), std::vector<std::uint8_t>(400, 'x')})));
  EXPECT_EQ(parse_bacnet(v, m), bacnet_error::string_truncated);
  EXPECT_EQ(m.description.len, 256u);
  // UCS-2 past the buffer: never a partial multi-byte character.
  std::vector<std::uint8_t> wide;
  for (int i = 0; i < 200; ++i) {
    wide.push_back(0x20);
    wide.push_back(0xac);  // U+20AC, three bytes of UTF-8
  }
  const auto& w = keep(rp_ack(device_1001, 58, cat({from_hex("75 fe 01 91 04"), wide})));
  EXPECT_EQ(parse_bacnet(w, m), bacnet_error::string_truncated);
  EXPECT_EQ(m.location.len % 3, 0u);
  EXPECT_EQ(m.location.view().substr(0, 3), "\xe2\x82\xac");
  // Odd UCS-2 length, UCS-4 outside Unicode, DBCS with its code page.
  EXPECT_EQ(parse_bacnet(keep(rp_ack(device_1001, 70, from_hex("74 04 00 41 42"))), m),
            bacnet_error::bad_value);
  EXPECT_EQ(m.model_name.view(), "A");
  EXPECT_EQ(parse_bacnet(keep(rp_ack(device_1001, 70, from_hex("75 05 03 00 11 00 00"))), m),
            bacnet_error::none);
  EXPECT_EQ(m.model_name.view(), "?");
  EXPECT_EQ(parse_bacnet(keep(rp_ack(device_1001, 70, from_hex("75 05 01 03 a4 41 42"))), m),
            bacnet_error::none);
  EXPECT_EQ(m.model_name.view(), "AB");
}

TEST(Bacnet, RandomMutationsStayInBounds) {
  std::uint32_t state = 47808;
  auto rnd = [&state](std::uint32_t n) {
    state = state * 1664525u + 1013904223u;
    return (state >> 8) % n;
  };
  for (int round = 0; round < 30000; ++round) {
    auto v = *fixtures[rnd(static_cast<std::uint32_t>(fixtures.size()))];
    for (std::uint32_t k = 0, n = 1 + rnd(4); k < n; ++k) {
      v[4 + rnd(static_cast<std::uint32_t>(v.size() - 4))] = static_cast<std::uint8_t>(rnd(256));
    }
    if (rnd(2) == 0) {
      v.resize(rnd(static_cast<std::uint32_t>(v.size() + 1)));
    }
    v.shrink_to_fit();
    bacnet_message m;
    parse_bacnet(v, m);
    for (const auto* t : {&m.vendor_name, &m.model_name, &m.firmware_revision,
                          &m.application_software_version, &m.object_name, &m.description,
                          &m.location}) {
      ASSERT_LE(t->len, t->buf.size());
    }
    collecting_sink sink;
    proto::bacnet_facts(m, {}, sink);
  }
}

// ---------------------------------------------------------------------------
// Fixtures

TEST(Bacnet, IAmAndFacts) {
  bacnet_message m;
  ASSERT_EQ(parse_bacnet(i_am, m), bacnet_error::none);
  EXPECT_EQ(m.bvlc_function, 0x0b);
  EXPECT_TRUE(m.has_dnet);
  EXPECT_EQ(m.dnet, 0xffff);
  EXPECT_EQ(m.hop_count, 255);
  EXPECT_EQ(m.pdu_type, proto::bacnet_pdu::unconfirmed_request);
  EXPECT_TRUE(m.is_i_am);
  EXPECT_EQ(m.device_instance, 1001u);
  EXPECT_EQ(m.max_apdu, 1476u);
  EXPECT_EQ(m.segmentation, 3u);
  EXPECT_EQ(m.vendor_id, 36u);
  const auto vendors = load_vendor_table("bacnet_vendors.toml");
  collecting_sink sink;
  proto::bacnet_facts(m, {}, sink, lookup(vendors));
  EXPECT_EQ(sink.about(proto::subject::sender),
            (std::vector<std::string>{"device_instance=1001", "vendor_id=36",
                                      "vendor=Tridium Inc."}));
  EXPECT_EQ(sink.facts[2].confidence, 70);
}

TEST(Bacnet, WhoIsAndRequestsSayNothingAboutTheSender) {
  bacnet_message m;
  ASSERT_EQ(parse_bacnet(who_is, m), bacnet_error::none);
  EXPECT_TRUE(m.has_who_is_range);
  EXPECT_EQ(m.who_is_low, 0u);
  EXPECT_EQ(m.who_is_high, 1000u);
  collecting_sink sink;
  proto::bacnet_facts(m, {}, sink);
  ASSERT_EQ(parse_bacnet(rp_request, m), bacnet_error::none);
  EXPECT_EQ(m.pdu_type, proto::bacnet_pdu::confirmed_request);
  EXPECT_EQ(m.invoke_id, 7);
  EXPECT_EQ(m.service, proto::bacnet_service::read_property);
  EXPECT_TRUE(m.has_request_object);
  EXPECT_EQ(m.request_object_type, 8);
  EXPECT_EQ(m.request_instance, 1001u);
  EXPECT_EQ(m.request_property, 121u);
  proto::bacnet_facts(m, {}, sink);
  ASSERT_EQ(parse_bacnet(rpm_request, m), bacnet_error::none);
  EXPECT_EQ(m.request_property, 77u);
  proto::bacnet_facts(m, {}, sink);
  EXPECT_TRUE(sink.facts.empty());
}

TEST(Bacnet, ReadPropertyAcks) {
  bacnet_message m;
  ASSERT_EQ(parse_bacnet(rp_vendor_name, m), bacnet_error::none);
  EXPECT_EQ(m.pdu_type, proto::bacnet_pdu::complex_ack);
  EXPECT_EQ(m.vendor_name.view(), "Tridium, Inc.");
  EXPECT_EQ(m.device_instance, 1001u);  // from the ACK's object
  EXPECT_EQ(m.device_properties, 1);
  ASSERT_EQ(parse_bacnet(rp_model_ucs2, m), bacnet_error::none);
  EXPECT_EQ(m.model_name.charset, 4);
  EXPECT_EQ(m.model_name.view(), "NAE-55");
  EXPECT_FALSE(m.has_device_instance);  // wildcard object
  ASSERT_EQ(parse_bacnet(rp_object_id, m), bacnet_error::none);
  EXPECT_EQ(m.device_instance, 1001u);  // from the property value
  ASSERT_EQ(parse_bacnet(rp_vendor_id, m), bacnet_error::none);
  EXPECT_EQ(m.vendor_id, 260u);
  const auto vendors = load_vendor_table("bacnet_vendors.toml");
  collecting_sink sink;
  proto::bacnet_facts(m, {}, sink, lookup(vendors));
  EXPECT_EQ(sink.about(proto::subject::sender),
            (std::vector<std::string>{"vendor_id=260", "vendor=BACnet Stack at SourceForge"}));
}

TEST(Bacnet, ReadPropertyMultipleAckAndFacts) {
  bacnet_message m;
  ASSERT_EQ(parse_bacnet(rpm_ack, m), bacnet_error::none) << proto::bacnet_error_name(m.error);
  EXPECT_EQ(m.service, proto::bacnet_service::read_property_multiple);
  EXPECT_EQ(m.device_properties, 6);
  EXPECT_EQ(m.object_name.charset, 5);
  EXPECT_EQ(m.object_name.view(), "K\xc3\xa4lteanlage");
  EXPECT_EQ(m.firmware_revision.view(), "1.2.3");
  EXPECT_EQ(m.application_software_version.view(), "4.5");
  EXPECT_EQ(m.description.view(), "Chiller plant");
  EXPECT_EQ(m.location.view(), "Roof");
  EXPECT_EQ(m.vendor_id, 260u);
  collecting_sink sink;
  proto::bacnet_facts(m, {}, sink);
  EXPECT_EQ(sink.about(proto::subject::sender),
            (std::vector<std::string>{"device_instance=1001", "vendor_id=260",
                                      "firmware=1.2.3", "software=4.5",
                                      "device_name=K\xc3\xa4lteanlage",
                                      "description=Chiller plant", "location=Roof"}));
}

TEST(Bacnet, ForwardedAndRoutedNpdus) {
  bacnet_message m;
  ASSERT_EQ(parse_bacnet(forwarded_i_am, m), bacnet_error::none);
  EXPECT_TRUE(m.forwarded);
  EXPECT_EQ(m.forwarded_ip.to_string(), "192.168.1.5");
  EXPECT_EQ(m.forwarded_port, 47808);
  collecting_sink sink;
  proto::bacnet_facts(m, {}, sink);
  EXPECT_TRUE(sink.about(proto::subject::sender).empty());
  EXPECT_EQ(sink.about(proto::subject::ip),
            (std::vector<std::string>{"device_instance=1001", "vendor_id=36"}));
  EXPECT_EQ(sink.facts[0].ip.to_string(), "192.168.1.5");
  // From a router on behalf of network 5, MAC 0x0a: not the sender's identity.
  ASSERT_EQ(parse_bacnet(routed_i_am, m), bacnet_error::none);
  EXPECT_TRUE(m.has_snet);
  EXPECT_EQ(m.snet, 5);
  EXPECT_EQ(m.slen, 1);
  EXPECT_EQ(m.sadr[0], 0x0a);
  collecting_sink routed;
  proto::bacnet_facts(m, {}, routed);
  EXPECT_EQ(routed.about(proto::subject::sender),
            (std::vector<std::string>{"routed_from=network 5 address 0x0a"}));
  // Network layer messages and BVLL control carry no APDU.
  ASSERT_EQ(parse_bacnet(network_message, m), bacnet_error::none);
  EXPECT_TRUE(m.network_message);
  EXPECT_FALSE(m.has_apdu);
  ASSERT_EQ(parse_bacnet(bvlc_result, m), bacnet_error::none);
  EXPECT_FALSE(m.has_npdu);
}

TEST(Bacnet, SegmentedAcks) {
  bacnet_message m;
  // First segment (sequence 0): decoded.
  const auto& first = keep(bvlc(0x0a, cat({from_hex("01 00 3c 07 00 04 0c"), device_1001,
                                           from_hex("19 79 3e"), char_string(0, text_bytes("ACME")),
                                           {0x3f}})));
  ASSERT_EQ(parse_bacnet(first, m), bacnet_error::none);
  EXPECT_TRUE(m.segmented);
  EXPECT_EQ(m.vendor_name.view(), "ACME");
  // A later segment: no tag boundary to start from, nothing decoded.
  const auto& later = keep(bvlc(0x0a, from_hex("01 00 3c 07 01 04 0c 41 42 43")));
  ASSERT_EQ(parse_bacnet(later, m), bacnet_error::none);
  EXPECT_EQ(m.sequence_number, 1);
  EXPECT_EQ(m.device_properties, 0);
}

TEST(Bacnet, VendorTableMatchesTshark) {
  const auto vendors = load_vendor_table("bacnet_vendors.toml");
  ASSERT_EQ(vendors.count(5), 1u);
  if (!have_tshark()) {
    GTEST_SKIP() << "tshark absent";
  }
  const auto names = tshark_value_names("bacapp.vendor_identifier");
  for (const auto& [id, name] : vendors) {
    ASSERT_EQ(names.count(id), 1u) << id;
    EXPECT_EQ(name, names.at(id)) << id;
  }
}

// ---------------------------------------------------------------------------
// Agreement with tshark

// Property values from tshark's verbose text, per frame: "vendor-name: ISO
// 10646 UCS-2 'JCI'", "vendor-identifier: (Unsigned) 5", "Object Name: X".
std::map<std::size_t, std::map<std::string, std::string>> tshark_properties(
    const std::string& path) {
  std::map<std::size_t, std::map<std::string, std::string>> out;
  FILE* p = ::popen(("tshark -r '" + path + "' -O bacapp -V 2>/dev/null").c_str(), "r");
  if (p == nullptr) {
    return out;
  }
  std::string text;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
    text.append(buf, n);
  }
  ::pclose(p);
  std::size_t frame = 0;
  for (const auto& line : split(text, '\n')) {
    if (line.rfind("Frame ", 0) == 0) {
      frame = std::stoul(line.substr(6));
      continue;
    }
    const auto first = line.find_first_not_of(' ');
    if (first == std::string::npos) {
      continue;
    }
    const std::string body = line.substr(first);
    for (const char* prop : {"vendor-name", "model-name", "firmware-revision",
                             "application-software-version", "description", "location",
                             "object-name"}) {
      const std::string key = std::string(prop) + ": ";
      if (body.rfind(key, 0) == 0 && body.back() == '\'') {
        const auto q = body.find('\'');
        // The first instance: an RPM-ACK lists the Device object first.
        out[frame].emplace(prop, body.substr(q + 1, body.size() - q - 2));
      }
    }
    if (body.rfind("vendor-identifier: (Unsigned) ", 0) == 0) {
      out[frame]["vendor-identifier"] = body.substr(30);
    }
    if (body.rfind("Object Name: ", 0) == 0) {
      out[frame].emplace("object-name", body.substr(13));
    }
  }
  return out;
}

const std::vector<std::string> bacnet_fields = {
    "bvlc.function",    "bacnet.control",        "bacnet.dnet",
    "bacnet.snet",      "bacnet.hopc",           "bacapp.type",
    "bacapp.invoke_id", "bacapp.confirmed_service", "bacapp.unconfirmed_service",
    "bacapp.instance_number", "bacapp.vendor_identifier", "bacapp.who_is.low_limit",
    "bacapp.who_is.high_limit", "bvlc.fwd_ip"};

std::map<std::string, std::string> our_properties(const bacnet_message& m) {
  std::map<std::string, std::string> v;
  auto put = [&v](const char* name, const proto::bacnet_text& t) {
    if (t.present) {
      v[name] = std::string(t.view());
    }
  };
  put("vendor-name", m.vendor_name);
  put("model-name", m.model_name);
  put("firmware-revision", m.firmware_revision);
  put("application-software-version", m.application_software_version);
  put("description", m.description);
  put("location", m.location);
  put("object-name", m.object_name);
  if (m.has_vendor_id && !m.is_i_am) {
    v["vendor-identifier"] = u(m.vendor_id);
  }
  return v;
}

void compare_with_tshark(const bacnet_message& m, const std::vector<std::string>& t,
                         const std::map<std::string, std::string>& props, agreement& ag) {
  char h[8];
  std::snprintf(h, sizeof h, "0x%02x", m.bvlc_function);
  ag.eq(h, t[0], "BVLC function");
  if (m.has_npdu) {
    std::snprintf(h, sizeof h, "0x%02x", m.npdu_control);
    ag.eq(h, t[1], "NPDU control");
  }
  ag.eq(m.has_dnet ? u(m.dnet) : "", t[2], "DNET");
  ag.eq(m.has_snet ? u(m.snet) : "", t[3], "SNET");
  ag.eq(m.has_dnet ? u(m.hop_count) : "", t[4], "hop count");
  ag.eq(m.has_apdu ? u(m.pdu_type) : "", t[5], "APDU type");
  const bool has_invoke = m.has_apdu && m.pdu_type != proto::bacnet_pdu::unconfirmed_request;
  ag.eq(has_invoke ? u(m.invoke_id) : "", t[6], "invoke id");
  const bool confirmed = m.has_apdu && m.pdu_type != proto::bacnet_pdu::unconfirmed_request;
  ag.eq(confirmed ? u(m.service) : "", t[7], "confirmed service");
  ag.eq(m.has_apdu && !confirmed ? u(m.service) : "", t[8], "unconfirmed service");
  if (m.has_device_instance) {
    const auto all = values(t[9]);
    ag.check(std::find(all.begin(), all.end(), u(m.device_instance)) != all.end());
    EXPECT_NE(std::find(all.begin(), all.end(), u(m.device_instance)), all.end())
        << "device instance " << m.device_instance << " not in " << t[9];
  }
  if (m.is_i_am) {
    ag.eq(u(m.vendor_id), t[10], "I-Am vendor id");
  }
  ag.eq(m.has_who_is_range ? u(m.who_is_low) : "", t[11], "Who-Is low limit");
  ag.eq(m.has_who_is_range ? u(m.who_is_high) : "", t[12], "Who-Is high limit");
  ag.eq(m.forwarded ? m.forwarded_ip.to_string() : "", t[13], "forwarded address");
  const auto ours = our_properties(m);
  for (const auto& [k, v] : props) {
    const auto it = ours.find(k);
    ag.eq(it == ours.end() ? "<absent>" : it->second, v, k);
  }
  for (const auto& [k, v] : ours) {
    ag.check(props.count(k) == 1);
    EXPECT_EQ(props.count(k), 1u) << k << " decoded but not shown by tshark";
  }
}

std::string write_udp_pcap(const std::vector<std::vector<std::uint8_t>>& payloads) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("tapsense_bacnet_" + std::to_string(::getpid()) + ".pcap"))
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
    const std::size_t ip_len = 28 + p.size();
    auto fr = cat({from_hex("ffffffffffff 001122334455 0800 4500"), be16(static_cast<unsigned>(ip_len)),
                   from_hex("0000 0000 4011 0000 c0a80105 c0a801ff bac0 bac0"),
                   be16(static_cast<unsigned>(ip_len - 20)), from_hex("0000"), p});
    le32(0);
    le32(0);
    le32(static_cast<std::uint32_t>(fr.size()));
    le32(static_cast<std::uint32_t>(fr.size()));
    f.write(reinterpret_cast<const char*>(fr.data()), static_cast<std::streamsize>(fr.size()));
  }
  return path;
}

TEST(Bacnet, FixturesAgreeWithTshark) {
  if (!have_tshark()) {
    GTEST_SKIP() << "tshark absent";
  }
  std::vector<std::vector<std::uint8_t>> payloads;
  for (const auto* f : fixtures) {
    payloads.push_back(*f);
  }
  const std::string path = write_udp_pcap(payloads);
  const auto truth = tshark_fields(path, "bvlc", bacnet_fields);
  const auto props = tshark_properties(path);
  std::filesystem::remove(path);
  ASSERT_EQ(truth.size(), fixtures.size());
  agreement ag{"hand-built fixtures"};
  for (std::size_t i = 0; i < fixtures.size(); ++i) {
    SCOPED_TRACE("fixture " + u(i));
    bacnet_message m;
    parse_bacnet(*fixtures[i], m);
    const auto p = props.find(i + 1);
    const auto frame_props = p == props.end() ? std::map<std::string, std::string>{} : p->second;
    compare_with_tshark(m, truth.at(i + 1), frame_props, ag);
  }
  ag.report("bacnet");
  EXPECT_EQ(ag.agreed, ag.compared);
}

TEST(Bacnet, AgreesWithTsharkOnSharedCaptures) {
  const std::string root = TAPSENSE_SHARED_PCAPS;
  if (!std::filesystem::exists(root)) {
    GTEST_SKIP() << "shared pcaps absent";
  }
  if (!have_tshark()) {
    GTEST_SKIP() << "tshark absent";
  }
  const auto vendors = load_vendor_table("bacnet_vendors.toml");
  std::size_t total = 0;
  for (const std::string name : {"bacnet/bacnet_test.pcap", "qinq/q-in-q.pcap"}) {
    SCOPED_TRACE(name);
    const std::string path = root + "/" + name;
    const auto frames = read_pcap(path);
    const auto truth = tshark_fields(path, "bvlc", bacnet_fields);
    const auto props = tshark_properties(path);
    ASSERT_FALSE(truth.empty());
    agreement ag{name};
    std::vector<std::string> manifest_items;
    std::size_t seen = 0;
    for (const auto& fr : frames) {
      const bool port = fr.decoded && fr.rec.ip_proto == net::ipproto::udp &&
                        (fr.rec.src_port == proto::bacnet_port || fr.rec.dst_port == proto::bacnet_port);
      const auto row = truth.find(fr.number);
      if (!port) {
        EXPECT_EQ(row, truth.end()) << "frame " << fr.number;
        continue;
      }
      SCOPED_TRACE("frame " + u(fr.number));
      bacnet_message m;
      const auto e = parse_bacnet(fr.payload(), m);
      if (row == truth.end()) {
        // Empty datagrams to 47808 (a scanner's probes).
        ag.eq(proto::bacnet_error_name(e), "truncated_bvlc", "datagrams tshark does not decode");
        continue;
      }
      ++seen;
      EXPECT_EQ(e, bacnet_error::none) << proto::bacnet_error_name(e);
      const auto p = props.find(fr.number);
      compare_with_tshark(m, row->second,
                          p == props.end() ? std::map<std::string, std::string>{} : p->second, ag);
      collecting_sink sink;
      proto::bacnet_facts(m, fr.view(), sink, lookup(vendors));
      for (const auto& f : sink.facts) {
        if (f.field == "model") {
          manifest_items.push_back("model-name: ISO 10646 UCS-2 '" + f.value + "'");
        } else if (f.field == "firmware") {
          manifest_items.push_back("firmware-revision: ISO 10646 UCS-2 '" + f.value + "'");
        } else if (f.field == "vendor" && f.confidence == 90) {
          manifest_items.push_back("vendor-name: ISO 10646 UCS-2 '" + f.value + "'");
        } else if (f.field == "vendor_id") {
          manifest_items.push_back("vendor-identifier: (Unsigned) " + f.value);
        }
      }
    }
    EXPECT_EQ(seen, truth.size()) << "every datagram tshark calls BVLC was compared";
    const std::string manifest = manifest_truth(root, name);
    for (const auto& item : manifest_items) {
      ag.check(manifest.find(item) != std::string::npos);
      EXPECT_NE(manifest.find(item), std::string::npos) << item << " in " << manifest;
    }
    ag.report("bacnet");
    EXPECT_EQ(ag.agreed, ag.compared);
    total += ag.compared;
  }
  ASSERT_GT(total, 0u) << "nothing was compared";
}

}  // namespace
