#pragma once
// Capture files built byte by byte, for the tests of what reads them
// (common/pcapfile's scan and hand-off, capture's pcap_next_ex()): classic
// pcap records and pcapng blocks in either byte order, and a temporary
// directory to write them to. Each test binary includes it once.
#include <stdlib.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace {

class writer {
 public:
  explicit writer(bool big_endian = false) : big_(big_endian) {}

  writer& u8(std::uint8_t v) {
    b_.push_back(v);
    return *this;
  }
  writer& u16(std::uint16_t v) {
    return big_ ? u8(static_cast<std::uint8_t>(v >> 8)).u8(static_cast<std::uint8_t>(v))
                : u8(static_cast<std::uint8_t>(v)).u8(static_cast<std::uint8_t>(v >> 8));
  }
  writer& u32(std::uint32_t v) {
    return big_ ? u16(static_cast<std::uint16_t>(v >> 16)).u16(static_cast<std::uint16_t>(v))
                : u16(static_cast<std::uint16_t>(v)).u16(static_cast<std::uint16_t>(v >> 16));
  }
  writer& u64(std::uint64_t v) {
    return big_ ? u32(static_cast<std::uint32_t>(v >> 32)).u32(static_cast<std::uint32_t>(v))
                : u32(static_cast<std::uint32_t>(v)).u32(static_cast<std::uint32_t>(v >> 32));
  }
  writer& fill(std::size_t n, std::uint8_t v = 0xab) {
    b_.insert(b_.end(), n, v);
    return *this;
  }
  writer& bytes(const std::vector<std::uint8_t>& v) {
    b_.insert(b_.end(), v.begin(), v.end());
    return *this;
  }
  bool big() const { return big_; }
  const std::vector<std::uint8_t>& data() const { return b_; }

 private:
  bool big_;
  std::vector<std::uint8_t> b_;
};

constexpr std::uint32_t magic_us = 0xa1b2c3d4;
constexpr std::uint32_t magic_ns = 0xa1b23c4d;

[[maybe_unused]] void pcap_header(writer& w, std::uint32_t magic = magic_us, std::uint32_t snaplen = 65535,
                                  std::uint32_t linktype = 1) {
  w.u32(magic).u16(2).u16(4).u32(0).u32(0).u32(snaplen).u32(linktype);
}

[[maybe_unused]] void pcap_record(writer& w, std::uint32_t sec, std::uint32_t frac, std::uint32_t caplen,
                                  std::uint32_t len) {
  w.u32(sec).u32(frac).u32(caplen).u32(len).fill(caplen);
}

// One pcapng block: type, length, body padded to 4, trailing length.
[[maybe_unused]] void ng_block(writer& w, std::uint32_t type, const writer& body) {
  const std::size_t pad = (4 - body.data().size() % 4) % 4;
  const auto len = static_cast<std::uint32_t>(12 + body.data().size() + pad);
  w.u32(type).u32(len).bytes(body.data()).fill(pad, 0).u32(len);
}

[[maybe_unused]] void ng_shb(writer& w, std::uint16_t minor = 0) {
  writer b(w.big());
  b.u32(0x1A2B3C4D).u16(1).u16(minor).u64(~std::uint64_t{0});
  ng_block(w, 0x0A0D0D0A, b);
}

// tsresol < 0: no if_tsresol option.
[[maybe_unused]] void ng_idb(writer& w, std::uint16_t linktype = 1, std::uint32_t snaplen = 262144,
                             int tsresol = -1, std::int64_t tsoffset = 0) {
  writer b(w.big());
  b.u16(linktype).u16(0).u32(snaplen);
  if (tsresol >= 0) {
    b.u16(9).u16(1).u8(static_cast<std::uint8_t>(tsresol)).fill(3, 0);
  }
  if (tsoffset != 0) {
    b.u16(14).u16(8).u64(static_cast<std::uint64_t>(tsoffset));
  }
  if (tsresol >= 0 || tsoffset != 0) {
    b.u16(0).u16(0);
  }
  ng_block(w, 1, b);
}

[[maybe_unused]] void ng_epb(writer& w, std::uint32_t ifid, std::uint64_t ticks, std::uint32_t caplen,
                             std::uint32_t len) {
  writer b(w.big());
  b.u32(ifid).u32(static_cast<std::uint32_t>(ticks >> 32)).u32(static_cast<std::uint32_t>(ticks));
  b.u32(caplen).u32(len).fill(caplen);
  ng_block(w, 6, b);
}

[[maybe_unused]] void ng_spb(writer& w, std::uint32_t len) {
  writer b(w.big());
  b.u32(len).fill(len);
  ng_block(w, 3, b);
}

[[maybe_unused]] void ng_pb(writer& w, std::uint16_t ifid, std::uint64_t ticks, std::uint32_t caplen,
                            std::uint32_t len) {
  writer b(w.big());
  b.u16(ifid).u16(0).u32(static_cast<std::uint32_t>(ticks >> 32));
  b.u32(static_cast<std::uint32_t>(ticks)).u32(caplen).u32(len).fill(caplen);
  ng_block(w, 2, b);
}

// A directory of its own, removed with everything in it.
class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tapsense-pcapfile-XXXXXX").string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    const char* d = ::mkdtemp(buf.data());
    path_ = d != nullptr ? d : "";
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

  std::string write(const std::string& name, const std::vector<std::uint8_t>& data) const {
    const std::string p = (path_ / name).string();
    std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(p.c_str(), "wb"), std::fclose);
    if (f && !data.empty()) {
      std::fwrite(data.data(), 1, data.size(), f.get());
    }
    return p;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace
