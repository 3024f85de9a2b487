// TLS for the webhook port: TLS 1.2+ with AEAD ciphers only, ECDSA or RSA keys, optional client
// certificates (mTLS), and hot reload: the certificate, key and client CA files are watched, and a new pair
// is used for new handshakes while established connections carry on. A broken new pair is logged and the
// old one kept.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "core/published.h"
#include "core/result.h"

namespace gitgate::webhook {

struct TlsOptions {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;  // empty: no client certificate asked
};

// An SSL_CTX ready for server handshakes. Held by shared_ptr so a connection keeps the context it was
// accepted with.
struct ServingContext {
  explicit ServingContext(boost::asio::ssl::context c) : ssl(std::move(c)) {}
  mutable boost::asio::ssl::context ssl;
};

Result<std::shared_ptr<const ServingContext>> make_serving_context(const TlsOptions& options);

// The subject of the certificate the client presented on `ssl` (RFC 2253, at most 1 KiB); "" without one.
std::string peer_certificate_subject(SSL* ssl);

class TlsReloader {
 public:
  static Result<std::unique_ptr<TlsReloader>> create(TlsOptions options);

  const Published<ServingContext>& context() const { return context_; }

  // Re-reads the files when their content changed; publishes a new context when they form a valid pair.
  // Returns true when a new context was published. Called periodically by the server.
  bool reload_if_changed();
  uint64_t reloads() const { return reloads_; }
  uint64_t failures() const { return failures_; }

 private:
  explicit TlsReloader(TlsOptions options) : options_(std::move(options)) {}
  std::string fingerprint() const;

  TlsOptions options_;
  Published<ServingContext> context_;
  std::string loaded_fingerprint_;
  std::string rejected_fingerprint_;
  uint64_t reloads_ = 0;
  uint64_t failures_ = 0;
};

}  // namespace gitgate::webhook
