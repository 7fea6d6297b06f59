#include "platform/store.h"

#include <sodium.h>

#include <algorithm>
#include <charconv>
#include <chrono>

namespace tapsense::platform {

namespace json = boost::json;

std::string sha256_hex(std::string_view s) {
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, reinterpret_cast<const unsigned char*>(s.data()), s.size());
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, h, sizeof h);
  return hex;
}

std::string random_hex(std::size_t n) {
  std::vector<unsigned char> b(n);
  randombytes_buf(b.data(), n);
  std::string hex(n * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), b.data(), n);
  hex.pop_back();
  return hex;
}

std::int64_t store::wall_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

store::store(db& d, store_options o) : d_(d), opt_(std::move(o)) {
  if (sodium_init() < 0) {
    throw std::runtime_error("libsodium failed to initialise");
  }
}

// ---------------------------------------------------------------- users

std::int64_t store::add_user(const std::string& name, const std::string& role, const std::string& password) {
  if (name.empty() || name.size() > 64) {
    throw store_error(400, "user name must be 1-64 characters");
  }
  if (role != "admin" && role != "viewer") {
    throw store_error(400, "role must be admin or viewer, got '" + role + "'");
  }
  if (password.size() < 8) {
    throw store_error(400, "password must be at least 8 characters");
  }
  char hash[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(hash, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
    throw std::runtime_error("crypto_pwhash_str: out of memory");
  }
  try {
    auto r = d_.one("INSERT INTO users(name, role, pwhash, created) VALUES(?, ?, ?, ?) RETURNING id",
                    {name, role, std::string(hash), now()});
    return r->i64(0);
  } catch (const db_error& e) {
    if (e.constraint) {
      throw store_error(409, "user '" + name + "' exists already");
    }
    throw;
  }
}

std::string store::add_token(const std::string& user_name) {
  auto u = d_.one("SELECT id FROM users WHERE name = ?", {user_name});
  if (!u) {
    throw store_error(404, "no user '" + user_name + "'");
  }
  std::string token = "tps_" + random_hex(24);
  d_.exec("INSERT INTO tokens(user_id, hash, created) VALUES(?, ?, ?)", {u->i64(0), sha256_hex(token), now()});
  return token;
}

std::optional<user> store::login(const std::string& name, const std::string& password) {
  auto r = d_.one("SELECT id, name, role, pwhash FROM users WHERE name = ?", {name});
  if (!r) {
    return std::nullopt;
  }
  std::string h = r->str(3);
  if (crypto_pwhash_str_verify(h.c_str(), password.data(), password.size()) != 0) {
    return std::nullopt;
  }
  return user{r->i64(0), r->str(1), r->str(2)};
}

std::string store::new_session(std::int64_t user_id) {
  std::string s = random_hex(32);
  d_.exec("DELETE FROM sessions WHERE expires < ?", {now()});
  d_.exec("INSERT INTO sessions(hash, user_id, expires) VALUES(?, ?, ?)",
          {sha256_hex(s), user_id, now() + opt_.session_seconds * 1'000'000'000LL});
  return s;
}

void store::end_session(const std::string& session) {
  d_.exec("DELETE FROM sessions WHERE hash = ?", {sha256_hex(session)});
}

std::optional<user> store::session_user(const std::string& session) {
  auto r = d_.one(
      "SELECT u.id, u.name, u.role FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.hash = ? AND s.expires > ?",
      {sha256_hex(session), now()});
  if (!r) {
    return std::nullopt;
  }
  return user{r->i64(0), r->str(1), r->str(2)};
}

std::optional<user> store::token_user(const std::string& token) {
  auto r = d_.one("SELECT u.id, u.name, u.role FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = ?",
                  {sha256_hex(token)});
  if (!r) {
    return std::nullopt;
  }
  return user{r->i64(0), r->str(1), r->str(2)};
}

// ---------------------------------------------------------------- sensors

namespace {

constexpr const char* sensor_cols =
    "id, name, location, created, code, code_expires, code_used, uid, registered_at, deregistered, version, "
    "hostname, addresses, macs, last_checkin, reported_state, connected, health, interfaces, config_revision, "
    "applied_revision, config_error, failed_revision, last_command_id, last_report_id, reported_last_report_id, "
    "sub_paused_for";
enum sc {
  c_id, c_name, c_location, c_created, c_code, c_code_expires, c_code_used, c_uid, c_registered_at,
  c_deregistered, c_version, c_hostname, c_addresses, c_macs, c_last_checkin, c_reported_state, c_connected,
  c_health, c_interfaces, c_config_revision, c_applied_revision, c_config_error, c_failed_revision,
  c_last_command_id, c_last_report_id, c_reported_last_report_id, c_sub_paused_for
};

json::value parse_or(const std::string& s, json::value fallback) {
  boost::system::error_code ec;
  auto v = json::parse(s, ec);
  return ec ? fallback : v;
}

std::string fresh_code(db& d) {
  // 14 decimal digits, the first not zero; retried on the rare collision.
  for (int attempt = 0; attempt < 16; ++attempt) {
    std::string c;
    c += static_cast<char>('1' + randombytes_uniform(9));
    for (int i = 1; i < 14; ++i) {
      c += static_cast<char>('0' + randombytes_uniform(10));
    }
    if (!d.one("SELECT 1 FROM sensors WHERE code = ?", {c})) {
      return c;
    }
  }
  throw std::runtime_error("cannot find an unused personalization code");
}

bool valid_command(const std::string& c) {
  return c == "start_sensing" || c == "pause" || c == "reboot" || c == "deregister" || c == "delete_assets";
}

}  // namespace

std::string store::status_of(const sql_row& r, std::int64_t t) const {
  if (r.i64(c_deregistered) != 0) {
    return status_deregistered;
  }
  if (r.null(c_registered_at)) {
    return status_unregistered;
  }
  if (r.null(c_last_checkin)) {
    return status_registered;
  }
  if (t - r.i64(c_last_checkin) > not_connected_after_ns()) {
    return status_not_connected;
  }
  std::string s = r.str(c_reported_state);
  if (s == status_sensing || s == status_paused) {
    return s;
  }
  return status_registered;
}

json::object store::sensor_json(const sql_row& r, std::int64_t t) {
  json::object o;
  o["id"] = r.i64(c_id);
  o["name"] = r.str(c_name);
  o["location"] = r.str(c_location);
  o["status"] = status_of(r, t);
  o["created"] = r.i64(c_created);
  bool unregistered = r.null(c_registered_at) || (r.i64(c_deregistered) != 0 && r.i64(c_code_used) == 0);
  if (unregistered && !r.null(c_code) && r.i64(c_code_used) == 0) {
    o["personalization_code"] = r.str(c_code);
    o["code_expires"] = r.i64(c_code_expires);
  }
  o["version"] = r.str(c_version);
  o["hostname"] = r.str(c_hostname);
  o["addresses"] = parse_or(r.str(c_addresses), json::array());
  o["macs"] = parse_or(r.str(c_macs), json::array());
  o["registered_at"] = r.null(c_registered_at) ? json::value(nullptr) : json::value(r.i64(c_registered_at));
  o["last_checkin"] = r.null(c_last_checkin) ? json::value(nullptr) : json::value(r.i64(c_last_checkin));
  json::value h = parse_or(r.str(c_health), json::object());
  json::object& ho = h.as_object();
  // The list's columns: CPU, RAM, HDD as percentages, network utilisation.
  auto pct = [&](const char* used, const char* total) -> json::value {
    auto u = ho.if_contains(used);
    auto tt = ho.if_contains(total);
    if (u == nullptr || tt == nullptr || !tt->is_number() || tt->to_number<double>() <= 0) {
      return nullptr;
    }
    return 100.0 * u->to_number<double>() / tt->to_number<double>();
  };
  o["health"] = h;
  o["cpu_percent"] = ho.contains("cpu_percent") ? ho["cpu_percent"] : json::value(nullptr);
  o["ram_percent"] = pct("ram_used_bytes", "ram_total_bytes");
  o["disk_percent"] = pct("disk_used_bytes", "disk_total_bytes");
  o["network_bits_per_second"] = ho.contains("network_bits_per_second") ? ho["network_bits_per_second"] : json::value(nullptr);
  o["link_capacity_bits_per_second"] =
      ho.contains("link_capacity_bits_per_second") ? ho["link_capacity_bits_per_second"] : json::value(nullptr);
  o["active_assets_1h"] = ho.contains("active_assets_1h") ? ho["active_assets_1h"] : json::value(0);
  o["estimated_max_throughput_bps"] =
      ho.contains("estimated_max_throughput_bps") ? ho["estimated_max_throughput_bps"] : json::value(nullptr);
  o["interfaces"] = parse_or(r.str(c_interfaces), json::array());
  json::object cfg;
  cfg["revision"] = r.i64(c_config_revision);
  cfg["applied_revision"] = r.i64(c_applied_revision);
  cfg["pending"] = r.i64(c_config_revision) != r.i64(c_applied_revision);
  cfg["error"] = r.str(c_config_error);
  cfg["failed_revision"] = r.i64(c_failed_revision);
  o["config"] = cfg;
  o["last_command_id"] = r.i64(c_last_command_id);
  o["last_report_id"] = r.i64(c_last_report_id);
  return o;
}

json::object store::create_sensor(const std::string& name, const std::string& location) {
  if (name.empty() || name.size() > 128) {
    throw store_error(400, "name: 1-128 characters required");
  }
  if (location.size() > 256) {
    throw store_error(400, "location: at most 256 characters");
  }
  transaction tx(d_);
  std::string code = fresh_code(d_);
  std::int64_t exp = now() + opt_.code_ttl_seconds * 1'000'000'000LL;
  std::int64_t id = 0;
  try {
    id = d_.one("INSERT INTO sensors(name, location, created, code, code_expires) VALUES(?, ?, ?, ?, ?) RETURNING id",
                {name, location, now(), code, exp})
             ->i64(0);
  } catch (const db_error& e) {
    if (e.constraint) {
      throw store_error(409, "a sensor named '" + name + "' exists already");
    }
    throw;
  }
  sensor_revision(id);
  tx.commit();
  json::object o;
  o["id"] = id;
  o["name"] = name;
  o["location"] = location;
  o["personalization_code"] = code;
  o["code_expires"] = exp;
  o["status"] = status_unregistered;
  return o;
}

json::object store::new_code(std::int64_t sensor_id) {
  transaction tx(d_);
  auto r = d_.one(std::string("SELECT ") + sensor_cols + " FROM sensors WHERE id = ?", {sensor_id});
  if (!r) {
    throw store_error(404, "no sensor " + std::to_string(sensor_id));
  }
  std::string st = status_of(*r, now());
  if (st != status_unregistered && st != status_deregistered) {
    throw store_error(409, "sensor " + std::to_string(sensor_id) + " is " + st +
                               ": a new code is for an Unregistered or Deregistered sensor");
  }
  std::string code = fresh_code(d_);
  std::int64_t exp = now() + opt_.code_ttl_seconds * 1'000'000'000LL;
  d_.exec("UPDATE sensors SET code = ?, code_expires = ?, code_used = 0 WHERE id = ?", {code, exp, sensor_id});
  tx.commit();
  json::object o;
  o["id"] = sensor_id;
  o["personalization_code"] = code;
  o["code_expires"] = exp;
  return o;
}

json::array store::list_sensors() {
  json::array a;
  std::int64_t t = now();
  for (auto& r : d_.query(std::string("SELECT ") + sensor_cols + " FROM sensors ORDER BY id")) {
    a.push_back(sensor_json(r, t));
  }
  return a;
}

json::object store::get_sensor(std::int64_t id) {
  auto r = d_.one(std::string("SELECT ") + sensor_cols + " FROM sensors WHERE id = ?", {id});
  if (!r) {
    throw store_error(404, "no sensor " + std::to_string(id));
  }
  return sensor_json(*r, now());
}

void store::delete_sensor(std::int64_t id) {
  transaction tx(d_);
  auto r = d_.one(std::string("SELECT ") + sensor_cols + " FROM sensors WHERE id = ?", {id});
  if (!r) {
    throw store_error(404, "no sensor " + std::to_string(id));
  }
  std::string st = status_of(*r, now());
  if (st != status_unregistered && st != status_deregistered) {
    throw store_error(409, "sensor " + std::to_string(id) + " is " + st + ": deregister it before deleting it");
  }
  delete_sensor_assets(id);
  d_.exec("DELETE FROM sensors WHERE id = ?", {id});
  tx.commit();
}

json::object store::add_command(std::int64_t sensor_id, const std::string& command) {
  if (!valid_command(command)) {
    throw store_error(400, "command must be one of start_sensing, pause, reboot, deregister, delete_assets; got '" +
                               command + "'");
  }
  transaction tx(d_);
  auto r = d_.one(std::string("SELECT ") + sensor_cols + " FROM sensors WHERE id = ?", {sensor_id});
  if (!r) {
    throw store_error(404, "no sensor " + std::to_string(sensor_id));
  }
  std::string st = status_of(*r, now());
  if (st == status_deregistered) {
    throw store_error(409, "sensor " + std::to_string(sensor_id) + " is Deregistered");
  }
  if (command == "start_sensing") {
    if (auto sf = subscription_inactive_from("sensor"); sf && now() >= *sf + subscription_grace_ns) {
      throw store_error(409, "the sensor subscription is inactive: reactivate it before starting sensing");
    }
  }
  if (st == status_unregistered && command != "deregister") {
    throw store_error(409, "sensor " + std::to_string(sensor_id) + " is Unregistered: only deregister applies");
  }
  auto seq = d_.one("SELECT COALESCE(MAX(seq), 0) + 1 FROM commands WHERE sensor_id = ?", {sensor_id})->i64(0);
  d_.exec("INSERT INTO commands(sensor_id, seq, command, created) VALUES(?, ?, ?, ?)",
          {sensor_id, seq, command, now()});
  if (command == "deregister") {
    // The key stops working at once: the sensor's next call answers 403,
    // which is how it learns (it must register again with a new code).
    d_.exec("UPDATE sensors SET deregistered = 1, key_hash = NULL, code = NULL WHERE id = ?", {sensor_id});
    add_event(sensor_id, "Sensor Deregistered", "platform", "info", "deregistered by a user");
  } else if (command == "delete_assets") {
    delete_sensor_assets(sensor_id);
  }
  tx.commit();
  json::object o;
  o["sensor_id"] = sensor_id;
  o["id"] = seq;
  o["command"] = command;
  return o;
}

json::array store::list_commands(std::int64_t sensor_id) {
  auto s = d_.one("SELECT last_command_id FROM sensors WHERE id = ?", {sensor_id});
  if (!s) {
    throw store_error(404, "no sensor " + std::to_string(sensor_id));
  }
  json::array a;
  for (auto& r : d_.query("SELECT seq, command, created FROM commands WHERE sensor_id = ? ORDER BY seq", {sensor_id})) {
    json::object o;
    o["id"] = r.i64(0);
    o["command"] = r.str(1);
    o["created"] = r.i64(2);
    o["acknowledged"] = r.i64(0) <= s->i64(0);
    a.push_back(o);
  }
  return a;
}

void store::add_event(std::int64_t sensor_id, const std::string& name, const std::string& module,
                      const std::string& type, const std::string& message) {
  std::int64_t t = now();
  d_.exec(
      "INSERT INTO events(sensor_id, sensor_event_id, origin, name, module, type, first_seen, last_seen, count, "
      "message) VALUES(?, NULL, 'platform', ?, ?, ?, ?, ?, 1, ?)",
      {sensor_id, name, module, type, t, t, message});
}

int store::sweep_not_connected() {
  transaction tx(d_);
  int n = 0;
  std::int64_t t = now();
  for (auto& r : d_.query(std::string("SELECT ") + sensor_cols + " FROM sensors WHERE connected = 1")) {
    if (status_of(r, t) == status_not_connected) {
      d_.exec("UPDATE sensors SET connected = 0 WHERE id = ?", {r.i64(c_id)});
      add_event(r.i64(c_id), "Sensor Not Connected", "platform", "warning",
                "no check-in for " + std::to_string(not_connected_after_ns() / 1'000'000'000LL) + " s");
      ++n;
    }
  }
  tx.commit();
  return n;
}

// ---------------------------------------------------------------- sensor protocol

store::registration store::register_sensor(const std::string& code, const std::string& uid,
                                           const std::string& version, const std::string& hostname,
                                           const json::array& addresses, const json::array& macs) {
  if (code.size() != 14 || !std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    throw store_error(400, "personalization code must be 14 digits");
  }
  if (uid.empty() || uid.size() > 128) {
    throw store_error(400, "sensorUid must be 1-128 characters");
  }
  if (auto pf = subscription_inactive_from("platform"); pf && now() >= *pf + subscription_grace_ns) {
    throw store_error(403, "the platform subscription is inactive: registration resumes once it is reactivated");
  }
  transaction tx(d_);
  auto r = d_.one(std::string("SELECT ") + sensor_cols + " FROM sensors WHERE code = ?", {code});
  if (!r) {
    throw store_error(404, "personalization code unknown");
  }
  std::int64_t id = r->i64(c_id);
  bool used = r->i64(c_code_used) != 0;
  if (used && r->str(c_uid) != uid) {
    throw store_error(409, "personalization code already used by another sensor");
  }
  if (!used && r->i64(c_code_expires) < now()) {
    throw store_error(410, "personalization code expired: generate a new one on the platform");
  }
  // A first registration, or the same sensor retrying: either way a fresh
  // key, and the previous one stops working.
  std::string key = random_hex(32);
  if (!used) {
    d_.exec(
        "UPDATE sensors SET code_used = 1, uid = ?, registered_at = ?, deregistered = 0, last_checkin = NULL, "
        "reported_state = '', connected = 0, applied_revision = 0, command_floor = "
        "(SELECT COALESCE(MAX(seq), 0) FROM commands WHERE sensor_id = ?), last_report_id = 0 WHERE id = ?",
        {uid, now(), id, id});
    add_event(id, "Sensor Registered", "platform", "info", "registered from " + hostname);
  }
  d_.exec("UPDATE sensors SET key_hash = ?, version = ?, hostname = ?, addresses = ?, macs = ? WHERE id = ?",
          {sha256_hex(key), version, hostname, json::serialize(addresses), json::serialize(macs), id});
  tx.commit();
  return registration{id, key, status_registered, r->str(c_name), r->str(c_location)};
}

std::int64_t store::authenticate_sensor(const std::string& authorization) {
  constexpr std::string_view scheme = "Sensor ";
  if (authorization.rfind(scheme, 0) != 0) {
    throw store_error(401, "missing 'Authorization: Sensor id:key'");
  }
  std::string cred = authorization.substr(scheme.size());
  auto colon = cred.find(':');
  if (colon == std::string::npos || colon == 0) {
    throw store_error(401, "malformed sensor credential");
  }
  std::int64_t id = 0;
  auto [p, ec] = std::from_chars(cred.data(), cred.data() + colon, id);
  if (ec != std::errc() || p != cred.data() + colon) {
    throw store_error(401, "unknown sensor");
  }
  auto r = d_.one(
      "SELECT key_hash, deregistered, (SELECT inactive_from FROM subscriptions WHERE kind = 'platform') FROM sensors "
      "WHERE id = ?",
      {id});
  if (!r) {
    throw store_error(401, "unknown sensor");
  }
  if (r->i64(1) != 0) {
    throw store_error(403, "sensor deregistered: register again with a new code");
  }
  std::string want = r->str(0);
  std::string got = sha256_hex(std::string_view(cred).substr(colon + 1));
  if (want.size() != got.size() || sodium_memcmp(want.data(), got.data(), got.size()) != 0) {
    throw store_error(401, "wrong sensor key");
  }
  // The platform subscription lapsed more than the grace ago: this call is
  // where the sensor learns it (even before the sweeper got to it).
  if (!r->null(2) && now() >= r->i64(2) + subscription_grace_ns) {
    transaction tx(d_);
    deregister_for_subscription(id, r->i64(2));
    tx.commit();
    throw store_error(403, "sensor deregistered: the platform subscription is inactive (30 days of grace passed); "
                           "register again once it is reactivated");
  }
  return id;
}

store::checkin_out store::checkin(std::int64_t sensor_id, const checkin_in& in) {
  transaction tx(d_);
  auto r = d_.one(std::string("SELECT ") + sensor_cols + " FROM sensors WHERE id = ?", {sensor_id});
  if (!r) {
    throw store_error(401, "unknown sensor");
  }
  std::int64_t t = now();
  if (r->i64(c_connected) == 0 && !r->null(c_last_checkin)) {
    add_event(sensor_id, "Sensor Connected", "platform", "info", "check-ins resumed");
  }
  std::string state = in.state == status_sensing || in.state == status_paused ? in.state : status_registered;
  d_.exec(
      "UPDATE sensors SET last_checkin = ?, connected = 1, reported_state = ?, version = ?, hostname = ?, "
      "addresses = ?, macs = ?, health = ?, interfaces = ?, applied_revision = ?, config_error = ?, "
      "failed_revision = ?, last_command_id = ?, reported_last_report_id = ? WHERE id = ?",
      {t, state, in.version, in.hostname, json::serialize(in.addresses), json::serialize(in.macs),
       json::serialize(in.health), json::serialize(in.interfaces), static_cast<std::int64_t>(in.config_revision),
       in.config_error, static_cast<std::int64_t>(in.failed_revision), static_cast<std::int64_t>(in.last_command_id),
       static_cast<std::int64_t>(in.last_report_id), sensor_id});
  if (!in.config_error.empty() && static_cast<std::int64_t>(in.failed_revision) != r->i64(c_failed_revision)) {
    add_event(sensor_id, "Configuration Failed", "supervisor", "error",
              "revision " + std::to_string(in.failed_revision) + ": " + in.config_error);
  }
  for (const auto& e : in.events) {
    d_.exec(
        "INSERT INTO events(sensor_id, sensor_event_id, origin, name, module, type, first_seen, last_seen, count, "
        "message) VALUES(?, ?, 'sensor', ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(sensor_id, sensor_event_id) DO UPDATE SET "
        "last_seen = excluded.last_seen, count = excluded.count",
        {sensor_id, static_cast<std::int64_t>(e.id), e.name, e.module, e.type, e.first_seen, e.last_seen, e.count,
         e.message});
  }
  // The sensor subscription lapsed more than the grace ago: one pause
  // command per lapse (a user starts sensing again by hand).
  if (auto sf = subscription_inactive_from("sensor"); sf && t >= *sf + subscription_grace_ns &&
                                                       (r->null(c_sub_paused_for) || r->i64(c_sub_paused_for) != *sf)) {
    pause_for_subscription(sensor_id, *sf);
  }
  checkin_out out;
  auto [rev, hash, toml] = sensor_revision(sensor_id);
  out.config_revision = rev;
  out.config_hash = hash;
  if (rev != in.config_revision) {
    out.config = toml;
  }
  // Commands from before the sensor's latest registration are never replayed.
  std::int64_t floor = std::max(static_cast<std::int64_t>(in.last_command_id),
                                d_.one("SELECT command_floor FROM sensors WHERE id = ?", {sensor_id})->i64(0));
  for (auto& c : d_.query("SELECT seq, command FROM commands WHERE sensor_id = ? AND seq > ? ORDER BY seq",
                          {sensor_id, floor})) {
    out.commands.emplace_back(static_cast<std::uint64_t>(c.i64(0)), c.str(1));
  }
  auto after = d_.one(std::string("SELECT ") + sensor_cols + " FROM sensors WHERE id = ?", {sensor_id});
  out.status = status_of(*after, t);
  tx.commit();
  return out;
}

}  // namespace tapsense::platform
