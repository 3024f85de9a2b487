#include "tests/desired/chart_servers.h"

#include <fstream>
#include <stdexcept>

namespace gitgate::desired::testing {
namespace fs = std::filesystem;
using gitgate::testing::fixture_path;
using gitgate::testing::free_port;
using gitgate::testing::run_command;
using gitgate::testing::source_dir;
using gitgate::testing::wait_for_port;

namespace {

std::string run_or_throw(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& env = {}) {
  auto r = run_command(argv, std::chrono::seconds(120), {}, env);
  if (r.exit_code != 0)
    throw std::runtime_error(argv[0] + " " + (argv.size() > 1 ? argv[1] : "") + " failed: " + r.err);
  return r.out;
}

std::string tool(const std::string& name) {
  std::string script = source_dir() + "/scripts/k8s-tools";
  if (fs::exists(script)) {
    auto out = run_or_throw({script, name});
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
  }
  if (name == "helm") {
    auto out = run_or_throw({source_dir() + "/scripts/helm"});
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }
  return name;
}

// helm's own state (registry logins, caches) in a directory of the test's.
std::map<std::string, std::string> helm_env(const fs::path& home) {
  return {{"HELM_CACHE_HOME", (home / "cache").string()},
          {"HELM_CONFIG_HOME", (home / "config").string()},
          {"HELM_DATA_HOME", (home / "data").string()},
          {"HOME", home.string()}};
}

}  // namespace

std::string helm_binary() {
  static const std::string path = tool("helm");
  return path;
}

std::string kubectl_binary() {
  static const std::string path = tool("kubectl");
  return path;
}

std::string package_chart(const std::string& chart, const std::string& version,
                          const std::string& directory) {
  fs::create_directories(directory);
  run_or_throw({helm_binary(), "package", fixture_path("flux/charts/" + chart), "--version", version,
                "--destination", directory});
  return directory + "/" + chart + "-" + version + ".tgz";
}

HelmRepository::HelmRepository() : port_(free_port()) {
  run_or_throw({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext",
                "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", (dir_ / "key.pem").string(), "-out",
                (dir_ / "cert.pem").string()});
  fs::create_directories(dir_ / "repo");
  reindex();
  process_ = std::make_unique<Subprocess>(std::vector<std::string>{
      "python3", fixture_path("flux/https_static_server.py"), std::to_string(port_), (dir_ / "repo").string(),
      (dir_ / "cert.pem").string(), (dir_ / "key.pem").string()});
  if (!wait_for_port(port_))
    throw std::runtime_error("the chart repository did not start: " + process_->err());
}

void HelmRepository::add(const std::string& chart, const std::string& version) {
  package_chart(chart, version, (dir_ / "repo").string());
  reindex();
}

void HelmRepository::reindex() {
  run_or_throw({helm_binary(), "repo", "index", (dir_ / "repo").string(), "--url", url()});
}

OciRegistry::OciRegistry() : port_(free_port()) {
  std::ofstream config(dir_ / "config.yml");
  config << "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: "
         << (dir_ / "data").string() << "\nhttp:\n  addr: 127.0.0.1:" << port_ << "\n";
  config.close();
  process_ = std::make_unique<Subprocess>(
      std::vector<std::string>{"docker-registry", "serve", (dir_ / "config.yml").string()});
  if (!wait_for_port(port_)) throw std::runtime_error("docker-registry did not start: " + process_->err());
}

std::string OciRegistry::push(const std::string& chart, const std::string& version) {
  std::string archive = package_chart(chart, version, (dir_ / "packages").string());
  auto r = run_command({helm_binary(), "push", archive, url(), "--plain-http"}, std::chrono::seconds(120), {},
                       helm_env(dir_ / "helm"));
  if (r.exit_code != 0) throw std::runtime_error("helm push failed: " + r.err);
  std::string said = r.out + "\n" + r.err;
  auto at = said.find("Digest: sha256:");
  if (at == std::string::npos) throw std::runtime_error("helm push printed no digest: " + said);
  return said.substr(at + 8, 71);
}

}  // namespace gitgate::desired::testing
