// HTTP head parser and facts on arbitrary stream prefixes (stepping through
// pipelined messages) and as a datagram.
#include <cstddef>
#include <cstdint>
#include <span>

#include "common/proto/http.h"

namespace {
struct discard : tapsense::proto::fact_sink {
  void add(tapsense::proto::fact) override {}
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tapsense;
  const std::span<const std::uint8_t> in(data, size);
  proto::packet_view pkt;
  pkt.has_ip = true;
  discard sink;
  for (std::size_t off = 0, n = 0; off < in.size() && n < 64; ++n) {
    proto::http_message m{};
    const auto e = proto::parse_http(in.subspan(off), m);
    if (e == proto::http_error::incomplete || e == proto::http_error::not_http ||
        e == proto::http_error::head_too_long) {
      break;
    }
    proto::http_facts(m, pkt, sink);
    if (!m.message_len || *m.message_len == 0 || *m.message_len > in.size() - off) {
      break;
    }
    off += static_cast<std::size_t>(*m.message_len);
  }
  proto::http_message d{};
  proto::parse_http(in, d, true);
  proto::http_facts(d, pkt, sink);
  return 0;
}
