// DNS / mDNS / LLMNR parser and all three facts functions on arbitrary UDP
// payloads.
#include <cstddef>
#include <cstdint>

#include "common/proto/dns.h"

namespace {
struct discard : tapsense::proto::fact_sink {
  void add(tapsense::proto::fact) override {}
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tapsense;
  proto::dns_message m{};
  proto::parse_dns({data, size}, m);
  proto::packet_view pkt;
  pkt.has_ip = true;
  pkt.src_ip = net::ip_address::from_v4(0xc0a80114u);  // 192.168.1.20
  // Answers about the sender's own address take the other branch.
  for (const auto& rr : m.record_list()) {
    if (rr.rdata_ok && rr.type == proto::dns_type::a && (rr.ttl & 1) != 0) {
      pkt.src_ip = rr.addr;
      break;
    }
  }
  discard sink;
  proto::dns_facts(m, pkt, sink);
  proto::mdns_facts(m, pkt, sink);
  proto::llmnr_facts(m, pkt, sink);
  for (const auto& q : m.question_list()) {
    (void)proto::dns_name_at(m, q.name_off);
  }
  for (const auto& rr : m.record_list()) {
    (void)proto::dns_names_equal(m, rr.name_off, rr.target_off);
  }
  return 0;
}
