#include "policies/syntax.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <limits>
#include <vector>

#include "policies/loader.h"

namespace gitgate::policies {
namespace syntax {
namespace {

bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool is_alnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_control_or_space(char c) {
  auto u = static_cast<unsigned char>(c);
  return u <= 0x20 || u == 0x7f;
}

Error fail(std::string message) {
  return Error{std::move(message)};
}

Status check_wildcards(std::string_view text, std::string_view what) {
  if (text.empty()) return fail("empty " + std::string(what) + " pattern");
  if (text.find("**") != std::string_view::npos)
    return fail(std::string(what) + " pattern " + quote(text) +
                " contains '**': a single '*' already matches any run of characters");
  return Status::Ok();
}

// DNS-1123 label, with '*' allowed when `wildcards`.
Status check_dns_label(std::string_view text, std::string_view what, bool wildcards) {
  if (text.size() > kMaxNamespaceLength)
    return fail(std::string(what) + " " + quote(text) + " is longer than 63 characters");
  for (char c : text) {
    if (!is_lower_alnum(c) && c != '-' && !(wildcards && c == '*'))
      return fail(std::string(what) + " " + quote(text) + " may hold only lowercase letters, digits and '-'" +
                  (wildcards ? " (and '*')" : ""));
  }
  return Status::Ok();
}

// Lowercase-insensitive, '_'/'-'-insensitive form, so "must_match_git" finds "mustMatchGit".
std::string folded(std::string_view s) {
  std::string out;
  for (char c : s)
    if (c != '_' && c != '-') out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Optimal string alignment distance (edits, transpositions counted once), capped: words are short.
size_t edit_distance(std::string_view a, std::string_view b) {
  if (a.size() > 64 || b.size() > 64) return std::numeric_limits<size_t>::max();
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

bool looks_like_version(std::string_view s) {
  // v1, v2, v1beta1, v2alpha3
  if (s.size() < 2 || s[0] != 'v' || !std::isdigit(static_cast<unsigned char>(s[1]))) return false;
  size_t i = 1;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  if (i == s.size()) return true;
  std::string_view rest = s.substr(i);
  for (std::string_view stage : {"alpha", "beta"}) {
    if (rest.substr(0, stage.size()) == stage) {
      rest.remove_prefix(stage.size());
      return !rest.empty() && std::all_of(rest.begin(), rest.end(),
                                          [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    }
  }
  return false;
}

}  // namespace

std::string quote(std::string_view text) {
  constexpr size_t kShown = 80;
  std::string out = "'";
  size_t shown = 0;
  for (char c : text) {
    if (shown == kShown) {
      out += "...";
      break;
    }
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
    ++shown;
  }
  return out + "'";
}

std::string_view describe(Subject subject) {
  switch (subject) {
    case Subject::User:
      return "user";
    case Subject::Group:
      return "group";
    case Subject::Namespace:
      return "namespace";
    case Subject::LabelKey:
      return "label or annotation key";
  }
  return "value";
}

Status check_pattern(Subject subject, std::string_view text) {
  std::string what(describe(subject));
  if (auto s = check_wildcards(text, what); !s) return s;
  switch (subject) {
    case Subject::User:
    case Subject::Group:
      if (text.size() > kMaxIdentityLength)
        return fail(what + " pattern " + quote(text) + " is longer than 512 characters");
      if (std::any_of(text.begin(), text.end(), is_control_or_space))
        return fail(what + " pattern " + quote(text) +
                    " contains whitespace or control characters, which Kubernetes identities never hold");
      return Status::Ok();
    case Subject::Namespace:
      return check_dns_label(text, "namespace pattern", true);
    case Subject::LabelKey:
      if (text.size() > kMaxLabelKeyLength)
        return fail(what + " pattern " + quote(text) + " is longer than 317 characters");
      for (char c : text) {
        if (!is_alnum(c) && c != '-' && c != '_' && c != '.' && c != '/' && c != '*')
          return fail(what + " pattern " + quote(text) +
                      " may hold only letters, digits, '-', '_', '.', '/' and '*'");
      }
      if (std::count(text.begin(), text.end(), '/') > 1)
        return fail(what + " pattern " + quote(text) + " has more than one '/' (write prefix/name)");
      return Status::Ok();
  }
  return Status::Ok();
}

Status check_namespace_name(std::string_view text) {
  if (text.empty()) return fail("empty namespace");
  if (auto s = check_dns_label(text, "namespace", false); !s) return s;
  if (text.front() == '-' || text.back() == '-')
    return fail("namespace " + quote(text) + " must start and end with a letter or digit");
  return Status::Ok();
}

namespace {
// A DNS-1123 subdomain, as Kubernetes names most objects; `what` names it in the message.
Status check_subdomain(std::string_view text, const std::string& what) {
  if (text.empty()) return fail("empty " + what);
  if (text.size() > 253) return fail(what + " " + quote(text) + " is longer than 253 characters");
  for (char c : text) {
    if (!is_lower_alnum(c) && c != '-' && c != '.')
      return fail(what + " " + quote(text) + " may hold only lowercase letters, digits, '-' and '.'");
  }
  if (!is_lower_alnum(text.front()) || !is_lower_alnum(text.back()))
    return fail(what + " " + quote(text) + " must start and end with a letter or digit");
  return Status::Ok();
}
}  // namespace

Status check_policy_name(std::string_view text) { return check_subdomain(text, "policy name"); }
Status check_application_name(std::string_view text) { return check_subdomain(text, "Application name"); }

Status check_agent_name(std::string_view text) {
  if (text.empty()) return fail("empty agent name");
  if (text.size() > 63) return fail("agent name " + quote(text) + " is longer than 63 characters");
  for (char c : text) {
    if (!is_alnum(c) && c != '-' && c != '_' && c != '.')
      return fail("agent name " + quote(text) + " may hold only letters, digits, '-', '_' and '.'");
  }
  return Status::Ok();
}

namespace {

// The rules of git-check-ref-format that matter here; a leading '-' could pass for an option.
Status check_ref_name(std::string_view text, const std::string& what) {
  auto bad = [&](std::string_view why) { return fail(what + " " + quote(text) + " " + std::string(why)); };
  if (text.empty()) return fail("empty " + what);
  if (text.size() > 255) return bad("is longer than 255 characters");
  if (text.front() == '-') return bad("must not start with '-'");
  if (text.front() == '/' || text.back() == '/' || text.back() == '.')
    return bad("must not start or end with '/' or end with '.'");
  if (text.find("..") != std::string_view::npos || text.find("//") != std::string_view::npos ||
      text.find("@{") != std::string_view::npos)
    return bad("must not contain '..', '//' or '@{'");
  if (text.size() >= 5 && text.substr(text.size() - 5) == ".lock") return bad("must not end with '.lock'");
  for (char c : text) {
    if (is_control_or_space(c) || c == '~' || c == '^' || c == ':' || c == '?' || c == '*' || c == '[' ||
        c == '\\')
      return bad("must not contain whitespace, control characters or any of ~ ^ : ? * [ \\");
  }
  return Status::Ok();
}

}  // namespace

Status check_branch(std::string_view text) { return check_ref_name(text, "branch"); }
Status check_tag(std::string_view text) { return check_ref_name(text, "tag"); }

Status check_commit(std::string_view text) {
  if (text.size() != 40 || !std::all_of(text.begin(), text.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }))
    return fail("commit " + quote(text) + " is not a commit id: 40 hexadecimal digits (`git rev-parse <ref>` prints it)");
  return Status::Ok();
}

Status check_repo_path(std::string_view text) {
  if (text.empty()) return fail("empty path (use '.' for the repository root)");
  if (text.size() > kMaxPathLength) return fail("path " + quote(text) + " is longer than 1024 characters");
  if (text.front() == '/') return fail("path " + quote(text) + " must be relative to the repository root");
  if (std::any_of(text.begin(), text.end(), [](char c) { return c == '\0' || c == '\n' || c == '\r'; }))
    return fail("path " + quote(text) + " contains control characters");
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('/', start);
    if (end == std::string_view::npos) end = text.size();
    if (text.substr(start, end - start) == "..")
      return fail("path " + quote(text) + " must stay inside the repository (no '..')");
    start = end + 1;
  }
  return Status::Ok();
}

Status check_substitute_name(std::string_view text) {
  bool ok = !text.empty() && text.size() <= 253 && !std::isdigit(static_cast<unsigned char>(text.front())) &&
            std::all_of(text.begin(), text.end(), [](char c) { return is_alnum(c) || c == '_'; });
  if (!ok) return fail("variable name " + quote(text) + " must match [_a-zA-Z][_a-zA-Z0-9]*");
  return Status::Ok();
}

Status check_kube_version(std::string_view text) {
  // v1.31.2, 1.31, v1.30.4-eks-a737599: what `kubectl version` prints as the server's gitVersion.
  std::string_view rest = text.starts_with('v') ? text.substr(1) : text;
  size_t parts = 0;
  while (!rest.empty() && is_digit(rest.front())) {
    size_t digits = 0;
    while (digits < rest.size() && is_digit(rest[digits])) ++digits;
    ++parts;
    rest.remove_prefix(digits);
    if (parts == 3 || !rest.starts_with('.') || rest.size() < 2 || !is_digit(rest[1])) break;
    rest.remove_prefix(1);
  }
  bool suffix_ok = rest.empty() || ((rest.front() == '-' || rest.front() == '+') &&
                                    std::all_of(rest.begin(), rest.end(), [](char c) {
                                      return is_alnum(c) || c == '.' || c == '-' || c == '+';
                                    }));
  if (parts < 2 || !suffix_ok || text.size() > 64)
    return fail("Kubernetes version " + quote(text) + " must look like v1.31.2 (the server's gitVersion)");
  return Status::Ok();
}

Status check_api_version(std::string_view text) {
  // group/version, version (the core group) or group/version/Kind, as `kubectl api-versions` prints them.
  std::vector<std::string_view> parts;
  for (size_t at = 0; at <= text.size();) {
    size_t slash = text.find('/', at);
    if (slash == std::string_view::npos) slash = text.size();
    parts.push_back(text.substr(at, slash - at));
    at = slash + 1;
  }
  bool ok = text.size() <= 253 + 64 + 64 && parts.size() <= 3 &&
            std::none_of(parts.begin(), parts.end(), [](std::string_view p) { return p.empty(); });
  if (ok && parts.size() >= 2)
    ok = std::all_of(parts[0].begin(), parts[0].end(), [](char c) { return is_lower_alnum(c) || c == '.' || c == '-'; });
  if (ok) {
    std::string_view version = parts.size() == 1 ? parts[0] : parts[1];
    ok = version.front() == 'v' && std::all_of(version.begin(), version.end(), is_lower_alnum);
  }
  if (ok && parts.size() == 3) ok = std::all_of(parts[2].begin(), parts[2].end(), is_alnum);
  if (!ok)
    return fail("API version " + quote(text) +
                " must be group/version or group/version/Kind (monitoring.coreos.com/v1, "
                "monitoring.coreos.com/v1/ServiceMonitor), as `kubectl api-versions` prints them");
  return Status::Ok();
}

Status check_file_path(std::string_view text) {
  if (text.empty()) return fail("empty path");
  if (text.size() > kMaxStringLength) return fail("path is longer than 4096 characters");
  if (std::any_of(text.begin(), text.end(), [](char c) { return c == '\0' || c == '\n' || c == '\r'; }))
    return fail("path " + quote(text) + " contains control characters");
  return Status::Ok();
}

Result<GitUrl> check_git_url(std::string_view text) {
  if (text.empty()) return fail("empty URL");
  if (text.size() > kMaxStringLength) return fail("URL is longer than 4096 characters");
  if (std::any_of(text.begin(), text.end(), is_control_or_space))
    return fail("URL contains whitespace or control characters");
  size_t colon = text.find("://");
  if (colon == std::string_view::npos) {
    // scp-like "git@github.com:org/repo.git": libgit2 accepts it, but the host key check and the
    // credentials lookup are clearer with one URL form.
    if (text.find(':') != std::string_view::npos)
      return fail("URL has no scheme: write scp-like addresses as ssh://user@host/path");
    return fail("URL has no scheme (use file://, https://, ssh:// or git://)");
  }
  GitUrl url;
  url.scheme = std::string(text.substr(0, colon));
  static constexpr std::array<std::string_view, 5> kSchemes{"file", "https", "http", "ssh", "git"};
  if (std::find(kSchemes.begin(), kSchemes.end(), url.scheme) == kSchemes.end())
    return fail("URL scheme " + quote(url.scheme) + " is not supported (use file, https, http, ssh or git)");
  std::string_view rest = text.substr(colon + 3);
  std::string_view authority = rest.substr(0, rest.find('/'));
  size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    // Over HTTP even a bare user part is usually a token; over SSH a user name is normal, a password not.
    if (url.scheme != "ssh" || userinfo.find(':') != std::string_view::npos)
      return fail("URL embeds credentials (" + url.scheme +
                  "://***@...): never put secrets in a policy; put them in the spec.source.credentials "
                  "directory");
    authority.remove_prefix(at + 1);
  }
  if (url.scheme != "file" && authority.empty()) return fail("URL has no host");
  if ((url.scheme == "https" || url.scheme == "http") && rest.find_first_of("?#") != std::string_view::npos)
    return fail(
        "URL must not carry a query or fragment (tokens belong in the spec.source.credentials directory)");
  return url;
}

Status check_oci_url(std::string_view text) {
  if (text.size() > kMaxStringLength) return fail("URL is longer than 4096 characters");
  if (!text.starts_with("oci://")) return fail("URL " + quote(text) + " is not an oci:// URL");
  std::string_view rest = text.substr(6);
  size_t slash = rest.find('/');
  std::string_view host = rest.substr(0, slash);
  if (host.empty() || slash == std::string_view::npos || slash + 1 == rest.size())
    return fail("URL " + quote(text) + " needs a host and a repository: oci://registry.example.com/org/app");
  if (host.find('@') != std::string_view::npos)
    return fail("URL embeds credentials (oci://***@...): put them in the credentials directory");
  for (char c : rest.substr(slash + 1)) {
    bool allowed = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == '/';
    if (!allowed)
      return fail("URL " + quote(text) + ": an OCI repository is lower-case letters, digits and . _ - / (a tag or "
                  "digest goes in tag, semver or digest)");
  }
  for (char c : host)
    if (is_control_or_space(c) || c == '?' || c == '#') return fail("URL " + quote(text) + " has an invalid host");
  return Status::Ok();
}

Status check_digest(std::string_view text) {
  if (text.size() != 71 || !text.starts_with("sha256:") ||
      !std::all_of(text.begin() + 7, text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }))
    return fail("digest " + quote(text) + " is not sha256: and 64 lower-case hexadecimal digits");
  return Status::Ok();
}

Result<uint64_t> parse_byte_size(std::string_view text) {
  auto bad = [&] {
    return fail("invalid size " + quote(text) + " (use bytes, or a quantity like 512Ki, 1Mi, 10M)");
  };
  size_t digits = 0;
  uint64_t value = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) {
    if (value > std::numeric_limits<uint64_t>::max() / 10 - 9) return bad();
    value = value * 10 + static_cast<uint64_t>(text[digits] - '0');
    ++digits;
  }
  if (digits == 0) return bad();
  std::string_view suffix = text.substr(digits);
  static constexpr std::array<std::pair<std::string_view, uint64_t>, 7> kUnits{{{"", 1},
                                                                                {"Ki", 1ull << 10},
                                                                                {"Mi", 1ull << 20},
                                                                                {"Gi", 1ull << 30},
                                                                                {"k", 1000},
                                                                                {"M", 1000000},
                                                                                {"G", 1000000000}}};
  for (const auto& [unit, multiplier] : kUnits) {
    if (suffix == unit) {
      if (value > std::numeric_limits<uint64_t>::max() / multiplier) return bad();
      return value * multiplier;
    }
  }
  return bad();
}

std::optional<bool> intersects(const Pattern& a, const Pattern& b, uint64_t& budget) {
  auto prefix_only = [](const Pattern& p) {
    const std::string& t = p.text();
    return !t.empty() && t.find('*') == t.size() - 1;
  };
  const std::string& x = a.text();
  const std::string& y = b.text();
  uint64_t sum = x.size() + y.size() + 1;
  uint64_t product = (x.size() + 1) * (y.size() + 1);
  // Literals and "prefix*" patterns, the usual case, are settled in linear time.
  bool fast = (a.is_literal() && (b.is_literal() || prefix_only(b))) || (b.is_literal() && prefix_only(a)) ||
              (prefix_only(a) && prefix_only(b));
  uint64_t cost = fast ? sum : (a.is_literal() || b.is_literal()) ? product : 8 * product;
  if (cost > budget) return std::nullopt;
  budget -= cost;
  if (a.is_literal()) return b.matches(x);
  if (b.is_literal()) return a.matches(y);
  if (prefix_only(a) && prefix_only(b)) {
    size_t common = std::min(x.size(), y.size()) - 1;
    return x.compare(0, common, y, 0, common) == 0;
  }
  return Pattern::intersects(a, b);
}

std::string_view closest(std::string_view word, std::span<const std::string_view> candidates) {
  std::string folded_word = folded(word);
  std::string_view best;
  size_t best_distance = std::numeric_limits<size_t>::max();
  for (std::string_view candidate : candidates) {
    size_t distance = 0;
    if (folded(candidate) != folded_word) {
      // The distance is at least the difference in length, and more than 2 is never suggested.
      if (std::max(word.size(), candidate.size()) - std::min(word.size(), candidate.size()) > 2) continue;
      distance = edit_distance(word, candidate);
    }
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  size_t allowed = word.size() <= 4 ? 1 : 2;
  return best_distance <= allowed ? best : std::string_view{};
}

}  // namespace syntax

Result<KindPattern> parse_kind_pattern(std::string_view text) {
  using syntax::quote;
  auto bad = [&](std::string_view why) {
    return Error{"kind pattern " + quote(text) + " " + std::string(why) +
                 " (write Kind, group/Kind, group/version/Kind, v1/Kind for the core group, or '*')"};
  };
  if (text.empty()) return Error{"empty kind pattern (use '*' for every kind)"};
  if (text.size() > 320) return bad("is longer than 320 characters");
  if (text.find("**") != std::string_view::npos) return bad("contains '**'");
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t slash = text.find('/', start);
    parts.push_back(
        text.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (parts.size() > 3) return bad("has more than three parts");
  if (std::any_of(parts.begin(), parts.end(), [](std::string_view p) { return p.empty(); }))
    return bad("has an empty part");

  KindPattern out;
  out.text = std::string(text);
  std::string_view kind = parts.back();
  if (kind != "*" && !(kind.front() >= 'A' && kind.front() <= 'Z') && kind.front() != '*')
    return bad(
        "must end in a Kind such as 'Deployment' (kinds start with a capital; 'deployments' is a resource "
        "name)");
  if (!std::all_of(kind.begin(), kind.end(), [](char c) { return syntax::is_alnum(c) || c == '*'; }))
    return bad("has a kind with characters other than letters, digits and '*'");
  out.kind = Pattern(std::string(kind));

  if (parts.size() == 1) {
    out.any_group = true;
    return out;
  }
  std::string_view group = parts[0];
  if (parts.size() == 3) {
    std::string_view version = parts[1];
    if (version != "*" && !syntax::looks_like_version(version))
      return bad("has " + quote(version) + " where a version such as v1 or v1beta1 belongs");
  }
  if (group == "core" || (parts.size() == 2 && group == "v1")) {
    out.group = Pattern("");
    return out;
  }
  if (syntax::looks_like_version(group))
    return bad("starts with the version " + quote(group) +
               ": only the core group is written v1/Kind; other groups need group/Kind");
  if (!std::all_of(group.begin(), group.end(),
                   [](char c) { return syntax::is_lower_alnum(c) || c == '.' || c == '-' || c == '*'; }))
    return bad("has a group with characters other than lowercase letters, digits, '.', '-' and '*'");
  out.group = Pattern(std::string(group));
  return out;
}

Result<PathPattern> parse_path_pattern(std::string_view text) {
  using syntax::quote;
  if (text.empty()) return Error{"empty path (write a JSON pointer such as /spec/replicas)"};
  if (text.size() > syntax::kMaxPathLength)
    return Error{"path " + quote(text) + " is longer than 1024 characters"};
  if (text.front() != '/') {
    std::string hint = std::string(text);
    std::replace(hint.begin(), hint.end(), '.', '/');
    return Error{"path " + quote(text) + " must be a JSON pointer starting with '/' (e.g. " +
                 quote("/" + hint) + ")"};
  }
  PathPattern out;
  out.text = std::string(text);
  size_t start = 1;
  while (true) {
    size_t slash = text.find('/', start);
    std::string_view raw =
        text.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (raw.empty())
      return Error{"path " + quote(text) + " has an empty segment (remove the doubled or trailing '/')"};
    std::string segment;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '~') {
        segment += raw[i];
        continue;
      }
      if (i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
        segment += raw[i + 1] == '0' ? '~' : '/';
        ++i;
        continue;
      }
      return Error{"path " + quote(text) + " has a '~' that is not '~0' (for '~') or '~1' (for '/')"};
    }
    if (segment != "*" && raw.find('*') != std::string_view::npos)
      return Error{"path " + quote(text) +
                   " has '*' inside a segment: '*' must be a whole segment (any key or item)"};
    out.segments.push_back(std::move(segment));
    if (out.segments.size() > syntax::kMaxPathSegments)
      return Error{"path " + quote(text) + " has more than 64 segments"};
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return out;
}

}  // namespace gitgate::policies
