// S7comm parser on a sequence of TCP segment payloads of one connection (so
// fragmented SZL answers and the carried partial record are exercised): the
// input is a list of segments, each a 2-byte big-endian length then its bytes;
// the last one takes whatever remains. Every segment is also parsed without
// state.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "common/proto/s7comm.h"

namespace {
struct null_sink : tapsense::proto::fact_sink {
  void add(tapsense::proto::fact) override {}
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tapsense::proto;
  s7comm_flow_state state{};
  null_sink sink;
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
    const std::vector<std::uint8_t> segment(data + pos, data + pos + len);
    s7comm_segment s{};
    parse_s7comm(segment, s, &state);
    s7comm_facts(s, {}, sink, vendors);
    parse_s7comm(segment, s, nullptr);
    s7comm_facts(s, {}, sink);
    pos += len;
  }
  return 0;
}
