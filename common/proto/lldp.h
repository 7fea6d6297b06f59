#pragma once
// LLDP (IEEE 802.1AB-2016) parser for discovery: chassis and port ids, TTL,
// names, capabilities, management addresses, and the common
// organisationally specific TLVs: IEEE 802.1 port VLAN, IEEE 802.3 MAC/PHY
// and maximum frame size, LLDP-MED (ANSI/TIA-1057) capabilities and
// inventory, IANA MUD URL (RFC 8520).
//
// Input: the captured frame from its (innermost) Ethernet header: dst, src,
// then EtherType 0x88cc, optionally after up to two 802.1Q/802.1ad tags. The
// parser checks the EtherType itself, so a caller may hand it any frame. The
// LLDPDU is walked TLV by TLV up to End of LLDPDU; Ethernet padding and FCS
// after it are ignored. A frame without End is parsed to its last whole TLV.
//
// Output: a plain, trivially copyable struct of copies (about 5 KB); strings
// longer than 255 bytes (only possible for malformed TLVs) are cut and
// flagged. Every read is bounds-checked; problems have names (lldp_error,
// the first one met); the result so far is kept.
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
//   truncated_header    shorter than an Ethernet header (plus tags): nothing decoded
//   not_lldp            the EtherType is not 0x88cc: nothing decoded
//   truncated_tlv       a TLV runs past the end of the frame: TLVs before it kept
//   bad_tlv_length      a TLV too short (or of the wrong size) for its type: skipped
//   missing_mandatory   the LLDPDU does not start with Chassis ID, Port ID, TTL
//   missing_end         the frame ended without End of LLDPDU
//   list_overflow       more than 4 management addresses or 8 VLAN names: rest skipped
#define TAPSENSE_LLDP_ERRORS(X) \
  X(none)                       \
  X(truncated_header)           \
  X(not_lldp)                   \
  X(truncated_tlv)              \
  X(bad_tlv_length)             \
  X(missing_mandatory)          \
  X(missing_end)                \
  X(list_overflow)

enum class lldp_error : std::uint8_t {
#define X(name) name,
  TAPSENSE_LLDP_ERRORS(X)
#undef X
      count_
};
inline constexpr std::size_t lldp_error_count = static_cast<std::size_t>(lldp_error::count_);

const char* lldp_error_name(lldp_error e) noexcept;

struct lldp_error_counters {
  std::array<std::uint64_t, lldp_error_count> n{};
  void add(lldp_error e) noexcept {
    if (e != lldp_error::none && e < lldp_error::count_) {
      ++n[static_cast<std::size_t>(e)];
    }
  }
  std::uint64_t operator[](lldp_error e) const noexcept { return n[static_cast<std::size_t>(e)]; }
};

// Up to 255 bytes copied out of a TLV.
struct lldp_text {
  std::array<char, 255> b{};
  std::uint8_t n = 0;
  bool present = false;    // the TLV was there (possibly empty)
  bool truncated = false;  // longer than 255 bytes on the wire
  std::string_view view() const noexcept { return {b.data(), n}; }
};

// Chassis ID subtypes (802.1AB 8.5.2.2) and Port ID subtypes (8.5.3.2).
namespace lldp_chassis_subtype {
inline constexpr std::uint8_t chassis_component = 1;
inline constexpr std::uint8_t interface_alias = 2;
inline constexpr std::uint8_t port_component = 3;
inline constexpr std::uint8_t mac_address = 4;
inline constexpr std::uint8_t network_address = 5;
inline constexpr std::uint8_t interface_name = 6;
inline constexpr std::uint8_t local = 7;
}  // namespace lldp_chassis_subtype
namespace lldp_port_subtype {
inline constexpr std::uint8_t interface_alias = 1;
inline constexpr std::uint8_t port_component = 2;
inline constexpr std::uint8_t mac_address = 3;
inline constexpr std::uint8_t network_address = 4;
inline constexpr std::uint8_t interface_name = 5;
inline constexpr std::uint8_t agent_circuit_id = 6;
inline constexpr std::uint8_t local = 7;
}  // namespace lldp_port_subtype

// A Chassis ID or Port ID: the subtype and the raw id.
struct lldp_id {
  bool present = false;
  std::uint8_t subtype = 0;
  std::array<std::uint8_t, 255> raw{};
  std::uint8_t len = 0;
  std::span<const std::uint8_t> bytes() const noexcept {
    return std::span<const std::uint8_t>(raw).first(len);
  }
};

// Management Address TLV (8.5.9). IANA address families: 1 IPv4, 2 IPv6, 6 802 (MAC).
struct lldp_mgmt_address {
  std::uint8_t family = 0;
  std::array<std::uint8_t, 31> raw{};
  std::uint8_t len = 0;
  bool is_ip = false;  // family 1 with 4 bytes or 2 with 16: `ip` is set
  net::ip_address ip{};
  bool is_mac = false;  // family 6 with 6 bytes: `mac` is set
  net::mac_address mac{};
  std::uint8_t if_subtype = 0;  // 1 unknown, 2 ifIndex, 3 system port number
  std::uint32_t if_number = 0;
};

// System capability bits (8.5.8.1), LSB first.
namespace lldp_cap {
inline constexpr std::uint16_t other = 0x0001;
inline constexpr std::uint16_t repeater = 0x0002;
inline constexpr std::uint16_t bridge = 0x0004;
inline constexpr std::uint16_t wlan_access_point = 0x0008;
inline constexpr std::uint16_t router = 0x0010;
inline constexpr std::uint16_t telephone = 0x0020;
inline constexpr std::uint16_t docsis = 0x0040;
inline constexpr std::uint16_t station_only = 0x0080;
inline constexpr std::uint16_t c_vlan = 0x0100;
inline constexpr std::uint16_t s_vlan = 0x0200;
inline constexpr std::uint16_t tpmr = 0x0400;
}  // namespace lldp_cap

struct lldp_vlan_name {
  std::uint16_t vid = 0;
  lldp_text name;
};

struct lldp_frame {
  net::mac_address dst{};
  net::mac_address src{};

  lldp_id chassis;
  lldp_id port;
  bool has_ttl = false;
  std::uint16_t ttl = 0;  // seconds; 0 means "forget me" (shutdown)
  lldp_text port_description;
  lldp_text system_name;
  lldp_text system_description;
  bool has_capabilities = false;
  std::uint16_t capabilities = 0;  // lldp_cap bits
  std::uint16_t enabled_capabilities = 0;
  std::array<lldp_mgmt_address, 4> mgmt{};
  std::uint8_t mgmt_count = 0;

  // IEEE 802.1 (OUI 00-80-c2)
  bool has_port_vlan = false;
  std::uint16_t port_vlan = 0;
  std::array<lldp_vlan_name, 8> vlan_names{};
  std::uint8_t vlan_name_count = 0;
  // IEEE 802.3 (OUI 00-12-0f)
  bool has_mac_phy = false;
  std::uint8_t autoneg = 0;          // bit 0 supported, bit 1 enabled
  std::uint16_t pmd_advertised = 0;  // PMD auto-negotiation advertised capability
  std::uint16_t mau_type = 0;        // operational MAU type (RFC 4836)
  bool has_max_frame_size = false;
  std::uint16_t max_frame_size = 0;
  // LLDP-MED (OUI 00-12-bb). Inventory strings are cut at their first NUL,
  // as tshark shows them.
  bool has_med = false;
  std::uint16_t med_capabilities = 0;
  std::uint8_t med_device_class = 0;  // 1-3 endpoint classes, 4 network connectivity
  lldp_text med_hardware_revision;
  lldp_text med_firmware_revision;
  lldp_text med_software_revision;
  lldp_text med_serial;
  lldp_text med_manufacturer;
  lldp_text med_model;
  lldp_text med_asset_id;
  // IANA (OUI 00-00-5e)
  lldp_text mud_url;

  std::uint16_t tlv_count = 0;  // TLVs walked, End included
  lldp_error error = lldp_error::none;
};

// Parses `frame` (from the Ethernet header) into `out` (reset first);
// returns out.error.
lldp_error parse_lldp(std::span<const std::uint8_t> frame, lldp_frame& out) noexcept;

// A Chassis or Port ID as text: MAC subtypes as "00:22:2d:81:db:10",
// network-address subtypes as the address ("192.0.2.1", "2001:db8::1", or
// the family byte and hex for others), everything else as the bytes
// (printable() applied).
std::string lldp_chassis_id_text(const lldp_id& id);
std::string lldp_port_id_text(const lldp_id& id);

// Capability bits as names joined by ',': "bridge,router". Names: other,
// repeater, bridge, wlan_access_point, router, telephone, docsis,
// station_only, c_vlan, s_vlan, tpmr; unknown bits as "bit11" ...
std::string lldp_capabilities_text(std::uint16_t bits);

// Facts (facts.h). LLDP frames carry no IP: facts are about the sender
// (its MAC). Every LLDP fact has source "lldp":
//   chassis_id, port_id, port_description, system_name, system_description,
//   capabilities (system), capabilities_enabled, management_address (one per
//   address), port_vlan, mud_url: 100
//   hostname (the system name): 80
//   vendor (MED manufacturer), model, serial, firmware (MED firmware
//   revision), software_revision, hardware_revision, asset_id: 90
// and for every IP management address a fact about subject::ip (fact::ip set)
// with field "mac", value the sender's MAC, confidence 90, so the
// fingerprinter can bind the IP to the device. (MED's software revision is a
// bare version, not the "name/version" form of field "software".)
void lldp_facts(const lldp_frame& f, const packet_view& pkt, fact_sink& sink);

}  // namespace tapsense::proto
