// Sensor event conditions (supervisor/conditions.h): raised once per
// transition, the drop ratio and reporting stall over a window of samples,
// and nic-check.py's --json verdict read back.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "supervisor/conditions.h"

namespace ts = tapsense::supervisor;

TEST(SupervisorConditions, RaisedOncePerTransitionAndClearedOnce) {
  std::vector<std::string> raised;
  ts::conditions c([&](const std::string& e, const std::string& m, const std::string&, const std::string&) {
    raised.push_back(e + "/" + m);
  });
  EXPECT_FALSE(c.set("Drops Above Threshold", "capture", false, "warning", ""));
  EXPECT_TRUE(c.set("Drops Above Threshold", "capture", true, "warning", "x"));
  EXPECT_FALSE(c.set("Drops Above Threshold", "capture", true, "warning", "x"));  // still on: not again
  EXPECT_TRUE(c.active("Drops Above Threshold", "capture"));
  EXPECT_FALSE(c.active("Drops Above Threshold", "uplink"));
  c.set("Drops Above Threshold", "capture", false, "warning", "");
  c.set("Drops Above Threshold", "capture", false, "warning", "");
  EXPECT_TRUE(c.set("Drops Above Threshold", "capture", true, "warning", "again"));
  ASSERT_EQ(raised.size(), 3u);
  EXPECT_EQ(raised[0], "Drops Above Threshold/capture");
  EXPECT_EQ(raised[1], "Drops Above Threshold Cleared/capture");
  EXPECT_EQ(raised[2], "Drops Above Threshold/capture");
}

TEST(SupervisorConditions, DropRatioOverTheWindow) {
  ts::traffic_watch w;
  constexpr std::uint64_t s = 1'000'000'000ULL;
  EXPECT_LT(w.drop_ratio(10 * s, 100), 0);  // nothing yet
  for (std::uint64_t i = 0; i <= 20; ++i) {
    // 1000 packets a second; 100 drops a second during seconds 5..9 only.
    const std::uint64_t drops = i < 5 ? 0 : (i < 10 ? (i - 4) * 100 : 500);
    w.add({i * s, i * 1000, drops, i});
    if (i == 9) {
      EXPECT_NEAR(w.drop_ratio(10 * s, 100), 500.0 / 9500.0, 1e-9);
    }
  }
  // The last 10 s (seconds 10..20) have no drops.
  EXPECT_DOUBLE_EQ(w.drop_ratio(10 * s, 100), 0.0);
  EXPECT_LT(w.drop_ratio(10 * s, 1'000'000), 0);  // too little traffic to say
  // A restarted stage counts from 0 again: no ratio from that pair.
  w.add({21 * s, 10, 0, 21});
  EXPECT_LT(w.drop_ratio(0, 1), 0);
}

TEST(SupervisorConditions, ReportingStallNeedsNewPackets) {
  ts::traffic_watch w;
  constexpr std::uint64_t s = 1'000'000'000ULL;
  w.add({0, 100, 0, 5});
  w.add({10 * s, 100, 0, 5});  // idle wire: not a stall
  EXPECT_EQ(w.reporting_stalled_ns(), 0u);
  w.add({20 * s, 500, 0, 5});  // packets, no report since t=0
  EXPECT_EQ(w.reporting_stalled_ns(), 20 * s);
  w.add({25 * s, 600, 0, 6});  // a report
  EXPECT_EQ(w.reporting_stalled_ns(), 0u);
}

TEST(SupervisorConditions, NicCheckVerdicts) {
  // nic-check.py --json's layout (json.dump, indent 2), from a stand-in script.
  const auto dir = std::filesystem::temp_directory_path() / ("tsnic" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto script = (dir / "nic-check.py").string();
  {
    std::ofstream f(script);
    f << "import json, sys\n"
         "rows = [dict(address='0000:00:04.0', vendor='8086', device='100e', driver='e1000', interfaces=['ens4'],\n"
         "             pmd='net_e1000_em', status='driver change required'),\n"
         "        dict(address='0000:00:05.0', vendor='1af4', device='1000', driver='vfio-pci', interfaces=[],\n"
         "             pmd='net_virtio', status='ready')]\n"
         "rows = [r for r in rows if r['address'] in sys.argv[1:]]\n"
         "json.dump(rows, sys.stdout, indent=2)\nprint()\n";
  }
  const auto need = ts::nics_needing_driver_change(script, {"0000:00:04.0", "0000:00:05.0", "bad;rm -rf /"});
  ASSERT_EQ(need.size(), 1u);
  EXPECT_EQ(need[0], "0000:00:04.0");
  EXPECT_TRUE(ts::nics_needing_driver_change(script, {"0000:00:05.0"}).empty());
  EXPECT_TRUE(ts::nics_needing_driver_change((dir / "missing.py").string(), {"0000:00:04.0"}).empty());
  std::filesystem::remove_all(dir);
}
