#include "common/fp/oui.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace tapsense::fp {

namespace {

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    throw std::runtime_error("oui registry: cannot open " + path + ": " + std::strerror(errno));
  }
  std::ostringstream s;
  s << f.rdbuf();
  if (f.bad()) {
    throw std::runtime_error("oui registry: cannot read " + path);
  }
  return std::move(s).str();
}

// One RFC 4180 record from text[pos...]: fields separated by ',', optionally
// quoted with '"' ("" inside quotes is a quote), quoted fields may span lines,
// records end with CRLF or LF. Returns false at the end of the text. `ok` is
// cleared when a quote is never closed (the rest of the file is then one
// field). `fields` keeps its capacity from record to record.
bool next_record(std::string_view text, std::size_t& pos, std::vector<std::string>& fields,
                 std::size_t& count, bool& ok) {
  count = 0;
  ok = true;
  if (pos >= text.size()) {
    return false;
  }
  for (;;) {
    if (count == fields.size()) {
      fields.emplace_back();
    }
    std::string& field = fields[count];
    ++count;
    field.clear();
    if (pos < text.size() && text[pos] == '"') {
      ++pos;
      for (;;) {
        const auto q = text.find('"', pos);
        if (q == std::string_view::npos) {
          field.append(text.substr(pos));
          pos = text.size();
          ok = false;
          return true;
        }
        field.append(text.substr(pos, q - pos));
        pos = q + 1;
        if (pos < text.size() && text[pos] == '"') {
          field += '"';
          ++pos;
          continue;
        }
        break;
      }
    }
    // Unquoted text, or stray text after a closing quote: taken literally.
    const auto stop = text.find_first_of(",\r\n", pos);
    const auto end = stop == std::string_view::npos ? text.size() : stop;
    field.append(text.substr(pos, end - pos));
    pos = end;
    if (pos >= text.size()) {
      return true;
    }
    if (text[pos] == ',') {
      ++pos;
      continue;
    }
    if (text[pos] == '\r') {
      ++pos;
    }
    if (pos < text.size() && text[pos] == '\n') {
      ++pos;
    }
    return true;
  }
}

std::string_view trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) {
    return {};
  }
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::optional<std::uint64_t> parse_hex(std::string_view s) {
  std::uint64_t v = 0;
  for (char c : s) {
    std::uint64_t d = 0;
    if (c >= '0' && c <= '9') {
      d = static_cast<std::uint64_t>(c - '0');
    } else if (c >= 'A' && c <= 'F') {
      d = static_cast<std::uint64_t>(c - 'A' + 10);
    } else if (c >= 'a' && c <= 'f') {
      d = static_cast<std::uint64_t>(c - 'a' + 10);
    } else {
      return std::nullopt;
    }
    v = (v << 4) | d;
  }
  return v;
}

// Prefix length in hex digits for a registry name; 0 when unknown.
std::size_t digits_for(std::string_view registry) {
  if (registry == "MA-L") {
    return 6;
  }
  if (registry == "MA-M") {
    return 7;
  }
  if (registry == "MA-S" || registry == "IAB") {
    return 9;
  }
  return 0;
}

}  // namespace

void oui_registry::load_file(const std::string& path, std::size_t& kept) {
  const std::string text = read_file(path);
  std::vector<std::string> fields;
  std::size_t count = 0;
  // A UTF-8 byte order mark, as spreadsheet exports write it.
  std::size_t pos = text.starts_with("\xEF\xBB\xBF") ? 3 : 0;
  bool ok = true;
  bool first = true;
  while (next_record(text, pos, fields, count, ok)) {
    if (first) {
      first = false;
      if (count >= 1 && trim(fields[0]) == "Registry") {
        continue;  // header line
      }
    }
    if (count == 1 && trim(fields[0]).empty()) {
      continue;  // blank line
    }
    if (!ok || count != 4) {
      ++stats_.malformed;
      continue;
    }
    const std::size_t digits = digits_for(trim(fields[0]));
    const std::string_view assignment = trim(fields[1]);
    const std::string_view org = trim(fields[2]);
    const auto prefix = parse_hex(assignment);
    if (digits == 0 || assignment.size() != digits || !prefix || org.empty() ||
        org.size() > UINT32_MAX || names_.size() > UINT32_MAX - org.size()) {
      ++stats_.malformed;
      continue;
    }
    prefix_map& map = digits == 6 ? by24_ : digits == 7 ? by28_ : by36_;
    const name_ref ref{static_cast<std::uint32_t>(names_.size()),
                       static_cast<std::uint32_t>(org.size())};
    if (!map.try_emplace(*prefix, ref).second) {
      ++stats_.duplicates;
      continue;
    }
    names_.append(org);
    ++kept;
  }
  if (kept == 0) {
    throw std::runtime_error("oui registry: no entries in " + path);
  }
}

oui_registry oui_registry::load(const std::string& dir) {
  oui_registry r;
  // Sized for ieee-data 2022 (32.5k MA-L, 4.4k MA-M, 9.6k MA-S + IAB) so
  // that loading never rehashes.
  r.by24_.reserve(40000);
  r.by28_.reserve(6000);
  r.by36_.reserve(12000);
  r.names_.reserve(1 << 20);
  const std::string base = dir.empty() || dir.back() == '/' ? dir : dir + "/";
  r.load_file(base + "oui.csv", r.stats_.ma_l);
  r.load_file(base + "mam.csv", r.stats_.ma_m);
  r.load_file(base + "oui36.csv", r.stats_.ma_s);
  r.load_file(base + "iab.csv", r.stats_.iab);
  r.names_.shrink_to_fit();
  return r;
}

std::optional<std::string_view> oui_registry::vendor(const net::mac_address& mac) const noexcept {
  if (mac.is_multicast() || mac.is_local()) {
    return std::nullopt;
  }
  const std::uint64_t v = mac.to_u64();
  if (auto it = by36_.find(v >> 12); it != by36_.end()) {
    return name(it->second);
  }
  if (auto it = by28_.find(v >> 20); it != by28_.end()) {
    return name(it->second);
  }
  if (auto it = by24_.find(v >> 24); it != by24_.end()) {
    return name(it->second);
  }
  return std::nullopt;
}

std::size_t oui_registry::size() const noexcept {
  return by24_.size() + by28_.size() + by36_.size();
}

}  // namespace tapsense::fp
