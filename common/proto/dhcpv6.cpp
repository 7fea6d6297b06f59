#include "common/proto/dhcpv6.h"

#include <type_traits>

#include "common/net/bytes.h"

namespace tapsense::proto {

static_assert(std::is_trivially_copyable_v<dhcpv6_message>);

namespace {

using net::bytes;
using net::fits;

constexpr std::size_t relay_header_len = 34;  // type, hop count, link address, peer address

namespace opt {
constexpr std::uint16_t client_id = 1;
constexpr std::uint16_t server_id = 2;
constexpr std::uint16_t oro = 6;
constexpr std::uint16_t relay_msg = 9;
constexpr std::uint16_t user_class = 15;
constexpr std::uint16_t vendor_class = 16;
constexpr std::uint16_t vendor_opts = 17;
constexpr std::uint16_t client_fqdn = 39;
constexpr std::uint16_t client_linklayer_addr = 79;
}  // namespace opt

constexpr std::uint16_t hw_ethernet = 1;
constexpr std::uint16_t hw_ieee802 = 6;

void note(dhcpv6_message& m, dhcpv6_error e) noexcept {
  if (m.error == dhcpv6_error::none) {
    m.error = e;
  }
}

void decode_duid(bytes v, dhcpv6_duid& d, dhcpv6_message& m) noexcept {
  if (d.present) {
    return;
  }
  if (v.size() < 2) {
    note(m, dhcpv6_error::bad_option_length);
    return;
  }
  d.present = true;
  d.raw = v;
  d.type = net::load_be16(v.data());
  switch (d.type) {
    case dhcpv6_duid_type::llt:
      if (v.size() < 8) {
        note(m, dhcpv6_error::bad_option_length);
        return;
      }
      d.hardware_type = net::load_be16(v.data() + 2);
      d.time = net::load_be32(v.data() + 4);
      d.link_layer = v.subspan(8);
      break;
    case dhcpv6_duid_type::ll:
      if (v.size() < 4) {
        note(m, dhcpv6_error::bad_option_length);
        return;
      }
      d.hardware_type = net::load_be16(v.data() + 2);
      d.link_layer = v.subspan(4);
      break;
    case dhcpv6_duid_type::en:
      if (v.size() < 6) {
        note(m, dhcpv6_error::bad_option_length);
        return;
      }
      d.enterprise = net::load_be32(v.data() + 2);
      d.identifier = v.subspan(6);
      return;
    case dhcpv6_duid_type::uuid:
      if (v.size() != 18) {
        note(m, dhcpv6_error::bad_option_length);
        return;
      }
      d.identifier = v.subspan(2);
      return;
    default:
      return;
  }
  if (d.link_layer.size() == 6 &&
      (d.hardware_type == hw_ethernet || d.hardware_type == hw_ieee802)) {
    d.has_mac = true;
    d.mac = net::mac_address::from_bytes(d.link_layer.data());
  }
}

void append_fqdn(dhcpv6_message& m, std::string_view s) noexcept {
  if (!fits(m.fqdn_buf.size(), m.fqdn_len, s.size())) {
    note(m, dhcpv6_error::bad_fqdn);
    return;
  }
  for (char c : s) {
    m.fqdn_buf[m.fqdn_len] = c;
    ++m.fqdn_len;
  }
}

// Option 39: flags, then the name in DNS wire format (RFC 4704 section 4.2),
// fully qualified (root label) or partial (none); no compression.
void decode_fqdn(bytes v, dhcpv6_message& m) noexcept {
  if (v.empty()) {
    note(m, dhcpv6_error::bad_option_length);
    return;
  }
  m.has_fqdn = true;
  m.fqdn_flags = v[0];
  const bytes name = v.subspan(1);
  std::size_t i = 0;
  while (i < name.size()) {
    const std::size_t label = name[i];
    if (label == 0) {
      break;
    }
    if (label > 63 || !fits(name.size(), i + 1, label)) {
      note(m, dhcpv6_error::bad_fqdn);
      return;
    }
    if (m.fqdn_len != 0) {
      append_fqdn(m, ".");
    }
    append_fqdn(m, std::string_view(reinterpret_cast<const char*>(name.data() + i + 1), label));
    i += 1 + label;
  }
}

void apply_option(std::uint16_t code, bytes v, dhcpv6_message& m) noexcept {
  switch (code) {
    case opt::client_id:
      decode_duid(v, m.client_id, m);
      break;
    case opt::server_id:
      decode_duid(v, m.server_id, m);
      break;
    case opt::oro:
      if ((v.size() & 1) != 0) {
        note(m, dhcpv6_error::bad_option_length);
        break;
      }
      for (std::size_t i = 0; i < v.size(); i += 2) {
        if (m.oro_len == dhcpv6_max_list) {
          note(m, dhcpv6_error::list_overflow);
          break;
        }
        m.oro[m.oro_len] = net::load_be16(v.data() + i);
        ++m.oro_len;
      }
      break;
    case opt::user_class:
      if (!m.has_user_class) {
        m.has_user_class = true;
        m.user_class = v;
      }
      break;
    case opt::vendor_class:
      if (v.size() < 4) {
        note(m, dhcpv6_error::bad_option_length);
      } else if (!m.has_vendor_class) {
        m.has_vendor_class = true;
        m.vendor_class_enterprise = net::load_be32(v.data());
        m.vendor_class = v.subspan(4);
      }
      break;
    case opt::vendor_opts:
      if (v.size() < 4) {
        note(m, dhcpv6_error::bad_option_length);
      } else if (!m.has_vendor_opts) {
        m.has_vendor_opts = true;
        m.vendor_opts_enterprise = net::load_be32(v.data());
      }
      break;
    case opt::client_fqdn:
      if (!m.has_fqdn) {
        decode_fqdn(v, m);
      }
      break;
    default:
      break;
  }
}

// Walks an option area; returns the Relay Message option's value when
// `relay` (the area belongs to a relay message), else an empty span.
bytes walk_options(bytes area, bool relay, dhcpv6_message& m, bool& found_relay_msg) noexcept {
  bytes inner;
  std::size_t pos = 0;
  while (pos < area.size()) {
    if (!fits(area.size(), pos, 4)) {
      note(m, dhcpv6_error::truncated_option);
      break;
    }
    const std::uint16_t code = net::load_be16(area.data() + pos);
    const std::size_t len = net::load_be16(area.data() + pos + 2);
    if (!fits(area.size(), pos + 4, len)) {
      note(m, dhcpv6_error::truncated_option);
      break;
    }
    const bytes v = area.subspan(pos + 4, len);
    if (relay) {
      if (code == opt::relay_msg && !found_relay_msg) {
        found_relay_msg = true;
        inner = v;
      } else if (code == opt::client_linklayer_addr) {
        if (v.size() < 2) {
          note(m, dhcpv6_error::bad_option_length);
        } else if (!m.has_client_link_layer) {
          m.has_client_link_layer = true;
          m.client_link_layer_type = net::load_be16(v.data());
          if (v.size() == 8) {
            m.client_link_layer = net::mac_address::from_bytes(v.data() + 2);
          }
        }
      }
    } else {
      if (m.option_codes_len == dhcpv6_max_list) {
        note(m, dhcpv6_error::list_overflow);
      } else {
        m.option_codes[m.option_codes_len] = code;
        ++m.option_codes_len;
      }
      apply_option(code, v, m);
    }
    pos += 4 + len;
  }
  return inner;
}

bool is_relay(std::uint8_t type) noexcept {
  return type == dhcpv6_type::relay_forw || type == dhcpv6_type::relay_repl;
}

}  // namespace

const char* dhcpv6_error_name(dhcpv6_error e) noexcept {
  switch (e) {
#define X(name)            \
  case dhcpv6_error::name: \
    return #name;
    TAPSENSE_DHCPV6_ERRORS(X)
#undef X
    case dhcpv6_error::count_:
      break;
  }
  return "unknown";
}

bool dhcpv6_message::from_client() const noexcept {
  switch (msg_type) {
    case dhcpv6_type::solicit:
    case dhcpv6_type::request:
    case dhcpv6_type::confirm:
    case dhcpv6_type::renew:
    case dhcpv6_type::rebind:
    case dhcpv6_type::release:
    case dhcpv6_type::decline:
    case dhcpv6_type::information_request:
      return true;
    default:
      return false;
  }
}

bool dhcpv6_message::from_server() const noexcept {
  return msg_type == dhcpv6_type::advertise || msg_type == dhcpv6_type::reply ||
         msg_type == dhcpv6_type::reconfigure;
}

dhcpv6_error parse_dhcpv6(std::span<const std::uint8_t> in, dhcpv6_message& out) noexcept {
  out = dhcpv6_message{};
  bytes msg = in;
  for (;;) {
    if (msg.size() < 4) {
      note(out, dhcpv6_error::truncated_header);
      return out.error;
    }
    out.msg_type = msg[0];
    if (!is_relay(out.msg_type)) {
      break;
    }
    if (msg.size() < relay_header_len) {
      note(out, dhcpv6_error::truncated_header);
      return out.error;
    }
    if (out.relay_depth == dhcpv6_max_relay_depth) {
      note(out, dhcpv6_error::relay_depth);
      return out.error;
    }
    ++out.relay_depth;
    out.relay_link_address = net::ip_address::from_v6(msg.data() + 2);
    out.relay_peer_address = net::ip_address::from_v6(msg.data() + 18);
    bool found = false;
    const bytes inner = walk_options(msg.subspan(relay_header_len), true, out, found);
    if (!found) {
      note(out, dhcpv6_error::missing_relay_message);
      return out.error;
    }
    msg = inner;
  }
  out.transaction_id = net::load_be24(msg.data() + 1);
  bool unused = false;
  walk_options(msg.subspan(4), false, out, unused);
  return out.error;
}

std::string dhcpv6_hex(std::span<const std::uint8_t> b) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  s.reserve(b.size() * 2);
  for (auto x : b) {
    s += digits[x >> 4];
    s += digits[x & 15];
  }
  return s;
}

std::string dhcpv6_class_items(std::span<const std::uint8_t> items) {
  std::string s;
  std::size_t pos = 0;
  while (fits(items.size(), pos, 2)) {
    const std::size_t len = net::load_be16(items.data() + pos);
    if (!fits(items.size(), pos + 2, len)) {
      break;
    }
    if (!s.empty()) {
      s += ',';
    }
    s += printable(
        std::string_view(reinterpret_cast<const char*>(items.data() + pos + 2), len));
    pos += 2 + len;
  }
  return s;
}

std::string dhcpv6_oro_string(const dhcpv6_message& m) {
  std::string s;
  for (auto code : m.oro_list()) {
    if (!s.empty()) {
      s += ',';
    }
    s += std::to_string(code);
  }
  return s;
}

void dhcpv6_facts(const dhcpv6_message& m, const packet_view& /*pkt*/, fact_sink& sink) {
  const bool relayed = m.relay_depth > 0;
  auto emit = [&](subject about, field_name field, std::string value,
                  std::uint8_t confidence, const net::mac_address& mac = {}) {
    if (value.empty()) {
      return;
    }
    fact f;
    f.about = about;
    f.mac = mac;
    f.source = "dhcpv6";
    f.field = field;
    f.value = std::move(value);
    f.confidence = confidence;
    if (about == subject::sender && relayed) {
      // The relay agent sent the datagram; the client is its peer.
      f.about = subject::ip;
      f.ip = m.relay_peer_address;
    }
    sink.add(std::move(f));
  };
  if (m.error == dhcpv6_error::truncated_header || m.error == dhcpv6_error::relay_depth ||
      m.error == dhcpv6_error::missing_relay_message) {
    return;
  }
  if (m.from_server()) {
    if (m.server_id.present && !relayed) {
      emit(subject::sender, "server_duid", dhcpv6_hex(m.server_id.raw), 80);
    }
    return;
  }
  if (!m.from_client()) {
    return;
  }
  if (m.client_id.present) {
    const std::string duid = dhcpv6_hex(m.client_id.raw);
    emit(subject::sender, "duid", duid, 90);
    if (m.client_id.has_mac) {
      emit(subject::sender, "mac", m.client_id.mac.to_string(), 60, m.client_id.mac);
      emit(subject::mac, "duid", duid, 60, m.client_id.mac);
    }
  }
  if (m.has_fqdn && m.fqdn_len != 0) {
    const std::string name = printable(m.fqdn());
    emit(subject::sender, "fqdn", name, 90);
    emit(subject::sender, "hostname", name.substr(0, name.find('.')), 80);
  }
  if (m.has_vendor_class) {
    emit(subject::sender, "vendor_class", dhcpv6_class_items(m.vendor_class), 90);
    emit(subject::sender, "enterprise_number", std::to_string(m.vendor_class_enterprise), 80);
  } else if (m.has_vendor_opts) {
    emit(subject::sender, "enterprise_number", std::to_string(m.vendor_opts_enterprise), 80);
  }
  if (m.has_user_class) {
    emit(subject::sender, "user_class", dhcpv6_class_items(m.user_class), 80);
  }
  if (m.oro_len != 0) {
    emit(subject::sender, "option_request_list", dhcpv6_oro_string(m), 90);
  }
  if (relayed && m.has_client_link_layer && m.client_link_layer_type == hw_ethernet &&
      !m.client_link_layer.is_zero()) {
    emit(subject::sender, "mac", m.client_link_layer.to_string(), 80, m.client_link_layer);
  }
}

}  // namespace tapsense::proto
