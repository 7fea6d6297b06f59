#include "common/pcapfile/scan.h"

#include <pcap/pcap.h>

#include <fcntl.h>
#include <stdio_ext.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "common/net/bytes.h"
#include "common/net/decode.h"
#include "common/pcapfile/format.h"
#include "common/pcapfile/records.h"

// The scan is libpcap itself: the same library, version and calls net_pcap
// makes (pcap_open_offline + pcap_next_ex), so whatever libpcap delivers or
// refuses, scan() counts or names. The records of a classic 2.4 file come
// through record_reader, as capture's net_pcap port reads them: exactly what
// libpcap gives, libpcap reading any record it does not take. What libpcap
// does not say is read from the file's first bytes: the format (magic), the
// snap length as written, and the gzip hint.

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

constexpr std::uint32_t pcap_magic_kuznetzov = 0xa1b2cd34;
constexpr std::uint32_t ng_shb = 0x0A0D0D0A;
constexpr std::uint32_t ng_idb = 1;
constexpr std::uint32_t ng_byte_order_magic = 0x1A2B3C4D;

// DLT_ -> LINKTYPE_ where Linux's libpcap maps them differently
// (pcap-common.c, linktype_to_dlt); everything else is the identity.
constexpr std::uint32_t dlt_to_linktype(int dlt) noexcept {
  switch (dlt) {
    case 11: return 100;  // ATM_RFC1483
    case 12: return 101;  // RAW
    case 15: return 102;  // SLIP_BSDOS
    case 16: return 103;  // PPP_BSDOS
    case 19: return 106;  // ATM_CLIP
    default: return static_cast<std::uint32_t>(dlt);
  }
}

constexpr std::uint32_t linktype_to_dlt(std::uint32_t lt) noexcept {
  switch (lt) {
    case 100: return 11;
    case 101: return 12;
    case 102: return 15;
    case 103: return 16;
    case 106: return 19;
    default: return lt;
  }
}

// Reads n bytes at a file offset; false when they are not all there.
using read_at = std::function<bool(std::uint64_t off, std::uint8_t* out, std::size_t n)>;

// libpcap's error text -> our kind. libpcap 1.10.3's messages (sf-pcap.c,
// sf-pcapng.c); anything not named here is a corrupt file.
scan_error classify(const std::string& msg) {
  const auto has = [&](const char* s) { return msg.find(s) != std::string::npos; };
  if (msg.rfind("truncated", 0) == 0) {
    return scan_error::truncated;
  }
  if (has("different from the type of the first interface")) {
    return scan_error::unsupported_linktype;
  }
  if (has("unsupported") || has("archaic") || has("major version") || has("different byte orders") ||
      has("different from the snapshot length") || has("no Interface Description Blocks") ||
      has("is too high") || has("interfaces in the file") || has("time stamp resolution")) {
    return scan_error::unsupported;
  }
  if (msg.rfind("error reading dump file", 0) == 0) {
    return scan_error::unreadable;
  }
  return scan_error::not_a_capture;
}

void fail(scan_result& r, std::string_view name, scan_error e, std::uint64_t offset,
          const std::string& what) {
  r.error = e;
  r.stop_offset = offset;
  r.message = std::string(name) + ": " + what;
  if (offset > 0 && r.packets > 0) {
    r.message += " (at byte " + std::to_string(offset) + ", after " + std::to_string(r.packets) +
                 " readable packets)";
  } else if (offset > 0) {
    r.message += " (at byte " + std::to_string(offset) + ")";
  }
}

// The snap length as the file writes it (libpcap reports 0 as its maximum).
// Classic pcap: the file header. pcapng: the first IDB, which libpcap's open
// has just read: it ends at `pos`, its trailing length says where it starts.
void read_snaplen(scan_result& r, bool big, bool ng, std::uint64_t pos, const read_at& read) {
  const auto u32 = [big](const std::uint8_t* p) { return big ? net::load_be32(p) : net::load_le32(p); };
  std::array<std::uint8_t, 16> b{};
  if (!ng) {
    if (read(16, b.data(), 4)) {
      r.snaplen = u32(b.data());
    }
    return;
  }
  if (pos < 20 || !read(pos - 4, b.data(), 4)) {
    return;
  }
  const std::uint32_t len = u32(b.data());
  if (len < 20 || len > pos || !read(pos - len, b.data(), 16)) {
    return;
  }
  if (u32(b.data()) == ng_idb && u32(b.data() + 4) == len) {
    r.snaplen = u32(b.data() + 12);
  }
}

// The libpcap pass over an open FILE (positioned at 0). Takes ownership of f.
void scan_stream(FILE* f, scan_result& r, std::string_view name, bool big, const read_at& read,
                 const scan_progress& progress, bool list_fixes) {
  std::array<char, PCAP_ERRBUF_SIZE> err{};
  // The loop asks ftell() where each record starts. glibc answers from its
  // cached offset once the stream has been positioned by a seek, and with an
  // lseek() system call per record before that (1.5 million of them, most of
  // the scan's time, on a 1.5-million-packet file). A large buffer makes the
  // reads fewer too; both must come before the stream's first read.
  std::setvbuf(f, nullptr, _IOFBF, 1u << 20);
  std::fseek(f, 0, SEEK_SET);
  // libpcap makes two fread() calls a record, each taking the stream's
  // lock: one thread alone reads this stream, so none is needed (0.75 ->
  // 0.59 s for the 7.6-million-packet benchmark file).
  __fsetlocking(f, FSETLOCKING_BYCALLER);
  pcap_t* p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, err.data());
  if (p == nullptr) {
    std::fclose(f);  // libpcap leaves it to the caller when the open fails
    const std::string msg = err.data();
    if (msg == "unknown file format") {
      fail(r, name, scan_error::not_a_capture, 0, "not a pcap or pcapng file");
    } else {
      fail(r, name, classify(msg), 0, msg);
    }
    return;
  }
  const std::uint32_t linktype = dlt_to_linktype(pcap_datalink(p));
  r.linktypes.push_back(linktype);
  const bool ng = r.format == "pcapng";
  const bool classic = !ng;
  FILE* in = pcap_file(p);
  read_snaplen(r, big, ng, static_cast<std::uint64_t>(std::ftell(in)), read);

  pcap_pkthdr* h = nullptr;
  const u_char* data = nullptr;
  // A classic 2.4 file's records come from record_reader (records.h), as
  // capture's net_pcap port reads them: the ones libpcap reads without
  // question straight from 256 KiB chunks, any other by libpcap at its
  // offset (0.48 -> 0.2 s for the 7.6-million-packet benchmark file).
  // Other files (pcapng, older or patched classic formats) libpcap reads.
  auto reader = record_reader::open(p);
  // Where the next record or block starts (for the message if it is bad).
  auto where = [&] { return reader ? static_cast<long>(reader->offset()) : std::ftell(in); };
  for (;;) {
    const long at = where();
    const int rc = reader ? reader->next(&h, &data) : pcap_next_ex(p, &h, &data);
    if (rc == 1) {
      // Classic pcap seconds are 32-bit in the file: read unsigned, as tshark does
      // (libpcap sign-extends them in native-order files).
      const std::uint64_t sec = classic ? static_cast<std::uint32_t>(h->ts.tv_sec)
                                        : static_cast<std::uint64_t>(h->ts.tv_sec);
      const std::uint64_t ns = static_cast<std::uint64_t>(h->ts.tv_usec);  // nanoseconds here
      const std::uint64_t ts_ns = sec * 1'000'000'000u + ns;
      if (r.packets == 0) {
        r.first_ts_ns = ts_ns;
      }
      r.last_ts_ns = ts_ns;
      if (list_fixes && h->caplen != h->len) {
        // What net_pcap computes from a microsecond open: tv_sec * 1e6 + tv_usec,
        // the fraction truncated.
        const std::uint64_t ts_us = static_cast<std::uint64_t>(h->ts.tv_sec) * 1'000'000u +
                                    static_cast<std::uint64_t>(h->ts.tv_usec / 1000);
        r.fixes.push_back(length_fix{r.packets, h->caplen, h->len, ts_us});
      }
      r.captured_bytes += h->caplen;
      r.wire_bytes += h->len;
      ++r.packets;
      if (progress && r.packets % progress_every == 0 && !progress(r)) {
        r.stopped = true;
        r.stop_offset = static_cast<std::uint64_t>(where());
        break;
      }
      continue;
    }
    if (rc == PCAP_ERROR_BREAK) {  // end of file
      r.stop_offset = static_cast<std::uint64_t>(where());
      break;
    }
    const std::string msg = pcap_geterr(p);
    fail(r, name, classify(msg), at < 0 ? 0 : static_cast<std::uint64_t>(at), msg);
    break;
  }
  reader.reset();
  pcap_close(p);  // closes f
}

// Checks what libpcap cannot tell apart, then hands the stream to libpcap.
void scan_start(FILE* f, std::uint64_t size, scan_result& r, std::string_view name,
                const read_at& read, const scan_progress& progress, bool list_fixes) {
  std::array<std::uint8_t, 12> m{};
  if (size == 0) {
    std::fclose(f);
    fail(r, name, scan_error::empty, 0, "empty file");
    return;
  }
  if (size >= 2 && read(0, m.data(), 2) && m[0] == 0x1f && m[1] == 0x8b) {
    // gzip magic: a common way to receive captures; libpcap 1.10 cannot read them.
    std::fclose(f);
    r.error = scan_error::not_a_capture;
    r.message = std::string(name) + " is gzip-compressed: decompress it first (gunzip " +
                std::string(name) + ")";
    return;
  }
  if (size < 4 || !read(0, m.data(), 4)) {
    // libpcap would call a 2-byte file a truncated capture.
    std::fclose(f);
    fail(r, name, scan_error::not_a_capture, 0, "not a pcap or pcapng file (too short)");
    return;
  }
  const std::uint32_t le = net::load_le32(m.data());
  const std::uint32_t be = net::load_be32(m.data());
  bool big = false;
  if (le == pcap_magic_us || be == pcap_magic_us) {
    r.format = "pcap";
    big = be == pcap_magic_us;
  } else if (le == pcap_magic_ns || be == pcap_magic_ns) {
    r.format = "pcap-ns";
    big = be == pcap_magic_ns;
  } else if (le == pcap_magic_kuznetzov || be == pcap_magic_kuznetzov) {
    r.format = "pcap-kuznetzov";
    big = be == pcap_magic_kuznetzov;
  } else if (le == ng_shb && size >= 12 && read(8, m.data() + 8, 4)) {
    const std::uint32_t bom = net::load_le32(m.data() + 8);
    if (bom == ng_byte_order_magic || net::load_be32(m.data() + 8) == ng_byte_order_magic) {
      r.format = "pcapng";
      big = bom != ng_byte_order_magic;
    }
  }
  scan_stream(f, r, name, big, read, progress, list_fixes);
}

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

scan_result scan_bytes(std::span<const std::uint8_t> file, std::string_view name, bool list_fixes) {
  scan_result r;
  if (file.empty()) {
    fail(r, name, scan_error::empty, 0, "empty file");
    return r;
  }
  // fmemopen only reads through the pointer ("r" mode).
  FILE* f = ::fmemopen(const_cast<std::uint8_t*>(file.data()), file.size(), "r");
  if (f == nullptr) {
    fail(r, name, scan_error::unreadable, 0, std::strerror(errno));
    return r;
  }
  const read_at read = [file](std::uint64_t off, std::uint8_t* out, std::size_t n) {
    if (off > file.size() || file.size() - off < n) {
      return false;
    }
    std::memcpy(out, file.data() + off, n);
    return true;
  };
  scan_start(f, file.size(), r, name, read, {}, list_fixes);
  return r;
}

scan_result scan(const std::string& path, const scan_progress& progress, bool list_fixes) {
  scan_result r;
  r.path = path;
  const auto fail_open = [&](scan_error e, const std::string& why) {
    r.error = e;
    r.message = path + ": " + why;
    return r;
  };
  // O_NONBLOCK: opening a FIFO must not hang; non-regular files are refused below.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    return fail_open(from_errno(err), std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return fail_open(from_errno(err), std::strerror(err));
  }
  if (S_ISDIR(st.st_mode) || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail_open(scan_error::unreadable,
                     S_ISDIR(st.st_mode) ? "is a directory, not a capture file" : "not a regular file");
  }
  r.identity = file_identity{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
                             static_cast<std::uint64_t>(st.st_size),
                             static_cast<std::uint64_t>(st.st_mtim.tv_sec) * 1'000'000'000u +
                                 static_cast<std::uint64_t>(st.st_mtim.tv_nsec)};
  // Regular file: reads block normally again.
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  FILE* f = ::fdopen(fd, "r");
  if (f == nullptr) {
    const int err = errno;
    ::close(fd);
    return fail_open(scan_error::unreadable, std::strerror(err));
  }
  // Fewer, larger reads than stdio's default 4 KiB.
  std::setvbuf(f, nullptr, _IOFBF, std::size_t{1} << 20);
  const read_at read = [fd](std::uint64_t off, std::uint8_t* out, std::size_t n) {
    return pread_all(fd, out, n, off);
  };
  scan_start(f, static_cast<std::uint64_t>(st.st_size), r, path, read, progress, list_fixes);
  return r;
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

std::string refusal(const scan_result& r) {
  if (r.error != scan_error::none && r.error != scan_error::truncated) return r.message;
  for (const auto lt : r.linktypes) {
    if (!net::link_type_supported(lt)) {
      return r.path + ": " + linktype_name(lt) + " is not supported (Ethernet, Linux cooked SLL/SLL2 and raw IP are)";
    }
  }
  return {};
}

}  // namespace tapsense::pcapfile
