#include "certs/certs.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace gitgate::certs {
namespace {

namespace fs = std::filesystem;

// Clock skew between this machine and the API server's must not make a fresh certificate "not yet valid".
constexpr long kBackdateSeconds = 5 * 60;
constexpr size_t kMaxCommonName = 64;  // ub-common-name in RFC 5280
constexpr size_t kMaxDnsName = 253;
constexpr size_t kMaxLabel = 63;
constexpr int kRsaBits = 3072;

struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
  void operator()(ASN1_INTEGER* p) const { ASN1_INTEGER_free(p); }
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
  void operator()(GENERAL_NAME* p) const { GENERAL_NAME_free(p); }
};
template <class T>
using Owned = std::unique_ptr<T, Free>;

Error openssl_error(std::string_view what) {
  unsigned long code = ERR_get_error();
  std::string message = "certs: " + std::string(what);
  if (code != 0) {
    char text[256];
    ERR_error_string_n(code, text, sizeof(text));
    message += ": ";
    message += text;
  }
  ERR_clear_error();
  return Error{message};
}

Error os_error(std::string_view what, const std::string& path, int err) {
  return Error{"certs: " + std::string(what) + " " + path + ": " + std::strerror(err)};
}

bool is_dns_label(std::string_view label) {
  if (label.empty() || label.size() > kMaxLabel) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(label.front()) || !alnum(label.back())) return false;
  for (char c : label) {
    if (!alnum(c) && c != '-') return false;
  }
  return true;
}

bool is_dns_name(std::string_view name) {
  if (name.starts_with("*.")) name.remove_prefix(2);
  if (name.empty() || name.size() > kMaxDnsName) return false;
  size_t start = 0;
  for (;;) {
    size_t dot = name.find('.', start);
    if (!is_dns_label(name.substr(start, dot == std::string_view::npos ? dot : dot - start))) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

Status check_days(int days) {
  if (days < 1 || days > kMaxDays) {
    return Error{"certs: --days must be between 1 and " + std::to_string(kMaxDays) + ", got " +
                 std::to_string(days)};
  }
  return Status::Ok();
}

Result<Owned<EVP_PKEY>> generate_key(KeyType key_type) {
  EVP_PKEY* key = key_type == KeyType::Ecdsa
                      ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")
                      : EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(kRsaBits));
  if (key == nullptr) return openssl_error("generating a key");
  return Owned<EVP_PKEY>(key);
}

Result<std::string> bio_text(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  if (size < 0 || data == nullptr) return openssl_error("reading PEM output");
  return std::string(data, static_cast<size_t>(size));
}

Result<std::string> cert_to_pem(X509* cert) {
  Owned<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return openssl_error("encoding a certificate");
  return bio_text(bio.get());
}

Result<std::string> key_to_pem(EVP_PKEY* key) {
  Owned<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return openssl_error("encoding a private key");
  }
  return bio_text(bio.get());
}

Result<Owned<X509>> cert_from_pem(const std::string& pem) {
  Owned<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509* cert = bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr;
  if (cert == nullptr) return openssl_error("the CA certificate is not a PEM certificate");
  return Owned<X509>(cert);
}

Result<Owned<EVP_PKEY>> key_from_pem(const std::string& pem) {
  Owned<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EVP_PKEY* key = bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr;
  if (key == nullptr) return openssl_error("the CA key is not an unencrypted PEM private key");
  return Owned<EVP_PKEY>(key);
}

// A positive serial of 16 random bytes (the top bit cleared so the DER INTEGER stays positive).
Status set_random_serial(X509* cert) {
  unsigned char bytes[16];
  do {
    if (RAND_bytes(bytes, sizeof(bytes)) != 1) return openssl_error("drawing a random serial");
    bytes[0] &= 0x7f;
  } while (std::all_of(std::begin(bytes), std::end(bytes), [](unsigned char b) { return b == 0; }));
  Owned<BIGNUM> bn(BN_bin2bn(bytes, sizeof(bytes), nullptr));
  Owned<ASN1_INTEGER> serial(bn ? BN_to_ASN1_INTEGER(bn.get(), nullptr) : nullptr);
  if (!serial || X509_set_serialNumber(cert, serial.get()) != 1) return openssl_error("setting the serial");
  return Status::Ok();
}

Status set_common_name(X509_NAME* name, std::string_view common_name) {
  std::string cn(common_name.substr(0, kMaxCommonName));
  if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("gitgate"),
                                 -1, -1, 0) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0) != 1) {
    return openssl_error("setting the subject name");
  }
  return Status::Ok();
}

// A certificate with everything but extensions and signature: version 3, serial, validity, subject, key.
Result<Owned<X509>> new_certificate(std::string_view common_name, int days, EVP_PKEY* subject_key) {
  Owned<X509> cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1)
    return openssl_error("creating a certificate");
  if (auto s = set_random_serial(cert.get()); !s) return Error{s.error()};
  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kBackdateSeconds) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert.get()), days, -kBackdateSeconds, nullptr) == nullptr) {
    return openssl_error("setting the validity");
  }
  if (auto s = set_common_name(X509_get_subject_name(cert.get()), common_name); !s) return Error{s.error()};
  if (X509_set_pubkey(cert.get(), subject_key) != 1) return openssl_error("setting the public key");
  return cert;
}

Status add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  Owned<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return openssl_error(std::string("adding extension ") + OBJ_nid2sn(nid));
  }
  return Status::Ok();
}

Status add_extensions(X509* cert, X509* issuer,
                      std::initializer_list<std::pair<int, const char*>> extensions) {
  for (const auto& [nid, value] : extensions) {
    if (auto s = add_extension(cert, issuer, nid, value); !s) return s;
  }
  return Status::Ok();
}

Result<Owned<GENERAL_NAME>> dns_general_name(const std::string& dns) {
  Owned<GENERAL_NAME> name(GENERAL_NAME_new());
  ASN1_IA5STRING* text = ASN1_IA5STRING_new();
  if (!name || text == nullptr || ASN1_STRING_set(text, dns.data(), static_cast<int>(dns.size())) != 1) {
    ASN1_IA5STRING_free(text);
    return openssl_error("encoding DNS name " + dns);
  }
  GENERAL_NAME_set0_value(name.get(), GEN_DNS, text);
  return name;
}

Result<Owned<GENERAL_NAME>> ip_general_name(const std::string& ip) {
  unsigned char bytes[16];
  int length = 0;
  if (inet_pton(AF_INET, ip.c_str(), bytes) == 1) {
    length = 4;
  } else if (inet_pton(AF_INET6, ip.c_str(), bytes) == 1) {
    length = 16;
  } else {
    return Error{"certs: '" + ip + "' is not an IPv4 or IPv6 address"};
  }
  Owned<GENERAL_NAME> name(GENERAL_NAME_new());
  ASN1_OCTET_STRING* octets = ASN1_OCTET_STRING_new();
  if (!name || octets == nullptr || ASN1_OCTET_STRING_set(octets, bytes, length) != 1) {
    ASN1_OCTET_STRING_free(octets);
    return openssl_error("encoding IP address " + ip);
  }
  GENERAL_NAME_set0_value(name.get(), GEN_IPADD, octets);
  return name;
}

Status add_subject_alt_names(X509* cert, const SubjectNames& names) {
  Owned<GENERAL_NAMES> all(sk_GENERAL_NAME_new_null());
  if (!all) return openssl_error("allocating subjectAltName");
  auto push = [&](Result<Owned<GENERAL_NAME>> name) -> Status {
    if (!name) return Error{name.error()};
    if (sk_GENERAL_NAME_push(all.get(), name->get()) == 0) return openssl_error("building subjectAltName");
    name->release();
    return Status::Ok();
  };
  for (const auto& dns : names.dns) {
    if (auto s = push(dns_general_name(dns)); !s) return s;
  }
  for (const auto& ip : names.ips) {
    if (auto s = push(ip_general_name(ip)); !s) return s;
  }
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, all.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return openssl_error("adding subjectAltName");
  }
  return Status::Ok();
}

Status check_names(const SubjectNames& names) {
  if (names.dns.empty() && names.ips.empty()) {
    return Error{"certs: a serving certificate needs at least one DNS name or IP address"};
  }
  for (const auto& dns : names.dns) {
    if (!is_dns_name(dns)) {
      return Error{"certs: '" + dns +
                   "' is not a valid lowercase DNS name (RFC 1123 labels of a-z, 0-9, '-')"};
    }
  }
  return Status::Ok();
}

struct LoadedCa {
  Owned<X509> cert;
  Owned<EVP_PKEY> key;
};

Result<LoadedCa> load_ca(const CertificateAuthority& ca) {
  auto cert = cert_from_pem(ca.cert_pem);
  if (!cert) return std::move(cert).take_error();
  auto key = key_from_pem(ca.key_pem);
  if (!key) return std::move(key).take_error();
  if (X509_check_private_key(cert->get(), key->get()) != 1) {
    return openssl_error("the CA key does not belong to the CA certificate");
  }
  return LoadedCa{std::move(cert).value(), std::move(key).value()};
}

// Signs a leaf whose key and extensions the caller chooses; returns the PEM pair.
Result<IssuedCert> issue(const CertificateAuthority& ca, std::string_view common_name, int days,
                         KeyType key_type, const char* key_usage, const char* extended_key_usage,
                         const SubjectNames* names) {
  if (auto s = check_days(days); !s) return Error{s.error()};
  auto loaded = load_ca(ca);
  if (!loaded) return std::move(loaded).take_error();
  auto key = generate_key(key_type);
  if (!key) return std::move(key).take_error();
  auto cert = new_certificate(common_name, days, key->get());
  if (!cert) return std::move(cert).take_error();
  X509* leaf = cert->get();
  if (X509_set_issuer_name(leaf, X509_get_subject_name(loaded->cert.get())) != 1) {
    return openssl_error("setting the issuer name");
  }
  if (auto s = add_extensions(leaf, loaded->cert.get(),
                              {{NID_basic_constraints, "critical,CA:FALSE"},
                               {NID_key_usage, key_usage},
                               {NID_ext_key_usage, extended_key_usage},
                               {NID_subject_key_identifier, "hash"},
                               {NID_authority_key_identifier, "keyid:always"}});
      !s) {
    return Error{s.error()};
  }
  if (names != nullptr) {
    if (auto s = add_subject_alt_names(leaf, *names); !s) return Error{s.error()};
  }
  if (X509_sign(leaf, loaded->key.get(), EVP_sha256()) == 0) return openssl_error("signing the certificate");
  auto cert_pem = cert_to_pem(leaf);
  if (!cert_pem) return std::move(cert_pem).take_error();
  auto key_pem = key_to_pem(key->get());
  if (!key_pem) return std::move(key_pem).take_error();
  return IssuedCert{std::move(cert_pem).value(), std::move(key_pem).value()};
}

std::string common_name_for(const SubjectNames& names) {
  for (const auto& dns : names.dns) {
    if (dns.size() <= kMaxCommonName) return dns;
  }
  return names.ips.empty() ? std::string("gitgate") : names.ips.front();
}

Status sync_directory(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return os_error("cannot open directory", dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return os_error("cannot sync directory", dir, err);
  return Status::Ok();
}

}  // namespace

SubjectNames service_names(std::string_view service, std::string_view ns) {
  std::string s(service);
  std::string n(ns);
  return SubjectNames{{s, s + "." + n, s + "." + n + ".svc", s + "." + n + ".svc.cluster.local"}, {}};
}

Status validate(const CertRequest& request) {
  if (!is_dns_label(request.service)) {
    return Error{
        "certs: --service '" + request.service +
        "' is not a Service name (a DNS-1123 label: at most 63 of a-z, 0-9, '-', starting and ending "
        "with a letter or digit)"};
  }
  if (!is_dns_label(request.ns)) {
    return Error{"certs: --namespace '" + request.ns +
                 "' is not a namespace name (a DNS-1123 label: at most 63 of a-z, 0-9, '-', starting and "
                 "ending with a letter or digit)"};
  }
  return check_days(request.days);
}

Result<CertificateAuthority> generate_ca(std::string_view common_name, int days, KeyType key_type) {
  if (auto s = check_days(days); !s) return Error{s.error()};
  auto key = generate_key(key_type);
  if (!key) return std::move(key).take_error();
  auto cert = new_certificate(common_name, days, key->get());
  if (!cert) return std::move(cert).take_error();
  X509* ca = cert->get();
  if (X509_set_issuer_name(ca, X509_get_subject_name(ca)) != 1)
    return openssl_error("setting the issuer name");
  // The subject key id must exist before the authority key id, which copies it for a self-signed CA.
  if (auto s = add_extensions(ca, ca,
                              {{NID_basic_constraints, "critical,CA:TRUE"},
                               {NID_key_usage, "critical,keyCertSign,cRLSign"},
                               {NID_subject_key_identifier, "hash"},
                               {NID_authority_key_identifier, "keyid:always"}});
      !s) {
    return Error{s.error()};
  }
  if (X509_sign(ca, key->get(), EVP_sha256()) == 0) return openssl_error("signing the CA certificate");
  auto cert_pem = cert_to_pem(ca);
  if (!cert_pem) return std::move(cert_pem).take_error();
  auto key_pem = key_to_pem(key->get());
  if (!key_pem) return std::move(key_pem).take_error();
  return CertificateAuthority{std::move(cert_pem).value(), std::move(key_pem).value()};
}

Result<IssuedCert> issue_serving_cert(const CertificateAuthority& ca, const SubjectNames& names, int days,
                                      KeyType key_type) {
  if (auto s = check_names(names); !s) return Error{s.error()};
  const char* key_usage =
      key_type == KeyType::Rsa ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature";
  return issue(ca, common_name_for(names), days, key_type, key_usage, "serverAuth", &names);
}

Result<IssuedCert> issue_client_cert(const CertificateAuthority& ca, std::string_view common_name, int days,
                                     KeyType key_type) {
  if (common_name.empty()) return Error{"certs: a client certificate needs a common name"};
  return issue(ca, common_name, days, key_type, "critical,digitalSignature", "clientAuth", nullptr);
}

Result<GeneratedPair> generate_pair(const CertRequest& request, const SubjectNames& extra) {
  if (auto s = validate(request); !s) return Error{s.error()};
  SubjectNames names = service_names(request.service, request.ns);
  names.dns.insert(names.dns.end(), extra.dns.begin(), extra.dns.end());
  names.ips = extra.ips;
  auto ca = generate_ca("gitgate CA " + request.service + "." + request.ns, request.days, request.key_type);
  if (!ca) return std::move(ca).take_error();
  auto serving = issue_serving_cert(*ca, names, request.days, request.key_type);
  if (!serving) return std::move(serving).take_error();
  return GeneratedPair{std::move(ca).value(), std::move(serving).value()};
}

Result<GeneratedPair> generate_localhost_pair(KeyType key_type) {
  auto ca = generate_ca("gitgate test CA", 1, key_type);
  if (!ca) return std::move(ca).take_error();
  auto serving = issue_serving_cert(*ca, SubjectNames{{"localhost"}, {"127.0.0.1", "::1"}}, 1, key_type);
  if (!serving) return std::move(serving).take_error();
  return GeneratedPair{std::move(ca).value(), std::move(serving).value()};
}

Status write_file_atomically(const std::string& path, std::string_view content, unsigned mode) {
  fs::path target(path);
  fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  // Built piecewise: GCC 12 warns falsely (-Wrestrict) on "." + std::string.
  std::string temp_name = ".";
  temp_name += target.filename().string();
  temp_name += ".tmp-XXXXXX";
  std::string temp = (dir / temp_name).string();
  int fd = ::mkstemp(temp.data());  // created 0600, so key bytes are never readable by others
  if (fd < 0) return os_error("cannot create a temporary file next to", path, errno);
  auto fail = [&](std::string_view what) {
    int err = errno;
    ::close(fd);
    ::unlink(temp.c_str());
    return os_error(what, path, err);
  };
  if (::fchmod(fd, static_cast<mode_t>(mode)) != 0) return fail("cannot set the mode of");
  size_t written = 0;
  while (written < content.size()) {
    ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("cannot write");
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("cannot sync");
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(temp.c_str());
    return os_error("cannot close", path, err);
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(temp.c_str());
    return os_error("cannot rename a temporary file onto", path, err);
  }
  return sync_directory(dir.string());
}

Status write_pair(const GeneratedPair& pair, const std::string& out_dir, Overwrite overwrite) {
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) return Error{"certs: cannot create directory " + out_dir + ": " + ec.message()};
  if (!fs::is_directory(out_dir, ec)) return Error{"certs: " + out_dir + " is not a directory"};

  struct File {
    std::string_view name;
    const std::string& content;
    unsigned mode;
  };
  // Keys before certificates: a watcher that sees the new certificate finds its key already in place.
  const File files[] = {{kCaKeyFile, pair.ca.key_pem, 0600},
                        {kCaCertFile, pair.ca.cert_pem, 0644},
                        {kKeyFile, pair.serving.key_pem, 0600},
                        {kCertFile, pair.serving.cert_pem, 0644}};
  if (overwrite == Overwrite::Refuse) {
    for (const auto& file : files) {
      fs::path path = fs::path(out_dir) / file.name;
      if (fs::exists(fs::symlink_status(path, ec))) {
        return Error{"certs: " + path.string() +
                     " already exists; refusing to overwrite certificates and keys (pass --force to replace "
                     "them)"};
      }
    }
  }
  for (const auto& file : files) {
    if (auto s = write_file_atomically((fs::path(out_dir) / file.name).string(), file.content, file.mode);
        !s) {
      return s;
    }
  }
  return Status::Ok();
}

Status write_certificates(const CertRequest& request, const std::string& out_dir, Overwrite overwrite) {
  auto pair = generate_pair(request);
  if (!pair) return Error{pair.error()};
  return write_pair(*pair, out_dir, overwrite);
}

}  // namespace gitgate::certs
