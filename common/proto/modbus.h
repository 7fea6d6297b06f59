#pragma once
// Modbus/TCP identity parser (Modbus Application Protocol v1.1b3 and
// Modbus Messaging on TCP/IP Implementation Guide v1.0b).
//
// Input: the payload of ONE TCP segment to or from port 502, either
// direction. Every complete ADU (MBAP header + PDU) in the segment is framed;
// an ADU cut by the end of the segment is reported (incomplete) and not
// decoded. Nothing is reassembled across segments: Modbus clients and servers
// send one ADU per segment in practice, and the fingerprinter sees every
// segment.
//
// Decoded in detail: function 43 / MEI 14 Read Device Identification
// (request and response) and function 17 Report Server ID (request and
// response), plus exception responses to either. Other functions are framed
// (unit id, function code) and left alone. The caller says which way the
// segment goes (modbus_direction, from the ports); when it cannot, requests and
// responses are told apart by the shape of the PDU: a 43/14 request is exactly
// 4 bytes, a 17 request is the function code alone. (Real clients send
// requests with trailing slack, so the port is the better guide.)
//
// Output: a plain struct, nothing allocated; string views and spans point into
// the caller's buffer and live as long as it does.
//
// Facts (modbus_facts), all about subject::sender (the server that answered),
// from responses only:
//   modbus/vendor            object 0x00 VendorName                  conf 90
//   modbus/product_code      object 0x01 ProductCode                 conf 90
//   modbus/firmware          object 0x02 MajorMinorRevision          conf 90
//   modbus/vendor_url        object 0x03 VendorUrl                   conf 80
//   modbus/model             object 0x04 ProductName                 conf 85
//   modbus/model             object 0x05 ModelName                   conf 90
//   modbus/application_name  object 0x06 UserApplicationName         conf 70
//   modbus/server_id         function 17: the printable text of the
//                            server-id data (leading id / run-indicator
//                            bytes skipped, e.g. "Wingpath Limited"), or
//                            its hex when nothing printable is left   conf 70
// Values pass through printable(); empty values are not emitted. The unit id
// is not part of the subject: behind a Modbus gateway the answering unit may
// be a serial device, yet the facts are about the gateway's address.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/proto/facts.h"

namespace tapsense::proto {

// Named problems (modbus_segment::error holds the first one met):
//   truncated_header     the segment ends inside an MBAP header: incomplete
//   truncated_adu        the MBAP length runs past the end of the segment:
//                        incomplete, that ADU is not decoded
//   bad_protocol_id      MBAP protocol id is not 0: not Modbus (or not aligned
//                        on an ADU); the rest of the segment is skipped
//   bad_length           MBAP length < 2 or > 254: the rest is skipped
//   bad_device_id        a 43/14 response whose objects run past the PDU or
//                        whose object count does not match: objects before the
//                        problem are kept
//   bad_server_id        a 17 response whose byte count runs past the PDU:
//                        the bytes present are kept
//   object_overflow      more than modbus_max_objects objects in one response
//   adu_overflow         more than modbus_max_adus ADUs in one segment: the rest
//                        are framed but not kept
#define TAPSENSE_MODBUS_ERRORS(X) \
  X(none)                         \
  X(truncated_header)             \
  X(truncated_adu)                \
  X(bad_protocol_id)              \
  X(bad_length)                   \
  X(bad_device_id)                \
  X(bad_server_id)                \
  X(object_overflow)              \
  X(adu_overflow)

enum class modbus_error : std::uint8_t {
#define X(name) name,
  TAPSENSE_MODBUS_ERRORS(X)
#undef X
      count_
};
inline constexpr std::size_t modbus_error_count = static_cast<std::size_t>(modbus_error::count_);
const char* modbus_error_name(modbus_error e) noexcept;

struct modbus_error_counters {
  std::array<std::uint64_t, modbus_error_count> n{};
  void add(modbus_error e) noexcept {
    if (e != modbus_error::none && e < modbus_error::count_) {
      ++n[static_cast<std::size_t>(e)];
    }
  }
  std::uint64_t operator[](modbus_error e) const noexcept { return n[static_cast<std::size_t>(e)]; }
};

inline constexpr std::uint16_t modbus_port = 502;
inline constexpr std::size_t modbus_max_objects = 16;
inline constexpr std::size_t modbus_max_adus = 8;

// Read Device Identification object ids (MODBUS Application Protocol 6.21).
namespace modbus_object_id {
inline constexpr std::uint8_t vendor_name = 0x00;
inline constexpr std::uint8_t product_code = 0x01;
inline constexpr std::uint8_t major_minor_revision = 0x02;
inline constexpr std::uint8_t vendor_url = 0x03;
inline constexpr std::uint8_t product_name = 0x04;
inline constexpr std::uint8_t model_name = 0x05;
inline constexpr std::uint8_t user_application_name = 0x06;
}  // namespace modbus_object_id

// Which way a segment goes: to the server (destination port 502) carries
// requests, from the server (source port 502) responses.
enum class modbus_direction : std::uint8_t { unknown, request, response };

enum class modbus_kind : std::uint8_t {
  other,               // any other function: only the header fields are set
  exception,           // function | 0x80 with an exception code
  device_id_request,   // 43 / MEI 14, 4-byte PDU
  device_id_response,  // 43 / MEI 14, objects
  mei_other,           // 43 with another MEI type (13: CANopen)
  server_id_request,   // 17, function code only
  server_id_response,  // 17, byte count + data
};

struct modbus_object {
  std::uint8_t id = 0;
  std::string_view value;  // raw object bytes as text (not cut at NUL)
};

// One ADU.
struct modbus_adu {
  std::uint16_t transaction_id = 0;
  std::uint16_t protocol_id = 0;
  std::uint16_t length = 0;  // MBAP length: unit id + PDU
  std::uint8_t unit_id = 0;
  std::uint8_t function = 0;  // as on the wire, exception bit included
  modbus_kind kind = modbus_kind::other;
  std::uint8_t exception_code = 0;     // kind == exception
  std::span<const std::uint8_t> data;  // PDU after the function code

  // Function 43 (kind device_id_*, mei_other).
  std::uint8_t mei_type = 0;
  std::uint8_t read_device_id_code = 0;  // 1 basic, 2 regular, 3 extended, 4 one object
  std::uint8_t object_id = 0;            // request: first object asked for
  std::uint8_t conformity_level = 0;     // response fields
  std::uint8_t more_follows = 0;
  std::uint8_t next_object_id = 0;
  std::uint8_t object_count = 0;  // as declared
  std::array<modbus_object, modbus_max_objects> objects{};
  std::uint8_t objects_len = 0;

  // Function 17 response: the byte count and the data it frames (cut to the
  // PDU if the count runs past it).
  std::uint8_t byte_count = 0;
  std::span<const std::uint8_t> server_data;

  std::span<const modbus_object> object_list() const noexcept {
    return std::span<const modbus_object>(objects).first(objects_len);
  }
  bool is_response() const noexcept {
    return kind == modbus_kind::device_id_response || kind == modbus_kind::server_id_response;
  }
};

// About 4 KB; keep one per worker and reuse it.
struct modbus_segment {
  std::array<modbus_adu, modbus_max_adus> adus{};
  std::uint8_t adus_len = 0;
  std::uint16_t adus_seen = 0;  // complete ADUs framed, kept or not
  std::size_t consumed = 0;     // bytes framed as complete ADUs
  bool incomplete = false;      // the segment ends inside an ADU
  modbus_error error = modbus_error::none;

  std::span<const modbus_adu> adu_list() const noexcept {
    return std::span<const modbus_adu>(adus).first(adus_len);
  }
};

// Parses one TCP segment payload into `out` (reset first); returns out.error.
modbus_error parse_modbus(std::span<const std::uint8_t> tcp_payload, modbus_segment& out,
                          modbus_direction direction = modbus_direction::unknown) noexcept;

// Function 17: the text a person would read in the server-id data (see the
// facts above); "" when there is none.
std::string modbus_server_id_text(const modbus_adu& adu);

// Emits the facts listed at the top for every response ADU in the segment.
void modbus_facts(const modbus_segment& seg, const packet_view& pkt, fact_sink& sink);

}  // namespace tapsense::proto
