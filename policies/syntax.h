// Checks for the strings a policy file holds: wildcard patterns per subject (users, groups, namespaces,
// label keys), names, Git URLs and refs, byte sizes. Internal to the loader; every message names the
// offending value (quoted, truncated, never a credential) and says what would be valid.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/pattern.h"
#include "core/result.h"

namespace gitgate::policies::syntax {

// The longest string of each kind the loader accepts; longer ones are mistakes or attacks.
inline constexpr size_t kMaxIdentityLength = 512;  // system:serviceaccount:<63>:<253>, OIDC subjects
inline constexpr size_t kMaxNamespaceLength = 63;
inline constexpr size_t kMaxLabelKeyLength = 317;  // <253-character prefix>/<63-character name>
inline constexpr size_t kMaxPathLength = 1024;
inline constexpr size_t kMaxPathSegments = 64;
inline constexpr size_t kMaxStringLength = 4096;  // URLs, file paths, substitute values

enum class Subject { User, Group, Namespace, LabelKey };
std::string_view describe(Subject subject);  // "user", "group", ...

// A wildcard pattern for `subject`: not empty, no "**", only characters the subject can hold.
Status check_pattern(Subject subject, std::string_view text);

Status check_namespace_name(std::string_view text);  // DNS-1123 label
Status check_policy_name(std::string_view text);     // DNS-1123 subdomain
Status check_application_name(std::string_view text);  // DNS-1123 subdomain
Status check_agent_name(std::string_view text);
Status check_branch(std::string_view text);           // a Git ref name, never an option ("-x")
Status check_tag(std::string_view text);              // the same rules, for a tag
Status check_commit(std::string_view text);           // a full commit id: 40 hexadecimal digits
Status check_repo_path(std::string_view text);        // relative, no "..", inside the repository
Status check_substitute_name(std::string_view text);  // Flux postBuild variable: [_a-zA-Z][_a-zA-Z0-9]*
Status check_file_path(std::string_view text);        // credentials directory, allowed_signers file
Status check_kube_version(std::string_view text);     // v1.31.2, 1.31, v1.30.4-eks-a737599
Status check_api_version(std::string_view text);      // monitoring.coreos.com/v1[/ServiceMonitor], v1

struct GitUrl {
  std::string scheme;  // file, https, http, ssh, git
};
// Rejects credentials in the URL (never echoing them), scp-like "git@host:path" and unknown schemes.
Result<GitUrl> check_git_url(std::string_view text);
// oci://host[:port]/repository (a Flux OCIRepository's url): a host, a lower-case repository path, no
// credentials, tag, digest, query or fragment.
Status check_oci_url(std::string_view text);
Status check_digest(std::string_view text);  // "sha256:" and 64 lower-case hexadecimal digits

// Bytes as an integer ("1048576") or a Kubernetes binary/decimal quantity ("512Ki", "1Mi", "10M").
Result<uint64_t> parse_byte_size(std::string_view text);

// The candidate closest to `word` (case, '_' and '-' ignored; at most two edits), or empty.
std::string_view closest(std::string_view word, std::span<const std::string_view> candidates);

// Pattern::intersects with a work budget (roughly the product of the two lengths when both hold '*'),
// so comparing every pattern of every policy stays bounded; nullopt once the budget is spent.
std::optional<bool> intersects(const Pattern& a, const Pattern& b, uint64_t& budget);

// `text` in single quotes for a message: control characters escaped, cut at 80 characters.
std::string quote(std::string_view text);

}  // namespace gitgate::policies::syntax
