#include "tests/chart/fake_apiserver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <stdexcept>

#include "tests/support/support.h"

namespace gitgate::testing {
namespace {

struct Resource {
  const char* name;
  const char* kind;
  bool namespaced;
};

struct GroupVersion {
  std::string group;  // "" for the core group
  std::vector<Resource> resources;
};

const std::vector<GroupVersion>& served_kinds() {
  static const std::vector<GroupVersion> kinds{
      {"",
       {{"secrets", "Secret", true},
        {"configmaps", "ConfigMap", true},
        {"services", "Service", true},
        {"serviceaccounts", "ServiceAccount", true},
        {"endpoints", "Endpoints", true}}},
      {"apps", {{"deployments", "Deployment", true}}},
      {"networking.k8s.io", {{"networkpolicies", "NetworkPolicy", true}}},
      {"policy", {{"poddisruptionbudgets", "PodDisruptionBudget", true}}},
      {"admissionregistration.k8s.io",
       {{"validatingwebhookconfigurations", "ValidatingWebhookConfiguration", false}}},
  };
  return kinds;
}

std::string group_version(const GroupVersion& gv) {
  return gv.group.empty() ? "v1" : gv.group + "/v1";
}

std::string resource_list(const GroupVersion& gv) {
  std::string out = R"({"kind":"APIResourceList","apiVersion":"v1","groupVersion":")" + group_version(gv) +
                    R"(","resources":[)";
  for (size_t i = 0; i < gv.resources.size(); ++i) {
    const auto& r = gv.resources[i];
    if (i > 0) out += ",";
    std::string singular(r.kind);
    for (auto& c : singular) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out += std::string(R"({"name":")") + r.name + R"(","singularName":")" + singular + R"(","namespaced":)" +
           (r.namespaced ? "true" : "false") + R"(,"kind":")" + r.kind +
           R"(","verbs":["create","get","list","update","delete"]})";
  }
  return out + "]}";
}

std::map<std::string, std::string> discovery() {
  std::map<std::string, std::string> out;
  out["/version"] = R"({"major":"1","minor":"30","gitVersion":"v1.30.0","platform":"linux/amd64"})";
  out["/api"] = R"({"kind":"APIVersions","versions":["v1"],)"
                R"("serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1"}]})";
  std::string groups = R"({"kind":"APIGroupList","apiVersion":"v1","groups":[)";
  bool first = true;
  for (const auto& gv : served_kinds()) {
    if (gv.group.empty()) {
      out["/api/v1"] = resource_list(gv);
      continue;
    }
    out["/apis/" + group_version(gv)] = resource_list(gv);
    std::string version = R"({"groupVersion":")" + group_version(gv) + R"(","version":"v1"})";
    groups += std::string(first ? "" : ",") + R"({"name":")" + gv.group + R"(","versions":[)" + version +
              R"(],"preferredVersion":)" + version + "}";
    first = false;
  }
  out["/apis"] = groups + "]}";
  return out;
}

void send_all(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

}  // namespace

FakeApiServer::FakeApiServer(std::map<std::string, std::string> objects) : responses_(discovery()) {
  for (auto& [path, body] : objects) responses_[path] = std::move(body);
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listen_fd_, 16) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (listen_fd_ >= 0) ::close(listen_fd_);
    throw std::runtime_error("fake API server: cannot listen on 127.0.0.1");
  }
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { serve(); });
}

FakeApiServer::~FakeApiServer() {
  stop_ = true;
  thread_.join();
  ::close(listen_fd_);
}

std::string FakeApiServer::write_kubeconfig(const std::string& dir, const std::string& ns) const {
  std::string path = dir + "/kubeconfig";
  write_file(path,
             "apiVersion: v1\nkind: Config\n"
             "clusters: [{name: fake, cluster: {server: \"http://127.0.0.1:" +
                 std::to_string(port_) +
                 "\"}}]\n"
                 "users: [{name: test, user: {token: test}}]\n"
                 "contexts: [{name: fake, context: {cluster: fake, user: test, namespace: " +
                 ns + "}}]\ncurrent-context: fake\n");
  return path;
}

std::vector<std::string> FakeApiServer::requested_paths() const {
  std::lock_guard lock(mutex_);
  return requested_;
}

void FakeApiServer::serve() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    answer(fd);
    ::close(fd);
  }
}

// One request per connection: read the head, answer, close (Connection: close).
void FakeApiServer::answer(int fd) {
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  std::string head;
  char buf[4096];
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < 64 * 1024) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return;
    head.append(buf, static_cast<size_t>(n));
  }
  size_t method_end = head.find(' ');
  size_t target_end = head.find(' ', method_end + 1);
  if (method_end == std::string::npos || target_end == std::string::npos) return;
  std::string target = head.substr(method_end + 1, target_end - method_end - 1);
  std::string path = target.substr(0, target.find('?'));
  {
    std::lock_guard lock(mutex_);
    requested_.push_back(head.substr(0, method_end) + " " + path);
  }
  auto found = head.compare(0, 4, "GET ") == 0 ? responses_.find(path) : responses_.end();
  std::string status = found != responses_.end() ? "200 OK" : "404 Not Found";
  std::string body =
      found != responses_.end()
          ? found->second
          : R"({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404})";
  send_all(fd, "HTTP/1.1 " + status + "\r\nContent-Type: application/json\r\nContent-Length: " +
                   std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
}

}  // namespace gitgate::testing
