#include "audit/query.h"

#include <algorithm>
#include <cctype>

#include "audit/reader.h"
#include "audit/timestamp.h"
#include "core/duration.h"

namespace gitgate::audit {
namespace {

std::string lowercase(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

}  // namespace

bool Filter::matches(const Record& r) const {
  if (since_us && r.time_us < *since_us) return false;
  if (until_us && r.time_us >= *until_us) return false;
  if (!decision.empty() && r.decision != decision) return false;
  if (user && !user->matches(r.user)) return false;
  if (ns && !ns->matches(r.ns)) return false;
  if (name && !name->matches(r.name)) return false;
  if (kind && !kind->matches(lowercase(r.kind)) && !kind->matches(lowercase(r.resource))) return false;
  if (!commit.empty() && !r.commit.starts_with(commit) && !r.file_commit.starts_with(commit)) return false;
  if (peer && !peer->matches(r.peer) && !peer->matches(r.peer_subject)) return false;
  return true;
}

Result<int64_t> parse_time_bound(std::string_view text, int64_t now_us) {
  if (!text.empty() && text.find_first_of("-:") == std::string_view::npos) {
    auto duration = parse_duration(text);
    if (!duration) return std::move(duration).take_error();
    return now_us - duration->count();
  }
  return parse_rfc3339(text);
}

Result<Filter> make_filter(const FilterFlags& flags, int64_t now_us) {
  Filter f;
  if (!flags.since.empty()) {
    auto t = parse_time_bound(flags.since, now_us);
    if (!t) return Error{"--since: " + t.error()};
    f.since_us = *t;
  }
  if (!flags.until.empty()) {
    auto t = parse_time_bound(flags.until, now_us);
    if (!t) return Error{"--until: " + t.error()};
    f.until_us = *t;
  }
  if (!flags.decision.empty() && flags.decision != "allow" && flags.decision != "deny" &&
      flags.decision != "warn") {
    return Error{"--decision: '" + flags.decision + "' is not one of allow, deny, warn"};
  }
  f.decision = flags.decision;
  if (!flags.user.empty()) f.user.emplace(flags.user);
  if (!flags.ns.empty()) f.ns.emplace(flags.ns);
  if (!flags.kind.empty()) f.kind.emplace(lowercase(flags.kind));
  if (!flags.name.empty()) f.name.emplace(flags.name);
  f.commit = lowercase(flags.commit);
  if (!flags.peer.empty()) f.peer.emplace(flags.peer);
  return f;
}

void Summary::add(const Record& r) {
  if (records == 0 || r.time_us < first_time_us) first_time_us = r.time_us;
  if (records == 0 || r.time_us > last_time_us) last_time_us = r.time_us;
  ++records;
  ++by_decision[r.decision];
  ++by_reason[r.reason.empty() ? "(none)" : r.reason];
  ++by_user[r.user.empty() ? "(none)" : r.user];
  ++by_namespace[r.ns.empty() ? "(cluster)" : r.ns];
  if (r.decision == "deny") {
    std::string object = r.kind.empty() ? r.resource : r.kind;
    object += ' ';
    if (!r.ns.empty()) object += r.ns + "/";
    object += r.name;
    if (!r.subresource.empty()) object += " (" + r.subresource + ")";
    ++denied_objects[object];
  }
}

std::vector<std::pair<std::string, uint64_t>> top(const std::map<std::string, uint64_t>& counts, size_t n) {
  std::vector<std::pair<std::string, uint64_t>> out(counts.begin(), counts.end());
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  if (out.size() > n) out.resize(n);
  return out;
}

Status read_records(const std::vector<std::string>& files,
                    const std::function<void(const LoggedRecord&, std::string_view line)>& visit,
                    std::vector<ReadProblem>& problems) {
  auto ordered = order_by_chain(files);
  if (!ordered) return Error{ordered.error()};
  RecordParser parser;
  LoggedRecord record;  // reused: a million records need not allocate a million times
  for (const auto& path : *ordered) {
    auto reader = LogFileReader::open(path);
    if (!reader) return Error{reader.error()};
    LogLine line;
    while (reader->next(line)) {
      if (line.too_long) {
        problems.push_back({path, line.number, "line longer than 1 MiB"});
        continue;
      }
      if (!line.terminated) {
        problems.push_back({path, line.number, "unfinished last line (an interrupted write)"});
        continue;
      }
      if (Status parsed = parser.parse_into(line.text, record); !parsed) {
        problems.push_back({path, line.number, parsed.error()});
        continue;
      }
      if (record.gap) continue;  // not a decision: `gitgate audit verify` reports it
      visit(record, line.text);
    }
    if (!reader->error().empty()) return Error{reader->error()};
  }
  return {};
}

}  // namespace gitgate::audit
