// Selecting and summarizing audit records for `gitgate audit query|summary`.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "audit/record.h"
#include "core/pattern.h"
#include "core/result.h"

namespace gitgate::audit {

struct Filter {
  std::optional<int64_t> since_us;  // inclusive
  std::optional<int64_t> until_us;  // exclusive
  std::string decision;             // allow | deny | warn; empty: any
  std::optional<Pattern> user;      // '*' wildcards
  std::optional<Pattern> ns;
  std::optional<Pattern> kind;  // matches the kind or the resource, ignoring case
  std::optional<Pattern> name;
  std::string commit;  // a prefix of the snapshot commit or of the file's last-change commit
  std::optional<Pattern> peer;  // matches the TLS peer's address or its certificate's subject

  bool matches(const Record& record) const;
};

// "24h" (that long before `now_us`) or an RFC 3339 time.
Result<int64_t> parse_time_bound(std::string_view text, int64_t now_us);

// Builds a filter from the command line's texts; errors say which flag is wrong.
struct FilterFlags {
  std::string since, until, decision, user, ns, kind, name, commit, peer;
};
Result<Filter> make_filter(const FilterFlags& flags, int64_t now_us);

struct Summary {
  uint64_t records = 0;
  int64_t first_time_us = 0;
  int64_t last_time_us = 0;
  std::map<std::string, uint64_t> by_decision;
  std::map<std::string, uint64_t> by_reason;
  std::map<std::string, uint64_t> by_user;
  std::map<std::string, uint64_t> by_namespace;
  std::map<std::string, uint64_t> denied_objects;  // "Kind namespace/name" (or "Kind name")

  void add(const Record& record);
};

// The `n` largest counts, largest first, ties by name.
std::vector<std::pair<std::string, uint64_t>> top(const std::map<std::string, uint64_t>& counts, size_t n);

// What a reader of many files met besides records.
struct ReadProblem {
  std::string file;
  uint64_t line = 0;
  std::string what;
};

// Reads `files` in chain order and calls `visit` for each decision's record that parses (gap records are
// not decisions: skipped); malformed lines are collected in `problems` and skipped. Errors are I/O problems.
Status read_records(const std::vector<std::string>& files,
                    const std::function<void(const LoggedRecord&, std::string_view line)>& visit,
                    std::vector<ReadProblem>& problems);

}  // namespace gitgate::audit
