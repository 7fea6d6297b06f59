#include "common/pcapfile/scan.h"

#include <pcap/pcap.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "common/net/bytes.h"

namespace tapsense::pcapfile {

const char* scan_error_name(scan_error e) noexcept {
  switch (e) {
    case scan_error::none: return "none";
    case scan_error::not_found: return "not_found";
    case scan_error::permission_denied: return "permission_denied";
    case scan_error::unreadable: return "unreadable";
    case scan_error::empty: return "empty";
    case scan_error::not_a_capture: return "not_a_capture";
    case scan_error::unsupported_linktype: return "unsupported_linktype";
    case scan_error::truncated: return "truncated";
    case scan_error::unsupported: return "unsupported";
  }
  return "unknown";
}

namespace {

using net::bytes;
using net::fits;

// ---- libpcap 1.10 constants and rules (pcap-common.c, sf-pcap.c, sf-pcapng.c) ----

constexpr std::uint32_t pcap_magic_us = 0xa1b2c3d4;
constexpr std::uint32_t pcap_magic_ns = 0xa1b23c4d;
constexpr std::uint32_t pcap_magic_kuznetzov = 0xa1b2cd34;  // "patched" libpcap: 24-byte records
constexpr std::size_t pcap_file_header_len = 24;

constexpr std::uint32_t ng_shb = 0x0A0D0D0A;
constexpr std::uint32_t ng_idb = 1;
constexpr std::uint32_t ng_pb = 2;  // obsolete Packet Block
constexpr std::uint32_t ng_spb = 3;
constexpr std::uint32_t ng_epb = 6;
constexpr std::uint32_t ng_byte_order_magic = 0x1A2B3C4D;
constexpr std::uint32_t ng_shb_insane_max = 1024 * 1024;
constexpr std::uint32_t ng_initial_max_block = 16 * 1024 * 1024;
constexpr std::size_t ng_block_overhead = 12;  // type, length, trailing length
constexpr std::size_t ng_shb_min = 28;         // header + BOM/version/section length + trailer

constexpr std::uint32_t maximum_snaplen = 262144;
constexpr std::uint32_t linktype_ext_mask = 0x03FFFFFF;
constexpr std::uint32_t dlt_en10mb = 1;

constexpr std::uint32_t swap32(std::uint32_t v) noexcept {
  return (v >> 24) | ((v >> 8) & 0xff00) | ((v << 8) & 0xff0000) | (v << 24);
}

// LINKTYPE_ -> DLT_ as libpcap maps it on Linux (pcap-common.c linktype_to_dlt).
// Only these differ from the identity; libpcap compares a later pcapng IDB's
// raw LINKTYPE_ with the first IDB's DLT_, so a second LINKTYPE_RAW interface
// is refused. We mirror that so the packet count matches.
constexpr std::uint32_t linktype_to_dlt(std::uint32_t lt) noexcept {
  switch (lt) {
    case 100: return 11;  // ATM_RFC1483
    case 101: return 12;  // RAW
    case 102: return 15;  // SLIP_BSDOS
    case 103: return 16;  // PPP_BSDOS
    case 106: return 19;  // ATM_CLIP
    default: return lt;
  }
}

constexpr std::uint32_t max_snaplen_for_dlt(std::uint32_t dlt) noexcept {
  switch (dlt) {
    case 231: return 128 * 1024 * 1024;  // DBUS
    case 279: return 8 * 1024 * 1024;    // EBHSCR
    case 249: return 1024 * 1024;        // USBPCAP
    default: return maximum_snaplen;
  }
}

// pcap_adjust_snapshot() as of libpcap 1.10: only 0 and values above INT_MAX
// are replaced; a snap length above the link type's maximum is kept (later
// libpcap releases clamp it, which changes what a pcapng file may hold).
constexpr std::uint32_t int_max = 0x7fffffff;
constexpr std::uint32_t adjust_snapshot(std::uint32_t dlt, std::uint32_t snaplen) noexcept {
  return (snaplen == 0 || snaplen > int_max) ? max_snaplen_for_dlt(dlt) : snaplen;
}

template <bool BigEndian>
struct endian {
  static std::uint16_t u16(const std::uint8_t* p) noexcept {
    return BigEndian ? net::load_be16(p) : net::load_le16(p);
  }
  static std::uint32_t u32(const std::uint8_t* p) noexcept {
    return BigEndian ? net::load_be32(p) : net::load_le32(p);
  }
  static std::uint64_t u64(const std::uint8_t* p) noexcept {
    return BigEndian ? net::load_be64(p)
                     : (std::uint64_t{net::load_le32(p + 4)} << 32) | net::load_le32(p);
  }
};

// ---- result assembly ----

class collector {
 public:
  collector(scan_result& r, std::string_view name) : r_(r), name_(name) {}

  void add(std::uint64_t ts_ns, std::uint64_t ts_us, std::uint32_t caplen, std::uint32_t len) {
    if (r_.packets == 0) {
      r_.first_ts_ns = ts_ns;
    }
    r_.last_ts_ns = ts_ns;
    if (caplen != len) {
      r_.fixes.push_back(length_fix{r_.packets, caplen, len, ts_us});
    }
    r_.captured_bytes += caplen;
    r_.wire_bytes += len;
    ++r_.packets;
  }

  void add_linktype(std::uint32_t lt) {
    if (std::find(r_.linktypes.begin(), r_.linktypes.end(), lt) == r_.linktypes.end()) {
      r_.linktypes.push_back(lt);
    }
  }

  // Stops the scan at `offset` with a named error. `what` says what is wrong;
  // the message adds where, and how many packets precede it.
  void fail(scan_error e, std::uint64_t offset, const std::string& what) {
    r_.error = e;
    r_.stop_offset = offset;
    r_.message = std::string(name_) + ": " + what;
    if (offset > 0 && r_.packets > 0) {
      r_.message += " (at byte " + std::to_string(offset) + ", after " +
                    std::to_string(r_.packets) + " readable packets)";
    } else if (offset > 0) {
      r_.message += " (at byte " + std::to_string(offset) + ")";
    }
  }

  scan_result& result() noexcept { return r_; }

 private:
  scan_result& r_;
  std::string_view name_;
};

// ---- byte sources ----
//
// The parsers read through a source: get(off, n) returns a pointer to n bytes
// at file offset off (valid until the next get), or nullptr on an I/O error.
// Callers check off + n <= size() first, so a short file is never an I/O error.

class span_source {
 public:
  explicit span_source(bytes in) : in_(in) {}
  std::uint64_t size() const noexcept { return in_.size(); }
  const std::uint8_t* get(std::uint64_t off, std::size_t /*n*/) const noexcept {
    return in_.data() + off;
  }
  std::string error() const { return {}; }

 private:
  bytes in_;
};

// Large buffered reads of a regular file. Mapping the file was measured to be
// 2-3x slower on an 800 MB capture in page cache: the walk from one record
// header to the next is a chain of dependent loads, each a cache and TLB miss
// in a fresh page, and the kernel spends as long again setting up and tearing
// down the page tables. pread() into a buffer that stays in L2 costs one
// memcpy of the file, and then every header load hits cache.
class file_source {
 public:
  file_source(int fd, std::uint64_t size) : fd_(fd), size_(size) {}
  std::uint64_t size() const noexcept { return size_; }

  const std::uint8_t* get(std::uint64_t off, std::size_t n) {
    if (off >= buf_off_ && n <= buf_len_ && off - buf_off_ <= buf_len_ - n) {
      return buf_.data() + (off - buf_off_);
    }
    return refill(off, n);
  }

  std::string error() const { return error_; }

 private:
  static constexpr std::size_t chunk = 1024 * 1024;  // stays in L2 next to the parser
  static constexpr std::size_t small_chunk = 64 * 1024;

  const std::uint8_t* refill(std::uint64_t off, std::size_t n) {
    // A jump well past the buffer means large records: read less per header
    // instead of a megabyte of packet bodies we would skip anyway.
    const bool jumped = off >= buf_off_ + buf_len_ + chunk;
    std::size_t want = std::max(n, jumped ? small_chunk : chunk);
    want = static_cast<std::size_t>(std::min<std::uint64_t>(want, size_ - off));
    if (buf_.size() < want) {
      buf_.resize(std::max(want, chunk));
    }
    std::size_t got = 0;
    while (got < want) {
      const ssize_t k = ::pread(fd_, buf_.data() + got, want - got, static_cast<off_t>(off + got));
      if (k < 0 && errno == EINTR) {
        continue;
      }
      if (k < 0) {
        error_ = std::string("read error: ") + std::strerror(errno);
        return nullptr;
      }
      if (k == 0) {
        error_ = "the file shrank while it was being scanned";
        return nullptr;
      }
      got += static_cast<std::size_t>(k);
    }
    buf_off_ = off;
    buf_len_ = got;
    return buf_.data();
  }

  int fd_;
  std::uint64_t size_;
  std::vector<std::uint8_t> buf_;
  std::uint64_t buf_off_ = 0;
  std::size_t buf_len_ = 0;
  std::string error_;
};

// ---- classic pcap ----

// The time stamp libpcap 1.10 hands net_pcap, as net_pcap turns it into
// microseconds (tv_sec * 1e6 + tv_usec, in u64). Native-order files: libpcap
// copies the record's signed 32-bit fields, sign-extending them. Swapped
// files: SWAPLONG() yields an unsigned value, so no sign extension (found by
// differential testing against libpcap on x86-64, a little-endian host).
template <bool BigEndian>
std::uint64_t libpcap_usec(std::uint32_t sec, std::uint32_t frac, bool nanos) noexcept {
  std::int64_t s = sec;
  std::int64_t f = frac;
  if (!BigEndian) {
    s = static_cast<std::int32_t>(sec);
    f = static_cast<std::int32_t>(frac);
  }
  if (nanos) {
    f /= 1000;  // truncates toward zero, like C
  }
  return static_cast<std::uint64_t>(s) * 1'000'000u + static_cast<std::uint64_t>(f);
}

template <bool BigEndian, typename Source>
void scan_pcap(Source& src, std::uint32_t magic, collector& out) {
  using E = endian<BigEndian>;
  scan_result& r = out.result();
  const std::uint64_t size = src.size();

  if (size < pcap_file_header_len) {
    out.fail(scan_error::truncated, 0,
             "pcap file header cut short (" + std::to_string(size) + " of 24 bytes)");
    return;
  }
  const std::uint8_t* fh = src.get(0, pcap_file_header_len);
  if (fh == nullptr) {
    out.fail(scan_error::unreadable, 0, src.error());
    return;
  }
  const std::uint16_t major = E::u16(fh + 4);
  const std::uint16_t minor = E::u16(fh + 6);
  const std::uint32_t snaplen = E::u32(fh + 16);
  const std::uint32_t linktype = E::u32(fh + 20) & linktype_ext_mask;
  r.snaplen = snaplen;

  if (major < 2) {
    out.fail(scan_error::unsupported, 0,
             "archaic pcap file format " + std::to_string(major) + "." + std::to_string(minor));
    return;
  }
  if (!((major == 2 && minor <= 4) || (major == 543 && minor == 0))) {
    out.fail(scan_error::unsupported, 0,
             "unsupported pcap file version " + std::to_string(major) + "." +
                 std::to_string(minor));
    return;
  }
  out.add_linktype(linktype);

  // Files older than 2.3 (and DG/UX's 543.0) store len before caplen; 2.3
  // files may or may not (libpcap swaps when caplen > len).
  enum class swap_mode { never, always, maybe };
  swap_mode swap = swap_mode::never;
  if (major == 543 || minor < 3) {
    swap = swap_mode::always;
  } else if (minor == 3) {
    swap = swap_mode::maybe;
  }

  const std::uint32_t dlt = linktype_to_dlt(linktype);
  const std::uint32_t max_caplen = max_snaplen_for_dlt(dlt);
  std::uint32_t snapshot = adjust_snapshot(dlt, snaplen);
  const bool kuznetzov = magic == pcap_magic_kuznetzov;
  if (kuznetzov && dlt == dlt_en10mb) {
    // libpcap assumes a cooked capture with a faked Ethernet header.
    snapshot = snapshot <= int_max - 14 ? snapshot + 14 : int_max;
  }
  const bool nanos = magic == pcap_magic_ns;
  const std::size_t rec_hdr = kuznetzov ? 24 : 16;

  std::uint64_t off = pcap_file_header_len;
  while (off < size) {
    if (size - off < rec_hdr) {
      out.fail(scan_error::truncated, off,
               "record header cut short by the end of the file (" + std::to_string(size - off) +
                   " of " + std::to_string(rec_hdr) + " bytes)");
      return;
    }
    const std::uint8_t* h = src.get(off, rec_hdr);
    if (h == nullptr) {
      out.fail(scan_error::unreadable, off, src.error());
      return;
    }
    const std::uint32_t sec = E::u32(h);
    const std::uint32_t frac = E::u32(h + 4);
    std::uint32_t caplen = E::u32(h + 8);
    std::uint32_t len = E::u32(h + 12);
    if (swap == swap_mode::always || (swap == swap_mode::maybe && caplen > len)) {
      std::swap(caplen, len);
    }
    if (caplen > max_caplen) {
      out.fail(scan_error::not_a_capture, off,
               "record claims " + std::to_string(caplen) + " captured bytes, more than the " +
                   std::to_string(max_caplen) + " libpcap accepts: corrupt file");
      return;
    }
    if (size - off - rec_hdr < caplen) {
      out.fail(scan_error::truncated, off,
               "last record cut short by the end of the file (" +
                   std::to_string(size - off - rec_hdr) + " of " + std::to_string(caplen) +
                   " bytes)");
      return;
    }
    // Larger than the snap length: libpcap reads snapshot bytes and discards the rest.
    const std::uint32_t delivered = std::min(caplen, snapshot);
    const std::uint64_t sec64 = sec;
    const std::uint64_t ts_ns =
        sec64 * 1'000'000'000u + (nanos ? frac : std::uint64_t{frac} * 1000u);
    const std::uint64_t ts_us = libpcap_usec<BigEndian>(sec, frac, nanos);
    out.add(ts_ns, ts_us, delivered, len);
    off += rec_hdr + caplen;
  }
  r.stop_offset = size;
}

// ---- pcapng ----

struct ng_iface {
  std::uint64_t tsresol = 1'000'000;  // ticks per second
  bool binary = false;                // tsresol is a power of 2
  std::uint64_t tsoffset = 0;         // seconds added (libpcap's int64, two's complement)
};

// Time stamp of `ticks` on `ifc`, in nanoseconds, and in microseconds the way
// libpcap computes its timeval (same integer steps, same truncation).
struct ng_time {
  std::uint64_t ns;
  std::uint64_t us;
};

ng_time convert_ticks(std::uint64_t ticks, const ng_iface& ifc) noexcept {
  const std::uint64_t res = ifc.tsresol;
  const std::uint64_t sec = ticks / res + ifc.tsoffset;
  const std::uint64_t frac = ticks % res;
  std::uint64_t frac_us = frac;
  std::uint64_t frac_ns = 0;
  if (ifc.binary) {
    frac_us = frac * 1'000'000u / res;  // libpcap's own formula, overflow included
    unsigned shift = 0;
    while ((std::uint64_t{1} << shift) < res) {
      ++shift;
    }
    // frac < 2^shift; keep at most 34 fraction bits so the product fits 64 bits.
    frac_ns = shift <= 34 ? (frac * 1'000'000'000u) >> shift
                          : ((frac >> (shift - 34)) * 1'000'000'000u) >> 34;
  } else {
    if (res > 1'000'000) {
      frac_us = frac / (res / 1'000'000);
    } else if (res < 1'000'000) {
      frac_us = frac * (1'000'000 / res);
    }
    frac_ns = res >= 1'000'000'000 ? frac / (res / 1'000'000'000) : frac * (1'000'000'000 / res);
  }
  return {sec * 1'000'000'000u + frac_ns, sec * 1'000'000u + frac_us};
}

struct ng_block {
  std::uint64_t off = 0;     // of the block in the file
  std::uint32_t type = 0;
  std::uint32_t length = 0;  // total, header and trailer included
  std::uint64_t body_off() const noexcept { return off + 8; }
  std::uint32_t body_len() const noexcept { return length - 12; }
};

enum class ng_step { ok, eof, failed };

// Mirrors libpcap 1.10's sf-pcapng.c: pcap_ng_check_header() up to the first
// IDB, then pcap_ng_next_packet(). Any condition on which libpcap returns an
// error stops the scan at the same block.
template <bool BigEndian, typename Source>
class ng_scanner {
  using E = endian<BigEndian>;

 public:
  ng_scanner(Source& src, collector& out) : src_(src), out_(out) {}

  void run(std::uint64_t off) {
    for (;;) {
      ng_block b;
      const ng_step s = read_block(off, b);
      if (s == ng_step::failed) {
        return;
      }
      if (s == ng_step::eof) {
        if (!opened_) {
          out_.fail(scan_error::unsupported, 0,
                    "pcapng file has no interface description block; libpcap cannot open it");
          return;
        }
        out_.result().stop_offset = src_.size();
        return;
      }
      bool ok = true;
      switch (b.type) {
        case ng_idb: ok = on_idb(b); break;
        case ng_epb:
        case ng_spb:
        case ng_pb: ok = on_packet(b); break;
        case ng_shb: ok = on_shb(b); break;
        default: break;  // statistics, name resolution, custom, DSB, ...: skipped
      }
      if (!ok) {
        return;
      }
      off += b.length;
    }
  }

 private:
  // nullptr after recording an unreadable error.
  const std::uint8_t* get(std::uint64_t off, std::size_t n) {
    const std::uint8_t* p = src_.get(off, n);
    if (p == nullptr) {
      out_.fail(scan_error::unreadable, off, src_.error());
    }
    return p;
  }

  ng_step read_block(std::uint64_t off, ng_block& b) {
    const std::uint64_t size = src_.size();
    if (off >= size) {
      return ng_step::eof;
    }
    if (size - off < 8) {
      out_.fail(scan_error::truncated, off, "pcapng block header cut short by the end of the file");
      return ng_step::failed;
    }
    const std::uint8_t* p = get(off, 8);
    if (p == nullptr) {
      return ng_step::failed;
    }
    b.off = off;
    b.type = E::u32(p);
    b.length = E::u32(p + 4);
    if (b.length < ng_block_overhead) {
      out_.fail(scan_error::not_a_capture, off,
                "pcapng block length " + std::to_string(b.length) + " is smaller than 12");
      return ng_step::failed;
    }
    if (b.length % 4 != 0) {
      out_.fail(scan_error::not_a_capture, off,
                "pcapng block length " + std::to_string(b.length) + " is not a multiple of 4");
      return ng_step::failed;
    }
    if (b.length > max_block_) {
      out_.fail(scan_error::not_a_capture, off,
                "pcapng block length " + std::to_string(b.length) + " exceeds the " +
                    std::to_string(max_block_) + " libpcap accepts: corrupt file");
      return ng_step::failed;
    }
    if (size - off < b.length) {
      out_.fail(scan_error::truncated, off,
                "last pcapng block cut short by the end of the file (" +
                    std::to_string(size - off) + " of " + std::to_string(b.length) + " bytes)");
      return ng_step::failed;
    }
    const std::uint8_t* t = get(off + b.length - 4, 4);
    if (t == nullptr) {
      return ng_step::failed;
    }
    const std::uint32_t trailer = E::u32(t);
    if (trailer != b.length) {
      out_.fail(scan_error::not_a_capture, off,
                "pcapng block length " + std::to_string(b.length) +
                    " does not match its trailing length " + std::to_string(trailer));
      return ng_step::failed;
    }
    return ng_step::ok;
  }

  bool parse_idb_options(const std::uint8_t* opts, std::size_t size, std::uint64_t off,
                         ng_iface& ifc) {
    bool saw_tsresol = false;
    bool saw_tsoffset = false;
    std::size_t pos = 0;
    while (pos < size) {
      if (size - pos < 4) {
        out_.fail(scan_error::not_a_capture, off, "pcapng interface option header cut short");
        return false;
      }
      const std::uint16_t code = E::u16(opts + pos);
      const std::uint16_t len = E::u16(opts + pos + 2);
      const std::size_t padded = (std::size_t{len} + 3) / 4 * 4;
      pos += 4;
      if (!fits(size, pos, padded)) {
        out_.fail(scan_error::not_a_capture, off, "pcapng interface option value cut short");
        return false;
      }
      const std::uint8_t* v = opts + pos;
      pos += padded;
      if (code == 0) {  // opt_endofopt: libpcap stops reading options here
        if (len != 0) {
          out_.fail(scan_error::not_a_capture, off, "pcapng opt_endofopt with a non-zero length");
          return false;
        }
        return true;
      }
      if (code == 9) {  // if_tsresol
        if (len != 1 || saw_tsresol) {
          out_.fail(scan_error::not_a_capture, off,
                    "pcapng if_tsresol option malformed or repeated");
          return false;
        }
        saw_tsresol = true;
        const unsigned r = v[0];
        if ((r & 0x80) != 0) {
          if ((r & 0x7f) > 63) {
            out_.fail(scan_error::unsupported, off,
                      "pcapng if_tsresol 2^-" + std::to_string(r & 0x7f) + " is too fine");
            return false;
          }
          ifc.binary = true;
          ifc.tsresol = std::uint64_t{1} << (r & 0x7f);
        } else {
          if (r > 19) {
            out_.fail(scan_error::unsupported, off,
                      "pcapng if_tsresol 10^-" + std::to_string(r) + " is too fine");
            return false;
          }
          ifc.binary = false;
          ifc.tsresol = 1;
          for (unsigned i = 0; i < r; ++i) {
            ifc.tsresol *= 10;
          }
        }
      } else if (code == 14) {  // if_tsoffset
        if (len != 8 || saw_tsoffset) {
          out_.fail(scan_error::not_a_capture, off,
                    "pcapng if_tsoffset option malformed or repeated");
          return false;
        }
        saw_tsoffset = true;
        ifc.tsoffset = E::u64(v);
      }
    }
    return true;
  }

  bool on_idb(const ng_block& b) {
    if (b.body_len() < 8) {
      out_.fail(scan_error::not_a_capture, b.off, "pcapng interface description block too short");
      return false;
    }
    const std::uint8_t* p = get(b.body_off(), b.body_len());
    if (p == nullptr) {
      return false;
    }
    const std::uint32_t linktype = E::u16(p);
    const std::uint32_t snaplen = E::u32(p + 4);
    if (opened_) {
      // libpcap 1.10 compares the first interface's DLT_ with this raw LINKTYPE_.
      if (linktype != dlt_) {
        out_.fail(scan_error::unsupported_linktype, b.off,
                  "pcapng interface with link type " + std::to_string(linktype) +
                      " unlike the first interface's; libpcap stops here");
        return false;
      }
      if (adjust_snapshot(dlt_, snaplen) != snapshot_) {
        out_.fail(scan_error::unsupported, b.off,
                  "pcapng interface with snap length " + std::to_string(snaplen) +
                      " unlike the first interface's; libpcap stops here");
        return false;
      }
    }
    ng_iface ifc;
    if (!parse_idb_options(p + 8, b.body_len() - 8, b.off, ifc)) {
      return false;
    }
    if (!opened_) {
      opened_ = true;
      dlt_ = linktype_to_dlt(linktype);
      snapshot_ = adjust_snapshot(dlt_, snaplen);
      const std::uint64_t need = 8 + 20 + std::uint64_t{max_snaplen_for_dlt(dlt_)} + 131072 + 4;
      if (need > max_block_) {
        max_block_ = static_cast<std::uint32_t>(need);
      }
      out_.result().snaplen = snaplen;
    }
    out_.add_linktype(linktype);
    ifaces_.push_back(ifc);
    return true;
  }

  bool on_packet(const ng_block& b) {
    if (!opened_) {
      out_.fail(scan_error::not_a_capture, b.off,
                "pcapng packet block before any interface description block");
      return false;
    }
    const std::uint32_t fixed = b.type == ng_spb ? 4 : 20;
    if (b.body_len() < fixed) {
      out_.fail(scan_error::not_a_capture, b.off, "pcapng packet block too short");
      return false;
    }
    const std::uint8_t* p = get(b.body_off(), fixed);
    if (p == nullptr) {
      return false;
    }
    std::uint32_t ifid = 0;
    std::uint32_t caplen = 0;
    std::uint32_t len = 0;
    std::uint64_t ticks = 0;
    if (b.type == ng_spb) {  // no time stamp, first interface, caplen = min(len, snap length)
      len = E::u32(p);
      caplen = std::min(len, snapshot_);
    } else {
      ifid = b.type == ng_epb ? E::u32(p) : E::u16(p);
      ticks = (std::uint64_t{E::u32(p + 4)} << 32) | E::u32(p + 8);
      caplen = E::u32(p + 12);
      len = E::u32(p + 16);
    }
    if (ifid >= ifaces_.size()) {
      out_.fail(scan_error::not_a_capture, b.off,
                "pcapng packet for interface " + std::to_string(ifid) +
                    ", which has no interface description block");
      return false;
    }
    if (caplen > snapshot_) {
      out_.fail(scan_error::not_a_capture, b.off,
                "pcapng packet claims " + std::to_string(caplen) +
                    " captured bytes, more than the snap length " + std::to_string(snapshot_));
      return false;
    }
    if (b.body_len() - fixed < caplen) {
      out_.fail(scan_error::not_a_capture, b.off,
                "pcapng packet data (" + std::to_string(caplen) + " bytes) overruns its block");
      return false;
    }
    const ng_time t = convert_ticks(ticks, ifaces_[ifid]);
    out_.add(t.ns, t.us, caplen, len);
    return true;
  }

  bool on_shb(const ng_block& b) {
    if (!opened_) {
      return true;  // while looking for the first IDB libpcap skips every other block
    }
    if (b.body_len() < 16) {
      out_.fail(scan_error::not_a_capture, b.off, "pcapng section header block too short");
      return false;
    }
    const std::uint8_t* p = get(b.body_off(), 16);
    if (p == nullptr) {
      return false;
    }
    const std::uint32_t bom = E::u32(p);
    if (bom == swap32(ng_byte_order_magic)) {
      out_.fail(scan_error::unsupported, b.off,
                "pcapng section in the other byte order; libpcap stops here");
      return false;
    }
    if (bom != ng_byte_order_magic) {
      out_.fail(scan_error::not_a_capture, b.off,
                "pcapng section header with a bad byte-order magic");
      return false;
    }
    const std::uint16_t major = E::u16(p + 4);
    if (major != 1) {
      out_.fail(scan_error::unsupported, b.off,
                "pcapng section of major version " + std::to_string(major) +
                    "; libpcap stops here");
      return false;
    }
    ifaces_.clear();  // a section's packets refer to its own IDBs
    return true;
  }

  Source& src_;
  collector& out_;
  bool opened_ = false;  // the first IDB was seen: libpcap's open succeeded
  std::uint32_t dlt_ = 0;  // of the first IDB
  std::uint32_t snapshot_ = 0;
  std::uint32_t max_block_ = ng_initial_max_block;
  std::vector<ng_iface> ifaces_;  // of the current section
};

template <typename Source>
void scan_pcapng(Source& src, collector& out) {
  const std::uint64_t size = src.size();
  if (size < 12) {
    out.fail(scan_error::not_a_capture, 0, "not a pcap or pcapng file (too short)");
    return;
  }
  const std::uint8_t* p = src.get(0, 12);
  if (p == nullptr) {
    out.fail(scan_error::unreadable, 0, src.error());
    return;
  }
  const std::uint32_t bom_le = net::load_le32(p + 8);
  bool big = false;
  if (bom_le == swap32(ng_byte_order_magic)) {
    big = true;
  } else if (bom_le != ng_byte_order_magic) {
    out.fail(scan_error::not_a_capture, 0, "not a pcap or pcapng file");
    return;
  }
  out.result().format = "pcapng";
  const std::uint32_t shb_len = big ? net::load_be32(p + 4) : net::load_le32(p + 4);
  if (shb_len < ng_shb_min || shb_len > ng_shb_insane_max) {
    out.fail(scan_error::not_a_capture, 0,
             "pcapng section header block has an invalid length " + std::to_string(shb_len));
    return;
  }
  if (size < shb_len) {
    out.fail(scan_error::truncated, 0, "pcapng section header block cut short");
    return;
  }
  p = src.get(12, 4);
  if (p == nullptr) {
    out.fail(scan_error::unreadable, 0, src.error());
    return;
  }
  const std::uint16_t major = big ? net::load_be16(p) : net::load_le16(p);
  const std::uint16_t minor = big ? net::load_be16(p + 2) : net::load_le16(p + 2);
  if (!(major == 1 && (minor == 0 || minor == 2))) {
    out.fail(scan_error::unsupported, 0,
             "unsupported pcapng version " + std::to_string(major) + "." + std::to_string(minor));
    return;
  }
  // libpcap checks neither the first SHB's trailer nor its alignment.
  if (big) {
    ng_scanner<true, Source>(src, out).run(shb_len);
  } else {
    ng_scanner<false, Source>(src, out).run(shb_len);
  }
}

template <typename Source>
scan_result scan_source(Source& src, std::string_view name) {
  scan_result r;
  collector out(r, name);
  const std::uint64_t size = src.size();
  if (size == 0) {
    out.fail(scan_error::empty, 0, "empty file");
    return r;
  }
  if (const std::uint8_t* z = size >= 2 ? src.get(0, 2) : nullptr; z != nullptr && z[0] == 0x1f && z[1] == 0x8b) {
    // gzip magic: a common way to receive captures; libpcap 1.10 cannot read them.
    out.fail(scan_error::not_a_capture, 0, "");
    r.message = std::string(name) + " is gzip-compressed: decompress it first (gunzip " + std::string(name) + ")";
    return r;
  }
  if (size < 4) {
    out.fail(scan_error::not_a_capture, 0, "not a pcap or pcapng file (too short)");
    return r;
  }
  const std::uint8_t* p = src.get(0, 4);
  if (p == nullptr) {
    out.fail(scan_error::unreadable, 0, src.error());
    return r;
  }
  const std::uint32_t m_le = net::load_le32(p);
  const std::uint32_t m_be = net::load_be32(p);
  const auto pcap_format = [](std::uint32_t m) -> const char* {
    switch (m) {
      case pcap_magic_us: return "pcap";
      case pcap_magic_ns: return "pcap-ns";
      case pcap_magic_kuznetzov: return "pcap-kuznetzov";
      default: return nullptr;
    }
  };
  if (const char* f = pcap_format(m_le); f != nullptr) {
    r.format = f;
    scan_pcap<false>(src, m_le, out);
  } else if (const char* g = pcap_format(m_be); g != nullptr) {
    r.format = g;
    scan_pcap<true>(src, m_be, out);
  } else if (m_le == ng_shb) {  // the SHB type reads the same in both byte orders
    scan_pcapng(src, out);
  } else {
    out.fail(scan_error::not_a_capture, 0, "not a pcap or pcapng file");
  }
  return r;
}

// Open file descriptor, closed on scope exit.
class fd_guard {
 public:
  explicit fd_guard(int fd) noexcept : fd_(fd) {}
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  ~fd_guard() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  int get() const noexcept { return fd_; }

 private:
  int fd_;
};

scan_error from_errno(int err) noexcept {
  switch (err) {
    case ENOENT:
    case ENOTDIR: return scan_error::not_found;
    case EACCES:
    case EPERM: return scan_error::permission_denied;
    default: return scan_error::unreadable;
  }
}

}  // namespace

scan_result scan_bytes(bytes file, std::string_view name) {
  span_source src(file);
  return scan_source(src, name);
}

scan_result scan(const std::string& path) {
  scan_result r;
  const auto fail = [&](scan_error e, const std::string& why) {
    r.error = e;
    r.message = path + ": " + why;
    return r;
  };
  // O_NONBLOCK: opening a FIFO must not hang; non-regular files are refused below.
  const fd_guard fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) {
    const int err = errno;
    return fail(from_errno(err), std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    const int err = errno;
    return fail(from_errno(err), std::strerror(err));
  }
  if (S_ISDIR(st.st_mode)) {
    return fail(scan_error::unreadable, "is a directory, not a capture file");
  }
  if (!S_ISREG(st.st_mode)) {
    return fail(scan_error::unreadable, "not a regular file");
  }
  // Read-ahead for a cold file; costs nothing when it is in page cache.
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  file_source src(fd.get(), static_cast<std::uint64_t>(st.st_size));
  return scan_source(src, path);
}

std::string linktype_name(std::uint32_t linktype) {
  const int dlt = static_cast<int>(linktype_to_dlt(linktype));
  const char* name = pcap_datalink_val_to_name(dlt);
  const char* what = pcap_datalink_val_to_description(dlt);
  std::string out = "link type " + std::to_string(linktype);
  if (name != nullptr) {
    out += std::string(" (") + name + (what != nullptr ? std::string(", ") + what : std::string()) + ")";
  }
  return out;
}

}  // namespace tapsense::pcapfile
