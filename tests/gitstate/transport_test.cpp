// Real remotes on 127.0.0.1: git daemon, HTTPS (git http-backend) with a token and a private CA, sshd with
// key authentication and known_hosts, and a remote that accepts connections and never answers.
#include <gtest/gtest.h>

#include "tests/gitstate/git_helpers.h"

namespace gitgate::gitstate {
namespace {

using namespace std::chrono_literals;
using namespace gitgate::gitstate::testing;
using gitgate::testing::write_file;

std::string head_of(const Source& source) {
  auto window = source.window().load();
  return window && window->current() ? window->current()->commit().id : "";
}

std::unique_ptr<Source> started(const SourceOptions& options) {
  auto source = Source::create(options);
  if (!source.ok()) throw std::runtime_error(source.error());
  (*source)->start();
  return std::move(*source);
}

class TransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo.write("apps/web.yaml", deployment("web"));
    head = repo.commit("first");
    repo.push();
  }
  WorkRepo repo;
  TempDir cache;
  TempDir credentials;
  std::string head;
};

TEST_F(TransportTest, GitDaemon) {
  GitDaemon daemon(std::filesystem::path(repo.remote_path()).parent_path().string());
  auto source = started(test_options(daemon.url(repo.remote_path()), cache.path().string()));
  ASSERT_TRUE(eventually([&] { return head_of(*source) == head; })) << source->status().last_error;
}

TEST_F(TransportTest, HungRemoteIsAbandonedAtItsDeadlineAndTheNextFetchWorks) {
  GitDaemon daemon(std::filesystem::path(repo.remote_path()).parent_path().string());
  TcpRelay relay(daemon.port());
  relay.set_hang(true);
  std::string url = "git://127.0.0.1:" + std::to_string(relay.port()) + "/remote.git";
  auto options = test_options(url, cache.path().string());
  options.spec.fetch_timeout = 1s;
  auto start = std::chrono::steady_clock::now();
  auto source = started(options);
  ASSERT_TRUE(eventually([&] { return !source->status().last_error.empty(); }, 5s));
  auto abandoned_after = std::chrono::steady_clock::now() - start;
  EXPECT_GE(abandoned_after, 1s);
  EXPECT_LT(abandoned_after, 3s);
  EXPECT_NE(source->status().last_error.find("killed after 1000 ms"), std::string::npos)
      << source->status().last_error;
  EXPECT_GE(relay.connections(), 1);

  // Readers never wait on Git: a hung fetch leaves the window readable at once.
  Published<SnapshotWindow>::Reader reader(source->window());
  auto read_start = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; ++i) (void)reader.get();
  EXPECT_LT(std::chrono::steady_clock::now() - read_start, 100ms);

  relay.set_hang(false);
  ASSERT_TRUE(eventually([&] { return head_of(*source) == head; }, 10s)) << source->status().last_error;
  EXPECT_EQ(source->status().last_error, "");
}

TEST_F(TransportTest, StopIsPromptDuringAHungFetch) {
  TcpRelay relay(0);
  auto options =
      test_options("git://127.0.0.1:" + std::to_string(relay.port()) + "/remote.git", cache.path().string());
  options.spec.fetch_timeout = 60s;
  auto source = started(options);
  ASSERT_TRUE(eventually([&] { return relay.connections() >= 1; }, 5s));
  auto start = std::chrono::steady_clock::now();
  source->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST_F(TransportTest, HttpsWithTokenAndPrivateCa) {
  std::string token = "ghp_s3cr3tT0kenValue";
  HttpsGitServer server(std::filesystem::path(repo.remote_path()).parent_path().string(), token);
  write_file(credentials / "token", token + "\n");
  std::filesystem::copy_file(server.ca_file(), credentials / "ca.crt");
  auto options = test_options(server.url("remote.git"), cache.path().string());
  options.spec.credentials = credentials.path().string();
  auto source = started(options);
  ASSERT_TRUE(eventually([&] { return head_of(*source) == head; })) << source->status().last_error;
}

TEST_F(TransportTest, HttpsWrongTokenFailsWithoutShowingIt) {
  HttpsGitServer server(std::filesystem::path(repo.remote_path()).parent_path().string(), "right-token");
  write_file(credentials / "token", "wrong-token-value");
  std::filesystem::copy_file(server.ca_file(), credentials / "ca.crt");
  auto options = test_options(server.url("remote.git"), cache.path().string());
  options.spec.credentials = credentials.path().string();
  auto source = started(options);
  ASSERT_TRUE(eventually([&] { return !source->status().last_error.empty(); }));
  auto status = source->status();
  EXPECT_FALSE(status.ready);
  EXPECT_EQ(status.last_error.find("wrong-token-value"), std::string::npos) << status.last_error;
  EXPECT_NE(status.last_error.find("refused the credentials"), std::string::npos) << status.last_error;
}

TEST_F(TransportTest, HttpsUntrustedCertificateIsRefused) {
  HttpsGitServer server(std::filesystem::path(repo.remote_path()).parent_path().string());
  auto source = started(test_options(server.url("remote.git"), cache.path().string()));
  ASSERT_TRUE(eventually([&] { return !source->status().last_error.empty(); }));
  EXPECT_NE(source->status().last_error.find("not trusted by the system store"), std::string::npos)
      << source->status().last_error;
  EXPECT_FALSE(source->status().ready);
}

TEST_F(TransportTest, CredentialsAreNotSentOverPlainGit) {
  GitDaemon daemon(std::filesystem::path(repo.remote_path()).parent_path().string());
  write_file(credentials / "token", "t0ken");
  auto options = test_options(daemon.url(repo.remote_path()), cache.path().string());
  options.spec.credentials = credentials.path().string();
  // git:// never asks for credentials: the fetch works and the token is never offered.
  auto source = started(options);
  ASSERT_TRUE(eventually([&] { return head_of(*source) == head; })) << source->status().last_error;
}

TEST_F(TransportTest, SshWithKeyAndKnownHosts) {
  SshServer sshd;
  std::filesystem::copy_file(sshd.client_identity(), credentials / "identity");
  std::filesystem::copy_file(sshd.client_identity() + ".pub", credentials / "identity.pub");
  write_file(credentials / "known_hosts", sshd.known_hosts_line());
  auto options = test_options(sshd.url(repo.remote_path()), cache.path().string());
  options.spec.credentials = credentials.path().string();
  auto source = started(options);
  ASSERT_TRUE(eventually([&] { return head_of(*source) == head; })) << source->status().last_error;
}

TEST_F(TransportTest, SshUnknownOrChangedHostKeyIsRefused) {
  SshServer sshd;
  std::filesystem::copy_file(sshd.client_identity(), credentials / "identity");
  auto options = test_options(sshd.url(repo.remote_path()), cache.path().string());
  options.spec.credentials = credentials.path().string();

  write_file(credentials / "known_hosts", "[127.0.0.1]:1 " + sshd.host_public_key() + "\n");
  auto unknown = started(options);
  ASSERT_TRUE(eventually([&] { return !unknown->status().last_error.empty(); }));
  EXPECT_NE(unknown->status().last_error.find("is not in known_hosts"), std::string::npos)
      << unknown->status().last_error;
  unknown->stop();

  write_file(credentials / "known_hosts",
             "[127.0.0.1]:" + std::to_string(sshd.port()) +
                 " ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n");
  auto changed = started(options);
  ASSERT_TRUE(eventually([&] { return !changed->status().last_error.empty(); }));
  EXPECT_NE(changed->status().last_error.find("does not match known_hosts"), std::string::npos)
      << changed->status().last_error;
  EXPECT_FALSE(changed->status().ready);
}

TEST_F(TransportTest, SshWithoutKnownHostsIsRefused) {
  SshServer sshd;
  std::filesystem::copy_file(sshd.client_identity(), credentials / "identity");
  auto options = test_options(sshd.url(repo.remote_path()), cache.path().string());
  options.spec.credentials = credentials.path().string();
  auto source = started(options);
  ASSERT_TRUE(eventually([&] { return !source->status().last_error.empty(); }));
  EXPECT_NE(source->status().last_error.find("known_hosts"), std::string::npos);
}

}  // namespace
}  // namespace gitgate::gitstate
