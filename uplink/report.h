#pragma once
// Views over the inventory for the output files.
//
// Assets are keyed by MAC when one is known for their IP (so DHCP churn does
// not make new assets) and by IP otherwise. An IP's MAC comes from, in order
// of trust: DHCP (lease, client address), ARP, then the source MAC of its own
// packets unless that MAC is a router's (it forwards traffic from outside the
// inventory too). Observations about an IP go to the device that held the IP
// when the observation was made.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/config/classifier.h"
#include "common/net/addr.h"

namespace SQLite {
class Database;
}

namespace tapsense::uplink {

struct evidence_item {
  std::string source;
  std::string field;
  std::string value;
  std::uint8_t confidence = 0;
  std::uint64_t first_seen = 0;
  std::uint64_t last_seen = 0;
};

struct asset_view {
  std::optional<net::mac_address> mac;
  std::optional<net::ip_address> ip;     // the current address (latest; IPv4 preferred)
  std::vector<net::ip_address> ips;      // every address seen for the device
  std::string asset_class = "inventoried";
  std::uint64_t first_seen = 0;
  std::uint64_t last_seen = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t packets_in = 0;
  std::uint64_t packets_out = 0;
  std::optional<std::string> vendor;
  std::optional<std::string> hostname;
  std::optional<std::string> os;
  std::optional<std::string> device_type;
  std::vector<evidence_item> evidence;
};

// `cls` decides which addresses belong to the inventory (DHCP can tell
// addresses outside it).
std::vector<asset_view> build_assets(SQLite::Database& db, const config::classifier& cls);

// Writes the files atomically (temporary file, then rename). Return the
// number of records written.
std::size_t write_assets_json(const std::vector<asset_view>& assets, const std::string& path);
std::size_t write_flows_json(SQLite::Database& db, const std::string& path);

// "tcp", "udp", "icmp", ... or the protocol number as text.
std::string protocol_name(unsigned proto);

}  // namespace tapsense::uplink
