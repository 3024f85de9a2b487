#include "gitstate/git.h"

#include <algorithm>
#include <mutex>

namespace gitgate::gitstate {

void ensure_libgit2() {
  static std::once_flag once;
  std::call_once(once, [] {
    git_libgit2_init();
    for (int level : {GIT_CONFIG_LEVEL_PROGRAMDATA, GIT_CONFIG_LEVEL_SYSTEM, GIT_CONFIG_LEVEL_XDG,
                      GIT_CONFIG_LEVEL_GLOBAL})
      git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, level, "");
    git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, 0);
  });
}

std::string git_error_text(int code) {
  const git_error* e = git_error_last();
  if (e != nullptr && e->message != nullptr && e->message[0] != '\0') return e->message;
  return "libgit2 error " + std::to_string(code);
}

std::string oid_hex(const git_oid& oid) {
  char hex[GIT_OID_HEXSZ + 1];
  git_oid_tostr(hex, sizeof hex, &oid);
  return hex;
}

bool at_or_below(std::string_view path, std::string_view dir) {
  return dir.empty() || path == dir ||
         (path.size() > dir.size() && path.starts_with(dir) && path[dir.size()] == '/');
}

namespace {

struct TreeDiffer {
  git_repository* repo;
  const std::vector<std::string>& paths;
  std::vector<TreeChange>& out;

  // A directory that holds one of the paths or lies below one.
  bool wanted_directory(const std::string& dir) const {
    return paths.empty() || std::any_of(paths.begin(), paths.end(), [&](const std::string& p) {
             return at_or_below(dir, p) || at_or_below(p, dir);
           });
  }
  bool wanted(const std::string& path) const {
    return paths.empty() || std::any_of(paths.begin(), paths.end(),
                                        [&](const std::string& p) { return at_or_below(path, p); });
  }
  static bool is_tree(const git_tree_entry* e) {
    return e != nullptr && git_tree_entry_filemode(e) == GIT_FILEMODE_TREE;
  }

  bool subtree(const git_tree_entry* e, TreePtr& tree) {
    if (!is_tree(e)) return true;
    git_tree* raw = nullptr;
    if (git_tree_lookup(&raw, repo, git_tree_entry_id(e)) != 0) return false;
    tree.reset(raw);
    return true;
  }

  bool visit(const git_tree_entry* a, const git_tree_entry* b, const std::string& path) {
    if (is_tree(a) || is_tree(b)) {
      if (wanted_directory(path)) {
        TreePtr ta, tb;
        if (!subtree(a, ta) || !subtree(b, tb) || !walk(ta.get(), tb.get(), path + "/")) return false;
      }
    }
    TreeChange change{path};
    if (a != nullptr && !is_tree(a)) {
      change.old_mode = git_tree_entry_filemode(a);
      change.old_id = *git_tree_entry_id(a);
    }
    if (b != nullptr && !is_tree(b)) {
      change.new_mode = git_tree_entry_filemode(b);
      change.new_id = *git_tree_entry_id(b);
    }
    if ((change.old_mode != 0 || change.new_mode != 0) && wanted(path)) out.push_back(std::move(change));
    return true;
  }

  bool walk(const git_tree* a, const git_tree* b, const std::string& prefix) {
    for (size_t i = 0, n = b ? git_tree_entrycount(b) : 0; i < n; ++i) {
      const git_tree_entry* nb = git_tree_entry_byindex(b, i);
      const git_tree_entry* na = a ? git_tree_entry_byname(a, git_tree_entry_name(nb)) : nullptr;
      if (na != nullptr && git_tree_entry_filemode(na) == git_tree_entry_filemode(nb) &&
          git_oid_equal(git_tree_entry_id(na), git_tree_entry_id(nb)))
        continue;  // the same entry; a subtree with the same id holds the same files
      if (!visit(na, nb, prefix + git_tree_entry_name(nb))) return false;
    }
    for (size_t i = 0, n = a ? git_tree_entrycount(a) : 0; i < n; ++i) {
      const git_tree_entry* na = git_tree_entry_byindex(a, i);
      if (b != nullptr && git_tree_entry_byname(b, git_tree_entry_name(na)) != nullptr) continue;
      if (!visit(na, nullptr, prefix + git_tree_entry_name(na))) return false;
    }
    return true;
  }
};

}  // namespace

bool diff_trees(git_repository* repo, const git_tree* from, const git_tree* to,
                const std::vector<std::string>& paths, std::vector<TreeChange>& out) {
  TreeDiffer differ{repo, paths, out};
  return differ.walk(from, to, "");
}

}  // namespace gitgate::gitstate
