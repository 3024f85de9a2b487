#include "gitstate/known_hosts.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <gtest/gtest.h>

namespace gitgate::gitstate {
namespace {

// An ed25519 public key as it appears in known_hosts, and its wire-format blob.
constexpr std::string_view kKey = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
constexpr std::string_view kOtherKey = "AAAAC3NzaC1lZDI1NTE5AAAAIBnkU1ivNCRh9GbN8WV9dSbnUG6eqAyzXtrWIXaXgyhS";

std::string blob(std::string_view base64) {
  return *decode_base64(base64);
}

std::string encode_base64(std::string_view raw) {
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(raw.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// The "|1|salt|hash" form `ssh-keygen -H` writes.
std::string hashed(std::string_view name) {
  std::string salt(20, '\x5a');
  unsigned char mac[20];
  unsigned int len = 0;
  HMAC(EVP_sha1(), salt.data(), static_cast<int>(salt.size()),
       reinterpret_cast<const unsigned char*>(name.data()), name.size(), mac, &len);
  return "|1|" + encode_base64(salt) + "|" +
         encode_base64(std::string_view(reinterpret_cast<char*>(mac), len));
}

std::string line(std::string_view hosts, std::string_view key) {
  std::string out(hosts);
  out += " ssh-ed25519 ";
  out += key;
  out += "\n";
  return out;
}

TEST(KnownHosts, TrustsAListedKeyForTheHost) {
  std::string file = "# comment\n\n" + line("github.com,140.82.121.4", kKey);
  EXPECT_EQ(check_host_key(file, "github.com", 22, blob(kKey)), HostKeyVerdict::Trusted);
  EXPECT_EQ(check_host_key(file, "GitHub.com", 22, blob(kKey)), HostKeyVerdict::Trusted);
}

TEST(KnownHosts, RejectsAChangedKeyAsMismatch) {
  std::string file = line("git.example.com", kKey);
  EXPECT_EQ(check_host_key(file, "git.example.com", 22, blob(kOtherKey)), HostKeyVerdict::Mismatch);
}

TEST(KnownHosts, UnlistedHostIsUnknown) {
  std::string file = line("git.example.com", kKey);
  EXPECT_EQ(check_host_key(file, "evil.example.com", 22, blob(kKey)), HostKeyVerdict::Unknown);
  EXPECT_EQ(check_host_key("", "git.example.com", 22, blob(kKey)), HostKeyVerdict::Unknown);
}

TEST(KnownHosts, NonDefaultPortsUseBracketedNames) {
  std::string file = line("[127.0.0.1]:2222", kKey);
  EXPECT_EQ(check_host_key(file, "127.0.0.1", 2222, blob(kKey)), HostKeyVerdict::Trusted);
  EXPECT_EQ(check_host_key(file, "127.0.0.1", 22, blob(kKey)), HostKeyVerdict::Unknown);
  EXPECT_EQ(check_host_key(file, "127.0.0.1", 2223, blob(kKey)), HostKeyVerdict::Unknown);
}

TEST(KnownHosts, HashedHostNames) {
  std::string file = line(hashed("[127.0.0.1]:2222"), kKey) + line(hashed("git.example.com"), kKey);
  EXPECT_EQ(check_host_key(file, "127.0.0.1", 2222, blob(kKey)), HostKeyVerdict::Trusted);
  EXPECT_EQ(check_host_key(file, "git.example.com", 22, blob(kKey)), HostKeyVerdict::Trusted);
  EXPECT_EQ(check_host_key(file, "other.example.com", 22, blob(kKey)), HostKeyVerdict::Unknown);
}

TEST(KnownHosts, WildcardsAndNegation) {
  std::string file = line("*.example.com,!evil.example.com", kKey);
  EXPECT_EQ(check_host_key(file, "git.example.com", 22, blob(kKey)), HostKeyVerdict::Trusted);
  EXPECT_EQ(check_host_key(file, "evil.example.com", 22, blob(kKey)), HostKeyVerdict::Unknown);
  EXPECT_EQ(check_host_key(file, "example.com", 22, blob(kKey)), HostKeyVerdict::Unknown);
}

TEST(KnownHosts, RevokedKeyIsRefusedEvenWhenAlsoListed) {
  std::string file = line("git.example.com", kKey) + "@revoked * ssh-ed25519 " + std::string(kKey) + "\n";
  EXPECT_EQ(check_host_key(file, "git.example.com", 22, blob(kKey)), HostKeyVerdict::Revoked);
}

TEST(KnownHosts, CertificateAuthorityLinesNeverTrust) {
  std::string file = "@cert-authority *.example.com ssh-ed25519 " + std::string(kKey) + "\n";
  EXPECT_EQ(check_host_key(file, "git.example.com", 22, blob(kKey)), HostKeyVerdict::Unknown);
}

TEST(KnownHosts, MalformedLinesAreIgnored) {
  std::string file = "garbage\ngit.example.com ssh-ed25519 !!!notbase64\n" + line("git.example.com", kKey);
  EXPECT_EQ(check_host_key(file, "git.example.com", 22, blob(kKey)), HostKeyVerdict::Trusted);
}

TEST(KnownHosts, Base64Decoding) {
  EXPECT_EQ(decode_base64("aGVsbG8="), "hello");
  EXPECT_EQ(decode_base64("aGVsbG8"), "hello");
  EXPECT_FALSE(decode_base64("aGVsb*8=").has_value());
  EXPECT_FALSE(decode_base64("a").has_value());
}

}  // namespace
}  // namespace gitgate::gitstate
