#include "desired/helm/helm.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>

#include "core/subprocess.h"
#include "desired/common.h"
#include "desired/helm/chart_archive.h"
#include "manifests/yaml_document.h"

namespace gitgate::desired::helm {
namespace fs = std::filesystem;

namespace {

ProcessOptions process(const Tool& tool, std::vector<std::string> args) {
  ProcessOptions p;
  p.argv = tool.command;
  p.argv.insert(p.argv.end(), args.begin(), args.end());
  p.timeout = tool.timeout;
  p.max_stdout = tool.max_output_bytes;
  p.max_memory_bytes = tool.max_memory_bytes;
  p.cancel_fd = tool.cancel_fd;
  if (!tool.home.empty()) {
    p.environment = {"HELM_CACHE_HOME=" + tool.home + "/cache", "HELM_CONFIG_HOME=" + tool.home + "/config",
                     "HELM_DATA_HOME=" + tool.home + "/data", "HOME=" + tool.home};
  }
  return p;
}

std::string failure(const Tool& tool, const ProcessResult& run, std::string_view action) {
  if (!run.started) return "helm " + std::string(action) + ": cannot start " + run.start_error;
  std::string detail = run.err;
  std::replace(detail.begin(), detail.end(), '\n', ' ');
  while (!detail.empty() && detail.back() == ' ') detail.pop_back();
  if (detail.size() > 400) detail.resize(400);
  return "helm " + std::string(action) + " " + run.outcome(tool.timeout) +
         (detail.empty() ? "" : ": " + detail);
}

}  // namespace

std::string file_digest(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  char buffer[65536];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0)
    EVP_DigestUpdate(ctx, buffer, static_cast<size_t>(in.gcount()));
  unsigned char digest[32];
  unsigned int size = 0;
  EVP_DigestFinal_ex(ctx, digest, &size);
  EVP_MD_CTX_free(ctx);
  return "sha256:" + hex(digest, size);
}

bool is_digest(std::string_view text) {
  return text.size() == 71 && text.starts_with("sha256:") &&
         std::all_of(text.begin() + 7, text.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f'); });
}

namespace {

// The version its Chart.yaml gives a chart archive.
Result<std::string> archive_version(const std::string& path) {
  auto files = read_chart_archive(path);
  if (!files) return Error{files.error()};
  const ArchiveFile* chart = chart_file(*files, chart_root(*files), "Chart.yaml");
  if (chart == nullptr) return Error{"the archive holds no Chart.yaml"};
  for (const auto& leaf : manifests::scalar_leaves(chart->data))
    if (leaf.path == "version" && !leaf.value.empty() &&
        leaf.value.find_first_of("/\\") == std::string::npos && leaf.value.find("..") == std::string::npos)
      return leaf.value;
  return Error{"its Chart.yaml gives no usable version"};
}

}  // namespace

Result<PulledChart> pull(const Tool& tool, const ChartSource& source, const std::string& directory) {
  std::error_code ec;
  fs::create_directories(directory, ec);
  std::vector<std::string> args{"pull"};
  bool oci = source.repository.starts_with("oci://");
  bool by_digest = oci && !source.digest.empty();
  if (by_digest && !is_digest(source.digest))
    return Error{"digest '" + source.digest + "' is not sha256: and 64 lowercase hex digits"};
  if (oci) {
    std::string ref = source.repository;
    while (ref.ends_with("/")) ref.pop_back();
    args.push_back(ref + "/" + source.chart + (by_digest ? "@" + source.digest : ""));
  } else {
    args.insert(args.end(), {source.chart, "--repo", source.repository});
  }
  if (!by_digest && !source.version.empty() && source.version != "*")
    args.insert(args.end(), {"--version", source.version});
  args.insert(args.end(), {"--destination", directory});
  if (!source.ca_file.empty()) args.insert(args.end(), {"--ca-file", source.ca_file});
  if (oci && source.plain_http) args.push_back("--plain-http");
  ProcessOptions p = process(tool, args);
  ProcessResult run = run_process(p);
  if (!run.succeeded()) return Error{failure(tool, run, "pull " + source.chart)};
  PulledChart out;
  for (const auto& entry : fs::directory_iterator(directory, ec)) {
    std::string name = entry.path().filename().string();
    if (!name.ends_with(".tgz")) continue;
    if (name.starts_with(source.chart + "@")) {
      // Pulled by digest (<chart>@sha256-<hex>.tgz): named <chart>-<version>.tgz after its Chart.yaml, as a
      // pull by version names it, so the cache finds it again by name.
      auto version = archive_version(entry.path().string());
      if (!version) return Error{"helm pull " + source.chart + "@" + source.digest + ": " + version.error()};
      fs::path named = fs::path(directory) / (source.chart + "-" + *version + ".tgz");
      fs::rename(entry.path(), named, ec);
      if (ec) return Error{"cannot rename the chart pulled by digest: " + ec.message()};
      out.path = named.string();
      out.name = source.chart;
      out.version = *version;
      break;
    }
    if (!name.starts_with(source.chart + "-")) continue;
    out.path = entry.path().string();
    out.name = source.chart;
    out.version = name.substr(source.chart.size() + 1, name.size() - source.chart.size() - 5);
  }
  if (out.path.empty()) return Error{"helm pull " + source.chart + " left no chart archive"};
  out.digest = file_digest(out.path);
  return out;
}

bool missing_dependencies(const std::string& helm_error) {
  return helm_error.find("but missing in charts/ directory") != std::string::npos;
}

gitgate::Status build_dependencies(const Tool& tool, const std::string& chart_dir, const std::string& root,
                                   const std::string& ca_file) {
  std::error_code ec;
  fs::path base = fs::weakly_canonical(root, ec);
  for (const char* file : {"Chart.yaml", "requirements.yaml"}) {
    std::ifstream in(fs::path(chart_dir) / file, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (const auto& leaf : manifests::scalar_leaves(text)) {
      if (!leaf.path.starts_with("dependencies[") || !leaf.path.ends_with("].repository")) continue;
      if (!leaf.value.starts_with("file://")) continue;
      fs::path target = fs::weakly_canonical(fs::path(chart_dir) / leaf.value.substr(7), ec);
      auto [end, _] = std::mismatch(base.begin(), base.end(), target.begin(), target.end());
      if (ec || base.empty() || end != base.end())
        return gitgate::Error{std::string(file) + ":" + std::to_string(leaf.line) + ": dependency repository " +
                              leaf.value + " lies outside the repository"};
    }
  }
  ProcessOptions p = process(tool, {"dependency", "build", chart_dir});
  if (!ca_file.empty()) {
    // helm has no --ca-file here: the CA goes in a directory of its own that Go's TLS reads besides the
    // system's bundle (SSL_CERT_DIR replaces only the directories, not /etc/ssl/certs/ca-certificates.crt).
    fs::path dir = fs::path(tool.home.empty() ? fs::temp_directory_path().string() : tool.home) / "dependency-ca";
    fs::create_directories(dir, ec);
    fs::copy_file(ca_file, dir / "ca.crt", fs::copy_options::overwrite_existing, ec);
    if (ec) return gitgate::Error{"cannot read the chart repositories' CA " + ca_file + ": " + ec.message()};
    p.environment.push_back("SSL_CERT_DIR=" + dir.string());
  }
  ProcessResult run = run_process(p);
  if (!run.succeeded()) return gitgate::Error{failure(tool, run, "dependency build")};
  return gitgate::Status::Ok();
}

Result<std::string> render(const Tool& tool, const TemplateRequest& request) {
  std::vector<std::string> args{"template", request.release, request.chart, "--namespace", request.ns};
  if (!request.values_file.empty()) args.insert(args.end(), {"--values", request.values_file});
  for (const auto& file : request.more_values_files) args.insert(args.end(), {"--values", file});
  args.insert(args.end(), request.set_arguments.begin(), request.set_arguments.end());
  if (!request.kube_version.empty()) args.push_back("--kube-version=" + request.kube_version);
  for (const auto& version : request.api_versions) args.push_back("--api-versions=" + version);
  if (request.skip_tests) args.push_back("--skip-tests");
  if (request.skip_schema_validation) args.push_back("--skip-schema-validation");
  if (request.include_crds) args.push_back("--include-crds");
  if (request.no_hooks) args.push_back("--no-hooks");
  ProcessResult run = run_process(process(tool, args));
  if (!run.succeeded() && request.build_missing_dependencies && run.started && missing_dependencies(run.err) &&
      fs::is_directory(request.chart)) {
    if (Status built = build_dependencies(tool, request.chart, request.dependency_root, request.dependency_ca_file);
        !built.ok())
      return Error{"the chart's dependencies are not in its charts/ directory, and " + built.error()};
    run = run_process(process(tool, args));
  }
  if (!run.succeeded()) return Error{failure(tool, run, "template " + request.release)};
  return std::move(run.out);
}

}  // namespace gitgate::desired::helm
