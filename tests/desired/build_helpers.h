// The desired-state tests' common path: one commit of a test repository built by gitstate's SnapshotBuilder
// under a one-policy YAML text, with the project's helm and kubectl.
#pragma once

#include <memory>
#include <string>

#include "core/declared.h"

namespace gitgate::desired::testing {

// Builds `commit` of the bare repository `git_dir` as the policy says. Throws on any error.
std::shared_ptr<const Snapshot> build_commit(const std::string& git_dir, const std::string& policy_yaml,
                                             const std::string& commit);

// Every problem of a snapshot, a line each.
std::string problems_of(const Snapshot& snapshot);

// Policy lines (under spec.source) pointing helm and kustomize at the project's binaries.
std::string tool_commands();

}  // namespace gitgate::desired::testing
