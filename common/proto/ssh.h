#pragma once
// SSH identification and key exchange init (RFC 4253 sections 4.2, 6, 7.1),
// for fingerprinting: the version line ("SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.11")
// and the first SSH_MSG_KEXINIT, whose algorithm lists give HASSH (client)
// and HASSH-server (Salesforce).
//
// Input: a prefix of ONE direction of a TCP stream from its first payload
// byte (segments reassembled in sequence order; it may stop anywhere), and
// which side sent it. Both directions look alike on the wire; the role only
// decides which HASSH the facts carry and whether lines may precede the
// version line (servers only, RFC 4253 4.2).
//
// "Call again" protocol, as for TLS: ssh_error::incomplete means the prefix
// ends before the version line or the KEXINIT is whole; call again with a
// longer prefix (parsing restarts at the first byte). What is already whole
// (the version line) is filled in even then, so a caller that gives up (a
// byte or segment bound of its own, e.g. 8 KiB) can still emit it. Any other
// result is final. SSH 1.x peers (a version other than 1.99 or 2.x) send no
// KEXINIT: the parse ends with none and ssh1_only set.
//
// Output: a plain, trivially copyable struct holding copies (about 8.5 KB).
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/proto/facts.h"

namespace tapsense::proto {

// Named problems, the result of a parse:
//   incomplete          more bytes needed (see above)
//   not_ssh             no "SSH-" version line where one must be: the client's
//                       first line, or the server's within 16 lines
//   long_line           a version line longer than 255 bytes with CR LF
//                       (RFC 4253 4.2), or another line longer than 1024
//   bad_packet_length   packet_length < 5 or > 35000 (RFC 4253 6.1), or
//                       padding_length not smaller than packet_length
//   unexpected_message  the first binary packet is not SSH_MSG_KEXINIT (20)
//   bad_kexinit         a name-list runs past the KEXINIT payload
//   list_overflow       the name-lists exceed ssh_kexinit's 8 KiB store
#define TAPSENSE_SSH_ERRORS(X) \
  X(none)                      \
  X(incomplete)                \
  X(not_ssh)                   \
  X(long_line)                 \
  X(bad_packet_length)         \
  X(unexpected_message)        \
  X(bad_kexinit)               \
  X(list_overflow)

enum class ssh_error : std::uint8_t {
#define X(name) name,
  TAPSENSE_SSH_ERRORS(X)
#undef X
      count_
};
inline constexpr std::size_t ssh_error_count = static_cast<std::size_t>(ssh_error::count_);

const char* ssh_error_name(ssh_error e) noexcept;

struct ssh_error_counters {
  std::array<std::uint64_t, ssh_error_count> n{};
  void add(ssh_error e) noexcept {
    if (e != ssh_error::none && e < ssh_error::count_) {
      ++n[static_cast<std::size_t>(e)];
    }
  }
  std::uint64_t operator[](ssh_error e) const noexcept { return n[static_cast<std::size_t>(e)]; }
};

enum class ssh_role : std::uint8_t { client, server };

// The ten name-lists of SSH_MSG_KEXINIT, in wire order.
enum class ssh_list : std::uint8_t {
  kex,
  host_key,
  enc_c2s,
  enc_s2c,
  mac_c2s,
  mac_s2c,
  comp_c2s,
  comp_s2c,
  lang_c2s,
  lang_s2c,
  count_
};

struct ssh_kexinit {
  // The name-lists' bytes, back to back; list(i) views into it.
  std::array<char, 8192> store{};
  std::uint16_t used = 0;
  struct slice {
    std::uint16_t off = 0;
    std::uint16_t len = 0;
  };
  std::array<slice, static_cast<std::size_t>(ssh_list::count_)> lists{};
  bool first_kex_packet_follows = false;

  // "curve25519-sha256,ecdh-sha2-nistp256,..." as on the wire.
  std::string_view list(ssh_list which) const noexcept {
    const slice s = lists[static_cast<std::size_t>(which)];
    return {store.data() + s.off, s.len};
  }
};

struct ssh_handshake {
  ssh_role role = ssh_role::client;

  // The version line without its CR LF ("SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.11"),
  // split per RFC 4253 4.2 into protoversion ("2.0"), softwareversion
  // ("OpenSSH_8.2p1", everything up to the first space) and comments
  // ("Ubuntu-4ubuntu0.11", after it; empty when absent).
  bool has_banner = false;
  std::array<char, 255> line{};
  std::uint8_t line_len = 0;
  std::uint8_t proto_len = 0;     // at offset 4
  std::uint8_t software_off = 0;
  std::uint8_t software_len = 0;
  std::uint8_t comments_off = 0;
  std::uint8_t comments_len = 0;
  std::uint8_t lines_before = 0;  // other lines the server sent first
  bool ssh1_only = false;         // protocol 1.x but not 1.99: no KEXINIT follows

  bool has_kexinit = false;
  std::uint32_t kexinit_packet_length = 0;
  ssh_kexinit kexinit;

  ssh_error error = ssh_error::none;

  std::string_view banner() const noexcept { return {line.data(), line_len}; }
  std::string_view proto_version() const noexcept { return {line.data() + 4, proto_len}; }
  std::string_view software_version() const noexcept {
    return {line.data() + software_off, software_len};
  }
  std::string_view comments() const noexcept { return {line.data() + comments_off, comments_len}; }
};

// Parses the start of one direction of an SSH connection. Resets `out`
// first (out.role = role); returns out.error.
ssh_error parse_ssh(std::span<const std::uint8_t> stream, ssh_role role,
                    ssh_handshake& out) noexcept;

// ---------------------------------------------------------------------------
// Renderers.

// HASSH (client): "kex;enc_c2s;mac_c2s;comp_c2s" and its MD5, lower-case
// hex. tshark's ssh.kex.hassh_algorithms / ssh.kex.hassh.
std::string hassh_string(const ssh_kexinit& k);
std::string hassh(const ssh_kexinit& k);
// HASSH-server: "kex;enc_s2c;mac_s2c;comp_s2c" and its MD5 (ssh.kex.hasshserver).
std::string hassh_server_string(const ssh_kexinit& k);
std::string hassh_server(const ssh_kexinit& k);

// softwareversion as name and version, split at the first '_' or '-' that
// is followed by a digit ("OpenSSH_8.2p1" -> OpenSSH, 8.2p1;
// "OpenSSH_for_Windows_8.1" -> OpenSSH_for_Windows, 8.1; "Cisco-1.25" ->
// Cisco, 1.25; "APACHE-SSHD-2.5.0" -> APACHE-SSHD, 2.5.0). version is empty
// when there is no such split ("Go").
struct ssh_software {
  std::string_view name;
  std::string_view version;
};
ssh_software ssh_software_of(std::string_view softwareversion) noexcept;

// ---------------------------------------------------------------------------
// Facts (facts.h), all about the sender (the side given as role):
//   ssh/banner (100)          the version line
//   ssh/protocol (100)        "2.0", "1.99"
//   software (90)             "OpenSSH/8.2p1" (only when a version was split off)
//   ssh/os_hint (70)          the comments as sent: "Ubuntu-4ubuntu0.11"
//   ssh/hassh, ssh/hassh_string (100)                client with a KEXINIT
//   ssh/hassh_server, ssh/hassh_server_string (100)  server with a KEXINIT
void ssh_facts(const ssh_handshake& h, const packet_view& pkt, fact_sink& sink);

}  // namespace tapsense::proto
