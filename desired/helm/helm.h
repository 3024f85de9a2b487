// Helm as helm-controller runs it, through the real `helm` binary in a killable child with wall-clock,
// memory and output limits: charts pulled from an HTTPS chart repository or an OCI registry with a version
// constraint resolved the way Helm resolves it, and `helm template` with the release's values.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace gitgate::desired::helm {

struct Tool {
  std::vector<std::string> command{"helm"};
  std::string home;  // HELM_CACHE_HOME, HELM_CONFIG_HOME and HELM_DATA_HOME go below it
  std::chrono::microseconds timeout = std::chrono::seconds(60);
  size_t max_output_bytes = 64ull << 20;
  uint64_t max_memory_bytes = 2ull << 30;
  int cancel_fd = -1;
};

struct ChartSource {
  std::string repository;   // https://… chart repository, or oci://host/path (the chart's name is appended)
  std::string chart;        // the chart's name
  std::string version;      // a version or a constraint (">=1.0.0 <2.0.0"); "" or "*" for the newest
  std::string ca_file;      // a CA for an https repository; "" for the system's
  bool plain_http = false;  // an OCI registry over plain HTTP (Flux's `insecure: true`)
  std::string digest;       // OCI only: "sha256:<64 hex>" pulls that manifest, whatever `version` says
};

// Whether `text` is an OCI digest gitgate pulls by: "sha256:" and 64 lowercase hex digits.
bool is_digest(std::string_view text);

struct PulledChart {
  std::string path;  // the .tgz
  std::string name;
  std::string version;  // what the constraint resolved to
  std::string digest;   // "sha256:<hex>" of the .tgz
};

// Pulls a chart into `directory` (one new .tgz there). Errors quote helm, never credentials.
gitgate::Result<PulledChart> pull(const Tool& tool, const ChartSource& source, const std::string& directory);

struct TemplateRequest {
  std::string chart;  // a .tgz or a chart directory
  std::string release;
  std::string ns;
  std::string values_file;  // merged values as JSON; "" for none
  std::vector<std::string> more_values_files;  // --values after values_file, in order (later ones win)
  // "--set=k=v", "--set-string=k=v", "--set-file=k=path": one argument each, so a value never reads as a flag
  std::vector<std::string> set_arguments;
  // What the cluster serves, as the agent passes it from the live cluster: Capabilities.KubeVersion and
  // extra Capabilities.APIVersions ("group/version" or "group/version/Kind"). Empty: helm's defaults.
  std::string kube_version;
  std::vector<std::string> api_versions;
  // A chart directory whose dependencies are not in its charts/: `helm dependency build` once, then render
  // again (Argo CD's repo-server; source-controller for charts in Git), trusting this CA besides the system's.
  bool build_missing_dependencies = false;
  std::string dependency_root;  // where file:// dependencies may point: the exported repository
  std::string dependency_ca_file;
  bool include_crds = true;
  bool no_hooks = false;
  bool skip_tests = true;
  bool skip_schema_validation = false;
};

// `helm template` of a release: the rendered stream, each document after a "# Source:" comment.
gitgate::Result<std::string> render(const Tool& tool, const TemplateRequest& request);

// Whether `helm template` failed because the chart's dependencies are not in its charts/ directory.
bool missing_dependencies(const std::string& helm_error);

// `helm dependency build` in a chart directory, as Argo CD's repo-server runs it when `helm template` says
// dependencies are missing (and source-controller builds a chart from Git): from Chart.lock when there is
// one, else the newest versions Chart.yaml allows. `ca_file` is trusted besides the system's CAs.
// A `file://` dependency must lie inside `root` (the repository's files): Git cannot make helm read the
// rest of the disk.
gitgate::Status build_dependencies(const Tool& tool, const std::string& chart_dir, const std::string& root,
                                   const std::string& ca_file);

// "sha256:<hex>" of a file's content; "" when unreadable.
std::string file_digest(const std::string& path);

}  // namespace gitgate::desired::helm
