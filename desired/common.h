// What the Flux and Argo CD builders share: the result of a build and its provenance, paths inside the
// repository, the JSON accessors they read Git's objects with, the on-disk cache of build outputs, and charts
// pulled from HTTPS or OCI repositories and kept between builds.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/declared.h"
#include "core/source_spec.h"
#include "desired/helm/helm.h"
#include "desired/source_tree.h"
#include "manifests/yaml_document.h"

namespace gitgate::desired {

// Value origins kept per build: enough to cite the line of any values file a person reads.
inline constexpr size_t kMaxValueOrigins = 2000;

struct BuildOutput {
  std::vector<std::shared_ptr<gitgate::DeclaredObject>> objects;
  std::vector<gitgate::Problem> problems;
  std::vector<gitgate::UnbuiltOwner> unbuilt;
  // The provenance of this build's objects (new ones every build: published snapshots never change), so
  // gitstate can fill in the commits that last changed the files their chains cite.
  std::vector<std::shared_ptr<gitgate::BuildProvenance>> builds;
  // Identifies what went into the build (source ids, chart digests, values, failures): equal fingerprints
  // mean equal results, so a rebuild of the same commit that resolved no new chart need not be published.
  std::string fingerprint;
};

// A built object before it becomes a DeclaredObject: its JSON and where Git holds it.
struct Built {
  nlohmann::json object;
  std::string file;
  uint32_t line = 0;
  uint32_t column = 0;
  std::shared_ptr<gitgate::BuildProvenance> build;  // null for objects written in Git as they are
  std::string group, kind, ns, name;
};

// The key the builders index built objects by.
std::string object_id(const std::string& group, const std::string& kind, const std::string& ns,
                      const std::string& name);

// Appends the declared objects of `built` to `out` (default namespace as the policy says).
void declare_built(const std::vector<Built>& built, const std::string& default_namespace,
                   std::vector<std::shared_ptr<gitgate::DeclaredObject>>& out);

// The repository files that objects and provenance chains cite.
std::vector<std::string> cited_files(const BuildOutput& result);
// Fills in the commits that last changed cited files (objects' last_change, chain links' commit).
void set_link_commits(BuildOutput& result,
                      const std::map<std::string, std::shared_ptr<const gitgate::CommitInfo>>& commits);

std::string sha256_hex(std::string_view data);
// Writes `text` as the whole content of `path`, closed and checked: a full disk fails here, not later as a
// render of a truncated values file.
gitgate::Status write_whole_file(const std::string& path, std::string_view text);
// Whether a Kubernetes version or an API version may be passed to helm: letters, digits and . _ / + -, at
// most 253 characters. Git's text reaches helm's command line only through this.
bool is_capability(std::string_view text);
inline constexpr size_t kMaxApiVersions = 2000;
// The cluster capabilities a helm render was given, for its cache key.
std::string capabilities_key(const std::string& kube_version, const std::vector<std::string>& api_versions);
// Lowercase hex of a digest.
std::string hex(const unsigned char* bytes, size_t size);
// "apps/v1" -> "apps", "v1" -> "".
std::string group_of(const std::string& api_version);
// "./clusters//prod/" -> "clusters/prod"; nullopt for paths that climb out.
std::optional<std::string> clean_path(std::string_view path);
// A Git URL reduced to host and path, lower-cased, so https://github.com/Org/fleet.git and
// ssh://git@github.com/org/fleet name the same repository.
std::string repository_identity(std::string url);
// The identities of the policy's repository: its `url` and every `knownAs`.
std::set<std::string> repository_identities(const SourceSpec& spec);
// Whether two URLs name one repository: the same identity, or both the policy's (`self`: url and knownAs).
bool same_repository(const std::set<std::string>& self, const std::string& a, const std::string& b);
// Whether one of spec.repositories is fetched at the ref a source names: its branch, tag, semver range, or
// `pin`: a commit (abbreviated to 7 digits or more) or an artifact digest ("" names none of that kind). A
// listed range also stands for the tag it last resolved to.
bool fetched_at(const OtherRepository& listed, const std::string& branch, const std::string& tag,
                const std::string& range, const std::string& pin = "");
// A listed repository as a provenance chain names it: "<url> tag v1.0.0 @ 1a2b3c4", or for an OCI artifact
// "<url> tag v1.4.2 sha256:<digest>".
std::string fetched_as(const OtherTree& other);

// Helm's merge of values (and source-watcher's of YAML files): `from`'s keys win, maps are merged
// recursively, anything else (lists included) is replaced.
void merge_maps(nlohmann::json& into, const nlohmann::json& from);

// How a file is cited: a path of the policy's repository as it is, another repository's (`in`) as
// "<url>//<path>", as kustomize names remote files ("<url>@<ref>//<path>" when its URL is listed twice).
std::string cite(const OtherTree* in, const std::string& path);

const nlohmann::json& field(const nlohmann::json& j, const char* key);
std::string str(const nlohmann::json& j, const char* key, std::string fallback = {});
bool flag(const nlohmann::json& j, const char* key);

// Scalars with their lines; a multi-line string (a patch, a values file in a ConfigMap) is read as the YAML
// it holds, its lines counted from the one after its `|`.
void add_origins(std::vector<gitgate::ValueOrigin>& out, const std::vector<manifests::ScalarLeaf>& leaves,
                 const std::string& where, const std::string& file);

// Build outputs (kustomize and helm renders) by the hash of their inputs, in memory and below a directory.
class OutputCache {
 public:
  explicit OutputCache(std::string dir) : dir_(std::move(dir)) {}
  std::optional<std::string> load(const std::string& kind, const std::string& key);
  void store(const std::string& kind, const std::string& key, const std::string& text);

 private:
  std::string path(const std::string& kind, const std::string& key) const;
  std::string dir_;
  std::unordered_map<std::string, std::string> memory_;  // kind + key -> output
};

// Charts pulled from HTTPS or OCI repositories, kept below a directory across builds and restarts.
class ChartCache {
 public:
  explicit ChartCache(std::string cache_dir) : cache_dir_(std::move(cache_dir)) {}
  // A chart pulled within `ttl` (the chart source's own interval, as source-controller re-reads an index)
  // is used as it is; an older one is pulled again, and stays in use if that fails (a repository down).
  // `build` numbers the process's builds from 1: the first takes what the cache directory holds, whatever
  // its age, so a restart is ready from the cache and the next build refreshes it. A repository that could
  // not be reached is not tried again in the same build (a fleet offline would wait on every chart of it).
  // `pulls` counts helm pulls run.
  gitgate::Result<helm::PulledChart> pull(const helm::Tool& tool, const helm::ChartSource& source,
                                          std::chrono::microseconds ttl, size_t build, size_t& pulls);

 private:
  struct Pulled {
    helm::PulledChart chart;
    std::chrono::system_clock::time_point at;
    bool from_disk = false;  // found in the cache directory by this process, not pulled by it
  };
  struct Unreachable {
    size_t build = 0;
    std::string error;
  };
  std::unordered_map<std::string, Unreachable> unreachable_;  // by repository
  std::string chart_dir(const std::string& key) const;
  std::string cache_dir_;
  std::unordered_map<std::string, Pulled> charts_;  // (repository, chart, version) -> the pulled chart
};

// Adds to `key` the ids of what a kustomization directory reads: its kustomization file and, through it,
// every base, component, patch and generator file; a directory without one stands for all its files.
// Remote references are part of the key as written. A build cache key.
void kustomize_inputs(const SourceTree& tree, const std::string& dir, std::set<std::string>& visited,
                      std::string& key, int depth = 0);

// The helm binary as a policy runs it: its own HELM_*_HOME below the cache directory, the render limits.
helm::Tool helm_tool(const std::vector<std::string>& command, const std::string& cache_dir,
                     std::chrono::microseconds timeout, size_t max_output_bytes, int cancel_fd);

}  // namespace gitgate::desired
