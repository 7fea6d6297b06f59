#pragma once
// DNP3 link-layer parser (IEEE 1815-2012 clause 9, DNP3 over TCP/UDP 20000).
//
// Input: the payload of ONE TCP segment (or UDP datagram) to or from port
// 20000, either direction. Every complete link frame in it is decoded: start
// bytes 0x05 0x64, length, control, destination, source, header CRC, then the
// user data in blocks of up to 16 bytes, each with its own CRC. CRCs are
// checked and counted, never used to reject a frame (a sensor should not lose
// the addresses because one data block was damaged). A frame cut by the end of
// the segment is reported (incomplete), not decoded. Bytes that are not a
// start sequence are skipped up to the next 0x05 0x64 (counted).
//
// Above the link layer only what identifies the conversation is read: the
// transport header (FIR/FIN/sequence) and, in a frame whose transport FIR is
// set, the application header (control, function code, and IIN for
// responses). Nothing is reassembled.
//
// Output: a plain struct, nothing allocated.
//
// Facts (dnp3_facts), one set per distinct (source, destination, DIR) in the
// segment, from frames whose header CRC is good:
//   subject::sender    dnp3/address  link source address (decimal)     conf 90
//   subject::sender    dnp3/role     "master" when DIR=1, else
//                                    "outstation"                      conf 80
//   subject::receiver  dnp3/address  link destination, unless it is a
//                                    reserved/broadcast address
//                                    (>= 0xFFF0)                       conf 70
//   subject::receiver  dnp3/role     the opposite of the sender's role conf 60
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "common/proto/facts.h"

namespace tapsense::proto {

// Named problems (dnp3_segment::error holds the first one met):
//   truncated_frame    the segment ends inside a frame: incomplete
//   bad_start          bytes before a frame that are not 0x05 0x64: skipped up
//                      to the next start sequence
//   bad_length         length field below 5 (control + addresses): the two
//                      start bytes are skipped and the scan goes on
//   header_crc         a header CRC mismatch (frame still decoded)
//   data_crc           a data block CRC mismatch (frame still decoded)
//   frame_overflow     more than dnp3_max_frames frames in one segment: the rest
//                      are framed and CRC-checked but not kept
#define TAPSENSE_DNP3_ERRORS(X) \
  X(none)                       \
  X(truncated_frame)            \
  X(bad_start)                  \
  X(bad_length)                 \
  X(header_crc)                 \
  X(data_crc)                   \
  X(frame_overflow)

enum class dnp3_error : std::uint8_t {
#define X(name) name,
  TAPSENSE_DNP3_ERRORS(X)
#undef X
      count_
};
inline constexpr std::size_t dnp3_error_count = static_cast<std::size_t>(dnp3_error::count_);
const char* dnp3_error_name(dnp3_error e) noexcept;

struct dnp3_error_counters {
  std::array<std::uint64_t, dnp3_error_count> n{};
  void add(dnp3_error e) noexcept {
    if (e != dnp3_error::none && e < dnp3_error::count_) {
      ++n[static_cast<std::size_t>(e)];
    }
  }
  std::uint64_t operator[](dnp3_error e) const noexcept { return n[static_cast<std::size_t>(e)]; }
};

inline constexpr std::uint16_t dnp3_port = 20000;
inline constexpr std::size_t dnp3_max_frames = 16;

// Application function codes named in the struct (IEEE 1815 table 4-1 ...).
namespace dnp3_function {
inline constexpr std::uint8_t confirm = 0;
inline constexpr std::uint8_t read = 1;
inline constexpr std::uint8_t write = 2;
inline constexpr std::uint8_t response = 129;
inline constexpr std::uint8_t unsolicited_response = 130;
inline constexpr std::uint8_t authentication_response = 131;
}  // namespace dnp3_function

struct dnp3_frame {
  std::uint8_t length = 0;   // as on the wire: control + addresses + user data
  std::uint8_t control = 0;  // DIR 0x80, PRM 0x40, FCB 0x20, FCV/DFC 0x10, function 0x0f
  std::uint16_t destination = 0;
  std::uint16_t source = 0;
  bool dir = false;  // set: sent by the master
  bool prm = false;  // set: primary (initiating) frame
  std::uint8_t link_function = 0;
  bool header_crc_ok = false;
  std::uint8_t blocks = 0;      // user-data blocks
  std::uint8_t bad_blocks = 0;  // blocks whose CRC did not match
  std::uint8_t user_data_len = 0;

  bool has_transport = false;  // user data present
  bool transport_fir = false;
  bool transport_fin = false;
  std::uint8_t transport_seq = 0;

  // Application header, in a frame with transport FIR and at least 2 bytes of
  // application data.
  bool has_application = false;
  std::uint8_t app_control = 0;  // FIR 0x80, FIN 0x40, CON 0x20, UNS 0x10, seq 0x0f
  std::uint8_t app_function = 0;
  bool has_iin = false;  // responses (129, 130, 131)
  std::uint16_t iin = 0;  // IIN1 in the high byte, as tshark's dnp3.al.iin
};

struct dnp3_segment {
  std::array<dnp3_frame, dnp3_max_frames> frames{};
  std::uint8_t frames_len = 0;
  std::uint16_t frames_seen = 0;  // complete frames, kept or not
  std::uint32_t crc_errors = 0;   // header and data block CRC mismatches
  std::uint32_t skipped = 0;      // bytes skipped looking for a start sequence
  std::size_t consumed = 0;       // bytes up to the end of the last complete frame
  bool incomplete = false;
  dnp3_error error = dnp3_error::none;

  std::span<const dnp3_frame> frame_list() const noexcept {
    return std::span<const dnp3_frame>(frames).first(frames_len);
  }
};

// The DNP3 CRC (polynomial 0x3D65, reflected, complemented) of `data`, as the
// 16-bit value whose low byte is sent first.
std::uint16_t dnp3_crc(std::span<const std::uint8_t> data) noexcept;

// Parses one TCP segment payload into `out` (reset first); returns out.error.
dnp3_error parse_dnp3(std::span<const std::uint8_t> payload, dnp3_segment& out) noexcept;

// "master" / "outstation" for a frame's sender.
std::string_view dnp3_sender_role(const dnp3_frame& f) noexcept;

void dnp3_facts(const dnp3_segment& seg, const packet_view& pkt, fact_sink& sink);

}  // namespace tapsense::proto
