// The reassembler and the fragment tracker on sequences of fragments.
//
// Input: one byte of limits, then 6-byte operations. Each operation builds an
// IPv4 or IPv6 fragment of one of four datagrams whose true bytes are known
// (byte i of datagram k is a function of k and i), optionally corrupted, and
// offers it at a packet time that moves forward (or back). Whatever the
// order, the reassembler must stay within its limits and a datagram it
// completes must hold its true bytes unless a corrupted fragment was offered.
// Operations with the raw bit offer the remaining input as one IP packet.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common/net/decode.h"
#include "common/net/fragments.h"

namespace {

using namespace tapsense::net;

std::uint8_t truth(unsigned k, std::size_t i) noexcept { return static_cast<std::uint8_t>(k * 37 + i * 7 + (i >> 8)); }

void put16(std::uint8_t* p, std::size_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) {
    return 0;
  }
  reassembly_options o;
  o.max_datagrams = 1 + (data[0] & 0x03);
  o.max_fragments = 1 + ((data[0] >> 2) & 0x0f);
  o.max_total_bytes = 2048u << ((data[0] >> 6) & 0x03);
  o.max_datagram_bytes = 4096;
  o.timeout_ns = 4'000'000'000ULL;
  reassembler r(o);
  fragment_tracker_options to;
  to.entries = 8;
  fragment_tracker tracker(to);
  bool corrupted[4] = {false, false, false, false};
  std::uint64_t now = 1'000'000'000'000ULL;
  std::vector<std::uint8_t> pkt(14 + 48 + 2048);
  std::size_t p = 1;
  while (p < size) {
    bytes ip;
    std::size_t frame_len = 0;
    const std::uint8_t op = data[p];
    if ((op & 0x08) != 0) {
      // Raw: the rest of the input is one IP packet.
      const std::size_t n = std::min(size - p - 1, pkt.size() - 14);
      std::memcpy(pkt.data() + 14, data + p + 1, n);
      frame_len = 14 + n;
      p = size;
      for (bool& c : corrupted) {
        c = true;  // it may complete any datagram with any bytes
      }
    } else {
      if (size - p < 6) {
        break;
      }
      const bool v6 = (op & 0x01) != 0;
      const bool more = (op & 0x02) != 0;
      const bool corrupt = (op & 0x04) != 0;
      const unsigned k = data[p + 1] & 0x03;
      const std::size_t offset = (std::size_t{load_be16(data + p + 2)} & 0x03ff) * 8;
      const std::size_t len = load_be16(data + p + 4) & 0x07ff;
      // Time: forward by 0..7 s in steps of 0.5 s, or back a little.
      if ((op >> 4) == 15) {
        now -= now > 2'000'000'000ULL ? 1'000'000'000ULL : 0;
      } else {
        now += static_cast<std::uint64_t>(op >> 4) * 500000000ULL;
      }
      p += 6;
      std::uint8_t* h = pkt.data() + 14;
      std::size_t hlen;
      if (!v6) {
        std::memset(h, 0, 20);
        h[0] = 0x45;
        put16(h + 2, 20 + len);
        put16(h + 4, 0x1000 + k);
        put16(h + 6, (more ? 0x2000u : 0u) | (offset / 8));
        h[8] = 64;
        h[9] = 17;
        h[12] = 10;
        h[15] = 1;
        h[16] = 10;
        h[19] = 2;
        hlen = 20;
      } else {
        std::memset(h, 0, 48);
        h[0] = 0x60;
        put16(h + 4, 8 + len);
        h[6] = 44;
        h[7] = 64;
        h[8] = 0x20;
        h[23] = 1;
        h[24] = 0x20;
        h[39] = 2;
        h[40] = 17;
        put16(h + 42, offset | (more ? 1u : 0u));
        h[47] = static_cast<std::uint8_t>(k);
        hlen = 48;
      }
      for (std::size_t i = 0; i < len; ++i) {
        h[hlen + i] = truth(k + (v6 ? 4 : 0), offset + i);
      }
      if (corrupt && len > 0) {
        h[hlen + len / 2] ^= 0x5a;
        corrupted[k] = true;
      }
      frame_len = 14 + hlen + len;
    }
    // Ethernet in front, for the decoder and the tracker.
    std::memset(pkt.data(), 0x02, 12);
    const bool v6_frame = frame_len > 14 && (pkt[14] >> 4) == 6;
    pkt[12] = v6_frame ? 0x86 : 0x08;
    pkt[13] = v6_frame ? 0xdd : 0x00;
    packet_record rec;
    layer_offsets off;
    fragment_info frag;
    anomaly_counters an;
    decode_frame({pkt.data(), frame_len}, 0, rec, off, frag, an);
    rec.ts_ns = now;
    tracker.on_packet(rec, frag);
    if (rec.flow_hash != symmetric_flow_hash(rec)) {
      __builtin_trap();
    }
    ip = bytes(pkt.data() + 14, frame_len - 14);
    const auto d = r.add(ip, now);
    if (r.bytes_held() > ((o.max_total_bytes + reassembler::chunk_bytes - 1) / reassembler::chunk_bytes) *
                             reassembler::chunk_bytes ||
        r.datagrams_held() > o.max_datagrams) {
      __builtin_trap();
    }
    if (d.status == reassembly_status::complete) {
      if (d.payload.size() > o.max_datagram_bytes) {
        __builtin_trap();
      }
      // Structured datagrams (ids 0x1000+k / k, source 10.0.0.1 or 2001::1...)
      // must come out exactly as they went in, unless corrupted.
      const bool ours = d.family == 4 ? (d.id >= 0x1000 && d.id < 0x1004 && d.src.v4() == 0x0a000001 &&
                                         d.dst.v4() == 0x0a000002)
                                      : (d.id < 4 && d.src.b[0] == 0x20 && d.src.b[15] == 1 && d.dst.b[15] == 2);
      if (ours && d.proto == 17) {
        const unsigned k = d.id & 0x03;
        if (!corrupted[k]) {
          for (std::size_t i = 0; i < d.payload.size(); ++i) {
            if (d.payload[i] != truth(k + (d.family == 6 ? 4 : 0), i)) {
              __builtin_trap();
            }
          }
        }
      }
    }
  }
  r.expire(now + 3'600'000'000'000ULL);
  if (r.datagrams_held() != 0 || r.bytes_held() != 0) {
    __builtin_trap();
  }
  return 0;
}
