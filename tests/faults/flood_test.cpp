// A flood of large reviews, as an attacker on the pod network could send it: many connections each sending
// multi-megabyte AdmissionReviews while a few others send ordinary ones. The request memory budget keeps the
// server's memory under the budget plus a fixed overhead (before it, 64 connections of 7 MB reviews took
// 459 MB, past the chart's 256 MiB limit: an OOM kill, and with failurePolicy Fail no write in the cluster
// succeeds), and the ordinary reviews keep being answered, correctly and in time.
#include <gtest/gtest.h>

#include <thread>

#include "tests/faults/fault_support.h"

namespace gitgate::faults {
namespace {

// An UPDATE of an undeclared ConfigMap whose object and oldObject together make a body of about `bytes`:
// one long string each (cheap to parse), or, `dense`, arrays of zeros (the most parser memory per byte).
std::string large_review(size_t bytes, bool dense) {
  std::string content;
  if (dense) {
    content = R"("spec":{"x":[)";
    for (size_t i = 0; i < bytes / 4 - 200; ++i) content += "0,";
    content += "0]}";
  } else {
    content = R"("data":{"blob":")" + std::string(bytes / 2 - 300, 'x') + "\"}";
  }
  std::string object =
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"blob","namespace":"shop"},)" + content + "}";
  return R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"flood-1",)"
         R"("kind":{"group":"","version":"v1","kind":"ConfigMap"},)"
         R"("resource":{"group":"","version":"v1","resource":"configmaps"},"name":"blob","namespace":"shop",)"
         R"("operation":"UPDATE","userInfo":{"username":"mallory","groups":["system:authenticated"]},)"
         R"("object":)" + object + R"(,"oldObject":)" + object + "}}";
}

struct Flood {
  std::string name;
  size_t body_bytes;
  bool dense;
  int connections;
};

TEST(FloodFault, LargeReviewsStayWithinTheMemoryBudgetAndSmallOnesKeepFlowing) {
  const int seconds = env_int("FLOOD_SECONDS", 4);
  const long budget_mib = env_int("FLOOD_BUDGET_MIB", 128);
  // What the process holds besides requests: code, snapshots, audit queue, TLS state of the connections,
  // the allocator's slack.
  const long overhead_mib = env_int("FLOOD_OVERHEAD_MIB", 64);
  const int small_p99_ms = env_int("FLOOD_SMALL_P99_MS", 250);
  // FAULTS_FLOOD_BINARY: another build of gitgate (say, one without the budget) under the same flood.
  const char* other_binary = std::getenv("FAULTS_FLOOD_BINARY");
  // Full size, as first measured: FAULTS_FLOOD_CONNS_2_5MB=100 FAULTS_FLOOD_CONNS_7MB=64.
  std::vector<Flood> floods{{"2.5 MB reviews", 2'500'000, false, env_int("FLOOD_CONNS_2_5MB", 32)},
                            {"7 MB reviews of numbers", 7'000'000, true, env_int("FLOOD_CONNS_7MB", 16)}};

  FaultWorld world;
  auto options = world.server_options(world.fleet.write_policy(world.fleet.file_url()));
  if (other_binary != nullptr && *other_binary != '\0') {
    options.binary = other_binary;
  } else {
    options.extra_args = {"--request-memory-budget", std::to_string(budget_mib) + "Mi"};
  }
  GateServer server(options);
  server.start();
  ASSERT_TRUE(server.wait_ready()) << server.log();
  const long start_kib = rss_kib(server.pid());
  std::string small_bodies = world.body_file("flux-apply-web") + "," + world.body_file("edit-web-replicas");

  for (const auto& flood : floods) {
    std::string heavy_file = (world.dir / ("flood-" + std::to_string(flood.body_bytes) + ".json")).string();
    testing::write_file(heavy_file, large_review(flood.body_bytes, flood.dense));
    const std::string duration = std::to_string(seconds) + "s";
    Faultkit heavy({"load", "-backends", server.address(), "-ca", world.certs.ca, "-bodies", heavy_file,
                    "-concurrency", std::to_string(flood.connections), "-duration", duration, "-max-retries", "0"});
    ASSERT_TRUE(heavy.wait_running()) << heavy.err();
    // The flood takes hold before the ordinary reviews start.
    std::this_thread::sleep_for(500ms);
    Faultkit small({"load", "-backends", server.address(), "-ca", world.certs.ca, "-bodies", small_bodies,
                    "-expect", "true,false", "-concurrency", "4", "-rate", "200", "-duration", duration,
                    "-deadline", "2s", "-path", "/validate?timeout=2s"});
    ASSERT_TRUE(small.wait_running()) << small.err();
    long peak_during_kib = 0;
    for (int i = 0; i < seconds * 10; ++i) {
      peak_during_kib = std::max(peak_during_kib, rss_kib(server.pid()));
      std::this_thread::sleep_for(100ms);
    }
    std::string small_summary = small.summary(60s);
    std::string heavy_summary = heavy.summary(60s);
    std::cout << flood.name << " on " << flood.connections << " connections: RSS up to "
              << peak_during_kib / 1024 << " MiB\n  large: " << heavy_summary.substr(0, 600)
              << "\n  small: " << small_summary.substr(0, 600) << "\n";
    ASSERT_TRUE(server.running()) << flood.name << " stopped the server\n" << server.log();
    ASSERT_FALSE(small_summary.empty()) << small.err();
    ASSERT_FALSE(heavy_summary.empty()) << heavy.err();
    EXPECT_GT(summary_number(small_summary, "answered"), 0);
    EXPECT_EQ(summary_number(small_summary, "failed"), 0) << small_summary;
    EXPECT_EQ(summary_number(small_summary, "wrong_decision"), 0) << small_summary;
    EXPECT_GT(summary_number(heavy_summary, "answered"), 0) << "no large review got through: " << heavy_summary;
    if (resource_bounds()) {
      EXPECT_LT(summary_number(small_summary, "p99_ms"), small_p99_ms)
          << "ordinary reviews waited behind the flood: " << small_summary;
    }
  }
  const long peak_kib = peak_rss_kib(server.pid());
  auto metrics = admin_get(server.metrics_port(), "/metrics").body;
  std::cout << "RSS: " << start_kib / 1024 << " MiB at start, peak " << peak_kib / 1024 << " MiB (budget "
            << budget_mib << " MiB + overhead " << overhead_mib << " MiB); reserved at most "
            << static_cast<long>(metric_value(metrics, "gitgate_request_memory_peak_bytes")) / (1024 * 1024)
            << " MiB, " << metric_value(metrics, "gitgate_request_memory_waits_total") << " waits, "
            << metric_value(metrics, "gitgate_request_memory_refusals_total") << " refusals\n";
  if (other_binary == nullptr || *other_binary == '\0') {
    EXPECT_LE(metric_value(metrics, "gitgate_request_memory_peak_bytes"), budget_mib * 1024 * 1024);
    EXPECT_GT(metric_value(metrics, "gitgate_request_memory_waits_total"), 0) << "the flood never filled the budget";
    EXPECT_EQ(metric_value(metrics, "gitgate_request_memory_in_use_bytes"), 0) << "memory leased and never returned";
    if (resource_bounds()) {
      EXPECT_LT(peak_kib, (budget_mib + overhead_mib) * 1024) << "the flood took memory past the budget";
    }
  }
  EXPECT_EQ(server.terminate(), 0) << server.log();
}

}  // namespace
}  // namespace gitgate::faults
