#include "common/proto/facts.h"

namespace tapsense::proto {

std::string printable(std::string_view raw) {
  while (!raw.empty() && (raw.back() == '\0' || raw.back() == ' ' || raw.back() == '\r' || raw.back() == '\n')) {
    raw.remove_suffix(1);
  }
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const auto c = static_cast<unsigned char>(raw[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
      continue;
    }
    if (c >= 0xc2 && c <= 0xf4) {
      // Copy a well-formed UTF-8 sequence whole.
      const std::size_t n = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
      bool ok = raw.size() - i >= n;
      for (std::size_t k = 1; ok && k < n; ++k) {
        ok = (static_cast<unsigned char>(raw[i + k]) & 0xc0) == 0x80;
      }
      if (ok) {
        out.append(raw.data() + i, n);
        i += n - 1;
        continue;
      }
    }
    out += '?';
  }
  return out;
}

}  // namespace tapsense::proto
