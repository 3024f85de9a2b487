// Git state for the offline commands (review, test): each policy's snapshot is loaded the first time the
// engine asks for it, either from a plain directory of manifests or from the policy's Git source (fetched
// into a cache directory, or read from it as it is).
#pragma once

#include <map>
#include <memory>
#include <string>

#include "policies/engine.h"

namespace gitgate::cli {

struct OfflineStateOptions {
  std::string manifests_dir;  // when set: this directory is Git's state for every policy
  std::string cache_dir;
  bool fetch = true;  // false: use what the cache holds
  std::string fetch_program = "/proc/self/exe";
};

class OfflineState final : public policies::DeclaredState {
 public:
  explicit OfflineState(OfflineStateOptions options) : options_(std::move(options)) {}
  const SnapshotWindow* window(const policies::Policy& policy) const override;
  // Why a policy has no snapshot ("" when it has one or was not asked for).
  std::string error(const policies::Policy& policy) const;
  std::string unavailable_reason(const policies::Policy& policy) const override { return error(policy); }

 private:
  OfflineStateOptions options_;
  mutable std::map<const policies::Policy*, std::shared_ptr<const SnapshotWindow>> windows_;
  mutable std::map<const policies::Policy*, std::string> errors_;
};

std::string default_cache_dir();

}  // namespace gitgate::cli
