#include "common/util/resources.h"

#include <sys/resource.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace tapsense::util {

std::uint64_t peak_rss_kib() noexcept {
  if (FILE* f = std::fopen("/proc/self/status", "re")) {
    char line[256];
    unsigned long long kib = 0;
    bool found = false;
    while (!found && std::fgets(line, sizeof line, f) != nullptr) {
      found = std::strncmp(line, "VmHWM:", 6) == 0 && std::sscanf(line + 6, "%llu", &kib) == 1;
    }
    std::fclose(f);
    if (found) return kib;
  }
  rusage ru{};
  return ::getrusage(RUSAGE_SELF, &ru) == 0 ? static_cast<std::uint64_t>(ru.ru_maxrss) : 0;
}

std::string resources_summary() {
  rusage ru{};
  if (::getrusage(RUSAGE_SELF, &ru) != 0) ru = rusage{};
  auto secs = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
  char buf[128];
  std::snprintf(buf, sizeof buf, "peak_rss_kib=%llu user_s=%.3f sys_s=%.3f",
                static_cast<unsigned long long>(peak_rss_kib()), secs(ru.ru_utime), secs(ru.ru_stime));
  return buf;
}

}  // namespace tapsense::util
