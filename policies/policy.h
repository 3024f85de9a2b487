// The policy model: what a GatePolicy document says once loaded and validated (see policies/README.md for
// the file format). Loading lives in loader.h; the engine only reads these structs.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/admission.h"
#include "core/decision.h"
#include "core/pattern.h"
#include "core/source_spec.h"

namespace gitgate::policies {

enum class Unmanaged { Allow, Warn, Deny };

// A kind selector: "apps/Deployment", "v1/ConfigMap" or "core/ConfigMap" (the core group), "Deployment"
// (any group), "apps/*", "*". A version in the middle ("apps/v1/Deployment") is accepted and ignored:
// types are matched by group and kind.
struct KindPattern {
  std::string text;
  bool any_group = false;
  Pattern group{""};
  Pattern kind{"*"};

  bool matches(std::string_view group_name, std::string_view kind_name) const {
    return (any_group || group.matches(group_name)) && kind.matches(kind_name);
  }
};

// A path inside an object, written as a JSON pointer ("/spec/replicas", "~1" for '/', "~0" for '~').
// A segment "*" matches any map key or list item; a list item also matches its index ("0") or its merge
// key ("name=web").
struct PathPattern {
  std::string text;
  std::vector<std::string> segments;
};

struct Identities {
  std::vector<Pattern> users;
  std::vector<Pattern> groups;
};

struct Agent {
  std::string name;
  Identities identities;
  bool must_match_git = true;
};

// Paths a set of controllers may change on declared objects beyond status, finalizers, ownerReferences and
// ungoverned metadata (e.g. the HPA's /spec/replicas, cert-manager's caBundle).
struct ControllerGrant {
  std::string name;  // for messages; "defaults" for the built-in grants of the default controllers
  Identities identities;
  std::vector<KindPattern> kinds;  // empty: every kind
  std::vector<PathPattern> paths;
};

struct IgnoreRule {
  std::vector<KindPattern> kinds;  // empty: every kind
  std::vector<PathPattern> paths;
};

struct Scope {
  std::vector<Pattern> include{Pattern("*")};
  std::vector<Pattern> exclude{Pattern("kube-system"), Pattern("kube-public"), Pattern("kube-node-lease")};
  bool cluster_scoped = true;  // objects without a namespace; default: include holds "*"
  std::vector<KindPattern> kinds;  // empty: every kind
};

// Labels and annotations by which GitOps tools mark what they own; an undeclared object that carries one,
// created by someone who is not an agent, is denied.
struct Ownership {
  std::vector<Pattern> labels;
  std::vector<Pattern> annotations;
};

struct Policy {
  std::string name;
  std::string file;  // where it was defined, for messages
  uint32_t line = 0;

  Mode mode = Mode::Enforce;
  gitgate::SourceSpec source;
  Scope scope;
  std::vector<Agent> agents;
  Identities controllers;  // the defaults (kube-system service accounts, nodes) plus the listed ones
  std::vector<ControllerGrant> controller_grants;  // the paths each may change on declared objects
  Identities break_glass;
  Unmanaged unmanaged = Unmanaged::Allow;
  std::vector<IgnoreRule> ignore;
  Ownership ownership;
  // Label and annotation keys that other controllers obey (Flux, Argo CD, Helm, Pod Security, meshes):
  // governed like spec. The defaults plus the policy's spec.governedMetadata.
  std::vector<Pattern> governed_metadata;
  // People may add ephemeral containers (kubectl debug) to Pods a controller owns.
  bool allow_debug = false;

  bool in_scope(std::string_view group, std::string_view kind, std::string_view ns) const;
};

struct PolicySet {
  std::vector<Policy> policies;

  // The policy whose scope holds this object (scopes never overlap), or null.
  const Policy* find(std::string_view group, std::string_view kind, std::string_view ns) const;
};

}  // namespace gitgate::policies
