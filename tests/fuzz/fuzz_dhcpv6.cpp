// DHCPv6 parser on arbitrary UDP payloads.
#include <cstddef>
#include <cstdint>

#include "common/proto/dhcpv6.h"

namespace {
struct null_sink : tapsense::proto::fact_sink {
  void add(tapsense::proto::fact) override {}
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  tapsense::proto::dhcpv6_message m{};
  tapsense::proto::parse_dhcpv6({data, size}, m);
  null_sink sink;
  tapsense::proto::dhcpv6_facts(m, {}, sink);
  (void)tapsense::proto::dhcpv6_class_items(m.vendor_class);
  (void)tapsense::proto::dhcpv6_class_items(m.user_class);
  (void)tapsense::proto::dhcpv6_oro_string(m);
  return 0;
}
