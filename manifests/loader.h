// Kubernetes manifests to declared objects: YAML and JSON files are read the way Kubernetes' YAML decoding
// reads them, one Document per object (Lists expanded), with every skipped file or document reported as a
// Problem ("path:line: reason"). Secret values never leave this module: they are blanked on the way in.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/declared.h"
#include "core/result.h"
#include "core/source_spec.h"

namespace gitgate::manifests {

struct Limits {
  uint64_t max_file_bytes = 1024 * 1024;
  uint64_t max_nodes =
      100000;  // nodes emitted per file, alias expansions included: the billion-laughs budget
  int max_depth = 64;
};

struct Document {
  std::string api_version;
  std::string kind;
  std::string ns;  // metadata.namespace as written ("" when absent)
  std::string name;
  std::string json;   // minified JSON; Secret data/stringData values are "" and SOPS metadata is dropped
  uint32_t line = 0;  // 1-based, of the document's first node
  uint32_t column = 0;
  // With ParseOptions::kustomize_origin: the file kustomize names in config.kubernetes.io/origin ("path", or
  // "configuredIn" for generated objects), relative to the kustomization; the annotation is removed from
  // json.
  std::string origin;
};

struct FileResult {
  std::vector<Document> documents;
  std::vector<gitgate::Problem> problems;
};

struct ParseOptions {
  bool kustomize_origin = false;  // for `kustomize build` output with buildMetadata: [originAnnotations]
};

// *.yaml, *.yml and *.json.
bool is_manifest_path(std::string_view path);
// kustomization.yaml, kustomization.yml, Kustomization: kustomize's own configuration, never an object.
bool is_kustomization_path(std::string_view path);

// Reads every object of one file. Empty and comment-only documents and kustomize configuration are ignored
// silently; anything else that is not a usable object is reported in `problems` and skipped.
FileResult parse_file(std::string_view path, std::string_view content, const Limits& limits,
                      const ParseOptions& options = {});

// The declared object for a document found in `file`. Namespaced built-in kinds without a namespace take
// `default_namespace`; cluster-scoped built-in kinds have none; a custom kind without a namespace is keyed
// under "" and marked namespace_unresolved (it then answers for no namespace and for the default one).
std::shared_ptr<gitgate::DeclaredObject> declare(const Document& document, std::string_view file,
                                                 std::string_view default_namespace);

// A snapshot of a plain directory (no Git): the manifests under `spec.paths`, with the same skipping rules as
// a Git tree (symbolic links, files over spec.max_file_bytes). `commit` describes the snapshot (an empty
// CommitInfo when null). Fails only when a path is unusable (outside `dir`, missing).
gitgate::Result<std::shared_ptr<const gitgate::Snapshot>> snapshot_from_directory(
    const std::string& dir, const gitgate::SourceSpec& spec,
    std::shared_ptr<const gitgate::CommitInfo> commit);

// Normalises a repository-relative path from a policy ("./apps/", "apps//x") to "apps" / "apps/x"; "" is the
// root. Fails for absolute paths and paths that climb out with "..".
gitgate::Result<std::string> normalize_source_path(std::string_view path);

// Adds `originAnnotations` to a kustomization's buildMetadata so `kustomize build` names each object's file.
gitgate::Result<std::string> with_origin_annotations(std::string_view kustomization_yaml);

}  // namespace gitgate::manifests
