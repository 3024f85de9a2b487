// Kubernetes resource quantities ("500m", "0.5", "1Gi", "1024Mi", "1e3", "1k"), compared exactly: a
// quantity is normalised to sign, decimal digits and a power of ten, so 0.5 == 500m and 1Gi == 1024Mi
// without floating-point error.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gitgate::policies {

struct Quantity {
  bool negative = false;
  std::string digits;  // no leading or trailing zeros; empty means zero
  int exponent = 0;    // value = digits * 10^exponent

  bool operator==(const Quantity&) const = default;
};

// Parses the Kubernetes quantity grammar: sign, digits, optional fraction, then a binary suffix
// (Ki Mi Gi Ti Pi Ei), a decimal suffix (n u m k M G T P E) or a decimal exponent (e3, E-2).
std::optional<Quantity> parse_quantity(std::string_view text);

}  // namespace gitgate::policies
