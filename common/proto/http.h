#pragma once
// HTTP/1.x message head parser (RFC 9112): request or status line and
// header fields. Bodies are not parsed; their length is worked out where the
// head allows, so a caller can step to the next message of a stream.
//
// Input: a contiguous prefix of one direction of a TCP stream (payload
// segments reassembled in sequence order), starting at a message boundary:
// the first bytes of the connection, or message_len bytes after a previous
// message. The caller passes what it has: a head that does not end inside
// the input gives http_error::incomplete, and the caller calls again when
// more bytes arrived (up to http_max_head). For a UDP datagram (SSDP, see
// ssdp.h) pass datagram = true: the end of the input then also ends the
// head (senders that omit the final empty line are common), a last line
// without its line end is dropped (a capture cut it), and incomplete means
// the start line itself was cut.
//
// Output: a plain, trivially copyable struct of views into the caller's
// buffer (valid as long as it is); nothing is allocated. Header values have
// leading and trailing whitespace removed; nothing else is rewritten (the
// facts function passes values through printable()).
//
// Tolerances (RFC 9112 section 2.2): a bare LF ends a line as CRLF does;
// header lines folded onto the next line (obs-fold) are skipped. Lines that
// are not "name: value" are skipped and named (bad_header_line).
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "common/proto/facts.h"

namespace tapsense::proto {

// Named results, in http_message::error (the first one met):
//   incomplete          the head does not end inside the input: nothing
//                       is filled in but `kind` (when the start line is
//                       whole); call again with more bytes. Not an error.
//   not_http            the first line is not an HTTP request or status line
//                       (also decided early, on a prefix that cannot become
//                       one): nothing filled in
//   head_too_long       no end of head within http_max_head bytes: nothing
//                       filled in; give up on this stream
//   bad_header_line     a header line without ':', with an empty or invalid
//                       name, or with whitespace before the ':': skipped
//   too_many_headers    more than http_max_headers: the rest are scanned for
//                       the well-known fields but not stored in `headers`
//   bad_content_length  Content-Length not a decimal number, over 2^53, or
//                       several different values: content_length and
//                       message_len unset (framing unknown)
#define TAPSENSE_HTTP_ERRORS(X) \
  X(none)                       \
  X(incomplete)                 \
  X(not_http)                   \
  X(head_too_long)              \
  X(bad_header_line)            \
  X(too_many_headers)           \
  X(bad_content_length)

enum class http_error : std::uint8_t {
#define X(name) name,
  TAPSENSE_HTTP_ERRORS(X)
#undef X
      count_
};
inline constexpr std::size_t http_error_count = static_cast<std::size_t>(http_error::count_);
const char* http_error_name(http_error e) noexcept;

struct http_error_counters {
  std::array<std::uint64_t, http_error_count> n{};
  void add(http_error e) noexcept {
    if (e != http_error::none && e < http_error::count_) {
      ++n[static_cast<std::size_t>(e)];
    }
  }
  std::uint64_t operator[](http_error e) const noexcept { return n[static_cast<std::size_t>(e)]; }
};

inline constexpr std::size_t http_max_head = 64 * 1024;
inline constexpr std::size_t http_max_headers = 64;

enum class http_kind : std::uint8_t { none, request, response };

struct http_header {
  std::string_view name;   // as sent (compare case-insensitively)
  std::string_view value;  // whitespace-trimmed
};

struct http_message {
  http_kind kind = http_kind::none;
  // Request line: method SP target SP version. Status line: version SP
  // status SP reason.
  std::string_view method;
  std::string_view target;
  std::string_view version;  // "HTTP/1.1"
  std::uint16_t status = 0;
  std::string_view reason;

  std::array<http_header, http_max_headers> headers{};
  std::uint8_t header_len = 0;

  // Well-known fields, first instance (absent: data() == nullptr).
  std::string_view host;
  std::string_view user_agent;
  std::string_view server;
  std::string_view x_powered_by;
  std::string_view content_type;
  std::string_view www_authenticate;
  std::string_view location;
  std::optional<std::uint64_t> content_length;
  bool chunked = false;  // Transfer-Encoding ends in "chunked"

  // Bytes of the head, start line through the empty line.
  std::size_t head_len = 0;
  // head_len + body length when the head tells it: Content-Length, or no
  // body (requests without one, 1xx/204/304 responses). Unset for chunked
  // bodies and responses read until close: the stream cannot be followed.
  std::optional<std::uint64_t> message_len;

  http_error error = http_error::none;

  std::span<const http_header> header_list() const noexcept {
    return std::span<const http_header>(headers).first(header_len);
  }
  // The first stored header of that name (case-insensitive); data() ==
  // nullptr when absent.
  std::string_view header(std::string_view name) const noexcept;
};

// Parses the head at the start of `in` into `out` (reset first); returns
// out.error. `datagram`: the input is one whole UDP message.
http_error parse_http(std::span<const std::uint8_t> in, http_message& out,
                      bool datagram = false) noexcept;

// Product tokens of a User-Agent or Server value (RFC 9110 section 10.1.5,
// 10.2.4): each "name/version" word outside (comments), at most out.size();
// returns how many were stored. Words without a version ("gws") are left
// out, as are protocol tokens that name no software ("HTTP/1.1",
// "UPnP/1.0", "DLNADOC/1.50"). "Apache/2.4.41 (Ubuntu) OpenSSL/1.1.1" ->
// "Apache/2.4.41", "OpenSSL/1.1.1".
std::size_t http_products(std::string_view value, std::span<std::string_view> out) noexcept;

// ---- Facts (facts.h), source "http" ----
// Request (client = sender):
//   user_agent = User-Agent                                   sender    (90)
//   software = each product token of the User-Agent, unless
//              it starts with "Mozilla/" (browser strings
//              need interpretation, left to the rules)        sender    (70)
//   http_host = Host (not for requests to a proxy: absolute-form
//               target or CONNECT)                            receiver  (70)
// Response (server = sender):
//   server = Server                                           sender    (90)
//   software = each product token of Server                   sender    (80)
//   x_powered_by = X-Powered-By; software = its tokens        sender    (80)
//   http_realm = realm of WWW-Authenticate (device models
//                often live there: Basic realm="NETGEAR R7000") sender  (70)
// Any message (source "ntlmssp", see smb.h ntlm_facts): NTLM carried in
// Authorization / Proxy-Authorization (the client's NEGOTIATE and
// AUTHENTICATE) or WWW-Authenticate / Proxy-Authenticate (the server's
// CHALLENGE) as "NTLM <base64>" or "Negotiate <base64>" (SPNEGO):
//   ntlm_version, netbios_name, ntlm_domain, dns_hostname, dns_domain,
//   dns_forest, ntlm_target, ntlm_user                        sender
// Nothing for not_http, incomplete or head_too_long.
void http_facts(const http_message& m, const packet_view& pkt, fact_sink& sink);

}  // namespace tapsense::proto
