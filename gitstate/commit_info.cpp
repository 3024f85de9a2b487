#include "gitstate/commit_info.h"

#include "gitstate/git.h"

namespace gitgate::gitstate {
namespace {

constexpr size_t kMaxSubjectBytes = 256;

}  // namespace

void CommitInfoCache::set_signers(std::optional<sshsig::AllowedSigners> signers) {
  signers_ = std::move(signers);
  cache_.clear();
}

std::shared_ptr<const CommitInfo> CommitInfoCache::get(git_repository* repo, const git_oid& id) {
  std::string hex = oid_hex(id);
  if (auto it = cache_.find(hex); it != cache_.end()) return it->second;
  git_commit* raw = nullptr;
  if (git_commit_lookup(&raw, repo, &id) != 0) return nullptr;
  CommitPtr commit(raw);
  auto info = std::make_shared<CommitInfo>();
  info->id = hex;
  const git_signature* author = git_commit_author(commit.get());
  info->author_name = author->name;
  info->author_email = author->email;
  info->time = author->when.time;
  const char* summary = git_commit_summary(commit.get());
  info->subject = summary != nullptr ? summary : "";
  if (info->subject.size() > kMaxSubjectBytes) info->subject.resize(kMaxSubjectBytes);

  git_buf signature = GIT_BUF_INIT, signed_data = GIT_BUF_INIT;
  git_oid commit_id = id;
  int rc = git_commit_extract_signature(&signature, &signed_data, repo, &commit_id, nullptr);
  if (rc == GIT_ENOTFOUND) {
    info->signature = SignatureStatus::Unsigned;
  } else if (rc != 0) {
    info->signature = SignatureStatus::Invalid;
  } else if (!signers_) {
    info->signature = SignatureStatus::UnknownKey;
  } else {
    auto check = sshsig::verify_git_signature(std::string_view(signature.ptr, signature.size),
                                              std::string_view(signed_data.ptr, signed_data.size), *signers_,
                                              git_commit_committer(commit.get())->when.time);
    info->signature = check.status;
    if (check.status == SignatureStatus::Verified) info->signer = check.principal;
  }
  git_buf_dispose(&signature);
  git_buf_dispose(&signed_data);
  cache_.emplace(hex, info);
  return info;
}

void CommitInfoCache::retain(const std::unordered_set<std::string>& ids) {
  std::erase_if(cache_, [&](const auto& entry) { return ids.count(entry.first) == 0; });
}

}  // namespace gitgate::gitstate
