#pragma once
// SSDP (UPnP Device Architecture 2.0, section 1): HTTP-over-UDP NOTIFY,
// M-SEARCH and search responses ("HTTP/1.1 200 OK"), usually on UDP 1900
// (multicast 239.255.255.250 / ff02::c, responses unicast from port 1900).
//
// Input: the UDP payload of one datagram. The head is parsed with
// parse_http in datagram mode (the end of the datagram ends the head, so a
// missing final empty line is tolerated). Output: a plain, trivially
// copyable struct of views into the caller's buffer; nothing allocated.
#include <cstdint>
#include <span>
#include <string_view>

#include "common/proto/facts.h"
#include "common/proto/http.h"

namespace tapsense::proto {

enum class ssdp_kind : std::uint8_t {
  none,      // not HTTP at all (http.error == not_http)
  notify,    // NOTIFY * HTTP/1.1 (ssdp:alive, ssdp:byebye, ssdp:update)
  msearch,   // M-SEARCH * HTTP/1.1
  response,  // HTTP/1.1 200 OK to an M-SEARCH
  other,     // another method or status (kept, no facts but the headers')
};

struct ssdp_message {
  http_message http;  // the whole head; http.error is the parse result
  ssdp_kind kind = ssdp_kind::none;
  // First instance of each header (absent: data() == nullptr).
  std::string_view host;
  std::string_view server;      // SERVER: "OS/version UPnP/2.0 product/version"
  std::string_view user_agent;  // USER-AGENT (M-SEARCH), or X-User-Agent
  std::string_view usn;         // "uuid:<device-UUID>[::<type>]"
  std::string_view location;    // device description URL
  std::string_view nt;          // NOTIFY: notification type
  std::string_view nts;         // NOTIFY: ssdp:alive / ssdp:byebye / ssdp:update
  std::string_view st;          // M-SEARCH: search target; response: what was found
  std::string_view man;         // M-SEARCH: "ssdp:discover"
  std::string_view cache_control;
  std::string_view uuid;  // the UUID in USN, without "uuid:" and the "::type" part

  http_error error() const noexcept { return http.error; }
};

// Parses one datagram into `out` (reset first); returns out.http.error.
http_error parse_ssdp(std::span<const std::uint8_t> udp_payload, ssdp_message& out) noexcept;

// ---- Facts (facts.h), source "ssdp", all about the sender ----
//   server = SERVER                                               (90)
//   user_agent = USER-AGENT or X-User-Agent                       (90)
//   software = product tokens of SERVER (80) and USER-AGENT (70)
//              (http_products: "ipos/7.0 UPnP/1.0 TL-WDR3600/1.0" ->
//              "ipos/7.0", "TL-WDR3600/1.0")
//   usn = USN; upnp_uuid = its UUID                               (90)
//   location = LOCATION                                           (80)
//   ssdp_type = NT of a NOTIFY, ST of a search response           (80)
//   ssdp_search = ST of an M-SEARCH (what the sender looks for)   (40)
void ssdp_facts(const ssdp_message& m, const packet_view& pkt, fact_sink& sink);

}  // namespace tapsense::proto
