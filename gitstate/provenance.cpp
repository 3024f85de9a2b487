#include "gitstate/provenance.h"

#include <poll.h>

#include <unordered_set>

#include "gitstate/git.h"

namespace gitgate::gitstate {
namespace {

bool cancelled(int fd) {
  if (fd < 0) return false;
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) > 0;
}

struct Changed {
  std::string path;
  git_oid blob;  // the content in `to`
};

// The files of `to` whose content differs from `from`'s: added, or another blob (a change of mode alone is not
// one). `from` null: every file.
std::vector<Changed> changed(git_repository* repo, git_tree* from, git_tree* to, const git_diff_options& options) {
  std::vector<Changed> out;
  git_diff* raw_diff = nullptr;
  if (git_diff_tree_to_tree(&raw_diff, repo, from, to, &options) != 0) return out;
  DiffPtr diff(raw_diff);
  for (size_t i = 0, n = git_diff_num_deltas(diff.get()); i < n; ++i) {
    const git_diff_delta* delta = git_diff_get_delta(diff.get(), i);
    if (delta->status == GIT_DELTA_DELETED || delta->new_file.path == nullptr) continue;
    if (delta->status == GIT_DELTA_MODIFIED && git_oid_equal(&delta->old_file.id, &delta->new_file.id)) continue;
    out.push_back({delta->new_file.path, delta->new_file.id});
  }
  return out;
}

TreePtr tree_of(git_commit* commit) {
  git_tree* raw = nullptr;
  git_commit_tree(&raw, commit);
  return TreePtr(raw);
}

}  // namespace

std::unordered_map<std::string, git_oid> ProvenanceTracker::search(
    git_repository* repo, const git_oid& head, const git_oid* hide,
    std::unordered_map<std::string, git_oid> targets, const std::vector<std::string>& pathspec,
    int cancel_fd) {
  std::unordered_map<std::string, git_oid> found;
  if (targets.empty()) return found;
  git_revwalk* raw_walk = nullptr;
  if (git_revwalk_new(&raw_walk, repo) != 0) return found;
  RevwalkPtr walk(raw_walk);
  git_revwalk_sorting(walk.get(), GIT_SORT_TIME);
  if (git_revwalk_push(walk.get(), &head) != 0) return found;
  if (hide != nullptr) git_revwalk_hide(walk.get(), hide);

  std::vector<char*> specs;
  for (const auto& p : pathspec) specs.push_back(const_cast<char*>(p.c_str()));
  git_diff_options diff_options;
  git_diff_options_init(&diff_options, GIT_DIFF_OPTIONS_VERSION);
  diff_options.flags = GIT_DIFF_SKIP_BINARY_CHECK;
  diff_options.pathspec = {specs.data(), specs.size()};

  git_oid id;
  for (size_t budget = max_commits_; budget > 0 && !targets.empty() && git_revwalk_next(&id, walk.get()) == 0;
       --budget) {
    ++walked_;
    if (walked_ % 64 == 0 && cancelled(cancel_fd)) break;
    git_commit* raw_commit = nullptr;
    if (git_commit_lookup(&raw_commit, repo, &id) != 0) continue;
    CommitPtr commit(raw_commit);
    TreePtr tree = tree_of(commit.get());
    unsigned parents = git_commit_parentcount(commit.get());
    // The files this commit gave their head content: changed from the first parent, or added by a root commit
    // (a diff from no tree). One tree diff each, never a lookup per file: trees too large for libgit2's object
    // cache would be read and hashed again for every path.
    std::vector<std::string> introduced;
    TreePtr first_parent_tree;
    if (parents > 0) {
      git_commit* raw_parent = nullptr;
      if (git_commit_parent(&raw_parent, commit.get(), 0) != 0) continue;
      CommitPtr first_parent(raw_parent);
      first_parent_tree = tree_of(first_parent.get());
    }
    for (const auto& delta : changed(repo, first_parent_tree.get(), tree.get(), diff_options)) {
      auto target = targets.find(delta.path);
      if (target != targets.end() && git_oid_equal(&delta.blob, &target->second))
        introduced.push_back(target->first);
    }
    // A merge that took the content from another parent did not make the change: a path the diff from that
    // parent does not list has the same content there.
    for (unsigned p = 1; p < parents && !introduced.empty(); ++p) {
      git_commit* raw_parent = nullptr;
      if (git_commit_parent(&raw_parent, commit.get(), p) != 0) continue;
      CommitPtr other(raw_parent);
      TreePtr other_tree = tree_of(other.get());
      std::unordered_set<std::string> differs;
      for (auto& delta : changed(repo, other_tree.get(), tree.get(), diff_options))
        differs.insert(std::move(delta.path));
      std::erase_if(introduced, [&](const std::string& path) { return differs.count(path) == 0; });
    }
    for (const auto& path : introduced) {
      found[path] = id;
      targets.erase(path);
    }
  }
  return found;
}

std::unordered_map<std::string, git_oid> ProvenanceTracker::update(git_repository* repo, const git_oid& head,
                                                                   const std::vector<FileAtHead>& files,
                                                                   const std::vector<std::string>& pathspec,
                                                                   int cancel_fd) {
  walked_ = 0;
  std::unordered_map<std::string, git_oid> targets;
  for (const auto& f : files) targets.emplace(f.path, f.blob);

  std::unordered_map<std::string, git_oid> answers;
  std::unordered_map<std::string, git_oid> unresolved;
  bool descends =
      head_ && (git_oid_equal(&*head_, &head) || git_graph_descendant_of(repo, &head, &*head_) == 1);
  if (descends) {
    // The new commits first: they hold the change of every file whose content moved since the last head.
    answers = search(repo, head, &*head_, targets, pathspec, cancel_fd);
    for (const auto& [path, blob] : targets) {
      if (answers.count(path) != 0) continue;
      auto known = known_.find(path);
      if (known != known_.end() && git_oid_equal(&known->second.blob, &blob)) {
        if (known->second.commit) answers.emplace(path, *known->second.commit);
      } else {
        unresolved.emplace(path, blob);
      }
    }
  } else {
    unresolved = std::move(targets);
  }
  for (auto& [path, commit] : search(repo, head, nullptr, std::move(unresolved), pathspec, cancel_fd))
    answers.emplace(path, commit);

  known_.clear();
  for (const auto& f : files) {
    auto answer = answers.find(f.path);
    known_[f.path] = {f.blob,
                      answer == answers.end() ? std::nullopt : std::optional<git_oid>(answer->second)};
  }
  head_ = head;
  return answers;
}

}  // namespace gitgate::gitstate
