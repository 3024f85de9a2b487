// The link from a decision to the declared line in the Git host's web UI. Kept apart from the engine's
// rules: it only formats what the decision already names (file, line, snapshot commit).
#pragma once

#include <cstddef>
#include <string_view>

#include "core/decision.h"

namespace gitgate::policies {

// Sets `decision.url` from the policy's web URL template when the decision names a declared object and
// a snapshot commit, and appends the link to a violation's message when the message then stays within
// `max_message_bytes` (the "file:line @ sha" citation stays either way). The link's commit is the one the
// citation names (the file's last change), or the one the declaration was carried from when the file no
// longer parses, so the line it points at is the declaration's.
void add_source_link(Decision& decision, std::string_view web_url_template, size_t max_message_bytes);

}  // namespace gitgate::policies
