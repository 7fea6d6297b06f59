#pragma once
// What capture learns from the pcap_next_ex() it defines (pcap_files.cpp).
#include <array>
#include <cstddef>
#include <cstdint>

namespace tapsense::capture {

// The lengths of the records pcap_next_ex() hands out on this thread while
// this sink is set, in the order it hands them out. net_pcap sets an mbuf's
// length to the captured length only: a record cut to the snapshot length
// gets its wire length from here. In DPDK 22.11 net_pcap's receive asks
// pcap_next_ex() for one record per mbuf, in order, and stops at the first
// record it cannot place (no mbuf, a jumbo chain that fails): so the first
// n entries after a burst of n mbufs are those mbufs' records.
struct record_lengths {
  static constexpr std::size_t capacity = 256;  // more than any burst asks for
  std::array<std::uint32_t, capacity> caplen;
  std::array<std::uint32_t, capacity> len;
  std::size_t n = 0;
  // The wire length of the burst's i-th mbuf (`pkt_len`: net_pcap stores
  // the captured length cut to 16 bits), or 0 if the entries do not
  // describe it.
  std::uint32_t wire_len(std::size_t i, std::uint32_t pkt_len) const noexcept {
    return i < n && std::uint32_t{static_cast<std::uint16_t>(caplen[i])} == pkt_len ? len[i] : 0;
  }
};

// Sets this thread's sink (nullptr: none), emptied.
void collect_record_lengths(record_lengths* sink) noexcept;

}  // namespace tapsense::capture
