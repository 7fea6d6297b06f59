#pragma once
// S7comm identity parser: TPKT (RFC 1006) / COTP (ISO 8073 class 0) / S7comm
// (protocol id 0x32) userdata "Read SZL" responses for the identification
// lists SZL-ID xy11 (module identification) and xy1C (component
// identification). Record layouts as in the S7-300/400 System Software
// manual (SZL chapter) and Wireshark's packet-s7comm_szl_ids.c.
//
// Input: the payload of ONE TCP segment to or from port 102, either direction.
// Every complete TPKT in it is framed; one cut by the end of the segment is
// reported (incomplete). COTP connection requests/confirms are read for their
// TSAPs; COTP data (DT) TPDUs carry S7comm. A DT without end-of-TSDU that
// carries data (a PDU split over TPDUs) is counted and skipped. S7comm-plus
// (protocol id 0x72) is recognised and skipped.
//
// Long SZL answers come in several userdata PDUs ("last data unit" = no,
// then follow-ups with the same data unit reference); only the first carries
// the SZL header (id, index, record length, count), and a record may be cut
// between two PDUs. The caller keeps an s7comm_flow_state per TCP connection
// and passes it to every call (both directions): it carries the list being
// read and the partial record across PDUs. Without it (nullptr) only the
// first PDU of a fragmented answer is decoded, and a follow-up PDU is read as
// if it began a new answer (the fixed record lengths make a false
// identification list unlikely, not impossible).
//
// Output: a plain struct; identity records are copied into it (fixed-size
// text), so they survive the input buffer.
//
// Facts (s7comm_facts), from responses, about subject::sender (the PLC):
//   s7comm/order_number      xy11 index 1 MlfB ("6ES7 315-2EH14-0AB0")    conf 90
//   s7comm/hardware_version  xy11 index 6 (else 1) Ausbg: "V1.2.3" when in
//                            'V' form, else decimal ("4")                 conf 70
//   s7comm/firmware          xy11 index 7: "V3.2.6" (Ausbg 'V' major,
//                            Ausbe minor, patch)                          conf 90
//   s7comm/plc_name          xy1C index 1 ("SNAP7-SERVER")                conf 90
//   s7comm/device_name       the same value (common field name)          conf 90
//   s7comm/module_name       xy1C index 2                                 conf 90
//   s7comm/plant_id          xy1C index 3 (plant designation)             conf 70
//   s7comm/copyright         xy1C index 4                                 conf 70
//   s7comm/serial            xy1C index 5 ("S C-C2UR28922012")            conf 90
//   s7comm/model             xy1C index 7 module type name                conf 90
//   s7comm/memory_card_serial xy1C index 8                                conf 70
//   s7comm/vendor_id         xy1C index 9 manufacturer id, "0x002a" (the
//                            PROFIBUS/PROFINET manufacturer registry)     conf 90
//   s7comm/vendor            its name from the caller's lookup
//                            (fingerprinter/data/profinet_vendors.toml)    conf 80
//   s7comm/location          xy1C index 0x0b                              conf 70
// Text values pass through printable() (trailing blanks and NULs cut); empty
// values are not emitted.
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "common/proto/facts.h"

namespace tapsense::proto {

// Named problems (s7comm_segment::error, the first met):
//   truncated_tpkt       the segment ends inside a TPKT: incomplete
//   bad_tpkt             TPKT version not 3 or length < 7: rest of segment skipped
//   bad_cotp             COTP length indicator past the TPKT: that TPKT skipped
//   cotp_fragment        a DT TPDU without EOT carrying data: skipped
//   truncated_s7         the S7 header, parameters or data run past the TPKT
//   bad_szl              an identification list whose record length is not the
//                        fixed 28 (xy11) / 34 (xy1C) bytes: records not decoded
//   item_overflow        more records than the struct keeps
//   pdu_overflow         more S7 PDUs in one segment than the struct keeps
#define TAPSENSE_S7COMM_ERRORS(X) \
  X(none)                         \
  X(truncated_tpkt)               \
  X(bad_tpkt)                     \
  X(bad_cotp)                     \
  X(cotp_fragment)                \
  X(truncated_s7)                 \
  X(bad_szl)                      \
  X(item_overflow)                \
  X(pdu_overflow)

enum class s7comm_error : std::uint8_t {
#define X(name) name,
  TAPSENSE_S7COMM_ERRORS(X)
#undef X
      count_
};
inline constexpr std::size_t s7comm_error_count = static_cast<std::size_t>(s7comm_error::count_);
const char* s7comm_error_name(s7comm_error e) noexcept;

struct s7comm_error_counters {
  std::array<std::uint64_t, s7comm_error_count> n{};
  void add(s7comm_error e) noexcept {
    if (e != s7comm_error::none && e < s7comm_error::count_) {
      ++n[static_cast<std::size_t>(e)];
    }
  }
  std::uint64_t operator[](s7comm_error e) const noexcept { return n[static_cast<std::size_t>(e)]; }
};

inline constexpr std::uint16_t s7comm_port = 102;
inline constexpr std::size_t s7comm_max_pdus = 4;
inline constexpr std::size_t s7comm_max_0011 = 8;
inline constexpr std::size_t s7comm_max_001c = 12;

namespace s7comm_rosctr {
inline constexpr std::uint8_t job = 1;
inline constexpr std::uint8_t ack = 2;
inline constexpr std::uint8_t ack_data = 3;
inline constexpr std::uint8_t userdata = 7;
}  // namespace s7comm_rosctr

// Text copied out of an SZL record, up to its first NUL (trailing blanks kept,
// as tshark shows them).
template <std::size_t N>
struct s7comm_text {
  std::array<char, N> buf{};
  std::uint8_t len = 0;
  std::string_view view() const noexcept { return {buf.data(), len}; }
};

// One record of SZL xy11 (28 bytes): index, MlfB, BGTyp, Ausbg, Ausbe.
struct s7comm_szl_0011 {
  std::uint16_t index = 0;  // 1 module, 6 basic hardware, 7 basic firmware, 0x81 ...
  s7comm_text<20> mlfb;
  std::uint16_t bgtyp = 0;
  std::uint16_t ausbg = 0;
  std::uint16_t ausbe = 0;
};

// One record of SZL xy1C (34 bytes): index, then text or, for index 9, ids.
struct s7comm_szl_001c {
  std::uint16_t index = 0;
  s7comm_text<32> text;
  std::uint16_t manufacturer_id = 0;  // index 9
  std::uint16_t profile_id = 0;
  std::uint16_t profile_specific_type = 0;
};

// One S7comm PDU (in one COTP DT).
struct s7comm_pdu {
  std::uint8_t protocol_id = 0;  // 0x32 (0x72: S7comm-plus, nothing else decoded)
  std::uint8_t rosctr = 0;
  std::uint16_t pdu_ref = 0;
  std::uint16_t param_length = 0;
  std::uint16_t data_length = 0;
  std::uint8_t error_class = 0;  // ack / ack_data
  std::uint8_t error_code = 0;
  // Job / ack_data: the first parameter byte, the function (0xf0 setup
  // communication, 0x04 read var, 0x05 write var, 0x1d start upload ...).
  std::uint8_t function = 0;
  // Userdata parameters.
  bool userdata = false;
  std::uint8_t method = 0;       // 0x11 request, 0x12 response
  std::uint8_t type = 0;         // high nibble of type/group: 4 request, 8 response
  std::uint8_t function_group = 0;  // 4: CPU functions
  std::uint8_t subfunction = 0;     // 1: read SZL
  std::uint8_t sequence = 0;
  std::uint8_t data_unit_ref = 0;
  bool last_data_unit = true;
  std::uint16_t userdata_error = 0;
  // Read SZL.
  bool read_szl = false;
  bool continuation = false;  // a follow-up PDU of a fragmented answer
  std::uint8_t return_code = 0;
  std::uint16_t szl_id = 0;     // request, or the answer (first PDU, or from state)
  std::uint16_t szl_index = 0;
};

// Per TCP connection; zero-initialise when the connection is first seen.
struct s7comm_flow_state {
  bool active = false;  // a fragmented answer (of any SZL) is being read
  std::uint8_t data_unit_ref = 0;
  std::uint16_t szl_id = 0;
  std::uint16_t szl_index = 0;
  std::uint16_t record_len = 0;
  std::uint16_t records_left = 0;
  std::array<std::uint8_t, 64> carry{};  // a record cut between PDUs
  std::uint8_t carry_len = 0;
  std::uint16_t last_request_szl_id = 0;  // the most recent Read SZL request
  std::uint16_t last_request_szl_index = 0;
  // COTP connection TSAPs (from CR/CC).
  std::uint16_t calling_tsap = 0;
  std::uint16_t called_tsap = 0;
};

struct s7comm_segment {
  std::array<s7comm_pdu, s7comm_max_pdus> pdus{};
  std::uint8_t pdus_len = 0;
  std::uint16_t tpkts = 0;
  std::size_t consumed = 0;
  bool incomplete = false;
  // COTP connection request/confirm seen in this segment.
  bool has_tsap = false;
  std::uint8_t cotp_type = 0;  // 0xe0 CR, 0xd0 CC
  std::uint16_t calling_tsap = 0;
  std::uint16_t called_tsap = 0;
  // Identity records completed in this segment.
  std::array<s7comm_szl_0011, s7comm_max_0011> module_ids{};
  std::uint8_t module_ids_len = 0;
  std::array<s7comm_szl_001c, s7comm_max_001c> component_ids{};
  std::uint8_t component_ids_len = 0;
  s7comm_error error = s7comm_error::none;

  std::span<const s7comm_pdu> pdu_list() const noexcept {
    return std::span<const s7comm_pdu>(pdus).first(pdus_len);
  }
  std::span<const s7comm_szl_0011> module_id_list() const noexcept {
    return std::span<const s7comm_szl_0011>(module_ids).first(module_ids_len);
  }
  std::span<const s7comm_szl_001c> component_id_list() const noexcept {
    return std::span<const s7comm_szl_001c>(component_ids).first(component_ids_len);
  }
};

// Parses one TCP segment payload into `out` (reset first). `state` may be
// null (no follow-up PDUs).
s7comm_error parse_s7comm(std::span<const std::uint8_t> tcp_payload, s7comm_segment& out,
                          s7comm_flow_state* state = nullptr) noexcept;

// "V3.2.6" for a 'V'-form Ausbg/Ausbe pair, else the decimal Ausbg.
std::string s7comm_version(std::uint16_t ausbg, std::uint16_t ausbe);

// Maps a PROFIBUS/PROFINET manufacturer id to a name, "" when unknown.
using s7comm_vendor_lookup = std::function<std::string_view(std::uint16_t)>;

void s7comm_facts(const s7comm_segment& seg, const packet_view& pkt, fact_sink& sink,
                  const s7comm_vendor_lookup& vendors = {});

}  // namespace tapsense::proto
