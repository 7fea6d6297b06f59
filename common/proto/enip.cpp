#include "common/proto/enip.h"

#include <cstdio>
#include <type_traits>

#include "common/net/bytes.h"

namespace tapsense::proto {

static_assert(std::is_trivially_copyable_v<enip_segment>);
static_assert(std::is_trivially_copyable_v<enip_flow_state>);

namespace {

using net::bytes;
using net::fits;

constexpr std::size_t header_len = 24;
constexpr std::size_t max_length = 65511;  // CIP Vol. 2, 2-3.1: 65535 - 24

namespace item {
constexpr std::uint16_t cip_identity = 0x000c;
constexpr std::uint16_t connected_data = 0x00b1;
constexpr std::uint16_t unconnected_data = 0x00b2;
}  // namespace item

constexpr std::size_t identity_fixed = 14;  // vendor .. serial
constexpr std::size_t socket_len = 16;      // sockaddr_in, big-endian

void note(enip_segment& s, enip_error e) noexcept {
  if (s.error == enip_error::none) {
    s.error = e;
  }
}

bool known_command(std::uint16_t c) noexcept {
  switch (c) {
    case enip_command::nop:
    case enip_command::list_services:
    case enip_command::list_identity:
    case enip_command::list_interfaces:
    case enip_command::register_session:
    case enip_command::unregister_session:
    case enip_command::send_rr_data:
    case enip_command::send_unit_data:
    case enip_command::indicate_status:
    case enip_command::cancel:
      return true;
    default:
      return false;
  }
}

// Identity attributes 1..8 in Get_Attributes_All order (also the body of a
// ListIdentity item after the socket address). Reads what fits.
void decode_identity(bytes d, enip_identity& id, enip_segment& s) noexcept {
  if (d.size() < identity_fixed) {
    note(s, enip_error::bad_identity);
    return;
  }
  id.vendor_id = net::load_le16(d.data());
  id.device_type = net::load_le16(d.data() + 2);
  id.product_code = net::load_le16(d.data() + 4);
  id.revision_major = d[6];
  id.revision_minor = d[7];
  id.status = net::load_le16(d.data() + 8);
  id.serial = net::load_le32(d.data() + 10);
  id.fields |= enip_field::vendor | enip_field::device_type | enip_field::product_code |
               enip_field::revision | enip_field::status | enip_field::serial;
  if (d.size() == identity_fixed) {
    note(s, enip_error::bad_identity);  // the product name is required
    return;
  }
  const std::size_t n = d[identity_fixed];
  if (!fits(d.size(), identity_fixed + 1, n)) {
    note(s, enip_error::bad_identity);
    return;
  }
  id.product_name = {reinterpret_cast<const char*>(d.data() + identity_fixed + 1), n};
  id.fields |= enip_field::product_name;
  const std::size_t after = identity_fixed + 1 + n;
  if (after < d.size()) {
    id.state = d[after];
    id.fields |= enip_field::state;
  }
}

// True when an unpaired Get_Attributes_All response looks exactly like the
// Identity object's: fixed part, a printable non-empty SHORT_STRING, then
// nothing or the optional attributes 8 (1 byte), 9 (2) and 10 (1).
bool identity_layout(bytes d) noexcept {
  if (d.size() < identity_fixed + 2 || net::load_le16(d.data()) == 0) {
    return false;
  }
  const std::size_t n = d[identity_fixed];
  if (n == 0 || !fits(d.size(), identity_fixed + 1, n)) {
    return false;
  }
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = d[identity_fixed + 1 + i];
    if (c < 0x20 || c >= 0x7f) {
      return false;
    }
  }
  const std::size_t rest = d.size() - (identity_fixed + 1 + n);
  return rest == 0 || rest == 1 || rest == 3 || rest == 4;
}

// One attribute of the Identity object (Get_Attribute_Single response).
void decode_identity_attribute(std::uint16_t attribute, bytes d, enip_identity& id,
                               enip_segment& s) noexcept {
  auto need = [&](std::size_t n) {
    if (d.size() < n) {
      note(s, enip_error::bad_identity);
      return false;
    }
    return true;
  };
  switch (attribute) {
    case 1:
      if (need(2)) {
        id.vendor_id = net::load_le16(d.data());
        id.fields |= enip_field::vendor;
      }
      break;
    case 2:
      if (need(2)) {
        id.device_type = net::load_le16(d.data());
        id.fields |= enip_field::device_type;
      }
      break;
    case 3:
      if (need(2)) {
        id.product_code = net::load_le16(d.data());
        id.fields |= enip_field::product_code;
      }
      break;
    case 4:
      if (need(2)) {
        id.revision_major = d[0];
        id.revision_minor = d[1];
        id.fields |= enip_field::revision;
      }
      break;
    case 6:
      if (need(4)) {
        id.serial = net::load_le32(d.data());
        id.fields |= enip_field::serial;
      }
      break;
    case 7:
      if (need(1) && fits(d.size(), 1, d[0])) {
        id.product_name = {reinterpret_cast<const char*>(d.data() + 1), d[0]};
        id.fields |= enip_field::product_name;
      } else if (!d.empty()) {
        note(s, enip_error::bad_identity);
      }
      break;
    default:
      break;
  }
}

struct cip_path {
  std::uint16_t class_id = 0;
  std::uint32_t instance_id = 0;
  std::uint16_t attribute_id = 0;
};

// Logical class/instance/attribute segments of an EPATH (CIP Vol. 1 C-1);
// port and data segments are stepped over; anything else ends the walk.
cip_path parse_path(bytes p) noexcept {
  cip_path r;
  std::size_t i = 0;
  while (i < p.size()) {
    const std::uint8_t seg = p[i];
    if ((seg & 0xe0) == 0x00) {
      // Port segment: [ext link size] [ext port(2)] link address.
      std::size_t pos = i + 1;
      const bool ext_link = (seg & 0x10) != 0;
      std::size_t link = 1;
      if (ext_link) {
        if (!fits(p.size(), pos, 1)) {
          return r;
        }
        link = p[pos];
        ++pos;
      }
      if ((seg & 0x0f) == 0x0f) {
        pos += 2;
      }
      pos += link;
      i = pos + ((pos - i) & 1);  // padded to a word
      continue;
    }
    if ((seg & 0xe0) == 0x20) {
      // Logical segment: type in bits 4..2, format in bits 1..0.
      const std::uint8_t type = (seg >> 2) & 0x07;
      const std::uint8_t format = seg & 0x03;
      std::uint32_t value = 0;
      std::size_t len = 0;
      if (format == 0 && fits(p.size(), i + 1, 1)) {
        value = p[i + 1];
        len = 2;
      } else if (format == 1 && fits(p.size(), i + 2, 2)) {
        value = net::load_le16(p.data() + i + 2);
        len = 4;
      } else if (format == 2 && fits(p.size(), i + 2, 4)) {
        value = net::load_le32(p.data() + i + 2);
        len = 6;
      } else {
        return r;
      }
      if (type == 0) {
        r.class_id = static_cast<std::uint16_t>(value);
      } else if (type == 1) {
        r.instance_id = value;
      } else if (type == 4) {
        r.attribute_id = static_cast<std::uint16_t>(value);
      } else if (type == 5 && format == 0) {
        // Special (electronic key): key format byte + 8 bytes of key.
        len = 10;
      }
      i += len;
      continue;
    }
    if (seg == 0x91 && fits(p.size(), i + 1, 1)) {
      const std::size_t n = p[i + 1];
      i += 2 + n + (n & 1);
      continue;
    }
    if (seg == 0x80 && fits(p.size(), i + 1, 1)) {
      i += 2 + 2 * std::size_t{p[i + 1]};
      continue;
    }
    return r;
  }
  return r;
}

enip_flow_state::request* find_pending(enip_flow_state* st, bool connected,
                                       std::uint16_t sequence,
                                       const std::array<std::uint8_t, 8>& context) noexcept {
  if (st == nullptr) {
    return nullptr;
  }
  for (auto& r : st->pending) {
    if (r.valid && r.connected == connected &&
        (connected ? r.sequence == sequence : r.context == context)) {
      return &r;
    }
  }
  return nullptr;
}

void decode_cip(bytes d, enip_message& m, enip_segment& s, enip_flow_state* st) noexcept {
  if (d.size() < 2) {
    note(s, enip_error::bad_cip);
    return;
  }
  m.has_cip = true;
  m.service = d[0] & 0x7f;
  m.response = (d[0] & cip_service::response_bit) != 0;
  if (!m.response) {
    const std::size_t path_bytes = 2 * std::size_t{d[1]};
    if (!fits(d.size(), 2, path_bytes)) {
      note(s, enip_error::bad_cip);
      return;
    }
    cip_path path = parse_path(d.subspan(2, path_bytes));
    std::uint8_t service = m.service;
    bytes rest = d.subspan(2 + path_bytes);
    if (service == cip_service::unconnected_send &&
        path.class_id == cip_class_connection_manager && rest.size() >= 4) {
      // Priority/tick, timeout ticks, embedded message size, message.
      const std::size_t size = net::load_le16(rest.data() + 2);
      if (fits(rest.size(), 4, size) && size >= 2) {
        const bytes inner = rest.subspan(4, size);
        const std::size_t inner_path = 2 * std::size_t{inner[1]};
        if (fits(inner.size(), 2, inner_path)) {
          service = inner[0] & 0x7f;
          path = parse_path(inner.subspan(2, inner_path));
        } else {
          note(s, enip_error::bad_cip);
        }
      } else {
        note(s, enip_error::bad_cip);
      }
    }
    m.service = service;
    m.class_id = path.class_id;
    m.instance_id = path.instance_id;
    m.attribute_id = path.attribute_id;
    if (st != nullptr) {
      auto* r = find_pending(st, m.connected, m.sequence, m.context);
      if (r == nullptr) {
        r = &st->pending[st->next % st->pending.size()];
        st->next = static_cast<std::uint8_t>((st->next + 1) % st->pending.size());
      }
      *r = {true, m.connected, m.context, m.sequence, service,
            path.class_id, path.instance_id, path.attribute_id};
    }
    return;
  }
  // Response: service, reserved, general status, additional status size
  // (words), additional status, data.
  if (d.size() < 4 || !fits(d.size(), 4, 2 * std::size_t{d[3]})) {
    note(s, enip_error::bad_cip);
    return;
  }
  m.general_status = d[2];
  const bytes data = d.subspan(4 + 2 * std::size_t{d[3]});
  if (auto* r = find_pending(st, m.connected, m.sequence, m.context);
      r != nullptr && r->service == m.service) {
    m.paired = true;
    m.class_id = r->class_id;
    m.instance_id = r->instance_id;
    m.attribute_id = r->attribute_id;
    r->valid = false;
  }
  if (m.general_status != 0 || m.identities_len == enip_max_identities) {
    return;
  }
  enip_identity& id = m.identities[m.identities_len];
  if (m.paired && m.class_id == cip_class_identity) {
    if (m.service == cip_service::get_attributes_all) {
      id.origin = enip_identity_origin::get_attributes_all;
      decode_identity(data, id, s);
    } else if (m.service == cip_service::get_attribute_single) {
      id.origin = enip_identity_origin::get_attribute_single;
      decode_identity_attribute(m.attribute_id, data, id, s);
    }
  } else if (!m.paired && m.service == cip_service::get_attributes_all &&
             identity_layout(data)) {
    id.origin = enip_identity_origin::get_attributes_all_layout;
    decode_identity(data, id, s);
  }
  if (id.fields != 0) {
    ++m.identities_len;
  } else {
    id = enip_identity{};
  }
}

// Common Packet Format: item count, then (type, length, data) items.
void decode_cpf(bytes d, enip_message& m, enip_segment& s, enip_flow_state* st) noexcept {
  if (d.size() < 2) {
    note(s, enip_error::bad_cpf);
    return;
  }
  m.item_count = net::load_le16(d.data());
  std::size_t pos = 2;
  for (std::size_t i = 0; i < m.item_count; ++i) {
    if (!fits(d.size(), pos, 4)) {
      note(s, enip_error::bad_cpf);
      return;
    }
    const std::uint16_t type = net::load_le16(d.data() + pos);
    const std::size_t len = net::load_le16(d.data() + pos + 2);
    if (!fits(d.size(), pos + 4, len)) {
      note(s, enip_error::bad_cpf);
      return;
    }
    const bytes v = d.subspan(pos + 4, len);
    if (type == item::cip_identity && m.command == enip_command::list_identity) {
      if (m.identities_len < enip_max_identities) {
        enip_identity& id = m.identities[m.identities_len];
        id.origin = enip_identity_origin::list_identity;
        if (v.size() < 2 + socket_len) {
          note(s, enip_error::bad_identity);
        } else {
          id.encapsulation_version = net::load_le16(v.data());
          id.has_socket = true;
          id.sin_family = net::load_be16(v.data() + 2);
          id.sin_port = net::load_be16(v.data() + 4);
          id.sin_addr = net::ip_address::from_v4(v.data() + 6);
          decode_identity(v.subspan(2 + socket_len), id, s);
          ++m.identities_len;
        }
      }
    } else if (type == item::unconnected_data) {
      decode_cip(v, m, s, st);
    } else if (type == item::connected_data) {
      if (v.size() < 2) {
        note(s, enip_error::bad_cpf);
      } else {
        m.connected = true;
        m.sequence = net::load_le16(v.data());
        decode_cip(v.subspan(2), m, s, st);
      }
    }
    pos += 4 + len;
  }
}

void decode_body(bytes body, enip_message& m, enip_segment& s, enip_flow_state* st) noexcept {
  switch (m.command) {
    case enip_command::list_identity:
      if (!body.empty()) {  // requests have no body
        decode_cpf(body, m, s, st);
      }
      break;
    case enip_command::send_rr_data:
    case enip_command::send_unit_data:
      // Interface handle (4) and timeout (2) come first.
      if (body.size() < 6) {
        note(s, enip_error::bad_cpf);
      } else {
        decode_cpf(body.subspan(6), m, s, st);
      }
      break;
    default:
      break;
  }
}

}  // namespace

const char* enip_error_name(enip_error e) noexcept {
  switch (e) {
#define X(name)          \
  case enip_error::name: \
    return #name;
    TAPSENSE_ENIP_ERRORS(X)
#undef X
    case enip_error::count_:
      break;
  }
  return "unknown";
}

enip_error parse_enip(std::span<const std::uint8_t> in, enip_segment& out,
                      enip_flow_state* state) noexcept {
  out = enip_segment{};
  std::size_t pos = 0;
  while (pos < in.size()) {
    if (!fits(in.size(), pos, header_len)) {
      out.incomplete = true;
      note(out, enip_error::truncated_header);
      break;
    }
    const std::uint8_t* p = in.data() + pos;
    const std::uint16_t command = net::load_le16(p);
    const std::size_t length = net::load_le16(p + 2);
    const std::uint32_t options = net::load_le32(p + 20);
    if (!known_command(command)) {
      note(out, enip_error::unknown_command);
      break;
    }
    if (options != 0) {
      note(out, enip_error::bad_options);
      break;
    }
    if (length > max_length) {
      note(out, enip_error::bad_length);
      break;
    }
    if (!fits(in.size(), pos + header_len, length)) {
      out.incomplete = true;
      note(out, enip_error::truncated_message);
      break;
    }
    ++out.messages_seen;
    if (out.messages_len == enip_max_messages) {
      note(out, enip_error::message_overflow);
    } else {
      enip_message& m = out.messages[out.messages_len];
      ++out.messages_len;
      m.command = command;
      m.length = static_cast<std::uint16_t>(length);
      m.session = net::load_le32(p + 4);
      m.status = net::load_le32(p + 8);
      for (std::size_t i = 0; i < 8; ++i) {
        m.context[i] = p[12 + i];
      }
      m.options = options;
      decode_body(in.subspan(pos + header_len, length), m, out, state);
    }
    pos += header_len + length;
    out.consumed = pos;
  }
  return out.error;
}

enip_io_message parse_enip_io(std::span<const std::uint8_t> in) noexcept {
  enip_io_message r;
  // Item count, sequenced address item (0x8002, 8 bytes), connected data item.
  if (in.size() < 2 + 4 + 8 + 4) {
    return r;
  }
  r.item_count = net::load_le16(in.data());
  if (r.item_count < 2 || net::load_le16(in.data() + 2) != 0x8002 ||
      net::load_le16(in.data() + 4) != 8 || net::load_le16(in.data() + 14) != item::connected_data) {
    return r;
  }
  const std::size_t len = net::load_le16(in.data() + 16);
  if (!fits(in.size(), 18, len)) {
    return r;
  }
  r.connection_id = net::load_le32(in.data() + 6);
  r.sequence = net::load_le32(in.data() + 10);
  r.data_length = static_cast<std::uint16_t>(len);
  r.valid = true;
  return r;
}

std::string_view cip_device_type_name(std::uint16_t t) noexcept {
  // CIP Vol. 1 chapter 6, device profiles (the names tshark 4.0 uses).
  switch (t) {
    case 0x00: return "Generic Device (deprecated)";
    case 0x02: return "AC Drive";
    case 0x03: return "Motor Overload";
    case 0x04: return "Limit Switch";
    case 0x05: return "Inductive Proximity Switch";
    case 0x06: return "Photoelectric Sensor";
    case 0x07: return "General Purpose Discrete I/O";
    case 0x09: return "Resolver";
    case 0x0c: return "Communications Adapter";
    case 0x0e: return "Programmable Logic Controller";
    case 0x10: return "Position Controller";
    case 0x13: return "DC Drive";
    case 0x15: return "Contactor";
    case 0x16: return "Motor Starter";
    case 0x17: return "Soft Start";
    case 0x18: return "Human-Machine Interface";
    case 0x1a: return "Mass Flow Controller";
    case 0x1b: return "Pneumatic Valve";
    case 0x1c: return "Vacuum Pressure Gauge";
    case 0x1d: return "Process Control Value";
    case 0x1e: return "Residual Gas Analyzer";
    case 0x1f: return "DC Power Generator";
    case 0x20: return "RF Power Generator";
    case 0x21: return "Turbomolecular Vacuum Pump";
    case 0x22: return "Encoder";
    case 0x23: return "Safety Discrete I/O Device";
    case 0x24: return "Fluid Flow Controller";
    case 0x25: return "CIP Motion Drive";
    case 0x26: return "CompoNet Repeater";
    case 0x27: return "Mass Flow Controller, Enhanced";
    case 0x28: return "CIP Modbus Device";
    case 0x29: return "CIP Modbus Translator";
    case 0x2a: return "Safety Analog I/O Device";
    case 0x2b: return "Generic Device (keyable)";
    case 0x2c: return "Managed Ethernet Switch";
    case 0x2d: return "CIP Motion Safety Drive Device";
    case 0x2e: return "Safety Drive Device";
    case 0x2f: return "CIP Motion Encoder";
    case 0x30: return "CIP Motion Converter";
    case 0x31: return "CIP Motion I/O";
    case 0x32: return "ControlNet Physical Layer Component";
    case 0x33: return "Circuit Breaker";
    case 0x34: return "HART Device";
    case 0x35: return "CIP-HART Translator";
    case 0xc8: return "Embedded Component";
    default: return {};
  }
}

void enip_facts(const enip_segment& seg, const packet_view& pkt, fact_sink& sink,
                const cip_vendor_lookup& vendors) {
  auto emit = [&sink](subject about, field_name field, std::string value,
                      std::uint8_t confidence, const net::ip_address& ip = {}, const net::mac_address& mac = {}) {
    if (value.empty()) {
      return;
    }
    fact f;
    f.about = about;
    f.ip = ip;
    f.mac = mac;
    f.source = "enip";
    f.field = field;
    f.value = std::move(value);
    f.confidence = confidence;
    sink.add(std::move(f));
  };
  char buf[24];
  for (const auto& m : seg.message_list()) {
    for (const auto& id : m.identity_list()) {
      const std::uint8_t conf =
          id.origin == enip_identity_origin::get_attributes_all_layout ? 70 : 90;
      const subject s = subject::sender;
      if ((id.fields & enip_field::vendor) != 0) {
        emit(s, "vendor_id", std::to_string(id.vendor_id), conf);
        if (vendors) {
          emit(s, "vendor", std::string(vendors(id.vendor_id)),
               static_cast<std::uint8_t>(conf - 10));
        }
      }
      if ((id.fields & enip_field::device_type) != 0) {
        emit(s, "device_type_id", std::to_string(id.device_type), conf);
        emit(s, "cip_device_type", std::string(cip_device_type_name(id.device_type)), conf);
      }
      if ((id.fields & enip_field::product_code) != 0) {
        emit(s, "product_code", std::to_string(id.product_code), conf);
      }
      if ((id.fields & enip_field::revision) != 0) {
        std::snprintf(buf, sizeof buf, "%u.%02u", unsigned{id.revision_major},
                      unsigned{id.revision_minor});
        emit(s, "revision", buf, conf);
        emit(s, "firmware", buf, conf);
      }
      if ((id.fields & enip_field::serial) != 0) {
        std::snprintf(buf, sizeof buf, "0x%08x", unsigned{id.serial});
        emit(s, "serial", buf, conf);
      }
      if ((id.fields & enip_field::product_name) != 0) {
        emit(s, "model", printable(id.product_name), conf);
      }
      if (id.has_socket && !id.sin_addr.is_unspecified()) {
        if (!pkt.src_mac.is_zero()) {
          emit(subject::ip, "mac", pkt.src_mac.to_string(), 70, id.sin_addr, pkt.src_mac);
        }
        if (pkt.has_ip && pkt.src_ip != id.sin_addr) {
          emit(s, "advertised_ip", id.sin_addr.to_string(), 60);
        }
      }
    }
  }
}

}  // namespace tapsense::proto
