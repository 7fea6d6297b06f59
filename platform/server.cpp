#include "platform/server.h"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <condition_variable>
#include <iostream>
#include <mutex>

#include "common/platform/gzip.h"
#include "platform/router.h"

namespace tapsense::platform {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

using stream_t = beast::ssl_stream<beast::tcp_stream>;

// The workers' stores: a job takes one for its duration.
class store_pool {
 public:
  explicit store_pool(const std::vector<store*>& s) : free_(s), size_(s.size()) {}
  store* take() {
    std::unique_lock<std::mutex> l(m_);
    cv_.wait(l, [this] { return !free_.empty(); });
    store* s = free_.back();
    free_.pop_back();
    return s;
  }
  void give(store* s) {
    {
      std::lock_guard<std::mutex> l(m_);
      free_.push_back(s);
    }
    cv_.notify_one();
  }
  std::size_t size() const { return size_; }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<store*> free_;
  std::size_t size_;
};

struct lease {
  store_pool& p;
  store* s;
  explicit lease(store_pool& pool) : p(pool), s(pool.take()) {}
  ~lease() { p.give(s); }
  lease(const lease&) = delete;
  lease& operator=(const lease&) = delete;
};

struct shared_state {
  store_pool& stores;
  asio::thread_pool& workers;
  unsigned max_reports;
  unsigned reports_in_flight = 0;  // touched on the I/O thread only
};

asio::awaitable<http_reply> run_route(store_pool& p, http_request r) {
  lease l(p);
  co_return route(*l.s, r);
}

http::response<http::string_body> to_response(const http_reply& rep, unsigned version, bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(rep.status), version};
  res.set(http::field::server, "tapsense-platform");
  if (!rep.body.empty() || rep.status != 204) {
    res.set(http::field::content_type, rep.content_type);
  }
  res.set(http::field::cache_control, "no-store");
  res.set("Strict-Transport-Security", "max-age=31536000");
  res.set("X-Content-Type-Options", "nosniff");
  for (const auto& [k, v] : rep.headers) {
    res.insert(k, v);
  }
  res.keep_alive(keep_alive);
  res.body() = rep.body;
  res.prepare_payload();
  return res;
}

asio::awaitable<void> session(stream_t stream, shared_state& st, server_options o) {
  beast::flat_buffer buf;
  try {
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(o.read_timeout_s));
    co_await stream.async_handshake(asio::ssl::stream_base::server, asio::use_awaitable);
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(o.body_limit);
      parser.header_limit(16 * 1024);
      beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(o.read_timeout_s));
      auto [ec, n] = co_await http::async_read(stream, buf, parser, asio::as_tuple(asio::use_awaitable));
      (void)n;
      if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
        break;
      }
      if (ec) {
        http_reply rep;
        rep.content_type = "text/plain";
        if (ec == http::error::body_limit) {
          rep.status = 413;
          rep.body = "request body larger than " + std::to_string(o.body_limit) + " bytes\n";
        } else if (ec == beast::error::timeout) {
          break;
        } else {
          rep.status = 400;
          rep.body = "malformed HTTP request: " + ec.message() + "\n";
        }
        auto res = to_response(rep, 11, false);
        beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(o.read_timeout_s));
        co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
        break;
      }
      auto req = parser.release();
      http_request r;
      r.method = std::string(req.method_string());
      r.target = std::string(req.target());
      r.authorization = std::string(req[http::field::authorization]);
      r.cookie = std::string(req[http::field::cookie]);
      r.if_match = std::string(req[http::field::if_match]);
      r.csrf_token = std::string(req["X-CSRF-Token"]);
      r.body = std::move(req.body());
      // --- Content-Encoding: gzip (sensor reports; task F2) ---------------
      // Inflated here, before routing, bounded as an uncompressed body is.
      http_reply rep;
      bool decoded = true;
      if (const auto enc = req[http::field::content_encoding]; !enc.empty()) {
        decoded = false;
        rep.content_type = "text/plain";
        if (beast::iequals(enc, "gzip")) {
          bool too_large = false;
          if (auto plain = platform_client::gunzip(r.body, o.body_limit, too_large)) {
            r.body = std::move(*plain);
            decoded = true;
          } else if (too_large) {
            rep.status = 413;
            rep.body = "request body larger than " + std::to_string(o.body_limit) + " bytes once inflated\n";
          } else {
            rep.status = 400;
            rep.body = "malformed request: the body is not valid gzip\n";
          }
        } else {
          rep.status = 415;
          rep.body = "unsupported Content-Encoding (gzip only)\n";
        }
      }
      // ---------------------------------------------------------------------
      bool is_report = r.method == "POST" && r.target.rfind("/sensor/v1/reports", 0) == 0;
      if (!decoded) {
        // the encoding error above is the answer
      } else if (is_report && st.reports_in_flight >= st.max_reports) {
        // Overloaded: the sensor keeps the report in its spool and comes
        // back later; the wait grows with the backlog per worker.
        unsigned wait = std::min(60u, 2u * (1u + st.reports_in_flight / static_cast<unsigned>(st.stores.size())));
        rep.status = 503;
        rep.content_type = "text/plain";
        rep.body = "platform busy: " + std::to_string(st.reports_in_flight) + " reports in flight; retry after " +
                   std::to_string(wait) + " s\n";
        rep.headers.emplace_back("Retry-After", std::to_string(wait));
      } else {
        st.reports_in_flight += is_report ? 1 : 0;
        try {
          rep = co_await asio::co_spawn(st.workers, run_route(st.stores, std::move(r)), asio::use_awaitable);
        } catch (const std::exception& e) {
          rep = http_reply{};
          rep.status = 500;
          rep.content_type = "text/plain";
          rep.body = std::string("internal error: ") + e.what() + "\n";
        }
        st.reports_in_flight -= is_report ? 1 : 0;
      }
      auto res = to_response(rep, req.version(), req.keep_alive());
      beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(o.read_timeout_s));
      auto [wec, wn] = co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
      (void)wn;
      if (wec || !res.keep_alive()) {
        break;
      }
    }
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
    co_await stream.async_shutdown(asio::as_tuple(asio::use_awaitable));
  } catch (const std::exception&) {
    // A client that vanishes mid-handshake or mid-request: nothing to answer.
  }
}

asio::awaitable<void> accept_loop(tcp::acceptor& acc, asio::ssl::context& ctx, shared_state& s, server_options o) {
  for (;;) {
    auto [ec, sock] = co_await acc.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted) {
        co_return;
      }
      continue;
    }
    asio::co_spawn(acc.get_executor(), session(stream_t(std::move(sock), ctx), s, o), asio::detached);
  }
}

asio::awaitable<void> run_sweep(store_pool& p) {
  lease l(p);
  auto sweep = [](const char* what, auto fn) {
    try {
      fn();
    } catch (const std::exception& e) {
      std::cerr << "tapsense-platform: " << what << " sweep: " << e.what() << "\n";
    }
  };
  sweep("not-connected", [&] { l.s->sweep_not_connected(); });
  sweep("subscription", [&] { l.s->enforce_subscriptions(); });
  sweep("asset-reporting", [&] { l.s->sweep_reporting_stopped(); });
  co_return;
}

asio::awaitable<void> sweeper(asio::steady_timer& t, shared_state& st, unsigned poll_seconds) {
  for (;;) {
    t.expires_after(std::chrono::seconds(std::max(1u, poll_seconds / 2)));
    auto [ec] = co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      co_return;
    }
    co_await asio::co_spawn(st.workers, run_sweep(st.stores), asio::use_awaitable);
  }
}

}  // namespace

int serve(const std::vector<store*>& stores, const server_options& o) {
  auto colon = o.listen.rfind(':');
  if (colon == std::string::npos) {
    std::cerr << "tapsense-platform: --listen: expected HOST:PORT, got " << o.listen << "\n";
    return 2;
  }
  std::string host = o.listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  unsigned port = 0;
  try {
    port = static_cast<unsigned>(std::stoul(o.listen.substr(colon + 1)));
  } catch (...) {
    port = 70000;
  }
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec || port > 65535) {
    std::cerr << "tapsense-platform: --listen: bad address " << o.listen << "\n";
    return 2;
  }
  asio::io_context io(1);
  asio::ssl::context ctx(asio::ssl::context::tls_server);
  ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                  asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1 |
                  asio::ssl::context::single_dh_use);
  try {
    ctx.use_certificate_chain_file(o.cert);
    ctx.use_private_key_file(o.key, asio::ssl::context::pem);
  } catch (const std::exception& e) {
    std::cerr << "tapsense-platform: TLS certificate/key: " << e.what() << "\n";
    return 3;
  }
  tcp::acceptor acc(io);
  tcp::endpoint ep(addr, static_cast<unsigned short>(port));
  acc.open(ep.protocol(), ec);
  if (!ec) {
    acc.set_option(asio::socket_base::reuse_address(true), ec);
    acc.bind(ep, ec);
  }
  if (!ec) {
    acc.listen(asio::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    std::cerr << "tapsense-platform: cannot listen on " << o.listen << ": " << ec.message() << "\n";
    return 4;
  }
  auto bound = acc.local_endpoint();
  std::string shown = bound.address().is_v6() ? "[" + bound.address().to_string() + "]" : bound.address().to_string();
  std::cout << "listening on https://" << shown << ":" << bound.port() << std::endl;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  asio::steady_timer sweep(io);
  signals.async_wait([&](const boost::system::error_code&, int) {
    acc.close();
    sweep.cancel();
    io.stop();
  });
  store_pool pool(stores);
  asio::thread_pool workers(stores.size());
  shared_state st{pool, workers, o.max_reports != 0 ? o.max_reports : static_cast<unsigned>(2 * stores.size())};
  asio::co_spawn(io, accept_loop(acc, ctx, st, o), asio::detached);
  asio::co_spawn(io, sweeper(sweep, st, stores.front()->poll_seconds()), asio::detached);
  io.run();
  workers.join();
  return 0;
}

}  // namespace tapsense::platform
