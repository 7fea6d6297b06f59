// Agreement with independent decoders on every real encapsulation capture:
// per packet with tshark's innermost layers (addresses, ports, protocol, TTL,
// MACs, VLANs) and tunnel fields (GRE key, ERSPAN session, VXLAN/GENEVE VNI,
// outer addresses), and per capture with Zeek's tunnel.log and conn.log.
// tshark runs with IP reassembly off: decode_frame sees one packet at a time.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <set>
#include <sstream>
#include <tuple>

#include "common/net/decode.h"
#include "tests/unit/test_decap_support.h"

using namespace tapsense::net;
using namespace decap_test;

namespace {

const char* const captures[] = {
    "erspan/erspan-type-i-4.pcap",   "erspan/erspanII.pcap",
    "erspan/erspanIII.pcap",         "gre/gre-sample.pcap",
    "gre/erspan.pcap",               "vxlan/vxlan-encapsulated-http.pcap",
    "geneve/geneve-47101.pcap",      "geneve/geneve-many-options.pcap",
    "mpls/mpls-in-vlan.pcap",        "mpls/mixed-vlan-mpls.pcap",
    "qinq/q-in-q.pcap",              "qinq/http-qinq-0.pcap",
    "vlan/http-vlan-0.pcap",         "ipv6/ipv6-fragmented-dns.pcap",
    "ipv4-frag/fragmented-1.pcap",   "ipv4-frag/fragmented-4.pcap",
    // 802.11 in Aruba GRE; PPPoE sessions with L2TP inside; Linux cooked
    // (SLL) and raw IP link types.
    "devices/zeek/gre-aruba.pcap",   "devices/wireshark_wiki/nb6-startup.pcap",
    "devices/suricata_verify/smb-eicar-file.pcap", "devices/shs_firewall/smartthings-hub.pcap",
    "devices/shs_firewall/tuya-motion.pcap",
};

// tshark columns, every occurrence, comma-separated.
const char* const fields[] = {
    "frame.number", "frame.protocols", "frame.len", "eth.src", "eth.dst", "vlan.id",
    "ip.src", "ip.dst", "ip.proto", "ip.ttl", "ip.frag_offset",
    "ipv6.src", "ipv6.dst", "ipv6.hlim", "ipv6.fraghdr.offset",
    "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport",
    "icmp.type", "icmp.code", "icmpv6.type", "icmpv6.code",
    "gre.key", "erspan.version", "erspan.spanid", "erspan.vlan", "vxlan.vni", "geneve.vni",
    "arp.src.proto_ipv4", "arp.dst.proto_ipv4", "arp.src.hw_mac",
    "wlan.sa", "wlan.da", "sll.src.eth", "l2tp.tunnel", "l2tp.session",
};
enum col {
  c_frame, c_protocols, c_len, c_eth_src, c_eth_dst, c_vlan,
  c_ip_src, c_ip_dst, c_ip_proto, c_ip_ttl, c_ip_frag,
  c_ip6_src, c_ip6_dst, c_ip6_hlim, c_ip6_frag,
  c_tcp_src, c_tcp_dst, c_udp_src, c_udp_dst,
  c_icmp_type, c_icmp_code, c_icmp6_type, c_icmp6_code,
  c_gre_key, c_erspan_version, c_erspan_span, c_erspan_vlan, c_vxlan_vni, c_geneve_vni,
  c_arp_src, c_arp_dst, c_arp_hw,
  c_wlan_sa, c_wlan_da, c_sll_src, c_l2tp_tunnel, c_l2tp_session,
  c_count
};

std::map<std::size_t, std::vector<std::string>> tshark_view(const std::string& path) {
  std::string args = "-o ip.defragment:FALSE -o ipv6.defragment:FALSE -T fields -E separator=/t "
                     "-E aggregator=, -E occurrence=a";
  for (const char* f : fields) {
    args += " -e ";
    args += f;
  }
  auto rows = tshark_rows(path, args);
  for (auto& [n, cols] : rows) {
    EXPECT_EQ(cols.size(), static_cast<std::size_t>(c_count)) << "frame " << n;
    cols.resize(c_count);
  }
  return rows;
}

// The i-th occurrence of a field ("" when absent).
std::string nth(const std::string& list, std::size_t i) {
  const auto v = split(list, ',');
  return i < v.size() ? v[i] : std::string{};
}
std::uint32_t number(const std::string& s) { return s.empty() ? 0 : static_cast<std::uint32_t>(std::stoul(s, nullptr, 0)); }

// What tshark's layers say the record should hold.
struct expectation {
  l3_type l3 = l3_type::other;
  std::string src, dst;
  int proto = -1;  // -1: not compared
  std::string ttl;
  bool later_fragment = false;
  bool ports = false;
  std::string sport, dport;
  std::string eth_src, eth_dst;
  std::vector<std::string> vlans;
  tunnel_type tunnel = tunnel_type::none;
  std::string tunnel_src, tunnel_dst;
  std::uint32_t tunnel_id = 0;
  int depth = 0;
};

bool is_ip(const std::string& t) { return t == "ip" || t == "ipv6"; }

expectation expect_from(const std::vector<std::string>& c) {
  expectation e;
  const auto tok = split(c[c_protocols], ':');
  std::map<std::string, std::size_t> seen;  // occurrences so far, per protocol
  // (token, its occurrence index) in order, up to and including the first
  // ICMP: what an ICMP error quotes is not the packet.
  std::vector<std::pair<std::string, std::size_t>> layers;
  for (const auto& t : tok) {
    layers.emplace_back(t, seen[t]++);
    if (t == "icmp" || t == "icmpv6") {
      break;
    }
  }
  // Innermost Ethernet (or 802.11 in GRE, or Linux cooked header) and the
  // tags that follow it. Without any, the record's MACs are zero.
  int last_eth = -1;
  int last_l2 = -1;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    if (layers[i].first == "eth") {
      last_eth = static_cast<int>(i);
    }
    if (layers[i].first == "eth" || layers[i].first == "wlan" || layers[i].first == "sll") {
      last_l2 = static_cast<int>(i);
    }
  }
  e.eth_src = e.eth_dst = "00:00:00:00:00:00";
  if (last_l2 >= 0 && layers[static_cast<std::size_t>(last_l2)].first == "wlan") {
    const std::size_t k = layers[static_cast<std::size_t>(last_l2)].second;
    e.eth_src = nth(c[c_wlan_sa], k);
    e.eth_dst = nth(c[c_wlan_da], k);
  } else if (last_l2 >= 0 && layers[static_cast<std::size_t>(last_l2)].first == "sll") {
    if (!c[c_sll_src].empty()) {
      e.eth_src = c[c_sll_src];
    }
  } else if (last_eth >= 0) {
    const std::size_t k = layers[static_cast<std::size_t>(last_eth)].second;
    e.eth_src = nth(c[c_eth_src], k);
    e.eth_dst = nth(c[c_eth_dst], k);
    for (std::size_t i = static_cast<std::size_t>(last_eth) + 1; i < layers.size(); ++i) {
      if (layers[i].first == "vlan") {
        e.vlans.push_back(nth(c[c_vlan], layers[i].second));
      } else if (layers[i].first != "ethertype") {
        break;
      }
    }
    // ERSPAN II/III tell the VLAN of an untagged mirrored frame.
    if (e.vlans.empty() && last_eth > 0 && layers[static_cast<std::size_t>(last_eth) - 1].first == "erspan") {
      const std::size_t k2 = layers[static_cast<std::size_t>(last_eth) - 1].second;
      const std::string v = nth(c[c_erspan_vlan], k2);
      if (!v.empty() && v != "0") {
        e.vlans.push_back(v);
      }
    }
  }
  // Tunnels, outermost first.
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const auto& t = layers[i].first;
    tunnel_type found = tunnel_type::none;
    std::uint32_t id = 0;
    if (t == "gre") {
      const std::string next = i + 1 < layers.size() ? layers[i + 1].first : "";
      id = number(nth(c[c_gre_key], layers[i].second));
      if (next == "wlan") {
        found = tunnel_type::gre_wlan;
      } else if (next == "erspan") {
        const std::size_t k = layers[i + 1].second;
        const std::string ver = nth(c[c_erspan_version], k);
        found = ver.empty() ? tunnel_type::erspan1 : ver == "1" ? tunnel_type::erspan2 : tunnel_type::erspan3;
        if (!ver.empty()) {
          id = number(nth(c[c_erspan_span], k));
        }
      } else if (next == "eth") {
        found = tunnel_type::gre_teb;
      } else {
        found = tunnel_type::gre;
      }
    } else if (t == "vxlan") {
      found = tunnel_type::vxlan;
      id = number(nth(c[c_vxlan_vni], layers[i].second));
    } else if (t == "l2tp" && i + 2 < layers.size() && layers[i + 1].first == "ppp" &&
               is_ip(layers[i + 2].first)) {
      found = tunnel_type::l2tp;  // a data message carrying IP (not control, not LCP)
      id = (number(nth(c[c_l2tp_tunnel], layers[i].second)) << 16) |
           number(nth(c[c_l2tp_session], layers[i].second));
    } else if (t == "geneve") {
      found = tunnel_type::geneve;
      id = number(nth(c[c_geneve_vni], layers[i].second));
    } else if (is_ip(t) && i > 0 && is_ip(layers[i - 1].first)) {
      found = tunnel_type::ip_in_ip;
    }
    if (found == tunnel_type::none) {
      continue;
    }
    ++e.depth;
    if (e.tunnel == tunnel_type::none) {
      e.tunnel = found;
      e.tunnel_id = id;
      // The IP header carrying it: the last one before it.
      for (std::size_t j = i; j-- > 0;) {
        if (is_ip(layers[j].first)) {
          const bool v6 = layers[j].first == "ipv6";
          e.tunnel_src = nth(c[v6 ? c_ip6_src : c_ip_src], layers[j].second);
          e.tunnel_dst = nth(c[v6 ? c_ip6_dst : c_ip_dst], layers[j].second);
          break;
        }
      }
    }
  }
  // The innermost L3 and the transport after it.
  int l3 = -1;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    if (is_ip(layers[i].first) || layers[i].first == "arp") {
      l3 = static_cast<int>(i);
    }
  }
  if (l3 < 0) {
    return e;
  }
  const auto& [name, k] = layers[static_cast<std::size_t>(l3)];
  if (name == "arp") {
    e.l3 = l3_type::arp;
    e.src = nth(c[c_arp_src], k);
    e.dst = nth(c[c_arp_dst], k);
    e.eth_src = nth(c[c_arp_hw], k);
    return e;
  }
  const bool v6 = name == "ipv6";
  e.l3 = v6 ? l3_type::ipv6 : l3_type::ipv4;
  e.src = nth(c[v6 ? c_ip6_src : c_ip_src], k);
  e.dst = nth(c[v6 ? c_ip6_dst : c_ip_dst], k);
  e.ttl = nth(c[v6 ? c_ip6_hlim : c_ip_ttl], k);
  if (!v6) {
    e.proto = static_cast<int>(number(nth(c[c_ip_proto], k)));
    e.later_fragment = number(nth(c[c_ip_frag], k)) != 0;
  } else {
    // Only fragment headers of this IPv6 header follow it in the token list.
    for (std::size_t i = static_cast<std::size_t>(l3) + 1; i < layers.size(); ++i) {
      if (layers[i].first == "ipv6.fraghdr") {
        e.later_fragment = number(nth(c[c_ip6_frag], layers[i].second)) != 0;
      }
    }
  }
  for (std::size_t i = static_cast<std::size_t>(l3) + 1; i < layers.size(); ++i) {
    const auto& [t, j] = layers[i];
    if (t == "tcp" || t == "udp") {
      e.ports = true;
      e.sport = nth(c[t == "tcp" ? c_tcp_src : c_udp_src], j);
      e.dport = nth(c[t == "tcp" ? c_tcp_dst : c_udp_dst], j);
      e.proto = t == "tcp" ? ipproto::tcp : ipproto::udp;
      break;
    }
    if (t == "icmp" || t == "icmpv6") {
      e.sport = nth(c[t == "icmp" ? c_icmp_type : c_icmp6_type], j);
      e.dport = nth(c[t == "icmp" ? c_icmp_code : c_icmp6_code], j);
      e.proto = t == "icmp" ? ipproto::icmp : ipproto::icmpv6;
      break;
    }
  }
  return e;
}

// Zeek logs: rows as name -> value maps, by the #fields header.
std::vector<std::map<std::string, std::string>> zeek_log(const std::string& path) {
  std::ifstream f(path);
  std::vector<std::map<std::string, std::string>> rows;
  std::vector<std::string> names;
  for (std::string line; std::getline(f, line);) {
    if (line.rfind("#fields\t", 0) == 0) {
      names = split(line.substr(8), '\t');
    } else if (!line.empty() && line[0] != '#') {
      const auto v = split(line, '\t');
      std::map<std::string, std::string> row;
      for (std::size_t i = 0; i < names.size() && i < v.size(); ++i) {
        row[names[i]] = v[i];
      }
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

std::string zeek_tunnel_name(tunnel_type t) {
  switch (t) {
    case tunnel_type::gre:
    case tunnel_type::gre_teb:
    case tunnel_type::gre_wlan:
    case tunnel_type::erspan1:
    case tunnel_type::erspan2:
    case tunnel_type::erspan3:
      return "Tunnel::GRE";
    case tunnel_type::vxlan:
      return "Tunnel::VXLAN";
    case tunnel_type::geneve:
      return "Tunnel::GENEVE";
    case tunnel_type::ip_in_ip:
      return "Tunnel::IP";
    case tunnel_type::l2tp:
    case tunnel_type::none:
      break;
  }
  return "none";
}

// An unordered endpoint pair with the tunnel type or transport.
using flow_key = std::tuple<std::string, std::string, std::string>;
flow_key key_of(std::string a, std::string b, const std::string& what) {
  if (b < a) {
    std::swap(a, b);
  }
  return {a, b, what};
}

struct capture_result {
  std::size_t compared = 0;
  std::set<flow_key> tunnels;      // (outer src, outer dst, Zeek tunnel type)
  std::set<flow_key> inner_flows;  // tunnelled conversations (endpoints with ports, proto)
  std::set<flow_key> plain_flows;  // the others
};

capture_result compare_capture_uncached(const std::string& path) {
  capture_result res;
  std::uint32_t linktype = 0;
  const auto packets = read_pcap(path, linktype);
  EXPECT_TRUE(link_type_supported(linktype)) << "link type " << linktype;
  decode_options opt;
  opt.link_type = static_cast<std::uint16_t>(linktype);
  const auto truth = tshark_view(path);
  EXPECT_EQ(truth.size(), packets.size()) << "tshark and the pcap reader disagree on the frame count";
  anomaly_counters an;
  for (const auto& pkt : packets) {
    const auto row = truth.find(pkt.frame);
    if (row == truth.end()) {
      ADD_FAILURE() << "frame " << pkt.frame << " missing from tshark's output";
      continue;
    }
    const auto& c = row->second;
    SCOPED_TRACE("frame " + std::to_string(pkt.frame) + " " + c[c_protocols]);
    packet_record rec;
    layer_offsets off;
    fragment_info frag;
    if (!decode_frame({pkt.data.data(), pkt.data.size()}, pkt.orig_len, rec, off, frag, an, opt)) {
      ADD_FAILURE() << "shorter than its link header";
      continue;
    }
    expectation e = expect_from(c);

    EXPECT_EQ(rec.wire_len, number(c[c_len]));
    EXPECT_EQ(static_cast<int>(rec.l3), static_cast<int>(e.l3));
    EXPECT_EQ(rec.src_mac.to_string(), e.eth_src);
    if (e.l3 != l3_type::arp) {
      EXPECT_EQ(rec.dst_mac.to_string(), e.eth_dst);
    }
    std::vector<std::string> vlans;
    for (std::size_t i = 0; i < std::min<std::size_t>(rec.vlan_count, 2); ++i) {
      vlans.push_back(std::to_string(rec.vlan[i]));
    }
    if (e.vlans.size() > 2) {
      EXPECT_EQ(rec.vlan_count, e.vlans.size());  // the record keeps the first two ids
      e.vlans.resize(2);
    }
    EXPECT_EQ(vlans, e.vlans);
    EXPECT_EQ(static_cast<int>(rec.tunnel), static_cast<int>(e.tunnel));
    EXPECT_EQ(rec.tunnel_depth, e.depth);
    if (e.tunnel != tunnel_type::none) {
      EXPECT_EQ(rec.tunnel_src.to_string(), e.tunnel_src);
      EXPECT_EQ(rec.tunnel_dst.to_string(), e.tunnel_dst);
      EXPECT_EQ(rec.tunnel_id, e.tunnel_id);
      res.tunnels.insert(key_of(e.tunnel_src, e.tunnel_dst, zeek_tunnel_name(e.tunnel)));
    }
    if (e.l3 == l3_type::ipv4 || e.l3 == l3_type::ipv6 || e.l3 == l3_type::arp) {
      EXPECT_EQ(rec.src_ip.to_string(), e.src);
      EXPECT_EQ(rec.dst_ip.to_string(), e.dst);
    }
    if (e.l3 == l3_type::ipv4 || e.l3 == l3_type::ipv6) {
      EXPECT_EQ(std::to_string(rec.ttl), e.ttl);
      if (e.proto >= 0) {
        EXPECT_EQ(rec.ip_proto, e.proto);
      }
      EXPECT_EQ((rec.flags & pktflag::later_fragment) != 0, e.later_fragment);
      EXPECT_EQ((rec.flags & pktflag::has_ports) != 0, e.ports);
      if (!e.sport.empty()) {
        EXPECT_EQ(std::to_string(rec.src_port), e.sport);
        EXPECT_EQ(std::to_string(rec.dst_port), e.dport);
      }
      // The flows Zeek's conn.log should list.
      if (!e.later_fragment && (rec.ip_proto == ipproto::tcp || rec.ip_proto == ipproto::udp ||
                                rec.ip_proto == ipproto::icmp || rec.ip_proto == ipproto::icmpv6)) {
        const bool icmp = rec.ip_proto == ipproto::icmp || rec.ip_proto == ipproto::icmpv6;
        const std::string p = icmp ? "icmp" : rec.ip_proto == ipproto::tcp ? "tcp" : "udp";
        const std::string a = rec.src_ip.to_string() + (icmp ? "" : ":" + std::to_string(rec.src_port));
        const std::string b = rec.dst_ip.to_string() + (icmp ? "" : ":" + std::to_string(rec.dst_port));
        (rec.tunnel != 0 ? res.inner_flows : res.plain_flows).insert(key_of(a, b, p));
      }
    }
    EXPECT_EQ(rec.flow_hash, symmetric_flow_hash(rec));
    ++res.compared;
  }
  return res;
}

// Each capture is compared once per test binary (tshark takes a while).
capture_result compare_capture(const std::string& path) {
  static std::map<std::string, capture_result> done;
  const auto it = done.find(path);
  if (it != done.end()) {
    return it->second;
  }
  return done[path] = compare_capture_uncached(path);
}

}  // namespace

TEST(DecapCaptures, AgreesWithTsharkAndZeek) {
  const std::string root = shared_pcaps();
  if (!std::filesystem::exists(root)) {
    GTEST_SKIP() << "../shared/pcaps absent";
  }
  if (!have_tshark()) {
    GTEST_SKIP() << "tshark absent";
  }
  std::size_t total = 0;
  std::size_t zeek_checked = 0;
  std::ostringstream summary;
  for (const char* name : captures) {
    SCOPED_TRACE(name);
    const std::string path = root + "/" + name;
    ASSERT_TRUE(std::filesystem::exists(path)) << path;
    const capture_result r = compare_capture(path);
    EXPECT_GT(r.compared, 0u) << "nothing compared in " << name;
    summary << "\n  " << name << ": " << r.compared << " packets";
    total += r.compared;

    // Zeek, where its baselines sit beside the capture.
    const std::string base = path + ".zeek-baseline";
    if (!std::filesystem::exists(base)) {
      continue;
    }
    for (const auto& dir : std::filesystem::directory_iterator(base)) {
      const auto tunnel_log = dir.path() / "tunnel.log";
      if (std::filesystem::exists(tunnel_log)) {
        std::set<flow_key> zeek;
        for (const auto& row : zeek_log(tunnel_log.string())) {
          zeek.insert(key_of(row.at("id.orig_h"), row.at("id.resp_h"), row.at("tunnel_type")));
        }
        EXPECT_EQ(r.tunnels, zeek) << tunnel_log;
        summary << ", tunnel.log " << zeek.size() << " tunnel(s)";
        ++zeek_checked;
      }
    }
  }
  std::cout << "[ decap    ] compared with tshark:" << summary.str() << "\n  total=" << total
            << " packets; Zeek tunnel.log files checked: " << zeek_checked << "\n";
  RecordProperty("decap_packets_compared", static_cast<int>(total));
  ASSERT_GT(total, 0u) << "no packet was compared with tshark";
  EXPECT_GE(zeek_checked, 6u);
}

// The conversations inside the tunnels are the ones Zeek's conn.log lists
// with a tunnel parent; the others are the ones it lists without.
TEST(DecapCaptures, InnerConversationsAgreeWithZeekConnLog) {
  const std::string root = shared_pcaps();
  if (!std::filesystem::exists(root)) {
    GTEST_SKIP() << "../shared/pcaps absent";
  }
  if (!have_tshark()) {
    GTEST_SKIP() << "tshark absent";
  }
  const std::pair<const char*, const char*> logs[] = {
      {"erspan/erspanII.pcap", "core.erspanII"},
      {"erspan/erspanIII.pcap", "core.erspanIII"},
      {"gre/gre-sample.pcap", "core.tunnels.gre"},
      {"vxlan/vxlan-encapsulated-http.pcap", "core.tunnels.analyzer-confirmation"},
      {"geneve/geneve-47101.pcap", "core.tunnels.geneve-47101"},
      {"geneve/geneve-many-options.pcap", "core.tunnels.geneve-many-options"},
      {"mpls/mpls-in-vlan.pcap", "core.mpls-in-vlan"},
      {"mpls/mixed-vlan-mpls.pcap", "core.vlan-mpls"},
      {"qinq/q-in-q.pcap", "core.q-in-q"},
  };
  std::size_t flows = 0;
  for (const auto& [name, dir] : logs) {
    SCOPED_TRACE(name);
    const std::string path = root + "/" + name;
    const std::string log = path + ".zeek-baseline/" + dir + "/conn.log";
    ASSERT_TRUE(std::filesystem::exists(log)) << log;
    const capture_result r = compare_capture(path);
    std::set<flow_key> inner;
    std::set<flow_key> plain;
    for (const auto& row : zeek_log(log)) {
      const std::string p = row.at("proto");
      const bool icmp = p == "icmp";
      const std::string a = row.at("id.orig_h") + (icmp ? "" : ":" + row.at("id.orig_p"));
      const std::string b = row.at("id.resp_h") + (icmp ? "" : ":" + row.at("id.resp_p"));
      const auto parents = row.find("tunnel_parents");
      const bool tunnelled = parents != row.end() && parents->second != "-" && parents->second != "(empty)";
      (tunnelled ? inner : plain).insert(key_of(a, b, p));
    }
    // Zeek also lists the UDP flow carrying VXLAN or GENEVE; the record
    // tells only its addresses (tunnel_src/tunnel_dst), so it is set aside.
    std::erase_if(plain, [&](const flow_key& k) {
      const auto host = [](const std::string& ep) { return ep.substr(0, ep.rfind(':')); };
      for (const auto& t : r.tunnels) {
        if (std::get<2>(k) == "udp" && key_of(host(std::get<0>(k)), host(std::get<1>(k)), "") ==
                                           key_of(std::get<0>(t), std::get<1>(t), "")) {
          return true;
        }
      }
      return false;
    });
    EXPECT_EQ(r.inner_flows, inner);
    EXPECT_EQ(r.plain_flows, plain);
    flows += inner.size() + plain.size();
  }
  std::cout << "[ decap    ] Zeek conn.log conversations matched: " << flows << "\n";
  ASSERT_GT(flows, 0u);
}
