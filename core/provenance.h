// Provenance as text, in one place, so denial messages, `gitgate declared` and the audit report agree:
// where Git declares an object, the chain of what built it, and the line that set a value.
#pragma once

#include <string>
#include <string_view>

#include "core/declared.h"

namespace gitgate {

// "(clusters/prod/shop/web.yaml:12 @ 3f2c1ab, alice, 2026-11-20, verified by alice@example.com)": the commit
// shown is the one that last changed the file, whose author is named; else the snapshot's.
std::string cite(const std::string& file, uint32_t line, const CommitInfo* changed,
                 const CommitInfo& snapshot);

// "is declared in Git (…)", "is built by HelmRelease shop/web (…) from chart web 1.4.2 (sha256:…) from
// https://…", "is declared in Git (…) and built by Kustomization flux-system/apps (…)". For an object kept
// from an earlier commit, says that its file fails to parse now; for unknown values, why.
std::string declared_where(const DeclaredObject& decl, const CommitInfo& snapshot);

// The values line or patch that set `git_value` (Git's value at a path), when the object was built from
// values or patched: an origin whose value equals it or is part of it, preferring one the requested value
// lacks (the part that differs: the tag of "repo:tag"), then the longest. Null when none.
const ValueOrigin* origin_of(const DeclaredObject& decl, std::string_view git_value,
                             std::string_view requested = {});

// " (set by values.image.tag at clusters/prod/apps/web.yaml:14)", or "" when no origin is known.
std::string set_by(const DeclaredObject& decl, std::string_view git_value, std::string_view requested = {});

}  // namespace gitgate
