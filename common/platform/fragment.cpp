#include "common/platform/fragment.h"

#include <sstream>

#include <toml++/toml.h>

#include "common/platform/identity.h"

namespace tapsense::platform_client {

namespace {
constexpr const char* replaced[] = {"internal", "excluded", "monitored", "network"};

toml::table parse_or_throw(const std::string& text, const std::string& name) {
  try {
    return toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    throw fragment_error(name + ":" + std::to_string(b.line) + ":" + std::to_string(b.column) + ": " +
                         std::string(e.description()));
  }
}
}  // namespace

std::string merge_fragment(const std::string& local_text, const std::string& local_name,
                           const std::string& fragment) {
  toml::table local = parse_or_throw(local_text, local_name);
  const toml::table frag = parse_or_throw(fragment, "platform configuration");
  // Only the sections the platform owns.
  for (const auto& [k, v] : frag) {
    const std::string key(k.str());
    bool ok = false;
    for (const char* r : replaced) ok = ok || key == r;
    if (key == "capture") {
      const auto* t = v.as_table();
      if (t == nullptr) throw fragment_error("platform configuration: 'capture' must be a table");
      for (const auto& [ck, cv] : *t) {
        if (ck.str() != "interface") {
          throw fragment_error("platform configuration: 'capture." + std::string(ck.str()) +
                               "' is a local setting the platform cannot change");
        }
      }
      ok = true;
    }
    if (!ok) {
      throw fragment_error("platform configuration: '" + key +
                           "' is not one of the sections the platform sets (internal, excluded, monitored, "
                           "network, capture.interface)");
    }
  }
  for (const char* r : replaced) {
    local.erase(r);
    if (const auto* n = frag.get(r)) local.insert(r, *n);
  }
  if (const auto* fi = frag.at_path("capture.interface").as_array()) {
    toml::array merged;
    const toml::array* li = local.at_path("capture.interface").as_array();
    for (const auto& e : *fi) {
      const auto* ft = e.as_table();
      if (ft == nullptr) throw fragment_error("platform configuration: [[capture.interface]] entries must be tables");
      toml::table out;
      const auto name = (*ft)["name"].value<std::string>();
      if (li != nullptr && name) {
        for (const auto& l : *li) {
          if (const auto* lt = l.as_table(); lt != nullptr && (*lt)["name"].value<std::string>() == name) {
            out = *lt;
          }
        }
      }
      for (const auto& [fk, fv] : *ft) out.insert_or_assign(fk, fv);
      merged.push_back(std::move(out));
    }
    if (!local.contains("capture")) local.insert("capture", toml::table{});
    local["capture"].as_table()->insert_or_assign("interface", std::move(merged));
  }
  std::ostringstream s;
  s << local << "\n";
  return s.str();
}

config::config apply_fragment(const std::string& local_text, const std::string& local_name,
                              const std::string& fragment, const std::string& fragment_name) {
  return config::parse(merge_fragment(local_text, local_name, fragment), fragment_name);
}

config::config load_with_fragment(const std::string& path) {
  if (path.empty()) return config::defaults();
  config::config c = config::load(path);
  const auto frag = read_file(platform_dir(c.sensor.state_dir) + "/config.toml");
  if (!frag) return c;
  const auto local = read_file(path);
  config::config merged = apply_fragment(local.value_or(""), path, *frag,
                                         path + " with the platform's " + platform_dir(c.sensor.state_dir) +
                                             "/config.toml");
  merged.source = path;
  return merged;
}

}  // namespace tapsense::platform_client
