#include "platform/router.h"

#include <charconv>
#include <map>

#include "platform/console.h"
#include "platform/sensor_api.h"

namespace tapsense::platform {

namespace json = boost::json;

namespace {

constexpr const char* cookie_name = "tapsense_session";

http_reply problem(unsigned status, const std::string& detail) {
  static const std::map<unsigned, const char*> titles = {
      {400, "Bad Request"}, {401, "Unauthorized"}, {403, "Forbidden"}, {404, "Not Found"},
      {405, "Method Not Allowed"}, {409, "Conflict"}, {410, "Gone"}, {412, "Precondition Failed"},
      {413, "Content Too Large"}, {500, "Internal Server Error"}, {503, "Service Unavailable"}};
  json::object o;
  o["type"] = "about:blank";
  auto t = titles.find(status);
  o["title"] = t != titles.end() ? t->second : "Error";
  o["status"] = status;
  o["detail"] = detail;
  json::array errors;
  std::size_t start = 0;
  while (start <= detail.size()) {
    auto nl = detail.find('\n', start);
    errors.emplace_back(detail.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
    if (nl == std::string::npos) {
      break;
    }
    start = nl + 1;
  }
  o["errors"] = errors;
  http_reply r;
  r.status = status;
  r.content_type = "application/problem+json";
  r.body = json::serialize(o) + "\n";
  if (status == 401) {
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
  }
  return r;
}

http_reply ok(const json::value& v, unsigned status = 200) {
  http_reply r;
  r.status = status;
  r.body = json::serialize(v) + "\n";
  return r;
}

std::string pct_decode(std::string_view s) {
  std::string o;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      o += ' ';
    } else if (s[i] == '%' && i + 2 < s.size()) {
      int v = 0;
      auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
      if (ec == std::errc() && p == s.data() + i + 3) {
        o += static_cast<char>(v);
        i += 2;
      } else {
        o += '%';
      }
    } else {
      o += s[i];
    }
  }
  return o;
}

std::map<std::string, std::string> query_of(std::string_view q) {
  std::map<std::string, std::string> m;
  while (!q.empty()) {
    auto amp = q.find('&');
    auto part = q.substr(0, amp);
    auto eq = part.find('=');
    m[pct_decode(part.substr(0, eq))] = eq == std::string_view::npos ? "" : pct_decode(part.substr(eq + 1));
    if (amp == std::string_view::npos) {
      break;
    }
    q.remove_prefix(amp + 1);
  }
  return m;
}

std::vector<std::string> split_path(std::string_view p) {
  std::vector<std::string> out;
  while (!p.empty()) {
    if (p.front() == '/') {
      p.remove_prefix(1);
      continue;
    }
    auto sl = p.find('/');
    out.emplace_back(p.substr(0, sl));
    if (sl == std::string_view::npos) {
      break;
    }
    p.remove_prefix(sl);
  }
  return out;
}

std::int64_t id_of(const std::string& s, const char* what) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v <= 0) {
    throw store_error(404, std::string("no ") + what + " '" + s + "'");
  }
  return v;
}


json::value parse_body(const std::string& body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) {
    throw store_error(400, "request body is not JSON: " + ec.message());
  }
  return v;
}

std::string str_field(const json::value& v, const char* f, bool required) {
  if (!v.is_object()) {
    throw store_error(400, "request body must be a JSON object");
  }
  auto p = v.as_object().if_contains(f);
  if (p == nullptr || p->is_null()) {
    if (required) {
      throw store_error(400, std::string(f) + ": required");
    }
    return "";
  }
  if (!p->is_string()) {
    throw store_error(400, std::string(f) + ": must be a string");
  }
  return std::string(p->as_string().c_str());
}

std::string cookie_value(const std::string& header) {
  std::string_view h = header;
  while (!h.empty()) {
    auto semi = h.find(';');
    auto part = h.substr(0, semi);
    while (!part.empty() && part.front() == ' ') {
      part.remove_prefix(1);
    }
    std::string prefix = std::string(cookie_name) + "=";
    if (part.substr(0, prefix.size()) == prefix) {
      return std::string(part.substr(prefix.size()));
    }
    if (semi == std::string_view::npos) {
      break;
    }
    h.remove_prefix(semi + 1);
  }
  return "";
}

std::int64_t if_match_of(const std::string& h) {
  if (h.empty()) {
    return -1;
  }
  std::string s = h;
  if (s.rfind("W/", 0) == 0) {
    s = s.substr(2);
  }
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') {
    s = s.substr(1, s.size() - 2);
  }
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    throw store_error(412, "If-Match: expected a revision this API gave as ETag, got " + h);
  }
  return v;
}

http_reply api(store& s, const http_request& r, const std::vector<std::string>& seg,
               const std::map<std::string, std::string>& q) {
  const std::string& m = r.method;
  // seg[0] == "api", seg[1] == "v1"
  std::string top = seg.size() > 2 ? seg[2] : "";
  if (top == "login" && seg.size() == 3) {
    if (m != "POST") {
      return problem(405, "use POST");
    }
    auto body = parse_body(r.body);
    auto u = s.login(str_field(body, "name", true), str_field(body, "password", true));
    if (!u) {
      return problem(401, "wrong user name or password");
    }
    std::string sess = s.new_session(u->id);
    json::object o;
    o["name"] = u->name;
    o["role"] = u->role;
    o["csrf_token"] = csrf_token_for(sess);
    auto rep = ok(o);
    rep.headers.emplace_back("Set-Cookie", std::string(cookie_name) + "=" + sess +
                                               "; Path=/; HttpOnly; Secure; SameSite=Strict");
    return rep;
  }
  // Everything else needs a session or a token.
  std::optional<user> u;
  std::string session = cookie_value(r.cookie);
  if (r.authorization.rfind("Bearer ", 0) == 0) {
    u = s.token_user(r.authorization.substr(7));
  } else if (!session.empty()) {
    u = s.session_user(session);
  }
  if (!u) {
    return problem(401, "log in (POST /api/v1/login) or send Authorization: Bearer TOKEN");
  }
  bool change = m != "GET" && m != "HEAD";
  // A browser sends the cookie with any site's request; only a page of
  // this origin can read the token (login and /me give it) and send it.
  if (change && r.authorization.rfind("Bearer ", 0) != 0 && r.csrf_token != csrf_token_for(session)) {
    return problem(403, "a change with a session cookie needs the X-CSRF-Token header (login and /api/v1/me give it)");
  }
  if (top == "logout" && seg.size() == 3) {
    if (m != "POST") {
      return problem(405, "use POST");
    }
    if (!session.empty()) {
      s.end_session(session);
    }
    http_reply rep;
    rep.status = 204;
    rep.headers.emplace_back("Set-Cookie", std::string(cookie_name) +
                                               "=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict");
    return rep;
  }
  if (change && u->role != "admin") {
    return problem(403, "user '" + u->name + "' is a viewer: changes need an admin");
  }
  auto method_not = [&]() { return problem(405, m + " is not supported on " + r.target); };

  if (top == "openapi.json" && seg.size() == 3) {
    if (m != "GET") {
      return method_not();
    }
    http_reply rep;
    rep.body = openapi_json();
    return rep;
  }
  if (top == "me" && seg.size() == 3) {
    json::object o;
    o["name"] = u->name;
    o["role"] = u->role;
    if (!session.empty() && r.authorization.rfind("Bearer ", 0) != 0) {
      o["csrf_token"] = csrf_token_for(session);
    }
    return ok(o);
  }
  if (top == "sensors") {
    if (seg.size() == 3) {
      if (m == "GET") {
        json::object o;
        o["items"] = s.list_sensors();
        o["next_cursor"] = nullptr;
        json::object w;
        w["not_connected_after_seconds"] = s.not_connected_after_ns() / 1'000'000'000LL;
        w["poll_seconds"] = s.poll_seconds();
        o["window"] = w;
        return ok(o);
      }
      if (m == "POST") {
        auto body = parse_body(r.body);
        return ok(s.create_sensor(str_field(body, "name", true), str_field(body, "location", false)), 201);
      }
      return method_not();
    }
    std::int64_t id = id_of(seg[3], "sensor");
    if (seg.size() == 4) {
      if (m == "GET") {
        return ok(s.get_sensor(id));
      }
      if (m == "DELETE") {
        s.delete_sensor(id);
        http_reply rep;
        rep.status = 204;
        return rep;
      }
      return method_not();
    }
    std::string sub = seg[4];
    if (seg.size() == 5 && sub == "commands") {
      if (m == "GET") {
        json::object o;
        o["items"] = s.list_commands(id);
        o["next_cursor"] = nullptr;
        return ok(o);
      }
      if (m == "POST") {
        auto body = parse_body(r.body);
        return ok(s.add_command(id, str_field(body, "command", true)), 201);
      }
      return method_not();
    }
    if (seg.size() == 5 && sub == "code") {
      if (m == "POST") {
        return ok(s.new_code(id), 201);
      }
      return method_not();
    }
    if (seg.size() == 5 && sub == "interfaces") {
      if (m == "GET") {
        return ok(s.get_interfaces(id));
      }
      if (m == "PUT") {
        s.put_interfaces(id, parse_body(r.body));
        return ok(s.get_interfaces(id));
      }
      return method_not();
    }
    if (seg.size() == 5 && sub == "config") {
      if (m != "GET") {
        return method_not();
      }
      s.get_sensor(id);  // 404 when absent
      transaction tx(s.database());
      auto [rev, hash, toml] = s.sensor_revision(id);
      tx.commit();
      json::object o;
      o["revision"] = rev;
      o["hash"] = hash;
      o["toml"] = toml;
      return ok(o);
    }
    if (seg.size() == 5 && sub == "events") {
      if (m != "GET") {
        return method_not();
      }
      s.get_sensor(id);
      return ok(s.list_events(id, int_param(q, "cursor", 0, 0, INT64_MAX), int_param(q, "limit", 100, 1, 1000)));
    }
    return problem(404, "no such resource " + r.target);
  }
  if (top == "config" && seg.size() == 4) {
    const std::string& kind = seg[3];
    if (!store::config_kind(kind)) {
      return problem(404, "no configuration '" + kind + "' (internal, ip-range-tags, excluded, monitored, networks, "
                          "general)");
    }
    if (m == "GET") {
      auto [doc, rev] = s.get_config(kind);
      auto rep = ok(doc);
      rep.headers.emplace_back("ETag", "\"" + std::to_string(rev) + "\"");
      return rep;
    }
    if (m == "PUT") {
      std::int64_t rev = s.put_config(kind, parse_body(r.body), if_match_of(r.if_match));
      auto [doc, cur] = s.get_config(kind);
      auto rep = ok(doc);
      rep.headers.emplace_back("ETag", "\"" + std::to_string(rev) + "\"");
      return rep;
    }
    return method_not();
  }
  if (top == "assets") {
    if (m != "GET") {
      return method_not();
    }
    if (seg.size() == 3) {
      std::optional<std::string> network;
      if (auto it = q.find("network"); it != q.end()) {
        network = it->second;
      }
      std::string text = q.count("q") ? q.at("q") : "";
      return ok(s.list_assets(int_param(q, "sensor", 0, 0, INT64_MAX), network, text,
                              int_param(q, "cursor", 0, 0, INT64_MAX), int_param(q, "limit", 500, 1, 5000)));
    }
    if (seg.size() == 4) {
      return ok(s.get_asset(id_of(seg[3], "asset")));
    }
  }
  if (top == "subscriptions" && seg.size() == 3) {
    // Licensing is an administrator's business: viewers neither read nor set it.
    if (u->role != "admin") {
      return problem(403, "user '" + u->name + "' is a viewer: subscriptions need an admin");
    }
    if (m == "GET") {
      return ok(s.get_subscriptions());
    }
    if (m == "PUT") {
      s.put_subscriptions(parse_body(r.body));
      s.enforce_subscriptions();
      return ok(s.get_subscriptions());
    }
    return method_not();
  }
  if (top == "export" && seg.size() == 5) {
    if (m != "GET") {
      return method_not();
    }
    std::string what = seg[3] + "/" + seg[4];
    if (what != "ocsf/inventory" && what != "ecs/flows") {
      return problem(404, "no export '" + what + "' (ocsf/inventory, ecs/flows)");
    }
    auto cursor = int_param(q, "cursor", 0, 0, INT64_MAX);
    auto limit = int_param(q, "limit", 1000, 1, 10000);
    auto [lines, next] = what == "ocsf/inventory" ? s.export_ocsf_inventory(cursor, limit)
                                                   : s.export_ecs_flows(cursor, limit);
    http_reply rep;
    rep.content_type = "application/x-ndjson";
    rep.body = std::move(lines);
    if (!next.empty()) {
      rep.headers.emplace_back("X-Next-Cursor", next);
      rep.headers.emplace_back("Link", "</api/v1/export/" + what + "?cursor=" + next + "&limit=" +
                                           std::to_string(limit) + ">; rel=\"next\"");
    }
    return rep;
  }
  if (top == "console") {
    if (m != "GET") {
      return method_not();
    }
    return console_api(s, seg, q);
  }
  if (top == "events" && seg.size() == 3) {
    if (m != "GET") {
      return method_not();
    }
    return ok(s.list_events(int_param(q, "sensor", 0, 0, INT64_MAX), int_param(q, "cursor", 0, 0, INT64_MAX),
                            int_param(q, "limit", 100, 1, 1000)));
  }
  return problem(404, "no such resource " + r.target);
}

}  // namespace

http_reply route(store& s, const http_request& r) {
  std::string_view target = r.target;
  auto qm = target.find('?');
  std::string_view path = target.substr(0, qm);
  if (path.rfind("/sensor/v1/", 0) == 0) {
    if (r.method != "POST") {
      http_reply rep;
      rep.status = 405;
      rep.content_type = "text/plain";
      rep.body = "use POST\n";
      return rep;
    }
    auto sr = handle_sensor(s, path, r.authorization, r.body);
    http_reply rep;
    rep.status = sr.status;
    rep.content_type = sr.content_type;
    rep.body = std::move(sr.body);
    if (rep.status == 503) {
      rep.headers.emplace_back("Retry-After", "5");
    }
    return rep;
  }
  auto seg = split_path(path);
  if ((r.method == "GET" || r.method == "HEAD") && (seg.empty() || seg[0] != "api")) {
    return serve_console(std::string(path));
  }
  if (seg.size() < 2 || seg[0] != "api" || seg[1] != "v1") {
    return problem(404, "nothing at " + std::string(path) + " (the API is under /api/v1)");
  }
  try {
    return api(s, r, seg, query_of(qm == std::string_view::npos ? std::string_view() : target.substr(qm + 1)));
  } catch (const store_error& e) {
    return problem(e.status, e.what());
  } catch (const db_error& e) {
    auto rep = problem(503, std::string("database: ") + e.what());
    rep.headers.emplace_back("Retry-After", "5");
    return rep;
  } catch (const std::exception& e) {
    return problem(500, e.what());
  }
}

std::int64_t int_param(const std::map<std::string, std::string>& q, const char* name, std::int64_t dflt,
                       std::int64_t lo, std::int64_t hi) {
  auto it = q.find(name);
  if (it == q.end() || it->second.empty()) {
    return dflt;
  }
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
  if (ec != std::errc() || p != it->second.data() + it->second.size() || v < lo || v > hi) {
    throw store_error(400, std::string(name) + ": expected an integer " + std::to_string(lo) + "-" +
                               std::to_string(hi) + ", got '" + it->second + "'");
  }
  return v;
}

}  // namespace tapsense::platform
