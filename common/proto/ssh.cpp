#include "common/proto/ssh.h"

#include <type_traits>

#include "common/net/bytes.h"
#include "common/proto/digest.h"

namespace tapsense::proto {

static_assert(std::is_trivially_copyable_v<ssh_handshake>);

namespace {

using net::bytes;
using net::fits;

constexpr std::size_t max_version_line = 255;  // with CR LF, RFC 4253 4.2
constexpr std::size_t max_other_line = 1024;
constexpr std::size_t max_lines_before = 16;
constexpr std::uint32_t max_packet_length = 35000;  // RFC 4253 6.1
constexpr std::uint8_t msg_kexinit = 20;
constexpr char prefix[] = "SSH-";

// Offset of the first '\n' in [from, from + limit) of `s`, or npos.
std::size_t find_lf(bytes s, std::size_t from, std::size_t limit) noexcept {
  const std::size_t end = s.size() - from < limit ? s.size() : from + limit;
  for (std::size_t i = from; i < end; ++i) {
    if (s[i] == '\n') {
      return i;
    }
  }
  return std::string_view::npos;
}

// Whether the bytes at `off` (as many as there are, up to 4) match "SSH-".
bool may_be_version(bytes s, std::size_t off) noexcept {
  for (std::size_t i = 0; i < 4 && off + i < s.size(); ++i) {
    if (s[off + i] != static_cast<std::uint8_t>(prefix[i])) {
      return false;
    }
  }
  return true;
}

void split_version(ssh_handshake& h) noexcept {
  const std::string_view l = h.banner();
  // "SSH-" protoversion "-" softwareversion [SP comments]
  const std::size_t dash = l.find('-', 4);
  const std::size_t proto_end = dash == std::string_view::npos ? l.size() : dash;
  h.proto_len = static_cast<std::uint8_t>(proto_end - 4);
  if (dash == std::string_view::npos) {
    h.software_off = h.line_len;
    h.comments_off = h.line_len;
    return;
  }
  const std::size_t sp = l.find(' ', dash + 1);
  const std::size_t sw_end = sp == std::string_view::npos ? l.size() : sp;
  h.software_off = static_cast<std::uint8_t>(dash + 1);
  h.software_len = static_cast<std::uint8_t>(sw_end - (dash + 1));
  h.comments_off = static_cast<std::uint8_t>(sp == std::string_view::npos ? l.size() : sp + 1);
  h.comments_len = static_cast<std::uint8_t>(l.size() - h.comments_off);
}

// The version line at `off`, ending at the '\n' at `lf`.
void take_version(bytes s, std::size_t off, std::size_t lf, ssh_handshake& h) noexcept {
  std::size_t end = lf;
  if (end > off && s[end - 1] == '\r') {
    --end;
  }
  // lf - off < 255, so the line fits the buffer.
  for (std::size_t i = off; i < end; ++i) {
    h.line[h.line_len] = static_cast<char>(s[i]);
    ++h.line_len;
  }
  h.has_banner = true;
  split_version(h);
  const std::string_view pv = h.proto_version();
  h.ssh1_only = pv.size() >= 2 && pv[0] == '1' && pv[1] == '.' && pv != "1.99";
}

ssh_error read_kexinit(bytes payload, ssh_handshake& h) noexcept {
  // byte SSH_MSG_KEXINIT, byte[16] cookie, name-list x 10,
  // boolean first_kex_packet_follows, uint32 0 (RFC 4253 7.1).
  if (payload.empty() || payload[0] != msg_kexinit) {
    return ssh_error::unexpected_message;
  }
  std::size_t at = 17;
  if (!fits(payload.size(), 0, at)) {
    return ssh_error::bad_kexinit;
  }
  ssh_kexinit& k = h.kexinit;
  for (auto& slot : k.lists) {
    if (!fits(payload.size(), at, 4)) {
      return ssh_error::bad_kexinit;
    }
    const std::uint32_t len = net::load_be32(payload.data() + at);
    at += 4;
    if (!fits(payload.size(), at, len)) {
      return ssh_error::bad_kexinit;
    }
    if (!fits(k.store.size(), k.used, len)) {
      return ssh_error::list_overflow;
    }
    slot.off = k.used;
    slot.len = static_cast<std::uint16_t>(len);
    for (std::size_t i = 0; i < len; ++i) {
      k.store[k.used + i] = static_cast<char>(payload[at + i]);
    }
    k.used = static_cast<std::uint16_t>(k.used + len);
    at += len;
  }
  if (fits(payload.size(), at, 1)) {
    k.first_kex_packet_follows = payload[at] != 0;
  }
  h.has_kexinit = true;
  return ssh_error::none;
}

ssh_error parse(bytes s, ssh_handshake& h) noexcept {
  std::size_t off = 0;
  for (;;) {
    if (may_be_version(s, off)) {
      if (s.size() - off < 4) {
        return ssh_error::incomplete;
      }
      const std::size_t lf = find_lf(s, off, max_version_line);
      if (lf == std::string_view::npos) {
        return s.size() - off >= max_version_line ? ssh_error::long_line : ssh_error::incomplete;
      }
      take_version(s, off, lf, h);
      off = lf + 1;
      break;
    }
    // Lines before the version line: servers only.
    if (h.role == ssh_role::client || h.lines_before == max_lines_before) {
      return ssh_error::not_ssh;
    }
    const std::size_t lf = find_lf(s, off, max_other_line);
    if (lf == std::string_view::npos) {
      return s.size() - off >= max_other_line ? ssh_error::long_line : ssh_error::incomplete;
    }
    ++h.lines_before;
    off = lf + 1;
  }
  if (h.ssh1_only) {
    return ssh_error::none;
  }
  // uint32 packet_length, byte padding_length, payload, padding (RFC 4253 6).
  if (!fits(s.size(), off, 5)) {
    return ssh_error::incomplete;
  }
  const std::uint32_t packet_length = net::load_be32(s.data() + off);
  const std::uint8_t padding = s[off + 4];
  if (packet_length < 5 || packet_length > max_packet_length || padding >= packet_length) {
    return ssh_error::bad_packet_length;
  }
  h.kexinit_packet_length = packet_length;
  const std::size_t payload_len = packet_length - padding - 1;
  if (!fits(s.size(), off + 5, payload_len)) {
    return ssh_error::incomplete;
  }
  return read_kexinit(s.subspan(off + 5, payload_len), h);
}

std::string join4(const ssh_kexinit& k, ssh_list a, ssh_list b, ssh_list c, ssh_list d) {
  std::string s;
  s.reserve(k.used + 3);
  s += k.list(a);
  s += ';';
  s += k.list(b);
  s += ';';
  s += k.list(c);
  s += ';';
  s += k.list(d);
  return s;
}

fact make_fact(field_name field, std::string value, std::uint8_t confidence,
               source_name source = "ssh") {
  fact f;
  f.about = subject::sender;
  f.source = source;
  f.field = field;
  f.value = std::move(value);
  f.confidence = confidence;
  return f;
}

bool digit(char c) noexcept { return c >= '0' && c <= '9'; }

}  // namespace

const char* ssh_error_name(ssh_error e) noexcept {
  switch (e) {
#define X(name)         \
  case ssh_error::name: \
    return #name;
    TAPSENSE_SSH_ERRORS(X)
#undef X
    case ssh_error::count_:
      break;
  }
  return "unknown";
}

ssh_error parse_ssh(std::span<const std::uint8_t> stream, ssh_role role,
                    ssh_handshake& out) noexcept {
  out = ssh_handshake{};
  out.role = role;
  out.error = parse(stream, out);
  return out.error;
}

std::string hassh_string(const ssh_kexinit& k) {
  return join4(k, ssh_list::kex, ssh_list::enc_c2s, ssh_list::mac_c2s, ssh_list::comp_c2s);
}
std::string hassh(const ssh_kexinit& k) { return md5_hex(hassh_string(k)); }
std::string hassh_server_string(const ssh_kexinit& k) {
  return join4(k, ssh_list::kex, ssh_list::enc_s2c, ssh_list::mac_s2c, ssh_list::comp_s2c);
}
std::string hassh_server(const ssh_kexinit& k) { return md5_hex(hassh_server_string(k)); }

ssh_software ssh_software_of(std::string_view sv) noexcept {
  for (std::size_t i = 0; i + 1 < sv.size(); ++i) {
    if ((sv[i] == '_' || sv[i] == '-') && i > 0 && digit(sv[i + 1])) {
      return {sv.substr(0, i), sv.substr(i + 1)};
    }
  }
  return {sv, {}};
}

void ssh_facts(const ssh_handshake& h, const packet_view& /*pkt*/, fact_sink& sink) {
  if (h.has_banner) {
    sink.add(make_fact("banner", printable(h.banner()), 100));
    sink.add(make_fact("protocol", printable(h.proto_version()), 100));
    const ssh_software sw = ssh_software_of(h.software_version());
    if (!sw.name.empty() && !sw.version.empty()) {
      sink.add(make_fact("software", printable(sw.name) + "/" + printable(sw.version), 90));
    }
    if (h.comments_len != 0) {
      sink.add(make_fact("os_hint", printable(h.comments()), 70));
    }
  }
  if (h.has_kexinit) {
    if (h.role == ssh_role::client) {
      const std::string raw = hassh_string(h.kexinit);
      sink.add(make_fact("hassh", md5_hex(raw), 100));
      sink.add(make_fact("hassh_string", raw, 100));
    } else {
      const std::string raw = hassh_server_string(h.kexinit);
      sink.add(make_fact("hassh_server", md5_hex(raw), 100));
      sink.add(make_fact("hassh_server_string", raw, 100));
    }
  }
}

}  // namespace tapsense::proto
