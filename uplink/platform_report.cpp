#include "uplink/platform_report.h"

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <algorithm>
#include <string_view>

#include "common/platform/client.h"
#include "common/schema/platform.capnp.h"
#include "common/schema/report.capnp.h"

namespace tapsense::uplink {

namespace sp = schema::platform;

namespace {
std::string o(const std::optional<std::string>& s) { return s.value_or(std::string()); }

std::uint8_t proto_number(const std::string& p) {
  if (p == "tcp") return 6;
  if (p == "udp") return 17;
  if (p == "icmp") return 1;
  if (p == "icmpv6") return 58;
  if (p == "sctp") return 132;
  try {
    return static_cast<std::uint8_t>(std::stoul(p));
  } catch (const std::exception&) {
    return 0;
  }
}

void fill(sp::Asset::Builder b, const asset_view& a, const std::string& key) {
  b.setKey(key);
  b.setIp(a.ip ? a.ip->to_string() : std::string());
  b.setMac(a.mac ? a.mac->to_string() : std::string());
  b.setHostname(o(a.hostname));
  b.setVendor(o(a.vendor));
  b.setOs(o(a.os));
  b.setOsFamily(o(a.os_family));
  b.setOsVersion(o(a.os_version));
  b.setDeviceType(o(a.device_type));
  b.setModel(o(a.model));
  b.setFirmware(o(a.firmware));
  b.setNetwork(a.network);
  b.setFirstSeen(a.first_seen);
  b.setLastSeen(a.last_seen);
  b.setBytesIn(a.bytes_in);
  b.setBytesOut(a.bytes_out);
  b.setPacketsIn(a.packets_in);
  b.setPacketsOut(a.packets_out);
  b.setNat(a.nat);
  auto ips = b.initIps(static_cast<unsigned>(a.ips.size()));
  for (unsigned i = 0; i < a.ips.size(); ++i) ips.set(i, a.ips[i].to_string());
  auto sv = b.initServices(static_cast<unsigned>(a.services.size()));
  for (unsigned i = 0; i < a.services.size(); ++i) {
    sv[i].setProtocol(proto_number(a.services[i].protocol));
    sv[i].setPort(static_cast<std::uint16_t>(a.services[i].port));
    sv[i].setService(a.services[i].name);
  }
  auto ev = b.initEvidence(static_cast<unsigned>(a.evidence.size()));
  for (unsigned i = 0; i < a.evidence.size(); ++i) {
    const auto& e = a.evidence[i];
    const auto src = e.source_text();
    const auto fld = e.field.str();
    ev[i].setSource(capnp::Text::Reader(src.data(), src.size()));
    ev[i].setField(capnp::Text::Reader(fld.data(), fld.size()));
    ev[i].setValue(e.value);
    ev[i].setConfidence(e.confidence);
    ev[i].setFirstSeen(e.first_seen);
    ev[i].setLastSeen(e.last_seen);
  }
  auto cf = b.initConfidence(static_cast<unsigned>(a.confidence.size()));
  for (unsigned i = 0; i < a.confidence.size(); ++i) {
    cf[i].setField(a.confidence[i].first);
    cf[i].setConfidence(a.confidence[i].second);
  }
}

void fill(sp::FlowRecord::Builder b, const flow_table::value_type& f) {
  const auto& [k, v] = f;
  b.setIntervalStart(k.interval_start);
  b.setIntervalEnd(v.interval_end);
  b.setClient(side_text(k.client, k.client_class));
  b.setServer(side_text(k.server, k.server_class));
  b.setClientClass(class_text(k.client_class));
  b.setServerClass(class_text(k.server_class));
  // An unassigned client's MAC is kept in the name key (model.cpp).
  if (k.client_class == static_cast<int>(schema::AddressClass::UNASSIGNED)) {
    b.setClientMac(k.client_name);
  } else {
    b.setClientName(k.client_name);
  }
  b.setServerName(k.server_name);
  b.setProtocol(k.protocol);
  b.setServerPort(k.server_port);
  b.setPackets(v.packets);
  b.setPacketsClientToServer(v.packets_c2s);
  b.setBytesClientToServer(v.bytes_c2s);
  b.setBytesServerToClient(v.bytes_s2c);
  b.setFirstSeen(v.first_seen);
  b.setLastSeen(v.last_seen);
  b.setNetwork(k.network);
  b.setAppFamily(v.app_family);
  b.setAppService(v.app_service);
  b.setApplication(v.application);
}

// FNV-1a over the record's encoding: equal records, equal digests.
std::uint64_t digest(const asset_view& a, const std::string& key) {
  capnp::MallocMessageBuilder m(1024);
  fill(m.initRoot<sp::Asset>(), a, key);
  std::uint64_t h = 1469598103934665603ULL;
  for (auto seg : m.getSegmentsForOutput()) {
    const auto bytes = seg.asBytes();
    for (auto c : bytes) {
      h ^= c;
      h *= 1099511628211ULL;
    }
  }
  return h;
}
}  // namespace

std::string platform_asset_key(const asset_view& a) {
  return a.network + "/" + (a.mac ? a.mac->to_string() : a.ip ? a.ip->to_string() : std::string());
}

std::string encode_report(std::uint64_t id, const report_body& r, std::uint64_t generated_at_ns) {
  capnp::MallocMessageBuilder m;
  auto b = m.initRoot<sp::Report>();
  b.setProtocolVersion(sp::PROTOCOL_VERSION);
  b.setReportId(id);
  b.setFull(r.full);
  b.setGeneratedAt(generated_at_ns);
  auto as = b.initAssets(static_cast<unsigned>(r.assets.size()));
  for (unsigned i = 0; i < r.assets.size(); ++i) fill(as[i], *r.assets[i], platform_asset_key(*r.assets[i]));
  auto rm = b.initRemovedAssets(static_cast<unsigned>(r.removed.size()));
  for (unsigned i = 0; i < r.removed.size(); ++i) rm.set(i, r.removed[i]);
  auto fl = b.initFlows(static_cast<unsigned>(r.flows.size()));
  for (unsigned i = 0; i < r.flows.size(); ++i) fill(fl[i], *r.flows[i]);
  return platform_client::pack(m);
}

std::vector<std::string> split_report(const std::string& packed, std::uint64_t id_a, std::uint64_t id_b) {
  platform_client::unpacked u(packed);
  auto in = u.root<sp::Report>();
  const auto as = in.getAssets();
  const auto rm = in.getRemovedAssets();
  const auto fl = in.getFlows();
  if (as.size() + rm.size() + fl.size() < 2) return {};
  std::vector<std::string> out;
  for (int half = 0; half < 2; ++half) {
    auto range = [&](unsigned n) {
      return half == 0 ? std::pair<unsigned, unsigned>{0, n / 2 + n % 2} : std::pair<unsigned, unsigned>{n / 2 + n % 2, n};
    };
    capnp::MallocMessageBuilder m;
    auto b = m.initRoot<sp::Report>();
    b.setProtocolVersion(in.getProtocolVersion());
    b.setReportId(half == 0 ? id_a : id_b);
    b.setFull(half == 0 && in.getFull());
    b.setGeneratedAt(in.getGeneratedAt());
    auto [a0, a1] = range(as.size());
    auto ba = b.initAssets(a1 - a0);
    for (unsigned i = a0; i < a1; ++i) ba.setWithCaveats(i - a0, as[i]);
    auto [r0, r1] = range(rm.size());
    auto br = b.initRemovedAssets(r1 - r0);
    for (unsigned i = r0; i < r1; ++i) br.set(i - r0, rm[i]);
    auto [f0, f1] = range(fl.size());
    auto bf = b.initFlows(f1 - f0);
    for (unsigned i = f0; i < f1; ++i) bf.setWithCaveats(i - f0, fl[i]);
    out.push_back(platform_client::pack(m));
  }
  return out;
}

std::vector<report_body> delta_builder::build(const std::vector<asset_view>& assets, const flow_table& flows,
                                              bool full, bool updates, bool final, limits lim) {
  full = full || force_full_;
  force_full_ = false;
  lim.assets = std::max<std::size_t>(lim.assets, 1);
  lim.flows = std::max<std::size_t>(lim.flows, 1);
  std::vector<const asset_view*> changed;
  std::unordered_map<std::string, std::uint64_t> now;
  now.reserve(assets.size());
  for (const auto& a : assets) {
    const auto key = platform_asset_key(a);
    const auto d = digest(a, key);
    const auto it = sent_.find(key);
    if (full || it == sent_.end()) {
      changed.push_back(&a);
      now[key] = d;
    } else if (it->second != d && (updates || final)) {
      changed.push_back(&a);
      now[key] = d;
    } else {
      now[key] = it->second;  // unchanged, or its update waits for the cadence
    }
  }
  std::vector<std::string> removed;
  if (!full) {
    for (const auto& [k, d] : sent_) {
      if (!now.contains(k)) removed.push_back(k);
    }
    std::sort(removed.begin(), removed.end());
  }
  // Flows of closed intervals: every interval older than the newest one
  // (all of them at the end of a run).
  std::uint64_t newest = 0;
  for (const auto& [k, v] : flows) newest = std::max(newest, k.interval_start);
  std::vector<const flow_table::value_type*> fl;
  std::uint64_t next = next_interval_;
  for (const auto& f : flows) {
    const auto start = f.first.interval_start;
    if (start < next_interval_) continue;
    if (!final && start >= newest) continue;
    fl.push_back(&f);
    next = std::max(next, start + 1);
  }
  next_interval_ = next;
  sent_ = std::move(now);

  std::vector<report_body> out;
  std::size_t ai = 0, ri = 0, fi = 0;
  // A full report is sent even when empty: it tells the platform that
  // the sensor holds nothing (delete_assets).
  do {
    report_body r;
    r.full = full && out.empty();
    for (; ai < changed.size() && r.assets.size() < lim.assets; ++ai) r.assets.push_back(changed[ai]);
    for (; ri < removed.size() && r.removed.size() < lim.assets; ++ri) r.removed.push_back(removed[ri]);
    for (; fi < fl.size() && r.flows.size() < lim.flows; ++fi) r.flows.push_back(fl[fi]);
    if (r.full || !r.assets.empty() || !r.removed.empty() || !r.flows.empty()) out.push_back(std::move(r));
  } while (ai < changed.size() || ri < removed.size() || fi < fl.size());
  return out;
}

}  // namespace tapsense::uplink
