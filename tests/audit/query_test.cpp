#include <gtest/gtest.h>

#include "audit/query.h"
#include "audit/timestamp.h"
#include "tests/audit/audit_test_support.h"
#include "tests/support/support.h"

namespace gitgate::audit {
namespace {

using gitgate::testing::TempDir;
using testing::kSampleStartUs;
using testing::sample_record;

using Flag = std::pair<std::string FilterFlags::*, const char*>;

FilterFlags flags_of(std::initializer_list<Flag> flags) {
  FilterFlags out;
  for (const auto& [member, value] : flags) out.*member = value;
  return out;
}

Filter filter(std::initializer_list<Flag> flags) {
  auto f = make_filter(flags_of(flags), kSampleStartUs + 3600LL * 1'000'000);
  EXPECT_TRUE(f) << f.error();
  return f ? *f : Filter{};
}

int count_matching(const Filter& f, int records = 90) {
  int n = 0;
  for (int i = 0; i < records; ++i) n += f.matches(sample_record(i));
  return n;
}

TEST(AuditQuery, FiltersByDecisionUserNamespaceKindNameAndCommit) {
  EXPECT_EQ(count_matching(filter({})), 90);
  EXPECT_EQ(count_matching(filter({{&FilterFlags::decision, "deny"}})), 30);
  EXPECT_EQ(count_matching(filter({{&FilterFlags::user, "bob"}})), 30);
  EXPECT_EQ(count_matching(filter({{&FilterFlags::user, "system:serviceaccount:flux-system:*"}})), 30);
  EXPECT_EQ(count_matching(filter({{&FilterFlags::ns, "shop"}})), 30);
  EXPECT_EQ(count_matching(filter({{&FilterFlags::decision, "deny"}, {&FilterFlags::ns, "shop"}})), 10);
  // Kind by its name or its resource, any case.
  EXPECT_EQ(count_matching(filter({{&FilterFlags::kind, "deployment"}})), 30);
  EXPECT_EQ(count_matching(filter({{&FilterFlags::kind, "Deployments"}})), 30);
  EXPECT_EQ(count_matching(filter({{&FilterFlags::kind, "config*"}})), 30);
  EXPECT_EQ(count_matching(filter({{&FilterFlags::name, "object-3"}})), 18);
  EXPECT_EQ(count_matching(filter({{&FilterFlags::commit, "3F2C1AB"}})), 50);
  EXPECT_EQ(count_matching(filter({{&FilterFlags::commit, "77aa88bb99cc00dd11ee22ff33aa44bb55cc66dd"}})), 40);
}

TEST(AuditQuery, SinceAndUntilTakeDurationsOrTimes) {
  // "now" is one hour after the first sample; samples are one second apart.
  EXPECT_EQ(count_matching(filter({{&FilterFlags::since, "2026-11-23T10:00:30Z"}})), 60);
  EXPECT_EQ(count_matching(filter({{&FilterFlags::until, "2026-11-23T11:00:30+01:00"}})), 30);
  EXPECT_EQ(count_matching(filter({{&FilterFlags::since, "3590s"}})), 80);
  EXPECT_EQ(count_matching(filter({{&FilterFlags::since, "1h"}, {&FilterFlags::until, "59m50s"}})), 10);

  auto bad = make_filter(flags_of({{&FilterFlags::since, "yesterday"}}), 0);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("--since: invalid duration 'yesterday'"), std::string::npos) << bad.error();
  auto bad_time = make_filter(flags_of({{&FilterFlags::until, "2026-11-23T10:00"}}), 0);
  ASSERT_FALSE(bad_time);
  EXPECT_NE(bad_time.error().find("--until: invalid time"), std::string::npos) << bad_time.error();
  auto bad_decision = make_filter(flags_of({{&FilterFlags::decision, "denied"}}), 0);
  ASSERT_FALSE(bad_decision);
  EXPECT_NE(bad_decision.error().find("--decision: 'denied' is not one of allow, deny, warn"),
            std::string::npos);
}

TEST(AuditQuery, SummaryCountsAndTopDeniedObjects) {
  Summary s;
  for (int i = 0; i < 90; ++i) s.add(sample_record(i));
  EXPECT_EQ(s.records, 90u);
  EXPECT_EQ(s.first_time_us, kSampleStartUs);
  EXPECT_EQ(s.last_time_us, kSampleStartUs + 89LL * 1'000'000);
  EXPECT_EQ(s.by_decision, (std::map<std::string, uint64_t>{{"allow", 30}, {"deny", 30}, {"warn", 30}}));
  EXPECT_EQ(s.by_reason.at("governed-path-changed"), 30u);
  EXPECT_EQ(s.by_user.at("bob"), 30u);
  EXPECT_EQ(s.by_namespace.at("(cluster)"), 30u);
  // Denials are indices 1, 4, 7, ...: their kinds, namespaces and names follow from the index.
  auto denied = top(s.denied_objects, 3);
  ASSERT_EQ(denied.size(), 3u);
  uint64_t total = 0;
  for (const auto& [name, count] : s.denied_objects) total += count;
  EXPECT_EQ(total, 30u);
  EXPECT_GE(denied[0].second, denied[1].second);
  EXPECT_GE(denied[1].second, denied[2].second);
  EXPECT_NE(s.denied_objects.count("Deployment shop/object-1"), 0u);
  EXPECT_NE(s.denied_objects.count("ClusterRole object-2"), 0u);
}

TEST(AuditQuery, ReadsRotatedFilesInChainOrderAndReportsMalformedLines) {
  TempDir dir;
  AuditLog::Options options;
  options.file = (dir / "audit.log").string();
  options.max_file_bytes = 4096;
  testing::write_samples(options, 30);
  auto lines = testing::read_lines(dir / "audit.log.1");
  lines.insert(lines.begin() + 1, "{\"not\":\"a record\"}");
  testing::write_lines(dir / "audit.log.1", lines);

  std::vector<std::string> files;
  for (int i = 0; std::filesystem::exists(dir / (i == 0 ? "audit.log" : "audit.log." + std::to_string(i)));
       ++i) {
    files.push_back((dir / (i == 0 ? "audit.log" : "audit.log." + std::to_string(i))).string());
  }
  std::vector<std::string> uids;
  std::vector<ReadProblem> problems;
  Status status = read_records(
      files, [&](const LoggedRecord& r, std::string_view) { uids.push_back(r.record.uid); }, problems);
  ASSERT_TRUE(status) << status.error();
  ASSERT_EQ(uids.size(), 30u);
  for (int i = 0; i < 30; ++i) EXPECT_EQ(uids[i], "uid-" + std::to_string(i));
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].file, (dir / "audit.log.1").string());
  EXPECT_EQ(problems[0].line, 2u);
  EXPECT_EQ(problems[0].what, "field 'seq' is missing or not an unsigned integer");
}

TEST(AuditQuery, LinesAfterAnOverlongLineKeepTheirNumbers) {
  TempDir dir;
  AuditLog::Options options;
  options.file = (dir / "audit.log").string();
  testing::write_samples(options, 6);
  auto lines = testing::read_lines(dir / "audit.log");
  lines.insert(lines.begin() + 2, std::string(3 * kMaxLineBytes + 5, 'x'));
  lines.insert(lines.begin() + 5, "not json");
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  text += std::string(kMaxLineBytes + 1, 'y');  // an overlong unfinished tail
  gitgate::testing::write_file(dir / "audit.log", text);

  int records = 0;
  std::vector<ReadProblem> problems;
  Status status = read_records(
      {(dir / "audit.log").string()}, [&](const LoggedRecord&, std::string_view) { ++records; }, problems);
  ASSERT_TRUE(status) << status.error();
  EXPECT_EQ(records, 6);
  ASSERT_EQ(problems.size(), 3u);
  EXPECT_EQ(problems[0].line, 3u);
  EXPECT_EQ(problems[0].what, "line longer than 1 MiB");
  EXPECT_EQ(problems[1].line, 6u);
  EXPECT_EQ(problems[2].line, 9u);
  EXPECT_EQ(problems[2].what, "line longer than 1 MiB");
}

}  // namespace
}  // namespace gitgate::audit
