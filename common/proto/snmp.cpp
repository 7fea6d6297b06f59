#include "common/proto/snmp.h"

#include <cstring>

namespace tapsense::proto {

namespace {

using bytes = std::span<const std::uint8_t>;

namespace ber {
inline constexpr std::uint8_t integer = 0x02;
inline constexpr std::uint8_t octet_string = 0x04;
inline constexpr std::uint8_t oid = 0x06;
inline constexpr std::uint8_t sequence = 0x30;
inline constexpr std::uint8_t ip_address = 0x40;  // [APPLICATION 0] IMPLICIT OCTET STRING (SIZE (4))
}  // namespace ber

// One TLV: its tag and its value, bounded by the enclosing value.
struct tlv {
  std::uint8_t tag = 0;
  bytes value;
};

// Reads the TLV at `in[off]`, checking every length against `in`; advances
// `off` past it.
snmp_error read_tlv(bytes in, std::size_t& off, tlv& out) noexcept {
  if (off >= in.size() || in.size() - off < 2) return snmp_error::truncated;
  const std::uint8_t tag = in[off];
  if ((tag & 0x1f) == 0x1f) return snmp_error::bad_tag;  // high tag number form: never in SNMP
  std::size_t pos = off + 1;
  std::size_t len = in[pos++];
  if (len == 0x80) return snmp_error::bad_length;  // indefinite: not allowed (RFC 3417 8)
  if (len > 0x80) {
    const std::size_t n = len & 0x7f;
    if (n > 4) return snmp_error::bad_length;
    if (in.size() - pos < n) return snmp_error::truncated;
    len = 0;
    for (std::size_t i = 0; i < n; ++i) len = (len << 8) | in[pos++];
  }
  if (in.size() - pos < len) return snmp_error::truncated;
  out.tag = tag;
  out.value = in.subspan(pos, len);
  off = pos + len;
  return snmp_error::none;
}

// A non-negative INTEGER that fits 32 bits.
bool read_uint(bytes v, std::uint32_t& out) noexcept {
  if (v.empty() || v.size() > 5 || (v[0] & 0x80) != 0) return false;
  std::uint64_t x = 0;
  for (const auto b : v) x = (x << 8) | b;
  if (x > 0xffffffffULL) return false;
  out = static_cast<std::uint32_t>(x);
  return true;
}

bool decode_oid(bytes v, snmp_oid& out) noexcept {
  out = snmp_oid{};
  if (v.empty()) return false;
  std::uint64_t sub = 0;
  std::size_t digits = 0;
  bool first = true;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (digits == 0 && v[i] == 0x80) return false;  // X.690 8.19.2: no leading 0x80
    sub = (sub << 7) | (v[i] & 0x7fu);
    if (++digits > 5 || sub > 0xffffffffULL) return false;
    if ((v[i] & 0x80) != 0) continue;
    if (first) {
      // The first sub-identifier packs the first two arcs (X.690 8.19.4).
      const std::uint32_t a = sub < 40 ? 0 : sub < 80 ? 1 : 2;
      out.arcs[0] = a;
      out.arcs[1] = static_cast<std::uint32_t>(sub - 40u * a);
      out.n = 2;
      first = false;
    } else {
      if (out.n >= out.arcs.size()) return false;
      out.arcs[out.n++] = static_cast<std::uint32_t>(sub);
    }
    sub = 0;
    digits = 0;
  }
  if (digits != 0) return false;  // the last sub-identifier is cut short
  out.present = true;
  return true;
}

// The encoded OIDs of the variables read (content octets of the OID TLV).
constexpr std::uint8_t oid_sys_descr[] = {0x2b, 6, 1, 2, 1, 1, 1, 0};      // 1.3.6.1.2.1.1.1.0
constexpr std::uint8_t oid_sys_object_id[] = {0x2b, 6, 1, 2, 1, 1, 2, 0};  // 1.3.6.1.2.1.1.2.0
constexpr std::uint8_t oid_sys_name[] = {0x2b, 6, 1, 2, 1, 1, 5, 0};       // 1.3.6.1.2.1.1.5.0

bool same(bytes v, const std::uint8_t* oid, std::size_t n) noexcept {
  return v.size() == n && std::memcmp(v.data(), oid, n) == 0;
}

snmp_error note(snmp_message& m, snmp_error e) noexcept {
  if (m.error == snmp_error::none) m.error = e;
  return m.error;
}

// VarBindList: SEQUENCE OF SEQUENCE { name OBJECT IDENTIFIER, value ANY }.
snmp_error read_varbinds(bytes list, snmp_message& m) noexcept {
  std::size_t off = 0;
  while (off < list.size()) {
    tlv vb;
    if (const auto e = read_tlv(list, off, vb); e != snmp_error::none) return note(m, e);
    if (vb.tag != ber::sequence) return note(m, snmp_error::bad_tag);
    std::size_t in = 0;
    tlv name;
    tlv value;
    if (const auto e = read_tlv(vb.value, in, name); e != snmp_error::none) return note(m, e);
    if (name.tag != ber::oid) return note(m, snmp_error::bad_tag);
    if (const auto e = read_tlv(vb.value, in, value); e != snmp_error::none) return note(m, e);
    ++m.varbinds;
    if (same(name.value, oid_sys_descr, sizeof oid_sys_descr) && value.tag == ber::octet_string) {
      m.sys_descr = {reinterpret_cast<const char*>(value.value.data()), value.value.size()};
      if (m.sys_descr.data() == nullptr) m.sys_descr = std::string_view("", 0);
    } else if (same(name.value, oid_sys_name, sizeof oid_sys_name) && value.tag == ber::octet_string) {
      m.sys_name = {reinterpret_cast<const char*>(value.value.data()), value.value.size()};
      if (m.sys_name.data() == nullptr) m.sys_name = std::string_view("", 0);
    } else if (same(name.value, oid_sys_object_id, sizeof oid_sys_object_id) && value.tag == ber::oid) {
      if (!decode_oid(value.value, m.sys_object_id)) note(m, snmp_error::bad_oid);
    }
  }
  return m.error;
}

}  // namespace

std::string snmp_oid::text() const {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    if (i != 0) s += '.';
    s += std::to_string(arcs[i]);
  }
  return s;
}

std::int64_t snmp_oid::enterprise() const noexcept {
  // iso(1) org(3) dod(6) internet(1) private(4) enterprises(1) <n>
  static constexpr std::uint32_t prefix[] = {1, 3, 6, 1, 4, 1};
  if (!present || n < 7) return -1;
  for (std::size_t i = 0; i < 6; ++i) {
    if (arcs[i] != prefix[i]) return -1;
  }
  return arcs[6];
}

snmp_error parse_snmp(bytes in, snmp_message& m) noexcept {
  m = snmp_message{};
  std::size_t off = 0;
  tlv msg;
  if (in.empty() || in[0] != ber::sequence) return note(m, snmp_error::not_snmp);
  if (const auto e = read_tlv(in, off, msg); e != snmp_error::none) return note(m, e);
  // Message: SEQUENCE { version INTEGER, community OCTET STRING, data PDUs }.
  std::size_t p = 0;
  tlv version;
  if (const auto e = read_tlv(msg.value, p, version); e != snmp_error::none) return note(m, e);
  std::uint32_t v = 0;
  if (version.tag != ber::integer || !read_uint(version.value, v)) return note(m, snmp_error::not_snmp);
  if (v != 0 && v != 1 && v != 3) return note(m, snmp_error::unknown_version);
  m.has_version = true;
  m.version = static_cast<std::uint8_t>(v);
  if (v == 3) {
    // msgGlobalData SEQUENCE { msgID, msgMaxSize, msgFlags, msgSecurityModel },
    // msgSecurityParameters OCTET STRING holding, for USM (3), SEQUENCE {
    // msgAuthoritativeEngineID OCTET STRING, ... } (RFC 3412 6, RFC 3414 2.4).
    tlv global;
    if (const auto e = read_tlv(msg.value, p, global); e != snmp_error::none) return note(m, e);
    if (global.tag != ber::sequence) return note(m, snmp_error::bad_tag);
    std::size_t g = 0;
    tlv field;
    for (int i = 0; i < 4; ++i) {
      if (const auto e = read_tlv(global.value, g, field); e != snmp_error::none) return note(m, e);
    }
    std::uint32_t model = 0;
    if (field.tag != ber::integer || !read_uint(field.value, model)) return note(m, snmp_error::bad_tag);
    tlv params;
    if (const auto e = read_tlv(msg.value, p, params); e != snmp_error::none) return note(m, e);
    if (params.tag != ber::octet_string) return note(m, snmp_error::bad_tag);
    if (model != 3) return m.error;  // not USM: nothing more is read
    std::size_t u = 0;
    tlv usm;
    if (const auto e = read_tlv(params.value, u, usm); e != snmp_error::none) return note(m, e);
    if (usm.tag != ber::sequence) return note(m, snmp_error::bad_tag);
    std::size_t q = 0;
    tlv engine;
    if (const auto e = read_tlv(usm.value, q, engine); e != snmp_error::none) return note(m, e);
    if (engine.tag != ber::octet_string) return note(m, snmp_error::bad_tag);
    m.engine_id = engine.value;
    return m.error;
  }
  tlv community;
  if (const auto e = read_tlv(msg.value, p, community); e != snmp_error::none) return note(m, e);
  if (community.tag != ber::octet_string) return note(m, snmp_error::bad_tag);
  tlv pdu;
  if (const auto e = read_tlv(msg.value, p, pdu); e != snmp_error::none) return note(m, e);
  if (pdu.tag < snmp_pdu::get_request || pdu.tag > snmp_pdu::report) return note(m, snmp_error::bad_tag);
  m.pdu_type = pdu.tag;
  std::size_t q = 0;
  if (pdu.tag == snmp_pdu::trap_v1) {
    // Trap-PDU: enterprise OID, agent-addr, generic-trap, specific-trap,
    // time-stamp, variable-bindings.
    tlv enterprise;
    if (const auto e = read_tlv(pdu.value, q, enterprise); e != snmp_error::none) return note(m, e);
    if (enterprise.tag != ber::oid) return note(m, snmp_error::bad_tag);
    if (!decode_oid(enterprise.value, m.trap_enterprise)) note(m, snmp_error::bad_oid);
    tlv agent;
    if (const auto e = read_tlv(pdu.value, q, agent); e != snmp_error::none) return note(m, e);
    if (agent.tag == ber::ip_address && agent.value.size() == 4) {
      m.agent_addr = net::ip_address::from_v4(agent.value.data());
      m.has_agent_addr = true;
    }
    for (int i = 0; i < 3; ++i) {
      tlv skip;
      if (const auto e = read_tlv(pdu.value, q, skip); e != snmp_error::none) return note(m, e);
    }
  } else {
    // request-id, error-status, error-index (non-repeaters, max-repetitions
    // for GetBulk: same positions), variable-bindings.
    for (int i = 0; i < 3; ++i) {
      tlv skip;
      if (const auto e = read_tlv(pdu.value, q, skip); e != snmp_error::none) return note(m, e);
      if (skip.tag != ber::integer) return note(m, snmp_error::bad_tag);
    }
  }
  tlv list;
  if (const auto e = read_tlv(pdu.value, q, list); e != snmp_error::none) return note(m, e);
  if (list.tag != ber::sequence) return note(m, snmp_error::bad_tag);
  return read_varbinds(list.value, m);
}

void snmp_facts(const snmp_message& m, const packet_view& pkt, fact_sink& sink) {
  if (!m.has_version) return;
  subject about = subject::sender;
  auto add = [&sink, &about](field_name field, std::string value, std::uint8_t conf) {
    if (value.empty()) return;
    fact f;
    f.about = about;
    f.source = "snmp";
    f.field = field;
    f.value = std::move(value);
    f.confidence = conf;
    sink.add(std::move(f));
  };
  if (m.version == 3) {
    // The authoritative engine is the agent's: whoever speaks from 161 or
    // sends a trap to 162, or whom a request to 161 is for.
    if (m.engine_id.empty()) return;  // engine discovery: no identity yet
    if (pkt.src_port == 161 || (pkt.dst_port == 162 && pkt.src_port != 161)) {
      about = subject::sender;
    } else if (pkt.dst_port == 161) {
      about = subject::receiver;
    } else {
      return;
    }
    static constexpr char hex[] = "0123456789abcdef";
    std::string id;
    for (const auto b : m.engine_id) {
      id += hex[b >> 4];
      id += hex[b & 0x0f];
    }
    add("snmp_version", "3", 100);
    add("engine_id", std::move(id), 100);
    if (const auto pen = m.engine_enterprise(); pen >= 0) add("enterprise", std::to_string(pen), 90);
    return;
  }
  if (!m.from_agent()) return;
  add("snmp_version", m.version == 0 ? "1" : "2c", 100);
  if (m.sys_descr.data() != nullptr) add("system_description", printable(m.sys_descr), 100);
  if (m.sys_name.data() != nullptr) {
    add("system_name", printable(m.sys_name), 100);
    add("hostname", printable(m.sys_name), 70);
  }
  const snmp_oid& id = m.sys_object_id.present ? m.sys_object_id : m.trap_enterprise;
  if (id.present) {
    const std::uint8_t conf = m.sys_object_id.present ? 100 : 90;
    add("sys_object_id", id.text(), conf);
    if (const auto pen = id.enterprise(); pen >= 0) add("enterprise", std::to_string(pen), conf);
  }
}

}  // namespace tapsense::proto
