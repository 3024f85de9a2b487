// Slowloris against the real `gitgate serve`: 900 connections trickle a TLS handshake, headers or a body,
// one byte a second, reconnecting whenever the server drops them, while a real client sends reviews.
// Every real request must be answered, correctly and within the deadline.
#include <gtest/gtest.h>

#include "tests/faults/fault_support.h"

namespace gitgate::faults {
namespace {

TEST(SlowlorisFault, NineHundredTricklingConnectionsDoNotDelayRealReviews) {
  const int connections = env_int("SLOWLORIS_CONNS", 900);
  const int seconds = env_int("SLOWLORIS_SECONDS", 15);
  // 1 s; under sanitizers the API server's default webhook timeout, 10 s.
  const int deadline_ms = env_int("SLOWLORIS_DEADLINE_MS", resource_bounds() ? 1000 : 10000);
  FaultWorld world;
  GateServer server(world.server_options(world.fleet.write_policy(world.fleet.file_url())));
  server.start();
  ASSERT_TRUE(server.wait_ready()) << server.log();

  Faultkit attack(
      {"slowloris", "-target", server.address(), "-conns", std::to_string(connections), "-interval", "1s"});
  ASSERT_TRUE(attack.wait_running(60s)) << attack.err();
  Faultkit load({"load", "-backends", server.address(), "-ca", world.certs.ca, "-bodies",
                 world.body_file("flux-apply-web") + "," + world.body_file("edit-web-replicas"), "-expect",
                 "true,false", "-concurrency", "4", "-rate", "2000", "-deadline",
                 std::to_string(deadline_ms) + "ms", "-duration", std::to_string(seconds) + "s"});
  ASSERT_TRUE(load.wait_running()) << load.err();
  std::string summary = load.summary(std::chrono::seconds(seconds + 30));
  std::string attack_summary = attack.finish();
  std::cout << "real client: " << summary << "\nslowloris: " << attack_summary << "\n";

  ASSERT_FALSE(summary.empty()) << load.err();
  EXPECT_GT(summary_number(summary, "answered"), 100);
  EXPECT_EQ(summary_number(summary, "failed"), 0) << summary;
  EXPECT_EQ(summary_number(summary, "late"), 0) << summary;
  EXPECT_EQ(summary_number(summary, "wrong_decision"), 0) << summary;
  // The attack really held its connections open while the reviews went through.
  EXPECT_GE(summary_number(attack_summary, "max_open"), connections * 9 / 10) << attack_summary;
  if (seconds > 12) {
    EXPECT_GT(summary_number(attack_summary, "closed_by_server"), 0) << attack_summary;
  }
  EXPECT_TRUE(server.running()) << server.log();
  EXPECT_EQ(server.terminate(), 0) << server.log();
}

}  // namespace
}  // namespace gitgate::faults
