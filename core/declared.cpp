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

Snapshot::Snapshot(std::shared_ptr<const CommitInfo> commit, std::string default_namespace,
                   std::vector<std::shared_ptr<const DeclaredObject>> objects, std::vector<Problem> problems,
                   std::vector<UnbuiltOwner> unbuilt)
    : commit_(std::move(commit)),
      default_namespace_(std::move(default_namespace)),
      objects_(std::move(objects)),
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
  for (const auto& obj : objects_) {
    const ObjectKey& key = obj->key();
    add(index_[key], obj.get());
    if (!key.ns.empty() && builtin_kind_scope(key.group, key.kind) == KindScope::Unknown)
      add(by_name_[ObjectKey{key.group, key.kind, "", key.name}], obj.get());
    if (!key.ns.empty()) {
      auto& [count, example] = per_namespace_[key.ns];
      if (count++ == 0) example = obj.get();
    }
    if (obj->built_by() && !obj->built_by()->applier.empty()) appliers_.push_back(obj->built_by()->applier);
  }
  for (const auto& owner : unbuilt_)
    if (owner.build && !owner.build->applier.empty()) appliers_.push_back(owner.build->applier);
  std::sort(appliers_.begin(), appliers_.end());
  appliers_.erase(std::unique(appliers_.begin(), appliers_.end()), appliers_.end());
  for (const auto& [key, e] : index_) {
    if (e.others.empty()) continue;
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
  if (it == per_namespace_.end()) return 0;
  if (example != nullptr) *example = it->second.second;
  return it->second.first;
}

const Snapshot::Entry* Snapshot::entry(ObjectKeyView key) const {
  auto it = index_.find(key);
  return it == index_.end() ? nullptr : &it->second;
}

Snapshot::Lookup Snapshot::find(ObjectKeyView key) const {
  const Entry* e = entry(key);
  if (e == nullptr && builtin_kind_scope(key.group, key.kind) == KindScope::Unknown) {
    if (key.ns.empty()) {
      // A cluster-scoped custom kind that Git writes with a namespace: the API server drops it.
      if (auto it = by_name_.find(key); it != by_name_.end()) e = &it->second;
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
