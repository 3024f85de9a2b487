// Certificates for the webhook: a private CA and a serving certificate the Kubernetes API server accepts
// (it checks subjectAltNames only, never the CN), written as ca.crt, ca.key, tls.crt, tls.key.
//
// Everything is PEM; keys are unencrypted PKCS#8. Signatures are SHA-256. CA keys are ECDSA P-256 or RSA
// 3072; leaf keys use the same type. Also used by tests and `gitgate demo` for throwaway certificates
// (generate_localhost_pair, issue_client_cert): ECDSA pairs take well under a millisecond each.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace gitgate::certs {

enum class KeyType { Ecdsa, Rsa };

// What `gitgate certs` asks for: a serving certificate for Service `service` in namespace `ns`.
struct CertRequest {
  using KeyType = certs::KeyType;

  std::string service;
  std::string ns;
  int days = 365;  // validity of both the CA and the serving certificate, 1..kMaxDays
  KeyType key_type = KeyType::Ecdsa;
};

inline constexpr int kMaxDays = 3650;

// File names inside the output directory, as in a kubernetes.io/tls Secret plus its CA.
inline constexpr std::string_view kCaCertFile = "ca.crt";
inline constexpr std::string_view kCaKeyFile = "ca.key";
inline constexpr std::string_view kCertFile = "tls.crt";
inline constexpr std::string_view kKeyFile = "tls.key";

// Names a serving certificate carries.
struct SubjectNames {
  std::vector<std::string> dns;  // DNS names ("localhost", "web.shop.svc"); a leading "*." is allowed
  std::vector<std::string> ips;  // IPv4 or IPv6 literals ("127.0.0.1", "::1")
};

struct CertificateAuthority {
  std::string cert_pem;
  std::string key_pem;
};

struct IssuedCert {
  std::string cert_pem;
  std::string key_pem;
};

struct GeneratedPair {
  CertificateAuthority ca;
  IssuedCert serving;
};

// The DNS names through which the API server reaches Service `service` in `ns`:
// S, S.N, S.N.svc, S.N.svc.cluster.local.
SubjectNames service_names(std::string_view service, std::string_view ns);

// Checks `service` and `ns` are DNS-1123 labels and `days` is within 1..kMaxDays.
Status validate(const CertRequest& request);

// A self-signed CA (basicConstraints CA:TRUE critical, keyUsage keyCertSign+cRLSign, subject key id)
// valid from a few minutes ago for `days`.
Result<CertificateAuthority> generate_ca(std::string_view common_name, int days, KeyType key_type);

// A serving certificate signed by `ca` for `names` (EKU serverAuth; keyUsage digitalSignature, plus
// keyEncipherment for RSA), random 128-bit serial, valid from a few minutes ago for `days`.
Result<IssuedCert> issue_serving_cert(const CertificateAuthority& ca, const SubjectNames& names, int days,
                                      KeyType key_type);

// A client certificate signed by `ca` (EKU clientAuth, CN `common_name`): for mTLS tests of --client-ca.
Result<IssuedCert> issue_client_cert(const CertificateAuthority& ca, std::string_view common_name, int days,
                                     KeyType key_type);

// A fresh CA and a serving certificate for the request's Service names plus `extra` names.
Result<GeneratedPair> generate_pair(const CertRequest& request, const SubjectNames& extra = {});

// A throwaway CA and serving certificate for DNS "localhost" and IPs 127.0.0.1 and ::1, valid one day.
Result<GeneratedPair> generate_localhost_pair(KeyType key_type = KeyType::Ecdsa);

enum class Overwrite { Refuse, Replace };

// Writes ca.crt, ca.key, tls.crt, tls.key into `out_dir` (created if missing). Each file is written to a
// temporary file in the same directory, synced and renamed into place, so a reader never sees a partial
// file. Keys get mode 0600, certificates 0644. With Overwrite::Refuse, an existing file of these four is
// an error and nothing is written.
Status write_pair(const GeneratedPair& pair, const std::string& out_dir, Overwrite overwrite);

// validate + generate_pair + write_pair: what `gitgate certs` does.
Status write_certificates(const CertRequest& request, const std::string& out_dir,
                          Overwrite overwrite = Overwrite::Refuse);

// Replaces `path` atomically (temporary file in the same directory, fsync, rename) with `content` and
// `mode`. Useful to rotate a single file under a watching server.
Status write_file_atomically(const std::string& path, std::string_view content, unsigned mode);

}  // namespace gitgate::certs
