#include "platform/sensor_api.h"

#include <capnp/message.h>
#include <capnp/serialize-packed.h>
#include <capnp/serialize.h>
#include <kj/io.h>

#include "common/schema/platform.capnp.h"

namespace tapsense::platform {

namespace json = boost::json;
namespace pc = tapsense::schema::platform;

namespace {

// Valid UTF-8 without NUL (PostgreSQL's text takes nothing else, and the
// JSON API hands these strings on).
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c == 0) {
      return false;
    } else if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1fu;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0fu;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07u;
    } else {
      return false;
    }
    if (s.size() - i <= n) {
      return false;
    }
    for (std::size_t k = 1; k <= n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) {
        return false;
      }
      cp = (cp << 6) | (cc & 0x3fu);
    }
    static constexpr std::uint32_t min_cp[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

std::string str(capnp::Text::Reader t) {
  std::string_view v(t.cStr(), t.size());
  if (!valid_utf8(v)) {
    throw store_error(400, "malformed message: a text field is not UTF-8");
  }
  return std::string(v);
}

json::array texts(capnp::List<capnp::Text>::Reader l) {
  json::array a;
  for (auto t : l) {
    a.emplace_back(str(t));
  }
  return a;
}

std::string status_text(pc::SensorStatus s) {
  switch (s) {
    case pc::SensorStatus::SENSING: return status_sensing;
    case pc::SensorStatus::PAUSED: return status_paused;
    case pc::SensorStatus::REGISTERED: return status_registered;
    case pc::SensorStatus::NOT_CONNECTED: return status_not_connected;
    case pc::SensorStatus::DEREGISTERED: return status_deregistered;
    case pc::SensorStatus::UNREGISTERED: return status_unregistered;
  }
  return status_registered;
}

pc::SensorStatus status_enum(const std::string& s) {
  if (s == status_sensing) return pc::SensorStatus::SENSING;
  if (s == status_paused) return pc::SensorStatus::PAUSED;
  if (s == status_not_connected) return pc::SensorStatus::NOT_CONNECTED;
  if (s == status_deregistered) return pc::SensorStatus::DEREGISTERED;
  if (s == status_unregistered) return pc::SensorStatus::UNREGISTERED;
  return pc::SensorStatus::REGISTERED;
}

std::string packed(capnp::MessageBuilder& m) {
  kj::VectorOutputStream out;
  capnp::writePackedMessage(out, m);
  auto a = out.getArray();
  return std::string(reinterpret_cast<const char*>(a.begin()), a.size());
}

sensor_reply text(unsigned status, const std::string& line) {
  return sensor_reply{status, "text/plain", line + "\n"};
}

void check_version(std::uint16_t v) {
  if (v > pc::PROTOCOL_VERSION) {
    throw store_error(400, "protocol version " + std::to_string(v) + " is newer than this platform's " +
                               std::to_string(pc::PROTOCOL_VERSION));
  }
}

std::int64_t ns(std::uint64_t v) { return v > static_cast<std::uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<std::int64_t>(v); }

asset_record to_record(pc::Asset::Reader a) {
  asset_record r;
  r.key = str(a.getKey());
  r.ip = str(a.getIp());
  r.mac = str(a.getMac());
  r.hostname = str(a.getHostname());
  r.vendor = str(a.getVendor());
  r.os = str(a.getOs());
  r.device_type = str(a.getDeviceType());
  r.device_class = str(a.getDeviceClass());
  r.model = str(a.getModel());
  r.network = str(a.getNetwork());
  r.first_seen = ns(a.getFirstSeen());
  r.last_seen = ns(a.getLastSeen());
  if (r.key.empty()) {
    throw store_error(400, "asset without a key");
  }
  json::object& o = r.record;
  o["key"] = r.key;
  o["ip"] = r.ip;
  o["mac"] = r.mac;
  o["hostname"] = r.hostname;
  o["vendor"] = r.vendor;
  o["os"] = r.os;
  o["os_family"] = str(a.getOsFamily());
  o["os_version"] = str(a.getOsVersion());
  o["device_type"] = r.device_type;
  o["device_class"] = r.device_class;
  o["model"] = r.model;
  o["firmware"] = str(a.getFirmware());
  o["network"] = r.network;
  o["first_seen"] = r.first_seen;
  o["last_seen"] = r.last_seen;
  o["bytes_in"] = a.getBytesIn();
  o["bytes_out"] = a.getBytesOut();
  o["packets_in"] = a.getPacketsIn();
  o["packets_out"] = a.getPacketsOut();
  o["nat"] = a.getNat();
  o["ips"] = texts(a.getIps());
  json::array services;
  for (auto s : a.getServices()) {
    json::object so;
    so["protocol"] = s.getProtocol();
    so["port"] = s.getPort();
    so["service"] = str(s.getService());
    services.push_back(so);
  }
  o["services"] = services;
  json::array evidence;
  for (auto e : a.getEvidence()) {
    json::object eo;
    eo["source"] = str(e.getSource());
    eo["field"] = str(e.getField());
    eo["value"] = str(e.getValue());
    eo["confidence"] = e.getConfidence();
    eo["first_seen"] = ns(e.getFirstSeen());
    eo["last_seen"] = ns(e.getLastSeen());
    evidence.push_back(eo);
  }
  o["evidence"] = evidence;
  json::object conf;
  for (auto c : a.getConfidence()) {
    conf[str(c.getField())] = c.getConfidence();
  }
  o["confidence"] = conf;
  return r;
}

sensor_reply do_register(store& s, capnp::MessageReader& msg) {
  auto req = msg.getRoot<pc::RegisterRequest>();
  check_version(req.getProtocolVersion());
  auto reg = s.register_sensor(str(req.getCode()), str(req.getSensorUid()), str(req.getVersion()),
                               str(req.getHostname()), texts(req.getAddresses()), texts(req.getMacs()));
  capnp::MallocMessageBuilder out;
  auto r = out.initRoot<pc::RegisterResponse>();
  r.setSensorId(std::to_string(reg.sensor_id));
  r.setSensorKey(reg.key);
  r.setStatus(status_enum(reg.status));
  r.setName(reg.name);
  r.setLocation(reg.location);
  return sensor_reply{200, "application/x-capnp-packed", packed(out)};
}

sensor_reply do_checkin(store& s, std::int64_t id, capnp::MessageReader& msg) {
  auto c = msg.getRoot<pc::CheckIn>();
  check_version(c.getProtocolVersion());
  store::checkin_in in;
  in.state = status_text(c.getState());
  in.version = str(c.getVersion());
  in.hostname = str(c.getHostname());
  in.addresses = texts(c.getAddresses());
  in.macs = texts(c.getMacs());
  in.config_revision = c.getConfigRevision();
  in.config_error = str(c.getConfigError());
  in.failed_revision = c.getFailedRevision();
  in.last_command_id = c.getLastCommandId();
  in.last_report_id = c.getLastReportId();
  if (c.hasHealth()) {
    auto h = c.getHealth();
    json::object& o = in.health;
    o["cpu_percent"] = h.getCpuPercent();
    o["ram_used_bytes"] = h.getRamUsedBytes();
    o["ram_total_bytes"] = h.getRamTotalBytes();
    o["disk_used_bytes"] = h.getDiskUsedBytes();
    o["disk_total_bytes"] = h.getDiskTotalBytes();
    o["network_bits_per_second"] = h.getNetworkBitsPerSecond();
    o["link_capacity_bits_per_second"] = h.getLinkCapacityBitsPerSecond();
    o["active_assets_1h"] = h.getActiveAssets1h();
    o["estimated_max_throughput_bps"] = h.getEstimatedMaxThroughputBps();
    o["packets"] = h.getPackets();
    o["drops"] = h.getDrops();
    o["uptime_seconds"] = h.getUptimeSeconds();
  }
  for (auto i : c.getInterfaces()) {
    json::object o;
    o["name"] = str(i.getName());
    o["up"] = i.getUp();
    o["link_mbps"] = i.getLinkMbps();
    o["mode"] = str(i.getMode());
    o["erspan_address"] = str(i.getErspanAddress());
    o["mac"] = str(i.getMac());
    o["packets"] = i.getPackets();
    o["drops"] = i.getDrops();
    in.interfaces.push_back(o);
  }
  for (auto e : c.getEvents()) {
    in.events.push_back(store::checkin_in::event{e.getId(), str(e.getName()), str(e.getModule()), str(e.getType()),
                                                 str(e.getMessage()), ns(e.getFirstSeen()), ns(e.getLastSeen()),
                                                 static_cast<std::int64_t>(e.getCount())});
  }
  auto r = s.checkin(id, in);
  capnp::MallocMessageBuilder out;
  auto o = out.initRoot<pc::CheckInResponse>();
  o.setStatus(status_enum(r.status));
  o.setConfigRevision(r.config_revision);
  o.setConfigHash(r.config_hash);
  if (!r.config.empty()) {
    o.setConfig(r.config);
  }
  auto cmds = o.initCommands(static_cast<unsigned>(r.commands.size()));
  for (unsigned i = 0; i < r.commands.size(); ++i) {
    cmds[i].setId(r.commands[i].first);
    cmds[i].setCommand(r.commands[i].second);
  }
  o.setPollSeconds(s.poll_seconds());
  return sensor_reply{200, "application/x-capnp-packed", packed(out)};
}

sensor_reply do_report(store& s, std::int64_t id, capnp::MessageReader& msg) {
  auto rep = msg.getRoot<pc::Report>();
  check_version(rep.getProtocolVersion());
  std::vector<asset_record> assets;
  for (auto a : rep.getAssets()) {
    assets.push_back(to_record(a));
  }
  std::vector<std::string> removed;
  for (auto k : rep.getRemovedAssets()) {
    removed.push_back(str(k));
  }
  std::vector<flow_row> flows;
  for (auto f : rep.getFlows()) {
    flow_row r;
    r.network = str(f.getNetwork());
    r.client = str(f.getClient());
    r.server = str(f.getServer());
    r.application = str(f.getApplication());
    r.client_mac = str(f.getClientMac());
    r.app_family = str(f.getAppFamily());
    r.app_service = str(f.getAppService());
    r.packets_cs = ns(f.getPacketsClientToServer());
    r.protocol = f.getProtocol();
    r.server_port = f.getServerPort();
    r.bytes_cs = ns(f.getBytesClientToServer());
    r.bytes_sc = ns(f.getBytesServerToClient());
    r.packets = ns(f.getPackets());
    r.interval_start = ns(f.getIntervalStart());
    r.interval_end = ns(f.getIntervalEnd());
    flows.push_back(std::move(r));
  }
  auto ack = s.report(id, rep.getReportId(), rep.getFull(), assets, removed, flows);
  capnp::MallocMessageBuilder out;
  auto o = out.initRoot<pc::ReportAck>();
  o.setReportId(ack.report_id);
  o.setDuplicate(ack.duplicate);
  o.setNeedFull(ack.need_full);
  return sensor_reply{200, "application/x-capnp-packed", packed(out)};
}

}  // namespace

sensor_reply handle_sensor(store& s, std::string_view path, const std::string& authorization, std::string_view body) {
  try {
    bool reg = path == "/sensor/v1/register";
    bool chk = path == "/sensor/v1/checkin";
    bool rep = path == "/sensor/v1/reports";
    if (!reg && !chk && !rep) {
      return text(404, "no sensor endpoint " + std::string(path));
    }
    std::int64_t id = 0;
    if (!reg) {
      id = s.authenticate_sensor(authorization);
    }
    // Unpack the whole body first, then read it flat: a streaming
    // PackedMessageReader skips what is left in its destructor and would
    // throw from there on a truncated body.
    std::vector<capnp::word> words;
    try {
      kj::ArrayInputStream raw(kj::ArrayPtr<const kj::byte>(reinterpret_cast<const kj::byte*>(body.data()), body.size()));
      capnp::_::PackedInputStream unpack(raw);
      constexpr std::size_t max_words = 16u << 20;  // 128 MiB unpacked: zero runs pack 2 bytes to 2 KiB
      // In one read of the whole size: KJ refuses a zero or literal run that
      // crosses the end of a read, so reading in fixed chunks failed bodies
      // over 64 KiB at random (task F2: reports of ~1 MB).
      const std::size_t need = capnp::computeUnpackedSizeInWords(
          kj::ArrayPtr<const kj::byte>(reinterpret_cast<const kj::byte*>(body.data()), body.size()));
      if (need > max_words) {
        return text(413, "report too large: more than 128 MiB unpacked");
      }
      words.resize(need);
      std::size_t n = need == 0 ? 0 : unpack.tryRead(words.data(), need * sizeof(capnp::word), need * sizeof(capnp::word));
      words.resize(n / sizeof(capnp::word));
    } catch (const kj::Exception& e) {
      return text(400, "malformed message: not packed Cap'n Proto");
    }
    capnp::ReaderOptions opts;
    // A few reads of each word the body holds: a corrupt list length cannot
    // make a small body cost millions of records (zero-sized elements count
    // a word each).
    opts.traversalLimitInWords = 8 * words.size() + 4096;
    opts.nestingLimit = 16;
    std::optional<capnp::FlatArrayMessageReader> msg;
    try {
      msg.emplace(kj::ArrayPtr<const capnp::word>(words.data(), words.size()), opts);
    } catch (const kj::Exception& e) {
      return text(400, "malformed message: not a Cap'n Proto message");
    }
    try {
      if (reg) {
        return do_register(s, *msg);
      }
      if (chk) {
        return do_checkin(s, id, *msg);
      }
      return do_report(s, id, *msg);
    } catch (const kj::Exception& e) {
      std::string why = e.getDescription().cStr();
      for (char& ch : why) {
        if (ch == '\n' || ch == '\r') {
          ch = ' ';
        }
      }
      return text(400, "malformed message: " + why);
    }
  } catch (const store_error& e) {
    return text(e.status, e.what());
  } catch (const db_error& e) {
    return sensor_reply{503, "text/plain", std::string("database unavailable: ") + e.what() + "\n"};
  }
}

}  // namespace tapsense::platform
