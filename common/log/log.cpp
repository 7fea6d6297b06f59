#include "common/log/log.h"

#include <cstdlib>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <mutex>
#include <vector>

namespace tapsense::log {

namespace {
std::mutex mu;
std::vector<spdlog::sink_ptr> sinks;
std::string process_name = "tapsense";

std::vector<spdlog::sink_ptr>& default_sinks() {
  if (sinks.empty()) {
    auto s = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    s->set_level(spdlog::level::warn);
    sinks.push_back(s);
  }
  return sinks;
}
}  // namespace

void init(const options& opt) {
  std::lock_guard lk(mu);
  sinks.clear();
  process_name = opt.process;
  auto err = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  // Under systemd stderr is the journal (JOURNAL_STREAM): it gets what the file gets.
  const bool journal = std::getenv("JOURNAL_STREAM") != nullptr;
  err->set_level(spdlog::level::from_str(journal && opt.stderr_level == "warn" ? opt.file_level : opt.stderr_level));
  err->set_pattern("%^%l%$ [" + process_name + "/%n] %v");
  sinks.push_back(err);
  if (!opt.file.empty()) {
    try {
      auto f = std::make_shared<spdlog::sinks::basic_file_sink_mt>(opt.file, false);
      f->set_level(spdlog::level::from_str(opt.file_level));
      f->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l [" + process_name + ":%P/%n] %v");
      sinks.push_back(f);
    } catch (const spdlog::spdlog_ex& e) {
      err->log(spdlog::details::log_msg("log", spdlog::level::warn,
                                        std::string("cannot open log file: ") + e.what()));
    }
  }
  spdlog::drop_all();
}

void file_only(std::string_view logger, spdlog::level::level_enum level, std::string_view message) {
  std::lock_guard lk(mu);
  const spdlog::details::log_msg m(spdlog::string_view_t(logger.data(), logger.size()), level,
                                   spdlog::string_view_t(message.data(), message.size()));
  // sinks[0] is stderr (init); the rest are files.
  for (std::size_t i = 1; i < sinks.size(); ++i) {
    if (sinks[i]->should_log(level)) {
      // A full disk makes the file sink throw; the message still reaches the
      // user through whoever asked for file_only (a logger would swallow it
      // the same way).
      try {
        sinks[i]->log(m);
        sinks[i]->flush();
      } catch (const spdlog::spdlog_ex&) {
      }
    }
  }
}

std::shared_ptr<spdlog::logger> get(std::string_view name) {
  std::lock_guard lk(mu);
  std::string n{name};
  if (auto l = spdlog::get(n)) {
    return l;
  }
  auto& s = default_sinks();
  auto l = std::make_shared<spdlog::logger>(n, s.begin(), s.end());
  l->set_level(spdlog::level::trace);  // sinks filter
  // Every line reaches the file as it is logged. A process killed (kill -9,
  // the OOM killer) loses nothing it said: the lines just before the end are
  // the ones that say what it was doing (the report id it had spooled and
  // sent, an e2e test found missing). Few lines are logged, none per packet.
  l->flush_on(spdlog::level::trace);
  spdlog::register_logger(l);
  return l;
}

}  // namespace tapsense::log
