#include "desired/argocd/builder.h"

#include <fnmatch.h>
#include <stdlib.h>

#include <algorithm>
#include <cctype>
#include <deque>
#include <filesystem>
#include <fstream>
#include <set>
#include <unordered_map>

#include "core/argocd_tracking.h"
#include "desired/argocd/application_set.h"
#include "desired/helm/chart_archive.h"
#include "desired/kustomize/kustomization.h"
#include "manifests/loader.h"
#include "manifests/yaml_document.h"

namespace gitgate::desired::argocd {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr size_t kMaxRootFiles = 5000;
constexpr size_t kMaxDirectoryFiles = 5000;
constexpr const char* kOverlayDir = ".gitgate-argocd";
constexpr size_t kMaxParentLinks = 4;

// An Application or ApplicationSet to build, read from a built object.
struct Owner {
  std::string kind;  // "Application" or "ApplicationSet"
  std::string ns, name;
  json object;
  std::string file;
  uint32_t line = 0;
  bool literal = false;  // written in `file` as it is (not rendered from a chart or generated)
  // How the Application or ApplicationSet itself was built, when another one rendered or generated it: its
  // links end this owner's chain (app of apps).
  std::shared_ptr<const BuildProvenance> from;
  // The Application that syncs argocd.path when that path is a chart or a kustomization: it is created
  // outside Git (`argocd app create`), so it is not itself declared, and its objects carry its tracking only
  // when the policy names it (argocd.rootApplication).
  bool outside_git = false;
  bool tracked = true;
  std::string what() const {
    return outside_git ? "the root Application " + ns + "/" + name + " that syncs argocd.path '" + file + "'"
                       : kind + " " + ns + "/" + name;
  }
  std::string id() const { return kind + "/" + ns + "/" + name; }
};

// "{a,b}.yaml" -> {"a.yaml", "b.yaml"}: the one level of alternatives Argo CD's include/exclude globs use.
std::vector<std::string> expand_braces(const std::string& pattern) {
  auto open = pattern.find('{');
  auto close = open == std::string::npos ? std::string::npos : pattern.find('}', open);
  if (close == std::string::npos) return {pattern};
  std::vector<std::string> out;
  std::string inner = pattern.substr(open + 1, close - open - 1);
  size_t start = 0;
  while (start <= inner.size()) {
    size_t comma = inner.find(',', start);
    std::string choice = inner.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    for (auto& rest : expand_braces(pattern.substr(close + 1)))
      out.push_back(pattern.substr(0, open) + choice + rest);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

bool glob_matches(const std::string& pattern, const std::string& path) {
  for (const auto& p : expand_braces(pattern))
    if (fnmatch(p.c_str(), path.c_str(), 0) == 0) return true;
  return false;
}

using BuildEnv = std::map<std::string, std::string>;

// Go's isShellSpecialVar and isAlphaNum, as os.Expand reads names.
bool shell_special(char c) {
  return std::string_view("*#$@!?-0123456789").find(c) != std::string_view::npos;
}
bool name_char(char c) {
  return c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// A value file or set-file path: "$ref/rest" has its rest substituted once the ref is resolved, any other
// path as a whole, as the repo-server does.
std::string expand_file_path(const std::string& file, const BuildEnv& env) {
  if (!file.starts_with("$")) return expand_build_env(file, env);
  auto slash = file.find('/');
  if (slash == std::string::npos) return file;
  return file.substr(0, slash + 1) + expand_build_env(file.substr(slash + 1), env);
}

// Helm's --set parsing splits at commas; Argo CD escapes them unless the value is a {list}.
std::string set_value(const std::string& value) {
  if (value.starts_with("{") && value.ends_with("}")) return value;
  std::string out;
  char previous = 0;
  for (char c : value) {
    if (c == ',' && previous != '\\') out += '\\';
    out += c;
    previous = c;
  }
  return out;
}

// `kustomize edit set image` syntax: "name=newName:tag", "name=newName@digest", "name:tag", "name@digest".
json kustomize_image(const std::string& text) {
  json image = json::object();
  std::string name = text, target;
  if (auto eq = text.find('='); eq != std::string::npos) {
    name = text.substr(0, eq);
    target = text.substr(eq + 1);
  } else {
    target = text;
  }
  auto split = [](const std::string& ref, std::string& base, std::string& tag, std::string& digest) {
    base = ref;
    if (auto at = ref.find('@'); at != std::string::npos) {
      digest = ref.substr(at + 1);
      base = ref.substr(0, at);
    }
    auto slash = base.rfind('/');
    auto colon = base.rfind(':');
    if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
      tag = base.substr(colon + 1);
      base = base.substr(0, colon);
    }
  };
  std::string base, tag, digest;
  split(target, base, tag, digest);
  if (text.find('=') == std::string::npos) {
    image["name"] = base;
  } else {
    std::string name_base, ignored_tag, ignored_digest;
    split(name, name_base, ignored_tag, ignored_digest);
    image["name"] = name_base;
    if (base != name_base) image["newName"] = base;
  }
  if (!tag.empty()) image["newTag"] = tag;
  if (!digest.empty()) image["digest"] = digest;
  return image;
}

}  // namespace

struct Builder::Cache {
  explicit Cache(const std::string& dir) : outputs(dir), charts(dir) {}
  OutputCache outputs;
  ChartCache charts;
  size_t builds = 0;
  std::unordered_map<std::string, std::vector<Built>> last_good;
  std::unordered_map<std::string, std::string> last_good_commit;
};

// One build of one commit.
class Builder::Run {
 public:
  Run(const Options& options, Cache& cache, const SourceTree& tree, std::string commit, int cancel_fd,
      const std::vector<OtherTree>& others)
      : options_(options), cache_(cache), tree_(tree), revision_(std::move(commit)),
        commit_label_(revision_.size() >= 40 ? revision_.substr(0, 7) : revision_), cancel_fd_(cancel_fd),
        others_(others) {
    self_ = repository_identities(options.spec);
    argo_ns_ = options.spec.argocd ? options.spec.argocd->ns : "argocd";
    controller_ = "system:serviceaccount:" + argo_ns_ + ":argocd-application-controller";
    appset_controller_ = "system:serviceaccount:" + argo_ns_ + ":argocd-applicationset-controller";
  }
  ~Run() {
    std::error_code ec;
    for (const auto& [tree, dir] : export_dirs_)
      if (!dir.empty()) fs::remove_all(dir, ec);
    if (!work_dir_.empty()) fs::remove_all(work_dir_, ec);
  }

  Result run() {
    if (!options_.spec.argocd) {
      problem("", 0, "the source has no argocd section");
      return std::move(out_);
    }
    auto root = clean_path(options_.spec.argocd->path);
    if (!root) {
      problem(options_.spec.argocd->path, 0, "argocd.path climbs out of the repository");
      return std::move(out_);
    }
    read_root(*root);
    while (!apps_.empty() || !sets_.empty()) {
      if (built_owners_ >= options_.max_applications) {
        problem("", 0,
                "more than " + std::to_string(options_.max_applications) +
                    " Applications and ApplicationSets; the rest is not built");
        break;
      }
      ++built_owners_;
      if (!apps_.empty()) {
        Owner next = std::move(apps_.front());
        apps_.pop_front();
        build_application(next);
      } else {
        Owner next = std::move(sets_.front());
        sets_.pop_front();
        build_application_set(next);
      }
    }
    finish();
    out_.fingerprint = sha256_hex(fingerprint_ + options_.spec.default_namespace);
    return std::move(out_);
  }

 private:
  void problem(const std::string& path, uint32_t line, std::string reason) {
    out_.problems.push_back({path, line, std::move(reason)});
  }

  // --- the root directory: Applications, ApplicationSets and whatever else is written there -------------
  void read_root(const std::string& root) {
    if (auto text = tree_.read(root)) {
      read_file(root, *text);
      return;
    }
    if (source_type(root) != SourceType::Directory) return root_application(root);
    std::vector<std::string> dirs{root};
    size_t files = 0;
    while (!dirs.empty()) {
      std::string dir = dirs.back();
      dirs.pop_back();
      auto entries = tree_.list(dir);
      for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
        std::string path = dir.empty() ? it->name : dir + "/" + it->name;
        if (it->directory) {
          dirs.push_back(path);
          continue;
        }
        if (!manifests::is_manifest_path(path)) continue;
        if (++files > kMaxRootFiles) {
          problem(root, 0, "more than " + std::to_string(kMaxRootFiles) + " files below argocd.path; the rest is not read");
          return;
        }
        if (auto text = tree_.read(path)) read_file(path, *text);
      }
    }
    if (files == 0) problem(root, 0, "argocd.path holds no manifests at this commit");
  }

  enum class SourceType { Helm, Kustomize, Directory };
  // What the repo-server makes of a directory with no explicit source type (its discovery): a chart when it
  // holds Chart.yaml, else a kustomization when it holds one, else plain manifests.
  SourceType source_type(const std::string& dir, const SourceTree* tree = nullptr) const {
    if (tree == nullptr) tree = &tree_;
    std::string prefix = dir.empty() ? "" : dir + "/";
    if (tree->read(prefix + "Chart.yaml")) return SourceType::Helm;
    for (const char* name : {"kustomization.yaml", "kustomization.yml", "Kustomization"})
      if (tree->read(prefix + name)) return SourceType::Kustomize;
    return SourceType::Directory;
  }

  // argocd.path is a chart or a kustomization (a Helm chart of Applications, say): an Application created
  // outside Git syncs it, rendering it as any source, into Argo CD's namespace.
  void root_application(const std::string& root) {
    const std::string& named = options_.spec.argocd->root_application;
    std::string name = named;
    if (name.empty()) name = root.empty() ? "root" : root.substr(root.rfind('/') + 1);
    json source = {{"repoURL", options_.spec.url}, {"path", root}, {"targetRevision", options_.spec.branch}};
    json object = {{"apiVersion", "argoproj.io/v1alpha1"},
                   {"kind", "Application"},
                   {"metadata", {{"name", name}, {"namespace", argo_ns_}}},
                   {"spec", {{"project", "default"}, {"destination", {{"namespace", argo_ns_}}}, {"source", source}}}};
    Owner owner{"Application", argo_ns_, name, std::move(object), root, 0, false, nullptr};
    owner.outside_git = true;
    owner.tracked = !named.empty();
    discovered_at_.emplace(owner.id(), root);
    apps_.push_back(std::move(owner));
  }

  void read_file(const std::string& path, const std::string& text) {
    manifests::Limits limits;
    limits.max_file_bytes = options_.spec.max_file_bytes;
    auto parsed = manifests::parse_file(path, text, limits);
    for (auto& p : parsed.problems) out_.problems.push_back(std::move(p));
    std::vector<Built> objects;
    for (auto& doc : parsed.documents) {
      Built b;
      b.object = json::parse(doc.json, nullptr, false);
      if (!b.object.is_object()) continue;
      b.group = group_of(doc.api_version);
      b.kind = doc.kind;
      b.name = doc.name;
      b.file = path;
      b.line = doc.line;
      b.column = doc.column;
      place(b, options_.spec.default_namespace, false);
      objects.push_back(std::move(b));
    }
    add(std::move(objects), nullptr);
  }

  // Namespace and key as the API server will see them; Applications live in Argo CD's namespace unless they
  // say otherwise.
  void place(Built& b, const std::string& default_ns, bool resolve_unknown = true) {
    json& meta = b.object["metadata"];
    std::string ns = str(meta, "namespace");
    if (b.group == kGroup && (b.kind == "Application" || b.kind == "ApplicationSet") && ns.empty()) ns = argo_ns_;
    switch (builtin_kind_scope(b.group, b.kind)) {
      case KindScope::Cluster:
        b.ns.clear();
        break;
      case KindScope::Namespaced:
        b.ns = ns.empty() ? default_ns : ns;
        if (ns.empty()) meta["namespace"] = b.ns;
        break;
      case KindScope::Unknown:
        // A custom kind: cluster-scoped ones match by name whatever namespace is given here.
        b.ns = ns.empty() && resolve_unknown ? default_ns : ns;
        if (ns.empty() && resolve_unknown) meta["namespace"] = b.ns;
        break;
    }
  }

  // Adds one build's objects; discovers the Applications and ApplicationSets among them. `by` is the owner
  // whose build this is (null for the root directory).
  void add(std::vector<Built> objects, const Owner* by) {
    for (auto& b : objects) {
      std::string id = object_id(b.group, b.kind, b.ns, b.name);
      if (auto it = index_.find(id); it != index_.end()) {
        Built& earlier = built_[it->second];
        if (earlier.file == b.file && earlier.line == b.line) {
          // The same declaration reached twice (an Application that renders the directory it is written in):
          // one object, applied by the Application that builds it.
          if (!earlier.build) earlier.build = b.build;
          if (b.group == kGroup && b.kind == "Application" && by != nullptr) {
            std::string app = "Application/" + b.ns + "/" + b.name;
            if (is_ancestor(app, *by))
              problem(b.file, b.line,
                      "Application " + b.ns + "/" + b.name + " is rendered again by " + by->what() +
                          " (a cycle: it manages itself or an Application that renders it); it is built once");
            parent_.emplace(app, by->id());
          }
          continue;
        }
      }
      if (b.group == kGroup && (b.kind == "Application" || b.kind == "ApplicationSet")) discover(b, by);
      index_.emplace(id, built_.size());
      built_.push_back(std::move(b));
    }
  }

  // Whether `id` is `owner` or an owner that (transitively) rendered it.
  bool is_ancestor(const std::string& id, const Owner& owner) const {
    std::string at = owner.id();
    for (size_t depth = 0; depth < options_.max_applications; ++depth) {
      if (at == id) return true;
      auto up = parent_.find(at);
      if (up == parent_.end()) return false;
      at = up->second;
    }
    return false;
  }

  void discover(const Built& b, const Owner* by) {
    Owner owner{b.kind, b.ns, b.name, b.object, b.file, b.line, !b.build || !b.build->rendered, nullptr};
    if (!owner.literal) owner.from = b.build;
    std::string where = owner.file + ":" + std::to_string(owner.line);
    auto [first, added] = discovered_at_.emplace(owner.id(), where);
    if (!added) {
      problem(owner.file, owner.line,
              owner.what() + " is declared again (first at " + first->second + ")" +
                  (by != nullptr ? " by " + by->what() : std::string()) +
                  ": a cycle or a duplicate; the first is built");
      return;
    }
    if (by != nullptr) parent_.emplace(owner.id(), by->id());
    (owner.kind == "Application" ? apps_ : sets_).push_back(std::move(owner));
  }

  std::shared_ptr<BuildProvenance> provenance_of(const Owner& owner, const std::string& applier) {
    auto p = std::make_shared<BuildProvenance>();
    p->chain.push_back({owner.what(), owner.file, owner.line, nullptr});
    p->applier = applier;
    out_.builds.push_back(p);
    return p;
  }

  // What cannot be built: the last good build stays in force; with none, what the Application owns is
  // declared with unknown values.
  // The links of what rendered `owner` close its chain: object <- Application <- chart <- the Application
  // that rendered it <- its chart.
  static void close_chain(const Owner& owner, BuildProvenance& build) {
    if (!owner.from) return;
    size_t added = 0;
    for (const auto& link : owner.from->chain) {
      if (++added > kMaxParentLinks) break;
      build.chain.push_back({link.what, link.file, link.line, nullptr});
    }
  }

  void unbuilt(const Owner& owner, const std::shared_ptr<BuildProvenance>& build, const std::string& reason) {
    close_chain(owner, *build);
    fingerprint_ += "u" + owner.id() + " " + reason + "\n";
    problem(owner.file, owner.line, owner.what() + " is not built: " + reason);
    if (auto it = cache_.last_good.find(owner.id()); it != cache_.last_good.end()) {
      problem(owner.file, owner.line,
              owner.what() + ": its last good build (" + cache_.last_good_commit[owner.id()] + ") stays in force");
      add(it->second, &owner);
      return;
    }
    // Without its name, what the root Application owns cannot be told by its tracking.
    if (owner.kind != "Application" || !owner.tracked) return;
    build->rendered = true;  // nothing of it is read from Git as written
    build->values_unknown = true;
    build->unknown_reason = reason;
    out_.unbuilt.push_back({kUnbuiltApplication, owner.ns, owner.name, build});
  }

  void succeeded(const Owner& owner, const std::vector<Built>& objects) {
    cache_.last_good[owner.id()] = objects;
    cache_.last_good_commit[owner.id()] = commit_label_;
  }

  // --- scratch space ------------------------------------------------------------------------------------
  // The tree `tree` (the repository's by default, or another repository's) written out for helm and
  // kustomize, once per build.
  const fs::path* exported(const SourceTree* tree = nullptr) {
    if (tree == nullptr) tree = &tree_;
    fs::path& dir = export_dirs_[tree];
    if (!dir.empty()) return &dir;
    std::string pattern = (fs::temp_directory_path() / "gitgate-argocd-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) return nullptr;
    dir = pattern;
    std::vector<Problem> skipped;
    if (Status s = tree->export_to(dir.string(), skipped); !s.ok()) {
      problem("", 0, "cannot export the tree for kustomize and helm: " + s.error());
      return nullptr;
    }
    return &dir;
  }

  const fs::path* work() {
    if (!work_dir_.empty()) return &work_dir_;
    std::string pattern = (fs::temp_directory_path() / "gitgate-argocd-work-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) return nullptr;
    work_dir_ = pattern;
    return &work_dir_;
  }

  helm::Tool tool() const {
    return helm_tool(options_.spec.helm_command, options_.cache_dir, options_.spec.render_timeout,
                     options_.max_output_bytes, cancel_fd_);
  }

  // Whether an Application's destination is the cluster gitgate guards: its server URL (a trailing slash
  // aside) or its name is one of the policy's destinations. One that names neither is Argo CD's error, not
  // another cluster: built here.
  bool this_cluster(const json& destination) const {
    std::string server = str(destination, "server"), name = str(destination, "name");
    while (server.ends_with("/")) server.pop_back();
    if (server.empty() && name.empty()) return true;
    const auto& mine = options_.spec.argocd->destinations;
    return std::any_of(mine.begin(), mine.end(), [&](std::string d) {
      while (d.ends_with("/")) d.pop_back();
      return (!server.empty() && d == server) || (server.empty() && d == name);
    });
  }

  // The tree a Git source reads: the policy's repository at its branch (null `other`), or one of
  // spec.repositories at the branch, tag or commit targetRevision names (HEAD and none: a listed branch).
  // Argo CD resolves a bare name as a branch, a tag or a commit id; refs/heads/ and refs/tags/ say which.
  gitgate::Status resolve_tree(const json& source, const std::string& what, const OtherTree*& other) const {
    other = nullptr;
    std::string repo = str(source, "repoURL");
    std::string revision = str(source, "targetRevision");
    bool only_tag = revision.starts_with("refs/tags/");
    bool only_branch = revision.starts_with("refs/heads/");
    if (only_tag || only_branch) revision = revision.substr(only_tag ? 10 : 11);
    bool head = !only_tag && (revision.empty() || revision == "HEAD");
    bool self = self_.contains(repository_identity(repo));
    if (self && !only_tag && (head || revision == options_.spec.branch)) return Status::Ok();
    // A revision of 7 to 40 hexadecimal digits may be a commit id, as the repo-server tries it; an OCI
    // source's may be a digest.
    bool hex = revision.size() >= 7 && revision.size() <= 40 && !only_tag && !only_branch &&
               std::all_of(revision.begin(), revision.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
    std::string pin = hex || revision.starts_with("sha256:") ? revision : "";
    std::string listed;
    for (const auto& o : others_) {
      if (!same_repository(self_, o.repository.url, repo)) continue;
      // A bare name may be a branch, a tag or a range (Argo CD resolves ranges against Git tags too).
      std::string as_branch = only_tag ? "" : head ? o.repository.branch : revision;
      std::string as_tag = only_branch || head ? "" : revision;
      if (fetched_at(o.repository, as_branch, as_tag, as_tag, pin)) {
        if (o.tree == nullptr) return Error{what + " repoURL " + repo + " could not be fetched: " + o.problem};
        other = &o;
        return Status::Ok();
      }
      listed += (listed.empty() ? "" : ", ") + o.repository.describe();
    }
    if (!listed.empty())
      return Error{what + " targetRevision '" + str(source, "targetRevision") + "' of " + repo +
                   " is not a branch, tag or commit spec.source.repositories lists (" + listed + ")"};
    if (self)
      return Error{what + " targetRevision '" + revision + "' is not the policy's branch '" + options_.spec.branch +
                   "'; list the repository at that branch, tag or commit in spec.source.repositories for gitgate to build it"};
    return Error{what + " repoURL " + repo +
                 " is another Git repository: list it in spec.source.repositories (with its branch and "
                 "credentials) for gitgate to fetch and build it (if it is the same repository under another URL, "
                 "add that URL to spec.source.knownAs)"};
  }

  const SourceTree& source_tree() const {
    return source_repository_ != nullptr ? *source_repository_->tree : tree_;
  }

  // --- Applications -------------------------------------------------------------------------------------
  void build_application(const Owner& app) {
    ++out_.stats.applications;
    auto build = provenance_of(app, controller_);
    const json& spec = field(app.object, "spec");
    const json& destination = field(spec, "destination");
    if (!this_cluster(destination)) {
      std::string where = str(destination, "server", str(destination, "name"));
      fingerprint_ += "x" + app.ns + "/" + app.name + " " + where + "\n";
      problem(app.file, app.line,
              "Application " + app.ns + "/" + app.name + " applies to another cluster (destination " + where +
                  "): what it builds is not declared here. If that is this cluster, add it to "
                  "spec.source.argocd.destinations");
      return;
    }
    std::string dest_ns = str(destination, "namespace");
    std::string default_ns = dest_ns.empty() ? options_.spec.default_namespace : dest_ns;

    std::vector<std::pair<json, std::string>> sources;  // the source and where the Application writes it
    if (field(spec, "sources").is_array() && !spec["sources"].empty()) {
      for (size_t i = 0; i < spec["sources"].size(); ++i)
        sources.emplace_back(spec["sources"][i], "spec.sources[" + std::to_string(i) + "]");
    } else if (field(spec, "source").is_object()) {
      sources.emplace_back(spec["source"], "spec.source");
    } else {
      return unbuilt(app, build, "it has neither spec.source nor spec.sources");
    }
    std::map<std::string, json> refs;
    for (const auto& [source, where] : sources)
      if (!str(source, "ref").empty()) refs[str(source, "ref")] = source;

    std::vector<Built> objects;
    for (const auto& [source, where] : sources) {
      bool ref_only = sources.size() > 1 && !str(source, "ref").empty() && str(source, "path").empty() &&
                      str(source, "chart").empty();
      if (ref_only) continue;
      if (Status s = render_source(app, source, where, refs, default_ns, build, objects); !s.ok())
        return unbuilt(app, build, s.error());
    }

    close_chain(app, *build);
    for (auto& b : objects) {
      place(b, default_ns);
      if (app.tracked) track(b, app);
    }
    for (const auto& option : field(field(spec, "syncPolicy"), "syncOptions")) {
      if (!option.is_string() || option.get<std::string>() != "CreateNamespace=true" || dest_ns.empty()) continue;
      // The controller creates the destination namespace, with the managed namespace metadata.
      Built ns;
      ns.kind = "Namespace";
      ns.name = dest_ns;
      ns.file = app.file;
      ns.line = app.line;
      auto created = std::make_shared<BuildProvenance>(*build);
      created->rendered = true;  // made by the controller, not written in Git
      created->values.clear();
      out_.builds.push_back(created);
      ns.build = created;
      ns.object = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", dest_ns}}}};
      const json& managed = field(spec["syncPolicy"], "managedNamespaceMetadata");
      for (const char* map : {"labels", "annotations"})
        if (field(managed, map).is_object() && !managed[map].empty()) ns.object["metadata"][map] = managed[map];
      bool rendered = std::any_of(objects.begin(), objects.end(), [&](const Built& b) {
        return b.group.empty() && b.kind == "Namespace" && b.name == dest_ns;
      });
      if (!rendered) objects.push_back(std::move(ns));
    }
    succeeded(app, objects);
    add(std::move(objects), &app);
  }

  // Argo CD's tracking, as the repo-server sets it on every object but CRDs.
  void track(Built& b, const Owner& app) {
    if (b.group == "apiextensions.k8s.io" && b.kind == "CustomResourceDefinition") return;
    std::string instance = gitgate::argocd::instance_name(app.ns, app.name, argo_ns_);
    json& meta = b.object["metadata"];
    ArgoTracking tracking = options_.spec.argocd->tracking;
    if (tracking != ArgoTracking::Annotation) meta["labels"][std::string(gitgate::argocd::kInstanceLabel)] = instance;
    if (tracking != ArgoTracking::Label)
      // The object's own name: "" for a hook Git writes with generateName (declared as "<generateName>*").
      meta["annotations"][std::string(gitgate::argocd::kTrackingAnnotation)] =
          instance + ":" + b.group + "/" + b.kind + ":" + b.ns + "/" + str(meta, "name");
  }

  // The build environment the repo-server gives one source of an Application (newEnv in its repository.go):
  // `revision` is the commit for a Git source, the chart's version for a pulled chart.
  BuildEnv build_env(const Owner& app, const json& source, const std::string& dest_ns,
                     const std::string& revision) const {
    return {{"ARGOCD_APP_NAME", gitgate::argocd::instance_name(app.ns, app.name, argo_ns_)},
            {"ARGOCD_APP_NAMESPACE", dest_ns},
            {"ARGOCD_APP_PROJECT_NAME", str(field(app.object, "spec"), "project")},
            {"ARGOCD_APP_REVISION", revision},
            {"ARGOCD_APP_REVISION_SHORT", revision.substr(0, 7)},
            {"ARGOCD_APP_REVISION_SHORT_8", revision.substr(0, 8)},
            {"ARGOCD_APP_SOURCE_REPO_URL", str(source, "repoURL")},
            {"ARGOCD_APP_SOURCE_PATH", str(source, "path")},
            {"ARGOCD_APP_SOURCE_TARGET_REVISION", str(source, "targetRevision")}};
  }

  gitgate::Status render_source(const Owner& app, const json& source, const std::string& where,
                                const std::map<std::string, json>& refs, const std::string& dest_ns,
                                std::shared_ptr<BuildProvenance>& build, std::vector<Built>& out) {
    std::string chart = str(source, "chart");
    if (!chart.empty()) return render_pulled_chart(app, source, where, refs, dest_ns, build, out);
    const OtherTree* other = nullptr;
    if (Status s = resolve_tree(source, where, other); !s.ok()) return s;
    struct Restore {
      const OtherTree*& at;
      ~Restore() { at = nullptr; }
    } restore{source_repository_};
    source_repository_ = other;
    const SourceTree& tree = source_tree();
    if (other != nullptr) {
      build->chain.push_back({"repository " + fetched_as(*other), "", 0, nullptr});
      fingerprint_ += "o" + other->repository.url + " " + other->commit + "\n";
    }
    auto path = clean_path(str(source, "path"));
    if (!path) return Error{where + ".path climbs out of the repository"};
    if (!path->empty() && tree.list(*path).empty())
      return Error{where + ".path '" + *path + "' is not in the repository at this commit"};
    if (source.contains("plugin")) return Error{where + ".plugin: config management plugins are not built"};
    SourceType type = source_type(*path, &tree);
    bool helm_chart = type == SourceType::Helm;
    bool kustomization = type == SourceType::Kustomize;
    if (source.contains("helm") || (helm_chart && !source.contains("kustomize") && !source.contains("directory"))) {
      if (!helm_chart) return Error{where + ".path '" + *path + "' has no Chart.yaml at this commit"};
      const fs::path* root = exported(&tree);
      if (root == nullptr) return Error{"the repository could not be exported for helm"};
      build->rendered = true;
      build->chain.push_back({"chart " + cite(source_repository_, *path) + " (repository path)", "", 0, nullptr});
      return render_helm(app, source, where, refs, (*root / *path).string(), *path, "tree:" + tree.id(*path),
                         dest_ns, build_env(app, source, dest_ns, revision_), build, out);
    }
    if (source.contains("kustomize") || (kustomization && !source.contains("directory")))
      return render_kustomize(app, source, where, *path, build_env(app, source, dest_ns, revision_), build, out);
    return read_directory(source, where, *path, build, out);
  }

  // A chart from a Helm repository over HTTPS or an OCI registry, at targetRevision (a version or a range).
  gitgate::Status render_pulled_chart(const Owner& app, const json& source, const std::string& where,
                                      const std::map<std::string, json>& refs, const std::string& dest_ns,
                                      std::shared_ptr<BuildProvenance>& build, std::vector<Built>& out) {
    helm::ChartSource chart;
    std::string repo = str(source, "repoURL");
    if (repo.starts_with("oci://") || repo.starts_with("https://") || repo.starts_with("http://")) {
      chart.repository = repo;
    } else if (!repo.empty() && repo.find("://") == std::string::npos) {
      chart.repository = "oci://" + repo;  // Argo CD names OCI Helm repositories without a scheme
    } else {
      return Error{where + ".repoURL '" + repo + "' is neither an HTTPS Helm repository nor an OCI registry"};
    }
    chart.chart = str(source, "chart");
    chart.version = str(source, "targetRevision");
    chart.ca_file = options_.spec.argocd->ca_file;
    if (chart.repository.starts_with("oci://")) {
      std::string host = chart.repository.substr(6, chart.repository.find('/', 6) - 6);
      const auto& plain = options_.spec.argocd->plain_http_registries;
      chart.plain_http = std::find(plain.begin(), plain.end(), host) != plain.end();
      if (chart.plain_http) chart.ca_file.clear();  // helm speaks TLS to a registry whenever given a CA
    }
    auto pulled = cache_.charts.pull(tool(), chart, options_.spec.interval < std::chrono::minutes(3)
                                                        ? std::chrono::microseconds(std::chrono::minutes(3))
                                                        : options_.spec.interval,
                                     cache_.builds, out_.stats.chart_pulls);
    if (!pulled) return Error{pulled.error()};
    build->rendered = true;
    build->chain.push_back({"chart " + pulled->name + " " + pulled->version + " (" + pulled->digest.substr(0, 19) +
                                "…) from " + chart.repository,
                            "", 0, nullptr});
    return render_helm(app, source, where, refs, pulled->path, "", pulled->digest, dest_ns,
                       build_env(app, source, dest_ns, pulled->version), build, out);
  }

  // A values or set-file path as Argo CD resolves it: "$ref/…" from the root of the source named `ref`,
  // "/…" from the repository's root, else from the chart's path. nullopt with `error` set when it cannot be.
  // `tree` is set to the tree the path is in: the ref's repository, else the chart's.
  std::optional<std::string> resolve_file(const std::string& file, const std::string& chart_path,
                                          const std::map<std::string, json>& refs, std::string& error,
                                          const OtherTree*& in) const {
    in = source_repository_;
    if (file.starts_with("$")) {
      auto slash = file.find('/');
      std::string ref = file.substr(1, slash == std::string::npos ? std::string::npos : slash - 1);
      auto it = refs.find(ref);
      if (it == refs.end()) {
        error = "'" + file + "' names no source with ref: " + ref;
        return std::nullopt;
      }
      if (Status s = resolve_tree(it->second, "the source with ref: " + ref, in); !s.ok()) {
        error = s.error();
        return std::nullopt;
      }
      auto path = clean_path(slash == std::string::npos ? "" : file.substr(slash + 1));
      if (!path) error = "'" + file + "' climbs out of the repository";
      return path;
    }
    if (file.find("://") != std::string::npos) {
      error = "value file " + file + " is a URL; gitgate reads value files from Git only";
      return std::nullopt;
    }
    if (chart_path.empty() && !file.starts_with("/")) {
      error = "'" + file +
              "' lies inside a chart pulled from a Helm repository, where gitgate reads valueFiles but not "
              "fileParameters yet; use a second source with ref";
      return std::nullopt;
    }
    auto path = clean_path(file.starts_with("/") ? file : chart_path + "/" + file);
    if (!path) error = "'" + file + "' climbs out of the repository";
    return path;
  }

  gitgate::Status render_helm(const Owner& app, const json& source, const std::string& where,
                              const std::map<std::string, json>& refs, const std::string& chart,
                              const std::string& chart_path, const std::string& chart_key,
                              const std::string& dest_ns, const BuildEnv& env,
                              std::shared_ptr<BuildProvenance>& build, std::vector<Built>& out) {
    const json& helm = field(source, "helm");
    helm::TemplateRequest request;
    request.chart = chart;
    request.release = str(helm, "releaseName", app.name);
    request.ns = str(helm, "namespace", dest_ns);
    request.include_crds = !flag(helm, "skipCrds");
    request.skip_tests = flag(helm, "skipTests");
    request.skip_schema_validation = flag(helm, "skipSchemaValidation");
    request.build_missing_dependencies = !chart_path.empty();  // a chart in Git
    if (const fs::path* root = chart_path.empty() ? nullptr : exported(&source_tree()))
      request.dependency_root = root->string();
    request.dependency_ca_file = options_.spec.argocd->ca_file;
    // The cluster's capabilities, unless the Application pins them (helm.kubeVersion, helm.apiVersions), as the
    // repo-server chooses.
    request.kube_version = str(helm, "kubeVersion", options_.spec.kube_version);
    request.api_versions = options_.spec.api_versions;
    if (const json& pinned = field(helm, "apiVersions"); pinned.is_array() && !pinned.empty()) {
      request.api_versions.clear();
      for (const auto& version : pinned)
        if (version.is_string() && request.api_versions.size() < kMaxApiVersions)
          request.api_versions.push_back(version.get<std::string>());
    }
    if (!is_capability(request.kube_version))
      return Error{where + ".helm.kubeVersion: '" + request.kube_version.substr(0, 64) +
                   "' is not a Kubernetes version such as v1.31.2"};
    for (const auto& version : request.api_versions)
      if (version.empty() || !is_capability(version))
        return Error{where + ".helm.apiVersions: '" + version.substr(0, 64) +
                     "' is not an API version such as monitoring.coreos.com/v1"};
    std::string key = "argocd-helm\n" + chart_key + "\n" + request.release + "\n" + request.ns + "\n" +
                      (request.include_crds ? "crds" : "") + (request.skip_tests ? "notests" : "") +
                      (request.skip_schema_validation ? "noschema" : "") + "\n" +
                      capabilities_key(request.kube_version, request.api_versions) + "\n";
    std::vector<ValueOrigin> file_values;  // later files first: they win
    std::optional<std::vector<helm::ArchiveFile>> archive;  // a pulled chart's files, read once
    for (const auto& value_file : field(helm, "valueFiles")) {
      if (!value_file.is_string()) continue;
      const std::string name = expand_file_path(value_file.get<std::string>(), env);
      // A relative path in a pulled chart: the repo-server unpacks the chart and passes the file inside it.
      if (chart_path.empty() && !name.starts_with("$") && !name.starts_with("/") &&
          name.find("://") == std::string::npos) {
        if (!archive) {
          auto files = helm::read_chart_archive(chart);
          if (!files) return Error{where + ".helm.valueFiles: " + files.error()};
          archive = std::move(*files);
        }
        auto clean = clean_path(name);
        const helm::ArchiveFile* file =
            clean ? helm::chart_file(*archive, helm::chart_root(*archive), *clean) : nullptr;
        if (file == nullptr) {
          if (flag(helm, "ignoreMissingValueFiles")) continue;
          return Error{where + ".helm.valueFiles: " + name + " is not in the chart"};
        }
        const fs::path* dir = work();
        if (dir == nullptr) return Error{"cannot create a temporary directory for helm values"};
        fs::path copy = *dir / ("chart-values-" + sha256_hex(file->data).substr(0, 16) + ".yaml");
        if (Status w = write_whole_file(copy.string(), file->data); !w.ok()) return w;
        request.more_values_files.push_back(copy.string());
        key += "chart values " + *clean + "\n";
        continue;
      }
      std::string error;
      const OtherTree* in = nullptr;
      auto path = resolve_file(name, chart_path, refs, error, in);
      if (!path) return Error{where + ".helm.valueFiles: " + error};
      const SourceTree& values_tree = in != nullptr ? *in->tree : tree_;
      std::string cited = cite(in, *path);
      auto text = values_tree.read(*path);
      if (!text) {
        if (flag(helm, "ignoreMissingValueFiles")) continue;
        return Error{where + ".helm.valueFiles: " + name + " (" + cited + ") is not in the repository at this commit"};
      }
      const fs::path* root = exported(&values_tree);
      if (root == nullptr) return Error{"the repository could not be exported for helm"};
      request.more_values_files.push_back((*root / *path).string());
      key += "values " + cited + "=" + values_tree.id(*path) + "\n";
      std::vector<ValueOrigin> these;
      add_origins(these, manifests::scalar_leaves(*text), "valueFiles " + cited, cited);
      file_values.insert(file_values.begin(), these.begin(), these.end());
    }
    std::string inline_values;
    if (field(helm, "valuesObject").is_object()) {
      inline_values = helm["valuesObject"].dump();
    } else if (field(helm, "values").is_string()) {
      inline_values = helm["values"].get<std::string>();
    }
    if (!inline_values.empty()) {
      const fs::path* dir = work();
      if (dir == nullptr) return Error{"cannot create a temporary directory for helm values"};
      fs::path file = *dir / ("values-" + sha256_hex(inline_values).substr(0, 16) + ".yaml");
      if (Status w = write_whole_file(file.string(), inline_values); !w.ok()) return w;
      request.more_values_files.push_back(file.string());
      key += "inline " + inline_values + "\n";
    }
    for (const auto& parameter : field(helm, "parameters")) {
      std::string name = str(parameter, "name"), value = expand_build_env(str(parameter, "value"), env);
      if (name.empty()) continue;
      request.set_arguments.push_back((flag(parameter, "forceString") ? "--set-string=" : "--set=") + name + "=" +
                                      set_value(value));
      key += "set " + request.set_arguments.back() + "\n";
    }
    for (const auto& parameter : field(helm, "fileParameters")) {
      std::string name = str(parameter, "name"), file = expand_file_path(str(parameter, "path"), env);
      if (name.empty()) continue;
      std::string error;
      const OtherTree* in = nullptr;
      auto path = resolve_file(file, chart_path, refs, error, in);
      if (!path) return Error{where + ".helm.fileParameters: " + error};
      const SourceTree& file_tree = in != nullptr ? *in->tree : tree_;
      if (!file_tree.read(*path))
        return Error{where + ".helm.fileParameters: " + file + " is not in the repository at this commit"};
      const fs::path* root = exported(&file_tree);
      if (root == nullptr) return Error{"the repository could not be exported for helm"};
      request.set_arguments.push_back("--set-file=" + name + "=" + set_value((*root / *path).string()));
      key += "set-file " + name + "=" + cite(in, *path) + "@" + file_tree.id(*path) + "\n";
    }

    // Where the values a denial may cite are written: the Application's own values and parameters first.
    if (app.literal) {
      if (auto text = tree_.read(app.file)) {
        std::vector<std::string> prefix{"spec"};
        std::string filter = "helm.";
        if (where == "spec.source") {
          prefix.push_back("source");
        } else {
          prefix.push_back("sources");
          filter = where.substr(std::string("spec.sources").size()) + ".helm.";
        }
        for (const auto& leaf : manifests::scalar_leaves(*text, "Application", app.name, prefix)) {
          if (!leaf.path.starts_with(filter)) continue;
          std::string rest = leaf.path.substr(filter.size());
          bool value = rest.starts_with("valuesObject.") || rest == "values" ||
                       (rest.starts_with("parameters[") && rest.ends_with(".value"));
          if (!value || build->values.size() >= kMaxValueOrigins) continue;
          std::vector<ValueOrigin> these;
          add_origins(these, {leaf}, "helm." + rest, app.file);
          build->values.insert(build->values.end(), these.begin(), these.end());
        }
      }
    }
    for (auto& v : file_values)
      if (build->values.size() < kMaxValueOrigins) build->values.push_back(std::move(v));

    std::string cache_key = sha256_hex(key);
    fingerprint_ += "h" + cache_key + "\n";
    auto output = cache_.outputs.load("argocd-helm", cache_key);
    if (!output) {
      ++out_.stats.helm_runs;
      auto rendered = helm::render(tool(), request);
      if (!rendered) return Error{rendered.error()};
      cache_.outputs.store("argocd-helm", cache_key, *rendered);
      output = std::move(*rendered);
    }
    manifests::Limits limits;
    limits.max_file_bytes = options_.max_output_bytes;
    for (const auto& document : kustomize::split_documents(*output)) {
      auto parsed = manifests::parse_file("helm template " + request.release, document, limits);
      for (auto& p : parsed.problems) problem(app.file, app.line, app.what() + ": " + p.reason);
      if (parsed.documents.empty()) continue;
      const auto& doc = parsed.documents.front();
      json object = json::parse(doc.json, nullptr, false);
      if (!object.is_object()) continue;
      // Helm's test hooks map to no Argo CD hook phase: the controller never creates them.
      if (str(field(field(object, "metadata"), "annotations"), "helm.sh/hook").find("test") != std::string::npos)
        continue;
      Built b;
      b.group = group_of(doc.api_version);
      b.kind = doc.kind;
      b.name = doc.name;
      b.file = app.file;
      b.line = app.line;
      b.build = build;
      b.object = std::move(object);
      if (str(b.object["metadata"], "namespace").empty() && builtin_kind_scope(b.group, b.kind) != KindScope::Cluster)
        b.object["metadata"]["namespace"] = request.ns;
      out.push_back(std::move(b));
    }
    return Status::Ok();
  }

  // Argo CD edits the kustomization with `kustomize edit`; gitgate writes an overlay with the same fields
  // beside the exported tree, which builds the same objects.
  gitgate::Status render_kustomize(const Owner& app, const json& source, const std::string& where,
                                   const std::string& path, const BuildEnv& env,
                                   std::shared_ptr<BuildProvenance>& build, std::vector<Built>& out) {
    const json& k = field(source, "kustomize");
    json overlay = {{"apiVersion", "kustomize.config.k8s.io/v1beta1"},
                    {"kind", "Kustomization"},
                    {"buildMetadata", json::array({"originAnnotations", "transformerAnnotations"})}};
    std::string up = "../../";
    overlay["resources"] = json::array({path.empty() ? std::string("../..") : up + path});
    for (const char* f : {"namePrefix", "nameSuffix", "namespace"})
      if (!str(k, f).empty()) overlay[f] = str(k, f);
    // The build environment reaches label values, images, and annotation values when asked, as in
    // util/kustomize of Argo CD.
    auto substituted = [&](const json& map, bool expand) {
      json result = json::object();
      for (const auto& [name, value] : map.items())
        result[name] = expand && value.is_string() ? json(expand_build_env(value.get<std::string>(), env)) : value;
      return result;
    };
    if (field(k, "commonLabels").is_object() && !k["commonLabels"].empty()) {
      json labels = substituted(k["commonLabels"], true);
      if (flag(k, "labelWithoutSelector"))
        overlay["labels"] = json::array({{{"pairs", labels}, {"includeSelectors", false}}});
      else
        overlay["commonLabels"] = labels;
    }
    if (field(k, "commonAnnotations").is_object() && !k["commonAnnotations"].empty())
      overlay["commonAnnotations"] = substituted(k["commonAnnotations"], flag(k, "commonAnnotationsEnvsubst"));
    for (const auto& image : field(k, "images"))
      if (image.is_string())
        overlay["images"].push_back(kustomize_image(expand_build_env(image.get<std::string>(), env)));
    if (field(k, "patches").is_array() && !k["patches"].empty()) overlay["patches"] = k["patches"];
    for (const auto& r : field(k, "replicas"))
      if (r.is_object()) overlay["replicas"].push_back(r);
    for (const auto& c : field(k, "components"))
      if (c.is_string()) overlay["components"].push_back(up + path + "/" + c.get<std::string>());

    std::string overlay_text = overlay.dump();
    std::string overlay_dir = std::string(kOverlayDir) + "/" + sha256_hex(overlay_text).substr(0, 16);
    std::set<std::string> visited;
    std::string key = "argocd-kustomize\n" + overlay_text + "\n";
    for (const auto& arg : options_.spec.kustomize_command) key += arg + " ";
    const SourceTree& tree = source_tree();
    kustomize_inputs(tree, path, visited, key);
    for (const auto& c : field(k, "components"))
      if (c.is_string())
        if (auto p = clean_path(path + "/" + c.get<std::string>())) kustomize_inputs(tree, *p, visited, key);
    std::string cache_key = sha256_hex(key);
    fingerprint_ += "k" + cache_key + "\n";
    auto output = cache_.outputs.load("argocd-kustomize", cache_key);
    if (!output) {
      const fs::path* root = exported(&tree);
      if (root == nullptr) return Error{"the repository could not be exported for kustomize"};
      std::error_code ec;
      fs::create_directories(*root / overlay_dir, ec);
      if (Status w = write_whole_file((*root / overlay_dir / "kustomization.yaml").string(), overlay_text); !w.ok())
        return w;
      kustomize::RunOptions run;
      run.command = options_.spec.kustomize_command;
      run.timeout = options_.spec.render_timeout;
      run.max_output_bytes = options_.max_output_bytes;
      run.cancel_fd = cancel_fd_;
      ++out_.stats.kustomize_runs;
      auto result = kustomize::build(*root / overlay_dir, *root, run);
      if (!result) return Error{where + ": " + result.error()};
      cache_.outputs.store("argocd-kustomize", cache_key, *result);
      output = std::move(*result);
    }
    std::vector<ValueOrigin> patch_values;
    if (app.literal)
      if (auto text = tree_.read(app.file)) {
        std::vector<std::string> prefix{"spec", where == "spec.source" ? "source" : "sources"};
        for (const auto& leaf : manifests::scalar_leaves(*text, "Application", app.name, prefix))
          if (leaf.path.find("kustomize.patches") != std::string::npos ||
              leaf.path.find("kustomize.images") != std::string::npos)
            add_origins(patch_values, {leaf}, "kustomize", app.file);
      }
    manifests::ParseOptions parse;
    parse.kustomize_origin = true;
    manifests::Limits limits;
    limits.max_file_bytes = options_.max_output_bytes;
    for (const auto& document : kustomize::split_documents(*output)) {
      auto parsed = manifests::parse_file("kustomize build " + (path.empty() ? "." : path), document, limits, parse);
      for (auto& p : parsed.problems) problem(app.file, app.line, app.what() + ": " + p.reason);
      if (parsed.documents.empty()) continue;
      manifests::Document doc = std::move(parsed.documents.front());
      json object = json::parse(doc.json, nullptr, false);
      if (!object.is_object()) continue;
      json& meta = object["metadata"];
      bool patched = false;
      if (field(meta, "annotations").is_object()) {
        std::string transformations = str(meta["annotations"], kustomize::kTransformationsAnnotation);
        patched = transformations.find("Patch") != std::string::npos ||
                  transformations.find("ImageTag") != std::string::npos;
        meta["annotations"].erase(kustomize::kTransformationsAnnotation);
        if (meta["annotations"].empty()) meta.erase("annotations");
      }
      Built b;
      b.group = group_of(doc.api_version);
      b.kind = doc.kind;
      b.name = str(meta, "name");
      b.file = app.file;
      b.line = app.line;
      if (!doc.origin.empty())
        if (auto file = clean_path(overlay_dir + "/" + doc.origin); file && tree.read(*file)) {
          b.file = cite(source_repository_, *file);
          b.line = 1;
          locate(b, tree, *file);
        }
      b.build = build;
      if (patched && !patch_values.empty()) {
        auto own = std::make_shared<BuildProvenance>(*build);
        own->values = patch_values;
        out_.builds.push_back(own);
        b.build = own;
      }
      b.object = std::move(object);
      out.push_back(std::move(b));
    }
    return Status::Ok();
  }

  // The line of the document that declares an object in its file (the first of the same kind whose name the
  // built name contains: prefixes and suffixes are added by the build).
  void locate(Built& b, const SourceTree& tree, const std::string& path) {
    auto it = file_docs_.find(b.file);
    if (it == file_docs_.end()) {
      auto text = tree.read(path);
      it = file_docs_
               .emplace(b.file, text ? manifests::parse_file(path, *text, {}).documents
                                     : std::vector<manifests::Document>{})
               .first;
    }
    for (const auto& d : it->second) {
      if (d.kind != b.kind || b.name.find(d.name) == std::string::npos) continue;
      b.line = d.line;
      b.column = d.column;
      return;
    }
  }

  // A directory of manifests, as Argo CD reads one: *.yaml, *.yml and *.json, below it when `recurse`,
  // filtered by `include` and `exclude` globs on the path relative to it.
  gitgate::Status read_directory(const json& source, const std::string& where, const std::string& path,
                                 std::shared_ptr<BuildProvenance>& build, std::vector<Built>& out) {
    const json& directory = field(source, "directory");
    bool recurse = flag(directory, "recurse");
    std::string include = str(directory, "include"), exclude = str(directory, "exclude");
    const SourceTree& tree = source_tree();
    std::vector<std::string> dirs{path};
    size_t files = 0;
    std::vector<std::string> found;
    while (!dirs.empty()) {
      std::string dir = dirs.back();
      dirs.pop_back();
      for (const auto& entry : tree.list(dir)) {
        std::string file = dir.empty() ? entry.name : dir + "/" + entry.name;
        if (entry.directory) {
          if (recurse) dirs.push_back(file);
          continue;
        }
        std::string relative = path.empty() ? file : file.substr(path.size() + 1);
        if (!include.empty() && !glob_matches(include, relative)) continue;
        if (!exclude.empty() && glob_matches(exclude, relative)) continue;
        if (file.ends_with(".jsonnet") || file.ends_with(".libsonnet"))
          return Error{where + ": jsonnet (" + file + ") is not built"};
        if (!manifests::is_manifest_path(file)) continue;
        if (++files > kMaxDirectoryFiles)
          return Error{where + ".path has more than " + std::to_string(kMaxDirectoryFiles) + " manifests"};
        found.push_back(file);
      }
    }
    std::sort(found.begin(), found.end());
    manifests::Limits limits;
    limits.max_file_bytes = options_.spec.max_file_bytes;
    for (const auto& file : found) {
      auto text = tree.read(file);
      if (!text) continue;
      fingerprint_ += "d" + cite(source_repository_, file) + "=" + tree.id(file) + "\n";
      auto parsed = manifests::parse_file(cite(source_repository_, file), *text, limits);
      for (auto& p : parsed.problems) out_.problems.push_back(std::move(p));
      for (auto& doc : parsed.documents) {
        Built b;
        b.object = json::parse(doc.json, nullptr, false);
        if (!b.object.is_object()) continue;
        b.group = group_of(doc.api_version);
        b.kind = doc.kind;
        b.name = doc.name;
        b.file = cite(source_repository_, file);
        b.line = doc.line;
        b.column = doc.column;
        b.build = build;
        out.push_back(std::move(b));
      }
    }
    return Status::Ok();
  }

  // --- ApplicationSets ----------------------------------------------------------------------------------
  void build_application_set(const Owner& set) {
    ++out_.stats.application_sets;
    auto build = provenance_of(set, appset_controller_);
    close_chain(set, *build);
    GitView view{[this](const json& generator) -> gitgate::Result<const SourceTree*> {
      // A git generator names its revision `revision`.
      json source = {{"repoURL", str(generator, "repoURL")}, {"targetRevision", str(generator, "revision")}};
      const OtherTree* other = nullptr;
      if (Status s = resolve_tree(source, "generator", other); !s.ok()) return Error{s.error()};
      if (other == nullptr) return &tree_;
      fingerprint_ += "o" + other->repository.url + " " + other->commit + "\n";
      return other->tree;
    }};
    auto generated = generate_applications(set.object, view, options_.max_generated);
    if (!generated) return unbuilt(set, build, generated.error());
    fingerprint_ += "s" + sha256_hex(json(*generated).dump()) + "\n";
    std::vector<Built> objects;
    for (auto& app : *generated) {
      Built b;
      b.group = kGroup;
      b.kind = "Application";
      b.name = str(field(app, "metadata"), "name");
      b.file = set.file;
      b.line = set.line;
      b.build = build;
      b.object = std::move(app);
      place(b, set.ns);
      objects.push_back(std::move(b));
    }
    succeeded(set, objects);
    add(std::move(objects), &set);
  }

  // --- the result ---------------------------------------------------------------------------------------
  void finish() { declare_built(built_, options_.spec.default_namespace, out_.objects); }

  const Options& options_;
  Cache& cache_;
  const SourceTree& tree_;
  std::string revision_;      // the commit being built: ARGOCD_APP_REVISION of Git sources
  std::string commit_label_;  // its short id, for messages
  int cancel_fd_;
  const std::vector<OtherTree>& others_;
  Result out_;
  std::set<std::string> self_;  // the policy's repository, by every URL it is known as
  std::string argo_ns_, controller_, appset_controller_;
  std::string fingerprint_;
  size_t built_owners_ = 0;
  std::deque<Owner> apps_, sets_;
  std::unordered_map<std::string, std::string> discovered_at_;  // owner id -> file:line of its first declaration
  std::unordered_map<std::string, std::string> parent_;         // owner id -> the owner that renders it
  std::vector<Built> built_;
  std::unordered_map<std::string, size_t> index_;
  std::unordered_map<std::string, std::vector<manifests::Document>> file_docs_;
  std::map<const SourceTree*, fs::path> export_dirs_;  // the repository's and other repositories'
  fs::path work_dir_;
  // The tree of the source being rendered: another repository's (spec.repositories), or null for the
  // policy's own.
  const OtherTree* source_repository_ = nullptr;
};

std::string expand_build_env(std::string_view text, const std::map<std::string, std::string>& env) {
  auto lookup = [&](std::string_view name) -> std::string {
    if (name == "$") return "$";
    auto it = env.find(std::string(name));
    return it == env.end() ? std::string() : it->second;
  };
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '$' || i + 1 == text.size()) {
      out += text[i++];
      continue;
    }
    std::string_view rest = text.substr(i + 1);
    if (rest[0] == '{') {
      if (rest.size() > 2 && shell_special(rest[1]) && rest[2] == '}') {
        out += lookup(rest.substr(1, 1));
        i += 4;
        continue;
      }
      size_t close = rest.find('}');
      if (close == std::string_view::npos) {
        i += 2;  // bad syntax: "${" is eaten
      } else {
        out += lookup(rest.substr(1, close - 1));  // "${}" is eaten: no name, nothing added
        i += close + 2;
      }
      continue;
    }
    if (shell_special(rest[0])) {
      out += lookup(rest.substr(0, 1));
      i += 2;
      continue;
    }
    size_t n = 0;
    while (n < rest.size() && name_char(rest[n])) ++n;
    if (n == 0) {
      out += '$';  // "$" not followed by a name stays
      ++i;
      continue;
    }
    out += lookup(rest.substr(0, n));
    i += n + 1;
  }
  return out;
}

Builder::Builder(Options options)
    : options_(std::move(options)), cache_(std::make_unique<Cache>(options_.cache_dir)) {}
Builder::~Builder() = default;

Result Builder::build(const SourceTree& tree, const std::string& commit, int cancel_fd,
                      const std::vector<OtherTree>& others) {
  ++cache_->builds;
  return Run(options_, *cache_, tree, commit, cancel_fd, others).run();
}

}  // namespace gitgate::desired::argocd
