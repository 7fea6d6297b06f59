#pragma once
// Child stage processes: spawn with a fixed argument vector (so a restart
// gets exactly the original configuration), reap without blocking.
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tapsense::supervisor {

struct exit_status {
  pid_t pid;
  bool signaled;  // killed by a signal (then `code` is the signal number)
  int code;
};

// fork + exec. The child gets PR_SET_PDEATHSIG(SIGTERM) so it never outlives
// us, and its own process group, so terminal signals reach only us. The
// descriptors in `inherit` (close-on-exec in the supervisor) stay open in
// the child: the run's locks, held until the last of its processes ends.
// Returns the pid or throws std::system_error.
pid_t spawn(const std::string& path, const std::vector<std::string>& args, const std::vector<int>& inherit = {});

// Reaps one exited child, if any.
std::optional<exit_status> reap();

// Directory of the running executable (where the stage binaries live).
std::string self_dir();

}  // namespace tapsense::supervisor
