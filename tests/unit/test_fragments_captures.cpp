// The fragment tracker and the reassembler on the shared captures, against
// tshark's reassembled view (two passes, reassembly on) and Zeek's outputs:
//   ipv4-frag/fragmented-1.pcap  UDP/NTP fragments that disagree (Zeek: fragment_inconsistency)
//   ipv4-frag/fragmented-4.pcap  TCP fragments that overlap with other bytes (Zeek: fragment_inconsistency)
//   ipv6/ipv6-fragmented-dns.pcap  a 3238-byte DNS answer in three IPv6 fragments (Zeek: dns.log)
//   gre/erspan.pcap  the mirror's GRE packets fragmented on their way (jumbo mirrored frames)
#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <sstream>

#include "common/net/decode.h"
#include "common/net/fragments.h"
#include "tests/unit/test_decap_support.h"

using namespace tapsense::net;
using namespace decap_test;

namespace {

// tshark with reassembly off: the fragments as they are (outermost header first).
const char* const raw_fields[] = {
    "frame.number", "ip.src", "ip.dst", "ip.id", "ip.proto", "ip.frag_offset", "ip.flags.mf",
    "ipv6.src", "ipv6.dst", "ipv6.fraghdr.ident", "ipv6.fraghdr.offset", "ipv6.fraghdr.nxt",
    "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport",
};
enum raw_col { r_frame, r_ip_src, r_ip_dst, r_ip_id, r_ip_proto, r_ip_off, r_ip_mf, r_ip6_src, r_ip6_dst,
               r_ip6_id, r_ip6_off, r_ip6_nxt, r_tcp_src, r_tcp_dst, r_udp_src, r_udp_dst, r_count };

// tshark, two passes, reassembly on: which frame completes each datagram and what it holds.
const char* const whole_fields[] = {
    "frame.number", "ip.reassembled_in", "ipv6.reassembled.in", "ip.reassembled.length",
    "ipv6.reassembled.length", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
    "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport", "udp.length", "tcp.len",
    "dns.id", "dns.count.answers", "dns.qry.name",
};
enum whole_col { w_frame, w_ip_in, w_ip6_in, w_ip_len, w_ip6_len, w_ip_src, w_ip_dst, w_ip6_src, w_ip6_dst,
                 w_tcp_src, w_tcp_dst, w_udp_src, w_udp_dst, w_udp_len, w_tcp_len, w_dns_id, w_dns_answers,
                 w_dns_name, w_count };

template <std::size_t N>
std::map<std::size_t, std::vector<std::string>> view_of(const std::string& path, const char* const (&f)[N],
                                                       const std::string& opts) {
  std::string args = opts + " -T fields -E separator=/t -E aggregator=, -E occurrence=a";
  for (const char* x : f) {
    args += " -e ";
    args += x;
  }
  auto rows = tshark_rows(path, args);
  for (auto& [n, cols] : rows) {
    cols.resize(N);
  }
  return rows;
}

std::string first(const std::string& list) { return split(list, ',').front(); }
std::string last(const std::string& list) { return split(list, ',').back(); }
std::uint32_t num(const std::string& s) { return s.empty() ? 0 : static_cast<std::uint32_t>(std::stoul(s, nullptr, 0)); }

// The innermost conversation tshark shows: "src:sport>dst:dport".
std::string tshark_flow(const std::string& src4, const std::string& dst4, const std::string& src6,
                        const std::string& dst6, const std::string& tsp, const std::string& tdp,
                        const std::string& usp, const std::string& udp_dp) {
  const bool v6 = src4.empty();
  const std::string sp = !tsp.empty() ? last(tsp) : last(usp);
  const std::string dp = !tdp.empty() ? last(tdp) : last(udp_dp);
  return (v6 ? last(src6) : last(src4)) + ":" + sp + ">" + (v6 ? last(dst6) : last(dst4)) + ":" + dp;
}
std::string our_flow(const packet_record& r) {
  return r.src_ip.to_string() + ":" + std::to_string(r.src_port) + ">" + r.dst_ip.to_string() + ":" +
         std::to_string(r.dst_port);
}

// A DNS message's id and first question name.
std::pair<std::uint16_t, std::string> dns_id_and_name(bytes m) {
  std::string name;
  if (m.size() < 12) {
    return {0, name};
  }
  std::size_t p = 12;
  while (p < m.size() && m[p] != 0 && (m[p] & 0xc0) == 0) {
    const std::size_t n = m[p];
    if (p + 1 + n > m.size()) {
      break;
    }
    name += (name.empty() ? "" : ".") + std::string(m.begin() + static_cast<std::ptrdiff_t>(p + 1),
                                                    m.begin() + static_cast<std::ptrdiff_t>(p + 1 + n));
    p += 1 + n;
  }
  return {load_be16(m.data()), name};
}

// Rebuilds a whole frame around a reassembled payload: the link headers and
// IP header of the fragment that completed it, with the fragment fields cleared.
frame rebuild(const std::vector<std::uint8_t>& pkt, std::size_t l3, const reassembled_datagram& d) {
  frame f(pkt.begin(), pkt.begin() + static_cast<std::ptrdiff_t>(l3));
  if (d.family == 4) {
    const std::size_t ihl = static_cast<std::size_t>(pkt[l3] & 0x0f) * 4;
    f.insert(f.end(), pkt.begin() + static_cast<std::ptrdiff_t>(l3), pkt.begin() + static_cast<std::ptrdiff_t>(l3 + ihl));
    const std::size_t total = ihl + d.payload.size();
    f[l3 + 2] = static_cast<std::uint8_t>(total >> 8);
    f[l3 + 3] = static_cast<std::uint8_t>(total);
    f[l3 + 6] = 0;
    f[l3 + 7] = 0;
  } else {
    f.insert(f.end(), pkt.begin() + static_cast<std::ptrdiff_t>(l3), pkt.begin() + static_cast<std::ptrdiff_t>(l3 + 40));
    f[l3 + 4] = static_cast<std::uint8_t>(d.payload.size() >> 8);
    f[l3 + 5] = static_cast<std::uint8_t>(d.payload.size());
    f[l3 + 6] = d.proto;
  }
  f.insert(f.end(), d.payload.begin(), d.payload.end());
  return f;
}

bool zeek_output_says(const std::string& capture, const std::string& line) {
  const std::string path = capture + ".zeek-baseline/core.reassembly/output";
  std::ifstream f(path);
  for (std::string l; std::getline(f, l);) {
    if (l == line) {
      return true;
    }
  }
  return false;
}

struct summary {
  std::size_t fragments = 0;
  std::size_t completed = 0;
  std::size_t compared = 0;
};

summary reassemble_capture(const std::string& path, const std::string& name) {
  summary s;
  std::uint32_t linktype = 0;
  const auto packets = read_pcap(path, linktype);
  const auto whole = view_of(path, whole_fields, "-2");
  reassembler r;
  anomaly_counters an;
  for (const auto& pkt : packets) {
    SCOPED_TRACE("frame " + std::to_string(pkt.frame));
    packet_record rec;
    layer_offsets off;
    fragment_info frag;
    decode_frame({pkt.data.data(), pkt.data.size()}, pkt.orig_len, rec, off, frag, an);
    if (frag.kind == fragment_info::none) {
      continue;
    }
    ++s.fragments;
    const auto d = r.add(bytes(pkt.data).subspan(frag.l3), pkt.ts_ns);
    const auto& w = whole.at(pkt.frame);
    const std::string tshark_len = first(w[w_ip_len]).empty() ? first(w[w_ip6_len]) : first(w[w_ip_len]);
    if (d.status != reassembly_status::complete) {
      continue;
    }
    ++s.completed;
    // tshark completes the same datagram in the same frame, with as many bytes.
    EXPECT_EQ(std::to_string(d.payload.size()), tshark_len);
    // The reassembled datagram decodes to the conversation tshark shows.
    const frame f = rebuild(pkt.data, frag.l3, d);
    packet_record whole_rec;
    layer_offsets whole_off;
    anomaly_counters whole_an;
    EXPECT_TRUE(decode_frame({f.data(), f.size()}, 0, whole_rec, whole_off, whole_an));
    EXPECT_EQ(our_flow(whole_rec), tshark_flow(w[w_ip_src], w[w_ip_dst], w[w_ip6_src], w[w_ip6_dst], w[w_tcp_src],
                                               w[w_tcp_dst], w[w_udp_src], w[w_udp_dst]));
    const std::string l4_len = whole_rec.ip_proto == ipproto::tcp
                                   ? last(w[w_tcp_len])
                                   : std::to_string(num(last(w[w_udp_len])) - 8);
    EXPECT_EQ(std::to_string(whole_rec.l4_payload), l4_len);
    EXPECT_EQ(whole_rec.flags & pktflag::truncated, 0);
    if (whole_rec.ip_proto == ipproto::udp && (whole_rec.src_port == 53 || whole_rec.dst_port == 53)) {
      const auto [id, qname] = dns_id_and_name(bytes(f).subspan(whole_off.payload));
      EXPECT_EQ(id, num(w[w_dns_id]));
      EXPECT_EQ(qname, w[w_dns_name]);
      EXPECT_GT(num(w[w_dns_answers]), 0u);
      // Zeek logged the same answer.
      const std::string log = path + ".zeek-baseline/core.ipv6-frag/dns.log";
      std::ifstream z(log);
      bool found = false;
      std::vector<std::string> names;
      for (std::string l; std::getline(z, l);) {
        if (l.rfind("#fields\t", 0) == 0) {
          names = split(l.substr(8), '\t');
          continue;
        }
        const auto c = split(l, '\t');
        std::map<std::string, std::string> row;
        for (std::size_t i = 0; i < names.size() && i < c.size(); ++i) {
          row[names[i]] = c[i];
        }
        if (row["trans_id"] == std::to_string(id) && row["query"] == qname && row["answers"] != "-" &&
            !row["answers"].empty()) {
          found = true;
        }
      }
      EXPECT_TRUE(found) << "no answer for DNS id " << id << " in " << log;
    }
    ++s.compared;
  }
  // Every datagram tshark completes, we complete: except the adversarial
  // traces, whose inconsistent fragments tshark reassembles one way and Zeek
  // calls fragment_inconsistency.
  std::size_t tshark_completed = 0;
  for (const auto& [n, w] : whole) {
    tshark_completed += !first(w[w_ip_len]).empty() || !first(w[w_ip6_len]).empty();
  }
  const auto& c = r.counters();
  if (name == "ipv4-frag/fragmented-1.pcap" || name == "ipv4-frag/fragmented-4.pcap") {
    EXPECT_EQ(s.completed, 0u);
    EXPECT_EQ(tshark_completed, 1u);
    EXPECT_GE(c.inconsistent + c.overlaps, 1u);
    const std::string who = name == "ipv4-frag/fragmented-1.pcap" ? "164.1.123.163, 164.1.123.61"
                                                                   : "128.32.46.142, 10.0.0.1";
    EXPECT_TRUE(zeek_output_says(path, "flow weird, fragment_inconsistency, " + who));
  } else {
    EXPECT_EQ(s.completed, tshark_completed);
    EXPECT_EQ(c.inconsistent + c.overlaps + c.too_big + c.evicted + c.too_many_fragments, 0u);
  }
  return s;
}

summary track_capture(const std::string& path) {
  summary s;
  std::uint32_t linktype = 0;
  const auto packets = read_pcap(path, linktype);
  const auto raw = view_of(path, raw_fields, "-o ip.defragment:FALSE -o ipv6.defragment:FALSE");
  const auto whole = view_of(path, whole_fields, "-2");
  // The datagrams whose first fragment tshark has seen so far, by the
  // outermost header's key, with the conversation that fragment shows.
  std::map<std::string, std::string> firsts;
  fragment_tracker t;
  anomaly_counters an;
  std::size_t expected_attributed = 0;
  for (const auto& pkt : packets) {
    SCOPED_TRACE("frame " + std::to_string(pkt.frame));
    packet_record rec;
    layer_offsets off;
    fragment_info frag;
    decode_frame({pkt.data.data(), pkt.data.size()}, pkt.orig_len, rec, off, frag, an);
    rec.ts_ns = pkt.ts_ns;
    const std::uint32_t hash_before = rec.flow_hash;
    t.on_packet(rec, frag);
    const auto& c = raw.at(pkt.frame);
    const bool v6 = first(c[r_ip_src]).empty();
    const std::string key = v6 ? first(c[r_ip6_src]) + ">" + first(c[r_ip6_dst]) + "#" + first(c[r_ip6_id])
                               : first(c[r_ip_src]) + ">" + first(c[r_ip_dst]) + "#" + first(c[r_ip_id]) + "/" +
                                     first(c[r_ip_proto]);
    const std::uint32_t offset = v6 ? num(first(c[r_ip6_off])) : num(first(c[r_ip_off]));
    const bool fragment = v6 ? !first(c[r_ip6_id]).empty() : (offset != 0 || first(c[r_ip_mf]) == "1");
    EXPECT_EQ(frag.kind != fragment_info::none, fragment);
    if (!fragment) {
      continue;
    }
    ++s.fragments;
    if (offset == 0) {
      firsts[key] = tshark_flow(c[r_ip_src], c[r_ip_dst], c[r_ip6_src], c[r_ip6_dst], c[r_tcp_src], c[r_tcp_dst],
                                c[r_udp_src], c[r_udp_dst]);
      continue;
    }
    const auto f = firsts.find(key);
    if (f == firsts.end()) {
      EXPECT_FALSE(rec.flags & pktflag::has_ports) << "attributed with no first fragment seen";
      EXPECT_EQ(rec.flow_hash, hash_before);
      continue;
    }
    ++expected_attributed;
    EXPECT_TRUE(rec.flags & pktflag::has_ports);
    EXPECT_TRUE(rec.flags & pktflag::later_fragment);
    // The conversation of the first fragment, which is also the one of the
    // datagram tshark reassembles (when it does).
    EXPECT_EQ(our_flow(rec), f->second);
    const std::string in = first(whole.at(pkt.frame)[v6 ? w_ip6_in : w_ip_in]);
    if (!in.empty()) {
      const auto& w = whole.at(num(in));
      EXPECT_EQ(our_flow(rec), tshark_flow(w[w_ip_src], w[w_ip_dst], w[w_ip6_src], w[w_ip6_dst], w[w_tcp_src],
                                           w[w_tcp_dst], w[w_udp_src], w[w_udp_dst]));
    }
    EXPECT_EQ(rec.flow_hash, symmetric_flow_hash(rec));
    ++s.compared;
  }
  EXPECT_EQ(t.counters().attributed, expected_attributed);
  return s;
}

const char* const captures[] = {"ipv4-frag/fragmented-1.pcap", "ipv4-frag/fragmented-4.pcap",
                                "ipv6/ipv6-fragmented-dns.pcap", "gre/erspan.pcap"};

bool have_inputs() {
  return std::filesystem::exists(shared_pcaps()) && have_tshark();
}

}  // namespace

TEST(FragmentsCaptures, ReassemblyAgreesWithTsharkAndZeek) {
  if (!have_inputs()) {
    GTEST_SKIP() << "../shared/pcaps or tshark absent";
  }
  std::ostringstream out;
  std::size_t completed = 0;
  for (const char* name : captures) {
    SCOPED_TRACE(name);
    const auto s = reassemble_capture(shared_pcaps() + "/" + name, name);
    out << "\n  " << name << ": " << s.fragments << " fragments, " << s.completed << " datagrams reassembled, "
        << s.compared << " compared";
    completed += s.compared;
  }
  std::cout << "[ frags    ] reassembly vs tshark/Zeek:" << out.str() << "\n";
  ASSERT_GT(completed, 0u) << "no reassembled datagram was compared";
}

TEST(FragmentsCaptures, TrackerGivesLaterFragmentsTheirFlow) {
  if (!have_inputs()) {
    GTEST_SKIP() << "../shared/pcaps or tshark absent";
  }
  std::ostringstream out;
  std::size_t compared = 0;
  for (const char* name : captures) {
    SCOPED_TRACE(name);
    const auto s = track_capture(shared_pcaps() + "/" + name);
    out << "\n  " << name << ": " << s.fragments << " fragments, " << s.compared << " later fragments attributed";
    compared += s.compared;
  }
  std::cout << "[ frags    ] tracker vs tshark:" << out.str() << "\n";
  ASSERT_GT(compared, 0u) << "no later fragment was compared";
}
