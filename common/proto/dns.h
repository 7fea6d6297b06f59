#pragma once
// DNS message parser (RFC 1035) shared by unicast DNS (port 53), multicast
// DNS / DNS-SD (RFC 6762, RFC 6763, port 5353) and LLMNR (RFC 4795, port
// 5355), which all use the same wire format.
//
// Input: the UDP payload of one message, bounded by the UDP length. (DNS
// over TCP: strip the 2-byte length prefix first and pass one message.)
// Output: a plain, trivially copyable struct (about 6 KB: keep one per worker
// and reuse it). Nothing is allocated. Names are not copied: questions and
// records hold the wire offset of their name, and dns_name_at() decodes one
// into a caller's buffer on demand (names may be compressed, so they cannot
// be views). dns_message::wire is a view of the caller's buffer: the struct
// is valid only as long as that buffer is.
//
// Every read is preceded by a length check. Problems have names
// (dns_error); `error` holds the first one met. A broken header, question or
// record header stops the parse, keeping everything before it; broken rdata
// (an A record of 5 bytes, a PTR whose name points forward) only leaves that
// record's typed fields unset (rdata_ok false) and the walk goes on, since
// rdlength still frames the next record.
//
// Compression pointers must point strictly before the start of the label
// run they interrupt (the start of the name, or the target of the previous
// pointer). That admits every pointer an encoder produces (to an earlier
// occurrence) and rejects forward pointers, self pointers and every loop,
// since the run starts strictly decrease. Labels of 64..191 bytes (the
// reserved 0x40/0x80 label types) and names over 255 octets are errors.
//
// The caller picks the packets and the facts function by port: UDP 53 ->
// dns_facts, 5353 -> mdns_facts, 5355 -> llmnr_facts. Nothing here checks
// ports.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/net/addr.h"
#include "common/proto/facts.h"

namespace tapsense::proto {

// Named problems, in dns_message::error (the first one met):
//   truncated_header   shorter than the 12-byte header: nothing is filled in
//   truncated_name     a name runs past the end of the message
//   bad_label_type     a label length byte 0x40..0xbf (reserved label types;
//                      a plain label cannot be longer than 63)
//   bad_pointer        a compression pointer not strictly before the label
//                      run it interrupts (forward, self, loop) or past the end
//   name_too_long      more than 255 octets in wire form
//   truncated_record   a question, record header or rdata runs past the end;
//                      also counts that claim more entries than the bytes hold
//   bad_rdata          rdata that does not fit its type (A not 4 bytes, AAAA
//                      not 16, a broken name in CNAME/PTR/NS/SRV/MX, TXT
//                      strings not filling the rdata): record kept, typed
//                      fields unset
//   too_many_records   more questions or records than the struct holds
//                      (dns_max_questions, dns_max_records): the rest are
//                      walked and validated but not stored
// An error in a question or owner name (the first four) stops the parse.
#define TAPSENSE_DNS_ERRORS(X) \
  X(none)                      \
  X(truncated_header)          \
  X(truncated_name)            \
  X(bad_label_type)            \
  X(bad_pointer)               \
  X(name_too_long)             \
  X(truncated_record)          \
  X(bad_rdata)                 \
  X(too_many_records)

enum class dns_error : std::uint8_t {
#define X(name) name,
  TAPSENSE_DNS_ERRORS(X)
#undef X
      count_
};
inline constexpr std::size_t dns_error_count = static_cast<std::size_t>(dns_error::count_);

// "bad_pointer", ...; "unknown" outside the enum.
const char* dns_error_name(dns_error e) noexcept;

// One counter per problem, for the caller's heartbeat; single writer.
struct dns_error_counters {
  std::array<std::uint64_t, dns_error_count> n{};
  void add(dns_error e) noexcept {
    if (e != dns_error::none && e < dns_error::count_) {
      ++n[static_cast<std::size_t>(e)];
    }
  }
  std::uint64_t operator[](dns_error e) const noexcept { return n[static_cast<std::size_t>(e)]; }
};

// Record types the parser decodes (others keep raw rdata only).
namespace dns_type {
inline constexpr std::uint16_t a = 1;
inline constexpr std::uint16_t ns = 2;
inline constexpr std::uint16_t cname = 5;
inline constexpr std::uint16_t ptr = 12;
inline constexpr std::uint16_t mx = 15;
inline constexpr std::uint16_t txt = 16;
inline constexpr std::uint16_t aaaa = 28;
inline constexpr std::uint16_t srv = 33;
inline constexpr std::uint16_t dname = 39;
inline constexpr std::uint16_t opt = 41;
inline constexpr std::uint16_t nsec = 47;
inline constexpr std::uint16_t any = 255;
}  // namespace dns_type

enum class dns_section : std::uint8_t { answer, authority, additional };

inline constexpr std::size_t dns_max_questions = 64;
inline constexpr std::size_t dns_max_records = 128;
// Wire offsets are 16-bit: a DNS message never exceeds 65535 bytes. Bytes
// beyond that are ignored.
inline constexpr std::uint16_t dns_no_name = 0xffff;

struct dns_question {
  std::uint16_t name_off = 0;  // wire offset of the name (dns_name_at)
  std::uint16_t type = 0;
  std::uint16_t qclass = 0;  // as on the wire; mDNS: bit 15 asks for a unicast reply
};

struct dns_rr {
  dns_section section = dns_section::answer;
  std::uint16_t name_off = 0;  // wire offset of the owner name
  std::uint16_t type = 0;
  std::uint16_t rclass = 0;  // as on the wire; mDNS: bit 15 is cache-flush
  std::uint32_t ttl = 0;     // seconds
  std::uint16_t rdata_off = 0;
  std::uint16_t rdata_len = 0;
  // Typed rdata, valid when rdata_ok:
  //   A, AAAA:                 addr (IPv4 stored v4-mapped)
  //   CNAME, PTR, NS, DNAME:   target_off, the name in rdata
  //   SRV:                     priority, weight, port, target_off
  //   MX:                      priority (the preference), target_off
  //   TXT:                     strings well formed (read with dns_txt_reader)
  bool rdata_ok = false;
  net::ip_address addr{};
  std::uint16_t target_off = dns_no_name;
  std::uint16_t priority = 0;
  std::uint16_t weight = 0;
  std::uint16_t port = 0;

  std::uint16_t class_code() const noexcept { return rclass & 0x7fff; }
  bool cache_flush() const noexcept { return (rclass & 0x8000) != 0; }
};

struct dns_message {
  std::span<const std::uint8_t> wire;  // the whole message (names decode from it)
  std::uint16_t id = 0;
  std::uint16_t flags = 0;
  // Counts as on the wire (they may claim more than is there).
  std::uint16_t qdcount = 0;
  std::uint16_t ancount = 0;
  std::uint16_t nscount = 0;
  std::uint16_t arcount = 0;

  std::array<dns_question, dns_max_questions> questions{};
  std::uint8_t question_len = 0;
  // Records of all three sections, in wire order (rr.section tells which).
  std::array<dns_rr, dns_max_records> records{};
  std::uint8_t record_len = 0;

  dns_error error = dns_error::none;

  bool is_response() const noexcept { return (flags & 0x8000) != 0; }
  std::uint8_t opcode() const noexcept { return static_cast<std::uint8_t>((flags >> 11) & 0x0f); }
  bool authoritative() const noexcept { return (flags & 0x0400) != 0; }
  bool truncated() const noexcept { return (flags & 0x0200) != 0; }  // TC bit
  std::uint8_t rcode() const noexcept { return static_cast<std::uint8_t>(flags & 0x0f); }
  std::span<const dns_question> question_list() const noexcept {
    return std::span<const dns_question>(questions).first(question_len);
  }
  std::span<const dns_rr> record_list() const noexcept {
    return std::span<const dns_rr>(records).first(record_len);
  }
  std::span<const std::uint8_t> rdata(const dns_rr& rr) const noexcept {
    return wire.subspan(rr.rdata_off, rr.rdata_len);
  }
};

// Parses `udp_payload` into `out` (reset first) and returns out.error.
dns_error parse_dns(std::span<const std::uint8_t> udp_payload, dns_message& out) noexcept;

// A decoded name: labels joined by '.', no trailing dot, "" for the root.
// Label bytes are copied as they are (mDNS instance names are UTF-8 and may
// hold spaces or dots); pass the text through printable() before showing it.
struct dns_name_buf {
  std::array<char, 256> text{};
  std::uint16_t len = 0;
  std::uint8_t labels = 0;
  std::uint8_t first_label_len = 0;  // bytes of the first label (NetBIOS names: 32)
  std::string_view view() const noexcept { return {text.data(), len}; }
};

// Decodes the name at `off` of `wire` (with the pointer rules above) into
// `out`. Returns none or the name error (truncated_name, bad_label_type,
// bad_pointer, name_too_long). `end`, when given, receives the offset just
// past the name where it started (past the first pointer, if any).
dns_error dns_read_name(std::span<const std::uint8_t> wire, std::size_t off, dns_name_buf& out,
                        std::size_t* end = nullptr) noexcept;

// The name at a stored offset of `m` (a question's or record's name_off, or
// target_off); "" when the offset is dns_no_name. Allocates the string.
std::string dns_name_at(const dns_message& m, std::uint16_t off);

// Case-insensitive (ASCII) comparison of two names of `m`, allocation-free.
bool dns_names_equal(const dns_message& m, std::uint16_t a, std::uint16_t b) noexcept;

// The address a reverse-mapping name stands for: "4.3.2.1.in-addr.arpa" ->
// 1.2.3.4, 32 nibble labels + "ip6.arpa" -> the IPv6 address (suffixes
// matched case-insensitively). nullopt for anything else, including partial
// (network) names.
std::optional<net::ip_address> dns_reverse_address(std::string_view name) noexcept;

// Walks TXT rdata (RFC 1035 section 3.3.14): a run of length-prefixed
// character-strings.
//   dns_txt_reader r(m.rdata(rr)); std::string_view s; while (r.next(s)) {...}
// next() returns false at the end or at a string running past the rdata
// (malformed() then tells which).
class dns_txt_reader {
 public:
  explicit dns_txt_reader(std::span<const std::uint8_t> rdata) noexcept : rdata_(rdata) {}
  bool next(std::string_view& s) noexcept;
  bool malformed() const noexcept { return malformed_; }

 private:
  std::span<const std::uint8_t> rdata_;
  std::size_t pos_ = 0;
  bool malformed_ = false;
};

// ---- Facts (facts.h) ----
//
// dns_facts (source "dns"), for UDP port 53. Responses only, every section:
//   PTR whose owner is a reverse name   subject::ip (the address the owner
//                                       encodes)  hostname = PTR target   (70)
//   A / AAAA                            subject::ip (the address)
//                                       dns_name = owner name             (90)
//                                       dns_name = every CNAME alias in the
//                                       message that leads to the owner   (80)
//                                       dns_name_ttl = "<name>/<ttl>" for
//                                       each of those names, the TTL of
//                                       the A/AAAA record (its lifetime)  (90)
// Queries: dns_query = question name, subject::sender                     (30)
//
// mdns_facts (source "mdns"), for UDP port 5353. Responses (every section)
// and the authority section of queries (probes claim records there):
//   A / AAAA, owner "<host>.local"      hostname = "<host>" about the
//                                       address: subject::sender when it is
//                                       the packet's source IP, else
//                                       subject::ip                       (90)
//   PTR, reverse-name owner             hostname = target minus ".local",
//                                       same subject rule                 (85)
//   PTR _services._dns-sd._udp.local    mdns_service = "_svc._tcp" (sender)
//   PTR/SRV/TXT of "<inst>._svc._tcp.local"
//                                       mdns_service = "_svc._tcp",
//                                       instance_name = "<inst>" (sender) (80)
//   SRV target "<host>.local"           srv_hostname = "<host>" (sender)  (60)
//   TXT key=value strings (sender; keys matched case-insensitively):
//       model=   -> model                osxvers= -> osxvers             (80)
//       md= fn= am= ty= product= usb_MFG= usb_MDL= mfg= mdl= manufacturer=
//       vendor= serialNumber= deviceid= srcvers= vs= rpMd= rpVr= ve= os=
//       osver= firmware= fv= hw= sw= version= name= device= ...
//                 -> "txt:<key>" = value (the table is dns.cpp txt_fields)
//       any other key -> txt = "key=value" (or "key" when it has no '=')  (60)
// Queries: mdns_query = question name, subject::sender                    (30)
//
// llmnr_facts (source "llmnr"), for UDP port 5355:
//   query                               llmnr_query = name (sender)       (60)
//   response A / AAAA answer            hostname = owner name about the
//                                       sender (responders answer only for
//                                       their own names)                  (85)
//                                       and, when the address is not the
//                                       source IP, about subject::ip      (80)
// Values go through printable(). Duplicate facts within one message are
// emitted once.
void dns_facts(const dns_message& m, const packet_view& pkt, fact_sink& sink);
void mdns_facts(const dns_message& m, const packet_view& pkt, fact_sink& sink);
void llmnr_facts(const dns_message& m, const packet_view& pkt, fact_sink& sink);

}  // namespace tapsense::proto
