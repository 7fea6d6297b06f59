#pragma once
// Cisco Discovery Protocol (versions 1 and 2) parser for discovery: device
// id, addresses, port id, capabilities, software version, platform, VTP
// domain, native VLAN, duplex, system name, management addresses.
//
// Input: the captured frame from its (innermost) Ethernet header: an IEEE
// 802.3 frame (length field <= 1500, optionally after up to two 802.1Q/802.1ad
// tags) whose LLC/SNAP header is AA AA 03, OUI 00-00-0c, PID 0x2000,
// normally sent to 01:00:0c:cc:cc:cc. The parser checks all of that itself.
// The 802.3 length bounds the PDU, so Ethernet padding and FCS are ignored.
// The checksum is kept, not verified.
//
// Output: a plain, trivially copyable struct of copies (about 2.6 KB). Every
// read is bounds-checked; problems have names (cdp_error, the first one
// met); what was decoded before a problem is kept.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/net/addr.h"
#include "common/proto/facts.h"

namespace tapsense::proto {

// Named problems (the first one met):
//   truncated_header   shorter than Ethernet + LLC/SNAP + the 4-byte CDP header
//   not_cdp            an EtherType instead of an 802.3 length, or another
//                      LLC/SNAP protocol: nothing decoded
//   truncated_tlv      a TLV runs past the end of the PDU: TLVs before it kept
//   bad_tlv_length     a TLV length below 4 (the walk cannot go on: stops), or
//                      a fixed-size TLV of the wrong size (skipped)
//   bad_address        an address entry runs past its TLV: entries before it kept
//   list_overflow      more than 4 addresses in a TLV kind: the rest skipped
#define TAPSENSE_CDP_ERRORS(X) \
  X(none)                      \
  X(truncated_header)          \
  X(not_cdp)                   \
  X(truncated_tlv)             \
  X(bad_tlv_length)            \
  X(bad_address)               \
  X(list_overflow)

enum class cdp_error : std::uint8_t {
#define X(name) name,
  TAPSENSE_CDP_ERRORS(X)
#undef X
      count_
};
inline constexpr std::size_t cdp_error_count = static_cast<std::size_t>(cdp_error::count_);

const char* cdp_error_name(cdp_error e) noexcept;

struct cdp_error_counters {
  std::array<std::uint64_t, cdp_error_count> n{};
  void add(cdp_error e) noexcept {
    if (e != cdp_error::none && e < cdp_error::count_) {
      ++n[static_cast<std::size_t>(e)];
    }
  }
  std::uint64_t operator[](cdp_error e) const noexcept { return n[static_cast<std::size_t>(e)]; }
};

// Text copied out of a TLV, up to N bytes.
template <std::size_t N>
struct cdp_text {
  std::array<char, N> b{};
  std::uint16_t n = 0;
  bool present = false;
  bool truncated = false;
  std::string_view view() const noexcept { return {b.data(), n}; }
};

// One entry of an Addresses (0x0002) or Management Addresses (0x0016) TLV.
struct cdp_address {
  std::uint8_t protocol_type = 0;  // 1 NLPID, 2 802.2
  bool is_ip = false;              // IPv4 (NLPID 0xcc) or IPv6 (802.2 SNAP 0x86dd)
  net::ip_address ip{};
  std::array<std::uint8_t, 16> raw{};  // the address bytes, first 16
  std::uint8_t len = 0;                // bytes in raw
};

// Capability bits (Cisco), LSB first.
namespace cdp_cap {
inline constexpr std::uint32_t router = 0x001;
inline constexpr std::uint32_t trans_bridge = 0x002;
inline constexpr std::uint32_t source_route_bridge = 0x004;
inline constexpr std::uint32_t switch_ = 0x008;
inline constexpr std::uint32_t host = 0x010;
inline constexpr std::uint32_t igmp = 0x020;
inline constexpr std::uint32_t repeater = 0x040;
inline constexpr std::uint32_t voip_phone = 0x080;
inline constexpr std::uint32_t remotely_managed = 0x100;
inline constexpr std::uint32_t cvta_stp_camera = 0x200;
inline constexpr std::uint32_t two_port_mac_relay = 0x400;
}  // namespace cdp_cap

struct cdp_frame {
  net::mac_address dst{};
  net::mac_address src{};
  std::uint8_t version = 0;
  std::uint8_t ttl = 0;  // seconds
  std::uint16_t checksum = 0;

  cdp_text<255> device_id;                // 0x0001
  std::array<cdp_address, 4> addresses{};  // 0x0002
  std::uint8_t address_count = 0;
  cdp_text<255> port_id;                  // 0x0003
  bool has_capabilities = false;          // 0x0004
  std::uint32_t capabilities = 0;
  cdp_text<1024> software_version;        // 0x0005, cut at its first NUL
  cdp_text<255> platform;                 // 0x0006
  cdp_text<255> vtp_domain;               // 0x0009
  bool has_native_vlan = false;           // 0x000a
  std::uint16_t native_vlan = 0;
  bool has_duplex = false;                // 0x000b
  bool full_duplex = false;
  bool has_voice_vlan = false;            // 0x000e (appliance reply)
  std::uint16_t voice_vlan = 0;
  cdp_text<255> system_name;              // 0x0014
  std::array<cdp_address, 4> mgmt_addresses{};  // 0x0016
  std::uint8_t mgmt_address_count = 0;

  std::uint16_t tlv_count = 0;
  cdp_error error = cdp_error::none;
};

// Parses `frame` (from the Ethernet header) into `out` (reset first);
// returns out.error.
cdp_error parse_cdp(std::span<const std::uint8_t> frame, cdp_frame& out) noexcept;

// Parses a CDP PDU without its Ethernet and LLC/SNAP headers (from the CDP
// version byte), as GRE carries it (GRE protocol 0x2000); src/dst stay zero.
cdp_error parse_cdp_pdu(std::span<const std::uint8_t> pdu, cdp_frame& out) noexcept;

// Capability bits as names joined by ',': "router,switch,igmp". Names:
// router, trans_bridge, source_route_bridge, switch, host, igmp, repeater,
// voip_phone, remotely_managed, cvta_stp_camera, two_port_mac_relay; other
// bits as "bit11" ...
std::string cdp_capabilities_text(std::uint32_t bits);

// Facts (facts.h), about the sender (its MAC; CDP frames carry no IP),
// source "cdp":
//   device_id, port_id, platform, software_version (lines joined by ' '),
//   capabilities, address and management_address (one per IP), native_vlan,
//   vtp_domain, system_name: 100
//   hostname (the device id): 80; model (the platform): 80
// and for every IP address (0.0.0.0 and :: skipped: an unconfigured
// device announces them) a fact about subject::ip (fact::ip set) with
// field "mac", value the sender's MAC, confidence 90.
void cdp_facts(const cdp_frame& f, const packet_view& pkt, fact_sink& sink);

}  // namespace tapsense::proto
