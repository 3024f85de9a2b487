// Go's text/template as Argo CD's ApplicationSet controller runs it on `template` strings and
// `templatePatch` (goTemplate: true, with sprig's functions): text and actions with trim markers, comments,
// pipelines with parentheses, variables ($, $x := …, $x = …), if / else if / else, range (arrays and maps,
// with $i, $v), with, and the functions listed in go_template.cpp. Anything else (define, template, block,
// break, other functions) is an error that names it, never a guess.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace gitgate::desired::argocd {

// Renders `text` with `data` as dot and $. A missing map key is nil, as with Argo CD's default
// missingkey option: false in a condition; printing it is an error (Argo CD would print "<no value>").
gitgate::Result<std::string> render_go_template(std::string_view text, const nlohmann::json& data);

// Argo CD's SanitizeName (the `normalize` function): lower case, characters a DNS name may not hold
// become '-', no trailing '-' or '.'.
std::string normalized_name(std::string name);

}  // namespace gitgate::desired::argocd
