#pragma once
// HTTPS transport (Boost.Beast over Asio SSL): one I/O thread, one coroutine
// per connection, a deadline on every read and write, a body limit, graceful
// stop on SIGINT/SIGTERM. Requests go to router.h on a pool of worker
// threads, each with its own store (its own database connection), so a
// database call or a password hash never stalls the I/O thread.
// Overload: more than max_reports sensor reports in flight (queued or
// running) answers 503 with Retry-After at once, without touching the
// database (README "Retry-After").
#include <cstdint>
#include <string>
#include <vector>

#include "platform/store.h"

namespace tapsense::platform {

struct server_options {
  std::string listen = "127.0.0.1:8443";  // host:port, [v6]:port
  std::string cert, key;                    // PEM files
  std::size_t body_limit = 32u << 20;       // bytes; larger answers 413
  unsigned read_timeout_s = 30;
  unsigned max_reports = 0;  // reports in flight before 503; 0: 2 per worker
};

// Runs until a signal; returns the process exit code. Prints one line once
// listening ("listening on https://HOST:PORT").
// One store per worker thread (at least one).
int serve(const std::vector<store*>& workers, const server_options& o);

}  // namespace tapsense::platform
