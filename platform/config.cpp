// Configuration documents (the guide's "Configure Assets", "General
// Settings" and "Interface Settings"), their validation, and the TOML
// fragment each sensor runs, in the sensor configuration's own syntax
// (README "Asset classes and networks", "Configuration").
#include <algorithm>
#include <array>
#include <map>
#include <set>

#include "common/net/cidr.h"
#include "platform/store.h"

namespace tapsense::platform {

namespace json = boost::json;

namespace {

const char* const kinds[] = {"internal", "ip-range-tags", "excluded", "monitored", "networks", "general"};

json::value default_doc(const std::string& kind) {
  if (kind == "general") {
    json::object o;
    o["fingerprint_data_consent"] = false;
    o["email_recipients"] = json::array();
    o["hostname_exclusions"] = json::array();
    return o;
  }
  return json::array();
}

// Problems found while validating, each "where: what".
struct problems {
  std::vector<std::string> list;
  void add(const std::string& where, const std::string& what) { list.push_back(where + ": " + what); }
};

std::string where(const std::string& kind, std::size_t i, const char* field = nullptr) {
  std::string w = kind + "[" + std::to_string(i) + "]";
  if (field != nullptr) {
    w += std::string(".") + field;
  }
  return w;
}

const std::set<std::string> allowed_fields(const std::string& kind) {
  if (kind == "internal") {
    return {"name", "sensors", "inventory", "default_ranges", "ip_range_tags", "ranges", "type", "network", "tags"};
  }
  if (kind == "ip-range-tags") {
    return {"name", "ranges"};
  }
  if (kind == "excluded") {
    return {"name", "ranges", "macs"};
  }
  if (kind == "monitored") {
    return {"name", "addresses", "domains"};
  }
  if (kind == "networks") {
    return {"name", "interfaces", "vlans"};
  }
  return {"fingerprint_data_consent", "email_recipients", "hostname_exclusions"};
}

// A list of strings (absent: empty). Records a problem otherwise.
std::vector<std::string> strings(const json::object& o, const char* field, const std::string& w, problems& p) {
  std::vector<std::string> out;
  auto v = o.if_contains(field);
  if (v == nullptr) {
    return out;
  }
  if (!v->is_array()) {
    p.add(w + "." + field, "must be a list of strings");
    return out;
  }
  for (const auto& e : v->as_array()) {
    if (!e.is_string()) {
      p.add(w + "." + field, "must be a list of strings");
      return {};
    }
    out.emplace_back(e.as_string().c_str());
  }
  return out;
}

std::optional<std::string> normal_mac(const std::string& s) {
  std::string hex;
  for (char c : s) {
    if (c == ':' || c == '-') {
      continue;
    }
    if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return std::nullopt;
    }
    hex += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (hex.size() != 12 || (s.size() != 12 && s.size() != 17)) {
    return std::nullopt;
  }
  std::string out;
  for (std::size_t i = 0; i < 12; i += 2) {
    if (!out.empty()) {
      out += ':';
    }
    out += hex.substr(i, 2);
  }
  return out;
}

bool valid_domain(const std::string& d) {
  std::string s = d.rfind("*.", 0) == 0 ? d.substr(2) : d;
  if (s.empty() || s.size() > 253 || s.front() == '.' || s.front() == '-') {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
  });
}

std::string toml_str(const std::string& s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\t': o += "\\t"; break;
      case '\r': o += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", c);
          o += b;
        } else {
          o += static_cast<char>(c);
        }
    }
  }
  return o + "\"";
}

std::string toml_list(const std::vector<std::string>& v) {
  std::string o = "[";
  for (std::size_t i = 0; i < v.size(); ++i) {
    o += (i ? ", " : "") + toml_str(v[i]);
  }
  return o + "]";
}

std::vector<std::string> jstrings(const json::value* v) {
  std::vector<std::string> out;
  if (v != nullptr && v->is_array()) {
    for (const auto& e : v->as_array()) {
      if (e.is_string()) {
        out.emplace_back(e.as_string().c_str());
      }
    }
  }
  return out;
}

std::string jstr(const json::object& o, const char* f, const std::string& dflt = "") {
  auto v = o.if_contains(f);
  return v != nullptr && v->is_string() ? std::string(v->as_string().c_str()) : dflt;
}

}  // namespace

bool store::config_kind(const std::string& kind) {
  return std::find(std::begin(kinds), std::end(kinds), kind) != std::end(kinds);
}

std::pair<json::value, std::int64_t> store::get_config(const std::string& kind) {
  if (!config_kind(kind)) {
    throw store_error(404, "no configuration '" + kind + "'");
  }
  auto r = d_.one("SELECT body, revision FROM config_docs WHERE kind = ?", {kind});
  if (!r) {
    return {default_doc(kind), 0};
  }
  return {json::parse(r->str(0)), r->i64(1)};
}

std::int64_t store::put_config(const std::string& kind, const json::value& body, std::int64_t if_match) {
  if (!config_kind(kind)) {
    throw store_error(404, "no configuration '" + kind + "'");
  }
  transaction tx(d_);
  auto cur = d_.one("SELECT revision FROM config_docs WHERE kind = ?", {kind});
  std::int64_t rev = cur ? cur->i64(0) : 0;
  if (if_match >= 0 && if_match != rev) {
    throw store_error(412, kind + " changed since revision " + std::to_string(if_match) + " (now " +
                               std::to_string(rev) + "): read it again");
  }
  // The other documents, for cross references.
  auto other = [&](const std::string& k) { return k == kind ? body : get_config(k).first; };
  problems p;
  json::value stored;
  if (kind == "general") {
    if (!body.is_object()) {
      throw store_error(400, "general: must be an object");
    }
    const auto& o = body.as_object();
    for (const auto& kv : o) {
      if (!allowed_fields(kind).count(std::string(kv.key()))) {
        p.add("general." + std::string(kv.key()), "unknown field");
      }
    }
    json::object s;
    auto consent = o.if_contains("fingerprint_data_consent");
    if (consent != nullptr && !consent->is_bool()) {
      p.add("general.fingerprint_data_consent", "must be true or false");
    }
    s["fingerprint_data_consent"] = consent != nullptr && consent->is_bool() && consent->as_bool();
    json::array mails;
    for (auto& m : strings(o, "email_recipients", "general", p)) {
      auto at = m.find('@');
      if (at == std::string::npos || at == 0 || at + 1 >= m.size() || m.find_first_of(" ,;<>") != std::string::npos) {
        p.add("general.email_recipients", "'" + m + "' is not an e-mail address");
      }
      mails.emplace_back(m);
    }
    s["email_recipients"] = mails;
    json::array hosts;
    for (auto& h : strings(o, "hostname_exclusions", "general", p)) {
      if (h.empty()) {
        p.add("general.hostname_exclusions", "empty hostname");
      }
      std::string lc = h;
      std::transform(lc.begin(), lc.end(), lc.begin(), [](unsigned char c) { return std::tolower(c); });
      hosts.emplace_back(lc);
    }
    s["hostname_exclusions"] = hosts;
    stored = s;
  } else {
    if (!body.is_array()) {
      throw store_error(400, kind + ": must be a list");
    }
    std::set<std::string> names;
    std::set<std::string> tag_names, network_names;
    std::set<std::int64_t> sensor_ids;
    if (kind == "internal") {
      const json::value doc1 = other("ip-range-tags");
      for (const auto& t : doc1.as_array()) {
        tag_names.insert(jstr(t.as_object(), "name"));
      }
      const json::value doc2 = other("networks");
      for (const auto& n : doc2.as_array()) {
        network_names.insert(jstr(n.as_object(), "name"));
      }
      for (auto& r : d_.query("SELECT id FROM sensors")) {
        sensor_ids.insert(r.i64(0));
      }
    }
    json::array out;
    const auto& arr = body.as_array();
    for (std::size_t i = 0; i < arr.size(); ++i) {
      std::string w = where(kind, i);
      if (!arr[i].is_object()) {
        p.add(w, "must be an object");
        continue;
      }
      const auto& o = arr[i].as_object();
      for (const auto& kv : o) {
        if (!allowed_fields(kind).count(std::string(kv.key()))) {
          p.add(w + "." + std::string(kv.key()), "unknown field");
        }
      }
      json::object s;
      std::string name = jstr(o, "name");
      if (name.empty()) {
        p.add(w + ".name", "required");
      } else if (!names.insert(name).second) {
        p.add(w + ".name", "'" + name + "' appears twice");
      }
      s["name"] = name;
      auto check_ranges = [&](const char* field, bool allow_default) {
        json::array a;
        for (auto& r : strings(o, field, w, p)) {
          std::string why;
          if (allow_default && r == "default") {
            // The sensor configuration's own spelling of default_ranges.
          } else if (!net::ip_range::parse(r, &why)) {
            p.add(w + "." + field, "'" + r + "': " + (why.empty() ? "not an IP, CIDR or range a-b" : why));
          }
          a.emplace_back(r);
        }
        return a;
      };
      if (kind == "ip-range-tags") {
        s["ranges"] = check_ranges("ranges", false);
        if (s["ranges"].as_array().empty()) {
          p.add(w + ".ranges", "at least one range required");
        }
      } else if (kind == "excluded") {
        s["ranges"] = check_ranges("ranges", false);
        json::array macs;
        for (auto& m : strings(o, "macs", w, p)) {
          auto n = normal_mac(m);
          if (!n) {
            p.add(w + ".macs", "'" + m + "' is not a MAC address");
          }
          macs.emplace_back(n ? *n : m);
        }
        s["macs"] = macs;
        if (s["ranges"].as_array().empty() && macs.empty()) {
          p.add(w, "needs ranges or macs");
        }
      } else if (kind == "monitored") {
        s["addresses"] = check_ranges("addresses", false);
        json::array doms;
        for (auto d : strings(o, "domains", w, p)) {
          std::transform(d.begin(), d.end(), d.begin(), [](unsigned char c) { return std::tolower(c); });
          if (!d.empty() && d.back() == '.') {
            d.pop_back();
          }
          if (!valid_domain(d)) {
            p.add(w + ".domains", "'" + d + "' is not a domain name");
          }
          doms.emplace_back(d);
        }
        s["domains"] = doms;
        if (s["addresses"].as_array().empty() && doms.empty()) {
          p.add(w, "needs addresses or domains");
        }
      } else if (kind == "networks") {
        json::array ifs;
        for (auto& n : strings(o, "interfaces", w, p)) {
          ifs.emplace_back(n);
        }
        s["interfaces"] = ifs;
        json::array vlans;
        if (auto v = o.if_contains("vlans"); v != nullptr) {
          if (!v->is_array()) {
            p.add(w + ".vlans", "must be a list of VLAN ids");
          } else {
            for (const auto& e : v->as_array()) {
              if (!e.is_int64() || e.as_int64() < 0 || e.as_int64() > 4095) {
                p.add(w + ".vlans", "VLAN ids are integers 0-4095");
              } else {
                vlans.emplace_back(e.as_int64());
              }
            }
          }
        }
        s["vlans"] = vlans;
        if (ifs.empty() && vlans.empty()) {
          p.add(w, "needs interfaces or vlans");
        }
      } else if (kind == "internal") {
        json::array sensors;
        if (auto v = o.if_contains("sensors"); v != nullptr) {
          if (!v->is_array()) {
            p.add(w + ".sensors", "must be a list of sensor ids");
          } else {
            for (const auto& e : v->as_array()) {
              if (!e.is_int64() || !sensor_ids.count(e.as_int64())) {
                p.add(w + ".sensors", json::serialize(e) + " is not a sensor id");
              } else {
                sensors.emplace_back(e.as_int64());
              }
            }
          }
        }
        s["sensors"] = sensors;
        auto flag = [&](const char* f, bool dflt) {
          auto v = o.if_contains(f);
          if (v != nullptr && !v->is_bool()) {
            p.add(w + "." + f, "must be true or false");
          }
          return v != nullptr && v->is_bool() ? v->as_bool() : dflt;
        };
        s["inventory"] = flag("inventory", true);
        s["default_ranges"] = flag("default_ranges", false);
        json::array tags;
        for (auto& t : strings(o, "ip_range_tags", w, p)) {
          if (!tag_names.count(t)) {
            p.add(w + ".ip_range_tags", "no IP-range tag '" + t + "'");
          }
          tags.emplace_back(t);
        }
        s["ip_range_tags"] = tags;
        s["ranges"] = check_ranges("ranges", true);
        if (!s["default_ranges"].as_bool() && tags.empty() && s["ranges"].as_array().empty()) {
          p.add(w, "needs default_ranges, ip_range_tags or ranges");
        }
        std::string type = jstr(o, "type", "dhcp");
        if (type != "dhcp" && type != "static") {
          p.add(w + ".type", "must be dhcp or static");
        }
        s["type"] = type;
        std::string network = jstr(o, "network");
        if (!network.empty() && !network_names.count(network)) {
          p.add(w + ".network", "no network '" + network + "' (define it under networks)");
        }
        s["network"] = network;
        json::array atags;
        for (auto& t : strings(o, "tags", w, p)) {
          atags.emplace_back(t);
        }
        s["tags"] = atags;
      }
      out.push_back(s);
    }
    stored = out;
  }
  // Documents that reference this one must stay valid.
  if (kind == "ip-range-tags" || kind == "networks") {
    std::set<std::string> have;
    for (const auto& e : stored.as_array()) {
      have.insert(jstr(e.as_object(), "name"));
    }
    auto groups = get_config("internal").first.as_array();
    for (const auto& g : groups) {
      const auto& go = g.as_object();
      if (kind == "ip-range-tags") {
        for (auto& t : jstrings(go.if_contains("ip_range_tags"))) {
          if (!have.count(t)) {
            p.add("ip-range-tags", "'" + t + "' is used by internal group '" + jstr(go, "name") + "'");
          }
        }
      } else {
        std::string n = jstr(go, "network");
        if (!n.empty() && !have.count(n)) {
          p.add("networks", "'" + n + "' is used by internal group '" + jstr(go, "name") + "'");
        }
      }
    }
  }
  if (!p.list.empty()) {
    std::string all;
    for (const auto& l : p.list) {
      all += (all.empty() ? "" : "\n") + l;
    }
    throw store_error(400, all);
  }
  rev += 1;
  d_.exec(
      "INSERT INTO config_docs(kind, body, revision) VALUES(?, ?, ?) ON CONFLICT(kind) DO UPDATE SET body = "
      "excluded.body, revision = excluded.revision",
      {kind, json::serialize(stored), rev});
  // Each sensor's revision moves now, so a pending change shows at once.
  for (auto& r : d_.query("SELECT id FROM sensors WHERE deregistered = 0")) {
    sensor_revision(r.i64(0));
  }
  tx.commit();
  return rev;
}

json::array store::get_interfaces(std::int64_t sensor_id) {
  if (!d_.one("SELECT 1 FROM sensors WHERE id = ?", {sensor_id})) {
    throw store_error(404, "no sensor " + std::to_string(sensor_id));
  }
  json::array a;
  for (auto& r : d_.query("SELECT name, mode, erspan_address FROM interface_settings WHERE sensor_id = ? ORDER BY name",
                          {sensor_id})) {
    json::object o;
    o["name"] = r.str(0);
    o["mode"] = r.str(1);
    o["erspan_address"] = r.str(2);
    a.push_back(o);
  }
  return a;
}

void store::put_interfaces(std::int64_t sensor_id, const json::value& body) {
  if (!body.is_array()) {
    throw store_error(400, "interfaces: must be a list");
  }
  problems p;
  std::set<std::string> names;
  std::vector<std::array<std::string, 3>> rows;
  const auto& arr = body.as_array();
  for (std::size_t i = 0; i < arr.size(); ++i) {
    std::string w = where("interfaces", i);
    if (!arr[i].is_object()) {
      p.add(w, "must be an object");
      continue;
    }
    const auto& o = arr[i].as_object();
    for (const auto& kv : o) {
      if (kv.key() != "name" && kv.key() != "mode" && kv.key() != "erspan_address") {
        p.add(w + "." + std::string(kv.key()), "unknown field");
      }
    }
    std::string name = jstr(o, "name");
    std::string mode = jstr(o, "mode", "default");
    std::transform(mode.begin(), mode.end(), mode.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string addr = jstr(o, "erspan_address");
    if (name.empty()) {
      p.add(w + ".name", "required");
    } else if (!names.insert(name).second) {
      p.add(w + ".name", "'" + name + "' appears twice");
    }
    if (mode != "default" && mode != "erspan") {
      p.add(w + ".mode", "must be DEFAULT or ERSPAN");
    } else if (mode == "erspan") {
      auto a = net::ip_address::parse(addr);
      if (addr.empty() || !a) {
        p.add(w + ".erspan_address", "ERSPAN mode needs the interface's IP address, got '" + addr + "'");
      }
    } else if (!addr.empty()) {
      p.add(w + ".erspan_address", "only with mode ERSPAN");
    }
    rows.push_back({name, mode, addr});
  }
  if (!p.list.empty()) {
    std::string all;
    for (const auto& l : p.list) {
      all += (all.empty() ? "" : "\n") + l;
    }
    throw store_error(400, all);
  }
  transaction tx(d_);
  if (!d_.one("SELECT 1 FROM sensors WHERE id = ?", {sensor_id})) {
    throw store_error(404, "no sensor " + std::to_string(sensor_id));
  }
  d_.exec("DELETE FROM interface_settings WHERE sensor_id = ?", {sensor_id});
  for (auto& r : rows) {
    d_.exec("INSERT INTO interface_settings(sensor_id, name, mode, erspan_address) VALUES(?, ?, ?, ?)",
            {sensor_id, r[0], r[1], r[2]});
  }
  sensor_revision(sensor_id);
  tx.commit();
}

std::string store::sensor_toml(std::int64_t sensor_id) {
  std::string t = "# tapsense platform configuration for sensor " + std::to_string(sensor_id) + "\n";
  std::map<std::string, std::vector<std::string>> tag_ranges;
  const json::value doc3 = get_config("ip-range-tags").first;
  for (const auto& tg : doc3.as_array()) {
    tag_ranges[jstr(tg.as_object(), "name")] = jstrings(tg.as_object().if_contains("ranges"));
  }
  const json::value doc4 = get_config("internal").first;
  for (const auto& g : doc4.as_array()) {
    const auto& o = g.as_object();
    auto sensors = o.if_contains("sensors");
    bool mine = sensors == nullptr || sensors->as_array().empty();
    if (!mine) {
      for (const auto& s : sensors->as_array()) {
        mine = mine || (s.is_int64() && s.as_int64() == sensor_id);
      }
    }
    if (!mine) {
      continue;
    }
    std::vector<std::string> ranges;
    if (auto d = o.if_contains("default_ranges"); d != nullptr && d->is_bool() && d->as_bool()) {
      ranges.emplace_back("default");
    }
    for (auto& tag : jstrings(o.if_contains("ip_range_tags"))) {
      for (auto& r : tag_ranges[tag]) {
        ranges.push_back(r);
      }
    }
    for (auto& r : jstrings(o.if_contains("ranges"))) {
      ranges.push_back(r);
    }
    auto inv = o.if_contains("inventory");
    t += "[[internal]]\nname = " + toml_str(jstr(o, "name")) + "\ninventory = " +
         ((inv == nullptr || !inv->is_bool() || inv->as_bool()) ? "true" : "false") + "\nranges = " +
         toml_list(ranges) + "\ntype = " + toml_str(jstr(o, "type", "dhcp")) + "\nnetwork = " +
         toml_str(jstr(o, "network")) + "\n";
  }
  const json::value doc5 = get_config("excluded").first;
  for (const auto& e : doc5.as_array()) {
    const auto& o = e.as_object();
    t += "[[excluded]]\nname = " + toml_str(jstr(o, "name")) + "\nranges = " +
         toml_list(jstrings(o.if_contains("ranges"))) + "\nmacs = " + toml_list(jstrings(o.if_contains("macs"))) +
         "\n";
  }
  const json::value doc6 = get_config("monitored").first;
  for (const auto& e : doc6.as_array()) {
    const auto& o = e.as_object();
    t += "[[monitored]]\nname = " + toml_str(jstr(o, "name")) + "\naddresses = " +
         toml_list(jstrings(o.if_contains("addresses"))) + "\ndomains = " +
         toml_list(jstrings(o.if_contains("domains"))) + "\n";
  }
  const json::value doc7 = get_config("networks").first;
  for (const auto& e : doc7.as_array()) {
    const auto& o = e.as_object();
    std::string vl = "[";
    if (auto v = o.if_contains("vlans"); v != nullptr && v->is_array()) {
      for (std::size_t i = 0; i < v->as_array().size(); ++i) {
        vl += (i ? ", " : "") + json::serialize(v->as_array()[i]);
      }
    }
    t += "[[network]]\nname = " + toml_str(jstr(o, "name")) + "\ninterfaces = " +
         toml_list(jstrings(o.if_contains("interfaces"))) + "\nvlans = " + vl + "]\n";
  }
  for (auto& r : d_.query("SELECT name, mode, erspan_address FROM interface_settings WHERE sensor_id = ? ORDER BY name",
                          {sensor_id})) {
    t += "[[capture.interface]]\nname = " + toml_str(r.str(0)) + "\nmode = " + toml_str(r.str(1)) +
         "\nerspan_address = " + toml_str(r.str(2)) + "\n";
  }
  return t;
}

std::tuple<std::uint64_t, std::string, std::string> store::sensor_revision(std::int64_t sensor_id) {
  std::string toml = sensor_toml(sensor_id);
  std::string hash = sha256_hex(toml);
  auto r = d_.one("SELECT config_revision, config_hash FROM sensors WHERE id = ?", {sensor_id});
  if (!r) {
    throw store_error(404, "no sensor " + std::to_string(sensor_id));
  }
  std::int64_t rev = r->i64(0);
  if (r->str(1) != hash) {
    rev += 1;
    d_.exec("UPDATE sensors SET config_revision = ?, config_hash = ? WHERE id = ?", {rev, hash, sensor_id});
  }
  return {static_cast<std::uint64_t>(rev), hash, toml};
}

}  // namespace tapsense::platform
