#pragma once
// Inference rules: raw facts (common/proto/facts.h) -> derived identity facts.
//
// A parser states what a packet said ("http/user_agent = Mozilla/5.0
// (Windows NT 10.0; ...)"); a rule says what that means ("os_family =
// Windows, confidence 80") and why (its comment). Rules live in TOML files
// the project writes (fingerprinter/data/rules/*.toml), never in parsers.
//
// ---- Rule file format ----
//
//   # Anything after '#' is a TOML comment, for the file's reader.
//   [[rule]]
//   id = "ua-windows-nt-10"              # unique across all files of a set;
//                                        # a-z 0-9 - _ . (it becomes "rule:<id>")
//   comment = "Windows 10 and 11 both send 'Windows NT 10.0' ..."  # REQUIRED
//                                        # (10+ chars): the fact it rests on
//   source = "http"                      # optional: the fact's source, or a
//                                        # list ["http", "ssdp"]; absent = any
//   field = "user_agent"                 # required: the fact's field, or a
//                                        # list ["software_version",
//                                        # "system_description"]
//   contains = "Windows NT 10.0"         # exactly one of: equals, prefix,
//                                        # contains, regex
//   icase = true                         # optional, default false: ASCII
//                                        # case-insensitive matching
//   also = ["Win64"]                     # optional: substrings (string or
//                                        # list) that must all be present too
//   unless = ["Xbox"]                    # optional: substrings (string or
//                                        # list) that veto the rule
//   confidence = 80                      # 1-100, for every output unless an
//                                        # output gives its own
//   set = { os_family = "Windows", os_name = { value = "Windows 10 or 11", confidence = 60 } }
//
// `set` (or a [rule.set] table) maps output fields to values: a string, or
// an inline table {value, confidence}. Values may use $0 (the whole match:
// the matched text for a regex, the whole value otherwise) and, for a regex,
// $1..$9 (capture groups); "$$" is a literal '$'. A group that did not take
// part expands to "". Each value is trimmed of blanks after expansion; an
// output that comes out empty is not emitted.
//
// Output fields and their vocabularies:
//   os_family    one of os_families below (no $ references allowed)
//   os_name      free text naming the release: "Windows 10 1809",
//                "macOS 10.13", "Android 11", "Ubuntu 14.04", "Cisco IOS 11.2"
//   os_version   numeric version. Windows: NT version "10.0.19041"; macOS,
//                iOS, iPadOS, Android: the product version ("10.13", "16.5",
//                "11"); Linux: the kernel ("3.13.0-106-generic"; the
//                distribution and its release go in os_name)
//   device_type  one of device_type_classes (device_class.h; no $ references)
//   vendor       manufacturer as commonly written: "Apple", "Cisco", "Siemens"
//   model        "iMac11,3", "CPU 315-2 PN/DP", "cisco 1601"
//   firmware     firmware version as the device states it
//   module_vendor the Wi-Fi/cellular module or ODM maker ("Espressif")
//
// Loading errors (rules_error, message "file:line:col: text"): TOML syntax,
// unknown keys, a missing or empty id/comment/field, no matcher or two, a
// regex that RE2 does not compile (or over 512 bytes), a source or field
// not in the facts' vocabulary (common/proto/names.h), an unknown output
// field, an os_family/device_type outside the vocabulary, a $N beyond the
// regex's groups (or any $1..$9 without a regex), a confidence outside
// 1..100, a duplicate id (across all files of a set). The fingerprinter
// reports one such line and exits 78.
//
// ---- Regexes ----
// RE2 (libre2): Perl-like syntax, leftmost-first like ECMAScript, searched
// anywhere in the value unless anchored with '^' ('^' and '$' are the
// value's start and end). Matching time is linear in the value whatever the
// pattern, so no pattern is refused for its shape; RE2 itself refuses what
// it cannot run in linear time or does not know:
//   - backreferences ("\1") and lookaround ("(?=", "(?!", "(?<="),
//   - stacked quantifiers ("a**", "a+{2}": a syntax error in Perl mode);
//     a lazy '?' after a quantifier ("a+?") is fine,
//   - counted repeats over 1000 ("a{1,1001}").
// Values are bytes: patterns run in Latin-1 mode (one byte, one character),
// and \d \w \s \b are ASCII. icase = true maps to RE2's case-insensitive
// option, which folds ASCII letters (and, in Latin-1 mode, the Latin-1
// letters 0xC0-0xFE: harmless for the ASCII text rules match on). Patterns
// over 512 bytes are refused as unreviewable. Values are cut to
// max_value_len bytes before matching. Prefer equals/prefix/contains (with
// also/unless) where they say the same: they are cheaper still.
//
// ---- Applying ----
// Rules are indexed by field; apply() tries only the rules for that field, in
// load order (files by name, then file order), and appends one derived_fact
// per output of every rule that matches (a rule's outputs in field-name
// order). A rule matches when its source (if it names any) and field fit,
// its matcher accepts the value, every `also` substring is in it and no
// `unless` substring is. It does not resolve conflicts: the
// caller weighs derived facts like any other evidence (highest confidence,
// then most recent). Thread-safety: a loaded rule_set is immutable; apply()
// may run concurrently.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/fp/device_class.h"
#include "common/proto/names.h"

namespace tapsense::fp {

// The os_family vocabulary (exact spelling).
inline constexpr std::string_view os_families[] = {
    "Windows", "macOS",   "iOS",      "iPadOS",     "tvOS",         "watchOS",     "audioOS",
    "Android", "Linux",   "ChromeOS", "FreeBSD",    "OpenBSD",      "NetBSD",      "Solaris",
    "HP-UX",   "AIX",     "Tizen",    "webOS",      "Cisco IOS",    "Cisco IOS XE", "Cisco NX-OS",
    "Cisco ASA", "Junos", "Comware",  "ArubaOS",    "RouterOS",     "VxWorks",     "PlayStation",
    "Nintendo", "BlackBerry", "OpenVMS",
};

// The device_type vocabulary: device_class.h (device_type_classes, each
// with its coarse class).

// The output fields a rule may set.
inline constexpr std::string_view output_fields[] = {
    "os_family", "os_name", "os_version", "device_type", "vendor", "model", "firmware", "module_vendor",
};

// One inference drawn from one raw fact.
struct derived_fact {
  proto::field_name field;  // one of output_fields
  std::string value;
  std::uint8_t confidence = 0;  // 1-100
  std::string_view rule_id;     // points into the rule_set; valid while it lives
};

// A rule file error. what() is "file:line:col: message" (line and column
// 0 when the error is about the whole file or directory).
class rules_error : public std::runtime_error {
 public:
  rules_error(std::string file, std::uint32_t line, std::uint32_t column, std::string message);
  std::string file;
  std::uint32_t line;
  std::uint32_t column;
  std::string message;
};

// What a loaded rule says about itself (for reports and tests).
struct rule_info {
  std::string id;
  std::string comment;
  std::string file;    // as given to parse() / the path load_dir() read
  std::uint32_t line;  // of the rule's [[rule]] header
  std::vector<std::string> sources;  // empty: any source
  std::vector<std::string> fields;   // at least one
};

class rule_set {
 public:
  // Values longer than this are matched on their first max_value_len bytes.
  static constexpr std::size_t max_value_len = 1024;

  rule_set();
  ~rule_set();
  rule_set(rule_set&&) noexcept;
  rule_set& operator=(rule_set&&) noexcept;
  rule_set(const rule_set&) = delete;
  rule_set& operator=(const rule_set&) = delete;

  // Reads every regular file ending in ".toml" in `dir` (not recursive), in
  // name order. Throws rules_error: the directory cannot be read (line 0), or
  // any error listed at the top. An empty directory gives an empty set.
  static rule_set load_dir(const std::string& dir);
  // One file's text; `name` is used in error messages and rule_info::file.
  static rule_set parse(std::string_view text, const std::string& name);

  // Appends to `out` the outputs of every rule whose source (if it names
  // any), field and matcher accept the fact. Allocates only for what it
  // appends (RE2 keeps its own lazily built match state, shared by threads).
  void apply(proto::source_name source, proto::field_name field, std::string_view value,
             std::vector<derived_fact>& out) const;

  std::size_t size() const noexcept;
  // Rules in load order.
  std::vector<rule_info> rules() const;
  // The rule with this id, or nullptr.
  const rule_info* find(std::string_view id) const noexcept;
  // Files read (1 after parse()).
  std::size_t file_count() const noexcept;

  // Implementation type, public only so the loader in rules.cpp can see it.
  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace tapsense::fp
