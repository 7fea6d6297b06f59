#pragma once
// HTTPS client for the sensor endpoints of the platform (ARCHITECTURE.md
// section 7, common/schema/platform.capnp): one POST of a packed Cap'n Proto
// body, the platform's CA pinned (peer and host verified), the sensor's key
// in `Authorization: Sensor id:key`, bounded time, and every failure mapped
// to one cause and one line a user can act on.
#include <cstdint>
#include <string>
#include <vector>

#include <capnp/message.h>

#include "common/config/config.h"

namespace tapsense::platform_client {

enum class failure {
  none,
  unreachable,    // DNS, connection refused, timeout
  tls,            // the platform's certificate is not signed by the pinned CA (or wrong host)
  code_unknown,   // 404 on register
  code_used,      // 409
  code_expired,   // 410
  unauthorized,   // 401: unknown sensor or wrong key
  deregistered,   // 403: the sensor must register again
  too_large,      // 413
  busy,           // 503 or 429 (retry_after)
  proxy_auth,     // the proxy refused the sensor's credentials (407)
  proxy_intercepts,  // through the proxy, a certificate not of the pinned CA: TLS interception (SSL bump)
  malformed,      // 400, or an answer that is not the expected message
  http,           // any other status
};

struct result {
  failure why = failure::none;
  long status = 0;             // HTTP status (0: none received)
  std::string message;         // one line for the user (empty when ok)
  std::string body;            // the answer's bytes
  unsigned retry_after = 0;    // seconds, from a 503 or 429
  bool ok() const noexcept { return why == failure::none; }
};

// Exit codes of the supervisor's platform-related failures (README "Exit
// codes"); distinct per cause, outside the range the stages use.
namespace exit_code {
inline constexpr int code_unknown = 80;
inline constexpr int code_used = 81;
inline constexpr int code_expired = 82;
inline constexpr int unreachable = 83;
inline constexpr int tls = 84;
inline constexpr int refused = 85;       // 400/401/413/5xx or a malformed answer
inline constexpr int deregistered = 86;  // the platform deregistered this sensor
inline constexpr int unacknowledged = 87;  // offline: reports not acknowledged (kept in the spool)
inline constexpr int paused = 88;        // offline run asked of a sensor paused on its platform
inline constexpr int proxy_auth = 89;    // the proxy refused the sensor's credentials
inline constexpr int proxy_intercepts = 90;  // the proxy intercepts TLS (SSL bump): not supported
}  // namespace exit_code
int exit_code_for(failure f) noexcept;
const char* failure_name(failure f) noexcept;

// The way to the platform: an HTTP proxy that tunnels TLS (CONNECT), so
// that TLS stays end to end and the pinned CA still decides. Empty url: direct
// (proxy environment variables are ignored: the configuration decides).
struct proxy_settings {
  std::string url;            // "http://HOST:PORT"
  std::string auth = "none";  // none | basic | ntlm
  std::string user;
  std::string password;
};
proxy_settings proxy_from(const config::uplink_section& u);

class client {
 public:
  // url: "https://host:port" (no path); ca_pem: the pinned CA certificate(s);
  // auth: "id:key" after registration, empty for registration.
  client(std::string url, std::string ca_pem, std::string auth = {}, long timeout_s = 20);
  void set_proxy(proxy_settings p) { proxy_ = std::move(p); }
  // Extra request headers ("Name: value"), e.g. Content-Encoding.
  result post(const std::string& path, const std::string& body,
              const std::vector<std::string>& headers = {}) const;

 private:
  proxy_settings proxy_;
  std::string url_;
  std::string ca_pem_;
  std::string auth_;
  long timeout_s_;
};

// A message in packed encoding, and back (throws kj::Exception if malformed).
std::string pack(capnp::MessageBuilder& m);
class unpacked {
 public:
  explicit unpacked(const std::string& bytes);
  template <typename T>
  typename T::Reader root() {
    return reader_->getRoot<T>();
  }
  ~unpacked();
  unpacked(const unpacked&) = delete;
  unpacked& operator=(const unpacked&) = delete;

 private:
  struct impl;
  impl* p_;
  capnp::MessageReader* reader_;
};

}  // namespace tapsense::platform_client
