#include "common/fp/oui.h"

#include <cctype>
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

namespace {

struct known_vendor {
  std::string_view prefix;  // of the registry text, ASCII case-insensitive
  std::string_view brand;
  bool module;
};

// Longer prefixes of one organisation before shorter ones. Module and ODM
// makers: their blocks are in other brands' products (the list and
// the chip makers whose Wi-Fi SoCs carry their own OUI).
constexpr known_vendor known_vendors[] = {
    {"Espressif", "Espressif", true},
    {"Murata Manufacturing", "Murata", true},
    {"AzureWave", "AzureWave", true},
    {"Shanghai High-Flying", "Hi-Flying", true},
    {"Realtek", "Realtek", true},
    {"Universal Global Scientific", "USI", true},
    {"Quectel", "Quectel", true},
    {"Hon Hai Precision", "Foxconn", true},
    {"Foxconn", "Foxconn", true},
    {"Cloud Network Technology Singapore", "Foxconn", true},
    {"Chongqing Fugui Electronics", "Foxconn", true},
    {"Liteon", "Liteon", true},
    {"Lite-On", "Liteon", true},
    {"Texas Instruments", "Texas Instruments", true},
    {"Silicon Laboratories", "Silicon Labs", true},
    {"Nordic Semiconductor", "Nordic Semiconductor", true},
    {"Shenzhen Bilian", "LB-Link", true},
    {"Hui Zhou Gaoshengda", "Gaoshengda", true},
    {"Sichuan AI-Link", "AI-Link", true},
    {"Wistron Neweb", "WNC", true},
    {"u-blox", "u-blox", true},
    {"Telit", "Telit", true},
    {"Sierra Wireless", "Sierra Wireless", true},
    {"Fn-Link", "Fn-Link", true},
    {"AMPAK", "AMPAK", true},
    {"Beken", "Beken", true},
    {"MediaTek", "MediaTek", true},
    {"SAMJIN", "Samjin", true},  // ODM of Samsung SmartThings hubs and sensors
    {"Tuya Smart", "Tuya", false},
    {"TP-LINK", "TP-Link", false},
    {"TP-Link", "TP-Link", false},
    {"D-Link", "D-Link", false},
    {"Cisco Meraki", "Cisco Meraki", false},
    {"Cisco", "Cisco", false},
    {"Siemens", "Siemens", false},
    {"Apple", "Apple", false},
    {"Samsung", "Samsung", false},
    {"Huawei", "Huawei", false},
    {"Xiaomi", "Xiaomi", false},
    {"Beijing Xiaomi", "Xiaomi", false},
    {"Amazon Technologies", "Amazon", false},
    {"Google", "Google", false},
    {"Ubiquiti", "Ubiquiti", false},
    {"Routerboard.com", "MikroTik", false},
    {"Mikrotik", "MikroTik", false},
    {"Hangzhou Hikvision", "Hikvision", false},
    {"Zhejiang Dahua", "Dahua", false},
    {"Axis Communications", "Axis", false},
    {"Philips Lighting", "Signify (Philips Hue)", false},
    {"Signify", "Signify (Philips Hue)", false},
    {"Sonos", "Sonos", false},
    {"Rockwell Automation", "Rockwell Automation", false},
    {"Schneider Electric", "Schneider Electric", false},
    {"Beckhoff", "Beckhoff", false},
    {"Saia-Burgess", "Saia-Burgess", false},
    {"Phoenix Contact", "Phoenix Contact", false},
    {"Hewlett Packard Enterprise", "HPE", false},
    {"Hewlett Packard", "HP", false},
    {"HP Inc", "HP", false},
    {"Aruba", "Aruba", false},
    {"NETGEAR", "Netgear", false},
    {"ASUSTek", "ASUS", false},
    {"Dell", "Dell", false},
    {"Lenovo", "Lenovo", false},
    {"Microsoft", "Microsoft", false},
    {"Intel Corporate", "Intel", false},
    {"LG Electronics", "LG", false},
    {"LG Innotek", "LG Innotek", true},
    {"Sony Interactive", "Sony", false},
    {"Sony", "Sony", false},
    {"Nintendo", "Nintendo", false},
    {"Roku", "Roku", false},
    {"Ring LLC", "Ring", false},
    {"Belkin", "Belkin", false},
    {"Seiko Epson", "Epson", false},
    {"Brother Industries", "Brother", false},
    {"Canon", "Canon", false},
    {"Polycom", "Poly", false},
    {"Magicjack", "magicJack", false},
    {"Palo Alto Networks", "Palo Alto Networks", false},
    {"Fortinet", "Fortinet", false},
    {"Juniper", "Juniper", false},
    {"Raspberry Pi", "Raspberry Pi", false},
    {"VMware", "VMware", false},
    {"Synology", "Synology", false},
    {"QNAP", "QNAP", false},
};

bool iequal(char a, char b) {
  auto lc = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
  return lc(a) == lc(b);
}

bool istarts_with(std::string_view s, std::string_view p) {
  if (s.size() < p.size()) return false;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (!iequal(s[i], p[i])) return false;
  }
  return true;
}

bool iequals(std::string_view a, std::string_view b) { return a.size() == b.size() && istarts_with(a, b); }

constexpr std::string_view corporate_suffixes[] = {
    "inc",  "incorporated", "corp", "corporation", "co",  "company",       "ltd",          "limited",
    "llc",  "gmbh",         "ag",   "sa",          "s.a", "bv",            "b.v",          "ab",
    "oy",   "lp",           "plc",  "pte",         "kg",  "srl",           "s.p.a",        "spa",
    "as",   "a/s",          "nv",   "technologies", "technology", "networks", "systems", "international",
    "electronics", "communications", "trading", "holdings", "group", "industrial", "&", "co.,ltd", "co.,ltd.",
};

constexpr std::string_view leading_places[] = {
    "shenzhen", "hangzhou", "guangzhou", "beijing", "shanghai", "zhejiang", "guangdong", "xiamen",
    "suzhou",   "dongguan", "ningbo",    "chengdu", "qingdao",  "wuhan",    "nanjing",   "fujian",
    "jiangsu",  "sichuan",  "chongqing", "zhuhai",  "foshan",   "tianjin",
};

}  // namespace

vendor_name vendor_brand(std::string_view registry) {
  registry = trim(registry);
  for (const auto& k : known_vendors) {
    // A whole-word prefix: "Apple" is not "Applied ...".
    if (istarts_with(registry, k.prefix) &&
        (registry.size() == k.prefix.size() || !std::isalnum(static_cast<unsigned char>(registry[k.prefix.size()])))) {
      return {std::string(k.brand), k.module};
    }
  }
  // Generic: words before the first comma, suffixes and places stripped.
  std::string_view head = registry.substr(0, registry.find(','));
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < head.size()) {
    while (i < head.size() && (head[i] == ' ' || head[i] == '\t')) ++i;
    const std::size_t start = i;
    while (i < head.size() && head[i] != ' ' && head[i] != '\t') ++i;
    if (i > start) words.push_back(head.substr(start, i - start));
  }
  auto bare = [](std::string_view w) {
    while (!w.empty() && (w.back() == '.' || w.back() == ',')) w.remove_suffix(1);
    if (w.size() >= 2 && w.front() == '(' && w.back() == ')') w = w.substr(1, w.size() - 2);
    return w;
  };
  while (words.size() > 1) {
    bool cut = false;
    for (auto suffix : corporate_suffixes) {
      if (iequals(bare(words.back()), suffix)) {
        cut = true;
        break;
      }
    }
    if (!cut) break;
    words.pop_back();
  }
  if (words.size() > 1) {
    for (auto place : leading_places) {
      if (iequals(words.front(), place)) {
        words.erase(words.begin());
        break;
      }
    }
  }
  std::string out;
  for (auto w : words) {
    w = bare(w);
    if (w.empty()) continue;
    if (!out.empty()) out += ' ';
    bool caps = w.size() >= 4;
    for (char c : w) {
      if (c >= 'a' && c <= 'z') caps = false;
    }
    for (std::size_t j = 0; j < w.size(); ++j) {
      char c = w[j];
      if (caps && j > 0 && c >= 'A' && c <= 'Z' && w[j - 1] != '-') c = static_cast<char>(c - 'A' + 'a');
      out += c;
    }
  }
  if (out.empty()) out = std::string(registry);
  return {out, false};
}

}  // namespace tapsense::fp
