// Capture's reader of the supervisor's scan (scans.bin, handoff.h) on
// arbitrary bytes, fed in two parts as a growing file is: whatever it takes
// must be consistent (fixes in order and below what was scanned, an ended
// file's count at least what was scanned) and it never reads past the input.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/pcapfile/handoff.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t cut = data[0] % size;
  const std::string_view all(reinterpret_cast<const char*>(data) + 1, size - 1);
  tapsense::pcapfile::scan_follower f("fuzz");
  std::string why;
  if (f.feed(all.substr(0, cut < all.size() ? cut : all.size()), why) &&
      f.feed(all.substr(cut < all.size() ? cut : all.size()), why)) {
    for (const auto& x : f.files()) {
      std::uint64_t last = 0;
      bool first = true;
      for (const auto& fix : x.fixes) {
        if ((!first && fix.index <= last) || fix.index >= x.scanned) __builtin_trap();
        last = fix.index;
        first = false;
      }
      if (x.ended && x.scanned != x.result.packets) __builtin_trap();
    }
  }
  return 0;
}
