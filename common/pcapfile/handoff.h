#pragma once
// One scan, handed on as it goes. The supervisor scans every input file (to
// refuse a bad file in one line and to know the packet count); capture needs
// the same result (the count tells it where net_pcap's input ends). The
// format can carry a scan's length fixes too; the supervisor's scan lists
// none (capture reads wire lengths itself: capture/pcap_files.h). Rather
// than read a large file twice, or make capture wait for the whole pass,
// the supervisor writes the scan to a file in the run directory while it
// scans (scan_writer), and capture follows that file (scan_follower,
// capture --scans FILE): it hands on packet N once the scan has passed N.
//
// Each file's scan carries the identity of the file it describes (device,
// inode, size, modification time, as scan() saw them through its open
// descriptor). Capture trusts it only while the file it is about to read
// still has that identity; otherwise (or without --scans: capture started by
// hand) it scans the file itself.
//
// Format (little-endian, every integer written and read byte by byte):
// "TSSCAN03", then records, each a type byte, a u32 payload length and the
// payload:
//   'F' a file begins: path, identity (4 x u64), link types so far
//   'P' progress: packets scanned so far in this file (varint), then the
//       fixes found since the last 'P' (varint count, four varints each: the
//       index as a step from the previous fix's, caplen, orig_len, the time
//       stamp as a zigzag step from the previous fix's)
//   'E' the file's scan ended: error, message, format, packets, byte counts,
//       time stamps, snap length, stop offset, linktypes
//   'Z' every file scanned and every one can be run (u32 file count)
// Strings are u32 length + bytes. A writer appends whole records; a reader
// takes only whole records, so it never sees half of one.
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/pcapfile/scan.h"

namespace tapsense::pcapfile {

// Appends a scan to a file as it goes (one thread writes).
class scan_writer {
 public:
  scan_writer() = default;
  scan_writer(const scan_writer&) = delete;
  scan_writer& operator=(const scan_writer&) = delete;
  ~scan_writer();

  // Creates (truncates) `file` and writes the magic. false with `why`.
  bool open(const std::string& file, std::string& why);
  // The scan of `r.path` so far, with the fixes found since the last call
  // (in file order, each below r.packets). The first call for a file also
  // says which file it is.
  bool progress(const scan_result& r, std::span<const length_fix> new_fixes, std::string& why);
  // The file's scan ended: r.fixes are those not given to progress() yet
  // (all of them when progress() was never called).
  bool end(const scan_result& r, std::string& why);
  // Every file scanned, and every one can be run.
  bool finish(std::uint32_t files, std::string& why);

 private:
  bool write(const std::string& bytes, std::string& why);
  int fd_ = -1;
  std::string file_;
  bool begun_ = false;  // 'F' written for the current file
  std::uint64_t last_index_ = 0, last_ts_ = 0;  // the last fix written (steps start from it)
};

// Follows what a scan_writer writes. poll() reads what has been added since.
class scan_follower {
 public:
  struct followed {
    scan_result result;         // path, identity and link types from 'F'; the rest from 'E'
    std::deque<length_fix> fixes;  // as they come (result.fixes stays empty): a deque grows
                                   // without copying what it holds, millions of fixes for a
                                   // file of cut-short records
    std::uint64_t scanned = 0;  // packets scanned so far (result.packets once ended)
    bool ended = false;
  };

  explicit scan_follower(std::string file) : file_(std::move(file)) {}
  scan_follower(const scan_follower&) = delete;
  scan_follower& operator=(const scan_follower&) = delete;
  ~scan_follower();

  // Reads the records written since the last call. false with `why` when the
  // file is malformed (nothing after the bad record is taken); a missing
  // file is not an error (the writer has not opened it yet): exists() says.
  bool poll(std::string& why);
  // The same for bytes from elsewhere than the file (tests, fuzzing).
  bool feed(std::string_view bytes, std::string& why);
  // File i's entry becomes a whole scan made elsewhere (capture's own, of a
  // file the stream does not describe): ended, its fixes moved in. Stop
  // polling before using it on a file the stream may still write to.
  void put(std::size_t i, scan_result r);
  bool exists() const { return fd_ >= 0; }
  // 'Z' seen: every file is scanned and can be run.
  bool complete() const { return complete_; }
  // Bytes read but not yet a whole record (0 once the writer is done).
  std::size_t partial() const { return buf_.size() - pos_; }
  // A deque: a file's entry stays where it is while later ones are added.
  std::deque<followed>& files() { return files_; }
  const std::deque<followed>& files() const { return files_; }

 private:
  bool parse(std::string& why);
  std::string file_;
  std::deque<followed> files_;
  int fd_ = -1;
  std::string buf_;
  std::size_t pos_ = 0;
  bool magic_ok_ = false;
  bool complete_ = false;
  std::uint64_t last_index_ = 0, last_ts_ = 0;
  bool any_fix_ = false;
};

// Writes whole results at once (to a temporary name, then renamed: a reader
// never sees half a file). false with `why` on an I/O error.
bool save_scans(const std::string& file, const std::vector<scan_result>& scans, std::string& why);

// Reads what save_scans() (or a scan_writer that finished) wrote. nullopt with
// `why` when the file is missing, short, unfinished or malformed (never
// trusted in part).
std::optional<std::vector<scan_result>> load_scans(const std::string& file, std::string& why);

// Whether the file at `path` still has the identity it had when scanned.
bool still_current(const scan_result& r, const std::string& path);

// The saved result for `path`, if one exists and is still current.
std::optional<scan_result> find_current(const std::vector<scan_result>& saved, const std::string& path);

}  // namespace tapsense::pcapfile
