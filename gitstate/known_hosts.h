// SSH host key checking against an OpenSSH known_hosts file: plain and hashed (|1|salt|hash) host
// patterns, "[host]:port" for non-default ports, wildcards and negation, @revoked. @cert-authority lines
// are not supported and never trust a key.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gitgate::gitstate {

enum class HostKeyVerdict { Trusted, Unknown, Mismatch, Revoked };

// `key_blob` is the server's key in SSH wire format (what libssh2 reports as the raw host key).
HostKeyVerdict check_host_key(std::string_view known_hosts, std::string_view host, int port,
                              std::string_view key_blob);

// Standard base64 (padding optional); nullopt for anything else.
std::optional<std::string> decode_base64(std::string_view text);

}  // namespace gitgate::gitstate
