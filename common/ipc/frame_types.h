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
  name_binding = 5,    // name_binding_frame: an address matched a monitored domain
  packet_payload = 6,  // snapshot_header + payload bytes: a packet whose payload the aggregator classifies (nDPI)
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

// Capture saw a name for an address (DNS answer, TLS SNI, HTTP Host) that
// matches a monitored domain. DNS answers go to every shard and hold for
// their TTL; SNI/Host go to the connection's shard, right after the packet
// that carried them, and also reclassify that connection.
struct name_binding_frame {
  std::uint64_t ts_ns;
  std::uint8_t ip[16];       // the address the name stands for
  std::uint8_t peer[16];     // SNI/Host: the client of the connection
  std::uint16_t peer_port;   // SNI/Host: client port
  std::uint16_t port;        // SNI/Host: server port
  std::uint32_t ttl_s;       // how long the binding holds (DNS TTL; idle timeout for SNI/Host)
  std::uint16_t site;        // monitored site index
  std::uint8_t source;       // 1 DNS, 2 TLS SNI, 3 HTTP Host
  std::uint8_t proto;        // SNI/Host: IP protocol of the connection
  std::uint8_t network;
  std::uint8_t pad[7];
};

struct end_of_reports_frame {
  std::uint64_t batches;  // batches this producer emitted in its lifetime of the run
};

}  // namespace tapsense::ipc
