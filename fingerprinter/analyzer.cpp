#include "fingerprinter/analyzer.h"

#include "common/fp/oui.h"
#include "common/fp/p0f.h"
#include "common/proto/dhcp.h"

namespace tapsense::fingerprinter {

void analyzer::on_snapshot(const net::snapshot_header& h, net::bytes packet) {
  ++c_.snapshots;
  const auto& rec = h.rec;
  if (oui_ != nullptr && (h.reason & net::snapreason::new_mac) != 0 && !rec.src_mac.is_multicast() &&
      !rec.src_mac.is_zero()) {
    ++c_.vendor_lookups;
    if (const auto v = oui_->vendor(rec.src_mac)) {
      out_.about_mac(rec.src_mac, rec.ts_ns, "oui", "vendor", *v, confidence::oui_vendor);
    }
  }
  const bool ip = rec.l3 == static_cast<std::uint8_t>(net::l3_type::ipv4) ||
                  rec.l3 == static_cast<std::uint8_t>(net::l3_type::ipv6);
  if (!ip || (rec.flags & net::pktflag::has_ports) == 0) {
    return;
  }
  const std::size_t caplen = std::min<std::size_t>(h.caplen, packet.size());
  if (rec.ip_proto == net::ipproto::udp && h.payload_off <= caplen &&
      ((rec.src_port == 68 && rec.dst_port == 67) || (rec.src_port == 67 && rec.dst_port == 68) ||
       (rec.src_port == 67 && rec.dst_port == 67))) {
    // The UDP payload, bounded by the UDP length (not the capture).
    dhcp(h, packet.subspan(h.payload_off, std::min<std::size_t>(caplen - h.payload_off, rec.l4_payload)));
  }
  if (rec.ip_proto == net::ipproto::tcp && (rec.tcp_flags & net::tcpflag::syn) != 0 && h.l3_off < caplen) {
    tcp_syn(h, packet.subspan(h.l3_off, caplen - h.l3_off));
  }
}

void analyzer::dhcp(const net::snapshot_header& h, net::bytes payload) {
  ++c_.dhcp;
  proto::dhcp_message m{};
  const auto err = proto::parse_dhcp(payload, m);
  if (err != proto::dhcp_error::none) {
    ++c_.dhcp_errors;
  }
  if (!m.chaddr_is_mac || m.chaddr.is_zero() || m.chaddr.is_multicast()) {
    return;
  }
  const auto ts = h.rec.ts_ns;
  if (m.op == 1) {
    // The client speaks for itself.
    out_.about_mac(m.chaddr, ts, "dhcp", "hostname", m.hostname, confidence::dhcp_hostname);
    out_.about_mac(m.chaddr, ts, "dhcp", "vendor_class", m.vendor_class, confidence::dhcp_attribute);
    if (m.prl_len != 0) {
      out_.about_mac(m.chaddr, ts, "dhcp", "parameter_request_list", proto::prl_string(m),
                     confidence::dhcp_attribute);
    }
    if (m.has_fqdn && !m.fqdn_name().empty()) {
      out_.about_mac(m.chaddr, ts, "dhcp", "fqdn", m.fqdn_name(), confidence::dhcp_attribute);
    }
    if (m.requested_ip) {
      out_.about_mac(m.chaddr, ts, "dhcp", "requested_ip", m.requested_ip->to_string(),
                     confidence::dhcp_requested);
    }
    if (!m.ciaddr.is_unspecified()) {
      out_.about_mac(m.chaddr, ts, "dhcp", "ip", m.ciaddr.to_string(), confidence::dhcp_client_address);
    }
  } else if (m.op == 2 && m.message_type == 5 && !m.yiaddr.is_unspecified()) {
    // DHCPACK: the lease binds the address to the client's MAC.
    out_.about_mac(m.chaddr, ts, "dhcp", "ip", m.yiaddr.to_string(), confidence::dhcp_lease);
  }
}

namespace {
// Key of a TCP connection seen from its client.
std::uint64_t conn_key(const net::ip_address& cli, std::uint16_t cport, const net::ip_address& srv,
                       std::uint16_t sport) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  auto mix = [&](const void* p, std::size_t n) {
    const auto* b = static_cast<const std::uint8_t*>(p);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001b3ULL;
  };
  mix(cli.b.data(), 16);
  mix(&cport, 2);
  mix(srv.b.data(), 16);
  mix(&sport, 2);
  return h;
}
constexpr std::size_t syn_mss_cap = 1u << 16;
}  // namespace

void analyzer::tcp_syn(const net::snapshot_header& h, net::bytes ip_packet) {
  if (p0f_ == nullptr) {
    return;
  }
  const auto sig = fp::extract_tcp_signature(ip_packet);
  if (!sig) {
    return;
  }
  ++c_.tcp_signatures;
  const auto& r = h.rec;
  std::uint16_t syn_mss = 0;
  if (!sig->syn_ack) {
    if (syn_mss_.size() >= syn_mss_cap) syn_mss_.clear();
    syn_mss_[conn_key(r.src_ip, r.src_port, r.dst_ip, r.dst_port)] = sig->mss;
  } else if (auto it = syn_mss_.find(conn_key(r.dst_ip, r.dst_port, r.src_ip, r.src_port));
             it != syn_mss_.end()) {
    syn_mss = it->second;
  }
  const auto v = fp::match(*p0f_, *sig, syn_mss);
  if (!v) {
    return;
  }
  ++c_.p0f_matches;
  const std::uint8_t conf = v->fuzzy ? confidence::p0f_fuzzy
                            : v->generic ? confidence::p0f_generic
                                         : confidence::p0f_exact;
  // A userland match (a scanner's crafted SYN) names a tool, not the OS.
  out_.about_ip(r.src_ip, r.ts_ns, "p0f", v->userland ? "app" : "os", v->label, conf);
  out_.about_ip(r.src_ip, r.ts_ns, "p0f", "raw_sig", v->raw_sig, confidence::raw);
}

}  // namespace tapsense::fingerprinter
