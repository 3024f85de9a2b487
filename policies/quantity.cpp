#include "policies/quantity.h"

#include <cstdint>
#include <vector>

namespace gitgate::policies {
namespace {

constexpr size_t kMaxDigits = 64;   // more than any real quantity; keeps hostile input cheap
constexpr int kMaxExponent = 1000;

// digits (most significant first) *= factor, exactly.
void multiply(std::vector<uint8_t>& digits, uint32_t factor) {
  uint64_t carry = 0;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    uint64_t v = static_cast<uint64_t>(*it) * factor + carry;
    *it = static_cast<uint8_t>(v % 10);
    carry = v / 10;
  }
  while (carry > 0) {
    digits.insert(digits.begin(), static_cast<uint8_t>(carry % 10));
    carry /= 10;
  }
}

}  // namespace

std::optional<Quantity> parse_quantity(std::string_view s) {
  if (s.empty() || s.size() > kMaxDigits + 8) return std::nullopt;
  size_t i = 0;
  Quantity q;
  if (s[i] == '+' || s[i] == '-') q.negative = s[i++] == '-';
  std::vector<uint8_t> digits;
  int exponent = 0;
  bool any_digit = false;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
    digits.push_back(static_cast<uint8_t>(s[i] - '0'));
    any_digit = true;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
      digits.push_back(static_cast<uint8_t>(s[i] - '0'));
      --exponent;
      any_digit = true;
    }
  }
  if (!any_digit) return std::nullopt;
  std::string_view suffix = s.substr(i);
  int binary_power = 0;
  if (suffix.empty()) {
  } else if (suffix.size() == 2 && suffix[1] == 'i') {
    switch (suffix[0]) {
      case 'K': binary_power = 10; break;
      case 'M': binary_power = 20; break;
      case 'G': binary_power = 30; break;
      case 'T': binary_power = 40; break;
      case 'P': binary_power = 50; break;
      case 'E': binary_power = 60; break;
      default: return std::nullopt;
    }
  } else if (suffix.size() == 1 && suffix[0] != 'e' && suffix[0] != 'E') {
    switch (suffix[0]) {
      case 'n': exponent -= 9; break;
      case 'u': exponent -= 6; break;
      case 'm': exponent -= 3; break;
      case 'k': exponent += 3; break;
      case 'M': exponent += 6; break;
      case 'G': exponent += 9; break;
      case 'T': exponent += 12; break;
      case 'P': exponent += 15; break;
      default: return std::nullopt;
    }
  } else if (suffix[0] == 'e' || suffix[0] == 'E') {
    size_t j = 1;
    bool neg = false;
    if (j < suffix.size() && (suffix[j] == '+' || suffix[j] == '-')) neg = suffix[j++] == '-';
    if (j == suffix.size()) return std::nullopt;
    int e = 0;
    for (; j < suffix.size(); ++j) {
      if (suffix[j] < '0' || suffix[j] > '9') return std::nullopt;
      e = e * 10 + (suffix[j] - '0');
      if (e > kMaxExponent) return std::nullopt;
    }
    exponent += neg ? -e : e;
  } else {
    return std::nullopt;
  }
  if (digits.size() > kMaxDigits) return std::nullopt;
  for (int k = 0; k < binary_power / 10; ++k) multiply(digits, 1024);
  // Normalise: strip leading zeros, move trailing zeros into the exponent.
  size_t first = 0;
  while (first < digits.size() && digits[first] == 0) ++first;
  size_t last = digits.size();
  while (last > first && digits[last - 1] == 0) {
    --last;
    ++exponent;
  }
  for (size_t k = first; k < last; ++k) q.digits.push_back(static_cast<char>('0' + digits[k]));
  if (q.digits.empty()) {
    q.negative = false;
    exponent = 0;
  }
  q.exponent = exponent;
  return q;
}

}  // namespace gitgate::policies
