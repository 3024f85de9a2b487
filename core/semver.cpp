#include "core/semver.h"

#include <algorithm>
#include <cctype>

namespace gitgate::semver {
namespace {

bool digits(std::string_view s) {
  return !s.empty() && s.size() <= 18 &&
         std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

bool identifier(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-';
  });
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (size_t start = 0;;) {
    size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) break;
    start = at + 1;
  }
  return out;
}

bool is_x(std::string_view s) { return s == "x" || s == "X" || s == "*"; }

// A version whose numbers may be wildcards or missing (a constraint's operand).
struct Partial {
  Version version;
  bool dirty = false, minor_dirty = false, patch_dirty = false;
};

std::optional<Partial> parse_partial(std::string_view text) {
  if (text.starts_with('v') || text.starts_with('V')) text.remove_prefix(1);
  std::string_view build, pre;
  if (auto plus = text.find('+'); plus != std::string_view::npos) {
    build = text.substr(plus + 1);
    text = text.substr(0, plus);
    for (auto part : split(build, '.'))
      if (!identifier(part)) return std::nullopt;
  }
  if (auto dash = text.find('-'); dash != std::string_view::npos) {
    pre = text.substr(dash + 1);
    text = text.substr(0, dash);
    if (pre.empty()) return std::nullopt;
  }
  auto numbers = split(text, '.');
  if (numbers.empty() || numbers.size() > 3) return std::nullopt;
  Partial p;
  uint64_t* fields[3] = {&p.version.major, &p.version.minor, &p.version.patch};
  bool wild = false;
  for (size_t i = 0; i < 3; ++i) {
    bool missing = i >= numbers.size();
    if (!missing && !is_x(numbers[i]) && !digits(numbers[i])) return std::nullopt;
    if (missing || is_x(numbers[i])) {
      if (!wild) {
        p.dirty = true;
        p.minor_dirty = i == 1;
        p.patch_dirty = i == 2;
      }
      wild = true;
      continue;
    }
    if (wild) return std::nullopt;  // "1.x.3"
    *fields[i] = std::stoull(std::string(numbers[i]));
  }
  if (!pre.empty()) {
    for (auto part : split(pre, '.')) {
      if (!identifier(part)) return std::nullopt;
      p.version.pre.emplace_back(part);
    }
  }
  return p;
}

int compare_identifiers(const std::string& a, const std::string& b) {
  bool an = digits(a), bn = digits(b);
  if (an && bn) {
    uint64_t x = std::stoull(a), y = std::stoull(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (an != bn) return an ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

}  // namespace

std::optional<Version> parse_version(std::string_view text) {
  // Missing minor or patch read as 0; a wildcard is not a version.
  std::string_view numbers = text.substr(0, text.find_first_of("-+"));
  if (numbers.starts_with('v') || numbers.starts_with('V')) numbers.remove_prefix(1);
  for (auto part : split(numbers, '.'))
    if (is_x(part)) return std::nullopt;
  auto p = parse_partial(text);
  if (!p) return std::nullopt;
  return p->version;
}

int compare(const Version& a, const Version& b) {
  for (auto [x, y] : {std::pair{a.major, b.major}, std::pair{a.minor, b.minor}, std::pair{a.patch, b.patch}})
    if (x != y) return x < y ? -1 : 1;
  if (a.pre.empty() != b.pre.empty()) return a.pre.empty() ? 1 : -1;
  for (size_t i = 0; i < std::min(a.pre.size(), b.pre.size()); ++i)
    if (int c = compare_identifiers(a.pre[i], b.pre[i]); c != 0) return c;
  return a.pre.size() < b.pre.size() ? -1 : a.pre.size() > b.pre.size() ? 1 : 0;
}

gitgate::Result<Constraint> Constraint::parse(std::string_view text) {
  auto bad = [&](std::string_view part) {
    return gitgate::Error{"semver constraint '" + std::string(text) + "': '" + std::string(part) +
                          "' is not a comparator (=, !=, >, <, >=, <=, ~, ^ and a version, x or * for any number)"};
  };
  if (text.size() > 256) return gitgate::Error{"semver constraint longer than 256 characters"};
  Constraint out;
  std::string rest(text);
  for (size_t start = 0;;) {
    size_t at = rest.find("||", start);
    std::string group = rest.substr(start, at == std::string::npos ? std::string::npos : at - start);
    // Tokens: commas and spaces separate, but an operator may stand apart from its version ("> 1.0"), and
    // "a - b" is a range.
    std::replace(group.begin(), group.end(), ',', ' ');
    std::vector<std::string> tokens;
    for (size_t i = 0; i < group.size();) {
      while (i < group.size() && std::isspace(static_cast<unsigned char>(group[i]))) ++i;
      size_t j = i;
      while (j < group.size() && !std::isspace(static_cast<unsigned char>(group[j]))) ++j;
      if (j > i) tokens.push_back(group.substr(i, j - i));
      i = j;
    }
    std::vector<Comparator> all;
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string token = tokens[i];
      if (i + 2 < tokens.size() && tokens[i + 1] == "-") {  // a hyphen range
        auto low = parse_partial(token), high = parse_partial(tokens[i + 2]);
        if (!low) return bad(token);
        if (!high) return bad(tokens[i + 2]);
        all.push_back({">=", low->version, low->dirty, low->minor_dirty, low->patch_dirty});
        all.push_back({"<=", high->version, high->dirty, high->minor_dirty, high->patch_dirty});
        i += 2;
        continue;
      }
      size_t op_end = 0;
      while (op_end < token.size() && std::string_view("=!<>~^").find(token[op_end]) != std::string_view::npos) ++op_end;
      std::string op = token.substr(0, op_end), operand = token.substr(op_end);
      if (operand.empty() && i + 1 < tokens.size()) operand = tokens[++i];
      if (op == "=>") op = ">=";
      if (op == "=<") op = "<=";
      if (op == "~>") op = "~";
      if (op.empty()) op = "=";
      if (op != "=" && op != "!=" && op != ">" && op != "<" && op != ">=" && op != "<=" && op != "~" && op != "^")
        return bad(token);
      auto p = parse_partial(operand);
      if (!p) return bad(token);
      all.push_back({op, p->version, p->dirty, p->minor_dirty, p->patch_dirty});
    }
    if (all.empty()) return bad(group);
    out.any_of_.push_back(std::move(all));
    if (at == std::string::npos) break;
    start = at + 2;
  }
  return out;
}

bool Constraint::allows(const Comparator& c, const Version& v) {
  const Version& w = c.version;
  int cmp = compare(v, w);
  bool pre_excluded = !v.pre.empty() && w.pre.empty();
  if (c.op == "!=") {  // Masterminds excludes pre-releases here only for a wildcard
    if (!c.dirty) return cmp != 0;
    if (pre_excluded) return false;
    if (v.major != w.major) return true;
    if (v.minor != w.minor && !c.minor_dirty) return true;
    if (c.minor_dirty) return false;
    if (v.patch != w.patch && !c.patch_dirty) return true;
    if (c.patch_dirty) return v.pre != w.pre;  // "!=1.2.x": within 1.2, only what differs in pre-release
    return cmp != 0;
  }
  // Otherwise a pre-release is allowed only by a comparator that names one.
  if (pre_excluded) return false;
  auto tilde = [&] {
    if (cmp < 0) return false;
    if (w.major == 0 && w.minor == 0 && w.patch == 0 && !c.minor_dirty && !c.patch_dirty) return true;
    if (v.major != w.major) return false;
    return v.minor == w.minor || c.minor_dirty;
  };
  if (c.op == "=") return c.dirty ? tilde() : cmp == 0;
  if (c.op == ">") {
    if (!c.dirty) return cmp > 0;
    if (v.major != w.major) return v.major > w.major;
    if (c.minor_dirty) return false;
    return v.minor > w.minor;
  }
  if (c.op == "<") return cmp < 0;
  if (c.op == ">=") return cmp >= 0;
  if (c.op == "<=") {
    if (!c.dirty) return cmp <= 0;
    if (v.major > w.major) return false;
    return !(v.major == w.major && v.minor > w.minor && !c.minor_dirty);
  }
  if (c.op == "~") return tilde();
  // ^: the leftmost non-zero number stays.
  if (cmp < 0) return false;
  if (w.major > 0 || c.minor_dirty) return v.major == w.major;
  if (v.major > 0) return false;
  if (w.minor > 0 || c.patch_dirty) return v.minor == w.minor;
  if (v.minor > 0) return false;
  return v.patch == w.patch;
}

bool Constraint::allows(const Version& v) const {
  return std::any_of(any_of_.begin(), any_of_.end(), [&](const auto& all) {
    return std::all_of(all.begin(), all.end(), [&](const Comparator& c) { return allows(c, v); });
  });
}

std::optional<size_t> highest(const Constraint& constraint, const std::vector<std::string>& tags) {
  std::optional<size_t> best;
  std::optional<Version> best_version;
  for (size_t i = 0; i < tags.size(); ++i) {
    auto v = parse_version(tags[i]);
    if (!v || !constraint.allows(*v)) continue;
    if (!best_version || compare(*v, *best_version) > 0) {
      best = i;
      best_version = std::move(v);
    }
  }
  return best;
}

}  // namespace gitgate::semver
