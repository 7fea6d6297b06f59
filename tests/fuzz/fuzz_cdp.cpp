// CDP parser on arbitrary frames, with the renderer and the fact emitter.
// Seeds (tests/fuzz/corpus/cdp/) are hand-built frames written by
// unit_cdp's Cdp.FuzzSeeds test (TAPSENSE_WRITE_FUZZ_SEEDS=dir).
#include <cstddef>
#include <cstdint>

#include "common/proto/cdp.h"

namespace {
struct null_sink : tapsense::proto::fact_sink {
  void add(tapsense::proto::fact) override {}
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tapsense::proto;
  cdp_frame f{};
  parse_cdp({data, size}, f);
  (void)cdp_capabilities_text(f.capabilities);
  null_sink sink;
  cdp_facts(f, packet_view{}, sink);
  return 0;
}
