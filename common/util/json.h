#pragma once
// A small streaming JSON writer for the output files: correct escaping,
// pretty enough to diff, no DOM. Keys and commas are tracked per level.
// Output is assembled in a buffer and handed to the stream in large writes
// (the outputs of a big capture run to hundreds of megabytes); flush() or
// the destructor delivers the rest. Each call makes room once and then
// writes through a pointer: the writer is most of the time a run spends
// after its last packet, and a std::string append per piece (its length
// check and store each time) cost a third of that.
#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace tapsense::util {

class json_writer {
 public:
  explicit json_writer(std::ostream& out, bool pretty = true);
  ~json_writer();
  json_writer(const json_writer&) = delete;
  json_writer& operator=(const json_writer&) = delete;
  // Hands what is buffered to the stream.
  void flush();

  json_writer& begin_object();
  json_writer& end_object();
  json_writer& begin_array();
  json_writer& end_array();
  json_writer& key(std::string_view k);
  json_writer& value(std::string_view v);
  json_writer& value(const char* v) { return value(std::string_view(v)); }
  json_writer& value(const std::string& v) { return value(std::string_view(v)); }
  json_writer& value(std::uint64_t v);
  json_writer& value(std::int64_t v);
  json_writer& value(unsigned v) { return value(std::uint64_t{v}); }
  json_writer& value(int v) { return value(std::int64_t{v}); }
  json_writer& value(double v);
  json_writer& value(bool v);
  json_writer& null();
  // A time (ns since the epoch) as an RFC 3339 string (util::rfc3339),
  // formatted in place.
  json_writer& timestamp(std::uint64_t ns);
  // A string or null.
  json_writer& value(const std::optional<std::string>& v) { return v ? value(*v) : null(); }

  static std::string escape(std::string_view s);
  // Appends s as a quoted, escaped JSON string.
  static void append_escaped(std::string& o, std::string_view s);

 private:
  // Room for what one call writes: a separator, a line break and its
  // indent, and `n` bytes.
  char* room(std::size_t n) {
    n += 2 + 2 * stack_.size();
    if (static_cast<std::size_t>(end_ - at_) < n) make_room(n);
    return at_;
  }
  void make_room(std::size_t n);
  // Writes what goes before a value (room() made room for it).
  char* before_value(char* p);
  char* newline(char* p);
  static constexpr std::size_t buffer_bytes = 1u << 20;

  std::ostream& out_;
  std::unique_ptr<char[]> buf_;
  std::size_t size_;  // of buf_
  char* at_;          // next byte to write
  char* end_;         // end of buf_
  bool pretty_;
  struct level {
    bool object;
    bool first = true;
  };
  std::vector<level> stack_;
  bool after_key_ = false;
};

}  // namespace tapsense::util
