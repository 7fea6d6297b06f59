#pragma once
// Every shared-memory segment and socket name in one place.
//
// Who creates what: the supervisor creates (and at the end removes) every
// segment below before it starts any stage; stages only open them. An opener
// that finds nothing reports which process should have made it.
#include <string>
#include <string_view>

namespace tapsense::ipc::names {

// POSIX shared-memory names (they appear under /dev/shm without the slash).
inline std::string segment(std::string_view instance, std::string_view what) {
  std::string s = "/tapsense.";
  s += instance;
  s += '.';
  s += what;
  return s;
}
// One ring per (capture lcore, consumer): every ring keeps a single producer.
inline std::string capture_to_aggregator(std::string_view instance, unsigned lcore, unsigned shard) {
  return segment(instance, "cap-agg." + std::to_string(lcore) + "." + std::to_string(shard));
}
inline std::string capture_to_fingerprinter(std::string_view instance, unsigned lcore, unsigned worker) {
  return segment(instance, "cap-fp." + std::to_string(lcore) + "." + std::to_string(worker));
}
inline std::string aggregator_to_uplink(std::string_view instance, unsigned shard) {
  return segment(instance, "agg-up." + std::to_string(shard));
}
inline std::string fingerprinter_to_uplink(std::string_view instance, unsigned worker) {
  return segment(instance, "fp-up." + std::to_string(worker));
}
// The aggregator shard's flow and asset tables (survive an aggregator restart).
inline std::string aggregator_state(std::string_view instance, unsigned shard) {
  return segment(instance, "agg-state." + std::to_string(shard));
}
// A fingerprinter worker's per-connection state (survives its restart).
inline std::string fingerprinter_state(std::string_view instance, unsigned worker) {
  return segment(instance, "fp-state." + std::to_string(worker));
}
// Capture's progress through offline inputs (survives a capture restart).
inline std::string capture_state(std::string_view instance) {
  return segment(instance, "cap-state");
}

// ZeroMQ control endpoint: a Unix socket under the run directory. ipc:// paths
// are limited to about 107 bytes, so keep run directories short.
inline std::string control_endpoint(std::string_view run_dir) {
  std::string s = "ipc://";
  s += run_dir;
  s += "/control.sock";
  return s;
}

// Stage identities on the control channel ("aggregator.0", "capture").
inline std::string stage_identity(std::string_view role, int index) {
  std::string s{role};
  if (index >= 0) {
    s += '.';
    s += std::to_string(index);
  }
  return s;
}

}  // namespace tapsense::ipc::names
