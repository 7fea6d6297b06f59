#include "common/util/json.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "common/util/time.h"

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

namespace {
// Bytes a JSON string cannot carry as they are: quote, backslash, controls,
// DEL (kept readable) and everything outside ASCII (checked as UTF-8).
constexpr bool plain(unsigned char c) { return c >= 0x20 && c != '"' && c != '\\' && c < 0x7f; }

// Writes s quoted and escaped at p, which has room for 6 * s.size() + 2
// bytes (a byte becomes at most six: \u001f, \ufffd); returns the end.
char* escape_to(char* p, std::string_view s) {
  const char* d = s.data();
  const std::size_t n = s.size();
  *p++ = '"';
  std::size_t i = 0;
  while (i < n) {
    // Copy the run of bytes that need nothing at once.
    std::size_t j = i;
    while (j < n && plain(static_cast<unsigned char>(d[j]))) ++j;
    if (j > i) {
      std::memcpy(p, d + i, j - i);
      p += j - i;
      i = j;
      if (i == n) break;
    }
    const auto c = static_cast<unsigned char>(d[i]);
    char e = 0;
    switch (c) {
      case '"': e = '"'; break;
      case '\\': e = '\\'; break;
      case '\n': e = 'n'; break;
      case '\r': e = 'r'; break;
      case '\t': e = 't'; break;
      case '\b': e = 'b'; break;
      case '\f': e = 'f'; break;
      default: break;
    }
    if (e != 0) {
      p[0] = '\\';
      p[1] = e;
      p += 2;
    } else if (c < 0x20 || c == 0x7f) {
      static constexpr char hex[] = "0123456789abcdef";
      const char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      std::memcpy(p, u, 6);
      p += 6;
    } else {
      // Strings from packets need not be UTF-8: copy valid sequences,
      // replace each invalid byte with U+FFFD so the file stays valid JSON.
      const std::size_t len = utf8_sequence_length(s, i);
      if (len == 0) {
        std::memcpy(p, "\\ufffd", 6);
        p += 6;
      } else {
        std::memcpy(p, d + i, len);
        p += len;
        i += len - 1;
      }
    }
    ++i;
  }
  *p++ = '"';
  return p;
}
}  // namespace

json_writer::json_writer(std::ostream& out, bool pretty)
    : out_(out), buf_(new char[buffer_bytes]), size_(buffer_bytes), at_(buf_.get()), end_(at_ + size_),
      pretty_(pretty) {}

json_writer::~json_writer() {
  if (at_ != buf_.get()) {
    out_.write(buf_.get(), at_ - buf_.get());
  }
}

void json_writer::flush() {
  out_.write(buf_.get(), at_ - buf_.get());
  at_ = buf_.get();
}

void json_writer::make_room(std::size_t n) {
  flush();
  if (size_ < n) {
    // One string longer than the buffer: a buffer that holds it.
    buf_.reset(new char[n]);
    size_ = n;
    at_ = buf_.get();
  }
  end_ = buf_.get() + size_;
}

void json_writer::append_escaped(std::string& o, std::string_view s) {
  const std::size_t old = o.size();
  o.resize(old + 6 * s.size() + 2);
  char* e = escape_to(o.data() + old, s);
  o.resize(static_cast<std::size_t>(e - o.data()));
}

std::string json_writer::escape(std::string_view s) {
  std::string o;
  append_escaped(o, s);
  return o;
}

char* json_writer::newline(char* p) {
  if (pretty_) {
    *p++ = '\n';
    const std::size_t n = 2 * stack_.size();
    std::memset(p, ' ', n);
    p += n;
  }
  return p;
}

char* json_writer::before_value(char* p) {
  if (after_key_) {
    after_key_ = false;
    return p;
  }
  if (!stack_.empty()) {
    if (!stack_.back().first) {
      *p++ = ',';
    }
    stack_.back().first = false;
    p = newline(p);
  }
  return p;
}

json_writer& json_writer::begin_object() {
  char* p = before_value(room(1));
  *p++ = '{';
  at_ = p;
  stack_.push_back({true});
  return *this;
}
json_writer& json_writer::end_object() {
  const bool empty = stack_.back().first;
  stack_.pop_back();
  char* p = room(2);
  if (!empty) {
    p = newline(p);
  }
  *p++ = '}';
  if (stack_.empty()) {
    *p++ = '\n';
  }
  at_ = p;
  return *this;
}
json_writer& json_writer::begin_array() {
  char* p = before_value(room(1));
  *p++ = '[';
  at_ = p;
  stack_.push_back({false});
  return *this;
}
json_writer& json_writer::end_array() {
  const bool empty = stack_.back().first;
  stack_.pop_back();
  char* p = room(2);
  if (!empty) {
    p = newline(p);
  }
  *p++ = ']';
  if (stack_.empty()) {
    *p++ = '\n';
  }
  at_ = p;
  return *this;
}
json_writer& json_writer::key(std::string_view k) {
  char* p = escape_to(before_value(room(6 * k.size() + 4)), k);
  *p++ = ':';
  if (pretty_) {
    *p++ = ' ';
  }
  at_ = p;
  after_key_ = true;
  return *this;
}
json_writer& json_writer::value(std::string_view v) {
  at_ = escape_to(before_value(room(6 * v.size() + 2)), v);
  return *this;
}
json_writer& json_writer::value(std::uint64_t v) {
  char* p = before_value(room(24));
  at_ = std::to_chars(p, p + 24, v).ptr;
  return *this;
}
json_writer& json_writer::value(std::int64_t v) {
  char* p = before_value(room(24));
  at_ = std::to_chars(p, p + 24, v).ptr;
  return *this;
}
json_writer& json_writer::value(double v) {
  char* p = before_value(room(32));
  if (!std::isfinite(v)) {
    std::memcpy(p, "null", 4);
    at_ = p + 4;
  } else {
    const int n = std::snprintf(p, 32, "%.6g", v);
    at_ = p + n;
  }
  return *this;
}
json_writer& json_writer::value(bool v) {
  char* p = before_value(room(5));
  std::memcpy(p, v ? "true" : "false", v ? 4 : 5);
  at_ = p + (v ? 4 : 5);
  return *this;
}
json_writer& json_writer::null() {
  char* p = before_value(room(4));
  std::memcpy(p, "null", 4);
  at_ = p + 4;
  return *this;
}
json_writer& json_writer::timestamp(std::uint64_t ns) {
  char* p = before_value(room(29));
  *p++ = '"';
  rfc3339_to(p, ns);
  p += 27;
  *p++ = '"';
  at_ = p;
  return *this;
}

}  // namespace tapsense::util
