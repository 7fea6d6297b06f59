#pragma once
// What the kernel knows about DPDK's net_af_packet sockets and DPDK 22.11
// does not report.
//
// - Drops: the PMD fills no `imissed` (its stats_get reads only its own RX
//   counters), so a full socket ring loses packets unseen. The kernel counts
//   them per socket (PACKET_STATISTICS: tp_packets, tp_drops). The PMD keeps
//   its socket descriptors private, so they are found among this process's
//   descriptors: AF_PACKET sockets bound to the interface's index.
// - Fragments: the PMD joins every socket to a PACKET_FANOUT group with
//   PACKET_FANOUT_FLAG_DEFRAG, so the kernel reassembles IPv4 fragments (or
//   silently drops sets it cannot reassemble, e.g. overlapping ones) before
//   the sensor sees them, and offline and live runs see different packets.
//   The capture executable interposes setsockopt() (kernel_sockets.cpp) and
//   clears that one flag; fanout_defrag() lets capture verify that it worked.
#include <cstdint>
#include <string>
#include <vector>

namespace tapsense::capture {

// Descriptors of this process's AF_PACKET sockets bound to `ifindex`.
std::vector<int> packet_sockets_of(int ifindex);

struct kernel_socket_counters {
  std::uint64_t packets = 0;  // frames the kernel handed to the sockets, drops included
  std::uint64_t drops = 0;    // of those, lost because the socket ring was full
};

// Reads PACKET_STATISTICS of every socket (the kernel resets them on each
// read) and adds them to `total`. False when a socket cannot be read.
bool add_kernel_counters(const std::vector<int>& fds, kernel_socket_counters& total);

// Whether the socket's fanout group reassembles IPv4 fragments.
bool fanout_defrag(int fd);

}  // namespace tapsense::capture
