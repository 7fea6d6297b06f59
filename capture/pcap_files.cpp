// How DPDK's net_pcap opens a capture file.
//
// DPDK 22.11's net_pcap (drivers/net/pcap/pcap_ethdev.c, open_single_rx_pcap)
// opens each rx_pcap file with pcap_open_offline() and reads it with
// pcap_next(): two fread() calls a packet on libpcap's stdio stream. That
// stream has glibc's default buffer (one 4 KiB read() at a time) and, in a
// process with threads (EAL starts some), takes its lock on every fread().
// Profiled on the 30-copy benchmark file (7.6 million packets, perf record
// -a): fread and its lock were 0.26 s of capture's CPU and the kernel's
// copy-out another 0.14 s, more than capture's own work on those packets.
// The PMD has no devarg for either, so the capture executable defines
// pcap_open_offline() itself and exports it (capture/CMakeLists.txt): the
// PMD, a shared object, binds to this definition. It opens the stream as
// libpcap does (microsecond time stamps, what net_pcap's RX time stamps and
// the scan's length fixes assume), with a 64 KiB buffer (1 MiB was slower:
// the copies no longer stayed in cache) and no stream lock.
// No lock is needed: one lcore reads a port's queue; the main thread closes
// it only after that lcore has stopped. Standard input, and a name fopen()
// cannot open, go to libpcap's own pcap_open_offline, for its messages.
#include <dlfcn.h>
#include <pcap/pcap.h>
#include <stdio_ext.h>

#include <cstdio>
#include <cstring>

extern "C" pcap_t* pcap_open_offline(const char* fname, char* errbuf) noexcept {
  FILE* f = fname != nullptr && std::strcmp(fname, "-") != 0 ? std::fopen(fname, "rbe") : nullptr;
  if (f == nullptr) {
    using open_fn = pcap_t* (*)(const char*, char*);
    static const auto libpcaps = reinterpret_cast<open_fn>(dlsym(RTLD_NEXT, "pcap_open_offline"));
    if (libpcaps == nullptr) {
      std::snprintf(errbuf, PCAP_ERRBUF_SIZE, "%s: cannot be opened", fname != nullptr ? fname : "(null)");
      return nullptr;
    }
    return libpcaps(fname, errbuf);
  }
  // Both before the stream's first read.
  std::setvbuf(f, nullptr, _IOFBF, std::size_t{64} << 10);
  __fsetlocking(f, FSETLOCKING_BYCALLER);
  pcap_t* p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_MICRO, errbuf);
  if (p == nullptr) std::fclose(f);  // libpcap leaves the stream to the caller when it fails
  return p;
}
