#include "uplink/platform_sender.h"

#include <random>

#include <kj/exception.h>

#include "common/platform/gzip.h"
#include "common/schema/platform.capnp.h"
#include "common/util/time.h"

namespace tapsense::uplink {

namespace pc = platform_client;
namespace sp = schema::platform;

namespace {
pc::identity must_load(const std::string& state_dir) {
  auto id = pc::load_identity(state_dir);
  if (!id) throw pc::identity_error("no platform identity in " + pc::platform_dir(state_dir));
  return *id;
}
}  // namespace

platform_sender::platform_sender(const std::string& state_dir, std::shared_ptr<spdlog::logger> log,
                                 std::uint64_t update_interval_s, bool resume_flows,
                                 const pc::proxy_settings& proxy, std::uint64_t spool_bytes)
    : state_dir_(state_dir),
      log_(std::move(log)),
      id_(must_load(state_dir)),
      client_(id_.url, id_.ca_pem, id_.auth(), 60),
      spool_(state_dir, spool_bytes),
      update_every_ns_(update_interval_s * 1'000'000'000ULL) {
  client_.set_proxy(proxy);
  if (auto s = resume_flows ? pc::read_file(pc::platform_dir(state_dir) + "/flows-sent") : std::nullopt) {
    try {
      builder_.set_next_flow_interval(std::stoull(*s));
    } catch (const std::exception&) {
    }
  }
  const auto unsent = spool_.pending().size();
  if (unsent != 0) log_->info("platform: {} report(s) from an earlier run wait in the spool", unsent);
  thread_ = std::thread([this] { run(); });
}

platform_sender::~platform_sender() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void platform_sender::spool_reports(std::vector<report_body>&& reports) {
  const auto now = util::now_ns();
  try {
    for (const auto& r : reports) {
      // What the asset records alone cost (README "bytes per asset update"),
      // measured before the report is stored: the line that says it is
      // stored follows the store at once, so a process killed just after
      // it (kill -9, an e2e test) has almost surely logged the report's id.
      // (The id is the likely next one: only its varint's length counts.)
      report_body only_assets = r;
      only_assets.flows.clear();
      only_assets.removed.clear();
      std::size_t asset_bytes = 0, asset_gz = 0;
      if (!r.assets.empty()) {
        const auto only = encode_report(spool_.last_id() + 1, only_assets, now);
        asset_bytes = only.size();
        asset_gz = pc::gzip(only).size();
      }
      std::size_t bytes = 0;
      const auto id = spool_.add([&](std::uint64_t rid) {
        auto b = encode_report(rid, r, now);
        bytes = b.size();
        return b;
      });
      ++spooled_;
      const auto n = std::max<std::size_t>(r.assets.size(), 1);
      log_->info("platform: report {} spooled: {}{} assets, {} removed, {} flows, {} bytes packed; asset records "
                 "{} bytes ({} per asset), gzip {} bytes ({} per asset)",
                 id, r.full ? "full, " : "", r.assets.size(), r.removed.size(), r.flows.size(), bytes, asset_bytes,
                 asset_bytes / n, asset_gz, asset_gz / n);
    }
    pc::write_file_atomic(pc::platform_dir(state_dir_) + "/flows-sent",
                          std::to_string(builder_.next_flow_interval()) + "\n");
  } catch (const std::exception& e) {
    // What was not stored is sent again, complete, next time.
    builder_.lost();
    log_->error("platform: cannot spool a report ({}); the next report will be a full one", e.what());
  }
  cv_.notify_all();
}

void platform_sender::offer(const std::vector<asset_view>& assets, const flow_table& flows, bool final) {
  if (deregistered_) return;
  const auto now = util::mono_ns();
  const bool updates = final || now >= next_update_ns_;
  if (updates) next_update_ns_ = now + update_every_ns_;
  const bool requested = pc::full_report_requested(state_dir_);
  const bool full = need_full_.exchange(false) || requested;
  spool_reports(builder_.build(assets, flows, full, updates, final));
  if (requested) pc::clear_full_report(state_dir_);
}

bool platform_sender::drain(const std::vector<asset_view>& assets, const flow_table& flows,
                            std::chrono::seconds timeout, std::string& why) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lk(mu_);
  for (;;) {
    if (need_full_) {
      lk.unlock();
      offer(assets, flows, true);
      lk.lock();
    }
    const auto left = spool_.pending().size();
    if (left == 0 && !need_full_) return true;
    if (deregistered_) {
      why = "the sensor is deregistered on its platform; " + std::to_string(left) + " report(s) kept in " + spool_.dir();
      return false;
    }
    // Three failures in a row that waiting cannot fix end it now.
    if (consecutive_failures_ >= 3 || std::chrono::steady_clock::now() >= deadline) {
      why = (last_error_.empty() ? std::string("the platform did not acknowledge in time") : last_error_) + "; " +
            std::to_string(left) + " report(s) kept in " + spool_.dir() + " for the next run";
      return false;
    }
    cv_.wait_for(lk, std::chrono::milliseconds(200));
  }
}

void platform_sender::run() {
  std::mt19937_64 rng(std::random_device{}());
  std::uint64_t backoff_ms = 1000;
  std::unique_lock lk(mu_);
  while (!stop_) {
    if (deregistered_) {
      cv_.wait(lk, [&] { return stop_; });
      break;
    }
    const auto ids = spool_.pending();
    if (ids.empty()) {
      cv_.wait_for(lk, std::chrono::seconds(1));
      continue;
    }
    lk.unlock();
    pc::result failed;
    for (const auto id : ids) {
      const auto body = spool_.read(id);
      if (!body) continue;
      // Compressed on the wire (the spool keeps the packed report).
      const std::string wire = pc::gzip(*body);
      auto r = client_.post("/sensor/v1/reports", wire, {"Content-Encoding: gzip"});
      if (r.why == pc::failure::too_large) {
        // Cut in two, at the end of the spool (the platform sees the gap and
        // asks for a full report, which puts any order right); a single
        // record too large for it cannot be sent: dropped, and counted.
        bool cut = false;
        try {
          cut = spool_.split(id, 2, [&, parts = std::vector<std::string>()](std::size_t part, std::uint64_t nid) mutable {
            if (part == 0) parts = split_report(*body, nid, nid + 1);
            if (parts.size() != 2) throw std::runtime_error("single record");
            return parts[part];
          });
        } catch (const std::exception&) {
          cut = false;
        }
        if (cut) {
          log_->info("platform: report {} too large for the platform ({}); cut in two", id, r.message);
        } else {
          spool_.drop(id);
          log_->warn("platform: report {} too large for the platform and not divisible ({}); dropped", id, r.message);
        }
        failed = r;
        failed.why = pc::failure::none;
        break;
      }
      if (r.ok()) {
        try {
          pc::unpacked u(r.body);
          auto ack = u.root<sp::ReportAck>();
          if (ack.getReportId() != id) {
            r.why = pc::failure::malformed;
            r.message = "the platform acknowledged report " + std::to_string(ack.getReportId()) + " for report " +
                        std::to_string(id);
          } else {
            spool_.remove(id);
            ++acked_;
            bytes_ += wire.size();
            {
              pc::unpacked b(*body);
              assets_ += b.root<sp::Report>().getAssets().size();
            }
            if (ack.getNeedFull()) {
              log_->info("platform: it asked for a full report after report {}", id);
              need_full_ = true;
            }
            continue;
          }
        } catch (const kj::Exception& e) {
          r.why = pc::failure::malformed;
          r.message = "the platform's acknowledgement of report " + std::to_string(id) + " is malformed";
        }
      }
      failed = r;
      break;
    }
    lk.lock();
    last_why_ = failed.why;
    if (failed.ok()) {
      backoff_ms = 1000;
      consecutive_failures_ = 0;
      last_error_.clear();
      cv_.notify_all();
      continue;
    }
    ++errors_;
    if (failed.why == pc::failure::deregistered) {
      deregistered_ = true;
      log_->error("platform: {}; reports stop", failed.message);
      last_error_ = failed.message;
      cv_.notify_all();
      continue;
    }
    if (failed.why != pc::failure::busy) ++consecutive_failures_;
    // In the log only: the supervisor says it (offline, the run's last line; live, its check-in).
    if (last_error_ != failed.message) log_->info("platform: {}", failed.message);
    last_error_ = failed.message;
    cv_.notify_all();
    const std::uint64_t base = failed.retry_after != 0 ? failed.retry_after * 1000ULL : backoff_ms;
    const std::uint64_t wait = base / 2 + rng() % (base / 2 + 1);
    backoff_ms = std::min<std::uint64_t>(backoff_ms * 2, 60'000);
    cv_.wait_for(lk, std::chrono::milliseconds(wait), [&] { return stop_; });
  }
}

}  // namespace tapsense::uplink
