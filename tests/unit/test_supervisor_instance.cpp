// supervisor/instance.cpp: what earlier captures left in DPDK's runtime
// directory is removed, but never a live sensor's.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

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

TEST(DpdkRuntimeDirs, NoDirectoryNothingRemoved) {
  const auto r = sv::remove_dpdk_runtime_dirs("x", "/nonexistent/tapsense-test-root");
  EXPECT_EQ(r.dirs, 0u);
  EXPECT_EQ(r.bytes, 0u);
}

}  // namespace
