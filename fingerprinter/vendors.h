#pragma once
// Vendor-id tables the OT parsers name vendors with (CIP, BACnet, PROFINET),
// read from fingerprinter/data/*_vendors.toml.
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace tapsense::fingerprinter {

class vendor_table {
 public:
  // Throws std::runtime_error("file:line:col: reason") on a malformed file.
  static vendor_table load(const std::string& path);
  std::string_view name(std::uint32_t id) const noexcept {
    const auto it = names_.find(id);
    return it == names_.end() ? std::string_view{} : std::string_view(it->second);
  }
  std::size_t size() const noexcept { return names_.size(); }

 private:
  std::unordered_map<std::uint32_t, std::string> names_;
};

// Where the data files are: the configured directory, else the data folder
// installed beside the binaries, else the source tree's (build-tree runs).
std::string data_dir(const std::string& configured);

}  // namespace tapsense::fingerprinter
