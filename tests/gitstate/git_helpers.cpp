#include "tests/gitstate/git_helpers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace gitgate::gitstate::testing {
namespace fs = std::filesystem;
using gitgate::testing::free_port;
using gitgate::testing::run_command;
using gitgate::testing::wait_for_port;
using gitgate::testing::write_file;

namespace {

std::map<std::string, std::string> isolated_env(const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> env{
      {"GIT_CONFIG_GLOBAL", "/dev/null"}, {"GIT_CONFIG_NOSYSTEM", "1"}, {"GIT_TERMINAL_PROMPT", "0"}};
  for (const auto& [k, v] : extra) env[k] = v;
  return env;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string run_or_throw(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& env = {}) {
  auto r = run_command(argv, std::chrono::seconds(60), {}, env);
  if (r.exit_code != 0) {
    std::string command;
    for (const auto& a : argv) command += a + " ";
    throw std::runtime_error(command + "failed: " + r.err + r.out);
  }
  return r.out;
}

}  // namespace

std::string git(const fs::path& dir, const std::vector<std::string>& args,
                const std::map<std::string, std::string>& env) {
  std::vector<std::string> argv{"git", "-C", dir.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return trim(run_or_throw(argv, isolated_env(env)));
}

WorkRepo::WorkRepo() : work_(dir_ / "work"), remote_(dir_ / "remote.git") {
  fs::create_directories(work_);
  testing::git(dir_.path(), {"init", "-q", "--bare", "-b", "main", remote_.string()});
  testing::git(work_, {"init", "-q", "-b", "main"});
  testing::git(work_, {"remote", "add", "origin", remote_.string()});
}

std::map<std::string, std::string> WorkRepo::identity_env() {
  std::string date = "@" + std::to_string(1700000000 + clock_ * 60) + " +0000";
  return {{"GIT_AUTHOR_NAME", "Alice Example"},
          {"GIT_AUTHOR_EMAIL", "alice@example.com"},
          {"GIT_AUTHOR_DATE", date},
          {"GIT_COMMITTER_NAME", "Alice Example"},
          {"GIT_COMMITTER_EMAIL", "alice@example.com"},
          {"GIT_COMMITTER_DATE", date}};
}

std::string WorkRepo::git(const std::vector<std::string>& args,
                          const std::map<std::string, std::string>& env) {
  auto merged = identity_env();
  for (const auto& [k, v] : env) merged[k] = v;
  return testing::git(work_, args, merged);
}

void WorkRepo::write(const std::string& path, std::string_view content) {
  write_file(work_ / path, content);
}
void WorkRepo::remove(const std::string& path) {
  fs::remove_all(work_ / path);
}
void WorkRepo::symlink(const std::string& path, const std::string& target) {
  fs::create_directories((work_ / path).parent_path());
  fs::create_symlink(target, work_ / path);
}

std::string WorkRepo::commit(const std::string& message, const std::vector<std::string>& extra_args) {
  ++clock_;
  git({"add", "-A"});
  std::vector<std::string> args{"commit", "-q", "--allow-empty", "-m", message};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  git(args);
  return git({"rev-parse", "HEAD"});
}

void WorkRepo::push(bool force) {
  std::vector<std::string> args{"push", "-q", "origin", "HEAD:refs/heads/main"};
  if (force) args.push_back("--force");
  git(args);
}

std::string deployment(const std::string& name, int replicas) {
  return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " + name +
         "\nspec:\n  replicas: " + std::to_string(replicas) + "\n";
}

std::string config_map(const std::string& name, const std::string& value) {
  return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\ndata:\n  key: " + value + "\n";
}

std::unique_ptr<SnapshotBuilder> snapshot_builder(const std::string& git_dir, SourceSpec spec) {
  auto b = SnapshotBuilder::create(git_dir, std::move(spec), manifests::Limits{});
  if (!b.ok()) throw std::runtime_error(b.error());
  return std::move(*b);
}

std::shared_ptr<const Snapshot> build_snapshot(SnapshotBuilder& builder, const std::string& head) {
  auto s = builder.build(head, -1);
  if (!s.ok()) throw std::runtime_error(s.error());
  return *s;
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

SourceOptions test_options(const std::string& url, const std::string& cache_dir) {
  SourceOptions options;
  options.name = "test";
  options.spec.url = url;
  options.spec.interval = std::chrono::milliseconds(200);
  options.spec.fetch_timeout = std::chrono::seconds(10);
  options.cache_dir = cache_dir;
  options.fetch_program = gitgate::testing::gitgate_binary();
  options.sync_rate_limit = std::chrono::milliseconds(100);
  return options;
}

GitDaemon::GitDaemon(const std::string& base_path) : port_(free_port()), base_(base_path) {
  process_ = std::make_unique<Subprocess>(
      std::vector<std::string>{"git", "daemon", "--reuseaddr", "--export-all", "--listen=127.0.0.1",
                               "--port=" + std::to_string(port_), "--base-path=" + base_path, "--timeout=30",
                               base_path},
      isolated_env({}));
  if (!wait_for_port(port_)) throw std::runtime_error("git daemon did not start: " + process_->err());
}

std::string GitDaemon::url(const std::string& repo_path) const {
  return "git://127.0.0.1:" + std::to_string(port_) + "/" +
         fs::path(repo_path).lexically_relative(base_).string();
}

HttpsGitServer::HttpsGitServer(const std::string& root, const std::string& token) : port_(free_port()) {
  run_or_throw({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext",
                "subjectAltName=DNS:127.0.0.1,DNS:localhost,IP:127.0.0.1", "-keyout",
                (dir_ / "key.pem").string(), "-out", (dir_ / "cert.pem").string()});
  std::vector<std::string> argv{"python3",
                                gitgate::testing::fixture_path("gitstate/https_git_server.py"),
                                std::to_string(port_),
                                root,
                                (dir_ / "cert.pem").string(),
                                (dir_ / "key.pem").string()};
  if (!token.empty()) {
    argv.push_back("--token");
    argv.push_back(token);
  }
  process_ = std::make_unique<Subprocess>(argv, isolated_env({}));
  if (!wait_for_port(port_)) throw std::runtime_error("HTTPS git server did not start: " + process_->err());
}

std::string HttpsGitServer::url(const std::string& repo_name) const {
  return "https://127.0.0.1:" + std::to_string(port_) + "/" + repo_name;
}

SshServer::SshServer() : port_(free_port()) {
  fs::create_directories("/run/sshd");
  run_or_throw({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", (dir_ / "host").string()});
  run_or_throw({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", (dir_ / "client").string()});
  fs::copy_file(dir_ / "client.pub", dir_ / "authorized_keys");
  write_file(dir_ / "sshd_config",
             "Port " + std::to_string(port_) + "\nListenAddress 127.0.0.1\nHostKey " +
                 (dir_ / "host").string() + "\nPidFile " + (dir_ / "sshd.pid").string() +
                 "\nAuthorizedKeysFile " + (dir_ / "authorized_keys").string() +
                 "\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
                 "PermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\nLogLevel ERROR\n");
  process_ = std::make_unique<Subprocess>(
      std::vector<std::string>{"/usr/sbin/sshd", "-D", "-e", "-f", (dir_ / "sshd_config").string()});
  if (!wait_for_port(port_)) throw std::runtime_error("sshd did not start: " + process_->err());
}

std::string SshServer::url(const std::string& repo_path) const {
  return "ssh://root@127.0.0.1:" + std::to_string(port_) + repo_path;
}

std::string SshServer::host_public_key() const {
  std::string line = trim(gitgate::testing::read_file(dir_ / "host.pub"));
  auto second_space = line.find(' ', line.find(' ') + 1);
  return line.substr(0, second_space);
}

std::string SshServer::known_hosts_line() const {
  return "[127.0.0.1]:" + std::to_string(port_) + " " + host_public_key() + "\n";
}

TcpRelay::TcpRelay(int target_port) : target_port_(target_port) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(listen_fd_, 16) != 0)
    throw std::runtime_error("relay: cannot listen");
  socklen_t len = sizeof addr;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { serve(); });
}

TcpRelay::~TcpRelay() {
  stop_ = true;
  thread_.join();
  close(listen_fd_);
}

void TcpRelay::serve() {
  std::vector<std::pair<int, int>> pipes;  // client, upstream
  char buffer[65536];
  while (!stop_) {
    std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
    for (auto [a, b] : pipes) {
      fds.push_back({a, POLLIN, 0});
      fds.push_back({b, POLLIN, 0});
    }
    if (poll(fds.data(), fds.size(), 20) <= 0) continue;
    const size_t polled = pipes.size();  // a connection accepted below has no entry in fds yet
    if (fds[0].revents & POLLIN) {
      int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client >= 0) {
        ++connections_;
        if (hang_) {
          held_.push_back(client);
        } else {
          int upstream = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
          sockaddr_in addr{};
          addr.sin_family = AF_INET;
          addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
          addr.sin_port = htons(static_cast<uint16_t>(target_port_));
          if (connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
            pipes.emplace_back(client, upstream);
          } else {
            close(client);
            close(upstream);
          }
        }
      }
    }
    std::vector<std::pair<int, int>> alive;
    for (size_t i = 0; i < pipes.size(); ++i) {
      bool open = true;
      for (int side = 0; side < 2 && open && i < polled; ++side) {
        const pollfd& p = fds[1 + 2 * i + side];
        if (p.revents == 0) continue;
        int from = side == 0 ? pipes[i].first : pipes[i].second;
        int to = side == 0 ? pipes[i].second : pipes[i].first;
        ssize_t n = read(from, buffer, sizeof buffer);
        if (n <= 0 || write(to, buffer, static_cast<size_t>(n)) != n) open = false;
      }
      if (open) {
        alive.push_back(pipes[i]);
      } else {
        close(pipes[i].first);
        close(pipes[i].second);
      }
    }
    pipes.swap(alive);
  }
  for (auto [a, b] : pipes) {
    close(a);
    close(b);
  }
  for (int fd : held_) close(fd);
}

}  // namespace gitgate::gitstate::testing
