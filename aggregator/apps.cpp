#include "aggregator/apps.h"

#include <ndpi/ndpi_api.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace tapsense::aggregator {

namespace {
// nDPI categories as the guide names application families.
const char* family_of(ndpi_protocol_category_t c) {
  switch (c) {
    case NDPI_PROTOCOL_CATEGORY_WEB: return "Web Services";
    case NDPI_PROTOCOL_CATEGORY_SOCIAL_NETWORK: return "Social Network";
    case NDPI_PROTOCOL_CATEGORY_MEDIA:
    case NDPI_PROTOCOL_CATEGORY_STREAMING:
    case NDPI_PROTOCOL_CATEGORY_VIDEO:
    case NDPI_PROTOCOL_CATEGORY_MUSIC: return "Streaming Media";
    case NDPI_PROTOCOL_CATEGORY_VPN: return "VPN";
    case NDPI_PROTOCOL_CATEGORY_MAIL: return "Mail";
    case NDPI_PROTOCOL_CATEGORY_DATA_TRANSFER:
    case NDPI_PROTOCOL_CATEGORY_DOWNLOAD_FT:
    case NDPI_PROTOCOL_CATEGORY_FILE_SHARING: return "File Transfer";
    case NDPI_PROTOCOL_CATEGORY_GAME: return "Games";
    case NDPI_PROTOCOL_CATEGORY_CHAT: return "Messaging";
    case NDPI_PROTOCOL_CATEGORY_VOIP: return "VoIP";
    case NDPI_PROTOCOL_CATEGORY_DATABASE: return "Database";
    case NDPI_PROTOCOL_CATEGORY_REMOTE_ACCESS: return "Remote Access";
    case NDPI_PROTOCOL_CATEGORY_CLOUD: return "Cloud Services";
    case NDPI_PROTOCOL_CATEGORY_NETWORK:
    case NDPI_PROTOCOL_CATEGORY_CONNECTIVITY_CHECK: return "Network Services";
    case NDPI_PROTOCOL_CATEGORY_COLLABORATIVE:
    case NDPI_PROTOCOL_CATEGORY_PRODUCTIVITY: return "Collaboration";
    case NDPI_PROTOCOL_CATEGORY_RPC: return "RPC";
    case NDPI_PROTOCOL_CATEGORY_SYSTEM_OS: return "System";
    case NDPI_PROTOCOL_CATEGORY_SW_UPDATE: return "Software Update";
    case NDPI_PROTOCOL_CATEGORY_SHOPPING: return "Shopping";
    case NDPI_PROTOCOL_CATEGORY_IOT_SCADA: return "IoT/SCADA";
    case NDPI_PROTOCOL_CATEGORY_VIRTUAL_ASSISTANT: return "Virtual Assistant";
    default: return "Unknown";
  }
}
}  // namespace

ndpi_classifier::ndpi_classifier(std::size_t max_flows, unsigned max_packets)
    : max_flows_(max_flows), max_packets_(max_packets) {
  mod_ = ndpi_init_detection_module(ndpi_no_prefs);
  if (mod_ == nullptr) {
    throw std::runtime_error("nDPI initialisation failed");
  }
  NDPI_PROTOCOL_BITMASK all;
  NDPI_BITMASK_SET_ALL(all);
  ndpi_set_protocol_detection_bitmask2(mod_, &all);
  ndpi_finalize_initialization(mod_);
}

ndpi_classifier::~ndpi_classifier() {
  for (auto& [id, s] : flows_) {
    release(s);
  }
  ndpi_exit_detection_module(mod_);
}

void ndpi_classifier::release(state& s) {
  if (s.flow != nullptr) {
    ndpi_free_flow_data(s.flow);
    std::free(s.flow);
    s.flow = nullptr;
  }
}

app_classifier::result ndpi_classifier::giveup(state& s) {
  std::uint8_t guessed = 0;
  const ndpi_protocol p = ndpi_detection_giveup(mod_, s.flow, 1, &guessed);
  ++guesses_;
  return {p.master_protocol, p.app_protocol, static_cast<std::uint16_t>(p.category), true};
}

app_classifier::result ndpi_classifier::classify(std::uint64_t conn, std::uint64_t ts_ns,
                                                 std::span<const std::uint8_t> ip_packet, bool) {
  auto it = flows_.find(conn);
  if (it == flows_.end()) {
    while (flows_.size() >= max_flows_ && !order_.empty()) {
      // Too many detections at once: the oldest ends with nDPI's best guess
      // (it would not be asked again; its connection keeps "unknown").
      const auto old = order_.front();
      order_.pop_front();
      if (auto o = flows_.find(old); o != flows_.end()) {
        release(o->second);
        flows_.erase(o);
        ++evictions_;
      }
    }
    auto* f = static_cast<ndpi_flow_struct*>(std::calloc(1, SIZEOF_FLOW_STRUCT));
    if (f == nullptr) {
      return {};
    }
    it = flows_.emplace(conn, state{f, 0}).first;
    order_.push_back(conn);
    if (order_.size() > 4 * max_flows_) {
      // Drop ids of detections that already ended.
      std::deque<std::uint64_t> live;
      for (auto id : order_) {
        if (flows_.count(id) != 0) live.push_back(id);
      }
      order_.swap(live);
    }
  }
  auto& s = it->second;
  ++s.packets;
  const auto len = static_cast<unsigned short>(std::min<std::size_t>(ip_packet.size(), 0xffff));
  const ndpi_protocol p =
      ndpi_detection_process_packet(mod_, s.flow, ip_packet.data(), len, ts_ns / 1'000'000);
  if (p.app_protocol != NDPI_PROTOCOL_UNKNOWN || p.master_protocol != NDPI_PROTOCOL_UNKNOWN) {
    ++detections_;
    return {p.master_protocol, p.app_protocol, static_cast<std::uint16_t>(p.category), true};
  }
  if (s.packets >= max_packets_) {
    return giveup(s);
  }
  return {};
}

void ndpi_classifier::forget(std::uint64_t conn) {
  if (auto it = flows_.find(conn); it != flows_.end()) {
    release(it->second);
    flows_.erase(it);
  }
}

app_classifier::names ndpi_classifier::describe(std::uint16_t master, std::uint16_t app,
                                                std::uint16_t category) {
  names n;
  n.family = family_of(static_cast<ndpi_protocol_category_t>(category));
  const std::uint16_t svc = master != NDPI_PROTOCOL_UNKNOWN ? master : app;
  if (svc != NDPI_PROTOCOL_UNKNOWN) {
    n.service = ndpi_get_proto_name(mod_, svc);
  }
  if (master != NDPI_PROTOCOL_UNKNOWN && app != NDPI_PROTOCOL_UNKNOWN && app != master) {
    n.application = ndpi_get_proto_name(mod_, app);
  }
  if (n.family == "Unknown" && !n.service.empty()) {
    // Uncategorised but identified: a network service.
    n.family = "Network Services";
  }
  return n;
}

}  // namespace tapsense::aggregator
