#include "aggregator/shard.h"

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <algorithm>
#include <cstring>

#include "common/ipc/frame_types.h"
#include "common/schema/report.capnp.h"

namespace tapsense::aggregator {

namespace {

constexpr std::size_t batch_max = 4096;  // records per Cap'n Proto batch
constexpr std::uint64_t sweep_every_ns = 10'000'000'000ULL;

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

// 1: the sender is the client, 0: the receiver is, with how we know.
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
    case address_class::external: break;
  }
  return schema::AddressClass::EXTERNAL;
}

bool tracked_individually(address_class c) noexcept {
  return c == address_class::inventoried || c == address_class::non_inventoried ||
         c == address_class::monitored_external;
}

}  // namespace

shard::shard(state_header& h, const config::config& cfg, ipc::ring& out, std::string producer,
             std::function<bool()> keep_waiting)
    : h_(h),
      cfg_(cfg),
      t_(attach(h)),
      cls_(cfg),
      out_(out),
      producer_(std::move(producer)),
      keep_waiting_(std::move(keep_waiting)),
      flow_interval_ns_(cfg.aggregator.flow_interval_s * 1'000'000'000ULL),
      sighting_interval_ns_(cfg.aggregator.asset_interval_s * 1'000'000'000ULL) {}

bool shard::recover() {
  switch (static_cast<phase>(h_.phase.load())) {
    case phase::emitting:
      return run_cycle(h_.cycle_kind);
    case phase::resetting:
      reset(h_.cycle_kind);
      h_.phase.store(static_cast<std::uint32_t>(phase::idle));
      ++h_.cycle;
      if ((h_.cycle_kind & cycle_kind::final_) != 0) {
        return end_of_input();
      }
      return true;
    case phase::idle:
      break;
  }
  if (h_.end_of_input != 0 && h_.end_of_reports_sent == 0) {
    return end_of_input();
  }
  return true;
}

bool shard::on_frame(const ipc::frame_view& f) {
  switch (f.type) {
    case ipc::frame_type::packet: {
      if (f.payload.size() < sizeof(net::packet_record)) {
        return true;
      }
      net::packet_record rec;
      std::memcpy(&rec, f.payload.data(), sizeof rec);
      if (rec.seq != 0 && rec.seq <= h_.applied_seq.load(std::memory_order_relaxed)) {
        ++h_.replayed_skipped;  // already applied before a restart
        return true;
      }
      if (!advance_clock(rec.ts_ns)) {
        return false;
      }
      on_packet(rec);
      h_.applied_seq.store(rec.seq, std::memory_order_relaxed);
      return true;
    }
    case ipc::frame_type::tick: {
      ipc::tick_frame t{};
      std::memcpy(&t, f.payload.data(), std::min(sizeof t, f.payload.size()));
      return advance_clock(t.ts_ns);
    }
    case ipc::frame_type::end_of_input:
      if (h_.end_of_input == 0) {
        h_.end_of_input = 1;
        return end_of_input();
      }
      return true;
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
    if (!run_cycle(cycle_kind::flows)) {
      return false;
    }
    h_.flow_interval_start = iv;
  }
  if (h_.next_sighting_ns == 0) {
    h_.next_sighting_ns = ts - ts % sighting_interval_ns_ + sighting_interval_ns_;
  } else if (ts >= h_.next_sighting_ns) {
    if (!run_cycle(cycle_kind::sightings)) {
      return false;
    }
    h_.next_sighting_ns = ts - ts % sighting_interval_ns_ + sighting_interval_ns_;
  }
  if (ts >= h_.next_sweep_ns) {
    sweep(ts);
    h_.next_sweep_ns = ts + sweep_every_ns;
  }
  return true;
}

void shard::touch_asset(const net::ip_address& ip, const net::packet_record& rec,
                        bool outbound) noexcept {
  bool inserted = false;
  asset_value* a = t_.assets.find_or_insert(asset_key{ip}, inserted);
  if (a == nullptr) {
    ++h_.asset_table_full;
    return;
  }
  if (inserted || rec.ts_ns < a->first_ns) {
    a->first_ns = rec.ts_ns;
  }
  a->last_ns = std::max(a->last_ns, rec.ts_ns);
  const bool ip_traffic = rec.l3 == static_cast<std::uint8_t>(net::l3_type::ipv4) ||
                          rec.l3 == static_cast<std::uint8_t>(net::l3_type::ipv6);
  if (!ip_traffic) {
    return;  // ARP: presence only; bytes count IP traffic
  }
  if (outbound) {
    a->bytes_out += rec.wire_len;
    ++a->packets_out;
    a->ttl_out = rec.ttl;
  } else {
    a->bytes_in += rec.wire_len;
    ++a->packets_in;
  }
}

void shard::bind(const net::ip_address& ip, const net::mac_address& mac, std::uint8_t source,
                 std::uint64_t ts) noexcept {
  if (mac.is_zero() || mac.is_multicast()) {
    return;
  }
  binding_key k{};
  k.ip = ip;
  k.mac = mac.to_u64();
  k.source = source;
  bool inserted = false;
  binding_value* b = t_.bindings.find_or_insert(k, inserted);
  if (b == nullptr) {
    ++h_.binding_table_full;
    return;
  }
  if (inserted || ts < b->first_ns) {
    b->first_ns = ts;
  }
  b->last_ns = std::max(b->last_ns, ts);
  ++b->packets;
}

void shard::on_packet(const net::packet_record& rec) noexcept {
  ++h_.packets;
  const auto l3 = static_cast<net::l3_type>(rec.l3);
  if (l3 == net::l3_type::arp) {
    // The ARP sender tells its own IP-MAC binding (requests, replies and
    // gratuitous announcements alike).
    if (!rec.src_ip.is_unspecified() && cls_.classify(rec.src_ip) == address_class::inventoried) {
      touch_asset(rec.src_ip, rec, true);
      bind(rec.src_ip, rec.src_mac, static_cast<std::uint8_t>(schema::BindingSource::ARP), rec.ts_ns);
    }
    return;
  }
  if (l3 != net::l3_type::ipv4 && l3 != net::l3_type::ipv6) {
    ++h_.non_ip;
    return;
  }
  const address_class cs = cls_.classify(rec.src_ip);
  const address_class cd = cls_.classify(rec.dst_ip);
  if (cs == address_class::inventoried) {
    touch_asset(rec.src_ip, rec, true);
    // The source MAC is the sender's own only if no router forwarded the
    // packet: its TTL is still one that stacks start with.
    if (is_initial_ttl(rec.ttl)) {
      bind(rec.src_ip, rec.src_mac, static_cast<std::uint8_t>(schema::BindingSource::IP_SOURCE), rec.ts_ns);
    }
  } else if (cs == address_class::external && !rec.src_mac.is_multicast()) {
    // Frames from outside the inventory arrive through a router: its MAC is
    // not the identity of the inventoried hosts it also forwards for.
    bool inserted = false;
    if (auto* g = t_.gateways.find_or_insert(gateway_key{rec.src_mac.to_u64()}, inserted)) {
      ++g->packets;
    }
  }
  if (cd == address_class::inventoried && !rec.dst_ip.is_multicast()) {
    touch_asset(rec.dst_ip, rec, false);
  }
  if (!tracked_individually(cs) && !tracked_individually(cd)) {
    ++h_.external_only;
    return;
  }

  // Connection: both directions under one canonical key.
  const bool ports = has_ports(rec);
  const std::uint16_t sp = ports ? rec.src_port : 0;
  const std::uint16_t dp = ports ? rec.dst_port : 0;
  const int c = std::memcmp(rec.src_ip.b.data(), rec.dst_ip.b.data(), 16);
  const bool src_is_a = c < 0 || (c == 0 && sp <= dp);
  conn_key ck{};
  ck.a = src_is_a ? rec.src_ip : rec.dst_ip;
  ck.b = src_is_a ? rec.dst_ip : rec.src_ip;
  ck.port_a = src_is_a ? sp : dp;
  ck.port_b = src_is_a ? dp : sp;
  ck.proto = rec.ip_proto;
  bool inserted = false;
  conn_value* conn = t_.conns.find_or_insert(ck, inserted);
  bool sender_is_client;
  if (conn == nullptr) {
    ++h_.conn_table_full;
    sender_is_client = decide(rec).sender_is_client;
  } else {
    if (inserted) {
      const direction d = decide(rec);
      conn->client_is_a = (d.sender_is_client == src_is_a) ? 1 : 0;
      conn->decided_by = d.decided_by;
      conn->first_ns = rec.ts_ns;
      conn->report_cycle = ~0u;
    } else if (conn->decided_by < 2) {
      // A handshake seen after the first packet settles the roles.
      const direction d = decide(rec);
      if (d.decided_by == 2) {
        conn->client_is_a = (d.sender_is_client == src_is_a) ? 1 : 0;
        conn->decided_by = 2;
        conn->report_cycle = ~0u;
      }
    }
    conn->last_ns = std::max(conn->last_ns, rec.ts_ns);
    sender_is_client = (conn->client_is_a != 0) == src_is_a;
  }

  // Report entry for this interval.
  report_value* r = nullptr;
  const auto cycle32 = static_cast<std::uint32_t>(h_.cycle);
  if (conn != nullptr && conn->report_cycle == cycle32) {
    r = &t_.reports.at(conn->report_slot).value;
  } else {
    report_key rk{};
    const net::ip_address& cip = sender_is_client ? rec.src_ip : rec.dst_ip;
    const net::ip_address& sip = sender_is_client ? rec.dst_ip : rec.src_ip;
    const address_class cc = sender_is_client ? cs : cd;
    const address_class sc = sender_is_client ? cd : cs;
    if (tracked_individually(cc)) rk.client = cip;
    if (tracked_individually(sc)) rk.server = sip;
    rk.client_class = static_cast<std::uint8_t>(cc);
    rk.server_class = static_cast<std::uint8_t>(sc);
    rk.server_port = sender_is_client ? dp : sp;
    rk.proto = rec.ip_proto;
    bool rins = false;
    r = t_.reports.find_or_insert(rk, rins);
    if (r == nullptr) {
      ++h_.report_table_full;
      return;
    }
    if (rins) {
      r->first_ns = rec.ts_ns;
    }
    if (conn != nullptr) {
      // Remember the slot: slots are stable until the table is reset, and a
      // reset always comes with a new cycle number.
      const auto* base = &t_.reports.at(0).value;
      const auto* slot0 = reinterpret_cast<const std::uint8_t*>(base);
      conn->report_slot = static_cast<std::uint32_t>(
          (reinterpret_cast<const std::uint8_t*>(r) - slot0) / sizeof(report_table::slot));
      conn->report_cycle = cycle32;
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
}

void shard::sweep(std::uint64_t now) noexcept {
  const auto& a = cfg_.aggregator;
  for (std::uint32_t i = 0; i < t_.conns.capacity();) {
    auto& s = t_.conns.at(i);
    if (s.used != 0) {
      const std::uint64_t idle_s = s.key.proto == net::ipproto::tcp   ? a.tcp_idle_s
                                   : s.key.proto == net::ipproto::udp ? a.udp_idle_s
                                                                      : a.other_idle_s;
      if (s.value.last_ns + idle_s * 1'000'000'000ULL < now) {
        ++h_.conns_expired;
        if (t_.conns.erase_at(i)) {
          continue;  // another entry moved into slot i
        }
      }
    }
    ++i;
  }
}

bool shard::write(ipc::frame_type t, capnp::MessageBuilder& mb) {
  const auto words = capnp::messageToFlatArray(mb);
  const auto bytes = words.asBytes();
  auto* p = out_.reserve(static_cast<std::uint32_t>(bytes.size()), t, keep_waiting_);
  if (p == nullptr) {
    return false;
  }
  std::memcpy(p, bytes.begin(), bytes.size());
  out_.publish();
  ++h_.batches;
  return true;
}

bool shard::run_cycle(std::uint32_t kind) {
  if (static_cast<phase>(h_.phase.load()) == phase::idle) {
    h_.cycle_kind = kind;
    h_.cycle_interval_start = h_.flow_interval_start;
    h_.phase.store(static_cast<std::uint32_t>(phase::emitting));
  }
  kind = h_.cycle_kind;
  if ((kind & (cycle_kind::flows | cycle_kind::final_)) != 0 && !emit_flows()) {
    return false;
  }
  if ((kind & (cycle_kind::sightings | cycle_kind::final_)) != 0 && !emit_sightings()) {
    return false;
  }
  h_.phase.store(static_cast<std::uint32_t>(phase::resetting));
  reset(kind);
  ++h_.cycle;
  h_.phase.store(static_cast<std::uint32_t>(phase::idle));
  return true;
}

void shard::reset(std::uint32_t kind) noexcept {
  if ((kind & (cycle_kind::flows | cycle_kind::final_)) != 0) {
    t_.reports.clear();
  }
  if ((kind & (cycle_kind::sightings | cycle_kind::final_)) != 0) {
    t_.assets.clear();
    t_.bindings.clear();
    t_.gateways.clear();
  }
}

bool shard::emit_flows() {
  std::vector<std::uint32_t> slots;
  slots.reserve(t_.reports.size());
  t_.reports.for_each([&](std::uint32_t i, const report_key&, const report_value&) { slots.push_back(i); });
  const std::uint64_t base_id = h_.cycle << 20;
  for (std::size_t off = 0, chunk = 0; off < slots.size(); off += batch_max, ++chunk) {
    const std::size_t n = std::min(batch_max, slots.size() - off);
    capnp::MallocMessageBuilder mb;
    auto batch = mb.initRoot<schema::FlowBatch>();
    batch.setSchemaVersion(schema::SCHEMA_VERSION);
    batch.setProducer(producer_);
    batch.setBatchId(base_id | (chunk << 1));
    auto flows = batch.initFlows(static_cast<unsigned>(n));
    for (std::size_t i = 0; i < n; ++i) {
      const auto& s = t_.reports.at(slots[off + i]);
      auto f = flows[static_cast<unsigned>(i)];
      f.setIntervalStart(h_.cycle_interval_start);
      if (tracked_individually(static_cast<address_class>(s.key.client_class))) {
        f.setClient(ip_bytes(s.key.client));
      }
      if (tracked_individually(static_cast<address_class>(s.key.server_class))) {
        f.setServer(ip_bytes(s.key.server));
      }
      f.setClientClass(to_schema(s.key.client_class));
      f.setServerClass(to_schema(s.key.server_class));
      f.setServerPort(s.key.server_port);
      f.setProtocol(s.key.proto);
      f.setPackets(s.value.packets);
      f.setPacketsClientToServer(s.value.packets_c2s);
      f.setBytesClientToServer(s.value.bytes_c2s);
      f.setBytesServerToClient(s.value.bytes_s2c);
      f.setFirstSeen(s.value.first_ns);
      f.setLastSeen(s.value.last_ns);
    }
    if (!write(ipc::frame_type::flow_batch, mb)) {
      return false;
    }
  }
  return true;
}

bool shard::emit_sightings() {
  std::vector<std::uint32_t> assets;
  std::vector<std::uint32_t> bindings;
  std::vector<std::uint32_t> gateways;
  t_.assets.for_each([&](std::uint32_t i, const auto&, const auto&) { assets.push_back(i); });
  t_.bindings.for_each([&](std::uint32_t i, const auto&, const auto&) { bindings.push_back(i); });
  t_.gateways.for_each([&](std::uint32_t i, const auto&, const auto&) { gateways.push_back(i); });
  const std::size_t chunks =
      (std::max({assets.size(), bindings.size(), gateways.size()}) + batch_max - 1) / batch_max;
  const std::uint64_t base_id = h_.cycle << 20;
  for (std::size_t chunk = 0; chunk < chunks; ++chunk) {
    auto range = [&](const std::vector<std::uint32_t>& v) {
      const std::size_t lo = std::min(v.size(), chunk * batch_max);
      const std::size_t hi = std::min(v.size(), lo + batch_max);
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
        o.setFirstSeen(s.value.first_ns);
        o.setLastSeen(s.value.last_ns);
        o.setBytesIn(s.value.bytes_in);
        o.setBytesOut(s.value.bytes_out);
        o.setPacketsIn(s.value.packets_in);
        o.setPacketsOut(s.value.packets_out);
        o.setTtlOut(s.value.ttl_out);
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
  if (static_cast<phase>(h_.phase.load()) == phase::idle) {
    if (!run_cycle(cycle_kind::final_)) {
      return false;
    }
  }
  const ipc::end_of_reports_frame e{h_.batches};
  auto* p = out_.reserve(sizeof e, ipc::frame_type::end_of_reports, keep_waiting_);
  if (p == nullptr) {
    return false;
  }
  std::memcpy(p, &e, sizeof e);
  out_.publish();
  h_.end_of_reports_sent = 1;
  return true;
}

}  // namespace tapsense::aggregator
