// supervisor/instance.cpp: what earlier captures left in DPDK's runtime
// directory is removed, but never a live sensor's; a start waits for the
// stages of a supervisor that died, for a while.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>

#include <filesystem>
#include <functional>
#include <fstream>
#include <string>
#include <vector>

#include "supervisor/instance.h"

namespace fs = std::filesystem;
namespace sv = tapsense::supervisor;

namespace {

void write(const fs::path& p, std::size_t bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << std::string(bytes, 'x');
}

TEST(DpdkRuntimeDirs, DeadInstancesAndOurOwnGoLiveOnesAndOthersStay) {
  const fs::path root = fs::temp_directory_path() / ("tapsense-dpdk-root-" + std::to_string(::getpid()));
  fs::remove_all(root);
  const std::string live = "tsunitlive" + std::to_string(::getpid());
  const std::string self = "tsunitself" + std::to_string(::getpid());
  write(root / "tapsense-tsunitdead" / "config", 100);
  write(root / "tapsense-tsunitdead" / "fbarray_nohugemem", 1000);
  write(root / ("tapsense-" + self) / "config", 10);
  fs::create_directories(root / "tapsense-");  // a standalone capture's, empty
  write(root / "other-app" / "config", 5);     // not ours
  write(root / ("tapsense-" + live) / "config", 7);

  std::string why;
  auto lock = sv::lock_instance(live, "/tmp/" + live, false, why);
  ASSERT_TRUE(lock.held()) << why;

  const auto r = sv::remove_dpdk_runtime_dirs(self, root.string());
  EXPECT_EQ(r.dirs, 3u);
  EXPECT_EQ(r.bytes, 1110u);
  EXPECT_FALSE(fs::exists(root / "tapsense-tsunitdead"));
  EXPECT_FALSE(fs::exists(root / ("tapsense-" + self)));
  EXPECT_FALSE(fs::exists(root / "tapsense-"));
  EXPECT_TRUE(fs::exists(root / "other-app" / "config"));
  EXPECT_TRUE(fs::exists(root / ("tapsense-" + live) / "config"));  // its supervisor holds the lock

  // The live one's supervisor gone: its directory goes at the next start.
  lock = sv::held_lock{};
  const auto later = sv::remove_dpdk_runtime_dirs(self, root.string());
  EXPECT_EQ(later.dirs, 1u);
  EXPECT_FALSE(fs::exists(root / ("tapsense-" + live)));

  ::unlink(sv::instance_lock_path(live).c_str());
  fs::remove_all(root);
}

// A run whose supervisor died while a stage holds one of its locks: the
// supervisor (A) takes the lock (`take`) and starts a stage (B) that inherits
// it, as spawn() does, then A exits. B holds the lock for `hold_ms`. Returns
// B's pid once it holds `path` (the lock's file or directory) alone (A reaped).
pid_t orphaned_holder(const std::function<sv::held_lock()>& take, const std::string& path, int hold_ms) {
  int ready[2];
  if (::pipe(ready) != 0) return -1;
  const pid_t a = ::fork();
  if (a == 0) {
    auto lock = take();
    if (!lock.held()) ::_exit(1);
    ::fcntl(lock.fd(), F_SETFD, 0);
    if (::fork() == 0) {
      (void)!::write(ready[1], "x", 1);
      ::usleep(static_cast<useconds_t>(hold_ms) * 1000);
      ::_exit(0);
    }
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(a, &status, 0);
  char c = 0;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || ::read(ready[0], &c, 1) != 1) return -1;
  ::close(ready[0]);
  ::close(ready[1]);
  const auto holders = sv::processes_holding(path);
  return holders.size() == 1 ? holders.front() : -1;
}

pid_t orphaned_run(const std::string& instance, int hold_ms) {
  return orphaned_holder(
      [&] {
        std::string why;
        return sv::lock_instance(instance, "/tmp/" + instance, false, why);
      },
      sv::instance_lock_path(instance), hold_ms);
}

// The same for a directory lock (output, state, platform state).
pid_t orphaned_dir_run(const std::string& dir, int hold_ms) {
  return orphaned_holder(
      [&] {
        std::string why;
        return sv::lock_directory(dir, "output directory", why);
      },
      dir, hold_ms);
}

TEST(InstanceLock, AStartWaitsForTheStagesOfADeadSupervisor) {
  const std::string inst = "tsunitwait" + std::to_string(::getpid());
  const pid_t stage = orphaned_run(inst, 400);
  ASSERT_GT(stage, 0);
  std::vector<std::string> said;
  std::string why;
  const auto t0 = std::chrono::steady_clock::now();
  auto lock = sv::lock_instance(inst, "/tmp/" + inst, false, why, [&](const std::string& l) { said.push_back(l); },
                                std::chrono::seconds(20));
  const auto waited = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(lock.held()) << why;
  EXPECT_GE(waited, std::chrono::milliseconds(100));  // B held it for 400 ms from its start
  ASSERT_EQ(said.size(), 1u);
  EXPECT_NE(said[0].find("instance '" + inst + "': its previous supervisor (pid "), std::string::npos) << said[0];
  EXPECT_NE(said[0].find("waiting for the stages it started to end their run"), std::string::npos) << said[0];
  EXPECT_TRUE(sv::processes_holding(sv::instance_lock_path(inst)) == std::vector<int>{::getpid()});
  lock = sv::held_lock{};
  ::unlink(sv::instance_lock_path(inst).c_str());
}

TEST(InstanceLock, StagesThatDoNotEndAreNamedAfterThePatience) {
  const std::string inst = "tsunitstuck" + std::to_string(::getpid());
  const pid_t stage = orphaned_run(inst, 20000);
  ASSERT_GT(stage, 0);
  std::string why;
  int told = 0;
  auto lock = sv::lock_instance(inst, "/tmp/" + inst, false, why, [&](const std::string&) { ++told; },
                                std::chrono::milliseconds(300));
  EXPECT_FALSE(lock.held());
  EXPECT_EQ(told, 1);
  EXPECT_NE(why.find("the stages of its previous run still run 0 s after their supervisor (pid "), std::string::npos)
      << why;
  EXPECT_NE(why.find("(pids " + std::to_string(stage) + ")"), std::string::npos) << why;
  ::kill(stage, SIGKILL);
  for (int i = 0; i < 200 && !sv::processes_holding(sv::instance_lock_path(inst)).empty(); ++i) ::usleep(10000);
  lock = sv::lock_instance(inst, "/tmp/" + inst, false, why, {}, std::chrono::seconds(5));
  EXPECT_TRUE(lock.held()) << why;
  lock = sv::held_lock{};
  ::unlink(sv::instance_lock_path(inst).c_str());
}

// kill -9 of a whole sensor and a start right after: a stage still exiting
// holds the output directory for a moment. The start waits for it, as for
// the instance lock, instead of refusing ("another tapsense run is using").
TEST(DirectoryLock, AStartWaitsForTheStagesOfADeadSupervisor) {
  const fs::path dir = fs::temp_directory_path() / ("tapsense-dirlock-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const pid_t stage = orphaned_dir_run(dir.string(), 400);
  ASSERT_GT(stage, 0);
  std::vector<std::string> said;
  std::string why;
  const auto t0 = std::chrono::steady_clock::now();
  auto lock = sv::lock_directory(dir.string(), "output directory", why,
                                 [&](const std::string& l) { said.push_back(l); }, std::chrono::seconds(20));
  const auto waited = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(lock.held()) << why;
  EXPECT_GE(waited, std::chrono::milliseconds(100));  // B held it for 400 ms from its start
  ASSERT_EQ(said.size(), 1u);
  EXPECT_EQ(said[0], "output directory " + dir.string() +
                         ": the run that used it lost its supervisor; waiting for its stages to end their run");
  lock = sv::held_lock{};
  fs::remove_all(dir);
}

TEST(DirectoryLock, StagesThatDoNotEndAreNamedAfterThePatience) {
  const fs::path dir = fs::temp_directory_path() / ("tapsense-dirstuck-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const pid_t stage = orphaned_dir_run(dir.string(), 20000);
  ASSERT_GT(stage, 0);
  std::string why;
  int told = 0;
  auto lock = sv::lock_directory(dir.string(), "state directory", why, [&](const std::string&) { ++told; },
                                 std::chrono::milliseconds(300));
  EXPECT_FALSE(lock.held());
  EXPECT_EQ(told, 1);
  EXPECT_EQ(why, "another tapsense run is using state directory " + dir.string() +
                     ": the stages of a run whose supervisor died still use it 0 s later (pids " +
                     std::to_string(stage) + "); stop them, or choose another directory");
  ::kill(stage, SIGKILL);
  for (int i = 0; i < 200 && !sv::processes_holding(dir.string()).empty(); ++i) ::usleep(10000);
  lock = sv::lock_directory(dir.string(), "state directory", why, {}, std::chrono::seconds(5));
  EXPECT_TRUE(lock.held()) << why;
  lock = sv::held_lock{};
  fs::remove_all(dir);
}

TEST(DpdkRuntimeDirs, NoDirectoryNothingRemoved) {
  const auto r = sv::remove_dpdk_runtime_dirs("x", "/nonexistent/tapsense-test-root");
  EXPECT_EQ(r.dirs, 0u);
  EXPECT_EQ(r.bytes, 0u);
}

}  // namespace
