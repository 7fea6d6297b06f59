#pragma once
// The fixed-layout packet record capture writes to every aggregator shard.
// A POD with no pointers: it is copied byte for byte through shared memory.
#include <cstdint>
#include <type_traits>

#include "common/net/addr.h"

namespace tapsense::net {

enum class l3_type : std::uint8_t { none = 0, arp = 1, ipv4 = 4, ipv6 = 6, other = 7 };

enum class tunnel_type : std::uint8_t {
  none = 0,
  gre = 1,       // GRE carrying IP
  gre_teb = 2,   // GRE transparent Ethernet bridging (0x6558)
  erspan1 = 3,
  erspan2 = 4,
  erspan3 = 5,
  vxlan = 6,
  geneve = 7,
  ip_in_ip = 8,
  gre_wlan = 9,  // GRE carrying IEEE 802.11 (Aruba, 0x8200...)
  l2tp = 10,     // L2TPv2 data over UDP carrying PPP
};

// IP protocol numbers we name.
namespace ipproto {
inline constexpr std::uint8_t icmp = 1;
inline constexpr std::uint8_t tcp = 6;
inline constexpr std::uint8_t udp = 17;
inline constexpr std::uint8_t gre = 47;
inline constexpr std::uint8_t icmpv6 = 58;
inline constexpr std::uint8_t sctp = 132;
}  // namespace ipproto

// TCP flag bits as on the wire (byte 13 of the TCP header).
namespace tcpflag {
inline constexpr std::uint8_t fin = 0x01;
inline constexpr std::uint8_t syn = 0x02;
inline constexpr std::uint8_t rst = 0x04;
inline constexpr std::uint8_t psh = 0x08;
inline constexpr std::uint8_t ack = 0x10;
}  // namespace tcpflag

// packet_record::flags bits.
namespace pktflag {
inline constexpr std::uint8_t fragment = 0x01;        // IP fragment (any)
inline constexpr std::uint8_t later_fragment = 0x02;  // non-first fragment: no L4 header
inline constexpr std::uint8_t arp_request = 0x04;
inline constexpr std::uint8_t arp_reply = 0x08;
inline constexpr std::uint8_t truncated = 0x10;       // headers cut short by the capture
inline constexpr std::uint8_t has_ports = 0x20;       // src_port/dst_port are valid
inline constexpr std::uint8_t eof_marker = 0x80;      // never set on a real packet
}  // namespace pktflag

struct packet_record {
  std::uint64_t ts_ns;        // packet time, ns since the Unix epoch (port or pcap record)
  std::uint32_t wire_len;     // original frame length in bytes (tshark frame.len)
  std::uint32_t flow_hash;    // symmetric hash of the inner flow key
  ip_address src_ip;          // inner addresses; for ARP: sender / target protocol address
  ip_address dst_ip;
  mac_address src_mac;        // innermost Ethernet; for ARP: sender hardware address
  mac_address dst_mac;
  std::uint16_t src_port;     // TCP/UDP ports; ICMP: type in src_port, code in dst_port
  std::uint16_t dst_port;
  std::uint16_t vlan[2];      // outer, inner VLAN id (valid up to vlan_count)
  std::uint16_t port_id;      // capture port the packet arrived on
  std::uint16_t tcp_window;
  std::uint16_t l4_payload;   // L4 payload length by the IP header (not the capture)
  std::uint8_t l3;            // l3_type
  std::uint8_t ip_proto;
  std::uint8_t ttl;           // IPv4 TTL / IPv6 hop limit
  std::uint8_t tcp_flags;
  std::uint8_t vlan_count;
  std::uint8_t flags;         // pktflag bits
  std::uint8_t tunnel;        // tunnel_type of the outermost tunnel, none if not tunnelled
  std::uint8_t tunnel_depth;  // number of encapsulation layers removed
  std::uint16_t ethertype;    // innermost EtherType (or 802.3 length < 0x0600)
  std::uint32_t tunnel_id;    // VXLAN/GENEVE VNI, ERSPAN session id, GRE key
  ip_address tunnel_src;      // outer IP addresses of the outermost tunnel
  ip_address tunnel_dst;
  std::uint64_t seq;          // per-ring sequence number, 1-based, assigned by capture
};
static_assert(std::is_trivially_copyable_v<packet_record>);
static_assert(sizeof(packet_record) == 128, "packet_record is a wire format between stages");

}  // namespace tapsense::net
