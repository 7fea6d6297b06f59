// The whole decapsulation and L2-L4 decoding path on arbitrary frames.
#include <cstddef>
#include <cstdint>

#include "common/net/decode.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tapsense::net;
  packet_record rec;
  layer_offsets off;
  fragment_info frag;
  anomaly_counters an;
  decode_options opt;
  // The first byte varies the limits so that the caps themselves are fuzzed.
  if (size > 0) {
    opt.max_tunnel_depth = static_cast<std::uint8_t>(data[0] & 0x0f);
    opt.max_mpls_labels = static_cast<std::uint8_t>(data[0] >> 4);
  }
  for (const decode_options& o : {decode_options{}, opt}) {
    decode_frame({data, size}, 0, rec, off, frag, an, o);
    // Offsets stay inside what we were given, in order.
    if (off.end > size || off.payload > off.end || off.l4 > off.payload || off.l3 > off.l4 ||
        off.l2 > off.l3) {
      __builtin_trap();
    }
    if (frag.kind != fragment_info::none && (frag.l3 >= size || (frag.family != 4 && frag.family != 6))) {
      __builtin_trap();
    }
    if (rec.tunnel_depth > o.max_tunnel_depth ||
        (rec.tunnel_depth == 0) != (rec.tunnel == static_cast<std::uint8_t>(tunnel_type::none))) {
      __builtin_trap();
    }
    if (rec.flow_hash != symmetric_flow_hash(rec)) {
      __builtin_trap();
    }
  }
  return 0;
}
