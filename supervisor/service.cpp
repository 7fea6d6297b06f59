#include "supervisor/service.h"

#include <systemd/sd-daemon.h>

#include <cstdlib>

namespace tapsense::supervisor::service {

bool notifying() noexcept {
  const char* s = std::getenv("NOTIFY_SOCKET");
  return s != nullptr && *s != '\0';
}

std::uint64_t watchdog_ns() noexcept {
  std::uint64_t usec = 0;
  // 0 keeps the environment: a restarted (re-executed) supervisor still sees it.
  if (sd_watchdog_enabled(0, &usec) > 0) return usec * 1000;
  return 0;
}

void ready(const std::string& s) noexcept {
  const std::string msg = "READY=1\nSTATUS=" + s;
  sd_notify(0, msg.c_str());
}

void watchdog() noexcept { sd_notify(0, "WATCHDOG=1"); }

void status(const std::string& s) noexcept {
  const std::string msg = "STATUS=" + s;
  sd_notify(0, msg.c_str());
}

void stopping() noexcept { sd_notify(0, "STOPPING=1"); }

}  // namespace tapsense::supervisor::service
