// Declared state as Argo CD builds it (SPEC §3a), end to end: an Argo CD-shaped repository (a root
// Application managing its own directory, an app of apps rendered from a chart in the repository, directory,
// kustomize and Helm sources, a chart from an HTTPS repository and one from an OCI registry with `$values`,
// an ApplicationSet with a git directory generator, a hook) committed to a real Git repository, built by
// gitstate + desired with the real kustomize and helm, then requests shaped as the API server sends them
// (defaults, managedFields) decided by the engine.
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
using gitstate::testing::WorkRepo;
using testing::HelmRepository;
using testing::OciRegistry;

constexpr const char* kController = "system:serviceaccount:argocd:argocd-application-controller";
constexpr const char* kServer = "system:serviceaccount:argocd:argocd-server";
constexpr const char* kPerson = "jane@example.com";

// Copies the fixture repository into the work repository, with the test's URLs in place of its placeholders.
void write_repository(WorkRepo& repo, const std::map<std::string, std::string>& vars) {
  fs::path root = fixture_path("argocd/repo");
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
json as_stored(json object) {
  json& m = object["metadata"];
  m["uid"] = "5f0c2b1e-9a7d-4c3b-8e6f-2d1a0b9c8e7f";
  m["resourceVersion"] = "48211";
  m["generation"] = 2;
  m["creationTimestamp"] = "2026-11-18T08:00:00Z";
  m["managedFields"] = json::array({{{"manager", "argocd-controller"},
                                     {"operation", "Apply"},
                                     {"apiVersion", object.value("apiVersion", "v1")},
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
  if (kind == "Namespace") {
    object["spec"] = {{"finalizers", json::array({"kubernetes"})}};
    object["metadata"]["labels"]["kubernetes.io/metadata.name"] = object["metadata"]["name"];
    object["status"] = {{"phase", "Active"}};
  }
  if (kind == "Application") {
    object["status"] = {{"sync", {{"status", "Synced"}}}, {"health", {{"status", "Healthy"}}}};
  }
  return object;
}

class ArgoBuild : public ::testing::Test {
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
    std::string head;
    std::unique_ptr<gitstate::SnapshotBuilder> builder;
    std::shared_ptr<const Snapshot> snapshot;
    policies::PolicySet policies;

    World() {
      charts.add("web", "1.0.0");
      charts.add("web", "1.1.0");
      charts.add("web", "2.0.0");
      registry.push("cache", "1.0.0");
      write_repository(repo, {{"{{GIT_URL}}", repo.file_url()},
                              {"{{HELM_REPO}}", charts.url()},
                              {"{{OCI_REPO}}", registry.url()},
                              {"{{DEAD_REPO}}", "https://127.0.0.1:9/charts"}});
      head = repo.commit("argo cd apps");
      repo.push();
      std::string policy =
          "apiVersion: gitgate.dev/v1alpha1\nkind: GatePolicy\nmetadata:\n  name: argo\nspec:\n"
          "  source:\n    url: " +
          repo.file_url() +
          "\n    branch: main\n    interval: 1s\n"
          "    argocd:\n      path: argocd\n      caFile: " +
          charts.ca_file() + "\n      plainHTTPRegistries: ['" + registry.url().substr(6, registry.url().find('/', 6) - 6) +
          "']\n"
          "    helmCommand: [" +
          testing::helm_binary() +
          "]\n"
          "    kustomizeCommand: [" +
          testing::kubectl_binary() + ", kustomize]\n";
      auto loaded = policies::load_policies_from_text("argo.yaml", policy);
      if (!loaded.ok()) throw std::runtime_error(loaded.errors[0].to_string());
      policies = std::move(loaded.set);
      auto b = gitstate::SnapshotBuilder::create(repo.remote_path(), policies.policies[0].source,
                                                 manifests::Limits{});
      if (!b.ok()) throw std::runtime_error(b.error());
      builder = std::move(*b);
      snapshot = build(head);
    }

    std::shared_ptr<const Snapshot> build(const std::string& commit) {
      auto s = builder->build(commit, -1);
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
    return state_.snapshots.current()->find({group, kind, ns, name}).object;
  }

  json declared_json(const std::string& group, const std::string& kind, const std::string& ns,
                     const std::string& name) {
    const DeclaredObject* o = declared(group, kind, ns, name);
    EXPECT_NE(o, nullptr) << kind << " " << ns << "/" << name << " is not declared";
    return o == nullptr ? json::object() : json::parse(o->json());
  }

  Decision decide(const std::string& operation, const std::string& user, const json& object,
                  const json& old = nullptr) {
    const json& src = object.is_null() ? old : object;
    std::string api = src.value("apiVersion", "v1");
    std::string group = api.find('/') == std::string::npos ? "" : api.substr(0, api.find('/'));
    std::string version = api.substr(api.find('/') + 1);
    std::string kind = src.value("kind", "");
    std::string resource = kind;
    std::transform(resource.begin(), resource.end(), resource.begin(), ::tolower);
    resource += "s";
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
  static bool problem(const Snapshot& s, const std::string& part) {
    for (const auto& p : s.problems())
      if (has(p.to_string(), part)) return true;
    return false;
  }
  static std::string problems(const Snapshot& s) { return testing::problems_of(s); }

  static World* world_;
  State state_;
  policies::Scratch scratch_;
  webhook::ReviewDecoder decoder_;
  std::unique_ptr<webhook::PaddedBody> body_;
};

ArgoBuild::World* ArgoBuild::world_ = nullptr;

// --- the controller ----------------------------------------------------------------------------------

TEST_F(ArgoBuild, TheControllerSyncingEveryApplicationAsRenderedIsAllowed) {
  size_t checked = 0;
  for (const auto& o : world_->snapshot->objects()) {
    if (!o->built_by() || o->built_by()->applier != kController) continue;
    if (o->key().name.ends_with("*")) continue;  // a generateName hook: created under other names (below)
    json live = as_stored(json::parse(o->json()));
    Decision update = decide("UPDATE", kController, live, live);
    EXPECT_TRUE(update.allowed) << o->key().kind << " " << o->key().ns << "/" << o->key().name << ": "
                                << update.message;
    EXPECT_EQ(update.reason, "agent-matches-git") << o->key().kind << " " << o->key().name;
    ++checked;
  }
  EXPECT_GE(checked, 15u) << problems(*world_->snapshot);
}

TEST_F(ArgoBuild, EachSourceTypeIsBuiltAsTheRepoServerBuildsIt) {
  // Helm from an HTTPS repository: the range resolves as Helm resolves it, releaseName, valuesObject and
  // parameters applied, Argo CD's tracking label set over the chart's own.
  json web = declared_json("apps", "Deployment", "web", "storefront");
  EXPECT_EQ(web["metadata"]["labels"]["helm.sh/chart"], "web-1.1.0");
  EXPECT_EQ(web["metadata"]["labels"]["app.kubernetes.io/instance"], "frontend");
  EXPECT_EQ(web["spec"]["replicas"], 2);
  EXPECT_EQ(web["spec"]["template"]["spec"]["containers"][0]["image"], "ghcr.io/example/storefront:4.2.0");
  EXPECT_EQ(web["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"], 8080);
  // Argo CD's build environment in parameters: the chart's version is a pulled chart's revision.
  EXPECT_EQ(web["spec"]["template"]["metadata"]["annotations"]["release"], "frontend-1.1.0 in web");
  EXPECT_EQ(web["spec"]["template"]["metadata"]["annotations"]["price"], "$5 ");
  EXPECT_NE(declared("", "Namespace", "", "web"), nullptr) << "CreateNamespace=true";
  // Two sources: an OCI chart with $values/values/cache.yaml.
  json cache = declared_json("apps", "Deployment", "web", "cache-cache");
  ASSERT_FALSE(cache.empty()) << problems(*world_->snapshot);
  EXPECT_EQ(cache["spec"]["template"]["spec"]["containers"][0]["args"][1], "768Mi");
  // Value files inside a pulled chart, over the chart's values.yaml (a missing one ignored as asked).
  json prod = declared_json("apps", "Deployment", "prod", "prod-web");
  EXPECT_EQ(prod["spec"]["replicas"], 5);
  EXPECT_EQ(prod["spec"]["template"]["spec"]["containers"][0]["image"], "ghcr.io/example/web-prod:latest");
  EXPECT_EQ(prod["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"], 9090);
  // The Application pins the capabilities the chart sees (helm.kubeVersion, helm.apiVersions); the others
  // render with the policy's (none here), so only this release has a ServiceMonitor.
  json monitor = declared_json("monitoring.coreos.com", "ServiceMonitor", "prod", "prod-web");
  EXPECT_EQ(monitor["metadata"]["labels"]["kube-version"], "v1.30.1");
  EXPECT_EQ(declared("monitoring.coreos.com", "ServiceMonitor", "web", "storefront"), nullptr);
  // A chart in Git whose dependency is not vendored: built with `helm dependency build` first (~1.0.0: 1.0.0).
  json umbrella = declared_json("apps", "Deployment", "umbrella", "umbrella");
  ASSERT_FALSE(umbrella.empty()) << problems(*world_->snapshot);
  EXPECT_EQ(umbrella["metadata"]["labels"]["helm.sh/chart"], "web-1.0.0");
  EXPECT_EQ(umbrella["spec"]["replicas"], 4);
  EXPECT_EQ(umbrella["spec"]["template"]["spec"]["containers"][0]["image"], "ghcr.io/example/umbrella:3.1.0");
  // Directory, recursing, with exclude.
  EXPECT_NE(declared("apps", "Deployment", "guestbook", "guestbook-ui"), nullptr);
  EXPECT_NE(declared("", "Service", "guestbook", "guestbook-ui"), nullptr) << "recurse: true";
  EXPECT_EQ(declared("", "ConfigMap", "guestbook", "notes"), nullptr) << "excluded";
  // Kustomize with the Application's options.
  json shop = declared_json("apps", "Deployment", "shop", "prod-shop");
  EXPECT_EQ(shop["spec"]["template"]["spec"]["containers"][0]["image"], "ghcr.io/example/shop:2.0.1");
  EXPECT_EQ(shop["metadata"]["labels"]["team"], "shop");
  // In label values (a Git source's revision is the commit), but not in annotations unless asked.
  EXPECT_EQ(shop["metadata"]["labels"]["revision"], world_->head.substr(0, 7));
  EXPECT_EQ(shop["metadata"]["annotations"]["rendered-for"], "$ARGOCD_APP_NAME");
  EXPECT_EQ(shop["spec"]["replicas"], 3);
  const DeclaredObject* shop_object = declared("apps", "Deployment", "shop", "prod-shop");
  ASSERT_NE(shop_object, nullptr);
  EXPECT_EQ(shop_object->file(), "apps/shop/base/deployment.yaml") << "kustomize's origin";
  // ApplicationSet: one Application per tenants/* directory, followed.
  EXPECT_NE(declared("argoproj.io", "Application", "argocd", "tenant-team-a"), nullptr);
  EXPECT_NE(declared("", "ResourceQuota", "team-b", "quota"), nullptr);
  EXPECT_EQ(declared("argoproj.io", "Application", "argocd", "tenant-team-a")->built_by()->applier,
            "system:serviceaccount:argocd:argocd-applicationset-controller");
}

TEST_F(ArgoBuild, AppOfAppsIsDeclaredAndFollowedAndASelfManagingRootIsReportedOnce) {
  const DeclaredObject* guestbook = declared("argoproj.io", "Application", "argocd", "guestbook");
  ASSERT_NE(guestbook, nullptr) << problems(*world_->snapshot);
  ASSERT_NE(guestbook->built_by(), nullptr);
  EXPECT_EQ(guestbook->built_by()->chain.front().what, "Application argocd/platform");
  EXPECT_EQ(guestbook->built_by()->applier, kController);
  const DeclaredObject* ui = declared("apps", "Deployment", "guestbook", "guestbook-ui");
  ASSERT_NE(ui, nullptr);
  const auto& chain = ui->built_by()->chain;
  ASSERT_EQ(chain.size(), 3u) << "object <- Application guestbook <- Application platform <- its chart";
  EXPECT_EQ(chain[0].what, "Application argocd/guestbook");
  EXPECT_EQ(chain[1].what, "Application argocd/platform");
  EXPECT_EQ(chain[2].what, "chart charts/apps (repository path)");
  EXPECT_TRUE(problem(*world_->snapshot, "Application argocd/root is rendered again by Application argocd/root"))
      << problems(*world_->snapshot);
  EXPECT_EQ(world_->builder->last_stats().argocd.applications, 11u)
      << "root, platform, frontend, cache, legacy, prod-web, umbrella, guestbook, shop and two tenants";
}

TEST_F(ArgoBuild, HooksAreCreatedAndDeletedByTheController) {
  json hook = as_stored(declared_json("batch", "Job", "guestbook", "guestbook-migrate"));
  EXPECT_TRUE(decide("CREATE", kController, hook).allowed);
  EXPECT_TRUE(decide("DELETE", kController, nullptr, hook).allowed);
  Decision person = decide("CREATE", kPerson, hook);
  EXPECT_FALSE(person.allowed);

  // A hook with only generateName: declared under "guestbook-check-*"; each Job the API server names from it
  // is compared with it.
  json generated = as_stored(declared_json("batch", "Job", "guestbook", "guestbook-check-*"));
  EXPECT_FALSE(generated["metadata"].contains("name"));
  generated["metadata"]["name"] = "guestbook-check-x7k2p";
  Decision created = decide("CREATE", kController, generated);
  EXPECT_TRUE(created.allowed) << created.message;
  EXPECT_EQ(created.reason, "agent-matches-git");
  json altered = generated;
  altered["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/example/miner:1.0";
  Decision mismatch = decide("CREATE", kController, altered);
  EXPECT_FALSE(mismatch.allowed);
  EXPECT_TRUE(has(mismatch.message, "guestbook-check:1.0")) << mismatch.message;
  json stranger = generated;
  stranger["metadata"]["generateName"] = "stranger-";
  stranger["metadata"]["name"] = "stranger-abcde";
  EXPECT_FALSE(decide("CREATE", kController, stranger).allowed) << "no such generateName in Git";
  EXPECT_FALSE(decide("CREATE", kPerson, generated).allowed) << "a person creating Argo CD's hook";
}

// --- people ------------------------------------------------------------------------------------------

TEST_F(ArgoBuild, APersonEditingAHelmRenderedDeploymentIsDeniedCitingTheApplicationAndTheValuesLine) {
  json live = as_stored(declared_json("apps", "Deployment", "web", "storefront"));
  json edited = live;
  edited["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/example/storefront:9.9.9";
  Decision d = decide("UPDATE", kPerson, edited, live);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "governed-path-changed");
  EXPECT_TRUE(has(d.message, "Deployment web/storefront is built by Application argocd/frontend (argocd/frontend.yaml:1 @ "))
      << d.message;
  EXPECT_TRUE(has(d.message, "from chart web 1.1.0 (sha256:")) << d.message;
  EXPECT_TRUE(has(d.message, "(set by helm.valuesObject.image.tag at argocd/frontend.yaml:18)")) << d.message;
  EXPECT_LE(d.message.size(), 1024u);
  Decision ui = decide("UPDATE", kServer, edited, live);
  EXPECT_FALSE(ui.allowed) << "argocd-server writes for a person";
}

TEST_F(ArgoBuild, APersonDisablingSelfHealOrRetargetingAnApplicationIsDenied) {
  json live = as_stored(declared_json("argoproj.io", "Application", "argocd", "frontend"));
  json edited = live;
  edited["spec"]["syncPolicy"]["automated"]["selfHeal"] = false;
  Decision d = decide("UPDATE", kPerson, edited, live);
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(has(d.message, "Application argocd/frontend")) << d.message;
  EXPECT_TRUE(has(d.message, "argocd/frontend.yaml:1")) << d.message;
  EXPECT_TRUE(has(d.message, "spec.syncPolicy.automated.selfHeal")) << d.message;

  json rendered = as_stored(declared_json("argoproj.io", "Application", "argocd", "shop"));
  json retargeted = rendered;
  retargeted["spec"]["source"]["targetRevision"] = "experiment";
  Decision r = decide("UPDATE", kServer, retargeted, rendered);
  EXPECT_FALSE(r.allowed);
  EXPECT_TRUE(has(r.message, "built by Application argocd/platform (argocd/platform.yaml:2 @ ")) << r.message;
}

TEST_F(ArgoBuild, APersonDeletingAnApplicationIsDenied) {
  json live = as_stored(declared_json("argoproj.io", "Application", "argocd", "guestbook"));
  Decision d = decide("DELETE", kPerson, nullptr, live);
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(has(d.message, "Application argocd/guestbook")) << d.message;
  EXPECT_TRUE(has(d.message, "Application argocd/platform (argocd/platform.yaml:2")) << d.message;
}

TEST_F(ArgoBuild, AChartRepositoryThatIsDownDeclaresTheApplicationsObjectsWithUnknownValues) {
  EXPECT_TRUE(problem(*world_->snapshot, "Application argocd/legacy is not built: helm pull legacy"))
      << problems(*world_->snapshot);
  json object = {{"apiVersion", "apps/v1"},
                 {"kind", "Deployment"},
                 {"metadata",
                  {{"name", "legacy"}, {"namespace", "legacy"}, {"labels", {{"app.kubernetes.io/instance", "legacy"}}}}},
                 {"spec", {{"replicas", 1}}}};
  Decision person = decide("CREATE", kPerson, object);
  EXPECT_FALSE(person.allowed);
  EXPECT_TRUE(has(person.message, "is built by Application argocd/legacy (argocd/legacy.yaml:1")) << person.message;
  EXPECT_TRUE(has(person.message, "Its values are unknown")) << person.message;
  Decision agent = decide("CREATE", kController, object);
  EXPECT_TRUE(agent.allowed) << agent.message;
  EXPECT_EQ(agent.reason, "values-unknown");
}

TEST_F(ArgoBuild, AHelmUsersOwnReleaseIsNotFakeOwnershipButArgoCDsTrackingOfAGitApplicationIs) {
  json redis = {{"apiVersion", "apps/v1"},
                {"kind", "Deployment"},
                {"metadata",
                 {{"name", "redis-master"},
                  {"namespace", "team-c"},
                  {"labels", {{"app.kubernetes.io/instance", "redis"}, {"app.kubernetes.io/managed-by", "Helm"}}},
                  {"annotations", {{"meta.helm.sh/release-name", "redis"}}}}},
                {"spec", {{"replicas", 1}}}};
  Decision own = decide("CREATE", kPerson, redis);
  EXPECT_TRUE(own.allowed) << own.message;
  json fake = redis;
  fake["metadata"]["labels"]["app.kubernetes.io/instance"] = "frontend";
  Decision faked = decide("CREATE", kPerson, fake);
  EXPECT_FALSE(faked.allowed);
  EXPECT_EQ(faked.reason, "fake-ownership");
  EXPECT_TRUE(has(faked.message, "Argo CD's tracking of Application argocd/frontend")) << faked.message;
}

// --- a change in Git ---------------------------------------------------------------------------------

TEST_F(ArgoBuild, TheControllersCascadeDeleteAfterARemovalFromGitIsAllowed) {
  json shop_app = as_stored(declared_json("argoproj.io", "Application", "argocd", "shop"));
  json shop = as_stored(declared_json("apps", "Deployment", "shop", "prod-shop"));
  std::string values = read_file(world_->repo.path() / "charts/apps/values.yaml");
  auto at = values.find("  shop:\n    enabled: true");
  ASSERT_NE(at, std::string::npos);
  values.replace(at, std::string("  shop:\n    enabled: true").size(), "  shop:\n    enabled: false");
  world_->repo.write("charts/apps/values.yaml", values);
  std::string next = world_->repo.commit("retire the shop");
  world_->repo.push();
  auto snapshot = world_->build(next);
  state_.snapshots.snapshots = {snapshot, world_->snapshot};
  EXPECT_EQ(declared("argoproj.io", "Application", "argocd", "shop"), nullptr);
  EXPECT_EQ(declared("apps", "Deployment", "shop", "prod-shop"), nullptr);
  Decision app = decide("DELETE", kController, nullptr, shop_app);
  EXPECT_TRUE(app.allowed) << app.message;
  Decision cascade = decide("DELETE", kController, nullptr, shop);
  EXPECT_TRUE(cascade.allowed) << cascade.message;
  EXPECT_EQ(cascade.reason, "agent-delete");
  EXPECT_NE(declared("argoproj.io", "Application", "argocd", "guestbook"), nullptr) << "the rest stays";
  EXPECT_EQ(world_->builder->last_stats().argocd.helm_runs, 1u)
      << "only the chart whose values changed renders again: " << problems(*snapshot);
  world_->snapshot = snapshot;
}

// gitgate reads a mirror (here a file:// clone) of the repository Argo CD reads from GitHub: Applications name
// the GitHub URL, which `knownAs` makes the policy's own. Without it the Application is reported as not built,
// and the report says what to add. Links to declared lines go to the GitHub web UI.
TEST(ArgoBuildEnv, SubstitutesAsGosOsExpandDoes) {
  const std::map<std::string, std::string> env{{"ARGOCD_APP_NAME", "shop"}, {"ARGOCD_APP_REVISION", "1.2.0"}};
  EXPECT_EQ(argocd::expand_build_env("$ARGOCD_APP_NAME", env), "shop");
  EXPECT_EQ(argocd::expand_build_env("${ARGOCD_APP_NAME}-v$ARGOCD_APP_REVISION.tgz", env), "shop-v1.2.0.tgz");
  EXPECT_EQ(argocd::expand_build_env("$$ARGOCD_APP_NAME costs $$5", env), "$ARGOCD_APP_NAME costs $5");
  EXPECT_EQ(argocd::expand_build_env("$UNSET|${UNSET}|$1|${@}|$-x", env), "||||x");
  EXPECT_EQ(argocd::expand_build_env("a $ b$", env), "a $ b$") << "a dollar not followed by a name stays";
  EXPECT_EQ(argocd::expand_build_env("x${}y${z", env), "xyz") << "bad syntax is eaten: ${} and ${";
  EXPECT_EQ(argocd::expand_build_env("no dollars", env), "no dollars");
}

TEST(ArgoKnownAs, ApplicationsNamingTheRepositoryByAnotherURLAreBuiltWhenThePolicyKnowsIt) {
  WorkRepo repo;
  repo.write("argocd/guestbook.yaml",
             "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: guestbook\n"
             "  namespace: argocd\nspec:\n  project: default\n  source:\n"
             "    repoURL: https://github.com/Example/Fleet.git\n    targetRevision: HEAD\n    path: guestbook\n"
             "  destination:\n    server: https://kubernetes.default.svc\n    namespace: guestbook\n");
  repo.write("guestbook/ui.yaml", gitstate::testing::deployment("guestbook-ui", 2));
  std::string head = repo.commit("guestbook");
  repo.push();
  auto build = [&](const std::string& known_as) {
    std::string policy = "apiVersion: gitgate.dev/v1alpha1\nkind: GatePolicy\nmetadata:\n  name: argo\nspec:\n"
                         "  source:\n    url: " +
                         repo.file_url() + "\n" + known_as + "    argocd:\n      path: argocd\n";
    auto loaded = policies::load_policies_from_text("argo.yaml", policy);
    if (!loaded.ok()) throw std::runtime_error(loaded.errors[0].to_string());
    return std::make_pair(loaded.set.policies[0].source, testing::build_commit(repo.remote_path(), policy, head));
  };

  auto [plain_spec, plain] = build("");
  EXPECT_EQ(plain->find({"apps", "Deployment", "guestbook", "guestbook-ui"}).object, nullptr);
  std::string reported = testing::problems_of(*plain);
  EXPECT_NE(reported.find("add that URL to spec.source.knownAs"), std::string::npos) << reported;
  EXPECT_EQ(plain_spec.web_url, "") << "a file:// URL has no web UI";

  auto [spec, known] = build("    knownAs: [ssh://git@github.com/example/fleet]\n");
  const DeclaredObject* ui = known->find({"apps", "Deployment", "guestbook", "guestbook-ui"}).object;
  ASSERT_NE(ui, nullptr) << "the same repository, by another URL and spelling";
  ASSERT_NE(ui->built_by(), nullptr);
  EXPECT_EQ(ui->built_by()->chain.front().what, "Application argocd/guestbook");
  EXPECT_EQ(spec.web_url, "https://github.com/example/fleet/blob/{commit}/{path}#L{line}");
}

// Argo CD managing several clusters: an Application sent to another destination builds nothing here; one that
// names this cluster as the policy's destinations do is built. The default names Argo CD's in-cluster.
TEST(ArgoDestinations, ApplicationsForAnotherClusterAreNotDeclaredHere) {
  WorkRepo repo;
  auto app = [&](const std::string& name, const std::string& destination) {
    return "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: " + name +
           "\n  namespace: argocd\nspec:\n  project: default\n  source:\n    repoURL: " + repo.file_url() +
           "\n    path: " + name + "\n  destination:\n" + destination + "    namespace: " + name + "\n";
  };
  repo.write("argocd/apps.yaml", app("here", "    server: https://kubernetes.default.svc/\n") + "---\n" +
                                     app("named", "    name: in-cluster\n") + "---\n" +
                                     app("edge", "    server: https://edge.example.com:6443\n"));
  for (const char* name : {"here", "named", "edge"})
    repo.write(std::string(name) + "/web.yaml", gitstate::testing::deployment(std::string(name) + "-web"));
  std::string head = repo.commit("three destinations");
  repo.push();
  auto build = [&](const std::string& destinations) {
    std::string policy = "apiVersion: gitgate.dev/v1alpha1\nkind: GatePolicy\nmetadata:\n  name: argo\nspec:\n"
                         "  source:\n    url: " +
                         repo.file_url() + "\n    argocd:\n      path: argocd\n" + destinations;
    return testing::build_commit(repo.remote_path(), policy, head);
  };
  auto declared = [](const Snapshot& s, const std::string& name) {
    return s.find({"apps", "Deployment", name, name + "-web"}).object != nullptr;
  };

  auto hub = build("");
  std::string reported = testing::problems_of(*hub);
  EXPECT_TRUE(declared(*hub, "here")) << reported;
  EXPECT_TRUE(declared(*hub, "named")) << reported;
  EXPECT_FALSE(declared(*hub, "edge"));
  EXPECT_NE(reported.find("Application argocd/edge applies to another cluster (destination "
                          "https://edge.example.com:6443)"),
            std::string::npos)
      << reported;
  EXPECT_NE(hub->find({"argoproj.io", "Application", "argocd", "edge"}).object, nullptr)
      << "the Application itself lives here";

  auto edge = build("      destinations: [https://edge.example.com:6443/]\n");
  EXPECT_TRUE(declared(*edge, "edge"));
  EXPECT_FALSE(declared(*edge, "here")) << "in-cluster is the hub, not this cluster";
}

// argocd.path is what the root Application created outside Git (`argocd app create apps --path apps`)
// syncs: a Helm chart of Applications, or a kustomization of them. It is rendered as that Application would
// render it, and what it renders is followed.
TEST(ArgoRoot, ARootPathThatIsAChartOrAKustomizationIsRenderedAsItsApplicationRendersIt) {
  WorkRepo repo;
  repo.write("apps/Chart.yaml", "apiVersion: v2\nname: apps\nversion: 0.1.0\n");
  repo.write("apps/values.yaml",
             "repoURL: " + repo.file_url() + "\napplications:\n  - name: guestbook\n  - name: billing\n"
             "    namespace: money\n");
  repo.write("apps/templates/applications.yaml",
             "{{- range .Values.applications }}\n"
             "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n"
             "  name: {{ .name }}\n  namespace: argocd\n  labels:\n    release: {{ $.Release.Name }}\n"
             "spec:\n  project: default\n  destination:\n    server: https://kubernetes.default.svc\n"
             "    namespace: {{ .namespace | default .name }}\n  source:\n    repoURL: {{ $.Values.repoURL }}\n"
             "    targetRevision: HEAD\n    path: {{ .name }}\n  syncPolicy:\n    automated:\n"
             "      prune: true\n      selfHeal: true\n---\n{{ end }}");
  repo.write("guestbook/ui.yaml", gitstate::testing::deployment("guestbook-ui", 2));
  repo.write("billing/api.yaml", gitstate::testing::deployment("billing-api", 3));
  repo.write("overlay/kustomization.yaml",
             "resources: [../guestbook-app.yaml]\npatches:\n  - patch: |-\n"
             "      - op: replace\n        path: /spec/destination/namespace\n        value: guestbook-prod\n"
             "    target:\n      kind: Application\n");
  repo.write("guestbook-app.yaml",
             "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: guestbook\n"
             "  namespace: argocd\nspec:\n  project: default\n  destination:\n    namespace: guestbook\n"
             "  source:\n    repoURL: " + repo.file_url() + "\n    path: guestbook\n");
  std::string head = repo.commit("a chart of Applications, and a kustomization of one");
  repo.push();
  auto build = [&](const std::string& argocd) {
    std::string policy = "apiVersion: gitgate.dev/v1alpha1\nkind: GatePolicy\nmetadata:\n  name: argo\nspec:\n"
                         "  source:\n    url: " + repo.file_url() + "\n    argocd:\n" + argocd +
                         testing::tool_commands();
    return testing::build_commit(repo.remote_path(), policy, head);
  };
  auto object = [](const Snapshot& s, const std::string& group, const std::string& kind, const std::string& ns,
                   const std::string& name) {
    const DeclaredObject* o = s.find({group, kind, ns, name}).object;
    return o == nullptr ? json() : json::parse(o->json());
  };
  auto reported = [](const Snapshot& s) { return testing::problems_of(s); };

  // A chart, its root unnamed: the release is named after the path, and no tracking is declared for it.
  auto chart = build("      path: apps\n");
  json billing = object(*chart, "argoproj.io", "Application", "argocd", "billing");
  ASSERT_TRUE(billing.is_object()) << reported(*chart);
  EXPECT_EQ(billing["metadata"]["labels"]["release"], "apps");
  EXPECT_FALSE(billing["metadata"]["labels"].contains("app.kubernetes.io/instance"))
      << "the root's name is not known: its tracking is not declared";
  EXPECT_EQ(billing["spec"]["syncPolicy"]["automated"]["selfHeal"], true);
  EXPECT_EQ(billing["spec"]["destination"]["namespace"], "money");
  const DeclaredObject* api = chart->find({"apps", "Deployment", "money", "billing-api"}).object;
  ASSERT_NE(api, nullptr) << "what a rendered Application builds is followed: " << reported(*chart);
  ASSERT_NE(api->built_by(), nullptr);
  EXPECT_EQ(api->built_by()->chain.front().what, "Application argocd/billing");
  EXPECT_EQ(object(*chart, "apps", "Deployment", "money", "billing-api")["metadata"]["labels"]
                ["app.kubernetes.io/instance"],
            "billing");
  const DeclaredObject* app = chart->find({"argoproj.io", "Application", "argocd", "guestbook"}).object;
  ASSERT_NE(app, nullptr);
  ASSERT_NE(app->built_by(), nullptr);
  EXPECT_EQ(app->built_by()->chain.front().what, "the root Application argocd/apps that syncs argocd.path 'apps'");
  EXPECT_EQ(chart->find({"argoproj.io", "Application", "argocd", "apps"}).object, nullptr)
      << "the root Application is not in Git, so it is not declared";

  // Named: its name is the release and the tracking of what it renders.
  auto named = build("      path: apps\n      rootApplication: root-apps\n");
  billing = object(*named, "argoproj.io", "Application", "argocd", "billing");
  EXPECT_EQ(billing["metadata"]["labels"]["release"], "root-apps") << reported(*named);
  EXPECT_EQ(billing["metadata"]["labels"]["app.kubernetes.io/instance"], "root-apps");

  // A kustomization: built by kustomize, its patch applied; the kustomization.yaml is not an object.
  auto overlay = build("      path: overlay\n");
  json guestbook = object(*overlay, "argoproj.io", "Application", "argocd", "guestbook");
  ASSERT_TRUE(guestbook.is_object()) << reported(*overlay);
  EXPECT_EQ(guestbook["spec"]["destination"]["namespace"], "guestbook-prod");
  EXPECT_NE(overlay->find({"apps", "Deployment", "guestbook-prod", "guestbook-ui"}).object, nullptr)
      << reported(*overlay);
  EXPECT_EQ(reported(*overlay).find("skipped"), std::string::npos) << reported(*overlay);
}

}  // namespace
}  // namespace gitgate::desired
