#include "cli/options.h"

#include <string>

#include "policies/quantity.h"

namespace gitgate::cli {

Result<uint64_t> parse_byte_size(std::string_view text) {
  auto q = policies::parse_quantity(text);
  if (!q || q->negative || q->exponent < 0 || q->digits.size() + static_cast<size_t>(q->exponent) > 18)
    return Error{"'" + std::string(text) + "' is not a byte size (use e.g. 104857600 or 100Mi)"};
  uint64_t value = q->digits.empty() ? 0 : std::stoull(q->digits);
  for (int i = 0; i < q->exponent; ++i) value *= 10;
  return value;
}

}  // namespace gitgate::cli
