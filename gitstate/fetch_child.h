// One Git fetch, run in a child process (`gitgate __fetch`) so that the parent can kill it at its deadline:
// libgit2 1.5 has no network timeouts, and a silent remote would block git_remote_fetch for ever.
//
// The child opens (or creates) the bare cache repository, fetches refs/heads/<branch> (or refs/tags/<tag>,
// peeled to its commit; or the highest tag a semver range allows; or a commit that a branch or tag reaches) into
// the private ref refs/gitgate/head, and prints the fetched commit id. An oci:// URL is an OCI artifact (a Flux
// OCIRepository) at a tag, semver range or digest: its files become one commit in the same private ref.
// Credentials are read by the child itself from the
// credentials directory, never passed in argv or the environment:
//   token                  HTTPS: sent as the password, user "x-access-token" (or the `username` file)
//   username + password    HTTPS basic authentication
//   identity [identity.pub] SSH private key (unencrypted), with
//   known_hosts            required for ssh://: the host key must be listed (hashed entries work)
//   ca.crt                 HTTPS: trust these CAs instead of the system store
#pragma once

#include <string>
#include <vector>

namespace gitgate::gitstate {

struct FetchRequest {
  std::string git_dir;  // the bare cache repository (created when missing)
  std::string url;
  std::string branch;
  std::string credentials;  // directory; empty for none
  std::string tag;          // when set, this tag is fetched instead of the branch
  std::string semver;       // when set, the highest tag this range allows is fetched (its name: kResolvedTagFile)
  std::string commit;       // when set, this commit (40 hex digits), from whichever branch or tag reaches it
  std::string digest;       // oci:// only: when set, the artifact with this manifest digest
  // Started ahead of need (StandbyProcess): once initialised, wait for "go" on stdin before anything else;
  // end of input without it ends the child, which does nothing.
  bool standby = false;
};

// The file in the cache repository of an oci:// artifact that names the manifest digest its commit holds.
inline constexpr const char* kArtifactDigestFile = "gitgate-artifact-digest";

// The file in the cache repository that names the tag a --semver fetch resolved to.
inline constexpr const char* kResolvedTagFile = "gitgate-resolved-tag";

// Exit codes of the child.
inline constexpr int kFetchOk = 0;
inline constexpr int kFetchFailed = 1;
inline constexpr int kFetchUsage = 2;
inline constexpr int kFetchBranchMissing = 3;

// argv for `program __fetch ...`.
std::vector<std::string> fetch_child_argv(const std::string& program, const FetchRequest& request);

// The child's work: prints the fetched commit id on stdout, or one line of error (no credentials, URL
// userinfo redacted) on stderr. Returns the exit code.
int run_fetch_child(const FetchRequest& request);

}  // namespace gitgate::gitstate
