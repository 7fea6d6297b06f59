#include "common/platform/spool.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "common/platform/identity.h"

namespace tapsense::platform_client {

namespace fs = std::filesystem;

spool::spool(const std::string& state_dir) : dir_(platform_dir(state_dir) + "/spool") {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw identity_error("cannot create " + dir_ + ": " + ec.message());
  if (auto s = read_file(dir_ + "/last-id")) {
    try {
      last_ = std::stoull(*s);
    } catch (const std::exception&) {
      throw identity_error(dir_ + "/last-id is damaged");
    }
  }
  // A report file the last-id write did not cover (a crash between the two
  // writes) still counts: ids never go back.
  for (auto id : pending()) last_ = std::max(last_, id);
}

std::string spool::path(std::uint64_t id) const {
  char name[40];
  std::snprintf(name, sizeof name, "/%020llu.report", static_cast<unsigned long long>(id));
  return dir_ + name;
}

std::uint64_t spool::add(const std::function<std::string(std::uint64_t)>& make) {
  std::lock_guard lk(mu_);
  const std::uint64_t id = last_ + 1;
  const std::string body = make(id);
  write_file_atomic(path(id), body, 0600);
  write_file_atomic(dir_ + "/last-id", std::to_string(id) + "\n", 0600);
  last_ = id;
  return id;
}

std::vector<std::uint64_t> spool::pending() const {
  std::vector<std::uint64_t> ids;
  std::error_code ec;
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const auto name = it->path().filename().string();
    if (name.size() != 27 || !name.ends_with(".report")) continue;
    const auto digits = name.substr(0, 20);
    if (digits.find_first_not_of("0123456789") != std::string::npos) continue;
    ids.push_back(std::stoull(digits));
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::optional<std::string> spool::read(std::uint64_t id) const { return read_file(path(id)); }

void spool::remove(std::uint64_t id) {
  std::error_code ec;
  fs::remove(path(id), ec);
}

std::uint64_t spool::last_id() const {
  std::lock_guard lk(mu_);
  return last_;
}

}  // namespace tapsense::platform_client
