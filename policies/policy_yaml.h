// Decodes the GatePolicy documents of one file into Policy values, reporting every problem with its place.
// Internal to the loader: yaml-cpp and its exceptions stay behind this interface.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "policies/loader.h"
#include "policies/policy.h"

namespace gitgate::policies::detail {

struct DecodedPolicy {
  Policy policy;             // policy.file and policy.line name where metadata.name is written
  uint32_t name_column = 0;  // 1-based column of metadata.name's value
  bool valid = false;        // no error of its own
  bool scope_valid = false;  // the scope decoded without errors, so overlap checks are meaningful
};

// Appends one DecodedPolicy per GatePolicy document that names itself, and every problem found.
void decode_policy_file(std::string_view file, std::string_view text, std::vector<DecodedPolicy>& policies,
                        std::vector<Diagnostic>& errors);

}  // namespace gitgate::policies::detail
