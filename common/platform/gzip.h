#pragma once
// gzip for report bodies between the sensor and its platform
// (`Content-Encoding: gzip`): the sensor compresses, the platform inflates
// with a bound on what one body may grow to.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace tapsense::platform_client {

// The gzip member (RFC 1952) holding `data`.
std::string gzip(std::string_view data);
// What a gzip body holds; nullopt when it is not gzip, is damaged or
// truncated, or would grow past `max_bytes` (`too_large` then set).
std::optional<std::string> gunzip(std::string_view data, std::size_t max_bytes, bool& too_large);

}  // namespace tapsense::platform_client
