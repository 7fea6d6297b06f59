#pragma once
// Views over the inventory for the output files.
//
// Assets are keyed by (network, MAC) when a MAC is known for their IP (so
// DHCP churn does not make new assets) and by (network, IP) otherwise. An
// IP's MAC comes from, in order of trust: DHCP (lease, client address), ARP,
// then the source MAC of its own unrouted packets unless that MAC is a
// router's. Observations about an IP go to the device that held the IP when
// the observation was made.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/config/classifier.h"
#include "common/net/addr.h"
#include "uplink/model.h"

namespace tapsense::uplink {

struct evidence_item {
  proto::source_name source;
  interned rule;  // source "rule": the whole source text, "rule:<id>"
  proto::field_name field;
  std::string value;
  std::uint8_t confidence = 0;
  std::uint64_t first_seen = 0;
  std::uint64_t last_seen = 0;
  std::string_view source_text() const noexcept { return uplink::source_text(source, rule); }
};

struct asset_view {
  std::string network;
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
  std::optional<std::string> os_family;
  std::optional<std::string> os_version;
  std::optional<std::string> model;
  std::optional<std::string> firmware;
  // Confidence (0-100) of each identity field's chosen value.
  std::vector<std::pair<std::string, std::uint8_t>> confidence;
  struct software_item {
    std::string name;
    std::string version;
    std::string source;
  };
  std::vector<software_item> software;   // passive software versions
  struct service {
    std::string protocol;
    unsigned port;
    std::string name;                    // application service when known
  };
  std::vector<service> services;         // what it serves, from flows
  bool nat = false;                      // several stacks behind one address
  std::vector<std::string> nat_ttls;     // "<address>: TCP TTLs a b" per address sending several
  std::vector<evidence_item> evidence;
};

std::vector<asset_view> build_assets(const model& m, const config::classifier& cls);

// The flows the flow files are written from: the model's, or a copy of them
// taken so that the files can be written while the model moves on.
using flow_table = std::map<flow_key, flow_value>;

// Output files, each written atomically (temporary file, then rename).
// Each returns the number of records written.
std::size_t write_assets_json(const std::vector<asset_view>& assets, const std::string& path);
std::size_t write_flows_json(const flow_table& flows, const std::string& path);
// Flows as Elastic Common Schema documents, one per line.
std::size_t write_flows_ecs(const flow_table& flows, const std::string& path, const std::string& sensor);
// Per-asset traffic summary: family, service, client/server, ingress, egress, total.
std::size_t write_traffic_json(const flow_table& flows, const std::vector<asset_view>& assets,
                               const std::string& path);

struct sensor_status {
  std::string sensor;
  std::uint64_t packet_time_ns = 0;
  std::size_t assets = 0;
  std::size_t active_assets_1h = 0;
  std::size_t flows = 0;
};
sensor_status status_of(const std::vector<asset_view>& assets, std::uint64_t now_ns);
void write_status_json(const sensor_status& s, const std::string& path);

// "tcp", "udp", "icmp", ... or the protocol number as text.
std::string protocol_name(unsigned proto);
// An AddressClass as the outputs name it: "inventoried", "external", ...
const char* class_text(int cls);
// What a flow side is called in the outputs: the address, "External" or "Excluded".
std::string side_text(const opt_ip& ip, int cls);

}  // namespace tapsense::uplink
