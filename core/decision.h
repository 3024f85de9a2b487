// The outcome of evaluating one admission request: what the server answers, what the audit log records.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/declared.h"

namespace gitgate {

enum class Mode { Enforce, Warn, Audit };
std::string_view to_string(Mode mode);

// Who is asking (docs/decisions.md).
enum class Identity { None, BreakGlass, Agent, Controller, Person };
std::string_view to_string(Identity identity);

struct Decision {
  bool allowed = true;
  // A rule was broken: denied in enforce mode, warned in warn mode, only recorded in audit mode.
  bool violation = false;
  // Stable, documented reason code (see policies/README.md), e.g. "governed-path-changed".
  std::string reason;
  // One line, at most 1 KiB, never a Secret value. Set whenever a rule was broken.
  std::string message;
  std::vector<std::string> warnings;  // each at most 256 characters

  std::string policy;  // empty when no policy governs the request
  Mode mode = Mode::Enforce;
  Identity identity = Identity::None;
  std::string agent;  // the agent's name when identity == Agent

  // Provenance: the snapshot the decision relied on and the declaration it compared with.
  std::shared_ptr<const CommitInfo> snapshot_commit;
  std::shared_ptr<const DeclaredObject> declared;
  std::vector<std::string> changed_paths;  // paths only, never values
  // The bound that decided, when one was hit ("diff-changes", "containment-work"): the rest of the objects
  // was not compared, and the request was judged as a governed change (people, controllers) or a mismatch
  // (agents). Never an allow.
  std::string limit;
  // The declared line in the Git host's web UI (the policy's web URL template); empty without one.
  std::string url;

  // An agent's write did not match any snapshot in the window: the server may trigger one immediate
  // fetch and evaluate again within the request's deadline.
  bool sync_wanted = false;
  bool dry_run = false;

  // "allow", "deny" or "warn" (allowed, with warnings about a broken rule or break-glass use).
  std::string_view outcome() const {
    if (!allowed) return "deny";
    return warnings.empty() ? "allow" : "warn";
  }
};

}  // namespace gitgate
