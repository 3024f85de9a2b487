#include "policies/loader.h"

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <system_error>
#include <tuple>

#include "policies/policy_yaml.h"
#include "policies/syntax.h"

namespace gitgate::policies {
namespace fs = std::filesystem;

std::string Diagnostic::to_string() const {
  std::string out = file;
  if (line != 0) {
    out += ":" + std::to_string(line);
    if (column != 0) out += ":" + std::to_string(column);
  }
  return out + ": " + message;
}

namespace {

using syntax::quote;

// Work allowed for the pairwise scope comparison of all policies of one load (see syntax::intersects):
// a thousand tenants with literal or prefix patterns need a few percent of it.
constexpr uint64_t kOverlapCheckBudget = 100'000'000;
// Entries read from one directory before giving up on it (most are not policy files).
constexpr size_t kMaxDirectoryEntries = 100'000;

const KindPattern& any_kind() {
  static const KindPattern kAny{"*", true, Pattern(""), Pattern("*")};
  return kAny;
}

std::string describe_kinds(const KindPattern& a, const KindPattern& b) {
  if (a.text == "*" && b.text == "*") return "of every kind";
  if (a.text == b.text) return "of kind " + quote(a.text);
  return "of kinds " + quote(a.text) + " and " + quote(b.text);
}

// Finds a (namespace or cluster scope, kind) governed by both scopes, as a phrase for the message, within
// a work budget shared by all pairs of one load.
class OverlapCheck {
 public:
  explicit OverlapCheck(uint64_t budget) : budget_(budget) {}

  bool exhausted() const { return exhausted_; }

  std::optional<std::string> witness(const Scope& a, const Scope& b) {
    auto kinds = kinds_meet(a, b);
    if (!kinds) return std::nullopt;
    if (auto ns = namespaces_meet(a, b)) return *ns + " " + *kinds;
    if (a.cluster_scoped && b.cluster_scoped) return "cluster-scoped objects " + *kinds;
    return std::nullopt;
  }

 private:
  bool meets(const Pattern& x, const Pattern& y) {
    if (exhausted_) return false;
    auto result = syntax::intersects(x, y, budget_);
    if (!result) exhausted_ = true;
    return result.value_or(false);
  }

  bool covers(const Pattern& wide, const Pattern& narrow) {
    uint64_t cost = wide.text().size() + narrow.text().size() + 1;
    if (exhausted_ || cost > budget_) {
      exhausted_ = true;
      return false;
    }
    budget_ -= cost;
    // Pattern::covers needs a non-empty wide pattern; the loader never builds empty ones.
    return !wide.text().empty() && Pattern::covers(wide, narrow);
  }

  std::optional<std::string> kinds_meet(const Scope& a, const Scope& b) {
    static const std::vector<KindPattern> kEvery{any_kind()};
    const auto& as = a.kinds.empty() ? kEvery : a.kinds;
    const auto& bs = b.kinds.empty() ? kEvery : b.kinds;
    for (const auto& x : as) {
      for (const auto& y : bs) {
        bool groups = x.any_group || y.any_group || meets(x.group, y.group);
        if (groups && meets(x.kind, y.kind)) return describe_kinds(x, y);
        if (exhausted_) return std::nullopt;
      }
    }
    return std::nullopt;
  }

  std::optional<std::string> namespaces_meet(const Scope& a, const Scope& b) {
    for (const auto& x : a.include) {
      for (const auto& y : b.include) {
        if (!meets(x, y)) {
          if (exhausted_) return std::nullopt;
          continue;
        }
        bool resolved = false;
        for (const auto* excludes : {&a.exclude, &b.exclude}) {
          for (const auto& e : *excludes) resolved = resolved || covers(e, x) || covers(e, y);
        }
        if (exhausted_) return std::nullopt;
        if (resolved) continue;
        if (x.text() == y.text()) return "namespaces " + quote(x.text());
        return "namespaces matching both " + quote(x.text()) + " and " + quote(y.text());
      }
    }
    return std::nullopt;
  }

  uint64_t budget_;
  bool exhausted_ = false;
};

bool is_policy_file_name(const std::string& name) {
  auto ends_with = [&](std::string_view suffix) {
    return name.size() > suffix.size() &&
           name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return !name.empty() && name.front() != '.' && (ends_with(".yaml") || ends_with(".yml"));
}

class Loader {
 public:
  void add_text(std::string_view file, std::string_view text) {
    note_file(std::string(file));
    ++files_read_;
    detail::decode_policy_file(file, text, policies_, errors_);
  }

  void add_path(const std::string& path) {
    std::error_code ec;
    fs::file_status status = fs::status(path, ec);
    if (ec || !fs::exists(status)) {
      error(path, "no such file or directory");
    } else if (fs::is_directory(status)) {
      add_directory(path);
    } else if (fs::is_regular_file(status)) {
      add_file(path, path);
    } else {
      error(path, "not a regular file or a directory");
    }
  }

  LoadResult finish() {
    if (policies_.size() > kMaxPolicies) {
      const auto& extra = policies_[kMaxPolicies];
      error_at(extra, "more than " + std::to_string(kMaxPolicies) + " policies; merge some");
      policies_.resize(kMaxPolicies);
    }
    check_names();
    check_overlaps();
    auto position = [&](const std::string& file) {
      auto it = order_.find(file);
      return it == order_.end() ? order_.size() : it->second;
    };
    std::stable_sort(errors_.begin(), errors_.end(), [&](const Diagnostic& x, const Diagnostic& y) {
      return std::tuple(position(x.file), x.line, x.column) < std::tuple(position(y.file), y.line, y.column);
    });
    if (errors_.size() > kMaxDiagnostics) {
      std::string file = errors_[kMaxDiagnostics - 1].file;
      errors_.resize(kMaxDiagnostics);
      errors_.push_back(Diagnostic{
          std::move(file), 0, 0,
          "more problems not listed (only the first " + std::to_string(kMaxDiagnostics) + " are shown)"});
    }
    LoadResult result;
    result.errors = std::move(errors_);
    result.files = files_read_;
    if (result.ok()) {
      for (auto& p : policies_) result.set.policies.push_back(std::move(p.policy));
    }
    return result;
  }

 private:
  void note_file(const std::string& file) { order_.emplace(file, order_.size()); }

  void error(const std::string& file, std::string message) {
    note_file(file);
    errors_.push_back(Diagnostic{file, 0, 0, std::move(message)});
  }

  void error_at(const detail::DecodedPolicy& p, std::string message) {
    errors_.push_back(Diagnostic{p.policy.file, p.policy.line, p.name_column, std::move(message)});
  }

  void add_directory(const std::string& dir) {
    std::vector<std::string> names;
    std::error_code ec;
    size_t seen = 0;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (++seen > kMaxDirectoryEntries) {
        error(dir, "more than " + std::to_string(kMaxDirectoryEntries) +
                       " directory entries; not a policy directory");
        return;
      }
      std::string name = it->path().filename().string();
      // Dotfiles include a ConfigMap volume's "..data" and "..2026_01_01_..." internals.
      if (!is_policy_file_name(name)) continue;
      std::error_code status_error;
      // Follows a top-level symlink (ConfigMap volume files link into ..data/); a dangling one is skipped.
      fs::file_status status = fs::status(it->path(), status_error);
      if (status_error || !fs::is_regular_file(status)) continue;
      names.push_back(std::move(name));
    }
    if (ec) {
      error(dir, "cannot list the directory: " + ec.message());
      return;
    }
    if (names.size() > kMaxPolicyFiles) {
      error(dir, "more than " + std::to_string(kMaxPolicyFiles) + " policy files");
      return;
    }
    std::sort(names.begin(), names.end());
    for (const auto& name : names) add_file(fs::path(dir) / name, (fs::path(dir) / name).string());
  }

  void add_file(const fs::path& path, const std::string& display) {
    std::error_code ec;
    fs::path canonical = fs::weakly_canonical(path, ec);
    if (!ec && !loaded_.insert(canonical.string()).second) return;  // named twice (a file and its directory)
    note_file(display);
    if (total_exceeded_) return;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      error(display, "cannot read the file: " + std::error_code(errno, std::generic_category()).message());
      return;
    }
    std::string text(kMaxPolicyFileBytes + 1, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<size_t>(in.gcount()));
    if (in.bad()) {
      error(display, "cannot read the file");
      return;
    }
    ++files_read_;
    bytes_read_ += text.size();
    if (bytes_read_ > kMaxPolicyBytesTotal) {
      total_exceeded_ = true;
      error(display, "policy files total more than 16 MiB; this and later files were not read");
      return;
    }
    detail::decode_policy_file(display, text, policies_, errors_);
  }

  void check_names() {
    std::map<std::string, const detail::DecodedPolicy*> first;
    for (const auto& p : policies_) {
      if (errors_.size() > kMaxDiagnostics) return;
      auto [it, inserted] = first.emplace(p.policy.name, &p);
      if (!inserted) {
        error_at(p, "metadata.name: duplicate policy name " + quote(p.policy.name) + " (first defined at " +
                        it->second->policy.file + ":" + std::to_string(it->second->policy.line) + ")");
      }
    }
  }

  void check_overlaps() {
    OverlapCheck check(kOverlapCheckBudget);
    for (size_t i = 0; i < policies_.size(); ++i) {
      const auto& a = policies_[i];
      if (!a.scope_valid) continue;
      for (size_t j = i + 1; j < policies_.size(); ++j) {
        const auto& b = policies_[j];
        if (!b.scope_valid) continue;
        if (errors_.size() > kMaxDiagnostics) return;  // enough to act on; finish() says more exist
        auto witness = check.witness(a.policy.scope, b.policy.scope);
        if (check.exhausted()) {
          error_at(a, "too many scope patterns to check policies for overlaps; use fewer, broader patterns");
          return;
        }
        if (!witness) continue;
        auto report = [&](const detail::DecodedPolicy& here, const detail::DecodedPolicy& there) {
          error_at(here, "policy " + quote(here.policy.name) + " overlaps policy " +
                             quote(there.policy.name) + " (" + there.policy.file + ":" +
                             std::to_string(there.policy.line) + "): both govern " + *witness +
                             "; make the scopes disjoint (spec.scope.namespaces.exclude or kinds)");
        };
        report(a, b);
        report(b, a);
      }
    }
  }

  std::vector<detail::DecodedPolicy> policies_;
  std::vector<Diagnostic> errors_;
  std::map<std::string, size_t> order_;  // file → position in load order, to sort the diagnostics
  std::set<std::string> loaded_;
  size_t files_read_ = 0;
  size_t bytes_read_ = 0;
  bool total_exceeded_ = false;
};

// The loader's own code reports problems as diagnostics; this catches what the standard library may still
// throw (out of memory, filesystem surprises), so nothing escapes.
template <class Load>
LoadResult guarded(std::string_view name, Load load) {
  try {
    return load();
  } catch (const std::exception& e) {
    LoadResult result;
    result.errors.push_back(
        Diagnostic{std::string(name), 0, 0, std::string("cannot load policies: ") + e.what()});
    return result;
  }
}

}  // namespace

LoadResult load_policies_from_text(std::string_view file_name, std::string_view text) {
  return guarded(file_name, [&] {
    Loader loader;
    loader.add_text(file_name, text);
    return loader.finish();
  });
}

LoadResult load_policies(const std::string& path) {
  return load_policies(std::vector<std::string>{path});
}

LoadResult load_policies(const std::vector<std::string>& paths) {
  return guarded(paths.empty() ? std::string_view("policies") : std::string_view(paths.front()), [&] {
    Loader loader;
    for (const auto& path : paths) loader.add_path(path);
    return loader.finish();
  });
}

bool scopes_overlap(const Scope& a, const Scope& b) {
  OverlapCheck check(std::numeric_limits<uint64_t>::max());
  return check.witness(a, b).has_value();
}

}  // namespace gitgate::policies
