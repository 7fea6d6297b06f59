#include "common/platform/spool.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "common/platform/identity.h"

namespace tapsense::platform_client {

namespace fs = std::filesystem;

spool::spool(const std::string& state_dir, std::uint64_t max_bytes)
    : dir_(platform_dir(state_dir) + "/spool"), max_bytes_(max_bytes) {
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
  for (auto id : pending()) {
    last_ = std::max(last_, id);
    std::error_code sec;
    const auto n = fs::file_size(path(id), sec);
    if (!sec) bytes_ += n;
  }
  dropped_ = read_dropped(dir_);
}

spool::drops spool::read_dropped(const std::string& spool_dir) {
  drops d;
  try {
    if (auto s = read_file(spool_dir + "/dropped")) {
      const auto sp = s->find(' ');
      if (sp != std::string::npos) {
        d.reports = std::stoull(s->substr(0, sp));
        d.bytes = std::stoull(s->substr(sp + 1));
      }
    }
  } catch (const std::exception&) {
    // A damaged count starts again from zero.
  }
  return d;
}

spool::drops spool::dropped() const {
  std::lock_guard lk(mu_);
  return dropped_;
}

std::uint64_t spool::bytes() const {
  std::lock_guard lk(mu_);
  return bytes_;
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
  bytes_ += body.size();
  if (max_bytes_ != 0 && bytes_ > max_bytes_) {
    // Oldest first, never the report just made.
    drops now;
    for (auto old : pending()) {
      if (bytes_ <= max_bytes_ || old == id) break;
      std::error_code ec;
      const auto n = fs::file_size(path(old), ec);
      if (ec) continue;
      if (!fs::remove(path(old), ec) || ec) continue;
      bytes_ -= std::min(bytes_, static_cast<std::uint64_t>(n));
      ++now.reports;
      now.bytes += n;
    }
    if (now.reports != 0) count_dropped(now.reports, now.bytes);
  }
  return id;
}

void spool::count_dropped(std::uint64_t reports, std::uint64_t bytes) {
  dropped_.reports += reports;
  dropped_.bytes += bytes;
  write_file_atomic(dir_ + "/dropped", std::to_string(dropped_.reports) + " " + std::to_string(dropped_.bytes) + "\n",
                    0600);
}

bool spool::split(std::uint64_t id, std::size_t parts,
                  const std::function<std::string(std::size_t, std::uint64_t)>& make) {
  std::lock_guard lk(mu_);
  std::error_code ec;
  const auto old_bytes = fs::file_size(path(id), ec);
  if (ec) return false;
  // The parts first, then the original goes: a crash in between leaves the
  // original too, which the platform cannot store anyway (too large).
  for (std::size_t i = 0; i < parts; ++i) {
    const std::uint64_t nid = last_ + 1;
    const auto body = make(i, nid);
    write_file_atomic(path(nid), body, 0600);
    write_file_atomic(dir_ + "/last-id", std::to_string(nid) + "\n", 0600);
    last_ = nid;
    bytes_ += body.size();
  }
  if (fs::remove(path(id), ec) && !ec) bytes_ -= std::min(bytes_, static_cast<std::uint64_t>(old_bytes));
  return true;
}

void spool::drop(std::uint64_t id) {
  std::lock_guard lk(mu_);
  std::error_code ec;
  const auto n = fs::file_size(path(id), ec);
  if (ec || !fs::remove(path(id), ec) || ec) return;
  bytes_ -= std::min(bytes_, static_cast<std::uint64_t>(n));
  count_dropped(1, n);
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
  std::lock_guard lk(mu_);
  std::error_code ec;
  const auto n = fs::file_size(path(id), ec);
  if (!ec && fs::remove(path(id), ec) && !ec) bytes_ -= std::min(bytes_, static_cast<std::uint64_t>(n));
}

std::uint64_t spool::last_id() const {
  std::lock_guard lk(mu_);
  return last_;
}

}  // namespace tapsense::platform_client
