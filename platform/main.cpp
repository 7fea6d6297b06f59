// tapsense-platform: the management side (ARCHITECTURE.md section 7).
//   serve --data DIR [--listen HOST:PORT] [--db URL] [--tls-cert F --tls-key F] [--poll-seconds N] [--code-hours H]
//         [--console DIR] [--threads N] [--max-reports N] [--smtp URL --smtp-from ADDR]
//         [--report-stale-minutes M]
//   Tests only: TAPSENSE_PLATFORM_CLOCK_FILE=F moves the platform's clock by
//   the whole seconds F holds (read at each use; README "Subscriptions").
//   user add --data DIR --name N --role admin|viewer [--db URL]   (password on stdin)
//   token add --data DIR --user N [--db URL]
#include <sys/stat.h>

#include <curl/curl.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>

#include "platform/console.h"
#include "platform/mailer.h"
#include "platform/server.h"
#include "platform/store.h"
#include "platform/tls.h"

namespace {

using namespace tapsense::platform;

enum exit_code { ok = 0, usage = 2, tls_failed = 3, listen_failed = 4, db_failed = 5, refused = 6 };

int usage_error(const std::string& why) {
  std::cerr << "tapsense-platform: " << why << "\n"
            << "usage: tapsense-platform serve --data DIR [--listen HOST:PORT] [--db postgresql://...] "
               "[--tls-cert F --tls-key F] [--poll-seconds N] [--code-hours H] [--console DIR]\n"
               "             [--threads N] [--max-reports N] [--smtp smtp://HOST:PORT --smtp-from ADDR] "
               "[--report-stale-minutes M]\n"
               "       tapsense-platform user add --data DIR --name N --role admin|viewer [--db URL]  "
               "(password on stdin)\n"
               "       tapsense-platform token add --data DIR --user N [--db URL]\n";
  return usage;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string mode;
  std::size_t i = 0;
  if (!args.empty() && args[0] == "serve") {
    mode = "serve";
    i = 1;
  } else if (args.size() >= 2 && (args[0] == "user" || args[0] == "token") && args[1] == "add") {
    mode = args[0];
    i = 2;
  } else {
    return usage_error(args.empty() ? "no command" : "unknown command '" + args[0] + "'");
  }
  static const std::map<std::string, std::vector<std::string>> allowed = {
      {"serve", {"--data", "--listen", "--db", "--tls-cert", "--tls-key", "--poll-seconds", "--code-hours",
                 "--console", "--threads", "--max-reports", "--smtp", "--smtp-from", "--report-stale-minutes"}},
      {"user", {"--data", "--db", "--name", "--role"}},
      {"token", {"--data", "--db", "--user"}}};
  std::map<std::string, std::string> opt;
  for (; i < args.size(); ++i) {
    const auto& a = args[i];
    const auto& ok_opts = allowed.at(mode);
    if (std::find(ok_opts.begin(), ok_opts.end(), a) == ok_opts.end()) {
      return usage_error("unknown option '" + a + "' for " + mode);
    }
    if (i + 1 >= args.size()) {
      return usage_error(a + " needs a value");
    }
    opt[a] = args[++i];
  }
  if (!opt.count("--data")) {
    return usage_error("--data DIR is required");
  }
  std::string dir = opt["--data"];
  std::error_code fec;
  std::filesystem::create_directories(dir, fec);
  if (fec) {
    std::cerr << "tapsense-platform: cannot create " << dir << ": " << fec.message() << "\n";
    return usage;
  }
  ::chmod(dir.c_str(), 0700);
  store_options so;
  auto num = [&](const char* name, long lo, long hi, long dflt) -> long {
    if (!opt.count(name)) {
      return dflt;
    }
    try {
      std::size_t used = 0;
      long v = std::stol(opt[name], &used);
      if (used == opt[name].size() && v >= lo && v <= hi) {
        return v;
      }
    } catch (...) {
    }
    throw std::invalid_argument(std::string(name) + ": expected " + std::to_string(lo) + "-" + std::to_string(hi));
  };
  try {
    so.poll_seconds = static_cast<unsigned>(num("--poll-seconds", 1, 3600, 30));
    so.code_ttl_seconds = num("--code-hours", 1, 24 * 365, 24) * 3600;
    so.report_stale_seconds = num("--report-stale-minutes", 1, 60 * 24 * 30, 60) * 60;
  } catch (const std::invalid_argument& e) {
    return usage_error(e.what());
  }
  if (const char* cf = std::getenv("TAPSENSE_PLATFORM_CLOCK_FILE"); cf != nullptr && *cf != 0) {
    // Tests only: the offset is read at each use, so a test moves time
    // (30 days of subscription grace) without restarting the platform.
    std::string file = cf;
    so.clock = [file]() {
      long long off = 0;
      std::ifstream f(file);
      f >> off;
      return store::wall_ns() + off * 1'000'000'000LL;
    };
    std::cerr << "tapsense-platform: clock offset from " << file << " (TAPSENSE_PLATFORM_CLOCK_FILE: tests only)\n";
  }
  std::unique_ptr<db> database;
  try {
    database = open_db(opt["--db"], dir);
  } catch (const std::exception& e) {
    std::cerr << "tapsense-platform: database: " << e.what() << "\n";
    return db_failed;
  }
  store s(*database, so);
  try {
    if (mode == "user") {
      if (!opt.count("--name") || !opt.count("--role")) {
        return usage_error("user add needs --name and --role");
      }
      std::string password;
      std::getline(std::cin, password);
      if (!password.empty() && password.back() == '\r') {
        password.pop_back();
      }
      s.add_user(opt["--name"], opt["--role"], password);
      std::cout << "user " << opt["--name"] << " (" << opt["--role"] << ") added\n";
      return ok;
    }
    if (mode == "token") {
      if (!opt.count("--user")) {
        return usage_error("token add needs --user");
      }
      std::cout << s.add_token(opt["--user"]) << "\n";
      return ok;
    }
  } catch (const store_error& e) {
    std::cerr << "tapsense-platform: " << e.what() << "\n";
    return refused;
  } catch (const db_error& e) {
    std::cerr << "tapsense-platform: database: " << e.what() << "\n";
    return db_failed;
  }
  server_options o;
  if (opt.count("--listen")) {
    o.listen = opt["--listen"];
  }
  if (opt.count("--tls-cert") != opt.count("--tls-key")) {
    return usage_error("--tls-cert and --tls-key go together");
  }
  if (opt.count("--tls-cert")) {
    o.cert = opt["--tls-cert"];
    o.key = opt["--tls-key"];
  } else {
    try {
      auto t = ensure_tls(dir);
      o.cert = t.cert;
      o.key = t.key;
      std::cout << "CA certificate: " << std::filesystem::absolute(t.ca).string()
                << (t.created ? " (created; " : " (") << "sensors pin it with --ca)" << std::endl;
    } catch (const std::exception& e) {
      std::cerr << "tapsense-platform: " << e.what() << "\n";
      return tls_failed;
    }
  }
  set_console_dir(opt.count("--console") ? opt["--console"] : default_console_dir());
  unsigned threads = 4;
  mail_options mo;
  try {
    threads = static_cast<unsigned>(num("--threads", 1, 256, 4));
    o.max_reports = static_cast<unsigned>(num("--max-reports", 1, 100000, 2 * static_cast<long>(threads)));
  } catch (const std::invalid_argument& e) {
    return usage_error(e.what());
  }
  if (opt.count("--smtp") != opt.count("--smtp-from")) {
    return usage_error("--smtp and --smtp-from go together");
  }
  if (opt.count("--smtp")) {
    mo.smtp_url = opt["--smtp"];
    mo.from = opt["--smtp-from"];
    if (mo.smtp_url.rfind("smtp://", 0) != 0 && mo.smtp_url.rfind("smtps://", 0) != 0) {
      return usage_error("--smtp: expected smtp://HOST:PORT or smtps://HOST:PORT, got " + mo.smtp_url);
    }
    if (mo.from.find('@') == std::string::npos || mo.from.find_first_of("<>\r\n ") != std::string::npos) {
      return usage_error("--smtp-from: expected an address user@domain, got " + mo.from);
    }
  }
  // One database connection per worker thread and one for the mailer.
  std::vector<std::unique_ptr<db>> dbs;
  std::vector<std::unique_ptr<store>> stores;
  std::vector<store*> workers;
  try {
    for (unsigned k = 0; k < threads + 1; ++k) {
      dbs.push_back(k == 0 ? std::move(database) : open_db(opt["--db"], dir));
      stores.push_back(std::make_unique<store>(*dbs.back(), so));
      if (k < threads) {
        workers.push_back(stores.back().get());
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "tapsense-platform: database: " << e.what() << "\n";
    return db_failed;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int rc = 0;
  {
    mailer m(*stores.back(), mo);
    rc = serve(workers, o);
  }
  curl_global_cleanup();
  return rc;
}
