#pragma once
// One registry of the identity protocols: each parser declares here, once,
// the ports, EtherTypes and GRE protocols it reads. Capture snapshots what
// this registry names (capture/dispatch.cpp) and the fingerprinter runs the
// parser this registry picks (fingerprinter/analyzer.cpp), so the two cannot
// drift apart: a port snapshotted is a port parsed, and back.
//
// Header-only and constexpr: capture's fast path calls it per packet.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

namespace tapsense::proto {

enum class parser : std::uint8_t {
  none,
  // layer 2 (EtherType, or 802.3 length with LLC/SNAP) and GRE payloads
  lldp,
  cdp,
  profinet_dcp,
  // UDP datagrams
  dhcp,
  dhcpv6,
  mdns,
  llmnr,
  dns,
  nbns,
  nbdgm,
  ssdp,
  snmp,
  wsd,
  bacnet,
  enip,
  dnp3,
  // TCP segments (every segment of these ports is parsed on its own)
  modbus,
  s7comm,
};

// A port range [lo, hi] on either side of a datagram or segment.
struct port_entry {
  std::uint16_t lo;
  std::uint16_t hi;
  parser p;
};

// UDP, in priority order: the first entry whose range holds either port wins
// (mDNS on 5353 to or from a port-53 resolver is mDNS).
inline constexpr port_entry udp_ports[] = {
    {67, 68, parser::dhcp},            // RFC 2131 server and client
    {546, 547, parser::dhcpv6},        // RFC 8415 client and server
    {5353, 5353, parser::mdns},        // RFC 6762
    {5355, 5355, parser::llmnr},       // RFC 4795
    {53, 53, parser::dns},             // RFC 1035
    {137, 137, parser::nbns},          // RFC 1002 name service
    {138, 138, parser::nbdgm},         // RFC 1002 datagrams (browser announcements)
    {1900, 1900, parser::ssdp},        // UPnP Device Architecture
    {161, 162, parser::snmp},          // RFC 3416 agent (161) and traps (162)
    {3702, 3702, parser::wsd},         // WS-Discovery 1.1 (OASIS)
    {0xBAC0, 0xBACF, parser::bacnet},  // BACnet/IP, ASHRAE 135 Annex J: 47808-47823
    {44818, 44818, parser::enip},      // EtherNet/IP encapsulation (ListIdentity)
    {20000, 20000, parser::dnp3},      // IEEE 1815 over UDP
};

// TCP ports whose every segment is parsed (industrial protocols whose
// identity comes later than a flow's first packets).
inline constexpr port_entry tcp_segment_ports[] = {
    {502, 502, parser::modbus},    // Modbus/TCP
    {20000, 20000, parser::dnp3},  // DNP3
    {102, 102, parser::s7comm},    // ISO-TSAP (S7comm, S7comm-plus)
    {44818, 44818, parser::enip},  // EtherNet/IP explicit messaging
};

inline constexpr std::uint16_t ethertype_lldp = 0x88cc;
inline constexpr std::uint16_t ethertype_profinet = 0x8892;
inline constexpr std::uint16_t max_8023_length = 0x05ff;  // below 0x0600: an 802.3 length, LLC follows
inline constexpr std::uint16_t gre_cdp = 0x2000;          // CDP in GRE (Cisco; Wireshark's gre.proto table)

namespace detail {
constexpr parser match(std::span<const port_entry> table, std::uint16_t a, std::uint16_t b) noexcept {
  for (const auto& e : table) {
    if ((a >= e.lo && a <= e.hi) || (b >= e.lo && b <= e.hi)) return e.p;
  }
  return parser::none;
}
}  // namespace detail

// The parser of a UDP datagram between these ports, or none.
constexpr parser udp_parser(std::uint16_t sport, std::uint16_t dport) noexcept {
  return detail::match(udp_ports, sport, dport);
}

// The parser of every TCP segment between these ports, or none (the first
// bytes of other TCP streams go to the stream parsers: TLS, SSH, HTTP, SMB).
constexpr parser tcp_segment_parser(std::uint16_t sport, std::uint16_t dport) noexcept {
  return detail::match(tcp_segment_ports, sport, dport);
}

// The parser of a non-IP frame by its (innermost) EtherType; an 802.3
// length means LLC, which carries CDP over SNAP (the parser checks it).
constexpr parser ethertype_parser(std::uint16_t et) noexcept {
  if (et == ethertype_lldp) return parser::lldp;
  if (et == ethertype_profinet) return parser::profinet_dcp;
  if (et <= max_8023_length) return parser::cdp;
  return parser::none;
}

// The parser of a GRE payload that is a router's own discovery PDU: CDP
// over a GRE tunnel interface (protocol 0x2000; Wireshark's gre.proto table
// hands it to CDP). LLDP has no GRE protocol of its own: bridged in GRE
// (0x6558) it is an Ethernet frame, decoded as such.
constexpr parser gre_parser(std::uint16_t gre_protocol) noexcept {
  if (gre_protocol == gre_cdp) return parser::cdp;
  return parser::none;
}

// HTTP/1.x methods (RFC 9110, and the UPnP/GENA ones over HTTPU) followed
// by a space, and the status line: a TCP payload that starts with one starts
// an HTTP message.
inline constexpr std::array<std::string_view, 13> http_starts{
    "HTTP/",   "GET ",      "POST ",    "HEAD ",     "PUT ",     "OPTIONS ",    "DELETE ",
    "CONNECT ", "PATCH ",   "NOTIFY ",  "M-SEARCH ", "SUBSCRIBE ", "UNSUBSCRIBE "};

constexpr bool starts_http_message(const std::uint8_t* p, std::size_t n) noexcept {
  if (n < 4 || p[0] < 'A' || p[0] > 'U') return false;  // every start is upper case A..U
  for (const auto s : http_starts) {
    if (n < s.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < s.size() && same; ++i) same = p[i] == static_cast<std::uint8_t>(s[i]);
    if (same) return true;
  }
  return false;
}

// Names of the parsers (counters, logs).
constexpr const char* parser_name(parser p) noexcept {
  switch (p) {
    case parser::none: return "none";
    case parser::lldp: return "lldp";
    case parser::cdp: return "cdp";
    case parser::profinet_dcp: return "profinet";
    case parser::dhcp: return "dhcp";
    case parser::dhcpv6: return "dhcpv6";
    case parser::mdns: return "mdns";
    case parser::llmnr: return "llmnr";
    case parser::dns: return "dns";
    case parser::nbns: return "nbns";
    case parser::nbdgm: return "nbdgm";
    case parser::ssdp: return "ssdp";
    case parser::snmp: return "snmp";
    case parser::wsd: return "wsd";
    case parser::bacnet: return "bacnet";
    case parser::enip: return "enip";
    case parser::dnp3: return "dnp3";
    case parser::modbus: return "modbus";
    case parser::s7comm: return "s7comm";
  }
  return "none";
}

}  // namespace tapsense::proto
