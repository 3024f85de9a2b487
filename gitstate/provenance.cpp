#include "gitstate/provenance.h"

#include <poll.h>

#include <string_view>
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

// The files of `to` whose content differs from `from`'s: added, or another blob (a change of mode alone is
// not one). `from` null: every file.
std::vector<Changed> changed(git_repository* repo, git_tree* from, git_tree* to,
                             const std::vector<std::string>& pathspec) {
  std::vector<TreeChange> changes;
  std::vector<Changed> out;
  if (!diff_trees(repo, from, to, pathspec, changes)) return out;
  for (auto& c : changes) {
    if (c.new_mode == 0 || (c.old_mode != 0 && git_oid_equal(&c.old_id, &c.new_id))) continue;
    out.push_back({std::move(c.path), c.new_id});
  }
  return out;
}

TreePtr tree_of(git_commit* commit) {
  git_tree* raw = nullptr;
  git_commit_tree(&raw, commit);
  return TreePtr(raw);
}

}  // namespace

struct ProvenanceTracker::Search {
  const std::vector<FileAtHead>& files;
  std::unordered_map<std::string_view, uint32_t> at;  // path -> its first position in `files`
  std::vector<char> wanted;                           // by position: still without an answer
  size_t remaining = 0;
  std::vector<std::optional<git_oid>> answers;

  explicit Search(const std::vector<FileAtHead>& f) : files(f), wanted(f.size(), 0), answers(f.size()) {
    at.reserve(files.size());
    for (uint32_t i = 0; i < files.size(); ++i) at.emplace(files[i].path, i);
  }
  void want(uint32_t i) {
    if (!wanted[i]) ++remaining;
    wanted[i] = 1;
  }
  void answer(uint32_t i, std::optional<git_oid> commit) {
    if (wanted[i]) --remaining;
    wanted[i] = 0;
    answers[i] = commit;
  }
  // The position of a path the walk still looks for whose content at `blob` is the head's.
  std::optional<uint32_t> wanted_at(std::string_view path, const git_oid& blob) const {
    auto it = at.find(path);
    if (it == at.end() || !wanted[it->second] || !git_oid_equal(&blob, &files[it->second].blob))
      return std::nullopt;
    return it->second;
  }
};

void ProvenanceTracker::search(git_repository* repo, const git_oid& head, const git_oid* hide, Search& s,
                               const std::vector<std::string>& pathspec, int cancel_fd) {
  if (s.remaining == 0) return;
  git_revwalk* raw_walk = nullptr;
  if (git_revwalk_new(&raw_walk, repo) != 0) return;
  RevwalkPtr walk(raw_walk);
  git_revwalk_sorting(walk.get(), GIT_SORT_TIME);
  if (git_revwalk_push(walk.get(), &head) != 0) return;
  if (hide != nullptr) git_revwalk_hide(walk.get(), hide);

  git_oid id;
  for (size_t budget = max_commits_; budget > 0 && s.remaining > 0 && git_revwalk_next(&id, walk.get()) == 0;
       --budget) {
    ++walked_;
    if (walked_ % 64 == 0 && cancelled(cancel_fd)) break;
    git_commit* raw_commit = nullptr;
    if (git_commit_lookup(&raw_commit, repo, &id) != 0) continue;
    CommitPtr commit(raw_commit);
    TreePtr tree = tree_of(commit.get());
    unsigned parents = git_commit_parentcount(commit.get());
    // The files this commit gave their head content: changed from the first parent, or added by a root commit
    // (a diff from no tree). One tree diff each, never a lookup per file: trees too large for libgit2's
    // object cache would be read and hashed again for every path.
    std::vector<uint32_t> introduced;
    TreePtr first_parent_tree;
    if (parents > 0) {
      git_commit* raw_parent = nullptr;
      if (git_commit_parent(&raw_parent, commit.get(), 0) != 0) continue;
      CommitPtr first_parent(raw_parent);
      first_parent_tree = tree_of(first_parent.get());
    }
    for (const auto& delta : changed(repo, first_parent_tree.get(), tree.get(), pathspec))
      if (auto i = s.wanted_at(delta.path, delta.blob)) introduced.push_back(*i);
    // A merge that took the content from another parent did not make the change: a path the diff from that
    // parent does not list has the same content there.
    for (unsigned p = 1; p < parents && !introduced.empty(); ++p) {
      git_commit* raw_parent = nullptr;
      if (git_commit_parent(&raw_parent, commit.get(), p) != 0) continue;
      CommitPtr other(raw_parent);
      TreePtr other_tree = tree_of(other.get());
      std::unordered_set<std::string> differs;
      for (auto& delta : changed(repo, other_tree.get(), tree.get(), pathspec))
        differs.insert(std::move(delta.path));
      std::erase_if(introduced, [&](uint32_t i) { return differs.count(s.files[i].path) == 0; });
    }
    for (uint32_t i : introduced) s.answer(i, id);
  }
}

std::vector<std::optional<git_oid>> ProvenanceTracker::update(git_repository* repo, const git_oid& head,
                                                              const std::vector<FileAtHead>& files,
                                                              const std::vector<std::string>& pathspec,
                                                              int cancel_fd) {
  walked_ = 0;
  ++builds_;
  Search s(files);
  bool descends =
      head_ && (git_oid_equal(&*head_, &head) || git_graph_descendant_of(repo, &head, &*head_) == 1);
  answer(repo, head, descends, s, pathspec, cancel_fd);

  // Remember every file's answer for the next update, in place: a rebuild of a large tree allocates nothing
  // for the files it already knew.
  for (const auto& [path, i] : s.at) known_[files[i].path] = {files[i].blob, s.answers[i], builds_};
  if (known_.size() != s.at.size())
    std::erase_if(known_, [&](const auto& k) { return k.second.build != builds_; });
  head_ = head;
  // A path listed twice has its first position's answer.
  for (uint32_t i = 0; s.at.size() != files.size() && i < files.size(); ++i) {
    uint32_t first = s.at.at(files[i].path);
    if (first != i) s.answers[i] = s.answers[first];
  }
  return std::move(s.answers);
}

void ProvenanceTracker::answer(git_repository* repo, const git_oid& head, bool descends, Search& s,
                               const std::vector<std::string>& pathspec, int cancel_fd) {
  for (const auto& [path, i] : s.at) s.want(i);
  if (descends) {
    // The new commits first: they hold the change of every file whose content moved since the last head.
    // A file none of them changed keeps its answer when its content is the one known.
    search(repo, head, &*head_, s, pathspec, cancel_fd);
    for (const auto& [path, i] : s.at) {
      if (!s.wanted[i]) continue;
      auto known = known_.find(s.files[i].path);
      if (known != known_.end() && git_oid_equal(&known->second.blob, &s.files[i].blob))
        s.answer(i, known->second.commit);
    }
  }
  search(repo, head, nullptr, s, pathspec, cancel_fd);
}

std::optional<std::vector<ProvenanceTracker::Answer>> ProvenanceTracker::update_changed(
    git_repository* repo, const git_oid& head, const std::vector<FileAtHead>& changed,
    const std::vector<std::string>& deleted, const std::vector<std::string>& pathspec, int cancel_fd) {
  if (!head_ || !(git_oid_equal(&*head_, &head) || git_graph_descendant_of(repo, &head, &*head_) == 1))
    return std::nullopt;
  walked_ = 0;
  ++builds_;
  for (const auto& path : deleted) known_.erase(path);
  // The files the new commits touched (first-parent diffs, as search() reads them) whose content did not
  // move: a change and its revert among the new commits, a merge.
  std::vector<FileAtHead> files = changed;
  std::unordered_set<std::string> listed;
  for (const auto& f : files) listed.insert(f.path);
  git_revwalk* raw_walk = nullptr;
  if (git_revwalk_new(&raw_walk, repo) != 0) return std::nullopt;
  RevwalkPtr walk(raw_walk);
  if (git_revwalk_push(walk.get(), &head) != 0 || git_revwalk_hide(walk.get(), &*head_) != 0)
    return std::nullopt;
  std::vector<std::string> touched;
  git_oid id;
  for (size_t budget = max_commits_; budget > 0 && git_revwalk_next(&id, walk.get()) == 0; --budget) {
    if (budget % 64 == 0 && cancelled(cancel_fd)) return std::nullopt;
    git_commit* raw_commit = nullptr;
    if (git_commit_lookup(&raw_commit, repo, &id) != 0) return std::nullopt;
    CommitPtr commit(raw_commit);
    TreePtr parent_tree;
    if (git_commit_parentcount(commit.get()) > 0) {
      git_commit* raw_parent = nullptr;
      if (git_commit_parent(&raw_parent, commit.get(), 0) != 0) return std::nullopt;
      CommitPtr parent(raw_parent);
      parent_tree = tree_of(parent.get());
    }
    TreePtr tree = tree_of(commit.get());
    for (auto& delta : gitstate::changed(repo, parent_tree.get(), tree.get(), pathspec))
      touched.push_back(std::move(delta.path));
  }
  for (const auto& path : touched) {
    auto known = known_.find(path);
    if (known == known_.end() || listed.count(path) != 0) continue;
    files.push_back({path, known->second.blob});
    listed.insert(path);
  }
  Search s(files);
  answer(repo, head, true, s, pathspec, cancel_fd);
  std::vector<Answer> answers;
  answers.reserve(files.size());
  for (uint32_t i = 0; i < files.size(); ++i) {
    known_[files[i].path] = {files[i].blob, s.answers[i], builds_};
    answers.push_back({files[i].path, s.answers[i]});
  }
  head_ = head;
  return answers;
}

}  // namespace gitgate::gitstate
