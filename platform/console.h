#pragma once
// What the web console (platform/console/) needs from the platform beside
// the JSON API: its static files, served at / under a strict
// Content-Security-Policy, the CSRF token a session's changes carry, and the
// read-only views under /api/v1/console/ that the API's cursor lists do not
// give (home counters, a sorted, filtered, counted asset table, an asset's
// traffic summary, flows and timeline).
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "platform/router.h"
#include "platform/store.h"

namespace tapsense::platform {

// The directory holding index.html and the bundle (empty: no console; the
// platform then answers / with a 404 saying so).
void set_console_dir(const std::string& dir);
// The default: `console/` beside the running executable (where the build
// and the installer put it).
std::string default_console_dir();

// GET/HEAD of a path outside /api and /sensor: the file, or index.html for
// the console's own routes (/sensors/3 ...), with the security headers.
http_reply serve_console(const std::string& path);

// The token a cookie session's changes must carry in X-CSRF-Token.
std::string csrf_token_for(const std::string& session);

// /api/v1/console/...: seg[3] onwards. Read-only; throws store_error.
http_reply console_api(store& s, const std::vector<std::string>& seg, const std::map<std::string, std::string>& q);

}  // namespace tapsense::platform
