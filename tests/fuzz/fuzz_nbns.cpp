// NetBIOS name service and datagram service (browser) parsers and facts on
// arbitrary UDP payloads: every input goes to both.
#include <cstddef>
#include <cstdint>

#include "common/proto/nbns.h"

namespace {
struct discard : tapsense::proto::fact_sink {
  void add(tapsense::proto::fact) override {}
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tapsense;
  proto::packet_view pkt;
  pkt.has_ip = true;
  pkt.src_ip = net::ip_address::from_v4(0x0a000518u);  // 10.0.5.24
  discard sink;
  proto::nbns_message n{};
  proto::parse_nbns({data, size}, n);
  proto::nbns_facts(n, pkt, sink);
  for (const auto& q : n.question_list()) {
    (void)proto::netbios_name_string(q.name);
  }
  proto::nbdgm_message d{};
  proto::parse_nbdgm({data, size}, d);
  proto::nbdgm_facts(d, pkt, sink);
  return 0;
}
