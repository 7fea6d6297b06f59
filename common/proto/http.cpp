#include "common/proto/http.h"

#include "common/proto/smb.h"

#include <algorithm>
#include <type_traits>
#include <utility>
#include <vector>

namespace tapsense::proto {

static_assert(std::is_trivially_copyable_v<http_message>);

namespace {

constexpr std::size_t max_method_len = 32;

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

bool istarts_with(std::string_view s, std::string_view prefix) noexcept {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// RFC 9110 section 5.6.2 tchar.
bool is_tchar(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
    return true;
  }
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool is_ws(char c) noexcept { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (is_ws(s.front()) || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (is_ws(s.back()) || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

bool is_token(std::string_view s) noexcept {
  if (s.empty()) {
    return false;
  }
  for (char c : s) {
    if (!is_tchar(c)) {
      return false;
    }
  }
  return true;
}

// "HTTP/d.d"
bool is_version(std::string_view s) noexcept {
  return s.size() == 8 && s.substr(0, 5) == "HTTP/" && is_digit(s[5]) && s[6] == '.' &&
         is_digit(s[7]);
}

// Can `s`, the start of a stream whose first line has not ended yet, still
// become an HTTP start line?
bool plausible_prefix(std::string_view s) noexcept {
  constexpr std::string_view http = "HTTP/";
  if (http.substr(0, std::min(http.size(), s.size())) == s.substr(0, std::min(http.size(), s.size()))) {
    return true;
  }
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == ' ') {
      return i != 0;
    }
    if (!is_tchar(s[i]) || i >= max_method_len) {
      return false;
    }
  }
  return true;
}

bool parse_start_line(std::string_view line, http_message& m) noexcept {
  if (line.substr(0, 5) == "HTTP/") {
    // version SP status-code SP [reason]; some servers end after the code.
    if (line.size() < 12 || !is_version(line.substr(0, 8)) || line[8] != ' ' ||
        !is_digit(line[9]) || !is_digit(line[10]) || !is_digit(line[11]) ||
        (line.size() > 12 && line[12] != ' ')) {
      return false;
    }
    m.kind = http_kind::response;
    m.version = line.substr(0, 8);
    m.status = static_cast<std::uint16_t>((line[9] - '0') * 100 + (line[10] - '0') * 10 +
                                          (line[11] - '0'));
    m.reason = line.size() > 13 ? line.substr(13) : line.substr(line.size());
    return true;
  }
  const auto sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 > max_method_len) {
    return false;
  }
  const auto sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) {
    return false;
  }
  const std::string_view method = line.substr(0, sp1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!is_token(method) || !is_version(version)) {
    return false;
  }
  m.kind = http_kind::request;
  m.method = method;
  m.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  m.version = version;
  return true;
}

void note(http_message& m, http_error e) noexcept {
  if (m.error == http_error::none) {
    m.error = e;
  }
}

void set_first(std::string_view& field, std::string_view value) noexcept {
  if (field.data() == nullptr) {
    field = value;
  }
}

// Content-Length: 1*DIGIT, at most 15 digits (below 2^53).
std::optional<std::uint64_t> parse_length(std::string_view v) noexcept {
  if (v.empty() || v.size() > 15) {
    return std::nullopt;
  }
  std::uint64_t n = 0;
  for (char c : v) {
    if (!is_digit(c)) {
      return std::nullopt;
    }
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return n;
}

void apply_header(std::string_view name, std::string_view value, http_message& m,
                  bool& bad_length) noexcept {
  if (iequals(name, "host")) {
    set_first(m.host, value);
  } else if (iequals(name, "user-agent")) {
    set_first(m.user_agent, value);
  } else if (iequals(name, "server")) {
    set_first(m.server, value);
  } else if (iequals(name, "x-powered-by")) {
    set_first(m.x_powered_by, value);
  } else if (iequals(name, "content-type")) {
    set_first(m.content_type, value);
  } else if (iequals(name, "www-authenticate")) {
    set_first(m.www_authenticate, value);
  } else if (iequals(name, "location")) {
    set_first(m.location, value);
  } else if (iequals(name, "content-length")) {
    const auto n = parse_length(value);
    if (!n || (m.content_length && *m.content_length != *n)) {
      bad_length = true;
    } else {
      m.content_length = n;
    }
  } else if (iequals(name, "transfer-encoding")) {
    const auto comma = value.rfind(',');
    const std::string_view last = trim(comma == std::string_view::npos ? value : value.substr(comma + 1));
    m.chunked = iequals(last, "chunked");
  }
}

}  // namespace

const char* http_error_name(http_error e) noexcept {
  switch (e) {
#define X(name)          \
  case http_error::name: \
    return #name;
    TAPSENSE_HTTP_ERRORS(X)
#undef X
    case http_error::count_:
      break;
  }
  return "unknown";
}

std::string_view http_message::header(std::string_view name) const noexcept {
  for (const auto& h : header_list()) {
    if (iequals(h.name, name)) {
      return h.value;
    }
  }
  return {};
}

http_error parse_http(std::span<const std::uint8_t> in, http_message& out, bool datagram) noexcept {
  out = http_message{};
  const std::string_view all(reinterpret_cast<const char*>(in.data()), in.size());
  const std::string_view text = all.substr(0, std::min(all.size(), http_max_head));

  // Start line.
  const auto first_nl = text.find('\n');
  if (first_nl == std::string_view::npos) {
    if (!plausible_prefix(text)) {
      out.error = http_error::not_http;
    } else {
      out.error = all.size() >= http_max_head ? http_error::head_too_long : http_error::incomplete;
    }
    return out.error;
  }
  std::string_view line = text.substr(0, first_nl);
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  if (!parse_start_line(line, out)) {
    out = http_message{};
    out.error = http_error::not_http;
    return out.error;
  }

  // Header lines up to the empty line (or, for a datagram, the end).
  std::size_t pos = first_nl + 1;
  bool ended = false;
  bool bad_length = false;
  while (pos < text.size()) {
    const auto nl = text.find('\n', pos);
    if (nl == std::string_view::npos) {
      // The last line is not complete: more is coming (stream), or the
      // datagram was cut short (capture snap length). Either way its value
      // cannot be trusted whole.
      break;
    }
    std::string_view h = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (!h.empty() && h.back() == '\r') {
      h.remove_suffix(1);
    }
    if (h.empty()) {
      ended = true;
      break;
    }
    if (is_ws(h.front())) {
      continue;  // obs-fold continuation: skipped
    }
    const auto colon = h.find(':');
    if (colon == std::string_view::npos || !is_token(h.substr(0, colon))) {
      note(out, http_error::bad_header_line);
      continue;
    }
    const std::string_view name = h.substr(0, colon);
    const std::string_view value = trim(h.substr(colon + 1));
    if (out.header_len == http_max_headers) {
      note(out, http_error::too_many_headers);
    } else {
      out.headers[out.header_len++] = {name, value};
    }
    apply_header(name, value, out, bad_length);
  }
  if (!ended && datagram) {
    ended = true;  // a datagram's end ends its head; a partial last line is dropped
  }
  if (!ended) {
    const http_kind kind = out.kind;
    const bool too_long = all.size() >= http_max_head;
    out = http_message{};
    out.kind = kind;
    out.error = too_long ? http_error::head_too_long : http_error::incomplete;
    return out.error;
  }
  out.head_len = pos;

  if (bad_length) {
    out.content_length.reset();
    note(out, http_error::bad_content_length);
    return out.error;
  }
  if (out.chunked) {
    return out.error;
  }
  if (out.kind == http_kind::request) {
    out.message_len = out.head_len + out.content_length.value_or(0);
  } else if (out.status / 100 == 1 || out.status == 204 || out.status == 304) {
    out.message_len = out.head_len;
  } else if (out.content_length) {
    out.message_len = out.head_len + *out.content_length;
  }
  return out.error;
}

std::size_t http_products(std::string_view value, std::span<std::string_view> out) noexcept {
  std::size_t n = 0;
  std::size_t i = 0;
  while (i < value.size() && n < out.size()) {
    const char c = value[i];
    if (is_ws(c)) {
      ++i;
      continue;
    }
    if (c == '(') {
      // A comment, possibly nested; an unclosed one runs to the end.
      int depth = 0;
      for (; i < value.size(); ++i) {
        if (value[i] == '(') {
          ++depth;
        } else if (value[i] == ')' && --depth == 0) {
          ++i;
          break;
        }
      }
      continue;
    }
    std::size_t j = i;
    while (j < value.size() && !is_ws(value[j]) && value[j] != '(') {
      ++j;
    }
    const std::string_view word = value.substr(i, j - i);
    i = j;
    const auto slash = word.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == word.size()) {
      continue;
    }
    const std::string_view name = word.substr(0, slash);
    const std::string_view version = word.substr(slash + 1);
    if (!is_token(name) || !is_token(version)) {
      continue;
    }
    if (iequals(name, "HTTP") || iequals(name, "UPnP") || iequals(name, "DLNADOC")) {
      continue;
    }
    out[n++] = word;
  }
  return n;
}

// ---------------------------------------------------------------------------
// Facts

namespace {

class emitter {
 public:
  emitter(fact_sink& sink) : sink_(sink) {}
  void add(subject about, field_name field, std::string_view raw, std::uint8_t confidence) {
    std::string value = printable(raw);
    if (value.empty()) {
      return;
    }
    for (const auto& s : seen_) {
      if (s.first == field && s.second == value) {
        return;
      }
    }
    seen_.emplace_back(field, value);
    fact f;
    f.about = about;
    f.source = "http";
    f.field = field;
    f.value = std::move(value);
    f.confidence = confidence;
    sink_.add(std::move(f));
  }

 private:
  fact_sink& sink_;
  std::vector<std::pair<std::string_view, std::string>> seen_;
};

void software(emitter& out, std::string_view value, std::uint8_t confidence) {
  std::array<std::string_view, 16> products;
  const std::size_t n = http_products(value, products);
  for (std::size_t i = 0; i < n; ++i) {
    out.add(subject::sender, "software", products[i], confidence);
  }
}

std::string_view realm_of(std::string_view v) noexcept {
  for (std::size_t i = 0; i + 6 <= v.size(); ++i) {
    if (!iequals(v.substr(i, 6), "realm=")) {
      continue;
    }
    std::string_view rest = v.substr(i + 6);
    if (!rest.empty() && rest.front() == '"') {
      rest.remove_prefix(1);
      const auto q = rest.find('"');
      return q == std::string_view::npos ? rest : rest.substr(0, q);
    }
    const auto end = rest.find_first_of(", \t");
    return end == std::string_view::npos ? rest : rest.substr(0, end);
  }
  return {};
}

// RFC 4648 base64 (standard alphabet, '=' padding optional), into `out`;
// false on a character outside the alphabet or a dangling sextet.
bool base64_decode(std::string_view in, std::vector<std::uint8_t>& out) {
  out.clear();
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = -1;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '+') {
      v = 62;
    } else if (c == '/') {
      v = 63;
    } else if (c == '=') {
      break;
    } else {
      return false;
    }
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>(acc >> bits));
    }
  }
  return bits < 6;
}

// "NTLM <base64>" or "Negotiate <base64>" (RFC 4559): the NTLMSSP message
// in it, raw or SPNEGO-wrapped, as facts about the sender (the client in
// Authorization, the server in WWW-Authenticate).
void auth_ntlm_facts(std::string_view value, const packet_view& pkt, fact_sink& sink) {
  constexpr std::size_t max_token = 16 * 1024;
  const auto sp = value.find(' ');
  if (sp == std::string_view::npos) {
    return;
  }
  const std::string_view scheme = value.substr(0, sp);
  if (!iequals(scheme, "NTLM") && !iequals(scheme, "Negotiate")) {
    return;
  }
  const std::string_view token = trim(value.substr(sp + 1));
  if (token.size() > max_token) {
    return;
  }
  std::vector<std::uint8_t> blob;
  if (!base64_decode(token, blob)) {
    return;
  }
  smb_error err = smb_error::none;
  const auto ntlm = find_ntlmssp(blob, err);
  if (ntlm.empty()) {
    return;
  }
  ntlm_message n;
  parse_ntlmssp(ntlm, n);
  ntlm_facts(n, pkt, sink);
}

}  // namespace

void http_facts(const http_message& m, const packet_view& pkt, fact_sink& sink) {
  if (m.kind == http_kind::none || m.error == http_error::incomplete ||
      m.error == http_error::not_http || m.error == http_error::head_too_long) {
    return;
  }
  emitter out(sink);
  for (const auto& h : m.header_list()) {
    if (iequals(h.name, "authorization") || iequals(h.name, "proxy-authorization") ||
        iequals(h.name, "www-authenticate") || iequals(h.name, "proxy-authenticate")) {
      auth_ntlm_facts(h.value, pkt, sink);
    }
  }
  if (m.kind == http_kind::request) {
    out.add(subject::sender, "user_agent", m.user_agent, 90);
    if (!istarts_with(m.user_agent, "Mozilla/")) {
      software(out, m.user_agent, 70);
    }
    // A request to a proxy (absolute-form target, CONNECT) names the
    // origin in Host, not the receiver.
    const bool via_proxy = m.method == "CONNECT" || istarts_with(m.target, "http://") ||
                           istarts_with(m.target, "https://");
    if (!via_proxy) {
      out.add(subject::receiver, "http_host", m.host, 70);
    }
    return;
  }
  out.add(subject::sender, "server", m.server, 90);
  software(out, m.server, 80);
  out.add(subject::sender, "x_powered_by", m.x_powered_by, 80);
  software(out, m.x_powered_by, 80);
  out.add(subject::sender, "http_realm", realm_of(m.www_authenticate), 70);
}

}  // namespace tapsense::proto
