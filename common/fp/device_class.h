#pragma once
// The device_type vocabulary and the coarse device_class each type belongs
// to. Header-only so that the report writer (uplink) can class a chosen
// device_type without linking the rule engine.
//
// Classes: "IT" (computers, servers, printers, storage, virtual machines),
// "IoT" (smart-home, media, building-comfort and health devices, VoIP
// phones, cameras), "OT" (industrial control: PLC, HMI, RTU, building
// controller), "network" (routers, switches, access points, firewalls),
// "mobile" (phones and tablets).
#include <string_view>

namespace tapsense::fp {

struct device_type_class {
  std::string_view type;
  std::string_view device_class;
};

// Exact spellings. "network device" is a network device of unknown kind,
// "IoT" an embedded appliance of unknown kind, "hub" a hub, bridge or
// gateway for other (Zigbee, Z-Wave, BLE, Thread) devices.
inline constexpr device_type_class device_type_classes[] = {
    {"computer", "IT"},           {"server", "IT"},
    {"virtual machine", "IT"},    {"printer", "IT"},
    {"scanner", "IT"},            {"storage", "IT"},
    {"phone", "mobile"},          {"tablet", "mobile"},
    {"wearable", "IoT"},          {"camera", "IoT"},
    {"doorbell", "IoT"},          {"smart plug", "IoT"},
    {"smart bulb", "IoT"},        {"hub", "IoT"},
    {"speaker", "IoT"},           {"TV", "IoT"},
    {"media player", "IoT"},      {"media device", "IoT"},
    {"game console", "IoT"},      {"thermostat", "IoT"},
    {"lock", "IoT"},              {"sensor", "IoT"},
    {"alarm", "IoT"},             {"vacuum", "IoT"},
    {"appliance", "IoT"},         {"sprinkler", "IoT"},
    {"health device", "IoT"},     {"medical device", "IoT"},
    {"VoIP phone", "IoT"},        {"IoT", "IoT"},
    {"network device", "network"}, {"router", "network"},
    {"switch", "network"},        {"access point", "network"},
    {"firewall", "network"},      {"PLC", "OT"},
    {"HMI", "OT"},                {"RTU", "OT"},
    {"building controller", "OT"},
};

// The class of a device_type of the vocabulary; "" for anything else.
constexpr std::string_view device_class_of(std::string_view type) noexcept {
  for (const auto& t : device_type_classes) {
    if (t.type == type) return t.device_class;
  }
  return {};
}

}  // namespace tapsense::fp
