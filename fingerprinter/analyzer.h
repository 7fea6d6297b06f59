#pragma once
// Turns payload snapshots into observations: runs the parser each packet
// calls for (common/proto) and records what it found, with where it came
// from.
//
//  Which parser runs is what common/proto/registry.h declares (the same
//  declaration capture snapshots by).
//  - Layer 2: LLDP, CDP, PROFINET DCP; the MAC vendor of every new MAC.
//  - GRE: a router's CDP (protocol 0x2000) over the tunnel.
//  - UDP (one datagram, or reassembled from fragments): DHCP, DHCPv6, DNS,
//    mDNS, LLMNR, NBNS, NetBIOS datagrams, SSDP, SNMP, WS-Discovery, BACnet,
//    EtherNet/IP, DNP3.
//  - TCP segments: Modbus, DNP3, S7comm, EtherNet/IP (every segment of those
//    ports arrives); TCP SYN and SYN+ACK signatures (p0f).
//  - TCP streams: the first bytes of each direction, reassembled in
//    sequence order, for TLS, SSH, HTTP and SMB (capture sends the first
//    payload packets of every flow direction).
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/net/bytes.h"
#include "common/net/fragments.h"
#include "common/net/snapshot.h"
#include "common/proto/facts.h"
#include "fingerprinter/observations.h"
#include "fingerprinter/state.h"
#include "fingerprinter/vendors.h"

namespace tapsense::fp {
class oui_registry;
class p0f_db;
}  // namespace tapsense::fp

namespace tapsense::config {
class classifier;
}

namespace tapsense::fingerprinter {

struct analyzer_counters {
  std::uint64_t snapshots = 0;
  std::uint64_t dhcp = 0;
  std::uint64_t dhcp_errors = 0;
  std::uint64_t upnp = 0;             // UPnP device descriptions read from HTTP responses
  std::uint64_t tcp_signatures = 0;
  std::uint64_t p0f_matches = 0;
  std::uint64_t vendor_lookups = 0;
  std::uint64_t reassembled = 0;
  std::uint64_t facts = 0;
  std::uint64_t excluded = 0;         // facts about excluded assets, dropped
  std::uint64_t streams = 0;          // TCP stream directions followed
  std::uint64_t stream_gaps = 0;      // a segment missing: the stream stops there
  std::uint64_t streams_evicted = 0;  // too many at once: the oldest gave up
  std::uint64_t parsed[18] = {};      // per protocol, see protocol_names
};

inline constexpr const char* protocol_names[18] = {
    "lldp", "cdp", "profinet", "dns", "mdns", "llmnr", "nbns", "nbdgm",
    "ssdp", "dhcpv6", "bacnet", "enip", "dnp3", "modbus", "s7comm", "tcp_stream",
    "snmp", "wsd"};

// Confidence scale (0-100) of evidence the analyzer states itself.
namespace confidence {
inline constexpr std::uint8_t oui_vendor = 95;
inline constexpr std::uint8_t oui_brand = 96;          // the registry name as the brand is written
inline constexpr std::uint8_t oui_module_vendor = 15;  // a module maker's block, as the brand
inline constexpr std::uint8_t dhcp_hostname = 90;
inline constexpr std::uint8_t dhcp_lease = 90;
inline constexpr std::uint8_t dhcp_client_address = 80;
inline constexpr std::uint8_t dhcp_attribute = 70;
// A Windows vendor class ("MSFT ...") the sending stack contradicts (see
// analyzer::dhcp): kept as evidence, too weak to name the OS over p0f.
inline constexpr std::uint8_t dhcp_imitated_class = 15;
inline constexpr std::uint8_t dhcp_requested = 50;
inline constexpr std::uint8_t p0f_exact = 80;
inline constexpr std::uint8_t p0f_generic = 60;
inline constexpr std::uint8_t p0f_fuzzy = 40;
inline constexpr std::uint8_t raw = 10;
}  // namespace confidence

struct analyzer_options {
  unsigned stream_bytes = 16384;  // prefix kept per TCP direction
  unsigned streams = 16384;       // directions followed at once
};

class analyzer {
 public:
  struct tables {
    const fp::oui_registry* oui = nullptr;
    const fp::p0f_db* p0f = nullptr;
    const vendor_table* cip = nullptr;
    const vendor_table* bacnet = nullptr;
    const vendor_table* profinet = nullptr;
    const config::classifier* classifier = nullptr;  // exclusions
  };
  // Any table may be null (then that evidence is skipped). `state` is the
  // worker's shared-memory state (null in tests: a process-local table).
  analyzer(tables t, emitter& out, state_header* state = nullptr, analyzer_options opt = {});
  ~analyzer();
  analyzer(const analyzer&) = delete;
  analyzer& operator=(const analyzer&) = delete;

  void on_snapshot(const net::snapshot_header& h, net::bytes packet);
  // Gives every open TCP stream its final parse (end of input).
  void finish();
  const analyzer_counters& counters() const noexcept { return c_; }
  const net::reassembly_counters& reassembly() const noexcept { return reasm_.counters(); }

  // Turns a parser's fact into observations; public for
  // the sink adapter.
  void add_fact(proto::fact f, const net::snapshot_header& h, const proto::packet_view& pv);

 private:
  struct impl;
  void layer2(const net::snapshot_header& h, net::bytes frame);
  void gre(const net::snapshot_header& h, std::uint16_t gre_protocol, net::bytes pdu);
  void udp(const net::snapshot_header& h, std::uint16_t sport, std::uint16_t dport, net::bytes payload);
  void dhcp(const net::snapshot_header& h, net::bytes payload);
  void tcp(const net::snapshot_header& h, net::bytes packet, std::size_t caplen);
  void tcp_syn(const net::snapshot_header& h, net::bytes ip_packet);
  bool client_side(const net::packet_record& r);

  tables t_;
  emitter& out_;
  analyzer_options opt_;
  // MSS of each connection's SYN (p0f's SYN+ACK signatures compare the window
  // against it) and which side opened it. In shared memory: a restarted
  // worker still knows the SYNs it saw before.
  std::vector<std::uint8_t> local_state_;  // when no shared state is given
  state_header* state_;
  conn_table conns_;
  // Discovery protocols that arrive fragmented (large mDNS, DHCP, DNS).
  net::reassembler reasm_;
  std::unique_ptr<impl> p_;  // parser structs, streams, per-flow OT state
  analyzer_counters c_;
};

}  // namespace tapsense::fingerprinter
