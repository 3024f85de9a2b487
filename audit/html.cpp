#include "audit/html.h"

#include <algorithm>
#include <cctype>

namespace gitgate::audit::html {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
constexpr std::string_view kEllipsis = "\xE2\x80\xA6";     // …

// The length of the valid UTF-8 sequence at the start of `s`, or 0 when it is not one.
size_t sequence_length(std::string_view s) {
  auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  auto continuation = [&](size_t i) { return i < s.size() && (b(i) & 0xC0) == 0x80; };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return continuation(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!continuation(1) || !continuation(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;   // overlong
    if (c == 0xED && b(1) >= 0xA0) return 0;  // UTF-16 surrogates
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!continuation(1) || !continuation(2) || !continuation(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;   // overlong
    if (c == 0xF4 && b(1) >= 0x90) return 0;  // past U+10FFFF
    return 4;
  }
  return 0;
}

// U+202A..U+202E (embeddings, overrides) and U+2066..U+2069 (isolates).
bool is_bidi_control(std::string_view seq) {
  if (seq.size() != 3 || static_cast<unsigned char>(seq[0]) != 0xE2) return false;
  auto b1 = static_cast<unsigned char>(seq[1]);
  auto b2 = static_cast<unsigned char>(seq[2]);
  return (b1 == 0x80 && b2 >= 0xAA && b2 <= 0xAE) || (b1 == 0x81 && b2 >= 0xA6 && b2 <= 0xA9);
}

// U+0080..U+009F (C1 controls).
bool is_c1_control(std::string_view seq) {
  return seq.size() == 2 && static_cast<unsigned char>(seq[0]) == 0xC2 &&
         static_cast<unsigned char>(seq[1]) < 0xA0;
}

}  // namespace

void append_text(std::string& out, std::string_view text, size_t max_chars) {
  size_t chars = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (chars == max_chars) {
      out += kEllipsis;
      return;
    }
    size_t n = sequence_length(text.substr(i));
    ++chars;
    if (n == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    if (n > 1) {
      std::string_view seq = text.substr(i, n);
      if (is_bidi_control(seq) || is_c1_control(seq)) {
        out += kReplacement;
      } else {
        out += seq;
      }
      i += n;
      continue;
    }
    const char c = text[i++];
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
          out += kReplacement;
        } else {
          out += c;
        }
    }
  }
}

std::string text(std::string_view text, size_t max_chars) {
  std::string out;
  out.reserve(text.size() + 16);
  append_text(out, text, max_chars);
  return out;
}

bool is_safe_link(std::string_view url) {
  auto starts_with_nocase = [&](std::string_view prefix) {
    if (url.size() <= prefix.size()) return false;
    for (size_t i = 0; i < prefix.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(url[i])) != prefix[i]) return false;
    return true;
  };
  if (!starts_with_nocase("https://") && !starts_with_nocase("http://")) return false;
  return std::none_of(url.begin(), url.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return c <= 0x20 || c == 0x7F || c == '"' || c == '\'' || c == '<' || c == '>' || c == '\\' || c == '`';
  });
}

}  // namespace gitgate::audit::html
