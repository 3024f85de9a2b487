#include "policies/policy.h"

namespace gitgate::policies {

bool Policy::in_scope(std::string_view group, std::string_view kind, std::string_view ns) const {
  if (!scope.kinds.empty()) {
    bool kind_ok = false;
    for (const auto& k : scope.kinds) {
      if (k.matches(group, kind)) {
        kind_ok = true;
        break;
      }
    }
    if (!kind_ok) return false;
  }
  if (ns.empty()) return scope.cluster_scoped;
  return matches_any(scope.include, ns) && !matches_any(scope.exclude, ns);
}

const Policy* PolicySet::find(std::string_view group, std::string_view kind, std::string_view ns) const {
  for (const auto& p : policies)
    if (p.in_scope(group, kind, ns)) return &p;
  return nullptr;
}

}  // namespace gitgate::policies
