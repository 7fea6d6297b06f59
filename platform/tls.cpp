#include "platform/tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>

namespace tapsense::platform {

namespace {

[[noreturn]] void fail(const std::string& what) {
  unsigned long e = ERR_get_error();
  char buf[256] = "";
  if (e != 0) {
    ERR_error_string_n(e, buf, sizeof buf);
  }
  throw std::runtime_error("tls: " + what + (e ? std::string(": ") + buf : std::string()));
}

struct pkey_free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct x509_free {
  void operator()(X509* p) const { X509_free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using x509_ptr = std::unique_ptr<X509, x509_free>;

pkey_ptr new_key() {
  EVP_PKEY* k = EVP_EC_gen("P-256");
  if (k == nullptr) {
    fail("EC key generation");
  }
  return pkey_ptr(k);
}

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ex = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ex == nullptr || X509_add_ext(cert, ex, -1) != 1) {
    X509_EXTENSION_free(ex);
    fail(std::string("extension ") + value);
  }
  X509_EXTENSION_free(ex);
}

x509_ptr make_cert(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key, long days, bool ca,
                   const std::string& san) {
  x509_ptr c(X509_new());
  if (!c) {
    fail("X509_new");
  }
  X509_set_version(c.get(), 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(c.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(c.get()), days * 86400L);
  X509_set_pubkey(c.get(), key);
  X509_NAME* name = X509_get_subject_name(c.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("tapsense"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* iss = issuer != nullptr ? issuer : c.get();
  X509_set_issuer_name(c.get(), X509_get_subject_name(iss));
  add_ext(c.get(), iss, NID_subject_key_identifier, "hash");
  if (ca) {
    add_ext(c.get(), iss, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
    add_ext(c.get(), iss, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_ext(c.get(), iss, NID_authority_key_identifier, "keyid:always");
    add_ext(c.get(), iss, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(c.get(), iss, NID_key_usage, "critical,digitalSignature");
    add_ext(c.get(), iss, NID_ext_key_usage, "serverAuth");
    add_ext(c.get(), iss, NID_subject_alt_name, san.c_str());
  }
  if (X509_sign(c.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) == 0) {
    fail("signing " + cn);
  }
  return c;
}

void write_key(const std::string& path, EVP_PKEY* k) {
  std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) {
    throw std::runtime_error("tls: cannot write " + tmp);
  }
  ::fchmod(fileno(f), 0600);
  bool ok = PEM_write_PrivateKey(f, k, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  ok = std::fclose(f) == 0 && ok;
  if (!ok) {
    throw std::runtime_error("tls: cannot write " + tmp);
  }
  std::filesystem::rename(tmp, path);
}

void write_certs(const std::string& path, std::initializer_list<X509*> certs) {
  std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) {
    throw std::runtime_error("tls: cannot write " + tmp);
  }
  bool ok = true;
  for (X509* c : certs) {
    ok = ok && PEM_write_X509(f, c) == 1;
  }
  ok = std::fclose(f) == 0 && ok;
  if (!ok) {
    throw std::runtime_error("tls: cannot write " + tmp);
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace

tls_files ensure_tls(const std::string& dir) {
  namespace fs = std::filesystem;
  tls_files t{(fs::path(dir) / "ca.pem").string(), (fs::path(dir) / "server.pem").string(),
               (fs::path(dir) / "server.key").string(), false};
  if (fs::exists(t.ca) && fs::exists(t.cert) && fs::exists(t.key)) {
    return t;
  }
  char host[256] = "localhost";
  ::gethostname(host, sizeof host - 1);
  host[sizeof host - 1] = '\0';
  auto ca_key = new_key();
  auto ca = make_cert(ca_key.get(), std::string("tapsense platform CA ") + host, nullptr, nullptr, 3650, true, "");
  auto srv_key = new_key();
  std::string san = "IP:127.0.0.1,IP:::1,DNS:localhost";
  if (std::string(host) != "localhost" && host[0] != '\0') {
    san += std::string(",DNS:") + host;
  }
  auto srv = make_cert(srv_key.get(), host, ca.get(), ca_key.get(), 825, false, san);
  write_key((fs::path(dir) / "ca.key").string(), ca_key.get());
  write_key(t.key, srv_key.get());
  write_certs(t.cert, {srv.get(), ca.get()});
  write_certs(t.ca, {ca.get()});
  t.created = true;
  return t;
}

}  // namespace tapsense::platform
