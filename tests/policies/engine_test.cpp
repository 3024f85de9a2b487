// The decision table of docs/decisions.md, one named test per row and per rule, against AdmissionReviews
// shaped like the API server's (tests/fixtures/engine/requests, made by gen.py) and a Git tree of manifests
// (tests/fixtures/engine/repo).
#include "policies/engine.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "manifests/loader.h"
#include "policies/loader.h"
#include "tests/support/support.h"
#include "webhook/codec.h"

namespace gitgate::policies {
namespace {

namespace fs = std::filesystem;
using testing::fixture_path;
using testing::read_file;

std::shared_ptr<const CommitInfo> commit(std::string id, std::string author, int64_t time) {
  auto c = std::make_shared<CommitInfo>();
  c->id = std::move(id);
  c->author_name = std::move(author);
  c->author_email = "alice@example.com";
  c->time = time;
  c->subject = "shop: web 1.4.2";
  c->signature = SignatureStatus::Verified;
  c->signer = "alice@example.com";
  return c;
}

// A snapshot of the fixture repo; `edit` may rewrite file contents first (to make an older commit).
std::shared_ptr<const Snapshot> snapshot_of(const std::string& commit_id,
                                            const std::map<std::string, std::pair<std::string, std::string>>& edit = {}) {
  auto head = commit(commit_id, "alice", 1795168800);  // 2026-11-20
  std::vector<std::shared_ptr<const DeclaredObject>> objects;
  std::vector<Problem> problems;
  fs::path root = fixture_path("engine/repo");
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    std::string rel = fs::relative(entry.path(), root).string();
    std::string text = read_file(entry.path());
    if (auto it = edit.find(rel); it != edit.end()) text.replace(text.find(it->second.first), it->second.first.size(), it->second.second);
    auto parsed = manifests::parse_file(rel, text, {});
    for (auto& p : parsed.problems) problems.push_back(p);
    for (const auto& doc : parsed.documents) {
      auto obj = manifests::declare(doc, rel, "default");
      obj->set_last_change(head);
      objects.push_back(obj);
    }
  }
  return std::make_shared<Snapshot>(head, "default", std::move(objects), std::move(problems));
}

class Window : public DeclaredState {
 public:
  SnapshotWindow snapshots;
  bool empty = false;
  const SnapshotWindow* window(const Policy&) const override { return empty ? nullptr : &snapshots; }
};

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loaded = load_policies(fixture_path("engine/policy.yaml"));
    ASSERT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors[0].to_string());
    policies_ = std::move(loaded.set);
    state_.snapshots.snapshots.push_back(snapshot_of("3f2c1ab9e4d84c1f0a6b2c3d4e5f60718293a4b5"));
    ASSERT_TRUE(state_.snapshots.current()->problems().empty()) << state_.snapshots.current()->problems()[0].to_string();
  }

  Policy& policy() { return policies_.policies.at(0); }

  Decision decide(const std::string& fixture) {
    body_ = std::make_unique<webhook::PaddedBody>(read_file(fixture_path("engine/requests/" + fixture + ".json")));
    auto request = decoder_.decode(body_->view());
    EXPECT_TRUE(request.ok()) << request.error();
    if (!request.ok()) return {};
    return evaluate(*request, policies_, state_, scratch_);
  }

  PolicySet policies_;
  Window state_;
  Scratch scratch_;
  webhook::ReviewDecoder decoder_;
  std::unique_ptr<webhook::PaddedBody> body_;
};

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// --- agents, mustMatchGit: true ---------------------------------------------------------------------------

TEST_F(EngineTest, FluxServerSideApplyCarryingApiDefaultsAndManagedFieldsIsAllowed) {
  Decision d = decide("flux-apply-web");
  EXPECT_TRUE(d.allowed) << d.message;
  EXPECT_EQ(d.reason, "agent-matches-git");
  EXPECT_EQ(d.identity, Identity::Agent);
  EXPECT_EQ(d.agent, "flux");
  ASSERT_TRUE(d.declared);
  EXPECT_EQ(d.declared->file(), "clusters/prod/shop/web.yaml");
  EXPECT_EQ(d.snapshot_commit->id.substr(0, 7), "3f2c1ab");
}

TEST_F(EngineTest, AgentWriteWithAnImageGitDoesNotHaveIsDeniedAndAsksForASync) {
  Decision d = decide("flux-apply-web-drifted");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "agent-git-mismatch");
  EXPECT_TRUE(d.sync_wanted);
  EXPECT_TRUE(has(d.message, "spec.template.spec.containers[name=web].image: Git has \"ghcr.io/example/web:1.4.2\", "
                             "request has \"ghcr.io/example/web:1.5.0-hotfix\""))
      << d.message;
  EXPECT_TRUE(has(d.message, "clusters/prod/shop/web.yaml:2 @ 3f2c1ab, alice, 2026-11-20, verified by alice@example.com")) << d.message;
}

TEST_F(EngineTest, AgentCreateOfADeclaredObjectMatchingGitIsAllowed) {
  EXPECT_EQ(decide("flux-create-web").reason, "agent-matches-git");
}

TEST_F(EngineTest, AgentStillApplyingThePreviousCommitIsAllowedThroughTheWindow) {
  Decision before = decide("flux-apply-web-previous-commit");
  EXPECT_FALSE(before.allowed);
  auto previous = snapshot_of("aaaaaaa000000000000000000000000000000000",
                              {{"clusters/prod/shop/web.yaml", {"web:1.4.2", "web:1.4.1"}}});
  state_.snapshots.snapshots.push_back(previous);
  Decision d = decide("flux-apply-web-previous-commit");
  EXPECT_TRUE(d.allowed) << d.message;
  EXPECT_EQ(d.reason, "agent-matches-git");
  EXPECT_EQ(d.snapshot_commit->id, previous->commit().id) << "provenance names the commit that justified it";
}

TEST_F(EngineTest, ArgoCdDryRunOfTheDesiredStateIsAllowedAndFlaggedDryRun) {
  Decision d = decide("argocd-dry-run-web");
  EXPECT_TRUE(d.allowed) << d.message;
  EXPECT_EQ(d.agent, "argocd");
  EXPECT_TRUE(d.dry_run);
}

TEST_F(EngineTest, AgentDeleteOfAStillDeclaredObjectIsAllowedAndFlagged) {
  Decision d = decide("flux-delete-web");
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.reason, "agent-delete-declared");
}

TEST_F(EngineTest, AgentSecretWhoseDataDiffersFromGitsEncryptedFormIsAllowed) {
  Decision d = decide("flux-apply-secret");
  EXPECT_TRUE(d.allowed) << d.message;
  EXPECT_EQ(d.reason, "agent-matches-git");
}

TEST_F(EngineTest, RequiredSignaturesRejectMatchesOnUnsignedCommits) {
  policy().source.require_signed_commits = true;
  auto unsigned_head = std::make_shared<CommitInfo>(state_.snapshots.current()->commit());
  unsigned_head->signature = SignatureStatus::Unsigned;
  auto snap = state_.snapshots.snapshots[0];
  state_.snapshots.snapshots[0] = std::make_shared<Snapshot>(unsigned_head, "default", snap->objects(), std::vector<Problem>{});
  Decision d = decide("flux-apply-web");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "agent-unsigned-commit");
}

TEST_F(EngineTest, AgentFluxPlaceholderUsesThePolicysValueWhenGiven) {
  policy().source.substitute["cluster_name"] = "prod-us-2";
  Decision d = decide("flux-apply-web");
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(has(d.message, "env[name=CLUSTER].value: Git has \"${cluster_name}\"")) << d.message;
  policy().source.substitute["cluster_name"] = "prod-eu-1";
  EXPECT_TRUE(decide("flux-apply-web").allowed);
}

// --- agents, mustMatchGit: false --------------------------------------------------------------------------

TEST_F(EngineTest, AgentWithoutMustMatchGitWritesWhatGitDoesNotDeclare) {
  policy().agents[0].must_match_git = false;
  policy().agents[0].identities.users.emplace_back("jane@example.com");  // jane's create, as the agent's
  Decision d = decide("create-scratch");
  EXPECT_TRUE(d.allowed) << d.message;
  EXPECT_EQ(d.reason, "agent-unchecked");
}

TEST_F(EngineTest, AgentWithoutMustMatchGitMayNotWriteADeclaredObject) {
  policy().agents[0].must_match_git = false;
  Decision d = decide("flux-apply-web-drifted");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "agent-declared-object");
}

// --- controllers --------------------------------------------------------------------------------------------

TEST_F(EngineTest, HpaScalingReplicasGitDoesNotDeclareIsAllowed) {
  Decision d = decide("hpa-scale-api");
  EXPECT_TRUE(d.allowed) << d.message;
  EXPECT_EQ(d.identity, Identity::Controller);
  EXPECT_EQ(d.reason, "controller-undeclared-paths");
}

TEST_F(EngineTest, HpaScalingReplicasGitDeclaresIsDenied) {
  Decision d = decide("hpa-scale-web");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "controller-declared-path");
  EXPECT_TRUE(has(d.message, "spec.replicas: Git has 3, request has 6")) << d.message;
}

TEST_F(EngineTest, HpaScalingDeclaredReplicasIsAllowedWhenThePolicyIgnoresThem) {
  policy().ignore.push_back({{*parse_kind_pattern("apps/Deployment")}, {*parse_path_pattern("/spec/replicas")}});
  Decision d = decide("hpa-scale-web");
  EXPECT_TRUE(d.allowed) << d.message;
}

TEST_F(EngineTest, ControllerChangingOnlyUndeclaredPathsIsAllowed) {
  Decision d = decide("controller-annotates-web");
  EXPECT_TRUE(d.allowed) << d.message;
  EXPECT_EQ(d.reason, "controller-undeclared-paths");
}

TEST_F(EngineTest, ControllerChangingADeclaredPathIsDenied) {
  Decision d = decide("controller-changes-web-image");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "controller-declared-path");
}

TEST_F(EngineTest, StatusSubresourceIsAllowed) {
  Decision d = decide("status-update-web");
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.reason, "status-subresource");
}

// --- everyone else -----------------------------------------------------------------------------------------

TEST_F(EngineTest, KubectlEditOfDeclaredReplicasIsDeniedWithWhereGitHoldsThem) {
  Decision d = decide("edit-web-replicas");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "governed-path-changed");
  EXPECT_EQ(d.identity, Identity::Person);
  EXPECT_EQ(d.message,
            "gitgate: Deployment shop/web is declared in Git (clusters/prod/shop/web.yaml:2 @ 3f2c1ab, alice, "
            "2026-11-20, verified by alice@example.com). spec.replicas: Git has 3, request has 5. Change it in Git instead.");
  EXPECT_EQ(d.changed_paths, std::vector<std::string>{"spec.replicas"});
}

TEST_F(EngineTest, KubectlEditAddingAnUndeclaredAnnotationIsAllowed) {
  Decision d = decide("edit-web-annotation");
  EXPECT_TRUE(d.allowed) << d.message;
  EXPECT_EQ(d.reason, "ungoverned-change");
  EXPECT_EQ(d.changed_paths, std::vector<std::string>{"metadata.annotations.team"});
}

TEST_F(EngineTest, RemovingADeclaredLabelIsDenied) {
  Decision d = decide("edit-web-label-removed");
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(has(d.message, "metadata.labels.app: Git has \"web\", request has removed")) << d.message;
}

TEST_F(EngineTest, KubectlScaleOfADeclaredDeploymentIsDenied) {
  Decision d = decide("scale-web");
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(has(d.message, "spec.replicas: Git has 3, request has 5")) << d.message;
}

TEST_F(EngineTest, KubectlRolloutRestartIsAllowed) {
  Decision d = decide("rollout-restart-web");
  EXPECT_TRUE(d.allowed) << d.message;
}

TEST_F(EngineTest, PersonDeletingADeclaredConfigMapIsDenied) {
  Decision d = decide("delete-cfg");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "declared-object-delete");
  EXPECT_TRUE(has(d.message, "ConfigMap shop/cfg is declared in Git (clusters/prod/shop/config.yaml:1")) << d.message;
}

TEST_F(EngineTest, PersonCreatingADeclaredObjectIsDenied) {
  Decision d = decide("create-cfg");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "declared-object-create");
}

TEST_F(EngineTest, PersonEditingConfigMapDataIsDenied) {
  Decision d = decide("edit-cfg-data");
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(has(d.message, "data[\"feature.checkout\"]: Git has \"on\", request has \"off\"")) << d.message;
}

TEST_F(EngineTest, PersonEditingSecretDataIsDeniedWithoutEchoingAnyValue) {
  Decision d = decide("edit-secret");
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(has(d.message, "data.password: changed (value hidden)")) << d.message;
  for (const char* secret : {"c3VwZXItc2VjcmV0LXZhbHVl", "aHVudGVyMg==", "ENC["}) EXPECT_FALSE(has(d.message, secret));
}

TEST_F(EngineTest, ArgoCdServerUiEditIsTreatedAsAPerson) {
  Decision d = decide("argocd-server-edit-web-replicas");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.identity, Identity::Person);
}

TEST_F(EngineTest, CreatingAnObjectWithFluxOwnershipLabelsIsDenied) {
  Decision d = decide("create-fake-owned");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "fake-ownership");
  EXPECT_TRUE(has(d.message, "kustomize.toolkit.fluxcd.io/name")) << d.message;
}

// --- undeclared objects ------------------------------------------------------------------------------------

TEST_F(EngineTest, UndeclaredObjectFollowsUnmanagedAllowWarnDeny) {
  EXPECT_EQ(decide("create-scratch").reason, "unmanaged");
  EXPECT_TRUE(decide("create-scratch").warnings.empty());
  policy().unmanaged = Unmanaged::Warn;
  Decision warned = decide("create-scratch");
  EXPECT_TRUE(warned.allowed);
  ASSERT_EQ(warned.warnings.size(), 1u);
  EXPECT_TRUE(has(warned.warnings[0], "ConfigMap shop/scratch is not declared in Git"));
  policy().unmanaged = Unmanaged::Deny;
  Decision denied = decide("create-scratch");
  EXPECT_FALSE(denied.allowed);
  EXPECT_EQ(denied.reason, "unmanaged-denied");
}

TEST_F(EngineTest, PodCreatedByTheReplicaSetControllerIsAllowed) {
  body_ = std::make_unique<webhook::PaddedBody>(read_file(fixture_path("admission/pod-create.json")));
  auto request = decoder_.decode(body_->view());
  ASSERT_TRUE(request.ok());
  Decision d = evaluate(*request, policies_, state_, scratch_);
  EXPECT_TRUE(d.allowed) << d.message;
  EXPECT_EQ(d.reason, "unmanaged");
}

// --- break-glass, modes, dry run, scope ----------------------------------------------------------------------

TEST_F(EngineTest, BreakGlassIsAllowedWithAWarningAndRecordedAsBreakGlass) {
  Decision d = decide("break-glass-edit-web-replicas");
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.reason, "break-glass");
  EXPECT_EQ(d.identity, Identity::BreakGlass);
  EXPECT_TRUE(d.violation);
  ASSERT_EQ(d.warnings.size(), 1u);
  EXPECT_TRUE(has(d.warnings[0], "break-glass access by alice@example.com")) << d.warnings[0];
  EXPECT_LE(d.warnings[0].size(), 256u);
  EXPECT_EQ(d.outcome(), "warn");
}

TEST_F(EngineTest, WarnModeAllowsWithTheDenyMessageAsAWarning) {
  policy().mode = Mode::Warn;
  Decision d = decide("edit-web-replicas");
  EXPECT_TRUE(d.allowed);
  EXPECT_TRUE(d.violation);
  ASSERT_EQ(d.warnings.size(), 1u);
  EXPECT_TRUE(has(d.warnings[0], "spec.replicas: Git has 3, request has 5")) << d.warnings[0];
  EXPECT_EQ(d.outcome(), "warn");
}

TEST_F(EngineTest, AuditModeAllowsSilentlyButRecordsTheViolation) {
  policy().mode = Mode::Audit;
  Decision d = decide("edit-web-replicas");
  EXPECT_TRUE(d.allowed);
  EXPECT_TRUE(d.violation);
  EXPECT_TRUE(d.warnings.empty());
  EXPECT_EQ(d.reason, "governed-path-changed");
  EXPECT_FALSE(d.message.empty());
}

TEST_F(EngineTest, ExcludedNamespaceIsNotGoverned) {
  policy().scope.exclude.emplace_back("shop");
  Decision d = decide("edit-web-replicas");
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.reason, "not-governed");
}

TEST_F(EngineTest, NoSnapshotYetFailsClosedInEnforceMode) {
  state_.empty = true;
  Decision d = decide("edit-web-annotation");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "no-snapshot");
}

TEST_F(EngineTest, DuplicateDeclarationsAreAConflictForAgents) {
  auto snap = state_.snapshots.snapshots[0];
  auto objects = snap->objects();
  for (const auto& o : snap->objects())
    if (o->key().name == "web" && o->key().kind == "Deployment")
      objects.push_back(std::make_shared<DeclaredObject>(o->key(), o->api_version(), o->json(), "clusters/prod/copy.yaml", 7, 1));
  state_.snapshots.snapshots[0] = std::make_shared<Snapshot>(snap->commit_ptr(), "default", objects, std::vector<Problem>{});
  Decision d = decide("flux-apply-web");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "declaration-conflict");
  EXPECT_TRUE(has(d.message, "clusters/prod/shop/web.yaml:2 and clusters/prod/copy.yaml:7")) << d.message;
}

TEST_F(EngineTest, MessagesStayWithinOneKiB) {
  for (const char* f : {"edit-web-replicas", "flux-apply-web-drifted", "delete-cfg", "create-fake-owned"}) {
    Decision d = decide(f);
    EXPECT_LE(d.message.size(), 1024u) << f;
    EXPECT_EQ(d.message.find('\n'), std::string::npos) << f;
  }
}

}  // namespace
}  // namespace gitgate::policies
