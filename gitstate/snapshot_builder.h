// Builds snapshots from commits of the cache repository, reading tree objects only (no checkout).
// Runs on the source's sync thread; local reads only, no network.
//
// Parsed files are cached by path and blob id, so a commit that touches one file re-parses one file and the
// declared objects of unchanged files are shared between snapshots. Provenance is incremental (see
// provenance.h) and commit metadata and signature checks are computed once per commit. Plain manifests go
// further: a head that descends from the last one is read as a diff of the two trees and published as a
// patch of the last snapshot (Snapshot::patch), so a commit costs in proportion to what it changed, not to
// the size of the tree; the snapshot is built whole again when the patches grow, or when anything else
// changed (another branch, a force push, the allowed signers).
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/declared.h"
#include "core/result.h"
#include "core/source_spec.h"
#include "desired/argocd/builder.h"
#include "desired/flux/builder.h"
#include "gitstate/commit_info.h"
#include "gitstate/git.h"
#include "gitstate/provenance.h"
#include "gitstate/render.h"
#include "manifests/loader.h"

namespace gitgate::gitstate {

class SnapshotBuilder {
 public:
  struct Stats {
    size_t files = 0;         // manifest files in the snapshot
    size_t files_parsed = 0;  // of which were parsed by this build (the rest came from the cache)
    size_t commits_walked = 0;
    desired::flux::Stats flux;      // with spec.flux
    desired::argocd::Stats argocd;  // with spec.argocd
  };

  // Fails when a source path is unusable (absolute, or climbing out with "..").
  static gitgate::Result<std::unique_ptr<SnapshotBuilder>> create(std::string git_dir,
                                                                  gitgate::SourceSpec spec,
                                                                  manifests::Limits limits);

  // The commit the cache repository holds for the branch (refs/gitgate/head), if any.
  std::optional<std::string> fetched_head();
  // Re-reads the allowed_signers file when it changed. True when it did (signature statuses are then
  // recomputed by the next build).
  gitgate::Result<bool> refresh_signers();
  // `cancel_fd` readable aborts a render or a history walk.
  gitgate::Result<std::shared_ptr<const gitgate::Snapshot>> build(const std::string& head, int cancel_fd);

  // Call when nothing waits: frees the repository handle the last build() replaced (see build()) and opens
  // the one the next build will use (it finds objects fetched after it was opened), both off the path of a
  // review waiting for a sync.
  void idle();

  const Stats& last_stats() const { return stats_; }
  // With spec.flux or spec.argocd, a build of an unchanged commit can differ (a new chart version in a
  // repository): the source rebuilds every interval and publishes only when this changed. "" for other
  // sources.
  bool rebuilds_unchanged_commits() const { return spec_.flux.has_value() || spec_.argocd.has_value(); }
  const std::string& fingerprint() const { return fingerprint_; }
  // The outcome of the last fetch of one of spec.repositories ("" when it succeeded), reported with every
  // build until the next fetch. Its cache repository is next to this one.
  void note_other_fetch(const gitgate::OtherRepository& other, std::string error);

 private:
  struct TreeFile {
    std::string path;
    git_oid blob;
  };
  struct ParsedFile {
    git_oid blob{};
    std::vector<std::shared_ptr<const gitgate::DeclaredObject>> objects;
    std::vector<gitgate::Problem> problems;
    std::shared_ptr<const gitgate::CommitInfo> last_change;
    // A file with problems keeps the objects it declared at the newest earlier commits where it did
    // (looked up once per content).
    std::vector<std::shared_ptr<const gitgate::DeclaredObject>> carried;
    bool carry_checked = false;
  };
  using FileCache = std::unordered_map<std::string, ParsedFile>;  // by path; the blob id is in the entry
  // What the last plain build left, for patching it.
  struct PlainState {
    git_oid head{};
    std::shared_ptr<const gitgate::Snapshot> snapshot;
    std::vector<gitgate::Problem> tree_problems;  // symbolic links and submodules, by path
    std::set<std::string> problem_files;          // files of files_ with problems
    std::vector<int> path_modes;                  // of paths_ at `head` (0: missing)
    size_t patches = 0;                           // since the last whole build
  };

  struct Output {
    std::vector<std::shared_ptr<const gitgate::DeclaredObject>> objects;
    std::vector<gitgate::Problem> problems;
    std::vector<gitgate::UnbuiltOwner> unbuilt;
    std::unordered_set<std::string> commits;  // ids the snapshot refers to
  };

  SnapshotBuilder(std::string git_dir, gitgate::SourceSpec spec, manifests::Limits limits,
                  std::vector<std::string> paths);
  gitgate::Status open();
  gitgate::Status collect(git_tree* root, const std::string& path, std::vector<TreeFile>& files,
                          std::vector<gitgate::Problem>& problems);
  ParsedFile& load(const TreeFile& file, FileCache& next);
  ParsedFile parse_blob(const TreeFile& file);
  void carry_over(const TreeFile& file, ParsedFile& parsed, const git_oid& head, int cancel_fd);
  // The CommitInfo of a provenance answer (null without one), noted as referred to by the snapshot.
  std::shared_ptr<const gitgate::CommitInfo> last_change(const std::optional<git_oid>& answer, Output& out);
  gitgate::Status build_plain(git_tree* tree, const git_oid& head, int cancel_fd, Output& out);
  // A patch of the last plain snapshot; null when it must be built whole (plain_ is then reset).
  std::shared_ptr<const gitgate::Snapshot> patch_plain(git_tree* tree, const git_oid& head,
                                                       std::shared_ptr<const gitgate::CommitInfo> info,
                                                       int cancel_fd);
  std::vector<int> path_modes(git_tree* tree);
  // Whether build_plain reads the tree entry at `path`: as a file, a manifest file (or a source path that is
  // a file); with `problem`, a link or submodule it reports.
  bool covers(const std::string& path, bool problem) const;
  // Gives the file's objects the commit that last changed it (copies: cached objects may be held by older
  // snapshots).
  static void set_last_change(ParsedFile& parsed,
                              const std::shared_ptr<const gitgate::CommitInfo>& changed_by);
  gitgate::Status build_rendered(git_tree* tree, const git_oid& head, int cancel_fd, Output& out);
  gitgate::Status build_desired(git_tree* tree, const git_oid& head, int cancel_fd, Output& out);

  std::string git_dir_;
  gitgate::SourceSpec spec_;
  manifests::Limits limits_;
  std::vector<std::string> paths_;     // normalised
  std::vector<std::string> pathspec_;  // for history diffs; empty when a path is the root
  RepositoryPtr repo_;
  RepositoryPtr retired_;  // the handle before the last build's, until idle()
  RepositoryPtr next_;     // opened by idle() for the next build
  FileCache files_;
  std::optional<PlainState> plain_;
  CommitInfoCache commits_;
  ProvenanceTracker provenance_;
  std::unique_ptr<desired::flux::Builder> flux_;      // with spec.flux: its caches live across builds
  std::unique_ptr<desired::argocd::Builder> argocd_;  // with spec.argocd
  using SignersVersion =
      std::pair<std::filesystem::file_time_type, uintmax_t>;  // mtime, size; {} when unreadable
  std::optional<SignersVersion> signers_version_;
  std::string signers_error_;    // the allowed_signers file could not be loaded
  std::string signers_problem_;  // reported with every snapshot: load error, or lines skipped
  Stats stats_;
  std::string fingerprint_;
  std::map<std::string, std::string> other_errors_;  // by url '\n' ref
};

}  // namespace gitgate::gitstate
