// The protocol registry (common/proto/registry.h) that capture's snapshot
// choice and the fingerprinter's dispatch both read. The drifts issue 11
// found are pinned here: BACnet/IP's whole port range, SNMP and
// WS-Discovery declared with a parser, one list of HTTP starts.
#include <gtest/gtest.h>

#include <string>

#include "common/proto/registry.h"

using namespace tapsense::proto;

namespace {

bool http(const std::string& s) {
  return starts_http_message(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

TEST(Registry, UdpPortsNameTheirParser) {
  EXPECT_EQ(udp_parser(68, 67), parser::dhcp);
  EXPECT_EQ(udp_parser(546, 547), parser::dhcpv6);
  EXPECT_EQ(udp_parser(5353, 5353), parser::mdns);
  EXPECT_EQ(udp_parser(53, 5353), parser::mdns) << "mDNS outranks DNS, as before";
  EXPECT_EQ(udp_parser(5355, 50000), parser::llmnr);
  EXPECT_EQ(udp_parser(50000, 53), parser::dns);
  EXPECT_EQ(udp_parser(137, 137), parser::nbns);
  EXPECT_EQ(udp_parser(138, 138), parser::nbdgm);
  EXPECT_EQ(udp_parser(50000, 1900), parser::ssdp);
  EXPECT_EQ(udp_parser(161, 50000), parser::snmp);
  EXPECT_EQ(udp_parser(50000, 162), parser::snmp);
  EXPECT_EQ(udp_parser(3702, 50000), parser::wsd);
  EXPECT_EQ(udp_parser(44818, 50000), parser::enip);
  EXPECT_EQ(udp_parser(20000, 50000), parser::dnp3);
  EXPECT_EQ(udp_parser(50000, 50001), parser::none);
  EXPECT_EQ(udp_parser(443, 50000), parser::none);
}

TEST(Registry, BacnetIsTheWholeAnnexJRange) {
  // Snapshotted on 47808 only while parsed on 0xBAC0-0xBACF was the drift.
  for (unsigned p = 0xBAC0; p <= 0xBACF; ++p) {
    EXPECT_EQ(udp_parser(static_cast<std::uint16_t>(p), 50000), parser::bacnet) << p;
  }
  EXPECT_EQ(udp_parser(0xBABF, 50000), parser::none);
  EXPECT_EQ(udp_parser(0xBAD0, 50000), parser::none);
}

TEST(Registry, TcpSegmentPorts) {
  EXPECT_EQ(tcp_segment_parser(50000, 502), parser::modbus);
  EXPECT_EQ(tcp_segment_parser(102, 50000), parser::s7comm);
  EXPECT_EQ(tcp_segment_parser(50000, 20000), parser::dnp3);
  EXPECT_EQ(tcp_segment_parser(44818, 50000), parser::enip);
  EXPECT_EQ(tcp_segment_parser(50000, 443), parser::none) << "TLS goes to the stream parsers";
}

TEST(Registry, EtherTypesAndGreProtocols) {
  EXPECT_EQ(ethertype_parser(0x88cc), parser::lldp);
  EXPECT_EQ(ethertype_parser(0x8892), parser::profinet_dcp);
  EXPECT_EQ(ethertype_parser(0x0100), parser::cdp) << "802.3 length: LLC/SNAP";
  EXPECT_EQ(ethertype_parser(0x05ff), parser::cdp);
  EXPECT_EQ(ethertype_parser(0x0600), parser::none);
  EXPECT_EQ(ethertype_parser(0x0800), parser::none);
  EXPECT_EQ(gre_parser(0x2000), parser::cdp);
  EXPECT_EQ(gre_parser(0x88cc), parser::none) << "LLDP has no GRE protocol: bridged (0x6558) it is Ethernet";
  EXPECT_EQ(gre_parser(0x0800), parser::none);
}

TEST(Registry, EveryParserHasAName) {
  for (unsigned p = 0; p <= static_cast<unsigned>(parser::s7comm); ++p) {
    EXPECT_STRNE(parser_name(static_cast<parser>(p)), "") << p;
  }
  EXPECT_STREQ(parser_name(parser::snmp), "snmp");
  EXPECT_STREQ(parser_name(parser::wsd), "wsd");
}

TEST(Registry, OneListOfHttpStarts) {
  for (const char* s : {"GET / HTTP/1.1", "POST /x HTTP/1.1", "HEAD / HTTP/1.0", "PUT /a HTTP/1.1",
                        "OPTIONS * HTTP/1.1", "DELETE /a HTTP/1.1", "CONNECT h:443 HTTP/1.1", "PATCH /a HTTP/1.1",
                        "NOTIFY * HTTP/1.1", "M-SEARCH * HTTP/1.1", "SUBSCRIBE /e HTTP/1.1",
                        "UNSUBSCRIBE /e HTTP/1.1", "HTTP/1.1 200 OK"}) {
    EXPECT_TRUE(http(s)) << s;
  }
  for (const char* s : {"", "GET", "GETX / HTTP/1.1", "get / HTTP/1.1", "\x16\x03\x01", "SSH-2.0-x", "HTTP"}) {
    EXPECT_FALSE(http(s)) << s;
  }
}

}  // namespace
