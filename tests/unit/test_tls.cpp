// TLS ClientHello / ServerHello / certificate parsers and the JA3, JA4,
// JA3S, JA4S renderers. Broken input first (every truncation, every record
// split, hostile lengths), then renderer tables from the specifications,
// then hand-built handshakes shown to tshark, then agreement with tshark and
// nDPI on every TLS handshake of the shared captures.
//
// Every fixture here is built by the code below; no bytes are copied from
// the shared captures.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/proto/digest.h"
#include "common/proto/tls.h"
#include "tests/unit/test_tls_capture.h"

using namespace tapsense;
using namespace tapsense::proto;
using testcap::from_hex;

namespace {

using bytes_t = std::vector<std::uint8_t>;

// ---------------------------------------------------------------------------
// Builders

void put16(bytes_t& v, std::size_t x) {
  v.push_back(static_cast<std::uint8_t>(x >> 8));
  v.push_back(static_cast<std::uint8_t>(x));
}
void put24(bytes_t& v, std::size_t x) {
  v.push_back(static_cast<std::uint8_t>(x >> 16));
  put16(v, x & 0xffff);
}
void append(bytes_t& v, const bytes_t& w) { v.insert(v.end(), w.begin(), w.end()); }
bytes_t text(std::string_view s) { return bytes_t(s.begin(), s.end()); }

struct ext {
  std::uint16_t type;
  bytes_t body;
};

bytes_t u16_vector(const std::vector<std::uint16_t>& vals) {
  bytes_t b;
  put16(b, vals.size() * 2);
  for (auto x : vals) {
    put16(b, x);
  }
  return b;
}
ext sni_ext(std::string_view host) {
  bytes_t b;
  put16(b, host.size() + 3);
  b.push_back(0);
  put16(b, host.size());
  append(b, text(host));
  return {0x0000, b};
}
ext alpn_ext(const std::vector<std::string>& names) {
  bytes_t list;
  for (const auto& n : names) {
    list.push_back(static_cast<std::uint8_t>(n.size()));
    append(list, text(n));
  }
  bytes_t b;
  put16(b, list.size());
  append(b, list);
  return {0x0010, b};
}
ext versions_ext(const std::vector<std::uint16_t>& vals) {
  bytes_t b;
  b.push_back(static_cast<std::uint8_t>(vals.size() * 2));
  for (auto x : vals) {
    put16(b, x);
  }
  return {0x002b, b};
}

bytes_t handshake(std::uint8_t type, const bytes_t& body) {
  bytes_t m{type};
  put24(m, body.size());
  append(m, body);
  return m;
}

bytes_t ext_block(const std::vector<ext>& exts) {
  bytes_t e;
  for (const auto& x : exts) {
    put16(e, x.type);
    put16(e, x.body.size());
    append(e, x.body);
  }
  bytes_t b;
  put16(b, e.size());
  append(b, e);
  return b;
}

bytes_t client_hello(std::uint16_t legacy, const std::vector<std::uint16_t>& ciphers,
                     const std::vector<ext>& exts, bool with_ext_block = true) {
  bytes_t b;
  put16(b, legacy);
  for (int i = 0; i < 32; ++i) {
    b.push_back(static_cast<std::uint8_t>(i * 7));
  }
  b.push_back(32);  // session id
  for (int i = 0; i < 32; ++i) {
    b.push_back(static_cast<std::uint8_t>(0xa0 + i));
  }
  append(b, u16_vector(ciphers));
  b.push_back(1);  // compression methods: null
  b.push_back(0);
  if (with_ext_block) {
    append(b, ext_block(exts));
  }
  return handshake(1, b);
}

// Wraps handshake bytes into records of at most `max_fragment` bytes.
bytes_t records(const bytes_t& hs, std::size_t max_fragment = 16384, std::uint8_t type = 22,
                std::uint16_t version = 0x0301) {
  bytes_t out;
  std::size_t off = 0;
  do {
    const std::size_t n = std::min(max_fragment, hs.size() - off);
    out.push_back(type);
    put16(out, version);
    put16(out, n);
    out.insert(out.end(), hs.begin() + static_cast<std::ptrdiff_t>(off),
               hs.begin() + static_cast<std::ptrdiff_t>(off + n));
    off += n;
  } while (off < hs.size());
  return out;
}

// The JA4 specification's example client (technical_details/JA4.md), with
// GREASE added in every list the way Chrome sends it.
const std::vector<std::uint16_t> spec_ciphers = {0x0a0a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f,
                                                 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014,
                                                 0x009c, 0x009d, 0x002f, 0x0035};
const std::vector<std::uint16_t> spec_sigalgs = {0x0403, 0x0804, 0x0401, 0x0503,
                                                 0x0805, 0x0501, 0x0806, 0x0601};

bytes_t spec_client_hello_msg(std::string_view host = "www.example.com") {
  std::vector<ext> exts;
  exts.push_back({0x2a2a, {}});
  exts.push_back({0x001b, from_hex("020002")});
  exts.push_back(sni_ext(host));
  exts.push_back({0x0033, from_hex("0029 4a4a 0001 00 001d 0020" + std::string(64, '1'))});
  exts.push_back(alpn_ext({"h2", "http/1.1"}));
  exts.push_back({0x4469, from_hex("0003 026832")});
  exts.push_back({0x0017, {}});
  exts.push_back({0x002d, from_hex("0101")});
  exts.push_back({0x000d, u16_vector(spec_sigalgs)});
  exts.push_back({0x0005, from_hex("0100000000")});
  exts.push_back({0x0023, {}});
  exts.push_back({0x0012, {}});
  exts.push_back(versions_ext({0x5a5a, 0x0304, 0x0303}));
  exts.push_back({0xff01, from_hex("00")});
  exts.push_back({0x000b, from_hex("0100")});
  exts.push_back({0x000a, u16_vector({0x4a4a, 0x001d, 0x0017, 0x0018})});
  exts.push_back({0x3a3a, from_hex("00")});
  exts.push_back({0x0015, bytes_t(40, 0)});
  return client_hello(0x0303, spec_ciphers, exts);
}

const char* const spec_ja3_string =
    "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,"
    "27-0-51-16-17513-23-45-13-5-35-18-43-65281-11-10-21,29-23-24,0";

// DER builder for certificates.
bytes_t der(std::uint8_t tag, const bytes_t& content) {
  bytes_t v{tag};
  const std::size_t n = content.size();
  if (n < 0x80) {
    v.push_back(static_cast<std::uint8_t>(n));
  } else if (n < 0x100) {
    v.push_back(0x81);
    v.push_back(static_cast<std::uint8_t>(n));
  } else {
    v.push_back(0x82);
    put16(v, n);
  }
  append(v, content);
  return v;
}
bytes_t cat(std::initializer_list<bytes_t> parts) {
  bytes_t v;
  for (const auto& p : parts) {
    append(v, p);
  }
  return v;
}
bytes_t rdn(const bytes_t& oid, std::uint8_t string_tag, const bytes_t& value) {
  return der(0x31, der(0x30, cat({der(0x06, oid), der(string_tag, value)})));
}
const bytes_t oid_c = from_hex("550406");
const bytes_t oid_o = from_hex("55040a");
const bytes_t oid_ou = from_hex("55040b");
const bytes_t oid_cn = from_hex("550403");

bytes_t name(const std::vector<bytes_t>& rdns) {
  bytes_t v;
  for (const auto& r : rdns) {
    append(v, r);
  }
  return der(0x30, v);
}

bytes_t certificate(const bytes_t& issuer, const bytes_t& subject, const bytes_t& extensions) {
  const bytes_t alg = der(0x30, cat({der(0x06, from_hex("2a864886f70d01010b")), der(0x05, {})}));
  const bytes_t validity = der(
      0x30, cat({der(0x17, text("230101000000Z")), der(0x17, text("340101000000Z"))}));
  const bytes_t spki =
      der(0x30, cat({der(0x30, cat({der(0x06, from_hex("2a8648ce3d0201")),
                                    der(0x06, from_hex("2a8648ce3d030107"))})),
                     der(0x03, bytes_t(66, 0x04))}));
  bytes_t tbs_content = cat({der(0xa0, der(0x02, from_hex("02"))), der(0x02, from_hex("0123")),
                             alg, issuer, validity, subject, spki});
  if (!extensions.empty()) {
    append(tbs_content, der(0xa3, der(0x30, extensions)));
  }
  return der(0x30, cat({der(0x30, tbs_content), alg, der(0x03, bytes_t(72, 0x55))}));
}

bytes_t san_extension(const std::vector<std::string>& dns) {
  bytes_t names;
  for (const auto& d : dns) {
    append(names, der(0x82, text(d)));
  }
  append(names, der(0x87, from_hex("c0000201")));  // an iPAddress, skipped
  return der(0x30, cat({der(0x06, from_hex("551d11")), der(0x04, der(0x30, names))}));
}

const bytes_t leaf_cert = certificate(
    name({rdn(oid_c, 0x13, text("US")), rdn(oid_o, 0x13, text("Example CA Inc")),
          rdn(oid_cn, 0x13, text("Example Issuing CA 1"))}),
    name({rdn(oid_c, 0x13, text("US")), rdn(oid_o, 0x0c, text("Example Org")),
          rdn(oid_ou, 0x0c, text("Web Services")), rdn(oid_cn, 0x0c, text("www.example.com"))}),
    cat({der(0x30, cat({der(0x06, from_hex("551d13")), der(0x01, from_hex("ff")),
                        der(0x04, der(0x30, {}))})),
         san_extension({"www.example.com", "example.com", "*.cdn.example.com"})}));

const bytes_t ca_cert = certificate(name({rdn(oid_cn, 0x13, text("Example Root"))}),
                                    name({rdn(oid_cn, 0x13, text("Example Issuing CA 1"))}), {});

bytes_t server_hello(std::uint16_t legacy, std::uint16_t cipher, const std::vector<ext>& exts,
                     bool hrr = false) {
  bytes_t b;
  put16(b, legacy);
  if (hrr) {
    append(b, from_hex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"));
  } else {
    for (int i = 0; i < 32; ++i) {
      b.push_back(static_cast<std::uint8_t>(0x40 + i));
    }
  }
  b.push_back(0);  // empty session id
  put16(b, cipher);
  b.push_back(0);
  append(b, ext_block(exts));
  return handshake(2, b);
}

bytes_t certificate_msg(const std::vector<bytes_t>& certs) {
  bytes_t list;
  for (const auto& c : certs) {
    put24(list, c.size());
    append(list, c);
  }
  bytes_t body;
  put24(body, list.size());
  append(body, list);
  return handshake(11, body);
}

// A TLS 1.2 server flight: ServerHello, Certificate, ServerHelloDone.
bytes_t tls12_server_flight() {
  bytes_t hs = server_hello(0x0303, 0xc02f,
                            {{0xff01, from_hex("00")},
                             {0x0000, {}},
                             {0x000b, from_hex("0100")},
                             {0x0023, {}},
                             {0x0010, from_hex("000302" "6832")}});
  append(hs, certificate_msg({leaf_cert, ca_cert}));
  append(hs, handshake(14, {}));
  return hs;
}

bytes_t cut(const bytes_t& v, std::size_t n) {
  return bytes_t(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n));
}

struct fact_list : fact_sink {
  std::vector<fact> facts;
  void add(fact f) override { facts.push_back(std::move(f)); }
  std::string get(std::string_view field) const {
    for (const auto& f : facts) {
      if (f.field == field) {
        return f.value;
      }
    }
    return "<absent>";
  }
};

// ---------------------------------------------------------------------------
// Broken input

TEST(Tls, EveryTruncationIsIncompleteUntilTheHelloIsWhole) {
  const bytes_t msg = spec_client_hello_msg();
  tls_client_hello whole;
  // One record, records of 100 and of 7 bytes (as a TLS stack fragmenting).
  for (std::size_t frag : {16384u, 300u, 100u, 31u}) {
    const bytes_t stream = records(msg, frag);
    ASSERT_EQ(parse_tls_client_hello(stream, whole), tls_error::none) << frag;
    for (std::size_t len = 0; len < stream.size(); ++len) {
      const bytes_t c = cut(stream, len);  // exact-size buffer for the sanitizers
      tls_client_hello h;
      ASSERT_EQ(parse_tls_client_hello(c, h), tls_error::incomplete) << frag << "/" << len;
      EXPECT_FALSE(h.fingerprintable());
    }
    EXPECT_EQ(ja3_string(whole), spec_ja3_string) << frag;
    EXPECT_EQ(ja4(whole), "t13d1516h2_8daaf6152771_e5627efa2ab1") << frag;
  }
}

TEST(Tls, RecordSplitAnywhereGivesTheSameFeatures) {
  const bytes_t msg = spec_client_hello_msg();
  tls_client_hello ref;
  ASSERT_EQ(parse_tls_client_hello(records(msg), ref), tls_error::none);
  for (std::size_t at = 1; at < msg.size(); ++at) {
    bytes_t stream = records(cut(msg, at));
    append(stream, records(bytes_t(msg.begin() + static_cast<std::ptrdiff_t>(at), msg.end())));
    tls_client_hello h;
    ASSERT_EQ(parse_tls_client_hello(stream, h), tls_error::none) << at;
    ASSERT_EQ(ja3_string(h), ja3_string(ref)) << at;
    ASSERT_EQ(ja4_raw(h), ja4_raw(ref)) << at;
    ASSERT_EQ(h.sni.view(), "www.example.com");
  }
}

TEST(Tls, WhatFollowsTheHelloIsIgnored) {
  bytes_t stream = records(spec_client_hello_msg());
  append(stream, from_hex("140303000101 1703030010") );
  append(stream, bytes_t(16, 0xee));
  tls_client_hello h;
  EXPECT_EQ(parse_tls_client_hello(stream, h), tls_error::none);
  EXPECT_TRUE(h.fingerprintable());
}

TEST(Tls, NotTlsIsRefusedFromTheFirstBytes) {
  tls_client_hello h;
  for (const char* hex : {"47", "474554202f20", "16", "1604", "8001", "160300", "17030300050000000000",
                          "5353482d322e302d"}) {
    const bytes_t v = from_hex(hex);
    const tls_error e = parse_tls_client_hello(v, h);
    if (v.size() >= 1 && v[0] == 0x16 && (v.size() < 2 || v[1] == 3)) {
      EXPECT_EQ(e, tls_error::incomplete) << hex;
    } else {
      EXPECT_EQ(e, tls_error::not_tls) << hex;
    }
  }
  // An SSLv2-format hello (0x80 length, type 1) is not parsed.
  EXPECT_EQ(parse_tls_client_hello(from_hex("802e0103010015000000100000040000ff"), h),
            tls_error::not_tls);
}

TEST(Tls, HostileRecordAndMessageLengths) {
  tls_client_hello h;
  // A record longer than 2^14 + 2048.
  EXPECT_EQ(parse_tls_client_hello(from_hex("1603014801 01"), h), tls_error::bad_record_length);
  // A handshake message claiming 16 MiB.
  EXPECT_EQ(parse_tls_client_hello(from_hex("1603010004 01ffffff"), h),
            tls_error::bad_message_length);
  // The first message is a ServerHello.
  EXPECT_EQ(parse_tls_client_hello(records(server_hello(0x0303, 0x1301, {})), h),
            tls_error::unexpected_message);
  // An alert before the hello is whole.
  bytes_t s = records(cut(spec_client_hello_msg(), 50));
  append(s, from_hex("15030100020228"));
  EXPECT_EQ(parse_tls_client_hello(s, h), tls_error::unexpected_record);
  // One-byte records: the message needs more than 64 of them.
  EXPECT_EQ(parse_tls_client_hello(records(spec_client_hello_msg(), 1), h),
            tls_error::too_many_records);
  // ...but a short message in a few small records is fine.
  const bytes_t small = client_hello(0x0303, {0x002f}, {}, false);
  EXPECT_EQ(parse_tls_client_hello(records(small, 2), h), tls_error::none);
  EXPECT_EQ(ja3_string(h), "771,47,,,");
  // Empty handshake records are skipped.
  bytes_t e = from_hex("1603010000 1603010000");
  append(e, records(small));
  EXPECT_EQ(parse_tls_client_hello(e, h), tls_error::none);
}

TEST(Tls, HostileVectorsInsideTheHello) {
  tls_client_hello h;
  // Odd cipher suite length.
  {
    bytes_t b = from_hex("0303");
    append(b, bytes_t(32, 1));
    append(b, from_hex("00 0003 130113 0100"));
    EXPECT_EQ(parse_tls_client_hello(records(handshake(1, b)), h), tls_error::bad_vector_length);
    EXPECT_FALSE(h.fingerprintable());
  }
  // Cipher suites running past the message.
  {
    bytes_t b = from_hex("0303");
    append(b, bytes_t(32, 1));
    append(b, from_hex("00 00ff 1301"));
    EXPECT_EQ(parse_tls_client_hello(records(handshake(1, b)), h), tls_error::truncated_hello);
  }
  // Session id longer than the rest.
  {
    bytes_t b = from_hex("0303");
    append(b, bytes_t(32, 1));
    append(b, from_hex("ff 0002"));
    EXPECT_EQ(parse_tls_client_hello(records(handshake(1, b)), h), tls_error::truncated_hello);
  }
  // An extension longer than the extension block: the walk stops, the
  // extensions before it are kept.
  {
    bytes_t b = from_hex("0303");
    append(b, bytes_t(32, 1));
    append(b, from_hex("00 0002 1301 0100 000d 0017 0000 ff01 0001 00 0010 00ff"));
    EXPECT_EQ(parse_tls_client_hello(records(handshake(1, b)), h), tls_error::truncated_hello);
    ASSERT_EQ(h.extensions.n, 2);
    EXPECT_EQ(h.extensions.v[1], 0xff01);
  }
  // A half extension header at the end of the block.
  {
    bytes_t b = from_hex("0303");
    append(b, bytes_t(32, 1));
    append(b, from_hex("00 0002 1301 0100 0006 0017 0000 ff01"));
    EXPECT_EQ(parse_tls_client_hello(records(handshake(1, b)), h), tls_error::truncated_hello);
  }
  // SNI list longer than its extension; odd supported_groups; an ALPN name
  // past its list; supported_versions with an odd length. Each drops that
  // extension's values, names the problem, and the walk goes on.
  struct bad_ext {
    ext e;
    tls_error want;
  };
  const bad_ext bad[] = {
      {{0x0000, from_hex("0010 00 000d 61")}, tls_error::bad_extension},
      {{0x0000, from_hex("0004 00 0009 6162")}, tls_error::bad_extension},
      {{0x000a, from_hex("0003 001d00")}, tls_error::bad_vector_length},
      {{0x000a, from_hex("0008 001d")}, tls_error::bad_extension},
      {{0x000d, from_hex("0001 04")}, tls_error::bad_vector_length},
      {{0x000b, from_hex("05 00")}, tls_error::bad_extension},
      {{0x0010, from_hex("0003 0568")}, tls_error::bad_extension},
      {{0x002b, from_hex("03 030403")}, tls_error::bad_vector_length},
      {{0x002b, from_hex("09 0304")}, tls_error::bad_extension},
  };
  for (const auto& b : bad) {
    const bytes_t m = client_hello(0x0303, {0x1301}, {b.e, {0x0017, {}}});
    EXPECT_EQ(parse_tls_client_hello(records(m), h), b.want) << std::hex << b.e.type;
    ASSERT_EQ(h.extensions.n, 2);  // the walk went on past the bad one
    EXPECT_FALSE(h.fingerprintable());
  }
}

TEST(Tls, ListsPastTheirCapacityAreFlagged) {
  std::vector<std::uint16_t> many;
  for (std::uint16_t i = 0; i < 600; ++i) {
    many.push_back(static_cast<std::uint16_t>(0x1000 + i));
  }
  tls_client_hello h;
  EXPECT_EQ(parse_tls_client_hello(records(client_hello(0x0303, many, {})), h),
            tls_error::list_overflow);
  EXPECT_EQ(h.ciphers.n, tls_max_ciphers);
  EXPECT_TRUE(h.ciphers.overflow);
  EXPECT_FALSE(h.fingerprintable());
  std::vector<ext> exts;
  for (std::uint16_t i = 0; i < 120; ++i) {
    exts.push_back({static_cast<std::uint16_t>(0x7000 + i), {}});
  }
  exts.push_back(sni_ext("late.example"));
  EXPECT_EQ(parse_tls_client_hello(records(client_hello(0x0303, {0x1301}, exts)), h),
            tls_error::list_overflow);
  EXPECT_EQ(h.extensions.n, tls_max_extensions);
  EXPECT_EQ(h.sni.view(), "late.example");  // still read
}

TEST(Tls, RandomMutationsStayInBounds) {
  std::uint32_t state = 2024;
  auto rnd = [&state](std::uint32_t n) {
    state = state * 1664525u + 1013904223u;
    return (state >> 8) % n;
  };
  const bytes_t client = records(spec_client_hello_msg(), 200);
  const bytes_t server = records(tls12_server_flight(), 500);
  std::size_t errors = 0;
  for (int round = 0; round < 20000; ++round) {
    bytes_t v = round % 2 == 0 ? client : server;
    for (std::uint32_t k = 0, n = 1 + rnd(6); k < n; ++k) {
      v[rnd(static_cast<std::uint32_t>(v.size()))] =
          static_cast<std::uint8_t>(rnd(3) == 0 ? 0xff : rnd(256));
    }
    if (rnd(2) == 0) {
      v.resize(rnd(static_cast<std::uint32_t>(v.size() + 1)));
    }
    v.shrink_to_fit();
    tls_client_hello c;
    tls_server_hello s;
    errors += parse_tls_client_hello(v, c) != tls_error::none;
    errors += parse_tls_server_hello(v, s) != tls_error::none;
    (void)ja3(c);
    (void)ja4(c);
    (void)ja3s(s);
    (void)ja4s(s);
    ASSERT_LE(c.sni.n, c.sni.b.size());
  }
  EXPECT_GT(errors, 0u);
}

// ---------------------------------------------------------------------------
// Certificates

TEST(Tls, X509NamesAndSans) {
  tls_certificate c;
  ASSERT_EQ(parse_x509_names(leaf_cert, c), tls_error::none);
  EXPECT_EQ(c.subject_cn.view(), "www.example.com");
  EXPECT_EQ(c.subject_o.view(), "Example Org");
  EXPECT_EQ(c.subject_ou.view(), "Web Services");
  EXPECT_EQ(c.issuer_cn.view(), "Example Issuing CA 1");
  EXPECT_EQ(c.issuer_o.view(), "Example CA Inc");
  EXPECT_EQ(c.san_dns.view(), "www.example.com,example.com,*.cdn.example.com");
  EXPECT_EQ(c.san_count, 3);
  // BMPString and a v1 certificate without the version field or extensions.
  const bytes_t bmp = from_hex("00e90074006500200063006f");  // "été co" without the accent pair
  const bytes_t v1 = [&] {
    bytes_t full = certificate(name({rdn(oid_cn, 0x1e, from_hex("004100e9"))}),
                               name({rdn(oid_cn, 0x1e, bmp)}), {});
    return full;
  }();
  ASSERT_EQ(parse_x509_names(v1, c), tls_error::none);
  EXPECT_EQ(c.issuer_cn.view(), "A\xc3\xa9");
  EXPECT_EQ(c.subject_cn.view(), "\xc3\xa9te co");
}

TEST(Tls, X509EveryTruncationAndAbsurdLengths) {
  tls_certificate c;
  for (std::size_t len = 0; len < leaf_cert.size(); ++len) {
    const bytes_t v = cut(leaf_cert, len);
    EXPECT_EQ(parse_x509_names(v, c), tls_error::bad_certificate) << len;
  }
  // Absurd and indefinite lengths at the top and deep inside.
  for (const char* hex : {"3084ffffffff", "3080", "3085010000000000", "30", "308101", "1f8101",
                          "3003 3001 02"}) {
    EXPECT_EQ(parse_x509_names(from_hex(hex), c), tls_error::bad_certificate) << hex;
  }
  bytes_t deep = leaf_cert;
  // The issuer's first SET claims 2^32 - 1 bytes.
  const bytes_t issuer_set = from_hex("310b3009");
  auto at = std::search(deep.begin(), deep.end(), issuer_set.begin(), issuer_set.end());
  ASSERT_NE(at, deep.end());
  *(at + 1) = 0x84;
  EXPECT_EQ(parse_x509_names(deep, c), tls_error::bad_certificate);
}

// ---------------------------------------------------------------------------
// ServerHello

TEST(Tls, ServerHelloAndLeafCertificateAtEveryLength) {
  const bytes_t flight = tls12_server_flight();
  for (std::size_t frag : {16384u, 700u, 64u}) {
    const bytes_t stream = records(flight, frag, 22, 0x0303);
    tls_server_hello full;
    ASSERT_EQ(parse_tls_server_hello(stream, full), tls_error::none);
    ASSERT_EQ(full.cert_state, tls_cert_state::parsed) << tls_error_name(full.cert_error);
    EXPECT_EQ(full.cert.subject_cn.view(), "www.example.com");
    EXPECT_EQ(full.cert.issuer_cn.view(), "Example Issuing CA 1");
    EXPECT_EQ(ja3s_string(full), "771,49199,65281-0-11-35-16");
    EXPECT_EQ(full.alpn.view(), "h2");
    bool saw_pending = false;
    for (std::size_t len = 0; len < stream.size(); ++len) {
      const bytes_t c = cut(stream, len);
      tls_server_hello h;
      const tls_error e = parse_tls_server_hello(c, h);
      if (e == tls_error::incomplete) {
        EXPECT_EQ(h.cert_state, tls_cert_state::pending);
        continue;
      }
      ASSERT_EQ(e, tls_error::none) << frag << "/" << len;
      EXPECT_EQ(ja3s_string(h), ja3s_string(full));
      // Once the SH is whole the certificate is pending until the leaf is
      // whole (the CA certificate after it is not needed).
      if (h.cert_state == tls_cert_state::pending) {
        saw_pending = true;
      } else {
        ASSERT_EQ(h.cert_state, tls_cert_state::parsed) << frag << "/" << len;
        EXPECT_EQ(h.cert.subject_cn.view(), "www.example.com");
      }
    }
    EXPECT_TRUE(saw_pending);
  }
}

TEST(Tls, ServerWithoutCertificateInClear) {
  tls_server_hello h;
  // TLS 1.3: supported_versions says 0x0304.
  bytes_t s13 = records(server_hello(0x0303, 0x1301, {{0x0033, from_hex("001d0020" + std::string(64, '2'))},
                                                    {0x002b, from_hex("0304")}}),
                        16384, 22, 0x0303);
  append(s13, from_hex("140303000101"));
  ASSERT_EQ(parse_tls_server_hello(s13, h), tls_error::none);
  EXPECT_EQ(h.cert_state, tls_cert_state::absent);
  EXPECT_EQ(h.version(), 0x0304);
  EXPECT_EQ(ja3s_string(h), "771,4865,51-43");
  // sha256("0033,002b") starts 234ea6891581 (Python hashlib); FoxIO's own
  // test output shows the same JA4S for a TLS 1.3 server over QUIC
  // ("q130200_1301_234ea6891581", python/test/testdata).
  EXPECT_EQ(ja4s(h), "t130200_1301_234ea6891581");
  // Resumption: change_cipher_spec right after the ServerHello.
  bytes_t res = records(server_hello(0x0303, 0xc02f, {{0xff01, from_hex("00")}}), 16384, 22, 0x0303);
  ASSERT_EQ(parse_tls_server_hello(res, h), tls_error::none);
  EXPECT_EQ(h.cert_state, tls_cert_state::pending);  // could still come
  append(res, from_hex("140303000101"));
  ASSERT_EQ(parse_tls_server_hello(res, h), tls_error::none);
  EXPECT_EQ(h.cert_state, tls_cert_state::absent);
  // Anonymous or PSK: the next message is not a Certificate.
  bytes_t psk = server_hello(0x0303, 0x00a8, {});
  append(psk, handshake(14, {}));
  ASSERT_EQ(parse_tls_server_hello(records(psk), h), tls_error::none);
  EXPECT_EQ(h.cert_state, tls_cert_state::absent);
  // An empty certificate list.
  bytes_t empty = server_hello(0x0303, 0xc02f, {});
  append(empty, handshake(11, from_hex("000000")));
  ASSERT_EQ(parse_tls_server_hello(records(empty), h), tls_error::none);
  EXPECT_EQ(h.cert_state, tls_cert_state::absent);
  // HelloRetryRequest.
  ASSERT_EQ(parse_tls_server_hello(
                records(server_hello(0x0303, 0x1301, {{0x002b, from_hex("0304")}}, true)), h),
            tls_error::none);
  EXPECT_TRUE(h.hello_retry_request);
  EXPECT_EQ(h.cert_state, tls_cert_state::absent);
}

TEST(Tls, BrokenCertificateMessages) {
  tls_server_hello h;
  const bytes_t sh = server_hello(0x0303, 0xc02f, {});
  struct bad_case {
    const char* name;
    bytes_t msg;
  };
  bytes_t bad_der = leaf_cert;
  bad_der[1] = 0x84;  // top-level length 4 bytes of garbage
  const bad_case cases[] = {
      // list length larger than the message
      {"list>msg", handshake(11, from_hex("0000ff 000001 30"))},
      // certificate length larger than the list
      {"cert>list", handshake(11, from_hex("000004 0000ff 3000"))},
      // zero-length certificate
      {"empty cert", handshake(11, from_hex("000003 000000"))},
      // a message too short for its list length
      {"short message", handshake(11, from_hex("0000"))},
      {"short list", handshake(11, from_hex("000002 0000"))},
      // DER garbage of the announced length
      {"garbage der", certificate_msg({from_hex("0102030405")})},
      {"absurd der", certificate_msg({bad_der})},
  };
  for (const auto& c : cases) {
    bytes_t flight = sh;
    append(flight, c.msg);
    ASSERT_EQ(parse_tls_server_hello(records(flight), h), tls_error::none) << c.name;
    EXPECT_EQ(h.cert_state, tls_cert_state::malformed) << c.name;
    EXPECT_EQ(h.cert_error, tls_error::bad_certificate) << c.name;
    EXPECT_FALSE(ja3s(h).empty());
  }
}

// ---------------------------------------------------------------------------
// Renderers, table-driven, straight from the features.

tls_client_hello features(std::uint16_t legacy, std::vector<std::uint16_t> ciphers,
                          std::vector<std::uint16_t> exts, std::vector<std::uint16_t> groups,
                          std::vector<std::uint8_t> pf, std::vector<std::uint16_t> sigs,
                          std::vector<std::uint16_t> versions, bool sni,
                          std::vector<std::string> alpn) {
  tls_client_hello h;
  h.legacy_version = legacy;
  for (auto c : ciphers) {
    h.ciphers.push(c);
  }
  for (auto e : exts) {
    h.extensions.push(e);
  }
  for (auto g : groups) {
    h.groups.push(g);
  }
  for (auto p : pf) {
    h.point_formats.push(p);
  }
  for (auto s : sigs) {
    h.sig_algs.push(s);
  }
  for (auto v : versions) {
    h.versions.push(v);
  }
  h.has_sni = sni;
  h.has_alpn = !alpn.empty();
  for (const auto& a : alpn) {
    auto& t = h.alpn[h.alpn_count++];
    t.n = static_cast<std::uint8_t>(a.size());
    std::copy(a.begin(), a.end(), t.b.begin());
  }
  return h;
}

TEST(Tls, Ja4Table) {
  const std::vector<std::uint16_t> spec_exts = {0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017,
                                                0x002d, 0x000d, 0x0005, 0x0023, 0x0012, 0x002b,
                                                0xff01, 0x000b, 0x000a, 0x0015};
  std::vector<std::uint16_t> grease_exts = spec_exts;
  grease_exts.insert(grease_exts.begin(), 0x0a0a);
  grease_exts.push_back(0xfafa);
  std::vector<std::uint16_t> grease_sigs = spec_sigalgs;
  grease_sigs.insert(grease_sigs.begin() + 3, 0x1a1a);
  struct row {
    const char* what;
    tls_client_hello h;
    const char* ja4;
    const char* ja4_r;  // nullptr: not checked
  };
  const row rows[] = {
      // JA4.md "Example" and "Raw Output".
      {"spec example",
       features(0x0303, spec_ciphers, grease_exts, {}, {}, grease_sigs, {0x6a6a, 0x0304, 0x0303},
                true, {"h2", "http/1.1"}),
       "t13d1516h2_8daaf6152771_e5627efa2ab1",
       "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_"
       "0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,"
       "0805,0501,0806,0601"},
      // JA4.md: without signature algorithms the list is hashed without '_'.
      {"no sigalgs",
       features(0x0303, spec_ciphers, spec_exts, {}, {}, {}, {0x0304}, true, {"h2"}),
       "t13d1516h2_8daaf6152771_6d807ffa2a79", nullptr},
      {"tls1.2, IP, no alpn",
       features(0x0303, {0xc02f, 0x002f}, {0x000a, 0x000b}, {}, {}, {}, {}, false, {}),
       "t12i020200_", nullptr},
      {"http/1.1", features(0x0301, {0x002f}, {0x0010}, {}, {}, {}, {}, false, {"http/1.1"}),
       "t10i0101h1_", nullptr},
      {"one char", features(0x0303, {0x002f}, {0x0010}, {}, {}, {}, {}, false, {"h"}),
       "t12i0101hh_", nullptr},
      // JA4.md ALPN examples with non-alphanumeric bytes.
      {"0xab", features(0x0303, {0x002f}, {0x0010}, {}, {}, {}, {}, false, {"\xab"}),
       "t12i0101ab_", nullptr},
      {"0xabcd", features(0x0303, {0x002f}, {0x0010}, {}, {}, {}, {}, false, {"\xab\xcd"}),
       "t12i0101ad_", nullptr},
      {"0x30ab", features(0x0303, {0x002f}, {0x0010}, {}, {}, {}, {}, false, {"0\xab"}),
       "t12i01013b_", nullptr},
      {"0x3031abcd", features(0x0303, {0x002f}, {0x0010}, {}, {}, {}, {}, false, {"01\xab\xcd"}),
       "t12i01013d_", nullptr},
      {"0x30abcd31", features(0x0303, {0x002f}, {0x0010}, {}, {}, {}, {}, false, {"0\xab\xcd" "1"}),
       "t12i010101_", nullptr},
      {"empty alpn name", features(0x0303, {0x002f}, {0x0010}, {}, {}, {}, {}, false, {""}),
       "t12i010100_", nullptr},
      // No ciphers, no extensions: twelve zeros each.
      {"empty", features(0x0300, {}, {}, {}, {}, {}, {}, false, {}),
       "ts3i000000_000000000000_000000000000", nullptr},
      // Only SNI and ALPN: the sorted list is empty.
      {"only sni+alpn", features(0x0303, {0x1301}, {0x0000, 0x0010}, {}, {}, {}, {}, true, {"h2"}),
       "t12d0102h2_", nullptr},
      // Unknown or draft versions are "00"; GREASE-only supported_versions
      // falls back to the legacy version.
      {"draft version", features(0x0303, {0x1301}, {0x002b}, {}, {}, {}, {0x7f1c}, true, {}),
       "t00d010100_", nullptr},
      {"grease versions", features(0x0303, {0x1301}, {0x002b}, {}, {}, {}, {0x0a0a}, true, {}),
       "t12d010100_", nullptr},
      {"sslv3 + dtls names", features(0xfefd, {0x1301}, {}, {}, {}, {}, {}, true, {}),
       "td2d010000_", nullptr},
  };
  for (const auto& r : rows) {
    const std::string got = ja4(r.h);
    EXPECT_EQ(got.substr(0, std::string(r.ja4).size()), r.ja4) << r.what << ": " << got;
    EXPECT_EQ(got.size(), 36u) << r.what;
    if (r.ja4_r != nullptr) {
      EXPECT_EQ(ja4_raw(r.h), r.ja4_r) << r.what;
    }
  }
  // Counts stop at 99 (more than 96 extensions overflow the list, so the
  // hello is not fingerprintable anyway).
  std::vector<std::uint16_t> many;
  for (std::uint16_t i = 0; i < 150; ++i) {
    many.push_back(static_cast<std::uint16_t>(i + 1));
  }
  EXPECT_EQ(ja4(features(0x0303, many, many, {}, {}, {}, {}, false, {})).substr(0, 10),
            "t12i999600");
  EXPECT_EQ(ja4(features(0x0304, {1}, {}, {}, {}, {}, {}, false, {}), tls_transport::quic)
                .substr(0, 10),
            "q13i010000");
}

TEST(Tls, Ja3Table) {
  struct row {
    const char* what;
    tls_client_hello h;
    const char* ja3_string;
  };
  const row rows[] = {
      {"grease everywhere",
       features(0x0303, {0x0a0a, 0x1301, 0xc02b}, {0x1a1a, 0x0000, 0x000a, 0x000b, 0x2a2a},
                {0x3a3a, 0x001d, 0x0017}, {0, 1, 2}, {0x4a4a}, {0x5a5a}, true, {}),
       "771,4865-49195,0-10-11,29-23,0-1-2"},
      {"no extensions", features(0x0301, {0x002f, 0x0035, 0x000a}, {}, {}, {}, {}, {}, false, {}),
       "769,47-53-10,,,"},
      {"sslv3", features(0x0300, {0x0004}, {}, {}, {}, {}, {}, false, {}), "768,4,,,"},
      {"nothing", features(0x0303, {}, {}, {}, {}, {}, {}, false, {}), "771,,,,"},
  };
  for (const auto& r : rows) {
    EXPECT_EQ(ja3_string(r.h), r.ja3_string) << r.what;
    EXPECT_EQ(ja3(r.h), md5_hex(r.ja3_string)) << r.what;
  }
  // The md5 is lower-case hex of 32 digits.
  EXPECT_EQ(ja3(rows[1].h).size(), 32u);
}

TEST(Tls, Ja3sAndJa4sTable) {
  tls_server_hello h;
  h.legacy_version = 0x0303;
  h.cipher = 0xc030;
  for (std::uint16_t e : std::initializer_list<std::uint16_t>{0x0005, 0x0017, 0xff01, 0x0000}) {
    h.extensions.push(e);
  }
  // JA4S.md example.
  EXPECT_EQ(ja4s(h), "t120400_c030_4e8089b08790");
  EXPECT_EQ(ja3s_string(h), "771,49200,5-23-65281-0");
  h.extensions.push(0x0a0a);
  EXPECT_EQ(ja3s_string(h), "771,49200,5-23-65281-0");  // GREASE removed from JA3S
  tls_server_hello none;
  none.legacy_version = 0x0301;
  none.cipher = 0x002f;
  EXPECT_EQ(ja3s_string(none), "769,47,");
  EXPECT_EQ(ja4s(none), "t100000_002f_000000000000");
}

TEST(Tls, Facts) {
  tls_client_hello h;
  ASSERT_EQ(parse_tls_client_hello(records(spec_client_hello_msg()), h), tls_error::none);
  fact_list sink;
  tls_client_facts(h, packet_view{}, sink);
  EXPECT_EQ(sink.get("sni"), "www.example.com");
  EXPECT_EQ(sink.get("ja3_string"), spec_ja3_string);
  EXPECT_EQ(sink.get("ja3"), md5_hex(spec_ja3_string));
  EXPECT_EQ(sink.get("ja4"), "t13d1516h2_8daaf6152771_e5627efa2ab1");
  EXPECT_EQ(sink.get("alpn"), "h2,http/1.1");
  for (const auto& f : sink.facts) {
    EXPECT_EQ(f.source.str(), "tls");
    EXPECT_EQ(f.about, subject::sender);
  }
  // The same hello from QUIC CRYPTO frames (UDP): JA4 starts with 'q'.
  tls_client_hello q;
  ASSERT_EQ(parse_tls_client_hello_message(spec_client_hello_msg(), q), tls_error::none);
  packet_view udp;
  udp.ip_proto = 17;
  fact_list sq;
  tls_client_facts(q, udp, sq);
  EXPECT_EQ(sq.get("ja4"), "q13d1516h2_8daaf6152771_e5627efa2ab1");
  // A hello that is not fingerprintable gives its SNI only.
  tls_client_hello broken = h;
  broken.error = tls_error::bad_extension;
  fact_list s2;
  tls_client_facts(broken, packet_view{}, s2);
  ASSERT_EQ(s2.facts.size(), 1u);
  EXPECT_EQ(s2.facts[0].field.str(), "sni");

  tls_server_hello sh;
  ASSERT_EQ(parse_tls_server_hello(records(tls12_server_flight()), sh), tls_error::none);
  fact_list s3;
  tls_server_facts(sh, packet_view{}, s3);
  EXPECT_EQ(s3.get("ja3s_string"), "771,49199,65281-0-11-35-16");
  EXPECT_EQ(s3.get("ja3s"), md5_hex("771,49199,65281-0-11-35-16"));
  EXPECT_EQ(s3.get("cert_subject_cn"), "www.example.com");
  EXPECT_EQ(s3.get("cert_subject_o"), "Example Org");
  EXPECT_EQ(s3.get("cert_subject_ou"), "Web Services");
  EXPECT_EQ(s3.get("cert_issuer_cn"), "Example Issuing CA 1");
  EXPECT_EQ(s3.get("cert_san"), "www.example.com,example.com,*.cdn.example.com");
  // sha256("ff01,0000,000b,0023,0010") starts 4527d988f689 (Python hashlib).
  EXPECT_EQ(s3.get("ja4s"), "t1205h2_c02f_4527d988f689");
}

}  // namespace

// The fuzzer's seeds, built from the fixtures above. Checked here so a seed
// never silently stops being what it claims; written out when
// TAPSENSE_WRITE_FUZZ_SEEDS names a directory (tests/fuzz/corpus/tls/).
TEST(Tls, FuzzSeeds) {
  struct seed {
    const char* name;
    bytes_t bytes;
  };
  bytes_t ccs_after = records(spec_client_hello_msg());
  append(ccs_after, from_hex("140303000101"));
  const std::vector<seed> seeds = {
      {"client-spec-1record", records(spec_client_hello_msg())},
      {"client-spec-5records", records(spec_client_hello_msg(), 100)},
      {"client-no-ext", records(client_hello(0x0301, {0x002f, 0x0035}, {}, false))},
      {"client-then-ccs", ccs_after},
      {"client-message-only", spec_client_hello_msg()},
      {"server-tls12-flight", records(tls12_server_flight(), 16384, 22, 0x0303)},
      {"server-tls12-flight-small-records", records(tls12_server_flight(), 300, 22, 0x0303)},
      {"server-tls13", records(server_hello(0x0303, 0x1301, {{0x002b, from_hex("0304")}}))},
      {"server-hrr", records(server_hello(0x0303, 0x1301, {{0x002b, from_hex("0304")}}, true))},
      {"cert-leaf", leaf_cert},
      {"cert-ca", ca_cert},
  };
  const char* dir = std::getenv("TAPSENSE_WRITE_FUZZ_SEEDS");
  for (const auto& s : seeds) {
    tls_client_hello c;
    tls_server_hello h;
    tls_certificate cert;
    const bool ok = parse_tls_client_hello(s.bytes, c) == tls_error::none ||
                    parse_tls_client_hello_message(s.bytes, c) == tls_error::none ||
                    parse_tls_server_hello(s.bytes, h) == tls_error::none ||
                    parse_x509_names(s.bytes, cert) == tls_error::none;
    EXPECT_TRUE(ok) << s.name;
    if (dir != nullptr) {
      std::ofstream f(std::string(dir) + "/seed-" + s.name, std::ios::binary);
      f.write(reinterpret_cast<const char*>(s.bytes.data()),
              static_cast<std::streamsize>(s.bytes.size()));
    }
  }
}

// ---------------------------------------------------------------------------
// Hand-built handshakes shown to tshark: JA3, JA3S, SNI and certificate
// names must agree on the odd cases too (GREASE everywhere, no extensions,
// a hello split over records and segments, BMPString names).

struct conversation {
  bytes_t client;  // client-to-server stream
  bytes_t server;  // server-to-client stream
  std::size_t client_segment = 1460;
};

std::vector<std::vector<std::uint8_t>> conversation_frames(const conversation& c,
                                                           std::uint16_t cport) {
  const std::uint32_t cli = 0x0a000001;
  const std::uint32_t srv = 0x0a000002;
  std::vector<std::vector<std::uint8_t>> f;
  f.push_back(testcap::tcp_frame(cli, cport, srv, 443, 1000, 0x02, {}));
  f.push_back(testcap::tcp_frame(srv, 443, cli, cport, 5000, 0x12, {}));
  for (std::size_t off = 0; off < c.client.size(); off += c.client_segment) {
    const std::size_t n = std::min(c.client_segment, c.client.size() - off);
    f.push_back(testcap::tcp_frame(cli, cport, srv, 443, static_cast<std::uint32_t>(1001 + off),
                                   0x18, bytes_t(c.client.begin() + static_cast<std::ptrdiff_t>(off),
                                                 c.client.begin() + static_cast<std::ptrdiff_t>(off + n))));
  }
  for (std::size_t off = 0; off < c.server.size(); off += 1400) {
    const std::size_t n = std::min<std::size_t>(1400, c.server.size() - off);
    f.push_back(testcap::tcp_frame(srv, 443, cli, cport, static_cast<std::uint32_t>(5001 + off),
                                   0x18, bytes_t(c.server.begin() + static_cast<std::ptrdiff_t>(off),
                                                 c.server.begin() + static_cast<std::ptrdiff_t>(off + n))));
  }
  return f;
}

TEST(Tls, SyntheticHandshakesAgreeWithTshark) {
  if (!testcap::have_tshark()) {
    GTEST_SKIP() << "tshark absent";
  }
  std::vector<conversation> convs;
  // 1: the spec client in 3 records and 4 segments, a TLS 1.2 server flight.
  convs.push_back({records(spec_client_hello_msg(), 150), records(tls12_server_flight(), 900, 22, 0x0303), 100});
  // 2: GREASE in every list, no SNI, odd extensions.
  convs.push_back({records(client_hello(0x0303, {0xfafa, 0x00ff, 0x1301, 0x5600},
                                        {{0x0a0a, from_hex("00")},
                                         {0x000a, u16_vector({0x1a1a, 0x0017, 0x6a6a})},
                                         {0x000b, from_hex("03000102")},
                                         {0x002b, from_hex("04 2a2a 0304")},
                                         {0xfe0d, from_hex("0000")}})),
                   records(server_hello(0x0303, 0x1301, {{0x002b, from_hex("0304")}, {0x0033, from_hex("001d0020" + std::string(64, '3'))}}), 16384, 22, 0x0303)});
  // 3: an old client without extensions; a server with a BMPString subject.
  {
    bytes_t sh = server_hello(0x0301, 0x002f, {});
    append(sh, certificate_msg({certificate(name({rdn(oid_cn, 0x1e, from_hex("0041004200430044"))}),
                                            name({rdn(oid_o, 0x1e, from_hex("00e9006c00e8007600650073")),
                                                  rdn(oid_cn, 0x0c, text("old.example"))}),
                                            {})}));
    convs.push_back({records(client_hello(0x0301, {0x002f, 0x0035, 0x000a}, {}, false)), records(sh, 16384, 22, 0x0301)});
  }
  std::vector<std::vector<std::uint8_t>> frames;
  for (std::size_t i = 0; i < convs.size(); ++i) {
    auto f = conversation_frames(convs[i], static_cast<std::uint16_t>(40000 + i));
    frames.insert(frames.end(), f.begin(), f.end());
  }
  const std::string path = testcap::temp_path("tapsense_tls");
  testcap::write_pcap(path, frames);
  const auto hello_rows = testcap::tshark_fields(
      path, "tls.handshake.type == 1",
      {"tcp.srcport", "tls.handshake.ja3", "tls.handshake.ja3_full",
       "tls.handshake.extensions_server_name"}, "", 'a', '|');
  const auto server_rows = testcap::tshark_fields(
      path, "tls.handshake.type == 2",
      {"tcp.dstport", "tls.handshake.ja3s", "tls.handshake.ja3s_full"}, "", 'a', '|');
  const std::string pdml = testcap::run("tshark -r '" + path + "' -Y 'tls.handshake.type == 11' -T pdml 2>/dev/null");
  if (std::getenv("TAPSENSE_KEEP_PCAP") == nullptr) { std::filesystem::remove(path); } else { std::cout << path << "\n"; }
  ASSERT_EQ(hello_rows.size(), convs.size());
  ASSERT_EQ(server_rows.size(), convs.size());
  for (std::size_t i = 0; i < convs.size(); ++i) {
    SCOPED_TRACE("conversation " + std::to_string(i + 1));
    tls_client_hello h;
    ASSERT_EQ(parse_tls_client_hello(convs[i].client, h), tls_error::none);
    EXPECT_EQ(hello_rows[i][0], std::to_string(40000 + i));
    EXPECT_EQ(ja3(h), hello_rows[i][1]);
    EXPECT_EQ(ja3_string(h), hello_rows[i][2]);
    EXPECT_EQ(h.sni.view(), hello_rows[i][3]);
    tls_server_hello s;
    ASSERT_EQ(parse_tls_server_hello(convs[i].server, s), tls_error::none);
    EXPECT_EQ(ja3s(s), server_rows[i][1]);
    EXPECT_EQ(ja3s_string(s), server_rows[i][2]);
  }
  // Certificate names as tshark shows them.
  EXPECT_NE(pdml.find("id-at-commonName=www.example.com"), std::string::npos);
  EXPECT_NE(pdml.find("id-at-organizationalUnitName=Web Services"), std::string::npos);
  // tshark's RDN summaries show BMPString bytes raw; its bmpString field decodes them.
  EXPECT_NE(pdml.find("name=\"x509sat.bmpString\" showname=\"bmpString: ABCD\""), std::string::npos);
  EXPECT_NE(pdml.find("showname=\"bmpString: \xc3\xa9l\xc3\xa8ves\""), std::string::npos);
  tls_server_hello s3;
  ASSERT_EQ(parse_tls_server_hello(convs[2].server, s3), tls_error::none);
  ASSERT_EQ(s3.cert_state, tls_cert_state::parsed);
  EXPECT_EQ(s3.cert.issuer_cn.view(), "ABCD");
  EXPECT_EQ(s3.cert.subject_o.view(), "\xc3\xa9l\xc3\xa8ves");
  EXPECT_EQ(s3.cert.subject_cn.view(), "old.example");
}

// ---------------------------------------------------------------------------
// QUIC Initial decryption, test-only (RFC 9000, RFC 9001), so the JA4 of
// ClientHellos carried by QUIC can be checked too: the parser's
// parse_tls_client_hello_message() is what a QUIC parser would call on the
// reassembled CRYPTO stream. AES-128 and HKDF here are written for this test
// and checked against FIPS-197 and RFC 9001 appendix A; the GCM tag is not
// verified (nothing here needs to trust the packet).

namespace quic {

constexpr std::uint8_t sbox[256] = {
    0x63, 0x7c, 0x77, 0x7b, 0xf2, 0x6b, 0x6f, 0xc5, 0x30, 0x01, 0x67, 0x2b, 0xfe, 0xd7, 0xab, 0x76,
    0xca, 0x82, 0xc9, 0x7d, 0xfa, 0x59, 0x47, 0xf0, 0xad, 0xd4, 0xa2, 0xaf, 0x9c, 0xa4, 0x72, 0xc0,
    0xb7, 0xfd, 0x93, 0x26, 0x36, 0x3f, 0xf7, 0xcc, 0x34, 0xa5, 0xe5, 0xf1, 0x71, 0xd8, 0x31, 0x15,
    0x04, 0xc7, 0x23, 0xc3, 0x18, 0x96, 0x05, 0x9a, 0x07, 0x12, 0x80, 0xe2, 0xeb, 0x27, 0xb2, 0x75,
    0x09, 0x83, 0x2c, 0x1a, 0x1b, 0x6e, 0x5a, 0xa0, 0x52, 0x3b, 0xd6, 0xb3, 0x29, 0xe3, 0x2f, 0x84,
    0x53, 0xd1, 0x00, 0xed, 0x20, 0xfc, 0xb1, 0x5b, 0x6a, 0xcb, 0xbe, 0x39, 0x4a, 0x4c, 0x58, 0xcf,
    0xd0, 0xef, 0xaa, 0xfb, 0x43, 0x4d, 0x33, 0x85, 0x45, 0xf9, 0x02, 0x7f, 0x50, 0x3c, 0x9f, 0xa8,
    0x51, 0xa3, 0x40, 0x8f, 0x92, 0x9d, 0x38, 0xf5, 0xbc, 0xb6, 0xda, 0x21, 0x10, 0xff, 0xf3, 0xd2,
    0xcd, 0x0c, 0x13, 0xec, 0x5f, 0x97, 0x44, 0x17, 0xc4, 0xa7, 0x7e, 0x3d, 0x64, 0x5d, 0x19, 0x73,
    0x60, 0x81, 0x4f, 0xdc, 0x22, 0x2a, 0x90, 0x88, 0x46, 0xee, 0xb8, 0x14, 0xde, 0x5e, 0x0b, 0xdb,
    0xe0, 0x32, 0x3a, 0x0a, 0x49, 0x06, 0x24, 0x5c, 0xc2, 0xd3, 0xac, 0x62, 0x91, 0x95, 0xe4, 0x79,
    0xe7, 0xc8, 0x37, 0x6d, 0x8d, 0xd5, 0x4e, 0xa9, 0x6c, 0x56, 0xf4, 0xea, 0x65, 0x7a, 0xae, 0x08,
    0xba, 0x78, 0x25, 0x2e, 0x1c, 0xa6, 0xb4, 0xc6, 0xe8, 0xdd, 0x74, 0x1f, 0x4b, 0xbd, 0x8b, 0x8a,
    0x70, 0x3e, 0xb5, 0x66, 0x48, 0x03, 0xf6, 0x0e, 0x61, 0x35, 0x57, 0xb9, 0x86, 0xc1, 0x1d, 0x9e,
    0xe1, 0xf8, 0x98, 0x11, 0x69, 0xd9, 0x8e, 0x94, 0x9b, 0x1e, 0x87, 0xe9, 0xce, 0x55, 0x28, 0xdf,
    0x8c, 0xa1, 0x89, 0x0d, 0xbf, 0xe6, 0x42, 0x68, 0x41, 0x99, 0x2d, 0x0f, 0xb0, 0x54, 0xbb, 0x16};

using block = std::array<std::uint8_t, 16>;

struct aes128 {
  std::array<std::uint8_t, 176> rk{};
  explicit aes128(const std::uint8_t* key) {
    std::copy(key, key + 16, rk.begin());
    std::uint8_t rcon = 1;
    for (std::size_t i = 16; i < 176; i += 4) {
      std::uint8_t t[4] = {rk[i - 4], rk[i - 3], rk[i - 2], rk[i - 1]};
      if (i % 16 == 0) {
        const std::uint8_t first = t[0];
        t[0] = static_cast<std::uint8_t>(sbox[t[1]] ^ rcon);
        t[1] = sbox[t[2]];
        t[2] = sbox[t[3]];
        t[3] = sbox[first];
        rcon = static_cast<std::uint8_t>((rcon << 1) ^ ((rcon & 0x80) ? 0x1b : 0));
      }
      for (std::size_t k = 0; k < 4; ++k) {
        rk[i + k] = static_cast<std::uint8_t>(rk[i + k - 16] ^ t[k]);
      }
    }
  }
  static std::uint8_t xt(std::uint8_t x) {
    return static_cast<std::uint8_t>((x << 1) ^ ((x & 0x80) ? 0x1b : 0));
  }
  block encrypt(block s) const {
    for (std::size_t i = 0; i < 16; ++i) {
      s[i] ^= rk[i];
    }
    for (std::size_t round = 1; round <= 10; ++round) {
      block t;
      for (std::size_t c = 0; c < 4; ++c) {
        for (std::size_t r = 0; r < 4; ++r) {
          t[4 * c + r] = sbox[s[4 * ((c + r) % 4) + r]];  // SubBytes + ShiftRows
        }
      }
      if (round != 10) {
        for (std::size_t c = 0; c < 4; ++c) {
          const std::uint8_t a0 = t[4 * c], a1 = t[4 * c + 1], a2 = t[4 * c + 2], a3 = t[4 * c + 3];
          const std::uint8_t all = static_cast<std::uint8_t>(a0 ^ a1 ^ a2 ^ a3);
          t[4 * c] = static_cast<std::uint8_t>(a0 ^ all ^ xt(static_cast<std::uint8_t>(a0 ^ a1)));
          t[4 * c + 1] = static_cast<std::uint8_t>(a1 ^ all ^ xt(static_cast<std::uint8_t>(a1 ^ a2)));
          t[4 * c + 2] = static_cast<std::uint8_t>(a2 ^ all ^ xt(static_cast<std::uint8_t>(a2 ^ a3)));
          t[4 * c + 3] = static_cast<std::uint8_t>(a3 ^ all ^ xt(static_cast<std::uint8_t>(a3 ^ a0)));
        }
      }
      for (std::size_t i = 0; i < 16; ++i) {
        s[i] = static_cast<std::uint8_t>(t[i] ^ rk[16 * round + i]);
      }
    }
    return s;
  }
};

bytes_t hmac_sha256(const bytes_t& key, const bytes_t& msg) {
  bytes_t k = key;
  if (k.size() > 64) {
    sha256 h;
    h.update(k);
    const auto d = h.final();
    k.assign(d.begin(), d.end());
  }
  k.resize(64, 0);
  bytes_t ipad(64), opad(64);
  for (std::size_t i = 0; i < 64; ++i) {
    ipad[i] = static_cast<std::uint8_t>(k[i] ^ 0x36);
    opad[i] = static_cast<std::uint8_t>(k[i] ^ 0x5c);
  }
  sha256 in;
  in.update(ipad);
  in.update(msg);
  const auto inner = in.final();
  sha256 out;
  out.update(opad);
  out.update(std::span<const std::uint8_t>(inner));
  const auto d = out.final();
  return bytes_t(d.begin(), d.end());
}

// HKDF-Expand-Label (RFC 8446 7.1) with an empty context, one block is enough.
bytes_t expand_label(const bytes_t& secret, std::string_view label, std::size_t len) {
  const std::string full = "tls13 " + std::string(label);
  bytes_t info = {static_cast<std::uint8_t>(len >> 8), static_cast<std::uint8_t>(len),
                  static_cast<std::uint8_t>(full.size())};
  append(info, text(full));
  info.push_back(0);
  info.push_back(1);  // T(1) counter
  bytes_t t = hmac_sha256(secret, info);
  t.resize(len);
  return t;
}

struct keys {
  bytes_t key, iv, hp;
};

keys client_initial_keys(const bytes_t& dcid) {
  // QUIC v1 initial salt (RFC 9001 5.2).
  const bytes_t salt = from_hex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a");
  const bytes_t initial = hmac_sha256(salt, dcid);  // HKDF-Extract
  const bytes_t client = expand_label(initial, "client in", 32);
  return {expand_label(client, "quic key", 16), expand_label(client, "quic iv", 12),
          expand_label(client, "quic hp", 16)};
}

bool varint(const bytes_t& b, std::size_t& at, std::uint64_t& v) {
  if (at >= b.size()) {
    return false;
  }
  const std::size_t n = std::size_t{1} << (b[at] >> 6);
  if (b.size() - at < n) {
    return false;
  }
  v = b[at] & 0x3fu;
  for (std::size_t i = 1; i < n; ++i) {
    v = (v << 8) | b[at + i];
  }
  at += n;
  return true;
}

using pieces_t = std::map<std::uint64_t, bytes_t>;

// Adds the CRYPTO frames of a client's QUIC v1 Initial packet (the first
// packet of the UDP payload) to `pieces`, by offset. False when not one.
bool initial_crypto(const bytes_t& p, pieces_t& pieces) {
  if (p.size() < 7 || (p[0] & 0xf0) != 0xc0 || net::load_be32(p.data() + 1) != 1) {
    return false;
  }
  std::size_t at = 5;
  const std::size_t dcid_len = p[at++];
  if (p.size() - at < dcid_len + 1) {
    return false;
  }
  const bytes_t dcid(p.begin() + static_cast<std::ptrdiff_t>(at),
                     p.begin() + static_cast<std::ptrdiff_t>(at + dcid_len));
  at += dcid_len;
  at += 1 + p[at];  // source connection id
  std::uint64_t token_len = 0, length = 0;
  if (!varint(p, at, token_len) || p.size() - at < token_len) {
    return false;
  }
  at += token_len;
  if (!varint(p, at, length) || p.size() - at < length || length < 20) {
    return false;
  }
  const std::size_t pn_off = at;
  const keys k = client_initial_keys(dcid);
  bytes_t pkt(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(pn_off + length));
  block sample;
  std::copy(pkt.begin() + static_cast<std::ptrdiff_t>(pn_off + 4),
            pkt.begin() + static_cast<std::ptrdiff_t>(pn_off + 20), sample.begin());
  const block mask = aes128(k.hp.data()).encrypt(sample);
  pkt[0] = static_cast<std::uint8_t>(pkt[0] ^ (mask[0] & 0x0f));
  const std::size_t pn_len = (pkt[0] & 3u) + 1;
  std::uint64_t pn = 0;
  for (std::size_t i = 0; i < pn_len; ++i) {
    pkt[pn_off + i] = static_cast<std::uint8_t>(pkt[pn_off + i] ^ mask[1 + i]);
    pn = (pn << 8) | pkt[pn_off + i];
  }
  // AES-128-GCM decryption is CTR from inc32(J0); J0 = nonce || 1.
  block ctr{};
  for (std::size_t i = 0; i < 12; ++i) {
    ctr[i] = k.iv[i];
  }
  for (std::size_t i = 0; i < 8; ++i) {
    ctr[11 - i] = static_cast<std::uint8_t>(ctr[11 - i] ^ (pn >> (8 * i)));
  }
  const aes128 aes(k.key.data());
  const std::size_t begin = pn_off + pn_len;
  const std::size_t end = pn_off + length - 16;  // minus the tag
  bytes_t plain;
  for (std::size_t off = begin, n = 2; off < end; off += 16, ++n) {
    ctr[12] = static_cast<std::uint8_t>(n >> 24);
    ctr[13] = static_cast<std::uint8_t>(n >> 16);
    ctr[14] = static_cast<std::uint8_t>(n >> 8);
    ctr[15] = static_cast<std::uint8_t>(n);
    const block ks = aes.encrypt(ctr);
    for (std::size_t i = 0; i < 16 && off + i < end; ++i) {
      plain.push_back(static_cast<std::uint8_t>(pkt[off + i] ^ ks[i]));
    }
  }
  // Frames: PADDING, PING, ACK, CRYPTO (possibly out of order).
  std::size_t f = 0;
  while (f < plain.size()) {
    std::uint64_t type = 0;
    if (!varint(plain, f, type)) {
      return false;
    }
    if (type == 0x00 || type == 0x01) {
      continue;
    }
    if (type == 0x02 || type == 0x03) {
      std::uint64_t v = 0, ranges = 0;
      if (!varint(plain, f, v) || !varint(plain, f, v) || !varint(plain, f, ranges) ||
          !varint(plain, f, v)) {
        return false;
      }
      for (std::uint64_t r = 0; r < 2 * ranges + (type == 0x03 ? 3 : 0); ++r) {
        if (!varint(plain, f, v)) {
          return false;
        }
      }
      continue;
    }
    if (type != 0x06) {
      return false;
    }
    std::uint64_t offset = 0, len = 0;
    if (!varint(plain, f, offset) || !varint(plain, f, len) || plain.size() - f < len) {
      return false;
    }
    pieces[offset] = bytes_t(plain.begin() + static_cast<std::ptrdiff_t>(f),
                             plain.begin() + static_cast<std::ptrdiff_t>(f + len));
    f += len;
  }
  return true;
}

// The CRYPTO stream contiguous from offset 0.
bytes_t contiguous(const pieces_t& pieces) {
  bytes_t stream;
  for (const auto& [offset, data] : pieces) {
    if (offset > stream.size()) {
      break;
    }
    if (offset + data.size() > stream.size()) {
      stream.insert(stream.end(), data.begin() + static_cast<std::ptrdiff_t>(stream.size() - offset),
                    data.end());
    }
  }
  return stream;
}


}  // namespace quic

TEST(Tls, QuicTestCryptoMatchesItsVectors) {
  // FIPS-197 appendix C.1.
  const bytes_t key = from_hex("000102030405060708090a0b0c0d0e0f");
  quic::block pt;
  const bytes_t ptv = from_hex("00112233445566778899aabbccddeeff");
  std::copy(ptv.begin(), ptv.end(), pt.begin());
  const quic::block ct = quic::aes128(key.data()).encrypt(pt);
  EXPECT_EQ(to_hex(ct), "69c4e0d86a7b0430d8cdb78070b4c55a");
  // RFC 4231 test case 2.
  EXPECT_EQ(to_hex(quic::hmac_sha256(text("Jefe"), text("what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // RFC 9001 appendix A.1.
  const quic::keys k = quic::client_initial_keys(from_hex("8394c8f03e515708"));
  EXPECT_EQ(to_hex(k.key), "1f369613dd76d5467730efcbe3b1a22d");
  EXPECT_EQ(to_hex(k.iv), "fa044b2f42a3fd3b46fb255c");
  EXPECT_EQ(to_hex(k.hp), "9f50449e04a0e810283a1e9933adedd2");
}

// ---------------------------------------------------------------------------
// Agreement on the shared captures.
//
// Every TCP direction is fed to the parsers the way the fingerprinter will:
// the in-order prefix, one segment longer each time, until the parser stops
// saying incomplete. Then, per capture:
//   - every ClientHello tshark decodes over TCP: our JA3 (and the JA3 string)
//     equals tls.handshake.ja3 / ja3_full, our SNI tls.handshake.extensions_server_name;
//   - every ServerHello: our JA3S equals tls.handshake.ja3s / ja3s_full;
//   - every leaf certificate: subject CN/O/OU, issuer CN/O and the SAN
//     dNSNames equal tshark's (PDML);
//   - every TCP flow in nDPI's result file: our JA4 equals its JA4, our JA3
//     its JA3C, our JA3S its JA3S, our certificate names its Issuer/Subject;
//     and every JA4 nDPI lists for the capture is produced by some hello.
// ClientHellos inside QUIC (UDP) are decrypted by the test-only code above
// and compared the same way (tshark ja3/SNI, nDPI q-JA4 and JA3C).

// The captures holding TLS handshakes (surveyed with
// `tshark -Y "tls.handshake.type==1||tls.handshake.type==2"` over MANIFEST.tsv).
const char* const tls_captures[] = {
    "tls/chrome.pcap",        "tls/firefox.pcap",   "tls/chrome-1250-tls-x25519-kyber.pcap",
    "tcp-syn-os/sites.pcapng", "dhcp/1kxun.pcap",   "mdns/iphone.pcap",
    "geneve/geneve-47101.pcap",
};

struct client_seen {
  tls_client_hello h;
  std::size_t frame = 0;
};
struct server_seen {
  tls_server_hello h;
  std::size_t frame = 0;
};

// The last '|'-separated item (the aggregator used below): tshark lists
// outer then inner addresses for tunnelled packets.
std::string last_item(const std::string& s) {
  const auto p = s.rfind('|');
  return p == std::string::npos ? s : s.substr(p + 1);
}

std::string row_key(const std::vector<std::string>& r, std::size_t at) {
  // columns at..at+5: ip.src ipv6.src tcp.srcport ip.dst ipv6.dst tcp.dstport
  const std::string src = !r[at].empty() ? last_item(r[at]) : last_item(r[at + 1]);
  const std::string dst = !r[at + 3].empty() ? last_item(r[at + 3]) : last_item(r[at + 4]);
  return testcap::flow_key(src, last_item(r[at + 2]), dst, last_item(r[at + 5]));
}

const std::vector<std::string> addr_fields = {"ip.src", "ipv6.src", "tcp.srcport",
                                              "ip.dst", "ipv6.dst", "tcp.dstport"};

std::string xml_unescape(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    const auto semi = s.find(';', i);
    if (semi == std::string_view::npos) {
      out += s[i];
      continue;
    }
    const std::string_view ent = s.substr(i + 1, semi - i - 1);
    if (ent == "amp") {
      out += '&';
    } else if (ent == "lt") {
      out += '<';
    } else if (ent == "gt") {
      out += '>';
    } else if (ent == "quot") {
      out += '"';
    } else if (ent == "apos") {
      out += '\'';
    } else if (!ent.empty() && ent[0] == '#') {
      const bool hex = ent.size() > 1 && (ent[1] == 'x' || ent[1] == 'X');
      const unsigned long cp =
          std::stoul(std::string(ent.substr(hex ? 2 : 1)), nullptr, hex ? 16 : 10);
      if (cp < 0x80) {
        out += static_cast<char>(cp);
      } else {
        out += '?';
      }
    } else {
      out += s.substr(i, semi - i + 1);
    }
    i = semi;
  }
  return out;
}

std::string attr(const std::string& line, const char* name) {
  const std::string key = std::string(" ") + name + "=\"";
  const auto b = line.find(key);
  if (b == std::string::npos) {
    return "";
  }
  const auto e = line.find('"', b + key.size());
  return xml_unescape(line.substr(b + key.size(), e - b - key.size()));
}

struct tshark_cert {
  std::map<std::string, std::string> subject, issuer;  // "id-at-commonName" -> value (first)
  std::vector<std::string> sans;
};

// The leaf certificate of the first Certificate message of every TCP stream,
// from tshark's PDML: attribute names from the RDN items, values from the
// decoded string fields under them.
std::map<std::string, tshark_cert> tshark_leaf_certs(const std::string& path) {
  const std::string pdml = testcap::run("tshark -r '" + path +
                                        "' -Y 'tls.handshake.type == 11 && tcp' -T pdml 2>/dev/null");
  std::map<std::string, tshark_cert> out;
  std::string stream;
  tshark_cert cur;
  int certs_in_packet = 0;
  std::map<std::string, std::string>* mode = nullptr;
  std::string pending_attr;
  for (const auto& line : testcap::lines(pdml)) {
    if (line.find("<packet>") != std::string::npos) {
      stream.clear();
      cur = tshark_cert{};
      certs_in_packet = 0;
      mode = nullptr;
      continue;
    }
    if (line.find("</packet>") != std::string::npos) {
      if (certs_in_packet > 0 && !stream.empty() && out.count(stream) == 0) {
        out[stream] = cur;
      }
      continue;
    }
    const std::string nm = attr(line, "name");
    if (nm == "tcp.stream") {
      stream = attr(line, "show");
    } else if (nm == "tls.handshake.certificate") {
      ++certs_in_packet;
      mode = nullptr;
    }
    if (certs_in_packet != 1) {
      continue;
    }
    if (nm == "x509af.issuer") {
      mode = &cur.issuer;
    } else if (nm == "x509af.subject") {
      mode = &cur.subject;
    } else if (nm == "x509af.subjectPublicKeyInfo_element" || nm == "x509af.validity_element") {
      mode = nullptr;
    } else if (nm == "x509if.RelativeDistinguishedName_item_element" && mode != nullptr) {
      const std::string sn = attr(line, "showname");
      const auto open = sn.find('(');
      const auto eq = sn.find('=', open);
      pending_attr = open == std::string::npos || eq == std::string::npos
                         ? ""
                         : sn.substr(open + 1, eq - open - 1);
    } else if (mode != nullptr && !pending_attr.empty() && nm.rfind("x509sat.", 0) == 0 &&
               nm != "x509sat.DirectoryString") {
      if (mode->count(pending_attr) == 0) {
        (*mode)[pending_attr] = attr(line, "show");
      }
      pending_attr.clear();
    } else if (nm == "x509ce.dNSName") {
      cur.sans.push_back(attr(line, "show"));
    }
  }
  return out;
}

// One flow of nDPI's result file.
struct ndpi_flow {
  std::string a, b;  // "ip:port" endpoints, IPv6 without brackets
  std::string ja4, ja3c, ja3s, sni, issuer, subject;
};

std::string ndpi_value(const std::string& line, const std::string& label) {
  const auto p = line.find("[" + label + ": ");
  if (p == std::string::npos) {
    return "";
  }
  const auto b = p + label.size() + 3;
  return line.substr(b, line.find(']', b) - b);
}

std::string lower(std::string s) {
  for (auto& c : s) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return s;
}

std::vector<ndpi_flow> ndpi_flows(const std::string& path, const std::string& proto) {
  std::vector<ndpi_flow> flows;
  for (const auto& line : testcap::lines(testcap::slurp(path))) {
    const auto at = line.find("\t" + proto + " ");
    // "a <-> b" for flows seen both ways, "a -> b" for one-way flows.
    if (at == std::string::npos ||
        (line.find(" <-> ") == std::string::npos && line.find(" -> ") == std::string::npos)) {
      continue;
    }
    std::istringstream in(line.substr(at + proto.size() + 2));
    std::string a, arrow, b;
    in >> a >> arrow >> b;
    // "[v6]:port" or "v4:port", the address re-rendered our way (nDPI's
    // inet_ntop writes "b00c::43fe" where RFC 5952 and tshark say "b00c:0:43fe").
    auto strip = [](std::string e) {
      std::string addr, port;
      if (!e.empty() && e[0] == '[') {
        const auto close = e.find(']');
        addr = e.substr(1, close - 1);
        port = e.substr(close + 2);
      } else {
        const auto colon = e.rfind(':');
        addr = e.substr(0, colon);
        port = e.substr(colon + 1);
      }
      const auto ip = net::ip_address::parse(addr);
      return (ip ? ip->to_string() : addr) + ":" + port;
    };
    ndpi_flow f;
    f.a = strip(a);
    f.b = strip(b);
    f.ja4 = ndpi_value(line, "JA4");
    f.ja3c = lower(ndpi_value(line, "JA3C"));
    f.ja3s = ndpi_value(line, "JA3S");
    f.ja3s = lower(f.ja3s.substr(0, f.ja3s.find(' ')));  // "... (WEAK)"
    f.sni = ndpi_value(line, "Hostname/SNI");
    f.issuer = ndpi_value(line, "Issuer");
    f.subject = ndpi_value(line, "Subject");
    flows.push_back(f);
  }
  return flows;
}

// "C=US, O=Foo, Inc., CN=bar" -> {C: US, O: "Foo, Inc.", CN: bar}: a new
// attribute starts only at ", " followed by capitals and '='.
std::map<std::string, std::string> ndpi_dn(const std::string& s) {
  std::map<std::string, std::string> out;
  std::vector<std::size_t> starts = {0};
  for (std::size_t i = 0; i + 2 < s.size(); ++i) {
    if (s[i] == ',' && s[i + 1] == ' ') {
      std::size_t k = i + 2;
      while (k < s.size() && std::isupper(static_cast<unsigned char>(s[k]))) {
        ++k;
      }
      if (k > i + 2 && k < s.size() && s[k] == '=') {
        starts.push_back(i + 2);
      }
    }
  }
  for (std::size_t j = 0; j < starts.size(); ++j) {
    const std::size_t end = j + 1 < starts.size() ? starts[j + 1] - 2 : s.size();
    const std::string part = s.substr(starts[j], end - starts[j]);
    const auto eq = part.find('=');
    if (eq != std::string::npos && out.count(part.substr(0, eq)) == 0) {
      out[part.substr(0, eq)] = part.substr(eq + 1);
    }
  }
  return out;
}

// nDPI's result files come from nDPI at commit 3b1286ab, which departs from
// the JA4 specification (technical_details/JA4.md; FoxIO's Rust
// implementation agrees with the specification) in two ways seen here:
//   1. an SNI holding a literal IP address gives 'i' (nDPI's
//      NDPI_NUMERIC_IP_HOST check), where the specification says 'd'
//      whenever the server_name extension is present;
//   2. for a first ALPN of "http/1.1" it prints "ht", the first two
//      characters, where the specification says "h1" (first and last);
//      later nDPI fixed this (alpn_original_last);
//   3. for hellos in QUIC it prints '0' as the ALPN's last character ("h0"
//      for "h3").
// We follow the specification. This renders our hello the nDPI way, so the
// test can tell an explained difference from a real one.
bool numeric_ip(std::string_view s) {
  return !s.empty() && net::ip_address::parse(s).has_value();
}
std::string ndpi_style_ja4(const tls_client_hello& h, tls_transport t = tls_transport::tcp) {
  std::string s = ja4(h, t);
  if (h.has_sni && numeric_ip(h.sni.view())) {
    s[3] = 'i';
  }
  if (t == tls_transport::quic && h.alpn_count > 0) {
    s[9] = '0';
  } else if (h.alpn_count > 0 && h.alpn[0].n > 2) {
    s[8] = h.alpn[0].b[0];
    s[9] = h.alpn[0].b[1];
  }
  return s;
}

struct tally {
  std::size_t same = 0, total = 0;
  void check(bool ok) {
    ++total;
    same += ok ? 1 : 0;
  }
  std::string str() const { return std::to_string(same) + "/" + std::to_string(total); }
};

TEST(Tls, AgreesWithTsharkAndNdpiOnSharedCaptures) {
  const std::string root = testcap::shared_pcaps();
  if (!std::filesystem::exists(root)) {
    GTEST_SKIP() << "../shared/pcaps absent";
  }
  if (!testcap::have_tshark()) {
    GTEST_SKIP() << "tshark absent";
  }
  std::ostringstream report;
  std::size_t compared = 0;
  for (const char* name : tls_captures) {
    SCOPED_TRACE(name);
    const std::string path = root + "/" + name;
    const auto packets = testcap::read_capture(path);
    ASSERT_FALSE(packets.empty());
    const auto dirs = testcap::tcp_directions(packets);

    // Our side: every direction through both parsers.
    std::map<std::string, client_seen> clients;
    std::map<std::string, server_seen> servers;
    for (const auto& d : dirs) {
      client_seen c;
      testcap::feed_prefixes(d, [&c](net::bytes prefix, std::size_t frame) {
        c.frame = frame;
        return parse_tls_client_hello(prefix, c.h) == tls_error::incomplete;
      });
      if (c.frame != 0 && c.h.error != tls_error::not_tls &&
          c.h.error != tls_error::unexpected_message) {
        EXPECT_EQ(c.h.error, tls_error::none) << d.key() << " " << tls_error_name(c.h.error);
        clients[d.key()] = c;
      }
      server_seen s;
      testcap::feed_prefixes(d, [&s](net::bytes prefix, std::size_t frame) {
        s.frame = frame;
        const tls_error e = parse_tls_server_hello(prefix, s.h);
        return e == tls_error::incomplete || (e == tls_error::none && s.h.cert_state == tls_cert_state::pending);
      });
      if (s.frame != 0 && s.h.error != tls_error::not_tls &&
          s.h.error != tls_error::unexpected_message) {
        EXPECT_EQ(s.h.error, tls_error::none) << d.key() << " " << tls_error_name(s.h.error);
        servers[d.key()] = s;
      }
    }

    // QUIC: the client's first Initial packets of every UDP flow, decrypted
    // by the test-only code above; the hello parsed as a bare message.
    std::map<std::string, tls_client_hello> quic_clients;
    {
      std::map<std::string, quic::pieces_t> pieces;
      for (const auto& p : packets) {
        const auto d = testcap::decode(p);
        if (!d.ok || d.rec.ip_proto != net::ipproto::udp || d.off.payload >= d.off.end) {
          continue;
        }
        const bytes_t payload(d.frame.begin() + d.off.payload, d.frame.begin() + d.off.end);
        const std::string key = testcap::flow_key(d.rec.src_ip.to_string(), std::to_string(d.rec.src_port),
                                                  d.rec.dst_ip.to_string(), std::to_string(d.rec.dst_port));
        if (quic_clients.count(key) != 0 || !quic::initial_crypto(payload, pieces[key])) {
          continue;
        }
        const bytes_t stream = quic::contiguous(pieces[key]);
        tls_client_hello h;
        if (parse_tls_client_hello_message(stream, h) == tls_error::none) {
          quic_clients[key] = h;
        }
      }
    }

    // tshark: ClientHellos.
    tally ja3_t, ja3s_t, sni_t, cert_t, ja4_n, ja3_n, ja3s_n, cert_n, ja4_set, quic_t, quic_n;
    auto fields = addr_fields;
    fields.insert(fields.end(), {"frame.number", "tcp.stream", "tls.handshake.ja3",
                                 "tls.handshake.ja3_full", "tls.handshake.extensions_server_name"});
    std::set<std::string> tshark_client_keys;
    for (const auto& r : testcap::tshark_fields(path, "tls.handshake.type == 1 && tcp", fields,
                                                "", 'a', '|')) {
      const std::string key = row_key(r, 0);
      if (!tshark_client_keys.insert(key).second) {
        ADD_FAILURE() << "second ClientHello in " << key << " (frame " << r[6] << ") not compared";
        continue;
      }
      const auto it = clients.find(key);
      if (it == clients.end()) {
        ADD_FAILURE() << "frame " << r[6] << ": tshark sees a ClientHello in " << key << ", we do not";
        ja3_t.check(false);
        sni_t.check(false);
        continue;
      }
      const auto& h = it->second.h;
      ja3_t.check(ja3(h) == r[8] && ja3_string(h) == r[9]);
      EXPECT_EQ(ja3(h), r[8]) << "frame " << r[6] << " " << key;
      EXPECT_EQ(ja3_string(h), r[9]) << "frame " << r[6];
      sni_t.check(std::string(h.sni.view()) == r[10]);
      EXPECT_EQ(h.sni.view(), r[10]) << "frame " << r[6];
    }
    for (const auto& [key, c] : clients) {
      EXPECT_EQ(tshark_client_keys.count(key), 1u)
          << "we parsed a ClientHello in " << key << " (frame " << c.frame << "); tshark did not";
    }
    if (std::string(name) == "tcp-syn-os/sites.pcapng") {
      // Chrome's QUIC hello has the JA4 FoxIO publishes for it (README,
      // Rust snapshots): "h3", where nDPI's result file says "h0".
      std::set<std::string> q;
      for (const auto& [key, h] : quic_clients) {
        q.insert(ja4(h, tls_transport::quic));
      }
      EXPECT_EQ(q.count("q13d0310h3_55b375c5d22e_cd85d2d88918"), 1u);
    }
    // tshark: ClientHellos in QUIC.
    fields = {"ip.src", "ipv6.src", "udp.srcport", "ip.dst", "ipv6.dst", "udp.dstport",
              "frame.number", "tls.handshake.ja3", "tls.handshake.ja3_full",
              "tls.handshake.extensions_server_name"};
    for (const auto& r : testcap::tshark_fields(path, "tls.handshake.type == 1 && udp && !tcp",
                                                fields, "", 'a', '|')) {
      const std::string key = row_key(r, 0);
      const auto it = quic_clients.find(key);
      if (it == quic_clients.end()) {
        ADD_FAILURE() << "frame " << r[6] << ": tshark sees a QUIC ClientHello in " << key
                      << ", we do not";
        quic_t.check(false);
        continue;
      }
      const bool same = ja3(it->second) == r[7] && ja3_string(it->second) == r[8] &&
                        it->second.sni.view() == r[9];
      quic_t.check(same);
      EXPECT_EQ(ja3(it->second), r[7]) << "frame " << r[6];
      EXPECT_EQ(ja3_string(it->second), r[8]) << "frame " << r[6];
      EXPECT_EQ(it->second.sni.view(), r[9]) << "frame " << r[6];
    }

    // tshark: ServerHellos.
    fields = addr_fields;
    fields.insert(fields.end(), {"frame.number", "tcp.stream", "tls.handshake.ja3s",
                                 "tls.handshake.ja3s_full"});
    std::map<std::string, std::string> stream_to_server_key;
    for (const auto& r : testcap::tshark_fields(path, "tls.handshake.type == 2 && tcp", fields,
                                                "", 'a', '|')) {
      const std::string key = row_key(r, 0);
      stream_to_server_key[r[7]] = key;
      const auto it = servers.find(key);
      if (it == servers.end()) {
        ADD_FAILURE() << "frame " << r[6] << ": tshark sees a ServerHello in " << key << ", we do not";
        ja3s_t.check(false);
        continue;
      }
      ja3s_t.check(ja3s(it->second.h) == r[8] && ja3s_string(it->second.h) == r[9]);
      EXPECT_EQ(ja3s(it->second.h), r[8]) << "frame " << r[6];
      EXPECT_EQ(ja3s_string(it->second.h), r[9]) << "frame " << r[6];
    }

    // tshark: leaf certificates.
    for (const auto& [stream, tc] : tshark_leaf_certs(path)) {
      const auto k = stream_to_server_key.find(stream);
      ASSERT_NE(k, stream_to_server_key.end()) << "certificate in stream " << stream;
      const auto& s = servers[k->second].h;
      SCOPED_TRACE("certificate of " + k->second);
      const bool parsed = s.cert_state == tls_cert_state::parsed;
      EXPECT_TRUE(parsed) << static_cast<int>(s.cert_state) << " " << tls_error_name(s.cert_error);
      auto get = [](const std::map<std::string, std::string>& m, const char* a) {
        const auto i = m.find(a);
        return i == m.end() ? std::string() : i->second;
      };
      std::string sans;
      std::size_t fit = 0;
      for (const auto& n : tc.sans) {
        if ((sans.empty() ? 0 : sans.size() + 1) + n.size() > 255) {
          break;
        }
        sans += (sans.empty() ? "" : ",") + n;
        ++fit;
      }
      const bool same = parsed && s.cert.subject_cn.view() == get(tc.subject, "id-at-commonName") &&
                        s.cert.subject_o.view() == get(tc.subject, "id-at-organizationName") &&
                        s.cert.subject_ou.view() == get(tc.subject, "id-at-organizationalUnitName") &&
                        s.cert.issuer_cn.view() == get(tc.issuer, "id-at-commonName") &&
                        s.cert.issuer_o.view() == get(tc.issuer, "id-at-organizationName") &&
                        s.cert.san_dns.view() == sans && s.cert.san_count == tc.sans.size();
      cert_t.check(same);
      EXPECT_EQ(s.cert.subject_cn.view(), get(tc.subject, "id-at-commonName"));
      EXPECT_EQ(s.cert.subject_o.view(), get(tc.subject, "id-at-organizationName"));
      EXPECT_EQ(s.cert.subject_ou.view(), get(tc.subject, "id-at-organizationalUnitName"));
      EXPECT_EQ(s.cert.issuer_cn.view(), get(tc.issuer, "id-at-commonName"));
      EXPECT_EQ(s.cert.issuer_o.view(), get(tc.issuer, "id-at-organizationName"));
      EXPECT_EQ(s.cert.san_dns.view(), sans);
      EXPECT_EQ(s.cert.san_count, tc.sans.size());
      EXPECT_EQ(s.cert.san_dns.truncated, fit < tc.sans.size());
    }

    // nDPI.
    const std::string ndpi_path = path + ".ndpi-result.out";
    std::set<std::string> our_ja4s;
    std::set<std::string> our_ndpi_style;
    for (const auto& [key, c] : clients) {
      our_ja4s.insert(ja4(c.h));
      our_ndpi_style.insert(ndpi_style_ja4(c.h));
    }
    for (const auto& [key, h] : quic_clients) {
      our_ja4s.insert(ja4(h, tls_transport::quic));
      our_ndpi_style.insert(ndpi_style_ja4(h, tls_transport::quic));
    }
    std::size_t explained_flows = 0;
    std::size_t explained_quic = 0;
    std::size_t explained_listed = 0;
    std::size_t ndpi_quic_ja4 = 0;
    std::set<std::string> ndpi_ja4s;
    if (std::filesystem::exists(ndpi_path)) {
      for (const auto& line : testcap::lines(testcap::slurp(ndpi_path))) {
        for (auto p = line.find("[JA4: "); p != std::string::npos; p = line.find("[JA4: ", p + 1)) {
          ndpi_ja4s.insert(line.substr(p + 6, line.find(']', p) - p - 6));
        }
      }
      for (const auto& j : ndpi_ja4s) {
        if (j[0] == 'q') {
          ++ndpi_quic_ja4;
        }
        if (our_ja4s.count(j) == 0 && our_ndpi_style.count(j) == 1) {
          ++explained_listed;
          continue;
        }
        ja4_set.check(our_ja4s.count(j) == 1);
        EXPECT_EQ(our_ja4s.count(j), 1u) << "nDPI JA4 " << j << " produced by no ClientHello";
      }
      for (const auto& f : ndpi_flows(ndpi_path, "UDP")) {
        if (f.ja4.empty()) {
          continue;
        }
        const auto ab = quic_clients.find(f.a + ">" + f.b);
        const auto ba = quic_clients.find(f.b + ">" + f.a);
        const auto c = ab != quic_clients.end() ? ab : ba;
        SCOPED_TRACE("nDPI QUIC flow " + f.a + ">" + f.b);
        ASSERT_NE(c, quic_clients.end());
        EXPECT_EQ(ja3(c->second), f.ja3c);
        if (ja4(c->second, tls_transport::quic) != f.ja4 &&
            ndpi_style_ja4(c->second, tls_transport::quic) == f.ja4) {
          ++explained_quic;
          continue;
        }
        quic_n.check(ja4(c->second, tls_transport::quic) == f.ja4 && ja3(c->second) == f.ja3c);
        EXPECT_EQ(ja4(c->second, tls_transport::quic), f.ja4)
            << ja4_raw(c->second, tls_transport::quic);
      }
      for (const auto& f : ndpi_flows(ndpi_path, "TCP")) {
        if (f.ja4.empty() && f.ja3s.empty()) {
          continue;
        }
        const std::string ab = f.a + ">" + f.b;
        const std::string ba = f.b + ">" + f.a;
        const bool a_is_client = clients.count(ab) == 1;
        const auto c = clients.find(a_is_client ? ab : ba);
        const auto s = servers.find(a_is_client ? ba : ab);
        SCOPED_TRACE("nDPI flow " + ab);
        if (!f.ja4.empty()) {
          ASSERT_NE(c, clients.end());
          if (ja4(c->second.h) != f.ja4 && ndpi_style_ja4(c->second.h) == f.ja4) {
            ++explained_flows;
          } else {
            ja4_n.check(ja4(c->second.h) == f.ja4);
            EXPECT_EQ(ja4(c->second.h), f.ja4) << ja4_raw(c->second.h);
          }
          ja3_n.check(ja3(c->second.h) == f.ja3c);
          EXPECT_EQ(ja3(c->second.h), f.ja3c);
          if (!f.sni.empty()) {
            EXPECT_EQ(c->second.h.sni.view(), f.sni);
          }
        }
        if (!f.ja3s.empty()) {
          ASSERT_NE(s, servers.end());
          ja3s_n.check(ja3s(s->second.h) == f.ja3s);
          EXPECT_EQ(ja3s(s->second.h), f.ja3s);
        }
        if (!f.issuer.empty() || !f.subject.empty()) {
          ASSERT_NE(s, servers.end());
          const auto& cert = s->second.h.cert;
          const auto iss = ndpi_dn(f.issuer);
          const auto sub = ndpi_dn(f.subject);
          auto get = [](const std::map<std::string, std::string>& m, const char* k) {
            const auto i = m.find(k);
            return i == m.end() ? std::string() : i->second;
          };
          const bool same = cert.subject_cn.view() == get(sub, "CN") &&
                            cert.subject_o.view() == get(sub, "O") &&
                            cert.subject_ou.view() == get(sub, "OU") &&
                            cert.issuer_cn.view() == get(iss, "CN") &&
                            cert.issuer_o.view() == get(iss, "O");
          cert_n.check(same);
          EXPECT_TRUE(same) << "nDPI Subject: " << f.subject << " | Issuer: " << f.issuer
                            << " | ours: CN=" << cert.subject_cn.view()
                            << " O=" << cert.subject_o.view() << " OU=" << cert.subject_ou.view()
                            << " / CN=" << cert.issuer_cn.view() << " O=" << cert.issuer_o.view();
        }
      }
    }
    report << "  " << name << ": tshark ja3 " << ja3_t.str() << ", sni " << sni_t.str()
           << ", ja3s " << ja3s_t.str() << ", leaf cert " << cert_t.str();
    if (std::filesystem::exists(ndpi_path)) {
      report << "; nDPI ja4 per flow " << ja4_n.str() << " (+" << explained_flows
             << " explained), ja4 listed " << ja4_set.str() << " (+" << explained_listed
             << " explained)"
             << ", ja3c " << ja3_n.str() << ", ja3s " << ja3s_n.str() << ", cert " << cert_n.str();
    }
    if (quic_t.total > 0 || ndpi_quic_ja4 > 0) {
      report << "; QUIC (test-side Initial decryption): tshark ja3+sni " << quic_t.str()
             << ", nDPI ja4+ja3c per flow " << quic_n.str() << " (+" << explained_quic
             << " explained; its " << ndpi_quic_ja4 << " q-JA4s are in 'ja4 listed')";
    }
    report << "\n";
    compared += ja3_t.total + ja3s_t.total + cert_t.total + ja4_n.total + ja4_set.total +
                quic_t.total + quic_n.total;
  }
  std::cout << "[ tls      ] agreement:\n" << report.str();
  RecordProperty("tls_values_compared", static_cast<int>(compared));
  ASSERT_GT(compared, 0u) << "nothing was compared";
}
