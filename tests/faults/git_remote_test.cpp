// Git remote faults while serving: the policy's remote (git daemon behind faultkit's proxy) goes down,
// black-holes connections, answers garbage, and has its history force-pushed, while a client keeps sending
// reviews (one of them an agent write no snapshot holds, which asks for a sync on miss that cannot
// succeed). Every review is answered from the last good snapshot, correctly and within its deadline;
// /readyz turns false once the snapshot is older than maxStaleness (3 s), not before, and true again after
// recovery.
#include <gtest/gtest.h>

#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "tests/faults/fault_support.h"

namespace gitgate::faults {
namespace {

using Clock = std::chrono::steady_clock;

class GitDaemon {
 public:
  explicit GitDaemon(const std::string& base)
      : port_(testing::free_port()),
        process_({"git", "daemon", "--reuseaddr", "--export-all", "--base-path=" + base, "--listen=127.0.0.1",
                  "--port=" + std::to_string(port_), base}) {
    if (!testing::wait_for_port(port_))
      throw std::runtime_error("git daemon did not start: " + process_.err());
  }
  int port() const { return port_; }

 private:
  int port_;
  testing::Subprocess process_;
};

// gitgate_snapshot_age_seconds of the policy "prod", in milliseconds.
std::optional<int64_t> snapshot_age_ms(int metrics_port) {
  const std::string metric = "gitgate_snapshot_age_seconds{policy=\"prod\"} ";
  std::string body = admin_get(metrics_port, "/metrics").body;
  size_t at = body.find(metric);
  if (at == std::string::npos) return std::nullopt;
  return static_cast<int64_t>(std::stod(body.substr(at + metric.size())) * 1000);
}

TEST(GitRemoteFault, DownBlackholedGarbageAndForcePushedRemoteNeverBlockReviews) {
  FaultWorld world;
  GitDaemon daemon(world.dir.path().string());
  int proxy_port = testing::free_port();
  std::string mode_file = (world.dir / "remote-mode").string();
  testing::write_file(mode_file, "pass");
  Faultkit proxy({"proxy", "-listen", "127.0.0.1:" + std::to_string(proxy_port), "-upstream",
                  "127.0.0.1:" + std::to_string(daemon.port()), "-mode-file", mode_file});
  ASSERT_TRUE(proxy.wait_running()) << proxy.err();

  std::string url = "git://127.0.0.1:" + std::to_string(proxy_port) + "/fleet";
  GateServer server(world.server_options(
      world.fleet.write_policy(url, {"interval: 300ms", "fetchTimeout: 2s", "maxStaleness: 3s"})));
  server.start();
  ASSERT_TRUE(server.wait_ready()) << server.log();

  Faultkit load({"load", "-backends", server.address(), "-ca", world.certs.ca, "-bodies",
                 world.body_file("flux-apply-web") + "," + world.body_file("edit-web-replicas") + "," +
                     world.body_file("flux-apply-web-drifted"),
                 "-expect", "true,false,false", "-concurrency", "32", "-rate", "1000", "-path",
                 "/validate?timeout=2s", "-deadline", "2s"});
  ASSERT_TRUE(load.wait_running()) << load.err();
  std::this_thread::sleep_for(1s);

  for (std::string fault : {"down", "blackhole", "garbage"}) {
    // maxStaleness (3 s) counts from the last successful fetch, which may be a while back when fetches are
    // slow (sanitizer builds under load): the snapshot's age as the fault starts says how long.
    auto age_at_fault = snapshot_age_ms(server.metrics_port());
    ASSERT_TRUE(age_at_fault.has_value()) << admin_get(server.metrics_port(), "/metrics").body;
    testing::write_file(mode_file, fault);
    auto unready = wait_readyz(server.metrics_port(), 503, 10s);
    ASSERT_TRUE(unready.has_value()) << fault << ": /readyz stayed 200\n" << server.log();
    // 50 ms: the time between reading the age and writing the mode file.
    EXPECT_GE(*age_at_fault + unready->count(), 3000 - 50)
        << fault << ": not ready before maxStaleness passed (the snapshot was " << *age_at_fault
        << " ms old as the fault started)";
    std::string metrics = admin_get(server.metrics_port(), "/metrics").body;
    EXPECT_EQ(metrics.find("gitgate_git_fetch_errors_total{policy=\"prod\"} 0\n"), std::string::npos)
        << metrics;
    std::cout << fault << ": /readyz false after " << unready->count() << " ms (snapshot " << *age_at_fault
              << " ms old as the fault started)";
    testing::write_file(mode_file, "pass");
    auto ready = wait_readyz(server.metrics_port(), 200, 10s);
    ASSERT_TRUE(ready.has_value()) << fault << ": /readyz did not recover\n" << server.log();
    std::cout << ", true again " << ready->count() << " ms after the remote recovered\n";
  }

  std::string rewritten = world.fleet.force_push_rewritten_history();
  auto start = Clock::now();
  bool picked_up = false;
  // Under ASan and this load, one fetch takes seconds (recovery above: 3.4-4.1 s); the rewritten history
  // is a larger fetch. With a 1 s fetchTimeout and 10 s here, one ASan run never served it.
  while (!picked_up && Clock::now() - start < 20s) {
    picked_up = admin_get(server.metrics_port(), "/metrics").body.find("commit=\"" + rewritten + "\"") !=
                std::string::npos;
    if (!picked_up) std::this_thread::sleep_for(50ms);
  }
  std::cout << "force-push: the rewritten head served after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count() << " ms\n";
  if (!picked_up) {
    std::string git_metrics;
    std::istringstream lines(admin_get(server.metrics_port(), "/metrics").body);
    for (std::string line; std::getline(lines, line);)
      if (line.rfind("gitgate_git", 0) == 0 || line.rfind("gitgate_snapshot", 0) == 0) git_metrics += line + "\n";
    ADD_FAILURE() << "the force-pushed head " << rewritten << " was not served in 20 s\n"
                  << git_metrics << server.log();
  }
  std::this_thread::sleep_for(500ms);

  std::string summary = load.finish();
  std::cout << "load: " << summary << "\n";
  ASSERT_FALSE(summary.empty()) << load.err();
  EXPECT_GT(summary_number(summary, "answered"), 100);
  EXPECT_EQ(summary_number(summary, "failed"), 0) << summary;
  EXPECT_EQ(summary_number(summary, "late"), 0) << summary;
  EXPECT_EQ(summary_number(summary, "wrong_decision"), 0) << summary;
  EXPECT_EQ(server.terminate(), 0) << server.log();
}

}  // namespace
}  // namespace gitgate::faults
