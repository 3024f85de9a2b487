#include "core/declared.h"

#include <algorithm>
#include <functional>
#include <utility>

namespace gitgate {
namespace {

struct BuiltinKind {
  std::string_view group;
  std::string_view kind;
  KindScope scope;
};

constexpr BuiltinKind kBuiltinKinds[] = {
    {"", "Namespace", KindScope::Cluster},
    {"", "Node", KindScope::Cluster},
    {"", "PersistentVolume", KindScope::Cluster},
    {"", "ComponentStatus", KindScope::Cluster},
    {"", "Pod", KindScope::Namespaced},
    {"", "Service", KindScope::Namespaced},
    {"", "ConfigMap", KindScope::Namespaced},
    {"", "Secret", KindScope::Namespaced},
    {"", "ServiceAccount", KindScope::Namespaced},
    {"", "PersistentVolumeClaim", KindScope::Namespaced},
    {"", "ReplicationController", KindScope::Namespaced},
    {"", "Endpoints", KindScope::Namespaced},
    {"", "Event", KindScope::Namespaced},
    {"", "LimitRange", KindScope::Namespaced},
    {"", "ResourceQuota", KindScope::Namespaced},
    {"", "PodTemplate", KindScope::Namespaced},
    {"apps", "Deployment", KindScope::Namespaced},
    {"apps", "StatefulSet", KindScope::Namespaced},
    {"apps", "DaemonSet", KindScope::Namespaced},
    {"apps", "ReplicaSet", KindScope::Namespaced},
    {"apps", "ControllerRevision", KindScope::Namespaced},
    {"batch", "Job", KindScope::Namespaced},
    {"batch", "CronJob", KindScope::Namespaced},
    {"autoscaling", "HorizontalPodAutoscaler", KindScope::Namespaced},
    {"networking.k8s.io", "Ingress", KindScope::Namespaced},
    {"networking.k8s.io", "NetworkPolicy", KindScope::Namespaced},
    {"networking.k8s.io", "IngressClass", KindScope::Cluster},
    {"networking.k8s.io", "IPAddress", KindScope::Cluster},
    {"networking.k8s.io", "ServiceCIDR", KindScope::Cluster},
    {"policy", "PodDisruptionBudget", KindScope::Namespaced},
    {"policy", "PodSecurityPolicy", KindScope::Cluster},
    {"rbac.authorization.k8s.io", "Role", KindScope::Namespaced},
    {"rbac.authorization.k8s.io", "RoleBinding", KindScope::Namespaced},
    {"rbac.authorization.k8s.io", "ClusterRole", KindScope::Cluster},
    {"rbac.authorization.k8s.io", "ClusterRoleBinding", KindScope::Cluster},
    {"coordination.k8s.io", "Lease", KindScope::Namespaced},
    {"discovery.k8s.io", "EndpointSlice", KindScope::Namespaced},
    {"events.k8s.io", "Event", KindScope::Namespaced},
    {"storage.k8s.io", "StorageClass", KindScope::Cluster},
    {"storage.k8s.io", "CSIDriver", KindScope::Cluster},
    {"storage.k8s.io", "CSINode", KindScope::Cluster},
    {"storage.k8s.io", "VolumeAttachment", KindScope::Cluster},
    {"storage.k8s.io", "CSIStorageCapacity", KindScope::Namespaced},
    {"scheduling.k8s.io", "PriorityClass", KindScope::Cluster},
    {"node.k8s.io", "RuntimeClass", KindScope::Cluster},
    {"apiextensions.k8s.io", "CustomResourceDefinition", KindScope::Cluster},
    {"apiregistration.k8s.io", "APIService", KindScope::Cluster},
    {"admissionregistration.k8s.io", "ValidatingWebhookConfiguration", KindScope::Cluster},
    {"admissionregistration.k8s.io", "MutatingWebhookConfiguration", KindScope::Cluster},
    {"admissionregistration.k8s.io", "ValidatingAdmissionPolicy", KindScope::Cluster},
    {"admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding", KindScope::Cluster},
    {"admissionregistration.k8s.io", "MutatingAdmissionPolicy", KindScope::Cluster},
    {"admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding", KindScope::Cluster},
    {"certificates.k8s.io", "CertificateSigningRequest", KindScope::Cluster},
    {"certificates.k8s.io", "ClusterTrustBundle", KindScope::Cluster},
    {"flowcontrol.apiserver.k8s.io", "FlowSchema", KindScope::Cluster},
    {"flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration", KindScope::Cluster},
    {"resource.k8s.io", "DeviceClass", KindScope::Cluster},
    {"resource.k8s.io", "ResourceSlice", KindScope::Cluster},
    {"resource.k8s.io", "ResourceClaim", KindScope::Namespaced},
    {"resource.k8s.io", "ResourceClaimTemplate", KindScope::Namespaced},
};

size_t hash_key(std::string_view g, std::string_view k, std::string_view ns, std::string_view n) {
  std::hash<std::string_view> h;
  size_t seed = h(n);
  for (auto part : {ns, k, g}) seed ^= h(part) + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2);
  return seed;
}

}  // namespace

std::string_view to_string(SignatureStatus status) {
  switch (status) {
    case SignatureStatus::Verified:
      return "verified";
    case SignatureStatus::Unsigned:
      return "unsigned";
    case SignatureStatus::Invalid:
      return "invalid";
    case SignatureStatus::UnknownKey:
      return "unknown-key";
  }
  return "unknown";
}

KindScope builtin_kind_scope(std::string_view group, std::string_view kind) {
  for (const auto& b : kBuiltinKinds)
    if (b.kind == kind && b.group == group) return b.scope;
  return KindScope::Unknown;
}

std::string_view group_of_api_version(std::string_view api_version) {
  auto slash = api_version.find('/');
  return slash == std::string_view::npos ? std::string_view{} : api_version.substr(0, slash);
}

DeclaredObject::DeclaredObject(ObjectKey key, std::string api_version, std::string_view json,
                               std::string file, uint32_t line, uint32_t column, bool namespace_unresolved)
    : key_(std::move(key)),
      api_version_(std::move(api_version)),
      json_size_(static_cast<uint32_t>(json.size())),
      file_(std::move(file)),
      line_(line),
      column_(column),
      namespace_unresolved_(namespace_unresolved) {
  json_.reserve(json.size() + simdjson::SIMDJSON_PADDING);
  json_.assign(json);
  json_.append(simdjson::SIMDJSON_PADDING, ' ');
}

simdjson::simdjson_result<simdjson::dom::element> DeclaredObject::parse(simdjson::dom::parser& parser) const {
  return parser.parse(json_.data(), json_size_, false);
}

std::string Problem::to_string() const {
  if (path.empty()) return reason;  // about no file (another repository's fetch)
  return line > 0 ? path + ":" + std::to_string(line) + ": " + reason : path + ": " + reason;
}

size_t Snapshot::KeyHash::operator()(const ObjectKeyView& k) const {
  return hash_key(k.group, k.kind, k.ns, k.name);
}
size_t Snapshot::KeyHash::operator()(const ObjectKey& k) const {
  return hash_key(k.group, k.kind, k.ns, k.name);
}

namespace {

bool custom_namespaced(const ObjectKey& key) {
  return !key.ns.empty() && builtin_kind_scope(key.group, key.kind) == KindScope::Unknown;
}

bool file_less(const DeclaredObject* a, const DeclaredObject* b) {
  return a->file() < b->file();
}

}  // namespace

Snapshot::Snapshot(std::shared_ptr<const CommitInfo> commit, std::string default_namespace,
                   std::vector<std::shared_ptr<const DeclaredObject>> objects, std::vector<Problem> problems,
                   std::vector<UnbuiltOwner> unbuilt)
    : commit_(std::move(commit)),
      default_namespace_(std::move(default_namespace)),
      objects_(std::move(objects)),
      object_count_(objects_.size()),
      problems_(std::move(problems)),
      unbuilt_(std::move(unbuilt)) {
  index_.reserve(objects_.size());
  auto add = [](Entry& e, const DeclaredObject* obj) {
    if (e.first == nullptr) {
      e.first = obj;
    } else {
      e.others.push_back(obj);
    }
  };
  patchable_ = unbuilt_.empty();
  const DeclaredObject* previous = nullptr;
  for (const auto& obj : objects_) {
    const ObjectKey& key = obj->key();
    add(index_[key], obj.get());
    if (custom_namespaced(key)) add(by_name_[ObjectKey{key.group, key.kind, "", key.name}], obj.get());
    if (!key.ns.empty()) {
      auto& [count, example] = per_namespace_[key.ns];
      if (count++ == 0) example = obj.get();
    }
    if (obj->built_by()) {
      patchable_ = false;
      if (!obj->built_by()->applier.empty()) appliers_.push_back(obj->built_by()->applier);
    }
    if (patchable_ && previous != nullptr && file_less(obj.get(), previous)) patchable_ = false;
    previous = obj.get();
  }
  for (const auto& owner : unbuilt_)
    if (owner.build && !owner.build->applier.empty()) appliers_.push_back(owner.build->applier);
  std::sort(appliers_.begin(), appliers_.end());
  appliers_.erase(std::unique(appliers_.begin(), appliers_.end()), appliers_.end());
  for (const auto& [key, e] : index_) {
    if (e.others.empty()) continue;
    conflicted_.push_back(&key);
    add_conflicts(key, e);
  }
}

void Snapshot::add_conflicts(const ObjectKey& key, const Entry& e) {
  std::vector<const DeclaredObject*> all{e.first};
  all.insert(all.end(), e.others.begin(), e.others.end());
  std::string where;
  for (const auto* o : all)
    where += (where.empty() ? "" : ", ") + o->file() + ":" + std::to_string(o->line());
  std::string name = key.ns.empty() ? key.name : key.ns + "/" + key.name;
  for (const auto* o : all) {
    problems_.push_back({o->file(), o->line(),
                         key.kind + " " + name + " is declared more than once (" + where +
                             "); neither is authoritative until one is removed"});
  }
}

bool Snapshot::changed(const DeclaredObject* object) const {
  return std::binary_search(changed_files_.begin(), changed_files_.end(), object->file());
}

std::shared_ptr<const Snapshot> Snapshot::patch(const std::shared_ptr<const Snapshot>& previous,
                                                std::shared_ptr<const CommitInfo> commit,
                                                const std::vector<std::string>& changed,
                                                std::vector<std::shared_ptr<const DeclaredObject>> now,
                                                std::vector<Problem> problems) {
  const std::shared_ptr<const Snapshot>& base = previous->base_ ? previous->base_ : previous;
  if (!base->patchable_) return nullptr;
  for (const auto& object : now)
    if (object->built_by()) return nullptr;

  std::shared_ptr<Snapshot> s(new Snapshot());
  s->commit_ = std::move(commit);
  s->default_namespace_ = base->default_namespace_;
  s->problems_ = std::move(problems);
  s->base_ = base;
  s->changed_files_ = previous->changed_files_;
  s->changed_files_.insert(s->changed_files_.end(), changed.begin(), changed.end());
  std::sort(s->changed_files_.begin(), s->changed_files_.end());
  s->changed_files_.erase(std::unique(s->changed_files_.begin(), s->changed_files_.end()),
                          s->changed_files_.end());
  std::vector<std::string> just_changed = changed;
  std::sort(just_changed.begin(), just_changed.end());
  for (const auto& object : previous->patched_)
    if (!std::binary_search(just_changed.begin(), just_changed.end(), object->file()))
      s->patched_.push_back(object);
  s->patched_.insert(s->patched_.end(), std::make_move_iterator(now.begin()),
                     std::make_move_iterator(now.end()));
  std::stable_sort(s->patched_.begin(), s->patched_.end(),
                   [](const auto& a, const auto& b) { return file_less(a.get(), b.get()); });

  // What the base declared in the changed files: hidden now. The base's objects are in file order.
  std::vector<const DeclaredObject*> hidden;
  for (const auto& file : s->changed_files_) {
    auto from = std::lower_bound(base->objects_.begin(), base->objects_.end(), file,
                                 [](const auto& o, const std::string& f) { return o->file() < f; });
    for (; from != base->objects_.end() && (*from)->file() == file; ++from) hidden.push_back(from->get());
  }
  s->object_count_ = base->objects_.size() - hidden.size() + s->patched_.size();

  // Every key (and namespace) a changed file declared, before or now, is answered here: its declarations
  // in the base outside the changed files, then those of the changed files, in file order.
  std::unordered_map<ObjectKey, std::vector<const DeclaredObject*>, KeyHash, KeyEq> keys;
  std::unordered_map<ObjectKey, std::vector<const DeclaredObject*>, KeyHash, KeyEq> by_name;
  std::unordered_map<std::string_view, std::pair<size_t, const DeclaredObject*>> namespaces;
  auto touch = [&](const DeclaredObject* o) {
    const ObjectKey& key = o->key();
    keys.try_emplace(key);
    if (custom_namespaced(key)) by_name.try_emplace(ObjectKey{key.group, key.kind, "", key.name});
    if (!key.ns.empty()) namespaces.try_emplace(key.ns);
  };
  for (const auto* o : hidden) touch(o);
  for (const auto& o : s->patched_) touch(o.get());
  auto kept = [&](const Entry* e, std::vector<const DeclaredObject*>& into) {
    if (e == nullptr) return;
    if (!s->changed(e->first)) into.push_back(e->first);
    for (const auto* o : e->others)
      if (!s->changed(o)) into.push_back(o);
  };
  for (auto& [key, list] : keys) kept(base->entry({key.group, key.kind, key.ns, key.name}), list);
  for (auto& [key, list] : by_name) kept(base->by_name_entry({key.group, key.kind, key.ns, key.name}), list);
  for (const auto& o : s->patched_) {
    const ObjectKey& key = o->key();
    keys[key].push_back(o.get());
    if (custom_namespaced(key)) by_name[ObjectKey{key.group, key.kind, "", key.name}].push_back(o.get());
  }
  auto entry_of = [](std::vector<const DeclaredObject*>& list) {
    std::stable_sort(list.begin(), list.end(), file_less);
    Entry e;
    if (!list.empty()) {
      e.first = list.front();
      e.others.assign(list.begin() + 1, list.end());
    }
    return e;
  };
  s->index_.reserve(keys.size());
  for (auto& [key, list] : keys) {
    auto& e = s->index_.emplace(key, entry_of(list)).first->second;
    if (!e.others.empty()) s->add_conflicts(key, e);
  }
  for (auto& [key, list] : by_name) s->by_name_.emplace(key, entry_of(list));
  for (const ObjectKey* key : base->conflicted_)
    if (s->index_.count(*key) == 0)
      s->add_conflicts(*key, *base->entry({key->group, key->kind, key->ns, key->name}));

  // The example is the namespace's first object in file order, as in a whole snapshot: the first of the
  // base's that stays (looked for past the base's own example only when its file changed), or of the
  // changed files'.
  for (auto& [ns, count_example] : namespaces)
    count_example.first = base->declared_in(ns, &count_example.second);
  for (const auto* o : hidden)
    if (!o->key().ns.empty()) --namespaces[o->key().ns].first;
  for (auto& [ns, count_example] : namespaces) {
    auto& [count, example] = count_example;
    if (example == nullptr || !s->changed(example)) continue;
    example = nullptr;
    for (size_t i = 0; example == nullptr && count > 0 && i < base->objects_.size(); ++i) {
      const DeclaredObject* o = base->objects_[i].get();
      if (o->key().ns == ns && !s->changed(o)) example = o;
    }
  }
  for (const auto& o : s->patched_) {
    if (o->key().ns.empty()) continue;
    auto& [count, example] = namespaces[o->key().ns];
    if (count++ == 0 || example == nullptr || file_less(o.get(), example)) example = o.get();
  }
  s->per_namespace_ = std::move(namespaces);
  return s;
}

const std::vector<std::shared_ptr<const DeclaredObject>>& Snapshot::objects() const {
  if (base_) {
    std::call_once(objects_assembled_, [this] {
      objects_.reserve(object_count_);
      auto patched = patched_.begin();
      for (const auto& o : base_->objects_) {
        if (changed(o.get())) continue;
        for (; patched != patched_.end() && (*patched)->file() < o->file(); ++patched)
          objects_.push_back(*patched);
        objects_.push_back(o);
      }
      objects_.insert(objects_.end(), patched, patched_.end());
    });
  }
  return objects_;
}

const UnbuiltOwner* Snapshot::find_unbuilt(std::string_view label_prefix, std::string_view ns,
                                           std::string_view name) const {
  for (const auto& owner : unbuilt_)
    if (owner.name == name && owner.ns == ns && owner.label_prefix == label_prefix) return &owner;
  return nullptr;
}

bool Snapshot::is_applier(std::string_view user) const {
  return std::binary_search(appliers_.begin(), appliers_.end(), user);
}

size_t Snapshot::declared_in(std::string_view ns, const DeclaredObject** example) const {
  auto it = per_namespace_.find(ns);
  if (it == per_namespace_.end()) return base_ ? base_->declared_in(ns, example) : 0;
  if (example != nullptr) *example = it->second.second;
  return it->second.first;
}

const Snapshot::Entry* Snapshot::entry(ObjectKeyView key) const {
  auto it = index_.find(key);
  if (it == index_.end()) return base_ ? base_->entry(key) : nullptr;
  return it->second.first == nullptr ? nullptr : &it->second;
}

const Snapshot::Entry* Snapshot::by_name_entry(ObjectKeyView key) const {
  auto it = by_name_.find(key);
  if (it == by_name_.end()) return base_ ? base_->by_name_entry(key) : nullptr;
  return it->second.first == nullptr ? nullptr : &it->second;
}

Snapshot::Lookup Snapshot::find(ObjectKeyView key) const {
  const Entry* e = entry(key);
  if (e == nullptr && builtin_kind_scope(key.group, key.kind) == KindScope::Unknown) {
    if (key.ns.empty()) {
      // A cluster-scoped custom kind that Git writes with a namespace: the API server drops it.
      e = by_name_entry(key);
    } else if (key.ns == default_namespace_) {
      // A custom kind declared without a namespace is indexed under "" and also answers for the default one.
      const Entry* unresolved = entry({key.group, key.kind, "", key.name});
      if (unresolved != nullptr && unresolved->first->namespace_unresolved()) e = unresolved;
    }
  }
  if (e == nullptr) return {};
  return {e->first, std::span<const DeclaredObject* const>(e->others.data(), e->others.size())};
}

}  // namespace gitgate
