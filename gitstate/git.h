// Small RAII wrappers and error text for libgit2, shared by the fetch child and the snapshot builder.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <git2.h>

namespace gitgate::gitstate {

template <class T, void (*Free)(T*)>
struct GitFree {
  void operator()(T* p) const { Free(p); }
};
template <class T, void (*Free)(T*)>
using GitPtr = std::unique_ptr<T, GitFree<T, Free>>;

using RepositoryPtr = GitPtr<git_repository, git_repository_free>;
using CommitPtr = GitPtr<git_commit, git_commit_free>;
using TreePtr = GitPtr<git_tree, git_tree_free>;
using TreeEntryPtr = GitPtr<git_tree_entry, git_tree_entry_free>;
using BlobPtr = GitPtr<git_blob, git_blob_free>;
using OdbPtr = GitPtr<git_odb, git_odb_free>;
using RevwalkPtr = GitPtr<git_revwalk, git_revwalk_free>;
using DiffPtr = GitPtr<git_diff, git_diff_free>;
using RemotePtr = GitPtr<git_remote, git_remote_free>;

// Initialises libgit2 once per process and cuts it off from the user's and system's Git configuration
// (a ~/.gitconfig must not redirect URLs or change behaviour); repository ownership is not checked, since
// gitgate owns its cache directory whatever uid the volume belongs to.
void ensure_libgit2();

// The message of the last libgit2 error on this thread, or a generic one naming `code`.
std::string git_error_text(int code);

std::string oid_hex(const git_oid& oid);

// Whether `path` is `dir` or lies below it ("" is the root: every path).
bool at_or_below(std::string_view path, std::string_view dir);

// An entry that differs between two trees. A side where the path is absent, or is a directory, has mode 0.
struct TreeChange {
  std::string path;
  git_filemode_t old_mode = static_cast<git_filemode_t>(0);
  git_oid old_id{};
  git_filemode_t new_mode = static_cast<git_filemode_t>(0);
  git_oid new_id{};
};

// The files, links and submodules at or below `paths` (normalised; "" or no paths: the whole tree) that
// differ between `from` (null: an empty tree) and `to`. Reads only the subtrees whose ids differ, so a commit
// that changes one file costs a few tree reads however large the tree is (libgit2's diff visits every entry
// of both). False when a tree cannot be read.
bool diff_trees(git_repository* repo, const git_tree* from, const git_tree* to,
                const std::vector<std::string>& paths, std::vector<TreeChange>& out);

// The private ref a fetch updates in the cache repository.
inline constexpr const char* kFetchedRef = "refs/gitgate/head";

}  // namespace gitgate::gitstate
