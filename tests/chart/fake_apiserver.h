// Just enough of a Kubernetes API server for `helm template --dry-run=server`: version and discovery for
// the kinds the chart renders, plain HTTP on 127.0.0.1, and GET of objects the test puts in. Everything
// else is 404, as for objects that do not exist yet. Lets tests exercise the chart's `lookup`.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace gitgate::testing {

class FakeApiServer {
 public:
  // `objects`: request path ("/api/v1/namespaces/ns/secrets/name") -> JSON body.
  explicit FakeApiServer(std::map<std::string, std::string> objects);
  ~FakeApiServer();
  FakeApiServer(const FakeApiServer&) = delete;
  FakeApiServer& operator=(const FakeApiServer&) = delete;

  int port() const { return port_; }
  // A kubeconfig pointing at this server, written into `dir`; returns its path.
  std::string write_kubeconfig(const std::string& dir, const std::string& ns) const;
  std::vector<std::string> requested_paths() const;

 private:
  void serve();
  void answer(int fd);

  std::map<std::string, std::string> responses_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::vector<std::string> requested_;
  std::thread thread_;
};

}  // namespace gitgate::testing
