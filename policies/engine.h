// The decision engine: a pure function of (request, policies, Git snapshots) to a decision, as
// docs/decisions.md defines it. No I/O, no clock, no globals: the server reads snapshots lock-free and
// hands them in, and performs the sync on miss the decision may ask for.
#pragma once

#include <simdjson.h>

#include "core/admission.h"
#include "core/decision.h"
#include "core/declared.h"
#include "policies/policy.h"

namespace gitgate::policies {

// The snapshots behind each policy's source; null while a source has none yet.
class DeclaredState {
 public:
  virtual ~DeclaredState() = default;
  virtual const SnapshotWindow* window(const Policy& policy) const = 0;
  // Why a policy has no snapshot yet (the last fetch or build error), for the denial; "" when unknown.
  virtual std::string unavailable_reason(const Policy&) const { return {}; }
};

// Buffers one thread reuses across evaluations (parsing declared objects). Never shared between threads.
struct Scratch {
  simdjson::dom::parser declared_parser;
};

Decision evaluate(const AdmissionRequest& request, const PolicySet& policies, const DeclaredState& state,
                  Scratch& scratch);

// Reason codes, stable across releases: dashboards and audit queries key on them (policies/README.md).
namespace reason {
inline constexpr const char* kNotGoverned = "not-governed";
inline constexpr const char* kSubresourceNotGoverned = "subresource-not-governed";
inline constexpr const char* kStatusSubresource = "status-subresource";
inline constexpr const char* kNoSnapshot = "no-snapshot";
inline constexpr const char* kBreakGlass = "break-glass";
inline constexpr const char* kAgentMatchesGit = "agent-matches-git";
inline constexpr const char* kAgentGitMismatch = "agent-git-mismatch";
inline constexpr const char* kAgentUnsignedCommit = "agent-unsigned-commit";
inline constexpr const char* kAgentUnchecked = "agent-unchecked";
inline constexpr const char* kAgentDelete = "agent-delete";
inline constexpr const char* kAgentDeleteDeclared = "agent-delete-declared";
inline constexpr const char* kDeclarationConflict = "declaration-conflict";
inline constexpr const char* kControllerUndeclaredPaths = "controller-undeclared-paths";
inline constexpr const char* kControllerDeclaredPath = "controller-declared-path";
inline constexpr const char* kControllerDeclaredObject = "controller-declared-object";
inline constexpr const char* kDeclaredObjectCreate = "declared-object-create";
inline constexpr const char* kDeclaredObjectDelete = "declared-object-delete";
inline constexpr const char* kGovernedPathChanged = "governed-path-changed";
inline constexpr const char* kUngovernedChange = "ungoverned-change";
inline constexpr const char* kUnmanaged = "unmanaged";
inline constexpr const char* kUnmanagedDenied = "unmanaged-denied";
inline constexpr const char* kFakeOwnership = "fake-ownership";
inline constexpr const char* kAgentDeclaredObject = "agent-declared-object";
inline constexpr const char* kControllerOwned = "controller-owned";
inline constexpr const char* kJobFromCronJob = "job-from-cronjob";
inline constexpr const char* kAgentNotApplier = "agent-not-applier";
inline constexpr const char* kValuesUnknown = "values-unknown";
inline constexpr const char* kAgentReleaseStorage = "agent-release-storage";
}  // namespace reason

}  // namespace gitgate::policies
