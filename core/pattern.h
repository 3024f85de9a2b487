// Wildcard patterns for identities, namespaces and kinds: '*' matches any run of characters
// (including none); everything else matches itself.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gitgate {

class Pattern {
 public:
  explicit Pattern(std::string text);

  bool matches(std::string_view subject) const;
  const std::string& text() const { return text_; }
  bool is_literal() const { return literal_; }
  bool matches_everything() const { return text_ == "*"; }

  // True when some string matches both patterns (used to detect overlapping policy scopes).
  static bool intersects(const Pattern& a, const Pattern& b);
  // True when every string `narrow` matches is also matched by `wide` (conservative: may say false).
  static bool covers(const Pattern& wide, const Pattern& narrow);

 private:
  std::string text_;
  bool literal_;
};

bool matches_any(const std::vector<Pattern>& patterns, std::string_view subject);

}  // namespace gitgate
