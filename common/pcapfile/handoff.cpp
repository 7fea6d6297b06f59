#include "common/pcapfile/handoff.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string_view>

namespace tapsense::pcapfile {

namespace {

constexpr char magic[8] = {'T', 'S', 'S', 'C', 'A', 'N', '0', '3'};
constexpr std::uint32_t max_string = 1u << 16;
// The longest record a writer makes: a 'P' of progress_every fixes (30
// bytes each at most), or an 'F'/'E' of three strings.
constexpr std::uint32_t max_record = 4u << 20;

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
  // A u32 written earlier at byte `at` (a record's length, once known).
  void patch_u32(std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) b_[at + static_cast<std::size_t>(i)] = static_cast<char>(v >> (8 * i));
  }
  void reserve(std::size_t n) { b_.reserve(n); }
  const std::string& data() const { return b_; }

 private:
  std::string b_;
};

// Every read checks the remaining length first; a short read poisons the rest.
class in_buf {
 public:
  explicit in_buf(std::string_view b) : b_(b) {}
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
    std::string s(b_.substr(pos_, n));
    pos_ += n;
    return s;
  }

 private:
  std::string_view b_;
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

// A fix as four varints (about 7 bytes, not 24: a file of cut-short records
// has one fix a packet, millions of them).
void put_fix(out_buf& o, const length_fix& f, std::uint64_t& index, std::uint64_t& ts) {
  o.var(f.index - index);
  o.var(f.caplen);
  o.var(f.orig_len);
  const auto step = static_cast<std::int64_t>(f.ts_us - ts);
  o.var((static_cast<std::uint64_t>(step) << 1) ^ static_cast<std::uint64_t>(step >> 63));
  index = f.index;
  ts = f.ts_us;
}

// A record: its type, its payload's length (sealed() fills it in), its
// payload.
out_buf record(char type) {
  out_buf o;
  o.u8(static_cast<std::uint8_t>(type));
  o.u32(0);
  return o;
}

const std::string& sealed(out_buf& o) {
  o.patch_u32(1, static_cast<std::uint32_t>(o.data().size() - 5));
  return o.data();
}

bool write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t k = ::write(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}

}  // namespace

// ---- writer ------------------------------------------------------------------

scan_writer::~scan_writer() {
  if (fd_ >= 0) ::close(fd_);
}

bool scan_writer::open(const std::string& file, std::string& why) {
  if (fd_ >= 0) ::close(fd_);
  file_ = file;
  fd_ = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    why = "cannot write " + file + ": " + std::strerror(errno);
    return false;
  }
  if (!write_all(fd_, magic, sizeof magic)) {
    why = "cannot write " + file + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

bool scan_writer::write(const std::string& bytes, std::string& why) {
  if (fd_ < 0 || !write_all(fd_, bytes.data(), bytes.size())) {
    why = "cannot write " + file_ + ": " + (fd_ < 0 ? std::string("not open") : std::strerror(errno));
    return false;
  }
  return true;
}

bool scan_writer::progress(const scan_result& r, std::span<const length_fix> new_fixes, std::string& why) {
  if (!begun_) {
    out_buf f = record('F');
    f.str(r.path);
    f.u64(r.identity.dev);
    f.u64(r.identity.ino);
    f.u64(r.identity.size);
    f.u64(r.identity.mtime_ns);
    f.u32(static_cast<std::uint32_t>(r.linktypes.size()));
    for (const auto lt : r.linktypes) f.u32(lt);
    if (!write(sealed(f), why)) return false;
    begun_ = true;
    last_index_ = last_ts_ = 0;
  }
  // At most progress_every fixes a record (a whole file's at once come in
  // several), so a record's length is bounded and a reader can tell a bad
  // one from one still being written.
  do {
    const auto part = new_fixes.first(std::min<std::size_t>(new_fixes.size(), progress_every));
    new_fixes = new_fixes.subspan(part.size());
    out_buf o = record('P');
    o.reserve(32 + part.size() * 8);
    o.var(r.packets);
    o.var(part.size());
    for (const auto& x : part) put_fix(o, x, last_index_, last_ts_);
    if (!write(sealed(o), why)) return false;
  } while (!new_fixes.empty());
  return true;
}

bool scan_writer::end(const scan_result& r, std::string& why) {
  if (!progress(r, r.fixes, why)) return false;
  out_buf o = record('E');
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
  begun_ = false;
  return write(sealed(o), why);
}

bool scan_writer::finish(std::uint32_t files, std::string& why) {
  out_buf o = record('Z');
  o.u32(files);
  return write(sealed(o), why);
}

// ---- follower ----------------------------------------------------------------

scan_follower::~scan_follower() {
  if (fd_ >= 0) ::close(fd_);
}

bool scan_follower::poll(std::string& why) {
  if (fd_ < 0) {
    fd_ = ::open(file_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
      if (errno == ENOENT) return true;  // not written yet
      why = file_ + ": " + std::strerror(errno);
      return false;
    }
  }
  char chunk[1 << 16];
  for (;;) {
    const ssize_t k = ::read(fd_, chunk, sizeof chunk);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) {
      why = file_ + ": " + std::strerror(errno);
      return false;
    }
    if (k == 0) return true;
    if (!feed(std::string_view(chunk, static_cast<std::size_t>(k)), why)) return false;
  }
}

bool scan_follower::feed(std::string_view bytes, std::string& why) {
  buf_.erase(0, pos_);  // what was parsed
  pos_ = 0;
  buf_.append(bytes);
  return parse(why);
}

void scan_follower::put(std::size_t i, scan_result r) {
  followed f;
  f.fixes.assign(r.fixes.begin(), r.fixes.end());
  r.fixes.clear();
  f.scanned = r.packets;
  f.ended = true;
  f.result = std::move(r);
  if (i < files_.size()) {
    files_[i] = std::move(f);
  } else {
    files_.resize(i);
    files_.push_back(std::move(f));
  }
}

bool scan_follower::parse(std::string& why) {
  if (!magic_ok_) {
    if (buf_.size() < sizeof magic) return true;
    if (buf_.compare(0, sizeof magic, magic, sizeof magic) != 0) {
      why = file_ + ": not a saved scan";
      return false;
    }
    magic_ok_ = true;
    pos_ = sizeof magic;
  }
  for (;;) {
    if (buf_.size() - pos_ < 5) return true;
    if (complete_) {
      why = file_ + ": records after the end";
      return false;
    }
    in_buf h(std::string_view(buf_).substr(pos_, 5));
    const char type = static_cast<char>(h.u8());
    const std::uint32_t len = h.u32();
    if (std::string_view("FPEZ").find(type) == std::string_view::npos || len > max_record) {
      why = file_ + ": not a record";  // not one being written either: nothing more would make it whole
      return false;
    }
    if (buf_.size() - pos_ - 5 < len) return true;  // the rest of it is still to come
    in_buf in(std::string_view(buf_).substr(pos_ + 5, len));
    pos_ += 5 + std::size_t{len};
    followed* cur = files_.empty() ? nullptr : &files_.back();
    const bool open_file = cur != nullptr && !cur->ended;
    switch (type) {
      case 'F': {
        if (open_file) {
          why = file_ + ": a file begins inside another";
          return false;
        }
        followed f;
        f.result.path = in.str();
        f.result.identity.dev = in.u64();
        f.result.identity.ino = in.u64();
        f.result.identity.size = in.u64();
        f.result.identity.mtime_ns = in.u64();
        const std::uint32_t nlt = in.u32();
        if (!in.has(std::uint64_t{nlt} * 4)) break;
        for (std::uint32_t k = 0; k < nlt; ++k) f.result.linktypes.push_back(in.u32());
        if (!in.at_end()) {
          why = file_ + ": bad file record";
          return false;
        }
        files_.push_back(std::move(f));
        last_index_ = last_ts_ = 0;
        any_fix_ = false;
        break;
      }
      case 'P': {
        if (!open_file) {
          why = file_ + ": progress outside a file";
          return false;
        }
        const std::uint64_t scanned = in.var();
        const std::uint64_t nfix = in.var();
        if (!in.ok() || scanned < cur->scanned || nfix > len / 4) {  // 4 bytes a fix at least
          why = file_ + ": bad progress";
          return false;
        }
        auto& fixes = cur->fixes;
        for (std::uint64_t k = 0; k < nfix; ++k) {
          length_fix x;
          x.index = last_index_ + in.var();
          const auto caplen = in.var();
          const auto orig_len = in.var();
          const auto zz = in.var();
          if (!in.ok() || caplen > UINT32_MAX || orig_len > UINT32_MAX || (any_fix_ && x.index <= last_index_) ||
              x.index >= scanned) {
            why = file_ + ": bad fix";
            return false;
          }
          x.caplen = static_cast<std::uint32_t>(caplen);
          x.orig_len = static_cast<std::uint32_t>(orig_len);
          x.ts_us = last_ts_ + ((zz >> 1) ^ (~(zz & 1) + 1));
          last_index_ = x.index;
          last_ts_ = x.ts_us;
          any_fix_ = true;
          fixes.push_back(x);
        }
        if (!in.at_end()) {
          why = file_ + ": bad progress";
          return false;
        }
        cur->scanned = scanned;
        break;
      }
      case 'E': {
        if (!open_file) {
          why = file_ + ": an end outside a file";
          return false;
        }
        scan_result& r = cur->result;
        const std::uint8_t e = in.u8();
        if (e > static_cast<std::uint8_t>(scan_error::unsupported)) {
          why = file_ + ": bad error kind";
          return false;
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
        r.linktypes.clear();
        for (std::uint32_t k = 0; k < nlt; ++k) r.linktypes.push_back(in.u32());
        if (!in.ok() || !in.at_end() || r.packets < cur->scanned || (any_fix_ && last_index_ >= r.packets)) {
          why = file_ + ": bad end of a file";
          return false;
        }
        cur->scanned = r.packets;
        cur->ended = true;
        break;
      }
      case 'Z': {
        const std::uint32_t n = in.u32();
        if (!in.ok() || !in.at_end() || open_file || n != files_.size()) {
          why = file_ + ": bad end";
          return false;
        }
        complete_ = true;
        break;
      }
      default:
        why = file_ + ": unknown record";
        return false;
    }
    if (!in.ok()) {
      why = file_ + ": cut short or malformed";
      return false;
    }
  }
}

// ---- whole results -------------------------------------------------------------

bool save_scans(const std::string& file, const std::vector<scan_result>& scans, std::string& why) {
  const std::string tmp = file + ".tmp";
  {
    scan_writer w;
    bool ok = w.open(tmp, why);
    for (const auto& r : scans) {
      ok = ok && w.end(r, why);
    }
    ok = ok && w.finish(static_cast<std::uint32_t>(scans.size()), why);
    if (!ok) {
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
  scan_follower f(file);
  if (!f.poll(why)) return std::nullopt;
  if (!f.exists()) {
    why = file + ": " + std::strerror(ENOENT);
    return std::nullopt;
  }
  if (!f.complete() || f.partial() != 0) {
    why = file + ": cut short or unfinished";
    return std::nullopt;
  }
  std::vector<scan_result> out;
  out.reserve(f.files().size());
  for (auto& x : f.files()) {
    x.result.fixes.assign(x.fixes.begin(), x.fixes.end());
    out.push_back(std::move(x.result));
  }
  return out;
}

bool still_current(const scan_result& r, const std::string& path) {
  const auto id = identify(path);
  return id && r.identity != file_identity{} && *id == r.identity;
}

std::optional<scan_result> find_current(const std::vector<scan_result>& saved, const std::string& path) {
  for (const auto& r : saved) {
    if (r.path != path) continue;
    if (!still_current(r, path)) return std::nullopt;
    return r;
  }
  return std::nullopt;
}

}  // namespace tapsense::pcapfile
