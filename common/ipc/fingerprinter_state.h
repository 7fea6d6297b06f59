#pragma once
// A fingerprinter worker's state that must outlive a crash of the worker, in
// shared memory the supervisor creates: per-connection facts needed to read
// later packets correctly (the MSS of a connection's SYN, which p0f's SYN+ACK
// signatures compare the window against). Fixed capacity; the oldest
// entries make room.
#include <atomic>
#include <cstdint>

#include "common/ipc/shm_table.h"
#include "common/net/addr.h"
#include "common/stage/crash_guard.h"

namespace tapsense::fingerprinter {

inline constexpr std::uint64_t state_magic = 0x5441544650535446ULL;  // "FTSPFTAT"
inline constexpr std::uint32_t state_version = 4;

struct conn_key {
  net::ip_address client;
  net::ip_address server;
  std::uint16_t client_port;
  std::uint16_t server_port;
};
static_assert(sizeof(conn_key) == 36);

struct conn_value {
  std::uint64_t seen_ns;
  std::uint16_t syn_mss;
  std::uint8_t pad[6];
};

using conn_table = ipc::shm_table<conn_key, conn_value>;

// Facts already delivered to the uplink (hash of device, source, field and
// value -> packet time last sent), so a restarted worker suppresses the same
// repeats the one before it would have, and a replayed snapshot whose facts
// were delivered sends them once, not twice.
using seen_table = ipc::shm_table<std::uint64_t, std::uint64_t>;
inline constexpr std::uint32_t seen_capacity = 1u << 20;

struct alignas(64) state_header {
  std::uint64_t magic;
  std::uint32_t version;
  std::uint32_t capacity;
  std::uint32_t size;
  std::uint32_t seen_size;
  std::uint64_t evicted;
  std::uint64_t seen_cleared;  // times the seen table filled up and started over
  // The snapshot in hand, for poison-snapshot quarantine after a crash.
  stage::crash_guard_state guard;
  // The report spool: observation batches waiting, as ring frames, for room
  // in the report ring (the worker never waits for the uplink). It fills the
  // segment from spool_offset() to its end. A batch is placed by one store
  // of spool_pos; a batch moves to the ring by publish first, then a store
  // of spool_pos (a crash in between sends it twice, with the same id: the
  // uplink applies each id once).
  std::atomic<std::uint64_t> spool_pos;  // tail << 32 | head (byte offsets); 0 when empty
  std::uint64_t spool_high_water;        // most bytes ever waiting
  std::uint64_t spool_batches;           // batches that waited in the spool
  std::uint64_t spool_deferred;          // flushes that found the spool full: facts held, snapshots kept
};

inline std::size_t state_bytes(std::uint32_t capacity) {
  return sizeof(state_header) + conn_table::bytes_for(capacity) + seen_table::bytes_for(seen_capacity);
}
// The report spool starts after the tables (it runs to the segment's end).
inline std::size_t spool_offset(std::uint32_t capacity) { return (state_bytes(capacity) + 4095) & ~std::size_t{4095}; }
inline conn_table attach(state_header& h) {
  return conn_table(reinterpret_cast<std::uint8_t*>(&h) + sizeof(state_header), h.capacity, &h.size);
}
inline seen_table attach_seen(state_header& h) {
  return seen_table(reinterpret_cast<std::uint8_t*>(&h) + sizeof(state_header) + conn_table::bytes_for(h.capacity),
                    seen_capacity, &h.seen_size);
}

}  // namespace tapsense::fingerprinter
