#include "platform/console.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "common/net/names.h"

namespace tapsense::platform {

namespace json = boost::json;

namespace {

std::string& console_dir() {
  static std::string dir;
  return dir;
}

// No inline script or style anywhere: the bundle is files under 'self'.
// uPlot and Preact set styles through the CSSOM, which style-src allows.
constexpr const char* csp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

http_reply text_reply(unsigned status, const std::string& body) {
  http_reply r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = body;
  return r;
}

void secure(http_reply& r) {
  r.headers.emplace_back("Content-Security-Policy", csp);
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("Cross-Origin-Opener-Policy", "same-origin");
}

const char* type_of(const std::string& ext) {
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".map") return "application/json";
  if (ext == ".txt") return "text/plain; charset=utf-8";
  return nullptr;
}


std::string str_param(const std::map<std::string, std::string>& q, const char* name) {
  auto it = q.find(name);
  return it == q.end() ? std::string() : it->second;
}

std::string like_pattern(const std::string& text) {
  std::string pat = "%";
  for (char c : text) {
    char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (l == '%' || l == '_' || l == '\\') {
      pat += '\\';
    }
    pat += l;
  }
  return pat + "%";
}

// Splits [lo, hi] into about 60 buckets; returns the bucket width in ns (at
// least a minute, so a short capture still draws a few bars).
std::int64_t bucket_width(std::int64_t lo, std::int64_t hi) {
  constexpr std::int64_t minute = 60'000'000'000LL;
  std::int64_t w = (hi - lo) / 60 + 1;
  return std::max(minute, (w + minute - 1) / minute * minute);
}

json::object summary(store& s) {
  db& d = s.database();
  constexpr std::int64_t hour = 3600'000'000'000LL;
  std::int64_t now = s.now();
  json::object o;
  o["now"] = now;
  o["active_assets_7d"] = d.one("SELECT COUNT(*) FROM assets WHERE last_seen >= ?", {now - 7 * 24 * hour})->i64(0);
  o["new_discoveries_24h"] = d.one("SELECT COUNT(*) FROM assets WHERE first_seen >= ?", {now - 24 * hour})->i64(0);
  o["assets_total"] = d.one("SELECT COUNT(*) FROM assets")->i64(0);
  json::object by_status;
  for (auto& sensor : s.list_sensors()) {
    std::string st(sensor.as_object().at("status").as_string().c_str());
    by_status[st] = (by_status.contains(st) ? by_status[st].as_int64() : 0) + 1;
  }
  o["sensors_by_status"] = by_status;
  // Discoveries over the inventory's own time span (an offline capture's
  // packets may be years old): assets by the bucket of their first sighting.
  json::array series;
  auto span = d.one("SELECT MIN(first_seen), MAX(first_seen) FROM assets WHERE first_seen > 0");
  if (span && !span->null(0)) {
    std::int64_t lo = span->i64(0), hi = span->i64(1);
    std::int64_t w = bucket_width(lo, hi);
    lo = lo / w * w;
    for (auto& r : d.query("SELECT (first_seen - ?) / ?, COUNT(*) FROM assets WHERE first_seen > 0 GROUP BY 1 ORDER BY 1",
                           {lo, w})) {
      json::object b;
      b["t"] = lo + r.i64(0) * w;
      b["n"] = r.i64(1);
      series.push_back(b);
    }
    o["bucket_ns"] = w;
  }
  o["discoveries"] = series;
  return o;
}

const std::map<std::string, std::string>& sort_columns() {
  static const std::map<std::string, std::string> m = {
      {"ip", "ip"},         {"mac", "mac"},   {"hostname", "hostname_lc"}, {"vendor", "vendor"},
      {"os", "os"},         {"device_type", "device_type"}, {"first_seen", "first_seen"},
      {"last_seen", "last_seen"}, {"id", "id"}, {"network", "network"}};
  return m;
}

json::object asset_table(store& s, const std::map<std::string, std::string>& q) {
  db& d = s.database();
  std::string where = " WHERE 1 = 1";
  std::vector<sql_value> params;
  if (auto sensor = int_param(q, "sensor", 0, 0, INT64_MAX); sensor > 0) {
    where += " AND id IN (SELECT asset_id FROM sensor_assets WHERE sensor_id = ?)";
    params.emplace_back(sensor);
  }
  for (const char* f : {"network", "vendor", "os", "device_type"}) {
    if (auto it = q.find(f); it != q.end() && !it->second.empty()) {
      where += std::string(" AND ") + f + " = ?";
      params.emplace_back(it->second);
    }
  }
  if (auto text = str_param(q, "q"); !text.empty()) {
    where += " AND LOWER(ip || ' ' || mac || ' ' || hostname || ' ' || vendor || ' ' || os || ' ' || device_type) "
             "LIKE ? ESCAPE '\\'";
    params.emplace_back(like_pattern(text));
  }
  std::string sort = str_param(q, "sort");
  if (sort.empty()) {
    sort = "last_seen";
  }
  auto col = sort_columns().find(sort);
  if (col == sort_columns().end()) {
    throw store_error(400, "sort: one of ip, mac, hostname, vendor, os, device_type, network, first_seen, "
                           "last_seen, id; got '" + sort + "'");
  }
  std::string dir = str_param(q, "dir");
  if (dir.empty()) {
    dir = sort == "first_seen" || sort == "last_seen" ? "desc" : "asc";
  }
  if (dir != "asc" && dir != "desc") {
    throw store_error(400, "dir: asc or desc, got '" + dir + "'");
  }
  std::int64_t limit = int_param(q, "limit", 50, 1, 500);
  std::int64_t offset = int_param(q, "offset", 0, 0, INT64_MAX);
  std::int64_t total = d.one("SELECT COUNT(*) FROM assets" + where, params)->i64(0);
  auto page_params = params;
  page_params.emplace_back(limit);
  page_params.emplace_back(offset);
  json::array items;
  for (auto& r : d.query("SELECT id, network, ip, mac, hostname, vendor, os, device_type, device_class, model, "
                         "first_seen, last_seen FROM assets" +
                             where + " ORDER BY " + col->second + " " + dir + ", id " + dir + " LIMIT ? OFFSET ?",
                         page_params)) {
    json::object a;
    a["id"] = r.i64(0);
    a["network"] = r.str(1);
    a["ip"] = r.str(2);
    a["mac"] = r.str(3);
    a["hostname"] = r.str(4);
    a["vendor"] = r.str(5);
    a["os"] = r.str(6);
    a["device_type"] = r.str(7);
    a["device_class"] = r.str(8);
    a["model"] = r.str(9);
    a["first_seen"] = r.i64(10);
    a["last_seen"] = r.i64(11);
    json::array sensors;
    for (auto& sr : d.query("SELECT DISTINCT s.id, s.name FROM sensor_assets a JOIN sensors s ON s.id = a.sensor_id "
                            "WHERE a.asset_id = ? ORDER BY s.id",
                            {r.i64(0)})) {
      json::object so;
      so["id"] = sr.i64(0);
      so["name"] = sr.str(1);
      sensors.push_back(so);
    }
    a["sensors"] = sensors;
    items.push_back(a);
  }
  json::object o;
  o["items"] = items;
  o["total"] = total;
  o["offset"] = offset;
  o["limit"] = limit;
  o["sort"] = sort;
  o["dir"] = dir;
  return o;
}

json::object asset_facets(store& s) {
  db& d = s.database();
  json::object o;
  for (const char* f : {"network", "vendor", "os", "device_type"}) {
    json::array vals;
    for (auto& r : d.query(std::string("SELECT ") + f + ", COUNT(*) FROM assets WHERE " + f + " <> '' GROUP BY " + f +
                           " ORDER BY COUNT(*) DESC, " + f + " LIMIT 100")) {
      json::object v;
      v["value"] = r.str(0);
      v["count"] = r.i64(1);
      vals.push_back(v);
    }
    o[f] = vals;
  }
  return o;
}

// As the sensor's flows.json and traffic.json name a protocol.
std::string proto_name(std::int64_t p) { return net::ip_protocol_name(static_cast<unsigned>(p)); }

// A flow's family and service as traffic.json names them: nDPI's, else
// "Unknown" and protocol/port. A row stored before the platform kept the
// family (empty) has only nDPI's application name: that stands in for the
// service.
std::pair<std::string, std::string> family_service(const std::string& family, const std::string& service,
                                                   const std::string& application, std::int64_t protocol,
                                                   std::int64_t port) {
  std::string svc = service;
  if (svc.empty() && family.empty()) {
    svc = application;
  }
  if (svc.empty()) {
    svc = proto_name(protocol) + (port != 0 ? "/" + std::to_string(port) : "");
  }
  return {family.empty() ? "Unknown" : family, svc};
}

std::vector<sql_value> join(std::initializer_list<const std::vector<sql_value>*> parts) {
  std::vector<sql_value> out;
  for (const auto* p : parts) {
    out.insert(out.end(), p->begin(), p->end());
  }
  return out;
}

// The guide's traffic summary for one asset: this asset as client or
// server, bytes into it (ingress) and out of it (egress), per family and
// service as the sensor's traffic.json has them; the flow rows; and its
// bytes over time. Its flows: its IP on either side, and an unassigned
// client's sent from its MAC (a DHCP DISCOVER before it had the address).
json::object asset_traffic(store& s, std::int64_t id, const std::map<std::string, std::string>& q) {
  db& d = s.database();
  auto a = d.one("SELECT network, ip, mac FROM assets WHERE id = ?", {id});
  if (!a) {
    throw store_error(404, "no asset " + std::to_string(id));
  }
  std::string net = a->str(0), ip = a->str(1);
  json::object o;
  o["ip"] = ip;
  json::array summary, flows, timeline;
  std::int64_t total_flows = 0;
  auto mine = flows_of_asset(net, ip, a->str(2));
  if (!mine.none) {
    const auto& cp = mine.client_params;
    const auto& wp = mine.where_params;
    // role: client when this asset opened the flow. ingress: bytes to it.
    const std::string role = mine.when_client("'Client'", "'Server'");
    const std::string ingress = mine.when_client("bytes_sc", "bytes_cs");
    const std::string egress = mine.when_client("bytes_cs", "bytes_sc");
    const std::string from = " FROM flows WHERE " + mine.where;
    struct totals {
      std::int64_t ingress = 0, egress = 0, flows = 0;
    };
    std::map<std::tuple<std::string, std::string, std::string>, totals> by;
    for (auto& r : d.query("SELECT app_family, app_service, application, protocol, server_port, " + role + ", SUM(" +
                               ingress + "), SUM(" + egress + "), COUNT(*)" + from + " GROUP BY 1, 2, 3, 4, 5, 6",
                           join({&cp, &cp, &cp, &wp}))) {
      auto [family, service] = family_service(r.str(0), r.str(1), r.str(2), r.i64(3), r.i64(4));
      auto& t = by[{family, service, r.str(5)}];
      t.ingress += r.i64(6);
      t.egress += r.i64(7);
      t.flows += r.i64(8);
    }
    for (const auto& [k, t] : by) {
      json::object row;
      row["family"] = std::get<0>(k);
      row["application"] = std::get<1>(k);
      row["role"] = std::get<2>(k);
      row["ingress"] = t.ingress;
      row["egress"] = t.egress;
      row["total"] = t.ingress + t.egress;
      row["flows"] = t.flows;
      summary.push_back(row);
    }
    std::stable_sort(summary.begin(), summary.end(), [](const json::value& x, const json::value& y) {
      return x.as_object().at("total").as_int64() > y.as_object().at("total").as_int64();
    });
    total_flows = d.one("SELECT COUNT(*)" + from, wp)->i64(0);
    std::int64_t limit = int_param(q, "limit", 50, 1, 500);
    std::int64_t offset = int_param(q, "offset", 0, 0, INT64_MAX);
    std::vector<sql_value> page{limit, offset};
    for (auto& r : d.query("SELECT interval_start, interval_end, " + role + ", " + mine.when_client("server", "client") +
                               ", protocol, server_port, " + ingress + ", " + egress +
                               ", packets, application, app_family, app_service, client_mac, packets_cs," +
                               mine.when_client("packets_cs", "packets - packets_cs") + from +
                               " ORDER BY interval_start DESC, id DESC LIMIT ? OFFSET ?",
                           join({&cp, &cp, &cp, &cp, &cp, &wp, &page}))) {
      json::object f;
      f["start"] = r.i64(0);
      f["end"] = r.i64(1);
      f["role"] = r.str(2);
      f["peer"] = r.str(3);
      f["protocol"] = proto_name(r.i64(4));
      f["port"] = r.i64(5);
      f["ingress"] = r.i64(6);
      f["egress"] = r.i64(7);
      f["total"] = r.i64(6) + r.i64(7);
      f["packets"] = r.i64(8);
      f["application"] = r.str(9);
      auto [family, service] = family_service(r.str(10), r.str(11), r.str(9), r.i64(4), r.i64(5));
      f["family"] = family;
      f["service"] = service;
      // The MAC an unassigned client sent from (this asset's), else null.
      f["client_mac"] = r.str(12).empty() ? json::value(nullptr) : json::value(r.str(12));
      // Packets from this asset; null for a row stored before they were kept.
      f["packets_out"] = r.i64(13) == 0 ? json::value(nullptr) : json::value(r.i64(14));
      flows.push_back(f);
    }
    auto span = d.one("SELECT MIN(interval_start), MAX(interval_start)" + from, wp);
    if (span && !span->null(0)) {
      std::int64_t lo = span->i64(0), hi = span->i64(1);
      std::int64_t w = bucket_width(lo, hi);
      lo = lo / w * w;
      std::vector<sql_value> bucket{lo, w};
      for (auto& r : d.query("SELECT (interval_start - ?) / ?, SUM(" + ingress + "), SUM(" + egress + ")" + from +
                                 " GROUP BY 1 ORDER BY 1",
                             join({&bucket, &cp, &cp, &wp}))) {
        json::object b;
        b["t"] = lo + r.i64(0) * w;
        b["ingress"] = r.i64(1);
        b["egress"] = r.i64(2);
        timeline.push_back(b);
      }
      o["bucket_ns"] = w;
    }
  }
  o["summary"] = summary;
  o["flows"] = flows;
  o["flows_total"] = total_flows;
  o["timeline"] = timeline;
  return o;
}

}  // namespace

void set_console_dir(const std::string& dir) { console_dir() = dir; }

std::string default_console_dir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) {
    return "";
  }
  return (exe.parent_path() / "console").string();
}

http_reply serve_console(const std::string& path) {
  const std::string& root = console_dir();
  if (root.empty() || !std::filesystem::is_regular_file(root + "/index.html")) {
    return text_reply(404, "the web console is not installed (expected " +
                               (root.empty() ? std::string("--console DIR") : root + "/index.html") +
                               "); the API is under /api/v1\n");
  }
  // Only plain names: no "..", no hidden files, nothing but [A-Za-z0-9._-/].
  std::string rel = path.empty() || path == "/" ? "index.html" : path.substr(1);
  bool plain = rel.size() < 256 && std::all_of(rel.begin(), rel.end(), [](unsigned char c) {
                 return std::isalnum(c) || c == '.' || c == '_' || c == '-' || c == '/';
               });
  if (!plain || rel.find("..") != std::string::npos || rel.find("/.") != std::string::npos || rel.front() == '.') {
    return text_reply(404, "nothing at " + path + "\n");
  }
  std::string ext = std::filesystem::path(rel).extension().string();
  if (ext.empty()) {
    rel = "index.html";  // one of the console's own pages (/sensors/3): the app routes it
    ext = ".html";
  }
  const char* type = type_of(ext);
  std::ifstream f(root + "/" + rel, std::ios::binary);
  if (type == nullptr || !f) {
    return text_reply(404, "nothing at " + path + "\n");
  }
  std::ostringstream ss;
  ss << f.rdbuf();
  http_reply r;
  r.content_type = type;
  r.body = ss.str();
  secure(r);
  return r;
}

std::string csrf_token_for(const std::string& session) { return sha256_hex("tapsense csrf\n" + session); }

http_reply console_api(store& s, const std::vector<std::string>& seg, const std::map<std::string, std::string>& q) {
  auto reply = [](const json::value& v) {
    http_reply r;
    r.body = json::serialize(v) + "\n";
    return r;
  };
  std::string what = seg.size() > 3 ? seg[3] : "";
  if (what == "summary" && seg.size() == 4) {
    return reply(summary(s));
  }
  if (what == "assets" && seg.size() == 4) {
    return reply(asset_table(s, q));
  }
  if (what == "asset-facets" && seg.size() == 4) {
    return reply(asset_facets(s));
  }
  if (what == "assets" && seg.size() == 6 && seg[5] == "traffic") {
    std::int64_t id = 0;
    auto [p, ec] = std::from_chars(seg[4].data(), seg[4].data() + seg[4].size(), id);
    if (ec != std::errc() || p != seg[4].data() + seg[4].size() || id <= 0) {
      throw store_error(404, "no asset '" + seg[4] + "'");
    }
    return reply(asset_traffic(s, id, q));
  }
  throw store_error(404, "no console view /api/v1/console/" + what);
}

}  // namespace tapsense::platform
