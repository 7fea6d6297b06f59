#include "supervisor/platform_link.h"

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <kj/exception.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "common/platform/fragment.h"
#include "common/platform/spool.h"
#include "common/proto/digest.h"
#include "common/schema/platform.capnp.h"
#include "common/stage/exit_codes.h"
#include "common/stage/stage.h"
#include "common/util/time.h"
#include "supervisor/metrics.h"

namespace tapsense::supervisor {

namespace pc = platform_client;
namespace sp = schema::platform;
namespace fs = std::filesystem;

namespace {

std::string hostname() {
  char h[256] = {0};
  if (::gethostname(h, sizeof h - 1) != 0) return {};
  return h;
}

std::string read_line(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

// Management addresses and MACs: every interface but loopback.
void addresses(std::vector<std::string>& ips, std::vector<std::string>& macs) {
  ifaddrs* ifa = nullptr;
  if (::getifaddrs(&ifa) == 0) {
    for (auto* p = ifa; p != nullptr; p = p->ifa_next) {
      if (p->ifa_addr == nullptr || (p->ifa_flags & IFF_LOOPBACK) != 0) continue;
      char buf[INET6_ADDRSTRLEN] = {0};
      if (p->ifa_addr->sa_family == AF_INET) {
        ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(static_cast<void*>(p->ifa_addr))->sin_addr, buf, sizeof buf);
      } else if (p->ifa_addr->sa_family == AF_INET6) {
        ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(static_cast<void*>(p->ifa_addr))->sin6_addr, buf, sizeof buf);
      } else {
        continue;
      }
      ips.emplace_back(buf);
    }
    ::freeifaddrs(ifa);
  }
  std::set<std::string> seen;
  std::error_code ec;
  for (fs::directory_iterator it("/sys/class/net", ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename() == "lo") continue;
    const auto mac = read_line(it->path().string() + "/address");
    if (mac.size() == 17 && mac != "00:00:00:00:00:00" && seen.insert(mac).second) macs.push_back(mac);
  }
}

template <typename L>
void set_list(L list, const std::vector<std::string>& v) {
  for (unsigned i = 0; i < v.size(); ++i) list.set(i, v[i]);
}

}  // namespace

int register_sensor(const std::string& code, const std::string& url, const std::string& ca_file,
                    const std::string& config_path, const std::string& state_dir,
                    const pc::proxy_settings& proxy) {
  auto fail = [](int rc, const std::string& m) {
    std::fprintf(stderr, "tapsense-supervisor: %s\n", m.c_str());
    return rc;
  };
  if (code.size() != 14 || code.find_first_not_of("0123456789") != std::string::npos) {
    return fail(pc::exit_code::code_unknown, "personalization code unknown: a code is 14 digits");
  }
  if (!url.starts_with("https://")) return fail(exit_code::usage, "--platform must be an https:// URL");
  std::optional<std::string> ca;
  try {
    ca = pc::read_file(ca_file);
  } catch (const std::exception& e) {
    return fail(exit_code::input, e.what());
  }
  if (!ca || ca->find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return fail(exit_code::input, "--ca " + ca_file + ": not a PEM certificate file");
  }
  (void)config_path;
  std::string uid;
  try {
    uid = pc::ensure_uid(state_dir);
  } catch (const std::exception& e) {
    return fail(exit_code::unavailable, e.what());
  }
  capnp::MallocMessageBuilder m;
  auto req = m.initRoot<sp::RegisterRequest>();
  req.setProtocolVersion(sp::PROTOCOL_VERSION);
  req.setCode(code);
  req.setSensorUid(uid);
  req.setVersion(stage::version);
  req.setHostname(hostname());
  std::vector<std::string> ips, macs;
  addresses(ips, macs);
  set_list(req.initAddresses(static_cast<unsigned>(ips.size())), ips);
  set_list(req.initMacs(static_cast<unsigned>(macs.size())), macs);
  pc::client c(url, *ca, {}, 30);
  c.set_proxy(proxy);
  const auto r = c.post("/sensor/v1/register", pc::pack(m));
  if (!r.ok()) return fail(pc::exit_code_for(r.why), r.message);
  pc::identity id;
  std::string status;
  try {
    pc::unpacked u(r.body);
    auto resp = u.root<sp::RegisterResponse>();
    id.url = url;
    id.sensor_id = resp.getSensorId();
    id.sensor_key = resp.getSensorKey();
    id.name = resp.getName();
    id.location = resp.getLocation();
    switch (resp.getStatus()) {
      case sp::SensorStatus::UNREGISTERED: status = "Unregistered"; break;
      case sp::SensorStatus::REGISTERED: status = "Registered"; break;
      case sp::SensorStatus::SENSING: status = "Sensing"; break;
      case sp::SensorStatus::PAUSED: status = "Paused"; break;
      case sp::SensorStatus::NOT_CONNECTED: status = "Not Connected"; break;
      case sp::SensorStatus::DEREGISTERED: status = "Deregistered"; break;
    }
  } catch (const kj::Exception&) {
    return fail(pc::exit_code::refused, "the platform's answer to the registration is malformed");
  }
  if (id.sensor_id.empty() || id.sensor_key.empty()) {
    return fail(pc::exit_code::refused, "the platform's answer to the registration holds no sensor id or key");
  }
  id.uid = uid;
  id.ca_pem = *ca;
  try {
    const auto before = pc::load_identity(state_dir);
    const bool same = before && before->sensor_id == id.sensor_id && before->url == id.url;
    if (!same) {
      // A new sensor on its platform: nothing of the old one applies.
      std::error_code ec;
      fs::remove_all(pc::platform_dir(state_dir) + "/spool", ec);
      fs::remove(pc::platform_dir(state_dir) + "/config.toml", ec);
      fs::remove(pc::platform_dir(state_dir) + "/flows-sent", ec);
      pc::save_state(state_dir, {});
      pc::request_full_report(state_dir);
    } else {
      auto st = pc::load_state(state_dir);
      st.deregistered = false;
      pc::save_state(state_dir, st);
    }
    pc::save_identity(state_dir, id);
  } catch (const std::exception& e) {
    return fail(exit_code::unavailable, e.what());
  }
  std::printf("Appliance registration completed successfully\n");
  std::printf("Sensor: %s%s%s (id %s)\n", id.name.c_str(), id.location.empty() ? "" : ", ",
              id.location.c_str(), id.sensor_id.c_str());
  std::printf("Status: %s\n", status.c_str());
  std::printf("Identity: %s/identity\n", pc::platform_dir(state_dir).c_str());
  return exit_code::ok;
}

platform_link::platform_link(std::string config_path, const config::config& cfg, pc::identity id,
                             std::shared_ptr<spdlog::logger> log, unsigned cores)
    : config_path_(std::move(config_path)),
      cfg_(cfg),
      id_(std::move(id)),
      log_(std::move(log)),
      cores_(cores == 0 ? 1 : cores),
      client_(id_.url, id_.ca_pem, id_.auth(), 30),
      state_dir_(cfg.sensor.state_dir),
      state_(pc::load_state(cfg.sensor.state_dir)),
      sampler_(cfg.sensor.state_dir, {}, cores_),
      started_ns_(util::mono_ns()) {
  client_.set_proxy(pc::proxy_from(cfg_.uplink));
}

platform_link::~platform_link() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool platform_link::paused() const {
  std::lock_guard lk(mu_);
  return state_.paused;
}

void platform_link::set_health(health_input h) {
  std::lock_guard lk(mu_);
  health_ = std::move(h);
}

void platform_link::raise_event(const std::string& name, const std::string& module, const std::string& type,
                                const std::string& message) {
  std::lock_guard lk(mu_);
  event e;
  e.id = ++state_.last_event_id;
  e.time_ns = util::now_ns();
  e.name = name;
  e.module = module;
  e.type = type;
  e.message = message;
  pending_events_.push_back(std::move(e));
  if (pending_events_.size() > 1000) pending_events_.erase(pending_events_.begin());  // a storm: keep the newest
  try {
    pc::save_state(state_dir_, state_);
  } catch (const std::exception& ex) {
    log_->warn("platform: {}", ex.what());
  }
}

void platform_link::raise(platform_action a) {
  // The strongest wins: deregister, pause, delete_assets, restart.
  auto rank = [](platform_action x) {
    switch (x) {
      case platform_action::deregister: return 4;
      case platform_action::pause: return 3;
      case platform_action::delete_assets: return 2;
      case platform_action::restart: return 1;
      case platform_action::none: break;
    }
    return 0;
  };
  auto cur = action_.load();
  while (rank(a) > rank(cur) && !action_.compare_exchange_weak(cur, a)) {
  }
  cv_.notify_all();
}

platform_action platform_link::wait_action(const std::function<bool()>& stop) {
  std::unique_lock lk(mu_);
  while (!stop() && action_.load() == platform_action::none) cv_.wait_for(lk, std::chrono::milliseconds(200));
  return action_.load();
}

std::string platform_link::build_checkin(std::uint64_t& events_upto) {
  capnp::MallocMessageBuilder m;
  auto c = m.initRoot<sp::CheckIn>();
  c.setProtocolVersion(sp::PROTOCOL_VERSION);
  c.setVersion(stage::version);
  c.setHostname(hostname());
  std::vector<std::string> ips, macs;
  addresses(ips, macs);
  set_list(c.initAddresses(static_cast<unsigned>(ips.size())), ips);
  set_list(c.initMacs(static_cast<unsigned>(macs.size())), macs);
  try {
    c.setLastReportId(pc::spool(state_dir_).last_id());
  } catch (const std::exception&) {
  }
  std::lock_guard lk(mu_);
  c.setState(state_.paused || !sensing_ ? sp::SensorStatus::PAUSED : sp::SensorStatus::SENSING);
  c.setConfigRevision(state_.config_revision);
  c.setConfigError(state_.config_error);
  c.setFailedRevision(state_.failed_revision);
  c.setLastCommandId(state_.last_command_id);
  auto h = c.initHealth();
  // The same sampler as the metrics endpoint's, with its own interval (the check-in's).
  health_sample hs;
  hs.wire_bytes = health_.wire_bytes;
  for (int pid : health_.pids) hs.stages.push_back({.identity = {}, .pid = pid, .running = true, .restarts = 0, .counters = {}});
  sampler_.sample(hs);
  h.setCpuPercent(static_cast<float>(100.0 * hs.cpu_ratio));
  h.setNetworkBitsPerSecond(hs.network_bits_per_second);
  h.setRamTotalBytes(hs.ram_total_bytes);
  h.setRamUsedBytes(hs.ram_used_bytes);
  h.setDiskTotalBytes(hs.disk_total_bytes);
  h.setDiskUsedBytes(hs.disk_used_bytes);
  h.setActiveAssets1h(static_cast<std::uint32_t>(health_.active_assets_1h));
  h.setEstimatedMaxThroughputBps(health_.estimated_max_bps);
  h.setPackets(health_.packets);
  h.setDrops(health_.drops);
  h.setUptimeSeconds((util::mono_ns() - started_ns_) / 1'000'000'000ULL);
  std::uint64_t capacity = 0;
  auto ifs = c.initInterfaces(static_cast<unsigned>(cfg_.capture.interfaces.size()));
  for (unsigned i = 0; i < cfg_.capture.interfaces.size(); ++i) {
    const auto& ci = cfg_.capture.interfaces[i];
    ifs[i].setName(ci.name);
    ifs[i].setMode(ci.mode);
    ifs[i].setErspanAddress(ci.erspan_address);
    const std::string sys = "/sys/class/net/" + ci.name;
    ifs[i].setUp(read_line(sys + "/operstate") == "up");
    ifs[i].setMac(read_line(sys + "/address"));
    try {
      const long mbps = std::stol(read_line(sys + "/speed"));
      if (mbps > 0) {
        ifs[i].setLinkMbps(static_cast<std::uint32_t>(mbps));
        capacity += static_cast<std::uint64_t>(mbps) * 1'000'000ULL;
      }
    } catch (const std::exception&) {
    }
    if (cfg_.capture.interfaces.size() == 1) {
      ifs[i].setPackets(health_.packets);
      ifs[i].setDrops(health_.drops);
    }
  }
  h.setLinkCapacityBitsPerSecond(capacity);
  auto ev = c.initEvents(static_cast<unsigned>(pending_events_.size()));
  events_upto = 0;
  for (unsigned i = 0; i < pending_events_.size(); ++i) {
    const auto& e = pending_events_[i];
    ev[i].setId(e.id);
    ev[i].setName(e.name);
    ev[i].setModule(e.module);
    ev[i].setType(e.type);
    ev[i].setFirstSeen(e.time_ns);
    ev[i].setLastSeen(e.time_ns);
    ev[i].setCount(1);
    ev[i].setMessage(e.message);
    events_upto = std::max(events_upto, e.id);
  }
  return pc::pack(m);
}

void platform_link::raise_spool_drops() {
  // The uplink counts the reports its bounded spool had to drop
  // (spool/dropped); what a check-in answer acknowledged is kept next to it
  // (dropped-raised, written in apply()), so each drop is raised once and
  // one raised while the platform was away is raised again by the next run.
  const std::string dir = pc::platform_dir(state_dir_) + "/spool";
  const auto now = pc::spool::read_dropped(dir);
  std::uint64_t raised = 0;
  try {
    if (auto s = pc::read_file(dir + "/dropped-raised")) raised = std::stoull(*s);
  } catch (const std::exception&) {
  }
  {
    std::lock_guard lk(mu_);
    if (now.reports <= std::max(raised, drops_noted_)) return;
  }
  raise_event("Reports Dropped", "uplink", "warning",
              std::to_string(now.reports - raised) + " report(s) dropped, oldest first: the spool reached its bound "
              "(uplink.spool_mb = " + std::to_string(cfg_.uplink.spool_mb) + ") while the platform was away; " +
              std::to_string(now.reports) + " report(s), " + std::to_string(now.bytes) + " bytes dropped in all");
  std::lock_guard lk(mu_);
  drops_noted_ = now.reports;
  drop_event_id_ = state_.last_event_id;
}

pc::result platform_link::checkin_now() {
  raise_spool_drops();
  std::uint64_t events_upto = 0;
  auto r = client_.post("/sensor/v1/checkin", build_checkin(events_upto));
  if (r.ok() || r.why == pc::failure::deregistered) apply(r, events_upto);
  return r;
}

void platform_link::apply(const pc::result& r, std::uint64_t events_upto) {
  std::unique_lock lk(mu_);
  if (r.why == pc::failure::deregistered) {
    // The main loop says it once, on stderr; the log keeps it too.
    if (!state_.deregistered) log_->info("platform: {}", r.message);
    state_.deregistered = true;
    pc::save_state(state_dir_, state_);
    lk.unlock();
    raise(platform_action::deregister);
    return;
  }
  pc::unpacked u(r.body);
  auto resp = u.root<sp::CheckInResponse>();
  // Answered: the events it carried are stored.
  std::erase_if(pending_events_, [&](const event& e) { return e.id <= events_upto; });
  if (drop_event_id_ != 0 && drop_event_id_ <= events_upto) {
    drop_event_id_ = 0;
    try {
      pc::write_file_atomic(pc::platform_dir(state_dir_) + "/spool/dropped-raised", std::to_string(drops_noted_) + "\n",
                            0600);
    } catch (const std::exception& e) {
      log_->warn("platform: {}", e.what());
    }
  }
  poll_s_ = resp.getPollSeconds() == 0 ? 30 : std::min(resp.getPollSeconds(), 3600u);
  std::vector<platform_action> actions;
  if (resp.getStatus() == sp::SensorStatus::DEREGISTERED) {
    state_.deregistered = true;
    actions.push_back(platform_action::deregister);
  }
  // Configuration: a new revision is validated against the local file;
  // applied (kept, the pipeline restarted once) or reported as failed.
  const auto rev = resp.getConfigRevision();
  if (resp.hasConfig() && rev != state_.config_revision && rev != state_.failed_revision) {
    const std::string frag = resp.getConfig();
    std::string why;
    std::string before, after;  // the effective configuration without and with it
    if (resp.getConfigHash().size() != 0 && proto::sha256_hex(frag) != std::string(resp.getConfigHash().cStr())) {
      why = "configuration hash mismatch";
    } else {
      try {
        const auto local = config_path_.empty() ? std::optional<std::string>("") : pc::read_file(config_path_);
        after = config::to_toml(pc::apply_fragment(local.value_or(""), config_path_, frag,
                                                   "platform configuration revision " + std::to_string(rev)));
        try {
          before = config::to_toml(pc::load_with_fragment(config_path_));
        } catch (const std::exception&) {
        }
      } catch (const std::exception& e) {
        why = e.what();
      }
    }
    if (why.empty()) {
      pc::write_file_atomic(pc::platform_dir(state_dir_) + "/config.toml", frag, 0600);
      state_.config_revision = rev;
      state_.config_error.clear();
      state_.failed_revision = 0;
      // The pipeline restarts once, and only when what it runs changes.
      const bool changed = before != after;
      log_->info("platform: configuration revision {} applied{}", rev, changed ? "; the pipeline restarts" : " (no change)");
      if (changed) actions.push_back(platform_action::restart);
    } else {
      state_.failed_revision = rev;
      state_.config_error = why;
      log_->error("platform: configuration revision {} not applied: {}", rev, why);
    }
  } else if (rev == state_.config_revision && rev != 0 && !state_.config_error.empty()) {
    state_.config_error.clear();
  }
  for (auto cmd : resp.getCommands()) {
    if (cmd.getId() <= state_.last_command_id) continue;  // a repeat: done before
    const std::string what = cmd.getCommand();
    log_->info("platform: command {}: {}", cmd.getId(), what);
    if (what == "start_sensing") {
      if (state_.paused) actions.push_back(platform_action::restart);
      state_.paused = false;
    } else if (what == "pause") {
      if (!state_.paused) actions.push_back(platform_action::pause);
      state_.paused = true;
    } else if (what == "reboot") {
      actions.push_back(platform_action::restart);
    } else if (what == "deregister") {
      // A deregister the platform no longer stands by (the sensor was
      // registered again since) is acknowledged, not executed.
      if (resp.getStatus() == sp::SensorStatus::DEREGISTERED) {
        state_.deregistered = true;
        actions.push_back(platform_action::deregister);
      } else {
        log_->info("platform: command {} (deregister) predates this registration; acknowledged", cmd.getId());
      }
    } else if (what == "delete_assets") {
      // The main loop deletes the inventory once the uplink has stopped,
      // then asks for the full report (an uplink still running would
      // otherwise send its old inventory as the full one).
      actions.push_back(platform_action::delete_assets);
    } else {
      log_->warn("platform: unknown command '{}' (id {}) ignored", what, cmd.getId());
    }
    state_.last_command_id = cmd.getId();
  }
  pc::save_state(state_dir_, state_);
  lk.unlock();
  for (auto a : actions) raise(a);
}

void platform_link::start() {
  thread_ = std::thread([this] { run(); });
}

void platform_link::run() {
  std::mt19937_64 rng(std::random_device{}());
  std::uint64_t backoff_s = 5;
  std::string last_error;
  for (;;) {
    std::uint64_t wait_ms = 0;
    {
      const unsigned p = poll_s_.load();
      wait_ms = p * 750ULL + rng() % (p * 500ULL + 1);  // 75% to 125% of the interval
    }
    pc::result r;
    {
      std::unique_lock lk(mu_);
      if (cv_.wait_for(lk, std::chrono::milliseconds(wait_ms), [&] { return stop_; })) return;
    }
    try {
      r = checkin_now();
    } catch (const std::exception& e) {
      r.why = pc::failure::malformed;
      r.message = std::string("check-in answer unusable: ") + e.what();
    }
    if (r.ok()) {
      if (!last_error.empty()) log_->info("platform: check-in works again");
      last_error.clear();
      backoff_s = 5;
      continue;
    }
    if (r.why == pc::failure::deregistered) continue;
    if (r.message != last_error) log_->warn("platform: check-in failed: {}", r.message);
    last_error = r.message;
    // Back off with jitter, so a platform restart is no thundering herd.
    const std::uint64_t base = r.retry_after != 0 ? r.retry_after : backoff_s;
    const std::uint64_t extra_ms = base * 500ULL + rng() % (base * 1000ULL + 1);
    backoff_s = std::min<std::uint64_t>(backoff_s * 2, 300);
    std::unique_lock lk(mu_);
    if (cv_.wait_for(lk, std::chrono::milliseconds(extra_ms), [&] { return stop_; })) return;
  }
}

}  // namespace tapsense::supervisor
