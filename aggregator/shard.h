#pragma once
// One aggregator shard: applies packet records to its tables and emits flow
// and sighting batches to the uplink on the reporting cadence (packet time).
// DPDK-free and process-free so it can be tested alone.
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "aggregator/state.h"
#include "common/config/classifier.h"
#include "common/config/config.h"
#include "common/ipc/ring.h"
#include "common/net/cidr.h"
#include "common/net/packet_record.h"

namespace capnp {
class MessageBuilder;
}

namespace tapsense::aggregator {

using config::classifier;

class shard {
 public:
  // `out` is the lossless ring to the uplink; `keep_waiting` tells a blocked
  // emission whether to go on waiting for room.
  shard(state_header& h, const config::config& cfg, ipc::ring& out, std::string producer,
        std::function<bool()> keep_waiting);

  // Finishes a report cycle a previous incarnation left half done. Returns
  // false if stopped while emitting.
  bool recover();

  // Handles one frame from capture. Returns false if stopped while emitting.
  bool on_frame(const ipc::frame_view& f);
  void on_packet(const net::packet_record& rec) noexcept;

  bool finished() const noexcept { return h_.end_of_reports_sent != 0; }
  const state_header& header() const noexcept { return h_; }

 private:
  bool advance_clock(std::uint64_t ts_ns);
  bool run_cycle(std::uint32_t kind);
  bool emit_flows();
  bool emit_sightings();
  void reset(std::uint32_t kind) noexcept;
  bool write(ipc::frame_type t, capnp::MessageBuilder& mb);
  bool end_of_input();
  void sweep(std::uint64_t now) noexcept;

  void touch_asset(const net::ip_address& ip, const net::packet_record& rec, bool outbound) noexcept;
  void bind(const net::ip_address& ip, const net::mac_address& mac, std::uint8_t source,
            std::uint64_t ts) noexcept;

  state_header& h_;
  const config::config& cfg_;
  tables t_;
  classifier cls_;
  ipc::ring_writer out_;
  std::string producer_;
  std::function<bool()> keep_waiting_;
  std::uint64_t flow_interval_ns_;
  std::uint64_t sighting_interval_ns_;
};

}  // namespace tapsense::aggregator
