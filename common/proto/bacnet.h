#pragma once
// BACnet/IP identity parser (ASHRAE 135: Annex J BVLL, clause 6 NPDU,
// clauses 20-21 APDU and tag encoding).
//
// Input: the UDP payload of one datagram to or from a BACnet/IP port
// (47808-47823, 0xBAC0-0xBACF), bounded by the UDP length.
//
// Decoded: the BVLC header (type 0x81; Forwarded-NPDU's originating address),
// the NPDU (version, control, DNET/DADR, SNET/SADR, hop count, network layer
// message type), and the APDU header of every type. In detail:
//   - I-Am (unconfirmed service 0): device instance, max APDU, segmentation,
//     vendor identifier;
//   - Who-Is (unconfirmed 8): instance range limits;
//   - ReadProperty (12) and ReadPropertyMultiple (14) requests: the object and
//     (first) property asked for;
//   - ReadProperty and ReadPropertyMultiple acknowledgements (Complex-ACK):
//     the values of the Device object's properties object-identifier,
//     vendor-identifier, vendor-name, model-name, firmware-revision,
//     application-software-version, object-name, description, location.
//     Properties of other objects are walked over. Only an unsegmented ACK or
//     the first segment of a segmented one is decoded.
// Character strings are decoded to UTF-8 from the BACnet character sets
// ANSI X3.4/UTF-8 (0), ISO 10646 UCS-4 (3), UCS-2 (4) and ISO 8859-1 (5);
// DBCS (1) and JIS X 0208 (2) are copied as-is. They are kept in the struct
// (bacnet_text), so they survive the input buffer.
//
// Tag lengths are checked against the enclosing data before every read;
// nesting is capped (bacnet_max_depth).
//
// Output: a plain struct (about 2 KB), nothing allocated.
//
// Facts (bacnet_facts), about subject::sender, or about subject::ip with the
// originating address of a Forwarded-NPDU. Identity facts are NOT emitted when
// the NPDU names a source network (SNET): the datagram then comes from a
// BACnet router on behalf of a device elsewhere; instead
//   bacnet/routed_from   "network 5 address 0x0a" about the sender      conf 80
// Otherwise, from I-Am and Complex-ACKs (the device describes itself):
//   bacnet/device_instance  I-Am, the ACK's Device object (unless the
//                           wildcard 4194303), or object-identifier     conf 90
//   bacnet/vendor_id        vendor-identifier (I-Am or property), decimal conf 90
//   bacnet/vendor           vendor-name property                         conf 90
//                           or the vendor id's name from the caller's
//                           lookup (fingerprinter/data/bacnet_vendors.toml)
//                                                                        conf 70
//   bacnet/model            model-name                                   conf 90
//   bacnet/firmware         firmware-revision                            conf 90
//   bacnet/software         application-software-version (the bare
//                           version: BACnet gives no product name with it;
//                           join it with bacnet/model if a name is needed) conf 80
//   bacnet/device_name      object-name of the Device object             conf 90
//   bacnet/description      description                                  conf 70
//   bacnet/location         location                                     conf 70
// Values pass through printable(); empty strings are not emitted.
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

// Named problems (bacnet_message::error, the first met):
//   truncated_bvlc        fewer than 4 bytes, or a Forwarded-NPDU without its
//                         6-byte address: nothing (more) decoded
//   bad_bvlc_type         not 0x81 (0x82 is BACnet/IPv6, not decoded)
//   bad_bvlc_length       BVLC length < 4 or past the datagram: the datagram's
//                         end is used
//   truncated_npdu        the NPDU ends inside its header (addresses, hop
//                         count, message type)
//   bad_npdu_version      NPDU version is not 1
//   truncated_apdu        the APDU ends inside its fixed header
//   bad_tag               a tag whose length runs past its data, or an
//                         unterminated constructed value: values before it kept
//   bad_value             a value of the wrong type or size for its property
//                         (e.g. an unsigned of 5+ bytes): skipped
//   string_truncated      a character string longer than bacnet_text holds: cut
//   depth_exceeded        constructed values nested deeper than bacnet_max_depth
#define TAPSENSE_BACNET_ERRORS(X) \
  X(none)                         \
  X(truncated_bvlc)               \
  X(bad_bvlc_type)                \
  X(bad_bvlc_length)              \
  X(truncated_npdu)               \
  X(bad_npdu_version)             \
  X(truncated_apdu)               \
  X(bad_tag)                      \
  X(bad_value)                    \
  X(string_truncated)             \
  X(depth_exceeded)

enum class bacnet_error : std::uint8_t {
#define X(name) name,
  TAPSENSE_BACNET_ERRORS(X)
#undef X
      count_
};
inline constexpr std::size_t bacnet_error_count = static_cast<std::size_t>(bacnet_error::count_);
const char* bacnet_error_name(bacnet_error e) noexcept;

struct bacnet_error_counters {
  std::array<std::uint64_t, bacnet_error_count> n{};
  void add(bacnet_error e) noexcept {
    if (e != bacnet_error::none && e < bacnet_error::count_) {
      ++n[static_cast<std::size_t>(e)];
    }
  }
  std::uint64_t operator[](bacnet_error e) const noexcept { return n[static_cast<std::size_t>(e)]; }
};

inline constexpr std::uint16_t bacnet_port = 47808;
inline constexpr std::size_t bacnet_max_depth = 8;
inline constexpr std::uint32_t bacnet_wildcard_instance = 4194303;

namespace bacnet_pdu {
inline constexpr std::uint8_t confirmed_request = 0;
inline constexpr std::uint8_t unconfirmed_request = 1;
inline constexpr std::uint8_t simple_ack = 2;
inline constexpr std::uint8_t complex_ack = 3;
inline constexpr std::uint8_t segment_ack = 4;
inline constexpr std::uint8_t error = 5;
inline constexpr std::uint8_t reject = 6;
inline constexpr std::uint8_t abort = 7;
}  // namespace bacnet_pdu

namespace bacnet_service {
inline constexpr std::uint8_t i_am = 0;     // unconfirmed
inline constexpr std::uint8_t who_is = 8;   // unconfirmed
inline constexpr std::uint8_t read_property = 12;            // confirmed
inline constexpr std::uint8_t read_property_multiple = 14;   // confirmed
}  // namespace bacnet_service

namespace bacnet_property {
inline constexpr std::uint32_t application_software_version = 12;
inline constexpr std::uint32_t description = 28;
inline constexpr std::uint32_t firmware_revision = 44;
inline constexpr std::uint32_t location = 58;
inline constexpr std::uint32_t model_name = 70;
inline constexpr std::uint32_t object_identifier = 75;
inline constexpr std::uint32_t object_name = 77;
inline constexpr std::uint32_t vendor_identifier = 120;
inline constexpr std::uint32_t vendor_name = 121;
}  // namespace bacnet_property

inline constexpr std::uint16_t bacnet_object_device = 8;

// A decoded CharacterString, UTF-8, in the struct itself.
struct bacnet_text {
  bool present = false;
  std::uint8_t charset = 0;  // as on the wire
  std::uint16_t len = 0;
  std::array<char, 256> buf{};
  std::string_view view() const noexcept { return {buf.data(), len}; }
};

struct bacnet_message {
  // ---- BVLC ----
  std::uint8_t bvlc_type = 0;
  std::uint8_t bvlc_function = 0;
  std::uint16_t bvlc_length = 0;
  bool forwarded = false;  // Forwarded-NPDU: originating B/IP address below
  net::ip_address forwarded_ip;
  std::uint16_t forwarded_port = 0;

  // ---- NPDU ----
  bool has_npdu = false;
  std::uint8_t npdu_control = 0;
  bool network_message = false;  // network layer message, no APDU
  std::uint8_t network_message_type = 0;
  bool has_dnet = false;
  std::uint16_t dnet = 0;
  std::uint8_t dlen = 0;
  bool has_snet = false;
  std::uint16_t snet = 0;
  std::uint8_t slen = 0;
  std::array<std::uint8_t, 8> sadr{};  // first slen bytes (slen <= 8 kept)
  std::uint8_t hop_count = 0;

  // ---- APDU ----
  bool has_apdu = false;
  std::uint8_t pdu_type = 0;  // bacnet_pdu
  std::uint8_t pdu_flags = 0;  // low nibble of the first octet
  bool segmented = false;
  std::uint8_t sequence_number = 0;
  std::uint8_t invoke_id = 0;
  std::uint8_t service = 0;

  // I-Am.
  bool is_i_am = false;
  std::uint32_t max_apdu = 0;
  std::uint32_t segmentation = 0;
  // Who-Is limits.
  bool has_who_is_range = false;
  std::uint32_t who_is_low = 0;
  std::uint32_t who_is_high = 0;
  // ReadProperty / ReadPropertyMultiple request: first object and property.
  bool has_request_object = false;
  std::uint16_t request_object_type = 0;
  std::uint32_t request_instance = 0;
  std::uint32_t request_property = 0;

  // ---- Device identity (I-Am or Device object properties in an ACK) ----
  bool has_device_instance = false;
  std::uint32_t device_instance = 0;
  bool has_vendor_id = false;
  std::uint32_t vendor_id = 0;
  bacnet_text vendor_name;
  bacnet_text model_name;
  bacnet_text firmware_revision;
  bacnet_text application_software_version;
  bacnet_text object_name;
  bacnet_text description;
  bacnet_text location;
  std::uint16_t device_properties = 0;  // Device object property values decoded

  bacnet_error error = bacnet_error::none;
};

// Parses one UDP payload into `out` (reset first); returns out.error.
bacnet_error parse_bacnet(std::span<const std::uint8_t> udp_payload, bacnet_message& out) noexcept;

// Maps an ASHRAE BACnet vendor identifier to a name, "" when unknown. The
// caller builds it from fingerprinter/data/bacnet_vendors.toml.
using bacnet_vendor_lookup = std::function<std::string_view(std::uint32_t)>;

void bacnet_facts(const bacnet_message& m, const packet_view& pkt, fact_sink& sink,
                  const bacnet_vendor_lookup& vendors = {});

}  // namespace tapsense::proto
