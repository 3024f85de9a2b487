// Strict standard base64 (RFC 4648 §4): the alphabet, '=' padding only at the end and zero unused bits,
// so every byte string has exactly one accepted encoding.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gitgate::sshsig {

std::optional<std::string> base64_decode(std::string_view text);
std::string base64_encode(std::string_view bytes, bool pad);

}  // namespace gitgate::sshsig
