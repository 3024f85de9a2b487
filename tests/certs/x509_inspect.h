// Independent OpenSSL checks on certificates for the certs and chart tests: parse PEM, read names,
// extensions and signatures, verify chains, and complete real TLS handshakes.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/evp.h>
#include <openssl/x509.h>

namespace gitgate::testing::x509 {

struct FreeX509 {
  void operator()(X509* p) const { X509_free(p); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Cert = std::unique_ptr<X509, FreeX509>;
using Key = std::unique_ptr<EVP_PKEY, FreeX509>;

// Null when `pem` holds no certificate / private key.
Cert parse_cert(std::string_view pem);
Key parse_key(std::string_view pem);

std::vector<std::string> dns_names(X509* cert);
std::vector<std::string> ip_addresses(X509* cert);         // textual, "127.0.0.1", "::1"
std::vector<std::string> extended_key_usages(X509* cert);  // short names: "serverAuth", "clientAuth"
std::string common_name(X509* cert);
std::string signature_algorithm(X509* cert);  // long name, e.g. "ecdsa-with-SHA256"
int signature_digest_nid(X509* cert);         // NID_sha256 for SHA-256 signatures
bool is_ca(X509* cert);                       // basicConstraints CA:TRUE
bool has_critical_basic_constraints(X509* cert);
uint32_t key_usage(X509* cert);  // KU_* bits, or UINT32_MAX when absent
std::string serial_hex(X509* cert);
int serial_bits(X509* cert);
// Seconds from now to notBefore (negative: in the past) and to notAfter.
long seconds_until_not_before(X509* cert);
long seconds_until_not_after(X509* cert);
int key_bits(X509* cert);
int key_type(X509* cert);  // EVP_PKEY_EC or EVP_PKEY_RSA

// True when `ca`'s public key verifies `leaf`'s signature (X509_verify) and the names chain.
bool signed_by(X509* leaf, X509* ca);
// Full chain verification as a TLS client would do it: "" when `leaf` verifies against `ca` for `host`
// (a DNS name or IP literal) with `purpose` (X509_PURPOSE_SSL_SERVER / _CLIENT), else OpenSSL's reason.
std::string verify(X509* leaf, X509* ca, std::string_view host, int purpose);

// A TLS client handshake to 127.0.0.1:`port` sending SNI `server_name`, verifying the chain against
// `ca_pem` and the name `server_name`. Returns "" on success, else the reason.
std::string handshake(int port, std::string_view ca_pem, std::string_view server_name);

// An in-memory handshake between a server using `cert_pem`/`key_pem` and a client trusting `ca_pem` that
// verifies `host`. Returns "" on success, else the reason.
std::string memory_handshake(std::string_view cert_pem, std::string_view key_pem, std::string_view ca_pem,
                             std::string_view host);

}  // namespace gitgate::testing::x509
