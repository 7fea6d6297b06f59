// How DPDK's net_pcap opens a capture file.
//
// DPDK 22.11's net_pcap (drivers/net/pcap/pcap_ethdev.c, open_single_rx_pcap)
// opens each rx_pcap file with pcap_open_offline() and reads it with
// pcap_next_ex(): two fread() calls a packet on libpcap's stdio stream. That
// stream has glibc's default buffer (one 4 KiB read() at a time) and, in a
// process with threads (EAL starts some), takes its lock on every fread().
// Profiled on the 30-copy benchmark file (7.6 million packets, perf record
// -a): fread and its lock were 0.26 s of capture's CPU and the kernel's
// copy-out another 0.14 s, more than capture's own work on those packets.
// The PMD has no devarg for either, so the capture executable defines
// pcap_open_offline() itself: the PMD, linked into it statically
// (capture/CMakeLists.txt), calls this definition. It opens the stream as
// libpcap does (microsecond time stamps, what net_pcap's RX time stamps
// assume), with a 64 KiB buffer (1 MiB was slower: the copies no longer
// stayed in cache) and no stream lock.
// No lock is needed: one lcore reads a port's queue; the main thread closes
// it only after that lcore has stopped. Standard input, and a name fopen()
// cannot open, go to libpcap's own pcap_open_offline, for its messages.
//
// The records themselves: net_pcap asks pcap_next_ex() for each, and copies
// it into an mbuf. The executable defines pcap_next_ex() too: for a file it opened
// that common/pcapfile's record_reader takes (classic pcap, version 2.4,
// either byte order and precision), the records come from that reader,
// exactly as libpcap gives them, at half libpcap's cost (records.h has the
// measurements); any other pcap_t goes to libpcap's pcap_next_ex(). pcap_close()
// forgets the reader. net_pcap opens and closes its files on the main
// thread while no lcore reads them, and the lcore that reads a file is the
// only user of its reader.
//
// Whichever reads a record, pcap_next_ex() also notes its captured and wire
// lengths for the thread's sink, if one is set (pcap_files.h): net_pcap
// gives an mbuf the captured length only, and this is where a record cut to
// the snapshot length still has its wire length. Before, the supervisor's
// scan listed every such record and capture matched them by ordinal: on the
// 30-copy benchmark, 3.2 million of them cost capture 0.07 s and 74 MiB and
// the supervisor 0.08 s (alternated runs, 4 each).
#include <dlfcn.h>
#include <pcap/pcap.h>
#include <stdio_ext.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>

#include "capture/pcap_files.h"
#include "common/pcapfile/records.h"

namespace {

thread_local tapsense::capture::record_lengths* sink = nullptr;

int noted(int rc, pcap_pkthdr* const* h) noexcept {
  if (rc == 1 && sink != nullptr && sink->n < sink->capacity) {
    sink->caplen[sink->n] = (*h)->caplen;
    sink->len[sink->n] = (*h)->len;
    ++sink->n;
  }
  return rc;
}

// The readers of the files open now: a handful (one per rx_pcap file), so
// pcap_next_ex() finds its own by a walk over the first `used` entries.
struct reader_entry {
  std::atomic<pcap_t*> p{nullptr};
  tapsense::pcapfile::record_reader* reader = nullptr;
};
std::array<reader_entry, 64> readers;
std::atomic<std::size_t> used{0};
std::mutex opening;  // open and close, on the main thread

// libpcap's own definitions of the calls this file defines.
template <typename Fn>
Fn libpcaps(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}
const auto libpcap_open = libpcaps<pcap_t* (*)(const char*, char*)>("pcap_open_offline");
const auto libpcap_next_ex = libpcaps<tapsense::pcapfile::record_reader::next_ex_fn>("pcap_next_ex");
const auto libpcap_close = libpcaps<void (*)(pcap_t*)>("pcap_close");

void remember(pcap_t* p) {
  if (libpcap_next_ex == nullptr) return;
  auto r = tapsense::pcapfile::record_reader::open(p, tapsense::pcapfile::record_reader::default_chunk,
                                                   libpcap_next_ex);
  if (!r) return;
  const std::lock_guard lock(opening);
  for (std::size_t i = 0; i < readers.size(); ++i) {
    auto& e = readers[i];
    if (e.p.load(std::memory_order_relaxed) != nullptr) continue;
    e.reader = r.release();
    e.p.store(p, std::memory_order_release);
    if (i >= used.load(std::memory_order_relaxed)) used.store(i + 1, std::memory_order_release);
    return;
  }
  // More files open than entries: this one is read by libpcap.
}

}  // namespace

extern "C" pcap_t* pcap_open_offline(const char* fname, char* errbuf) noexcept {
  FILE* f = fname != nullptr && std::strcmp(fname, "-") != 0 ? std::fopen(fname, "rbe") : nullptr;
  if (f == nullptr) {
    if (libpcap_open == nullptr) {
      std::snprintf(errbuf, PCAP_ERRBUF_SIZE, "%s: cannot be opened", fname != nullptr ? fname : "(null)");
      return nullptr;
    }
    return libpcap_open(fname, errbuf);
  }
  // Both before the stream's first read.
  std::setvbuf(f, nullptr, _IOFBF, std::size_t{64} << 10);
  __fsetlocking(f, FSETLOCKING_BYCALLER);
  pcap_t* p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_MICRO, errbuf);
  if (p == nullptr) {
    std::fclose(f);  // libpcap leaves the stream to the caller when it fails
    return nullptr;
  }
  remember(p);
  return p;
}

extern "C" int pcap_next_ex(pcap_t* p, pcap_pkthdr** h, const u_char** data) noexcept {
  const std::size_t n = used.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < n; ++i) {
    if (readers[i].p.load(std::memory_order_acquire) == p) return noted(readers[i].reader->next(h, data), h);
  }
  if (libpcap_next_ex == nullptr) {
    std::snprintf(pcap_geterr(p), PCAP_ERRBUF_SIZE, "libpcap's pcap_next_ex not found");
    return PCAP_ERROR;
  }
  return noted(libpcap_next_ex(p, h, data), h);
}

void tapsense::capture::collect_record_lengths(record_lengths* s) noexcept {
  if (s != nullptr) s->n = 0;
  sink = s;
}

extern "C" void pcap_close(pcap_t* p) noexcept {
  {
    const std::lock_guard lock(opening);
    const std::size_t n = used.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < n; ++i) {
      auto& e = readers[i];
      if (e.p.load(std::memory_order_relaxed) != p) continue;
      e.p.store(nullptr, std::memory_order_release);
      delete e.reader;
      e.reader = nullptr;
      break;
    }
  }
  if (libpcap_close != nullptr) libpcap_close(p);
}
