#include "common/proto/s7comm.h"

#include <algorithm>
#include <cstdio>
#include <type_traits>

#include "common/net/bytes.h"

namespace tapsense::proto {

static_assert(std::is_trivially_copyable_v<s7comm_segment>);
static_assert(std::is_trivially_copyable_v<s7comm_flow_state>);

namespace {

using net::bytes;
using net::fits;

constexpr std::size_t tpkt_header = 4;
constexpr std::size_t min_tpkt = 7;  // TPKT + the 3-byte COTP DT header

namespace cotp {
constexpr std::uint8_t dt = 0xf0;
constexpr std::uint8_t cr = 0xe0;
constexpr std::uint8_t cc = 0xd0;
constexpr std::uint8_t eot = 0x80;
constexpr std::uint8_t calling_tsap = 0xc1;
constexpr std::uint8_t called_tsap = 0xc2;
}  // namespace cotp

constexpr std::uint8_t s7_protocol = 0x32;
constexpr std::uint8_t s7plus_protocol = 0x72;
constexpr std::uint8_t group_cpu = 4;
constexpr std::uint8_t subfunction_read_szl = 1;
constexpr std::uint8_t type_request = 4;
constexpr std::uint8_t type_response = 8;
constexpr std::uint8_t return_success = 0xff;

constexpr std::size_t record_0011 = 28;
constexpr std::size_t record_001c = 34;

void note(s7comm_segment& s, s7comm_error e) noexcept {
  if (s.error == s7comm_error::none) {
    s.error = e;
  }
}

bool identity_list(std::uint16_t szl_id) noexcept {
  const unsigned list = szl_id & 0xffu;
  return list == 0x11 || list == 0x1c;
}

template <std::size_t N>
void copy_text(bytes v, s7comm_text<N>& t) noexcept {
  const std::size_t n = std::min(v.size(), N);
  t.len = 0;
  for (std::size_t i = 0; i < n && v[i] != 0; ++i) {
    t.buf[i] = static_cast<char>(v[i]);
    ++t.len;
  }
}

// One complete record of list `szl_id` (rec.size() is the list's fixed
// record length, checked when the list header was read).
void take_record(std::uint16_t szl_id, bytes rec, s7comm_segment& s) noexcept {
  if ((szl_id & 0xff) == 0x11) {
    if (s.module_ids_len == s7comm_max_0011) {
      note(s, s7comm_error::item_overflow);
      return;
    }
    auto& r = s.module_ids[s.module_ids_len];
    ++s.module_ids_len;
    r.index = net::load_be16(rec.data());
    copy_text(rec.subspan(2, 20), r.mlfb);
    r.bgtyp = net::load_be16(rec.data() + 22);
    r.ausbg = net::load_be16(rec.data() + 24);
    r.ausbe = net::load_be16(rec.data() + 26);
    return;
  }
  if (s.component_ids_len == s7comm_max_001c) {
    note(s, s7comm_error::item_overflow);
    return;
  }
  auto& r = s.component_ids[s.component_ids_len];
  ++s.component_ids_len;
  r.index = net::load_be16(rec.data());
  const bytes body = rec.subspan(2, 32);
  switch (r.index) {
    case 1:  // PLC name, 24 characters + 8 reserved
    case 2:  // module name
    case 5:  // serial number
      copy_text(body.first(24), r.text);
      break;
    case 4:   // copyright, 26 + 6 reserved
    case 10:  // OEM copyright, 26 + OEM id (2) + OEM additional id (4)
      copy_text(body.first(26), r.text);
      break;
    case 9:
      r.manufacturer_id = net::load_be16(body.data());
      r.profile_id = net::load_be16(body.data() + 2);
      r.profile_specific_type = net::load_be16(body.data() + 4);
      break;
    default:  // 3 plant designation, 7 module type name, 8 memory card, 11 location
      copy_text(body, r.text);
      break;
  }
}

// Feeds the record bytes of one PDU through the state (records may straddle
// PDUs: the head of a cut record waits in st.carry).
void feed_records(s7comm_flow_state& st, bytes d, s7comm_segment& s) noexcept {
  std::size_t pos = 0;
  while (st.records_left > 0) {
    const std::size_t need = st.record_len - st.carry_len;
    const std::size_t have = d.size() - pos;
    if (have == 0) {
      return;
    }
    if (st.carry_len == 0 && have >= st.record_len) {
      take_record(st.szl_id, d.subspan(pos, st.record_len), s);
      pos += st.record_len;
      --st.records_left;
      continue;
    }
    const std::size_t n = std::min(need, have);
    for (std::size_t i = 0; i < n; ++i) {
      st.carry[st.carry_len] = d[pos + i];
      ++st.carry_len;
    }
    pos += n;
    if (st.carry_len == st.record_len) {
      take_record(st.szl_id, bytes(st.carry).first(st.record_len), s);
      st.carry_len = 0;
      --st.records_left;
    }
  }
}

void decode_userdata(bytes params, bytes data, s7comm_pdu& pdu, s7comm_segment& s,
                     s7comm_flow_state* st) noexcept {
  if (params.size() < 8) {
    note(s, s7comm_error::truncated_s7);
    return;
  }
  pdu.userdata = true;
  pdu.method = params[4];
  pdu.type = params[5] >> 4;
  pdu.function_group = params[5] & 0x0f;
  pdu.subfunction = params[6];
  pdu.sequence = params[7];
  if (params[3] >= 8 && params.size() >= 12) {
    pdu.data_unit_ref = params[8];
    pdu.last_data_unit = params[9] == 0;
    pdu.userdata_error = net::load_be16(params.data() + 10);
  }
  pdu.read_szl = pdu.function_group == group_cpu && pdu.subfunction == subfunction_read_szl;
  if (!pdu.read_szl || data.size() < 4) {
    return;
  }
  pdu.return_code = data[0];
  const std::size_t len = net::load_be16(data.data() + 2);
  bytes payload = data.subspan(4);
  if (payload.size() < len) {
    note(s, s7comm_error::truncated_s7);
  } else {
    payload = payload.first(len);
  }
  if (pdu.type == type_request) {
    if (payload.size() >= 4) {
      pdu.szl_id = net::load_be16(payload.data());
      pdu.szl_index = net::load_be16(payload.data() + 2);
      if (st != nullptr) {
        st->last_request_szl_id = pdu.szl_id;
        st->last_request_szl_index = pdu.szl_index;
      }
    }
    return;
  }
  if (pdu.type != type_response) {
    return;
  }
  // A fragmented answer of any list is followed (so its follow-up PDUs are
  // never taken for a new answer's header); records are read from the
  // identification lists only.
  s7comm_flow_state local;
  s7comm_flow_state& fs = st != nullptr ? *st : local;
  if (fs.active && pdu.data_unit_ref == fs.data_unit_ref) {
    pdu.continuation = true;
    pdu.szl_id = fs.szl_id;
    pdu.szl_index = fs.szl_index;
    if (pdu.return_code == return_success && fs.record_len != 0) {
      feed_records(fs, payload, s);
    }
  } else {
    fs.active = false;
    if (pdu.return_code != return_success || payload.size() < 8) {
      return;
    }
    pdu.szl_id = net::load_be16(payload.data());
    pdu.szl_index = net::load_be16(payload.data() + 2);
    fs.szl_id = pdu.szl_id;
    fs.szl_index = pdu.szl_index;
    fs.data_unit_ref = pdu.data_unit_ref;
    fs.record_len = 0;
    fs.records_left = 0;
    fs.carry_len = 0;
    fs.active = true;
    if (identity_list(pdu.szl_id)) {
      // The layouts are fixed; anything else is not a list we can read.
      const std::uint16_t record_len = net::load_be16(payload.data() + 4);
      const std::size_t expected = (pdu.szl_id & 0xff) == 0x11 ? record_0011 : record_001c;
      if (record_len != expected) {
        note(s, s7comm_error::bad_szl);
      } else {
        fs.record_len = record_len;
        fs.records_left = net::load_be16(payload.data() + 6);
        feed_records(fs, payload.subspan(8), s);
      }
    }
  }
  if (pdu.last_data_unit) {
    fs.active = false;
  }
}

void decode_s7(bytes p, s7comm_segment& s, s7comm_flow_state* st) noexcept {
  if (p.empty() || (p[0] != s7_protocol && p[0] != s7plus_protocol)) {
    return;  // not S7comm: nothing to say
  }
  if (s.pdus_len == s7comm_max_pdus) {
    note(s, s7comm_error::pdu_overflow);
    return;
  }
  s7comm_pdu& pdu = s.pdus[s.pdus_len];
  ++s.pdus_len;
  pdu.protocol_id = p[0];
  if (p[0] == s7plus_protocol) {
    return;
  }
  if (p.size() < 10) {
    note(s, s7comm_error::truncated_s7);
    return;
  }
  pdu.rosctr = p[1];
  pdu.pdu_ref = net::load_be16(p.data() + 4);
  pdu.param_length = net::load_be16(p.data() + 6);
  pdu.data_length = net::load_be16(p.data() + 8);
  std::size_t header = 10;
  if (pdu.rosctr == s7comm_rosctr::ack || pdu.rosctr == s7comm_rosctr::ack_data) {
    if (p.size() < 12) {
      note(s, s7comm_error::truncated_s7);
      return;
    }
    pdu.error_class = p[10];
    pdu.error_code = p[11];
    header = 12;
  }
  if (!fits(p.size(), header, std::size_t{pdu.param_length} + pdu.data_length)) {
    note(s, s7comm_error::truncated_s7);
    return;
  }
  if (pdu.rosctr != s7comm_rosctr::userdata && pdu.param_length != 0) {
    pdu.function = p[header];
  }
  if (pdu.rosctr == s7comm_rosctr::userdata) {
    decode_userdata(p.subspan(header, pdu.param_length),
                    p.subspan(header + pdu.param_length, pdu.data_length), pdu, s, st);
  }
}

void decode_cotp(bytes t, s7comm_segment& s, s7comm_flow_state* st) noexcept {
  const std::size_t li = t[0];
  if (li == 0 || !fits(t.size(), 1, li)) {
    note(s, s7comm_error::bad_cotp);
    return;
  }
  const std::uint8_t type = t[1] & 0xf0;
  if (type == cotp::dt) {
    if (li < 2) {
      note(s, s7comm_error::bad_cotp);
      return;
    }
    const bytes payload = t.subspan(1 + li);
    if ((t[2] & cotp::eot) == 0) {
      if (!payload.empty()) {
        note(s, s7comm_error::cotp_fragment);
      }
      return;
    }
    decode_s7(payload, s, st);
    return;
  }
  if ((type == cotp::cr || type == cotp::cc) && li >= 6) {
    // LI, type, dst ref (2), src ref (2), class, then parameters.
    const bytes params = t.subspan(7, li - 6);
    std::size_t pos = 0;
    s.cotp_type = type;
    while (fits(params.size(), pos, 2) && fits(params.size(), pos + 2, params[pos + 1])) {
      const std::uint8_t code = params[pos];
      const std::size_t len = params[pos + 1];
      if (len == 2 && (code == cotp::calling_tsap || code == cotp::called_tsap)) {
        const std::uint16_t tsap = net::load_be16(params.data() + pos + 2);
        s.has_tsap = true;
        (code == cotp::calling_tsap ? s.calling_tsap : s.called_tsap) = tsap;
        if (st != nullptr) {
          (code == cotp::calling_tsap ? st->calling_tsap : st->called_tsap) = tsap;
        }
      }
      pos += 2 + len;
    }
  }
}

}  // namespace

const char* s7comm_error_name(s7comm_error e) noexcept {
  switch (e) {
#define X(name)            \
  case s7comm_error::name: \
    return #name;
    TAPSENSE_S7COMM_ERRORS(X)
#undef X
    case s7comm_error::count_:
      break;
  }
  return "unknown";
}

s7comm_error parse_s7comm(std::span<const std::uint8_t> in, s7comm_segment& out,
                          s7comm_flow_state* state) noexcept {
  out = s7comm_segment{};
  std::size_t pos = 0;
  while (pos < in.size()) {
    if (!fits(in.size(), pos, tpkt_header)) {
      out.incomplete = true;
      note(out, s7comm_error::truncated_tpkt);
      break;
    }
    const std::size_t length = net::load_be16(in.data() + pos + 2);
    if (in[pos] != 3 || length < min_tpkt) {
      note(out, s7comm_error::bad_tpkt);
      break;
    }
    if (!fits(in.size(), pos, length)) {
      out.incomplete = true;
      note(out, s7comm_error::truncated_tpkt);
      break;
    }
    ++out.tpkts;
    decode_cotp(in.subspan(pos + tpkt_header, length - tpkt_header), out, state);
    pos += length;
    out.consumed = pos;
  }
  return out.error;
}

std::string s7comm_version(std::uint16_t ausbg, std::uint16_t ausbe) {
  char b[32];
  if ((ausbg >> 8) == 'V') {
    std::snprintf(b, sizeof b, "V%u.%u.%u", static_cast<unsigned>(ausbg & 0xffu), static_cast<unsigned>(ausbe >> 8u),
                  static_cast<unsigned>(ausbe & 0xffu));
  } else {
    std::snprintf(b, sizeof b, "%u", unsigned{ausbg});
  }
  return b;
}

void s7comm_facts(const s7comm_segment& seg, const packet_view& /*pkt*/, fact_sink& sink,
                  const s7comm_vendor_lookup& vendors) {
  auto emit = [&sink](field_name field, std::string value, std::uint8_t confidence) {
    if (value.empty()) {
      return;
    }
    fact f;
    f.about = subject::sender;
    f.source = "s7comm";
    f.field = field;
    f.value = std::move(value);
    f.confidence = confidence;
    sink.add(std::move(f));
  };
  const s7comm_szl_0011* module = nullptr;
  const s7comm_szl_0011* hardware = nullptr;
  for (const auto& r : seg.module_id_list()) {
    switch (r.index) {
      case 1:
        emit("order_number", printable(r.mlfb.view()), 90);
        module = &r;
        break;
      case 6:
        hardware = &r;
        break;
      case 7:
        if ((r.ausbg >> 8) == 'V') {
          emit("firmware", s7comm_version(r.ausbg, r.ausbe), 90);
        }
        break;
      default:
        break;
    }
  }
  if (hardware == nullptr) {
    hardware = module;
  }
  if (hardware != nullptr) {
    emit("hardware_version", s7comm_version(hardware->ausbg, hardware->ausbe), 70);
  }
  char b[8];
  for (const auto& r : seg.component_id_list()) {
    const std::string text = printable(r.text.view());
    switch (r.index) {
      case 1:
        emit("plc_name", text, 90);
        emit("device_name", text, 90);
        break;
      case 2:
        emit("module_name", text, 90);
        break;
      case 3:
        emit("plant_id", text, 70);
        break;
      case 4:
        emit("copyright", text, 70);
        break;
      case 5:
        emit("serial", text, 90);
        break;
      case 7:
        emit("model", text, 90);
        break;
      case 8:
        emit("memory_card_serial", text, 70);
        break;
      case 9:
        if (r.manufacturer_id != 0) {
          std::snprintf(b, sizeof b, "0x%04x", unsigned{r.manufacturer_id});
          emit("vendor_id", b, 90);
          if (vendors) {
            emit("vendor", std::string(vendors(r.manufacturer_id)), 80);
          }
        }
        break;
      case 11:
        emit("location", text, 70);
        break;
      default:
        break;
    }
  }
}

}  // namespace tapsense::proto
