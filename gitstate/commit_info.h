// CommitInfo for commits of the cache repository, with their SSH signature status, computed once per
// commit and shared by every snapshot that names it.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include <git2.h>

#include "core/declared.h"
#include "gitstate/sshsig/sshsig.h"

namespace gitgate::gitstate {

class CommitInfoCache {
 public:
  // Who may sign (nullopt: no allowed_signers file, so a signed commit is `unknown-key`). Clears the cache.
  void set_signers(std::optional<sshsig::AllowedSigners> signers);

  // Null when the commit cannot be read.
  std::shared_ptr<const CommitInfo> get(git_repository* repo, const git_oid& id);
  // Forgets every commit not in `ids`.
  void retain(const std::unordered_set<std::string>& ids);

 private:
  std::optional<sshsig::AllowedSigners> signers_;
  std::unordered_map<std::string, std::shared_ptr<const CommitInfo>> cache_;
};

}  // namespace gitgate::gitstate
