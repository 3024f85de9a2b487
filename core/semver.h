// Semantic versions and version constraints as Flux resolves a GitRepository's `ref.semver` against the
// repository's tags (the Masterminds/semver v3 rules source-controller uses): a tag is a version with or
// without a leading "v", missing minor and patch read as 0; a constraint is comparators (=, !=, >, <, >=,
// <=, ~, ~>, ^, wildcards x X *, hyphen ranges "1.2 - 1.4") joined by spaces or commas (and) and || (or). A
// version with a pre-release is allowed only by comparators that name a pre-release themselves.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace gitgate::semver {

struct Version {
  uint64_t major = 0, minor = 0, patch = 0;
  std::vector<std::string> pre;  // dot-separated pre-release identifiers; empty for a release
};

// "v1.2.3", "1.2", "1.2.3-rc.1+build"; nullopt for anything else.
std::optional<Version> parse_version(std::string_view text);
// Semantic versioning's precedence: -1, 0 or 1 (build metadata is ignored).
int compare(const Version& a, const Version& b);

class Constraint {
 public:
  // Errors quote the constraint and say which part is not understood.
  static gitgate::Result<Constraint> parse(std::string_view text);
  bool allows(const Version& v) const;

 private:
  struct Comparator {
    std::string op;  // "=", "!=", ">", "<", ">=", "<=", "~", "^"
    Version version;
    bool dirty = false, minor_dirty = false, patch_dirty = false;  // wildcards or missing parts
  };
  static bool allows(const Comparator& c, const Version& v);
  std::vector<std::vector<Comparator>> any_of_;  // || of (and of comparators)
};

// The index of the highest of `tags` (each a version, else skipped) the constraint allows; nullopt if none.
std::optional<size_t> highest(const Constraint& constraint, const std::vector<std::string>& tags);

}  // namespace gitgate::semver
