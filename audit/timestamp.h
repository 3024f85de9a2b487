// RFC 3339 timestamps in UTC, as audit records carry them ("2026-11-23T10:00:00.123456Z"), and the
// parser `gitgate audit query --since/--until` uses. Pure arithmetic: no locale, no time zone database.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace gitgate::audit {

// Appends `unix_us` (microseconds since the epoch) as RFC 3339 UTC, with six fraction digits when
// `with_micros`, else whole seconds.
void append_rfc3339(std::string& out, int64_t unix_us, bool with_micros = true);
std::string format_rfc3339(int64_t unix_us, bool with_micros = true);

// Parses "YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)" (a space may replace the 'T') to microseconds since
// the epoch. Errors name the text.
Result<int64_t> parse_rfc3339(std::string_view text);

}  // namespace gitgate::audit
