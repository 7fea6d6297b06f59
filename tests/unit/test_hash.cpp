// MD5 (RFC 1321 appendix A.5) and SHA-256 (FIPS 180-4 / NIST CSRC examples)
// against their published test vectors, plus streaming in every split.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/proto/digest.h"

using namespace tapsense::proto;

namespace {

struct vector_case {
  const char* input;
  const char* digest;
};

// RFC 1321, appendix A.5 "Test suite".
const vector_case md5_vectors[] = {
    {"", "d41d8cd98f00b204e9800998ecf8427e"},
    {"a", "0cc175b9c0f1b6a831c399e269772661"},
    {"abc", "900150983cd24fb0d6963f7d28e17f72"},
    {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
    {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
    {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
     "d174ab98d277d9f5a5611c2c9f419d9f"},
    {"1234567890123456789012345678901234567890"
     "1234567890123456789012345678901234567890",
     "57edf4a22be3c955ac49da2e2107b67a"},
};

// FIPS 180-4 examples (NIST CSRC "SHA256.pdf") and the empty string.
const vector_case sha256_vectors[] = {
    {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlm"
     "nopqrsmnopqrstnopqrstu",
     "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
};

TEST(Hash, Md5RfcVectors) {
  for (const auto& v : md5_vectors) {
    EXPECT_EQ(md5_hex(v.input), v.digest) << '"' << v.input << '"';
  }
}

TEST(Hash, Sha256FipsVectors) {
  for (const auto& v : sha256_vectors) {
    EXPECT_EQ(sha256_hex(v.input), v.digest) << '"' << v.input << '"';
  }
}

TEST(Hash, MillionAs) {
  // FIPS 180-4 long message; MD5 value from the same widely published set.
  const std::string a(1000000, 'a');
  EXPECT_EQ(sha256_hex(a), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  EXPECT_EQ(md5_hex(a), "7707d6ae4e027c70eea2a935c2296f21");
}

// Lengths around the 55/56/64-byte padding boundaries, fed in every split:
// the streaming result must equal the one-shot result.
TEST(Hash, StreamingEqualsOneShotAtEverySplit) {
  for (std::size_t len : {0u, 1u, 55u, 56u, 57u, 63u, 64u, 65u, 119u, 120u, 128u, 200u}) {
    std::string msg;
    for (std::size_t i = 0; i < len; ++i) {
      msg += static_cast<char>('A' + (i * 7) % 26);
    }
    const std::string m1 = md5_hex(msg);
    const std::string s1 = sha256_hex(msg);
    for (std::size_t cut = 0; cut <= len; ++cut) {
      md5 m;
      sha256 s;
      m.update(std::string_view(msg).substr(0, cut));
      m.update(std::string_view(msg).substr(cut));
      s.update(std::string_view(msg).substr(0, cut));
      s.update(std::string_view(msg).substr(cut));
      ASSERT_EQ(to_hex(m.final()), m1) << len << "/" << cut;
      ASSERT_EQ(to_hex(s.final()), s1) << len << "/" << cut;
    }
    // Byte at a time.
    md5 m;
    sha256 s;
    for (char c : msg) {
      m.update(std::string_view(&c, 1));
      s.update(std::string_view(&c, 1));
    }
    EXPECT_EQ(to_hex(m.final()), m1);
    EXPECT_EQ(to_hex(s.final()), s1);
  }
}

TEST(Hash, ResetStartsOver) {
  md5 m;
  m.update("garbage");
  (void)m.final();
  m.reset();
  m.update("abc");
  EXPECT_EQ(to_hex(m.final()), "900150983cd24fb0d6963f7d28e17f72");
  sha256 s;
  s.update("garbage");
  s.reset();
  s.update("abc");
  EXPECT_EQ(to_hex(s.final()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// The JA3 and JA4 examples of their specifications, hashed.
TEST(Hash, FingerprintSpecExamples) {
  // JA4 technical details: sorted cipher list -> 8daaf6152771.
  EXPECT_EQ(sha256_hex("002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9")
                .substr(0, 12),
            "8daaf6152771");
  EXPECT_EQ(sha256_hex("0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,"
                       "0804,0401,0503,0805,0501,0806,0601"),
            "e5627efa2ab19723084c1033a96c694a45826ab5a460d2d3fd5ffcfe97161c95");
  // JA4S technical details.
  EXPECT_EQ(sha256_hex("0005,0017,ff01,0000"),
            "4e8089b08790aebafde4a993a4e554d9ed0fff21124965a9e91beabf80879946");
  // to_hex of arbitrary bytes.
  const std::vector<std::uint8_t> b = {0x00, 0x0f, 0xa0, 0xff};
  EXPECT_EQ(to_hex(b), "000fa0ff");
}

}  // namespace
