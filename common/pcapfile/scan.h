#pragma once
// One fast pass over a capture file before DPDK's net_pcap reads it.
//
// DPDK 22.11's net_pcap PMD opens files with libpcap (pcap_open_offline, so
// microsecond time stamps) and reads them with pcap_next(). It gives no
// end-of-file signal and sets pkt_len to the *captured* length. scan() tells
// capture, before the port starts:
//   - whether the file can be read at all, with a one-line reason if not
//     (a gzip-compressed file gets a hint to decompress it);
//   - how many packets libpcap will deliver (capture stops after that many).
// Asked to (`list_fixes`), it also lists every record that was cut short,
// with its original wire length (`fixes`). Nothing in the sensor asks:
// capture reads each record's wire length where net_pcap reads the record
// (capture/pcap_files.h).
//
// Contract: `packets` is exactly the number of times pcap_next() returns a
// packet for this file with libpcap 1.10. Where libpcap stops with an error
// (a record cut off by the end of the file, a corrupt length, a pcapng
// feature it refuses), scan() stops at the same record, counts the packets
// before it, and names the error. So whatever the error, the counts describe
// exactly what net_pcap will deliver; with packets == 0 there is nothing to
// run (for not_found, permission_denied, unreadable, empty and not_a_capture
// at offset 0, pcap_open_offline itself fails). A truncated file, the common
// case of a capture cut off while it was written, can be run: capture stops
// after `packets` and should say the last record was lost.
//
// The scan is libpcap (pcap_fopen_offline_with_tstamp_precision and
// pcap_next_ex over the whole file): the library, version and reads net_pcap
// itself uses, so the counts cannot drift from what it delivers. libpcap reads
// every format it knows (classic pcap in both byte orders, micro- and
// nanosecond and Kuznetzov magics, pcapng with any sections and block types).
// The records of a classic 2.4 file come through record_reader (records.h),
// as capture's port reads them: the ones libpcap reads without question from
// 256 KiB chunks, every other one by libpcap at its offset, so what the scan
// counts and what capture is given stay libpcap's.
// Read from the file's first bytes, not from libpcap: the format name, the
// snap length as written, and the gzip hint.
// The supervisor scans each file once and hands the result on (handoff.h).
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tapsense::pcapfile {

enum class scan_error {
  none,
  not_found,             // no such file (ENOENT, ENOTDIR)
  permission_denied,     // EACCES, EPERM
  unreadable,            // any other open/stat/read failure, or not a regular file
  empty,                 // zero bytes
  not_a_capture,         // not pcap/pcapng, or a record/block with impossible lengths
  unsupported_linktype,  // pcapng interface whose link type differs from the first
                         // interface's (libpcap 1.10 refuses to go on)
  truncated,             // the file ends inside a record or block header/body
  unsupported,           // well formed, but libpcap 1.10 refuses it: unsupported file
                         // version, pcapng sections with different byte orders,
                         // interfaces with different snap lengths, no IDB, bad if_tsresol
};

const char* scan_error_name(scan_error e) noexcept;

// A record whose original (wire) length differs from the captured length
// libpcap delivers. index: 0-based packet ordinal in the file (the same
// ordinal net_pcap delivers it at). ts_us: its time stamp in microseconds
// since the epoch, as libpcap delivers it with microsecond precision
// (nanosecond files are truncated, not rounded; classic pcap seconds are
// signed 32-bit there, so dates past 2038 come out negative, wrapped to u64).
struct length_fix {
  std::uint64_t index = 0;
  std::uint32_t caplen = 0;
  std::uint32_t orig_len = 0;
  std::uint64_t ts_us = 0;
};

// Which file a scan describes: fstat() of the descriptor scan() read.
struct file_identity {
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  std::uint64_t size = 0;
  std::uint64_t mtime_ns = 0;
  bool operator==(const file_identity&) const = default;
};

struct scan_result {
  scan_error error = scan_error::none;
  std::string message;  // one line, starts with the path: "x.pcap: not a pcap or pcapng file"
                        // empty when error == none
  std::string format;   // "pcap", "pcap-ns", "pcap-kuznetzov", "pcapng"; empty if unknown

  std::uint64_t packets = 0;         // packets libpcap delivers (see the contract above)
  std::uint64_t captured_bytes = 0;  // sum of delivered caplen
  std::uint64_t wire_bytes = 0;      // sum of orig_len (tshark's frame.len)

  // Time stamps of the first and the last delivered packet in file order (not
  // the minimum and maximum: some captures are not in time order), in
  // nanoseconds since the epoch at the file's own resolution, as tshark shows
  // them (classic pcap seconds read as unsigned 32-bit). 0 when packets == 0.
  // A pcapng SPB has no time stamp: it counts as its interface's if_tsoffset
  // (normally 0), as in libpcap.
  std::uint64_t first_ts_ns = 0;
  std::uint64_t last_ts_ns = 0;

  std::vector<std::uint32_t> linktypes;  // distinct LINKTYPE_ values in order of appearance
                                         // (1 = Ethernet); upper 6 "extension" bits cleared
  std::vector<length_fix> fixes;         // records with orig_len != caplen, in file order
                                         // (list_fixes only)
  std::uint32_t snaplen = 0;             // pcap header snaplen, or the first pcapng IDB's;
                                         // as written in the file (0 if unknown)

  // Byte offset in the file where scanning stopped: the file size when
  // error == none, else where libpcap's failing read began (classic pcap: the
  // offending record; pcapng: the first block of that read, blocks libpcap
  // skips included).
  std::uint64_t stop_offset = 0;

  // The progress callback asked the scan to stop (an interrupted run): the
  // result covers the first `packets` records only, whatever follows them.
  bool stopped = false;

  std::string path;        // as given to scan() (empty for scan_bytes())
  file_identity identity;  // all 0 for scan_bytes() and when the file could not be opened

  bool ok() const noexcept { return error == scan_error::none; }
};

// "link type 127 (IEEE802_11_RADIO, 802.11 plus radiotap header)": a
// LINKTYPE_ value with libpcap's name and description for it.
std::string linktype_name(std::uint32_t linktype);

// Why the scanned file cannot be run, in one line that starts with its
// path; empty when it can (a truncated file runs: its last record is lost).
// Refused: any scan error but truncated, and a link type the decoder does
// not read (common/net/decode.h), which would come out as nothing at all.
// The supervisor and capture judge a file by this one verdict.
std::string refusal(const scan_result& r);

// Called while a scan goes on, every `progress_every` packets, with the
// result so far (packets, byte counts, time stamps, linktypes and the fixes
// found since the start or since the callback last cleared them: it may
// take them). Not called at the end: the caller has the whole result then.
// Returns false to stop the scan there (scan_result::stopped).
using scan_progress = std::function<bool(scan_result&)>;
inline constexpr std::uint64_t progress_every = 65536;

// Scans the capture file at `path`. Never throws for file problems (only
// std::bad_alloc); every failure is a scan_error with a message.
// `fixes` stays empty unless `list_fixes`: a file of cut-short records has
// one a packet (3.2 million in the 30-copy benchmark file, whose writing,
// reading and keeping cost capture and the supervisor 0.15 s of CPU and
// capture 74 MiB when capture still took its wire lengths from them).
scan_result scan(const std::string& path, const scan_progress& progress = {}, bool list_fixes = false);

// Scans a whole capture file already in memory; `name` starts the message.
// Same parser as scan(). Allocates only for the result.
scan_result scan_bytes(std::span<const std::uint8_t> file, std::string_view name, bool list_fixes = false);

}  // namespace tapsense::pcapfile
