#include "common/proto/nbns.h"

#include <algorithm>
#include <cstdio>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/net/bytes.h"

namespace tapsense::proto {

static_assert(std::is_trivially_copyable_v<nbns_message>);
static_assert(std::is_trivially_copyable_v<nbdgm_message>);

namespace {

using net::bytes;
using net::fits;

constexpr std::size_t header_len = 12;
constexpr std::size_t rr_fixed_len = 10;
constexpr std::size_t nb_entry_len = 6;        // NB_FLAGS + IPv4 address
constexpr std::size_t node_name_entry_len = 18;  // 15 name + suffix + NAME_FLAGS

std::string_view as_text(bytes v) noexcept {
  return {reinterpret_cast<const char*>(v.data()), v.size()};
}

// Up to the first NUL (or all of it).
std::string_view c_string(bytes v) noexcept {
  const std::string_view s = as_text(v);
  const auto nul = s.find('\0');
  return nul == std::string_view::npos ? s : s.substr(0, nul);
}

void fill_name(const std::uint8_t* raw16, netbios_name& out) noexcept {
  out = netbios_name{};
  for (std::size_t i = 0; i < 15; ++i) {
    out.bytes[i] = static_cast<char>(raw16[i]);
  }
  std::size_t len = 15;
  while (len > 0 && out.bytes[len - 1] == ' ') {
    --len;
  }
  out.len = static_cast<std::uint8_t>(len);
  out.suffix = raw16[15];
}

}  // namespace

bool netbios_decode(std::span<const std::uint8_t> enc, netbios_name& out) noexcept {
  if (enc.size() != 32) {
    return false;
  }
  std::uint8_t raw[16];
  for (std::size_t i = 0; i < 16; ++i) {
    const std::uint8_t hi = enc[2 * i];
    const std::uint8_t lo = enc[2 * i + 1];
    if (hi < 'A' || hi > 'P' || lo < 'A' || lo > 'P') {
      return false;
    }
    raw[i] = static_cast<std::uint8_t>(((hi - 'A') << 4) | (lo - 'A'));
  }
  fill_name(raw, out);
  return true;
}

netbios_name_status netbios_read_name(std::span<const std::uint8_t> wire, std::size_t off,
                                      netbios_name& out, std::size_t& end) noexcept {
  dns_name_buf text;
  if (dns_read_name(wire, off, text, &end) != dns_error::none) {
    return netbios_name_status::bad_name;
  }
  if (text.first_label_len != 32) {
    return netbios_name_status::bad_encoding;
  }
  const std::string_view v = text.view();
  const auto* p = reinterpret_cast<const std::uint8_t*>(v.data());
  if (!netbios_decode({p, 32}, out)) {
    return netbios_name_status::bad_encoding;
  }
  out.has_scope = text.labels > 1;
  return netbios_name_status::ok;
}

std::string netbios_name_string(const netbios_name& n) {
  char suffix[8];
  std::snprintf(suffix, sizeof suffix, "<%02x>", n.suffix);
  return printable(n.name()) + suffix;
}

// ---------------------------------------------------------------------------
// Name service

namespace {

void note(nbns_message& m, nbns_error e) noexcept {
  if (m.error == nbns_error::none) {
    m.error = e;
  }
}

bool read_name(bytes wire, std::size_t off, netbios_name& out, std::size_t& end,
               nbns_message& m) noexcept {
  switch (netbios_read_name(wire, off, out, end)) {
    case netbios_name_status::ok:
      return true;
    case netbios_name_status::bad_name:
      note(m, nbns_error::bad_name);
      return false;
    case netbios_name_status::bad_encoding:
      note(m, nbns_error::bad_netbios_name);
      return false;
  }
  return false;
}

void decode_nb(bytes rdata, nbns_rr& rr, nbns_message& m) noexcept {
  if (rdata.size() % nb_entry_len != 0) {
    note(m, nbns_error::bad_rdata);
  }
  rr.first_address = m.address_len;
  for (std::size_t i = 0; i + nb_entry_len <= rdata.size(); i += nb_entry_len) {
    if (m.address_len == nbns_max_addresses) {
      note(m, nbns_error::too_many_records);
      break;
    }
    auto& a = m.addresses[m.address_len++];
    a.flags = net::load_be16(rdata.data() + i);
    a.addr = net::ip_address::from_v4(rdata.data() + i + 2);
    ++rr.address_count;
  }
}

// NODE_STATUS_RESPONSE rdata (RFC 1002 section 4.2.18): NUM_NAMES, the
// names, then statistics starting with the 6-byte unit ID.
void decode_nbstat(bytes rdata, nbns_message& m) noexcept {
  m.has_node_status = true;
  if (rdata.empty()) {
    note(m, nbns_error::bad_rdata);
    return;
  }
  const std::size_t count = rdata[0];
  std::size_t pos = 1;
  for (std::size_t i = 0; i < count; ++i) {
    if (!fits(rdata.size(), pos, node_name_entry_len)) {
      note(m, nbns_error::bad_rdata);
      return;
    }
    if (m.node_name_len == nbns_max_node_names) {
      note(m, nbns_error::too_many_records);
    } else {
      auto& n = m.node_names[m.node_name_len++];
      fill_name(rdata.data() + pos, n.name);
      n.flags = net::load_be16(rdata.data() + pos + 16);
    }
    pos += node_name_entry_len;
  }
  if (fits(rdata.size(), pos, 6)) {
    m.unit_id = net::mac_address::from_bytes(rdata.data() + pos);
  }
}

}  // namespace

const char* nbns_error_name(nbns_error e) noexcept {
  switch (e) {
#define X(name)          \
  case nbns_error::name: \
    return #name;
    TAPSENSE_NBNS_ERRORS(X)
#undef X
    case nbns_error::count_:
      break;
  }
  return "unknown";
}

nbns_error parse_nbns(std::span<const std::uint8_t> in, nbns_message& out) noexcept {
  out = nbns_message{};
  if (in.size() > 0xffff) {
    in = in.first(0xffff);
  }
  out.wire = in;
  if (in.size() < header_len) {
    out.error = nbns_error::truncated_header;
    return out.error;
  }
  const std::uint8_t* p = in.data();
  out.id = net::load_be16(p);
  out.flags = net::load_be16(p + 2);
  out.qdcount = net::load_be16(p + 4);
  out.ancount = net::load_be16(p + 6);
  out.nscount = net::load_be16(p + 8);
  out.arcount = net::load_be16(p + 10);

  std::size_t pos = header_len;
  for (std::size_t i = 0; i < out.qdcount; ++i) {
    netbios_name name;
    std::size_t end = 0;
    if (!read_name(in, pos, name, end, out)) {
      return out.error;
    }
    if (!fits(in.size(), end, 4)) {
      note(out, nbns_error::truncated_record);
      return out.error;
    }
    if (out.question_len == nbns_max_questions) {
      note(out, nbns_error::too_many_records);
    } else {
      auto& q = out.questions[out.question_len++];
      q.name = name;
      q.type = net::load_be16(p + end);
      q.qclass = net::load_be16(p + end + 2);
    }
    pos = end + 4;
  }
  const std::pair<dns_section, std::uint16_t> sections[] = {
      {dns_section::answer, out.ancount},
      {dns_section::authority, out.nscount},
      {dns_section::additional, out.arcount},
  };
  for (const auto& [section, count] : sections) {
    for (std::size_t i = 0; i < count; ++i) {
      nbns_rr rr;
      rr.section = section;
      std::size_t end = 0;
      if (!read_name(in, pos, rr.name, end, out)) {
        return out.error;
      }
      if (!fits(in.size(), end, rr_fixed_len)) {
        note(out, nbns_error::truncated_record);
        return out.error;
      }
      rr.type = net::load_be16(p + end);
      rr.rclass = net::load_be16(p + end + 2);
      rr.ttl = net::load_be32(p + end + 4);
      const std::size_t rdlen = net::load_be16(p + end + 8);
      const std::size_t rdata_off = end + rr_fixed_len;
      if (!fits(in.size(), rdata_off, rdlen)) {
        note(out, nbns_error::truncated_record);
        return out.error;
      }
      rr.rdata_off = static_cast<std::uint16_t>(rdata_off);
      rr.rdata_len = static_cast<std::uint16_t>(rdlen);
      if (out.record_len == nbns_max_records) {
        note(out, nbns_error::too_many_records);
      } else {
        const bytes rdata = in.subspan(rdata_off, rdlen);
        if (rr.type == nbns_type::nb) {
          decode_nb(rdata, rr, out);
        } else if (rr.type == nbns_type::nbstat && !out.has_node_status) {
          decode_nbstat(rdata, out);
        }
        out.records[out.record_len++] = rr;
      }
      pos = rdata_off + rdlen;
    }
  }
  return out.error;
}

// ---------------------------------------------------------------------------
// Datagram service

namespace {

constexpr std::size_t dgm_fixed_len = 10;   // type .. source port
constexpr std::size_t dgm_direct_len = 14;  // + DGM_LENGTH, PACKET_OFFSET
constexpr std::uint8_t dgm_flag_first = 0x02;

constexpr std::size_t smb1_header_len = 32;
constexpr std::uint8_t smb_com_transaction = 0x25;
constexpr std::size_t trans_min_words = 14;
constexpr std::size_t announcement_len = 32;  // fixed part, before the comment

void note(nbdgm_message& m, nbdgm_error e) noexcept {
  if (m.error == nbdgm_error::none) {
    m.error = e;
  }
}

bool read_dgm_name(bytes wire, std::size_t off, netbios_name& out, std::size_t& end,
                   nbdgm_message& m) noexcept {
  if (netbios_read_name(wire, off, out, end) != netbios_name_status::ok) {
    note(m, nbdgm_error::bad_name);
    return false;
  }
  return true;
}

void parse_browser(bytes f, nbdgm_message& m) noexcept {
  if (f.empty()) {
    note(m, nbdgm_error::bad_browser_frame);
    return;
  }
  m.has_browser = true;
  m.browser_command = f[0];
  switch (f[0]) {
    case browser_op::host_announcement:
    case browser_op::local_master_announcement:
    case browser_op::domain_announcement: {
      if (f.size() < announcement_len) {
        note(m, nbdgm_error::bad_browser_frame);
        return;
      }
      m.is_announcement = true;
      m.update_count = f[1];
      m.periodicity_ms = net::load_le32(f.data() + 2);
      m.server_name = c_string(f.subspan(6, 16));
      m.version_major = f[22];
      m.version_minor = f[23];
      m.server_type = net::load_le32(f.data() + 24);
      m.browser_major = f[28];
      m.browser_minor = f[29];
      m.signature = net::load_le16(f.data() + 30);
      m.comment = c_string(f.subspan(announcement_len));
      break;
    }
    case browser_op::announcement_request:  // opcode, reserved, ResponseName
      if (f.size() < 2) {
        note(m, nbdgm_error::bad_browser_frame);
        return;
      }
      m.other_name = c_string(f.subspan(2));
      break;
    case browser_op::request_election:  // opcode, version, criteria, uptime, unused, name
      if (f.size() < 14) {
        note(m, nbdgm_error::bad_browser_frame);
        return;
      }
      m.other_name = c_string(f.subspan(14));
      break;
    case browser_op::get_backup_list_response:  // opcode, count, token, names
      if (f.size() < 6) {
        note(m, nbdgm_error::bad_browser_frame);
        return;
      }
      m.other_name = c_string(f.subspan(6));
      break;
    case browser_op::become_backup:
    case browser_op::master_announcement:
      m.other_name = c_string(f.subspan(1));
      break;
    default:
      break;
  }
}

// An SMB_COM_TRANSACTION request writing to a mailslot ([MS-CIFS] 2.2.4.33,
// [MS-MAIL] 2.2.1). Offsets in it count from the start of the SMB header.
void parse_mailslot(bytes smb, nbdgm_message& m) noexcept {
  if (smb.size() < 4 || smb[0] != 0xff || smb[1] != 'S' || smb[2] != 'M' || smb[3] != 'B') {
    note(m, nbdgm_error::not_smb);
    return;
  }
  if (smb.size() < smb1_header_len + 1 || smb[4] != smb_com_transaction ||
      (smb[9] & 0x80) != 0) {  // FLAGS bit 7: a reply
    note(m, nbdgm_error::bad_smb);
    return;
  }
  const std::size_t words = smb[smb1_header_len];
  const std::size_t w = smb1_header_len + 1;  // first parameter word
  if (words < trans_min_words || !fits(smb.size(), w, words * 2 + 2)) {
    note(m, nbdgm_error::bad_smb);
    return;
  }
  const std::size_t data_count = net::load_le16(smb.data() + w + 22);
  const std::size_t data_offset = net::load_le16(smb.data() + w + 24);
  const std::size_t setup_count = smb[w + 26];
  if (words != trans_min_words + setup_count) {
    note(m, nbdgm_error::bad_smb);
    return;
  }
  const std::size_t byte_count_at = w + words * 2;
  const std::size_t byte_count = net::load_le16(smb.data() + byte_count_at);
  const std::size_t bytes_at = byte_count_at + 2;
  if (!fits(smb.size(), bytes_at, byte_count)) {
    note(m, nbdgm_error::bad_smb);
    return;
  }
  // The Name field: an ASCII mailslot path (mailslot writes never set the
  // Unicode flag), NUL-terminated.
  const bytes name_area = smb.subspan(bytes_at, byte_count);
  const std::string_view name = c_string(name_area);
  if (name.size() == name_area.size() || !fits(smb.size(), data_offset, data_count)) {
    note(m, nbdgm_error::bad_smb);
    return;
  }
  m.is_mailslot = true;
  m.mailslot = name;
  m.mailslot_data = smb.subspan(data_offset, data_count);
  constexpr std::string_view browse = "\\MAILSLOT\\BROWSE";
  if (name.size() == browse.size()) {
    bool same = true;
    for (std::size_t i = 0; i < name.size(); ++i) {
      const char c = name[i];
      const char u = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
      same = same && u == browse[i];
    }
    if (same) {
      parse_browser(m.mailslot_data, m);
    }
  }
}

}  // namespace

const char* nbdgm_error_name(nbdgm_error e) noexcept {
  switch (e) {
#define X(name)           \
  case nbdgm_error::name: \
    return #name;
    TAPSENSE_NBDGM_ERRORS(X)
#undef X
    case nbdgm_error::count_:
      break;
  }
  return "unknown";
}

nbdgm_error parse_nbdgm(std::span<const std::uint8_t> in, nbdgm_message& out) noexcept {
  out = nbdgm_message{};
  if (in.size() < dgm_fixed_len) {
    out.error = nbdgm_error::truncated_header;
    return out.error;
  }
  const std::uint8_t* p = in.data();
  out.type = p[0];
  out.flags = p[1];
  out.id = net::load_be16(p + 2);
  out.src_ip = net::ip_address::from_v4(p + 4);
  out.src_port = net::load_be16(p + 8);
  switch (out.type) {
    case nbdgm_type::direct_unique:
    case nbdgm_type::direct_group:
    case nbdgm_type::broadcast: {
      if (in.size() < dgm_direct_len) {
        out.error = nbdgm_error::truncated_header;
        return out.error;
      }
      // DGM_LENGTH counts the bytes after PACKET_OFFSET: names + user data.
      const std::size_t dgm_len = net::load_be16(p + 10);
      const bytes body = in.first(std::min(in.size(), dgm_direct_len + dgm_len));
      std::size_t end = 0;
      if (!read_dgm_name(body, dgm_direct_len, out.source, end, out)) {
        return out.error;
      }
      out.has_source = true;
      if (!read_dgm_name(body, end, out.destination, end, out)) {
        return out.error;
      }
      out.has_destination = true;
      out.user_data = body.subspan(end);
      // Only the first fragment starts with the SMB header.
      if ((out.flags & dgm_flag_first) != 0) {
        parse_mailslot(out.user_data, out);
      }
      break;
    }
    case nbdgm_type::query_request:
    case nbdgm_type::positive_query_response:
    case nbdgm_type::negative_query_response: {
      std::size_t end = 0;
      if (read_dgm_name(in, dgm_fixed_len, out.destination, end, out)) {
        out.has_destination = true;
      }
      break;
    }
    default:
      break;  // error datagrams and unknown types: header only
  }
  return out.error;
}

// ---------------------------------------------------------------------------
// Facts

namespace {

class emitter {
 public:
  emitter(fact_sink& sink, const packet_view& pkt) : sink_(sink), pkt_(pkt) {}

  void add(subject about, const net::ip_address& ip, source_name source,
           field_name field, std::string_view raw, std::uint8_t confidence) {
    std::string value = printable(raw);
    if (value.empty()) {
      return;
    }
    for (const auto& s : seen_) {
      if (s.about == about && s.ip == ip && s.field == field && s.value == value) {
        return;
      }
    }
    seen_.push_back({about, ip, field, value});
    fact f;
    f.about = about;
    f.ip = about == subject::ip ? ip : net::ip_address{};
    f.source = source;
    f.field = field;
    f.value = std::move(value);
    f.confidence = confidence;
    sink_.add(std::move(f));
  }
  void sender(source_name source, field_name field, std::string_view raw,
              std::uint8_t confidence) {
    add(subject::sender, {}, source, field, raw, confidence);
  }
  void holder(const net::ip_address& a, source_name source, field_name field,
              std::string_view raw, std::uint8_t confidence) {
    if (pkt_.has_ip && a == pkt_.src_ip) {
      add(subject::sender, {}, source, field, raw, confidence);
    } else {
      add(subject::ip, a, source, field, raw, confidence);
    }
  }

 private:
  struct key {
    subject about;
    net::ip_address ip;
    field_name field;
    std::string value;
  };
  fact_sink& sink_;
  const packet_view& pkt_;
  std::vector<key> seen_;
};

// The classified field for a name, or "" when none applies.
field_name classify(const netbios_name& n, bool group) noexcept {
  if (n.len == 0 || n.name()[0] == '*' || n.name()[0] == '\x01') {
    return {};
  }
  switch (n.suffix) {
    case 0x00:
      return group ? field_name("workgroup") : field_name("netbios_name");
    case 0x20:
      return group ? field_name{} : field_name("netbios_name");
    case 0x1e:
      return group ? field_name("workgroup") : field_name{};
    case 0x1d:
      return group ? field_name{} : field_name("workgroup");
    case 0x1b:
      return group ? field_name{} : field_name("domain");
    case 0x1c:
      return group ? field_name("domain") : field_name{};
    default:
      return {};
  }
}

// Bound name -> facts about whoever holds `a` (or the sender).
void name_facts(emitter& out, const netbios_name& n, bool group, const net::ip_address* a,
                std::uint8_t confidence) {
  const field_name field = classify(n, group);
  const std::string raw = netbios_name_string(n);
  if (a != nullptr) {
    if (!field.empty()) {
      out.holder(*a, "nbns", field, n.name(), confidence);
    }
    out.holder(*a, "nbns", "nbns_name", raw, confidence);
  } else {
    if (!field.empty()) {
      out.sender("nbns", field, n.name(), confidence);
    }
    out.sender("nbns", "nbns_name", raw, confidence);
  }
}

}  // namespace

void nbns_facts(const nbns_message& m, const packet_view& pkt, fact_sink& sink) {
  emitter out(sink, pkt);
  const std::uint8_t op = m.opcode();
  if (!m.is_response()) {
    if (op == nbns_opcode::query) {
      for (const auto& q : m.question_list()) {
        if (q.type == nbns_type::nb && q.name.len != 0 && q.name.name()[0] != '*') {
          out.sender("nbns", "nbns_query", netbios_name_string(q.name), 40);
        }
      }
      return;
    }
    const bool claim = op == nbns_opcode::registration || op == nbns_opcode::refresh ||
                       op == nbns_opcode::refresh_alt ||
                       op == nbns_opcode::multihomed_registration;
    if (!claim && op != nbns_opcode::release) {
      return;
    }
    for (const auto& rr : m.record_list()) {
      if (rr.type != nbns_type::nb) {
        continue;
      }
      for (const auto& a : m.addresses_of(rr)) {
        name_facts(out, rr.name, (a.flags & nbns_flag_group) != 0, &a.addr, claim ? 85 : 50);
      }
    }
    return;
  }
  if (m.rcode() != 0) {
    return;
  }
  for (const auto& rr : m.record_list()) {
    if (rr.type != nbns_type::nb || rr.section != dns_section::answer) {
      continue;
    }
    for (const auto& a : m.addresses_of(rr)) {
      name_facts(out, rr.name, (a.flags & nbns_flag_group) != 0, &a.addr, 80);
    }
  }
  if (m.has_node_status) {
    for (const auto& n : m.node_name_list()) {
      name_facts(out, n.name, (n.flags & nbns_flag_group) != 0, nullptr, 90);
    }
    if (!m.unit_id.is_zero()) {
      out.sender("nbns", "netbios_mac", m.unit_id.to_string(), 90);
    }
  }
}

void nbdgm_facts(const nbdgm_message& m, const packet_view& pkt, fact_sink& sink) {
  emitter out(sink, pkt);
  if (m.has_source && (m.source.suffix == 0x00 || m.source.suffix == 0x20)) {
    out.sender("nbdgm", "netbios_name", m.source.name(), 70);
  }
  if (!m.has_browser) {
    return;
  }
  char buf[16];
  switch (m.browser_command) {
    case browser_op::host_announcement:
    case browser_op::local_master_announcement:
      out.sender("browser", "netbios_name", m.server_name, 90);
      std::snprintf(buf, sizeof buf, "%u.%u", m.version_major, m.version_minor);
      out.sender("browser", "windows_version", buf, 80);
      std::snprintf(buf, sizeof buf, "0x%08x", m.server_type);
      out.sender("browser", "browser_server_type", buf, 90);
      out.sender("browser", "browser_comment", m.comment, 80);
      if (m.has_destination && (m.destination.suffix == 0x1d || m.destination.suffix == 0x1e) &&
          m.destination.len != 0 && m.destination.name()[0] != '\x01') {
        out.sender("browser", "workgroup", m.destination.name(), 80);
      }
      break;
    case browser_op::domain_announcement:
      out.sender("browser", "workgroup", m.server_name, 80);
      std::snprintf(buf, sizeof buf, "%u.%u", m.version_major, m.version_minor);
      out.sender("browser", "browser_config_version", buf, 60);
      std::snprintf(buf, sizeof buf, "0x%08x", m.server_type);
      out.sender("browser", "browser_server_type", buf, 90);
      out.sender("browser", "netbios_name", m.comment, 70);
      break;
    case browser_op::request_election:
    case browser_op::master_announcement:
      out.sender("browser", "netbios_name", m.other_name, 70);
      break;
    default:
      break;
  }
}

}  // namespace tapsense::proto
