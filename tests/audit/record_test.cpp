#include <gtest/gtest.h>

#include <memory>

#include "audit/chain.h"
#include "audit/query.h"
#include "audit/record.h"
#include "audit/timestamp.h"
#include "tests/audit/audit_test_support.h"

namespace gitgate::audit {
namespace {

using testing::FixtureRequest;

TEST(AuditRecord, CopiesRequestDecisionAndProvenance) {
  Record r;
  {
    // The request's views die with the decoder: the record must own everything it keeps.
    FixtureRequest fixture("deployment-edit.json");
    r = make_record(fixture.request(), testing::deny_web_replicas(), testing::kSampleStartUs + 123456, 87);
  }
  EXPECT_EQ(r.time_us, testing::kSampleStartUs + 123456);
  EXPECT_EQ(r.uid, "705ab4f5-6393-11e8-b7cc-42010a800002");
  EXPECT_EQ(r.decision, "deny");
  EXPECT_TRUE(r.violation);
  EXPECT_EQ(r.mode, "enforce");
  EXPECT_EQ(r.reason, "governed-path-changed");
  EXPECT_NE(r.message.find("spec.replicas: Git has 3, request has 5"), std::string::npos);
  EXPECT_EQ(r.identity, "person");
  EXPECT_EQ(r.user, "alice@example.com");
  EXPECT_EQ(r.groups, (std::vector<std::string>{"developers", "system:authenticated"}));
  EXPECT_EQ(r.operation, "UPDATE");
  EXPECT_EQ(r.group, "apps");
  EXPECT_EQ(r.version, "v1");
  EXPECT_EQ(r.kind, "Deployment");
  EXPECT_EQ(r.resource, "deployments");
  EXPECT_EQ(r.subresource, "");
  EXPECT_EQ(r.ns, "shop");
  EXPECT_EQ(r.name, "web");
  EXPECT_FALSE(r.dry_run);
  EXPECT_EQ(r.policy, "prod");
  EXPECT_EQ(r.commit, "3f2c1ab9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3");
  EXPECT_EQ(r.file, "clusters/prod/shop/web.yaml");
  EXPECT_EQ(r.line, 12u);
  EXPECT_EQ(r.file_commit, "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b");
  EXPECT_EQ(r.author, "Alice Example <alice@example.com>");
  EXPECT_EQ(r.author_time, 1'795'176'000);
  EXPECT_EQ(r.signature, "verified");
  EXPECT_EQ(r.signer, "alice@example.com");
  EXPECT_EQ(r.changed_paths, (std::vector<std::string>{"/spec/replicas"}));
  EXPECT_EQ(r.latency_us, 87);
}

TEST(AuditRecord, ScaleRecordsTheScaleKindOnTheParentResource) {
  FixtureRequest fixture("deployment-scale.json");
  Decision d = testing::deny_web_replicas();
  Record r = make_record(fixture.request(), d, testing::kSampleStartUs, 10);
  EXPECT_EQ(r.group, "autoscaling");
  EXPECT_EQ(r.kind, "Scale");
  EXPECT_EQ(r.resource, "deployments");
  EXPECT_EQ(r.subresource, "scale");
  EXPECT_EQ(r.user, "bob");
}

TEST(AuditRecord, AgentDryRunIsFlaggedAndUndeclaredObjectsHaveNoProvenance) {
  FixtureRequest fixture("configmap-create-dry-run.json");
  Decision d;
  d.reason = "unmanaged";
  d.identity = Identity::Agent;
  d.agent = "flux";
  d.mode = Mode::Audit;
  Record r = make_record(fixture.request(), d, testing::kSampleStartUs, 5);
  EXPECT_TRUE(r.dry_run);
  EXPECT_EQ(r.decision, "allow");
  EXPECT_EQ(r.identity, "agent");
  EXPECT_EQ(r.agent, "flux");
  EXPECT_EQ(r.mode, "audit");
  EXPECT_EQ(r.group, "");
  EXPECT_EQ(r.kind, "ConfigMap");
  EXPECT_EQ(r.commit, "");
  EXPECT_EQ(r.file, "");
  EXPECT_EQ(r.line, 0u);
  EXPECT_EQ(r.author, "");

  std::string line;
  append_record_line(line, r, 1, kZeroDigestHex);
  EXPECT_NE(line.find(R"("dryRun":true)"), std::string::npos);
  EXPECT_NE(line.find(R"("authorTime":"")"), std::string::npos);
  EXPECT_NE(line.find(R"("line":0)"), std::string::npos);
}

TEST(AuditRecord, WarnOutcomeWhenAllowedWithWarnings) {
  FixtureRequest fixture("deployment-edit.json");
  Decision d = testing::deny_web_replicas();
  d.allowed = true;
  d.mode = Mode::Warn;
  d.warnings = {"gitgate: declared in Git"};
  Record r = make_record(fixture.request(), d, 0, 0);
  EXPECT_EQ(r.decision, "warn");
  EXPECT_EQ(r.mode, "warn");
  EXPECT_TRUE(r.violation);
}

TEST(AuditRecord, LineHasFixedKeyOrderAndRoundTrips) {
  FixtureRequest fixture("deployment-edit.json");
  Record r =
      make_record(fixture.request(), testing::deny_web_replicas(), testing::kSampleStartUs + 123456, 87);
  const std::string prev(64, 'a');
  std::string line;
  append_record_line(line, r, 42, prev);
  EXPECT_EQ(
      line.rfind(
          R"({"seq":42,"schema":3,"time":"2026-11-23T10:00:00.123456Z","uid":"705ab4f5-6393-11e8-b7cc-42010a800002","decision":"deny",)",
          0),
      0u)
      << line;
  EXPECT_TRUE(line.ends_with(R"(,"latencyUs":87,"peer":"","peerSubject":"","prev":")" + prev + "\"}")) << line;
  EXPECT_NE(line.find(R"("authorTime":"2026-11-20T12:00:00Z")"), std::string::npos) << line;
  EXPECT_EQ(line.find('\n'), std::string::npos);

  const char* keys[] = {"seq",         "schema",    "time",         "uid",        "decision",  "violation",
                        "mode",        "reason",    "message",      "identity",   "agent",     "user",
                        "groups",      "operation", "group",        "version",    "kind",      "resource",
                        "subresource", "namespace", "name",         "dryRun",     "policy",    "commit",
                        "file",        "line",      "url",          "fileCommit", "author",    "authorTime",
                        "signature",   "signer",    "changedPaths", "limit",      "latencyUs", "peer",
                        "peerSubject", "prev"};
  size_t at = 0;
  for (const char* key : keys) {
    std::string quoted = std::string(1, '"').append(key).append("\":");
    size_t found = line.find(quoted, at);
    ASSERT_NE(found, std::string::npos) << key;
    at = found;
  }

  RecordParser parser;
  auto back = parser.parse(line);
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(back->seq, 42u);
  EXPECT_EQ(back->schema, kRecordSchema);
  EXPECT_EQ(back->prev, prev);
  std::string again;
  append_record_line(again, back->record, 42, prev);
  EXPECT_EQ(again, line);
}

TEST(AuditRecord, CarriesTheDecisionsLinkToTheDeclaredLine) {
  FixtureRequest fixture("deployment-edit.json");
  Decision d = testing::deny_web_replicas();
  d.url =
      "https://github.com/example/fleet/blob/3f2c1ab9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3/clusters/prod/shop/"
      "web.yaml#L12";
  Record r = make_record(fixture.request(), d, testing::kSampleStartUs, 10);
  EXPECT_EQ(r.url, d.url);
  std::string line;
  append_record_line(line, r, 1, kZeroDigestHex);
  EXPECT_NE(line.find(R"("line":12,"url":"https://github.com/example/fleet/blob/)"), std::string::npos)
      << line;
  RecordParser parser;
  auto back = parser.parse(line);
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(back->record.url, d.url);
}

TEST(AuditRecord, LinesWrittenBeforeTheSchemaKeyReadAsVersionOne) {
  Record r = testing::sample_record(0);
  std::string line;
  append_record_line(line, r, 1, kZeroDigestHex);
  const std::string schema_key = R"("schema":3,)";
  ASSERT_NE(line.find(schema_key), std::string::npos) << line;
  line.erase(line.find(schema_key), schema_key.size());
  line.erase(line.find(R"("url":"",)"), 9);
  line.erase(line.find(R"("peer":"","peerSubject":"",)"), 27);
  RecordParser parser;
  auto back = parser.parse(line);
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(back->schema, 1u);
  EXPECT_EQ(back->record.user, r.user);
  EXPECT_EQ(back->record.url, "");
}

TEST(AuditRecord, NamesTheTlsPeerThatSentTheReview) {
  FixtureRequest fixture("deployment-edit.json");
  AdmissionRequest request = fixture.request();
  request.peer_address = "10.244.1.7:51234";
  request.peer_subject = "CN=mallory,O=system:authenticated";
  Record r = make_record(request, testing::deny_web_replicas(), testing::kSampleStartUs, 10);
  std::string line;
  append_record_line(line, r, 1, kZeroDigestHex);
  EXPECT_NE(line.find(R"("peer":"10.244.1.7:51234","peerSubject":"CN=mallory,O=system:authenticated")"),
            std::string::npos)
      << line;
  RecordParser parser;
  auto back = parser.parse(line);
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(back->record.peer, "10.244.1.7:51234");
  EXPECT_EQ(back->record.peer_subject, "CN=mallory,O=system:authenticated");
  Filter filter;
  filter.peer.emplace("10.244.*");
  EXPECT_TRUE(filter.matches(back->record));
  filter.peer.emplace("CN=kube-apiserver*");
  EXPECT_FALSE(filter.matches(back->record));
}

TEST(AuditRecord, AReusedRecordKeepsNothingFromTheLineBefore) {
  Record full = testing::sample_record(9);  // a dry run with groups, paths and a message
  full.violation = true;
  full.url = "https://github.com/o/r/blob/abc/x.yaml#L1";
  std::string first;
  append_record_line(first, full, 1, kZeroDigestHex);
  RecordParser parser;
  LoggedRecord reused;
  ASSERT_TRUE(parser.parse_into(first, reused).ok());
  ASSERT_TRUE(reused.record.dry_run);
  ASSERT_FALSE(reused.record.groups.empty());
  // A minimal line from another writer: keys in another order, most of them missing.
  const std::string second =
      R"({"seq":2,"decision":"allow","user":"bob","time":"2026-11-23T10:00:00Z","prev":")" +
      std::string(64, 'b') + R"("})";
  ASSERT_TRUE(parser.parse_into(second, reused).ok());
  EXPECT_EQ(reused.seq, 2u);
  EXPECT_EQ(reused.schema, 1u);
  EXPECT_EQ(reused.record.user, "bob");
  EXPECT_EQ(reused.record.decision, "allow");
  EXPECT_EQ(reused.record.time_us, testing::kSampleStartUs);
  EXPECT_FALSE(reused.record.dry_run);
  EXPECT_FALSE(reused.record.violation);
  EXPECT_TRUE(reused.record.groups.empty());
  EXPECT_TRUE(reused.record.changed_paths.empty());
  EXPECT_EQ(reused.record.message, "");
  EXPECT_EQ(reused.record.url, "");
  EXPECT_EQ(reused.record.line, 0u);
  EXPECT_EQ(reused.record.latency_us, 0);
  EXPECT_EQ(reused.record.author_time, 0);
}

TEST(AuditRecord, AReusedRecordIsNoGapAfterAGapLineAndAGapLineClearsTheDecision) {
  RecordParser parser;
  LoggedRecord reused;
  std::string decision_line;
  append_record_line(decision_line, testing::sample_record(1), 1, kZeroDigestHex);
  ASSERT_TRUE(parser.parse_into(decision_line, reused).ok());
  ASSERT_FALSE(reused.record.user.empty());
  Gap gap{"stdout", 2, 4, "stdout: write failed", testing::kSampleStartUs, testing::kSampleStartUs};
  std::string gap_line;
  append_gap_line(gap_line, gap, testing::kSampleStartUs, 5, std::string(64, 'c'));
  ASSERT_TRUE(parser.parse_into(gap_line, reused).ok());
  ASSERT_TRUE(reused.gap);
  EXPECT_EQ(reused.record.user, "");
  EXPECT_EQ(reused.record.decision, "");
  ASSERT_TRUE(parser.parse_into(decision_line, reused).ok());
  EXPECT_FALSE(reused.gap) << "the decision after a gap record read as a gap";
  EXPECT_FALSE(reused.record.user.empty());
}

TEST(AuditRecord, OversizedFieldsAreBounded) {
  Record big;
  {
    FixtureRequest fixture("deployment-edit.json");
    Decision d = testing::deny_web_replicas();
    AdmissionRequest request = fixture.request();
    const std::string long_name(20000, 'x');
    request.user.username = long_name;
    d.changed_paths.assign(500, "/spec/template/spec/containers/0/env/1/value");
    big = make_record(request, d, 0, 0);
  }
  EXPECT_EQ(big.user.size(), kMaxFieldBytes);
  EXPECT_EQ(big.changed_paths.size(), kMaxListItems);
  std::string line;
  append_record_line(line, big, 1, kZeroDigestHex);
  EXPECT_LT(line.size(), kMaxLineBytes);
}

TEST(AuditRecord, ControlCharactersAndInvalidUtf8StayValidJson) {
  Record r = testing::sample_record(0);
  r.user = "eve\n{\"seq\":1}\x1b[2J\xff";
  std::string line;
  append_record_line(line, r, 7, kZeroDigestHex);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  RecordParser parser;
  auto back = parser.parse(line);
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(back->record.user, "eve\n{\"seq\":1}\x1b[2J\xEF\xBF\xBD");
}

TEST(AuditRecord, ParserNamesWhatIsWrong) {
  RecordParser parser;
  EXPECT_NE(parser.parse("not json").error().find("not JSON"), std::string::npos);
  EXPECT_NE(parser.parse("[1]").error().find("not a JSON object"), std::string::npos);
  EXPECT_NE(parser.parse(R"({"prev":"00"})").error().find("'seq'"), std::string::npos);
  EXPECT_NE(parser.parse(R"({"seq":1,"prev":"00"})").error().find("'prev'"), std::string::npos);
  std::string line;
  append_record_line(line, testing::sample_record(1), 1, kZeroDigestHex);
  std::string bad_time = line;
  bad_time.replace(bad_time.find("2026-11-23T"), 4, "20x6");
  EXPECT_NE(parser.parse(bad_time).error().find("'time'"), std::string::npos);
}

TEST(AuditTimestamp, FormatsUtcWithMicroseconds) {
  EXPECT_EQ(format_rfc3339(testing::kSampleStartUs + 123456), "2026-11-23T10:00:00.123456Z");
  EXPECT_EQ(format_rfc3339(testing::kSampleStartUs, false), "2026-11-23T10:00:00Z");
  EXPECT_EQ(format_rfc3339(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(format_rfc3339(-1), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(format_rfc3339(951'782'400'000'000), "2000-02-29T00:00:00.000000Z");
}

TEST(AuditTimestamp, ParsesOffsetsFractionsAndRoundTrips) {
  EXPECT_EQ(*parse_rfc3339("2026-11-23T10:00:00Z"), testing::kSampleStartUs);
  EXPECT_EQ(*parse_rfc3339("2026-11-23T11:30:00+01:30"), testing::kSampleStartUs);
  EXPECT_EQ(*parse_rfc3339("2026-11-23 10:00:00.5z"), testing::kSampleStartUs + 500000);
  for (int64_t t :
       {int64_t{0}, int64_t{-1}, testing::kSampleStartUs + 999999, int64_t{4'102'444'800'000'001}}) {
    EXPECT_EQ(*parse_rfc3339(format_rfc3339(t)), t);
  }
}

TEST(AuditTimestamp, RejectsMalformedTimes) {
  for (const char* text :
       {"", "2026-11-23", "2026-13-01T00:00:00Z", "2026-11-23T10:00:00", "2026-11-31T00:00:00Z",
        "2026-11-23T25:00:00Z", "2026-11-23T10:00:00Zjunk", "yesterday"}) {
    auto parsed = parse_rfc3339(text);
    EXPECT_FALSE(parsed) << text;
    if (!parsed) {
      EXPECT_NE(parsed.error().find("RFC 3339"), std::string::npos);
    }
  }
}

TEST(AuditChain, Sha256AndHmacOfALine) {
  auto sha = ChainHasher::sha256();
  ASSERT_TRUE(sha);
  // Known answer: SHA-256("abc").
  EXPECT_EQ(to_hex(sha->hash("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  auto mac = ChainHasher::hmac_sha256("key");
  ASSERT_TRUE(mac);
  // Known answer: HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), twice (re-init works).
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(to_hex(mac->hash("The quick brown fox jumps over the lazy dog")),
              "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
  }
  EXPECT_TRUE(mac->keyed());
  EXPECT_FALSE(sha->keyed());
}

}  // namespace
}  // namespace gitgate::audit
