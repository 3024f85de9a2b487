#include "manifests/scalar.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace gitgate::manifests {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_octal(char c) {
  return c >= '0' && c <= '7';
}
bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

template <class Pred>
bool all_of(std::string_view s, Pred pred) {
  if (s.empty()) return false;
  for (char c : s)
    if (!pred(c)) return false;
  return true;
}

bool is_null_text(std::string_view s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

std::optional<bool> bool_value(std::string_view s) {
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  return std::nullopt;
}

// The parts of a core-schema decimal number: [-+]? ( \.[0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+
// )?
struct DecimalParts {
  bool negative = false;
  std::string_view integer, fraction, exponent_sign, exponent;
  bool has_point = false;
};

std::optional<DecimalParts> split_decimal(std::string_view s) {
  DecimalParts p;
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) p.negative = s[i++] == '-';
  size_t start = i;
  while (i < s.size() && is_digit(s[i])) ++i;
  p.integer = s.substr(start, i - start);
  if (i < s.size() && s[i] == '.') {
    p.has_point = true;
    start = ++i;
    while (i < s.size() && is_digit(s[i])) ++i;
    p.fraction = s.substr(start, i - start);
  }
  if (p.integer.empty() && p.fraction.empty()) return std::nullopt;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) p.exponent_sign = s.substr(i++, 1);
    start = i;
    while (i < s.size() && is_digit(s[i])) ++i;
    p.exponent = s.substr(start, i - start);
    if (p.exponent.empty()) return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  return p;
}

std::string_view strip_leading_zeros(std::string_view digits) {
  size_t z = 0;
  while (z + 1 < digits.size() && digits[z] == '0') ++z;
  return digits.substr(z);
}

// JSON text for a double that JSON can hold; nullopt for infinities and NaN.
std::optional<std::string_view> format_double(double d, std::string& buffer) {
  if (!std::isfinite(d)) return std::nullopt;
  char tmp[32];
  int n = std::snprintf(tmp, sizeof tmp, "%.17g", d);
  buffer.assign(tmp, static_cast<size_t>(n));
  return std::string_view(buffer);
}

// A decimal integer as JSON: sign and leading zeros normalised; beyond 64 bits, the nearest double (what Go's
// YAML decoder produces for such values).
std::string_view decimal_integer(const DecimalParts& p, std::string& buffer) {
  std::string_view digits = strip_leading_zeros(p.integer);
  uint64_t magnitude = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude);
  bool fits = ec == std::errc() && end == digits.data() + digits.size() &&
              (!p.negative || magnitude <= uint64_t{1} << 63);
  if (!fits) {
    buffer.clear();
    if (p.negative) buffer += '-';
    buffer.append(digits);
    double d = std::strtod(buffer.c_str(), nullptr);
    auto text = format_double(d, buffer);
    return text ? *text : std::string_view("0");  // unreachable: 20+ digit integers are finite doubles
  }
  buffer.clear();
  if (p.negative && magnitude != 0) buffer += '-';
  buffer.append(digits);
  return buffer;
}

// A core-schema float as JSON number text, or nullopt when JSON cannot hold it (overflow to infinity).
std::optional<std::string_view> decimal_float(const DecimalParts& p, std::string& buffer) {
  // `5.` reads as JSON's integer 5; beyond 64 bits such digits must become a double, as for an integer.
  if (p.fraction.empty() && p.exponent.empty()) return decimal_integer(p, buffer);
  buffer.clear();
  if (p.negative) buffer += '-';
  buffer.append(p.integer.empty() ? std::string_view("0") : strip_leading_zeros(p.integer));
  if (!p.fraction.empty()) {
    buffer += '.';
    buffer.append(p.fraction);
  }
  if (!p.exponent.empty()) {
    buffer += 'e';
    if (p.exponent_sign == "-") buffer += '-';
    buffer.append(p.exponent);
  }
  double d = std::strtod(buffer.c_str(), nullptr);
  if (!std::isfinite(d)) return std::nullopt;
  // Extreme exponents are valid JSON but some parsers reject them; the nearest double is what Go keeps
  // anyway.
  std::string_view exponent_digits = strip_leading_zeros(p.exponent);
  if (exponent_digits.size() > 3 || (d == 0 && buffer.find_first_of("123456789") != std::string::npos))
    return format_double(d, buffer);
  return std::string_view(buffer);
}

std::optional<std::string_view> radix_integer(std::string_view digits, int base, std::string& buffer) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  buffer = std::to_string(value);
  return std::string_view(buffer);
}

enum class NumberForm { None, Integer, Float, Special };

// Classifies s by the core schema; fills `text` with JSON number text when JSON can hold the value.
NumberForm core_number(std::string_view s, std::string& buffer, std::optional<std::string_view>& text) {
  if (s.size() > 2 && s[0] == '0' && s[1] == 'x' && all_of(s.substr(2), is_hex)) {
    text = radix_integer(s.substr(2), 16, buffer);
    return NumberForm::Integer;
  }
  if (s.size() > 2 && s[0] == '0' && s[1] == 'o' && all_of(s.substr(2), is_octal)) {
    text = radix_integer(s.substr(2), 8, buffer);
    return NumberForm::Integer;
  }
  std::string_view unsigned_part = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? s.substr(1) : s;
  if (unsigned_part == ".inf" || unsigned_part == ".Inf" || unsigned_part == ".INF" || s == ".nan" ||
      s == ".NaN" || s == ".NAN") {
    text = std::nullopt;
    return NumberForm::Special;
  }
  auto parts = split_decimal(s);
  if (!parts) return NumberForm::None;
  if (!parts->has_point && parts->exponent.empty()) {
    text = decimal_integer(*parts, buffer);
    return NumberForm::Integer;
  }
  text = decimal_float(*parts, buffer);
  return NumberForm::Float;
}

}  // namespace

ScalarTag scalar_tag(std::string_view tag) {
  if (tag == "?" || tag.empty()) return ScalarTag::Plain;
  if (tag == "!") return ScalarTag::NonPlain;
  constexpr std::string_view kCore = "tag:yaml.org,2002:";
  if (tag.substr(0, kCore.size()) == kCore) {
    std::string_view name = tag.substr(kCore.size());
    if (name == "str") return ScalarTag::Str;
    if (name == "int") return ScalarTag::Int;
    if (name == "float") return ScalarTag::Float;
    if (name == "bool") return ScalarTag::Bool;
    if (name == "null") return ScalarTag::Null;
  }
  return ScalarTag::Other;
}

std::optional<Scalar> resolve_scalar(ScalarTag tag, std::string_view value, std::string& buffer) {
  std::optional<std::string_view> number;
  switch (tag) {
    case ScalarTag::NonPlain:
    case ScalarTag::Str:
    case ScalarTag::Other:
      return Scalar{ScalarType::String, value};
    case ScalarTag::Null:
      return Scalar{ScalarType::Null, "null"};
    case ScalarTag::Bool: {
      auto b = bool_value(value);
      if (!b) return std::nullopt;
      return Scalar{ScalarType::Bool, *b ? "true" : "false"};
    }
    case ScalarTag::Int: {
      if (core_number(value, buffer, number) != NumberForm::Integer) return std::nullopt;
      if (!number) return Scalar{ScalarType::String, value};
      return Scalar{ScalarType::Number, *number};
    }
    case ScalarTag::Float: {
      if (core_number(value, buffer, number) == NumberForm::None) return std::nullopt;
      if (!number) return Scalar{ScalarType::String, value};
      return Scalar{ScalarType::Number, *number};
    }
    case ScalarTag::Plain:
      break;
  }
  if (is_null_text(value)) return Scalar{ScalarType::Null, "null"};
  if (auto b = bool_value(value)) return Scalar{ScalarType::Bool, *b ? "true" : "false"};
  if (value.empty() || !(is_digit(value[0]) || value[0] == '-' || value[0] == '+' || value[0] == '.'))
    return Scalar{ScalarType::String, value};
  if (core_number(value, buffer, number) == NumberForm::None || !number)
    return Scalar{ScalarType::String, value};
  return Scalar{ScalarType::Number, *number};
}

}  // namespace gitgate::manifests
