#pragma once
// Shared by the platform's unit tests: a fresh store on SQLite (temp dir) or
// on a real PostgreSQL 15 started for the test binary (initdb + pg_ctl as
// user postgres, a unix socket only), and a clock the tests move.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "platform/db.h"
#include "platform/store.h"

namespace platform_test {

using namespace tapsense::platform;

inline std::string temp_dir(const char* prefix) {
  std::string t = (std::filesystem::temp_directory_path() / (std::string(prefix) + "XXXXXX")).string();
  if (::mkdtemp(t.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed");
  }
  return t;
}

struct fixture {
  std::string dir;
  std::unique_ptr<db> d;
  std::int64_t t = 1'800'000'000'000'000'000LL;  // the test clock, ns
  std::unique_ptr<store> s;

  fixture(const std::string& url = "") : dir(temp_dir("tps-platform-")) {
    d = open_db(url, dir);
    store_options o;
    o.poll_seconds = 30;
    o.clock = [this] { return t; };
    s = std::make_unique<store>(*d, o);
  }
  ~fixture() {
    s.reset();
    d.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  void advance_s(std::int64_t sec) { t += sec * 1'000'000'000LL; }
};

// A throwaway PostgreSQL 15 cluster; empty url() when it cannot run here
// (not root, or the postgresql-15 package absent): the caller skips.
class postgres {
 public:
  postgres() {
    const std::string bin = "/usr/lib/postgresql/15/bin";
    if (::geteuid() != 0 || !std::filesystem::exists(bin + "/initdb")) {
      why_ = "needs root and Debian's postgresql-15 (" + bin + ")";
      return;
    }
    dir_ = temp_dir("tps-pg-");
    std::string q = "'" + dir_ + "'";
    std::string cmd = "chown postgres " + q + " && runuser -u postgres -- " + bin + "/initdb -D " + dir_ +
                      "/data -A trust -U postgres --no-sync >" + q + "/initdb.log 2>&1 && mkdir -p " + dir_ +
                      "/sock && chown postgres " + dir_ + "/sock && runuser -u postgres -- " + bin +
                      "/pg_ctl -D " + dir_ + "/data -l " + dir_ + "/pg.log -w -o \"-c listen_addresses='' -k " +
                      dir_ + "/sock -c fsync=off\" start >" + q + "/pg_ctl.log 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      why_ = "could not start PostgreSQL (see " + dir_ + "/initdb.log, pg.log)";
      keep_ = true;
      return;
    }
    started_ = true;
  }
  ~postgres() {
    if (started_) {
      std::string cmd = "runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D " + dir_ +
                        "/data -m immediate -w stop >/dev/null 2>&1";
      (void)std::system(cmd.c_str());
    }
    if (!dir_.empty() && !keep_) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }
  postgres(const postgres&) = delete;
  postgres& operator=(const postgres&) = delete;
  bool running() const { return started_; }
  const std::string& why() const { return why_; }
  // A fresh database in the cluster, so each scenario starts empty.
  std::string fresh_database() {
    std::string name = "t" + std::to_string(++n_);
    std::string cmd = "runuser -u postgres -- /usr/lib/postgresql/15/bin/createdb -h " + dir_ + "/sock " + name;
    if (std::system(cmd.c_str()) != 0) {
      throw std::runtime_error("createdb failed");
    }
    return "postgresql://postgres@/" + name + "?host=" + dir_ + "/sock";
  }

 private:
  std::string dir_, why_;
  bool started_ = false, keep_ = false;
  int n_ = 0;
};

}  // namespace platform_test
