#include "supervisor/backup.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <SQLiteCpp/Database.h>
#include <toml++/toml.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "common/config/config.h"
#include "common/platform/identity.h"
#include "common/stage/exit_codes.h"
#include "supervisor/instance.h"

namespace tapsense::supervisor {

namespace fs = std::filesystem;

namespace {

constexpr const char* prog = "tapsense-supervisor";
constexpr const char* format = "tapsense-backup 1";

int fail(int code, const std::string& msg) {
  std::fprintf(stderr, "%s: %s\n", prog, msg.c_str());
  return code;
}

// Runs tar with these arguments; true on success.
bool tar(const std::vector<std::string>& args) {
  const pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {
    std::vector<char*> argv;
    std::string t = "tar";
    argv.push_back(t.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp("tar", argv.data());
    ::_exit(127);
  }
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

struct temp_dir {
  std::string path;
  temp_dir() {
    char tmpl[] = "/tmp/tapsense-backup.XXXXXX";
    if (::mkdtemp(tmpl) != nullptr) path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
};

std::string db_path(const config::config& c) {
  return c.uplink.database.empty() ? c.sensor.state_dir + "/inventory.sqlite" : c.uplink.database;
}

}  // namespace

int backup_sensor(const std::string& file, const std::string& config_path) {
  if (config_path.empty()) return fail(exit_code::usage, "--backup needs --config FILE (the sensor's configuration)");
  config::config cfg;
  try {
    cfg = config::load(config_path);
  } catch (const config::config_error& e) {
    return fail(exit_code::config, e.what());
  }
  const auto& state = cfg.sensor.state_dir;
  if (!fs::exists(state)) return fail(exit_code::input, "state directory " + state + " does not exist: nothing to back up");
  // A running sensor holds its state directory: its spool and inventory move under us.
  std::string why;
  auto lock = lock_directory(state, "state directory", why);
  if (!lock.held()) return fail(exit_code::busy, why + "; stop the sensor first (systemctl stop tapsense)");
  temp_dir tmp;
  if (tmp.path.empty()) return fail(exit_code::unavailable, "cannot make a temporary directory in /tmp");
  std::error_code ec;
  fs::copy_file(config_path, tmp.path + "/tapsense.toml", ec);
  if (ec) return fail(exit_code::input, "cannot read " + config_path + ": " + ec.message());
  const std::string pdir = platform_client::platform_dir(state);
  const bool registered = fs::exists(pdir + "/identity");
  if (fs::exists(pdir)) {
    fs::copy(pdir, tmp.path + "/platform", fs::copy_options::recursive, ec);
    if (ec) return fail(exit_code::input, "cannot read " + pdir + ": " + ec.message());
  }
  const std::string db = db_path(cfg);
  bool have_db = false;
  if (fs::exists(db)) {
    try {
      SQLite::Database src(db, SQLite::OPEN_READONLY);
      src.backup((tmp.path + "/inventory.sqlite").c_str(), SQLite::Database::Save);
      have_db = true;
    } catch (const std::exception& e) {
      return fail(exit_code::input, "cannot copy the inventory " + db + ": " + e.what());
    }
  }
  if (fs::exists(state + "/events.jsonl")) fs::copy_file(state + "/events.jsonl", tmp.path + "/events.jsonl", ec);
  {
    std::ofstream m(tmp.path + "/MANIFEST");
    m << format << "\nsensor " << cfg.sensor.name << "\nconfig " << fs::absolute(config_path).string()
      << "\nstate_dir " << state << "\nregistered " << (registered ? "yes" : "no") << "\ninventory "
      << (have_db ? "yes" : "no") << "\n";
  }
  const std::string out = fs::absolute(file).string();
  const std::string part = out + ".part";
  const mode_t old = ::umask(077);
  const bool ok = tar({"-czf", part, "-C", tmp.path, "."});
  ::umask(old);
  if (!ok) {
    fs::remove(part, ec);
    return fail(exit_code::unavailable, "cannot write " + out);
  }
  fs::rename(part, out, ec);
  if (ec) return fail(exit_code::unavailable, "cannot write " + out + ": " + ec.message());
  std::printf("backed up sensor %s (%s, inventory %s) to %s\n", cfg.sensor.name.c_str(),
              registered ? "registered" : "not registered", have_db ? "included" : "empty", out.c_str());
  return exit_code::ok;
}

int restore_sensor(const std::string& file, const std::string& config_path, const std::string& state_dir) {
  if (config_path.empty()) {
    return fail(exit_code::usage, "--restore needs --config FILE (where the restored configuration goes)");
  }
  if (::access(file.c_str(), R_OK) != 0) return fail(exit_code::input, "cannot read " + file);
  temp_dir tmp;
  if (tmp.path.empty()) return fail(exit_code::unavailable, "cannot make a temporary directory in /tmp");
  if (!tar({"-xzf", fs::absolute(file).string(), "-C", tmp.path})) {
    return fail(exit_code::input, file + ": not a tapsense backup (tar.gz unreadable)");
  }
  std::string first;
  {
    std::ifstream m(tmp.path + "/MANIFEST");
    std::getline(m, first);
  }
  if (first != format || !fs::exists(tmp.path + "/tapsense.toml")) {
    return fail(exit_code::input, file + ": not a tapsense backup (no \"" + std::string(format) + "\" manifest)");
  }
  // The configuration, pointed at the new state directory if one is given.
  std::string text;
  {
    std::ifstream f(tmp.path + "/tapsense.toml");
    std::stringstream ss;
    ss << f.rdbuf();
    text = ss.str();
  }
  if (!state_dir.empty()) {
    try {
      auto t = toml::parse(text);
      if (!t["sensor"].is_table()) t.insert("sensor", toml::table{});
      t["sensor"].as_table()->insert_or_assign("state_dir", fs::absolute(state_dir).string());
      std::ostringstream o;
      o << "# Restored by tapsense-supervisor --restore (state_dir set to the restored state).\n"
        << toml::toml_formatter(t) << '\n';
      text = o.str();
    } catch (const toml::parse_error& e) {
      return fail(exit_code::input, file + ": its configuration does not parse: " + std::string(e.description()));
    }
  }
  const std::string staged = tmp.path + "/restored.toml";
  {
    std::ofstream f(staged);
    f << text;
  }
  config::config cfg;
  try {
    cfg = config::load(staged);
  } catch (const config::config_error& e) {
    return fail(exit_code::config, std::string("the backed-up configuration: ") + e.what());
  }
  const auto& state = cfg.sensor.state_dir;
  const std::string pdir = platform_client::platform_dir(state);
  if (fs::exists(pdir + "/identity")) {
    return fail(exit_code::busy, state + " already holds a registered sensor (" + pdir +
                                     "/identity): restore into a fresh state directory");
  }
  std::error_code ec;
  fs::create_directories(state, ec);
  if (ec) return fail(exit_code::unavailable, "cannot create " + state + ": " + ec.message());
  std::string why;
  auto lock = lock_directory(state, "state directory", why);
  if (!lock.held()) return fail(exit_code::busy, why);
  const std::string db = db_path(cfg);
  if (fs::exists(db)) return fail(exit_code::busy, db + " already exists: restore into a fresh state directory");
  if (fs::exists(tmp.path + "/platform")) {
    fs::copy(tmp.path + "/platform", pdir, fs::copy_options::recursive | fs::copy_options::overwrite_existing, ec);
    if (ec) return fail(exit_code::unavailable, "cannot write " + pdir + ": " + ec.message());
    fs::permissions(pdir, fs::perms::owner_all, ec);
  }
  if (fs::exists(tmp.path + "/inventory.sqlite")) {
    fs::create_directories(fs::path(db).parent_path(), ec);
    fs::copy_file(tmp.path + "/inventory.sqlite", db, ec);
    if (ec) return fail(exit_code::unavailable, "cannot write " + db + ": " + ec.message());
  }
  if (fs::exists(tmp.path + "/events.jsonl")) {
    fs::copy_file(tmp.path + "/events.jsonl", state + "/events.jsonl", fs::copy_options::overwrite_existing, ec);
  }
  // The configuration last: a restore that failed above leaves the old one.
  const std::string target = fs::absolute(config_path).string();
  if (fs::path(target).has_parent_path()) fs::create_directories(fs::path(target).parent_path(), ec);
  fs::copy_file(staged, target, fs::copy_options::overwrite_existing, ec);
  if (ec) return fail(exit_code::unavailable, "cannot write " + target + ": " + ec.message());
  std::printf("restored sensor %s: configuration %s, state %s%s\n", cfg.sensor.name.c_str(), target.c_str(),
              state.c_str(), fs::exists(pdir + "/identity") ? " (registered: it carries on as the same sensor)" : "");
  return exit_code::ok;
}

}  // namespace tapsense::supervisor
