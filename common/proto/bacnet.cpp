#include "common/proto/bacnet.h"

#include <cstdio>
#include <type_traits>

#include "common/net/bytes.h"

namespace tapsense::proto {

static_assert(std::is_trivially_copyable_v<bacnet_message>);

namespace {

using net::bytes;
using net::fits;

constexpr std::uint8_t bvlc_bip = 0x81;
namespace bvlc {
constexpr std::uint8_t forwarded_npdu = 0x04;
constexpr std::uint8_t distribute_broadcast = 0x09;
constexpr std::uint8_t original_unicast = 0x0a;
constexpr std::uint8_t original_broadcast = 0x0b;
}  // namespace bvlc

namespace npci {
constexpr std::uint8_t network_message = 0x80;
constexpr std::uint8_t dnet_present = 0x20;
constexpr std::uint8_t snet_present = 0x08;
}  // namespace npci

constexpr std::uint8_t apdu_seg = 0x08;

// Application tag numbers (clause 20.2.1.4).
namespace app {
constexpr std::uint32_t boolean = 1;
constexpr std::uint32_t unsigned_int = 2;
constexpr std::uint32_t character_string = 7;
constexpr std::uint32_t enumerated = 9;
constexpr std::uint32_t object_id = 12;
}  // namespace app

namespace charset {
constexpr std::uint8_t dbcs = 1;
constexpr std::uint8_t ucs4 = 3;
constexpr std::uint8_t ucs2 = 4;
constexpr std::uint8_t latin1 = 5;
}  // namespace charset

void note(bacnet_message& m, bacnet_error e) noexcept {
  if (m.error == bacnet_error::none) {
    m.error = e;
  }
}

// One tag header (clause 20.2.1).
struct tag {
  std::uint32_t number = 0;
  bool context = false;
  bool opening = false;
  bool closing = false;
  std::uint8_t lvt = 0;     // length/value/type field
  std::size_t header = 0;   // bytes of the tag itself
  std::size_t length = 0;   // content bytes after it (0 for opening/closing/boolean)
};

// Reads the tag at d[pos] and checks that its content fits in d.
bool read_tag(bytes d, std::size_t pos, tag& t) noexcept {
  t = tag{};
  if (pos >= d.size()) {
    return false;
  }
  const std::uint8_t b = d[pos];
  std::size_t at = pos + 1;
  t.number = b >> 4;
  t.context = (b & 0x08) != 0;
  t.lvt = b & 0x07;
  if (t.number == 15) {
    if (at >= d.size()) {
      return false;
    }
    t.number = d[at];
    ++at;
  }
  if (t.context && t.lvt == 6) {
    t.opening = true;
  } else if (t.context && t.lvt == 7) {
    t.closing = true;
  } else if (!t.context && t.number == app::boolean) {
    t.length = 0;  // the value is the LVT field itself
  } else if (t.lvt == 5) {
    if (at >= d.size()) {
      return false;
    }
    const std::uint8_t ext = d[at];
    ++at;
    if (ext < 254) {
      t.length = ext;
    } else if (ext == 254) {
      if (!fits(d.size(), at, 2)) {
        return false;
      }
      t.length = net::load_be16(d.data() + at);
      at += 2;
    } else {
      if (!fits(d.size(), at, 4)) {
        return false;
      }
      t.length = net::load_be32(d.data() + at);
      at += 4;
    }
  } else {
    t.length = t.lvt;
  }
  t.header = at - pos;
  return fits(d.size(), at, t.length);
}

bool read_unsigned(bytes v, std::uint32_t& out) noexcept {
  if (v.empty() || v.size() > 4) {
    return false;
  }
  out = 0;
  for (auto b : v) {
    out = (out << 8) | b;
  }
  return true;
}

// Skips from just after an opening tag `number` to just after its closing
// tag; false when the data ends first or nesting is too deep.
bool skip_to_close(bytes d, std::size_t& pos, std::uint32_t number, bacnet_message& m) noexcept {
  std::array<std::uint32_t, bacnet_max_depth> open{};
  std::size_t depth = 0;
  open[depth++] = number;
  while (depth > 0) {
    tag t;
    if (!read_tag(d, pos, t)) {
      note(m, bacnet_error::bad_tag);
      return false;
    }
    pos += t.header + t.length;
    if (t.opening) {
      if (depth == bacnet_max_depth) {
        note(m, bacnet_error::depth_exceeded);
        return false;
      }
      open[depth++] = t.number;
    } else if (t.closing) {
      if (open[depth - 1] != t.number) {
        note(m, bacnet_error::bad_tag);
        return false;
      }
      --depth;
    }
  }
  return true;
}

bool put_utf8(bacnet_text& t, std::uint32_t cp, bacnet_message& m) noexcept {
  std::array<char, 4> b{};
  std::size_t n = 0;
  if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
    cp = '?';
  }
  if (cp < 0x80) {
    b[n++] = static_cast<char>(cp);
  } else if (cp < 0x800) {
    b[n++] = static_cast<char>(0xc0 | (cp >> 6));
    b[n++] = static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    b[n++] = static_cast<char>(0xe0 | (cp >> 12));
    b[n++] = static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    b[n++] = static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    b[n++] = static_cast<char>(0xf0 | (cp >> 18));
    b[n++] = static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    b[n++] = static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    b[n++] = static_cast<char>(0x80 | (cp & 0x3f));
  }
  if (!fits(t.buf.size(), t.len, n)) {
    note(m, bacnet_error::string_truncated);
    return false;
  }
  for (std::size_t i = 0; i < n; ++i) {
    t.buf[t.len] = b[i];
    ++t.len;
  }
  return true;
}

// CharacterString content (charset byte first) into `t`, if not yet set.
void decode_string(bytes v, bacnet_text& t, bacnet_message& m) noexcept {
  if (t.present) {
    return;
  }
  if (v.empty()) {
    note(m, bacnet_error::bad_value);
    return;
  }
  t.present = true;
  t.charset = v[0];
  bytes s = v.subspan(1);
  auto copy_raw = [&](bytes raw) {
    for (auto c : raw) {
      if (t.len == t.buf.size()) {
        note(m, bacnet_error::string_truncated);
        return;
      }
      t.buf[t.len] = static_cast<char>(c);
      ++t.len;
    }
  };
  switch (t.charset) {
    case charset::ucs2:
      if ((s.size() & 1) != 0) {
        note(m, bacnet_error::bad_value);
      }
      for (std::size_t i = 0; i + 1 < s.size(); i += 2) {
        if (!put_utf8(t, net::load_be16(s.data() + i), m)) {
          break;
        }
      }
      break;
    case charset::ucs4:
      if ((s.size() & 3) != 0) {
        note(m, bacnet_error::bad_value);
      }
      for (std::size_t i = 0; i + 3 < s.size(); i += 4) {
        if (!put_utf8(t, net::load_be32(s.data() + i), m)) {
          break;
        }
      }
      break;
    case charset::latin1:
      for (std::size_t i = 0; i < s.size(); ++i) {
        if (!put_utf8(t, s[i], m)) {
          break;
        }
      }
      break;
    case charset::dbcs:
      // A 2-octet code page follows the character set octet.
      copy_raw(s.size() >= 2 ? s.subspan(2) : bytes{});
      break;
    default:  // UTF-8 (0), JIS X 0208 (2), unknown: as-is
      copy_raw(s);
      break;
  }
}

void set_instance(bacnet_message& m, std::uint32_t instance) noexcept {
  if (!m.has_device_instance && instance != bacnet_wildcard_instance) {
    m.has_device_instance = true;
    m.device_instance = instance;
  }
}

// The value of Device object property `prop`: the first element after the
// opening tag at d[pos]. Walks over the whole constructed value.
bool apply_property(std::uint32_t prop, bytes d, std::size_t& pos, std::uint32_t open_number,
                    bacnet_message& m) noexcept {
  tag t;
  if (read_tag(d, pos, t) && !t.context && !t.closing) {
    const bytes v = d.subspan(pos + t.header, t.length);
    bool counted = true;
    switch (prop) {
      case bacnet_property::object_identifier:
        if (t.number == app::object_id && v.size() == 4) {
          const std::uint32_t x = net::load_be32(v.data());
          if ((x >> 22) == bacnet_object_device) {
            set_instance(m, x & 0x3fffff);
          }
        } else {
          note(m, bacnet_error::bad_value);
        }
        break;
      case bacnet_property::vendor_identifier: {
        std::uint32_t id = 0;
        if (t.number == app::unsigned_int && read_unsigned(v, id)) {
          if (!m.has_vendor_id) {
            m.has_vendor_id = true;
            m.vendor_id = id;
          }
        } else {
          note(m, bacnet_error::bad_value);
        }
        break;
      }
      case bacnet_property::vendor_name:
      case bacnet_property::model_name:
      case bacnet_property::firmware_revision:
      case bacnet_property::application_software_version:
      case bacnet_property::object_name:
      case bacnet_property::description:
      case bacnet_property::location: {
        if (t.number != app::character_string) {
          note(m, bacnet_error::bad_value);
          break;
        }
        bacnet_text* text = prop == bacnet_property::vendor_name    ? &m.vendor_name
                            : prop == bacnet_property::model_name   ? &m.model_name
                            : prop == bacnet_property::firmware_revision ? &m.firmware_revision
                            : prop == bacnet_property::application_software_version
                                ? &m.application_software_version
                            : prop == bacnet_property::object_name ? &m.object_name
                            : prop == bacnet_property::description ? &m.description
                                                                   : &m.location;
        decode_string(v, *text, m);
        break;
      }
      default:
        counted = false;
        break;
    }
    if (counted) {
      ++m.device_properties;
    }
  }
  return skip_to_close(d, pos, open_number, m);
}

// A context tag `number` holding an unsigned (object id, property id ...).
bool read_context_unsigned(bytes d, std::size_t& pos, std::uint32_t number,
                           std::uint32_t& value) noexcept {
  tag t;
  if (!read_tag(d, pos, t) || !t.context || t.opening || t.closing || t.number != number ||
      !read_unsigned(d.subspan(pos + t.header, t.length), value)) {
    return false;
  }
  pos += t.header + t.length;
  return true;
}

bool at_tag(bytes d, std::size_t pos, std::uint32_t number, bool opening, bool closing) noexcept {
  tag t;
  return read_tag(d, pos, t) && t.context && t.number == number && t.opening == opening &&
         t.closing == closing;
}

// ReadProperty-ACK: [0] object, [1] property, [2] index?, [3] { value }.
void decode_rp_ack(bytes d, bacnet_message& m) noexcept {
  std::size_t pos = 0;
  std::uint32_t object = 0;
  std::uint32_t prop = 0;
  std::uint32_t index = 0;
  if (!read_context_unsigned(d, pos, 0, object) || !read_context_unsigned(d, pos, 1, prop)) {
    note(m, bacnet_error::bad_tag);
    return;
  }
  read_context_unsigned(d, pos, 2, index);
  if (!at_tag(d, pos, 3, true, false)) {
    note(m, bacnet_error::bad_tag);
    return;
  }
  tag open;
  read_tag(d, pos, open);
  pos += open.header;
  if ((object >> 22) == bacnet_object_device) {
    set_instance(m, object & 0x3fffff);
    apply_property(prop, d, pos, 3, m);
  }
}

// ReadPropertyMultiple-ACK: repeated [0] object, [1] { [2] property,
// [3] index?, [4] { value } | [5] { error } ... }.
void decode_rpm_ack(bytes d, bacnet_message& m) noexcept {
  std::size_t pos = 0;
  while (pos < d.size()) {
    std::uint32_t object = 0;
    if (!read_context_unsigned(d, pos, 0, object) || !at_tag(d, pos, 1, true, false)) {
      note(m, bacnet_error::bad_tag);
      return;
    }
    tag t;
    read_tag(d, pos, t);
    pos += t.header;
    const bool device = (object >> 22) == bacnet_object_device;
    if (device) {
      set_instance(m, object & 0x3fffff);
    }
    for (;;) {
      if (at_tag(d, pos, 1, false, true)) {
        read_tag(d, pos, t);
        pos += t.header;
        break;
      }
      std::uint32_t prop = 0;
      std::uint32_t index = 0;
      if (!read_context_unsigned(d, pos, 2, prop)) {
        note(m, bacnet_error::bad_tag);
        return;
      }
      read_context_unsigned(d, pos, 3, index);
      if (!read_tag(d, pos, t) || !t.opening || (t.number != 4 && t.number != 5)) {
        note(m, bacnet_error::bad_tag);
        return;
      }
      pos += t.header;
      const bool ok = device && t.number == 4 ? apply_property(prop, d, pos, 4, m)
                                              : skip_to_close(d, pos, t.number, m);
      if (!ok) {
        return;
      }
    }
  }
}

// I-Am: object id, max APDU, segmentation, vendor id (application tags).
void decode_i_am(bytes d, bacnet_message& m) noexcept {
  std::size_t pos = 0;
  tag t;
  std::uint32_t values[4] = {};
  const std::uint32_t expect[4] = {app::object_id, app::unsigned_int, app::enumerated,
                                   app::unsigned_int};
  for (std::size_t i = 0; i < 4; ++i) {
    if (!read_tag(d, pos, t) || t.context || t.number != expect[i]) {
      note(m, bacnet_error::bad_tag);
      return;
    }
    const bytes v = d.subspan(pos + t.header, t.length);
    if (!read_unsigned(v, values[i]) || (i == 0 && v.size() != 4)) {
      note(m, bacnet_error::bad_value);
      return;
    }
    pos += t.header + t.length;
    if (i == 0) {
      m.is_i_am = true;
      if ((values[0] >> 22) == bacnet_object_device) {
        set_instance(m, values[0] & 0x3fffff);
      }
    }
  }
  m.max_apdu = values[1];
  m.segmentation = values[2];
  m.has_vendor_id = true;
  m.vendor_id = values[3];
}

void decode_request_object(bytes d, bacnet_message& m) noexcept {
  std::size_t pos = 0;
  std::uint32_t object = 0;
  if (!read_context_unsigned(d, pos, 0, object)) {
    return;
  }
  m.has_request_object = true;
  m.request_object_type = static_cast<std::uint16_t>(object >> 22);
  m.request_instance = object & 0x3fffff;
  std::uint32_t prop = 0;
  if (m.service == bacnet_service::read_property_multiple) {
    tag t;
    if (!at_tag(d, pos, 1, true, false) || !read_tag(d, pos, t)) {
      return;
    }
    pos += t.header;
    if (read_context_unsigned(d, pos, 0, prop)) {
      m.request_property = prop;
    }
  } else if (read_context_unsigned(d, pos, 1, prop)) {
    m.request_property = prop;
  }
}

void decode_apdu(bytes d, bacnet_message& m) noexcept {
  if (d.empty()) {
    note(m, bacnet_error::truncated_apdu);
    return;
  }
  m.has_apdu = true;
  m.pdu_type = d[0] >> 4;
  m.pdu_flags = d[0] & 0x0f;
  m.segmented = (m.pdu_flags & apdu_seg) != 0;
  std::size_t service_at = 0;
  switch (m.pdu_type) {
    case bacnet_pdu::confirmed_request:
      service_at = m.segmented ? 5 : 3;
      if (d.size() > 2) {
        m.invoke_id = d[2];
      }
      if (m.segmented && d.size() > 3) {
        m.sequence_number = d[3];
      }
      break;
    case bacnet_pdu::unconfirmed_request:
      service_at = 1;
      break;
    case bacnet_pdu::simple_ack:
    case bacnet_pdu::error:
      service_at = 2;
      if (d.size() > 1) {
        m.invoke_id = d[1];
      }
      break;
    case bacnet_pdu::complex_ack:
      service_at = m.segmented ? 4 : 2;
      if (d.size() > 1) {
        m.invoke_id = d[1];
      }
      if (m.segmented && d.size() > 2) {
        m.sequence_number = d[2];
      }
      break;
    default:  // segment-ack, reject, abort: no service choice to read
      if (d.size() > 1) {
        m.invoke_id = d[1];
      }
      return;
  }
  if (service_at >= d.size()) {
    note(m, bacnet_error::truncated_apdu);
    return;
  }
  m.service = d[service_at];
  const bytes body = d.subspan(service_at + 1);
  switch (m.pdu_type) {
    case bacnet_pdu::unconfirmed_request:
      if (m.service == bacnet_service::i_am) {
        decode_i_am(body, m);
      } else if (m.service == bacnet_service::who_is && !body.empty()) {
        std::size_t pos = 0;
        if (read_context_unsigned(body, pos, 0, m.who_is_low) &&
            read_context_unsigned(body, pos, 1, m.who_is_high)) {
          m.has_who_is_range = true;
        }
      }
      break;
    case bacnet_pdu::confirmed_request:
      if (m.service == bacnet_service::read_property ||
          m.service == bacnet_service::read_property_multiple) {
        if (!m.segmented || m.sequence_number == 0) {
          decode_request_object(body, m);
        }
      }
      break;
    case bacnet_pdu::complex_ack:
      if (m.segmented && m.sequence_number != 0) {
        break;  // a later segment: no tag boundary to start from
      }
      if (m.service == bacnet_service::read_property) {
        decode_rp_ack(body, m);
      } else if (m.service == bacnet_service::read_property_multiple) {
        decode_rpm_ack(body, m);
      }
      break;
    default:
      break;
  }
}

void decode_npdu(bytes d, bacnet_message& m) noexcept {
  if (d.size() < 2) {
    note(m, bacnet_error::truncated_npdu);
    return;
  }
  if (d[0] != 1) {
    note(m, bacnet_error::bad_npdu_version);
    return;
  }
  m.has_npdu = true;
  m.npdu_control = d[1];
  std::size_t pos = 2;
  if ((m.npdu_control & npci::dnet_present) != 0) {
    if (!fits(d.size(), pos, 3) || !fits(d.size(), pos + 3, d[pos + 2])) {
      note(m, bacnet_error::truncated_npdu);
      return;
    }
    m.has_dnet = true;
    m.dnet = net::load_be16(d.data() + pos);
    m.dlen = d[pos + 2];
    pos += 3 + m.dlen;
  }
  if ((m.npdu_control & npci::snet_present) != 0) {
    if (!fits(d.size(), pos, 3) || !fits(d.size(), pos + 3, d[pos + 2])) {
      note(m, bacnet_error::truncated_npdu);
      return;
    }
    m.has_snet = true;
    m.snet = net::load_be16(d.data() + pos);
    m.slen = d[pos + 2];
    for (std::size_t i = 0; i < m.slen && i < m.sadr.size(); ++i) {
      m.sadr[i] = d[pos + 3 + i];
    }
    pos += 3 + m.slen;
  }
  if (m.has_dnet) {
    if (pos >= d.size()) {
      note(m, bacnet_error::truncated_npdu);
      return;
    }
    m.hop_count = d[pos];
    ++pos;
  }
  if ((m.npdu_control & npci::network_message) != 0) {
    m.network_message = true;
    if (pos >= d.size()) {
      note(m, bacnet_error::truncated_npdu);
      return;
    }
    m.network_message_type = d[pos];
    return;
  }
  decode_apdu(d.subspan(pos), m);
}

}  // namespace

const char* bacnet_error_name(bacnet_error e) noexcept {
  switch (e) {
#define X(name)            \
  case bacnet_error::name: \
    return #name;
    TAPSENSE_BACNET_ERRORS(X)
#undef X
    case bacnet_error::count_:
      break;
  }
  return "unknown";
}

bacnet_error parse_bacnet(std::span<const std::uint8_t> in, bacnet_message& out) noexcept {
  out = bacnet_message{};
  if (in.size() < 4) {
    out.error = bacnet_error::truncated_bvlc;
    return out.error;
  }
  out.bvlc_type = in[0];
  out.bvlc_function = in[1];
  out.bvlc_length = net::load_be16(in.data() + 2);
  if (out.bvlc_type != bvlc_bip) {
    out.error = bacnet_error::bad_bvlc_type;
    return out.error;
  }
  bytes msg = in;
  if (out.bvlc_length < 4 || out.bvlc_length > in.size()) {
    note(out, bacnet_error::bad_bvlc_length);
  } else {
    msg = in.first(out.bvlc_length);
  }
  std::size_t npdu_at = 4;
  switch (out.bvlc_function) {
    case bvlc::forwarded_npdu:
      if (msg.size() < 10) {
        note(out, bacnet_error::truncated_bvlc);
        return out.error;
      }
      out.forwarded = true;
      out.forwarded_ip = net::ip_address::from_v4(msg.data() + 4);
      out.forwarded_port = net::load_be16(msg.data() + 8);
      npdu_at = 10;
      break;
    case bvlc::distribute_broadcast:
    case bvlc::original_unicast:
    case bvlc::original_broadcast:
      break;
    default:
      return out.error;  // BVLL control messages carry no NPDU
  }
  decode_npdu(msg.subspan(npdu_at), out);
  return out.error;
}

void bacnet_facts(const bacnet_message& m, const packet_view& /*pkt*/, fact_sink& sink,
                  const bacnet_vendor_lookup& vendors) {
  auto emit = [&m, &sink](field_name field, std::string value, std::uint8_t confidence) {
    if (value.empty()) {
      return;
    }
    fact f;
    f.source = "bacnet";
    f.field = field;
    f.value = std::move(value);
    f.confidence = confidence;
    if (m.forwarded && !m.forwarded_ip.is_unspecified()) {
      f.about = subject::ip;
      f.ip = m.forwarded_ip;
    }
    sink.add(std::move(f));
  };
  if (!m.has_apdu) {
    return;
  }
  if (m.has_snet) {
    std::string v = "network " + std::to_string(m.snet) + " address 0x";
    static const char* digits = "0123456789abcdef";
    for (std::size_t i = 0; i < m.slen && i < m.sadr.size(); ++i) {
      v += digits[m.sadr[i] >> 4];
      v += digits[m.sadr[i] & 15];
    }
    emit("routed_from", std::move(v), 80);
    return;
  }
  const bool self = m.is_i_am || m.pdu_type == bacnet_pdu::complex_ack;
  if (!self) {
    return;
  }
  if (m.has_device_instance) {
    emit("device_instance", std::to_string(m.device_instance), 90);
  }
  if (m.has_vendor_id) {
    emit("vendor_id", std::to_string(m.vendor_id), 90);
  }
  if (m.vendor_name.present) {
    emit("vendor", printable(m.vendor_name.view()), 90);
  }
  if (m.has_vendor_id && vendors && !m.vendor_name.present) {
    emit("vendor", std::string(vendors(m.vendor_id)), 70);
  }
  if (m.model_name.present) {
    emit("model", printable(m.model_name.view()), 90);
  }
  if (m.firmware_revision.present) {
    emit("firmware", printable(m.firmware_revision.view()), 90);
  }
  if (m.application_software_version.present) {
    emit("software", printable(m.application_software_version.view()), 80);
  }
  if (m.object_name.present) {
    emit("device_name", printable(m.object_name.view()), 90);
  }
  if (m.description.present) {
    emit("description", printable(m.description.view()), 70);
  }
  if (m.location.present) {
    emit("location", printable(m.location.view()), 70);
  }
}

}  // namespace tapsense::proto
