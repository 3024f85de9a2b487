#include "tests/desired/chart_servers.h"

#include <openssl/evp.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fstream>
#include <sstream>
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

namespace {

std::string sha256_digest(const std::string& bytes) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(bytes.data(), bytes.size(), out, &size, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string text = "sha256:";
  for (unsigned int i = 0; i < size; ++i) {
    text += hex[out[i] >> 4];
    text += hex[out[i] & 15];
  }
  return text;
}

// One plain HTTP request to 127.0.0.1:port; returns the status and the Location header.
std::pair<int, std::string> http(int port, const std::string& method, const std::string& target,
                                 const std::string& body, const std::string& content_type) {
  namespace http = boost::beast::http;
  boost::asio::io_context io;
  boost::beast::tcp_stream stream(io);
  stream.expires_after(std::chrono::seconds(30));
  stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"),
                                                static_cast<unsigned short>(port)));
  http::request<http::string_body> request(method == "PUT" ? http::verb::put : http::verb::post, target, 11);
  request.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  if (!content_type.empty()) request.set(http::field::content_type, content_type);
  request.body() = body;
  request.prepare_payload();
  http::write(stream, request);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(stream, buffer, response);
  return {static_cast<int>(response.result_int()), std::string(response[http::field::location])};
}

}  // namespace

std::string OciRegistry::push_artifact(const std::string& name, const std::string& tag, const std::string& directory,
                                       const std::string& source, const std::string& revision) {
  fs::path layer_file = dir_ / ("layer-" + std::to_string(std::hash<std::string>{}(name + tag)) + ".tgz");
  run_or_throw({"tar", "-czf", layer_file.string(), "-C", directory, "."});
  std::ifstream in(layer_file, std::ios::binary);
  std::stringstream read;
  read << in.rdbuf();
  std::string layer = read.str(), config = "{}";
  auto upload = [&](const std::string& bytes) {
    auto [status, location] = http(port_, "POST", "/v2/" + name + "/blobs/uploads/", "", "");
    if (status != 202) throw std::runtime_error("blob upload refused: " + std::to_string(status));
    if (location.starts_with("http")) location = location.substr(location.find('/', 8));
    std::string digest = sha256_digest(bytes);
    auto [put, ignored] = http(port_, "PUT", location + (location.find('?') == std::string::npos ? "?" : "&") +
                                                 "digest=" + digest, bytes, "application/octet-stream");
    if (put != 201) throw std::runtime_error("blob upload failed: " + std::to_string(put));
    return digest;
  };
  std::string config_digest = upload(config), layer_digest = upload(layer);
  std::string manifest =
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
      R"("config":{"mediaType":"application/vnd.cncf.flux.config.v1+json","digest":")" + config_digest +
      R"(","size":2},"layers":[{"mediaType":"application/vnd.cncf.flux.content.v1.tar+gzip","digest":")" +
      layer_digest + R"(","size":)" + std::to_string(layer.size()) +
      R"(}],"annotations":{"org.opencontainers.image.created":"2026-12-01T10:00:00Z",)"
      R"("org.opencontainers.image.source":")" + source + R"(","org.opencontainers.image.revision":")" + revision +
      R"("}})";
  auto [status, ignored] = http(port_, "PUT", "/v2/" + name + "/manifests/" + tag, manifest,
                                "application/vnd.oci.image.manifest.v1+json");
  if (status != 201) throw std::runtime_error("manifest push failed: " + std::to_string(status));
  return sha256_digest(manifest);
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
