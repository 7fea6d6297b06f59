#include "common/proto/profinet.h"

#include <cstdio>
#include <type_traits>

#include "common/net/bytes.h"

namespace tapsense::proto {

static_assert(std::is_trivially_copyable_v<profinet_dcp_message>);

namespace {

using net::bytes;
using net::fits;

constexpr std::size_t header_len = 12;  // FrameID + DCP header

namespace opt {
constexpr std::uint8_t ip = 1;
constexpr std::uint8_t device = 2;
constexpr std::uint8_t control = 5;
}  // namespace opt

void note(profinet_dcp_message& m, profinet_error e) noexcept {
  if (m.error == profinet_error::none) {
    m.error = e;
  }
}

std::string_view as_text(bytes v) noexcept {
  return {reinterpret_cast<const char*>(v.data()), v.size()};
}

void set_text(std::string_view& field, bytes v) noexcept {
  if (field.data() == nullptr) {
    field = as_text(v);
  }
}

bool want(profinet_dcp_message& m, bytes v, std::size_t size) noexcept {
  if (v.size() != size) {
    note(m, profinet_error::bad_block_length);
    return false;
  }
  return true;
}

void apply_block(std::uint8_t option, std::uint8_t sub, bytes v, std::uint16_t info,
                 profinet_dcp_message& m) noexcept {
  if (option == opt::ip) {
    if (sub == 1) {
      if (want(m, v, 6) && !m.mac) {
        m.mac = net::mac_address::from_bytes(v.data());
      }
    } else if (sub == 2 || sub == 3) {
      // 1/3 (full IP suite) is 1/2 followed by four DNS servers.
      if (want(m, v, sub == 2 ? 12 : 28) && !m.has_ip) {
        m.has_ip = true;
        m.ip = net::ip_address::from_v4(v.data());
        m.netmask = net::ip_address::from_v4(v.data() + 4);
        m.gateway = net::ip_address::from_v4(v.data() + 8);
        m.ip_block_info = info;
      }
    }
    return;
  }
  if (option == opt::device) {
    switch (sub) {
      case 1:
        set_text(m.type_of_station, v);
        break;
      case 2:
        set_text(m.name_of_station, v);
        break;
      case 3:
        if (want(m, v, 4) && !m.vendor_id) {
          m.vendor_id = net::load_be16(v.data());
          m.device_id = net::load_be16(v.data() + 2);
        }
        break;
      case 4:
        if (want(m, v, 2) && !m.device_role) {
          m.device_role = v[0];
        }
        break;
      case 6:
        set_text(m.alias_name, v);
        break;
      case 7:
        if (want(m, v, 2) && !m.device_instance) {
          m.device_instance = net::load_be16(v.data());
        }
        break;
      case 8:
        if (want(m, v, 4) && !m.oem_vendor_id) {
          m.oem_vendor_id = net::load_be16(v.data());
          m.oem_device_id = net::load_be16(v.data() + 2);
        }
        break;
      default:
        break;  // 5: device options, a list of (option, suboption)
    }
    return;
  }
  if (option == opt::control && sub == 4) {
    if (want(m, v, 3) && !m.response_to) {
      m.response_to = profinet_block_ref{v[0], v[1]};
      m.response_error = v[2];
    }
  }
}

void list_block(profinet_dcp_message& m, std::uint8_t option, std::uint8_t sub) noexcept {
  if (m.blocks_len == profinet_max_blocks) {
    note(m, profinet_error::block_overflow);
    return;
  }
  m.blocks[m.blocks_len] = {option, sub};
  ++m.blocks_len;
}

}  // namespace

const char* profinet_error_name(profinet_error e) noexcept {
  switch (e) {
#define X(name)              \
  case profinet_error::name: \
    return #name;
    TAPSENSE_PROFINET_ERRORS(X)
#undef X
    case profinet_error::count_:
      break;
  }
  return "unknown";
}

profinet_error parse_profinet_dcp(std::span<const std::uint8_t> in,
                                  profinet_dcp_message& out) noexcept {
  out = profinet_dcp_message{};
  if (in.size() < header_len) {
    out.error = profinet_error::truncated_header;
    return out.error;
  }
  const std::uint8_t* p = in.data();
  const std::uint16_t frame_id = net::load_be16(p);
  if (frame_id < profinet_frame_id::hello || frame_id > profinet_frame_id::identify_response) {
    out.error = profinet_error::not_dcp;
    return out.error;
  }
  out.frame_id = frame_id;
  out.service_id = p[2];
  out.service_type = p[3];
  out.xid = net::load_be32(p + 4);
  out.response_delay = net::load_be16(p + 8);
  out.data_length = net::load_be16(p + 10);
  bytes data = in.subspan(header_len);
  if (data.size() < out.data_length) {
    note(out, profinet_error::truncated_data);
  } else {
    data = data.first(out.data_length);
  }

  if (out.service_id == profinet_service::get && out.is_request()) {
    // A Get request lists the wanted (option, suboption) pairs, no lengths.
    for (std::size_t i = 0; i + 1 < data.size(); i += 2) {
      list_block(out, data[i], data[i + 1]);
    }
    return out.error;
  }
  const bool set_request = out.service_id == profinet_service::set && out.is_request();
  const bool described = out.is_self_description();
  std::size_t pos = 0;
  while (pos < data.size()) {
    if (!fits(data.size(), pos, 4)) {
      note(out, profinet_error::truncated_block);
      break;
    }
    const std::uint8_t option = data[pos];
    const std::uint8_t sub = data[pos + 1];
    const std::size_t len = net::load_be16(data.data() + pos + 2);
    if (!fits(data.size(), pos + 4, len)) {
      note(out, profinet_error::truncated_block);
      break;
    }
    list_block(out, option, sub);
    bytes v = data.subspan(pos + 4, len);
    // Responses and Hello put BlockInfo first, Set requests BlockQualifier;
    // Control blocks of a response (5/4) carry neither.
    const bool prefixed =
        set_request || (described && !(option == opt::control && !out.is_request()));
    std::uint16_t info = 0;
    bool usable = true;
    if (prefixed) {
      if (v.size() < 2) {
        note(out, profinet_error::bad_block_length);
        usable = false;
      } else {
        info = net::load_be16(v.data());
        v = v.subspan(2);
      }
    }
    if (usable) {
      apply_block(option, sub, v, described ? info : 0, out);
    }
    // Blocks are padded to an even length.
    pos += 4 + len + (len & 1);
  }
  return out.error;
}

std::string profinet_role_string(std::uint8_t role) {
  static constexpr struct {
    std::uint8_t bit;
    const char* name;
  } names[] = {{profinet_role::io_device, "io-device"},
               {profinet_role::io_controller, "io-controller"},
               {profinet_role::io_multidevice, "io-multidevice"},
               {profinet_role::pn_supervisor, "pn-supervisor"}};
  std::string s;
  std::uint8_t rest = role;
  for (const auto& n : names) {
    if ((role & n.bit) != 0) {
      s += s.empty() ? "" : ",";
      s += n.name;
      rest = static_cast<std::uint8_t>(rest & ~n.bit);
    }
  }
  if (rest != 0 || role == 0) {
    char b[8];
    std::snprintf(b, sizeof b, "0x%02x", rest);
    s += s.empty() ? "" : ",";
    s += b;
  }
  return s;
}

namespace {
std::string hex16(std::uint16_t v) {
  char b[8];
  std::snprintf(b, sizeof b, "0x%04x", v);
  return b;
}
}  // namespace

void profinet_facts(const profinet_dcp_message& m, const packet_view& pkt, fact_sink& sink,
                    const profinet_vendor_lookup& vendors) {
  auto emit = [&sink](subject about, field_name field, std::string value,
                      std::uint8_t confidence, const net::ip_address& ip = {}, const net::mac_address& mac = {}) {
    if (value.empty()) {
      return;
    }
    fact f;
    f.about = about;
    f.ip = ip;
    f.mac = mac;
    f.source = "profinet";
    f.field = field;
    f.value = std::move(value);
    f.confidence = confidence;
    sink.add(std::move(f));
  };
  if (m.error == profinet_error::not_dcp || m.error == profinet_error::truncated_header) {
    return;
  }
  if (m.is_self_description()) {
    const subject s = subject::sender;
    if (m.name_of_station.data() != nullptr) {
      emit(s, "station_name", printable(m.name_of_station), 90);
    }
    if (m.alias_name.data() != nullptr) {
      emit(s, "alias_name", printable(m.alias_name), 70);
    }
    if (m.type_of_station.data() != nullptr) {
      emit(s, "model", printable(m.type_of_station), 85);
    }
    if (m.vendor_id) {
      emit(s, "vendor_id", hex16(*m.vendor_id), 90);
      if (vendors) {
        emit(s, "vendor", std::string(vendors(*m.vendor_id)), 80);
      }
      emit(s, "device_id", hex16(*m.device_id), 90);
    }
    if (m.device_role) {
      emit(s, "device_role", profinet_role_string(*m.device_role), 90);
    }
    if (m.has_ip && !m.ip.is_unspecified()) {
      emit(s, "ip", m.ip.to_string(), 80, m.ip);
      if (!pkt.src_mac.is_zero()) {
        emit(subject::ip, "mac", pkt.src_mac.to_string(), 80, m.ip, pkt.src_mac);
      }
    }
    return;
  }
  if (m.service_id == profinet_service::set && m.is_request()) {
    const subject s = subject::receiver;
    if (m.name_of_station.data() != nullptr) {
      emit(s, "station_name", printable(m.name_of_station), 60);
    }
    if (m.has_ip && !m.ip.is_unspecified()) {
      emit(s, "ip", m.ip.to_string(), 50, m.ip);
      if (!pkt.dst_mac.is_zero() && !pkt.dst_mac.is_multicast()) {
        emit(subject::ip, "mac", pkt.dst_mac.to_string(), 50, m.ip, pkt.dst_mac);
      }
    }
    return;
  }
  if (m.service_id == profinet_service::identify && m.is_request() &&
      m.name_of_station.data() != nullptr) {
    emit(subject::sender, "queried_station_name", printable(m.name_of_station), 30);
  }
}

}  // namespace tapsense::proto
