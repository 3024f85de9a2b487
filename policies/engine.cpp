#include "policies/engine.h"

#include <ctime>
#include <string>
#include <vector>

#include "core/argocd_tracking.h"
#include "core/provenance.h"
#include "policies/compare.h"
#include "policies/source_link.h"

namespace gitgate::policies {
namespace {

using simdjson::dom::element_type;
using simdjson::dom::object;

constexpr size_t kMaxMessageBytes = 1024;
constexpr size_t kMaxWarningBytes = 256;
constexpr size_t kMaxRecordedPaths = 50;
constexpr size_t kShownDifferences = 3;

std::string truncate_utf8(std::string text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t cut = max_bytes - 3;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  text.resize(cut);
  text += "\xE2\x80\xA6";
  return text;
}

bool identities_match(const Identities& ids, const UserInfo& user) {
  if (matches_any(ids.users, user.username)) return true;
  if (ids.groups.empty() || !user.groups) return false;
  for (auto g : *user.groups) {
    std::string_view group;
    if (!g.get(group) && matches_any(ids.groups, group)) return true;
  }
  return false;
}

std::optional<element> member(element e, std::string_view key) {
  element v;
  if (e.type() != element_type::OBJECT || object(e)[key].get(v)) return std::nullopt;
  return v;
}

std::optional<element> member(std::optional<element> e, std::string_view key) {
  return e ? member(*e, key) : std::nullopt;
}

// What a request is about once subresources are mapped: `/scale` acts on the parent's spec.replicas.
struct Target {
  std::string_view group;
  std::string_view kind;
  std::string_view ns;
  std::string_view name;
  bool scale = false;
};

// A controller ownerReference: the object belongs to that controller (same namespace).
struct Owner {
  std::string_view api_version;
  std::string_view kind;
  std::string_view name;
};

std::optional<Owner> controller_owner(std::optional<element> object) {
  auto owners = member(member(object, "metadata"), "ownerReferences");
  if (!owners || owners->type() != element_type::ARRAY) return std::nullopt;
  for (element ref : simdjson::dom::array(*owners)) {
    auto controller = member(ref, "controller");
    bool is_controller = false;
    if (!controller || controller->get(is_controller) || !is_controller) continue;
    Owner owner;
    auto text = [&](std::string_view key, std::string_view& out) {
      auto v = member(ref, key);
      return v && !v->get(out);
    };
    if (text("apiVersion", owner.api_version) && text("kind", owner.kind) && text("name", owner.name))
      return owner;
  }
  return std::nullopt;
}

// The Deployment that a ReplicaSet name "<deployment>-<pod-template-hash>" belongs to: the hash is what the
// deployment controller appends (Kubernetes' SafeEncodeString alphabet, up to 10 characters).
std::optional<std::string_view> deployment_of_replicaset(std::string_view name) {
  auto dash = name.rfind('-');
  if (dash == std::string_view::npos || dash == 0) return std::nullopt;
  std::string_view hash = name.substr(dash + 1);
  if (hash.empty() || hash.size() > 10) return std::nullopt;
  for (char c : hash)
    if (std::string_view("bcdfghjklmnpqrstvwxz2456789").find(c) == std::string_view::npos)
      return std::nullopt;
  return name.substr(0, dash);
}

bool under(const ObjectPath& path, std::string_view first, std::string_view second) {
  return path.size() >= 2 && !path[0].is_item && path[0].key == first && !path[1].is_item &&
         path[1].key == second;
}

std::optional<Target> scale_parent(const AdmissionRequest& r) {
  struct Parent {
    std::string_view group, resource, kind;
  };
  static constexpr Parent kParents[] = {{"apps", "deployments", "Deployment"},
                                        {"apps", "statefulsets", "StatefulSet"},
                                        {"apps", "replicasets", "ReplicaSet"},
                                        {"", "replicationcontrollers", "ReplicationController"}};
  for (const auto& p : kParents)
    if (r.resource.group == p.group && r.resource.resource == p.resource)
      return Target{p.group, p.kind, r.ns, r.name, true};
  return std::nullopt;
}

std::string_view object_name(const AdmissionRequest& r) {
  if (!r.name.empty()) return r.name;
  auto source = r.object ? r.object : r.old_object;
  auto metadata = member(source, "metadata");
  if (!metadata) return {};
  auto name = member(*metadata, "name");
  std::string_view out;
  if (name && !name->get(out)) return out;
  return {};
}

std::string describe(const Target& t) {
  std::string out(t.kind);
  out += ' ';
  if (!t.ns.empty()) out.append(t.ns).append("/");
  out.append(t.name.empty() ? std::string_view("(unnamed)") : t.name);
  return out;
}


class Evaluation {
 public:
  Evaluation(const AdmissionRequest& request, const Policy& policy, const SnapshotWindow* window,
             Scratch& scratch, Target target, std::string state_reason)
      : req_(request),
        policy_(policy),
        window_(window),
        scratch_(scratch),
        target_(target),
        state_reason_(std::move(state_reason)) {
    d_.policy = policy.name;
    d_.mode = policy.mode;
    d_.dry_run = request.dry_run;
    for (const auto& rule : policy.ignore) {
      if (applies(rule.kinds))
        for (const auto& p : rule.paths) ignored_.push_back(&p);
    }
  }

  Decision run() {
    const Agent* agent = nullptr;
    Identity identity = classify(agent);
    d_.identity = identity;
    if (agent != nullptr) d_.agent = agent->name;
    if (identity == Identity::Controller) {
      for (const auto& grant : policy_.controller_grants) {
        if (applies(grant.kinds) && identities_match(grant.identities, req_.user))
          for (const auto& p : grant.paths) granted_.push_back(&p);
      }
    }

    if (window_ == nullptr || window_->current() == nullptr) {
      if (identity == Identity::BreakGlass) return break_glass();
      std::string why = state_reason_.empty() ? std::string() : " (" + state_reason_.substr(0, 400) + ")";
      violate(reason::kNoSnapshot, "gitgate: the Git state for policy " + policy_.name + " (" +
                                       policy_.source.url + " " + policy_.source.branch + ") is not loaded yet" +
                                       why + ", so nothing can be checked; retry in a moment.");
      return finish();
    }
    const Snapshot& current = *window_->current();
    lookup_ = current.find({target_.group, target_.kind, target_.ns, target_.name});
    if (!lookup_.declared() && req_.operation == Operation::Create && !target_.scale) {
      // Created from generateName: compared with what Git declares under that generateName (a hook).
      std::string_view generate_name;
      auto field = member(member(req_.object, "metadata"), "generateName");
      if (field && !field->get(generate_name) && !generate_name.empty()) {
        auto templated = current.find({target_.group, target_.kind, target_.ns, std::string(generate_name) + "*"});
        if (templated.declared()) {
          lookup_name_ = std::string(generate_name) + "*";
          lookup_ = templated;
        }
      }
    }
    d_.snapshot_commit = current.commit_ptr();
    if (lookup_.declared()) {
      d_.declared = std::shared_ptr<const DeclaredObject>(window_->snapshots.front(), lookup_.object);
    } else {
      declare_unbuilt();
    }
    if (identity == Identity::Person && current.is_applier(req_.user.username)) {
      // An identity that applies some of Git's builds (a Kustomization's or HelmRelease's service account):
      // an agent that must match Git.
      identity = d_.identity = Identity::Agent;
      d_.agent = std::string(req_.user.username);
    }

    switch (identity) {
      case Identity::BreakGlass:
        return break_glass();
      case Identity::Agent: {
        const auto* built = lookup_.declared() ? lookup_.object->built_by().get() : nullptr;
        if (built != nullptr && !built->applier.empty()) {
          // Flux's graph says who applies this object; only that identity, and only what Git builds.
          if (req_.user.username != built->applier) {
            not_the_applier(*built);
          } else {
            agent_rules();
          }
        } else if (agent == nullptr || agent->must_match_git) {
          agent_rules();
        } else {
          entrusted_agent_rules();
        }
        break;
      }
      case Identity::Controller:
        controller_rules();
        break;
      default:
        person_rules();
        break;
    }
    return finish();
  }

 private:
  enum class Who { Person, Controller };

  bool applies(const std::vector<KindPattern>& kinds) const {
    if (kinds.empty()) return true;
    for (const auto& k : kinds)
      if (k.matches(target_.group, target_.kind)) return true;
    return false;
  }

  Identity classify(const Agent*& agent) const {
    if (identities_match(policy_.break_glass, req_.user)) return Identity::BreakGlass;
    for (const auto& a : policy_.agents) {
      if (identities_match(a.identities, req_.user)) {
        agent = &a;
        return Identity::Agent;
      }
    }
    if (identities_match(policy_.controllers, req_.user)) return Identity::Controller;
    return Identity::Person;
  }

  void allow(const char* reason_code) {
    d_.allowed = true;
    d_.reason = reason_code;
  }

  void violate(const char* reason_code, std::string message) {
    d_.allowed = false;
    d_.violation = true;
    d_.reason = reason_code;
    d_.message = truncate_utf8(std::move(message), kMaxMessageBytes);
  }

  Decision finish() {
    if (!d_.allowed && d_.mode != Mode::Enforce) {
      d_.allowed = true;
      d_.sync_wanted = false;
      if (d_.mode == Mode::Warn) d_.warnings.push_back(truncate_utf8(d_.message, kMaxWarningBytes));
    }
    return std::move(d_);
  }

  Decision break_glass() {
    if (window_ != nullptr && window_->current() != nullptr) person_rules();
    std::string what = d_.violation ? d_.message.substr(d_.message.rfind("gitgate: ", 0) == 0 ? 9 : 0)
                                    : std::string("No rule was broken.");
    d_.allowed = true;
    d_.sync_wanted = false;
    d_.reason = reason::kBreakGlass;
    d_.warnings.push_back(truncate_utf8("gitgate: break-glass access by " + std::string(req_.user.username) +
                                            " is recorded in the audit log. " + what,
                                        kMaxWarningBytes));
    return std::move(d_);
  }

  std::string declared_intro() const { return declared_intro(*lookup_.object, target_); }

  std::string declared_intro(const DeclaredObject& decl, const Target& what) const {
    return "gitgate: " + describe(what) + " " + declared_where(decl, window_->current()->commit());
  }

  std::string provenance(const DeclaredObject& decl) const {
    return cite(decl.file(), decl.line(), decl.last_change().get(), window_->current()->commit());
  }

  // " (file:line @ …)" for an object written in Git as it is; ", where it is built by …" otherwise.
  std::string git_reference(const DeclaredObject& decl) const {
    if (!decl.built_by() && !decl.carried_from()) return " " + provenance(decl);
    std::string where = declared_where(decl, window_->current()->commit());
    if (where.ends_with(".")) where.pop_back();
    return ", where it " + where;
  }

  std::string conflict_text() const {
    std::string where = lookup_.object->file() + ":" + std::to_string(lookup_.object->line());
    for (const auto* o : lookup_.others) where += " and " + o->file() + ":" + std::to_string(o->line());
    return "gitgate: " + describe(target_) + " is declared more than once in Git (" + where + " @ " +
           std::string(window_->current()->commit().short_id()) +
           "), so neither is authoritative. Remove one in Git.";
  }

  bool is_secret() const { return target_.group.empty() && target_.kind == "Secret"; }

  std::string_view verb() const {
    if (target_.scale) return "scale";
    switch (req_.operation) {
      case Operation::Create:
        return "create";
      case Operation::Delete:
        return "delete";
      default:
        return "change";
    }
  }

  // An object that Flux's ownership labels or Argo CD's tracking (on the request, or on the object as it was)
  // tie to a HelmRelease, Kustomization or Application that could not be built: declared, with values gitgate
  // does not know.
  void declare_unbuilt() {
    for (auto source : {req_.object, req_.old_object}) {
      auto labels = member(member(source, "metadata"), "labels");
      if (!labels) continue;
      for (std::string_view prefix : {"helm.toolkit.fluxcd.io", "kustomize.toolkit.fluxcd.io"}) {
        std::string_view name, ns;
        auto n = member(*labels, std::string(prefix) + "/name");
        auto s = member(*labels, std::string(prefix) + "/namespace");
        if (!n || !s || n->get(name) || s->get(ns)) continue;
        const UnbuiltOwner* owner = window_->current()->find_unbuilt(prefix, ns, name);
        if (owner == nullptr) continue;
        declare_unknown(*owner);
        return;
      }
    }
    if (!policy_.source.argocd) return;
    // Argo CD's tracking, as the policy says Argo CD is configured, ties the object to an Application.
    const auto& argo = *policy_.source.argocd;
    for (auto source : {req_.object, req_.old_object}) {
      std::string instance;
      std::string_view value;
      if (argo.tracking != ArgoTracking::Annotation) {
        auto label = member(member(member(source, "metadata"), "labels"), argocd::kInstanceLabel);
        if (label && !label->get(value)) instance = std::string(value);
      }
      if (instance.empty() && argo.tracking != ArgoTracking::Label) {
        auto annotation = member(member(member(source, "metadata"), "annotations"), argocd::kTrackingAnnotation);
        if (annotation && !annotation->get(value)) instance = argocd::tracked_instance(value);
      }
      if (instance.empty()) continue;
      auto app = argocd::application_of_instance(instance, argo.ns);
      const UnbuiltOwner* owner = window_->current()->find_unbuilt("argoproj.io/Application", app.ns, app.name);
      if (owner == nullptr) continue;
      declare_unknown(*owner);
      return;
    }
  }

  void declare_unknown(const UnbuiltOwner& owner) {
    const ProvenanceLink* at = owner.build->chain.empty() ? nullptr : &owner.build->chain.front();
    auto declared = std::make_shared<DeclaredObject>(
        ObjectKey{std::string(target_.group), std::string(target_.kind), std::string(target_.ns),
                  std::string(target_.name)},
        "", "{}", at != nullptr ? at->file : std::string(), at != nullptr ? at->line : 0, 0);
    declared->set_built_by(owner.build);
    if (at != nullptr) declared->set_last_change(at->commit);
    unknown_ = declared;
    lookup_.object = unknown_.get();
    d_.declared = unknown_;
  }

  bool values_unknown() const {
    return lookup_.declared() && lookup_.object->built_by() && lookup_.object->built_by()->values_unknown;
  }

  void not_the_applier(const BuildProvenance& built) {
    violate(reason::kAgentNotApplier,
            declared_intro() + " It is applied by " + built.applier + ", not by " + std::string(req_.user.username) +
                ": each agent writes only what its own Kustomization or HelmRelease builds. Change it in Git instead.");
    d_.sync_wanted = true;  // a newer commit may have moved it to this agent
  }

  // --- agents -------------------------------------------------------------------------------------------
  // An agent whose output Git does not spell out (mustMatchGit: false) writes only what Git does not
  // declare: taking over a declared object (Helm adoption metadata, then a release) is not its mandate.
  void entrusted_agent_rules() {
    if (!lookup_.declared()) return allow(reason::kAgentUnchecked);
    violate(reason::kAgentDeclaredObject, declared_intro() + " Agent " + d_.agent +
                                              " (mustMatchGit: false) may not " + std::string(verb()) +
                                              " objects that Git declares; the agents that must match Git "
                                              "apply them. Change it in Git instead.");
    d_.sync_wanted = true;  // Git may have just handed the object over (removed it)
  }

  void agent_rules() {
    if (req_.operation == Operation::Delete) {
      allow(lookup_.declared() ? reason::kAgentDeleteDeclared : reason::kAgentDelete);
      return;
    }
    if (values_unknown()) return allow(reason::kValuesUnknown);  // nothing to compare with; audited as such
    if (target_.scale) {
      // An agent scaling through /scale: compare the replica count with Git.
      scale_rules(Who::Controller, /*agent=*/true);
      return;
    }
    CompareOptions options{ignored_, is_secret(), &policy_.source.substitute};
    std::vector<Difference> differences;
    bool unsigned_match = false;
    bool seen_anywhere = false;
    bool bound_hit = false;
    for (size_t i = 0; i < window_->snapshots.size(); ++i) {
      const Snapshot& snap = *window_->snapshots[i];
      auto hit = i == 0 ? lookup_
                        : snap.find({target_.group, target_.kind, target_.ns,
                                     lookup_name_.empty() ? target_.name : std::string_view(lookup_name_)});
      if (!hit.declared()) continue;
      seen_anywhere = true;
      if (hit.conflict()) {
        if (i == 0) {
          violate(reason::kDeclarationConflict, conflict_text());
          d_.sync_wanted = true;
          return;
        }
        continue;
      }
      element declared;
      if (hit.object->parse(scratch_.declared_parser).get(declared)) continue;
      bool first = i == 0;
      if (contains(declared, *req_.object, options, first ? &differences : nullptr, kShownDifferences,
                   first ? &bound_hit : nullptr)) {
        if (policy_.source.require_signed_commits && snap.commit().signature != SignatureStatus::Verified) {
          unsigned_match = true;
          continue;
        }
        allow(reason::kAgentMatchesGit);
        d_.snapshot_commit = snap.commit_ptr();
        d_.declared = std::shared_ptr<const DeclaredObject>(window_->snapshots[i], hit.object);
        return;
      }
    }
    if (!seen_anywhere) {
      if (helm_release_storage()) return allow(reason::kAgentReleaseStorage);
      if (req_.operation == Operation::Create) {
        // A compromised or misconfigured agent creating what Git never declared (a ClusterRoleBinding).
        std::string message = "gitgate: " + describe(target_) + " created by agent " + d_.agent +
                              " is not declared in Git at " +
                              std::string(window_->current()->commit().short_id());
        if (window_->snapshots.size() > 1)
          message +=
              " nor in any of the " + std::to_string(window_->snapshots.size() - 1) + " commits before it";
        violate(reason::kAgentGitMismatch,
                message + " (policy " + policy_.name +
                    "); an agent that must match Git creates only what Git declares. "
                    "Add it to Git.");
        d_.sync_wanted = true;
        return;
      }
      unmanaged_rules();
      if (!d_.allowed) d_.sync_wanted = true;  // a newer commit may declare it
      return;
    }
    std::string message;
    if (unsigned_match) {
      violate(reason::kAgentUnsignedCommit,
              "gitgate: " + describe(target_) +
                  " matches only commits that are not signed by an allowed signer, and "
                  "policy " +
                  policy_.name + " requires signed commits. Sign the commit in Git.");
    } else if (!lookup_.declared()) {
      violate(reason::kAgentGitMismatch,
              "gitgate: " + describe(target_) + " written by agent " + d_.agent +
                  " is no longer declared in Git at " + std::string(window_->current()->commit().short_id()) +
                  " and matches none of the " + std::to_string(window_->snapshots.size()) +
                  " recent commits. Change it in Git instead.");
    } else {
      message = "gitgate: " + describe(target_) + " written by agent " + d_.agent + " does not match Git" +
                git_reference(*lookup_.object);
      if (window_->snapshots.size() == 2) message += " nor the commit before it";
      if (window_->snapshots.size() > 2)
        message += " nor any of the " + std::to_string(window_->snapshots.size() - 1) + " commits before it";
      message += ".";
      if (bound_hit) {
        d_.limit = "containment-work";
        message +=
            " gitgate could not compare all of it within its work bound, and refuses what it cannot check.";
      }
      append_differences(message, differences);
      message += " Change it in Git instead.";
      violate(reason::kAgentGitMismatch, std::move(message));
    }
    d_.sync_wanted = true;
  }

  // helm-controller's own release records (Secrets of type helm.sh/release.v1), written by an identity that
  // applies Git's builds.
  bool helm_release_storage() const {
    if (!target_.group.empty() || target_.kind != "Secret" || !target_.name.starts_with("sh.helm.release.v1."))
      return false;
    auto type = member(req_.object, "type");
    std::string_view text;
    return type && !type->get(text) && text == "helm.sh/release.v1" &&
           window_->current()->is_applier(req_.user.username);
  }

  void append_differences(std::string& message, const std::vector<Difference>& differences) const {
    for (const auto& diff : differences) {
      bool hidden = is_secret() && (diff.path.rfind("data", 0) == 0 || diff.path.rfind("stringData", 0) == 0);
      message += " " + diff.path + ": ";
      if (hidden) {
        message += "differs (value hidden).";
      } else {
        message += "Git has " + diff.declared + origin_text(diff.declared, diff.requested) + ", request has " +
                   diff.requested + ".";
      }
    }
  }

  // Where the declared value was set, for a rendered (quoted, possibly cut) value.
  std::string origin_text(std::string_view rendered, std::string_view requested) const {
    if (!lookup_.declared() || !lookup_.object->built_by()) return {};
    auto unquote = [](std::string_view v) {
      return v.size() >= 2 && v.front() == '"' && v.back() == '"' ? v.substr(1, v.size() - 2) : v;
    };
    return set_by(*lookup_.object, unquote(rendered), unquote(requested));
  }

  // --- controllers ----------------------------------------------------------------------------------------
  void controller_rules() {
    if (!lookup_.declared()) return unmanaged_rules();
    if (target_.scale) return scale_rules(Who::Controller, false);
    if (req_.operation == Operation::Create || req_.operation == Operation::Delete) {
      violate(reason::kControllerDeclaredObject, declared_intro() + " Controller " +
                                                     std::string(req_.user.username) + " may not " +
                                                     std::string(verb()) + " it. Change it in Git instead.");
      return;
    }
    update_rules(Who::Controller);
  }

  // --- everyone else ------------------------------------------------------------------------------------
  void person_rules() {
    if (!lookup_.declared()) return undeclared_person_rules();
    if (target_.scale) return scale_rules(Who::Person, false);
    if (req_.operation == Operation::Create) {
      violate(
          reason::kDeclaredObjectCreate,
          declared_intro() +
              " Creating it outside Git is not allowed; it is applied from Git. Change it in Git instead.");
      return;
    }
    if (req_.operation == Operation::Delete) {
      violate(reason::kDeclaredObjectDelete,
              declared_intro() + " Deleting it is not allowed: remove it from Git instead.");
      return;
    }
    update_rules(Who::Person);
  }

  struct Finding {
    std::string path;
    std::string text;
  };

  // UPDATE of a declared object: people may not change governed paths; controllers may change status,
  // finalizers, ownerReferences, ungoverned metadata and the paths the policy grants them.
  void update_rules(Who who) {
    if (!req_.object || !req_.old_object) {
      // The API server always sends both; without them gitgate cannot see what changes.
      violate(who == Who::Controller ? reason::kControllerDeclaredPath : reason::kGovernedPathChanged,
              declared_intro() + " The request carries no oldObject, so what it changes cannot be checked.");
      return;
    }
    std::vector<Change> changes;
    bool complete = diff_objects(element(*req_.old_object), *req_.object, changes);
    judge_changes(changes, who, !complete, /*scale=*/false);
  }

  void scale_rules(Who who, bool agent) {
    auto before = member(member(req_.old_object, "spec"), "replicas");
    auto after = member(member(req_.object, "spec"), "replicas");
    std::vector<Change> changes;
    ObjectPath path{{"spec", std::nullopt, 0, false}, {"replicas", std::nullopt, 0, false}};
    bool same = before && after && values_equal(*before, *after, false);
    if (!same && (before || after)) changes.push_back({path, before, after});
    if (agent) {
      // An agent's /scale must leave Git's replica count in place.
      if (!lookup_.declared()) return allow(reason::kAgentMatchesGit);
      element declared;
      std::optional<element> git;
      if (!lookup_.object->parse(scratch_.declared_parser).get(declared) && declares(declared, path, &git) &&
          after && !values_equal(*git, *after, false) && !path_ignored(ignored_, path)) {
        violate(reason::kAgentGitMismatch, declared_intro() + " spec.replicas: Git has " +
                                               render_value(*git) + ", request has " + render_value(*after) +
                                               ". Change it in Git instead.");
        d_.sync_wanted = true;
        return;
      }
      return allow(reason::kAgentMatchesGit);
    }
    judge_changes(changes, who, /*truncated=*/false, /*scale=*/true);
  }

  // People may add ephemeral containers (kubectl debug) when the policy says so.
  bool debug_allowed(const ObjectPath& path) const {
    return policy_.allow_debug && under(path, "spec", "ephemeralContainers");
  }

  static std::string role_words(PathRole role, const ObjectPath& path) {
    switch (role) {
      case PathRole::Body:
        return std::string(path[0].key) + " is governed";
      case PathRole::Lifecycle:
        return "metadata." + std::string(path[1].key) + " is governed";
      case PathRole::GovernedMetadata:
        return "a key other controllers obey";
      case PathRole::Metadata:
        break;
    }
    return "governed";
  }

  // Whether a change at `path` is governed for `who`. `declared`: Git declares a value there.
  bool governed(const ObjectPath& path, PathRole role, bool declared, Who who, bool scale) const {
    if (who == Who::Person) return declared || (role != PathRole::Metadata && !debug_allowed(path));
    if (!granted_.empty() && path_ignored(granted_, path)) return false;
    if (scale && !declared) return false;  // the HPA scaling what Git leaves open
    switch (role) {
      case PathRole::Lifecycle:
        return false;
      case PathRole::Metadata:
        return declared;
      default:
        return true;
    }
  }

  // For two lists of scalars (args, command): the first item that differs, "[2]: \"a\" to \"b\"", not both
  // whole lists.
  static std::optional<std::string> first_differing_item(const Change& c) {
    if (!c.before || !c.after || c.before->type() != simdjson::dom::element_type::ARRAY ||
        c.after->type() != simdjson::dom::element_type::ARRAY)
      return std::nullopt;
    simdjson::dom::array a(*c.before), b(*c.after);
    auto ia = a.begin();
    auto ib = b.begin();
    for (size_t i = 0;; ++i, ++ia, ++ib) {
      bool end_a = ia == a.end(), end_b = ib == b.end();
      if (end_a && end_b) return std::nullopt;
      if (!end_a && ((*ia).type() == simdjson::dom::element_type::OBJECT || (*ia).type() == simdjson::dom::element_type::ARRAY))
        return std::nullopt;
      if (end_a || end_b || !values_equal(*ia, *ib, false))
        return "[" + std::to_string(i) + "] changed from " + (end_a ? std::string("no item") : render_value(*ia)) +
               " to " + (end_b ? std::string("no item") : render_value(*ib));
    }
  }

  std::string finding_text(const Change& c, const std::string& path, PathRole role, bool declared,
                           const std::string& git_value) const {
    bool hidden =
        is_secret() && !c.path.empty() && (c.path[0].key == "data" || c.path[0].key == "stringData");
    std::string text = path + ": ";
    std::string after = c.after ? render_value(*c.after) : std::string("removed");
    if (hidden) {
      text += "changed (value hidden).";
    } else if (auto item = first_differing_item(c)) {
      text = path + *item + " (" + (declared ? std::string("declared in Git") : role_words(role, c.path)) + ").";
    } else if (declared && !git_value.empty()) {
      text += "Git has " + git_value + origin_text(git_value, after) + ", request has " + after + ".";
    } else {
      text += "changed from " + (c.before ? render_value(*c.before) : std::string("unset")) + " to " + after +
              " (" + (declared ? std::string("declared in Git") : role_words(role, c.path)) + ").";
    }
    return text;
  }

  void judge_changes(const std::vector<Change>& changes, Who who, bool truncated, bool scale) {
    std::vector<Finding> findings;
    std::vector<const DeclaredObject*> declarations{lookup_.object};
    declarations.insert(declarations.end(), lookup_.others.begin(), lookup_.others.end());
    std::vector<bool> declared_change(changes.size(), false);
    std::vector<std::string> git_values(changes.size());
    for (const DeclaredObject* decl : declarations) {
      element declared;
      if (decl->parse(scratch_.declared_parser).get(declared)) continue;
      for (size_t i = 0; i < changes.size(); ++i) {
        if (declared_change[i]) continue;
        std::optional<element> git;
        if (declares(declared, changes[i].path, &git)) {
          declared_change[i] = true;
          if (git) git_values[i] = render_value(*git);
        }
      }
    }
    for (size_t i = 0; i < changes.size(); ++i) {
      const Change& c = changes[i];
      std::string path = render_path(c.path);
      if (d_.changed_paths.size() < kMaxRecordedPaths) d_.changed_paths.push_back(path);
      if (path_ignored(ignored_, c.path)) continue;
      PathRole role = path_role(c.path, policy_.governed_metadata);
      if (!governed(c.path, role, declared_change[i], who, scale)) continue;
      findings.push_back({path, finding_text(c, path, role, declared_change[i], git_values[i])});
    }
    bool controller = who == Who::Controller;
    if (findings.empty() && !truncated) {
      allow(controller ? reason::kControllerUndeclaredPaths : reason::kUngovernedChange);
      return;
    }
    std::string message = lookup_.conflict() ? conflict_text() : declared_intro();
    if (controller)
      message += " Controller " + std::string(req_.user.username) + " may not change governed paths.";
    for (size_t i = 0; i < findings.size() && i < kShownDifferences; ++i) message += " " + findings[i].text;
    if (findings.size() > kShownDifferences)
      message += " (" + std::to_string(findings.size() - kShownDifferences) + " more)";
    if (truncated) message += limit_text();
    message += controller
                   ? " Grant the path to this controller in the policy (spec.controllers[].paths) if it owns "
                     "it, or change it in Git."
                   : " Change it in Git instead.";
    violate(controller ? reason::kControllerDeclaredPath : reason::kGovernedPathChanged, std::move(message));
  }

  // The diff stopped at its bound: what lies beyond was never compared, so it counts as a governed change.
  std::string limit_text() {
    d_.limit = "diff-changes";
    if (d_.changed_paths.size() < kMaxRecordedPaths)
      d_.changed_paths.push_back("(not compared: over the bound)");
    return " The request changes more than " + std::to_string(kMaxChanges) +
           " paths, past gitgate's bound: the rest was not compared, so it is refused as a governed change "
           "(make smaller changes).";
  }

  // --- undeclared objects ---------------------------------------------------------------------------------
  void undeclared_person_rules() {
    if (fake_ownership()) return;
    if (target_.scale && scales_replicaset_of_declared_deployment()) return;
    if (req_.operation == Operation::Delete && target_.group.empty() && target_.kind == "Namespace" &&
        deletes_declared_objects())
      return;
    if (req_.operation != Operation::Delete && routes_traffic_of_declared_service()) return;
    if (req_.operation == Operation::Create) {
      if (auto owner = controller_owner(req_.object); owner && child_create_rules(*owner)) return;
    } else if (req_.operation == Operation::Update) {
      if (auto owner = controller_owner(req_.old_object); owner && child_update_rules(*owner)) return;
    }
    unmanaged_rules();
  }

  void unmanaged_rules() {
    switch (policy_.unmanaged) {
      case Unmanaged::Allow:
        allow(reason::kUnmanaged);
        return;
      case Unmanaged::Warn:
        allow(reason::kUnmanaged);
        d_.warnings.push_back(truncate_utf8("gitgate: " + describe(target_) +
                                                " is not declared in Git (policy " + policy_.name +
                                                "). Add it to Git to keep it.",
                                            kMaxWarningBytes));
        return;
      case Unmanaged::Deny:
        violate(reason::kUnmanagedDenied,
                "gitgate: " + describe(target_) + " is not declared in Git at " +
                    std::string(window_->current()->commit().short_id()) + ", and policy " + policy_.name +
                    " allows no unmanaged objects (unmanaged: deny). Add it to Git.");
        return;
    }
  }

  std::string owner_text(const Owner& owner) const {
    std::string out(owner.kind);
    out += ' ';
    if (!target_.ns.empty()) out.append(target_.ns).append("/");
    out.append(owner.name);
    return out;
  }

  // A person changing an object that belongs to a controller (a Pod of a ReplicaSet, a ReplicaSet of a
  // Deployment): the controller's template is the truth, so its governed paths are not people's to change.
  // True when decided.
  bool child_update_rules(const Owner& owner) {
    if (!req_.object || !req_.old_object) return false;
    std::vector<Change> changes;
    bool complete = diff_objects(element(*req_.old_object), *req_.object, changes);
    std::vector<Finding> findings;
    for (const Change& c : changes) {
      std::string path = render_path(c.path);
      if (d_.changed_paths.size() < kMaxRecordedPaths) d_.changed_paths.push_back(path);
      if (path_ignored(ignored_, c.path)) continue;
      PathRole role = path_role(c.path, policy_.governed_metadata);
      if (!governed(c.path, role, false, Who::Person, false)) continue;
      findings.push_back({path, finding_text(c, path, role, false, {})});
    }
    if (findings.empty() && complete) return false;
    std::string message =
        "gitgate: " + describe(target_) + " belongs to its controller " + owner_text(owner) +
        " (ownerReference controller: true); people may not change what the controller sets.";
    bool debug = false;
    for (size_t i = 0; i < findings.size() && i < kShownDifferences; ++i) {
      message += " " + findings[i].text;
      debug = debug || findings[i].path.starts_with("spec.ephemeralContainers");
    }
    if (findings.size() > kShownDifferences)
      message += " (" + std::to_string(findings.size() - kShownDifferences) + " more)";
    if (!complete) message += limit_text();
    if (debug)
      message += " Ephemeral containers (kubectl debug) need the policy's allowDebug: true, or break-glass.";
    message += " Change the owner instead (in Git when Git declares it).";
    violate(reason::kControllerOwned, std::move(message));
    return true;
  }

  // A person creating an object that names a controller as its owner. Only `kubectl create job
  // --from=cronjob/x` does that legitimately, and then the Job must copy the declared CronJob's template.
  // True when decided; an owner Git does not declare leaves the object unmanaged.
  bool child_create_rules(const Owner& owner) {
    Target owner_target{group_of_api_version(owner.api_version), owner.kind, target_.ns, owner.name};
    auto found =
        window_->current()->find({owner_target.group, owner_target.kind, owner_target.ns, owner_target.name});
    if (!found.declared()) return false;
    d_.declared = std::shared_ptr<const DeclaredObject>(window_->snapshots.front(), found.object);
    bool job_from_cronjob = target_.group == "batch" && target_.kind == "Job" &&
                            owner_target.group == "batch" && owner_target.kind == "CronJob";
    element declared;
    if (job_from_cronjob && !found.conflict() &&
        !found.object->parse(scratch_.declared_parser).get(declared)) {
      auto git_spec = member(member(member(declared, "spec"), "jobTemplate"), "spec");
      auto job_spec = member(req_.object, "spec");
      std::vector<Difference> differences;
      bool bound_hit = false;
      CompareOptions options{ignored_, false, &policy_.source.substitute};
      if (!git_spec || (job_spec && contains(*git_spec, *job_spec, options, &differences, kShownDifferences,
                                             &bound_hit))) {
        allow(reason::kJobFromCronJob);
        return true;
      }
      std::string message = "gitgate: " + describe(target_) + " is created from " + owner_text(owner) +
                            ", which is declared in Git " +
                            provenance(*found.object) +
                            ". The Job does not copy its job template:";
      if (bound_hit) {
        d_.limit = "containment-work";
        message += " (gitgate could not compare all of it within its work bound)";
      }
      for (auto& diff : differences)
        diff.path = "spec.jobTemplate.spec" + (diff.path == "(object)" ? "" : "." + diff.path);
      append_differences(message, differences);
      message += " Create it with kubectl create job --from=cronjob/" + std::string(owner.name) +
                 " unchanged, or change the CronJob in Git.";
      violate(reason::kControllerOwned, std::move(message));
      return true;
    }
    violate(reason::kControllerOwned,
            "gitgate: " + describe(target_) + " names " + owner_text(owner) +
                " as its controller, and that is declared in Git " +
                provenance(*found.object) +
                "; only the controller creates what it owns. Change the owner in Git instead.");
    return true;
  }

  // `kubectl scale` of a ReplicaSet that a declared Deployment owns (a /scale request carries no owner
  // references, so the owner is found by the name the deployment controller gives its ReplicaSets).
  bool scales_replicaset_of_declared_deployment() {
    if (target_.group != "apps" || target_.kind != "ReplicaSet") return false;
    auto deployment = deployment_of_replicaset(target_.name);
    if (!deployment) return false;
    Target owner{"apps", "Deployment", target_.ns, *deployment};
    auto found = window_->current()->find({owner.group, owner.kind, owner.ns, owner.name});
    if (!found.declared()) return false;
    d_.declared = std::shared_ptr<const DeclaredObject>(window_->snapshots.front(), found.object);
    violate(reason::kControllerOwned,
            "gitgate: " + describe(target_) + " belongs to " + describe(owner) +
                ", which is declared in Git " + provenance(*found.object) +
                "; people may not scale it. Change spec.replicas of the Deployment in Git instead.");
    return true;
  }

  // Deleting a Namespace deletes everything in it, declared objects included.
  bool deletes_declared_objects() {
    const DeclaredObject* example = nullptr;
    size_t count = window_->current()->declared_in(target_.name, &example);
    if (count == 0) return false;
    Target what{example->key().group, example->key().kind, example->key().ns, example->key().name};
    violate(reason::kDeclaredObjectDelete,
            "gitgate: Namespace " + std::string(target_.name) + " holds " + std::to_string(count) +
                " object(s) declared in Git, such as " + describe(what) + " " +
                provenance(*example) +
                "; deleting it would delete them. Remove them from Git first.");
    return true;
  }

  // The endpoints of a Service with a selector are the endpoint controllers' to write: an EndpointSlice or
  // Endpoints that a person adds for a declared Service sends part of its traffic elsewhere.
  bool routes_traffic_of_declared_service() {
    std::string_view service;
    if (target_.group == "discovery.k8s.io" && target_.kind == "EndpointSlice") {
      auto name = member(member(member(req_.object, "metadata"), "labels"), "kubernetes.io/service-name");
      if (!name || name->get(service)) return false;
    } else if (target_.group.empty() && target_.kind == "Endpoints") {
      service = target_.name;
    } else {
      return false;
    }
    Target owner{"", "Service", target_.ns, service};
    auto found = window_->current()->find({owner.group, owner.kind, owner.ns, owner.name});
    element declared;
    if (!found.declared() || found.object->parse(scratch_.declared_parser).get(declared)) return false;
    auto selector = member(member(declared, "spec"), "selector");
    if (!selector || is_empty_value(*selector)) return false;  // without a selector, endpoints are the user's
    d_.declared = std::shared_ptr<const DeclaredObject>(window_->snapshots.front(), found.object);
    violate(reason::kControllerOwned,
            "gitgate: " + describe(target_) + " would route traffic of " + describe(owner) +
                ", which is declared in Git " + provenance(*found.object) +
                " with a selector: its endpoints belong to the endpoint controllers. Change the Service in Git "
                "instead.");
    return true;
  }

  // GitOps tools mark what they own; a person who creates or marks an undeclared object so would fake Git's
  // authority. Only agents and controllers are exempt, whatever owner the object names.
  bool fake_ownership() {
    if (req_.operation == Operation::Delete || !req_.object) return false;
    auto metadata = member(req_.object, "metadata");
    if (!metadata) return false;
    auto old_metadata = member(req_.old_object, "metadata");
    auto check = [&](std::string_view field, const std::vector<Pattern>& patterns, const char* what) -> bool {
      auto map = member(*metadata, field);
      if (!map || map->type() != element_type::OBJECT || patterns.empty()) return false;
      auto old_map = old_metadata ? member(*old_metadata, field) : std::nullopt;
      for (auto entry : object(*map)) {
        if (!matches_any(patterns, entry.key)) continue;
        if (old_map && member(*old_map, entry.key)) continue;  // not added by this request
        std::string ties;
        if (entry.key == argocd::kInstanceLabel || entry.key == argocd::kTrackingAnnotation) {
          // Argo CD's tracking marks ownership only in Argo CD's shape, naming an Application Git declares:
          // Helm sets app.kubernetes.io/instance on every release it installs.
          ties = argo_application(entry.key, entry.value);
          if (ties.empty()) continue;
        }
        violate(reason::kFakeOwnership,
                "gitgate: " + describe(target_) + " carries the GitOps ownership " + what + " " +
                    std::string(entry.key) + ties + " but is not declared in Git at " +
                    std::string(window_->current()->commit().short_id()) +
                    "; only the GitOps agents of policy " + policy_.name +
                    " may mark objects as theirs. Remove the " + what + " or add the object to Git.");
        return true;
      }
      return false;
    };
    return check("labels", policy_.ownership.labels, "label") ||
           check("annotations", policy_.ownership.annotations, "annotation");
  }

  // " (tracking Application argocd/web, declared in Git at apps/web.yaml:1)" when Argo CD's tracking `value`
  // of `key` names an Application the current snapshot declares; "" otherwise.
  std::string argo_application(std::string_view key, element value) const {
    std::string_view text;
    if (value.get(text)) return {};
    std::string instance = key == argocd::kInstanceLabel ? std::string(text) : argocd::tracked_instance(text);
    if (instance.empty()) return {};
    auto app = argocd::application_of_instance(
        instance, policy_.source.argocd ? std::string_view(policy_.source.argocd->ns) : std::string_view("argocd"));
    auto found = window_->current()->find({"argoproj.io", "Application", app.ns, app.name});
    if (!found.declared()) return {};
    return "=" + std::string(text) + " (Argo CD's tracking of Application " + app.ns + "/" + app.name +
           ", declared in Git at " + found.object->file() + ":" + std::to_string(found.object->line()) + ")";
  }

  const AdmissionRequest& req_;
  const Policy& policy_;
  const SnapshotWindow* window_;
  Scratch& scratch_;
  Target target_;
  Snapshot::Lookup lookup_;
  std::string lookup_name_;  // "<generateName>*" when the object is created from a declared generateName
  std::vector<const PathPattern*> ignored_;
  std::vector<const PathPattern*> granted_;  // controllers: the paths the policy grants them for this kind
  std::shared_ptr<const DeclaredObject> unknown_;  // declared with unknown values (declare_unbuilt)
  std::string state_reason_;                       // why there is no snapshot, when there is none
  Decision d_;
};

// Subresources that carry the whole object and change it: ephemeral containers (kubectl debug) and in-place
// resizes of Pods, the finalizers of a Namespace.
bool whole_object_subresource(const AdmissionRequest& r) {
  if (r.kind.group.empty() && r.kind.kind == "Pod")
    return r.sub_resource == "ephemeralcontainers" || r.sub_resource == "resize";
  if (r.kind.group.empty() && r.kind.kind == "Namespace") return r.sub_resource == "finalize";
  return false;
}

}  // namespace

Decision evaluate(const AdmissionRequest& request, const PolicySet& policies, const DeclaredState& state,
                  Scratch& scratch) {
  Target target{request.kind.group, request.kind.kind, request.ns, object_name(request)};
  // A cluster-scoped kind has no namespace, whatever the request says: for a Namespace the API server sends
  // its own name there.
  if (builtin_kind_scope(target.group, target.kind) == KindScope::Cluster) target.ns = {};
  if (!request.sub_resource.empty() && !whole_object_subresource(request)) {
    if (request.sub_resource == "status") {
      Decision d;
      d.reason = reason::kStatusSubresource;
      d.dry_run = request.dry_run;
      return d;
    }
    auto parent = request.sub_resource == "scale" ? scale_parent(request) : std::nullopt;
    if (!parent) {
      Decision d;
      d.reason = reason::kSubresourceNotGoverned;
      d.dry_run = request.dry_run;
      return d;
    }
    target = *parent;
  }
  const Policy* policy = policies.find(target.group, target.kind, target.ns);
  if (policy == nullptr || request.operation == Operation::Connect) {
    Decision d;
    d.reason = reason::kNotGoverned;
    d.dry_run = request.dry_run;
    return d;
  }
  const SnapshotWindow* window = state.window(*policy);
  std::string why = window == nullptr || window->current() == nullptr ? state.unavailable_reason(*policy) : "";
  Decision d = Evaluation(request, *policy, window, scratch, target, std::move(why)).run();
  add_source_link(d, policy->source.web_url, kMaxMessageBytes);
  return d;
}

}  // namespace gitgate::policies
