#pragma once
// Helpers shared by the decapsulation and fragment tests: byte builders for
// hand-made frames (each layer takes its payload and fills in its own length
// fields), a classic-pcap reader, and a tshark runner for agreement tests.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "common/net/addr.h"
#include "common/net/bytes.h"

namespace decap_test {

using frame = std::vector<std::uint8_t>;

inline void put16(frame& f, unsigned v) {
  f.push_back(static_cast<std::uint8_t>(v >> 8));
  f.push_back(static_cast<std::uint8_t>(v));
}
inline void put32(frame& f, std::uint32_t v) {
  put16(f, v >> 16);
  put16(f, v & 0xffff);
}
inline frame cat(std::initializer_list<frame> parts) {
  frame out;
  for (const auto& p : parts) {
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}
inline frame filler(std::size_t n, std::uint8_t start = 0x41) {
  frame f(n);
  for (std::size_t i = 0; i < n; ++i) {
    f[i] = static_cast<std::uint8_t>(start + i % 26);
  }
  return f;
}
inline void put_mac(frame& f, std::uint64_t m) {
  for (int i = 5; i >= 0; --i) {
    f.push_back(static_cast<std::uint8_t>(m >> (8 * i)));
  }
}
inline void put_ip(frame& f, const char* text, bool v6) {
  const auto a = tapsense::net::ip_address::parse(text);
  EXPECT_TRUE(a.has_value()) << text;
  const auto b = a.value_or(tapsense::net::ip_address{}).b;
  f.insert(f.end(), v6 ? b.begin() : b.begin() + 12, b.end());
}

// Ethernet II: dst, src, EtherType, payload.
inline frame eth(std::uint64_t dst, std::uint64_t src, unsigned type, const frame& payload) {
  frame f;
  put_mac(f, dst);
  put_mac(f, src);
  put16(f, type);
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}
// The 4 bytes after a TPID: TCI (pcp 0, vid) and the next EtherType.
inline frame tag(unsigned vid, unsigned next_type, const frame& payload) {
  frame f;
  put16(f, vid & 0x0fff);
  put16(f, next_type);
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}

struct ipv4_opts {
  std::uint8_t ttl = 64;
  std::uint16_t id = 0x1234;
  std::uint16_t frag = 0;  // flags and offset field as on the wire
  frame options = {};      // multiple of 4 bytes
  int total_override = -1;
};
inline frame ipv4(const char* src, const char* dst, std::uint8_t proto, const frame& payload,
                  const ipv4_opts& o = {}) {
  frame f;
  const std::size_t ihl = 20 + o.options.size();
  f.push_back(static_cast<std::uint8_t>(0x40 | (ihl / 4)));
  f.push_back(0);
  put16(f, o.total_override >= 0 ? static_cast<unsigned>(o.total_override)
                                 : static_cast<unsigned>(ihl + payload.size()));
  put16(f, o.id);
  put16(f, o.frag);
  f.push_back(o.ttl);
  f.push_back(proto);
  put16(f, 0);
  put_ip(f, src, false);
  put_ip(f, dst, false);
  f.insert(f.end(), o.options.begin(), o.options.end());
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}
inline frame ipv6(const char* src, const char* dst, std::uint8_t next, const frame& payload,
                  std::uint8_t hlim = 64) {
  frame f;
  put32(f, 0x60000000);
  put16(f, static_cast<unsigned>(payload.size()));
  f.push_back(next);
  f.push_back(hlim);
  put_ip(f, src, true);
  put_ip(f, dst, true);
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}
// IPv6 fragment header: next header, offset in bytes (multiple of 8), M, id.
inline frame ipv6_frag(std::uint8_t next, unsigned offset, bool more, std::uint32_t id,
                       const frame& payload) {
  frame f;
  f.push_back(next);
  f.push_back(0);
  put16(f, (offset & 0xfff8u) | (more ? 1u : 0u));
  put32(f, id);
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}
inline frame udp(unsigned sport, unsigned dport, const frame& payload) {
  frame f;
  put16(f, sport);
  put16(f, dport);
  put16(f, static_cast<unsigned>(8 + payload.size()));
  put16(f, 0);
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}
inline frame tcp(unsigned sport, unsigned dport, std::uint8_t flags, const frame& payload = {}) {
  frame f;
  put16(f, sport);
  put16(f, dport);
  put32(f, 1000);
  put32(f, 0);
  f.push_back(0x50);
  f.push_back(flags);
  put16(f, 8192);
  put16(f, 0);
  put16(f, 0);
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}
inline frame icmp_echo(const frame& payload = filler(8)) {
  frame f{8, 0, 0, 0, 0, 1, 0, 1};
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}

struct gre_opts {
  bool checksum = false;
  bool key = false;
  bool sequence = false;
  std::uint32_t key_value = 0;
  std::uint32_t seq_value = 0;
  unsigned version = 0;
};
inline frame gre(unsigned proto, const frame& payload, const gre_opts& o = {}) {
  frame f;
  put16(f, (o.checksum ? 0x8000u : 0u) | (o.key ? 0x2000u : 0u) | (o.sequence ? 0x1000u : 0u) |
               (o.version & 7u));
  put16(f, proto);
  if (o.checksum) {
    put32(f, 0xbeef0000);
  }
  if (o.key) {
    put32(f, o.key_value);
  }
  if (o.sequence) {
    put32(f, o.seq_value);
  }
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}
inline frame erspan2(unsigned vlan, unsigned session, const frame& payload) {
  frame f;
  put16(f, 0x1000u | (vlan & 0x0fff));
  put16(f, session & 0x03ff);
  put32(f, 0x00000007);  // reserved, index
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}
inline frame erspan3(unsigned vlan, unsigned session, const frame& payload, unsigned ft = 0,
                     bool platform = false) {
  frame f;
  put16(f, 0x2000u | (vlan & 0x0fff));
  put16(f, session & 0x03ff);
  put32(f, 0x00001458);  // timestamp
  put16(f, 0);           // SGT
  // P(1) FT(5) HW(6) D(1) Gra(2) O(1)
  put16(f, (ft == 0 ? 0x8000u : 0u) | ((ft & 0x1f) << 10) | (3u << 4) | (platform ? 1u : 0u));
  if (platform) {
    put32(f, 0x0c000000);  // platform id 3
    put32(f, 0x00000001);
  }
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}
inline frame vxlan(std::uint32_t vni, const frame& payload, std::uint8_t flags = 0x08) {
  frame f{flags, 0, 0, 0};
  put32(f, vni << 8);
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}
inline frame geneve(std::uint32_t vni, unsigned proto, const frame& options, const frame& payload,
                    unsigned version = 0) {
  frame f;
  f.push_back(static_cast<std::uint8_t>((version << 6) | (options.size() / 4)));
  f.push_back(0);
  put16(f, proto);
  put32(f, vni << 8);
  f.insert(f.end(), options.begin(), options.end());
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}
// GENEVE option TLV: class, type, data (a multiple of 4 bytes).
inline frame geneve_option(unsigned cls, std::uint8_t type, const frame& data) {
  frame f;
  put16(f, cls);
  f.push_back(type);
  f.push_back(static_cast<std::uint8_t>(data.size() / 4));
  f.insert(f.end(), data.begin(), data.end());
  return f;
}
// An MPLS label stack; the last label gets the bottom-of-stack bit.
inline frame mpls(std::initializer_list<std::uint32_t> labels, const frame& payload) {
  frame f;
  std::size_t i = 0;
  for (auto l : labels) {
    ++i;
    put32(f, (l << 12) | (i == labels.size() ? 0x100u : 0u) | 64u);
  }
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}

// ---------------------------------------------------------------------------
// Real captures

struct pcap_packet {
  std::size_t frame;  // 1-based, as tshark numbers frames
  std::uint64_t ts_ns;
  std::uint32_t orig_len;
  std::vector<std::uint8_t> data;
};

// Classic libpcap files, either byte order, micro- or nanosecond stamps.
inline std::vector<pcap_packet> read_pcap(const std::string& path, std::uint32_t& linktype) {
  namespace net = tapsense::net;
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
  bool nano = false;
  if (magic == 0xa1b2c3d4 || magic == 0xa1b23c4d) {
    nano = magic == 0xa1b23c4d;
  } else if (magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1) {
    swapped = true;
    nano = magic == 0x4d3cb2a1;
  } else {
    ADD_FAILURE() << path << ": not a classic pcap file";
    return out;
  }
  auto u32 = [&](std::size_t off) {
    return swapped ? net::load_be32(d.data() + off) : net::load_le32(d.data() + off);
  };
  linktype = u32(20) & 0xffff;
  std::size_t off = 24;
  std::size_t n = 0;
  while (net::fits(d.size(), off, 16)) {
    const std::uint32_t caplen = u32(off + 8);
    if (!net::fits(d.size(), off + 16, caplen)) {
      ADD_FAILURE() << path << ": record " << n + 1 << " runs past the end";
      break;
    }
    ++n;
    const std::uint64_t ts = std::uint64_t{u32(off)} * 1000000000ULL +
                             std::uint64_t{u32(off + 4)} * (nano ? 1ULL : 1000ULL);
    out.push_back({n, ts, u32(off + 12),
                   std::vector<std::uint8_t>(d.begin() + static_cast<std::ptrdiff_t>(off + 16),
                                             d.begin() + static_cast<std::ptrdiff_t>(off + 16 + caplen))});
    off += 16 + caplen;
  }
  return out;
}

inline std::vector<std::string> split(const std::string& s, char sep) {
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

inline bool have_tshark() { return std::system("command -v tshark >/dev/null 2>&1") == 0; }

inline std::string shared_pcaps() { return TAPSENSE_SHARED_PCAPS; }

// Runs tshark over `path` with `args` (fields, filters, preferences) and
// returns one row of tab-separated columns per frame, keyed by the first
// column (which must be frame.number).
inline std::map<std::size_t, std::vector<std::string>> tshark_rows(const std::string& path,
                                                                   const std::string& args) {
  const std::string cmd = "tshark -r '" + path + "' " + args + " 2>/dev/null";
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
    rows[std::stoul(cols[0])] = cols;
  }
  return rows;
}

}  // namespace decap_test
