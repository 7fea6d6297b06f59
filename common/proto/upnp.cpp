#include "common/proto/upnp.h"

#include <string_view>
#include <utility>

#include "common/proto/xml.h"

namespace tapsense::proto {

namespace {

constexpr std::string_view device_ns = "urn:schemas-upnp-org:device-1-0";

// The root device's leaf elements this parser keeps, and where.
constexpr std::pair<std::string_view, std::string_view upnp_description::*> leaves[] = {
    {"deviceType", &upnp_description::device_type},   {"friendlyName", &upnp_description::friendly_name},
    {"manufacturer", &upnp_description::manufacturer}, {"modelName", &upnp_description::model_name},
    {"modelNumber", &upnp_description::model_number},  {"modelDescription", &upnp_description::model_description},
    {"UDN", &upnp_description::udn},
};
}  // namespace

upnp_error parse_upnp_description(std::span<const std::uint8_t> in, upnp_description& d) noexcept {
  d = upnp_description{};
  const std::string_view x(reinterpret_cast<const char*>(in.data()), in.size());
  bool root = false;
  int depth_in_device = 0;  // 0: outside the root device
  bool finished = false;
  const auto end = xml::walk(x, [&](const xml::tag& t) {
    if (t.end) {
      if (t.name == "device" && depth_in_device > 0) finished = true;
      return !finished;
    }
    if (!root) {
      // The document element must be <root> in the UPnP device namespace.
      root = t.name == "root" && t.raw.find(device_ns) != std::string_view::npos;
      return root;
    }
    if (t.name == "device") {
      if (depth_in_device == 0) depth_in_device = 1;
      return true;
    }
    if (depth_in_device == 0) return true;  // specVersion, URLBase
    if (t.name == "deviceList" || t.name == "serviceList") {
      finished = true;  // the root device's own leaf elements come before these
      return false;
    }
    if (t.empty) return true;  // an empty element says nothing
    const auto run = xml::text_after(x, t);
    if (run.cut) {
      d.error = upnp_error::truncated;  // text that runs to the end may be cut short
      return false;
    }
    for (const auto& [name, slot] : leaves) {
      if (t.name == name) {
        xml::first(d.*slot, run.text);
        break;
      }
    }
    return true;
  });
  if (end == xml::walk_end::cut_in_tag && depth_in_device > 0) d.error = upnp_error::truncated;
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
  auto add = [&sink](field_name field, std::string_view value, std::uint8_t conf) {
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
