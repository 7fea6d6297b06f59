#pragma once
// Classifies addresses by the configured internal asset groups (the first
// group that contains an address wins). Shared by the aggregator (per packet)
// and the uplink (when it builds the inventory).
#include <cstdint>
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
};

class classifier {
 public:
  explicit classifier(const config& cfg);
  address_class classify(const net::ip_address& a) const noexcept {
    const auto* g = ranges_.lookup(a);
    if (g == nullptr) {
      return address_class::external;
    }
    return inventory_[*g] ? address_class::inventoried : address_class::non_inventoried;
  }
  bool inventoried(const net::ip_address& a) const noexcept {
    return classify(a) == address_class::inventoried;
  }

 private:
  net::range_map<std::uint16_t> ranges_;
  std::vector<bool> inventory_;
};

}  // namespace tapsense::config
