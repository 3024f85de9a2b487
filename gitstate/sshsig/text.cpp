#include "gitstate/sshsig/text.h"

#include <cstdio>
#include <string>

namespace gitgate::sshsig {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t days_from_civil(int64_t year, int64_t month, int64_t day) {
  year -= month <= 2 ? 1 : 0;
  int64_t era = (year >= 0 ? year : year - 399) / 400;
  int64_t year_of_era = year - era * 400;
  int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

}  // namespace

std::string_view trim_space(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

std::string printable_quoted(std::string_view value, size_t max_bytes) {
  std::string out = "\"";
  for (size_t i = 0; i < value.size() && i < max_bytes; ++i) {
    auto c = static_cast<unsigned char>(value[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
      out.append(escaped);
    }
  }
  if (value.size() > max_bytes) out.append("...");
  out.push_back('"');
  return out;
}

int64_t utc_seconds(int year, int month, int day, int hour, int minute, int second) {
  return days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
}

std::string format_utc(int64_t unix_time) {
  constexpr int64_t kYear1 = -62135596800;     // 0001-01-01T00:00:00Z
  constexpr int64_t kYear9999 = 253402300799;  // 9999-12-31T23:59:59Z
  if (unix_time < kYear1 || unix_time > kYear9999)
    return std::to_string(unix_time) + " seconds since the epoch";
  int64_t days = unix_time >= 0 ? unix_time / 86400 : (unix_time - 86399) / 86400;
  int64_t seconds_of_day = unix_time - days * 86400;
  // civil_from_days, the inverse of days_from_civil.
  int64_t z = days + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t day_of_era = z - era * 146097;
  int64_t year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  int64_t mp = (5 * day_of_year + 2) / 153;
  int64_t day = day_of_year - (153 * mp + 2) / 5 + 1;
  int64_t month = mp < 10 ? mp + 3 : mp - 9;
  int64_t year = year_of_era + era * 400 + (month <= 2 ? 1 : 0);
  char text[160];  // room for any int64 fields, though years stay within 1..9999
  std::snprintf(text, sizeof text, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lldZ", static_cast<long long>(year),
                static_cast<long long>(month), static_cast<long long>(day),
                static_cast<long long>(seconds_of_day / 3600),
                static_cast<long long>(seconds_of_day / 60 % 60),
                static_cast<long long>(seconds_of_day % 60));
  return text;
}

}  // namespace gitgate::sshsig
