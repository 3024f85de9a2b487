// What Git declares: immutable snapshots of declared objects with their provenance. Built by the Git
// module (or by tests straight from manifests), read by the decision engine without locks.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <simdjson.h>

namespace gitgate {

enum class SignatureStatus { Verified, Unsigned, Invalid, UnknownKey };
std::string_view to_string(SignatureStatus status);

struct CommitInfo {
  std::string id;  // full hex object id
  std::string author_name;
  std::string author_email;
  int64_t time = 0;  // author time, seconds since the epoch
  std::string subject;
  SignatureStatus signature = SignatureStatus::Unsigned;
  std::string signer;  // the allowed_signers principal when verified

  // 7 hex digits for a Git object id; other ids (a working tree given to `review`) stay whole.
  std::string_view short_id() const {
    return id.size() >= 40 ? std::string_view(id).substr(0, 7) : std::string_view(id);
  }
};

// Identifies a declared object: group and kind, not version ("apps/v1beta1" in Git is "apps/v1" in a
// request). The core group is "".
struct ObjectKey {
  std::string group;
  std::string kind;
  std::string ns;
  std::string name;
};

struct ObjectKeyView {
  std::string_view group;
  std::string_view kind;
  std::string_view ns;
  std::string_view name;
};

enum class KindScope { Namespaced, Cluster, Unknown };
// Scope of the built-in kinds; Unknown for custom resources, whose manifest alone cannot place them.
KindScope builtin_kind_scope(std::string_view group, std::string_view kind);
// "apps/v1" -> "apps", "v1" -> "".
std::string_view group_of_api_version(std::string_view api_version);

// One link of a provenance chain: what built an object from what Git holds (SPEC §3a). The object's own
// file:line is the first link; a rendered object adds the HelmRelease, Kustomization or Application that
// built it, then the chart or the base it came from.
struct ProvenanceLink {
  std::string what;  // "HelmRelease shop/web", "Kustomization flux-system/apps", "chart web 1.4.2 (sha256:3f2a…)"
  std::string file;  // repository path; "" when the link lives outside the repository (a chart registry)
  uint32_t line = 0;
  std::shared_ptr<const CommitInfo> commit;  // the last commit that changed `file`, when known
};

// A scalar that a values file, inline values or a patch sets, with where it is written: a denial cites the
// line that set the value in question.
struct ValueOrigin {
  std::string value;  // the scalar as text
  std::string where;  // "values.image.tag", "patch"
  std::string file;
  uint32_t line = 0;
};

// How an object was built, shared by every object of one build (a release, a Kustomization).
struct BuildProvenance {
  std::vector<ProvenanceLink> chain;  // outermost first: the HelmRelease, then the chart
  std::vector<ValueOrigin> values;
  // The identity that applies what this build produces (the Kustomization's or HelmRelease's service
  // account, else the controller's): the agent that must match Git for these objects.
  std::string applier;
  // The objects are rendered (from a chart), not written in Git: their file:line is the HelmRelease's.
  bool rendered = false;
  // The build failed and there is no good one: the objects it owns are declared with unknown values.
  bool values_unknown = false;
  std::string unknown_reason;
};

class DeclaredObject {
 public:
  DeclaredObject(ObjectKey key, std::string api_version, std::string_view json, std::string file, uint32_t line,
                 uint32_t column, bool namespace_unresolved = false);

  const ObjectKey& key() const { return key_; }
  const std::string& api_version() const { return api_version_; }
  std::string_view json() const { return std::string_view(json_).substr(0, json_size_); }
  const std::string& file() const { return file_; }
  uint32_t line() const { return line_; }
  uint32_t column() const { return column_; }
  // A custom kind declared without a namespace: matches no namespace or the default one.
  bool namespace_unresolved() const { return namespace_unresolved_; }
  // The last commit that changed `file`; null when history did not tell.
  const std::shared_ptr<const CommitInfo>& last_change() const { return last_change_; }
  void set_last_change(std::shared_ptr<const CommitInfo> commit) { last_change_ = std::move(commit); }
  // Set when `file` fails to parse at the snapshot's commit: the object is the one the file declared at
  // this earlier commit, the newest where it parsed, and stays declared until the file parses or is deleted.
  const std::shared_ptr<const CommitInfo>& carried_from() const { return carried_from_; }
  void set_carried_from(std::shared_ptr<const CommitInfo> commit) { carried_from_ = std::move(commit); }
  // Set for objects a GitOps agent builds (rendered from a HelmRelease, a Kustomization); null for objects
  // written literally in Git.
  const std::shared_ptr<const BuildProvenance>& built_by() const { return built_by_; }
  void set_built_by(std::shared_ptr<const BuildProvenance> build) { built_by_ = std::move(build); }

  // Parses the stored JSON with `parser` (no allocation once the parser has grown to size).
  simdjson::simdjson_result<simdjson::dom::element> parse(simdjson::dom::parser& parser) const;

 private:
  ObjectKey key_;
  std::string api_version_;
  std::string json_;  // minified JSON followed by SIMDJSON_PADDING bytes
  uint32_t json_size_;
  std::string file_;
  uint32_t line_;
  uint32_t column_;
  bool namespace_unresolved_;
  std::shared_ptr<const CommitInfo> last_change_;
  std::shared_ptr<const CommitInfo> carried_from_;
  std::shared_ptr<const BuildProvenance> built_by_;
};

// A HelmRelease or Kustomization that Git declares but that could not be built (a chart repository down,
// an encrypted valuesFrom, a source gitgate cannot read): what it owns is declared with unknown values. The
// owner is recognised on a request by Flux's ownership labels.
struct UnbuiltOwner {
  std::string label_prefix;  // "helm.toolkit.fluxcd.io" or "kustomize.toolkit.fluxcd.io"
  std::string ns;
  std::string name;
  std::shared_ptr<const BuildProvenance> build;  // chain, applier, values_unknown, the reason
};

// A file or document the snapshot could not use, reported as "path:line: reason".
struct Problem {
  std::string path;
  uint32_t line = 0;
  std::string reason;

  std::string to_string() const;
};

class Snapshot {
 public:
  struct Lookup {
    const DeclaredObject* object = nullptr;         // the declaration (the first one on conflict)
    std::span<const DeclaredObject* const> others;  // further declarations of the same key: a conflict
    bool declared() const { return object != nullptr; }
    bool conflict() const { return !others.empty(); }
  };

  Snapshot(std::shared_ptr<const CommitInfo> commit, std::string default_namespace,
           std::vector<std::shared_ptr<const DeclaredObject>> objects, std::vector<Problem> problems,
           std::vector<UnbuiltOwner> unbuilt = {});

  // The snapshot at `commit` that differs from `previous` only in the files `changed`: the objects those
  // files declared are gone, and `now` is what they declare at `commit` (grouped by file, each file's in
  // declaration order). `problems` are all of the new snapshot's, as for the constructor. Costs in
  // proportion to what changed since the last snapshot built whole, which it shares (its index included).
  // Null when `previous` cannot be patched: its objects are not in file order, or some object (in it or in
  // `now`) is built by an agent; build a whole snapshot then.
  static std::shared_ptr<const Snapshot> patch(const std::shared_ptr<const Snapshot>& previous,
                                               std::shared_ptr<const CommitInfo> commit,
                                               const std::vector<std::string>& changed,
                                               std::vector<std::shared_ptr<const DeclaredObject>> now,
                                               std::vector<Problem> problems);
  // Files changed since the snapshot built whole that this one patches (0 for a whole snapshot): a
  // builder builds whole again when this grows.
  size_t patched_files() const { return changed_files_.size(); }

  // `key.ns` empty asks for a cluster-scoped object: a custom kind that Git declares with a (stray)
  // namespace matches by name then, as the API server ignores it.
  Lookup find(ObjectKeyView key) const;

  // How many objects Git declares in namespace `ns`, and one of them (null when none).
  size_t declared_in(std::string_view ns, const DeclaredObject** example = nullptr) const;

  const CommitInfo& commit() const { return *commit_; }
  const std::shared_ptr<const CommitInfo>& commit_ptr() const { return commit_; }
  const std::string& default_namespace() const { return default_namespace_; }
  // In file order when built from files. On a patched snapshot, assembled on first use.
  const std::vector<std::shared_ptr<const DeclaredObject>>& objects() const;
  size_t object_count() const { return object_count_; }
  // Skipped files and documents, and duplicate declarations (each file named).
  const std::vector<Problem>& problems() const { return problems_; }
  // What could not be built, by owner; null when `name` in `ns` owns nothing unbuilt under `label_prefix`.
  const UnbuiltOwner* find_unbuilt(std::string_view label_prefix, std::string_view ns, std::string_view name) const;
  const std::vector<UnbuiltOwner>& unbuilt() const { return unbuilt_; }
  // Whether `user` applies some build of this snapshot (an agent that follows the graph).
  bool is_applier(std::string_view user) const;

 private:
  struct Entry {
    const DeclaredObject* first = nullptr;
    std::vector<const DeclaredObject*> others;
  };
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(const ObjectKeyView& k) const;
    size_t operator()(const ObjectKey& k) const;
  };
  struct KeyEq {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
      return a.name == b.name && a.ns == b.ns && a.kind == b.kind && a.group == b.group;
    }
  };
  using Index = std::unordered_map<ObjectKey, Entry, KeyHash, KeyEq>;

  Snapshot() = default;
  // Null when not declared. A patched snapshot answers for the keys its changes touched, then asks its base.
  const Entry* entry(ObjectKeyView key) const;
  const Entry* by_name_entry(ObjectKeyView key) const;
  bool changed(const DeclaredObject* object) const;  // declared in a file changed since base_
  void add_conflicts(const ObjectKey& key, const Entry& e);

  std::shared_ptr<const CommitInfo> commit_;
  std::string default_namespace_;
  mutable std::vector<std::shared_ptr<const DeclaredObject>> objects_;  // a patched snapshot's: on first use
  mutable std::once_flag objects_assembled_;
  size_t object_count_ = 0;
  std::vector<Problem> problems_;
  std::vector<UnbuiltOwner> unbuilt_;
  std::vector<std::string_view> appliers_;  // sorted, unique
  Index index_;
  // Custom kinds declared with a namespace, by (group, kind, name) with an empty namespace: found when the
  // request says the object is cluster-scoped.
  Index by_name_;
  // Declared objects per namespace: deleting a Namespace deletes them.
  std::unordered_map<std::string_view, std::pair<size_t, const DeclaredObject*>> per_namespace_;
  std::vector<const ObjectKey*> conflicted_;  // keys of index_ declared more than once
  bool patchable_ = false;                    // objects_ in file order, none built by an agent

  // A patched snapshot: the whole one it patches, the files changed since (sorted), and what they declare
  // now (in file order). Its index_, by_name_ and per_namespace_ hold only what those files touch (an Entry
  // without `first`: declared no more), over base_'s.
  std::shared_ptr<const Snapshot> base_;
  std::vector<std::string> changed_files_;
  std::vector<std::shared_ptr<const DeclaredObject>> patched_;
};

// The current snapshot and the recent ones (newest first), so an agent still applying commit N-1 is not
// denied. Immutable once published.
struct SnapshotWindow {
  std::vector<std::shared_ptr<const Snapshot>> snapshots;

  const Snapshot* current() const { return snapshots.empty() ? nullptr : snapshots.front().get(); }
};

}  // namespace gitgate
