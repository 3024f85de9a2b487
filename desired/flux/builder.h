// The desired state as Flux builds it (SPEC §3a): from the directory Flux's bootstrap Kustomization points
// at, every Kustomization that Git declares is built as kustomize-controller builds it (kustomize with
// Flux's merged fields, post-build substitution, owner labels, commonMetadata) and every HelmRelease as
// helm-controller renders it (chart pulled with its version constraint, values and valuesFrom merged,
// `helm template`, post-renderers, Helm's and Flux's labels), followed to any depth.
//
// Every object carries its provenance chain and the identity that applies it (the Kustomization's or
// HelmRelease's service account, else the controller's). What cannot be built keeps its last good build;
// with none, what it owns is declared with unknown values (UnbuiltOwner). Builds are cached by their
// inputs (source tree ids, Flux fields, chart digest, values), in memory and below cache_dir, so a commit
// that changes one release re-renders that release only, and a restarted process renders nothing it has
// rendered before.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/declared.h"
#include "core/source_spec.h"
#include "desired/common.h"
#include "desired/source_tree.h"
#include "manifests/loader.h"

namespace gitgate::desired::flux {

struct Options {
  gitgate::SourceSpec spec;  // url, branch and flux name the repository; tools, limits, default namespace
  std::string cache_dir;     // charts and build outputs; "" keeps them in memory only
  size_t max_output_bytes = 64ull << 20;
  size_t max_builds = 2000;  // Kustomizations plus HelmReleases followed in one build
};

struct Stats {
  size_t kustomizations = 0;
  size_t helm_releases = 0;
  size_t kustomize_runs = 0;  // builds that ran kustomize (the rest came from the cache)
  size_t helm_runs = 0;       // helm template runs
  size_t chart_pulls = 0;
};

struct Result : BuildOutput {
  Stats stats;
};

class Builder {
 public:
  explicit Builder(Options options);
  ~Builder();
  Builder(const Builder&) = delete;
  Builder& operator=(const Builder&) = delete;

  // `commit`: the commit's short id, for messages about builds that stay in force. `cancel_fd` readable
  // stops kustomize and helm.
  // `others`: the trees of spec.repositories, for the GitRepositories or Applications that name them.
  Result build(const SourceTree& tree, const std::string& commit, int cancel_fd = -1,
               const std::vector<OtherTree>& others = {});

 private:
  class Run;
  struct Cache;

  Options options_;
  std::unique_ptr<Cache> cache_;
};

using desired::cited_files;
using desired::set_link_commits;

}  // namespace gitgate::desired::flux
