#include "tests/support/https_client.h"

#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <optional>
#include <stdexcept>
#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "tests/support/support.h"

namespace gitgate::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct HttpsClient::Impl {
  explicit Impl(HttpsClientOptions o) : options(std::move(o)), ctx(asio::ssl::context::tls_client) {
    if (!options.ca_file.empty()) {
      ctx.load_verify_file(options.ca_file);
      ctx.set_verify_mode(asio::ssl::verify_peer);
    } else {
      ctx.set_verify_mode(asio::ssl::verify_none);
    }
    if (!options.client_cert.empty()) {
      ctx.use_certificate_chain_file(options.client_cert);
      ctx.use_private_key_file(options.client_key, asio::ssl::context::pem);
    }
    if (options.max_tls_version != 0) {
      SSL_CTX_set_security_level(ctx.native_handle(), 0);
      SSL_CTX_set_min_proto_version(ctx.native_handle(), 0);
      SSL_CTX_set_max_proto_version(ctx.native_handle(), options.max_tls_version);
    }
  }

  // Runs the io_context until `done` or the timeout; returns false on timeout (and closes the stream).
  bool run(bool& done) {
    ioc.restart();
    ioc.run_for(options.timeout);
    if (!done) {
      if (stream) beast::get_lowest_layer(*stream).close();
      ioc.restart();
      ioc.run_for(std::chrono::milliseconds(100));
      return false;
    }
    return true;
  }

  HttpsClientOptions options;
  asio::io_context ioc;
  asio::ssl::context ctx;
  std::optional<beast::ssl_stream<beast::tcp_stream>> stream;
  beast::flat_buffer buffer;
};

HttpsClient::HttpsClient(HttpsClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
HttpsClient::~HttpsClient() { close(); }

bool HttpsClient::connected() const { return impl_->stream.has_value(); }

void HttpsClient::close() {
  if (!impl_->stream) return;
  beast::error_code ec;
  beast::get_lowest_layer(*impl_->stream).socket().shutdown(tcp::socket::shutdown_both, ec);
  beast::get_lowest_layer(*impl_->stream).close();
  impl_->stream.reset();
  impl_->buffer.clear();
}

std::string HttpsClient::connect() {
  close();
  auto& s = impl_->stream.emplace(impl_->ioc, impl_->ctx);
  SSL_set_tlsext_host_name(s.native_handle(), impl_->options.server_name.c_str());
  if (!impl_->options.ca_file.empty()) SSL_set1_host(s.native_handle(), impl_->options.server_name.c_str());
  tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(impl_->options.port));
  beast::error_code result;
  bool done = false;
  beast::get_lowest_layer(s).async_connect(endpoint, [&](beast::error_code ec) {
    if (ec) {
      result = ec;
      done = true;
      return;
    }
    s.async_handshake(asio::ssl::stream_base::client, [&](beast::error_code ec2) {
      result = ec2;
      done = true;
    });
  });
  if (!impl_->run(done)) {
    impl_->stream.reset();
    return "timeout while connecting";
  }
  if (result) {
    impl_->stream.reset();
    return "connect/handshake failed: " + result.message();
  }
  return {};
}

std::string HttpsClient::request(const std::string& method, const std::string& target, const std::string& body,
                                 HttpReply& reply, const std::map<std::string, std::string>& headers) {
  if (!impl_->stream) {
    if (auto err = connect(); !err.empty()) return err;
  }
  auto& s = *impl_->stream;
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, impl_->options.server_name);
  req.set(http::field::content_type, "application/json");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  http::response<http::string_body> res;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  beast::error_code result;
  bool done = false;
  http::async_write(s, req, [&](beast::error_code ec, size_t) {
    if (ec) {
      result = ec;
      done = true;
      return;
    }
    http::async_read(s, impl_->buffer, parser, [&](beast::error_code ec2, size_t) {
      result = ec2;
      done = true;
    });
  });
  if (!impl_->run(done)) {
    impl_->stream.reset();
    return "timeout waiting for the response";
  }
  if (result) {
    impl_->stream.reset();
    impl_->buffer.clear();
    return "request failed: " + result.message();
  }
  res = parser.release();
  reply.status = static_cast<int>(res.result_int());
  reply.body = res.body();
  reply.keep_alive = res.keep_alive();
  reply.headers.clear();
  for (const auto& field : res) {
    std::string name(field.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    reply.headers[name] = std::string(field.value());
  }
  if (!reply.keep_alive) close();
  return {};
}

std::string HttpsClient::peer_certificate_pem() const {
  if (!impl_->stream) return {};
  X509* cert = SSL_get1_peer_certificate(impl_->stream->native_handle());
  if (cert == nullptr) return {};
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(len));
  BIO_free(bio);
  X509_free(cert);
  return pem;
}

TestCerts make_test_certs(const std::string& dir, const std::string& key_type, const std::string& name,
                          const std::string& ca_dir) {
  std::filesystem::create_directories(dir);
  TestCerts c;
  std::string cadir = ca_dir.empty() ? dir : ca_dir;
  std::filesystem::create_directories(cadir);
  c.ca = cadir + "/ca.crt";
  c.ca_key = cadir + "/ca.key";
  c.cert = dir + "/" + name + ".crt";
  c.key = dir + "/" + name + ".key";
  std::vector<std::string> keyopt = key_type == "rsa"
                                        ? std::vector<std::string>{"-newkey", "rsa:2048"}
                                        : std::vector<std::string>{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"};
  auto run = [](std::vector<std::string> argv) {
    auto r = run_command(argv, std::chrono::seconds(30));
    if (r.exit_code != 0) throw std::runtime_error("openssl failed: " + r.err);
  };
  if (!std::filesystem::exists(c.ca)) {
    std::vector<std::string> argv{"openssl", "req", "-x509", "-nodes"};
    argv.insert(argv.end(), keyopt.begin(), keyopt.end());
    argv.insert(argv.end(), {"-keyout", c.ca_key, "-out", c.ca, "-days", "2", "-subj", "/CN=gitgate-test-ca"});
    run(argv);
  }
  std::string csr = dir + "/" + name + ".csr";
  std::string ext = dir + "/" + name + ".ext";
  write_file(ext, "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n");
  std::vector<std::string> argv{"openssl", "req", "-nodes"};
  argv.insert(argv.end(), keyopt.begin(), keyopt.end());
  argv.insert(argv.end(), {"-keyout", c.key, "-out", csr, "-subj", "/CN=" + name});
  run(argv);
  run({"openssl", "x509", "-req", "-in", csr, "-CA", c.ca, "-CAkey", c.ca_key, "-CAcreateserial", "-out", c.cert,
       "-days", "2", "-extfile", ext});
  return c;
}

}  // namespace gitgate::testing
