#pragma once
// The uplink's platform sink: builds report deltas (platform_report.h) into
// the disk spool (common/platform/spool.h) and sends them from a thread of
// its own, so the uplink's ring draining never waits for the network.
// A report leaves the spool only when the platform acknowledges it (a
// duplicate ack counts); an ack asking for full state makes the next report
// a full one. Errors back off with jitter (1 s doubling to 60 s, or the
// platform's Retry-After).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <spdlog/logger.h>

#include "common/platform/client.h"
#include "common/platform/identity.h"
#include "common/platform/spool.h"
#include "uplink/platform_report.h"

namespace tapsense::uplink {

class platform_sender {
 public:
  // state_dir: where the identity lives; throws identity_error when there
  // is none or it is damaged.
  // resume_flows: go on from the flow intervals sent before (live); an
  // offline run starts from an empty inventory and sends all of its flows.
  // proxy: the configuration's [uplink] proxy; spool_bytes: the spool's bound.
  platform_sender(const std::string& state_dir, std::shared_ptr<spdlog::logger> log,
                  std::uint64_t update_interval_s, bool resume_flows, const platform_client::proxy_settings& proxy = {},
                  std::uint64_t spool_bytes = 0);
  ~platform_sender();
  platform_sender(const platform_sender&) = delete;
  platform_sender& operator=(const platform_sender&) = delete;

  // Builds and spools the reports due now. `final`: the end of a run (every
  // change and every flow). Called from one thread at a time.
  void offer(const std::vector<asset_view>& assets, const flow_table& flows, bool final);
  // Waits until the platform acknowledged every spooled report. False (and
  // why) when it cannot within `timeout` or the platform refuses for good.
  bool drain(const std::vector<asset_view>& assets, const flow_table& flows, std::chrono::seconds timeout,
             std::string& why);

  std::uint64_t reports_spooled() const noexcept { return spooled_.load(); }
  std::uint64_t reports_acked() const noexcept { return acked_.load(); }
  std::uint64_t bytes_sent() const noexcept { return bytes_.load(); }
  std::uint64_t assets_sent() const noexcept { return assets_.load(); }
  std::uint64_t pending() const { return spool_.pending().size(); }
  std::uint64_t errors() const noexcept { return errors_.load(); }
  // The spool's bytes now, and the reports its bound (or a 413 on a single
  // record) dropped since it began.
  std::uint64_t spool_bytes() const { return spool_.bytes(); }
  std::uint64_t reports_dropped() const { return spool_.dropped().reports; }
  bool deregistered() const noexcept { return deregistered_.load(); }
  // The last failure's cause (none after a success).
  platform_client::failure last_failure() const noexcept { return last_why_.load(); }
  // A full report is due (delete_assets, a new registration, the platform asked).
  bool full_due() const { return need_full_.load() || platform_client::full_report_requested(state_dir_); }

 private:
  void run();
  void spool_reports(std::vector<report_body>&& reports);

  std::string state_dir_;
  std::shared_ptr<spdlog::logger> log_;
  platform_client::identity id_;
  platform_client::client client_;
  platform_client::spool spool_;
  delta_builder builder_;
  std::uint64_t update_every_ns_;
  std::uint64_t next_update_ns_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  std::string last_error_;          // under mu_
  unsigned consecutive_failures_ = 0;  // under mu_
  bool stop_ = false;               // under mu_
  std::atomic<bool> need_full_{false};
  std::atomic<bool> deregistered_{false};
  std::atomic<platform_client::failure> last_why_{platform_client::failure::none};
  std::atomic<std::uint64_t> spooled_{0}, acked_{0}, bytes_{0}, assets_{0}, errors_{0};
  std::thread thread_;
};

}  // namespace tapsense::uplink
