// SMB / NTLMSSP parser: incomplete streams and every truncation of each
// message kind first, hostile offsets, lengths and DER, then hand-built
// fixtures (NetBIOS session request, SMB1 negotiate and session setup,
// SMB2 negotiate and session setup with SPNEGO-wrapped NTLMSSP NEGOTIATE,
// CHALLENGE and AUTHENTICATE) with their facts, then agreement with tshark
// on the shared captures, fed as the fingerprinter will: a prefix of each
// TCP direction, frame after frame.
#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

#include "common/proto/smb.h"
#include "tests/unit/test_names_capture.h"

using namespace tapsense;
using proto::parse_smb;
using proto::smb_error;
using proto::smb_message;
using proto::smb_version;
using proto::subject;

namespace {

using bytes_t = std::vector<std::uint8_t>;

class builder {
 public:
  builder& u8(unsigned v) {
    b.push_back(static_cast<std::uint8_t>(v));
    return *this;
  }
  builder& le16(unsigned v) { return u8(v & 0xff).u8((v >> 8) & 0xff); }
  builder& le32(std::uint32_t v) { return le16(v & 0xffff).le16(v >> 16); }
  builder& le64(std::uint64_t v) { return le32(static_cast<std::uint32_t>(v)).le32(static_cast<std::uint32_t>(v >> 32)); }
  builder& raw(std::string_view s) {
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  builder& add(const bytes_t& v) {
    b.insert(b.end(), v.begin(), v.end());
    return *this;
  }
  builder& zeros(std::size_t n) {
    b.insert(b.end(), n, 0);
    return *this;
  }
  void put_le16(std::size_t at, std::size_t v) {
    b[at] = static_cast<std::uint8_t>(v);
    b[at + 1] = static_cast<std::uint8_t>(v >> 8);
  }
  void put_le32(std::size_t at, std::size_t v) {
    put_le16(at, v & 0xffff);
    put_le16(at + 2, v >> 16);
  }
  std::size_t here() const { return b.size(); }
  bytes_t b;
};

// UTF-16LE of UTF-8 text (BMP and surrogate pairs), no terminator.
bytes_t utf16(std::string_view s) {
  bytes_t out;
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::uint32_t cp = c;
    std::size_t n = 1;
    if (c >= 0xf0) {
      cp = c & 0x07u;
      n = 4;
    } else if (c >= 0xe0) {
      cp = c & 0x0fu;
      n = 3;
    } else if (c >= 0xc0) {
      cp = c & 0x1fu;
      n = 2;
    }
    for (std::size_t k = 1; k < n; ++k) {
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3fu);
    }
    i += n;
    auto put = [&out](std::uint32_t u) {
      out.push_back(static_cast<std::uint8_t>(u));
      out.push_back(static_cast<std::uint8_t>(u >> 8));
    };
    if (cp >= 0x10000) {
      put(0xd800 + ((cp - 0x10000) >> 10));
      put(0xdc00 + ((cp - 0x10000) & 0x3ff));
    } else {
      put(cp);
    }
  }
  return out;
}
bytes_t utf16z(std::string_view s) {
  auto v = utf16(s);
  v.push_back(0);
  v.push_back(0);
  return v;
}

// Direct TCP / NetBIOS session message framing.
bytes_t frame(const bytes_t& payload, unsigned type = 0x00) {
  bytes_t f = {static_cast<std::uint8_t>(type), static_cast<std::uint8_t>(payload.size() >> 16),
               static_cast<std::uint8_t>(payload.size() >> 8), static_cast<std::uint8_t>(payload.size())};
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}

// A framed message kept alive for the whole run: smb_message holds views
// into the buffer it parsed.
const bytes_t& kept_frame(const bytes_t& payload, unsigned type = 0x00) {
  static std::deque<bytes_t> store;
  return store.emplace_back(frame(payload, type));
}

// ---- DER / SPNEGO ----

bytes_t tlv(unsigned tag, const bytes_t& content) {
  bytes_t out = {static_cast<std::uint8_t>(tag)};
  const std::size_t n = content.size();
  if (n < 0x80) {
    out.push_back(static_cast<std::uint8_t>(n));
  } else if (n < 0x100) {
    out.push_back(0x81);
    out.push_back(static_cast<std::uint8_t>(n));
  } else {
    out.push_back(0x82);
    out.push_back(static_cast<std::uint8_t>(n >> 8));
    out.push_back(static_cast<std::uint8_t>(n));
  }
  out.insert(out.end(), content.begin(), content.end());
  return out;
}
bytes_t cat(std::initializer_list<bytes_t> parts) {
  bytes_t out;
  for (const auto& p : parts) {
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}
const bytes_t spnego_oid = {0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02};
const bytes_t ntlm_oid = {0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a};

// GSS-API InitialContextToken with SPNEGO NegTokenInit (mechTypes, and
// mechToken when given).
bytes_t neg_token_init(const bytes_t& mech_token) {
  bytes_t seq = tlv(0xa0, tlv(0x30, ntlm_oid));
  if (!mech_token.empty()) {
    seq = cat({seq, tlv(0xa2, tlv(0x04, mech_token))});
  }
  return tlv(0x60, cat({spnego_oid, tlv(0xa0, tlv(0x30, seq))}));
}
// SPNEGO NegTokenResp (accept-incomplete) with responseToken.
bytes_t neg_token_resp(const bytes_t& token) {
  return tlv(0xa1, tlv(0x30, cat({tlv(0xa0, {0x0a, 0x01, 0x01}), tlv(0xa1, ntlm_oid), tlv(0xa2, tlv(0x04, token))})));
}

// ---- NTLMSSP ----

constexpr std::uint32_t ntlm_flags = 0xe2888215;  // UNICODE, TARGET_INFO, VERSION, ...

bytes_t version(unsigned major, unsigned minor, unsigned build) {
  return {static_cast<std::uint8_t>(major), static_cast<std::uint8_t>(minor), static_cast<std::uint8_t>(build),
          static_cast<std::uint8_t>(build >> 8), 0, 0, 0, 15};
}

bytes_t ntlm_negotiate(unsigned major, unsigned minor, unsigned build) {
  builder n;
  n.raw(std::string_view("NTLMSSP\0", 8)).le32(1).le32(0xe2088297).zeros(16).add(version(major, minor, build));
  return n.b;
}

bytes_t av(unsigned id, const bytes_t& value) {
  builder a;
  a.le16(id).le16(static_cast<unsigned>(value.size())).add(value);
  return a.b;
}

bytes_t ntlm_challenge(std::string_view nb_computer, std::string_view nb_domain, std::string_view dns_computer,
                       std::string_view dns_domain, unsigned major, unsigned minor, unsigned build) {
  const bytes_t target = utf16(nb_domain);
  bytes_t info = cat({av(2, utf16(nb_domain)), av(1, utf16(nb_computer)), av(4, utf16(dns_domain)),
                      av(3, utf16(dns_computer)), av(5, utf16(dns_domain)), av(7, bytes_t(8, 0x11)), av(0, {})});
  builder n;
  n.raw(std::string_view("NTLMSSP\0", 8)).le32(2);
  n.le16(static_cast<unsigned>(target.size())).le16(static_cast<unsigned>(target.size())).le32(56);
  n.le32(ntlm_flags).raw("12345678").zeros(8);
  n.le16(static_cast<unsigned>(info.size())).le16(static_cast<unsigned>(info.size()))
      .le32(static_cast<std::uint32_t>(56 + target.size()));
  n.add(version(major, minor, build)).add(target).add(info);
  return n.b;
}

bytes_t ntlm_authenticate(std::string_view domain, std::string_view user, std::string_view workstation,
                          unsigned major, unsigned minor, unsigned build) {
  const bytes_t d = utf16(domain);
  const bytes_t u = utf16(user);
  const bytes_t w = utf16(workstation);
  const bytes_t lm(24, 0);
  const bytes_t nt(48, 0x22);
  const std::size_t base = 88;  // header 64 + version 8 + MIC 16
  builder n;
  n.raw(std::string_view("NTLMSSP\0", 8)).le32(3);
  std::size_t off = base;
  for (const bytes_t* f : {&lm, &nt, &d, &u, &w}) {
    n.le16(static_cast<unsigned>(f->size())).le16(static_cast<unsigned>(f->size())).le32(static_cast<std::uint32_t>(off));
    off += f->size();
  }
  n.le16(0).le16(0).le32(static_cast<std::uint32_t>(off));  // session key
  n.le32(ntlm_flags).add(version(major, minor, build)).zeros(16);
  n.add(lm).add(nt).add(d).add(u).add(w);
  return n.b;
}

// ---- SMB1 ----

bytes_t smb1(unsigned cmd, bool reply, unsigned flags2, const bytes_t& words, const bytes_t& data) {
  builder s;
  s.u8(0xff).raw("SMB").u8(cmd).le32(0).u8(reply ? 0x98 : 0x18).le16(flags2).zeros(20);
  s.u8(static_cast<unsigned>(words.size() / 2)).add(words).le16(static_cast<unsigned>(data.size())).add(data);
  return s.b;
}

const bytes_t smb1_negotiate_request = [] {
  builder d;
  for (const char* dialect : {"PC NETWORK PROGRAM 1.0", "LANMAN1.0", "NT LM 0.12", "SMB 2.002", "SMB 2.???"}) {
    d.u8(2).raw(dialect).u8(0);
  }
  return smb1(0x72, false, 0xc853, {}, d.b);
}();

// NT LM 0.12 response without extended security: challenge, then domain
// and server names in UTF-16 without alignment padding (as Windows sends).
const bytes_t smb1_negotiate_response = [] {
  builder w;
  w.le16(2).u8(3).le16(50).le16(1).le32(4356).le32(65536).le32(0).le32(0x0001e3fc).le64(0x01d2b544d39cf440ull)
      .le16(0xfff0).u8(8);
  const bytes_t data = cat({bytes_t(8, 0xab), utf16z("WORKGROUP"), utf16z("JOHN-PC")});
  return smb1(0x72, true, 0xc053, w.b, data);
}();

// Session setup AndX request, NT LM 0.12 without extended security (13
// words): passwords, then aligned UTF-16 account, domain, OS, LAN manager.
const bytes_t smb1_setup_request = [] {
  builder w;
  w.u8(0xff).u8(0).le16(0).le16(4356).le16(10).le16(0).le32(0).le16(1).le16(0).le32(0).le32(0xd4);
  // Bytes start at offset 32 + 1 + 26 + 2 = 61: 1 OEM password byte brings
  // the strings to 62, even.
  const bytes_t data = cat({bytes_t(1, 0), utf16z("guest"), utf16z("WORKGROUP"), utf16z("Windows 2000 2195"),
                            utf16z("Windows 2000 5.0")});
  return smb1(0x73, false, 0xc001, w.b, data);
}();

// Session setup AndX response (3 words): a pad byte, then the strings.
const bytes_t smb1_setup_response = [] {
  builder w;
  w.u8(0xff).u8(0).le16(0).le16(0);
  const bytes_t data = cat({bytes_t(1, 0), utf16z("Windows 7 Ultimate 7601 Service Pack 1"),
                            utf16z("Windows 7 Ultimate 6.1"), utf16z("WORKGROUP")});
  return smb1(0x73, true, 0xc001, w.b, data);
}();

// Session setup AndX with extended security (12 words request, 4 words
// response): SPNEGO blob, then strings.
bytes_t smb1_ext_setup(bool reply, const bytes_t& blob) {
  builder w;
  if (reply) {
    w.u8(0xff).u8(0).le16(0).le16(0).le16(static_cast<unsigned>(blob.size()));
  } else {
    w.u8(0xff).u8(0).le16(0).le16(4356).le16(10).le16(0).le32(0).le16(static_cast<unsigned>(blob.size())).le32(0)
        .le32(0x800000d4);
  }
  const std::size_t bytes_at = 32 + 1 + w.b.size() + 2;
  bytes_t data = blob;
  if ((bytes_at + blob.size()) % 2 == 1) {
    data.push_back(0);  // pad to align the UTF-16 strings
  }
  data = cat({data, utf16z(reply ? "Windows Server 2003 3790 Service Pack 2" : "Unix"),
              utf16z(reply ? "Windows Server 2003 5.2" : "Samba")});
  return smb1(0x73, reply, 0xc807, w.b, data);
}

// ---- SMB2 ----

bytes_t smb2(unsigned cmd, bool response, std::uint32_t status, const bytes_t& body, std::uint32_t next = 0) {
  builder h;
  h.u8(0xfe).raw("SMB").le16(64).le16(1).le32(status).le16(cmd).le16(1).le32(response ? 1 : 0).le32(next)
      .le64(1).le32(0xfeff).le32(0).le64(0x1000).zeros(16);
  h.add(body);
  return h.b;
}

const bytes_t client_guid = {0x38, 0x96, 0xc9, 0x9e, 0x83, 0x22, 0xeb, 0x11,
                             0xb7, 0xbb, 0x00, 0x50, 0x56, 0x99, 0x2e, 0x14};
const bytes_t server_guid = {0x69, 0x7c, 0xde, 0xfa, 0x23, 0xc9, 0xb5, 0x4e,
                             0xb5, 0xf6, 0x52, 0xc1, 0x49, 0x90, 0x83, 0x8b};

const bytes_t smb2_negotiate_request = [] {
  builder b;
  b.le16(36).le16(5).le16(1).le16(0).le32(0x7f).add(client_guid).le32(0).le16(0).le16(0);
  for (unsigned d : {0x0202u, 0x0210u, 0x0300u, 0x0302u, 0x0311u}) {
    b.le16(d);
  }
  return smb2(0, false, 0, b.b);
}();

const bytes_t smb2_negotiate_response = [] {
  const bytes_t blob = neg_token_init({});
  builder b;
  b.le16(65).le16(1).le16(0x0311).le16(0).add(server_guid).le32(0x2f).le32(8388608).le32(8388608).le32(8388608)
      .le64(0x01d6b5f0a0000000ull).le64(0).le16(128).le16(static_cast<unsigned>(blob.size())).le32(0);
  b.add(blob);
  return smb2(0, true, 0, b.b);
}();

bytes_t smb2_session_setup(bool response, std::uint32_t status, const bytes_t& blob) {
  builder b;
  if (response) {
    b.le16(9).le16(0).le16(72).le16(static_cast<unsigned>(blob.size()));
  } else {
    b.le16(25).u8(0).u8(1).le32(1).le32(0).le16(88).le16(static_cast<unsigned>(blob.size())).le64(0);
  }
  b.add(blob);
  return smb2(1, response, status, b.b);
}

const bytes_t smb2_setup_negotiate = smb2_session_setup(false, 0, neg_token_init(ntlm_negotiate(10, 0, 19041)));
const bytes_t smb2_setup_challenge = smb2_session_setup(
    true, 0xc0000016,
    neg_token_resp(ntlm_challenge("SRV2-WIN-FR", "SRV2-WIN-FR", "srv2-win-fr", "corp.example", 6, 1, 7601)));
const bytes_t smb2_setup_authenticate =
    smb2_session_setup(false, 0, neg_token_resp(ntlm_authenticate(".", "user2", "CLIENT-WIN-FR", 10, 0, 19041)));

// NetBIOS session request (port 139): called and calling names.
const bytes_t session_request = [] {
  auto encode = [](std::string_view name, unsigned suffix) {
    std::string padded(name);
    padded.resize(15, ' ');
    padded += static_cast<char>(suffix);
    bytes_t out = {32};
    for (char c : padded) {
      const auto x = static_cast<unsigned char>(c);
      out.push_back(static_cast<std::uint8_t>('A' + (x >> 4)));
      out.push_back(static_cast<std::uint8_t>('A' + (x & 15)));
    }
    out.push_back(0);
    return out;
  };
  return frame(cat({encode("FILESERVER", 0x20), encode("LAPTOP-7", 0x00)}), 0x81);
}();

struct test_sink : proto::fact_sink {
  void add(proto::fact f) override { facts.push_back(std::move(f)); }
  std::vector<proto::fact> facts;
  bool has(subject about, std::string_view field, std::string_view value) const {
    for (const auto& f : facts) {
      if (f.about == about && f.field == field && f.value == value) {
        return true;
      }
    }
    return false;
  }
  std::string dump() const {
    std::string s;
    for (const auto& f : facts) {
      s += std::string(f.source) + "/" + std::string(f.field) + "=" + f.value + " about " +
           std::to_string(static_cast<int>(f.about)) + "\n";
    }
    return s;
  }
};

proto::packet_view tcp(std::uint16_t sport, std::uint16_t dport) {
  proto::packet_view p;
  p.src_ip = *net::ip_address::parse("172.17.0.184");
  p.dst_ip = *net::ip_address::parse("172.17.0.189");
  p.src_port = sport;
  p.dst_port = dport;
  p.ip_proto = 6;
  p.has_ip = true;
  return p;
}

test_sink facts_of(const bytes_t& f, std::uint16_t sport = 50000, std::uint16_t dport = 445) {
  smb_message m;
  parse_smb(f, m);
  test_sink sink;
  proto::smb_facts(m, tcp(sport, dport), sink);
  return sink;
}

const std::vector<const bytes_t*>& all_messages() {
  static const std::vector<const bytes_t*> v = {
      &smb1_negotiate_request, &smb1_negotiate_response, &smb1_setup_request, &smb1_setup_response,
      &smb2_negotiate_request, &smb2_negotiate_response, &smb2_setup_negotiate, &smb2_setup_challenge,
      &smb2_setup_authenticate};
  return v;
}

// ---------------------------------------------------------------------------
// Incomplete and broken input

// A stream prefix cut anywhere: the frame at its start is incomplete until
// all its bytes are there, then parses whole.
TEST(Smb, StreamPrefixesAreIncompleteUntilTheFrameIsWhole) {
  const bytes_t stream = cat({frame(smb2_negotiate_request), frame(smb2_setup_negotiate)});
  const std::size_t first = 4 + smb2_negotiate_request.size();
  for (std::size_t len = 0; len <= stream.size(); ++len) {
    const bytes_t cut(stream.begin(), stream.begin() + static_cast<std::ptrdiff_t>(len));
    std::size_t off = 0;
    std::size_t frames = 0;
    while (off < cut.size()) {
      smb_message m;
      const smb_error e = parse_smb(std::span<const std::uint8_t>(cut).subspan(off), m);
      if (e == smb_error::incomplete) {
        if (cut.size() - off >= 4) {
          EXPECT_GT(m.frame_len, cut.size() - off);
        }
        break;
      }
      ASSERT_EQ(e, smb_error::none) << len;
      off += m.frame_len;
      ++frames;
    }
    EXPECT_EQ(frames, len < first ? 0u : len < stream.size() ? 1u : 2u) << len;
  }
}

// Every message cut at every length and framed as if whole: the inner
// bounds checks catch it, facts stay sane.
TEST(Smb, EveryTruncationOfEveryMessageIsSafe) {
  for (const bytes_t* full : all_messages()) {
    smb_message whole;
    ASSERT_EQ(parse_smb(kept_frame(*full), whole), smb_error::none) << proto::smb_error_name(whole.error);
    test_sink all;
    proto::smb_facts(whole, tcp(50000, 445), all);
    for (std::size_t len = 0; len < full->size(); ++len) {
      const bytes_t cut = frame(bytes_t(full->begin(), full->begin() + static_cast<std::ptrdiff_t>(len)));
      smb_message m;
      const smb_error e = parse_smb(cut, m);
      EXPECT_NE(e, smb_error::incomplete) << len;
      test_sink sink;
      proto::smb_facts(m, tcp(50000, 445), sink);
      for (const auto& f : sink.facts) {
        // A value from a cut message is the whole one's or a cut UTF-16
        // string of it (strings may lack their NUL at the end).
        bool prefix_of_whole = false;
        for (const auto& w : all.facts) {
          prefix_of_whole = prefix_of_whole || (w.field == f.field && w.value.compare(0, f.value.size(), f.value) == 0);
        }
        EXPECT_TRUE(prefix_of_whole) << len << ": " << f.field << "=" << f.value;
      }
    }
  }
}

TEST(Smb, FramingAndNonSmbStreams) {
  smb_message m;
  EXPECT_EQ(parse_smb(bytes_t{}, m), smb_error::incomplete);
  EXPECT_EQ(parse_smb(bytes_t{0, 0, 1}, m), smb_error::incomplete);
  const std::string http = "GET / HTTP/1.1\r\n\r\n";
  EXPECT_EQ(parse_smb(bytes_t(http.begin(), http.end()), m), smb_error::not_smb);
  EXPECT_EQ(parse_smb(kept_frame({'x', 'S', 'M', 'B', 0, 0}), m), smb_error::not_smb);
  // Keep-alive and positive session response: control packets, no SMB.
  ASSERT_EQ(parse_smb(bytes_t{0x85, 0, 0, 0}, m), smb_error::none);
  EXPECT_EQ(m.frame_len, 4u);
  EXPECT_EQ(m.version, smb_version::none);
  // NetBIOS length extension bit: 0x1_0000 bytes claimed.
  ASSERT_EQ(parse_smb(bytes_t{0x82, 0x01, 0x00, 0x00}, m), smb_error::incomplete);
  EXPECT_EQ(m.frame_len, 4u + 0x10000u);
  // Direct TCP 24-bit length.
  ASSERT_EQ(parse_smb(bytes_t{0x00, 0x12, 0x34, 0x56, 0xfe}, m), smb_error::incomplete);
  EXPECT_EQ(m.frame_len, 4u + 0x123456u);
  // Encrypted and compressed SMB3.
  ASSERT_EQ(parse_smb(kept_frame(cat({{0xfd, 'S', 'M', 'B'}, bytes_t(48, 0)})), m), smb_error::none);
  EXPECT_EQ(m.version, smb_version::encrypted);
  ASSERT_EQ(parse_smb(kept_frame(cat({{0xfc, 'S', 'M', 'B'}, bytes_t(12, 0)})), m), smb_error::none);
  EXPECT_EQ(m.version, smb_version::compressed);
  // Zero-length session message.
  ASSERT_EQ(parse_smb(bytes_t{0, 0, 0, 0}, m), smb_error::none);
  EXPECT_EQ(m.frame_len, 4u);
}

TEST(Smb, HostileOffsetsAndLengths) {
  smb_message m;
  // SMB2 security buffer offset past the end.
  auto bad = smb2_setup_challenge;
  bad[64 + 4] = 0xf0;
  EXPECT_EQ(parse_smb(kept_frame(bad), m), smb_error::bad_offset);
  EXPECT_FALSE(m.has_ntlm);
  // Security buffer length past the end.
  bad = smb2_setup_challenge;
  bad[64 + 7] = 0x7f;
  EXPECT_EQ(parse_smb(kept_frame(bad), m), smb_error::bad_offset);
  // SMB1 byte count past the end.
  bad = smb1_setup_response;
  bad[32 + 1 + 6] = 0xff;
  EXPECT_EQ(parse_smb(kept_frame(bad), m), smb_error::truncated_smb);
  // SMB1 security blob length past the byte block.
  auto ext = smb1_ext_setup(false, neg_token_init(ntlm_negotiate(6, 1, 7601)));
  ext[32 + 1 + 14] = 0xff;
  EXPECT_EQ(parse_smb(kept_frame(ext), m), smb_error::bad_offset);
  // SMB2 compound with a next-command offset that is not a header.
  auto compound = smb2(5, false, 0, bytes_t(56, 0), 64);
  compound = cat({compound, bytes_t(64, 0x41)});
  EXPECT_EQ(parse_smb(kept_frame(compound), m), smb_error::truncated_smb);
  // A session setup failure response (ERROR body) is not read as a setup.
  ASSERT_EQ(parse_smb(kept_frame(smb2(1, true, 0xc000006d, {9, 0, 0, 0, 0, 0, 0, 0, 0})), m), smb_error::none);
  EXPECT_FALSE(m.is_session_setup);
}

TEST(Smb, HostileDer) {
  smb_error err = smb_error::none;
  // Length past the end.
  bytes_t blob = {0x60, 0x7f, 0x06, 0x06};
  EXPECT_TRUE(proto::find_ntlmssp(blob, err).empty());
  EXPECT_EQ(err, smb_error::bad_security_blob);
  // Long-form length of 5 bytes, and of 0 bytes.
  err = smb_error::none;
  EXPECT_TRUE(proto::find_ntlmssp(bytes_t{0x60, 0x85, 1, 0, 0, 0, 0}, err).empty());
  EXPECT_EQ(err, smb_error::bad_security_blob);
  err = smb_error::none;
  EXPECT_TRUE(proto::find_ntlmssp(bytes_t{0x60, 0x80}, err).empty());
  EXPECT_EQ(err, smb_error::bad_security_blob);
  // Nested 30 deep.
  bytes_t deep = tlv(0x04, ntlm_negotiate(6, 1, 7601));
  for (int i = 0; i < 30; ++i) {
    deep = tlv(0x30, deep);
  }
  err = smb_error::none;
  EXPECT_TRUE(proto::find_ntlmssp(deep, err).empty());
  EXPECT_EQ(err, smb_error::bad_security_blob);
  // High tag numbers are skipped over.
  err = smb_error::none;
  const bytes_t high = cat({{0x1f, 0x81, 0x01, 0x00}, tlv(0x04, ntlm_negotiate(6, 1, 7601))});
  EXPECT_FALSE(proto::find_ntlmssp(high, err).empty());
  EXPECT_EQ(err, smb_error::none);
  // Kerberos only: nothing found, no error.
  err = smb_error::none;
  EXPECT_TRUE(proto::find_ntlmssp(tlv(0x60, cat({spnego_oid, tlv(0xa0, tlv(0x30, tlv(0xa2, tlv(0x04, {0x60, 0x00}))))})), err)
                  .empty());
  EXPECT_EQ(err, smb_error::none);
  // Raw NTLMSSP with no wrapping.
  err = smb_error::none;
  EXPECT_FALSE(proto::find_ntlmssp(ntlm_negotiate(6, 1, 7601), err).empty());
}

TEST(Smb, HostileNtlmssp) {
  proto::ntlm_message n;
  EXPECT_EQ(proto::parse_ntlmssp(bytes_t{'N', 'T', 'L', 'M'}, n), smb_error::bad_ntlmssp);
  auto c = ntlm_challenge("PC", "DOM", "pc", "dom.example", 6, 1, 7601);
  auto t = c;
  t[8] = 9;  // unknown type
  EXPECT_EQ(proto::parse_ntlmssp(t, n), smb_error::bad_ntlmssp);
  // Target name offset past the end: that field empty, the rest kept.
  t = c;
  t[16] = 0xff;
  t[17] = 0xff;
  EXPECT_EQ(proto::parse_ntlmssp(t, n), smb_error::bad_ntlmssp);
  EXPECT_EQ(n.type, 2u);
  EXPECT_FALSE(n.target_name.present());
  EXPECT_EQ(proto::smb_string_utf8(n.nb_computer), "PC");
  // An AV pair running past the target info.
  t = c;
  const std::size_t info_at = 56 + 6;  // after the UTF-16 "DOM"
  t[info_at + 2] = 0xff;
  EXPECT_EQ(proto::parse_ntlmssp(t, n), smb_error::bad_ntlmssp);
  EXPECT_FALSE(n.nb_computer.present());
  // Every cut of each NTLMSSP message.
  for (const auto& full : {c, ntlm_negotiate(10, 0, 19041), ntlm_authenticate("D", "u", "W", 10, 0, 1)}) {
    for (std::size_t len = 0; len < full.size(); ++len) {
      const bytes_t cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(len));
      proto::parse_ntlmssp(cut, n);
      test_sink sink;
      proto::ntlm_facts(n, tcp(1, 2), sink);
    }
  }
}

TEST(Smb, RandomMutationsStayInBounds) {
  std::uint32_t state = 31337;
  auto rnd = [&state](std::uint32_t n) {
    state = state * 1664525u + 1013904223u;
    return (state >> 8) % n;
  };
  const auto& msgs = all_messages();
  for (int round = 0; round < 30000; ++round) {
    bytes_t v = *msgs[static_cast<std::size_t>(round) % msgs.size()];
    for (std::uint32_t k = 0, n = 1 + rnd(6); k < n; ++k) {
      v[rnd(static_cast<std::uint32_t>(v.size()))] = static_cast<std::uint8_t>(rnd(4) == 0 ? 0xff : rnd(256));
    }
    if (rnd(2) == 0) {
      v.resize(rnd(static_cast<std::uint32_t>(v.size() + 1)));
    }
    bytes_t f = frame(v);
    f.shrink_to_fit();
    smb_message m;
    parse_smb(f, m);
    for (const auto* s : {&m.native_os, &m.native_lanman, &m.primary_domain, &m.account, &m.server_domain,
                          &m.ntlm.nb_computer, &m.ntlm.workstation, &m.ntlm.user, &m.ntlm.domain}) {
      if (s->present() && !s->raw.empty()) {
        ASSERT_GE(s->raw.data(), f.data());
        ASSERT_LE(s->raw.data() + s->raw.size(), f.data() + f.size());
      }
    }
    test_sink sink;
    proto::smb_facts(m, tcp(1, 2), sink);
  }
}

// ---------------------------------------------------------------------------
// Fixtures

TEST(Smb, SessionRequestNamesBothEnds) {
  smb_message m;
  ASSERT_EQ(parse_smb(session_request, m), smb_error::none);
  ASSERT_TRUE(m.has_session_request);
  EXPECT_EQ(m.called.name(), "FILESERVER");
  EXPECT_EQ(m.called.suffix, 0x20);
  EXPECT_EQ(m.calling.name(), "LAPTOP-7");
  const auto sink = facts_of(session_request, 50000, 139);
  EXPECT_TRUE(sink.has(subject::sender, "netbios_name", "LAPTOP-7")) << sink.dump();
  EXPECT_TRUE(sink.has(subject::receiver, "netbios_name", "FILESERVER"));
  EXPECT_EQ(sink.facts.size(), 2u);
}

TEST(Smb, Smb1NegotiateAndSessionSetup) {
  smb_message m;
  ASSERT_EQ(parse_smb(kept_frame(smb1_negotiate_request), m), smb_error::none);
  EXPECT_EQ(m.version, smb_version::smb1);
  EXPECT_TRUE(m.is_negotiate);
  EXPECT_FALSE(m.response);
  ASSERT_EQ(m.smb1_dialect_count, 5);
  EXPECT_EQ(m.smb1_dialects[2], "NT LM 0.12");
  auto s = facts_of(frame(smb1_negotiate_request));
  EXPECT_TRUE(s.has(subject::sender, "smb_dialects", "PC NETWORK PROGRAM 1.0,LANMAN1.0,NT LM 0.12,SMB 2.002,SMB 2.???"))
      << s.dump();

  ASSERT_EQ(parse_smb(kept_frame(smb1_negotiate_response), m), smb_error::none);
  EXPECT_TRUE(m.response);
  EXPECT_EQ(m.dialect, 2);
  EXPECT_EQ(m.capabilities, 0x0001e3fcu);
  EXPECT_EQ(proto::smb_string_utf8(m.server_domain), "WORKGROUP");
  EXPECT_EQ(proto::smb_string_utf8(m.server_name), "JOHN-PC");
  s = facts_of(frame(smb1_negotiate_response), 445, 50000);
  EXPECT_TRUE(s.has(subject::sender, "workgroup", "WORKGROUP")) << s.dump();
  EXPECT_TRUE(s.has(subject::sender, "netbios_name", "JOHN-PC"));

  ASSERT_EQ(parse_smb(kept_frame(smb1_setup_request), m), smb_error::none);
  EXPECT_TRUE(m.is_session_setup);
  EXPECT_EQ(proto::smb_string_utf8(m.account), "guest");
  s = facts_of(frame(smb1_setup_request));
  EXPECT_TRUE(s.has(subject::sender, "native_os", "Windows 2000 2195")) << s.dump();
  EXPECT_TRUE(s.has(subject::sender, "native_lanman", "Windows 2000 5.0"));
  EXPECT_TRUE(s.has(subject::sender, "smb_primary_domain", "WORKGROUP"));
  EXPECT_TRUE(s.has(subject::sender, "smb_account", "guest"));

  s = facts_of(frame(smb1_setup_response), 445, 50000);
  EXPECT_TRUE(s.has(subject::sender, "native_os", "Windows 7 Ultimate 7601 Service Pack 1")) << s.dump();
  EXPECT_TRUE(s.has(subject::sender, "native_lanman", "Windows 7 Ultimate 6.1"));
  EXPECT_TRUE(s.has(subject::sender, "smb_primary_domain", "WORKGROUP"));
  for (const auto& f : s.facts) {
    EXPECT_EQ(f.source.str(), "smb");
  }
}

TEST(Smb, Smb1ExtendedSecurityCarriesNtlm) {
  const auto req = frame(smb1_ext_setup(false, neg_token_init(ntlm_negotiate(5, 1, 2600))));
  smb_message m;
  ASSERT_EQ(parse_smb(req, m), smb_error::none) << proto::smb_error_name(m.error);
  ASSERT_TRUE(m.has_ntlm);
  EXPECT_EQ(m.ntlm.type, 1u);
  auto s = facts_of(req);
  EXPECT_TRUE(s.has(subject::sender, "ntlm_version", "5.1.2600")) << s.dump();
  EXPECT_TRUE(s.has(subject::sender, "native_os", "Unix"));
  EXPECT_TRUE(s.has(subject::sender, "native_lanman", "Samba"));

  const auto resp = frame(smb1_ext_setup(
      true, neg_token_resp(ntlm_challenge("W2K3", "CORP", "w2k3.corp.example", "corp.example", 5, 2, 3790))));
  ASSERT_EQ(parse_smb(resp, m), smb_error::none) << proto::smb_error_name(m.error);
  s = facts_of(resp, 445, 50000);
  EXPECT_TRUE(s.has(subject::sender, "native_os", "Windows Server 2003 3790 Service Pack 2")) << s.dump();
  EXPECT_TRUE(s.has(subject::sender, "ntlm_version", "5.2.3790"));
  EXPECT_TRUE(s.has(subject::sender, "netbios_name", "W2K3"));
  EXPECT_TRUE(s.has(subject::sender, "dns_hostname", "w2k3.corp.example"));
}

TEST(Smb, Smb2NegotiateFieldsAndFacts) {
  smb_message m;
  ASSERT_EQ(parse_smb(kept_frame(smb2_negotiate_request), m), smb_error::none);
  EXPECT_EQ(m.version, smb_version::smb2);
  EXPECT_TRUE(m.is_negotiate);
  ASSERT_EQ(m.dialect_count, 5);
  EXPECT_EQ(m.dialects[4], 0x0311);
  EXPECT_EQ(proto::smb_guid_string(m.guid), "9ec99638-2283-11eb-b7bb-005056992e14");
  auto s = facts_of(frame(smb2_negotiate_request));
  EXPECT_TRUE(s.has(subject::sender, "smb_dialects", "0x0202,0x0210,0x0300,0x0302,0x0311")) << s.dump();
  EXPECT_TRUE(s.has(subject::sender, "smb_client_guid", "9ec99638-2283-11eb-b7bb-005056992e14"));

  ASSERT_EQ(parse_smb(kept_frame(smb2_negotiate_response), m), smb_error::none);
  EXPECT_TRUE(m.response);
  EXPECT_EQ(m.dialect, 0x0311);
  EXPECT_FALSE(m.security_blob.empty());
  EXPECT_FALSE(m.has_ntlm);  // NegTokenInit with mechTypes only
  s = facts_of(frame(smb2_negotiate_response), 445, 50000);
  EXPECT_TRUE(s.has(subject::sender, "smb_dialect", "0x0311")) << s.dump();
  EXPECT_TRUE(s.has(subject::sender, "smb_server_guid", "fade7c69-c923-4eb5-b5f6-52c14990838b"));
}

TEST(Smb, Smb2SessionSetupNtlmExchange) {
  smb_message m;
  ASSERT_EQ(parse_smb(kept_frame(smb2_setup_negotiate), m), smb_error::none);
  EXPECT_TRUE(m.is_session_setup);
  ASSERT_TRUE(m.has_ntlm);
  EXPECT_EQ(m.ntlm.type, 1u);
  auto s = facts_of(frame(smb2_setup_negotiate));
  EXPECT_TRUE(s.has(subject::sender, "ntlm_version", "10.0.19041")) << s.dump();

  ASSERT_EQ(parse_smb(kept_frame(smb2_setup_challenge), m), smb_error::none) << proto::smb_error_name(m.error);
  ASSERT_TRUE(m.has_ntlm);
  EXPECT_EQ(m.ntlm.type, 2u);
  EXPECT_TRUE(m.ntlm.has_timestamp);
  EXPECT_EQ(m.ntlm.timestamp, 0x1111111111111111ull);
  s = facts_of(frame(smb2_setup_challenge), 445, 50000);
  EXPECT_TRUE(s.has(subject::sender, "ntlm_version", "6.1.7601")) << s.dump();
  EXPECT_TRUE(s.has(subject::sender, "netbios_name", "SRV2-WIN-FR"));
  EXPECT_TRUE(s.has(subject::sender, "ntlm_domain", "SRV2-WIN-FR"));
  EXPECT_TRUE(s.has(subject::sender, "dns_hostname", "srv2-win-fr"));
  EXPECT_TRUE(s.has(subject::sender, "dns_domain", "corp.example"));
  EXPECT_TRUE(s.has(subject::sender, "dns_forest", "corp.example"));
  EXPECT_TRUE(s.has(subject::sender, "ntlm_target", "SRV2-WIN-FR"));
  for (const auto& f : s.facts) {
    EXPECT_EQ(f.source.str(), "ntlmssp");
  }

  ASSERT_EQ(parse_smb(kept_frame(smb2_setup_authenticate), m), smb_error::none) << proto::smb_error_name(m.error);
  EXPECT_EQ(m.ntlm.type, 3u);
  s = facts_of(frame(smb2_setup_authenticate));
  EXPECT_TRUE(s.has(subject::sender, "ntlm_version", "10.0.19041")) << s.dump();
  EXPECT_TRUE(s.has(subject::sender, "netbios_name", "CLIENT-WIN-FR"));
  EXPECT_TRUE(s.has(subject::sender, "ntlm_domain", "."));
  EXPECT_TRUE(s.has(subject::sender, "ntlm_user", "user2"));
}

TEST(Smb, NtlmWithoutVersionAndUnicodeNames) {
  // An AUTHENTICATE whose payload starts at 64: no Version field even with
  // the flag set (older clients), and names beyond ASCII.
  const bytes_t d = utf16("J\xc3\xb6rg-PC");
  const bytes_t u = utf16("\xf0\x9f\x98\x80x");  // U+1F600, a surrogate pair
  builder n;
  n.raw(std::string_view("NTLMSSP\0", 8)).le32(3);
  n.le16(0).le16(0).le32(64).le16(0).le16(0).le32(64);
  n.le16(static_cast<unsigned>(d.size())).le16(static_cast<unsigned>(d.size())).le32(64);
  n.le16(static_cast<unsigned>(u.size())).le16(static_cast<unsigned>(u.size()))
      .le32(static_cast<std::uint32_t>(64 + d.size()));
  n.le16(0).le16(0).le32(0).le16(0).le16(0).le32(0).le32(ntlm_flags);
  n.add(d).add(u);
  proto::ntlm_message msg;
  ASSERT_EQ(proto::parse_ntlmssp(n.b, msg), smb_error::none);
  EXPECT_FALSE(msg.has_version);
  EXPECT_EQ(proto::smb_string_utf8(msg.domain), "J\xc3\xb6rg-PC");
  EXPECT_EQ(proto::smb_string_utf8(msg.user), "\xf0\x9f\x98\x80x");
  // Unpaired surrogates and an odd byte become U+FFFD.
  proto::smb_string odd;
  const bytes_t raw = {0x00, 0xd8, 0x41, 0x00, 0x42};
  odd.raw = raw;
  odd.utf16 = true;
  EXPECT_EQ(proto::smb_string_utf8(odd), "\xef\xbf\xbd" "A\xef\xbf\xbd");
}

TEST(Smb, WriteFuzzSeeds) {
  if (names_test::seed_dir() == nullptr) {
    GTEST_SKIP() << "TAPSENSE_WRITE_SEEDS not set";
  }
  // Stream prefixes as the fingerprinter passes them: framed messages.
  names_test::write_seed("smb", session_request);
  names_test::write_seed("smb", cat({frame(smb1_negotiate_request), frame(smb1_setup_request)}));
  names_test::write_seed("smb", cat({frame(smb1_negotiate_response), frame(smb1_setup_response)}));
  names_test::write_seed("smb", frame(smb1_ext_setup(false, neg_token_init(ntlm_negotiate(5, 1, 2600)))));
  names_test::write_seed("smb", frame(smb1_ext_setup(
                                    true, neg_token_resp(ntlm_challenge("W2K3", "CORP", "w2k3.corp", "corp", 5, 2, 3790)))));
  names_test::write_seed("smb", cat({frame(smb2_negotiate_request), frame(smb2_setup_negotiate),
                                     frame(smb2_setup_authenticate)}));
  names_test::write_seed("smb", cat({frame(smb2_negotiate_response), frame(smb2_setup_challenge)}));
}

// ---------------------------------------------------------------------------
// Agreement with tshark

constexpr std::size_t prefix_cap = 16 * 1024;

TEST(Smb, AgreesWithTsharkOnSharedCaptures) {
  if (!std::filesystem::exists(names_test::shared_pcaps())) {
    GTEST_SKIP() << "shared pcaps absent";
  }
  if (!names_test::have_tshark()) {
    GTEST_SKIP() << "tshark absent";
  }
  using names_test::triple;
  std::size_t total_expected = 0;
  std::size_t total_found = 0;
  // gre/erspan.pcap's NTLM is HTTP authentication (port 80), compared in
  // test_http; it holds no SMB.
  for (const char* name : {"smb-os/smbv1.pcap", "bench/smb3_multichannel.pcap", "nbns/netbios.pcap"}) {
    SCOPED_TRACE(name);
    const std::string path = names_test::shared_pcaps() + "/" + name;
    names_test::recording_sink sink;
    std::size_t frames = 0;
    std::size_t directions = 0;
    for (const auto& d : names_test::tcp_prefixes(names_test::decode_capture(path), prefix_cap)) {
      if (d.view.src_port != 445 && d.view.dst_port != 445 && d.view.src_port != 139 && d.view.dst_port != 139) {
        continue;
      }
      ++directions;
      sink.set_packet(d.view, d.first_frame);
      std::size_t off = 0;
      while (off < d.prefix.size()) {
        smb_message m;
        const smb_error e = parse_smb(std::span<const std::uint8_t>(d.prefix).subspan(off), m);
        if (e == smb_error::incomplete) {
          break;
        }
        proto::smb_facts(m, d.view, sink);
        ++frames;
        if (e == smb_error::not_smb) {
          break;
        }
        off += m.frame_len;
      }
    }
    const auto have = names_test::triples(sink.facts);
    names_test::agreement agr;
    agr.capture = name;
    const auto rows = names_test::tshark_rows(
        path, "smb || smb2 || nbss || (ntlmssp && (tcp.port == 445 || tcp.port == 139))",
        {"ip.src", "ipv6.src", "ip.dst", "smb.cmd", "smb.native_os", "smb.native_lanman", "smb.primary_domain",
         "ntlmssp.version.major", "ntlmssp.version.minor", "ntlmssp.version.build_number", "ntlmssp.auth.hostname",
         "ntlmssp.auth.domain", "ntlmssp.auth.username", "ntlmssp.challenge.target_info.nb_computer_name",
         "ntlmssp.challenge.target_info.nb_domain_name", "ntlmssp.challenge.target_info.dns_computer_name",
         "ntlmssp.challenge.target_info.dns_domain_name", "ntlmssp.challenge.target_info.dns_tree_name",
         "smb2.dialect", "smb2.server_guid", "smb2.client_guid", "nbss.calling_name", "nbss.called_name",
         "ntlmssp.messagetype"});
    enum { c_src, c_src6, c_dst, c_cmd, c_os, c_lanman, c_domain, c_major, c_minor, c_build, c_host, c_adom, c_user,
           c_nbc, c_nbd, c_dnsc, c_dnsd, c_tree, c_dialect, c_sguid, c_cguid, c_calling, c_called, c_type };
    auto values = [](const std::string& col) {
      std::vector<std::string> v;
      for (const auto& s : names_test::split(col, names_test::agg)) {
        const std::string u = names_test::tshark_unescape(s);
        if (!u.empty() && u != "NULL") {  // tshark's "NULL" is an empty NTLM string
          v.push_back(u);
        }
      }
      return v;
    };
    for (const auto& r : rows) {
      const std::string src = names_test::split(!r[c_src].empty() ? r[c_src] : r[c_src6], names_test::agg).back();
      const std::string dst = names_test::split(r[c_dst], names_test::agg).back();
      const auto cmds = names_test::split(r[c_cmd], names_test::agg);
      for (const auto& v : values(r[c_os])) {
        agr.expect(triple(src, "native_os", v));
      }
      for (const auto& v : values(r[c_lanman])) {
        agr.expect(triple(src, "native_lanman", v));
      }
      for (const auto& v : values(r[c_domain])) {
        agr.expect(triple(src, cmds.front() == "0x72" ? "workgroup" : "smb_primary_domain", v));
      }
      const auto majors = values(r[c_major]);
      const auto minors = values(r[c_minor]);
      const auto builds = values(r[c_build]);
      for (std::size_t i = 0; i < majors.size() && i < minors.size() && i < builds.size(); ++i) {
        agr.expect(triple(src, "ntlm_version", majors[i] + "." + minors[i] + "." + builds[i]));
      }
      const std::pair<int, const char*> fields[] = {
          {c_host, "netbios_name"}, {c_adom, "ntlm_domain"}, {c_user, "ntlm_user"},  {c_nbc, "netbios_name"},
          {c_nbd, "ntlm_domain"},   {c_dnsc, "dns_hostname"}, {c_dnsd, "dns_domain"}, {c_tree, "dns_forest"},
          {c_sguid, "smb_server_guid"}, {c_cguid, "smb_client_guid"}};
      for (const auto& [col, field] : fields) {
        for (const auto& v : values(r[static_cast<std::size_t>(col)])) {
          agr.expect(triple(src, field, v));
        }
      }
      if (!r[c_sguid].empty()) {
        for (const auto& v : values(r[c_dialect])) {
          agr.expect(triple(src, "smb_dialect", v));
        }
      }
      auto strip_suffix = [](const std::string& n) { return n.substr(0, n.find('<')); };
      for (const auto& v : values(r[c_calling])) {
        agr.expect(triple(src, "netbios_name", strip_suffix(v)));
      }
      for (const auto& v : values(r[c_called])) {
        if (strip_suffix(v) != "*SMBSERVER") {
          agr.expect(triple(dst, "netbios_name", strip_suffix(v)));
        }
      }
    }
    agr.check(have);
    std::cout << agr.report("smb") << " (" << rows.size() << " tshark SMB/NTLMSSP packets; " << frames
              << " frames parsed in " << directions << " TCP directions, prefix cap " << prefix_cap << ")\n";
    if (std::string_view(name) != "nbns/netbios.pcap") {
      EXPECT_GT(agr.expected.size(), 0u) << "nothing compared in " << name;
    }
    EXPECT_EQ(agr.missing.size(), 0u) << agr.report("smb");
    total_expected += agr.expected.size();
    total_found += agr.found.size();
  }
  ASSERT_GT(total_expected, 0u) << "no SMB fact was compared with tshark";
  std::cout << "[ smb ] total " << total_found << "/" << total_expected << "\n";
}

}  // namespace
