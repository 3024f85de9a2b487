// A small blocking HTTPS/1.1 client (the demo, the benchmarks' checks, tests): keep-alive, verification
// against a CA file, optional client certificate, a bounded wait on every step.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

namespace gitgate::webhook {

struct HttpsClientOptions {
  int port = 0;
  std::string ca_file;        // verify the server against it (empty: no verification)
  std::string server_name = "localhost";
  std::string client_cert;    // PEM files for mTLS
  std::string client_key;
  int max_tls_version = 0;    // e.g. TLS1_1_VERSION to try an old protocol; 0 = library default
  std::chrono::milliseconds timeout{10000};
};

struct HttpReply {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  bool keep_alive = false;
};

class HttpsClient {
 public:
  explicit HttpsClient(HttpsClientOptions options);
  ~HttpsClient();
  HttpsClient(const HttpsClient&) = delete;
  HttpsClient& operator=(const HttpsClient&) = delete;

  // Each returns an empty string on success, else what went wrong.
  std::string connect();
  std::string request(const std::string& method, const std::string& target, const std::string& body, HttpReply& reply,
                      const std::map<std::string, std::string>& headers = {});
  std::string post(const std::string& target, const std::string& body, HttpReply& reply) {
    return request("POST", target, body, reply);
  }
  bool connected() const;
  void close();
  // PEM of the certificate the server presented on the current connection.
  std::string peer_certificate_pem() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gitgate::webhook
