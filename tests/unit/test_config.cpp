#include <gtest/gtest.h>

#include "common/config/classifier.h"
#include "common/config/config.h"

using namespace tapsense::config;

namespace {
config_error expect_error(const std::string& text) {
  try {
    parse(text, "test.toml");
  } catch (const config_error& e) {
    return e;
  }
  ADD_FAILURE() << "no error for:\n" << text;
  return config_error("", 0, 0, "");
}
}  // namespace

TEST(Config, SyntaxErrorHasLineAndColumn) {
  const auto e = expect_error("[sensor]\nname = \"x\"\ncores = = 3\n");
  EXPECT_EQ(e.line, 3u);
  EXPECT_GT(e.column, 0u);
  EXPECT_NE(std::string(e.what()).find("test.toml:3:"), std::string::npos) << e.what();
}

TEST(Config, UnknownKeyIsAnError) {
  const auto e = expect_error("[aggregator]\nshards = 2\nflow_tabel = 100\n");
  EXPECT_EQ(e.line, 3u);
  EXPECT_NE(e.message.find("aggregator.flow_tabel"), std::string::npos) << e.message;
}

TEST(Config, WrongTypeIsAnError) {
  const auto e = expect_error("[capture]\nsnaplen = \"big\"\n");
  EXPECT_EQ(e.line, 2u);
  EXPECT_NE(e.message.find("integer"), std::string::npos);
}

TEST(Config, OutOfRangeIsAnError) {
  const auto e = expect_error("[capture]\nsnaplen = 10\n");
  EXPECT_NE(e.message.find("between"), std::string::npos);
}

TEST(Config, BadRangePointsAtTheElement) {
  const auto e = expect_error("[[internal]]\nname = \"lab\"\nranges = [\"10.0.0.0/8\",\n  \"10.1.2.3/16\"]\n");
  EXPECT_EQ(e.line, 4u);
  EXPECT_EQ(e.column, 3u);
  EXPECT_NE(e.message.find("host bits"), std::string::npos) << e.message;
}

TEST(Config, BadDuration) {
  const auto e = expect_error("[aggregator]\nflow_interval = \"soon\"\n");
  EXPECT_NE(e.message.find("duration"), std::string::npos);
}

TEST(Config, DefaultsHaveTheDefaultInternalRanges) {
  const auto c = defaults();
  ASSERT_EQ(c.internal.size(), 1u);
  EXPECT_TRUE(c.internal[0].inventory);
  EXPECT_EQ(c.internal[0].ranges, (std::vector<std::string>{"default"}));
  EXPECT_EQ(c.aggregator.flow_interval_s, 1800u);
  EXPECT_EQ(c.aggregator.asset_interval_s, 300u);
}

TEST(Config, InternalGroupsReplaceTheDefault) {
  const auto c = parse(
      "[[internal]]\nname = \"branch A\"\nranges = [\"10.10.10.0/24\"]\n"
      "[[internal]]\nname = \"branch B\"\ninventory = false\nranges = [\"10.20.20.0/24\"]\n",
      "t.toml");
  ASSERT_EQ(c.internal.size(), 2u);
  EXPECT_FALSE(c.internal[1].inventory);
}

TEST(Config, DurationsAcceptUnits) {
  const auto c = parse("[aggregator]\nflow_interval = \"10m\"\nasset_interval = 60\n", "t.toml");
  EXPECT_EQ(c.aggregator.flow_interval_s, 600u);
  EXPECT_EQ(c.aggregator.asset_interval_s, 60u);
}

TEST(Config, EffectiveConfigRoundTrips) {
  auto c = parse("[sensor]\nname = \"lab\"\n[capture]\npcap = [\"/tmp/a b,c.pcap\"]\n"
                 "[[internal]]\nname = \"x\"\nranges = [\"10.0.0.0/8\", \"10.0.0.1-10.0.0.9\"]\n",
                 "t.toml");
  c.aggregator.shards = 3;
  const auto again = parse(to_toml(c), "effective.toml");
  EXPECT_EQ(again.sensor.name, "lab");
  EXPECT_EQ(again.capture.pcap, c.capture.pcap);
  EXPECT_EQ(again.aggregator.shards, 3u);
  EXPECT_EQ(again.internal[0].ranges, c.internal[0].ranges);
}

TEST(Config, MissingFile) {
  try {
    load("/nonexistent/tapsense.toml");
    FAIL();
  } catch (const config_error& e) {
    EXPECT_NE(e.message.find("cannot read"), std::string::npos);
  }
}

TEST(Config, InterfaceDriverAndErspanAddress) {
  auto e = expect_error("[[capture.interface]]\nname = \"x.pcap\"\ndriver = \"pcap\"\n");
  EXPECT_EQ(e.line, 3u);
  EXPECT_NE(e.message.find("capture.pcap"), std::string::npos) << e.message;
  e = expect_error("[[capture.interface]]\nname = \"eth1\"\nmode = \"erspan\"\n");
  EXPECT_NE(e.message.find("erspan_address"), std::string::npos) << e.message;
  e = expect_error("[[capture.interface]]\nname = \"eth1\"\nmode = \"erspan\"\nerspan_address = \"10.0.0.0/24\"\n");
  EXPECT_EQ(e.line, 4u);
  const auto c = parse("[[capture.interface]]\nname = \"eth1\"\nmode = \"erspan\"\nerspan_address = \"10.9.8.7\"\n",
                       "ok.toml");
  ASSERT_EQ(c.capture.interfaces.size(), 1u);
  EXPECT_EQ(c.capture.interfaces[0].erspan_address, "10.9.8.7");
  EXPECT_EQ(c.capture.interfaces[0].driver, "af_packet");
}

// A non-inventoried range inside inventoried ones changes nothing
// (inventoried ranks above it): the configuration says so, as it does for
// overlapping inventoried groups, and only where it applies.
TEST(Config, NonInventoriedInsideInventoriedWarns) {
  const std::string text =
      "[[internal]]\nname = \"office\"\nranges = [\"10.0.0.0/8\", \"11.0.0.0/8\"]\n"
      "[[internal]]\nname = \"guests\"\ninventory = false\nranges = [\"10.1.0.0/16\", \"192.168.5.0/24\"]\n"
      "[[internal]]\nname = \"lab\"\ninventory = false\nranges = [\"10.255.0.0-11.0.255.255\"]\n";
  const auto c = parse(text, "w.toml");
  ASSERT_EQ(c.warnings.size(), 2u) << (c.warnings.empty() ? "" : c.warnings[0]);
  EXPECT_NE(c.warnings[0].find("w.toml:4:"), std::string::npos) << c.warnings[0];
  EXPECT_NE(c.warnings[0].find("10.1.0.0/16"), std::string::npos) << c.warnings[0];
  EXPECT_NE(c.warnings[0].find("'office'"), std::string::npos) << c.warnings[0];
  EXPECT_NE(c.warnings[0].find("no effect"), std::string::npos) << c.warnings[0];
  EXPECT_EQ(c.warnings[0].find("192.168.5.0/24"), std::string::npos) << c.warnings[0];
  // Covered by two inventoried ranges together.
  EXPECT_NE(c.warnings[1].find("w.toml:8:"), std::string::npos) << c.warnings[1];
  EXPECT_NE(c.warnings[1].find("10.0.0.0/8"), std::string::npos) << c.warnings[1];
  EXPECT_NE(c.warnings[1].find("11.0.0.0/8"), std::string::npos) << c.warnings[1];
  // What the warning claims: the classifier keeps the inner addresses inventoried.
  const tapsense::config::classifier cls(c);
  EXPECT_EQ(cls.class_of(0, *tapsense::net::ip_address::parse("10.1.2.3")),
            tapsense::config::address_class::inventoried);
  EXPECT_EQ(cls.class_of(0, *tapsense::net::ip_address::parse("192.168.5.1")),
            tapsense::config::address_class::non_inventoried);

  // Partly outside (it has an effect there), around a few inventoried
  // addresses, or the same range in another network: no warning.
  const auto quiet = parse(
      "[[network]]\nname = \"cranes\"\nvlans = [7]\n"
      "[[internal]]\nname = \"office\"\nranges = [\"10.0.0.0/8\", \"172.16.5.7\"]\n"
      "[[internal]]\nname = \"cranes\"\ninventory = false\nnetwork = \"cranes\"\nranges = [\"10.1.0.0/16\"]\n"
      "[[internal]]\nname = \"edge\"\ninventory = false\nranges = [\"9.255.255.0-10.0.0.255\"]\n"
      "[[internal]]\nname = \"guests\"\ninventory = false\nranges = [\"172.16.0.0/12\"]\n",
      "q.toml");
  EXPECT_TRUE(quiet.warnings.empty()) << quiet.warnings[0];
}
