#pragma once
// SNMP v1 and v2c messages (RFC 1157, RFC 3416; BER as X.690 encodes it) on
// UDP 161 (agent) and 162 (traps): what an agent says about itself in its
// responses and traps.
//
// Input: the UDP payload of one datagram. Every BER tag and length is
// checked against what is left of its enclosing value before it is read;
// indefinite lengths (not allowed in SNMP) and multi-byte tags are errors.
// Output: a plain struct of views into the caller's buffer and fixed arrays;
// nothing allocated. Of an SNMPv3 message only the USM authoritative engine
// ID is read (RFC 3414 2.4; the scoped PDU is usually encrypted). The
// community string is a password: it is skipped, never kept.
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/net/addr.h"
#include "common/proto/facts.h"

namespace tapsense::proto {

enum class snmp_error : std::uint8_t {
  none,
  not_snmp,          // not a SEQUENCE holding an INTEGER version
  truncated,         // a length runs past its enclosing value or the datagram
  bad_length,        // indefinite or over-long length form
  bad_tag,           // a multi-byte tag, or an unexpected type where one is required
  unknown_version,   // version other than 0 (v1), 1 (v2c), 3 (v3)
  bad_oid,           // an OID that does not decode (sub-identifier over 32 bits, or over 32 arcs)
};

// An OBJECT IDENTIFIER, decoded.
struct snmp_oid {
  std::array<std::uint32_t, 32> arcs{};
  std::uint8_t n = 0;
  bool present = false;
  std::string text() const;  // "1.3.6.1.4.1.9.1.516"
  // The IANA Private Enterprise Number under 1.3.6.1.4.1, or -1.
  std::int64_t enterprise() const noexcept;
};

namespace snmp_pdu {
inline constexpr std::uint8_t get_request = 0xa0;
inline constexpr std::uint8_t get_next_request = 0xa1;
inline constexpr std::uint8_t response = 0xa2;
inline constexpr std::uint8_t set_request = 0xa3;
inline constexpr std::uint8_t trap_v1 = 0xa4;
inline constexpr std::uint8_t get_bulk_request = 0xa5;
inline constexpr std::uint8_t inform_request = 0xa6;
inline constexpr std::uint8_t trap_v2 = 0xa7;
inline constexpr std::uint8_t report = 0xa8;
}  // namespace snmp_pdu

struct snmp_message {
  snmp_error error = snmp_error::none;
  bool has_version = false;
  std::uint8_t version = 0;  // 0 = v1, 1 = v2c, 3 = v3 (as on the wire)
  std::uint8_t pdu_type = 0; // snmp_pdu, 0 when not reached
  std::uint16_t varbinds = 0;  // variable bindings walked
  // From the variable bindings (responses, traps, informs) of MIB-II's system group:
  std::string_view sys_descr;  // 1.3.6.1.2.1.1.1.0 (data() == nullptr: absent)
  std::string_view sys_name;   // 1.3.6.1.2.1.1.5.0
  snmp_oid sys_object_id;      // 1.3.6.1.2.1.1.2.0
  // SNMPv1 Trap-PDU: the enterprise field (RFC 1157 4.1.6: the sender's
  // sysObjectID) and the agent address.
  snmp_oid trap_enterprise;
  net::ip_address agent_addr{};
  bool has_agent_addr = false;
  // SNMPv3 with USM: msgAuthoritativeEngineID (empty in a discovery request).
  std::span<const std::uint8_t> engine_id;

  // The enterprise number an SnmpEngineID names (RFC 3411 5: its first bit
  // set, the first four octets are the IANA PEN with that bit), or -1.
  std::int64_t engine_enterprise() const noexcept {
    if (engine_id.size() < 5 || (engine_id[0] & 0x80) == 0) return -1;
    return (std::int64_t{engine_id[0] & 0x7f} << 24) | (std::int64_t{engine_id[1]} << 16) |
           (std::int64_t{engine_id[2]} << 8) | engine_id[3];
  }

  // A message an agent sends about itself: a response, a trap, an inform, a report.
  bool from_agent() const noexcept {
    return pdu_type == snmp_pdu::response || pdu_type == snmp_pdu::trap_v1 || pdu_type == snmp_pdu::trap_v2 ||
           pdu_type == snmp_pdu::inform_request || pdu_type == snmp_pdu::report;
  }
};

// Parses one datagram into `out` (reset first); returns out.error. What was
// read before an error stays in `out`.
snmp_error parse_snmp(std::span<const std::uint8_t> udp_payload, snmp_message& out) noexcept;

// ---- Facts (facts.h), source "snmp", about the sender, only from agents
// (responses, traps, informs, reports) ----
//   system_description = sysDescr (the same text LLDP's System
//                        Description carries)                       (100)
//   system_name = sysName (100); hostname = sysName                  (70)
//   sys_object_id = sysObjectID, or a v1 trap's enterprise field      (100 / 90)
//   enterprise = the IANA enterprise number in it (1.3.6.1.4.1.<n>)   (100 / 90)
//   snmp_version = "1", "2c" of any message from an agent              (100)
// SNMPv3 (the agent's engine is authoritative: the sender from port 161 or
// of a trap to 162, the receiver of a request to 161):
//   engine_id = hex (100), enterprise = its PEN (90), snmp_version = "3" (100)
void snmp_facts(const snmp_message& m, const packet_view& pkt, fact_sink& sink);

}  // namespace tapsense::proto
