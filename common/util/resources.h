#pragma once
// The process's own peak resident size, for the "resources:" line every
// process logs when it ends.
#include <cstdint>
#include <string>

namespace tapsense::util {

// VmHWM of /proc/self/status in KiB: this image's peak alone. getrusage()'s
// ru_maxrss is not: Linux carries it across execve(), so a process started
// by a large parent (the benchmark's Python, 60-80 MiB) reported the
// parent's size as its own. Falls back to ru_maxrss where /proc is missing.
std::uint64_t peak_rss_kib() noexcept;

// "peak_rss_kib=N user_s=U sys_s=S": what the line says after "resources: ".
std::string resources_summary();

}  // namespace tapsense::util
