#include "fingerprinter/analyzer.h"

#include <algorithm>
#include <cstring>

#include "common/config/classifier.h"
#include "common/fp/oui.h"
#include "common/fp/p0f.h"
#include "common/proto/bacnet.h"
#include "common/proto/cdp.h"
#include "common/proto/dhcp.h"
#include "common/proto/dhcpv6.h"
#include "common/proto/dnp3.h"
#include "common/proto/dns.h"
#include "common/proto/enip.h"
#include "common/proto/http.h"
#include "common/proto/upnp.h"
#include "common/proto/lldp.h"
#include "common/proto/modbus.h"
#include "common/proto/nbns.h"
#include "common/proto/profinet.h"
#include "common/proto/registry.h"
#include "common/proto/s7comm.h"
#include "common/proto/smb.h"
#include "common/proto/snmp.h"
#include "common/proto/ssdp.h"
#include "common/proto/ssh.h"
#include "common/proto/tls.h"
#include "common/proto/wsd.h"
#include "common/schema/report.capnp.h"

namespace tapsense::fingerprinter {

namespace {

enum proto_index : std::size_t {
  p_lldp, p_cdp, p_profinet, p_dns, p_mdns, p_llmnr, p_nbns, p_nbdgm,
  p_ssdp, p_dhcpv6, p_bacnet, p_enip, p_dnp3, p_modbus, p_s7comm, p_stream, p_snmp, p_wsd
};

bool is_initial_ttl(std::uint8_t ttl) noexcept { return ttl == 64 || ttl == 128 || ttl == 255 || ttl == 32; }

std::uint64_t fnv(std::uint64_t h, const void* p, std::size_t n) {
  const auto* b = static_cast<const std::uint8_t*>(p);
  for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001b3ULL;
  return h;
}

// One direction of a TCP connection.
std::uint64_t direction_key(const net::packet_record& r) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  h = fnv(h, r.src_ip.b.data(), 16);
  h = fnv(h, r.dst_ip.b.data(), 16);
  h = fnv(h, &r.src_port, 2);
  return fnv(h, &r.dst_port, 2);
}

// Both directions of a TCP connection.
std::uint64_t connection_key(const net::packet_record& r) {
  const auto c = r.src_ip <=> r.dst_ip;
  const bool src_first = c < 0 || (c == 0 && r.src_port <= r.dst_port);
  std::uint64_t h = 0xcbf29ce484222325ULL;
  h = fnv(h, (src_first ? r.src_ip : r.dst_ip).b.data(), 16);
  h = fnv(h, (src_first ? r.dst_ip : r.src_ip).b.data(), 16);
  const std::uint16_t a = src_first ? r.src_port : r.dst_port;
  const std::uint16_t b = src_first ? r.dst_port : r.src_port;
  h = fnv(h, &a, 2);
  return fnv(h, &b, 2);
}

proto::packet_view view_of(const net::packet_record& r) {
  proto::packet_view v;
  v.src_ip = r.src_ip;
  v.dst_ip = r.dst_ip;
  v.src_mac = r.src_mac;
  v.dst_mac = r.dst_mac;
  v.src_port = r.src_port;
  v.dst_port = r.dst_port;
  v.ip_proto = r.ip_proto;
  v.has_ip = r.l3 == static_cast<std::uint8_t>(net::l3_type::ipv4) ||
             r.l3 == static_cast<std::uint8_t>(net::l3_type::ipv6);
  v.ts_ns = r.ts_ns;
  return v;
}

bool bytes_start(net::bytes b, std::string_view s) {
  return b.size() >= s.size() && std::memcmp(b.data(), s.data(), s.size()) == 0;
}

enum class stream_kind : std::uint8_t { unknown, tls, ssh, http, smb, none };

// A UPnP device description (an XML body of a 200 response) says what the
// server is: the body as far as the stream prefix holds it.
bool upnp_candidate(const proto::http_message& m) {
  return m.kind == proto::http_kind::response && m.status == 200 && m.content_type.find("xml") != std::string_view::npos;
}

void upnp_body(analyzer_counters& c, const proto::http_message& m, net::bytes message, const proto::packet_view& pv,
               proto::fact_sink& s) {
  if (!upnp_candidate(m) || m.head_len >= message.size()) return;
  auto body = message.subspan(m.head_len);
  if (m.content_length && *m.content_length < body.size()) body = body.first(static_cast<std::size_t>(*m.content_length));
  proto::upnp_description d;
  if (proto::parse_upnp_description(body, d) != proto::upnp_error::not_upnp) {
    ++c.upnp;
    proto::upnp_facts(d, pv, s);
  }
}
}  // namespace

// Parser outputs are large structs: kept and reused, never on the stack.
struct analyzer::impl {
  proto::dhcp_message dhcp{};
  proto::dns_message dns{};
  proto::nbns_message nbns{};
  proto::nbdgm_message nbdgm{};
  proto::ssdp_message ssdp{};
  proto::dhcpv6_message dhcpv6{};
  proto::bacnet_message bacnet{};
  proto::enip_segment enip{};
  proto::dnp3_segment dnp3{};
  proto::modbus_segment modbus{};
  proto::s7comm_segment s7{};
  proto::lldp_frame lldp{};
  proto::cdp_frame cdp{};
  proto::profinet_dcp_message pn{};
  proto::http_message http{};
  proto::tls_client_hello ch{};
  proto::tls_server_hello sh{};
  proto::ssh_handshake ssh{};
  proto::smb_message smb{};
  proto::snmp_message snmp{};
  proto::wsd_message wsd{};

  struct stream {
    std::uint64_t key = 0;
    net::snapshot_header h{};   // the latest segment: who sends, who receives
    std::string data;
    std::uint32_t next_seq = 0;
    std::size_t parsed = 0;     // bytes of whole messages already handled (HTTP, SMB)
    bool client = false;
    bool done = false;
    stream_kind kind = stream_kind::unknown;
    std::uint64_t last_ns = 0;
  };
  // LRU of streams: front is the most recent.
  std::list<stream> lru;
  std::unordered_map<std::uint64_t, std::list<stream>::iterator> streams;

  // Per-connection OT parser state (S7comm SZL fragments, EtherNet/IP pairing).
  std::unordered_map<std::uint64_t, proto::s7comm_flow_state> s7_state;
  std::unordered_map<std::uint64_t, proto::enip_flow_state> enip_state;

  // Parses what a stream holds so far; `last`: no more bytes will come.
  void step(analyzer& a, stream& st, bool last);
  // A stream that ends (gap, eviction, end of input) gives what it has.
  void done(analyzer& a, stream& st);
};

namespace {
// Passes a parser's facts to the analyzer with the packet they came from.
class sink final : public proto::fact_sink {
 public:
  sink(analyzer& a, const net::snapshot_header& h, const proto::packet_view& pv) : a_(a), h_(h), pv_(pv) {}
  void add(proto::fact f) override { a_.add_fact(std::move(f), h_, pv_); }

 private:
  analyzer& a_;
  const net::snapshot_header& h_;
  const proto::packet_view& pv_;
};
// "<source>/role = server": the sender answered as the server of an
// industrial protocol (the value fits the small-string buffer: no heap).
void server_role(proto::fact_sink& s, proto::source_name source) {
  proto::fact f;
  f.about = proto::subject::sender;
  f.source = source;
  f.field = "role";
  f.value = "server";
  f.confidence = 80;
  s.add(std::move(f));
}
}  // namespace

analyzer::analyzer(tables t, emitter& out, state_header* state, analyzer_options opt)
    : t_(t), out_(out), opt_(opt), state_(state), p_(std::make_unique<impl>()) {
  if (state_ == nullptr) {
    constexpr std::uint32_t capacity = 1u << 14;
    local_state_.assign(state_bytes(capacity), 0);
    state_ = reinterpret_cast<state_header*>(local_state_.data());
    state_->magic = state_magic;
    state_->version = state_version;
    state_->capacity = capacity;
  }
  conns_ = attach(*state_);
}

analyzer::~analyzer() = default;

void analyzer::add_fact(proto::fact f, const net::snapshot_header& h, const proto::packet_view& pv) {
  ++c_.facts;
  const auto& r = h.rec;
  std::uint64_t mac = 0;
  std::optional<net::ip_address> ip;
  switch (f.about) {
    case proto::subject::sender:
      if (pv.has_ip) {
        ip = pv.src_ip;
        // Not routed: the source MAC is the sender's own.
        if (is_initial_ttl(r.ttl) && r.tunnel_depth == 0) mac = pv.src_mac.to_u64();
      } else {
        mac = pv.src_mac.to_u64();
      }
      break;
    case proto::subject::receiver:
      if (pv.has_ip) {
        ip = pv.dst_ip;
      } else {
        mac = pv.dst_mac.to_u64();
      }
      break;
    case proto::subject::ip:
      ip = f.ip;
      break;
    case proto::subject::mac:
      mac = f.mac.to_u64();
      break;
  }
  std::string network;
  if (t_.classifier != nullptr) {
    network = t_.classifier->network_name(t_.classifier->network_of(r.port_id, r.vlan[0], r.vlan_count != 0));
  }
  // "This address has this MAC" (LLDP/CDP management address, EtherNet/IP,
  // PROFINET, a DHCPv6 client's link-layer address): a binding, told as a
  // fact about the MAC and sent typed beside it (the parser gives the MAC
  // and the address as values, not only as text).
  std::optional<net::ip_address> bound;
  if (f.field == "mac" && ip && !f.mac.is_zero()) {
    mac = f.mac.to_u64();
    f.value = ip->to_string();
    f.field = "ip";
    bound = ip;
    ip.reset();
  } else if (f.field == "ip" && f.about != proto::subject::ip) {
    bound = f.ip;
  }
  // An mDNS responder announces its own addresses: a local sender's
  // A/AAAA records bind them to its MAC.
  if (f.source == "mdns" && f.field == "hostname" && f.about == proto::subject::ip && pv.has_ip &&
      is_initial_ttl(r.ttl) && r.tunnel_depth == 0 && !pv.src_mac.is_multicast() && !pv.src_mac.is_zero() && ip) {
    out_.about_binding(pv.src_mac.to_u64(), *ip, schema::BindingSource::ANNOUNCED, r.ts_ns, "mdns", "ip", 70, network);
  }
  if (t_.classifier != nullptr) {
    // Excluded assets keep no attributes, and other assets' facts do not
    // name them either (a TLS SNI or HTTP Host that is an excluded address).
    const auto named = net::ip_address::parse(f.value);
    if ((mac != 0 && t_.classifier->excluded_mac(net::mac_address::from_u64(mac))) ||
        (ip && t_.classifier->excluded_ip(*ip)) || (named && t_.classifier->excluded_ip(*named))) {
      ++c_.excluded;
      return;
    }
  }
  out_.about(mac, ip, r.ts_ns, f.source, f.field, f.value, f.confidence, network);
  if (bound && mac != 0) {
    out_.bind(mac, *bound, schema::BindingSource::ANNOUNCED, r.ts_ns, network);
  }
}

void analyzer::on_snapshot(const net::snapshot_header& h, net::bytes packet) {
  ++c_.snapshots;
  const auto& rec = h.rec;
  if (t_.classifier != nullptr && (t_.classifier->excluded_mac(rec.src_mac) ||
                                   (rec.l3 != static_cast<std::uint8_t>(net::l3_type::other) &&
                                    t_.classifier->excluded_ip(rec.src_ip)))) {
    ++c_.excluded;
    return;  // nothing about an excluded asset is kept
  }
  if (t_.oui != nullptr && (h.reason & net::snapreason::new_mac) != 0 && !rec.src_mac.is_multicast() &&
      !rec.src_mac.is_zero()) {
    ++c_.vendor_lookups;
    if (const auto v = t_.oui->vendor(rec.src_mac)) {
      // The registry's text stays as evidence (and feeds the oui rules);
      // the brand as people write it outranks it. A module or ODM maker's
      // block is weak evidence of the brand: what the device says or whom
      // it calls should name it, the module maker staying as module_vendor.
      const auto name = fp::vendor_brand(*v);
      if (name.module) {
        out_.about_mac(rec.src_mac, rec.ts_ns, "oui", "vendor", *v, confidence::oui_module_vendor);
        out_.about_mac(rec.src_mac, rec.ts_ns, "oui", "module_vendor", name.brand, confidence::oui_vendor);
        if (name.brand != *v) {
          out_.about_mac(rec.src_mac, rec.ts_ns, "oui", "vendor", name.brand, confidence::oui_module_vendor + 1);
        }
      } else {
        out_.about_mac(rec.src_mac, rec.ts_ns, "oui", "vendor", *v, confidence::oui_vendor);
        if (name.brand != *v) {
          out_.about_mac(rec.src_mac, rec.ts_ns, "oui", "vendor", name.brand, confidence::oui_brand);
        }
      }
    }
  }
  const std::size_t caplen = std::min<std::size_t>(h.caplen, packet.size());
  packet = packet.first(caplen);
  const auto l3 = static_cast<net::l3_type>(rec.l3);
  if (l3 == net::l3_type::other) {
    layer2(h, packet);
    return;
  }
  const bool ip = l3 == net::l3_type::ipv4 || l3 == net::l3_type::ipv6;
  if (!ip) {
    return;
  }
  if ((rec.flags & net::pktflag::fragment) != 0) {
    // A fragment: parse the datagram once it is whole.
    if (h.l3_off >= caplen) return;
    const auto r = reasm_.add(packet.subspan(h.l3_off), rec.ts_ns);
    if (r.status == net::reassembly_status::complete && r.proto == net::ipproto::udp && r.payload.size() >= 8) {
      ++c_.reassembled;
      const auto* u = r.payload.data();
      const std::size_t ulen = std::min<std::size_t>(net::load_be16(u + 4), r.payload.size());
      if (ulen >= 8) {
        udp(h, net::load_be16(u), net::load_be16(u + 2), r.payload.subspan(8, ulen - 8));
      }
    }
    if (r.status != net::reassembly_status::not_fragment) return;
  }
  if (rec.ip_proto == net::ipproto::gre && std::size_t{h.l4_off} + 4 <= caplen && h.payload_off <= caplen) {
    gre(h, net::load_be16(packet.data() + h.l4_off + 2), packet.subspan(h.payload_off));
    return;
  }
  if ((rec.flags & net::pktflag::has_ports) == 0) {
    return;
  }
  if (rec.ip_proto == net::ipproto::udp && h.payload_off <= caplen) {
    // The UDP payload, bounded by the UDP length (not the capture).
    udp(h, rec.src_port, rec.dst_port,
        packet.subspan(h.payload_off, std::min<std::size_t>(caplen - h.payload_off, rec.l4_payload)));
  } else if (rec.ip_proto == net::ipproto::tcp) {
    if ((rec.tcp_flags & net::tcpflag::syn) != 0 && h.l3_off < caplen) {
      tcp_syn(h, packet.subspan(h.l3_off));
    }
    if (rec.l4_payload != 0) {
      tcp(h, packet, caplen);
    }
  }
}

void analyzer::layer2(const net::snapshot_header& h, net::bytes frame) {
  const auto& rec = h.rec;
  const auto pv = view_of(rec);
  sink s(*this, h, pv);
  auto& p = *p_;
  switch (proto::ethertype_parser(rec.ethertype)) {
    case proto::parser::lldp: {
      const auto e = proto::parse_lldp(frame, p.lldp);
      if (e != proto::lldp_error::not_lldp && e != proto::lldp_error::truncated_header) {
        ++c_.parsed[p_lldp];
        proto::lldp_facts(p.lldp, pv, s);
      }
      return;
    }
    case proto::parser::profinet_dcp:
      if (h.l3_off <= frame.size() &&
          proto::parse_profinet_dcp(frame.subspan(h.l3_off), p.pn) == proto::profinet_error::none) {
        ++c_.parsed[p_profinet];
        proto::profinet_facts(p.pn, pv, s, [this](std::uint16_t id) {
          return t_.profinet != nullptr ? t_.profinet->name(id) : std::string_view{};
        });
      }
      return;
    case proto::parser::cdp: {
      // 802.3 with LLC/SNAP: CDP (the parser checks the SNAP header).
      const auto e = proto::parse_cdp(frame, p.cdp);
      if (e != proto::cdp_error::not_cdp && e != proto::cdp_error::truncated_header) {
        ++c_.parsed[p_cdp];
        proto::cdp_facts(p.cdp, pv, s);
      }
      return;
    }
    default:
      return;
  }
}

void analyzer::gre(const net::snapshot_header& h, std::uint16_t gre_protocol, net::bytes pdu) {
  // A router's own CDP over a GRE tunnel: the facts are about the
  // GRE packet's sender (its tunnel address), and no MAC is bound to the
  // addresses it announces (the frame's MAC is only the last hop's).
  auto pv = view_of(h.rec);
  pv.src_mac = {};
  pv.dst_mac = {};
  sink s(*this, h, pv);
  auto& p = *p_;
  switch (proto::gre_parser(gre_protocol)) {
    case proto::parser::cdp: {
      const auto e = proto::parse_cdp_pdu(pdu, p.cdp);
      if (e != proto::cdp_error::not_cdp && e != proto::cdp_error::truncated_header) {
        ++c_.parsed[p_cdp];
        proto::cdp_facts(p.cdp, pv, s);
      }
      return;
    }
    default:
      return;
  }
}

void analyzer::udp(const net::snapshot_header& h, std::uint16_t sport, std::uint16_t dport, net::bytes payload) {
  auto& p = *p_;
  auto pv = view_of(h.rec);
  pv.src_port = sport;
  pv.dst_port = dport;
  sink s(*this, h, pv);
  // The registry (common/proto/registry.h) picks the parser, as it picked
  // which datagrams capture snapshots.
  switch (proto::udp_parser(sport, dport)) {
    case proto::parser::dhcp:
      if ((sport == 68 && dport == 67) || (sport == 67 && dport == 68) || (sport == 67 && dport == 67)) {
        dhcp(h, payload);
      }
      return;
    case proto::parser::dhcpv6:
      if (proto::parse_dhcpv6(payload, p.dhcpv6) == proto::dhcpv6_error::none) {
        ++c_.parsed[p_dhcpv6];
        proto::dhcpv6_facts(p.dhcpv6, pv, s);
      }
      return;
    case proto::parser::mdns:
    case proto::parser::llmnr:
    case proto::parser::dns: {
      // Parsed records stay usable up to the first problem.
      const auto which = proto::udp_parser(sport, dport);
      proto::parse_dns(payload, p.dns);
      if (p.dns.question_len == 0 && p.dns.record_len == 0) return;
      if (which == proto::parser::mdns) {
        ++c_.parsed[p_mdns];
        proto::mdns_facts(p.dns, pv, s);
      } else if (which == proto::parser::llmnr) {
        ++c_.parsed[p_llmnr];
        proto::llmnr_facts(p.dns, pv, s);
      } else {
        ++c_.parsed[p_dns];
        proto::dns_facts(p.dns, pv, s);
      }
      return;
    }
    case proto::parser::nbns:
      proto::parse_nbns(payload, p.nbns);
      ++c_.parsed[p_nbns];
      proto::nbns_facts(p.nbns, pv, s);
      return;
    case proto::parser::nbdgm:
      proto::parse_nbdgm(payload, p.nbdgm);
      ++c_.parsed[p_nbdgm];
      proto::nbdgm_facts(p.nbdgm, pv, s);
      return;
    case proto::parser::ssdp:
      if (proto::parse_ssdp(payload, p.ssdp) == proto::http_error::none) {
        ++c_.parsed[p_ssdp];
        proto::ssdp_facts(p.ssdp, pv, s);
      }
      return;
    case proto::parser::snmp:
      // A message cut short keeps what was read before the problem.
      proto::parse_snmp(payload, p.snmp);
      if (p.snmp.has_version) {
        ++c_.parsed[p_snmp];
        proto::snmp_facts(p.snmp, pv, s);
      }
      return;
    case proto::parser::wsd:
      if (proto::parse_wsd(payload, p.wsd) != proto::wsd_error::not_wsd) {
        ++c_.parsed[p_wsd];
        proto::wsd_facts(p.wsd, pv, s);
      }
      return;
    case proto::parser::bacnet:
      proto::parse_bacnet(payload, p.bacnet);
      ++c_.parsed[p_bacnet];
      proto::bacnet_facts(p.bacnet, pv, s, [this](std::uint32_t id) {
        return t_.bacnet != nullptr ? t_.bacnet->name(id) : std::string_view{};
      });
      return;
    case proto::parser::enip:
      proto::parse_enip(payload, p.enip, nullptr);
      ++c_.parsed[p_enip];
      proto::enip_facts(p.enip, pv, s, [this](std::uint16_t id) {
        return t_.cip != nullptr ? t_.cip->name(id) : std::string_view{};
      });
      return;
    case proto::parser::dnp3:
      proto::parse_dnp3(payload, p.dnp3);
      ++c_.parsed[p_dnp3];
      proto::dnp3_facts(p.dnp3, pv, s);
      return;
    default:
      return;
  }
}

bool analyzer::client_side(const net::packet_record& r) {
  // The side that sent the SYN is the client; without one, the side not on
  // the well-known (lower) port.
  if (conns_.find(conn_key{r.src_ip, r.dst_ip, r.src_port, r.dst_port}) != nullptr) return true;
  if (conns_.find(conn_key{r.dst_ip, r.src_ip, r.dst_port, r.src_port}) != nullptr) return false;
  return r.dst_port < r.src_port;
}

void analyzer::tcp(const net::snapshot_header& h, net::bytes packet, std::size_t caplen) {
  const auto& rec = h.rec;
  if (std::size_t{h.l4_off} + 8 > caplen || h.payload_off > caplen) return;
  const std::uint32_t seq = net::load_be32(packet.data() + h.l4_off + 4);
  const net::bytes payload = packet.subspan(h.payload_off, std::min<std::size_t>(caplen - h.payload_off, rec.l4_payload));
  const bool cut = payload.size() < rec.l4_payload;
  auto& p = *p_;
  auto pv = view_of(rec);
  sink s(*this, h, pv);
  const auto segment_parser = proto::tcp_segment_parser(rec.src_port, rec.dst_port);

  // Segment-oriented industrial protocols: every segment of their ports
  // arrives (the registry names them for capture and here alike).
  if (segment_parser == proto::parser::modbus) {
    const auto dir = rec.dst_port == 502 ? proto::modbus_direction::request : proto::modbus_direction::response;
    proto::parse_modbus(payload, p.modbus, dir);
    ++c_.parsed[p_modbus];
    proto::modbus_facts(p.modbus, pv, s);
    if (rec.src_port == 502 && p.modbus.adus_len != 0 && p.modbus.adus[0].protocol_id == 0) {
      server_role(s, "modbus");  // it answers Modbus/TCP: a server (PLC, RTU, meter, gateway)
    }
    return;
  }
  if (segment_parser == proto::parser::dnp3) {
    proto::parse_dnp3(payload, p.dnp3);
    ++c_.parsed[p_dnp3];
    proto::dnp3_facts(p.dnp3, pv, s);
    return;
  }
  if (segment_parser == proto::parser::s7comm) {
    if (p.s7_state.size() > 4096) p.s7_state.clear();
    proto::parse_s7comm(payload, p.s7, &p.s7_state[connection_key(rec)]);
    ++c_.parsed[p_s7comm];
    proto::s7comm_facts(p.s7, pv, s, [this](std::uint16_t id) {
      return t_.profinet != nullptr ? t_.profinet->name(id) : std::string_view{};
    });
    if (rec.src_port == 102) {
      for (const auto& pdu : p.s7.pdu_list()) {
        // From 102: an Ack_data (to Setup Communication, reads, writes...),
        // a userdata response or S7comm-plus (S7-1200/1500): the sender
        // answers S7 as its server, which S7 CPUs (and their CPs) are.
        if ((pdu.protocol_id == 0x32 && (pdu.rosctr == 3 || (pdu.userdata && pdu.method == 0x12))) ||
            pdu.protocol_id == 0x72) {
          server_role(s, "s7comm");
          break;
        }
      }
    }
    return;
  }
  if (segment_parser == proto::parser::enip) {
    if (p.enip_state.size() > 4096) p.enip_state.clear();
    proto::parse_enip(payload, p.enip, &p.enip_state[connection_key(rec)]);
    ++c_.parsed[p_enip];
    proto::enip_facts(p.enip, pv, s, [this](std::uint16_t id) {
      return t_.cip != nullptr ? t_.cip->name(id) : std::string_view{};
    });
    return;
  }

  // Stream protocols: follow the first bytes of this direction.
  const std::uint64_t key = direction_key(rec);
  auto it = p.streams.find(key);
  if (it == p.streams.end()) {
    if (p.streams.size() >= opt_.streams) {
      // Too many at once: the oldest gives up with what it has.
      auto& old = p.lru.back();
      if (!old.done) {
        ++c_.streams_evicted;
      }
      p.done(*this, old);
      p.streams.erase(old.key);
      p.lru.pop_back();
    }
    p.lru.push_front(impl::stream{});
    auto& st = p.lru.front();
    st.key = key;
    st.next_seq = seq;
    st.client = client_side(rec);
    it = p.streams.emplace(key, p.lru.begin()).first;
    ++c_.streams;
  } else if (it->second != p.lru.begin()) {
    p.lru.splice(p.lru.begin(), p.lru, it->second);
  }
  auto& st = *it->second;
  st.h = h;
  st.last_ns = rec.ts_ns;
  if (st.done) {
    // Past the stream's first bytes: a segment that starts an HTTP message
    // (a later response on a kept-alive connection) is read on its own.
    if ((h.reason & net::snapreason::message_start) != 0 && st.kind == stream_kind::http &&
        proto::parse_http(payload, p.http) == proto::http_error::none) {
      ++c_.parsed[p_stream];
      proto::http_facts(p.http, pv, s);
    }
    return;
  }
  // In sequence order only: a retransmission adds what is new, a gap ends the stream.
  const auto rel = static_cast<std::int32_t>(seq - st.next_seq);
  net::bytes add;
  if (rel == 0) {
    add = payload;
  } else if (rel < 0 && static_cast<std::size_t>(-static_cast<std::int64_t>(rel)) < payload.size()) {  // overlap
    add = payload.subspan(static_cast<std::size_t>(-static_cast<std::int64_t>(rel)));
  } else if (rel > 0) {
    ++c_.stream_gaps;
    p.done(*this, st);
    if ((h.reason & net::snapreason::message_start) != 0 && st.kind == stream_kind::http &&
        proto::parse_http(payload, p.http) == proto::http_error::none) {
      ++c_.parsed[p_stream];
      proto::http_facts(p.http, pv, s);
    }
    return;
  }
  if (!add.empty()) {
    const std::size_t room = opt_.stream_bytes > st.data.size() ? opt_.stream_bytes - st.data.size() : 0;
    st.data.append(reinterpret_cast<const char*>(add.data()), std::min(room, add.size()));
    st.next_seq += static_cast<std::uint32_t>(add.size());
  }
  p.step(*this, st, cut || st.data.size() >= opt_.stream_bytes);
}

void analyzer::impl::step(analyzer& a, stream& st, bool last) {
  auto& p = *this;
  auto& c_ = a.c_;
  const net::bytes data{reinterpret_cast<const std::uint8_t*>(st.data.data()), st.data.size()};
  if (st.kind == stream_kind::unknown) {
    if (data.size() < 4) {
      if (last) st.done = true;
      return;
    }
    const auto& r = st.h.rec;
    if (data[0] == 0x16 && data[1] == 0x03) {
      st.kind = stream_kind::tls;
    } else if (bytes_start(data, "SSH-")) {
      st.kind = stream_kind::ssh;
    } else if (r.src_port == 445 || r.dst_port == 445 || r.src_port == 139 || r.dst_port == 139) {
      st.kind = stream_kind::smb;
    } else if (proto::starts_http_message(data.data(), data.size())) {
      st.kind = stream_kind::http;
    } else {
      st.kind = stream_kind::none;
      st.done = true;
      return;
    }
  }
  const auto pv = view_of(st.h.rec);
  sink s(a, st.h, pv);
  switch (st.kind) {
    case stream_kind::tls:
      if (st.client) {
        const auto e = proto::parse_tls_client_hello(data, p.ch);
        if (e == proto::tls_error::incomplete && !last) return;
        if (e == proto::tls_error::none) {
          ++c_.parsed[p_stream];
          proto::tls_client_facts(p.ch, pv, s);
        }
      } else {
        const auto e = proto::parse_tls_server_hello(data, p.sh);
        const bool waiting = e == proto::tls_error::incomplete ||
                             (e == proto::tls_error::none && p.sh.cert_state == proto::tls_cert_state::pending);
        if (waiting && !last) return;
        if (e == proto::tls_error::none) {
          ++c_.parsed[p_stream];
          proto::tls_server_facts(p.sh, pv, s);
        }
      }
      st.done = true;
      return;
    case stream_kind::ssh: {
      const auto e = proto::parse_ssh(data, st.client ? proto::ssh_role::client : proto::ssh_role::server, p.ssh);
      if (e == proto::ssh_error::incomplete && !last && data.size() < 8192) return;
      if (p.ssh.has_banner) {
        ++c_.parsed[p_stream];
        proto::ssh_facts(p.ssh, pv, s);
      }
      st.done = true;
      return;
    }
    case stream_kind::http:
      while (st.parsed < data.size()) {
        const auto e = proto::parse_http(data.subspan(st.parsed), p.http);
        if (e == proto::http_error::incomplete) {
          if (last) {
            // A head cut short (a gap, the prefix bound, the end of input):
            // its complete lines are read as a whole head; a line cut in the
            // middle is not (its value would be cut too).
            st.done = true;
            const auto rest = data.subspan(st.parsed);
            std::size_t end = rest.size();
            while (end >= 2 && !(rest[end - 2] == '\r' && rest[end - 1] == '\n')) --end;
            if (end >= 2 && proto::parse_http(rest.first(end), p.http, true) == proto::http_error::none) {
              ++c_.parsed[p_stream];
              proto::http_facts(p.http, pv, s);
            }
          }
          return;
        }
        if (e != proto::http_error::none) {
          st.done = true;
          return;
        }
        if (!last && upnp_candidate(p.http) && p.http.message_len &&
            *p.http.message_len > data.size() - st.parsed) {
          return;  // an XML body still coming: read the message once it is whole (or the prefix is full)
        }
        ++c_.parsed[p_stream];
        proto::http_facts(p.http, pv, s);
        upnp_body(c_, p.http, data.subspan(st.parsed), pv, s);
        if (!p.http.message_len || *p.http.message_len == 0) {
          st.done = true;  // body of unknown length: nothing more to find here
          return;
        }
        st.parsed += static_cast<std::size_t>(*p.http.message_len);
      }
      if (last) st.done = true;
      return;
    case stream_kind::smb:
      while (st.parsed < data.size()) {
        const auto e = proto::parse_smb(data.subspan(st.parsed), p.smb);
        if (e == proto::smb_error::incomplete) {
          if (last) st.done = true;
          return;
        }
        if (e == proto::smb_error::not_smb || p.smb.frame_len == 0) {
          st.done = true;
          return;
        }
        if (e == proto::smb_error::none) {
          ++c_.parsed[p_stream];
          proto::smb_facts(p.smb, pv, s);
        }
        st.parsed += p.smb.frame_len;
      }
      if (last) st.done = true;
      return;
    default:
      st.done = true;
      return;
  }
}

void analyzer::impl::done(analyzer& a, stream& st) {
  // A server hello whose certificate never came, an SSH banner without
  // KEXINIT, an HTTP head cut short: parse once more as final.
  if (!st.done) {
    step(a, st, true);
  }
  st.done = true;
}

void analyzer::finish() {
  for (auto& st : p_->lru) {
    p_->done(*this, st);
  }
}

// Some embedded DHCP clients send Windows' vendor class "MSFT 5.0" so that
// Windows DHCP servers treat them as Windows (TP-Link's Tapo C200 camera
// does). Two things in the same request say which stack really sent it:
// Windows' DHCP client has requested option 31 (router discovery) in every
// list since Windows 2000 (2000/XP, Vista-8.1 and 10/11 lists alike), and the
// Windows IP stack starts at TTL 128 (a client's own broadcast crosses no
// router: giaddr is zero). A request with neither is not from Windows, and
// its vendor class is stated too weakly to name the OS.
namespace {
bool imitated_windows_class(const proto::dhcp_message& m, std::uint8_t ttl) {
  if (m.vendor_class.substr(0, 5) != "MSFT " || m.prl_len == 0 || !m.giaddr.is_unspecified()) return false;
  for (const auto code : m.prl_items()) {
    if (code == 31) return false;
  }
  return ttl <= 64;
}
}  // namespace

void analyzer::dhcp(const net::snapshot_header& h, net::bytes payload) {
  ++c_.dhcp;
  auto& m = p_->dhcp;
  m = proto::dhcp_message{};
  const auto err = proto::parse_dhcp(payload, m);
  if (err != proto::dhcp_error::none) {
    ++c_.dhcp_errors;
  }
  if (!m.chaddr_is_mac || m.chaddr.is_zero() || m.chaddr.is_multicast()) {
    return;
  }
  if (t_.classifier != nullptr && t_.classifier->excluded_mac(m.chaddr)) {
    ++c_.excluded;
    return;
  }
  const auto ts = h.rec.ts_ns;
  std::string network;
  if (t_.classifier != nullptr) {
    network = t_.classifier->network_name(t_.classifier->network_of(h.rec.port_id, h.rec.vlan[0], h.rec.vlan_count != 0));
  }
  const std::uint64_t mac = m.chaddr.to_u64();
  auto say = [&](proto::field_name field, std::string_view value, std::uint8_t conf) {
    out_.about(mac, std::nullopt, ts, "dhcp", field, value, conf, network);
  };
  auto binds = [&](proto::field_name field, const net::ip_address& a, schema::BindingSource how, std::uint8_t conf) {
    out_.about_binding(mac, a, how, ts, "dhcp", field, conf, network);
  };
  if (m.op == 1) {
    // The client speaks for itself.
    say("hostname", m.hostname, confidence::dhcp_hostname);
    say("vendor_class", m.vendor_class,
        imitated_windows_class(m, h.rec.ttl) ? confidence::dhcp_imitated_class : confidence::dhcp_attribute);
    if (m.prl_len != 0) {
      say("parameter_request_list", proto::prl_string(m), confidence::dhcp_attribute);
    }
    if (m.has_fqdn && !m.fqdn_name().empty()) {
      say("fqdn", m.fqdn_name(), confidence::dhcp_attribute);
    }
    if (m.requested_ip) {
      binds("requested_ip", *m.requested_ip, schema::BindingSource::DHCP_REQUESTED, confidence::dhcp_requested);
    }
    if (!m.ciaddr.is_unspecified()) {
      binds("ip", m.ciaddr, schema::BindingSource::DHCP, confidence::dhcp_client_address);
    }
  } else if (m.op == 2 && m.message_type == 5 && !m.yiaddr.is_unspecified()) {
    // DHCPACK: the lease binds the address to the client's MAC.
    binds("ip", m.yiaddr, schema::BindingSource::DHCP, confidence::dhcp_lease);
  }
}

void analyzer::tcp_syn(const net::snapshot_header& h, net::bytes ip_packet) {
  const auto& r = h.rec;
  const auto sig = t_.p0f != nullptr ? fp::extract_tcp_signature(ip_packet) : std::nullopt;
  // Remember who opened the connection (and its SYN's MSS) either way.
  if ((r.tcp_flags & net::tcpflag::ack) == 0) {
    const conn_key k{r.src_ip, r.dst_ip, r.src_port, r.dst_port};
    bool inserted = false;
    conn_value* v = conns_.find_or_insert(k, inserted);
    if (v == nullptr) {
      // Full: forget connections quiet for two minutes, or all if need be.
      for (std::uint32_t i = 0; i < conns_.capacity();) {
        auto& slot = conns_.at(i);
        if (slot.used != 0 && slot.value.seen_ns + 120'000'000'000ULL < r.ts_ns) {
          ++state_->evicted;
          if (conns_.erase_at(i)) continue;
        }
        ++i;
      }
      if (conns_.full()) {
        state_->evicted += conns_.size();
        conns_.clear();
      }
      v = conns_.find_or_insert(k, inserted);
    }
    if (v != nullptr) {
      v->syn_mss = sig ? sig->mss : 0;
      v->seen_ns = r.ts_ns;
    }
  }
  if (!sig) {
    return;
  }
  ++c_.tcp_signatures;
  std::uint16_t syn_mss = 0;
  if (sig->syn_ack) {
    if (const conn_value* v = conns_.find(conn_key{r.dst_ip, r.src_ip, r.dst_port, r.src_port})) {
      syn_mss = v->syn_mss;
    }
  }
  const auto v = fp::match(*t_.p0f, *sig, syn_mss);
  if (!v) {
    return;
  }
  ++c_.p0f_matches;
  const std::uint8_t conf = v->fuzzy ? confidence::p0f_fuzzy
                            : v->generic ? confidence::p0f_generic
                                         : confidence::p0f_exact;
  // A userland match (a scanner's crafted SYN) names a tool, not the OS.
  const auto pv = view_of(r);
  add_fact({proto::subject::sender, {}, {}, "p0f", v->userland ? proto::field_name("app") : proto::field_name("os"),
            v->label, conf},
           h, pv);
  add_fact({proto::subject::sender, {}, {}, "p0f", "raw_sig", v->raw_sig, confidence::raw}, h, pv);
}

}  // namespace tapsense::fingerprinter
