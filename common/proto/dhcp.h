#pragma once
// DHCPv4 / BOOTP message parser (RFC 951, RFC 2131, RFC 2132).
//
// Input: the UDP payload of one message (ports 67/68), bounded by the UDP
// length, not by the captured frame: Ethernet padding after the datagram is
// harmless (parsing stops at the End option) but should not be passed.
// Output: a plain struct. Nothing is allocated; every string_view and span in
// dhcp_message points into the caller's buffer and is valid only as long as
// that buffer is. The decoded option 81 name is the one exception: it lives in
// the struct itself (fqdn_buf), so it survives copies of the struct.
//
// Every read is preceded by a length check. Problems have names
// (dhcp_error); `error` holds the first one met. Structural problems stop the
// parse (a short header, a bad cookie) or the walk of one option area (an
// option running past its end); field-level ones (an option of the wrong
// length, an undecodable FQDN) skip that field and go on. Either way,
// everything decoded before the problem stays valid.
//
// The caller picks the packets: UDP to or from port 67 or 68 (4011 for PXE).
// Nothing here checks ports, op or IP addresses.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/net/addr.h"

namespace tapsense::proto {

// Named problems, in dhcp_message::error (the first one met):
//   truncated_header     shorter than the 236-byte BOOTP header + 4-byte cookie:
//                        nothing is filled in
//   bad_magic_cookie     BOOTP, or not DHCP at all: header fields only
//   truncated_option     an option's length runs past the end of its area:
//                        options before it are kept, the rest of the area is lost
//   missing_end          an option area ended without End (255), often a snap
//                        length cutting the capture at an option boundary
//   bad_hardware_length  hlen > 16: chaddr not decoded
//   bad_option_length    a fixed-size option (50, 51, 52, 53, 54, 57, 81) of
//                        the wrong size: that option is skipped
//   bad_fqdn             option 81 name in wire format is malformed: the
//                        labels before the problem are kept
//   list_overflow        more than 255 PRL items or option codes: the rest of
//                        that list is dropped
#define TAPSENSE_DHCP_ERRORS(X) \
  X(none)                       \
  X(truncated_header)           \
  X(bad_magic_cookie)           \
  X(truncated_option)           \
  X(missing_end)                \
  X(bad_hardware_length)        \
  X(bad_option_length)          \
  X(bad_fqdn)                   \
  X(list_overflow)

enum class dhcp_error : std::uint8_t {
#define X(name) name,
  TAPSENSE_DHCP_ERRORS(X)
#undef X
      count_
};
inline constexpr std::size_t dhcp_error_count = static_cast<std::size_t>(dhcp_error::count_);

// "truncated_option", ...; "unknown" outside the enum.
const char* dhcp_error_name(dhcp_error e) noexcept;

// One counter per problem, for the caller's heartbeat; single writer.
struct dhcp_error_counters {
  std::array<std::uint64_t, dhcp_error_count> n{};
  void add(dhcp_error e) noexcept {
    if (e != dhcp_error::none && e < dhcp_error::count_) {
      ++n[static_cast<std::size_t>(e)];
    }
  }
  std::uint64_t operator[](dhcp_error e) const noexcept { return n[static_cast<std::size_t>(e)]; }
};

// Values of option 53.
namespace dhcp_type {
inline constexpr std::uint8_t discover = 1;
inline constexpr std::uint8_t offer = 2;
inline constexpr std::uint8_t request = 3;
inline constexpr std::uint8_t decline = 4;
inline constexpr std::uint8_t ack = 5;
inline constexpr std::uint8_t nak = 6;
inline constexpr std::uint8_t release = 7;
inline constexpr std::uint8_t inform = 8;
}  // namespace dhcp_type

// Bits of option 81's flags byte (RFC 4702).
namespace dhcp_fqdn_flag {
inline constexpr std::uint8_t s = 0x01;  // server should do the A update
inline constexpr std::uint8_t o = 0x02;  // server overrode the client's S
inline constexpr std::uint8_t e = 0x04;  // name in canonical DNS wire format
inline constexpr std::uint8_t n = 0x08;  // server should do no update
}  // namespace dhcp_fqdn_flag

// About 1 KB, trivially copyable; keep one per worker and reuse it.
struct dhcp_message {
  // ---- Fixed BOOTP header (zero when error == truncated_header) ----
  std::uint8_t op = 0;     // 1 BOOTREQUEST, 2 BOOTREPLY
  std::uint8_t htype = 0;  // ARP hardware type: 1 Ethernet, 6 IEEE 802, 32 InfiniBand ...
  std::uint8_t hlen = 0;   // as on the wire, even when > 16
  std::uint8_t hops = 0;
  std::uint32_t xid = 0;
  std::uint16_t secs = 0;
  std::uint16_t flags = 0;  // 0x8000: broadcast
  net::ip_address ciaddr;   // IPv4 (v4-mapped); 0.0.0.0 when unset
  net::ip_address yiaddr;
  net::ip_address siaddr;
  net::ip_address giaddr;
  // Client hardware address: the first min(hlen, 16) bytes of the field (empty
  // when hlen > 16). `chaddr` is filled, and chaddr_is_mac set, only for an
  // Ethernet or IEEE 802 htype with hlen 6 (as tshark's dhcp.hw.mac_addr).
  std::span<const std::uint8_t> chaddr_bytes;
  net::mac_address chaddr;
  bool chaddr_is_mac = false;
  // sname/file up to their first NUL; empty when option 52 reuses the field.
  std::string_view sname;
  std::string_view file;

  // ---- Options (first instance wins unless noted) ----
  // Text options are cut at their first NUL, as tshark shows them (clients
  // that send C strings add one or more trailing NULs). An absent option is a
  // view with data() == nullptr; a present but empty one is not.
  std::uint8_t message_type = 0;                // 53; 0 when absent (plain BOOTP)
  std::string_view hostname;                    // 12
  std::string_view vendor_class;                // 60
  std::string_view mud_url;                     // 161 (RFC 8520)
  std::optional<net::ip_address> requested_ip;  // 50
  std::optional<net::ip_address> server_id;     // 54
  std::optional<std::uint32_t> lease_time;      // 51, seconds
  std::optional<std::uint16_t> max_msg_size;    // 57, bytes
  std::uint8_t overload = 0;                    // 52: 1 file, 2 sname, 3 both hold options
  std::span<const std::uint8_t> client_id;      // 61, whole value (type byte first)
  // 55, item by item in order. Repeated 55 options are concatenated (RFC 3396).
  std::array<std::uint8_t, 255> prl{};
  std::uint8_t prl_len = 0;
  // 81 (RFC 4702). fqdn_name() is the name as text: copied as-is when flag E
  // is clear, decoded from DNS wire format (labels joined by '.', no trailing
  // dot; a partial name without the root label is accepted) when it is set.
  bool has_fqdn = false;
  std::uint8_t fqdn_flags = 0;
  std::uint8_t fqdn_rcode1 = 0;
  std::uint8_t fqdn_rcode2 = 0;
  std::array<char, 255> fqdn_buf{};
  std::uint8_t fqdn_len = 0;
  // Every option code met, pad and End excluded, in order of appearance
  // (options field, then file, then sname when overloaded), duplicates kept.
  std::array<std::uint8_t, 255> option_codes{};
  std::uint8_t option_codes_len = 0;

  dhcp_error error = dhcp_error::none;  // first problem met

  std::string_view fqdn_name() const noexcept { return {fqdn_buf.data(), fqdn_len}; }
  std::span<const std::uint8_t> prl_items() const noexcept {
    return std::span<const std::uint8_t>(prl).first(prl_len);
  }
  std::span<const std::uint8_t> option_list() const noexcept {
    return std::span<const std::uint8_t>(option_codes).first(option_codes_len);
  }
};

// Parses `udp_payload` into `out` (reset first) and returns out.error.
dhcp_error parse_dhcp(std::span<const std::uint8_t> udp_payload, dhcp_message& out) noexcept;

// The parameter request list as decimal codes joined by ',':
// "1,121,3,6,15,119,252"; "" when absent. This is tshark's
// dhcp.option.request_list_item list and nDPI's "DHCP Fingerprint".
std::string prl_string(const dhcp_message& m);
// The option codes in order, same form: "53,55,57,61,51,12".
std::string option_codes_string(const dhcp_message& m);

}  // namespace tapsense::proto
