// The last commit that changed each file: for every file of a snapshot, the newest commit (walking from the
// head, newest first) that gave the file its current content: its blob differs from every parent's. Merges
// that took the file from one side are not counted, so the answer is the commit that made the change.
//
// Incremental: when the new head descends from the previous one, only the new commits are walked; a file
// none of them changed keeps its previous answer, and only a file whose change is not found there (a revert
// to older content reached through a merge, say) costs a walk of the whole history. Any other head (force
// push, another branch) starts over. Walks stop after `max_commits`; beyond, a file has no answer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <git2.h>

namespace gitgate::gitstate {

struct FileAtHead {
  std::string path;
  git_oid blob;
};

class ProvenanceTracker {
 public:
  explicit ProvenanceTracker(size_t max_commits = 10000) : max_commits_(max_commits) {}

  // The commit that last changed each of `files`, in the same order; nullopt: no answer within the limit.
  // `pathspec` narrows the tree diffs (the source's paths; empty for the whole tree). `cancel_fd` readable
  // aborts the walk.
  std::vector<std::optional<git_oid>> update(git_repository* repo, const git_oid& head,
                                             const std::vector<FileAtHead>& files,
                                             const std::vector<std::string>& pathspec, int cancel_fd);

  // update() for a head that descends from the last one, answering only for the files whose answer may
  // have moved: those of `changed` (added since the last head, or another blob) and the files the new
  // commits touched. `deleted`: files gone since the last head, forgotten. Costs in proportion to the new
  // commits, not to the files of the tree. nullopt when `head` does not descend from the last update's head
  // (call update() then).
  struct Answer {
    std::string path;
    std::optional<git_oid> commit;
  };
  std::optional<std::vector<Answer>> update_changed(git_repository* repo, const git_oid& head,
                                                    const std::vector<FileAtHead>& changed,
                                                    const std::vector<std::string>& deleted,
                                                    const std::vector<std::string>& pathspec, int cancel_fd);

  // Commits examined by the last update(): how incremental it was.
  size_t commits_walked() const { return walked_; }

 private:
  struct Known {
    git_oid blob;
    std::optional<git_oid> commit;
    uint64_t build = 0;  // the update() that last saw the file
  };
  // One update's files: where each path is, which are still without an answer, and the answers.
  struct Search;

  // Walks from `head` (not into `hide`) and answers the wanted files whose change it finds.
  void search(git_repository* repo, const git_oid& head, const git_oid* hide, Search& s,
              const std::vector<std::string>& pathspec, int cancel_fd);
  // The new commits first, then the known answers of files whose content did not move, then the whole
  // history for what is left.
  void answer(git_repository* repo, const git_oid& head, bool descends, Search& s,
              const std::vector<std::string>& pathspec, int cancel_fd);

  size_t max_commits_;
  size_t walked_ = 0;
  std::optional<git_oid> head_;
  std::unordered_map<std::string, Known> known_;  // kept between updates, changed in place
  uint64_t builds_ = 0;
};

}  // namespace gitgate::gitstate
