#include "tests/desired/build_helpers.h"

#include <stdexcept>

#include "gitstate/snapshot_builder.h"
#include "policies/loader.h"
#include "tests/desired/chart_servers.h"

namespace gitgate::desired::testing {

std::shared_ptr<const Snapshot> build_commit(const std::string& git_dir, const std::string& policy_yaml,
                                             const std::string& commit) {
  auto loaded = policies::load_policies_from_text("policy.yaml", policy_yaml);
  if (!loaded.ok()) throw std::runtime_error(loaded.errors[0].to_string());
  auto builder = gitstate::SnapshotBuilder::create(git_dir, loaded.set.policies[0].source, manifests::Limits{});
  if (!builder.ok()) throw std::runtime_error(builder.error());
  auto snapshot = (*builder)->build(commit, -1);
  if (!snapshot.ok()) throw std::runtime_error(snapshot.error());
  return *snapshot;
}

std::string problems_of(const Snapshot& snapshot) {
  std::string out;
  for (const auto& p : snapshot.problems()) out += p.to_string() + "\n";
  return out;
}

std::string tool_commands() {
  return "    helmCommand: [" + helm_binary() + "]\n    kustomizeCommand: [" + kubectl_binary() + ", kustomize]\n";
}

}  // namespace gitgate::desired::testing
