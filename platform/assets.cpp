// Reports from sensors and the platform's de-duplicated inventory.
//
// Merge rules (Best Practice 1: two sensors see the same devices): a sensor's
// asset joins the platform asset with
//   1. the same MAC (any network: a MAC names one device), else
//   2. the same host name, case-insensitive, in the same network, unless the
//      name is in the general settings' hostname exclusions, and the
//      candidate has no other MAC, else
//   3. the same network and IP, when the candidate has no other MAC and no
//      other host name.
// Networks keep the guide's cranes apart: 10.0.0.5 in "crane1" and in
// "crane2" are two assets unless a MAC says otherwise.
#include <algorithm>
#include <set>

#include "common/net/cidr.h"
#include "platform/store.h"

namespace tapsense::platform {

namespace json = boost::json;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

constexpr const char* asset_cols =
    "id, network, ip, mac, hostname, vendor, os, device_type, device_class, model, first_seen, last_seen";

// The tags internal asset groups apply to the assets they cover (the
// guide's "apply existing tags to these assets").
struct tag_rule {
  std::vector<net::ip_range> ranges;
  std::string network;
  std::set<std::int64_t> sensors;  // empty: every sensor
  std::vector<std::string> tags;
};

std::vector<tag_rule> tag_rules(store& s) {
  std::vector<tag_rule> out;
  const json::value groups = s.get_config("internal").first;
  const json::value tags = s.get_config("ip-range-tags").first;
  auto strings = [](const json::value* v) {
    std::vector<std::string> o;
    if (v != nullptr && v->is_array()) {
      for (const auto& e : v->as_array()) {
        if (e.is_string()) {
          o.emplace_back(e.as_string().c_str());
        }
      }
    }
    return o;
  };
  for (const auto& g : groups.as_array()) {
    const auto& o = g.as_object();
    tag_rule r;
    r.tags = strings(o.if_contains("tags"));
    if (r.tags.empty()) {
      continue;
    }
    std::vector<std::string> ranges = strings(o.if_contains("ranges"));
    if (auto d = o.if_contains("default_ranges"); d != nullptr && d->is_bool() && d->as_bool()) {
      ranges.emplace_back("default");
    }
    for (const auto& name : strings(o.if_contains("ip_range_tags"))) {
      for (const auto& t : tags.as_array()) {
        if (t.as_object().at("name").as_string() == name) {
          for (auto& x : strings(t.as_object().if_contains("ranges"))) {
            ranges.push_back(x);
          }
        }
      }
    }
    for (const auto& x : ranges) {
      if (x == "default") {
        for (const char* d : {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"}) {
          r.ranges.push_back(*net::ip_range::parse(d));
        }
      } else if (auto pr = net::ip_range::parse(x)) {
        r.ranges.push_back(*pr);
      }
    }
    if (auto v = o.if_contains("network"); v != nullptr && v->is_string()) {
      r.network = v->as_string().c_str();
    }
    if (auto v = o.if_contains("sensors"); v != nullptr && v->is_array()) {
      for (const auto& e : v->as_array()) {
        if (e.is_int64()) {
          r.sensors.insert(e.as_int64());
        }
      }
    }
    out.push_back(std::move(r));
  }
  return out;
}

json::object asset_json(db& d, const sql_row& r, const std::vector<tag_rule>& rules) {
  json::object o;
  o["id"] = r.i64(0);
  o["network"] = r.str(1);
  o["ip"] = r.str(2);
  o["mac"] = r.str(3);
  o["hostname"] = r.str(4);
  o["vendor"] = r.str(5);
  o["os"] = r.str(6);
  o["device_type"] = r.str(7);
  o["device_class"] = r.str(8);
  o["model"] = r.str(9);
  o["first_seen"] = r.i64(10);
  o["last_seen"] = r.i64(11);
  json::array sensors;
  for (auto& s : d.query(
           "SELECT DISTINCT s.id, s.name FROM sensor_assets a JOIN sensors s ON s.id = a.sensor_id WHERE a.asset_id = ? "
           "ORDER BY s.id",
           {r.i64(0)})) {
    json::object so;
    so["id"] = s.i64(0);
    so["name"] = s.str(1);
    sensors.push_back(so);
  }
  o["sensors"] = sensors;
  std::set<std::string> tags;
  if (auto ip = net::ip_address::parse(r.str(2))) {
    for (const auto& rule : rules) {
      if (rule.network != r.str(1)) {
        continue;
      }
      bool seen = rule.sensors.empty();
      for (const auto& sv : sensors) {
        seen = seen || rule.sensors.count(sv.as_object().at("id").as_int64()) > 0;
      }
      bool inside = std::any_of(rule.ranges.begin(), rule.ranges.end(),
                                [&](const net::ip_range& x) { return x.contains(*ip); });
      if (seen && inside) {
        tags.insert(rule.tags.begin(), rule.tags.end());
      }
    }
  }
  json::array ta;
  for (const auto& t : tags) {
    ta.emplace_back(t);
  }
  o["tags"] = ta;
  return o;
}

}  // namespace

std::vector<std::string> store::hostname_exclusions() {
  std::vector<std::string> out;
  auto g = get_config("general").first.as_object();
  if (auto h = g.if_contains("hostname_exclusions"); h != nullptr && h->is_array()) {
    for (const auto& e : h->as_array()) {
      if (e.is_string()) {
        out.push_back(lower(std::string(e.as_string().c_str())));
      }
    }
  }
  return out;
}

void store::upsert_asset(std::int64_t sensor_id, const asset_record& a, const std::vector<std::string>& excluded) {
  std::string host_lc = lower(a.hostname);
  bool host_usable = !host_lc.empty() && std::find(excluded.begin(), excluded.end(), host_lc) == excluded.end();
  std::optional<std::int64_t> asset;
  auto prior = d_.one("SELECT asset_id FROM sensor_assets WHERE sensor_id = ? AND skey = ?", {sensor_id, a.key});
  if (prior) {
    asset = prior->i64(0);
  }
  if (!asset && !a.mac.empty()) {
    if (auto r = d_.one("SELECT id FROM assets WHERE mac = ? ORDER BY id LIMIT 1", {a.mac})) {
      asset = r->i64(0);
    }
  }
  if (!asset && host_usable) {
    if (auto r = d_.one("SELECT id FROM assets WHERE network = ? AND hostname_lc = ? AND (mac = '' OR mac = ?) "
                        "ORDER BY id LIMIT 1",
                        {a.network, host_lc, a.mac})) {
      asset = r->i64(0);
    }
  }
  if (!asset && !a.ip.empty()) {
    if (auto r = d_.one("SELECT id FROM assets WHERE network = ? AND ip = ? AND (mac = '' OR mac = ?) AND "
                        "(hostname_lc = '' OR ? = '' OR hostname_lc = ?) ORDER BY id LIMIT 1",
                        {a.network, a.ip, a.mac, host_lc, host_lc})) {
      asset = r->i64(0);
    }
  }
  if (!asset) {
    asset = d_.one("INSERT INTO assets(network, ip, mac, hostname, hostname_lc, vendor, os, device_type, device_class, "
                   "model, first_seen, last_seen) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                   {a.network, a.ip, a.mac, a.hostname, host_lc, a.vendor, a.os, a.device_type, a.device_class,
                    a.model, a.first_seen, a.last_seen})
                ->i64(0);
  } else {
    // What this sensor knows fills in or refreshes the merged asset; an empty
    // field never erases what another sensor said.
    d_.exec(
        "UPDATE assets SET ip = CASE WHEN ? <> '' THEN ? ELSE ip END, mac = CASE WHEN mac = '' THEN ? ELSE mac END, "
        "hostname = CASE WHEN ? <> '' THEN ? ELSE hostname END, "
        "hostname_lc = CASE WHEN ? <> '' THEN ? ELSE hostname_lc END, "
        "vendor = CASE WHEN ? <> '' THEN ? ELSE vendor END, os = CASE WHEN ? <> '' THEN ? ELSE os END, "
        "device_type = CASE WHEN ? <> '' THEN ? ELSE device_type END, "
        "device_class = CASE WHEN ? <> '' THEN ? ELSE device_class END, "
        "model = CASE WHEN ? <> '' THEN ? ELSE model END, "
        "first_seen = CASE WHEN ? < first_seen THEN ? ELSE first_seen END, "
        "last_seen = CASE WHEN ? > last_seen THEN ? ELSE last_seen END WHERE id = ?",
        {a.ip, a.ip, a.mac, a.hostname, a.hostname, host_lc, host_lc, a.vendor, a.vendor, a.os, a.os, a.device_type,
         a.device_type, a.device_class, a.device_class, a.model, a.model, a.first_seen, a.first_seen, a.last_seen,
         a.last_seen, *asset});
  }
  d_.exec(
      "INSERT INTO sensor_assets(sensor_id, skey, asset_id, record, updated) VALUES(?, ?, ?, ?, ?) "
      "ON CONFLICT(sensor_id, skey) DO UPDATE SET asset_id = excluded.asset_id, record = excluded.record, "
      "updated = excluded.updated",
      {sensor_id, a.key, *asset, json::serialize(a.record), now()});
}

void store::drop_sensor_asset(std::int64_t sensor_id, const std::string& key) {
  auto r = d_.one("SELECT asset_id FROM sensor_assets WHERE sensor_id = ? AND skey = ?", {sensor_id, key});
  if (!r) {
    return;
  }
  d_.exec("DELETE FROM sensor_assets WHERE sensor_id = ? AND skey = ?", {sensor_id, key});
  if (!d_.one("SELECT 1 FROM sensor_assets WHERE asset_id = ? LIMIT 1", {r->i64(0)})) {
    d_.exec("DELETE FROM assets WHERE id = ?", {r->i64(0)});
  }
}

asset_flow_filter flows_of_asset(const std::string& network, const std::string& ip, const std::string& mac) {
  asset_flow_filter f;
  std::vector<std::string> mine;
  f.where_params.emplace_back(network);
  if (!ip.empty()) {
    mine.emplace_back("client = ? OR server = ?");
    f.where_params.emplace_back(ip);
    f.where_params.emplace_back(ip);
  }
  if (!mac.empty()) {
    mine.emplace_back("client_mac = ?");
    f.where_params.emplace_back(mac);
  }
  f.none = mine.empty();
  f.where = "network = ? AND (" + (mine.empty() ? std::string("1 = 0") : mine[0]) +
            (mine.size() > 1 ? " OR " + mine[1] : std::string()) + ")";
  // client_mac is '' on every other flow: an asset without a MAC must not match those.
  f.is_client = "(client = ? OR (client_mac <> '' AND client_mac = ?))";
  f.client_params = {ip, mac};
  return f;
}

void store::delete_sensor_assets(std::int64_t sensor_id) {
  auto ids = d_.query("SELECT DISTINCT asset_id FROM sensor_assets WHERE sensor_id = ?", {sensor_id});
  d_.exec("DELETE FROM sensor_assets WHERE sensor_id = ?", {sensor_id});
  for (auto& r : ids) {
    if (!d_.one("SELECT 1 FROM sensor_assets WHERE asset_id = ? LIMIT 1", {r.i64(0)})) {
      d_.exec("DELETE FROM assets WHERE id = ?", {r.i64(0)});
    }
  }
  d_.exec("DELETE FROM flows WHERE sensor_id = ?", {sensor_id});
}

store::report_ack store::report(std::int64_t sensor_id, std::uint64_t report_id, bool full,
                                const std::vector<asset_record>& assets, const std::vector<std::string>& removed,
                                const std::vector<flow_row>& flows) {
  if (report_id == 0 || report_id > static_cast<std::uint64_t>(INT64_MAX)) {
    throw store_error(400, "reportId must be 1 or more");
  }
  auto rid = static_cast<std::int64_t>(report_id);
  transaction tx(d_);
  if (d_.one("SELECT 1 FROM reports WHERE sensor_id = ? AND report_id = ?", {sensor_id, rid})) {
    return report_ack{report_id, true, false};  // rolled back: nothing to write
  }
  auto s = d_.one("SELECT last_report_id FROM sensors WHERE id = ?", {sensor_id});
  std::int64_t last = s ? s->i64(0) : 0;
  // A delta that does not follow the last one the platform has means a
  // report went missing: keep what it says, and ask for the whole state.
  bool need_full = !full && rid != last + 1;
  auto excluded = hostname_exclusions();
  if (full) {
    std::set<std::string> keep;
    for (const auto& a : assets) {
      keep.insert(a.key);
    }
    for (auto& r : d_.query("SELECT skey FROM sensor_assets WHERE sensor_id = ?", {sensor_id})) {
      if (!keep.count(r.str(0))) {
        drop_sensor_asset(sensor_id, r.str(0));
      }
    }
  }
  for (const auto& a : assets) {
    upsert_asset(sensor_id, a, excluded);
  }
  for (const auto& k : removed) {
    drop_sensor_asset(sensor_id, k);
  }
  for (const auto& f : flows) {
    d_.exec(
        "INSERT INTO flows(sensor_id, network, client, server, protocol, server_port, bytes_cs, bytes_sc, packets, "
        "interval_start, interval_end, application, client_mac, app_family, app_service, packets_cs) "
        "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        {sensor_id, f.network, f.client, f.server, f.protocol, f.server_port, f.bytes_cs, f.bytes_sc, f.packets,
         f.interval_start, f.interval_end, f.application, f.client_mac, f.app_family, f.app_service, f.packets_cs});
  }
  d_.exec("INSERT INTO reports(sensor_id, report_id, received, assets, flows) VALUES(?, ?, ?, ?, ?)",
          {sensor_id, rid, now(), static_cast<std::int64_t>(assets.size()), static_cast<std::int64_t>(flows.size())});
  d_.exec(
      "UPDATE sensors SET reporting_stopped = 0, last_report_id = CASE WHEN ? > last_report_id THEN ? ELSE "
      "last_report_id END WHERE id = ?",
      {rid, rid, sensor_id});
  tx.commit();
  return report_ack{report_id, false, need_full};
}

json::object store::list_assets(std::int64_t sensor, const std::optional<std::string>& network,
                                const std::string& text, std::int64_t cursor, std::int64_t limit) {
  std::string sql = std::string("SELECT ") + asset_cols + " FROM assets WHERE id > ?";
  std::vector<sql_value> params{cursor};
  if (sensor > 0) {
    sql += " AND id IN (SELECT asset_id FROM sensor_assets WHERE sensor_id = ?)";
    params.emplace_back(sensor);
  }
  if (network) {
    sql += " AND network = ?";
    params.emplace_back(*network);
  }
  if (!text.empty()) {
    std::string pat = "%";
    for (char c : lower(text)) {
      if (c == '%' || c == '_' || c == '\\') {
        pat += '\\';
      }
      pat += c;
    }
    pat += '%';
    sql += " AND LOWER(ip || ' ' || mac || ' ' || hostname || ' ' || vendor || ' ' || os || ' ' || device_type) "
           "LIKE ? ESCAPE '\\'";
    params.emplace_back(pat);
  }
  sql += " ORDER BY id LIMIT ?";
  params.emplace_back(limit + 1);
  auto rows = d_.query(sql, params);
  auto rules = tag_rules(*this);
  json::array items;
  json::value next = nullptr;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (static_cast<std::int64_t>(i) == limit) {
      next = std::to_string(rows[i - 1].i64(0));
      break;
    }
    items.push_back(asset_json(d_, rows[i], rules));
  }
  json::object o;
  o["items"] = items;
  o["next_cursor"] = next;
  return o;
}

json::object store::get_asset(std::int64_t id) {
  auto r = d_.one(std::string("SELECT ") + asset_cols + " FROM assets WHERE id = ?", {id});
  if (!r) {
    throw store_error(404, "no asset " + std::to_string(id));
  }
  json::object o = asset_json(d_, *r, tag_rules(*this));
  // The raw discovery data: each sensor's record of the device, evidence included.
  json::array discovery;
  std::uint64_t bytes_in = 0, bytes_out = 0, packets_in = 0, packets_out = 0;
  std::set<std::string> ips;
  for (auto& s : d_.query("SELECT a.sensor_id, s.name, a.skey, a.record, a.updated FROM sensor_assets a JOIN sensors s "
                          "ON s.id = a.sensor_id WHERE a.asset_id = ? ORDER BY a.sensor_id, a.skey",
                          {id})) {
    json::object d;
    d["sensor_id"] = s.i64(0);
    d["sensor_name"] = s.str(1);
    d["key"] = s.str(2);
    d["updated"] = s.i64(4);
    boost::system::error_code ec;
    json::value rec = json::parse(s.str(3), ec);
    if (!ec && rec.is_object()) {
      // Two sensors see the same packets (Best Practice 1): the traffic
      // summary takes the larger count, never the sum.
      auto num = [&](const char* f) -> std::uint64_t {
        auto v = rec.as_object().if_contains(f);
        return v != nullptr && v->is_number() ? v->to_number<std::uint64_t>() : 0;
      };
      bytes_in = std::max(bytes_in, num("bytes_in"));
      bytes_out = std::max(bytes_out, num("bytes_out"));
      packets_in = std::max(packets_in, num("packets_in"));
      packets_out = std::max(packets_out, num("packets_out"));
      if (auto v = rec.as_object().if_contains("ip"); v != nullptr && v->is_string() && !v->as_string().empty()) {
        ips.insert(v->as_string().c_str());
      }
    }
    d["record"] = ec ? json::value(nullptr) : rec;
    discovery.push_back(d);
  }
  o["discovery"] = discovery;
  json::object traffic;
  traffic["bytes_in"] = bytes_in;
  traffic["bytes_out"] = bytes_out;
  traffic["packets_in"] = packets_in;
  traffic["packets_out"] = packets_out;
  json::array peers;
  if (auto mine = flows_of_asset(r->str(1), r->str(2), r->str(3)); !mine.none) {
    std::vector<sql_value> params = mine.client_params;
    params.insert(params.end(), mine.client_params.begin(), mine.client_params.end());
    params.insert(params.end(), mine.where_params.begin(), mine.where_params.end());
    for (auto& f : d_.query("SELECT " + mine.when_client("server", "client") + " AS peer, " +
                                mine.when_client("'client'", "'server'") +
                                " AS role, protocol, server_port, SUM(bytes_cs), SUM(bytes_sc), SUM(packets) FROM flows "
                                "WHERE " + mine.where + " GROUP BY 1, 2, 3, 4 "
                                "ORDER BY SUM(bytes_cs) + SUM(bytes_sc) DESC LIMIT 50",
                            params)) {
      json::object p;
      p["peer"] = f.str(0);
      p["role"] = f.str(1);
      p["protocol"] = f.i64(2);
      p["server_port"] = f.i64(3);
      p["bytes_client_to_server"] = f.i64(4);
      p["bytes_server_to_client"] = f.i64(5);
      p["packets"] = f.i64(6);
      peers.push_back(p);
    }
  }
  traffic["peers"] = peers;
  o["traffic"] = traffic;
  return o;
}

json::object store::list_events(std::int64_t sensor, std::int64_t cursor, std::int64_t limit) {
  std::string sql =
      "SELECT e.id, e.sensor_id, s.name, e.origin, e.name, e.count, e.module, e.type, e.first_seen, e.last_seen, "
      "e.message, e.sensor_event_id FROM events e JOIN sensors s ON s.id = e.sensor_id WHERE e.id > ?";
  std::vector<sql_value> params{cursor};
  if (sensor > 0) {
    sql += " AND e.sensor_id = ?";
    params.emplace_back(sensor);
  }
  sql += " ORDER BY e.id LIMIT ?";
  params.emplace_back(limit + 1);
  auto rows = d_.query(sql, params);
  json::array items;
  json::value next = nullptr;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (static_cast<std::int64_t>(i) == limit) {
      next = std::to_string(rows[i - 1].i64(0));
      break;
    }
    const auto& r = rows[i];
    json::object e;
    e["id"] = r.i64(0);
    e["sensor_id"] = r.i64(1);
    e["sensor_name"] = r.str(2);
    e["origin"] = r.str(3);
    e["event"] = r.str(4);
    e["count"] = r.i64(5);
    e["module"] = r.str(6);
    e["type"] = r.str(7);
    e["first_seen"] = r.i64(8);
    e["last_seen"] = r.i64(9);
    e["message"] = r.str(10);
    e["sensor_event_id"] = r.null(11) ? json::value(nullptr) : json::value(r.i64(11));
    items.push_back(e);
  }
  json::object o;
  o["items"] = items;
  o["next_cursor"] = next;
  return o;
}

}  // namespace tapsense::platform
