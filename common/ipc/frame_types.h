#pragma once
// Frame types carried by the rings. Packet-path frames are PODs; report-path
// frames are Cap'n Proto messages (8-byte aligned by the ring).
#include <cstdint>

namespace tapsense::ipc {

enum class frame_type : std::uint16_t {
  pad = 0,             // ring-internal filler up to the end of the buffer
  packet = 1,          // net::packet_record
  snapshot = 2,        // snapshot_header + captured bytes from the inner L2 header
  tick = 3,            // tick_frame: packet time advanced (lets idle shards close intervals)
  end_of_input = 4,    // capture has no more packets (offline end of file, or stop)
  flow_batch = 16,     // Cap'n Proto FlowBatch
  sighting_batch = 17, // Cap'n Proto SightingBatch
  observation_batch = 18,  // Cap'n Proto ObservationBatch
  end_of_reports = 19, // producer flushed everything it had after end_of_input
};

struct tick_frame {
  std::uint64_t ts_ns;  // packet time now
};

struct end_of_input_frame {
  std::uint64_t ts_ns;    // time of the last packet
  std::uint64_t packets;  // packets written to this ring in total
};

struct end_of_reports_frame {
  std::uint64_t batches;  // batches this producer emitted in its lifetime of the run
};

}  // namespace tapsense::ipc
