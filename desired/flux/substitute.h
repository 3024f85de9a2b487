// Flux's post-build variable substitution (kustomize-controller's postBuild.substitute and substituteFrom),
// applied to one object's YAML text as Flux does, so that `replicas: ${n}` becomes a number again.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace gitgate::desired::flux {

struct Variables {
  std::map<std::string, std::string> values;
  // Some variables come from where gitgate cannot read (a Secret, a ConfigMap Git does not hold): a
  // placeholder without a known value stays as written, and the comparison lets any value stand in its place.
  bool incomplete = false;
};

// `${var}`, `${var:=default}` (also `:-`, `=`, `-`: the default when the value is empty or unset), `$${var}`
// for a literal `${var}`. An unset variable is "" when every source is known, and stays verbatim otherwise.
// Forms Flux documents as unsupported are left verbatim.
// A default may itself hold expressions (`${CLAIM:-${APP}}`); `depth` bounds that nesting.
std::string substitute(std::string_view text, const Variables& variables, int depth = 0);

// Whether Flux would substitute at all: when some variable is known, or the strategy is Always.
bool substitution_runs(const Variables& variables, bool always);

}  // namespace gitgate::desired::flux
