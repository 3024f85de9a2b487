// The desired state as Argo CD builds it (SPEC §3a): from the directory that holds the root Application(s),
// every Application is rendered as Argo CD's repo-server renders it (a directory of manifests, kustomize
// with the Application's kustomize options, `helm template` with its values, value files, parameters and
// release name; several sources with `$ref` value files), Argo CD's tracking label or annotation added, and
// followed to any depth: the Applications an Application renders (app of apps) and those an ApplicationSet
// generates (list, git directories and files, matrix, merge) are declared objects and are built in turn.
//
// Every object carries its provenance chain (object ← Application ← chart and values line) and the identity
// that applies it: Argo CD's application-controller (the applicationset-controller for the Applications an
// ApplicationSet generates). What cannot be built keeps its last good build; with none, what the
// Application owns is declared with unknown values (UnbuiltOwner, recognised by Argo CD's tracking).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "core/declared.h"
#include "core/source_spec.h"
#include "desired/common.h"
#include "desired/source_tree.h"

namespace gitgate::desired::argocd {

inline constexpr const char* kGroup = "argoproj.io";
// UnbuiltOwner::label_prefix of an Application that could not be built.
inline constexpr const char* kUnbuiltApplication = "argoproj.io/Application";

struct Options {
  gitgate::SourceSpec spec;  // url, branch and argocd name the repository; tools, limits, default namespace
  std::string cache_dir;     // charts and build outputs; "" keeps them in memory only
  size_t max_output_bytes = 64ull << 20;
  size_t max_applications = 2000;  // Applications built in one build (generated ones included)
  size_t max_generated = 1000;     // Applications one ApplicationSet may generate
};

struct Stats {
  size_t applications = 0;
  size_t application_sets = 0;
  size_t kustomize_runs = 0;
  size_t helm_runs = 0;
  size_t chart_pulls = 0;
};

struct Result : BuildOutput {
  Stats stats;
};

// The repo-server's build environment (ARGOCD_APP_NAME, ARGOCD_APP_REVISION, …) substituted into `text` as
// Argo CD substitutes it into helm parameters, value file paths and kustomize images and labels (Go's
// os.Expand): $NAME and ${NAME}; "$$" is "$"; a name that is not set, or a shell special ($1, $@), is "".
std::string expand_build_env(std::string_view text, const std::map<std::string, std::string>& env);

class Builder {
 public:
  explicit Builder(Options options);
  ~Builder();
  Builder(const Builder&) = delete;
  Builder& operator=(const Builder&) = delete;

  // `commit`: the commit's id, Argo CD's ARGOCD_APP_REVISION for Git sources (its first 7 characters in
  // messages about builds that stay in force). `cancel_fd` readable stops kustomize and helm.
  // `others`: the trees of spec.repositories, for the GitRepositories or Applications that name them.
  Result build(const SourceTree& tree, const std::string& commit, int cancel_fd = -1,
               const std::vector<OtherTree>& others = {});

 private:
  class Run;
  struct Cache;

  Options options_;
  std::unique_ptr<Cache> cache_;
};

}  // namespace gitgate::desired::argocd
