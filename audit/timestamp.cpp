#include "audit/timestamp.h"

#include <array>

namespace gitgate::audit {
namespace {

constexpr int64_t kMicrosPerSecond = 1'000'000;
constexpr int64_t kSecondsPerDay = 86'400;

// Howard Hinnant's days_from_civil / civil_from_days: proleptic Gregorian calendar, exact for any year.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

struct Civil {
  int64_t year;
  unsigned month;
  unsigned day;
};

Civil civil_from_days(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {static_cast<int64_t>(yoe) + era * 400 + (m <= 2), m, d};
}

void append_digits(std::string& out, int64_t value, int width) {
  std::array<char, 24> buf{};
  int n = 0;
  auto v = static_cast<uint64_t>(value < 0 ? -value : value);
  do {
    buf[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  if (value < 0) out += '-';
  for (int i = n; i < width; ++i) out += '0';
  while (n > 0) out += buf[--n];
}

int64_t floor_div(int64_t a, int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

}  // namespace

void append_rfc3339(std::string& out, int64_t unix_us, bool with_micros) {
  const int64_t seconds = floor_div(unix_us, kMicrosPerSecond);
  const int64_t micros = unix_us - seconds * kMicrosPerSecond;
  const int64_t days = floor_div(seconds, kSecondsPerDay);
  const int64_t in_day = seconds - days * kSecondsPerDay;
  const Civil c = civil_from_days(days);
  append_digits(out, c.year, 4);
  out += '-';
  append_digits(out, c.month, 2);
  out += '-';
  append_digits(out, c.day, 2);
  out += 'T';
  append_digits(out, in_day / 3600, 2);
  out += ':';
  append_digits(out, in_day / 60 % 60, 2);
  out += ':';
  append_digits(out, in_day % 60, 2);
  if (with_micros) {
    out += '.';
    append_digits(out, micros, 6);
  }
  out += 'Z';
}

std::string format_rfc3339(int64_t unix_us, bool with_micros) {
  std::string out;
  append_rfc3339(out, unix_us, with_micros);
  return out;
}

Result<int64_t> parse_rfc3339(std::string_view text) {
  auto bad = [&](const char* why) {
    return Error{"invalid time '" + std::string(text.substr(0, 64)) + "': " + why +
                 " (use RFC 3339, e.g. 2026-11-23T10:00:00Z, or a duration such as 24h)"};
  };
  size_t i = 0;
  auto number = [&](size_t digits, int64_t& value) {
    if (i + digits > text.size()) return false;
    value = 0;
    for (size_t k = 0; k < digits; ++k, ++i) {
      char ch = text[i];
      if (ch < '0' || ch > '9') return false;
      value = value * 10 + (ch - '0');
    }
    return true;
  };
  auto expect = [&](char a, char b = '\0') {
    if (i < text.size() && (text[i] == a || (b != '\0' && text[i] == b))) {
      ++i;
      return true;
    }
    return false;
  };
  int64_t year, month, day, hour, minute, second;
  if (!number(4, year) || !expect('-') || !number(2, month) || !expect('-') || !number(2, day)) {
    return bad("expected a date YYYY-MM-DD");
  }
  if (!expect('T', 't') && !expect(' ')) return bad("expected 'T' between date and time");
  if (!number(2, hour) || !expect(':') || !number(2, minute) || !expect(':') || !number(2, second)) {
    return bad("expected a time HH:MM:SS");
  }
  static constexpr std::array<int, 13> kDaysInMonth{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1 || day > kDaysInMonth[month] || hour > 23 || minute > 59 ||
      second > 60) {
    return bad("field out of range");
  }
  int64_t micros = 0;
  if (expect('.')) {
    int64_t scale = 100'000;
    size_t start = i;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
      micros += (text[i] - '0') * scale;
      scale /= 10;
    }
    if (i == start) return bad("expected digits after '.'");
  }
  int64_t offset_seconds = 0;
  if (expect('Z', 'z')) {
  } else if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    const int sign = text[i++] == '+' ? 1 : -1;
    int64_t oh, om;
    if (!number(2, oh) || !expect(':') || !number(2, om) || oh > 23 || om > 59) {
      return bad("expected a UTC offset ±HH:MM");
    }
    offset_seconds = sign * (oh * 3600 + om * 60);
  } else {
    return bad("expected 'Z' or a UTC offset");
  }
  if (i != text.size()) return bad("unexpected text after the time");
  if (second == 60) second = 59;  // a leap second sorts with the second before it
  const int64_t days = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  const int64_t seconds = days * kSecondsPerDay + hour * 3600 + minute * 60 + second - offset_seconds;
  return seconds * kMicrosPerSecond + micros;
}

}  // namespace gitgate::audit
