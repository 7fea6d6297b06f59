#pragma once
// MD5 (RFC 1321) and SHA-256 (FIPS 180-4), for fingerprints only: JA3, JA3S
// and HASSH are MD5 digests, JA4 and JA4S truncated SHA-256 digests. Neither
// is used for anything security-relevant here.
//
// Thin wrappers over GNU Nettle (nettle-dev), so the arithmetic is a
// maintained library's and not ours. Both are streaming (init, update any
// number of times, final) and one-shot; they allocate nothing and never read
// outside the spans they are given.
#include <nettle/md5.h>
#include <nettle/sha2.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace tapsense::proto {

class md5 {
 public:
  using digest = std::array<std::uint8_t, MD5_DIGEST_SIZE>;
  md5() noexcept;
  void update(std::span<const std::uint8_t> data) noexcept;
  void update(std::string_view text) noexcept;
  // Finishes and returns the digest; the object must be reset() before reuse.
  digest final() noexcept;
  void reset() noexcept;

 private:
  md5_ctx ctx_{};
};

class sha256 {
 public:
  using digest = std::array<std::uint8_t, SHA256_DIGEST_SIZE>;
  sha256() noexcept;
  void update(std::span<const std::uint8_t> data) noexcept;
  void update(std::string_view text) noexcept;
  digest final() noexcept;
  void reset() noexcept;

 private:
  sha256_ctx ctx_{};
};

// Lower-case hex of the whole digest: md5_hex("abc") ==
// "900150983cd24fb0d6963f7d28e17f72".
std::string md5_hex(std::string_view text);
std::string sha256_hex(std::string_view text);

// Lower-case hex of any bytes.
std::string to_hex(std::span<const std::uint8_t> bytes);

}  // namespace tapsense::proto
