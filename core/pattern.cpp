#include "core/pattern.h"

#include <algorithm>
#include <set>
#include <utility>

namespace gitgate {

Pattern::Pattern(std::string text) : text_(std::move(text)), literal_(text_.find('*') == std::string::npos) {}

bool Pattern::matches(std::string_view s) const {
  if (literal_) return s == text_;
  // Greedy matching with a single backtrack point: linear in practice, no recursion.
  std::string_view p = text_;
  size_t pi = 0, si = 0, star = std::string_view::npos, resume = 0;
  while (si < s.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      resume = si;
    } else if (pi < p.size() && p[pi] == s[si]) {
      ++pi;
      ++si;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      si = ++resume;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

bool Pattern::intersects(const Pattern& a, const Pattern& b) {
  // Product of the two patterns' automata, explored breadth-first over (position in a, position in b).
  // A '*' may consume a character while staying put, or be skipped.
  const std::string& x = a.text_;
  const std::string& y = b.text_;
  std::set<std::pair<size_t, size_t>> seen;
  std::vector<std::pair<size_t, size_t>> todo{{0, 0}};
  while (!todo.empty()) {
    auto [i, j] = todo.back();
    todo.pop_back();
    if (!seen.insert({i, j}).second) continue;
    if (i == x.size() && j == y.size()) return true;
    if (i < x.size() && x[i] == '*') todo.push_back({i + 1, j});
    if (j < y.size() && y[j] == '*') todo.push_back({i, j + 1});
    if (i < x.size() && j < y.size()) {
      bool xs = x[i] == '*', ys = y[j] == '*';
      if (xs && ys) {
        todo.push_back({i, j + 1});
        todo.push_back({i + 1, j});
      } else if (xs) {
        todo.push_back({i, j + 1});  // a's star eats b's literal character
      } else if (ys) {
        todo.push_back({i + 1, j});
      } else if (x[i] == y[j]) {
        todo.push_back({i + 1, j + 1});
      }
    }
  }
  return false;
}

bool Pattern::covers(const Pattern& wide, const Pattern& narrow) {
  if (wide.matches_everything() || wide.text_ == narrow.text_) return true;
  if (narrow.literal_) return wide.matches(narrow.text_);
  // "team-*" covers "team-a-*": a prefix-star wide pattern covers any pattern that starts with its prefix.
  if (!wide.text_.empty() && wide.text_.back() == '*' && std::count(wide.text_.begin(), wide.text_.end(), '*') == 1) {
    std::string_view prefix(wide.text_.data(), wide.text_.size() - 1);
    return std::string_view(narrow.text_).substr(0, prefix.size()) == prefix;
  }
  return false;
}

bool matches_any(const std::vector<Pattern>& patterns, std::string_view subject) {
  return std::any_of(patterns.begin(), patterns.end(), [&](const Pattern& p) { return p.matches(subject); });
}

}  // namespace gitgate
