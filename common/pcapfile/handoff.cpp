#include "common/pcapfile/handoff.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

namespace tapsense::pcapfile {

namespace {

constexpr char magic[8] = {'T', 'S', 'S', 'C', 'A', 'N', '0', '2'};
constexpr std::uint32_t max_string = 1u << 16;

class out_buf {
 public:
  void u8(std::uint8_t v) { b_.push_back(static_cast<char>(v)); }
  void u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) u8(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) u8(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void str(const std::string& s) {
    u32(static_cast<std::uint32_t>(s.size()));
    b_.append(s);
  }
  // LEB128: seven bits a byte, low first.
  void var(std::uint64_t v) {
    while (v >= 0x80) {
      u8(static_cast<std::uint8_t>(v | 0x80));
      v >>= 7;
    }
    u8(static_cast<std::uint8_t>(v));
  }
  void raw(const char* p, std::size_t n) { b_.append(p, n); }
  void reserve(std::size_t n) { b_.reserve(n); }
  const std::string& data() const { return b_; }

 private:
  std::string b_;
};

// Every read checks the remaining length first; a short read poisons the rest.
class in_buf {
 public:
  explicit in_buf(const std::string& b) : b_(b) {}
  bool ok() const { return ok_; }
  bool at_end() const { return pos_ == b_.size(); }
  bool has(std::size_t n) {
    if (!ok_ || b_.size() - pos_ < n) ok_ = false;
    return ok_;
  }
  std::uint8_t u8() {
    if (!has(1)) return 0;
    return static_cast<std::uint8_t>(b_[pos_++]);
  }
  std::uint32_t u32() {
    if (!has(4)) return 0;
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= std::uint32_t{static_cast<std::uint8_t>(b_[pos_++])} << (8 * i);
    return v;
  }
  std::uint64_t u64() {
    if (!has(8)) return 0;
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= std::uint64_t{static_cast<std::uint8_t>(b_[pos_++])} << (8 * i);
    return v;
  }
  std::uint64_t var() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (!has(1)) return 0;
      const auto b = static_cast<std::uint8_t>(b_[pos_++]);
      v |= std::uint64_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0) return v;
    }
    ok_ = false;  // more than ten bytes
    return 0;
  }
  std::string str() {
    const std::uint32_t n = u32();
    if (n > max_string || !has(n)) {
      ok_ = false;
      return {};
    }
    std::string s = b_.substr(pos_, n);
    pos_ += n;
    return s;
  }

 private:
  const std::string& b_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

std::optional<file_identity> identify(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return std::nullopt;
  }
  return file_identity{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
                       static_cast<std::uint64_t>(st.st_size),
                       static_cast<std::uint64_t>(st.st_mtim.tv_sec) * 1'000'000'000u +
                           static_cast<std::uint64_t>(st.st_mtim.tv_nsec)};
}

}  // namespace

bool save_scans(const std::string& file, const std::vector<scan_result>& scans, std::string& why) {
  out_buf o;
  o.raw(magic, sizeof magic);
  o.u32(static_cast<std::uint32_t>(scans.size()));
  for (const auto& r : scans) {
    o.str(r.path);
    o.u64(r.identity.dev);
    o.u64(r.identity.ino);
    o.u64(r.identity.size);
    o.u64(r.identity.mtime_ns);
    o.u8(static_cast<std::uint8_t>(r.error));
    o.str(r.message);
    o.str(r.format);
    o.u64(r.packets);
    o.u64(r.captured_bytes);
    o.u64(r.wire_bytes);
    o.u64(r.first_ts_ns);
    o.u64(r.last_ts_ns);
    o.u32(r.snaplen);
    o.u64(r.stop_offset);
    o.u32(static_cast<std::uint32_t>(r.linktypes.size()));
    for (const auto lt : r.linktypes) o.u32(lt);
    // A fix as four varints (about 7 bytes, not 24: a file of cut-short
    // records has one fix a packet, millions of them): the index as a step
    // from the previous fix's, caplen, orig_len, and the time stamp as a
    // zigzag step from the previous fix's (captures are not always in order).
    o.u64(r.fixes.size());
    o.reserve(o.data().size() + r.fixes.size() * 8);
    std::uint64_t index = 0, ts = 0;
    for (const auto& f : r.fixes) {
      o.var(f.index - index);
      o.var(f.caplen);
      o.var(f.orig_len);
      const auto step = static_cast<std::int64_t>(f.ts_us - ts);
      o.var((static_cast<std::uint64_t>(step) << 1) ^ static_cast<std::uint64_t>(step >> 63));
      index = f.index;
      ts = f.ts_us;
    }
  }
  const std::string tmp = file + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(o.data().data(), static_cast<std::streamsize>(o.data().size()));
    f.close();
    if (!f) {
      why = "cannot write " + tmp;
      std::remove(tmp.c_str());
      return false;
    }
  }
  if (std::rename(tmp.c_str(), file.c_str()) != 0) {
    why = "cannot rename " + tmp + " to " + file + ": " + std::strerror(errno);
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

std::optional<std::vector<scan_result>> load_scans(const std::string& file, std::string& why) {
  std::ifstream f(file, std::ios::binary);
  if (!f) {
    why = file + ": " + std::strerror(errno);
    return std::nullopt;
  }
  // One read of the whole file (a fix list is 24 bytes a truncated packet:
  // 36 MB for the 1.5-million-packet bench file, too much to take a
  // character at a time through a stream iterator).
  f.seekg(0, std::ios::end);
  const auto size = static_cast<std::streamoff>(f.tellg());
  f.seekg(0, std::ios::beg);
  std::string data(size > 0 ? static_cast<std::size_t>(size) : 0, '\0');
  if (!f.read(data.data(), static_cast<std::streamsize>(data.size()))) {
    why = file + ": " + std::strerror(errno);
    return std::nullopt;
  }
  if (data.size() < sizeof magic || data.compare(0, sizeof magic, magic, sizeof magic) != 0) {
    why = file + ": not a saved scan";
    return std::nullopt;
  }
  data.erase(0, sizeof magic);
  const std::string& body = data;
  in_buf in(body);
  const std::uint32_t count = in.u32();
  std::vector<scan_result> out;
  for (std::uint32_t i = 0; i < count && in.ok(); ++i) {
    scan_result r;
    r.path = in.str();
    r.identity.dev = in.u64();
    r.identity.ino = in.u64();
    r.identity.size = in.u64();
    r.identity.mtime_ns = in.u64();
    const std::uint8_t e = in.u8();
    if (e > static_cast<std::uint8_t>(scan_error::unsupported)) {
      why = file + ": bad error kind";
      return std::nullopt;
    }
    r.error = static_cast<scan_error>(e);
    r.message = in.str();
    r.format = in.str();
    r.packets = in.u64();
    r.captured_bytes = in.u64();
    r.wire_bytes = in.u64();
    r.first_ts_ns = in.u64();
    r.last_ts_ns = in.u64();
    r.snaplen = in.u32();
    r.stop_offset = in.u64();
    const std::uint32_t nlt = in.u32();
    if (!in.has(std::uint64_t{nlt} * 4)) break;
    for (std::uint32_t k = 0; k < nlt; ++k) r.linktypes.push_back(in.u32());
    const std::uint64_t nfix = in.u64();
    if (nfix > r.packets || nfix > body.size() / 4 || !in.has(nfix * 4)) {  // 4 bytes a fix at least
      why = file + ": bad fix count";
      return std::nullopt;
    }
    r.fixes.reserve(nfix);
    std::uint64_t index = 0, ts = 0;
    for (std::uint64_t k = 0; k < nfix && in.ok(); ++k) {
      length_fix x;
      x.index = index + in.var();
      const auto caplen = in.var();
      const auto orig_len = in.var();
      const auto zz = in.var();
      if (caplen > UINT32_MAX || orig_len > UINT32_MAX || (k != 0 && x.index <= index) || x.index >= r.packets) {
        why = file + ": bad fix";
        return std::nullopt;
      }
      x.caplen = static_cast<std::uint32_t>(caplen);
      x.orig_len = static_cast<std::uint32_t>(orig_len);
      x.ts_us = ts + ((zz >> 1) ^ (~(zz & 1) + 1));
      index = x.index;
      ts = x.ts_us;
      r.fixes.push_back(x);
    }
    out.push_back(std::move(r));
  }
  if (!in.ok() || !in.at_end()) {
    why = file + ": cut short or malformed";
    return std::nullopt;
  }
  return out;
}

std::optional<scan_result> find_current(const std::vector<scan_result>& saved, const std::string& path) {
  for (const auto& r : saved) {
    if (r.path != path) continue;
    const auto id = identify(path);
    if (!id || r.identity == file_identity{} || *id != r.identity) return std::nullopt;
    return r;
  }
  return std::nullopt;
}

}  // namespace tapsense::pcapfile
