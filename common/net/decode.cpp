#include "common/net/decode.h"

#include <algorithm>
#include <cstring>

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

struct cursor {
  const std::uint8_t* base;
  std::size_t size;  // bytes we may read (captured, possibly trimmed to IP end)
};

std::uint16_t u16(std::size_t v) noexcept { return static_cast<std::uint16_t>(std::min<std::size_t>(v, 0xffff)); }

void decode_l4(cursor c, std::size_t pos, std::size_t ip_payload_len, std::uint8_t proto,
               packet_record& rec, layer_offsets& off, anomaly_counters& an) noexcept {
  rec.ip_proto = proto;
  off.l4 = u16(pos);
  off.payload = u16(pos);
  switch (proto) {
    case ipproto::tcp: {
      if (!fits(c.size, pos, 20)) {
        an.add(anomaly::truncated_tcp);
        rec.flags |= pktflag::truncated;
        return;
      }
      const std::uint8_t* p = c.base + pos;
      const std::size_t hlen = static_cast<std::size_t>(p[12] >> 4) * 4;
      rec.src_port = load_be16(p);
      rec.dst_port = load_be16(p + 2);
      rec.tcp_flags = p[13];
      rec.tcp_window = load_be16(p + 14);
      rec.flags |= pktflag::has_ports;
      if (hlen < 20 || hlen > ip_payload_len) {
        an.add(anomaly::bad_tcp_header_length);
        return;
      }
      if (!fits(c.size, pos, hlen)) {
        // Options cut off by the capture: no payload bytes to offer.
        an.add(anomaly::truncated_tcp);
        rec.flags |= pktflag::truncated;
        off.payload = u16(c.size);
      } else {
        off.payload = u16(pos + hlen);
      }
      rec.l4_payload = u16(ip_payload_len - hlen);
      return;
    }
    case ipproto::udp: {
      if (!fits(c.size, pos, 8)) {
        an.add(anomaly::truncated_udp);
        rec.flags |= pktflag::truncated;
        return;
      }
      const std::uint8_t* p = c.base + pos;
      rec.src_port = load_be16(p);
      rec.dst_port = load_be16(p + 2);
      rec.flags |= pktflag::has_ports;
      const std::size_t ulen = load_be16(p + 4);
      off.payload = u16(pos + 8);
      // UDP length 0 is legal for IPv6 jumbograms; otherwise trust the smaller.
      if (ulen != 0 && (ulen < 8 || ulen > ip_payload_len)) {
        an.add(anomaly::bad_udp_length);
        rec.l4_payload = u16(ip_payload_len >= 8 ? ip_payload_len - 8 : 0);
        return;
      }
      rec.l4_payload = u16((ulen == 0 ? ip_payload_len : ulen) - 8);
      return;
    }
    case ipproto::icmp:
    case ipproto::icmpv6: {
      if (!fits(c.size, pos, 4)) {
        an.add(anomaly::truncated_icmp);
        rec.flags |= pktflag::truncated;
        return;
      }
      rec.src_port = c.base[pos];      // type
      rec.dst_port = c.base[pos + 1];  // code
      off.payload = u16(pos + 4);
      rec.l4_payload = u16(ip_payload_len >= 4 ? ip_payload_len - 4 : 0);
      return;
    }
    default:
      rec.l4_payload = u16(ip_payload_len);
      return;
  }
}

// Returns the IP end offset (for trimming Ethernet padding), or 0 on failure.
std::size_t decode_ipv4(cursor c, std::size_t pos, packet_record& rec, layer_offsets& off,
                        anomaly_counters& an) noexcept {
  off.l3 = u16(pos);
  rec.l3 = static_cast<std::uint8_t>(l3_type::ipv4);
  if (!fits(c.size, pos, 20)) {
    an.add(anomaly::truncated_ipv4);
    rec.flags |= pktflag::truncated;
    return 0;
  }
  const std::uint8_t* p = c.base + pos;
  if ((p[0] >> 4) != 4) {
    an.add(anomaly::bad_ipv4_version);
    return 0;
  }
  const std::size_t ihl = static_cast<std::size_t>(p[0] & 0x0f) * 4;
  std::size_t total = load_be16(p + 2);
  if (ihl < 20) {
    an.add(anomaly::bad_ipv4_header_length);
    return 0;
  }
  rec.ttl = p[8];
  rec.src_ip = ip_address::from_v4(p + 12);
  rec.dst_ip = ip_address::from_v4(p + 16);
  if (total < ihl) {
    // TSO/LRO captures on the sending host can carry total length 0.
    an.add(anomaly::bad_ipv4_total_length);
    total = c.size - pos;
  }
  if (!fits(c.size, pos, ihl)) {
    an.add(anomaly::truncated_ipv4);
    rec.flags |= pktflag::truncated;
    return 0;
  }
  const std::uint16_t frag = load_be16(p + 6);
  const std::uint16_t frag_off = frag & 0x1fff;
  const bool more_frags = (frag & 0x2000) != 0;
  const std::uint8_t proto = p[9];
  if (frag_off != 0 || more_frags) {
    rec.flags |= pktflag::fragment;
  }
  const std::size_t end = pos + total;
  cursor inner{c.base, std::min(c.size, end)};
  if (inner.size < end) {
    rec.flags |= pktflag::truncated;
  }
  if (frag_off != 0) {
    rec.flags |= pktflag::later_fragment;
    rec.ip_proto = proto;
    off.l4 = off.payload = u16(pos + ihl);
    rec.l4_payload = u16(total - ihl);
    return end;
  }
  decode_l4(inner, pos + ihl, total - ihl, proto, rec, off, an);
  return end;
}

bool is_ipv6_extension(std::uint8_t nh) noexcept {
  return nh == 0 || nh == 43 || nh == 44 || nh == 51 || nh == 60 || nh == 135 || nh == 139 ||
         nh == 140;
}

std::size_t decode_ipv6(cursor c, std::size_t pos, packet_record& rec, layer_offsets& off,
                        anomaly_counters& an, const decode_options& opt) noexcept {
  off.l3 = u16(pos);
  rec.l3 = static_cast<std::uint8_t>(l3_type::ipv6);
  if (!fits(c.size, pos, 40)) {
    an.add(anomaly::truncated_ipv6);
    rec.flags |= pktflag::truncated;
    return 0;
  }
  const std::uint8_t* p = c.base + pos;
  if ((p[0] >> 4) != 6) {
    an.add(anomaly::bad_ipv6_version);
    return 0;
  }
  std::size_t payload_len = load_be16(p + 4);
  if (payload_len == 0) {
    payload_len = c.size - pos - 40;  // jumbogram or LRO capture
  }
  rec.ttl = p[7];
  rec.src_ip = ip_address::from_v6(p + 8);
  rec.dst_ip = ip_address::from_v6(p + 24);
  const std::size_t end = pos + 40 + payload_len;
  cursor inner{c.base, std::min(c.size, end)};
  if (inner.size < end) {
    rec.flags |= pktflag::truncated;
  }
  std::uint8_t nh = p[6];
  std::size_t hpos = pos + 40;
  for (std::uint8_t depth = 0; is_ipv6_extension(nh); ++depth) {
    if (depth >= opt.max_ipv6_extensions) {
      an.add(anomaly::ipv6_extension_depth_exceeded);
      rec.ip_proto = nh;
      return end;
    }
    if (!fits(inner.size, hpos, 8)) {
      an.add(anomaly::truncated_ipv6_extension);
      rec.ip_proto = nh;
      rec.flags |= pktflag::truncated;
      return end;
    }
    const std::uint8_t* e = c.base + hpos;
    std::size_t elen;
    if (nh == 44) {  // fragment header: fixed 8 bytes
      const std::uint16_t fo = load_be16(e + 2);
      rec.flags |= pktflag::fragment;
      if ((fo & 0xfff8) != 0) {
        rec.flags |= pktflag::later_fragment;
        rec.ip_proto = e[0];
        off.l4 = off.payload = u16(hpos + 8);
        rec.l4_payload = u16(end > hpos + 8 ? end - hpos - 8 : 0);
        return end;
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
    an.add(anomaly::truncated_ipv6_extension);
    return end;
  }
  decode_l4(inner, hpos, end - hpos, nh, rec, off, an);
  return end;
}

void decode_arp(cursor c, std::size_t pos, packet_record& rec, layer_offsets& off,
                anomaly_counters& an) noexcept {
  off.l3 = u16(pos);
  rec.l3 = static_cast<std::uint8_t>(l3_type::arp);
  if (!fits(c.size, pos, 8)) {
    an.add(anomaly::truncated_arp);
    rec.flags |= pktflag::truncated;
    return;
  }
  const std::uint8_t* p = c.base + pos;
  const std::uint16_t htype = load_be16(p);
  const std::uint16_t ptype = load_be16(p + 2);
  if (htype != 1 || ptype != ethertype_ipv4 || p[4] != 6 || p[5] != 4) {
    an.add(anomaly::unsupported_arp);
    return;
  }
  if (!fits(c.size, pos, 28)) {
    an.add(anomaly::truncated_arp);
    rec.flags |= pktflag::truncated;
    return;
  }
  const std::uint16_t op = load_be16(p + 6);
  rec.flags |= op == 1 ? pktflag::arp_request : op == 2 ? pktflag::arp_reply : 0;
  rec.src_mac = mac_address::from_bytes(p + 8);
  rec.src_ip = ip_address::from_v4(p + 14);
  rec.dst_ip = ip_address::from_v4(p + 24);
  off.l4 = off.payload = u16(pos + 28);
}

}  // namespace

bool decode_frame(bytes frame, std::uint32_t wire_len, packet_record& rec, layer_offsets& off,
                  anomaly_counters& an, const decode_options& opt) noexcept {
  rec = packet_record{};
  const std::size_t caplen = frame.size();
  rec.wire_len = std::max<std::uint32_t>(wire_len, static_cast<std::uint32_t>(caplen));
  off = layer_offsets{};
  off.end = u16(caplen);
  cursor c{frame.data(), caplen};
  if (caplen < 14) {
    an.add(anomaly::truncated_ethernet);
    off.l3 = off.l4 = off.payload = off.end;
    return false;
  }
  rec.dst_mac = mac_address::from_bytes(c.base);
  rec.src_mac = mac_address::from_bytes(c.base + 6);
  std::uint16_t ethertype = load_be16(c.base + 12);
  std::size_t pos = 14;
  while (ethertype == ethertype_vlan || ethertype == ethertype_qinq ||
         ethertype == ethertype_qinq_old) {
    if (rec.vlan_count >= opt.max_vlan_depth) {
      an.add(anomaly::vlan_depth_exceeded);
      off.l3 = off.l4 = off.payload = u16(pos);
      return true;
    }
    if (!fits(caplen, pos, 4)) {
      an.add(anomaly::truncated_vlan);
      rec.flags |= pktflag::truncated;
      off.l3 = off.l4 = off.payload = u16(pos);
      return true;
    }
    if (rec.vlan_count < 2) {
      rec.vlan[rec.vlan_count] = load_be16(c.base + pos) & 0x0fff;
    }
    ++rec.vlan_count;
    ethertype = load_be16(c.base + pos + 2);
    pos += 4;
  }
  off.l3 = off.l4 = off.payload = u16(pos);
  rec.ethertype = ethertype;
  std::size_t ip_end = 0;
  switch (ethertype) {
    case ethertype_ipv4:
      ip_end = decode_ipv4(c, pos, rec, off, an);
      break;
    case ethertype_ipv6:
      ip_end = decode_ipv6(c, pos, rec, off, an, opt);
      break;
    case ethertype_arp:
      decode_arp(c, pos, rec, off, an);
      break;
    default:
      rec.l3 = static_cast<std::uint8_t>(l3_type::other);
      break;
  }
  if (ip_end != 0) {
    // Ethernet padding is not payload; a cut-short capture still tells the
    // real frame size through the IP length.
    if (ip_end < caplen) {
      off.end = u16(ip_end);
    } else if (ip_end > rec.wire_len) {
      rec.wire_len = static_cast<std::uint32_t>(ip_end);
    }
  }
  // Offsets never point past the bytes we have.
  off.l3 = std::min(off.l3, off.end);
  off.l4 = std::min(off.l4, off.end);
  off.payload = std::min(off.payload, off.end);
  rec.flow_hash = symmetric_flow_hash(rec);
  return true;
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
