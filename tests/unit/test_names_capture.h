#pragma once
// Test support for the name parsers' agreement tests (test_dns, test_nbns,
// test_smb, test_http, test_ssdp): reads a shared capture (classic pcap or
// pcapng), decodes each frame with the pipeline's own net::decode_frame, and
// hands the payloads to a parser the way the fingerprinter will:
//   - UDP: one datagram's payload (bounded by the UDP length) per call;
//   - TCP: per direction, the first bytes of the stream, segments put in
//     sequence order and joined while contiguous, up to a prefix cap.
// Also runs tshark and compares fact sets: tshark's view of the capture
// becomes (address, field, value) triples that the parsers' facts must
// contain. Header-only; test code, so it may allocate freely.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

// Boost.JSON compiled into this test binary (one including .cpp per binary).
#include <boost/json/src.hpp>

#include "common/net/bytes.h"
#include "common/net/decode.h"
#include "common/proto/facts.h"

namespace names_test {

using namespace tapsense;

inline std::string shared_pcaps() { return TAPSENSE_SHARED_PCAPS; }

inline bool have_tshark() { return std::system("command -v tshark >/dev/null 2>&1") == 0; }

struct capture_record {
  std::size_t frame = 0;  // 1-based, as tshark numbers frames
  std::uint32_t linktype = 0;
  std::uint32_t orig_len = 0;
  std::vector<std::uint8_t> data;
};

// Classic pcap (both byte orders, micro/nano) or pcapng (SHB byte order,
// IDB link types, EPB/SPB/obsolete PB). Fails the test on a broken file.
inline std::vector<capture_record> read_capture(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  const std::vector<std::uint8_t> d((std::istreambuf_iterator<char>(f)),
                                    std::istreambuf_iterator<char>());
  std::vector<capture_record> out;
  if (d.size() < 24) {
    ADD_FAILURE() << path << ": too short for a capture";
    return out;
  }
  const std::uint32_t magic = net::load_le32(d.data());
  if (magic == 0x0a0d0d0a) {
    bool be = false;
    std::vector<std::uint32_t> linktypes;
    auto u32 = [&](std::size_t o) { return be ? net::load_be32(d.data() + o) : net::load_le32(d.data() + o); };
    auto u16 = [&](std::size_t o) { return be ? net::load_be16(d.data() + o) : net::load_le16(d.data() + o); };
    std::size_t off = 0;
    std::size_t frame = 0;
    while (net::fits(d.size(), off, 12)) {
      const std::uint32_t type_le = net::load_le32(d.data() + off);
      if (type_le == 0x0a0d0d0a) {
        be = net::load_be32(d.data() + off + 8) == 0x1a2b3c4d;
        linktypes.clear();
      }
      const std::uint32_t type = u32(off);
      const std::uint32_t len = u32(off + 4);
      if (len < 12 || !net::fits(d.size(), off, len)) {
        ADD_FAILURE() << path << ": pcapng block at " << off << " runs past the end";
        break;
      }
      if (type == 1) {
        linktypes.push_back(u16(off + 8));
      } else if (type == 6 || type == 2) {  // EPB, obsolete PB
        const std::uint32_t iface = type == 6 ? u32(off + 8) : u16(off + 8);
        const std::uint32_t caplen = u32(off + 20);
        const std::uint32_t wire = u32(off + 24);
        if (!net::fits(len, 28, caplen)) {
          ADD_FAILURE() << path << ": packet block overflows";
          break;
        }
        ++frame;
        capture_record r;
        r.frame = frame;
        r.linktype = iface < linktypes.size() ? linktypes[iface] : 0;
        r.orig_len = wire;
        r.data.assign(d.begin() + static_cast<std::ptrdiff_t>(off + 28),
                      d.begin() + static_cast<std::ptrdiff_t>(off + 28 + caplen));
        out.push_back(std::move(r));
      } else if (type == 3) {  // SPB
        const std::uint32_t wire = u32(off + 8);
        const std::uint32_t caplen = std::min<std::uint32_t>(wire, len - 16);
        ++frame;
        capture_record r;
        r.frame = frame;
        r.linktype = linktypes.empty() ? 0 : linktypes[0];
        r.orig_len = wire;
        r.data.assign(d.begin() + static_cast<std::ptrdiff_t>(off + 12),
                      d.begin() + static_cast<std::ptrdiff_t>(off + 12 + caplen));
        out.push_back(std::move(r));
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
    ADD_FAILURE() << path << ": neither pcap nor pcapng";
    return out;
  }
  auto u32 = [&](std::size_t o) {
    return swapped ? net::load_be32(d.data() + o) : net::load_le32(d.data() + o);
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
    capture_record r;
    r.frame = frame;
    r.linktype = linktype;
    r.orig_len = u32(off + 12);
    r.data.assign(d.begin() + static_cast<std::ptrdiff_t>(off + 16),
                  d.begin() + static_cast<std::ptrdiff_t>(off + 16 + caplen));
    out.push_back(std::move(r));
    off += 16 + caplen;
  }
  return out;
}

// One decoded packet with its L4 payload.
struct decoded_packet {
  std::size_t frame = 0;
  net::packet_record rec{};
  proto::packet_view view;
  bool fragment = false;  // IP fragment: the payload is not a whole datagram
  std::uint32_t tcp_seq = 0;
  std::uint8_t tcp_flags = 0;
  std::vector<std::uint8_t> payload;
};

// GRE transparent Ethernet bridging (RFC 1701/2784 + 0x6558): the inner
// Ethernet frame, or empty. common/net's decode_frame does not strip
// tunnels yet on this branch; the captures' GRE traffic is reached by
// unwrapping it here, as the decapsulating capture stage will.
inline std::vector<std::uint8_t> gre_teb_inner(const std::vector<std::uint8_t>& frame, std::size_t gre_at) {
  if (!net::fits(frame.size(), gre_at, 4)) {
    return {};
  }
  const std::uint16_t flags = net::load_be16(frame.data() + gre_at);
  if (net::load_be16(frame.data() + gre_at + 2) != 0x6558 || (flags & 0x0007) != 0) {
    return {};
  }
  std::size_t at = gre_at + 4;
  at += (flags & 0x8000) != 0 ? 4 : 0;  // checksum + reserved
  at += (flags & 0x2000) != 0 ? 4 : 0;  // key
  at += (flags & 0x1000) != 0 ? 4 : 0;  // sequence number
  if (at >= frame.size()) {
    return {};
  }
  return {frame.begin() + static_cast<std::ptrdiff_t>(at), frame.end()};
}

inline std::vector<decoded_packet> decode_capture(const std::string& path) {
  std::vector<decoded_packet> out;
  for (const auto& r : read_capture(path)) {
    if (r.linktype != 1) {
      continue;  // Ethernet only
    }
    std::vector<std::uint8_t> frame = r.data;
    decoded_packet p;
    p.frame = r.frame;
    net::layer_offsets off{};
    net::anomaly_counters anomalies;
    bool ok = net::decode_frame(frame, r.orig_len, p.rec, off, anomalies);
    if (ok && p.rec.ip_proto == net::ipproto::gre && (p.rec.flags & net::pktflag::fragment) == 0) {
      auto inner = gre_teb_inner(frame, off.l4);
      if (!inner.empty()) {
        frame = std::move(inner);
        off = {};
        ok = net::decode_frame(frame, 0, p.rec, off, anomalies);
      }
    }
    if (!ok || (p.rec.flags & net::pktflag::has_ports) == 0 ||
        (p.rec.ip_proto != net::ipproto::tcp && p.rec.ip_proto != net::ipproto::udp)) {
      continue;
    }
    p.fragment = (p.rec.flags & net::pktflag::fragment) != 0;
    p.view.src_ip = p.rec.src_ip;
    p.view.dst_ip = p.rec.dst_ip;
    p.view.src_mac = p.rec.src_mac;
    p.view.dst_mac = p.rec.dst_mac;
    p.view.src_port = p.rec.src_port;
    p.view.dst_port = p.rec.dst_port;
    p.view.ip_proto = p.rec.ip_proto;
    p.view.has_ip = true;
    const std::size_t end = std::min<std::size_t>(off.end, std::size_t{off.payload} + p.rec.l4_payload);
    if (p.rec.ip_proto == net::ipproto::tcp && net::fits(frame.size(), off.l4, 14)) {
      p.tcp_seq = net::load_be32(frame.data() + off.l4 + 4);
      p.tcp_flags = frame[off.l4 + 13];
    }
    if (end > off.payload) {
      p.payload.assign(frame.begin() + off.payload, frame.begin() + static_cast<std::ptrdiff_t>(end));
    }
    out.push_back(std::move(p));
  }
  return out;
}

// One direction of a TCP connection: its first bytes in sequence order.
struct tcp_direction {
  proto::packet_view view;      // from the first packet in this direction
  std::size_t first_frame = 0;  // frame of the first payload segment
  std::vector<std::uint8_t> prefix;
};

// Reassembles, per direction, the stream from its initial sequence number
// (SYN + 1, or the lowest payload sequence number when the SYN was not
// captured) while segments are contiguous, up to `cap` bytes.
inline std::vector<tcp_direction> tcp_prefixes(const std::vector<decoded_packet>& pkts,
                                               std::size_t cap) {
  struct seg {
    std::uint32_t rel;
    const decoded_packet* p;
  };
  struct dir {
    bool have_syn = false;
    std::uint32_t isn = 0;
    std::vector<const decoded_packet*> segs;
    std::size_t order = 0;
  };
  std::map<std::string, dir> dirs;
  std::size_t order = 0;
  for (const auto& p : pkts) {
    if (p.rec.ip_proto != net::ipproto::tcp || p.fragment) {
      continue;
    }
    const std::string key = p.view.src_ip.to_string() + "|" + std::to_string(p.view.src_port) + "|" +
                            p.view.dst_ip.to_string() + "|" + std::to_string(p.view.dst_port);
    auto [it, fresh] = dirs.try_emplace(key);
    if (fresh) {
      it->second.order = order++;
    }
    if ((p.tcp_flags & net::tcpflag::syn) != 0 && !it->second.have_syn) {
      it->second.have_syn = true;
      it->second.isn = p.tcp_seq + 1;
    }
    if (!p.payload.empty()) {
      it->second.segs.push_back(&p);
    }
  }
  std::vector<std::pair<std::size_t, tcp_direction>> out;
  for (auto& [key, d] : dirs) {
    if (d.segs.empty()) {
      continue;
    }
    std::uint32_t base = d.isn;
    if (!d.have_syn) {
      // Lowest sequence number, modulo wrap: relative to the first segment.
      const std::uint32_t first = d.segs.front()->tcp_seq;
      std::uint32_t lowest_rel = 0;
      for (const auto* s : d.segs) {
        const std::uint32_t rel = s->tcp_seq - first;
        if (rel > 0x80000000u && (lowest_rel == 0 || rel < lowest_rel)) {
          lowest_rel = rel;  // before the first segment
        }
      }
      base = first + lowest_rel;
    }
    std::vector<seg> segs;
    for (const auto* s : d.segs) {
      segs.push_back({s->tcp_seq - base, s});
    }
    std::stable_sort(segs.begin(), segs.end(), [](const seg& a, const seg& b) { return a.rel < b.rel; });
    tcp_direction t;
    t.view = d.segs.front()->view;
    t.first_frame = d.segs.front()->frame;
    for (const auto& s : segs) {
      if (s.rel > 0x80000000u) {
        continue;  // before the start (retransmitted SYN data): ignore
      }
      const std::size_t have = t.prefix.size();
      if (s.rel > have) {
        break;  // a hole: the prefix ends here
      }
      const std::size_t skip = have - s.rel;
      if (skip >= s.p->payload.size()) {
        continue;  // retransmission of bytes we have
      }
      t.prefix.insert(t.prefix.end(), s.p->payload.begin() + static_cast<std::ptrdiff_t>(skip),
                      s.p->payload.end());
      if (t.prefix.size() >= cap) {
        t.prefix.resize(cap);
        break;
      }
    }
    out.emplace_back(d.order, std::move(t));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<tcp_direction> result;
  for (auto& o : out) {
    result.push_back(std::move(o.second));
  }
  return result;
}

// ---- Facts ----

struct recorded_fact {
  proto::fact f;
  proto::packet_view pkt;
  std::size_t frame = 0;
  // The address the fact is about ("" for a sender/receiver without IP).
  std::string address() const {
    switch (f.about) {
      case proto::subject::sender:
        return pkt.src_ip.to_string();
      case proto::subject::receiver:
        return pkt.dst_ip.to_string();
      case proto::subject::ip:
        return f.ip.to_string();
      case proto::subject::mac:
        return f.mac.to_string();
    }
    return {};
  }
};

class recording_sink : public proto::fact_sink {
 public:
  void set_packet(const proto::packet_view& pkt, std::size_t frame) {
    pkt_ = pkt;
    frame_ = frame;
  }
  void add(proto::fact f) override { facts.push_back({std::move(f), pkt_, frame_}); }
  std::vector<recorded_fact> facts;

 private:
  proto::packet_view pkt_{};
  std::size_t frame_ = 0;
};

// A fact as a comparable triple: "address|field|value".
inline std::string triple(const std::string& address, std::string_view field, std::string_view value) {
  return address + "|" + std::string(field) + "|" + std::string(value);
}

inline std::set<std::string> triples(const std::vector<recorded_fact>& facts) {
  std::set<std::string> s;
  for (const auto& r : facts) {
    s.insert(triple(r.address(), r.f.field, r.f.value));
  }
  return s;
}

// ---- tshark ----

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

// Field values within one tshark column are joined with this byte (TXT
// strings and user agents contain commas).
inline constexpr char agg = '\x1f';

// Rows of `tshark -T fields` for `filter`, each split into its columns
// (and each column's occurrences by split(col, agg)). Lines end with '\n'
// only; no other control character splits them.
inline std::vector<std::vector<std::string>> tshark_rows(const std::string& path,
                                                         const std::string& filter,
                                                         const std::vector<std::string>& fields,
                                                         const std::string& extra = "") {
  std::string cmd = "tshark -r '" + path + "' -Y '" + filter +
                    "' -T fields -E separator=/t -E occurrence=a -E 'aggregator=" + std::string(1, agg) +
                    "' " + extra;
  for (const auto& f : fields) {
    cmd += " -e " + f;
  }
  cmd += " 2>/dev/null";
  std::vector<std::vector<std::string>> rows;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) {
    ADD_FAILURE() << "popen failed: " << cmd;
    return rows;
  }
  std::string text;
  char buf[65536];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
    text.append(buf, n);
  }
  EXPECT_EQ(::pclose(p), 0) << cmd;
  for (const auto& line : split(text, '\n')) {
    if (line.empty()) {
      continue;
    }
    auto cols = split(line, '\t');
    EXPECT_EQ(cols.size(), fields.size()) << line;
    cols.resize(fields.size());
    rows.push_back(std::move(cols));
  }
  return rows;
}

// tshark's escapes in string fields: "\\" -> "\", "\xNN", "\r", "\n", "\t".
inline std::string tshark_unescape(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    const char c = s[++i];
    if (c == 'r') {
      out += '\r';
    } else if (c == 'n') {
      out += '\n';
    } else if (c == 't') {
      out += '\t';
    } else if (c == 'x' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

// tshark's packet tree (`-T json --no-duplicate-keys`): one object per
// packet, {"_source": {"layers": {...}}}; repeated keys become arrays.
inline boost::json::array tshark_json(const std::string& path, const std::string& filter,
                                      const std::string& protocols) {
  const std::string cmd = "tshark -r '" + path + "' -Y '" + filter +
                          "' -T json --no-duplicate-keys -J '" + protocols + "' 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) {
    ADD_FAILURE() << "popen failed: " << cmd;
    return {};
  }
  std::string text;
  char buf[65536];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
    text.append(buf, n);
  }
  EXPECT_EQ(::pclose(p), 0) << cmd;
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec || !v.is_array()) {
    ADD_FAILURE() << "tshark JSON unreadable: " << ec.message() << " (" << cmd << ")";
    return {};
  }
  return std::move(v.as_array());
}

// An object, or each object of an array (a key repeated in tshark's tree).
inline std::vector<const boost::json::object*> objects(const boost::json::value* v) {
  std::vector<const boost::json::object*> out;
  if (v == nullptr) {
    return out;
  }
  if (v->is_object()) {
    out.push_back(&v->as_object());
  } else if (v->is_array()) {
    for (const auto& e : v->as_array()) {
      if (e.is_object()) {
        out.push_back(&e.as_object());
      }
    }
  }
  return out;
}

// A string field, or each string of an array of them.
inline std::vector<std::string> strings(const boost::json::object& o, std::string_view key) {
  std::vector<std::string> out;
  const auto* v = o.if_contains(key);
  if (v == nullptr) {
    return out;
  }
  if (v->is_string()) {
    out.emplace_back(v->as_string());
  } else if (v->is_array()) {
    for (const auto& e : v->as_array()) {
      if (e.is_string()) {
        out.emplace_back(e.as_string());
      }
    }
  }
  return out;
}

inline std::string str(const boost::json::object& o, std::string_view key) {
  const auto s = strings(o, key);
  return s.empty() ? std::string{} : s.front();
}

// The layers of one packet; `name` may repeat (tunnels): the last wins.
inline const boost::json::object* layer(const boost::json::value& packet, std::string_view name) {
  const auto* src = packet.is_object() ? packet.as_object().if_contains("_source") : nullptr;
  const auto* layers = src != nullptr && src->is_object() ? src->as_object().if_contains("layers") : nullptr;
  if (layers == nullptr || !layers->is_object()) {
    return nullptr;
  }
  const auto all = objects(layers->as_object().if_contains(name));
  return all.empty() ? nullptr : all.back();
}

// Source address of a packet (innermost IPv4 or IPv6).
inline std::string json_src(const boost::json::value& packet) {
  if (const auto* ip = layer(packet, "ip")) {
    return strings(*ip, "ip.src").empty() ? "" : strings(*ip, "ip.src").back();
  }
  if (const auto* ip6 = layer(packet, "ipv6")) {
    return strings(*ip6, "ipv6.src").empty() ? "" : strings(*ip6, "ipv6.src").back();
  }
  return {};
}
inline std::string json_dst(const boost::json::value& packet) {
  if (const auto* ip = layer(packet, "ip")) {
    return strings(*ip, "ip.dst").empty() ? "" : strings(*ip, "ip.dst").back();
  }
  if (const auto* ip6 = layer(packet, "ipv6")) {
    return strings(*ip6, "ipv6.dst").empty() ? "" : strings(*ip6, "ipv6.dst").back();
  }
  return {};
}

inline std::size_t json_frame(const boost::json::value& packet) {
  const auto* f = layer(packet, "frame");
  const std::string n = f == nullptr ? "" : str(*f, "frame.number");
  return n.empty() ? 0 : std::stoul(n);
}

// ---- Fuzz seeds ----

// Where WriteFuzzSeeds tests put their seeds: $TAPSENSE_WRITE_SEEDS/<target>/
// (unset: the tests skip). The corpora under tests/fuzz/corpus/ were made
// this way from the hand-built fixtures, never from capture bytes:
//   TAPSENSE_WRITE_SEEDS=tests/fuzz/corpus build/tests/unit_dns --gtest_filter='*WriteFuzzSeeds*'
inline const char* seed_dir() { return std::getenv("TAPSENSE_WRITE_SEEDS"); }

inline void write_seed(const std::string& target, const std::vector<std::uint8_t>& data) {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (auto b : data) {
    h = (h ^ b) * 1099511628211ull;
  }
  char name[32];
  std::snprintf(name, sizeof name, "seed-%012llx", static_cast<unsigned long long>(h & 0xffffffffffffull));
  const std::filesystem::path dir = std::filesystem::path(seed_dir()) / target;
  std::filesystem::create_directories(dir);
  std::ofstream f(dir / name, std::ios::binary);
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}
inline void write_seed(const std::string& target, std::string_view text) {
  write_seed(target, std::vector<std::uint8_t>(text.begin(), text.end()));
}

// ---- Agreement ----

// Expected triples from tshark, and which of them the parsers produced.
struct agreement {
  std::string capture;
  std::set<std::string> expected;
  std::set<std::string> found;
  std::set<std::string> missing;
  // Expected triples known to be out of reach, with the reason (reported,
  // not counted as found).
  std::map<std::string, std::string> excused;

  // "address|field|value"; field "*" matches any fact about the address
  // whose value is `value` or `value<xx>` (a NetBIOS name with suffix).
  void expect(const std::string& t) { expected.insert(t); }
  void check(const std::set<std::string>& have) {
    for (const auto& t : expected) {
      bool ok = have.count(t) != 0;
      const auto bar1 = t.find('|');
      const auto bar2 = t.find('|', bar1 + 1);
      if (!ok && t.compare(bar1 + 1, bar2 - bar1 - 1, "*") == 0) {
        const std::string address = t.substr(0, bar1);
        const std::string value = t.substr(bar2 + 1);
        for (const auto& h : have) {
          const auto h1 = h.find('|');
          const auto h2 = h.find('|', h1 + 1);
          if (h.compare(0, h1, address) != 0 || h1 != address.size()) {
            continue;
          }
          const std::string hv = h.substr(h2 + 1);
          if (hv == value || (hv.size() == value.size() + 4 && hv.compare(0, value.size(), value) == 0 &&
                              hv[value.size()] == '<')) {
            ok = true;
            break;
          }
        }
      }
      (ok ? found : missing).insert(t);
    }
  }
  double fraction() const {
    return expected.empty() ? 0.0 : static_cast<double>(found.size()) / static_cast<double>(expected.size());
  }
  std::string report(const std::string& parser) const {
    std::ostringstream s;
    s << "[ " << parser << " ] " << capture << ": " << found.size() << "/" << expected.size()
      << " tshark facts found (" << static_cast<int>(fraction() * 1000) / 10.0 << "%)";
    for (const auto& m : missing) {
      const auto e = excused.find(m);
      s << "\n    missing " << m << (e == excused.end() ? "" : "  (" + e->second + ")");
    }
    return s.str();
  }
};

}  // namespace names_test
