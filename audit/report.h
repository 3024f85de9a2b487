// `gitgate audit report`: one self-contained HTML page (inline CSS, SVG and a small script under a
// Content-Security-Policy that allows nothing else, no network) for people who review the audit log:
// whether the chain holds, what was decided over time and on which commits, who and what was denied,
// every break-glass use and agent mismatch, and a searchable, sortable table of the newest records.
//
// Records stream through ReportBuilder::add: memory grows with the distinct objects, users, reasons and
// commits, and with the rows kept for the tables, not with the number of records.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "audit/chain.h"
#include "audit/query.h"
#include "audit/record.h"
#include "audit/verify.h"
#include "core/result.h"

namespace gitgate::audit {

struct ReportOptions {
  std::optional<int64_t> since_us;  // inclusive
  std::optional<int64_t> until_us;  // exclusive
  size_t table_rows = 2000;         // the newest records in the range listed in the table
  size_t event_rows = 500;          // break-glass uses and agent mismatches listed (newest first)
  size_t top = 10;                  // entries of each "top" list
  int64_t generated_us = 0;         // when the report was made, shown in its header
};

// What the page says about the files besides their records.
struct ReportContext {
  std::vector<std::string> files;
  VerifyReport chain;
  bool keyed = false;                 // HMAC-SHA256 chain
  std::vector<ReadProblem> problems;  // lines that are not records
};

class ReportBuilder {
 public:
  explicit ReportBuilder(ReportOptions options);

  // Records in chain order, each with its line as logged; those outside the range are counted and
  // otherwise skipped.
  void add(const LoggedRecord& logged, std::string_view line);
  std::string render(const ReportContext& context) const;

  uint64_t records_seen() const { return seen_; }
  uint64_t records_in_range() const { return in_range_; }

  // The four series of the chart: break-glass uses are their own, whatever their decision.
  enum Series { kAllow, kDeny, kWarn, kBreakGlass, kSeries };

 private:
  struct Counts {
    uint64_t n[kSeries] = {};
  };
  // The newest `capacity` records, kept in a ring as their lines: one copy per record instead of one per
  // field, and only the few that are shown are parsed again.
  class Newest {
   public:
    explicit Newest(size_t capacity) : capacity_(capacity) {}
    void add(std::string_view line);
    std::vector<LoggedRecord> newest_first() const;
    uint64_t total() const { return total_; }

   private:
    size_t capacity_;
    std::vector<std::string> lines_;
    size_t next_ = 0;
    uint64_t total_ = 0;
  };
  struct CommitSeen {
    int64_t first_us = 0;
    uint64_t decisions = 0;
  };
  struct DenialCounts {
    uint64_t all = 0;
    uint64_t denied = 0;
  };

  void coarsen();
  void render_chain(std::string& out, const ReportContext& context) const;
  void render_totals(std::string& out) const;
  void render_chart(std::string& out) const;
  void render_top(std::string& out) const;
  void render_events(std::string& out, const ReportContext& context) const;
  void render_table(std::string& out, const ReportContext& context) const;

  ReportOptions options_;
  uint64_t seen_ = 0;
  uint64_t in_range_ = 0;
  int64_t first_us_ = 0;
  int64_t last_us_ = 0;
  Counts totals_;
  uint64_t dry_runs_ = 0;
  // Decisions over time, in buckets whose width grows (each step a multiple of the last) when there are
  // too many of them: bucket index -> counts.
  size_t width_step_ = 0;
  std::map<int64_t, Counts> buckets_;
  std::unordered_map<std::string, CommitSeen> commits_;
  std::unordered_map<std::string, uint64_t> denied_objects_;
  std::unordered_map<std::string, uint64_t> denied_users_;
  std::unordered_map<std::string, DenialCounts> reasons_;
  Newest break_glass_;
  Newest agent_mismatches_;
  Newest table_;
};

// Verifies and reads `files` (any order, rotated ones included) and renders the report. Errors are I/O
// problems; a broken chain is shown in the report, and `chain_intact` says so.
struct Report {
  std::string html;
  uint64_t records_in_range = 0;
  bool chain_intact = true;
  std::string chain_failure;  // "FILE:LINE: record seq N: what" when broken
};
Result<Report> make_report(const std::vector<std::string>& files, ChainHasher& hasher,
                           const ReportOptions& options);

}  // namespace gitgate::audit
