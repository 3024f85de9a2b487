// parse_sshsig and parse_public_key on hand-built and damaged inputs: everything malformed is an error,
// nothing reads out of bounds.
#include <gtest/gtest.h>

#include <string>

#include "gitstate/sshsig/sshsig.h"
#include "tests/sshsig/ssh_tools.h"

namespace gitgate::sshsig {
namespace {

using testing::armor;
using testing::wire_string;
using testing::wire_u32;

std::string ed25519_key_blob(char fill = 'K') {
  return wire_string("ssh-ed25519") + wire_string(std::string(32, fill));
}

std::string ed25519_signature_field() {
  return wire_string("ssh-ed25519") + wire_string(std::string(64, 'S'));
}

std::string sshsig_blob(const std::string& key, const std::string& ns, const std::string& hash,
                        const std::string& signature, uint32_t version = 1) {
  return "SSHSIG" + wire_u32(version) + wire_string(key) + wire_string(ns) + wire_string("") +
         wire_string(hash) + wire_string(signature);
}

TEST(ParseSshsig, ReadsEveryFieldOfAWellFormedSignature) {
  Result<SshSignature> sig =
      parse_sshsig(armor(sshsig_blob(ed25519_key_blob(), "git", "sha512", ed25519_signature_field())));
  ASSERT_TRUE(sig.ok()) << sig.error();
  EXPECT_EQ(sig->key.type, KeyType::Ed25519);
  EXPECT_EQ(sig->key.type_name, "ssh-ed25519");
  EXPECT_EQ(sig->key.point, std::string(32, 'K'));
  EXPECT_EQ(sig->sig_namespace, "git");
  EXPECT_EQ(sig->hash_algorithm, "sha512");
  EXPECT_EQ(sig->signature_type, "ssh-ed25519");
  EXPECT_EQ(sig->signature_data, std::string(64, 'S'));
}

TEST(ParseSshsig, AcceptsCrLfAndSurroundingWhitespace) {
  std::string armored = armor(sshsig_blob(ed25519_key_blob(), "git", "sha512", ed25519_signature_field()));
  std::string crlf;
  for (char c : armored) {
    if (c == '\n') crlf += '\r';
    crlf += c;
  }
  EXPECT_TRUE(parse_sshsig("\n  " + crlf + "\n\n").ok());
}

TEST(ParseSshsig, RejectsMissingOrMisplacedArmorLines) {
  std::string armored = armor(sshsig_blob(ed25519_key_blob(), "git", "sha512", ed25519_signature_field()));
  std::string no_end = armored.substr(0, armored.find("-----END"));
  EXPECT_NE(parse_sshsig(no_end).error().find("missing '-----END SSH SIGNATURE-----'"), std::string::npos);
  std::string no_begin = armored.substr(armored.find('\n') + 1);
  EXPECT_NE(parse_sshsig(no_begin).error().find("missing '-----BEGIN SSH SIGNATURE-----'"),
            std::string::npos);
  EXPECT_FALSE(parse_sshsig("-----BEGIN SSH SIGNATURE----------END SSH SIGNATURE-----").ok());
  EXPECT_FALSE(parse_sshsig("-----BEGIN SSH SIGNATURE-----\n-----END SSH SIGNATURE-----").ok());
  EXPECT_FALSE(parse_sshsig("-----BEGIN SSH SIGNATURE-----U1NIU0lH\n-----END SSH SIGNATURE-----").ok());
}

TEST(ParseSshsig, RejectsCharactersOutsideBase64AndBadPadding) {
  std::string armored = armor(sshsig_blob(ed25519_key_blob(), "git", "sha512", ed25519_signature_field()));
  std::string garbled = armored;
  garbled[40] = '*';
  EXPECT_NE(parse_sshsig(garbled).error().find("not valid base64"), std::string::npos);
  EXPECT_FALSE(parse_sshsig(armor("SSHSIG") + "").ok());
  // "QQ" is 'A' plus leftover bits; "QR==" has non-zero unused bits, so it is not canonical.
  EXPECT_FALSE(parse_sshsig("-----BEGIN SSH SIGNATURE-----\nQR==\n-----END SSH SIGNATURE-----").ok());
  EXPECT_FALSE(parse_sshsig("-----BEGIN SSH SIGNATURE-----\nQQ=\n-----END SSH SIGNATURE-----").ok());
  EXPECT_FALSE(parse_sshsig("-----BEGIN SSH SIGNATURE-----\nQ=Q=\n-----END SSH SIGNATURE-----").ok());
}

TEST(ParseSshsig, RejectsWrongMagicAndVersion) {
  std::string blob = sshsig_blob(ed25519_key_blob(), "git", "sha512", ed25519_signature_field());
  std::string wrong_magic = blob;
  wrong_magic[0] = 'X';
  EXPECT_NE(parse_sshsig(armor(wrong_magic)).error().find("SSHSIG"), std::string::npos);
  Result<SshSignature> v2 =
      parse_sshsig(armor(sshsig_blob(ed25519_key_blob(), "git", "sha512", ed25519_signature_field(), 2)));
  EXPECT_NE(v2.error().find("version 2 is not supported"), std::string::npos);
}

TEST(ParseSshsig, EveryTruncationIsAnErrorNotACrash) {
  std::string blob = sshsig_blob(ed25519_key_blob(), "git", "sha512", ed25519_signature_field());
  for (size_t size = 0; size < blob.size(); ++size) {
    EXPECT_FALSE(parse_sshsig(armor(blob.substr(0, size))).ok()) << "prefix of " << size << " bytes";
  }
}

TEST(ParseSshsig, RejectsTrailingDataAfterTheObjectOrTheSignature) {
  std::string blob = sshsig_blob(ed25519_key_blob(), "git", "sha512", ed25519_signature_field());
  EXPECT_NE(parse_sshsig(armor(blob + "x")).error().find("trailing data"), std::string::npos);
  std::string padded_signature = ed25519_signature_field() + "x";
  EXPECT_NE(parse_sshsig(armor(sshsig_blob(ed25519_key_blob(), "git", "sha512", padded_signature)))
                .error()
                .find("trailing data"),
            std::string::npos);
}

TEST(ParseSshsig, RejectsLengthsThatPointPastTheEnd) {
  std::string blob = "SSHSIG" + wire_u32(1) + wire_u32(0xffffffff) + ed25519_key_blob();
  EXPECT_FALSE(parse_sshsig(armor(blob)).ok());
  std::string huge_namespace =
      "SSHSIG" + wire_u32(1) + wire_string(ed25519_key_blob()) + wire_u32(0x7fffffff) + "git";
  EXPECT_FALSE(parse_sshsig(armor(huge_namespace)).ok());
}

TEST(ParseSshsig, RejectsOversizedArmorBeforeDecoding) {
  std::string armored = armor(sshsig_blob(ed25519_key_blob(), "git", "sha512", ed25519_signature_field()));
  std::string huge = armored + std::string(kMaxArmoredSignatureBytes, ' ');
  EXPECT_NE(parse_sshsig(huge).error().find("larger than 16384 bytes"), std::string::npos);
}

TEST(ParseSshsig, RejectsEd25519SignatureOfWrongSize) {
  std::string short_sig = wire_string("ssh-ed25519") + wire_string(std::string(63, 'S'));
  EXPECT_NE(parse_sshsig(armor(sshsig_blob(ed25519_key_blob(), "git", "sha512", short_sig)))
                .error()
                .find("64 bytes"),
            std::string::npos);
}

TEST(ParseSshsig, KeepsUnknownKeyTypesOpaque) {
  std::string key = wire_string("ssh-dss") + wire_string("p") + wire_string("q");
  Result<SshSignature> sig =
      parse_sshsig(armor(sshsig_blob(key, "git", "sha512", wire_string("ssh-dss") + wire_string("x"))));
  ASSERT_TRUE(sig.ok()) << sig.error();
  EXPECT_EQ(sig->key.type, KeyType::Unsupported);
  EXPECT_EQ(sig->key.type_name, "ssh-dss");
}

TEST(ParsePublicKey, RejectsMalformedKeys) {
  EXPECT_FALSE(parse_public_key(wire_string("ssh-ed25519") + wire_string(std::string(31, 'k'))).ok());
  EXPECT_FALSE(parse_public_key(ed25519_key_blob() + "x").ok());
  EXPECT_FALSE(parse_public_key(wire_string("ssh ed25519") + wire_string(std::string(32, 'k'))).ok());
  // ECDSA: the curve name must fit the type and the point must be uncompressed.
  std::string point(65, '\x01');
  point[0] = '\x04';
  EXPECT_TRUE(
      parse_public_key(wire_string("ecdsa-sha2-nistp256") + wire_string("nistp256") + wire_string(point))
          .ok());
  EXPECT_FALSE(
      parse_public_key(wire_string("ecdsa-sha2-nistp256") + wire_string("nistp384") + wire_string(point))
          .ok());
  point[0] = '\x02';
  EXPECT_FALSE(
      parse_public_key(wire_string("ecdsa-sha2-nistp256") + wire_string("nistp256") + wire_string(point))
          .ok());
}

TEST(ParsePublicKey, RsaIntegersMustBeCanonicalAndBounded) {
  std::string modulus =
      std::string(1, '\0') + '\xc1' + std::string(255, '\x11');  // 2048 bits and a sign byte
  std::string exponent = "\x01\x00\x01";
  Result<PublicKey> key =
      parse_public_key(wire_string("ssh-rsa") + wire_string(exponent) + wire_string(modulus));
  ASSERT_TRUE(key.ok()) << key.error();
  EXPECT_EQ(key->bits(), 2048);
  EXPECT_EQ(key->rsa_modulus.size(), 256u);
  // A redundant leading zero, a negative modulus, a 16392-bit modulus.
  EXPECT_FALSE(parse_public_key(wire_string("ssh-rsa") + wire_string(std::string(1, '\0') + exponent) +
                                wire_string(modulus))
                   .ok());
  EXPECT_FALSE(
      parse_public_key(wire_string("ssh-rsa") + wire_string(exponent) + wire_string(modulus.substr(1))).ok());
  EXPECT_FALSE(parse_public_key(wire_string("ssh-rsa") + wire_string(exponent) +
                                wire_string(std::string(2049, '\x7f')))
                   .ok());
}

TEST(ParsePublicKey, FingerprintMatchesSshKeygenFormat) {
  // ssh-keygen -l prints SHA256 of the blob in unpadded base64.
  Result<PublicKey> key = parse_public_key(ed25519_key_blob());
  ASSERT_TRUE(key.ok());
  std::string fingerprint = key->fingerprint();
  EXPECT_TRUE(fingerprint.starts_with("SHA256:"));
  EXPECT_EQ(fingerprint.size(), 7u + 43u);
}

}  // namespace
}  // namespace gitgate::sshsig
