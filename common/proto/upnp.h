#pragma once
// UPnP Device Architecture (UDA 1.0/1.1/2.0, section 2.3) device
// description: the XML document a device serves at its SSDP LOCATION URL,
// read from the body of an HTTP response that crosses the wire:
//   <root xmlns="urn:schemas-upnp-org:device-1-0"> ... <device>
//     <deviceType>urn:schemas-upnp-org:device:MediaRenderer:1</deviceType>
//     <friendlyName>, <manufacturer>, <modelName>, <modelNumber>, ...
//
// Input: the response body (possibly cut short by the stream prefix bound).
// The XML is not validated: tags are found by local name (any namespace
// prefix), the text taken up to the next '<'; every read is bounded by the
// input. Only the root device counts: reading stops at its <deviceList>
// (embedded devices) or at </device>. Output: views into the caller's
// buffer; nothing allocated.
#include <cstdint>
#include <span>
#include <string_view>

#include "common/proto/facts.h"

namespace tapsense::proto {

enum class upnp_error : std::uint8_t {
  none,
  not_upnp,   // no <root> element in the UPnP device namespace before the first <device>
  truncated,  // the root device's elements run past the input (what came whole is kept)
};

struct upnp_description {
  upnp_error error = upnp_error::none;
  std::string_view device_type;    // "urn:schemas-upnp-org:device:MediaRenderer:1"
  std::string_view friendly_name;
  std::string_view manufacturer;
  std::string_view model_name;
  std::string_view model_number;
  std::string_view model_description;
  std::string_view udn;            // "uuid:..."
};

// Parses `body` into `out` (reset first); returns out.error.
upnp_error parse_upnp_description(std::span<const std::uint8_t> body, upnp_description& out) noexcept;

// ---- Facts (facts.h), source "upnp", about the sender (the device that
// serves its own description), for none and truncated ----
//   upnp_device_type = deviceType (90); vendor = manufacturer (90);
//   model = modelName (90); model_number = modelNumber (80);
//   friendly_name = friendlyName (80); model_description (70); upnp_uuid = UDN (80)
void upnp_facts(const upnp_description& d, const packet_view& pkt, fact_sink& sink);

}  // namespace tapsense::proto
