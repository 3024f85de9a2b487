// The gitgate binary end to end: the demo, the offline commands, and `serve` with real Git, TLS and audit.
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/https_client.h"
#include "tests/support/support.h"

namespace gitgate {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::gitgate_binary;
using testing::run_command;

std::string example(const std::string& path) { return testing::source_dir() + "/examples/" + path; }
bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(Demo, TellsTheWholeStoryAndCatchesTheTampering) {
  testing::TempDir dir;
  const std::string report = (dir / "report.html").string();
  auto r = run_command({gitgate_binary(), "demo", "--report", report}, 60s);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(has(r.out, "1. Flux applies")) << r.out;
  EXPECT_TRUE(has(r.out, "ALLOWED (agent-matches-git)"));
  EXPECT_TRUE(has(r.out, "spec.replicas: Git has 3, request has 5. Change it in Git instead."));
  EXPECT_TRUE(has(r.out, "DENIED (declared-object-delete)"));
  EXPECT_TRUE(has(r.out, "ALLOWED (break-glass)"));
  // Flux applying a commit pushed after gitgate's last poll is let through by the sync on miss.
  size_t step6 = r.out.find("6. Flux applies the new commit");
  ASSERT_NE(step6, std::string::npos) << r.out;
  std::string step6_text = r.out.substr(step6, r.out.find("\n7. ", step6) - step6);
  EXPECT_TRUE(has(step6_text, "ALLOWED (agent-matches-git)")) << step6_text;
  EXPECT_TRUE(has(r.out, "DENIED (agent-git-mismatch)"));
  EXPECT_TRUE(has(r.out, "OK: 7 records, chain intact"));
  EXPECT_TRUE(has(r.out, "# exit 1"));
  // Denials link to the line in the host's web UI (the example policy's webURL) after the citation.
  EXPECT_TRUE(has(r.out, "spec.replicas: Git has 3, request has 5. Change it in Git instead. "
                         "https://git.example.com/platform/fleet/src/commit/")) << r.out;
  EXPECT_TRUE(has(r.out, "/clusters/prod/shop/web.yaml#L2"));
  // It ends with the report, written where asked and named.
  EXPECT_TRUE(r.out.ends_with("\nAudit report (open it in a browser; it works offline): " + report + "\n"))
      << r.out.substr(r.out.size() > 600 ? r.out.size() - 600 : 0);
  std::string html = testing::read_file(report);
  EXPECT_TRUE(has(html, "Chain intact: 7 records")) << html.substr(0, 3000);
  EXPECT_TRUE(has(html, "<section id=\"break-glass\">"));
  EXPECT_TRUE(has(html, "href=\"https://git.example.com/platform/fleet/src/commit/"));
}

TEST(Review, ExitCodesFollowTheDecisionAndTheResponseGoesToStdout) {
  auto review = [](const std::string& request) {
    return run_command({gitgate_binary(), "review", "--policies", example("policies/shop.yaml"), "--manifests",
                        example("fleet"), example("requests/" + request + ".json")});
  };
  auto denied = review("edit-web-replicas");
  EXPECT_EQ(denied.exit_code, 1) << denied.err;
  EXPECT_TRUE(has(denied.out, R"("allowed":false,"status":{"code":403)")) << denied.out;
  EXPECT_TRUE(has(denied.err, "DENIED (governed-path-changed): UPDATE Deployment shop/web by jane@example.com")) << denied.err;
  EXPECT_TRUE(has(denied.err, "declared in: clusters/prod/shop/web.yaml:2"));
  auto allowed = review("flux-apply-web");
  EXPECT_EQ(allowed.exit_code, 0) << allowed.err;
  EXPECT_TRUE(has(allowed.out, R"("allowed":true)"));

  testing::TempDir dir;
  testing::write_file(dir / "bad.json", R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"})");
  auto bad = run_command({gitgate_binary(), "review", "--policies", example("policies"), "--manifests",
                          example("fleet"), (dir / "bad.json").string()});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(has(bad.err, "request: is missing")) << bad.err;
}

TEST(Declared, YamlIsEveryDeclaredValueHeadedByWhereItIsDeclared) {
  auto r = run_command({gitgate_binary(), "declared", "--policies", example("policies/shop.yaml"), "--manifests",
                        example("fleet"), "-o", "yaml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "---\n# policy shop: Deployment.apps shop/web is declared in Git "
                         "(clusters/prod/shop/web.yaml:2 @ working-tree).\napiVersion: apps/v1\nkind: Deployment\n"))
      << r.out;
  EXPECT_TRUE(has(r.out, "  replicas: 3\n")) << "the declared values, in the file's key order: " << r.out;
  EXPECT_TRUE(has(r.out, "  feature.checkout: \"on\"\n")) << "a string YAML would read as a boolean is quoted";
  auto bad = run_command({gitgate_binary(), "declared", "--policies", example("policies/shop.yaml"), "--manifests",
                          example("fleet"), "-o", "xml"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(has(bad.err, "--output must be table, json or yaml, not 'xml'")) << bad.err;
}

TEST(Review, NamesTheDeclaredLineInTheGitHostsWebUiForACommit) {
  testing::TempDir dir;
  fs::copy(example("fleet"), dir / "fleet", fs::copy_options::recursive);
  for (std::vector<std::string> args : {std::vector<std::string>{"init", "-q", "-b", "main"}, {"add", "-A"},
                                        {"commit", "-q", "-m", "fleet"}}) {
    std::vector<std::string> argv{"git", "-C", (dir / "fleet").string(), "-c", "user.name=Alice", "-c",
                                  "user.email=alice@example.com", "-c", "commit.gpgsign=false"};
    argv.insert(argv.end(), args.begin(), args.end());
    ASSERT_EQ(run_command(argv).exit_code, 0);
  }
  auto head = run_command({"git", "-C", (dir / "fleet").string(), "rev-parse", "HEAD"});
  const std::string commit = head.out.substr(0, 40);
  std::string policy = testing::read_file(example("policies/shop.yaml"));
  const std::string url = "https://git.example.com/platform/fleet.git";
  policy.replace(policy.find(url), url.size(), "file://" + (dir / "fleet").string());
  testing::write_file(dir / "policies/shop.yaml", policy);
  auto r = run_command({gitgate_binary(), "review", "--policies", (dir / "policies").string(), "--cache-dir",
                        (dir / "cache").string(), example("requests/edit-web-replicas.json")});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const std::string link =
      "https://git.example.com/platform/fleet/src/commit/" + commit + "/clusters/prod/shop/web.yaml#L2";
  EXPECT_TRUE(has(r.err, "  in Git: " + link + "\n")) << r.err;
  EXPECT_TRUE(has(r.out, "Change it in Git instead. " + link + "\"")) << r.out;
}

TEST(Review, RecordsTheDecisionWhenAskedAndTheLogVerifies) {
  testing::TempDir dir;
  auto log = (dir / "audit.log").string();
  run_command({gitgate_binary(), "review", "--policies", example("policies"), "--manifests", example("fleet"),
               "--audit-file", log, example("requests/scale-web.json")});
  run_command({gitgate_binary(), "review", "--policies", example("policies"), "--manifests", example("fleet"),
               "--audit-file", log, example("requests/flux-apply-web.json")});
  auto verify = run_command({gitgate_binary(), "audit", "verify", log});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_TRUE(has(verify.out, "OK: 2 records")) << verify.out;
}

TEST(PolicyTests, ExampleSuitePassesAndAMismatchFailsWithWhatDiffered) {
  auto ok = run_command({gitgate_binary(), "test", example("")});
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_TRUE(has(ok.out, "OK: 7 passed, 0 failed")) << ok.out;

  testing::TempDir dir;
  testing::write_file(dir / "gitgate-test.yaml",
                      "apiVersion: gitgate.dev/v1alpha1\nkind: GateTest\nspec:\n  policies: " + example("policies") +
                          "\n  manifests: " + example("fleet") + "\n  cases:\n    - name: wrong on purpose\n      request: " +
                          example("requests/scale-web.json") + "\n      expect: {allowed: true, reason: unmanaged}\n");
  auto failed = run_command({gitgate_binary(), "test", dir.path().string()});
  EXPECT_EQ(failed.exit_code, 1);
  EXPECT_TRUE(has(failed.out, "FAIL  wrong on purpose")) << failed.out;
  EXPECT_TRUE(has(failed.out, "allowed: expected true, got false"));
  EXPECT_TRUE(has(failed.out, "reason:  expected unmanaged, got governed-path-changed"));
}

// A real `gitgate serve` on a local Git repository made from the examples.
class Served : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = dir_ / "fleet";
    fs::copy(example("fleet"), repo_, fs::copy_options::recursive);
    testing::write_file(repo_ / "clusters/prod/shop/secret.yaml",
                        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: shop\ntype: Opaque\n"
                        "stringData:\n  password: ENC[AES256_GCM,data:c2VjcmV0,type:str]\n");
    git({"init", "-q", "-b", "main"});
    git({"add", "-A"});
    git({"commit", "-q", "-m", "fleet"});
    std::string policy = testing::read_file(example("policies/shop.yaml"));
    std::string url = "https://git.example.com/platform/fleet.git";
    policy.replace(policy.find(url), url.size(), "file://" + repo_.string());
    testing::write_file(dir_ / "policies/shop.yaml", policy);
    certs_ = testing::make_test_certs((dir_ / "certs").string());
  }

  void git(std::vector<std::string> args) {
    std::vector<std::string> argv{"git", "-C", repo_.string(), "-c", "user.name=Alice", "-c", "user.email=alice@example.com",
                                  "-c", "commit.gpgsign=false"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run_command(argv);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  void start(const std::string& shutdown_delay = "0s") {
    port_ = testing::free_port();
    metrics_port_ = testing::free_port();
    std::vector<std::string> argv{gitgate_binary(), "serve", "--policies", (dir_ / "policies").string(), "--cert",
                                  certs_.cert, "--key", certs_.key, "--listen", "127.0.0.1:" + std::to_string(port_),
                                  "--metrics-listen", "127.0.0.1:" + std::to_string(metrics_port_), "--cache-dir",
                                  (dir_ / "cache").string(), "--audit-file", audit_log(), "--threads", "2",
                                  "--shutdown-delay", shutdown_delay};
    server_ = std::make_unique<testing::Subprocess>(argv);
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (metrics("/readyz") != "200") {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << server_->err();
      std::this_thread::sleep_for(20ms);
    }
  }

  std::string metrics(const std::string& path, bool body = false) {
    std::vector<std::string> argv{"curl", "-s", "http://127.0.0.1:" + std::to_string(metrics_port_) + path};
    if (!body) argv.insert(argv.end(), {"-o", "/dev/null", "-w", "%{http_code}"});
    return run_command(argv, 5s).out;
  }

  testing::HttpsClientOptions client_options() const {
    testing::HttpsClientOptions o;
    o.port = port_;
    o.ca_file = certs_.ca;
    return o;
  }

  std::string audit_log() const { return (dir_ / "audit.log").string(); }

  std::vector<std::string> audit_lines() {
    std::vector<std::string> lines;
    std::ifstream in(audit_log());
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

  testing::TempDir dir_;
  fs::path repo_;
  testing::TestCerts certs_;
  int port_ = 0, metrics_port_ = 0;
  std::unique_ptr<testing::Subprocess> server_;
};

std::string secret_review(const std::string& user, const std::string& password_b64, const std::string& uid) {
  return R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":")" + uid +
         R"(","kind":{"group":"","version":"v1","kind":"Secret"},"resource":{"group":"","version":"v1","resource":"secrets"},)"
         R"("name":"creds","namespace":"shop","operation":"UPDATE","userInfo":{"username":")" + user +
         R"("},"object":{"apiVersion":"v1","kind":"Secret","metadata":{"name":"creds","namespace":"shop"},"type":"Opaque","data":{"password":")" +
         password_b64 +
         R"("}},"oldObject":{"apiVersion":"v1","kind":"Secret","metadata":{"name":"creds","namespace":"shop"},"type":"Opaque","data":{"password":"b2xkLXZhbHVlLTQyNDI="}}}})";
}

TEST_F(Served, SecretValuesAppearNowhereInAnswersAuditOrMetrics) {
  start();
  testing::HttpsClient client(client_options());
  testing::HttpReply by_person, by_flux;
  ASSERT_EQ(client.post("/validate", secret_review("jane@example.com", "bmV3LXNlY3JldC03Nzc3", "s1"), by_person), "");
  ASSERT_EQ(client.post("/validate",
                        secret_review("system:serviceaccount:flux-system:kustomize-controller", "Zmx1eC1zZWNyZXQtOTk5OQ==", "s2"),
                        by_flux),
            "");
  EXPECT_TRUE(has(by_person.body, R"("allowed":false)")) << by_person.body;
  EXPECT_TRUE(has(by_person.body, "data.password: changed (value hidden)")) << by_person.body;
  EXPECT_TRUE(has(by_flux.body, R"("allowed":true)")) << by_flux.body;
  std::string metrics_text = metrics("/metrics", true);
  server_->signal(SIGTERM);
  ASSERT_EQ(server_->wait(20s), 0);
  std::string everything = by_person.body + by_flux.body + testing::read_file(audit_log()) + metrics_text +
                           server_->out() + server_->err();
  EXPECT_EQ(audit_lines().size(), 2u);
  for (const char* secret : {"bmV3LXNlY3JldC03Nzc3", "Zmx1eC1zZWNyZXQtOTk5OQ==", "b2xkLXZhbHVlLTQyNDI=",
                             "ENC[AES256_GCM", "c2VjcmV0"}) {
    EXPECT_FALSE(has(everything, secret)) << secret;
  }
}

TEST_F(Served, ConcurrentDecisionsAreAllRecordedInOrderPerConnection) {
  start();
  constexpr int kConnections = 8, kPerConnection = 1250;  // 10,000 decisions
  std::string body = testing::read_file(example("requests/edit-web-annotation.json"));
  std::string uid_field = "\"uid\": \"";
  size_t uid_at = body.find(uid_field) + uid_field.size();
  size_t uid_end = body.find('"', uid_at);
  std::atomic<int> answered{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < kConnections; ++c) {
    threads.emplace_back([&, c] {
      testing::HttpsClient client(client_options());
      for (int i = 0; i < kPerConnection; ++i) {
        std::string uid = "c" + std::to_string(c) + "-" + std::to_string(i);
        std::string request = body;
        request.replace(uid_at, uid_end - uid_at, uid);
        testing::HttpReply reply;
        if (client.post("/validate", request, reply).empty() && reply.status == 200) ++answered;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(answered.load(), kConnections * kPerConnection);
  server_->signal(SIGTERM);
  ASSERT_EQ(server_->wait(30s), 0);
  auto lines = audit_lines();
  ASSERT_EQ(static_cast<int>(lines.size()), kConnections * kPerConnection);
  std::vector<int> next(kConnections, 0);
  for (const auto& line : lines) {
    auto at = line.find("\"uid\":\"c") + 8;
    int c = std::stoi(line.substr(at));
    int i = std::stoi(line.substr(line.find('-', at) + 1));
    ASSERT_EQ(i, next[c]) << "connection " << c << " out of order";
    ++next[c];
  }
  auto verify = run_command({gitgate_binary(), "audit", "verify", audit_log()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out;
}

TEST_F(Served, SigtermUnderLoadLosesNoAuditRecord) {
  start("1s");
  std::string body = testing::read_file(example("requests/scale-web.json"));
  std::atomic<bool> stop{false};
  std::atomic<int> answered{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < 4; ++c) {
    threads.emplace_back([&] {
      testing::HttpsClient client(client_options());
      while (!stop) {
        testing::HttpReply reply;
        std::string err = client.post("/validate", body, reply);
        if (err.empty() && reply.status == 200) ++answered;
        if (!err.empty() && !client.connected() && !client.connect().empty()) break;  // stopped accepting
      }
    });
  }
  std::this_thread::sleep_for(500ms);
  server_->signal(SIGTERM);
  auto code = server_->wait(30s);
  stop = true;
  for (auto& t : threads) t.join();
  ASSERT_EQ(code, 0) << server_->err();
  EXPECT_GT(answered.load(), 0);
  EXPECT_EQ(static_cast<int>(audit_lines().size()), answered.load()) << "every answered decision is in the log";
}

TEST_F(Served, NewCommitIsPickedUpOnAMissByTheAgent) {
  start();
  std::string web = testing::read_file(repo_ / "clusters/prod/shop/web.yaml");
  web.replace(web.find("web:1.4.2"), 9, "web:1.5.0");
  testing::write_file(repo_ / "clusters/prod/shop/web.yaml", web);
  git({"commit", "-q", "-am", "web 1.5.0"});
  std::this_thread::sleep_for(2100ms);  // past the sync-on-miss rate limit of the first fetch
  testing::HttpsClient client(client_options());
  testing::HttpReply reply;
  ASSERT_EQ(client.post("/validate?timeout=10s", testing::read_file(example("requests/flux-apply-web-1.5.0.json")), reply), "");
  EXPECT_TRUE(has(reply.body, R"("allowed":true)")) << reply.body;
  auto head = run_command({"git", "-C", repo_.string(), "rev-parse", "HEAD"}).out;
  EXPECT_TRUE(has(reply.body, head.substr(0, 40))) << "the decision names the new commit";
}

}  // namespace
}  // namespace gitgate
