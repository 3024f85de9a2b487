#include "gitstate/snapshot_builder.h"

#include <poll.h>

#include <algorithm>
#include <fstream>

#include "gitstate/fetch_child.h"
#include "gitstate/git_tree.h"
#include "gitstate/remote_url.h"
#include "gitstate/source.h"

namespace gitgate::gitstate {
namespace fs = std::filesystem;

namespace {

// More manifest files than this in one snapshot is refused rather than held in memory.
constexpr size_t kMaxManifestFiles = 200000;
// Commits read back to find what a file that no longer parses declared before.
constexpr size_t kMaxCarryCommits = 1000;

std::string short_id(const std::string& hex) {
  return hex.substr(0, 7);
}

bool is_blob_mode(git_filemode_t mode) {
  return mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE;
}

}  // namespace

Result<std::unique_ptr<SnapshotBuilder>> SnapshotBuilder::create(std::string git_dir, SourceSpec spec,
                                                                 manifests::Limits limits) {
  std::vector<std::string> paths;
  for (const auto& p : spec.paths) {
    auto normalized = manifests::normalize_source_path(p);
    if (!normalized) return std::move(normalized).take_error();
    if (std::find(paths.begin(), paths.end(), *normalized) == paths.end()) paths.push_back(*normalized);
  }
  if (paths.empty()) paths.push_back("");
  return std::unique_ptr<SnapshotBuilder>(
      new SnapshotBuilder(std::move(git_dir), std::move(spec), limits, std::move(paths)));
}

SnapshotBuilder::SnapshotBuilder(std::string git_dir, SourceSpec spec, manifests::Limits limits,
                                 std::vector<std::string> paths)
    : git_dir_(std::move(git_dir)), spec_(std::move(spec)), limits_(limits), paths_(std::move(paths)) {
  if (std::find(paths_.begin(), paths_.end(), "") == paths_.end()) pathspec_ = paths_;
}

Status SnapshotBuilder::open() {
  if (repo_) return Status::Ok();
  ensure_libgit2();
  git_repository* raw = nullptr;
  if (int rc = git_repository_open_bare(&raw, git_dir_.c_str()); rc != 0)
    return Error{"cannot open the cache repository " + git_dir_ + ": " + git_error_text(rc)};
  repo_.reset(raw);
  return Status::Ok();
}

void SnapshotBuilder::idle() {
  retired_.reset();
  if (next_ || !repo_) return;  // nothing built yet: the first build opens its own
  git_repository* raw = nullptr;
  if (git_repository_open_bare(&raw, git_dir_.c_str()) == 0) next_.reset(raw);
}

std::optional<std::string> SnapshotBuilder::fetched_head() {
  std::error_code ec;
  if (!fs::exists(fs::path(git_dir_) / "HEAD", ec) || !open().ok()) return std::nullopt;
  git_oid id;
  if (git_reference_name_to_id(&id, repo_.get(), kFetchedRef) != 0) return std::nullopt;
  return oid_hex(id);
}

Result<bool> SnapshotBuilder::refresh_signers() {
  if (spec_.allowed_signers.empty()) return false;
  std::error_code ec;
  SignersVersion version{fs::last_write_time(spec_.allowed_signers, ec), 0};
  if (!ec) version.second = fs::file_size(spec_.allowed_signers, ec);
  if (ec) version = {};
  bool changed = !signers_version_ || *signers_version_ != version;
  if (changed) {
    signers_version_ = version;
    plain_.reset();  // every commit's signature status is computed again: no snapshot is patched
    auto signers = sshsig::load_allowed_signers(spec_.allowed_signers);
    if (signers) {
      signers_error_.clear();
      signers_problem_.clear();
      for (const auto& skipped : signers->skipped) signers_problem_ += skipped.to_string() + "; ";
      commits_.set_signers(std::move(*signers));
    } else {
      signers_error_ = signers.error();
      signers_problem_ = signers.error();
      commits_.set_signers(std::nullopt);
    }
  }
  if (!signers_error_.empty() && spec_.require_signed_commits)
    return Error{"cannot verify commit signatures: " + signers_error_};
  return changed;
}

Status SnapshotBuilder::collect(git_tree* root, const std::string& path, std::vector<TreeFile>& files,
                                std::vector<Problem>& problems) {
  std::vector<std::pair<TreePtr, std::string>> stack;
  if (path.empty()) {
    git_tree* copy = nullptr;
    if (git_tree_dup(&copy, root) != 0) return Error{"cannot read the root tree: " + git_error_text(-1)};
    stack.emplace_back(TreePtr(copy), "");
  } else {
    git_tree_entry* raw = nullptr;
    if (git_tree_entry_bypath(&raw, root, path.c_str()) != 0)
      return Error{"source path '" + path + "' not found in the commit"};
    TreeEntryPtr entry(raw);
    git_filemode_t mode = git_tree_entry_filemode(entry.get());
    if (mode == GIT_FILEMODE_TREE) {
      git_tree* sub = nullptr;
      if (git_tree_lookup(&sub, repo_.get(), git_tree_entry_id(entry.get())) != 0)
        return Error{"cannot read tree " + path + ": " + git_error_text(-1)};
      stack.emplace_back(TreePtr(sub), path + "/");
    } else if (is_blob_mode(mode)) {
      files.push_back({path, *git_tree_entry_id(entry.get())});
    } else if (mode == GIT_FILEMODE_LINK) {
      problems.push_back({path, 0, "symbolic link, not followed; skipped"});
    } else {
      problems.push_back({path, 0, "submodule (gitlink), not followed; skipped"});
    }
  }
  while (!stack.empty()) {
    auto [tree, prefix] = std::move(stack.back());
    stack.pop_back();
    for (size_t i = 0, n = git_tree_entrycount(tree.get()); i < n; ++i) {
      const git_tree_entry* entry = git_tree_entry_byindex(tree.get(), i);
      std::string name = git_tree_entry_name(entry);
      std::string full = prefix + name;
      switch (git_tree_entry_filemode(entry)) {
        case GIT_FILEMODE_TREE: {
          git_tree* sub = nullptr;
          if (git_tree_lookup(&sub, repo_.get(), git_tree_entry_id(entry)) != 0)
            return Error{"cannot read tree " + full + ": " + git_error_text(-1)};
          stack.emplace_back(TreePtr(sub), full + "/");
          break;
        }
        case GIT_FILEMODE_BLOB:
        case GIT_FILEMODE_BLOB_EXECUTABLE:
          if (manifests::is_manifest_path(name)) files.push_back({full, *git_tree_entry_id(entry)});
          break;
        case GIT_FILEMODE_LINK:
          problems.push_back({full, 0, "symbolic link, not followed; skipped"});
          break;
        case GIT_FILEMODE_COMMIT:
          problems.push_back({full, 0, "submodule (gitlink), not followed; skipped"});
          break;
        default:
          break;
      }
    }
    if (files.size() > kMaxManifestFiles)
      return Error{"more than " + std::to_string(kMaxManifestFiles) +
                   " manifest files under the source paths"};
  }
  return Status::Ok();
}

SnapshotBuilder::ParsedFile& SnapshotBuilder::load(const TreeFile& file, FileCache& next) {
  if (auto it = next.find(file.path); it != next.end() && git_oid_equal(&it->second.blob, &file.blob))
    return it->second;
  if (auto it = files_.find(file.path); it != files_.end() && git_oid_equal(&it->second.blob, &file.blob))
    return next.insert(files_.extract(it)).position->second;  // the node moves; nothing is allocated
  ++stats_.files_parsed;
  return next.insert_or_assign(file.path, parse_blob(file)).first->second;
}

SnapshotBuilder::ParsedFile SnapshotBuilder::parse_blob(const TreeFile& file) {
  ParsedFile parsed;
  parsed.blob = file.blob;
  git_odb* raw_odb = nullptr;
  size_t size = 0;
  git_object_t type = GIT_OBJECT_INVALID;
  int rc = git_repository_odb(&raw_odb, repo_.get());
  OdbPtr odb(raw_odb);
  if (rc == 0) rc = git_odb_read_header(&size, &type, odb.get(), &file.blob);
  if (rc != 0) {
    parsed.problems.push_back({file.path, 0, "cannot read: " + git_error_text(rc) + "; skipped"});
    return parsed;
  }
  if (size > limits_.max_file_bytes) {
    parsed.problems.push_back({file.path, 0,
                               "file is " + std::to_string(size) + " bytes, over the limit of " +
                                   std::to_string(limits_.max_file_bytes) + "; skipped"});
    return parsed;
  }
  git_blob* raw_blob = nullptr;
  if (git_blob_lookup(&raw_blob, repo_.get(), &file.blob) != 0) {
    parsed.problems.push_back({file.path, 0, "cannot read: " + git_error_text(-1) + "; skipped"});
    return parsed;
  }
  BlobPtr blob(raw_blob);
  std::string_view content(static_cast<const char*>(git_blob_rawcontent(blob.get())),
                           static_cast<size_t>(git_blob_rawsize(blob.get())));
  manifests::FileResult result = manifests::parse_file(file.path, content, limits_);
  for (const auto& doc : result.documents)
    parsed.objects.push_back(manifests::declare(doc, file.path, spec_.default_namespace));
  parsed.problems = std::move(result.problems);
  return parsed;
}

// A file that does not parse at `head` (a syntax error, over a limit, a document skipped) must not undeclare
// what it declared: anyone could then change those objects. Its earlier versions are read back along first
// parents, newest first, and each object the current version lacks is kept from the newest version that
// declared it, with that commit as provenance, until a version that parsed whole; at most kMaxCarryCommits.
void SnapshotBuilder::carry_over(const TreeFile& file, ParsedFile& parsed, const git_oid& head, int cancel_fd) {
  parsed.carry_checked = true;
  git_revwalk* raw_walk = nullptr;
  if (git_revwalk_new(&raw_walk, repo_.get()) != 0) return;
  RevwalkPtr walk(raw_walk);
  git_revwalk_simplify_first_parent(walk.get());
  if (git_revwalk_push(walk.get(), &head) != 0) return;

  std::vector<ObjectKey> declared;
  for (const auto& o : parsed.objects) declared.push_back(o->key());
  auto covered = [&](const ObjectKey& k) {
    return std::any_of(declared.begin(), declared.end(), [&](const ObjectKey& d) {
      return d.name == k.name && d.ns == k.ns && d.kind == k.kind && d.group == k.group;
    });
  };
  std::optional<git_oid> version;        // the blob being read back
  std::optional<git_oid> newest_commit;  // the newest commit holding it
  ParsedFile candidate;
  auto take = [&](const git_oid& introduced_by) {
    auto from = commits_.get(repo_.get(), *newest_commit);
    auto introduced = commits_.get(repo_.get(), introduced_by);
    size_t before = parsed.carried.size();
    for (const auto& object : candidate.objects) {
      if (covered(object->key())) continue;
      auto copy = std::make_shared<DeclaredObject>(*object);
      copy->set_last_change(introduced);
      copy->set_carried_from(from);
      declared.push_back(object->key());
      parsed.carried.push_back(std::move(copy));
    }
    if (parsed.carried.size() > before && from)
      parsed.problems.push_back({file.path, 0,
                                 std::to_string(parsed.carried.size() - before) + " object(s) it declared at " +
                                     from->id.substr(0, 7) +
                                     " stay declared until the file parses again or is deleted"});
    return candidate.problems.empty();  // a version that parsed whole: nothing older is needed
  };
  git_oid id;
  git_oid previous{};
  size_t walked = 0;
  for (; walked < kMaxCarryCommits && git_revwalk_next(&id, walk.get()) == 0; ++walked) {
    if (walked % 64 == 63 && cancel_fd >= 0) {
      pollfd p{cancel_fd, POLLIN, 0};
      if (::poll(&p, 1, 0) > 0) return;
    }
    git_commit* raw_commit = nullptr;
    if (git_commit_lookup(&raw_commit, repo_.get(), &id) != 0) break;
    CommitPtr commit(raw_commit);
    git_tree* raw_tree = nullptr;
    if (git_commit_tree(&raw_tree, commit.get()) != 0) break;
    TreePtr tree(raw_tree);
    git_tree_entry* raw_entry = nullptr;
    std::optional<git_oid> blob;
    if (git_tree_entry_bypath(&raw_entry, tree.get(), file.path.c_str()) == 0) {
      TreeEntryPtr entry(raw_entry);
      if (is_blob_mode(git_tree_entry_filemode(entry.get()))) blob = *git_tree_entry_id(entry.get());
    }
    bool same_version = blob && version && git_oid_equal(&*blob, &*version);
    if (same_version) {
      previous = id;
      continue;
    }
    if (version && take(previous)) return;  // `previous`: the oldest commit holding that version
    if (!blob) return;                      // the file did not exist before
    version.reset();
    if (git_oid_equal(&*blob, &file.blob)) continue;  // the broken content itself, further back
    version = *blob;
    newest_commit = id;
    previous = id;
    candidate = parse_blob({file.path, *blob});
  }
  if (version && walked < kMaxCarryCommits) take(previous);  // the first commit holds the last version
}

std::shared_ptr<const CommitInfo> SnapshotBuilder::last_change(const std::optional<git_oid>& answer,
                                                               Output& out) {
  if (!answer) return nullptr;
  auto info = commits_.get(repo_.get(), *answer);
  if (info) out.commits.insert(info->id);
  return info;
}

void SnapshotBuilder::set_last_change(ParsedFile& parsed, const std::shared_ptr<const CommitInfo>& changed_by) {
  if (parsed.last_change == changed_by) return;
  // Same content, another last change (a revert, a force push): new objects; the cached ones may be held by
  // older snapshots and are immutable.
  for (auto& object : parsed.objects) {
    auto copy = std::make_shared<DeclaredObject>(*object);
    copy->set_last_change(changed_by);
    object = std::move(copy);
  }
  parsed.last_change = changed_by;
}

std::vector<int> SnapshotBuilder::path_modes(git_tree* tree) {
  std::vector<int> modes;
  for (const auto& path : paths_) {
    git_tree_entry* raw = nullptr;
    if (path.empty() || git_tree_entry_bypath(&raw, tree, path.c_str()) != 0) {
      modes.push_back(path.empty() ? GIT_FILEMODE_TREE : 0);
      continue;
    }
    TreeEntryPtr entry(raw);
    modes.push_back(git_tree_entry_filemode(entry.get()));
  }
  return modes;
}

bool SnapshotBuilder::covers(const std::string& path, bool problem) const {
  for (const auto& source : paths_) {
    if (path == source) return true;  // a source path that is a file is read whatever its name
    if (at_or_below(path, source) && (problem || manifests::is_manifest_path(path))) return true;
  }
  return false;
}

std::shared_ptr<const Snapshot> SnapshotBuilder::patch_plain(git_tree* tree, const git_oid& head,
                                                             std::shared_ptr<const CommitInfo> info, int cancel_fd) {
  PlainState state = std::move(*plain_);
  plain_.reset();  // until the patch is done: any way out below builds whole
  if (state.patches >= 256 || state.snapshot->patched_files() > std::max<size_t>(64, files_.size() / 32))
    return nullptr;
  if (path_modes(tree) != state.path_modes) return nullptr;  // a source path appeared, went, or changed kind
  git_commit* raw_commit = nullptr;
  if (git_commit_lookup(&raw_commit, repo_.get(), &state.head) != 0) return nullptr;
  CommitPtr old_commit(raw_commit);
  git_tree* raw_tree = nullptr;
  if (git_commit_tree(&raw_tree, old_commit.get()) != 0) return nullptr;
  TreePtr old_tree(raw_tree);

  std::vector<TreeChange> diff;
  if (!diff_trees(repo_.get(), old_tree.get(), tree, paths_, diff)) return nullptr;

  // What the diff says: files of the snapshot changed, added or deleted; links and submodules come and go.
  std::vector<FileAtHead> changed;
  std::vector<std::string> deleted;
  std::vector<std::string> problems_gone;
  std::vector<Problem> problems_new;
  for (const TreeChange& c : diff) {
    bool was_file = is_blob_mode(c.old_mode) && covers(c.path, false);
    bool is_file = is_blob_mode(c.new_mode) && covers(c.path, false);
    if ((c.old_mode == GIT_FILEMODE_LINK || c.old_mode == GIT_FILEMODE_COMMIT) && covers(c.path, true))
      problems_gone.push_back(c.path);
    if ((c.new_mode == GIT_FILEMODE_LINK || c.new_mode == GIT_FILEMODE_COMMIT) && covers(c.path, true))
      problems_new.push_back({c.path, 0,
                              c.new_mode == GIT_FILEMODE_LINK ? "symbolic link, not followed; skipped"
                                                              : "submodule (gitlink), not followed; skipped"});
    if (was_file && !is_file) deleted.push_back(c.path);
    if (is_file && !(was_file && git_oid_equal(&c.old_id, &c.new_id))) changed.push_back({c.path, c.new_id});
  }
  size_t files = files_.size();
  for (const auto& path : deleted) files -= files_.count(path);
  for (const auto& file : changed) files += files_.count(file.path) == 0;
  if (files > kMaxManifestFiles) return nullptr;

  auto answers = provenance_.update_changed(repo_.get(), head, changed, deleted, pathspec_, cancel_fd);
  if (!answers) return nullptr;
  stats_.commits_walked = provenance_.commits_walked();

  Output unused;  // commits are not pruned from the cache until the next whole build
  std::vector<std::string> paths = deleted;
  for (const auto& path : deleted) {
    files_.erase(path);
    state.problem_files.erase(path);
  }
  std::unordered_map<std::string_view, const git_oid*> new_blobs;
  for (const auto& file : changed) new_blobs.emplace(file.path, &file.blob);
  for (const auto& answer : *answers) {
    auto blob = new_blobs.find(answer.path);
    ParsedFile* parsed = nullptr;
    if (blob != new_blobs.end()) {
      ++stats_.files_parsed;
      TreeFile file{answer.path, *blob->second};
      parsed = &files_.insert_or_assign(answer.path, parse_blob(file)).first->second;
      if (!parsed->problems.empty()) carry_over(file, *parsed, head, cancel_fd);
    } else if (auto it = files_.find(answer.path); it != files_.end()) {
      parsed = &it->second;
    } else {
      continue;
    }
    auto changed_by = last_change(answer.commit, unused);
    if (blob == new_blobs.end() && parsed->last_change == changed_by) continue;
    set_last_change(*parsed, changed_by);
    paths.push_back(answer.path);
  }
  std::sort(paths.begin(), paths.end());
  paths.erase(std::unique(paths.begin(), paths.end()), paths.end());

  std::vector<std::shared_ptr<const DeclaredObject>> now;
  for (const auto& path : paths) {
    auto it = files_.find(path);
    if (it == files_.end()) continue;
    const ParsedFile& parsed = it->second;
    now.insert(now.end(), parsed.objects.begin(), parsed.objects.end());
    now.insert(now.end(), parsed.carried.begin(), parsed.carried.end());
    if (parsed.problems.empty()) {
      state.problem_files.erase(path);
    } else {
      state.problem_files.insert(path);
    }
  }
  std::erase_if(state.tree_problems, [&](const Problem& p) {
    return std::find(problems_gone.begin(), problems_gone.end(), p.path) != problems_gone.end() ||
           std::find_if(problems_new.begin(), problems_new.end(), [&](const Problem& n) { return n.path == p.path; }) !=
               problems_new.end();
  });
  state.tree_problems.insert(state.tree_problems.end(), problems_new.begin(), problems_new.end());
  std::stable_sort(state.tree_problems.begin(), state.tree_problems.end(),
                   [](const auto& a, const auto& b) { return a.path < b.path; });

  std::vector<Problem> problems;
  if (!signers_problem_.empty()) problems.push_back({spec_.allowed_signers, 0, signers_problem_});
  problems.insert(problems.end(), state.tree_problems.begin(), state.tree_problems.end());
  for (const auto& path : state.problem_files) {
    const auto& p = files_.at(path).problems;
    problems.insert(problems.end(), p.begin(), p.end());
  }
  auto snapshot = Snapshot::patch(state.snapshot, std::move(info), paths, std::move(now), std::move(problems));
  if (!snapshot) return nullptr;
  stats_.files = files_.size();
  state.head = head;
  state.snapshot = snapshot;
  ++state.patches;
  plain_ = std::move(state);
  return snapshot;
}

Status SnapshotBuilder::build_plain(git_tree* tree, const git_oid& head, int cancel_fd, Output& out) {
  plain_.reset();
  std::vector<TreeFile> files;
  std::vector<Problem> tree_problems;
  for (const auto& path : paths_)
    if (Status s = collect(tree, path, files, tree_problems); !s.ok()) return s;
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
  files.erase(
      std::unique(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.path == b.path; }),
      files.end());
  std::sort(tree_problems.begin(), tree_problems.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
  out.problems.insert(out.problems.end(), tree_problems.begin(), tree_problems.end());
  PlainState state;
  state.head = head;
  state.tree_problems = std::move(tree_problems);
  state.path_modes = path_modes(tree);

  std::vector<FileAtHead> targets;
  for (const auto& f : files) targets.push_back({f.path, f.blob});
  auto answers = provenance_.update(repo_.get(), head, targets, pathspec_, cancel_fd);
  stats_.commits_walked = provenance_.commits_walked();

  FileCache next;
  for (size_t i = 0; i < files.size(); ++i) {
    const TreeFile& f = files[i];
    ParsedFile& parsed = load(f, next);
    if (!parsed.problems.empty() && !parsed.carry_checked) carry_over(f, parsed, head, cancel_fd);
    for (const auto& object : parsed.carried) {
      out.commits.insert(object->carried_from()->id);
      if (object->last_change()) out.commits.insert(object->last_change()->id);
    }
    set_last_change(parsed, last_change(answers[i], out));
    out.objects.insert(out.objects.end(), parsed.objects.begin(), parsed.objects.end());
    out.objects.insert(out.objects.end(), parsed.carried.begin(), parsed.carried.end());
    out.problems.insert(out.problems.end(), parsed.problems.begin(), parsed.problems.end());
    if (!parsed.problems.empty()) state.problem_files.insert(f.path);
  }
  stats_.files = files.size();
  files_ = std::move(next);
  plain_ = std::move(state);  // its snapshot is set by build()
  return Status::Ok();
}

Status SnapshotBuilder::build_rendered(git_tree* tree, const git_oid& head, int cancel_fd, Output& out) {
  FileCache next;
  std::unordered_map<std::string, git_oid> sources;
  auto blob_of = [&](const std::string& path) -> std::optional<git_oid> {
    git_tree_entry* raw = nullptr;
    if (git_tree_entry_bypath(&raw, tree, path.c_str()) != 0) return std::nullopt;
    TreeEntryPtr entry(raw);
    if (!is_blob_mode(git_tree_entry_filemode(entry.get()))) return std::nullopt;
    return *git_tree_entry_id(entry.get());
  };
  std::vector<std::shared_ptr<DeclaredObject>> objects;
  // Every source path is a kustomization of its own, as Flux and Argo CD build each one.
  for (const std::string& directory : paths_) {
    RenderLimits render_limits;
    render_limits.max_file_bytes = limits_.max_file_bytes;
    auto rendered = render_kustomize(repo_.get(), tree, directory, spec_, render_limits, cancel_fd);
    if (!rendered) return Error{rendered.error()};
    out.problems.insert(out.problems.end(), rendered->problems.begin(), rendered->problems.end());

    manifests::Limits output_limits = limits_;
    output_limits.max_file_bytes = render_limits.max_output_bytes;
    output_limits.max_nodes = std::max<uint64_t>(limits_.max_nodes, rendered->output.size());
    manifests::ParseOptions options;
    options.kustomize_origin = true;
    auto parsed = manifests::parse_file(rendered->kustomization + " (kustomize build)", rendered->output,
                                        output_limits, options);
    out.problems.insert(out.problems.end(), parsed.problems.begin(), parsed.problems.end());

    // Each object is attributed to the file kustomize names, found in the tree; else to the kustomization.
    if (auto blob = blob_of(rendered->kustomization)) sources.emplace(rendered->kustomization, *blob);
    for (manifests::Document& doc : parsed.documents) {
      std::string file = rendered->kustomization;
      doc.line = 1;
      doc.column = 1;
      if (!doc.origin.empty()) {
        std::string candidate = (fs::path(directory) / doc.origin).lexically_normal().generic_string();
        auto blob = candidate.starts_with("..") ? std::nullopt : blob_of(candidate);
        if (blob) {
          file = candidate;
          sources.emplace(file, *blob);
          // The object's position in its file, when the file declares it under the same kind and (possibly
          // prefixed or suffixed) name.
          for (const auto& original : load({file, *blob}, next).objects) {
            if (original->key().kind != doc.kind || doc.name.find(original->key().name) == std::string::npos)
              continue;
            doc.line = original->line();
            doc.column = original->column();
            break;
          }
        }
      }
      objects.push_back(manifests::declare(doc, file, spec_.default_namespace));
    }
  }
  files_ = std::move(next);

  std::vector<FileAtHead> targets;
  for (const auto& [path, blob] : sources) targets.push_back({path, blob});
  auto answers = provenance_.update(repo_.get(), head, targets, {}, cancel_fd);
  stats_.commits_walked = provenance_.commits_walked();
  stats_.files = sources.size();
  std::unordered_map<std::string, std::shared_ptr<const CommitInfo>> changed_by;
  for (size_t i = 0; i < targets.size(); ++i) changed_by[targets[i].path] = last_change(answers[i], out);
  for (auto& object : objects) {
    auto found = changed_by.find(object->file());
    object->set_last_change(found == changed_by.end() ? nullptr : found->second);
    out.objects.push_back(std::move(object));
  }
  return Status::Ok();
}

void SnapshotBuilder::note_other_fetch(const OtherRepository& other, std::string error) {
  other_errors_[other.url + "\n" + other.ref()] = std::move(error);
}

namespace {

// One of spec.repositories opened at the commit its cache repository holds, for one build.
struct OpenedOther {
  RepositoryPtr repo;
  CommitPtr commit;
  TreePtr tree;
  std::unique_ptr<GitTree> view;
};

}  // namespace

// The object graph of the GitOps agent (desired/): Flux's from spec.flux.path, Argo CD's from
// spec.argocd.path. What the agent would apply, each object with its provenance chain, the commits that last
// changed the files it cites.
Status SnapshotBuilder::build_desired(git_tree* tree, const git_oid& head, int cancel_fd, Output& out) {
  RenderLimits limits;
  limits.max_file_bytes = limits_.max_file_bytes;
  GitTree view(repo_.get(), tree, limits);
  std::vector<OpenedOther> opened(spec_.repositories.size());
  std::vector<desired::OtherTree> others;
  std::string cache_dir_of_others = fs::path(git_dir_).parent_path().string();
  for (size_t i = 0; i < spec_.repositories.size(); ++i) {
    const auto& repository = spec_.repositories[i];
    desired::OtherTree other{repository, nullptr, "", "", "", ""};
    auto error = other_errors_.find(repository.url + "\n" + repository.ref());
    std::string fetch_error = error == other_errors_.end() ? "not fetched yet" : error->second;
    std::string dir = cache_repository(cache_dir_of_others, repository);
    if (!repository.semver.empty()) {
      // The tag the last fetch resolved the range to, named in citations (it is what the cached commit is).
      std::ifstream resolved(fs::path(dir) / kResolvedTagFile, std::ios::binary);
      std::string tag;
      std::getline(resolved, tag);
      int valid = 0;
      if (!tag.empty() && tag.size() <= 255 &&
          git_reference_name_is_valid(&valid, ("refs/tags/" + tag).c_str()) == 0 && valid != 0)
        other.repository.tag = tag;
    }
    git_repository* raw_repo = nullptr;
    git_oid id;
    git_commit* raw_commit = nullptr;
    git_tree* raw_tree = nullptr;
    std::error_code ec;
    if (fs::exists(fs::path(dir) / "HEAD", ec) && git_repository_open_bare(&raw_repo, dir.c_str()) == 0) {
      opened[i].repo.reset(raw_repo);
      if (git_reference_name_to_id(&id, raw_repo, kFetchedRef) == 0 && git_commit_lookup(&raw_commit, raw_repo, &id) == 0) {
        opened[i].commit.reset(raw_commit);
        if (git_commit_tree(&raw_tree, raw_commit) == 0) {
          opened[i].tree.reset(raw_tree);
          opened[i].view = std::make_unique<GitTree>(raw_repo, raw_tree, limits);
          other.tree = opened[i].view.get();
          other.commit = oid_hex(id);
          if (repository.oci()) {
            std::ifstream digest(fs::path(dir) / kArtifactDigestFile, std::ios::binary);
            std::getline(digest, other.digest);
            if (other.digest.size() > 71) other.digest.clear();
          }
          // Signed commits are required of every repository the agent builds from, or a push there would
          // change what is declared without one.
          auto info = commits_.get(raw_repo, id);
          if (spec_.require_signed_commits && repository.oci()) {
            other.tree = nullptr;
            fetch_error = "the policy requires signed commits, and gitgate does not verify OCI artifact signatures "
                          "(cosign, notation)";
          } else if (spec_.require_signed_commits && (!info || info->signature != SignatureStatus::Verified)) {
            other.tree = nullptr;
            fetch_error = "its commit " + short_id(other.commit) + " is " +
                          (info ? std::string(to_string(info->signature)) : std::string("unreadable")) +
                          ", and the policy requires commits verified against " + spec_.allowed_signers;
          }
        }
      }
    }
    auto redacted = parse_remote_url(repository.url);
    std::string name = (repository.oci() ? repository.url
                        : redacted       ? redacted->redacted
                                         : std::string("another repository")) +
                       " " + repository.describe();
    if (other.tree == nullptr) {
      other.problem = fetch_error.empty() ? "its cache holds no commit" : fetch_error;
      // Reported even when nothing builds from it yet: a listed tag or branch that does not exist is a
      // mistake in the policy.
      if (error != other_errors_.end() && !fetch_error.empty())
        out.problems.push_back({"", 0, name + " could not be fetched (" + fetch_error + "); nothing is built from it"});
    } else if (error != other_errors_.end() && !fetch_error.empty()) {  // not when offline: never fetched here
      other.problem = fetch_error;
      out.problems.push_back({"", 0, name + " could not be fetched (" + fetch_error + "); built from " +
                                         short_id(other.commit) + ", the last commit fetched"});
    }
    others.push_back(std::move(other));
  }
  for (auto& other : others) {
    const auto& r = other.repository;
    if (std::count_if(others.begin(), others.end(), [&](const auto& o) { return o.repository.url == r.url; }) > 1)
      other.cited_as = r.url + "@" + r.short_ref();
  }
  std::string cache_dir = git_dir_ + ".desired";
  desired::BuildOutput result;
  if (spec_.argocd) {
    if (!argocd_) {
      desired::argocd::Options options;
      options.spec = spec_;
      options.cache_dir = cache_dir;
      argocd_ = std::make_unique<desired::argocd::Builder>(std::move(options));
    }
    auto built = argocd_->build(view, oid_hex(head), cancel_fd, others);
    stats_.argocd = built.stats;
    result = std::move(built);
  } else {
    if (!flux_) {
      desired::flux::Options options;
      options.spec = spec_;
      options.cache_dir = cache_dir;
      flux_ = std::make_unique<desired::flux::Builder>(std::move(options));
    }
    auto built = flux_->build(view, short_id(oid_hex(head)), cancel_fd, others);
    stats_.flux = built.stats;
    result = std::move(built);
  }
  fingerprint_ = oid_hex(head) + " " + result.fingerprint;

  std::vector<FileAtHead> targets;
  std::map<std::string, std::shared_ptr<const CommitInfo>> commits;
  for (const auto& file : desired::cited_files(result)) {
    // A file of another repository ("<url>//<path>") cites the commit it was read at.
    auto in = std::find_if(others.begin(), others.end(), [&](const desired::OtherTree& o) {
      return o.tree != nullptr && file.starts_with(desired::cite(&o, ""));
    });
    if (in != others.end()) {
      git_oid id;
      auto info = git_oid_fromstr(&id, in->commit.c_str()) == 0
                      ? commits_.get(opened[in - others.begin()].repo.get(), id)
                      : nullptr;
      if (info) {
        out.commits.insert(info->id);
        commits[file] = info;
      }
      continue;
    }
    git_tree_entry* raw = nullptr;
    if (git_tree_entry_bypath(&raw, tree, file.c_str()) != 0) continue;
    TreeEntryPtr entry(raw);
    targets.push_back({file, *git_tree_entry_id(entry.get())});
  }
  auto answers = provenance_.update(repo_.get(), head, targets, {}, cancel_fd);
  stats_.commits_walked = provenance_.commits_walked();
  for (size_t i = 0; i < targets.size(); ++i) commits[targets[i].path] = last_change(answers[i], out);
  desired::set_link_commits(result, commits);
  stats_.files = targets.size();
  out.objects.insert(out.objects.end(), result.objects.begin(), result.objects.end());
  out.problems.insert(out.problems.end(), result.problems.begin(), result.problems.end());
  out.unbuilt = std::move(result.unbuilt);
  return Status::Ok();
}

Result<std::shared_ptr<const Snapshot>> SnapshotBuilder::build(const std::string& head_hex, int cancel_fd) {
  stats_ = {};
  // A fresh handle for every build: each fetch that brings objects adds a pack, and a handle kept open
  // keeps every pack it ever read mapped and open (12 KiB of RSS per new commit, without end). Freeing the
  // old one and opening the new one take longer than the patch of a one-file commit: idle() does both.
  retired_ = std::move(repo_);
  repo_ = std::move(next_);
  if (Status s = open(); !s.ok()) return Error{s.error()};
  git_oid head;
  if (git_oid_fromstr(&head, head_hex.c_str()) != 0) return Error{"'" + head_hex + "' is not a commit id"};
  git_commit* raw_commit = nullptr;
  if (git_commit_lookup(&raw_commit, repo_.get(), &head) != 0)
    return Error{"commit " + short_id(head_hex) + " is not in the cache repository: " + git_error_text(-1)};
  CommitPtr commit(raw_commit);
  git_tree* raw_tree = nullptr;
  if (git_commit_tree(&raw_tree, commit.get()) != 0)
    return Error{"cannot read the tree of commit " + short_id(head_hex) + ": " + git_error_text(-1)};
  TreePtr tree(raw_tree);

  auto info = commits_.get(repo_.get(), head);
  if (!info) return Error{"cannot read commit " + short_id(head_hex)};
  if (spec_.require_signed_commits && info->signature != SignatureStatus::Verified)
    return Error{"commit " + short_id(head_hex) + " is " + std::string(to_string(info->signature)) +
                 ", and the policy requires commits verified against " + spec_.allowed_signers +
                 "; keeping the last good snapshot"};

  bool plain = !spec_.flux && !spec_.argocd && spec_.render != Render::Kustomize;
  if (plain && plain_ && plain_->snapshot)
    if (auto patched = patch_plain(tree.get(), head, info, cancel_fd)) return patched;

  Output out;
  out.commits.insert(info->id);
  if (!signers_problem_.empty()) out.problems.push_back({spec_.allowed_signers, 0, signers_problem_});
  Status built = spec_.flux || spec_.argocd          ? build_desired(tree.get(), head, cancel_fd, out)
                 : spec_.render == Render::Kustomize ? build_rendered(tree.get(), head, cancel_fd, out)
                                                     : build_plain(tree.get(), head, cancel_fd, out);
  if (!built.ok()) return Error{"commit " + short_id(head_hex) + ": " + built.error()};
  commits_.retain(out.commits);
  auto snapshot = std::make_shared<const Snapshot>(std::move(info), spec_.default_namespace, std::move(out.objects),
                                                   std::move(out.problems), std::move(out.unbuilt));
  if (plain && plain_) plain_->snapshot = snapshot;
  return snapshot;
}

}  // namespace gitgate::gitstate
