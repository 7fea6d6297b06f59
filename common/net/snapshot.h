#pragma once
// Payload snapshots: what capture sends the fingerprinter for the packets that
// carry identity. A snapshot frame is a snapshot_header followed by `caplen`
// bytes of the packet starting at its innermost Ethernet header.
#include <cstdint>
#include <type_traits>

#include "common/net/packet_record.h"

namespace tapsense::net {

// Why a packet was snapshotted (bits; several may be set).
namespace snapreason {
inline constexpr std::uint32_t discovery = 0x01;   // a protocol common/proto/registry.h names a parser for
inline constexpr std::uint32_t tcp_syn = 0x02;     // SYN or SYN+ACK (p0f)
inline constexpr std::uint32_t flow_start = 0x04;  // one of the first payload packets of a flow direction
inline constexpr std::uint32_t new_mac = 0x08;     // first packet seen from this source MAC
inline constexpr std::uint32_t arp = 0x10;
inline constexpr std::uint32_t message_start = 0x20;  // a TCP segment that begins an HTTP message
}  // namespace snapreason

struct snapshot_header {
  packet_record rec;
  std::uint16_t caplen;       // bytes following this header
  std::uint16_t l3_off;       // offsets into those bytes (== caplen when absent)
  std::uint16_t l4_off;
  std::uint16_t payload_off;
  std::uint32_t reason;       // snapreason bits
  std::uint32_t reserved;
};
static_assert(std::is_trivially_copyable_v<snapshot_header>);
static_assert(sizeof(snapshot_header) == 144);

}  // namespace tapsense::net
