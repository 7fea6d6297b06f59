#include "common/proto/lldp.h"

#include <type_traits>

#include "common/net/bytes.h"

namespace tapsense::proto {

static_assert(std::is_trivially_copyable_v<lldp_frame>);

namespace {

using net::bytes;
using net::fits;

constexpr std::uint16_t ethertype_lldp = 0x88cc;
constexpr std::uint16_t ethertype_vlan = 0x8100;
constexpr std::uint16_t ethertype_qinq = 0x88a8;
constexpr int max_tags = 2;

namespace tlv {
constexpr std::uint8_t end = 0;
constexpr std::uint8_t chassis_id = 1;
constexpr std::uint8_t port_id = 2;
constexpr std::uint8_t ttl = 3;
constexpr std::uint8_t port_description = 4;
constexpr std::uint8_t system_name = 5;
constexpr std::uint8_t system_description = 6;
constexpr std::uint8_t capabilities = 7;
constexpr std::uint8_t management_address = 8;
constexpr std::uint8_t org_specific = 127;
}  // namespace tlv

constexpr std::uint32_t oui_ieee_8021 = 0x0080c2;
constexpr std::uint32_t oui_ieee_8023 = 0x00120f;
constexpr std::uint32_t oui_tia_med = 0x0012bb;
constexpr std::uint32_t oui_iana = 0x00005e;

void note(lldp_frame& f, lldp_error e) noexcept {
  if (f.error == lldp_error::none) {
    f.error = e;
  }
}

void set_text(lldp_text& t, bytes v, bool cut_at_nul) noexcept {
  t = lldp_text{};
  t.present = true;
  for (const std::uint8_t c : v) {
    if (cut_at_nul && c == 0) {
      break;
    }
    if (t.n == t.b.size()) {
      t.truncated = true;
      break;
    }
    t.b[t.n] = static_cast<char>(c);
    ++t.n;
  }
}

void set_id(lldp_id& id, bytes v) noexcept {
  // Caller checked v.size() >= 2 (subtype + at least one byte); the TLV
  // length field allows up to 511, the id is at most 255 (8.5.2.1).
  id = lldp_id{};
  id.present = true;
  id.subtype = v[0];
  const std::size_t n = std::min<std::size_t>(v.size() - 1, id.raw.size());
  for (std::size_t i = 0; i < n; ++i) {
    id.raw[i] = v[1 + i];
  }
  id.len = static_cast<std::uint8_t>(n);
}

void management_address(lldp_frame& f, bytes v) noexcept {
  // addr string length (1 + address), family, address, interface subtype,
  // interface number (4), OID length, OID (8.5.9).
  if (v.size() < 9) {
    note(f, lldp_error::bad_tlv_length);
    return;
  }
  const std::size_t str_len = v[0];
  if (str_len < 2 || str_len > 32 || !fits(v.size(), 1, str_len + 6)) {
    note(f, lldp_error::bad_tlv_length);
    return;
  }
  if (f.mgmt_count == f.mgmt.size()) {
    note(f, lldp_error::list_overflow);
    return;
  }
  lldp_mgmt_address& m = f.mgmt[f.mgmt_count];
  m = lldp_mgmt_address{};
  m.family = v[1];
  m.len = static_cast<std::uint8_t>(str_len - 1);
  for (std::size_t i = 0; i < m.len; ++i) {
    m.raw[i] = v[2 + i];
  }
  if (m.family == 1 && m.len == 4) {
    m.is_ip = true;
    m.ip = net::ip_address::from_v4(m.raw.data());
  } else if (m.family == 2 && m.len == 16) {
    m.is_ip = true;
    m.ip = net::ip_address::from_v6(m.raw.data());
  } else if (m.family == 6 && m.len == 6) {
    m.is_mac = true;
    m.mac = net::mac_address::from_bytes(m.raw.data());
  }
  m.if_subtype = v[1 + str_len];
  m.if_number = net::load_be32(v.data() + 2 + str_len);
  ++f.mgmt_count;
}

void org_specific(lldp_frame& f, bytes v) noexcept {
  if (v.size() < 4) {
    note(f, lldp_error::bad_tlv_length);
    return;
  }
  const std::uint32_t oui = net::load_be24(v.data());
  const std::uint8_t sub = v[3];
  const bytes info = v.subspan(4);
  auto need = [&f, &info](std::size_t n) {
    if (info.size() < n) {
      note(f, lldp_error::bad_tlv_length);
      return false;
    }
    return true;
  };
  switch (oui) {
    case oui_ieee_8021:
      if (sub == 1 && need(2)) {  // Port VLAN ID
        f.has_port_vlan = true;
        f.port_vlan = net::load_be16(info.data());
      } else if (sub == 3 && need(3)) {  // VLAN name: vid, length, name
        const std::size_t n = info[2];
        if (!fits(info.size(), 3, n)) {
          note(f, lldp_error::bad_tlv_length);
        } else if (f.vlan_name_count == f.vlan_names.size()) {
          note(f, lldp_error::list_overflow);
        } else {
          lldp_vlan_name& vn = f.vlan_names[f.vlan_name_count];
          vn.vid = net::load_be16(info.data());
          set_text(vn.name, info.subspan(3, n), true);
          ++f.vlan_name_count;
        }
      }
      break;
    case oui_ieee_8023:
      if (sub == 1 && need(5)) {  // MAC/PHY configuration/status
        f.has_mac_phy = true;
        f.autoneg = info[0];
        f.pmd_advertised = net::load_be16(info.data() + 1);
        f.mau_type = net::load_be16(info.data() + 3);
      } else if (sub == 4 && need(2)) {  // Maximum frame size
        f.has_max_frame_size = true;
        f.max_frame_size = net::load_be16(info.data());
      }
      break;
    case oui_tia_med:
      f.has_med = true;
      switch (sub) {
        case 1:  // LLDP-MED capabilities: u16 capabilities, u8 device class
          if (need(3)) {
            f.med_capabilities = net::load_be16(info.data());
            f.med_device_class = info[2];
          }
          break;
        case 5:
          set_text(f.med_hardware_revision, info, true);
          break;
        case 6:
          set_text(f.med_firmware_revision, info, true);
          break;
        case 7:
          set_text(f.med_software_revision, info, true);
          break;
        case 8:
          set_text(f.med_serial, info, true);
          break;
        case 9:
          set_text(f.med_manufacturer, info, true);
          break;
        case 10:
          set_text(f.med_model, info, true);
          break;
        case 11:
          set_text(f.med_asset_id, info, true);
          break;
        default:
          break;
      }
      break;
    case oui_iana:
      if (sub == 1) {
        set_text(f.mud_url, info, false);
      }
      break;
    default:
      break;
  }
}

std::string hex_of(std::span<const std::uint8_t> v) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  for (const std::uint8_t b : v) {
    s += digits[b >> 4];
    s += digits[b & 15];
  }
  return s;
}

std::string id_text(const lldp_id& id, std::uint8_t mac_subtype, std::uint8_t net_subtype) {
  const auto b = id.bytes();
  if (id.subtype == mac_subtype && b.size() == 6) {
    return net::mac_address::from_bytes(b.data()).to_string();
  }
  if (id.subtype == net_subtype && !b.empty()) {
    if (b[0] == 1 && b.size() == 5) {
      return net::ip_address::from_v4(b.data() + 1).to_string();
    }
    if (b[0] == 2 && b.size() == 17) {
      return net::ip_address::from_v6(b.data() + 1).to_string();
    }
    return hex_of(b);
  }
  return printable(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
}

fact make_fact(field_name field, std::string value, std::uint8_t confidence) {
  fact f;
  f.about = subject::sender;
  f.source = "lldp";
  f.field = field;
  f.value = std::move(value);
  f.confidence = confidence;
  return f;
}

}  // namespace

const char* lldp_error_name(lldp_error e) noexcept {
  switch (e) {
#define X(name)          \
  case lldp_error::name: \
    return #name;
    TAPSENSE_LLDP_ERRORS(X)
#undef X
    case lldp_error::count_:
      break;
  }
  return "unknown";
}

lldp_error parse_lldp(std::span<const std::uint8_t> in, lldp_frame& out) noexcept {
  out = lldp_frame{};
  if (in.size() < 14) {
    out.error = lldp_error::truncated_header;
    return out.error;
  }
  out.dst = net::mac_address::from_bytes(in.data());
  out.src = net::mac_address::from_bytes(in.data() + 6);
  std::size_t off = 12;
  std::uint16_t type = net::load_be16(in.data() + off);
  for (int i = 0; i < max_tags && (type == ethertype_vlan || type == ethertype_qinq); ++i) {
    if (!fits(in.size(), off, 6)) {
      out.error = lldp_error::truncated_header;
      return out.error;
    }
    off += 4;
    type = net::load_be16(in.data() + off);
  }
  if (type != ethertype_lldp) {
    out.error = lldp_error::not_lldp;
    return out.error;
  }
  off += 2;
  while (true) {
    if (!fits(in.size(), off, 2)) {
      note(out, off == in.size() ? lldp_error::missing_end : lldp_error::truncated_tlv);
      return out.error;
    }
    const std::uint16_t head = net::load_be16(in.data() + off);
    const std::uint8_t t = static_cast<std::uint8_t>(head >> 9);
    const std::size_t len = head & 0x01ffu;
    if (!fits(in.size(), off + 2, len)) {
      note(out, lldp_error::truncated_tlv);
      return out.error;
    }
    const bytes v = in.subspan(off + 2, len);
    off += 2 + len;
    // Chassis ID, Port ID and TTL come first, in that order (8.2).
    if (out.tlv_count < 3 && t != out.tlv_count + 1) {
      note(out, lldp_error::missing_mandatory);
    }
    ++out.tlv_count;
    switch (t) {
      case tlv::end:
        return out.error;
      case tlv::chassis_id:
      case tlv::port_id:
        if (v.size() < 2) {
          note(out, lldp_error::bad_tlv_length);
        } else {
          set_id(t == tlv::chassis_id ? out.chassis : out.port, v);
        }
        break;
      case tlv::ttl:
        if (v.size() < 2) {
          note(out, lldp_error::bad_tlv_length);
        } else {
          out.has_ttl = true;
          out.ttl = net::load_be16(v.data());
        }
        break;
      case tlv::port_description:
        set_text(out.port_description, v, false);
        break;
      case tlv::system_name:
        set_text(out.system_name, v, false);
        break;
      case tlv::system_description:
        set_text(out.system_description, v, false);
        break;
      case tlv::capabilities:
        if (v.size() < 4) {
          note(out, lldp_error::bad_tlv_length);
        } else {
          out.has_capabilities = true;
          out.capabilities = net::load_be16(v.data());
          out.enabled_capabilities = net::load_be16(v.data() + 2);
        }
        break;
      case tlv::management_address:
        management_address(out, v);
        break;
      case tlv::org_specific:
        org_specific(out, v);
        break;
      default:
        break;  // reserved types 9-126: skipped
    }
  }
}

std::string lldp_chassis_id_text(const lldp_id& id) {
  return id_text(id, lldp_chassis_subtype::mac_address, lldp_chassis_subtype::network_address);
}

std::string lldp_port_id_text(const lldp_id& id) {
  return id_text(id, lldp_port_subtype::mac_address, lldp_port_subtype::network_address);
}

std::string lldp_capabilities_text(std::uint16_t bits) {
  static constexpr const char* names[] = {"other",        "repeater", "bridge",
                                          "wlan_access_point", "router", "telephone",
                                          "docsis",       "station_only", "c_vlan",
                                          "s_vlan",       "tpmr"};
  std::string s;
  for (unsigned i = 0; i < 16; ++i) {
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

void lldp_facts(const lldp_frame& f, const packet_view& pkt, fact_sink& sink) {
  if (f.error == lldp_error::truncated_header || f.error == lldp_error::not_lldp) {
    return;
  }
  if (f.chassis.present) {
    sink.add(make_fact("chassis_id", lldp_chassis_id_text(f.chassis), 100));
  }
  if (f.port.present) {
    sink.add(make_fact("port_id", lldp_port_id_text(f.port), 100));
  }
  auto text = [&sink](field_name field, const lldp_text& t, std::uint8_t conf) {
    if (t.present && t.n != 0) {
      sink.add(make_fact(field, printable(t.view()), conf));
    }
  };
  text("port_description", f.port_description, 100);
  text("system_name", f.system_name, 100);
  text("hostname", f.system_name, 80);
  text("system_description", f.system_description, 100);
  if (f.has_capabilities) {
    sink.add(make_fact("capabilities", lldp_capabilities_text(f.capabilities), 100));
    sink.add(make_fact("capabilities_enabled", lldp_capabilities_text(f.enabled_capabilities), 100));
  }
  // The device is the frame's source; packet_view says so too when filled.
  const net::mac_address sender = pkt.src_mac.is_zero() ? f.src : pkt.src_mac;
  for (std::size_t i = 0; i < f.mgmt_count; ++i) {
    const lldp_mgmt_address& m = f.mgmt[i];
    if (m.is_ip && m.ip.is_unspecified()) {
      continue;  // an unconfigured device's 0.0.0.0: no address, the MAC stays its key
    }
    if (m.is_ip) {
      sink.add(make_fact("management_address", m.ip.to_string(), 100));
      fact bind = make_fact("mac", sender.to_string(), 90);
      bind.about = subject::ip;
      bind.ip = m.ip;
      bind.mac = sender;
      sink.add(std::move(bind));
    } else if (m.is_mac) {
      sink.add(make_fact("management_address", m.mac.to_string(), 100));
    } else {
      sink.add(make_fact("management_address",
                         std::to_string(m.family) + ":" +
                             hex_of(std::span<const std::uint8_t>(m.raw).first(m.len)),
                         100));
    }
  }
  if (f.has_port_vlan) {
    sink.add(make_fact("port_vlan", std::to_string(f.port_vlan), 100));
  }
  text("mud_url", f.mud_url, 100);
  text("vendor", f.med_manufacturer, 90);
  text("model", f.med_model, 90);
  text("serial", f.med_serial, 90);
  text("firmware", f.med_firmware_revision, 90);
  text("software_revision", f.med_software_revision, 90);
  text("hardware_revision", f.med_hardware_revision, 90);
  text("asset_id", f.med_asset_id, 90);
}

}  // namespace tapsense::proto
