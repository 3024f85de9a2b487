#include "tests/faults/fault_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>

#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace gitgate::faults {
namespace fs = std::filesystem;
using testing::read_file;
using testing::run_command;
using testing::write_file;

int env_int(const char* name, int fallback) {
  const char* value = std::getenv((std::string("FAULTS_") + name).c_str());
  if (value == nullptr || *value == '\0') return fallback;
  return std::atoi(value);
}

std::string faultkit() {
  return FAULTKIT_BINARY;
}

AdminReply admin_get(int port, const std::string& path, std::chrono::milliseconds timeout) {
  AdminReply reply;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return reply;
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return reply;
  }
  std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return reply;
  }
  std::string response;
  char buf[8192];
  for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) response.append(buf, static_cast<size_t>(n));
  close(fd);
  if (response.rfind("HTTP/1.1 ", 0) != 0 || response.size() < 12) return reply;
  reply.status = std::atoi(response.substr(9, 3).c_str());
  auto end = response.find("\r\n\r\n");
  if (end != std::string::npos) reply.body = response.substr(end + 4);
  return reply;
}

std::optional<std::chrono::milliseconds> wait_readyz(int port, int status,
                                                     std::chrono::milliseconds timeout) {
  auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < timeout) {
    if (admin_get(port, "/readyz").status == status)
      return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    std::this_thread::sleep_for(10ms);
  }
  return std::nullopt;
}

double metric_value(const std::string& metrics, const std::string& sample) {
  size_t at = 0;
  while ((at = metrics.find(sample + " ", at)) != std::string::npos) {
    if (at == 0 || metrics[at - 1] == '\n') return std::atof(metrics.c_str() + at + sample.size() + 1);
    at += sample.size();
  }
  return -1;
}

bool private_mount_namespace(std::string& why) {
  static std::string failure = [] {
    if (::unshare(CLONE_NEWNS) != 0) return std::string("unshare(CLONE_NEWNS): ") + std::strerror(errno);
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
      return std::string("making / private: ") + std::strerror(errno);
    return std::string();
  }();
  why = failure;
  return failure.empty();
}

std::unique_ptr<Mount> Mount::tmpfs(const fs::path& at, const std::string& options, std::string& why) {
  fs::create_directories(at);
  if (::mount("tmpfs", at.c_str(), "tmpfs", 0, options.c_str()) != 0) {
    why = "mount -t tmpfs -o " + options + " " + at.string() + ": " + std::strerror(errno);
    return nullptr;
  }
  return std::unique_ptr<Mount>(new Mount(at));
}

std::unique_ptr<Mount> Mount::bind(const fs::path& from, const fs::path& at, std::string& why) {
  fs::create_directories(at);
  if (::mount(from.c_str(), at.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    why = "mount --bind " + from.string() + " " + at.string() + ": " + std::strerror(errno);
    return nullptr;
  }
  return std::unique_ptr<Mount>(new Mount(at));
}

std::unique_ptr<Mount> Mount::ext4_image(const fs::path& image, const fs::path& at, int megabytes,
                                         const std::string& options, std::string& why) {
  fs::create_directories(at);
  {
    std::ofstream out(image, std::ios::binary);
    out.seekp(static_cast<std::streamoff>(megabytes) * 1024 * 1024 - 1);
    out.put('\0');
  }
  auto mkfs = run_command({"mkfs.ext4", "-q", "-F", image.string()}, 60s);
  if (mkfs.exit_code != 0) {
    why = "mkfs.ext4: " + mkfs.err;
    return nullptr;
  }
  auto mounted = run_command({"mount", "-o", "loop," + options, image.string(), at.string()}, 60s);
  if (mounted.exit_code != 0) {
    why = "mount -o loop: " + mounted.err;
    return nullptr;
  }
  std::unique_ptr<Mount> mount(new Mount(at));
  auto source = run_command({"findmnt", "-n", "-o", "SOURCE", at.string()}, 10s).out;
  mount->device_ = fs::path(source.substr(0, source.find('\n'))).filename().string();
  return mount;
}

Mount::~Mount() {
  ::umount2(at_.c_str(), MNT_DETACH);
}

namespace {
long status_field_kib(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(field + ":", 0) == 0) return std::atol(line.c_str() + field.size() + 1);
  return 0;
}
}  // namespace

long rss_kib(pid_t pid) {
  return status_field_kib(pid, "VmRSS");
}
long peak_rss_kib(pid_t pid) {
  return status_field_kib(pid, "VmHWM");
}

double summary_number(const std::string& summary, const std::string& field) {
  std::string key = "\"" + field + "\":";
  auto at = summary.find(key);
  if (at == std::string::npos) return -1;
  return std::atof(summary.c_str() + at + key.size());
}

Fleet::Fleet(const fs::path& dir) : dir_(dir), repo_((dir / "fleet").string()) {
  fs::path source = testing::fixture_path("engine/repo");
  fs::create_directories(repo_);
  fs::copy(source, repo_, fs::copy_options::recursive);
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"init", "-q"}, {"add", "-A"}, {"commit", "-q", "-m", "shop: web 1.4.2 with 3 replicas"}}) {
    auto r = run_command(git(args), 30s);
    if (r.exit_code != 0) throw std::runtime_error("git " + args[0] + " failed: " + r.err);
  }
}

std::vector<std::string> Fleet::git(std::vector<std::string> args) const {
  std::vector<std::string> argv{"git",
                                "-C",
                                repo_,
                                "-c",
                                "user.name=Alice Example",
                                "-c",
                                "user.email=alice@example.com",
                                "-c",
                                "init.defaultBranch=main",
                                "-c",
                                "commit.gpgsign=false"};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::string Fleet::head() const {
  return run_command(git({"rev-parse", "HEAD"}), 30s).out.substr(0, 40);
}

std::string Fleet::force_push_rewritten_history() const {
  auto r = run_command(git({"commit", "-q", "--amend", "-m", "shop: history rewritten (force-push)"}), 30s);
  if (r.exit_code != 0) throw std::runtime_error("git commit --amend failed: " + r.err);
  return head();
}

std::string Fleet::write_policy(const std::string& url, const std::vector<std::string>& source_extra) const {
  std::string policy = read_file(testing::fixture_path("engine/policy.yaml"));
  std::string old_url = "url: file:///srv/git/fleet.git";
  std::string replacement = "url: " + url;
  for (const auto& line : source_extra) replacement += "\n    " + line;
  policy.replace(policy.find(old_url), old_url.size(), replacement);
  fs::path dir = dir_ / "policies";
  write_file(dir / "prod.yaml", policy);
  return dir.string();
}

std::string review_fixture(const std::string& name) {
  return read_file(testing::fixture_path("engine/requests/" + name + ".json"));
}

GateServer::GateServer(Options options)
    : options_(std::move(options)), port_(testing::free_port()), metrics_port_(testing::free_port()) {}

GateServer::~GateServer() {
  if (process_ && process_->running()) terminate(10s);
}

void GateServer::start() {
  if (process_) previous_logs_ += process_->err();
  std::vector<std::string> argv{options_.binary.empty() ? testing::gitgate_binary() : options_.binary,
                                "serve",
                                "--policies",
                                options_.policies,
                                "--cert",
                                options_.cert,
                                "--key",
                                options_.key,
                                "--listen",
                                address(),
                                "--metrics-listen",
                                "127.0.0.1:" + std::to_string(metrics_port_),
                                "--cache-dir",
                                options_.cache_dir,
                                "--shutdown-delay",
                                options_.shutdown_delay,
                                "--threads",
                                std::to_string(options_.threads),
                                "--log-level",
                                "warn"};
  argv.insert(argv.end(), options_.extra_args.begin(), options_.extra_args.end());
  process_ = std::make_unique<testing::Subprocess>(argv);
}

bool GateServer::wait_ready(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!running()) return false;
    if (admin_get(metrics_port_, "/readyz", 1s).status == 200) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

std::optional<int> GateServer::terminate(std::chrono::milliseconds timeout) {
  if (!process_) return std::nullopt;
  process_->signal(SIGTERM);
  return process_->wait(timeout);
}

bool GateServer::running() {
  return process_ && process_->running();
}
pid_t GateServer::pid() const {
  return process_ ? process_->pid() : -1;
}
std::string GateServer::log() const {
  return previous_logs_ + (process_ ? process_->err() : std::string());
}
std::string GateServer::stdout_text() const {
  return process_ ? process_->out() : std::string();
}

FaultWorld::FaultWorld() : certs(testing::make_test_certs((dir / "certs").string())), fleet(dir.path()) {}

std::string FaultWorld::body_file(const std::string& fixture_name) {
  fs::path path = dir / ("bodies/" + fixture_name + ".json");
  if (!fs::exists(path)) write_file(path, review_fixture(fixture_name));
  return path.string();
}

GateServer::Options FaultWorld::server_options(const std::string& policies, const std::string& name) const {
  GateServer::Options o;
  o.policies = policies;
  o.cert = certs.cert;
  o.key = certs.key;
  o.cache_dir = (dir / ("cache-" + name)).string();
  return o;
}

Faultkit::Faultkit(std::vector<std::string> args)
    : process_([&] {
        args.insert(args.begin(), faultkit());
        return args;
      }()) {}

bool Faultkit::wait_running(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (process_.out().find("running") != std::string::npos) return true;
    if (!process_.running()) return false;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

std::string Faultkit::finish(std::chrono::milliseconds timeout) {
  process_.signal(SIGINT);
  return summary(timeout);
}

std::string Faultkit::summary(std::chrono::milliseconds timeout) {
  if (!process_.wait(timeout)) return {};
  std::string out = process_.out();
  while (!out.empty() && out.back() == '\n') out.pop_back();
  std::string last = out.substr(out.rfind('\n') + 1);  // npos + 1 == 0: the only line
  return last.rfind('{', 0) == 0 ? last : std::string();
}

}  // namespace gitgate::faults
