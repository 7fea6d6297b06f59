// EtherNet/IP + CIP Identity parser: broken input first (every truncation,
// hostile encapsulation headers, CPF counts, CIP path sizes), then hand-built
// messages (ListIdentity, Get_Attributes_All / Get_Attribute_Single over
// SendRRData and SendUnitData, Unconnected_Send, UDP 2222 I/O) with their
// facts, then agreement with tshark and MANIFEST.tsv on the shared EtherNet/IP
// captures, fed one TCP segment payload at a time with per-connection state.
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
#include "common/proto/enip.h"
#include "tests/unit/test_plumbing.h"

using namespace tapsense;
using proto::enip_error;
using proto::enip_flow_state;
using proto::enip_identity_origin;
using proto::enip_segment;
using proto::parse_enip;

namespace {


std::vector<std::uint8_t> le16(unsigned v) {
  return {static_cast<std::uint8_t>(v & 0xff), static_cast<std::uint8_t>(v >> 8)};
}
std::vector<std::uint8_t> le32(std::uint32_t v) {
  return cat({le16(v & 0xffff), le16(v >> 16)});
}

const auto context_a = from_hex("11 22 33 44 55 66 77 88");
const auto context_b = from_hex("aa bb cc dd ee ff 00 01");

// Encapsulation header (24 bytes) + body.
std::vector<std::uint8_t> encap(unsigned command, std::uint32_t session,
                                const std::vector<std::uint8_t>& context,
                                const std::vector<std::uint8_t>& body) {
  return cat({le16(command), le16(static_cast<unsigned>(body.size())), le32(session), le32(0),
              context, le32(0), body});
}

std::vector<std::uint8_t> item(unsigned type, const std::vector<std::uint8_t>& data) {
  return cat({le16(type), le16(static_cast<unsigned>(data.size())), data});
}

// SendRRData body: interface handle, timeout, CPF (null address + unconnected data).
std::vector<std::uint8_t> rr(const std::vector<std::uint8_t>& cip) {
  return cat({le32(0), le16(10), le16(2), item(0x0000, {}), item(0x00b2, cip)});
}
// SendUnitData body: connected address + connected data with sequence count.
std::vector<std::uint8_t> unit(std::uint32_t conn, unsigned seq,
                               const std::vector<std::uint8_t>& cip) {
  return cat({le32(0), le16(0), le16(2), item(0x00a1, le32(conn)),
              item(0x00b1, cat({le16(seq), cip}))});
}

// Identity attributes 1-7 (+ state) as Get_Attributes_All returns them.
std::vector<std::uint8_t> identity(unsigned vendor, unsigned type, unsigned product,
                                   std::uint8_t major, std::uint8_t minor, std::uint32_t serial,
                                   std::string_view name) {
  return cat({le16(vendor), le16(type), le16(product), {major, minor}, le16(0x0030), le32(serial),
              {static_cast<std::uint8_t>(name.size())}, text_bytes(name), {0x03}});
}

const std::vector<std::uint8_t>& keep(std::vector<std::uint8_t> v) {
  static std::deque<std::vector<std::uint8_t>> alive;
  return alive.emplace_back(std::move(v));
}

const auto list_identity_request = encap(0x63, 0, context_a, {});
const auto list_identity_response = encap(
    0x63, 0, context_a,
    cat({le16(1),
         item(0x000c, cat({le16(1), from_hex("0002 af12 c0a80114 0000000000000000"),
                           identity(47, 14, 1234, 3, 7, 0x1a2b3c4d, "CJ2M-EIP21")}))}));
const auto register_session = encap(0x65, 0, context_a, from_hex("0100 0000"));
const auto gaa_request = encap(0x6f, 0x1002, context_b, rr(from_hex("01 02 20 01 24 01")));
const auto gaa_response =
    encap(0x6f, 0x1002, context_b,
          rr(cat({from_hex("81 00 00 00"),
                  identity(1, 14, 0x59, 20, 11, 0xc0ffee01, "1769-L33ER/A LOGIX5333ER")})));
const auto gas_request = encap(0x6f, 0x1002, context_a, rr(from_hex("0e 03 20 01 24 01 30 07")));
const auto gas_response = encap(
    0x6f, 0x1002, context_a,
    rr(cat({from_hex("8e 00 00 00 0b"), text_bytes("ENBT bridge")})));
// Unconnected_Send via the Connection Manager, carrying a Get_Attributes_All
// of Identity, routed to port 1 slot 0; the answer is the embedded reply.
const auto ucs_request = encap(
    0x6f, 0x1002, context_b,
    rr(from_hex("52 02 20 06 24 01 0a f0 0600 01 02 20 01 24 01 01 00 01 00")));
const auto ucs_response = encap(
    0x6f, 0x1002, context_b,
    rr(cat({from_hex("81 00 00 00"), identity(1, 12, 58, 4, 3, 0x00112233, "1756-EN2T/D")})));
const auto connected_request =
    encap(0x70, 0x1002, context_a, unit(0x80000001, 5, from_hex("0e 03 20 01 24 01 30 01")));
const auto connected_response =
    encap(0x70, 0x1002, context_a, unit(0x12345678, 5, from_hex("8e 00 00 00 5a 00")));

const std::vector<const std::vector<std::uint8_t>*> fixtures = {
    &list_identity_request, &list_identity_response, &register_session, &gaa_request,
    &gaa_response,          &gas_request,            &gas_response,     &ucs_request,
    &ucs_response,          &connected_request,      &connected_response};

std::vector<std::uint8_t> prefix(const std::vector<std::uint8_t>& v, std::size_t n) {
  return {v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n)};
}

proto::cip_vendor_lookup lookup(const std::map<std::uint32_t, std::string>& table) {
  return [&table](std::uint16_t id) -> std::string_view {
    const auto it = table.find(id);
    return it == table.end() ? std::string_view{} : it->second;
  };
}

// ---------------------------------------------------------------------------
// Broken input

TEST(Enip, EveryTruncationOfEveryFixtureIsSafe) {
  for (const auto* full : fixtures) {
    for (std::size_t len = 0; len < full->size(); ++len) {
      const auto cut = prefix(*full, len);
      enip_segment s;
      s.messages_len = 3;  // the parse must reset the output
      enip_flow_state st{};
      const auto e = parse_enip(cut, s, &st);
      EXPECT_EQ(s.messages_len, 0u) << len;
      EXPECT_EQ(s.incomplete, len != 0) << len;
      if (len != 0) {
        EXPECT_TRUE(e == enip_error::truncated_header || e == enip_error::truncated_message)
            << len << " " << proto::enip_error_name(e);
      }
    }
    enip_segment s;
    EXPECT_EQ(parse_enip(*full, s), enip_error::none) << proto::enip_error_name(s.error);
    EXPECT_EQ(s.messages_len, 1u);
  }
}

// Cuts inside the CIP data of a message whose encapsulation length was made to
// match: the identity decoders see every shortened body.
TEST(Enip, EveryShortenedBodyIsSafe) {
  for (const auto* full : {&list_identity_response, &gaa_response, &gas_response, &ucs_response,
                           &connected_response, &ucs_request}) {
    for (std::size_t len = 24; len < full->size(); ++len) {
      auto v = prefix(*full, len);
      v[2] = static_cast<std::uint8_t>((len - 24) & 0xff);
      v[3] = static_cast<std::uint8_t>((len - 24) >> 8);
      enip_segment s;
      enip_flow_state st{};
      parse_enip(gaa_request, s, &st);
      parse_enip(gas_request, s, &st);
      parse_enip(ucs_request, s, &st);
      parse_enip(connected_request, s, &st);
      parse_enip(v, s, &st);
      ASSERT_EQ(s.messages_len, 1u) << len;
      for (const auto& id : s.messages[0].identity_list()) {
        ASSERT_GE(id.product_name.data() == nullptr ? v.data() : reinterpret_cast<const std::uint8_t*>(id.product_name.data()), v.data());
        ASSERT_LE(id.product_name.size(), v.size());
      }
      collecting_sink sink;
      proto::enip_facts(s, {}, sink);
    }
  }
}

TEST(Enip, HostileEncapsulationHeaders) {
  enip_segment s;
  auto v = list_identity_response;
  v[0] = 0x99;  // unknown command
  EXPECT_EQ(parse_enip(v, s), enip_error::unknown_command);
  EXPECT_EQ(s.messages_len, 0u);
  v = list_identity_response;
  v[20] = 1;  // options must be zero
  EXPECT_EQ(parse_enip(v, s), enip_error::bad_options);
  v = list_identity_response;
  v[2] = 0xff;
  v[3] = 0xff;  // 65535: above what the specification allows
  EXPECT_EQ(parse_enip(v, s), enip_error::bad_length);
  v[2] = 0xff;
  v[3] = 0x00;  // 255: past the segment
  EXPECT_EQ(parse_enip(v, s), enip_error::truncated_message);
  EXPECT_TRUE(s.incomplete);
  // Two messages, the second broken: the first is kept.
  const auto& two = keep(cat({list_identity_response, from_hex("ffff"), prefix(register_session, 22)}));
  EXPECT_EQ(parse_enip(two, s), enip_error::unknown_command);
  ASSERT_EQ(s.messages_len, 1u);
  EXPECT_EQ(s.messages[0].identities_len, 1u);
}

TEST(Enip, HostileCountsAndPaths) {
  enip_segment s;
  // CPF item count 0xffff with one item present.
  auto body = cat({le16(0xffff), item(0x000c, from_hex("01"))});
  EXPECT_EQ(parse_enip(keep(encap(0x63, 0, context_a, body)), s), enip_error::bad_identity);
  EXPECT_EQ(s.messages[0].identities_len, 0u);
  body = cat({le16(0xffff)});
  EXPECT_EQ(parse_enip(keep(encap(0x63, 0, context_a, body)), s), enip_error::bad_cpf);
  // An item length past the message.
  body = cat({le16(1), le16(0x000c), le16(0x0100), from_hex("0100")});
  EXPECT_EQ(parse_enip(keep(encap(0x63, 0, context_a, body)), s), enip_error::bad_cpf);
  // A product name length past the item: the fixed fields are kept.
  auto id = identity(1, 12, 58, 4, 3, 1, "ABC");
  id[14] = 200;
  body = cat({le16(1), item(0x000c, cat({le16(1), std::vector<std::uint8_t>(16, 0), id}))});
  EXPECT_EQ(parse_enip(keep(encap(0x63, 0, context_a, body)), s), enip_error::bad_identity);
  ASSERT_EQ(s.messages[0].identities_len, 1u);
  EXPECT_EQ(s.messages[0].identities[0].product_code, 58);
  EXPECT_EQ(s.messages[0].identities[0].fields & proto::enip_field::product_name, 0);
  // A request path of 255 words in a 6-byte message.
  enip_flow_state st{};
  EXPECT_EQ(parse_enip(keep(encap(0x6f, 1, context_a, rr(from_hex("01 ff 20 01 24 01")))), s, &st),
            enip_error::bad_cip);
  EXPECT_FALSE(st.pending[0].valid);
  // A response whose additional status size runs past the message.
  EXPECT_EQ(parse_enip(keep(encap(0x6f, 1, context_a, rr(from_hex("81 00 00 7f 00")))), s, &st),
            enip_error::bad_cip);
  // Unconnected_Send whose embedded size runs past the data.
  EXPECT_EQ(parse_enip(keep(encap(0x6f, 1, context_a, rr(from_hex("52 02 20 06 24 01 0a f0 ff00 01 02")))), s,
                       &st),
            enip_error::bad_cip);
  // A path made of odd segments is walked without reading past it.
  EXPECT_EQ(parse_enip(keep(encap(0x6f, 1, context_a,
                                  rr(from_hex("01 04 1f 05 ff ff 91 03 61 62 63 00")))),
                       s, &st),
            enip_error::none);
}

TEST(Enip, RandomMutationsStayInBounds) {
  std::uint32_t state = 31337;
  auto rnd = [&state](std::uint32_t n) {
    state = state * 1664525u + 1013904223u;
    return (state >> 8) % n;
  };
  enip_flow_state st{};
  for (int round = 0; round < 30000; ++round) {
    auto v = *fixtures[rnd(static_cast<std::uint32_t>(fixtures.size()))];
    for (std::uint32_t k = 0, n = 1 + rnd(4); k < n; ++k) {
      // Mostly past the encapsulation header, where the counts and paths are.
      const std::size_t at = rnd(4) == 0 || v.size() <= 24
                                ? rnd(static_cast<std::uint32_t>(std::min<std::size_t>(24, v.size())))
                                : 24 + rnd(static_cast<std::uint32_t>(v.size() - 24));
      v[at] = static_cast<std::uint8_t>(rnd(256));
    }
    if (rnd(2) == 0) {
      v.resize(rnd(static_cast<std::uint32_t>(v.size() + 1)));
    }
    v.shrink_to_fit();
    enip_segment s;
    parse_enip(v, s, rnd(2) == 0 ? &st : nullptr);
    const auto* b = reinterpret_cast<const char*>(v.data());
    for (const auto& m : s.message_list()) {
      for (const auto& id : m.identity_list()) {
        if (!id.product_name.empty()) {
          ASSERT_GE(id.product_name.data(), b);
          ASSERT_LE(id.product_name.data() + id.product_name.size(), b + v.size());
        }
      }
    }
    collecting_sink sink;
    proto::enip_facts(s, {}, sink);
  }
}

// ---------------------------------------------------------------------------
// Fixtures

TEST(Enip, ListIdentityResponseAndFacts) {
  enip_segment s;
  ASSERT_EQ(parse_enip(list_identity_response, s), enip_error::none);
  const auto& m = s.messages[0];
  EXPECT_EQ(m.command, proto::enip_command::list_identity);
  EXPECT_EQ(m.item_count, 1);
  ASSERT_EQ(m.identities_len, 1u);
  const auto& id = m.identities[0];
  EXPECT_EQ(id.origin, enip_identity_origin::list_identity);
  EXPECT_EQ(id.encapsulation_version, 1);
  EXPECT_EQ(id.sin_family, 2);
  EXPECT_EQ(id.sin_port, 44818);
  EXPECT_EQ(id.sin_addr.to_string(), "192.168.1.20");
  EXPECT_EQ(id.vendor_id, 47);
  EXPECT_EQ(id.device_type, 14);
  EXPECT_EQ(id.product_code, 1234);
  EXPECT_EQ(id.revision_major, 3);
  EXPECT_EQ(id.revision_minor, 7);
  EXPECT_EQ(id.status, 0x30);
  EXPECT_EQ(id.serial, 0x1a2b3c4du);
  EXPECT_EQ(id.product_name, "CJ2M-EIP21");
  EXPECT_EQ(id.state, 3);
  EXPECT_EQ(id.fields, 0xff);
  const auto vendors = load_vendor_table("cip_vendors.toml");
  proto::packet_view pkt;
  pkt.has_ip = true;
  pkt.src_ip = *net::ip_address::parse("10.0.0.7");  // behind NAT: differs from sin_addr
  pkt.src_mac = *net::mac_address::parse("00:00:0a:11:22:33");
  collecting_sink sink;
  proto::enip_facts(s, pkt, sink, lookup(vendors));
  EXPECT_EQ(sink.about(proto::subject::sender),
            (std::vector<std::string>{
                "vendor_id=47", "vendor=Omron Corporation", "device_type_id=14",
                "cip_device_type=Programmable Logic Controller", "product_code=1234",
                "revision=3.07", "firmware=3.07", "serial=0x1a2b3c4d", "model=CJ2M-EIP21",
                "advertised_ip=192.168.1.20"}));
  EXPECT_EQ(sink.about(proto::subject::ip), (std::vector<std::string>{"mac=00:00:0a:11:22:33"}));
  for (const auto& f : sink.facts) {
    EXPECT_EQ(f.source.str(), "enip");
    if (f.field == "vendor") {
      EXPECT_EQ(f.confidence, 80);
    } else if (f.about == proto::subject::ip) {
      EXPECT_EQ(f.ip.to_string(), "192.168.1.20");
      EXPECT_EQ(f.confidence, 70);
    } else if (f.field == "advertised_ip") {
      EXPECT_EQ(f.confidence, 60);
    } else {
      EXPECT_EQ(f.confidence, 90);
    }
  }
  // Requests carry no identity.
  ASSERT_EQ(parse_enip(list_identity_request, s), enip_error::none);
  EXPECT_EQ(s.messages[0].identities_len, 0u);
}

TEST(Enip, GetAttributesAllPairedByContext) {
  enip_flow_state st{};
  enip_segment s;
  ASSERT_EQ(parse_enip(gaa_request, s, &st), enip_error::none);
  EXPECT_TRUE(s.messages[0].has_cip);
  EXPECT_FALSE(s.messages[0].response);
  EXPECT_EQ(s.messages[0].service, proto::cip_service::get_attributes_all);
  EXPECT_EQ(s.messages[0].class_id, 1);
  EXPECT_EQ(s.messages[0].instance_id, 1u);
  // Another request in between must not confuse the pairing.
  ASSERT_EQ(parse_enip(gas_request, s, &st), enip_error::none);
  ASSERT_EQ(parse_enip(gaa_response, s, &st), enip_error::none);
  const auto& m = s.messages[0];
  EXPECT_TRUE(m.response);
  EXPECT_TRUE(m.paired);
  EXPECT_EQ(m.class_id, 1);
  ASSERT_EQ(m.identities_len, 1u);
  EXPECT_EQ(m.identities[0].origin, enip_identity_origin::get_attributes_all);
  EXPECT_EQ(m.identities[0].product_name, "1769-L33ER/A LOGIX5333ER");
  EXPECT_EQ(m.identities[0].serial, 0xc0ffee01u);
  EXPECT_FALSE(m.identities[0].has_socket);
  collecting_sink sink;
  proto::enip_facts(s, {}, sink);
  EXPECT_EQ(sink.value("revision"), "20.11");
  EXPECT_EQ(sink.value("cip_device_type"), "Programmable Logic Controller");
  EXPECT_EQ(sink.about(proto::subject::ip).size(), 0u);
  // Get_Attribute_Single of attribute 7 (product name).
  ASSERT_EQ(parse_enip(gas_response, s, &st), enip_error::none);
  ASSERT_EQ(s.messages[0].identities_len, 1u);
  EXPECT_EQ(s.messages[0].identities[0].origin, enip_identity_origin::get_attribute_single);
  EXPECT_EQ(s.messages[0].identities[0].fields, proto::enip_field::product_name);
  collecting_sink single;
  proto::enip_facts(s, {}, single);
  EXPECT_EQ(single.about(proto::subject::sender),
            (std::vector<std::string>{"model=ENBT bridge"}));
  // A second answer with the same context finds no request: a GAS response
  // cannot be told from any other class's, so it yields nothing.
  ASSERT_EQ(parse_enip(gas_response, s, &st), enip_error::none);
  EXPECT_FALSE(s.messages[0].paired);
  EXPECT_EQ(s.messages[0].identities_len, 0u);
}

TEST(Enip, UnpairedGetAttributesAllMatchedByLayout) {
  enip_segment s;
  ASSERT_EQ(parse_enip(gaa_response, s), enip_error::none);
  ASSERT_EQ(s.messages[0].identities_len, 1u);
  EXPECT_EQ(s.messages[0].identities[0].origin, enip_identity_origin::get_attributes_all_layout);
  collecting_sink sink;
  proto::enip_facts(s, {}, sink);
  EXPECT_EQ(sink.facts[0].confidence, 70);
  // Paired with a request for another class: not the Identity object.
  enip_flow_state st{};
  const auto& tcpip_request = keep(encap(0x6f, 1, context_b, rr(from_hex("01 02 20 f5 24 01"))));
  ASSERT_EQ(parse_enip(tcpip_request, s, &st), enip_error::none);
  ASSERT_EQ(parse_enip(gaa_response, s, &st), enip_error::none);
  EXPECT_TRUE(s.messages[0].paired);
  EXPECT_EQ(s.messages[0].identities_len, 0u);
  // Data that is not Identity-shaped (unprintable name, trailing bytes).
  auto id = identity(1, 12, 58, 4, 3, 1, "AB");
  id[15] = 0x01;
  ASSERT_EQ(parse_enip(keep(encap(0x6f, 1, context_b, rr(cat({from_hex("81 00 00 00"), id})))), s),
            enip_error::none);
  EXPECT_EQ(s.messages[0].identities_len, 0u);
  id = cat({identity(1, 12, 58, 4, 3, 1, "AB"), from_hex("00 00 00 00 00")});
  ASSERT_EQ(parse_enip(keep(encap(0x6f, 1, context_b, rr(cat({from_hex("81 00 00 00"), id})))), s),
            enip_error::none);
  EXPECT_EQ(s.messages[0].identities_len, 0u);
}

TEST(Enip, UnconnectedSendIsLookedThrough) {
  enip_flow_state st{};
  enip_segment s;
  ASSERT_EQ(parse_enip(ucs_request, s, &st), enip_error::none);
  EXPECT_EQ(s.messages[0].service, proto::cip_service::get_attributes_all);
  EXPECT_EQ(s.messages[0].class_id, 1);
  ASSERT_EQ(parse_enip(ucs_response, s, &st), enip_error::none);
  ASSERT_EQ(s.messages[0].identities_len, 1u);
  EXPECT_EQ(s.messages[0].identities[0].origin, enip_identity_origin::get_attributes_all);
  EXPECT_EQ(s.messages[0].identities[0].product_name, "1756-EN2T/D");
}

TEST(Enip, ConnectedMessagingPairsBySequenceCount) {
  enip_flow_state st{};
  enip_segment s;
  ASSERT_EQ(parse_enip(connected_request, s, &st), enip_error::none);
  EXPECT_TRUE(s.messages[0].connected);
  EXPECT_EQ(s.messages[0].sequence, 5);
  EXPECT_EQ(s.messages[0].attribute_id, 1);
  ASSERT_EQ(parse_enip(connected_response, s, &st), enip_error::none);
  ASSERT_EQ(s.messages[0].identities_len, 1u);
  EXPECT_EQ(s.messages[0].identities[0].fields, proto::enip_field::vendor);
  EXPECT_EQ(s.messages[0].identities[0].vendor_id, 90);
  const auto vendors = load_vendor_table("cip_vendors.toml");
  collecting_sink sink;
  proto::enip_facts(s, {}, sink, lookup(vendors));
  EXPECT_EQ(sink.about(proto::subject::sender),
            (std::vector<std::string>{"vendor_id=90", "vendor=HMS Industrial Networks AB"}));
}

TEST(Enip, SeveralMessagesInOneSegment) {
  enip_flow_state st{};
  enip_segment s;
  ASSERT_EQ(parse_enip(cat({register_session, gaa_request}), s, &st), enip_error::none);
  ASSERT_EQ(s.messages_len, 2u);
  EXPECT_EQ(s.messages[0].command, proto::enip_command::register_session);
  EXPECT_EQ(parse_enip(cat({gaa_response, prefix(gas_response, 30)}), s, &st),
            enip_error::truncated_message);
  EXPECT_EQ(s.messages_len, 1u);
  EXPECT_TRUE(s.incomplete);
  EXPECT_EQ(s.consumed, gaa_response.size());
}

TEST(Enip, CyclicIoOnPort2222) {
  const auto io = cat({le16(2), le16(0x8002), le16(8), le32(0x00010203), le32(77), le16(0x00b1),
                       le16(6), from_hex("0100 aabbccdd")});
  const auto m = proto::parse_enip_io(io);
  EXPECT_TRUE(m.valid);
  EXPECT_EQ(m.connection_id, 0x00010203u);
  EXPECT_EQ(m.sequence, 77u);
  EXPECT_EQ(m.data_length, 6);
  for (std::size_t len = 0; len < io.size(); ++len) {
    EXPECT_FALSE(proto::parse_enip_io(prefix(io, len)).valid) << len;
  }
}

TEST(Enip, DeviceTypeNamesMatchTshark) {
  if (!have_tshark()) {
    GTEST_SKIP() << "tshark absent";
  }
  const auto names = tshark_value_names("cip.id.device_type");
  ASSERT_FALSE(names.empty());
  for (const auto& [id, name] : names) {
    EXPECT_EQ(proto::cip_device_type_name(static_cast<std::uint16_t>(id)), name) << id;
  }
  EXPECT_EQ(proto::cip_device_type_name(0x1234), "");
}

TEST(Enip, VendorTableMatchesTshark) {
  const auto vendors = load_vendor_table("cip_vendors.toml");
  ASSERT_FALSE(vendors.empty());
  EXPECT_EQ(vendors.at(1), "Rockwell Automation/Allen-Bradley");
  if (!have_tshark()) {
    GTEST_SKIP() << "tshark absent";
  }
  const auto names = tshark_value_names("cip.id.vendor_id");
  for (const auto& [id, name] : vendors) {
    ASSERT_EQ(names.count(id), 1u) << id;
    EXPECT_EQ(name, names.at(id)) << id;
  }
}

// ---------------------------------------------------------------------------
// Agreement with tshark on the shared captures

TEST(Enip, AgreesWithTsharkOnSharedCaptures) {
  const std::string root = TAPSENSE_SHARED_PCAPS;
  if (!std::filesystem::exists(root)) {
    GTEST_SKIP() << "shared pcaps absent";
  }
  if (!have_tshark()) {
    GTEST_SKIP() << "tshark absent";
  }
  const auto vendors = load_vendor_table("cip_vendors.toml");
  std::size_t total = 0;
  for (const std::string name :
       {"enip/enip_test.pcap", "bench/EIP-ChangePortConfigurationAttempt.pcap"}) {
    SCOPED_TRACE(name);
    const std::string path = root + "/" + name;
    const auto frames = read_pcap(path);
    const auto truth = tshark_fields(
        path, "enip",
        {"enip.command", "enip.length", "enip.session", "enip.lir.vendor", "enip.lir.devtype",
         "enip.lir.prodcode", "enip.lir.revision", "enip.lir.serial", "enip.lir.name",
         "enip.lir.state", "enip.sinaddr", "cip.id.vendor_id", "cip.id.device_type",
         "cip.id.product_code", "cip.id.major_rev", "cip.id.minor_rev", "cip.id.serial_number",
         "cip.id.product_name", "cip.service"});
    ASSERT_FALSE(truth.empty());
    agreement ag{name};
    std::map<std::string, enip_flow_state> flows;  // per TCP connection
    std::vector<std::string> manifest_items;
    std::size_t seen = 0;
    for (const auto& fr : frames) {
      const bool port = fr.decoded && (fr.rec.src_port == proto::enip_port ||
                                       fr.rec.dst_port == proto::enip_port);
      if (!port || fr.payload().empty()) {
        continue;
      }
      SCOPED_TRACE("frame " + u(fr.number));
      const auto a = fr.rec.src_ip.to_string() + ":" + u(fr.rec.src_port);
      const auto b = fr.rec.dst_ip.to_string() + ":" + u(fr.rec.dst_port);
      auto& st = flows[std::min(a, b) + "-" + std::max(a, b)];
      enip_segment s;
      parse_enip(fr.payload(), s, fr.rec.ip_proto == net::ipproto::tcp ? &st : nullptr);
      // The same without pairing: the layout rule must find the same
      // identities and no others.
      enip_segment unpaired;
      parse_enip(fr.payload(), unpaired);
      const auto row = truth.find(fr.number);
      if (row == truth.end()) {
        ag.eq(u(s.messages_len), "0", "messages where tshark sees no ENIP");
        continue;
      }
      ++seen;
      const auto& t = row->second;
      std::string cmd, len, session, lv, ld, lp, lr, ls, ln, lst, lsa, cv, cd, cp, cmaj, cmin,
          cser, cname, svc;
      auto add = [](std::string& to, const std::string& v) {
        to += (to.empty() ? "" : std::string(1, agg)) + v;
      };
      char h[16];
      for (const auto& m : s.message_list()) {
        std::snprintf(h, sizeof h, "0x%04x", m.command);
        add(cmd, h);
        add(len, u(m.length));
        std::snprintf(h, sizeof h, "0x%08x", m.session);
        add(session, h);
        if (m.has_cip) {
          std::snprintf(h, sizeof h, "0x%02x", m.service | (m.response ? 0x80 : 0));
          add(svc, h);
        }
        for (const auto& id : m.identity_list()) {
          if (id.origin == enip_identity_origin::list_identity) {
            std::snprintf(h, sizeof h, "0x%04x", id.vendor_id);
            add(lv, h);
            add(ld, u(id.device_type));
            add(lp, u(id.product_code));
            add(lr, u((id.revision_major << 8) | id.revision_minor));
            std::snprintf(h, sizeof h, "0x%08x", id.serial);
            add(ls, h);
            add(ln, std::string(id.product_name));
            std::snprintf(h, sizeof h, "0x%02x", id.state);
            add(lst, h);
            add(lsa, id.sin_addr.to_string());
          } else {
            std::snprintf(h, sizeof h, "0x%04x", id.vendor_id);
            add(cv, h);
            std::snprintf(h, sizeof h, "0x%04x", id.device_type);
            add(cd, h);
            add(cp, u(id.product_code));
            add(cmaj, u(id.revision_major));
            add(cmin, u(id.revision_minor));
            std::snprintf(h, sizeof h, "0x%08x", id.serial);
            add(cser, h);
            add(cname, std::string(id.product_name));
          }
        }
      }
      ag.eq(cmd, t[0], "command");
      ag.eq(len, t[1], "length");
      ag.eq(session, t[2], "session");
      ag.eq(lv, t[3], "ListIdentity vendor");
      ag.eq(ld, t[4], "ListIdentity device type");
      ag.eq(lp, t[5], "ListIdentity product code");
      ag.eq(lr, t[6], "ListIdentity revision");
      ag.eq(ls, t[7], "ListIdentity serial");
      ag.eq(ln, t[8], "ListIdentity product name");
      ag.eq(lst, t[9], "ListIdentity state");
      if (!lsa.empty()) {
        ag.eq(lsa, t[10], "ListIdentity socket address");
      }
      ag.eq(cv, t[11], "Identity vendor");
      ag.eq(cd, t[12], "Identity device type");
      ag.eq(cp, t[13], "Identity product code");
      ag.eq(cmaj, t[14], "Identity major revision");
      ag.eq(cmin, t[15], "Identity minor revision");
      ag.eq(cser, t[16], "Identity serial");
      ag.eq(cname, t[17], "Identity product name");
      ag.eq(svc, t[18], "CIP service");
      // Unpaired: the same identities, by layout.
      std::size_t ids = 0;
      std::size_t unpaired_ids = 0;
      for (const auto& m : s.message_list()) {
        ids += m.identities_len;
      }
      for (const auto& m : unpaired.message_list()) {
        unpaired_ids += m.identities_len;
      }
      ag.eq(u(unpaired_ids), u(ids), "identities found without pairing");
      // Facts, held against MANIFEST.tsv: "ListIdentity: ip=10.1.1.164
      // mac=00:19:07:24:3c:ca vendor=0x0001 devtype=12 prod=58
      // serial=0x00524d8e name=1756-ENBT/A".
      collecting_sink sink;
      proto::enip_facts(s, fr.view(), sink, lookup(vendors));
      if (ids != 0) {
        char vid[8];
        std::snprintf(vid, sizeof vid, "0x%04x", static_cast<unsigned>(std::stoul(sink.value("vendor_id"))));
        manifest_items.push_back("mac=" + fr.rec.src_mac.to_string());
        manifest_items.push_back("vendor=" + std::string(vid));
        manifest_items.push_back("prod=" + sink.value("product_code"));
        manifest_items.push_back("serial=" + sink.value("serial"));
        manifest_items.push_back("name=" + sink.value("model"));
        ag.eq(sink.value("vendor"), "Rockwell Automation/Allen-Bradley", "vendor from the data file");
        ag.eq(sink.value("cip_device_type"), "Communications Adapter", "device type name");
        const auto ip_facts = sink.about(proto::subject::ip);
        if (!ip_facts.empty()) {
          ag.eq(ip_facts[0], "mac=" + fr.rec.src_mac.to_string(), "ip -> mac");
          manifest_items.push_back("ip=" + sink.facts.back().ip.to_string());
        }
      }
    }
    EXPECT_EQ(seen, truth.size()) << "every packet tshark calls ENIP was compared";
    const std::string manifest = manifest_truth(root, name);
    ASSERT_FALSE(manifest_items.empty());
    for (const auto& item : manifest_items) {
      ag.check(manifest.find(item) != std::string::npos);
      EXPECT_NE(manifest.find(item), std::string::npos) << item << " in " << manifest;
    }
    ag.report("enip");
    EXPECT_EQ(ag.agreed, ag.compared);
    total += ag.compared;
  }
  ASSERT_GT(total, 0u) << "nothing was compared";
}

}  // namespace
