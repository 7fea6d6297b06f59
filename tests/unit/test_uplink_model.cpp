// The uplink's asset model: report batches (as the aggregator and the
// fingerprinter send them) through the inventory (journal, model,
// checkpoint), then build_assets: binding precedence, DHCP churn, the best
// evidence per field, the NAT flag, and the same model after a restart.
#include <gtest/gtest.h>

#include <sstream>
#include <unistd.h>

#include <SQLiteCpp/SQLiteCpp.h>
#include <capnp/message.h>
#include <capnp/serialize.h>

#include <filesystem>

#include "common/config/classifier.h"
#include "common/config/config.h"
#include "common/proto/names.h"
#include "common/schema/report.capnp.h"
#include "uplink/inventory.h"
#include "uplink/report.h"

using namespace tapsense;
using namespace tapsense::uplink;

namespace {

constexpr std::uint64_t s = 1'000'000'000ULL;

net::ip_address ip(const char* text) { return *net::ip_address::parse(text); }
std::uint64_t mac(const char* text) {
  std::uint64_t v = 0;
  for (const char* p = text; *p != 0; ++p) {
    if (*p == ':') continue;
    v = v * 16 + static_cast<std::uint64_t>(*p <= '9' ? *p - '0' : (*p | 0x20) - 'a' + 10);
  }
  return v;
}
kj::ArrayPtr<const kj::byte> bytes(const net::ip_address& a) { return {a.b.data(), a.b.size()}; }

struct sighting_in {
  const char* ip;
  std::uint64_t first, last, packets_out;
  std::vector<std::uint8_t> ttls;
  const char* mac = "";  // the MAC its packets carried ("": none)
};
struct binding_in {
  const char* ip;
  const char* mac;
  schema::BindingSource source;
  std::uint64_t first, last, packets;
};
struct observation_in {
  const char* mac;  // "" : about the address
  const char* ip;   // "" : about the MAC
  std::uint64_t ts;
  const char* source;
  const char* field;
  const char* value;
  unsigned confidence;
};

// 192.168.1.20 leased to ..:0a (told at 100 s and 200 s), then to ..:0b
// (300 s and 400 s): DHCP churn.
const std::vector<observation_in> churn_leases = {
      {"bb:00:00:00:00:0a", "", 100 * s, "dhcp", "ip", "192.168.1.20", 90},
      {"bb:00:00:00:00:0a", "", 200 * s, "dhcp", "ip", "192.168.1.20", 90},
      {"bb:00:00:00:00:0b", "", 300 * s, "dhcp", "ip", "192.168.1.20", 90},
      {"bb:00:00:00:00:0b", "", 400 * s, "dhcp", "ip", "192.168.1.20", 90},
};

struct fixture : ::testing::Test {
  std::string path = "/tmp/tapsense-test-uplink-model-" + std::to_string(::getpid()) + ".sqlite";
  config::config cfg = config::defaults();  // internal: RFC 1918, fc00::/7
  config::classifier cls{cfg};
  std::uint64_t batch = 0;

  void TearDown() override {
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  }

  static kj::Array<capnp::word> frame(capnp::MallocMessageBuilder& mb) { return capnp::messageToFlatArray(mb); }

  kj::Array<capnp::word> sightings(const std::vector<sighting_in>& in, const std::vector<binding_in>& bs = {},
                                   const std::vector<const char*>& gateways = {}) {
    capnp::MallocMessageBuilder mb;
    auto b = mb.initRoot<schema::SightingBatch>();
    b.setProducer("aggregator.0");
    b.setBatchId(++batch);
    auto l = b.initSightings(static_cast<unsigned>(in.size()));
    for (unsigned i = 0; i < in.size(); ++i) {
      l[i].setIp(bytes(ip(in[i].ip)));
      if (*in[i].mac != 0) l[i].setMac(mac(in[i].mac));
      l[i].setFirstSeen(in[i].first);
      l[i].setLastSeen(in[i].last);
      l[i].setPacketsOut(in[i].packets_out);
      l[i].setPacketsIn(1);
      l[i].setBytesOut(in[i].packets_out * 100);
      l[i].setBytesIn(100);
      auto t = l[i].initTtls(static_cast<unsigned>(in[i].ttls.size()));
      for (unsigned k = 0; k < in[i].ttls.size(); ++k) t.set(k, in[i].ttls[k]);
    }
    auto lb = b.initBindings(static_cast<unsigned>(bs.size()));
    for (unsigned i = 0; i < bs.size(); ++i) {
      lb[i].setIp(bytes(ip(bs[i].ip)));
      lb[i].setMac(mac(bs[i].mac));
      lb[i].setSource(bs[i].source);
      lb[i].setFirstSeen(bs[i].first);
      lb[i].setLastSeen(bs[i].last);
      lb[i].setPackets(bs[i].packets);
    }
    auto g = b.initGatewayMacs(static_cast<unsigned>(gateways.size()));
    for (unsigned i = 0; i < gateways.size(); ++i) g.set(i, mac(gateways[i]));
    return frame(mb);
  }

  // A batch as the fingerprinter writes it: sources and fields by index,
  // and beside the facts the bindings they state, typed (a DHCP lease or
  // client address, the address a DHCP client asks for, an address a
  // device announces: fingerprinter/analyzer.cpp).
  kj::Array<capnp::word> observations(const std::vector<observation_in>& in) {
    capnp::MallocMessageBuilder mb;
    auto b = mb.initRoot<schema::ObservationBatch>();
    b.setSchemaVersion(schema::SCHEMA_VERSION);
    b.setVocabulary(proto::vocabulary_hash);
    b.setProducer("fingerprinter.0");
    b.setBatchId(++batch);
    auto l = b.initObservations(static_cast<unsigned>(in.size()));
    std::vector<std::pair<const observation_in*, schema::BindingSource>> binds;
    for (unsigned i = 0; i < in.size(); ++i) {
      if (*in[i].mac != 0) l[i].setMac(mac(in[i].mac));
      if (*in[i].ip != 0) l[i].setIp(bytes(ip(in[i].ip)));
      l[i].setTs(in[i].ts);
      const std::string_view src = in[i].source, fld = in[i].field;
      if (src.starts_with("rule:")) {
        l[i].setSourceId(proto::source_name("rule").id());
        l[i].setRule(in[i].source + 5);
      } else {
        l[i].setSourceId(proto::source_name::find(src).value().id());
      }
      l[i].setFieldId(proto::field_name::find(fld).value().id());
      l[i].setValue(in[i].value);
      l[i].setConfidence(static_cast<std::uint8_t>(in[i].confidence));
      if (*in[i].mac == 0) continue;
      if (src == "dhcp" && fld == "ip") binds.emplace_back(&in[i], schema::BindingSource::DHCP);
      if (src == "dhcp" && fld == "requested_ip") binds.emplace_back(&in[i], schema::BindingSource::DHCP_REQUESTED);
      if (src != "dhcp" && fld == "ip") binds.emplace_back(&in[i], schema::BindingSource::ANNOUNCED);
    }
    auto lb = b.initBindings(static_cast<unsigned>(binds.size()));
    for (unsigned i = 0; i < binds.size(); ++i) {
      const auto& o = *binds[i].first;
      lb[i].setIp(bytes(ip(o.value)));
      lb[i].setMac(mac(o.mac));
      lb[i].setSource(binds[i].second);
      lb[i].setFirstSeen(o.ts);
      lb[i].setLastSeen(o.ts);
      lb[i].setPackets(1);
    }
    return frame(mb);
  }
  // The same facts as a version before report schema 2 wrote them (a frame
  // left in an inventory's journal): names in text, no bindings.
  kj::Array<capnp::word> observations_v1(const std::vector<observation_in>& in) {
    capnp::MallocMessageBuilder mb;
    auto b = mb.initRoot<schema::ObservationBatch>();
    b.setSchemaVersion(1);
    b.setProducer("fingerprinter.0");
    b.setBatchId(++batch);
    auto l = b.initObservations(static_cast<unsigned>(in.size()));
    for (unsigned i = 0; i < in.size(); ++i) {
      if (*in[i].mac != 0) l[i].setMac(mac(in[i].mac));
      if (*in[i].ip != 0) l[i].setIp(bytes(ip(in[i].ip)));
      l[i].setTs(in[i].ts);
      l[i].setObsoleteSource(in[i].source);
      l[i].setObsoleteField(in[i].field);
      l[i].setValue(in[i].value);
      l[i].setConfidence(static_cast<std::uint8_t>(in[i].confidence));
    }
    return frame(mb);
  }

  static const asset_view* find_mac(const std::vector<asset_view>& v, const char* m) {
    for (const auto& a : v) {
      if (a.mac && a.mac->to_string() == m) return &a;
    }
    return nullptr;
  }
  static const asset_view* find_ip(const std::vector<asset_view>& v, const char* text) {
    for (const auto& a : v) {
      if (a.ip && *a.ip == ip(text)) return &a;
    }
    return nullptr;
  }
  static bool has_evidence(const asset_view& a, const std::string& field, const std::string& value) {
    for (const auto& e : a.evidence) {
      if (e.field == field && e.value == value) return true;
    }
    return false;
  }
};

TEST_F(fixture, binding_precedence_dhcp_over_arp_over_source_mac_and_routers_ignored) {
  inventory inv(path);
  inv.load();
  inv.begin();
  // 10.0.0.5: its packets come from aa:..:01 (many), ARP says ..:02, and a
  // DHCP lease names ..:03: DHCP wins.
  // 10.0.0.6: packets from ..:01, ARP says ..:02: ARP wins.
  // 10.0.0.7: packets from ..:01 only: the source MAC is taken.
  // 10.0.0.8: packets only from a router's MAC (ee:..): no MAC at all.
  ASSERT_TRUE(inv.apply_sighting_batch(sightings(
      {{"10.0.0.5", 1 * s, 9 * s, 50, {}}, {"10.0.0.6", 1 * s, 9 * s, 50, {}},
       {"10.0.0.7", 1 * s, 9 * s, 50, {}}, {"10.0.0.8", 1 * s, 9 * s, 50, {}}},
      {{"10.0.0.5", "aa:00:00:00:00:01", schema::BindingSource::IP_SOURCE, 1 * s, 9 * s, 50},
       {"10.0.0.5", "aa:00:00:00:00:02", schema::BindingSource::ARP, 2 * s, 3 * s, 1},
       {"10.0.0.6", "aa:00:00:00:00:01", schema::BindingSource::IP_SOURCE, 1 * s, 9 * s, 50},
       {"10.0.0.6", "aa:00:00:00:00:02", schema::BindingSource::ARP, 2 * s, 3 * s, 1},
       {"10.0.0.7", "aa:00:00:00:00:01", schema::BindingSource::IP_SOURCE, 1 * s, 9 * s, 50},
       {"10.0.0.8", "ee:00:00:00:00:01", schema::BindingSource::IP_SOURCE, 1 * s, 9 * s, 50}},
      {"ee:00:00:00:00:01"})));
  ASSERT_TRUE(inv.apply_observation_batch(
      observations({{"aa:00:00:00:00:03", "", 4 * s, "dhcp", "ip", "10.0.0.5", 90}})));
  inv.commit();
  const auto assets = build_assets(inv.model(), cls);
  const auto* a5 = find_ip(assets, "10.0.0.5");
  ASSERT_NE(a5, nullptr);
  EXPECT_EQ(a5->mac->to_string(), "aa:00:00:00:00:03");
  EXPECT_EQ(a5->packets_out, 50U);
  const auto* a6 = find_ip(assets, "10.0.0.6");
  ASSERT_NE(a6, nullptr);
  EXPECT_EQ(a6->mac->to_string(), "aa:00:00:00:00:02");
  // ..:01 sent 10.0.0.7's packets, and ARP and DHCP said nothing else.
  const auto* a7 = find_ip(assets, "10.0.0.7");
  ASSERT_NE(a7, nullptr);
  EXPECT_EQ(a7->mac->to_string(), "aa:00:00:00:00:01");
  const auto* a8 = find_ip(assets, "10.0.0.8");
  ASSERT_NE(a8, nullptr);
  EXPECT_FALSE(a8->mac.has_value()) << "a router's MAC is not its hosts' MAC";
  EXPECT_EQ(find_mac(assets, "ee:00:00:00:00:01"), nullptr);
}

TEST_F(fixture, dhcp_churn_facts_stay_with_the_device_that_held_the_address) {
  inventory inv(path);
  inv.load();
  inv.begin();
  // 192.168.1.20 is leased to ..:0a from 100 s to 200 s, then to ..:0b from
  // 300 s to 400 s. What the address said while each held it is theirs.
  ASSERT_TRUE(inv.apply_sighting_batch(sightings({{"192.168.1.20", 100 * s, 400 * s, 20, {}}})));
  auto facts = churn_leases;
  facts.push_back({"", "192.168.1.20", 150 * s, "http", "hostname", "old-laptop", 70});
  facts.push_back({"", "192.168.1.20", 350 * s, "http", "hostname", "new-phone", 70});
  ASSERT_TRUE(inv.apply_observation_batch(observations(facts)));
  inv.commit();
  const auto assets = build_assets(inv.model(), cls);
  const auto* old_holder = find_mac(assets, "bb:00:00:00:00:0a");
  const auto* new_holder = find_mac(assets, "bb:00:00:00:00:0b");
  ASSERT_NE(old_holder, nullptr);
  ASSERT_NE(new_holder, nullptr);
  EXPECT_EQ(old_holder->hostname, "old-laptop");
  EXPECT_EQ(new_holder->hostname, "new-phone");
  EXPECT_FALSE(has_evidence(*new_holder, "hostname", "old-laptop")) << "the new holder inherited a fact";
  EXPECT_FALSE(has_evidence(*old_holder, "hostname", "new-phone"));
  // The address is the current holder's (latest lease) and so is its
  // traffic today: one sighting per address.
  EXPECT_EQ(new_holder->ip, ip("192.168.1.20"));
  EXPECT_EQ(new_holder->packets_out, 20U);
}

TEST_F(fixture, dhcp_churn_each_holder_keeps_its_own_traffic_and_stays_an_asset) {
  inventory inv(path);
  inv.load();
  inv.begin();
  // 192.168.1.21 leased to ..:1a (100-200 s, 10 packets out), then to ..:1b
  // (300-400 s, 3 packets out): the aggregator reports one sighting per
  // (address, MAC its packets carried).
  ASSERT_TRUE(inv.apply_sighting_batch(sightings(
      {{"192.168.1.21", 100 * s, 200 * s, 10, {}, "bb:00:00:00:00:1a"},
       {"192.168.1.21", 300 * s, 400 * s, 3, {}, "bb:00:00:00:00:1b"}},
      {{"192.168.1.21", "bb:00:00:00:00:1a", schema::BindingSource::IP_SOURCE, 100 * s, 200 * s, 10},
       {"192.168.1.21", "bb:00:00:00:00:1b", schema::BindingSource::IP_SOURCE, 300 * s, 400 * s, 3}})));
  ASSERT_TRUE(inv.apply_observation_batch(observations({
      {"bb:00:00:00:00:1a", "", 100 * s, "dhcp", "ip", "192.168.1.21", 90},
      {"bb:00:00:00:00:1b", "", 300 * s, "dhcp", "ip", "192.168.1.21", 90},
  })));
  inv.commit();
  const auto assets = build_assets(inv.model(), cls);
  const auto* old_holder = find_mac(assets, "bb:00:00:00:00:1a");
  const auto* new_holder = find_mac(assets, "bb:00:00:00:00:1b");
  ASSERT_NE(old_holder, nullptr) << "the previous holder dropped out of the inventory";
  ASSERT_NE(new_holder, nullptr);
  EXPECT_EQ(old_holder->packets_out, 10U) << "the previous holder's traffic went elsewhere";
  EXPECT_EQ(new_holder->packets_out, 3U);
  EXPECT_EQ(old_holder->last_seen, 200 * s);
  EXPECT_EQ(new_holder->first_seen, 300 * s);
  EXPECT_EQ(old_holder->ip, ip("192.168.1.21"));
  EXPECT_EQ(new_holder->ip, ip("192.168.1.21"));
}

// DHCP churn as above, told by a version that sent the lease only as an
// observation's text (a journal frame left by it): the same two holders.
TEST_F(fixture, a_journal_frame_of_report_schema_1_still_binds_its_leases) {
  inventory inv(path);
  inv.load();
  inv.begin();
  ASSERT_TRUE(inv.apply_sighting_batch(sightings({{"192.168.1.20", 100 * s, 400 * s, 20, {}}})));
  auto facts = churn_leases;
  facts.push_back({"", "192.168.1.20", 150 * s, "http", "hostname", "old-laptop", 70});
  facts.push_back({"", "192.168.1.20", 350 * s, "rule:r-1", "os_family", "Linux", 70});
  facts.push_back({"", "192.168.1.20", 350 * s, "nosuchsource", "hostname", "dropped", 70});
  ASSERT_TRUE(inv.apply_observation_batch(observations_v1(facts)));
  inv.commit();
  EXPECT_EQ(inv.model().unknown_names(), 1U);
  const auto assets = build_assets(inv.model(), cls);
  const auto* old_holder = find_mac(assets, "bb:00:00:00:00:0a");
  const auto* new_holder = find_mac(assets, "bb:00:00:00:00:0b");
  ASSERT_NE(old_holder, nullptr);
  ASSERT_NE(new_holder, nullptr);
  EXPECT_EQ(old_holder->hostname, "old-laptop");
  EXPECT_EQ(new_holder->os_family, "Linux");
  std::string sources;
  for (const auto& e : new_holder->evidence) sources += std::string(e.source_text()) + " ";
  EXPECT_NE(sources.find("rule:r-1 "), std::string::npos) << sources;
}

// A batch written with another vocabulary (another build's names.h) would
// misname every fact: it is refused whole.
TEST_F(fixture, a_batch_of_another_vocabulary_is_refused) {
  inventory inv(path);
  inv.load();
  inv.begin();
  capnp::MallocMessageBuilder mb;
  auto b = mb.initRoot<schema::ObservationBatch>();
  b.setSchemaVersion(schema::SCHEMA_VERSION);
  b.setVocabulary(proto::vocabulary_hash ^ 1);
  b.setProducer("fingerprinter.0");
  b.setBatchId(++batch);
  auto l = b.initObservations(1);
  l[0].setMac(mac("bb:00:00:00:00:0c"));
  l[0].setSourceId(proto::source_name("dhcp").id());
  l[0].setFieldId(proto::field_name("hostname").id());
  l[0].setValue("x");
  EXPECT_FALSE(inv.apply_observation_batch(frame(mb)));
  // And an index beyond the table, with the right hash.
  b.setVocabulary(proto::vocabulary_hash);
  b.setBatchId(++batch);
  l[0].setFieldId(static_cast<std::uint16_t>(proto::field_name::count()));
  EXPECT_FALSE(inv.apply_observation_batch(frame(mb)));
  inv.commit();
  EXPECT_TRUE(inv.model().observations().empty());
}

// Inventory schema 3 kept a DHCP lease only as an observation's text; 4
// keeps it as a binding. Opening an inventory of 3 makes the bindings once,
// and the devices stay keyed as they were.
TEST_F(fixture, an_inventory_of_schema_3_gets_its_leases_as_bindings) {
  {
    inventory inv(path);
    inv.load();
  }
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec("UPDATE meta SET value = '3' WHERE key = 'schema_version'");
    SQLite::Statement st(db, R"sql(INSERT INTO observations(network, mac, ip, source, field, value, confidence,
                                   first_seen, last_seen, count) VALUES('', ?, x'', ?, ?, ?, 90, ?, ?, 1))sql");
    const auto put = [&](const char* m, const char* src, const char* fld, const char* value, std::uint64_t t) {
      st.bind(1, static_cast<std::int64_t>(mac(m)));
      st.bind(2, src);
      st.bind(3, fld);
      st.bind(4, value);
      st.bind(5, static_cast<std::int64_t>(t));
      st.bind(6, static_cast<std::int64_t>(t));
      st.exec();
      st.reset();
    };
    put("bb:00:00:00:00:2a", "dhcp", "ip", "192.168.1.22", 100 * s);
    put("bb:00:00:00:00:2a", "dhcp", "hostname", "printer-a", 100 * s);
    put("bb:00:00:00:00:2b", "lldp", "ip", "192.168.1.23", 100 * s);
    put("bb:00:00:00:00:2c", "dhcp", "requested_ip", "192.168.1.24", 100 * s);
    put("bb:00:00:00:00:2d", "profinet", "ip", "0.0.0.0", 100 * s);
  }
  inventory inv(path);
  inv.load();
  std::map<std::uint8_t, int> by_source;
  for (const auto& [k, v] : inv.model().bindings()) ++by_source[k.source];
  EXPECT_EQ(inv.model().bindings().size(), 3U) << "0.0.0.0 binds nothing";
  EXPECT_EQ(by_source[static_cast<std::uint8_t>(schema::BindingSource::DHCP)], 1);
  EXPECT_EQ(by_source[static_cast<std::uint8_t>(schema::BindingSource::ANNOUNCED)], 1);
  EXPECT_EQ(by_source[static_cast<std::uint8_t>(schema::BindingSource::DHCP_REQUESTED)], 1);
  const auto assets = build_assets(inv.model(), cls);
  const auto* a = find_mac(assets, "bb:00:00:00:00:2a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->ip, ip("192.168.1.22"));
  EXPECT_EQ(a->hostname, "printer-a");
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT value FROM meta WHERE key = 'schema_version'").getString(), "4");
}

TEST_F(fixture, an_inventory_of_schema_2_is_upgraded_in_place_keeping_its_sightings) {
  {
    // The tables as version 2 made them: one sighting per address.
    SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec(R"sql(
      CREATE TABLE ip_sightings(network TEXT NOT NULL, ip BLOB NOT NULL, first_seen INTEGER, last_seen INTEGER,
        bytes_in INTEGER, bytes_out INTEGER, packets_in INTEGER, packets_out INTEGER, ttl_out INTEGER,
        PRIMARY KEY(network, ip)) WITHOUT ROWID;
      CREATE TABLE ip_ttls(network TEXT NOT NULL, ip BLOB NOT NULL, ttl INTEGER NOT NULL,
        PRIMARY KEY(network, ip, ttl)) WITHOUT ROWID;)sql");
    SQLite::Statement st(db, "INSERT INTO ip_sightings VALUES('', ?, ?, ?, 100, 700, 1, 7, 64)");
    const auto a = ip("192.168.1.40");
    st.bind(1, a.b.data(), static_cast<int>(a.b.size()));
    st.bind(2, static_cast<std::int64_t>(100 * s));
    st.bind(3, static_cast<std::int64_t>(200 * s));
    st.exec();
    SQLite::Statement t(db, "INSERT INTO ip_ttls VALUES('', ?, 64)");
    t.bind(1, a.b.data(), static_cast<int>(a.b.size()));
    t.exec();
  }
  inventory inv(path);
  inv.load();
  const auto assets = build_assets(inv.model(), cls);
  const auto* a = find_ip(assets, "192.168.1.40");
  ASSERT_NE(a, nullptr) << "the upgrade lost the address";
  EXPECT_EQ(a->packets_out, 7U);
  EXPECT_EQ(a->bytes_out, 700U);
  EXPECT_EQ(a->last_seen, 200 * s);
}

TEST_F(fixture, a_static_range_keys_the_device_by_address_a_dhcp_range_by_mac) {
  // 192.168.1.30 changes NIC (..:0c, then ..:0d) at 200 s; the same happens to
  // 192.168.1.31 in a DHCP range. ARP ties each address to the MAC it shows.
  auto run = [&](const char* type) {
    cfg = config::defaults();
    cfg.internal.clear();
    config::internal_group dyn;
    dyn.name = "office";
    dyn.ranges = {"192.168.1.0/24"};
    dyn.type = "dhcp";
    config::internal_group fixed;
    fixed.name = "servers";
    fixed.ranges = {"192.168.1.30"};
    fixed.type = type;
    cfg.internal = {fixed, dyn};
    config::classifier c(cfg);
    std::filesystem::remove(path);
    inventory inv(path);
    inv.load();
    inv.begin();
    EXPECT_TRUE(inv.apply_sighting_batch(sightings(
        {{"192.168.1.30", 100 * s, 400 * s, 30, {}}},
        {{"192.168.1.30", "bb:00:00:00:00:0c", schema::BindingSource::ARP, 100 * s, 190 * s, 1},
         {"192.168.1.30", "bb:00:00:00:00:0d", schema::BindingSource::ARP, 210 * s, 400 * s, 1}})));
    EXPECT_TRUE(inv.apply_observation_batch(observations({
        {"", "192.168.1.30", 150 * s, "http", "hostname", "files", 70},
        {"bb:00:00:00:00:0d", "", 250 * s, "oui", "vendor", "Intel", 30},
    })));
    inv.commit();
    return build_assets(inv.model(), c);
  };
  {
    const auto assets = run("static");
    const auto* a = find_ip(assets, "192.168.1.30");
    ASSERT_NE(a, nullptr);
    // One device: the address's, with the MAC it shows now and every fact.
    EXPECT_EQ(a->mac->to_string(), "bb:00:00:00:00:0d");
    EXPECT_EQ(a->hostname, "files") << "a new NIC lost the device's facts";
    EXPECT_EQ(a->vendor, "Intel");
    EXPECT_EQ(a->packets_out, 30U);
    EXPECT_EQ(find_mac(assets, "bb:00:00:00:00:0c"), nullptr);
    std::size_t at_address = 0;
    for (const auto& x : assets) at_address += x.ip == ip("192.168.1.30") ? 1 : 0;
    EXPECT_EQ(at_address, 1U);
  }
  {
    // The same in a DHCP range: the MAC is the device, so the fact seen
    // while ..:0c held the address is not the new holder's.
    const auto assets = run("dhcp");
    const auto* a = find_ip(assets, "192.168.1.30");
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->mac->to_string(), "bb:00:00:00:00:0d");
    EXPECT_FALSE(has_evidence(*a, "hostname", "files"));
  }
}

TEST_F(fixture, best_evidence_is_highest_confidence_then_most_recent) {
  inventory inv(path);
  inv.load();
  inv.begin();
  ASSERT_TRUE(inv.apply_sighting_batch(sightings(
      {{"10.1.0.1", 1 * s, 9 * s, 5, {}}},
      {{"10.1.0.1", "cc:00:00:00:00:01", schema::BindingSource::ARP, 1 * s, 9 * s, 1}})));
  ASSERT_TRUE(inv.apply_observation_batch(observations({
      // hostname: a confident old value beats a less confident new one.
      {"cc:00:00:00:00:01", "", 2 * s, "dhcp", "hostname", "printer-a", 90},
      {"cc:00:00:00:00:01", "", 8 * s, "mdns", "hostname", "printer-b", 60},
      // vendor: equally confident: the most recent wins.
      {"cc:00:00:00:00:01", "", 2 * s, "oui", "vendor", "Old Vendor", 50},
      {"cc:00:00:00:00:01", "", 7 * s, "snmp", "vendor", "New Vendor", 50},
  })));
  // A repeat of the weaker vendor later: its last_seen moves, and it wins.
  ASSERT_TRUE(inv.apply_observation_batch(
      observations({{"cc:00:00:00:00:01", "", 9 * s, "oui", "vendor", "Old Vendor", 50}})));
  inv.commit();
  const auto assets = build_assets(inv.model(), cls);
  const auto* a = find_mac(assets, "cc:00:00:00:00:01");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->hostname, "printer-a");
  EXPECT_EQ(a->vendor, "Old Vendor");
  bool conf = false;
  for (const auto& [f, c] : a->confidence) {
    if (f == "hostname") {
      EXPECT_EQ(c, 90);
      conf = true;
    }
  }
  EXPECT_TRUE(conf);
  // Every value stays as evidence, with its own time span.
  ASSERT_TRUE(has_evidence(*a, "vendor", "Old Vendor"));
  for (const auto& e : a->evidence) {
    if (e.value == "Old Vendor") {
      EXPECT_EQ(e.first_seen, 2 * s);
      EXPECT_EQ(e.last_seen, 9 * s);
    }
  }
}

TEST_F(fixture, nat_from_several_ttls_or_os_families_and_not_otherwise) {
  inventory inv(path);
  inv.load();
  inv.begin();
  ASSERT_TRUE(inv.apply_sighting_batch(sightings({{"10.2.0.1", 1 * s, 9 * s, 5, {64, 128}},
                                                  {"10.2.0.2", 1 * s, 9 * s, 5, {64}},
                                                  {"10.2.0.3", 1 * s, 9 * s, 5, {64}}})));
  // The second batch adds a TTL already known for 10.2.0.2: still one stack.
  ASSERT_TRUE(inv.apply_sighting_batch(sightings({{"10.2.0.2", 9 * s, 10 * s, 1, {64}}})));
  ASSERT_TRUE(inv.apply_observation_batch(observations({
      {"", "10.2.0.3", 2 * s, "p0f", "os", "Linux 3.11 and newer", 60},
      {"", "10.2.0.3", 3 * s, "p0f", "os", "Windows 7 or 8", 60},
  })));
  inv.commit();
  const auto assets = build_assets(inv.model(), cls);
  const auto* a1 = find_ip(assets, "10.2.0.1");
  const auto* a2 = find_ip(assets, "10.2.0.2");
  const auto* a3 = find_ip(assets, "10.2.0.3");
  ASSERT_NE(a1, nullptr);
  ASSERT_NE(a2, nullptr);
  ASSERT_NE(a3, nullptr);
  EXPECT_TRUE(a1->nat);
  EXPECT_TRUE(has_evidence(*a1, "nat", "10.2.0.1: TCP TTLs 64 128"));
  EXPECT_FALSE(a2->nat);
  EXPECT_EQ(a2->packets_out, 6U);
  EXPECT_TRUE(a3->nat);
  EXPECT_TRUE(has_evidence(*a3, "nat", "OS families Linux Windows"));
}

TEST_F(fixture, replays_are_applied_once_and_a_restart_rebuilds_the_same_model) {
  auto first = sightings({{"10.3.0.1", 1 * s, 9 * s, 5, {64}}},
                         {{"10.3.0.1", "dd:00:00:00:00:01", schema::BindingSource::ARP, 1 * s, 9 * s, 1}});
  auto second = observations({{"dd:00:00:00:00:01", "", 2 * s, "dhcp", "hostname", "plc-1", 90}});
  auto summary = [&](const inventory& inv) {
    const auto assets = build_assets(inv.model(), cls);
    std::string out;
    for (const auto& a : assets) {
      out += (a.ip ? a.ip->to_string() : "-") + " " + (a.mac ? a.mac->to_string() : "-") + " " +
             a.hostname.value_or("-") + " " + std::to_string(a.packets_out) + "\n";
    }
    return out;
  };
  std::string before;
  {
    inventory inv(path);
    inv.load();
    inv.begin();
    ASSERT_TRUE(inv.apply_sighting_batch(first));
    ASSERT_TRUE(inv.apply_observation_batch(second));
    EXPECT_FALSE(inv.apply_sighting_batch(first)) << "a replay in the same transaction";
    inv.commit();
    before = summary(inv);
    EXPECT_EQ(before, "10.3.0.1 dd:00:00:00:00:01 plc-1 5\n");
    EXPECT_GT(inv.journal_bytes(), 0U);
  }
  {
    // After a crash: the journal is replayed.
    inventory inv(path);
    inv.load();
    EXPECT_EQ(summary(inv), before);
    inv.begin();
    EXPECT_FALSE(inv.apply_sighting_batch(first)) << "a replay after a restart";
    inv.commit();
    EXPECT_EQ(summary(inv), before);
    inv.checkpoint();
    EXPECT_EQ(inv.journal_bytes(), 0U);
  }
  {
    // After a checkpoint: the tables are read.
    inventory inv(path);
    inv.load();
    EXPECT_EQ(inv.journal_bytes(), 0U);
    EXPECT_EQ(summary(inv), before);
    // A rolled-back transaction leaves nothing behind.
    inv.begin();
    ASSERT_TRUE(inv.apply_sighting_batch(sightings({{"10.3.0.1", 9 * s, 10 * s, 100, {}}})));
    inv.rollback();
    inv.begin();
    inv.commit();
    EXPECT_EQ(summary(inv), before);
  }
}

// A checkpoint writes each table's rows 64 to a statement, then the rest
// one by one: 150 addresses (each with its binding, two TTLs and three
// facts) and 150 flows, read back from the tables alone, are the model
// that was saved, row for row.
TEST_F(fixture, a_checkpoint_of_many_rows_reads_back_as_the_same_model) {
  constexpr unsigned n = 150;  // two full statements and 22 rows one by one
  std::vector<std::string> ips, macs, values;
  for (unsigned i = 0; i < n; ++i) {
    ips.push_back("10.9." + std::to_string(i / 100) + "." + std::to_string(i % 100 + 1));
    char m[32];
    std::snprintf(m, sizeof m, "ee:00:00:00:%02x:%02x", i / 256, i % 256);
    macs.emplace_back(m);
  }
  std::vector<sighting_in> sv;
  std::vector<binding_in> bv;
  std::vector<observation_in> ov;
  values.reserve(3 * n);
  for (unsigned i = 0; i < n; ++i) {
    sv.push_back({ips[i].c_str(), (1 + i) * s, (2 + i) * s, 3 + i, {64, 128}, macs[i].c_str()});
    bv.push_back({ips[i].c_str(), macs[i].c_str(), schema::BindingSource::ARP, (1 + i) * s, (2 + i) * s, 1 + i});
    values.push_back("host-" + std::to_string(i));
    ov.push_back({macs[i].c_str(), "", (3 + i) * s, "dhcp", "hostname", values.back().c_str(), 90});
    values.push_back("Vendor " + std::to_string(i % 7));
    ov.push_back({macs[i].c_str(), "", (3 + i) * s, "dhcp", "vendor_class", values.back().c_str(), 60});
    ov.push_back({"", ips[i].c_str(), (4 + i) * s, "rule:os-test", "os", "Linux", 50});
  }
  capnp::MallocMessageBuilder mb;
  auto fb = mb.initRoot<schema::FlowBatch>();
  fb.setSchemaVersion(schema::SCHEMA_VERSION);
  fb.setProducer("aggregator.0");
  fb.setBatchId(++batch);
  auto fl = fb.initFlows(n);
  for (unsigned i = 0; i < n; ++i) {
    fl[i].setIntervalStart(1800 * s);
    fl[i].setIntervalEnd(3600 * s);
    fl[i].setClient(bytes(ip(ips[i].c_str())));
    fl[i].setServer(bytes(ip(ips[(i + 1) % n].c_str())));
    fl[i].setClientClass(schema::AddressClass::INVENTORIED);
    fl[i].setServerClass(schema::AddressClass::INVENTORIED);
    fl[i].setServerPort(static_cast<std::uint16_t>(443 + i % 3));
    fl[i].setProtocol(6);
    fl[i].setPackets(10 + i);
    fl[i].setPacketsClientToServer(5 + i);
    fl[i].setBytesClientToServer(1000 + i);
    fl[i].setBytesServerToClient(2000 + i);
    fl[i].setFirstSeen((1800 + i) * s);
    fl[i].setLastSeen((1900 + i) * s);
    fl[i].setAppService(i % 2 ? "TLS" : "HTTP");
  }
  const auto flows = frame(mb);
  auto rows_of = [&](const inventory& inv) {
    std::ostringstream o;
    for (const auto& [k, v] : inv.model().flows()) {
      o << "F " << k.interval_start << ' ' << (k.client ? k.client->to_string() : "-") << ' '
        << (k.server ? k.server->to_string() : "-") << ' ' << k.server_port << ' ' << v.packets << ' '
        << v.packets_c2s << ' ' << v.bytes_c2s << ' ' << v.bytes_s2c << ' ' << v.first_seen << ' ' << v.last_seen
        << ' ' << v.interval_end << ' ' << v.app_service.str() << '\n';
    }
    for (const auto& [k, v] : inv.model().sightings()) {
      o << "S " << (k.ip ? k.ip->to_string() : "-") << ' ' << k.mac << ' ' << v.first_seen << ' ' << v.last_seen
        << ' ' << v.packets_out << ' ' << v.bytes_out << ' ' << v.ttls.size() << '\n';
    }
    for (const auto& [k, v] : inv.model().observations()) {
      o << "O " << k.mac << ' ' << (k.ip.has_value() ? k.ip->to_string() : "-") << ' ' << k.source_text() << ' '
        << k.field.str() << ' ' << k.value.str() << ' ' << unsigned{v.confidence} << ' ' << v.first_seen << ' '
        << v.count << '\n';
    }
    return o.str();
  };
  std::string saved;
  {
    inventory inv(path);
    inv.load();
    inv.begin();
    ASSERT_TRUE(inv.apply_sighting_batch(sightings(sv, bv)));
    ASSERT_TRUE(inv.apply_observation_batch(observations(ov)));
    ASSERT_TRUE(inv.apply_flow_batch(flows));
    inv.commit();
    saved = rows_of(inv);
    EXPECT_EQ(inv.checkpoint(), 6 * n) << "rows: flows, sightings, bindings and three facts an address";
  }
  {
    SQLite::Database db(path);
    EXPECT_EQ(db.execAndGet("SELECT count(*) FROM journal").getInt(), 0);
    EXPECT_EQ(db.execAndGet("SELECT count(*) FROM flows").getInt(), static_cast<int>(n));
    EXPECT_EQ(db.execAndGet("SELECT count(*) FROM ip_sightings").getInt(), static_cast<int>(n));
    EXPECT_EQ(db.execAndGet("SELECT count(*) FROM ip_ttls").getInt(), static_cast<int>(2 * n));
    EXPECT_EQ(db.execAndGet("SELECT count(*) FROM bindings").getInt(), static_cast<int>(n));
    EXPECT_EQ(db.execAndGet("SELECT count(*) FROM observations").getInt(), static_cast<int>(3 * n));
    EXPECT_EQ(db.execAndGet("SELECT value FROM observations WHERE field = 'hostname' AND mac = " +
                            std::to_string(mac(macs[149].c_str())))
                  .getString(),
              "host-149");
  }
  inventory again(path);
  again.load();
  EXPECT_EQ(again.journal_bytes(), 0U);
  EXPECT_EQ(rows_of(again), saved);
}

}  // namespace

// The observation key's 16-byte optional address: none orders first and
// equals only none, as std::optional does, and every address (v4-mapped,
// v6, ::) comes back as it went in; the interned text columns read as their
// strings and compare by content.
TEST(ModelKeys, packed_ip_orders_and_round_trips_as_an_optional) {
  const auto v4 = net::ip_address::parse("192.0.2.7");
  const auto v6 = net::ip_address::parse("2001:db8::1");
  const auto any = net::ip_address::parse("::");
  ASSERT_TRUE(v4 && v6 && any);
  const std::vector<opt_ip> in = {std::nullopt, any, v4, v6};
  for (const auto& a : in) {
    const packed_ip p(a);
    EXPECT_EQ(p.has_value(), a.has_value());
    EXPECT_EQ(static_cast<opt_ip>(p), a);
    for (const auto& b : in) {
      EXPECT_EQ(p < packed_ip(b), a < b) << (a ? a->to_string() : "none") << " vs " << (b ? b->to_string() : "none");
      EXPECT_EQ(p == packed_ip(b), a == b);
    }
  }
  EXPECT_EQ(sizeof(packed_ip), 16u);
  string_pool pool;
  const interned x = pool.get("office"), y = pool.get(std::string("office")), e = pool.get("");
  EXPECT_EQ(x, y);
  EXPECT_EQ(x.str(), "office");
  EXPECT_TRUE(e.empty());
  EXPECT_EQ(e, interned());
  EXPECT_TRUE(e < x);
  EXPECT_FALSE(x < e);
}
