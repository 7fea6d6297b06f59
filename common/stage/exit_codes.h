#pragma once
// Process exit codes, shared by every tapsense binary (sysexits.h values where
// one fits). The supervisor restarts a stage that died by signal or with
// exit_software; it does not restart one that exited with a code a restart
// cannot fix (bad input, usage, configuration).
namespace tapsense::exit_code {
inline constexpr int ok = 0;
inline constexpr int input = 1;     // missing, unreadable or non-capture input file
inline constexpr int usage = 2;     // bad command line
inline constexpr int software = 70; // internal failure (EAL init, crash loop, ...)
inline constexpr int unavailable = 69;  // a needed resource is missing (NIC, data file)
inline constexpr int config = 78;   // bad configuration file
inline constexpr int no_space = 74; // a disk is full (offline: the run stops cleanly)
inline constexpr int busy = 75;     // another sensor holds this instance name or directory

constexpr bool restartable(int code) noexcept {
  // 80-90: the platform (or the proxy to it) refused or could not be reached (common/platform/client.h).
  return code != ok && code != input && code != usage && code != config && code != unavailable &&
         code != no_space && code != busy && !(code >= 80 && code <= 90);
}
}  // namespace tapsense::exit_code
