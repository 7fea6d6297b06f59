// SMB over TCP on arbitrary stream prefixes, stepped frame by frame as the
// fingerprinter does; the NTLMSSP and DER searches on the raw input too.
#include <cstddef>
#include <cstdint>
#include <span>

#include "common/proto/smb.h"

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
  for (std::size_t off = 0, frames = 0; off < in.size() && frames < 64; ++frames) {
    proto::smb_message m{};
    const auto e = proto::parse_smb(in.subspan(off), m);
    if (e == proto::smb_error::incomplete) {
      break;
    }
    proto::smb_facts(m, pkt, sink);
    (void)proto::smb_string_utf8(m.native_os);
    if (e == proto::smb_error::not_smb || m.frame_len == 0) {
      break;
    }
    off += m.frame_len;
  }
  proto::smb_error err = proto::smb_error::none;
  const auto token = proto::find_ntlmssp(in, err);
  proto::ntlm_message n{};
  proto::parse_ntlmssp(token.empty() ? in : token, n);
  proto::ntlm_facts(n, pkt, sink);
  return 0;
}
