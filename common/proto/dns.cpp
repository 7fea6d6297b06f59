#include "common/proto/dns.h"

#include <algorithm>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/net/bytes.h"

namespace tapsense::proto {

static_assert(std::is_trivially_copyable_v<dns_message>);

namespace {

using net::bytes;
using net::fits;

constexpr std::size_t header_len = 12;
constexpr std::size_t rr_fixed_len = 10;  // type, class, ttl, rdlength
constexpr std::size_t max_name_octets = 255;
constexpr std::size_t max_wire = 0xffff;

void note(dns_message& m, dns_error e) noexcept {
  if (m.error == dns_error::none) {
    m.error = e;
  }
}

char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) {
      return false;
    }
  }
  return true;
}

bool iends_with(std::string_view s, std::string_view suffix) noexcept {
  return s.size() >= suffix.size() && iequals(s.substr(s.size() - suffix.size()), suffix);
}

dns_error read_name(bytes wire, std::size_t off, dns_name_buf* out, std::size_t* end) noexcept;

// Checks the name at `off` and returns the offset past it (in `end`).
dns_error skip_name(bytes wire, std::size_t off, std::size_t& end) noexcept {
  return read_name(wire, off, nullptr, &end);
}

// rdata holding one name that must end inside the rdata (pointers may leave it).
bool name_in_rdata(bytes wire, std::size_t name_off, std::size_t rdata_end) noexcept {
  std::size_t end = 0;
  return skip_name(wire.first(rdata_end), name_off, end) == dns_error::none && end <= rdata_end;
}

void decode_rdata(bytes wire, dns_rr& rr, dns_message& m) noexcept {
  const std::size_t off = rr.rdata_off;
  const std::size_t len = rr.rdata_len;
  const std::size_t end = off + len;
  bool ok = false;
  switch (rr.type) {
    case dns_type::a:
      if (len == 4) {
        rr.addr = net::ip_address::from_v4(wire.data() + off);
        ok = true;
      }
      break;
    case dns_type::aaaa:
      if (len == 16) {
        rr.addr = net::ip_address::from_v6(wire.data() + off);
        ok = true;
      }
      break;
    case dns_type::cname:
    case dns_type::ptr:
    case dns_type::ns:
    case dns_type::dname:
      if (len > 0 && name_in_rdata(wire, off, end)) {
        rr.target_off = static_cast<std::uint16_t>(off);
        ok = true;
      }
      break;
    case dns_type::mx:
      if (len > 2 && name_in_rdata(wire, off + 2, end)) {
        rr.priority = net::load_be16(wire.data() + off);
        rr.target_off = static_cast<std::uint16_t>(off + 2);
        ok = true;
      }
      break;
    case dns_type::srv:
      if (len > 6 && name_in_rdata(wire, off + 6, end)) {
        rr.priority = net::load_be16(wire.data() + off);
        rr.weight = net::load_be16(wire.data() + off + 2);
        rr.port = net::load_be16(wire.data() + off + 4);
        rr.target_off = static_cast<std::uint16_t>(off + 6);
        ok = true;
      }
      break;
    case dns_type::txt: {
      dns_txt_reader r(wire.subspan(off, len));
      std::string_view s;
      while (r.next(s)) {
      }
      ok = !r.malformed();
      break;
    }
    default:
      return;  // raw rdata only; not an error
  }
  rr.rdata_ok = ok;
  if (!ok) {
    note(m, dns_error::bad_rdata);
  }
}

}  // namespace

const char* dns_error_name(dns_error e) noexcept {
  switch (e) {
#define X(name)         \
  case dns_error::name: \
    return #name;
    TAPSENSE_DNS_ERRORS(X)
#undef X
    case dns_error::count_:
      break;
  }
  return "unknown";
}

namespace {

// The one name walker; `out` is null when only the checks and the end matter.
dns_error read_name(bytes wire, std::size_t off, dns_name_buf* out, std::size_t* end) noexcept {
  if (out != nullptr) {
    out->len = 0;
    out->labels = 0;
    out->first_label_len = 0;
  }
  std::size_t pos = off;
  std::size_t run_start = off;  // start of the current label run
  std::size_t octets = 0;       // wire length of the name so far
  bool jumped = false;
  for (;;) {
    if (pos >= wire.size()) {
      return dns_error::truncated_name;
    }
    const std::uint8_t len = wire[pos];
    if (len == 0) {
      if (!jumped && end != nullptr) {
        *end = pos + 1;
      }
      return dns_error::none;
    }
    if ((len & 0xc0) == 0xc0) {
      if (!fits(wire.size(), pos, 2)) {
        return dns_error::truncated_name;
      }
      const std::size_t target = (std::size_t{len & 0x3fu} << 8) | wire[pos + 1];
      // Strictly before the run we are in: forward, self and looping
      // pointers all fail this, and run starts strictly decrease.
      if (target >= run_start) {
        return dns_error::bad_pointer;
      }
      if (!jumped && end != nullptr) {
        *end = pos + 2;
      }
      jumped = true;
      pos = target;
      run_start = target;
      continue;
    }
    if ((len & 0xc0) != 0) {
      return dns_error::bad_label_type;
    }
    if (!fits(wire.size(), pos + 1, len)) {
      return dns_error::truncated_name;
    }
    octets += 1u + len;
    if (octets + 1 > max_name_octets) {  // + the root label
      return dns_error::name_too_long;
    }
    // octets <= 254 keeps text (labels + dots) under 254 bytes.
    if (out != nullptr) {
      if (out->labels != 0) {
        out->text[out->len++] = '.';
      } else {
        out->first_label_len = len;
      }
      for (std::size_t i = 0; i < len; ++i) {
        out->text[out->len++] = static_cast<char>(wire[pos + 1 + i]);
      }
      ++out->labels;
    }
    pos += 1u + len;
  }
}

}  // namespace

dns_error dns_read_name(std::span<const std::uint8_t> wire, std::size_t off, dns_name_buf& out,
                        std::size_t* end) noexcept {
  return read_name(wire, off, &out, end);
}

dns_error parse_dns(std::span<const std::uint8_t> in, dns_message& out) noexcept {
  out = dns_message{};
  if (in.size() > max_wire) {
    in = in.first(max_wire);
  }
  out.wire = in;
  if (in.size() < header_len) {
    out.error = dns_error::truncated_header;
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
    std::size_t end = 0;
    const dns_error e = skip_name(in, pos, end);
    if (e != dns_error::none) {
      note(out, e);
      return out.error;
    }
    if (!fits(in.size(), end, 4)) {
      note(out, dns_error::truncated_record);
      return out.error;
    }
    if (out.question_len == dns_max_questions) {
      note(out, dns_error::too_many_records);
    } else {
      auto& q = out.questions[out.question_len++];
      q.name_off = static_cast<std::uint16_t>(pos);
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
      std::size_t end = 0;
      const dns_error e = skip_name(in, pos, end);
      if (e != dns_error::none) {
        note(out, e);
        return out.error;
      }
      if (!fits(in.size(), end, rr_fixed_len)) {
        note(out, dns_error::truncated_record);
        return out.error;
      }
      dns_rr rr;
      rr.section = section;
      rr.name_off = static_cast<std::uint16_t>(pos);
      rr.type = net::load_be16(p + end);
      rr.rclass = net::load_be16(p + end + 2);
      rr.ttl = net::load_be32(p + end + 4);
      const std::size_t rdlen = net::load_be16(p + end + 8);
      const std::size_t rdata_off = end + rr_fixed_len;
      if (!fits(in.size(), rdata_off, rdlen)) {
        note(out, dns_error::truncated_record);
        return out.error;
      }
      rr.rdata_off = static_cast<std::uint16_t>(rdata_off);
      rr.rdata_len = static_cast<std::uint16_t>(rdlen);
      decode_rdata(in, rr, out);
      if (out.record_len == dns_max_records) {
        note(out, dns_error::too_many_records);
      } else {
        out.records[out.record_len++] = rr;
      }
      pos = rdata_off + rdlen;
    }
  }
  return out.error;
}

std::string dns_name_at(const dns_message& m, std::uint16_t off) {
  if (off == dns_no_name) {
    return {};
  }
  dns_name_buf b;
  if (dns_read_name(m.wire, off, b) != dns_error::none) {
    return {};
  }
  return std::string(b.view());
}

bool dns_names_equal(const dns_message& m, std::uint16_t a, std::uint16_t b) noexcept {
  if (a == b) {
    return a != dns_no_name;
  }
  if (a == dns_no_name || b == dns_no_name) {
    return false;
  }
  dns_name_buf x;
  dns_name_buf y;
  if (dns_read_name(m.wire, a, x) != dns_error::none ||
      dns_read_name(m.wire, b, y) != dns_error::none) {
    return false;
  }
  return iequals(x.view(), y.view());
}

std::optional<net::ip_address> dns_reverse_address(std::string_view name) noexcept {
  constexpr std::string_view v4_suffix = ".in-addr.arpa";
  constexpr std::string_view v6_suffix = ".ip6.arpa";
  if (iends_with(name, v4_suffix)) {
    std::string_view rest = name.substr(0, name.size() - v4_suffix.size());
    std::uint8_t octets[4] = {};
    for (int i = 3; i >= 0; --i) {
      const auto dot = rest.find('.');
      const std::string_view label = rest.substr(0, dot);
      if (label.empty() || label.size() > 3 || (label.size() > 1 && label[0] == '0')) {
        return std::nullopt;
      }
      unsigned v = 0;
      for (char c : label) {
        if (c < '0' || c > '9') {
          return std::nullopt;
        }
        v = v * 10 + static_cast<unsigned>(c - '0');
      }
      if (v > 255) {
        return std::nullopt;
      }
      octets[i] = static_cast<std::uint8_t>(v);
      if (i == 0) {
        if (dot != std::string_view::npos) {
          return std::nullopt;  // more than four labels
        }
      } else {
        if (dot == std::string_view::npos) {
          return std::nullopt;  // partial name: a network, not an address
        }
        rest.remove_prefix(dot + 1);
      }
    }
    return net::ip_address::from_v4(octets);
  }
  if (iends_with(name, v6_suffix)) {
    const std::string_view rest = name.substr(0, name.size() - v6_suffix.size());
    if (rest.size() != 63) {  // 32 nibbles and 31 dots
      return std::nullopt;
    }
    std::uint8_t b[16] = {};
    for (std::size_t i = 0; i < 32; ++i) {
      const char c = lower(rest[i * 2]);
      if (i < 31 && rest[i * 2 + 1] != '.') {
        return std::nullopt;
      }
      unsigned v = 0;
      if (c >= '0' && c <= '9') {
        v = static_cast<unsigned>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v = static_cast<unsigned>(c - 'a' + 10);
      } else {
        return std::nullopt;
      }
      // Nibble i counts from the least significant end.
      const std::size_t byte = 15 - i / 2;
      b[byte] = static_cast<std::uint8_t>(b[byte] | ((i % 2 == 0) ? v : v << 4));
    }
    return net::ip_address::from_v6(b);
  }
  return std::nullopt;
}

bool dns_txt_reader::next(std::string_view& s) noexcept {
  if (pos_ >= rdata_.size()) {
    return false;
  }
  const std::size_t len = rdata_[pos_];
  if (!fits(rdata_.size(), pos_ + 1, len)) {
    malformed_ = true;
    pos_ = rdata_.size();
    return false;
  }
  s = std::string_view(reinterpret_cast<const char*>(rdata_.data() + pos_ + 1), len);
  pos_ += 1 + len;
  return true;
}

// ---------------------------------------------------------------------------
// Facts

namespace {

// Emits facts once each per message (responses repeat themselves: an mDNS
// announcement lists its service type in several records).
class emitter {
 public:
  emitter(fact_sink& sink, const packet_view& pkt, source_name source)
      : sink_(sink), pkt_(pkt), source_(source) {}

  void add(subject about, const net::ip_address& ip, field_name field,
           std::string_view raw, std::uint8_t confidence) {
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
    f.source = source_;
    f.field = field;
    f.value = std::move(value);
    f.confidence = confidence;
    sink_.add(std::move(f));
  }
  void sender(field_name field, std::string_view raw, std::uint8_t confidence) {
    add(subject::sender, {}, field, raw, confidence);
  }
  void ip(const net::ip_address& a, field_name field, std::string_view raw,
          std::uint8_t confidence) {
    add(subject::ip, a, field, raw, confidence);
  }
  // About whoever holds `a`: the sender when it is the packet's source IP.
  void holder(const net::ip_address& a, field_name field, std::string_view raw,
              std::uint8_t confidence) {
    if (pkt_.has_ip && a == pkt_.src_ip) {
      sender(field, raw, confidence);
    } else {
      ip(a, field, raw, confidence);
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
  source_name source_;
  std::vector<key> seen_;
};

bool is_address(const dns_rr& rr) noexcept {
  return rr.rdata_ok && (rr.type == dns_type::a || rr.type == dns_type::aaaa);
}

std::string_view strip_local(std::string_view name) noexcept {
  constexpr std::string_view local = ".local";
  if (iends_with(name, local) && name.size() > local.size()) {
    return name.substr(0, name.size() - local.size());
  }
  return name;
}

// "<instance>.<_svc>.<_tcp|_udp>.local" split into instance ("" for none) and
// "_svc._tcp"; false when the name is not a DNS-SD service name. Subtype
// names ("_printer._sub._http._tcp.local") give the service and no instance.
bool split_service(std::string_view name, std::string_view& instance,
                   std::string_view& service) noexcept {
  std::string_view rest = strip_local(name);
  if (rest.size() == name.size()) {
    return false;
  }
  if (!iends_with(rest, "._tcp") && !iends_with(rest, "._udp")) {
    return false;
  }
  const std::string_view head = rest.substr(0, rest.size() - 5);
  const auto dot = head.rfind("._");
  const std::size_t svc_start = dot == std::string_view::npos ? 0 : dot + 1;
  if (svc_start >= head.size() || head[svc_start] != '_') {
    return false;
  }
  service = rest.substr(svc_start);
  instance = dot == std::string_view::npos ? std::string_view{} : head.substr(0, dot);
  if (iends_with(instance, "._sub") || iequals(instance, "_sub")) {
    instance = {};
  }
  return true;
}

// TXT keys worth a field of their own (RFC 6763 section 6.4: keys compare
// case-insensitively). The field names must be static: facts hold views.
struct txt_field {
  std::string_view key;
  field_name field;
};
constexpr txt_field txt_fields[] = {
    {"model", "model"},
    {"osxvers", "osxvers"},
    {"md", "txt:md"},          // Google Cast model name
    {"fn", "txt:fn"},          // Google Cast friendly name
    {"am", "txt:am"},          // AirPort / AirPlay model
    {"ty", "txt:ty"},          // printer make and model (IPP, LPD)
    {"product", "txt:product"},
    {"usb_mfg", "txt:usb_MFG"},
    {"usb_mdl", "txt:usb_MDL"},
    {"mfg", "txt:mfg"},
    {"mdl", "txt:mdl"},
    {"manufacturer", "txt:manufacturer"},
    {"vendor", "txt:vendor"},
    {"serialnumber", "txt:serialNumber"},
    {"deviceid", "txt:deviceid"},
    {"srcvers", "txt:srcvers"},  // AirPlay source version
    {"vs", "txt:vs"},
    {"rpmd", "txt:rpMd"},        // Apple companion-link model
    {"rpvr", "txt:rpVr"},
    {"ve", "txt:ve"},            // Google Cast version
    {"os", "txt:os"},
    {"osver", "txt:osver"},
    {"firmware", "txt:firmware"},
    {"fv", "txt:fv"},
    {"hw", "txt:hw"},
    {"sw", "txt:sw"},
    {"version", "txt:version"},
    {"name", "txt:name"},
    {"device", "txt:device"},
    {"devicetype", "txt:devicetype"},
    {"machine", "txt:machine"},
};

void txt_facts(const dns_message& m, const dns_rr& rr, emitter& out) {
  dns_txt_reader r(m.rdata(rr));
  std::string_view s;
  while (r.next(s)) {
    if (s.empty()) {
      continue;
    }
    const auto eq = s.find('=');
    const std::string_view key = s.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? std::string_view{} : s.substr(eq + 1);
    if (key.empty()) {
      continue;  // RFC 6763 section 6.4: strings starting with '=' are ignored
    }
    const auto* known = std::find_if(std::begin(txt_fields), std::end(txt_fields),
                                     [&](const txt_field& t) { return iequals(t.key, key); });
    if (known != std::end(txt_fields) && eq != std::string_view::npos) {
      out.sender(known->field, value, known->field == "model" || known->field == "osxvers" ? 80 : 70);
    } else {
      out.sender("txt", s, 60);
    }
  }
}

// Every alias in `m` whose CNAME chain ends at the name at `owner_off`.
template <typename Fn>
void for_each_alias(const dns_message& m, std::uint16_t owner_off, Fn&& fn) {
  std::uint16_t current = owner_off;
  for (int hop = 0; hop < 8; ++hop) {
    bool found = false;
    for (const auto& rr : m.record_list()) {
      if (rr.type == dns_type::cname && rr.rdata_ok && dns_names_equal(m, rr.target_off, current)) {
        fn(rr.name_off);
        current = rr.name_off;
        found = true;
        break;
      }
    }
    if (!found) {
      return;
    }
  }
}

}  // namespace

void dns_facts(const dns_message& m, const packet_view& pkt, fact_sink& sink) {
  emitter out(sink, pkt, "dns");
  if (!m.is_response()) {
    for (const auto& q : m.question_list()) {
      out.sender("dns_query", dns_name_at(m, q.name_off), 30);
    }
    return;
  }
  for (const auto& rr : m.record_list()) {
    if (rr.type == dns_type::ptr && rr.rdata_ok) {
      if (const auto a = dns_reverse_address(dns_name_at(m, rr.name_off))) {
        out.ip(*a, "hostname", dns_name_at(m, rr.target_off), 70);
      }
      continue;
    }
    if (!is_address(rr)) {
      continue;
    }
    const std::string owner = dns_name_at(m, rr.name_off);
    const std::string ttl = std::to_string(rr.ttl);
    out.ip(rr.addr, "dns_name", owner, 90);
    out.ip(rr.addr, "dns_name_ttl", owner + "/" + ttl, 90);
    for_each_alias(m, rr.name_off, [&](std::uint16_t alias_off) {
      const std::string alias = dns_name_at(m, alias_off);
      out.ip(rr.addr, "dns_name", alias, 80);
      out.ip(rr.addr, "dns_name_ttl", alias + "/" + ttl, 80);
    });
  }
}

void mdns_facts(const dns_message& m, const packet_view& pkt, fact_sink& sink) {
  emitter out(sink, pkt, "mdns");
  if (!m.is_response()) {
    for (const auto& q : m.question_list()) {
      out.sender("mdns_query", dns_name_at(m, q.name_off), 30);
    }
  }
  for (const auto& rr : m.record_list()) {
    // A query's authority section holds the records its sender is probing
    // for (RFC 6762 section 8.2); its other sections are known answers.
    if (!m.is_response() && rr.section != dns_section::authority) {
      continue;
    }
    const std::string owner = dns_name_at(m, rr.name_off);
    std::string_view instance;
    std::string_view service;
    if (is_address(rr)) {
      const std::string_view host = strip_local(owner);
      if (host.size() != owner.size()) {
        out.holder(rr.addr, "hostname", host, 90);
      }
      continue;
    }
    if (rr.type == dns_type::ptr && rr.rdata_ok) {
      const std::string target = dns_name_at(m, rr.target_off);
      if (const auto a = dns_reverse_address(owner)) {
        out.holder(*a, "hostname", strip_local(target), 85);
      } else if (iequals(owner, "_services._dns-sd._udp.local")) {
        if (split_service(target, instance, service)) {
          out.sender("mdns_service", service, 80);
        }
      } else if (split_service(target, instance, service)) {
        out.sender("mdns_service", service, 80);
        out.sender("instance_name", instance, 80);
      }
      continue;
    }
    if (rr.type == dns_type::srv || rr.type == dns_type::txt) {
      if (split_service(owner, instance, service)) {
        out.sender("mdns_service", service, 80);
        out.sender("instance_name", instance, 80);
      }
      if (rr.type == dns_type::srv && rr.rdata_ok) {
        const std::string target = dns_name_at(m, rr.target_off);
        const std::string_view host = strip_local(target);
        if (host.size() != target.size()) {
          out.sender("srv_hostname", host, 60);
        }
      }
      if (rr.type == dns_type::txt && rr.rdata_ok) {
        txt_facts(m, rr, out);
      }
    }
  }
}

void llmnr_facts(const dns_message& m, const packet_view& pkt, fact_sink& sink) {
  emitter out(sink, pkt, "llmnr");
  if (!m.is_response()) {
    for (const auto& q : m.question_list()) {
      out.sender("llmnr_query", dns_name_at(m, q.name_off), 60);
    }
    return;
  }
  for (const auto& rr : m.record_list()) {
    if (rr.section != dns_section::answer || !is_address(rr)) {
      continue;
    }
    const std::string owner = dns_name_at(m, rr.name_off);
    out.sender("hostname", owner, 85);
    if (!(pkt.has_ip && rr.addr == pkt.src_ip)) {
      out.ip(rr.addr, "hostname", owner, 80);
    }
  }
}

}  // namespace tapsense::proto
