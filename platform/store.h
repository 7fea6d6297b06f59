#pragma once
// The platform's state over db.h: users, tokens and sessions; sensors, their
// codes, check-ins, commands and events; the configuration documents and the
// TOML each sensor gets; reports and the de-duplicated asset inventory.
// Times are ns since the epoch from the injected clock (tests move it).
// Methods throw store_error (a user mistake, with the HTTP status to answer)
// or db_error (the database failed).
#include <boost/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "platform/db.h"

namespace tapsense::platform {

struct store_error : std::runtime_error {
  store_error(unsigned http_status, const std::string& what) : std::runtime_error(what), status(http_status) {}
  unsigned status;
};

struct user {
  std::int64_t id = 0;
  std::string name;
  std::string role;  // "admin" or "viewer"
};

// The guide's statuses, as the API shows them.
inline constexpr const char* status_unregistered = "Unregistered";
inline constexpr const char* status_registered = "Registered";
inline constexpr const char* status_sensing = "Sensing";
inline constexpr const char* status_paused = "Paused";
inline constexpr const char* status_not_connected = "Not Connected";
inline constexpr const char* status_deregistered = "Deregistered";

struct store_options {
  unsigned poll_seconds = 30;           // the check-in interval sensors are told
  std::int64_t code_ttl_seconds = 86400;  // a personalization code expires after this
  std::int64_t session_seconds = 12 * 3600;
  std::function<std::int64_t()> clock;  // ns since the epoch; empty: the system clock
  // Asset Reporting Stopped: a Sensing, connected sensor without a report for this long.
  std::int64_t report_stale_seconds = 3600;
};

// The guide's grace period: an inactive subscription keeps sensing this long.
inline constexpr std::int64_t subscription_grace_ns = 30LL * 86400 * 1'000'000'000LL;

// What a sensor sends about an asset, flattened from the capnp Asset (the
// sensor's own key plus the merge fields; `record` keeps the whole of it).
struct asset_record {
  std::string key;
  std::string network, ip, mac, hostname, vendor, os, device_type, device_class, model;
  std::int64_t first_seen = 0, last_seen = 0;
  boost::json::object record;  // everything, as JSON (evidence, services, counters)
};

struct flow_row {
  std::string network, client, server, application;
  std::string client_mac;              // an unassigned client's MAC ("" otherwise)
  std::string app_family, app_service;  // nDPI's family and service ("" when unknown)
  std::int64_t protocol = 0, server_port = 0, bytes_cs = 0, bytes_sc = 0, packets = 0;
  std::int64_t packets_cs = 0;  // packets from the client
  std::int64_t interval_start = 0, interval_end = 0;
};

// The flows that belong to an asset: those with its IP as client or server,
// and an unassigned client's (DHCP from 0.0.0.0) sent from its MAC, as the
// sensor's traffic.json counts them. SQL over the flows table to splice in.
struct asset_flow_filter {
  bool none = true;                   // neither an IP nor a MAC: no flows are its own
  std::string where;                  // "network = ? AND (...)"
  std::vector<sql_value> where_params;
  std::string is_client;              // true when the asset opened the flow
  std::vector<sql_value> client_params;
  // CASE WHEN the asset opened the flow THEN `yes` ELSE `no` END
  std::string when_client(const std::string& yes, const std::string& no) const {
    return "CASE WHEN " + is_client + " THEN " + yes + " ELSE " + no + " END";
  }
};
asset_flow_filter flows_of_asset(const std::string& network, const std::string& ip, const std::string& mac);

class store {
 public:
  store(db& d, store_options o);

  std::int64_t now() const { return opt_.clock ? opt_.clock() : wall_ns(); }
  static std::int64_t wall_ns();
  // Not Connected after this many ns without a check-in: 3 polls + 30 s.
  std::int64_t not_connected_after_ns() const {
    return (3 * static_cast<std::int64_t>(opt_.poll_seconds) + 30) * 1'000'000'000LL;
  }
  unsigned poll_seconds() const { return opt_.poll_seconds; }
  db& database() { return d_; }

  // --- users, tokens, sessions
  std::int64_t add_user(const std::string& name, const std::string& role, const std::string& password);
  std::string add_token(const std::string& user_name);  // the token; only its hash is kept
  std::optional<user> login(const std::string& name, const std::string& password);
  std::string new_session(std::int64_t user_id);
  void end_session(const std::string& session);
  std::optional<user> session_user(const std::string& session);
  std::optional<user> token_user(const std::string& token);

  // --- sensors
  boost::json::object create_sensor(const std::string& name, const std::string& location);
  boost::json::object new_code(std::int64_t sensor_id);
  boost::json::array list_sensors();
  boost::json::object get_sensor(std::int64_t id);  // 404 store_error when absent
  void delete_sensor(std::int64_t id);
  boost::json::object add_command(std::int64_t sensor_id, const std::string& command);
  boost::json::array list_commands(std::int64_t sensor_id);
  // Derives Not Connected for every sensor and records the transitions as
  // events (each once). Returns how many sensors went Not Connected.
  int sweep_not_connected();

  // --- sensor protocol (sensor_api.cpp decodes the capnp and calls these)
  struct registration {
    std::int64_t sensor_id;
    std::string key;
    std::string status;
    std::string name, location;
  };
  registration register_sensor(const std::string& code, const std::string& uid, const std::string& version,
                               const std::string& hostname, const boost::json::array& addresses,
                               const boost::json::array& macs);
  // Checks "Authorization: Sensor id:key": 401 unknown/wrong, 403 deregistered.
  std::int64_t authenticate_sensor(const std::string& authorization);
  struct checkin_in {
    std::string state;  // status_sensing, status_paused, ...
    std::string version, hostname;
    boost::json::array addresses, macs;
    std::uint64_t config_revision = 0, failed_revision = 0, last_command_id = 0, last_report_id = 0;
    std::string config_error;
    boost::json::object health;
    boost::json::array interfaces;
    struct event {
      std::uint64_t id;
      std::string name, module, type, message;
      std::int64_t first_seen, last_seen, count;
    };
    std::vector<event> events;
  };
  struct checkin_out {
    std::string status;
    std::uint64_t config_revision = 0;
    std::string config_hash;
    std::string config;  // empty unless the sensor's revision differs
    std::vector<std::pair<std::uint64_t, std::string>> commands;
  };
  checkin_out checkin(std::int64_t sensor_id, const checkin_in& in);
  struct report_ack {
    std::uint64_t report_id;
    bool duplicate;
    bool need_full;
  };
  report_ack report(std::int64_t sensor_id, std::uint64_t report_id, bool full, const std::vector<asset_record>& assets,
                    const std::vector<std::string>& removed, const std::vector<flow_row>& flows);

  // --- configuration documents (config.cpp)
  // kind: internal, ip-range-tags, excluded, monitored, networks, general.
  static bool config_kind(const std::string& kind);
  std::pair<boost::json::value, std::int64_t> get_config(const std::string& kind);  // body, revision
  // Validates (400 store_error with every problem, one per line) and stores;
  // if_match: the revision the writer read (412 when stale; <0: unchecked).
  std::int64_t put_config(const std::string& kind, const boost::json::value& body, std::int64_t if_match);
  boost::json::array get_interfaces(std::int64_t sensor_id);
  void put_interfaces(std::int64_t sensor_id, const boost::json::value& body);
  // The TOML fragment sensor `id` runs (its own sections only).
  std::string sensor_toml(std::int64_t sensor_id);
  // Brings the sensor's revision up to date with its TOML; returns (revision, hash, toml).
  std::tuple<std::uint64_t, std::string, std::string> sensor_revision(std::int64_t sensor_id);

  // --- assets and events (assets.cpp)
  // Filters: sensor id (0: any), network (nullopt: any), text (in ip, mac,
  // hostname, vendor, os, device type). Cursor: ids above it; limit rows.
  boost::json::object list_assets(std::int64_t sensor, const std::optional<std::string>& network,
                                  const std::string& text, std::int64_t cursor, std::int64_t limit);
  boost::json::object get_asset(std::int64_t id);
  boost::json::object list_events(std::int64_t sensor, std::int64_t cursor, std::int64_t limit);
  void delete_sensor_assets(std::int64_t sensor_id);

  // --- fleet operations (fleet.cpp)
  // Subscriptions: {"platform": {"end_date": "YYYY-MM-DD"|null}, "sensor": {...}}.
  // A subscription is active through its end date (UTC); null: no end.
  boost::json::object get_subscriptions();
  void put_subscriptions(const boost::json::value& body);
  // Applies lapsed subscriptions past their grace to every sensor
  // (Deregistered / a pause command, each once); returns the sensors changed.
  int enforce_subscriptions();
  // Raises Asset Reporting Stopped (once per silence); returns how many.
  int sweep_reporting_stopped();
  struct mail_item {
    std::int64_t id = 0;
    std::string sensor, event, module, type, message, origin;
    std::int64_t first_seen = 0, last_seen = 0, count = 0;
  };
  // Events waiting for e-mail, oldest first; those no one is to receive
  // (info events from the platform, no recipients, !smtp) are marked 2 here.
  std::vector<mail_item> pending_mail(std::size_t limit, bool smtp, std::vector<std::string>& recipients);
  void mark_mailed(std::int64_t event_id);
  // Exports: JSON lines and the next cursor (empty: the last page).
  std::pair<std::string, std::string> export_ocsf_inventory(std::int64_t cursor, std::int64_t limit);
  std::pair<std::string, std::string> export_ecs_flows(std::int64_t cursor, std::int64_t limit);

 private:
  // nullopt: no end; else the first instant (ns) the subscription is inactive.
  std::optional<std::int64_t> subscription_inactive_from(const std::string& kind);
  void deregister_for_subscription(std::int64_t sensor_id, std::int64_t inactive_from);
  void pause_for_subscription(std::int64_t sensor_id, std::int64_t inactive_from);
  void add_event(std::int64_t sensor_id, const std::string& name, const std::string& module, const std::string& type,
                 const std::string& message);
  std::string status_of(const sql_row& r, std::int64_t now) const;
  boost::json::object sensor_json(const sql_row& r, std::int64_t now);
  void upsert_asset(std::int64_t sensor_id, const asset_record& a, const std::vector<std::string>& excluded_hostnames);
  void drop_sensor_asset(std::int64_t sensor_id, const std::string& key);
  std::vector<std::string> hostname_exclusions();

  db& d_;
  store_options opt_;
};

// SHA-256 of s, lower-case hex.
std::string sha256_hex(std::string_view s);
// n random bytes as lower-case hex.
std::string random_hex(std::size_t n);

}  // namespace tapsense::platform
