// Loads GatePolicy files (YAML, several documents per file, several files per directory) into a PolicySet,
// validating strictly: every problem is reported, each as `file:line:col: message`. The file format is
// documented in policies/README.md. Never throws; bounded in size, nesting and work, so untrusted input
// (it is fuzzed) cannot crash or stall it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "policies/policy.h"

namespace gitgate::policies {

inline constexpr std::string_view kApiVersion = "gitgate.dev/v1alpha1";
inline constexpr std::string_view kPolicyKind = "GatePolicy";

// Limits; going over one is an error, never a crash or a silent cut.
inline constexpr size_t kMaxPolicyFileBytes = 1 << 20;    // per file
inline constexpr size_t kMaxPolicyBytesTotal = 16 << 20;  // all files of one load
inline constexpr size_t kMaxPolicyFiles = 1000;
inline constexpr size_t kMaxPolicies = 1000;
inline constexpr size_t kMaxListItems = 1000;          // any one list (users, paths, kinds, ...)
inline constexpr size_t kMaxEntriesPerPolicy = 10000;  // list items and map entries, aliases expanded
inline constexpr size_t kMaxYamlNodes = 100000;        // per file, before aliases are expanded
inline constexpr size_t kMaxYamlDepth = 64;            // nested maps and lists
inline constexpr size_t kMaxDiagnostics = 1000;        // listed; one more entry says that others exist

struct Diagnostic {
  std::string file;
  uint32_t line = 0;    // 1-based; 0 when the problem has no place in the file (unreadable, too large)
  uint32_t column = 0;  // 1-based; 0 when unknown
  std::string message;

  // "file:line:col: message" ("file: message" without a line).
  std::string to_string() const;
};

struct LoadResult {
  PolicySet set;  // the policies, in file order; empty unless ok(): never serve a partly valid set
  std::vector<Diagnostic> errors;  // sorted by file (in load order), line, column
  size_t files = 0;                // policy files read

  bool ok() const { return errors.empty(); }
};

// One file's text, holding any number of GatePolicy documents; `file_name` only names it in messages.
// Cross-policy checks (duplicate names, overlapping scopes) run among its documents.
LoadResult load_policies_from_text(std::string_view file_name, std::string_view text);

// A file, or a directory: every *.yaml / *.yml directly in it, in name order, skipping dotfiles and
// dot-directories, so a Kubernetes ConfigMap volume (files are symlinks into ..data/) loads each policy
// once. Symlinks are followed for those top-level files only; dangling ones are skipped. Cross-policy
// checks run across all files.
LoadResult load_policies(const std::string& path);
// Several files and directories as one set (as `gitgate policy validate a/ b.yaml` does).
LoadResult load_policies(const std::vector<std::string>& paths);

// "apps/Deployment", "v1/ConfigMap" or "core/ConfigMap" (the core group), "Deployment" (any group),
// "apps/*", "*Binding", "apps/v1/Deployment" (the version is checked, then ignored), "*".
Result<KindPattern> parse_kind_pattern(std::string_view text);

// An RFC 6901 JSON pointer: starts with '/', "~1" is '/', "~0" is '~' (any other '~' is an error), no empty
// segment (not even a trailing one: "/spec/" is a typo, not the key ""), a segment "*" matches any key or
// item ('*' inside a segment is an error). At most 1024 characters and 64 segments.
Result<PathPattern> parse_path_pattern(std::string_view text);

// True when some (namespace, kind) or cluster-scoped kind is governed by both policies. Conservative in
// one direction only: an overlap is resolved when a single exclude pattern of either policy covers one of
// the two intersecting include patterns.
bool scopes_overlap(const Scope& a, const Scope& b);

}  // namespace gitgate::policies
