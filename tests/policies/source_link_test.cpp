// Links to the declared line: spec.source.webURL in the policy file (explicit, derived, off, refused) and
// the link the engine's decisions carry (the decision's url, the end of the denial message within 1 KiB).
#include <filesystem>
#include <functional>
#include <memory>

#include <gtest/gtest.h>

#include "manifests/loader.h"
#include "policies/engine.h"
#include "policies/loader.h"
#include "tests/support/support.h"
#include "webhook/codec.h"

namespace gitgate::policies {
namespace {

namespace fs = std::filesystem;
using testing::fixture_path;
using testing::read_file;

constexpr const char* kCommit = "3f2c1ab9e4d84c1f0a6b2c3d4e5f60718293a4b5";

std::string policy_with_source(const std::string& source_lines) {
  return "apiVersion: gitgate.dev/v1alpha1\nkind: GatePolicy\nmetadata:\n  name: prod\nspec:\n  source:\n" +
         source_lines;
}

LoadResult load(const std::string& source_lines) {
  return load_policies_from_text("prod.yaml", policy_with_source(source_lines));
}

std::string first_error(const LoadResult& r) {
  return r.errors.empty() ? "" : r.errors[0].to_string();
}

TEST(PolicyWebUrl, DerivedFromAKnownHostsRemote) {
  auto r = load("    url: ssh://git@github.com/example/fleet.git\n");
  ASSERT_TRUE(r.ok()) << first_error(r);
  EXPECT_EQ(r.set.policies[0].source.web_url,
            "https://github.com/example/fleet/blob/{commit}/{path}#L{line}");
}

TEST(PolicyWebUrl, ExplicitTemplateWinsAndAnEmptyOneTurnsLinksOff) {
  auto r = load(
      "    url: https://git.example.com/platform/fleet.git\n"
      "    webURL: https://git.example.com/platform/fleet/src/commit/{commit}/{path}#L{line}\n");
  ASSERT_TRUE(r.ok()) << first_error(r);
  EXPECT_EQ(r.set.policies[0].source.web_url,
            "https://git.example.com/platform/fleet/src/commit/{commit}/{path}#L{line}");
  auto off = load("    url: https://github.com/example/fleet.git\n    webURL: \"\"\n");
  ASSERT_TRUE(off.ok()) << first_error(off);
  EXPECT_EQ(off.set.policies[0].source.web_url, "");
  auto unknown = load("    url: https://git.example.com/platform/fleet.git\n");
  ASSERT_TRUE(unknown.ok()) << first_error(unknown);
  EXPECT_EQ(unknown.set.policies[0].source.web_url, "");
}

TEST(PolicyWebUrl, TemplateWithCredentialsIsRefusedAtTheValueWithoutRepeatingThem) {
  auto r = load(
      "    url: https://github.com/example/fleet.git\n"
      "    webURL: https://bot:s3cr3t@github.com/example/fleet/blob/{commit}/{path}#L{line}\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(first_error(r).rfind("prod.yaml:8:13: spec.source.webURL: template embeds credentials", 0), 0u)
      << first_error(r);
  EXPECT_EQ(first_error(r).find("s3cr3t"), std::string::npos);
  auto token = load(
      "    url: https://github.com/example/fleet.git\n"
      "    webURL: https://git.example.com/{path}?at={commit}&private_token=s3cr3t\n");
  ASSERT_FALSE(token.ok());
  EXPECT_NE(first_error(token).find("credential in its query"), std::string::npos) << first_error(token);
  EXPECT_EQ(first_error(token).find("s3cr3t"), std::string::npos);
}

// knownAs: the URLs Flux and Argo CD read the same repository from, when gitgate reads a mirror. Each is
// checked as `url` is (credentials refused at the item, never repeated); links come from the first one a
// known host derives, when `url` derives none.
TEST(PolicyKnownAs, MirrorUrlsAreCheckedAndGiveTheLinksWhenTheUrlHasNone) {
  auto r = load(
      "    url: file:///srv/mirrors/fleet.git\n"
      "    knownAs: [https://git.internal.example/fleet.git, https://gitlab.com/example/fleet.git]\n");
  ASSERT_TRUE(r.ok()) << first_error(r);
  const auto& source = r.set.policies[0].source;
  EXPECT_EQ(source.known_as,
            (std::vector<std::string>{"https://git.internal.example/fleet.git",
                                      "https://gitlab.com/example/fleet.git"}));
  EXPECT_EQ(source.web_url, "https://gitlab.com/example/fleet/-/blob/{commit}/{path}#L{line}");

  auto secret = load(
      "    url: file:///srv/mirrors/fleet.git\n"
      "    knownAs:\n"
      "      - https://github.com/example/fleet.git\n"
      "      - https://bot:s3cr3t@github.com/example/fleet.git\n");
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(first_error(secret).rfind("prod.yaml:10:9: spec.source.knownAs[1]: URL embeds credentials", 0), 0u)
      << first_error(secret);
  EXPECT_EQ(first_error(secret).find("s3cr3t"), std::string::npos);
  auto not_a_list = load("    url: file:///srv/mirrors/fleet.git\n    knownAs: https://github.com/example/fleet.git\n");
  ASSERT_FALSE(not_a_list.ok());
  EXPECT_NE(first_error(not_a_list).find("spec.source.knownAs"), std::string::npos) << first_error(not_a_list);
}

// kubeVersion and apiVersions: the cluster's capabilities, which helm renders for Flux and Argo CD see.
TEST(PolicyCapabilities, KubernetesAndApiVersionsAreCheckedAndNeedAnAgentThatRendersCharts) {
  const std::string flux = "    url: https://github.com/example/fleet.git\n    flux:\n      path: clusters/prod\n";
  auto r = load(flux +
                "    kubeVersion: v1.30.4-eks-a737599\n"
                "    apiVersions: [v1, monitoring.coreos.com/v1, monitoring.coreos.com/v1/ServiceMonitor]\n");
  ASSERT_TRUE(r.ok()) << first_error(r);
  const auto& source = r.set.policies[0].source;
  EXPECT_EQ(source.kube_version, "v1.30.4-eks-a737599");
  EXPECT_EQ(source.api_versions, (std::vector<std::string>{"v1", "monitoring.coreos.com/v1",
                                                           "monitoring.coreos.com/v1/ServiceMonitor"}));
  EXPECT_TRUE(load(flux + "    kubeVersion: \"1.31\"\n").ok());

  for (const char* bad : {"latest", "v1", "1.31.2.4", "v1.31.2 --debug", "v1.31.2-$(id)"}) {
    auto version = load(flux + "    kubeVersion: \"" + bad + "\"\n");
    ASSERT_FALSE(version.ok()) << bad;
    EXPECT_EQ(first_error(version).rfind("prod.yaml:10:18: spec.source.kubeVersion: Kubernetes version", 0), 0u)
        << first_error(version);
  }
  for (const char* bad : {"monitoring.coreos.com", "Monitoring.coreos.com/v1", "a/v1/Kind/x", "a//v1", "--x"}) {
    auto versions = load(flux + "    apiVersions: [v1, \"" + bad + "\"]\n");
    ASSERT_FALSE(versions.ok()) << bad;
    EXPECT_EQ(first_error(versions).rfind("prod.yaml:10:23: spec.source.apiVersions[1]: API version", 0), 0u)
        << first_error(versions);
  }
  auto plain = load("    url: https://github.com/example/fleet.git\n    kubeVersion: v1.31.2\n");
  ASSERT_FALSE(plain.ok());
  EXPECT_NE(first_error(plain).find("needs flux or argocd"), std::string::npos) << first_error(plain);
}

// The engine's fixture policy and repository (tests/fixtures/engine), with a web URL template.
class SourceLinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loaded = load_policies(fixture_path("engine/policy.yaml"));
    ASSERT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors[0].to_string());
    policies_ = std::move(loaded.set);
    auto head = std::make_shared<CommitInfo>();
    head->id = kCommit;
    head->author_name = "alice";
    head->time = 1795168800;
    std::vector<std::shared_ptr<const DeclaredObject>> objects;
    fs::path root = fixture_path("engine/repo");
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
      if (!entry.is_regular_file()) continue;
      std::string rel = fs::relative(entry.path(), root).string();
      auto parsed = manifests::parse_file(rel, read_file(entry.path()), {});
      for (const auto& doc : parsed.documents) {
        auto object = manifests::declare(doc, rel, "default");
        object->set_last_change(head);
        objects.push_back(object);
      }
    }
    state_.snapshots.snapshots.push_back(
        std::make_shared<Snapshot>(head, "default", std::move(objects), std::vector<Problem>{}));
  }

  void set_template(std::string tmpl) { policies_.policies.at(0).source.web_url = std::move(tmpl); }
  void edit_declarations(const std::function<void(DeclaredObject&)>& edit);

  Decision decide(const std::string& fixture) {
    body_ = std::make_unique<webhook::PaddedBody>(
        read_file(fixture_path("engine/requests/" + fixture + ".json")));
    auto request = decoder_.decode(body_->view());
    EXPECT_TRUE(request.ok()) << request.error();
    if (!request.ok()) return {};
    return evaluate(*request, policies_, state_, scratch_);
  }

  struct Window : DeclaredState {
    SnapshotWindow snapshots;
    const SnapshotWindow* window(const Policy&) const override { return &snapshots; }
  };

  PolicySet policies_;
  Window state_;
  Scratch scratch_;
  webhook::ReviewDecoder decoder_;
  std::unique_ptr<webhook::PaddedBody> body_;
};

constexpr const char* kWebLink =
    "https://github.com/example/fleet/blob/3f2c1ab9e4d84c1f0a6b2c3d4e5f60718293a4b5/clusters/prod/shop/"
    "web.yaml#L2";

TEST_F(SourceLinkTest, DenialMessageKeepsTheCitationAndEndsWithTheLink) {
  set_template("https://github.com/example/fleet/blob/{commit}/{path}#L{line}");
  Decision d = decide("edit-web-replicas");
  ASSERT_FALSE(d.allowed);
  EXPECT_EQ(d.url, kWebLink);
  EXPECT_EQ(
      d.message,
      "gitgate: Deployment shop/web is declared in Git (clusters/prod/shop/web.yaml:2 @ 3f2c1ab, alice, "
      "2026-11-20, unsigned). spec.replicas: Git has 3, request has 5. Change it in Git instead. " +
          std::string(kWebLink));
}

TEST_F(SourceLinkTest, AllowedDecisionsCarryTheLinkForTheAuditRecordOnly) {
  set_template("https://github.com/example/fleet/blob/{commit}/{path}#L{line}");
  Decision d = decide("flux-apply-web");
  ASSERT_TRUE(d.allowed) << d.message;
  EXPECT_EQ(d.url, kWebLink);
  EXPECT_EQ(d.message, "");
}

TEST_F(SourceLinkTest, NoTemplateNoLinkAndTheMessageIsUnchanged) {
  Decision d = decide("edit-web-replicas");
  EXPECT_EQ(d.url, "");
  EXPECT_TRUE(d.message.ends_with("Change it in Git instead.")) << d.message;
}

TEST_F(SourceLinkTest, UndeclaredObjectsHaveNoLink) {
  set_template("https://github.com/example/fleet/blob/{commit}/{path}#L{line}");
  policies_.policies.at(0).unmanaged = Unmanaged::Deny;
  Decision d = decide("create-scratch");
  EXPECT_EQ(d.reason, "unmanaged-denied") << d.message;
  EXPECT_EQ(d.url, "");
  EXPECT_EQ(d.message.find("https://"), std::string::npos) << d.message;
}

// Rebuilds the snapshot with each declaration changed by `edit`.
void SourceLinkTest::edit_declarations(const std::function<void(DeclaredObject&)>& edit) {
  const Snapshot& current = *state_.snapshots.snapshots.front();
  std::vector<std::shared_ptr<const DeclaredObject>> objects;
  for (const auto& o : current.objects()) {
    auto copy = std::make_shared<DeclaredObject>(*o);
    edit(*copy);
    objects.push_back(copy);
  }
  state_.snapshots.snapshots[0] =
      std::make_shared<Snapshot>(current.commit_ptr(), "default", std::move(objects), std::vector<Problem>{});
}

TEST_F(SourceLinkTest, TheLinkNamesTheCommitTheCitationNames) {
  set_template("https://github.com/example/fleet/blob/{commit}/{path}#L{line}");
  auto change = std::make_shared<CommitInfo>();
  change->id = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b";  // an older commit that last changed the file
  change->author_name = "alice";
  change->time = 1795168800;
  edit_declarations([&](DeclaredObject& o) { o.set_last_change(change); });
  Decision d = decide("edit-web-replicas");
  EXPECT_NE(d.message.find("(clusters/prod/shop/web.yaml:2 @ 9a8b7c6,"), std::string::npos) << d.message;
  EXPECT_EQ(
      d.url,
      "https://github.com/example/fleet/blob/9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b/clusters/prod/shop/"
      "web.yaml#L2");
}

TEST_F(SourceLinkTest, ADeclarationCarriedFromAnOlderCommitLinksThatCommitsLine) {
  set_template("https://github.com/example/fleet/blob/{commit}/{path}#L{line}");
  auto parsed = std::make_shared<CommitInfo>();
  parsed->id = "1111111111111111111111111111111111111111";  // the newest commit where the file parsed
  edit_declarations([&](DeclaredObject& o) { o.set_carried_from(parsed); });
  Decision d = decide("edit-web-replicas");
  EXPECT_EQ(
      d.url,
      "https://github.com/example/fleet/blob/1111111111111111111111111111111111111111/clusters/prod/shop/"
      "web.yaml#L2");
}

TEST_F(SourceLinkTest, ALinkThatWouldPassOneKiBStaysOutOfTheMessageButInTheRecord) {
  set_template("https://git.example.com/" + std::string(900, 'x') + "/{commit}/{path}#L{line}");
  Decision d = decide("edit-web-replicas");
  ASSERT_FALSE(d.allowed);
  EXPECT_FALSE(d.url.empty());
  EXPECT_TRUE(d.message.ends_with("Change it in Git instead.")) << d.message;
  EXPECT_LE(d.message.size(), 1024u);
}

}  // namespace
}  // namespace gitgate::policies
