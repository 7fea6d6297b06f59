#include "common/proto/ssdp.h"

#include <array>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace tapsense::proto {

static_assert(std::is_trivially_copyable_v<ssdp_message>);

namespace {

char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) {
      return false;
    }
  }
  return true;
}

void set_first(std::string_view& field, std::string_view value) noexcept {
  if (field.data() == nullptr) {
    field = value;
  }
}

}  // namespace

http_error parse_ssdp(std::span<const std::uint8_t> in, ssdp_message& out) noexcept {
  out = ssdp_message{};
  parse_http(in, out.http, true);
  const http_message& h = out.http;
  if (h.kind == http_kind::none) {
    return h.error;
  }
  if (h.kind == http_kind::request) {
    out.kind = h.method == "NOTIFY"     ? ssdp_kind::notify
               : h.method == "M-SEARCH" ? ssdp_kind::msearch
                                        : ssdp_kind::other;
  } else {
    out.kind = h.status == 200 ? ssdp_kind::response : ssdp_kind::other;
  }
  for (const auto& f : h.header_list()) {
    const std::string_view n = f.name;
    if (iequals(n, "host")) {
      set_first(out.host, f.value);
    } else if (iequals(n, "server")) {
      set_first(out.server, f.value);
    } else if (iequals(n, "user-agent") || iequals(n, "x-user-agent")) {
      set_first(out.user_agent, f.value);
    } else if (iequals(n, "usn")) {
      set_first(out.usn, f.value);
    } else if (iequals(n, "location")) {
      set_first(out.location, f.value);
    } else if (iequals(n, "nt")) {
      set_first(out.nt, f.value);
    } else if (iequals(n, "nts")) {
      set_first(out.nts, f.value);
    } else if (iequals(n, "st")) {
      set_first(out.st, f.value);
    } else if (iequals(n, "man")) {
      set_first(out.man, f.value);
    } else if (iequals(n, "cache-control")) {
      set_first(out.cache_control, f.value);
    }
  }
  if (out.usn.size() > 5 && iequals(out.usn.substr(0, 5), "uuid:")) {
    const std::string_view rest = out.usn.substr(5);
    out.uuid = rest.substr(0, rest.find("::"));
  }
  return h.error;
}

namespace {

class emitter {
 public:
  explicit emitter(fact_sink& sink) : sink_(sink) {}
  void add(field_name field, std::string_view raw, std::uint8_t confidence) {
    std::string value = printable(raw);
    if (value.empty()) {
      return;
    }
    for (const auto& s : seen_) {
      if (s.first == field && s.second == value) {
        return;
      }
    }
    seen_.emplace_back(field, value);
    fact f;
    f.about = subject::sender;
    f.source = "ssdp";
    f.field = field;
    f.value = std::move(value);
    f.confidence = confidence;
    sink_.add(std::move(f));
  }
  void software(std::string_view value, std::uint8_t confidence) {
    std::array<std::string_view, 16> products;
    const std::size_t n = http_products(value, products);
    for (std::size_t i = 0; i < n; ++i) {
      add("software", products[i], confidence);
    }
  }

 private:
  fact_sink& sink_;
  std::vector<std::pair<std::string_view, std::string>> seen_;
};

}  // namespace

void ssdp_facts(const ssdp_message& m, const packet_view& /*pkt*/, fact_sink& sink) {
  if (m.kind == ssdp_kind::none) {
    return;
  }
  emitter out(sink);
  out.add("server", m.server, 90);
  out.software(m.server, 80);
  out.add("user_agent", m.user_agent, 90);
  out.software(m.user_agent, 70);
  out.add("usn", m.usn, 90);
  out.add("upnp_uuid", m.uuid, 90);
  out.add("location", m.location, 80);
  if (m.kind == ssdp_kind::notify) {
    out.add("ssdp_type", m.nt, 80);
  } else if (m.kind == ssdp_kind::response) {
    out.add("ssdp_type", m.st, 80);
  } else if (m.kind == ssdp_kind::msearch) {
    out.add("ssdp_search", m.st, 40);
  }
}

}  // namespace tapsense::proto
