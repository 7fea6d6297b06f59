#pragma once
// The size of every shared-memory segment, as a function of the (resolved)
// configuration: the supervisor creates segments of these sizes and checks
// /dev/shm has room for all of them; each stage checks the segment it attaches
// against the same function. Header-only, and it includes only common/ headers,
// so the supervisor links no stage to know a stage's layout.
//
// "Resolved": the supervisor first turns every "auto" (shards, workers,
// lcores) into a number and writes that configuration to the run directory;
// stages read that file, so both sides compute from the same values.
#include <cstddef>
#include <cstdint>

#include "common/config/config.h"
#include "common/ipc/aggregator_state.h"
#include "common/ipc/capture_state.h"
#include "common/ipc/fingerprinter_state.h"
#include "common/ipc/ring.h"

namespace tapsense::ipc::layouts {

// Ring capacity for a size in MiB: the power of two >= that many bytes (>= 4096).
inline std::uint64_t ring_capacity(unsigned mib) noexcept {
  std::uint64_t c = 4096;
  while (c < std::uint64_t{mib} << 20) c <<= 1;
  return c;
}
inline std::uint64_t packet_ring_capacity(const config::config& c) noexcept {
  return ring_capacity(c.capture.packet_ring_mb);
}
inline std::uint64_t snapshot_ring_capacity(const config::config& c) noexcept {
  return ring_capacity(c.capture.snapshot_ring_mb);
}
inline std::uint64_t aggregator_report_ring_capacity(const config::config& c) noexcept {
  return ring_capacity(c.aggregator.report_ring_mb);
}
inline std::uint64_t fingerprinter_report_ring_capacity(const config::config& c) noexcept {
  return ring_capacity(c.fingerprinter.report_ring_mb);
}

// Aggregator shard state: table capacities from [aggregator]. Bindings get two
// per inventoried IP; gateways are few (routers' MACs).
inline std::size_t aggregator_state(const config::config& c, aggregator::state_header& h) noexcept {
  const auto& a = c.aggregator;
  return aggregator::layout(h, a.flow_table, a.report_table, a.asset_table, a.asset_table * 2, 4096,
                            a.name_table, std::uint64_t{a.report_spool_mb} << 20);
}
inline std::size_t aggregator_state(const config::config& c) noexcept {
  aggregator::state_header probe{};
  return aggregator_state(c, probe);
}

// Fingerprinter worker state: connections remembered for p0f's SYN+ACK checks,
// facts delivered, then the report spool.
inline constexpr std::uint32_t fingerprinter_conns = 1u << 16;
inline std::size_t fingerprinter_state(const config::config& c) noexcept {
  return fingerprinter::spool_offset(fingerprinter_conns) + (std::size_t{c.fingerprinter.report_spool_mb} << 20);
}

inline std::size_t capture_state(const config::config& /*c*/) noexcept {
  return sizeof(capture::capture_state);
}

// Everything the supervisor creates for this configuration.
inline std::uint64_t total(const config::config& c) {
  const std::uint64_t lcores = c.capture.lcores;
  std::uint64_t need = capture_state(c);
  need += std::uint64_t{c.aggregator.shards} *
          (lcores * ring::segment_size(packet_ring_capacity(c)) +
           ring::segment_size(aggregator_report_ring_capacity(c)) + aggregator_state(c));
  need += std::uint64_t{c.fingerprinter.workers} *
          (fingerprinter_state(c) + lcores * ring::segment_size(snapshot_ring_capacity(c)) +
           ring::segment_size(fingerprinter_report_ring_capacity(c)));
  return need;
}

}  // namespace tapsense::ipc::layouts
