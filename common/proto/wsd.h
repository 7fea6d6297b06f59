#pragma once
// WS-Discovery 1.1 (OASIS, 2009; and the 2005 draft Windows and ONVIF use)
// SOAP-over-UDP messages on UDP 3702 (multicast 239.255.255.250 / ff02::c):
// a device's Hello, its ProbeMatches or ResolveMatches answers, and the
// clients' Probe and Resolve.
//
// Input: the UDP payload of one datagram (one SOAP envelope). The XML is
// not validated: elements are found by their local name (any namespace
// prefix), their text taken up to the next '<'; every read is bounded by the
// datagram. Output: a plain struct of views into the caller's buffer;
// nothing allocated. Only the first instance of each element counts.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/proto/facts.h"

namespace tapsense::proto {

enum class wsd_error : std::uint8_t {
  none,
  not_wsd,   // no SOAP Envelope element, or no WS-Addressing Action
  truncated, // an element's start tag or text runs past the datagram
};

enum class wsd_kind : std::uint8_t {
  other,
  hello,             // a device joins: it describes itself
  bye,               // a device leaves
  probe,             // a client searches (Types: what it looks for)
  probe_matches,     // a device answers a Probe: it describes itself
  resolve,
  resolve_matches,   // a device answers a Resolve: it describes itself
};

struct wsd_message {
  wsd_error error = wsd_error::none;
  wsd_kind kind = wsd_kind::other;
  std::string_view action;    // wsa:Action
  std::string_view types;     // d:Types: QNames, blank separated ("dn:NetworkVideoTransmitter tds:Device")
  std::string_view scopes;    // d:Scopes: URIs, blank separated
  std::string_view xaddrs;    // d:XAddrs: transport addresses (URLs)
  std::string_view endpoint;  // wsa:EndpointReference/wsa:Address ("urn:uuid:...")
  // DPWS ThisModel / ThisDevice (WS-MetadataExchange), when a device puts them in the datagram:
  std::string_view manufacturer;
  std::string_view model_name;
  std::string_view model_number;
  std::string_view friendly_name;
  std::string_view firmware_version;

  // A message in which a device speaks for itself.
  bool from_device() const noexcept {
    return kind == wsd_kind::hello || kind == wsd_kind::probe_matches || kind == wsd_kind::resolve_matches;
  }
};

// Parses one datagram into `out` (reset first); returns out.error.
wsd_error parse_wsd(std::span<const std::uint8_t> udp_payload, wsd_message& out) noexcept;

// The value of ONVIF scope `key` ("name", "hardware", "type", "location")
// in a Scopes list: the path after "onvif://www.onvif.org/<key>/",
// percent-decoded; empty when absent (ONVIF Core Specification 7.3.2.2).
std::string wsd_onvif_scope(std::string_view scopes, std::string_view key);

// ---- Facts (facts.h), source "wsd", about the sender, only from a device's
// Hello, ProbeMatches or ResolveMatches ----
//   types = Types (the device types it offers, as QNames)            (90)
//   scopes = Scopes (80); xaddrs = XAddrs (70)
//   onvif_name = ONVIF name scope (70); model = ONVIF hardware scope  (70)
//   onvif_type = each ONVIF type scope ("video_encoder", "Network_Video_Transmitter") (80)
//   vendor = Manufacturer, model = ModelName, model_number = ModelNumber,
//   friendly_name = FriendlyName, firmware = FirmwareVersion (DPWS)   (90)
// A client's Probe gives wsd_search = its Types (what it looks for)    (40)
void wsd_facts(const wsd_message& m, const packet_view& pkt, fact_sink& sink);

}  // namespace tapsense::proto
