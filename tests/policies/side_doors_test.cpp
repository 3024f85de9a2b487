// Side doors: the ways someone with ordinary edit rights (or a controller, or an agent beyond its mandate)
// got past the gate, one test per behaviour, each against AdmissionReviews shaped as the API server sends
// them (tests/fixtures/side-doors/requests, made by gen.py) and the fleet in tests/fixtures/side-doors/repo.
// SPEC §2: governed paths, no limit turns into an allow, namespaces and cluster-scoped kinds, children,
// controllers, agents, numbers.
#include <filesystem>

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

std::shared_ptr<const Snapshot> fleet_snapshot() {
  auto head = std::make_shared<CommitInfo>();
  head->id = "5e1d0c9b8a7f6e5d4c3b2a1908f7e6d5c4b3a291";
  head->author_name = "alice";
  head->time = 1795168800;  // 2026-11-20
  head->signature = SignatureStatus::Unsigned;
  std::vector<std::shared_ptr<const DeclaredObject>> objects;
  std::vector<Problem> problems;
  fs::path root = fixture_path("side-doors/repo");
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    std::string rel = fs::relative(entry.path(), root).string();
    auto parsed = manifests::parse_file(rel, read_file(entry.path()), {});
    for (auto& p : parsed.problems) problems.push_back(p);
    for (const auto& doc : parsed.documents) {
      auto obj = manifests::declare(doc, rel, "default");
      obj->set_last_change(head);
      objects.push_back(obj);
    }
  }
  return std::make_shared<Snapshot>(head, "default", std::move(objects), std::move(problems));
}

class Fleet : public DeclaredState {
 public:
  SnapshotWindow snapshots;
  const SnapshotWindow* window(const Policy&) const override { return &snapshots; }
};

class SideDoors : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loaded = load_policies(fixture_path("side-doors/policy.yaml"));
    ASSERT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors[0].to_string());
    policies_ = std::move(loaded.set);
    state_.snapshots.snapshots.push_back(fleet_snapshot());
    ASSERT_TRUE(state_.snapshots.current()->problems().empty())
        << state_.snapshots.current()->problems()[0].to_string();
  }

  Policy& policy() { return policies_.policies.at(0); }

  Decision decide(const std::string& name) {
    body_ = std::make_unique<webhook::PaddedBody>(
        read_file(fixture_path("side-doors/requests/" + name + ".json")));
    auto request = decoder_.decode(body_->view());
    EXPECT_TRUE(request.ok()) << name << ": " << request.error();
    if (!request.ok()) return {};
    return evaluate(*request, policies_, state_, scratch_);
  }

  // Denied for `reason`, with a message that holds `part` and stays within the limits.
  void expect_denied(const std::string& name, const std::string& reason, const std::string& part = {}) {
    Decision d = decide(name);
    EXPECT_FALSE(d.allowed) << name << " was allowed: " << d.reason;
    EXPECT_EQ(d.reason, reason) << name << ": " << d.message;
    EXPECT_NE(d.message.find(part), std::string::npos) << name << ": " << d.message;
    EXPECT_LE(d.message.size(), 1024u) << name;
  }

  void expect_allowed(const std::string& name, const std::string& reason) {
    Decision d = decide(name);
    EXPECT_TRUE(d.allowed) << name << ": " << d.message;
    EXPECT_EQ(d.reason, reason) << name << ": " << d.message;
  }

  PolicySet policies_;
  Fleet state_;
  Scratch scratch_;
  webhook::ReviewDecoder decoder_;
  std::unique_ptr<webhook::PaddedBody> body_;
};

// --- no limit turns into an allow
// ---------------------------------------------------------------------------

TEST_F(SideDoors, ChangesPastTheDiffBoundAreRefusedAsGovernedWhateverComesFirst) {
  for (const char* name : {"limit-300-annotations-then-image", "limit-300-labels-then-replicas",
                           "limit-260-annotations-then-privileged", "limit-300-annotations-alone"}) {
    Decision d = decide(name);
    EXPECT_FALSE(d.allowed) << name;
    EXPECT_EQ(d.reason, "governed-path-changed") << name;
    EXPECT_EQ(d.limit, "diff-changes") << name << " must say the bound decided";
    EXPECT_NE(d.message.find("more than 256 paths"), std::string::npos) << d.message;
  }
}

TEST_F(SideDoors, AControllerPastTheDiffBoundIsRefusedToo) {
  Decision d = decide("limit-controller-300-annotations-then-sidecar");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "controller-declared-path");
  EXPECT_EQ(d.limit, "diff-changes");
}

TEST_F(SideDoors, AnAgentListTooLargeToMatchInAnyOrderIsAMismatchThatSaysSo) {
  Decision d = decide("limit-agent-3000-tolerations");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "agent-git-mismatch");
  EXPECT_TRUE(d.sync_wanted);
  EXPECT_EQ(d.limit, "containment-work");
  EXPECT_NE(d.message.find("keep Git's order"), std::string::npos) << d.message;
}

// --- Namespaces and cluster-scoped kinds -------------------------------------------------------------------

TEST_F(SideDoors, DeletingCreatingOrRelabellingADeclaredNamespaceIsDenied) {
  expect_denied("namespace-delete-declared", "declared-object-delete", "Namespace shop is declared in Git");
  expect_denied("namespace-create-declared", "declared-object-create", "Namespace shop is declared in Git");
  expect_denied("namespace-relabel-team", "governed-path-changed",
                "metadata.labels.team: Git has \"checkout\"");
}

TEST_F(SideDoors, FinalizingADeclaredNamespaceIsTheNamespaceControllersJobNotAPersons) {
  expect_denied("namespace-finalize-by-person", "governed-path-changed", "spec.finalizers");
  expect_allowed("namespace-finalize-by-namespace-controller", "controller-undeclared-paths");
  expect_allowed("namespace-flux-apply", "agent-matches-git");
}

TEST_F(SideDoors, AClusterScopedCustomKindDeclaredWithAStrayNamespaceMatchesByName) {
  expect_denied("namespace-cluster-issuer-edit", "governed-path-changed",
                "ClusterIssuer letsencrypt is declared");
  expect_denied("namespace-cluster-issuer-delete", "declared-object-delete",
                "clusters/prod/cluster/storage.yaml");
  expect_allowed("namespace-cluster-issuer-flux-apply", "agent-matches-git");
}

TEST_F(SideDoors, DeletingANamespaceThatHoldsDeclaredObjectsIsDeniedEvenIfGitDoesNotDeclareIt) {
  expect_denied("namespace-delete-undeclared-holding-declared", "declared-object-delete",
                "Namespace argocd holds 1 object(s) declared in Git, such as Application argocd/shop");
  expect_allowed("namespace-delete-undeclared-empty-allowed", "unmanaged");
}

// --- metadata that other controllers obey
// ---------------------------------------------------------------------

TEST_F(SideDoors, InstructionsToGitOpsToolsAndHelmAreGovernedMetadata) {
  for (const char* name :
       {"metadata-flux-reconcile-disabled", "metadata-flux-ignore", "metadata-helm-resource-policy",
        "metadata-helm-adoption", "metadata-argocd-sync-options"})
    expect_denied(name, "governed-path-changed", "a key other controllers obey");
}

TEST_F(SideDoors, WeakeningPodSecurityMeshInjectionOrLoadBalancersIsDenied) {
  expect_denied("metadata-pod-security-privileged", "governed-path-changed",
                "pod-security.kubernetes.io/enforce");
  expect_denied("metadata-istio-injection-disabled", "governed-path-changed", "istio-injection");
  expect_denied("metadata-service-load-balancer", "governed-path-changed", "aws-load-balancer-internal");
}

TEST_F(SideDoors, TheKeysGitOpsToolsTrackObjectsByAreGoverned) {
  // With Argo CD among the agents, app.kubernetes.io/instance is its tracking label.
  expect_denied("metadata-argocd-tracking-label", "governed-path-changed", "app.kubernetes.io/instance");
}

TEST_F(SideDoors, FinalizersOwnersAndThePolicysOwnKeysAreGovernedForPeople) {
  expect_denied("metadata-finalizer-added", "governed-path-changed", "metadata.finalizers is governed");
  expect_denied("metadata-owner-added", "governed-path-changed", "metadata.ownerReferences is governed");
  expect_denied("metadata-policy-governed-key", "governed-path-changed", "example.com/cost-center");
}

TEST_F(SideDoors, HarmlessLabelsAnnotationsAndRolloutRestartsStayAllowed) {
  expect_allowed("metadata-team-label-allowed", "ungoverned-change");
  expect_allowed("metadata-description-annotation-allowed", "ungoverned-change");
  expect_allowed("metadata-restarted-at-allowed", "ungoverned-change");
}

TEST_F(SideDoors, AnIgnorePathFreesAGovernedMetadataKey) {
  policy().ignore.push_back(
      {{}, {*parse_path_pattern("/metadata/annotations/kustomize.toolkit.fluxcd.io~1reconcile")}});
  expect_allowed("metadata-flux-reconcile-disabled", "ungoverned-change");
}

// --- top-level fields outside spec
// ---------------------------------------------------------------------------

TEST_F(SideDoors, EveryTopLevelFieldButMetadataAndStatusIsGoverned) {
  expect_denied("toplevel-application-operation", "governed-path-changed", "operation is governed");
  expect_denied("toplevel-serviceaccount-image-pull-secrets", "governed-path-changed", "imagePullSecrets");
  expect_denied("toplevel-clusterrole-aggregation-rule", "governed-path-changed", "aggregationRule");
  expect_denied("toplevel-configmap-immutable", "governed-path-changed", "immutable");
  expect_denied("toplevel-storageclass-parameters", "governed-path-changed", "parameters.encrypted");
  expect_denied("toplevel-priorityclass-global-default", "governed-path-changed", "globalDefault");
}

// --- children of declared objects
// ------------------------------------------------------------------------------

TEST_F(SideDoors, PeopleMayNotChangeWhatAControllerSetsOnItsPodsAndReplicaSets) {
  expect_denied("children-pod-image", "controller-owned",
                "belongs to its controller ReplicaSet shop/web-5d4f8b7c9");
  expect_denied("children-replicaset-image", "controller-owned", "containers[name=web].image");
  expect_denied("children-replicaset-replicas", "controller-owned", "spec.replicas");
  expect_denied("children-pod-resize", "controller-owned", "resources");
}

TEST_F(SideDoors, ScalingAReplicaSetOfADeclaredDeploymentIsDenied) {
  expect_denied("children-replicaset-scale", "controller-owned", "belongs to Deployment shop/web");
}

TEST_F(SideDoors, EphemeralContainersOnOwnedPodsNeedAllowDebugOrBreakGlass) {
  expect_denied("children-pod-ephemeral-container", "controller-owned", "allowDebug");
  Decision glass = decide("children-pod-ephemeral-container-break-glass");
  EXPECT_TRUE(glass.allowed);
  EXPECT_EQ(glass.reason, "break-glass");
  policy().allow_debug = true;
  expect_allowed("children-pod-ephemeral-container", "unmanaged");
}

TEST_F(SideDoors, AJobFromADeclaredCronJobMustCopyItsTemplate) {
  Decision d = decide("children-job-from-cronjob");
  EXPECT_TRUE(d.allowed) << d.message;
  EXPECT_EQ(d.reason, "job-from-cronjob");
  ASSERT_TRUE(d.declared);
  EXPECT_EQ(d.declared->file(), "clusters/prod/shop/backup.yaml");
  expect_denied("children-job-from-cronjob-other-image", "controller-owned",
                "spec.jobTemplate.spec.template.spec.containers[name=backup].image: Git has "
                "\"ghcr.io/example/backup:1.0.0\", request has \"evil.example/backup:1\"");
}

TEST_F(SideDoors, APersonsObjectClaimingADeclaredControllerIsDenied) {
  expect_denied("children-pod-claiming-declared-deployment", "controller-owned",
                "names Deployment shop/web as its controller");
}

TEST_F(SideDoors, EndpointsThatWouldRouteTrafficOfADeclaredServiceAreTheControllersOnly) {
  expect_denied("children-endpointslice-for-declared-service", "controller-owned",
                "would route traffic of Service shop/web");
  expect_denied("children-endpoints-of-declared-service", "controller-owned", "with a selector");
  expect_allowed("children-endpointslice-by-controller-allowed", "unmanaged");
  expect_allowed("children-endpointslice-for-undeclared-service-allowed", "unmanaged");
}

TEST_F(SideDoors, LabellingOrDeletingAnOwnedPodStaysAllowed) {
  expect_allowed("children-pod-label-allowed", "unmanaged");
  expect_allowed("children-pod-delete-allowed", "unmanaged");
}

// --- controllers beyond their job
// ------------------------------------------------------------------------------

TEST_F(SideDoors, ControllersMayNotAddContainersOrChangeDataOfDeclaredObjects) {
  expect_denied("controller-privileged-sidecar", "controller-declared-path", "containers[name=shell]");
  expect_denied("controller-node-host-network", "controller-declared-path", "hostNetwork");
  expect_denied("controller-configmap-data-key", "controller-declared-path", "data.debug");
  expect_denied("controller-flux-reconcile-annotation", "controller-declared-path",
                "kustomize.toolkit.fluxcd.io");
}

TEST_F(SideDoors, ControllersDoTheirJobStatusFinalizersBindingsAndGrantedPaths) {
  expect_allowed("controller-annotation-allowed", "controller-undeclared-paths");
  expect_allowed("controller-gc-removes-finalizer", "controller-undeclared-paths");
  expect_allowed("controller-binder-binds-claim", "controller-undeclared-paths");
  expect_allowed("controller-cainjector-fills-ca-bundle", "controller-undeclared-paths");
  expect_denied("controller-cainjector-changes-failure-policy", "controller-declared-path", "failurePolicy");
}

TEST_F(SideDoors, TheHpaScalesOnlyReplicasGitLeavesOpen) {
  expect_allowed("controller-hpa-scale-undeclared-replicas", "controller-undeclared-paths");
  expect_denied("controller-hpa-scale-declared-replicas", "controller-declared-path",
                "spec.replicas: Git has 3");
}

// --- agents beyond their mandate
// -------------------------------------------------------------------------------

TEST_F(SideDoors, AnAgentThatNeedNotMatchGitMayNotTakeOverOrDeleteDeclaredObjects) {
  expect_denied("agent-helm-adopts-declared-deployment", "agent-declared-object", "mustMatchGit: false");
  expect_denied("agent-helm-deletes-declared-configmap", "agent-declared-object", "may not delete");
  expect_allowed("agent-helm-creates-its-own-release-object", "agent-unchecked");
}

TEST_F(SideDoors, AnAgentThatMustMatchGitMayNotCreateWhatNoCommitDeclares) {
  for (const char* name :
       {"agent-flux-creates-undeclared-binding", "agent-argocd-creates-undeclared-deployment",
        "agent-flux-dry-run-creates-undeclared"}) {
    Decision d = decide(name);
    EXPECT_FALSE(d.allowed) << name;
    EXPECT_EQ(d.reason, "agent-git-mismatch") << name;
    EXPECT_TRUE(d.sync_wanted) << name << ": a newer commit may declare it";
  }
  expect_allowed("agent-flux-creates-declared", "agent-matches-git");
}

// --- fake ownership with a borrowed owner
// ------------------------------------------------------------------------

TEST_F(SideDoors, ABorrowedControllerOwnerDoesNotExemptAPersonFromTheOwnershipRule) {
  expect_denied("owner-borrowed-configmap", "fake-ownership", "kustomize.toolkit.fluxcd.io/name");
  expect_denied("owner-borrowed-deployment-helm-label", "fake-ownership", "helm.toolkit.fluxcd.io/name");
  expect_denied("owner-borrowed-argocd-tracking-id", "fake-ownership", "argocd.argoproj.io/tracking-id");
  expect_denied("owner-label-added-to-undeclared", "fake-ownership", "kustomize.toolkit.fluxcd.io");
}

TEST_F(SideDoors, ControllersAndAgentsMayCreateObjectsCarryingOwnershipLabels) {
  expect_allowed("owner-controller-creates-labelled", "unmanaged");
  expect_allowed("agent-helm-creates-its-own-release-object", "agent-unchecked");
}

// --- a file that stops parsing
// ------------------------------------------------------------------------------

TEST_F(SideDoors, AnObjectKeptFromTheLastCommitWhereItsFileParsedCitesThatCommit) {
  // What gitstate builds when web.yaml fails to parse at the head (tests/gitstate/broken_file_test.cpp).
  auto older = std::make_shared<CommitInfo>();
  older->id = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d";
  older->author_name = "bob";
  older->time = 1794900000;
  auto snap = state_.snapshots.snapshots[0];
  std::vector<std::shared_ptr<const DeclaredObject>> objects;
  for (const auto& o : snap->objects()) {
    if (o->file() != "clusters/prod/shop/web.yaml") {
      objects.push_back(o);
      continue;
    }
    auto kept = std::make_shared<DeclaredObject>(*o);
    kept->set_last_change(older);
    kept->set_carried_from(older);
    objects.push_back(kept);
  }
  state_.snapshots.snapshots[0] =
      std::make_shared<Snapshot>(snap->commit_ptr(), "default", objects, snap->problems());
  expect_denied(
      "metadata-flux-reconcile-disabled", "governed-path-changed",
      "(clusters/prod/shop/web.yaml:1 @ 1a2b3c4, bob, 2026-11-17, unsigned). clusters/prod/shop/web.yaml "
      "fails to parse at 5e1d0c9, so what it declared at 1a2b3c4 stays in force");
  expect_denied("limit-agent-3000-tolerations", "agent-git-mismatch", "fails to parse at 5e1d0c9");
}

// --- numbers beyond 64 bits
// -------------------------------------------------------------------------------------

TEST_F(SideDoors, IntegersBeyond64BitsAreComparedNotRefused) {
  expect_allowed("number-flux-apply-big-budget", "agent-matches-git");
  expect_denied("number-person-edit-with-big-status", "governed-path-changed",
                "spec.size: Git has 3, request has 5");
  expect_denied("number-person-sets-negative-budget", "governed-path-changed", "spec.budget");
  expect_denied("number-flux-apply-other-budget", "agent-git-mismatch", "spec.budget: Git has 1e+20");
  Decision glass = decide("number-break-glass-edit");
  EXPECT_TRUE(glass.allowed);
  EXPECT_EQ(glass.reason, "break-glass");
}

}  // namespace
}  // namespace gitgate::policies
