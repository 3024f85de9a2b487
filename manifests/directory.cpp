// Snapshots of plain directories: tests, and `gitgate review` without Git.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "manifests/loader.h"

namespace gitgate::manifests {
namespace fs = std::filesystem;

namespace {

struct Collector {
  const Limits& limits;
  std::string_view default_namespace;
  std::set<std::string> visited;
  std::vector<std::shared_ptr<const DeclaredObject>> objects;
  std::vector<Problem> problems;

  void file(const fs::path& full, const std::string& relative) {
    if (!visited.insert(relative).second) return;
    std::error_code ec;
    auto size = fs::file_size(full, ec);
    if (ec) {
      problems.push_back({relative, 0, "cannot read: " + ec.message() + "; skipped"});
      return;
    }
    if (size > limits.max_file_bytes) {
      problems.push_back({relative, 0,
                          "file is " + std::to_string(size) + " bytes, over the limit of " +
                              std::to_string(limits.max_file_bytes) + "; skipped"});
      return;
    }
    std::ifstream in(full, std::ios::binary);
    std::string content(size, '\0');
    in.read(content.data(), static_cast<std::streamsize>(size));
    content.resize(static_cast<size_t>(in.gcount()));
    FileResult parsed = parse_file(relative, content, limits);
    for (const Document& doc : parsed.documents) objects.push_back(declare(doc, relative, default_namespace));
    for (Problem& p : parsed.problems) problems.push_back(std::move(p));
  }

  void symlink(const std::string& relative) {
    if (visited.insert(relative).second)
      problems.push_back({relative, 0, "symbolic link, not followed; skipped"});
  }

  void directory(const fs::path& root, const fs::path& dir) {
    std::vector<fs::directory_entry> entries;
    for (const auto& entry : fs::directory_iterator(dir)) entries.push_back(entry);
    std::sort(entries.begin(), entries.end(),
              [](const auto& a, const auto& b) { return a.path() < b.path(); });
    for (const auto& entry : entries) {
      std::string relative = entry.path().lexically_relative(root).generic_string();
      if (entry.is_symlink()) {
        symlink(relative);
      } else if (entry.is_directory()) {
        if (entry.path().filename() != ".git") directory(root, entry.path());
      } else if (entry.is_regular_file() && is_manifest_path(relative)) {
        file(entry.path(), relative);
      }
    }
  }
};

}  // namespace

Result<std::string> normalize_source_path(std::string_view path) {
  if (path.starts_with("/"))
    return Error{"source path '" + std::string(path) + "' must be relative to the repository root"};
  if (path.find('\0') != std::string_view::npos) return Error{"source path contains a NUL byte"};
  std::string out;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(pos, end - pos);
    pos = end + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..")
      return Error{"source path '" + std::string(path) + "' climbs out of the repository with '..'"};
    if (!out.empty()) out += '/';
    out.append(part);
  }
  return out;
}

Result<std::shared_ptr<const Snapshot>> snapshot_from_directory(const std::string& dir,
                                                                const SourceSpec& spec,
                                                                std::shared_ptr<const CommitInfo> commit) {
  Limits limits;
  limits.max_file_bytes = spec.max_file_bytes;
  Collector collector{limits, spec.default_namespace, {}, {}, {}};
  fs::path root(dir);
  try {
    for (const std::string& path : spec.paths) {
      auto relative = normalize_source_path(path);
      if (!relative) return std::move(relative).take_error();
      fs::path full = relative->empty() ? root : root / *relative;
      auto status = fs::symlink_status(full);
      if (fs::is_symlink(status)) {
        collector.symlink(*relative);
      } else if (fs::is_directory(status)) {
        collector.directory(root, full);
      } else if (fs::is_regular_file(status)) {
        collector.file(full, *relative);
      } else {
        return Error{"source path '" + path + "' not found in " + dir};
      }
    }
  } catch (const fs::filesystem_error& e) {
    return Error{"cannot read " + dir + ": " + e.code().message() + " (" + e.path1().string() + ")"};
  }
  if (!commit) commit = std::make_shared<const CommitInfo>();
  return std::make_shared<const Snapshot>(std::move(commit), spec.default_namespace,
                                          std::move(collector.objects), std::move(collector.problems));
}

}  // namespace gitgate::manifests
