#include "common/net/decode.h"

#include <algorithm>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace tapsense::net {

const char* anomaly_name(anomaly a) noexcept {
  switch (a) {
#define X(name)      \
  case anomaly::name: \
    return #name;
    TAPSENSE_ANOMALIES(X)
#undef X
    case anomaly::count_:
      break;
  }
  return "unknown";
}

namespace {

constexpr std::uint16_t ethertype_ipv4 = 0x0800;
constexpr std::uint16_t ethertype_arp = 0x0806;
constexpr std::uint16_t ethertype_vlan = 0x8100;
constexpr std::uint16_t ethertype_qinq = 0x88a8;
constexpr std::uint16_t ethertype_qinq_old = 0x9100;
constexpr std::uint16_t ethertype_ipv6 = 0x86dd;
constexpr std::uint16_t ethertype_mpls = 0x8847;
constexpr std::uint16_t ethertype_mpls_multicast = 0x8848;
constexpr std::uint16_t ethertype_teb = 0x6558;      // transparent Ethernet bridging
constexpr std::uint16_t ethertype_erspan = 0x88be;   // ERSPAN type I and II
constexpr std::uint16_t ethertype_erspan3 = 0x22eb;  // ERSPAN type III
constexpr std::uint16_t ethertype_pppoe_session = 0x8864;
constexpr std::uint16_t ethertype_cisco_metadata = 0x8909;  // Cisco MetaData (TrustSec SGT)
constexpr std::uint16_t gre_cdp = 0x2000;                    // CDP PDU carried in GRE
// Cisco MetaData header: in Ethernet version(1) length(1) option(2) SGT(2)
// EtherType(2); in GRE the EtherType comes first (as Wireshark's
// packet-cisco-metadata.c reads both).
constexpr std::size_t cisco_metadata_header = 8;
constexpr std::uint16_t ppp_ipv4 = 0x0021;
constexpr std::uint16_t ppp_ipv6 = 0x0057;

constexpr std::uint8_t ipproto_ipip = 4;
constexpr std::uint8_t ipproto_ipv6 = 41;

constexpr std::size_t ethernet_header = 14;

// GRE flags and version (RFC 2784, RFC 2890).
constexpr std::uint16_t gre_checksum = 0x8000;
constexpr std::uint16_t gre_routing = 0x4000;
constexpr std::uint16_t gre_key = 0x2000;
constexpr std::uint16_t gre_sequence = 0x1000;
constexpr std::uint16_t gre_version = 0x0007;

std::uint16_t u16(std::size_t v) noexcept { return static_cast<std::uint16_t>(std::min<std::size_t>(v, 0xffff)); }

// Everything one decode needs, passed by reference down the layers. Positions
// are offsets into the frame; each layer is bounded by a `limit` (capture end,
// enclosing IP end, UDP end) that never exceeds the captured length.
struct state {
  const std::uint8_t* base;
  packet_record& rec;
  layer_offsets& off;
  fragment_info& frag;
  anomaly_counters& an;
  const decode_options& opt;
  std::size_t end;                // end of meaningful bytes of the innermost layer
  std::size_t outer_ip_end = 0;   // end of the first IP datagram (tells the real frame size)
  std::uint8_t layers = 0;        // encapsulation layers entered (tunnels and pseudowires)
  bool l2_here = false;           // the current encapsulation level has its own Ethernet header
  bool l3_set = false;            // some L3/L4 fields were filled (by an outer header)

  void truncated(anomaly a) noexcept {
    an.add(a);
    rec.flags |= pktflag::truncated;
  }
};

// The layers of the outermost packet are instantiated with Top = true: that
// chain has no cycle, so it inlines into decode_frame and the common packet
// (Ethernet, VLAN, IP, TCP/UDP) costs no calls. Tunnel payloads go through
// the out-of-line tunnel decoders into the Top = false instantiation, which
// may recurse (bounded by max_tunnel_depth).
template <bool Top>
void decode_ethernet(state& s, std::size_t pos, std::size_t limit, std::uint16_t erspan_vlan) noexcept;
template <bool Top>
void decode_ipv4(state& s, std::size_t pos, std::size_t limit) noexcept;
template <bool Top>
void decode_ipv6(state& s, std::size_t pos, std::size_t limit) noexcept;
template <bool Top>
void decode_mpls(state& s, std::size_t pos, std::size_t limit) noexcept;
template <bool Top>
void decode_ethertype(state& s, std::uint16_t type, std::size_t pos, std::size_t limit) noexcept;
void decode_wlan(state& s, std::size_t pos, std::size_t limit, std::uint32_t key) noexcept;
void gre_payload(state& s, std::uint16_t proto, std::size_t inner, std::size_t limit, std::uint32_t key_value,
                 bool sequence, bool metadata) noexcept;

// Forgets the L3/L4 fields of an outer packet: the innermost header replaces them.
void clear_l3(packet_record& r) noexcept {
  r.src_ip = {};
  r.dst_ip = {};
  r.ttl = 0;
  r.ip_proto = 0;
  r.src_port = 0;
  r.dst_port = 0;
  r.tcp_flags = 0;
  r.tcp_window = 0;
  r.l4_payload = 0;
  r.flags &= static_cast<std::uint8_t>(~(pktflag::has_ports | pktflag::arp_request | pktflag::arp_reply));
}

// An IP header at `pos` was accepted: it becomes the record's L3. (With
// Top, it is the first header of a frame that starts with Ethernet: the
// record is still zeroed and nothing outside it was a fragment.)
template <bool Top>
[[gnu::always_inline]] inline void accept_ip(state& s, std::size_t pos, l3_type t, const ip_address& src,
                                             const ip_address& dst, std::uint8_t ttl) noexcept {
  auto& r = s.rec;
  if (!Top && s.l3_set) {
    clear_l3(r);  // an outer header's fields
  }
  s.l3_set = true;
  r.l3 = static_cast<std::uint8_t>(t);
  r.src_ip = src;
  r.dst_ip = dst;
  r.ttl = ttl;
  if (!Top && !s.l2_here) {
    // Carried without Ethernet: the snapshot starts at the IP header.
    s.off.l2 = u16(pos);
    r.ethertype = t == l3_type::ipv4 ? ethertype_ipv4 : ethertype_ipv6;
  }
  s.off.l3 = s.off.l4 = s.off.payload = u16(pos);
  if (!Top) {
    s.frag.innermost = false;  // a fragmented header outside this one is no longer innermost
  }
}

void note_fragment(state& s, std::uint8_t family, const ip_address& src, const ip_address& dst,
                   std::uint32_t id, std::uint8_t proto, std::uint32_t offset, bool more,
                   std::size_t l3) noexcept {
  s.rec.flags |= pktflag::fragment;
  if (s.frag.kind != fragment_info::none) {
    return;  // the outermost fragmented header is the one later fragments show
  }
  s.frag.src = src;
  s.frag.dst = dst;
  s.frag.id = id;
  s.frag.offset = offset;
  s.frag.l3 = u16(l3);
  s.frag.proto = proto;
  s.frag.family = family;
  s.frag.kind = offset == 0 ? fragment_info::first : fragment_info::later;
  s.frag.more = more;
  s.frag.innermost = true;
}

// Enters an encapsulation whose payload starts at `inner`. `t` is none for a
// pseudowire (counted for the depth cap, not a tunnel). False when the depth
// cap stops decoding.
bool enter(state& s, tunnel_type t, std::uint32_t id, std::size_t inner) noexcept {
  s.off.payload = u16(inner);  // opaque from here if nothing inside decodes
  if (s.layers >= s.opt.max_tunnel_depth) {
    s.an.add(anomaly::tunnel_depth_exceeded);
    return false;
  }
  ++s.layers;
  s.l2_here = false;
  if (t != tunnel_type::none) {
    auto& r = s.rec;
    if (r.tunnel == static_cast<std::uint8_t>(tunnel_type::none)) {
      // The outermost tunnel: the IP header accepted last is the one carrying it.
      r.tunnel = static_cast<std::uint8_t>(t);
      r.tunnel_id = id;
      r.tunnel_src = r.src_ip;
      r.tunnel_dst = r.dst_ip;
    }
    ++r.tunnel_depth;
  }
  return true;
}

// IPv4 or IPv6 by the version nibble (MPLS payloads, ERSPAN III IP frames).
// False when the byte is absent or names neither.
template <bool Top>
bool decode_ip_by_version(state& s, std::size_t pos, std::size_t limit) noexcept {
  if (!fits(limit, pos, 1)) {
    return false;
  }
  switch (s.base[pos] >> 4) {
    case 4:
      decode_ipv4<Top>(s, pos, limit);
      return true;
    case 6:
      decode_ipv6<Top>(s, pos, limit);
      return true;
    default:
      return false;
  }
}

// VXLAN (RFC 7348): flags(8) reserved(24) VNI(24) reserved(8), then Ethernet.
[[gnu::noinline]] void decode_vxlan(state& s, std::size_t pos, std::size_t limit) noexcept {
  if (!fits(limit, pos, 8)) {
    s.truncated(anomaly::truncated_vxlan);
    return;
  }
  const std::uint8_t* p = s.base + pos;
  if ((p[0] & 0x08) == 0) {  // the I flag: a valid VNI
    s.an.add(anomaly::unsupported_vxlan);
    return;
  }
  if (enter(s, tunnel_type::vxlan, load_be24(p + 4), pos + 8)) {
    decode_ethernet<false>(s, pos + 8, limit, 0);
  }
}

// GENEVE (RFC 8926): ver(2) optlen(6) O C rsvd(6) protocol(16) VNI(24) rsvd(8),
// then optlen*4 bytes of options.
[[gnu::noinline]] void decode_geneve(state& s, std::size_t pos, std::size_t limit) noexcept {
  if (!fits(limit, pos, 8)) {
    s.truncated(anomaly::truncated_geneve);
    return;
  }
  const std::uint8_t* p = s.base + pos;
  const std::uint16_t proto = load_be16(p + 2);
  if ((p[0] >> 6) != 0 ||
      (proto != ethertype_teb && proto != ethertype_ipv4 && proto != ethertype_ipv6)) {
    s.an.add(anomaly::unsupported_geneve);
    return;
  }
  const std::size_t hlen = 8 + static_cast<std::size_t>(p[0] & 0x3f) * 4;
  if (!fits(limit, pos, hlen)) {
    s.truncated(anomaly::truncated_geneve);
    return;
  }
  const std::size_t inner = pos + hlen;
  if (!enter(s, tunnel_type::geneve, load_be24(p + 4), inner)) {
    return;
  }
  if (proto == ethertype_teb) {
    decode_ethernet<false>(s, inner, limit, 0);
  } else if (proto == ethertype_ipv4) {
    decode_ipv4<false>(s, inner, limit);
  } else {
    decode_ipv6<false>(s, inner, limit);
  }
}

// ERSPAN type II (8 bytes) or III (12, plus 8 with the O bit), chosen by the
// version nibble. Both keep the mirrored VLAN and the session id in their
// first four bytes: ver(4) vlan(12) cos(3) en/bso(2) t(1) session(10).
[[gnu::noinline]] void decode_erspan(state& s, std::size_t pos, std::size_t limit) noexcept {
  if (!fits(limit, pos, 4)) {
    s.truncated(anomaly::truncated_erspan);
    return;
  }
  const std::uint8_t* p = s.base + pos;
  const unsigned version = p[0] >> 4;
  const std::uint16_t vlan = load_be16(p) & 0x0fff;
  const std::uint32_t session = load_be16(p + 2) & 0x03ff;
  std::size_t hlen = 8;
  tunnel_type t = tunnel_type::erspan2;
  unsigned frame_type = 0;  // 0 Ethernet, 2 IP (type III only)
  if (version == 1) {
    if (!fits(limit, pos, hlen)) {
      s.truncated(anomaly::truncated_erspan);
      return;
    }
  } else if (version == 2) {
    if (!fits(limit, pos, 12)) {
      s.truncated(anomaly::truncated_erspan);
      return;
    }
    // Byte 10-11: P(1) FT(5) HW ID(6) D(1) Gra(2) O(1).
    frame_type = (p[10] >> 2) & 0x1fu;
    hlen = (p[11] & 0x01) != 0 ? 20 : 12;  // O: 8-byte platform-specific subheader
    t = tunnel_type::erspan3;
    if (frame_type != 0 && frame_type != 2) {
      s.an.add(anomaly::unsupported_erspan);
      return;
    }
    if (!fits(limit, pos, hlen)) {
      s.truncated(anomaly::truncated_erspan);
      return;
    }
  } else {
    s.an.add(anomaly::unsupported_erspan);
    return;
  }
  const std::size_t inner = pos + hlen;
  if (!enter(s, t, session, inner)) {
    return;
  }
  if (frame_type == 0) {
    decode_ethernet<false>(s, inner, limit, vlan);
  } else if (!decode_ip_by_version<false>(s, inner, limit)) {
    s.an.add(anomaly::unsupported_erspan);
  }
}

// GRE version 0 (RFC 2784 with RFC 2890 key and sequence number).
[[gnu::noinline]] void decode_gre(state& s, std::size_t pos, std::size_t limit) noexcept {
  if (!fits(limit, pos, 4)) {
    s.truncated(anomaly::truncated_gre);
    return;
  }
  const std::uint8_t* p = s.base + pos;
  const std::uint16_t flags = load_be16(p);
  const std::uint16_t proto = load_be16(p + 2);
  // Version 1 is PPTP's enhanced GRE (PPP payloads); the routing field of
  // RFC 1701 is obsolete and of variable length.
  if ((flags & (gre_version | gre_routing)) != 0) {
    s.an.add(anomaly::unsupported_gre);
    return;
  }
  const bool checksum = (flags & gre_checksum) != 0;
  const bool key = (flags & gre_key) != 0;
  const bool sequence = (flags & gre_sequence) != 0;
  const std::size_t hlen = 4 + (checksum ? 4u : 0u) + (key ? 4u : 0u) + (sequence ? 4u : 0u);
  if (!fits(limit, pos, hlen)) {
    s.truncated(anomaly::truncated_gre);
    return;
  }
  const std::uint32_t key_value = key ? load_be32(p + (checksum ? 8 : 4)) : 0;
  gre_payload(s, proto, pos + hlen, limit, key_value, sequence, false);
}

// What a GRE header at protocol `proto` carries from `inner` on. `metadata`:
// a Cisco MetaData header was already removed (one is allowed).
void gre_payload(state& s, std::uint16_t proto, std::size_t inner, std::size_t limit, std::uint32_t key_value,
                 bool sequence, bool metadata) noexcept {
  switch (proto) {
    case ethertype_cisco_metadata:
      if (metadata) {
        break;
      }
      if (!fits(limit, inner, cisco_metadata_header)) {
        s.truncated(anomaly::truncated_cisco_metadata);
        return;
      }
      gre_payload(s, load_be16(s.base + inner), inner + cisco_metadata_header, limit, key_value, sequence, true);
      return;
    case gre_cdp:
      // A router's own CDP over the tunnel: no tunnel is entered, the PDU
      // is the payload of the router's GRE packet.
      s.off.payload = u16(inner);
      return;
    case ethertype_ipv4:
      if (enter(s, tunnel_type::gre, key_value, inner)) {
        decode_ipv4<false>(s, inner, limit);
      }
      return;
    case ethertype_ipv6:
      if (enter(s, tunnel_type::gre, key_value, inner)) {
        decode_ipv6<false>(s, inner, limit);
      }
      return;
    case ethertype_teb:
      if (enter(s, tunnel_type::gre_teb, key_value, inner)) {
        decode_ethernet<false>(s, inner, limit, 0);
      }
      return;
    case ethertype_erspan:
      if (sequence) {
        decode_erspan(s, inner, limit);
      } else if (enter(s, tunnel_type::erspan1, key_value, inner)) {
        // Type I has no ERSPAN header and no sequence number: Ethernet follows.
        decode_ethernet<false>(s, inner, limit, 0);
      }
      return;
    case ethertype_erspan3:
      decode_erspan(s, inner, limit);
      return;
    case ethertype_mpls:
    case ethertype_mpls_multicast:
      if (enter(s, tunnel_type::gre, key_value, inner)) {
        decode_mpls<false>(s, inner, limit);
      }
      return;
    default:
      // Aruba AP-to-controller tunnels: 802.11 frames under GRE protocols
      // 0x8200 to 0x8370 in steps of 0x10 (the range tshark hands to wlan).
      if (proto >= 0x8200 && proto <= 0x8370 && (proto & 0x000f) == 0) {
        decode_wlan(s, inner, limit, key_value);
        return;
      }
      break;
  }
  s.off.payload = u16(inner);
  s.an.add(anomaly::unsupported_gre);
}

// A PPP payload whose protocol field is at `pos` (1 byte when compressed:
// an odd first byte). IPv4 and IPv6 are decoded and true returned; any other
// protocol (LCP, IPCP, CHAP...) returns false without touching the record.
// A tunnel type `t` (L2TP) is entered only once IP is known to follow; a
// protocol field cut short counts `cut`.
bool decode_ppp_ip(state& s, std::size_t pos, std::size_t limit, tunnel_type t, std::uint32_t id,
                   anomaly cut) noexcept {
  if (!fits(limit, pos, 1)) {
    s.truncated(cut);
    return false;
  }
  std::uint16_t proto;
  std::size_t inner;
  if ((s.base[pos] & 0x01) != 0) {
    proto = s.base[pos];
    inner = pos + 1;
  } else {
    if (!fits(limit, pos, 2)) {
      s.truncated(cut);
      return false;
    }
    proto = load_be16(s.base + pos);
    inner = pos + 2;
  }
  if (proto != ppp_ipv4 && proto != ppp_ipv6) {
    return false;
  }
  if (t != tunnel_type::none && !enter(s, t, id, inner)) {
    return true;
  }
  if (proto == ppp_ipv4) {
    decode_ipv4<false>(s, inner, limit);
  } else {
    decode_ipv6<false>(s, inner, limit);
  }
  return true;
}

// PPPoE session stage (RFC 2516): ver/type(8) code(8) session(16) length(16),
// then a PPP protocol field and its payload; `length` covers the PPP part.
// The Ethernet header outside keeps the MACs. Not a tunnel (like MPLS).
[[gnu::noinline]] void decode_pppoe(state& s, std::size_t pos, std::size_t limit) noexcept {
  if (!fits(limit, pos, 8)) {
    clear_l3(s.rec);
    s.rec.l3 = static_cast<std::uint8_t>(l3_type::other);
    s.truncated(anomaly::truncated_pppoe);
    return;
  }
  const std::uint8_t* p = s.base + pos;
  const std::size_t end = std::min(limit, pos + 6 + load_be16(p + 4));
  s.off.payload = u16(pos + 6);
  // Only a session packet of PPPoE version 1 carrying IP leaves layer 2.
  if (p[0] != 0x11 || p[1] != 0 || !decode_ppp_ip(s, pos + 6, end, tunnel_type::none, 0, anomaly::truncated_pppoe)) {
    clear_l3(s.rec);
    s.rec.l3 = static_cast<std::uint8_t>(l3_type::other);
  }
}

// LLC/SNAP (aa aa 03, OUI 000000 or 0000f8, EtherType) after an 802.11
// header, then what the EtherType names.
void decode_snap(state& s, std::size_t pos, std::size_t limit) noexcept {
  if (!fits(limit, pos, 8)) {
    s.truncated(anomaly::truncated_llc);
    return;
  }
  const std::uint8_t* p = s.base + pos;
  if (p[0] != 0xaa || p[1] != 0xaa || p[2] != 0x03 || p[3] != 0 || p[4] != 0 ||
      (p[5] != 0 && p[5] != 0xf8)) {
    s.an.add(anomaly::unsupported_llc);
    return;
  }
  const std::uint16_t type = load_be16(p + 6);
  const std::size_t at = pos + 8;
  // No Ethernet header to snapshot: the snapshot starts at the payload.
  s.off.l2 = s.off.l3 = s.off.l4 = s.off.payload = u16(at);
  s.rec.ethertype = type;
  decode_ethertype<false>(s, type, at, limit);
}

// An IEEE 802.11 frame (no FCS) carried in GRE. Only data frames carrying
// data are decoded: frame control(2) duration(2) addr1 addr2 addr3 seq(2)
// [addr4 when ToDS and FromDS] [QoS(2)] [HT control(4) when QoS and Order],
// then LLC/SNAP. SA and DA become the record's MACs.
[[gnu::noinline]] void decode_wlan(state& s, std::size_t pos, std::size_t limit, std::uint32_t key) noexcept {
  if (!enter(s, tunnel_type::gre_wlan, key, pos)) {
    return;
  }
  if (!fits(limit, pos, 24)) {
    s.truncated(anomaly::truncated_wlan);
    return;
  }
  const std::uint8_t* p = s.base + pos;
  const unsigned version = p[0] & 0x03;
  const unsigned type = (p[0] >> 2) & 0x03;
  const unsigned subtype = p[0] >> 4;
  const std::uint8_t flags = p[1];
  const bool to_ds = (flags & 0x01) != 0;
  const bool from_ds = (flags & 0x02) != 0;
  const bool more_fragments = (flags & 0x04) != 0;
  const bool is_protected = (flags & 0x40) != 0;
  const bool order = (flags & 0x80) != 0;
  const bool qos = (subtype & 0x08) != 0;
  // Management, control and extension frames carry no IP; nor do the null
  // data subtypes (bit 2), and protected frames are encrypted.
  if (version != 0 || type != 2 || (subtype & 0x04) != 0 || is_protected) {
    s.an.add(anomaly::unsupported_wlan);
    return;
  }
  std::size_t hlen = 24 + (to_ds && from_ds ? 6u : 0u) + (qos ? 2u : 0u) + (qos && order ? 4u : 0u);
  if (!fits(limit, pos, hlen)) {
    s.truncated(anomaly::truncated_wlan);
    return;
  }
  // Address roles by (ToDS, FromDS): DA is addr1 unless ToDS; SA is addr2
  // unless FromDS, then addr3 (addr4 with both).
  const std::uint8_t* da = to_ds ? p + 16 : p + 4;
  const std::uint8_t* sa = !from_ds ? p + 10 : to_ds ? p + 24 : p + 16;
  auto& r = s.rec;
  r.dst_mac = mac_address::from_bytes(da);
  r.src_mac = mac_address::from_bytes(sa);
  r.vlan[0] = r.vlan[1] = 0;
  r.vlan_count = 0;
  s.l2_here = true;
  s.end = limit;
  // Sequence control is little-endian: the fragment number is the low
  // nibble of its first byte. A-MSDU (QoS control bit 7) and fragmented
  // MSDUs are not reassembled.
  const bool later_fragment = (p[22] & 0x0f) != 0;
  const bool amsdu = qos && (s.base[pos + 24 + (to_ds && from_ds ? 6 : 0)] & 0x80) != 0;
  s.off.payload = u16(pos + hlen);
  if (more_fragments || later_fragment || amsdu) {
    s.an.add(anomaly::unsupported_wlan);
    return;
  }
  decode_snap(s, pos + hlen, limit);
}

// L2TPv2 (RFC 2661) over UDP: flags/version(16) [length(16)] tunnel(16)
// session(16) [Ns(16) Nr(16)] [offset size(16) + padding], then PPP with an
// optional ff 03 address/control. Control messages (T bit) carry no packet.
[[gnu::noinline]] void decode_l2tp(state& s, std::size_t pos, std::size_t limit) noexcept {
  if (!fits(limit, pos, 2)) {
    s.truncated(anomaly::truncated_l2tp);
    return;
  }
  const std::uint8_t* p = s.base + pos;
  if ((p[1] & 0x0f) != 2) {
    s.an.add(anomaly::unsupported_l2tp);
    return;
  }
  if ((p[0] & 0x80) != 0) {
    return;  // control message: the UDP packet is what counts
  }
  std::size_t at = pos + 2 + ((p[0] & 0x40) != 0 ? 2u : 0u);
  if (!fits(limit, at, 4)) {
    s.truncated(anomaly::truncated_l2tp);
    return;
  }
  const std::uint32_t id = load_be32(s.base + at);  // tunnel id, session id
  at += 4;
  if ((p[0] & 0x08) != 0) {
    at += 4;
  }
  if ((p[0] & 0x02) != 0) {
    if (!fits(limit, at, 2)) {
      s.truncated(anomaly::truncated_l2tp);
      return;
    }
    at += 2 + load_be16(s.base + at);
  }
  if (fits(limit, at, 1) && s.base[at] == 0xff) {  // PPP address and control (ff 03)
    if (!fits(limit, at, 2)) {
      s.truncated(anomaly::truncated_l2tp);
      return;
    }
    at += s.base[at + 1] == 0x03 ? 2 : 0;
  }
  decode_ppp_ip(s, at, limit, tunnel_type::l2tp, id, anomaly::truncated_l2tp);
}

// IPv4 or IPv6 (protocol 4 / 41) carried directly in IP.
[[gnu::noinline]] void decode_ip_in_ip(state& s, std::size_t pos, std::size_t limit, bool v6) noexcept {
  if (!enter(s, tunnel_type::ip_in_ip, 0, pos)) {
    return;
  }
  if (v6) {
    decode_ipv6<false>(s, pos, limit);
  } else {
    decode_ipv4<false>(s, pos, limit);
  }
}

// An Ethernet pseudowire after its control word (counted as a layer, not a tunnel).
[[gnu::noinline]] void decode_pseudowire(state& s, std::size_t pos, std::size_t limit) noexcept {
  if (enter(s, tunnel_type::none, 0, pos)) {
    decode_ethernet<false>(s, pos, limit, 0);
  }
}

// `limit` is the end of the IP datagram within the capture; `ip_payload_len`
// the L4 length by the IP header (may exceed what was captured).
template <bool Top>
void decode_l4(state& s, std::size_t pos, std::size_t limit, std::size_t ip_payload_len,
               std::uint8_t proto) noexcept {
  auto& rec = s.rec;
  auto& off = s.off;
  rec.ip_proto = proto;
  off.l4 = u16(pos);
  off.payload = u16(pos);
  switch (proto) {
    case ipproto::tcp: {
      if (!fits(limit, pos, 20)) {
        s.truncated(anomaly::truncated_tcp);
        return;
      }
      const std::uint8_t* p = s.base + pos;
      const std::size_t hlen = static_cast<std::size_t>(p[12] >> 4) * 4;
      rec.src_port = load_be16(p);
      rec.dst_port = load_be16(p + 2);
      rec.tcp_flags = p[13];
      rec.tcp_window = load_be16(p + 14);
      rec.flags |= pktflag::has_ports;
      if (hlen < 20 || hlen > ip_payload_len) {
        s.an.add(anomaly::bad_tcp_header_length);
        return;
      }
      if (!fits(limit, pos, hlen)) {
        // Options cut off by the capture: no payload bytes to offer.
        s.truncated(anomaly::truncated_tcp);
        off.payload = u16(limit);
      } else {
        off.payload = u16(pos + hlen);
      }
      rec.l4_payload = u16(ip_payload_len - hlen);
      return;
    }
    case ipproto::udp: {
      if (!fits(limit, pos, 8)) {
        s.truncated(anomaly::truncated_udp);
        return;
      }
      const std::uint8_t* p = s.base + pos;
      rec.src_port = load_be16(p);
      rec.dst_port = load_be16(p + 2);
      rec.flags |= pktflag::has_ports;
      const std::size_t ulen = load_be16(p + 4);
      off.payload = u16(pos + 8);
      std::size_t udp_len = ip_payload_len;
      // UDP length 0 is legal for IPv6 jumbograms; otherwise trust the smaller.
      if (ulen != 0 && (ulen < 8 || ulen > ip_payload_len)) {
        s.an.add(anomaly::bad_udp_length);
        rec.l4_payload = u16(ip_payload_len >= 8 ? ip_payload_len - 8 : 0);
      } else {
        if (ulen != 0) {
          udp_len = ulen;
        }
        rec.l4_payload = u16(udp_len - 8);
      }
      const std::size_t udp_limit = udp_len >= 8 ? std::min(limit, pos + udp_len) : limit;
      if (rec.dst_port == s.opt.vxlan_port && s.opt.vxlan_port != 0) {
        decode_vxlan(s, pos + 8, udp_limit);
      } else if (rec.dst_port == s.opt.geneve_port && s.opt.geneve_port != 0) {
        decode_geneve(s, pos + 8, udp_limit);
      } else if ((rec.dst_port == s.opt.l2tp_port || rec.src_port == s.opt.l2tp_port) &&
                 s.opt.l2tp_port != 0) {
        decode_l2tp(s, pos + 8, udp_limit);
      }
      return;
    }
    case ipproto::icmp:
    case ipproto::icmpv6: {
      if (!fits(limit, pos, 4)) {
        s.truncated(anomaly::truncated_icmp);
        return;
      }
      rec.src_port = s.base[pos];      // type
      rec.dst_port = s.base[pos + 1];  // code
      off.payload = u16(pos + 4);
      rec.l4_payload = u16(ip_payload_len >= 4 ? ip_payload_len - 4 : 0);
      return;
    }
    case ipproto::gre:
      rec.l4_payload = u16(ip_payload_len);
      decode_gre(s, pos, limit);
      return;
    case ipproto_ipip:
      rec.l4_payload = u16(ip_payload_len);
      decode_ip_in_ip(s, pos, limit, false);
      return;
    case ipproto_ipv6:
      rec.l4_payload = u16(ip_payload_len);
      decode_ip_in_ip(s, pos, limit, true);
      return;
    default:
      rec.l4_payload = u16(ip_payload_len);
      return;
  }
}

template <bool Top>
void decode_ipv4(state& s, std::size_t pos, std::size_t limit) noexcept {
  auto& rec = s.rec;
  auto& off = s.off;
  if (rec.l3 == static_cast<std::uint8_t>(l3_type::none)) {
    // The first L3 header is named even when it turns out broken.
    off.l3 = off.l4 = off.payload = u16(pos);
    rec.l3 = static_cast<std::uint8_t>(l3_type::ipv4);
  }
  if (!fits(limit, pos, 20)) {
    s.truncated(anomaly::truncated_ipv4);
    return;
  }
  const std::uint8_t* p = s.base + pos;
  if ((p[0] >> 4) != 4) {
    s.an.add(anomaly::bad_ipv4_version);
    return;
  }
  const std::size_t ihl = static_cast<std::size_t>(p[0] & 0x0f) * 4;
  if (ihl < 20) {
    s.an.add(anomaly::bad_ipv4_header_length);
    return;
  }
  const ip_address src = ip_address::from_v4(p + 12);
  const ip_address dst = ip_address::from_v4(p + 16);
  accept_ip<Top>(s, pos, l3_type::ipv4, src, dst, p[8]);
  std::size_t total = load_be16(p + 2);
  if (total < ihl) {
    // TSO/LRO captures on the sending host can carry total length 0.
    s.an.add(anomaly::bad_ipv4_total_length);
    total = std::max(limit - pos, ihl);
  }
  const std::size_t end = pos + total;
  const std::size_t inner = std::min(limit, end);
  if (inner < end) {
    rec.flags |= pktflag::truncated;
  }
  if (Top || s.outer_ip_end == 0) {
    s.outer_ip_end = end;  // the first IP header of the frame tells its size
  }
  s.end = inner;
  if (!fits(limit, pos, ihl)) {
    // Options cut short: the addresses are known, nothing beyond.
    s.truncated(anomaly::truncated_ipv4);
    off.l4 = off.payload = u16(inner);
    return;
  }
  const std::uint16_t frag = load_be16(p + 6);
  const std::uint32_t frag_off = static_cast<std::uint32_t>(frag & 0x1fff) * 8;
  const bool more_frags = (frag & 0x2000) != 0;
  const std::uint8_t proto = p[9];
  if (frag_off != 0 || more_frags) {
    note_fragment(s, 4, src, dst, load_be16(p + 4), proto, frag_off, more_frags, pos);
  }
  if (frag_off != 0) {
    rec.flags |= pktflag::later_fragment;
    rec.ip_proto = proto;
    off.l4 = off.payload = u16(pos + ihl);
    rec.l4_payload = u16(total - ihl);
    return;
  }
  decode_l4<Top>(s, pos + ihl, inner, total - ihl, proto);
}

bool is_ipv6_extension(std::uint8_t nh) noexcept {
  return nh == 0 || nh == 43 || nh == 44 || nh == 51 || nh == 60 || nh == 135 || nh == 139 ||
         nh == 140;
}

template <bool Top>
void decode_ipv6(state& s, std::size_t pos, std::size_t limit) noexcept {
  auto& rec = s.rec;
  auto& off = s.off;
  if (rec.l3 == static_cast<std::uint8_t>(l3_type::none)) {
    off.l3 = off.l4 = off.payload = u16(pos);
    rec.l3 = static_cast<std::uint8_t>(l3_type::ipv6);
  }
  if (!fits(limit, pos, 40)) {
    s.truncated(anomaly::truncated_ipv6);
    return;
  }
  const std::uint8_t* p = s.base + pos;
  if ((p[0] >> 4) != 6) {
    s.an.add(anomaly::bad_ipv6_version);
    return;
  }
  const ip_address src = ip_address::from_v6(p + 8);
  const ip_address dst = ip_address::from_v6(p + 24);
  accept_ip<Top>(s, pos, l3_type::ipv6, src, dst, p[7]);
  std::size_t payload_len = load_be16(p + 4);
  if (payload_len == 0) {
    payload_len = limit - pos - 40;  // jumbogram or LRO capture
  }
  const std::size_t end = pos + 40 + payload_len;
  const std::size_t inner = std::min(limit, end);
  if (inner < end) {
    rec.flags |= pktflag::truncated;
  }
  if (Top || s.outer_ip_end == 0) {
    s.outer_ip_end = end;  // the first IP header of the frame tells its size
  }
  s.end = inner;
  off.l4 = off.payload = u16(pos + 40);
  std::uint8_t nh = p[6];
  std::size_t hpos = pos + 40;
  for (std::uint8_t depth = 0; is_ipv6_extension(nh); ++depth) {
    if (depth >= s.opt.max_ipv6_extensions) {
      s.an.add(anomaly::ipv6_extension_depth_exceeded);
      rec.ip_proto = nh;
      return;
    }
    if (!fits(inner, hpos, 8)) {
      s.truncated(anomaly::truncated_ipv6_extension);
      rec.ip_proto = nh;
      return;
    }
    const std::uint8_t* e = s.base + hpos;
    std::size_t elen;
    if (nh == 44) {  // fragment header: fixed 8 bytes
      const std::uint16_t fo = load_be16(e + 2);
      const std::uint32_t frag_off = fo & 0xfff8u;
      note_fragment(s, 6, src, dst, load_be32(e + 4), e[0], frag_off, (fo & 1) != 0, pos);
      if (frag_off != 0) {
        rec.flags |= pktflag::later_fragment;
        rec.ip_proto = e[0];
        off.l4 = off.payload = u16(std::min(hpos + 8, inner));
        rec.l4_payload = u16(end > hpos + 8 ? end - hpos - 8 : 0);
        return;
      }
      elen = 8;
    } else if (nh == 51) {  // AH: length in 4-byte units, minus 2
      elen = (std::size_t{e[1]} + 2) * 4;
    } else {
      elen = (std::size_t{e[1]} + 1) * 8;
    }
    nh = e[0];
    hpos += elen;
  }
  if (hpos > end) {
    s.an.add(anomaly::truncated_ipv6_extension);
    rec.ip_proto = nh;
    return;
  }
  decode_l4<Top>(s, hpos, inner, end - hpos, nh);
}

void decode_arp(state& s, std::size_t pos, std::size_t limit) noexcept {
  auto& rec = s.rec;
  // A frame whose EtherType says ARP is an ARP packet, whatever its state.
  clear_l3(rec);
  s.l3_set = true;
  s.off.l3 = s.off.l4 = s.off.payload = u16(pos);
  rec.l3 = static_cast<std::uint8_t>(l3_type::arp);
  if (!fits(limit, pos, 8)) {
    s.truncated(anomaly::truncated_arp);
    return;
  }
  const std::uint8_t* p = s.base + pos;
  const std::uint16_t htype = load_be16(p);
  const std::uint16_t ptype = load_be16(p + 2);
  if (htype != 1 || ptype != ethertype_ipv4 || p[4] != 6 || p[5] != 4) {
    s.an.add(anomaly::unsupported_arp);
    return;
  }
  if (!fits(limit, pos, 28)) {
    s.truncated(anomaly::truncated_arp);
    return;
  }
  const std::uint16_t op = load_be16(p + 6);
  rec.flags |= op == 1 ? pktflag::arp_request : op == 2 ? pktflag::arp_reply : 0;
  rec.src_mac = mac_address::from_bytes(p + 8);
  rec.src_ip = ip_address::from_v4(p + 14);
  rec.dst_ip = ip_address::from_v4(p + 24);
  s.off.l4 = s.off.payload = u16(pos + 28);
}

// An MPLS label stack (RFC 3032), then what the bottom label carries.
template <bool Top>
void decode_mpls(state& s, std::size_t pos, std::size_t limit) noexcept {
  for (std::uint8_t n = 0;; ++n) {
    if (n >= s.opt.max_mpls_labels) {
      s.an.add(anomaly::mpls_depth_exceeded);
      s.off.payload = u16(pos);
      return;
    }
    if (!fits(limit, pos, 4)) {
      s.truncated(anomaly::truncated_mpls);
      s.off.payload = u16(pos);
      return;
    }
    const bool bottom = (s.base[pos + 2] & 0x01) != 0;
    pos += 4;
    if (bottom) {
      break;
    }
  }
  s.off.payload = u16(pos);
  if (!fits(limit, pos, 1)) {
    s.truncated(anomaly::truncated_mpls);
    return;
  }
  // No protocol field: the first nibble tells IP versions from the
  // pseudowire control word (RFC 4385), which is followed by Ethernet.
  if ((s.base[pos] >> 4) == 0) {
    if (!fits(limit, pos, 4)) {
      s.truncated(anomaly::truncated_mpls);
      return;
    }
    decode_pseudowire(s, pos + 4, limit);
    return;
  }
  if (!decode_ip_by_version<Top>(s, pos, limit)) {
    s.an.add(anomaly::unsupported_mpls);
  }
}

template <bool Top>
void decode_ethertype(state& s, std::uint16_t type, std::size_t pos, std::size_t limit) noexcept {
  switch (type) {
    case ethertype_ipv4:
      decode_ipv4<Top>(s, pos, limit);
      return;
    case ethertype_ipv6:
      decode_ipv6<Top>(s, pos, limit);
      return;
    case ethertype_arp:
      decode_arp(s, pos, limit);
      return;
    case ethertype_mpls:
    case ethertype_mpls_multicast:
      decode_mpls<Top>(s, pos, limit);
      return;
    case ethertype_pppoe_session:
      decode_pppoe(s, pos, limit);
      return;
    default:
      // A non-IP frame (LLDP, CDP, 802.3 LLC...): nothing of an outer IP
      // packet describes it.
      clear_l3(s.rec);
      s.rec.l3 = static_cast<std::uint8_t>(l3_type::other);
      return;
  }
}

// Ethernet II with its 802.1Q/802.1ad tags. `erspan_vlan` (non-zero) is the
// VLAN an ERSPAN header reported for an untagged mirrored frame.
template <bool Top>
void decode_ethernet(state& s, std::size_t pos, std::size_t limit, std::uint16_t erspan_vlan) noexcept {
  auto& rec = s.rec;
  auto& off = s.off;
  if (!fits(limit, pos, ethernet_header)) {
    s.truncated(anomaly::truncated_ethernet);
    return;
  }
  const std::uint8_t* p = s.base + pos;
  off.l2 = u16(pos);
  s.l2_here = true;
  s.end = limit;
  rec.dst_mac = mac_address::from_bytes(p);
  rec.src_mac = mac_address::from_bytes(p + 6);
  if (!Top) {
    rec.vlan[0] = rec.vlan[1] = 0;
    rec.vlan_count = 0;
  }
  std::uint16_t type = load_be16(p + 12);
  std::size_t at = pos + ethernet_header;
  rec.ethertype = type;
  off.l3 = off.l4 = off.payload = u16(at);
  bool metadata = false;
  while (type == ethertype_vlan || type == ethertype_qinq || type == ethertype_qinq_old ||
         (type == ethertype_cisco_metadata && !metadata)) {
    if (type == ethertype_cisco_metadata) {
      // A tag like 802.1Q: the SGT is skipped, the EtherType after it counts.
      metadata = true;
      if (!fits(limit, at, cisco_metadata_header)) {
        s.truncated(anomaly::truncated_cisco_metadata);
        return;
      }
      type = load_be16(s.base + at + 6);
      at += cisco_metadata_header;
      rec.ethertype = type;
      off.l3 = off.l4 = off.payload = u16(at);
      continue;
    }
    if (rec.vlan_count >= s.opt.max_vlan_depth) {
      s.an.add(anomaly::vlan_depth_exceeded);
      return;
    }
    if (!fits(limit, at, 4)) {
      s.truncated(anomaly::truncated_vlan);
      return;
    }
    if (rec.vlan_count < 2) {
      rec.vlan[rec.vlan_count] = load_be16(s.base + at) & 0x0fff;
    }
    ++rec.vlan_count;
    type = load_be16(s.base + at + 2);
    at += 4;
    rec.ethertype = type;
    off.l3 = off.l4 = off.payload = u16(at);
  }
  if (rec.vlan_count == 0 && erspan_vlan != 0) {
    rec.vlan[0] = erspan_vlan;
    rec.vlan_count = 1;
  }
  decode_ethertype<Top>(s, type, at, limit);
}

// Frames of a capture whose link type is not Ethernet (decode_options::link_type).
// Returns false when the frame is shorter than its link header.
[[gnu::noinline]] bool decode_link(state& s, std::size_t caplen) noexcept {
  auto& rec = s.rec;
  switch (s.opt.link_type) {
    case link_types::raw:
    case link_types::raw_dlt12:
    case link_types::raw_dlt14:
      if (caplen == 0) {
        s.an.add(anomaly::truncated_link_header);
        return false;
      }
      if (!decode_ip_by_version<false>(s, 0, caplen)) {
        s.an.add(anomaly::bad_raw_ip_version);
        rec.l3 = static_cast<std::uint8_t>(l3_type::other);
      }
      return true;
    case link_types::ipv4:
      decode_ipv4<false>(s, 0, caplen);
      return true;
    case link_types::ipv6:
      decode_ipv6<false>(s, 0, caplen);
      return true;
    case link_types::linux_sll:
    case link_types::linux_sll2: {
      // SLL: packet type(16) ARPHRD(16) address length(16) address(64) protocol(16).
      // SLL2: protocol(16) reserved(16) ifindex(32) ARPHRD(16) packet type(8)
      //       address length(8) address(64).
      const bool v2 = s.opt.link_type == link_types::linux_sll2;
      const std::size_t hlen = v2 ? 20 : 16;
      if (caplen < hlen) {
        s.an.add(anomaly::truncated_link_header);
        return false;
      }
      const std::uint8_t* p = s.base;
      const std::uint16_t arphrd = load_be16(p + (v2 ? 8 : 2));
      const std::size_t alen = v2 ? p[11] : load_be16(p + 4);
      const std::uint16_t proto = load_be16(p + (v2 ? 0 : 14));
      if (arphrd == 1 && alen == 6) {  // ARPHRD_ETHER: the sender's MAC
        rec.src_mac = mac_address::from_bytes(p + (v2 ? 12 : 6));
      }
      s.end = caplen;
      s.off.l2 = s.off.l3 = s.off.l4 = s.off.payload = u16(hlen);
      rec.ethertype = proto;
      if (proto < 0x0600) {
        // Not an EtherType: 802.2 LLC, Novell 802.3, CAN... (layer 2 only).
        rec.l3 = static_cast<std::uint8_t>(l3_type::other);
        return true;
      }
      decode_ethertype<false>(s, proto, hlen, caplen);
      return true;
    }
    default:
      // The supervisor refuses such files; a frame here has nothing we read.
      s.an.add(anomaly::unsupported_link_type);
      return false;
  }
}

// A record cleared with eight 16-byte stores. `rec = packet_record{}` became
// `rep stosq`, whose start-up cost made it a tenth of the decoder's time
// (perf, 30-copy benchmark).
inline void clear_record(packet_record& rec) noexcept {
#if defined(__SSE2__)
  // Written out: GCC turns a loop of these back into `rep stosq`.
  static_assert(sizeof(packet_record) == 128);
  auto* p = reinterpret_cast<__m128i*>(&rec);
  const __m128i z = _mm_setzero_si128();
  _mm_storeu_si128(p, z);
  _mm_storeu_si128(p + 1, z);
  _mm_storeu_si128(p + 2, z);
  _mm_storeu_si128(p + 3, z);
  _mm_storeu_si128(p + 4, z);
  _mm_storeu_si128(p + 5, z);
  _mm_storeu_si128(p + 6, z);
  _mm_storeu_si128(p + 7, z);
#else
  rec = packet_record{};
#endif
}

}  // namespace

[[gnu::flatten]] bool decode_frame(bytes frame, std::uint32_t wire_len, packet_record& rec, layer_offsets& off,
                                   fragment_info& frag, anomaly_counters& an, const decode_options& opt) noexcept {
  clear_record(rec);
  frag = fragment_info{};
  const std::size_t caplen = frame.size();
  rec.wire_len = std::max<std::uint32_t>(wire_len, static_cast<std::uint32_t>(caplen));
  off = layer_offsets{};
  off.end = u16(caplen);
  state s{frame.data(), rec, off, frag, an, opt, caplen};
  if (opt.link_type != link_types::ethernet) [[unlikely]] {
    if (!decode_link(s, caplen)) {
      off.l3 = off.l4 = off.payload = off.end;
      return false;
    }
  } else {
    if (caplen < ethernet_header) {
      an.add(anomaly::truncated_ethernet);
      off.l3 = off.l4 = off.payload = off.end;
      return false;
    }
    decode_ethernet<true>(s, 0, caplen, 0);
  }
  if (s.outer_ip_end > rec.wire_len) {
    // A capture cut short still tells the real frame size through the outer
    // IP length (the inner one may be a truncated mirror's).
    rec.wire_len = static_cast<std::uint32_t>(s.outer_ip_end);
  }
  // Ethernet padding is not payload; offsets never point past the bytes we have.
  off.end = u16(std::min(s.end, caplen));
  off.l2 = std::min(off.l2, off.end);
  off.l3 = std::min(off.l3, off.end);
  off.l4 = std::min(off.l4, off.end);
  off.payload = std::min(off.payload, off.end);
  rec.flow_hash = symmetric_flow_hash(rec);
  return true;
}

bool decode_frame(bytes frame, std::uint32_t wire_len, packet_record& rec, layer_offsets& off,
                  anomaly_counters& an, const decode_options& opt) noexcept {
  fragment_info frag;
  return decode_frame(frame, wire_len, rec, off, frag, an, opt);
}

namespace {
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  // Finaliser from SplitMix64: full avalanche, cheap.
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}
std::uint64_t endpoint_hash(const ip_address& ip, std::uint16_t port) noexcept {
  std::uint64_t a;
  std::uint64_t b;
  std::memcpy(&a, ip.b.data(), 8);
  std::memcpy(&b, ip.b.data() + 8, 8);
  return mix64(a ^ mix64(b ^ port));
}
}  // namespace

std::uint32_t symmetric_flow_hash(const packet_record& rec) noexcept {
  const bool ports = (rec.flags & pktflag::has_ports) != 0 &&
                     (rec.ip_proto == ipproto::tcp || rec.ip_proto == ipproto::udp ||
                      rec.ip_proto == ipproto::sctp);
  const std::uint64_t a = endpoint_hash(rec.src_ip, ports ? rec.src_port : 0);
  const std::uint64_t b = endpoint_hash(rec.dst_ip, ports ? rec.dst_port : 0);
  // Addition is commutative, so both directions agree; mixing afterwards
  // spreads the result over all 32 bits.
  const std::uint64_t h = mix64(a + b + rec.ip_proto);
  return static_cast<std::uint32_t>(h ^ (h >> 32));
}

}  // namespace tapsense::net
