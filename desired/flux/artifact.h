// Flux's source composition (source-watcher's ArtifactGenerator, `source.extensions.fluxcd.io/v1beta1`): an
// ExternalArtifact made of files copied from sources. gitgate builds the artifacts whose sources are the
// policy's own repository: the artifact is then a rearrangement of that tree's files, and every file keeps
// its path in Git for provenance.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "desired/source_tree.h"

namespace gitgate::desired::flux {

// One ExternalArtifact's files, each read from the base tree at its Git path.
class ArtifactTree final : public SourceTree {
 public:
  explicit ArtifactTree(const SourceTree& base) : base_(base) {}

  std::optional<std::string> read(const std::string& path) const override;
  std::vector<Entry> list(const std::string& directory) const override;
  // A file's Git object id; a directory's digest of its files' paths and ids.
  std::string id(const std::string& path) const override;
  gitgate::Status export_to(const std::string& directory,
                            std::vector<gitgate::Problem>& problems) const override;

  // The Git path a file of the artifact was copied from ("" when the artifact has no such file).
  std::string origin(const std::string& path) const;
  size_t size() const { return files_.size(); }

  // Copies `from` (a Git path) to `to` (an artifact path); a later copy of the same path wins.
  void put(const std::string& to, const std::string& from) { files_[to] = from; }

 private:
  const SourceTree& base_;
  std::map<std::string, std::string> files_;  // artifact path -> Git path
};

// Builds `artifact` (one entry of an ArtifactGenerator's spec.artifacts) as source-watcher does, with the
// Overwrite strategy: `copy` operations in order, `from: "@alias/pattern"` (a path, or a glob whose `*`
// stays within a directory; "dir/**" copies dir's contents), `to: "@artifact/path"` (a trailing slash: into
// that directory), `exclude` globs. `aliases` are the sources that are the policy's repository; any other
// alias fails the build with a reason naming it.
gitgate::Result<std::unique_ptr<ArtifactTree>> build_artifact(const SourceTree& base, const nlohmann::json& artifact,
                                                            const std::set<std::string>& aliases);

// Go's path.Match for one pattern and a slash-separated name (`*` and `?` never match '/'), and
// doublestar's Match, where a "**" segment matches any number of segments.
bool path_match(const std::string& pattern, const std::string& name);
bool doublestar_match(const std::string& pattern, const std::string& name);

}  // namespace gitgate::desired::flux
