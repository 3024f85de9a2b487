// The real `gitgate audit` binary on generated logs: exit codes and what a person reads.
#include <gtest/gtest.h>

#include <sstream>

#include "audit/log.h"
#include "tests/audit/audit_test_support.h"
#include "tests/support/support.h"

namespace gitgate::audit {
namespace {

namespace fs = std::filesystem;
using gitgate::testing::CommandResult;
using gitgate::testing::gitgate_binary;
using gitgate::testing::run_command;
using gitgate::testing::TempDir;

CommandResult gitgate(std::vector<std::string> args) {
  args.insert(args.begin(), gitgate_binary());
  return run_command(args, std::chrono::seconds(30));
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

size_t columns(const std::string& line) {
  size_t n = 0;
  for (unsigned char c : line) n += (c & 0xC0) != 0x80;
  return n;
}

class AuditCli : public ::testing::Test {
 protected:
  void SetUp() override {
    AuditLog::Options options;
    options.file = log_;
    options.max_file_bytes = 8192;
    testing::write_samples(options, 30);
    for (int i = 0; fs::exists(name(i)); ++i) files_.push_back(name(i));
    ASSERT_GE(files_.size(), 2u);
  }
  std::string name(int i) const { return i == 0 ? log_ : log_ + "." + std::to_string(i); }
  std::vector<std::string> with_files(std::vector<std::string> args) const {
    args.insert(args.end(), files_.begin(), files_.end());
    return args;
  }

  TempDir dir_;
  std::string log_ = (dir_ / "audit.log").string();
  std::vector<std::string> files_;  // newest first, as `ls audit.log*` would not sort them either
};

TEST_F(AuditCli, VerifySaysOkForAnIntactLog) {
  auto r = gitgate(with_files({"audit", "verify"}));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  auto out = lines_of(r.out);
  ASSERT_EQ(out.size(), 2u) << r.out;
  EXPECT_EQ(out[0], "OK: 30 records, chain intact (first seq 1, last seq 30)");
  EXPECT_EQ(out[1].rfind("head: sha256 ", 0), 0u);
}

TEST_F(AuditCli, VerifyNamesTheFirstBadRecordAndExitsOne) {
  auto lines = testing::read_lines(name(1));
  ASSERT_GE(lines.size(), 3u);
  lines.erase(lines.begin() + 1);
  testing::write_lines(name(1), lines);
  auto r = gitgate(with_files({"audit", "verify"}));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  auto out = lines_of(r.out);
  ASSERT_EQ(out.size(), 1u) << r.out;
  EXPECT_EQ(out[0].rfind(name(1) + ":2: record seq ", 0), 0u) << out[0];
  EXPECT_TRUE(out[0].ends_with(" is missing before it (deleted)")) << out[0];
}

TEST_F(AuditCli, VerifyWithTheWrongHmacKeyFails) {
  testing::write_lines(dir_ / "key", {"not-the-key"});
  auto r = gitgate(with_files({"audit", "verify", "--hmac-key", (dir_ / "key").string()}));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("another HMAC key"), std::string::npos) << r.out;
}

TEST_F(AuditCli, UsageAndIoErrorsExitTwo) {
  EXPECT_EQ(gitgate({"audit", "verify"}).exit_code, 2);
  auto missing = gitgate({"audit", "verify", (dir_ / "nope.log").string()});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("nope.log: cannot open"), std::string::npos) << missing.err;
  EXPECT_EQ(gitgate(with_files({"audit", "query", "--decision", "denied"})).exit_code, 2);
  EXPECT_EQ(gitgate(with_files({"audit", "query", "--output", "yaml"})).exit_code, 2);
  EXPECT_EQ(gitgate(with_files({"audit", "summary", "--since", "last week"})).exit_code, 2);
  testing::write_lines(dir_ / "notes.txt", {"hello", "world"});
  auto not_a_log = gitgate({"audit", "query", (dir_ / "notes.txt").string()});
  EXPECT_EQ(not_a_log.exit_code, 2);
  EXPECT_NE(not_a_log.err.find("notes.txt:1: skipped: not JSON"), std::string::npos) << not_a_log.err;
}

TEST_F(AuditCli, QueryTableFitsA120ColumnTerminal) {
  auto r = gitgate(with_files({"audit", "query", "--decision", "warn"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto out = lines_of(r.out);
  ASSERT_EQ(out.size(), 11u) << r.out;
  EXPECT_EQ(
      out[0].rfind("TIME                 DECISION  USER              OP      KIND         NAMESPACE/NAME", 0),
      0u)
      << out[0];
  for (const auto& line : out) EXPECT_LE(columns(line), 120u) << line;
  // Records in chain order; the long service account name is cut with an ellipsis.
  EXPECT_EQ(
      out[1].rfind(
          "2026-11-23T10:00:02Z warn      system:serviceac\xE2\x80\xA6 UPDATE  Deployment   shop/object-2",
          0),
      0u)
      << out[1];
  EXPECT_EQ(out[10].rfind("2026-11-23T10:00:29Z warn dry  ", 0), 0u) << out[10];  // a dry run
}

TEST_F(AuditCli, QueryJsonPrintsTheMatchingRecordsAsLogged) {
  auto r =
      gitgate(with_files({"audit", "query", "--output", "json", "--user", "bob", "--namespace", "payments"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::string logged;
  for (auto it = files_.rbegin(); it != files_.rend(); ++it) logged += gitgate::testing::read_file(*it);
  auto out = lines_of(r.out);
  ASSERT_EQ(out.size(), 3u) << r.out;  // indices 4, 13, 22
  for (const auto& line : out) {
    EXPECT_NE(logged.find(line + "\n"), std::string::npos) << line;
    EXPECT_NE(line.find(R"("user":"bob")"), std::string::npos);
  }
  EXPECT_NE(out[0].find(R"("uid":"uid-4")"), std::string::npos);
}

TEST_F(AuditCli, QuerySkipsAMalformedLineNamingIt) {
  auto lines = testing::read_lines(log_);
  lines.insert(lines.begin() + 1, "garbage");
  testing::write_lines(log_, lines);
  auto r = gitgate(with_files({"audit", "query", "--output", "json"}));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(lines_of(r.out).size(), 30u);
  EXPECT_EQ(r.err, log_ +
                       ":2: skipped: not JSON (The JSON document has an improper structure: missing or "
                       "superfluous commas, braces, missing keys, etc.)\n");
}

TEST_F(AuditCli, SummaryCountsDecisionsUsersAndDeniedObjects) {
  auto r = gitgate(with_files({"audit", "summary", "--since", "2026-11-23T10:00:00Z"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Records: 30 (2026-11-23T10:00:00Z .. 2026-11-23T10:00:29Z)"), std::string::npos)
      << r.out;
  auto out = lines_of(r.out);
  auto row = [&](const std::string& name) {
    for (const auto& line : out) {
      if (line.rfind(name + " ", 0) == 0) return line.substr(line.find_last_of(' ') + 1);
    }
    return std::string("absent");
  };
  EXPECT_EQ(row("deny"), "10");
  EXPECT_EQ(row("governed-path-changed"), "10");
  EXPECT_EQ(row("bob"), "10");
  EXPECT_EQ(row("shop"), "12");
  EXPECT_EQ(row("Deployment shop/object-1"), "1");

  auto json =
      gitgate(with_files({"audit", "summary", "--output", "json", "--decision", "deny", "--top", "2"}));
  EXPECT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(
      json.out.rfind(
          R"({"records":10,"from":"2026-11-23T10:00:01.000000Z","to":"2026-11-23T10:00:28.000000Z","decisions":{"deny":10},)",
          0),
      0u)
      << json.out;
}

TEST_F(AuditCli, ReportWritesOnePageAndExitsZeroWhenTheChainIsIntact) {
  const std::string page = (dir_ / "report.html").string();
  auto r = gitgate(with_files({"audit", "report", "--out", page}));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out.rfind("wrote " + page + " (", 0), 0u) << r.out;
  EXPECT_TRUE(r.out.ends_with(" KiB): 30 records in range; chain intact\n")) << r.out;
  std::string html = gitgate::testing::read_file(page);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("Chain intact: 30 records, seq 1 to 30."), std::string::npos);

  auto ranged = gitgate(with_files({"audit", "report", "--out", "-", "--since", "2026-11-23T10:00:10Z",
                                    "--until", "2026-11-23T10:00:20Z", "--rows", "3"}));
  EXPECT_EQ(ranged.exit_code, 0) << ranged.err;
  EXPECT_EQ(ranged.out.rfind("<!DOCTYPE html>", 0), 0u) << "--out - writes the page to stdout";
  EXPECT_NE(ranged.err.find("10 records in range; chain intact"), std::string::npos) << ranged.err;
  EXPECT_NE(ranged.out.find("The newest 3 of 10 records in the range are listed"), std::string::npos);
}

TEST_F(AuditCli, ReportOnATamperedLogIsStillWrittenAndExitsOne) {
  auto lines = testing::read_lines(name(1));
  ASSERT_GE(lines.size(), 3u);
  lines.erase(lines.begin() + 1);
  testing::write_lines(name(1), lines);
  const std::string page = (dir_ / "report.html").string();
  auto r = gitgate(with_files({"audit", "report", "--out", page}));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("; CHAIN BROKEN: " + name(1) + ":2: record seq "), std::string::npos) << r.out;
  EXPECT_NE(gitgate::testing::read_file(page).find("Chain broken: " + name(1) + ":2: record seq "),
            std::string::npos);
}

TEST_F(AuditCli, ReportUsageErrorsExitTwo) {
  EXPECT_EQ(gitgate({"audit", "report"}).exit_code, 2);
  auto since = gitgate(with_files({"audit", "report", "--out", "-", "--since", "last week"}));
  EXPECT_EQ(since.exit_code, 2);
  EXPECT_NE(since.err.find("gitgate audit report: --since: "), std::string::npos) << since.err;
  auto unwritable = gitgate(with_files({"audit", "report", "--out", (dir_ / "no/such/dir/r.html").string()}));
  EXPECT_EQ(unwritable.exit_code, 2);
  EXPECT_NE(unwritable.err.find("cannot write"), std::string::npos) << unwritable.err;
}

TEST_F(AuditCli, EverySubcommandHasHelp) {
  for (const char* sub : {"query", "summary", "verify", "report"}) {
    auto r = gitgate({"audit", sub, "--help"});
    EXPECT_EQ(r.exit_code, 0) << sub;
    EXPECT_NE(r.out.find("--"), std::string::npos) << sub;
  }
  EXPECT_NE(gitgate({"audit", "verify", "--help"}).out.find("--hmac-key"), std::string::npos);
  EXPECT_NE(gitgate({"audit", "query", "--help"}).out.find("--since"), std::string::npos);
}

}  // namespace
}  // namespace gitgate::audit
