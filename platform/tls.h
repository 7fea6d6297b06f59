#pragma once
// The platform's own CA and server certificate (OpenSSL EVP/X509).
#include <string>

namespace tapsense::platform {

struct tls_files {
  std::string ca;    // DIR/ca.pem: what sensors and clients pin
  std::string cert;  // server certificate chain (PEM)
  std::string key;   // its private key (PEM, mode 0600)
  bool created = false;
};

// Makes DIR/ca.pem + DIR/ca.key and DIR/server.pem + DIR/server.key on first
// use (EC P-256; the server certificate names 127.0.0.1, ::1, localhost and
// this host's name), or returns the existing ones. Throws std::runtime_error.
tls_files ensure_tls(const std::string& dir);

}  // namespace tapsense::platform
