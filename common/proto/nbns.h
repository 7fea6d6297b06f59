#pragma once
// NetBIOS over TCP/IP (RFC 1001, RFC 1002): the name service (NBNS, UDP 137)
// and the datagram service (UDP 138) with the Windows browser protocol
// ([MS-BRWS]) it carries in SMB mailslot writes to \MAILSLOT\BROWSE.
//
// Input: the UDP payload of one datagram, bounded by the UDP length.
// Output: plain, trivially copyable structs; nothing is allocated. NetBIOS
// names are decoded into the structs (16 bytes each); other text fields are
// views into the caller's buffer, valid as long as it is.
//
// Every read is preceded by a length check; problems have names and `error`
// holds the first one met. Structural problems stop the parse, keeping what
// came before.
//
// The caller picks the packets: UDP 137 -> parse_nbns/nbns_facts, UDP 138 ->
// parse_nbdgm/nbdgm_facts. Nothing here checks ports.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/net/addr.h"
#include "common/proto/dns.h"
#include "common/proto/facts.h"

namespace tapsense::proto {

// A NetBIOS name: 15 name bytes and a suffix byte (RFC 1001 section 14.1,
// the "first-level encoding" of 32 letters 'A'..'P'). Trailing spaces of
// the name are cut; other bytes are kept as they are (the wildcard "*" is
// padded with NULs). The scope ID, if any, is not kept (has_scope).
struct netbios_name {
  std::array<char, 15> bytes{};
  std::uint8_t len = 0;  // name bytes after trimming trailing spaces
  std::uint8_t suffix = 0;
  bool has_scope = false;

  std::string_view name() const noexcept { return {bytes.data(), len}; }
};

// "NAME<1d>": the name (through printable()) and the suffix in hex, as
// tshark shows NetBIOS names (tshark also spells out NULs as "<00>").
std::string netbios_name_string(const netbios_name& n);

// Decodes a first-level encoded name: exactly 32 bytes 'A'..'P' (either
// case is refused: the encoding is upper case). False otherwise.
bool netbios_decode(std::span<const std::uint8_t> encoded32, netbios_name& out) noexcept;

// Reads a second-level encoded name (a length-32 label, then optional scope
// labels; compression pointers followed with the DNS rules of dns.h) at
// `off` of `wire`. `end` receives the offset past the name.
enum class netbios_name_status : std::uint8_t {
  ok,
  bad_name,      // not a well-formed DNS name (see dns_read_name)
  bad_encoding,  // first label not 32 letters 'A'..'P'
};
netbios_name_status netbios_read_name(std::span<const std::uint8_t> wire, std::size_t off,
                                      netbios_name& out, std::size_t& end) noexcept;

// ---------------------------------------------------------------------------
// Name service (UDP 137)

// Named problems, in nbns_message::error (the first one met):
//   truncated_header    shorter than 12 bytes: nothing filled in
//   bad_name            a name that is not a valid DNS name (runs past the
//                       end, bad label type, bad pointer, too long)
//   bad_netbios_name    first label not 32 letters 'A'..'P'
//   truncated_record    question, record header or rdata past the end
//   bad_rdata           NB rdata not a multiple of 6 bytes, NBSTAT rdata
//                       shorter than its name count says: record kept, its
//                       addresses or names not (or partly) taken
//   too_many_records    more questions, records, addresses or node-status
//                       names than the struct holds: the rest dropped
#define TAPSENSE_NBNS_ERRORS(X) \
  X(none)                       \
  X(truncated_header)           \
  X(bad_name)                   \
  X(bad_netbios_name)           \
  X(truncated_record)           \
  X(bad_rdata)                  \
  X(too_many_records)

enum class nbns_error : std::uint8_t {
#define X(name) name,
  TAPSENSE_NBNS_ERRORS(X)
#undef X
      count_
};
inline constexpr std::size_t nbns_error_count = static_cast<std::size_t>(nbns_error::count_);
const char* nbns_error_name(nbns_error e) noexcept;

struct nbns_error_counters {
  std::array<std::uint64_t, nbns_error_count> n{};
  void add(nbns_error e) noexcept {
    if (e != nbns_error::none && e < nbns_error::count_) {
      ++n[static_cast<std::size_t>(e)];
    }
  }
  std::uint64_t operator[](nbns_error e) const noexcept { return n[static_cast<std::size_t>(e)]; }
};

namespace nbns_opcode {
inline constexpr std::uint8_t query = 0;
inline constexpr std::uint8_t registration = 5;
inline constexpr std::uint8_t release = 6;
inline constexpr std::uint8_t wack = 7;
inline constexpr std::uint8_t refresh = 8;
inline constexpr std::uint8_t refresh_alt = 9;  // what Windows sends for refresh
inline constexpr std::uint8_t multihomed_registration = 15;
}  // namespace nbns_opcode

namespace nbns_type {
inline constexpr std::uint16_t nb = 0x20;      // general name service record
inline constexpr std::uint16_t nbstat = 0x21;  // node status
}  // namespace nbns_type

// NB_FLAGS of one NB rdata entry: bit 15 group name, bits 13-14 owner node
// type (0 B, 1 P, 2 M, 3 H).
inline constexpr std::uint16_t nbns_flag_group = 0x8000;

inline constexpr std::size_t nbns_max_questions = 4;
inline constexpr std::size_t nbns_max_records = 16;
inline constexpr std::size_t nbns_max_addresses = 32;
inline constexpr std::size_t nbns_max_node_names = 32;

struct nbns_question {
  netbios_name name;
  std::uint16_t type = 0;  // nb or nbstat
  std::uint16_t qclass = 0;
};

// One entry of NB rdata: a name's flags and one address.
struct nbns_address {
  std::uint16_t flags = 0;
  net::ip_address addr{};  // IPv4, v4-mapped
};

// One name of a node status (NBSTAT) response.
struct nbns_node_name {
  netbios_name name;       // 15 bytes + suffix, not encoded
  std::uint16_t flags = 0;  // NAME_FLAGS: bit 15 group, bit 10 active, ...
};

struct nbns_rr {
  dns_section section = dns_section::answer;
  netbios_name name;
  std::uint16_t type = 0;
  std::uint16_t rclass = 0;
  std::uint32_t ttl = 0;
  std::uint16_t rdata_off = 0;
  std::uint16_t rdata_len = 0;
  // NB: entries [first_address, first_address + address_count) of
  // nbns_message::addresses.
  std::uint8_t first_address = 0;
  std::uint8_t address_count = 0;
};

struct nbns_message {
  std::span<const std::uint8_t> wire;
  std::uint16_t id = 0;
  std::uint16_t flags = 0;
  std::uint16_t qdcount = 0;
  std::uint16_t ancount = 0;
  std::uint16_t nscount = 0;
  std::uint16_t arcount = 0;

  std::array<nbns_question, nbns_max_questions> questions{};
  std::uint8_t question_len = 0;
  std::array<nbns_rr, nbns_max_records> records{};
  std::uint8_t record_len = 0;
  std::array<nbns_address, nbns_max_addresses> addresses{};
  std::uint8_t address_len = 0;

  // Node status response (the first NBSTAT record).
  bool has_node_status = false;
  std::array<nbns_node_name, nbns_max_node_names> node_names{};
  std::uint8_t node_name_len = 0;
  net::mac_address unit_id{};  // the responder's MAC as it reports it

  nbns_error error = nbns_error::none;

  bool is_response() const noexcept { return (flags & 0x8000) != 0; }
  std::uint8_t opcode() const noexcept { return static_cast<std::uint8_t>((flags >> 11) & 0x0f); }
  std::uint8_t rcode() const noexcept { return static_cast<std::uint8_t>(flags & 0x0f); }
  bool broadcast() const noexcept { return (flags & 0x0010) != 0; }
  std::span<const nbns_question> question_list() const noexcept {
    return std::span<const nbns_question>(questions).first(question_len);
  }
  std::span<const nbns_rr> record_list() const noexcept {
    return std::span<const nbns_rr>(records).first(record_len);
  }
  std::span<const nbns_address> addresses_of(const nbns_rr& rr) const noexcept {
    return std::span<const nbns_address>(addresses).subspan(rr.first_address, rr.address_count);
  }
  std::span<const nbns_node_name> node_name_list() const noexcept {
    return std::span<const nbns_node_name>(node_names).first(node_name_len);
  }
};

nbns_error parse_nbns(std::span<const std::uint8_t> udp_payload, nbns_message& out) noexcept;

// ---------------------------------------------------------------------------
// Datagram service (UDP 138) and the browser protocol

// Named problems, in nbdgm_message::error:
//   truncated_header    shorter than the datagram header for its type
//   bad_name            source or destination name malformed (either kind)
//   not_smb             direct/broadcast datagram whose user data is not an
//                       SMB (0xff 'SMB') message: header and names kept
//   bad_smb             SMB header, words or bytes running past the end, or
//                       not a Transaction request
//   bad_browser_frame   a browser frame shorter than its opcode needs
#define TAPSENSE_NBDGM_ERRORS(X) \
  X(none)                        \
  X(truncated_header)            \
  X(bad_name)                    \
  X(not_smb)                     \
  X(bad_smb)                     \
  X(bad_browser_frame)

enum class nbdgm_error : std::uint8_t {
#define X(name) name,
  TAPSENSE_NBDGM_ERRORS(X)
#undef X
      count_
};
inline constexpr std::size_t nbdgm_error_count = static_cast<std::size_t>(nbdgm_error::count_);
const char* nbdgm_error_name(nbdgm_error e) noexcept;

struct nbdgm_error_counters {
  std::array<std::uint64_t, nbdgm_error_count> n{};
  void add(nbdgm_error e) noexcept {
    if (e != nbdgm_error::none && e < nbdgm_error::count_) {
      ++n[static_cast<std::size_t>(e)];
    }
  }
  std::uint64_t operator[](nbdgm_error e) const noexcept { return n[static_cast<std::size_t>(e)]; }
};

namespace nbdgm_type {
inline constexpr std::uint8_t direct_unique = 0x10;
inline constexpr std::uint8_t direct_group = 0x11;
inline constexpr std::uint8_t broadcast = 0x12;
inline constexpr std::uint8_t error = 0x13;
inline constexpr std::uint8_t query_request = 0x14;
inline constexpr std::uint8_t positive_query_response = 0x15;
inline constexpr std::uint8_t negative_query_response = 0x16;
}  // namespace nbdgm_type

// Browser frame opcodes ([MS-BRWS] 2.2).
namespace browser_op {
inline constexpr std::uint8_t host_announcement = 0x01;
inline constexpr std::uint8_t announcement_request = 0x02;
inline constexpr std::uint8_t request_election = 0x08;
inline constexpr std::uint8_t get_backup_list_request = 0x09;
inline constexpr std::uint8_t get_backup_list_response = 0x0a;
inline constexpr std::uint8_t become_backup = 0x0b;
inline constexpr std::uint8_t domain_announcement = 0x0c;
inline constexpr std::uint8_t master_announcement = 0x0d;
inline constexpr std::uint8_t reset_state_request = 0x0e;
inline constexpr std::uint8_t local_master_announcement = 0x0f;
}  // namespace browser_op

struct nbdgm_message {
  std::uint8_t type = 0;
  std::uint8_t flags = 0;  // bit 0 MORE fragments, bit 1 FIRST, bits 2-3 node type
  std::uint16_t id = 0;
  net::ip_address src_ip{};  // as the datagram states it (v4-mapped)
  std::uint16_t src_port = 0;
  bool has_source = false;  // direct/broadcast datagrams carry both names
  netbios_name source;
  bool has_destination = false;  // also query requests/responses
  netbios_name destination;
  std::span<const std::uint8_t> user_data;  // direct/broadcast: after the names

  // SMB Transaction carrying a mailslot write.
  bool is_mailslot = false;
  std::string_view mailslot;  // "\MAILSLOT\BROWSE"; ASCII as sent
  std::span<const std::uint8_t> mailslot_data;

  // Browser frame (mailslot \MAILSLOT\BROWSE or \MAILSLOT\LANMAN).
  bool has_browser = false;
  std::uint8_t browser_command = 0;
  // HostAnnouncement, LocalMasterAnnouncement, DomainAnnouncement (the
  // three share one layout; in a DomainAnnouncement server_name is the
  // workgroup or domain, the version bytes are the browser configuration
  // version rather than the OS, and comment is the local master's name).
  bool is_announcement = false;
  std::uint8_t update_count = 0;
  std::uint32_t periodicity_ms = 0;
  std::string_view server_name;  // up to its first NUL (16 bytes at most)
  std::uint8_t version_major = 0;
  std::uint8_t version_minor = 0;
  std::uint32_t server_type = 0;  // SV_TYPE_* bits
  std::uint8_t browser_major = 0;
  std::uint8_t browser_minor = 0;
  std::uint16_t signature = 0;
  std::string_view comment;  // up to its first NUL or the end of the frame
  // MasterAnnouncement, BecomeBackup (browser to promote), GetBackupList
  // response (first name only) and ResetState carry a name, stored here.
  std::string_view other_name;

  nbdgm_error error = nbdgm_error::none;
};

nbdgm_error parse_nbdgm(std::span<const std::uint8_t> udp_payload, nbdgm_message& out) noexcept;

// ---- Facts (facts.h) ----
//
// Classification of a NetBIOS name by suffix and group bit (MS-BRWS 2.1.1,
// Microsoft's NetBIOS suffix table):
//   unique <00>, <20>              netbios_name   (workstation / file server)
//   group <00>, group <1e>,
//   unique <1d>                    workgroup      (workgroup or domain)
//   unique <1b>, group <1c>        domain         (domain master / controllers)
//   <01> __MSBROWSE__, others      no classified fact
// Every bound name also gives nbns_name = "NAME<xx>" (tshark's form).
//
// nbns_facts (source "nbns"):
//   name query request             nbns_query = "NAME<xx>" (sender; not for "*")   (40)
//   registration / refresh /
//   multihomed registration (req)  for each NB address in the additional record:
//                                  the classified name + nbns_name about the
//                                  address (subject::sender when it is the
//                                  packet's source IP, else subject::ip)       (85)
//   release (request)              same, confidence                             (50)
//   positive response (rcode 0)    the same for every NB answer record          (80)
//   node status response           every name in the table, classified, about
//                                  the sender; netbios_mac = unit ID
//                                  ("aa:bb:cc:dd:ee:ff", when not zero)         (90)
//
// nbdgm_facts (source "nbdgm" for the datagram header, "browser" for frames):
//   direct/broadcast datagram      netbios_name = source name (suffix <00> or
//                                  <20>) about the sender                       (70)
//   Host / LocalMaster Announcement (about the sender):
//                                  netbios_name = server name                   (90)
//                                  windows_version = "major.minor" (OS version) (80)
//                                  browser_server_type = "0x%08x"               (90)
//                                  browser_comment = comment                    (80)
//                                  workgroup = destination name when its
//                                  suffix is <1d> or <1e>                       (80)
//   DomainAnnouncement             workgroup = server name field                (80)
//                                  browser_config_version = "major.minor"       (60)
//                                  browser_server_type                          (90)
//                                  netbios_name = comment (the local master,
//                                  which is the sender)                         (70)
//   RequestElection, MasterAnnouncement
//                                  netbios_name = the name in the frame (the
//                                  sender's own)                                (70)
// Only \MAILSLOT\BROWSE is decoded; \MAILSLOT\LANMAN (LAN Manager
// announcements, a different layout) is left as mailslot data.
void nbns_facts(const nbns_message& m, const packet_view& pkt, fact_sink& sink);
void nbdgm_facts(const nbdgm_message& m, const packet_view& pkt, fact_sink& sink);

}  // namespace tapsense::proto
