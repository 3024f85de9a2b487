// The OpenSSL half of verification: digests and checking one signature by one key.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "gitstate/sshsig/sshsig.h"

namespace gitgate::sshsig {

// The digest of `data` under an SSHSIG hash algorithm name ("sha256" or "sha512"); nullopt for others.
std::optional<std::string> sshsig_digest(std::string_view algorithm, std::string_view data);

// Checks that `sig` was made by `sig.key` over `message` (the SSHSIG signed blob). The error says why
// not: a weak or mismatched algorithm, an unusable key, or a signature that does not match.
Status verify_with_key(const SshSignature& sig, std::string_view message);

}  // namespace gitgate::sshsig
