#include "common/proto/wsd.h"

namespace tapsense::proto {

namespace {

bool blank(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

// Sets `slot` to `text` the first time (later instances are ignored).
void first(std::string_view& slot, std::string_view text) noexcept {
  if (slot.data() == nullptr) slot = text.data() != nullptr ? text : std::string_view("", 0);
}

wsd_kind kind_of(std::string_view action) noexcept {
  const auto slash = action.rfind('/');
  const std::string_view last = slash == std::string_view::npos ? action : action.substr(slash + 1);
  if (last == "Hello") return wsd_kind::hello;
  if (last == "Bye") return wsd_kind::bye;
  if (last == "Probe") return wsd_kind::probe;
  if (last == "ProbeMatches") return wsd_kind::probe_matches;
  if (last == "Resolve") return wsd_kind::resolve;
  if (last == "ResolveMatches") return wsd_kind::resolve_matches;
  return wsd_kind::other;
}

}  // namespace

wsd_error parse_wsd(std::span<const std::uint8_t> in, wsd_message& m) noexcept {
  m = wsd_message{};
  const std::string_view x(reinterpret_cast<const char*>(in.data()), in.size());
  bool envelope = false;
  bool in_endpoint = false;
  std::size_t i = 0;
  while (i < x.size()) {
    const std::size_t lt = x.find('<', i);
    if (lt == std::string_view::npos) break;
    if (lt + 1 >= x.size()) {
      m.error = wsd_error::truncated;
      break;
    }
    const char c = x[lt + 1];
    const std::size_t gt = x.find('>', lt + 1);
    if (gt == std::string_view::npos) {
      m.error = wsd_error::truncated;
      break;
    }
    i = gt + 1;
    if (c == '/') {
      // An end tag: leaving the endpoint reference ends its Address.
      const std::string_view name = x.substr(lt + 2, gt - lt - 2);
      const auto colon = name.rfind(':');
      if (trim(colon == std::string_view::npos ? name : name.substr(colon + 1)) == "EndpointReference") {
        in_endpoint = false;
      }
      continue;
    }
    if (c == '?' || c == '!') continue;  // declaration, comment, CDATA
    std::size_t e = lt + 1;
    while (e < gt && !blank(x[e]) && x[e] != '/') ++e;
    std::string_view name = x.substr(lt + 1, e - lt - 1);
    if (const auto colon = name.rfind(':'); colon != std::string_view::npos) name.remove_prefix(colon + 1);
    const bool empty_element = x[gt - 1] == '/';
    std::string_view text;
    if (!empty_element) {
      const std::size_t next = x.find('<', gt + 1);
      if (next == std::string_view::npos) {
        // Text that runs to the end of the datagram may be cut short: not kept.
        if (!trim(x.substr(gt + 1)).empty()) m.error = wsd_error::truncated;
        break;
      } else {
        text = trim(x.substr(gt + 1, next - gt - 1));
      }
    } else {
      text = std::string_view("", 0);
    }
    if (name == "Envelope") {
      envelope = true;
    } else if (name == "Action") {
      first(m.action, text);
    } else if (name == "EndpointReference") {
      in_endpoint = true;
    } else if (name == "Address" && in_endpoint) {
      first(m.endpoint, text);
    } else if (name == "Types") {
      first(m.types, text);
    } else if (name == "Scopes") {
      first(m.scopes, text);
    } else if (name == "XAddrs") {
      first(m.xaddrs, text);
    } else if (name == "Manufacturer") {
      first(m.manufacturer, text);
    } else if (name == "ModelName") {
      first(m.model_name, text);
    } else if (name == "ModelNumber") {
      first(m.model_number, text);
    } else if (name == "FriendlyName") {
      first(m.friendly_name, text);
    } else if (name == "FirmwareVersion") {
      first(m.firmware_version, text);
    }
  }
  if (!envelope || m.action.data() == nullptr) {
    if (m.error == wsd_error::none) m.error = wsd_error::not_wsd;
    return m.error;
  }
  m.kind = kind_of(m.action);
  return m.error;
}

std::string wsd_onvif_scope(std::string_view scopes, std::string_view key) {
  static constexpr std::string_view base = "onvif://www.onvif.org/";
  std::size_t i = 0;
  while (i < scopes.size()) {
    while (i < scopes.size() && blank(scopes[i])) ++i;
    std::size_t j = i;
    while (j < scopes.size() && !blank(scopes[j])) ++j;
    std::string_view uri = scopes.substr(i, j - i);
    i = j;
    if (uri.substr(0, base.size()) != base) continue;
    uri.remove_prefix(base.size());
    if (uri.size() <= key.size() || uri.substr(0, key.size()) != key || uri[key.size()] != '/') continue;
    uri.remove_prefix(key.size() + 1);
    std::string out;
    for (std::size_t k = 0; k < uri.size(); ++k) {
      auto hex = [](char h) -> int {
        if (h >= '0' && h <= '9') return h - '0';
        if (h >= 'a' && h <= 'f') return h - 'a' + 10;
        if (h >= 'A' && h <= 'F') return h - 'A' + 10;
        return -1;
      };
      if (uri[k] == '%' && k + 2 < uri.size() && hex(uri[k + 1]) >= 0 && hex(uri[k + 2]) >= 0) {
        out += static_cast<char>(hex(uri[k + 1]) * 16 + hex(uri[k + 2]));
        k += 2;
      } else {
        out += uri[k];
      }
    }
    return out;
  }
  return {};
}

void wsd_facts(const wsd_message& m, const packet_view&, fact_sink& sink) {
  auto add = [&sink](std::string_view field, std::string_view value, std::uint8_t conf) {
    if (value.empty()) return;
    fact f;
    f.about = subject::sender;
    f.source = "wsd";
    f.field = field;
    f.value = printable(value);
    f.confidence = conf;
    if (!f.value.empty()) sink.add(std::move(f));
  };
  if (m.kind == wsd_kind::probe) {
    add("wsd_search", m.types, 40);
    return;
  }
  if (!m.from_device()) return;
  add("types", m.types, 90);
  add("scopes", m.scopes, 80);
  add("xaddrs", m.xaddrs, 70);
  add("onvif_name", wsd_onvif_scope(m.scopes, "name"), 70);
  add("model", wsd_onvif_scope(m.scopes, "hardware"), 70);
  // Every ONVIF type scope ("video_encoder", "Network_Video_Transmitter", "ptz").
  static constexpr std::string_view type_scope = "onvif://www.onvif.org/type/";
  for (std::size_t at = m.scopes.find(type_scope); at != std::string_view::npos;
       at = m.scopes.find(type_scope, at + 1)) {
    std::size_t end = at + type_scope.size();
    while (end < m.scopes.size() && !blank(m.scopes[end])) ++end;
    add("onvif_type", m.scopes.substr(at + type_scope.size(), end - at - type_scope.size()), 80);
  }
  add("vendor", m.manufacturer, 90);
  add("model", m.model_name, 90);
  add("model_number", m.model_number, 90);
  add("friendly_name", m.friendly_name, 90);
  add("firmware", m.firmware_version, 90);
}

}  // namespace tapsense::proto
