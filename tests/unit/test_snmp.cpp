// SNMP parser (common/proto/snmp.h): every truncation first, then the
// messages an agent sends (GetResponse with the system group, v1 and v2
// traps), then what is refused (BER forms SNMP forbids) and the facts.
// Messages are built with BER here, byte for byte as RFC 3416/X.690 lay
// them out; the GetResponse is checked against tshark's reading of the same
// bytes in the e2e path (tests/e2e/test_infrastructure_assets.py covers the
// pipeline; here the parser alone).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/proto/snmp.h"

using namespace tapsense;
using namespace tapsense::proto;

namespace {

using bytes = std::vector<std::uint8_t>;

bytes tlv(std::uint8_t tag, const bytes& v) {
  bytes out{tag};
  if (v.size() < 0x80) {
    out.push_back(static_cast<std::uint8_t>(v.size()));
  } else if (v.size() < 0x100) {
    out.push_back(0x81);
    out.push_back(static_cast<std::uint8_t>(v.size()));
  } else {
    out.push_back(0x82);
    out.push_back(static_cast<std::uint8_t>(v.size() >> 8));
    out.push_back(static_cast<std::uint8_t>(v.size()));
  }
  out.insert(out.end(), v.begin(), v.end());
  return out;
}
bytes cat(std::initializer_list<bytes> parts) {
  bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
bytes str(const std::string& s) { return tlv(0x04, bytes(s.begin(), s.end())); }
bytes integer(std::uint8_t v) { return tlv(0x02, {v}); }
// OID content octets from arcs (X.690 8.19).
bytes oid(std::initializer_list<std::uint32_t> arcs) {
  std::vector<std::uint32_t> a(arcs);
  bytes v{static_cast<std::uint8_t>(a[0] * 40 + a[1])};
  for (std::size_t i = 2; i < a.size(); ++i) {
    bytes sub;
    std::uint32_t x = a[i];
    sub.insert(sub.begin(), static_cast<std::uint8_t>(x & 0x7f));
    while ((x >>= 7) != 0) sub.insert(sub.begin(), static_cast<std::uint8_t>(0x80 | (x & 0x7f)));
    v.insert(v.end(), sub.begin(), sub.end());
  }
  return tlv(0x06, v);
}
bytes varbind(const bytes& name, const bytes& value) { return tlv(0x30, cat({name, value})); }

const std::string descr =
    "Cisco IOS Software, C3560 Software (C3560-IPSERVICESK9-M), Version 12.2(55)SE5, RELEASE SOFTWARE (fc1)";

// GetResponse (v2c, community "public") with sysDescr, sysObjectID, sysName.
bytes response(std::uint8_t version = 1) {
  const bytes vbs = tlv(0x30, cat({varbind(oid({1, 3, 6, 1, 2, 1, 1, 1, 0}), str(descr)),
                                   varbind(oid({1, 3, 6, 1, 2, 1, 1, 2, 0}), oid({1, 3, 6, 1, 4, 1, 9, 1, 1227})),
                                   varbind(oid({1, 3, 6, 1, 2, 1, 1, 5, 0}), str("sw-floor2"))}));
  const bytes pdu = tlv(0xa2, cat({tlv(0x02, {0x12, 0x34}), integer(0), integer(0), vbs}));
  return tlv(0x30, cat({integer(version), str("public"), pdu}));
}

// SNMPv1 Trap-PDU: enterprise, agent-addr, generic coldStart, specific 0, time-stamp, no varbinds.
bytes trap_v1() {
  const bytes pdu = tlv(0xa4, cat({oid({1, 3, 6, 1, 4, 1, 2636, 1, 1, 1, 2, 31}), tlv(0x40, {10, 1, 2, 3}), integer(0),
                                   integer(0), tlv(0x43, {0x01, 0x02}), tlv(0x30, {})}));
  return tlv(0x30, cat({integer(0), str("public"), pdu}));
}

struct collect : fact_sink {
  std::vector<fact> v;
  void add(fact f) override { v.push_back(std::move(f)); }
  std::vector<std::string> get(std::string_view field) const {
    std::vector<std::string> out;
    for (const auto& f : v) {
      if (f.field == field) out.push_back(f.value);
    }
    return out;
  }
};

TEST(Snmp, EveryTruncationIsSafeAndNamed) {
  for (const bytes& full : {response(), trap_v1()}) {
    for (std::size_t n = 0; n < full.size(); ++n) {
      snmp_message m;
      const auto e = parse_snmp({full.data(), n}, m);
      EXPECT_NE(e, snmp_error::none) << "cut at " << n;
      EXPECT_TRUE(e == snmp_error::truncated || e == snmp_error::not_snmp) << "cut at " << n << ": " << int(e);
      collect c;
      snmp_facts(m, {}, c);  // whatever was read is safe to report
    }
  }
}

TEST(Snmp, ResponseGivesTheSystemGroup) {
  const bytes b = response();
  snmp_message m;
  ASSERT_EQ(parse_snmp({b.data(), b.size()}, m), snmp_error::none);
  EXPECT_EQ(m.version, 1);
  EXPECT_EQ(m.pdu_type, snmp_pdu::response);
  EXPECT_EQ(m.varbinds, 3);
  EXPECT_EQ(m.sys_descr, descr);
  EXPECT_EQ(m.sys_name, "sw-floor2");
  EXPECT_EQ(m.sys_object_id.text(), "1.3.6.1.4.1.9.1.1227");
  EXPECT_EQ(m.sys_object_id.enterprise(), 9);
  collect c;
  snmp_facts(m, {}, c);
  EXPECT_EQ(c.get("system_description"), std::vector<std::string>{descr});
  EXPECT_EQ(c.get("system_name"), std::vector<std::string>{"sw-floor2"});
  EXPECT_EQ(c.get("hostname"), std::vector<std::string>{"sw-floor2"});
  EXPECT_EQ(c.get("sys_object_id"), std::vector<std::string>{"1.3.6.1.4.1.9.1.1227"});
  EXPECT_EQ(c.get("enterprise"), std::vector<std::string>{"9"});
  EXPECT_EQ(c.get("snmp_version"), std::vector<std::string>{"2c"});
  for (const auto& f : c.v) {
    EXPECT_EQ(f.source.str(), "snmp");
    EXPECT_NE(f.value, "public") << "the community is a password: never a fact";
  }
}

TEST(Snmp, TrapV1EnterpriseIsTheSendersObjectId) {
  const bytes b = trap_v1();
  snmp_message m;
  ASSERT_EQ(parse_snmp({b.data(), b.size()}, m), snmp_error::none);
  EXPECT_EQ(m.pdu_type, snmp_pdu::trap_v1);
  EXPECT_EQ(m.trap_enterprise.text(), "1.3.6.1.4.1.2636.1.1.1.2.31");
  ASSERT_TRUE(m.has_agent_addr);
  EXPECT_EQ(m.agent_addr.to_string(), "10.1.2.3");
  collect c;
  snmp_facts(m, {}, c);
  EXPECT_EQ(c.get("enterprise"), std::vector<std::string>{"2636"});
  EXPECT_EQ(c.get("snmp_version"), std::vector<std::string>{"1"});
}

TEST(Snmp, TrapV2CarriesTheSystemGroupInItsVarbinds) {
  const bytes vbs = tlv(0x30, cat({varbind(oid({1, 3, 6, 1, 2, 1, 1, 3, 0}), tlv(0x43, {0x10})),
                                   varbind(oid({1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0}), oid({1, 3, 6, 1, 6, 3, 1, 1, 5, 1})),
                                   varbind(oid({1, 3, 6, 1, 2, 1, 1, 5, 0}), str("ups-1"))}));
  const bytes b = tlv(0x30, cat({integer(1), str("private"), tlv(0xa7, cat({integer(7), integer(0), integer(0), vbs}))}));
  snmp_message m;
  ASSERT_EQ(parse_snmp({b.data(), b.size()}, m), snmp_error::none);
  EXPECT_EQ(m.sys_name, "ups-1");
  EXPECT_FALSE(m.sys_object_id.present);
}

TEST(Snmp, RequestsSayNothingAboutTheSender) {
  // A manager's GetRequest: the same OIDs with NULL values.
  const bytes vbs = tlv(0x30, cat({varbind(oid({1, 3, 6, 1, 2, 1, 1, 1, 0}), tlv(0x05, {}))}));
  const bytes b = tlv(0x30, cat({integer(1), str("public"), tlv(0xa0, cat({integer(1), integer(0), integer(0), vbs}))}));
  snmp_message m;
  ASSERT_EQ(parse_snmp({b.data(), b.size()}, m), snmp_error::none);
  EXPECT_EQ(m.sys_descr.data(), nullptr);
  collect c;
  snmp_facts(m, {}, c);
  EXPECT_TRUE(c.v.empty());
}

// SNMPv3 with USM: Cisco's engine ID format (RFC 3411 5: 0x80000009 = PEN 9
// with the top bit, format 3 = MAC) in the security parameters, an
// encrypted scoped PDU after them.
bytes v3(const bytes& engine) {
  const bytes usm = tlv(0x30, cat({tlv(0x04, engine), integer(5), tlv(0x02, {0x01, 0x00}), str("admin"),
                                   tlv(0x04, bytes(12, 0xaa)), tlv(0x04, bytes(8, 0xbb))}));
  return tlv(0x30, cat({integer(3), tlv(0x30, cat({integer(1), tlv(0x02, {0x05, 0xdc}), tlv(0x04, {0x03}), integer(3)})),
                        tlv(0x04, usm), tlv(0x04, bytes(40, 0xcc))}));
}
const bytes cisco_engine = {0x80, 0x00, 0x00, 0x09, 0x03, 0x00, 0x1b, 0x54, 0xc2, 0x11, 0x01};

TEST(Snmp, V3GivesTheAuthoritativeEngine) {
  const bytes b = v3(cisco_engine);
  snmp_message m;
  ASSERT_EQ(parse_snmp({b.data(), b.size()}, m), snmp_error::none);
  EXPECT_EQ(m.version, 3);
  EXPECT_EQ(m.pdu_type, 0) << "the scoped PDU is not read";
  EXPECT_EQ(bytes(m.engine_id.begin(), m.engine_id.end()), cisco_engine);
  EXPECT_EQ(m.engine_enterprise(), 9);
  for (std::size_t n = 0; n < b.size(); ++n) {
    snmp_message cut;
    EXPECT_EQ(parse_snmp({b.data(), n}, cut), n == 0 ? snmp_error::not_snmp : snmp_error::truncated) << n;
  }
  // From the agent (port 161): about the sender; a request to 161: about the receiver.
  packet_view from_agent;
  from_agent.src_port = 161;
  from_agent.dst_port = 50000;
  collect c;
  snmp_facts(m, from_agent, c);
  EXPECT_EQ(c.get("engine_id"), std::vector<std::string>{"8000000903001b54c21101"});
  EXPECT_EQ(c.get("enterprise"), std::vector<std::string>{"9"});
  EXPECT_EQ(c.get("snmp_version"), std::vector<std::string>{"3"});
  for (const auto& f : c.v) EXPECT_EQ(f.about, subject::sender);
  packet_view to_agent;
  to_agent.src_port = 50000;
  to_agent.dst_port = 161;
  collect r;
  snmp_facts(m, to_agent, r);
  ASSERT_FALSE(r.v.empty());
  for (const auto& f : r.v) EXPECT_EQ(f.about, subject::receiver);
  // Engine discovery (an empty engine ID) and a local-format ID say nothing / no PEN.
  const bytes empty = v3({});
  snmp_message d;
  ASSERT_EQ(parse_snmp({empty.data(), empty.size()}, d), snmp_error::none);
  collect none;
  snmp_facts(d, to_agent, none);
  EXPECT_TRUE(none.v.empty());
  const bytes local = v3({0x00, 0x00, 0x00, 0x09, 0x01, 0x02});
  snmp_message l;
  ASSERT_EQ(parse_snmp({local.data(), local.size()}, l), snmp_error::none);
  EXPECT_EQ(l.engine_enterprise(), -1);
}

TEST(Snmp, ForbiddenBerFormsAreRefused) {
  {
    bytes b = response();
    b[1] = 0x80;  // indefinite length
    snmp_message m;
    EXPECT_EQ(parse_snmp({b.data(), b.size()}, m), snmp_error::bad_length);
  }
  {
    // A five-byte length form.
    const bytes b{0x30, 0x85, 0, 0, 0, 0, 5};
    snmp_message m;
    EXPECT_EQ(parse_snmp({b.data(), b.size()}, m), snmp_error::bad_length);
  }
  {
    // A length larger than the datagram.
    const bytes b{0x30, 0x10, 0x02, 0x01, 0x01};
    snmp_message m;
    EXPECT_EQ(parse_snmp({b.data(), b.size()}, m), snmp_error::truncated);
  }
  {
    const bytes b = tlv(0x30, cat({integer(2), str("public")}));
    snmp_message m;
    EXPECT_EQ(parse_snmp({b.data(), b.size()}, m), snmp_error::unknown_version);
  }
  {
    const bytes b{0x16, 0x03, 0x01, 0x00};  // TLS, not SNMP
    snmp_message m;
    EXPECT_EQ(parse_snmp({b.data(), b.size()}, m), snmp_error::not_snmp);
  }
}

TEST(Snmp, OidsOverThirtyTwoBitsAreRefused) {
  const bytes big = tlv(0x06, {0x2b, 0x06, 0x01, 0x04, 0x01, 0x9f, 0xff, 0xff, 0xff, 0x7f});  // 2^35-1
  const bytes vbs = tlv(0x30, varbind(oid({1, 3, 6, 1, 2, 1, 1, 2, 0}), big));
  const bytes b = tlv(0x30, cat({integer(1), str("public"), tlv(0xa2, cat({integer(1), integer(0), integer(0), vbs}))}));
  snmp_message m;
  EXPECT_EQ(parse_snmp({b.data(), b.size()}, m), snmp_error::bad_oid);
  EXPECT_FALSE(m.sys_object_id.present);
}

}  // namespace
