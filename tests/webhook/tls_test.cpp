#include <atomic>
#include <mutex>
#include <filesystem>
#include <iostream>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/https_client.h"
#include "tests/support/support.h"
#include "webhook/server.h"

namespace gitgate::webhook {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using testing::HttpReply;
using testing::HttpsClient;
using testing::HttpsClientOptions;

class AllowAll : public Application {
  struct Eval : Evaluator {
    explicit Eval(AllowAll& app) : app_(app) {}
    Decision decide(const AdmissionRequest&) override {
      Decision d;
      d.reason = "test";
      return d;
    }
    std::optional<RecordOutcome> record(const AdmissionRequest& request, const Decision&,
                                        std::chrono::microseconds, std::chrono::steady_clock::time_point,
                                        RecordDone) override {
      std::lock_guard lock(app_.mutex);
      app_.peer_address.assign(request.peer_address);
      app_.peer_subject.assign(request.peer_subject);
      return RecordOutcome{};
    }
    AllowAll& app_;
  };

 public:
  // The TLS peer of the last review recorded.
  std::mutex mutex;
  std::string peer_address;
  std::string peer_subject;

  std::unique_ptr<Evaluator> make_evaluator() override { return std::make_unique<Eval>(*this); }
  bool request_sync(const Decision&, std::chrono::steady_clock::time_point, std::function<void()>) override {
    return false;
  }
  bool ready(std::string&) const override { return true; }
  void render_metrics(std::string&) const override {}
};

constexpr const char* kReview =
    R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"tls-1",)"
    R"("kind":{"group":"","version":"v1","kind":"ConfigMap"},"resource":{"group":"","version":"v1","resource":"configmaps"},)"
    R"("name":"cfg","namespace":"shop","operation":"CREATE","userInfo":{"username":"bob"},)"
    R"("object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"}}}})";

// Lays out certificates the way a Kubernetes Secret volume does: tls.crt -> ..data/tls.crt, with ..data a
// symlink to a timestamped directory that is swapped atomically.
class SecretVolume {
 public:
  explicit SecretVolume(fs::path dir) : dir_(std::move(dir)) { fs::create_directories(dir_); }
  void publish(const std::string& cert_pem, const std::string& key_pem) {
    fs::path version = dir_ / ("..v" + std::to_string(++version_));
    testing::write_file(version / "tls.crt", cert_pem);
    testing::write_file(version / "tls.key", key_pem);
    fs::path tmp = dir_ / "..data_tmp";
    fs::remove(tmp);
    fs::create_directory_symlink(version.filename(), tmp);
    fs::rename(tmp, dir_ / "..data");
    if (!fs::exists(dir_ / "tls.crt")) {
      fs::create_symlink("..data/tls.crt", dir_ / "tls.crt");
      fs::create_symlink("..data/tls.key", dir_ / "tls.key");
    }
  }
  std::string cert() const { return (dir_ / "tls.crt").string(); }
  std::string key() const { return (dir_ / "tls.key").string(); }

 private:
  fs::path dir_;
  int version_ = 0;
};

class TlsTest : public ::testing::Test {
 protected:
  void start(const std::string& cert, const std::string& key, const std::string& client_ca = {}) {
    ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.metrics_listen = "127.0.0.1:0";
    options.threads = 2;
    options.shutdown_delay = 0ms;
    options.tls_reload_interval = 50ms;
    options.tls = {cert, key, client_ca};
    auto server = Server::create(options, app_);
    ASSERT_TRUE(server.ok()) << server.error();
    server_ = std::move(*server);
    thread_ = std::thread([this] { server_->run(); });
  }
  void TearDown() override {
    if (!server_) return;
    server_->shutdown();
    thread_.join();
  }
  HttpsClientOptions options(const std::string& ca) const {
    HttpsClientOptions o;
    o.port = server_->port();
    o.ca_file = ca;
    return o;
  }
  // The certificate a brand-new handshake gets.
  std::string presented(const std::string& ca) const {
    HttpsClient c(options(ca));
    if (!c.connect().empty()) return {};
    return c.peer_certificate_pem();
  }
  std::string metrics() const {
    return testing::run_command(
               {"curl", "-s", "http://127.0.0.1:" + std::to_string(server_->metrics_port()) + "/metrics"})
        .out;
  }

  testing::TempDir dir_;
  AllowAll app_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
};

TEST_F(TlsTest, HundredRotationsUnderLoadFailNoRequestAndNewHandshakesSeeTheNewCert) {
  // All pairs come from one CA, as with cert-manager renewals; generated up front.
  constexpr int kRotations = 100;
  std::vector<testing::TestCerts> pairs;
  for (int i = 0; i <= kRotations; ++i)
    pairs.push_back(testing::make_test_certs((dir_ / ("pair" + std::to_string(i))).string(), "ec", "server",
                                             (dir_ / "ca").string()));
  SecretVolume volume(dir_ / "secret");
  volume.publish(testing::read_file(pairs[0].cert), testing::read_file(pairs[0].key));
  start(volume.cert(), volume.key());
  const std::string ca = pairs[0].ca;

  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::string first_failure;
  std::thread load([&] {
    HttpsClient client(options(ca));
    for (int i = 0; !stop; ++i) {
      if (i % 25 == 0) client.close();  // new handshakes all along, plus long-lived keep-alive
      HttpReply reply;
      std::string err = client.post("/validate", kReview, reply);
      if (err.empty() && reply.status == 200) {
        ++ok;
      } else if (failed++ == 0) {
        first_failure = err + " status " + std::to_string(reply.status);
      }
    }
  });
  int seen_new = 0;
  for (int i = 1; i <= kRotations; ++i) {
    std::string cert = testing::read_file(pairs[i].cert);
    if (i % 2 == 0) {
      volume.publish(cert, testing::read_file(pairs[i].key));  // Secret volume: atomic symlink swap
    } else {
      // cert-manager style: both files rewritten in place, one after the other.
      testing::write_file(fs::canonical(volume.key()), testing::read_file(pairs[i].key));
      testing::write_file(fs::canonical(volume.cert()), cert);
    }
    auto deadline = std::chrono::steady_clock::now() + 3s;
    while (presented(ca) != cert && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(10ms);
    if (presented(ca) == cert) ++seen_new;
  }
  stop = true;
  load.join();
  std::cout << kRotations << " rotations: " << seen_new << " seen by new handshakes; load: " << ok.load()
            << " reviews answered, " << failed.load() << " failed\n";
  EXPECT_EQ(seen_new, kRotations);
  EXPECT_EQ(failed.load(), 0) << first_failure;
  EXPECT_GT(ok.load(), kRotations);
}

TEST_F(TlsTest, CorruptOrMismatchedPairIsRejectedAndTheOldOneKept) {
  auto a = testing::make_test_certs((dir_ / "a").string(), "ec", "server", (dir_ / "ca").string());
  auto b = testing::make_test_certs((dir_ / "b").string(), "rsa", "server", (dir_ / "ca").string());
  SecretVolume volume(dir_ / "secret");
  volume.publish(testing::read_file(a.cert), testing::read_file(a.key));
  start(volume.cert(), volume.key());
  std::string original = testing::read_file(a.cert);
  EXPECT_EQ(presented(a.ca), original);

  volume.publish("-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n",
                 testing::read_file(a.key));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(presented(a.ca), original);
  volume.publish(testing::read_file(b.cert), testing::read_file(a.key));  // key does not match
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(presented(a.ca), original);
  EXPECT_NE(metrics().find("gitgate_tls_reloads_total{result=\"rejected\"} 2"), std::string::npos)
      << metrics();

  volume.publish(testing::read_file(b.cert), testing::read_file(b.key));  // an RSA pair is fine too
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(presented(a.ca), testing::read_file(b.cert));
}

TEST_F(TlsTest, StartupRefusesAMismatchedPairWithAClearError) {
  auto a = testing::make_test_certs((dir_ / "a").string(), "ec", "server", (dir_ / "ca").string());
  auto b = testing::make_test_certs((dir_ / "b").string(), "ec", "server", (dir_ / "ca").string());
  auto server = Server::create(
      ServerOptions{.listen = "127.0.0.1:0", .metrics_listen = "127.0.0.1:0", .tls = {a.cert, b.key, ""}},
      app_);
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.error().find("does not match"), std::string::npos) << server.error();
}

TEST_F(TlsTest, ClientCertificatesAreRequiredAndVerifiedWhenAClientCaIsSet) {
  auto server_certs =
      testing::make_test_certs((dir_ / "server").string(), "ec", "server", (dir_ / "ca").string());
  auto api_server = testing::make_test_certs((dir_ / "client").string(), "ec", "kube-apiserver",
                                             (dir_ / "client-ca").string());
  auto stranger =
      testing::make_test_certs((dir_ / "stranger").string(), "ec", "stranger", (dir_ / "other-ca").string());
  start(server_certs.cert, server_certs.key, api_server.ca);

  auto with_cert = [&](const testing::TestCerts& c) {
    HttpsClientOptions o = options(server_certs.ca);
    o.client_cert = c.cert;
    o.client_key = c.key;
    return o;
  };
  HttpsClient right(with_cert(api_server));
  HttpReply reply;
  ASSERT_EQ(right.post("/validate", kReview, reply), "");
  EXPECT_EQ(reply.status, 200);
  {
    // The audit record can tell the API server from anyone else.
    std::lock_guard lock(app_.mutex);
    EXPECT_EQ(app_.peer_subject, "CN=kube-apiserver");
    EXPECT_EQ(app_.peer_address.rfind("127.0.0.1:", 0), 0u) << app_.peer_address;
  }

  HttpsClient wrong(with_cert(stranger));
  EXPECT_NE(wrong.post("/validate", kReview, reply), "");
  HttpsClient none(options(server_certs.ca));
  EXPECT_NE(none.post("/validate", kReview, reply), "");
}

}  // namespace
}  // namespace gitgate::webhook
