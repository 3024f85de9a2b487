#include "webhook/tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "core/log.h"

namespace gitgate::webhook {
namespace {

// ECDHE key exchange with AEAD ciphers only (TLS 1.2); TLS 1.3 suites are all AEAD.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

std::string openssl_error() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return buf;
}

Result<std::string> read_small_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{path + ": cannot read"};
  std::ostringstream s;
  s << in.rdbuf();
  std::string data = s.str();
  if (data.size() > 1024 * 1024) return Error{path + ": larger than 1 MiB, not a PEM file"};
  return data;
}

}  // namespace

Result<std::shared_ptr<const ServingContext>> make_serving_context(const TlsOptions& options) {
  namespace ssl = boost::asio::ssl;
  ERR_clear_error();
  ssl::context ctx(ssl::context::tls_server);
  SSL_CTX* native = ctx.native_handle();
  // Asio's tls_server allows TLS 1.0; the floor is set explicitly.
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1) return Error{"cannot require TLS 1.2"};
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                  SSL_OP_SINGLE_ECDH_USE);
  // Idle keep-alive connections give their read/write buffers back.
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1) return Error{"cipher list rejected: " + openssl_error()};
  if (SSL_CTX_set1_groups_list(native, "X25519:P-256:P-384") != 1) return Error{"groups rejected: " + openssl_error()};

  auto cert = read_small_file(options.cert_file);
  if (!cert) return std::move(cert).take_error();
  auto key = read_small_file(options.key_file);
  if (!key) return std::move(key).take_error();
  boost::system::error_code ec;
  ctx.use_certificate_chain(boost::asio::buffer(*cert), ec);
  if (ec) return Error{options.cert_file + ": not a usable PEM certificate chain (" + openssl_error() + ")"};
  {
    BIO* bio = BIO_new_mem_buf(key->data(), static_cast<int>(key->size()));
    EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    OPENSSL_cleanse(key->data(), key->size());
    if (pkey == nullptr) return Error{options.key_file + ": not a usable PEM private key (unencrypted PEM expected)"};
    bool matches = X509_check_private_key(SSL_CTX_get0_certificate(native), pkey) == 1;
    bool used = matches && SSL_CTX_use_PrivateKey(native, pkey) == 1;
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    if (!matches)
      return Error{options.key_file + ": private key does not match the certificate in " + options.cert_file};
    if (!used) return Error{options.key_file + ": private key rejected by OpenSSL"};
  }

  if (!options.client_ca_file.empty()) {
    auto ca = read_small_file(options.client_ca_file);
    if (!ca) return std::move(ca).take_error();
    ctx.add_certificate_authority(boost::asio::buffer(*ca), ec);
    if (ec) return Error{options.client_ca_file + ": not a usable PEM CA bundle"};
    ctx.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert, ec);
    if (ec) return Error{"cannot require client certificates"};
  }
  ERR_clear_error();
  return std::shared_ptr<const ServingContext>(std::make_shared<ServingContext>(std::move(ctx)));
}

Result<std::unique_ptr<TlsReloader>> TlsReloader::create(TlsOptions options) {
  std::unique_ptr<TlsReloader> reloader(new TlsReloader(std::move(options)));
  auto ctx = make_serving_context(reloader->options_);
  if (!ctx) return std::move(ctx).take_error();
  reloader->context_.publish(*ctx);
  reloader->loaded_fingerprint_ = reloader->fingerprint();
  return reloader;
}

std::string TlsReloader::fingerprint() const {
  // The files' content, hashed: a Secret volume swaps a `..data` symlink and cert-manager rewrites in
  // place; both change the content, which is all that matters.
  std::string all;
  for (const auto* path : {&options_.cert_file, &options_.key_file, &options_.client_ca_file}) {
    if (path->empty()) continue;
    auto data = read_small_file(*path);
    all += data ? *data : std::string("\x01missing");
    all += '\x00';
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(all.data(), all.size(), digest, &len, EVP_sha256(), nullptr);
  OPENSSL_cleanse(all.data(), all.size());
  return std::string(reinterpret_cast<char*>(digest), len);
}

bool TlsReloader::reload_if_changed() {
  std::string now = fingerprint();
  if (now == loaded_fingerprint_ || now == rejected_fingerprint_) return false;
  auto ctx = make_serving_context(options_);
  if (!ctx) {
    // Often transient: cert-manager writes tls.crt and tls.key one after the other.
    rejected_fingerprint_ = now;
    ++failures_;
    log::warn("TLS files changed but cannot be used, keeping the previous certificate: " + ctx.error());
    return false;
  }
  context_.publish(*ctx);
  loaded_fingerprint_ = now;
  rejected_fingerprint_.clear();
  ++reloads_;
  log::info("TLS certificate reloaded from " + options_.cert_file);
  return true;
}

std::string peer_certificate_subject(SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return {};
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return {};
  std::string subject;
  if (X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
    char* data = nullptr;
    long size = BIO_get_mem_data(bio, &data);
    if (size > 0) subject.assign(data, std::min<size_t>(static_cast<size_t>(size), 1024));
  }
  BIO_free(bio);
  return subject;
}

}  // namespace gitgate::webhook
