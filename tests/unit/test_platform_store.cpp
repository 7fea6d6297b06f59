// The platform's store, sensor endpoints and API routing, on SQLite and on a
// real PostgreSQL 15: the same scenarios run on both backends.
#include <capnp/message.h>
#include <capnp/serialize-packed.h>
#include <kj/io.h>

#include <functional>
#include <map>

#include "common/config/config.h"
#include "common/schema/platform.capnp.h"
#include "platform/router.h"
#include "platform/sensor_api.h"
#include "test_platform_support.h"

namespace {

using namespace platform_test;
namespace pc = tapsense::schema::platform;
namespace json = boost::json;

std::string pack(capnp::MessageBuilder& m) {
  kj::VectorOutputStream out;
  capnp::writePackedMessage(out, m);
  auto a = out.getArray();
  return std::string(reinterpret_cast<const char*>(a.begin()), a.size());
}

template <typename T>
struct unpacked {
  explicit unpacked(const std::string& bytes)
      : in(kj::ArrayPtr<const kj::byte>(reinterpret_cast<const kj::byte*>(bytes.data()), bytes.size())),
        msg(in) {}
  kj::ArrayInputStream in;
  capnp::PackedMessageReader msg;
  typename T::Reader get() { return msg.getRoot<T>(); }
};

std::string register_msg(const std::string& code, const std::string& uid) {
  capnp::MallocMessageBuilder m;
  auto r = m.initRoot<pc::RegisterRequest>();
  r.setProtocolVersion(pc::PROTOCOL_VERSION);
  r.setCode(code);
  r.setSensorUid(uid);
  r.setVersion("0.1.0");
  r.setHostname("sensor-host");
  auto a = r.initAddresses(1);
  a.set(0, "192.0.2.10");
  return pack(m);
}

struct credentials {
  std::string id, key;
  std::string auth() const { return "Sensor " + id + ":" + key; }
};

credentials do_register(store& s, const std::string& code, const std::string& uid, unsigned want = 200) {
  auto rep = handle_sensor(s, "/sensor/v1/register", "", register_msg(code, uid));
  EXPECT_EQ(rep.status, want) << rep.body;
  if (rep.status != 200) {
    return {};
  }
  unpacked<pc::RegisterResponse> r(rep.body);
  EXPECT_EQ(r.get().getStatus(), pc::SensorStatus::REGISTERED);
  return {r.get().getSensorId().cStr(), r.get().getSensorKey().cStr()};
}

struct checkin_result {
  unsigned status;
  std::string body;
};

checkin_result checkin(store& s, const credentials& c, pc::SensorStatus state, std::uint64_t rev,
                       std::uint64_t last_cmd, std::function<void(pc::CheckIn::Builder)> more = {}) {
  capnp::MallocMessageBuilder m;
  auto ci = m.initRoot<pc::CheckIn>();
  ci.setProtocolVersion(1);
  ci.setState(state);
  ci.setVersion("0.1.0");
  ci.setHostname("sensor-host");
  ci.setConfigRevision(rev);
  ci.setLastCommandId(last_cmd);
  auto h = ci.initHealth();
  h.setCpuPercent(20.0f);
  h.setRamUsedBytes(22);
  h.setRamTotalBytes(100);
  h.setDiskUsedBytes(4);
  h.setDiskTotalBytes(100);
  h.setActiveAssets1h(73);
  if (more) {
    more(ci);
  }
  auto rep = handle_sensor(s, "/sensor/v1/checkin", c.auth(), pack(m));
  return {rep.status, rep.body};
}

void fill_asset(pc::Asset::Builder a, const std::string& key, const std::string& ip, const std::string& mac,
                const std::string& host, const std::string& network = "") {
  a.setKey(key);
  a.setIp(ip);
  a.setMac(mac);
  a.setHostname(host);
  a.setNetwork(network);
  a.setVendor("Siemens");
  a.setFirstSeen(100);
  a.setLastSeen(200);
  a.setBytesIn(1000);
  auto e = a.initEvidence(1);
  e[0].setSource("dhcp");
  e[0].setField("hostname");
  e[0].setValue(host);
  e[0].setConfidence(90);
}

struct asset_spec {
  std::string key, ip, mac, host, network = "";
};


std::pair<unsigned, std::string> report(store& s, const credentials& c, std::uint64_t id, bool full,
                                        const std::vector<asset_spec>& assets,
                                        const std::vector<std::string>& removed = {}) {
  capnp::MallocMessageBuilder m;
  auto r = m.initRoot<pc::Report>();
  r.setProtocolVersion(1);
  r.setReportId(id);
  r.setFull(full);
  auto list = r.initAssets(static_cast<unsigned>(assets.size()));
  for (unsigned i = 0; i < assets.size(); ++i) {
    fill_asset(list[i], assets[i].key, assets[i].ip, assets[i].mac, assets[i].host, assets[i].network);
  }
  auto rm = r.initRemovedAssets(static_cast<unsigned>(removed.size()));
  for (unsigned i = 0; i < removed.size(); ++i) {
    rm.set(i, removed[i]);
  }
  auto rep = handle_sensor(s, "/sensor/v1/reports", c.auth(), pack(m));
  return {rep.status, rep.body};
}

json::array all_assets(store& s, std::int64_t sensor = 0) {
  return s.list_assets(sensor, std::nullopt, "", 0, 1000)["items"].as_array();
}

json::array events_of(store& s, std::int64_t sensor) {
  return s.list_events(sensor, 0, 100)["items"].as_array();
}

std::string status_of(store& s, const credentials& c) {
  return std::string(s.get_sensor(std::stoll(c.id))["status"].as_string().c_str());
}

credentials new_registered(fixture& f, const std::string& name, const std::string& uid) {
  auto o = f.s->create_sensor(name, "Pune");
  return do_register(*f.s, std::string(o["personalization_code"].as_string().c_str()), uid);
}

// ------------------------------------------------------------ scenarios

void users(fixture& f) {
  store& s = *f.s;
  s.add_user("alice", "admin", "correct horse");
  EXPECT_THROW(s.add_user("alice", "admin", "correct horse"), store_error);
  EXPECT_THROW(s.add_user("bob", "root", "correct horse"), store_error);
  EXPECT_THROW(s.add_user("bob", "viewer", "short"), store_error);
  EXPECT_FALSE(s.login("alice", "wrong password"));
  EXPECT_FALSE(s.login("nobody", "correct horse"));
  auto u = s.login("alice", "correct horse");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->role, "admin");
  auto sess = s.new_session(u->id);
  EXPECT_TRUE(s.session_user(sess));
  s.end_session(sess);
  EXPECT_FALSE(s.session_user(sess));
  auto tok = s.add_token("alice");
  ASSERT_TRUE(s.token_user(tok));
  EXPECT_EQ(s.token_user(tok)->name, "alice");
  EXPECT_FALSE(s.token_user(tok + "x"));
  // Only the hash is stored.
  EXPECT_FALSE(f.d->one("SELECT 1 FROM tokens WHERE hash = ?", {tok}));
  EXPECT_THROW(s.add_token("nobody"), store_error);
}

void registration(fixture& f) {
  store& s = *f.s;
  auto o = s.create_sensor("PS-AutoVirtual", "Pune");
  std::string code(o["personalization_code"].as_string().c_str());
  ASSERT_EQ(code.size(), 14u);
  for (char c : code) {
    EXPECT_TRUE(c >= '0' && c <= '9');
  }
  EXPECT_EQ(std::string(s.get_sensor(o["id"].as_int64())["status"].as_string().c_str()), "Unregistered");
  // Negative cases first: malformed, unknown code.
  EXPECT_EQ(handle_sensor(s, "/sensor/v1/register", "", "\x01\x02garbage").status, 400u);
  EXPECT_EQ(handle_sensor(s, "/sensor/v1/register", "", register_msg("12345678901234", "uid-a")).status, 404u);
  EXPECT_EQ(handle_sensor(s, "/sensor/v1/register", "", register_msg("123", "uid-a")).status, 400u);
  auto c1 = do_register(s, code, "uid-a");
  EXPECT_EQ(c1.id, std::to_string(o["id"].as_int64()));
  EXPECT_EQ(status_of(s, c1), "Registered");
  // A retry by the same sensor: the same sensor, a new key; the old one stops working.
  auto c2 = do_register(s, code, "uid-a");
  EXPECT_EQ(c2.id, c1.id);
  EXPECT_NE(c2.key, c1.key);
  EXPECT_EQ(s.list_sensors().size(), 1u);
  EXPECT_EQ(checkin(s, c1, pc::SensorStatus::PAUSED, 0, 0).status, 401u);
  EXPECT_EQ(checkin(s, c2, pc::SensorStatus::PAUSED, 0, 0).status, 200u);
  // Another sensor with the used code.
  do_register(s, code, "uid-b", 409);
  // An expired code.
  auto o2 = s.create_sensor("late", "wifi");
  f.advance_s(25 * 3600);
  do_register(s, std::string(o2["personalization_code"].as_string().c_str()), "uid-c", 410);
  // A new code for it works.
  auto n = s.new_code(o2["id"].as_int64());
  do_register(s, std::string(n["personalization_code"].as_string().c_str()), "uid-c");
  // Credentials: wrong key, unknown sensor, no header.
  EXPECT_EQ(checkin(s, credentials{c2.id, "00"}, pc::SensorStatus::PAUSED, 0, 0).status, 401u);
  EXPECT_EQ(checkin(s, credentials{"999", c2.key}, pc::SensorStatus::PAUSED, 0, 0).status, 401u);
  EXPECT_EQ(handle_sensor(s, "/sensor/v1/checkin", "", "").status, 401u);
}

void checkin_config_commands(fixture& f) {
  store& s = *f.s;
  auto c = new_registered(f, "s1", "uid-1");
  auto other = f.s->create_sensor("s2", "");
  std::int64_t id = std::stoll(c.id);
  s.put_config("networks", json::parse(R"([{"name": "crane1", "interfaces": ["eth2"], "vlans": [100]}])"), -1);
  s.put_config("ip-range-tags", json::parse(R"([{"name": "plant", "ranges": ["10.40.0.0/16"]}])"), -1);
  s.put_config("internal", json::parse(R"([
      {"name": "office", "sensors": [)" + c.id + R"(], "inventory": true, "default_ranges": true,
       "ip_range_tags": ["plant"], "ranges": ["192.0.2.10-192.0.2.20"], "type": "static"},
      {"name": "cranes", "network": "crane1", "inventory": false, "ranges": ["10.0.0.0/24"]},
      {"name": "elsewhere", "sensors": [)" + std::to_string(other["id"].as_int64()) + R"(], "ranges": ["10.9.0.0/16"]}])"),
               -1);
  s.put_config("excluded", json::parse(R"([{"name": "lab", "ranges": ["10.20.99.0/24"], "macs": ["00-11-22-33-44-55"]}])"), -1);
  s.put_config("monitored", json::parse(R"([{"name": "payroll", "addresses": ["203.0.113.0/28"], "domains": ["Payroll.Example.com."]}])"), -1);

  auto r = checkin(s, c, pc::SensorStatus::SENSING, 0, 0);
  ASSERT_EQ(r.status, 200u) << r.body;
  unpacked<pc::CheckInResponse> resp(r.body);
  EXPECT_EQ(resp.get().getStatus(), pc::SensorStatus::SENSING);
  std::uint64_t rev = resp.get().getConfigRevision();
  EXPECT_GE(rev, 1u);
  std::string toml = resp.get().getConfig().cStr();
  EXPECT_EQ(std::string(resp.get().getConfigHash().cStr()), sha256_hex(toml));
  EXPECT_EQ(resp.get().getPollSeconds(), 30u);
  // The fragment is the sensor configuration's own syntax: its parser takes it.
  auto cfg = tapsense::config::parse(toml, "platform fragment");
  ASSERT_EQ(cfg.internal.size(), 2u);  // "elsewhere" is another sensor's
  EXPECT_EQ(cfg.internal[0].name, "office");
  EXPECT_EQ(cfg.internal[0].type, "static");
  EXPECT_EQ(cfg.internal[0].ranges,
            (std::vector<std::string>{"default", "10.40.0.0/16", "192.0.2.10-192.0.2.20"}));
  EXPECT_EQ(cfg.internal[1].network, "crane1");
  EXPECT_FALSE(cfg.internal[1].inventory);
  ASSERT_EQ(cfg.excluded.size(), 1u);
  EXPECT_EQ(cfg.excluded[0].macs, std::vector<std::string>{"00:11:22:33:44:55"});
  ASSERT_EQ(cfg.monitored.size(), 1u);
  EXPECT_EQ(cfg.monitored[0].domains, std::vector<std::string>{"payroll.example.com"});
  ASSERT_EQ(cfg.networks.size(), 1u);
  EXPECT_EQ(cfg.networks[0].vlans, std::vector<unsigned>{100});
  EXPECT_EQ(s.get_sensor(id)["status"].as_string(), "Sensing");
  EXPECT_EQ(s.get_sensor(id)["cpu_percent"].to_number<double>(), 20.0);
  EXPECT_EQ(s.get_sensor(id)["ram_percent"].to_number<double>(), 22.0);
  EXPECT_EQ(s.get_sensor(id)["active_assets_1h"].to_number<int>(), 73);

  // Running that revision: no config again.
  auto r2 = checkin(s, c, pc::SensorStatus::SENSING, rev, 0);
  unpacked<pc::CheckInResponse> resp2(r2.body);
  EXPECT_EQ(resp2.get().getConfigRevision(), rev);
  EXPECT_FALSE(resp2.get().hasConfig() && resp2.get().getConfig().size() > 0);
  EXPECT_FALSE(s.get_sensor(id)["config"].as_object().at("pending").as_bool());

  // Interface settings: a new revision with [[capture.interface]].
  EXPECT_THROW(s.put_interfaces(id, json::parse(R"([{"name": "eth1", "mode": "ERSPAN"}])")), store_error);
  s.put_interfaces(id, json::parse(R"([{"name": "eth1", "mode": "ERSPAN", "erspan_address": "192.0.2.50"}])"));
  auto r3 = checkin(s, c, pc::SensorStatus::SENSING, rev, 0);
  unpacked<pc::CheckInResponse> resp3(r3.body);
  EXPECT_EQ(resp3.get().getConfigRevision(), rev + 1);
  std::string toml3 = resp3.get().getConfig().cStr();
  EXPECT_NE(toml3.find("[[capture.interface]]\nname = \"eth1\"\nmode = \"erspan\"\nerspan_address = \"192.0.2.50\""),
            std::string::npos)
      << toml3;
  auto cfg3 = tapsense::config::parse(toml3, "platform fragment with interfaces");
  ASSERT_EQ(cfg3.capture.interfaces.size(), 1u);
  EXPECT_EQ(cfg3.capture.interfaces[0].mode, "erspan");
  EXPECT_EQ(cfg3.capture.interfaces[0].erspan_address, "192.0.2.50");

  // Commands: ids in order, acknowledged by the last id executed.
  EXPECT_THROW(s.add_command(id, "explode"), store_error);
  EXPECT_EQ(s.add_command(id, "pause")["id"].as_int64(), 1);
  EXPECT_EQ(s.add_command(id, "reboot")["id"].as_int64(), 2);
  auto r4 = checkin(s, c, pc::SensorStatus::SENSING, rev + 1, 0);
  unpacked<pc::CheckInResponse> resp4(r4.body);
  ASSERT_EQ(resp4.get().getCommands().size(), 2u);
  EXPECT_EQ(resp4.get().getCommands()[0].getId(), 1u);
  EXPECT_EQ(std::string(resp4.get().getCommands()[0].getCommand().cStr()), "pause");
  auto r5 = checkin(s, c, pc::SensorStatus::PAUSED, rev + 1, 1);
  unpacked<pc::CheckInResponse> resp5(r5.body);
  ASSERT_EQ(resp5.get().getCommands().size(), 1u);
  EXPECT_EQ(resp5.get().getCommands()[0].getId(), 2u);
  EXPECT_EQ(resp5.get().getStatus(), pc::SensorStatus::PAUSED);
  auto r6 = checkin(s, c, pc::SensorStatus::PAUSED, rev + 1, 2);
  EXPECT_EQ(unpacked<pc::CheckInResponse>(r6.body).get().getCommands().size(), 0u);

  // Sensor events: stored once per sensor event id.
  auto with_event = [](pc::CheckIn::Builder b) {
    auto e = b.initEvents(1);
    e[0].setId(7);
    e[0].setName("Driver Change Required");
    e[0].setModule("capture");
    e[0].setType("warning");
    e[0].setCount(1);
    e[0].setFirstSeen(5);
    e[0].setLastSeen(6);
  };
  checkin(s, c, pc::SensorStatus::PAUSED, rev + 1, 2, with_event);
  checkin(s, c, pc::SensorStatus::PAUSED, rev + 1, 2, with_event);
  int driver = 0;
  for (auto& e : events_of(s, id)) {
    driver += e.as_object().at("event").as_string() == "Driver Change Required" ? 1 : 0;
  }
  EXPECT_EQ(driver, 1);

  // Not Connected after 3 x 30 s + 30 s, one event on the transition.
  f.advance_s(119);
  EXPECT_EQ(status_of(s, c), "Paused");
  EXPECT_EQ(s.sweep_not_connected(), 0);
  f.advance_s(2);
  EXPECT_EQ(status_of(s, c), "Not Connected");
  EXPECT_EQ(s.sweep_not_connected(), 1);
  EXPECT_EQ(s.sweep_not_connected(), 0);
  int nc = 0;
  for (auto& e : events_of(s, id)) {
    nc += e.as_object().at("event").as_string() == "Sensor Not Connected" ? 1 : 0;
  }
  EXPECT_EQ(nc, 1);
  checkin(s, c, pc::SensorStatus::SENSING, rev + 1, 2);
  EXPECT_EQ(status_of(s, c), "Sensing");

  // Deregister: the key answers 403 at once; a deleted sensor is gone.
  EXPECT_THROW(s.delete_sensor(id), store_error);
  s.add_command(id, "deregister");
  EXPECT_EQ(checkin(s, c, pc::SensorStatus::SENSING, rev + 1, 2).status, 403u);
  EXPECT_EQ(status_of(s, c), "Deregistered");
  // Registering again takes a new code; old commands are not replayed.
  auto code = s.new_code(id);
  auto again = do_register(s, std::string(code["personalization_code"].as_string().c_str()), "uid-1b");
  EXPECT_EQ(again.id, c.id);
  EXPECT_EQ(status_of(s, again), "Registered");
  auto r7 = checkin(s, again, pc::SensorStatus::PAUSED, 0, 0);
  ASSERT_EQ(r7.status, 200u);
  EXPECT_EQ(unpacked<pc::CheckInResponse>(r7.body).get().getCommands().size(), 0u);
  s.add_command(id, "deregister");
  s.delete_sensor(id);
  EXPECT_THROW(s.get_sensor(id), store_error);
}

// Every truncation and many corruptions of valid messages: an answer, never
// a crash or an exception out of the handler.
void robustness(fixture& f) {
  store& s = *f.s;
  auto o = s.create_sensor("r", "");
  std::string code(o["personalization_code"].as_string().c_str());
  auto c = do_register(s, code, "uid-r");
  // A zero run that unpacks to more than the limit answers 413, not memory.
  std::string bomb;
  for (int i = 0; i < 70000; ++i) {
    bomb += std::string("\x00\xff", 2);
  }
  EXPECT_EQ(handle_sensor(s, "/sensor/v1/reports", c.auth(), bomb).status, 413u);
  std::vector<std::pair<std::string, std::string>> valid;
  {
    capnp::MallocMessageBuilder m;
    auto r = m.initRoot<pc::Report>();
    r.setReportId(1);
    fill_asset(r.initAssets(1)[0], "k", "10.0.0.1", "aa:00:00:00:00:01", "h");
    valid.emplace_back("/sensor/v1/reports", pack(m));
  }
  {
    capnp::MallocMessageBuilder m;
    auto ci = m.initRoot<pc::CheckIn>();
    ci.setState(pc::SensorStatus::SENSING);
    ci.initEvents(2)[1].setName("x");
    ci.initInterfaces(1)[0].setName("eth1");
    valid.emplace_back("/sensor/v1/checkin", pack(m));
  }
  // Last: a registration that goes through changes the key the others use.
  valid.emplace_back("/sensor/v1/register", register_msg(code, "uid-r"));
  std::uint32_t seed = 12345;
  auto rnd = [&]() { return seed = seed * 1103515245u + 12345u; };
  int answered = 0;
  for (const auto& [path, msg] : valid) {
    for (std::size_t len = 0; len < msg.size(); ++len) {
      auto rep = handle_sensor(s, path, c.auth(), msg.substr(0, len));
      EXPECT_TRUE(rep.status == 200 || rep.status == 400 || rep.status == 404 || rep.status == 409) << rep.status;
      ++answered;
    }
    for (int i = 0; i < 300; ++i) {
      std::string m = msg;
      for (int k = 0; k < 3; ++k) {
        m[rnd() % m.size()] = static_cast<char>(rnd() >> 8);
      }
      auto rep = handle_sensor(s, path, c.auth(), m);
      EXPECT_LT(rep.status, 500u) << rep.body;
      EXPECT_EQ(rep.body.empty(), false);
      ++answered;
    }
  }
  EXPECT_GT(answered, 900);
}

void reports(fixture& f) {
  store& s = *f.s;
  auto c = new_registered(f, "s1", "uid-1");
  std::int64_t id = std::stoll(c.id);
  auto [st1, b1] = report(s, c, 1, true,
                          {{"aa:00:00:00:00:01", "10.0.0.1", "aa:00:00:00:00:01", "plc-1"},
                           {"aa:00:00:00:00:02", "10.0.0.2", "aa:00:00:00:00:02", "hmi-1"}});
  ASSERT_EQ(st1, 200u) << b1;
  EXPECT_FALSE(unpacked<pc::ReportAck>(b1).get().getDuplicate());
  EXPECT_EQ(all_assets(s).size(), 2u);
  // The same report again: acknowledged, stored once.
  auto [st2, b2] = report(s, c, 1, false, {{"aa:00:00:00:00:03", "10.0.0.3", "aa:00:00:00:00:03", "x"}});
  ASSERT_EQ(st2, 200u);
  EXPECT_TRUE(unpacked<pc::ReportAck>(b2).get().getDuplicate());
  EXPECT_EQ(all_assets(s).size(), 2u);
  EXPECT_EQ(f.d->one("SELECT COUNT(*) FROM reports")->i64(0), 1);
  // A delta after a gap: kept, and the platform asks for the full state.
  auto [st3, b3] = report(s, c, 3, false, {{"aa:00:00:00:00:03", "10.0.0.3", "aa:00:00:00:00:03", "x"}});
  ASSERT_EQ(st3, 200u);
  EXPECT_TRUE(unpacked<pc::ReportAck>(b3).get().getNeedFull());
  EXPECT_EQ(all_assets(s).size(), 3u);
  // removedAssets, then a full report that drops what it does not list.
  report(s, c, 4, false, {}, {"aa:00:00:00:00:03"});
  EXPECT_EQ(all_assets(s).size(), 2u);
  report(s, c, 5, true, {{"aa:00:00:00:00:01", "10.0.0.1", "aa:00:00:00:00:01", "plc-1"}});
  auto a = all_assets(s);
  ASSERT_EQ(a.size(), 1u);
  auto detail = s.get_asset(a[0].as_object().at("id").as_int64());
  ASSERT_EQ(detail["discovery"].as_array().size(), 1u);
  auto& rec = detail["discovery"].as_array()[0].as_object().at("record").as_object();
  EXPECT_EQ(rec.at("evidence").as_array()[0].as_object().at("source").as_string(), "dhcp");
  EXPECT_EQ(detail["traffic"].as_object().at("bytes_in").to_number<int>(), 1000);
  // Malformed and oversized-in-content reports answer 400.
  EXPECT_EQ(handle_sensor(s, "/sensor/v1/reports", c.auth(), "nonsense").status, 400u);
  EXPECT_EQ(report(s, c, 0, false, {}).first, 400u);
  EXPECT_EQ(report(s, c, 6, false, {{"", "10.0.0.9", "", ""}}).first, 400u);
  // Delete Assets clears the sensor's assets on the platform.
  s.add_command(id, "delete_assets");
  EXPECT_EQ(all_assets(s).size(), 0u);
}

void dedup(fixture& f) {
  store& s = *f.s;
  auto a = new_registered(f, "branch-a", "uid-a");
  auto b = new_registered(f, "branch-b", "uid-b");
  s.put_config("general", json::parse(R"({"hostname_exclusions": ["LocalHost"]})"), -1);
  s.put_config("networks", json::parse(R"([{"name": "crane1", "vlans": [11]}, {"name": "crane2", "vlans": [12]}])"), -1);
  // 1. MAC: the same device seen by both sensors.
  report(s, a, 1, true, {{"m1", "10.1.0.5", "aa:bb:cc:00:00:01", "PLC-1"}});
  report(s, b, 1, true, {{"m1", "10.1.0.5", "aa:bb:cc:00:00:01", ""}});
  auto all = all_assets(s);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].as_object().at("sensors").as_array().size(), 2u);
  EXPECT_EQ(all[0].as_object().at("hostname").as_string(), "PLC-1");  // B's empty name erases nothing
  // 2. Hostname, case-insensitive, when B sees it routed (no MAC).
  report(s, b, 2, false, {{"10.1.0.6", "10.1.0.6", "", "hmi-7"}});
  report(s, a, 2, false, {{"aa:bb:cc:00:00:07", "10.1.0.6", "aa:bb:cc:00:00:07", "HMI-7"}});
  EXPECT_EQ(all_assets(s).size(), 2u);
  // ... but never on an excluded host name.
  report(s, a, 3, false, {{"10.1.0.20", "10.1.0.20", "", "localhost"}});
  report(s, b, 3, false, {{"10.1.0.21", "10.1.0.21", "", "LOCALHOST"}});
  EXPECT_EQ(all_assets(s).size(), 4u);
  // 3. Network and IP, when neither MAC nor host name is known.
  report(s, a, 4, false, {{"10.1.0.30", "10.1.0.30", "", ""}});
  report(s, b, 4, false, {{"10.1.0.30", "10.1.0.30", "", ""}});
  EXPECT_EQ(all_assets(s).size(), 5u);
  // The cranes: the same IP in two networks is two assets.
  report(s, a, 5, false, {{"crane1/10.0.0.5", "10.0.0.5", "", "", "crane1"}});
  report(s, b, 5, false, {{"crane2/10.0.0.5", "10.0.0.5", "", "", "crane2"}});
  EXPECT_EQ(all_assets(s).size(), 7u);
  // Two MACs behind one IP are two devices.
  report(s, a, 6, false, {{"aa:bb:cc:00:00:40", "10.1.0.40", "aa:bb:cc:00:00:40", ""}});
  report(s, b, 6, false, {{"aa:bb:cc:00:00:41", "10.1.0.40", "aa:bb:cc:00:00:41", ""}});
  EXPECT_EQ(all_assets(s).size(), 9u);
  // Filters: by sensor, network, text.
  EXPECT_EQ(s.list_assets(0, std::string("crane1"), "", 0, 100)["items"].as_array().size(), 1u);
  EXPECT_EQ(s.list_assets(0, std::nullopt, "plc", 0, 100)["items"].as_array().size(), 1u);
  auto page = s.list_assets(0, std::nullopt, "", 0, 4);
  EXPECT_EQ(page["items"].as_array().size(), 4u);
  ASSERT_TRUE(page["next_cursor"].is_string());
  // Tags of the internal groups covering an asset, for the sensors they name.
  s.put_config("internal", json::parse(R"([{"name": "branch-a", "sensors": [)" + a.id +
                                       R"(], "ranges": ["10.1.0.0/16"], "tags": ["Branch A", "PLCs"]},
      {"name": "cranes", "ranges": ["10.0.0.0/24"], "network": "crane1", "tags": ["Crane 1"]}])"),
               -1);
  auto tagged = s.list_assets(0, std::nullopt, "aa:bb:cc:00:00:07", 0, 10)["items"].as_array();
  ASSERT_EQ(tagged.size(), 1u);
  EXPECT_EQ(json::serialize(tagged[0].as_object().at("tags")), R"(["Branch A","PLCs"])");
  auto c1 = s.list_assets(0, std::string("crane1"), "", 0, 10)["items"].as_array();
  auto c2 = s.list_assets(0, std::string("crane2"), "", 0, 10)["items"].as_array();
  ASSERT_EQ(c1.size(), 1u);
  ASSERT_EQ(c2.size(), 1u);
  EXPECT_EQ(json::serialize(c1[0].as_object().at("tags")), R"(["Crane 1"])");
  EXPECT_EQ(json::serialize(c2[0].as_object().at("tags")), R"([])");
  // Removing A's record keeps the asset B still sees.
  report(s, a, 7, false, {}, {"m1"});
  auto m = s.list_assets(0, std::nullopt, "aa:bb:cc:00:00:01", 0, 10)["items"].as_array();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].as_object().at("sensors").as_array().size(), 1u);
  EXPECT_EQ(m[0].as_object().at("sensors").as_array()[0].as_object().at("name").as_string(), "branch-b");
}

void api_auth(fixture& f) {
  store& s = *f.s;
  s.add_user("admin1", "admin", "admin password");
  s.add_user("view1", "viewer", "viewer password");
  std::string at = s.add_token("admin1");
  std::string vt = s.add_token("view1");
  auto call = [&](const std::string& m, const std::string& target, const std::string& auth, const std::string& body = "",
                  const std::string& cookie = "", const std::string& csrf = "") {
    http_request r;
    r.method = m;
    r.target = target;
    r.authorization = auth;
    r.body = body;
    r.cookie = cookie;
    r.csrf_token = csrf;
    return route(s, r);
  };
  EXPECT_EQ(call("GET", "/api/v1/sensors", "").status, 401u);
  EXPECT_EQ(call("GET", "/api/v1/sensors", "Bearer nope").status, 401u);
  EXPECT_EQ(call("GET", "/api/v1/openapi.json", "").status, 401u);
  EXPECT_EQ(call("POST", "/api/v1/sensors", "Bearer " + vt, R"({"name": "x"})").status, 403u);
  EXPECT_EQ(call("GET", "/api/v1/sensors", "Bearer " + vt).status, 200u);
  auto created = call("POST", "/api/v1/sensors", "Bearer " + at, R"({"name": "x", "location": "Pune"})");
  EXPECT_EQ(created.status, 201u) << created.body;
  EXPECT_EQ(call("POST", "/api/v1/sensors", "Bearer " + at, "{not json").status, 400u);
  EXPECT_EQ(call("POST", "/api/v1/sensors", "Bearer " + at, R"({"name": "x"})").status, 409u);
  auto bad = call("PUT", "/api/v1/config/excluded", "Bearer " + at, R"([{"name": "", "ranges": ["10.0.0.0/33"]}])");
  EXPECT_EQ(bad.status, 400u);
  EXPECT_EQ(bad.content_type, "application/problem+json");
  EXPECT_NE(bad.body.find("excluded[0].name: required"), std::string::npos) << bad.body;
  EXPECT_NE(bad.body.find("10.0.0.0/33"), std::string::npos) << bad.body;
  // Revisions: a stale If-Match is refused.
  auto put = [&](const std::string& if_match) {
    http_request r{"PUT", "/api/v1/config/general", "Bearer " + at, "", if_match, R"({"email_recipients": ["a@b.c"]})", ""};
    return route(s, r);
  };
  EXPECT_EQ(put("\"0\"").status, 200u);
  EXPECT_EQ(put("\"0\"").status, 412u);
  // Sessions: login sets a strict cookie; logout ends it.
  EXPECT_EQ(call("POST", "/api/v1/login", "", R"({"name": "admin1", "password": "nope"})").status, 401u);
  auto login = call("POST", "/api/v1/login", "", R"({"name": "admin1", "password": "admin password"})");
  ASSERT_EQ(login.status, 200u);
  std::string cookie;
  for (auto& [k, v] : login.headers) {
    if (k == "Set-Cookie") {
      cookie = v;
    }
  }
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos);
  EXPECT_NE(cookie.find("Secure"), std::string::npos);
  EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos);
  std::string pair = cookie.substr(0, cookie.find(';'));
  EXPECT_EQ(call("GET", "/api/v1/me", "", "", pair).status, 200u);
  std::string csrf = json::parse(login.body).as_object().at("csrf_token").as_string().c_str();
  EXPECT_EQ(call("POST", "/api/v1/logout", "", "", pair).status, 403u);  // no CSRF token
  EXPECT_EQ(call("POST", "/api/v1/logout", "", "", pair, "wrong").status, 403u);
  EXPECT_EQ(call("POST", "/api/v1/logout", "", "", pair, csrf).status, 204u);
  EXPECT_EQ(call("GET", "/api/v1/me", "", "", pair).status, 401u);
  // The OpenAPI document lists every path the tests call.
  auto doc = json::parse(call("GET", "/api/v1/openapi.json", "Bearer " + vt).body).as_object();
  EXPECT_EQ(doc.at("openapi").as_string().subview().substr(0, 2), "3.");
  for (const char* p : {"/api/v1/sensors", "/api/v1/sensors/{id}", "/api/v1/sensors/{id}/commands",
                        "/api/v1/config/internal", "/api/v1/config/ip-range-tags", "/api/v1/config/excluded",
                        "/api/v1/config/monitored", "/api/v1/config/general", "/api/v1/sensors/{id}/interfaces",
                        "/api/v1/assets", "/api/v1/assets/{id}", "/api/v1/events", "/api/v1/login"}) {
    EXPECT_TRUE(doc.at("paths").as_object().contains(p)) << p;
  }
}

// Flows as the sensor sends them: an unassigned client's (DHCP from 0.0.0.0,
// clientMac set) count for the asset with that MAC; nDPI's family and
// service reach the console's summary and the ECS export.
void flows(fixture& f) {
  store& s = *f.s;
  s.add_user("admin1", "admin", "admin password");
  std::string tok = s.add_token("admin1");
  auto c = new_registered(f, "s1", "uid-1");
  struct spec {
    std::string client, server, mac, family, service, application;
    unsigned proto, port;
    std::uint64_t cs, sc, packets, packets_cs;
  };
  const std::vector<spec> specs = {
      // laptop-5's DHCP DISCOVER before it had 10.0.0.5, and another device's.
      {"0.0.0.0", "255.255.255.255", "aa:00:00:00:00:05", "Network", "DHCP", "", 17, 67, 342, 0, 1, 1},
      {"0.0.0.0", "255.255.255.255", "aa:00:00:00:00:09", "Network", "DHCP", "", 17, 67, 350, 0, 1, 1},
      // laptop-5 as a client of the web, twice; as an SSH server nDPI did not name.
      {"10.0.0.5", "External", "", "Web Services", "HTTPS", "Google", 6, 443, 500, 1500, 10, 4},
      {"10.0.0.5", "External", "", "Web Services", "HTTPS", "", 6, 443, 100, 200, 5, 2},
      {"10.0.0.1", "10.0.0.5", "", "", "", "", 6, 22, 70, 30, 3, 2},
  };
  capnp::MallocMessageBuilder m;
  auto r = m.initRoot<pc::Report>();
  r.setProtocolVersion(1);
  r.setReportId(1);
  r.setFull(true);
  auto list = r.initAssets(1);
  fill_asset(list[0], "aa:00:00:00:00:05", "10.0.0.5", "aa:00:00:00:00:05", "laptop-5");
  auto fl = r.initFlows(static_cast<unsigned>(specs.size()));
  for (unsigned i = 0; i < specs.size(); ++i) {
    const auto& x = specs[i];
    auto b = fl[i];
    b.setIntervalStart(1'700'000'000'000'000'000ULL + i);
    b.setIntervalEnd(1'700'000'060'000'000'000ULL);
    b.setClient(x.client);
    b.setServer(x.server);
    b.setClientMac(x.mac);
    b.setAppFamily(x.family);
    b.setAppService(x.service);
    b.setApplication(x.application);
    b.setProtocol(static_cast<std::uint8_t>(x.proto));
    b.setServerPort(static_cast<std::uint16_t>(x.port));
    b.setBytesClientToServer(x.cs);
    b.setBytesServerToClient(x.sc);
    b.setPackets(x.packets);
    b.setPacketsClientToServer(x.packets_cs);
  }
  ASSERT_EQ(handle_sensor(s, "/sensor/v1/reports", c.auth(), pack(m)).status, 200u);
  auto a = all_assets(s);
  ASSERT_EQ(a.size(), 1u);
  std::int64_t id = a[0].as_object().at("id").as_int64();
  auto get = [&](const std::string& target) {
    http_request q;
    q.method = "GET";
    q.target = target;
    q.authorization = "Bearer " + tok;
    auto rep = route(s, q);
    EXPECT_EQ(rep.status, 200u) << target << ": " << rep.body;
    return rep.body;
  };
  auto t = json::parse(get("/api/v1/console/assets/" + std::to_string(id) + "/traffic")).as_object();
  // (family, service, role) -> "ingress egress total flows", as traffic.json would have them.
  std::map<std::string, std::string> got;
  for (auto& v : t.at("summary").as_array()) {
    auto& o = v.as_object();
    got[std::string(o.at("family").as_string()) + "|" + std::string(o.at("application").as_string()) + "|" +
        std::string(o.at("role").as_string())] =
        std::to_string(o.at("ingress").as_int64()) + " " + std::to_string(o.at("egress").as_int64()) + " " +
        std::to_string(o.at("total").as_int64()) + " " + std::to_string(o.at("flows").as_int64());
  }
  std::map<std::string, std::string> want = {{"Network|DHCP|Client", "0 342 342 1"},
                                             {"Web Services|HTTPS|Client", "1700 600 2300 2"},
                                             {"Unknown|tcp/22|Server", "70 30 100 1"}};
  EXPECT_EQ(got, want);
  EXPECT_EQ(t.at("flows_total").as_int64(), 4);
  bool dhcp = false;
  for (auto& v : t.at("flows").as_array()) {
    auto& o = v.as_object();
    if (o.at("service") == "DHCP") {
      dhcp = true;
      EXPECT_EQ(o.at("role"), "Client");
      EXPECT_EQ(o.at("peer"), "255.255.255.255");
      EXPECT_EQ(o.at("client_mac"), "aa:00:00:00:00:05");
      EXPECT_EQ(o.at("family"), "Network");
      EXPECT_EQ(o.at("egress").as_int64(), 342);
    }
  }
  EXPECT_TRUE(dhcp);
  // The asset's peers (GET /assets/{id}) count the DHCP flow too.
  auto peers = s.get_asset(id)["traffic"].as_object().at("peers").as_array();
  std::int64_t out = 0;
  for (auto& p : peers) out += p.as_object().at("role") == "client" ? p.as_object().at("bytes_client_to_server").as_int64() : 0;
  EXPECT_EQ(out, 342 + 500 + 100);
  // ECS: the unassigned client's MAC, packets each way, the service.
  auto body = get("/api/v1/export/ecs/flows?limit=100");
  std::vector<json::object> docs;
  for (std::size_t p = 0, e; p < body.size(); p = e + 1) {
    e = body.find('\n', p);
    if (e == std::string::npos) e = body.size();
    if (e > p) docs.push_back(json::parse(body.substr(p, e - p)).as_object());
  }
  ASSERT_EQ(docs.size(), specs.size());
  auto& d0 = docs[0];
  EXPECT_EQ(d0.at("source").as_object().at("mac"), "AA-00-00-00-00-05");
  EXPECT_EQ(d0.at("network").as_object().at("protocol"), "DHCP");
  auto& d2 = docs[2];
  EXPECT_FALSE(d2.at("source").as_object().contains("mac"));
  EXPECT_EQ(d2.at("source").as_object().at("packets").as_int64(), 4);
  EXPECT_EQ(d2.at("destination").as_object().at("packets").as_int64(), 6);
  EXPECT_EQ(d2.at("network").as_object().at("protocol"), "HTTPS");
  EXPECT_EQ(d2.at("network").as_object().at("application"), "Google");
  EXPECT_FALSE(docs[4].at("network").as_object().contains("protocol"));
}

struct scenario {
  const char* name;
  void (*fn)(fixture&);
};
const scenario scenarios[] = {{"users", users},     {"registration", registration},
                              {"checkin_config_commands", checkin_config_commands},
                              {"reports", reports}, {"dedup", dedup},
                              {"api_auth", api_auth}, {"robustness", robustness},
                              {"flows", flows}};

TEST(platform_sqlite, users) { fixture f; users(f); }
TEST(platform_sqlite, registration) { fixture f; registration(f); }
TEST(platform_sqlite, checkin_config_commands) { fixture f; checkin_config_commands(f); }
TEST(platform_sqlite, reports) { fixture f; reports(f); }
TEST(platform_sqlite, dedup) { fixture f; dedup(f); }
TEST(platform_sqlite, api_auth) { fixture f; api_auth(f); }
TEST(platform_sqlite, robustness) { fixture f; robustness(f); }
TEST(platform_sqlite, flows) { fixture f; flows(f); }

TEST(platform_sqlite, migrations_are_recorded_once) {
  fixture f;
  EXPECT_EQ(f.d->one("SELECT MAX(version) FROM schema_migrations")->i64(0), schema_version());
  auto again = open_db("", f.dir);  // a second start applies nothing twice
  EXPECT_EQ(again->one("SELECT COUNT(*) FROM schema_migrations")->i64(0), schema_version());
}

// Every scenario again on a real PostgreSQL 15, each in a fresh database.
TEST(platform_postgres, all_scenarios) {
  postgres pg;
  if (!pg.running()) {
    GTEST_SKIP() << pg.why();
  }
  for (const auto& sc : scenarios) {
    SCOPED_TRACE(sc.name);
    fixture f(pg.fresh_database());
    EXPECT_EQ(f.d->kind(), db::dialect::postgres);
    sc.fn(f);
  }
}

}  // namespace
