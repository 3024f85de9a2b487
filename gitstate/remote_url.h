// The URL of a Git remote: which schemes gitgate follows, where the host and port are (for known_hosts),
// and how the URL is shown in messages (never with its userinfo).
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace gitgate::gitstate {

struct RemoteUrl {
  std::string scheme;    // file, https, http, ssh, git
  std::string user;      // from "user@" (ssh); empty when absent
  std::string host;      // empty for file://
  int port = 0;          // the explicit or default port; 0 for file://
  std::string redacted;  // the URL without userinfo, for messages
};

// Accepts file://, https://, http://, ssh://, git:// and scp-like "user@host:path" (ssh). Refuses URLs that
// embed a password or a query string (credentials belong in the credentials directory) and control
// characters.
gitgate::Result<RemoteUrl> parse_remote_url(std::string_view url);

// Replaces every occurrence of `url` (and of its userinfo) in `message` with the redacted form.
std::string redact(std::string message, std::string_view url, const RemoteUrl& parsed);

}  // namespace gitgate::gitstate
