#include "capture/eal_timer.h"

#include <time.h>

#include <atomic>
#include <cerrno>

// DPDK 22.11's EAL needs the TSC's frequency (rte_get_tsc_hz). It asks the
// CPU (CPUID leaf 0x15, or MSR_PLATFORM_INFO through /dev/cpu/N/msr), and
// where neither answers, as in the VMs this sensor often runs in (this
// machine's included), it measures: two (rdtsc, CLOCK_MONOTONIC_RAW)
// readings around nanosleep() of 100 ms, the quotient rounded to 10 MHz
// (lib/eal/linux/eal_timer.c, get_tsc_freq). Those 100 ms were half of
// capture's start, the time before a file's first packet moves while the
// other stages wait. EAL has no option for the frequency, and the sleep is a
// libc call, so the capture executable defines nanosleep(), which EAL,
// linked in statically (capture/CMakeLists.txt), calls: inside rte_eal_init() a
// request of exactly 100 ms sleeps 10 ms. The measurement stays a
// measurement: the quotient is of the time that really passed, and the
// error of the readings' own cost (well under a microsecond) is 1e-4 of 10
// ms, far inside the 10 MHz rounding. Every other call sleeps as asked.
namespace {
std::atomic<bool> calibrating{false};
}

namespace tapsense::capture {

void eal_calibration(bool on) noexcept { calibrating.store(on, std::memory_order_relaxed); }

}  // namespace tapsense::capture

extern "C" int nanosleep(const timespec* req, timespec* rem) noexcept {
  timespec shorter{};
  if (calibrating.load(std::memory_order_relaxed) && req != nullptr && req->tv_sec == 0 &&
      req->tv_nsec == 100'000'000) {
    shorter.tv_nsec = 10'000'000;
    req = &shorter;
  }
  // nanosleep() is clock_nanosleep() on CLOCK_REALTIME, with errno.
  if (const int err = clock_nanosleep(CLOCK_REALTIME, 0, req, rem); err != 0) {
    errno = err;
    return -1;
  }
  return 0;
}
