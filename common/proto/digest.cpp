#include "common/proto/digest.h"

namespace tapsense::proto {

namespace {

std::span<const std::uint8_t> as_bytes(std::string_view s) noexcept {
  // Viewing chars as bytes is the aliasing the language allows.
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

constexpr char hex_digits[] = "0123456789abcdef";

}  // namespace

// ---------------------------------------------------------------------------
// MD5

md5::md5() noexcept { md5_init(&ctx_); }

void md5::reset() noexcept { md5_init(&ctx_); }

void md5::update(std::span<const std::uint8_t> data) noexcept {
  md5_update(&ctx_, data.size(), data.data());
}

void md5::update(std::string_view text) noexcept { update(as_bytes(text)); }

md5::digest md5::final() noexcept {
  digest out{};
  md5_digest(&ctx_, out.size(), out.data());  // (Nettle also re-initialises.)
  return out;
}

// ---------------------------------------------------------------------------
// SHA-256

sha256::sha256() noexcept { sha256_init(&ctx_); }

void sha256::reset() noexcept { sha256_init(&ctx_); }

void sha256::update(std::span<const std::uint8_t> data) noexcept {
  sha256_update(&ctx_, data.size(), data.data());
}

void sha256::update(std::string_view text) noexcept { update(as_bytes(text)); }

sha256::digest sha256::final() noexcept {
  digest out{};
  sha256_digest(&ctx_, out.size(), out.data());
  return out;
}

// ---------------------------------------------------------------------------

std::string to_hex(std::span<const std::uint8_t> bytes) {
  std::string s;
  s.reserve(bytes.size() * 2);
  for (const std::uint8_t b : bytes) {
    s += hex_digits[b >> 4];
    s += hex_digits[b & 15];
  }
  return s;
}

std::string md5_hex(std::string_view text) {
  md5 h;
  h.update(text);
  return to_hex(h.final());
}

std::string sha256_hex(std::string_view text) {
  sha256 h;
  h.update(text);
  return to_hex(h.final());
}

}  // namespace tapsense::proto
