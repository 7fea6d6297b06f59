#pragma once
// The sensor's health, sampled by the supervisor once a second, and served as
// Prometheus metrics (prometheus-cpp's civetweb exposer) at
// http://<[supervisor] metrics_listen>/metrics. Names follow the Prometheus
// conventions (tapsense_ prefix, base units, _total for counters, _ratio for
// 0..1); labels are stage, cause and ring only: never an address.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace prometheus {
class Exposer;
class Registry;
}  // namespace prometheus

namespace tapsense::supervisor {

struct stage_sample {
  std::string identity;
  int pid = 0;
  bool running = false;
  std::uint32_t restarts = 0;
  std::vector<std::pair<std::string, std::uint64_t>> counters;
};

struct health_sample {
  double cpu_ratio = 0;              // of the cores given to the sensor (supervisor + stages)
  std::uint64_t ram_used_bytes = 0, ram_total_bytes = 0;
  std::uint64_t disk_used_bytes = 0, disk_total_bytes = 0;  // state_dir's file system
  std::uint64_t network_bits_per_second = 0;                // sniffed, over the last second
  std::uint64_t link_capacity_bits_per_second = 0;          // sum of sniffing links' speeds (0: unknown)
  std::uint64_t packets = 0, wire_bytes = 0;                // capture's, since start of this run
  std::uint64_t drops = 0;                                  // every drops.* of every stage
  std::uint64_t active_assets_1h = 0;
  std::uint64_t estimated_max_bits_per_second = 0;
  std::uint64_t uptime_seconds = 0;
  std::vector<std::pair<std::string, double>> ring_fill;    // ring kind -> 0..1
  std::vector<stage_sample> stages;
};

// Measures CPU and network rates between two calls.
class health_sampler {
 public:
  health_sampler(std::string state_dir, std::vector<std::string> interfaces, unsigned cores);
  // Fills the machine-wide fields of `h` (stages, counters, rings are the caller's).
  void sample(health_sample& h);

 private:
  std::string state_dir_;
  std::vector<std::string> interfaces_;
  unsigned cores_;
  std::uint64_t started_ns_;
  std::uint64_t last_ns_ = 0, last_ticks_ = 0, last_bytes_ = 0;
};

class metrics_server {
 public:
  // Listens on `listen` ("ADDRESS:PORT"); throws std::runtime_error if it cannot.
  explicit metrics_server(const std::string& listen);
  ~metrics_server();
  void update(const health_sample& h);
  // The port actually bound (for ":0").
  int port() const;

 private:
  struct impl;
  std::unique_ptr<impl> p_;
};

}  // namespace tapsense::supervisor
