#pragma once
// EtherNet/IP encapsulation and CIP Identity parser (ODVA CIP Vol. 2
// chapter 2 "Encapsulation Protocol"; CIP Vol. 1 chapters 2-5 for messages,
// paths and the Identity object, class 0x01).
//
// Input: for TCP 44818, the payload of ONE segment, either direction: every
// complete encapsulation message in it is decoded, one cut by the end of the
// segment is reported (incomplete). For UDP 44818, one datagram (ListIdentity
// requests are broadcast, responses unicast). UDP 2222 carries cyclic I/O
// (Common Packet Format without an encapsulation header) and no identity:
// parse_enip_io() frames it.
//
// Identity comes from:
//   - ListIdentity (0x0063) responses: the CIP Identity item (0x000c), socket
//     address included;
//   - CIP Get_Attributes_All (0x01) responses for the Identity class, over
//     SendRRData (unconnected, item 0x00b2) or SendUnitData (connected, item
//     0x00b1), and Get_Attribute_Single (0x0e) responses for its attributes
//     1, 2, 3, 4, 6, 7. A CIP response does not repeat the request path, so
//     the caller keeps an enip_flow_state per TCP connection (both directions
//     share it): requests are remembered by sender context (unconnected) or
//     sequence count (connected) and responses paired with them. Without a
//     pairing (no state, capture started mid-request), a Get_Attributes_All
//     response is still taken as Identity when its data has exactly the
//     Identity layout (origin get_attributes_all_layout, lower confidence).
//   Unconnected_Send (0x52 to the Connection Manager) requests are looked
//   through to the embedded request.
//
// Encapsulation header sanity: known command, options 0, length within
// bounds; a header failing it stops the segment (a misaligned or non-ENIP
// stream must not be mined for identities).
//
// Output: a plain struct, nothing allocated; views point into the caller's
// buffer.
//
// Facts (enip_facts), from identity-carrying responses, about subject::sender
// (the device that answered); confidence 90 for ListIdentity and paired
// responses, 70 for layout-matched ones:
//   enip/vendor_id       decimal ("1")
//   enip/vendor          the vendor id's name from the caller's lookup
//                        (fingerprinter/data/cip_vendors.toml); conf - 10
//   enip/device_type_id  decimal ("12")
//   enip/device_type     CIP device profile name ("Communications Adapter"),
//                        from the table in enip.cpp (CIP Vol. 1 ch. 6)
//   enip/product_code    decimal ("58")
//   enip/revision        "major.minor" with two minor digits ("4.03", as tshark)
//   enip/firmware        the same value (a CIP revision is the firmware's)
//   enip/serial          "0x%08x" ("0x00524d8e", as tshark)
//   enip/model           product name ("1756-ENBT/A")
//  ListIdentity only, the socket address the device reports (sin_addr):
//   subject::ip (that address)  enip/mac  the sender MAC               conf 70
//   subject::sender             enip/advertised_ip, only when it differs from
//                               the packet's source address (NAT, or a
//                               multi-homed device)                    conf 60
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "common/net/addr.h"
#include "common/proto/facts.h"

namespace tapsense::proto {

// Named problems (enip_segment::error, the first met):
//   truncated_header    the segment ends inside a 24-byte encapsulation header:
//                       incomplete
//   truncated_message   the encapsulation length runs past the segment:
//                       incomplete, that message not decoded
//   unknown_command     a command that is not in the specification: the rest
//                       of the segment is skipped
//   bad_options         non-zero options field: the rest is skipped
//   bad_length          length above the 65511 bytes the specification allows:
//                       the rest is skipped
//   bad_cpf             Common Packet Format items running past their message,
//                       or a count that does not fit: items before kept
//   bad_identity        an Identity item/response too short for its fields
//                       (product name running past the end): fields before
//                       kept
//   bad_cip             a CIP message too short, or a request path whose size
//                       runs past the message
//   message_overflow    more than enip_max_messages messages in one segment
#define TAPSENSE_ENIP_ERRORS(X) \
  X(none)                       \
  X(truncated_header)           \
  X(truncated_message)          \
  X(unknown_command)            \
  X(bad_options)                \
  X(bad_length)                 \
  X(bad_cpf)                    \
  X(bad_identity)               \
  X(bad_cip)                    \
  X(message_overflow)

enum class enip_error : std::uint8_t {
#define X(name) name,
  TAPSENSE_ENIP_ERRORS(X)
#undef X
      count_
};
inline constexpr std::size_t enip_error_count = static_cast<std::size_t>(enip_error::count_);
const char* enip_error_name(enip_error e) noexcept;

struct enip_error_counters {
  std::array<std::uint64_t, enip_error_count> n{};
  void add(enip_error e) noexcept {
    if (e != enip_error::none && e < enip_error::count_) {
      ++n[static_cast<std::size_t>(e)];
    }
  }
  std::uint64_t operator[](enip_error e) const noexcept { return n[static_cast<std::size_t>(e)]; }
};

inline constexpr std::uint16_t enip_port = 44818;
inline constexpr std::uint16_t enip_io_port = 2222;
inline constexpr std::size_t enip_max_messages = 4;
inline constexpr std::size_t enip_max_identities = 2;

namespace enip_command {
inline constexpr std::uint16_t nop = 0x0000;
inline constexpr std::uint16_t list_services = 0x0004;
inline constexpr std::uint16_t list_identity = 0x0063;
inline constexpr std::uint16_t list_interfaces = 0x0064;
inline constexpr std::uint16_t register_session = 0x0065;
inline constexpr std::uint16_t unregister_session = 0x0066;
inline constexpr std::uint16_t send_rr_data = 0x006f;
inline constexpr std::uint16_t send_unit_data = 0x0070;
inline constexpr std::uint16_t indicate_status = 0x0072;
inline constexpr std::uint16_t cancel = 0x0073;
}  // namespace enip_command

namespace cip_service {
inline constexpr std::uint8_t get_attributes_all = 0x01;
inline constexpr std::uint8_t get_attribute_single = 0x0e;
inline constexpr std::uint8_t unconnected_send = 0x52;
inline constexpr std::uint8_t response_bit = 0x80;
}  // namespace cip_service

inline constexpr std::uint16_t cip_class_identity = 0x01;
inline constexpr std::uint16_t cip_class_connection_manager = 0x06;

// Which Identity fields an enip_identity holds.
namespace enip_field {
inline constexpr std::uint8_t vendor = 0x01;
inline constexpr std::uint8_t device_type = 0x02;
inline constexpr std::uint8_t product_code = 0x04;
inline constexpr std::uint8_t revision = 0x08;
inline constexpr std::uint8_t status = 0x10;
inline constexpr std::uint8_t serial = 0x20;
inline constexpr std::uint8_t product_name = 0x40;
inline constexpr std::uint8_t state = 0x80;
}  // namespace enip_field

enum class enip_identity_origin : std::uint8_t {
  list_identity,              // ListIdentity CIP Identity item
  get_attributes_all,         // paired with an Identity Get_Attributes_All request
  get_attributes_all_layout,  // unpaired, matched by layout
  get_attribute_single,       // paired Get_Attribute_Single of one attribute
};

struct enip_identity {
  enip_identity_origin origin = enip_identity_origin::list_identity;
  std::uint8_t fields = 0;  // enip_field bits
  std::uint16_t vendor_id = 0;
  std::uint16_t device_type = 0;
  std::uint16_t product_code = 0;
  std::uint8_t revision_major = 0;
  std::uint8_t revision_minor = 0;
  std::uint16_t status = 0;
  std::uint32_t serial = 0;
  std::string_view product_name;
  std::uint8_t state = 0;
  // ListIdentity only.
  bool has_socket = false;
  std::uint16_t encapsulation_version = 0;
  std::uint16_t sin_family = 0;
  std::uint16_t sin_port = 0;
  net::ip_address sin_addr;
};

// One encapsulation message.
struct enip_message {
  std::uint16_t command = 0;
  std::uint16_t length = 0;
  std::uint32_t session = 0;
  std::uint32_t status = 0;
  std::array<std::uint8_t, 8> context{};
  std::uint32_t options = 0;
  std::uint16_t item_count = 0;  // CPF, when the command carries one

  // CIP message in SendRRData / SendUnitData.
  bool has_cip = false;
  bool connected = false;
  std::uint16_t sequence = 0;  // connected data item sequence count
  std::uint8_t service = 0;    // without the response bit
  bool response = false;
  std::uint8_t general_status = 0;  // responses
  // Request: the (embedded, for Unconnected_Send) path. Response: the paired
  // request's path, when there was one (paired == true).
  bool paired = false;
  std::uint16_t class_id = 0;
  std::uint32_t instance_id = 0;
  std::uint16_t attribute_id = 0;

  std::array<enip_identity, enip_max_identities> identities{};
  std::uint8_t identities_len = 0;

  std::span<const enip_identity> identity_list() const noexcept {
    return std::span<const enip_identity>(identities).first(identities_len);
  }
};

struct enip_segment {
  std::array<enip_message, enip_max_messages> messages{};
  std::uint8_t messages_len = 0;
  std::uint16_t messages_seen = 0;
  std::size_t consumed = 0;
  bool incomplete = false;
  enip_error error = enip_error::none;

  std::span<const enip_message> message_list() const noexcept {
    return std::span<const enip_message>(messages).first(messages_len);
  }
};

// Per-connection memory of outstanding CIP requests (a few; oldest replaced).
// Zero-initialise it when the connection is first seen.
struct enip_flow_state {
  struct request {
    bool valid = false;
    bool connected = false;
    std::array<std::uint8_t, 8> context{};
    std::uint16_t sequence = 0;
    std::uint8_t service = 0;
    std::uint16_t class_id = 0;
    std::uint32_t instance_id = 0;
    std::uint16_t attribute_id = 0;
  };
  std::array<request, 4> pending{};
  std::uint8_t next = 0;
};

// Parses one TCP segment payload or UDP datagram into `out` (reset first).
// `state` may be null (no pairing).
enip_error parse_enip(std::span<const std::uint8_t> payload, enip_segment& out,
                      enip_flow_state* state = nullptr) noexcept;

// UDP 2222 cyclic I/O: CPF item count, sequenced address item (connection id,
// sequence number) and connected data item. No identity is carried.
struct enip_io_message {
  bool valid = false;
  std::uint16_t item_count = 0;
  std::uint32_t connection_id = 0;
  std::uint32_t sequence = 0;
  std::uint16_t data_length = 0;
};
enip_io_message parse_enip_io(std::span<const std::uint8_t> udp_payload) noexcept;

// CIP device profile name for a device type ("Communications Adapter"), ""
// when the specification names none.
std::string_view cip_device_type_name(std::uint16_t device_type) noexcept;

// Maps a CIP vendor id to a name, "" when unknown. The caller builds it from
// fingerprinter/data/cip_vendors.toml.
using cip_vendor_lookup = std::function<std::string_view(std::uint16_t)>;

void enip_facts(const enip_segment& seg, const packet_view& pkt, fact_sink& sink,
                const cip_vendor_lookup& vendors = {});

}  // namespace tapsense::proto
