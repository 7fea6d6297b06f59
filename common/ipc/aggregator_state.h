#pragma once
// The aggregator shard's state, in a shared-memory segment the supervisor
// creates, so a restarted aggregator re-attaches instead of losing the counts
// of a reporting interval. Fixed layout, offsets only.
//
// It lives in common/ipc, not aggregator/, because two processes read it:
// the supervisor creates and lays out the segment, the aggregator attaches.
// Everything here is header-only, so neither links the other (the sizes of
// every segment for a configuration are in common/ipc/layouts.h).
//
// Exactly-once across restarts:
//  - packets: each record carries capture's input ordinal; `applied_seq` is
//    the last one applied, so records replayed from the ring are skipped.
//  - reports: a report cycle sets phase=emitting, emits batches whose ids are
//    (cycle << 20 | chunk), then phase=resetting, clears what it reported,
//    then phase=idle and ++cycle. A restart in `emitting` re-emits the same
//    batches (the uplink applies each id once); in `resetting` it finishes
//    the reset.
//  - the report spool: a cycle's batches are placed whole, either in the
//    uplink ring or (when it has no room) in the spool at the end of this
//    segment, by one store of `spool_pos`; `spool_cycle_pos` is the spool as
//    the cycle found it, so a restart in `emitting` puts it back and places
//    the same batches again. Spooled frames move to the ring as it frees
//    room: ring publish first, then `spool_pos`, so a crash in between sends
//    a batch twice (the uplink applies each id once), never loses one.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "common/ipc/shm_table.h"
#include "common/config/classifier.h"
#include "common/net/addr.h"
#include "common/stage/crash_guard.h"

namespace tapsense::aggregator {

using ipc::hash_bytes;
using ipc::shm_table;

inline constexpr std::uint64_t state_magic = 0x5441544741474753ULL;  // "SGGAGTAT"
inline constexpr std::uint32_t state_version = 7;

using config::address_class;

// A connection, both directions: endpoints in canonical order (a < b).
struct conn_key {
  net::ip_address a;
  net::ip_address b;
  std::uint16_t port_a;
  std::uint16_t port_b;
  std::uint8_t proto;
  std::uint8_t network;  // the same addresses in two networks are two connections
  std::uint8_t pad[2];
};
static_assert(sizeof(conn_key) == 40);

struct conn_value {
  std::uint64_t first_ns;
  std::uint64_t last_ns;
  // What this connection added to its report entry in the current flow
  // epoch, so a connection reclassified mid-flight (a monitored domain seen
  // in its TLS SNI) can move its counts.
  std::uint64_t bytes_c2s;
  std::uint64_t bytes_s2c;
  std::uint32_t packets;
  std::uint32_t packets_c2s;
  std::uint32_t report_slot;      // cached slot of its report entry ...
  std::uint32_t report_epoch;     // ... valid while the report table holds this epoch
  std::uint8_t client_is_a;       // 1: endpoint a opened the connection
  std::uint8_t decided_by;        // 0 first packet, 1 ports, 2 handshake
  std::uint8_t server_site_set;   // 1: the server side is a monitored site (by name)
  std::uint8_t network;
  std::uint16_t server_site;
  std::uint16_t app_master;       // nDPI result once known
  std::uint16_t app_proto;
  std::uint16_t app_category;
  std::uint8_t app_state;         // 0 unknown, 1 detecting, 2 done
  std::uint8_t pad[3];
  // Where endpoint a's and b's asset entries and source-address bindings
  // were last found (slot + 1, 0: none yet). Hints only: a hint is used when
  // the slot still holds the very key looked for, so a table cleared or
  // rearranged since costs one lookup, never a wrong entry.
  std::uint32_t asset_hint[2];
  std::uint32_t binding_hint[2];
};
// Two cache lines a slot (with its 8-byte header and 40-byte key).
static_assert(sizeof(conn_value) == 80);

// What a flow report aggregates: (client, server, server port, protocol) in
// a network. External and excluded sides are all-zero addresses with their
// class; monitored sites keep the address and their site index; unassigned,
// broadcast and multicast sides keep their address, and an unassigned client
// (0.0.0.0, ::) also its MAC, so two DHCP clients are two flows.
struct report_key {
  net::ip_address client;
  net::ip_address server;
  std::uint16_t server_port;
  std::uint8_t proto;
  std::uint8_t client_class;
  std::uint8_t server_class;
  std::uint8_t network;
  std::uint16_t client_site;  // monitored site index (client_class == monitored)
  std::uint16_t server_site;
  std::uint8_t client_mac[6];  // unassigned client: its source MAC (else zero)
};
static_assert(sizeof(report_key) == 48);

struct report_value {
  std::uint64_t packets;
  std::uint64_t packets_c2s;
  std::uint64_t bytes_c2s;
  std::uint64_t bytes_s2c;
  std::uint64_t first_ns;
  std::uint64_t last_ns;
  std::uint16_t app_master;  // nDPI protocol ids of the first classified connection
  std::uint16_t app_proto;
  std::uint16_t app_category;
  std::uint8_t app_known;
  std::uint8_t pad[1];
};

// An inventoried IP: totals since its last report (deltas) and whether this
// shard reported it before (new assets are reported within asset_interval,
// known ones every asset_update_interval).
struct asset_key {
  net::ip_address ip;
  std::uint64_t mac;          // the MAC its packets carried: holders of a DHCP address apart
  std::uint8_t network;
  std::uint8_t pad[7];
};
static_assert(sizeof(asset_key) == 32);
struct asset_value {
  std::uint64_t first_ns;     // of the delta period
  std::uint64_t last_ns;
  std::uint64_t bytes_in;
  std::uint64_t bytes_out;
  std::uint64_t packets_in;
  std::uint64_t packets_out;
  std::uint64_t seen_ns;      // last packet ever (for idle eviction)
  std::uint8_t ttls[4];       // distinct TTLs of TCP packets from the IP (NAT hint)
  std::uint8_t ttl_out;
  std::uint8_t reported;      // reported at least once by this shard
  std::uint8_t dirty;         // deltas pending
  std::uint8_t pad[1];
};

struct binding_key {
  net::ip_address ip;
  std::uint64_t mac;
  std::uint8_t source;  // schema::BindingSource
  std::uint8_t network;
  std::uint8_t pad[6];
};
static_assert(sizeof(binding_key) == 32);
struct binding_value {
  std::uint64_t first_ns;
  std::uint64_t last_ns;
  std::uint64_t packets;
};

struct gateway_key {
  std::uint64_t mac;
};
struct gateway_value {
  std::uint64_t packets;
};

// Addresses learnt at run time: monitored sites matched by domain (DNS
// answers, SNI, Host) and addresses of excluded MACs. Expire in packet time.
struct name_key {
  net::ip_address ip;
};
struct name_value {
  std::uint64_t expires_ns;
  std::uint16_t site;       // monitored site index
  std::uint8_t kind;        // 1 monitored, 2 excluded
  std::uint8_t pad[5];
};

enum class phase : std::uint32_t { idle = 0, emitting = 1, resetting = 2 };

// What a report cycle covers (bits).
namespace cycle_kind {
inline constexpr std::uint32_t flows = 1;         // the flow interval ended: report and clear it
inline constexpr std::uint32_t new_assets = 2;    // assets never reported yet
inline constexpr std::uint32_t asset_updates = 4; // every asset with pending deltas
inline constexpr std::uint32_t final_ = 8;        // end of input: flush all, then end_of_reports
inline constexpr std::uint32_t early_flows = 16;  // report table full: flush the open interval early
}  // namespace cycle_kind

struct alignas(64) state_header {
  std::uint64_t magic;
  std::uint32_t version;
  std::uint32_t shard;
  std::uint32_t conn_capacity;
  std::uint32_t report_capacity;
  std::uint32_t asset_capacity;
  std::uint32_t binding_capacity;
  std::uint32_t gateway_capacity;
  std::uint32_t name_capacity;
  std::uint64_t conn_offset;
  std::uint64_t report_offset;
  std::uint64_t asset_offset;
  std::uint64_t binding_offset;
  std::uint64_t gateway_offset;
  std::uint64_t name_offset;
  std::uint64_t total_bytes;

  // Table sizes (single writer: the aggregator).
  std::uint32_t conn_size;
  std::uint32_t report_size;
  std::uint32_t asset_size;
  std::uint32_t binding_size;
  std::uint32_t gateway_size;
  std::uint32_t name_size;

  // Per capture lcore (input ring): last packet ordinal applied.
  std::atomic<std::uint64_t> applied_seq[32];
  std::uint32_t inputs;                    // capture lcores feeding this shard
  std::uint32_t inputs_ended;              // bit per input that delivered end_of_input
  std::uint64_t clock_ns;                  // packet time: max seen
  std::uint64_t flow_interval_start;       // start of the open flow interval (0: none yet)
  std::uint64_t next_sighting_ns;          // next new-asset report
  std::uint64_t next_update_ns;            // next report of every asset's deltas
  std::uint64_t next_sweep_ns;             // next idle-connection sweep
  std::atomic<std::uint32_t> phase;        // aggregator::phase
  std::uint32_t cycle_kind;
  std::uint64_t cycle;                     // report cycle number, batch ids derive from it
  std::uint32_t flow_epoch;                // bumped each time the report table is cleared
  std::uint32_t pad2;
  std::uint64_t cycle_interval_start;      // flow interval the emitting cycle reports
  std::uint32_t end_of_input;              // 1 once end_of_input was seen
  std::uint32_t end_of_reports_sent;       // 1 once end_of_reports is in the uplink ring
  std::uint64_t batches;                   // batches emitted (all cycles)

  // Counters (single writer).
  std::uint64_t packets;
  std::uint64_t replayed_skipped;
  std::uint64_t non_ip;
  std::uint64_t external_only;             // neither side inside: not tracked
  std::uint64_t time_backwards;            // packets older than the open flow interval: clamped
  std::uint64_t conn_table_full;
  std::uint64_t report_table_full;
  std::uint64_t asset_table_full;
  std::uint64_t binding_table_full;
  std::uint64_t conns_expired;
  std::uint64_t conns_evicted;             // removed early because the table was full
  std::uint64_t early_flow_flushes;        // report table full: interval reported in parts
  std::uint64_t assets_evicted;            // idle assets removed after their last report
  std::uint64_t excluded_packets;
  std::uint64_t names_learnt;
  std::uint64_t restarts;

  // The report spool (see above): whole report cycles wait here, as ring
  // frames, while the uplink ring has no room; the packet loop never waits.
  std::uint64_t spool_offset;
  std::uint64_t spool_capacity;            // bytes (< 4 GiB)
  std::atomic<std::uint64_t> spool_pos;    // tail << 32 | head (byte offsets); 0 when empty
  std::uint64_t spool_cycle_pos;           // spool_pos when the emitting cycle began
  std::uint64_t spool_need;                // bytes the last deferred cycle needed (0: none)
  std::uint32_t spool_direct;              // 1: the emitting cycle was too big for the spool
  std::uint32_t pad3;
  std::uint64_t cycle_interval_end;        // flow interval end the emitting cycle reports (0: start + interval)
  std::uint64_t spool_high_water;          // most bytes ever waiting in the spool
  std::uint64_t cycles_spooled;            // report cycles that waited in the spool
  std::uint64_t cycles_deferred;           // cycles that found the spool full: left in the tables
  std::uint64_t intervals_merged;          // flow intervals reported together with the next one
  std::uint64_t spool_overflows;           // cycles bigger than the whole spool: written to the ring, waiting
  std::uint64_t flow_packets_dropped;      // packets in no flow record: report table and spool full
  std::uint64_t asset_packets_dropped;     // packets in no asset record: asset table and spool full

  // The packet record in hand, for poison-record quarantine after a crash.
  stage::crash_guard_state guard;
};

using conn_table = shm_table<conn_key, conn_value>;
using report_table = shm_table<report_key, report_value>;
using asset_table = shm_table<asset_key, asset_value>;
using binding_table = shm_table<binding_key, binding_value>;
using gateway_table = shm_table<gateway_key, gateway_value>;
using name_table = shm_table<name_key, name_value>;

// Views over a mapped state segment.
struct tables {
  conn_table conns;
  report_table reports;
  asset_table assets;
  binding_table bindings;
  gateway_table gateways;
  name_table names;
};
// Rounds up to a power of two (>= 1024).
inline std::uint32_t pow2_capacity(std::uint32_t n) noexcept {
  std::uint32_t c = 1024;
  while (c < n && c < (1u << 30)) {
    c <<= 1;
  }
  return c;
}

// Computes offsets for the given capacities (rounded up to powers of two) and
// returns the segment size. Used by the supervisor (create) and checked by the
// aggregator (attach).
inline std::size_t layout(state_header& h, std::uint32_t conns, std::uint32_t reports,
                          std::uint32_t assets, std::uint32_t bindings, std::uint32_t gateways,
                          std::uint32_t names, std::uint64_t spool_bytes = 1u << 22) noexcept {
  auto align = [](std::size_t v) { return (v + 4095) & ~std::size_t{4095}; };
  h.conn_capacity = pow2_capacity(conns);
  h.report_capacity = pow2_capacity(reports);
  h.asset_capacity = pow2_capacity(assets);
  h.binding_capacity = pow2_capacity(bindings);
  h.gateway_capacity = pow2_capacity(gateways);
  h.name_capacity = pow2_capacity(names);
  std::size_t off = align(sizeof(state_header));
  h.conn_offset = off;
  off = align(off + conn_table::bytes_for(h.conn_capacity));
  h.report_offset = off;
  off = align(off + report_table::bytes_for(h.report_capacity));
  h.asset_offset = off;
  off = align(off + asset_table::bytes_for(h.asset_capacity));
  h.binding_offset = off;
  off = align(off + binding_table::bytes_for(h.binding_capacity));
  h.gateway_offset = off;
  off = align(off + gateway_table::bytes_for(h.gateway_capacity));
  h.name_offset = off;
  off = align(off + name_table::bytes_for(h.name_capacity));
  h.spool_offset = off;
  h.spool_capacity = std::min<std::uint64_t>(align(spool_bytes), 0xfffff000ULL);
  off += h.spool_capacity;
  h.total_bytes = off;
  return off;
}

inline tables attach(state_header& h) noexcept {
  auto* base = reinterpret_cast<std::uint8_t*>(&h);
  return tables{
      conn_table(base + h.conn_offset, h.conn_capacity, &h.conn_size),
      report_table(base + h.report_offset, h.report_capacity, &h.report_size),
      asset_table(base + h.asset_offset, h.asset_capacity, &h.asset_size),
      binding_table(base + h.binding_offset, h.binding_capacity, &h.binding_size),
      gateway_table(base + h.gateway_offset, h.gateway_capacity, &h.gateway_size),
      name_table(base + h.name_offset, h.name_capacity, &h.name_size),
  };
}

}  // namespace tapsense::aggregator
