#include "platform/mailer.h"

#include <curl/curl.h>

#include <ctime>
#include <iostream>

namespace tapsense::platform {

namespace {

struct upload {
  const std::string* text;
  std::size_t off = 0;
};

std::size_t read_cb(char* buf, std::size_t size, std::size_t n, void* user) {
  auto* u = static_cast<upload*>(user);
  std::size_t room = size * n;
  std::size_t left = u->text->size() - u->off;
  std::size_t k = left < room ? left : room;
  std::memcpy(buf, u->text->data() + u->off, k);
  u->off += k;
  return k;
}

// A header value on one line: CR/LF would start a header of the sender's choosing.
std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\r' || c == '\n') {
      c = ' ';
    }
  }
  return s;
}

std::string rfc5322_date(std::int64_t ns) {
  std::time_t tt = static_cast<std::time_t>(ns / 1'000'000'000LL);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char b[64];
  std::strftime(b, sizeof b, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return b;
}

}  // namespace

mailer::mailer(store& s, mail_options o) : s_(s), o_(std::move(o)), t_([this] { run(); }) {}

mailer::~mailer() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  t_.join();
}

std::string mailer::send(const store::mail_item& m, const std::vector<std::string>& to) {
  CURL* c = curl_easy_init();
  if (c == nullptr) {
    return "curl_easy_init failed";
  }
  std::string msg;
  msg += "Date: " + rfc5322_date(s_.now()) + "\r\n";
  msg += "From: " + one_line(o_.from) + "\r\n";
  msg += "To: ";
  for (std::size_t i = 0; i < to.size(); ++i) {
    msg += (i ? ", " : "") + one_line(to[i]);
  }
  msg += "\r\n";
  msg += "Subject: [tapsense] " + one_line(m.sensor) + ": " + one_line(m.event) + "\r\n";
  msg += "Message-ID: <event-" + std::to_string(m.id) + "@tapsense-platform>\r\n";
  msg += "X-Tapsense-Event-Id: " + std::to_string(m.id) + "\r\n";
  msg += "Content-Type: text/plain; charset=utf-8\r\n\r\n";
  std::string body = "Sensor: " + m.sensor + "\nEvent: " + m.event + "\nModule: " + m.module + "\nType: " + m.type +
                     "\nCount: " + std::to_string(m.count) + "\nFirst seen: " + rfc5322_date(m.first_seen) +
                     "\nLast seen: " + rfc5322_date(m.last_seen) + "\n" +
                     (m.message.empty() ? "" : "\n" + m.message + "\n");
  // SMTP: lines end in CRLF, and a line that is a lone dot is escaped.
  std::size_t start = 0;
  while (start < body.size()) {
    auto nl = body.find('\n', start);
    std::string line = body.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    if (!line.empty() && line[0] == '.') {
      line.insert(0, ".");
    }
    msg += line + "\r\n";
    if (nl == std::string::npos) {
      break;
    }
    start = nl + 1;
  }
  upload u{&msg};
  curl_slist* rcpt = nullptr;
  for (const auto& r : to) {
    rcpt = curl_slist_append(rcpt, ("<" + r + ">").c_str());
  }
  char err[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, o_.smtp_url.c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, ("<" + o_.from + ">").c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
  curl_easy_setopt(c, CURLOPT_READDATA, &u);
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_TRY));
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(rcpt);
  curl_easy_cleanup(c);
  if (rc != CURLE_OK) {
    return err[0] != 0 ? std::string(err) : std::string(curl_easy_strerror(rc));
  }
  return "";
}

void mailer::run() {
  unsigned backoff = o_.interval_s;
  std::unique_lock<std::mutex> l(mu_);
  while (!stop_) {
    unsigned wait = backoff;
    l.unlock();
    bool failed = false;
    try {
      std::vector<std::string> to;
      auto items = s_.pending_mail(50, !o_.smtp_url.empty(), to);
      for (const auto& m : items) {
        std::string why = send(m, to);
        if (!why.empty()) {
          std::cerr << "tapsense-platform: e-mail for event " << m.id << " not sent (retrying): " << why << "\n";
          failed = true;
          break;
        }
        // Marked right after the server took it: a crash in between would
        // send it again (at least once), never lose it.
        s_.mark_mailed(m.id);
      }
    } catch (const std::exception& e) {
      std::cerr << "tapsense-platform: e-mail: " << e.what() << "\n";
      failed = true;
    }
    backoff = failed ? std::min(60u, backoff * 2) : o_.interval_s;
    wait = failed ? backoff : o_.interval_s;
    l.lock();
    cv_.wait_for(l, std::chrono::seconds(wait), [this] { return stop_; });
  }
}

}  // namespace tapsense::platform
