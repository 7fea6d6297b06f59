#pragma once
// The records of a classic pcap file, read the way capture's net_pcap port
// needs them: what libpcap's pcap_next_ex() returns, without its per-record
// cost.
//
// libpcap reads a record with two fread() calls through a stdio buffer: a
// kernel copy into that buffer, two copies out of it into libpcap's own
// buffer, and the stream's bookkeeping around each. Measured on the 30-copy
// benchmark file (7.6 million records, 939 MB, page cache), a pcap_next()
// loop copying each record out took 0.44 s; reading the file in 256 KiB
// pread() chunks and pointing into them took 0.22 s. Capture reads every
// record of every file this way (capture/pcap_files.cpp), so the half it
// saves is capture's alone. libpcap stays the judge of the file: it opens it
// (pcap_t), the supervisor's scan validates every record with it, and this
// reader hands any record it does not take to libpcap at that record's
// offset.
//
// What it takes: files whose header libpcap accepted with the standard
// magics (microsecond or nanosecond, either byte order) and version 2.4,
// and, among their records, those whose captured length is within the
// pcap_t's snapshot length. It gives them exactly as pcap_next_ex() would:
// the time fields signed 32-bit in a file of this machine's byte order and
// unsigned in the other (libpcap 1.10 swaps them unsigned), the fraction
// scaled to the pcap_t's precision (truncated, as libpcap does), the lengths
// as written. The test compares every record with libpcap's, on files of
// each kind it writes and on every shared capture.
// Any other record (cut to the snapshot length by libpcap, cut off by the
// end of the file, impossible lengths, a read error) is read by libpcap's
// pcap_next_ex() on the pcap_t itself, its stream positioned at the record:
// what libpcap returns (or the error it sets) is the answer.
#include <pcap/pcap.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace tapsense::pcapfile {

class record_reader {
 public:
  static constexpr std::size_t default_chunk = std::size_t{256} << 10;
  // libpcap's pcap_next_ex(): a program that defines its own (capture)
  // passes libpcap's, found with dlsym(RTLD_NEXT).
  using next_ex_fn = int (*)(pcap_t*, pcap_pkthdr**, const u_char**);

  // A reader of p's file, from its first record, or nullptr when this reader
  // does not take it (pcapng, another classic variant, not a regular file):
  // libpcap reads p then. p must be positioned at its first record (just
  // opened), and stays open while the reader is used; the reader reads the
  // descriptor of pcap_file(p) with pread() and moves p's stream only for
  // the records it hands to libpcap. chunk: bytes read at a time (tests use
  // small ones). libpcap_next: nullptr for ::pcap_next_ex.
  static std::unique_ptr<record_reader> open(pcap_t* p, std::size_t chunk = default_chunk,
                                             next_ex_fn libpcap_next = nullptr);

  // The next record, as pcap_next_ex(p, h, data): 1 and the record (header
  // and data valid until the next call), PCAP_ERROR_BREAK at the end of the
  // file, PCAP_ERROR on an error (pcap_geterr(p) says which).
  int next(pcap_pkthdr** h, const u_char** data) noexcept;

  // The file offset of the next record: where next() reads from.
  std::uint64_t offset() const noexcept;

  // Records handed to libpcap (for tests and the curious).
  std::uint64_t handed_to_libpcap() const noexcept { return handed_; }

 private:
  record_reader(pcap_t* p, int fd, std::size_t chunk, bool swapped, bool file_ns, bool want_ns,
                next_ex_fn libpcap_next);
  bool refill() noexcept;
  int by_libpcap(pcap_pkthdr** h, const u_char** data) noexcept;

  pcap_t* p_;
  next_ex_fn libpcap_next_;
  pcap_pkthdr hdr_{};
  int fd_;
  bool swapped_;
  bool file_ns_;
  bool want_ns_;
  std::uint32_t snapshot_;
  std::vector<u_char> buf_;
  std::size_t at_ = 0;     // the next record's first byte in buf_
  std::size_t have_ = 0;   // bytes in buf_
  std::uint64_t end_ = 0;  // the file offset of buf_[have_]
  bool libpcap_only_ = false;  // its stream's offset unknown: libpcap reads on
  std::uint64_t handed_ = 0;
};

}  // namespace tapsense::pcapfile
