#pragma once
// Names the outputs give to IP protocol numbers. One table for the sensor's
// flows.json/traffic.json and the platform's console, so the two never differ.

#include <string>

namespace tapsense::net {

// "tcp", "udp", "icmp", ... or the protocol number as text.
std::string ip_protocol_name(unsigned proto);

}  // namespace tapsense::net
