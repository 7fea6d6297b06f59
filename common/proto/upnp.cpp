#include "common/proto/upnp.h"

namespace tapsense::proto {

namespace {

bool blank(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

void first(std::string_view& slot, std::string_view text) noexcept {
  if (slot.data() == nullptr) slot = text.data() != nullptr ? text : std::string_view("", 0);
}

constexpr std::string_view device_ns = "urn:schemas-upnp-org:device-1-0";

}  // namespace

upnp_error parse_upnp_description(std::span<const std::uint8_t> in, upnp_description& d) noexcept {
  d = upnp_description{};
  const std::string_view x(reinterpret_cast<const char*>(in.data()), in.size());
  bool root = false;
  int depth_in_device = 0;  // 0: outside the root device
  bool finished = false;
  std::size_t i = 0;
  while (i < x.size() && !finished) {
    const std::size_t lt = x.find('<', i);
    if (lt == std::string_view::npos) break;
    const std::size_t gt = x.find('>', lt + 1);
    if (lt + 1 >= x.size() || gt == std::string_view::npos) {
      if (depth_in_device > 0) d.error = upnp_error::truncated;
      break;
    }
    i = gt + 1;
    const char c = x[lt + 1];
    if (c == '?' || c == '!') continue;  // declaration, comment
    const bool end_tag = c == '/';
    std::size_t s = lt + (end_tag ? 2 : 1);
    std::size_t e = s;
    while (e < gt && !blank(x[e]) && x[e] != '/') ++e;
    std::string_view name = x.substr(s, e - s);
    if (const auto colon = name.rfind(':'); colon != std::string_view::npos) name.remove_prefix(colon + 1);
    if (end_tag) {
      if (name == "device" && depth_in_device > 0) finished = true;
      continue;
    }
    if (!root) {
      // The document element must be <root> in the UPnP device namespace.
      if (name == "root" && x.substr(lt, gt - lt).find(device_ns) != std::string_view::npos) {
        root = true;
        continue;
      }
      break;
    }
    if (name == "device") {
      if (depth_in_device == 0) depth_in_device = 1;
      continue;
    }
    if (depth_in_device == 0) continue;  // specVersion, URLBase
    if (name == "deviceList" || name == "serviceList") {
      finished = true;  // the root device's own leaf elements come before these
      continue;
    }
    if (x[gt - 1] == '/') continue;  // an empty element says nothing
    const std::size_t next = x.find('<', gt + 1);
    if (next == std::string_view::npos) {
      d.error = upnp_error::truncated;  // text that runs to the end may be cut short
      break;
    }
    const std::string_view text = trim(x.substr(gt + 1, next - gt - 1));
    if (name == "deviceType") {
      first(d.device_type, text);
    } else if (name == "friendlyName") {
      first(d.friendly_name, text);
    } else if (name == "manufacturer") {
      first(d.manufacturer, text);
    } else if (name == "modelName") {
      first(d.model_name, text);
    } else if (name == "modelNumber") {
      first(d.model_number, text);
    } else if (name == "modelDescription") {
      first(d.model_description, text);
    } else if (name == "UDN") {
      first(d.udn, text);
    }
  }
  if (d.error == upnp_error::none) {
    if (!root) {
      d.error = upnp_error::not_upnp;
    } else if (!finished) {
      d.error = upnp_error::truncated;  // the root device's end (or its lists) never came
    }
  }
  return d.error;
}

void upnp_facts(const upnp_description& d, const packet_view&, fact_sink& sink) {
  if (d.error == upnp_error::not_upnp) return;
  auto add = [&sink](std::string_view field, std::string_view value, std::uint8_t conf) {
    if (value.empty()) return;
    fact f;
    f.about = subject::sender;
    f.source = "upnp";
    f.field = field;
    f.value = printable(value);
    f.confidence = conf;
    if (!f.value.empty()) sink.add(std::move(f));
  };
  add("upnp_device_type", d.device_type, 90);
  add("vendor", d.manufacturer, 90);
  add("model", d.model_name, 90);
  add("model_number", d.model_number, 80);
  add("friendly_name", d.friendly_name, 80);
  add("model_description", d.model_description, 70);
  add("upnp_uuid", d.udn, 80);
}

}  // namespace tapsense::proto
