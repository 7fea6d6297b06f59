#pragma once
// Sensor events (the guide's Events tab: event, count, module, type, time
// range), appended as JSON lines to <state_dir>/events.jsonl:
//   {"time": "2026-12-04T21:00:00.000000Z", "event": "Stage Crash Loop",
//    "module": "fingerprinter.0", "type": "error", "detail": "..."}
// Times are wall clock (UTC). The platform sink reads the same records.
#include <string>

namespace tapsense::supervisor {

class event_log {
 public:
  explicit event_log(std::string path) : path_(std::move(path)) {}
  // Appends one event; returns false (and never throws) if it cannot be written.
  bool raise(const std::string& event, const std::string& module, const std::string& type,
             const std::string& detail) noexcept;
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

}  // namespace tapsense::supervisor
