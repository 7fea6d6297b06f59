#include "capture/kernel_sockets.h"

#include <dirent.h>
#include <linux/if_packet.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

// DPDK 22.11's net_af_packet (drivers/net/af_packet/rte_eth_af_packet.c,
// rte_pmd_init_internals) joins each queue's socket to its fanout group with
// PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG | PACKET_FANOUT_FLAG_ROLLOVER
// and has no devarg to leave DEFRAG out. With it the kernel reassembles IPv4
// fragments before the ring (ip_check_defrag): a sensor must see the
// fragments as they were on the wire, and a set the kernel refuses
// (overlapping fragments) vanishes without a count. The PMD is linked into
// the executable statically (capture/CMakeLists.txt), and its setsockopt()
// calls this definition, which clears that one flag. Every other call goes
// to the kernel unchanged. Without DEFRAG the HASH fanout still keeps a
// datagram's fragments together: the kernel hashes a fragment on its
// addresses and protocol only.
extern "C" int setsockopt(int fd, int level, int optname, const void* optval, socklen_t optlen) noexcept {
  if (level == SOL_PACKET && optname == PACKET_FANOUT && optval != nullptr && optlen == sizeof(int)) {
    int arg = 0;
    std::memcpy(&arg, optval, sizeof arg);
    arg &= ~(PACKET_FANOUT_FLAG_DEFRAG << 16);
    return static_cast<int>(syscall(SYS_setsockopt, fd, level, optname, &arg, optlen));
  }
  return static_cast<int>(syscall(SYS_setsockopt, fd, level, optname, optval, optlen));
}

namespace tapsense::capture {

std::vector<int> packet_sockets_of(int ifindex) {
  std::vector<int> out;
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) {
    return out;
  }
  const int own = dirfd(d);
  while (const dirent* e = readdir(d)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd == own) {
      continue;
    }
    const int f = static_cast<int>(fd);
    struct stat st {};
    if (fstat(f, &st) != 0 || !S_ISSOCK(st.st_mode)) {
      continue;
    }
    int domain = 0;
    socklen_t len = sizeof domain;
    if (getsockopt(f, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 || domain != AF_PACKET) {
      continue;
    }
    sockaddr_ll sll{};
    len = sizeof sll;
    if (getsockname(f, reinterpret_cast<sockaddr*>(&sll), &len) != 0 || sll.sll_ifindex != ifindex) {
      continue;
    }
    out.push_back(f);
  }
  closedir(d);
  return out;
}

bool add_kernel_counters(const std::vector<int>& fds, kernel_socket_counters& total) {
  bool ok = true;
  for (const int fd : fds) {
    // TPACKET_V2 sockets (the PMD's) answer with tpacket_stats; tp_packets
    // includes tp_drops. tp_freeze_q_cnt exists only for TPACKET_V3.
    tpacket_stats st{};
    socklen_t len = sizeof st;
    if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) != 0) {
      ok = false;
      continue;
    }
    total.packets += st.tp_packets;
    total.drops += st.tp_drops;
  }
  return ok;
}

bool fanout_defrag(int fd) {
  // The kernel answers id | type << 16 | flags << 24, the flags being the
  // high byte of what setsockopt took (PACKET_FANOUT_FLAG_DEFRAG is 0x8000).
  std::uint32_t v = 0;
  socklen_t len = sizeof v;
  if (getsockopt(fd, SOL_PACKET, PACKET_FANOUT, &v, &len) != 0) {
    return false;
  }
  return ((v >> 16) & PACKET_FANOUT_FLAG_DEFRAG) != 0;
}

}  // namespace tapsense::capture
