#include "common/util/json.h"

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

std::string json_writer::escape(std::string_view s) {
  std::string o;
  o.reserve(s.size() + 2);
  o += '"';
  for (std::size_t i = 0; i < s.size(); ++i) {
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
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          o += buf;
        } else if (c < 0x80) {
          o += static_cast<char>(c);
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
  }
  o += '"';
  return o;
}

void json_writer::newline() {
  if (pretty_) {
    out_ << '\n';
    for (std::size_t i = 0; i < stack_.size(); ++i) {
      out_ << "  ";
    }
  }
}

void json_writer::before_value() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!stack_.empty()) {
    if (!stack_.back().first) {
      out_ << ',';
    }
    stack_.back().first = false;
    newline();
  }
}

json_writer& json_writer::begin_object() {
  before_value();
  out_ << '{';
  stack_.push_back({true});
  return *this;
}
json_writer& json_writer::end_object() {
  const bool empty = stack_.back().first;
  stack_.pop_back();
  if (!empty) {
    newline();
  }
  out_ << '}';
  if (stack_.empty()) {
    out_ << '\n';
  }
  return *this;
}
json_writer& json_writer::begin_array() {
  before_value();
  out_ << '[';
  stack_.push_back({false});
  return *this;
}
json_writer& json_writer::end_array() {
  const bool empty = stack_.back().first;
  stack_.pop_back();
  if (!empty) {
    newline();
  }
  out_ << ']';
  if (stack_.empty()) {
    out_ << '\n';
  }
  return *this;
}
json_writer& json_writer::key(std::string_view k) {
  before_value();
  out_ << escape(k) << (pretty_ ? ": " : ":");
  after_key_ = true;
  return *this;
}
json_writer& json_writer::value(std::string_view v) {
  before_value();
  out_ << escape(v);
  return *this;
}
json_writer& json_writer::value(std::uint64_t v) {
  before_value();
  out_ << v;
  return *this;
}
json_writer& json_writer::value(std::int64_t v) {
  before_value();
  out_ << v;
  return *this;
}
json_writer& json_writer::value(double v) {
  before_value();
  if (!std::isfinite(v)) {
    out_ << "null";
  } else {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    out_ << buf;
  }
  return *this;
}
json_writer& json_writer::value(bool v) {
  before_value();
  out_ << (v ? "true" : "false");
  return *this;
}
json_writer& json_writer::null() {
  before_value();
  out_ << "null";
  return *this;
}

}  // namespace tapsense::util
