#pragma once
// HTTPS transport (Boost.Beast over Asio SSL): one thread, one coroutine per
// connection, a deadline on every read and write, a body limit, graceful
// stop on SIGINT/SIGTERM. Requests go to router.h.
#include <cstdint>
#include <string>

#include "platform/store.h"

namespace tapsense::platform {

struct server_options {
  std::string listen = "127.0.0.1:8443";  // host:port, [v6]:port
  std::string cert, key;                    // PEM files
  std::size_t body_limit = 32u << 20;       // bytes; larger answers 413
  unsigned read_timeout_s = 30;
};

// Runs until a signal; returns the process exit code. Prints one line once
// listening ("listening on https://HOST:PORT").
int serve(store& s, const server_options& o);

}  // namespace tapsense::platform
