#include "aggregator/shard.h"

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <algorithm>
#include <cstring>

#include "common/net/snapshot.h"
#include "common/schema/report.capnp.h"

namespace tapsense::aggregator {

namespace {

using config::address_class;

constexpr std::size_t batch_limit = 4096;  // records per Cap'n Proto batch, at most
constexpr std::size_t record_budget = 512;  // bytes a flow or sighting record may take, generously
constexpr std::uint64_t sweep_every_ns = 10'000'000'000ULL;
constexpr std::uint64_t ns = 1'000'000'000ULL;

// Ports a server listens on, beyond the privileged range.
bool is_service_port(std::uint16_t p) noexcept {
  if (p != 0 && p < 1024) {
    return true;
  }
  switch (p) {
    case 1080: case 1194: case 1433: case 1521: case 1701: case 1723: case 1883: case 1900:
    case 2049: case 2222: case 3128: case 3268: case 3306: case 3389: case 3478: case 3702:
    case 4500: case 5060: case 5061: case 5222: case 5353: case 5355: case 5432: case 5671:
    case 5672: case 5900: case 5985: case 5986: case 6379: case 6443: case 8000: case 8008:
    case 8080: case 8443: case 8883: case 8888: case 9000: case 9090: case 9100: case 9200:
    case 11211: case 20000: case 27017: case 34964: case 44818: case 47808:
      return true;
    default:
      return false;
  }
}

// Initial TTL / hop limit values of common stacks (Windows 128, Unix 64,
// network gear 255, old stacks 32). A packet that still carries one was not
// routed between its sender and the mirror.
bool is_initial_ttl(std::uint8_t ttl) noexcept {
  return ttl == 64 || ttl == 128 || ttl == 255 || ttl == 32;
}

bool has_ports(const net::packet_record& r) noexcept {
  return (r.flags & net::pktflag::has_ports) != 0 &&
         (r.ip_proto == net::ipproto::tcp || r.ip_proto == net::ipproto::udp ||
          r.ip_proto == net::ipproto::sctp);
}

struct direction {
  bool sender_is_client;
  std::uint8_t decided_by;  // 0 first packet, 1 ports, 2 handshake/protocol
};

direction decide(const net::packet_record& r) noexcept {
  if (r.ip_proto == net::ipproto::tcp && (r.flags & net::pktflag::has_ports) != 0 &&
      (r.tcp_flags & net::tcpflag::syn) != 0) {
    return {(r.tcp_flags & net::tcpflag::ack) == 0, 2};
  }
  if ((r.ip_proto == net::ipproto::icmp || r.ip_proto == net::ipproto::icmpv6) &&
      (r.flags & net::pktflag::later_fragment) == 0) {
    switch (r.src_port) {  // ICMP type
      case 8: case 13: case 15: case 17: case 128:  // requests
        return {true, 2};
      case 0: case 14: case 16: case 18: case 129:  // replies
        return {false, 2};
      default:
        return {true, 0};
    }
  }
  if (has_ports(r)) {
    const bool s = is_service_port(r.src_port);
    const bool d = is_service_port(r.dst_port);
    if (d && !s) return {true, 1};
    if (s && !d) return {false, 1};
    if (s && d && r.src_port != r.dst_port) return {r.src_port > r.dst_port, 1};
  }
  return {true, 0};
}

kj::ArrayPtr<const kj::byte> ip_bytes(const net::ip_address& a) {
  return kj::arrayPtr(reinterpret_cast<const kj::byte*>(a.b.data()), a.b.size());
}

schema::AddressClass to_schema(std::uint8_t c) {
  switch (static_cast<address_class>(c)) {
    case address_class::inventoried: return schema::AddressClass::INVENTORIED;
    case address_class::non_inventoried: return schema::AddressClass::NON_INVENTORIED;
    case address_class::monitored_external: return schema::AddressClass::MONITORED_EXTERNAL;
    case address_class::excluded: return schema::AddressClass::EXCLUDED;
    case address_class::unassigned: return schema::AddressClass::UNASSIGNED;
    case address_class::broadcast: return schema::AddressClass::BROADCAST;
    case address_class::multicast: return schema::AddressClass::MULTICAST;
    case address_class::external: break;
  }
  return schema::AddressClass::EXTERNAL;
}

// Sides reported with their address: everything but External and Excluded.
bool keeps_address(address_class c) noexcept {
  return c == address_class::inventoried || c == address_class::non_inventoried ||
         c == address_class::monitored_external || config::is_special(c);
}

constexpr std::uint64_t broadcast_mac = 0xffffffffffffULL;

std::uint64_t conn_id(const conn_key& k) noexcept { return hash_bytes(&k, sizeof k); }

}  // namespace

shard::shard(state_header& h, const config::config& cfg, ipc::ring& out, std::string producer,
             std::function<bool()> keep_waiting, app_classifier* apps)
    : h_(h),
      cfg_(cfg),
      t_(attach(h)),
      cls_(cfg),
      out_(out),
      producer_(std::move(producer)),
      keep_waiting_(std::move(keep_waiting)),
      apps_(apps),
      flow_interval_ns_(cfg.aggregator.flow_interval_s * ns),
      sighting_interval_ns_(cfg.aggregator.asset_interval_s * ns),
      update_interval_ns_(cfg.aggregator.asset_update_interval_s * ns) {
  // Batch size is a function of the ring alone, so a restarted shard cuts the
  // same batches (with the same ids) as the one before it.
  max_frame_ = out.max_payload();
  batch_max_ = std::clamp<std::size_t>(max_frame_ / record_budget, 16, batch_limit);
  spool_ = ipc::spool(reinterpret_cast<std::uint8_t*>(&h) + h.spool_offset, h.spool_capacity, &h.spool_pos);
  const auto& a = cfg.aggregator;
  wheel_.init(t_.conns.capacity(), sweep_every_ns, std::max({a.tcp_idle_s, a.udp_idle_s, a.other_idle_s}) * ns);
  rebuild_wheel();
  // The slot lists grow on the packet path: room for a whole table each,
  // reserved here, so they never allocate there.
  binding_slots_ = t_.bindings.used_slots();
  binding_slots_.reserve(t_.bindings.capacity());
  report_slots_ = t_.reports.used_slots();
  report_slots_.reserve(t_.reports.capacity());
  fresh_asset_slots_.reserve(t_.assets.capacity());
  t_.assets.for_each([&](std::uint32_t i, const auto&, const asset_value& v) {
    if (v.reported == 0) fresh_asset_slots_.push_back(i);
  });
}

std::uint64_t shard::spooled_bytes() const noexcept { return spool_.waiting(); }

bool shard::spool_gated() const noexcept {
  // A cycle deferred for want of spool room is not built again until the
  // spool has drained enough for it (or entirely): no rebuild per packet.
  return h_.spool_need != 0 && spool_.waiting() != 0 && !spool_.fits(h_.spool_need);
}

void shard::drain_spool() noexcept { spool_.drain(out_); }

bool shard::poll() {
  if (stopped_ || static_cast<phase>(h_.phase.load()) != phase::idle) {
    // A cycle gave up half-way (stopping): the next incarnation finishes it
    // (recover()); the spool must stay as that cycle found it.
    return false;
  }
  drain_spool();
  if (h_.end_of_input != 0 && h_.end_of_reports_sent == 0) {
    return end_of_input();
  }
  return true;
}

bool shard::recover() {
  switch (static_cast<phase>(h_.phase.load())) {
    case phase::emitting:
      // Finish the cycle as it was: same tables, same spool, same batches.
      // A cycle that no longer fits is left in the tables, as it would have
      // been had it not fitted the first time.
      if (run_cycle(h_.cycle_kind, h_.cycle_interval_end) == placed::stopped) return false;
      break;
    case phase::resetting:
      reset(h_.cycle_kind);
      ++h_.cycle;
      h_.phase.store(static_cast<std::uint32_t>(phase::idle));
      break;
    case phase::idle:
      break;
  }
  if (h_.end_of_input != 0 && h_.end_of_reports_sent == 0) {
    return end_of_input();
  }
  return true;
}

bool shard::on_frame(const ipc::frame_view& f, unsigned input) {
  input &= 31;
  switch (f.type) {
    case ipc::frame_type::packet:
    case ipc::frame_type::packet_payload: {
      net::packet_record rec;
      std::span<const std::uint8_t> ip_packet;
      if (f.type == ipc::frame_type::packet) {
        if (f.payload.size() < sizeof rec) return true;
        std::memcpy(&rec, f.payload.data(), sizeof rec);
      } else {
        net::snapshot_header sh;
        if (f.payload.size() < sizeof sh) return true;
        std::memcpy(&sh, f.payload.data(), sizeof sh);
        rec = sh.rec;
        const auto bytes = f.payload.subspan(sizeof sh);
        if (sh.caplen <= bytes.size() && sh.l3_off < sh.caplen) {
          ip_packet = bytes.subspan(sh.l3_off, sh.caplen - sh.l3_off);
        }
      }
      if (rec.seq != 0 && rec.seq <= h_.applied_seq[input].load(std::memory_order_relaxed)) {
        ++h_.replayed_skipped;  // already applied before a restart
        return true;
      }
      if (!advance_clock(rec.ts_ns)) {
        return false;
      }
      if (rec.ts_ns < h_.flow_interval_start) {
        // Time went backwards past the open flow interval (a clock step on
        // the capturing host, merged captures): the packet is counted now,
        // in the open interval, at the newest packet time seen, so flows and
        // assets agree and every record's times lie inside its interval.
        ++h_.time_backwards;
        rec.ts_ns = h_.clock_ns;
      }
      if (!on_packet(rec, ip_packet)) {
        return false;
      }
      h_.applied_seq[input].store(rec.seq, std::memory_order_relaxed);
      return true;
    }
    case ipc::frame_type::name_binding: {
      ipc::name_binding_frame n{};
      if (f.payload.size() < sizeof n) return true;
      std::memcpy(&n, f.payload.data(), sizeof n);
      return advance_clock(n.ts_ns) && on_name(n);
    }
    case ipc::frame_type::tick: {
      ipc::tick_frame t{};
      std::memcpy(&t, f.payload.data(), std::min(sizeof t, f.payload.size()));
      return advance_clock(t.ts_ns);
    }
    case ipc::frame_type::end_of_input: {
      // The input ends when every capture lcore feeding this shard says so.
      h_.inputs_ended |= 1u << input;
      const std::uint32_t all = h_.inputs >= 32 ? ~0u : (1u << std::max<std::uint32_t>(h_.inputs, 1)) - 1;
      if ((h_.inputs_ended & all) != all) {
        return true;
      }
      if (h_.end_of_input == 0) {
        h_.end_of_input = 1;
      }
      return end_of_input();
    }
    default:
      return true;
  }
}

bool shard::advance_clock(std::uint64_t ts) {
  if (ts <= h_.clock_ns) {
    return true;
  }
  h_.clock_ns = ts;
  const std::uint64_t iv = ts - ts % flow_interval_ns_;
  if (h_.flow_interval_start == 0) {
    h_.flow_interval_start = iv;
  } else if (iv > h_.flow_interval_start) {
    switch (run_cycle(cycle_kind::flows, iv)) {
      case placed::stopped:
        return false;
      case placed::done:
        h_.flow_interval_start = iv;
        break;
      case placed::deferred:
        // Nowhere to put the closed interval: it stays open and is reported
        // with the next one, as one longer interval.
        ++h_.intervals_merged;
        break;
    }
  }
  if (h_.next_sighting_ns == 0) {
    h_.next_sighting_ns = ts - ts % sighting_interval_ns_ + sighting_interval_ns_;
    h_.next_update_ns = ts - ts % update_interval_ns_ + update_interval_ns_;
  }
  // A sighting cycle that could not be placed stays due: its deltas keep
  // summing in the asset table and leave with the next attempt.
  if (ts >= h_.next_update_ns) {
    const auto r = run_cycle(cycle_kind::asset_updates);
    if (r == placed::stopped) return false;
    if (r == placed::done) {
      h_.next_update_ns = ts - ts % update_interval_ns_ + update_interval_ns_;
      h_.next_sighting_ns = ts - ts % sighting_interval_ns_ + sighting_interval_ns_;
    }
  } else if (ts >= h_.next_sighting_ns) {
    const auto r = run_cycle(cycle_kind::new_assets);
    if (r == placed::stopped) return false;
    if (r == placed::done) h_.next_sighting_ns = ts - ts % sighting_interval_ns_ + sighting_interval_ns_;
  }
  if (ts >= h_.next_sweep_ns) {
    sweep(ts);
    h_.next_sweep_ns = ts + sweep_every_ns;
  }
  return true;
}

shard::side shard::classify(std::uint8_t network, const net::ip_address& ip, const net::mac_address& mac,
                            std::uint64_t ts, bool source) const noexcept {
  const auto c = cls_.classify(network, ip, source);
  if (c.cls == address_class::excluded) return {address_class::excluded, 0};
  if (cls_.has_excluded_macs() && !mac.is_multicast() && cls_.excluded_mac(mac)) {
    return {address_class::excluded, 0};
  }
  if (config::is_special(c.cls)) return {c.cls, 0};
  if (mac.to_u64() == broadcast_mac && ip.is_v4()) {
    // An IPv4 unicast-looking address sent to the Ethernet broadcast MAC:
    // the broadcast address of the sender's subnet (192.168.1.255 in a /24).
    return {address_class::broadcast, 0};
  }
  if (t_.names.size() != 0) {
    // Learnt addresses: of excluded MACs (any class), of monitored domains
    // (external addresses only: monitored ranks below the internal classes).
    auto& names = const_cast<name_table&>(t_.names);
    if (const name_value* n = names.find(name_key{ip}); n != nullptr && n->expires_ns >= ts) {
      if (n->kind == 2) return {address_class::excluded, 0};
      if (n->kind == 1 && c.cls == address_class::external) return {address_class::monitored_external, n->site};
    }
  }
  return {c.cls, c.index};
}

bool shard::touch_asset(const net::ip_address& ip, std::uint8_t network, const net::packet_record& rec,
                        bool outbound, std::uint32_t* hint) {
  asset_key k{};
  k.ip = ip;
  k.mac = (outbound ? rec.src_mac : rec.dst_mac).to_u64();
  k.network = network;
  bool inserted = false;
  // Where this connection's packets found the entry last time, if it is
  // still there: no hash and no probe.
  asset_value* a = hint != nullptr && *hint != 0 ? t_.assets.at_if(*hint - 1, k) : nullptr;
  if (a == nullptr) a = t_.assets.find_or_insert(k, inserted);
  if (a == nullptr) {
    // Full: report every pending delta and start the table over (the uplink
    // merges the parts, nothing is lost).
    ++h_.asset_table_full;
    const auto r = run_cycle(cycle_kind::asset_updates);
    if (r == placed::stopped) return false;
    if (r == placed::done) {
      t_.assets.clear();
      a = t_.assets.find_or_insert(k, inserted);
    }
    if (a == nullptr) {
      ++h_.asset_packets_dropped;  // no room in the table nor in the spool to make some
      return true;
    }
  }
  const std::uint32_t slot = t_.assets.slot_of(a);
  if (inserted) fresh_asset_slots_.push_back(slot);
  if (hint != nullptr) *hint = slot + 1;
  if (inserted || !a->dirty) {
    a->first_ns = rec.ts_ns;
  } else {
    a->first_ns = std::min(a->first_ns, rec.ts_ns);  // slightly out of order (several capture lcores)
  }
  a->dirty = 1;
  a->last_ns = std::max(a->last_ns, rec.ts_ns);
  a->seen_ns = std::max(a->seen_ns, rec.ts_ns);
  const bool ip_traffic = rec.l3 == static_cast<std::uint8_t>(net::l3_type::ipv4) ||
                          rec.l3 == static_cast<std::uint8_t>(net::l3_type::ipv6);
  if (!ip_traffic) {
    return true;  // ARP: presence only; bytes count IP traffic
  }
  if (outbound) {
    a->bytes_out += rec.wire_len;
    ++a->packets_out;
    a->ttl_out = rec.ttl;
    // The TTLs that tell stacks apart (NAT detection) are TCP's: link-local
    // protocols use their own (LLMNR 1, mDNS 255, VRRP 255, ...).
    for (std::size_t i = 0; rec.ip_proto == 6 && i < std::size(a->ttls); ++i) {
      auto& t = a->ttls[i];
      if (t == rec.ttl) break;
      if (t == 0) {
        t = rec.ttl;
        break;
      }
    }
  } else {
    a->bytes_in += rec.wire_len;
    ++a->packets_in;
  }
  return true;
}

void shard::bind(const net::ip_address& ip, std::uint8_t network, const net::mac_address& mac,
                 std::uint8_t source, std::uint64_t ts, std::uint32_t* hint) noexcept {
  if (mac.is_zero() || mac.is_multicast()) {
    return;
  }
  binding_key k{};
  k.ip = ip;
  k.mac = mac.to_u64();
  k.source = source;
  k.network = network;
  bool inserted = false;
  binding_value* b = hint != nullptr && *hint != 0 ? t_.bindings.at_if(*hint - 1, k) : nullptr;
  if (b == nullptr) b = t_.bindings.find_or_insert(k, inserted);
  if (b == nullptr) {
    ++h_.binding_table_full;
    return;
  }
  const std::uint32_t slot = t_.bindings.slot_of(b);
  if (hint != nullptr) *hint = slot + 1;
  if (inserted) {
    // Binding slots never move (the table is only ever cleared whole).
    binding_slots_.push_back(slot);
  }
  if (inserted || ts < b->first_ns) {
    b->first_ns = ts;
  }
  b->last_ns = std::max(b->last_ns, ts);
  ++b->packets;
}

report_value* shard::report_entry(const report_key& k) {
  bool inserted = false;
  report_value* r = t_.reports.find_or_insert(k, inserted);
  if (r == nullptr) {
    // Full: report the open interval so far and start over; the uplink sums
    // the parts of one interval into one record.
    ++h_.report_table_full;
    if (run_cycle(cycle_kind::early_flows) == placed::done) {
      ++h_.early_flow_flushes;
      r = t_.reports.find_or_insert(k, inserted);
    }
    // nullptr: stopped (stopped_ is set), or no room in the table nor in the
    // spool to make some (the caller counts what it could not add).
  }
  if (inserted) report_slots_.push_back(t_.reports.slot_of(r));
  return r;
}

void shard::move_connection(conn_value& c, const report_key& to) {
  if (c.report_epoch == h_.flow_epoch && c.packets != 0) {
    auto& from = t_.reports.at(c.report_slot).value;
    from.packets -= std::min<std::uint64_t>(from.packets, c.packets);
    from.packets_c2s -= std::min<std::uint64_t>(from.packets_c2s, c.packets_c2s);
    from.bytes_c2s -= std::min(from.bytes_c2s, c.bytes_c2s);
    from.bytes_s2c -= std::min(from.bytes_s2c, c.bytes_s2c);
    const std::uint64_t first = c.first_ns;
    const std::uint64_t last = c.last_ns;
    const auto moved = c;
    report_value* r = report_entry(to);
    if (r == nullptr) {
      h_.flow_packets_dropped += moved.packets;
      c.report_epoch = ~0u;
      return;
    }
    if (r->packets == 0 || first < r->first_ns) r->first_ns = first;
    r->last_ns = std::max(r->last_ns, last);
    r->packets += moved.packets;
    r->packets_c2s += moved.packets_c2s;
    r->bytes_c2s += moved.bytes_c2s;
    r->bytes_s2c += moved.bytes_s2c;
  }
  c.report_epoch = ~0u;  // next packet looks its entry up again
}

bool shard::on_name(const ipc::name_binding_frame& n) {
  net::ip_address ip;
  std::memcpy(ip.b.data(), n.ip, 16);
  bool inserted = false;
  name_value* v = t_.names.find_or_insert(name_key{ip}, inserted);
  if (v == nullptr) {
    // Full: drop expired entries, then give up on this one (counted).
    for (std::uint32_t i = 0; i < t_.names.capacity();) {
      auto& s = t_.names.at(i);
      if (s.used != 0 && s.value.expires_ns < h_.clock_ns && t_.names.erase_at(i)) continue;
      ++i;
    }
    v = t_.names.find_or_insert(name_key{ip}, inserted);
    if (v == nullptr) return true;
  }
  ++h_.names_learnt;
  v->kind = 1;
  v->site = n.site;
  v->expires_ns = std::max(v->expires_ns, n.ts_ns + std::uint64_t{n.ttl_s} * ns);
  if (n.source == 1) {
    return true;  // DNS: applies to connections from now on
  }
  // SNI / Host: the connection that carried it is to this site, counts so far included.
  net::ip_address peer;
  std::memcpy(peer.b.data(), n.peer, 16);
  const auto c = peer <=> ip;
  const bool peer_is_a = c < 0 || (c == 0 && n.peer_port <= n.port);
  conn_key ck{};
  ck.a = peer_is_a ? peer : ip;
  ck.b = peer_is_a ? ip : peer;
  ck.port_a = peer_is_a ? n.peer_port : n.port;
  ck.port_b = peer_is_a ? n.port : n.peer_port;
  ck.proto = n.proto;
  ck.network = n.network;
  conn_value* conn = t_.conns.find(ck);
  if (conn == nullptr || conn->server_site_set != 0) return true;
  const bool server_is_a = (conn->client_is_a == 0);
  const net::ip_address& server = server_is_a ? ck.a : ck.b;
  const net::ip_address& client = server_is_a ? ck.b : ck.a;
  if (server != ip) return true;
  const auto cs = classify(conn->network, client, {}, n.ts_ns, true);
  const auto ss = cls_.classify(conn->network, server);
  if (ss.cls != address_class::external) return true;  // internal classes rank above monitored
  conn->server_site_set = 1;
  conn->server_site = n.site;
  report_key rk{};
  if (keeps_address(cs.cls)) rk.client = client;
  rk.server = server;
  rk.client_class = static_cast<std::uint8_t>(cs.cls);
  rk.server_class = static_cast<std::uint8_t>(address_class::monitored_external);
  rk.client_site = cs.site;
  rk.server_site = n.site;
  rk.server_port = server_is_a ? ck.port_a : ck.port_b;
  rk.proto = ck.proto;
  rk.network = conn->network;
  move_connection(*conn, rk);
  return !stopped_;
}

bool shard::make_room_conns() {
  // Evict the oldest connections: idle timeouts halved until a sixteenth of
  // the table is free. Their counts are safe in the report entries; only the
  // client/server decision is lost.
  const auto evicted = h_.conns_evicted;
  for (std::uint64_t div = 2; div <= 1024 && t_.conns.full(); div *= 2) {
    const auto before = h_.conns_expired;
    evict_scan(h_.clock_ns, div);
    h_.conns_evicted += h_.conns_expired - before;
    h_.conns_expired = before;
  }
  if (h_.conns_evicted != evicted) rebuild_wheel();
  return !t_.conns.full();
}

bool shard::on_packet(const net::packet_record& rec, std::span<const std::uint8_t> ip_packet) {
  ++h_.packets;
  const auto l3 = static_cast<net::l3_type>(rec.l3);
  const std::uint8_t network = cls_.network_of(rec.port_id, rec.vlan[0], rec.vlan_count != 0);
  if (l3 == net::l3_type::arp) {
    // The ARP sender tells its own IP-MAC binding (requests, replies and
    // gratuitous announcements alike).
    if (!rec.src_ip.is_unspecified() &&
        classify(network, rec.src_ip, rec.src_mac, rec.ts_ns, true).cls == address_class::inventoried) {
      if (!touch_asset(rec.src_ip, network, rec, true)) return false;
      bind(rec.src_ip, network, rec.src_mac, static_cast<std::uint8_t>(schema::BindingSource::ARP), rec.ts_ns);
    }
    return true;
  }
  if (l3 != net::l3_type::ipv4 && l3 != net::l3_type::ipv6) {
    ++h_.non_ip;
    return true;
  }
  const side s = classify(network, rec.src_ip, rec.src_mac, rec.ts_ns, true);
  const side d = classify(network, rec.dst_ip, rec.dst_mac, rec.ts_ns, false);
  if (s.cls == address_class::excluded || d.cls == address_class::excluded) {
    ++h_.excluded_packets;
    if (s.cls == address_class::excluded && cls_.excluded_mac(rec.src_mac) && is_initial_ttl(rec.ttl)) {
      // An excluded MAC's own address: excluded wherever it shows up (e.g.
      // behind a router), for an hour after it was last seen.
      bool ins = false;
      if (auto* v = t_.names.find_or_insert(name_key{rec.src_ip}, ins)) {
        v->kind = 2;
        v->expires_ns = rec.ts_ns + 3600 * ns;
      }
    }
  }
  // A host without an address yet (DHCP DISCOVER from 0.0.0.0, IPv6 DAD
  // from ::) is known by its MAC: its traffic is tracked and attributed to
  // that MAC, whatever the other side is. Without a MAC (a raw-IP capture)
  // it is still tracked, as one unassigned client with no MAC.
  const bool unassigned_client = s.cls == address_class::unassigned && !rec.src_mac.is_multicast() &&
                                 d.cls != address_class::excluded;
  const bool tracked =
      s.cls == address_class::inventoried || d.cls == address_class::inventoried || unassigned_client;

  // Connection: both directions under one canonical key. Found before the
  // assets, whose entries it remembers (asset_hint, binding_hint).
  const bool ports = has_ports(rec);
  const std::uint16_t sp = ports ? rec.src_port : 0;
  const std::uint16_t dp = ports ? rec.dst_port : 0;
  const auto c = rec.src_ip <=> rec.dst_ip;
  const bool src_is_a = c < 0 || (c == 0 && sp <= dp);
  conn_key ck{};
  ck.a = src_is_a ? rec.src_ip : rec.dst_ip;
  ck.b = src_is_a ? rec.dst_ip : rec.src_ip;
  ck.port_a = src_is_a ? sp : dp;
  ck.port_b = src_is_a ? dp : sp;
  ck.proto = rec.ip_proto;
  ck.network = network;
  bool inserted = false;
  conn_value* conn = nullptr;
  bool sender_is_client = true;
  if (tracked) {
    if (!unassigned_client) {
      // Unassigned clients share their address: a connection entry (and its
      // cached report slot) would mix several hosts' packets.
      conn = t_.conns.find_or_insert(ck, inserted);
      if (conn == nullptr && make_room_conns()) {
        conn = t_.conns.find_or_insert(ck, inserted);
      }
    }
    if (unassigned_client) {
      sender_is_client = true;  // it has no address to serve from
    } else if (conn == nullptr) {
      ++h_.conn_table_full;
      sender_is_client = decide(rec).sender_is_client;
    } else {
      if (inserted) {
        const direction dir = decide(rec);
        conn->client_is_a = (dir.sender_is_client == src_is_a) ? 1 : 0;
        conn->decided_by = dir.decided_by;
        conn->first_ns = rec.ts_ns;
        conn->report_epoch = ~0u;
        conn->network = network;
      } else if (conn->decided_by < 2) {
        // A handshake seen after the first packet settles the roles.
        const direction dir = decide(rec);
        if (dir.decided_by == 2 && (dir.sender_is_client == src_is_a) != (conn->client_is_a != 0)) {
          conn->client_is_a = (dir.sender_is_client == src_is_a) ? 1 : 0;
          conn->decided_by = 2;
          conn->report_epoch = ~0u;
          conn->packets = 0;  // counts so far stay where they were reported
        }
      }
      conn->last_ns = std::max(conn->last_ns, rec.ts_ns);
      if (inserted && !wheel_.add(ck, rec.ts_ns + idle_ns(rec.ip_proto))) rebuild_wheel();
      sender_is_client = (conn->client_is_a != 0) == src_is_a;
    }
  }
  // Endpoint a is index 0 of the hints, b index 1.
  const unsigned src_end = src_is_a ? 0 : 1;
  const unsigned dst_end = src_end ^ 1;

  if (s.cls == address_class::inventoried) {
    if (!touch_asset(rec.src_ip, network, rec, true, conn ? &conn->asset_hint[src_end] : nullptr)) return false;
    // The source MAC is the sender's own only if no router forwarded the
    // packet: its TTL is still one that stacks start with.
    if (is_initial_ttl(rec.ttl)) {
      bind(rec.src_ip, network, rec.src_mac, static_cast<std::uint8_t>(schema::BindingSource::IP_SOURCE), rec.ts_ns,
           conn ? &conn->binding_hint[src_end] : nullptr);
    }
  } else if ((s.cls == address_class::external || s.cls == address_class::monitored_external ||
              (s.cls == address_class::non_inventoried && !is_initial_ttl(rec.ttl))) &&
             !rec.src_mac.is_multicast()) {
    // Frames from outside the inventory arrive through a router: its MAC is
    // not the identity of the inventoried hosts it also forwards for.
    bool gw_inserted = false;
    if (auto* g = t_.gateways.find_or_insert(gateway_key{rec.src_mac.to_u64()}, gw_inserted)) {
      ++g->packets;
    }
  }
  if (d.cls == address_class::inventoried && !rec.dst_ip.is_multicast()) {
    if (!touch_asset(rec.dst_ip, network, rec, false, conn ? &conn->asset_hint[dst_end] : nullptr)) return false;
  }
  if (!tracked) {
    ++h_.external_only;  // no inventoried side: not tracked
    return true;
  }

  // Report entry for this interval.
  report_value* r = nullptr;
  if (conn != nullptr && conn->report_epoch == h_.flow_epoch) {
    r = &t_.reports.at(conn->report_slot).value;
  } else {
    side cs = sender_is_client ? s : d;
    side ss = sender_is_client ? d : s;
    if (!sender_is_client) {
      // Classes by role, not by this packet's direction: the client as a
      // sender, the server as a destination, so one tuple is one record
      // whichever side a connection's first packet in the interval came from
      // (a group-range address is multicast as a destination only).
      cs = classify(network, rec.dst_ip, rec.dst_mac, rec.ts_ns, true);
      ss = classify(network, rec.src_ip, rec.src_mac, rec.ts_ns, false);
    }
    report_key rk{};
    const net::ip_address& cip = sender_is_client ? rec.src_ip : rec.dst_ip;
    const net::ip_address& sip = sender_is_client ? rec.dst_ip : rec.src_ip;
    if (keeps_address(cs.cls)) rk.client = cip;
    if (keeps_address(ss.cls)) rk.server = sip;
    rk.client_class = static_cast<std::uint8_t>(cs.cls);
    rk.server_class = static_cast<std::uint8_t>(ss.cls);
    rk.client_site = cs.cls == address_class::monitored_external ? cs.site : 0;
    rk.server_site = ss.cls == address_class::monitored_external ? ss.site : 0;
    if (conn != nullptr && conn->server_site_set != 0 && ss.cls == address_class::external) {
      // Named by its TLS SNI / HTTP Host earlier in this connection.
      rk.server = sip;
      rk.server_class = static_cast<std::uint8_t>(address_class::monitored_external);
      rk.server_site = conn->server_site;
    }
    rk.server_port = sender_is_client ? dp : sp;
    rk.proto = rec.ip_proto;
    rk.network = network;
    if (unassigned_client) std::memcpy(rk.client_mac, rec.src_mac.b.data(), 6);
    const std::uint32_t epoch = h_.flow_epoch;
    r = report_entry(rk);
    if (r == nullptr) {
      if (stopped_) return false;
      ++h_.flow_packets_dropped;  // counted in its assets, in no flow record
      if (conn != nullptr) conn->report_epoch = ~0u;
      return true;
    }
    if (h_.flow_epoch != epoch) {
      // An early flush cleared the table while making room: this entry is new.
    }
    if (r->packets == 0) {
      r->first_ns = rec.ts_ns;
    }
    if (conn != nullptr) {
      // Remember the slot: slots are stable until the table is cleared, and
      // a clear always comes with a new epoch.
      conn->report_slot = t_.reports.slot_of(r);
      conn->report_epoch = h_.flow_epoch;
      conn->packets = conn->packets_c2s = 0;
      conn->bytes_c2s = conn->bytes_s2c = 0;
    }
  }
  ++r->packets;
  if (sender_is_client) {
    ++r->packets_c2s;
    r->bytes_c2s += rec.wire_len;
  } else {
    r->bytes_s2c += rec.wire_len;
  }
  r->first_ns = std::min(r->first_ns, rec.ts_ns);
  r->last_ns = std::max(r->last_ns, rec.ts_ns);
  if (conn != nullptr) {
    ++conn->packets;
    if (sender_is_client) {
      ++conn->packets_c2s;
      conn->bytes_c2s += rec.wire_len;
    } else {
      conn->bytes_s2c += rec.wire_len;
    }
    // Application: the classifier sees the first payload packets.
    if (apps_ != nullptr && conn->app_state != 2 && !ip_packet.empty()) {
      conn->app_state = 1;
      const auto res = apps_->classify(conn_id(ck), rec.ts_ns, ip_packet, sender_is_client);
      if (res.done) {
        conn->app_state = 2;
        conn->app_master = res.master;
        conn->app_proto = res.app;
        conn->app_category = res.category;
        apps_->forget(conn_id(ck));
      }
    }
    if (conn->app_state == 2 && r->app_known == 0) {
      r->app_known = 1;
      r->app_master = conn->app_master;
      r->app_proto = conn->app_proto;
      r->app_category = conn->app_category;
    }
  }
  return true;
}

std::uint64_t shard::idle_ns(std::uint8_t proto) const noexcept {
  const auto& a = cfg_.aggregator;
  const std::uint64_t idle_s = proto == net::ipproto::tcp   ? a.tcp_idle_s
                               : proto == net::ipproto::udp ? a.udp_idle_s
                                                            : a.other_idle_s;
  return idle_s * ns;
}

void shard::sweep(std::uint64_t now) noexcept {
  wheel_.due(now, [&](const conn_key& k) -> std::uint64_t {
    conn_value* v = t_.conns.find(k);
    if (v == nullptr) return 0;  // not in the table any more
    const std::uint64_t expiry = v->last_ns + idle_ns(k.proto);
    if (expiry >= now) return expiry;
    ++h_.conns_expired;
    if (apps_ != nullptr && v->app_state == 1) apps_->forget(conn_id(k));
    t_.conns.erase_at(t_.conns.slot_of(v));
    return 0;
  });
}

void shard::evict_scan(std::uint64_t now, std::uint64_t div) noexcept {
  for (std::uint32_t i = 0; i < t_.conns.capacity();) {
    auto& s = t_.conns.at(i);
    if (s.used != 0 && s.value.last_ns + idle_ns(s.key.proto) / div < now) {
      ++h_.conns_expired;
      if (apps_ != nullptr && s.value.app_state == 1) apps_->forget(conn_id(s.key));
      if (t_.conns.erase_at(i)) {
        continue;  // another entry moved into slot i
      }
    }
    ++i;
  }
}

void shard::rebuild_wheel() noexcept {
  wheel_.clear(h_.clock_ns);
  t_.conns.for_each([&](std::uint32_t, const conn_key& k, const conn_value& v) {
    wheel_.add(k, v.last_ns + idle_ns(k.proto));
  });
}

bool shard::write(ipc::frame_type t, capnp::MessageBuilder& mb) {
  auto words = capnp::messageToFlatArray(mb);
  const auto bytes = words.asBytes();
  if (bytes.size() > max_frame_) {
    fatal_ = "a report batch of " + std::to_string(bytes.size()) + " bytes can never fit in the report ring (" +
             std::to_string(max_frame_) + " bytes per frame at most); raise aggregator.report_ring_mb";
    stopped_ = true;
    return false;
  }
  built_.push_back({t, kj::mv(words)});
  return true;
}

bool shard::place_cycle() {
  std::uint64_t need = 0;
  for (const auto& f : built_) need += ipc::frame_span(static_cast<std::uint32_t>(f.words.asBytes().size()));
  const bool direct = h_.spool_direct != 0 || (spool_.waiting() == 0 && need > spool_.capacity());
  if (direct) {
    // Bigger than the whole spool: the one case that waits for the uplink
    // (counted; raise aggregator.report_spool_mb).
    if (h_.spool_direct == 0) {
      h_.spool_direct = 1;
      ++h_.spool_overflows;
    }
    for (const auto& f : built_) {
      const auto bytes = f.words.asBytes();
      auto* p = out_.reserve(static_cast<std::uint32_t>(bytes.size()), f.type, keep_waiting_);
      if (p == nullptr) {
        stopped_ = true;
        return false;
      }
      std::memcpy(p, bytes.begin(), bytes.size());
      out_.publish();
      ++h_.batches;
    }
    h_.spool_direct = 0;
    return true;
  }
  // Every cycle goes through the spool (one copy per report batch, none per
  // packet), and from there into the ring as far as it has room.
  if (!spool_.fits(need)) {
    h_.spool_need = need;
    ++h_.cycles_deferred;
    return false;
  }
  auto ends = spool_.begin();
  for (const auto& f : built_) {
    spool_.put(ends, f.type, f.words.asBytes());  // fits: checked for the whole cycle above
    ++h_.batches;
  }
  // One store places the whole cycle.
  h_.spool_high_water = std::max<std::uint64_t>(h_.spool_high_water, spool_.commit(ends));
  ++h_.cycles_spooled;
  h_.spool_need = 0;
  return true;
}

shard::placed shard::run_cycle(std::uint32_t kind, std::uint64_t interval_end) {
  if (static_cast<phase>(h_.phase.load()) == phase::idle) {
    if (spool_gated()) return placed::deferred;
    h_.cycle_kind = kind;
    h_.cycle_interval_start = h_.flow_interval_start;
    // An early or final flow cycle reports the open interval up to the
    // clock's (a merged interval spans several).
    h_.cycle_interval_end =
        interval_end != 0 ? interval_end
                          : std::max(h_.flow_interval_start, h_.clock_ns - h_.clock_ns % flow_interval_ns_) +
                                flow_interval_ns_;
    h_.spool_cycle_pos = spool_.position();
    h_.phase.store(static_cast<std::uint32_t>(phase::emitting));
  } else {
    // Resuming after a crash: the spool as this cycle found it (a copy of
    // the cycle placed before the crash goes, the same batches come back).
    // Nothing moved out of the spool since: draining waits for idle.
    spool_.restore(h_.spool_cycle_pos);
  }
  kind = h_.cycle_kind;
  built_.clear();
  const bool ok =
      ((kind & (cycle_kind::flows | cycle_kind::early_flows | cycle_kind::final_)) == 0 || emit_flows()) &&
      ((kind & (cycle_kind::new_assets | cycle_kind::asset_updates | cycle_kind::final_)) == 0 ||
       emit_sightings(kind));
  if (!ok) {
    built_.clear();
    return placed::stopped;  // fatal_ says why
  }
  const bool put = place_cycle();
  built_.clear();
  if (!put) {
    if (stopped_) return placed::stopped;
    // No room anywhere: the cycle never happened, its counts stay in the
    // tables and the same cycle number is tried again later.
    h_.phase.store(static_cast<std::uint32_t>(phase::idle));
    return placed::deferred;
  }
  h_.phase.store(static_cast<std::uint32_t>(phase::resetting));
  reset(kind);
  ++h_.cycle;
  h_.phase.store(static_cast<std::uint32_t>(phase::idle));
  drain_spool();
  return placed::done;
}

void shard::reset(std::uint32_t kind) noexcept {
  if ((kind & (cycle_kind::flows | cycle_kind::early_flows | cycle_kind::final_)) != 0) {
    if (t_.reports.size() != 0) {
      t_.reports.clear_listed(report_slots_);
      ++h_.flow_epoch;
    }
    report_slots_.clear();
  }
  if ((kind & (cycle_kind::new_assets | cycle_kind::asset_updates | cycle_kind::final_)) != 0) {
    const bool all = (kind & (cycle_kind::asset_updates | cycle_kind::final_)) != 0;
    const std::uint64_t idle = cfg_.aggregator.asset_idle_s * ns;
    if (!all) {
      // New assets only: the listed ones, each marked reported as a scan
      // would (every entry with reported == 0, and no other, is listed).
      for (const auto i : fresh_asset_slots_) {
        auto& s = t_.assets.at(i);
        if (s.used == 0 || s.value.reported != 0) continue;
        const auto seen = s.value.seen_ns;
        s.value = asset_value{};
        s.value.seen_ns = seen;
        s.value.reported = 1;
      }
    }
    fresh_asset_slots_.clear();
    for (std::uint32_t i = 0; all && i < t_.assets.capacity();) {
      auto& s = t_.assets.at(i);
      if (s.used != 0) {
        auto& v = s.value;
        if (all || v.reported == 0) {
          if (v.dirty != 0 || v.reported == 0) {
            const auto seen = v.seen_ns;
            v = asset_value{};
            v.seen_ns = seen;
            v.reported = 1;
          }
        }
        if (all && v.dirty == 0 && v.seen_ns + idle < h_.clock_ns) {
          ++h_.assets_evicted;
          if (t_.assets.erase_at(i)) continue;
        }
      }
      ++i;
    }
    // A clear is a memset of the whole table: not for an empty one. Every
    // used slot is listed: those are emptied, not the whole table (a crash
    // half-way leaves the count above the list: a full clear then).
    if (t_.bindings.size() != 0) t_.bindings.clear_listed(binding_slots_);
    binding_slots_.clear();
    if (t_.gateways.size() != 0) t_.gateways.clear();
  }
}

bool shard::emit_flows() {
  // In slot order, as a scan finds them: a restarted shard cuts the same batches.
  std::vector<std::uint32_t> slots = t_.reports.used_slots(report_slots_);
  std::erase_if(slots, [&](std::uint32_t i) { return t_.reports.at(i).value.packets == 0; });
  const std::uint64_t base_id = h_.cycle << 20;
  const std::uint64_t interval_end =
      h_.cycle_interval_end != 0 ? h_.cycle_interval_end : h_.cycle_interval_start + flow_interval_ns_;
  for (std::size_t off = 0, chunk = 0; off < slots.size(); off += batch_max_, ++chunk) {
    const std::size_t n = std::min(batch_max_, slots.size() - off);
    capnp::MallocMessageBuilder mb;
    auto batch = mb.initRoot<schema::FlowBatch>();
    batch.setSchemaVersion(schema::SCHEMA_VERSION);
    batch.setProducer(producer_);
    batch.setBatchId(base_id | (chunk << 1));
    auto flows = batch.initFlows(static_cast<unsigned>(n));
    for (std::size_t i = 0; i < n; ++i) {
      const auto& s = t_.reports.at(slots[off + i]);
      auto f = flows[static_cast<unsigned>(i)];
      const auto cc = static_cast<address_class>(s.key.client_class);
      const auto sc = static_cast<address_class>(s.key.server_class);
      f.setIntervalStart(h_.cycle_interval_start);
      f.setIntervalEnd(interval_end);
      if (keeps_address(cc)) f.setClient(ip_bytes(s.key.client));
      if (keeps_address(sc)) f.setServer(ip_bytes(s.key.server));
      if (cc == address_class::unassigned) {
        f.setClientMac(net::mac_address::from_bytes(s.key.client_mac).to_u64());
      }
      f.setClientClass(to_schema(s.key.client_class));
      f.setServerClass(to_schema(s.key.server_class));
      if (cc == address_class::monitored_external) f.setClientName(cls_.monitored_name(s.key.client_site));
      if (sc == address_class::monitored_external) f.setServerName(cls_.monitored_name(s.key.server_site));
      f.setNetwork(cls_.network_name(s.key.network));
      f.setServerPort(s.key.server_port);
      f.setProtocol(s.key.proto);
      f.setPackets(s.value.packets);
      f.setPacketsClientToServer(s.value.packets_c2s);
      f.setBytesClientToServer(s.value.bytes_c2s);
      f.setBytesServerToClient(s.value.bytes_s2c);
      f.setFirstSeen(s.value.first_ns);
      f.setLastSeen(s.value.last_ns);
      if (apps_ != nullptr && s.value.app_known != 0) {
        auto names = apps_->describe(s.value.app_master, s.value.app_proto, s.value.app_category);
        // The guide's service names: TLS to TCP 443 is HTTPS.
        if (names.service == "TLS" && s.key.proto == net::ipproto::tcp && s.key.server_port == 443) {
          names.service = "HTTPS";
        }
        f.setAppFamily(names.family);
        f.setAppService(names.service);
        f.setApplication(names.application);
      }
    }
    if (!write(ipc::frame_type::flow_batch, mb)) {
      return false;
    }
  }
  return true;
}

bool shard::emit_sightings(std::uint32_t kind) {
  const bool all = (kind & (cycle_kind::asset_updates | cycle_kind::final_)) != 0;
  std::vector<std::uint32_t> assets;
  std::vector<std::uint32_t> bindings;
  std::vector<std::uint32_t> gateways;
  if (all) {
    t_.assets.for_each([&](std::uint32_t i, const auto&, const asset_value& v) {
      if (v.dirty != 0) assets.push_back(i);
    });
  } else {
    // The new ones are listed; in slot order, as a scan finds them.
    for (const auto i : fresh_asset_slots_) {
      const auto& s = t_.assets.at(i);
      if (s.used != 0 && s.value.dirty != 0 && s.value.reported == 0) assets.push_back(i);
    }
    std::sort(assets.begin(), assets.end());
  }
  // In slot order, as a scan finds them: a restarted shard cuts the same batches.
  bindings = t_.bindings.used_slots(binding_slots_);
  if (t_.gateways.size() != 0) gateways = t_.gateways.used_slots();
  const std::size_t chunks =
      (std::max({assets.size(), bindings.size(), gateways.size()}) + batch_max_ - 1) / batch_max_;
  const std::uint64_t base_id = h_.cycle << 20;
  for (std::size_t chunk = 0; chunk < chunks; ++chunk) {
    auto range = [&](const std::vector<std::uint32_t>& v) {
      const std::size_t lo = std::min(v.size(), chunk * batch_max_);
      const std::size_t hi = std::min(v.size(), lo + batch_max_);
      return std::pair{lo, hi};
    };
    capnp::MallocMessageBuilder mb;
    auto batch = mb.initRoot<schema::SightingBatch>();
    batch.setSchemaVersion(schema::SCHEMA_VERSION);
    batch.setProducer(producer_);
    batch.setBatchId(base_id | (chunk << 1) | 1);
    {
      const auto [lo, hi] = range(assets);
      auto list = batch.initSightings(static_cast<unsigned>(hi - lo));
      for (std::size_t i = lo; i < hi; ++i) {
        const auto& s = t_.assets.at(assets[i]);
        auto o = list[static_cast<unsigned>(i - lo)];
        o.setIp(ip_bytes(s.key.ip));
        o.setMac(s.key.mac);
        o.setNetwork(cls_.network_name(s.key.network));
        o.setFirstSeen(s.value.first_ns);
        o.setLastSeen(s.value.last_ns);
        o.setBytesIn(s.value.bytes_in);
        o.setBytesOut(s.value.bytes_out);
        o.setPacketsIn(s.value.packets_in);
        o.setPacketsOut(s.value.packets_out);
        o.setTtlOut(s.value.ttl_out);
        o.setIsNew(s.value.reported == 0);
        unsigned nt = 0;
        while (nt < 4 && s.value.ttls[nt] != 0) ++nt;
        auto ttls = o.initTtls(nt);
        for (unsigned t = 0; t < nt; ++t) ttls.set(t, s.value.ttls[t]);
      }
    }
    {
      const auto [lo, hi] = range(bindings);
      auto list = batch.initBindings(static_cast<unsigned>(hi - lo));
      for (std::size_t i = lo; i < hi; ++i) {
        const auto& s = t_.bindings.at(bindings[i]);
        auto o = list[static_cast<unsigned>(i - lo)];
        o.setIp(ip_bytes(s.key.ip));
        o.setMac(s.key.mac);
        o.setSource(static_cast<schema::BindingSource>(s.key.source));
        o.setNetwork(cls_.network_name(s.key.network));
        o.setFirstSeen(s.value.first_ns);
        o.setLastSeen(s.value.last_ns);
        o.setPackets(s.value.packets);
      }
    }
    {
      const auto [lo, hi] = range(gateways);
      auto list = batch.initGatewayMacs(static_cast<unsigned>(hi - lo));
      for (std::size_t i = lo; i < hi; ++i) {
        list.set(static_cast<unsigned>(i - lo), t_.gateways.at(gateways[i]).key.mac);
      }
    }
    if (!write(ipc::frame_type::sighting_batch, mb)) {
      return false;
    }
  }
  return true;
}

bool shard::end_of_input() {
  if (h_.end_of_reports_sent != 0) {
    return true;
  }
  if (h_.end_of_input != 2) {
    switch (run_cycle(cycle_kind::final_)) {
      case placed::stopped:
        return false;
      case placed::deferred:
        return true;  // poll() tries again as the spool drains
      case placed::done:
        break;
    }
    h_.end_of_input = 2;  // final cycle done
  }
  // The end goes last, once every spooled batch is in the ring.
  drain_spool();
  if (spooled_bytes() != 0) return true;
  const ipc::end_of_reports_frame e{h_.batches};
  auto* p = out_.try_reserve(sizeof e, ipc::frame_type::end_of_reports);
  if (p == nullptr) {
    return true;  // poll() tries again
  }
  std::memcpy(p, &e, sizeof e);
  out_.publish();
  h_.end_of_reports_sent = 1;
  return true;
}

}  // namespace tapsense::aggregator
