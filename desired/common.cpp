#include "desired/common.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "manifests/loader.h"

namespace gitgate::desired {
namespace fs = std::filesystem;
using json = nlohmann::json;

std::vector<std::string> cited_files(const BuildOutput& result) {
  std::set<std::string> files;
  for (const auto& o : result.objects) files.insert(o->file());
  for (const auto& b : result.builds)
    for (const auto& link : b->chain)
      if (!link.file.empty()) files.insert(link.file);
  for (const auto& u : result.unbuilt)
    for (const auto& link : u.build->chain)
      if (!link.file.empty()) files.insert(link.file);
  files.erase("");
  return {files.begin(), files.end()};
}

void set_link_commits(BuildOutput& result,
                      const std::map<std::string, std::shared_ptr<const CommitInfo>>& commits) {
  auto commit = [&](const std::string& file) -> std::shared_ptr<const CommitInfo> {
    auto it = commits.find(file);
    return it == commits.end() ? nullptr : it->second;
  };
  for (auto& o : result.objects) o->set_last_change(commit(o->file()));
  for (auto& b : result.builds)
    for (auto& link : b->chain) link.commit = commit(link.file);
}

std::string hex(const unsigned char* bytes, size_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * size);
  for (size_t i = 0; i < size; ++i) {
    out += kHex[bytes[i] >> 4];
    out += kHex[bytes[i] & 15];
  }
  return out;
}

gitgate::Status write_whole_file(const std::string& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.close();
  if (!out) return gitgate::Error{"cannot write " + path + ": " + std::strerror(errno)};
  return gitgate::Status::Ok();
}

bool is_capability(std::string_view text) {
  return text.size() <= 253 && std::all_of(text.begin(), text.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '/' || c == '+' ||
                  c == '-';
         });
}

std::string capabilities_key(const std::string& kube_version, const std::vector<std::string>& api_versions) {
  std::string key = "kube-version=" + kube_version;
  for (const auto& version : api_versions) key += " api-version=" + version;
  return key;
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[32];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
  return hex(digest, size);
}

std::string group_of(const std::string& api_version) {
  auto slash = api_version.find('/');
  return slash == std::string::npos ? std::string() : api_version.substr(0, slash);
}

std::optional<std::string> clean_path(std::string_view path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    std::string part(
        path.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (part == "..") {
      if (parts.empty()) return std::nullopt;
      parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "/") + p;
  return out;
}

std::string repository_identity(std::string url) {
  for (const char* scheme : {"https://", "http://", "ssh://", "git://", "file://"})
    if (url.starts_with(scheme)) url = url.substr(std::string_view(scheme).size());
  if (auto at = url.find('@'); at != std::string::npos && at < url.find('/')) url = url.substr(at + 1);
  if (auto colon = url.find(':'); colon != std::string::npos && colon < url.find('/')) {
    // host:port/path or scp-like host:path
    std::string after = url.substr(colon + 1);
    bool port = !after.empty() && std::isdigit(static_cast<unsigned char>(after[0])) &&
                after.find('/') != std::string::npos &&
                std::all_of(after.begin(), after.begin() + static_cast<long>(after.find('/')),
                            [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    url = url.substr(0, colon) + (port ? after.substr(after.find('/')) : "/" + after);
  }
  while (url.ends_with("/")) url.pop_back();
  if (url.ends_with(".git")) url.resize(url.size() - 4);
  // Case aside, as Argo CD compares repository URLs (git.NormalizeGitURL): Git hosts treat the path so too.
  std::transform(url.begin(), url.end(), url.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return url;
}

std::set<std::string> repository_identities(const SourceSpec& spec) {
  std::set<std::string> out{repository_identity(spec.url)};
  for (const auto& url : spec.known_as) out.insert(repository_identity(url));
  return out;
}

const json& field(const json& j, const char* key) {
  static const json null_value;
  return j.is_object() && j.contains(key) ? j[key] : null_value;
}

bool same_repository(const std::set<std::string>& self, const std::string& a, const std::string& b) {
  std::string x = repository_identity(a), y = repository_identity(b);
  return x == y || (self.contains(x) && self.contains(y));
}

bool fetched_at(const OtherRepository& listed, const std::string& branch, const std::string& tag,
                const std::string& range, const std::string& pin) {
  if (!listed.digest.empty()) return pin == listed.digest;
  if (!listed.commit.empty()) {
    std::string lower = pin;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return lower.size() >= 7 && listed.commit.starts_with(lower);
  }
  if (!listed.semver.empty()) return (!range.empty() && listed.semver == range) || (!tag.empty() && listed.tag == tag);
  if (!listed.tag.empty()) return !tag.empty() && listed.tag == tag;
  return !branch.empty() && listed.branch == branch;
}

std::string fetched_as(const OtherTree& other) {
  return other.repository.url + " " + other.repository.describe() +
         (other.repository.oci() ? " " + other.digest : " @ " + other.commit.substr(0, 7));
}

void merge_maps(json& into, const json& from) {
  if (!from.is_object()) return;
  for (const auto& [key, value] : from.items()) {
    if (value.is_object() && into.contains(key) && into[key].is_object()) {
      merge_maps(into[key], value);
    } else {
      into[key] = value;
    }
  }
}

std::string cite(const OtherTree* in, const std::string& path) {
  if (in == nullptr) return path;
  return (in->cited_as.empty() ? in->repository.url : in->cited_as) + "//" + path;
}

std::string str(const json& j, const char* key, std::string fallback) {
  if (j.is_object() && j.contains(key) && j[key].is_string()) return j[key].get<std::string>();
  return fallback;
}

bool flag(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_boolean() && j[key].get<bool>();
}

void add_origins(std::vector<ValueOrigin>& out, const std::vector<manifests::ScalarLeaf>& leaves,
                 const std::string& where, const std::string& file) {
  for (const auto& leaf : leaves) {
    if (out.size() >= kMaxValueOrigins) return;
    if (leaf.value.find('\n') != std::string::npos) {
      for (const auto& inner : manifests::scalar_leaves(leaf.value, leaf.line + 1)) {
        if (out.size() >= kMaxValueOrigins) return;
        out.push_back({inner.value, where, file, inner.line});
      }
      continue;
    }
    out.push_back({leaf.value, where, file, leaf.line});
  }
}

std::string OutputCache::path(const std::string& kind, const std::string& key) const {
  return dir_.empty() ? std::string() : dir_ + "/" + kind + "/" + key.substr(0, 2) + "/" + key + ".yaml";
}

std::optional<std::string> OutputCache::load(const std::string& kind, const std::string& key) {
  if (auto it = memory_.find(kind + key); it != memory_.end()) return it->second;
  std::string file = path(kind, key);
  if (file.empty()) return std::nullopt;
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  std::string text((std::istreambuf_iterator<char>(in)), {});
  return memory_[kind + key] = std::move(text);
}

void OutputCache::store(const std::string& kind, const std::string& key, const std::string& text) {
  memory_[kind + key] = text;
  std::string file = path(kind, key);
  if (file.empty()) return;
  std::error_code ec;
  fs::create_directories(fs::path(file).parent_path(), ec);
  std::string temp = file + ".tmp";
  if (!write_whole_file(temp, text).ok()) {
    fs::remove(temp, ec);
    return;
  }
  fs::rename(temp, file, ec);
}

std::string ChartCache::chart_dir(const std::string& key) const {
  std::string base = cache_dir_.empty() ? (fs::temp_directory_path() / "gitgate-charts").string()
                                        : cache_dir_ + "/charts";
  return base + "/" + key;
}

namespace {

// Whether helm's error says the repository itself could not be reached (not that one chart is missing).
bool unreachable(const std::string& error) {
  for (const char* sign : {"no such host", "connection refused", "i/o timeout", "network is unreachable",
                           "no route to host", "TLS handshake timeout", "connection reset", "cannot be reached",
                           "killed after", "context deadline exceeded"})
    if (error.find(sign) != std::string::npos) return true;
  return false;
}

}  // namespace

Result<helm::PulledChart> ChartCache::pull(const helm::Tool& tool, const helm::ChartSource& source,
                                           std::chrono::microseconds ttl, size_t build, size_t& pulls) {
  bool first_build = build == 1;
  std::string key = source.repository + "\n" + source.chart + "\n" + source.version + "\n" + source.digest;
  std::string dir = chart_dir(sha256_hex(key));
  auto now = std::chrono::system_clock::now();
  auto cached = charts_.find(key);
  if (cached == charts_.end()) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      std::string name = entry.path().filename().string();
      if (!name.ends_with(".tgz") || !name.starts_with(source.chart + "-")) continue;
      helm::PulledChart chart{entry.path().string(), source.chart,
                              name.substr(source.chart.size() + 1, name.size() - source.chart.size() - 5),
                              helm::file_digest(entry.path().string())};
      auto mtime = fs::last_write_time(entry.path(), ec);
      auto at = std::chrono::file_clock::to_sys(mtime);
      cached = charts_.emplace(key, Pulled{chart, at, true}).first;
      break;
    }
  }
  if (cached != charts_.end() && fs::exists(cached->second.chart.path) &&
      (now - cached->second.at < ttl || (cached->second.from_disk && first_build)))
    return cached->second.chart;
  bool have_stale = cached != charts_.end() && fs::exists(cached->second.chart.path);
  if (auto down = unreachable_.find(source.repository); down != unreachable_.end() && down->second.build == build) {
    if (have_stale) return cached->second.chart;
    return Error{down->second.error + " (not tried again for chart " + source.chart +
                 " in this build: the repository could not be reached)"};
  }
  std::string fresh = dir + ".pulling";
  std::error_code ec;
  fs::remove_all(fresh, ec);
  auto pulled = helm::pull(tool, source, fresh);
  ++pulls;
  if (!pulled) {
    fs::remove_all(fresh, ec);
    if (unreachable(pulled.error())) unreachable_[source.repository] = {build, pulled.error()};
    if (have_stale) return cached->second.chart;
    return pulled;
  }
  fs::remove_all(dir, ec);
  fs::rename(fresh, dir, ec);
  if (ec) return Error{"cannot keep the pulled chart in " + dir + ": " + ec.message()};
  pulled->path = dir + "/" + fs::path(pulled->path).filename().string();
  charts_[key] = {*pulled, now, false};
  return pulled;
}

helm::Tool helm_tool(const std::vector<std::string>& command, const std::string& cache_dir,
                     std::chrono::microseconds timeout, size_t max_output_bytes, int cancel_fd) {
  helm::Tool t;
  t.command = command;
  t.home = cache_dir.empty() ? (fs::temp_directory_path() / "gitgate-helm").string() : cache_dir + "/helm-home";
  t.timeout = timeout;
  t.max_output_bytes = max_output_bytes;
  t.cancel_fd = cancel_fd;
  return t;
}

void kustomize_inputs(const SourceTree& tree, const std::string& dir, std::set<std::string>& visited,
                      std::string& key, int depth) {
  if (depth > 32 || !visited.insert(dir).second) return;
  std::string kfile;
  for (const char* name : {"kustomization.yaml", "kustomization.yml", "Kustomization"}) {
    std::string candidate = dir.empty() ? name : dir + "/" + name;
    if (tree.read(candidate)) {
      kfile = candidate;
      break;
    }
  }
  if (kfile.empty()) {
    key += dir + "=" + tree.id(dir) + "\n";
    return;
  }
  key += kfile + "=" + tree.id(kfile) + "\n";
  auto docs = manifests::yaml_documents_as_json(*tree.read(kfile));
  if (!docs || docs->empty()) return;
  json k = json::parse(docs->front(), nullptr, false);
  std::vector<std::string> refs;
  auto strings = [&](const json& list) {
    if (!list.is_array()) return;
    for (const auto& item : list) {
      if (item.is_string()) refs.push_back(item.get<std::string>());
      if (item.is_object() && item.contains("path") && item["path"].is_string())
        refs.push_back(item["path"].get<std::string>());
    }
  };
  for (const char* f :
       {"resources", "bases", "components", "crds", "patches", "patchesStrategicMerge", "patchesJson6902",
        "transformers", "generators", "validators", "replacements", "configurations"})
    strings(field(k, f));
  for (const char* gen : {"configMapGenerator", "secretGenerator"}) {
    if (!field(k, gen).is_array()) continue;
    for (const auto& g : k[gen]) {
      strings(field(g, "files"));
      strings(field(g, "envs"));
      if (g.contains("env") && g["env"].is_string()) refs.push_back(g["env"].get<std::string>());
    }
  }
  for (std::string ref : refs) {
    if (auto eq = ref.find('='); eq != std::string::npos && ref.find('/') > eq)
      ref = ref.substr(eq + 1);  // key=file
    if (ref.find("://") != std::string::npos || ref.starts_with("github.com/") || ref.starts_with("git@")) {
      key += "remote:" + ref + "\n";
      continue;
    }
    auto path = clean_path((dir.empty() ? "" : dir + "/") + ref);
    if (!path) continue;
    if (tree.read(*path)) {
      key += *path + "=" + tree.id(*path) + "\n";
    } else {
      kustomize_inputs(tree, *path, visited, key, depth + 1);
    }
  }
}

std::string object_id(const std::string& group, const std::string& kind, const std::string& ns,
                      const std::string& name) {
  return group + "/" + kind + "/" + ns + "/" + name;
}

void declare_built(const std::vector<Built>& built, const std::string& default_namespace,
                   std::vector<std::shared_ptr<gitgate::DeclaredObject>>& out) {
  for (const auto& b : built) {
    manifests::Document doc;
    doc.api_version = str(b.object, "apiVersion");
    doc.kind = b.kind;
    doc.ns = b.ns;
    doc.name = b.name;
    doc.json = b.object.dump();
    doc.line = b.line;
    doc.column = b.column;
    auto object = manifests::declare(doc, b.file, default_namespace);
    if (b.build) object->set_built_by(b.build);
    out.push_back(std::move(object));
  }
}

}  // namespace gitgate::desired
