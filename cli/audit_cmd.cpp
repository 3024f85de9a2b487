// gitgate audit query|summary|verify|report: review the audit log, including rotated files, without
// trusting the machine that wrote it.
#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "audit/chain.h"
#include "audit/query.h"
#include "audit/report.h"
#include "audit/timestamp.h"
#include "audit/verify.h"
#include "cli/commands.h"
#include "core/json_writer.h"

namespace gitgate::cli {
namespace {

constexpr int kExitUsage = 2;

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Terminal text: control characters (an escape sequence in a user name) become '?', and the text is cut to
// `width` columns with '…'. Columns are counted as code points.
std::string cell(std::string_view text, size_t width, bool pad = true) {
  std::string out;
  size_t columns = 0;
  size_t i = 0;
  auto next_length = [&](size_t at) {
    auto c = static_cast<unsigned char>(text[at]);
    size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return std::min(n, text.size() - at);
  };
  size_t total = 0;
  for (size_t k = 0; k < text.size(); k += next_length(k)) ++total;
  const size_t keep = total <= width ? total : width - 1;
  while (i < text.size() && columns < keep) {
    size_t n = next_length(i);
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7F) {
      out += '?';
    } else {
      out.append(text.substr(i, n));
    }
    i += n;
    ++columns;
  }
  if (total > width) {
    out += "\xE2\x80\xA6";  // …
    ++columns;
  }
  if (pad) out.append(width - columns, ' ');
  return out;
}

struct ReadArgs {
  audit::FilterFlags flags;
  std::string output = "table";
  std::vector<std::string> files;
};

void add_read_flags(CLI::App* sub, ReadArgs& args) {
  sub->add_option("--since", args.flags.since,
                  "Records at or after this time: a duration before now (24h, 90m) or RFC 3339");
  sub->add_option("--until", args.flags.until, "Records before this time: a duration before now or RFC 3339");
  sub->add_option("--decision", args.flags.decision, "Only this decision: allow, deny or warn");
  sub->add_option("--user", args.flags.user, "Only this user ('*' wildcards)");
  sub->add_option("--namespace", args.flags.ns, "Only this namespace ('*' wildcards)");
  sub->add_option("--kind", args.flags.kind, "Only this kind or resource, any case ('*' wildcards)");
  sub->add_option("--name", args.flags.name, "Only objects with this name ('*' wildcards)");
  sub->add_option("--commit", args.flags.commit, "Only decisions that relied on this commit (a prefix)");
  sub->add_option("--peer", args.flags.peer,
                  "Only reviews sent by this TLS peer: its address:port or client certificate subject "
                  "('*' wildcards, e.g. '10.0.0.*' or 'CN=kube-apiserver*')");
  sub->add_option("--output,-o", args.output, "table (default) or json");
  sub->add_option("files", args.files,
                  "Audit log files; rotated ones (audit.log.3 ... audit.log) in any order");
}

// Checks the flags shared by query and summary; prints the problem and returns nullopt on a usage error.
std::optional<audit::Filter> filter_from(const ReadArgs& args, const char* command) {
  if (args.files.empty()) {
    std::cerr << "gitgate audit " << command << ": give at least one audit log FILE\n";
    return std::nullopt;
  }
  if (args.output != "table" && args.output != "json") {
    std::cerr << "gitgate audit " << command << ": --output must be table or json, not '" << args.output
              << "'\n";
    return std::nullopt;
  }
  auto filter = audit::make_filter(args.flags, now_us());
  if (!filter) {
    std::cerr << "gitgate audit " << command << ": " << filter.error() << "\n";
    return std::nullopt;
  }
  return std::move(filter).value();
}

// Reads the files, reporting skipped lines on stderr. Returns the exit code: 2 when a file cannot be read
// or when lines were found but none of them is an audit record (not an audit log), else 0.
int read_all(const ReadArgs& args, const char* command,
             const std::function<void(const audit::LoggedRecord&, std::string_view)>& visit) {
  std::vector<audit::ReadProblem> problems;
  uint64_t records = 0;
  Status status = audit::read_records(
      args.files,
      [&](const audit::LoggedRecord& r, std::string_view line) {
        ++records;
        visit(r, line);
      },
      problems);
  for (const auto& p : problems) {
    std::cerr << p.file << ":" << p.line << ": skipped: " << p.what << "\n";
  }
  if (!status) {
    std::cerr << "gitgate audit " << command << ": " << status.error() << "\n";
    return kExitUsage;
  }
  if (records == 0 && !problems.empty()) {
    std::cerr << "gitgate audit " << command << ": no audit record in the files given\n";
    return kExitUsage;
  }
  return 0;
}

std::string object_of(const audit::Record& r) {
  std::string out = r.ns.empty() ? r.name : r.ns + "/" + r.name;
  if (!r.subresource.empty()) out += "/" + r.subresource;
  return out;
}

// Fixed columns, 120 in all: time, decision, user, operation, kind, namespace/name, reason.
void print_table_header() {
  std::cout << cell("TIME", 20) << ' ' << cell("DECISION", 9) << ' ' << cell("USER", 17) << ' '
            << cell("OP", 7) << ' ' << cell("KIND", 12) << ' ' << cell("NAMESPACE/NAME", 28) << ' '
            << "REASON\n";
}

void print_table_row(const audit::Record& r) {
  std::string decision = r.decision;
  if (r.dry_run) decision += " dry";
  std::cout << cell(audit::format_rfc3339(r.time_us, false), 20) << ' ' << cell(decision, 9) << ' '
            << cell(r.user, 17) << ' ' << cell(r.operation, 7) << ' ' << cell(r.kind, 12) << ' '
            << cell(object_of(r), 28) << ' ' << cell(r.reason, 21, false) << "\n";
}

int run_query(const ReadArgs& args) {
  auto filter = filter_from(args, "query");
  if (!filter) return kExitUsage;
  const bool table = args.output == "table";
  bool header_printed = false;
  int code = read_all(args, "query", [&](const audit::LoggedRecord& r, std::string_view line) {
    if (!filter->matches(r.record)) return;
    if (table) {
      if (!header_printed) print_table_header();
      header_printed = true;
      print_table_row(r.record);
    } else {
      std::cout << line << "\n";  // the record exactly as logged
    }
  });
  std::cout.flush();
  return code;
}

void write_counts(JsonWriter& w, std::string_view key,
                  const std::vector<std::pair<std::string, uint64_t>>& counts) {
  w.key(key).begin_object();
  for (const auto& [name, count] : counts) w.field(name, count);
  w.end_object();
}

void print_counts(std::string_view title, const std::vector<std::pair<std::string, uint64_t>>& counts) {
  std::cout << "\n" << cell(title, 60) << ' ' << "COUNT\n";
  for (const auto& [name, count] : counts) std::cout << cell(name, 60) << ' ' << count << "\n";
}

int run_summary(const ReadArgs& args, size_t top_n) {
  auto filter = filter_from(args, "summary");
  if (!filter) return kExitUsage;
  audit::Summary summary;
  int code = read_all(args, "summary", [&](const audit::LoggedRecord& r, std::string_view) {
    if (filter->matches(r.record)) summary.add(r.record);
  });
  if (code != 0) return code;
  const auto all = std::numeric_limits<size_t>::max();
  if (args.output == "json") {
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.field("records", summary.records);
    w.field("from", summary.records ? audit::format_rfc3339(summary.first_time_us) : "");
    w.field("to", summary.records ? audit::format_rfc3339(summary.last_time_us) : "");
    write_counts(w, "decisions", audit::top(summary.by_decision, all));
    write_counts(w, "reasons", audit::top(summary.by_reason, all));
    write_counts(w, "users", audit::top(summary.by_user, top_n));
    write_counts(w, "namespaces", audit::top(summary.by_namespace, top_n));
    write_counts(w, "deniedObjects", audit::top(summary.denied_objects, top_n));
    w.end_object();
    std::cout << out << "\n";
    return 0;
  }
  std::cout << "Records: " << summary.records;
  if (summary.records > 0) {
    std::cout << " (" << audit::format_rfc3339(summary.first_time_us, false) << " .. "
              << audit::format_rfc3339(summary.last_time_us, false) << ")";
  }
  std::cout << "\n";
  if (summary.records == 0) return 0;
  const std::string top_label = " (top " + std::to_string(top_n) + ")";
  print_counts("DECISION", audit::top(summary.by_decision, all));
  print_counts("REASON", audit::top(summary.by_reason, all));
  print_counts("USER" + top_label, audit::top(summary.by_user, top_n));
  print_counts("NAMESPACE" + top_label, audit::top(summary.by_namespace, top_n));
  if (!summary.denied_objects.empty())
    print_counts("DENIED OBJECT" + top_label, audit::top(summary.denied_objects, top_n));
  return 0;
}

// SHA-256, or HMAC-SHA256 with the key in `key_file`; prints the problem and returns nullopt on error.
std::optional<audit::ChainHasher> hasher_for(const std::string& key_file, const char* command) {
  if (key_file.empty()) {
    auto h = audit::ChainHasher::sha256();
    if (!h) {
      std::cerr << "gitgate audit " << command << ": " << h.error() << "\n";
      return std::nullopt;
    }
    return std::move(h).value();
  }
  auto key = audit::load_hmac_key(key_file);
  if (!key) {
    std::cerr << "gitgate audit " << command << ": " << key.error() << "\n";
    return std::nullopt;
  }
  auto h = audit::ChainHasher::hmac_sha256(*key);
  if (!h) {
    std::cerr << "gitgate audit " << command << ": " << key_file << ": " << h.error() << "\n";
    return std::nullopt;
  }
  return std::move(h).value();
}

int run_verify(const std::vector<std::string>& files, const std::string& key_file) {
  if (files.empty()) {
    std::cerr << "gitgate audit verify: give at least one audit log FILE\n";
    return kExitUsage;
  }
  auto hasher = hasher_for(key_file, "verify");
  if (!hasher) return kExitUsage;
  auto report = audit::verify_chain(files, *hasher);
  if (!report) {
    std::cerr << "gitgate audit verify: " << report.error() << "\n";
    return kExitUsage;
  }
  for (const auto& note : report->notes) std::cout << "note: " << note.to_string() << "\n";
  if (report->failure) {
    std::cout << report->failure->to_string() << "\n";
    return 1;
  }
  if (report->records == 0) {
    std::cout << "OK: 0 records (nothing to verify)\n";
    return 0;
  }
  std::cout << "OK: " << report->records << " records, chain intact (first seq " << report->first_seq
            << ", last seq " << report->last_seq << ")\n"
            << "head: " << (hasher->keyed() ? "hmac-sha256 " : "sha256 ") << report->head
            << " (compare with a copy kept off this machine, e.g. the stdout stream)\n";
  return 0;
}

struct ReportArgs {
  std::string since, until, key_file;
  std::string out = "report.html";
  size_t rows = 2000;
  std::vector<std::string> files;
};

int run_report(const ReportArgs& args) {
  if (args.files.empty()) {
    std::cerr << "gitgate audit report: give at least one audit log FILE\n";
    return kExitUsage;
  }
  const int64_t now = now_us();
  audit::ReportOptions options;
  options.generated_us = now;
  options.table_rows = args.rows;
  for (auto [flag, text, bound] : {std::tuple{"--since", &args.since, &options.since_us},
                                   std::tuple{"--until", &args.until, &options.until_us}}) {
    if (text->empty()) continue;
    auto t = audit::parse_time_bound(*text, now);
    if (!t) {
      std::cerr << "gitgate audit report: " << flag << ": " << t.error() << "\n";
      return kExitUsage;
    }
    *bound = *t;
  }
  auto hasher = hasher_for(args.key_file, "report");
  if (!hasher) return kExitUsage;
  auto report = audit::make_report(args.files, *hasher, options);
  if (!report) {
    std::cerr << "gitgate audit report: " << report.error() << "\n";
    return kExitUsage;
  }
  if (args.out == "-") {
    std::cout << report->html;
    std::cout.flush();
  } else {
    std::ofstream file(args.out, std::ios::binary | std::ios::trunc);
    file << report->html;
    file.close();
    if (!file) {
      std::cerr << "gitgate audit report: cannot write " << args.out << "\n";
      return kExitUsage;
    }
  }
  std::ostream& say = args.out == "-" ? std::cerr : std::cout;
  say << "wrote " << (args.out == "-" ? std::string("the report to stdout") : args.out) << " ("
      << report->html.size() / 1024 + 1 << " KiB): " << report->records_in_range << " records in range; ";
  if (report->chain_intact) {
    say << "chain intact\n";
    return 0;
  }
  say << "CHAIN BROKEN: " << report->chain_failure << "\n";
  return 1;
}

}  // namespace

void add_audit_command(CLI::App& app, ExitCode& exit) {
  auto* audit_cmd = app.add_subcommand("audit", "Query, summarize, verify and report on the audit log");
  audit_cmd->require_subcommand(1);

  auto query_args = std::make_shared<ReadArgs>();
  auto* query = audit_cmd->add_subcommand("query", "List audit records matching the filters");
  query->footer(
      "Table output fits 120 columns (long values end in '…'); json prints the matching records exactly as\n"
      "logged, one per line. Malformed lines are reported on stderr as FILE:LINE and skipped.\n"
      "Exit 0; 2 on a usage error, an unreadable file, or files holding no audit record.");
  add_read_flags(query, *query_args);
  query->callback([query_args, &exit] { exit.value = run_query(*query_args); });

  auto summary_args = std::make_shared<ReadArgs>();
  auto top_n = std::make_shared<size_t>(10);
  auto* summary = audit_cmd->add_subcommand(
      "summary", "Count records by decision, reason, user and namespace; list the most denied objects");
  add_read_flags(summary, *summary_args);
  summary->add_option("--top", *top_n, "How many users, namespaces and denied objects to list (default 10)");
  summary->callback([summary_args, top_n, &exit] { exit.value = run_summary(*summary_args, *top_n); });

  auto verify_files = std::make_shared<std::vector<std::string>>();
  auto key_file = std::make_shared<std::string>();
  auto* verify = audit_cmd->add_subcommand("verify", "Check the hash chain of the audit log");
  verify->add_option("--hmac-key", *key_file, "The key file the log was written with (--audit-hmac-key)");
  verify->add_option("files", *verify_files,
                     "Audit log files; rotated ones (audit.log.3 ... audit.log) in any order");
  verify->footer(
      "Prints 'OK: N records, chain intact (first seq A, last seq B)' and exits 0, or names the first bad\n"
      "record as 'FILE:LINE: record seq N: what is wrong' and exits 1 (edit, deletion, insertion,\n"
      "reordering, cut). Notes, not failures: a chain starting after seq 1 (rotated away) and an unfinished\n"
      "last line (an interrupted write). Records cut off the end cannot be seen in the chain alone: compare\n"
      "the printed head with a copy kept elsewhere. Exit 2 on a usage or I/O error.");
  verify->callback([verify_files, key_file, &exit] { exit.value = run_verify(*verify_files, *key_file); });

  auto report_args = std::make_shared<ReportArgs>();
  auto* report = audit_cmd->add_subcommand(
      "report", "Write one self-contained HTML page for people reviewing the log (chain, timeline, denials)");
  report->add_option("--since", report_args->since,
                     "Records at or after this time: a duration before now (24h, 90m) or RFC 3339");
  report->add_option("--until", report_args->until,
                     "Records before this time: a duration before now or RFC 3339");
  report->add_option("--out,-o", report_args->out,
                     "The HTML file to write (default report.html; - for stdout)");
  report->add_option("--rows", report_args->rows,
                     "How many of the newest records the searchable table lists (default 2000)");
  report->add_option("--hmac-key", report_args->key_file,
                     "The key file the log was written with (--audit-hmac-key)");
  report->add_option("files", report_args->files,
                     "Audit log files; rotated ones (audit.log.3 ... audit.log) in any order");
  report->footer(
      "The page needs no network and runs no code but its own (inline CSS, SVG and script under a\n"
      "Content-Security-Policy): open it offline or keep it as a CI artifact. It shows what 'verify' finds\n"
      "(over all records, whatever the range), decisions over time with the commits relied on, the most\n"
      "denied objects and people, reasons, every break-glass use, agent mismatches, and the newest records.\n"
      "Exit 0 when written and the chain is intact, 1 when written and the chain is broken, 2 on a usage or\n"
      "I/O error.");
  report->callback([report_args, &exit] { exit.value = run_report(*report_args); });
}

}  // namespace gitgate::cli
