#include "supervisor/conditions.h"

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <memory>

namespace tapsense::supervisor {

bool conditions::set(const std::string& event, const std::string& module, bool active, const std::string& type,
                     const std::string& detail) {
  auto& was = state_[{event, module}];
  const bool raised = active && !was;
  if (raised) raise_(event, module, type, detail);
  if (!active && was) raise_(event + " Cleared", module, "info", detail);
  was = active;
  return raised;
}

bool conditions::active(const std::string& event, const std::string& module) const {
  const auto it = state_.find({event, module});
  return it != state_.end() && it->second;
}

std::vector<std::string> nics_needing_driver_change(const std::string& nic_check,
                                                    const std::vector<std::string>& pci_addresses) {
  std::vector<std::string> out;
  if (pci_addresses.empty()) return out;
  std::string cmd = "/usr/bin/python3 '" + nic_check + "' --json";
  for (const auto& a : pci_addresses) {
    // PCI addresses only (0000:00:05.0): nothing a shell would interpret.
    const bool pci = !a.empty() && std::all_of(a.begin(), a.end(), [](unsigned char c) {
      return std::isxdigit(c) != 0 || c == ':' || c == '.';
    });
    if (!pci) continue;
    cmd += " " + a;
  }
  cmd += " 2>/dev/null";
  std::unique_ptr<FILE, int (*)(FILE*)> p(::popen(cmd.c_str(), "r"), ::pclose);
  if (!p) return out;
  std::string json;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p.get())) json.append(buf, n);
  // An array of rows {"address": "...", ..., "status": "..."}; anything else
  // (no script, a traceback) is no verdict.
  boost::system::error_code ec;
  const auto doc = boost::json::parse(json, ec);
  if (ec || !doc.is_array()) return out;
  for (const auto& row : doc.as_array()) {
    const auto* o = row.if_object();
    if (o == nullptr) continue;
    const auto* address = o->if_contains("address");
    const auto* status = o->if_contains("status");
    if (address != nullptr && address->is_string() && status != nullptr && status->is_string() &&
        status->as_string() == "driver change required") {
      out.emplace_back(address->as_string());
    }
  }
  return out;
}

void traffic_watch::add(const sample& s) {
  samples_.push_back(s);
  while (samples_.size() > 600) samples_.pop_front();
  if (!have_ || s.reports != last_reports_ || s.packets < packets_at_report_) {
    last_report_change_ns_ = s.ns;
    last_reports_ = s.reports;
    packets_at_report_ = s.packets;
    have_ = true;
  }
}

double traffic_watch::drop_ratio(std::uint64_t window_ns, std::uint64_t min_packets) const {
  if (samples_.size() < 2) return -1;
  const auto& last = samples_.back();
  const sample* first = &samples_.front();
  for (const auto& s : samples_) {
    if (last.ns - s.ns <= window_ns) {
      first = &s;
      break;
    }
  }
  if (last.packets < first->packets || last.drops < first->drops) return -1;  // a stage restarted
  const auto p = last.packets - first->packets;
  const auto d = last.drops - first->drops;
  if (p + d < min_packets) return -1;
  return static_cast<double>(d) / static_cast<double>(p + d);
}

std::uint64_t traffic_watch::reporting_stalled_ns() const {
  if (samples_.empty()) return 0;
  const auto& last = samples_.back();
  if (last.packets <= packets_at_report_) return 0;  // nothing new sensed since the last report
  return last.ns - last_report_change_ns_;
}

}  // namespace tapsense::supervisor
