// LLDP parser on arbitrary frames, with the text renderers and the fact
// emitter. Seeds (tests/fuzz/corpus/lldp/) are hand-built frames written by
// unit_lldp's Lldp.FuzzSeeds test (TAPSENSE_WRITE_FUZZ_SEEDS=dir).
#include <cstddef>
#include <cstdint>

#include "common/proto/lldp.h"

namespace {
struct null_sink : tapsense::proto::fact_sink {
  void add(tapsense::proto::fact) override {}
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tapsense::proto;
  lldp_frame f{};
  parse_lldp({data, size}, f);
  (void)lldp_chassis_id_text(f.chassis);
  (void)lldp_port_id_text(f.port);
  (void)lldp_capabilities_text(f.capabilities);
  null_sink sink;
  lldp_facts(f, packet_view{}, sink);
  return 0;
}
