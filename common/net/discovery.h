#pragma once
// Which packets carry device identity, shared by capture (to decide what to
// snapshot) and the fingerprinter (to decide which parser to run).
#include <cstdint>

#include "common/net/packet_record.h"

namespace tapsense::net {

namespace ethertype {
inline constexpr std::uint16_t ipv4 = 0x0800;
inline constexpr std::uint16_t arp = 0x0806;
inline constexpr std::uint16_t ipv6 = 0x86dd;
inline constexpr std::uint16_t lldp = 0x88cc;
inline constexpr std::uint16_t profinet = 0x8892;
}  // namespace ethertype

// UDP ports of discovery and identity protocols (either side).
constexpr bool is_discovery_udp_port(std::uint16_t p) noexcept {
  switch (p) {
    case 53:     // DNS
    case 67:     // DHCP server
    case 68:     // DHCP client
    case 137:    // NBNS
    case 138:    // NetBIOS datagram (browser announcements)
    case 161:    // SNMP
    case 546:    // DHCPv6 client
    case 547:    // DHCPv6 server
    case 1900:   // SSDP
    case 3702:   // WS-Discovery
    case 5353:   // mDNS
    case 5355:   // LLMNR
    case 2222:   // EtherNet/IP implicit
    case 44818:  // EtherNet/IP
    case 47808:  // BACnet/IP
    case 34964:  // Profinet CM (DCE/RPC)
    case 20000:  // DNP3
      return true;
    default:
      return false;
  }
}

// TCP server ports whose payloads identify the device (beyond the first
// packets of every flow, which are snapshotted anyway).
constexpr bool is_identity_tcp_port(std::uint16_t p) noexcept {
  switch (p) {
    case 102:    // S7comm (ISO-TSAP)
    case 502:    // Modbus/TCP
    case 20000:  // DNP3
    case 44818:  // EtherNet/IP
      return true;
    default:
      return false;
  }
}

// Non-IP frames that carry identity: LLDP, Profinet DCP, and 802.3 frames
// (length field instead of EtherType) such as CDP over SNAP.
constexpr bool is_discovery_ethertype(std::uint16_t et) noexcept {
  return et == ethertype::lldp || et == ethertype::profinet || et < 0x0600;
}

}  // namespace tapsense::net
