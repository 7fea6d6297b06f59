// record_reader (common/pcapfile/records.h) against libpcap, on arbitrary
// file contents: the reader and libpcap's pcap_next_ex() on two pcap_t's of
// the same bytes give the same return codes, headers and data to the end,
// and the same error text where libpcap stops with one. A difference traps.
// The chunk size varies with the input so records straddle chunk ends.
#include <pcap/pcap.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "common/pcapfile/records.h"

namespace {

// The bytes as a regular file (the reader takes only those), opened for reading.
FILE* as_file(const std::uint8_t* data, std::size_t size) {
  const int fd = ::memfd_create("fuzz-records", MFD_CLOEXEC);
  if (fd < 0) return nullptr;
  for (std::size_t off = 0; off < size;) {
    const ssize_t k = ::write(fd, data + off, size - off);
    if (k <= 0) {
      ::close(fd);
      return nullptr;
    }
    off += static_cast<std::size_t>(k);
  }
  ::lseek(fd, 0, SEEK_SET);
  FILE* f = ::fdopen(fd, "rb");
  if (f == nullptr) ::close(fd);
  return f;
}

pcap_t* open(const std::uint8_t* data, std::size_t size) {
  FILE* f = as_file(data, size);
  if (f == nullptr) return nullptr;
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_MICRO, err);
  if (p == nullptr) std::fclose(f);
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pcap_t* lib = open(data, size);
  pcap_t* mine = open(data, size);
  if (lib != nullptr && mine != nullptr) {
    const std::size_t chunk = 64 + (size > 24 ? data[size - 1] * 4u : 0u);
    if (auto reader = tapsense::pcapfile::record_reader::open(mine, chunk)) {
      for (;;) {
        pcap_pkthdr* h1 = nullptr;
        pcap_pkthdr* h2 = nullptr;
        const u_char* d1 = nullptr;
        const u_char* d2 = nullptr;
        const int rc1 = pcap_next_ex(lib, &h1, &d1);
        const int rc2 = reader->next(&h2, &d2);
        if (rc1 != rc2) __builtin_trap();
        if (rc1 != 1) {
          if (rc1 == PCAP_ERROR && std::strcmp(pcap_geterr(lib), pcap_geterr(mine)) != 0) __builtin_trap();
          break;
        }
        if (h1->caplen != h2->caplen || h1->len != h2->len || h1->ts.tv_sec != h2->ts.tv_sec ||
            h1->ts.tv_usec != h2->ts.tv_usec || std::memcmp(d1, d2, h1->caplen) != 0) {
          __builtin_trap();
        }
      }
    }
  }
  if (lib != nullptr) pcap_close(lib);
  if (mine != nullptr) pcap_close(mine);
  return 0;
}
