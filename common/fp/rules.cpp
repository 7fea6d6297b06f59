#include "common/fp/rules.h"

#include <re2/re2.h>
#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

namespace tapsense::fp {

rules_error::rules_error(std::string f, std::uint32_t l, std::uint32_t c, std::string m)
    : std::runtime_error(f + ":" + std::to_string(l) + ":" + std::to_string(c) + ": " + m),
      file(std::move(f)),
      line(l),
      column(c),
      message(std::move(m)) {}

namespace {

// ---- ASCII helpers (values are bytes; case folding is ASCII only) ----

char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowered(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    c = lower(c);
  }
  return out;
}

bool equal_at(std::string_view hay, std::size_t pos, std::string_view needle, bool icase) noexcept {
  if (!icase) {
    return hay.compare(pos, needle.size(), needle) == 0;
  }
  for (std::size_t i = 0; i < needle.size(); ++i) {
    if (lower(hay[pos + i]) != needle[i]) {  // needle is stored lower-cased
      return false;
    }
  }
  return true;
}

bool has_prefix(std::string_view hay, std::string_view needle, bool icase) noexcept {
  return hay.size() >= needle.size() && equal_at(hay, 0, needle, icase);
}

bool has_substring(std::string_view hay, std::string_view needle, bool icase) noexcept {
  if (!icase) {
    return hay.find(needle) != std::string_view::npos;
  }
  if (needle.empty()) {
    return true;
  }
  if (hay.size() < needle.size()) {
    return false;
  }
  const char first = needle[0];
  for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    if (lower(hay[i]) == first && equal_at(hay, i, needle, true)) {
      return true;
    }
  }
  return false;
}

std::string_view trim(std::string_view s) noexcept {
  const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && blank(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && blank(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

bool in_vocabulary(std::span<const std::string_view> vocab, std::string_view v) {
  return std::find(vocab.begin(), vocab.end(), v) != vocab.end();
}

// ---- Regexes (RE2) ----

// A review limit, not a safety one: RE2 is linear in the value whatever the
// pattern, but a rule's regex is code and should stay readable.
constexpr std::size_t max_pattern_len = 512;

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// Compiles a rule's pattern: RE2 in Latin-1 (every value byte is one
// character, as values are bytes), leftmost-first like Perl and ECMAScript,
// ASCII \d \w \s \b. RE2 logs nothing. Returns the error text, empty when
// it compiled; RE2's parse errors are reworded where the rule file's author
// needs a hint.
std::string compile_regex(const std::string& pattern, bool icase, std::unique_ptr<re2::RE2>& out) {
  if (pattern.size() > max_pattern_len) {
    return "regex longer than " + std::to_string(max_pattern_len) + " bytes";
  }
  re2::RE2::Options opt;
  opt.set_encoding(re2::RE2::Options::EncodingLatin1);
  opt.set_case_sensitive(!icase);
  opt.set_log_errors(false);
  out = std::make_unique<re2::RE2>(pattern, opt);
  if (out->ok()) {
    return {};
  }
  const std::string arg = out->error_arg();
  std::string why;
  switch (out->error_code()) {
    case re2::RE2::ErrorMissingParen:
      why = "unbalanced '('";
      break;
    case re2::RE2::ErrorUnexpectedParen:
      why = "unbalanced ')'";
      break;
    case re2::RE2::ErrorMissingBracket:
      why = "unterminated character class";
      break;
    case re2::RE2::ErrorTrailingBackslash:
      why = "regex ends with a lone backslash";
      break;
    case re2::RE2::ErrorRepeatOp:
    case re2::RE2::ErrorRepeatArgument:
      why = "a quantifier must follow an atom (no stacked quantifiers such as 'a**' or 'a+{2}'): " + arg;
      break;
    case re2::RE2::ErrorBadEscape:
      if (arg.size() == 2 && arg[0] == '\\' && arg[1] >= '1' && arg[1] <= '9') {
        why = "backreferences are not allowed in rule regexes (RE2 has none)";
        break;
      }
      [[fallthrough]];
    default:
      why = "bad regex: " + out->error();
      break;
  }
  out.reset();
  return why;
}

// ---- Output templates ----

struct segment {
  std::string text;  // literal text, or
  int group = -1;    // a capture group number 0..9
};

struct output {
  proto::field_name field;
  std::vector<segment> value;
  std::uint8_t confidence = 0;
};

enum class match_kind : std::uint8_t { equals, prefix, contains, regex };

}  // namespace

struct rule_set::impl {
  struct rule {
    rule_info info;
    match_kind kind = match_kind::equals;
    bool icase = false;
    std::string pattern;  // lower-cased when icase (not for regex)
    // Regex only: the compiled pattern, and how many submatches apply()
    // asks RE2 for (1 + the highest $N the outputs use; 0 when they use
    // none, so RE2 can answer with its DFA alone).
    std::unique_ptr<re2::RE2> re;
    int submatches = 0;
    std::vector<std::string> also;    // lower-cased when icase
    std::vector<std::string> unless;  // lower-cased when icase
    std::vector<output> outputs;
    std::vector<proto::source_name> sources;  // empty: any
  };
  std::vector<rule> rules;
  // Rule indices per field index (proto::field_name::id()).
  std::vector<std::vector<std::uint32_t>> by_field;
  std::size_t files = 0;

  void reindex() {
    by_field.assign(proto::field_name::count(), {});
    for (std::uint32_t i = 0; i < rules.size(); ++i) {
      for (const auto& f : rules[i].info.fields) {
        auto& v = by_field[proto::field_name::find(f)->id()];  // checked when loaded
        if (v.empty() || v.back() != i) {
          v.push_back(i);
        }
      }
    }
  }
};

namespace {

// Walks one TOML table, reading known keys and rejecting unknown ones.
class reader {
 public:
  reader(const toml::table& t, std::string path, const std::string& file)
      : t_(t), path_(std::move(path)), file_(file) {}

  [[noreturn]] void fail(const toml::node& n, const std::string& msg) const {
    const auto& b = n.source().begin;
    throw rules_error(file_, b.line, b.column, msg);
  }
  [[noreturn]] void fail_here(const std::string& msg) const { fail(t_, msg); }

  const toml::node* node(const char* key) {
    known_.insert(key);
    return t_.get(key);
  }
  std::optional<std::string> get_string(const char* key) {
    const auto* n = node(key);
    if (n == nullptr) {
      return std::nullopt;
    }
    if (!n->is_string()) {
      fail(*n, path_ + "." + key + " must be a string");
    }
    return n->as_string()->get();
  }
  // A string or an array of strings; none of them empty.
  std::vector<std::string> get_strings(const char* key) {
    std::vector<std::string> out;
    const auto* n = node(key);
    if (n == nullptr) {
      return out;
    }
    const auto take = [&](const toml::node& e) {
      if (!e.is_string() || e.as_string()->get().empty()) {
        fail(e, path_ + "." + key + " must be a non-empty string or an array of them");
      }
      out.push_back(e.as_string()->get());
    };
    if (const auto* arr = n->as_array()) {
      if (arr->empty()) {
        fail(*n, path_ + "." + key + " must not be an empty array");
      }
      for (const auto& e : *arr) {
        take(e);
      }
    } else {
      take(*n);
    }
    return out;
  }
  std::optional<bool> boolean(const char* key) {
    const auto* n = node(key);
    if (n == nullptr) {
      return std::nullopt;
    }
    if (!n->is_boolean()) {
      fail(*n, path_ + "." + key + " must be true or false");
    }
    return n->as_boolean()->get();
  }
  std::optional<std::uint8_t> confidence(const char* key) {
    const auto* n = node(key);
    if (n == nullptr) {
      return std::nullopt;
    }
    if (!n->is_integer() || n->as_integer()->get() < 1 || n->as_integer()->get() > 100) {
      fail(*n, path_ + "." + key + " must be an integer from 1 to 100");
    }
    return static_cast<std::uint8_t>(n->as_integer()->get());
  }
  void done() const {
    for (const auto& [k, v] : t_) {
      if (known_.count(std::string(k.str())) == 0) {
        const auto& b = k.source().begin.line != 0 ? k.source().begin : v.source().begin;
        throw rules_error(file_, b.line, b.column,
                          "unknown key '" + std::string(k.str()) + "' in " + path_);
      }
    }
  }

 private:
  const toml::table& t_;
  std::string path_;
  const std::string& file_;
  std::set<std::string> known_;
};

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > 80) {
    return false;
  }
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || is_digit(c) || c == '-' || c == '_' || c == '.';
  });
}

// Parses "$1.$2" into segments. `groups`: the highest group number allowed.
std::vector<segment> parse_template(std::string_view v, unsigned groups, const reader& r,
                                    const toml::node& where, bool& has_refs) {
  std::vector<segment> out;
  std::string lit;
  has_refs = false;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] != '$') {
      lit.push_back(v[i]);
      continue;
    }
    if (i + 1 < v.size() && v[i + 1] == '$') {
      lit.push_back('$');
      ++i;
      continue;
    }
    if (i + 1 >= v.size() || !is_digit(v[i + 1])) {
      r.fail(where, "'$' in an output value must be followed by a digit 0-9 or by '$'");
    }
    const unsigned g = static_cast<unsigned>(v[i + 1] - '0');
    if (g > groups) {
      r.fail(where, "$" + std::to_string(g) +
                        (groups == 0 ? " needs a regex with capture groups"
                                     : " is beyond the regex's " + std::to_string(groups) + " capture groups"));
    }
    if (!lit.empty()) {
      out.push_back({std::move(lit), -1});
      lit.clear();
    }
    out.push_back({{}, static_cast<int>(g)});
    has_refs = true;
    ++i;
  }
  if (!lit.empty()) {
    out.push_back({std::move(lit), -1});
  }
  return out;
}

void parse_file(std::string_view text, const std::string& name, rule_set::impl& into) {
  toml::table root;
  try {
    root = toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    throw rules_error(name, b.line, b.column, std::string(e.description()));
  }
  reader top(root, "file", name);
  const auto* rules_node = top.node("rule");
  top.done();
  if (rules_node == nullptr) {
    return;
  }
  const auto* arr = rules_node->as_array();
  if (arr == nullptr || !arr->is_array_of_tables()) {
    top.fail(*rules_node, "'rule' must be an array of tables ([[rule]])");
  }
  for (const auto& el : *arr) {
    const auto& t = *el.as_table();
    rule_set::impl::rule r;
    r.info.file = name;
    r.info.line = t.source().begin.line;

    std::optional<std::string> id;
    {
      reader first(t, "rule", name);
      id = first.get_string("id");
      if (!id || !valid_id(*id)) {
        first.fail_here(!id ? "rule without an id"
                            : "rule id '" + *id + "' must be 1-80 characters of a-z, 0-9, '-', '_', '.'");
      }
    }
    r.info.id = *id;
    const std::string path = "rule '" + *id + "'";
    reader rd(t, path, name);
    rd.node("id");
    const auto comment = rd.get_string("comment");
    if (!comment || trim(*comment).size() < 10) {
      rd.fail_here(path + " needs a comment (at least 10 characters) naming the fact it rests on");
    }
    r.info.comment = std::string(trim(*comment));
    r.info.sources = rd.get_strings("source");
    r.info.fields = rd.get_strings("field");
    if (r.info.fields.empty()) {
      rd.fail_here(path + " needs a field (the raw fact's field it matches, or a list of them)");
    }
    // A name no parser states would make a rule that never fires.
    for (const auto& f : r.info.fields) {
      if (!proto::field_name::find(f)) {
        rd.fail(*rd.node("field"), path + ": unknown field '" + f + "' (no parser states it; the fields are listed in common/proto/names.h)");
      }
    }
    for (const auto& src : r.info.sources) {
      const auto n = proto::source_name::find(src);
      if (!n || *n == proto::source_name("rule")) {
        rd.fail(*rd.node("source"), path + ": unknown source '" + src + "' (the sources are listed in common/proto/names.h)");
      }
      r.sources.push_back(*n);
    }
    r.icase = rd.boolean("icase").value_or(false);

    static constexpr std::pair<const char*, match_kind> kinds[] = {
        {"equals", match_kind::equals},
        {"prefix", match_kind::prefix},
        {"contains", match_kind::contains},
        {"regex", match_kind::regex},
    };
    const toml::node* matcher_node = nullptr;
    for (const auto& [key, kind] : kinds) {
      const toml::node* n = t.get(key);
      const auto v = rd.get_string(key);
      if (!v) {
        continue;
      }
      if (matcher_node != nullptr) {
        rd.fail(*n, path + " has more than one of equals, prefix, contains, regex");
      }
      if (v->empty()) {
        rd.fail(*n, path + ": an empty " + key + " would match everything");
      }
      matcher_node = n;
      r.kind = kind;
      r.pattern = *v;
    }
    if (matcher_node == nullptr) {
      rd.fail_here(path + " needs one of equals, prefix, contains, regex");
    }
    unsigned groups = 0;
    if (r.kind == match_kind::regex) {
      if (const auto why = compile_regex(r.pattern, r.icase, r.re); !why.empty()) {
        rd.fail(*matcher_node, path + ": " + why);
      }
      groups = static_cast<unsigned>(r.re->NumberOfCapturingGroups());
    } else if (r.icase) {
      r.pattern = lowered(r.pattern);
    }
    r.also = rd.get_strings("also");
    r.unless = rd.get_strings("unless");
    if (r.icase) {
      for (auto& a : r.also) {
        a = lowered(a);
      }
      for (auto& u : r.unless) {
        u = lowered(u);
      }
    }

    const auto rule_conf = rd.confidence("confidence");
    const toml::node* set_node = rd.node("set");
    if (set_node == nullptr) {
      rd.fail_here(path + " needs a set table (its outputs)");
    }
    const auto* set = set_node->as_table();
    if (set == nullptr || set->empty()) {
      rd.fail(*set_node, path + ": set must be a non-empty table of output fields");
    }
    rd.done();

    for (const auto& [k, v] : *set) {
      const std::string key(k.str());
      if (!in_vocabulary(output_fields, key)) {
        rd.fail(v, path + ": unknown output field '" + key +
                        "' (os_family, os_name, os_version, device_type, vendor, model, firmware, module_vendor)");
      }
      output o;
      o.field = *proto::field_name::find(key);  // every output field is in the vocabulary
      std::string value;
      std::optional<std::uint8_t> conf = rule_conf;
      if (v.is_string()) {
        value = v.as_string()->get();
      } else if (const auto* vt = v.as_table()) {
        reader ord(*vt, path + " set." + key, name);
        const auto s = ord.get_string("value");
        if (!s) {
          ord.fail_here(path + " set." + key + " needs a value");
        }
        value = *s;
        if (const auto c = ord.confidence("confidence")) {
          conf = c;
        }
        ord.done();
      } else {
        rd.fail(v, path + " set." + key + " must be a string or {value, confidence}");
      }
      if (!conf) {
        rd.fail(v, path + " set." + key + " has no confidence (give the rule one, or this output)");
      }
      o.confidence = *conf;
      bool refs = false;
      o.value = parse_template(value, groups, rd, v, refs);
      const bool vocab_field = key == "os_family" || key == "device_type";
      if (vocab_field && refs) {
        rd.fail(v, path + ": " + key + " must be a fixed value from the vocabulary, not a $ reference");
      }
      if (key == "os_family" && !in_vocabulary(os_families, value)) {
        rd.fail(v, path + ": '" + value + "' is not an os_family of the vocabulary (common/fp/rules.h)");
      }
      if (key == "device_type" && device_class_of(value).empty()) {
        rd.fail(v, path + ": '" + value + "' is not a device_type of the vocabulary (common/fp/rules.h)");
      }
      if (!refs && trim(value).empty()) {
        rd.fail(v, path + " set." + key + " is empty");
      }
      if (r.kind == match_kind::regex) {
        for (const auto& seg : o.value) {
          r.submatches = std::max(r.submatches, seg.group + 1);
        }
      }
      r.outputs.push_back(std::move(o));
    }
    into.rules.push_back(std::move(r));
  }
}

void check_unique(const rule_set::impl& s) {
  std::map<std::string_view, const rule_info*> seen;
  for (const auto& r : s.rules) {
    const auto [it, inserted] = seen.emplace(r.info.id, &r.info);
    if (!inserted) {
      throw rules_error(r.info.file, r.info.line, 1,
                        "duplicate rule id '" + r.info.id + "' (first at " + it->second->file + ":" +
                            std::to_string(it->second->line) + ")");
    }
  }
}

}  // namespace

rule_set::rule_set() : impl_(std::make_unique<impl>()) {}
rule_set::~rule_set() = default;
rule_set::rule_set(rule_set&&) noexcept = default;
rule_set& rule_set::operator=(rule_set&&) noexcept = default;

rule_set rule_set::parse(std::string_view text, const std::string& name) {
  rule_set s;
  parse_file(text, name, *s.impl_);
  s.impl_->files = 1;
  check_unique(*s.impl_);
  s.impl_->reindex();
  return s;
}

rule_set rule_set::load_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    throw rules_error(dir, 0, 0, "cannot read rules directory: " + ec.message());
  }
  for (const auto& e : it) {
    if (e.path().extension() == ".toml" && e.is_regular_file()) {
      files.push_back(e.path());
    }
  }
  std::sort(files.begin(), files.end());
  rule_set s;
  for (const auto& p : files) {
    std::ifstream in(p, std::ios::binary);
    if (!in) {
      throw rules_error(p.string(), 0, 0, std::string("cannot read rule file: ") + std::strerror(errno));
    }
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    parse_file(text, p.string(), *s.impl_);
    ++s.impl_->files;
  }
  check_unique(*s.impl_);
  s.impl_->reindex();
  return s;
}

std::size_t rule_set::size() const noexcept { return impl_->rules.size(); }
std::size_t rule_set::file_count() const noexcept { return impl_->files; }

std::vector<rule_info> rule_set::rules() const {
  std::vector<rule_info> out;
  out.reserve(impl_->rules.size());
  for (const auto& r : impl_->rules) {
    out.push_back(r.info);
  }
  return out;
}

const rule_info* rule_set::find(std::string_view id) const noexcept {
  for (const auto& r : impl_->rules) {
    if (r.info.id == id) {
      return &r.info;
    }
  }
  return nullptr;
}

void rule_set::apply(proto::source_name source, proto::field_name field, std::string_view value,
                     std::vector<derived_fact>& out) const {
  if (field.id() >= impl_->by_field.size() || impl_->by_field[field.id()].empty()) {
    return;
  }
  const auto& candidates = impl_->by_field[field.id()];
  if (value.size() > max_value_len) {
    value = value.substr(0, max_value_len);
  }
  // $0..$9: the only groups a template can name (parse_template).
  std::array<re2::StringPiece, 10> m;
  const re2::StringPiece text(value.data(), value.size());
  for (const std::uint32_t idx : candidates) {
    const auto& r = impl_->rules[idx];
    const auto& srcs = r.sources;
    if (!srcs.empty() && std::find(srcs.begin(), srcs.end(), source) == srcs.end()) {
      continue;
    }
    bool matched = false;
    switch (r.kind) {
      case match_kind::equals:
        matched = value.size() == r.pattern.size() && equal_at(value, 0, r.pattern, r.icase);
        break;
      case match_kind::prefix:
        matched = has_prefix(value, r.pattern, r.icase);
        break;
      case match_kind::contains:
        matched = has_substring(value, r.pattern, r.icase);
        break;
      case match_kind::regex:
        matched = r.re->Match(text, 0, text.size(), re2::RE2::UNANCHORED, m.data(), r.submatches);
        break;
    }
    if (!matched) {
      continue;
    }
    if (!std::all_of(r.also.begin(), r.also.end(),
                     [&](const std::string& a) { return has_substring(value, a, r.icase); })) {
      continue;
    }
    if (std::any_of(r.unless.begin(), r.unless.end(),
                    [&](const std::string& u) { return has_substring(value, u, r.icase); })) {
      continue;
    }
    for (const auto& o : r.outputs) {
      std::string v;
      for (const auto& seg : o.value) {
        if (seg.group < 0) {
          v += seg.text;
        } else if (r.kind != match_kind::regex) {
          v += value;  // $0 of a plain matcher: the whole value
        } else if (const auto& sm = m[static_cast<std::size_t>(seg.group)]; sm.data() != nullptr) {
          v.append(sm.data(), sm.size());  // (a group that did not take part is null)
        }
      }
      const std::string_view tv = trim(v);
      if (tv.empty()) {
        continue;
      }
      out.push_back({o.field, std::string(tv), o.confidence, r.info.id});
    }
  }
}

}  // namespace tapsense::fp
