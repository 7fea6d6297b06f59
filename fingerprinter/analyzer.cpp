#include "fingerprinter/analyzer.h"

#include "common/fp/oui.h"
#include "common/fp/p0f.h"
#include "common/proto/dhcp.h"

namespace tapsense::fingerprinter {

analyzer::analyzer(const fp::oui_registry* oui, const fp::p0f_db* p0f, emitter& out, state_header* state)
    : oui_(oui), p0f_(p0f), out_(out), state_(state) {
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
  if ((rec.flags & net::pktflag::fragment) != 0) {
    // A fragment: parse the datagram once it is whole.
    if (h.l3_off >= caplen) return;
    const auto r = reasm_.add(packet.subspan(h.l3_off, caplen - h.l3_off), rec.ts_ns);
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
  if (rec.ip_proto == net::ipproto::udp && h.payload_off <= caplen) {
    // The UDP payload, bounded by the UDP length (not the capture).
    udp(h, rec.src_port, rec.dst_port,
        packet.subspan(h.payload_off, std::min<std::size_t>(caplen - h.payload_off, rec.l4_payload)));
  }
  if (rec.ip_proto == net::ipproto::tcp && (rec.tcp_flags & net::tcpflag::syn) != 0 && h.l3_off < caplen) {
    tcp_syn(h, packet.subspan(h.l3_off, caplen - h.l3_off));
  }
}

void analyzer::udp(const net::snapshot_header& h, std::uint16_t sport, std::uint16_t dport, net::bytes payload) {
  if ((sport == 68 && dport == 67) || (sport == 67 && dport == 68) || (sport == 67 && dport == 67)) {
    dhcp(h, payload);
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
      v->syn_mss = sig->mss;
      v->seen_ns = r.ts_ns;
    }
  } else if (const conn_value* v = conns_.find(conn_key{r.dst_ip, r.src_ip, r.dst_port, r.src_port})) {
    syn_mss = v->syn_mss;
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
