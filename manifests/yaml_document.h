// YAML documents that are not Kubernetes objects to declare: a kustomization file to rewrite, the values of
// a HelmRelease to cite line by line. Same reader, budgets and typing as the manifest loader.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "manifests/loader.h"

namespace gitgate::manifests {

// The documents of a YAML stream as JSON text, in order (empty documents left out). Fails on a syntax error,
// a budget spent, or a document that cannot be written as JSON, naming the line.
gitgate::Result<std::vector<std::string>> yaml_documents_as_json(std::string_view content,
                                                                 const Limits& limits = {});

// A scalar of a YAML document with where it is written: `path` is dotted ("image.tag", "env[0].value").
struct ScalarLeaf {
  std::string path;
  std::string value;  // as written (not quoted)
  uint32_t line = 0;
};

// The scalars below `prefix` (e.g. {"spec", "values"}) of the first document of `content` whose kind and
// metadata.name are `kind` and `name`, with their lines; at most `max_leaves`. Empty when there is none.
std::vector<ScalarLeaf> scalar_leaves(std::string_view content, std::string_view kind, std::string_view name,
                                      const std::vector<std::string>& prefix, size_t max_leaves = 10000);

// The scalars of a whole YAML text (a patch, a values file), lines counted from `first_line`.
std::vector<ScalarLeaf> scalar_leaves(std::string_view content, uint32_t first_line = 1,
                                      size_t max_leaves = 10000);

}  // namespace gitgate::manifests
