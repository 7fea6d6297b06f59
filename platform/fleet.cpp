// Fleet operations over the store: subscriptions and their enforcement,
// Asset Reporting Stopped, the e-mail queue of events, and the exports
// (OCSF Device Inventory Info, ECS flows) a SIEM pulls.
#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>

#include "platform/store.h"

namespace tapsense::platform {

namespace json = boost::json;

namespace {

constexpr std::int64_t ns_per_s = 1'000'000'000LL;
constexpr std::int64_t ns_per_day = 86400 * ns_per_s;

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// "YYYY-MM-DD" -> the first ns of the day after (the subscription is active
// through its end date, UTC); nullopt when malformed.
std::optional<std::int64_t> end_date_to_inactive(const std::string& s) {
  unsigned y = 0, m = 0, d = 0;
  char tail = 0;
  if (s.size() != 10 || std::sscanf(s.c_str(), "%4u-%2u-%2u%c", &y, &m, &d, &tail) != 3 || y < 1970 || y > 9999 ||
      m < 1 || m > 12 || d < 1 || d > 31) {
    return std::nullopt;
  }
  std::int64_t days = days_from_civil(y, m, d);
  // Reject 2027-02-30 and the like: the day must round-trip.
  std::time_t tt = static_cast<std::time_t>(days * 86400);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  if (static_cast<unsigned>(tm.tm_mday) != d) {
    return std::nullopt;
  }
  return (days + 1) * ns_per_day;
}

std::string iso_date(std::int64_t ns) {
  std::time_t tt = static_cast<std::time_t>(ns / ns_per_s);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char b[32];
  std::strftime(b, sizeof b, "%Y-%m-%d", &tm);
  return b;
}

std::string rfc3339(std::int64_t ns) {
  if (ns < 0) {
    ns = 0;
  }
  std::time_t tt = static_cast<std::time_t>(ns / ns_per_s);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char b[40];
  std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%S", &tm);
  char f[16];
  std::snprintf(f, sizeof f, ".%06lldZ", static_cast<long long>((ns % ns_per_s) / 1000));
  return std::string(b) + f;
}

const char* const sub_kinds[] = {"platform", "sensor"};

// OCSF device.type_id (objects/device.json): 0 Unknown, 1 Server, 2 Desktop,
// 3 Laptop, 4 Tablet, 5 Mobile, 6 Virtual, 7 IOT, 99 Other.
std::pair<int, const char*> ocsf_type(const std::string& device_type, const std::string& device_class) {
  std::string t = device_type + " " + device_class;
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto has = [&](const char* w) { return t.find(w) != std::string::npos; };
  if (has("server")) return {1, "Server"};
  if (has("laptop") || has("notebook")) return {3, "Laptop"};
  if (has("desktop") || has("workstation") || has("computer")) return {2, "Desktop"};
  if (has("tablet")) return {4, "Tablet"};
  if (has("phone") || has("mobile")) return {5, "Mobile"};
  if (has("virtual")) return {6, "Virtual"};
  if (has("iot") || has("plc") || has("camera") || has("printer") || has("ot ") || has("industrial") ||
      has("controller") || has("sensor")) {
    return {7, "IOT"};
  }
  if (device_type.empty() && device_class.empty()) return {0, "Unknown"};
  return {99, "Other"};
}

const char* transport_name(std::int64_t proto) {
  switch (proto) {
    case 1: return "icmp";
    case 6: return "tcp";
    case 17: return "udp";
    case 58: return "ipv6-icmp";
    case 132: return "sctp";
    default: return nullptr;
  }
}

bool is_ip(const std::string& s) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(s, ec);
  return !ec && !s.empty();
}

}  // namespace

// ---------------------------------------------------------------- subscriptions

std::optional<std::int64_t> store::subscription_inactive_from(const std::string& kind) {
  auto r = d_.one("SELECT inactive_from FROM subscriptions WHERE kind = ?", {kind});
  if (!r || r->null(0)) {
    return std::nullopt;
  }
  return r->i64(0);
}

json::object store::get_subscriptions() {
  json::object o;
  std::int64_t t = now();
  for (const char* k : sub_kinds) {
    json::object s;
    auto from = subscription_inactive_from(k);
    s["end_date"] = from ? json::value(iso_date(*from - ns_per_day)) : json::value(nullptr);
    s["active"] = !from || t < *from;
    s["inactive_since"] = from && t >= *from ? json::value(*from) : json::value(nullptr);
    s["grace_ends"] = from ? json::value(*from + subscription_grace_ns) : json::value(nullptr);
    s["enforced"] = from && t >= *from + subscription_grace_ns;
    s["sensors_become"] = std::string(k) == "platform" ? status_deregistered : status_paused;
    o[k] = s;
  }
  o["now"] = t;
  return o;
}

void store::put_subscriptions(const json::value& body) {
  if (!body.is_object()) {
    throw store_error(400, "subscriptions: must be an object with platform and/or sensor");
  }
  std::string problems;
  std::vector<std::pair<std::string, std::optional<std::int64_t>>> set;
  for (const auto& kv : body.as_object()) {
    std::string k(kv.key());
    if (k != "platform" && k != "sensor") {
      problems += k + ": unknown subscription (platform, sensor)\n";
      continue;
    }
    const auto* o = kv.value().if_object();
    const json::value* e = o != nullptr ? o->if_contains("end_date") : nullptr;
    if (o == nullptr || e == nullptr || o->size() != 1) {
      problems += k + ": expected {\"end_date\": \"YYYY-MM-DD\" or null}\n";
      continue;
    }
    if (e->is_null()) {
      set.emplace_back(k, std::nullopt);
      continue;
    }
    auto v = e->is_string() ? end_date_to_inactive(std::string(e->as_string().c_str())) : std::nullopt;
    if (!v) {
      problems += k + ".end_date: expected a date YYYY-MM-DD or null\n";
      continue;
    }
    set.emplace_back(k, v);
  }
  if (!problems.empty()) {
    problems.pop_back();
    throw store_error(400, problems);
  }
  transaction tx(d_);
  for (const auto& [k, v] : set) {
    sql_value from = v ? sql_value(*v) : sql_value(std::monostate{});
    d_.exec("DELETE FROM subscriptions WHERE kind = ?", {k});
    d_.exec("INSERT INTO subscriptions(kind, inactive_from, updated) VALUES(?, ?, ?)", {k, from, now()});
  }
  tx.commit();
}

void store::deregister_for_subscription(std::int64_t sensor_id, std::int64_t inactive_from) {
  d_.exec("UPDATE sensors SET deregistered = 1, key_hash = NULL, code = NULL WHERE id = ? AND deregistered = 0",
          {sensor_id});
  add_event(sensor_id, "Sensor Deregistered", "platform", "warning",
            "the platform subscription is inactive since " + iso_date(inactive_from) +
                ": deregistered after 30 days; register again once it is reactivated");
}

void store::pause_for_subscription(std::int64_t sensor_id, std::int64_t inactive_from) {
  auto seq = d_.one("SELECT COALESCE(MAX(seq), 0) + 1 FROM commands WHERE sensor_id = ?", {sensor_id})->i64(0);
  d_.exec("INSERT INTO commands(sensor_id, seq, command, created) VALUES(?, ?, 'pause', ?)", {sensor_id, seq, now()});
  d_.exec("UPDATE sensors SET sub_paused_for = ? WHERE id = ?", {inactive_from, sensor_id});
  add_event(sensor_id, "Sensor Paused", "platform", "warning",
            "the sensor subscription is inactive since " + iso_date(inactive_from) +
                ": paused after 30 days; start sensing by hand once it is reactivated");
}

int store::enforce_subscriptions() {
  std::int64_t t = now();
  auto pf = subscription_inactive_from("platform");
  auto sf = subscription_inactive_from("sensor");
  int n = 0;
  transaction tx(d_);
  if (pf && t >= *pf + subscription_grace_ns) {
    for (auto& r : d_.query("SELECT id FROM sensors WHERE deregistered = 0 AND registered_at IS NOT NULL")) {
      deregister_for_subscription(r.i64(0), *pf);
      ++n;
    }
  }
  if (sf && t >= *sf + subscription_grace_ns) {
    for (auto& r : d_.query(
             "SELECT id FROM sensors WHERE deregistered = 0 AND registered_at IS NOT NULL AND "
             "(sub_paused_for IS NULL OR sub_paused_for <> ?)",
             {*sf})) {
      pause_for_subscription(r.i64(0), *sf);
      ++n;
    }
  }
  tx.commit();
  return n;
}

int store::sweep_reporting_stopped() {
  std::int64_t t = now();
  std::int64_t stale = opt_.report_stale_seconds * ns_per_s;
  int n = 0;
  transaction tx(d_);
  for (auto& r : d_.query(
           "SELECT s.id, COALESCE((SELECT MAX(received) FROM reports r WHERE r.sensor_id = s.id), s.registered_at) "
           "FROM sensors s WHERE s.deregistered = 0 AND s.connected = 1 AND s.reporting_stopped = 0 AND "
           "s.reported_state = ? AND s.registered_at IS NOT NULL",
           {std::string(status_sensing)})) {
    if (t - r.i64(1) > stale) {
      d_.exec("UPDATE sensors SET reporting_stopped = 1 WHERE id = ?", {r.i64(0)});
      add_event(r.i64(0), "Asset Reporting Stopped", "platform", "warning",
                "sensing and checking in, but no report for " + std::to_string((t - r.i64(1)) / ns_per_s) + " s");
      ++n;
    }
  }
  tx.commit();
  return n;
}

// ---------------------------------------------------------------- e-mail queue

std::vector<store::mail_item> store::pending_mail(std::size_t limit, bool smtp, std::vector<std::string>& recipients) {
  recipients.clear();
  auto [general, rev] = get_config("general");
  (void)rev;
  if (const auto* g = general.if_object()) {
    if (const auto* r = g->if_contains("email_recipients"); r != nullptr && r->is_array()) {
      for (const auto& m : r->as_array()) {
        if (m.is_string()) {
          recipients.emplace_back(m.as_string().c_str());
        }
      }
    }
  }
  std::vector<mail_item> out;
  auto rows = d_.query(
      "SELECT e.id, s.name, e.name, e.module, e.type, e.message, e.origin, e.first_seen, e.last_seen, e.count FROM "
      "events e JOIN sensors s ON s.id = e.sensor_id WHERE e.mail_state = 0 ORDER BY e.id LIMIT ?",
      {static_cast<std::int64_t>(limit)});
  for (auto& r : rows) {
    mail_item m{r.i64(0), r.str(1), r.str(2), r.str(3), r.str(4), r.str(5), r.str(6), r.i64(7), r.i64(8), r.i64(9)};
    // The platform's own bookkeeping (registered, connected) is not news;
    // without a server or a recipient nothing is ever sent: not mailed,
    // so configuring them later does not flood the inbox with history.
    if (!smtp || recipients.empty() || (m.origin == "platform" && m.type == "info")) {
      d_.exec("UPDATE events SET mail_state = 2 WHERE id = ?", {m.id});
      continue;
    }
    out.push_back(std::move(m));
  }
  return out;
}

void store::mark_mailed(std::int64_t event_id) {
  d_.exec("UPDATE events SET mail_state = 1 WHERE id = ?", {event_id});
}

// ---------------------------------------------------------------- exports

std::pair<std::string, std::string> store::export_ocsf_inventory(std::int64_t cursor, std::int64_t limit) {
  auto rows = d_.query(
      "SELECT id, network, ip, mac, hostname, vendor, os, device_type, device_class, model, first_seen, last_seen "
      "FROM assets WHERE id > ? ORDER BY id LIMIT ?",
      {cursor, limit + 1});
  std::string out, next;
  std::int64_t t = now();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    if (static_cast<std::int64_t>(i) == limit) {
      next = std::to_string(rows[i - 1].i64(0));
      break;
    }
    json::object ev;
    // Discovery (5) / Device Inventory Info (5001), activity 2 Collect.
    ev["activity_id"] = 2;
    ev["activity_name"] = "Collect";
    ev["category_uid"] = 5;
    ev["category_name"] = "Discovery";
    ev["class_uid"] = 5001;
    ev["class_name"] = "Device Inventory Info";
    ev["type_uid"] = 500102;
    ev["type_name"] = "Device Inventory Info: Collect";
    ev["severity_id"] = 1;
    ev["severity"] = "Informational";
    ev["time"] = t / 1'000'000;  // OCSF timestamps: ms since the epoch
    json::object product;
    product["name"] = "tapsense";
    product["vendor_name"] = "tapsense";
    json::object md;
    md["product"] = product;
    md["version"] = "1.1.0";
    ev["metadata"] = md;
    json::object dev;
    auto [tid, tname] = ocsf_type(r.str(7), r.str(8));
    dev["type_id"] = tid;
    dev["type"] = tname;
    dev["uid"] = "tapsense-asset-" + std::to_string(r.i64(0));
    if (!r.str(2).empty()) dev["ip"] = r.str(2);
    if (!r.str(3).empty()) dev["mac"] = r.str(3);
    if (!r.str(4).empty()) {
      dev["hostname"] = r.str(4);
      dev["name"] = r.str(4);
    }
    if (!r.str(1).empty()) dev["groups"] = json::array{json::object{{"name", "network:" + r.str(1)}}};
    if (!r.str(6).empty()) {
      json::object os;
      os["name"] = r.str(6);
      os["type_id"] = 0;
      dev["os"] = os;
    }
    if (!r.str(5).empty() || !r.str(9).empty()) {
      json::object hw;
      if (!r.str(5).empty()) hw["vendor_name"] = r.str(5);
      if (!r.str(9).empty()) hw["model"] = r.str(9);
      dev["hw_info"] = hw;
    }
    dev["first_seen_time"] = r.i64(10) / 1'000'000;
    dev["last_seen_time"] = r.i64(11) / 1'000'000;
    ev["device"] = dev;
    out += json::serialize(ev);
    out += '\n';
  }
  return {out, next};
}

std::pair<std::string, std::string> store::export_ecs_flows(std::int64_t cursor, std::int64_t limit) {
  auto rows = d_.query(
      "SELECT f.id, s.name, f.network, f.client, f.server, f.protocol, f.server_port, f.bytes_cs, f.bytes_sc, "
      "f.packets, f.interval_start, f.interval_end, f.application, f.client_mac, f.app_service, f.packets_cs "
      "FROM flows f JOIN sensors s ON s.id = f.sensor_id "
      "WHERE f.id > ? ORDER BY f.id LIMIT ?",
      {cursor, limit + 1});
  std::string out, next;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    if (static_cast<std::int64_t>(i) == limit) {
      next = std::to_string(rows[i - 1].i64(0));
      break;
    }
    json::object d;
    d["@timestamp"] = rfc3339(r.i64(10));
    d["ecs"] = json::object{{"version", "8.11.0"}};
    json::object ev;
    ev["kind"] = "event";
    ev["category"] = json::array{"network"};
    ev["type"] = json::array{"connection"};
    ev["module"] = "tapsense";
    ev["dataset"] = "tapsense.flow";
    ev["start"] = rfc3339(r.i64(10));
    ev["end"] = rfc3339(r.i64(11));
    d["event"] = ev;
    json::object src, dst;
    src["address"] = r.str(3);
    if (is_ip(r.str(3))) src["ip"] = r.str(3);
    if (!r.str(13).empty()) {
      // An unassigned client's MAC, in ECS's notation (RFC 7042: upper case, hyphens).
      std::string m = r.str(13);
      for (auto& ch : m) ch = ch == ':' ? '-' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      src["mac"] = m;
    }
    src["bytes"] = r.i64(7);
    // Packets each way: a client sends at least one, so 0 is a row stored
    // before the platform kept them (unknown: left out).
    if (r.i64(15) != 0) src["packets"] = r.i64(15);
    dst["address"] = r.str(4);
    if (is_ip(r.str(4))) dst["ip"] = r.str(4);
    if (r.i64(6) != 0) dst["port"] = r.i64(6);
    dst["bytes"] = r.i64(8);
    if (r.i64(15) != 0) dst["packets"] = r.i64(9) - r.i64(15);
    d["source"] = src;
    d["destination"] = dst;
    json::object net;
    if (const char* tn = transport_name(r.i64(5))) net["transport"] = tn;
    if (!r.str(14).empty()) net["protocol"] = r.str(14);  // nDPI's service, as the sensor's flows.ecs.jsonl
    if (!r.str(12).empty()) net["application"] = r.str(12);
    net["bytes"] = r.i64(7) + r.i64(8);
    net["packets"] = r.i64(9);
    if (!r.str(2).empty()) net["name"] = r.str(2);
    d["network"] = net;
    d["observer"] = json::object{{"name", r.str(1)}, {"type", "sensor"}, {"product", "tapsense"}};
    out += json::serialize(d);
    out += '\n';
  }
  return {out, next};
}

}  // namespace tapsense::platform
