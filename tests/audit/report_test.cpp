// The HTML report on logs written by the real writer: every decision kind, a tampered chain, an empty
// range, hostile strings in records, Secret requests, and a log larger than the table.
#include "audit/report.h"

#include <gtest/gtest.h>

#include <regex>

#include "audit/html.h"
#include "audit/log.h"
#include "tests/audit/audit_test_support.h"
#include "tests/support/support.h"

namespace gitgate::audit {
namespace {

using gitgate::testing::TempDir;

constexpr const char* kSnapshot = "3f2c1ab9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3";
constexpr const char* kNextSnapshot = "77aa88bb99cc00dd11ee22ff33aa44bb55cc66dd";
constexpr const char* kWebLink =
    "https://github.com/example/fleet/blob/3f2c1ab9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3/clusters/prod/shop/"
    "web.yaml#L2";

size_t count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++n;
  return n;
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A decision about Deployment shop/web (declared at clusters/prod/shop/web.yaml:2), `seconds` after the
// sample start.
Record web(int seconds, std::string decision, std::string reason, std::string identity, std::string user) {
  Record r;
  r.time_us = testing::kSampleStartUs + int64_t{seconds} * 1'000'000;
  r.uid = "uid-" + std::to_string(seconds);
  r.decision = std::move(decision);
  r.reason = std::move(reason);
  r.identity = std::move(identity);
  r.user = std::move(user);
  r.mode = "enforce";
  r.operation = "UPDATE";
  r.group = "apps";
  r.version = "v1";
  r.kind = "Deployment";
  r.resource = "deployments";
  r.ns = "shop";
  r.name = "web";
  r.policy = "shop";
  r.commit = kSnapshot;
  r.file = "clusters/prod/shop/web.yaml";
  r.line = 2;
  r.url = kWebLink;
  return r;
}

// One record of each kind a reviewer looks for, in the order the server would have written them.
std::vector<Record> every_kind() {
  std::vector<Record> records;
  records.push_back(web(0, "allow", "agent-matches-git", "agent",
                        "system:serviceaccount:flux-system:kustomize-controller"));
  records.back().agent = "flux";

  Record denied = web(10, "deny", "governed-path-changed", "person", "jane@example.com");
  denied.violation = true;
  denied.message =
      "gitgate: Deployment shop/web is declared in Git (clusters/prod/shop/web.yaml:2 @ 3f2c1ab). "
      "spec.replicas: Git has 3, request has 5. Change it in Git instead. " +
      std::string(kWebLink);
  denied.changed_paths = {"/spec/replicas"};
  records.push_back(denied);

  Record scale = denied;
  scale.time_us += 5'000'000;
  scale.kind = "Scale";
  scale.group = "autoscaling";
  scale.subresource = "scale";
  records.push_back(scale);

  Record deleted = web(20, "deny", "declared-object-delete", "person", "jane@example.com");
  deleted.violation = true;
  deleted.operation = "DELETE";
  deleted.kind = "ConfigMap";
  deleted.group = "";
  deleted.resource = "configmaps";
  deleted.name = "cfg";
  deleted.file = "clusters/prod/shop/cfg.yaml";
  deleted.url = "";
  deleted.message =
      "gitgate: ConfigMap shop/cfg is declared in Git. Deleting it is not allowed: remove it from Git "
      "instead.";
  records.push_back(deleted);

  Record warned = web(30, "warn", "governed-path-changed", "person", "sam@example.com");
  warned.mode = "warn";
  warned.violation = true;
  warned.message =
      "gitgate: Deployment shop/web is declared in Git. spec.replicas: Git has 3, request has 4.";
  records.push_back(warned);

  Record glass = web(40, "warn", "break-glass", "break-glass", "alice@example.com");
  glass.groups = {"gitgate:break-glass", "system:authenticated"};
  glass.violation = true;
  glass.message =
      "gitgate: Deployment shop/web is declared in Git. spec.replicas: Git has 3, request has 7. Change it "
      "in Git instead.";
  glass.changed_paths = {"/spec/replicas"};
  records.push_back(glass);

  Record mismatch = web(50, "deny", "agent-git-mismatch", "agent",
                        "system:serviceaccount:flux-system:kustomize-controller");
  mismatch.agent = "flux";
  mismatch.violation = true;
  mismatch.commit = kNextSnapshot;
  mismatch.message =
      "gitgate: Deployment shop/web written by agent flux does not match Git. "
      "spec.template.spec.containers[web].image: Git has \"web:1.5.0\", request has \"evil:latest\".";
  records.push_back(mismatch);

  Record agent_delete = web(55, "allow", "agent-delete-declared", "agent",
                            "system:serviceaccount:flux-system:kustomize-controller");
  agent_delete.agent = "flux";
  agent_delete.operation = "DELETE";
  agent_delete.commit = kNextSnapshot;
  records.push_back(agent_delete);

  Record dry = web(60, "allow", "agent-matches-git", "agent",
                   "system:serviceaccount:argocd:argocd-application-controller");
  dry.dry_run = true;
  dry.commit = kNextSnapshot;
  records.push_back(dry);

  Record ungoverned = web(70, "allow", "not-governed", "none", "system:kube-scheduler");
  ungoverned.commit = ungoverned.file = ungoverned.url = "";
  ungoverned.line = 0;
  ungoverned.kind = "Pod";
  ungoverned.ns = "kube-system";
  ungoverned.name = "coredns-1";
  records.push_back(ungoverned);
  return records;
}

class AuditReport : public ::testing::Test {
 protected:
  void write(const std::vector<Record>& records, uint64_t max_file_bytes = 64ull << 20) {
    AuditLog::Options options;
    options.file = log_;
    options.max_file_bytes = max_file_bytes;
    auto log = AuditLog::open(options);
    ASSERT_TRUE(log) << log.error();
    for (const auto& r : records) (*log)->submit(Record(r));
    (*log)->close();
    files_.clear();
    for (int i = 0; std::filesystem::exists(name(i)); ++i) files_.push_back(name(i));
  }
  std::string name(int i) const { return i == 0 ? log_ : log_ + "." + std::to_string(i); }

  audit::Report report(ReportOptions options = {}) {
    options.generated_us = testing::kSampleStartUs + 3'600'000'000;
    auto hasher = ChainHasher::sha256();
    EXPECT_TRUE(hasher) << hasher.error();
    auto r = make_report(files_, *hasher, options);
    EXPECT_TRUE(r) << r.error();
    return r ? std::move(r).value() : audit::Report{};
  }

  // The text of the section with this id.
  static std::string section(const std::string& html, const std::string& id) {
    size_t begin = html.find("<section id=\"" + id + "\"");
    if (begin == std::string::npos) return {};
    return html.substr(begin, html.find("</section>", begin) - begin);
  }

  TempDir dir_;
  std::string log_ = (dir_ / "audit.log").string();
  std::vector<std::string> files_;
};

TEST_F(AuditReport, ShowsEveryDecisionKindFromARotatedLog) {
  write(every_kind(), 4096);
  ASSERT_GE(files_.size(), 2u) << "the log should have rotated";
  auto r = report();
  EXPECT_TRUE(r.chain_intact);
  EXPECT_EQ(r.records_in_range, 10u);
  const std::string& html = r.html;

  EXPECT_TRUE(has(section(html, "chain"), "Chain intact: 10 records, seq 1 to 10."))
      << section(html, "chain");
  EXPECT_TRUE(has(section(html, "chain"), "Head: <span class=\"mono\">sha256 "));

  const std::string totals = section(html, "totals");
  EXPECT_TRUE(has(totals, "<b>4</b><span class=\"badge allow\">allow</span>")) << totals;
  EXPECT_TRUE(has(totals, "<b>4</b><span class=\"badge deny\">deny</span>")) << totals;
  EXPECT_TRUE(has(totals, "<b>1</b><span class=\"badge warn\">warn</span>")) << totals;
  EXPECT_TRUE(has(totals, "<b>1</b><span class=\"badge glass\">break-glass</span>")) << totals;
  EXPECT_TRUE(has(totals, "<b>2</b>agent mismatches")) << totals;
  EXPECT_TRUE(has(totals, "<b>1</b>dry runs")) << totals;
  EXPECT_TRUE(has(totals, "<b>2</b>commits relied on")) << totals;

  // The timeline: 70 s in 1 s bars, every series drawn, both commits marked where first relied on.
  const std::string timeline = section(html, "timeline");
  EXPECT_TRUE(has(timeline, "1 s per bar")) << timeline;
  for (int s = 0; s < 4; ++s) EXPECT_TRUE(has(timeline, "<rect class=\"s" + std::to_string(s) + "\"")) << s;
  EXPECT_TRUE(has(timeline, std::string("<title>commit ") + kSnapshot +
                                ": first relied on 2026-11-23 10:00:00.000Z, 6 decisions"))
      << timeline;
  EXPECT_TRUE(has(timeline, std::string("<title>commit ") + kNextSnapshot +
                                ": first relied on 2026-11-23 10:00:50.000Z, 3 decisions"))
      << timeline;

  const std::string objects = section(html, "denied-objects");
  EXPECT_TRUE(has(objects, "<td class=\"u\">Deployment shop/web</td><td class=\"n\">2</td>")) << objects;
  EXPECT_TRUE(has(objects, "<td class=\"u\">Scale shop/web (scale)</td><td class=\"n\">1</td>")) << objects;
  const std::string people = section(html, "denied-people");
  EXPECT_TRUE(has(people, "<td class=\"u\">jane@example.com</td><td class=\"n\">3</td>")) << people;
  EXPECT_TRUE(has(people, "flux-system:kustomize-controller</td><td class=\"n\">1</td>")) << people;
  const std::string reasons = section(html, "reasons");
  EXPECT_TRUE(has(reasons, "governed-path-changed</td><td class=\"n\">2</td><td class=\"n\">3</td>"))
      << reasons;

  // Break-glass: who, with which groups, what changed, Git's value against the request's, the commit.
  const std::string glass = section(html, "break-glass");
  EXPECT_EQ(count(glass, "<tr>"), 2u) << glass;  // the header and the one use
  EXPECT_TRUE(
      has(glass, "alice@example.com<br><span class=\"muted\">gitgate:break-glass, system:authenticated"));
  EXPECT_TRUE(has(glass, "<code>/spec/replicas</code>"));
  EXPECT_TRUE(has(glass, "spec.replicas: Git has 3, request has 7."));
  EXPECT_TRUE(
      has(glass, std::string("href=\"") + kWebLink + "\">clusters/prod/shop/web.yaml:2 @ 3f2c1ab</a>"))
      << glass;

  const std::string agents = section(html, "agent-mismatches");
  EXPECT_EQ(count(agents, "<tr>"), 3u) << agents;
  EXPECT_TRUE(has(agents, "agent-git-mismatch"));
  EXPECT_TRUE(has(agents, "agent-delete-declared"));
  EXPECT_TRUE(has(agents, "request has &quot;evil:latest&quot;"));

  // All records, newest first, each citation linked when the record has a link.
  const std::string all = section(html, "all");
  EXPECT_EQ(count(all, "<tr>"), 11u);
  EXPECT_TRUE(has(all, "<span id=\"shown\">10</span> rows shown"));
  ASSERT_NE(all.find("2026-11-23T10:01:10.000000Z"), std::string::npos);
  EXPECT_LT(all.find("2026-11-23T10:01:10.000000Z"), all.find("2026-11-23T10:00:00.000000Z"))
      << "newest first";
  EXPECT_TRUE(has(all,
                  "coredns-1</td><td class=\"mono\">not-governed</td><td class=\"cite\"><span "
                  "class=\"muted\">&mdash;</span>"))
      << all;
  EXPECT_EQ(count(all, std::string("href=\"") + kWebLink + "\""), 8u);
  EXPECT_TRUE(has(all, "<span class=\"muted\">dry run</span>"));
}

TEST_F(AuditReport, TamperedLogSaysTheChainIsBrokenWhereAndMarksWhatFollows) {
  write(every_kind());
  auto lines = testing::read_lines(log_);
  ASSERT_EQ(lines.size(), 10u);
  // Someone turns the kubectl scale denial (seq 3) into an allow.
  const std::string deny = R"("decision":"deny")";
  ASSERT_NE(lines[2].find(deny), std::string::npos);
  lines[2].replace(lines[2].find(deny), deny.size(), R"("decision":"allow")");
  testing::write_lines(log_, lines);

  auto r = report();
  EXPECT_FALSE(r.chain_intact);
  EXPECT_EQ(r.chain_failure,
            log_ + ":3: record seq 3: altered: its hash no longer matches the prev of record seq 4 (" + log_ +
                ":4)");
  const std::string chain = section(r.html, "chain");
  EXPECT_TRUE(
      has(chain, "class=\"banner broken\">&#10007; Chain broken: " + log_ + ":3: record seq 3: altered"))
      << chain;
  EXPECT_TRUE(has(chain, "Records seq 1 to 2 chain correctly; from seq 3 on nothing can be trusted"))
      << chain;
  EXPECT_FALSE(has(chain, "Chain intact"));
  // Seq 3..10 in the table are untrusted; seq 1 and 2 are not.
  EXPECT_EQ(count(section(r.html, "all"), "<tr class=\"untrusted\">"), 8u);
}

TEST_F(AuditReport, GapsAtTheStartAndTornTailsAreNotesNotFailures) {
  write(every_kind(), 4096);
  ASSERT_GE(files_.size(), 2u);
  // The oldest file was rotated away, and a crash left half a record at the end of the newest.
  std::filesystem::remove(files_.back());
  files_.pop_back();
  std::string torn = gitgate::testing::read_file(log_) + R"({"seq":11,"schema":2,"time":"2026-11)";
  gitgate::testing::write_file(log_, torn);
  auto r = report();
  EXPECT_TRUE(r.chain_intact) << r.chain_failure;
  const std::string chain = section(r.html, "chain");
  EXPECT_TRUE(has(chain, "Chain intact: ")) << chain;
  EXPECT_TRUE(
      std::regex_search(chain, std::regex("<li>[^<]*: the chain starts at seq [0-9]+: earlier records were "
                                          "rotated away or are in files not given</li>")))
      << chain;
  EXPECT_TRUE(has(chain, log_ + ":")) << chain;
  EXPECT_TRUE(has(chain, "truncated tail: the last line is an unfinished record")) << chain;
  EXPECT_TRUE(has(chain, "Lines that are not records (1, skipped)")) << chain;
  EXPECT_TRUE(has(chain, "unfinished last line (an interrupted write)")) << chain;
}

TEST_F(AuditReport, EmptyRangeStillVerifiesTheWholeChain) {
  write(every_kind());
  ReportOptions options;
  options.since_us = testing::kSampleStartUs + 86'400'000'000;
  options.until_us = testing::kSampleStartUs + 2 * 86'400'000'000;
  auto r = report(options);
  EXPECT_TRUE(r.chain_intact);
  EXPECT_EQ(r.records_in_range, 0u);
  EXPECT_TRUE(has(r.html, "Range 2026-11-24 10:00:00Z to 2026-11-25 10:00:00Z: 0 records (of 10 read)"))
      << r.html;
  EXPECT_TRUE(has(section(r.html, "chain"), "Chain intact: 10 records"));
  EXPECT_TRUE(has(section(r.html, "timeline"), "No decisions in this range."));
  EXPECT_TRUE(has(section(r.html, "break-glass"), "None in this range."));
  EXPECT_TRUE(has(section(r.html, "all"), "None in this range."));
  EXPECT_FALSE(has(r.html, "id=\"records\""));
}

TEST_F(AuditReport, RangeSelectsRecordsByTime) {
  write(every_kind());
  ReportOptions options;
  options.since_us = testing::kSampleStartUs + 10'000'000;
  options.until_us = testing::kSampleStartUs + 40'000'000;
  auto r = report(options);
  EXPECT_EQ(r.records_in_range, 4u);  // seconds 10, 15, 20, 30
  EXPECT_TRUE(has(section(r.html, "break-glass"), "None in this range."));
}

TEST_F(AuditReport, EmptyLog) {
  write({});
  gitgate::testing::write_file(log_, "");
  files_ = {log_};
  auto r = report();
  EXPECT_TRUE(r.chain_intact);
  EXPECT_TRUE(has(r.html, "No records to verify."));
  EXPECT_TRUE(has(r.html, "0 records."));
}

TEST_F(AuditReport, RecordTextCannotInjectMarkupOrLinks) {
  Record evil = web(0, "deny", "governed-path-changed", "person", "<script>alert(1)</script>");
  evil.violation = true;
  evil.name = "\"><img src=x onerror=alert(1)>";
  evil.ns = "shop'><svg onload=alert(2)>";
  evil.message = "</td></tr></table><script>alert(3)</script><a href=\"https://evil.example\">click</a>";
  evil.groups = {"gitgate:break-glass\xE2\x80\xAEgnp.exe", "<style>*{display:none}</style>"};
  evil.identity = "break-glass";
  evil.reason = "break-glass";
  evil.url = "javascript:alert(4)//https://github.com/";
  evil.file = "x\" onmouseover=\"alert(5)";
  evil.changed_paths = {"/spec/<iframe src=//evil.example>"};
  evil.commit = "<b>bold</b>";
  Record agent = evil;
  agent.identity = "agent";
  agent.agent = "<marquee>flux</marquee>";
  agent.reason = "agent-git-mismatch";
  agent.url = "data:text/html,<script>alert(6)</script>";
  Record linked = web(1, "deny", "governed-path-changed", "person", "bob");
  linked.url = "https://github.com/o/r/blob/abc/x.yaml#L1\" onclick=\"alert(7)";
  write({evil, agent, linked});

  const std::string html = report().html;
  EXPECT_EQ(count(html, "<script"), 1u) << "only the report's own script";
  EXPECT_EQ(count(html, "<style"), 1u);
  for (const char* tag :
       {"<img", "<svg onload", "<iframe", "<marquee", "<b>bold", "<a href=\"https://evil", "<table><script"})
    EXPECT_FALSE(has(html, tag)) << tag;
  EXPECT_TRUE(has(html, "&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;script&gt;alert(3)"));
  EXPECT_TRUE(has(html, "&lt;b&gt;bold&lt;/b&gt;"));
  EXPECT_TRUE(has(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
  EXPECT_TRUE(has(html, "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
  EXPECT_TRUE(has(html, "shop&#39;&gt;&lt;svg onload=alert(2)&gt;"));
  EXPECT_FALSE(has(html, "\xE2\x80\xAE")) << "a right-to-left override would reorder what the reader sees";
  // Links come only from http(s) URLs, and an attribute cannot be broken out of.
  std::smatch m;
  std::string rest = html;
  size_t links = 0;
  while (std::regex_search(rest, m, std::regex("href=\"([^\"]*)\""))) {
    EXPECT_EQ(m[1].str().rfind("https://", 0), 0u) << m[1];
    ++links;
    rest = m.suffix();
  }
  EXPECT_EQ(links, 0u) << "javascript:, data: and a URL with a quote are not links";
  EXPECT_FALSE(has(html, "onclick=\"alert"));
  EXPECT_FALSE(has(html, "onmouseover=\"alert"));
  // The page runs nothing but its own script and style, even if something slipped through.
  EXPECT_TRUE(std::regex_search(
      html, std::regex("Content-Security-Policy\" content=\"default-src 'none'; style-src "
                       "'sha256-[A-Za-z0-9+/=]{44}'; script-src 'sha256-[A-Za-z0-9+/=]{44}';")));
  EXPECT_FALSE(has(html, "unsafe-inline"));
}

TEST_F(AuditReport, SecretRequestsLeaveNoValueInTheReport) {
  const char* const values[] = {"NEW-hunter2-zq7Xw9", "OLD-correct-horse-battery-k3Lm",
                                "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "TkVXLWh1bnRlcjItenE3WHc5",
                                "R0lULXZhbHVlLWZyb20tZ2l0"};
  testing::FixtureRequest request("secret-apply.json");
  Decision d;
  d.allowed = false;
  d.violation = true;
  d.reason = "governed-path-changed";
  d.message =
      "gitgate: Secret shop/db-credentials is declared in Git. /data/password changed. Change it in Git "
      "instead.";
  d.identity = Identity::BreakGlass;
  d.snapshot_commit = testing::snapshot_commit();
  d.declared = std::make_shared<DeclaredObject>(
      ObjectKey{"", "Secret", "shop", "db-credentials"}, "v1",
      R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"db-credentials","namespace":"shop"},"data":{"password":"R0lULXZhbHVlLWZyb20tZ2l0"}})",
      "clusters/prod/shop/db.yaml", 1, 1);
  d.changed_paths = {"/data/password", "/stringData/password-plain"};
  write({make_record(request.request(), d, testing::kSampleStartUs, 120)});
  const std::string html = report().html;
  ASSERT_TRUE(has(section(html, "break-glass"), "Secret shop/db-credentials"));
  ASSERT_TRUE(has(html, "<code>/data/password</code>"));
  for (const char* value : values) EXPECT_FALSE(has(html, value)) << value;
}

TEST_F(AuditReport, LargeLogKeepsTheNewestRowsAndStaysUnderFiveMegabytes) {
  std::vector<Record> records;
  const std::string long_message = "gitgate: " + std::string(1000, 'm');
  for (int i = 0; i < 20'000; ++i) {
    Record r = testing::sample_record(i);
    r.message = long_message;
    r.user = "user-" + std::to_string(i % 500) + "@example.com";
    r.name = "object-" + std::to_string(i);
    records.push_back(std::move(r));
  }
  write(records);
  ReportOptions options;
  options.table_rows = 20'000;
  auto r = report(options);
  EXPECT_EQ(r.records_in_range, 20'000u);
  EXPECT_LT(r.html.size(), 5'000'000u);
  const std::string all = section(r.html, "all");
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(all, m, std::regex("The newest ([0-9,]+) of 20,000 records in the range are listed")))
      << all.substr(0, 2000);
  EXPECT_EQ(count(all, "<tr>") - 1, std::stoul(std::regex_replace(m[1].str(), std::regex(","), "")));
  EXPECT_TRUE(has(all, "shop/object-19999</td>"));
  EXPECT_FALSE(has(all, "shop/object-0</td>"));
  // 20,000 seconds in at most 120 bars.
  EXPECT_LE(count(section(r.html, "timeline"), "<g><title>"), 120u);
  EXPECT_TRUE(has(section(r.html, "timeline"), "5 min per bar"));
}

TEST(ReportBuilder, ManyMonthsOfRecordsMergeIntoAtMost120Bars) {
  ReportBuilder builder({});
  LoggedRecord logged;
  std::string line;
  uint64_t seq = 0;
  // One record a minute for 90 days: 129,600 records, more buckets than are stored at any width below 6 h.
  for (int64_t minute = 0; minute < 90 * 24 * 60; ++minute) {
    logged.seq = ++seq;
    logged.record = testing::sample_record(static_cast<int>(minute % 3));
    logged.record.time_us = testing::kSampleStartUs + minute * 60'000'000;
    line.clear();
    append_record_line(line, logged.record, logged.seq, kZeroDigestHex);
    builder.add(logged, line);
  }
  ReportContext context;
  std::string html = builder.render(context);
  const std::string timeline = html.substr(html.find("id=\"timeline\""));
  EXPECT_TRUE(has(timeline, "1 d per bar")) << timeline.substr(0, 300);
  EXPECT_EQ(count(timeline.substr(0, timeline.find("</svg>")), "<g><title>"),
            91u);  // 90 days over 91 day bars
  EXPECT_TRUE(has(timeline, "allow 43,200</li>"));
}

TEST(ReportHtml, EscapesMarkupControlsAndInvalidUtf8) {
  EXPECT_EQ(html::text("a<b>&\"c\"'d'"), "a&lt;b&gt;&amp;&quot;c&quot;&#39;d&#39;");
  EXPECT_EQ(html::text("tab\there\x1b[2J\x7f"), "tab\xEF\xBF\xBDhere\xEF\xBF\xBD[2J\xEF\xBF\xBD");
  EXPECT_EQ(html::text("bad \xff\xfe utf8 \xC0\xAF"),
            "bad \xEF\xBF\xBD\xEF\xBF\xBD utf8 \xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(html::text("caf\xC3\xA9 \xE2\x9C\x93 \xF0\x9F\x94\x92"),
            "caf\xC3\xA9 \xE2\x9C\x93 \xF0\x9F\x94\x92");
  EXPECT_EQ(html::text("rtl\xE2\x80\xAEtxt.exe \xE2\x81\xA6x\xE2\x81\xA9 \xC2\x85"),
            "rtl\xEF\xBF\xBDtxt.exe \xEF\xBF\xBDx\xEF\xBF\xBD \xEF\xBF\xBD");
  EXPECT_EQ(html::text("h\xC3\xA9llo world", 5), "h\xC3\xA9llo\xE2\x80\xA6");
  EXPECT_EQ(html::text("<<<<", 2), "&lt;&lt;\xE2\x80\xA6");
}

TEST(ReportHtml, OnlyHttpUrlsAreLinks) {
  EXPECT_TRUE(html::is_safe_link("https://github.com/o/r/blob/abc/x.yaml#L1"));
  EXPECT_TRUE(html::is_safe_link("HTTP://gitea.local:3000/o/r/src/commit/abc/x.yaml"));
  EXPECT_FALSE(html::is_safe_link("javascript:alert(1)"));
  EXPECT_FALSE(html::is_safe_link(" https://x.example"));
  EXPECT_FALSE(html::is_safe_link("data:text/html,x"));
  EXPECT_FALSE(html::is_safe_link("https://x.example/\"onclick=\"x"));
  EXPECT_FALSE(html::is_safe_link("https://x.example/a b"));
  EXPECT_FALSE(html::is_safe_link("https://"));
  EXPECT_FALSE(html::is_safe_link(""));
}

}  // namespace
}  // namespace gitgate::audit
