#include "policies/engine.h"

#include <ctime>
#include <string>
#include <vector>

#include "policies/compare.h"

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

std::optional<Target> scale_parent(const AdmissionRequest& r) {
  struct Parent {
    std::string_view group, resource, kind;
  };
  static constexpr Parent kParents[] = {{"apps", "deployments", "Deployment"},
                                        {"apps", "statefulsets", "StatefulSet"},
                                        {"apps", "replicasets", "ReplicaSet"},
                                        {"", "replicationcontrollers", "ReplicationController"}};
  for (const auto& p : kParents)
    if (r.resource.group == p.group && r.resource.resource == p.resource) return Target{p.group, p.kind, r.ns, r.name, true};
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

std::string date_of(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

std::string_view signature_words(SignatureStatus s) {
  switch (s) {
    case SignatureStatus::Verified: return "verified";
    case SignatureStatus::Unsigned: return "unsigned";
    case SignatureStatus::Invalid: return "bad signature";
    case SignatureStatus::UnknownKey: return "signed by an unknown key";
  }
  return "unsigned";
}

// "(clusters/prod/shop/web.yaml:12 @ 3f2c1ab, alice, 2026-11-20, verified by alice@example.com)"
std::string provenance(const DeclaredObject& decl, const CommitInfo& snapshot) {
  std::string out = "(" + decl.file() + ":" + std::to_string(decl.line()) + " @ " + std::string(snapshot.short_id());
  if (const auto& c = decl.last_change()) {
    out += ", " + (c->author_name.empty() ? c->author_email : c->author_name) + ", " + date_of(c->time) + ", ";
    out += signature_words(c->signature);
    // The allowed_signers principal: who vouched for this state (bounded, it comes from a file in Git's
    // reach only through the operator's allowed_signers).
    if (c->signature == SignatureStatus::Verified && !c->signer.empty()) out += " by " + c->signer.substr(0, 64);
  }
  out += ")";
  return out;
}

class Evaluation {
 public:
  Evaluation(const AdmissionRequest& request, const Policy& policy, const SnapshotWindow* window, Scratch& scratch,
             Target target)
      : req_(request), policy_(policy), window_(window), scratch_(scratch), target_(target) {
    d_.policy = policy.name;
    d_.mode = policy.mode;
    d_.dry_run = request.dry_run;
    for (const auto& rule : policy.ignore) {
      bool applies = rule.kinds.empty();
      for (const auto& k : rule.kinds) applies = applies || k.matches(target.group, target.kind);
      if (applies)
        for (const auto& p : rule.paths) ignored_.push_back(&p);
    }
  }

  Decision run() {
    const Agent* agent = nullptr;
    Identity identity = classify(agent);
    d_.identity = identity;
    if (agent != nullptr) d_.agent = agent->name;

    if (identity == Identity::Agent && !agent->must_match_git) {
      allow(reason::kAgentUnchecked);
      return std::move(d_);
    }
    if (window_ == nullptr || window_->current() == nullptr) {
      if (identity == Identity::BreakGlass) return break_glass();
      violate(reason::kNoSnapshot, "gitgate: the Git state for policy " + policy_.name + " (" + policy_.source.url +
                                       " " + policy_.source.branch +
                                       ") is not loaded yet, so nothing can be checked; retry in a moment.");
      return finish();
    }
    const Snapshot& current = *window_->current();
    lookup_ = current.find({target_.group, target_.kind, target_.ns, target_.name});
    d_.snapshot_commit = current.commit_ptr();
    if (lookup_.declared()) d_.declared = std::shared_ptr<const DeclaredObject>(window_->snapshots.front(), lookup_.object);

    switch (identity) {
      case Identity::BreakGlass: return break_glass();
      case Identity::Agent: agent_rules(); break;
      case Identity::Controller: controller_rules(); break;
      default: person_rules(); break;
    }
    return finish();
  }

 private:
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

  std::string declared_intro() const {
    return "gitgate: " + describe(target_) + " is declared in Git " +
           provenance(*lookup_.object, window_->current()->commit()) + ".";
  }

  std::string conflict_text() const {
    std::string where = lookup_.object->file() + ":" + std::to_string(lookup_.object->line());
    for (const auto* o : lookup_.others) where += " and " + o->file() + ":" + std::to_string(o->line());
    return "gitgate: " + describe(target_) + " is declared more than once in Git (" + where + " @ " +
           std::string(window_->current()->commit().short_id()) + "), so neither is authoritative. Remove one in Git.";
  }

  bool is_secret() const { return target_.group.empty() && target_.kind == "Secret"; }

  // --- agents -------------------------------------------------------------------------------------------
  void agent_rules() {
    if (req_.operation == Operation::Delete) {
      allow(lookup_.declared() ? reason::kAgentDeleteDeclared : reason::kAgentDelete);
      return;
    }
    if (target_.scale) {
      // An agent scaling through /scale: compare the replica count with Git.
      scale_rules(/*controller=*/false, /*agent=*/true);
      return;
    }
    CompareOptions options{ignored_, is_secret(), &policy_.source.substitute};
    std::vector<Difference> differences;
    bool unsigned_match = false;
    bool seen_anywhere = false;
    for (size_t i = 0; i < window_->snapshots.size(); ++i) {
      const Snapshot& snap = *window_->snapshots[i];
      auto hit = i == 0 ? lookup_ : snap.find({target_.group, target_.kind, target_.ns, target_.name});
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
      if (contains(declared, *req_.object, options, first ? &differences : nullptr, kShownDifferences)) {
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
      unmanaged_rules();
      if (!d_.allowed) d_.sync_wanted = true;  // a newer commit may declare it
      return;
    }
    std::string message;
    if (unsigned_match) {
      violate(reason::kAgentUnsignedCommit,
              "gitgate: " + describe(target_) + " matches only commits that are not signed by an allowed signer, and "
              "policy " + policy_.name + " requires signed commits. Sign the commit in Git.");
    } else if (!lookup_.declared()) {
      violate(reason::kAgentGitMismatch, "gitgate: " + describe(target_) + " written by agent " + d_.agent +
                                             " is no longer declared in Git at " +
                                             std::string(window_->current()->commit().short_id()) +
                                             " and matches none of the " + std::to_string(window_->snapshots.size()) +
                                             " recent commits. Change it in Git instead.");
    } else {
      message = "gitgate: " + describe(target_) + " written by agent " + d_.agent + " does not match Git " +
                provenance(*lookup_.object, window_->current()->commit());
      if (window_->snapshots.size() == 2) message += " nor the commit before it";
      if (window_->snapshots.size() > 2)
        message += " nor any of the " + std::to_string(window_->snapshots.size() - 1) + " commits before it";
      message += ".";
      append_differences(message, differences);
      message += " Change it in Git instead.";
      violate(reason::kAgentGitMismatch, std::move(message));
    }
    d_.sync_wanted = true;
  }

  void append_differences(std::string& message, const std::vector<Difference>& differences) const {
    for (const auto& diff : differences) {
      bool hidden = is_secret() && (diff.path.rfind("data", 0) == 0 || diff.path.rfind("stringData", 0) == 0);
      message += " " + diff.path + ": ";
      if (hidden) {
        message += "differs (value hidden).";
      } else {
        message += "Git has " + diff.declared + ", request has " + diff.requested + ".";
      }
    }
  }

  // --- controllers ----------------------------------------------------------------------------------------
  void controller_rules() {
    if (!lookup_.declared()) return undeclared_rules();
    if (target_.scale) return scale_rules(/*controller=*/true, false);
    if (req_.operation == Operation::Create || req_.operation == Operation::Delete) {
      violate(reason::kControllerDeclaredObject,
              declared_intro() + " Controller " + std::string(req_.user.username) + " may not " +
                  (req_.operation == Operation::Create ? "create" : "delete") + " it. Change it in Git instead.");
      return;
    }
    update_rules(/*controller=*/true);
  }

  // --- everyone else ------------------------------------------------------------------------------------
  void person_rules() {
    if (!lookup_.declared()) return undeclared_rules();
    if (target_.scale) return scale_rules(false, false);
    if (req_.operation == Operation::Create) {
      violate(reason::kDeclaredObjectCreate,
              declared_intro() + " Creating it outside Git is not allowed; it is applied from Git. Change it in Git instead.");
      return;
    }
    if (req_.operation == Operation::Delete) {
      violate(reason::kDeclaredObjectDelete,
              declared_intro() + " Deleting it is not allowed: remove it from Git instead.");
      return;
    }
    update_rules(/*controller=*/false);
  }

  struct Finding {
    std::string path;
    std::string text;
  };

  // UPDATE of a declared object: controllers may change what Git does not declare; people may not change
  // governed paths (declared ones, and everything under spec/data/rules/...).
  void update_rules(bool controller) {
    if (!req_.object || !req_.old_object) {
      allow(controller ? reason::kControllerUndeclaredPaths : reason::kUngovernedChange);
      return;
    }
    std::vector<Change> changes;
    diff_objects(element(*req_.old_object), *req_.object, changes);
    judge_changes(changes, controller);
  }

  void scale_rules(bool controller, bool agent) {
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
      if (!lookup_.object->parse(scratch_.declared_parser).get(declared) && declares(declared, path, &git) && after &&
          !values_equal(*git, *after, false) && !path_ignored(ignored_, path)) {
        violate(reason::kAgentGitMismatch, declared_intro() + " spec.replicas: Git has " + render_value(*git) +
                                               ", request has " + render_value(*after) + ". Change it in Git instead.");
        d_.sync_wanted = true;
        return;
      }
      return allow(reason::kAgentMatchesGit);
    }
    judge_changes(changes, controller);
  }

  void judge_changes(const std::vector<Change>& changes, bool controller) {
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
      bool governed = declared_change[i] || (!controller && under_governed_root(c.path));
      if (!governed) continue;
      bool hidden = is_secret() && !c.path.empty() && (c.path[0].key == "data" || c.path[0].key == "stringData");
      std::string text = path + ": ";
      std::string after = c.after ? render_value(*c.after) : std::string("removed");
      if (hidden) {
        text += "changed (value hidden).";
      } else if (declared_change[i] && !git_values[i].empty()) {
        text += "Git has " + git_values[i] + ", request has " + after + ".";
      } else {
        text += "changed from " + (c.before ? render_value(*c.before) : std::string("unset")) + " to " + after +
                " (" + (declared_change[i] ? "declared in Git" : std::string(c.path[0].key) + " is governed") + ").";
      }
      findings.push_back({path, std::move(text)});
    }
    if (findings.empty()) {
      allow(controller ? reason::kControllerUndeclaredPaths : reason::kUngovernedChange);
      return;
    }
    std::string message = lookup_.conflict() ? conflict_text() : declared_intro();
    if (controller) message += " Controller " + std::string(req_.user.username) + " may not change declared paths.";
    for (size_t i = 0; i < findings.size() && i < kShownDifferences; ++i) message += " " + findings[i].text;
    if (findings.size() > kShownDifferences)
      message += " (" + std::to_string(findings.size() - kShownDifferences) + " more)";
    message += controller ? " Add the path to the policy's ignore list if this controller owns it, or change it in Git."
                          : " Change it in Git instead.";
    violate(controller ? reason::kControllerDeclaredPath : reason::kGovernedPathChanged, std::move(message));
  }

  // --- undeclared objects ---------------------------------------------------------------------------------
  void undeclared_rules() {
    if (fake_ownership()) return;
    unmanaged_rules();
  }

  void unmanaged_rules() {
    switch (policy_.unmanaged) {
      case Unmanaged::Allow: allow(reason::kUnmanaged); return;
      case Unmanaged::Warn:
        allow(reason::kUnmanaged);
        d_.warnings.push_back(truncate_utf8("gitgate: " + describe(target_) + " is not declared in Git (policy " +
                                                policy_.name + "). Add it to Git to keep it.",
                                            kMaxWarningBytes));
        return;
      case Unmanaged::Deny:
        violate(reason::kUnmanagedDenied, "gitgate: " + describe(target_) + " is not declared in Git at " +
                                              std::string(window_->current()->commit().short_id()) + ", and policy " +
                                              policy_.name + " allows no unmanaged objects (unmanaged: deny). Add it to Git.");
        return;
    }
  }

  // GitOps tools mark what they own; a non-agent that creates such an object would fake Git's authority.
  bool fake_ownership() {
    if (req_.operation == Operation::Delete || !req_.object) return false;
    auto metadata = member(req_.object, "metadata");
    if (!metadata) return false;
    if (auto owners = member(*metadata, "ownerReferences"); owners && owners->type() == element_type::ARRAY) {
      for (element ref : simdjson::dom::array(*owners)) {
        auto controller = member(ref, "controller");
        bool is_controller = false;
        if (controller && !controller->get(is_controller) && is_controller) return false;  // a controller's child
      }
    }
    auto old_metadata = member(req_.old_object, "metadata");
    auto check = [&](std::string_view field, const std::vector<Pattern>& patterns, const char* what) -> bool {
      auto map = member(*metadata, field);
      if (!map || map->type() != element_type::OBJECT || patterns.empty()) return false;
      auto old_map = old_metadata ? member(*old_metadata, field) : std::nullopt;
      for (auto entry : object(*map)) {
        if (!matches_any(patterns, entry.key)) continue;
        if (old_map && member(*old_map, entry.key)) continue;  // not added by this request
        violate(reason::kFakeOwnership,
                "gitgate: " + describe(target_) + " carries the GitOps ownership " + what + " " +
                    std::string(entry.key) + " but is not declared in Git at " +
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

  const AdmissionRequest& req_;
  const Policy& policy_;
  const SnapshotWindow* window_;
  Scratch& scratch_;
  Target target_;
  Snapshot::Lookup lookup_;
  std::vector<const PathPattern*> ignored_;
  Decision d_;
};

}  // namespace

Decision evaluate(const AdmissionRequest& request, const PolicySet& policies, const DeclaredState& state,
                  Scratch& scratch) {
  Target target{request.kind.group, request.kind.kind, request.ns, object_name(request)};
  if (!request.sub_resource.empty()) {
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
  return Evaluation(request, *policy, state.window(*policy), scratch, target).run();
}

}  // namespace gitgate::policies
