#include "supervisor/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "common/util/time.h"

namespace tapsense::supervisor {

namespace {

std::uint64_t meminfo(const char* key) {
  std::ifstream f("/proc/meminfo");
  std::string k;
  std::uint64_t v = 0;
  std::string unit;
  while (f >> k >> v) {
    std::getline(f, unit);
    if (k == key) return v * 1024;
  }
  return 0;
}

// utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/PID/stat).
std::uint64_t proc_ticks(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return 0;
  const auto close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream in(line.substr(close + 2));
  std::string field;
  std::uint64_t ut = 0, st = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) ut = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) st = std::strtoull(field.c_str(), nullptr, 10);
  }
  return ut + st;
}

std::uint64_t link_bps(const std::string& ifname) {
  std::ifstream f("/sys/class/net/" + ifname + "/speed");
  long mbps = 0;
  if (f >> mbps && mbps > 0) return static_cast<std::uint64_t>(mbps) * 1'000'000ULL;
  return 0;
}

}  // namespace

health_sampler::health_sampler(std::string state_dir, std::vector<std::string> interfaces, unsigned cores)
    : state_dir_(std::move(state_dir)), interfaces_(std::move(interfaces)), cores_(cores ? cores : 1),
      started_ns_(util::mono_ns()) {}

void health_sampler::sample(health_sample& h) {
  const auto now = util::mono_ns();
  std::uint64_t ticks = proc_ticks(::getpid());
  for (const auto& s : h.stages) {
    if (s.running && s.pid > 0) ticks += proc_ticks(s.pid);
  }
  if (last_ns_ != 0 && now > last_ns_) {
    const double secs = static_cast<double>(now - last_ns_) / 1e9;
    const double hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
    const double used = static_cast<double>(ticks >= last_ticks_ ? ticks - last_ticks_ : 0) / hz;
    h.cpu_ratio = used / (secs * cores_);
    const auto bytes = h.wire_bytes >= last_bytes_ ? h.wire_bytes - last_bytes_ : h.wire_bytes;
    h.network_bits_per_second = static_cast<std::uint64_t>(static_cast<double>(bytes) * 8.0 / secs);
  }
  last_ns_ = now;
  last_ticks_ = ticks;
  last_bytes_ = h.wire_bytes;
  h.ram_total_bytes = meminfo("MemTotal:");
  const auto avail = meminfo("MemAvailable:");
  h.ram_used_bytes = h.ram_total_bytes > avail ? h.ram_total_bytes - avail : 0;
  if (struct statvfs sv{}; ::statvfs(state_dir_.c_str(), &sv) == 0) {
    h.disk_total_bytes = std::uint64_t{sv.f_blocks} * sv.f_frsize;
    const std::uint64_t a = std::uint64_t{sv.f_bavail} * sv.f_frsize;
    h.disk_used_bytes = h.disk_total_bytes > a ? h.disk_total_bytes - a : 0;
  }
  h.link_capacity_bits_per_second = 0;
  for (const auto& i : interfaces_) h.link_capacity_bits_per_second += link_bps(i);
  h.uptime_seconds = (now - started_ns_) / 1'000'000'000ULL;
}

struct metrics_server::impl {
  std::shared_ptr<prometheus::Registry> reg = std::make_shared<prometheus::Registry>();
  std::unique_ptr<prometheus::Exposer> exposer;
  prometheus::Family<prometheus::Gauge>* gauges = nullptr;
  std::map<std::string, prometheus::Family<prometheus::Gauge>*> gauge_families;
  std::map<std::string, prometheus::Family<prometheus::Counter>*> counter_families;
  std::map<prometheus::Counter*, std::uint64_t> last;  // counters mirror totals counted elsewhere

  prometheus::Gauge& gauge(const std::string& name, const std::string& help, const prometheus::Labels& l = {}) {
    auto& f = gauge_families[name];
    if (f == nullptr) f = &prometheus::BuildGauge().Name(name).Help(help).Register(*reg);
    return f->Add(l);
  }
  // Sets a counter to a total kept by a stage. A stage that restarted starts
  // again from 0: what it counts since then is added, so the counter never falls.
  void counter(const std::string& name, const std::string& help, const prometheus::Labels& l, std::uint64_t v) {
    auto& f = counter_families[name];
    if (f == nullptr) f = &prometheus::BuildCounter().Name(name).Help(help).Register(*reg);
    auto& c = f->Add(l);
    auto& prev = last[&c];
    c.Increment(static_cast<double>(v >= prev ? v - prev : v));
    prev = v;
  }
};

metrics_server::metrics_server(const std::string& listen) : p_(std::make_unique<impl>()) {
  try {
    p_->exposer = std::make_unique<prometheus::Exposer>(listen, 2);
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot serve metrics on " + listen + ": " + e.what());
  }
  p_->exposer->RegisterCollectable(p_->reg);
}

metrics_server::~metrics_server() = default;

int metrics_server::port() const {
  const auto ports = p_->exposer->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

void metrics_server::update(const health_sample& h) {
  auto& p = *p_;
  p.gauge("tapsense_cpu_usage_ratio", "CPU time used by the supervisor and its stages, of the cores given to the sensor")
      .Set(h.cpu_ratio);
  p.gauge("tapsense_memory_used_bytes", "RAM in use on this machine (MemTotal - MemAvailable)")
      .Set(static_cast<double>(h.ram_used_bytes));
  p.gauge("tapsense_memory_total_bytes", "RAM of this machine").Set(static_cast<double>(h.ram_total_bytes));
  p.gauge("tapsense_disk_used_bytes", "Bytes used on the state directory's file system")
      .Set(static_cast<double>(h.disk_used_bytes));
  p.gauge("tapsense_disk_total_bytes", "Size of the state directory's file system")
      .Set(static_cast<double>(h.disk_total_bytes));
  p.gauge("tapsense_network_receive_bits_per_second", "Sniffed traffic over the last second (wire bits)")
      .Set(static_cast<double>(h.network_bits_per_second));
  p.gauge("tapsense_link_capacity_bits_per_second", "Sum of the sniffing interfaces' link speeds (0: unknown)")
      .Set(static_cast<double>(h.link_capacity_bits_per_second));
  p.gauge("tapsense_link_utilisation_ratio", "Sniffed traffic over link capacity (0 when the capacity is unknown)")
      .Set(h.link_capacity_bits_per_second
               ? static_cast<double>(h.network_bits_per_second) / static_cast<double>(h.link_capacity_bits_per_second)
               : 0.0);
  p.gauge("tapsense_active_assets", "Assets seen in the last hour").Set(static_cast<double>(h.active_assets_1h));
  p.gauge("tapsense_estimated_max_throughput_bits_per_second",
          "What this sensor was measured to take at start (the platform's estimated maximum throughput)")
      .Set(static_cast<double>(h.estimated_max_bits_per_second));
  p.gauge("tapsense_uptime_seconds", "Seconds since the supervisor started").Set(static_cast<double>(h.uptime_seconds));
  p.counter("tapsense_captured_packets_total", "Packets capture received", {}, h.packets);
  p.counter("tapsense_captured_bytes_total", "Wire bytes capture received", {}, h.wire_bytes);
  for (const auto& [ring, fill] : h.ring_fill) {
    p.gauge("tapsense_ring_fill_ratio", "Fill level of a shared-memory ring (used bytes over capacity)",
            {{"ring", ring}})
        .Set(fill);
  }
  for (const auto& s : h.stages) {
    p.gauge("tapsense_stage_up", "1 while the stage process runs", {{"stage", s.identity}}).Set(s.running ? 1 : 0);
    p.counter("tapsense_stage_restarts_total", "Times the supervisor restarted the stage", {{"stage", s.identity}},
              s.restarts);
    for (const auto& [name, value] : s.counters) {
      if (name.starts_with("drops.")) {
        p.counter("tapsense_dropped_packets_total", "Packets (or records) a stage dropped, by cause",
                  {{"stage", s.identity}, {"cause", name.substr(6)}}, value);
      }
    }
  }
}

}  // namespace tapsense::supervisor
