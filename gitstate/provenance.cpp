#include "gitstate/provenance.h"

#include <poll.h>

#include "gitstate/git.h"

namespace gitgate::gitstate {
namespace {

bool cancelled(int fd) {
  if (fd < 0) return false;
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) > 0;
}

std::optional<git_oid> blob_at(git_tree* tree, const std::string& path) {
  git_tree_entry* raw = nullptr;
  if (git_tree_entry_bypath(&raw, tree, path.c_str()) != 0) return std::nullopt;
  TreeEntryPtr entry(raw);
  return *git_tree_entry_id(entry.get());
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
    std::vector<std::string> introduced;
    if (parents == 0) {
      for (const auto& [path, blob] : targets) {
        auto here = blob_at(tree.get(), path);
        if (here && git_oid_equal(&*here, &blob)) introduced.push_back(path);
      }
    } else {
      git_commit* raw_parent = nullptr;
      if (git_commit_parent(&raw_parent, commit.get(), 0) != 0) continue;
      CommitPtr first_parent(raw_parent);
      TreePtr parent_tree = tree_of(first_parent.get());
      git_diff* raw_diff = nullptr;
      if (git_diff_tree_to_tree(&raw_diff, repo, parent_tree.get(), tree.get(), &diff_options) != 0) continue;
      DiffPtr diff(raw_diff);
      for (size_t i = 0, n = git_diff_num_deltas(diff.get()); i < n; ++i) {
        const git_diff_delta* delta = git_diff_get_delta(diff.get(), i);
        if (delta->status == GIT_DELTA_DELETED || delta->new_file.path == nullptr) continue;
        auto target = targets.find(delta->new_file.path);
        if (target != targets.end() && git_oid_equal(&delta->new_file.id, &target->second))
          introduced.push_back(target->first);
      }
      // A merge that took the content from another parent did not make the change.
      for (unsigned p = 1; p < parents && !introduced.empty(); ++p) {
        if (git_commit_parent(&raw_parent, commit.get(), p) != 0) continue;
        CommitPtr other(raw_parent);
        TreePtr other_tree = tree_of(other.get());
        std::erase_if(introduced, [&](const std::string& path) {
          auto there = blob_at(other_tree.get(), path);
          return there && git_oid_equal(&*there, &targets.at(path));
        });
      }
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
