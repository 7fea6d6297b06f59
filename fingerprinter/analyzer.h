#pragma once
// Turns payload snapshots into observations: runs the parser each packet
// calls for and records what it found, with where it came from.
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "common/net/bytes.h"
#include "common/net/fragments.h"
#include "common/net/snapshot.h"
#include "fingerprinter/observations.h"
#include "fingerprinter/state.h"

namespace tapsense::fp {
class oui_registry;
class p0f_db;
}  // namespace tapsense::fp

namespace tapsense::fingerprinter {

struct analyzer_counters {
  std::uint64_t snapshots = 0;
  std::uint64_t dhcp = 0;
  std::uint64_t dhcp_errors = 0;
  std::uint64_t tcp_signatures = 0;
  std::uint64_t p0f_matches = 0;
  std::uint64_t vendor_lookups = 0;
  std::uint64_t reassembled = 0;
};

// Confidence scale (0-100) of each kind of evidence.
namespace confidence {
inline constexpr std::uint8_t oui_vendor = 95;
inline constexpr std::uint8_t dhcp_hostname = 90;
inline constexpr std::uint8_t dhcp_lease = 90;
inline constexpr std::uint8_t dhcp_client_address = 80;
inline constexpr std::uint8_t dhcp_attribute = 70;
inline constexpr std::uint8_t dhcp_requested = 50;
inline constexpr std::uint8_t p0f_exact = 80;
inline constexpr std::uint8_t p0f_generic = 60;
inline constexpr std::uint8_t p0f_fuzzy = 40;
inline constexpr std::uint8_t raw = 10;
}  // namespace confidence

class analyzer {
 public:
  // The registry and database may be null (then that evidence is skipped).
  // `state` is the worker's shared-memory state (may be null in tests: then
  // a process-local table is used).
  analyzer(const fp::oui_registry* oui, const fp::p0f_db* p0f, emitter& out, state_header* state = nullptr);

  void on_snapshot(const net::snapshot_header& h, net::bytes packet);
  const analyzer_counters& counters() const noexcept { return c_; }
  const net::reassembly_counters& reassembly() const noexcept { return reasm_.counters(); }

 private:
  // One UDP datagram's payload (bounded by the UDP length), from a packet or
  // reassembled from fragments.
  void udp(const net::snapshot_header& h, std::uint16_t sport, std::uint16_t dport, net::bytes payload);
  void dhcp(const net::snapshot_header& h, net::bytes payload);
  void tcp_syn(const net::snapshot_header& h, net::bytes ip_packet);

  const fp::oui_registry* oui_;
  const fp::p0f_db* p0f_;
  emitter& out_;
  // MSS of each connection's SYN: p0f's SYN+ACK signatures compare the
  // window against it ("mss*N"). Both directions of a flow reach the same
  // worker (symmetric sharding). In shared memory: a restarted worker still
  // knows the SYNs it saw before.
  std::vector<std::uint8_t> local_state_;  // when no shared state is given
  state_header* state_;
  conn_table conns_;
  // Discovery protocols that arrive fragmented (large mDNS, DHCP, DNS).
  net::reassembler reasm_;
  analyzer_counters c_;
};

}  // namespace tapsense::fingerprinter
