#pragma once
// The supervisor as a systemd service (Type=notify): READY=1 once every stage
// said hello, WATCHDOG=1 only while every running stage answers, STATUS= for
// `systemctl status`, STOPPING=1 on the way out. Without NOTIFY_SOCKET (not
// started by systemd) every call does nothing.
#include <cstdint>
#include <string>

namespace tapsense::supervisor::service {

// True when systemd (or anything else) listens on NOTIFY_SOCKET.
bool notifying() noexcept;
// The watchdog interval systemd asked for (WatchdogSec), in nanoseconds; 0: none.
std::uint64_t watchdog_ns() noexcept;
void ready(const std::string& status) noexcept;
void watchdog() noexcept;
void status(const std::string& status) noexcept;
void stopping() noexcept;

}  // namespace tapsense::supervisor::service
