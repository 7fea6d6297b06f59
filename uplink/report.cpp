#include "uplink/report.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "common/fp/device_class.h"
#include "common/net/names.h"
#include "common/schema/report.capnp.h"
#include "common/util/json.h"
#include "common/util/time.h"

namespace tapsense::uplink {

namespace {

constexpr std::uint64_t ns = 1'000'000'000ULL;

// (network index, address): the identity of an address.
struct naddr {
  std::uint16_t net;
  net::ip_address ip;
  bool operator==(const naddr&) const = default;
};
struct naddr_hash {
  std::size_t operator()(const naddr& a) const noexcept {
    std::uint64_t x;
    std::uint64_t y;
    std::memcpy(&x, a.ip.b.data(), 8);
    std::memcpy(&y, a.ip.b.data() + 8, 8);
    // A 64-bit mix (SplitMix64's finaliser): IPv4-mapped addresses differ
    // only in their last four bytes.
    std::uint64_t h = x ^ (y * 0x9e3779b97f4a7c15ULL) ^ (std::uint64_t{a.net} << 48);
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    return static_cast<std::size_t>(h ^ (h >> 31));
  }
};

// Trust order of IP-MAC evidence; higher wins.
enum trust : int { requested = 1, ip_source = 2, arp = 3, dhcp = 4 };

struct binding {
  std::uint64_t mac;
  int trust;
  std::uint64_t first_seen;
  std::uint64_t last_seen;
  std::uint64_t packets;
};

struct sighting {
  std::uint64_t first_seen = 0;
  std::uint64_t last_seen = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t packets_in = 0;
  std::uint64_t packets_out = 0;
};

struct observation {
  std::uint16_t net;
  std::uint64_t mac;
  std::optional<net::ip_address> ip;
  evidence_item e;
};

// The MAC an IP belongs to at time `ts` (0: overall best).
std::optional<std::uint64_t> resolve(const std::vector<binding>& bs, std::uint64_t ts) {
  const binding* best = nullptr;
  auto better = [&](const binding& b) {
    if (best == nullptr) return true;
    if (ts != 0) {
      const bool in_b = b.first_seen <= ts && ts <= b.last_seen;
      const bool in_best = best->first_seen <= ts && ts <= best->last_seen;
      if (in_b != in_best) return in_b;
    }
    if (b.trust != best->trust) return b.trust > best->trust;
    if (b.trust == ip_source && b.packets != best->packets) return b.packets > best->packets;
    return b.last_seen > best->last_seen;
  };
  for (const auto& b : bs) {
    if (better(b)) best = &b;
  }
  if (best == nullptr) return std::nullopt;
  return best->mac;
}

bool better_evidence(const evidence_item& a, const evidence_item& b) {
  return std::tie(a.confidence, a.last_seen) > std::tie(b.confidence, b.last_seen);
}

// Network names <-> small indices (0 is the default network "").
struct networks {
  std::vector<std::string> names{""};
  std::uint16_t index(const std::string& n) {
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (names[i] == n) return static_cast<std::uint16_t>(i);
    }
    names.push_back(n);
    return static_cast<std::uint16_t>(names.size() - 1);
  }
  std::uint8_t classifier_index(const config::classifier& cls, std::uint16_t i) const {
    for (std::size_t k = 0; k < cls.networks(); ++k) {
      if (cls.network_name(static_cast<std::uint8_t>(k)) == names[i]) return static_cast<std::uint8_t>(k);
    }
    return 0;
  }
};

std::string os_family(const std::string& label) {
  // p0f labels: "Windows 7 or 8", "Linux 3.11 and newer", "Mac OS X", ...
  const auto sp = label.find(' ');
  return sp == std::string::npos ? label : label.substr(0, sp);
}

}  // namespace

std::vector<asset_view> build_assets(const model& m, const config::classifier& cls) {
  networks nets;
  std::unordered_map<std::uint64_t, bool> gateways;
  for (const auto& [mac, g] : m.gateways()) gateways[mac] = true;
  auto addr = [](const opt_ip& ip) { return ip.value_or(net::ip_address{}); };
  // Bindings in the inventory's key order (network, ip, mac, source): where
  // two bind equally well, the first wins.
  // (Every table here is sized first: growing rehashes all it holds.)
  std::unordered_map<naddr, std::vector<binding>, naddr_hash> bindings;
  bindings.reserve(m.bindings().size());
  for (const auto& [k, v] : m.bindings()) {
    const auto src = static_cast<schema::BindingSource>(k.source);
    int t = ip_source;
    // An address a device announces for itself (LLDP/CDP, PROFINET,
    // EtherNet/IP, mDNS) weighs as ARP does.
    if (src == schema::BindingSource::ARP || src == schema::BindingSource::ANNOUNCED) t = arp;
    if (src == schema::BindingSource::DHCP) t = dhcp;
    if (src == schema::BindingSource::DHCP_REQUESTED) t = requested;
    if (t == ip_source && gateways.count(k.mac) != 0) continue;
    bindings[{nets.index(k.network), addr(k.ip)}].push_back({k.mac, t, v.first_seen, v.last_seen, v.packets});
  }
  std::vector<observation> observations;
  observations.reserve(m.observations().size());
  for (const auto& [k, v] : m.observations()) {
    observation o;
    o.net = nets.index(k.network.str());
    o.mac = k.mac;
    o.ip = k.ip;
    o.e.source = k.source;
    o.e.rule = k.rule;
    o.e.field = k.field;
    o.e.value = k.value.str();
    o.e.confidence = v.confidence;
    o.e.first_seen = v.first_seen;
    o.e.last_seen = v.last_seen;
    observations.push_back(std::move(o));
  }
  // Per address: its totals, and its parts per MAC its packets carried.
  std::unordered_map<naddr, sighting, naddr_hash> sightings;
  std::unordered_map<naddr, std::vector<std::pair<std::uint64_t, sighting>>, naddr_hash> parts;
  std::unordered_map<naddr, std::vector<std::uint8_t>, naddr_hash> ttls;
  sightings.reserve(m.sightings().size());
  parts.reserve(m.sightings().size());
  ttls.reserve(m.sightings().size());
  for (const auto& [k, v] : m.sightings()) {
    const naddr na{nets.index(k.network), addr(k.ip)};
    sighting p;
    p.first_seen = v.first_seen;
    p.last_seen = v.last_seen;
    p.bytes_in = v.bytes_in;
    p.bytes_out = v.bytes_out;
    p.packets_in = v.packets_in;
    p.packets_out = v.packets_out;
    auto [it, fresh] = sightings.try_emplace(na, p);
    if (!fresh) {
      auto& s = it->second;
      s.first_seen = std::min(s.first_seen, p.first_seen);
      s.last_seen = std::max(s.last_seen, p.last_seen);
      s.bytes_in += p.bytes_in;
      s.bytes_out += p.bytes_out;
      s.packets_in += p.packets_in;
      s.packets_out += p.packets_out;
    }
    parts[na].emplace_back(k.mac, p);
    if (!v.ttls.empty()) {
      auto& t = ttls[na];
      t.insert(t.end(), v.ttls.begin(), v.ttls.end());
    }
  }
  auto inventoried = [&](std::uint16_t n, const net::ip_address& ip) {
    return cls.inventoried(ip, nets.classifier_index(cls, n));
  };

  // Devices: one per (network, MAC), else one per (network, IP).
  using key = std::tuple<std::uint16_t, std::uint64_t, net::ip_address>;
  struct key_hash {
    std::size_t operator()(const key& k) const noexcept {
      return naddr_hash{}(naddr{std::get<0>(k), std::get<2>(k)}) ^ (std::get<1>(k) * 0x9e3779b97f4a7c15ULL);
    }
  };
  // (Hashed, for the lookups; walked in key order at the end.)
  std::unordered_map<key, asset_view, key_hash> assets;
  assets.reserve(sightings.size() + bindings.size());
  std::unordered_map<naddr, std::uint64_t, naddr_hash> ip_owner;  // address -> mac (0 none)
  ip_owner.reserve(sightings.size() + bindings.size());
  auto asset_for = [&](std::uint16_t n, std::uint64_t mac, const net::ip_address& ip) -> asset_view& {
    const key k = mac != 0 ? key{n, mac, net::ip_address{}} : key{n, 0, ip};
    auto& a = assets[k];
    a.network = nets.names[n];
    if (mac != 0) a.mac = net::mac_address::from_u64(mac);
    return a;
  };
  // Static ranges ([[internal]] type = "static"): the address is the
  // device, whatever MAC it shows (a router in front, a replaced NIC); the
  // MAC is kept for display and its facts go to every address showing it.
  auto static_addr = [&](std::uint16_t n, const net::ip_address& ip) {
    return cls.static_address(ip, nets.classifier_index(cls, n));
  };
  std::map<std::pair<std::uint16_t, std::uint64_t>, std::vector<key>> static_homes;
  auto asset_static = [&](std::uint16_t n, std::uint64_t mac, const net::ip_address& ip) -> asset_view& {
    const key k{n, 0, ip};
    auto& a = assets[k];
    a.network = nets.names[n];
    if (mac != 0) {
      a.mac = net::mac_address::from_u64(mac);
      static_homes[{n, mac}].push_back(k);
    }
    return a;
  };
  auto merge_time = [](asset_view& a, std::uint64_t first, std::uint64_t last) {
    if (first != 0 && (a.first_seen == 0 || first < a.first_seen)) a.first_seen = first;
    a.last_seen = std::max(a.last_seen, last);
  };

  // When each device last used each of its addresses (the current address).
  std::map<std::pair<const asset_view*, net::ip_address>, std::uint64_t> last_at;
  for (const auto& [na, s] : sightings) {
    auto bit = bindings.find(na);
    const bool bound = bit != bindings.end() &&
                       std::any_of(bit->second.begin(), bit->second.end(),
                                   [](const binding& b) { return b.trust >= arp; });
    // An address that never sent anything (an unanswered SYN, a directed
    // broadcast) is not a device we discovered.
    if (s.packets_out == 0 && !bound) continue;
    const std::uint64_t mac = bit != bindings.end() ? resolve(bit->second, 0).value_or(0) : 0;
    const bool fixed = static_addr(na.net, na.ip);
    ip_owner[na] = fixed ? 0 : mac;
    auto& a = fixed ? asset_static(na.net, mac, na.ip) : asset_for(na.net, mac, na.ip);
    a.ips.push_back(na.ip);
    // Traffic goes to the device whose MAC carried it when that MAC is bound
    // to the address (a DHCP address's previous holder keeps its own), else
    // (a router's MAC, none, a static range) to the address's owner.
    for (const auto& [part_mac, p] : parts[na]) {
      asset_view* to = &a;
      if (!fixed && part_mac != 0 && part_mac != mac && gateways.count(part_mac) == 0 && bit != bindings.end() &&
          std::any_of(bit->second.begin(), bit->second.end(),
                      [m = part_mac](const binding& b) { return b.mac == m; })) {
        to = &asset_for(na.net, part_mac, na.ip);
        to->ips.push_back(na.ip);
      }
      merge_time(*to, p.first_seen, p.last_seen);
      auto& last = last_at[{to, na.ip}];
      last = std::max(last, p.last_seen);
      to->bytes_in += p.bytes_in;
      to->bytes_out += p.bytes_out;
      to->packets_in += p.packets_in;
      to->packets_out += p.packets_out;
    }
    // Several initial TTLs (or hop distances) in the TCP packets of one
    // address: several stacks behind it. Per address: a device's IPv4 and
    // IPv6 stacks, or two of its addresses, may differ without NAT.
    if (auto t = ttls.find(na); t != ttls.end()) {
      auto v = t->second;
      std::sort(v.begin(), v.end());
      v.erase(std::unique(v.begin(), v.end()), v.end());
      if (v.size() > 1) {
        std::string why = na.ip.to_string() + ": TCP TTLs";
        for (auto x : v) why += " " + std::to_string(x);
        a.nat_ttls.push_back(std::move(why));
      }
    }
  }
  // Devices known only from DHCP (asked for an address; no traffic of theirs
  // seen yet) or from LLDP/CDP/PROFINET announcements are devices on this
  // segment all the same, unless every address they are given or announce
  // lies outside the inventory.
  std::map<std::pair<std::uint16_t, std::uint64_t>, std::pair<bool, bool>> dhcp_addresses;
  for (const auto& [na, bs] : bindings) {
    for (const auto& b : bs) {
      if (b.trust == dhcp || b.trust == requested || b.trust == arp) {
        auto& d = dhcp_addresses[{na.net, b.mac}];
        d.first = true;
        d.second = d.second || inventoried(na.net, na.ip);
      }
    }
  }
  // Layer-2 discovery protocols speak for the device that sends them.
  auto announces_itself = [](proto::source_name source) {
    return source == "dhcp" || source == "dhcpv6" || source == "lldp" || source == "cdp" || source == "profinet";
  };
  for (const auto& o : observations) {
    if (o.mac != 0 && !o.ip && announces_itself(o.e.source)) {
      const auto d = dhcp_addresses.find({o.net, o.mac});
      if (d != dhcp_addresses.end() && d->second.first && !d->second.second &&
          assets.count({o.net, o.mac, net::ip_address{}}) == 0) {
        continue;
      }
      if (auto h = static_homes.find({o.net, o.mac}); h != static_homes.end()) {
        for (const auto& k : h->second) merge_time(assets[k], o.e.first_seen, o.e.last_seen);
        continue;
      }
      auto& a = asset_for(o.net, o.mac, {});
      merge_time(a, o.e.first_seen, o.e.last_seen);
    }
  }
  // Addresses of MAC assets that only DHCP told us about.
  for (const auto& [na, bs] : bindings) {
    if (ip_owner.count(na) != 0 || !inventoried(na.net, na.ip)) continue;
    const auto best = resolve(bs, 0);
    for (const auto& b : bs) {
      if ((b.trust == dhcp || b.trust == requested || b.trust == arp) && best == b.mac) {
        auto it = assets.find({na.net, b.mac, net::ip_address{}});
        if (it == assets.end()) continue;
        auto& a = it->second;
        if (std::find(a.ips.begin(), a.ips.end(), na.ip) == a.ips.end()) a.ips.push_back(na.ip);
        ip_owner[na] = b.mac;
      }
    }
  }

  // Evidence (the last use of the observations: their strings move).
  for (auto& o : observations) {
    asset_view* a = nullptr;
    if (o.ip && static_addr(o.net, *o.ip)) {
      // A fact about a static address belongs to that address's device.
      auto it = assets.find({o.net, 0, *o.ip});
      if (it != assets.end()) it->second.evidence.push_back(std::move(o.e));
      continue;
    }
    if (o.mac != 0) {
      // About a MAC, or about a local sender (its own MAC and its address).
      auto it = assets.find({o.net, o.mac, net::ip_address{}});
      if (it != assets.end()) a = &it->second;
      if (a == nullptr && !o.ip) {
        if (auto h = static_homes.find({o.net, o.mac}); h != static_homes.end()) {
          for (const auto& k : h->second) assets[k].evidence.push_back(o.e);
          continue;
        }
      }
    }
    if (a == nullptr && o.ip) {
      const naddr na{o.net, *o.ip};
      auto owner = ip_owner.find(na);
      if (owner == ip_owner.end()) continue;  // not an inventoried device
      std::uint64_t mac = owner->second;
      if (auto bit = bindings.find(na); bit != bindings.end()) {
        // Who held the address when the fact was first seen: replays of a
        // fact (a restarted fingerprinter) move last_seen, never first_seen.
        mac = resolve(bit->second, o.e.first_seen).value_or(mac);
      }
      auto it = mac != 0 ? assets.find({o.net, mac, net::ip_address{}}) : assets.find({o.net, 0, *o.ip});
      if (it != assets.end()) a = &it->second;
    }
    if (a != nullptr) a->evidence.push_back(std::move(o.e));
  }

  std::vector<std::pair<const key, asset_view>*> in_order;
  in_order.reserve(assets.size());
  for (auto& entry : assets) in_order.push_back(&entry);
  std::sort(in_order.begin(), in_order.end(), [](const auto* x, const auto* y) { return x->first < y->first; });
  std::vector<asset_view> out;
  out.reserve(assets.size());
  for (auto* entry : in_order) {
    auto& a = entry->second;
    // Current address: the most recently active one, IPv4 first.
    std::sort(a.ips.begin(), a.ips.end());
    a.ips.erase(std::unique(a.ips.begin(), a.ips.end()), a.ips.end());
    const net::ip_address* cur = nullptr;
    std::uint64_t cur_last = 0;
    for (const auto& ip : a.ips) {
      const auto it = last_at.find({&a, ip});
      const std::uint64_t last = it != last_at.end() ? it->second : 0;
      const bool v4 = ip.is_v4();
      if (cur == nullptr || (v4 && !cur->is_v4()) || (v4 == cur->is_v4() && last > cur_last)) {
        cur = &ip;
        cur_last = last;
      }
    }
    if (cur != nullptr) a.ip = *cur;
    // Best value per field: highest confidence, then most recent.
    std::map<proto::field_name, const evidence_item*> best;
    std::set<std::string> os_families;
    for (const auto& e : a.evidence) {
      auto& b = best[e.field];
      if (b == nullptr || better_evidence(e, *b)) b = &e;
      if (e.source == "p0f" && e.field == "os") os_families.insert(os_family(e.value));
    }
    auto pick = [&](proto::field_name field) -> std::optional<std::string> {
      auto it = best.find(field);
      if (it == best.end()) return std::nullopt;
      return it->second->value;
    };
    a.vendor = pick("vendor");
    a.device_type = pick("device_type");
    a.model = pick("model");
    a.firmware = pick("firmware");
    a.os_family = pick("os_family");
    a.os_version = pick("os_version");
    // Hostname: what a protocol calls the host's name; a NetBIOS or station
    // name when nothing says more.
    std::uint8_t hostname_conf = 0;
    static constexpr proto::field_name host_names[] = {"hostname", "netbios_name", "station_name", "device_name",
                                                       "system_name"};
    for (const auto f : host_names) {
      if ((a.hostname = pick(f))) {
        hostname_conf = best[f]->confidence;
        break;
      }
    }
    if (a.hostname) a.confidence.emplace_back("hostname", hostname_conf);
    // OS: a named OS from the rules, else p0f's label, else the family.
    if (auto it = best.find("os_name"); it != best.end()) {
      a.os = it->second->value;
    } else {
      a.os = pick("os");
      if (!a.os) a.os = a.os_family;
    }
    static constexpr proto::field_name identity[] = {"os_name", "os",    "os_family", "os_version",
                                                     "vendor",  "model", "firmware",  "device_type"};
    for (const auto f : identity) {
      if (auto it = best.find(f); it != best.end()) a.confidence.emplace_back(f.str(), it->second->confidence);
    }
    std::set<std::pair<std::string, std::string>> seen_sw;
    for (const auto& e : a.evidence) {
      if (e.field != "software") continue;
      const auto slash = e.value.find('/');
      asset_view::software_item sw{e.value.substr(0, slash),
                                   slash == std::string::npos ? std::string() : e.value.substr(slash + 1),
                                   std::string(e.source_text())};
      if (seen_sw.emplace(sw.name, sw.version).second) a.software.push_back(std::move(sw));
    }
    // NAT: one address, several TCP stacks (initial TTLs or hop distances,
    // or OS families). The guide asks users to exclude such addresses by
    // hand; we say which ones they are.
    if (!a.nat_ttls.empty() || os_families.size() > 1) {
      a.nat = true;
      std::string why;
      for (const auto& w : a.nat_ttls) {
        if (!why.empty()) why += "; ";
        why += w;
      }
      if (os_families.size() > 1) {
        if (!why.empty()) why += "; ";
        why += "OS families";
        for (const auto& f : os_families) why += " " + f;
      }
      a.evidence.push_back({"tapsense", {}, "nat", why, 50, a.first_seen, a.last_seen});
    }
    std::sort(a.evidence.begin(), a.evidence.end(), [](const auto& x, const auto& y) {
      return std::tie(x.source, x.rule, x.field, x.value) < std::tie(y.source, y.rule, y.field, y.value);
    });
    out.push_back(std::move(a));
  }
  // Services: what each asset answered as a server (from the flows).
  {
    std::map<std::pair<std::string, net::ip_address>, std::size_t> owner;
    for (std::size_t i = 0; i < out.size(); ++i) {
      for (const auto& ip : out[i].ips) owner[{out[i].network, ip}] = i;
    }
    // An address two devices used (DHCP churn) serves as its owner's.
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (!out[i].mac) continue;
      for (const auto& ip : out[i].ips) {
        const auto io = ip_owner.find({nets.index(out[i].network), ip});
        if (io != ip_owner.end() && io->second == out[i].mac->to_u64()) owner[{out[i].network, ip}] = i;
      }
    }
    std::vector<std::set<std::tuple<std::string, unsigned, std::string>>> svc(out.size());
    for (const auto& [k, v] : m.flows()) {
      if (k.server_class != 0 || k.server_port == 0 || !k.server) continue;
      auto it = owner.find({k.network, *k.server});
      if (it == owner.end()) continue;
      svc[it->second].emplace(protocol_name(k.protocol), unsigned{k.server_port}, v.app_service);
    }
    for (std::size_t i = 0; i < out.size(); ++i) {
      std::map<std::pair<std::string, unsigned>, std::string> merged;
      for (const auto& [proto, port, name] : svc[i]) {
        auto& n = merged[{proto, port}];
        if (n.empty()) n = name;
      }
      for (const auto& [k, name] : merged) out[i].services.push_back({k.first, k.second, name});
    }
  }
  std::sort(out.begin(), out.end(), [](const asset_view& x, const asset_view& y) {
    if (x.network != y.network) return x.network < y.network;
    if (x.ip.has_value() != y.ip.has_value()) return x.ip.has_value();
    if (x.ip && *x.ip != *y.ip) return *x.ip < *y.ip;
    return x.mac < y.mac;
  });
  return out;
}

namespace {
template <typename F>
std::size_t write_atomically(const std::string& path, F&& body) {
  const std::string tmp = path + ".tmp";
  std::size_t n = 0;
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw std::runtime_error("cannot write " + tmp + ": " + std::strerror(errno));
    n = body(f);
    f.flush();
    if (!f) throw std::runtime_error("cannot write " + tmp + ": " + std::strerror(errno));
  }
  std::filesystem::rename(tmp, path);
  return n;
}

// One flow record read back from the inventory.
struct flow_row {
  std::uint64_t interval_start, interval_end;
  std::string src, dst;
  int src_class, dst_class;
  std::optional<net::ip_address> src_ip, dst_ip;
  std::string src_name, dst_name, network;
  std::optional<net::mac_address> src_mac;  // unassigned client: the MAC it sent from
  unsigned port, proto;
  std::uint64_t packets, packets_c2s, bytes_c2s, bytes_s2c, first, last;
  std::string family, service, application;
};

// The flows in the model's key order: interval, network, client, server,
// port, protocol.
template <typename F>
std::size_t each_flow(const flow_table& flows, F&& f) {
  std::size_t n = 0;
  for (const auto& [k, v] : flows) {
    flow_row r;
    r.interval_start = k.interval_start;
    r.src_class = k.client_class;
    r.dst_class = k.server_class;
    r.src = side_text(k.client, r.src_class);
    r.dst = side_text(k.server, r.dst_class);
    r.src_ip = k.client;
    r.dst_ip = k.server;
    r.port = k.server_port;
    r.proto = k.protocol;
    r.network = k.network;
    r.packets = v.packets;
    r.packets_c2s = v.packets_c2s;
    r.bytes_c2s = v.bytes_c2s;
    r.bytes_s2c = v.bytes_s2c;
    r.first = v.first_seen;
    r.last = v.last_seen;
    r.interval_end = v.interval_end;
    r.src_name = k.client_name;
    r.dst_name = k.server_name;
    if (r.src_class == static_cast<int>(schema::AddressClass::UNASSIGNED) && !r.src_name.empty()) {
      // Kept in the name key (model.cpp): it is the client's MAC.
      r.src_mac = net::mac_address::parse(r.src_name);
      r.src_name.clear();
    }
    r.family = v.app_family;
    r.service = v.app_service;
    r.application = v.application;
    f(r);
    ++n;
  }
  return n;
}

std::optional<std::string> opt(const std::string& s) {
  return s.empty() ? std::nullopt : std::optional<std::string>(s);
}

// Service name when the application classifier had no answer: the protocol
// and server port ("tcp/8080").
std::string fallback_service(const flow_row& r) {
  return protocol_name(r.proto) + (r.port != 0 ? "/" + std::to_string(r.port) : "");
}
}  // namespace

std::size_t write_assets_json(const std::vector<asset_view>& assets, const std::string& path) {
  return write_atomically(path, [&](std::ostream& f) {
    util::json_writer w(f);
    w.begin_array();
    for (const auto& a : assets) {
      w.begin_object();
      w.key("ip");
      a.ip ? w.value(a.ip->to_string()) : w.null();
      w.key("mac");
      a.mac ? w.value(a.mac->to_string()) : w.null();
      w.key("vendor").value(a.vendor);
      w.key("hostname").value(a.hostname);
      w.key("os").value(a.os);
      w.key("device_type").value(a.device_type);
      {
        // Issue 11: the coarse class of the chosen type, and the module or
        // ODM maker a MAC block names when it is not the brand.
        const auto cls = a.device_type ? fp::device_class_of(*a.device_type) : std::string_view{};
        cls.empty() ? w.key("device_class").null() : w.key("device_class").value(std::string(cls));
        const evidence_item* mv = nullptr;
        for (const auto& e : a.evidence) {
          if (e.field == "module_vendor" && (mv == nullptr || better_evidence(e, *mv))) mv = &e;
        }
        mv != nullptr ? w.key("module_vendor").value(mv->value) : w.key("module_vendor").null();
      }
      w.key("os_family").value(a.os_family);
      w.key("os_version").value(a.os_version);
      w.key("model").value(a.model);
      w.key("firmware").value(a.firmware);
      w.key("class").value(a.asset_class);
      w.key("network").value(opt(a.network));
      w.key("first_seen");
      a.first_seen ? w.timestamp(a.first_seen) : w.null();
      w.key("last_seen");
      a.last_seen ? w.timestamp(a.last_seen) : w.null();
      w.key("bytes_in").value(a.bytes_in);
      w.key("bytes_out").value(a.bytes_out);
      w.key("packets_in").value(a.packets_in);
      w.key("packets_out").value(a.packets_out);
      w.key("nat").value(a.nat);
      w.key("confidence").begin_object();
      for (const auto& [field, conf] : a.confidence) w.key(field).value(unsigned{conf});
      w.end_object();
      w.key("software").begin_array();
      for (const auto& sw : a.software) {
        w.begin_object().key("name").value(sw.name).key("version").value(sw.version).key("source").value(sw.source).end_object();
      }
      w.end_array();
      w.key("services").begin_array();
      for (const auto& sv : a.services) {
        w.begin_object().key("protocol").value(sv.protocol).key("port").value(sv.port);
        w.key("service").value(opt(sv.name));
        w.end_object();
      }
      w.end_array();
      w.key("ips").begin_array();
      for (const auto& ip : a.ips) w.value(ip.to_string());
      w.end_array();
      w.key("evidence").begin_array();
      for (const auto& e : a.evidence) {
        w.begin_object();
        w.key("source").value(e.source_text());
        w.key("field").value(e.field.str());
        w.key("value").value(e.value);
        w.key("confidence").value(unsigned{e.confidence});
        w.key("first_seen").timestamp(e.first_seen);
        w.key("last_seen").timestamp(e.last_seen);
        w.end_object();
      }
      w.end_array();
      w.end_object();
    }
    w.end_array();
    return assets.size();
  });
}

std::string protocol_name(unsigned p) { return net::ip_protocol_name(p); }

const char* class_text(int cls) {
  switch (static_cast<schema::AddressClass>(cls)) {
    case schema::AddressClass::INVENTORIED: return "inventoried";
    case schema::AddressClass::NON_INVENTORIED: return "non_inventoried";
    case schema::AddressClass::MONITORED_EXTERNAL: return "monitored_external";
    case schema::AddressClass::EXCLUDED: return "excluded";
    case schema::AddressClass::UNASSIGNED: return "unassigned";
    case schema::AddressClass::BROADCAST: return "broadcast";
    case schema::AddressClass::MULTICAST: return "multicast";
    case schema::AddressClass::EXTERNAL: break;
  }
  return "external";
}

// What a flow side is called in the outputs: the address, "External" or "Excluded".
std::string side_text(const opt_ip& ip, int cls) {
  switch (static_cast<schema::AddressClass>(cls)) {
    case schema::AddressClass::EXTERNAL: return "External";
    case schema::AddressClass::EXCLUDED: return "Excluded";
    default: break;
  }
  return ip ? ip->to_string() : std::string();
}

std::size_t write_flows_json(const flow_table& flows, const std::string& path) {
  return write_atomically(path, [&](std::ostream& f) {
    util::json_writer w(f);
    w.begin_array();
    const auto n = each_flow(flows, [&](const flow_row& r) {
      w.begin_object();
      w.key("interval_start").timestamp(r.interval_start);
      w.key("interval_end").timestamp(r.interval_end);
      w.key("src_ip").value(r.src);
      w.key("dst_ip").value(r.dst);
      w.key("dst_port").value(r.port);
      w.key("protocol").value(protocol_name(r.proto));
      w.key("src_class").value(class_text(r.src_class));
      w.key("dst_class").value(class_text(r.dst_class));
      w.key("src_name").value(opt(r.src_name));
      w.key("src_mac");
      r.src_mac ? w.value(r.src_mac->to_string()) : w.null();
      w.key("dst_name").value(opt(r.dst_name));
      w.key("network").value(opt(r.network));
      w.key("family").value(opt(r.family));
      w.key("service").value(opt(r.service));
      w.key("application").value(opt(r.application));
      w.key("packets").value(r.packets);
      w.key("packets_src_to_dst").value(r.packets_c2s);
      w.key("bytes_src_to_dst").value(r.bytes_c2s);
      w.key("bytes_dst_to_src").value(r.bytes_s2c);
      w.key("first_seen").timestamp(r.first);
      w.key("last_seen").timestamp(r.last);
      w.end_object();
    });
    w.end_array();
    return n;
  });
}

std::size_t write_flows_ecs(const flow_table& flows, const std::string& path, const std::string& sensor) {
  return write_atomically(path, [&](std::ostream& f) {
    // https://www.elastic.co/guide/en/ecs/current/ (event, source,
    // destination, network, observer field sets). One document per line:
    // each top-level object the compact writer closes ends its line.
    util::json_writer w(f, false);
    return each_flow(flows, [&](const flow_row& r) {
      w.begin_object();
      w.key("@timestamp").timestamp(r.interval_start);
      w.key("ecs").begin_object().key("version").value("8.11.0").end_object();
      w.key("event").begin_object();
      w.key("kind").value("event");
      w.key("category").begin_array().value("network").end_array();
      w.key("type").begin_array().value("connection").end_array();
      w.key("module").value("tapsense");
      w.key("dataset").value("tapsense.flow");
      w.key("start").timestamp(r.first);
      w.key("end").timestamp(r.last);
      w.end_object();
      auto side = [&](const char* name, const std::optional<net::ip_address>& ip, const std::string& text,
                      const std::string& site, const std::optional<net::mac_address>& mac, std::uint64_t bytes,
                      std::uint64_t packets, bool port) {
        w.key(name).begin_object();
        // ECS: `address` holds what we know of the side ("External" when
        // outside addresses are not tracked), `ip` the address, `domain` a
        // monitored site's configured name.
        w.key("address").value(text);
        if (ip) w.key("ip").value(ip->to_string());
        if (!site.empty()) w.key("domain").value(site);
        if (mac) {
          // ECS: RFC 7042 notation, upper case and hyphens.
          std::string m = mac->to_string();
          for (auto& ch : m) ch = ch == ':' ? '-' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
          w.key("mac").value(m);
        }
        if (port) w.key("port").value(r.port);
        w.key("bytes").value(bytes);
        w.key("packets").value(packets);
        w.end_object();
      };
      side("source", r.src_ip, r.src, r.src_name, r.src_mac, r.bytes_c2s, r.packets_c2s, false);
      side("destination", r.dst_ip, r.dst, r.dst_name, std::nullopt, r.bytes_s2c, r.packets - r.packets_c2s,
           r.port != 0);
      w.key("network").begin_object();
      w.key("transport").value(protocol_name(r.proto));
      if (!r.service.empty()) w.key("protocol").value(r.service);
      if (!r.application.empty()) w.key("application").value(r.application);
      w.key("bytes").value(r.bytes_c2s + r.bytes_s2c);
      w.key("packets").value(r.packets);
      if (!r.network.empty()) w.key("name").value(r.network);
      w.end_object();
      w.key("observer").begin_object().key("name").value(sensor).key("type").value("sensor").key("product").value("tapsense").end_object();
      w.end_object();
    });
  });
}

std::size_t write_traffic_json(const flow_table& flows, const std::vector<asset_view>& assets,
                               const std::string& path) {
  // (network, ip) -> asset index
  struct owner_hash {
    std::size_t operator()(const std::pair<std::string_view, net::ip_address>& k) const noexcept {
      return std::hash<std::string_view>{}(k.first) ^ naddr_hash{}(naddr{0, k.second});
    }
  };
  // (The names are the assets' own strings, which outlive the tables.)
  std::unordered_map<std::pair<std::string_view, net::ip_address>, std::size_t, owner_hash> owner;
  owner.reserve(assets.size());
  // (network, MAC) -> asset index: an unassigned client's flows (DHCP from
  // 0.0.0.0) belong to the asset of the MAC they came from.
  std::map<std::pair<std::string_view, std::uint64_t>, std::size_t> mac_owner;
  for (std::size_t i = 0; i < assets.size(); ++i) {
    for (const auto& ip : assets[i].ips) owner[{assets[i].network, ip}] = i;
    if (assets[i].mac) mac_owner[{assets[i].network, assets[i].mac->to_u64()}] = i;
  }
  struct row {
    std::uint64_t ingress = 0;
    std::uint64_t egress = 0;
    std::uint64_t packets = 0;
    std::uint64_t flows = 0;
  };
  // Families and services are few: each is kept once, and the summaries
  // key on views of those copies (a flow's own strings end with it).
  std::unordered_set<std::string> names;
  auto name_of = [&names](const std::string& s) { return std::string_view(*names.insert(s).first); };
  // asset -> (family, service, role) -> totals
  std::vector<std::map<std::tuple<std::string_view, std::string_view, std::string_view>, row>> summary(
      assets.size());
  each_flow(flows, [&](const flow_row& r) {
    const std::string_view family = name_of(r.family.empty() ? "Unknown" : r.family);
    const std::string_view service = name_of(r.service.empty() ? fallback_service(r) : r.service);
    if (r.src_mac) {
      if (auto it = mac_owner.find({r.network, r.src_mac->to_u64()}); it != mac_owner.end()) {
        auto& x = summary[it->second][{family, service, "client"}];
        x.ingress += r.bytes_s2c;
        x.egress += r.bytes_c2s;
        x.packets += r.packets;
        ++x.flows;
      }
    }
    if (r.src_ip && r.src_class == static_cast<int>(schema::AddressClass::INVENTORIED)) {
      if (auto it = owner.find({r.network, *r.src_ip}); it != owner.end()) {
        auto& x = summary[it->second][{family, service, "client"}];
        x.ingress += r.bytes_s2c;
        x.egress += r.bytes_c2s;
        x.packets += r.packets;
        ++x.flows;
      }
    }
    if (r.dst_ip && r.dst_class == static_cast<int>(schema::AddressClass::INVENTORIED)) {
      if (auto it = owner.find({r.network, *r.dst_ip}); it != owner.end()) {
        auto& x = summary[it->second][{family, service, "server"}];
        x.ingress += r.bytes_c2s;
        x.egress += r.bytes_s2c;
        x.packets += r.packets;
        ++x.flows;
      }
    }
  });
  return write_atomically(path, [&](std::ostream& f) {
    util::json_writer w(f);
    w.begin_array();
    std::size_t n = 0;
    for (std::size_t i = 0; i < assets.size(); ++i) {
      const auto& a = assets[i];
      w.begin_object();
      w.key("ip");
      a.ip ? w.value(a.ip->to_string()) : w.null();
      w.key("mac");
      a.mac ? w.value(a.mac->to_string()) : w.null();
      w.key("hostname").value(a.hostname);
      w.key("network").value(opt(a.network));
      std::uint64_t in = 0;
      std::uint64_t out = 0;
      w.key("traffic").begin_array();
      for (const auto& [k, x] : summary[i]) {
        w.begin_object();
        w.key("family").value(std::get<0>(k));
        w.key("service").value(std::get<1>(k));
        w.key("role").value(std::get<2>(k));
        w.key("ingress").value(x.ingress);
        w.key("egress").value(x.egress);
        w.key("total").value(x.ingress + x.egress);
        w.key("packets").value(x.packets);
        w.key("flows").value(x.flows);
        w.end_object();
        in += x.ingress;
        out += x.egress;
        ++n;
      }
      w.end_array();
      w.key("ingress").value(in);
      w.key("egress").value(out);
      w.key("total").value(in + out);
      w.end_object();
    }
    w.end_array();
    return n;
  });
}

sensor_status status_of(const std::vector<asset_view>& assets, std::uint64_t now_ns) {
  sensor_status s;
  // Never older than what the assets say they saw.
  for (const auto& a : assets) now_ns = std::max(now_ns, a.last_seen);
  s.packet_time_ns = now_ns;
  s.assets = assets.size();
  const std::uint64_t hour = 3600 * ns;
  for (const auto& a : assets) {
    if (now_ns != 0 && a.last_seen + hour >= now_ns) ++s.active_assets_1h;
  }
  return s;
}

void write_status_json(const sensor_status& s, const std::string& path) {
  write_atomically(path, [&](std::ostream& f) {
    util::json_writer w(f);
    w.begin_object();
    w.key("sensor").value(s.sensor);
    w.key("packet_time");
    s.packet_time_ns ? w.timestamp(s.packet_time_ns) : w.null();
    w.key("assets").value(std::uint64_t{s.assets});
    w.key("active_assets_1h").value(std::uint64_t{s.active_assets_1h});
    w.key("flows").value(std::uint64_t{s.flows});
    w.end_object();
    return std::size_t{1};
  });
}

}  // namespace tapsense::uplink
