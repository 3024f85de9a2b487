// `render: kustomize`: the commit's tree exported to a temporary directory (regular files only, no
// symlinks), the kustomization told to record each object's origin, and the configured command run on it
// with a time limit and an output limit.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <git2.h>

#include "core/declared.h"
#include "core/result.h"
#include "core/source_spec.h"

namespace gitgate::gitstate {

struct RenderLimits {
  uint64_t max_file_bytes = 1024 * 1024;  // per exported file
  uint64_t max_total_bytes = 256ull << 20;
  size_t max_files = 50000;
  size_t max_output_bytes = 64ull << 20;
};

struct RenderResult {
  std::string output;             // the rendered YAML stream
  std::string kustomization;      // repository path of the kustomization file that was built
  std::vector<Problem> problems;  // files left out of the export
};

// Writes every regular file of `tree` below `root` (symbolic links, submodules, unsafe names and files over
// the limits left out; those inside `directory` are reported in `problems`).
gitgate::Status export_tree(git_repository* repo, git_tree* tree, const std::string& root, const std::string& directory,
                            const RenderLimits& limits, std::vector<Problem>& problems);

// Renders `directory` (repository-relative, "" for the root) of `tree`. The whole tree is exported, since
// overlays refer to bases outside their directory ("../base").
gitgate::Result<RenderResult> render_kustomize(git_repository* repo, git_tree* tree,
                                               const std::string& directory, const gitgate::SourceSpec& spec,
                                               const RenderLimits& limits, int cancel_fd);

}  // namespace gitgate::gitstate
