#include "common/util/resources.h"

#include <sys/resource.h>

#include <cstdio>
#include <cstring>

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

}  // namespace tapsense::util
