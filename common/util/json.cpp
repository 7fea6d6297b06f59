#include "common/util/json.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace tapsense::util {

namespace {
// Length of the valid UTF-8 sequence starting at s[i], or 0 if invalid.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  std::size_t n;
  std::uint32_t cp;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    n = 2;
    cp = b0 & 0x1fu;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    n = 3;
    cp = b0 & 0x0fu;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    n = 4;
    cp = b0 & 0x07u;
  } else {
    return 0;
  }
  if (s.size() - i < n) {
    return 0;
  }
  for (std::size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xc0) != 0x80) {
      return 0;
    }
    cp = (cp << 6) | (b & 0x3fu);
  }
  // Reject overlong forms, surrogates and values past U+10FFFF.
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0xd800 && cp <= 0xdfff)) {
    return 0;
  }
  return n;
}
}  // namespace

json_writer::json_writer(std::ostream& out, bool pretty) : out_(out), pretty_(pretty) {}

json_writer::~json_writer() {
  if (!buf_.empty()) {
    out_.write(buf_.data(), static_cast<std::streamsize>(buf_.size()));
  }
}

void json_writer::flush() {
  out_.write(buf_.data(), static_cast<std::streamsize>(buf_.size()));
  buf_.clear();
}

namespace {
// Bytes a JSON string cannot carry as they are: quote, backslash, controls,
// DEL (kept readable) and everything outside ASCII (checked as UTF-8).
constexpr bool plain(unsigned char c) { return c >= 0x20 && c != '"' && c != '\\' && c < 0x7f; }
}  // namespace

void json_writer::append_escaped(std::string& o, std::string_view s) {
  o += '"';
  std::size_t i = 0;
  while (i < s.size()) {
    // Copy the run of bytes that need nothing in one append.
    std::size_t j = i;
    while (j < s.size() && plain(static_cast<unsigned char>(s[j]))) ++j;
    if (j > i) {
      o.append(s.data() + i, j - i);
      i = j;
      if (i == s.size()) break;
    }
    const auto c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\r': o += "\\r"; break;
      case '\t': o += "\\t"; break;
      case '\b': o += "\\b"; break;
      case '\f': o += "\\f"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          static constexpr char hex[] = "0123456789abcdef";
          const char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
          o.append(u, 6);
        } else {
          // Strings from packets need not be UTF-8: copy valid sequences,
          // replace each invalid byte with U+FFFD so the file stays valid JSON.
          const std::size_t n = utf8_sequence_length(s, i);
          if (n == 0) {
            o += "\\ufffd";
          } else {
            o.append(s.data() + i, n);
            i += n - 1;
          }
        }
    }
    ++i;
  }
  o += '"';
}

std::string json_writer::escape(std::string_view s) {
  std::string o;
  o.reserve(s.size() + 2);
  append_escaped(o, s);
  return o;
}

void json_writer::newline() {
  if (pretty_) {
    buf_ += '\n';
    buf_.append(2 * stack_.size(), ' ');
  }
}

void json_writer::before_value() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!stack_.empty()) {
    if (!stack_.back().first) {
      buf_ += ',';
    }
    stack_.back().first = false;
    newline();
  }
}

json_writer& json_writer::begin_object() {
  before_value();
  buf_ += '{';
  stack_.push_back({true});
  return *this;
}
json_writer& json_writer::end_object() {
  const bool empty = stack_.back().first;
  stack_.pop_back();
  if (!empty) {
    newline();
  }
  buf_ += '}';
  if (stack_.empty()) {
    buf_ += '\n';
  }
  maybe_flush();
  return *this;
}
json_writer& json_writer::begin_array() {
  before_value();
  buf_ += '[';
  stack_.push_back({false});
  return *this;
}
json_writer& json_writer::end_array() {
  const bool empty = stack_.back().first;
  stack_.pop_back();
  if (!empty) {
    newline();
  }
  buf_ += ']';
  if (stack_.empty()) {
    buf_ += '\n';
  }
  maybe_flush();
  return *this;
}
json_writer& json_writer::key(std::string_view k) {
  before_value();
  append_escaped(buf_, k);
  buf_.append(pretty_ ? ": " : ":");
  after_key_ = true;
  return *this;
}
json_writer& json_writer::value(std::string_view v) {
  before_value();
  append_escaped(buf_, v);
  maybe_flush();
  return *this;
}
json_writer& json_writer::value(std::uint64_t v) {
  before_value();
  char b[24];
  const auto r = std::to_chars(b, b + sizeof b, v);
  buf_.append(b, r.ptr);
  return *this;
}
json_writer& json_writer::value(std::int64_t v) {
  before_value();
  char b[24];
  const auto r = std::to_chars(b, b + sizeof b, v);
  buf_.append(b, r.ptr);
  return *this;
}
json_writer& json_writer::value(double v) {
  before_value();
  if (!std::isfinite(v)) {
    buf_ += "null";
  } else {
    char b[32];
    const int n = std::snprintf(b, sizeof b, "%.6g", v);
    buf_.append(b, static_cast<std::size_t>(n));
  }
  return *this;
}
json_writer& json_writer::value(bool v) {
  before_value();
  buf_ += v ? "true" : "false";
  return *this;
}
json_writer& json_writer::null() {
  before_value();
  buf_ += "null";
  return *this;
}

}  // namespace tapsense::util
