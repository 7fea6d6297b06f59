#include "common/platform/client.h"

#include <curl/curl.h>

#include <capnp/serialize-packed.h>
#include <kj/io.h>

#include <cctype>
#include <memory>
#include <mutex>

namespace tapsense::platform_client {

namespace {
std::once_flag curl_once;

std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

// The platform's one-line text answer, trimmed to one line.
std::string first_line(const std::string& body) {
  std::string s = body.substr(0, body.find('\n'));
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ')) s.pop_back();
  if (s.size() > 200) s.resize(200);
  for (auto& c : s) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return s;
}
}  // namespace

int exit_code_for(failure f) noexcept {
  switch (f) {
    case failure::none: return 0;
    case failure::code_unknown: return exit_code::code_unknown;
    case failure::code_used: return exit_code::code_used;
    case failure::code_expired: return exit_code::code_expired;
    case failure::unreachable: return exit_code::unreachable;
    case failure::tls: return exit_code::tls;
    case failure::deregistered: return exit_code::deregistered;
    case failure::proxy_auth: return exit_code::proxy_auth;
    case failure::proxy_intercepts: return exit_code::proxy_intercepts;
    case failure::unauthorized:
    case failure::too_large:
    case failure::busy:
    case failure::malformed:
    case failure::http: break;
  }
  return exit_code::refused;
}

const char* failure_name(failure f) noexcept {
  switch (f) {
    case failure::none: return "ok";
    case failure::unreachable: return "unreachable";
    case failure::tls: return "tls";
    case failure::code_unknown: return "code unknown";
    case failure::code_used: return "code used";
    case failure::code_expired: return "code expired";
    case failure::unauthorized: return "unauthorized";
    case failure::deregistered: return "deregistered";
    case failure::too_large: return "too large";
    case failure::busy: return "busy";
    case failure::malformed: return "malformed";
    case failure::http: return "http";
    case failure::proxy_auth: return "proxy authentication";
    case failure::proxy_intercepts: return "proxy intercepts TLS";
  }
  return "?";
}

proxy_settings proxy_from(const config::uplink_section& u) {
  return proxy_settings{u.proxy, u.proxy_auth, u.proxy_user, u.proxy_password};
}

client::client(std::string url, std::string ca_pem, std::string auth, long timeout_s)
    : url_(std::move(url)), ca_pem_(std::move(ca_pem)), auth_(std::move(auth)), timeout_s_(timeout_s) {
  while (!url_.empty() && url_.back() == '/') url_.pop_back();
  std::call_once(curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

result client::post(const std::string& path, const std::string& body,
                    const std::vector<std::string>& extra) const {
  result r;
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> h(curl_easy_init(), curl_easy_cleanup);
  if (!h) {
    r.why = failure::unreachable;
    r.message = "cannot initialise libcurl";
    return r;
  }
  CURL* c = h.get();
  const std::string url = url_ + path;
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_blob ca{const_cast<char*>(ca_pem_.data()), ca_pem_.size(), CURL_BLOB_COPY};
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/x-capnp-packed");
  headers = curl_slist_append(headers, "Expect:");
  for (const auto& x : extra) headers = curl_slist_append(headers, x.c_str());
  std::string auth_header;
  if (!auth_.empty()) {
    auth_header = "Authorization: Sensor " + auth_;
    headers = curl_slist_append(headers, auth_header.c_str());
  }
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> hl(headers, curl_slist_free_all);
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &ca);
  curl_easy_setopt(c, CURLOPT_CAPATH, nullptr);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, std::min(timeout_s_, 10L));
  curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s_);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "tapsense-sensor");
  const bool via_proxy = !proxy_.url.empty();
  // Only the configured proxy, never one from the environment.
  curl_easy_setopt(c, CURLOPT_PROXY, via_proxy ? proxy_.url.c_str() : "");
  if (via_proxy) {
    curl_easy_setopt(c, CURLOPT_PROXYTYPE, static_cast<long>(CURLPROXY_HTTP));
    curl_easy_setopt(c, CURLOPT_HTTPPROXYTUNNEL, 1L);  // CONNECT: TLS end to end
    if (proxy_.auth != "none") {
      curl_easy_setopt(c, CURLOPT_PROXYAUTH, proxy_.auth == "ntlm" ? CURLAUTH_NTLM : CURLAUTH_BASIC);
      curl_easy_setopt(c, CURLOPT_PROXYUSERNAME, proxy_.user.c_str());
      curl_easy_setopt(c, CURLOPT_PROXYPASSWORD, proxy_.password.c_str());
    }
  }
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    const std::string detail = errbuf[0] != 0 ? errbuf : curl_easy_strerror(rc);
    long connect_code = 0;
    if (via_proxy) curl_easy_getinfo(c, CURLINFO_HTTP_CONNECTCODE, &connect_code);
    if (via_proxy && connect_code == 407) {
      r.why = failure::proxy_auth;
      r.status = connect_code;
      r.message = "the proxy " + proxy_.url + " refused the sensor's credentials (407; check uplink.proxy_auth \"" +
                  proxy_.auth + "\", proxy_user and proxy_password)";
      return r;
    }
    if (via_proxy && connect_code != 0 && connect_code / 100 != 2) {
      r.why = failure::unreachable;
      r.status = connect_code;
      r.message = "the proxy " + proxy_.url + " refused to tunnel to " + url_ + " (HTTP " +
                  std::to_string(connect_code) + ")";
      return r;
    }
    switch (rc) {
      case CURLE_PEER_FAILED_VERIFICATION:
      case CURLE_SSL_CACERT_BADFILE:
      case CURLE_SSL_CERTPROBLEM:
      case CURLE_SSL_CONNECT_ERROR:
      case CURLE_SSL_ISSUER_ERROR:
      case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        if (via_proxy && (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_ISSUER_ERROR)) {
          // The tunnel was open: what answered TLS in it is not the platform
          // (a proxy terminating TLS), which the sensor must not trust.
          r.why = failure::proxy_intercepts;
          r.message = "TLS not verified through the proxy " + proxy_.url + ": the certificate for " + url_ +
                      " is not of the pinned CA, so the proxy intercepts TLS (SSL bump), which is not supported; "
                      "let it tunnel (CONNECT) to the platform (" + detail + ")";
          break;
        }
        r.why = failure::tls;
        r.message = "TLS not verified: " + url_ + " did not present a certificate of the pinned CA (" + detail + ")";
        break;
      case CURLE_COULDNT_RESOLVE_PROXY:
      case CURLE_COULDNT_CONNECT:
        if (!via_proxy) {
          r.why = failure::unreachable;
          r.message = "platform " + url_ + " unreachable: " + detail;
          break;
        }
        r.why = failure::unreachable;
        r.message = "proxy " + proxy_.url + " unreachable: " + detail;
        break;
      default:
        r.why = failure::unreachable;
        r.message = "platform " + url_ + " unreachable: " + detail;
        break;
    }
    return r;
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  if (r.status == 200) return r;
  const std::string said = first_line(r.body);
  std::string tail = said.empty() ? "" : ": " + said;
  // The platform's own line may already say what ours would.
  auto lower = [](std::string s) {
    for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return s;
  };
  const std::string said_lower = lower(said);
  auto says = [&](const char* what) { return said_lower.find(what) != std::string::npos; };
  switch (r.status) {
    case 400: r.why = failure::malformed; r.message = "the platform refused the message as malformed" + tail; break;
    case 401: r.why = failure::unauthorized; r.message = "the platform does not know this sensor or its key" + tail; break;
    case 403: r.why = failure::deregistered; r.message = "the sensor is deregistered on its platform; register it again with a new code" + (says("deregistered") ? "" : tail); break;
    case 404: r.why = failure::code_unknown; r.message = "personalization code unknown" + (says("unknown") ? "" : tail); break;
    case 409: r.why = failure::code_used; r.message = "personalization code already used by another sensor" + (says("used") ? "" : tail); break;
    case 410: r.why = failure::code_expired; r.message = "personalization code expired; generate a new one on the platform" + (says("expired") ? "" : tail); break;
    case 413: r.why = failure::too_large; r.message = "report too large for the platform" + tail; break;
    case 429:
    case 503: {
      r.why = failure::busy;
      curl_off_t ra = 0;
      if (curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0) {
        r.retry_after = static_cast<unsigned>(std::min<curl_off_t>(ra, 3600));
      }
      r.message = "the platform is busy" + tail;
      break;
    }
    default:
      r.why = failure::http;
      r.message = "the platform answered HTTP " + std::to_string(r.status) + tail;
      break;
  }
  return r;
}

std::string pack(capnp::MessageBuilder& m) {
  kj::VectorOutputStream out;
  capnp::writePackedMessage(out, m);
  auto a = out.getArray();
  return std::string(reinterpret_cast<const char*>(a.begin()), a.size());
}

struct unpacked::impl {
  explicit impl(const std::string& bytes)
      : in(kj::ArrayPtr<const kj::byte>(reinterpret_cast<const kj::byte*>(bytes.data()), bytes.size())),
        reader(in, capnp::ReaderOptions{64ULL << 20, 64}) {}
  kj::ArrayInputStream in;
  capnp::PackedMessageReader reader;
};

unpacked::unpacked(const std::string& bytes) : p_(new impl(bytes)), reader_(&p_->reader) {}
unpacked::~unpacked() { delete p_; }

}  // namespace tapsense::platform_client
