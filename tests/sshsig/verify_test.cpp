// Commits signed by real git with keys from real ssh-keygen, checked by verify_git_signature and, on the
// same inputs, by ssh-keygen -Y verify (as git runs it) so the two are seen to agree.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include "gitstate/sshsig/sshsig.h"
#include "tests/sshsig/ssh_tools.h"
#include "tests/support/support.h"

namespace gitgate::sshsig {
namespace {

using testing::CommitParts;
using testing::GitRepo;
using testing::split_commit;
using testing::SshKey;

// "stem<n>" (built by appending: GCC 12 misreports `"literal" + std::to_string(n)` under -Wrestrict).
std::string numbered(std::string_view stem, int n) {
  std::string text(stem);
  text += std::to_string(n);
  return text;
}

// One home, repository and set of keys per test process; keys are made on first use so each test pays
// only for the keys it signs with.
class Lab {
 public:
  static Lab& get() {
    static Lab lab;
    return lab;
  }

  const std::filesystem::path& home() const { return home_.path(); }

  const SshKey& key(const std::string& name, std::string_view type, int bits = 0) {
    auto it = keys_.find(name);
    if (it == keys_.end())
      it = keys_.emplace(name, testing::generate_key(home_.path(), name, type, bits)).first;
    return it->second;
  }

  // A fresh commit (its content differs from every other) signed with `key`, or unsigned.
  CommitParts commit(const SshKey* key, std::string_view message = "Deploy web v2") {
    return split_commit(
        repo_.commit(next_content(), message, key != nullptr ? key->private_path : std::string()));
  }

  std::string forge(std::string_view raw_commit) { return repo_.store_and_read(raw_commit); }
  std::string raw_commit(const SshKey& key) {
    return repo_.commit(next_content(), "Deploy web v2", key.private_path);
  }

  // Writes an allowed_signers file and parses it with the library.
  std::pair<std::string, AllowedSigners> signers(const std::string& text) {
    std::string path = (home_.path() / numbered("allowed_signers_", ++files_)).string();
    gitgate::testing::write_file(path, text);
    Result<AllowedSigners> parsed = load_allowed_signers(path);
    if (!parsed) throw std::runtime_error(parsed.error());
    return {path, std::move(*parsed)};
  }

 private:
  Lab() : repo_(home_.path(), home_.path() / "repo") {}

  std::string next_content() { return numbered("revision ", ++commits_) + "\n"; }

  gitgate::testing::TempDir home_;
  GitRepo repo_;
  std::map<std::string, SshKey> keys_;
  int commits_ = 0;
  int files_ = 0;
};

std::string line_for(std::string_view principals, const SshKey& key, std::string_view options = {}) {
  std::string line(principals);
  if (!options.empty()) {
    line += ' ';
    line += options;
  }
  line += ' ';
  line += key.public_line;
  line += '\n';
  return line;
}

const SshKey& alice_key() {
  return Lab::get().key("alice_ed25519", "ed25519");
}

// ssh-keygen -Y verify (with the allowed_signers file) accepts exactly what we call Verified.
void expect_ssh_keygen_agrees(const SignatureCheck& check, const CommitParts& commit, const std::string& path,
                              std::string_view principal) {
  bool accepted = testing::ssh_keygen_verifies(Lab::get().home(), path, principal, commit.signature,
                                               commit.payload, commit.committer_time);
  EXPECT_EQ(accepted, check.status == SignatureStatus::Verified)
      << "ssh-keygen " << (accepted ? "accepts" : "rejects") << " but gitgate says "
      << to_string(check.status) << ": " << check.detail;
}

// ssh-keygen -Y check-novalidate (no allowed_signers) accepts exactly what we do not call Invalid.
void expect_signature_validity_agrees(const SignatureCheck& check, const CommitParts& commit) {
  bool valid = testing::ssh_keygen_signature_valid(Lab::get().home(), commit.signature, commit.payload);
  EXPECT_EQ(valid, check.status != SignatureStatus::Invalid)
      << "ssh-keygen says the signature is " << (valid ? "valid" : "invalid") << " but gitgate says "
      << to_string(check.status) << ": " << check.detail;
}

TEST(GitCommitSignature, Ed25519SignedCommitIsVerifiedWithItsPrincipal) {
  const SshKey& key = alice_key();
  auto [path, signers] = Lab::get().signers(line_for("alice@example.com", key));
  CommitParts commit = Lab::get().commit(&key);
  ASSERT_TRUE(commit.signature.starts_with("-----BEGIN SSH SIGNATURE-----"));

  SignatureCheck check =
      verify_git_signature(commit.signature, commit.payload, signers, commit.committer_time);
  EXPECT_EQ(check.status, SignatureStatus::Verified) << check.detail;
  EXPECT_EQ(check.principal, "alice@example.com");
  EXPECT_EQ(check.key_fingerprint, key.fingerprint);
  EXPECT_EQ(check.detail, "");
  expect_ssh_keygen_agrees(check, commit, path, "alice@example.com");

  // libgit2's git_commit_extract_signature joins the lines without a final newline.
  std::string joined = commit.signature.substr(0, commit.signature.size() - 1);
  EXPECT_EQ(verify_git_signature(joined, commit.payload, signers, commit.committer_time).status,
            SignatureStatus::Verified);
}

TEST(GitCommitSignature, EcdsaSignedCommitsAreVerifiedOnEveryNistCurve) {
  for (int bits : {256, 384, 521}) {
    SCOPED_TRACE(numbered("nistp", bits));
    const SshKey& key = Lab::get().key(numbered("ecdsa", bits), "ecdsa", bits);
    auto [path, signers] = Lab::get().signers(line_for("bob@example.com", key));
    CommitParts commit = Lab::get().commit(&key);
    SignatureCheck check =
        verify_git_signature(commit.signature, commit.payload, signers, commit.committer_time);
    EXPECT_EQ(check.status, SignatureStatus::Verified) << check.detail;
    EXPECT_EQ(check.principal, "bob@example.com");
    EXPECT_EQ(check.key_fingerprint, key.fingerprint);
    expect_ssh_keygen_agrees(check, commit, path, "bob@example.com");
  }
}

TEST(GitCommitSignature, Rsa3072SignedCommitIsVerified) {
  const SshKey& key = Lab::get().key("rsa3072", "rsa", 3072);
  auto [path, signers] = Lab::get().signers(line_for("carol@example.com", key));
  CommitParts commit = Lab::get().commit(&key);
  SignatureCheck check =
      verify_git_signature(commit.signature, commit.payload, signers, commit.committer_time);
  EXPECT_EQ(check.status, SignatureStatus::Verified) << check.detail;
  EXPECT_EQ(check.principal, "carol@example.com");
  EXPECT_EQ(check.key_fingerprint, key.fingerprint);
  expect_ssh_keygen_agrees(check, commit, path, "carol@example.com");
}

TEST(GitCommitSignature, Sha256HashedSignatureIsVerified) {
  const SshKey& key = alice_key();
  auto [path, signers] = Lab::get().signers(line_for("alice@example.com", key));
  CommitParts commit = Lab::get().commit(nullptr);
  commit.signature =
      testing::ssh_keygen_sign(Lab::get().home(), key.private_path, "git", commit.payload, "sha256");
  ASSERT_EQ(parse_sshsig(commit.signature)->hash_algorithm, "sha256");
  SignatureCheck check =
      verify_git_signature(commit.signature, commit.payload, signers, commit.committer_time);
  EXPECT_EQ(check.status, SignatureStatus::Verified) << check.detail;
  expect_ssh_keygen_agrees(check, commit, path, "alice@example.com");
}

TEST(GitCommitSignature, UnsignedCommitIsUnsigned) {
  auto [path, signers] = Lab::get().signers(line_for("alice@example.com", alice_key()));
  CommitParts commit = Lab::get().commit(nullptr);
  EXPECT_EQ(commit.signature, "");
  SignatureCheck check =
      verify_git_signature(commit.signature, commit.payload, signers, commit.committer_time);
  EXPECT_EQ(check.status, SignatureStatus::Unsigned);
  EXPECT_EQ(check.key_fingerprint, "");
  EXPECT_EQ(verify_git_signature("  \n", commit.payload, signers, 0).status, SignatureStatus::Unsigned);
}

TEST(GitCommitSignature, KeyMissingFromAllowedSignersIsUnknownKey) {
  const SshKey& stranger = Lab::get().key("mallory_ed25519", "ed25519");
  auto [path, signers] = Lab::get().signers(line_for("alice@example.com", alice_key()));
  CommitParts commit = Lab::get().commit(&stranger);
  SignatureCheck check =
      verify_git_signature(commit.signature, commit.payload, signers, commit.committer_time);
  EXPECT_EQ(check.status, SignatureStatus::UnknownKey);
  EXPECT_EQ(check.principal, "");
  EXPECT_EQ(check.key_fingerprint, stranger.fingerprint);
  EXPECT_EQ(check.detail, "ssh-ed25519 key " + stranger.fingerprint + " is not in " + path);
  expect_ssh_keygen_agrees(check, commit, path, "alice@example.com");
  expect_signature_validity_agrees(check, commit);
}

TEST(GitCommitSignature, CommitMessageChangedAfterSigningIsInvalid) {
  const SshKey& key = alice_key();
  auto [path, signers] = Lab::get().signers(line_for("alice@example.com", key));
  CommitParts commit = Lab::get().commit(&key, "Deploy web v2");
  size_t at = commit.payload.find("Deploy web v2");
  ASSERT_NE(at, std::string::npos);
  commit.payload.replace(at, 13, "Deploy web v3");
  SignatureCheck check =
      verify_git_signature(commit.signature, commit.payload, signers, commit.committer_time);
  EXPECT_EQ(check.status, SignatureStatus::Invalid);
  EXPECT_NE(check.detail.find("does not match the signed data"), std::string::npos) << check.detail;
  EXPECT_EQ(check.key_fingerprint, key.fingerprint);
  expect_ssh_keygen_agrees(check, commit, path, "alice@example.com");
  expect_signature_validity_agrees(check, commit);
}

TEST(GitCommitSignature, ForgedCommitWithAnotherTreeAndTheOldSignatureIsInvalid) {
  const SshKey& key = alice_key();
  auto [path, signers] = Lab::get().signers(line_for("alice@example.com", key));
  std::string signed_raw = Lab::get().raw_commit(key);
  std::string other_tree = Lab::get().commit(nullptr).payload.substr(0, 46);  // "tree <40 hex>\n"
  ASSERT_TRUE(other_tree.starts_with("tree "));
  std::string forged_raw = other_tree + signed_raw.substr(46);
  ASSERT_NE(forged_raw, signed_raw);
  CommitParts forged = split_commit(Lab::get().forge(forged_raw));
  EXPECT_EQ(forged.signature, split_commit(signed_raw).signature);

  SignatureCheck check =
      verify_git_signature(forged.signature, forged.payload, signers, forged.committer_time);
  EXPECT_EQ(check.status, SignatureStatus::Invalid);
  expect_ssh_keygen_agrees(check, forged, path, "alice@example.com");
  expect_signature_validity_agrees(check, forged);
}

TEST(GitCommitSignature, SignatureInFileNamespaceIsInvalid) {
  const SshKey& key = alice_key();
  auto [path, signers] = Lab::get().signers(line_for("alice@example.com", key));
  CommitParts commit = Lab::get().commit(nullptr);
  commit.signature = testing::ssh_keygen_sign(Lab::get().home(), key.private_path, "file", commit.payload);
  SignatureCheck check =
      verify_git_signature(commit.signature, commit.payload, signers, commit.committer_time);
  EXPECT_EQ(check.status, SignatureStatus::Invalid);
  EXPECT_EQ(check.detail, "signature namespace is \"file\", not \"git\": not a commit signature");
  expect_ssh_keygen_agrees(check, commit, path, "alice@example.com");
  expect_signature_validity_agrees(check, commit);
}

TEST(GitCommitSignature, SignerAllowedOnlyForOtherNamespacesIsUnknownKey) {
  const SshKey& key = alice_key();
  CommitParts commit = Lab::get().commit(&key);
  struct Case {
    std::string options;
    SignatureStatus expected;
  };
  for (const Case& c : {Case{R"(namespaces="file")", SignatureStatus::UnknownKey},
                        Case{R"(namespaces="*,!git")", SignatureStatus::UnknownKey},
                        Case{R"(namespaces="file,git")", SignatureStatus::Verified},
                        Case{R"(namespaces="g?t")", SignatureStatus::Verified}}) {
    SCOPED_TRACE(c.options);
    auto [path, signers] = Lab::get().signers(line_for("alice@example.com", key, c.options));
    SignatureCheck check =
        verify_git_signature(commit.signature, commit.payload, signers, commit.committer_time);
    EXPECT_EQ(check.status, c.expected) << check.detail;
    if (c.expected == SignatureStatus::UnknownKey) {
      EXPECT_NE(check.detail.find("not for namespace \"git\""), std::string::npos) << check.detail;
    }
    expect_ssh_keygen_agrees(check, commit, path, "alice@example.com");
  }
}

TEST(GitCommitSignature, SignerOutsideItsValidityWindowAtCommitTimeIsUnknownKey) {
  const SshKey& key = alice_key();
  CommitParts commit = Lab::get().commit(&key);
  ASSERT_EQ(commit.committer_time, GitRepo::kCommitTime);  // 2023-11-14T22:13:20Z
  struct Case {
    std::string options;
    SignatureStatus expected;
  };
  for (const Case& c :
       {Case{R"(valid-before="20200101")", SignatureStatus::UnknownKey},
        Case{R"(valid-after="20300101000000Z")", SignatureStatus::UnknownKey},
        Case{R"(valid-before="202311142213Z")", SignatureStatus::UnknownKey},
        Case{R"(valid-after="20231114221320",valid-before="20231114221321Z")", SignatureStatus::Verified},
        Case{R"(valid-after="20200101",valid-before="20300101")", SignatureStatus::Verified}}) {
    SCOPED_TRACE(c.options);
    auto [path, signers] = Lab::get().signers(line_for("alice@example.com", key, c.options));
    SignatureCheck check =
        verify_git_signature(commit.signature, commit.payload, signers, commit.committer_time);
    EXPECT_EQ(check.status, c.expected) << check.detail;
    expect_ssh_keygen_agrees(check, commit, path, "alice@example.com");
  }
  auto [path, signers] = Lab::get().signers(line_for("alice@example.com", key, R"(valid-before="20200101")"));
  EXPECT_EQ(verify_git_signature(commit.signature, commit.payload, signers, commit.committer_time).detail,
            "ssh-ed25519 key " + key.fingerprint + " is listed for alice@example.com (" + path +
                ":1) but only until 2020-01-01T00:00:00Z, before the commit time 2023-11-14T22:13:20Z");
}

TEST(GitCommitSignature, FirstLineThatAcceptsTheKeyNamesTheSigner) {
  const SshKey& key = alice_key();
  CommitParts commit = Lab::get().commit(&key);
  auto [path, signers] = Lab::get().signers(line_for("old@example.com", key, R"(valid-before="20200101")") +
                                            line_for("bob@example.com,robert@example.com", key) +
                                            line_for("alice@example.com", key));
  SignatureCheck check =
      verify_git_signature(commit.signature, commit.payload, signers, commit.committer_time);
  EXPECT_EQ(check.status, SignatureStatus::Verified) << check.detail;
  EXPECT_EQ(check.principal, "bob@example.com,robert@example.com");
  expect_ssh_keygen_agrees(check, commit, path, "robert@example.com");
}

TEST(GitCommitSignature, TruncatedOrGarbledArmorIsInvalid) {
  const SshKey& key = alice_key();
  auto [path, signers] = Lab::get().signers(line_for("alice@example.com", key));
  CommitParts commit = Lab::get().commit(&key);
  const std::string signature = commit.signature;
  size_t body = signature.find('\n') + 1;
  size_t end = signature.find("-----END");

  std::vector<std::pair<std::string, std::string>> damaged = {
      {"cut in half", signature.substr(0, signature.size() / 2)},
      {"last base64 line dropped",
       signature.substr(0, signature.rfind('\n', end - 2) + 1) + signature.substr(end)},
      {"one base64 character changed",
       [&] {
         std::string s = signature;
         s[body + 100] = s[body + 100] == 'A' ? 'B' : 'A';
         return s;
       }()},
      {"signature byte flipped",
       [&] {
         std::string s = signature;
         size_t last_line = signature.rfind('\n', end - 2) + 1;
         s[last_line + 4] = s[last_line + 4] == 'A' ? 'B' : 'A';
         return s;
       }()},
      {"not base64", signature.substr(0, body + 10) + "!" + signature.substr(body + 11)},
  };
  for (const auto& [what, armored] : damaged) {
    SCOPED_TRACE(what);
    ASSERT_NE(armored, signature);
    CommitParts altered = commit;
    altered.signature = armored;
    SignatureCheck check = verify_git_signature(armored, commit.payload, signers, commit.committer_time);
    EXPECT_EQ(check.status, SignatureStatus::Invalid) << check.detail;
    EXPECT_FALSE(check.detail.empty());
    expect_ssh_keygen_agrees(check, altered, path, "alice@example.com");
  }
}

TEST(GitCommitSignature, PgpSignatureIsUnknownKeyNotVerified) {
  auto [path, signers] = Lab::get().signers(line_for("alice@example.com", alice_key()));
  std::string pgp = "-----BEGIN PGP SIGNATURE-----\n\niQEzBAABCAAdFiEE\n=abcd\n-----END PGP SIGNATURE-----\n";
  SignatureCheck check = verify_git_signature(pgp, "tree 0\n", signers, GitRepo::kCommitTime);
  EXPECT_EQ(check.status, SignatureStatus::UnknownKey);
  EXPECT_EQ(check.detail, "PGP signatures are not verified");
}

TEST(GitCommitSignature, RsaKeyUnder2048BitsIsInvalidThoughSshKeygenAcceptsIt) {
  const SshKey& key = Lab::get().key("rsa1024", "rsa", 1024);
  auto [path, signers] = Lab::get().signers(line_for("weak@example.com", key));
  ASSERT_EQ(signers.skipped.size(), 1u);
  EXPECT_EQ(signers.skipped[0].to_string(),
            path + ":1: RSA key has 1024 bits, under the 2048-bit minimum; line skipped");
  CommitParts commit = Lab::get().commit(&key);
  SignatureCheck check =
      verify_git_signature(commit.signature, commit.payload, signers, commit.committer_time);
  EXPECT_EQ(check.status, SignatureStatus::Invalid);
  EXPECT_EQ(check.detail, "RSA key has 1024 bits; at least 2048 are required");
  // A deliberate difference: OpenSSH still accepts 1024-bit RSA.
  EXPECT_TRUE(testing::ssh_keygen_verifies(Lab::get().home(), path, "weak@example.com", commit.signature,
                                           commit.payload, commit.committer_time));
}

TEST(GitCommitSignature, CommitTimeFromTheCommitterLineDecidesValidity) {
  const SshKey& key = alice_key();
  CommitParts commit = Lab::get().commit(&key);
  auto [path, signers] =
      Lab::get().signers(line_for("alice@example.com", key, R"(valid-before="20231114221320Z")"));
  EXPECT_EQ(verify_git_signature(commit.signature, commit.payload, signers, GitRepo::kCommitTime).status,
            SignatureStatus::Verified);
  EXPECT_EQ(verify_git_signature(commit.signature, commit.payload, signers, GitRepo::kCommitTime + 1).status,
            SignatureStatus::UnknownKey);
}

}  // namespace
}  // namespace gitgate::sshsig
