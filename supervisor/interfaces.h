#pragma once
// Sniffing interfaces as the kernel has them (netlink, RTNLGRP_LINK and the
// address groups): which of the configured kernel interfaces can be sniffed
// now. An af_packet interface counts when it exists and its link is up; in
// ERSPAN mode also when its erspan_address is assigned to it. PCI interfaces
// (driver = "pci", no kernel netdev) always count. The supervisor starts the
// pipeline on the present set and restarts it once when the set changes.
#include <cstdint>
#include <string>
#include <vector>

#include "common/config/config.h"

namespace tapsense::supervisor {

// The configured interfaces that can be sniffed now, in configuration order.
std::vector<config::interface_section> present_interfaces(const std::vector<config::interface_section>& configured);
// Names only (for comparing sets and logging).
std::string interface_names(const std::vector<config::interface_section>& ifs);

class link_watch {
 public:
  link_watch();  // throws std::system_error if netlink cannot be opened
  ~link_watch();
  link_watch(const link_watch&) = delete;
  link_watch& operator=(const link_watch&) = delete;
  int fd() const noexcept { return fd_; }
  // Reads what is waiting without blocking; true if any link or address changed.
  bool changed() noexcept;

 private:
  int fd_ = -1;
};

}  // namespace tapsense::supervisor
