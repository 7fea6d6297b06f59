// TLS parsers on arbitrary bytes: the same input is tried as a client
// stream prefix, a server stream prefix, a bare ClientHello message and a
// DER certificate, and every renderer and fact emitter runs on the result.
// Seeds (tests/fuzz/corpus/tls/) are hand-built handshakes written by
// unit_tls's Tls.FuzzSeeds test (TAPSENSE_WRITE_FUZZ_SEEDS=dir).
#include <cstddef>
#include <cstdint>

#include "common/proto/tls.h"

namespace {
struct null_sink : tapsense::proto::fact_sink {
  void add(tapsense::proto::fact) override {}
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tapsense::proto;
  const std::span<const std::uint8_t> in(data, size);
  null_sink sink;
  tls_client_hello c{};
  parse_tls_client_hello(in, c);
  (void)ja3(c);
  (void)ja4(c);
  (void)ja4_raw(c, tls_transport::quic);
  tls_client_facts(c, packet_view{}, sink);
  parse_tls_client_hello_message(in, c);
  (void)ja3_string(c);
  tls_server_hello s{};
  parse_tls_server_hello(in, s);
  (void)ja3s(s);
  (void)ja4s(s);
  tls_server_facts(s, packet_view{}, sink);
  tls_certificate cert{};
  parse_x509_names(in, cert);
  return 0;
}
