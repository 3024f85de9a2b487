#include "cli/declared_state.h"

#include <cstdlib>

#include "desired/argocd/builder.h"
#include "desired/directory_tree.h"
#include "desired/flux/builder.h"
#include "gitstate/source.h"
#include "manifests/loader.h"

namespace gitgate::cli {

std::string default_cache_dir() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0') return std::string(xdg) + "/gitgate";
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') return std::string(home) + "/.cache/gitgate";
  return "/tmp/gitgate-cache";
}

const SnapshotWindow* OfflineState::window(const policies::Policy& policy) const {
  if (auto it = windows_.find(&policy); it != windows_.end()) return it->second.get();
  if (errors_.count(&policy) != 0) return nullptr;
  if (!options_.manifests_dir.empty()) {
    auto commit = std::make_shared<CommitInfo>();
    commit->id = "working-tree";
    commit->subject = "working tree " + options_.manifests_dir;
    if (policy.source.flux || policy.source.argocd) {
      // Built as `serve` builds it: the agent's graph from the directory, as if it were the commit.
      std::string cache_dir =
          options_.cache_dir.empty() ? std::string() : options_.cache_dir + "/working-tree.desired";
      desired::DirectoryTree tree(options_.manifests_dir, policy.source.max_file_bytes);
      desired::BuildOutput built;
      if (policy.source.argocd) {
        desired::argocd::Options options;
        options.spec = policy.source;
        options.cache_dir = cache_dir;
        built = desired::argocd::Builder(std::move(options)).build(tree, "working-tree");
      } else {
        desired::flux::Options options;
        options.spec = policy.source;
        options.cache_dir = cache_dir;
        built = desired::flux::Builder(std::move(options)).build(tree, "working-tree");
      }
      std::vector<std::shared_ptr<const DeclaredObject>> objects(built.objects.begin(), built.objects.end());
      auto window = std::make_shared<SnapshotWindow>();
      window->snapshots.push_back(std::make_shared<Snapshot>(commit, policy.source.default_namespace, std::move(objects),
                                                             std::move(built.problems), std::move(built.unbuilt)));
      return (windows_[&policy] = window).get();
    }
    auto snapshot = manifests::snapshot_from_directory(options_.manifests_dir, policy.source, commit);
    if (!snapshot) {
      errors_[&policy] = snapshot.error();
      return nullptr;
    }
    auto window = std::make_shared<SnapshotWindow>();
    window->snapshots.push_back(*snapshot);
    return (windows_[&policy] = window).get();
  }
  gitstate::SourceOptions source;
  source.name = policy.name;
  source.spec = policy.source;
  source.cache_dir = options_.cache_dir;
  source.fetch_program = options_.fetch_program;
  auto window = gitstate::sync_once(source, options_.fetch);
  if (!window) {
    errors_[&policy] = window.error();
    return nullptr;
  }
  return (windows_[&policy] = *window).get();
}

std::string OfflineState::error(const policies::Policy& policy) const {
  auto it = errors_.find(&policy);
  return it == errors_.end() ? std::string() : it->second;
}

}  // namespace gitgate::cli
