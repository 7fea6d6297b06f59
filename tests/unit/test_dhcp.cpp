// DHCPv4 parser: broken input first (every truncation of real messages, bad
// cookie, options running past the end, wrong fixed lengths), then hex
// fixtures of real messages and option-81 in both encodings, then agreement
// with tshark on every DHCP packet of the shared captures.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "common/net/bytes.h"
#include "common/proto/dhcp.h"

using namespace tapsense;
using proto::dhcp_error;
using proto::dhcp_message;
using proto::parse_dhcp;

namespace {

std::vector<std::uint8_t> from_hex(std::string_view h) {
  std::vector<std::uint8_t> v;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
      return c - 'A' + 10;
    }
    return -1;
  };
  int hi = -1;
  for (char c : h) {
    const int n = nibble(c);
    if (n < 0) {
      continue;  // spaces and line breaks for readability
    }
    if (hi < 0) {
      hi = n;
    } else {
      v.push_back(static_cast<std::uint8_t>((hi << 4) | n));
      hi = -1;
    }
  }
  return v;
}

// A BOOTP message from its first 44 bytes (op .. chaddr) and everything from
// the magic cookie on; sname and file are zero in all the fixtures below.
std::vector<std::uint8_t> bootp(std::string_view head44, std::string_view cookie_and_options) {
  auto v = from_hex(head44);
  EXPECT_EQ(v.size(), 44u);
  v.resize(236, 0);
  const auto tail = from_hex(cookie_and_options);
  v.insert(v.end(), tail.begin(), tail.end());
  return v;
}

// Real messages (UDP payloads, bounded by the UDP length) from ../shared/pcaps.

// dhcp/dhcp-mud.pcap frame 1 (tcpdump tests/dhcp-mud.pcap): relayed
// DHCPREQUEST of a Raspberry Pi carrying a MUD URL (option 161). 394 bytes.
const std::vector<std::uint8_t> mud_request = bootp(
    "01010601068c4847000000003e0cad7b00000000000000003e0cad79b827ebb853c800000000000000000000",
    "63825363 3501 03 3d07 01b827ebb853c8 3902 05c0 "
    "a136 68747470733a2f2f6d756463746c2e6578616d706c652e636f6d2f"
    "    2e77656c6c2d6b6e6f776e2f6d75642f76312f7261736270313031 "
    "3c2d 6468637063642d362e31312e353a4c696e75782d342e312e31382d"
    "    76372b3a61726d76376c3a42434d32373039 "
    "0c0b 7261737062657272797069 9101 01 3710 01792103060c0f1c2a33363a3b646577 ff");

// dhcp/1kxun.pcap frame 706 (nDPI tests): DHCPDISCOVER of an Android phone
// with hostname, vendor class and PRL. 300 bytes, one pad after End.
const std::vector<std::uint8_t> android_discover = bootp(
    "01010600d3e2067a0000000000000000000000000000000000000000bcee7b0cb3de00000000000000000000",
    "63825363 3501 01 3902 05dc 3c0c 6468637063642d352e352e36 "
    "0c18 616e64726f69642d66376361306635373132373063353264 3709 012103060f1c333a3b ff 00");

// dhcp/dhcp.pcap frame 6 (zeek testing/btest/Traces/dhcp): DHCPACK from an
// Aruba controller. 367 bytes.
const std::vector<std::uint8_t> aruba_ack = bootp(
    "02010600000007c00000000000000000800206bdac13e6070000000090b11c99492900000000000000000000",
    "63825363 3501 05 3604 80020698 3304 00000384 0104 ffffff00 0304 80020601 "
    "0608 8002010b8002010a 0408 8002011480020115 430d 6e6574776f726b2d636f6e6667 "
    "1c04 800206ff 2a0c 800201148002011580020116 2b0b 3137322e31382e362e3337 "
    "3c07 41727562614150 2c08 8002681d8002681e 2e01 02 0f07 636d752e656475 ff");

// A DHCPREQUEST skeleton with the given options after the cookie. The views
// in a dhcp_message point into the parsed buffer, so the buffers built here
// are kept alive (a deque never moves its elements) for the whole run.
const std::vector<std::uint8_t>& with_options(std::string_view options_hex, std::uint8_t htype = 1,
                                              std::uint8_t hlen = 6) {
  static std::deque<std::vector<std::uint8_t>> keep_alive;
  std::vector<std::uint8_t> v(236, 0);
  v[0] = 1;
  v[1] = htype;
  v[2] = hlen;
  v[4] = 0xde;
  v[5] = 0xad;
  v[6] = 0xbe;
  v[7] = 0xef;
  const std::uint8_t mac[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
  std::copy(std::begin(mac), std::end(mac), v.begin() + 28);
  const auto tail = from_hex(std::string("63825363") + std::string(options_hex));
  v.insert(v.end(), tail.begin(), tail.end());
  return keep_alive.emplace_back(std::move(v));
}

std::string hex_of(std::string_view s) {
  std::string h;
  static const char* digits = "0123456789abcdef";
  for (unsigned char c : s) {
    h += digits[c >> 4];
    h += digits[c & 15];
  }
  return h;
}

std::string ip(const net::ip_address& a) { return a.to_string(); }

// ---------------------------------------------------------------------------
// Broken input

TEST(Dhcp, ShortInputIsTruncatedHeaderAndLeavesNothing) {
  for (std::size_t len : {0u, 1u, 28u, 235u, 236u, 239u}) {
    std::vector<std::uint8_t> buf(aruba_ack.begin(),
                                  aruba_ack.begin() + static_cast<std::ptrdiff_t>(len));
    dhcp_message m;
    m.message_type = 99;  // parse must reset the output
    EXPECT_EQ(parse_dhcp(buf, m), dhcp_error::truncated_header) << len;
    EXPECT_EQ(m.error, dhcp_error::truncated_header);
    EXPECT_EQ(m.op, 0);
    EXPECT_EQ(m.xid, 0u);
    EXPECT_EQ(m.message_type, 0);
    EXPECT_FALSE(m.chaddr_is_mac);
  }
}

// Cuts three real messages at every length, each into its own exact-size
// buffer (so a sanitizer build catches any over-read), and checks that what
// was decoded is the full parse's value or absent, never something else.
TEST(Dhcp, EveryTruncationOfRealMessagesIsSafeAndKeepsThePrefix) {
  for (const auto* full : {&mud_request, &android_discover, &aruba_ack}) {
    dhcp_message whole;
    ASSERT_EQ(parse_dhcp(*full, whole), dhcp_error::none);
    std::size_t end_at = 240;  // offset of End in the full message
    while ((*full)[end_at] != 255) {
      end_at += (*full)[end_at] == 0 ? 1 : 2u + (*full)[end_at + 1];
    }
    for (std::size_t len = 0; len <= full->size(); ++len) {
      const std::vector<std::uint8_t> cut(full->begin(),
                                          full->begin() + static_cast<std::ptrdiff_t>(len));
      dhcp_message m;
      const dhcp_error e = parse_dhcp(cut, m);
      if (len < 240) {
        EXPECT_EQ(e, dhcp_error::truncated_header) << len;
        continue;
      }
      if (len <= end_at) {
        EXPECT_TRUE(e == dhcp_error::truncated_option || e == dhcp_error::missing_end)
            << len << " " << proto::dhcp_error_name(e);
      } else {
        EXPECT_EQ(e, dhcp_error::none) << len;
      }
      EXPECT_EQ(m.xid, whole.xid);
      EXPECT_EQ(m.chaddr, whole.chaddr);
      EXPECT_EQ(m.yiaddr, whole.yiaddr);
      // Option codes seen are a prefix of the full list.
      ASSERT_LE(m.option_codes_len, whole.option_codes_len) << len;
      for (std::size_t i = 0; i < m.option_codes_len; ++i) {
        EXPECT_EQ(m.option_codes[i], whole.option_codes[i]) << len;
      }
      EXPECT_TRUE(m.message_type == 0 || m.message_type == whole.message_type);
      EXPECT_TRUE(m.hostname.empty() || m.hostname == whole.hostname) << len;
      EXPECT_TRUE(m.vendor_class.empty() || m.vendor_class == whole.vendor_class) << len;
      EXPECT_TRUE(m.mud_url.empty() || m.mud_url == whole.mud_url) << len;
      EXPECT_TRUE(!m.requested_ip || m.requested_ip == whole.requested_ip);
      EXPECT_TRUE(!m.server_id || m.server_id == whole.server_id);
      EXPECT_TRUE(!m.lease_time || m.lease_time == whole.lease_time);
      EXPECT_TRUE(m.prl_len == 0 || prl_string(m) == prl_string(whole)) << len;
      // Views never point outside the buffer they came from.
      for (std::string_view s : {m.hostname, m.vendor_class, m.mud_url, m.sname, m.file}) {
        if (!s.empty()) {
          const auto* b = reinterpret_cast<const char*>(cut.data());
          EXPECT_GE(s.data(), b);
          EXPECT_LE(s.data() + s.size(), b + cut.size());
        }
      }
    }
  }
}

// Deterministic mutations of the real messages (byte flips, overwritten
// lengths, cuts). Meant for the sanitizer build (TAPSENSE_SANITIZE=ON), where
// any over-read aborts; here it checks that views stay inside the input.
TEST(Dhcp, RandomMutationsStayInBounds) {
  std::uint32_t state = 12345;
  auto rnd = [&state](std::uint32_t n) {
    state = state * 1664525u + 1013904223u;
    return (state >> 8) % n;
  };
  std::size_t errors = 0;
  for (int round = 0; round < 20000; ++round) {
    const auto& base = round % 3 == 0 ? mud_request : round % 3 == 1 ? android_discover : aruba_ack;
    std::vector<std::uint8_t> v = base;
    for (std::uint32_t k = 0, n = 1 + rnd(8); k < n; ++k) {
      // Mostly the option area, where the lengths are.
      const std::size_t at =
          rnd(4) == 0 ? rnd(240) : 240 + rnd(static_cast<std::uint32_t>(v.size() - 240));
      v[at] = static_cast<std::uint8_t>(rnd(4) == 0 ? 0xff : rnd(256));
    }
    if (rnd(2) == 0) {
      v.resize(rnd(static_cast<std::uint32_t>(v.size() + 1)));
    }
    v.shrink_to_fit();
    dhcp_message m;
    if (parse_dhcp(v, m) != dhcp_error::none) {
      ++errors;
    }
    const auto* b = reinterpret_cast<const char*>(v.data());
    for (std::string_view s : {m.hostname, m.vendor_class, m.mud_url, m.sname, m.file}) {
      if (!s.empty()) {
        ASSERT_GE(s.data(), b);
        ASSERT_LE(s.data() + s.size(), b + v.size());
      }
    }
    if (!m.client_id.empty()) {
      ASSERT_GE(m.client_id.data(), v.data());
      ASSERT_LE(m.client_id.data() + m.client_id.size(), v.data() + v.size());
    }
    ASSERT_LE(m.fqdn_len, m.fqdn_buf.size());
  }
  EXPECT_GT(errors, 0u);
}

TEST(Dhcp, BadMagicCookieKeepsTheHeaderOnly) {
  auto v = android_discover;
  v[236] = 0x00;  // plain BOOTP vendor area
  dhcp_message m;
  EXPECT_EQ(parse_dhcp(v, m), dhcp_error::bad_magic_cookie);
  EXPECT_EQ(m.op, 1);
  EXPECT_EQ(m.xid, 0xd3e2067au);
  EXPECT_EQ(m.chaddr.to_string(), "bc:ee:7b:0c:b3:de");
  EXPECT_EQ(m.message_type, 0);
  EXPECT_TRUE(m.hostname.empty());
  EXPECT_EQ(m.option_codes_len, 0);
  EXPECT_STREQ(proto::dhcp_error_name(m.error), "bad_magic_cookie");
}

TEST(Dhcp, OptionRunningPastTheEnd) {
  dhcp_message m;
  // 53 is whole; 12 claims 16 bytes but only 3 follow.
  EXPECT_EQ(parse_dhcp(with_options("350101 0c10616263"), m), dhcp_error::truncated_option);
  EXPECT_EQ(m.message_type, 1);
  EXPECT_TRUE(m.hostname.empty());
  EXPECT_EQ(proto::option_codes_string(m), "53");
  // The length byte itself missing.
  EXPECT_EQ(parse_dhcp(with_options("350103 0c"), m), dhcp_error::truncated_option);
  EXPECT_EQ(m.message_type, 3);
  // Truncated inside the PRL: nothing of the PRL is taken.
  EXPECT_EQ(parse_dhcp(with_options("350101 3705010306"), m), dhcp_error::truncated_option);
  EXPECT_EQ(m.prl_len, 0);
  EXPECT_EQ(prl_string(m), "");
}

TEST(Dhcp, MissingEndIsReportedButOptionsKept) {
  dhcp_message m;
  EXPECT_EQ(parse_dhcp(with_options("350101 0c03616263"), m), dhcp_error::missing_end);
  EXPECT_EQ(m.message_type, 1);
  EXPECT_EQ(m.hostname, "abc");
  // Only pads, no End.
  EXPECT_EQ(parse_dhcp(with_options("000000"), m), dhcp_error::missing_end);
  // Nothing at all after the cookie.
  EXPECT_EQ(parse_dhcp(with_options(""), m), dhcp_error::missing_end);
}

TEST(Dhcp, WrongFixedLengthsAreSkippedAndParsingGoesOn) {
  dhcp_message m;
  EXPECT_EQ(parse_dhcp(with_options("35020101 3203c0a801 3305000000010a 390105 0c0161 ff"), m),
            dhcp_error::bad_option_length);
  EXPECT_EQ(m.message_type, 0);
  EXPECT_FALSE(m.requested_ip);
  EXPECT_FALSE(m.lease_time);
  EXPECT_FALSE(m.max_msg_size);
  EXPECT_EQ(m.hostname, "a");  // after the bad ones
  EXPECT_EQ(proto::option_codes_string(m), "53,50,51,57,12");
}

TEST(Dhcp, HardwareTypesAndLengths) {
  dhcp_message m;
  // hlen above 16: not decodable, options still parsed.
  EXPECT_EQ(parse_dhcp(with_options("350101 ff", 1, 17), m), dhcp_error::bad_hardware_length);
  EXPECT_FALSE(m.chaddr_is_mac);
  EXPECT_TRUE(m.chaddr_bytes.empty());
  EXPECT_EQ(m.message_type, 1);
  // InfiniBand (RFC 4390): htype 32, hlen 0, identity in option 61.
  EXPECT_EQ(parse_dhcp(with_options("350101 ff", 32, 0), m), dhcp_error::none);
  EXPECT_FALSE(m.chaddr_is_mac);
  EXPECT_TRUE(m.chaddr.is_zero());
  EXPECT_TRUE(m.chaddr_bytes.empty());
  // A 16-byte hardware address of another type.
  EXPECT_EQ(parse_dhcp(with_options("ff", 99, 16), m), dhcp_error::none);
  EXPECT_FALSE(m.chaddr_is_mac);
  ASSERT_EQ(m.chaddr_bytes.size(), 16u);
  EXPECT_EQ(m.chaddr_bytes[15], 0xff);
  // IEEE 802 with 6 bytes is a MAC; Ethernet with 8 is not.
  EXPECT_EQ(parse_dhcp(with_options("ff", 6, 6), m), dhcp_error::none);
  EXPECT_TRUE(m.chaddr_is_mac);
  EXPECT_EQ(m.chaddr.to_string(), "00:11:22:33:44:55");
  EXPECT_EQ(parse_dhcp(with_options("ff", 1, 8), m), dhcp_error::none);
  EXPECT_FALSE(m.chaddr_is_mac);
  EXPECT_EQ(m.chaddr_bytes.size(), 8u);
}

TEST(Dhcp, PadsEndAndWhatFollowsEnd) {
  dhcp_message m;
  EXPECT_EQ(parse_dhcp(with_options("00 350101 0000 0c0178 ff 0c0179 3c0161"), m),
            dhcp_error::none);
  EXPECT_EQ(m.hostname, "x");
  EXPECT_TRUE(m.vendor_class.empty());
  EXPECT_EQ(proto::option_codes_string(m), "53,12");
}

TEST(Dhcp, TextOptionsStopAtTheFirstNul) {
  dhcp_message m;
  // "host\0\0", "vend\0", "a\0b": tshark shows "host", "vend", "a".
  EXPECT_EQ(parse_dhcp(with_options("0c06686f73740000 3c0576656e6400 ff"), m), dhcp_error::none);
  EXPECT_EQ(m.hostname, "host");
  EXPECT_EQ(m.vendor_class, "vend");
  EXPECT_EQ(parse_dhcp(with_options("0c03610062 ff"), m), dhcp_error::none);
  EXPECT_EQ(m.hostname, "a");
  // An empty hostname option is present but empty; the first instance wins.
  EXPECT_EQ(parse_dhcp(with_options("0c00 0c0162 ff"), m), dhcp_error::none);
  EXPECT_TRUE(m.hostname.empty());
  EXPECT_NE(m.hostname.data(), nullptr);
}

TEST(Dhcp, RepeatedPrlIsConcatenatedAndCapped) {
  dhcp_message m;
  EXPECT_EQ(parse_dhcp(with_options("37020103 3c0161 3702060f ff"), m), dhcp_error::none);
  EXPECT_EQ(prl_string(m), "1,3,6,15");
  EXPECT_EQ(proto::option_codes_string(m), "55,60,55");
  // 200 + 200 items: the list keeps 255 and says so.
  std::string opts;
  for (int k = 0; k < 2; ++k) {
    opts += "37c8";
    for (int i = 0; i < 200; ++i) {
      opts += "01";
    }
  }
  opts += "ff";
  EXPECT_EQ(parse_dhcp(with_options(opts), m), dhcp_error::list_overflow);
  EXPECT_EQ(m.prl_len, 255);
}

TEST(Dhcp, OptionCodeListIsCapped) {
  std::string opts;
  for (int i = 0; i < 300; ++i) {
    opts += "e000";  // option 224, empty
  }
  opts += "0c0161ff";
  dhcp_message m;
  EXPECT_EQ(parse_dhcp(with_options(opts), m), dhcp_error::list_overflow);
  EXPECT_EQ(m.option_codes_len, 255);
  EXPECT_EQ(m.hostname, "a");  // options past the cap are still applied
}

TEST(Dhcp, OptionOverloadReadsFileThenSname) {
  auto v = with_options("350101 340103 0c0161 ff");
  // file (offset 108): vendor class, then PRL. sname (offset 44): a second
  // hostname (ignored: the first instance wins), then option 57.
  const auto file_opts = from_hex("3c03766e64 37020103 ff");
  const auto sname_opts = from_hex("0c0162 39020240 ff");
  std::copy(file_opts.begin(), file_opts.end(), v.begin() + 108);
  std::copy(sname_opts.begin(), sname_opts.end(), v.begin() + 44);
  dhcp_message m;
  EXPECT_EQ(parse_dhcp(v, m), dhcp_error::none);
  EXPECT_EQ(m.overload, 3);
  EXPECT_EQ(m.hostname, "a");  // the options field comes first
  EXPECT_EQ(m.vendor_class, "vnd");
  EXPECT_EQ(prl_string(m), "1,3");
  EXPECT_EQ(m.max_msg_size, 576);
  EXPECT_TRUE(m.sname.empty());
  EXPECT_TRUE(m.file.empty());
  EXPECT_EQ(proto::option_codes_string(m), "53,52,12,60,55,12,57");

  // Overload 1 (file only): sname stays a name.
  auto w = with_options("340101 ff");
  std::copy(file_opts.begin(), file_opts.end(), w.begin() + 108);
  const std::string name = "boot.example";
  std::copy(name.begin(), name.end(), w.begin() + 44);
  EXPECT_EQ(parse_dhcp(w, m), dhcp_error::none);
  EXPECT_EQ(m.sname, "boot.example");
  EXPECT_EQ(m.vendor_class, "vnd");

  // A file area without End is reported.
  auto x = with_options("340101 ff");
  x[108] = 0x0c;
  x[109] = 0x01;
  x[110] = 0x63;
  for (std::size_t i = 111; i < 236; ++i) {
    x[i] = 0xe0;  // option 224 with length 0xe0 runs off the area
  }
  EXPECT_EQ(parse_dhcp(x, m), dhcp_error::truncated_option);
  EXPECT_EQ(m.hostname, "c");
}

TEST(Dhcp, SnameAndFileWithoutOverload) {
  auto v = with_options("350101 ff");
  const std::string s = "Lucas-iMac.local";
  std::copy(s.begin(), s.end(), v.begin() + 44);
  const std::string f = "pxelinux.0";
  std::copy(f.begin(), f.end(), v.begin() + 108);
  dhcp_message m;
  EXPECT_EQ(parse_dhcp(v, m), dhcp_error::none);
  EXPECT_EQ(m.sname, s);
  EXPECT_EQ(m.file, f);
}

// ---------------------------------------------------------------------------
// Option 81 (RFC 4702)

TEST(Dhcp, FqdnAscii) {
  dhcp_message m;
  // Flags 0 (E clear), rcodes 255/255 as RFC 4702 asks of clients.
  EXPECT_EQ(
      parse_dhcp(with_options("350103 5115 00ffff 6d79686f73742e6578616d706c652e636f6d ff"), m),
      dhcp_error::none);
  EXPECT_TRUE(m.has_fqdn);
  EXPECT_EQ(m.fqdn_flags, 0);
  EXPECT_EQ(m.fqdn_rcode1, 255);
  EXPECT_EQ(m.fqdn_name(), "myhost.example.com");
}

TEST(Dhcp, FqdnWireFormat) {
  dhcp_message m;
  // Flags E|S, "\6myhost\7example\3com\0" (what Windows sends).
  EXPECT_EQ(
      parse_dhcp(with_options("350103 5117 050000 066d79686f7374076578616d706c6503636f6d00 ff"), m),
      dhcp_error::none);
  EXPECT_EQ(m.fqdn_flags, proto::dhcp_fqdn_flag::e | proto::dhcp_fqdn_flag::s);
  EXPECT_EQ(m.fqdn_name(), "myhost.example.com");
  // The name lives in the struct: it survives the input and copies.
  const dhcp_message copy = m;
  EXPECT_EQ(copy.fqdn_name(), "myhost.example.com");

  // Partial name: no root label.
  EXPECT_EQ(parse_dhcp(with_options("510a 050000 066d79686f7374 ff"), m), dhcp_error::none);
  EXPECT_EQ(m.fqdn_name(), "myhost");
  // Empty name.
  EXPECT_EQ(parse_dhcp(with_options("5103 040000 ff"), m), dhcp_error::none);
  EXPECT_TRUE(m.has_fqdn);
  EXPECT_EQ(m.fqdn_name(), "");
  // A label running past the option: labels before it kept.
  EXPECT_EQ(parse_dhcp(with_options("510c 040000 066d79686f7374 0961 ff"), m),
            dhcp_error::bad_fqdn);
  EXPECT_EQ(m.fqdn_name(), "myhost");
  // Compression pointers are not allowed.
  EXPECT_EQ(parse_dhcp(with_options("5105 040000 c00c ff"), m), dhcp_error::bad_fqdn);
  EXPECT_EQ(m.fqdn_name(), "");
  // Too short for the flags and rcodes.
  EXPECT_EQ(parse_dhcp(with_options("51020400 ff"), m), dhcp_error::bad_option_length);
  EXPECT_FALSE(m.has_fqdn);
}

TEST(Dhcp, FqdnLongestWireName) {
  // Labels of 63, 63, 63 and 58 bytes plus the root label fill a 255-byte
  // option: the text is 250 bytes.
  std::string opt = "51ff 040000";
  for (int label : {63, 63, 63, 58}) {
    char b[3];
    std::snprintf(b, sizeof b, "%02x", label);
    opt += b;
    for (int i = 0; i < label; ++i) {
      opt += "61";
    }
  }
  opt += "00 ff";
  dhcp_message m;
  EXPECT_EQ(parse_dhcp(with_options(opt), m), dhcp_error::none);
  EXPECT_EQ(m.fqdn_name().size(), 63u * 3 + 58 + 3);
  EXPECT_EQ(m.option_codes_len, 1);  // the root label was inside the option
}

// ---------------------------------------------------------------------------
// Real messages

TEST(Dhcp, AndroidDiscover) {
  dhcp_message m;
  ASSERT_EQ(parse_dhcp(android_discover, m), dhcp_error::none);
  EXPECT_EQ(m.op, 1);
  EXPECT_EQ(m.htype, 1);
  EXPECT_EQ(m.hlen, 6);
  EXPECT_EQ(m.xid, 0xd3e2067au);
  EXPECT_TRUE(m.chaddr_is_mac);
  EXPECT_EQ(m.chaddr.to_string(), "bc:ee:7b:0c:b3:de");
  EXPECT_EQ(m.message_type, proto::dhcp_type::discover);
  EXPECT_EQ(m.hostname, "android-f7ca0f571270c52d");
  EXPECT_EQ(m.vendor_class, "dhcpcd-5.5.6");
  EXPECT_EQ(prl_string(m), "1,33,3,6,15,28,51,58,59");
  EXPECT_EQ(m.max_msg_size, 1500);
  EXPECT_FALSE(m.requested_ip);
  EXPECT_TRUE(m.yiaddr.is_unspecified());
  EXPECT_TRUE(m.yiaddr.is_v4());
  EXPECT_EQ(proto::option_codes_string(m), "53,57,60,12,55");
  EXPECT_TRUE(m.sname.empty());
}

TEST(Dhcp, ArubaAck) {
  dhcp_message m;
  ASSERT_EQ(parse_dhcp(aruba_ack, m), dhcp_error::none);
  EXPECT_EQ(m.op, 2);
  EXPECT_EQ(m.message_type, proto::dhcp_type::ack);
  EXPECT_EQ(m.xid, 0x7c0u);
  EXPECT_EQ(ip(m.ciaddr), "0.0.0.0");
  EXPECT_EQ(ip(m.yiaddr), "128.2.6.189");
  EXPECT_EQ(ip(m.siaddr), "172.19.230.7");
  EXPECT_EQ(m.chaddr.to_string(), "90:b1:1c:99:49:29");
  ASSERT_TRUE(m.server_id);
  EXPECT_EQ(ip(*m.server_id), "128.2.6.152");
  EXPECT_EQ(m.lease_time, 900u);
  EXPECT_EQ(m.vendor_class, "ArubaAP");
  EXPECT_EQ(m.prl_len, 0);
  EXPECT_EQ(proto::option_codes_string(m), "53,54,51,1,3,6,4,67,28,42,43,60,44,46,15");
}

TEST(Dhcp, RelayedRequestWithMudUrl) {
  dhcp_message m;
  ASSERT_EQ(parse_dhcp(mud_request, m), dhcp_error::none);
  EXPECT_EQ(m.hops, 1);
  EXPECT_EQ(m.message_type, proto::dhcp_type::request);
  EXPECT_EQ(ip(m.ciaddr), "62.12.173.123");
  EXPECT_EQ(ip(m.giaddr), "62.12.173.121");
  EXPECT_EQ(m.chaddr.to_string(), "b8:27:eb:b8:53:c8");
  EXPECT_EQ(m.hostname, "raspberrypi");
  EXPECT_EQ(m.vendor_class, "dhcpcd-6.11.5:Linux-4.1.18-v7+:armv7l:BCM2709");
  EXPECT_EQ(m.mud_url, "https://mudctl.example.com/.well-known/mud/v1/rasbp101");
  EXPECT_EQ(prl_string(m), "1,121,33,3,6,12,15,28,42,51,54,58,59,100,101,119");
  EXPECT_EQ(m.max_msg_size, 1472);
  ASSERT_EQ(m.client_id.size(), 7u);
  EXPECT_EQ(m.client_id[0], 1);
  EXPECT_EQ(net::mac_address::from_bytes(m.client_id.data() + 1), m.chaddr);
  EXPECT_EQ(proto::option_codes_string(m), "53,61,57,161,60,12,145,55");
}

// ---------------------------------------------------------------------------
// Agreement with tshark on real captures

struct pcap_packet {
  std::size_t frame;  // 1-based, as tshark numbers frames
  std::vector<std::uint8_t> data;
};

// Classic libpcap files, either byte order, micro- or nanosecond stamps.
std::vector<pcap_packet> read_pcap(const std::string& path, std::uint32_t& linktype) {
  std::ifstream f(path, std::ios::binary);
  std::vector<std::uint8_t> d((std::istreambuf_iterator<char>(f)),
                              std::istreambuf_iterator<char>());
  std::vector<pcap_packet> out;
  if (d.size() < 24) {
    ADD_FAILURE() << path << ": too short for a pcap header";
    return out;
  }
  const std::uint32_t magic = net::load_le32(d.data());
  bool swapped = false;
  if (magic == 0xa1b2c3d4 || magic == 0xa1b23c4d) {
    swapped = false;
  } else if (magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1) {
    swapped = true;
  } else {
    ADD_FAILURE() << path << ": not a classic pcap file";
    return out;
  }
  auto u32 = [&](std::size_t off) {
    return swapped ? net::load_be32(d.data() + off) : net::load_le32(d.data() + off);
  };
  linktype = u32(20) & 0xffff;
  std::size_t off = 24;
  std::size_t frame = 0;
  while (net::fits(d.size(), off, 16)) {
    const std::uint32_t caplen = u32(off + 8);
    if (!net::fits(d.size(), off + 16, caplen)) {
      ADD_FAILURE() << path << ": record " << frame + 1 << " runs past the end";
      break;
    }
    ++frame;
    out.push_back({frame, std::vector<std::uint8_t>(
                              d.begin() + static_cast<std::ptrdiff_t>(off + 16),
                              d.begin() + static_cast<std::ptrdiff_t>(off + 16 + caplen))});
    off += 16 + caplen;
  }
  return out;
}

// Ethernet [+ VLAN tags] + IPv4 (first fragment) + UDP from or to port 67/68:
// the UDP payload bounded by the UDP length, or nothing.
std::optional<net::bytes> dhcp_payload(const std::vector<std::uint8_t>& fr) {
  const net::bytes f(fr);
  std::size_t off = 12;
  if (!net::fits(f.size(), off, 2)) {
    return std::nullopt;
  }
  std::uint16_t type = net::load_be16(f.data() + off);
  off += 2;
  for (int depth = 0; depth < 4 && (type == 0x8100 || type == 0x88a8 || type == 0x9100); ++depth) {
    if (!net::fits(f.size(), off, 4)) {
      return std::nullopt;
    }
    type = net::load_be16(f.data() + off + 2);
    off += 4;
  }
  if (type != 0x0800 || !net::fits(f.size(), off, 20) || (f[off] >> 4) != 4) {
    return std::nullopt;
  }
  const std::size_t ihl = (f[off] & 0x0fu) * 4u;
  const std::size_t total = net::load_be16(f.data() + off + 2);
  const bool later_fragment = (net::load_be16(f.data() + off + 6) & 0x1fff) != 0;
  if (ihl < 20 || total < ihl || f[off + 9] != 17 || later_fragment) {
    return std::nullopt;
  }
  const std::size_t ip_end = std::min(f.size(), off + total);
  const std::size_t udp = off + ihl;
  if (!net::fits(ip_end, udp, 8)) {
    return std::nullopt;
  }
  const std::uint16_t sport = net::load_be16(f.data() + udp);
  const std::uint16_t dport = net::load_be16(f.data() + udp + 2);
  const std::size_t ulen = net::load_be16(f.data() + udp + 4);
  auto dhcp_port = [](std::uint16_t p) { return p == 67 || p == 68; };
  if (!dhcp_port(sport) && !dhcp_port(dport)) {
    return std::nullopt;
  }
  if (ulen < 8) {
    return std::nullopt;
  }
  const std::size_t end = std::min(ip_end, udp + ulen);
  return f.subspan(udp + 8, end - (udp + 8));
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t b = 0;
  for (;;) {
    const auto e = s.find(sep, b);
    out.push_back(s.substr(b, e == std::string::npos ? std::string::npos : e - b));
    if (e == std::string::npos) {
      return out;
    }
    b = e + 1;
  }
}

bool have_tshark() { return std::system("command -v tshark >/dev/null 2>&1") == 0; }

// tshark's view of every DHCP packet of `path`, keyed by frame number.
const char* const tshark_fields[] = {
    "frame.number",
    "dhcp.hw.mac_addr",  // chaddr, then the MAC in option 61 if any
    "dhcp.option.hostname",
    "dhcp.option.vendor_class_id",
    "dhcp.option.request_list_item",
    "dhcp.option.requested_ip_address",
    "dhcp.option.dhcp",  // message type
    "dhcp.ip.your",
    "dhcp.id",  // xid, 0x%08x
    "dhcp.option.dhcp_server_id",
    "dhcp.option.ip_address_lease_time",
    "dhcp.option.type",  // option codes in order; End shows as 0
};
enum col {
  c_frame,
  c_mac,
  c_host,
  c_vendor,
  c_prl,
  c_req,
  c_type,
  c_yi,
  c_xid,
  c_sid,
  c_lease,
  c_codes,
  c_count
};

std::map<std::size_t, std::vector<std::string>> tshark_dhcp(const std::string& path) {
  std::string cmd = "tshark -r '" + path +
                    "' -Y dhcp -T fields -E separator=/t -E aggregator=,"
                    " -E occurrence=a";
  for (const char* f : tshark_fields) {
    cmd += " -e ";
    cmd += f;
  }
  cmd += " 2>/dev/null";
  std::map<std::size_t, std::vector<std::string>> rows;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) {
    ADD_FAILURE() << "popen failed: " << cmd;
    return rows;
  }
  std::string text;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
    text.append(buf, n);
  }
  EXPECT_EQ(::pclose(p), 0) << cmd;
  // Lines end with '\n' only: do not split on other control characters.
  for (const auto& line : split(text, '\n')) {
    if (line.empty()) {
      continue;
    }
    auto cols = split(line, '\t');
    EXPECT_EQ(cols.size(), static_cast<std::size_t>(c_count)) << line;
    cols.resize(c_count);
    rows[std::stoul(cols[c_frame])] = cols;
  }
  return rows;
}

std::string opt_ip(const std::optional<net::ip_address>& a) { return a ? a->to_string() : ""; }

TEST(Dhcp, AgreesWithTsharkOnSharedCaptures) {
  const std::string root = TAPSENSE_SHARED_PCAPS;
  if (!std::filesystem::exists(root)) {
    GTEST_SKIP() << "../shared/pcaps absent";
  }
  if (!have_tshark()) {
    GTEST_SKIP() << "tshark absent";
  }
  std::size_t compared = 0;
  std::ostringstream summary;
  for (const char* name :
       {"dhcp/dhcp.pcap", "dhcp/dhcp-mud.pcap", "dhcp/1kxun.pcap", "mdns/iphone.pcap"}) {
    const std::string path = root + "/" + name;
    SCOPED_TRACE(name);
    std::uint32_t linktype = 0;
    const auto packets = read_pcap(path, linktype);
    ASSERT_EQ(linktype, 1u) << "Ethernet captures only";
    const auto truth = tshark_dhcp(path);
    ASSERT_FALSE(truth.empty()) << "tshark found no DHCP in " << path;
    std::size_t here = 0;
    for (const auto& pkt : packets) {
      const auto payload = dhcp_payload(pkt.data);
      const auto row = truth.find(pkt.frame);
      if (!payload) {
        EXPECT_EQ(row, truth.end())
            << "frame " << pkt.frame << ": tshark sees DHCP, we see no UDP 67/68";
        continue;
      }
      if (row == truth.end()) {
        ADD_FAILURE() << "frame " << pkt.frame << ": UDP 67/68 but tshark sees no DHCP";
        continue;
      }
      const auto& t = row->second;
      SCOPED_TRACE("frame " + std::to_string(pkt.frame));
      dhcp_message m;
      EXPECT_EQ(parse_dhcp(*payload, m), dhcp_error::none) << proto::dhcp_error_name(m.error);

      const auto macs = split(t[c_mac], ',');
      ASSERT_TRUE(m.chaddr_is_mac);
      EXPECT_EQ(m.chaddr.to_string(), macs[0]);
      if (m.client_id.size() == 7 && m.client_id[0] == 1) {
        ASSERT_EQ(macs.size(), 2u);
        EXPECT_EQ(net::mac_address::from_bytes(m.client_id.data() + 1).to_string(), macs[1]);
      } else {
        EXPECT_EQ(macs.size(), 1u);
      }
      EXPECT_EQ(m.hostname, t[c_host]) << hex_of(m.hostname);
      EXPECT_EQ(m.vendor_class, t[c_vendor]);
      EXPECT_EQ(prl_string(m), t[c_prl]);
      EXPECT_EQ(opt_ip(m.requested_ip), t[c_req]);
      EXPECT_EQ(m.message_type == 0 ? "" : std::to_string(m.message_type), t[c_type]);
      EXPECT_EQ(m.yiaddr.to_string(), t[c_yi]);
      char xid[16];
      std::snprintf(xid, sizeof xid, "0x%08x", m.xid);
      EXPECT_EQ(xid, t[c_xid]);
      EXPECT_EQ(opt_ip(m.server_id), t[c_sid]);
      EXPECT_EQ(m.lease_time ? std::to_string(*m.lease_time) : "", t[c_lease]);
      std::string codes;
      for (const auto& c : split(t[c_codes], ',')) {
        if (c != "0" && c != "255" && !c.empty()) {
          codes += (codes.empty() ? "" : ",") + c;
        }
      }
      EXPECT_EQ(proto::option_codes_string(m), codes);
      ++here;
    }
    EXPECT_EQ(here, truth.size()) << "every packet tshark calls DHCP was compared";
    summary << " " << name << "=" << here;
    compared += here;
  }
  std::cout << "[ dhcp     ] compared with tshark:" << summary.str() << " total=" << compared
            << "\n";
  RecordProperty("dhcp_packets_compared", static_cast<int>(compared));
  ASSERT_GT(compared, 0u) << "no DHCP packet was compared with tshark";
}

// The odd cases above (NULs in text, option 81 in both encodings, overload,
// repeated PRL) written to a pcap and shown to tshark.
TEST(Dhcp, SyntheticCasesAgreeWithTshark) {
  if (!have_tshark()) {
    GTEST_SKIP() << "tshark absent";
  }
  struct synthetic {
    const char* options;
    const char* sname;  // hex, written at offset 44
    const char* file;   // hex, written at offset 108
  };
  const synthetic cases[] = {
      {"350101 0c06686f73740000 3c0576656e6400 ff", "", ""},
      {"350101 0c03610062 ff", "", ""},
      {"350103 5115 00ffff 6d79686f73742e6578616d706c652e636f6d ff", "", ""},
      {"350103 5117 050000 066d79686f7374076578616d706c6503636f6d00 ff", "", ""},
      {"350103 510a 050000 066d79686f7374 ff", "", ""},
      {"350101 340103 ff", "37020103 ff", "0c06696e66696c65 3c03766e64 ff"},
      {"350101 37020103 3c0161 3702060f ff", "", ""},
  };
  std::vector<std::vector<std::uint8_t>> msgs;
  for (const auto& c : cases) {
    auto v = with_options(c.options);
    const auto sn = from_hex(c.sname);
    const auto fi = from_hex(c.file);
    std::copy(sn.begin(), sn.end(), v.begin() + 44);
    std::copy(fi.begin(), fi.end(), v.begin() + 108);
    msgs.push_back(std::move(v));
  }
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("tapsense_dhcp_" + std::to_string(::getpid()) + ".pcap"))
                               .string();
  {
    std::ofstream f(path, std::ios::binary);
    auto le32 = [&f](std::uint32_t x) {
      const char b[4] = {static_cast<char>(x), static_cast<char>(x >> 8),
                         static_cast<char>(x >> 16), static_cast<char>(x >> 24)};
      f.write(b, 4);
    };
    le32(0xa1b2c3d4);
    le32(0x00040002);  // version 2.4
    le32(0);
    le32(0);
    le32(65535);
    le32(1);  // Ethernet
    for (const auto& m : msgs) {
      std::vector<std::uint8_t> fr = from_hex("ffffffffffff 001122334455 0800");
      const std::size_t ip_len = 20 + 8 + m.size();
      const auto ip_hdr =
          from_hex("4500 0000 0000 0000 4011 0000 00000000 ffffffff 0044 0043 0000 0000");
      fr.insert(fr.end(), ip_hdr.begin(), ip_hdr.end());
      fr[16] = static_cast<std::uint8_t>(ip_len >> 8);
      fr[17] = static_cast<std::uint8_t>(ip_len);
      fr[38] = static_cast<std::uint8_t>((ip_len - 20) >> 8);
      fr[39] = static_cast<std::uint8_t>(ip_len - 20);
      fr.insert(fr.end(), m.begin(), m.end());
      le32(0);
      le32(0);
      le32(static_cast<std::uint32_t>(fr.size()));
      le32(static_cast<std::uint32_t>(fr.size()));
      f.write(reinterpret_cast<const char*>(fr.data()), static_cast<std::streamsize>(fr.size()));
    }
  }
  const std::string cmd = "tshark -r '" + path +
                          "' -T fields -E separator=/t -E aggregator=, -E occurrence=a"
                          " -e dhcp.option.hostname -e dhcp.option.vendor_class_id"
                          " -e dhcp.fqdn.name -e dhcp.option.request_list_item 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string text;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
    text.append(buf, n);
  }
  EXPECT_EQ(::pclose(p), 0);
  std::filesystem::remove(path);
  auto lines = split(text, '\n');
  if (!lines.empty() && lines.back().empty()) {
    lines.pop_back();
  }
  ASSERT_EQ(lines.size(), msgs.size()) << text;
  for (std::size_t i = 0; i < msgs.size(); ++i) {
    SCOPED_TRACE("case " + std::to_string(i) + ": " + lines[i]);
    auto t = split(lines[i], '\t');
    ASSERT_EQ(t.size(), 4u);
    dhcp_message m;
    EXPECT_EQ(parse_dhcp(msgs[i], m), dhcp_error::none);
    EXPECT_EQ(m.hostname, t[0]);
    EXPECT_EQ(m.vendor_class, t[1]);
    EXPECT_EQ(m.fqdn_name(), t[2]);
    EXPECT_EQ(prl_string(m), t[3]);
  }
}

}  // namespace
