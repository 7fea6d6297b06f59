#include "supervisor/interfaces.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <system_error>

namespace tapsense::supervisor {

namespace {

std::string read_line(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

bool has_address(const std::string& ifname, const std::string& address) {
  ifaddrs* ifa = nullptr;
  if (::getifaddrs(&ifa) != 0) return false;
  bool found = false;
  for (auto* p = ifa; p != nullptr && !found; p = p->ifa_next) {
    if (p->ifa_addr == nullptr || ifname != p->ifa_name) continue;
    char buf[INET6_ADDRSTRLEN] = {0};
    if (p->ifa_addr->sa_family == AF_INET) {
      ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(static_cast<void*>(p->ifa_addr))->sin_addr, buf, sizeof buf);
    } else if (p->ifa_addr->sa_family == AF_INET6) {
      ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(static_cast<void*>(p->ifa_addr))->sin6_addr, buf,
                  sizeof buf);
    } else {
      continue;
    }
    found = address == buf;
  }
  ::freeifaddrs(ifa);
  return found;
}

}  // namespace

std::vector<config::interface_section> present_interfaces(const std::vector<config::interface_section>& configured) {
  std::vector<config::interface_section> out;
  for (const auto& i : configured) {
    if (i.driver == "pci") {
      out.push_back(i);
      continue;
    }
    const std::string sys = "/sys/class/net/" + i.name;
    if (::access(sys.c_str(), F_OK) != 0) continue;
    // "up", or "unknown" for links without carrier detection (tun, some virtual NICs).
    const auto state = read_line(sys + "/operstate");
    const auto flags = std::strtoul(read_line(sys + "/flags").c_str(), nullptr, 16);
    if (state != "up" && !(state == "unknown" && (flags & IFF_UP) != 0)) continue;
    if (i.mode == "erspan" && !i.erspan_address.empty() && !has_address(i.name, i.erspan_address)) continue;
    out.push_back(i);
  }
  return out;
}

std::string interface_names(const std::vector<config::interface_section>& ifs) {
  std::string s;
  for (const auto& i : ifs) s += (s.empty() ? "" : ", ") + i.name;
  return s.empty() ? "none" : s;
}

link_watch::link_watch() {
  fd_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "netlink socket");
  sockaddr_nl a{};
  a.nl_family = AF_NETLINK;
  a.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    const int e = errno;
    ::close(fd_);
    fd_ = -1;
    throw std::system_error(e, std::generic_category(), "netlink bind");
  }
}

link_watch::~link_watch() {
  if (fd_ >= 0) ::close(fd_);
}

bool link_watch::changed() noexcept {
  bool any = false;
  alignas(nlmsghdr) char buf[16384];
  for (;;) {
    const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0) {
      // ENOBUFS: messages were lost; assume something changed and look again.
      if (errno == ENOBUFS) {
        any = true;
        continue;
      }
      break;
    }
    if (n == 0) break;
    auto len = static_cast<std::size_t>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      switch (h->nlmsg_type) {
        case RTM_NEWLINK:
        case RTM_DELLINK:
        case RTM_NEWADDR:
        case RTM_DELADDR:
          any = true;
          break;
        default:
          break;
      }
    }
  }
  return any;
}

}  // namespace tapsense::supervisor
