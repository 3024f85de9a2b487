// Go-style durations as Kubernetes users write them: "30s", "1m30s", "500ms", "2h", "250us".
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "core/result.h"

namespace gitgate {

using Millis = std::chrono::milliseconds;

Result<std::chrono::microseconds> parse_duration(std::string_view text);
std::string format_duration(std::chrono::microseconds d);

}  // namespace gitgate
