// The capture-file scanner on arbitrary file contents.
#include <cstddef>
#include <cstdint>

#include "common/pcapfile/scan.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto r = tapsense::pcapfile::scan_bytes({data, size}, "fuzz", /*list_fixes=*/true);
  if (r.captured_bytes > size) {
    __builtin_trap();
  }
  return 0;
}
