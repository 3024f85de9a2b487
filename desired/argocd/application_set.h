// The Applications an ApplicationSet generates, from what Git alone tells: the list, git (directories and
// files) generators and matrix / merge of those, rendered into spec.template and spec.templatePatch with Go
// templates (goTemplate: true; go_template.h) or fasttemplate (`{{path.basename}}`). Generators that need
// the cluster or another API (clusters, SCM providers, pull requests, plugins, cluster decision resources)
// and template constructs beyond those evaluated are reported as not built.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "desired/source_tree.h"

namespace gitgate::desired::argocd {

struct GitView {
  // The tree a git generator reads, by its repoURL and revision, or why it cannot be read.
  std::function<gitgate::Result<const SourceTree*>(const nlohmann::json& generator)> tree_for;
};

// The generated Applications (apiVersion, kind, metadata with the ApplicationSet's namespace, spec), at most
// `max_applications`.
gitgate::Result<std::vector<nlohmann::json>> generate_applications(const nlohmann::json& application_set,
                                                                  const GitView& git, size_t max_applications);

}  // namespace gitgate::desired::argocd
