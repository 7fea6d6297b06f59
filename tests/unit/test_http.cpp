// HTTP/1.x head parser: incomplete and broken input first (every prefix
// of a request and of a pipelined response stream, lines without CRLF,
// absurd Content-Length, huge heads, non-HTTP streams), then fixtures with
// their facts, then agreement with tshark on the shared captures, fed as
// the fingerprinter will: a prefix of each TCP direction.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/proto/http.h"
#include "tests/unit/test_names_capture.h"

using namespace tapsense;
using proto::http_error;
using proto::http_kind;
using proto::http_message;
using proto::parse_http;
using proto::subject;

namespace {

std::span<const std::uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

http_error parse(std::string_view s, http_message& m, bool datagram = false) {
  return parse_http(bytes_of(s), m, datagram);
}

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
      s += std::string(f.field) + "=" + f.value + " about " + std::to_string(static_cast<int>(f.about)) + "\n";
    }
    return s;
  }
};

proto::packet_view tcp(std::uint16_t sport, std::uint16_t dport) {
  proto::packet_view p;
  p.src_ip = *net::ip_address::parse("10.0.2.15");
  p.dst_ip = *net::ip_address::parse("151.99.72.125");
  p.src_port = sport;
  p.dst_port = dport;
  p.ip_proto = 6;
  p.has_ip = true;
  return p;
}

const std::string request =
    "GET /filestreamingservice/files/abc?P1=1 HTTP/1.1\r\n"
    "Connection: Keep-Alive\r\n"
    "Accept: */*\r\n"
    "User-Agent: Microsoft-Delivery-Optimization/10.0\r\n"
    "MS-CV: Zyx.1.2\r\n"
    "Host: 151.99.72.125\r\n"
    "\r\n";

const std::string responses =
    "HTTP/1.1 200 OK\r\n"
    "Server: Apache/2.4.41 (Ubuntu) OpenSSL/1.1.1f\r\n"
    "X-Powered-By: PHP/7.4.3\r\n"
    "Content-Length: 5\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "hello"
    "HTTP/1.1 401 Unauthorized\r\n"
    "WWW-Authenticate: Basic realm=\"NETGEAR R7000\"\r\n"
    "Transfer-Encoding: gzip, chunked\r\n"
    "\r\n"
    "0\r\n\r\n";

// ---------------------------------------------------------------------------
// Incomplete and broken input

TEST(Http, EveryPrefixOfARequestIsIncompleteUntilTheHeadEnds) {
  for (std::size_t len = 0; len < request.size(); ++len) {
    const std::vector<std::uint8_t> cut(request.begin(), request.begin() + static_cast<std::ptrdiff_t>(len));
    http_message m;
    EXPECT_EQ(parse_http(cut, m), http_error::incomplete) << len;
    EXPECT_TRUE(m.user_agent.empty());
    EXPECT_EQ(m.header_len, 0);
    test_sink sink;
    proto::http_facts(m, tcp(50000, 80), sink);
    EXPECT_TRUE(sink.facts.empty()) << len;
  }
  http_message m;
  ASSERT_EQ(parse(request, m), http_error::none);
  EXPECT_EQ(m.head_len, request.size());
  EXPECT_EQ(m.message_len, request.size());
  // Bytes after the head (the next request, or a body) do not matter.
  ASSERT_EQ(parse(request + "GET / HT", m), http_error::none);
  EXPECT_EQ(m.head_len, request.size());
}

TEST(Http, PipelinedResponsesAreSteppedThroughByMessageLength) {
  http_message m;
  ASSERT_EQ(parse(responses, m), http_error::none);
  EXPECT_EQ(m.kind, http_kind::response);
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(m.reason, "OK");
  EXPECT_EQ(m.content_length, 5u);
  ASSERT_TRUE(m.message_len);
  const std::string second = responses.substr(*m.message_len);
  ASSERT_EQ(parse(second, m), http_error::none);
  EXPECT_EQ(m.status, 401);
  EXPECT_TRUE(m.chunked);
  EXPECT_FALSE(m.message_len);  // chunked: the stream cannot be followed further
  for (std::size_t len = 0; len < second.size(); ++len) {
    http_message c;
    const auto e = parse(second.substr(0, len), c);
    EXPECT_TRUE(e == http_error::incomplete || (e == http_error::none && len >= c.head_len)) << len;
  }
}

TEST(Http, NonHttpStreamsAreRecognisedEarly) {
  http_message m;
  EXPECT_EQ(parse(std::string_view("\x16\x03\x01\x02\x00", 5), m), http_error::not_http);
  EXPECT_EQ(parse(std::string_view("\x00\x00\x00\x85\xffSMB", 8), m), http_error::not_http);
  EXPECT_EQ(parse("SSH-2.0-OpenSSH_8.2p1 Ubuntu\r\n", m), http_error::not_http);
  EXPECT_EQ(parse(" GET / HTTP/1.1\r\n\r\n", m), http_error::not_http);
  EXPECT_EQ(parse("GET / HTTP/1.1x\r\n\r\n", m), http_error::not_http);
  EXPECT_EQ(parse("GET /\r\n\r\n", m), http_error::not_http);  // HTTP/0.9
  EXPECT_EQ(parse("HTTP/1.1 2000 OK\r\n\r\n", m), http_error::not_http);
  EXPECT_EQ(parse("HTTP/1.1 20 OK\r\n\r\n", m), http_error::not_http);
  EXPECT_EQ(parse(std::string(40, 'A'), m), http_error::not_http);  // no method is that long
  // Prefixes that can still become HTTP.
  EXPECT_EQ(parse("", m), http_error::incomplete);
  EXPECT_EQ(parse("HTT", m), http_error::incomplete);
  EXPECT_EQ(parse("M-SEARCH * HTTP/1", m), http_error::incomplete);
  EXPECT_EQ(parse("HTTP/1.0 204", m), http_error::incomplete);
  // Status line without a reason phrase.
  ASSERT_EQ(parse("HTTP/1.0 204\r\n\r\n", m), http_error::none);
  EXPECT_EQ(m.status, 204);
  EXPECT_EQ(m.message_len, m.head_len);
}

TEST(Http, LinesWithoutCrlfAndBrokenHeaderLines) {
  http_message m;
  // Bare LF line ends (RFC 9112 2.2 lets recipients accept them).
  ASSERT_EQ(parse("GET / HTTP/1.0\nHost: a\nUser-Agent: curl/8.0\n\n", m), http_error::none);
  EXPECT_EQ(m.host, "a");
  EXPECT_EQ(m.user_agent, "curl/8.0");
  // A stream of header lines that never ends the head.
  EXPECT_EQ(parse("GET / HTTP/1.0\r\nHost: a\r\nUser-Agent: x", m), http_error::incomplete);
  // Lines without a colon, with an empty name, with space before the
  // colon, folded lines: skipped, the rest kept.
  ASSERT_EQ(parse("GET / HTTP/1.1\r\nnot a header\r\n: empty\r\nHost : spaced\r\n"
                  "User-Agent: first\r\n  folded continuation\r\nServer: s\r\n\r\n",
                  m),
            http_error::bad_header_line);
  EXPECT_TRUE(m.host.empty());
  EXPECT_EQ(m.user_agent, "first");
  EXPECT_EQ(m.header_len, 2);
  // Whitespace around values; first instance wins; header() is case-blind.
  ASSERT_EQ(parse("GET / HTTP/1.1\r\nuser-agent: \t a b \t\r\nUSER-AGENT: second\r\n\r\n", m), http_error::none);
  EXPECT_EQ(m.user_agent, "a b");
  EXPECT_EQ(m.header("User-Agent"), "a b");
  EXPECT_EQ(m.header("missing").data(), nullptr);
  // A NUL or other control bytes in a value stay in the view; facts clean them.
  ASSERT_EQ(parse(std::string_view("GET / HTTP/1.1\r\nUser-Agent: a\x01\x00z\r\n\r\n", 37), m), http_error::none);
  test_sink sink;
  proto::http_facts(m, tcp(50000, 80), sink);
  EXPECT_TRUE(sink.has(subject::sender, "user_agent", "a??z")) << sink.dump();
}

TEST(Http, AbsurdContentLength) {
  http_message m;
  for (const char* cl : {"99999999999999999999", "-1", "12abc", "", "0x10", "1 2", "1234567890123456"}) {
    const std::string r = std::string("HTTP/1.1 200 OK\r\nContent-Length: ") + cl + "\r\nServer: s/1\r\n\r\n";
    EXPECT_EQ(parse(r, m), http_error::bad_content_length) << cl;
    EXPECT_FALSE(m.content_length) << cl;
    EXPECT_FALSE(m.message_len) << cl;
    EXPECT_EQ(m.server, "s/1");  // the head is still read
  }
  EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", m),
            http_error::bad_content_length);
  ASSERT_EQ(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", m), http_error::none);
  EXPECT_EQ(m.content_length, 5u);
  ASSERT_EQ(parse("HTTP/1.1 200 OK\r\nContent-Length: 999999999999999\r\n\r\n", m), http_error::none);
  EXPECT_EQ(m.message_len, m.head_len + 999999999999999u);
  // A response without length is read until close: no message_len.
  ASSERT_EQ(parse("HTTP/1.0 200 OK\r\nServer: x\r\n\r\nbody...", m), http_error::none);
  EXPECT_FALSE(m.message_len);
  // A request without length has no body.
  ASSERT_EQ(parse("POST /x HTTP/1.1\r\nHost: h\r\n\r\n", m), http_error::none);
  EXPECT_EQ(m.message_len, m.head_len);
}

TEST(Http, HugeHeadsAndManyHeaders) {
  http_message m;
  std::string huge = "GET / HTTP/1.1\r\nX: " + std::string(proto::http_max_head, 'a');
  EXPECT_EQ(parse(huge, m), http_error::head_too_long);
  huge += "\r\n\r\n";
  EXPECT_EQ(parse(huge, m), http_error::head_too_long);
  std::string many = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 100; ++i) {
    many += "X-" + std::to_string(i) + ": v\r\n";
  }
  many += "User-Agent: late/1.0\r\n\r\n";
  EXPECT_EQ(parse(many, m), http_error::too_many_headers);
  EXPECT_EQ(m.header_len, proto::http_max_headers);
  EXPECT_EQ(m.user_agent, "late/1.0");  // well-known fields are still found
}

TEST(Http, RandomMutationsStayInBounds) {
  std::uint32_t state = 5;
  auto rnd = [&state](std::uint32_t n) {
    state = state * 1664525u + 1013904223u;
    return (state >> 8) % n;
  };
  const char alphabet[] = {'\r', '\n', ':', ' ', '\t', '/', '(', ')', '"', 'a', '0', '\0'};
  for (int round = 0; round < 20000; ++round) {
    std::string s = round % 2 == 0 ? request : responses;
    for (std::uint32_t k = 0, n = 1 + rnd(6); k < n; ++k) {
      s[rnd(static_cast<std::uint32_t>(s.size()))] = alphabet[rnd(sizeof alphabet)];
    }
    if (rnd(2) == 0) {
      s.resize(rnd(static_cast<std::uint32_t>(s.size() + 1)));
    }
    const std::vector<std::uint8_t> v(s.begin(), s.end());
    http_message m;
    parse_http(v, m, rnd(2) == 0);
    const auto* b = reinterpret_cast<const char*>(v.data());
    for (const auto& h : m.header_list()) {
      for (std::string_view x : {h.name, h.value}) {
        ASSERT_GE(x.data(), b);
        ASSERT_LE(x.data() + x.size(), b + v.size());
      }
    }
    ASSERT_LE(m.head_len, v.size());
    test_sink sink;
    proto::http_facts(m, tcp(1, 2), sink);
  }
}

// ---------------------------------------------------------------------------
// Fixtures

TEST(Http, ProductTokens) {
  std::array<std::string_view, 8> out;
  auto products = [&](std::string_view v) {
    const std::size_t n = proto::http_products(v, out);
    std::string s;
    for (std::size_t i = 0; i < n; ++i) {
      s += (i ? "," : "") + std::string(out[i]);
    }
    return s;
  };
  EXPECT_EQ(products("Apache/2.4.41 (Ubuntu) OpenSSL/1.1.1f"), "Apache/2.4.41,OpenSSL/1.1.1f");
  EXPECT_EQ(products("Microsoft-Windows/10.0 UPnP/1.0 UPnP-Device-Host/1.0"),
            "Microsoft-Windows/10.0,UPnP-Device-Host/1.0");
  EXPECT_EQ(products("ipos/7.0 UPnP/1.0 TL-WDR3600/1.0"), "ipos/7.0,TL-WDR3600/1.0");
  EXPECT_EQ(products("Wget/1.14 (darwin12.2.0)"), "Wget/1.14");
  EXPECT_EQ(products("gws"), "");
  EXPECT_EQ(products("MServer 1.2.2"), "");
  EXPECT_EQ(products("Linux/3.14 (nested (comment) here) DLNADOC/1.50 Platinum/1.0.5.13"),
            "Linux/3.14,Platinum/1.0.5.13");
  EXPECT_EQ(products("(unclosed Foo/1"), "");
  EXPECT_EQ(products("a/ /b a//b x/1/2"), "");
  EXPECT_EQ(products("Google Chrome/99.0.4844.74 Mac OS X"), "Chrome/99.0.4844.74");
}

TEST(Http, RequestFacts) {
  http_message m;
  ASSERT_EQ(parse(request, m), http_error::none);
  EXPECT_EQ(m.kind, http_kind::request);
  EXPECT_EQ(m.method, "GET");
  EXPECT_EQ(m.target, "/filestreamingservice/files/abc?P1=1");
  EXPECT_EQ(m.version, "HTTP/1.1");
  EXPECT_EQ(m.header_len, 5);
  test_sink sink;
  proto::http_facts(m, tcp(50000, 80), sink);
  EXPECT_TRUE(sink.has(subject::sender, "user_agent", "Microsoft-Delivery-Optimization/10.0")) << sink.dump();
  EXPECT_TRUE(sink.has(subject::sender, "software", "Microsoft-Delivery-Optimization/10.0"));
  EXPECT_TRUE(sink.has(subject::receiver, "http_host", "151.99.72.125"));
  EXPECT_EQ(sink.facts.size(), 3u);
  for (const auto& f : sink.facts) {
    EXPECT_EQ(f.source.str(), "http");
  }
  // Browser strings are kept whole; their tokens are left to the rules.
  ASSERT_EQ(parse("GET / HTTP/1.1\r\nUser-Agent: Mozilla/5.0 (X11; Linux i686; rv:5.0) Gecko/20100101 "
                  "Firefox/5.0\r\nHost: www.google.com\r\n\r\n",
                  m),
            http_error::none);
  test_sink browser;
  proto::http_facts(m, tcp(50000, 80), browser);
  EXPECT_TRUE(browser.has(subject::sender, "user_agent",
                          "Mozilla/5.0 (X11; Linux i686; rv:5.0) Gecko/20100101 Firefox/5.0"));
  EXPECT_EQ(browser.facts.size(), 2u) << browser.dump();
  // Through a proxy, Host names the origin, not the receiver.
  for (const char* line : {"GET http://example.com/ HTTP/1.1", "CONNECT example.com:443 HTTP/1.1"}) {
    const std::string text = std::string(line) + "\r\nHost: example.com\r\nUser-Agent: curl/8.0\r\n\r\n";
    ASSERT_EQ(parse(text, m), http_error::none);  // m's views point into text
    test_sink proxy;
    proto::http_facts(m, tcp(50000, 3128), proxy);
    EXPECT_FALSE(proxy.has(subject::receiver, "http_host", "example.com")) << line;
    EXPECT_TRUE(proxy.has(subject::sender, "user_agent", "curl/8.0"));
  }
}

TEST(Http, ResponseFacts) {
  http_message m;
  ASSERT_EQ(parse(responses, m), http_error::none);
  test_sink sink;
  proto::http_facts(m, tcp(80, 50000), sink);
  EXPECT_TRUE(sink.has(subject::sender, "server", "Apache/2.4.41 (Ubuntu) OpenSSL/1.1.1f")) << sink.dump();
  EXPECT_TRUE(sink.has(subject::sender, "software", "Apache/2.4.41"));
  EXPECT_TRUE(sink.has(subject::sender, "software", "OpenSSL/1.1.1f"));
  EXPECT_TRUE(sink.has(subject::sender, "x_powered_by", "PHP/7.4.3"));
  EXPECT_TRUE(sink.has(subject::sender, "software", "PHP/7.4.3"));
  const std::string second = responses.substr(*m.message_len);
  ASSERT_EQ(parse(second, m), http_error::none);
  test_sink auth;
  proto::http_facts(m, tcp(80, 50000), auth);
  EXPECT_TRUE(auth.has(subject::sender, "http_realm", "NETGEAR R7000")) << auth.dump();
  ASSERT_EQ(parse("HTTP/1.1 401 X\r\nWWW-Authenticate: Digest REALM=router, nonce=\"1\"\r\n\r\n", m),
            http_error::none);
  test_sink digest;
  proto::http_facts(m, tcp(80, 50000), digest);
  EXPECT_TRUE(digest.has(subject::sender, "http_realm", "router")) << digest.dump();
}

std::string base64(const std::vector<std::uint8_t>& v) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < v.size(); i += 3) {
    const std::uint32_t n = (std::uint32_t{v[i]} << 16) | (i + 1 < v.size() ? std::uint32_t{v[i + 1]} << 8 : 0) |
                            (i + 2 < v.size() ? v[i + 2] : 0);
    out += a[(n >> 18) & 63];
    out += a[(n >> 12) & 63];
    out += i + 1 < v.size() ? a[(n >> 6) & 63] : '=';
    out += i + 2 < v.size() ? a[n & 63] : '=';
  }
  return out;
}

// An NTLMSSP CHALLENGE: target name "SP", AV pairs NbComputerName "TFDSP",
// DnsComputerName "tfdsp.sp.local", Version 6.1.7601.
std::vector<std::uint8_t> ntlm_challenge() {
  std::vector<std::uint8_t> v = {'N', 'T', 'L', 'M', 'S', 'S', 'P', 0, 2, 0, 0, 0};
  auto le16 = [&v](unsigned x) {
    v.push_back(static_cast<std::uint8_t>(x));
    v.push_back(static_cast<std::uint8_t>(x >> 8));
  };
  auto le32 = [&](std::uint32_t x) {
    le16(x & 0xffff);
    le16(x >> 16);
  };
  auto utf16 = [](std::string_view s) {
    std::vector<std::uint8_t> out;
    for (char c : s) {
      out.push_back(static_cast<std::uint8_t>(c));
      out.push_back(0);
    }
    return out;
  };
  const auto target = utf16("SP");
  std::vector<std::uint8_t> info;
  for (const auto& [id, text] : {std::pair<unsigned, std::string_view>{1, "TFDSP"}, {3, "tfdsp.sp.local"}}) {
    const auto t = utf16(text);
    info.push_back(static_cast<std::uint8_t>(id));
    info.push_back(0);
    info.push_back(static_cast<std::uint8_t>(t.size()));
    info.push_back(0);
    info.insert(info.end(), t.begin(), t.end());
  }
  info.insert(info.end(), {0, 0, 0, 0});
  le16(static_cast<unsigned>(target.size()));
  le16(static_cast<unsigned>(target.size()));
  le32(56);
  le32(0xa2898205);  // UNICODE, TARGET_INFO, VERSION, ...
  v.insert(v.end(), 16, 0x5a);  // challenge + reserved
  le16(static_cast<unsigned>(info.size()));
  le16(static_cast<unsigned>(info.size()));
  le32(static_cast<std::uint32_t>(56 + target.size()));
  v.insert(v.end(), {6, 1, 0xb1, 0x1d, 0, 0, 0, 15});
  v.insert(v.end(), target.begin(), target.end());
  v.insert(v.end(), info.begin(), info.end());
  return v;
}

TEST(Http, NtlmInAuthenticationHeaders) {
  http_message m;
  const std::string resp = "HTTP/1.1 401 Unauthorized\r\nServer: Microsoft-IIS/7.5\r\nWWW-Authenticate: Negotiate\r\n"
                           "WWW-Authenticate: NTLM " + base64(ntlm_challenge()) + "\r\nContent-Length: 0\r\n\r\n";
  ASSERT_EQ(parse(resp, m), http_error::none);
  test_sink sink;
  proto::http_facts(m, tcp(80, 49162), sink);
  EXPECT_TRUE(sink.has(subject::sender, "ntlm_version", "6.1.7601")) << sink.dump();
  EXPECT_TRUE(sink.has(subject::sender, "netbios_name", "TFDSP"));
  EXPECT_TRUE(sink.has(subject::sender, "dns_hostname", "tfdsp.sp.local"));
  EXPECT_TRUE(sink.has(subject::sender, "ntlm_target", "SP"));
  EXPECT_TRUE(sink.has(subject::sender, "software", "Microsoft-IIS/7.5"));
  // Garbage tokens, other schemes and oversized tokens give nothing.
  for (const std::string& bad : {std::string("NTLM !!!!"), std::string("NTLM TlRMTVNTUAAB="), std::string("Basic dXNlcjpwYXNz"),
                                 "NTLM " + std::string(20000, 'A'), std::string("NTLM")}) {
    const std::string text = "GET / HTTP/1.1\r\nAuthorization: " + bad + "\r\n\r\n";
    ASSERT_EQ(parse(text, m), http_error::none);
    test_sink none;
    proto::http_facts(m, tcp(49162, 80), none);
    EXPECT_TRUE(none.facts.empty()) << bad << "\n" << none.dump();
  }
}

TEST(Http, WriteFuzzSeeds) {
  if (names_test::seed_dir() == nullptr) {
    GTEST_SKIP() << "TAPSENSE_WRITE_SEEDS not set";
  }
  names_test::write_seed("http", request);
  names_test::write_seed("http", responses);
  names_test::write_seed("http", "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: NTLM " + base64(ntlm_challenge()) +
                                     "\r\nContent-Length: 0\r\n\r\n");
  names_test::write_seed("http", "GET / HTTP/1.0\nHost: a\nUser-Agent: curl/8.0\n\n");
}

// ---------------------------------------------------------------------------
// Agreement with tshark

// The prefix of each TCP direction the test hands to the parser, as the
// fingerprinter would: the first bytes of the stream in sequence order.
constexpr std::size_t prefix_cap = 16 * 1024;

TEST(Http, AgreesWithTsharkOnSharedCaptures) {
  if (!std::filesystem::exists(names_test::shared_pcaps())) {
    GTEST_SKIP() << "shared pcaps absent";
  }
  if (!names_test::have_tshark()) {
    GTEST_SKIP() << "tshark absent";
  }
  using names_test::triple;
  std::size_t total_expected = 0;
  std::size_t total_found = 0;
  for (const char* name : {"http-ua/windowsupdate_over_http.pcap", "vlan/http-vlan-0.pcap", "dhcp/1kxun.pcap",
                           "tcp-syn-os/sites.pcapng", "dns/var-services-std-ports.pcap", "mdns/iphone.pcap",
                           "gre/erspan.pcap"}) {
    SCOPED_TRACE(name);
    const std::string path = names_test::shared_pcaps() + "/" + name;
    // Ours: every TCP direction's prefix, message after message while the
    // framing is known.
    names_test::recording_sink sink;
    std::size_t messages = 0;
    std::size_t directions = 0;
    for (const auto& d : names_test::tcp_prefixes(names_test::decode_capture(path), prefix_cap)) {
      ++directions;
      sink.set_packet(d.view, d.first_frame);
      std::size_t off = 0;
      while (off < d.prefix.size()) {
        http_message m;
        const http_error e = parse_http(std::span<const std::uint8_t>(d.prefix).subspan(off), m);
        if (e == http_error::incomplete || e == http_error::not_http || e == http_error::head_too_long) {
          break;
        }
        proto::http_facts(m, d.view, sink);
        ++messages;
        if (!m.message_len || *m.message_len > d.prefix.size() - off) {
          break;
        }
        off += static_cast<std::size_t>(*m.message_len);
      }
    }
    const auto have = names_test::triples(sink.facts);
    // tshark's: User-Agent of requests (sender), Host (receiver), Server of
    // responses (sender), NTLM in authentication headers (sender), over TCP
    // (SSDP is ssdp's).
    names_test::agreement agr;
    agr.capture = name;
    const auto rows = names_test::tshark_rows(
        path, "http && tcp",
        {"ip.src", "ipv6.src", "ip.dst", "ipv6.dst", "http.user_agent", "http.host", "http.server",
         "ntlmssp.version.major", "ntlmssp.version.minor", "ntlmssp.version.build_number", "ntlmssp.auth.hostname",
         "ntlmssp.auth.domain", "ntlmssp.auth.username", "ntlmssp.challenge.target_info.nb_computer_name",
         "ntlmssp.challenge.target_info.nb_domain_name", "ntlmssp.challenge.target_info.dns_computer_name",
         "ntlmssp.challenge.target_info.dns_domain_name", "ntlmssp.challenge.target_info.dns_tree_name"});
    for (const auto& r : rows) {
      // Tunnelled packets list outer and inner addresses: the inner is last.
      const std::string src = names_test::split(!r[0].empty() ? r[0] : r[1], names_test::agg).back();
      const std::string dst = names_test::split(!r[2].empty() ? r[2] : r[3], names_test::agg).back();
      auto values = [&](std::size_t col) {
        std::vector<std::string> v;
        for (const auto& x : names_test::split(r[col], names_test::agg)) {
          const std::string u = names_test::tshark_unescape(x);
          if (!u.empty() && u != "NULL") {  // tshark's "NULL" is an empty NTLM string
            v.push_back(u);
          }
        }
        return v;
      };
      const auto majors = values(7);
      const auto minors = values(8);
      const auto builds = values(9);
      for (std::size_t i = 0; i < majors.size() && i < minors.size() && i < builds.size(); ++i) {
        agr.expect(triple(src, "ntlm_version", majors[i] + "." + minors[i] + "." + builds[i]));
      }
      const std::pair<std::size_t, const char*> ntlm_fields[] = {
          {10, "netbios_name"}, {11, "ntlm_domain"},  {12, "ntlm_user"},  {13, "netbios_name"},
          {14, "ntlm_domain"},  {15, "dns_hostname"}, {16, "dns_domain"}, {17, "dns_forest"}};
      for (const auto& [col, field] : ntlm_fields) {
        for (const auto& v : values(col)) {
          agr.expect(triple(src, field, v));
        }
      }
      for (const auto& ua : names_test::split(r[4], names_test::agg)) {
        if (!ua.empty()) {
          agr.expect(triple(src, "user_agent", names_test::tshark_unescape(ua)));
        }
      }
      for (const auto& h : names_test::split(r[5], names_test::agg)) {
        if (!h.empty()) {
          agr.expect(triple(dst, "http_host", names_test::tshark_unescape(h)));
        }
      }
      for (const auto& s : names_test::split(r[6], names_test::agg)) {
        if (!s.empty()) {
          agr.expect(triple(src, "server", names_test::tshark_unescape(s)));
        }
      }
    }
    agr.check(have);
    std::cout << agr.report("http") << " (" << rows.size() << " tshark HTTP packets; " << messages
              << " heads parsed in " << directions << " TCP directions, prefix cap " << prefix_cap << ")\n";
    EXPECT_GT(agr.expected.size(), 0u) << "nothing compared in " << name;
    EXPECT_EQ(agr.missing.size(), 0u) << agr.report("http");
    total_expected += agr.expected.size();
    total_found += agr.found.size();
  }
  ASSERT_GT(total_expected, 0u) << "no HTTP fact was compared with tshark";
  std::cout << "[ http ] total " << total_found << "/" << total_expected << "\n";
}

}  // namespace
