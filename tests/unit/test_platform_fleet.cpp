// Fleet operations on the sensor's side (issue 13), without the network: the
// [uplink] proxy settings refused or accepted by the configuration parser,
// the spool bounded by bytes (oldest dropped, never the newest, counted and
// kept across restarts), a report cut in two after a 413 (every record in
// exactly one half, the ids and `full` right), and gzip both ways (a damaged
// or truncated body refused, an inflation bomb stopped at its bound).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "common/config/config.h"
#include "common/platform/client.h"
#include "common/platform/gzip.h"
#include "common/platform/spool.h"
#include "common/schema/platform.capnp.h"
#include "uplink/platform_report.h"

using namespace tapsense;
namespace pc = tapsense::platform_client;
namespace fs = std::filesystem;

namespace {
struct tmp_dir {
  std::string path;
  tmp_dir() {
    char t[] = "/tmp/tapsense-unit-fleet-XXXXXX";
    path = ::mkdtemp(t);
  }
  ~tmp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string refused(const std::string& text) {
  try {
    config::parse(text, "t.toml");
  } catch (const config::config_error& e) {
    return e.what();
  }
  return {};
}
}  // namespace

TEST(FleetConfig, ProxySettings) {
  auto c = config::parse(
      "[uplink]\nproxy = \"http://proxy.corp:3128\"\nproxy_auth = \"ntlm\"\nproxy_user = \"CORP\\\\svc\"\n"
      "proxy_password = \"pw\"\nspool_mb = 64\n",
      "t.toml");
  EXPECT_EQ(c.uplink.proxy, "http://proxy.corp:3128");
  EXPECT_EQ(c.uplink.proxy_auth, "ntlm");
  EXPECT_EQ(c.uplink.proxy_user, "CORP\\svc");
  EXPECT_EQ(c.uplink.spool_mb, 64u);
  // It survives the effective configuration the stages read.
  auto again = config::parse(config::to_toml(c), "effective.toml");
  EXPECT_EQ(again.uplink.proxy_password, "pw");
  EXPECT_EQ(again.uplink.spool_mb, 64u);
  EXPECT_EQ(config::parse("", "t.toml").uplink.proxy, "");

  EXPECT_NE(refused("[uplink]\nproxy = \"socks5://p:1080\"\n").find("uplink.proxy must be"), std::string::npos);
  EXPECT_NE(refused("[uplink]\nproxy = \"http://p\"\n").find("uplink.proxy must be"), std::string::npos);
  EXPECT_NE(refused("[uplink]\nproxy = \"http://u:pw@p:3128\"\n").find("uplink.proxy must be"), std::string::npos);
  EXPECT_NE(refused("[uplink]\nproxy = \"http://p:70000\"\n").find("uplink.proxy must be"), std::string::npos);
  EXPECT_NE(refused("[uplink]\nproxy = \"http://p:3128\"\nproxy_auth = \"digest\"\n").find("one of none, basic, ntlm"),
            std::string::npos);
  EXPECT_NE(refused("[uplink]\nproxy = \"http://p:3128\"\nproxy_auth = \"basic\"\n").find("needs proxy_user"),
            std::string::npos);
  EXPECT_NE(refused("[uplink]\nproxy = \"http://p:3128\"\nproxy_user = \"a\"\n").find("need proxy_auth"),
            std::string::npos);
  EXPECT_NE(refused("[uplink]\nproxy_auth = \"basic\"\nproxy_user = \"a\"\n").find("need uplink.proxy"),
            std::string::npos);
  EXPECT_NE(refused("[uplink]\nspool_mb = 0\n").find("uplink.spool_mb"), std::string::npos);
  // The line of the offending key.
  EXPECT_NE(refused("[uplink]\nproxy = \"http://p:3128\"\n\nproxy_auth = \"kerberos\"\n").find(":4:"),
            std::string::npos);
}

TEST(FleetSpool, BoundDropsOldestAndCounts) {
  tmp_dir d;
  const std::string kb(1000, 'x');
  {
    pc::spool s(d.path, 3500);  // three reports of 1,000 bytes fit, four do not
    for (int i = 0; i < 3; ++i) s.add([&](std::uint64_t) { return kb; });
    EXPECT_EQ(s.bytes(), 3000u);
    EXPECT_EQ(s.dropped().reports, 0u);
    EXPECT_FALSE(fs::exists(s.dir() + "/dropped"));
    s.add([&](std::uint64_t) { return kb; });
    s.add([&](std::uint64_t) { return kb; });
    EXPECT_EQ(s.pending(), (std::vector<std::uint64_t>{3, 4, 5}));  // oldest first out
    EXPECT_EQ(s.dropped().reports, 2u);
    EXPECT_EQ(s.dropped().bytes, 2000u);
    // The newest stays even when it alone is past the bound.
    s.add([&](std::uint64_t) { return std::string(5000, 'y'); });
    EXPECT_EQ(s.pending(), (std::vector<std::uint64_t>{6}));
    EXPECT_EQ(s.dropped().reports, 5u);
    s.remove(6);
    EXPECT_EQ(s.bytes(), 0u);
  }
  {
    // Counted since the spool began, across restarts; read by the supervisor.
    pc::spool s(d.path, 3500);
    EXPECT_EQ(s.dropped().reports, 5u);
    EXPECT_EQ(pc::spool::read_dropped(s.dir()).bytes, 5000u);
    EXPECT_EQ(s.last_id(), 6u);
  }
}

TEST(FleetReport, SplitAfter413) {
  capnp::MallocMessageBuilder m;
  auto r = m.initRoot<schema::platform::Report>();
  r.setProtocolVersion(schema::platform::PROTOCOL_VERSION);
  r.setReportId(7);
  r.setFull(true);
  r.setGeneratedAt(99);
  auto as = r.initAssets(5);
  for (unsigned i = 0; i < 5; ++i) as[i].setKey("net/10.0.0." + std::to_string(i));
  auto rm = r.initRemovedAssets(2);
  rm.set(0, "net/gone-1");
  rm.set(1, "net/gone-2");
  auto fl = r.initFlows(3);
  for (unsigned i = 0; i < 3; ++i) fl[i].setServerPort(static_cast<std::uint16_t>(1000 + i));
  const auto packed = pc::pack(m);

  const auto parts = uplink::split_report(packed, 20, 21);
  ASSERT_EQ(parts.size(), 2u);
  std::multiset<std::string> keys, removed;
  std::multiset<unsigned> ports;
  for (unsigned h = 0; h < 2; ++h) {
    pc::unpacked u(parts[h]);
    auto p = u.root<schema::platform::Report>();
    EXPECT_EQ(p.getReportId(), 20u + h);
    EXPECT_EQ(p.getFull(), h == 0);  // the first keeps `full`, the second adds to it
    EXPECT_EQ(p.getGeneratedAt(), 99u);
    EXPECT_GT(p.getAssets().size(), 0u);
    for (auto a : p.getAssets()) keys.insert(a.getKey());
    for (auto k : p.getRemovedAssets()) removed.insert(k);
    for (auto f : p.getFlows()) ports.insert(f.getServerPort());
  }
  EXPECT_EQ(keys.size(), 5u);
  EXPECT_EQ(std::set<std::string>(keys.begin(), keys.end()).size(), 5u);
  EXPECT_EQ(removed, (std::multiset<std::string>{"net/gone-1", "net/gone-2"}));
  EXPECT_EQ(ports, (std::multiset<unsigned>{1000, 1001, 1002}));

  capnp::MallocMessageBuilder one;
  auto o = one.initRoot<schema::platform::Report>();
  o.setReportId(3);
  o.initAssets(1)[0].setKey("net/only");
  EXPECT_TRUE(uplink::split_report(pc::pack(one), 4, 5).empty());  // a single record: nothing to cut
}

TEST(FleetGzip, RoundTripAndBounds) {
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "evidence tapsense/dhcp hostname printer-" + std::to_string(i % 7) + "\n";
  const auto z = pc::gzip(text);
  ASSERT_GE(z.size(), 10u);
  EXPECT_EQ(static_cast<unsigned char>(z[0]), 0x1f);  // gzip magic
  EXPECT_EQ(static_cast<unsigned char>(z[1]), 0x8b);
  EXPECT_LT(z.size(), text.size() / 5);
  bool big = false;
  EXPECT_EQ(*pc::gunzip(z, 1 << 20, big), text);
  EXPECT_FALSE(pc::gunzip(z.substr(0, z.size() / 2), 1 << 20, big));  // truncated
  EXPECT_FALSE(big);
  std::string bad = z;
  bad[z.size() / 2] ^= 0x55;
  EXPECT_FALSE(pc::gunzip(bad, 1 << 20, big));  // damaged (CRC or stream)
  EXPECT_FALSE(pc::gunzip("not gzip at all", 1 << 20, big));
  EXPECT_FALSE(pc::gunzip(z + "trailing", 1 << 20, big));
  EXPECT_FALSE(pc::gunzip(pc::gzip(std::string(10 << 20, '\0')), 1 << 20, big));  // a bomb
  EXPECT_TRUE(big);
  EXPECT_EQ(*pc::gunzip(pc::gzip(""), 16, big), "");
}
