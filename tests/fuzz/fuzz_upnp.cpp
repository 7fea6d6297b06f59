// UPnP device description parser and facts on arbitrary HTTP bodies.
#include <cstddef>
#include <cstdint>

#include "common/proto/upnp.h"

namespace {
struct discard : tapsense::proto::fact_sink {
  void add(tapsense::proto::fact) override {}
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tapsense;
  proto::upnp_description d{};
  proto::parse_upnp_description({data, size}, d);
  proto::packet_view pkt;
  pkt.has_ip = true;
  discard sink;
  proto::upnp_facts(d, pkt, sink);
  return 0;
}
