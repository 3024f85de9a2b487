// Flux's source composition (source-watcher's ArtifactGenerator, `source.extensions.fluxcd.io/v1beta1`): an
// ExternalArtifact made of files copied from sources. gitgate builds the artifacts whose sources are the
// policy's own repository or ones spec.source.repositories lists (Git repositories, OCI artifacts): the
// artifact is then a rearrangement of those trees' files, and every file keeps where it came from for
// provenance.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "desired/source_tree.h"

namespace gitgate::desired::flux {

// A source an ArtifactGenerator names by its alias: the policy's repository (`other` null) or a listed one.
// `tree` is null when it cannot be read; `reason` then says why.
struct ArtifactSource {
  const SourceTree* tree = nullptr;
  const OtherTree* other = nullptr;
  std::string reason;
};

// One ExternalArtifact's files, each read from the tree it was copied from.
class ArtifactTree final : public SourceTree {
 public:
  struct Origin {
    const SourceTree* tree;
    std::string path;          // in `tree`
    const OtherTree* other;    // null: the policy's repository
    // What the artifact holds when it is not the file itself: a YAML merge (cited as the file merged in) or
    // a file extracted from the tarball `path`.
    std::shared_ptr<const std::string> content = nullptr;
  };

  std::optional<std::string> read(const std::string& path) const override;
  std::vector<Entry> list(const std::string& directory) const override;
  // A file's Git object id; a directory's digest of its files' paths and ids.
  std::string id(const std::string& path) const override;
  gitgate::Status export_to(const std::string& directory,
                            std::vector<gitgate::Problem>& problems) const override;

  // Where a file of the artifact was copied from (null when the artifact has no such file).
  const Origin* origin(const std::string& path) const;
  size_t size() const { return files_.size(); }

  // Copies `from` to `to` (an artifact path); a later copy of the same path wins.
  void put(const std::string& to, Origin from) { files_[to] = std::move(from); }

 private:
  std::map<std::string, Origin> files_;  // artifact path -> where it was copied from
};

// Builds `artifact` (one entry of an ArtifactGenerator's spec.artifacts) as source-watcher does: `copy`
// operations in order, `from: "@alias/pattern"` (a path, or a glob whose `*`
// stays within a directory; "dir/**" copies dir's contents), `to: "@artifact/path"` (a trailing slash: into
// that directory), `exclude` globs; the Overwrite strategy, Merge (a YAML file copied onto one the artifact
// holds is deep-merged into it, as Helm merges values: multi-document files as one map, lists replaced) and
// Extract (a .tgz or .tar.gz is unpacked into the destination; a glob may use "**", and matches that are not
// tarballs are ignored). `sources` maps the generator's aliases to their trees; an alias that is
// missing, or whose tree could not be read, fails the build with its reason.
gitgate::Result<std::unique_ptr<ArtifactTree>> build_artifact(const std::map<std::string, ArtifactSource>& sources,
                                                            const nlohmann::json& artifact);

// Go's path.Match for one pattern and a slash-separated name (`*` and `?` never match '/'), and
// doublestar's Match, where a "**" segment matches any number of segments.
bool path_match(const std::string& pattern, const std::string& name);
bool doublestar_match(const std::string& pattern, const std::string& name);

}  // namespace gitgate::desired::flux
