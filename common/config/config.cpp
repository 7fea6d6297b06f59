#include "common/config/config.h"

#include <toml++/toml.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <algorithm>
#include <cctype>
#include <set>
#include <sstream>

#include "common/net/cidr.h"
#include "common/util/time.h"

namespace tapsense::config {

config_error::config_error(std::string f, std::uint32_t l, std::uint32_t c, std::string m)
    : std::runtime_error(f + ":" + std::to_string(l) + ":" + std::to_string(c) + ": " + m),
      file(std::move(f)),
      line(l),
      column(c),
      message(std::move(m)) {}

bool applies_to(const internal_group& g, const std::string& sensor) {
  return g.sensors.empty() || std::find(g.sensors.begin(), g.sensors.end(), sensor) != g.sensors.end();
}

namespace {

// Walks one TOML table, reading known keys and rejecting unknown ones.
class section {
 public:
  section(const toml::table& t, std::string path, const std::string& file)
      : t_(t), path_(std::move(path)), file_(file) {}

  [[noreturn]] void fail(const toml::node& n, const std::string& msg) const {
    const auto& b = n.source().begin;
    throw config_error(file_, b.line, b.column, msg);
  }
  [[noreturn]] void fail_here(const std::string& msg) const { fail(t_, msg); }

  std::string key_name(const char* key) const { return path_.empty() ? key : path_ + "." + key; }

  const toml::node* node(const char* key) {
    known_.insert(key);
    return t_.get(key);
  }

  void get(const char* key, std::string& out) {
    if (const auto* n = node(key)) {
      if (!n->is_string()) fail(*n, key_name(key) + " must be a string");
      out = n->as_string()->get();
    }
  }
  void get(const char* key, bool& out) {
    if (const auto* n = node(key)) {
      if (!n->is_boolean()) fail(*n, key_name(key) + " must be true or false");
      out = n->as_boolean()->get();
    }
  }
  template <typename Int>
  void get_int(const char* key, Int& out, std::uint64_t min, std::uint64_t max) {
    if (const auto* n = node(key)) {
      if (!n->is_integer()) fail(*n, key_name(key) + " must be an integer");
      const auto v = n->as_integer()->get();
      if (v < 0 || static_cast<std::uint64_t>(v) < min || static_cast<std::uint64_t>(v) > max) {
        fail(*n, key_name(key) + " must be between " + std::to_string(min) + " and " +
                     std::to_string(max));
      }
      out = static_cast<Int>(v);
    }
  }
  void get(const char* key, unsigned& out, std::uint64_t min, std::uint64_t max) {
    get_int(key, out, min, max);
  }
  void get(const char* key, std::uint64_t& out, std::uint64_t min, std::uint64_t max) {
    get_int(key, out, min, max);
  }
  // Seconds, as an integer or a string with a unit: "90s", "5m", "1h", "1d".
  void get_duration(const char* key, std::uint64_t& out, std::uint64_t min_s) {
    if (const auto* n = node(key)) {
      std::optional<std::uint64_t> v;
      if (n->is_integer() && n->as_integer()->get() >= 0) {
        v = static_cast<std::uint64_t>(n->as_integer()->get());
      } else if (n->is_string()) {
        v = util::parse_duration_s(n->as_string()->get());
      }
      if (!v) fail(*n, key_name(key) + " must be a duration such as 300, \"90s\", \"5m\" or \"1h\"");
      if (*v < min_s) fail(*n, key_name(key) + " must be at least " + std::to_string(min_s) + "s");
      out = *v;
    }
  }
  void get(const char* key, std::vector<std::string>& out) {
    if (const auto* n = node(key)) {
      const auto* arr = n->as_array();
      if (arr == nullptr) fail(*n, key_name(key) + " must be an array of strings");
      out.clear();
      for (const auto& e : *arr) {
        if (!e.is_string()) fail(e, key_name(key) + " must contain only strings");
        out.push_back(e.as_string()->get());
      }
    }
  }
  const toml::table* table(const char* key) {
    if (const auto* n = node(key)) {
      if (!n->is_table()) fail(*n, key_name(key) + " must be a table ([" + key_name(key) + "])");
      return n->as_table();
    }
    return nullptr;
  }
  const toml::array* array_of_tables(const char* key) {
    if (const auto* n = node(key)) {
      const auto* arr = n->as_array();
      if (arr == nullptr || !arr->is_array_of_tables()) {
        fail(*n, key_name(key) + " must be an array of tables ([[" + key_name(key) + "]])");
      }
      return arr;
    }
    return nullptr;
  }
  // After all get() calls: anything left is a typo or an unsupported option.
  void done() const {
    for (const auto& [k, v] : t_) {
      if (known_.count(std::string(k.str())) == 0) {
        const auto& b = k.source().begin.line != 0 ? k.source().begin : v.source().begin;
        throw config_error(file_, b.line, b.column,
                           "unknown key '" + key_name(std::string(k.str()).c_str()) + "'");
      }
    }
  }
  const toml::table& tbl() const { return t_; }

 private:
  const toml::table& t_;
  std::string path_;
  const std::string& file_;
  std::set<std::string> known_;
};

// Validates a list of ranges element by element, pointing at the bad one.
void check_ranges(section& s, const toml::table& t, const char* key, const std::vector<std::string>& ranges,
                  const std::string& what, bool allow_default) {
  const auto* n = t.get(key);
  if (n == nullptr) return;
  const auto& arr = *n->as_array();
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    if (allow_default && ranges[i] == "default") continue;
    std::string why;
    if (!net::ip_range::parse(ranges[i], &why)) {
      s.fail(arr[i], what + ": bad range: " + why);
    }
  }
}

bool valid_domain(const std::string& d) {
  std::string_view v = d;
  if (v.size() > 2 && v.substr(0, 2) == "*.") v.remove_prefix(2);
  if (v.empty() || v.size() > 253) return false;
  std::size_t label = 0;
  for (char ch : v) {
    if (ch == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_')) return false;
    if (++label > 63) return false;
  }
  return label != 0;
}

bool valid_level(const std::string& s) {
  static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error", "critical", "off"};
  return levels.count(s) != 0;
}

// [uplink] proxy: "http://HOST:PORT" (TLS to the platform goes through it
// in a CONNECT tunnel), with credentials exactly when it authenticates.
void validate_proxy(section& s, const toml::table& t, const uplink_section& u) {
  auto at = [&](const char* key) -> const toml::node& {
    const auto* n = t.get(key);
    return n != nullptr ? *n : static_cast<const toml::node&>(t);
  };
  if (u.proxy_auth != "none" && u.proxy_auth != "basic" && u.proxy_auth != "ntlm") {
    s.fail(at("proxy_auth"), "uplink.proxy_auth must be one of none, basic, ntlm");
  }
  if (!u.proxy.empty()) {
    const std::string rest = u.proxy.starts_with("http://") ? u.proxy.substr(7) : std::string();
    const auto colon = rest.rfind(':');
    bool ok = !rest.empty() && colon != std::string::npos && colon > 0 && colon + 1 < rest.size() &&
              rest.find_first_of("/@?# ") == std::string::npos;
    if (ok) {
      const std::string port = rest.substr(colon + 1);
      ok = port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos && std::stoul(port) >= 1 &&
           std::stoul(port) <= 65535;
    }
    if (!ok) {
      s.fail(at("proxy"), "uplink.proxy must be \"http://HOST:PORT\" (an HTTP proxy that tunnels TLS; no "
                          "credentials in it, no SOCKS)");
    }
  } else if (u.proxy_auth != "none" || !u.proxy_user.empty() || !u.proxy_password.empty()) {
    s.fail(at(u.proxy_auth != "none" ? "proxy_auth" : !u.proxy_user.empty() ? "proxy_user" : "proxy_password"),
           "uplink.proxy_auth, proxy_user and proxy_password need uplink.proxy");
  }
  if (u.proxy_auth == "none" && (!u.proxy_user.empty() || !u.proxy_password.empty())) {
    s.fail(at(!u.proxy_user.empty() ? "proxy_user" : "proxy_password"),
           "uplink.proxy_user and proxy_password need proxy_auth = \"basic\" or \"ntlm\"");
  }
  if (u.proxy_auth != "none" && u.proxy_user.empty()) {
    s.fail(at("proxy_auth"), "uplink.proxy_auth = \"" + u.proxy_auth + "\" needs proxy_user (and proxy_password)");
  }
}

void validate(config& c, const std::string& file);

void read_config(const toml::table& root, const std::string& file, config& c) {
  section top(root, "", file);
  if (const auto* t = top.table("sensor")) {
    section s(*t, "sensor", file);
    s.get("name", c.sensor.name);
    s.get("instance", c.sensor.instance);
    s.get("state_dir", c.sensor.state_dir);
    s.get("run_dir", c.sensor.run_dir);
    s.get("output_dir", c.sensor.output_dir);
    s.get("log_level", c.sensor.log_level);
    s.get("cores", c.sensor.cores, 0, 4096);
    if (!valid_level(c.sensor.log_level)) {
      s.fail(*t->get("log_level"), "sensor.log_level must be one of trace, debug, info, warn, error, critical, off");
    }
    for (char ch : c.sensor.instance) {
      if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_')) {
        s.fail(*t->get("instance"), "sensor.instance may hold only letters, digits, '-' and '_'");
      }
    }
    if (c.sensor.instance.size() > 32) {
      s.fail(*t->get("instance"), "sensor.instance must be at most 32 characters");
    }
    if (c.sensor.run_dir.size() > 80) {
      s.fail(*t->get("run_dir"), "sensor.run_dir must be at most 80 characters (it holds a Unix socket path)");
    }
    s.done();
  }
  if (const auto* t = top.table("capture")) {
    section s(*t, "capture", file);
    s.get("pcap", c.capture.pcap);
    s.get("snaplen", c.capture.snaplen, 128, 16384);
    s.get("payload_packets", c.capture.payload_packets, 0, 64);
    s.get("packet_ring_mb", c.capture.packet_ring_mb, 1, 4096);
    s.get("snapshot_ring_mb", c.capture.snapshot_ring_mb, 1, 4096);
    s.get("mbufs", c.capture.mbufs, 1023, 1u << 22);
    s.get("lcores", c.capture.lcores, 0, 32);
    s.get("eal_args", c.capture.eal_args);
    s.get("offline_rate", c.capture.offline_rate, 0, 1ULL << 40);
    s.get("dedup", c.capture.dedup);
    s.get("dedup_window_us", c.capture.dedup_window_us, 1, 1000000);
    if (const auto* arr = s.array_of_tables("interface")) {
      for (const auto& e : *arr) {
        section is(*e.as_table(), "capture.interface", file);
        interface_section i;
        is.get("name", i.name);
        is.get("driver", i.driver);
        is.get("mode", i.mode);
        is.get("erspan_address", i.erspan_address);
        is.get("rx_queues", i.rx_queues, 1, 64);
        if (i.name.empty()) is.fail_here("capture.interface needs a name");
        if (i.driver.empty()) i.driver = "af_packet";
        if (i.driver == "pcap") {
          is.fail(*e.as_table()->get("driver"),
                  "capture.interface.driver pcap: list capture files under capture.pcap instead");
        }
        if (i.driver != "af_packet" && i.driver != "pci") {
          is.fail(*e.as_table()->get("driver"), "capture.interface.driver must be af_packet or pci");
        }
        if (i.mode != "default" && i.mode != "erspan") {
          is.fail(*e.as_table()->get("mode"), "capture.interface.mode must be default or erspan");
        }
        if (i.mode == "erspan") {
          if (i.erspan_address.empty() || !net::ip_address::parse(i.erspan_address)) {
            const auto* n = e.as_table()->get("erspan_address");
            is.fail(n ? *n : *e.as_table(),
                    "capture.interface.erspan_address must be the IP address assigned to the interface in erspan mode");
          }
        }
        is.done();
        c.capture.interfaces.push_back(std::move(i));
      }
    }
    s.done();
  }
  if (const auto* arr = top.array_of_tables("internal")) {
    c.internal.clear();
    for (const auto& e : *arr) {
      section s(*e.as_table(), "internal", file);
      internal_group g;
      g.line = e.source().begin.line;
      s.get("name", g.name);
      s.get("inventory", g.inventory);
      s.get("ranges", g.ranges);
      s.get("type", g.type);
      s.get("network", g.network);
      s.get("sensors", g.sensors);
      if (g.name.empty()) s.fail_here("each [[internal]] group needs a name");
      if (g.type != "dhcp" && g.type != "static") {
        s.fail(*e.as_table()->get("type"), "internal.type must be \"dhcp\" or \"static\"");
      }
      if (g.ranges.empty()) s.fail_here("internal group '" + g.name + "' needs ranges (\"default\" for the default ranges)");
      check_ranges(s, *e.as_table(), "ranges", g.ranges, "internal '" + g.name + "'", true);
      s.done();
      c.internal.push_back(std::move(g));
    }
  }
  if (const auto* arr = top.array_of_tables("excluded")) {
    for (const auto& e : *arr) {
      section s(*e.as_table(), "excluded", file);
      excluded_group g;
      g.line = e.source().begin.line;
      s.get("name", g.name);
      s.get("ranges", g.ranges);
      s.get("macs", g.macs);
      if (g.name.empty()) s.fail_here("each [[excluded]] group needs a name");
      if (g.ranges.empty() && g.macs.empty()) s.fail_here("excluded '" + g.name + "' needs ranges or macs");
      check_ranges(s, *e.as_table(), "ranges", g.ranges, "excluded '" + g.name + "'", false);
      if (const auto* mn = e.as_table()->get("macs")) {
        const auto& ma = *mn->as_array();
        for (std::size_t i = 0; i < ma.size(); ++i) {
          const auto m = net::mac_address::parse(g.macs[i]);
          if (!m) s.fail(ma[i], "excluded '" + g.name + "': '" + g.macs[i] + "' is not a MAC address (aa:bb:cc:dd:ee:ff)");
          g.macs[i] = m->to_string();
        }
      }
      s.done();
      c.excluded.push_back(std::move(g));
    }
  }
  if (const auto* arr = top.array_of_tables("monitored")) {
    for (const auto& e : *arr) {
      section s(*e.as_table(), "monitored", file);
      monitored_group g;
      g.line = e.source().begin.line;
      s.get("name", g.name);
      s.get("addresses", g.addresses);
      s.get("domains", g.domains);
      if (g.name.empty()) s.fail_here("each [[monitored]] site needs a name");
      if (g.addresses.empty() && g.domains.empty()) s.fail_here("monitored '" + g.name + "' needs addresses or domains");
      check_ranges(s, *e.as_table(), "addresses", g.addresses, "monitored '" + g.name + "'", false);
      if (const auto* dn = e.as_table()->get("domains")) {
        const auto& da = *dn->as_array();
        for (std::size_t i = 0; i < da.size(); ++i) {
          auto& d = g.domains[i];
          std::transform(d.begin(), d.end(), d.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
          if (!d.empty() && d.back() == '.') d.pop_back();
          if (!valid_domain(d)) s.fail(da[i], "monitored '" + g.name + "': '" + d + "' is not a domain name (\"www.example.com\" or \"*.example.com\")");
        }
      }
      s.done();
      c.monitored.push_back(std::move(g));
    }
  }
  if (const auto* arr = top.array_of_tables("network")) {
    for (const auto& e : *arr) {
      section s(*e.as_table(), "network", file);
      network_section n;
      n.line = e.source().begin.line;
      s.get("name", n.name);
      s.get("interfaces", n.interfaces);
      if (const auto* vn = s.node("vlans")) {
        const auto* va = vn->as_array();
        if (va == nullptr) s.fail(*vn, "network.vlans must be an array of VLAN ids");
        for (const auto& v : *va) {
          if (!v.is_integer() || v.as_integer()->get() < 0 || v.as_integer()->get() > 4095) {
            s.fail(v, "network.vlans must hold VLAN ids 0..4095");
          }
          n.vlans.push_back(static_cast<unsigned>(v.as_integer()->get()));
        }
      }
      if (n.name.empty()) s.fail_here("each [[network]] needs a name");
      for (const auto& o : c.networks) {
        if (o.name == n.name) s.fail_here("network '" + n.name + "' is defined twice (first at line " + std::to_string(o.line) + ")");
      }
      s.done();
      c.networks.push_back(std::move(n));
    }
  }
  if (const auto* t = top.table("aggregator")) {
    section s(*t, "aggregator", file);
    s.get("shards", c.aggregator.shards, 0, 256);
    s.get_int("flow_table", c.aggregator.flow_table, 1024, 1u << 28);
    s.get_int("report_table", c.aggregator.report_table, 1024, 1u << 28);
    s.get_int("asset_table", c.aggregator.asset_table, 256, 1u << 26);
    s.get_duration("flow_interval", c.aggregator.flow_interval_s, 1);
    s.get_duration("asset_interval", c.aggregator.asset_interval_s, 1);
    s.get_duration("asset_update_interval", c.aggregator.asset_update_interval_s, 1);
    s.get_duration("asset_idle_timeout", c.aggregator.asset_idle_s, 1);
    s.get_duration("tcp_idle_timeout", c.aggregator.tcp_idle_s, 1);
    s.get_duration("udp_idle_timeout", c.aggregator.udp_idle_s, 1);
    s.get_duration("other_idle_timeout", c.aggregator.other_idle_s, 1);
    s.get("report_ring_mb", c.aggregator.report_ring_mb, 1, 4096);
    s.get("report_spool_mb", c.aggregator.report_spool_mb, 1, 4095);
    s.get_int("name_table", c.aggregator.name_table, 256, 1u << 24);
    s.get("applications", c.aggregator.applications);
    s.done();
  }
  if (const auto* t = top.table("fingerprinter")) {
    section s(*t, "fingerprinter", file);
    s.get("workers", c.fingerprinter.workers, 0, 256);
    s.get("p0f_db", c.fingerprinter.p0f_db);
    s.get("ieee_dir", c.fingerprinter.ieee_dir);
    s.get("data_dir", c.fingerprinter.data_dir);
    s.get("stream_bytes", c.fingerprinter.stream_bytes, 512, 1u << 20);
    s.get("streams", c.fingerprinter.streams, 16, 1u << 22);
    s.get("report_ring_mb", c.fingerprinter.report_ring_mb, 1, 4096);
    s.get("report_spool_mb", c.fingerprinter.report_spool_mb, 1, 4095);
    s.done();
  }
  if (const auto* t = top.table("uplink")) {
    section s(*t, "uplink", file);
    s.get("database", c.uplink.database);
    s.get_duration("flow_retention", c.uplink.flow_retention_s, 60);
    s.get("ecs", c.uplink.ecs);
    s.get_duration("output_interval", c.uplink.output_interval_s, 1);
    s.get("proxy", c.uplink.proxy);
    s.get("proxy_auth", c.uplink.proxy_auth);
    s.get("proxy_user", c.uplink.proxy_user);
    s.get("proxy_password", c.uplink.proxy_password);
    s.get("spool_mb", c.uplink.spool_mb, 1, 1u << 20);
    validate_proxy(s, *t, c.uplink);
    s.done();
  }
  if (const auto* t = top.table("supervisor")) {
    section s(*t, "supervisor", file);
    s.get("heartbeat_ms", c.supervisor.heartbeat_ms, 50, 60000);
    s.get("hang_timeout_ms", c.supervisor.hang_timeout_ms, 500, 3600000);
    s.get("max_restarts", c.supervisor.max_restarts, 0, 1000);
    s.get("restart_window_s", c.supervisor.restart_window_s, 1, 86400);
    s.get("metrics_listen", c.supervisor.metrics_listen);
    s.get("drop_event_percent", c.supervisor.drop_event_percent, 0, 100);
    s.get("reporting_stall_s", c.supervisor.reporting_stall_s, 0, 86400 * 7);
    s.get("scaling", c.supervisor.scaling);
    if (c.supervisor.scaling != "auto" && c.supervisor.scaling != "on" && c.supervisor.scaling != "off") {
      s.fail(*s.node("scaling"), "supervisor.scaling must be \"auto\", \"on\" or \"off\"");
    }
    // A stage is killed as hung after hang_timeout_ms without a heartbeat: with
    // heartbeats rarer than half of that, healthy stages would be killed in a loop.
    if (std::uint64_t{c.supervisor.heartbeat_ms} * 2 > c.supervisor.hang_timeout_ms) {
      const toml::node* n = s.node("heartbeat_ms");
      if (n == nullptr) n = s.node("hang_timeout_ms");
      if (n != nullptr) {
        s.fail(*n, "supervisor.heartbeat_ms (" + std::to_string(c.supervisor.heartbeat_ms) +
                       ") must be at most half of supervisor.hang_timeout_ms (" +
                       std::to_string(c.supervisor.hang_timeout_ms) + "), or every stage is killed as hung");
      }
    }
    s.done();
  }
  top.done();
  validate(c, file);
}

// Cross-section checks; problems that make the configuration wrong throw,
// the rest become warnings the supervisor prints at start.
void validate(config& c, const std::string& file) {
  for (const auto& g : c.internal) {
    if (!g.network.empty() &&
        std::none_of(c.networks.begin(), c.networks.end(), [&](const network_section& n) { return n.name == g.network; })) {
      throw config_error(file, g.line, 1, "internal '" + g.name + "' names network '" + g.network +
                                              "', which no [[network]] defines");
    }
  }
  for (const auto& n : c.networks) {
    for (const auto& i : n.interfaces) {
      if (!c.capture.interfaces.empty() &&
          std::none_of(c.capture.interfaces.begin(), c.capture.interfaces.end(),
                       [&](const interface_section& x) { return x.name == i; })) {
        c.warnings.push_back("network '" + n.name + "' lists interface '" + i + "', which is not a sniffing interface");
      }
    }
  }
  // Overlapping inventoried ranges of one sensor: the first group wins.
  struct piece {
    const internal_group* g;
    net::ip_range r;
    std::string text;
  };
  std::vector<piece> pieces;
  std::vector<piece> tracked_only;  // ranges of inventory = false groups
  for (const auto& g : c.internal) {
    if (!applies_to(g, c.sensor.name)) continue;
    auto& to = g.inventory ? pieces : tracked_only;
    for (const auto& r : g.ranges) {
      if (r == "default") {
        for (const char* d : default_internal_ranges) to.push_back({&g, *net::ip_range::parse(d), d});
      } else {
        to.push_back({&g, *net::ip_range::parse(r), r});
      }
    }
  }
  // A non-inventoried range covered by inventoried ones: inventoried ranks
  // above non-inventoried wherever both cover an address (classifier.h), so
  // it has no effect at all. Say so instead of ignoring it. (A non-inventoried
  // range around a few inventoried addresses is a normal configuration.)
  auto next = [](net::ip_address a, bool& wrapped) {
    for (int i = 15; i >= 0; --i) {
      if (++a.b[static_cast<std::size_t>(i)] != 0) return a;
    }
    wrapped = true;
    return a;
  };
  for (const auto& n : tracked_only) {
    std::vector<const piece*> cover;
    for (const auto& inv : pieces) {
      if (inv.g->network == n.g->network && inv.r.overlaps(n.r)) cover.push_back(&inv);
    }
    std::sort(cover.begin(), cover.end(), [](const piece* x, const piece* y) { return x->r.first < y->r.first; });
    net::ip_address cur = n.r.first;
    bool covered = false;
    std::string by;
    for (const piece* inv : cover) {
      if (cur < inv->r.first) break;  // a gap
      if (cur <= inv->r.last) {
        by += (by.empty() ? "" : ", ") + inv->text + " of '" + inv->g->name + "' (line " +
              std::to_string(inv->g->line) + ")";
      }
      if (!(inv->r.last < n.r.last)) {
        covered = true;
        break;
      }
      if (cur <= inv->r.last) {
        bool wrapped = false;
        cur = next(inv->r.last, wrapped);
        if (wrapped) break;
      }
    }
    if (covered) {
      c.warnings.push_back(file + ":" + std::to_string(n.g->line) + ": non-inventoried range " + n.text +
                           " of internal '" + n.g->name + "' lies inside inventoried " + by +
                           "; inventoried ranks first, so it has no effect");
    }
  }
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    for (std::size_t j = i + 1; j < pieces.size(); ++j) {
      const auto& a = pieces[i];
      const auto& b = pieces[j];
      if (a.g == b.g || a.g->network != b.g->network || !a.r.overlaps(b.r)) continue;
      c.warnings.push_back(file + ":" + std::to_string(b.g->line) + ": inventoried ranges of internal '" +
                           a.g->name + "' (" + a.text + ", line " + std::to_string(a.g->line) + ") and '" +
                           b.g->name + "' (" + b.text + ") overlap; '" + a.g->name +
                           "' wins there (the first group listed)");
    }
  }
}

}  // namespace

config defaults() {
  config c;
  internal_group g;
  g.name = "Default IP Ranges";
  g.ranges.emplace_back("default");
  c.internal.push_back(std::move(g));
  return c;
}

config parse(const std::string& text, const std::string& name) {
  toml::table root;
  try {
    root = toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    throw config_error(name, b.line, b.column, std::string(e.description()));
  }
  config c = defaults();
  c.source = name;
  read_config(root, name, c);
  return c;
}

config load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw config_error(path, 0, 0, std::string("cannot read configuration file: ") + std::strerror(errno));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), path);
}

std::string to_toml(const config& c) {
  auto strings = [](const std::vector<std::string>& v) {
    toml::array a;
    for (const auto& s : v) a.push_back(s);
    return a;
  };
  auto i64 = [](std::uint64_t v) { return static_cast<std::int64_t>(v); };
  toml::table root;
  root.insert("sensor", toml::table{{"name", c.sensor.name},
                                     {"instance", c.sensor.instance},
                                     {"state_dir", c.sensor.state_dir},
                                     {"run_dir", c.sensor.run_dir},
                                     {"output_dir", c.sensor.output_dir},
                                     {"log_level", c.sensor.log_level},
                                     {"cores", i64(c.sensor.cores)}});
  toml::table cap{{"pcap", strings(c.capture.pcap)},
                  {"snaplen", i64(c.capture.snaplen)},
                  {"payload_packets", i64(c.capture.payload_packets)},
                  {"packet_ring_mb", i64(c.capture.packet_ring_mb)},
                  {"snapshot_ring_mb", i64(c.capture.snapshot_ring_mb)},
                  {"mbufs", i64(c.capture.mbufs)},
                  {"lcores", i64(c.capture.lcores)},
                  {"eal_args", strings(c.capture.eal_args)},
                  {"offline_rate", i64(c.capture.offline_rate)},
                  {"dedup", c.capture.dedup},
                  {"dedup_window_us", i64(c.capture.dedup_window_us)}};
  if (!c.capture.interfaces.empty()) {
    toml::array ifs;
    for (const auto& i : c.capture.interfaces) {
      toml::table t{{"name", i.name}, {"driver", i.driver}, {"mode", i.mode},
                    {"rx_queues", i64(i.rx_queues)}};
      if (!i.erspan_address.empty()) t.insert("erspan_address", i.erspan_address);
      ifs.push_back(std::move(t));
    }
    cap.insert("interface", std::move(ifs));
  }
  root.insert("capture", std::move(cap));
  toml::array groups;
  for (const auto& g : c.internal) {
    groups.push_back(toml::table{{"name", g.name},
                                 {"inventory", g.inventory},
                                 {"ranges", strings(g.ranges)},
                                 {"type", g.type},
                                 {"network", g.network},
                                 {"sensors", strings(g.sensors)}});
  }
  root.insert("internal", std::move(groups));
  if (!c.excluded.empty()) {
    toml::array ex;
    for (const auto& g : c.excluded) {
      ex.push_back(toml::table{{"name", g.name}, {"ranges", strings(g.ranges)}, {"macs", strings(g.macs)}});
    }
    root.insert("excluded", std::move(ex));
  }
  if (!c.monitored.empty()) {
    toml::array mo;
    for (const auto& g : c.monitored) {
      mo.push_back(toml::table{{"name", g.name}, {"addresses", strings(g.addresses)}, {"domains", strings(g.domains)}});
    }
    root.insert("monitored", std::move(mo));
  }
  if (!c.networks.empty()) {
    toml::array nets;
    for (const auto& n : c.networks) {
      toml::array vl;
      for (auto v : n.vlans) vl.push_back(static_cast<std::int64_t>(v));
      nets.push_back(toml::table{{"name", n.name}, {"interfaces", strings(n.interfaces)}, {"vlans", std::move(vl)}});
    }
    root.insert("network", std::move(nets));
  }
  const auto& a = c.aggregator;
  root.insert("aggregator", toml::table{{"shards", i64(a.shards)},
                                         {"flow_table", i64(a.flow_table)},
                                         {"report_table", i64(a.report_table)},
                                         {"asset_table", i64(a.asset_table)},
                                         {"flow_interval", i64(a.flow_interval_s)},
                                         {"asset_interval", i64(a.asset_interval_s)},
                                         {"asset_update_interval", i64(a.asset_update_interval_s)},
                                         {"asset_idle_timeout", i64(a.asset_idle_s)},
                                         {"tcp_idle_timeout", i64(a.tcp_idle_s)},
                                         {"udp_idle_timeout", i64(a.udp_idle_s)},
                                         {"other_idle_timeout", i64(a.other_idle_s)},
                                         {"report_ring_mb", i64(a.report_ring_mb)},
                                         {"report_spool_mb", i64(a.report_spool_mb)},
                                         {"name_table", i64(a.name_table)},
                                         {"applications", a.applications}});
  const auto& f = c.fingerprinter;
  root.insert("fingerprinter", toml::table{{"workers", i64(f.workers)},
                                            {"p0f_db", f.p0f_db},
                                            {"ieee_dir", f.ieee_dir},
                                            {"data_dir", f.data_dir},
                                            {"stream_bytes", i64(f.stream_bytes)},
                                            {"streams", i64(f.streams)},
                                            {"report_ring_mb", i64(f.report_ring_mb)},
                                            {"report_spool_mb", i64(f.report_spool_mb)}});
  root.insert("uplink", toml::table{{"database", c.uplink.database},
                                     {"flow_retention", i64(c.uplink.flow_retention_s)},
                                     {"ecs", c.uplink.ecs},
                                     {"output_interval", i64(c.uplink.output_interval_s)},
                                     {"proxy", c.uplink.proxy},
                                     {"proxy_auth", c.uplink.proxy_auth},
                                     {"proxy_user", c.uplink.proxy_user},
                                     {"proxy_password", c.uplink.proxy_password},
                                     {"spool_mb", i64(c.uplink.spool_mb)}});
  const auto& s = c.supervisor;
  root.insert("supervisor", toml::table{{"heartbeat_ms", i64(s.heartbeat_ms)},
                                         {"hang_timeout_ms", i64(s.hang_timeout_ms)},
                                         {"max_restarts", i64(s.max_restarts)},
                                         {"restart_window_s", i64(s.restart_window_s)},
                                         {"metrics_listen", s.metrics_listen},
                                         {"drop_event_percent", i64(s.drop_event_percent)},
                                         {"reporting_stall_s", i64(s.reporting_stall_s)},
                                         {"scaling", s.scaling}});
  std::ostringstream out;
  out << "# Effective configuration written by tapsense-supervisor. Do not edit.\n"
      << toml::toml_formatter(root) << '\n';
  return out.str();
}

}  // namespace tapsense::config
