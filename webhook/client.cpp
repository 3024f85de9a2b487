#include "webhook/client.h"

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


namespace gitgate::webhook {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct HttpsClient::Impl {
  explicit Impl(HttpsClientOptions o) : options(std::move(o)), ctx(asio::ssl::context::tls_client) {
    beast::error_code ec;
    if (!options.ca_file.empty()) {
      ctx.load_verify_file(options.ca_file, ec);
      if (ec) setup_error = options.ca_file + ": not a usable CA file";
      ctx.set_verify_mode(asio::ssl::verify_peer, ec);
    } else {
      ctx.set_verify_mode(asio::ssl::verify_none, ec);
    }
    if (!options.client_cert.empty()) {
      ctx.use_certificate_chain_file(options.client_cert, ec);
      if (ec) setup_error = options.client_cert + ": not a usable certificate";
      ctx.use_private_key_file(options.client_key, asio::ssl::context::pem, ec);
      if (ec) setup_error = options.client_key + ": not a usable key";
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
  std::string setup_error;
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
  if (!impl_->setup_error.empty()) return impl_->setup_error;
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
  // "Transfer-Encoding: chunked" asked for: the body is sent in chunks instead of with a Content-Length.
  if (auto it = headers.find("Transfer-Encoding"); it != headers.end() && it->second == "chunked") req.chunked(true);
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

}  // namespace gitgate::webhook
