// Rolling restarts under load: two `gitgate serve` instances behind a round-robin client that behaves like
// the API server (an Endpoints-style readiness view from /readyz, keep-alive connections, a request
// resent only when it was never written or its reused connection closed before any response byte). Each
// cycle sends SIGTERM to one instance, waits for it to exit 0 and starts it again on the same ports.
// Not one request may fail.
#include <gtest/gtest.h>

#include <thread>

#include "tests/faults/fault_support.h"

namespace gitgate::faults {
namespace {

TEST(SigtermFault, FiftyRestartsOfTwoInstancesUnderLoadLoseNoRequest) {
  const int cycles = env_int("SIGTERM_CYCLES", 50);
  const int delay_ms = env_int("SIGTERM_SHUTDOWN_DELAY_MS", 400);
  FaultWorld world;
  std::string policies = world.fleet.write_policy(world.fleet.file_url());
  std::vector<std::unique_ptr<GateServer>> servers;
  for (std::string name : {"a", "b"}) {
    auto options = world.server_options(policies, name);
    options.shutdown_delay = std::to_string(delay_ms) + "ms";
    servers.push_back(std::make_unique<GateServer>(options));
    servers.back()->start();
  }
  for (auto& s : servers) ASSERT_TRUE(s->wait_ready()) << s->log();

  Faultkit load({"load", "-backends", servers[0]->address() + "," + servers[1]->address(), "-ready",
                 servers[0]->readyz_url() + "," + servers[1]->readyz_url(), "-ca", world.certs.ca, "-bodies",
                 world.body_file("flux-apply-web") + "," + world.body_file("edit-web-replicas"), "-expect",
                 "true,false", "-concurrency", "8", "-rate", "2000", "-deadline", "5s"});
  ASSERT_TRUE(load.wait_running()) << load.err();
  std::this_thread::sleep_for(300ms);

  auto started = std::chrono::steady_clock::now();
  for (int cycle = 0; cycle < cycles; ++cycle) {
    GateServer& victim = *servers[cycle % 2];
    auto code = victim.terminate(30s);
    ASSERT_TRUE(code.has_value()) << "cycle " << cycle << ": no exit within 30 s\n" << victim.log();
    ASSERT_EQ(*code, 0) << "cycle " << cycle << "\n" << victim.log();
    victim.start();
    ASSERT_TRUE(victim.wait_ready()) << "cycle " << cycle << "\n" << victim.log();
    std::this_thread::sleep_for(100ms);  // the client's readiness view catches up, as Endpoints would
  }
  auto elapsed =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  std::string summary = load.finish();
  std::cout << cycles << " SIGTERM cycles in " << elapsed.count() << " ms; load: " << summary << "\n";

  ASSERT_FALSE(summary.empty()) << load.err();
  EXPECT_EQ(summary_number(summary, "failed"), 0) << summary;
  EXPECT_EQ(summary_number(summary, "wrong_decision"), 0) << summary;
  EXPECT_GT(summary_number(summary, "answered"), cycles * 10) << summary;
  for (auto& s : servers) EXPECT_EQ(s->terminate(), 0) << s->log();
}

}  // namespace
}  // namespace gitgate::faults
