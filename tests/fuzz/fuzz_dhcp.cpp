// DHCP/BOOTP parser on arbitrary UDP payloads.
#include <cstddef>
#include <cstdint>

#include "common/proto/dhcp.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  tapsense::proto::dhcp_message m{};
  tapsense::proto::parse_dhcp({data, size}, m);
  (void)tapsense::proto::prl_string(m);
  (void)m.fqdn_name();
  return 0;
}
