#include "common/pcapfile/records.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/pcapfile/format.h"

namespace tapsense::pcapfile {

bool pread_all(int fd, void* out, std::size_t n, std::uint64_t offset) noexcept {
  auto* p = static_cast<unsigned char*>(out);
  while (n > 0) {
    const ssize_t k = ::pread(fd, p, n, static_cast<off_t>(offset));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    n -= static_cast<std::size_t>(k);
    offset += static_cast<std::uint64_t>(k);
  }
  return true;
}

namespace {

constexpr std::size_t file_header = 24;
constexpr std::size_t record_header = 16;

}  // namespace

std::unique_ptr<record_reader> record_reader::open(pcap_t* p, std::size_t chunk, next_ex_fn libpcap_next) {
  if (p == nullptr || chunk < 64) return nullptr;
  FILE* f = pcap_file(p);
  if (f == nullptr) return nullptr;
  const int fd = ::fileno(f);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return nullptr;
  std::uint32_t h[6];
  static_assert(sizeof h == file_header);
  if (!pread_all(fd, h, sizeof h, 0)) return nullptr;
  const bool swapped = h[0] == __builtin_bswap32(pcap_magic_us) || h[0] == __builtin_bswap32(pcap_magic_ns);
  const std::uint32_t magic = swapped ? __builtin_bswap32(h[0]) : h[0];
  if (magic != pcap_magic_us && magic != pcap_magic_ns) return nullptr;  // pcapng, Kuznetzov's, ...
  // 2.4 only: libpcap swaps the two lengths of some older versions' records.
  std::uint16_t version[2];  // major, minor
  std::memcpy(version, &h[1], sizeof version);
  if (swapped) {
    for (auto& v : version) v = __builtin_bswap16(v);
  }
  if (version[0] != 2 || version[1] != 4) return nullptr;
  // In a file of the other byte order libpcap also swaps the fields of some
  // link types' own headers (USB, NFLOG, SLL's CAN frames, ...) in the data.
  if (swapped && pcap_datalink(p) != DLT_EN10MB) return nullptr;
  const bool want_ns = pcap_get_tstamp_precision(p) == PCAP_TSTAMP_PRECISION_NANO;
  return std::unique_ptr<record_reader>(new record_reader(p, fd, chunk, swapped, magic == pcap_magic_ns, want_ns,
                                                         libpcap_next != nullptr ? libpcap_next : &::pcap_next_ex));
}

record_reader::record_reader(pcap_t* p, int fd, std::size_t chunk, bool swapped, bool file_ns, bool want_ns,
                             next_ex_fn libpcap_next)
    : p_(p),
      libpcap_next_(libpcap_next),
      fd_(fd),
      swapped_(swapped),
      file_ns_(file_ns),
      want_ns_(want_ns),
      // libpcap sets it from the file's header, or to the link type's most
      // when that is 0 or more: the records it reads without cutting them.
      snapshot_(static_cast<std::uint32_t>(pcap_snapshot(p))),
      buf_(chunk),
      end_(file_header) {}

bool record_reader::refill() noexcept {
  if (at_ > 0) {
    std::memmove(buf_.data(), buf_.data() + at_, have_ - at_);
    have_ -= at_;
    at_ = 0;
  }
  if (have_ == buf_.size()) return false;
  for (;;) {
    const ssize_t k = ::pread(fd_, buf_.data() + have_, buf_.size() - have_, static_cast<off_t>(end_));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;  // the end, or an error libpcap will meet and name
    have_ += static_cast<std::size_t>(k);
    end_ += static_cast<std::uint64_t>(k);
    return true;
  }
}

int record_reader::next(pcap_pkthdr** h, const u_char** data) noexcept {
  while (!libpcap_only_) {
    const std::size_t avail = have_ - at_;
    if (avail >= record_header) {
      const u_char* r = buf_.data() + at_;
      std::uint32_t f[4];
      std::memcpy(f, r, sizeof f);
      if (swapped_) {
        for (auto& x : f) x = __builtin_bswap32(x);
      }
      const std::uint32_t caplen = f[2];
      if (caplen <= snapshot_) {
        if (avail - record_header >= caplen) {
          // As libpcap 1.10: both time fields are signed 32-bit in a file
          // of this machine's byte order, unsigned once it swapped them.
          const std::int64_t sec = swapped_ ? std::int64_t{f[0]} : std::int64_t{static_cast<std::int32_t>(f[0])};
          const std::int64_t frac = swapped_ ? std::int64_t{f[1]} : std::int64_t{static_cast<std::int32_t>(f[1])};
          hdr_.ts.tv_sec = sec;
          hdr_.ts.tv_usec = file_ns_ == want_ns_ ? frac : file_ns_ ? frac / 1000 : frac * 1000;
          hdr_.caplen = caplen;
          hdr_.len = f[3];
          at_ += record_header + caplen;
          *h = &hdr_;
          *data = r + record_header;
          return 1;
        }
        if (record_header + caplen <= buf_.size() && refill()) continue;
      }
    } else if (refill()) {
      continue;
    }
    break;
  }
  return by_libpcap(h, data);
}

std::uint64_t record_reader::offset() const noexcept {
  if (!libpcap_only_) return end_ - (have_ - at_);
  const off_t pos = ::ftello(pcap_file(p_));
  return pos >= 0 ? static_cast<std::uint64_t>(pos) : 0;
}

int record_reader::by_libpcap(pcap_pkthdr** h, const u_char** data) noexcept {
  ++handed_;
  if (libpcap_only_) return libpcap_next_(p_, h, data);
  FILE* f = pcap_file(p_);
  const std::uint64_t off = end_ - (have_ - at_);
  at_ = have_ = 0;
  end_ = off;
  if (::fseeko(f, static_cast<off_t>(off), SEEK_SET) != 0) {
    std::snprintf(pcap_geterr(p_), PCAP_ERRBUF_SIZE, "cannot seek to byte %llu: %s",
                  static_cast<unsigned long long>(off), std::strerror(errno));
    return PCAP_ERROR;
  }
  const int rc = libpcap_next_(p_, h, data);
  // Where libpcap left the stream: the next record (or, after an error or
  // the end, where it stopped; a later call starts there again). Not told
  // where: libpcap reads on from its stream alone.
  if (const off_t pos = ::ftello(f); pos >= 0) {
    end_ = static_cast<std::uint64_t>(pos);
  } else {
    libpcap_only_ = true;
  }
  return rc;
}

}  // namespace tapsense::pcapfile
