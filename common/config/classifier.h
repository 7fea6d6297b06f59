#pragma once
// Classifies addresses by the configured asset classes, per packet in the
// aggregator and again in the uplink and fingerprinter.
//
// Precedence when classes overlap (the first that applies wins):
//   1. excluded        (IP ranges and MACs of [[excluded]] groups)
//   2. inventoried     ([[internal]] groups with inventory = true, first listed wins)
//   3. non-inventoried ([[internal]] groups with inventory = false)
//   4. monitored external ([[monitored]] addresses; domains are matched at run
//      time from DNS answers, TLS SNI and HTTP Host)
//   5. external        (everything else: the single asset "External")
// Addresses that belong to no one rank just below excluded and above every
// configured internal class, whatever the ranges say: they are never assets
// and never "External".
//   unassigned   0.0.0.0 and :: (a host without an address yet: DHCP, DAD)
//   broadcast    255.255.255.255 (and, in the aggregator, an IPv4 packet sent
//                to the Ethernet broadcast MAC: a subnet-directed broadcast)
//   multicast    224.0.0.0/4 and ff00::/8 as a destination (a group). As a
//                source such an address is bogus (anonymised or synthetic
//                captures use them for hosts): the configured ranges apply.
// Internal groups apply to the sensor they name (or every sensor) and to the
// network they name (or the default network). Networks are chosen per packet
// by VLAN, then by sniffing interface.
#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/config/config.h"
#include "common/net/cidr.h"

namespace tapsense::config {

enum class address_class : std::uint8_t {
  inventoried = 0,
  non_inventoried = 1,
  external = 2,
  monitored_external = 3,
  excluded = 4,
  unassigned = 5,
  broadcast = 6,
  multicast = 7,
};

// Whether a class is one of the "no one's" address classes above.
constexpr bool is_special(address_class c) noexcept {
  return c == address_class::unassigned || c == address_class::broadcast || c == address_class::multicast;
}

// The class an address has by itself, whatever the configuration says
// (external when none applies); `source`: the address sent the packet.
inline address_class special_class(const net::ip_address& a, bool source = false) noexcept {
  if (a.is_v4()) {
    const std::uint32_t v = a.v4();
    if (v == 0) return address_class::unassigned;
    if (v == 0xffffffffu) return address_class::broadcast;
    if ((v >> 28) == 0xe && !source) return address_class::multicast;
    return address_class::external;
  }
  if (a.b[0] == 0xff && !source) return address_class::multicast;
  return a.is_unspecified() ? address_class::unassigned : address_class::external;
}

const char* class_name(address_class c) noexcept;

struct classification {
  address_class cls = address_class::external;
  std::uint16_t index = 0;  // internal group or monitored site, by class
};

class classifier {
 public:
  explicit classifier(const config& cfg);

  // Network of a packet: 0 is the default network, then [[network]] order + 1.
  std::uint8_t network_of(std::uint16_t port_index, std::uint16_t outer_vlan, bool tagged) const noexcept;
  const std::string& network_name(std::uint8_t n) const noexcept { return network_names_[n]; }
  std::size_t networks() const noexcept { return network_names_.size(); }

  // `source`: the address is a packet's sender (see multicast above).
  classification classify(std::uint8_t network, const net::ip_address& a, bool source = false) const noexcept {
    if (excluded_.contains(a)) {
      return {address_class::excluded, 0};
    }
    if (const auto sc = special_class(a, source); sc != address_class::external) {
      return {sc, 0};
    }
    if (network < internal_.size()) {
      if (const auto* g = internal_[network].lookup(a)) {
        return {inventory_[*g] ? address_class::inventoried : address_class::non_inventoried, *g};
      }
    }
    if (const auto* m = monitored_.lookup(a)) {
      return {address_class::monitored_external, *m};
    }
    return {address_class::external, 0};
  }
  address_class class_of(std::uint8_t network, const net::ip_address& a) const noexcept {
    return classify(network, a).cls;
  }
  bool inventoried(const net::ip_address& a, std::uint8_t network = 0) const noexcept {
    return class_of(network, a) == address_class::inventoried;
  }
  // Inventoried by a `type = "static"` group: the address is the device's
  // identity (a router in front, a replaced NIC), not its MAC.
  bool static_address(const net::ip_address& a, std::uint8_t network = 0) const noexcept {
    const auto c = classify(network, a);
    return c.cls == address_class::inventoried && static_[c.index];
  }
  bool excluded_ip(const net::ip_address& a) const noexcept { return excluded_.contains(a); }
  bool excluded_mac(const net::mac_address& m) const noexcept {
    return !excluded_macs_.empty() && excluded_macs_.count(m.to_u64()) != 0;
  }
  bool has_excluded_macs() const noexcept { return !excluded_macs_.empty(); }

  // Monitored sites: name by index; domains to match (lower case, "*." prefix
  // for subdomains) with the site index they belong to.
  const std::string& monitored_name(std::uint16_t i) const noexcept { return monitored_names_[i]; }
  const std::vector<std::pair<std::string, std::uint16_t>>& monitored_domains() const noexcept {
    return domains_;
  }
  // Site index whose domain matches `name` (lower case), or -1.
  int match_domain(std::string_view name) const noexcept;

 private:
  std::vector<net::range_map<std::uint16_t>> internal_;  // per network
  std::vector<bool> inventory_;                          // per internal group
  std::vector<bool> static_;                             // per internal group: type = "static"
  net::range_map<std::uint8_t> excluded_;
  std::unordered_set<std::uint64_t> excluded_macs_;
  net::range_map<std::uint16_t> monitored_;
  std::vector<std::string> monitored_names_;
  std::vector<std::pair<std::string, std::uint16_t>> domains_;
  std::vector<std::string> network_names_;
  std::vector<std::uint8_t> vlan_network_;   // 4096 entries, 0 = not mapped
  std::vector<std::uint8_t> port_network_;   // per capture interface index
};

}  // namespace tapsense::config
