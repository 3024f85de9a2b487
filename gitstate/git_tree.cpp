#include "gitstate/git_tree.h"

#include "gitstate/git.h"

namespace gitgate::gitstate {

std::optional<std::string> GitTree::read(const std::string& path) const {
  if (path.empty()) return std::nullopt;
  git_tree_entry* raw = nullptr;
  if (git_tree_entry_bypath(&raw, tree_, path.c_str()) != 0) return std::nullopt;
  TreeEntryPtr entry(raw);
  git_filemode_t mode = git_tree_entry_filemode(entry.get());
  if (mode != GIT_FILEMODE_BLOB && mode != GIT_FILEMODE_BLOB_EXECUTABLE) return std::nullopt;
  git_blob* raw_blob = nullptr;
  if (git_blob_lookup(&raw_blob, repo_, git_tree_entry_id(entry.get())) != 0) return std::nullopt;
  BlobPtr blob(raw_blob);
  if (static_cast<uint64_t>(git_blob_rawsize(blob.get())) > limits_.max_file_bytes) return std::nullopt;
  return std::string(static_cast<const char*>(git_blob_rawcontent(blob.get())),
                     static_cast<size_t>(git_blob_rawsize(blob.get())));
}

std::vector<desired::SourceTree::Entry> GitTree::list(const std::string& directory) const {
  std::vector<Entry> out;
  TreePtr owned;
  git_tree* dir = tree_;
  if (!directory.empty()) {
    git_tree_entry* raw = nullptr;
    if (git_tree_entry_bypath(&raw, tree_, directory.c_str()) != 0) return out;
    TreeEntryPtr entry(raw);
    if (git_tree_entry_filemode(entry.get()) != GIT_FILEMODE_TREE) return out;
    git_tree* sub = nullptr;
    if (git_tree_lookup(&sub, repo_, git_tree_entry_id(entry.get())) != 0) return out;
    owned.reset(sub);
    dir = sub;
  }
  for (size_t i = 0, n = git_tree_entrycount(dir); i < n; ++i) {
    const git_tree_entry* e = git_tree_entry_byindex(dir, i);
    git_filemode_t mode = git_tree_entry_filemode(e);
    if (mode == GIT_FILEMODE_TREE) {
      out.push_back({git_tree_entry_name(e), true});
    } else if (mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE) {
      out.push_back({git_tree_entry_name(e), false});
    }
  }
  return out;
}

std::string GitTree::id(const std::string& path) const {
  if (path.empty()) return oid_hex(*git_tree_id(tree_));
  git_tree_entry* raw = nullptr;
  if (git_tree_entry_bypath(&raw, tree_, path.c_str()) != 0) return {};
  TreeEntryPtr entry(raw);
  return oid_hex(*git_tree_entry_id(entry.get()));
}

gitgate::Status GitTree::export_to(const std::string& directory,
                                   std::vector<gitgate::Problem>& problems) const {
  return export_tree(repo_, tree_, directory, "", limits_, problems);
}

}  // namespace gitgate::gitstate
