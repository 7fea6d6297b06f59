#include "supervisor/process.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace tapsense::supervisor {

pid_t spawn(const std::string& path, const std::vector<std::string>& args, const std::vector<int>& inherit) {
  std::vector<std::string> argv_s;
  argv_s.push_back(path);
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    throw std::system_error(errno, std::generic_category(), "fork");
  }
  if (pid == 0) {
    // Own process group: a Ctrl-C at the terminal reaches only the
    // supervisor, which drains the pipeline in order (capture first).
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) {
      ::_exit(127);  // the supervisor died between fork and prctl
    }
    // Default dispositions for the child; it installs its own handlers.
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    std::signal(SIGCHLD, SIG_DFL);
    // The child's own copy of each descriptor (the supervisor's keeps
    // FD_CLOEXEC, so nothing else it runs holds the locks).
    for (const int fd : inherit) {
      const int flags = ::fcntl(fd, F_GETFD);
      if (flags >= 0) ::fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
    }
    ::execv(path.c_str(), argv.data());
    const char* msg = "tapsense-supervisor: cannot execute stage binary\n";
    (void)!::write(2, msg, std::strlen(msg));
    ::_exit(127);
  }
  return pid;
}

std::optional<exit_status> reap() {
  int status = 0;
  const pid_t pid = ::waitpid(-1, &status, WNOHANG);
  if (pid <= 0) {
    return std::nullopt;
  }
  if (WIFSIGNALED(status)) {
    return exit_status{pid, true, WTERMSIG(status)};
  }
  return exit_status{pid, false, WIFEXITED(status) ? WEXITSTATUS(status) : 0};
}

std::string self_dir() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) {
    return ".";
  }
  return p.parent_path().string();
}

}  // namespace tapsense::supervisor
