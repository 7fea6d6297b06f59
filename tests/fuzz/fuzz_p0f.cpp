// TCP/IP signature extraction (and rendering) on arbitrary IP packets.
#include <cstddef>
#include <cstdint>

#include "common/fp/p0f.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (auto sig = tapsense::fp::extract_tcp_signature({data, size})) {
    (void)tapsense::fp::raw_signature(*sig);
  }
  return 0;
}
