#include "core/duration.h"

#include <cstdint>
#include <limits>

namespace gitgate {

Result<std::chrono::microseconds> parse_duration(std::string_view text) {
  auto bad = [&](const char* why) {
    return Error{"invalid duration '" + std::string(text) + "': " + why + " (use e.g. 30s, 1m30s, 500ms)"};
  };
  if (text.empty()) return bad("empty");
  if (text == "0") return std::chrono::microseconds(0);
  double total_us = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    double value = 0, scale = 0;
    bool digits = false;
    for (; i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.'); ++i) {
      if (text[i] == '.') {
        if (scale != 0) return bad("two decimal points");
        scale = 1;
        continue;
      }
      digits = true;
      if (scale != 0) {
        scale /= 10;
        value += (text[i] - '0') * scale;
      } else {
        value = value * 10 + (text[i] - '0');
      }
    }
    if (!digits || i == start) return bad("expected a number");
    size_t unit_start = i;
    while (i < text.size() && ((text[i] >= 'a' && text[i] <= 'z') || text[i] == '\xc2' || text[i] == '\xb5')) ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    double mult;
    if (unit == "h") mult = 3600e6;
    else if (unit == "m") mult = 60e6;
    else if (unit == "s") mult = 1e6;
    else if (unit == "ms") mult = 1e3;
    else if (unit == "us" || unit == "\xc2\xb5s") mult = 1;
    else if (unit.empty()) return bad("missing unit");
    else return bad("unknown unit");
    total_us += value * mult;
    if (total_us > static_cast<double>(std::numeric_limits<int64_t>::max() / 2)) return bad("too large");
  }
  return std::chrono::microseconds(static_cast<int64_t>(total_us));
}

std::string format_duration(std::chrono::microseconds d) {
  auto us = d.count();
  if (us % 3600000000 == 0 && us != 0) return std::to_string(us / 3600000000) + "h";
  if (us % 60000000 == 0 && us != 0) return std::to_string(us / 60000000) + "m";
  if (us % 1000000 == 0) return std::to_string(us / 1000000) + "s";
  if (us % 1000 == 0) return std::to_string(us / 1000) + "ms";
  return std::to_string(us) + "us";
}

}  // namespace gitgate
