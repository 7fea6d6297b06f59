#pragma once
// The tag walk that the UPnP description (upnp.cpp) and WS-Discovery
// (wsd.cpp) parsers share. It is not an XML parser: it finds each '<...>' in
// a bounded view, names the element by its local name (after any namespace
// prefix), and gives the text up to the next '<' trimmed of blanks. No
// allocation; every read is bounded by the input. What a tag means, and
// whether a cut-off input matters, is the caller's.
#include <string_view>

namespace tapsense::proto::xml {

constexpr bool blank(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

constexpr std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

// Sets `slot` to `text` the first time (later instances are ignored); an
// element that was present but empty becomes "" (not a null view).
constexpr void first(std::string_view& slot, std::string_view text) noexcept {
  if (slot.data() == nullptr) slot = text.data() != nullptr ? text : std::string_view("", 0);
}

struct tag {
  std::string_view name;  // local name: "device" for <d:device ...>
  std::string_view raw;   // from '<' up to (not including) '>', attributes included
  bool end = false;       // </name>
  bool empty = false;     // <name/>: an element with nothing in it
  std::size_t after = 0;  // offset just past the '>'
};

// The text after a start tag, up to the next '<', trimmed. `cut` is true
// when no '<' follows: the text runs to the end of the input and may have
// been cut short (then `text` is the rest of the input, trimmed).
struct text_run {
  std::string_view text;
  bool cut = false;
};
inline text_run text_after(std::string_view x, const tag& t) noexcept {
  const std::size_t next = x.find('<', t.after);
  if (next == std::string_view::npos) return {trim(x.substr(t.after)), true};
  return {trim(x.substr(t.after, next - t.after)), false};
}

enum class walk_end { done, cut_in_tag, stopped };

// Calls visit(tag) for each start and end tag in document order, skipping
// declarations, comments and CDATA ("<?", "<!"); visit returns false to stop.
// cut_in_tag: the input ends inside a tag ("<", or no closing '>').
template <typename Visit>
walk_end walk(std::string_view x, Visit&& visit) {
  std::size_t i = 0;
  while (i < x.size()) {
    const std::size_t lt = x.find('<', i);
    if (lt == std::string_view::npos) return walk_end::done;
    if (lt + 1 >= x.size()) return walk_end::cut_in_tag;
    const std::size_t gt = x.find('>', lt + 1);
    if (gt == std::string_view::npos) return walk_end::cut_in_tag;
    i = gt + 1;
    const char c = x[lt + 1];
    if (c == '?' || c == '!') continue;
    tag t;
    t.end = c == '/';
    std::size_t s = lt + (t.end ? 2 : 1);
    std::size_t e = s;
    while (e < gt && !blank(x[e]) && x[e] != '/') ++e;
    t.name = x.substr(s, e - s);
    if (const auto colon = t.name.rfind(':'); colon != std::string_view::npos) t.name.remove_prefix(colon + 1);
    t.raw = x.substr(lt, gt - lt);
    t.empty = !t.end && x[gt - 1] == '/';
    t.after = gt + 1;
    if (!visit(t)) return walk_end::stopped;
  }
  return walk_end::done;
}

}  // namespace tapsense::proto::xml
