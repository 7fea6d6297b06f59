#include "supervisor/instance.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;

namespace tapsense::supervisor {

namespace {
constexpr const char* shm_dir = "/dev/shm";
constexpr const char* prefix = "tapsense.";
constexpr const char* lock_suffix = ".lock";

bool ends_with(const std::string& s, const std::string& t) {
  return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}

std::string read_all(int fd) {
  std::string out;
  char buf[512];
  ::lseek(fd, 0, SEEK_SET);
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

// Whether `pid` (a lock file's text) is another supervisor that runs: not
// one that is gone (or a zombie), not a pid the kernel has given to some
// other program since, and not this one (before it re-executed itself, with
// a stage of that run still ending). Whoever can open the lock file for
// writing (its owner, root) can read that process's /proc/<pid>/exe.
bool other_supervisor_runs(const std::string& pid) {
  if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) return false;
  if (pid == std::to_string(::getpid())) return false;
  std::error_code ec;
  const auto exe = fs::read_symlink("/proc/" + pid + "/exe", ec);
  return !ec && exe.filename().string().rfind("tapsense-supervisor", 0) == 0;
}

std::string line_of(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) {
    if (l.rfind(key + "=", 0) == 0) return l.substr(key.size() + 1);
  }
  return {};
}
}  // namespace

held_lock& held_lock::operator=(held_lock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

held_lock::~held_lock() {
  if (fd_ >= 0) ::close(fd_);
}

std::string instance_lock_path(const std::string& instance) {
  return std::string(shm_dir) + "/" + prefix + instance + lock_suffix;
}

std::vector<int> processes_holding(const std::string& path) {
  std::vector<int> out;
  std::error_code ec;
  for (const auto& p : fs::directory_iterator("/proc", ec)) {
    const std::string name = p.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::error_code e2;
    for (const auto& f : fs::directory_iterator(p.path() / "fd", e2)) {
      std::error_code e3;
      if (fs::read_symlink(f.path(), e3) == path) {
        out.push_back(std::atoi(name.c_str()));
        break;
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

namespace {
// What waiting for a lock came to.
struct lock_wait {
  bool taken = false;
  bool supervisor = false;  // a supervisor that runs holds it: not waited for
  std::string pids;         // patience ran out: the processes that still hold it
};

// flock()s `fd` (the open `path`). Held by a supervisor that runs
// (`supervisor_holds`): given up at once. Held by anything else (the stages of
// a supervisor that died, or one still exiting after kill -9, ending their
// run): `say_wait` once, then retried until `patience` has passed.
lock_wait take_when_free(int fd, const std::string& path, const std::function<bool()>& supervisor_holds,
                         const std::function<void()>& say_wait, std::chrono::milliseconds patience) {
  const auto deadline = std::chrono::steady_clock::now() + patience;
  bool told = false;
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (supervisor_holds()) return {false, true, {}};
    if (std::chrono::steady_clock::now() >= deadline) {
      lock_wait w;
      for (const int p : processes_holding(path)) {
        if (p != ::getpid()) w.pids += (w.pids.empty() ? "" : " ") + std::to_string(p);  // not this start's
      }
      return w;
    }
    if (!told && say_wait) say_wait();
    told = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return {true, false, {}};
}

std::string seconds(std::chrono::milliseconds d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(d).count());
}
}  // namespace

held_lock lock_instance(const std::string& instance, const std::string& run_dir, bool private_run_dir,
                        std::string& why, const std::function<void(const std::string&)>& waiting,
                        std::chrono::milliseconds patience) {
  const std::string path = instance_lock_path(instance);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    why = "cannot create " + path + ": " + std::strerror(errno);
    return {};
  }
  std::string pid;  // the lock file's: the supervisor that took it last
  const auto w = take_when_free(
      fd, path,
      [&] {
        pid = line_of(read_all(fd), "pid");
        return other_supervisor_runs(pid);
      },
      [&] {
        if (waiting) {
          waiting("instance '" + instance + "': its previous supervisor" + (pid.empty() ? "" : " (pid " + pid + ")") +
                  " died; waiting for the stages it started to end their run");
        }
      },
      patience);
  if (w.supervisor) {
    why = "another sensor runs as instance '" + instance + "'" + (pid.empty() ? "" : " (pid " + pid + ")") +
          "; stop it, or give this one another sensor.name or --instance";
  } else if (!w.taken) {
    why = "instance '" + instance + "': the stages of its previous run still run " + seconds(patience) +
          " s after their supervisor" + (pid.empty() ? "" : " (pid " + pid + ")") + " died" +
          (w.pids.empty() ? "" : " (pids " + w.pids + ")") +
          "; stop them, or give this sensor another sensor.name or --instance";
  }
  if (!w.taken) {
    ::close(fd);
    return {};
  }
  const std::string text = "pid=" + std::to_string(::getpid()) + "\nrun_dir=" + run_dir +
                           "\nprivate_run_dir=" + (private_run_dir ? "1" : "0") + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
    why = "cannot write " + path + ": " + std::strerror(errno);
    ::close(fd);
    return {};
  }
  return held_lock(fd);
}

held_lock lock_directory(const std::string& dir, const std::string& what, std::string& why,
                         const std::function<void(const std::string&)>& waiting,
                         std::chrono::milliseconds patience) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    why = "cannot open " + what + " " + dir + ": " + std::strerror(errno);
    return {};
  }
  // No pid is written in a directory: its holders are found by the name
  // /proc/<pid>/fd gives it.
  std::error_code ec;
  const std::string seen_as = fs::read_symlink("/proc/self/fd/" + std::to_string(fd), ec).string();
  const auto w = take_when_free(
      fd, seen_as,
      [&] {
        for (const int p : processes_holding(seen_as)) {
          if (other_supervisor_runs(std::to_string(p))) return true;
        }
        return false;
      },
      [&] {
        if (waiting) {
          waiting(what + " " + dir +
                  ": the run that used it lost its supervisor; waiting for its stages to end their run");
        }
      },
      patience);
  if (w.supervisor) {
    why = "another tapsense run is using " + what + " " + dir + "; wait for it or choose another directory";
  } else if (!w.taken) {
    why = "another tapsense run is using " + what + " " + dir + ": the stages of a run whose supervisor died" +
          " still use it " + seconds(patience) + " s later" + (w.pids.empty() ? "" : " (pids " + w.pids + ")") +
          "; stop them, or choose another directory";
  }
  if (!w.taken) {
    ::close(fd);
    return {};
  }
  return held_lock(fd);
}

unsigned remove_segments(const std::string& instance, std::uint64_t* bytes) {
  const std::string head = std::string(prefix) + instance + ".";
  unsigned n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(shm_dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(head, 0) != 0 || ends_with(name, lock_suffix)) continue;
    std::error_code e2;
    const auto size = e.file_size(e2);
    if (fs::remove(e.path(), e2)) {
      ++n;
      if (bytes != nullptr && !e2) *bytes += size;
    }
  }
  return n;
}

reclaimed_dirs remove_dpdk_runtime_dirs(const std::string& self, const std::string& root) {
  std::string dir = root;
  if (dir.empty()) {
    const char* xdg = std::getenv("XDG_RUNTIME_DIR");
    dir = ::getuid() == 0 ? "/var/run/dpdk" : std::string(xdg != nullptr && *xdg != '\0' ? xdg : "/tmp") + "/dpdk";
  }
  const std::string head = "tapsense-";
  reclaimed_dirs r;
  std::error_code ec;
  std::vector<fs::path> dead;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(head, 0) != 0) continue;
    const std::string inst = name.substr(head.size());
    if (!inst.empty() && inst != self) {
      // Alive while its supervisor holds the instance lock.
      const int fd = ::open(instance_lock_path(inst).c_str(), O_RDWR | O_CLOEXEC);
      if (fd >= 0) {
        const bool held = ::flock(fd, LOCK_EX | LOCK_NB) != 0;
        ::close(fd);
        if (held) continue;
      }
    }
    dead.push_back(e.path());
  }
  for (const auto& p : dead) {
    std::uint64_t bytes = 0;
    std::error_code e2;
    for (const auto& f : fs::directory_iterator(p, e2)) {
      std::error_code e3;
      if (f.is_regular_file(e3)) bytes += f.file_size(e3);
    }
    if (fs::remove_all(p, e2) > 0 && !e2) {
      ++r.dirs;
      r.bytes += bytes;
    }
  }
  return r;
}

reclaimed reclaim_dead_instances(const std::string& self) {
  reclaimed r;
  std::error_code ec;
  std::vector<fs::path> locks;
  for (const auto& e : fs::directory_iterator(shm_dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) == 0 && ends_with(name, lock_suffix)) locks.push_back(e.path());
  }
  for (const auto& p : locks) {
    const std::string name = p.filename().string();
    const std::string inst = name.substr(std::strlen(prefix), name.size() - std::strlen(prefix) - std::strlen(lock_suffix));
    if (inst == self) continue;
    const int fd = ::open(p.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) continue;
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);  // alive
      continue;
    }
    const std::string text = read_all(fd);
    r.segments += remove_segments(inst, &r.bytes);
    const std::string run_dir = line_of(text, "run_dir");
    if (line_of(text, "private_run_dir") == "1" && !run_dir.empty()) {
      std::error_code e2;
      fs::remove_all(run_dir, e2);
    } else if (!run_dir.empty()) {
      std::error_code e2;
      fs::remove(fs::path(run_dir) / "control.sock", e2);
    }
    ::unlink(p.c_str());
    ::close(fd);
    ++r.instances;
    r.names.push_back(inst);
  }
  return r;
}

std::optional<std::uint64_t> free_bytes(const std::string& path) {
  struct statvfs v{};
  if (::statvfs(path.c_str(), &v) != 0) return std::nullopt;
  return static_cast<std::uint64_t>(v.f_bavail) * v.f_frsize;
}

}  // namespace tapsense::supervisor
