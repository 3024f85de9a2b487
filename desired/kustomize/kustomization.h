// What kustomize-controller writes before it runs kustomize: the directory's kustomization file with the
// Flux Kustomization's fields merged in, or one generated from the manifests below the directory when it
// has none (fluxcd/pkg's generator), and kustomize asked to annotate each object's origin and the
// transformers that changed it (for provenance; the annotations are removed from the result).
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace gitgate::desired::kustomize {

inline constexpr const char* kOriginAnnotation = "config.kubernetes.io/origin";
inline constexpr const char* kTransformationsAnnotation = "alpha.config.kubernetes.io/transformations";

// The kustomization file's name in `directory`, or "" when it has none.
std::string kustomization_file(const std::filesystem::path& directory);

// The kustomization to write into `directory` for a Flux Kustomization `spec` (its `spec` field as JSON):
// found and merged (targetNamespace, namePrefix/nameSuffix, patches, components, images, v1beta2's
// patchesStrategicMerge/patchesJson6902), or generated. JSON text, which kustomize reads as YAML.
gitgate::Result<std::string> flux_kustomization(const std::filesystem::path& directory,
                                                const nlohmann::json& spec);

// A kustomization that builds `resources` in its own directory with post-renderer patches and images
// (helm-controller's postRenderers[].kustomize).
std::string post_render_kustomization(const std::vector<std::string>& resources,
                                      const nlohmann::json& kustomize);

struct RunOptions {
  std::vector<std::string> command{"kubectl", "kustomize"};
  std::chrono::microseconds timeout = std::chrono::seconds(30);
  size_t max_output_bytes = 64ull << 20;
  int cancel_fd = -1;
};

// Runs `kustomize build` on `directory` as Flux does (load restrictor none: overlays may reach any file of
// the exported tree, and nothing outside it exists there). Errors quote kustomize without the temporary path.
gitgate::Result<std::string> build(const std::filesystem::path& directory, const std::filesystem::path& root,
                                   const RunOptions& options);

// The documents of a YAML stream separated by "---" lines, in order, empty ones left out.
std::vector<std::string> split_documents(const std::string& stream);

}  // namespace gitgate::desired::kustomize
