#pragma once
// One scan, handed on. The supervisor scans every input file before it starts
// anything (to refuse a bad file in one line and to know the packet count);
// capture needs the same result (the count tells it where net_pcap's input
// ends, the length fixes give truncated records their wire length). Rather
// than read a large file twice, the supervisor writes its results to a small
// file in the run directory and passes it to capture (--scans FILE).
//
// Each result carries the identity of the file it describes (device, inode,
// size, modification time, as scan() saw them through its open descriptor).
// Capture trusts a result only while the file it is about to read still has
// that identity; otherwise (or without --scans: capture started by hand) it
// scans the file itself.
//
// Format (little-endian, every integer written and read byte by byte):
// "TSSCAN01", u32 count, then per file: path, identity, the scan_result
// fields, linktypes, fixes. Strings are u32 length + bytes.
#include <optional>
#include <string>
#include <vector>

#include "common/pcapfile/scan.h"

namespace tapsense::pcapfile {

// Writes the results (scan_result::path names each file). false with `why` on
// an I/O error. Written to a temporary name and renamed: a reader never sees
// half a file.
bool save_scans(const std::string& file, const std::vector<scan_result>& scans, std::string& why);

// Reads what save_scans() wrote. nullopt with `why` when the file is missing,
// short or malformed (never trusted in part).
std::optional<std::vector<scan_result>> load_scans(const std::string& file, std::string& why);

// The saved result for `path`, if one exists and the file at `path` still has
// the identity it had when it was scanned.
std::optional<scan_result> find_current(const std::vector<scan_result>& saved, const std::string& path);

}  // namespace tapsense::pcapfile
