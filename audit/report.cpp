#include "audit/report.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <future>
#include <limits>
#include <utility>

#include "audit/html.h"
#include "audit/timestamp.h"

namespace gitgate::audit {
namespace {

using html::append_text;

// Bucket widths of the chart in µs, each a multiple of the one before, so buckets merge exactly when
// the builder coarsens them: 1 ms ... 1 s, 5 s, 10 s, 30 s, 1 min, 5 min, 15 min, 30 min, 1 h, 3 h, 6 h,
// 12 h, 1 day, 7 days, 28 days, 364 days.
constexpr std::array<int64_t, 19> kWidths{
    1'000,          10'000,          100'000,           1'000'000,         5'000'000,
    10'000'000,     30'000'000,      60'000'000,        300'000'000,       900'000'000,
    1'800'000'000,  3'600'000'000,   10'800'000'000,    21'600'000'000,    43'200'000'000,
    86'400'000'000, 604'800'000'000, 2'419'200'000'000, 31'449'600'000'000};
constexpr size_t kMaxStoredBuckets = 4096;  // past this the builder merges buckets into wider ones
constexpr int64_t kMaxBars = 120;
constexpr size_t kMaxCommitMarks = 40;
constexpr size_t kMaxProblemsListed = 20;

// Each list has a byte budget so the whole page stays under 5 MB whatever the records hold: 2.5 MiB of
// records, 768 KiB for each list of events, and the rest is bounded by counts.
constexpr size_t kEventsBudget = 768 << 10;
constexpr size_t kTableBudget = (5 << 20) / 2;

// Cuts (in characters) of record fields in table cells.
constexpr size_t kCutShort = 80;
constexpr size_t kCutObject = 160;
constexpr size_t kCutMessage = 400;
constexpr size_t kCutPaths = 8;

constexpr std::string_view kStyle = R"css(
:root{--allow:#2e7d32;--deny:#c62828;--warn:#e08600;--glass:#6a1b9a;--commit:#1565c0;--line:#e3e6ea;--muted:#5f6b76}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1d232a;background:#f4f5f7}
header{background:#1d232a;color:#fff;padding:14px 24px}
header h1{margin:0;font-size:20px;font-weight:600}
header p{margin:4px 0 0;color:#c9d1d9}
main{padding:16px 24px;max-width:1400px}
section{background:#fff;border:1px solid var(--line);border-radius:6px;padding:12px 16px;margin:0 0 16px;overflow-x:auto}
h2{font-size:16px;margin:0 0 10px}
h3{font-size:14px;margin:14px 0 6px}
p{margin:6px 0}
.muted{color:var(--muted)}
.mono,code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;font-size:12px}
.banner{padding:8px 12px;border-radius:4px;font-weight:600;margin:0 0 8px}
.intact{background:#e8f5e9;color:#1b5e20;border:1px solid #a5d6a7}
.broken{background:#ffebee;color:#b71c1c;border:1px solid #ef9a9a}
.tiles{display:flex;flex-wrap:wrap;gap:10px}
.tile{border:1px solid var(--line);border-radius:4px;padding:6px 12px;min-width:110px}
.tile b{display:block;font-size:20px;font-variant-numeric:tabular-nums}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:16px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top}
td.u,td.msg,td.cite{overflow-wrap:anywhere}
td.msg{min-width:18em}
td.u{min-width:9em}
th{font-weight:600;white-space:nowrap}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.t{white-space:nowrap}
th button{all:unset;cursor:pointer}
th button:focus-visible{outline:2px solid var(--commit)}
th[aria-sort=ascending] button::after{content:" \25B2"}
th[aria-sort=descending] button::after{content:" \25BC"}
tr[hidden]{display:none}
tr.untrusted td{background:#fff3e0}
.badge{display:inline-block;padding:0 6px;border-radius:3px;color:#fff;font-size:12px;font-weight:600}
.allow{background:var(--allow)}.deny{background:var(--deny)}.warn{background:var(--warn)}.glass{background:var(--glass)}
.s0{fill:var(--allow)}.s1{fill:var(--deny)}.s2{fill:var(--warn)}.s3{fill:var(--glass)}
.bar{fill:#90a4ae}
svg text{font:11px system-ui,sans-serif;fill:var(--muted)}
.grid-line{stroke:var(--line)}
.commit line{stroke:var(--commit);stroke-dasharray:3 3}
.commit text{fill:var(--commit)}
.legend{display:flex;flex-wrap:wrap;gap:16px;margin:6px 0 0;padding:0;list-style:none}
.legend svg{vertical-align:middle;margin-right:4px}
input[type=search]{width:100%;max-width:420px;padding:5px 8px;border:1px solid #b0bac5;border-radius:4px;font:inherit}
a{color:var(--commit)}
)css";

constexpr std::string_view kScript = R"js(
(function () {
  'use strict';
  var table = document.getElementById('records');
  if (table) {
    var body = table.tBodies[0];
    var rows = Array.prototype.map.call(body.rows, function (row) {
      return { row: row, text: row.textContent.toLowerCase() };
    });
    var search = document.getElementById('search');
    var shown = document.getElementById('shown');
    search.addEventListener('input', function () {
      var terms = search.value.toLowerCase().split(/\s+/).filter(Boolean);
      var n = 0;
      rows.forEach(function (r) {
        var match = terms.every(function (t) { return r.text.indexOf(t) !== -1; });
        r.row.hidden = !match;
        if (match) n++;
      });
      shown.textContent = String(n);
    });
    var headers = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(headers, function (th, column) {
      var button = th.querySelector('button');
      if (!button) return;
      button.addEventListener('click', function () {
        var ascending = th.getAttribute('aria-sort') !== 'ascending';
        Array.prototype.forEach.call(headers, function (h) { h.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
        var key = function (r) {
          var cell = r.row.cells[column];
          return cell.getAttribute('data-v') || cell.textContent.toLowerCase();
        };
        rows.sort(function (a, b) {
          var x = key(a), y = key(b);
          return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
        });
        var fragment = document.createDocumentFragment();
        rows.forEach(function (r) { fragment.appendChild(r.row); });
        body.appendChild(fragment);
      });
    });
  }
  document.documentElement.setAttribute('data-ready', 'yes');
})();
)js";

// 'sha256-<base64>' for the Content-Security-Policy: the page runs its own script and style and nothing
// else, so even text that slipped past escaping could not execute.
std::string csp_hash(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha256(), nullptr);
  unsigned char encoded[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
  int length = EVP_EncodeBlock(encoded, digest, static_cast<int>(size));
  return "'sha256-" + std::string(reinterpret_cast<const char*>(encoded), static_cast<size_t>(length)) + "'";
}

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

std::string with_commas(uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// "2026-11-23 10:00:00Z"; with milliseconds when asked.
std::string display_time(int64_t us, bool millis = false) {
  std::string t = format_rfc3339(us, millis);
  t[10] = ' ';
  if (millis) t.erase(23, 3);  // .123456Z -> .123Z
  return t;
}

std::string short_commit(std::string_view id) {
  return std::string(id.size() >= 40 ? id.substr(0, 7) : id);
}

std::string object_of(const Record& r) {
  std::string out = r.kind.empty() ? r.resource : r.kind;
  out += ' ';
  if (!r.ns.empty()) out += r.ns + "/";
  out += r.name;
  if (!r.subresource.empty()) out += " (" + r.subresource + ")";
  return out;
}

bool is_agent_mismatch(const Record& r) {
  return r.identity == "agent" && (r.violation || r.reason == "agent-delete-declared");
}

ReportBuilder::Series series_of(const Record& r) {
  if (r.identity == "break-glass" || r.reason == "break-glass") return ReportBuilder::kBreakGlass;
  if (r.decision == "deny") return ReportBuilder::kDeny;
  if (r.decision == "warn") return ReportBuilder::kWarn;
  return ReportBuilder::kAllow;
}

constexpr std::array<std::string_view, ReportBuilder::kSeries> kSeriesNames{"allow", "deny", "warn",
                                                                            "break-glass"};
constexpr std::array<std::string_view, ReportBuilder::kSeries> kSeriesClasses{"allow", "deny", "warn",
                                                                              "glass"};

template <class Map, class Count>
std::vector<std::pair<std::string, uint64_t>> top_of(const Map& counts, size_t n, Count count) {
  std::vector<std::pair<std::string, uint64_t>> out;
  out.reserve(counts.size());
  for (const auto& [name, value] : counts) out.emplace_back(name, count(value));
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (out.size() > n) out.resize(n);
  return out;
}

// Small helpers that write tags; every record string goes through append_text.
void open_section(std::string& out, std::string_view id, std::string_view title) {
  out += "<section id=\"";
  out += id;
  out += "\"><h2>";
  out += title;
  out += "</h2>";
}

void cell(std::string& out, std::string_view text, size_t cut = kCutShort, std::string_view css = {}) {
  out += css.empty() ? "<td>" : "<td class=\"" + std::string(css) + "\">";
  append_text(out, text, cut);
  out += "</td>";
}

// Who sent the review (schema 3): a record the API server did not send shows a stranger's address here.
void peer_line(std::string& out, const Record& r) {
  if (r.peer.empty() && r.peer_subject.empty()) return;
  out += "<br><span class=\"muted\">from ";
  append_text(out, r.peer, kCutShort);
  if (!r.peer_subject.empty()) {
    out += " (";
    append_text(out, r.peer_subject, kCutShort);
    out += ')';
  }
  out += "</span>";
}

void number_cell(std::string& out, uint64_t n) {
  out += "<td class=\"n\">" + with_commas(n) + "</td>";
}

void time_cell(std::string& out, int64_t us) {
  out += "<td class=\"t mono\" data-v=\"" + format_rfc3339(us) + "\">" + display_time(us, true) + "</td>";
}

void badge(std::string& out, ReportBuilder::Series s, std::string_view text) {
  out += "<span class=\"badge ";
  out += kSeriesClasses[s];
  out += "\">";
  append_text(out, text, 16);
  out += "</span>";
}

// "file:line @ sha", linked to the line in the Git host's web UI when the record has a safe link.
void citation(std::string& out, const Record& r) {
  if (r.file.empty()) {
    if (!r.commit.empty()) {
      out += "<span class=\"muted\">not declared @ </span><span class=\"mono\">";
      append_text(out, short_commit(r.commit), 64);
      out += "</span>";
    } else {
      out += "<span class=\"muted\">&mdash;</span>";
    }
    return;
  }
  std::string text = r.file + ":" + std::to_string(r.line);
  if (!r.commit.empty()) text += " @ " + short_commit(r.commit);
  const bool link = html::is_safe_link(r.url);
  if (link) {
    out += "<a class=\"mono\" rel=\"noopener noreferrer\" target=\"_blank\" href=\"";
    append_text(out, r.url);
    out += "\">";
  } else {
    out += "<span class=\"mono\">";
  }
  append_text(out, text, 200);
  out += link ? "</a>" : "</span>";
}

void changed_paths(std::string& out, const Record& r) {
  if (r.changed_paths.empty()) {
    out += "<span class=\"muted\">&mdash;</span>";
    return;
  }
  for (size_t i = 0; i < r.changed_paths.size() && i < kCutPaths; ++i) {
    if (i > 0) out += ' ';
    out += "<code>";
    append_text(out, r.changed_paths[i], kCutShort);
    out += "</code>";
  }
  if (r.changed_paths.size() > kCutPaths)
    out += " <span class=\"muted\">(" + std::to_string(r.changed_paths.size() - kCutPaths) + " more)</span>";
}

// The message without the "gitgate: " prefix every message carries, nor the link at its end (the citation
// beside it links the same line).
std::string_view message_text(const Record& r) {
  std::string_view m = r.message;
  if (m.starts_with("gitgate: ")) m.remove_prefix(9);
  if (!r.url.empty() && m.ends_with(r.url) && m.size() > r.url.size() &&
      m[m.size() - r.url.size() - 1] == ' ')
    m.remove_suffix(r.url.size() + 1);
  return m;
}

// The first seq that cannot be trusted: the record a chain failure names (past every seq when intact).
uint64_t untrusted_from(const VerifyReport& chain) {
  return chain.failure && chain.failure->seq ? *chain.failure->seq : std::numeric_limits<uint64_t>::max();
}

// A "nice" step (1, 2 or 5 times a power of ten) of at least `raw`.
uint64_t nice_step(double raw) {
  if (raw <= 1) return 1;
  double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * power >= raw) return static_cast<uint64_t>(m * power);
  return static_cast<uint64_t>(10 * power);
}

// A time label that fits the bucket width: whole days, minutes, seconds or milliseconds.
std::string axis_label(int64_t us, int64_t width_us, int64_t span_us) {
  std::string t = format_rfc3339(us, true);  // 2026-11-23T10:00:00.123456Z
  std::string date = t.substr(0, 10);
  if (width_us >= 86'400'000'000) return date;
  std::string clock = width_us >= 60'000'000  ? t.substr(11, 5)
                      : width_us >= 1'000'000 ? t.substr(11, 8)
                                              : t.substr(11, 12);
  return span_us >= 86'400'000'000 ? date.substr(5) + " " + clock : clock;
}

std::string width_text(int64_t us) {
  if (us % 86'400'000'000 == 0) return std::to_string(us / 86'400'000'000) + " d";
  if (us % 3'600'000'000 == 0) return std::to_string(us / 3'600'000'000) + " h";
  if (us % 60'000'000 == 0) return std::to_string(us / 60'000'000) + " min";
  if (us % 1'000'000 == 0) return std::to_string(us / 1'000'000) + " s";
  return std::to_string(us / 1'000) + " ms";
}

}  // namespace

void ReportBuilder::Newest::add(std::string_view line) {
  ++total_;
  if (capacity_ == 0) return;
  if (lines_.size() < capacity_) {
    lines_.emplace_back(line);
    return;
  }
  lines_[next_].assign(line);
  next_ = (next_ + 1) % capacity_;
}

std::vector<LoggedRecord> ReportBuilder::Newest::newest_first() const {
  std::vector<LoggedRecord> out;
  out.reserve(lines_.size());
  RecordParser parser;
  // Once full, lines_[next_] is the oldest; before, lines_ is in arrival order.
  const size_t start = lines_.size() < capacity_ ? 0 : next_;
  for (size_t i = lines_.size(); i > 0; --i) {
    auto record = parser.parse(lines_[(start + i - 1) % lines_.size()]);
    if (record) out.push_back(std::move(record).value());  // it parsed when it was added
  }
  return out;
}

ReportBuilder::ReportBuilder(ReportOptions options)
    : options_(options),
      break_glass_(options.event_rows),
      agent_mismatches_(options.event_rows),
      table_(options.table_rows) {}

void ReportBuilder::add(const LoggedRecord& logged, std::string_view line) {
  const Record& r = logged.record;
  ++seen_;
  if (options_.since_us && r.time_us < *options_.since_us) return;
  if (options_.until_us && r.time_us >= *options_.until_us) return;
  if (in_range_ == 0 || r.time_us < first_us_) first_us_ = r.time_us;
  if (in_range_ == 0 || r.time_us > last_us_) last_us_ = r.time_us;
  ++in_range_;
  const Series s = series_of(r);
  ++totals_.n[s];
  if (r.dry_run) ++dry_runs_;
  ++buckets_[floor_div(r.time_us, kWidths[width_step_])].n[s];
  if (buckets_.size() > kMaxStoredBuckets) coarsen();
  if (!r.commit.empty()) {
    auto [it, inserted] = commits_.try_emplace(r.commit, CommitSeen{r.time_us, 0});
    if (!inserted) it->second.first_us = std::min(it->second.first_us, r.time_us);
    ++it->second.decisions;
  }
  DenialCounts& reason = reasons_[r.reason.empty() ? "(none)" : r.reason];
  ++reason.all;
  if (r.decision == "deny") {
    ++reason.denied;
    ++denied_objects_[object_of(r)];
    ++denied_users_[r.user.empty() ? "(none)" : r.user];
  }
  if (s == kBreakGlass) break_glass_.add(line);
  if (is_agent_mismatch(r)) agent_mismatches_.add(line);
  table_.add(line);
}

void ReportBuilder::coarsen() {
  while (buckets_.size() > kMaxStoredBuckets && width_step_ + 1 < kWidths.size()) {
    const int64_t from = kWidths[width_step_];
    const int64_t to = kWidths[++width_step_];
    std::map<int64_t, Counts> merged;
    for (const auto& [index, counts] : buckets_) {
      Counts& m = merged[floor_div(index * from, to)];
      for (int s = 0; s < kSeries; ++s) m.n[s] += counts.n[s];
    }
    buckets_ = std::move(merged);
  }
}

std::string ReportBuilder::render(const ReportContext& context) const {
  std::string out;
  out.reserve(64 * 1024 + table_.total() * 600);
  out += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
  out += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src " +
         csp_hash(kStyle) + "; script-src " + csp_hash(kScript) + "; base-uri 'none'; form-action 'none'\">";
  out += "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">";
  out += "<meta name=\"referrer\" content=\"no-referrer\">";
  out += "<title>gitgate audit report</title><style>";
  out += kStyle;
  out += "</style></head><body><header><h1>gitgate audit report</h1><p>";
  if (options_.since_us || options_.until_us) {
    out += "Range ";
    out += options_.since_us ? display_time(*options_.since_us) : std::string("the beginning");
    out += " to ";
    out += options_.until_us ? display_time(*options_.until_us) : std::string("the end");
    out += ": ";
  }
  out += with_commas(in_range_) + (in_range_ == 1 ? " record" : " records");
  if (in_range_ > 0) out += " from " + display_time(first_us_) + " to " + display_time(last_us_);
  if (seen_ != in_range_) out += " (of " + with_commas(seen_) + " read)";
  out += ". Generated " + display_time(options_.generated_us) + ".</p></header><main>";
  render_chain(out, context);
  render_totals(out);
  render_chart(out);
  render_top(out);
  render_events(out, context);
  render_table(out, context);
  out += "</main><script>";
  out += kScript;
  out += "</script></body></html>\n";
  return out;
}

void ReportBuilder::render_chain(std::string& out, const ReportContext& context) const {
  const VerifyReport& chain = context.chain;
  open_section(out, "chain", "Hash chain");
  if (chain.failure) {
    out += "<p class=\"banner broken\">&#10007; Chain broken: ";
    append_text(out, chain.failure->to_string(), 2000);
    out += "</p><p>The log was edited, records were deleted, inserted or reordered, or a file is missing. ";
    if (const auto& seq = chain.failure->seq) {
      if (chain.records > 0 && *seq > chain.first_seq)
        out += "Records seq " + std::to_string(chain.first_seq) + " to " + std::to_string(*seq - 1) +
               " chain correctly; ";
      out += "from seq " + std::to_string(*seq) + " on nothing can be trusted (rows marked &#9888; below).";
    } else if (chain.records > 0) {
      out += "Records seq " + std::to_string(chain.first_seq) + " to " + std::to_string(chain.last_seq) +
             " chain correctly before it.";
    }
    out += "</p>";
  } else if (chain.records == 0) {
    out += "<p class=\"banner intact\">No records to verify.</p>";
  } else {
    out += "<p class=\"banner intact\">&#10003; Chain intact: " + with_commas(chain.records) +
           " records, seq " + std::to_string(chain.first_seq) + " to " + std::to_string(chain.last_seq) +
           ".</p>";
  }
  if (!chain.head.empty()) {
    out += "<p>Head: <span class=\"mono\">";
    out += context.keyed ? "hmac-sha256 " : "sha256 ";
    append_text(out, chain.head, 64);
    out +=
        "</span> <span class=\"muted\">(records cut off the end cannot be seen in the chain alone: compare "
        "it "
        "with a copy kept off this machine, e.g. the stdout stream)</span></p>";
  }
  if (!chain.notes.empty()) {
    out += "<h3>Notes</h3><ul>";
    for (const auto& note : chain.notes) {
      out += "<li>";
      append_text(out, note.to_string(), 2000);
      out += "</li>";
    }
    out += "</ul>";
  }
  if (!context.problems.empty()) {
    out += "<h3>Lines that are not records (" + with_commas(context.problems.size()) + ", skipped)</h3><ul>";
    for (size_t i = 0; i < context.problems.size() && i < kMaxProblemsListed; ++i) {
      const auto& p = context.problems[i];
      out += "<li class=\"mono\">";
      append_text(out, p.file + ":" + std::to_string(p.line) + ": " + p.what, 500);
      out += "</li>";
    }
    if (context.problems.size() > kMaxProblemsListed) out += "<li>&hellip;</li>";
    out += "</ul>";
  }
  out += "<p class=\"muted\">Files: ";
  for (size_t i = 0; i < context.files.size(); ++i) {
    if (i > 0) out += ", ";
    out += "<span class=\"mono\">";
    append_text(out, context.files[i], 300);
    out += "</span>";
  }
  out += "</p></section>";
}

void ReportBuilder::render_totals(std::string& out) const {
  open_section(out, "totals", "Decisions");
  out += "<div class=\"tiles\">";
  auto tile = [&](std::string_view label, uint64_t n, std::string_view css = {}) {
    out += "<div class=\"tile\"><b>" + with_commas(n) + "</b>";
    if (css.empty()) {
      out += label;
    } else {
      out += "<span class=\"badge " + std::string(css) + "\">" + std::string(label) + "</span>";
    }
    out += "</div>";
  };
  tile("in range", in_range_);
  for (int s = 0; s < kSeries; ++s) tile(kSeriesNames[s], totals_.n[s], kSeriesClasses[s]);
  tile("agent mismatches", agent_mismatches_.total());
  tile("dry runs", dry_runs_);
  tile("commits relied on", commits_.size());
  out += "</div></section>";
}

void ReportBuilder::render_chart(std::string& out) const {
  open_section(out, "timeline", "Decisions over time");
  if (in_range_ == 0) {
    out += "<p class=\"muted\">No decisions in this range.</p></section>";
    return;
  }
  const int64_t stored = kWidths[width_step_];
  const int64_t axis_from = options_.since_us ? std::min(*options_.since_us, first_us_) : first_us_;
  const int64_t axis_to = options_.until_us ? std::max(*options_.until_us - 1, last_us_) : last_us_;
  const int64_t span = axis_to - axis_from;
  int64_t width = 0;
  for (size_t i = width_step_; i < kWidths.size() && width == 0; ++i)
    if (floor_div(axis_to, kWidths[i]) - floor_div(axis_from, kWidths[i]) + 1 <= kMaxBars) width = kWidths[i];
  if (width == 0) width = stored * (span / stored / kMaxBars + 1);  // past a year of buckets
  const int64_t start = floor_div(axis_from, width) * width;
  const auto bars = static_cast<size_t>(floor_div(axis_to - start, width) + 1);
  std::vector<Counts> bins(bars);
  for (const auto& [index, counts] : buckets_) {
    int64_t bin = floor_div(index * stored - start, width);
    if (bin < 0 || bin >= static_cast<int64_t>(bars)) continue;
    for (int s = 0; s < kSeries; ++s) bins[static_cast<size_t>(bin)].n[s] += counts.n[s];
  }
  uint64_t highest = 1;
  for (const auto& b : bins) highest = std::max(highest, b.n[0] + b.n[1] + b.n[2] + b.n[3]);
  const uint64_t step = nice_step(static_cast<double>(highest) / 4);
  const uint64_t top = (highest + step - 1) / step * step;

  constexpr double kLeft = 56, kRight = 12, kTop = 22, kBottom = 26, kWidth = 1000, kHeight = 250;
  const double plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom;
  const double bar_w = plot_w / static_cast<double>(bars);
  auto num = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", v);
    return std::string(buf);
  };
  auto y_of = [&](uint64_t v) {
    return kTop + plot_h - plot_h * static_cast<double>(v) / static_cast<double>(top);
  };
  out += "<p class=\"muted\">" + width_text(width) +
         " per bar, UTC. Dashed lines: the first decision that relied "
         "on each snapshot commit (when gitgate started enforcing it).</p>";
  out += "<svg role=\"img\" aria-label=\"Decisions over time\" viewBox=\"0 0 " + num(kWidth) + " " +
         num(kHeight) + "\" width=\"100%\" preserveAspectRatio=\"xMinYMin meet\">";
  for (uint64_t v = 0; v <= top; v += step) {
    const std::string y = num(y_of(v));
    out += "<line class=\"grid-line\" x1=\"" + num(kLeft) + "\" x2=\"" + num(kWidth - kRight) + "\" y1=\"" +
           y + "\" y2=\"" + y + "\"/><text x=\"" + num(kLeft - 6) + "\" y=\"" + num(y_of(v) + 4) +
           "\" text-anchor=\"end\">" + with_commas(v) + "</text>";
  }
  const double gap = bar_w > 4 ? 1 : 0;
  for (size_t i = 0; i < bars; ++i) {
    const Counts& b = bins[i];
    const uint64_t total = b.n[0] + b.n[1] + b.n[2] + b.n[3];
    if (total == 0) continue;
    const int64_t from = start + static_cast<int64_t>(i) * width;
    out += "<g><title>" + display_time(from, width < 1'000'000) + " + " + width_text(width) + ": ";
    for (int s = 0; s < kSeries; ++s) {
      if (s > 0) out += ", ";
      out += with_commas(b.n[s]) + " " + std::string(kSeriesNames[s]);
    }
    out += "</title>";
    uint64_t below = 0;
    for (int s : {kAllow, kWarn, kBreakGlass, kDeny}) {
      if (b.n[s] == 0) continue;
      const double y_top = y_of(below + b.n[s]);
      const double height = y_of(below) - y_top;
      out += "<rect class=\"s" + std::to_string(s) + "\" x=\"" + num(kLeft + bar_w * static_cast<double>(i)) +
             "\" y=\"" + num(y_top) + "\" width=\"" + num(std::max(bar_w - gap, 0.5)) + "\" height=\"" +
             num(std::max(height, 0.5)) + "\"/>";
      below += b.n[s];
    }
    out += "</g>";
  }
  const size_t label_every = std::max<size_t>(1, (bars + 5) / 6);
  for (size_t i = 0; i < bars; i += label_every) {
    if (kLeft + bar_w * static_cast<double>(i) > kWidth - kRight - 70) break;  // no room for the text
    out += "<text x=\"" + num(kLeft + bar_w * static_cast<double>(i)) + "\" y=\"" + num(kHeight - 8) + "\">" +
           axis_label(start + static_cast<int64_t>(i) * width, width, span) + "</text>";
  }
  // Commit marks, newest first, labelled where there is room.
  std::vector<std::pair<std::string, CommitSeen>> marks(commits_.begin(), commits_.end());
  std::sort(marks.begin(), marks.end(), [](const auto& a, const auto& b) {
    return a.second.first_us != b.second.first_us ? a.second.first_us > b.second.first_us : a.first < b.first;
  });
  if (marks.size() > kMaxCommitMarks) marks.resize(kMaxCommitMarks);
  const double axis_span = static_cast<double>(static_cast<int64_t>(bars) * width);
  double last_label = 1e9;
  for (const auto& [commit, seen] : marks) {
    const double x = kLeft + plot_w * static_cast<double>(seen.first_us - start) / axis_span;
    out += "<g class=\"commit\"><title>commit ";
    append_text(out, commit, 64);
    out += ": first relied on " + display_time(seen.first_us, true) + ", " + with_commas(seen.decisions) +
           " decisions</title><line x1=\"" + num(x) + "\" x2=\"" + num(x) + "\" y1=\"" + num(kTop - 4) +
           "\" y2=\"" + num(kTop + plot_h) + "\"/>";
    if (last_label - x >= 56) {
      const bool near_end = x > kWidth - kRight - 60;
      out += "<text x=\"" + num(near_end ? x - 2 : x + 2) + "\" y=\"" + num(kTop - 8) + "\"" +
             (near_end ? " text-anchor=\"end\">" : ">");
      append_text(out, short_commit(commit), 12);
      out += "</text>";
      last_label = x;
    }
    out += "</g>";
  }
  out += "</svg><ul class=\"legend\">";
  for (int s = 0; s < kSeries; ++s) {
    out += "<li><svg width=\"12\" height=\"12\" aria-hidden=\"true\"><rect class=\"s" + std::to_string(s) +
           "\" width=\"12\" height=\"12\"/></svg>" + std::string(kSeriesNames[s]) + " " +
           with_commas(totals_.n[s]) + "</li>";
  }
  out += "</ul>";
  out += "<h3>Commits relied on";
  if (commits_.size() > marks.size())
    out += " (the " + std::to_string(marks.size()) + " newest of " + with_commas(commits_.size()) + ")";
  out +=
      "</h3><table><thead><tr><th>commit</th><th>first relied on</th><th>decisions</th></tr></thead><tbody>";
  for (const auto& [commit, seen] : marks) {
    out += "<tr>";
    cell(out, commit, 64, "mono");
    time_cell(out, seen.first_us);
    number_cell(out, seen.decisions);
    out += "</tr>";
  }
  out += "</tbody></table></section>";
}

void ReportBuilder::render_top(std::string& out) const {
  out += "<div class=\"grid\">";
  auto list = [&](std::string_view id, std::string_view title, std::string_view column,
                  const std::vector<std::pair<std::string, uint64_t>>& entries) {
    open_section(out, id, title);
    if (entries.empty()) {
      out += "<p class=\"muted\">None in this range.</p></section>";
      return;
    }
    const uint64_t most = entries.front().second;
    out += "<table><thead><tr><th>";
    out += column;
    out += "</th><th>denied</th><th></th></tr></thead><tbody>";
    for (const auto& [name, count] : entries) {
      out += "<tr>";
      cell(out, name, kCutObject, "u");
      number_cell(out, count);
      out +=
          "<td><svg width=\"60\" height=\"10\" aria-hidden=\"true\"><rect class=\"s1\" height=\"10\" "
          "width=\"" +
          std::to_string(std::max<uint64_t>(1, count * 60 / most)) + "\"/></svg></td></tr>";
    }
    out += "</tbody></table></section>";
  };
  list("denied-objects", "Most denied objects", "object",
       top_of(denied_objects_, options_.top, [](uint64_t n) { return n; }));
  list("denied-people", "Most denied people", "user",
       top_of(denied_users_, options_.top, [](uint64_t n) { return n; }));

  open_section(out, "reasons", "Reasons");
  if (reasons_.empty()) {
    out += "<p class=\"muted\">None in this range.</p></section>";
  } else {
    std::vector<std::pair<std::string, DenialCounts>> entries(reasons_.begin(), reasons_.end());
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
      if (a.second.denied != b.second.denied) return a.second.denied > b.second.denied;
      if (a.second.all != b.second.all) return a.second.all > b.second.all;
      return a.first < b.first;
    });
    if (entries.size() > 2 * options_.top) entries.resize(2 * options_.top);
    out += "<table><thead><tr><th>reason</th><th>denied</th><th>all decisions</th></tr></thead><tbody>";
    for (const auto& [reason, counts] : entries) {
      out += "<tr>";
      cell(out, reason, kCutShort, "mono");
      number_cell(out, counts.denied);
      number_cell(out, counts.all);
      out += "</tr>";
    }
    out += "</tbody></table></section>";
  }
  out += "</div>";
}

void ReportBuilder::render_events(std::string& out, const ReportContext& context) const {
  const uint64_t broken_at = untrusted_from(context.chain);
  auto row_start = [&](const LoggedRecord& row) {
    const bool untrusted = row.seq >= broken_at;
    out += untrusted ? "<tr class=\"untrusted\">" : "<tr>";
    time_cell(out, row.record.time_us);
  };
  auto limited = [&](const Newest& rows, std::string_view what, size_t section_start, size_t listed) {
    if (listed < rows.total()) {
      out += "<p class=\"muted\">The newest " + with_commas(listed) + " of " + with_commas(rows.total()) +
             " " + std::string(what) + " are listed";
      if (out.size() - section_start > kEventsBudget) out += " (the page's size limit)";
      out += "; <code>gitgate audit query --output json</code> prints them all.</p>";
    }
  };

  size_t section_start = out.size();
  open_section(out, "break-glass", "Break-glass uses");
  if (break_glass_.total() == 0) {
    out += "<p class=\"muted\">None in this range.</p>";
  } else {
    out +=
        "<p>Every use, newest first: allowed, and what it would otherwise have met. The commit in force is "
        "the "
        "snapshot the request was checked against.</p>";
    out +=
        "<table><thead><tr><th>time</th><th>who</th><th>request</th><th>what changed</th><th>Git vs "
        "request</th>"
        "<th>commit in force</th></tr></thead><tbody>";
    size_t listed = 0;
    for (const LoggedRecord& row : break_glass_.newest_first()) {
      if (out.size() - section_start > kEventsBudget) break;
      const Record& r = row.record;
      row_start(row);
      out += "<td class=\"u\">";
      append_text(out, r.user, kCutShort);
      if (!r.groups.empty()) {
        out += "<br><span class=\"muted\">";
        for (size_t i = 0; i < r.groups.size() && i < 4; ++i) {
          if (i > 0) out += ", ";
          append_text(out, r.groups[i], kCutShort);
        }
        out += "</span>";
      }
      peer_line(out, r);
      out += "</td>";
      cell(out, r.operation + " " + object_of(r) + (r.dry_run ? " (dry run)" : ""), kCutObject);
      out += "<td>";
      changed_paths(out, r);
      out += "</td>";
      cell(out, r.violation ? message_text(r) : std::string_view("no rule would have been broken"),
           kCutMessage, "msg");
      out += "<td class=\"cite\">";
      citation(out, r);
      out += "</td></tr>";
      ++listed;
    }
    out += "</tbody></table>";
    limited(break_glass_, "break-glass uses", section_start, listed);
  }
  out += "</section>";

  section_start = out.size();
  open_section(out, "agent-mismatches", "Agent mismatches");
  if (agent_mismatches_.total() == 0) {
    out += "<p class=\"muted\">None in this range: every write by a GitOps agent matched Git.</p>";
  } else {
    out +=
        "<p>Writes by a GitOps agent's identity that Git does not back, and deletions of objects Git still "
        "declares. A compromised or misconfigured agent shows here first.</p>";
    out +=
        "<table><thead><tr><th>time</th><th>agent</th><th>request</th><th>decision</th><th>reason</th>"
        "<th>message</th><th>where in Git</th></tr></thead><tbody>";
    size_t listed = 0;
    for (const LoggedRecord& row : agent_mismatches_.newest_first()) {
      if (out.size() - section_start > kEventsBudget) break;
      const Record& r = row.record;
      row_start(row);
      out += "<td class=\"u\">";
      append_text(out, r.agent.empty() ? std::string_view("(agent)") : std::string_view(r.agent), kCutShort);
      out += "<br><span class=\"muted\">";
      append_text(out, r.user, kCutShort);
      out += "</span></td>";
      cell(out, r.operation + " " + object_of(r) + (r.dry_run ? " (dry run)" : ""), kCutObject);
      out += "<td>";
      badge(out, series_of(r), r.decision);
      out += "</td>";
      cell(out, r.reason, kCutShort, "mono");
      cell(out, message_text(r), kCutMessage, "msg");
      out += "<td class=\"cite\">";
      citation(out, r);
      out += "</td></tr>";
      ++listed;
    }
    out += "</tbody></table>";
    limited(agent_mismatches_, "agent mismatches", section_start, listed);
  }
  out += "</section>";
}

void ReportBuilder::render_table(std::string& out, const ReportContext& context) const {
  const size_t section_start = out.size();
  open_section(out, "all", "Records");
  if (table_.total() == 0) {
    out += "<p class=\"muted\">None in this range.</p></section>";
    return;
  }
  const uint64_t broken_at = untrusted_from(context.chain);
  const auto rows = table_.newest_first();
  // The note is written once the number of rows that fit is known; keep its place.
  out +=
      "<p><label for=\"search\">Filter</label> <input type=\"search\" id=\"search\" autocomplete=\"off\" "
      "placeholder=\"words that must all appear: user, object, reason, commit, file\"> <span id=\"shown\">";
  const size_t shown_at = out.size();
  out += "</span> rows shown.</p>";
  const size_t note_at = out.size();
  out += "<table id=\"records\"><thead><tr>";
  for (std::string_view column :
       {"time", "decision", "user", "op", "object", "reason", "where in Git", "message"})
    out += "<th><button type=\"button\">" + std::string(column) + "</button></th>";
  out += "</tr></thead><tbody>";
  size_t listed = 0;
  for (const LoggedRecord& row : rows) {
    if (out.size() - section_start > kTableBudget) break;
    const Record& r = row.record;
    const bool untrusted = row.seq >= broken_at;
    out += untrusted ? "<tr class=\"untrusted\">" : "<tr>";
    time_cell(out, r.time_us);
    out += "<td>";
    if (untrusted) out += "<span title=\"after the chain break: cannot be trusted\">&#9888;</span> ";
    badge(out, series_of(r),
          r.identity == "break-glass" ? std::string_view("break-glass") : std::string_view(r.decision));
    if (r.dry_run) out += " <span class=\"muted\">dry run</span>";
    out += "</td>";
    out += "<td class=\"u\">";
    append_text(out, r.user, kCutShort);
    peer_line(out, r);
    out += "</td>";
    cell(out, r.operation, 16, "t");
    cell(out, object_of(r), kCutObject);
    cell(out, r.reason, kCutShort, "mono");
    out += "<td class=\"cite\">";
    citation(out, r);
    out += "</td>";
    cell(out, message_text(r), kCutMessage, "msg");
    out += "</tr>";
    ++listed;
  }
  out += "</tbody></table></section>";
  out.insert(shown_at, with_commas(listed));
  if (listed < table_.total()) {
    std::string note =
        "<p class=\"muted\">The newest " + with_commas(listed) + " of " + with_commas(table_.total()) +
        " records in the range are listed; <code>gitgate audit query --output json</code> (with "
        "<code>--since</code>/<code>--until</code>) prints them all.</p>";
    out.insert(note_at + with_commas(listed).size(), note);
  }
}

Result<Report> make_report(const std::vector<std::string>& files, ChainHasher& hasher,
                           const ReportOptions& options) {
  ReportContext context;
  context.files = files;
  context.keyed = hasher.keyed();
  // The chain is verified on a second thread while this one reads the records: both passes read the same
  // files (the second from the page cache), and on two cores the page takes as long as the slower of them.
  auto verifying = std::async(std::launch::async, [&files, &hasher] { return verify_chain(files, hasher); });
  ReportBuilder builder(options);
  Status read = read_records(
      files, [&](const LoggedRecord& record, std::string_view line) { builder.add(record, line); },
      context.problems);
  auto chain = verifying.get();
  if (!chain) return std::move(chain).take_error();
  if (!read) return Error{read.error()};
  context.chain = std::move(chain).value();
  Report report;
  report.html = builder.render(context);
  report.records_in_range = builder.records_in_range();
  report.chain_intact = context.chain.intact();
  if (context.chain.failure) report.chain_failure = context.chain.failure->to_string();
  return report;
}

}  // namespace gitgate::audit
