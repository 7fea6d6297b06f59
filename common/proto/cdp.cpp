#include "common/proto/cdp.h"

#include <type_traits>

#include "common/net/bytes.h"

namespace tapsense::proto {

static_assert(std::is_trivially_copyable_v<cdp_frame>);

namespace {

using net::bytes;
using net::fits;

constexpr std::uint16_t ethertype_vlan = 0x8100;
constexpr std::uint16_t ethertype_qinq = 0x88a8;
constexpr std::uint16_t max_8023_length = 1500;
constexpr int max_tags = 2;
// LLC: DSAP AA, SSAP AA, UI; SNAP: OUI 00-00-0c (Cisco), PID 0x2000 (CDP).
constexpr std::uint8_t llc_snap_cdp[8] = {0xaa, 0xaa, 0x03, 0x00, 0x00, 0x0c, 0x20, 0x00};
// The 802.2 protocol field of an IPv6 address entry.
constexpr std::uint8_t snap_ipv6[8] = {0xaa, 0xaa, 0x03, 0x00, 0x00, 0x00, 0x86, 0xdd};
constexpr std::uint8_t nlpid_ip = 0xcc;

namespace tlv {
constexpr std::uint16_t device_id = 0x0001;
constexpr std::uint16_t addresses = 0x0002;
constexpr std::uint16_t port_id = 0x0003;
constexpr std::uint16_t capabilities = 0x0004;
constexpr std::uint16_t software_version = 0x0005;
constexpr std::uint16_t platform = 0x0006;
constexpr std::uint16_t vtp_domain = 0x0009;
constexpr std::uint16_t native_vlan = 0x000a;
constexpr std::uint16_t duplex = 0x000b;
constexpr std::uint16_t voice_vlan_reply = 0x000e;
constexpr std::uint16_t system_name = 0x0014;
constexpr std::uint16_t management_addresses = 0x0016;
}  // namespace tlv

void note(cdp_frame& f, cdp_error e) noexcept {
  if (f.error == cdp_error::none) {
    f.error = e;
  }
}

template <std::size_t N>
void set_text(cdp_text<N>& t, bytes v, bool cut_at_nul) noexcept {
  t = cdp_text<N>{};
  t.present = true;
  for (const std::uint8_t c : v) {
    if (cut_at_nul && c == 0) {
      break;
    }
    if (t.n == N) {
      t.truncated = true;
      break;
    }
    t.b[t.n] = static_cast<char>(c);
    ++t.n;
  }
}

bool equal(bytes v, const std::uint8_t (&ref)[8]) noexcept {
  if (v.size() != 8) {
    return false;
  }
  for (std::size_t i = 0; i < 8; ++i) {
    if (v[i] != ref[i]) {
      return false;
    }
  }
  return true;
}

// count (4), then entries: protocol type (1), protocol length (1),
// protocol, address length (2), address.
void read_addresses(cdp_frame& f, bytes v, std::array<cdp_address, 4>& out,
                    std::uint8_t& count) noexcept {
  if (v.size() < 4) {
    note(f, cdp_error::bad_tlv_length);
    return;
  }
  const std::uint32_t n = net::load_be32(v.data());
  std::size_t at = 4;
  for (std::uint32_t i = 0; i < n; ++i) {
    if (!fits(v.size(), at, 2)) {
      note(f, cdp_error::bad_address);
      return;
    }
    const std::uint8_t ptype = v[at];
    const std::size_t plen = v[at + 1];
    if (!fits(v.size(), at + 2, plen + 2)) {
      note(f, cdp_error::bad_address);
      return;
    }
    const bytes proto = v.subspan(at + 2, plen);
    const std::size_t alen = net::load_be16(v.data() + at + 2 + plen);
    if (!fits(v.size(), at + 4 + plen, alen)) {
      note(f, cdp_error::bad_address);
      return;
    }
    const bytes addr = v.subspan(at + 4 + plen, alen);
    at += 4 + plen + alen;
    if (count == out.size()) {
      note(f, cdp_error::list_overflow);
      continue;
    }
    cdp_address& a = out[count];
    a = cdp_address{};
    a.protocol_type = ptype;
    a.len = static_cast<std::uint8_t>(std::min<std::size_t>(alen, a.raw.size()));
    for (std::size_t k = 0; k < a.len; ++k) {
      a.raw[k] = addr[k];
    }
    if (ptype == 1 && plen == 1 && proto[0] == nlpid_ip && alen == 4) {
      a.is_ip = true;
      a.ip = net::ip_address::from_v4(addr.data());
    } else if (ptype == 2 && equal(proto, snap_ipv6) && alen == 16) {
      a.is_ip = true;
      a.ip = net::ip_address::from_v6(addr.data());
    }
    ++count;
  }
}

fact make_fact(field_name field, std::string value, std::uint8_t confidence) {
  fact f;
  f.about = subject::sender;
  f.source = "cdp";
  f.field = field;
  f.value = std::move(value);
  f.confidence = confidence;
  return f;
}

}  // namespace

const char* cdp_error_name(cdp_error e) noexcept {
  switch (e) {
#define X(name)         \
  case cdp_error::name: \
    return #name;
    TAPSENSE_CDP_ERRORS(X)
#undef X
    case cdp_error::count_:
      break;
  }
  return "unknown";
}

namespace {
cdp_error parse_body(bytes pdu, std::size_t off, cdp_frame& out) noexcept;
}  // namespace

cdp_error parse_cdp(std::span<const std::uint8_t> in, cdp_frame& out) noexcept {
  out = cdp_frame{};
  if (in.size() < 14) {
    out.error = cdp_error::truncated_header;
    return out.error;
  }
  out.dst = net::mac_address::from_bytes(in.data());
  out.src = net::mac_address::from_bytes(in.data() + 6);
  std::size_t off = 12;
  std::uint16_t type = net::load_be16(in.data() + off);
  for (int i = 0; i < max_tags && (type == ethertype_vlan || type == ethertype_qinq); ++i) {
    if (!fits(in.size(), off, 6)) {
      out.error = cdp_error::truncated_header;
      return out.error;
    }
    off += 4;
    type = net::load_be16(in.data() + off);
  }
  if (type > max_8023_length) {
    out.error = cdp_error::not_cdp;
    return out.error;
  }
  off += 2;
  // LLC/SNAP (8) and the CDP header (4) must fit the 802.3 length.
  if (type < 12) {
    out.error = cdp_error::not_cdp;
    return out.error;
  }
  // The 802.3 length bounds the PDU; a capture cut short bounds it further.
  const bytes pdu = in.first(std::min(in.size(), off + type));
  if (!fits(pdu.size(), off, 8)) {
    out.error = cdp_error::truncated_header;
    return out.error;
  }
  for (std::size_t i = 0; i < 8; ++i) {
    if (pdu[off + i] != llc_snap_cdp[i]) {
      out.error = cdp_error::not_cdp;
      return out.error;
    }
  }
  off += 8;
  return parse_body(pdu, off, out);
}

cdp_error parse_cdp_pdu(std::span<const std::uint8_t> pdu, cdp_frame& out) noexcept {
  out = cdp_frame{};
  return parse_body(pdu, 0, out);
}

namespace {
// The CDP header (version, TTL, checksum) at `off` and the TLVs after it,
// up to the end of `pdu`.
cdp_error parse_body(bytes pdu, std::size_t off, cdp_frame& out) noexcept {
  if (!fits(pdu.size(), off, 4)) {
    out.error = cdp_error::truncated_header;
    return out.error;
  }
  out.version = pdu[off];
  out.ttl = pdu[off + 1];
  out.checksum = net::load_be16(pdu.data() + off + 2);
  off += 4;
  while (off < pdu.size()) {
    if (!fits(pdu.size(), off, 4)) {
      note(out, cdp_error::truncated_tlv);
      return out.error;
    }
    const std::uint16_t t = net::load_be16(pdu.data() + off);
    const std::size_t len = net::load_be16(pdu.data() + off + 2);
    if (len < 4) {
      // The length covers the 4-byte header: anything less cannot advance.
      note(out, cdp_error::bad_tlv_length);
      return out.error;
    }
    if (!fits(pdu.size(), off, len)) {
      note(out, cdp_error::truncated_tlv);
      return out.error;
    }
    const bytes v = pdu.subspan(off + 4, len - 4);
    off += len;
    ++out.tlv_count;
    switch (t) {
      case tlv::device_id:
        set_text(out.device_id, v, false);
        break;
      case tlv::addresses:
        read_addresses(out, v, out.addresses, out.address_count);
        break;
      case tlv::port_id:
        set_text(out.port_id, v, false);
        break;
      case tlv::capabilities:
        if (v.size() != 4) {
          note(out, cdp_error::bad_tlv_length);
        } else {
          out.has_capabilities = true;
          out.capabilities = net::load_be32(v.data());
        }
        break;
      case tlv::software_version:
        set_text(out.software_version, v, true);
        break;
      case tlv::platform:
        set_text(out.platform, v, false);
        break;
      case tlv::vtp_domain:
        set_text(out.vtp_domain, v, false);
        break;
      case tlv::native_vlan:
        if (v.size() != 2) {
          note(out, cdp_error::bad_tlv_length);
        } else {
          out.has_native_vlan = true;
          out.native_vlan = net::load_be16(v.data());
        }
        break;
      case tlv::duplex:
        if (v.size() != 1) {
          note(out, cdp_error::bad_tlv_length);
        } else {
          out.has_duplex = true;
          out.full_duplex = v[0] != 0;
        }
        break;
      case tlv::voice_vlan_reply:
        // data (1) then VLAN (2)
        if (v.size() < 3) {
          note(out, cdp_error::bad_tlv_length);
        } else {
          out.has_voice_vlan = true;
          out.voice_vlan = net::load_be16(v.data() + 1);
        }
        break;
      case tlv::system_name:
        set_text(out.system_name, v, false);
        break;
      case tlv::management_addresses:
        read_addresses(out, v, out.mgmt_addresses, out.mgmt_address_count);
        break;
      default:
        break;
    }
  }
  return out.error;
}
}  // namespace

std::string cdp_capabilities_text(std::uint32_t bits) {
  static constexpr const char* names[] = {"router",     "trans_bridge",     "source_route_bridge",
                                          "switch",     "host",             "igmp",
                                          "repeater",   "voip_phone",       "remotely_managed",
                                          "cvta_stp_camera", "two_port_mac_relay"};
  std::string s;
  for (unsigned i = 0; i < 32; ++i) {
    if ((bits & (1u << i)) == 0) {
      continue;
    }
    if (!s.empty()) {
      s += ',';
    }
    s += i < std::size(names) ? std::string(names[i]) : "bit" + std::to_string(i);
  }
  return s;
}

void cdp_facts(const cdp_frame& f, const packet_view& pkt, fact_sink& sink) {
  if (f.error == cdp_error::truncated_header || f.error == cdp_error::not_cdp) {
    return;
  }
  auto text = [&sink](field_name field, std::string_view v, bool present,
                      std::uint8_t conf) {
    if (present && !v.empty()) {
      sink.add(make_fact(field, printable(v), conf));
    }
  };
  text("device_id", f.device_id.view(), f.device_id.present, 100);
  text("hostname", f.device_id.view(), f.device_id.present, 80);
  text("port_id", f.port_id.view(), f.port_id.present, 100);
  text("platform", f.platform.view(), f.platform.present, 100);
  text("model", f.platform.view(), f.platform.present, 80);
  if (f.software_version.present) {
    // IOS writes several lines; keep them as one readable value.
    std::string joined;
    for (const char c : f.software_version.view()) {
      if (c == '\r') {
        continue;
      }
      joined += c == '\n' ? ' ' : c;
    }
    text("software_version", joined, true, 100);
  }
  text("vtp_domain", f.vtp_domain.view(), f.vtp_domain.present, 100);
  text("system_name", f.system_name.view(), f.system_name.present, 100);
  if (f.has_capabilities) {
    sink.add(make_fact("capabilities", cdp_capabilities_text(f.capabilities), 100));
  }
  if (f.has_native_vlan) {
    sink.add(make_fact("native_vlan", std::to_string(f.native_vlan), 100));
  }
  const net::mac_address sender = pkt.src_mac.is_zero() ? f.src : pkt.src_mac;
  auto addresses = [&](field_name field, const std::array<cdp_address, 4>& list,
                       std::uint8_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      // An unconfigured switch announces 0.0.0.0: no address, the MAC stays its key.
      if (!list[i].is_ip || list[i].ip.is_unspecified()) {
        continue;
      }
      sink.add(make_fact(field, list[i].ip.to_string(), 100));
      if (sender.is_zero()) {
        continue;  // no frame of its own (carried in GRE): no MAC to bind
      }
      fact bind = make_fact("mac", sender.to_string(), 90);
      bind.about = subject::ip;
      bind.ip = list[i].ip;
      bind.mac = sender;
      sink.add(std::move(bind));
    }
  };
  addresses("address", f.addresses, f.address_count);
  addresses("management_address", f.mgmt_addresses, f.mgmt_address_count);
}

}  // namespace tapsense::proto
