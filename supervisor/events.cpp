#include "supervisor/events.h"

#include <chrono>
#include <fstream>

#include "common/util/json.h"
#include "common/util/time.h"

namespace tapsense::supervisor {

bool event_log::raise(const std::string& event, const std::string& module, const std::string& type,
                      const std::string& detail) noexcept {
  try {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    std::string line = "{\"time\": ";
    util::json_writer::append_escaped(line, util::rfc3339(static_cast<std::uint64_t>(
                                                std::chrono::duration_cast<std::chrono::nanoseconds>(now).count())));
    line += ", \"event\": ";
    util::json_writer::append_escaped(line, event);
    line += ", \"module\": ";
    util::json_writer::append_escaped(line, module);
    line += ", \"type\": ";
    util::json_writer::append_escaped(line, type);
    line += ", \"detail\": ";
    util::json_writer::append_escaped(line, detail);
    line += "}\n";
    std::ofstream f(path_, std::ios::app);
    f << line;
    return static_cast<bool>(f);
  } catch (...) {
    return false;
  }
}

}  // namespace tapsense::supervisor
