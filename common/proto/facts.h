#pragma once
// The contract between protocol parsers and the fingerprinter.
//
// A parser (common/proto/<protocol>.h) fills a plain struct from a byte view
// and allocates nothing. Its companion `<protocol>_facts(msg, pkt, sink)`
// turns what it parsed into raw facts: who the fact is about, where it came
// from, which field, the value as the packet said it. Facts are raw
// discovery data ("http/user_agent = Mozilla/5.0 (Windows NT 10.0...)");
// turning them into OS, device type or model is inference, done from rule
// files by the fingerprinter, never in a parser.
//
// Sources and fields are names of one vocabulary (names.h), checked when
// the parser is compiled. Field naming: lower_snake_case; the same field name means the same thing
// across sources ("hostname", "model", "vendor", "firmware", "serial").
// Software seen on a device is field "software" with value "name/version"
// (e.g. "OpenSSH/8.2p1"), ready for vulnerability matching.
#include <cstdint>
#include <string>
#include <string_view>

#include "common/net/addr.h"
#include "common/proto/names.h"

namespace tapsense::proto {

// Whose fact it is.
enum class subject : std::uint8_t {
  sender,    // the packet's source (IP if it has one, else MAC)
  receiver,  // the packet's destination
  ip,        // an address named inside the payload (fact::ip)
  mac,       // a MAC named inside the payload (fact::mac)
};

struct fact {
  subject about = subject::sender;
  // The address the fact is about (subject::ip), or the one it states
  // (field "ip": the value as an address, for the binding it makes).
  net::ip_address ip{};
  // The MAC the fact is about (subject::mac), or the one it states (field
  // "mac": the value as a MAC, for the binding it makes).
  net::mac_address mac{};
  source_name source;  // protocol: "mdns", "nbns", "http", "tls", "lldp", ... (names.h)
  field_name field;    // "hostname", "user_agent", "ja3", "model", ... (names.h)
  std::string value;
  std::uint8_t confidence = 50;  // 0-100: how directly the packet states it
};

// The packet a payload came from, for facts that depend on direction.
struct packet_view {
  net::ip_address src_ip{};
  net::ip_address dst_ip{};
  net::mac_address src_mac{};
  net::mac_address dst_mac{};
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint8_t ip_proto = 0;
  bool has_ip = false;
  std::uint64_t ts_ns = 0;
};

class fact_sink {
 public:
  virtual ~fact_sink() = default;
  virtual void add(fact f) = 0;
};

// Keeps only bytes that make a readable value: printable ASCII and valid
// UTF-8 pass, control bytes become '?', trailing NULs and spaces are cut.
std::string printable(std::string_view raw);

}  // namespace tapsense::proto
