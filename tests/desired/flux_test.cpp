// Declared state as Flux builds it (SPEC §3a), end to end: a Flux-shaped fleet committed to a real Git
// repository, charts served for real (an HTTPS chart repository, an OCI registry, a chart in the repository
// itself), built by gitstate + desired with the real kustomize and helm, then requests shaped as the API
// server sends them (defaults, managedFields) decided by the engine.
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "gitstate/snapshot_builder.h"
#include "policies/engine.h"
#include "policies/loader.h"
#include "tests/desired/build_helpers.h"
#include "tests/desired/chart_servers.h"
#include "tests/gitstate/git_helpers.h"
#include "webhook/codec.h"

namespace gitgate::desired {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using gitgate::testing::fixture_path;
using gitgate::testing::read_file;
using gitgate::testing::TempDir;
using gitgate::testing::write_file;
using gitstate::testing::WorkRepo;
using testing::HelmRepository;
using testing::OciRegistry;

constexpr const char* kKustomizeController = "system:serviceaccount:flux-system:kustomize-controller";
constexpr const char* kHelmController = "system:serviceaccount:flux-system:helm-controller";

// Copies the fixture fleet into the work repository, with the test's URLs in place of its placeholders.
void write_fleet(WorkRepo& repo, const std::map<std::string, std::string>& vars) {
  fs::path root = fixture_path("flux/fleet");
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    std::string text = read_file(entry.path());
    for (const auto& [name, value] : vars)
      for (size_t at = text.find(name); at != std::string::npos; at = text.find(name, at))
        text.replace(at, name.size(), value);
    repo.write(fs::relative(entry.path(), root).string(), text);
  }
}

// What the API server adds to an object it stores: metadata, status, and the defaults of the kinds used here.
json as_stored(json object, const std::string& manager) {
  json& m = object["metadata"];
  m["uid"] = "5f0c2b1e-9a7d-4c3b-8e6f-2d1a0b9c8e7f";
  m["resourceVersion"] = "48211";
  m["generation"] = 2;
  m["creationTimestamp"] = "2026-11-18T08:00:00Z";
  m["managedFields"] = json::array({{{"manager", manager},
                                     {"operation", "Apply"},
                                     {"apiVersion", "v1"},
                                     {"time", "2026-11-20T10:12:03Z"},
                                     {"fieldsType", "FieldsV1"},
                                     {"fieldsV1", {{"f:metadata", {{"f:labels", json::object()}}}}}}});
  std::string kind = object.value("kind", "");
  if (kind == "Deployment") {
    json& spec = object["spec"];
    spec["revisionHistoryLimit"] = 10;
    spec["progressDeadlineSeconds"] = 600;
    spec["strategy"] = {{"type", "RollingUpdate"},
                        {"rollingUpdate", {{"maxUnavailable", "25%"}, {"maxSurge", "25%"}}}};
    json& pod = spec["template"]["spec"];
    pod["restartPolicy"] = "Always";
    pod["dnsPolicy"] = "ClusterFirst";
    pod["schedulerName"] = "default-scheduler";
    pod["terminationGracePeriodSeconds"] = 30;
    pod["securityContext"] = json::object();
    for (auto& c : pod["containers"]) {
      c["terminationMessagePath"] = "/dev/termination-log";
      c["terminationMessagePolicy"] = "File";
      c["imagePullPolicy"] = "IfNotPresent";
      c["resources"] = json::object();
      if (c.contains("ports"))
        for (auto& p : c["ports"]) p["protocol"] = "TCP";
    }
    object["status"] = {{"observedGeneration", 1}, {"replicas", 1}};
  }
  if (kind == "Service") {
    object["spec"]["type"] = "ClusterIP";
    object["spec"]["clusterIP"] = "10.96.12.7";
    object["spec"]["sessionAffinity"] = "None";
    for (auto& p : object["spec"]["ports"]) p["protocol"] = "TCP";
  }
  return object;
}

class FluxBuild : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { world_ = new World(); }
  static void TearDownTestSuite() {
    delete world_;
    world_ = nullptr;
  }

  struct World {
    HelmRepository charts;
    OciRegistry registry;
    WorkRepo repo;
    TempDir scratch;
    std::string head;
    std::unique_ptr<gitstate::SnapshotBuilder> builder;
    std::shared_ptr<const Snapshot> snapshot;
    policies::PolicySet policies;

    World() {
      charts.add("web", "1.0.0");
      charts.add("web", "1.1.0");
      charts.add("web", "2.0.0");
      registry.push("cache", "1.0.0");
      write_fleet(repo, {{"{{GIT_URL}}", repo.file_url()},
                         {"{{HELM_REPO}}", charts.url()},
                         {"{{OCI_REPO}}", registry.url()},
                         {"{{DEAD_REPO}}", "https://127.0.0.1:9/charts"}});
      head = repo.commit("fleet");
      repo.push();
      std::string policy =
          "apiVersion: gitgate.dev/v1alpha1\nkind: GatePolicy\nmetadata:\n  name: fleet\nspec:\n"
          "  source:\n    url: " +
          repo.file_url() +
          "\n    branch: main\n    interval: 1s\n"
          "    flux:\n      path: clusters/prod\n      caFile: " +
          charts.ca_file() +
          "\n"
          "    helmCommand: [" +
          testing::helm_binary() +
          "]\n"
          "    kustomizeCommand: [" +
          testing::kubectl_binary() +
          ", kustomize]\n"
          "    kubeVersion: v1.29.3\n"
          "    apiVersions: [monitoring.coreos.com/v1, monitoring.coreos.com/v1/ServiceMonitor]\n";
      auto loaded = policies::load_policies_from_text("fleet.yaml", policy);
      if (!loaded.ok()) throw std::runtime_error(loaded.errors[0].to_string());
      policies = std::move(loaded.set);
      builder = make_builder();
      snapshot = build(*builder, head);
    }

    std::unique_ptr<gitstate::SnapshotBuilder> make_builder(SourceSpec spec = {}) {
      if (spec.url.empty()) spec = policies.policies[0].source;
      auto b = gitstate::SnapshotBuilder::create(repo.remote_path(), spec, manifests::Limits{});
      if (!b.ok()) throw std::runtime_error(b.error());
      return std::move(*b);
    }

    static std::shared_ptr<const Snapshot> build(gitstate::SnapshotBuilder& b, const std::string& head) {
      auto s = b.build(head, -1);
      if (!s.ok()) throw std::runtime_error(s.error());
      return *s;
    }
  };

  class State : public policies::DeclaredState {
   public:
    SnapshotWindow snapshots;
    const SnapshotWindow* window(const policies::Policy&) const override { return &snapshots; }
  };

  void SetUp() override { state_.snapshots.snapshots = {world_->snapshot}; }

  const DeclaredObject* declared(const std::string& group, const std::string& kind, const std::string& ns,
                                 const std::string& name) const {
    return world_->snapshot->find({group, kind, ns, name}).object;
  }

  json declared_json(const std::string& group, const std::string& kind, const std::string& ns,
                     const std::string& name) {
    const DeclaredObject* o = declared(group, kind, ns, name);
    EXPECT_NE(o, nullptr) << kind << " " << ns << "/" << name << " is not declared";
    return o == nullptr ? json::object() : json::parse(o->json());
  }

  Decision decide(const std::string& operation, const std::string& user, const json& object,
                  const json& old = nullptr, const std::string& sub = "") {
    const json& src = object.is_null() ? old : object;
    std::string api = src.value("apiVersion", "v1");
    std::string group = api.find('/') == std::string::npos ? "" : api.substr(0, api.find('/'));
    std::string version = api.substr(api.find('/') + 1);
    std::string kind = src.value("kind", "");
    std::string resource = kind == "Deployment"      ? "deployments"
                           : kind == "Service"       ? "services"
                           : kind == "ConfigMap"     ? "configmaps"
                           : kind == "Secret"        ? "secrets"
                           : kind == "CronJob"       ? "cronjobs"
                           : kind == "Kustomization" ? "kustomizations"
                                                     : "things";
    json request = {{"uid", "705ab4f5-6393-11e8-b7cc-42010a800002"},
                    {"kind", {{"group", group}, {"version", version}, {"kind", kind}}},
                    {"resource", {{"group", group}, {"version", version}, {"resource", resource}}},
                    {"name", src["metadata"].value("name", "")},
                    {"namespace", src["metadata"].value("namespace", "")},
                    {"operation", operation},
                    {"userInfo", {{"username", user}, {"groups", json::array({"system:authenticated"})}}},
                    {"object", object},
                    {"oldObject", old},
                    {"dryRun", false}};
    if (!sub.empty()) request["subResource"] = sub;
    json review = {{"apiVersion", "admission.k8s.io/v1"}, {"kind", "AdmissionReview"}, {"request", request}};
    body_ = std::make_unique<webhook::PaddedBody>(review.dump());
    auto decoded = decoder_.decode(body_->view());
    EXPECT_TRUE(decoded.ok()) << decoded.error();
    if (!decoded.ok()) return {};
    return policies::evaluate(*decoded, world_->policies, state_, scratch_);
  }

  static bool has(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
  }
  static std::string problems(const Snapshot& s) { return testing::problems_of(s); }
  static bool problem(const Snapshot& s, const std::string& part) {
    for (const auto& p : s.problems())
      if (has(p.to_string(), part)) return true;
    return false;
  }

  static World* world_;
  State state_;
  policies::Scratch scratch_;
  webhook::ReviewDecoder decoder_;
  std::unique_ptr<webhook::PaddedBody> body_;
};

FluxBuild::World* FluxBuild::world_ = nullptr;

// --- HelmReleases
// ---------------------------------------------------------------------------------------------

TEST_F(FluxBuild, AHelmRenderedDeploymentEditedByAPersonIsDeniedCitingTheReleaseAndTheValuesLine) {
  json live = as_stored(declared_json("apps", "Deployment", "shop", "frontend"), kHelmController);
  json edited = live;
  edited["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/example/frontend:9.9.9";
  Decision d = decide("UPDATE", "jane@example.com", edited, live);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "governed-path-changed");
  EXPECT_TRUE(
      has(d.message,
          "Deployment shop/frontend is built by HelmRelease shop/frontend (releases/frontend.yaml:1 @ "))
      << d.message;
  EXPECT_TRUE(has(d.message, "from chart web 1.1.0 (sha256:")) << d.message;
  EXPECT_TRUE(has(
      d.message,
      "Git has \"ghcr.io/example/frontend:2.3.1\" (set by values.image.tag at releases/frontend.yaml:21)"))
      << d.message;
  EXPECT_LE(d.message.size(), 1024u);
}

TEST_F(FluxBuild, HelmControllerApplyingExactlyWhatTheChartRendersIsAllowed) {
  for (const char* kind : {"Deployment", "Service"}) {
    std::string group = std::string(kind) == "Deployment" ? "apps" : "";
    json applied = as_stored(declared_json(group, kind, "shop", "frontend"), "helm-controller");
    Decision d = decide("UPDATE", kHelmController, applied, applied);
    EXPECT_TRUE(d.allowed) << kind << ": " << d.message;
    EXPECT_EQ(d.reason, "agent-matches-git") << kind;
  }
}

TEST_F(FluxBuild, HelmControllerWritingAnImageTheChartDoesNotRenderIsDeniedAfterASync) {
  json applied = as_stored(declared_json("apps", "Deployment", "shop", "frontend"), "helm-controller");
  json drifted = applied;
  drifted["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/example/frontend:2.3.2-hotfix";
  Decision d = decide("UPDATE", kHelmController, drifted, applied);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "agent-git-mismatch");
  EXPECT_TRUE(d.sync_wanted) << "the server fetches once and decides again";
  EXPECT_TRUE(has(d.message, "(set by values.image.tag at releases/frontend.yaml:21)")) << d.message;
}

TEST_F(FluxBuild, AVersionConstraintResolvesLikeHelmAndValuesFromMergesUnderInlineValues) {
  json deployment = declared_json("apps", "Deployment", "shop", "frontend");
  EXPECT_EQ(deployment["metadata"]["labels"]["helm.sh/chart"], "web-1.1.0")
      << ">=1.0.0 <2.0.0 is 1.1.0, not 2.0.0";
  EXPECT_EQ(deployment["spec"]["replicas"], 3) << "from valuesFrom ConfigMap frontend-values";
  EXPECT_EQ(deployment["spec"]["template"]["spec"]["containers"][0]["image"],
            "ghcr.io/example/frontend:2.3.1");
  EXPECT_EQ(deployment["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"], "frontend");
  EXPECT_EQ(deployment["metadata"]["labels"]["app.kubernetes.io/managed-by"], "Helm");
  EXPECT_EQ(deployment["metadata"]["annotations"]["meta.helm.sh/release-name"], "frontend");
  const DeclaredObject* chart =
      declared("source.toolkit.fluxcd.io", "HelmChart", "flux-system", "shop-frontend");
  ASSERT_NE(chart, nullptr) << "the HelmChart helm-controller creates is declared too";
  EXPECT_EQ(chart->built_by()->applier, kHelmController);
}

TEST_F(FluxBuild, AnOciChartWithPostRenderersAndAChartInTheRepositoryAreBuilt) {
  json cache = declared_json("apps", "Deployment", "shop", "cache-cache");
  EXPECT_EQ(cache["metadata"]["labels"]["tier"], "cache") << "post-renderer patch";
  EXPECT_EQ(cache["spec"]["template"]["spec"]["containers"][0]["args"][1], "512Mi");
  const DeclaredObject* jobs = declared("batch", "CronJob", "shop", "jobs-cleanup");
  ASSERT_NE(jobs, nullptr);
  EXPECT_EQ(json::parse(jobs->json())["spec"]["schedule"], "*/5 * * * *");
  EXPECT_EQ(jobs->built_by()->applier, "system:serviceaccount:shop:shop-deployer")
      << "a HelmRelease's serviceAccountName applies what it builds";
}

// helm-controller renders with the live cluster's capabilities; the policy says what they are.
TEST_F(FluxBuild, ChartsSeeTheClustersKubernetesAndApiVersionsThePolicyNames) {
  json monitor = declared_json("monitoring.coreos.com", "ServiceMonitor", "shop", "jobs-cleanup");
  EXPECT_EQ(monitor["metadata"]["labels"]["kube-version"], "v1.29.3");

  // Without them the chart renders no ServiceMonitor, and no render made with them is taken from the cache.
  SourceSpec spec = world_->policies.policies[0].source;
  spec.kube_version.clear();
  spec.api_versions.clear();
  auto plain = world_->make_builder(spec);
  auto snapshot = World::build(*plain, world_->head);
  EXPECT_EQ(snapshot->find({"monitoring.coreos.com", "ServiceMonitor", "shop", "jobs-cleanup"}).object, nullptr);
  EXPECT_NE(snapshot->find({"batch", "CronJob", "shop", "jobs-cleanup"}).object, nullptr);
}

// A chart in Git with a dependency that is not vendored: fetched (helm dependency build) before the render.
TEST_F(FluxBuild, AChartInGitHasItsDependenciesBuiltFirst) {
  json umbrella = declared_json("apps", "Deployment", "shop", "umbrella");
  ASSERT_FALSE(umbrella.empty()) << problems(*world_->snapshot);
  EXPECT_EQ(umbrella["metadata"]["labels"]["helm.sh/chart"], "web-1.0.0");
  EXPECT_EQ(umbrella["spec"]["replicas"], 3);
  EXPECT_EQ(umbrella["spec"]["template"]["spec"]["containers"][0]["image"], "ghcr.io/example/umbrella:2.4.0");
}

// chartRef to a HelmChart that Git declares: built from that HelmChart's spec; helm-controller creates no
// HelmChart of its own for it.
TEST_F(FluxBuild, AChartRefToADeclaredHelmChartIsBuiltFromThatHelmChart) {
  json charted = declared_json("apps", "Deployment", "shop", "charted");
  ASSERT_FALSE(charted.empty()) << problems(*world_->snapshot);
  EXPECT_EQ(charted["metadata"]["labels"]["helm.sh/chart"], "web-1.0.0") << "~1.0.0 leaves 1.1.0 out";
  EXPECT_EQ(charted["spec"]["replicas"], 6);
  EXPECT_EQ(charted["spec"]["template"]["spec"]["containers"][0]["image"], "ghcr.io/example/web-prod:latest")
      << "the HelmChart's valuesFiles";
  EXPECT_EQ(declared("source.toolkit.fluxcd.io", "HelmChart", "flux-system", "shop-charted"), nullptr);
  const DeclaredObject* chart = declared("source.toolkit.fluxcd.io", "HelmChart", "flux-system", "web-stable");
  ASSERT_NE(chart, nullptr);
  EXPECT_EQ(chart->file(), "releases/charted.yaml");
}

// valuesFiles as source-controller builds them: merged in order into the chart's values.yaml (replacing it),
// under valuesFrom and the inline values; read from the chart for a pulled chart, from the repository's root
// for a chart in Git, whose lines are cited.
TEST_F(FluxBuild, ValuesFilesReplaceTheChartsDefaultValuesAsSourceControllerBuildsThem) {
  ASSERT_NE(declared("apps", "Deployment", "shop", "tuned"), nullptr) << problems(*world_->snapshot);
  json tuned = declared_json("apps", "Deployment", "shop", "tuned");
  EXPECT_EQ(tuned["spec"]["template"]["spec"]["containers"][0]["image"], "ghcr.io/example/web-prod:latest")
      << "values-prod.yaml's repository over values.yaml, whose tag stays";
  EXPECT_EQ(tuned["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"], 9090);
  EXPECT_EQ(tuned["spec"]["replicas"], 7) << "the inline values over both files";
  ASSERT_NE(declared("apps", "Deployment", "shop", "bare"), nullptr) << problems(*world_->snapshot);
  json bare = declared_json("apps", "Deployment", "shop", "bare");
  EXPECT_EQ(bare["spec"]["template"]["spec"]["containers"][0]["image"], "ghcr.io/example/web-prod:")
      << "values.yaml is not listed, so the chart's tag default is gone (a missing file is ignored as asked)";
  EXPECT_EQ(bare["spec"]["replicas"], 5);

  const DeclaredObject* nightly = declared("batch", "CronJob", "shop", "nightly-cleanup");
  ASSERT_NE(nightly, nullptr);
  json live = as_stored(json::parse(nightly->json()), "helm-controller");
  EXPECT_EQ(live["spec"]["schedule"], "0 3 * * *");
  json edited = live;
  edited["spec"]["schedule"] = "* * * * *";
  Decision d = decide("UPDATE", "jane@example.com", edited, live);
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(has(d.message, "Git has \"0 3 * * *\" (set by valuesFiles at values/nightly.yaml:1)")) << d.message;
  Decision agent = decide("UPDATE", kHelmController, live, live);
  EXPECT_TRUE(agent.allowed) << agent.message;
}

TEST_F(FluxBuild, AChartRepositoryThatIsDownDeclaresTheReleasesObjectsWithUnknownValues) {
  EXPECT_TRUE(problem(*world_->snapshot, "HelmRelease shop/legacy is not built: helm pull legacy"))
      << "reported";
  json object = {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata",
       {{"name", "legacy"},
        {"namespace", "shop"},
        {"labels",
         {{"helm.toolkit.fluxcd.io/name", "legacy"}, {"helm.toolkit.fluxcd.io/namespace", "shop"}}}}},
      {"spec", {{"replicas", 1}}}};
  Decision person = decide("CREATE", "jane@example.com", object);
  EXPECT_FALSE(person.allowed);
  EXPECT_EQ(person.reason, "declared-object-create");
  EXPECT_TRUE(has(person.message, "is built by HelmRelease shop/legacy (releases/legacy.yaml:1"))
      << person.message;
  EXPECT_TRUE(has(person.message, "Its values are unknown")) << person.message;
  Decision agent = decide("CREATE", kHelmController, object);
  EXPECT_TRUE(agent.allowed) << agent.message;
  EXPECT_EQ(agent.reason, "values-unknown");
}

TEST_F(FluxBuild, HelmControllersReleaseRecordsAreItsOwn) {
  json secret = {{"apiVersion", "v1"},
                 {"kind", "Secret"},
                 {"type", "helm.sh/release.v1"},
                 {"metadata",
                  {{"name", "sh.helm.release.v1.frontend.v1"},
                   {"namespace", "shop"},
                   {"labels", {{"owner", "helm"}, {"name", "frontend"}}}}},
                 {"data", {{"release", "H4sIAAAAAAAA"}}}};
  Decision d = decide("CREATE", kHelmController, secret);
  EXPECT_TRUE(d.allowed) << d.message;
  EXPECT_EQ(d.reason, "agent-release-storage");
}

// --- Kustomizations
// -------------------------------------------------------------------------------------------

TEST_F(FluxBuild, KustomizeControllerApplyingAPatchedComponentSubstitutedDeploymentIsAllowed) {
  json web = declared_json("apps", "Deployment", "shop", "web");
  EXPECT_EQ(web["spec"]["replicas"], 4) << "spec.patches";
  auto& container = web["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(container["image"], "ghcr.io/example/web:1.4.2") << "spec.images";
  EXPECT_EQ(container["readinessProbe"]["httpGet"]["path"], "/ready") << "spec.components";
  EXPECT_EQ(container["env"][0]["value"], "prod-eu-1") << "postBuild.substitute";
  EXPECT_EQ(container["env"][1]["value"], "eu-west-1") << "postBuild.substituteFrom a ConfigMap in Git";
  EXPECT_EQ(web["metadata"]["labels"]["team"], "checkout") << "commonMetadata";
  EXPECT_EQ(web["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"], "apps");
  EXPECT_EQ(web["metadata"]["namespace"], "shop") << "targetNamespace";
  json applied = as_stored(web, "kustomize-controller");
  Decision d = decide("UPDATE", kKustomizeController, applied, applied);
  EXPECT_TRUE(d.allowed) << d.message;
  EXPECT_EQ(d.reason, "agent-matches-git");
}

TEST_F(FluxBuild, APersonsEditOfAPatchedValueIsDeniedCitingThePatch) {
  json live = as_stored(declared_json("apps", "Deployment", "shop", "web"), "kustomize-controller");
  json scaled = live;
  scaled["spec"]["replicas"] = 9;
  Decision d = decide("UPDATE", "jane@example.com", scaled, live);
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(has(d.message, "is declared in Git (apps/base/web.yaml:1 @ ")) << d.message;
  EXPECT_TRUE(has(d.message, "and built by Kustomization flux-system/apps (clusters/prod/apps.yaml:1 @ "))
      << d.message;
  EXPECT_TRUE(has(d.message, "spec.replicas: Git has 4 (set by spec.patches at clusters/prod/apps.yaml:26)"))
      << d.message;
}

TEST_F(FluxBuild, ATenantsServiceAccountIsTheAgentForWhatItsKustomizationBuilds) {
  const DeclaredObject* settings = declared("", "ConfigMap", "team-a", "settings");
  ASSERT_NE(settings, nullptr);
  EXPECT_EQ(settings->built_by()->applier, "system:serviceaccount:team-a:flux-reconciler");
  json applied = as_stored(json::parse(settings->json()), "kustomize-controller");
  Decision tenant = decide("UPDATE", "system:serviceaccount:team-a:flux-reconciler", applied, applied);
  EXPECT_TRUE(tenant.allowed) << tenant.message;
  EXPECT_EQ(tenant.identity, Identity::Agent);
  Decision platform = decide("UPDATE", kKustomizeController, applied, applied);
  EXPECT_FALSE(platform.allowed);
  EXPECT_EQ(platform.reason, "agent-not-applier");
  json changed = applied;
  changed["data"]["mode"] = "green";
  EXPECT_EQ(decide("UPDATE", "system:serviceaccount:team-a:flux-reconciler", changed, applied).reason,
            "agent-git-mismatch");
}

TEST_F(FluxBuild, ThePlatformsKustomizeControllerCreatesTheTenantsKustomization) {
  json kustomization =
      as_stored(declared_json("kustomize.toolkit.fluxcd.io", "Kustomization", "team-a", "team-a"),
                "kustomize-controller");
  Decision d = decide("CREATE", kKustomizeController, kustomization);
  EXPECT_TRUE(d.allowed) << d.message;
  json suspended = kustomization;
  suspended["spec"]["suspend"] = true;
  Decision person = decide("UPDATE", "jane@example.com", suspended, kustomization);
  EXPECT_FALSE(person.allowed) << "a person may not suspend a Kustomization that Git declares";
}

TEST_F(FluxBuild, ANewChartVersionInTheIndexIsBuiltByTheNextBuildOfTheSameCommit) {
  auto builder = world_->make_builder();
  auto before = World::build(*builder, world_->head);
  EXPECT_EQ(json::parse(before->find({"apps", "Deployment", "shop", "frontend"})
                            .object->json())["metadata"]["labels"]["helm.sh/chart"],
            "web-1.1.0");
  std::string fingerprint = builder->fingerprint();
  world_->charts.add("web", "1.2.0");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // past the HelmRepository's interval (1s)
  auto after = World::build(*builder, world_->head);
  EXPECT_EQ(json::parse(after->find({"apps", "Deployment", "shop", "frontend"})
                            .object->json())["metadata"]["labels"]["helm.sh/chart"],
            "web-1.2.0");
  EXPECT_NE(builder->fingerprint(), fingerprint) << "so the source publishes the new build";
  EXPECT_EQ(builder->last_stats().flux.helm_runs, 1u)
      << "only the release whose chart changed is rendered again";
}

// helm through a wrapper the test can make slow or flood its output, for the limits.
std::string flaky_helm(const fs::path& dir) {
  fs::path script = dir / "helm";
  write_file(script, "#!/bin/sh\n"
                     "if [ \"$1\" = template ] && [ -f " + (dir / "slow").string() + " ]; then sleep 30; fi\n"
                     "if [ \"$1\" = template ] && [ -f " + (dir / "flood").string() + " ]; then head -c 80000000 /dev/zero; exit 0; fi\n"
                     "exec " + testing::helm_binary() + " \"$@\"\n");
  fs::permissions(script, fs::perms::owner_all);
  return script.string();
}

TEST_F(FluxBuild, ARenderThatTimesOutOrFloodsItsOutputKeepsTheLastGoodBuild) {
  SourceSpec spec = world_->policies.policies[0].source;
  spec.helm_command = {flaky_helm(world_->scratch.path())};
  spec.render_timeout = std::chrono::seconds(2);
  auto builder = world_->make_builder(spec);
  World::build(*builder, world_->head);  // good: what stays in force
  for (const char* fault : {"slow", "flood"}) {
    std::string text = read_file(fixture_path("flux/fleet/releases/frontend.yaml"));
    text.replace(text.find("2.3.1"), 5, std::string("2.3.") + (std::string(fault) == "slow" ? "2" : "3"));
    world_->repo.write("releases/frontend.yaml", text);
    std::string head = world_->repo.commit(std::string("frontend: values that will not render (") + fault + ")");
    world_->repo.push();
    write_file(world_->scratch / fault, "");
    auto started = std::chrono::steady_clock::now();
    auto snapshot = World::build(*builder, head);
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(25)) << fault << ": the limit stops it";
    fs::remove(world_->scratch / fault);
    const DeclaredObject* frontend = snapshot->find({"apps", "Deployment", "shop", "frontend"}).object;
    ASSERT_NE(frontend, nullptr) << fault << ": the release's objects must stay declared";
    EXPECT_EQ(json::parse(frontend->json())["spec"]["template"]["spec"]["containers"][0]["image"],
              "ghcr.io/example/frontend:2.3.1")
        << fault << ": the last good build";
    EXPECT_TRUE(problem(*snapshot, "HelmRelease shop/frontend is not built: helm template frontend")) << fault;
    EXPECT_TRUE(problem(*snapshot, "its last good build (" + world_->head.substr(0, 7) + ") stays in force")) << fault;
  }
}

TEST_F(FluxBuild, AWarmCacheBuildsWithoutRunningKustomizeOrHelm) {
  auto builder = world_->make_builder();
  World::build(*builder, world_->head);
  EXPECT_EQ(builder->last_stats().flux.kustomize_runs, 0u)
      << "a new builder reads the outputs from the cache dir";
  EXPECT_EQ(builder->last_stats().flux.helm_runs, 0u);
}

// What `flux bootstrap` writes below clusters/prod: the flux-system GitRepository and Kustomization.
void write_bootstrap(WorkRepo& repo) {
  repo.write("clusters/prod/flux-system/gotk-sync.yaml",
             "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: flux-system\n"
             "  namespace: flux-system\nspec:\n  interval: 1m0s\n  ref:\n    branch: main\n  url: " +
                 repo.file_url() +
                 "\n---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n"
                 "  name: flux-system\n  namespace: flux-system\nspec:\n  interval: 10m0s\n  path: ./clusters/prod\n"
                 "  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n");
  repo.write("clusters/prod/flux-system/kustomization.yaml",
             "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - gotk-sync.yaml\n");
}

// A HelmRelease's chartRef to an OCIRepository, as source-controller resolves its ref: a digest wins over a
// tag (the chart is pulled by that manifest digest, whatever the tag now points at), a semver range over a
// tag; a digest that is not sha256 is reported, never passed to helm.
TEST(FluxOci, AnOciRepositoryPinnedByDigestBuildsThatChartWhateverItsTagSays) {
  OciRegistry registry;
  std::string first = registry.push("cache", "1.0.0");
  registry.push("cache", "1.2.0");
  WorkRepo repo;
  write_bootstrap(repo);
  auto release = [&](const std::string& name, const std::string& ref) {
    return "apiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata:\n  name: " + name +
           "\n  namespace: flux-system\nspec:\n  interval: 1h\n  insecure: true\n  url: " + registry.url() +
           "/cache\n  ref:\n" + ref + "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n"
           "  name: " + name + "\n  namespace: shop\nspec:\n  interval: 1h\n  chartRef:\n    kind: OCIRepository\n"
           "    name: " + name + "\n    namespace: flux-system\n  values:\n    memory: 64Mi\n---\n";
  };
  repo.write("clusters/prod/cache.yaml",
             release("pinned", "    tag: 1.2.0\n    digest: " + first + "\n") + release("tagged", "    tag: 1.2.0\n") +
                 release("ranged", "    tag: 1.0.0\n    semver: '>=1.1.0'\n") +
                 release("forged", "    digest: sha256:../../etc\n"));
  std::string head = repo.commit("OCI charts");
  repo.push();
  std::string policy = "apiVersion: gitgate.dev/v1alpha1\nkind: GatePolicy\nmetadata:\n  name: fleet\nspec:\n"
                       "  source:\n    url: " + repo.file_url() + "\n    flux:\n      path: clusters/prod\n" +
                       testing::tool_commands();
  auto snapshot = testing::build_commit(repo.remote_path(), policy, head);
  std::string reported = testing::problems_of(*snapshot);
  auto image = [&](const std::string& name) -> std::string {
    const DeclaredObject* d = snapshot->find({"apps", "Deployment", "shop", name + "-cache"}).object;
    if (d == nullptr) return "not declared";
    return json::parse(d->json())["spec"]["template"]["spec"]["containers"][0]["image"];
  };
  EXPECT_EQ(image("pinned"), "docker.io/library/memcached:1.6.100") << "the digest's chart, 1.0.0: " << reported;
  EXPECT_EQ(image("tagged"), "docker.io/library/memcached:1.6.120") << reported;
  EXPECT_EQ(image("ranged"), "docker.io/library/memcached:1.6.120") << "semver over tag: " << reported;
  const DeclaredObject* pinned = snapshot->find({"apps", "Deployment", "shop", "pinned-cache"}).object;
  ASSERT_NE(pinned, nullptr);
  std::string chain;
  for (const auto& link : pinned->built_by()->chain) chain += link.what + "\n";
  EXPECT_NE(chain.find("chart cache 1.0.0 ("), std::string::npos) << chain;
  bool forged = false;
  for (const auto& u : snapshot->unbuilt())
    forged = forged || (u.name == "forged" && u.build->unknown_reason.find("is not sha256: and 64 lowercase hex") !=
                                                  std::string::npos);
  EXPECT_TRUE(forged) << reported;
}

// A chart repository that cannot be reached is tried once per build, not once per chart: a fleet built
// offline (or behind a black-holed network) would otherwise wait on every release's pull in turn.
TEST(FluxOffline, AnUnreachableChartRepositoryIsTriedOncePerBuild) {
  WorkRepo repo;
  write_bootstrap(repo);
  std::string releases =
      "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: gone\n"
      "  namespace: flux-system\nspec:\n  interval: 1h\n  url: https://127.0.0.1:9/charts\n";
  for (const char* name : {"first", "second", "third"})
    releases += std::string("---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: ") +
                name + "\n  namespace: shop\nspec:\n  interval: 1h\n  chart:\n    spec:\n      chart: " + name +
                "\n      sourceRef:\n        kind: HelmRepository\n        name: gone\n        namespace: flux-system\n";
  repo.write("clusters/prod/releases.yaml", releases);
  std::string head = repo.commit("releases from a repository that is gone");
  repo.push();
  std::string policy = "apiVersion: gitgate.dev/v1alpha1\nkind: GatePolicy\nmetadata:\n  name: fleet\nspec:\n"
                       "  source:\n    url: " + repo.file_url() + "\n    flux:\n      path: clusters/prod\n" +
                       testing::tool_commands();
  auto snapshot = testing::build_commit(repo.remote_path(), policy, head);
  size_t tried = 0, skipped = 0;
  for (const auto& u : snapshot->unbuilt()) {
    const std::string& why = u.build->unknown_reason;
    if (why.find("connection refused") == std::string::npos) continue;
    (why.find("not tried again for chart " + u.name + " in this build") != std::string::npos ? skipped : tried)++;
  }
  EXPECT_EQ(tried, 1u) << testing::problems_of(*snapshot);
  EXPECT_EQ(skipped, 2u) << testing::problems_of(*snapshot);
}

// A Kustomization or HelmRelease with spec.kubeConfig applies to another cluster: nothing it builds is declared
// here, not even with unknown values (a person here may own objects of the same names), and its chart is not
// pulled.
TEST(FluxElsewhere, WhatAppliesToAnotherClusterIsNotDeclaredHere) {
  WorkRepo repo;
  write_bootstrap(repo);
  std::string kustomization =
      "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n"
      "  namespace: flux-system\nspec:\n  interval: 10m\n  path: ./{name}\n  prune: true\n"
      "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n";
  auto named = [&](const std::string& name, const std::string& extra) {
    std::string text = kustomization;
    for (size_t at = text.find("{name}"); at != std::string::npos; at = text.find("{name}")) text.replace(at, 6, name);
    return text + extra;
  };
  repo.write("clusters/prod/apps.yaml",
             named("local", "") + "---\n" +
                 named("edge", "  kubeConfig:\n    secretRef:\n      name: edge-kubeconfig\n") +
                 "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: charts\n"
                 "  namespace: flux-system\nspec:\n  interval: 1h\n  url: https://127.0.0.1:9/charts\n"
                 "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: tuned\n"
                 "  namespace: flux-system\nspec:\n  interval: 10m\n  chart:\n    spec:\n      chart: web\n"
                 "      sourceRef:\n        kind: HelmRepository\n        name: charts\n"
                 "  kubeConfig:\n    secretRef:\n      name: edge-kubeconfig\n");
  repo.write("local/web.yaml", gitstate::testing::deployment("web", 2));
  repo.write("edge/web.yaml", gitstate::testing::deployment("edge-web", 3));
  std::string head = repo.commit("two clusters");
  repo.push();
  std::string policy = "apiVersion: gitgate.dev/v1alpha1\nkind: GatePolicy\nmetadata:\n  name: fleet\nspec:\n"
                       "  source:\n    url: " + repo.file_url() + "\n    flux:\n      path: clusters/prod\n" +
                       testing::tool_commands();
  auto snapshot = testing::build_commit(repo.remote_path(), policy, head);
  const Snapshot& s = *snapshot;
  std::string reported = testing::problems_of(s);

  EXPECT_NE(s.find({"apps", "Deployment", "default", "web"}).object, nullptr) << reported;
  EXPECT_NE(s.find({"kustomize.toolkit.fluxcd.io", "Kustomization", "flux-system", "edge"}).object, nullptr)
      << "the Kustomization itself lives here";
  EXPECT_EQ(s.find({"apps", "Deployment", "default", "edge-web"}).object, nullptr);
  EXPECT_NE(reported.find("Kustomization flux-system/edge applies to another cluster (spec.kubeConfig)"),
            std::string::npos)
      << reported;
  bool edge_unbuilt = false, tuned_unbuilt = false;
  for (const auto& u : s.unbuilt()) {
    edge_unbuilt |= u.name == "edge";
    tuned_unbuilt |= u.name == "tuned";
  }
  EXPECT_FALSE(edge_unbuilt) << "not even declared with unknown values";
  EXPECT_FALSE(tuned_unbuilt) << "its chart repository is never reached: " << reported;
  EXPECT_NE(reported.find("HelmRelease flux-system/tuned applies to another cluster (spec.kubeConfig)"),
            std::string::npos)
      << reported;
}

// Flux 2.7's source composition, as flux2-kustomize-helm-example now does it: an ArtifactGenerator copies
// directories of the repository into ExternalArtifacts, and Kustomizations build those. The objects are
// built from the copies and cite their files in Git.
TEST(FluxArtifacts, AKustomizationOfAnExternalArtifactCopiedFromTheRepositoryIsBuiltAndCitesGit) {
  WorkRepo repo;
  write_bootstrap(repo);
  repo.write("clusters/prod/artifacts.yaml",
             "apiVersion: source.extensions.fluxcd.io/v1beta1\nkind: ArtifactGenerator\nmetadata:\n"
             "  name: flux-system\n  namespace: flux-system\nspec:\n  sources:\n    - alias: monorepo\n"
             "      kind: GitRepository\n      name: flux-system\n  artifacts:\n    - name: apps\n"
             "      originRevision: \"@monorepo\"\n      copy:\n        - from: \"@monorepo/apps/base/**\"\n"
             "          to: \"@artifact/base/\"\n        - from: \"@monorepo/apps/production/**\"\n"
             "          to: \"@artifact/production/\"\n");
  repo.write("clusters/prod/apps.yaml",
             "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n"
             "  namespace: flux-system\nspec:\n  interval: 1h\n  sourceRef:\n    kind: ExternalArtifact\n"
             "    name: apps\n  path: ./production\n  prune: true\n---\n"
             "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: orphan\n"
             "  namespace: flux-system\nspec:\n  interval: 1h\n  sourceRef:\n    kind: ExternalArtifact\n"
             "    name: nobody-makes-this\n  path: ./\n  prune: true\n---\n"
             "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: tenant\n"
             "  namespace: flux-system\nspec:\n  interval: 1m\n  url: " + repo.file_url() + "\n  ref:\n"
             "    branch: tenant\n---\n"
             "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: tenant\n"
             "  namespace: flux-system\nspec:\n  interval: 1h\n  sourceRef:\n    kind: GitRepository\n"
             "    name: tenant\n  path: ./apps/production\n  prune: true\n");
  repo.write("apps/base/web/kustomization.yaml",
             "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [deployment.yaml]\n");
  repo.write("apps/base/web/deployment.yaml", gitstate::testing::deployment("web", 1));
  repo.write("apps/production/kustomization.yaml",
             "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: shop\n"
             "resources: [../base/web]\npatches:\n  - patch: |-\n      - op: replace\n        path: /spec/replicas\n"
             "        value: 4\n    target:\n      kind: Deployment\n");
  std::string head = repo.commit("apps through an ExternalArtifact");
  repo.push();
  std::string policy = "apiVersion: gitgate.dev/v1alpha1\nkind: GatePolicy\nmetadata:\n  name: fleet\nspec:\n"
                       "  source:\n    url: " + repo.file_url() + "\n    flux:\n      path: clusters/prod\n" +
                       testing::tool_commands();
  auto snapshot = testing::build_commit(repo.remote_path(), policy, head);
  const Snapshot& s = *snapshot;
  std::string reported = testing::problems_of(s);

  const DeclaredObject* web = s.find({"apps", "Deployment", "shop", "web"}).object;
  ASSERT_NE(web, nullptr) << reported;
  json object = json::parse(web->json());
  EXPECT_EQ(object["spec"]["replicas"], 4) << "the production overlay's patch, from the artifact";
  EXPECT_EQ(object["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"], "apps");
  EXPECT_EQ(web->file(), "apps/base/web/deployment.yaml") << "its file in Git, not in the artifact";
  ASSERT_NE(web->built_by(), nullptr);
  std::string chain;
  for (const auto& link : web->built_by()->chain) chain += link.what + "\n";
  EXPECT_NE(chain.find("Kustomization flux-system/apps"), std::string::npos) << chain;
  EXPECT_NE(chain.find("ExternalArtifact flux-system/apps"), std::string::npos) << chain;

  bool orphan_unbuilt = false;
  for (const auto& u : s.unbuilt()) orphan_unbuilt |= u.name == "orphan";
  EXPECT_TRUE(orphan_unbuilt) << "what it owns is declared with unknown values";
  EXPECT_NE(reported.find("ExternalArtifact flux-system/nobody-makes-this is made by no ArtifactGenerator"),
            std::string::npos)
      << reported;
  EXPECT_NE(reported.find("GitRepository flux-system/tenant is the policy's repository at branch 'tenant', and "
                          "gitgate builds only the policy's branch 'main'"),
            std::string::npos)
      << "the same URL at another branch is another tree: " << reported;
}

}  // namespace
}  // namespace gitgate::desired
