#include "capture/names.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <unordered_map>

#include "common/proto/dns.h"
#include "common/proto/http.h"
#include "common/proto/tls.h"

namespace tapsense::capture {

struct name_watcher::parsers {
  proto::dns_message dns{};
  proto::tls_client_hello ch{};
  proto::http_message http{};
};

name_watcher::name_watcher(const config::classifier& cls, std::uint32_t connection_ttl_s)
    : cls_(cls),
      connection_ttl_s_(connection_ttl_s),
      active_(!cls.monitored_domains().empty()),
      p_(active_ ? std::make_unique<parsers>() : nullptr) {}

name_watcher::~name_watcher() = default;

namespace {
std::string lower(std::string_view s) {
  std::string o(s);
  std::transform(o.begin(), o.end(), o.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  while (!o.empty() && o.back() == '.') o.pop_back();
  return o;
}

ipc::name_binding_frame binding(const net::packet_record& rec, const net::ip_address& ip, std::uint32_t ttl,
                                std::uint16_t site, std::uint8_t source, std::uint8_t network) {
  ipc::name_binding_frame f{};
  f.ts_ns = rec.ts_ns;
  std::memcpy(f.ip, ip.b.data(), 16);
  f.ttl_s = ttl;
  f.site = site;
  f.source = source;
  f.network = network;
  if (source != 1) {
    std::memcpy(f.peer, rec.src_ip.b.data(), 16);
    f.peer_port = rec.src_port;
    f.port = rec.dst_port;
    f.proto = rec.ip_proto;
  }
  return f;
}
}  // namespace

void name_watcher::on_packet(const net::packet_record& rec, net::bytes frame, const net::layer_offsets& off,
                             bool first_payload, std::vector<ipc::name_binding_frame>& out, bool& broadcast) {
  out.clear();
  broadcast = false;
  if (!active_ || (rec.flags & net::pktflag::has_ports) == 0 || off.payload >= off.end) {
    return;
  }
  const net::bytes payload = frame.subspan(off.payload, off.end - off.payload);
  const std::uint8_t network = cls_.network_of(rec.port_id, rec.vlan[0], rec.vlan_count != 0);
  if (rec.ip_proto == net::ipproto::udp && rec.src_port == 53) {
    // A DNS answer: names that match, and every name a matching one leads
    // to through CNAMEs, stand for the addresses of their A/AAAA records.
    auto& m = p_->dns;
    proto::parse_dns(payload, m);
    if (!m.is_response()) return;
    std::unordered_map<std::string, int> site;  // name -> monitored site
    std::vector<std::pair<std::string, std::string>> cnames;
    for (const auto& q : m.question_list()) {
      const auto name = lower(proto::dns_name_at(m, q.name_off));
      if (const int s = cls_.match_domain(name); s >= 0) site[name] = s;
    }
    for (const auto& rr : m.record_list()) {
      if (rr.type == proto::dns_type::cname && rr.rdata_ok) {
        cnames.emplace_back(lower(proto::dns_name_at(m, rr.name_off)), lower(proto::dns_name_at(m, rr.target_off)));
      }
    }
    for (int hop = 0; hop < 8; ++hop) {
      bool grew = false;
      for (const auto& [from, to] : cnames) {
        if (auto it = site.find(from); it != site.end() && site.count(to) == 0) {
          site[to] = it->second;
          grew = true;
        }
      }
      if (!grew) break;
    }
    for (const auto& rr : m.record_list()) {
      if ((rr.type != proto::dns_type::a && rr.type != proto::dns_type::aaaa) || !rr.rdata_ok) continue;
      const auto owner = lower(proto::dns_name_at(m, rr.name_off));
      auto it = site.find(owner);
      int s = it != site.end() ? it->second : cls_.match_domain(owner);
      if (s < 0) continue;
      ++matches_;
      out.push_back(binding(rec, rr.addr, std::max<std::uint32_t>(rr.ttl, 1), static_cast<std::uint16_t>(s), 1, network));
    }
    broadcast = true;
    return;
  }
  if (rec.ip_proto != net::ipproto::tcp || !first_payload) {
    return;
  }
  std::string name;
  if (payload.size() >= 6 && payload[0] == 0x16 && payload[1] == 0x03) {
    auto& ch = p_->ch;
    if (proto::parse_tls_client_hello(payload, ch) == proto::tls_error::none && !ch.sni.empty()) {
      name = lower(ch.sni.view());
    }
  } else if (payload.size() >= 4 && std::isupper(payload[0]) != 0) {
    auto& h = p_->http;
    if (proto::parse_http(payload, h) == proto::http_error::none && h.kind == proto::http_kind::request &&
        !h.host.empty()) {
      std::string_view host = h.host;
      if (const auto colon = host.rfind(':'); colon != std::string_view::npos && host.find(']') == std::string_view::npos) {
        host = host.substr(0, colon);
      }
      name = lower(host);
    }
  }
  if (name.empty()) return;
  if (const int s = cls_.match_domain(name); s >= 0) {
    ++matches_;
    out.push_back(binding(rec, rec.dst_ip, connection_ttl_s_, static_cast<std::uint16_t>(s),
                          payload[0] == 0x16 ? 2 : 3, network));
  }
}

}  // namespace tapsense::capture
