#include "common/fp/rules.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
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

// Position of `needle` in `hay` at or after `from`; npos when absent.
std::size_t find_from(std::string_view hay, std::string_view needle, std::size_t from, bool icase) noexcept {
  if (!icase) {
    return hay.find(needle, from);
  }
  for (std::size_t i = from; i + needle.size() <= hay.size(); ++i) {
    if (equal_at(hay, i, needle, true)) {
      return i;
    }
  }
  return std::string_view::npos;
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

// ---- Regex screening ----

constexpr std::size_t max_pattern_len = 512;
constexpr unsigned max_bounded_repeat = 32;  // {n,m} with m above this counts as unbounded

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// A quantifier starting at p[i] ('*', '+', '?' or a well-formed "{n}",
// "{n,}", "{n,m}"), with an optional lazy '?'. Returns its length (0: none),
// and whether it is unbounded and whether it allows zero repetitions.
struct quantifier {
  std::size_t len = 0;
  bool unbounded = false;
  bool optional = false;  // minimum 0
};

quantifier read_quantifier(std::string_view p, std::size_t i) {
  quantifier q;
  if (i >= p.size()) {
    return q;
  }
  if (p[i] == '*' || p[i] == '+' || p[i] == '?') {
    q.len = 1;
    q.unbounded = p[i] != '?';
    q.optional = p[i] != '+';
  } else if (p[i] == '{') {
    std::size_t j = i + 1;
    unsigned lo = 0;
    std::size_t digits = 0;
    while (j < p.size() && is_digit(p[j])) {
      lo = std::min(lo * 10 + static_cast<unsigned>(p[j] - '0'), 100000u);
      ++j;
      ++digits;
    }
    if (digits == 0 || j >= p.size()) {
      return q;  // not a quantifier: std::regex will judge the brace
    }
    bool unbounded = false;
    if (p[j] == ',') {
      ++j;
      unsigned hi = 0;
      std::size_t hd = 0;
      while (j < p.size() && is_digit(p[j])) {
        hi = std::min(hi * 10 + static_cast<unsigned>(p[j] - '0'), 100000u);
        ++j;
        ++hd;
      }
      unbounded = hd == 0 || hi > max_bounded_repeat;
    } else {
      unbounded = lo > max_bounded_repeat;
    }
    if (j >= p.size() || p[j] != '}') {
      return q;
    }
    q.len = j + 1 - i;
    q.unbounded = unbounded;
    q.optional = lo == 0;
  }
  if (q.len != 0 && i + q.len < p.size() && p[i + q.len] == '?') {
    ++q.len;  // lazy
  }
  return q;
}

// Length of the character class starting at p[i] == '['; 0 when unterminated.
std::size_t class_len(std::string_view p, std::size_t i) {
  std::size_t j = i + 1;
  if (j < p.size() && p[j] == '^') {
    ++j;
  }
  for (; j < p.size(); ++j) {
    if (p[j] == '\\') {
      ++j;
    } else if (p[j] == ']') {
      return j + 1 - i;
    }
  }
  return 0;
}

// The top-level alternatives of a pattern ("a|b(c|d)" -> "a", "b(c|d)").
std::vector<std::string_view> branches(std::string_view p) {
  std::vector<std::string_view> out;
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '\\') {
      ++i;
    } else if (p[i] == '[') {
      const std::size_t n = class_len(p, i);
      if (n == 0) {
        break;
      }
      i += n - 1;
    } else if (p[i] == '(') {
      ++depth;
    } else if (p[i] == ')') {
      --depth;
    } else if (p[i] == '|' && depth == 0) {
      out.push_back(p.substr(start, i - start));
      start = i + 1;
    }
  }
  out.push_back(p.substr(start));
  return out;
}

// What the literal characters at the top level of one branch tell: `lead`,
// the run the branch starts with (every match starts with it), and `runs`,
// every maximal run (every match contains each). Lower-cased when icase.
struct literal_info {
  std::string lead;
  std::vector<std::string> runs;
};

literal_info literals(std::string_view p, bool icase) {
  literal_info out;
  std::string cur;
  bool leading = true;  // no non-literal atom seen yet
  const auto flush = [&] {
    if (leading) {
      out.lead = cur;
    }
    leading = false;
    if (!cur.empty()) {
      out.runs.push_back(cur);
    }
    cur.clear();
  };
  std::size_t i = 0;
  while (i < p.size()) {
    const char c = p[i];
    std::optional<char> literal;
    if (c == '\\') {
      if (i + 1 >= p.size()) {
        break;
      }
      const char e = p[i + 1];
      // Escaped punctuation is itself; letters and digits are classes,
      // anchors, control escapes or references.
      const bool alnum = (e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || is_digit(e);
      if (!alnum) {
        literal = e;
      }
      i += 2;
      if (e == 'x') {
        i += 2;
      } else if (e == 'u') {
        i += 4;
      } else if (e == 'c') {
        i += 1;
      }
      i = std::min(i, p.size());
    } else if (c == '[') {
      const std::size_t n = class_len(p, i);
      i = n == 0 ? p.size() : i + n;
    } else if (c == '(') {
      int depth = 0;
      for (; i < p.size(); ++i) {
        if (p[i] == '\\') {
          ++i;
        } else if (p[i] == '[') {
          const std::size_t n = class_len(p, i);
          if (n == 0) {
            i = p.size();
            break;
          }
          i += n - 1;
        } else if (p[i] == '(') {
          ++depth;
        } else if (p[i] == ')' && --depth == 0) {
          ++i;
          break;
        }
      }
    } else if (std::strchr("^$.*+?{}]|", c) != nullptr) {
      ++i;
    } else {
      literal = c;
      ++i;
    }
    const quantifier q = read_quantifier(p, i);
    if (literal && q.len == 0) {
      cur.push_back(icase ? lower(*literal) : *literal);
      continue;
    }
    if (literal && !q.optional) {
      cur.push_back(icase ? lower(*literal) : *literal);  // at least once, then a break
    }
    flush();
    i = std::min(i + q.len, p.size());
  }
  flush();
  return out;
}

// Refuses patterns whose backtracking can blow up (see rules.h). Returns an
// empty string when the pattern is acceptable.
std::string regex_hazard(std::string_view p) {
  if (p.size() > max_pattern_len) {
    return "regex longer than " + std::to_string(max_pattern_len) + " bytes";
  }
  struct frame {
    bool quantified_inside = false;
    bool alternation = false;
  };
  std::vector<frame> stack(1);
  int wide_unbounded = 0;
  std::size_t i = 0;
  while (i < p.size()) {
    const char c = p[i];
    bool atom = true;
    bool wide = false;
    bool complex_group = false;
    if (c == '*' || c == '+' || c == '?' || (c == '{' && read_quantifier(p, i).len != 0)) {
      // std::regex takes "a**" as a repeat of a repeat: exponential.
      return "a quantifier must follow an atom (no stacked quantifiers such as 'a**' or 'a+{2}')";
    }
    if (c == '\\') {
      if (i + 1 >= p.size()) {
        return "regex ends with a lone backslash";
      }
      const char e = p[i + 1];
      if (e >= '1' && e <= '9') {
        return "backreferences are not allowed in rule regexes";
      }
      wide = e == 'S' || e == 'W' || e == 'D';
      atom = e != 'b' && e != 'B';
      i += 2;
    } else if (c == '[') {
      const std::size_t n = class_len(p, i);
      if (n == 0) {
        return "unterminated character class";
      }
      wide = i + 1 < p.size() && p[i + 1] == '^';
      i += n;
    } else if (c == '(') {
      stack.emplace_back();
      ++i;
      if (i < p.size() && p[i] == '?') {
        i += (i + 1 < p.size()) ? 2 : 1;  // (?: (?= (?!
      }
      continue;
    } else if (c == ')') {
      if (stack.size() == 1) {
        return "unbalanced ')'";
      }
      const frame f = stack.back();
      stack.pop_back();
      complex_group = f.quantified_inside || f.alternation;
      stack.back().quantified_inside |= f.quantified_inside;
      stack.back().alternation |= f.alternation;
      ++i;
    } else if (c == '|') {
      stack.back().alternation = true;
      ++i;
      continue;
    } else if (c == '^' || c == '$') {
      atom = false;
      ++i;
    } else {
      wide = c == '.';
      ++i;
    }
    const quantifier q = read_quantifier(p, i);
    if (q.len == 0) {
      continue;
    }
    if (!atom) {
      return "quantifier after an anchor";
    }
    if (complex_group && q.unbounded) {
      return "nested quantifier: an unbounded repeat of a group that holds a quantifier or "
             "an alternation can take exponential time";
    }
    if (wide && q.unbounded && ++wide_unbounded > 1) {
      return "more than one unbounded repeat of a wide atom (., \\S, \\W, \\D, [^...]) "
             "can take polynomial time; use narrower classes or bounded repeats";
    }
    stack.back().quantified_inside = true;
    i += q.len;
  }
  if (stack.size() != 1) {
    return "unbalanced '('";
  }
  // Where matching may start: std::regex tries every position of the value,
  // so each alternative must start with '^' or with a literal (then only the
  // literal's occurrences are tried, see rule_set::apply).
  bool anchored = true;
  for (const auto b : branches(p)) {
    if (b.empty() || b[0] != '^') {
      anchored = false;
      if (literals(b, false).lead.empty()) {
        return "every alternative must start with '^' or a literal character, so that "
               "matching is tried only where it can begin";
      }
    }
  }
  if (wide_unbounded > 0 && !anchored) {
    return "an unbounded (or over " + std::to_string(max_bounded_repeat) +
           ") repeat of a wide atom (., \\S, \\W, \\D, [^...]) needs a pattern anchored with '^'";
  }
  return {};
}

// ---- Output templates ----

struct segment {
  std::string text;  // literal text, or
  int group = -1;    // a capture group number 0..9
};

struct output {
  std::string field;
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
    // Regex only: literal runs every match contains (checked first), the
    // run every match starts with, and whether every alternative is
    // anchored with '^'.
    std::vector<std::string> guards;
    std::string lead;
    bool anchored = false;
    std::optional<std::regex> re;
    std::vector<std::string> also;    // lower-cased when icase
    std::vector<std::string> unless;  // lower-cased when icase
    std::vector<output> outputs;
  };
  std::vector<rule> rules;
  std::map<std::string, std::vector<std::uint32_t>, std::less<>> by_field;
  std::size_t files = 0;

  void reindex() {
    by_field.clear();
    for (std::uint32_t i = 0; i < rules.size(); ++i) {
      for (const auto& f : rules[i].info.fields) {
        auto& v = by_field[f];
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
      if (const auto hazard = regex_hazard(r.pattern); !hazard.empty()) {
        rd.fail(*matcher_node, path + ": " + hazard);
      }
      try {
        auto flags = std::regex::ECMAScript;
        if (r.icase) {
          flags |= std::regex::icase;
        }
        r.re.emplace(r.pattern, flags);
      } catch (const std::regex_error& e) {
        rd.fail(*matcher_node, path + ": bad regex: " + e.what());
      }
      groups = static_cast<unsigned>(r.re->mark_count());
      const auto alts = branches(r.pattern);
      r.anchored = std::all_of(alts.begin(), alts.end(), [](std::string_view b) { return !b.empty() && b[0] == '^'; });
      if (alts.size() == 1) {
        auto li = literals(r.pattern, r.icase);
        r.lead = li.lead;
        for (auto& run : li.runs) {
          if (run.size() >= 2) {
            r.guards.push_back(std::move(run));
          }
        }
      }
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
                        "' (os_family, os_name, os_version, device_type, vendor, model, firmware)");
      }
      output o;
      o.field = key;
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
      if (key == "device_type" && !in_vocabulary(device_types, value)) {
        rd.fail(v, path + ": '" + value + "' is not a device_type of the vocabulary (common/fp/rules.h)");
      }
      if (!refs && trim(value).empty()) {
        rd.fail(v, path + " set." + key + " is empty");
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

namespace {

// Leftmost match of a rule's regex in `value`, tried only where one can
// start: at 0 for an anchored pattern, at each occurrence of the leading
// literal otherwise (match_prev_avail keeps \b and ^ right there).
bool regex_match_at(const rule_set::impl::rule& r, std::string_view value, std::cmatch& m) {
  for (const auto& g : r.guards) {
    if (!has_substring(value, g, r.icase)) {
      return false;
    }
  }
  const char* b = value.data();
  const char* e = b + value.size();
  using namespace std::regex_constants;
  if (r.anchored) {
    return std::regex_search(b, e, m, *r.re, match_continuous);
  }
  if (r.lead.empty()) {
    return std::regex_search(b, e, m, *r.re);
  }
  for (std::size_t pos = find_from(value, r.lead, 0, r.icase); pos != std::string_view::npos;
       pos = find_from(value, r.lead, pos + 1, r.icase)) {
    const auto flags = pos == 0 ? match_continuous : (match_continuous | match_prev_avail);
    if (std::regex_search(b + pos, e, m, *r.re, flags)) {
      return true;
    }
  }
  return false;
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

void rule_set::apply(std::string_view source, std::string_view field, std::string_view value,
                     std::vector<derived_fact>& out) const {
  const auto it = impl_->by_field.find(field);
  if (it == impl_->by_field.end()) {
    return;
  }
  if (value.size() > max_value_len) {
    value = value.substr(0, max_value_len);
  }
  std::cmatch m;
  for (const std::uint32_t idx : it->second) {
    const auto& r = impl_->rules[idx];
    const auto& srcs = r.info.sources;
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
        matched = regex_match_at(r, value, m);
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
        } else if (m[static_cast<std::size_t>(seg.group)].matched) {
          const auto& sm = m[static_cast<std::size_t>(seg.group)];
          v.append(sm.first, sm.second);
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
