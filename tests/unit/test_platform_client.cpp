// The sensor's side of the platform protocol without the network: the
// identity and state files (atomic, 0600, damaged files refused), the report
// spool (ids, ack, a restart keeps what was not acknowledged and never
// reuses an id), the configuration fragment merge (validated by the
// configuration parser) and the report deltas (new at once, changes at the
// update cadence, removals, closed flow intervals, full reports, cutting).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "common/platform/client.h"
#include "common/platform/fragment.h"
#include "common/platform/identity.h"
#include "common/platform/spool.h"
#include "common/schema/platform.capnp.h"
#include "uplink/inventory.h"
#include "uplink/platform_report.h"

using namespace tapsense;
namespace pc = tapsense::platform_client;
namespace fs = std::filesystem;

namespace {

struct tmp_dir {
  std::string path;
  tmp_dir() {
    char t[] = "/tmp/tapsense-unit-platform-XXXXXX";
    path = ::mkdtemp(t);
  }
  ~tmp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

unsigned mode_of(const std::string& p) {
  struct stat st{};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 0777;
}

void write(const std::string& p, const std::string& text) {
  std::ofstream f(p, std::ios::trunc);
  f << text;
}

}  // namespace

TEST(PlatformIdentity, RoundTripsPrivatelyAndAtomically) {
  tmp_dir d;
  EXPECT_FALSE(pc::load_identity(d.path).has_value());
  pc::identity id{"https://127.0.0.1:8443", "s-17", "k3y\"with\\quotes", "0123456789abcdef0123456789abcdef",
                  "Crane 2", "Pune", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"};
  pc::save_identity(d.path, id);
  const auto file = pc::platform_dir(d.path) + "/identity";
  EXPECT_EQ(mode_of(file), 0600u);
  EXPECT_FALSE(fs::exists(file + ".tmp"));
  const auto back = pc::load_identity(d.path);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->url, id.url);
  EXPECT_EQ(back->sensor_id, "s-17");
  EXPECT_EQ(back->sensor_key, id.sensor_key);
  EXPECT_EQ(back->uid, id.uid);
  EXPECT_EQ(back->name, "Crane 2");
  EXPECT_EQ(back->location, "Pune");
  EXPECT_EQ(back->ca_pem, id.ca_pem);
  EXPECT_EQ(back->auth(), "s-17:" + id.sensor_key);
}

TEST(PlatformIdentity, DamagedOrIncompleteFilesAreRefused) {
  tmp_dir d;
  fs::create_directories(pc::platform_dir(d.path));
  write(pc::platform_dir(d.path) + "/identity", "url = \"https://x\"\nsensor_id = \n");
  EXPECT_THROW(pc::load_identity(d.path), pc::identity_error);
  write(pc::platform_dir(d.path) + "/identity", "url = \"https://x\"\nsensor_id = \"a\"\n");
  try {
    pc::load_identity(d.path);
    FAIL() << "an identity without its key was accepted";
  } catch (const pc::identity_error& e) {
    EXPECT_NE(std::string(e.what()).find("sensor_key"), std::string::npos) << e.what();
  }
  write(pc::platform_dir(d.path) + "/uid", "not-hex\n");
  EXPECT_THROW(pc::ensure_uid(d.path), pc::identity_error);
}

TEST(PlatformIdentity, UidIsMadeOnceAndKept) {
  tmp_dir d;
  const auto a = pc::ensure_uid(d.path);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(pc::ensure_uid(d.path), a);  // a retried registration sends the same uid
  EXPECT_EQ(mode_of(pc::platform_dir(d.path) + "/uid"), 0600u);
  tmp_dir other;
  EXPECT_NE(pc::ensure_uid(other.path), a);
}

TEST(PlatformIdentity, StateRoundTrips) {
  tmp_dir d;
  auto st = pc::load_state(d.path);
  EXPECT_EQ(st.config_revision, 0u);
  EXPECT_FALSE(st.paused);
  st.config_revision = 7;
  st.failed_revision = 8;
  st.config_error = "bad range \"x\"";
  st.last_command_id = 12;
  st.paused = true;
  pc::save_state(d.path, st);
  const auto back = pc::load_state(d.path);
  EXPECT_EQ(back.config_revision, 7u);
  EXPECT_EQ(back.failed_revision, 8u);
  EXPECT_EQ(back.config_error, st.config_error);
  EXPECT_EQ(back.last_command_id, 12u);
  EXPECT_TRUE(back.paused);
  EXPECT_FALSE(back.deregistered);
  EXPECT_FALSE(pc::full_report_requested(d.path));
  pc::request_full_report(d.path);
  EXPECT_TRUE(pc::full_report_requested(d.path));
  pc::clear_full_report(d.path);
  EXPECT_FALSE(pc::full_report_requested(d.path));
}

TEST(PlatformSpool, IdsAckAndRestart) {
  tmp_dir d;
  {
    pc::spool s(d.path);
    EXPECT_EQ(s.last_id(), 0u);
    EXPECT_TRUE(s.pending().empty());
    for (int i = 0; i < 3; ++i) s.add([](std::uint64_t id) { return "report " + std::to_string(id); });
    EXPECT_EQ(s.pending(), (std::vector<std::uint64_t>{1, 2, 3}));
    EXPECT_EQ(*s.read(2), "report 2");
    s.remove(1);  // acknowledged
    EXPECT_EQ(s.pending(), (std::vector<std::uint64_t>{2, 3}));
    EXPECT_EQ(mode_of(s.dir() + "/00000000000000000002.report"), 0600u);
  }
  {
    // A restart keeps what was not acknowledged and goes on numbering.
    pc::spool s(d.path);
    EXPECT_EQ(s.pending(), (std::vector<std::uint64_t>{2, 3}));
    EXPECT_EQ(s.last_id(), 3u);
    s.remove(2);
    s.remove(3);
    EXPECT_EQ(s.add([](std::uint64_t id) { return std::to_string(id); }), 4u);
    s.remove(4);
  }
  {
    // Every report acknowledged: the ids still never repeat.
    pc::spool s(d.path);
    EXPECT_TRUE(s.pending().empty());
    EXPECT_EQ(s.add([](std::uint64_t id) { return std::to_string(id); }), 5u);
  }
  {
    // A report file newer than last-id (a crash between the two writes).
    write(pc::platform_dir(d.path) + "/spool/00000000000000000009.report", "x");
    pc::spool s(d.path);
    EXPECT_EQ(s.last_id(), 9u);
    EXPECT_EQ(s.add([](std::uint64_t id) { return std::to_string(id); }), 10u);
  }
}

namespace {
const char* local_toml = R"(
[sensor]
name = "crane-1"
state_dir = "/var/lib/tapsense"

[capture]
snaplen = 1024

[[capture.interface]]
name = "ens4"
driver = "af_packet"
rx_queues = 2

[[internal]]
name = "local lan"
ranges = ["10.0.0.0/8"]

[[monitored]]
name = "dns"
addresses = ["8.8.8.8"]
)";
}  // namespace

TEST(PlatformFragment, ReplacesThePlatformsSectionsOnly) {
  const std::string frag = R"(
[[internal]]
name = "plant"
ranges = ["192.168.10.0/24"]
network = "crane"

[[excluded]]
name = "printers"
macs = ["00:11:22:33:44:55"]

[[network]]
name = "crane"
vlans = [10]

[[capture.interface]]
name = "ens4"
mode = "erspan"
erspan_address = "10.1.1.5"
)";
  const auto c = pc::apply_fragment(local_toml, "local.toml", frag, "revision 3");
  EXPECT_EQ(c.sensor.name, "crane-1");   // local settings stay
  EXPECT_EQ(c.capture.snaplen, 1024u);
  ASSERT_EQ(c.internal.size(), 1u);
  EXPECT_EQ(c.internal[0].name, "plant");
  EXPECT_EQ(c.internal[0].network, "crane");
  ASSERT_EQ(c.excluded.size(), 1u);
  EXPECT_EQ(c.excluded[0].macs, std::vector<std::string>{"00:11:22:33:44:55"});
  EXPECT_TRUE(c.monitored.empty());       // the platform's view has none
  ASSERT_EQ(c.networks.size(), 1u);
  ASSERT_EQ(c.capture.interfaces.size(), 1u);
  EXPECT_EQ(c.capture.interfaces[0].mode, "erspan");
  EXPECT_EQ(c.capture.interfaces[0].erspan_address, "10.1.1.5");
  EXPECT_EQ(c.capture.interfaces[0].driver, "af_packet");  // local detail kept
  EXPECT_EQ(c.capture.interfaces[0].rx_queues, 2u);
}

TEST(PlatformFragment, WithoutInterfacesKeepsTheLocalOnes) {
  const auto c = pc::apply_fragment(local_toml, "local.toml", "[[internal]]\nname = \"all\"\nranges = [\"default\"]\n",
                                    "revision 4");
  ASSERT_EQ(c.capture.interfaces.size(), 1u);
  EXPECT_EQ(c.capture.interfaces[0].name, "ens4");
  EXPECT_EQ(c.capture.interfaces[0].mode, "default");
}

TEST(PlatformFragment, InvalidFragmentsAreRefusedWithTheReason) {
  // Not TOML.
  EXPECT_THROW(pc::apply_fragment(local_toml, "l", "[[internal]\n", "r"), pc::fragment_error);
  // A setting the platform does not own.
  try {
    pc::apply_fragment(local_toml, "l", "[sensor]\nname = \"x\"\n", "r");
    FAIL();
  } catch (const pc::fragment_error& e) {
    EXPECT_NE(std::string(e.what()).find("'sensor'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(pc::apply_fragment(local_toml, "l", "[capture]\nsnaplen = 9\n", "r"), pc::fragment_error);
  // Valid TOML, invalid configuration: the configuration parser says why.
  try {
    pc::apply_fragment(local_toml, "l", "[[internal]]\nname = \"x\"\nranges = [\"10.0.0.0/33\"]\n", "revision 5");
    FAIL();
  } catch (const config::config_error& e) {
    EXPECT_NE(std::string(e.what()).find("revision 5"), std::string::npos) << e.what();
  }
  try {
    pc::apply_fragment(local_toml, "l", "[[internal]]\nname = \"x\"\nranges = [\"10.0.0.0/8\"]\ncolour = \"red\"\n",
                       "revision 6");
    FAIL();
  } catch (const config::config_error& e) {
    EXPECT_NE(std::string(e.what()).find("colour"), std::string::npos) << e.what();
  }
}

TEST(PlatformFragment, LoadMergesTheStoredRevision) {
  tmp_dir d;
  const std::string path = d.path + "/tapsense.toml";
  write(path, "[sensor]\nstate_dir = \"" + d.path + "\"\n[[internal]]\nname = \"a\"\nranges = [\"10.0.0.0/8\"]\n");
  EXPECT_EQ(pc::load_with_fragment(path).internal[0].name, "a");
  pc::write_file_atomic(pc::platform_dir(d.path) + "/config.toml",
                        "[[internal]]\nname = \"b\"\nranges = [\"172.16.0.0/12\"]\n");
  const auto c = pc::load_with_fragment(path);
  ASSERT_EQ(c.internal.size(), 1u);
  EXPECT_EQ(c.internal[0].name, "b");
  EXPECT_EQ(c.source, path);
}

namespace {
uplink::asset_view asset(const char* ip, const char* mac, const char* host) {
  uplink::asset_view a;
  a.ip = net::ip_address::parse(ip);
  if (mac != nullptr) a.mac = net::mac_address::parse(mac);
  a.ips = {*a.ip};
  if (host != nullptr) a.hostname = host;
  a.first_seen = 1'000'000'000ULL;
  a.last_seen = 2'000'000'000ULL;
  return a;
}

uplink::flow_table flows_in(std::initializer_list<std::uint64_t> intervals) {
  uplink::flow_table t;
  for (auto start : intervals) {
    uplink::flow_key k;
    k.interval_start = start;
    k.client = net::ip_address::parse("10.0.0.1");
    k.server = net::ip_address::parse("10.0.0.2");
    k.server_port = 443;
    k.protocol = 6;
    uplink::flow_value v;
    v.packets = 3;
    v.interval_end = start + 1800;
    t.emplace(k, v);
  }
  return t;
}

std::vector<std::string> keys(const uplink::report_body& r) {
  std::vector<std::string> k;
  for (const auto* a : r.assets) k.push_back(uplink::platform_asset_key(*a));
  return k;
}
}  // namespace

TEST(PlatformDelta, NewAtOnceChangesAtTheUpdateCadence) {
  uplink::delta_builder b;
  std::vector<uplink::asset_view> assets{asset("10.0.0.1", "00:00:00:00:00:01", "a"), asset("10.0.0.2", nullptr, nullptr)};
  const uplink::flow_table none;
  auto r = b.build(assets, none, false, false, false);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_FALSE(r[0].full);
  EXPECT_EQ(keys(r[0]), (std::vector<std::string>{"/00:00:00:00:00:01", "/10.0.0.2"}));
  // Nothing changed: nothing to send.
  EXPECT_TRUE(b.build(assets, none, false, true, false).empty());
  // A change waits for the update cadence; a new asset does not.
  assets[0].hostname = "renamed";
  assets.push_back(asset("10.0.0.3", "00:00:00:00:00:03", nullptr));
  r = b.build(assets, none, false, false, false);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(keys(r[0]), std::vector<std::string>{"/00:00:00:00:00:03"});
  r = b.build(assets, none, false, true, false);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(keys(r[0]), std::vector<std::string>{"/00:00:00:00:00:01"});
  EXPECT_EQ(r[0].assets[0]->hostname, "renamed");
  // Gone from the inventory: removed.
  assets.erase(assets.begin() + 1);
  r = b.build(assets, none, false, false, false);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(r[0].assets.empty());
  EXPECT_EQ(r[0].removed, std::vector<std::string>{"/10.0.0.2"});
}

TEST(PlatformDelta, FullReportsCarryEverythingEvenNothing) {
  uplink::delta_builder b;
  std::vector<uplink::asset_view> assets{asset("10.0.0.1", nullptr, nullptr)};
  const uplink::flow_table none;
  b.build(assets, none, false, false, false);
  auto r = b.build(assets, none, true, false, false);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(r[0].full);
  EXPECT_EQ(r[0].assets.size(), 1u);
  // delete_assets: an empty full report says the sensor holds nothing.
  r = b.build({}, none, true, false, false);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(r[0].full);
  EXPECT_TRUE(r[0].assets.empty());
  EXPECT_TRUE(r[0].removed.empty());
  // A report that could not be stored makes the next one full.
  b.lost();
  r = b.build(assets, none, false, false, false);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(r[0].full);
}

TEST(PlatformDelta, FlowsOfClosedIntervalsOnce) {
  uplink::delta_builder b;
  const auto flows = flows_in({0, 1800, 3600});
  auto r = b.build({}, flows, false, false, false);
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(r[0].flows.size(), 2u);  // the newest interval is still open
  EXPECT_EQ(r[0].flows[1]->first.interval_start, 1800u);
  EXPECT_TRUE(b.build({}, flows, false, false, false).empty());
  r = b.build({}, flows, false, false, true);  // end of the run: the rest
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(r[0].flows.size(), 1u);
  EXPECT_EQ(r[0].flows[0]->first.interval_start, 3600u);
  EXPECT_EQ(b.next_flow_interval(), 3601u);
  EXPECT_TRUE(b.build({}, flows, false, false, true).empty());
}

TEST(PlatformDelta, LargeDeltasAreCutAndEncodeRoundTrips) {
  uplink::delta_builder b;
  std::vector<uplink::asset_view> assets;
  for (int i = 1; i <= 5; ++i) {
    assets.push_back(asset(("10.0.1." + std::to_string(i)).c_str(), nullptr, "h"));
  }
  const auto flows = flows_in({0, 1800});
  uplink::delta_builder::limits lim;
  lim.assets = 2;
  lim.flows = 1;
  const auto r = b.build(assets, flows, true, true, true, lim);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_TRUE(r[0].full);
  EXPECT_FALSE(r[1].full);
  EXPECT_EQ(r[0].assets.size() + r[1].assets.size() + r[2].assets.size(), 5u);
  const auto bytes = uplink::encode_report(42, r[0], 123);
  pc::unpacked u(bytes);
  auto rep = u.root<schema::platform::Report>();
  EXPECT_EQ(rep.getReportId(), 42u);
  EXPECT_TRUE(rep.getFull());
  EXPECT_EQ(rep.getGeneratedAt(), 123u);
  ASSERT_EQ(rep.getAssets().size(), 2u);
  EXPECT_EQ(std::string(rep.getAssets()[0].getIp().cStr()), "10.0.1.1");
  EXPECT_EQ(std::string(rep.getAssets()[0].getKey().cStr()), "/10.0.1.1");
  EXPECT_EQ(std::string(rep.getAssets()[0].getHostname().cStr()), "h");
  ASSERT_EQ(rep.getFlows().size(), 1u);
  EXPECT_EQ(std::string(rep.getFlows()[0].getClient().cStr()), "10.0.0.1");
  EXPECT_EQ(rep.getFlows()[0].getServerPort(), 443u);
  EXPECT_EQ(rep.getFlows()[0].getPackets(), 3u);
}

TEST(PlatformClient, FailuresMapToDistinctExitCodes) {
  std::set<int> codes;
  for (auto f : {pc::failure::code_unknown, pc::failure::code_used, pc::failure::code_expired, pc::failure::unreachable,
                 pc::failure::tls, pc::failure::deregistered}) {
    EXPECT_TRUE(codes.insert(pc::exit_code_for(f)).second) << pc::failure_name(f);
  }
  EXPECT_EQ(pc::exit_code_for(pc::failure::none), 0);
  EXPECT_EQ(pc::exit_code_for(pc::failure::malformed), pc::exit_code::refused);
}

TEST(PlatformClient, UnreachablePlatformIsOneLine) {
  // Port 1 on loopback: nothing listens there.
  const pc::client c("https://127.0.0.1:1", "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n", "a:b", 5);
  const auto r = c.post("/sensor/v1/checkin", "x");
  EXPECT_EQ(r.why, pc::failure::unreachable);
  EXPECT_EQ(r.message.find('\n'), std::string::npos);
  EXPECT_NE(r.message.find("unreachable"), std::string::npos) << r.message;
}

TEST(UplinkRun, ANewRunForgetsTheLastRunsEndsAndBatchIds) {
  tmp_dir d;
  const std::string db = d.path + "/inventory.sqlite";
  {
    uplink::inventory inv(db);
    EXPECT_TRUE(inv.begin_run("100-1"));
    inv.begin();
    inv.mark_ended("aggregator.0");
    inv.commit();
    EXPECT_EQ(inv.ended().size(), 1u);
  }
  {
    // The same run (a restarted uplink): its producers stay ended.
    uplink::inventory inv(db);
    EXPECT_FALSE(inv.begin_run("100-1"));
    EXPECT_EQ(inv.ended(), std::set<std::string>{"aggregator.0"});
  }
  {
    // A new supervisor run (a restart the platform asked for): fresh rings.
    uplink::inventory inv(db);
    EXPECT_TRUE(inv.begin_run("100-2"));
    EXPECT_TRUE(inv.ended().empty());
  }
}
