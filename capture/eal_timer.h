#pragma once
// EAL's TSC calibration, shortened (eal_timer.cpp).
namespace tapsense::capture {

// Around rte_eal_init(): while set, EAL's one 100 ms calibration sleep lasts
// 10 ms.
void eal_calibration(bool on) noexcept;

}  // namespace tapsense::capture
