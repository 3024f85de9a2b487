// Text from audit records into HTML. Records hold strings that people and Git authors control (user and
// group names, object names, messages, file paths): every one goes through these functions, so a report
// can neither run a script nor show text that pretends to be the report's own.
#pragma once

#include <cstddef>
#include <limits>
#include <string>
#include <string_view>

namespace gitgate::audit::html {

// Appends `text` escaped for element content and for double- or single-quoted attribute values (& < > " '
// as character references). Control characters, bidirectional overrides (which reorder what a reader
// sees) and invalid UTF-8 become U+FFFD. Cut after `max_chars` code points, marked with '…'.
void append_text(std::string& out, std::string_view text,
                 size_t max_chars = std::numeric_limits<size_t>::max());
std::string text(std::string_view text, size_t max_chars = std::numeric_limits<size_t>::max());

// True for an absolute http(s) URL without whitespace, control characters or quotes: only such a URL from
// a record becomes a link (a `javascript:` or `data:` URL stays text).
bool is_safe_link(std::string_view url);

}  // namespace gitgate::audit::html
