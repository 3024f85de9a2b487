// The certificates `gitgate certs` writes and the helpers other tests use, checked independently with
// OpenSSL: names, usages, signatures, validity, chains, file modes, refusal to overwrite.
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/x509v3.h>

#include "certs/certs.h"
#include "tests/certs/x509_inspect.h"
#include "tests/support/support.h"

namespace gitgate::certs {
namespace {

namespace fs = std::filesystem;
namespace x509 = gitgate::testing::x509;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr long kDay = 86400;

GeneratedPair make_pair(KeyType key_type = KeyType::Ecdsa, int days = 365) {
  auto pair = generate_pair(CertRequest{"gitgate", "gitgate-system", days, key_type});
  EXPECT_TRUE(pair.ok()) << pair.error();
  return std::move(pair).value();
}

unsigned file_mode(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

bool same_key_id(const ASN1_OCTET_STRING* a, const ASN1_OCTET_STRING* b) {
  return a != nullptr && b != nullptr && ASN1_OCTET_STRING_cmp(a, b) == 0;
}

TEST(ServingCertificate, NamesEveryDnsFormOfTheService) {
  auto pair = make_pair();
  auto cert = x509::parse_cert(pair.serving.cert_pem);
  ASSERT_TRUE(cert);
  EXPECT_THAT(x509::dns_names(cert.get()),
              ElementsAre("gitgate", "gitgate.gitgate-system", "gitgate.gitgate-system.svc",
                          "gitgate.gitgate-system.svc.cluster.local"));
  EXPECT_TRUE(x509::ip_addresses(cert.get()).empty());
}

TEST(ServingCertificate, IsForServerAuthenticationOnly) {
  auto cert = x509::parse_cert(make_pair().serving.cert_pem);
  EXPECT_THAT(x509::extended_key_usages(cert.get()), ElementsAre("serverAuth"));
  EXPECT_FALSE(x509::is_ca(cert.get()));
  EXPECT_TRUE(x509::has_critical_basic_constraints(cert.get()));
  EXPECT_EQ(x509::key_usage(cert.get()), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
}

TEST(ServingCertificate, EcdsaKeysUseP256) {
  auto pair = make_pair(KeyType::Ecdsa);
  for (const auto* pem : {&pair.ca.cert_pem, &pair.serving.cert_pem}) {
    auto cert = x509::parse_cert(*pem);
    EXPECT_EQ(x509::key_type(cert.get()), EVP_PKEY_EC);
    char group[64] = {};
    size_t length = 0;
    ASSERT_EQ(EVP_PKEY_get_group_name(X509_get0_pubkey(cert.get()), group, sizeof(group), &length), 1);
    EXPECT_STREQ(group, "prime256v1");
  }
}

TEST(ServingCertificate, RsaKeysAre3072BitsAndAllowKeyEncipherment) {
  auto pair = make_pair(KeyType::Rsa);
  auto ca = x509::parse_cert(pair.ca.cert_pem);
  auto cert = x509::parse_cert(pair.serving.cert_pem);
  EXPECT_EQ(x509::key_type(ca.get()), EVP_PKEY_RSA);
  EXPECT_EQ(x509::key_bits(ca.get()), 3072);
  EXPECT_EQ(x509::key_type(cert.get()), EVP_PKEY_RSA);
  EXPECT_EQ(x509::key_bits(cert.get()), 3072);
  EXPECT_EQ(x509::key_usage(cert.get()), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
  EXPECT_EQ(x509::signature_algorithm(cert.get()), "sha256WithRSAEncryption");
  EXPECT_EQ(x509::verify(cert.get(), ca.get(), "gitgate.gitgate-system.svc", X509_PURPOSE_SSL_SERVER), "");
}

TEST(ServingCertificate, SignaturesUseSha256) {
  auto pair = make_pair();
  for (const auto* pem : {&pair.ca.cert_pem, &pair.serving.cert_pem}) {
    auto cert = x509::parse_cert(*pem);
    EXPECT_EQ(x509::signature_digest_nid(cert.get()), NID_sha256) << x509::signature_algorithm(cert.get());
  }
}

TEST(ServingCertificate, ValidFromMinutesAgoForTheRequestedDays) {
  auto pair = make_pair(KeyType::Ecdsa, 30);
  for (const auto* pem : {&pair.ca.cert_pem, &pair.serving.cert_pem}) {
    auto cert = x509::parse_cert(*pem);
    long not_before = x509::seconds_until_not_before(cert.get());
    long not_after = x509::seconds_until_not_after(cert.get());
    EXPECT_LE(not_before, -60) << "notBefore must be backdated for clock skew";
    EXPECT_GE(not_before, -3600) << "notBefore should be only minutes in the past";
    EXPECT_NEAR(static_cast<double>(not_after - not_before), 30.0 * kDay, 5.0);
  }
}

TEST(ServingCertificate, IsSignedByTheCaAndVerifiesForTheServiceName) {
  auto pair = make_pair();
  auto ca = x509::parse_cert(pair.ca.cert_pem);
  auto cert = x509::parse_cert(pair.serving.cert_pem);
  EXPECT_TRUE(x509::signed_by(cert.get(), ca.get()));
  for (const char* name : {"gitgate", "gitgate.gitgate-system", "gitgate.gitgate-system.svc",
                           "gitgate.gitgate-system.svc.cluster.local"}) {
    EXPECT_EQ(x509::verify(cert.get(), ca.get(), name, X509_PURPOSE_SSL_SERVER), "") << name;
  }
  EXPECT_NE(x509::verify(cert.get(), ca.get(), "gitgate.other.svc", X509_PURPOSE_SSL_SERVER), "");
  EXPECT_TRUE(same_key_id(X509_get0_subject_key_id(ca.get()), X509_get0_authority_key_id(cert.get())));
}

TEST(ServingCertificate, IsNotTrustedThroughAnotherCa) {
  auto first = make_pair();
  auto second = make_pair();
  auto other_ca = x509::parse_cert(second.ca.cert_pem);
  auto cert = x509::parse_cert(first.serving.cert_pem);
  EXPECT_FALSE(x509::signed_by(cert.get(), other_ca.get()));
  EXPECT_NE(x509::verify(cert.get(), other_ca.get(), "gitgate.gitgate-system.svc", X509_PURPOSE_SSL_SERVER),
            "");
}

TEST(ServingCertificate, KeyBelongsToTheCertificate) {
  auto pair = make_pair();
  auto cert = x509::parse_cert(pair.serving.cert_pem);
  auto key = x509::parse_key(pair.serving.key_pem);
  ASSERT_TRUE(key);
  EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);
  EXPECT_THAT(pair.serving.key_pem, HasSubstr("-----BEGIN PRIVATE KEY-----"));
}

TEST(ServingCertificate, SerialsAreRandomAndLarge) {
  auto first = x509::parse_cert(make_pair().serving.cert_pem);
  auto second = x509::parse_cert(make_pair().serving.cert_pem);
  EXPECT_NE(x509::serial_hex(first.get()), x509::serial_hex(second.get()));
  for (auto* cert : {first.get(), second.get()}) {
    EXPECT_GT(x509::serial_bits(cert), 64) << "a random 128-bit serial is practically never this small";
    EXPECT_LE(x509::serial_bits(cert), 127) << "serials must be positive and fit 16 bytes";
  }
}

TEST(CertificateAuthority, IsACriticalCaThatOnlySignsCertificates) {
  auto pair = make_pair();
  auto ca = x509::parse_cert(pair.ca.cert_pem);
  EXPECT_TRUE(x509::is_ca(ca.get()));
  EXPECT_TRUE(x509::has_critical_basic_constraints(ca.get()));
  EXPECT_EQ(x509::key_usage(ca.get()), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  EXPECT_TRUE(x509::signed_by(ca.get(), ca.get()));
  EXPECT_NE(X509_get0_subject_key_id(ca.get()), nullptr);
  EXPECT_TRUE(x509::dns_names(ca.get()).empty());
}

TEST(LocalhostPair, ServesTlsForLocalhostAndLoopbackAddresses) {
  auto pair = generate_localhost_pair();
  ASSERT_TRUE(pair.ok()) << pair.error();
  auto cert = x509::parse_cert(pair->serving.cert_pem);
  EXPECT_THAT(x509::dns_names(cert.get()), ElementsAre("localhost"));
  EXPECT_THAT(x509::ip_addresses(cert.get()), UnorderedElementsAre("127.0.0.1", "::1"));
  for (const char* host : {"localhost", "127.0.0.1", "::1"}) {
    EXPECT_EQ(x509::memory_handshake(pair->serving.cert_pem, pair->serving.key_pem, pair->ca.cert_pem, host),
              "")
        << host;
  }
  EXPECT_THAT(
      x509::memory_handshake(pair->serving.cert_pem, pair->serving.key_pem, pair->ca.cert_pem, "example.com"),
      HasSubstr("hostname mismatch"));
}

TEST(LocalhostPair, RsaPairAlsoCompletesAHandshake) {
  auto pair = generate_localhost_pair(KeyType::Rsa);
  ASSERT_TRUE(pair.ok()) << pair.error();
  EXPECT_EQ(
      x509::memory_handshake(pair->serving.cert_pem, pair->serving.key_pem, pair->ca.cert_pem, "127.0.0.1"),
      "");
}

TEST(IssuedCertificates, FiftyFreshEcdsaPairsHaveDistinctSerials) {
  auto ca = generate_ca("rotation CA", 1, KeyType::Ecdsa);
  ASSERT_TRUE(ca.ok()) << ca.error();
  std::vector<std::string> serials;
  for (int i = 0; i < 50; ++i) {
    auto cert = issue_serving_cert(*ca, SubjectNames{{"localhost"}, {"127.0.0.1"}}, 1, KeyType::Ecdsa);
    ASSERT_TRUE(cert.ok()) << cert.error();
    serials.push_back(x509::serial_hex(x509::parse_cert(cert->cert_pem).get()));
  }
  std::sort(serials.begin(), serials.end());
  EXPECT_EQ(std::unique(serials.begin(), serials.end()), serials.end());
}

TEST(IssuedCertificates, ClientCertificateIsForClientAuthenticationOnly) {
  auto ca = generate_ca("client CA", 1, KeyType::Ecdsa);
  ASSERT_TRUE(ca.ok()) << ca.error();
  auto client = issue_client_cert(*ca, "kube-apiserver", 1, KeyType::Ecdsa);
  ASSERT_TRUE(client.ok()) << client.error();
  auto cert = x509::parse_cert(client->cert_pem);
  auto ca_cert = x509::parse_cert(ca->cert_pem);
  EXPECT_EQ(x509::common_name(cert.get()), "kube-apiserver");
  EXPECT_THAT(x509::extended_key_usages(cert.get()), ElementsAre("clientAuth"));
  EXPECT_EQ(x509::verify(cert.get(), ca_cert.get(), "", X509_PURPOSE_SSL_CLIENT), "");
  EXPECT_NE(x509::verify(cert.get(), ca_cert.get(), "", X509_PURPOSE_SSL_SERVER), "");
}

TEST(IssuedCertificates, RefuseACaKeyThatDoesNotMatchItsCertificate) {
  auto first = make_pair();
  auto second = make_pair();
  CertificateAuthority mixed{first.ca.cert_pem, second.ca.key_pem};
  auto cert = issue_serving_cert(mixed, SubjectNames{{"localhost"}, {}}, 1, KeyType::Ecdsa);
  ASSERT_FALSE(cert.ok());
  EXPECT_THAT(cert.error(), HasSubstr("CA key does not belong"));
}

TEST(CertRequestValidation, RejectsServiceAndNamespaceNamesThatAreNotDnsLabels) {
  const std::vector<std::string> bad_names{
      "", "Web", "a_b", "-web", "web-", "web.shop", std::string(64, 'a')};
  for (const auto& bad : bad_names) {
    auto service = validate(CertRequest{bad, "shop"});
    EXPECT_FALSE(service.ok()) << "service '" << bad << "'";
    EXPECT_THAT(service.error(), HasSubstr("--service"));
    auto ns = validate(CertRequest{"web", bad});
    EXPECT_FALSE(ns.ok()) << "namespace '" << bad << "'";
    EXPECT_THAT(ns.error(), HasSubstr("--namespace"));
  }
  EXPECT_TRUE(validate(CertRequest{std::string(63, 'a'), "a1-b2"}).ok());
}

TEST(CertRequestValidation, RejectsValidityOutsideOneDayToTenYears) {
  EXPECT_THAT(validate(CertRequest{"web", "shop", 0}).error(), HasSubstr("--days"));
  EXPECT_FALSE(validate(CertRequest{"web", "shop", kMaxDays + 1}).ok());
  EXPECT_TRUE(validate(CertRequest{"web", "shop", kMaxDays}).ok());
}

TEST(CertRequestValidation, RejectsMalformedExtraNames) {
  EXPECT_THAT(generate_pair(CertRequest{"web", "shop"}, SubjectNames{{}, {"999.1.1.1"}}).error(),
              HasSubstr("'999.1.1.1' is not an IPv4 or IPv6 address"));
  EXPECT_THAT(generate_pair(CertRequest{"web", "shop"}, SubjectNames{{"bad name"}, {}}).error(),
              HasSubstr("'bad name' is not a valid lowercase DNS name"));
}

TEST(CertFiles, WriteFileAtomicallyReplacesContentAndLeavesNoTemporaries) {
  gitgate::testing::TempDir dir;
  const std::string path = (dir / "tls.key").string();
  ASSERT_TRUE(write_file_atomically(path, "first", 0600).ok());
  ASSERT_TRUE(write_file_atomically(path, "second", 0640).ok());
  EXPECT_EQ(gitgate::testing::read_file(path), "second");
  EXPECT_EQ(file_mode(path), 0640u);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

// The command line, as an operator runs it.
class CertsCommand : public ::testing::Test {
 protected:
  gitgate::testing::CommandResult certs(std::vector<std::string> extra) {
    std::vector<std::string> argv{gitgate::testing::gitgate_binary(), "certs"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return gitgate::testing::run_command(argv, std::chrono::seconds(30));
  }
  gitgate::testing::CommandResult certs_for_web(const fs::path& out, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{"--service", "web", "--namespace", "shop", "--out", out.string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return certs(argv);
  }
  gitgate::testing::TempDir dir_;
};

TEST_F(CertsCommand, WritesFourFilesWithPrivateKeysReadableOnlyByOwner) {
  auto run = certs_for_web(dir_.path());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(file_mode(dir_ / "ca.crt"), 0644u);
  EXPECT_EQ(file_mode(dir_ / "ca.key"), 0600u);
  EXPECT_EQ(file_mode(dir_ / "tls.crt"), 0644u);
  EXPECT_EQ(file_mode(dir_ / "tls.key"), 0600u);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_.path()), fs::directory_iterator()), 4);
}

TEST_F(CertsCommand, WrittenFilesFormAVerifiedChainForTheService) {
  ASSERT_EQ(certs_for_web(dir_.path()).exit_code, 0);
  auto ca = x509::parse_cert(gitgate::testing::read_file(dir_ / "ca.crt"));
  auto ca_key = x509::parse_key(gitgate::testing::read_file(dir_ / "ca.key"));
  auto cert = x509::parse_cert(gitgate::testing::read_file(dir_ / "tls.crt"));
  auto key = x509::parse_key(gitgate::testing::read_file(dir_ / "tls.key"));
  ASSERT_TRUE(ca && ca_key && cert && key);
  EXPECT_EQ(X509_check_private_key(ca.get(), ca_key.get()), 1);
  EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);
  EXPECT_EQ(x509::verify(cert.get(), ca.get(), "web.shop.svc", X509_PURPOSE_SSL_SERVER), "");
  EXPECT_THAT(x509::dns_names(cert.get()),
              ElementsAre("web", "web.shop", "web.shop.svc", "web.shop.svc.cluster.local"));
  EXPECT_EQ(x509::signature_digest_nid(cert.get()), NID_sha256);
  EXPECT_NEAR(static_cast<double>(x509::seconds_until_not_after(cert.get())), 365.0 * kDay, 600.0);
  EXPECT_EQ(x509::memory_handshake(gitgate::testing::read_file(dir_ / "tls.crt"),
                                   gitgate::testing::read_file(dir_ / "tls.key"),
                                   gitgate::testing::read_file(dir_ / "ca.crt"), "web.shop.svc"),
            "");
}

TEST_F(CertsCommand, PrintsWhatItWrote) {
  auto run = certs_for_web(dir_.path(), {"--days", "90"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  for (const char* file : {"ca.crt", "ca.key", "tls.crt", "tls.key"}) {
    EXPECT_THAT(run.out, HasSubstr((dir_ / file).string())) << file;
  }
  EXPECT_THAT(run.out, HasSubstr("web.shop.svc.cluster.local"));
  EXPECT_THAT(run.out, HasSubstr("valid 90 days"));
  EXPECT_THAT(run.out, ::testing::Not(HasSubstr("PRIVATE KEY")));
}

TEST_F(CertsCommand, RsaKeyTypeWritesRsaKeys) {
  auto run = certs_for_web(dir_.path(), {"--key-type", "rsa"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto cert = x509::parse_cert(gitgate::testing::read_file(dir_ / "tls.crt"));
  EXPECT_EQ(x509::key_type(cert.get()), EVP_PKEY_RSA);
  EXPECT_EQ(x509::key_bits(cert.get()), 3072);
}

TEST_F(CertsCommand, RefusesToOverwriteExistingKeysWithoutForce) {
  ASSERT_EQ(certs_for_web(dir_.path()).exit_code, 0);
  const std::string key_before = gitgate::testing::read_file(dir_ / "tls.key");
  const std::string ca_before = gitgate::testing::read_file(dir_ / "ca.key");

  auto again = certs_for_web(dir_.path());
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.err, HasSubstr("already exists"));
  EXPECT_THAT(again.err, HasSubstr("--force"));
  EXPECT_EQ(gitgate::testing::read_file(dir_ / "tls.key"), key_before);
  EXPECT_EQ(gitgate::testing::read_file(dir_ / "ca.key"), ca_before);

  auto forced = certs_for_web(dir_.path(), {"--force"});
  ASSERT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_NE(gitgate::testing::read_file(dir_ / "tls.key"), key_before);
  EXPECT_NE(gitgate::testing::read_file(dir_ / "ca.key"), ca_before);
  EXPECT_EQ(file_mode(dir_ / "tls.key"), 0600u);
}

TEST_F(CertsCommand, RefusesEvenWhenOnlyOneOfTheFilesExists) {
  gitgate::testing::write_file(dir_ / "ca.key", "keep me");
  auto run = certs_for_web(dir_.path());
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.err, HasSubstr("ca.key already exists"));
  EXPECT_EQ(gitgate::testing::read_file(dir_ / "ca.key"), "keep me");
  EXPECT_FALSE(fs::exists(dir_ / "tls.key"));
}

TEST_F(CertsCommand, CreatesAMissingOutputDirectory) {
  auto run = certs_for_web(dir_ / "nested" / "certs");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_TRUE(fs::exists(dir_ / "nested" / "certs" / "tls.crt"));
}

TEST_F(CertsCommand, RejectsAnInvalidServiceNameWithExitOne) {
  auto run = certs({"--service", "Web_1", "--namespace", "shop", "--out", dir_.path().string()});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.err, HasSubstr("--service 'Web_1' is not a Service name"));
  EXPECT_TRUE(fs::is_empty(dir_.path()));
}

TEST_F(CertsCommand, RequiresServiceNamespaceAndOut) {
  auto run = certs({"--namespace", "shop", "--out", dir_.path().string()});
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.err, HasSubstr("--service"));
  EXPECT_TRUE(fs::is_empty(dir_.path()));
}

TEST_F(CertsCommand, RejectsUnknownKeyTypes) {
  auto run = certs_for_web(dir_.path(), {"--key-type", "dsa"});
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.err, HasSubstr("--key-type"));
  EXPECT_TRUE(fs::is_empty(dir_.path()));
}

TEST_F(CertsCommand, HelpNamesEveryOption) {
  auto run = certs({"--help"});
  EXPECT_EQ(run.exit_code, 0);
  for (const char* flag : {"--service", "--namespace", "--out", "--days", "--key-type", "--force"}) {
    EXPECT_THAT(run.out, HasSubstr(flag)) << flag;
  }
}

}  // namespace
}  // namespace gitgate::certs
