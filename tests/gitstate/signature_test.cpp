// SSH commit signatures made by real `git commit -S` (gpg.format=ssh) with ssh-keygen keys, checked against
// an allowed_signers file: verified, unsigned, unknown key, forged; and require_signed_commits.
#include <gtest/gtest.h>

#include "tests/gitstate/git_helpers.h"

namespace gitgate::gitstate {
namespace {

using namespace gitgate::gitstate::testing;
using gitgate::testing::read_file;
using gitgate::testing::run_command;
using gitgate::testing::write_file;

std::string head_of(const Source& source) {
  auto window = source.window().load();
  return window && window->current() ? window->current()->commit().id : "";
}

class SignatureTest : public ::testing::Test {
 protected:
  std::string make_key(const std::string& name, const std::vector<std::string>& type_args) {
    std::string path = (keys / name).string();
    std::vector<std::string> argv{"ssh-keygen", "-q", "-N", "", "-C", name, "-f", path};
    argv.insert(argv.end(), type_args.begin(), type_args.end());
    EXPECT_EQ(run_command(argv).exit_code, 0);
    return path;
  }
  void allow(const std::string& principal, const std::string& key) {
    std::string pub = read_file(key + ".pub");
    allowed += principal + " namespaces=\"git\" " + pub.substr(0, pub.rfind(' ')) + "\n";
    write_file(keys / "allowed_signers", allowed);
  }
  std::string signed_commit(const std::string& key, const std::string& message) {
    repo.git({"add", "-A"});
    repo.git({"-c", "gpg.format=ssh", "-c", "user.signingkey=" + key, "commit", "-q", "--allow-empty", "-S",
              "-m", message});
    return repo.git({"rev-parse", "HEAD"});
  }
  SourceOptions options() {
    auto o = test_options(repo.file_url(), cache.path().string());
    o.spec.allowed_signers = (keys / "allowed_signers").string();
    return o;
  }
  std::unique_ptr<Source> started(const SourceOptions& o) {
    auto source = Source::create(o);
    if (!source.ok()) throw std::runtime_error(source.error());
    (*source)->start();
    return std::move(*source);
  }

  WorkRepo repo;
  TempDir keys;
  TempDir cache;
  std::string allowed;
};

TEST_F(SignatureTest, VerifiesEd25519EcdsaAndRsaSignaturesOfAllowedSigners) {
  std::string ed = make_key("alice", {"-t", "ed25519"});
  std::string ec = make_key("bob", {"-t", "ecdsa", "-b", "256"});
  std::string rsa = make_key("carol", {"-t", "rsa", "-b", "3072"});
  allow("alice@example.com", ed);
  allow("bob@example.com", ec);
  allow("carol@example.com", rsa);
  repo.write("a.yaml", config_map("a"));
  std::string by_alice = signed_commit(ed, "by alice");
  repo.write("b.yaml", config_map("b"));
  std::string by_bob = signed_commit(ec, "by bob");
  repo.write("c.yaml", config_map("c"));
  std::string by_carol = signed_commit(rsa, "by carol");
  repo.push();

  auto source = started(options());
  ASSERT_TRUE(eventually([&] { return head_of(*source) == by_carol; })) << source->status().last_error;
  const Snapshot& s = *source->window().load()->current();
  EXPECT_EQ(s.commit().signature, SignatureStatus::Verified);
  EXPECT_EQ(s.commit().signer, "carol@example.com");
  auto a = s.find({"", "ConfigMap", "default", "a"}).object->last_change();
  EXPECT_EQ(a->id, by_alice);
  EXPECT_EQ(a->signature, SignatureStatus::Verified);
  EXPECT_EQ(a->signer, "alice@example.com");
  auto b = s.find({"", "ConfigMap", "default", "b"}).object->last_change();
  EXPECT_EQ(b->id, by_bob);
  EXPECT_EQ(b->signature, SignatureStatus::Verified);
  EXPECT_EQ(b->signer, "bob@example.com");
}

TEST_F(SignatureTest, UnsignedUnknownKeyAndForgedCommits) {
  std::string alice = make_key("alice", {"-t", "ed25519"});
  std::string mallory = make_key("mallory", {"-t", "ed25519"});
  allow("alice@example.com", alice);
  repo.write("unsigned.yaml", config_map("unsigned"));
  repo.commit("not signed");
  repo.write("stranger.yaml", config_map("stranger"));
  signed_commit(mallory, "signed by a key nobody allowed");
  repo.write("forged.yaml", config_map("forged"));
  signed_commit(alice, "honest message");
  // Forge: keep alice's signature, change what the commit says.
  std::string object = repo.git({"cat-file", "commit", "HEAD"});
  object.replace(object.find("honest message"), 14, "evil message!!");
  auto hashed =
      run_command({"git", "-C", repo.path().string(), "hash-object", "-t", "commit", "-w", "--stdin"},
                  std::chrono::seconds(10), object + "\n");
  ASSERT_EQ(hashed.exit_code, 0) << hashed.err;
  std::string forged = hashed.out.substr(0, 40);
  repo.git({"update-ref", "refs/heads/main", forged});
  repo.push(/*force=*/true);

  auto source = started(options());
  ASSERT_TRUE(eventually([&] { return head_of(*source) == forged; })) << source->status().last_error;
  const Snapshot& s = *source->window().load()->current();
  EXPECT_EQ(s.commit().signature, SignatureStatus::Invalid);
  EXPECT_EQ(s.commit().signer, "");
  auto status_of = [&](const std::string& name) {
    return s.find({"", "ConfigMap", "default", name}).object->last_change()->signature;
  };
  EXPECT_EQ(status_of("unsigned"), SignatureStatus::Unsigned);
  EXPECT_EQ(status_of("stranger"), SignatureStatus::UnknownKey);
  EXPECT_EQ(status_of("forged"), SignatureStatus::Invalid);
}

TEST_F(SignatureTest, RequiredSignaturesKeepTheLastVerifiedSnapshot) {
  std::string alice = make_key("alice", {"-t", "ed25519"});
  allow("alice@example.com", alice);
  repo.write("a.yaml", config_map("a"));
  std::string good = signed_commit(alice, "signed");
  repo.push();
  auto o = options();
  o.spec.require_signed_commits = true;
  auto source = started(o);
  ASSERT_TRUE(eventually([&] { return head_of(*source) == good; })) << source->status().last_error;

  repo.write("a.yaml", config_map("a", "sneaky"));
  repo.commit("unsigned change");
  repo.push();
  ASSERT_TRUE(eventually([&] { return !source->status().last_error.empty(); }));
  EXPECT_NE(source->status().last_error.find("is unsigned, and the policy requires commits verified"),
            std::string::npos)
      << source->status().last_error;
  EXPECT_EQ(head_of(*source), good);
  EXPECT_EQ(source->window().load()->snapshots.size(), 1u);
}

TEST_F(SignatureTest, WithoutAllowedSignersSignedCommitsAreUnknownKey) {
  std::string alice = make_key("alice", {"-t", "ed25519"});
  repo.write("a.yaml", config_map("a"));
  std::string head = signed_commit(alice, "signed");
  repo.push();
  auto o = options();
  o.spec.allowed_signers.clear();
  auto source = started(o);
  ASSERT_TRUE(eventually([&] { return head_of(*source) == head; }));
  EXPECT_EQ(source->window().load()->current()->commit().signature, SignatureStatus::UnknownKey);
}

TEST_F(SignatureTest, AllowedSignersChangesAreNoticed) {
  std::string alice = make_key("alice", {"-t", "ed25519"});
  std::string bob = make_key("bob", {"-t", "ed25519"});
  allow("bob@example.com", bob);
  repo.write("a.yaml", config_map("a"));
  std::string head = signed_commit(alice, "signed by alice");
  repo.push();
  auto o = options();
  o.spec.require_signed_commits = true;
  auto source = started(o);
  ASSERT_TRUE(eventually([&] { return !source->status().last_error.empty(); }));
  EXPECT_FALSE(source->status().ready);
  allow("alice@example.com", alice);
  ASSERT_TRUE(eventually([&] { return head_of(*source) == head; })) << source->status().last_error;
}

}  // namespace
}  // namespace gitgate::gitstate
