#pragma once
// Test-only helpers shared by test_tls.cpp, test_ssh.cpp, test_lldp.cpp and
// test_cdp.cpp: read a pcap or pcapng file, decode frames with the project's
// own decoder (tunnels included), reassemble each TCP direction the way the
// fingerprinter will feed the stream parsers, and run tshark.
//
// Nothing here is fast or clever; it is written to be obviously right.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <unistd.h>
#include <string>
#include <vector>

#include "common/net/bytes.h"
#include "common/net/decode.h"
#include "common/net/packet_record.h"

namespace tapsense::testcap {

inline std::vector<std::uint8_t> from_hex(std::string_view h) {
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

struct packet {
  std::size_t frame = 0;  // 1-based, as tshark numbers frames
  std::uint32_t linktype = 0;
  std::vector<std::uint8_t> data;
};

// Classic pcap (either byte order, micro- or nanosecond) or pcapng (SHB,
// IDB, EPB, SPB, obsolete PB; any number of sections).
inline std::vector<packet> read_capture(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  const std::vector<std::uint8_t> d((std::istreambuf_iterator<char>(f)),
                                    std::istreambuf_iterator<char>());
  std::vector<packet> out;
  if (d.size() < 24) {
    ADD_FAILURE() << path << ": too short for a capture file";
    return out;
  }
  const std::uint32_t magic = net::load_le32(d.data());
  if (magic == 0x0a0d0d0a) {
    bool be = false;
    auto u32 = [&](std::size_t off) {
      return be ? net::load_be32(d.data() + off) : net::load_le32(d.data() + off);
    };
    auto u16 = [&](std::size_t off) {
      return be ? net::load_be16(d.data() + off) : net::load_le16(d.data() + off);
    };
    std::vector<std::uint32_t> iface_linktypes;
    std::size_t off = 0;
    std::size_t frame = 0;
    while (net::fits(d.size(), off, 12)) {
      if (net::load_le32(d.data() + off) == 0x0a0d0d0a) {
        be = net::load_be32(d.data() + off + 8) == 0x1a2b3c4d;
        iface_linktypes.clear();
      }
      const std::uint32_t type = u32(off);
      const std::uint32_t len = u32(off + 4);
      if (len < 12 || !net::fits(d.size(), off, len)) {
        ADD_FAILURE() << path << ": bad pcapng block at " << off;
        break;
      }
      if (type == 1) {
        iface_linktypes.push_back(u16(off + 8));
      } else if (type == 6 || type == 2) {
        const std::uint32_t iface = type == 6 ? u32(off + 8) : u16(off + 8);
        const std::uint32_t caplen = u32(off + 20);
        if (!net::fits(len, 28, caplen)) {
          ADD_FAILURE() << path << ": bad EPB at " << off;
          break;
        }
        ++frame;
        out.push_back({frame, iface < iface_linktypes.size() ? iface_linktypes[iface] : 0,
                       std::vector<std::uint8_t>(d.begin() + static_cast<std::ptrdiff_t>(off + 28),
                                                 d.begin() + static_cast<std::ptrdiff_t>(
                                                                 off + 28 + caplen))});
      } else if (type == 3) {
        const std::uint32_t orig = u32(off + 8);
        const std::uint32_t caplen = std::min<std::uint32_t>(orig, len - 16);
        ++frame;
        out.push_back({frame, iface_linktypes.empty() ? 0 : iface_linktypes[0],
                       std::vector<std::uint8_t>(d.begin() + static_cast<std::ptrdiff_t>(off + 12),
                                                 d.begin() + static_cast<std::ptrdiff_t>(
                                                                 off + 12 + caplen))});
      }
      off += len;
    }
    return out;
  }
  bool swapped = false;
  if (magic == 0xa1b2c3d4 || magic == 0xa1b23c4d) {
    swapped = false;
  } else if (magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1) {
    swapped = true;
  } else {
    ADD_FAILURE() << path << ": not a pcap or pcapng file";
    return out;
  }
  auto u32 = [&](std::size_t off) {
    return swapped ? net::load_be32(d.data() + off) : net::load_le32(d.data() + off);
  };
  const std::uint32_t linktype = u32(20) & 0xffff;
  std::size_t off = 24;
  std::size_t frame = 0;
  while (net::fits(d.size(), off, 16)) {
    const std::uint32_t caplen = u32(off + 8);
    if (!net::fits(d.size(), off + 16, caplen)) {
      ADD_FAILURE() << path << ": record " << frame + 1 << " runs past the end";
      break;
    }
    ++frame;
    out.push_back({frame, linktype,
                   std::vector<std::uint8_t>(
                       d.begin() + static_cast<std::ptrdiff_t>(off + 16),
                       d.begin() + static_cast<std::ptrdiff_t>(off + 16 + caplen))});
    off += 16 + caplen;
  }
  return out;
}

// A frame decoded by common/net. Tunnels that common/net does not remove
// (at the time of writing it decodes none) are removed here, trivially:
// GRE carrying Ethernet (0x6558), IP (0x0800/0x86dd) or ERSPAN type I/II
// (0x88be), VXLAN (UDP 4789) and GENEVE (UDP 6081, and 47101 as in
// geneve/geneve-47101.pcap) carrying Ethernet. `frame` is the innermost
// Ethernet frame the offsets refer to.
struct decoded {
  bool ok = false;
  int tunnels = 0;
  std::vector<std::uint8_t> frame;
  net::packet_record rec{};
  net::layer_offsets off{};
};

inline std::vector<std::uint8_t> inner_frame(const std::vector<std::uint8_t>& f,
                                             const net::packet_record& rec,
                                             const net::layer_offsets& off) {
  const std::size_t end = std::min<std::size_t>(off.end, f.size());
  if (rec.ip_proto == net::ipproto::gre && net::fits(end, off.l4, 4)) {
    const std::uint8_t* g = f.data() + off.l4;
    const std::uint16_t flags = net::load_be16(g);
    const std::uint16_t proto = net::load_be16(g + 2);
    std::size_t hl = 4 + ((flags & 0x8000) ? 4 : 0) + ((flags & 0x2000) ? 4 : 0) +
                     ((flags & 0x1000) ? 4 : 0);
    if (proto == 0x88be && (flags & 0x1000) != 0) {
      hl += 8;  // ERSPAN type II header; type I has none (and no sequence number)
    }
    if ((flags & 0x0007) != 0 || !net::fits(end, off.l4, hl)) {
      return {};
    }
    const auto b = f.begin() + static_cast<std::ptrdiff_t>(off.l4 + hl);
    const auto e = f.begin() + static_cast<std::ptrdiff_t>(end);
    if (proto == 0x6558 || proto == 0x88be) {
      return std::vector<std::uint8_t>(b, e);
    }
    if (proto == 0x0800 || proto == 0x86dd) {
      std::vector<std::uint8_t> v(12, 0);
      v.push_back(static_cast<std::uint8_t>(proto >> 8));
      v.push_back(static_cast<std::uint8_t>(proto));
      v.insert(v.end(), b, e);
      return v;
    }
    return {};
  }
  if (rec.ip_proto == net::ipproto::udp && net::fits(end, off.payload, 8)) {
    const std::uint8_t* u = f.data() + off.payload;
    std::size_t hl = 0;
    if (rec.dst_port == 4789 && (u[0] & 0x08) != 0) {
      hl = 8;
    } else if ((rec.dst_port == 6081 || rec.dst_port == 47101) && (u[0] >> 6) == 0 &&
               net::load_be16(u + 2) == 0x6558) {
      hl = 8 + std::size_t{u[0] & 0x3fu} * 4;
    }
    if (hl != 0 && net::fits(end, off.payload, hl)) {
      return std::vector<std::uint8_t>(f.begin() + static_cast<std::ptrdiff_t>(off.payload + hl),
                                       f.begin() + static_cast<std::ptrdiff_t>(end));
    }
  }
  return {};
}

inline decoded decode(const packet& p) {
  decoded d;
  if (p.linktype != 1) {
    return d;  // Ethernet captures only
  }
  d.frame = p.data;
  for (int depth = 0; depth < 4; ++depth) {
    net::anomaly_counters an;
    d.rec = net::packet_record{};
    d.off = net::layer_offsets{};
    d.ok = net::decode_frame(d.frame, 0, d.rec, d.off, an);
    if (!d.ok) {
      return d;
    }
    auto inner = inner_frame(d.frame, d.rec, d.off);
    if (inner.size() < 14) {
      return d;
    }
    d.frame = std::move(inner);
    ++d.tunnels;
  }
  return d;
}

// One direction of a TCP connection, as segments in arrival order.
struct tcp_segment {
  std::size_t frame = 0;
  std::uint32_t seq = 0;
  std::vector<std::uint8_t> payload;
};

struct tcp_direction {
  net::ip_address src, dst;
  std::uint16_t sport = 0, dport = 0;
  bool syn_seen = false;
  std::uint32_t isn = 0;
  std::size_t first_frame = 0;
  std::vector<tcp_segment> segments;

  std::string src_text() const { return src.to_string(); }
  std::string dst_text() const { return dst.to_string(); }
  // "a:p>b:q", the key used to match tshark and nDPI rows.
  std::string key() const {
    return src_text() + ":" + std::to_string(sport) + ">" + dst_text() + ":" +
           std::to_string(dport);
  }
};

inline std::string flow_key(const std::string& src, const std::string& sport,
                            const std::string& dst, const std::string& dport) {
  return src + ":" + sport + ">" + dst + ":" + dport;
}

// Every TCP direction of the capture (tunnels decapsulated), in order of
// first appearance.
inline std::vector<tcp_direction> tcp_directions(const std::vector<packet>& pkts) {
  std::vector<tcp_direction> dirs;
  std::map<std::string, std::size_t> index;
  for (const auto& p : pkts) {
    const decoded d = decode(p);
    if (!d.ok || d.rec.ip_proto != net::ipproto::tcp ||
        (d.rec.flags & net::pktflag::has_ports) == 0 ||
        (d.rec.flags & net::pktflag::later_fragment) != 0 ||
        !net::fits(d.frame.size(), d.off.l4, 20)) {
      continue;
    }
    tcp_direction probe;
    probe.src = d.rec.src_ip;
    probe.dst = d.rec.dst_ip;
    probe.sport = d.rec.src_port;
    probe.dport = d.rec.dst_port;
    const std::string k = probe.key();
    auto it = index.find(k);
    if (it == index.end()) {
      probe.first_frame = p.frame;
      it = index.emplace(k, dirs.size()).first;
      dirs.push_back(probe);
    }
    tcp_direction& dir = dirs[it->second];
    const std::uint32_t seq = net::load_be32(d.frame.data() + d.off.l4 + 4);
    if ((d.rec.tcp_flags & net::tcpflag::syn) != 0) {
      dir.syn_seen = true;
      dir.isn = seq;
    }
    if (d.off.payload < d.off.end) {
      dir.segments.push_back(
          {p.frame, seq,
           std::vector<std::uint8_t>(d.frame.begin() + d.off.payload, d.frame.begin() + d.off.end)});
    }
  }
  return dirs;
}

// Feeds the contiguous, in-order prefix of a direction to `fn(prefix, frame)`
// each time a segment makes it longer (frame: the segment that did), the way
// the fingerprinter does. Stops when fn returns false. Out-of-order segments
// wait until the gap before them is filled; retransmitted bytes are ignored.
inline void feed_prefixes(const tcp_direction& d,
                          const std::function<bool(net::bytes, std::size_t)>& fn) {
  if (d.segments.empty()) {
    return;
  }
  std::uint32_t base = d.syn_seen ? d.isn + 1 : d.segments.front().seq;
  if (!d.syn_seen) {
    for (const auto& s : d.segments) {
      if (static_cast<std::int32_t>(s.seq - base) < 0) {
        base = s.seq;
      }
    }
  }
  std::vector<std::uint8_t> prefix;
  std::vector<const tcp_segment*> waiting;
  for (const auto& s : d.segments) {
    waiting.push_back(&s);
    bool grew = false;
    for (bool progress = true; progress;) {
      progress = false;
      for (auto it = waiting.begin(); it != waiting.end();) {
        const std::int64_t rel = static_cast<std::int32_t>((*it)->seq - base);
        const std::int64_t end = rel + static_cast<std::int64_t>((*it)->payload.size());
        const auto have = static_cast<std::int64_t>(prefix.size());
        if (end <= have) {
          it = waiting.erase(it);  // old data (retransmission)
        } else if (rel <= have) {
          prefix.insert(prefix.end(), (*it)->payload.begin() + (have - rel), (*it)->payload.end());
          it = waiting.erase(it);
          progress = grew = true;
        } else {
          ++it;
        }
      }
    }
    if (grew && !fn(prefix, s.frame)) {
      return;
    }
  }
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

// Lines split on '\n' only (tshark values may hold other control bytes).
inline std::vector<std::string> lines(const std::string& text) {
  auto v = split(text, '\n');
  if (!v.empty() && v.back().empty()) {
    v.pop_back();
  }
  return v;
}

// Runs a shell command (stderr discarded by the caller's redirection) and
// returns its standard output.
inline std::string run(const std::string& cmd) {
  std::string text;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) {
    ADD_FAILURE() << "popen failed: " << cmd;
    return text;
  }
  char buf[65536];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
    text.append(buf, n);
  }
  EXPECT_EQ(::pclose(p), 0) << cmd;
  return text;
}

inline bool have_tshark() { return std::system("command -v tshark >/dev/null 2>&1") == 0; }

inline std::string shared_pcaps() { return TAPSENSE_SHARED_PCAPS; }

// tshark -T fields rows for `filter`, columns as asked, '\t'-separated,
// multiple occurrences joined by `agg`. `occurrence` is f, l or a.
inline std::vector<std::vector<std::string>> tshark_fields(const std::string& path,
                                                           const std::string& filter,
                                                           const std::vector<std::string>& fields,
                                                           const std::string& extra = "",
                                                           char occurrence = 'a',
                                                           char agg = ',') {
  std::string cmd = "tshark -r '" + path + "' " + extra + " -Y '" + filter +
                    "' -T fields -E separator=/t -E 'aggregator=" + std::string(1, agg) +
                    "' -E occurrence=" + std::string(1, occurrence);
  for (const auto& f : fields) {
    cmd += " -e " + f;
  }
  cmd += " 2>/dev/null";
  std::vector<std::vector<std::string>> rows;
  for (const auto& line : lines(run(cmd))) {
    auto cols = split(line, '\t');
    EXPECT_EQ(cols.size(), fields.size()) << line;
    cols.resize(fields.size());
    rows.push_back(std::move(cols));
  }
  return rows;
}

// Reads a whole text file ("" when absent).
inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// Writes frames to a classic Ethernet pcap for tshark to read.
inline void write_pcap(const std::string& path, const std::vector<std::vector<std::uint8_t>>& frames) {
  std::ofstream f(path, std::ios::binary);
  auto le32 = [&f](std::uint32_t x) {
    const char b[4] = {static_cast<char>(x), static_cast<char>(x >> 8), static_cast<char>(x >> 16),
                       static_cast<char>(x >> 24)};
    f.write(b, 4);
  };
  le32(0xa1b2c3d4);
  le32(0x00040002);
  le32(0);
  le32(0);
  le32(262144);
  le32(1);
  std::uint32_t t = 0;
  for (const auto& fr : frames) {
    le32(1700000000);
    le32(t++);
    le32(static_cast<std::uint32_t>(fr.size()));
    le32(static_cast<std::uint32_t>(fr.size()));
    f.write(reinterpret_cast<const char*>(fr.data()), static_cast<std::streamsize>(fr.size()));
  }
}

inline std::string temp_path(const std::string& stem) {
  return (std::filesystem::temp_directory_path() /
          (stem + "_" + std::to_string(::getpid()) + ".pcap"))
      .string();
}

// An Ethernet/IPv4/TCP frame carrying `payload` (checksums zero: tshark does
// not check them by default).
inline std::vector<std::uint8_t> tcp_frame(std::uint32_t src_ip, std::uint16_t sport,
                                           std::uint32_t dst_ip, std::uint16_t dport,
                                           std::uint32_t seq, std::uint8_t flags,
                                           const std::vector<std::uint8_t>& payload) {
  std::vector<std::uint8_t> f = from_hex("020000000002 020000000001 0800");
  const std::size_t ip_len = 20 + 20 + payload.size();
  auto push16 = [&f](std::size_t v) {
    f.push_back(static_cast<std::uint8_t>(v >> 8));
    f.push_back(static_cast<std::uint8_t>(v));
  };
  auto push32 = [&f](std::uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) {
      f.push_back(static_cast<std::uint8_t>(v >> s));
    }
  };
  f.push_back(0x45);
  f.push_back(0);
  push16(ip_len);
  push16(0);
  push16(0x4000);
  f.push_back(64);
  f.push_back(6);
  push16(0);
  push32(src_ip);
  push32(dst_ip);
  push16(sport);
  push16(dport);
  push32(seq);
  push32(flags & 0x10 ? 1u : 0u);
  f.push_back(0x50);
  f.push_back(flags);
  push16(65535);
  push16(0);
  push16(0);
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}

}  // namespace tapsense::testcap
