#pragma once
// Reports for the platform (common/schema/platform.capnp Report), built from
// the assets the output files are built from: deltas, each asset a complete
// record, keyed by the sensor's stable key for the device.
//
// - new assets (a key not sent before) go out at every build;
// - changed assets (same key, a different record) only when updates are due
//   (the guide's 30-minute update cadence) or at the end of a run;
// - keys sent before and gone now are listed as removed;
// - flows of closed intervals not sent before (all of them at the end);
// - a full report (after delete_assets, or when the platform asks) carries
//   every asset and tells the platform that the rest are gone.
// Large deltas are cut into several reports of bounded size.
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "uplink/report.h"

namespace tapsense::uplink {

// The sensor's key for a device: "<network>/<mac>", else "<network>/<ip>".
std::string platform_asset_key(const asset_view& a);

struct report_body {
  bool full = false;
  std::vector<const asset_view*> assets;
  std::vector<std::string> removed;
  std::vector<const flow_table::value_type*> flows;
};

// The packed Report message with this id.
std::string encode_report(std::uint64_t id, const report_body& r, std::uint64_t generated_at_ns);

// A report the platform found too large (413) cut in two: each half of its
// assets, removed keys and flows, with ids a and b (the first keeps `full`,
// the second adds to it). Empty when it holds a single record or less.
std::vector<std::string> split_report(const std::string& packed, std::uint64_t id_a, std::uint64_t id_b);

class delta_builder {
 public:
  struct limits {
    std::size_t assets = 2000;  // per report
    std::size_t flows = 10000;
  };
  // The reports to send now (possibly none). The builder then considers them
  // sent; if they could not be stored, call lost() so the next is full.
  std::vector<report_body> build(const std::vector<asset_view>& assets, const flow_table& flows, bool full,
                                 bool updates, bool final, limits lim);
  std::vector<report_body> build(const std::vector<asset_view>& assets, const flow_table& flows, bool full,
                                 bool updates, bool final) {
    return build(assets, flows, full, updates, final, limits{});
  }
  void lost() { sent_.clear(); force_full_ = true; }

  // First flow interval not sent yet (kept across restarts by the caller).
  std::uint64_t next_flow_interval() const noexcept { return next_interval_; }
  void set_next_flow_interval(std::uint64_t v) noexcept { next_interval_ = v; }
  std::size_t known() const noexcept { return sent_.size(); }

 private:
  std::unordered_map<std::string, std::uint64_t> sent_;  // key -> record digest
  std::uint64_t next_interval_ = 0;
  bool force_full_ = false;
};

}  // namespace tapsense::uplink
