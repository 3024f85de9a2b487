// Real Git for the gitstate tests: a working repository with a bare "remote", made with the git CLI under a
// fixed identity and clock, and real servers on 127.0.0.1 (git daemon, HTTPS http-backend, sshd) plus a
// TCP relay that can play a remote that accepts connections and never answers.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gitstate/snapshot_builder.h"
#include "gitstate/source.h"
#include "tests/support/support.h"

namespace gitgate::gitstate::testing {

using gitgate::testing::Subprocess;
using gitgate::testing::TempDir;

// Runs git in `dir` with no user or system configuration; fails the test (throws) when git fails.
std::string git(const std::filesystem::path& dir, const std::vector<std::string>& args,
                const std::map<std::string, std::string>& env = {});

class WorkRepo {
 public:
  WorkRepo();
  const std::filesystem::path& path() const { return work_; }
  std::string remote_path() const { return remote_.string(); }
  std::string file_url() const { return "file://" + remote_.string(); }

  void write(const std::string& path, std::string_view content);
  void remove(const std::string& path);
  void symlink(const std::string& path, const std::string& target);
  // Stages everything and commits; returns the commit id. Each commit is one minute after the previous one.
  std::string commit(const std::string& message, const std::vector<std::string>& extra_args = {});
  void push(bool force = false);
  std::string git(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {});
  std::map<std::string, std::string> identity_env();

 private:
  TempDir dir_;
  std::filesystem::path work_;
  std::filesystem::path remote_;
  int clock_ = 0;
};

std::string deployment(const std::string& name, int replicas = 1);
std::string config_map(const std::string& name, const std::string& value = "v");

// A snapshot builder over `git_dir` (the test's bare remote: it only reads objects), and one build of `head`;
// both throw on failure.
std::unique_ptr<SnapshotBuilder> snapshot_builder(const std::string& git_dir, SourceSpec spec = {});
std::shared_ptr<const Snapshot> build_snapshot(SnapshotBuilder& builder, const std::string& head);

// Polls `condition` every 10 ms until it holds or `timeout` passes.
bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Options for a source in tests: short interval, gitgate's own __fetch.
SourceOptions test_options(const std::string& url, const std::string& cache_dir);

class GitDaemon {
 public:
  explicit GitDaemon(const std::string& base_path);
  int port() const { return port_; }
  std::string url(const std::string& repo_path) const;  // repo_path below base_path

 private:
  int port_;
  std::unique_ptr<Subprocess> process_;
  std::string base_;
};

// git http-backend over TLS (python3), optionally requiring basic auth with `token` as the password.
class HttpsGitServer {
 public:
  HttpsGitServer(const std::string& root, const std::string& token = "");
  std::string url(const std::string& repo_name) const;
  std::string ca_file() const { return (dir_ / "cert.pem").string(); }

 private:
  TempDir dir_;
  int port_;
  std::unique_ptr<Subprocess> process_;
};

// sshd on a high port with a throwaway ed25519 host key; one authorised client key.
class SshServer {
 public:
  SshServer();
  int port() const { return port_; }
  std::string url(const std::string& repo_path) const;
  std::string host_public_key() const;  // "ssh-ed25519 AAAA..."
  std::string client_identity() const { return (dir_ / "client").string(); }
  std::string known_hosts_line() const;  // "[127.0.0.1]:port ssh-ed25519 AAAA..."

 private:
  TempDir dir_;
  int port_;
  std::unique_ptr<Subprocess> process_;
};

// Listens on 127.0.0.1; either holds every connection open without a byte (a hung remote) or relays it to
// `target_port`.
class TcpRelay {
 public:
  explicit TcpRelay(int target_port);
  ~TcpRelay();
  int port() const { return port_; }
  void set_hang(bool hang) { hang_ = hang; }
  int connections() const { return connections_; }

 private:
  void serve();
  int listen_fd_ = -1;
  int port_ = 0;
  int target_port_;
  std::atomic<bool> hang_{true};
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
  std::vector<int> held_;
};

}  // namespace gitgate::gitstate::testing
