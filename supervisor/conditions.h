#pragma once
// Sensor conditions that become events (the guide's Events tab), each raised
// once when it starts to hold and logged when it clears:
//   Driver Change Required  a sniffing PCI NIC the installed DPDK drives but a
//                           kernel driver holds (deploy/nic-check.py's verdict)
//   Reboot Required         /run/reboot-required exists (Debian's flag), or a
//                           sniffing interface needs a driver change at boot
//   Asset Reporting Stopped capture receives packets but no report went out
//                           (to the platform when registered, else into the
//                           inventory) for longer than the cadence allows
//   Drops Above Threshold   drops over packets, over the last 10 s, above
//                           [supervisor] drop_event_percent
// (Stage Crash Loop is raised by the restart logic in main.cpp.)
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace tapsense::supervisor {

using raise_fn = std::function<void(const std::string& event, const std::string& module, const std::string& type,
                                    const std::string& detail)>;

class conditions {
 public:
  explicit conditions(raise_fn raise) : raise_(std::move(raise)) {}
  // Sets a condition; raises the event on a false -> true transition only.
  // Returns true if it raised.
  bool set(const std::string& event, const std::string& module, bool active, const std::string& type,
           const std::string& detail);
  bool active(const std::string& event, const std::string& module) const;

 private:
  raise_fn raise_;
  std::map<std::pair<std::string, std::string>, bool> state_;
};

// Runs nic-check (--json) for the configured PCI interfaces; returns the
// addresses it says need a driver change. Empty if the script is missing.
std::vector<std::string> nics_needing_driver_change(const std::string& nic_check,
                                                    const std::vector<std::string>& pci_addresses);

// Drop ratio and reporting stall, over a sliding window of samples.
class traffic_watch {
 public:
  struct sample {
    std::uint64_t ns, packets, drops, reports;
  };
  void add(const sample& s);
  // Drops / (packets + drops) over the last `window_ns`; -1 if too little traffic.
  double drop_ratio(std::uint64_t window_ns, std::uint64_t min_packets) const;
  // Nanoseconds since reports last advanced while packets kept arriving (0: not stalled).
  std::uint64_t reporting_stalled_ns() const;

 private:
  std::deque<sample> samples_;
  std::uint64_t last_report_change_ns_ = 0, last_reports_ = 0, packets_at_report_ = 0;
  bool have_ = false;
};

}  // namespace tapsense::supervisor
