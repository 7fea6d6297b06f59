#pragma once
// Named loggers ("capture.rx", "aggregator.flow") over one shared sink set:
// stderr (warnings and up unless configured otherwise) and, when a log file
// is configured, that file. Logging is for lifecycle and problems; per-packet
// events are counted, never logged. Debug logging is compiled out of release
// builds (SPDLOG_ACTIVE_LEVEL).
#include <memory>
#include <string>
#include <string_view>

#ifndef SPDLOG_ACTIVE_LEVEL
#ifdef NDEBUG
#define SPDLOG_ACTIVE_LEVEL SPDLOG_LEVEL_INFO
#else
#define SPDLOG_ACTIVE_LEVEL SPDLOG_LEVEL_DEBUG
#endif
#endif
#include <spdlog/spdlog.h>

namespace tapsense::log {

struct options {
  std::string process;           // shown in every line: "capture", "aggregator.0"
  std::string stderr_level = "warn";
  std::string file;              // empty: no file sink
  std::string file_level = "info";
};

// Call once at process start; safe to call again (replaces the sinks).
void init(const options& opt);
// A named logger sharing the process sinks. Cheap to call once and keep.
std::shared_ptr<spdlog::logger> get(std::string_view name);
// Writes one line to the log file only (not stderr): for a message somebody
// else will show the user, such as a stage's fatal error, which its
// supervisor prints once itself.
void file_only(std::string_view logger, spdlog::level::level_enum level, std::string_view message);

}  // namespace tapsense::log
