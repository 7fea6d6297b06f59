#include "common/proto/wsd.h"

#include "common/proto/xml.h"

namespace tapsense::proto {

namespace {

using xml::blank;
using xml::first;
using xml::trim;

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
  const auto end = xml::walk(x, [&](const xml::tag& t) {
    if (t.end) {
      // Leaving the endpoint reference ends its Address.
      if (t.name == "EndpointReference") in_endpoint = false;
      return true;
    }
    std::string_view text("", 0);
    if (!t.empty) {
      const auto run = xml::text_after(x, t);
      if (run.cut) {
        // Text that runs to the end of the datagram may be cut short: not kept.
        if (!run.text.empty()) m.error = wsd_error::truncated;
        return false;
      }
      text = run.text;
    }
    if (t.name == "Envelope") {
      envelope = true;
    } else if (t.name == "Action") {
      first(m.action, text);
    } else if (t.name == "EndpointReference") {
      in_endpoint = true;
    } else if (t.name == "Address" && in_endpoint) {
      first(m.endpoint, text);
    } else if (t.name == "Types") {
      first(m.types, text);
    } else if (t.name == "Scopes") {
      first(m.scopes, text);
    } else if (t.name == "XAddrs") {
      first(m.xaddrs, text);
    } else if (t.name == "Manufacturer") {
      first(m.manufacturer, text);
    } else if (t.name == "ModelName") {
      first(m.model_name, text);
    } else if (t.name == "ModelNumber") {
      first(m.model_number, text);
    } else if (t.name == "FriendlyName") {
      first(m.friendly_name, text);
    } else if (t.name == "FirmwareVersion") {
      first(m.firmware_version, text);
    }
    return true;
  });
  if (end == xml::walk_end::cut_in_tag) m.error = wsd_error::truncated;
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
  auto add = [&sink](field_name field, std::string_view value, std::uint8_t conf) {
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
