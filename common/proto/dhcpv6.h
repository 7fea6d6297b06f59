#pragma once
// DHCPv6 message parser (RFC 8415; client FQDN RFC 4704; client link-layer
// address RFC 6939).
//
// Input: the UDP payload of one datagram to or from port 546 or 547, bounded
// by the UDP length. Relay-forward and relay-reply messages are unwrapped
// through their Relay Message option (9) down to the client/server message
// they carry, at most dhcpv6_max_relay_depth levels (RFC 8415 allows 32 hops;
// real chains are one or two). The innermost relay's peer address (the
// client's address as the relay saw it) and any client link-layer address
// option (79) are kept.
//
// Output: a plain struct, nothing allocated; spans point into the caller's
// buffer. The decoded FQDN lives in the struct (fqdn_buf).
//
// Facts (dhcpv6_facts). From client messages (Solicit, Request, Confirm,
// Renew, Rebind, Release, Decline, Information-request) the client is the
// subject: subject::sender, or, for a relayed message, subject::ip with the
// relay's peer address.
//   dhcpv6/duid                 client DUID, lowercase hex             conf 90
//   dhcpv6/mac                  link-layer address of a DUID-LLT/LL with
//                               hardware type Ethernet (1) or IEEE 802
//                               (6); the DUID may come from another
//                               interface, hence                      conf 60
//   dhcpv6/fqdn                 option 39 name, no trailing dot        conf 90
//   dhcpv6/hostname             its first label                        conf 80
//   dhcpv6/vendor_class         option 16 data items joined by ','     conf 90
//   dhcpv6/enterprise_number    option 16 (else 17) enterprise number  conf 80
//   dhcpv6/user_class           option 15 items joined by ','          conf 80
//   dhcpv6/option_request_list  option 6 codes, "24,23,17,39"          conf 90
//  and about subject::mac (the DUID's link-layer address):
//   dhcpv6/duid                 the DUID                               conf 60
//  and, for a relayed message with option 79, about subject::ip (peer):
//   dhcpv6/mac                  the client link-layer address          conf 80
// From server messages (Advertise, Reply, Reconfigure), subject::sender:
//   dhcpv6/server_duid          server DUID, lowercase hex             conf 80
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/net/addr.h"
#include "common/proto/facts.h"

namespace tapsense::proto {

// Named problems (dhcpv6_message::error, the first met):
//   truncated_header   shorter than the 4-byte message header (34 for a relay
//                      message): nothing (more) decoded
//   truncated_option   an option runs past its area: options before it kept,
//                      the rest of that area lost
//   bad_option_length  a fixed-layout option (DUID, ORO, vendor class, FQDN,
//                      option 79) too short or of odd size: that option skipped
//   bad_fqdn           option 39 name malformed: labels before the problem kept
//   relay_depth        relay messages nested deeper than dhcpv6_max_relay_depth
//   missing_relay_message  a relay message without option 9
//   list_overflow      more than 64 ORO codes or 64 option codes: the rest dropped
#define TAPSENSE_DHCPV6_ERRORS(X) \
  X(none)                         \
  X(truncated_header)             \
  X(truncated_option)             \
  X(bad_option_length)            \
  X(bad_fqdn)                     \
  X(relay_depth)                  \
  X(missing_relay_message)        \
  X(list_overflow)

enum class dhcpv6_error : std::uint8_t {
#define X(name) name,
  TAPSENSE_DHCPV6_ERRORS(X)
#undef X
      count_
};
inline constexpr std::size_t dhcpv6_error_count = static_cast<std::size_t>(dhcpv6_error::count_);
const char* dhcpv6_error_name(dhcpv6_error e) noexcept;

struct dhcpv6_error_counters {
  std::array<std::uint64_t, dhcpv6_error_count> n{};
  void add(dhcpv6_error e) noexcept {
    if (e != dhcpv6_error::none && e < dhcpv6_error::count_) {
      ++n[static_cast<std::size_t>(e)];
    }
  }
  std::uint64_t operator[](dhcpv6_error e) const noexcept { return n[static_cast<std::size_t>(e)]; }
};

inline constexpr std::uint16_t dhcpv6_client_port = 546;
inline constexpr std::uint16_t dhcpv6_server_port = 547;
inline constexpr std::size_t dhcpv6_max_relay_depth = 8;
inline constexpr std::size_t dhcpv6_max_list = 64;

namespace dhcpv6_type {
inline constexpr std::uint8_t solicit = 1;
inline constexpr std::uint8_t advertise = 2;
inline constexpr std::uint8_t request = 3;
inline constexpr std::uint8_t confirm = 4;
inline constexpr std::uint8_t renew = 5;
inline constexpr std::uint8_t rebind = 6;
inline constexpr std::uint8_t reply = 7;
inline constexpr std::uint8_t release = 8;
inline constexpr std::uint8_t decline = 9;
inline constexpr std::uint8_t reconfigure = 10;
inline constexpr std::uint8_t information_request = 11;
inline constexpr std::uint8_t relay_forw = 12;
inline constexpr std::uint8_t relay_repl = 13;
}  // namespace dhcpv6_type

namespace dhcpv6_duid_type {
inline constexpr std::uint16_t llt = 1;
inline constexpr std::uint16_t en = 2;
inline constexpr std::uint16_t ll = 3;
inline constexpr std::uint16_t uuid = 4;
}  // namespace dhcpv6_duid_type

struct dhcpv6_duid {
  bool present = false;
  std::span<const std::uint8_t> raw;  // the whole DUID, type included
  std::uint16_t type = 0;
  std::uint16_t hardware_type = 0;  // LLT, LL
  std::uint32_t time = 0;           // LLT: seconds since 2000-01-01 UTC
  std::uint32_t enterprise = 0;     // EN
  std::span<const std::uint8_t> link_layer;  // LLT, LL
  std::span<const std::uint8_t> identifier;  // EN identifier, UUID bytes
  bool has_mac = false;  // link_layer is a 6-byte Ethernet/IEEE 802 address
  net::mac_address mac;
};

struct dhcpv6_message {
  std::uint8_t msg_type = 0;  // of the innermost message
  std::uint32_t transaction_id = 0;
  // Relay chain.
  std::uint8_t relay_depth = 0;  // relay messages unwrapped
  net::ip_address relay_link_address;  // innermost relay
  net::ip_address relay_peer_address;
  bool has_client_link_layer = false;  // option 79 (any relay level)
  std::uint16_t client_link_layer_type = 0;
  net::mac_address client_link_layer;  // when 6 bytes

  // Options of the innermost message (first instance wins unless noted).
  dhcpv6_duid client_id;  // 1
  dhcpv6_duid server_id;  // 2
  std::array<std::uint16_t, dhcpv6_max_list> oro{};  // 6, repeated options concatenated
  std::uint8_t oro_len = 0;
  bool has_user_class = false;
  std::span<const std::uint8_t> user_class;  // 15: length-prefixed items
  bool has_vendor_class = false;
  std::uint32_t vendor_class_enterprise = 0;  // 16
  std::span<const std::uint8_t> vendor_class;  // its length-prefixed items
  bool has_vendor_opts = false;
  std::uint32_t vendor_opts_enterprise = 0;  // 17
  bool has_fqdn = false;  // 39
  std::uint8_t fqdn_flags = 0;
  std::array<char, 255> fqdn_buf{};
  std::uint8_t fqdn_len = 0;
  // Every option code of the innermost message, in order.
  std::array<std::uint16_t, dhcpv6_max_list> option_codes{};
  std::uint8_t option_codes_len = 0;

  dhcpv6_error error = dhcpv6_error::none;

  std::string_view fqdn() const noexcept { return {fqdn_buf.data(), fqdn_len}; }
  std::span<const std::uint16_t> oro_list() const noexcept {
    return std::span<const std::uint16_t>(oro).first(oro_len);
  }
  std::span<const std::uint16_t> option_list() const noexcept {
    return std::span<const std::uint16_t>(option_codes).first(option_codes_len);
  }
  bool from_client() const noexcept;
  bool from_server() const noexcept;
};

// Parses `udp_payload` into `out` (reset first); returns out.error.
dhcpv6_error parse_dhcpv6(std::span<const std::uint8_t> udp_payload, dhcpv6_message& out) noexcept;

// Lowercase hex, no separators (tshark's dhcpv6.duid.bytes).
std::string dhcpv6_hex(std::span<const std::uint8_t> bytes);
// Items of a user class or vendor class option (2-byte length + data each),
// printable, joined by ','.
std::string dhcpv6_class_items(std::span<const std::uint8_t> items);
// "24,23,17,39".
std::string dhcpv6_oro_string(const dhcpv6_message& m);

void dhcpv6_facts(const dhcpv6_message& m, const packet_view& pkt, fact_sink& sink);

}  // namespace tapsense::proto
