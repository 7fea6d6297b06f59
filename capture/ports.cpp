#include "capture/ports.h"

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <sched.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace tapsense::capture {

bool hugepages_available() {
  std::ifstream mi("/proc/meminfo");
  std::string key;
  long value = 0;
  long free_pages = 0;
  while (mi >> key >> value) {
    if (key == "HugePages_Free:") {
      free_pages = value;
    }
    mi.ignore(256, '\n');
  }
  if (free_pages < 64) {
    return false;
  }
  std::ifstream mounts("/proc/mounts");
  std::string line;
  while (std::getline(mounts, line)) {
    if (line.find(" hugetlbfs ") != std::string::npos) {
      return true;
    }
  }
  return false;
}

namespace {
std::string cpu_list() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) {
    return "0";
  }
  std::ostringstream s;
  bool first = true;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) {
      s << (first ? "" : ",") << c;
      first = false;
    }
  }
  return first ? "0" : s.str();
}
}  // namespace

std::vector<std::string> eal_arguments(const config::config& cfg, std::vector<input>& inputs,
                                       const std::string& file_prefix, unsigned lcores) {
  std::vector<std::string> a{"tapsense-capture"};
  // RX lcores free to run on any CPU the sensor was given: on small machines
  // the kernel places the other stages better than a fixed pin would.
  std::string lc = "--lcores=";
  for (unsigned l = 0; l < std::max(1u, lcores); ++l) {
    lc += (l ? "," : "") + std::to_string(l) + "@(" + cpu_list() + ")";
  }
  a.push_back(lc);
  a.push_back("--file-prefix=" + file_prefix);
  // No shared configuration files: no secondary process ever attaches, and
  // EAL leaves those files (config, fbarray_*: 6.5 MB) in its runtime
  // directory when it ends, one directory per run's prefix: 12,733 of them,
  // 78 GB, had piled up in /run/dpdk on the development machine. (/run is
  // a tmpfs on most systems: memory.) capture removes the directory itself.
  a.push_back("--no-shconf");
  a.push_back("--no-telemetry");
  a.push_back("--log-level=*:error");
  if (!hugepages_available()) {
    a.push_back("--no-huge");
    a.push_back("-m");
    a.push_back("512");
  } else {
    // Without it DPDK keeps its <prefix>map_* files in /dev/hugepages after
    // the process ends (SIGKILL included), and with a new prefix per run
    // nothing ever reclaims those pages (NOTES.md). Unlinked right after
    // mapping, the pages go back to the pool when the last mapping goes.
    a.push_back("--huge-unlink");
  }
  bool any_pci = false;
  unsigned vdev = 0;
  for (auto& in : inputs) {
    switch (in.kind) {
      case input_kind::file: {
        const auto link = cfg.sensor.run_dir + "/input" + std::to_string(vdev) + ".pcap";
        std::error_code ec;
        std::filesystem::remove(link, ec);
        std::filesystem::create_symlink(std::filesystem::absolute(in.name), link, ec);
        in.devname = "net_pcap" + std::to_string(vdev++);
        a.push_back("--vdev=" + in.devname + ",rx_pcap=" + (ec ? in.name : link));
        break;
      }
      case input_kind::af_packet:
        in.devname = "net_af_packet" + std::to_string(vdev++);
        // The default of 512 frames overflows on a tcpreplay burst (NOTES.md).
        // Several queues: the kernel's PACKET_FANOUT hash, which is
        // symmetric (flow_keys are ordered), keeps both directions together.
        a.push_back("--vdev=" + in.devname + ",iface=" + in.name + ",qpairs=" + std::to_string(in.rx_queues) +
                    ",blocksz=65536,framesz=2048,framecnt=32768");
        break;
      case input_kind::pci:
        in.devname = in.name;
        a.push_back("-a");
        a.push_back(in.name);
        any_pci = true;
        break;
    }
  }
  if (!any_pci) {
    a.push_back("--no-pci");
  }
  for (const auto& extra : cfg.capture.eal_args) {
    a.push_back(extra);
  }
  return a;
}

namespace {
// Symmetric Toeplitz key: 0x6d5a repeated gives the same hash for both
// directions of a flow, so RSS queues keep flows whole.
std::uint8_t symmetric_rss_key[40] = {
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a};
}  // namespace

std::string start_ports(std::vector<input>& inputs, rte_mempool* pool, unsigned rx_desc) {
  for (auto& in : inputs) {
    std::uint16_t port = 0;
    if (rte_eth_dev_get_port_by_name(in.devname.c_str(), &port) != 0) {
      return "no DPDK port for " + in.name + " (" + in.devname + ")";
    }
    in.port = port;
    rte_eth_conf conf{};
    rte_eth_dev_info info{};
    if (rte_eth_dev_info_get(port, &info) != 0) {
      return "cannot query port " + in.devname;
    }
    if (in.rx_queues > info.max_rx_queues) {
      in.rx_queues = std::max<unsigned>(1, info.max_rx_queues);
    }
    if (in.rx_queues > 1 && in.kind == input_kind::pci && info.flow_type_rss_offloads != 0) {
      conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
      conf.rx_adv_conf.rss_conf.rss_key = symmetric_rss_key;
      conf.rx_adv_conf.rss_conf.rss_key_len = sizeof symmetric_rss_key;
      conf.rx_adv_conf.rss_conf.rss_hf =
          (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
      in.rss = true;
    } else if (in.kind == input_kind::pci) {
      in.rx_queues = 1;  // without RSS one queue keeps both directions together
    }
    const auto nq = static_cast<std::uint16_t>(in.rx_queues);
    const std::uint16_t ntx = in.kind == input_kind::af_packet ? nq : 1;
    if (int rc = rte_eth_dev_configure(port, nq, ntx, &conf); rc != 0) {
      return "cannot configure " + in.devname + ": " + rte_strerror(-rc);
    }
    std::uint16_t nb_rx = static_cast<std::uint16_t>(rx_desc);
    std::uint16_t nb_tx = 64;
    rte_eth_dev_adjust_nb_rx_tx_desc(port, &nb_rx, &nb_tx);
    const int socket = rte_eth_dev_socket_id(port);
    const unsigned sock = socket < 0 ? 0 : static_cast<unsigned>(socket);
    for (std::uint16_t q = 0; q < nq; ++q) {
      if (int rc = rte_eth_rx_queue_setup(port, q, nb_rx, sock, nullptr, pool); rc != 0) {
        return "cannot set up RX queue of " + in.devname + ": " + rte_strerror(-rc);
      }
    }
    for (std::uint16_t q = 0; q < ntx; ++q) {
      if (int rc = rte_eth_tx_queue_setup(port, q, nb_tx, sock, nullptr); rc != 0) {
        return "cannot set up TX queue of " + in.devname + ": " + rte_strerror(-rc);
      }
    }
    if (int rc = rte_eth_dev_start(port); rc != 0) {
      return "cannot start " + in.devname + ": " + rte_strerror(-rc);
    }
    if (in.kind != input_kind::file) {
      // A mirror port delivers frames for every MAC; see them all.
      rte_eth_promiscuous_enable(port);
    }
    if (in.kind == input_kind::af_packet) {
      // The kernel's own counters of the PMD's sockets (kernel_sockets.h).
      in.if_index = static_cast<int>(info.if_index);
      in.kernel_fds = packet_sockets_of(in.if_index);
    }
  }
  return {};
}

rx_timestamp lookup_rx_timestamp() {
  rx_timestamp t;
  t.offset = rte_mbuf_dynfield_lookup(RTE_MBUF_DYNFIELD_TIMESTAMP_NAME, nullptr);
  const int bit = rte_mbuf_dynflag_lookup(RTE_MBUF_DYNFLAG_RX_TIMESTAMP_NAME, nullptr);
  if (t.offset < 0 || bit < 0) {
    return rx_timestamp{};
  }
  t.flag = 1ULL << bit;
  return t;
}

}  // namespace tapsense::capture
