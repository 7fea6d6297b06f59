#include "common/proto/dhcp.h"

#include <type_traits>

#include "common/net/bytes.h"

namespace tapsense::proto {

// Copied freely by callers (and safe to memcpy into a record).
static_assert(std::is_trivially_copyable_v<dhcp_message>);

namespace {

using net::bytes;
using net::fits;

// BOOTP fixed header layout (RFC 951 / RFC 2131 section 2).
constexpr std::size_t off_op = 0;
constexpr std::size_t off_htype = 1;
constexpr std::size_t off_hlen = 2;
constexpr std::size_t off_hops = 3;
constexpr std::size_t off_xid = 4;
constexpr std::size_t off_secs = 8;
constexpr std::size_t off_flags = 10;
constexpr std::size_t off_ciaddr = 12;
constexpr std::size_t off_yiaddr = 16;
constexpr std::size_t off_siaddr = 20;
constexpr std::size_t off_giaddr = 24;
constexpr std::size_t off_chaddr = 28;
constexpr std::size_t len_chaddr = 16;
constexpr std::size_t off_sname = 44;
constexpr std::size_t len_sname = 64;
constexpr std::size_t off_file = 108;
constexpr std::size_t len_file = 128;
constexpr std::size_t off_cookie = 236;
constexpr std::size_t off_options = 240;
static_assert(off_sname == off_chaddr + len_chaddr);
static_assert(off_file == off_sname + len_sname);
static_assert(off_cookie == off_file + len_file);

constexpr std::uint32_t magic_cookie = 0x63825363;  // 99.130.83.99

constexpr std::uint8_t htype_ethernet = 1;
constexpr std::uint8_t htype_ieee802 = 6;

namespace opt {
constexpr std::uint8_t pad = 0;
constexpr std::uint8_t hostname = 12;
constexpr std::uint8_t requested_ip = 50;
constexpr std::uint8_t lease_time = 51;
constexpr std::uint8_t overload = 52;
constexpr std::uint8_t message_type = 53;
constexpr std::uint8_t server_id = 54;
constexpr std::uint8_t prl = 55;
constexpr std::uint8_t max_msg_size = 57;
constexpr std::uint8_t vendor_class = 60;
constexpr std::uint8_t client_id = 61;
constexpr std::uint8_t fqdn = 81;
constexpr std::uint8_t mud_url = 161;
constexpr std::uint8_t end = 255;
}  // namespace opt

constexpr std::size_t max_list = 255;  // capacity of prl and option_codes

void note(dhcp_message& m, dhcp_error e) noexcept {
  if (m.error == dhcp_error::none) {
    m.error = e;
  }
}

// Bytes viewed as text, cut at the first NUL. Viewing bytes through a char
// pointer is the one aliasing the language allows; nothing is reinterpreted.
std::string_view as_text(bytes v) noexcept {
  std::string_view s(reinterpret_cast<const char*>(v.data()), v.size());
  const auto nul = s.find('\0');
  return nul == std::string_view::npos ? s : s.substr(0, nul);
}

void set_text(std::string_view& field, bytes v) noexcept {
  // A set view has a non-null data pointer even when empty: first one wins.
  if (field.data() == nullptr) {
    field = as_text(v);
  }
}

void set_ipv4(std::optional<net::ip_address>& field, bytes v, dhcp_message& m) noexcept {
  if (v.size() != 4) {
    note(m, dhcp_error::bad_option_length);
    return;
  }
  if (!field) {
    field = net::ip_address::from_v4(v.data());
  }
}

void append_text(dhcp_message& m, std::string_view s) noexcept {
  // Callers keep the total under the buffer size; the check makes that local.
  if (!fits(m.fqdn_buf.size(), m.fqdn_len, s.size())) {
    note(m, dhcp_error::bad_fqdn);
    return;
  }
  for (char c : s) {
    m.fqdn_buf[m.fqdn_len] = c;
    ++m.fqdn_len;
  }
}

// Option 81: flags, rcode1, rcode2, then the name (RFC 4702 section 2).
void decode_fqdn(bytes v, dhcp_message& m) noexcept {
  if (v.size() < 3) {
    note(m, dhcp_error::bad_option_length);
    return;
  }
  m.has_fqdn = true;
  m.fqdn_flags = v[0];
  m.fqdn_rcode1 = v[1];
  m.fqdn_rcode2 = v[2];
  const bytes name = v.subspan(3);
  if ((m.fqdn_flags & dhcp_fqdn_flag::e) == 0) {
    // Deprecated ASCII form, still sent by some clients.
    append_text(m, as_text(name));
    return;
  }
  // Canonical wire format: length-prefixed labels, no compression. A partial
  // name (RFC 4702 section 2.3.1) simply lacks the terminating root label.
  std::size_t i = 0;
  while (i < name.size()) {
    const std::size_t label = name[i];
    if (label == 0) {
      break;
    }
    // 0x40..0xff: compression pointers and extended label types, all
    // forbidden here.
    if (label > 63 || !fits(name.size(), i + 1, label)) {
      note(m, dhcp_error::bad_fqdn);
      return;
    }
    if (m.fqdn_len != 0) {
      append_text(m, ".");
    }
    append_text(m, std::string_view(reinterpret_cast<const char*>(name.data() + i + 1), label));
    i += 1 + label;
  }
}

void apply_option(std::uint8_t code, bytes v, bool main_field, dhcp_message& m) noexcept {
  switch (code) {
    case opt::message_type:
      if (v.size() != 1) {
        note(m, dhcp_error::bad_option_length);
      } else if (m.message_type == 0) {
        m.message_type = v[0];
      }
      break;
    case opt::hostname:
      set_text(m.hostname, v);
      break;
    case opt::vendor_class:
      set_text(m.vendor_class, v);
      break;
    case opt::mud_url:
      set_text(m.mud_url, v);
      break;
    case opt::requested_ip:
      set_ipv4(m.requested_ip, v, m);
      break;
    case opt::server_id:
      set_ipv4(m.server_id, v, m);
      break;
    case opt::lease_time:
      if (v.size() != 4) {
        note(m, dhcp_error::bad_option_length);
      } else if (!m.lease_time) {
        m.lease_time = net::load_be32(v.data());
      }
      break;
    case opt::max_msg_size:
      if (v.size() != 2) {
        note(m, dhcp_error::bad_option_length);
      } else if (!m.max_msg_size) {
        m.max_msg_size = net::load_be16(v.data());
      }
      break;
    case opt::overload:
      // Only meaningful in the options field itself (RFC 2131 section 4.1).
      if (v.size() != 1) {
        note(m, dhcp_error::bad_option_length);
      } else if (main_field && m.overload == 0) {
        m.overload = v[0];
      }
      break;
    case opt::client_id:
      if (m.client_id.data() == nullptr) {
        m.client_id = v;
      }
      break;
    case opt::prl:
      // RFC 3396: repeated instances of an option are one value, concatenated.
      for (auto item : v) {
        if (m.prl_len == max_list) {
          note(m, dhcp_error::list_overflow);
          break;
        }
        m.prl[m.prl_len] = item;
        ++m.prl_len;
      }
      break;
    case opt::fqdn:
      if (!m.has_fqdn) {
        decode_fqdn(v, m);
      }
      break;
    default:
      break;
  }
}

// Walks one option area up to End. A truncated option ends the walk of this
// area: its length byte cannot be trusted, so nothing after it can be framed.
void walk_options(bytes area, bool main_field, dhcp_message& m) noexcept {
  std::size_t i = 0;
  while (i < area.size()) {
    const std::uint8_t code = area[i];
    if (code == opt::pad) {
      ++i;
      continue;
    }
    if (code == opt::end) {
      return;
    }
    if (!fits(area.size(), i, 2)) {
      note(m, dhcp_error::truncated_option);
      return;
    }
    const std::size_t len = area[i + 1];
    if (!fits(area.size(), i + 2, len)) {
      note(m, dhcp_error::truncated_option);
      return;
    }
    if (m.option_codes_len == max_list) {
      note(m, dhcp_error::list_overflow);
    } else {
      m.option_codes[m.option_codes_len] = code;
      ++m.option_codes_len;
    }
    apply_option(code, area.subspan(i + 2, len), main_field, m);
    i += 2 + len;
  }
  note(m, dhcp_error::missing_end);
}

}  // namespace

const char* dhcp_error_name(dhcp_error e) noexcept {
  switch (e) {
#define X(name)          \
  case dhcp_error::name: \
    return #name;
    TAPSENSE_DHCP_ERRORS(X)
#undef X
    case dhcp_error::count_:
      break;
  }
  return "unknown";
}

dhcp_error parse_dhcp(std::span<const std::uint8_t> in, dhcp_message& out) noexcept {
  out = dhcp_message{};
  if (in.size() < off_options) {
    out.error = dhcp_error::truncated_header;
    return out.error;
  }
  const std::uint8_t* p = in.data();
  out.op = p[off_op];
  out.htype = p[off_htype];
  out.hlen = p[off_hlen];
  out.hops = p[off_hops];
  out.xid = net::load_be32(p + off_xid);
  out.secs = net::load_be16(p + off_secs);
  out.flags = net::load_be16(p + off_flags);
  out.ciaddr = net::ip_address::from_v4(p + off_ciaddr);
  out.yiaddr = net::ip_address::from_v4(p + off_yiaddr);
  out.siaddr = net::ip_address::from_v4(p + off_siaddr);
  out.giaddr = net::ip_address::from_v4(p + off_giaddr);
  if (out.hlen > len_chaddr) {
    note(out, dhcp_error::bad_hardware_length);
  } else {
    out.chaddr_bytes = in.subspan(off_chaddr, out.hlen);
    if (out.hlen == 6 && (out.htype == htype_ethernet || out.htype == htype_ieee802)) {
      out.chaddr = net::mac_address::from_bytes(p + off_chaddr);
      out.chaddr_is_mac = true;
    }
  }
  const bytes sname = in.subspan(off_sname, len_sname);
  const bytes file = in.subspan(off_file, len_file);

  if (net::load_be32(p + off_cookie) != magic_cookie) {
    // Plain BOOTP keeps a vendor area here; either way the text fields hold
    // what they say.
    out.sname = as_text(sname);
    out.file = as_text(file);
    note(out, dhcp_error::bad_magic_cookie);
    return out.error;
  }

  walk_options(in.subspan(off_options), true, out);
  // RFC 2131 section 4.1: options, then file, then sname.
  if ((out.overload & 1) != 0) {
    walk_options(file, false, out);
  } else {
    out.file = as_text(file);
  }
  if ((out.overload & 2) != 0) {
    walk_options(sname, false, out);
  } else {
    out.sname = as_text(sname);
  }
  return out.error;
}

namespace {
std::string join_codes(std::span<const std::uint8_t> codes) {
  std::string s;
  s.reserve(codes.size() * 4);
  for (std::size_t i = 0; i < codes.size(); ++i) {
    if (i != 0) {
      s += ',';
    }
    s += std::to_string(codes[i]);
  }
  return s;
}
}  // namespace

std::string prl_string(const dhcp_message& m) { return join_codes(m.prl_items()); }

std::string option_codes_string(const dhcp_message& m) { return join_codes(m.option_list()); }

}  // namespace tapsense::proto
