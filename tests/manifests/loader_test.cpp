#include "manifests/loader.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include "tests/support/support.h"

namespace gitgate::manifests {
namespace {

using gitgate::testing::fixture_path;
using gitgate::testing::read_file;

FileResult parse(std::string_view path, std::string_view content, const Limits& limits = {},
                 const ParseOptions& options = {}) {
  return parse_file(path, content, limits, options);
}

FileResult parse_fixture(std::string_view name) {
  std::string path = "manifests/" + std::string(name);
  return parse(name, read_file(fixture_path(path)));
}

std::string problems_of(const FileResult& r) {
  std::string out;
  for (const auto& p : r.problems) out += p.to_string() + "\n";
  return out;
}

// The document's JSON parsed back: proves the output is valid JSON and lets tests read fields.
simdjson::dom::element json_of(const Document& doc, simdjson::dom::parser& parser) {
  auto result = parser.parse(doc.json);
  EXPECT_FALSE(result.error()) << "invalid JSON: " << doc.json;
  return result.value_unsafe();
}

TEST(Loader, ReadsEveryObjectOfAMultiDocumentFileWithItsPosition) {
  FileResult r = parse_fixture("multi.yaml");
  EXPECT_EQ(problems_of(r), "");
  ASSERT_EQ(r.documents.size(), 3u);
  EXPECT_EQ(r.documents[0].api_version, "apps/v1");
  EXPECT_EQ(r.documents[0].kind, "Deployment");
  EXPECT_EQ(r.documents[0].ns, "shop");
  EXPECT_EQ(r.documents[0].name, "web");
  EXPECT_EQ(r.documents[0].line, 2u);
  EXPECT_EQ(r.documents[0].column, 1u);
  EXPECT_EQ(r.documents[0].json,
            R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"shop"},)"
            R"("spec":{"replicas":3}})");
  EXPECT_EQ(r.documents[1].kind, "Service");
  EXPECT_EQ(r.documents[1].line, 13u);
  EXPECT_EQ(r.documents[2].kind, "ClusterRole");
  EXPECT_EQ(r.documents[2].line, 21u);
  EXPECT_EQ(r.documents[2].column, 3u);
}

TEST(Loader, ExpandsKindListIntoItsItems) {
  FileResult r = parse_fixture("list.yaml");
  EXPECT_EQ(problems_of(r), "");
  ASSERT_EQ(r.documents.size(), 2u);
  EXPECT_EQ(r.documents[0].name, "first");
  EXPECT_EQ(r.documents[0].line, 4u);
  EXPECT_EQ(r.documents[0].column, 5u);
  EXPECT_EQ(r.documents[1].name, "second");
  // A Secret inside a List is blanked too.
  EXPECT_EQ(r.documents[1].json.find("in-a-list"), std::string::npos);
}

TEST(Loader, ExpandsTypedListsWithItems) {
  FileResult r = parse("cms.yaml",
                       "apiVersion: v1\nkind: ConfigMapList\nitems:\n"
                       "- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n"
                       "- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n");
  EXPECT_EQ(problems_of(r), "");
  ASSERT_EQ(r.documents.size(), 2u);
  EXPECT_EQ(r.documents[1].name, "b");
  EXPECT_EQ(r.documents[1].line, 5u);
}

TEST(Loader, IgnoresKustomizeConfigurationSilently) {
  EXPECT_TRUE(parse("k.yaml",
                    "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                    "resources: [a.yaml]\n")
                  .problems.empty());
  FileResult named = parse("apps/kustomization.yaml", "resources:\n- deployment.yaml\n");
  EXPECT_TRUE(named.problems.empty());
  EXPECT_TRUE(named.documents.empty());
  EXPECT_TRUE(parse("apps/Kustomization", "resources: []\n").problems.empty());
}

TEST(Loader, ReportsDocumentsThatAreNotObjectsWithPathAndLine) {
  FileResult r = parse_fixture("missing-fields.yaml");
  EXPECT_TRUE(r.documents.empty());
  EXPECT_EQ(
      problems_of(r),
      "missing-fields.yaml:1: not a Kubernetes object: no metadata.name (each must be a non-empty string; "
      "generateName may stand for metadata.name); skipped\n"
      "missing-fields.yaml:6: not a Kubernetes object: no apiVersion (each must be a non-empty string; "
      "generateName may stand for metadata.name); skipped\n"
      "missing-fields.yaml:10: not a Kubernetes object: the document is a sequence, not a mapping; "
      "skipped\n");
}

// Argo CD's and Helm's hooks may have only generateName: declared under "<generateName>*", which no object
// the API server names can be, so the engine finds it only for what is created from that generateName.
TEST(Loader, AnObjectWithOnlyGenerateNameIsDeclaredUnderItsPrefix) {
  FileResult r = parse("hook.yaml", "apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: migrate-\n");
  ASSERT_EQ(r.documents.size(), 1u) << problems_of(r);
  EXPECT_EQ(r.documents[0].name, "migrate-*");
  EXPECT_EQ(r.documents[0].json.find("\"name\""), std::string::npos) << "the object itself keeps no name";
  FileResult named = parse("job.yaml", "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: a\n  generateName: b-\n");
  ASSERT_EQ(named.documents.size(), 1u);
  EXPECT_EQ(named.documents[0].name, "a") << "a name wins, as in the API server";
}

TEST(Loader, NonStringNameIsReported) {
  FileResult r = parse("n.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: 1234\n");
  EXPECT_TRUE(r.documents.empty());
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_NE(r.problems[0].reason.find("metadata.name"), std::string::npos);
}

TEST(Loader, ReportsSyntaxErrorsWithLineAndKeepsEarlierDocuments) {
  FileResult r = parse("broken.yaml",
                       "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\n"
                       "apiVersion: v1\nkind: [unclosed\n");
  ASSERT_EQ(r.documents.size(), 1u);
  EXPECT_EQ(r.documents[0].name, "ok");
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].path, "broken.yaml");
  EXPECT_GE(r.problems[0].line, 6u);
  EXPECT_NE(r.problems[0].reason.find("YAML syntax error"), std::string::npos);
}

TEST(Loader, StrayCommaIsASyntaxErrorThatKeepsEarlierDocuments) {
  // yaml-cpp 0.7 reported an empty document for ever here without consuming input; libyaml (and go-yaml)
  // refuse a block node that starts with ','.
  for (std::string_view text : {",x", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n,\n"}) {
    FileResult r = parse("comma.yaml", text);  // a hang fails at the test's timeout
    ASSERT_FALSE(r.problems.empty());
    EXPECT_NE(
        r.problems.back().reason.find("YAML syntax error: did not find expected node content; the rest of "
                                      "the file is skipped"),
        std::string::npos)
        << problems_of(r);
  }
  EXPECT_EQ(
      parse("comma.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n,\n").documents.size(),
      1u);
}

TEST(Loader, BillionLaughsIsReportedQuicklyWithBoundedWork) {
  FileResult r = parse_fixture("billion-laughs.yaml");
  EXPECT_TRUE(r.documents.empty());
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_NE(r.problems[0].reason.find("more than 100000 nodes once aliases are expanded"), std::string::npos)
      << problems_of(r);
}

TEST(Loader, BudgetSpentStopsTheRestOfTheFile) {
  Limits limits;
  limits.max_nodes = 50;
  std::string content;
  for (int i = 0; i < 20; ++i)
    content += "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm" + std::to_string(i) + "}\n---\n";
  FileResult r = parse("many.yaml", content, limits);
  EXPECT_LT(r.documents.size(), 20u);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_NE(r.problems[0].reason.find("file skipped from here"), std::string::npos);
}

TEST(Loader, CyclicAliasIsReportedNotFollowed) {
  FileResult r =
      parse("cycle.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: loop\ndata: &d\n  self: *d\n");
  EXPECT_TRUE(r.documents.empty());
  EXPECT_EQ(problems_of(r),
            "cycle.yaml:6: cyclic alias: the alias refers to a node that contains it; skipped\n");
}

TEST(Loader, CyclicMergeKeyIsReported) {
  FileResult r = parse("cycle.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: &m\n  name: x\n  <<: *m\n");
  EXPECT_TRUE(r.documents.empty());
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_NE(r.problems[0].reason.find("cyclic alias"), std::string::npos);
}

TEST(Loader, HundredThousandDeepNestingIsReportedWithoutCrashing) {
  std::string flow = "a: " + std::string(100000, '[') + std::string(100000, ']') + "\n";
  FileResult r = parse("deep.yaml", flow);
  EXPECT_TRUE(r.documents.empty());
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_NE(r.problems[0].reason.find("deeper"), std::string::npos) << problems_of(r);

  std::string block;
  for (int i = 0; i < 100000; ++i) block += std::string(static_cast<size_t>(i % 2000), ' ') + "- \n";
  Limits big;
  big.max_file_bytes = 1u << 30;
  FileResult rb = parse("deep-block.yaml", block, big);
  EXPECT_TRUE(rb.documents.empty());
  EXPECT_EQ(rb.problems.size(), 1u);
}

TEST(Loader, NestingBeyondMaxDepthIsReported) {
  std::string yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\ndata: ";
  yaml += std::string(100, '[') + std::string(100, ']') + "\n";
  FileResult r = parse("deep.yaml", yaml);
  EXPECT_TRUE(r.documents.empty());
  EXPECT_EQ(problems_of(r), "deep.yaml:4: nested deeper than 64 levels; skipped\n");
}

TEST(Loader, InvalidUtf8SkipsTheFileWithTheLineOfTheFirstBadByte) {
  FileResult r =
      parse("bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {k: \"a\xff\xfe b\"}\n");
  EXPECT_TRUE(r.documents.empty());
  EXPECT_EQ(problems_of(r), "bad.yaml:4: column 13: not valid UTF-8 (manifests must be UTF-8 text); file skipped\n");
}

// Found by the manifest_loader fuzzer: keys that differ only in invalid bytes became one key once each bad
// byte was written as U+FFFD, and the declared object held that key twice.
TEST(Loader, KeysDifferingOnlyInInvalidBytesNeverBecomeOneKey) {
  FileResult r = parse("keys.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  k\xff: a\n  k\xfe: b\n");
  EXPECT_TRUE(r.documents.empty());
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].line, 5u);
}

TEST(Loader, OverlongAndSurrogateEncodingsAreNotUtf8) {
  for (std::string_view bad : {"\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82"}) {
    std::string text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {k: \"" + std::string(bad) + "\"}\n";
    EXPECT_TRUE(parse("bad.yaml", text).documents.empty()) << ::testing::PrintToString(bad);
  }
  std::string good = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {k: \"\xe2\x82\xac \xf0\x9f\x98\x80\"}\n";
  EXPECT_EQ(parse("good.yaml", good).documents.size(), 1u);
}

TEST(Loader, ReportsDuplicateKeysWithTheLineOfTheSecond) {
  FileResult r = parse("dup.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n");
  EXPECT_TRUE(r.documents.empty());
  EXPECT_EQ(problems_of(r), "dup.yaml:5: duplicate key \"name\" in a mapping; skipped\n");
}

TEST(Loader, DuplicateKeysAfterStringificationAreReported) {
  FileResult r =
      parse("dup.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  1: x\n  \"1\": y\n");
  EXPECT_TRUE(r.documents.empty());
  EXPECT_EQ(r.problems.size(), 1u);
}

TEST(Loader, MergeKeysApplyWithLocalKeysWinning) {
  FileResult r = parse("merge.yaml",
                       "base: &base {replicas: 1, paused: false}\n"
                       "more: &more {replicas: 7, minReadySeconds: 5, revisionHistoryLimit: 2}\n"
                       "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: m}\n"
                       "spec:\n  <<: [*base, *more]\n  paused: true\n");
  ASSERT_EQ(r.documents.size(), 1u) << problems_of(r);
  simdjson::dom::parser parser;
  auto spec = json_of(r.documents[0], parser)["spec"];
  EXPECT_EQ(int64_t(spec["replicas"]), 1);
  EXPECT_EQ(bool(spec["paused"]), true);
  EXPECT_EQ(int64_t(spec["minReadySeconds"]), 5);
  EXPECT_EQ(int64_t(spec["revisionHistoryLimit"]), 2);
}

TEST(Loader, MergeKeyOfAScalarIsReported) {
  FileResult r =
      parse("merge.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: m}\ndata:\n  <<: nope\n");
  EXPECT_TRUE(r.documents.empty());
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_NE(r.problems[0].reason.find("merge key"), std::string::npos);
}

TEST(Loader, AliasesAreExpandedWithinBudget) {
  FileResult r = parse("alias.yaml",
                       "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: &n shared, labels: {app: *n}}\n");
  ASSERT_EQ(r.documents.size(), 1u) << problems_of(r);
  EXPECT_NE(r.documents[0].json.find(R"("labels":{"app":"shared"})"), std::string::npos);
}

TEST(Loader, ScalarsFollowKubernetesDecoding) {
  FileResult r =
      parse("types.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: t}\n"
            "spec: {a: 012, b: +5, c: 0x1F, d: .5, e: .inf, f: yes, g: \"12\", h: !!str 3, i: ~, j: True,"
            " k: !!int \"9\"}\n");
  ASSERT_EQ(r.documents.size(), 1u) << problems_of(r);
  EXPECT_NE(r.documents[0].json.find(R"("spec":{"a":12,"b":5,"c":31,"d":0.5,"e":".inf","f":"yes","g":"12",)"
                                     R"("h":"3","i":null,"j":true,"k":9})"),
            std::string::npos)
      << r.documents[0].json;
}

TEST(Loader, NonStringKeysAreStringified) {
  FileResult r = parse("keys.yaml",
                       "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: k}\n"
                       "data: {1: one, true: yes, ~: nothing, 0x10: sixteen}\n");
  ASSERT_EQ(r.documents.size(), 1u) << problems_of(r);
  EXPECT_NE(r.documents[0].json.find(R"("data":{"1":"one","true":"yes","null":"nothing","16":"sixteen"})"),
            std::string::npos)
      << r.documents[0].json;
}

// Found by the manifest_loader fuzzer: a mapping key's child index was read as a text offset past the end
// of the scalar text (many aliases make many children and no text), which threw out of the loader.
TEST(Loader, ComplexKeyAfterManyAliasesIsReportedNotThrown) {
  std::string text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: k}\ndata:\n  a: &a x\n  l: [";
  for (int i = 0; i < 500; ++i) text += "*a,";
  text += "*a]\n  ? {m: n}\n  : b\n";
  FileResult r = parse("keys.yaml", text);
  EXPECT_TRUE(r.documents.empty());
  ASSERT_EQ(r.problems.size(), 1u) << problems_of(r);
  EXPECT_NE(r.problems[0].reason.find("must be a scalar"), std::string::npos) << problems_of(r);
}

// Found by the manifest_loader fuzzer: `0003…30.` was written as a 44-digit JSON integer, which the
// engine's JSON reader refuses, so the object could never be compared with a request.
TEST(Loader, AFloatWithoutFractionDigitsBeyond64BitsIsStoredAsADouble) {
  FileResult r = parse("big.yaml",
                       "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec:\n"
                       "  size: 000033333333333333333333333333333333333333333330.\n  small: -007.\n");
  ASSERT_EQ(r.documents.size(), 1u) << problems_of(r);
  simdjson::dom::parser parser;
  simdjson::dom::element spec = json_of(r.documents[0], parser)["spec"];
  EXPECT_DOUBLE_EQ(spec["size"].get_double().value(), 3.333333333333333e43);
  EXPECT_EQ(spec["small"].get_int64().value(), -7);
}

TEST(Loader, ComplexKeysAreReported) {
  FileResult r =
      parse("keys.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: k}\ndata:\n  ? [a]\n  : b\n");
  EXPECT_TRUE(r.documents.empty());
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_NE(r.problems[0].reason.find("must be a scalar"), std::string::npos);
}

TEST(Loader, ExplicitTagMismatchIsReportedWithoutEchoingTheValue) {
  FileResult r =
      parse("tag.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: s}\ndata: {n: !!int hunter2}\n");
  EXPECT_TRUE(r.documents.empty());
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].line, 4u);
  EXPECT_EQ(problems_of(r).find("hunter2"), std::string::npos);
}

TEST(Loader, SecretValuesAreBlankedAndSopsMetadataDropped) {
  FileResult r = parse_fixture("secret.yaml");
  ASSERT_EQ(r.documents.size(), 1u) << problems_of(r);
  const std::string& json = r.documents[0].json;
  EXPECT_EQ(json, R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"db"},"type":"Opaque",)"
                  R"("data":{"password":""},"stringData":{"token":""}})");
  for (auto secret : {"aHVudGVyMg==", "s3cr3t-t0ken", "ENC[", "sops"})
    EXPECT_EQ(json.find(secret), std::string::npos) << secret;
}

TEST(Loader, SecretValuesReachedThroughAliasesOrMergesAreBlanked) {
  FileResult r = parse("secret.yaml",
                       "creds: &c {user: admin, pass: pa55w0rd}\n"
                       "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  <<: *c\n");
  ASSERT_EQ(r.documents.size(), 1u) << problems_of(r);
  EXPECT_EQ(r.documents[0].json.find("pa55w0rd"), std::string::npos);
  EXPECT_NE(r.documents[0].json.find(R"("stringData":{"user":"","pass":""})"), std::string::npos);
  // The "creds" helper holds the values too: a Secret keeps only the fields the API server knows.
  EXPECT_EQ(r.documents[0].json.find("creds"), std::string::npos);
}

TEST(Loader, SecretLastAppliedConfigurationIsDropped) {
  FileResult r =
      parse("secret.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  annotations:\n    team: a\n"
            "    kubectl.kubernetes.io/last-applied-configuration: '{\"data\":{\"k\":\"c2VjcmV0\"}}'\n"
            "data: {k: c2VjcmV0}\n");
  ASSERT_EQ(r.documents.size(), 1u) << problems_of(r);
  EXPECT_EQ(r.documents[0].json,
            R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","annotations":{"team":"a"}},)"
            R"("data":{"k":""}})");
}

TEST(Loader, JsonFilesIncludingSurrogatePairs) {
  FileResult r =
      parse("w.json", R"({"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"},)"
                      R"("spec":{"smile":"\ud83d\ude00","lone":"\ud800x","quote":"a\"b\\u0041"}})");
  ASSERT_EQ(r.documents.size(), 1u) << problems_of(r);
  simdjson::dom::parser parser;
  auto spec = json_of(r.documents[0], parser)["spec"];
  EXPECT_EQ(std::string_view(spec["smile"]), "\xF0\x9F\x98\x80");
  EXPECT_EQ(std::string_view(spec["lone"]), "\xEF\xBF\xBDx");
  EXPECT_EQ(std::string_view(spec["quote"]), "a\"b\\u0041");
}

TEST(Loader, OversizedFileIsReported) {
  Limits limits;
  limits.max_file_bytes = 10;
  FileResult r = parse("big.yaml", "apiVersion: v1\n", limits);
  EXPECT_EQ(problems_of(r), "big.yaml: file is 15 bytes, over the limit of 10; skipped\n");
}

TEST(Loader, KustomizeOriginIsTakenAndRemoved) {
  std::string rendered =
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  annotations:\n"
      "    config.kubernetes.io/origin: |\n      path: base/app.yaml\n"
      "---\n"
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: gen\n  annotations:\n    keep: \"yes\"\n"
      "    config.kubernetes.io/origin: |\n      configuredIn: kustomization.yaml\n      configuredBy:\n"
      "        apiVersion: builtin\n        kind: ConfigMapGenerator\n";
  ParseOptions options;
  options.kustomize_origin = true;
  FileResult r = parse("rendered", rendered, {}, options);
  ASSERT_EQ(r.documents.size(), 2u) << problems_of(r);
  EXPECT_EQ(r.documents[0].origin, "base/app.yaml");
  EXPECT_EQ(r.documents[0].json, R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"app"}})");
  EXPECT_EQ(r.documents[1].origin, "kustomization.yaml");
  EXPECT_EQ(
      r.documents[1].json,
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"gen","annotations":{"keep":"yes"}}})");
  // Without the option the annotation is an ordinary one.
  FileResult plain = parse("rendered.yaml", rendered);
  EXPECT_EQ(plain.documents[0].origin, "");
  EXPECT_NE(plain.documents[0].json.find("config.kubernetes.io/origin"), std::string::npos);
}

TEST(Loader, ManifestPaths) {
  EXPECT_TRUE(is_manifest_path("a/b.yaml"));
  EXPECT_TRUE(is_manifest_path("b.YML"));
  EXPECT_TRUE(is_manifest_path("c.json"));
  EXPECT_FALSE(is_manifest_path("README.md"));
  EXPECT_FALSE(is_manifest_path("yaml"));
}

TEST(Declare, NamespacedBuiltinWithoutNamespaceTakesTheDefault) {
  FileResult r = parse_fixture("multi.yaml");
  auto service = declare(r.documents[1], "multi.yaml", "team-a");
  EXPECT_EQ(service->key().group, "");
  EXPECT_EQ(service->key().kind, "Service");
  EXPECT_EQ(service->key().ns, "team-a");
  EXPECT_FALSE(service->namespace_unresolved());
  EXPECT_EQ(service->file(), "multi.yaml");
  EXPECT_EQ(service->line(), 13u);
  auto deployment = declare(r.documents[0], "multi.yaml", "team-a");
  EXPECT_EQ(deployment->key().group, "apps");
  EXPECT_EQ(deployment->key().ns, "shop");
}

TEST(Declare, ClusterScopedKindsHaveNoNamespaceEvenWhenWritten) {
  FileResult r =
      parse("ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, namespace: junk}\n");
  auto ns = declare(r.documents.at(0), "ns.yaml", "default");
  EXPECT_EQ(ns->key().ns, "");
  EXPECT_FALSE(ns->namespace_unresolved());
  FileResult crd = parse("crd.yaml",
                         "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
                         "metadata: {name: widgets.example.com}\n");
  EXPECT_EQ(declare(crd.documents.at(0), "crd.yaml", "default")->key().ns, "");
}

TEST(Declare, CustomKindWithoutNamespaceIsUnresolved) {
  FileResult r = parse("w.yaml",
                       "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n---\n"
                       "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: v, namespace: x}\n");
  auto unplaced = declare(r.documents.at(0), "w.yaml", "default");
  EXPECT_EQ(unplaced->key().group, "example.com");
  EXPECT_EQ(unplaced->key().ns, "");
  EXPECT_TRUE(unplaced->namespace_unresolved());
  auto placed = declare(r.documents.at(1), "w.yaml", "default");
  EXPECT_EQ(placed->key().ns, "x");
  EXPECT_FALSE(placed->namespace_unresolved());

  Snapshot snapshot(std::make_shared<CommitInfo>(), "default", {unplaced, placed}, {});
  EXPECT_TRUE(snapshot.find({"example.com", "Widget", "", "w"}).declared());
  EXPECT_TRUE(snapshot.find({"example.com", "Widget", "default", "w"}).declared());
  EXPECT_FALSE(snapshot.find({"example.com", "Widget", "other", "w"}).declared());
}

TEST(Kustomization, OriginAnnotationsAreAdded) {
  auto plain = with_origin_annotations("resources:\n- a.yaml\n");
  ASSERT_TRUE(plain.ok()) << plain.error();
  EXPECT_NE(plain->find("buildMetadata:\n  - originAnnotations"), std::string::npos) << *plain;
  auto existing = with_origin_annotations("resources: [a.yaml]\nbuildMetadata: [transformerAnnotations]\n");
  ASSERT_TRUE(existing.ok());
  EXPECT_NE(existing->find("transformerAnnotations"), std::string::npos);
  EXPECT_NE(existing->find("originAnnotations"), std::string::npos);
  EXPECT_FALSE(with_origin_annotations("- a\n").ok());
  EXPECT_FALSE(with_origin_annotations("buildMetadata: yes\n").ok());
}

}  // namespace
}  // namespace gitgate::manifests
