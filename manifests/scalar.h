// YAML scalars to JSON values, the way Kubernetes' YAML decoding reads them: the YAML 1.2 core schema for
// plain scalars, quoted scalars as strings, explicit !!str !!int !!float !!bool !!null tags honoured.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gitgate::manifests {

// How a scalar was written: its explicit tag, or plain / non-plain (quoted, literal, folded) when untagged.
enum class ScalarTag : unsigned char { Plain, NonPlain, Str, Int, Float, Bool, Null, Other };

// Maps an explicit tag as the parser resolved it ("!" non-specific, "tag:yaml.org,2002:int", "!local") to a
// ScalarTag; "" and "?" are Plain.
ScalarTag scalar_tag(std::string_view tag);

enum class ScalarType : unsigned char { Null, Bool, Number, String };

struct Scalar {
  ScalarType type = ScalarType::String;
  // Number: valid JSON number text; Bool: "true" or "false"; String: the value; Null: "null".
  std::string_view text;
};

// Resolves `value` written with `tag`. Normalised number text is kept in `buffer`, which must outlive the
// result. nullopt when an explicit tag does not fit the value (`!!int abc`).
std::optional<Scalar> resolve_scalar(ScalarTag tag, std::string_view value, std::string& buffer);

}  // namespace gitgate::manifests
