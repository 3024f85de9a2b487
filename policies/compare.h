// Comparing Kubernetes objects the way docs/decisions.md defines it, on simdjson DOM elements:
// - containment (Git ⊆ request): every map key Git sets exists with an equal value; merge-keyed lists match
//   item by key, other object lists match each declared item to a distinct requested item in any order;
//   scalar lists must be equal; a declared null or empty value means "unset"; quantities and numbers are
//   normalised; Flux ${var} placeholders match any value unless the policy gives it;
// - the paths that changed between two versions of an object, skipping what the server manages;
// - whether Git declares something at a path.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "policies/policy.h"

namespace gitgate::policies {

using simdjson::dom::element;

// One step into an object: a map key, or a list item named by its merge key ("name=web") or its index.
struct PathSegment {
  std::string_view key;  // map key; for a list item the merge-key field, empty when positional
  std::optional<element> item_key;
  size_t index = 0;
  bool is_item = false;
};
using ObjectPath = std::vector<PathSegment>;

// "spec.template.spec.containers[name=web].image", metadata.labels["app.kubernetes.io/name"].
std::string render_path(const ObjectPath& path);
// A value for a message: JSON text, at most `max_chars` characters (then "…").
std::string render_value(element value, size_t max_chars = 40);

bool is_empty_value(element value);
// Numbers compare by value (3 == 3.0); a string never equals a number, except in quantity context where
// both sides are normalised quantities (0.5 == "500m").
bool values_equal(element a, element b, bool quantity_context);

// True when `path` (a list of policy ignore patterns) covers `path` or a parent of it.
bool path_ignored(const std::vector<const PathPattern*>& ignored, const ObjectPath& path);

struct CompareOptions {
  std::vector<const PathPattern*> ignored;  // ignore paths for this kind
  bool secret = false;                      // a v1 Secret: data/stringData never compared
  const std::map<std::string, std::string>* substitute = nullptr;  // Flux postBuild values
  // Nodes one containment check may visit before it fails closed with a difference that names gitgate's
  // work bound; well under 1 s.
  size_t max_work = size_t{1} << 23;
};

struct Difference {
  std::string path;
  std::string declared;   // Git's value, or "" when hidden
  std::string requested;  // the request's value, "absent", or "" when hidden
};

// Git ⊆ request. Records up to `max_differences` differences when `differences` is given. A bound (work,
// unordered list matching) fails closed; `bound_hit` then says the "false" is gitgate giving up.
bool contains(element declared, element requested, const CompareOptions& options,
              std::vector<Difference>* differences = nullptr, size_t max_differences = 3,
              bool* bound_hit = nullptr);

struct Change {
  ObjectPath path;
  std::optional<element> before;  // absent when added
  std::optional<element> after;   // absent when removed
};

// What differs between `before` and `after` (old -> new), without server-managed fields (status,
// metadata.uid/resourceVersion/generation/creationTimestamp/managedFields/selfLink, the last-applied,
// deployment revision and rollout-restart annotations). Stops after `limit` changes and returns false
// then: the rest was never compared, so a caller must decide as if a governed path changed there.
inline constexpr size_t kMaxChanges = 256;
bool diff_objects(element before, element after, std::vector<Change>& changes, size_t limit = kMaxChanges);

// Whether Git declares a value at `path`, under it, or at a parent leaf (a scalar, a scalar list or a list
// matched as a whole). Empty and null declarations declare nothing. Fills `at` with Git's value when found.
bool declares(element declared_root, const ObjectPath& path, std::optional<element>* at = nullptr);

// What a changed path is, whatever Git declares (SPEC §2, "Governed path").
enum class PathRole {
  Body,              // any top-level field but apiVersion, kind, metadata, status: spec, data, rules, ...
  Lifecycle,         // metadata.finalizers, metadata.ownerReferences: governed for people, controllers' job
  GovernedMetadata,  // a label or annotation key other controllers obey (policy's governed_metadata)
  Metadata,          // everything else: free unless Git declares it
};
PathRole path_role(const ObjectPath& path, const std::vector<Pattern>& governed_metadata);

}  // namespace gitgate::policies
