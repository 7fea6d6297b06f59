#pragma once
// Everything the HTTPS server answers, transport aside: the sensor endpoints
// (sensor_api.h) and the JSON API under /api/v1 (users, sensors,
// configuration, assets, events, its OpenAPI document). Unit tests call
// route() directly.
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "platform/store.h"

namespace tapsense::platform {

struct http_request {
  std::string method;  // GET, POST, PUT, DELETE
  std::string target;  // path and query
  std::string authorization;
  std::string cookie;
  std::string if_match;
  std::string body;
  std::string csrf_token;  // X-CSRF-Token: a cookie session's changes must carry it (console.h)
};

struct http_reply {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

http_reply route(store& s, const http_request& r);

// A query parameter as an integer in [lo, hi]; `dflt` when absent or empty.
// Anything else throws store_error 400 naming the parameter and the range
// (the API and the console answer a bad ?limit= the same way).
std::int64_t int_param(const std::map<std::string, std::string>& q, const char* name, std::int64_t dflt,
                       std::int64_t lo, std::int64_t hi);

// The OpenAPI 3 document /api/v1/openapi.json serves.
std::string openapi_json();

}  // namespace tapsense::platform
