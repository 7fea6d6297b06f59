#include "common/proto/dnp3.h"

#include <algorithm>
#include <string>
#include <type_traits>

#include "common/net/bytes.h"

namespace tapsense::proto {

static_assert(std::is_trivially_copyable_v<dnp3_segment>);

namespace {

using net::bytes;
using net::fits;

constexpr std::uint8_t start0 = 0x05;
constexpr std::uint8_t start1 = 0x64;
constexpr std::size_t header_len = 10;  // start(2) length control dst(2) src(2) crc(2)
constexpr std::size_t min_length = 5;   // control + destination + source
constexpr std::size_t block_len = 16;

constexpr std::uint8_t ctl_dir = 0x80;
constexpr std::uint8_t ctl_prm = 0x40;
constexpr std::uint8_t tr_fin = 0x80;
constexpr std::uint8_t tr_fir = 0x40;

constexpr std::uint16_t first_reserved_address = 0xfff0;

// CRC-16/DNP: polynomial 0x3D65, processed LSB first (reflected 0xA6BC).
constexpr std::array<std::uint16_t, 256> make_crc_table() {
  std::array<std::uint16_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t crc = i;
    for (int k = 0; k < 8; ++k) {
      crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xa6bcu : crc >> 1;
    }
    t[i] = static_cast<std::uint16_t>(crc);
  }
  return t;
}
constexpr auto crc_table = make_crc_table();

void note(dnp3_segment& s, dnp3_error e) noexcept {
  if (s.error == dnp3_error::none) {
    s.error = e;
  }
}

// The total size of a frame whose length byte is `length` (>= 5).
constexpr std::size_t frame_size(std::size_t length) noexcept {
  const std::size_t user = length - min_length;
  return header_len + user + 2 * ((user + block_len - 1) / block_len);
}
static_assert(frame_size(5) == 10);
static_assert(frame_size(6) == 13);
static_assert(frame_size(21) == 28);
static_assert(frame_size(255) == 292);

bool crc_ok(bytes block_and_crc) noexcept {
  const std::size_t n = block_and_crc.size() - 2;
  return dnp3_crc(block_and_crc.first(n)) == net::load_le16(block_and_crc.data() + n);
}

// Decodes a complete frame (f.size() == frame_size(length)).
void decode_frame(bytes fr, dnp3_frame& f, dnp3_segment& s) noexcept {
  f.length = fr[2];
  f.control = fr[3];
  f.destination = net::load_le16(fr.data() + 4);
  f.source = net::load_le16(fr.data() + 6);
  f.dir = (f.control & ctl_dir) != 0;
  f.prm = (f.control & ctl_prm) != 0;
  f.link_function = f.control & 0x0f;
  f.header_crc_ok = crc_ok(fr.first(header_len));
  if (!f.header_crc_ok) {
    ++s.crc_errors;
    note(s, dnp3_error::header_crc);
  }
  // User data with the CRCs taken out: at most 250 bytes.
  std::array<std::uint8_t, 255> user{};
  std::size_t user_len = 0;
  std::size_t pos = header_len;
  while (pos < fr.size()) {
    const std::size_t chunk = std::min(block_len, fr.size() - pos - 2);
    const bytes block = fr.subspan(pos, chunk + 2);
    ++f.blocks;
    if (!crc_ok(block)) {
      ++f.bad_blocks;
      ++s.crc_errors;
      note(s, dnp3_error::data_crc);
    }
    for (std::size_t i = 0; i < chunk; ++i) {
      user[user_len] = block[i];
      ++user_len;
    }
    pos += chunk + 2;
  }
  f.user_data_len = static_cast<std::uint8_t>(user_len);
  if (user_len == 0) {
    return;
  }
  f.has_transport = true;
  f.transport_fin = (user[0] & tr_fin) != 0;
  f.transport_fir = (user[0] & tr_fir) != 0;
  f.transport_seq = user[0] & 0x3f;
  if (!f.transport_fir || user_len < 3) {
    return;
  }
  f.has_application = true;
  f.app_control = user[1];
  f.app_function = user[2];
  const bool response = f.app_function == dnp3_function::response ||
                        f.app_function == dnp3_function::unsolicited_response ||
                        f.app_function == dnp3_function::authentication_response;
  if (response && user_len >= 5) {
    f.has_iin = true;
    f.iin = static_cast<std::uint16_t>((user[3] << 8) | user[4]);
  }
}

}  // namespace

const char* dnp3_error_name(dnp3_error e) noexcept {
  switch (e) {
#define X(name)          \
  case dnp3_error::name: \
    return #name;
    TAPSENSE_DNP3_ERRORS(X)
#undef X
    case dnp3_error::count_:
      break;
  }
  return "unknown";
}

std::uint16_t dnp3_crc(std::span<const std::uint8_t> data) noexcept {
  std::uint16_t crc = 0;
  for (auto b : data) {
    crc = static_cast<std::uint16_t>((crc >> 8) ^ crc_table[(crc ^ b) & 0xff]);
  }
  return static_cast<std::uint16_t>(~crc);
}

dnp3_error parse_dnp3(std::span<const std::uint8_t> in, dnp3_segment& out) noexcept {
  out = dnp3_segment{};
  std::size_t pos = 0;
  while (pos < in.size()) {
    if (in[pos] != start0 || !fits(in.size(), pos, 2) || in[pos + 1] != start1) {
      if (in[pos] == start0 && !fits(in.size(), pos, 2)) {
        // A lone first start byte at the end: the frame begins here.
        out.incomplete = true;
        note(out, dnp3_error::truncated_frame);
        break;
      }
      note(out, dnp3_error::bad_start);
      ++out.skipped;
      ++pos;
      continue;
    }
    if (!fits(in.size(), pos, 3)) {
      out.incomplete = true;
      note(out, dnp3_error::truncated_frame);
      break;
    }
    const std::size_t length = in[pos + 2];
    if (length < min_length) {
      note(out, dnp3_error::bad_length);
      out.skipped += 2;
      pos += 2;
      continue;
    }
    const std::size_t size = frame_size(length);
    if (!fits(in.size(), pos, size)) {
      out.incomplete = true;
      note(out, dnp3_error::truncated_frame);
      break;
    }
    ++out.frames_seen;
    if (out.frames_len == dnp3_max_frames) {
      // Still check the CRCs so the counts stay right.
      dnp3_frame scratch;
      decode_frame(in.subspan(pos, size), scratch, out);
      note(out, dnp3_error::frame_overflow);
    } else {
      decode_frame(in.subspan(pos, size), out.frames[out.frames_len], out);
      ++out.frames_len;
    }
    pos += size;
    out.consumed = pos;
  }
  return out.error;
}

std::string_view dnp3_sender_role(const dnp3_frame& f) noexcept {
  return f.dir ? "master" : "outstation";
}

void dnp3_facts(const dnp3_segment& seg, const packet_view& /*pkt*/, fact_sink& sink) {
  auto emit = [&sink](subject about, field_name field, std::string value,
                      std::uint8_t confidence) {
    fact f;
    f.about = about;
    f.source = "dnp3";
    f.field = field;
    f.value = std::move(value);
    f.confidence = confidence;
    sink.add(std::move(f));
  };
  const auto frames = seg.frame_list();
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const auto& f = frames[i];
    if (!f.header_crc_ok) {
      continue;
    }
    bool repeat = false;
    for (std::size_t k = 0; k < i && !repeat; ++k) {
      repeat = frames[k].header_crc_ok && frames[k].source == f.source &&
               frames[k].destination == f.destination && frames[k].dir == f.dir;
    }
    if (repeat) {
      continue;
    }
    emit(subject::sender, "address", std::to_string(f.source), 90);
    emit(subject::sender, "role", std::string(dnp3_sender_role(f)), 80);
    if (f.destination < first_reserved_address) {
      emit(subject::receiver, "address", std::to_string(f.destination), 70);
      emit(subject::receiver, "role", f.dir ? "outstation" : "master", 60);
    }
  }
}

}  // namespace tapsense::proto
