#pragma once
// One aggregator shard: applies packet records to its tables and emits flow
// and sighting batches to the uplink on the reporting cadence (packet time).
// DPDK-free and process-free so it can be tested alone.
//
// Classes (common/config/classifier.h): flows are tracked when at least one
// side is inventoried; excluded sides appear as "Excluded" and nothing about
// them is kept; external sides fold into "External"; monitored sites keep
// their address and name. Tables are bounded: a full report table is
// reported early (the uplink merges the parts), a full asset table reports
// its deltas and starts over, a full connection table evicts its oldest
// connections; each is counted.
//
// The packet path never waits for the report path: a report cycle is built
// whole, then placed in the uplink ring if it has room, else in the report
// spool (shared memory, in the state segment); poll() moves spooled batches
// on as the ring frees room. A cycle that finds the spool full stays in the
// tables: flow intervals merge into the next one, sightings keep summing,
// and what fits nowhere is counted (drops.*), never waited for. Only a cycle
// bigger than the whole (empty) spool is written to the ring with waits.
#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "aggregator/expiry.h"
#include "aggregator/state.h"
#include "common/config/classifier.h"
#include "common/config/config.h"
#include "common/ipc/frame_types.h"
#include "common/ipc/ring.h"
#include "common/ipc/spool.h"
#include "common/net/packet_record.h"

#include <capnp/common.h>
#include <kj/array.h>

namespace capnp {
class MessageBuilder;
}

namespace tapsense::aggregator {

using config::classifier;

// Optional payload classifier (nDPI adapter): sees the first payload packets
// of each connection, returns when it has an answer.
class app_classifier {
 public:
  struct result {
    std::uint16_t master = 0;
    std::uint16_t app = 0;
    std::uint16_t category = 0;
    bool done = false;
  };
  virtual ~app_classifier() = default;
  struct names {
    std::string family;       // "Web Services"
    std::string service;      // "HTTPS"
    std::string application;  // "Google" (empty when no more specific than the service)
  };
  // `conn` identifies the connection (a hash of its key); `ip_packet` starts
  // at the IP header; `client_to_server` tells the direction.
  virtual result classify(std::uint64_t conn, std::uint64_t ts_ns, std::span<const std::uint8_t> ip_packet,
                          bool client_to_server) = 0;
  // The connection is gone (expired or evicted); forget its state.
  virtual void forget(std::uint64_t conn) = 0;
  virtual names describe(std::uint16_t master, std::uint16_t app, std::uint16_t category) = 0;
};

class shard {
 public:
  // `out` is the lossless ring to the uplink; `keep_waiting` tells a blocked
  // emission whether to go on waiting for room.
  shard(state_header& h, const config::config& cfg, ipc::ring& out, std::string producer,
        std::function<bool()> keep_waiting, app_classifier* apps = nullptr);

  // Finishes a report cycle a previous incarnation left half done. Returns
  // false if stopped while emitting.
  bool recover();

  // Handles one frame from capture lcore `input`'s ring. Returns false if
  // stopped while emitting.
  bool on_frame(const ipc::frame_view& f, unsigned input = 0);

  // Moves spooled batches to the uplink ring while it has room, and finishes
  // the end of input once everything is out. Never waits (but for a cycle
  // bigger than the spool). Returns false if stopped.
  bool poll();
  // Bytes of report batches waiting in the spool.
  std::uint64_t spooled_bytes() const noexcept;

  bool finished() const noexcept { return h_.end_of_reports_sent != 0; }
  const state_header& header() const noexcept { return h_; }
  // Set when a report can never be delivered (a batch bigger than the ring
  // can ever hold): the shard must stop with this message.
  const std::string& fatal() const noexcept { return fatal_; }
  // Records per report batch: as many as the report ring's largest frame
  // holds at a generous 512 bytes a record, at most 4096.
  std::size_t batch_records() const noexcept { return batch_max_; }

 private:
  struct side {
    config::address_class cls;
    std::uint16_t site;
  };
  side classify(std::uint8_t network, const net::ip_address& ip, const net::mac_address& mac,
                std::uint64_t ts, bool source) const noexcept;

  bool on_packet(const net::packet_record& rec, std::span<const std::uint8_t> ip_packet);
  bool on_name(const ipc::name_binding_frame& n);
  bool advance_clock(std::uint64_t ts_ns);
  enum class placed { done, deferred, stopped };
  // `interval_end`: end of the flow interval(s) a flow cycle reports (0: the
  // open interval's start plus flow_interval).
  placed run_cycle(std::uint32_t kind, std::uint64_t interval_end = 0);
  bool emit_flows();
  bool emit_sightings(std::uint32_t kind);
  void reset(std::uint32_t kind) noexcept;
  bool write(ipc::frame_type t, capnp::MessageBuilder& mb);
  bool place_cycle();
  bool spool_gated() const noexcept;
  void drain_spool() noexcept;
  bool end_of_input();
  // Expires the connections idle since before `now` (their idle timeout
  // passed): only those whose wheel bucket is due are looked at.
  void sweep(std::uint64_t now) noexcept;
  // Evicts connections idle for their timeout / `div` (the table is full):
  // a scan of the whole table, then the wheel is rebuilt from it.
  void evict_scan(std::uint64_t now, std::uint64_t div) noexcept;
  // The wheel from the table: at start (the table survived a crash, the
  // wheel did not) and after an eviction scan.
  void rebuild_wheel() noexcept;
  expiry_wheel wheel_;
  // Used slots of the binding table (process memory, rebuilt by a scan at
  // start): a sighting cycle reports and clears them without scanning or
  // clearing the whole table, twice the asset table's size.
  std::vector<std::uint32_t> binding_slots_;
  // Likewise the report table's used slots (only ever cleared whole), and
  // the asset slots whose entry came since the last sighting cycle
  // (reported == 0; entries move only in a cycle reporting every asset,
  // which empties this list): the cycles every asset interval look at these
  // instead of every slot of both tables (about 90 cycles in the 30-copy
  // benchmark's 7.5 hours of packets).
  std::vector<std::uint32_t> report_slots_;
  std::vector<std::uint32_t> fresh_asset_slots_;
  std::uint64_t idle_ns(std::uint8_t proto) const noexcept;
  bool make_room_conns();

  // `hint`: a connection's remembered slot for this entry (conn_value), or
  // nullptr; updated to where the entry is.
  bool touch_asset(const net::ip_address& ip, std::uint8_t network, const net::packet_record& rec, bool outbound,
                   std::uint32_t* hint = nullptr);
  void bind(const net::ip_address& ip, std::uint8_t network, const net::mac_address& mac, std::uint8_t source,
            std::uint64_t ts, std::uint32_t* hint = nullptr) noexcept;
  report_value* report_entry(const report_key& k);
  void move_connection(conn_value& c, const report_key& to);

  state_header& h_;
  const config::config& cfg_;
  tables t_;
  classifier cls_;
  ipc::ring_writer out_;
  std::string producer_;
  std::function<bool()> keep_waiting_;
  app_classifier* apps_;
  std::uint64_t flow_interval_ns_;
  std::uint64_t sighting_interval_ns_;
  std::uint64_t update_interval_ns_;
  bool stopped_ = false;  // an emission gave up waiting
  std::string fatal_;
  std::size_t batch_max_ = 4096;
  std::uint32_t max_frame_ = 0;
  // The cycle being built: its batches, serialised, before they are placed.
  struct built_frame {
    ipc::frame_type type;
    kj::Array<capnp::word> words;
  };
  std::vector<built_frame> built_;
  ipc::spool spool_;
};

}  // namespace tapsense::aggregator
