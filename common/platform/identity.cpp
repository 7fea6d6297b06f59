#include "common/platform/identity.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <toml++/toml.h>

namespace tapsense::platform_client {

namespace fs = std::filesystem;

std::string platform_dir(const std::string& state_dir) { return state_dir + "/platform"; }

void write_file_atomic(const std::string& path, const std::string& content, unsigned mode) {
  const fs::path p(path);
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, static_cast<mode_t>(mode));
  if (fd < 0) throw identity_error("cannot write " + tmp + ": " + std::strerror(errno));
  ::fchmod(fd, static_cast<mode_t>(mode));  // an existing file keeps its mode otherwise
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw identity_error("cannot write " + tmp + ": " + std::strerror(e));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    throw identity_error("cannot write " + tmp + ": " + std::strerror(e));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    throw identity_error("cannot rename " + tmp + ": " + std::strerror(e));
  }
  // The rename itself must survive a power cut.
  const std::string dir = p.parent_path().empty() ? "." : p.parent_path().string();
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    if (errno == ENOENT || !fs::exists(path)) return std::nullopt;
    throw identity_error("cannot read " + path + ": " + std::strerror(errno));
  }
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string ensure_uid(const std::string& state_dir) {
  const std::string path = platform_dir(state_dir) + "/uid";
  if (auto s = read_file(path)) {
    std::string u = s->substr(0, s->find('\n'));
    if (u.size() == 32 && u.find_first_not_of("0123456789abcdef") == std::string::npos) return u;
    throw identity_error(path + " is damaged (expected 32 hex digits); remove it to make a new sensor");
  }
  unsigned char b[16];
  std::ifstream r("/dev/urandom", std::ios::binary);
  if (!r.read(reinterpret_cast<char*>(b), sizeof b)) throw identity_error("cannot read /dev/urandom");
  static constexpr char hex[] = "0123456789abcdef";
  std::string u;
  for (unsigned char c : b) {
    u += hex[c >> 4];
    u += hex[c & 15];
  }
  write_file_atomic(path, u + "\n", 0600);
  return u;
}

namespace {
std::string str(const toml::table& t, const char* k, const std::string& path, bool required = true) {
  if (auto v = t[k].value<std::string>()) return *v;
  if (required) throw identity_error(path + ": '" + k + "' is missing; register the sensor again");
  return {};
}
std::uint64_t u64(const toml::table& t, const char* k) {
  if (auto v = t[k].value<std::int64_t>(); v && *v >= 0) return static_cast<std::uint64_t>(*v);
  return 0;
}
toml::table parse_file(const std::string& path, const std::string& text) {
  try {
    return toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    throw identity_error(path + " is damaged: " + std::string(e.description()));
  }
}
}  // namespace

std::optional<identity> load_identity(const std::string& state_dir) {
  const std::string path = platform_dir(state_dir) + "/identity";
  auto text = read_file(path);
  if (!text) return std::nullopt;
  const auto t = parse_file(path, *text);
  identity id;
  id.url = str(t, "url", path);
  id.sensor_id = str(t, "sensor_id", path);
  id.sensor_key = str(t, "sensor_key", path);
  id.uid = str(t, "uid", path);
  id.ca_pem = str(t, "ca", path);
  id.name = str(t, "name", path, false);
  id.location = str(t, "location", path, false);
  return id;
}

void save_identity(const std::string& state_dir, const identity& id) {
  toml::table t{{"url", id.url},          {"sensor_id", id.sensor_id}, {"sensor_key", id.sensor_key},
                {"uid", id.uid},          {"name", id.name},           {"location", id.location},
                {"ca", id.ca_pem}};
  std::ostringstream s;
  s << "# tapsense sensor identity: written by tapsense-supervisor --register; keep it secret\n" << t << "\n";
  write_file_atomic(platform_dir(state_dir) + "/identity", s.str(), 0600);
}

sensor_state load_state(const std::string& state_dir) {
  const std::string path = platform_dir(state_dir) + "/state";
  sensor_state st;
  auto text = read_file(path);
  if (!text) return st;
  const auto t = parse_file(path, *text);
  st.config_revision = u64(t, "config_revision");
  st.failed_revision = u64(t, "failed_revision");
  st.config_error = str(t, "config_error", path, false);
  st.last_command_id = u64(t, "last_command_id");
  st.paused = t["paused"].value_or(false);
  st.deregistered = t["deregistered"].value_or(false);
  st.last_event_id = u64(t, "last_event_id");
  return st;
}

void save_state(const std::string& state_dir, const sensor_state& st) {
  auto i64 = [](std::uint64_t v) { return static_cast<std::int64_t>(v); };
  toml::table t{{"config_revision", i64(st.config_revision)},
                {"failed_revision", i64(st.failed_revision)},
                {"config_error", st.config_error},
                {"last_command_id", i64(st.last_command_id)},
                {"paused", st.paused},
                {"deregistered", st.deregistered},
                {"last_event_id", i64(st.last_event_id)}};
  std::ostringstream s;
  s << t << "\n";
  write_file_atomic(platform_dir(state_dir) + "/state", s.str(), 0600);
}

void request_full_report(const std::string& state_dir) {
  write_file_atomic(platform_dir(state_dir) + "/full-report", "requested\n", 0600);
}
bool full_report_requested(const std::string& state_dir) {
  return fs::exists(platform_dir(state_dir) + "/full-report");
}
void clear_full_report(const std::string& state_dir) {
  std::error_code ec;
  fs::remove(platform_dir(state_dir) + "/full-report", ec);
}

}  // namespace tapsense::platform_client
