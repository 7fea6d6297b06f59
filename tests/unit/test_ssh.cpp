// SSH version line and KEXINIT parser, HASSH renderers. Broken input first
// (every truncation, hostile packet and list lengths, endless lines), then
// renderer and software-split tables, then hand-built exchanges shown to
// tshark, then agreement with tshark, nDPI and Zeek on the shared captures.
// Every fixture is built here; no bytes are copied from the captures.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/proto/digest.h"
#include "common/proto/ssh.h"
#include "tests/unit/test_tls_capture.h"

using namespace tapsense;
using namespace tapsense::proto;

namespace {

using bytes_t = std::vector<std::uint8_t>;

bytes_t text(std::string_view s) { return bytes_t(s.begin(), s.end()); }
void put32(bytes_t& v, std::size_t x) {
  for (int s = 24; s >= 0; s -= 8) {
    v.push_back(static_cast<std::uint8_t>(x >> s));
  }
}
void append(bytes_t& v, const bytes_t& w) { v.insert(v.end(), w.begin(), w.end()); }
bytes_t cut(const bytes_t& v, std::size_t n) {
  return bytes_t(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n));
}

// An SSH binary packet around `payload`, padded to a multiple of 8 with at
// least 4 bytes of padding (RFC 4253 6).
bytes_t packet(const bytes_t& payload) {
  std::size_t pad = 8 - (5 + payload.size()) % 8;
  if (pad < 4) {
    pad += 8;
  }
  bytes_t p;
  put32(p, 1 + payload.size() + pad);
  p.push_back(static_cast<std::uint8_t>(pad));
  append(p, payload);
  p.insert(p.end(), pad, 0);
  return p;
}

bytes_t kexinit(const std::vector<std::string>& lists) {
  bytes_t p{20};
  for (int i = 0; i < 16; ++i) {
    p.push_back(static_cast<std::uint8_t>(0x30 + i));  // cookie
  }
  for (const auto& l : lists) {
    put32(p, l.size());
    append(p, text(l));
  }
  p.push_back(0);  // first_kex_packet_follows
  put32(p, 0);
  return p;
}

// Lists in the style of a current OpenSSH client and a Java server.
const std::vector<std::string> client_lists = {
    "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,diffie-hellman-group14-sha256,ext-info-c",
    "ssh-ed25519-cert-v01@openssh.com,ecdsa-sha2-nistp256,ssh-ed25519,rsa-sha2-512,rsa-sha2-256",
    "chacha20-poly1305@openssh.com,aes128-ctr,aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com,aes128-ctr,aes256-gcm@openssh.com",
    "umac-64-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha1",
    "umac-64-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha1",
    "none,zlib@openssh.com,zlib",
    "none,zlib@openssh.com,zlib",
    "",
    "",
};
const std::vector<std::string> server_lists = {
    "ecdh-sha2-nistp256,diffie-hellman-group14-sha1",
    "ssh-rsa",
    "aes128-ctr,aes192-ctr,arcfour128",
    "aes256-ctr,aes128-ctr",
    "hmac-sha2-256,hmac-sha1",
    "hmac-sha1",
    "none",
    "none,zlib",
    "",
    "en-US",
};

const char* const client_banner = "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6";
const char* const server_banner = "SSH-2.0-ExampleSSHD-2.5.0";

bytes_t client_stream() {
  bytes_t s = text(std::string(client_banner) + "\r\n");
  append(s, packet(kexinit(client_lists)));
  return s;
}
bytes_t server_stream() {
  bytes_t s = text(std::string(server_banner) + "\r\n");
  append(s, packet(kexinit(server_lists)));
  return s;
}

std::string join4(const std::vector<std::string>& l, int a, int b, int c, int d) {
  return l[static_cast<std::size_t>(a)] + ";" + l[static_cast<std::size_t>(b)] + ";" +
         l[static_cast<std::size_t>(c)] + ";" + l[static_cast<std::size_t>(d)];
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

TEST(Ssh, EveryTruncationIsIncompleteUntilTheKexinitIsWhole) {
  const bytes_t full = client_stream();
  const std::size_t line_end = std::string(client_banner).size() + 2;
  ssh_handshake whole;
  ASSERT_EQ(parse_ssh(full, ssh_role::client, whole), ssh_error::none);
  // Everything up to the end of the KEXINIT payload is needed; the padding is not.
  const std::size_t pad = full.back() == 0 ? full[line_end + 4] : 0;
  for (std::size_t len = 0; len < full.size(); ++len) {
    const bytes_t c = cut(full, len);
    ssh_handshake h;
    const ssh_error e = parse_ssh(c, ssh_role::client, h);
    if (len < full.size() - pad) {
      ASSERT_EQ(e, ssh_error::incomplete) << len;
      EXPECT_FALSE(h.has_kexinit);
    } else {
      ASSERT_EQ(e, ssh_error::none) << len;
    }
    // The version line is there as soon as its LF is.
    EXPECT_EQ(h.has_banner, len >= line_end) << len;
    if (h.has_banner) {
      EXPECT_EQ(h.banner(), client_banner);
    }
  }
}

TEST(Ssh, LinesAndRoles) {
  ssh_handshake h;
  // LF alone ends a line too (old implementations).
  bytes_t lf = text("SSH-2.0-dropbear_2019.78\n");
  append(lf, packet(kexinit(client_lists)));
  EXPECT_EQ(parse_ssh(lf, ssh_role::server, h), ssh_error::none);
  EXPECT_EQ(h.software_version(), "dropbear_2019.78");
  EXPECT_TRUE(h.comments().empty());
  // Servers may send other lines first; clients may not.
  bytes_t pre = text("Welcome\r\nThis system is private\r\n");
  append(pre, server_stream());
  EXPECT_EQ(parse_ssh(pre, ssh_role::server, h), ssh_error::none);
  EXPECT_EQ(h.lines_before, 2);
  EXPECT_EQ(h.banner(), server_banner);
  EXPECT_EQ(parse_ssh(pre, ssh_role::client, h), ssh_error::not_ssh);
  EXPECT_FALSE(h.has_banner);
  // Not SSH at all: a client is refused on its first byte.
  EXPECT_EQ(parse_ssh(text("G"), ssh_role::client, h), ssh_error::not_ssh);
  EXPECT_EQ(parse_ssh(text("GET / HTTP/1.1\r\n"), ssh_role::client, h), ssh_error::not_ssh);
  EXPECT_EQ(parse_ssh(text("SS"), ssh_role::client, h), ssh_error::incomplete);
  EXPECT_EQ(parse_ssh(text("SSH"), ssh_role::client, h), ssh_error::incomplete);
  EXPECT_EQ(parse_ssh(text("SSX-"), ssh_role::client, h), ssh_error::not_ssh);
  // Seventeen lines before the version line are too many.
  std::string many;
  for (int i = 0; i < 17; ++i) {
    many += "line\r\n";
  }
  EXPECT_EQ(parse_ssh(text(many + "SSH-2.0-x\r\n"), ssh_role::server, h), ssh_error::not_ssh);
  // Endless lines.
  EXPECT_EQ(parse_ssh(text("SSH-2.0-" + std::string(300, 'a')), ssh_role::client, h),
            ssh_error::long_line);
  EXPECT_EQ(parse_ssh(text("SSH-2.0-" + std::string(200, 'a')), ssh_role::client, h),
            ssh_error::incomplete);
  EXPECT_EQ(parse_ssh(text(std::string(2000, 'x')), ssh_role::server, h), ssh_error::long_line);
  // The longest version line allowed: 253 characters plus CR LF.
  const std::string longest = "SSH-2.0-" + std::string(245, 'v');
  bytes_t l = text(longest + "\r\n");
  append(l, packet(kexinit(client_lists)));
  EXPECT_EQ(parse_ssh(l, ssh_role::client, h), ssh_error::none);
  EXPECT_EQ(h.banner(), longest);
}

TEST(Ssh, VersionLineSplit) {
  struct row {
    const char* line;
    const char* proto;
    const char* software;
    const char* comments;
  };
  const row rows[] = {
      {"SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.11", "2.0", "OpenSSH_8.2p1", "Ubuntu-4ubuntu0.11"},
      {"SSH-2.0-OpenSSH_5.8p1 Debian-1ubuntu3", "2.0", "OpenSSH_5.8p1", "Debian-1ubuntu3"},
      {"SSH-2.0-OpenSSH_8.8 FreeBSD-20211221", "2.0", "OpenSSH_8.8", "FreeBSD-20211221"},
      {"SSH-1.99-Cisco-1.25", "1.99", "Cisco-1.25", ""},
      {"SSH-2.0-APACHE-SSHD-2.5.0", "2.0", "APACHE-SSHD-2.5.0", ""},
      {"SSH-2.0-Go", "2.0", "Go", ""},
      {"SSH-2.0-x two words here", "2.0", "x", "two words here"},
      {"SSH-2.0", "2.0", "", ""},
      {"SSH-", "", "", ""},
  };
  for (const auto& r : rows) {
    bytes_t s = text(std::string(r.line) + "\r\n");
    append(s, packet(kexinit(client_lists)));
    ssh_handshake h;
    EXPECT_EQ(parse_ssh(s, ssh_role::client, h), ssh_error::none) << r.line;
    EXPECT_EQ(h.banner(), r.line);
    EXPECT_EQ(h.proto_version(), r.proto) << r.line;
    EXPECT_EQ(h.software_version(), r.software) << r.line;
    EXPECT_EQ(h.comments(), r.comments) << r.line;
  }
  // SSH 1: no KEXINIT follows; the parse ends with the line.
  ssh_handshake h;
  EXPECT_EQ(parse_ssh(text("SSH-1.5-OpenSSH_2.9\n\x00\x00\x01\x04"), ssh_role::server, h),
            ssh_error::none);
  EXPECT_TRUE(h.ssh1_only);
  EXPECT_FALSE(h.has_kexinit);
  // 1.99 is SSH 2 compatible: a KEXINIT follows.
  EXPECT_EQ(parse_ssh(text("SSH-1.99-Cisco-1.25\r\n"), ssh_role::server, h), ssh_error::incomplete);
  EXPECT_FALSE(h.ssh1_only);
}

TEST(Ssh, HostilePacketsAndLists) {
  ssh_handshake h;
  const bytes_t line = text("SSH-2.0-x\r\n");
  auto with = [&line](const bytes_t& tail) {
    bytes_t s = line;
    append(s, tail);
    return s;
  };
  // packet_length over 35000, under 5, padding not smaller than the length.
  EXPECT_EQ(parse_ssh(with(testcap::from_hex("000088b9 04")), ssh_role::client, h),
            ssh_error::bad_packet_length);
  EXPECT_EQ(parse_ssh(with(testcap::from_hex("ffffffff 04")), ssh_role::client, h),
            ssh_error::bad_packet_length);
  EXPECT_EQ(parse_ssh(with(testcap::from_hex("00000004 00")), ssh_role::client, h),
            ssh_error::bad_packet_length);
  EXPECT_EQ(parse_ssh(with(testcap::from_hex("00000010 10")), ssh_role::client, h),
            ssh_error::bad_packet_length);
  // Exactly 35000 is allowed (and incomplete here).
  EXPECT_EQ(parse_ssh(with(testcap::from_hex("000088b8 04 14")), ssh_role::client, h),
            ssh_error::incomplete);
  EXPECT_TRUE(h.has_banner);
  // Not a KEXINIT first.
  EXPECT_EQ(parse_ssh(with(packet(testcap::from_hex("15"))), ssh_role::client, h),
            ssh_error::unexpected_message);
  // KEXINIT too short for its cookie.
  EXPECT_EQ(parse_ssh(with(packet(testcap::from_hex("14 0102"))), ssh_role::client, h),
            ssh_error::bad_kexinit);
  // A name-list claiming more bytes than the payload, at each position.
  for (std::size_t which = 0; which < 10; ++which) {
    auto lists = client_lists;
    bytes_t p = kexinit(lists);
    // Find the length field of list `which` and make it huge.
    std::size_t at = 17;
    for (std::size_t i = 0; i < which; ++i) {
      at += 4 + lists[i].size();
    }
    p[at] = 0x7f;
    EXPECT_EQ(parse_ssh(with(packet(p)), ssh_role::client, h), ssh_error::bad_kexinit) << which;
    EXPECT_FALSE(h.has_kexinit);
    // Or the payload ends right inside the length field.
    bytes_t q = cut(kexinit(lists), at + 2);
    EXPECT_EQ(parse_ssh(with(packet(q)), ssh_role::client, h), ssh_error::bad_kexinit) << which;
  }
  // Lists over the 8 KiB store.
  std::vector<std::string> big(10, std::string(1000, 'a'));
  EXPECT_EQ(parse_ssh(with(packet(kexinit(big))), ssh_role::client, h), ssh_error::list_overflow);
  EXPECT_FALSE(h.has_kexinit);
  // The trailing boolean and reserved word may be missing.
  bytes_t nob = kexinit(client_lists);
  nob.resize(nob.size() - 5);
  EXPECT_EQ(parse_ssh(with(packet(nob)), ssh_role::client, h), ssh_error::none);
}

TEST(Ssh, RandomMutationsStayInBounds) {
  std::uint32_t state = 77;
  auto rnd = [&state](std::uint32_t n) {
    state = state * 1664525u + 1013904223u;
    return (state >> 8) % n;
  };
  const bytes_t bases[] = {client_stream(), server_stream()};
  std::size_t errors = 0;
  for (int round = 0; round < 20000; ++round) {
    bytes_t v = bases[round % 2];
    for (std::uint32_t k = 0, n = 1 + rnd(6); k < n; ++k) {
      v[rnd(static_cast<std::uint32_t>(v.size()))] = static_cast<std::uint8_t>(rnd(256));
    }
    if (rnd(2) == 0) {
      v.resize(rnd(static_cast<std::uint32_t>(v.size() + 1)));
    }
    v.shrink_to_fit();
    ssh_handshake h;
    errors += parse_ssh(v, round % 2 == 0 ? ssh_role::client : ssh_role::server, h) !=
              ssh_error::none;
    ASSERT_LE(h.kexinit.used, h.kexinit.store.size());
    for (const auto& sl : h.kexinit.lists) {
      ASSERT_LE(sl.off + sl.len, h.kexinit.used);
    }
    (void)hassh(h.kexinit);
    (void)hassh_server(h.kexinit);
  }
  EXPECT_GT(errors, 0u);
}

// ---------------------------------------------------------------------------
// Renderers

TEST(Ssh, HasshTable) {
  ssh_handshake c;
  ASSERT_EQ(parse_ssh(client_stream(), ssh_role::client, c), ssh_error::none);
  ssh_handshake s;
  ASSERT_EQ(parse_ssh(server_stream(), ssh_role::server, s), ssh_error::none);
  // HASSH: kex;enc c2s;mac c2s;comp c2s. HASSH-server: kex;enc s2c;mac s2c;comp s2c.
  EXPECT_EQ(hassh_string(c.kexinit), join4(client_lists, 0, 2, 4, 6));
  EXPECT_EQ(hassh(c.kexinit), md5_hex(join4(client_lists, 0, 2, 4, 6)));
  EXPECT_EQ(hassh_server_string(s.kexinit), join4(server_lists, 0, 3, 5, 7));
  EXPECT_EQ(hassh_server_string(s.kexinit),
            "ecdh-sha2-nistp256,diffie-hellman-group14-sha1;aes256-ctr,aes128-ctr;hmac-sha1;"
            "none,zlib");
  EXPECT_EQ(hassh_server(s.kexinit), md5_hex(hassh_server_string(s.kexinit)));
  EXPECT_EQ(s.kexinit.list(ssh_list::lang_s2c), "en-US");
  EXPECT_EQ(s.kexinit.list(ssh_list::host_key), "ssh-rsa");
  // Empty lists give empty fields.
  ssh_kexinit empty;
  EXPECT_EQ(hassh_string(empty), ";;;");
  EXPECT_EQ(hassh(empty), md5_hex(";;;"));
}

TEST(Ssh, SoftwareSplitTable) {
  struct row {
    const char* sv;
    const char* name;
    const char* version;
  };
  const row rows[] = {
      {"OpenSSH_8.2p1", "OpenSSH", "8.2p1"},
      {"OpenSSH_for_Windows_8.1", "OpenSSH_for_Windows", "8.1"},
      {"Cisco-1.25", "Cisco", "1.25"},
      {"APACHE-SSHD-2.5.0", "APACHE-SSHD", "2.5.0"},
      {"dropbear_2019.78", "dropbear", "2019.78"},
      {"libssh2_1.10.0", "libssh2", "1.10.0"},
      {"Sun_SSH_1.1.8", "Sun_SSH", "1.1.8"},
      {"Go", "Go", ""},
      {"1.82", "1.82", ""},
      {"_1", "_1", ""},
      {"", "", ""},
  };
  for (const auto& r : rows) {
    const auto sw = ssh_software_of(r.sv);
    EXPECT_EQ(sw.name, r.name) << r.sv;
    EXPECT_EQ(sw.version, r.version) << r.sv;
  }
}

TEST(Ssh, Facts) {
  ssh_handshake c;
  ASSERT_EQ(parse_ssh(client_stream(), ssh_role::client, c), ssh_error::none);
  fact_list f;
  ssh_facts(c, packet_view{}, f);
  EXPECT_EQ(f.get("banner"), client_banner);
  EXPECT_EQ(f.get("protocol"), "2.0");
  EXPECT_EQ(f.get("software"), "OpenSSH/8.9p1");
  EXPECT_EQ(f.get("os_hint"), "Ubuntu-3ubuntu0.6");
  EXPECT_EQ(f.get("hassh"), md5_hex(join4(client_lists, 0, 2, 4, 6)));
  EXPECT_EQ(f.get("hassh_string"), join4(client_lists, 0, 2, 4, 6));
  EXPECT_EQ(f.get("hassh_server"), "<absent>");
  for (const auto& x : f.facts) {
    EXPECT_EQ(x.about, subject::sender);
    EXPECT_EQ(x.source.str(), "ssh");
  }
  ssh_handshake s;
  ASSERT_EQ(parse_ssh(server_stream(), ssh_role::server, s), ssh_error::none);
  fact_list g;
  ssh_facts(s, packet_view{}, g);
  EXPECT_EQ(g.get("software"), "ExampleSSHD/2.5.0");
  EXPECT_EQ(g.get("os_hint"), "<absent>");
  EXPECT_EQ(g.get("hassh"), "<absent>");
  EXPECT_EQ(g.get("hassh_server"), md5_hex(join4(server_lists, 0, 3, 5, 7)));
  // Only the line so far: banner facts without HASSH.
  ssh_handshake partial;
  ASSERT_EQ(parse_ssh(text("SSH-2.0-Go\r\n"), ssh_role::server, partial), ssh_error::incomplete);
  fact_list p;
  ssh_facts(partial, packet_view{}, p);
  EXPECT_EQ(p.get("banner"), "SSH-2.0-Go");
  EXPECT_EQ(p.get("software"), "<absent>");  // no version to split off
  EXPECT_EQ(p.get("hassh_server"), "<absent>");
}

// The fuzzer's seeds (tests/fuzz/corpus/ssh/), written when
// TAPSENSE_WRITE_FUZZ_SEEDS names a directory.
TEST(Ssh, FuzzSeeds) {
  bytes_t pre = text("Hello\r\n");
  append(pre, server_stream());
  const std::vector<std::pair<const char*, bytes_t>> seeds = {
      {"client", client_stream()},
      {"server", server_stream()},
      {"server-with-lines-before", pre},
      {"ssh1", text("SSH-1.5-OpenSSH_2.9\n")},
  };
  const char* dir = std::getenv("TAPSENSE_WRITE_FUZZ_SEEDS");
  for (const auto& [name, bytes] : seeds) {
    ssh_handshake h;
    EXPECT_EQ(parse_ssh(bytes, ssh_role::server, h), ssh_error::none) << name;
    if (dir != nullptr) {
      std::ofstream f(std::string(dir) + "/seed-" + name, std::ios::binary);
      f.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    }
  }
}

// ---------------------------------------------------------------------------
// Hand-built exchanges shown to tshark.

TEST(Ssh, SyntheticExchangeAgreesWithTshark) {
  if (!testcap::have_tshark()) {
    GTEST_SKIP() << "tshark absent";
  }
  const std::uint32_t cli = 0x0a000001;
  const std::uint32_t srv = 0x0a000002;
  const bytes_t c = client_stream();
  const bytes_t s = server_stream();
  std::vector<std::vector<std::uint8_t>> frames = {
      testcap::tcp_frame(cli, 50000, srv, 22, 100, 0x02, {}),
      testcap::tcp_frame(srv, 22, cli, 50000, 900, 0x12, {}),
      testcap::tcp_frame(srv, 22, cli, 50000, 901, 0x18,
                         text(std::string(server_banner) + "\r\n")),
      testcap::tcp_frame(cli, 50000, srv, 22, 101, 0x18, c),
      testcap::tcp_frame(srv, 22, cli, 50000,
                         static_cast<std::uint32_t>(901 + std::string(server_banner).size() + 2),
                         0x18, bytes_t(s.begin() + static_cast<std::ptrdiff_t>(std::string(server_banner).size() + 2), s.end())),
  };
  const std::string path = testcap::temp_path("tapsense_ssh");
  testcap::write_pcap(path, frames);
  const auto rows = testcap::tshark_fields(
      path, "ssh", {"tcp.srcport", "ssh.protocol", "ssh.kex.hassh", "ssh.kex.hassh_algorithms",
                    "ssh.kex.hasshserver", "ssh.kex.hasshserver_algorithms"},
      "", 'a', '|');
  std::filesystem::remove(path);
  std::map<std::string, std::string> seen;
  for (const auto& r : rows) {
    for (std::size_t i = 1; i < r.size(); ++i) {
      if (!r[i].empty()) {
        seen[r[0] + "/" + std::to_string(i)] = r[i];
      }
    }
  }
  ssh_handshake ch;
  ssh_handshake sh;
  ASSERT_EQ(parse_ssh(c, ssh_role::client, ch), ssh_error::none);
  ASSERT_EQ(parse_ssh(s, ssh_role::server, sh), ssh_error::none);
  EXPECT_EQ(seen["50000/1"], ch.banner());
  EXPECT_EQ(seen["22/1"], sh.banner());
  EXPECT_EQ(seen["50000/2"], hassh(ch.kexinit));
  EXPECT_EQ(seen["50000/3"], hassh_string(ch.kexinit));
  EXPECT_EQ(seen["22/4"], hassh_server(sh.kexinit));
  EXPECT_EQ(seen["22/5"], hassh_server_string(sh.kexinit));
}

// ---------------------------------------------------------------------------
// Agreement on the shared captures: every direction fed as growing prefixes,
// its role from the TCP handshake (the SYN's sender is the client). Compared:
//   tshark   ssh.protocol per direction; ssh.kex.hassh (client) and
//            ssh.kex.hasshserver (server) with their algorithm strings
//   nDPI     HASSH-C / HASSH-S per flow; the two banners (Hostname/SNI and
//            Server), as a pair: nDPI names the first banner it sees the
//            client's, which is the server's when the server speaks first
//   Zeek     ssh.log client and server banners and the negotiated algorithms
//            (first client algorithm the server also offers, RFC 4253 7.1)

// The captures holding SSH (surveyed with tshark over MANIFEST.tsv); tshark
// needs to be told that port 8000 is SSH in ssh/ssh.pcap.
struct ssh_capture {
  const char* path;
  const char* tshark_extra;
};
const ssh_capture ssh_captures[] = {
    {"ssh/ssh.pcap", "-d tcp.port==8000,ssh"},
    {"ssh/ssh_version_199.pcap", ""},
    {"dns/var-services-std-ports.pcap", ""},
    {"gre/gre-sample.pcap", ""},
};

struct dir_result {
  ssh_handshake h;
  std::string key, peer_key;
};

std::string negotiate(std::string_view client, std::string_view server) {
  const auto c = testcap::split(std::string(client), ',');
  const auto s = testcap::split(std::string(server), ',');
  for (const auto& a : c) {
    if (std::find(s.begin(), s.end(), a) != s.end()) {
      return a;
    }
  }
  return "";
}

std::string last_item(const std::string& s) {
  const auto p = s.rfind('|');
  return p == std::string::npos ? s : s.substr(p + 1);
}

struct tally {
  std::size_t same = 0, total = 0;
  void check(bool ok) {
    ++total;
    same += ok ? 1 : 0;
  }
  std::string str() const { return std::to_string(same) + "/" + std::to_string(total); }
};

TEST(Ssh, AgreesWithTsharkNdpiAndZeekOnSharedCaptures) {
  const std::string root = testcap::shared_pcaps();
  if (!std::filesystem::exists(root)) {
    GTEST_SKIP() << "../shared/pcaps absent";
  }
  if (!testcap::have_tshark()) {
    GTEST_SKIP() << "tshark absent";
  }
  std::ostringstream report;
  std::size_t compared = 0;
  for (const auto& cap : ssh_captures) {
    SCOPED_TRACE(cap.path);
    const std::string path = root + "/" + cap.path;
    const auto dirs = testcap::tcp_directions(testcap::read_capture(path));
    std::map<std::string, const testcap::tcp_direction*> by_key;
    for (const auto& d : dirs) {
      by_key[d.key()] = &d;
    }
    std::map<std::string, ssh_handshake> ours;
    for (const auto& d : dirs) {
      const std::string back = testcap::flow_key(d.dst_text(), std::to_string(d.dport),
                                                 d.src_text(), std::to_string(d.sport));
      const auto peer = by_key.find(back);
      // The SYN's sender is the client; without a SYN, the lower port is the server.
      const bool client = d.syn_seen && peer != by_key.end() && peer->second->syn_seen
                              ? d.first_frame < peer->second->first_frame
                              : d.sport > d.dport;
      ssh_handshake h;
      bool fed = false;
      testcap::feed_prefixes(d, [&h, &fed, client](net::bytes prefix, std::size_t) {
        fed = true;
        return parse_ssh(prefix, client ? ssh_role::client : ssh_role::server, h) ==
               ssh_error::incomplete;
      });
      if (fed && h.has_banner) {
        EXPECT_EQ(h.error, ssh_error::none) << d.key() << " " << ssh_error_name(h.error);
        ours[d.key()] = h;
      }
    }
    tally banner_t, hassh_t, ndpi_hassh, ndpi_banner, zeek_t;
    // tshark
    const std::vector<std::string> fields = {
        "ip.src",        "ipv6.src",          "tcp.srcport",
        "ip.dst",        "ipv6.dst",          "tcp.dstport",
        "frame.number",  "ssh.protocol",      "ssh.kex.hassh",
        "ssh.kex.hassh_algorithms", "ssh.kex.hasshserver", "ssh.kex.hasshserver_algorithms"};
    std::set<std::string> tshark_banner_keys;
    for (const auto& r : testcap::tshark_fields(
             path, "ssh.protocol || ssh.kex.hassh || ssh.kex.hasshserver", fields,
             cap.tshark_extra, 'a', '|')) {
      const std::string src = !r[0].empty() ? last_item(r[0]) : last_item(r[1]);
      const std::string dst = !r[3].empty() ? last_item(r[3]) : last_item(r[4]);
      const std::string key = testcap::flow_key(src, last_item(r[2]), dst, last_item(r[5]));
      const auto it = ours.find(key);
      if (it == ours.end()) {
        ADD_FAILURE() << "frame " << r[6] << ": tshark sees SSH in " << key << ", we do not";
        continue;
      }
      const ssh_handshake& h = it->second;
      if (!r[7].empty()) {
        tshark_banner_keys.insert(key);
        banner_t.check(h.banner() == r[7]);
        EXPECT_EQ(h.banner(), r[7]) << "frame " << r[6];
      }
      if (!r[8].empty()) {
        const bool ok = h.role == ssh_role::client && hassh(h.kexinit) == r[8] &&
                        hassh_string(h.kexinit) == r[9];
        hassh_t.check(ok);
        EXPECT_TRUE(ok) << "frame " << r[6] << ": " << hassh_string(h.kexinit) << " vs " << r[9];
      }
      if (!r[10].empty()) {
        const bool ok = h.role == ssh_role::server && hassh_server(h.kexinit) == r[10] &&
                        hassh_server_string(h.kexinit) == r[11];
        hassh_t.check(ok);
        EXPECT_TRUE(ok) << "frame " << r[6] << ": " << hassh_server_string(h.kexinit) << " vs "
                        << r[11];
      }
    }
    for (const auto& [key, h] : ours) {
      EXPECT_EQ(tshark_banner_keys.count(key), 1u) << "we see a version line in " << key
                                                   << ", tshark does not";
    }
    // nDPI
    const std::string ndpi = path + ".ndpi-result.out";
    if (std::filesystem::exists(ndpi)) {
      for (const auto& line : testcap::lines(testcap::slurp(ndpi))) {
        const auto tcp = line.find("\tTCP ");
        if (tcp == std::string::npos || line.find("HASSH-C: ") == std::string::npos) {
          continue;
        }
        std::istringstream in(line.substr(tcp + 5));
        std::string a, arrow, b;
        in >> a >> arrow >> b;
        auto value = [&line](const std::string& label) {
          const auto p = line.find("[" + label + ": ");
          if (p == std::string::npos) {
            return std::string();
          }
          const auto s = p + label.size() + 3;
          return line.substr(s, line.find(']', s) - s);
        };
        const auto ab = ours.find(a + ">" + b);
        const auto ba = ours.find(b + ">" + a);
        ASSERT_TRUE(ab != ours.end() && ba != ours.end()) << a << " " << b;
        const ssh_handshake& c = ab->second.role == ssh_role::client ? ab->second : ba->second;
        const ssh_handshake& s = ab->second.role == ssh_role::client ? ba->second : ab->second;
        auto upper = [](std::string x) {
          for (auto& ch : x) {
            ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
          }
          return x;
        };
        ndpi_hassh.check(upper(hassh(c.kexinit)) == value("HASSH-C"));
        EXPECT_EQ(upper(hassh(c.kexinit)), value("HASSH-C"));
        ndpi_hassh.check(upper(hassh_server(s.kexinit)) == value("HASSH-S"));
        EXPECT_EQ(upper(hassh_server(s.kexinit)), value("HASSH-S"));
        const std::set<std::string> theirs = {value("Hostname/SNI"), value("Server")};
        const std::set<std::string> mine = {std::string(c.banner()), std::string(s.banner())};
        ndpi_banner.check(theirs == mine);
        EXPECT_EQ(theirs, mine);
      }
    }
    // Zeek
    const std::string zeek_dir = path + ".zeek-baseline";
    if (std::filesystem::exists(zeek_dir)) {
      for (const auto& e : std::filesystem::recursive_directory_iterator(zeek_dir)) {
        if (e.path().filename() != "ssh.log") {
          continue;
        }
        std::vector<std::string> names;
        for (const auto& line : testcap::lines(testcap::slurp(e.path().string()))) {
          if (line.rfind("#fields\t", 0) == 0) {
            names = testcap::split(line.substr(8), '\t');
            continue;
          }
          if (line.empty() || line[0] == '#') {
            continue;
          }
          const auto v = testcap::split(line, '\t');
          std::map<std::string, std::string> col;
          for (std::size_t i = 0; i < names.size() && i < v.size(); ++i) {
            col[names[i]] = v[i];
          }
          const std::string c2s = testcap::flow_key(col["id.orig_h"], col["id.orig_p"],
                                                    col["id.resp_h"], col["id.resp_p"]);
          const std::string s2c = testcap::flow_key(col["id.resp_h"], col["id.resp_p"],
                                                    col["id.orig_h"], col["id.orig_p"]);
          ASSERT_TRUE(ours.count(c2s) == 1 && ours.count(s2c) == 1) << c2s;
          const ssh_kexinit& ck = ours[c2s].kexinit;
          const ssh_kexinit& sk = ours[s2c].kexinit;
          const std::pair<std::string, std::string> checks[] = {
              {col["client"], std::string(ours[c2s].banner())},
              {col["server"], std::string(ours[s2c].banner())},
              {col["kex_alg"], negotiate(ck.list(ssh_list::kex), sk.list(ssh_list::kex))},
              {col["host_key_alg"],
               negotiate(ck.list(ssh_list::host_key), sk.list(ssh_list::host_key))},
              {col["cipher_alg"], negotiate(ck.list(ssh_list::enc_c2s), sk.list(ssh_list::enc_c2s))},
              {col["mac_alg"], negotiate(ck.list(ssh_list::mac_c2s), sk.list(ssh_list::mac_c2s))},
              {col["compression_alg"],
               negotiate(ck.list(ssh_list::comp_c2s), sk.list(ssh_list::comp_c2s))},
          };
          for (const auto& [theirs, mine] : checks) {
            zeek_t.check(theirs == mine);
            EXPECT_EQ(theirs, mine) << e.path();
          }
        }
      }
    }
    report << "  " << cap.path << ": tshark banners " << banner_t.str() << ", hassh "
           << hassh_t.str();
    if (ndpi_hassh.total > 0) {
      report << "; nDPI HASSH-C/S " << ndpi_hassh.str() << ", banner pairs " << ndpi_banner.str();
    }
    if (zeek_t.total > 0) {
      report << "; Zeek ssh.log fields " << zeek_t.str();
    }
    report << "\n";
    compared += banner_t.total + hassh_t.total + ndpi_hassh.total + zeek_t.total;
    EXPECT_GT(banner_t.total, 0u) << "no SSH compared in " << cap.path;
  }
  std::cout << "[ ssh      ] agreement:\n" << report.str();
  RecordProperty("ssh_values_compared", static_cast<int>(compared));
  ASSERT_GT(compared, 0u) << "nothing was compared";
}

}  // namespace
