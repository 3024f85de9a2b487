// allowed_signers parsing: what OpenSSH accepts is read the same way; what it would drop with a logged
// error fails the whole file with "path:line: message".
#include <gtest/gtest.h>

#include <string>

#include "gitstate/sshsig/sshsig.h"
#include "tests/sshsig/ssh_tools.h"
#include "tests/support/support.h"

namespace gitgate::sshsig {
namespace {

using gitgate::testing::fixture_path;

constexpr std::string_view kEd25519 =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBWCn8ybQFvX8ESmlBaKGS7RUTIFjzr5tkSKmdD2gGoV";
constexpr std::string_view kEd25519Fingerprint = "SHA256:1tzIfi12tpRP04ntZ2C0s//rNt6Wkm/XgyyAAEPbx8o";

std::string with_key(std::string_view before_key, std::string_view key = kEd25519) {
  std::string line(before_key);
  line += ' ';
  line += key;
  line += '\n';
  return line;
}

std::string parse_error(std::string_view text) {
  Result<AllowedSigners> parsed = parse_allowed_signers(text, "signers");
  return parsed.ok() ? "parsed without error" : parsed.error();
}

TEST(AllowedSigners, LoadsTheDocumentedFixture) {
  std::string path = fixture_path("sshsig/allowed_signers");
  Result<AllowedSigners> signers = load_allowed_signers(path);
  ASSERT_TRUE(signers.ok()) << signers.error();
  EXPECT_EQ(signers->source, path);
  ASSERT_EQ(signers->signers.size(), 3u);

  const AllowedSigner& alice = signers->signers[0];
  EXPECT_EQ(alice.principals_text(), "alice@example.com");
  EXPECT_EQ(alice.key.type, KeyType::Ed25519);
  EXPECT_EQ(alice.key.fingerprint(), kEd25519Fingerprint);
  EXPECT_TRUE(alice.namespaces.empty());
  EXPECT_EQ(alice.line, 4u);

  const AllowedSigner& bob = signers->signers[1];
  EXPECT_EQ(bob.principals, (std::vector<std::string>{"bob@example.com", "robert@example.com"}));
  EXPECT_EQ(bob.namespaces, (std::vector<std::string>{"git"}));
  EXPECT_EQ(bob.valid_after, 1704067200);  // 2024-01-01T00:00:00Z
  EXPECT_FALSE(bob.valid_before.has_value());
  EXPECT_EQ(bob.key.type, KeyType::EcdsaNistp256);
  EXPECT_EQ(bob.key.fingerprint(), "SHA256:zHcchFTsO99UAGn5VAcs3dgBj5aQt4n/N09+LnDdo7w");

  const AllowedSigner& ops = signers->signers[2];
  EXPECT_EQ(ops.principals_text(), "*@ops.example.com,!intern@ops.example.com");
  EXPECT_EQ(ops.valid_before, 1924991999);  // 2030-12-31T23:59:59Z
  EXPECT_EQ(ops.key.type, KeyType::Rsa);
  EXPECT_EQ(ops.key.bits(), 2048);
  EXPECT_EQ(ops.key.fingerprint(), "SHA256:sG2jmdwUX7P0oBfUuIr9d0sFys6/NJhBr3e2tAd20Yc");

  ASSERT_EQ(signers->skipped.size(), 1u);
  EXPECT_EQ(signers->skipped[0].to_string(),
            path + ":9: cert-authority entries are not supported; line skipped");
}

TEST(AllowedSigners, MisspeltOptionFailsTheFileWithPathAndLine) {
  std::string path = fixture_path("sshsig/allowed_signers_typo");
  Result<AllowedSigners> signers = load_allowed_signers(path);
  ASSERT_FALSE(signers.ok());
  EXPECT_EQ(signers.error(), path +
                                 ":3: unknown option \"namespace\" (known: cert-authority, namespaces, "
                                 "valid-after, valid-before)");
}

TEST(AllowedSigners, MissingFileNamesThePath) {
  Result<AllowedSigners> signers = load_allowed_signers("/nonexistent/allowed_signers");
  ASSERT_FALSE(signers.ok());
  EXPECT_EQ(signers.error(),
            "/nonexistent/allowed_signers: cannot open allowed signers: No such file or directory");
}

TEST(AllowedSigners, OversizedFileIsRefused) {
  gitgate::testing::TempDir dir;
  std::string path = (dir / "allowed_signers").string();
  gitgate::testing::write_file(path, std::string(kMaxAllowedSignersBytes + 1, '#'));
  Result<AllowedSigners> signers = load_allowed_signers(path);
  ASSERT_FALSE(signers.ok());
  EXPECT_EQ(signers.error(), path + ": larger than 1048576 bytes");
}

TEST(AllowedSigners, IgnoresCommentsBlankLinesCarriageReturnsAndTrailingComments) {
  Result<AllowedSigners> signers = parse_allowed_signers(
      "# comment\r\n\r\n   \t\n  # indented comment\n" + with_key("alice@example.com") + "\r\n" +
          with_key("bob@example.com", std::string(kEd25519) + " bob's key # not an option"),
      "signers");
  ASSERT_TRUE(signers.ok()) << signers.error();
  ASSERT_EQ(signers->signers.size(), 2u);
  EXPECT_EQ(signers->signers[0].line, 5u);
  EXPECT_EQ(signers->signers[1].line, 7u);
  EXPECT_TRUE(parse_allowed_signers("", "empty").ok());
}

TEST(AllowedSigners, OptionNamesAreCaseInsensitiveAndValuesMayHoldSpacesAndQuotes) {
  Result<AllowedSigners> signers = parse_allowed_signers(
      with_key(R"(alice@example.com Namespaces="git,release notes",VALID-AFTER="202401011200")") +
          with_key(R"(bob@example.com namespaces="say \"hi\"")"),
      "signers");
  ASSERT_TRUE(signers.ok()) << signers.error();
  EXPECT_EQ(signers->signers[0].namespaces, (std::vector<std::string>{"git", "release notes"}));
  EXPECT_EQ(signers->signers[0].valid_after, 1704110400);  // 2024-01-01T12:00:00Z
  EXPECT_EQ(signers->signers[1].namespaces, (std::vector<std::string>{"say \"hi\""}));
}

TEST(AllowedSigners, TimesAreUtcInEveryOpenSshForm) {
  struct Case {
    std::string text;
    int64_t seconds;
  };
  for (const Case& c :
       {Case{"20240229", 1709164800}, Case{"20240229Z", 1709164800}, Case{"202402291530", 1709220600},
        Case{"20240229153045Z", 1709220645}, Case{"19700101000001", 1}}) {
    SCOPED_TRACE(c.text);
    Result<AllowedSigners> signers =
        parse_allowed_signers(with_key("a@example.com valid-after=\"" + c.text + "\""), "signers");
    ASSERT_TRUE(signers.ok()) << signers.error();
    EXPECT_EQ(signers->signers[0].valid_after, c.seconds);
  }
  for (std::string bad : {"20230229", "20241301", "20240100", "2024010", "202401011260", "20240101240000",
                          "2024-01-01", "19700101", "20240101z", ""}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(
        parse_error(with_key("a@example.com valid-before=\"" + bad + "\"")),
        "signers:1: option valid-before has invalid time \"" + bad + "\" (expected YYYYMMDD[HHMM[SS]][Z])");
  }
}

TEST(AllowedSigners, MalformedLinesAreErrorsWithTheLineNumber) {
  struct Case {
    std::string text;
    std::string error;
  };
  std::string ok_line = with_key("alice@example.com");
  std::string key_data(kEd25519.substr(kEd25519.find(' ') + 1));
  for (const Case& c : {
           Case{ok_line + "bob@example.com\n", "signers:2: missing key after the principals"},
           Case{"bob@example.com namespaces=\"git\"\n", "signers:1: missing key after the options"},
           Case{"bob@example.com ssh-ed25519\n", "signers:1: missing base64 key data after \"ssh-ed25519\""},
           Case{"bob@example.com ssh-ed25519 AAAA!!!!\n", "signers:1: key data is not valid base64"},
           Case{"bob@example.com ssh-ed25519 QUFBQQ==\n",
                "signers:1: malformed public key: truncated key type"},
           Case{"bob@example.com ecdsa-sha2-nistp256 " + key_data + "\n",
                "signers:1: key type \"ecdsa-sha2-nistp256\" does not match the key data, which is "
                "\"ssh-ed25519\""},
           Case{with_key("bob@example.com namespaces=git"),
                "signers:1: option namespaces needs a double-quoted value"},
           Case{with_key("bob@example.com namespaces=\"git"), "signers:1: unterminated quote in the options"},
           Case{with_key("bob@example.com namespaces=\"git\",namespaces=\"file\""),
                "signers:1: option namespaces given twice"},
           Case{with_key("bob@example.com namespaces=\"git,,file\""),
                "signers:1: namespaces=\"git,,file\" has an empty pattern"},
           Case{with_key("bob@example.com namespaces=\"git\","), "signers:1: options end with ','"},
           Case{with_key("bob@example.com namespaces=\"git\"x"),
                "signers:1: expected ',' between options, found \"x\""},
           Case{with_key("bob@example.com valid-after=\"20250101\",valid-before=\"20240101\""),
                "signers:1: valid-before is not after valid-after"},
           Case{with_key("bob@example.com valid-after=\"20250101\",valid-after=\"20260101\""),
                "signers:1: option valid-after given twice"},
           Case{with_key("bob@example.com,,carol@example.com"),
                "signers:1: empty principal in \"bob@example.com,,carol@example.com\""},
           Case{with_key("\"bob@example.com"),
                "signers:1: unterminated or misplaced quote in the principals"},
           Case{with_key("bob@example.com no-touch-required=yes"),
                "signers:1: unknown option \"no-touch-required\" (known: cert-authority, namespaces, "
                "valid-after, "
                "valid-before)"},
       }) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(parse_error(c.text), c.error);
  }
}

TEST(AllowedSigners, OverlongLineIsRefused) {
  std::string text = with_key("alice@example.com", std::string(kEd25519) + " " + std::string(20000, 'c'));
  EXPECT_EQ(parse_error(text), "signers:1: line longer than 16384 bytes");
}

TEST(AllowedSigners, UnusableKeysAreSkippedWithAReason) {
  std::string dsa =
      "ssh-dss " + testing::base64(testing::wire_string("ssh-dss") + testing::wire_string("pqgy"));
  std::string weak_rsa =
      "ssh-rsa " + testing::base64(testing::wire_string("ssh-rsa") + testing::wire_mpint("\x01\x00\x01") +
                                   testing::wire_mpint(std::string(1, '\xc3') + std::string(127, '\x5a')));
  Result<AllowedSigners> signers = parse_allowed_signers(
      with_key("old@example.com", dsa) + with_key("weak@example.com", weak_rsa) +
          with_key("ca@example.com cert-authority,namespaces=\"git\"") + with_key("alice@example.com"),
      "signers");
  ASSERT_TRUE(signers.ok()) << signers.error();
  ASSERT_EQ(signers->signers.size(), 1u);
  EXPECT_EQ(signers->signers[0].principals_text(), "alice@example.com");
  ASSERT_EQ(signers->skipped.size(), 3u);
  EXPECT_EQ(signers->skipped[0].to_string(),
            "signers:1: key type \"ssh-dss\" is not supported; line skipped");
  EXPECT_EQ(signers->skipped[1].to_string(),
            "signers:2: RSA key has 1024 bits, under the 2048-bit minimum; line skipped");
  EXPECT_EQ(signers->skipped[2].to_string(),
            "signers:3: cert-authority entries are not supported; line skipped");
}

TEST(AllowedSigners, PrincipalPatternsFollowOpenSsh) {
  Result<AllowedSigners> signers = parse_allowed_signers(
      with_key("*@ops.example.com,!intern@ops.example.com,build-?@ci.example.com"), "signers");
  ASSERT_TRUE(signers.ok()) << signers.error();
  const AllowedSigner& signer = signers->signers[0];
  EXPECT_TRUE(signer.matches_principal("alice@ops.example.com"));
  EXPECT_TRUE(signer.matches_principal("build-7@ci.example.com"));
  EXPECT_FALSE(signer.matches_principal("intern@ops.example.com"));
  EXPECT_FALSE(signer.matches_principal("build-17@ci.example.com"));
  EXPECT_FALSE(signer.matches_principal("alice@ops.example.com.evil"));
  EXPECT_FALSE(signer.matches_principal("ALICE@OPS.EXAMPLE.COM"));
}

TEST(AllowedSigners, NamespacesAndValidityBoundsAreInclusive) {
  Result<AllowedSigners> signers = parse_allowed_signers(
      with_key("a@example.com namespaces=\"*,!file\",valid-after=\"20240101\",valid-before=\"20240102\""),
      "signers");
  ASSERT_TRUE(signers.ok()) << signers.error();
  const AllowedSigner& signer = signers->signers[0];
  EXPECT_TRUE(signer.allows_namespace("git"));
  EXPECT_FALSE(signer.allows_namespace("file"));
  EXPECT_FALSE(signer.valid_at(1704067199));
  EXPECT_TRUE(signer.valid_at(1704067200));
  EXPECT_TRUE(signer.valid_at(1704153600));
  EXPECT_FALSE(signer.valid_at(1704153601));
}

TEST(AllowedSigners, PathologicalPrincipalPatternStaysFast) {
  std::string pattern;
  for (int i = 0; i < 200; ++i) pattern += "*a";
  Result<AllowedSigners> signers = parse_allowed_signers(with_key(pattern + "*b"), "signers");
  ASSERT_TRUE(signers.ok()) << signers.error();
  EXPECT_FALSE(signers->signers[0].matches_principal(std::string(8000, 'a')));
}

}  // namespace
}  // namespace gitgate::sshsig
