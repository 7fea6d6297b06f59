// SSH version line + KEXINIT parser on arbitrary bytes, as either role,
// with the HASSH renderers and the fact emitter. Seeds
// (tests/fuzz/corpus/ssh/) are hand-built exchanges written by unit_ssh's
// Ssh.FuzzSeeds test (TAPSENSE_WRITE_FUZZ_SEEDS=dir).
#include <cstddef>
#include <cstdint>

#include "common/proto/ssh.h"

namespace {
struct null_sink : tapsense::proto::fact_sink {
  void add(tapsense::proto::fact) override {}
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tapsense::proto;
  null_sink sink;
  for (const ssh_role role : {ssh_role::client, ssh_role::server}) {
    ssh_handshake h{};
    parse_ssh({data, size}, role, h);
    (void)hassh(h.kexinit);
    (void)hassh_server_string(h.kexinit);
    (void)ssh_software_of(h.software_version());
    ssh_facts(h, packet_view{}, sink);
  }
  return 0;
}
