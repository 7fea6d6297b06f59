#pragma once
// The sensor's configuration: one TOML file shared by every stage.
//
// load() validates everything up front and throws config_error carrying the
// file, line and column of the offending value; unknown keys are errors too
// (a typo must not silently fall back to a default). The supervisor resolves
// every "auto" value, writes the effective configuration to the run
// directory, and starts each stage with it, so a restarted stage gets exactly
// its original configuration.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace toml {
inline namespace v3 {
class table;
}
}  // namespace toml

namespace tapsense::config {

struct config_error : std::runtime_error {
  config_error(std::string file, std::uint32_t line, std::uint32_t column, std::string message);
  std::string file;
  std::uint32_t line;
  std::uint32_t column;
  std::string message;
};

struct sensor_section {
  std::string name = "tapsense";
  std::string instance;                   // shared-memory prefix; empty: derived at start
  std::string state_dir = "/var/lib/tapsense";
  std::string run_dir = "/run/tapsense";
  std::string output_dir;                 // JSON outputs; empty: state_dir
  std::string log_level = "info";         // log file level; stderr shows warnings and up
  unsigned cores = 0;                     // cores the sensor may use; 0: all online
};

struct interface_section {
  std::string name;        // kernel interface, PCI address or capture file
  std::string driver;      // "af_packet", "pci", "pcap"
  std::string mode = "default";  // "default" (everything seen) or "erspan"
  std::string erspan_address;    // with mode "erspan": address assigned to the interface
  unsigned rx_queues = 1;
};

struct capture_section {
  std::vector<std::string> pcap;          // offline inputs, read in order
  std::vector<interface_section> interfaces;
  unsigned snaplen = 2048;                // bytes of a packet kept in a payload snapshot
  unsigned payload_packets = 4;           // snapshots per flow direction
  unsigned packet_ring_mb = 32;
  unsigned snapshot_ring_mb = 32;
  unsigned mbufs = 16383;
  unsigned lcores = 0;                    // RX lcores; 0: sized from cores
  std::vector<std::string> eal_args;      // extra EAL arguments
  std::uint64_t offline_rate = 0;         // packets/s cap when reading files; 0: unthrottled
  bool dedup = true;                      // drop identical copies (SPAN both directions)
  unsigned dedup_window_us = 1000;
};

// An internal asset group (the guide's "Internal Assets"): ranges whose
// addresses are inventoried (or, with inventory = false, tracked in flows
// only). "default" in `ranges` stands for the default ranges.
struct internal_group {
  std::string name;
  bool inventory = true;
  std::vector<std::string> ranges;        // as written, validated; "default" expands
  std::string type = "dhcp";              // "dhcp" or "static"
  std::string network;                    // named address space; empty: default
  std::vector<std::string> sensors;       // empty: every sensor
  std::uint32_t line = 0;                 // where it was defined (for messages)
};

// Excluded assets: never inventoried, shown as "Excluded" in flows, nothing
// about them kept.
struct excluded_group {
  std::string name;
  std::vector<std::string> ranges;
  std::vector<std::string> macs;          // normalised "aa:bb:cc:dd:ee:ff"
  std::uint32_t line = 0;
};

// Monitored external assets: reported individually in flows (by name and the
// address seen), never inventoried. Domains match through DNS answers, TLS
// SNI and HTTP Host the sensor saw; "*.example.com" matches subdomains.
struct monitored_group {
  std::string name;
  std::vector<std::string> addresses;     // IPs, CIDRs or ranges
  std::vector<std::string> domains;       // lower case, no trailing dot
  std::uint32_t line = 0;
};

// A named address space: traffic from these sniffing interfaces or VLANs
// belongs to it, so the same IPs in two places are two assets (the guide's
// cranes). Internal groups name the network they apply to.
struct network_section {
  std::string name;
  std::vector<std::string> interfaces;    // capture interface names
  std::vector<unsigned> vlans;            // outer VLAN ids
  std::uint32_t line = 0;
};

struct aggregator_section {
  unsigned shards = 0;                    // 0: sized from cores
  std::uint32_t flow_table = 1u << 18;    // connections per shard
  std::uint32_t report_table = 1u << 17;  // report tuples per shard and interval
  std::uint32_t asset_table = 1u << 16;   // inventoried IPs per shard
  std::uint64_t flow_interval_s = 1800;   // flow reports (merge window)
  std::uint64_t asset_interval_s = 300;   // new assets reported within this
  std::uint64_t asset_update_interval_s = 1800;  // known assets: updates this often
  std::uint64_t asset_idle_s = 3600;      // an asset silent this long leaves the shard's table
  std::uint64_t tcp_idle_s = 3600;
  std::uint64_t udp_idle_s = 120;
  std::uint64_t other_idle_s = 60;
  unsigned report_ring_mb = 16;
  unsigned report_spool_mb = 64;          // report cycles waiting for room in the report ring (shm, per shard)
  std::uint32_t name_table = 1u << 14;    // monitored addresses learnt from DNS per shard
  bool applications = true;               // classify each connection's application (nDPI)
};

struct fingerprinter_section {
  unsigned workers = 0;                   // 0: sized from cores
  std::string p0f_db = "/etc/p0f/p0f.fp";
  std::string ieee_dir = "/usr/share/ieee-data";
  std::string data_dir;                   // vendor tables and rules; empty: installed or source tree
  unsigned stream_bytes = 16384;          // TCP stream prefix kept per direction for TLS/HTTP/SSH/SMB
  unsigned streams = 16384;               // streams followed at once
  unsigned report_ring_mb = 16;
  unsigned report_spool_mb = 64;          // observation batches waiting for room in the report ring (shm, per worker)
};

struct uplink_section {
  std::string database;                   // empty: <state_dir>/inventory.sqlite
  std::uint64_t flow_retention_s = 7 * 86400;  // flows older than this (packet time) are pruned
  bool ecs = true;                        // also write flows as ECS JSON lines
  std::uint64_t output_interval_s = 60;   // live: rewrite the output files this often (wall time)
  // The way to the platform (a registered sensor): an HTTP proxy that
  // tunnels TLS (CONNECT); empty: direct.
  std::string proxy;                      // "http://HOST:PORT"
  std::string proxy_auth = "none";        // none | basic | ntlm
  std::string proxy_user;
  std::string proxy_password;
  std::uint64_t spool_mb = 512;           // reports kept for the platform at most (oldest dropped past it)
};

struct supervisor_section {
  unsigned heartbeat_ms = 500;
  unsigned hang_timeout_ms = 15000;       // no heartbeat for this long: restart
  unsigned max_restarts = 10;             // per stage within restart_window_s
  unsigned restart_window_s = 60;
  std::string metrics_listen = "127.0.0.1:9640";  // Prometheus /metrics (live runs); "": off
  unsigned drop_event_percent = 1;        // "Drops Above Threshold" when drops exceed this % over 10 s
  std::string scaling = "auto";           // measure throughput at start: auto (under systemd), on, off
  unsigned reporting_stall_s = 0;         // "Asset Reporting Stopped" after this; 0: 2 x the report cadence
};

struct config {
  std::string source;                     // file it came from ("" = defaults)
  sensor_section sensor;
  capture_section capture;
  std::vector<internal_group> internal;   // precedence: order of appearance
  std::vector<excluded_group> excluded;
  std::vector<monitored_group> monitored;
  std::vector<network_section> networks;
  // Not errors, but worth saying at start (overlapping groups, ...).
  std::vector<std::string> warnings;
  aggregator_section aggregator;
  fingerprinter_section fingerprinter;
  uplink_section uplink;
  supervisor_section supervisor;
};

// Whether an internal group applies to the sensor of this name.
bool applies_to(const internal_group& g, const std::string& sensor);

// Defaults, including the default internal group (RFC 1918 + fc00::/7).
config defaults();
// Parses and validates a file; throws config_error.
config load(const std::string& path);
// Parses and validates TOML text (name is used in messages).
config parse(const std::string& text, const std::string& name);
// Renders a configuration back to TOML that parse() accepts (for the
// effective configuration the supervisor hands to stages).
std::string to_toml(const config& c);

inline constexpr const char* default_internal_ranges[] = {"10.0.0.0/8", "172.16.0.0/12",
                                                          "192.168.0.0/16", "fc00::/7"};

}  // namespace tapsense::config
