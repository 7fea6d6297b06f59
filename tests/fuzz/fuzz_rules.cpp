// The rules engine (common/fp/rules.h) on arbitrary bytes, two ways:
//  - first byte even: the rest is a rule's regex (escaped into a TOML basic
//    string), loaded and, when accepted, applied to the rest as a value:
//    exercises the loader's regex screening, literal extraction and the
//    matching fast paths;
//  - first byte odd: the rest is a fact value given to every field of the
//    shipped rule files (fingerprinter/data/rules, found from this file's
//    path): exercises apply() with the real rules.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/fp/rules.h"

namespace {

using tapsense::fp::derived_fact;
using tapsense::fp::rule_set;

const rule_set* shipped() {
  static const std::unique_ptr<rule_set> s = [] {
    std::string dir = __FILE__;
    dir = dir.substr(0, dir.rfind("/tests/fuzz/")) + "/fingerprinter/data/rules";
    try {
      return std::make_unique<rule_set>(rule_set::load_dir(dir));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "fuzz_rules: %s\n", e.what());
      return std::unique_ptr<rule_set>();
    }
  }();
  return s.get();
}

std::string toml_basic(std::string_view in) {
  std::string out;
  for (const unsigned char c : in) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  std::vector<derived_fact> out;
  if ((data[0] & 1) == 0) {
    const std::string text = "[[rule]]\nid = \"f\"\ncomment = \"fuzzed regex rule\"\nfield = \"banner\"\nregex = \"" +
                             toml_basic(rest) + "\"\nicase = " + ((data[0] & 2) != 0 ? "true" : "false") +
                             "\nconfidence = 50\nset = { model = \"$0\" }\n";
    try {
      const auto s = rule_set::parse(text, "fuzz.toml");
      s.apply({}, "banner", rest, out);
    } catch (const tapsense::fp::rules_error&) {
      // refused: fine
    }
    return 0;
  }
  if (const auto* s = shipped()) {
    for (const auto& r : s->rules()) {
      for (const auto& f : r.fields) {
        // (A loaded rule's names are in the vocabulary: the loader checked.)
        const auto src = tapsense::proto::source_name::find(r.sources.empty() ? "http" : r.sources[0]);
        s->apply(*src, *tapsense::proto::field_name::find(f), rest, out);
      }
    }
  }
  return 0;
}
