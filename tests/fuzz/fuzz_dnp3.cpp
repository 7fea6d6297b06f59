// DNP3 link-layer parser on arbitrary TCP segment payloads.
#include <cstddef>
#include <cstdint>

#include "common/proto/dnp3.h"

namespace {
struct null_sink : tapsense::proto::fact_sink {
  void add(tapsense::proto::fact) override {}
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  tapsense::proto::dnp3_segment s{};
  tapsense::proto::parse_dnp3({data, size}, s);
  null_sink sink;
  tapsense::proto::dnp3_facts(s, {}, sink);
  return 0;
}
