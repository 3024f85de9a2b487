#include "gitstate/sshsig/base64.h"

#include <array>
#include <cstdint>

namespace gitgate::sshsig {
namespace {

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr int kNotBase64 = -1;

constexpr std::array<int, 256> make_decode_table() {
  std::array<int, 256> table{};
  for (int& entry : table) entry = kNotBase64;
  for (size_t i = 0; i < kAlphabet.size(); ++i)
    table[static_cast<uint8_t>(kAlphabet[i])] = static_cast<int>(i);
  return table;
}
constexpr std::array<int, 256> kDecode = make_decode_table();

}  // namespace

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  size_t padding = 0;
  while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') ++padding;
  std::string_view digits = text.substr(0, text.size() - padding);

  std::string out;
  out.reserve(digits.size() / 4 * 3 + 2);
  uint32_t accumulator = 0;
  int bits = 0;
  for (char c : digits) {
    int value = kDecode[static_cast<uint8_t>(c)];
    if (value == kNotBase64) return std::nullopt;
    accumulator = (accumulator << 6) | static_cast<uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((accumulator >> bits) & 0xff));
    }
  }
  // Leftover bits must be zero, and a final group of one digit cannot encode a byte.
  if (bits >= 6 || (accumulator & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

std::string base64_encode(std::string_view bytes, bool pad) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t group = (static_cast<uint8_t>(bytes[i]) << 16) | (static_cast<uint8_t>(bytes[i + 1]) << 8) |
                     static_cast<uint8_t>(bytes[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) out.push_back(kAlphabet[(group >> shift) & 0x3f]);
  }
  size_t left = bytes.size() - i;
  if (left > 0) {
    uint32_t group = static_cast<uint8_t>(bytes[i]) << 16;
    if (left == 2) group |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out.push_back(kAlphabet[(group >> 18) & 0x3f]);
    out.push_back(kAlphabet[(group >> 12) & 0x3f]);
    if (left == 2) out.push_back(kAlphabet[(group >> 6) & 0x3f]);
    if (pad) out.append(left == 1 ? "==" : "=");
  }
  return out;
}

}  // namespace gitgate::sshsig
