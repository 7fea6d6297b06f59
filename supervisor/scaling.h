#pragma once
// Sizing the sensor to the cores it was given, from a measurement (the
// guide's auto-scaling at boot and "estimated maximum throughput"): the real
// stages, run by a child supervisor on a built-in sample (deploy/make-sample.py
// --copies 20, installed as share/tapsense/scaling.pcap) read back to back,
// once with the sample once and once with it `repeats` (32: DPDK's port limit, one port a file) times, each pair twice
// (the faster counts: other load on the machine only slows a run down). The difference
// of the two wall times is what the extra packets cost without the start-up
// (EAL, segments, stages); wire bits over it is the throughput. Each
// candidate split of the cores (aggregator shards, fingerprinter workers) is
// measured; the fastest wins.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tapsense::supervisor {

struct scaling_trial {
  unsigned shards = 0, workers = 0;
  std::uint64_t packets = 0;      // extra packets of the long run
  double seconds = 0;             // their extra wall time
  std::uint64_t bits_per_second = 0;
  double packets_per_second = 0;
};

struct scaling_result {
  unsigned cores = 0;
  unsigned shards = 0, workers = 0;  // the fastest trial's
  std::uint64_t bits_per_second = 0;
  double packets_per_second = 0;
  std::string boot_id;
  std::vector<scaling_trial> trials;
};

// The sample next to the installed binaries, else the build tree's; "" if none.
std::string scaling_sample(const std::string& self_dir);

// Measures on `cores` cores; `why` says what failed (nullopt).
std::optional<scaling_result> measure_scaling(const std::string& supervisor, const std::string& sample, unsigned cores,
                                              unsigned repeats, std::string& why);

// <state_dir>/scaling.json: kept for the boot it was measured in and the
// cores it was measured for (a restart does not measure again; a reboot, or
// other cores, does).
std::optional<scaling_result> load_scaling(const std::string& path, unsigned cores);
void save_scaling(const std::string& path, const scaling_result& r);
std::string boot_id();

}  // namespace tapsense::supervisor
