// The whole decapsulation and L2-L4 decoding path on arbitrary frames.
#include <cstddef>
#include <cstdint>

#include "common/net/decode.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  tapsense::net::packet_record rec;
  tapsense::net::layer_offsets off;
  tapsense::net::anomaly_counters an;
  tapsense::net::decode_frame({data, size}, 0, rec, off, an);
  // Offsets must stay inside what we were given.
  if (off.end > size || off.payload > off.end || off.l4 > off.end || off.l3 > off.end) {
    __builtin_trap();
  }
  return 0;
}
