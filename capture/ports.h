#pragma once
// DPDK ports for every kind of input: capture files (net_pcap), kernel
// interfaces (net_af_packet, promiscuous) and PCI NICs. One code path reads
// them all; only the EAL arguments differ.
#include <cstdint>
#include <string>
#include <vector>

#include "capture/kernel_sockets.h"
#include "common/config/config.h"

struct rte_mempool;

namespace tapsense::capture {

enum class input_kind { file, af_packet, pci };

struct input {
  input_kind kind;
  std::string name;       // file path, interface name or PCI address
  std::string devname;    // DPDK device name ("net_pcap0", "0000:03:00.0")
  std::uint16_t port = 0;
  std::uint64_t packets = 0;  // files: records in the file (from the scan)
  unsigned rx_queues = 1;
  bool rss = false;           // several queues spread by a symmetric RSS hash
  // af_packet: the PMD's sockets (found after start) and what the kernel
  // counted on them so far (PACKET_STATISTICS resets on each read).
  int if_index = 0;
  std::vector<int> kernel_fds;
  kernel_socket_counters kernel;
};

// Builds the EAL argument vector (argv[0] included). Files are referenced
// through links in the run directory, so paths with commas or '=' cannot break
// DPDK's devargs syntax.
std::vector<std::string> eal_arguments(const config::config& cfg, std::vector<input>& inputs,
                                       const std::string& file_prefix, unsigned lcores);

// True when hugepages are set up and free (else EAL runs with --no-huge).
bool hugepages_available();

// Configures and starts every input's port; returns an empty string or an
// error message.
std::string start_ports(std::vector<input>& inputs, rte_mempool* pool, unsigned rx_desc);

// Timestamp dynamic field of the RX path, if the PMD provides one (net_pcap
// does, in microseconds in DPDK 22.11).
struct rx_timestamp {
  int offset = -1;
  std::uint64_t flag = 0;
};
rx_timestamp lookup_rx_timestamp();

}  // namespace tapsense::capture
