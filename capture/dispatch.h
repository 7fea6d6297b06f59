#pragma once
// Per-packet work of the capture process, free of DPDK so it can be tested
// alone: decode a frame, shard it by the symmetric flow hash to an aggregator
// ring, decide whether the fingerprinter needs a payload snapshot, and count
// every drop by cause. Allocation-free and lock-free on the per-packet path.
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "common/ipc/ring.h"
#include "common/net/decode.h"
#include "common/net/fragments.h"
#include "common/net/snapshot.h"
#include "capture/names.h"

namespace tapsense::capture {

struct dispatch_options {
  unsigned snaplen = 2048;         // bytes of a packet kept in a snapshot
  unsigned payload_packets = 4;    // snapshots per flow direction with payload
  bool lossless = false;           // offline input: wait for ring space instead of dropping
  bool payload_to_aggregator = true;  // first payload packets go to the aggregator with their
                                      // payload (application classification)
  bool dedup = true;               // drop identical copies seen within dedup_window_ns
  std::uint64_t dedup_window_ns = 1'000'000;
  // A flow direction silent for longer than its protocol's idle time (the
  // aggregator's [aggregator] tcp_idle_timeout, udp_idle_timeout and
  // other_idle_timeout) starts again: the aggregator has ended that
  // connection, and the one it starts next gets its own first payload
  // packets (application classification, fingerprints).
  std::uint64_t tcp_idle_s = 3600;
  std::uint64_t udp_idle_s = 120;
  std::uint64_t other_idle_s = 60;
};

// ERSPAN mode of a sniffing interface: only GRE/ERSPAN sent to one of the
// addresses assigned to the interface is accepted; everything else it sees is
// dropped (and counted). Default mode accepts everything.
struct port_filter {
  bool erspan_only = false;
  std::vector<net::ip_address> addresses;
};

// Single writer (the RX loop); read by the heartbeat through relaxed loads.
struct alignas(64) dispatch_counters {
  std::atomic<std::uint64_t> packets{0};
  std::atomic<std::uint64_t> wire_bytes{0};
  std::atomic<std::uint64_t> decode_failures{0};   // shorter than an Ethernet header
  std::atomic<std::uint64_t> non_ip{0};
  std::atomic<std::uint64_t> snapshots{0};
  std::atomic<std::uint64_t> record_drops{0};      // aggregator ring full (live input only)
  std::atomic<std::uint64_t> snapshot_drops{0};    // fingerprinter ring full
  std::atomic<std::uint64_t> snapshot_truncated{0};  // snapshot cut at snaplen
  std::atomic<std::uint64_t> duplicates{0};        // identical copies dropped
  std::atomic<std::uint64_t> not_for_erspan{0};    // ERSPAN-mode port: not a tunnel to our address
};

class dispatcher {
 public:
  // Rings are owned by the caller and outlive the dispatcher.
  // `keep_waiting` is called while a lossless write waits for room: it should
  // keep the process alive (heartbeats) and return false to give up.
  dispatcher(const dispatch_options& opt, std::vector<ipc::ring*> aggregator_rings,
             std::vector<ipc::ring*> fingerprinter_rings, std::function<bool()> keep_waiting);

  // Watches DNS answers, SNI and Host for monitored domains (may be null).
  void set_name_watcher(name_watcher* w) { names_ = w; }

  // Link type (LINKTYPE_) per input port index, from a capture file's header;
  // ports without one are Ethernet.
  void set_port_link_types(const std::vector<std::uint16_t>& lt) {
    port_decode_.assign(lt.size(), net::decode_options{});
    for (std::size_t i = 0; i < lt.size(); ++i) {
      port_decode_[i].link_type = lt[i];
    }
  }

  // Filters per input port index (ERSPAN mode); ports without one accept all.
  void set_port_filters(std::vector<port_filter> f) { filters_ = std::move(f); }

  // Handles one captured frame. `wire_len` is the original length when known
  // (0: captured length); `ordinal` is the packet's 1-based sequence number
  // over the whole input, carried in the record so consumers can tell replays.
  void on_packet(net::bytes frame, std::uint32_t wire_len, std::uint64_t ts_ns,
                 std::uint16_t port, std::uint64_t ordinal) noexcept;

  // Makes everything written so far visible to consumers (end of a burst).
  void publish() noexcept;

  // Packet time advanced without packets (live idle): lets shards close intervals.
  void tick(std::uint64_t ts_ns) noexcept;

  // Writes end_of_input to every ring, waiting for room; publishes. Returns
  // false if stopped before every ring took it.
  bool end_of_input(std::uint64_t last_ts_ns);

  const dispatch_counters& counters() const noexcept { return counters_; }
  const net::anomaly_counters& anomalies() const noexcept { return anomalies_; }
  const net::fragment_tracker_counters& fragments() const noexcept { return fragments_.counters(); }
  std::uint64_t last_ts_ns() const noexcept { return last_ts_; }
  std::uint64_t packets_to_shard(std::size_t k) const noexcept { return shard_packets_[k]; }

 private:
  std::uint8_t* reserve(ipc::ring_writer& w, std::uint32_t len, ipc::frame_type t) noexcept;
  std::uint32_t snapshot_reason(const net::packet_record& rec, net::bytes frame,
                                const net::layer_offsets& off) noexcept;
  void write_snapshot(const net::packet_record& rec, net::bytes frame,
                      const net::layer_offsets& off, std::uint32_t reason) noexcept;
  void tick_all(std::uint64_t ts_ns) noexcept;
  void write_payload(ipc::ring_writer& w, const net::packet_record& rec, net::bytes frame,
                     const net::layer_offsets& off, std::uint32_t reason) noexcept;

  dispatch_options opt_;
  std::vector<ipc::ring*> agg_rings_;
  std::vector<ipc::ring*> fp_rings_;
  std::vector<ipc::ring_writer> agg_;
  std::vector<ipc::ring_writer> fp_;
  std::vector<std::uint64_t> shard_packets_;
  std::vector<std::uint64_t> shard_written_;
  std::vector<std::uint64_t> worker_written_;
  std::function<bool()> keep_waiting_;
  dispatch_counters counters_;
  net::anomaly_counters anomalies_;
  // Later IP fragments get their first fragment's flow (ports, inner packet).
  net::fragment_tracker fragments_;
  std::uint64_t last_ts_ = 0;
  std::uint64_t last_tick_s_ = 0;

  // First-payload-packets table: direct-mapped, keyed by a directional flow
  // hash. A collision only costs a few extra snapshots. `seen` packs the
  // payload packets counted (low 8 bits) and the packet time of the last one
  // in seconds, modulo 2^24 (194 days), above them.
  struct flow_slot {
    std::uint32_t key;
    std::uint32_t seen;
  };
  // The idle times in seconds, by protocol (TCP, UDP, other), as far as the
  // slot's 24-bit time tells them apart (below 2^22 s, 48 days).
  std::uint32_t idle_s_[3];
  static constexpr std::size_t flow_slots = 1u << 16;
  std::vector<flow_slot> flow_table_;
  // Source MACs seen: direct-mapped; an evicted MAC is snapshotted again.
  static constexpr std::size_t mac_slots = 1u << 14;
  std::vector<std::uint64_t> mac_table_;
  // Recent packets for duplicate suppression: (hash, time) in 4-way
  // buckets of one cache line each, the oldest entry replaced. A packet
  // costs one line, and 128 KiB stay in cache beside the rings: the
  // direct-mapped 1 MiB table this replaces missed the cache on most
  // packets (0.5 s of the benchmark's 2.2 s of capture CPU, perf), while
  // a copy 1,000 packets after its original still finds its entry in
  // 99.8% of cases (four later packets must land in its bucket first).
  struct alignas(64) dedup_bucket {
    std::uint64_t hash[4];
    std::uint64_t ts[4];
  };
  static constexpr std::size_t dedup_buckets = 1u << 11;
  std::vector<dedup_bucket> dedup_table_;
  std::vector<port_filter> filters_;
  std::vector<net::decode_options> port_decode_;
  net::decode_options ethernet_decode_;
  name_watcher* names_ = nullptr;
  std::vector<ipc::name_binding_frame> bindings_;
};

}  // namespace tapsense::capture
