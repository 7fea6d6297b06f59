#pragma once
// PROFINET DCP parser (IEC 61158-6-10, Discovery and basic Configuration
// Protocol).
//
// Input: the Ethernet payload of one frame with EtherType 0x8892, after the
// Ethernet header and any VLAN tags, starting at the FrameID. Ethernet padding
// after the DCP data is harmless (DCPDataLength bounds the blocks). Frames whose
// FrameID is not a DCP one (0xfefc Hello, 0xfefd Get/Set, 0xfefe Identify
// request, 0xfeff Identify response) are reported as not_dcp: cyclic RT data,
// alarms and PTCP share the EtherType.
//
// Blocks are walked in order; each is option, suboption, DCPBlockLength, data,
// padded to an even length. Responses and Hello carry a BlockInfo word before
// the data, Set requests a BlockQualifier, Identify requests (filters) neither.
// First instance of each block wins.
//
// Output: a plain struct, nothing allocated; string views point into the
// caller's buffer.
//
// Facts (profinet_facts). "Sender" is the frame's source MAC (DCP has no IP).
//  From an Identify response, Get response or Hello (the device speaks for
//  itself), about subject::sender:
//   profinet/station_name   NameOfStation (2/2)                      conf 90
//   profinet/alias_name     AliasName (2/6)                          conf 70
//   profinet/model          TypeOfStation / DeviceVendorValue (2/1)  conf 85
//   profinet/vendor_id      "0x002a" (2/3, as GSDML writes it)       conf 90
//   profinet/vendor         name of vendor_id from the caller's
//                           lookup (fingerprinter/data/profinet_vendors.toml)
//                                                                    conf 80
//   profinet/device_id      "0x0a01" (2/3)                           conf 90
//   profinet/device_role    role bits named, joined by ',':
//                           "io-device", "io-controller",
//                           "io-multidevice", "pn-supervisor"        conf 90
//   profinet/ip             the device's IPv4 address (1/2), unless 0.0.0.0
//                                                                    conf 80
//  and about subject::ip (that address):
//   profinet/mac            the sender MAC                           conf 80
//  From a Set request (the controller configures the addressed device),
//  about subject::receiver (the destination MAC):
//   profinet/station_name   the name being set                       conf 60
//   profinet/ip             the address being set                    conf 50
//  and about subject::ip (that address): profinet/mac = destination  conf 50
//  From an Identify request with a NameOfStation filter (devices send one for
//  their own name at start-up to detect duplicates; controllers send them to
//  find a device), about subject::sender:
//   profinet/queried_station_name                                    conf 30
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/net/addr.h"
#include "common/proto/facts.h"

namespace tapsense::proto {

// Named problems (profinet_dcp_message::error, the first met):
//   truncated_header   shorter than FrameID + the 10-byte DCP header: nothing decoded
//   not_dcp            FrameID outside 0xfefc..0xfeff: nothing decoded
//   truncated_data     DCPDataLength runs past the frame: blocks up to the
//                      frame's end are walked
//   truncated_block    a block's length runs past the DCP data: blocks before
//                      it are kept, the walk stops
//   bad_block_length   a fixed-size block (MAC, IP, Device ID, Device Role,
//                      Device Instance, OEM ID) of the wrong size: skipped
//   block_overflow     more than profinet_max_blocks blocks: the rest are
//                      applied but not listed
#define TAPSENSE_PROFINET_ERRORS(X) \
  X(none)                           \
  X(truncated_header)               \
  X(not_dcp)                        \
  X(truncated_data)                 \
  X(truncated_block)                \
  X(bad_block_length)               \
  X(block_overflow)

enum class profinet_error : std::uint8_t {
#define X(name) name,
  TAPSENSE_PROFINET_ERRORS(X)
#undef X
      count_
};
inline constexpr std::size_t profinet_error_count = static_cast<std::size_t>(profinet_error::count_);
const char* profinet_error_name(profinet_error e) noexcept;

struct profinet_error_counters {
  std::array<std::uint64_t, profinet_error_count> n{};
  void add(profinet_error e) noexcept {
    if (e != profinet_error::none && e < profinet_error::count_) {
      ++n[static_cast<std::size_t>(e)];
    }
  }
  std::uint64_t operator[](profinet_error e) const noexcept {
    return n[static_cast<std::size_t>(e)];
  }
};

inline constexpr std::uint16_t profinet_ethertype = 0x8892;
inline constexpr std::size_t profinet_max_blocks = 32;

namespace profinet_frame_id {
inline constexpr std::uint16_t hello = 0xfefc;
inline constexpr std::uint16_t get_set = 0xfefd;
inline constexpr std::uint16_t identify_request = 0xfefe;
inline constexpr std::uint16_t identify_response = 0xfeff;
}  // namespace profinet_frame_id

namespace profinet_service {
inline constexpr std::uint8_t get = 3;
inline constexpr std::uint8_t set = 4;
inline constexpr std::uint8_t identify = 5;
inline constexpr std::uint8_t hello = 6;
}  // namespace profinet_service

// DeviceRoleDetails bits (2/4).
namespace profinet_role {
inline constexpr std::uint8_t io_device = 0x01;
inline constexpr std::uint8_t io_controller = 0x02;
inline constexpr std::uint8_t io_multidevice = 0x04;
inline constexpr std::uint8_t pn_supervisor = 0x08;
}  // namespace profinet_role

struct profinet_block_ref {
  std::uint8_t option = 0;
  std::uint8_t suboption = 0;
};

struct profinet_dcp_message {
  std::uint16_t frame_id = 0;
  std::uint8_t service_id = 0;
  std::uint8_t service_type = 0;  // 0 request, 1 response success, 5 not supported
  std::uint32_t xid = 0;
  std::uint16_t response_delay = 0;  // Identify request: ResponseDelayFactor; else reserved
  std::uint16_t data_length = 0;

  // Blocks in order of appearance (capped at profinet_max_blocks).
  std::array<profinet_block_ref, profinet_max_blocks> blocks{};
  std::uint8_t blocks_len = 0;

  // Decoded blocks. A string view with data() == nullptr is absent.
  std::string_view type_of_station;  // 2/1 DeviceVendorValue
  std::string_view name_of_station;  // 2/2
  std::string_view alias_name;       // 2/6
  std::optional<std::uint16_t> vendor_id;  // 2/3
  std::optional<std::uint16_t> device_id;
  std::optional<std::uint8_t> device_role;  // 2/4 DeviceRoleDetails
  std::optional<std::uint16_t> device_instance;  // 2/7, high byte first
  std::optional<std::uint16_t> oem_vendor_id;    // 2/8
  std::optional<std::uint16_t> oem_device_id;
  std::optional<net::mac_address> mac;  // 1/1
  bool has_ip = false;                   // 1/2 (or the first 12 bytes of 1/3)
  net::ip_address ip;
  net::ip_address netmask;
  net::ip_address gateway;
  std::uint16_t ip_block_info = 0;  // responses/Hello: 0 none, 1 set, 2 by DHCP; 0x80 conflict
  // Control/Response (5/4) in a Set/Get response: the option answered and its
  // error (0 = ok).
  std::optional<profinet_block_ref> response_to;
  std::uint8_t response_error = 0;

  profinet_error error = profinet_error::none;

  bool is_request() const noexcept { return (service_type & 0x01) == 0; }
  // The device speaks about itself: Identify/Get responses and Hello.
  bool is_self_description() const noexcept {
    return (!is_request() && (service_id == profinet_service::identify ||
                              service_id == profinet_service::get)) ||
           service_id == profinet_service::hello;
  }
  std::span<const profinet_block_ref> block_list() const noexcept {
    return std::span<const profinet_block_ref>(blocks).first(blocks_len);
  }
};

// Parses one DCP frame (starting at the FrameID) into `out` (reset first).
profinet_error parse_profinet_dcp(std::span<const std::uint8_t> payload,
                                  profinet_dcp_message& out) noexcept;

// "io-device", "io-controller,io-device" ... ; "0x%02x" for unnamed bits only.
std::string profinet_role_string(std::uint8_t role);

// Maps a PROFINET (PI) vendor id to a name, "" when unknown. The caller builds
// it from fingerprinter/data/profinet_vendors.toml.
using profinet_vendor_lookup = std::function<std::string_view(std::uint16_t)>;

void profinet_facts(const profinet_dcp_message& m, const packet_view& pkt, fact_sink& sink,
                    const profinet_vendor_lookup& vendors = {});

}  // namespace tapsense::proto
