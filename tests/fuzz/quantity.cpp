// libFuzzer target: any bytes as a Kubernetes resource quantity (policies::parse_quantity). Beyond "no
// crash, no hang" it checks the normal form containment relies on: digits only, no leading or trailing
// zero, zero is never negative; printing the result as "<digits>e<exponent>" parses back to the same
// value; and a decimal suffix means its power of ten ("1.5k" == "1.5e3", "500m" == "500e-3").
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "policies/quantity.h"

namespace {

using gitgate::policies::parse_quantity;
using gitgate::policies::Quantity;

void check_normal_form(const Quantity& q) {
  for (char c : q.digits)
    if (c < '0' || c > '9') std::abort();
  if (!q.digits.empty() && (q.digits.front() == '0' || q.digits.back() == '0')) std::abort();
  if (q.digits.empty() && (q.negative || q.exponent != 0)) std::abort();
}

void check_round_trip(const Quantity& q) {
  if (q.digits.empty() || q.digits.size() > 64 || q.exponent > 1000 || q.exponent < -1000) return;
  std::string text = (q.negative ? "-" : "") + q.digits + "e" + std::to_string(q.exponent);
  auto again = parse_quantity(text);
  if (!again || !(*again == q)) std::abort();
}

// For a plain decimal number (no suffix), each decimal suffix equals the matching exponent.
void check_suffixes(std::string_view text) {
  if (text.empty() || text.size() > 40) return;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    bool sign = i == 0 && (c == '+' || c == '-');
    if (!sign && c != '.' && (c < '0' || c > '9')) return;
  }
  static constexpr std::pair<char, int> kSuffixes[] = {{'n', -9}, {'u', -6}, {'m', -3}, {'k', 3},
                                                       {'M', 6},  {'G', 9},  {'T', 12}, {'P', 15}};
  for (auto [suffix, power] : kSuffixes) {
    auto with_suffix = parse_quantity(std::string(text) + suffix);
    auto with_exponent = parse_quantity(std::string(text) + "e" + std::to_string(power));
    if (with_suffix.has_value() != with_exponent.has_value()) std::abort();
    if (with_suffix && !(*with_suffix == *with_exponent)) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto q = parse_quantity(text);
  if (q) {
    check_normal_form(*q);
    check_round_trip(*q);
  }
  check_suffixes(text);
  return 0;
}
