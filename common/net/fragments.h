#pragma once
// IP fragments: a tracker that gives later fragments the flow of their first
// fragment (capture, per packet), and a reassembler for the datagrams the
// fingerprinter must read whole (fragmented mDNS, DHCP, DNS answers).
//
// Both are bounded: every table and buffer is allocated once, at
// construction; nothing allocates, locks or logs per packet. Time is packet
// time (ts_ns), so a capture file replays like live traffic. Single-threaded:
// one instance per capture loop / fingerprinter worker.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/net/addr.h"
#include "common/net/bytes.h"
#include "common/net/decode.h"
#include "common/net/packet_record.h"

namespace tapsense::net {

// ---------------------------------------------------------------------------
// Fragment tracker (capture)

struct fragment_tracker_options {
  std::size_t entries = 16384;                  // table entries (rounded up to a power of two, >= 4)
  std::uint64_t timeout_ns = 30'000'000'000ULL;  // an entry older than this is forgotten
};

// Single writer (the capture loop); copied out for heartbeats.
struct fragment_tracker_counters {
  std::uint64_t tracked = 0;       // first fragments remembered
  std::uint64_t attributed = 0;    // later fragments given their first fragment's flow
  std::uint64_t unattributed = 0;  // later fragments whose first fragment was not (or no longer) known
  std::uint64_t evicted = 0;       // live entries overwritten before they expired
};

// Remembers, for the first fragment of each IP datagram, the flow its
// record describes (inner addresses, ports, protocol, MACs, VLANs, tunnel),
// keyed by the fragmented header's (family, src, dst, protocol, IPv4 id /
// IPv6 fragment identification). A later fragment of the same datagram, which
// carries no L4 header, gets that flow: ports and has_ports, and for a
// fragmented tunnel packet the inner identity and tunnel fields too; its
// flow_hash is recomputed, so it lands in the first fragment's shard and its
// bytes count on that flow. Flags keep `fragment | later_fragment`
// (consumers must not look for an L4 header in such a packet); tcp_flags,
// tcp_window, l4_payload, wire_len and times stay the packet's own.
//
// Memory: `entries` x 144 bytes (2.25 MiB by default), 4-way set associative;
// the oldest entry of a full set is replaced. A later fragment that arrives
// before its first fragment stays unattributed (capture cannot wait).
class fragment_tracker {
 public:
  explicit fragment_tracker(const fragment_tracker_options& opt = {});

  // Call once per packet, after decode_frame() (with its fragment_info) and
  // after rec.ts_ns is set, before the record is sharded by flow_hash.
  // Packets that are not fragments cost one branch.
  void on_packet(packet_record& rec, const fragment_info& frag) noexcept {
    if (frag.kind != fragment_info::none) {
      on_fragment(rec, frag);
    }
  }

  const fragment_tracker_counters& counters() const noexcept { return c_; }
  std::size_t capacity() const noexcept { return table_.size(); }

 private:
  struct entry {
    // Key: the fragmented IP header.
    ip_address src;
    ip_address dst;
    std::uint32_t id;
    std::uint8_t proto;
    std::uint8_t family;  // 0: free
    std::uint8_t l3;      // the flow (record fields)
    std::uint8_t ip_proto;
    std::uint64_t ts_ns;
    ip_address flow_src;
    ip_address flow_dst;
    ip_address tunnel_src;
    ip_address tunnel_dst;
    mac_address src_mac;
    mac_address dst_mac;
    std::uint32_t tunnel_id;
    std::uint16_t src_port;
    std::uint16_t dst_port;
    std::uint16_t vlan[2];
    std::uint16_t ethertype;
    std::uint8_t vlan_count;
    std::uint8_t ttl;
    std::uint8_t tunnel;
    std::uint8_t tunnel_depth;
    std::uint8_t has_ports;
  };
  static_assert(sizeof(entry) == 144);
  static constexpr std::size_t ways = 4;

  void on_fragment(packet_record& rec, const fragment_info& frag) noexcept;
  entry* set_of(const fragment_info& frag) noexcept;
  bool expired(const entry& e, std::uint64_t now) const noexcept;

  fragment_tracker_options opt_;
  std::vector<entry> table_;
  std::size_t set_mask_ = 0;
  fragment_tracker_counters c_;
};

// ---------------------------------------------------------------------------
// Reassembler (fingerprinter)

struct reassembly_options {
  std::size_t max_datagrams = 64;               // datagrams being reassembled at once
  std::size_t max_datagram_bytes = 65535;       // largest reassembled IP payload
  std::size_t max_total_bytes = 1u << 20;       // buffer memory shared by all datagrams
  std::size_t max_fragments = 64;               // fragments per datagram
  std::uint64_t timeout_ns = 30'000'000'000ULL;  // a datagram older than this is dropped
};

// Single writer; copied out for heartbeats. Every fragment ends up in exactly
// one of: completed datagram, held, or one of the drop causes.
struct reassembly_counters {
  std::uint64_t fragments = 0;       // fragments offered (valid IP fragments)
  std::uint64_t completed = 0;       // datagrams reassembled
  std::uint64_t duplicates = 0;      // exact repeats of a held fragment, ignored
  std::uint64_t overlaps = 0;        // datagrams dropped: fragments overlapped
  std::uint64_t inconsistent = 0;    // datagrams dropped: a repeat with other bytes, or ends that disagree
  std::uint64_t too_big = 0;         // datagrams dropped: past max_datagram_bytes
  std::uint64_t too_many_fragments = 0;  // datagrams dropped: past max_fragments
  std::uint64_t timed_out = 0;       // datagrams dropped incomplete after timeout_ns
  std::uint64_t evicted = 0;         // datagrams dropped to make room (slots or bytes)
  std::uint64_t malformed = 0;       // packets that are not a valid IP fragment
  std::uint64_t truncated = 0;       // fragments cut short by the capture, ignored
};

enum class reassembly_status : std::uint8_t {
  not_fragment,  // a whole IP packet: reassembled_datagram::payload is its payload
  malformed,     // not an IP packet we can read, or an invalid fragment (counted)
  held,          // kept; the datagram is not complete yet (or a duplicate was ignored)
  complete,      // this fragment completed the datagram
  dropped,       // the datagram was dropped (overlap, inconsistency, limits)
};

struct reassembled_datagram {
  reassembly_status status = reassembly_status::malformed;
  std::uint8_t family = 0;  // 4 or 6
  std::uint8_t proto = 0;   // upper-layer protocol (IPv6: after any extension headers)
  std::uint32_t id = 0;     // IPv4 id / IPv6 fragment identification
  ip_address src;
  ip_address dst;
  // complete / not_fragment: the IP payload (e.g. UDP header + data). It
  // points into the reassembler's output buffer (complete) or into the given
  // packet (not_fragment), and is valid until the next add().
  bytes payload;
};

class reassembler {
 public:
  // Allocates everything: max_total_bytes of fragment buffer (in 2 KiB
  // chunks), max_datagram_bytes of output buffer, per-datagram tables.
  explicit reassembler(const reassembly_options& opt = {});

  // Offers one IP packet, starting at its IPv4/IPv6 header (the bytes from
  // the snapshot's l3 offset on), seen at packet time `ts_ns`.
  // Overlapping fragments drop their datagram (RFC 5722's rule, applied to
  // IPv4 too, as Linux does); an exact repeat is ignored when its bytes agree
  // and drops the datagram when they do not.
  reassembled_datagram add(bytes ip_packet, std::uint64_t ts_ns) noexcept;

  // Drops datagrams older than timeout_ns at `now_ns` (add() does it too).
  void expire(std::uint64_t now_ns) noexcept;

  std::size_t datagrams_held() const noexcept;
  std::size_t bytes_held() const noexcept { return (chunks_total_ - free_chunks_.size()) * chunk_bytes; }
  const reassembly_counters& counters() const noexcept { return c_; }

  static constexpr std::size_t chunk_bytes = 2048;

 private:
  struct range {
    std::uint32_t begin;
    std::uint32_t end;
  };
  struct slot {
    bool used = false;
    bool have_last = false;
    std::uint8_t family = 0;
    std::uint8_t proto = 0;
    std::uint32_t id = 0;
    ip_address src;
    ip_address dst;
    std::uint64_t first_ts = 0;
    std::uint32_t total = 0;   // datagram payload length, known once the last fragment came
    std::uint32_t have = 0;    // payload bytes held
    std::uint16_t nfrags = 0;  // fragments held (ranges_, sorted by begin)
  };
  static constexpr std::uint32_t no_chunk = 0xffffffffu;

  std::size_t find_or_make(std::uint8_t family, std::uint8_t proto, std::uint32_t id,
                           const ip_address& src, const ip_address& dst, std::uint64_t ts) noexcept;
  void release(std::size_t s) noexcept;
  bool write(std::size_t s, std::uint32_t begin, bytes data) noexcept;
  bool equal(std::size_t s, std::uint32_t begin, bytes data) const noexcept;
  void gather(std::size_t s, std::uint32_t len) noexcept;
  std::size_t oldest_except(std::size_t keep) const noexcept;
  range* ranges(std::size_t s) noexcept { return ranges_.data() + s * opt_.max_fragments; }
  std::uint32_t* chunks(std::size_t s) noexcept { return chunk_map_.data() + s * chunks_per_datagram_; }
  const std::uint32_t* chunks(std::size_t s) const noexcept {
    return chunk_map_.data() + s * chunks_per_datagram_;
  }

  reassembly_options opt_;
  std::size_t chunks_per_datagram_ = 0;
  std::size_t chunks_total_ = 0;
  std::vector<slot> slots_;
  std::vector<range> ranges_;          // max_fragments per slot
  std::vector<std::uint32_t> chunk_map_;  // chunks_per_datagram_ per slot
  std::vector<std::uint8_t> pool_;     // chunks_total_ x chunk_bytes
  std::vector<std::uint32_t> free_chunks_;
  std::vector<std::uint8_t> out_;      // the last completed datagram
  reassembly_counters c_;
};

}  // namespace tapsense::net
