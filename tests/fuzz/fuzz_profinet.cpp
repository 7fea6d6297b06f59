// PROFINET DCP parser on arbitrary Ethernet payloads (after EtherType 0x8892).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/proto/profinet.h"

namespace {
struct null_sink : tapsense::proto::fact_sink {
  void add(tapsense::proto::fact) override {}
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  tapsense::proto::profinet_dcp_message m{};
  tapsense::proto::parse_profinet_dcp({data, size}, m);
  null_sink sink;
  tapsense::proto::packet_view pkt;
  pkt.src_mac.b = {0x00, 0x1b, 0x1b, 0x01, 0x02, 0x03};
  pkt.dst_mac.b = {0x00, 0x0c, 0x29, 0x01, 0x02, 0x03};
  tapsense::proto::profinet_facts(m, pkt, sink,
                                  [](std::uint16_t) { return std::string_view("vendor"); });
  return 0;
}
