// Modbus/TCP parser on arbitrary TCP segment payloads, in each direction.
#include <cstddef>
#include <cstdint>

#include "common/proto/modbus.h"

namespace {
struct null_sink : tapsense::proto::fact_sink {
  void add(tapsense::proto::fact) override {}
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tapsense::proto;
  null_sink sink;
  for (auto dir : {modbus_direction::unknown, modbus_direction::request, modbus_direction::response}) {
    modbus_segment s{};
    parse_modbus({data, size}, s, dir);
    modbus_facts(s, {}, sink);
    for (const auto& a : s.adu_list()) {
      (void)modbus_server_id_text(a);
    }
  }
  return 0;
}
