// One commit's tree as the desired-state builder reads it (desired::SourceTree), straight from the object
// database: no checkout.
#pragma once

#include <git2.h>

#include "desired/source_tree.h"
#include "gitstate/render.h"

namespace gitgate::gitstate {

class GitTree final : public desired::SourceTree {
 public:
  // `repo` and `tree` must outlive this view.
  GitTree(git_repository* repo, git_tree* tree, RenderLimits limits)
      : repo_(repo), tree_(tree), limits_(limits) {}

  std::optional<std::string> read(const std::string& path) const override;
  std::vector<Entry> list(const std::string& directory) const override;
  std::string id(const std::string& path) const override;
  gitgate::Status export_to(const std::string& directory,
                            std::vector<gitgate::Problem>& problems) const override;

 private:
  git_repository* repo_;
  git_tree* tree_;
  RenderLimits limits_;
};

}  // namespace gitgate::gitstate
