#include "common/proto/smb.h"

#include <algorithm>
#include <cstdio>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/net/bytes.h"

namespace tapsense::proto {

static_assert(std::is_trivially_copyable_v<smb_message>);

namespace {

using net::bytes;
using net::fits;
using net::load_le16;
using net::load_le32;

std::uint64_t load_le64(const std::uint8_t* p) noexcept {
  return std::uint64_t{load_le32(p)} | (std::uint64_t{load_le32(p + 4)} << 32);
}

constexpr std::size_t nbss_header_len = 4;
constexpr std::size_t smb1_header_len = 32;
constexpr std::size_t smb2_header_len = 64;
constexpr std::size_t max_compound = 8;
constexpr int max_der_depth = 10;

constexpr std::uint8_t smb1_flags_reply = 0x80;
constexpr std::uint16_t smb1_flags2_unicode = 0x8000;
constexpr std::uint32_t smb1_cap_extended_security = 0x80000000;
constexpr std::uint32_t smb2_flags_response = 0x00000001;
constexpr std::uint32_t status_more_processing = 0xc0000016;

constexpr std::uint8_t ntlmssp_sig[8] = {'N', 'T', 'L', 'M', 'S', 'S', 'P', 0};

void note(smb_message& m, smb_error e) noexcept {
  if (m.error == smb_error::none) {
    m.error = e;
  }
}

bool is_ntlmssp(bytes b) noexcept {
  return b.size() >= 8 && std::equal(std::begin(ntlmssp_sig), std::end(ntlmssp_sig), b.begin());
}

bool has_protocol_id(bytes b, std::uint8_t first) noexcept {
  return b.size() >= 4 && b[0] == first && b[1] == 'S' && b[2] == 'M' && b[3] == 'B';
}

// A NUL-terminated string at `off` of `area`, UTF-16LE or OEM; a string
// without its NUL runs to the end of the area. `off` moves past the NUL.
smb_string read_z(bytes area, std::size_t& off, bool utf16) noexcept {
  smb_string s;
  s.utf16 = utf16;
  if (off > area.size()) {
    return s;
  }
  std::size_t i = off;
  if (utf16) {
    while (i + 1 < area.size() && !(area[i] == 0 && area[i + 1] == 0)) {
      i += 2;
    }
    // Without a NUL, i stops at the end (or one short of it: an odd byte).
    s.raw = area.subspan(off, std::min(i, area.size()) - off);
    off = std::min(i + 2, area.size());
  } else {
    while (i < area.size() && area[i] != 0) {
      ++i;
    }
    s.raw = area.subspan(off, i - off);
    off = std::min(i + 1, area.size());
  }
  return s;
}

// SMB1 byte-block strings: Unicode ones start on an even offset from the
// SMB header ([MS-CIFS] 2.2.3.3: one pad byte when needed).
smb_string read_smb1_string(bytes smb, std::size_t& off, std::size_t end, bool unicode,
                            bool align = true) noexcept {
  if (unicode && align && off % 2 == 1 && off < end) {
    ++off;
  }
  return read_z(smb.first(end), off, unicode);
}

// ---- NTLMSSP ----

// A security buffer (Len, MaxLen, Offset) at `at` of the message.
bytes ntlm_field(bytes msg, std::size_t at, smb_error& err, std::size_t& min_offset) noexcept {
  const std::size_t len = load_le16(msg.data() + at);
  const std::size_t off = load_le32(msg.data() + at + 4);
  if (len == 0) {
    return {};
  }
  min_offset = std::min(min_offset, off);
  if (!fits(msg.size(), off, len)) {
    err = smb_error::bad_ntlmssp;
    return {};
  }
  return msg.subspan(off, len);
}

void read_version(bytes msg, std::size_t at, ntlm_message& out) noexcept {
  out.has_version = true;
  out.version_major = msg[at];
  out.version_minor = msg[at + 1];
  out.version_build = load_le16(msg.data() + at + 2);
  out.ntlm_revision = msg[at + 7];
}

smb_string text_field(bytes raw, bool utf16) noexcept {
  smb_string s;
  if (!raw.empty()) {
    s.raw = raw;
    s.utf16 = utf16;
  }
  return s;
}

// MsvAvPairs ([MS-NLMP] 2.2.2.1), always UTF-16LE.
void read_av_pairs(bytes info, ntlm_message& out, smb_error& err) noexcept {
  std::size_t pos = 0;
  while (fits(info.size(), pos, 4)) {
    const std::uint16_t id = load_le16(info.data() + pos);
    const std::size_t len = load_le16(info.data() + pos + 2);
    if (id == 0) {  // MsvAvEOL
      return;
    }
    if (!fits(info.size(), pos + 4, len)) {
      err = smb_error::bad_ntlmssp;
      return;
    }
    const bytes v = info.subspan(pos + 4, len);
    switch (id) {
      case 1:
        out.nb_computer = text_field(v, true);
        break;
      case 2:
        out.nb_domain = text_field(v, true);
        break;
      case 3:
        out.dns_computer = text_field(v, true);
        break;
      case 4:
        out.dns_domain = text_field(v, true);
        break;
      case 5:
        out.dns_tree = text_field(v, true);
        break;
      case 7:
        if (len == 8) {
          out.has_timestamp = true;
          out.timestamp = load_le64(v.data());
        }
        break;
      default:
        break;
    }
    pos += 4 + len;
  }
}

std::span<const std::uint8_t> find_in(bytes b, int depth, smb_error& err) noexcept {
  if (is_ntlmssp(b)) {
    return b;
  }
  if (depth > max_der_depth) {
    err = smb_error::bad_security_blob;
    return {};
  }
  std::size_t i = 0;
  while (i < b.size()) {
    const std::uint8_t tag = b[i++];
    if ((tag & 0x1f) == 0x1f) {  // high tag number form
      while (i < b.size() && (b[i] & 0x80) != 0) {
        ++i;
      }
      ++i;
    }
    if (i >= b.size()) {
      err = smb_error::bad_security_blob;
      return {};
    }
    std::size_t len = b[i++];
    if ((len & 0x80) != 0) {
      const std::size_t n = len & 0x7f;
      if (n == 0 || n > 4 || !fits(b.size(), i, n)) {
        err = smb_error::bad_security_blob;
        return {};
      }
      len = 0;
      for (std::size_t k = 0; k < n; ++k) {
        len = (len << 8) | b[i + k];
      }
      i += n;
    }
    if (!fits(b.size(), i, len)) {
      err = smb_error::bad_security_blob;
      return {};
    }
    const bytes content = b.subspan(i, len);
    if ((tag & 0x20) != 0) {
      const auto found = find_in(content, depth + 1, err);
      if (!found.empty() || err != smb_error::none) {
        return found;
      }
    } else if (tag == 0x04 && is_ntlmssp(content)) {
      return content;
    }
    i += len;
  }
  return {};
}

void security_blob(bytes blob, smb_message& m) noexcept {
  m.security_blob = blob;
  smb_error err = smb_error::none;
  const bytes ntlm = find_ntlmssp(blob, err);
  if (err != smb_error::none) {
    note(m, err);
  }
  if (ntlm.empty()) {
    return;
  }
  const smb_error e = parse_ntlmssp(ntlm, m.ntlm);
  m.has_ntlm = m.ntlm.type != 0;
  if (e != smb_error::none) {
    note(m, e);
  }
}

// ---- SMB1 ----

void smb1_negotiate(bytes smb, std::size_t words_at, std::size_t wc, std::size_t bytes_at,
                    std::size_t bytes_end, smb_message& m) noexcept {
  m.is_negotiate = true;
  const bool unicode = (m.flags2 & smb1_flags2_unicode) != 0;
  if (!m.response) {
    // Dialects: 0x02 then an OEM NUL-terminated string, repeated.
    std::size_t pos = bytes_at;
    while (pos < bytes_end && smb[pos] == 0x02) {
      ++pos;
      const smb_string s = read_z(smb.first(bytes_end), pos, false);
      if (m.smb1_dialect_count < smb_max_dialects) {
        m.smb1_dialects[m.smb1_dialect_count++] =
            std::string_view(reinterpret_cast<const char*>(s.raw.data()), s.raw.size());
      }
    }
    return;
  }
  if (wc >= 1) {
    m.dialect = load_le16(smb.data() + words_at);
  }
  if (wc != 17) {
    return;  // no dialect chosen (wc 1) or a pre-NT dialect (wc 13)
  }
  const std::uint8_t* w = smb.data() + words_at;
  m.security_mode = w[2];
  m.capabilities = load_le32(w + 19);
  m.system_time = load_le64(w + 23);
  const std::size_t challenge_len = w[33];
  if ((m.capabilities & smb1_cap_extended_security) != 0) {
    if (bytes_end - bytes_at < 16) {
      note(m, smb_error::truncated_smb);
      return;
    }
    m.has_guid = true;
    std::copy_n(smb.data() + bytes_at, 16, m.guid.begin());
    security_blob(smb.subspan(bytes_at + 16, bytes_end - bytes_at - 16), m);
    return;
  }
  if (bytes_end - bytes_at < challenge_len) {
    note(m, smb_error::truncated_smb);
    return;
  }
  // DomainName and ServerName follow the challenge unaligned (Windows sends
  // no pad byte here, and tshark reads them the same way).
  std::size_t pos = bytes_at + challenge_len;
  if (pos < bytes_end) {
    m.server_domain = read_smb1_string(smb, pos, bytes_end, unicode, false);
  }
  if (pos < bytes_end) {
    m.server_name = read_smb1_string(smb, pos, bytes_end, unicode, false);
  }
}

void smb1_session_setup(bytes smb, std::size_t words_at, std::size_t wc, std::size_t bytes_at,
                        std::size_t bytes_end, smb_message& m) noexcept {
  m.is_session_setup = true;
  const bool unicode = (m.flags2 & smb1_flags2_unicode) != 0;
  const std::uint8_t* w = smb.data() + words_at;
  std::size_t pos = bytes_at;
  auto skip = [&](std::size_t n) {
    if (bytes_end - pos < n) {
      note(m, smb_error::bad_offset);
      return false;
    }
    pos += n;
    return true;
  };
  auto strings = [&](bool with_account) {
    if (with_account) {
      m.account = read_smb1_string(smb, pos, bytes_end, unicode);
      m.primary_domain = read_smb1_string(smb, pos, bytes_end, unicode);
    }
    if (pos < bytes_end) {
      m.native_os = read_smb1_string(smb, pos, bytes_end, unicode);
    }
    if (pos < bytes_end) {
      m.native_lanman = read_smb1_string(smb, pos, bytes_end, unicode);
    }
    if (!with_account && pos < bytes_end) {
      m.primary_domain = read_smb1_string(smb, pos, bytes_end, unicode);
    }
  };
  if (!m.response) {
    if (wc == 12) {  // extended security
      const std::size_t blob_len = load_le16(w + 14);
      const std::size_t blob_at = pos;
      if (!skip(blob_len)) {
        return;
      }
      security_blob(smb.subspan(blob_at, blob_len), m);
      strings(false);
    } else if (wc == 13) {  // NT LM 0.12, passwords in the clear or hashed
      if (!skip(std::size_t{load_le16(w + 14)} + load_le16(w + 16))) {
        return;
      }
      strings(true);
    } else if (wc == 10) {  // LAN Manager dialects
      if (!skip(load_le16(w + 14))) {
        return;
      }
      strings(true);
    }
    return;
  }
  if (wc == 4) {
    const std::size_t blob_len = load_le16(w + 6);
    const std::size_t blob_at = pos;
    if (!skip(blob_len)) {
      return;
    }
    security_blob(smb.subspan(blob_at, blob_len), m);
    strings(false);
  } else if (wc == 3) {
    strings(false);
  }
}

void parse_smb1(bytes smb, smb_message& m) noexcept {
  m.version = smb_version::smb1;
  if (smb.size() < smb1_header_len + 1) {
    note(m, smb_error::truncated_smb);
    return;
  }
  m.command = smb[4];
  m.status = load_le32(smb.data() + 5);
  m.response = (smb[9] & smb1_flags_reply) != 0;
  m.flags2 = load_le16(smb.data() + 10);
  const std::size_t wc = smb[smb1_header_len];
  const std::size_t words_at = smb1_header_len + 1;
  if (!fits(smb.size(), words_at, wc * 2 + 2)) {
    note(m, smb_error::truncated_smb);
    return;
  }
  const std::size_t bc = load_le16(smb.data() + words_at + wc * 2);
  const std::size_t bytes_at = words_at + wc * 2 + 2;
  if (!fits(smb.size(), bytes_at, bc)) {
    note(m, smb_error::truncated_smb);
    return;
  }
  const std::size_t bytes_end = bytes_at + bc;
  if (m.command == smb1_cmd::negotiate) {
    smb1_negotiate(smb, words_at, wc, bytes_at, bytes_end, m);
  } else if (m.command == smb1_cmd::session_setup_andx) {
    smb1_session_setup(smb, words_at, wc, bytes_at, bytes_end, m);
  }
}

// ---- SMB2 ----

// A security buffer at (offset, length) counted from the SMB2 header.
void smb2_blob(bytes msg, std::size_t off, std::size_t len, smb_message& m) noexcept {
  if (len == 0) {
    return;
  }
  if (!fits(msg.size(), off, len)) {
    note(m, smb_error::bad_offset);
    return;
  }
  security_blob(msg.subspan(off, len), m);
}

// is_negotiate / is_session_setup are set once the fixed part of the body
// is there: facts never report fields of a body that was cut.
void smb2_negotiate(bytes msg, smb_message& m) noexcept {
  const std::uint8_t* b = msg.data() + smb2_header_len;
  if (!m.response) {
    if (!fits(msg.size(), smb2_header_len, 36)) {
      note(m, smb_error::truncated_smb);
      return;
    }
    m.is_negotiate = true;
    const std::size_t count = load_le16(b + 2);
    m.security_mode = load_le16(b + 4);
    m.capabilities = load_le32(b + 8);
    m.has_guid = true;
    std::copy_n(b + 12, 16, m.guid.begin());
    if (!fits(msg.size(), smb2_header_len + 36, count * 2)) {
      note(m, smb_error::truncated_smb);
    }
    for (std::size_t i = 0; i < count && fits(msg.size(), smb2_header_len + 36 + i * 2, 2); ++i) {
      if (m.dialect_count == smb_max_dialects) {
        break;
      }
      m.dialects[m.dialect_count++] = load_le16(b + 36 + i * 2);
    }
    return;
  }
  if (!fits(msg.size(), smb2_header_len, 64)) {
    note(m, smb_error::truncated_smb);
    return;
  }
  m.is_negotiate = true;
  m.security_mode = load_le16(b + 2);
  m.dialect = load_le16(b + 4);
  m.has_guid = true;
  std::copy_n(b + 8, 16, m.guid.begin());
  m.capabilities = load_le32(b + 24);
  m.system_time = load_le64(b + 40);
  m.server_start_time = load_le64(b + 48);
  smb2_blob(msg, load_le16(b + 56), load_le16(b + 58), m);
}

void smb2_session_setup(bytes msg, smb_message& m) noexcept {
  const std::uint8_t* b = msg.data() + smb2_header_len;
  if (!m.response) {
    if (!fits(msg.size(), smb2_header_len, 24)) {
      note(m, smb_error::truncated_smb);
      return;
    }
    m.is_session_setup = true;
    m.security_mode = b[3];
    m.capabilities = load_le32(b + 4);
    smb2_blob(msg, load_le16(b + 12), load_le16(b + 14), m);
    return;
  }
  if (!fits(msg.size(), smb2_header_len, 8)) {
    note(m, smb_error::truncated_smb);
    return;
  }
  m.is_session_setup = true;
  smb2_blob(msg, load_le16(b + 4), load_le16(b + 6), m);
}

void parse_smb2(bytes payload, smb_message& m) noexcept {
  m.version = smb_version::smb2;
  std::size_t pos = 0;
  for (std::size_t k = 0; k < max_compound; ++k) {
    const bytes hdr = payload.subspan(pos);
    if (hdr.size() < smb2_header_len || !has_protocol_id(hdr, 0xfe)) {
      note(m, smb_error::truncated_smb);
      return;
    }
    const std::uint32_t status = load_le32(hdr.data() + 8);
    const std::uint16_t command = load_le16(hdr.data() + 12);
    const bool response = (load_le32(hdr.data() + 16) & smb2_flags_response) != 0;
    const std::size_t next = load_le32(hdr.data() + 20);
    // The message runs to the next compounded header, if any.
    const bytes msg = next != 0 ? hdr.first(std::min(next, hdr.size())) : hdr;
    if (k == 0 || command == smb2_cmd::negotiate || command == smb2_cmd::session_setup) {
      m.command = command;
      m.status = status;
      m.response = response;
    }
    // An error response has the 9-byte ERROR body instead of the command's.
    const bool error_body = response && status != 0 && status != status_more_processing;
    if (!error_body && command == smb2_cmd::negotiate) {
      smb2_negotiate(msg, m);
      return;
    }
    if (!error_body && command == smb2_cmd::session_setup) {
      smb2_session_setup(msg, m);
      return;
    }
    if (next == 0 || next < smb2_header_len || next % 8 != 0 || next >= payload.size() - pos) {
      return;
    }
    pos += next;
  }
}

}  // namespace

const char* smb_error_name(smb_error e) noexcept {
  switch (e) {
#define X(name)         \
  case smb_error::name: \
    return #name;
    TAPSENSE_SMB_ERRORS(X)
#undef X
    case smb_error::count_:
      break;
  }
  return "unknown";
}

std::string smb_string_utf8(const smb_string& s) {
  std::string out;
  const bytes r = s.raw;
  if (!s.utf16) {
    for (auto c : r) {
      if (c == 0) {
        break;
      }
      out += static_cast<char>(c);
    }
    return out;
  }
  auto put = [&out](std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xc0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xe0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  };
  constexpr std::uint32_t replacement = 0xfffd;
  std::size_t i = 0;
  while (i + 1 < r.size()) {
    const std::uint32_t u = load_le16(r.data() + i);
    i += 2;
    if (u == 0) {
      return out;
    }
    if (u >= 0xd800 && u <= 0xdbff) {
      if (i + 1 < r.size()) {
        const std::uint32_t lo = load_le16(r.data() + i);
        if (lo >= 0xdc00 && lo <= 0xdfff) {
          i += 2;
          put(0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00));
          continue;
        }
      }
      put(replacement);
    } else if (u >= 0xdc00 && u <= 0xdfff) {
      put(replacement);
    } else {
      put(u);
    }
  }
  if (i < r.size()) {
    put(replacement);  // an odd trailing byte
  }
  return out;
}

smb_error parse_ntlmssp(std::span<const std::uint8_t> in, ntlm_message& out) noexcept {
  out = ntlm_message{};
  if (in.size() < 12 || !is_ntlmssp(in)) {
    return smb_error::bad_ntlmssp;
  }
  const std::uint32_t type = load_le32(in.data() + 8);
  smb_error err = smb_error::none;
  std::size_t min_offset = in.size();
  switch (type) {
    case 1: {
      if (in.size() < 16) {
        return smb_error::bad_ntlmssp;
      }
      out.type = type;
      out.flags = load_le32(in.data() + 12);
      if (in.size() >= 32) {
        // OEM strings, present only when the flags say so.
        const bytes dom = ntlm_field(in, 16, err, min_offset);
        const bytes ws = ntlm_field(in, 24, err, min_offset);
        if ((out.flags & ntlm_flag::oem_domain_supplied) != 0) {
          out.domain = text_field(dom, false);
        }
        if ((out.flags & ntlm_flag::oem_workstation_supplied) != 0) {
          out.workstation = text_field(ws, false);
        }
      }
      if ((out.flags & ntlm_flag::version) != 0 && in.size() >= 40 && min_offset >= 40) {
        read_version(in, 32, out);
      }
      break;
    }
    case 2: {
      if (in.size() < 32) {
        return smb_error::bad_ntlmssp;
      }
      out.type = type;
      out.flags = load_le32(in.data() + 20);
      const bool utf16 = (out.flags & ntlm_flag::unicode) != 0;
      out.target_name = text_field(ntlm_field(in, 12, err, min_offset), utf16);
      if (in.size() >= 48) {
        read_av_pairs(ntlm_field(in, 40, err, min_offset), out, err);
      }
      if ((out.flags & ntlm_flag::version) != 0 && in.size() >= 56 && min_offset >= 56) {
        read_version(in, 48, out);
      }
      break;
    }
    case 3: {
      if (in.size() < 64) {
        return smb_error::bad_ntlmssp;
      }
      out.type = type;
      out.flags = load_le32(in.data() + 60);
      const bool utf16 = (out.flags & ntlm_flag::unicode) != 0;
      // The challenge responses count for where the payload starts.
      (void)ntlm_field(in, 12, err, min_offset);
      (void)ntlm_field(in, 20, err, min_offset);
      out.domain = text_field(ntlm_field(in, 28, err, min_offset), utf16);
      out.user = text_field(ntlm_field(in, 36, err, min_offset), utf16);
      out.workstation = text_field(ntlm_field(in, 44, err, min_offset), utf16);
      (void)ntlm_field(in, 52, err, min_offset);
      if ((out.flags & ntlm_flag::version) != 0 && in.size() >= 72 && min_offset >= 72) {
        read_version(in, 64, out);
      }
      break;
    }
    default:
      return smb_error::bad_ntlmssp;
  }
  return err;
}

std::span<const std::uint8_t> find_ntlmssp(std::span<const std::uint8_t> blob,
                                           smb_error& err) noexcept {
  return find_in(blob, 0, err);
}

smb_error parse_smb(std::span<const std::uint8_t> in, smb_message& out) noexcept {
  out = smb_message{};
  if (in.size() < nbss_header_len) {
    out.error = smb_error::incomplete;
    return out.error;
  }
  out.nbss_type = in[0];
  std::size_t len = 0;
  switch (in[0]) {
    case nbss_type::session_message:
      // Direct TCP: 24-bit length. NetBIOS: 17-bit (the E bit is the low
      // bit of the flags byte), other flag bits zero: the same number.
      len = net::load_be24(in.data() + 1);
      break;
    case nbss_type::session_request:
    case nbss_type::positive_response:
    case nbss_type::negative_response:
    case nbss_type::retarget_response:
    case nbss_type::keep_alive:
      len = (std::size_t{in[1] & 1u} << 16) | net::load_be16(in.data() + 2);
      break;
    default:
      out.error = smb_error::not_smb;
      return out.error;
  }
  out.frame_len = static_cast<std::uint32_t>(nbss_header_len + len);
  if (!fits(in.size(), nbss_header_len, len)) {
    out.error = smb_error::incomplete;
    return out.error;
  }
  const bytes payload = in.subspan(nbss_header_len, len);
  if (out.nbss_type == nbss_type::session_request) {
    std::size_t end = 0;
    if (netbios_read_name(payload, 0, out.called, end) != netbios_name_status::ok ||
        netbios_read_name(payload, end, out.calling, end) != netbios_name_status::ok) {
      note(out, smb_error::truncated_smb);
      return out.error;
    }
    out.has_session_request = true;
    return out.error;
  }
  if (out.nbss_type != nbss_type::session_message || payload.empty()) {
    return out.error;
  }
  if (has_protocol_id(payload, 0xff)) {
    parse_smb1(payload, out);
  } else if (has_protocol_id(payload, 0xfe)) {
    parse_smb2(payload, out);
  } else if (has_protocol_id(payload, 0xfd)) {
    out.version = smb_version::encrypted;
  } else if (has_protocol_id(payload, 0xfc)) {
    out.version = smb_version::compressed;
  } else {
    out.error = smb_error::not_smb;
  }
  return out.error;
}

std::string smb_guid_string(const std::array<std::uint8_t, 16>& g) {
  char buf[40];
  std::snprintf(buf, sizeof buf,
                "%08x-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", load_le32(g.data()),
                load_le16(g.data() + 4), load_le16(g.data() + 6), g[8], g[9], g[10], g[11], g[12],
                g[13], g[14], g[15]);
  return buf;
}

// ---------------------------------------------------------------------------
// Facts

namespace {

class emitter {
 public:
  emitter(fact_sink& sink, source_name source) : sink_(sink), source_(source) {}
  void add(subject about, field_name field, std::string_view raw, std::uint8_t confidence) {
    std::string value = printable(raw);
    if (value.empty()) {
      return;
    }
    fact f;
    f.about = about;
    f.source = source_;
    f.field = field;
    f.value = std::move(value);
    f.confidence = confidence;
    sink_.add(std::move(f));
  }
  void add(subject about, field_name field, const smb_string& s, std::uint8_t confidence) {
    if (s.present()) {
      add(about, field, smb_string_utf8(s), confidence);
    }
  }

 private:
  fact_sink& sink_;
  source_name source_;
};

}  // namespace

void ntlm_facts(const ntlm_message& n, const packet_view& /*pkt*/, fact_sink& sink) {
  if (n.type == 0) {
    return;
  }
  emitter out(sink, "ntlmssp");
  constexpr subject s = subject::sender;
  if (n.has_version) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%u.%u.%u", n.version_major, n.version_minor, n.version_build);
    out.add(s, "ntlm_version", std::string_view(buf), 90);
  }
  switch (n.type) {
    case 1:
      out.add(s, "netbios_name", n.workstation, 70);
      out.add(s, "ntlm_domain", n.domain, 70);
      break;
    case 2:
      out.add(s, "netbios_name", n.nb_computer, 90);
      out.add(s, "ntlm_domain", n.nb_domain, 90);
      out.add(s, "dns_hostname", n.dns_computer, 90);
      out.add(s, "dns_domain", n.dns_domain, 90);
      out.add(s, "dns_forest", n.dns_tree, 80);
      out.add(s, "ntlm_target", n.target_name, 80);
      break;
    case 3:
      out.add(s, "netbios_name", n.workstation, 85);
      out.add(s, "ntlm_domain", n.domain, 85);
      out.add(s, "ntlm_user", n.user, 70);
      break;
    default:
      break;
  }
}

void smb_facts(const smb_message& m, const packet_view& pkt, fact_sink& sink) {
  if (m.has_session_request) {
    emitter out(sink, "nbss");
    out.add(subject::sender, "netbios_name", m.calling.name(), 80);
    if (m.called.name() != "*SMBSERVER") {
      out.add(subject::receiver, "netbios_name", m.called.name(), 80);
    }
    return;
  }
  emitter out(sink, "smb");
  constexpr subject s = subject::sender;
  if (m.is_negotiate) {
    if (m.version == smb_version::smb1 && !m.response) {
      std::string list;
      for (auto d : m.smb1_dialect_list()) {
        list += (list.empty() ? "" : ",") + std::string(d);
      }
      out.add(s, "smb_dialects", list, 60);
    } else if (m.version == smb_version::smb2 && !m.response) {
      std::string list;
      char buf[8];
      for (auto d : m.dialect_list()) {
        std::snprintf(buf, sizeof buf, "0x%04x", d);
        list += (list.empty() ? "" : ",") + std::string(buf);
      }
      out.add(s, "smb_dialects", list, 60);
      if (m.has_guid) {
        out.add(s, "smb_client_guid", smb_guid_string(m.guid), 80);
      }
    } else if (m.response) {
      if (m.version == smb_version::smb2) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "0x%04x", m.dialect);
        out.add(s, "smb_dialect", std::string_view(buf), 90);
      }
      if (m.has_guid) {
        out.add(s, "smb_server_guid", smb_guid_string(m.guid), 90);
      }
      out.add(s, "workgroup", m.server_domain, 80);
      out.add(s, "netbios_name", m.server_name, 80);
    }
  }
  if (m.is_session_setup) {
    out.add(s, "native_os", m.native_os, 90);
    out.add(s, "native_lanman", m.native_lanman, 90);
    out.add(s, "smb_primary_domain", m.primary_domain, 80);
    out.add(s, "smb_account", m.account, 60);
  }
  if (m.has_ntlm) {
    ntlm_facts(m.ntlm, pkt, sink);
  }
}

}  // namespace tapsense::proto
