// EtherNet/IP parser on a sequence of TCP segment payloads of one connection
// (so request/response pairing is exercised): the input is a list of
// segments, each a 2-byte big-endian length then its bytes; the last one takes
// whatever remains. Every segment is also parsed alone, without state, and as
// UDP 2222 cyclic I/O.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "common/proto/enip.h"

namespace {
struct null_sink : tapsense::proto::fact_sink {
  void add(tapsense::proto::fact) override {}
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tapsense::proto;
  enip_flow_state state{};
  null_sink sink;
  packet_view pkt;
  pkt.has_ip = true;
  pkt.src_mac.b = {0x00, 0x00, 0xbc, 0x01, 0x02, 0x03};
  const auto vendors = [](std::uint16_t) { return std::string_view("vendor"); };
  std::size_t pos = 0;
  while (pos < size) {
    std::size_t len = size - pos;
    if (size - pos >= 2) {
      const std::size_t want = (std::size_t{data[pos]} << 8) | data[pos + 1];
      pos += 2;
      len = want <= size - pos ? want : size - pos;
    } else {
      pos = size;
      len = 0;
    }
    // An exact-size copy: reads past a segment are caught by ASan.
    const std::vector<std::uint8_t> segment(data + pos, data + pos + len);
    enip_segment s{};
    parse_enip(segment, s, &state);
    enip_facts(s, pkt, sink, vendors);
    parse_enip(segment, s, nullptr);
    enip_facts(s, pkt, sink);
    (void)parse_enip_io(segment);
    pos += len;
  }
  return 0;
}
