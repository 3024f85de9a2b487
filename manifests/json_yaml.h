// Writes a JSON value as block YAML that reads back as the same value: strings that YAML would read as
// another type (true, 0755, 1e3, null, "") are quoted, multi-line strings are literal blocks.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace gitgate::manifests {

std::string json_to_yaml(const nlohmann::json& value);
std::string json_to_yaml(const nlohmann::ordered_json& value);  // keys in their order, not sorted

}  // namespace gitgate::manifests
