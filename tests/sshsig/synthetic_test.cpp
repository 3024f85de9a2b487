// Signatures built with OpenSSL for what ssh-keygen and git cannot produce here (FIDO security keys,
// SHA-1 RSA, odd encodings), each also shown to ssh-keygen -Y verify so the formats are OpenSSH's own.
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include <memory>
#include <string>

#include "gitstate/sshsig/sshsig.h"
#include "tests/sshsig/ssh_tools.h"
#include "tests/support/support.h"

namespace gitgate::sshsig {
namespace {

using testing::armor;
using testing::wire_mpint;
using testing::wire_string;
using testing::wire_u32;

constexpr int64_t kCommitTime = 1700000000;
constexpr std::string_view kPayload =
    "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
    "author Alice Example <alice@example.com> 1700000000 +0000\n"
    "committer Alice Example <alice@example.com> 1700000000 +0000\n\nDeploy web v2\n";

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

std::string as_string(const unsigned char* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

std::string digest(const EVP_MD* md, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EXPECT_EQ(EVP_Digest(data.data(), data.size(), out, &size, md, nullptr), 1);
  return as_string(out, size);
}

std::string sign(EVP_PKEY* key, const EVP_MD* md, std::string_view message) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t size = 0;
  EXPECT_EQ(EVP_DigestSignInit(ctx, nullptr, md, nullptr, key), 1);
  EXPECT_EQ(EVP_DigestSign(ctx, nullptr, &size, reinterpret_cast<const unsigned char*>(message.data()),
                           message.size()),
            1);
  std::string signature(size, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(signature.data()), &size,
                           reinterpret_cast<const unsigned char*>(message.data()), message.size()),
            1);
  EVP_MD_CTX_free(ctx);
  signature.resize(size);
  return signature;
}

std::string bn_param(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(key, name, &bn), 1);
  std::string bytes(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
  BN_free(bn);
  return bytes;
}

std::string ed25519_public(EVP_PKEY* key) {
  unsigned char raw[32];
  size_t size = sizeof raw;
  EXPECT_EQ(EVP_PKEY_get_raw_public_key(key, raw, &size), 1);
  return as_string(raw, size);
}

std::string ec_point(EVP_PKEY* key) {
  unsigned char point[133];
  size_t size = 0;
  EXPECT_EQ(EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &size), 1);
  return as_string(point, size);
}

// DER ECDSA signature to SSH's "mpint r | mpint s".
std::string ecdsa_ssh_signature(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig, &r, &s);
  auto bytes = [](const BIGNUM* bn) {
    std::string out(static_cast<size_t>(BN_num_bytes(bn)), '\0');
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
    return out;
  };
  std::string encoded = wire_mpint(bytes(r)) + wire_mpint(bytes(s));
  ECDSA_SIG_free(sig);
  return encoded;
}

// What every key signs for namespace "git" (PROTOCOL.sshsig).
std::string sshsig_message(std::string_view hash_algorithm = "sha512", std::string_view payload = kPayload) {
  const EVP_MD* md = hash_algorithm == "sha256" ? EVP_sha256() : EVP_sha512();
  return "SSHSIG" + wire_string("git") + wire_string("") + wire_string(hash_algorithm) +
         wire_string(digest(md, payload));
}

std::string sshsig_armor(const std::string& key_blob, const std::string& signature_field,
                         std::string_view hash_algorithm = "sha512", std::string_view reserved = "") {
  return armor("SSHSIG" + wire_u32(1) + wire_string(key_blob) + wire_string("git") + wire_string(reserved) +
               wire_string(hash_algorithm) + wire_string(signature_field));
}

// A FIDO authenticator signs SHA256(application) | flags | counter | SHA256(message) (PROTOCOL.u2f).
std::string security_key_message(std::string_view application, uint8_t flags, uint32_t counter) {
  return digest(EVP_sha256(), application) + std::string(1, static_cast<char>(flags)) + wire_u32(counter) +
         digest(EVP_sha256(), sshsig_message());
}

class SyntheticSignature : public ::testing::Test {
 protected:
  // Checks the signature with the library and with ssh-keygen (key listed for alice@example.com).
  SignatureCheck check(const std::string& key_blob, const std::string& armored, std::string_view key_type) {
    std::string allowed =
        std::string("alice@example.com ") + std::string(key_type) + " " + testing::base64(key_blob) + "\n";
    std::string path = (home_ / "allowed_signers").string();
    gitgate::testing::write_file(path, allowed);
    Result<AllowedSigners> signers = parse_allowed_signers(allowed, "allowed_signers");
    EXPECT_TRUE(signers.ok()) << signers.error();
    SignatureCheck result = verify_git_signature(armored, kPayload, *signers, kCommitTime);
    ssh_keygen_accepts_ =
        testing::ssh_keygen_verifies(home_.path(), path, "alice@example.com", armored, kPayload, kCommitTime);
    return result;
  }

  gitgate::testing::TempDir home_;
  bool ssh_keygen_accepts_ = false;
};

TEST_F(SyntheticSignature, SecurityKeyEd25519IsVerifiedAndCountsTheCounter) {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  std::string type = "sk-ssh-ed25519@openssh.com";
  std::string blob = wire_string(type) + wire_string(ed25519_public(key.get())) + wire_string("ssh:");
  std::string signature = sign(key.get(), nullptr, security_key_message("ssh:", 0x01, 42));
  std::string field = wire_string(type) + wire_string(signature) + std::string(1, '\x01') + wire_u32(42);

  SignatureCheck good = check(blob, sshsig_armor(blob, field), type);
  EXPECT_EQ(good.status, SignatureStatus::Verified) << good.detail;
  EXPECT_TRUE(ssh_keygen_accepts_);

  std::string replayed_counter =
      wire_string(type) + wire_string(signature) + std::string(1, '\x01') + wire_u32(43);
  SignatureCheck bad = check(blob, sshsig_armor(blob, replayed_counter), type);
  EXPECT_EQ(bad.status, SignatureStatus::Invalid);
  EXPECT_FALSE(ssh_keygen_accepts_);
}

TEST_F(SyntheticSignature, SecurityKeyEcdsaIsVerifiedAndBindsTheFlags) {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  std::string type = "sk-ecdsa-sha2-nistp256@openssh.com";
  std::string blob =
      wire_string(type) + wire_string("nistp256") + wire_string(ec_point(key.get())) + wire_string("ssh:");
  std::string signature =
      ecdsa_ssh_signature(sign(key.get(), EVP_sha256(), security_key_message("ssh:", 0x05, 7)));
  std::string field = wire_string(type) + wire_string(signature) + std::string(1, '\x05') + wire_u32(7);

  SignatureCheck good = check(blob, sshsig_armor(blob, field), type);
  EXPECT_EQ(good.status, SignatureStatus::Verified) << good.detail;
  EXPECT_TRUE(ssh_keygen_accepts_);

  std::string other_flags = wire_string(type) + wire_string(signature) + std::string(1, '\x01') + wire_u32(7);
  SignatureCheck bad = check(blob, sshsig_armor(blob, other_flags), type);
  EXPECT_EQ(bad.status, SignatureStatus::Invalid);
  EXPECT_FALSE(ssh_keygen_accepts_);
}

TEST_F(SyntheticSignature, SecurityKeyWithoutUserPresenceIsAcceptedAsSshKeygenDoes) {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  std::string type = "sk-ssh-ed25519@openssh.com";
  std::string blob = wire_string(type) + wire_string(ed25519_public(key.get())) + wire_string("ssh:");
  std::string field = wire_string(type) +
                      wire_string(sign(key.get(), nullptr, security_key_message("ssh:", 0, 1))) +
                      std::string(1, '\0') + wire_u32(1);
  SignatureCheck result = check(blob, sshsig_armor(blob, field), type);
  EXPECT_EQ(result.status, SignatureStatus::Verified) << result.detail;
  EXPECT_TRUE(ssh_keygen_accepts_);
}

TEST_F(SyntheticSignature, RsaSha1SignatureIsInvalidButSha256IsVerified) {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}));
  std::string blob = wire_string("ssh-rsa") + wire_mpint(bn_param(key.get(), OSSL_PKEY_PARAM_RSA_E)) +
                     wire_mpint(bn_param(key.get(), OSSL_PKEY_PARAM_RSA_N));

  std::string sha1 = wire_string("ssh-rsa") + wire_string(sign(key.get(), EVP_sha1(), sshsig_message()));
  SignatureCheck weak = check(blob, sshsig_armor(blob, sha1), "ssh-rsa");
  EXPECT_EQ(weak.status, SignatureStatus::Invalid);
  EXPECT_EQ(weak.detail,
            "ssh-rsa (SHA-1) signatures are not accepted; sign with rsa-sha2-512 (any current OpenSSH does)");
  EXPECT_FALSE(ssh_keygen_accepts_);

  std::string sha256 =
      wire_string("rsa-sha2-256") + wire_string(sign(key.get(), EVP_sha256(), sshsig_message()));
  SignatureCheck good = check(blob, sshsig_armor(blob, sha256), "ssh-rsa");
  EXPECT_EQ(good.status, SignatureStatus::Verified) << good.detail;
  EXPECT_TRUE(ssh_keygen_accepts_);
}

TEST_F(SyntheticSignature, RsaSignatureShorterThanTheModulusIsPaddedAsOpenSshDoes) {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}));
  std::string blob = wire_string("ssh-rsa") + wire_mpint(bn_param(key.get(), OSSL_PKEY_PARAM_RSA_E)) +
                     wire_mpint(bn_param(key.get(), OSSL_PKEY_PARAM_RSA_N));
  // PKCS#1 v1.5 is deterministic: vary the payload until a signature starts with a zero byte.
  for (int attempt = 0; attempt < 5000; ++attempt) {
    std::string payload = std::string(kPayload) + std::to_string(attempt) + "\n";
    std::string signature = sign(key.get(), EVP_sha512(), sshsig_message("sha512", payload));
    if (signature[0] != '\0') continue;
    std::string field = wire_string("rsa-sha2-512") + wire_string(signature.substr(1));
    Result<AllowedSigners> signers =
        parse_allowed_signers("alice@example.com ssh-rsa " + testing::base64(blob) + "\n", "allowed_signers");
    ASSERT_TRUE(signers.ok()) << signers.error();
    SignatureCheck result = verify_git_signature(sshsig_armor(blob, field), payload, *signers, kCommitTime);
    EXPECT_EQ(result.status, SignatureStatus::Verified) << result.detail;
    EXPECT_TRUE(testing::ssh_keygen_signature_valid(home_.path(), sshsig_armor(blob, field), payload));
    return;
  }
  FAIL() << "no signature with a leading zero byte in 5000 attempts";
}

TEST_F(SyntheticSignature, NonEmptyReservedFieldIsIgnoredAsOpenSshDoes) {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  std::string blob = wire_string("ssh-ed25519") + wire_string(ed25519_public(key.get()));
  std::string field = wire_string("ssh-ed25519") + wire_string(sign(key.get(), nullptr, sshsig_message()));
  SignatureCheck result = check(blob, sshsig_armor(blob, field, "sha512", "future-extension"), "ssh-ed25519");
  EXPECT_EQ(result.status, SignatureStatus::Verified) << result.detail;
  EXPECT_TRUE(ssh_keygen_accepts_);
}

TEST_F(SyntheticSignature, SignatureTypeThatDoesNotFitTheKeyIsInvalid) {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  std::string blob = wire_string("ssh-ed25519") + wire_string(ed25519_public(key.get()));
  std::string field =
      wire_string("sk-ssh-ed25519@openssh.com") + wire_string(sign(key.get(), nullptr, sshsig_message()));
  SignatureCheck result = check(blob, sshsig_armor(blob, field), "ssh-ed25519");
  EXPECT_EQ(result.status, SignatureStatus::Invalid);
  EXPECT_EQ(result.detail,
            "signature type \"sk-ssh-ed25519@openssh.com\" does not match key type \"ssh-ed25519\"");
  EXPECT_FALSE(ssh_keygen_accepts_);
}

TEST_F(SyntheticSignature, HashOtherThanSha256OrSha512IsInvalid) {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  std::string blob = wire_string("ssh-ed25519") + wire_string(ed25519_public(key.get()));
  std::string message = "SSHSIG" + wire_string("git") + wire_string("") + wire_string("sha384") +
                        wire_string(digest(EVP_sha384(), kPayload));
  std::string field = wire_string("ssh-ed25519") + wire_string(sign(key.get(), nullptr, message));
  SignatureCheck result = check(blob, sshsig_armor(blob, field, "sha384"), "ssh-ed25519");
  EXPECT_EQ(result.status, SignatureStatus::Invalid);
  EXPECT_EQ(result.detail, "hash algorithm \"sha384\" is not supported (sha256 or sha512)");
  EXPECT_FALSE(ssh_keygen_accepts_);
}

TEST_F(SyntheticSignature, EcdsaPointOffTheCurveIsInvalid) {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  std::string point = ec_point(key.get());
  point[64] = static_cast<char>(point[64] ^ 1);
  std::string blob = wire_string("ecdsa-sha2-nistp256") + wire_string("nistp256") + wire_string(point);
  std::string field = wire_string("ecdsa-sha2-nistp256") +
                      wire_string(ecdsa_ssh_signature(sign(key.get(), EVP_sha256(), sshsig_message())));
  SignatureCheck result = check(blob, sshsig_armor(blob, field), "ecdsa-sha2-nistp256");
  EXPECT_EQ(result.status, SignatureStatus::Invalid);
  EXPECT_EQ(result.detail, "ECDSA public key is not a valid point on its curve");
  EXPECT_FALSE(ssh_keygen_accepts_);
}

TEST_F(SyntheticSignature, CertificateSignerIsUnknownKeyAndOtherUnknownTypesInvalid) {
  std::string certificate =
      wire_string("ssh-ed25519-cert-v01@openssh.com") + wire_string("nonce") + wire_string("k");
  std::string field = wire_string("ssh-ed25519") + wire_string(std::string(64, 's'));
  Result<AllowedSigners> none = parse_allowed_signers("", "allowed_signers");
  ASSERT_TRUE(none.ok());
  SignatureCheck cert = verify_git_signature(sshsig_armor(certificate, field), kPayload, *none, kCommitTime);
  EXPECT_EQ(cert.status, SignatureStatus::UnknownKey);
  EXPECT_EQ(cert.detail,
            "signed with an OpenSSH certificate (ssh-ed25519-cert-v01@openssh.com); certificates are not "
            "supported");
  EXPECT_TRUE(cert.key_fingerprint.starts_with("SHA256:"));

  std::string dsa =
      wire_string("ssh-dss") + wire_string("p") + wire_string("q") + wire_string("g") + wire_string("y");
  SignatureCheck unsupported = verify_git_signature(
      sshsig_armor(dsa, wire_string("ssh-dss") + wire_string("sig")), kPayload, *none, kCommitTime);
  EXPECT_EQ(unsupported.status, SignatureStatus::Invalid);
  EXPECT_EQ(unsupported.detail, "key type \"ssh-dss\" is not supported");
}

}  // namespace
}  // namespace gitgate::sshsig
