#include "desired/flux/artifact.h"

#include <fnmatch.h>

#include <cctype>
#include <filesystem>

#include "desired/common.h"
#include "desired/helm/chart_archive.h"
#include "manifests/json_yaml.h"
#include "manifests/yaml_document.h"

namespace gitgate::desired::flux {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr size_t kMaxArtifactFiles = 20000;

std::vector<std::string> segments(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    out.push_back(path.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) return out;
    start = slash + 1;
  }
}

bool segment_match(const std::string& pattern, const std::string& name) {
  return fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

bool doublestar_at(const std::vector<std::string>& p, size_t pi, const std::vector<std::string>& n, size_t ni) {
  if (pi == p.size()) return ni == n.size();
  if (p[pi] == "**") {
    for (size_t k = ni; k <= n.size(); ++k)
      if (doublestar_at(p, pi + 1, n, k)) return true;
    return false;
  }
  return ni < n.size() && segment_match(p[pi], n[ni]) && doublestar_at(p, pi + 1, n, ni + 1);
}

std::string base_name(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string join(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return a + "/" + b;
}

bool has_glob(const std::string& text) { return text.find_first_of("*?[]") != std::string::npos; }

// source-watcher's shouldExclude: a pattern matches the path, or, without a slash, the file name.
bool excluded_by(const std::vector<std::string>& patterns, const std::string& path) {
  for (const auto& p : patterns) {
    if (doublestar_match(p, path)) return true;
    if (p.find('/') == std::string::npos && doublestar_match(p, base_name(path))) return true;
  }
  return false;
}

// shouldExcludePath: the path itself, or relative to the part of `from` before its first glob.
bool excluded(const std::vector<std::string>& patterns, const std::string& path, const std::string& base) {
  if (patterns.empty()) return false;
  if (excluded_by(patterns, path)) return true;
  if (base.empty() || base == ".") return false;
  if (!path.starts_with(base + "/")) return false;
  return excluded_by(patterns, path.substr(base.size() + 1));
}

// A YAML file's documents merged into one map, as source-watcher loads a file to merge.
gitgate::Result<json> load_yaml(const std::string& text, const std::string& name) {
  auto docs = manifests::yaml_documents_as_json(text);
  if (!docs) return gitgate::Error{"'" + name + "': " + docs.error()};
  json out = json::object();
  for (const auto& doc : *docs) {
    json value = json::parse(doc, nullptr, false);
    if (!value.is_object()) return gitgate::Error{"'" + name + "' is not a YAML map"};
    merge_maps(out, value);
  }
  return out;
}

bool is_tarball(const std::string& path) {
  std::string lower = path;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.ends_with(".tgz") || lower.ends_with(".tar.gz");
}

class Copier {
 public:
  Copier(const ArtifactSource& source, ArtifactTree& out, bool merge)
      : base_(*source.tree), other_(source.other), out_(out), merge_(merge) {}

  // Copies the file `from` to `to`; with Merge, onto a file the artifact holds, their YAML merged. A
  // directory's files are copied, never merged (`merge` false), as source-watcher copies directories.
  gitgate::Status put(const std::string& to, const std::string& from, bool merge = true) {
    if (out_.size() >= kMaxArtifactFiles)
      return gitgate::Error{"more than " + std::to_string(kMaxArtifactFiles) + " files"};
    auto clean = clean_path(to);
    if (!clean || clean->empty()) return gitgate::Error{"destination '" + to + "' leaves the artifact"};
    ArtifactTree::Origin origin{&base_, from, other_};
    if (merge && merge_) {
      if (auto held = out_.read(*clean)) {
        auto into = load_yaml(*held, *clean);
        if (!into) return gitgate::Error{into.error()};
        auto text = base_.read(from);
        if (!text) return gitgate::Error{"'" + from + "' is not a regular file"};
        auto overlay = load_yaml(*text, from);
        if (!overlay) return gitgate::Error{overlay.error()};
        merge_maps(*into, *overlay);
        origin.content = std::make_shared<const std::string>(manifests::json_to_yaml(*into));
      }
    }
    out_.put(*clean, std::move(origin));
    return gitgate::Status::Ok();
  }

  // Unpacks the tarball `from` below `to`: each file cites the tarball.
  gitgate::Status extract(const std::string& from, const std::string& to) {
    auto bytes = base_.read(from);
    if (!bytes) return gitgate::Error{"'" + from + "' is not a regular file"};
    auto archive = helm::read_tar_gz(*bytes);
    if (!archive) return gitgate::Error{"'" + from + "': " + archive.error()};
    for (auto& file : archive->files) {
      if (out_.size() >= kMaxArtifactFiles)
        return gitgate::Error{"more than " + std::to_string(kMaxArtifactFiles) + " files"};
      auto clean = clean_path(join(to, file.path));
      if (!clean || clean->empty()) return gitgate::Error{"'" + file.path + "' of '" + from + "' leaves the artifact"};
      out_.put(*clean, {&base_, from, other_, std::make_shared<const std::string>(std::move(file.data))});
    }
    return gitgate::Status::Ok();
  }

  // Every file below `dir` whose path doublestar's Match accepts, for Extract's doublestar.Glob.
  void files_matching(const std::string& pattern, const std::string& dir, std::vector<std::string>& out,
                      int depth = 0) const {
    if (depth > 64) return;
    for (const auto& entry : base_.list(dir)) {
      std::string path = join(dir, entry.name);
      if (entry.directory) {
        files_matching(pattern, path, out, depth + 1);
      } else if (doublestar_match(pattern, path)) {
        out.push_back(path);
      }
    }
  }

  // cp -r: every file below `dir` (Git path) to below `to`, skipping what `exclude` names.
  gitgate::Status copy_directory(const std::string& dir, const std::string& to,
                                 const std::vector<std::string>& exclude, const std::string& exclude_base,
                                 int depth = 0) {
    if (depth > 64) return gitgate::Error{"'" + dir + "' is nested too deep"};
    for (const auto& entry : base_.list(dir)) {
      std::string path = join(dir, entry.name);
      if (excluded(exclude, path, exclude_base)) continue;
      gitgate::Status s = entry.directory
                              ? copy_directory(path, join(to, entry.name), exclude, exclude_base, depth + 1)
                              : put(join(to, entry.name), path, /*merge=*/false);
      if (!s.ok()) return s;
    }
    return gitgate::Status::Ok();
  }

  bool is_directory(const std::string& path) const { return path.empty() || !base_.list(path).empty(); }

  // fs.Glob: the files and directories whose path matches, one pattern segment per directory level.
  void glob(const std::vector<std::string>& pattern, size_t at, const std::string& dir,
            std::vector<std::string>& out) const {
    for (const auto& entry : base_.list(dir)) {
      if (!segment_match(pattern[at], entry.name)) continue;
      std::string path = join(dir, entry.name);
      if (at + 1 == pattern.size()) {
        out.push_back(path);
      } else if (entry.directory) {
        glob(pattern, at + 1, path, out);
      }
    }
  }

 private:
  const SourceTree& base_;
  const OtherTree* other_;
  ArtifactTree& out_;
  bool merge_;
};

}  // namespace

bool path_match(const std::string& pattern, const std::string& name) {
  auto p = segments(pattern), n = segments(name);
  if (p.size() != n.size()) return false;
  for (size_t i = 0; i < p.size(); ++i)
    if (!segment_match(p[i], n[i])) return false;
  return true;
}

bool doublestar_match(const std::string& pattern, const std::string& name) {
  return doublestar_at(segments(pattern), 0, segments(name), 0);
}

std::optional<std::string> ArtifactTree::read(const std::string& path) const {
  auto it = files_.find(path);
  if (it == files_.end()) return std::nullopt;
  if (it->second.content) return *it->second.content;
  return it->second.tree->read(it->second.path);
}

std::vector<SourceTree::Entry> ArtifactTree::list(const std::string& directory) const {
  std::vector<Entry> out;
  std::string prefix = directory.empty() ? "" : directory + "/";
  for (auto it = files_.lower_bound(prefix); it != files_.end() && it->first.starts_with(prefix); ++it) {
    std::string rest = it->first.substr(prefix.size());
    auto slash = rest.find('/');
    Entry e{slash == std::string::npos ? rest : rest.substr(0, slash), slash != std::string::npos};
    if (out.empty() || out.back().name != e.name) out.push_back(std::move(e));
  }
  return out;
}

std::string ArtifactTree::id(const std::string& path) const {
  auto id_of = [](const Origin& o) { return o.content ? sha256_hex(*o.content) : o.tree->id(o.path); };
  if (auto it = files_.find(path); it != files_.end()) return id_of(it->second);
  std::string prefix = path.empty() ? "" : path + "/";
  std::string listing;
  for (auto it = files_.lower_bound(prefix); it != files_.end() && it->first.starts_with(prefix); ++it)
    listing += it->first + "=" + id_of(it->second) + "\n";
  return listing.empty() ? "" : sha256_hex(listing);
}

gitgate::Status ArtifactTree::export_to(const std::string& directory, std::vector<gitgate::Problem>& problems) const {
  for (const auto& [to, from] : files_) {
    auto text = from.content ? std::optional<std::string>(*from.content) : from.tree->read(from.path);
    if (!text) {
      problems.push_back({cite(from.other, from.path), 0, "not a regular file; left out of the artifact"});
      continue;
    }
    fs::path target = fs::path(directory) / to;
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    if (ec) return gitgate::Error{"cannot create " + target.parent_path().string() + ": " + ec.message()};
    if (gitgate::Status s = write_whole_file(target.string(), *text); !s.ok()) return s;
  }
  return gitgate::Status::Ok();
}

const ArtifactTree::Origin* ArtifactTree::origin(const std::string& path) const {
  auto it = files_.find(path);
  return it == files_.end() ? nullptr : &it->second;
}

gitgate::Result<std::unique_ptr<ArtifactTree>> build_artifact(const std::map<std::string, ArtifactSource>& sources,
                                                            const json& artifact) {
  auto tree = std::make_unique<ArtifactTree>();
  const json& copies = field(artifact, "copy");
  if (!copies.is_array() || copies.empty()) return gitgate::Error{"it has no copy operations"};
  for (const auto& op : copies) {
    std::string from = str(op, "from"), to = str(op, "to");
    std::string what = "copy from '" + from + "' to '" + to + "'";
    std::string strategy = str(op, "strategy", "Overwrite");
    if (strategy != "Overwrite" && strategy != "Merge" && strategy != "Extract")
      return gitgate::Error{what + ": unknown strategy '" + strategy + "' (Overwrite, Merge or Extract)"};
    bool extract = strategy == "Extract";
    auto slash = from.find('/');
    if (!from.starts_with("@") || slash == std::string::npos)
      return gitgate::Error{what + ": a source is written '@alias/pattern'"};
    std::string alias = from.substr(1, slash - 1), pattern = from.substr(slash + 1);
    auto source = sources.find(alias);
    if (source == sources.end()) return gitgate::Error{what + ": no source has the alias '" + alias + "'"};
    if (source->second.tree == nullptr) return gitgate::Error{what + ": source '" + alias + "': " + source->second.reason};
    const SourceTree& base = *source->second.tree;
    Copier copier(source->second, *tree, strategy == "Merge");
    if (!to.starts_with("@artifact/")) return gitgate::Error{what + ": a destination starts with '@artifact/'"};
    std::string dest = to.substr(std::string("@artifact/").size());
    bool into_directory = to.ends_with("/");
    while (dest.ends_with("/")) dest.pop_back();
    std::vector<std::string> exclude;
    for (const auto& e : field(op, "exclude"))
      if (e.is_string()) exclude.push_back(e.get<std::string>());

    gitgate::Status s = gitgate::Status::Ok();
    if (!has_glob(pattern)) {
      auto src = clean_path(pattern);
      if (!src) return gitgate::Error{what + ": the source climbs out of the repository"};
      if (extract && !base.read(*src)) {
        return gitgate::Error{what + ": the Extract strategy takes a tarball file, and '" + *src + "' is " +
                              (copier.is_directory(*src) ? "a directory" : "not there")};
      } else if (extract) {
        if (excluded(exclude, *src, "")) continue;
        if (!is_tarball(*src))
          return gitgate::Error{what + ": the Extract strategy takes a .tar.gz or .tgz file, not '" + *src + "'"};
        s = copier.extract(*src, dest);
      } else if (base.read(*src)) {
        if (excluded(exclude, *src, "")) continue;
        std::string name = base_name(*src);
        bool existing_dir = !tree->list(dest).empty() && !dest.empty();
        s = copier.put(into_directory || existing_dir || dest.empty() ? join(dest, name) : dest, *src);
      } else if (copier.is_directory(*src)) {
        s = copier.copy_directory(*src, src->empty() ? dest : join(dest, base_name(*src)), exclude, *src);
      } else {
        return gitgate::Error{what + ": source '" + *src + "' does not exist"};
      }
    } else {
      std::vector<std::string> matches;
      auto parts = segments(pattern);
      if (extract) {
        copier.files_matching(pattern, "", matches);
      } else {
        copier.glob(parts, 0, "", matches);
      }
      if (matches.empty()) return gitgate::Error{what + ": no files match '" + pattern + "'"};
      std::string selection;  // the pattern's segments before the first glob
      for (const auto& part : parts) {
        if (has_glob(part)) break;
        selection = join(selection, part);
      }
      size_t kept = 0;
      for (const auto& match : matches) {
        if (excluded(exclude, match, selection)) continue;
        ++kept;
        if (extract) {
          if (is_tarball(match)) s = copier.extract(match, dest);
          if (!s.ok()) break;
          continue;
        }
        std::string destination = join(dest, match);
        if (pattern.ends_with("/**")) {
          std::string prefix = pattern.substr(0, pattern.size() - 3) + "/";
          if (match.starts_with(prefix)) destination = join(dest, match.substr(prefix.size()));
        }
        s = copier.is_directory(match) ? copier.copy_directory(match, destination, exclude, selection)
                                       : copier.put(destination, match);
        if (!s.ok()) break;
      }
      if (s.ok() && kept == 0) return gitgate::Error{what + ": every file matching '" + pattern + "' is excluded"};
    }
    if (!s.ok()) return gitgate::Error{what + ": " + s.error()};
  }
  return tree;
}

}  // namespace gitgate::desired::flux
