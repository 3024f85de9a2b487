#include "gitstate/render.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "gitstate/git.h"
#include "core/subprocess.h"
#include "manifests/loader.h"

namespace gitgate::gitstate {
namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxErrorExcerpt = 512;

class TempDirectory {
 public:
  TempDirectory() {
    std::string pattern = (fs::temp_directory_path() / "gitgate-render-XXXXXX").string();
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDirectory() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  TempDirectory(const TempDirectory&) = delete;
  TempDirectory& operator=(const TempDirectory&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

bool inside(const std::string& path, const std::string& directory) {
  return directory.empty() || path == directory || path.starts_with(directory + "/");
}

// Tree entry names come from the remote: refuse anything that could leave the export directory.
bool safe_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

class Exporter {
 public:
  Exporter(git_repository* repo, const fs::path& root, const std::string& directory,
           const RenderLimits& limits, std::vector<Problem>& problems)
      : repo_(repo), root_(root), directory_(directory), limits_(limits), problems_(problems) {}

  Status run(git_tree* top) {
    git_odb* raw_odb = nullptr;
    if (git_repository_odb(&raw_odb, repo_) != 0) return Error{"cannot open the object database"};
    odb_.reset(raw_odb);
    std::vector<std::pair<TreePtr, std::string>> owned;
    std::vector<std::pair<git_tree*, std::string>> stack{{top, ""}};
    while (!stack.empty()) {
      auto [tree, prefix] = stack.back();
      stack.pop_back();
      for (size_t i = 0, n = git_tree_entrycount(tree); i < n; ++i) {
        const git_tree_entry* entry = git_tree_entry_byindex(tree, i);
        std::string_view name = git_tree_entry_name(entry);
        std::string path = prefix + std::string(name);
        if (!safe_name(name)) {
          note(path, "unsafe file name; not exported");
          continue;
        }
        switch (git_tree_entry_filemode(entry)) {
          case GIT_FILEMODE_TREE: {
            git_tree* raw = nullptr;
            if (git_tree_lookup(&raw, repo_, git_tree_entry_id(entry)) != 0)
              return Error{"cannot read tree " + path + ": " + git_error_text(-1)};
            owned.emplace_back(TreePtr(raw), path);
            stack.emplace_back(raw, path + "/");
            break;
          }
          case GIT_FILEMODE_BLOB:
          case GIT_FILEMODE_BLOB_EXECUTABLE:
            if (Status s = write_blob(path, *git_tree_entry_id(entry)); !s.ok()) return s;
            break;
          case GIT_FILEMODE_LINK:
            note(path, "symbolic link, not followed; not exported");
            break;
          case GIT_FILEMODE_COMMIT:
            note(path, "submodule (gitlink), not followed; not exported");
            break;
          default:
            break;
        }
      }
    }
    return Status::Ok();
  }

 private:
  void note(const std::string& path, std::string reason) {
    if (inside(path, directory_)) problems_.push_back({path, 0, std::move(reason)});
  }

  Status write_blob(const std::string& path, const git_oid& id) {
    size_t size = 0;
    git_object_t type;
    if (git_odb_read_header(&size, &type, odb_.get(), &id) != 0)
      return Error{"cannot read " + path + ": " + git_error_text(-1)};
    if (size > limits_.max_file_bytes) {
      note(path, "file is " + std::to_string(size) + " bytes, over the limit of " +
                     std::to_string(limits_.max_file_bytes) + "; not exported");
      return Status::Ok();
    }
    total_bytes_ += size;
    if (++files_ > limits_.max_files || total_bytes_ > limits_.max_total_bytes)
      return Error{"the repository is too large to export for kustomize (over " +
                   std::to_string(limits_.max_files) + " files or " +
                   std::to_string(limits_.max_total_bytes >> 20) + " MiB)"};
    git_blob* raw_blob = nullptr;
    if (git_blob_lookup(&raw_blob, repo_, &id) != 0)
      return Error{"cannot read " + path + ": " + git_error_text(-1)};
    BlobPtr blob(raw_blob);
    fs::path target = root_ / path;
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    std::ofstream out(target, std::ios::binary | std::ios::trunc);
    out.write(static_cast<const char*>(git_blob_rawcontent(blob.get())),
              static_cast<std::streamsize>(git_blob_rawsize(blob.get())));
    if (!out) return Error{"cannot write " + target.string()};
    return Status::Ok();
  }

  git_repository* repo_;
  OdbPtr odb_;
  fs::path root_;
  const std::string& directory_;
  const RenderLimits& limits_;
  std::vector<Problem>& problems_;
  uint64_t total_bytes_ = 0;
  size_t files_ = 0;
};

std::string excerpt(std::string text, const std::string& temp_root) {
  for (size_t pos = text.find(temp_root); pos != std::string::npos; pos = text.find(temp_root, pos))
    text.replace(pos, temp_root.size(), "");
  if (text.size() > kMaxErrorExcerpt) text.resize(kMaxErrorExcerpt);
  for (char& c : text)
    if (c == '\n' || c == '\r') c = ' ';
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

}  // namespace

Status export_tree(git_repository* repo, git_tree* tree, const std::string& root, const std::string& directory,
                   const RenderLimits& limits, std::vector<Problem>& problems) {
  return Exporter(repo, root, directory, limits, problems).run(tree);
}

Result<RenderResult> render_kustomize(git_repository* repo, git_tree* tree, const std::string& directory,
                                      const SourceSpec& spec, const RenderLimits& limits, int cancel_fd) {
  TempDirectory temp;
  if (temp.path().empty()) return Error{"cannot create a temporary directory for kustomize"};
  RenderResult result;
  Exporter exporter(repo, temp.path(), directory, limits, result.problems);
  if (Status s = exporter.run(tree); !s.ok()) return Error{s.error()};

  fs::path root = directory.empty() ? temp.path() : temp.path() / directory;
  fs::path kustomization;
  for (const char* name : {"kustomization.yaml", "kustomization.yml", "Kustomization"}) {
    std::error_code ec;
    if (fs::is_regular_file(root / name, ec)) {
      kustomization = root / name;
      result.kustomization = directory.empty() ? std::string(name) : directory + "/" + name;
      break;
    }
  }
  if (kustomization.empty())
    return Error{"render: kustomize needs a kustomization.yaml in '" + (directory.empty() ? "." : directory) +
                 "'"};
  std::string content;
  {
    std::ifstream in(kustomization, std::ios::binary);
    content.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto annotated = manifests::with_origin_annotations(content);
  if (!annotated) return Error{result.kustomization + ": " + annotated.error()};
  {
    std::ofstream out(kustomization, std::ios::binary | std::ios::trunc);
    out << *annotated;
    if (!out) return Error{"cannot write " + kustomization.string()};
  }

  ProcessOptions process;
  process.argv = spec.kustomize_command;
  process.argv.push_back(root.string());
  process.working_directory = temp.path().string();
  process.timeout = spec.render_timeout;
  process.max_stdout = limits.max_output_bytes;
  process.cancel_fd = cancel_fd;
  ProcessResult run = run_process(process);
  if (!run.succeeded()) {
    std::string command = spec.kustomize_command.empty() ? "kustomize" : spec.kustomize_command.front();
    std::string message = "render: " + command + " on '" + (directory.empty() ? "." : directory) + "' " +
                          run.outcome(spec.render_timeout);
    std::string detail = excerpt(run.err, temp.path().string() + "/");
    if (!detail.empty()) message += ": " + detail;
    return Error{message};
  }
  result.output = std::move(run.out);
  return result;
}

}  // namespace gitgate::gitstate
