#include "capture/dispatch.h"

#include <algorithm>
#include <cstring>

#include "common/net/bytes.h"
#include "common/proto/registry.h"

namespace tapsense::capture {

using ipc::frame_type;

namespace {
// 64-bit hash of every byte from the IP header on, and the wire length:
// two packets are copies only if all their bytes agree, as editcap -w
// compares whole packets (MD5). Four independent lanes keep the multiplies
// in flight together (about 20 ns for a 1500-byte packet). Hashing only the
// first 256 bytes called two datagrams copies when they differed only
// further on and nothing before told them apart (UDP without a checksum,
// or captured on the sender before checksum offload filled it in).
inline std::uint64_t lane(std::uint64_t h, std::uint64_t w) noexcept {
  h = (h ^ w) * 0xff51afd7ed558ccdULL;
  return (h << 31) | (h >> 33);
}
std::uint64_t dedup_hash(net::bytes b, std::uint32_t len) noexcept {
  const std::uint8_t* p = b.data();
  const std::size_t n = b.size();
  std::uint64_t h0 = 0x9e3779b97f4a7c15ULL ^ len;
  std::uint64_t h1 = 0xc2b2ae3d27d4eb4fULL ^ n;
  std::uint64_t h2 = 0x165667b19e3779f9ULL;
  std::uint64_t h3 = 0x27d4eb2f165667c5ULL;
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    std::uint64_t w[4];
    std::memcpy(w, p + i, 32);
    h0 = lane(h0, w[0]);
    h1 = lane(h1, w[1]);
    h2 = lane(h2, w[2]);
    h3 = lane(h3, w[3]);
  }
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    h0 = lane(h0, w);
  }
  std::uint64_t w = 0;
  std::memcpy(&w, p + i, n - i);
  std::uint64_t h = lane(h0, w) ^ lane(h1, h2) ^ (h3 * 0x9e3779b97f4a7c15ULL);
  h = (h ^ (h >> 29)) * 0xc4ceb9fe1a85ec53ULL;
  return h ^ (h >> 32);
}
}  // namespace

dispatcher::dispatcher(const dispatch_options& opt, std::vector<ipc::ring*> aggregator_rings,
                       std::vector<ipc::ring*> fingerprinter_rings,
                       std::function<bool()> keep_waiting)
    : opt_(opt),
      agg_rings_(std::move(aggregator_rings)),
      fp_rings_(std::move(fingerprinter_rings)),
      shard_packets_(agg_rings_.size(), 0),
      shard_written_(agg_rings_.size(), 0),
      worker_written_(fp_rings_.size(), 0),
      keep_waiting_(std::move(keep_waiting)),
      flow_table_(flow_slots, flow_slot{0, 0}),
      mac_table_(mac_slots, 0),
      dedup_table_(opt.dedup ? dedup_buckets : 0, dedup_bucket{}) {
  const std::uint64_t idle[3] = {opt.tcp_idle_s, opt.udp_idle_s, opt.other_idle_s};
  for (std::size_t i = 0; i < 3; ++i) {
    idle_s_[i] = static_cast<std::uint32_t>(std::min<std::uint64_t>(idle[i], 1u << 22));
  }
  agg_.reserve(agg_rings_.size());
  for (auto* r : agg_rings_) {
    agg_.emplace_back(*r);
  }
  fp_.reserve(fp_rings_.size());
  for (auto* r : fp_rings_) {
    fp_.emplace_back(*r);
  }
}

std::uint8_t* dispatcher::reserve(ipc::ring_writer& w, std::uint32_t len,
                                  frame_type t) noexcept {
  if (auto* p = w.try_reserve(len, t)) {
    return p;
  }
  if (!opt_.lossless) {
    return nullptr;
  }
  // A file can wait for the consumer; a wire cannot. reserve() publishes what
  // is pending first so the consumer can make room.
  return w.reserve(len, t, keep_waiting_);
}

void dispatcher::on_packet(net::bytes frame, std::uint32_t wire_len, std::uint64_t ts_ns,
                           std::uint16_t port, std::uint64_t ordinal) noexcept {
  net::packet_record rec;
  net::layer_offsets off;
  net::fragment_info frag;
  const net::decode_options& dopt = port < port_decode_.size() ? port_decode_[port] : ethernet_decode_;
  const bool ok = net::decode_frame(frame, wire_len, rec, off, frag, anomalies_, dopt);
  rec.ts_ns = ts_ns;
  rec.port_id = port;
  rec.seq = ordinal;
  // Before sharding: a later fragment must land with its first fragment's flow.
  fragments_.on_packet(rec, frag);
  ipc::single_writer_add(counters_.packets, 1);
  ipc::single_writer_add(counters_.wire_bytes, rec.wire_len);
  if (port < filters_.size() && filters_[port].erspan_only) {
    const auto t = static_cast<net::tunnel_type>(rec.tunnel);
    const bool tunnel = t == net::tunnel_type::gre || t == net::tunnel_type::gre_teb ||
                        t == net::tunnel_type::erspan1 || t == net::tunnel_type::erspan2 ||
                        t == net::tunnel_type::erspan3;
    const auto& addrs = filters_[port].addresses;
    if (!tunnel || std::find(addrs.begin(), addrs.end(), rec.tunnel_dst) == addrs.end()) {
      ipc::single_writer_add(counters_.not_for_erspan, 1);
      return;
    }
  }
  if (!dedup_table_.empty() && ok && off.l3 < off.end) {
    // The two copies a SPAN session of both directions delivers are the same
    // bytes from the (inner) IP header on, a few microseconds apart.
    const std::uint64_t h = dedup_hash(frame.subspan(off.l3, off.end - off.l3), rec.wire_len);
    auto& b = dedup_table_[h & (dedup_buckets - 1)];
    std::size_t victim = 0;
    for (std::size_t i = 0; i < 4; ++i) {
      if (b.hash[i] == h) {
        if (ts_ns >= b.ts[i] && ts_ns - b.ts[i] <= opt_.dedup_window_ns) {
          // The window runs from the latest copy, as editcap -w compares
          // with every packet in the window: a third copy 0.7 ms after the
          // second is one too, however long after the first.
          b.ts[i] = ts_ns;
          ipc::single_writer_add(counters_.duplicates, 1);
          return;
        }
        victim = i;  // the same bytes, long ago: this entry starts again
        break;
      }
      if (b.ts[i] < b.ts[victim]) victim = i;
    }
    b.hash[victim] = h;
    b.ts[victim] = ts_ns;
  }
  if (!ok) {
    ipc::single_writer_add(counters_.decode_failures, 1);
  }
  if (rec.l3 != static_cast<std::uint8_t>(net::l3_type::ipv4) &&
      rec.l3 != static_cast<std::uint8_t>(net::l3_type::ipv6)) {
    ipc::single_writer_add(counters_.non_ip, 1);
  }
  if (ts_ns > last_ts_) {
    last_ts_ = ts_ns;
    if (ts_ns / 1000000000ULL > last_tick_s_) {
      // Let every shard know packet time moved on, so shards that see no
      // packets still close their reporting intervals on time.
      last_tick_s_ = ts_ns / 1000000000ULL;
      tick_all(ts_ns);
    }
  }

  const std::uint32_t reason =
      (fp_.empty() && !opt_.payload_to_aggregator) ? 0 : snapshot_reason(rec, frame, off);
  const std::size_t shard = agg_.empty() ? 0 : rec.flow_hash % agg_.size();
  if (!agg_.empty()) {
    ++shard_packets_[shard];
    if (opt_.payload_to_aggregator && (reason & net::snapreason::flow_start) != 0) {
      // One of the first payload packets of a flow direction: the aggregator
      // gets it whole, in order with the flow's other packets, to classify
      // the application.
      write_payload(agg_[shard], rec, frame, off, net::snapreason::flow_start);
      ++shard_written_[shard];
    } else if (auto* p = reserve(agg_[shard], sizeof rec, frame_type::packet)) {
      std::memcpy(p, &rec, sizeof rec);
      ++shard_written_[shard];
    } else {
      agg_[shard].count_drop(sizeof rec);
      ipc::single_writer_add(counters_.record_drops, 1);
    }
  }
  if (!fp_.empty() && reason != 0) {
    write_snapshot(rec, frame, off, reason);
  }
  if (names_ != nullptr && names_->active() && !agg_.empty()) {
    bool broadcast = false;
    names_->on_packet(rec, frame, off, (reason & net::snapreason::flow_start) != 0, bindings_, broadcast);
    for (const auto& b : bindings_) {
      // Right behind the packet in its shard's ring; DNS to every shard.
      for (std::size_t k = 0; k < agg_.size(); ++k) {
        if (!broadcast && k != shard) continue;
        if (auto* p = reserve(agg_[k], sizeof b, frame_type::name_binding)) {
          std::memcpy(p, &b, sizeof b);
        }
      }
    }
  }
}

void dispatcher::write_payload(ipc::ring_writer& w, const net::packet_record& rec, net::bytes frame,
                               const net::layer_offsets& off, std::uint32_t reason) noexcept {
  const std::size_t start = off.l2;
  std::size_t len = std::max<std::size_t>(start, off.end) - start;
  len = std::min<std::size_t>(len, opt_.snaplen);
  const auto total = static_cast<std::uint32_t>(sizeof(net::snapshot_header) + len);
  auto* p = reserve(w, total, frame_type::packet_payload);
  if (p == nullptr) {
    // No room for the payload: the packet still counts.
    if (auto* q = reserve(w, sizeof rec, frame_type::packet)) {
      std::memcpy(q, &rec, sizeof rec);
    } else {
      w.count_drop(sizeof rec);
      ipc::single_writer_add(counters_.record_drops, 1);
    }
    return;
  }
  net::snapshot_header h{};
  h.rec = rec;
  h.caplen = static_cast<std::uint16_t>(len);
  auto rel = [&](std::uint16_t o) {
    return static_cast<std::uint16_t>(std::min<std::size_t>(o >= start ? o - start : 0, len));
  };
  h.l3_off = rel(off.l3);
  h.l4_off = rel(off.l4);
  h.payload_off = rel(off.payload);
  h.reason = reason;
  std::memcpy(p, &h, sizeof h);
  std::memcpy(p + sizeof h, frame.data() + start, len);
}

std::uint32_t dispatcher::snapshot_reason(const net::packet_record& rec, net::bytes frame,
                                          const net::layer_offsets& off) noexcept {
  std::uint32_t reason = 0;
  const auto l3 = static_cast<net::l3_type>(rec.l3);
  const bool ports = (rec.flags & net::pktflag::has_ports) != 0;
  // What is snapshotted is what the protocol registry names a parser for
  // (common/proto/registry.h), which the fingerprinter dispatches by too.
  if (l3 == net::l3_type::arp) {
    reason |= net::snapreason::arp;
  } else if (l3 == net::l3_type::other && proto::ethertype_parser(rec.ethertype) != proto::parser::none) {
    reason |= net::snapreason::discovery;
  } else if (ports && rec.ip_proto == net::ipproto::udp &&
             proto::udp_parser(rec.src_port, rec.dst_port) != proto::parser::none) {
    reason |= net::snapreason::discovery;
  } else if (ports && rec.ip_proto == net::ipproto::tcp) {
    if ((rec.tcp_flags & net::tcpflag::syn) != 0) {
      reason |= net::snapreason::tcp_syn;
    }
    if (rec.l4_payload != 0 && proto::tcp_segment_parser(rec.src_port, rec.dst_port) != proto::parser::none) {
      reason |= net::snapreason::discovery;
    }
    if (rec.l4_payload != 0 && off.payload < off.end &&
        proto::starts_http_message(frame.data() + off.payload, off.end - off.payload)) {
      reason |= net::snapreason::message_start;
    }
  } else if (rec.ip_proto == net::ipproto::gre && off.l4 + 4u <= off.end &&
             proto::gre_parser(net::load_be16(frame.data() + off.l4 + 2)) != proto::parser::none) {
    // A router's CDP over a GRE tunnel (decode leaves the GRE packet as the record).
    reason |= net::snapreason::discovery;
  }
  if (rec.l4_payload != 0 && opt_.payload_packets != 0 &&
      (l3 == net::l3_type::ipv4 || l3 == net::l3_type::ipv6)) {
    // Direction bit: which endpoint sorts first. With the symmetric hash it
    // gives a per-direction key at the cost of one compare.
    const auto c = rec.src_ip <=> rec.dst_ip;
    const bool forward = c < 0 || (c == 0 && rec.src_port < rec.dst_port);
    const std::uint32_t key = (rec.flow_hash & ~1u) | (forward ? 1u : 0u);
    auto& slot = flow_table_[(key * 2654435761u) >> 16];
    std::uint32_t now_s = static_cast<std::uint32_t>(rec.ts_ns / 1'000'000'000ULL) & 0xffffffu;
    std::uint32_t count = slot.seen & 0xffu;
    if (slot.key != key) {
      slot.key = key;
      count = 0;
    } else {
      // Idle time, modulo 2^24 s. A step back in time (several capture
      // lcores, merged files) is no idle time, and the later time stays.
      const std::uint32_t last_s = slot.seen >> 8;
      const std::uint32_t idle = (now_s - last_s) & 0xffffffu;
      const std::uint32_t limit = idle_s_[rec.ip_proto == net::ipproto::tcp   ? 0
                                          : rec.ip_proto == net::ipproto::udp ? 1
                                                                              : 2];
      if (idle >= 1u << 23) {
        now_s = last_s;
      } else if (idle > limit) {
        count = 0;
      }
    }
    if (count < opt_.payload_packets) {
      ++count;
      reason |= net::snapreason::flow_start;
    }
    slot.seen = now_s << 8 | count;
  }
  if (!rec.src_mac.is_zero() && !rec.src_mac.is_multicast()) {
    const std::uint64_t m = rec.src_mac.to_u64();
    auto& slot = mac_table_[(m * 0x9e3779b97f4a7c15ULL) >> (64 - 14)];
    if (slot != m) {
      slot = m;
      reason |= net::snapreason::new_mac;
    }
  }
  return reason;
}

void dispatcher::write_snapshot(const net::packet_record& rec, net::bytes frame,
                                const net::layer_offsets& off, std::uint32_t reason) noexcept {
  const std::size_t start = off.l2;
  const std::size_t end = std::max<std::size_t>(start, off.end);
  std::size_t len = end - start;
  if (len > opt_.snaplen) {
    len = opt_.snaplen;
    ipc::single_writer_add(counters_.snapshot_truncated, 1);
  }
  const std::size_t worker = rec.flow_hash % fp_.size();
  const auto total = static_cast<std::uint32_t>(sizeof(net::snapshot_header) + len);
  auto* p = fp_[worker].try_reserve(total, frame_type::snapshot);
  if (p == nullptr && opt_.lossless) {
    p = reserve(fp_[worker], total, frame_type::snapshot);
  }
  if (p == nullptr) {
    fp_[worker].count_drop(total);
    ipc::single_writer_add(counters_.snapshot_drops, 1);
    return;
  }
  net::snapshot_header h{};
  h.rec = rec;
  h.caplen = static_cast<std::uint16_t>(len);
  auto rel = [&](std::uint16_t o) {
    return static_cast<std::uint16_t>(std::min<std::size_t>(o >= start ? o - start : 0, len));
  };
  h.l3_off = rel(off.l3);
  h.l4_off = rel(off.l4);
  h.payload_off = rel(off.payload);
  h.reason = reason;
  std::memcpy(p, &h, sizeof h);
  std::memcpy(p + sizeof h, frame.data() + start, len);
  ++worker_written_[worker];
  ipc::single_writer_add(counters_.snapshots, 1);
}

void dispatcher::publish() noexcept {
  for (auto& w : agg_) {
    w.publish();
  }
  for (auto& w : fp_) {
    w.publish();
  }
}

void dispatcher::tick_all(std::uint64_t ts_ns) noexcept {
  const ipc::tick_frame t{ts_ns};
  for (auto& w : agg_) {
    // Ticks are advisory: a full ring simply misses one.
    if (auto* p = w.try_reserve(sizeof t, frame_type::tick)) {
      std::memcpy(p, &t, sizeof t);
    }
  }
}

void dispatcher::tick(std::uint64_t ts_ns) noexcept {
  if (ts_ns > last_ts_) {
    last_ts_ = ts_ns;
  }
  tick_all(ts_ns);
  publish();
}

bool dispatcher::end_of_input(std::uint64_t last_ts_ns) {
  const auto& keep = keep_waiting_;
  for (std::size_t k = 0; k < agg_.size(); ++k) {
    const ipc::end_of_input_frame e{last_ts_ns, shard_written_[k]};
    auto* p = agg_[k].reserve(sizeof e, frame_type::end_of_input, keep);
    if (p == nullptr) {
      return false;
    }
    std::memcpy(p, &e, sizeof e);
  }
  for (std::size_t j = 0; j < fp_.size(); ++j) {
    const ipc::end_of_input_frame e{last_ts_ns, worker_written_[j]};
    auto* p = fp_[j].reserve(sizeof e, frame_type::end_of_input, keep);
    if (p == nullptr) {
      return false;
    }
    std::memcpy(p, &e, sizeof e);
  }
  publish();
  return true;
}

}  // namespace tapsense::capture
