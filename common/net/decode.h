#pragma once
// L2-L4 decoding of one captured frame into a packet_record, through the
// encapsulations that SPAN/RSPAN/ERSPAN and cloud traffic mirroring use.
//
// decode_frame() takes a view of the captured bytes, fills a plain struct and
// allocates nothing. Every read is preceded by a length check; a broken or
// unknown inner layer keeps what was decoded so far and counts a named anomaly
// (never a log line). Encapsulation depth is capped (decode_options).
//
// Layers understood, outside in:
//   Ethernet, 802.1Q / 802.1ad tags (0x8100, 0x88a8, 0x9100), up to max_vlan_depth per header
//   MPLS label stacks (0x8847, 0x8848), up to max_mpls_labels; after the
//     bottom-of-stack label the first nibble picks IPv4 (4), IPv6 (6) or the
//     pseudowire control word (0) followed by Ethernet
//   IPv4 with options and fragments; IPv6 with extension headers and fragments
//   GRE version 0 (checksum, key, sequence): IPv4, IPv6, 0x6558 transparent
//     Ethernet bridging, 0x88be ERSPAN type I (no sequence bit) or II,
//     0x22eb ERSPAN type III (with the optional platform subheader), 0x8847/8 MPLS
//   VXLAN (UDP dst decode_options::vxlan_port), GENEVE (UDP dst geneve_port,
//     options skipped; Ethernet, IPv4 or IPv6 payload)
//   IP-in-IP: IPv4 or IPv6 (protocol 4 / 41) inside IPv4 or IPv6
//   PPPoE session (0x8864) with PPP IPv4 (0x0021) / IPv6 (0x0057); other PPP
//     protocols and PPPoE discovery (0x8863) stay layer 2 (l3 other)
//   Cisco MetaData (0x8909, the TrustSec SGT tag) in Ethernet, after or
//     before 802.1Q tags, and in GRE (protocol 0x8909): skipped like a tag
//     (one per header), the EtherType after it decoded
//   GRE protocol 0x2000 (CDP): a router's own CDP over the tunnel; not a
//     tunnel: the record is the GRE packet's, the payload offset points at
//     the PDU
//   GRE 0x8200-0x8370 in steps of 0x10 (Aruba AP-to-controller tunnels, as
//     tshark maps them): IEEE 802.11 data frames (QoS, 4-address, HT control),
//     then LLC/SNAP (OUI 000000 or 0000f8) and IPv4, IPv6 or ARP; protected
//     (encrypted), A-MSDU and fragmented frames are opaque
//   L2TPv2 data messages (UDP source or destination decode_options::l2tp_port)
//     carrying PPP IPv4/IPv6
//   Link types other than Ethernet (decode_options::link_type): Linux cooked
//     SLL and SLL2 (source MAC from the address field when the ARPHRD type is
//     Ethernet and the address is 6 bytes), raw IP (101, 12, 14), IPv4 (228),
//     IPv6 (229)
//   ARP, TCP, UDP, ICMP, ICMPv6 (ICMP errors are not decoded into)
//
// What the record describes (packet_record.h):
//   The INNERMOST packet counts: addresses, ports, protocol, TTL, TCP fields,
//   l4_payload, ethertype are those of the innermost IP (or ARP) header that
//   was accepted. MACs and VLANs are those of the innermost Ethernet header;
//   a tunnel that carries IP without Ethernet (IP-in-GRE, IP-in-IP, MPLS,
//   GENEVE/ERSPAN III with an IP payload) leaves the MACs and VLANs of the
//   last Ethernet header seen, i.e. the outer ones. When an inner Ethernet
//   frame carries no 802.1Q tag, the VLAN field of the ERSPAN II/III header
//   (the mirrored port's VLAN) becomes vlan[0], if non-zero. ethertype is
//   the innermost Ethernet header's (0x8847 for MPLS over Ethernet), or for
//   a packet carried without Ethernet 0x0800/0x86dd by its IP version.
//   tunnel/tunnel_src/tunnel_dst/tunnel_id describe the OUTERMOST tunnel:
//   type, the addresses of the IP header carrying it, and the ERSPAN session
//   id, the VXLAN/GENEVE VNI or the GRE key (0 when absent). tunnel_depth is
//   the number of tunnel headers removed (GRE with or without ERSPAN, VXLAN,
//   GENEVE, IP-in-IP, GRE/802.11, L2TP count one each). An 802.11 frame in
//   GRE gives the record its MACs (SA, DA by the ToDS/FromDS bits) like an
//   inner Ethernet header, but no snapshot starts at it: l2 == l3 as for a
//   packet carried without Ethernet. PPPoE is not a tunnel (like MPLS):
//   ethertype stays 0x8864. Without Ethernet (SLL, raw IP) l2 == l3 too,
//   and ethertype is the SLL protocol or 0x0800/0x86dd. MPLS labels and pseudowires are not
//   tunnels (like VLAN tags): they leave `tunnel` alone, but a pseudowire
//   counts towards max_tunnel_depth.
//   wire_len stays the OUTER frame's length (what the mirror port carried).
//   flow_hash is symmetric_flow_hash() of the inner flow.
//   When a tunnel's payload cannot be decoded (truncated, unknown type), the
//   record keeps the outer fields and the tunnel fields tell the tunnel; when
//   an inner Ethernet header decodes but its IP header does not, MACs are the
//   inner ones and the addresses stay the outer ones.
#include <array>
#include <cstdint>

#include "common/net/addr.h"
#include "common/net/bytes.h"
#include "common/net/packet_record.h"

namespace tapsense::net {

// Never remove or reorder names: counters are reported by name, and new names
// go at the end.
#define TAPSENSE_ANOMALIES(X)            \
  X(truncated_ethernet)                  \
  X(truncated_vlan)                      \
  X(vlan_depth_exceeded)                 \
  X(truncated_arp)                       \
  X(unsupported_arp)                     \
  X(truncated_ipv4)                      \
  X(bad_ipv4_version)                    \
  X(bad_ipv4_header_length)              \
  X(bad_ipv4_total_length)               \
  X(truncated_ipv6)                      \
  X(bad_ipv6_version)                    \
  X(truncated_ipv6_extension)            \
  X(ipv6_extension_depth_exceeded)       \
  X(truncated_tcp)                       \
  X(bad_tcp_header_length)               \
  X(truncated_udp)                       \
  X(bad_udp_length)                      \
  X(truncated_icmp)                      \
  X(truncated_mpls)                      \
  X(mpls_depth_exceeded)                 \
  X(truncated_gre)                       \
  X(unsupported_gre)                     \
  X(truncated_erspan)                    \
  X(unsupported_erspan)                  \
  X(truncated_vxlan)                     \
  X(truncated_geneve)                    \
  X(unsupported_geneve)                  \
  X(tunnel_depth_exceeded)               \
  X(unsupported_mpls)                    \
  X(unsupported_vxlan)                   \
  X(truncated_pppoe)                     \
  X(truncated_wlan)                      \
  X(unsupported_wlan)                    \
  X(truncated_llc)                       \
  X(unsupported_llc)                     \
  X(truncated_l2tp)                      \
  X(unsupported_l2tp)                    \
  X(truncated_link_header)               \
  X(unsupported_link_type)               \
  X(bad_raw_ip_version)                  \
  X(truncated_cisco_metadata)

enum class anomaly : std::uint8_t {
#define X(name) name,
  TAPSENSE_ANOMALIES(X)
#undef X
      count_
};
inline constexpr std::size_t anomaly_count = static_cast<std::size_t>(anomaly::count_);

const char* anomaly_name(anomaly a) noexcept;

// Per-decoder counters; single writer. Readers copy them out for heartbeats.
struct anomaly_counters {
  std::array<std::uint64_t, anomaly_count> n{};
  void add(anomaly a) noexcept { ++n[static_cast<std::size_t>(a)]; }
  std::uint64_t operator[](anomaly a) const noexcept { return n[static_cast<std::size_t>(a)]; }
};

// Byte offsets into the captured frame of the INNERMOST layers, in order
// l2 <= l3 <= l4 <= payload <= end. The layer after the last one decoded
// starts where decoding stopped (so `payload` is where opaque bytes begin).
struct layer_offsets {
  // Innermost Ethernet header. When the innermost packet was carried without
  // one (IP-in-GRE, IP-in-IP, MPLS, GENEVE/ERSPAN III with IP), l2 == l3: a
  // snapshot taken from l2 starts at the inner IP header, and the record's
  // MACs are then the outer ones.
  std::uint16_t l2 = 0;
  std::uint16_t l3 = 0;       // innermost ARP/IP header
  std::uint16_t l4 = 0;       // TCP/UDP/ICMP header
  std::uint16_t payload = 0;  // L4 payload
  std::uint16_t end = 0;      // end of meaningful bytes (capture end, or inner IP end if shorter)
};

// The outermost fragmented IP header of a frame, for the fragment tracker
// (fragments.h). Fragments of one datagram share (family, src, dst, proto, id).
struct fragment_info {
  enum kind_t : std::uint8_t { none = 0, first = 1, later = 2 };
  ip_address src;             // that IP header's addresses (IPv4 stored mapped)
  ip_address dst;
  std::uint32_t id = 0;       // IPv4 identification (16 bits), IPv6 fragment header identification
  std::uint32_t offset = 0;   // fragment offset in bytes
  std::uint16_t l3 = 0;       // offset of that IP header in the frame
  std::uint8_t proto = 0;     // IPv4 protocol / fragment header next header
  std::uint8_t family = 0;    // 4 or 6
  std::uint8_t kind = none;   // kind_t
  bool more = false;          // more fragments follow (MF / M flag)
  // True when the fragmented header is the innermost IP header, i.e. the
  // record's addresses are that header's own (no tunnel was decoded inside it).
  bool innermost = false;
};

struct decode_options {
  std::uint8_t max_vlan_depth = 4;        // tags per Ethernet header
  std::uint8_t max_ipv6_extensions = 8;   // extension headers per IPv6 header
  std::uint8_t max_mpls_labels = 8;       // labels per MPLS stack
  std::uint8_t max_tunnel_depth = 8;      // encapsulation layers (tunnels and pseudowires)
  std::uint16_t vxlan_port = 4789;        // UDP destination port of VXLAN; 0 disables
  std::uint16_t geneve_port = 6081;       // UDP destination port of GENEVE; 0 disables
  std::uint16_t l2tp_port = 1701;         // UDP source or destination port of L2TPv2; 0 disables
  // What the captured bytes start with: the capture file's LINKTYPE_ value
  // (link_types below). Anything other than Ethernet goes through one
  // out-of-line branch before the Ethernet path.
  std::uint16_t link_type = 1;
};

// LINKTYPE_ values (tcpdump.org/linktypes.html) decode_frame() reads.
namespace link_types {
inline constexpr std::uint16_t ethernet = 1;
inline constexpr std::uint16_t raw_dlt12 = 12;   // DLT_RAW as some BSDs wrote it: raw IPv4/IPv6
inline constexpr std::uint16_t raw_dlt14 = 14;   // DLT_RAW as other BSDs wrote it
inline constexpr std::uint16_t raw = 101;        // raw IPv4/IPv6, version nibble decides
inline constexpr std::uint16_t linux_sll = 113;  // Linux cooked capture v1 (tcpdump -i any)
inline constexpr std::uint16_t ipv4 = 228;
inline constexpr std::uint16_t ipv6 = 229;
inline constexpr std::uint16_t linux_sll2 = 276; // Linux cooked capture v2
}  // namespace link_types

// True when decode_frame() reads frames of this LINKTYPE_ value.
constexpr bool link_type_supported(std::uint32_t lt) noexcept {
  return lt == link_types::ethernet || lt == link_types::raw_dlt12 || lt == link_types::raw_dlt14 ||
         lt == link_types::raw || lt == link_types::linux_sll || lt == link_types::ipv4 ||
         lt == link_types::ipv6 || lt == link_types::linux_sll2;
}

// Decodes `frame` (captured bytes, starting at the Ethernet header, or at the
// link header opt.link_type names).
// `wire_len` is the original frame length if the source knows it (pcap record,
// NIC); 0 means "use the captured length". When the capture was cut short, the
// OUTERMOST IP total length extends wire_len (tshark's frame.len equivalent).
// Fills every field of `rec` except ts_ns, port_id and seq. Returns false when
// the frame is shorter than an Ethernet header (or than the link header of
// another link type, or is empty for raw IP); `rec` is then zeroed apart from
// wire_len.
bool decode_frame(bytes frame, std::uint32_t wire_len, packet_record& rec, layer_offsets& off,
                  anomaly_counters& anomalies, const decode_options& opt = {}) noexcept;

// The same, also telling the outermost fragmented IP header in `frag`
// (frag.kind == none when the frame is not a fragment). Capture feeds `frag`
// to the fragment_tracker (fragments.h).
bool decode_frame(bytes frame, std::uint32_t wire_len, packet_record& rec, layer_offsets& off,
                  fragment_info& frag, anomaly_counters& anomalies,
                  const decode_options& opt = {}) noexcept;

// Symmetric flow hash: equal for both directions of a flow. Mixes addresses,
// ports (when present) and the IP protocol.
std::uint32_t symmetric_flow_hash(const packet_record& rec) noexcept;

}  // namespace tapsense::net
