// What the fault tests share: a Git fleet repository with a GatePolicy for it, real `gitgate serve`
// processes, the Go clients of tests/faults/faultkit, the admin port over plain HTTP, and RSS readings.
// Counts and durations come from FAULTS_* environment variables so a longer run is one variable away.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/https_client.h"
#include "tests/support/support.h"

namespace gitgate::faults {

using namespace std::chrono_literals;

// FAULTS_<name> as a number, or `fallback`.
int env_int(const char* name, int fallback);

using testing::resource_bounds;

// tests/faults/faultkit, built with `go build` next to the test binary.
std::string faultkit();

// A plain-HTTP GET to 127.0.0.1:port (the admin port); status 0 when nothing answered.
struct AdminReply {
  int status = 0;
  std::string body;
};
AdminReply admin_get(int port, const std::string& path, std::chrono::milliseconds timeout = 2s);

// Polls until /readyz answers `status`; returns how long that took, or nullopt at the deadline.
std::optional<std::chrono::milliseconds> wait_readyz(int port, int status, std::chrono::milliseconds timeout);

// A sample's value in a /metrics text ("gitgate_audit_sink_up{sink=\"file\"}"); -1 when absent.
double metric_value(const std::string& metrics, const std::string& sample);

// Puts this process, and every process it starts from then on, in a mount namespace of its own whose
// mounts nobody else sees (root only). False, with the reason, where that is not allowed.
bool private_mount_namespace(std::string& why);

// A file system mounted in the private namespace (private_mount_namespace() first); detached when destroyed.
class Mount {
 public:
  // `options` as for mount -o, e.g. "size=8m" or "size=8m,nr_inodes=100".
  static std::unique_ptr<Mount> tmpfs(const std::filesystem::path& at, const std::string& options,
                                      std::string& why);
  // `from` seen at `at` too (a bind mount).
  static std::unique_ptr<Mount> bind(const std::filesystem::path& from, const std::filesystem::path& at,
                                     std::string& why);
  // An ext4 file system on a loop device over a new image file of `megabytes`, mounted with `options`.
  static std::unique_ptr<Mount> ext4_image(const std::filesystem::path& image,
                                           const std::filesystem::path& at, int megabytes,
                                           const std::string& options, std::string& why);
  ~Mount();
  Mount(const Mount&) = delete;
  Mount& operator=(const Mount&) = delete;
  const std::filesystem::path& at() const { return at_; }
  // The block device (loop0) of an ext4 image mount; empty for tmpfs.
  const std::string& device() const { return device_; }

 private:
  explicit Mount(std::filesystem::path at) : at_(std::move(at)) {}
  std::filesystem::path at_;
  std::string device_;
};

// Resident set size of a process, in KiB (VmRSS), and its peak (VmHWM); 0 when it is gone.
long rss_kib(pid_t pid);
long peak_rss_kib(pid_t pid);

// A JSON number field of a faultkit summary ("failed":0 -> 0); -1 when absent.
double summary_number(const std::string& summary, const std::string& field);

// A Git repository holding the engine fixtures' tree (tests/fixtures/engine/repo: shop/web, api, cfg),
// committed on main, and the engine fixtures' policy pointed at a URL for it.
class Fleet {
 public:
  explicit Fleet(const std::filesystem::path& dir);
  const std::string& repo() const { return repo_; }
  std::string file_url() const { return "file://" + repo_; }
  // Writes policies/prod.yaml for `url`; `source_extra` lines go under spec.source (e.g. "interval: 1s").
  std::string write_policy(const std::string& url, const std::vector<std::string>& source_extra = {}) const;
  // Rewrites the branch's only commit (same tree, new id) and force-moves main to it.
  std::string force_push_rewritten_history() const;
  std::string head() const;

 private:
  std::vector<std::string> git(std::vector<std::string> args) const;
  std::filesystem::path dir_;
  std::string repo_;
};

// An AdmissionReview from tests/fixtures/engine/requests, with the policy of Fleet:
// flux-apply-web (allowed), edit-web-replicas (denied), flux-apply-web-drifted (denied, sync on miss).
std::string review_fixture(const std::string& name);

// One `gitgate serve` process on fixed loopback ports (so it can be restarted on the same ones).
class GateServer {
 public:
  struct Options {
    std::string policies;
    std::string cert;
    std::string key;
    std::string cache_dir;
    std::string shutdown_delay = "0s";
    int threads = 2;
    std::vector<std::string> extra_args;
    std::string binary;  // empty: the gitgate built with these tests
  };
  explicit GateServer(Options options);
  ~GateServer();

  void start();
  // Polls /readyz until it answers 200; false at the deadline.
  bool wait_ready(std::chrono::milliseconds timeout = 20s);
  // SIGTERM, then waits for the exit status (nullopt: still running at the deadline).
  std::optional<int> terminate(std::chrono::milliseconds timeout = 30s);
  bool running();
  pid_t pid() const;
  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string readyz_url() const { return "http://127.0.0.1:" + std::to_string(metrics_port_) + "/readyz"; }
  std::string log() const;          // stderr of the current process
  std::string stdout_text() const;  // of the current process (the audit stream with --audit-stdout)

 private:
  Options options_;
  int port_;
  int metrics_port_;
  std::unique_ptr<testing::Subprocess> process_;
  std::string previous_logs_;
};

// A fleet, certificates and the policy, in one temporary directory: what every fault test starts from.
struct FaultWorld {
  testing::TempDir dir;
  testing::TestCerts certs;
  Fleet fleet;
  FaultWorld();
  // Review bodies written to files (the load client reads files).
  std::string body_file(const std::string& fixture_name);
  GateServer::Options server_options(const std::string& policies, const std::string& name = "a") const;
};

// A faultkit process; its stdout is a file: "running" once it is under way, then a JSON summary.
class Faultkit {
 public:
  explicit Faultkit(std::vector<std::string> args);
  // Waits for "running" on stdout; false at the deadline or when it exited.
  bool wait_running(std::chrono::milliseconds timeout = 30s);
  // Waits for it to stop by itself (-duration), then returns the JSON summary line ("" when it did not).
  std::string summary(std::chrono::milliseconds timeout);
  // SIGINT, then the JSON summary line ("" when it did not finish).
  std::string finish(std::chrono::milliseconds timeout = 60s);
  std::string err() const { return process_.err(); }

 private:
  testing::Subprocess process_;
};

}  // namespace gitgate::faults
