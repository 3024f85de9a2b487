#include "tests/certs/x509_inspect.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <climits>
#include <ctime>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace gitgate::testing::x509 {
namespace {

struct Free {
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
  void operator()(SSL* p) const { SSL_free(p); }
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
  void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
  void operator()(EXTENDED_KEY_USAGE* p) const { EXTENDED_KEY_USAGE_free(p); }
  void operator()(BASIC_CONSTRAINTS* p) const { BASIC_CONSTRAINTS_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
};
template <class T>
using Owned = std::unique_ptr<T, Free>;

std::string last_error() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return text;
}

Owned<BIO> memory(std::string_view text) {
  return Owned<BIO>(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

template <class F>
void for_each_general_name(X509* cert, F&& f) {
  Owned<GENERAL_NAMES> names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) f(sk_GENERAL_NAME_value(names.get(), i));
}

long seconds_from_now(const ASN1_TIME* t) {
  int days = 0;
  int seconds = 0;
  ASN1_TIME_diff(&days, &seconds, nullptr, t);
  return static_cast<long>(days) * 86400 + seconds;
}

bool is_ip_literal(std::string_view host) {
  unsigned char buf[16];
  std::string h(host);
  return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

bool set_expected_host(X509_VERIFY_PARAM* param, std::string_view host) {
  std::string h(host);
  if (is_ip_literal(host)) return X509_VERIFY_PARAM_set1_ip_asc(param, h.c_str()) == 1;
  return X509_VERIFY_PARAM_set1_host(param, h.c_str(), h.size()) == 1;
}

Owned<SSL_CTX> client_context(std::string_view ca_pem, std::string* error) {
  Owned<SSL_CTX> ctx(SSL_CTX_new(TLS_client_method()));
  Cert ca = parse_cert(ca_pem);
  if (!ctx || !ca) {
    *error = "the CA bundle is not a PEM certificate";
    return nullptr;
  }
  X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx.get()), ca.get());
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  return ctx;
}

std::string verify_result(SSL* ssl) {
  long result = SSL_get_verify_result(ssl);
  if (result != X509_V_OK)
    return std::string("verification failed: ") + X509_verify_cert_error_string(result);
  if (SSL_get0_peer_certificate(ssl) == nullptr) return "the server sent no certificate";
  return "";
}

}  // namespace

Cert parse_cert(std::string_view pem) {
  auto bio = memory(pem);
  return Cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
}

Key parse_key(std::string_view pem) {
  auto bio = memory(pem);
  return Key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
}

std::vector<std::string> dns_names(X509* cert) {
  std::vector<std::string> out;
  for_each_general_name(cert, [&](GENERAL_NAME* name) {
    if (name->type != GEN_DNS) return;
    const ASN1_IA5STRING* s = name->d.dNSName;
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), ASN1_STRING_length(s));
  });
  return out;
}

std::vector<std::string> ip_addresses(X509* cert) {
  std::vector<std::string> out;
  for_each_general_name(cert, [&](GENERAL_NAME* name) {
    if (name->type != GEN_IPADD) return;
    const ASN1_OCTET_STRING* s = name->d.iPAddress;
    char text[INET6_ADDRSTRLEN] = {};
    int family = ASN1_STRING_length(s) == 4 ? AF_INET : AF_INET6;
    if (inet_ntop(family, ASN1_STRING_get0_data(s), text, sizeof(text)) != nullptr) out.emplace_back(text);
  });
  return out;
}

std::vector<std::string> extended_key_usages(X509* cert) {
  std::vector<std::string> out;
  Owned<EXTENDED_KEY_USAGE> usages(
      static_cast<EXTENDED_KEY_USAGE*>(X509_get_ext_d2i(cert, NID_ext_key_usage, nullptr, nullptr)));
  if (!usages) return out;
  for (int i = 0; i < sk_ASN1_OBJECT_num(usages.get()); ++i) {
    out.emplace_back(OBJ_nid2sn(OBJ_obj2nid(sk_ASN1_OBJECT_value(usages.get(), i))));
  }
  return out;
}

std::string common_name(X509* cert) {
  char text[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, text, sizeof(text));
  return text;
}

std::string signature_algorithm(X509* cert) {
  return OBJ_nid2ln(X509_get_signature_nid(cert));
}

int signature_digest_nid(X509* cert) {
  int digest = NID_undef;
  int public_key = NID_undef;
  if (OBJ_find_sigid_algs(X509_get_signature_nid(cert), &digest, &public_key) != 1) return NID_undef;
  return digest;
}

bool is_ca(X509* cert) {
  return X509_check_ca(cert) == 1;
}

bool has_critical_basic_constraints(X509* cert) {
  int critical = -1;
  Owned<BASIC_CONSTRAINTS> bc(
      static_cast<BASIC_CONSTRAINTS*>(X509_get_ext_d2i(cert, NID_basic_constraints, &critical, nullptr)));
  return bc && critical == 1;
}

uint32_t key_usage(X509* cert) {
  return X509_get_key_usage(cert);
}

std::string serial_hex(X509* cert) {
  Owned<BIGNUM> bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  char* hex = BN_bn2hex(bn.get());
  std::string out(hex);
  OPENSSL_free(hex);
  return out;
}

int serial_bits(X509* cert) {
  Owned<BIGNUM> bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  return BN_is_negative(bn.get()) ? -BN_num_bits(bn.get()) : BN_num_bits(bn.get());
}

long seconds_until_not_before(X509* cert) {
  return seconds_from_now(X509_get0_notBefore(cert));
}
long seconds_until_not_after(X509* cert) {
  return seconds_from_now(X509_get0_notAfter(cert));
}

int key_bits(X509* cert) {
  return EVP_PKEY_get_bits(X509_get0_pubkey(cert));
}
int key_type(X509* cert) {
  return EVP_PKEY_get_base_id(X509_get0_pubkey(cert));
}

bool signed_by(X509* leaf, X509* ca) {
  bool ok = X509_verify(leaf, X509_get0_pubkey(ca)) == 1 &&
            X509_NAME_cmp(X509_get_issuer_name(leaf), X509_get_subject_name(ca)) == 0;
  ERR_clear_error();
  return ok;
}

std::string verify(X509* leaf, X509* ca, std::string_view host, int purpose) {
  Owned<X509_STORE> store(X509_STORE_new());
  Owned<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
  if (!store || !ctx || X509_STORE_add_cert(store.get(), ca) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr) != 1) {
    return last_error();
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  if (!set_expected_host(param, host) || X509_STORE_CTX_set_purpose(ctx.get(), purpose) != 1)
    return last_error();
  if (X509_verify_cert(ctx.get()) == 1) return "";
  return X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
}

std::string handshake(int port, std::string_view ca_pem, std::string_view server_name) {
  std::string error;
  Owned<SSL_CTX> ctx = client_context(ca_pem, &error);
  if (!ctx) return error;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "socket() failed";
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return "cannot connect to 127.0.0.1:" + std::to_string(port);
  }
  Owned<SSL> ssl(SSL_new(ctx.get()));
  std::string name(server_name);
  SSL_set_fd(ssl.get(), fd);
  SSL_set_tlsext_host_name(ssl.get(), name.c_str());
  set_expected_host(SSL_get0_param(ssl.get()), name);
  int rc = SSL_connect(ssl.get());
  std::string result = rc == 1 ? verify_result(ssl.get()) : "handshake failed: " + last_error();
  if (rc == 1) SSL_shutdown(ssl.get());
  ssl.reset();
  ::close(fd);
  return result;
}

std::string memory_handshake(std::string_view cert_pem, std::string_view key_pem, std::string_view ca_pem,
                             std::string_view host) {
  std::string error;
  Owned<SSL_CTX> client_ctx = client_context(ca_pem, &error);
  if (!client_ctx) return error;
  Owned<SSL_CTX> server_ctx(SSL_CTX_new(TLS_server_method()));
  Cert cert = parse_cert(cert_pem);
  Key key = parse_key(key_pem);
  if (!server_ctx || !cert || !key || SSL_CTX_use_certificate(server_ctx.get(), cert.get()) != 1 ||
      SSL_CTX_use_PrivateKey(server_ctx.get(), key.get()) != 1 ||
      SSL_CTX_check_private_key(server_ctx.get()) != 1) {
    return "server setup failed: " + last_error();
  }
  Owned<SSL> client(SSL_new(client_ctx.get()));
  Owned<SSL> server(SSL_new(server_ctx.get()));
  BIO* client_bio = nullptr;
  BIO* server_bio = nullptr;
  BIO_new_bio_pair(&client_bio, 0, &server_bio, 0);
  SSL_set_bio(client.get(), client_bio, client_bio);
  SSL_set_bio(server.get(), server_bio, server_bio);
  std::string name(host);
  if (!is_ip_literal(host)) SSL_set_tlsext_host_name(client.get(), name.c_str());
  set_expected_host(SSL_get0_param(client.get()), name);
  SSL_set_connect_state(client.get());
  SSL_set_accept_state(server.get());
  bool client_done = false;
  bool server_done = false;
  for (int round = 0; round < 100 && !(client_done && server_done); ++round) {
    if (!client_done) {
      int rc = SSL_do_handshake(client.get());
      if (rc == 1) {
        client_done = true;
      } else if (SSL_get_error(client.get(), rc) != SSL_ERROR_WANT_READ) {
        std::string verify_error = verify_result(client.get());
        return "client handshake failed: " + (verify_error.empty() ? last_error() : verify_error);
      }
    }
    if (!server_done) {
      int rc = SSL_do_handshake(server.get());
      if (rc == 1) {
        server_done = true;
      } else if (SSL_get_error(server.get(), rc) != SSL_ERROR_WANT_READ) {
        return "server handshake failed: " + last_error();
      }
    }
  }
  if (!client_done || !server_done) return "handshake did not finish";
  return verify_result(client.get());
}

}  // namespace gitgate::testing::x509
