#include "webhook/codec.h"

#include <gtest/gtest.h>

#include "tests/support/support.h"

namespace gitgate::webhook {
namespace {

using testing::fixture_path;
using testing::read_file;

struct Decoded {
  PaddedBody body;
  ReviewDecoder decoder;
  Result<AdmissionRequest> result;
  explicit Decoded(std::string_view text) : body(text), result(decoder.decode(body.view())) {}
};

std::string decode_error(std::string_view text) {
  Decoded d(text);
  EXPECT_FALSE(d.result.ok()) << text.substr(0, 200);
  return d.result.ok() ? std::string() : d.result.error();
}

TEST(ReviewDecoder, DecodesEveryRequestFieldOfADeploymentUpdate) {
  Decoded d(read_file(fixture_path("admission/deployment-update.json")));
  ASSERT_TRUE(d.result.ok()) << d.result.error();
  const AdmissionRequest& r = *d.result;
  EXPECT_EQ(r.uid, "9e4d2c1b-7a6f-4e5d-8c3b-2a1f0e9d8c7b");
  EXPECT_EQ(r.kind.group, "apps");
  EXPECT_EQ(r.kind.version, "v1");
  EXPECT_EQ(r.kind.kind, "Deployment");
  EXPECT_EQ(r.resource.resource, "deployments");
  EXPECT_EQ(r.request_kind.kind, "Deployment");
  EXPECT_EQ(r.name, "web");
  EXPECT_EQ(r.ns, "shop");
  EXPECT_EQ(r.operation, Operation::Update);
  EXPECT_EQ(r.user.username, "jane@example.com");
  EXPECT_TRUE(r.user.in_group("developers"));
  EXPECT_FALSE(r.user.in_group("system:masters"));
  ASSERT_TRUE(r.object.has_value());
  ASSERT_TRUE(r.old_object.has_value());
  int64_t replicas = 0;
  ASSERT_FALSE((*r.object)["spec"]["replicas"].get(replicas));
  EXPECT_EQ(replicas, 5);
  EXPECT_FALSE(r.dry_run);
  EXPECT_TRUE(r.options.has_value());
}

TEST(ReviewDecoder, PodCreateHasNoOldObject) {
  Decoded d(read_file(fixture_path("admission/pod-create.json")));
  ASSERT_TRUE(d.result.ok()) << d.result.error();
  EXPECT_EQ(d.result->operation, Operation::Create);
  EXPECT_FALSE(d.result->old_object.has_value());
  EXPECT_EQ(d.result->user.username, "system:serviceaccount:kube-system:replicaset-controller");
}

constexpr const char* kMinimal =
    R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1",)"
    R"("kind":{"group":"","version":"v1","kind":"ConfigMap"},"resource":{"group":"","version":"v1","resource":"configmaps"},)"
    R"("name":"cfg","namespace":"shop","operation":"DELETE","userInfo":{"username":"bob"},)"
    R"("oldObject":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"}},"dryRun":true}})";

TEST(ReviewDecoder, DeleteWithDryRunAndNoObject) {
  Decoded d(kMinimal);
  ASSERT_TRUE(d.result.ok()) << d.result.error();
  EXPECT_EQ(d.result->operation, Operation::Delete);
  EXPECT_TRUE(d.result->dry_run);
  EXPECT_FALSE(d.result->object.has_value());
  EXPECT_FALSE(d.result->user.groups.has_value());
}

std::string with(std::string_view from, std::string_view to) {
  std::string s = kMinimal;
  auto pos = s.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  return s.replace(pos, from.size(), to);
}

TEST(ReviewDecoder, RejectsWhatIsNotJson) {
  EXPECT_NE(decode_error("hello").find("not valid JSON"), std::string::npos);
  EXPECT_NE(decode_error("").find("empty"), std::string::npos);
  EXPECT_NE(decode_error(R"({"apiVersion":)").find("not valid JSON"), std::string::npos);
  EXPECT_NE(decode_error("[1,2]").find("JSON object"), std::string::npos);
}

TEST(ReviewDecoder, RejectsWrongApiVersionAndKind) {
  EXPECT_NE(decode_error(with("admission.k8s.io/v1\"", "admission.k8s.io/v1beta1\"")).find("admissionReviewVersions"),
            std::string::npos);
  EXPECT_NE(decode_error(with("\"AdmissionReview\"", "\"ConversionReview\"")).find("expected \"AdmissionReview\""),
            std::string::npos);
}

TEST(ReviewDecoder, RejectsMissingOrEmptyUid) {
  EXPECT_EQ(decode_error(with(R"("uid":"u1",)", "")), "request.uid: is missing or empty");
  EXPECT_EQ(decode_error(with(R"("uid":"u1")", R"("uid":"")")), "request.uid: is missing or empty");
  EXPECT_EQ(decode_error(with(R"("uid":"u1")", R"("uid":7)")), "request.uid: must be a string");
}

TEST(ReviewDecoder, RejectsMissingRequest) {
  EXPECT_EQ(decode_error(R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"})"), "request: is missing");
  EXPECT_EQ(decode_error(R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":[]})"),
            "request: must be a JSON object");
}

TEST(ReviewDecoder, RejectsDuplicateKeysNamingThePath) {
  auto err = decode_error(with(R"("metadata":{"name":"cfg"})", R"("metadata":{"name":"cfg","name":"other"})"));
  EXPECT_NE(err.find("duplicate key \"name\""), std::string::npos) << err;
  EXPECT_NE(err.find("/request/oldObject/metadata"), std::string::npos) << err;
  EXPECT_NE(decode_error(with(R"("uid":"u1",)", R"("uid":"u1","uid":"u2",)")).find("duplicate key \"uid\""),
            std::string::npos);
}

// Objects of more than 8 keys take another path (sorted signatures of the keys): a repeat is found there too,
// for short keys, keys that differ only in their middle bytes, and keys that differ only in length.
TEST(ReviewDecoder, RejectsDuplicateKeysInLargeObjects) {
  auto labels = [](const std::vector<std::string>& keys) {
    std::string out = R"("metadata":{"name":"cfg","labels":{)";
    for (size_t i = 0; i < keys.size(); ++i) out += (i ? "," : "") + ("\"" + keys[i] + "\":\"v\"");
    return out + "}}";
  };
  std::vector<std::string> keys;
  for (int i = 0; i < 40; ++i) keys.push_back("example.com/team-" + std::to_string(i) + "-owner-of-this");
  keys.push_back("a");
  keys.push_back("ab");
  keys.push_back("abc");
  keys.push_back("");
  {
    Decoded unique(with(R"("metadata":{"name":"cfg"})", labels(keys)));
    EXPECT_TRUE(unique.result.ok()) << unique.result.error();
  }
  for (const std::string& repeated : {keys[7], std::string("a"), std::string(""), std::string("abc")}) {
    auto with_repeat = keys;
    with_repeat.insert(with_repeat.begin() + 20, repeated);
    auto err = decode_error(with(R"("metadata":{"name":"cfg"})", labels(with_repeat)));
    EXPECT_NE(err.find("duplicate key \"" + repeated + "\""), std::string::npos) << err;
  }
}

TEST(ReviewDecoder, RejectsDeepNestingWithoutOverflowingTheStack) {
  std::string deep(100000, '[');
  deep += std::string(100000, ']');
  std::string body = with(R"("dryRun":true)", R"("dryRun":true,"x":)" + deep);
  EXPECT_NE(decode_error(body).find("nesting deeper than 512"), std::string::npos);
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += R"({"a":)";
  objects += "1" + std::string(100000, '}');
  EXPECT_NE(decode_error(objects).find("nesting deeper"), std::string::npos);
}

TEST(ReviewDecoder, RejectsNonObjectObject) {
  EXPECT_EQ(decode_error(with(R"("oldObject":{)", R"("object":"text","oldObject":{)")),
            "request.object: must be a JSON object or null");
  EXPECT_EQ(decode_error(with(R"("oldObject":{)", R"("object":[1],"oldObject":{)")),
            "request.object: must be a JSON object or null");
}

TEST(ReviewDecoder, RejectsUpdateWithoutObject) {
  EXPECT_EQ(decode_error(with("\"DELETE\"", "\"UPDATE\"")), "request.object: is required for UPDATE");
}

TEST(ReviewDecoder, RejectsUnknownOperationAndBadTypes) {
  EXPECT_EQ(decode_error(with("\"DELETE\"", "\"PATCH\"")), "request.operation: must be CREATE, UPDATE, DELETE or CONNECT");
  EXPECT_EQ(decode_error(with(R"("dryRun":true)", R"("dryRun":"yes")")), "request.dryRun: must be a boolean");
  EXPECT_EQ(decode_error(with(R"("userInfo":{"username":"bob"})", R"("userInfo":{"username":"bob","groups":[1]})")),
            "request.userInfo.groups: must be an array of strings");
  EXPECT_EQ(decode_error(with(R"("userInfo":{"username":"bob"},)", "")), "request.userInfo: is missing");
  EXPECT_EQ(decode_error(with(R"("resource":{"group":"","version":"v1","resource":"configmaps"},)", "")),
            "request.resource: is missing");
}

TEST(ReviewDecoder, RejectsInvalidUtf8) {
  EXPECT_NE(decode_error(with("\"bob\"", "\"b\xff" "b\"")).find("invalid UTF-8"), std::string::npos);
}

TEST(ReviewDecoder, DecoderIsReusableAcrossBodies) {
  ReviewDecoder decoder;
  PaddedBody big(read_file(fixture_path("admission/deployment-update.json")));
  PaddedBody small(kMinimal);
  for (int i = 0; i < 3; ++i) {
    auto a = decoder.decode(big.view());
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->name, "web");
    auto b = decoder.decode(small.view());
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(b->name, "cfg");
  }
}

TEST(EncodeResponse, AllowEchoesUidAndCarriesAuditAnnotations) {
  Decision d;
  d.reason = "not-governed";
  std::string out = encode_response("abc-123", d);
  EXPECT_EQ(out,
            R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"abc-123","allowed":true,)"
            R"("auditAnnotations":{"decision":"allow","reason":"not-governed"}}})");
}

TEST(EncodeResponse, DenyHasStatus403MessageWarningsAndProvenanceNeverAPatch) {
  Decision d;
  d.allowed = false;
  d.violation = true;
  d.reason = "governed-path-changed";
  d.message = "gitgate: Deployment shop/web is declared in Git";
  d.warnings = {"w1"};
  d.policy = "prod";
  auto commit = std::make_shared<CommitInfo>();
  commit->id = "3f2c1ab0000000000000000000000000000000000";
  d.snapshot_commit = commit;
  d.declared = std::make_shared<DeclaredObject>(ObjectKey{"apps", "Deployment", "shop", "web"}, "apps/v1", "{}",
                                                "clusters/prod/shop/web.yaml", 12, 1);
  std::string out = encode_response("u\"1", d);
  EXPECT_NE(out.find(R"("uid":"u\"1","allowed":false,"status":{"code":403,"reason":"Forbidden","message":"gitgate: Deployment shop/web is declared in Git"})"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find(R"("warnings":["w1"])"), std::string::npos);
  EXPECT_NE(out.find(R"("source":"clusters/prod/shop/web.yaml:12")"), std::string::npos);
  EXPECT_NE(out.find(R"("commit":"3f2c1ab)"), std::string::npos);
  EXPECT_EQ(out.find("patch"), std::string::npos);
}

}  // namespace
}  // namespace gitgate::webhook
