#include "common/proto/tls.h"

#include <algorithm>
#include <cstdio>
#include <type_traits>

#include "common/net/bytes.h"
#include "common/proto/digest.h"

namespace tapsense::proto {

static_assert(std::is_trivially_copyable_v<tls_client_hello>);
static_assert(std::is_trivially_copyable_v<tls_server_hello>);

namespace {

using net::bytes;

constexpr std::uint8_t content_handshake = 22;
constexpr std::size_t record_header = 5;
// TLSCiphertext.length may reach 2^14 + 2048 (RFC 5246 6.2.3); anything
// longer is not TLS.
constexpr std::size_t max_record_length = 16384 + 2048;
constexpr std::size_t max_hello_length = 128 * 1024;

constexpr std::uint8_t hs_client_hello = 1;
constexpr std::uint8_t hs_server_hello = 2;
constexpr std::uint8_t hs_certificate = 11;

constexpr std::uint16_t tls13 = 0x0304;

// SHA-256("HelloRetryRequest"), the ServerHello.random of an HRR.
constexpr std::uint8_t hrr_random[32] = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};

// The handshake-layer bytes of a stream: the bodies of consecutive handshake
// records, concatenated without copying. Offsets are handshake offsets.
class hs_stream {
 public:
  static constexpr std::size_t max_fragments = 64;

  hs_stream() = default;
  explicit hs_stream(bytes whole) noexcept { add(whole); }

  bool add(bytes b) noexcept {
    if (b.empty()) {
      return true;
    }
    if (n_ == max_fragments) {
      return false;
    }
    f_[n_] = {b, total_};
    ++n_;
    total_ += b.size();
    return true;
  }
  std::size_t size() const noexcept { return total_; }

  // The byte at handshake offset `off`; callers check off < size() first.
  std::uint8_t at(std::size_t off) const noexcept {
    if (!in(last_, off)) {
      // Fragments are in offset order: binary search for the last start <= off.
      std::size_t lo = 0;
      std::size_t hi = n_;
      while (hi - lo > 1) {
        const std::size_t mid = lo + (hi - lo) / 2;
        if (f_[mid].start <= off) {
          lo = mid;
        } else {
          hi = mid;
        }
      }
      last_ = lo;
      if (!in(lo, off)) {
        return 0;  // unreachable when the caller checked the size
      }
    }
    return f_[last_].b[off - f_[last_].start];
  }

 private:
  struct fragment {
    bytes b;
    std::size_t start = 0;
  };
  bool in(std::size_t i, std::size_t off) const noexcept {
    return i < n_ && off >= f_[i].start && off - f_[i].start < f_[i].b.size();
  }
  std::array<fragment, max_fragments> f_{};
  std::size_t n_ = 0;
  std::size_t total_ = 0;
  mutable std::size_t last_ = 0;
};

// The records at the start of a stream, walked up to the first
// non-handshake record, the end of the prefix, or the fragment cap.
struct record_walk {
  hs_stream hs;
  tls_error error = tls_error::none;  // not_tls or bad_record_length: fatal
  bool closed = false;                // a non-handshake record ended the handshake bytes
  std::uint8_t closed_by = 0;         // its content type
  bool capped = false;                // more handshake records than fragments
  std::uint16_t first_version = 0;

  // Why bytes past hs.size() are not there.
  tls_error missing() const noexcept {
    if (capped) {
      return tls_error::too_many_records;
    }
    if (closed) {
      return tls_error::unexpected_record;
    }
    return tls_error::incomplete;
  }
};

void walk_records(bytes s, record_walk& w) noexcept {
  // The first bytes must look like a handshake record even before the
  // header is whole, so other protocols are turned away at once.
  if (!s.empty() && s[0] != content_handshake) {
    w.error = tls_error::not_tls;
    return;
  }
  if (s.size() >= 2 && s[1] != 3) {
    w.error = tls_error::not_tls;
    return;
  }
  std::size_t off = 0;
  bool first = true;
  while (net::fits(s.size(), off, record_header)) {
    const std::uint8_t type = s[off];
    const std::size_t len = net::load_be16(s.data() + off + 3);
    if (s[off + 1] != 3) {
      if (first) {
        w.error = tls_error::not_tls;
      } else {
        w.closed = true;  // not a record boundary we understand: stop here
        w.closed_by = 0;
      }
      return;
    }
    if (first) {
      w.first_version = net::load_be16(s.data() + off + 1);
      first = false;
    }
    if (len > max_record_length) {
      w.error = tls_error::bad_record_length;
      return;
    }
    if (type != content_handshake) {
      w.closed = true;
      w.closed_by = type;
      return;
    }
    const std::size_t body = off + record_header;
    const std::size_t avail = std::min(len, s.size() - body);
    if (!w.hs.add(s.subspan(body, avail))) {
      w.capped = true;
      return;
    }
    if (avail < len) {
      return;  // the prefix ends inside this record
    }
    off = body + len;
  }
}

// Reads from a window [pos, end) of an hs_stream. Every read checks the
// window first; a failed read marks the cursor bad, returns 0 and leaves the
// position alone, so callers test ok() once after a group of reads.
class cursor {
 public:
  cursor() = default;
  cursor(const hs_stream& s, std::size_t begin, std::size_t end) noexcept
      : s_(&s), pos_(begin), end_(end) {}

  bool ok() const noexcept { return ok_; }
  std::size_t pos() const noexcept { return pos_; }
  std::size_t left() const noexcept { return end_ - pos_; }
  bool has(std::size_t n) const noexcept { return ok_ && n <= left(); }

  std::uint8_t u8() noexcept {
    if (!has(1)) {
      ok_ = false;
      return 0;
    }
    return s_->at(pos_++);
  }
  std::uint16_t u16() noexcept {
    if (!has(2)) {
      ok_ = false;
      return 0;
    }
    const auto hi = s_->at(pos_);
    const auto lo = s_->at(pos_ + 1);
    pos_ += 2;
    return static_cast<std::uint16_t>((hi << 8) | lo);
  }
  std::uint32_t u24() noexcept {
    if (!has(3)) {
      ok_ = false;
      return 0;
    }
    const std::uint32_t v = (std::uint32_t{s_->at(pos_)} << 16) |
                            (std::uint32_t{s_->at(pos_ + 1)} << 8) | s_->at(pos_ + 2);
    pos_ += 3;
    return v;
  }
  bool skip(std::size_t n) noexcept {
    if (!has(n)) {
      ok_ = false;
      return false;
    }
    pos_ += n;
    return true;
  }
  // The next n bytes as a window of their own; this cursor moves past them.
  cursor take(std::size_t n) noexcept {
    if (!has(n)) {
      ok_ = false;
      cursor bad(*s_, pos_, pos_);
      bad.ok_ = false;
      return bad;
    }
    cursor c(*s_, pos_, pos_ + n);
    pos_ += n;
    return c;
  }
  // Compares the next n bytes with `ref` without moving.
  bool equals(const std::uint8_t* ref, std::size_t n) const noexcept {
    if (!has(n)) {
      return false;
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (s_->at(pos_ + i) != ref[i]) {
        return false;
      }
    }
    return true;
  }
  std::uint8_t peek(std::size_t i) const noexcept { return has(i + 1) ? s_->at(pos_ + i) : 0; }

 private:
  const hs_stream* s_ = nullptr;
  std::size_t pos_ = 0;
  std::size_t end_ = 0;
  bool ok_ = true;
};

void note(tls_error& slot, tls_error e) noexcept {
  if (slot == tls_error::none) {
    slot = e;
  }
}

void append_char(tls_text& t, char c) noexcept {
  if (t.n == t.b.size()) {
    t.truncated = true;
    return;
  }
  t.b[t.n] = c;
  ++t.n;
}

// Copies the rest of `c` into `t` (at most 255 bytes kept).
void copy_text(cursor c, tls_text& t) noexcept {
  t = tls_text{};
  while (c.has(1)) {
    append_char(t, static_cast<char>(c.u8()));
  }
}

// A code point as UTF-8 (for BMPString and UniversalString).
void append_utf8(tls_text& t, std::uint32_t cp) noexcept {
  if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
    cp = '?';
  }
  if (cp < 0x80) {
    append_char(t, static_cast<char>(cp));
  } else if (cp < 0x800) {
    append_char(t, static_cast<char>(0xc0 | (cp >> 6)));
    append_char(t, static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    append_char(t, static_cast<char>(0xe0 | (cp >> 12)));
    append_char(t, static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    append_char(t, static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    append_char(t, static_cast<char>(0xf0 | (cp >> 18)));
    append_char(t, static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    append_char(t, static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    append_char(t, static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

// A list of 16-bit values whose byte length is `len` (already in `c`).
tls_error read_u16_list(cursor c, auto& list) noexcept {
  if (c.left() % 2 != 0) {
    return tls_error::bad_vector_length;
  }
  while (c.has(2)) {
    list.push(c.u16());
  }
  return list.overflow ? tls_error::list_overflow : tls_error::none;
}

// ---------------------------------------------------------------------------
// ClientHello

void client_extension(std::uint16_t type, cursor body, tls_client_hello& h) noexcept {
  tls_error e = tls_error::none;
  switch (type) {
    case tls_ext::server_name: {
      // RFC 6066 3: ServerNameList, entries of (type, opaque name<1..2^16-1>).
      h.has_sni = true;
      if (body.left() == 0) {
        break;
      }
      const std::uint16_t list_len = body.u16();
      cursor list = body.take(list_len);
      if (!body.ok()) {
        e = tls_error::bad_extension;
        break;
      }
      bool got = false;
      while (list.has(1)) {
        const std::uint8_t name_type = list.u8();
        const std::uint16_t name_len = list.u16();
        cursor name = list.take(name_len);
        if (!list.ok()) {
          e = tls_error::bad_extension;
          break;
        }
        if (name_type == 0 && !got) {
          copy_text(name, h.sni);
          got = true;
        }
      }
      break;
    }
    case tls_ext::supported_groups:
    case tls_ext::signature_algorithms: {
      const std::uint16_t len = body.u16();
      cursor list = body.take(len);
      if (!body.ok()) {
        e = tls_error::bad_extension;
        break;
      }
      e = read_u16_list(list, type == tls_ext::supported_groups ? h.groups : h.sig_algs);
      break;
    }
    case tls_ext::ec_point_formats: {
      const std::uint8_t len = body.u8();
      cursor list = body.take(len);
      if (!body.ok()) {
        e = tls_error::bad_extension;
        break;
      }
      while (list.has(1)) {
        h.point_formats.push(list.u8());
      }
      if (h.point_formats.overflow) {
        e = tls_error::list_overflow;
      }
      break;
    }
    case tls_ext::alpn: {
      h.has_alpn = true;
      const std::uint16_t len = body.u16();
      cursor list = body.take(len);
      if (!body.ok()) {
        e = tls_error::bad_extension;
        break;
      }
      while (list.has(1)) {
        const std::uint8_t n = list.u8();
        cursor name = list.take(n);
        if (!list.ok()) {
          e = tls_error::bad_extension;
          break;
        }
        if (h.alpn_count == tls_max_alpn) {
          h.alpn_overflow = true;
          continue;
        }
        copy_text(name, h.alpn[h.alpn_count]);
        ++h.alpn_count;
      }
      break;
    }
    case tls_ext::supported_versions: {
      const std::uint8_t len = body.u8();
      cursor list = body.take(len);
      if (!body.ok()) {
        e = tls_error::bad_extension;
        break;
      }
      e = read_u16_list(list, h.versions);
      break;
    }
    default:
      break;
  }
  note(h.error, e);
}

// The body of a ClientHello (after the 4-byte handshake header).
void client_hello_body(cursor c, tls_client_hello& h) noexcept {
  h.legacy_version = c.u16();
  c.skip(32);  // random
  const std::uint8_t sid_len = c.u8();
  c.skip(sid_len);
  const std::uint16_t cs_len = c.u16();
  cursor cs = c.take(cs_len);
  if (!c.ok()) {
    note(h.error, tls_error::truncated_hello);
    return;
  }
  if (cs_len % 2 != 0) {
    note(h.error, tls_error::bad_vector_length);
    return;
  }
  while (cs.has(2)) {
    h.ciphers.push(cs.u16());
  }
  if (h.ciphers.overflow) {
    note(h.error, tls_error::list_overflow);
  }
  h.compression_methods = c.u8();
  c.skip(h.compression_methods);
  if (!c.ok()) {
    note(h.error, tls_error::truncated_hello);
    return;
  }
  if (c.left() == 0) {
    return;  // no extensions at all (SSL 3.0 style): valid
  }
  const std::uint16_t ext_len = c.u16();
  cursor exts = c.take(ext_len);
  if (!c.ok()) {
    note(h.error, tls_error::truncated_hello);
    return;
  }
  while (exts.has(1)) {
    const std::uint16_t type = exts.u16();
    const std::uint16_t len = exts.u16();
    cursor body = exts.take(len);
    if (!exts.ok()) {
      // The extension block's own framing is broken: nothing after this
      // point can be trusted.
      note(h.error, tls_error::truncated_hello);
      return;
    }
    if (!h.extensions.push(type)) {
      note(h.error, tls_error::list_overflow);
    }
    client_extension(type, body, h);
  }
}

// Checks the 4-byte handshake header at offset 0 of `w.hs` and whether the
// whole message is there. Returns none when [4, 4 + length) is readable.
tls_error whole_message(const record_walk& w, std::uint8_t want, std::uint32_t& length) noexcept {
  if (w.error != tls_error::none) {
    return w.error;
  }
  if (w.hs.size() >= 1 && w.hs.at(0) != want) {
    return tls_error::unexpected_message;
  }
  if (w.hs.size() < 4) {
    return w.missing();
  }
  length = (std::uint32_t{w.hs.at(1)} << 16) | (std::uint32_t{w.hs.at(2)} << 8) | w.hs.at(3);
  if (length > max_hello_length) {
    return tls_error::bad_message_length;
  }
  if (w.hs.size() - 4 < length) {
    return w.missing();
  }
  return tls_error::none;
}

// ---------------------------------------------------------------------------
// X.509 names (RFC 5280 4.1), just enough DER for the fields we keep.

constexpr std::uint8_t der_integer = 0x02;
constexpr std::uint8_t der_octet_string = 0x04;
constexpr std::uint8_t der_oid = 0x06;
constexpr std::uint8_t der_sequence = 0x30;
constexpr std::uint8_t der_set = 0x31;
constexpr std::uint8_t der_boolean = 0x01;

struct tlv {
  std::uint8_t tag = 0;
  cursor body;
};

// One TLV from `c`. Definite lengths of up to 4 bytes only; the value must
// lie inside `c`. Returns false (and c is bad) otherwise.
bool read_tlv(cursor& c, tlv& out) noexcept {
  const std::uint8_t tag = c.u8();
  if (!c.ok() || (tag & 0x1f) == 0x1f) {
    return false;  // high tag numbers never occur in the parts we read
  }
  const std::uint8_t first = c.u8();
  std::size_t len = first;
  if (first >= 0x80) {
    const std::size_t n = first & 0x7f;
    if (n == 0 || n > 4) {
      return false;  // indefinite (BER) or absurd
    }
    len = 0;
    for (std::size_t i = 0; i < n; ++i) {
      len = (len << 8) | c.u8();
    }
  }
  if (!c.ok()) {
    return false;
  }
  out.tag = tag;
  out.body = c.take(len);
  return c.ok();
}

bool expect(cursor& c, std::uint8_t tag, tlv& out) noexcept {
  return read_tlv(c, out) && out.tag == tag;
}

// A DirectoryString-ish value as UTF-8 text.
void der_string(const tlv& v, tls_text& t) noexcept {
  t = tls_text{};
  cursor c = v.body;
  switch (v.tag) {
    case 0x1e:  // BMPString: UCS-2 big-endian
      while (c.has(2)) {
        append_utf8(t, c.u16());
      }
      break;
    case 0x1c:  // UniversalString: UCS-4 big-endian
      while (c.has(4)) {
        const std::uint32_t hi = c.u16();
        append_utf8(t, (hi << 16) | c.u16());
      }
      break;
    default:  // UTF8String, PrintableString, IA5String, TeletexString, ...
      copy_text(c, t);
      break;
  }
}

// id-at-commonName 2.5.4.3, id-at-organizationName 2.5.4.10,
// id-at-organizationalUnitName 2.5.4.11; id-ce-subjectAltName 2.5.29.17.
constexpr std::uint8_t oid_cn[] = {0x55, 0x04, 0x03};
constexpr std::uint8_t oid_o[] = {0x55, 0x04, 0x0a};
constexpr std::uint8_t oid_ou[] = {0x55, 0x04, 0x0b};
constexpr std::uint8_t oid_san[] = {0x55, 0x1d, 0x11};

bool oid_is(const tlv& oid, const std::uint8_t (&ref)[3]) noexcept {
  return oid.body.left() == 3 && oid.body.equals(ref, 3);
}

// Name ::= SEQUENCE OF SET OF AttributeTypeAndValue. The first instance of
// each attribute wins.
bool read_name(cursor name, tls_text* cn, tls_text* o, tls_text* ou) noexcept {
  bool got_cn = false;
  bool got_o = false;
  bool got_ou = false;
  while (name.has(1)) {
    tlv rdn;
    if (!expect(name, der_set, rdn)) {
      return false;
    }
    while (rdn.body.has(1)) {
      tlv atv;
      tlv oid;
      tlv value;
      if (!expect(rdn.body, der_sequence, atv) || !expect(atv.body, der_oid, oid) ||
          !read_tlv(atv.body, value)) {
        return false;
      }
      if (cn != nullptr && !got_cn && oid_is(oid, oid_cn)) {
        der_string(value, *cn);
        got_cn = true;
      } else if (o != nullptr && !got_o && oid_is(oid, oid_o)) {
        der_string(value, *o);
        got_o = true;
      } else if (ou != nullptr && !got_ou && oid_is(oid, oid_ou)) {
        der_string(value, *ou);
        got_ou = true;
      }
    }
  }
  return true;
}

// GeneralNames ::= SEQUENCE OF GeneralName; dNSName is [2] IMPLICIT IA5String.
bool read_san(cursor value, tls_certificate& out) noexcept {
  tlv names;
  if (!expect(value, der_sequence, names)) {
    return false;
  }
  while (names.body.has(1)) {
    tlv gn;
    if (!read_tlv(names.body, gn)) {
      return false;
    }
    if (gn.tag != 0x82) {
      continue;
    }
    ++out.san_count;
    if (out.san_dns.truncated) {
      continue;
    }
    // Whole names only: a cut name would be a different name.
    const std::size_t need = gn.body.left() + (out.san_dns.n == 0 ? 0 : 1);
    if (need > out.san_dns.b.size() - out.san_dns.n) {
      out.san_dns.truncated = true;
      continue;
    }
    if (out.san_dns.n != 0) {
      append_char(out.san_dns, ',');
    }
    while (gn.body.has(1)) {
      append_char(out.san_dns, static_cast<char>(gn.body.u8()));
    }
  }
  return true;
}

bool read_certificate(cursor c, tls_certificate& out) noexcept {
  tlv cert;
  tlv tbs;
  if (!expect(c, der_sequence, cert) || !expect(cert.body, der_sequence, tbs)) {
    return false;
  }
  cursor& t = tbs.body;
  tlv f;
  if (!read_tlv(t, f)) {
    return false;
  }
  if (f.tag == 0xa0) {  // [0] EXPLICIT version
    if (!read_tlv(t, f)) {
      return false;
    }
  }
  if (f.tag != der_integer) {  // serialNumber
    return false;
  }
  tlv sig;
  tlv issuer;
  tlv validity;
  tlv subject;
  if (!expect(t, der_sequence, sig) || !expect(t, der_sequence, issuer)) {
    return false;
  }
  if (!read_name(issuer.body, &out.issuer_cn, &out.issuer_o, nullptr)) {
    return false;
  }
  if (!expect(t, der_sequence, validity) || !expect(t, der_sequence, subject)) {
    return false;
  }
  if (!read_name(subject.body, &out.subject_cn, &out.subject_o, &out.subject_ou)) {
    return false;
  }
  tlv spki;
  if (!expect(t, der_sequence, spki)) {
    return false;
  }
  // issuerUniqueID [1], subjectUniqueID [2], extensions [3].
  while (t.has(1)) {
    tlv opt;
    if (!read_tlv(t, opt)) {
      return false;
    }
    if (opt.tag != 0xa3) {
      continue;
    }
    tlv exts;
    if (!expect(opt.body, der_sequence, exts)) {
      return false;
    }
    while (exts.body.has(1)) {
      tlv ext;
      tlv oid;
      if (!expect(exts.body, der_sequence, ext) || !expect(ext.body, der_oid, oid)) {
        return false;
      }
      tlv v;
      if (!read_tlv(ext.body, v)) {
        return false;
      }
      if (v.tag == der_boolean && !read_tlv(ext.body, v)) {  // critical
        return false;
      }
      if (v.tag != der_octet_string) {
        return false;
      }
      if (oid_is(oid, oid_san) && !read_san(v.body, out)) {
        return false;
      }
    }
  }
  return true;
}

// ---------------------------------------------------------------------------
// ServerHello

void server_hello_body(cursor c, tls_server_hello& h) noexcept {
  h.legacy_version = c.u16();
  h.hello_retry_request = c.equals(hrr_random, sizeof hrr_random);
  c.skip(32);
  const std::uint8_t sid_len = c.u8();
  c.skip(sid_len);
  h.cipher = c.u16();
  h.compression = c.u8();
  if (!c.ok()) {
    note(h.error, tls_error::truncated_hello);
    return;
  }
  if (c.left() == 0) {
    return;
  }
  const std::uint16_t ext_len = c.u16();
  cursor exts = c.take(ext_len);
  if (!c.ok()) {
    note(h.error, tls_error::truncated_hello);
    return;
  }
  while (exts.has(1)) {
    const std::uint16_t type = exts.u16();
    const std::uint16_t len = exts.u16();
    cursor body = exts.take(len);
    if (!exts.ok()) {
      note(h.error, tls_error::truncated_hello);
      return;
    }
    if (!h.extensions.push(type)) {
      note(h.error, tls_error::list_overflow);
    }
    if (type == tls_ext::supported_versions) {
      const std::uint16_t v = body.u16();
      if (body.ok()) {
        h.selected_version = v;
      } else {
        note(h.error, tls_error::bad_extension);
      }
    } else if (type == tls_ext::alpn && !h.has_alpn) {
      // The server names exactly one protocol (RFC 7301 3.1).
      const std::uint16_t list_len = body.u16();
      cursor list = body.take(list_len);
      const std::uint8_t n = list.u8();
      cursor name = list.take(n);
      if (!body.ok() || !list.ok()) {
        note(h.error, tls_error::bad_extension);
      } else {
        h.has_alpn = true;
        copy_text(name, h.alpn);
      }
    }
  }
}

// After a whole ServerHello ending at handshake offset `at`: the next
// message, if it is a Certificate, and its first certificate.
void server_certificate(const record_walk& w, std::size_t at, tls_server_hello& h) noexcept {
  if (h.hello_retry_request || h.selected_version >= tls13) {
    // TLS 1.3 encrypts everything after the ServerHello; after an HRR the
    // real ServerHello comes only once the client has answered.
    h.cert_state = tls_cert_state::absent;
    return;
  }
  auto wait = [&w, &h]() {
    const tls_error why = w.missing();
    if (why == tls_error::incomplete) {
      h.cert_state = tls_cert_state::pending;
    } else if (why == tls_error::unexpected_record) {
      // change_cipher_spec right after the ServerHello: an abbreviated
      // (resumed) handshake without certificates.
      h.cert_state = tls_cert_state::absent;
    } else {
      h.cert_state = tls_cert_state::malformed;
      h.cert_error = why;
    }
  };
  const hs_stream& hs = w.hs;
  if (!net::fits(hs.size(), at, 4)) {
    wait();
    return;
  }
  if (hs.at(at) != hs_certificate) {
    h.cert_state = tls_cert_state::absent;
    return;
  }
  cursor c(hs, at + 1, hs.size());
  const std::uint32_t msg_len = c.u24();
  // certificate_list<0..2^24-1>, each ASN.1Cert<1..2^24-1> (RFC 5246 7.4.2).
  // Only the first (leaf) certificate is needed, not the whole message.
  const std::size_t msg_end = at + 4 + std::size_t{msg_len};
  const bool whole = hs.size() >= msg_end;
  cursor msg(hs, at + 4, std::min(hs.size(), msg_end));
  auto broken = [&h]() {
    h.cert_state = tls_cert_state::malformed;
    h.cert_error = tls_error::bad_certificate;
  };
  if (!msg.has(3)) {
    whole ? broken() : wait();
    return;
  }
  const std::uint32_t list_len = msg.u24();
  if (list_len == 0) {
    h.cert_state = tls_cert_state::absent;  // an empty chain
    return;
  }
  if (std::size_t{list_len} + 3 > msg_len) {
    broken();
    return;
  }
  if (!msg.has(3)) {
    whole ? broken() : wait();
    return;
  }
  const std::uint32_t cert_len = msg.u24();
  if (cert_len == 0 || std::size_t{cert_len} + 3 > list_len) {
    broken();
    return;
  }
  if (!msg.has(cert_len)) {
    wait();  // lengths are consistent, so the message is not whole yet
    return;
  }
  if (read_certificate(msg.take(cert_len), h.cert)) {
    h.cert_state = tls_cert_state::parsed;
  } else {
    h.cert_state = tls_cert_state::malformed;
    h.cert_error = tls_error::bad_certificate;
  }
}

// ---------------------------------------------------------------------------
// Rendering helpers

template <typename T, std::size_t N>
void join_decimal(std::string& s, const tls_list<T, N>& l, bool drop_grease) {
  bool first = true;
  for (const T v : l.items()) {
    if (drop_grease && tls_is_grease(v)) {
      continue;
    }
    if (!first) {
      s += '-';
    }
    s += std::to_string(v);
    first = false;
  }
}

void append_hex4(std::string& s, std::uint16_t v) {
  char b[5];
  std::snprintf(b, sizeof b, "%04x", static_cast<unsigned>(v));
  s.append(b, 4);
}

std::string hex4_list(std::span<const std::uint16_t> v) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i != 0) {
      s += ',';
    }
    append_hex4(s, v[i]);
  }
  return s;
}

std::string truncated_sha(const std::string& s) {
  return s.empty() ? "000000000000" : sha256_hex(s).substr(0, 12);
}

void append_count(std::string& s, std::size_t n) {
  n = std::min<std::size_t>(n, 99);
  s += static_cast<char>('0' + n / 10);
  s += static_cast<char>('0' + n % 10);
}

const char* ja4_version(std::uint16_t v) noexcept {
  switch (v) {
    case 0x0304:
      return "13";
    case 0x0303:
      return "12";
    case 0x0302:
      return "11";
    case 0x0301:
      return "10";
    case 0x0300:
      return "s3";
    case 0x0002:
      return "s2";
    case 0xfeff:
      return "d1";
    case 0xfefd:
      return "d2";
    case 0xfefc:
      return "d3";
    default:
      return "00";
  }
}

bool alnum(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// JA4's two ALPN characters from a protocol name.
void append_alpn_chars(std::string& s, std::string_view a) {
  if (a.empty()) {
    s += "00";
    return;
  }
  const char first = a.front();
  const char last = a.back();
  if (alnum(first) && alnum(last)) {
    s += first;
    s += last;
    return;
  }
  static constexpr char digits[] = "0123456789abcdef";
  s += digits[static_cast<unsigned char>(first) >> 4];
  s += digits[static_cast<unsigned char>(last) & 15];
}

// The JA4 "a" part and the two sorted lists (GREASE removed).
struct ja4_parts {
  std::string a;
  std::string ciphers;     // sorted, hex, ','-joined
  std::string extensions;  // sorted, without SNI and ALPN
  std::string sig_algs;    // wire order
};

ja4_parts ja4_split(const tls_client_hello& h, tls_transport t) {
  ja4_parts p;
  std::uint16_t version = h.legacy_version;
  bool have_sv = false;
  for (const std::uint16_t v : h.versions.items()) {
    if (!tls_is_grease(v) && (!have_sv || v > version)) {
      version = v;
      have_sv = true;
    }
  }
  std::array<std::uint16_t, tls_max_ciphers> cs{};
  std::size_t ncs = 0;
  for (const std::uint16_t c : h.ciphers.items()) {
    if (!tls_is_grease(c)) {
      cs[ncs++] = c;
    }
  }
  std::array<std::uint16_t, tls_max_extensions> ex{};
  std::size_t next = 0;
  std::size_t ext_count = 0;
  for (const std::uint16_t e : h.extensions.items()) {
    if (tls_is_grease(e)) {
      continue;
    }
    ++ext_count;
    if (e != tls_ext::server_name && e != tls_ext::alpn) {
      ex[next++] = e;
    }
  }
  std::array<std::uint16_t, tls_max_sig_algs> sa{};
  std::size_t nsa = 0;
  for (const std::uint16_t s : h.sig_algs.items()) {
    if (!tls_is_grease(s)) {
      sa[nsa++] = s;
    }
  }
  std::sort(cs.begin(), cs.begin() + static_cast<std::ptrdiff_t>(ncs));
  std::sort(ex.begin(), ex.begin() + static_cast<std::ptrdiff_t>(next));

  p.a += static_cast<char>(t);
  p.a += ja4_version(version);
  p.a += h.has_sni ? 'd' : 'i';
  append_count(p.a, ncs);
  append_count(p.a, ext_count);
  append_alpn_chars(p.a, h.alpn_count > 0 ? h.alpn[0].view() : std::string_view());
  p.ciphers = hex4_list(std::span<const std::uint16_t>(cs).first(ncs));
  p.extensions = hex4_list(std::span<const std::uint16_t>(ex).first(next));
  p.sig_algs = hex4_list(std::span<const std::uint16_t>(sa).first(nsa));
  return p;
}

fact make_fact(field_name field, std::string value, std::uint8_t confidence) {
  fact f;
  f.about = subject::sender;
  f.source = "tls";
  f.field = field;
  f.value = std::move(value);
  f.confidence = confidence;
  return f;
}

}  // namespace

const char* tls_error_name(tls_error e) noexcept {
  switch (e) {
#define X(name)         \
  case tls_error::name: \
    return #name;
    TAPSENSE_TLS_ERRORS(X)
#undef X
    case tls_error::count_:
      break;
  }
  return "unknown";
}

bool tls_client_hello::fingerprintable() const noexcept {
  return error == tls_error::none && !ciphers.overflow && !extensions.overflow &&
         !groups.overflow && !point_formats.overflow && !sig_algs.overflow && !versions.overflow;
}

bool tls_server_hello::fingerprintable() const noexcept {
  return error == tls_error::none && !extensions.overflow;
}

std::string tls_client_hello::alpn_list() const {
  std::string s;
  for (std::size_t i = 0; i < alpn_count; ++i) {
    if (i != 0) {
      s += ',';
    }
    s += printable(alpn[i].view());
  }
  return s;
}

tls_error parse_tls_client_hello(std::span<const std::uint8_t> stream,
                                 tls_client_hello& out) noexcept {
  out = tls_client_hello{};
  record_walk w;
  walk_records(stream, w);
  out.record_version = w.first_version;
  std::uint32_t len = 0;
  const tls_error e = whole_message(w, hs_client_hello, len);
  if (e != tls_error::none) {
    out.error = e;
    return e;
  }
  out.message_length = len;
  client_hello_body(cursor(w.hs, 4, 4 + std::size_t{len}), out);
  return out.error;
}

tls_error parse_tls_client_hello_message(std::span<const std::uint8_t> message,
                                         tls_client_hello& out) noexcept {
  out = tls_client_hello{};
  record_walk w;
  w.hs = hs_stream(message);
  std::uint32_t len = 0;
  const tls_error e = whole_message(w, hs_client_hello, len);
  if (e != tls_error::none) {
    out.error = e;
    return e;
  }
  out.message_length = len;
  client_hello_body(cursor(w.hs, 4, 4 + std::size_t{len}), out);
  return out.error;
}

tls_error parse_tls_server_hello(std::span<const std::uint8_t> stream,
                                 tls_server_hello& out) noexcept {
  out = tls_server_hello{};
  record_walk w;
  walk_records(stream, w);
  out.record_version = w.first_version;
  std::uint32_t len = 0;
  const tls_error e = whole_message(w, hs_server_hello, len);
  if (e != tls_error::none) {
    out.error = e;
    out.cert_state = e == tls_error::incomplete ? tls_cert_state::pending : tls_cert_state::absent;
    return e;
  }
  out.message_length = len;
  server_hello_body(cursor(w.hs, 4, 4 + std::size_t{len}), out);
  if (out.error != tls_error::none && out.error != tls_error::list_overflow) {
    out.cert_state = tls_cert_state::absent;
    return out.error;
  }
  server_certificate(w, 4 + std::size_t{len}, out);
  return out.error;
}

tls_error parse_x509_names(std::span<const std::uint8_t> der, tls_certificate& out) noexcept {
  out = tls_certificate{};
  const hs_stream s(der);
  return read_certificate(cursor(s, 0, s.size()), out) ? tls_error::none
                                                       : tls_error::bad_certificate;
}

// ---------------------------------------------------------------------------

std::string ja3_string(const tls_client_hello& h) {
  std::string s = std::to_string(h.legacy_version);
  s += ',';
  join_decimal(s, h.ciphers, true);
  s += ',';
  join_decimal(s, h.extensions, true);
  s += ',';
  join_decimal(s, h.groups, true);
  s += ',';
  join_decimal(s, h.point_formats, false);
  return s;
}

std::string ja3(const tls_client_hello& h) { return md5_hex(ja3_string(h)); }

std::string ja4(const tls_client_hello& h, tls_transport t) {
  const ja4_parts p = ja4_split(h, t);
  std::string c = p.extensions;
  if (!p.sig_algs.empty()) {
    c += '_';
    c += p.sig_algs;
  }
  return p.a + '_' + truncated_sha(p.ciphers) + '_' +
         (p.extensions.empty() ? std::string("000000000000") : truncated_sha(c));
}

std::string ja4_raw(const tls_client_hello& h, tls_transport t) {
  const ja4_parts p = ja4_split(h, t);
  std::string s = p.a + '_' + p.ciphers + '_' + p.extensions;
  if (!p.sig_algs.empty()) {
    s += '_';
    s += p.sig_algs;
  }
  return s;
}

std::string ja3s_string(const tls_server_hello& h) {
  std::string s = std::to_string(h.legacy_version);
  s += ',';
  s += std::to_string(h.cipher);
  s += ',';
  join_decimal(s, h.extensions, true);
  return s;
}

std::string ja3s(const tls_server_hello& h) { return md5_hex(ja3s_string(h)); }

std::string ja4s(const tls_server_hello& h, tls_transport t) {
  std::string s;
  s += static_cast<char>(t);
  s += ja4_version(h.version());
  append_count(s, h.extensions.n);
  append_alpn_chars(s, h.alpn.view());
  s += '_';
  append_hex4(s, h.cipher);
  s += '_';
  s += truncated_sha(hex4_list(h.extensions.items()));
  return s;
}

void tls_client_facts(const tls_client_hello& h, const packet_view& pkt, fact_sink& sink) {
  if (!h.sni.empty()) {
    sink.add(make_fact("sni", printable(h.sni.view()), 90));
  }
  if (!h.fingerprintable()) {
    return;
  }
  const std::string raw = ja3_string(h);
  sink.add(make_fact("ja3", md5_hex(raw), 100));
  sink.add(make_fact("ja3_string", raw, 100));
  // A hello carried over UDP came from QUIC CRYPTO frames.
  sink.add(make_fact("ja4", ja4(h, pkt.ip_proto == 17 ? tls_transport::quic : tls_transport::tcp),
                     100));
  if (h.alpn_count > 0) {
    sink.add(make_fact("alpn", h.alpn_list(), 90));
  }
}

void tls_server_facts(const tls_server_hello& h, const packet_view& /*pkt*/, fact_sink& sink) {
  if (h.fingerprintable()) {
    const std::string raw = ja3s_string(h);
    sink.add(make_fact("ja3s", md5_hex(raw), 100));
    sink.add(make_fact("ja3s_string", raw, 100));
    sink.add(make_fact("ja4s", ja4s(h), 100));
  }
  if (h.cert_state != tls_cert_state::parsed) {
    return;
  }
  const tls_certificate& c = h.cert;
  struct named_text {
    field_name field;
    const tls_text* text;
  };
  const named_text names[] = {
      {"cert_subject_cn", &c.subject_cn}, {"cert_subject_o", &c.subject_o},
      {"cert_subject_ou", &c.subject_ou}, {"cert_issuer_cn", &c.issuer_cn},
      {"cert_issuer_o", &c.issuer_o},     {"cert_san", &c.san_dns},
  };
  for (const auto& [field, text] : names) {
    if (!text->empty()) {
      sink.add(make_fact(field, printable(text->view()), 90));
    }
  }
}

}  // namespace tapsense::proto
