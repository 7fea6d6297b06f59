// WS-Discovery parser and facts on arbitrary UDP payloads.
#include <cstddef>
#include <cstdint>

#include "common/proto/wsd.h"

namespace {
struct discard : tapsense::proto::fact_sink {
  void add(tapsense::proto::fact) override {}
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tapsense;
  proto::wsd_message m{};
  proto::parse_wsd({data, size}, m);
  proto::packet_view pkt;
  pkt.has_ip = true;
  discard sink;
  proto::wsd_facts(m, pkt, sink);
  return 0;
}
