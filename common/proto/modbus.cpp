#include "common/proto/modbus.h"

#include <type_traits>

#include "common/net/bytes.h"

namespace tapsense::proto {

static_assert(std::is_trivially_copyable_v<modbus_segment>);

namespace {

using net::bytes;
using net::fits;

// MBAP header: transaction id, protocol id, length, unit id.
constexpr std::size_t mbap_len = 7;
constexpr std::size_t max_mbap_length = 254;  // unit id + 253-byte PDU

constexpr std::uint8_t fc_report_server_id = 17;
constexpr std::uint8_t fc_mei = 43;
constexpr std::uint8_t mei_read_device_id = 14;
constexpr std::uint8_t exception_bit = 0x80;

void note(modbus_segment& s, modbus_error e) noexcept {
  if (s.error == modbus_error::none) {
    s.error = e;
  }
}

std::string_view as_text(bytes v) noexcept {
  return {reinterpret_cast<const char*>(v.data()), v.size()};
}

// 43/14 response: MEI, code, conformity, more follows, next object, count,
// then count x (id, length, value).
void decode_device_id_response(bytes d, modbus_adu& a, modbus_segment& s) noexcept {
  a.kind = modbus_kind::device_id_response;
  a.read_device_id_code = d[1];
  a.conformity_level = d[2];
  a.more_follows = d[3];
  a.next_object_id = d[4];
  a.object_count = d[5];
  std::size_t pos = 6;
  for (std::size_t i = 0; i < a.object_count; ++i) {
    if (!fits(d.size(), pos, 2) || !fits(d.size(), pos + 2, d[pos + 1])) {
      note(s, modbus_error::bad_device_id);
      return;
    }
    const std::uint8_t id = d[pos];
    const std::size_t len = d[pos + 1];
    if (a.objects_len == modbus_max_objects) {
      note(s, modbus_error::object_overflow);
    } else {
      a.objects[a.objects_len] = {id, as_text(d.subspan(pos + 2, len))};
      ++a.objects_len;
    }
    pos += 2 + len;
  }
}

void decode_pdu(bytes pdu, modbus_direction dir, modbus_adu& a, modbus_segment& s) noexcept {
  a.function = pdu[0];
  a.data = pdu.subspan(1);
  const bytes d = a.data;
  if ((a.function & exception_bit) != 0) {
    if (!d.empty()) {
      a.kind = modbus_kind::exception;
      a.exception_code = d[0];
    }
    return;
  }
  if (a.function == fc_mei) {
    if (d.empty()) {
      return;
    }
    a.mei_type = d[0];
    if (a.mei_type != mei_read_device_id) {
      a.kind = modbus_kind::mei_other;
      return;
    }
    const bool request = dir == modbus_direction::request ||
                         (dir == modbus_direction::unknown && d.size() == 3);
    if (request && d.size() >= 3) {
      a.kind = modbus_kind::device_id_request;
      a.read_device_id_code = d[1];
      a.object_id = d[2];
    } else if (!request && d.size() >= 6) {
      decode_device_id_response(d, a, s);
    } else {
      note(s, modbus_error::bad_device_id);
    }
    return;
  }
  if (a.function == fc_report_server_id) {
    if (dir == modbus_direction::request || d.empty()) {
      a.kind = modbus_kind::server_id_request;
      return;
    }
    a.kind = modbus_kind::server_id_response;
    a.byte_count = d[0];
    if (!fits(d.size(), 1, a.byte_count)) {
      note(s, modbus_error::bad_server_id);
      a.server_data = d.subspan(1);
    } else {
      a.server_data = d.subspan(1, a.byte_count);
    }
  }
}

}  // namespace

const char* modbus_error_name(modbus_error e) noexcept {
  switch (e) {
#define X(name)            \
  case modbus_error::name: \
    return #name;
    TAPSENSE_MODBUS_ERRORS(X)
#undef X
    case modbus_error::count_:
      break;
  }
  return "unknown";
}

modbus_error parse_modbus(std::span<const std::uint8_t> in, modbus_segment& out,
                          modbus_direction dir) noexcept {
  out = modbus_segment{};
  std::size_t pos = 0;
  while (pos < in.size()) {
    if (!fits(in.size(), pos, mbap_len + 1)) {
      out.incomplete = true;
      note(out, modbus_error::truncated_header);
      break;
    }
    const std::uint8_t* p = in.data() + pos;
    const std::uint16_t protocol_id = net::load_be16(p + 2);
    const std::size_t length = net::load_be16(p + 4);
    if (protocol_id != 0) {
      note(out, modbus_error::bad_protocol_id);
      break;
    }
    if (length < 2 || length > max_mbap_length) {
      note(out, modbus_error::bad_length);
      break;
    }
    // The length counts the unit id and the PDU, which start at offset 6.
    if (!fits(in.size(), pos + 6, length)) {
      out.incomplete = true;
      note(out, modbus_error::truncated_adu);
      break;
    }
    ++out.adus_seen;
    if (out.adus_len == modbus_max_adus) {
      note(out, modbus_error::adu_overflow);
    } else {
      modbus_adu& a = out.adus[out.adus_len];
      ++out.adus_len;
      a.transaction_id = net::load_be16(p);
      a.protocol_id = protocol_id;
      a.length = static_cast<std::uint16_t>(length);
      a.unit_id = p[6];
      decode_pdu(in.subspan(pos + mbap_len, length - 1), dir, a, out);
    }
    pos += 6 + length;
    out.consumed = pos;
  }
  return out.error;
}

std::string modbus_server_id_text(const modbus_adu& adu) {
  if (adu.kind != modbus_kind::server_id_response) {
    return {};
  }
  // Server id (device specific length), run indicator status (0x00 off,
  // 0xFF on), then additional data, typically a product string. The text
  // starts after the first run-indicator-looking byte past the id; without
  // one, at the first printable byte.
  const bytes d = adu.server_data;
  std::size_t start = 0;
  for (std::size_t i = 1; i < d.size(); ++i) {
    if (d[i] == 0x00 || d[i] == 0xff) {
      start = i + 1;
      break;
    }
  }
  while (start < d.size() && (d[start] < 0x20 || d[start] >= 0x7f)) {
    ++start;
  }
  std::string text = printable(as_text(d.subspan(start)));
  if (text.empty() && !d.empty()) {
    static const char* digits = "0123456789abcdef";
    for (auto b : d) {
      text += digits[b >> 4];
      text += digits[b & 15];
    }
  }
  return text;
}

void modbus_facts(const modbus_segment& seg, const packet_view& /*pkt*/, fact_sink& sink) {
  auto emit = [&sink](field_name field, std::string value, std::uint8_t confidence) {
    if (value.empty()) {
      return;
    }
    fact f;
    f.about = subject::sender;
    f.source = "modbus";
    f.field = field;
    f.value = std::move(value);
    f.confidence = confidence;
    sink.add(std::move(f));
  };
  for (const auto& a : seg.adu_list()) {
    if (a.kind == modbus_kind::server_id_response) {
      emit("server_id", modbus_server_id_text(a), 70);
      continue;
    }
    if (a.kind != modbus_kind::device_id_response) {
      continue;
    }
    for (const auto& o : a.object_list()) {
      switch (o.id) {
        case modbus_object_id::vendor_name:
          emit("vendor", printable(o.value), 90);
          break;
        case modbus_object_id::product_code:
          emit("product_code", printable(o.value), 90);
          break;
        case modbus_object_id::major_minor_revision:
          emit("firmware", printable(o.value), 90);
          break;
        case modbus_object_id::vendor_url:
          emit("vendor_url", printable(o.value), 80);
          break;
        case modbus_object_id::product_name:
          emit("model", printable(o.value), 85);
          break;
        case modbus_object_id::model_name:
          emit("model", printable(o.value), 90);
          break;
        case modbus_object_id::user_application_name:
          emit("application_name", printable(o.value), 70);
          break;
        default:
          break;  // private objects (0x80..0xFF) have no common meaning
      }
    }
  }
}

}  // namespace tapsense::proto
