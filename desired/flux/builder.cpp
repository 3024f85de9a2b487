#include "desired/flux/builder.h"

#include <stdlib.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <fstream>
#include <set>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "core/duration.h"
#include "desired/common.h"
#include "desired/flux/artifact.h"
#include "desired/flux/substitute.h"
#include "desired/helm/chart_archive.h"
#include "desired/helm/helm.h"
#include "desired/kustomize/kustomization.h"
#include "manifests/yaml_document.h"

namespace gitgate::desired::flux {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char* kKustomizeGroup = "kustomize.toolkit.fluxcd.io";
constexpr const char* kHelmGroup = "helm.toolkit.fluxcd.io";
constexpr const char* kSourceGroup = "source.toolkit.fluxcd.io";
constexpr const char* kGeneratorGroup = "source.extensions.fluxcd.io";

// Helm's --set path for valuesFrom targetPath: dotted keys ("a.b.c", "\." for a literal dot).
void set_path(json& root, std::string_view path, json value) {
  std::vector<std::string> keys{""};
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '\\' && i + 1 < path.size()) {
      keys.back() += path[++i];
    } else if (path[i] == '.') {
      keys.emplace_back();
    } else {
      keys.back() += path[i];
    }
  }
  json* at = &root;
  for (size_t i = 0; i + 1 < keys.size(); ++i) {
    if (!(*at)[keys[i]].is_object()) (*at)[keys[i]] = json::object();
    at = &(*at)[keys[i]];
  }
  (*at)[keys.back()] = std::move(value);
}

// What a Flux Kustomization or HelmRelease is, read from a built object.
struct Owner {
  std::string ns, name;
  json spec;
  std::string file;
  uint32_t line = 0;
  std::string label_prefix;
  std::string what() const {
    return std::string(label_prefix == kHelmGroup ? "HelmRelease " : "Kustomization ") + ns + "/" + name;
  }
};

}  // namespace

struct Builder::Cache {
  explicit Cache(const std::string& dir) : outputs(dir), charts(dir) {}
  OutputCache outputs;  // kustomize and helm (+ post-render) outputs by their inputs
  ChartCache charts;
  size_t builds = 0;  // builds run by this process
  // The last good build of each owner: what stays in force when a later build fails.
  std::unordered_map<std::string, std::vector<Built>> last_good;
  std::unordered_map<std::string, std::string> last_good_commit;
};

// One build of one commit.
class Builder::Run {
 public:
  Run(const Options& options, Cache& cache, const SourceTree& tree, std::string commit, int cancel_fd,
      const std::vector<OtherTree>& others)
      : options_(options),
        cache_(cache),
        tree_(tree),
        commit_label_(std::move(commit)),
        cancel_fd_(cancel_fd),
        others_(others) {
    self_ = repository_identities(options.spec);
    flux_ns_ = options.spec.flux ? options.spec.flux->ns : "flux-system";
  }
  ~Run() {
    std::error_code ec;
    for (const auto& [tree, dir] : export_dirs_)
      if (!dir.empty()) fs::remove_all(dir, ec);
  }

  Result run() {
    if (!options_.spec.flux) {
      problem("", 0, "the source has no flux section");
      return std::move(out_);
    }
    auto root_path = clean_path(options_.spec.flux->path);
    if (!root_path) {
      problem(options_.spec.flux->path, 0, "flux.path climbs out of the repository");
      return std::move(out_);
    }
    // The bootstrap Kustomization: its declaration in Git (found by its path below flux.path, where `flux
    // bootstrap` writes it), else the one bootstrap would write.
    root_path_ = *root_path;
    Owner root{flux_ns_, "flux-system", json{{"path", *root_path}, {"prune", true}}, "", 0, kKustomizeGroup};
    if (auto declared = bootstrap_declaration(*root_path)) root = *declared;
    root_id_ = root.label_prefix + "/" + root.ns + "/" + root.name;
    discovered_.insert(root_id_);
    queue_.push_back(root);
    while (!queue_.empty()) {
      if (seen_.size() >= options_.max_builds) {
        problem("", 0,
                "more than " + std::to_string(options_.max_builds) +
                    " Kustomizations and HelmReleases; the rest is not built");
        break;
      }
      Owner next = std::move(queue_.front());
      queue_.pop_front();
      build_kustomization(next);
    }
    for (auto& release : releases_) {
      if (seen_.size() >= options_.max_builds) break;
      build_release(release);
    }
    finish();
    out_.fingerprint = sha256_hex(fingerprint_ + options_.spec.default_namespace);
    return std::move(out_);
  }

 private:
  void problem(const std::string& path, uint32_t line, std::string reason) {
    out_.problems.push_back({path, line, std::move(reason)});
  }

  // --- the objects built so far, by identity -----------------------------------------------------------
  const Built* find(const std::string& group, const std::string& kind, const std::string& ns,
                    const std::string& name) const {
    auto it = index_.find(object_id(group, kind, ns, name));
    return it == index_.end() ? nullptr : &built_[it->second];
  }

  // Adds the objects of one owner's build; discovers the Kustomizations and HelmReleases among them.
  void add(std::vector<Built> objects) {
    for (auto& b : objects) {
      std::string id = object_id(b.group, b.kind, b.ns, b.name);
      if (b.group == kKustomizeGroup && b.kind == "Kustomization") discover(b, kKustomizeGroup);
      if (b.group == kHelmGroup && b.kind == "HelmRelease") discover(b, kHelmGroup);
      index_.emplace(id, built_.size());
      built_.push_back(std::move(b));
    }
  }

  void discover(const Built& b, const char* prefix) {
    Owner owner{b.ns, b.name, b.object.value("spec", json::object()), b.file, b.line, prefix};
    std::string id = std::string(prefix) + "/" + owner.ns + "/" + owner.name;
    std::string where = owner.file + ":" + std::to_string(owner.line);
    auto [first, added] = discovered_at_.emplace(id, where);
    if (!added) {
      // The same Kustomization reached again: a cycle (A builds B, B builds A) or two declarations.
      if (first->second != where && id != root_id_)
        problem(owner.file, owner.line,
                owner.what() + " is declared again (first at " + first->second +
                    "): a cycle or a duplicate; the first is built");
      return;
    }
    if (!discovered_.insert(id).second) return;
    if (prefix == std::string(kKustomizeGroup)) {
      queue_.push_back(std::move(owner));
    } else {
      releases_.push_back(std::move(owner));
    }
  }

  const SourceTree& chart_tree() const {
    return chart_repository_ != nullptr ? *chart_repository_->tree : tree_;
  }

  // Why a Kustomization's sourceRef is not the policy's tree ("" when it is); `other` is set instead when
  // it is one of spec.repositories.
  std::string foreign(const Owner& k, const OtherTree** other) const {
    const json& ref = field(k.spec, "sourceRef");
    std::string kind = str(ref, "kind", "GitRepository");
    std::string name = str(ref, "name");
    std::string ns = str(ref, "namespace", k.ns);
    if (kind == "OCIRepository") return foreign_oci(ns, name, other);
    if (kind != "GitRepository")
      return "its source " + kind + " " + ns + "/" + name + " is not the policy's repository, and gitgate follows "
             "only that one yet";
    return foreign_git(ns, name, other);
  }

  // Why the OCIRepository ns/name cannot be built from ("" when it can: `other` is then the listed artifact).
  std::string foreign_oci(const std::string& ns, const std::string& name, const OtherTree** other) const {
    const Built* repo = find(kSourceGroup, "OCIRepository", ns, name);
    std::string what = "its source OCIRepository " + ns + "/" + name;
    if (repo == nullptr) return what + " is not declared in the repository";
    const json& spec = field(repo->object, "spec");
    std::string url = str(spec, "url");
    while (url.ends_with("/")) url.pop_back();
    const json& selector = field(spec, "layerSelector");
    if (str(selector, "operation", "extract") != "extract")
      return what + " copies its layer (layerSelector.operation: " + str(selector, "operation") +
             "), which a Kustomization cannot build";
    // source-controller follows ref.digest, else ref.semver, else ref.tag, else the tag "latest".
    const json& ref = field(spec, "ref");
    std::string digest = str(ref, "digest"), range = digest.empty() ? str(ref, "semver") : "";
    std::string tag = digest.empty() && range.empty() ? str(ref, "tag", "latest") : "";
    std::string listed;
    for (const auto& o : others_) {
      if (!o.repository.oci() || o.repository.url != url) continue;
      if (fetched_at(o.repository, "", tag, range, digest)) {
        if (o.tree == nullptr) return what + " (" + url + ") could not be pulled: " + o.problem;
        if (other != nullptr) *other = &o;
        return "";
      }
      listed += (listed.empty() ? "" : ", ") + o.repository.describe();
    }
    std::string at = !digest.empty() ? "digest " + digest : !range.empty() ? "semver '" + range + "'" : "tag '" + tag + "'";
    if (!listed.empty())
      return what + " (" + url + ") is at " + at + ", and spec.source.repositories lists it at " + listed + " only";
    return what + " (" + url + ") is an OCI artifact: list it in spec.source.repositories (url " + url + " with its " +
           (!digest.empty() ? "digest" : !range.empty() ? "semver range" : "tag") +
           ", and credentials) for gitgate to pull and build it";
  }

  // Why the GitRepository ns/name is not the policy's repository at the policy's branch ("" when it is).
  std::string foreign_git(const std::string& ns, const std::string& name, const OtherTree** other) const {
    if (name == "flux-system" && ns == flux_ns_) return "";
    const Built* repo = find(kSourceGroup, "GitRepository", ns, name);
    std::string what = "its source GitRepository " + ns + "/" + name;
    if (repo == nullptr) return what + " is not declared in the repository";
    const json& spec = field(repo->object, "spec");
    std::string url = str(spec, "url");
    // Flux follows ref.commit, else ref.name, else ref.semver, else ref.tag, else ref.branch ("master").
    // A branch, a tag (ref.tag, or ref.name refs/heads/… or refs/tags/…), a semver range or a commit can be
    // built; a ref.name of another kind cannot.
    const json& ref = field(spec, "ref");
    std::string pinned_ref, branch, tag, range, commit = str(ref, "commit");
    for (const char* pinned : {"commit", "name", "semver", "tag"})
      if (pinned_ref.empty() && !str(ref, pinned).empty()) pinned_ref = std::string(pinned) + " '" + str(ref, pinned) + "'";
    std::string name_ref = str(ref, "name");
    if (pinned_ref.empty()) {
      branch = str(ref, "branch", "master");
    } else if (commit.empty()) {
      if (name_ref.starts_with("refs/heads/")) branch = name_ref.substr(11);
      else if (name_ref.starts_with("refs/tags/")) tag = name_ref.substr(10);
      else if (name_ref.empty() && !str(ref, "semver").empty()) range = str(ref, "semver");
      else if (name_ref.empty()) tag = str(ref, "tag");
    }
    bool self = self_.contains(repository_identity(url));
    if (self && !branch.empty() && branch == options_.spec.branch) return "";
    std::string listed;
    for (const auto& o : others_) {
      if (!same_repository(self_, o.repository.url, url)) continue;
      if (fetched_at(o.repository, branch, tag, range, commit)) {
        if (o.tree == nullptr) return what + " (" + url + ") could not be fetched: " + o.problem;
        if (other != nullptr) *other = &o;
        return "";
      }
      listed += (listed.empty() ? "" : ", ") + o.repository.describe();
    }
    std::string at = !branch.empty() ? "branch '" + branch + "'"
                     : !tag.empty()  ? "tag '" + tag + "'"
                     : !range.empty() ? "semver '" + range + "'"
                     : !commit.empty() ? "commit '" + commit + "'"
                                      : pinned_ref;
    if (branch.empty() && tag.empty() && range.empty() && commit.empty())
      return what + " (" + url + ") is pinned to " + at + ": gitgate fetches branches, tags, semver ranges and "
             "commits only, so what it builds is not declared here (name a branch, a tag or a commit, and list the "
             "repository at it in spec.source.repositories)";
    if (!listed.empty())
      return what + " (" + url + ") is at " + at + ", and spec.source.repositories lists it at " + listed + " only";
    if (self)
      return what + " is the policy's repository at " + at + ", and gitgate builds only the policy's branch '" +
             options_.spec.branch + "' (list the repository at that " +
             (!commit.empty() ? "commit" : !range.empty() ? "semver range" : tag.empty() ? "branch" : "tag") +
             " in spec.source.repositories)";
    return what + " (" + url + ") is another repository: list it in spec.source.repositories (with its "
           "branch or tag and credentials) for gitgate to fetch and build it (if it is the same repository under "
           "another URL, add that URL to spec.source.knownAs)";
  }

  // The ExternalArtifact ns/name as the ArtifactGenerator that Git declares for it builds it, from the
  // policy's repository and the listed ones; null with `reason` set when it cannot be built.
  const ArtifactTree* external_artifact(const std::string& ns, const std::string& name, std::string& reason) {
    std::string id = ns + "/" + name;
    if (auto it = artifacts_.find(id); it != artifacts_.end()) {
      reason = it->second.reason;
      return it->second.tree.get();
    }
    Artifact& made = artifacts_[id];
    const Built* generator = nullptr;
    const json* spec_of_artifact = nullptr;
    for (const auto& b : built_) {
      if (b.group != kGeneratorGroup || b.kind != "ArtifactGenerator" || b.ns != ns) continue;
      for (const auto& a : field(field(b.object, "spec"), "artifacts"))
        if (str(a, "name") == name) {
          generator = &b;
          spec_of_artifact = &a;
        }
      if (generator != nullptr) break;
    }
    if (generator == nullptr) {
      made.reason = "its source ExternalArtifact " + id + " is made by no ArtifactGenerator declared in the repository";
      reason = made.reason;
      return nullptr;
    }
    std::string what = "ArtifactGenerator " + ns + "/" + generator->name + " (" + generator->file + ":" +
                       std::to_string(generator->line) + ")";
    const json& spec = field(generator->object, "spec");
    if (spec.contains("pathPattern")) {
      made.reason = what + " discovers its artifacts with pathPattern, which is not built yet";
      reason = made.reason;
      return nullptr;
    }
    std::map<std::string, ArtifactSource> sources;
    for (const auto& source : field(spec, "sources")) {
      std::string kind = str(source, "kind"), source_ns = str(source, "namespace", ns), source_name = str(source, "name");
      ArtifactSource& as = sources[str(source, "alias")];
      const OtherTree* other = nullptr;
      if (kind == "GitRepository") {
        as.reason = foreign_git(source_ns, source_name, &other);
      } else if (kind == "OCIRepository") {
        as.reason = foreign_oci(source_ns, source_name, &other);
      } else {
        as.reason = kind + " " + source_ns + "/" + source_name + " is not a source gitgate composes yet";
        continue;
      }
      if (!as.reason.empty()) continue;
      as.other = other;
      as.tree = other != nullptr ? other->tree : &tree_;
      if (other != nullptr) fingerprint_ += "o" + other->repository.url + " " + other->commit + "\n";
    }
    auto tree = build_artifact(sources, *spec_of_artifact);
    if (!tree) {
      made.reason = what + ", artifact " + name + ": " + tree.error();
      reason = made.reason;
      return nullptr;
    }
    made.tree = std::move(*tree);
    made.generator = "ArtifactGenerator " + ns + "/" + generator->name;
    made.file = generator->file;
    made.line = static_cast<uint32_t>(generator->line);
    return made.tree.get();
  }

  // The Kustomization below flux.path whose own path is flux.path: what `flux bootstrap` writes in
  // <path>/flux-system/gotk-sync.yaml.
  std::optional<Owner> bootstrap_declaration(const std::string& root) {
    std::vector<std::string> dirs{root};
    size_t files = 0;
    while (!dirs.empty() && files < 2000) {
      std::string dir = dirs.back();
      dirs.pop_back();
      for (const auto& entry : tree_.list(dir)) {
        std::string path = dir.empty() ? entry.name : dir + "/" + entry.name;
        if (entry.directory) {
          dirs.push_back(path);
          continue;
        }
        if (!path.ends_with(".yaml") && !path.ends_with(".yml")) continue;
        ++files;
        auto text = tree_.read(path);
        if (!text) continue;
        for (const auto& doc : manifests::parse_file(path, *text, {}).documents) {
          if (doc.kind != "Kustomization" || group_of(doc.api_version) != kKustomizeGroup) continue;
          json object = json::parse(doc.json, nullptr, false);
          json spec = field(object, "spec");
          auto own = clean_path(str(spec, "path"));
          if (!own || *own != root) continue;
          std::string ns = doc.ns.empty() ? flux_ns_ : doc.ns;
          return Owner{ns, doc.name, spec, path, doc.line, kKustomizeGroup};
        }
      }
    }
    return std::nullopt;
  }

  std::shared_ptr<BuildProvenance> provenance_of(const Owner& owner, std::string applier) {
    auto p = std::make_shared<BuildProvenance>();
    if (!owner.file.empty()) p->chain.push_back({owner.what(), owner.file, owner.line, nullptr});
    p->applier = std::move(applier);
    out_.builds.push_back(p);
    return p;
  }

  std::string applier(const Owner& owner, const char* controller) const {
    std::string sa = str(owner.spec, "serviceAccountName");
    if (!sa.empty()) return "system:serviceaccount:" + owner.ns + ":" + sa;
    return "system:serviceaccount:" + flux_ns_ + ":" + controller;
  }

  // A Kustomization or HelmRelease with spec.kubeConfig applies to another cluster: what it builds is not
  // declared in this one (not even with unknown values), and Kustomizations it would build are not followed.
  bool elsewhere(const Owner& owner) {
    if (!field(owner.spec, "kubeConfig").is_object()) return false;
    fingerprint_ += "x" + owner.label_prefix + "/" + owner.ns + "/" + owner.name + "\n";
    problem(owner.file, owner.line,
            owner.what() + " applies to another cluster (spec.kubeConfig): what it builds is not declared here");
    return true;
  }

  // What cannot be built: the last good build stays in force; with none, what it owns is declared with
  // unknown values.
  void unbuilt(const Owner& owner, std::shared_ptr<BuildProvenance> build, const std::string& reason) {
    std::string id = owner.label_prefix + "/" + owner.ns + "/" + owner.name;
    fingerprint_ += "u" + id + " " + reason + "\n";
    problem(owner.file, owner.line, owner.what() + " is not built: " + reason);
    if (auto it = cache_.last_good.find(id); it != cache_.last_good.end()) {
      problem(owner.file, owner.line,
              owner.what() + ": its last good build (" + cache_.last_good_commit[id] + ") stays in force");
      add(it->second);
      return;
    }
    build->values_unknown = true;
    build->unknown_reason = reason;
    out_.unbuilt.push_back({owner.label_prefix, owner.ns, owner.name, build});
  }

  void succeeded(const Owner& owner, const std::vector<Built>& objects) {
    std::string id = owner.label_prefix + "/" + owner.ns + "/" + owner.name;
    cache_.last_good[id] = objects;
    cache_.last_good_commit[id] = commit_label_;
  }

  // --- the exported tree, written once per build when kustomize or a Git chart needs it ------------------
  // `tree` is the repository's (the default) or an ExternalArtifact's.
  const fs::path* exported(const SourceTree* tree = nullptr) {
    if (tree == nullptr) tree = &tree_;
    fs::path& dir = export_dirs_[tree];
    if (!dir.empty()) return &dir;
    std::string pattern = (fs::temp_directory_path() / "gitgate-flux-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) return nullptr;
    dir = pattern;
    std::vector<Problem> skipped;
    if (Status s = tree->export_to(dir.string(), skipped); !s.ok()) {
      problem("", 0, "cannot export the tree for kustomize: " + s.error());
      return nullptr;
    }
    return &dir;
  }

  // --- Kustomizations
  // ---------------------------------------------------------------------------------------
  void build_kustomization(Owner owner) {
    if (!seen_.insert(owner.label_prefix + "/" + owner.ns + "/" + owner.name).second) return;
    ++out_.stats.kustomizations;
    bool root = owner.label_prefix + "/" + owner.ns + "/" + owner.name == root_id_;
    if (elsewhere(owner)) return;
    auto build = provenance_of(owner, applier(owner, "kustomize-controller"));
    const SourceTree* tree = &tree_;
    const ArtifactTree* artifact = nullptr;
    const OtherTree* repository = nullptr;  // another repository's tree
    const json& source_ref = field(owner.spec, "sourceRef");
    if (!root && str(source_ref, "kind") == "ExternalArtifact") {
      std::string reason;
      artifact = external_artifact(str(source_ref, "namespace", owner.ns), str(source_ref, "name"), reason);
      if (artifact == nullptr) return unbuilt(owner, build, reason);
      tree = artifact;
      const Artifact& made = artifacts_.at(str(source_ref, "namespace", owner.ns) + "/" + str(source_ref, "name"));
      build->chain.push_back({"ExternalArtifact " + str(source_ref, "namespace", owner.ns) + "/" +
                                  str(source_ref, "name") + " (made by " + made.generator + ")",
                              made.file, made.line, nullptr});
    } else if (const OtherTree* other = nullptr; !root) {
      if (std::string reason = foreign(owner, &other); !reason.empty()) return unbuilt(owner, build, reason);
      if (other != nullptr) {
        tree = other->tree;
        repository = other;
        build->chain.push_back({str(source_ref, "kind", "GitRepository") + " " +
                                    str(source_ref, "namespace", owner.ns) + "/" + str(source_ref, "name") + " (" +
                                    fetched_as(*other) + ")",
                                "", 0, nullptr});
        fingerprint_ += "o" + other->repository.url + " " + other->commit + "\n";
      }
    }
    auto dir = clean_path(str(owner.spec, "path"));
    if (!dir) {
      unbuilt(owner, build, "spec.path climbs out of the repository");
      return;
    }
    if (!tree->read(*dir + "/kustomization.yaml") && tree->list(*dir).empty() && !dir->empty()) {
      unbuilt(owner, build, "spec.path '" + *dir + "' is not in the " +
                                (artifact != nullptr ? std::string("artifact") : "repository at this commit"));
      return;
    }
    json flux_fields = json::object();
    for (const char* f : {"targetNamespace", "namePrefix", "nameSuffix", "patches", "components", "images",
                          "patchesStrategicMerge", "patchesJson6902"})
      if (owner.spec.contains(f)) flux_fields[f] = owner.spec[f];
    std::set<std::string> visited;
    std::string key = "kustomize\n" + flux_fields.dump() + "\n";
    for (const auto& arg : options_.spec.kustomize_command) key += arg + " ";
    kustomize_inputs(*tree, *dir, visited, key, 0);
    for (const auto& component : field(owner.spec, "components")) {
      if (!component.is_string()) continue;
      if (auto c = clean_path(*dir + "/" + component.get<std::string>())) kustomize_inputs(*tree, *c, visited, key, 0);
    }
    std::string cache_key = sha256_hex(key);
    fingerprint_ += "k" + cache_key + "\n";
    auto output = cache_.outputs.load("kustomize", cache_key);
    if (!output) {
      const fs::path* root_dir = exported(tree);
      if (root_dir == nullptr)
        return unbuilt(owner, build, "the repository could not be exported for kustomize");
      fs::path target = dir->empty() ? *root_dir : *root_dir / *dir;
      std::error_code ec;
      if (!fs::is_directory(target, ec))
        return unbuilt(owner, build, "spec.path '" + *dir + "' is not a directory");
      std::string existing = kustomize::kustomization_file(target);
      std::optional<std::string> original;
      if (!existing.empty()) {
        std::ifstream in(target / existing, std::ios::binary);
        original = std::string((std::istreambuf_iterator<char>(in)), {});
      }
      auto written = kustomize::flux_kustomization(target, flux_fields);
      if (!written) return unbuilt(owner, build, written.error());
      std::string file_name = existing.empty() ? "kustomization.yaml" : existing;
      if (Status w = write_whole_file((target / file_name).string(), *written); !w.ok())
        return unbuilt(owner, build, w.error());
      kustomize::RunOptions run;
      run.command = options_.spec.kustomize_command;
      run.timeout = options_.spec.render_timeout;
      run.max_output_bytes = options_.max_output_bytes;
      run.cancel_fd = cancel_fd_;
      auto result = kustomize::build(target, *root_dir, run);
      ++out_.stats.kustomize_runs;
      // Put the directory back as Git has it: another Kustomization may build it with other fields.
      if (original) {
        if (Status w = write_whole_file((target / file_name).string(), *original); !w.ok())
          problem(owner.file, owner.line, "cannot put " + file_name + " back after the build: " + w.error());
      } else {
        fs::remove(target / file_name, ec);
      }
      if (!result) return unbuilt(owner, build, result.error());
      cache_.outputs.store("kustomize", cache_key, *result);
      output = std::move(*result);
    }
    // Patches' values, to cite the line that set a patched value.
    std::vector<ValueOrigin> patch_values;
    if (!owner.file.empty()) {
      if (auto text = tree_.read(owner.file))
        add_origins(patch_values,
                    manifests::scalar_leaves(*text, "Kustomization", owner.name, {"spec", "patches"}),
                    "spec.patches", owner.file);
    }
    Variables variables = variables_of(owner);
    bool substitute_always = str(field(owner.spec, "postBuild"), "substituteStrategy") == "Always";
    bool substitutes = owner.spec.contains("postBuild") && substitution_runs(variables, substitute_always);
    std::vector<Built> objects;
    for (const auto& document : kustomize::split_documents(*output)) {
      auto made = kustomized_object(owner, *tree, artifact, repository, *dir, document, variables, substitutes,
                                    build, patch_values);
      if (made) objects.push_back(std::move(*made));
    }
    succeeded(owner, objects);
    add(std::move(objects));
  }

  // Variables of postBuild.substitute and substituteFrom (ConfigMaps and Secrets in the Kustomization's
  // namespace). A ConfigMap that Git declares gives its data; a Secret's values are encrypted in Git, and a
  // missing source may exist in the cluster: both make the variables incomplete (unknown ones match
  // anything).
  Variables variables_of(const Owner& owner) {
    Variables v;
    const json& post = field(owner.spec, "postBuild");
    for (const auto& from : field(post, "substituteFrom")) {
      std::string kind = str(from, "kind"), name = str(from, "name");
      const Built* source = kind == "ConfigMap" ? find("", "ConfigMap", owner.ns, name) : nullptr;
      if (source == nullptr) {
        v.incomplete = true;
        continue;
      }
      for (const auto& [k, value] : field(source->object, "data").items())
        if (value.is_string()) v.values[k] = value.get<std::string>();
    }
    for (const auto& [k, value] : field(post, "substitute").items()) {
      if (!value.is_string()) continue;
      std::string text = value.get<std::string>();
      text.erase(std::remove(text.begin(), text.end(), '\n'), text.end());
      v.values[k] = text;
    }
    for (auto& [k, value] : v.values) value.erase(std::remove(value.begin(), value.end(), '\n'), value.end());
    return v;
  }

  std::optional<Built> kustomized_object(const Owner& owner, const SourceTree& tree, const ArtifactTree* artifact,
                                         const OtherTree* repository, const std::string& dir,
                                         const std::string& document, const Variables& variables,
                                         bool substitutes, const std::shared_ptr<BuildProvenance>& build,
                                         const std::vector<ValueOrigin>& patch_values) {
    manifests::ParseOptions parse;
    parse.kustomize_origin = true;
    manifests::Limits limits;
    limits.max_file_bytes = options_.max_output_bytes;
    auto parsed =
        manifests::parse_file("kustomize build " + (dir.empty() ? "." : dir), document, limits, parse);
    if (parsed.documents.empty()) {
      for (auto& p : parsed.problems) problem(owner.file, owner.line, owner.what() + ": " + p.reason);
      return std::nullopt;
    }
    manifests::Document doc = std::move(parsed.documents.front());
    json object = json::parse(doc.json, nullptr, false);
    if (!object.is_object()) return std::nullopt;
    json& metadata = object["metadata"];
    auto disabled = [&](const char* map) {
      return metadata.contains(map) && metadata[map].is_object() &&
             str(metadata[map], "kustomize.toolkit.fluxcd.io/substitute") == "disabled";
    };
    if (substitutes && !disabled("labels") && !disabled("annotations")) {
      auto again = manifests::parse_file("kustomize build", substitute(document, variables), limits, parse);
      if (!again.documents.empty()) {
        doc = std::move(again.documents.front());
        object = json::parse(doc.json, nullptr, false);
        if (!object.is_object()) return std::nullopt;
      }
    }
    json& meta = object["metadata"];
    bool patched = false;
    if (meta.contains("annotations") && meta["annotations"].is_object()) {
      std::string transformations = str(meta["annotations"], kustomize::kTransformationsAnnotation);
      patched = transformations.find("Patch") != std::string::npos;
      meta["annotations"].erase(kustomize::kTransformationsAnnotation);
      if (meta["annotations"].empty()) meta.erase("annotations");
    }
    meta["labels"]["kustomize.toolkit.fluxcd.io/name"] = owner.name;
    meta["labels"]["kustomize.toolkit.fluxcd.io/namespace"] = owner.ns;
    const json& common = field(owner.spec, "commonMetadata");
    for (const char* map : {"labels", "annotations"})
      for (const auto& [k, value] : field(common, map).items()) meta[map][k] = value;

    Built b;
    b.group = group_of(doc.api_version);
    b.kind = doc.kind;
    b.name = str(meta, "name");
    // Where Git holds it: the file kustomize names, at the document that declares it there.
    b.file = owner.file;
    b.line = owner.line;
    if (!doc.origin.empty()) {
      if (auto file = clean_path((dir.empty() ? "" : dir + "/") + doc.origin); file && tree.read(*file)) {
        // Where Git holds it: an artifact's file at its path in this repository; another repository's
        // named by its URL ("<url>//<path>", as kustomize names remote files).
        b.line = 1;
        if (const ArtifactTree::Origin* from = artifact != nullptr ? artifact->origin(*file) : nullptr) {
          b.file = cite(from->other, from->path);
          locate(b, doc.kind, *from->tree, from->path);
        } else if (repository != nullptr) {
          b.file = cite(repository, *file);
          locate(b, doc.kind, tree, *file);
        } else {
          b.file = *file;
          locate(b, doc.kind, tree_, b.file);
        }
      }
    }
    b.build = build;
    if (patched && !patch_values.empty()) {
      // This object was patched: its provenance cites the patches' values.
      auto own = std::make_shared<BuildProvenance>(*build);
      own->values = patch_values;
      out_.builds.push_back(own);
      b.build = own;
    }
    b.object = std::move(object);
    finish_identity(b);
    return b;
  }

  // The line of the document that declares an object in its file (the first of the same kind whose name
  // the built name contains: prefixes and suffixes are added by the build).
  void locate(Built& b, const std::string& kind, const SourceTree& tree, const std::string& path) {
    auto it = file_docs_.find(b.file);
    if (it == file_docs_.end()) {
      auto text = tree.read(path);
      it = file_docs_
               .emplace(b.file, text ? manifests::parse_file(path, *text, {}).documents
                                     : std::vector<manifests::Document>{})
               .first;
    }
    for (const auto& d : it->second) {
      if (d.kind != kind || b.name.find(d.name) == std::string::npos) continue;
      b.line = d.line;
      b.column = d.column;
      return;
    }
  }

  // Namespace and key as the API server will see them.
  void finish_identity(Built& b) {
    std::string ns = str(field(b.object, "metadata"), "namespace");
    switch (builtin_kind_scope(b.group, b.kind)) {
      case KindScope::Cluster:
        b.ns.clear();
        break;
      case KindScope::Namespaced:
        b.ns = ns.empty() ? options_.spec.default_namespace : ns;
        break;
      case KindScope::Unknown:
        b.ns = ns;
        break;
    }
  }

  // --- HelmReleases
  // -------------------------------------------------------------------------------------------
  void build_release(Owner owner) {
    if (!seen_.insert(owner.label_prefix + "/" + owner.ns + "/" + owner.name).second) return;
    ++out_.stats.helm_releases;
    if (elsewhere(owner)) return;
    auto build = provenance_of(owner, applier(owner, "helm-controller"));
    build->rendered = true;
    struct Restore {
      const OtherTree*& at;
      ~Restore() { at = nullptr; }
    } restore{chart_repository_};
    const json& spec = owner.spec;
    std::string target_ns = str(spec, "targetNamespace");
    std::string release_ns = target_ns.empty() ? owner.ns : target_ns;
    std::string release = str(spec, "releaseName");
    if (release.empty()) release = target_ns.empty() ? owner.name : target_ns + "-" + owner.name;
    if (release.size() > 53) release = release.substr(0, 40) + "-" + sha256_hex(release).substr(0, 12);

    // The chart.
    std::string chart_path, chart_digest, chart_label;
    std::vector<Built> extra;  // the HelmChart helm-controller creates for spec.chart
    json chart_spec = field(field(spec, "chart"), "spec");
    std::string chart_spec_ns = owner.ns;  // where the chart's sourceRef is looked up by default
    const json& chart_ref = field(spec, "chartRef");
    helm::ChartSource source;
    std::chrono::microseconds source_ttl = std::chrono::minutes(10);
    bool from_tree = false;
    // chartRef to a HelmChart that Git declares: built from that HelmChart's spec, as from chart.spec (the
    // HelmChart is Git's, so helm-controller creates none).
    const Built* declared_chart = nullptr;
    if (chart_ref.is_object() && str(chart_ref, "kind") == "HelmChart") {
      std::string name = str(chart_ref, "name"), ns = str(chart_ref, "namespace", owner.ns);
      declared_chart = find(kSourceGroup, "HelmChart", ns, name);
      if (declared_chart == nullptr)
        return unbuilt(owner, build, "its HelmChart " + ns + "/" + name + " is not declared in the repository");
      chart_spec = field(declared_chart->object, "spec");
      chart_spec_ns = ns;
      if (!chart_spec.is_object()) return unbuilt(owner, build, "its HelmChart " + ns + "/" + name + " has no spec");
    }
    if (chart_ref.is_object() && declared_chart == nullptr) {
      std::string kind = str(chart_ref, "kind"), name = str(chart_ref, "name"),
                  ns = str(chart_ref, "namespace", owner.ns);
      if (kind != "OCIRepository")
        return unbuilt(owner, build, "chartRef kind " + kind + " is not supported (OCIRepository, HelmChart)");
      const Built* repo = find(kSourceGroup, "OCIRepository", ns, name);
      if (repo == nullptr)
        return unbuilt(owner, build,
                       "its OCIRepository " + ns + "/" + name + " is not declared in the repository");
      const json& rs = field(repo->object, "spec");
      std::string url = str(rs, "url");
      while (url.ends_with("/")) url.pop_back();
      auto slash = url.rfind('/');
      if (!url.starts_with("oci://") || slash == std::string::npos || slash < 6)
        return unbuilt(owner, build, "OCIRepository " + ns + "/" + name + " has no oci:// url");
      source.repository = url.substr(0, slash);
      source.chart = url.substr(slash + 1);
      source.plain_http = flag(rs, "insecure");
      source_ttl = interval_of(rs);
      // source-controller's precedence: digest, then semver, then tag ("latest" when none).
      const json& ref = field(rs, "ref");
      source.version = str(ref, "semver", str(ref, "tag", "latest"));
      source.digest = str(ref, "digest");
      if (!source.digest.empty() && !helm::is_digest(source.digest))
        return unbuilt(owner, build,
                       "OCIRepository " + ns + "/" + name + " ref.digest '" + source.digest +
                           "' is not sha256: and 64 lowercase hex digits");
    } else if (chart_spec.is_object()) {
      const json& ref = field(chart_spec, "sourceRef");
      std::string kind = str(ref, "kind", "HelmRepository"), name = str(ref, "name"),
                  ns = str(ref, "namespace", chart_spec_ns);
      source.chart = str(chart_spec, "chart");
      source.version = str(chart_spec, "version", "*");
      if (kind == "HelmRepository") {
        const Built* repo = find(kSourceGroup, "HelmRepository", ns, name);
        if (repo == nullptr)
          return unbuilt(owner, build,
                         "its HelmRepository " + ns + "/" + name + " is not declared in the repository");
        const json& rs = field(repo->object, "spec");
        source.repository = str(rs, "url");
        source.plain_http = flag(rs, "insecure");
        source.ca_file = options_.spec.flux->ca_file;
        source_ttl = interval_of(rs);
        if (str(rs, "type") == "oci" && !source.repository.starts_with("oci://"))
          return unbuilt(owner, build,
                         "HelmRepository " + ns + "/" + name + " of type oci has no oci:// url");
      } else if (kind == "GitRepository") {
        Owner as_kustomization{chart_spec_ns, owner.name, json{{"sourceRef", ref}},
                               owner.file,    owner.line, kKustomizeGroup};
        const OtherTree* other = nullptr;
        if (std::string reason = foreign(as_kustomization, &other); !reason.empty())
          return unbuilt(owner, build, "the chart's source: " + reason.substr(std::string("its source ").size()));
        chart_repository_ = other;
        const SourceTree& chart_tree = this->chart_tree();
        auto path = clean_path(source.chart);
        if (!path || !chart_tree.read(*path + "/Chart.yaml"))
          return unbuilt(owner, build, "chart path '" + source.chart + "' has no Chart.yaml at this commit");
        const fs::path* root_dir = exported(&chart_tree);
        if (root_dir == nullptr) return unbuilt(owner, build, "the repository could not be exported");
        chart_path = (*root_dir / *path).string();
        chart_digest = "tree:" + chart_tree.id(*path) + (other != nullptr ? " " + other->repository.url : "");
        chart_label = "chart " + cite(chart_repository_, *path) + " (repository path" +
                      (other != nullptr ? " @ " + other->commit.substr(0, 7) : std::string()) + ")";
        from_tree = true;
      } else {
        return unbuilt(owner, build, "charts from a " + kind + " are not supported yet");
      }
      // The HelmChart helm-controller creates for it, in the source's namespace, as helm-controller itself.
      if (declared_chart == nullptr) {
        Built helm_chart;
        helm_chart.group = kSourceGroup;
        helm_chart.kind = "HelmChart";
        helm_chart.ns = ns;
        helm_chart.name = owner.ns + "-" + owner.name;
        helm_chart.file = owner.file;
        helm_chart.line = owner.line;
        helm_chart.object = {
            {"apiVersion", "source.toolkit.fluxcd.io/v1"},
            {"kind", "HelmChart"},
            {"metadata",
             {{"name", helm_chart.name},
              {"namespace", ns},
              {"labels",
               {{"helm.toolkit.fluxcd.io/name", owner.name}, {"helm.toolkit.fluxcd.io/namespace", owner.ns}}}}},
            {"spec", {{"chart", source.chart}, {"sourceRef", {{"kind", kind}, {"name", name}}}}}};
        if (kind != "GitRepository") helm_chart.object["spec"]["version"] = source.version;
        auto chart_build = provenance_of(owner, "system:serviceaccount:" + flux_ns_ + ":helm-controller");
        chart_build->rendered = true;
        helm_chart.build = chart_build;
        extra.push_back(std::move(helm_chart));
      }
    } else {
      return unbuilt(owner, build, "it names no chart (spec.chart or spec.chartRef)");
    }
    if (!from_tree) {
      auto pulled = pull(source, source_ttl);
      if (!pulled) return unbuilt(owner, build, pulled.error());
      chart_path = pulled->path;
      chart_digest = pulled->digest;
      chart_label = "chart " + pulled->name + " " + pulled->version + " (" + pulled->digest.substr(0, 19) +
                    "…) from " + source.repository;
    }
    build->chain.push_back({chart_label, "", 0, nullptr});

    // valuesFiles: source-controller merges them in order and makes the result the chart's values.yaml.
    std::optional<ChartValues> chart_values;
    if (chart_spec.is_object()) {
      std::vector<std::string> files;
      if (std::string one = str(chart_spec, "valuesFile"); !one.empty()) files.push_back(one);  // v2beta1
      for (const auto& file : field(chart_spec, "valuesFiles"))
        if (file.is_string()) files.push_back(file.get<std::string>());
      if (!files.empty()) {
        auto merged = values_files(chart_path, from_tree, files, flag(chart_spec, "ignoreMissingValuesFiles"));
        if (!merged) return unbuilt(owner, build, merged.error());
        chart_values = std::move(*merged);
        chart_digest += "\nvaluesFiles " + sha256_hex(chart_values->values.dump());
      }
    }

    // The values: valuesFrom in order, then the inline values on top.
    json values = json::object();
    for (const auto& from : field(spec, "valuesFrom")) {
      std::string kind = str(from, "kind"), name = str(from, "name"),
                  key = str(from, "valuesKey", "values.yaml");
      std::string target = str(from, "targetPath");
      bool optional = flag(from, "optional");
      if (kind == "Secret")
        return unbuilt(owner, build,
                       "valuesFrom Secret " + owner.ns + "/" + name +
                           ": Git holds it encrypted, so the values are unknown");
      const Built* cm = find("", "ConfigMap", owner.ns, name);
      if (cm == nullptr || !field(cm->object, "data").contains(key)) {
        if (optional) continue;
        return unbuilt(owner, build,
                       "valuesFrom ConfigMap " + owner.ns + "/" + name + " (key " + key +
                           ") is not declared in the repository");
      }
      std::string text = field(cm->object, "data")[key].get<std::string>();
      if (!target.empty()) {
        merge_maps(values, field(spec, "values"));
        set_path(values, target, text);
        continue;
      }
      auto docs = manifests::yaml_documents_as_json(text);
      if (!docs)
        return unbuilt(owner, build, "valuesFrom ConfigMap " + owner.ns + "/" + name + ": " + docs.error());
      for (const auto& d : *docs) merge_maps(values, json::parse(d, nullptr, false));
      if (auto cm_text = tree_.read(cm->file))
        add_origins(build->values, manifests::scalar_leaves(*cm_text, "ConfigMap", name, {"data", key}),
                    "valuesFrom ConfigMap " + name, cm->file);
    }
    // The chart's values (valuesFiles) are under valuesFrom and the inline values: cited after them.
    if (chart_values)
      for (const auto& origin : chart_values->origins)
        if (build->values.size() < kMaxValueOrigins) build->values.push_back(origin);
    merge_maps(values, field(spec, "values"));
    // Inline values last: they win over valuesFrom, so their lines are the ones to cite first.
    if (auto text = tree_.read(owner.file)) {
      std::vector<ValueOrigin> inline_values;
      for (auto& leaf : manifests::scalar_leaves(*text, "HelmRelease", owner.name, {"spec", "values"}))
        if (inline_values.size() < kMaxValueOrigins)
          inline_values.push_back({leaf.value, "values." + leaf.path, owner.file, leaf.line});
      build->values.insert(build->values.begin(), inline_values.begin(), inline_values.end());
    }

    // Render, or take the render these inputs made before.
    const json& install = field(spec, "install");
    bool crds = str(install, "crds", "Create") != "Skip";
    bool no_hooks = flag(install, "disableHooks");
    json post_renderers = field(spec, "postRenderers");
    std::string key =
        sha256_hex("helm\n" + chart_digest + "\n" + values.dump() + "\n" + release + "\n" + release_ns +
                   "\n" + (crds ? "crds" : "") + (no_hooks ? "nohooks" : "") + "\n" + post_renderers.dump() +
                   "\n" + capabilities_key(options_.spec.kube_version, options_.spec.api_versions));
    fingerprint_ += "h" + key + "\n";
    auto output = cache_.outputs.load("helm", key);
    if (!output) {
      auto rendered = render(chart_path, chart_values ? &*chart_values : nullptr, release, release_ns, values,
                             crds, no_hooks, post_renderers);
      if (!rendered) return unbuilt(owner, build, rendered.error());
      cache_.outputs.store("helm", key, *rendered);
      output = std::move(*rendered);
    }
    std::vector<Built> objects = std::move(extra);
    const json& common = field(spec, "commonMetadata");
    for (const auto& document : kustomize::split_documents(*output)) {
      bool crd_file = document.find("/crds/") != std::string::npos && document.rfind("# Source:", 0) == 0;
      auto parsed = manifests::parse_file("helm template " + release, document, {});
      for (auto& p : parsed.problems) problem(owner.file, owner.line, owner.what() + ": " + p.reason);
      if (parsed.documents.empty()) continue;
      const auto& doc = parsed.documents.front();
      json object = json::parse(doc.json, nullptr, false);
      if (!object.is_object()) continue;
      json& meta = object["metadata"];
      bool hook = meta.contains("annotations") && field(meta["annotations"], "helm.sh/hook").is_string();
      if (str(field(meta, "annotations"), "helm.sh/hook").find("test") != std::string::npos) continue;
      if (!crd_file) {
        for (const char* map : {"labels", "annotations"})
          for (const auto& [k, value] : field(common, map).items()) meta[map][k] = value;
      }
      meta["labels"]["helm.toolkit.fluxcd.io/name"] = owner.name;
      meta["labels"]["helm.toolkit.fluxcd.io/namespace"] = owner.ns;
      if (!hook && !crd_file) {
        meta["labels"]["app.kubernetes.io/managed-by"] = "Helm";
        meta["annotations"]["meta.helm.sh/release-name"] = release;
        meta["annotations"]["meta.helm.sh/release-namespace"] = release_ns;
      }
      Built b;
      b.group = group_of(doc.api_version);
      b.kind = doc.kind;
      b.name = str(meta, "name");
      b.file = owner.file;
      b.line = owner.line;
      b.build = build;
      std::string ns = str(meta, "namespace");
      if (ns.empty() && builtin_kind_scope(b.group, b.kind) != KindScope::Cluster)
        meta["namespace"] = release_ns;
      b.object = std::move(object);
      finish_identity(b);
      objects.push_back(std::move(b));
    }
    succeeded(owner, objects);
    add(std::move(objects));
  }

  gitgate::Result<helm::PulledChart> pull(const helm::ChartSource& source, std::chrono::microseconds ttl) {
    return cache_.charts.pull(tool(), source, ttl, cache_.builds, out_.stats.chart_pulls);
  }

  // A source's spec.interval: how often Flux reads it again.
  static std::chrono::microseconds interval_of(const json& source_spec) {
    auto parsed = parse_duration(str(source_spec, "interval", "10m"));
    return parsed ? *parsed : std::chrono::minutes(10);
  }

  helm::Tool tool() const {
    return helm_tool(options_.spec.helm_command, options_.cache_dir, options_.spec.render_timeout,
                     options_.max_output_bytes, cancel_fd_);
  }

  // A chart whose values.yaml source-controller replaced: the chart's files and the values that replace it.
  struct ChartValues {
    std::string directory;                 // a chart directory of the repository (exported), or
    std::vector<helm::ArchiveFile> files;  // a pulled chart's files
    std::string root;                      // the chart's directory inside `files`
    json values;
    std::vector<ValueOrigin> origins;  // the repository files' lines, the later files' first
  };

  // What source-controller makes of a HelmChart's valuesFiles: each file merged over the previous ones, read
  // from the repository for a chart in Git (paths from the repository's root) or from the chart itself for a
  // pulled one ("values.yaml" being the chart's own values). Values from repository files are cited.
  gitgate::Result<ChartValues> values_files(const std::string& chart, bool from_tree,
                                            const std::vector<std::string>& paths, bool ignore_missing) {
    ChartValues out;
    out.values = json::object();
    if (from_tree) {
      out.directory = chart;
    } else {
      auto files = helm::read_chart_archive(chart);
      if (!files) return Error{files.error()};
      out.files = std::move(*files);
      out.root = helm::chart_root(out.files);
      if (out.root.empty()) return Error{"chart archive " + chart + " has no Chart.yaml at its top"};
    }
    std::vector<ValueOrigin> cited;
    for (const auto& path : paths) {
      auto clean = clean_path(path);
      if (!clean || clean->empty()) return Error{"valuesFiles: '" + path + "' is not a path inside the source"};
      std::optional<std::string> text;
      if (from_tree) {
        text = chart_tree().read(*clean);
      } else if (const auto* file = helm::chart_file(out.files, out.root, *clean)) {
        text = file->data;
      }
      if (!text) {
        if (ignore_missing) continue;
        return Error{"valuesFiles: no values file found at path '" + path + "'" +
                     (from_tree ? " in the repository" : " in the chart")};
      }
      auto docs = manifests::yaml_documents_as_json(*text);
      if (!docs) return Error{"valuesFiles: " + path + ": " + docs.error()};
      for (const auto& d : *docs) merge_maps(out.values, json::parse(d, nullptr, false));
      if (from_tree) add_origins(cited, manifests::scalar_leaves(*text), "valuesFiles", cite(chart_repository_, *clean));
    }
    // Later files win: their lines are cited first.
    for (auto it = cited.rbegin(); it != cited.rend() && out.origins.size() < kMaxValueOrigins; ++it)
      out.origins.push_back(*it);
    return out;
  }

  gitgate::Result<std::string> render(std::string chart, const ChartValues* chart_values,
                                      const std::string& release, const std::string& ns, const json& values,
                                      bool crds, bool no_hooks, const json& post_renderers) {
    std::string pattern = (fs::temp_directory_path() / "gitgate-helm-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) return Error{"cannot create a temporary directory for helm"};
    fs::path work = pattern;
    struct Cleanup {
      fs::path p;
      ~Cleanup() {
        std::error_code ec;
        fs::remove_all(p, ec);
      }
    } cleanup{work};
    if (chart_values != nullptr) {
      fs::path copy = work / "chart";
      std::error_code ec;
      if (!chart_values->directory.empty()) {
        fs::copy(chart_values->directory, copy, fs::copy_options::recursive, ec);
        if (ec) return Error{"cannot copy the chart for its valuesFiles: " + ec.message()};
      } else {
        if (Status s = helm::write_files(chart_values->files, copy.string()); !s.ok()) return Error{s.error()};
        copy /= chart_values->root;
      }
      if (!fs::is_regular_file(copy / "values.yaml"))
        return Error{"valuesFiles: the chart has no values.yaml for them to replace, which source-controller "
                     "refuses"};
      if (Status w = write_whole_file((copy / "values.yaml").string(), chart_values->values.dump()); !w.ok())
        return Error{"cannot write the chart's merged values: " + w.error()};
      chart = copy.string();
    }
    if (Status w = write_whole_file((work / "values.json").string(), values.dump()); !w.ok())
      return Error{"cannot write the release's values: " + w.error()};
    ++out_.stats.helm_runs;
    helm::TemplateRequest request;
    request.chart = chart;
    request.release = release;
    request.ns = ns;
    request.values_file = (work / "values.json").string();
    request.include_crds = crds;
    request.no_hooks = no_hooks;
    request.kube_version = options_.spec.kube_version;
    request.api_versions = options_.spec.api_versions;
    if (fs::is_directory(chart)) {  // a chart from Git: pulled archives hold their dependencies
      request.build_missing_dependencies = true;
      if (const fs::path* root = exported(&chart_tree())) request.dependency_root = root->string();
      request.dependency_ca_file = options_.spec.flux ? options_.spec.flux->ca_file : "";
    }
    auto output = helm::render(tool(), request);
    if (!output) return output;
    if (!post_renderers.is_array() || post_renderers.empty()) return output;
    // Post-renderers (kustomize patches and images) apply to everything but the chart's crds/ directory.
    std::string crd_stream, rest;
    for (const auto& document : kustomize::split_documents(*output)) {
      bool crd_file = document.find("/crds/") != std::string::npos && document.rfind("# Source:", 0) == 0;
      (crd_file ? crd_stream : rest) += "---\n" + document;
    }
    for (const auto& renderer : post_renderers) {
      const json& k = field(renderer, "kustomize");
      if (!k.is_object()) continue;
      if (Status w = write_whole_file((work / "helm-output.yaml").string(), rest); !w.ok()) return Error{w.error()};
      if (Status w = write_whole_file((work / "kustomization.yaml").string(),
                                      kustomize::post_render_kustomization({"helm-output.yaml"}, k));
          !w.ok())
        return Error{w.error()};
      kustomize::RunOptions run;
      run.command = options_.spec.kustomize_command;
      run.timeout = options_.spec.render_timeout;
      run.max_output_bytes = options_.max_output_bytes;
      run.cancel_fd = cancel_fd_;
      auto built = kustomize::build(work, work, run);
      if (!built) return Error{"post-renderer: " + built.error()};
      rest = std::move(*built);
    }
    return crd_stream + "---\n" + rest;
  }

  // --- the result
  // ---------------------------------------------------------------------------------------------
  void finish() { declare_built(built_, options_.spec.default_namespace, out_.objects); }

  const Options& options_;
  Cache& cache_;
  const SourceTree& tree_;
  Result out_;
  std::set<std::string> self_;  // the policy's repository, by every URL it is known as
  std::string flux_ns_;
  std::string root_path_;
  std::string commit_label_;
  int cancel_fd_;
  const std::vector<OtherTree>& others_;
  std::string fingerprint_;  // the inputs of every build, in order
  std::string root_id_;
  std::deque<Owner> queue_;
  std::vector<Owner> releases_;
  std::set<std::string> seen_, discovered_;
  std::unordered_map<std::string, std::string> discovered_at_;  // owner -> file:line of its first declaration
  std::vector<Built> built_;
  std::unordered_map<std::string, size_t> index_;
  std::unordered_map<std::string, std::vector<manifests::Document>> file_docs_;
  std::map<const SourceTree*, fs::path> export_dirs_;  // the repository's and each ExternalArtifact's
  // The repository of the chart of the HelmRelease being built, when it is another repository's.
  const OtherTree* chart_repository_ = nullptr;
  struct Artifact {
    std::unique_ptr<ArtifactTree> tree;
    std::string reason;     // why it could not be built
    std::string generator;  // "ArtifactGenerator ns/name", declared at file:line
    std::string file;
    uint32_t line = 0;
  };
  std::map<std::string, Artifact> artifacts_;  // by namespace/name
};

Builder::Builder(Options options)
    : options_(std::move(options)), cache_(std::make_unique<Cache>(options_.cache_dir)) {}
Builder::~Builder() = default;

Result Builder::build(const SourceTree& tree, const std::string& commit, int cancel_fd,
                      const std::vector<OtherTree>& others) {
  ++cache_->builds;
  return Run(options_, *cache_, tree, commit, cancel_fd, others).run();
}

}  // namespace gitgate::desired::flux
