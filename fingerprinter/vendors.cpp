#include "fingerprinter/vendors.h"

#include <toml++/toml.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>

#ifndef TAPSENSE_DATA_DIR
#define TAPSENSE_DATA_DIR ""
#endif

namespace tapsense::fingerprinter {

vendor_table vendor_table::load(const std::string& path) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    throw std::runtime_error(path + ":" + std::to_string(b.line) + ":" + std::to_string(b.column) + ": " +
                             std::string(e.description()));
  }
  vendor_table t;
  if (const auto* arr = root["vendor"].as_array()) {
    for (const auto& e : *arr) {
      const auto* tbl = e.as_table();
      const auto id = tbl ? (*tbl)["id"].value<std::int64_t>() : std::nullopt;
      const auto name = tbl ? (*tbl)["name"].value<std::string>() : std::nullopt;
      if (!id || !name || *id < 0) {
        const auto& b = e.source().begin;
        throw std::runtime_error(path + ":" + std::to_string(b.line) + ":" + std::to_string(b.column) +
                                 ": each [[vendor]] needs an id and a name");
      }
      t.names_[static_cast<std::uint32_t>(*id)] = *name;
    }
  }
  return t;
}

std::string data_dir(const std::string& configured) {
  if (!configured.empty()) {
    return configured;
  }
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const auto installed = exe.parent_path().parent_path() / "share" / "tapsense";
    if (std::filesystem::is_directory(installed, ec)) {
      return installed.string();
    }
  }
  return TAPSENSE_DATA_DIR;
}

}  // namespace tapsense::fingerprinter
