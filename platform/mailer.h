#pragma once
// E-mail for events (the guide's General Settings > Recipients): a thread
// with its own database connection mails each pending event once, over
// SMTP with libcurl, to general.email_recipients. A send that fails stays
// pending and is retried with back-off (2 s doubling to 60 s).
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "platform/store.h"

namespace tapsense::platform {

struct mail_options {
  std::string smtp_url;  // smtp://HOST:PORT or smtps://... (user:password@ allowed); empty: no mail
  std::string from;      // envelope and From: address
  unsigned interval_s = 2;
};

class mailer {
 public:
  mailer(store& s, mail_options o);
  ~mailer();  // stops and joins
  mailer(const mailer&) = delete;
  mailer& operator=(const mailer&) = delete;

 private:
  void run();
  // One SMTP transaction; empty on success, else why it failed.
  std::string send(const store::mail_item& m, const std::vector<std::string>& to);

  store& s_;
  mail_options o_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread t_;
};

}  // namespace tapsense::platform
