#pragma once
// L2-L4 decoding of one captured frame into a packet_record.
//
// decode_frame() takes a view of the captured bytes, fills a plain struct and
// allocates nothing. Every read is preceded by a length check; a broken or
// unknown inner layer keeps what was decoded so far and counts a named anomaly
// (never a log line). Encapsulation depth is capped by max_depth.
#include <array>
#include <cstdint>

#include "common/net/bytes.h"
#include "common/net/packet_record.h"

namespace tapsense::net {

#define TAPSENSE_ANOMALIES(X)            \
  X(truncated_ethernet)                  \
  X(truncated_vlan)                      \
  X(vlan_depth_exceeded)                 \
  X(truncated_arp)                       \
  X(unsupported_arp)                     \
  X(truncated_ipv4)                      \
  X(bad_ipv4_version)                    \
  X(bad_ipv4_header_length)              \
  X(bad_ipv4_total_length)               \
  X(truncated_ipv6)                      \
  X(bad_ipv6_version)                    \
  X(truncated_ipv6_extension)            \
  X(ipv6_extension_depth_exceeded)       \
  X(truncated_tcp)                       \
  X(bad_tcp_header_length)               \
  X(truncated_udp)                       \
  X(bad_udp_length)                      \
  X(truncated_icmp)                      \
  X(truncated_mpls)                      \
  X(mpls_depth_exceeded)                 \
  X(truncated_gre)                       \
  X(unsupported_gre)                     \
  X(truncated_erspan)                    \
  X(unsupported_erspan)                  \
  X(truncated_vxlan)                     \
  X(truncated_geneve)                    \
  X(unsupported_geneve)                  \
  X(tunnel_depth_exceeded)

enum class anomaly : std::uint8_t {
#define X(name) name,
  TAPSENSE_ANOMALIES(X)
#undef X
      count_
};
inline constexpr std::size_t anomaly_count = static_cast<std::size_t>(anomaly::count_);

const char* anomaly_name(anomaly a) noexcept;

// Per-decoder counters; single writer. Readers copy them out for heartbeats.
struct anomaly_counters {
  std::array<std::uint64_t, anomaly_count> n{};
  void add(anomaly a) noexcept { ++n[static_cast<std::size_t>(a)]; }
  std::uint64_t operator[](anomaly a) const noexcept { return n[static_cast<std::size_t>(a)]; }
};

// Byte offsets into the captured frame of the innermost layers.
// A layer that was not reached has offset == end.
struct layer_offsets {
  std::uint16_t l2 = 0;       // innermost Ethernet header
  std::uint16_t l3 = 0;       // innermost ARP/IP header
  std::uint16_t l4 = 0;       // TCP/UDP/ICMP header
  std::uint16_t payload = 0;  // L4 payload
  std::uint16_t end = 0;      // end of meaningful bytes (capture end, or IP end if shorter)
};

struct decode_options {
  std::uint8_t max_vlan_depth = 4;
  std::uint8_t max_ipv6_extensions = 8;
};

// Decodes `frame` (captured bytes, starting at the Ethernet header).
// `wire_len` is the original frame length if the source knows it (pcap record,
// NIC); 0 means "use the captured length". When the capture was cut short, the
// outer IP total length extends wire_len (tshark's frame.len equivalent).
// Fills every field of `rec` except ts_ns, port_id and seq. Returns false when
// the frame is shorter than an Ethernet header; `rec` is then zeroed apart from
// wire_len.
bool decode_frame(bytes frame, std::uint32_t wire_len, packet_record& rec, layer_offsets& off,
                  anomaly_counters& anomalies, const decode_options& opt = {}) noexcept;

// Symmetric flow hash: equal for both directions of a flow. Mixes addresses,
// ports (when present) and the IP protocol.
std::uint32_t symmetric_flow_hash(const packet_record& rec) noexcept;

}  // namespace tapsense::net
