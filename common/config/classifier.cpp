#include "common/config/classifier.h"

namespace tapsense::config {

const char* class_name(address_class c) noexcept {
  switch (c) {
    case address_class::inventoried: return "inventoried";
    case address_class::non_inventoried: return "non_inventoried";
    case address_class::monitored_external: return "monitored_external";
    case address_class::excluded: return "excluded";
    case address_class::unassigned: return "unassigned";
    case address_class::broadcast: return "broadcast";
    case address_class::multicast: return "multicast";
    case address_class::external: break;
  }
  return "external";
}

classifier::classifier(const config& cfg) : vlan_network_(4096, 0) {
  network_names_.emplace_back("");
  for (const auto& n : cfg.networks) {
    network_names_.push_back(n.name);
  }
  internal_.resize(network_names_.size());
  auto net_index = [&](const std::string& name) -> std::size_t {
    for (std::size_t i = 0; i < network_names_.size(); ++i) {
      if (network_names_[i] == name) return i;
    }
    return 0;
  };
  auto add_ranges = [](auto& map, const std::vector<std::string>& ranges, auto value) {
    for (const auto& r : ranges) {
      if (r == "default") {
        for (const char* d : default_internal_ranges) map.add(*net::ip_range::parse(d), value);
      } else if (auto range = net::ip_range::parse(r)) {
        map.add(*range, value);
      }
    }
  };
  // Inventoried groups first (in file order), then the rest: inventoried wins
  // over non-inventoried wherever both cover an address.
  for (int pass = 0; pass < 2; ++pass) {
    for (std::size_t g = 0; g < cfg.internal.size(); ++g) {
      const auto& grp = cfg.internal[g];
      if (grp.inventory != (pass == 0) || !applies_to(grp, cfg.sensor.name)) continue;
      add_ranges(internal_[net_index(grp.network)], grp.ranges, static_cast<std::uint16_t>(g));
    }
  }
  for (const auto& grp : cfg.internal) {
    inventory_.push_back(grp.inventory);
    static_.push_back(grp.type == "static");
  }
  for (auto& m : internal_) m.build();

  for (const auto& e : cfg.excluded) {
    add_ranges(excluded_, e.ranges, std::uint8_t{1});
    for (const auto& mac : e.macs) {
      if (auto m = net::mac_address::parse(mac)) excluded_macs_.insert(m->to_u64());
    }
  }
  excluded_.build();
  for (std::size_t i = 0; i < cfg.monitored.size(); ++i) {
    const auto& m = cfg.monitored[i];
    monitored_names_.push_back(m.name);
    add_ranges(monitored_, m.addresses, static_cast<std::uint16_t>(i));
    for (const auto& d : m.domains) domains_.emplace_back(d, static_cast<std::uint16_t>(i));
  }
  monitored_.build();

  for (std::size_t n = 0; n < cfg.networks.size(); ++n) {
    for (auto v : cfg.networks[n].vlans) vlan_network_[v & 0xfff] = static_cast<std::uint8_t>(n + 1);
  }
  port_network_.assign(cfg.capture.interfaces.size(), 0);
  for (std::size_t p = 0; p < cfg.capture.interfaces.size(); ++p) {
    for (std::size_t n = 0; n < cfg.networks.size(); ++n) {
      for (const auto& i : cfg.networks[n].interfaces) {
        if (i == cfg.capture.interfaces[p].name) port_network_[p] = static_cast<std::uint8_t>(n + 1);
      }
    }
  }
}

std::uint8_t classifier::network_of(std::uint16_t port, std::uint16_t vlan, bool tagged) const noexcept {
  if (tagged) {
    if (const auto n = vlan_network_[vlan & 0xfff]; n != 0) return n;
  }
  return port < port_network_.size() ? port_network_[port] : 0;
}

int classifier::match_domain(std::string_view name) const noexcept {
  while (!name.empty() && name.back() == '.') name.remove_suffix(1);
  for (const auto& [d, idx] : domains_) {
    if (d.size() > 2 && d[0] == '*' && d[1] == '.') {
      const std::string_view suffix = std::string_view(d).substr(1);  // ".example.com"
      if (name.size() > suffix.size() && name.substr(name.size() - suffix.size()) == suffix) return idx;
      if (name == std::string_view(d).substr(2)) return idx;
    } else if (name == d) {
      return idx;
    }
  }
  return -1;
}

}  // namespace tapsense::config
