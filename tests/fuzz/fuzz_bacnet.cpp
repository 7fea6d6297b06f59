// BACnet/IP parser on arbitrary UDP payloads.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/proto/bacnet.h"

namespace {
struct null_sink : tapsense::proto::fact_sink {
  void add(tapsense::proto::fact) override {}
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  tapsense::proto::bacnet_message m{};
  tapsense::proto::parse_bacnet({data, size}, m);
  null_sink sink;
  tapsense::proto::bacnet_facts(m, {}, sink,
                                [](std::uint32_t) { return std::string_view("vendor"); });
  return 0;
}
