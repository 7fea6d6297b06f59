#pragma once
// p0f v3 TCP SYN / SYN+ACK fingerprinting, verdict-compatible with p0f 3.09b.
//
// Two steps, as for every fingerprint in this tree:
//   1. extract_tcp_signature(): one IP packet -> tcp_signature, a plain struct.
//      Bounds-checked, allocation-free, never reads outside the given span.
//   2. match(): tcp_signature + p0f_db -> p0f_verdict (the "os"/"app" line,
//      "dist", "params" and "raw_sig" that `p0f -r` prints for that packet).
//
// The signature database is p0f's own p0f.fp (Debian: /etc/p0f/p0f.fp), read at
// run time. Parsing follows p0f's readfp.c/fp_tcp.c acceptance rules, including
// its refusal of a signature that an earlier specific signature already covers.
//
// Flow state the caller owns: p0f reports a SYN+ACK only within a flow it saw
// start with a SYN, and it uses that SYN's MSS when deciding whether the
// SYN+ACK window is a multiple of the MSS ("mss*N" in raw_sig). Pass it as
// `syn_mss`; 0 means "no SYN seen", which is what p0f uses for every SYN.
// p0f also prints only the first SYN of a flow (a retransmission with the same
// sequence number is ignored) and only the first SYN+ACK, and it forgets a
// flow whose SYN matched a userland tool (verdict.userland, e.g. NMap) or that
// ended (FIN, RST, ACK before any SYN+ACK); that bookkeeping is the caller's.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tapsense::fp {

// p0f's quirk set (the fifth raw_sig field), one bit each.
namespace quirk {
inline constexpr std::uint32_t df = 1u << 0;          // IPv4 don't-fragment set
inline constexpr std::uint32_t nz_id = 1u << 1;       // "id+": DF set and IP ID non-zero
inline constexpr std::uint32_t zero_id = 1u << 2;     // "id-": DF clear and IP ID zero
inline constexpr std::uint32_t ecn = 1u << 3;         // ECN at IP or TCP level
inline constexpr std::uint32_t nz_mbz = 1u << 4;      // "0+": IPv4 must-be-zero flag set
inline constexpr std::uint32_t flow = 1u << 5;        // IPv6 flow label non-zero
inline constexpr std::uint32_t zero_seq = 1u << 6;    // "seq-"
inline constexpr std::uint32_t nz_ack = 1u << 7;      // "ack+" (see extract for p0f's exact test)
inline constexpr std::uint32_t zero_ack = 1u << 8;    // "ack-": ACK flag with ack number 0
inline constexpr std::uint32_t nz_urg = 1u << 9;      // "uptr+": urgent pointer without URG
inline constexpr std::uint32_t urg = 1u << 10;        // "urgf+"
inline constexpr std::uint32_t push = 1u << 11;       // "pushf+"
inline constexpr std::uint32_t opt_zero_ts1 = 1u << 12;  // "ts1-"
inline constexpr std::uint32_t opt_nz_ts2 = 1u << 13;    // "ts2+" (SYN only)
inline constexpr std::uint32_t opt_eol_nz = 1u << 14;    // "opt+": non-zero bytes after EOL
inline constexpr std::uint32_t opt_exws = 1u << 15;      // "exws": window scale > 14
inline constexpr std::uint32_t opt_bad = 1u << 16;       // "bad": malformed options
}  // namespace quirk

// p0f looks at no more than this many TCP options.
inline constexpr std::size_t p0f_max_tcp_options = 24;
// Largest TTL distance p0f accepts for a non-fuzzy match.
inline constexpr int p0f_max_dist = 35;

// Features of one TCP SYN or SYN+ACK, from the IP header onwards.
struct tcp_signature {
  std::uint8_t ip_version = 0;   // 4 or 6
  std::uint8_t ttl = 0;          // TTL / hop limit as observed
  std::uint8_t tos = 0;          // DSCP (IPv4 TOS >> 2, IPv6 traffic class >> 2)
  std::uint8_t ip_opt_len = 0;   // IPv4 option bytes (always 0 for IPv6)
  std::uint16_t tot_hdr = 0;     // IP header + TCP header bytes
  bool syn_ack = false;          // false: SYN (p0f "syn"), true: SYN+ACK ("syn+ack")
  bool payload = false;          // TCP payload present (p0f payload class "+")
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint32_t seq = 0;         // for the caller's retransmission check
  std::uint16_t window = 0;
  std::uint16_t mss = 0;         // 0 when the option is absent
  std::uint8_t wscale = 0;       // 0 when the option is absent
  std::uint8_t opt_eol_pad = 0;  // bytes after an EOL option
  std::uint8_t opt_count = 0;    // entries used in opt_layout
  std::array<std::uint8_t, p0f_max_tcp_options> opt_layout{};  // option kinds, in order
  std::uint32_t quirks = 0;      // quirk:: bits
  std::uint32_t ts1 = 0;         // own timestamp (TSval), 0 when absent
};

// Pass the bytes from the IPv4/IPv6 header to the end of the captured frame,
// link layer (Ethernet, VLAN/QinQ tags, MPLS, tunnels) already removed.
// Returns nullopt for anything that is not a SYN or SYN+ACK p0f would look at:
// truncated or inconsistent headers, IPv4 fragments, non-TCP, IPv6 with
// extension headers, SYN+FIN/RST. `ip_packet` starts at the IPv4/IPv6 header;
// bytes beyond the IP total length (Ethernet padding) are ignored, and, as in
// p0f, a packet captured shorter than its IP total length is refused.
std::optional<tcp_signature> extract_tcp_signature(std::span<const std::uint8_t> ip_packet) noexcept;

// One label from p0f.fp, e.g. "s:unix:Linux:3.11 and newer".
struct p0f_label {
  std::string os_class;  // canonical spelling from "classes = ..."; "!" for userland tools
  std::string name;      // p0f's spelling: the first one registered, names are case-insensitive
  std::string flavor;    // may be empty
  bool generic = false;  // "g:" label
  bool userland = false; // "!" class: p0f prints "app = ..." instead of "os = ..."
  std::vector<std::string> sys;  // "sys = ..." entries of a userland label, verbatim
};

class p0f_db {
 public:
  // Throws std::runtime_error("<path>:LINE: reason") for a file p0f would refuse,
  // or std::runtime_error("<path>: ...") when the file cannot be read.
  static p0f_db load(const std::string& path);
  // As load(); `name` only prefixes error messages.
  static p0f_db parse(std::string_view text, const std::string& name);

  std::size_t tcp_request_count() const noexcept { return request_.sigs.size(); }
  std::size_t tcp_response_count() const noexcept { return response_.sigs.size(); }
  std::size_t mtu_count() const noexcept { return mtus_.size(); }
  std::size_t http_sig_count() const noexcept { return http_sigs_; }  // counted, not parsed

  // [mtu] label for a link MTU, empty when p0f would print "???".
  std::string_view mtu_label(std::uint32_t mtu) const noexcept;

  // Implementation types, public only so the matcher in p0f.cpp can see them.
  enum class win_kind : std::uint8_t { normal, any, mod, mss, mtu };
  struct tcp_record {
    std::int8_t ip_ver = -1;  // 4, 6, or -1 for '*'
    std::uint8_t ttl = 0;     // initial TTL (ttl+dist already added)
    bool bad_ttl = false;     // "ttl-": randomised TTL
    std::uint8_t ip_opt_len = 0;
    std::int32_t mss = -1;    // -1: any
    std::uint16_t win = 0;
    win_kind win_type = win_kind::normal;
    std::int16_t wscale = -1;    // -1: any
    std::int8_t pay_class = -1;  // -1: any, 0, 1
    std::uint8_t opt_eol_pad = 0;
    std::uint8_t opt_count = 0;
    std::array<std::uint8_t, p0f_max_tcp_options> opt_layout{};
    std::uint32_t quirks = 0;
    bool generic = false;     // copied from the label for the matcher
    bool userland = false;
    std::uint32_t label = 0;  // index into labels_
    std::uint32_t line = 0;   // line in p0f.fp
  };
  struct tcp_section {
    std::vector<tcp_record> sigs;  // file order
    // Option-layout hash -> indices into sigs, in file order (p0f's buckets).
    std::unordered_map<std::uint64_t, std::vector<std::uint32_t>> by_layout;
  };
  const tcp_section& section(bool syn_ack) const noexcept { return syn_ack ? response_ : request_; }
  const p0f_label& label(std::uint32_t i) const noexcept { return labels_[i]; }

 private:
  friend class p0f_db_parser;
  tcp_section request_;
  tcp_section response_;
  std::vector<p0f_label> labels_;
  std::vector<std::pair<std::uint32_t, std::string>> mtus_;  // file order
  std::size_t http_sigs_ = 0;
};

struct p0f_verdict {
  std::string label;      // what p0f prints after "os       = " (or "app      = ")
  bool generic = false;   // params "generic"
  bool fuzzy = false;     // params "fuzzy"
  bool random_ttl = false;// params "random_ttl"; p0f then prints "dist = <= N"
  bool userland = false;  // p0f prints "app" instead of "os"
  // Hops: the signature's initial TTL (its "ttl+dist", summed) minus the
  // observed TTL. For a fuzzy match whose TTL is below the observed one or more
  // than 35 away, p0f's guess instead: 32, 64, 128 or 255 minus the TTL.
  // With random_ttl it is an upper bound ("<= N").
  int distance = 0;
  std::string params;     // p0f's params line: "generic fuzzy ...", "none"
  std::string raw_sig;    // e.g. "4:128+0:0:1440:64240,0:mss,nop,nop,sok:df,id+:0"
  std::string os_class, name, flavor;
  bool syn_ack = false;
  std::uint32_t line = 0; // p0f.fp line of the matching signature
};

// p0f's verdict for one SYN (sig.syn_ack == false, matched against
// [tcp:request]) or SYN+ACK ([tcp:response]). nullopt where p0f prints
// "os = ???". `syn_mss`: see the note at the top; ignored for SYNs.
// Like p0f, a signature's IP version only decides which quirks it may carry;
// an IPv4 signature can still match an IPv6 packet (fuzzily).
// Signatures are indexed by option layout, as in p0f; a call allocates only
// the strings it returns (about 0.7 us on this machine).
std::optional<p0f_verdict> match(const p0f_db& db, const tcp_signature& sig,
                                 std::uint16_t syn_mss = 0);

// p0f's raw_sig text for a packet, whether or not anything matches.
std::string raw_signature(const tcp_signature& sig, std::uint16_t syn_mss = 0);

// p0f's distance guess for an unmatched packet: hops below 32, 64, 128 or 255.
int guess_distance(std::uint8_t ttl) noexcept;

// p0f's "mtu" observation: link MTU = MSS + 40 (IPv4) or + 60 (IPv6), labelled
// from [mtu]. nullopt when the packet carries no MSS (p0f prints no mtu block).
struct p0f_mtu_verdict {
  std::uint32_t mtu = 0;     // "raw_mtu"
  std::string_view link;     // "link"; empty where p0f prints "???". Points into the db.
};
std::optional<p0f_mtu_verdict> match_mtu(const p0f_db& db, const tcp_signature& sig) noexcept;

}  // namespace tapsense::fp
