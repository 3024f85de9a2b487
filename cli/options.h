// Small parsers shared by the subcommands' flags.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/result.h"

namespace gitgate::cli {

// "1048576", "100Mi", "1Gi", "500k": a byte count.
Result<uint64_t> parse_byte_size(std::string_view text);

}  // namespace gitgate::cli
