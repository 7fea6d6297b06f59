#pragma once
// TLS handshake parsers for fingerprinting (RFC 5246, RFC 8446): ClientHello
// features (JA3, JA4), ServerHello (JA3S, JA4S) and the leaf certificate's
// subject and issuer (TLS <= 1.2, where certificates travel in clear).
//
// Input: a prefix of ONE direction of a TCP stream, starting at the first
// payload byte of that direction (the TCP segments reassembled in sequence
// order; the prefix may stop anywhere). Client parsers take the
// client-to-server direction, server parsers the server-to-client one.
// Handshake messages may span TLS records and records may span segments;
// both are handled without copying the stream.
//
// "Call again" protocol: a parser returns tls_error::incomplete while the
// prefix ends before the message it needs is whole. The caller keeps the
// bytes, appends the next in-order segment and calls again with the longer
// prefix (parsing restarts from the stream's first byte; it is cheap). Any
// other result is final for that stream: stop feeding it. The caller should
// give up after a bound of its own (e.g. 16 KiB or 8 segments for a
// ClientHello, 64 KiB for the server's first flight).
//
// Output: plain, trivially copyable structs holding copies of every value
// (fixed capacities below), so nothing points into the caller's buffer.
// Lists longer than their capacity set list_overflow: the fingerprints of
// such a hello would be wrong, so fingerprintable() turns false.
//
// Every read is bounds-checked (lengths are compared as integers before any
// read). Problems have names (tls_error); a parse stops at the first
// structural one. What was decoded before it stays in the struct.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/proto/facts.h"

namespace tapsense::proto {

// Named problems, the result of a parse (the first one met):
//   incomplete            the stream prefix ends before the message is whole:
//                         call again with more bytes
//   not_tls               the stream does not start with a TLS handshake
//                         record (content type 22, version 3.x), e.g. an
//                         SSLv2-format hello or another protocol
//   bad_record_length     a record longer than 2^14 + 2048 bytes
//   unexpected_record     a non-handshake record (alert, change_cipher_spec,
//                         application data) before the message was whole
//   too_many_records      the message is spread over more than 64 records
//   unexpected_message    the first handshake message is not the hello asked for
//   bad_message_length    the hello claims more than 128 KiB
//   truncated_hello       a fixed field or a vector runs past the end of the
//                         hello message
//   bad_vector_length     a list of 16-bit values with an odd byte length
//   bad_extension         an extension's body does not match its own framing
//                         (e.g. an SNI list longer than the extension): that
//                         extension's values are dropped, the walk goes on
//   list_overflow         more values than a fixed capacity below
//   bad_certificate       the Certificate message or the leaf certificate's
//                         DER is malformed (server side; in cert_error only)
#define TAPSENSE_TLS_ERRORS(X) \
  X(none)                      \
  X(incomplete)                \
  X(not_tls)                   \
  X(bad_record_length)         \
  X(unexpected_record)         \
  X(too_many_records)          \
  X(unexpected_message)        \
  X(bad_message_length)        \
  X(truncated_hello)           \
  X(bad_vector_length)         \
  X(bad_extension)             \
  X(list_overflow)             \
  X(bad_certificate)

enum class tls_error : std::uint8_t {
#define X(name) name,
  TAPSENSE_TLS_ERRORS(X)
#undef X
      count_
};
inline constexpr std::size_t tls_error_count = static_cast<std::size_t>(tls_error::count_);

const char* tls_error_name(tls_error e) noexcept;

struct tls_error_counters {
  std::array<std::uint64_t, tls_error_count> n{};
  void add(tls_error e) noexcept {
    if (e != tls_error::none && e < tls_error::count_) {
      ++n[static_cast<std::size_t>(e)];
    }
  }
  std::uint64_t operator[](tls_error e) const noexcept { return n[static_cast<std::size_t>(e)]; }
};

// RFC 8701 GREASE: 0x0a0a, 0x1a1a, ... 0xfafa.
constexpr bool tls_is_grease(std::uint16_t v) noexcept {
  return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

// A fixed-capacity list of wire values, in wire order, GREASE included.
template <typename T, std::size_t N>
struct tls_list {
  std::array<T, N> v{};
  std::uint16_t n = 0;
  bool overflow = false;  // more than N values were on the wire

  std::span<const T> items() const noexcept { return std::span<const T>(v).first(n); }
  bool push(T x) noexcept {
    if (n == N) {
      overflow = true;
      return false;
    }
    v[n] = x;
    ++n;
    return true;
  }
};

// Up to 255 bytes of text copied out of the message; `truncated` when the
// wire value was longer.
struct tls_text {
  std::array<char, 255> b{};
  std::uint8_t n = 0;
  bool truncated = false;
  std::string_view view() const noexcept { return {b.data(), n}; }
  bool empty() const noexcept { return n == 0; }
};

inline constexpr std::size_t tls_max_ciphers = 512;
inline constexpr std::size_t tls_max_extensions = 96;
inline constexpr std::size_t tls_max_groups = 64;
inline constexpr std::size_t tls_max_sig_algs = 64;
inline constexpr std::size_t tls_max_point_formats = 32;
inline constexpr std::size_t tls_max_versions = 32;
inline constexpr std::size_t tls_max_alpn = 16;

// Extension numbers used here.
namespace tls_ext {
inline constexpr std::uint16_t server_name = 0;
inline constexpr std::uint16_t supported_groups = 10;
inline constexpr std::uint16_t ec_point_formats = 11;
inline constexpr std::uint16_t signature_algorithms = 13;
inline constexpr std::uint16_t alpn = 16;
inline constexpr std::uint16_t supported_versions = 43;
}  // namespace tls_ext

// ClientHello features, the input of the JA3 and JA4 renderers. About 6 KB.
struct tls_client_hello {
  std::uint16_t record_version = 0;  // version of the first record header
  std::uint32_t message_length = 0;  // handshake body length
  std::uint16_t legacy_version = 0;  // client_version (0x0303 for TLS 1.2 and 1.3)
  tls_list<std::uint16_t, tls_max_ciphers> ciphers;
  std::uint8_t compression_methods = 0;  // count
  tls_list<std::uint16_t, tls_max_extensions> extensions;    // types, in order
  tls_list<std::uint16_t, tls_max_groups> groups;            // supported_groups (10)
  tls_list<std::uint8_t, tls_max_point_formats> point_formats;  // ec_point_formats (11)
  tls_list<std::uint16_t, tls_max_sig_algs> sig_algs;        // signature_algorithms (13)
  tls_list<std::uint16_t, tls_max_versions> versions;        // supported_versions (43)
  // server_name (0): `has_sni` when the extension is present at all (JA4's
  // d/i); `sni` is its first host_name entry.
  bool has_sni = false;
  tls_text sni;
  // ALPN (16): the protocol names in order, each cut to 255 bytes.
  bool has_alpn = false;
  std::array<tls_text, tls_max_alpn> alpn{};
  std::uint8_t alpn_count = 0;
  bool alpn_overflow = false;

  tls_error error = tls_error::none;

  // True when the whole hello was parsed and every list fit: JA3/JA4 are right.
  bool fingerprintable() const noexcept;
  // "h2,http/1.1": the ALPN names joined by ',' (printable() applied).
  std::string alpn_list() const;
};

// The leaf certificate's names (first instance of each attribute).
struct tls_certificate {
  tls_text subject_cn;
  tls_text subject_o;
  tls_text subject_ou;
  tls_text issuer_cn;
  tls_text issuer_o;
  // subjectAltName dNSName entries joined by ',', cut at a name boundary
  // when over 255 bytes (`truncated` set), `san_count` counting all of them.
  tls_text san_dns;
  std::uint16_t san_count = 0;
};

enum class tls_cert_state : std::uint8_t {
  pending,    // the leaf certificate may still come: call again with more bytes
  absent,     // no Certificate message in clear (TLS 1.3, resumption, anonymous)
  parsed,     // `cert` holds the leaf certificate's names
  malformed,  // a Certificate message was there but broken (cert_error says how)
};

// ServerHello features (JA3S, JA4S) and, for TLS <= 1.2, the leaf certificate.
struct tls_server_hello {
  std::uint16_t record_version = 0;
  std::uint32_t message_length = 0;
  std::uint16_t legacy_version = 0;    // server_version
  std::uint16_t cipher = 0;            // the chosen cipher suite
  std::uint8_t compression = 0;
  bool hello_retry_request = false;    // the TLS 1.3 HRR random (RFC 8446 4.1.3)
  tls_list<std::uint16_t, tls_max_extensions> extensions;
  std::uint16_t selected_version = 0;  // supported_versions (43) value, 0 if absent
  tls_text alpn;                       // the selected protocol, empty if none
  bool has_alpn = false;

  tls_error error = tls_error::none;   // the ServerHello's own result

  tls_cert_state cert_state = tls_cert_state::pending;
  tls_error cert_error = tls_error::none;
  tls_certificate cert;

  bool fingerprintable() const noexcept;
  // The version the connection uses: selected_version when present, else legacy_version.
  std::uint16_t version() const noexcept {
    return selected_version != 0 ? selected_version : legacy_version;
  }
};

// Parses the first handshake message of a client-to-server stream prefix as
// a ClientHello. Resets `out` first; returns out.error.
tls_error parse_tls_client_hello(std::span<const std::uint8_t> stream,
                                 tls_client_hello& out) noexcept;

// Parses a ClientHello handshake message on its own (type, 24-bit length,
// body), as carried by QUIC CRYPTO frames or a caller's own reassembly.
// record_version stays 0.
tls_error parse_tls_client_hello_message(std::span<const std::uint8_t> message,
                                         tls_client_hello& out) noexcept;

// Parses a server-to-client stream prefix: the ServerHello, then (TLS <= 1.2)
// the handshake messages after it up to the Certificate, whose first (leaf)
// certificate is decoded. Resets `out` first; returns out.error, which is
// about the ServerHello only. When it is none, cert_state says whether the
// certificate is still pending (call again with more bytes while it is; a
// leaf certificate needs only its own bytes, not the whole chain).
tls_error parse_tls_server_hello(std::span<const std::uint8_t> stream,
                                 tls_server_hello& out) noexcept;

// Walks one DER-encoded X.509 certificate for the names in tls_certificate.
// Returns none or bad_certificate; names found before a problem are kept.
tls_error parse_x509_names(std::span<const std::uint8_t> der, tls_certificate& out) noexcept;

// ---------------------------------------------------------------------------
// Renderers: pure functions of the parsed features.

// JA3 (Salesforce): "SSLVersion,Ciphers,Extensions,EllipticCurves,
// EllipticCurvePointFormats", decimal values joined by '-', GREASE values
// removed from every list. Equals tshark's tls.handshake.ja3_full.
std::string ja3_string(const tls_client_hello& h);
// MD5 of ja3_string, lower-case hex: tshark's tls.handshake.ja3.
std::string ja3(const tls_client_hello& h);

// JA4 transport character.
enum class tls_transport : char { tcp = 't', quic = 'q', dtls = 'd' };

// JA4 (FoxIO, BSD-3-Clause spec), e.g. "t13d1516h2_8daaf6152771_e5627efa2ab1".
std::string ja4(const tls_client_hello& h, tls_transport t = tls_transport::tcp);
// JA4_r: the same with the sorted lists in clear instead of their hashes.
std::string ja4_raw(const tls_client_hello& h, tls_transport t = tls_transport::tcp);

// JA3S: "SSLVersion,Cipher,Extensions" and its MD5 (tshark's
// tls.handshake.ja3s_full / tls.handshake.ja3s).
std::string ja3s_string(const tls_server_hello& h);
std::string ja3s(const tls_server_hello& h);

// JA4S, e.g. "t120400_c030_4e8089b08790".
std::string ja4s(const tls_server_hello& h, tls_transport t = tls_transport::tcp);

// ---------------------------------------------------------------------------
// Facts (facts.h). `pkt` is the packet that completed the message; the
// sender is the client for tls_client_facts and the server for
// tls_server_facts. Nothing is emitted for a hello that is not
// fingerprintable, apart from the SNI when it was read. JA4's transport
// character is 'q' when pkt.ip_proto is UDP (a hello from QUIC CRYPTO
// frames, see parse_tls_client_hello_message), else 't'.
//   client: tls/sni (90), tls/ja3 (100), tls/ja3_string (100), tls/ja4 (100),
//           tls/alpn (90, "h2,http/1.1")
//   server: tls/ja3s (100), tls/ja3s_string (100), tls/ja4s (100),
//           tls/cert_subject_cn, tls/cert_subject_o, tls/cert_subject_ou,
//           tls/cert_issuer_cn, tls/cert_issuer_o, tls/cert_san (90 each;
//           only when cert_state == parsed)
void tls_client_facts(const tls_client_hello& h, const packet_view& pkt, fact_sink& sink);
void tls_server_facts(const tls_server_hello& h, const packet_view& pkt, fact_sink& sink);

}  // namespace tapsense::proto
