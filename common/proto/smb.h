#pragma once
// SMB over TCP ([MS-SMB], [MS-SMB2], [MS-CIFS]) as far as it names the
// machines at each end: NetBIOS session requests, SMB1 and SMB2/3 NEGOTIATE,
// SMB1 SESSION_SETUP_ANDX (NativeOS, NativeLanMan, domain) and the
// security blobs of SESSION_SETUP in both versions: GSS-API / SPNEGO
// ([RFC 4178]) wrapped or raw NTLMSSP ([MS-NLMP]) NEGOTIATE, CHALLENGE
// (target info: NetBIOS and DNS names, Version) and AUTHENTICATE
// (workstation, domain, user, Version).
//
// Input: a contiguous prefix of one direction of a TCP stream, payload
// segments reassembled in sequence order, from its first byte (port 445,
// "direct TCP": a 4-byte header 0x00 + 24-bit length before each message;
// port 139: the NetBIOS session service header, same layout for session
// messages, plus the session request/response packets before them).
// parse_smb() reads the one transport frame at the start of its input; the
// caller steps through the stream:
//
//   for (std::size_t off = 0; off < prefix.size();) {
//     smb_message m;
//     if (parse_smb(prefix.subspan(off), m) == smb_error::incomplete) break;  // wait for more
//     smb_facts(m, pkt, sink);
//     if (m.error == smb_error::not_smb) break;  // not SMB, or lost framing
//     off += m.frame_len;
//   }
//
// Output: a plain, trivially copyable struct; strings are smb_string views
// into the caller's buffer (UTF-16LE or OEM bytes as on the wire, decoded
// by smb_string_utf8() when needed); nothing is allocated by the parser.
//
// Every read is preceded by a length check; offsets and lengths from the
// wire are checked against the message they point into. Problems have names
// and `error` holds the first one met; what was decoded before it is kept.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/net/addr.h"
#include "common/proto/facts.h"
#include "common/proto/nbns.h"

namespace tapsense::proto {

// Named results, in smb_message::error (the first one met):
//   incomplete        the frame (4-byte header + its length) runs past the
//                     end of the input: frame_len tells its full size when
//                     the 4 header bytes were there. Call again with more.
//   not_smb           not a NetBIOS session packet type, or a session
//                     message that does not start with an SMB protocol id
//                     (\xffSMB, \xfeSMB, \xfdSMB, \xfcSMB): stop reading
//                     this stream
//   truncated_smb     an SMB header, word block, byte block or command
//                     structure runs past the end of the frame
//   bad_offset        a security buffer or string offset/length pointing
//                     outside the message
//   bad_security_blob GSS-API/SPNEGO DER that is malformed (lengths past
//                     the end, depth over 10) before NTLMSSP was found
//   bad_ntlmssp       an NTLMSSP message too short for its type, or a field
//                     pointing outside it (that field is left empty)
#define TAPSENSE_SMB_ERRORS(X) \
  X(none)                      \
  X(incomplete)                \
  X(not_smb)                   \
  X(truncated_smb)             \
  X(bad_offset)                \
  X(bad_security_blob)         \
  X(bad_ntlmssp)

enum class smb_error : std::uint8_t {
#define X(name) name,
  TAPSENSE_SMB_ERRORS(X)
#undef X
      count_
};
inline constexpr std::size_t smb_error_count = static_cast<std::size_t>(smb_error::count_);
const char* smb_error_name(smb_error e) noexcept;

struct smb_error_counters {
  std::array<std::uint64_t, smb_error_count> n{};
  void add(smb_error e) noexcept {
    if (e != smb_error::none && e < smb_error::count_) {
      ++n[static_cast<std::size_t>(e)];
    }
  }
  std::uint64_t operator[](smb_error e) const noexcept { return n[static_cast<std::size_t>(e)]; }
};

// A string as sent: UTF-16LE (utf16) or OEM/ASCII bytes, without its
// terminating NUL. Absent when raw.data() == nullptr.
struct smb_string {
  std::span<const std::uint8_t> raw;
  bool utf16 = false;
  bool present() const noexcept { return raw.data() != nullptr; }
};

// UTF-8 text of `s` (UTF-16 surrogate pairs joined, unpaired ones and odd
// trailing bytes become U+FFFD; OEM bytes copied), cut at the first NUL.
std::string smb_string_utf8(const smb_string& s);

// NTLMSSP message ([MS-NLMP] 2.2.1).
namespace ntlm_flag {
inline constexpr std::uint32_t unicode = 0x00000001;
inline constexpr std::uint32_t oem_domain_supplied = 0x00001000;
inline constexpr std::uint32_t oem_workstation_supplied = 0x00002000;
inline constexpr std::uint32_t target_info = 0x00800000;
inline constexpr std::uint32_t version = 0x02000000;
}  // namespace ntlm_flag

struct ntlm_message {
  std::uint32_t type = 0;  // 1 NEGOTIATE, 2 CHALLENGE, 3 AUTHENTICATE; 0 none
  std::uint32_t flags = 0;
  // VERSION: "major.minor.build" is the Windows version of the sender.
  bool has_version = false;
  std::uint8_t version_major = 0;
  std::uint8_t version_minor = 0;
  std::uint16_t version_build = 0;
  std::uint8_t ntlm_revision = 0;
  // NEGOTIATE (OEM, and usually empty) and AUTHENTICATE:
  smb_string domain;
  smb_string workstation;
  // AUTHENTICATE:
  smb_string user;
  // CHALLENGE: TargetName and the AV pairs of TargetInfo.
  smb_string target_name;
  smb_string nb_computer;   // MsvAvNbComputerName
  smb_string nb_domain;     // MsvAvNbDomainName
  smb_string dns_computer;  // MsvAvDnsComputerName
  smb_string dns_domain;    // MsvAvDnsDomainName
  smb_string dns_tree;      // MsvAvDnsTreeName (forest)
  bool has_timestamp = false;
  std::uint64_t timestamp = 0;  // MsvAvTimestamp, FILETIME (100 ns since 1601)
};

// Parses an NTLMSSP message ("NTLMSSP\0" first) into `out` (reset first).
// Returns none or bad_ntlmssp.
smb_error parse_ntlmssp(std::span<const std::uint8_t> in, ntlm_message& out) noexcept;

// Finds the NTLMSSP token inside a security blob: the blob itself when it
// starts with "NTLMSSP\0", else the first OCTET STRING starting with it in a
// DER walk (GSS-API InitialContextToken, SPNEGO NegTokenInit mechToken or
// NegTokenResp responseToken). Empty span when there is none (Kerberos) and
// `err` untouched; `err` = bad_security_blob when the DER is malformed.
std::span<const std::uint8_t> find_ntlmssp(std::span<const std::uint8_t> blob,
                                           smb_error& err) noexcept;

enum class smb_version : std::uint8_t {
  none,        // a NetBIOS session control packet, or not parsed
  smb1,        // \xffSMB
  smb2,        // \xfeSMB (SMB 2.x and 3.x)
  encrypted,   // \xfdSMB: SMB3 TRANSFORM_HEADER, nothing readable
  compressed,  // \xfcSMB: SMB 3.1.1 COMPRESSION_TRANSFORM_HEADER, not decoded
};

namespace nbss_type {
inline constexpr std::uint8_t session_message = 0x00;
inline constexpr std::uint8_t session_request = 0x81;
inline constexpr std::uint8_t positive_response = 0x82;
inline constexpr std::uint8_t negative_response = 0x83;
inline constexpr std::uint8_t retarget_response = 0x84;
inline constexpr std::uint8_t keep_alive = 0x85;
}  // namespace nbss_type

namespace smb1_cmd {
inline constexpr std::uint8_t negotiate = 0x72;
inline constexpr std::uint8_t session_setup_andx = 0x73;
}  // namespace smb1_cmd
namespace smb2_cmd {
inline constexpr std::uint16_t negotiate = 0x0000;
inline constexpr std::uint16_t session_setup = 0x0001;
}  // namespace smb2_cmd

inline constexpr std::size_t smb_max_dialects = 32;

struct smb_message {
  // Transport frame: the 4-byte header plus its length (set whenever the 4
  // header bytes were there, even when incomplete).
  std::uint32_t frame_len = 0;
  std::uint8_t nbss_type = 0;
  // NetBIOS session request (port 139): the server's and client's names.
  bool has_session_request = false;
  netbios_name called;
  netbios_name calling;

  smb_version version = smb_version::none;
  bool response = false;     // SMB1 FLAGS reply bit / SMB2 SERVER_TO_REDIR
  std::uint16_t command = 0;  // of the first (SMB2: first relevant) command
  std::uint32_t status = 0;   // NT status (SMB1: when FLAGS2 says NT codes)
  std::uint16_t flags2 = 0;   // SMB1

  // ---- NEGOTIATE ----
  bool is_negotiate = false;
  // SMB1 request: dialect strings ("NT LM 0.12", "SMB 2.002", "SMB 2.???").
  std::array<std::string_view, smb_max_dialects> smb1_dialects{};
  std::uint8_t smb1_dialect_count = 0;
  // SMB2 request: dialect revisions (0x0202 ... 0x0311).
  std::array<std::uint16_t, smb_max_dialects> dialects{};
  std::uint8_t dialect_count = 0;
  // Response: SMB2 DialectRevision, or the SMB1 DialectIndex.
  std::uint16_t dialect = 0;
  // SMB2 request: ClientGuid; SMB2 response and SMB1 extended-security
  // response: ServerGuid.
  bool has_guid = false;
  std::array<std::uint8_t, 16> guid{};
  std::uint32_t capabilities = 0;
  std::uint16_t security_mode = 0;
  std::uint64_t system_time = 0;        // response, FILETIME
  std::uint64_t server_start_time = 0;  // SMB2 response, FILETIME (0 on most servers)
  // SMB1 response without extended security: the server's domain or
  // workgroup and its NetBIOS name.
  smb_string server_domain;
  smb_string server_name;

  // ---- SESSION_SETUP ----
  bool is_session_setup = false;
  // SMB1 request and response (absent in SMB2).
  smb_string native_os;
  smb_string native_lanman;
  smb_string primary_domain;
  smb_string account;  // SMB1 request without extended security
  // The security blob (SMB1 extended security, SMB2 SESSION_SETUP, SMB1/2
  // NEGOTIATE response) and the NTLMSSP message found in it.
  std::span<const std::uint8_t> security_blob;
  bool has_ntlm = false;
  ntlm_message ntlm;

  smb_error error = smb_error::none;

  std::span<const std::string_view> smb1_dialect_list() const noexcept {
    return std::span<const std::string_view>(smb1_dialects).first(smb1_dialect_count);
  }
  std::span<const std::uint16_t> dialect_list() const noexcept {
    return std::span<const std::uint16_t>(dialects).first(dialect_count);
  }
};

// Parses the transport frame at the start of `stream` into `out` (reset
// first); returns out.error. SMB2 compound requests are walked (up to 8
// commands); the NEGOTIATE or SESSION_SETUP among them is decoded.
smb_error parse_smb(std::span<const std::uint8_t> stream, smb_message& out) noexcept;

// "d2f5c5f2-..." in the mixed-endian form Windows and tshark show.
std::string smb_guid_string(const std::array<std::uint8_t, 16>& g);

// ---- Facts (facts.h) ----
// smb_facts, all about the packet's sender unless noted:
//  source "nbss" (session request, port 139):
//   netbios_name = calling name                                 sender    (80)
//   netbios_name = called name (not "*SMBSERVER")               receiver  (80)
//  source "smb":
//   SMB1 NEGOTIATE request: smb_dialects = "NT LM 0.12,SMB 2.002,..."   (60)
//   SMB2 NEGOTIATE request: smb_dialects = "0x0202,0x0210,...",
//                           smb_client_guid = GUID                      (80)
//   SMB2 NEGOTIATE response: smb_dialect = "0x0311",
//                            smb_server_guid = GUID                     (90)
//   SMB1 NEGOTIATE response: smb_server_guid (extended security), or
//                            workgroup = server domain, netbios_name =
//                            server name (without)                      (80)
//   SMB1 SESSION_SETUP request or response:
//                            native_os, native_lanman                   (90)
//                            smb_primary_domain = PrimaryDomain         (80)
//                            smb_account = AccountName (request)        (60)
//  source "ntlmssp" (ntlm_facts), any message carrying NTLMSSP:
//   ntlm_version = "major.minor.build" ("6.1.7601") of the sender: the
//                  server in a CHALLENGE, the client in NEGOTIATE and
//                  AUTHENTICATE                                          (90)
//   CHALLENGE (the server): netbios_name = NbComputerName,
//                  ntlm_domain = NbDomainName, dns_hostname =
//                  DnsComputerName, dns_domain = DnsDomainName,
//                  dns_forest = DnsTreeName, ntlm_target = TargetName    (90)
//   AUTHENTICATE (the client): netbios_name = Workstation,
//                  ntlm_domain = DomainName (85), ntlm_user = UserName   (70)
//   NEGOTIATE (the client): netbios_name / ntlm_domain when supplied     (70)
void smb_facts(const smb_message& m, const packet_view& pkt, fact_sink& sink);
void ntlm_facts(const ntlm_message& m, const packet_view& pkt, fact_sink& sink);

}  // namespace tapsense::proto
