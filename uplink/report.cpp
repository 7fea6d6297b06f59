#include "uplink/report.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <tuple>
#include <unordered_map>

#include "common/schema/report.capnp.h"
#include "common/util/json.h"
#include "common/util/time.h"

namespace tapsense::uplink {

namespace {

net::ip_address ip_from_blob(const SQLite::Column& c) {
  net::ip_address a;
  if (c.getBytes() == 16) {
    std::memcpy(a.b.data(), c.getBlob(), 16);
  }
  return a;
}

struct ip_key_hash {
  std::size_t operator()(const net::ip_address& a) const noexcept {
    std::uint64_t x;
    std::uint64_t y;
    std::memcpy(&x, a.b.data(), 8);
    std::memcpy(&y, a.b.data() + 8, 8);
    return std::hash<std::uint64_t>{}(x * 31 + y);
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

}  // namespace

std::vector<asset_view> build_assets(SQLite::Database& db, const config::classifier& cls) {
  // Routers: MACs seen forwarding traffic from outside the inventory.
  std::unordered_map<std::uint64_t, bool> gateways;
  {
    SQLite::Statement st(db, "SELECT mac FROM gateways");
    while (st.executeStep()) gateways[static_cast<std::uint64_t>(st.getColumn(0).getInt64())] = true;
  }
  std::unordered_map<net::ip_address, std::vector<binding>, ip_key_hash> bindings;
  {
    SQLite::Statement st(db, "SELECT ip, mac, source, first_seen, last_seen, packets FROM bindings");
    while (st.executeStep()) {
      const auto mac = static_cast<std::uint64_t>(st.getColumn(1).getInt64());
      const auto src = static_cast<schema::BindingSource>(st.getColumn(2).getInt());
      int t = ip_source;
      if (src == schema::BindingSource::ARP) t = arp;
      if (src == schema::BindingSource::DHCP) t = dhcp;
      if (t == ip_source && gateways.count(mac) != 0) continue;
      bindings[ip_from_blob(st.getColumn(0))].push_back(
          {mac, t, static_cast<std::uint64_t>(st.getColumn(3).getInt64()),
           static_cast<std::uint64_t>(st.getColumn(4).getInt64()),
           static_cast<std::uint64_t>(st.getColumn(5).getInt64())});
    }
  }
  std::vector<observation> observations;
  {
    SQLite::Statement st(db,
        "SELECT mac, ip, source, field, value, confidence, first_seen, last_seen FROM observations");
    while (st.executeStep()) {
      observation o;
      o.mac = static_cast<std::uint64_t>(st.getColumn(0).getInt64());
      if (st.getColumn(1).getBytes() == 16) o.ip = ip_from_blob(st.getColumn(1));
      o.e.source = st.getColumn(2).getString();
      o.e.field = st.getColumn(3).getString();
      o.e.value = st.getColumn(4).getString();
      o.e.confidence = static_cast<std::uint8_t>(st.getColumn(5).getInt());
      o.e.first_seen = static_cast<std::uint64_t>(st.getColumn(6).getInt64());
      o.e.last_seen = static_cast<std::uint64_t>(st.getColumn(7).getInt64());
      // DHCP tells IP-MAC bindings through observations (the fingerprinter
      // parses DHCP): a lease or a client's own address, or the address it asks for.
      if (o.mac != 0 && o.e.source == "dhcp" && (o.e.field == "ip" || o.e.field == "requested_ip")) {
        if (auto a = net::ip_address::parse(o.e.value)) {
          bindings[*a].push_back({o.mac, o.e.field == "ip" ? dhcp : requested, o.e.first_seen,
                                  o.e.last_seen, 1});
        }
      }
      observations.push_back(std::move(o));
    }
  }
  std::unordered_map<net::ip_address, sighting, ip_key_hash> sightings;
  {
    SQLite::Statement st(db,
        "SELECT ip, first_seen, last_seen, bytes_in, bytes_out, packets_in, packets_out FROM ip_sightings");
    while (st.executeStep()) {
      auto& s = sightings[ip_from_blob(st.getColumn(0))];
      s.first_seen = static_cast<std::uint64_t>(st.getColumn(1).getInt64());
      s.last_seen = static_cast<std::uint64_t>(st.getColumn(2).getInt64());
      s.bytes_in = static_cast<std::uint64_t>(st.getColumn(3).getInt64());
      s.bytes_out = static_cast<std::uint64_t>(st.getColumn(4).getInt64());
      s.packets_in = static_cast<std::uint64_t>(st.getColumn(5).getInt64());
      s.packets_out = static_cast<std::uint64_t>(st.getColumn(6).getInt64());
    }
  }

  // Devices: one per MAC, else one per IP. Map key: (mac, ip) with ip unset for MAC assets.
  std::map<std::pair<std::uint64_t, net::ip_address>, asset_view> assets;
  std::unordered_map<net::ip_address, std::uint64_t, ip_key_hash> ip_owner;  // ip -> mac (0 none)
  auto asset_for = [&](std::uint64_t mac, const net::ip_address& ip) -> asset_view& {
    const auto key = mac != 0 ? std::pair{mac, net::ip_address{}} : std::pair{std::uint64_t{0}, ip};
    auto& a = assets[key];
    if (mac != 0) a.mac = net::mac_address::from_u64(mac);
    return a;
  };
  auto merge_time = [](asset_view& a, std::uint64_t first, std::uint64_t last) {
    if (first != 0 && (a.first_seen == 0 || first < a.first_seen)) a.first_seen = first;
    a.last_seen = std::max(a.last_seen, last);
  };

  for (const auto& [ip, s] : sightings) {
    auto bit = bindings.find(ip);
    const bool bound = bit != bindings.end() &&
                       std::any_of(bit->second.begin(), bit->second.end(),
                                   [](const binding& b) { return b.trust >= arp; });
    // An address that never sent anything (an unanswered SYN, a directed
    // broadcast) is not a device we discovered.
    if (s.packets_out == 0 && !bound) continue;
    const std::uint64_t mac = bit != bindings.end() ? resolve(bit->second, 0).value_or(0) : 0;
    ip_owner[ip] = mac;
    auto& a = asset_for(mac, ip);
    a.ips.push_back(ip);
    merge_time(a, s.first_seen, s.last_seen);
    a.bytes_in += s.bytes_in;
    a.bytes_out += s.bytes_out;
    a.packets_in += s.packets_in;
    a.packets_out += s.packets_out;
  }
  // Devices known only from DHCP (asked for an address; no traffic of theirs
  // seen yet) are devices on this segment all the same, unless every address
  // DHCP tells for them lies outside the inventory.
  std::unordered_map<std::uint64_t, std::pair<bool, bool>> dhcp_addresses;  // mac -> (any, inventoried)
  for (const auto& [ip, bs] : bindings) {
    for (const auto& b : bs) {
      if (b.trust == dhcp || b.trust == requested) {
        auto& d = dhcp_addresses[b.mac];
        d.first = true;
        d.second = d.second || cls.inventoried(ip);
      }
    }
  }
  for (const auto& o : observations) {
    if (o.mac != 0 && o.e.source == "dhcp") {
      const auto d = dhcp_addresses.find(o.mac);
      if (d != dhcp_addresses.end() && d->second.first && !d->second.second &&
          assets.count({o.mac, net::ip_address{}}) == 0) {
        continue;
      }
      auto& a = asset_for(o.mac, {});
      merge_time(a, o.e.first_seen, o.e.last_seen);
    }
  }
  // Addresses of MAC assets that only DHCP told us about.
  for (const auto& [ip, bs] : bindings) {
    if (ip_owner.count(ip) != 0 || !cls.inventoried(ip)) continue;
    for (const auto& b : bs) {
      if ((b.trust == dhcp || b.trust == requested) &&
          assets.count({b.mac, net::ip_address{}}) != 0 && resolve(bs, 0) == b.mac) {
        auto& a = assets[{b.mac, net::ip_address{}}];
        if (std::find(a.ips.begin(), a.ips.end(), ip) == a.ips.end()) a.ips.push_back(ip);
        ip_owner[ip] = b.mac;
      }
    }
  }

  // Evidence.
  for (const auto& o : observations) {
    asset_view* a = nullptr;
    if (o.mac != 0) {
      auto it = assets.find({o.mac, net::ip_address{}});
      if (it != assets.end()) a = &it->second;
    } else if (o.ip) {
      auto owner = ip_owner.find(*o.ip);
      if (owner == ip_owner.end()) continue;  // not an inventoried device
      std::uint64_t mac = owner->second;
      if (auto bit = bindings.find(*o.ip); bit != bindings.end()) {
        mac = resolve(bit->second, o.e.last_seen).value_or(mac);
      }
      auto it = mac != 0 ? assets.find({mac, net::ip_address{}}) : assets.find({0, *o.ip});
      if (it != assets.end()) a = &it->second;
    }
    if (a == nullptr) continue;
    if (o.e.field == "ip" || o.e.field == "requested_ip") {
      // Already reflected in the addresses; keep as evidence all the same.
    }
    a->evidence.push_back(o.e);
  }

  std::vector<asset_view> out;
  out.reserve(assets.size());
  for (auto& [key, a] : assets) {
    // Current address: the most recently active one, IPv4 first.
    std::sort(a.ips.begin(), a.ips.end());
    a.ips.erase(std::unique(a.ips.begin(), a.ips.end()), a.ips.end());
    const net::ip_address* cur = nullptr;
    std::uint64_t cur_last = 0;
    for (const auto& ip : a.ips) {
      const auto it = sightings.find(ip);
      const std::uint64_t last = it != sightings.end() ? it->second.last_seen : 0;
      const bool v4 = ip.is_v4();
      if (cur == nullptr || (v4 && !cur->is_v4()) || (v4 == cur->is_v4() && last > cur_last)) {
        cur = &ip;
        cur_last = last;
      }
    }
    if (cur != nullptr) a.ip = *cur;
    // Best value per field: highest confidence, then most recent.
    std::map<std::string, const evidence_item*> best;
    for (const auto& e : a.evidence) {
      auto& b = best[e.field];
      if (b == nullptr || better_evidence(e, *b)) b = &e;
    }
    auto pick = [&](const char* field) -> std::optional<std::string> {
      auto it = best.find(field);
      if (it == best.end()) return std::nullopt;
      return it->second->value;
    };
    a.vendor = pick("vendor");
    a.hostname = pick("hostname");
    a.os = pick("os");
    a.device_type = pick("device_type");
    std::sort(a.evidence.begin(), a.evidence.end(), [](const auto& x, const auto& y) {
      return std::tie(x.source, x.field, x.value) < std::tie(y.source, y.field, y.value);
    });
    out.push_back(std::move(a));
  }
  std::sort(out.begin(), out.end(), [](const asset_view& x, const asset_view& y) {
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
      w.key("class").value(a.asset_class);
      w.key("first_seen");
      a.first_seen ? w.value(util::rfc3339(a.first_seen)) : w.null();
      w.key("last_seen");
      a.last_seen ? w.value(util::rfc3339(a.last_seen)) : w.null();
      w.key("bytes_in").value(a.bytes_in);
      w.key("bytes_out").value(a.bytes_out);
      w.key("packets_in").value(a.packets_in);
      w.key("packets_out").value(a.packets_out);
      w.key("ips").begin_array();
      for (const auto& ip : a.ips) w.value(ip.to_string());
      w.end_array();
      w.key("evidence").begin_array();
      for (const auto& e : a.evidence) {
        w.begin_object();
        w.key("source").value(e.source);
        w.key("field").value(e.field);
        w.key("value").value(e.value);
        w.key("confidence").value(unsigned{e.confidence});
        w.key("first_seen").value(util::rfc3339(e.first_seen));
        w.key("last_seen").value(util::rfc3339(e.last_seen));
        w.end_object();
      }
      w.end_array();
      w.end_object();
    }
    w.end_array();
    return assets.size();
  });
}

std::string protocol_name(unsigned p) {
  switch (p) {
    case 1: return "icmp";
    case 2: return "igmp";
    case 6: return "tcp";
    case 17: return "udp";
    case 41: return "ipv6";
    case 47: return "gre";
    case 50: return "esp";
    case 51: return "ah";
    case 58: return "icmpv6";
    case 89: return "ospf";
    case 103: return "pim";
    case 112: return "vrrp";
    case 132: return "sctp";
    default: return std::to_string(p);
  }
}

std::size_t write_flows_json(SQLite::Database& db, const std::string& path) {
  return write_atomically(path, [&](std::ostream& f) {
    SQLite::Statement st(db, R"sql(
      SELECT interval_start, client, server, client_class, server_class, server_port, protocol,
             network, packets, packets_c2s, bytes_c2s, bytes_s2c, first_seen, last_seen
      FROM flows ORDER BY interval_start, client, server, server_port, protocol)sql");
    util::json_writer w(f);
    std::size_t n = 0;
    auto side = [&](const SQLite::Column& ip, int cls) {
      switch (static_cast<schema::AddressClass>(cls)) {
        case schema::AddressClass::EXTERNAL: w.value("External"); return;
        case schema::AddressClass::EXCLUDED: w.value("Excluded"); return;
        default: break;
      }
      ip.getBytes() == 16 ? w.value(ip_from_blob(ip).to_string()) : w.null();
    };
    auto class_name = [](int cls) {
      switch (static_cast<schema::AddressClass>(cls)) {
        case schema::AddressClass::INVENTORIED: return "inventoried";
        case schema::AddressClass::NON_INVENTORIED: return "non_inventoried";
        case schema::AddressClass::MONITORED_EXTERNAL: return "monitored_external";
        case schema::AddressClass::EXCLUDED: return "excluded";
        case schema::AddressClass::EXTERNAL: break;
      }
      return "external";
    };
    w.begin_array();
    while (st.executeStep()) {
      ++n;
      w.begin_object();
      w.key("interval_start").value(util::rfc3339(static_cast<std::uint64_t>(st.getColumn(0).getInt64())));
      w.key("src_ip");
      side(st.getColumn(1), st.getColumn(3).getInt());
      w.key("dst_ip");
      side(st.getColumn(2), st.getColumn(4).getInt());
      w.key("dst_port").value(st.getColumn(5).getInt());
      w.key("protocol").value(protocol_name(static_cast<unsigned>(st.getColumn(6).getInt())));
      w.key("src_class").value(class_name(st.getColumn(3).getInt()));
      w.key("dst_class").value(class_name(st.getColumn(4).getInt()));
      w.key("packets").value(static_cast<std::uint64_t>(st.getColumn(8).getInt64()));
      w.key("packets_src_to_dst").value(static_cast<std::uint64_t>(st.getColumn(9).getInt64()));
      w.key("bytes_src_to_dst").value(static_cast<std::uint64_t>(st.getColumn(10).getInt64()));
      w.key("bytes_dst_to_src").value(static_cast<std::uint64_t>(st.getColumn(11).getInt64()));
      w.key("first_seen").value(util::rfc3339(static_cast<std::uint64_t>(st.getColumn(12).getInt64())));
      w.key("last_seen").value(util::rfc3339(static_cast<std::uint64_t>(st.getColumn(13).getInt64())));
      w.end_object();
    }
    w.end_array();
    return n;
  });
}

}  // namespace tapsense::uplink
