#include "policies/policy_yaml.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <exception>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <utility>

#include "core/duration.h"
#include "core/semver.h"
#include "core/web_url.h"
#include "policies/syntax.h"

namespace gitgate::policies::detail {
namespace {

using namespace std::chrono_literals;
using syntax::quote;
using syntax::Subject;
using Names = std::span<const std::string_view>;

constexpr std::array<std::string_view, 4> kTopFields{"apiVersion", "kind", "metadata", "spec"};
constexpr std::array<std::string_view, 3> kMetadataFields{"name", "labels", "annotations"};
constexpr std::array<std::string_view, 11> kSpecFields{
    "mode",      "source", "scope",     "agents",           "controllers", "breakGlass",
    "unmanaged", "ignore", "ownership", "governedMetadata", "allowDebug"};
constexpr std::array<std::string_view, 3> kFluxFields{"path", "namespace", "caFile"};
constexpr std::array<std::string_view, 7> kArgoFields{"path",   "namespace",           "tracking",
                                                     "caFile", "plainHTTPRegistries", "destinations",
                                                     "rootApplication"};
constexpr std::array<std::pair<std::string_view, ArgoTracking>, 3> kTrackings{
    {{"label", ArgoTracking::Label},
     {"annotation", ArgoTracking::Annotation},
     {"annotation+label", ArgoTracking::AnnotationAndLabel}}};
constexpr std::array<std::string_view, 24> kSourceFields{"url",
                                                         "knownAs",
                                                         "repositories",
                                                         "branch",
                                                         "paths",
                                                         "interval",
                                                         "fetchTimeout",
                                                         "maxStaleness",
                                                         "render",
                                                         "kustomizeCommand",
                                                         "renderTimeout",
                                                         "defaultNamespace",
                                                         "credentials",
                                                         "allowedSigners",
                                                         "requireSignedCommits",
                                                         "window",
                                                         "maxFileSize",
                                                         "substitute",
                                                         "webURL",
                                                         "flux",
                                                         "argocd",
                                                         "helmCommand",
                                                         "kubeVersion",
                                                         "apiVersions"};
constexpr std::array<std::string_view, 7> kRepositoryFields{"url", "branch", "tag", "semver", "commit", "digest", "credentials"};
constexpr size_t kMaxRepositories = 32;
constexpr std::array<std::string_view, 3> kScopeFields{"namespaces", "clusterScoped", "kinds"};
constexpr std::array<std::string_view, 2> kNamespaceFields{"include", "exclude"};
constexpr std::array<std::string_view, 4> kAgentFields{"name", "users", "groups", "mustMatchGit"};
constexpr std::array<std::string_view, 5> kControllerFields{"users", "groups", "includeDefaults", "kinds",
                                                            "paths"};
constexpr std::array<std::string_view, 5> kControllerItemFields{"name", "users", "groups", "kinds", "paths"};
constexpr std::array<std::string_view, 2> kBreakGlassFields{"users", "groups"};
constexpr std::array<std::string_view, 2> kIgnoreFields{"kinds", "paths"};
constexpr std::array<std::string_view, 2> kOwnershipFields{"labels", "annotations"};

constexpr std::array<std::pair<std::string_view, Mode>, 3> kModes{
    {{"enforce", Mode::Enforce}, {"warn", Mode::Warn}, {"audit", Mode::Audit}}};
constexpr std::array<std::pair<std::string_view, Render>, 2> kRenders{
    {{"plain", Render::Plain}, {"kustomize", Render::Kustomize}}};
constexpr std::array<std::pair<std::string_view, Unmanaged>, 3> kUnmanaged{
    {{"allow", Unmanaged::Allow}, {"warn", Unmanaged::Warn}, {"deny", Unmanaged::Deny}}};

constexpr std::array<std::string_view, 2> kDefaultControllerUsers{"system:serviceaccount:kube-system:*",
                                                                  "system:node:*"};
constexpr std::array<std::string_view, 1> kDefaultControllerGroups{"system:nodes"};
constexpr std::array<std::string_view, 2> kDefaultOwnershipLabels{"kustomize.toolkit.fluxcd.io/*",
                                                                  "helm.toolkit.fluxcd.io/*"};
// Argo CD's default tracking label; Helm charts set it too, so it marks ownership only when Argo CD runs and
// its value names an Application that Git declares.
constexpr std::string_view kArgoInstanceLabel = "app.kubernetes.io/instance";
constexpr std::string_view kArgoController = "argocd-application-controller";
constexpr std::array<std::string_view, 1> kDefaultOwnershipAnnotations{"argocd.argoproj.io/tracking-id"};
// Label and annotation keys that other controllers obey: GitOps tools (reconcile, prune, sync options),
// Helm (adoption, resource policy), Pod Security Admission, service meshes' injection, admission exemptions,
// load balancer and ingress controllers' settings. Listed in policies/README.md.
constexpr std::array<std::string_view, 20> kDefaultGovernedMetadata{
    "*.fluxcd.io/*",
    "fluxcd.io/*",
    "argocd.argoproj.io/*",
    "helm.sh/*",
    "meta.helm.sh/*",
    "app.kubernetes.io/managed-by",
    "pod-security.kubernetes.io/*",
    "service.kubernetes.io/*",
    "service.beta.kubernetes.io/*",
    "endpointslice.kubernetes.io/*",
    "istio-injection",
    "istio.io/*",
    "sidecar.istio.io/*",
    "linkerd.io/*",
    "config.linkerd.io/*",
    "admission.gatekeeper.sh/*",
    "nginx.ingress.kubernetes.io/*",
    "cert-manager.io/*",
    "kubernetes.io/ingress.class",
    "*.kubernetes.io/is-default-class",
};
// What the default controllers (kube-system service accounts, nodes) change on declared objects in the
// course of their job: the PersistentVolume binder binds claims and volumes, the namespace controller
// finalizes Namespaces, the node lifecycle controller taints Nodes, the legacy token controller lists a
// ServiceAccount's secrets.
struct DefaultGrant {
  std::string_view kind;
  std::array<std::string_view, 4> paths;
};
constexpr std::array<DefaultGrant, 5> kDefaultControllerGrants{{
    {"core/PersistentVolumeClaim", {"/spec/volumeName"}},
    {"core/PersistentVolume", {"/spec/claimRef"}},
    {"core/Namespace", {"/spec/finalizers"}},
    {"core/Node", {"/spec/taints", "/spec/podCIDR", "/spec/podCIDRs", "/spec/providerID"}},
    {"core/ServiceAccount", {"/secrets"}},
}};

constexpr auto kMinInterval = 100ms;  // below that a policy would hammer its Git server
constexpr uint64_t kMaxFileSizeLimit = 64ull << 20;
constexpr int kMaxWindow = 50;
constexpr size_t kMaxDurationText = 64;
// Work allowed for the pairwise identity checks of one policy (see syntax::intersects).
constexpr uint64_t kIdentityCheckBudget = 20'000'000;

uint32_t one_based(int zero_based) {
  return zero_based < 0 ? 0 : static_cast<uint32_t>(zero_based) + 1;
}

std::string join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

std::string got(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return ", got a map";
    case YAML::NodeType::Sequence:
      return ", got a list";
    case YAML::NodeType::Scalar:
      return ", got " + quote(node.Scalar());
    default:
      return ", got nothing";
  }
}

// One field of a map (or one list item): its value, its path for messages, where its key is written.
struct Entry {
  YAML::Node value;
  std::string path;
  YAML::Mark key_mark = YAML::Mark::null_mark();

  // A problem with the value is shown at the value, or at its key when the value is missing.
  YAML::Mark mark() const { return value.IsNull() && !key_mark.is_null() ? key_mark : value.Mark(); }
  // A problem with the field as a whole (a required child missing) is shown at its key.
  YAML::Mark where() const { return key_mark.is_null() ? value.Mark() : key_mark; }
};

class Fields {
 public:
  const Entry* get(std::string_view name) const {
    for (const auto& [key, entry] : entries_)
      if (key == name) return &entry;
    return nullptr;
  }
  const std::vector<std::pair<std::string, Entry>>& all() const { return entries_; }
  void add(std::string key, Entry entry) { entries_.emplace_back(std::move(key), std::move(entry)); }

 private:
  std::vector<std::pair<std::string, Entry>> entries_;
};

struct Item {
  std::string text;
  YAML::Mark mark;
  std::string path;
};

// A user or group pattern with where it was written, for the ambiguity check.
struct LocatedPattern {
  Pattern pattern;
  YAML::Mark mark;
  std::string path;
  bool is_default = false;
};

// The identities of one class: one agent, the controllers, or break-glass.
struct IdentityClass {
  std::string label;  // "agent 'flux'", "controllers", "breakGlass"
  std::vector<LocatedPattern> users;
  std::vector<LocatedPattern> groups;
};

std::vector<Pattern> plain(const std::vector<LocatedPattern>& located) {
  std::vector<Pattern> out;
  out.reserve(located.size());
  for (const auto& p : located) out.push_back(p.pattern);
  return out;
}

class Decoder {
 public:
  Decoder(std::string_view file, std::vector<Diagnostic>& errors) : file_(file), errors_(errors) {}

  std::optional<DecodedPolicy> document(const YAML::Node& root);

 private:
  void error(const YAML::Mark& at, std::string message) {
    errors_.push_back(
        Diagnostic{std::string(file_), one_based(at.line), one_based(at.column), std::move(message)});
  }

  // Every map entry and list item visited costs one unit, so aliases cannot multiply the work.
  bool spend(const YAML::Mark& at) {
    if (exhausted_) return false;
    if (++entries_ <= kMaxEntriesPerPolicy) return true;
    exhausted_ = true;
    error(at, "document has more than " + std::to_string(kMaxEntriesPerPolicy) +
                  " entries (aliases expanded); split it into several policies");
    return false;
  }

  std::optional<Fields> entries(const Entry& e);
  std::optional<Fields> map(const Entry& e, Names known, std::string_view what = "a map");
  Fields known_only(const Fields& all, Names known);  // reports unknown fields
  std::optional<std::vector<Entry>> list(const Entry& e, std::string_view what);
  std::optional<std::string> string(const Entry& e);
  // A string that `check` accepts (errors at the value name the field); nullopt after reporting otherwise.
  std::optional<std::string> checked(const Entry& e, Status (*check)(std::string_view));
  // An argv: a non-empty list of non-empty strings; `example` shows one in the error.
  std::optional<std::vector<std::string>> command(const Entry& e, std::string_view example);
  std::optional<std::vector<Item>> strings(const Entry& e);
  std::optional<bool> boolean(const Entry& e);
  std::optional<int64_t> integer(const Entry& e);
  std::optional<std::chrono::microseconds> duration(const Entry& e, std::chrono::microseconds minimum);
  template <class T, size_t N>
  std::optional<T> choice(const Entry& e, const std::array<std::pair<std::string_view, T>, N>& options);
  std::vector<LocatedPattern> patterns(const Entry& e, Subject subject);
  void string_map(const Entry& e);

  void metadata(const Entry* e, const YAML::Node& root, DecodedPolicy& out);
  void spec(const Entry* e, const YAML::Node& root, DecodedPolicy& out);
  void source(const Entry& e, SourceSpec& out);
  std::string git_url(const Fields& f, const Entry& owner, std::string& out);
  void scope(const Entry& e, Scope& out);
  void agents(const Entry& e, Policy& out, std::vector<IdentityClass>& classes);
  IdentityClass identities(const Fields& f, std::string label);
  void controllers(const Entry* e, Policy& out, std::vector<IdentityClass>& classes);
  void grant(const Fields& f, std::string name, const IdentityClass& identities, Policy& out);
  void governed_metadata(const Entry* e, Policy& out);
  void ignore(const Entry& e, Policy& out);
  void ownership(const Entry* e, Policy& out);
  void check_ambiguity(const std::vector<IdentityClass>& classes, const YAML::Mark& at);

  std::string_view file_;
  std::vector<Diagnostic>& errors_;
  size_t entries_ = 0;
  bool exhausted_ = false;
};

std::optional<Fields> Decoder::entries(const Entry& e) {
  Fields out;
  // By value: yaml-cpp's iterator hands out temporaries, so `it->first` would dangle.
  for (const auto& pair : e.value) {
    YAML::Node key = pair.first;
    if (!spend(key.Mark())) return std::nullopt;
    if (!key.IsScalar()) {
      error(key.Mark(), (e.path.empty() ? std::string("document") : e.path) + ": keys must be strings");
      continue;
    }
    std::string name = key.Scalar();
    if (const Entry* first = out.get(name)) {
      error(key.Mark(), "duplicate key " + quote(name) + " (first at line " +
                            std::to_string(one_based(first->key_mark.line)) + ")");
      continue;
    }
    out.add(name, Entry{pair.second, join(e.path, name), key.Mark()});
  }
  return out;
}

std::optional<Fields> Decoder::map(const Entry& e, Names known, std::string_view what) {
  if (exhausted_) return std::nullopt;
  if (!e.value.IsMap()) {
    error(e.mark(), e.path + ": expected " + std::string(what) + got(e.value));
    return std::nullopt;
  }
  auto all = entries(e);
  if (!all) return std::nullopt;
  return known_only(*all, known);
}

Fields Decoder::known_only(const Fields& all, Names known) {
  Fields out;
  for (const auto& [name, entry] : all.all()) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string message = "unknown field " + quote(name);
      if (auto suggestion = syntax::closest(name, known); !suggestion.empty())
        message += " (did you mean '" + std::string(suggestion) + "'?)";
      error(entry.key_mark, std::move(message));
      continue;
    }
    out.add(name, entry);
  }
  return out;
}

std::optional<std::vector<Entry>> Decoder::list(const Entry& e, std::string_view what) {
  if (exhausted_) return std::nullopt;
  if (!e.value.IsSequence()) {
    error(e.mark(), e.path + ": expected " + std::string(what) + got(e.value));
    return std::nullopt;
  }
  if (e.value.size() > kMaxListItems) {
    error(e.mark(), e.path + ": more than " + std::to_string(kMaxListItems) + " items");
    return std::nullopt;
  }
  std::vector<Entry> out;
  for (const auto& item : e.value) {
    if (!spend(item.Mark())) return std::nullopt;
    out.push_back(Entry{item, index(e.path, out.size())});
  }
  return out;
}

std::optional<std::string> Decoder::string(const Entry& e) {
  if (!e.value.IsScalar()) {
    error(e.mark(), e.path + ": expected a string" + got(e.value));
    return std::nullopt;
  }
  if (e.value.Scalar().size() > syntax::kMaxStringLength) {
    error(e.mark(), e.path + ": longer than " + std::to_string(syntax::kMaxStringLength) + " characters");
    return std::nullopt;
  }
  return e.value.Scalar();
}

std::optional<std::string> Decoder::checked(const Entry& e, Status (*check)(std::string_view)) {
  auto text = string(e);
  if (!text) return std::nullopt;
  if (Status status = check(*text); !status) {
    error(e.mark(), e.path + ": " + status.error());
    return std::nullopt;
  }
  return text;
}

std::optional<std::vector<std::string>> Decoder::command(const Entry& e, std::string_view example) {
  auto items = strings(e);
  if (!items) return std::nullopt;
  if (items->empty()) {
    error(e.mark(), e.path + ": empty command (e.g. " + std::string(example) + ")");
    return std::nullopt;
  }
  std::vector<std::string> argv;
  for (auto& item : *items) {
    if (item.text.empty())
      error(item.mark, item.path + ": empty argument");
    else
      argv.push_back(std::move(item.text));
  }
  if (argv.size() != items->size()) return std::nullopt;
  return argv;
}

std::optional<std::vector<Item>> Decoder::strings(const Entry& e) {
  if (exhausted_) return std::nullopt;
  if (!e.value.IsSequence()) {
    std::string hint = e.value.IsScalar() ? " (write [" + quote(e.value.Scalar()) + "] for one item)" : "";
    error(e.mark(), e.path + ": expected a list of strings" + got(e.value) + hint);
    return std::nullopt;
  }
  auto items = list(e, "a list of strings");
  if (!items) return std::nullopt;
  std::vector<Item> out;
  for (const Entry& item : *items) {
    if (auto text = string(item)) out.push_back(Item{std::move(*text), item.mark(), item.path});
  }
  return out;
}

std::optional<bool> Decoder::boolean(const Entry& e) {
  const YAML::Node& v = e.value;
  if (v.IsScalar() && (v.Tag() == "?" || v.Tag() == "tag:yaml.org,2002:bool")) {
    const std::string& s = v.Scalar();
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
  }
  std::string hint = v.IsScalar() && v.Tag() == "!" ? " (a quoted string is not a boolean)" : "";
  error(e.mark(), e.path + ": expected true or false" + got(v) + hint);
  return std::nullopt;
}

std::optional<int64_t> Decoder::integer(const Entry& e) {
  const YAML::Node& v = e.value;
  if (v.IsScalar() && (v.Tag() == "?" || v.Tag() == "tag:yaml.org,2002:int")) {
    const std::string& s = v.Scalar();
    int64_t value = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec == std::errc() && end == s.data() + s.size() && !s.empty()) return value;
  }
  error(e.mark(), e.path + ": expected an integer" + got(v));
  return std::nullopt;
}

std::optional<std::chrono::microseconds> Decoder::duration(const Entry& e,
                                                           std::chrono::microseconds minimum) {
  auto text = string(e);
  if (!text) return std::nullopt;
  if (text->size() > kMaxDurationText) {
    error(e.mark(), e.path + ": invalid duration (longer than 64 characters)");
    return std::nullopt;
  }
  auto d = parse_duration(*text);
  if (!d) {
    error(e.mark(), e.path + ": " + d.error());
    return std::nullopt;
  }
  if (*d < minimum) {
    error(e.mark(),
          e.path + ": " + quote(*text) + " is shorter than the minimum " + format_duration(minimum));
    return std::nullopt;
  }
  return *d;
}

template <class T, size_t N>
std::optional<T> Decoder::choice(const Entry& e,
                                 const std::array<std::pair<std::string_view, T>, N>& options) {
  auto text = string(e);
  if (!text) return std::nullopt;
  std::array<std::string_view, N> names;
  std::string listed;
  for (size_t i = 0; i < N; ++i) {
    if (options[i].first == *text) return options[i].second;
    names[i] = options[i].first;
    listed += (i == 0 ? "" : i + 1 == N ? " or " : ", ") + std::string(options[i].first);
  }
  std::string message = e.path + ": " + quote(*text) + " is not one of " + listed;
  if (auto suggestion = syntax::closest(*text, names); !suggestion.empty())
    message += " (did you mean '" + std::string(suggestion) + "'?)";
  error(e.mark(), std::move(message));
  return std::nullopt;
}

std::vector<LocatedPattern> Decoder::patterns(const Entry& e, Subject subject) {
  std::vector<LocatedPattern> out;
  auto items = strings(e);
  if (!items) return out;
  for (auto& item : *items) {
    if (auto status = syntax::check_pattern(subject, item.text); !status) {
      error(item.mark, item.path + ": " + status.error());
      continue;
    }
    bool seen = std::any_of(out.begin(), out.end(),
                            [&](const LocatedPattern& p) { return p.pattern.text() == item.text; });
    if (!seen) out.push_back(LocatedPattern{Pattern(std::move(item.text)), item.mark, std::move(item.path)});
  }
  return out;
}

// Kubernetes-style labels/annotations on the policy itself: checked for shape, otherwise unused.
void Decoder::string_map(const Entry& e) {
  if (!e.value.IsMap()) {
    error(e.mark(), e.path + ": expected a map of strings" + got(e.value));
    return;
  }
  auto fields = entries(e);
  if (!fields) return;
  for (const auto& [name, entry] : fields->all()) {
    if (!entry.value.IsScalar()) error(entry.mark(), entry.path + ": expected a string" + got(entry.value));
  }
}

std::optional<DecodedPolicy> Decoder::document(const YAML::Node& root) {
  size_t errors_before = errors_.size();
  if (!root.IsMap()) {
    error(root.Mark(),
          "expected a GatePolicy document (a map with apiVersion, kind, metadata, spec)" + got(root));
    return std::nullopt;
  }
  auto all = entries(Entry{root, ""});
  if (!all) return std::nullopt;
  // Another kind of document is reported as such, not as a heap of unknown fields.
  if (const Entry* kind = all->get("kind")) {
    auto k = string(*kind);
    if (!k) return std::nullopt;
    if (*k != kPolicyKind) {
      error(kind->mark(),
            "kind: " + quote(*k) + " is not GatePolicy; policy files hold GatePolicy documents only");
      return std::nullopt;
    }
  } else {
    error(root.Mark(), "missing required field 'kind' (" + std::string(kPolicyKind) + ")");
  }
  Fields top = known_only(*all, kTopFields);
  if (const Entry* api = top.get("apiVersion")) {
    if (auto v = string(*api); v && *v != kApiVersion)
      error(api->mark(),
            "apiVersion: " + quote(*v) + " is not supported (use " + std::string(kApiVersion) + ")");
  } else {
    error(root.Mark(), "missing required field 'apiVersion' (" + std::string(kApiVersion) + ")");
  }

  DecodedPolicy out;
  out.policy.file = std::string(file_);
  out.policy.line = one_based(root.Mark().line);
  out.name_column = one_based(root.Mark().column);
  metadata(top.get("metadata"), root, out);
  spec(top.get("spec"), root, out);
  out.valid = errors_.size() == errors_before;
  if (out.policy.name.empty()) return std::nullopt;
  return out;
}

void Decoder::metadata(const Entry* e, const YAML::Node& root, DecodedPolicy& out) {
  if (e == nullptr) {
    error(root.Mark(), "missing required field 'metadata' (metadata.name names the policy)");
    return;
  }
  auto f = map(*e, kMetadataFields);
  if (!f) return;
  if (const Entry* labels = f->get("labels")) string_map(*labels);
  if (const Entry* annotations = f->get("annotations")) string_map(*annotations);
  const Entry* name = f->get("name");
  if (name == nullptr) {
    error(e->where(), "metadata: missing required field 'name'");
    return;
  }
  auto text = string(*name);
  if (!text) return;
  if (auto status = syntax::check_policy_name(*text); !status) {
    error(name->mark(), "metadata.name: " + status.error());
    return;
  }
  out.policy.name = *text;
  out.policy.line = one_based(name->mark().line);
  out.name_column = one_based(name->mark().column);
}

void Decoder::spec(const Entry* e, const YAML::Node& root, DecodedPolicy& out) {
  if (e == nullptr) {
    error(root.Mark(), "missing required field 'spec'");
    return;
  }
  auto f = map(*e, kSpecFields);
  if (!f) return;
  Policy& policy = out.policy;
  if (const Entry* mode = f->get("mode")) {
    if (auto m = choice(*mode, kModes)) policy.mode = *m;
  }
  if (const Entry* source_entry = f->get("source")) {
    source(*source_entry, policy.source);
  } else {
    error(e->where(),
          "spec: missing required field 'source' (the Git repository that holds the desired state)");
  }
  size_t errors_before_scope = errors_.size();
  if (const Entry* scope_entry = f->get("scope")) scope(*scope_entry, policy.scope);
  out.scope_valid = errors_.size() == errors_before_scope;

  std::vector<IdentityClass> classes;
  if (const Entry* agents_entry = f->get("agents")) agents(*agents_entry, policy, classes);
  controllers(f->get("controllers"), policy, classes);
  if (const Entry* glass = f->get("breakGlass")) {
    if (auto g = map(*glass, kBreakGlassFields)) {
      IdentityClass c = identities(*g, "breakGlass");
      policy.break_glass.users = plain(c.users);
      policy.break_glass.groups = plain(c.groups);
      classes.push_back(std::move(c));
    }
  }
  if (const Entry* unmanaged = f->get("unmanaged")) {
    if (auto u = choice(*unmanaged, kUnmanaged)) policy.unmanaged = *u;
  }
  if (const Entry* ignore_entry = f->get("ignore")) ignore(*ignore_entry, policy);
  ownership(f->get("ownership"), policy);
  governed_metadata(f->get("governedMetadata"), policy);
  if (const Entry* debug = f->get("allowDebug")) {
    if (auto b = boolean(*debug)) policy.allow_debug = *b;
  }
  if (!exhausted_) check_ambiguity(classes, e->where());
}

// The required `url` of `owner`: checked (no credentials in it) and stored in `out`. Returns its scheme, ""
// when it is missing or invalid.
std::string Decoder::git_url(const Fields& f, const Entry& owner, std::string& out) {
  const Entry* url = f.get("url");
  if (url == nullptr) {
    error(owner.where(), owner.path + ": missing required field 'url'");
    return "";
  }
  auto text = string(*url);
  if (!text) return "";
  auto checked = syntax::check_git_url(*text);
  if (!checked) {
    error(url->mark(), url->path + ": " + checked.error());
    return "";
  }
  out = *text;
  return checked->scheme;
}

void Decoder::source(const Entry& e, SourceSpec& out) {
  auto f = map(e, kSourceFields);
  if (!f) return;
  std::string scheme = git_url(*f, e, out.url);
  if (const Entry* known = f->get("knownAs")) {
    if (auto items = strings(*known)) {
      for (auto& item : *items) {
        if (auto status = syntax::check_git_url(item.text); !status)
          error(item.mark, item.path + ": " + status.error());
        else
          out.known_as.push_back(std::move(item.text));
      }
    }
  }
  if (const Entry* branch = f->get("branch")) {
    if (auto text = checked(*branch, syntax::check_branch)) out.branch = std::move(*text);
  }
  if (const Entry* repositories = f->get("repositories")) {
    if (auto items = list(*repositories, "a list of repositories (url, branch, tag, semver, commit or digest, credentials)")) {
      if (items->size() > kMaxRepositories)
        error(repositories->mark(), repositories->path + ": more than " + std::to_string(kMaxRepositories) +
                                        " repositories");
      for (const Entry& item : *items) {
        auto r = map(item, kRepositoryFields, "a map with url, branch, tag, semver, commit or digest, and credentials");
        if (!r) continue;
        OtherRepository other;
        std::string other_scheme;
        if (const Entry* url = r->get("url"); url != nullptr && url->value.IsScalar() &&
                                              url->value.Scalar().starts_with("oci://")) {
          if (auto text = checked(*url, syntax::check_oci_url)) other.url = std::move(*text);
          other_scheme = "oci";
          for (const char* git_only : {"branch", "commit"})
            if (const Entry* field = r->get(git_only))
              error(field->key_mark, field->path + ": an OCI artifact has no " + git_only + "; use tag, semver or digest");
        } else {
          other_scheme = git_url(*r, item, other.url);
          if (const Entry* digest = r->get("digest"))
            error(digest->key_mark, digest->path + ": only an oci:// artifact has a digest; a Git repository takes commit");
        }
        const Entry* branch = r->get("branch");
        if (branch) {
          if (auto text = checked(*branch, syntax::check_branch)) other.branch = std::move(*text);
        }
        const Entry* tag = r->get("tag");
        if (tag) {
          if (auto text = checked(*tag, syntax::check_tag)) other.tag = std::move(*text);
          if (branch)
            error(tag->key_mark, tag->path + ": a repository is fetched at a branch or at a tag, not both; list it "
                                             "twice to build from both");
        }
        if (const Entry* range = r->get("semver")) {
          if (auto text = checked(*range, [](std::string_view s) -> Status {
                auto c = semver::Constraint::parse(s);
                if (!c) return Error{c.error()};
                return Status::Ok();
              }))
            other.semver = std::move(*text);
          if (branch || tag)
            error(range->key_mark, range->path + ": a repository is fetched at a branch, a tag or a semver range, "
                                                 "one of them; list it again to build from another");
        }
        if (const Entry* commit = r->get("commit")) {
          if (auto text = checked(*commit, syntax::check_commit)) {
            other.commit = std::move(*text);
            for (char& c : other.commit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          }
          if (branch || tag || r->get("semver"))
            error(commit->key_mark, commit->path + ": a repository is fetched at a branch, a tag, a semver range or "
                                                   "a commit, one of them; list it again to build from another");
        }
        if (const Entry* digest = r->get("digest")) {
          if (auto text = checked(*digest, syntax::check_digest)) other.digest = std::move(*text);
          if (tag || r->get("semver"))
            error(digest->key_mark, digest->path + ": an artifact is fetched at a tag, a semver range or a digest, "
                                                   "one of them; list it again to build from another");
        }
        // Flux's OCIRepository default: the tag "latest".
        if (other.oci() && other.tag.empty() && other.semver.empty() && other.digest.empty()) other.tag = "latest";
        if (const Entry* credentials = r->get("credentials")) {
          if (auto text = checked(*credentials, syntax::check_file_path)) other.credentials = std::move(*text);
          if (other_scheme == "http")
            error(credentials->mark(), credentials->path +
                                           ": credentials would travel unencrypted over http://; use an https:// URL");
        }
        out.repositories.push_back(std::move(other));
      }
    }
    if (!f->get("flux") && !f->get("argocd"))
      error(repositories->key_mark, repositories->path + ": only Flux and Argo CD builds read other repositories, "
                                                         "so it needs flux or argocd in the same source");
  }
  if (const Entry* paths = f->get("paths")) {
    if (auto items = strings(*paths)) {
      std::vector<std::string> valid;
      for (auto& item : *items) {
        if (auto status = syntax::check_repo_path(item.text); !status)
          error(item.mark, item.path + ": " + status.error());
        else
          valid.push_back(std::move(item.text));
      }
      if (items->empty())
        error(paths->mark(), paths->path + ": empty list (use ['.'] for the whole repository)");
      if (!valid.empty()) out.paths = std::move(valid);
    }
  }
  const Entry* interval = f->get("interval");
  if (interval) {
    if (auto d = duration(*interval, kMinInterval)) out.interval = *d;
  }
  if (const Entry* timeout = f->get("fetchTimeout")) {
    if (auto d = duration(*timeout, 1ms)) out.fetch_timeout = *d;
  }
  const Entry* staleness = f->get("maxStaleness");
  bool staleness_ok = false;
  if (staleness) {
    if (auto d = duration(*staleness, 0us)) {
      out.max_staleness = *d;
      staleness_ok = true;
    }
  }
  if (staleness_ok && out.max_staleness.count() != 0 && out.max_staleness <= out.interval)
    error(staleness->mark(), staleness->path + ": " + format_duration(out.max_staleness) +
                                 " must be 0 (never stale) or longer than interval (" +
                                 format_duration(out.interval) +
                                 "), or readiness would flap between fetches");
  if (const Entry* render = f->get("render")) {
    if (auto r = choice(*render, kRenders)) out.render = *r;
  }
  if (const Entry* command = f->get("kustomizeCommand")) {
    if (auto argv = this->command(*command, "[kubectl, kustomize]")) out.kustomize_command = std::move(*argv);
  }
  if (const Entry* timeout = f->get("renderTimeout")) {
    if (auto d = duration(*timeout, 1ms)) out.render_timeout = *d;
  }
  if (const Entry* ns = f->get("defaultNamespace")) {
    if (auto text = checked(*ns, syntax::check_namespace_name)) out.default_namespace = std::move(*text);
  }
  for (auto [name, target] :
       {std::pair{"credentials", &out.credentials}, {"allowedSigners", &out.allowed_signers}}) {
    if (const Entry* path = f->get(name)) {
      if (auto text = checked(*path, syntax::check_file_path)) *target = std::move(*text);
    }
  }
  if (const Entry* signed_entry = f->get("requireSignedCommits")) {
    if (auto b = boolean(*signed_entry)) {
      out.require_signed_commits = *b;
      if (*b && out.allowed_signers.empty())
        error(signed_entry->mark(), signed_entry->path +
                                        ": requires allowedSigners (an OpenSSH allowed_signers file to check "
                                        "signatures against)");
    }
  }
  if (const Entry* window = f->get("window")) {
    if (auto n = integer(*window)) {
      if (*n < 1 || *n > kMaxWindow)
        error(window->mark(),
              window->path + ": " + std::to_string(*n) + " is out of range (1 to 50 snapshots)");
      else
        out.window = static_cast<int>(*n);
    }
  }
  if (const Entry* size = f->get("maxFileSize")) {
    if (auto text = string(*size)) {
      auto bytes = syntax::parse_byte_size(*text);
      if (!bytes)
        error(size->mark(), size->path + ": " + bytes.error());
      else if (*bytes == 0 || *bytes > kMaxFileSizeLimit)
        error(size->mark(), size->path + ": " + quote(*text) + " is out of range (1 byte to 64Mi)");
      else
        out.max_file_bytes = *bytes;
    }
  }
  if (const Entry* substitute = f->get("substitute")) {
    if (!substitute->value.IsMap()) {
      error(substitute->mark(),
            substitute->path + ": expected a map of variable names to values" + got(substitute->value));
    } else if (auto vars = entries(*substitute)) {
      for (const auto& [name, entry] : vars->all()) {
        if (auto status = syntax::check_substitute_name(name); !status) {
          error(entry.key_mark, substitute->path + ": " + status.error());
          continue;
        }
        // Values may be sensitive: messages name the variable, never the value.
        if (!entry.value.IsScalar())
          error(entry.mark(), entry.path + ": expected a string value");
        else if (entry.value.Scalar().size() > syntax::kMaxStringLength)
          error(entry.mark(), entry.path + ": value longer than 4096 characters");
        else
          out.substitute[name] = entry.value.Scalar();
      }
    }
  }
  if (const Entry* web = f->get("webURL")) {
    if (auto text = string(*web)) {
      // An empty template turns links off, e.g. for a host whose web UI the people denied cannot reach.
      if (text->empty()) {
        out.web_url.clear();
      } else if (auto status = check_web_url_template(*text); !status) {
        error(web->mark(), web->path + ": " + status.error());
      } else {
        out.web_url = *text;
      }
    }
  } else {
    // A file:// or mirror URL has no web UI people know; the host Flux or Argo CD reads from may.
    out.web_url = derive_web_url_template(out.url);
    for (size_t i = 0; out.web_url.empty() && i < out.known_as.size(); ++i)
      out.web_url = derive_web_url_template(out.known_as[i]);
  }
  if (const Entry* flux = f->get("flux")) {
    if (auto ff = map(*flux, kFluxFields, "a map with path, namespace and caFile")) {
      FluxSpec spec;
      if (const Entry* path = ff->get("path")) {
        if (auto text = checked(*path, syntax::check_repo_path)) spec.path = std::move(*text);
      } else {
        error(flux->where(), flux->path + ": missing required field 'path' (the directory Flux's bootstrap "
                                          "Kustomization points at, e.g. clusters/production)");
      }
      if (const Entry* ns = ff->get("namespace")) {
        if (auto text = checked(*ns, syntax::check_namespace_name)) spec.ns = std::move(*text);
      }
      if (const Entry* ca = ff->get("caFile")) {
        if (auto text = checked(*ca, syntax::check_file_path)) spec.ca_file = std::move(*text);
      }
      out.flux = std::move(spec);
      if (const Entry* paths = f->get("paths"))
        error(paths->key_mark, paths->path + ": a source follows either plain paths or flux, not both (flux "
                                             "finds what to build from flux.path)");
      if (out.render == Render::Kustomize)
        error(f->get("render")->mark(), e.path + ".render: flux builds as Flux does; leave render out");
    }
  }
  if (const Entry* argocd = f->get("argocd")) {
    if (auto af = map(*argocd, kArgoFields,
                       "a map with path, namespace, tracking, caFile, plainHTTPRegistries, destinations and "
                       "rootApplication")) {
      ArgoSpec spec;
      if (const Entry* path = af->get("path")) {
        if (auto text = checked(*path, syntax::check_repo_path)) spec.path = std::move(*text);
      } else {
        error(argocd->where(), argocd->path + ": missing required field 'path' (the directory holding the root "
                                              "Application(s), e.g. argocd/apps)");
      }
      if (const Entry* ns = af->get("namespace")) {
        if (auto text = checked(*ns, syntax::check_namespace_name)) spec.ns = std::move(*text);
      }
      if (const Entry* root = af->get("rootApplication")) {
        if (auto text = checked(*root, syntax::check_application_name)) spec.root_application = std::move(*text);
      }
      if (const Entry* tracking = af->get("tracking")) {
        if (auto text = string(*tracking)) {
          auto known = std::find_if(kTrackings.begin(), kTrackings.end(),
                                    [&](const auto& t) { return t.first == *text; });
          if (known == kTrackings.end())
            error(tracking->mark(), tracking->path + ": '" + *text +
                                        "' is not a tracking method; use label, annotation or annotation+label, "
                                        "as Argo CD's application.resourceTrackingMethod says");
          else
            spec.tracking = known->second;
        }
      }
      if (const Entry* ca = af->get("caFile")) {
        if (auto text = checked(*ca, syntax::check_file_path)) spec.ca_file = std::move(*text);
      }
      if (const Entry* registries = af->get("plainHTTPRegistries")) {
        if (auto items = strings(*registries)) {
          for (auto& item : *items) {
            bool host = !item.text.empty() && item.text.size() <= 253 &&
                        std::all_of(item.text.begin(), item.text.end(), [](char c) {
                          return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':';
                        });
            if (!host)
              error(item.mark, item.path + ": '" + item.text + "' is not a registry host[:port] (e.g. registry.local:5000)");
            else
              spec.plain_http_registries.push_back(std::move(item.text));
          }
        }
      }
      if (const Entry* destinations = af->get("destinations")) {
        if (auto items = strings(*destinations)) {
          spec.destinations.clear();
          for (auto& item : *items) {
            if (item.text.empty() || item.text.size() > 253)
              error(item.mark, item.path + ": a destination is an Application's destination.server URL or "
                                           "destination.name, 1 to 253 characters");
            else
              spec.destinations.push_back(std::move(item.text));
          }
          if (items->empty())
            error(destinations->mark(), destinations->path +
                                            ": empty list; name this cluster as Applications do (the default "
                                            "is [https://kubernetes.default.svc, in-cluster])");
        }
      }
      out.argocd = std::move(spec);
      if (const Entry* paths = f->get("paths"))
        error(paths->key_mark, paths->path + ": a source follows either plain paths or argocd, not both (argocd "
                                             "finds what to build from argocd.path)");
      if (out.render == Render::Kustomize)
        error(f->get("render")->mark(), e.path + ".render: argocd builds as Argo CD does; leave render out");
      if (f->get("flux"))
        error(argocd->key_mark, argocd->path + ": a source follows either flux or argocd, not both; write one "
                                               "policy per GitOps agent");
    }
  }
  if (const Entry* command = f->get("helmCommand")) {
    if (auto argv = this->command(*command, "[helm]")) out.helm_command = std::move(*argv);
  }
  if (const Entry* version = f->get("kubeVersion")) {
    if (auto text = checked(*version, syntax::check_kube_version)) out.kube_version = std::move(*text);
  }
  if (const Entry* versions = f->get("apiVersions")) {
    if (auto items = strings(*versions)) {
      if (items->size() > 2000) error(versions->mark(), versions->path + ": more than 2000 API versions");
      for (auto& item : *items) {
        if (auto status = syntax::check_api_version(item.text); !status)
          error(item.mark, item.path + ": " + status.error());
        else if (out.api_versions.size() < 2000)
          out.api_versions.push_back(std::move(item.text));
      }
    }
  }
  for (const char* name : {"kubeVersion", "apiVersions"}) {
    const Entry* entry = f->get(name);
    if (entry && !f->get("flux") && !f->get("argocd"))
      error(entry->key_mark, entry->path + ": only helm renders use it, so it needs flux or argocd in the same "
                                           "source");
  }
  if (scheme == "http" && !out.credentials.empty()) {
    const Entry* credentials = f->get("credentials");
    error(credentials->mark(),
          credentials->path + ": credentials would travel unencrypted over http://; use an https:// URL");
  }
}

void Decoder::scope(const Entry& e, Scope& out) {
  auto f = map(e, kScopeFields);
  if (!f) return;
  size_t errors_before = errors_.size();
  if (const Entry* namespaces = f->get("namespaces")) {
    if (auto n = map(*namespaces, kNamespaceFields, "a map with 'include' and 'exclude' lists")) {
      if (const Entry* include = n->get("include"))
        out.include = plain(patterns(*include, Subject::Namespace));
      if (const Entry* exclude = n->get("exclude"))
        out.exclude = plain(patterns(*exclude, Subject::Namespace));
    }
  }
  if (const Entry* cluster = f->get("clusterScoped")) {
    if (auto b = boolean(*cluster)) out.cluster_scoped = *b;
  } else {
    out.cluster_scoped = std::any_of(out.include.begin(), out.include.end(),
                                     [](const Pattern& p) { return p.matches_everything(); });
  }
  if (const Entry* kinds = f->get("kinds")) {
    if (auto items = strings(*kinds)) {
      for (const auto& item : *items) {
        auto kind = parse_kind_pattern(item.text);
        if (!kind)
          error(item.mark, item.path + ": " + kind.error());
        else
          out.kinds.push_back(std::move(*kind));
      }
    }
  }
  if (errors_.size() == errors_before && out.include.empty() && !out.cluster_scoped)
    error(e.where(), e.path + ": governs nothing (namespaces.include is empty and clusterScoped is false)");
}

IdentityClass Decoder::identities(const Fields& f, std::string label) {
  IdentityClass c{std::move(label), {}, {}};
  if (const Entry* users = f.get("users")) c.users = patterns(*users, Subject::User);
  if (const Entry* groups = f.get("groups")) c.groups = patterns(*groups, Subject::Group);
  return c;
}

void Decoder::agents(const Entry& e, Policy& out, std::vector<IdentityClass>& classes) {
  auto items = list(e, "a list of agents");
  if (!items) return;
  std::vector<std::pair<std::string, YAML::Mark>> names;
  for (const Entry& item : *items) {
    auto f = map(item, kAgentFields, "an agent (a map with name, users, groups, mustMatchGit)");
    if (!f) continue;
    Agent agent;
    const Entry* name = f->get("name");
    if (name == nullptr) {
      error(item.where(), item.path + ": missing required field 'name'");
    } else if (auto text = string(*name)) {
      auto first = std::find_if(names.begin(), names.end(), [&](const auto& n) { return n.first == *text; });
      if (auto status = syntax::check_agent_name(*text); !status) {
        error(name->mark(), name->path + ": " + status.error());
      } else if (first != names.end()) {
        error(name->mark(), name->path + ": duplicate agent name " + quote(*text) + " (first at line " +
                                std::to_string(one_based(first->second.line)) + ")");
      } else {
        names.emplace_back(*text, name->mark());
        agent.name = *text;
      }
    }
    if (const Entry* must = f->get("mustMatchGit")) {
      if (auto b = boolean(*must)) agent.must_match_git = *b;
    }
    size_t errors_before = errors_.size();
    IdentityClass c = identities(*f, "agent " + quote(agent.name.empty() ? item.path : agent.name));
    if (c.users.empty() && c.groups.empty() && errors_.size() == errors_before)
      error(item.where(), item.path + ": lists no users or groups, so it matches nobody");
    agent.identities.users = plain(c.users);
    agent.identities.groups = plain(c.groups);
    classes.push_back(std::move(c));
    out.agents.push_back(std::move(agent));
  }
}

// `controllers` is a map (one set of identities, today's form) or a list of named entries, each with the
// paths its identities may change on declared objects.
void Decoder::controllers(const Entry* e, Policy& out, std::vector<IdentityClass>& classes) {
  IdentityClass listed{"controllers", {}, {}};
  bool include_defaults = true;
  if (e != nullptr && e->value.IsSequence()) {
    if (auto items = list(*e, "a list of controllers")) {
      for (const Entry& item : *items) {
        auto f =
            map(item, kControllerItemFields, "a controller (a map with name, users, groups, kinds, paths)");
        if (!f) continue;
        std::string name = item.path;
        if (const Entry* n = f->get("name")) {
          if (auto text = string(*n)) {
            if (auto status = syntax::check_agent_name(*text); !status)
              error(n->mark(), n->path + ": " + status.error());
            else
              name = *text;
          }
        }
        size_t errors_before = errors_.size();
        IdentityClass c = identities(*f, "controllers");
        if (c.users.empty() && c.groups.empty() && errors_.size() == errors_before)
          error(item.where(), item.path + ": lists no users or groups, so it matches nobody");
        grant(*f, name, c, out);
        for (auto& p : c.users) listed.users.push_back(std::move(p));
        for (auto& p : c.groups) listed.groups.push_back(std::move(p));
      }
    }
  } else if (e != nullptr) {
    if (auto f = map(*e, kControllerFields,
                     "a map (users, groups, includeDefaults, kinds, paths) or a list of controllers")) {
      listed = identities(*f, "controllers");
      if (const Entry* defaults = f->get("includeDefaults")) {
        if (auto b = boolean(*defaults)) include_defaults = *b;
      }
      grant(*f, "controllers", listed, out);
    }
  }
  IdentityClass c{"controllers", {}, {}};
  auto add = [](std::vector<LocatedPattern>& to, LocatedPattern p) {
    bool seen = std::any_of(to.begin(), to.end(),
                            [&](const LocatedPattern& q) { return q.pattern.text() == p.pattern.text(); });
    if (!seen) to.push_back(std::move(p));
  };
  if (include_defaults) {
    IdentityClass defaults{"controllers", {}, {}};
    for (auto user : kDefaultControllerUsers)
      add(defaults.users, LocatedPattern{Pattern(std::string(user)), YAML::Mark::null_mark(), "", true});
    for (auto group : kDefaultControllerGroups)
      add(defaults.groups, LocatedPattern{Pattern(std::string(group)), YAML::Mark::null_mark(), "", true});
    for (const auto& g : kDefaultControllerGrants) {
      ControllerGrant built_in{"defaults", {plain(defaults.users), plain(defaults.groups)}, {}, {}};
      built_in.kinds.push_back(*parse_kind_pattern(g.kind));
      for (auto path : g.paths)
        if (!path.empty()) built_in.paths.push_back(*parse_path_pattern(path));
      out.controller_grants.push_back(std::move(built_in));
    }
    for (auto& p : defaults.users) add(c.users, std::move(p));
    for (auto& p : defaults.groups) add(c.groups, std::move(p));
  }
  for (auto& p : listed.users) add(c.users, std::move(p));
  for (auto& p : listed.groups) add(c.groups, std::move(p));
  out.controllers.users = plain(c.users);
  out.controllers.groups = plain(c.groups);
  classes.push_back(std::move(c));
}

void Decoder::grant(const Fields& f, std::string name, const IdentityClass& identities, Policy& out) {
  ControllerGrant g{std::move(name), {plain(identities.users), plain(identities.groups)}, {}, {}};
  if (const Entry* kinds = f.get("kinds")) {
    if (auto texts = strings(*kinds)) {
      for (const auto& text : *texts) {
        auto kind = parse_kind_pattern(text.text);
        if (!kind)
          error(text.mark, text.path + ": " + kind.error());
        else
          g.kinds.push_back(std::move(*kind));
      }
    }
  }
  if (const Entry* paths = f.get("paths")) {
    if (auto texts = strings(*paths)) {
      for (const auto& text : *texts) {
        auto path = parse_path_pattern(text.text);
        if (!path)
          error(text.mark, text.path + ": " + path.error());
        else
          g.paths.push_back(std::move(*path));
      }
    }
  }
  if (!g.paths.empty()) out.controller_grants.push_back(std::move(g));
}

void Decoder::ignore(const Entry& e, Policy& out) {
  auto items = list(e, "a list of ignore rules");
  if (!items) return;
  for (const Entry& item : *items) {
    auto f = map(item, kIgnoreFields, "an ignore rule (a map with kinds and paths)");
    if (!f) continue;
    IgnoreRule rule;
    if (const Entry* kinds = f->get("kinds")) {
      if (auto texts = strings(*kinds)) {
        for (const auto& text : *texts) {
          auto kind = parse_kind_pattern(text.text);
          if (!kind)
            error(text.mark, text.path + ": " + kind.error());
          else
            rule.kinds.push_back(std::move(*kind));
        }
      }
    }
    const Entry* paths = f->get("paths");
    if (paths == nullptr) {
      error(item.where(), item.path + ": missing required field 'paths'");
    } else if (auto texts = strings(*paths)) {
      if (texts->empty()) error(paths->mark(), paths->path + ": empty list (name at least one path)");
      for (const auto& text : *texts) {
        auto path = parse_path_pattern(text.text);
        if (!path)
          error(text.mark, text.path + ": " + path.error());
        else
          rule.paths.push_back(std::move(*path));
      }
    }
    if (!rule.paths.empty()) out.ignore.push_back(std::move(rule));
  }
}

void Decoder::ownership(const Entry* e, Policy& out) {
  std::optional<Fields> f;
  if (e != nullptr) f = map(*e, kOwnershipFields);
  const Entry* labels = f ? f->get("labels") : nullptr;
  const Entry* annotations = f ? f->get("annotations") : nullptr;
  // With an argocd source, Argo CD's tracking is known: exactly its key marks ownership. Otherwise the label
  // counts when an agent is Argo CD's application controller. Either way the engine counts Argo CD's keys only
  // in Argo CD's value shape, naming an Application that Git declares.
  const auto& argo_source = out.source.argocd;
  bool argo_label = argo_source && argo_source->tracking != ArgoTracking::Annotation;
  bool argo_annotation = !argo_source || argo_source->tracking != ArgoTracking::Label;
  if (!argo_source) {
    Pattern argo("*" + std::string(kArgoController) + "*");
    argo_label = std::any_of(out.agents.begin(), out.agents.end(), [&](const Agent& a) {
      return std::any_of(a.identities.users.begin(), a.identities.users.end(),
                         [&](const Pattern& u) { return argo.matches(u.text()); });
    });
  }
  if (labels != nullptr) {
    out.ownership.labels = plain(patterns(*labels, Subject::LabelKey));
  } else {
    for (auto label : kDefaultOwnershipLabels) out.ownership.labels.emplace_back(std::string(label));
    if (argo_label) out.ownership.labels.emplace_back(std::string(kArgoInstanceLabel));
  }
  if (annotations != nullptr) {
    out.ownership.annotations = plain(patterns(*annotations, Subject::LabelKey));
  } else if (argo_annotation) {
    for (auto annotation : kDefaultOwnershipAnnotations)
      out.ownership.annotations.emplace_back(std::string(annotation));
  }
}

// The defaults are always governed; the policy's list adds to them (an `ignore` path frees one key).
// The keys by which GitOps tools track what they own are governed too (removing one detaches an object).
void Decoder::governed_metadata(const Entry* e, Policy& out) {
  auto add = [&](Pattern p) {
    bool seen = std::any_of(out.governed_metadata.begin(), out.governed_metadata.end(),
                            [&](const Pattern& q) { return q.text() == p.text(); });
    if (!seen) out.governed_metadata.push_back(std::move(p));
  };
  for (auto key : kDefaultGovernedMetadata) add(Pattern(std::string(key)));
  for (const auto& p : out.ownership.labels) add(p);
  for (const auto& p : out.ownership.annotations) add(p);
  if (e == nullptr) return;
  for (auto& p : patterns(*e, Subject::LabelKey)) add(std::move(p.pattern));
}

// An identity in two classes (two agents, an agent and a controller, ...) would make the decision depend on
// the order of checks; the policy must say which one it is.
void Decoder::check_ambiguity(const std::vector<IdentityClass>& classes, const YAML::Mark& at) {
  uint64_t budget = kIdentityCheckBudget;
  auto describe = [](const IdentityClass& c, const LocatedPattern& p, std::string_view dimension) {
    if (p.is_default)
      return "the default controller " + std::string(dimension) + " " + quote(p.pattern.text()) +
             " (spec.controllers.includeDefaults: false drops the defaults)";
    return c.label + " " + std::string(dimension) + " " + quote(p.pattern.text()) + " (" + p.path +
           ", line " + std::to_string(one_based(p.mark.line)) + ")";
  };
  auto compare = [&](const IdentityClass& a, const std::vector<LocatedPattern>& as, const IdentityClass& b,
                     const std::vector<LocatedPattern>& bs, std::string_view dimension) {
    for (const auto& p : as) {
      for (const auto& q : bs) {
        auto overlap = syntax::intersects(p.pattern, q.pattern, budget);
        if (!overlap) return false;
        if (!*overlap) continue;
        // Shown at the later of the two, which is where the second class was written.
        const auto& [here, here_class, there, there_class] =
            q.is_default ? std::tie(p, a, q, b) : std::tie(q, b, p, a);
        error(here.mark,
              here.path + ": " + quote(here.pattern.text()) + " overlaps " +
                  describe(there_class, there, dimension) +
                  "; an identity must belong to one class only (an agent, controllers or breakGlass)");
      }
    }
    return true;
  };
  for (size_t i = 0; i < classes.size(); ++i) {
    for (size_t j = i + 1; j < classes.size(); ++j) {
      if (!compare(classes[i], classes[i].users, classes[j], classes[j].users, "user") ||
          !compare(classes[i], classes[i].groups, classes[j], classes[j].groups, "group")) {
        error(at, "spec: too many identity patterns to check for ambiguity; use fewer, broader patterns");
        return;
      }
    }
  }
}

// A pass over the parser's events before any node is built. yaml-cpp 0.7's LoadAll loops forever,
// allocating, on a stray ',' where a document should start (jbeder/yaml-cpp#1040, fixed upstream in 2024):
// such a document starts where the previous one did. The pass also bounds nesting and the number of nodes
// before yaml-cpp allocates them (about 500 bytes each).
class Prescan final : public YAML::EventHandler {
 public:
  struct Stop {
    YAML::Mark mark;
    std::string message;
  };

  // The first problem found, or nullopt. yaml-cpp's own exceptions pass through.
  static std::optional<Stop> run(const std::string& text) {
    std::istringstream in(text);
    YAML::Parser parser(in);
    Prescan prescan;
    std::optional<YAML::Mark> previous;
    try {
      while (parser.HandleNextDocument(prescan)) {
        if (previous && previous->pos == prescan.document_start_.pos)
          return Stop{prescan.document_start_,
                      "YAML syntax error: unexpected content where a document should start"};
        previous = prescan.document_start_;
      }
    } catch (const Stop& stop) {
      return stop;
    }
    return std::nullopt;
  }

  void OnDocumentStart(const YAML::Mark& mark) override {
    document_start_ = mark;
    depth_ = 0;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t, const std::string&) override {
    node(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    open(mark);
  }
  void OnSequenceEnd() override { --depth_; }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    open(mark);
  }
  void OnMapEnd() override { --depth_; }

 private:
  void node(const YAML::Mark& mark) {
    if (++nodes_ > kMaxYamlNodes)
      throw Stop{mark, "more than " + std::to_string(kMaxYamlNodes) + " YAML nodes in one file; split it"};
  }
  void open(const YAML::Mark& mark) {
    node(mark);
    if (++depth_ > kMaxYamlDepth)
      throw Stop{mark, "YAML nesting deeper than " + std::to_string(kMaxYamlDepth) + " levels"};
  }

  YAML::Mark document_start_;
  size_t depth_ = 0;
  size_t nodes_ = 0;
};

}  // namespace

void decode_policy_file(std::string_view file, std::string_view text, std::vector<DecodedPolicy>& policies,
                        std::vector<Diagnostic>& errors) {
  auto fail = [&](const YAML::Mark& at, std::string message) {
    errors.push_back(
        Diagnostic{std::string(file), one_based(at.line), one_based(at.column), std::move(message)});
  };
  if (text.size() > kMaxPolicyFileBytes) {
    errors.push_back(Diagnostic{std::string(file), 0, 0, "file is larger than 1 MiB; split it"});
    return;
  }
  std::vector<YAML::Node> documents;
  try {
    std::string copy(text);
    if (auto stop = Prescan::run(copy)) {
      fail(stop->mark, std::move(stop->message));
      return;
    }
    documents = YAML::LoadAll(copy);
  } catch (const YAML::DeepRecursion& e) {
    fail(e.mark, "YAML nesting is too deep");
    return;
  } catch (const YAML::Exception& e) {
    fail(e.mark, "YAML syntax error: " + e.msg);
    return;
  } catch (const std::exception& e) {
    errors.push_back(Diagnostic{std::string(file), 0, 0, std::string("cannot parse YAML: ") + e.what()});
    return;
  }
  for (const auto& document : documents) {
    if (document.IsNull()) continue;  // an empty document: a stray '---' or only comments
    try {
      Decoder decoder(file, errors);
      if (auto policy = decoder.document(document)) policies.push_back(std::move(*policy));
    } catch (const std::exception& e) {
      fail(document.Mark(), std::string("cannot read this document: ") + e.what());
    }
  }
}

}  // namespace gitgate::policies::detail
