// Other Git repositories that Flux GitRepositories and Argo CD Applications name (spec.source.repositories):
// fetched like the policy's own by gitgate's __fetch child, built at the listed branch, each object citing its
// file as "<url>//<path>" at the commit it was read at. What is not listed, pinned to another ref, or cannot
// be fetched is reported, and what it owns is declared with unknown values.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "gitstate/source.h"
#include "policies/loader.h"
#include "tests/desired/build_helpers.h"
#include "tests/desired/chart_servers.h"
#include "tests/gitstate/git_helpers.h"

namespace gitgate::desired {
namespace {

using json = nlohmann::json;
using gitgate::testing::TempDir;
using gitstate::testing::WorkRepo;

std::shared_ptr<const Snapshot> sync(const std::string& policy, const std::string& cache_dir) {
  auto loaded = policies::load_policies_from_text("policy.yaml", policy);
  if (!loaded.ok()) throw std::runtime_error(loaded.errors[0].to_string());
  gitstate::SourceOptions options = gitstate::testing::test_options(loaded.set.policies[0].source.url, cache_dir);
  options.spec = loaded.set.policies[0].source;
  auto window = gitstate::sync_once(options, /*fetch=*/true);
  if (!window) throw std::runtime_error(window.error());
  return (*window)->snapshots.back();
}

std::string problems(const Snapshot& s) { return testing::problems_of(s); }

bool unbuilt(const Snapshot& s, const std::string& name) {
  for (const auto& u : s.unbuilt())
    if (u.name == name) return true;
  return false;
}

std::string tools() { return testing::tool_commands(); }

TEST(OtherRepositories, FluxKustomizationsOfAListedGitRepositoryAreBuiltFromItsFetchedBranch) {
  WorkRepo fleet, apps, unlisted;
  apps.write("deploy/web.yaml", gitstate::testing::deployment("web", 2));
  apps.write("charts/settings/Chart.yaml", "apiVersion: v2\nname: settings\nversion: 0.1.0\n");
  apps.write("charts/settings/values.yaml", "greeting: hello\n");
  apps.write("charts/settings/templates/cm.yaml",
             "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n"
             "  greeting: {{ .Values.greeting }}\n");
  std::string first = apps.commit("web");
  apps.push();
  unlisted.write("deploy/db.yaml", gitstate::testing::deployment("db"));
  unlisted.commit("db");
  unlisted.push();
  auto git_repository = [](const std::string& name, const std::string& url, const std::string& ref) {
    return "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: " + name +
           "\n  namespace: flux-system\nspec:\n  interval: 1m\n  url: " + url + "\n  ref:\n    " + ref + "\n---\n" +
           "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: " + name +
           "\n  namespace: flux-system\nspec:\n  interval: 10m\n  path: ./deploy\n  prune: true\n"
           "  targetNamespace: shop\n  sourceRef:\n    kind: GitRepository\n    name: " + name + "\n";
  };
  fleet.write("clusters/prod/sources.yaml",
              git_repository("apps", apps.file_url(), "branch: main") + "---\n" +
                  git_repository("pinned", apps.file_url(), "tag: v1.0.0") + "---\n" +
                  git_repository("unlisted", unlisted.file_url(), "branch: main") + "---\n" +
                  git_repository("gone", "file:///nonexistent/gone.git", "branch: main") + "---\n" +
                  git_repository("tenant", fleet.file_url(), "branch: tenant") + "---\n" +
                  "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: settings\n"
                  "  namespace: shop\nspec:\n  interval: 10m\n  chart:\n    spec:\n      chart: ./charts/settings\n"
                  "      sourceRef:\n        kind: GitRepository\n        name: apps\n        namespace: flux-system\n"
                  "  values:\n    greeting: hi\n");
  fleet.commit("sources");
  fleet.push();
  // A tenant's branch of the policy's own repository (flux2-multi-tenancy's layout).
  fleet.git({"checkout", "-q", "-b", "tenant"});
  fleet.write("deploy/tenant.yaml", gitstate::testing::deployment("tenant-app"));
  fleet.commit("tenant");
  fleet.git({"push", "-q", "origin", "HEAD:refs/heads/tenant"});
  fleet.git({"checkout", "-q", "main"});
  std::string policy = "apiVersion: gitgate.dev/v1alpha1\nkind: GatePolicy\nmetadata:\n  name: fleet\nspec:\n"
                       "  source:\n    url: " + fleet.file_url() + "\n    repositories:\n      - url: " +
                       apps.file_url() + "\n      - url: file:///nonexistent/gone.git\n" +
                       "      - url: " + fleet.file_url() + "\n        branch: tenant\n" +
                       "    flux:\n      path: clusters/prod\n" + tools();
  TempDir cache;
  auto s = sync(policy, cache.path().string());
  std::string reported = problems(*s);

  const DeclaredObject* web = s->find({"apps", "Deployment", "shop", "web"}).object;
  ASSERT_NE(web, nullptr) << reported;
  EXPECT_EQ(web->file(), apps.file_url() + "//deploy/web.yaml") << "named by its repository";
  ASSERT_NE(web->last_change(), nullptr);
  EXPECT_EQ(web->last_change()->id, first) << "at the commit it was read at";
  EXPECT_EQ(json::parse(web->json())["spec"]["replicas"], 2);
  ASSERT_NE(web->built_by(), nullptr);
  std::string chain;
  for (const auto& link : web->built_by()->chain) chain += link.what + "\n";
  EXPECT_NE(chain.find("GitRepository flux-system/apps (" + apps.file_url() + " branch main @ " + first.substr(0, 7)),
            std::string::npos)
      << chain;

  const DeclaredObject* settings = s->find({"", "ConfigMap", "shop", "settings"}).object;
  ASSERT_NE(settings, nullptr) << "a chart in the other repository: " << reported;
  EXPECT_EQ(json::parse(settings->json())["data"]["greeting"], "hi");
  chain.clear();
  for (const auto& link : settings->built_by()->chain) chain += link.what + "\n";
  EXPECT_NE(chain.find("chart " + apps.file_url() + "//charts/settings (repository path @ " + first.substr(0, 7)),
            std::string::npos)
      << chain;

  EXPECT_NE(s->find({"apps", "Deployment", "shop", "tenant-app"}).object, nullptr)
      << "the policy's repository at a listed branch: " << reported;
  EXPECT_EQ(s->find({"apps", "Deployment", "shop", "db"}).object, nullptr);
  EXPECT_TRUE(unbuilt(*s, "unlisted"));
  EXPECT_NE(reported.find("list it in spec.source.repositories"), std::string::npos) << reported;
  EXPECT_TRUE(unbuilt(*s, "pinned"));
  EXPECT_NE(reported.find("is at tag 'v1.0.0', and spec.source.repositories lists it at branch main only"),
            std::string::npos)
      << reported;
  EXPECT_TRUE(unbuilt(*s, "gone"));
  EXPECT_NE(reported.find("(file:///nonexistent/gone.git) could not be fetched"), std::string::npos) << reported;

  // A commit to the other repository is fetched and built by the next sync.
  apps.write("deploy/web.yaml", gitstate::testing::deployment("web", 5));
  std::string second = apps.commit("scale web");
  apps.push();
  auto again = sync(policy, cache.path().string());
  web = again->find({"apps", "Deployment", "shop", "web"}).object;
  ASSERT_NE(web, nullptr) << problems(*again);
  EXPECT_EQ(json::parse(web->json())["spec"]["replicas"], 5);
  EXPECT_EQ(web->last_change()->id, second);
}

TEST(OtherRepositories, ArgoApplicationsOfAListedRepositoryOrBranchAreBuiltFromIt) {
  WorkRepo fleet, apps;
  apps.write("deploy/web.yaml", gitstate::testing::deployment("web", 2));
  apps.commit("web");
  apps.push();
  auto application = [](const std::string& name, const std::string& url, const std::string& revision,
                        const std::string& path) {
    return "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: " + name +
           "\n  namespace: argocd\nspec:\n  project: default\n  source:\n    repoURL: " + url +
           "\n    targetRevision: " + revision + "\n    path: " + path +
           "\n  destination:\n    server: https://kubernetes.default.svc\n    namespace: " + name + "\n";
  };
  fleet.write("argocd/apps.yaml", application("web", apps.file_url(), "HEAD", "deploy") + "---\n" +
                                      application("staging", fleet.file_url(), "staging", "staging") + "---\n" +
                                      application("canary", fleet.file_url(), "canary", "staging"));
  // An ApplicationSet whose git generator reads the other repository.
  fleet.write("argocd/set.yaml",
              "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata:\n  name: each\n  namespace: argocd\n"
              "spec:\n  goTemplate: true\n  generators:\n    - git:\n        repoURL: " + apps.file_url() +
                  "\n        revision: HEAD\n        directories:\n          - path: '*'\n  template:\n"
                  "    metadata:\n      name: 'each-{{ .path.basename }}'\n    spec:\n      project: default\n"
                  "      source:\n        repoURL: " + apps.file_url() + "\n        path: '{{ .path.path }}'\n"
                  "      destination:\n        namespace: each\n");
  fleet.commit("applications");
  fleet.push();
  // The staging branch of the policy's own repository.
  fleet.git({"checkout", "-q", "-b", "staging"});
  fleet.write("staging/api.yaml", gitstate::testing::deployment("api", 1));
  fleet.commit("staging api");
  fleet.git({"push", "-q", "origin", "HEAD:refs/heads/staging"});
  std::string policy = "apiVersion: gitgate.dev/v1alpha1\nkind: GatePolicy\nmetadata:\n  name: argo\nspec:\n"
                       "  source:\n    url: " + fleet.file_url() + "\n    repositories:\n      - url: " +
                       apps.file_url() + "\n      - url: " + fleet.file_url() + "\n        branch: staging\n" +
                       "    argocd:\n      path: argocd\n" + tools();
  TempDir cache;
  auto s = sync(policy, cache.path().string());
  std::string reported = problems(*s);

  const DeclaredObject* web = s->find({"apps", "Deployment", "web", "web"}).object;
  ASSERT_NE(web, nullptr) << reported;
  EXPECT_EQ(web->file(), apps.file_url() + "//deploy/web.yaml");
  const DeclaredObject* api = s->find({"apps", "Deployment", "staging", "api"}).object;
  ASSERT_NE(api, nullptr) << "the policy's repository at another listed branch: " << reported;
  EXPECT_EQ(api->file(), fleet.file_url() + "//staging/api.yaml");
  EXPECT_NE(s->find({"argoproj.io", "Application", "argocd", "each-deploy"}).object, nullptr)
      << "generated from the other repository's directories: " << reported;
  EXPECT_NE(s->find({"apps", "Deployment", "each", "web"}).object, nullptr) << reported;
  EXPECT_TRUE(unbuilt(*s, "canary"));
  EXPECT_NE(reported.find("targetRevision 'canary' of " + fleet.file_url() +
                          " is not a branch, tag or commit spec.source.repositories lists (branch staging)"),
            std::string::npos)
      << reported;
}

// A shared repository pinned to a release tag (Flux `ref.tag` or `ref.name: refs/tags/…`, Argo CD
// `targetRevision: v1.0.0`): the listed tag is fetched, an annotated one peeled to its commit, and built as it
// was tagged while the branch moves on. A branch or a semver range is not the tag: reported.
TEST(OtherRepositories, ARepositoryListedAtATagIsBuiltAtTheTaggedCommit) {
  WorkRepo fleet, apps;
  apps.write("deploy/web.yaml", gitstate::testing::deployment("web", 1));
  std::string tagged = apps.commit("release 1.0.0");
  apps.git({"tag", "-a", "v1.0.0", "-m", "release 1.0.0"});
  apps.write("deploy/web.yaml", gitstate::testing::deployment("web", 5));
  apps.commit("work after the release");
  apps.push();
  apps.git({"push", "-q", "origin", "refs/tags/v1.0.0"});
  auto git_repository = [&](const std::string& name, const std::string& ref, const std::string& ns) {
    return "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: " + name +
           "\n  namespace: flux-system\nspec:\n  interval: 1m\n  url: " + apps.file_url() + "\n  ref:\n    " + ref +
           "\n---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: " + name +
           "\n  namespace: flux-system\nspec:\n  interval: 10m\n  path: ./deploy\n  prune: true\n"
           "  targetNamespace: " + ns + "\n  sourceRef:\n    kind: GitRepository\n    name: " + name + "\n---\n";
  };
  fleet.write("clusters/prod/sources.yaml",
              git_repository("release", "tag: v1.0.0", "release") +
                  git_repository("by-name", "name: refs/tags/v1.0.0", "by-name") +
                  git_repository("range", "semver: '>=1.0.0'", "range") +
                  git_repository("head", "branch: main", "head"));
  fleet.write("argocd/web.yaml",
              "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: web\n  namespace: argocd\n"
              "spec:\n  project: default\n  source:\n    repoURL: " + apps.file_url() +
                  "\n    targetRevision: v1.0.0\n    path: deploy\n  destination:\n"
                  "    server: https://kubernetes.default.svc\n    namespace: argo\n");
  fleet.commit("sources");
  fleet.push();
  std::string listed = "    repositories:\n      - url: " + apps.file_url() + "\n        tag: v1.0.0\n";
  std::string head = "apiVersion: gitgate.dev/v1alpha1\nkind: GatePolicy\nmetadata:\n  name: p\nspec:\n"
                     "  source:\n    url: " + fleet.file_url() + "\n" + listed;
  TempDir cache;
  auto flux = sync(head + "    flux:\n      path: clusters/prod\n" + tools(), cache.path().string());
  std::string reported = problems(*flux);
  for (const char* ns : {"release", "by-name"}) {
    const DeclaredObject* web = flux->find({"apps", "Deployment", ns, "web"}).object;
    ASSERT_NE(web, nullptr) << ns << ": " << reported;
    EXPECT_EQ(json::parse(web->json())["spec"]["replicas"], 1) << ns << ": as tagged, not as the branch is now";
    ASSERT_NE(web->last_change(), nullptr);
    EXPECT_EQ(web->last_change()->id, tagged) << "the commit the annotated tag points at";
    std::string chain;
    for (const auto& link : web->built_by()->chain) chain += link.what + "\n";
    EXPECT_NE(chain.find(apps.file_url() + " tag v1.0.0 @ " + tagged.substr(0, 7)), std::string::npos) << chain;
  }
  EXPECT_TRUE(unbuilt(*flux, "range"));
  EXPECT_NE(reported.find("is at semver '>=1.0.0', and spec.source.repositories lists it at tag v1.0.0 only"),
            std::string::npos)
      << reported;
  EXPECT_TRUE(unbuilt(*flux, "head"));
  EXPECT_NE(reported.find("is at branch 'main', and spec.source.repositories lists it at tag v1.0.0 only"),
            std::string::npos)
      << reported;

  auto argo = sync(head + "    argocd:\n      path: argocd\n" + tools(), cache.path().string());
  const DeclaredObject* web = argo->find({"apps", "Deployment", "argo", "web"}).object;
  ASSERT_NE(web, nullptr) << problems(*argo);
  EXPECT_EQ(json::parse(web->json())["spec"]["replicas"], 1);

  // A tag that is not on the remote is a fetch failure, named as a tag.
  auto missing = sync(head + "      - url: " + apps.file_url() + "\n        tag: v9.9.9\n    flux:\n      path: clusters/prod\n" +
                          tools(),
                      cache.path().string());
  EXPECT_NE(problems(*missing).find("tag 'v9.9.9' not found"), std::string::npos) << problems(*missing);
}

// Flux's `ref.semver`: the listed range is resolved against the remote's tags as source-controller resolves
// it (the highest version allowed), fetched, cited with the tag it resolved to, and re-resolved by the next
// fetch when a newer tag appears.
TEST(OtherRepositories, ARepositoryListedAtASemverRangeIsBuiltAtTheHighestTagItAllows) {
  WorkRepo fleet, apps;
  auto release = [&](const std::string& tag, int replicas) {
    apps.write("deploy/web.yaml", gitstate::testing::deployment("web", replicas));
    std::string id = apps.commit("release " + tag);
    apps.git({"tag", "-a", tag, "-m", "release " + tag});
    apps.git({"push", "-q", "origin", "refs/tags/" + tag});
    return id;
  };
  release("v1.0.0", 1);
  std::string one_one = release("v1.1.0", 2);
  release("v2.0.0", 3);
  apps.git({"tag", "not-a-version"});
  apps.git({"push", "-q", "origin", "refs/tags/not-a-version"});
  apps.push();
  fleet.write("clusters/prod/sources.yaml",
              "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: apps\n"
              "  namespace: flux-system\nspec:\n  interval: 1m\n  url: " + apps.file_url() + "\n  ref:\n"
              "    semver: '>=1.0.0 <2.0.0'\n---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
              "metadata:\n  name: apps\n  namespace: flux-system\nspec:\n  interval: 10m\n  path: ./deploy\n"
              "  prune: true\n  targetNamespace: shop\n  sourceRef:\n    kind: GitRepository\n    name: apps\n");
  fleet.commit("sources");
  fleet.push();
  std::string policy = "apiVersion: gitgate.dev/v1alpha1\nkind: GatePolicy\nmetadata:\n  name: p\nspec:\n"
                       "  source:\n    url: " + fleet.file_url() + "\n    repositories:\n      - url: " +
                       apps.file_url() + "\n        semver: '>=1.0.0 <2.0.0'\n    flux:\n      path: clusters/prod\n" +
                       tools();
  TempDir cache;
  auto s = sync(policy, cache.path().string());
  const DeclaredObject* web = s->find({"apps", "Deployment", "shop", "web"}).object;
  ASSERT_NE(web, nullptr) << problems(*s);
  EXPECT_EQ(json::parse(web->json())["spec"]["replicas"], 2) << "v1.1.0: the highest below 2.0.0";
  EXPECT_EQ(web->last_change()->id, one_one);
  std::string chain;
  for (const auto& link : web->built_by()->chain) chain += link.what + "\n";
  EXPECT_NE(chain.find(apps.file_url() + " tag v1.1.0 (semver '>=1.0.0 <2.0.0') @ " + one_one.substr(0, 7)),
            std::string::npos)
      << chain;

  // Argo CD's targetRevision with the same range.
  fleet.write("argocd/web.yaml",
              "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: web\n  namespace: argocd\n"
              "spec:\n  project: default\n  source:\n    repoURL: " + apps.file_url() +
                  "\n    targetRevision: '>=1.0.0 <2.0.0'\n    path: deploy\n  destination:\n"
                  "    server: https://kubernetes.default.svc\n    namespace: argo\n");
  fleet.commit("argo");
  fleet.push();
  std::string argo_policy = policy;
  argo_policy.replace(argo_policy.find("flux:\n      path: clusters/prod"), 31, "argocd:\n      path: argocd");
  auto argo = sync(argo_policy, cache.path().string());
  const DeclaredObject* argo_web = argo->find({"apps", "Deployment", "argo", "web"}).object;
  ASSERT_NE(argo_web, nullptr) << problems(*argo);
  EXPECT_EQ(json::parse(argo_web->json())["spec"]["replicas"], 2);

  std::string one_two = release("v1.2.0", 4);
  auto again = sync(policy, cache.path().string());
  web = again->find({"apps", "Deployment", "shop", "web"}).object;
  ASSERT_NE(web, nullptr) << problems(*again);
  EXPECT_EQ(json::parse(web->json())["spec"]["replicas"], 4) << "a newer tag in range is the next fetch's";
  EXPECT_EQ(web->last_change()->id, one_two);

  auto none = sync("apiVersion: gitgate.dev/v1alpha1\nkind: GatePolicy\nmetadata:\n  name: p\nspec:\n"
                   "  source:\n    url: " + fleet.file_url() + "\n    repositories:\n      - url: " +
                       apps.file_url() + "\n        semver: '>=5.0.0'\n    flux:\n      path: clusters/prod\n" + tools(),
                   cache.path().string());
  EXPECT_NE(problems(*none).find("no tag on " + apps.file_url() + " matches semver '>=5.0.0' (5 tags)"),
            std::string::npos)
      << problems(*none);
}

// A repository pinned to a commit (Flux `ref.commit`, Argo CD `targetRevision: <sha>`, abbreviated or not):
// the listed commit is fetched with the branch or tag whose tip it is, or else with every branch and tag, and
// built as it was then. Once the cache holds it no fetch is needed: the remote may be gone. A commit that no
// branch or tag reaches is reported as such.
TEST(OtherRepositories, ARepositoryListedAtACommitIsBuiltAtThatCommit) {
  WorkRepo fleet, apps;
  apps.write("deploy/web.yaml", gitstate::testing::deployment("web", 1));
  std::string old_commit = apps.commit("an old release");
  apps.write("deploy/web.yaml", gitstate::testing::deployment("web", 5));
  apps.commit("work since");
  apps.push();
  apps.git({"checkout", "-q", "-b", "feature"});
  apps.write("deploy/web.yaml", gitstate::testing::deployment("web", 7));
  std::string feature_tip = apps.commit("a feature");
  apps.git({"push", "-q", "origin", "feature"});
  apps.write("deploy/web.yaml", gitstate::testing::deployment("web", 9));
  std::string never_pushed = apps.commit("never pushed");
  apps.git({"checkout", "-q", "main"});

  auto pinned = [&](const std::string& name, const std::string& commit) {
    return "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: " + name +
           "\n  namespace: flux-system\nspec:\n  interval: 1m\n  url: " + apps.file_url() +
           "\n  ref:\n    branch: main\n    commit: " + commit +
           "\n---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: " + name +
           "\n  namespace: flux-system\nspec:\n  interval: 10m\n  path: ./deploy\n  prune: true\n"
           "  targetNamespace: " + name + "\n  sourceRef:\n    kind: GitRepository\n    name: " + name + "\n---\n";
  };
  fleet.write("clusters/prod/sources.yaml",
              pinned("old", old_commit) + pinned("feature", feature_tip) + pinned("unlisted", never_pushed));
  fleet.write("argocd/web.yaml",
              "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: web\n  namespace: argocd\n"
              "spec:\n  project: default\n  source:\n    repoURL: " + apps.file_url() +
                  "\n    targetRevision: " + old_commit.substr(0, 10) + "\n    path: deploy\n  destination:\n"
                  "    server: https://kubernetes.default.svc\n    namespace: argo\n");
  fleet.commit("sources");
  fleet.push();
  std::string head = "apiVersion: gitgate.dev/v1alpha1\nkind: GatePolicy\nmetadata:\n  name: p\nspec:\n"
                     "  source:\n    url: " + fleet.file_url() + "\n    repositories:\n      - url: " + apps.file_url() +
                     "\n        commit: " + old_commit + "\n      - url: " + apps.file_url() + "\n        commit: " +
                     feature_tip + "\n";
  std::string flux_policy = head + "    flux:\n      path: clusters/prod\n" + tools();
  TempDir cache;
  auto check = [&](const Snapshot& s, const std::string& ns, const std::string& commit, int replicas) {
    const DeclaredObject* web = s.find({"apps", "Deployment", ns, "web"}).object;
    ASSERT_NE(web, nullptr) << ns << ": " << problems(s);
    EXPECT_EQ(json::parse(web->json())["spec"]["replicas"], replicas) << ns;
    ASSERT_NE(web->last_change(), nullptr);
    EXPECT_EQ(web->last_change()->id, commit) << ns;
    std::string chain;
    for (const auto& link : web->built_by()->chain) chain += link.what + "\n";
    EXPECT_NE(chain.find(apps.file_url() + " commit " + commit.substr(0, 12) + " @ " + commit.substr(0, 7)),
              std::string::npos)
        << chain;
    // The URL is listed at two commits: each file names the one it was read at.
    EXPECT_EQ(web->file(), apps.file_url() + "@" + commit.substr(0, 12) + "//deploy/web.yaml");
  };
  auto flux = sync(flux_policy, cache.path().string());
  check(*flux, "old", old_commit, 1);
  check(*flux, "feature", feature_tip, 7);
  EXPECT_TRUE(unbuilt(*flux, "unlisted"));
  EXPECT_NE(problems(*flux).find("is at commit '" + never_pushed + "', and spec.source.repositories lists it at commit "),
            std::string::npos)
      << problems(*flux);
  auto argo = sync(head + "    argocd:\n      path: argocd\n" + tools(), cache.path().string());
  check(*argo, "argo", old_commit, 1);

  // The remote gone: what the cache holds still builds.
  std::filesystem::rename(apps.remote_path(), apps.remote_path() + ".away");
  auto offline = sync(flux_policy, cache.path().string());
  check(*offline, "old", old_commit, 1);
  EXPECT_EQ(problems(*offline).find("could not be fetched"), std::string::npos) << problems(*offline);
  std::filesystem::rename(apps.remote_path() + ".away", apps.remote_path());

  auto unreachable = sync(head + "      - url: " + apps.file_url() + "\n        commit: " + never_pushed +
                              "\n    flux:\n      path: clusters/prod\n" + tools(),
                          cache.path().string());
  EXPECT_NE(problems(*unreachable).find("commit " + never_pushed + " is not reachable from any branch or tag of " +
                                        apps.file_url()),
            std::string::npos)
      << problems(*unreachable);
}

// A Kustomization whose source is a Flux OCIRepository (manifests pushed with `flux push artifact`): the listed
// artifact is pulled from its registry at the ref source-controller would (digest, else semver, else tag,
// else "latest"), unpacked, and built like a Git source; objects cite oci://…//<path>, the artifact's digest,
// and its source annotation as author. The next pull of the same digest downloads nothing.
TEST(OtherRepositories, AKustomizationOfAListedOciArtifactIsBuiltFromItsFiles) {
  testing::OciRegistry registry;
  TempDir content;
  auto release = [&](const std::string& tag, int replicas) {
    std::filesystem::create_directories(content.path() / tag / "deploy");
    std::ofstream(content.path() / tag / "deploy" / "web.yaml") << gitstate::testing::deployment("web", replicas);
    return registry.push_artifact("manifests/apps", tag, (content.path() / tag).string(),
                                  "https://github.com/example/apps", "main@sha1:0123456789abcdef");
  };
  std::string first = release("v1.0.0", 1);
  release("v1.1.0", 2);
  release("v2.0.0", 3);
  std::string url = "oci://" + registry.address() + "/manifests/apps";
  WorkRepo fleet;
  auto source = [&](const std::string& name, const std::string& ref) {
    return "apiVersion: source.toolkit.fluxcd.io/v1beta2\nkind: OCIRepository\nmetadata:\n  name: " + name +
           "\n  namespace: flux-system\nspec:\n  interval: 5m\n  insecure: true\n  url: " + url + "\n  ref:\n" + ref +
           "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: " + name +
           "\n  namespace: flux-system\nspec:\n  interval: 10m\n  path: ./deploy\n  prune: true\n  targetNamespace: " +
           name + "\n  sourceRef:\n    kind: OCIRepository\n    name: " + name + "\n---\n";
  };
  fleet.write("clusters/prod/apps.yaml", source("ranged", "    tag: v1.0.0\n    semver: '>=1.0.0 <2.0.0'\n") +
                                             source("pinned", "    tag: v2.0.0\n    digest: " + first + "\n") +
                                             source("unlisted", "    tag: v2.0.0\n"));
  fleet.commit("OCI sources");
  fleet.push();
  std::string policy = "apiVersion: gitgate.dev/v1alpha1\nkind: GatePolicy\nmetadata:\n  name: p\nspec:\n"
                       "  source:\n    url: " + fleet.file_url() + "\n    repositories:\n      - url: " + url +
                       "\n        semver: '>=1.0.0 <2.0.0'\n      - url: " + url + "\n        digest: " + first +
                       "\n    flux:\n      path: clusters/prod\n" + tools();
  TempDir cache;
  auto s = sync(policy, cache.path().string());
  std::string reported = problems(*s);
  const DeclaredObject* ranged = s->find({"apps", "Deployment", "ranged", "web"}).object;
  ASSERT_NE(ranged, nullptr) << reported;
  EXPECT_EQ(json::parse(ranged->json())["spec"]["replicas"], 2) << "v1.1.0, the highest below 2.0.0";
  EXPECT_EQ(ranged->file(), url + "@semver:>=1.0.0 <2.0.0//deploy/web.yaml");
  ASSERT_NE(ranged->last_change(), nullptr);
  EXPECT_EQ(ranged->last_change()->author_name, "https://github.com/example/apps");
  std::string chain;
  for (const auto& link : ranged->built_by()->chain) chain += link.what + "\n";
  EXPECT_NE(chain.find("OCIRepository flux-system/ranged (" + url + " tag v1.1.0 (semver '>=1.0.0 <2.0.0') sha256:"),
            std::string::npos)
      << chain;
  const DeclaredObject* pinned = s->find({"apps", "Deployment", "pinned", "web"}).object;
  ASSERT_NE(pinned, nullptr) << reported;
  EXPECT_EQ(json::parse(pinned->json())["spec"]["replicas"], 1) << "the digest wins over the tag";
  EXPECT_EQ(pinned->file(), url + "@" + first.substr(0, 19) + "//deploy/web.yaml");
  EXPECT_TRUE(unbuilt(*s, "unlisted"));
  EXPECT_NE(reported.find("is at tag 'v2.0.0', and spec.source.repositories lists it at "), std::string::npos)
      << reported;

  // Unchanged artifacts are not downloaded again; a new tag in range is the next pull's.
  release("v1.2.0", 4);
  auto again = sync(policy, cache.path().string());
  ranged = again->find({"apps", "Deployment", "ranged", "web"}).object;
  ASSERT_NE(ranged, nullptr) << problems(*again);
  EXPECT_EQ(json::parse(ranged->json())["spec"]["replicas"], 4);

  // Argo CD (3.1 and later) reads OCI artifacts as sources too: repoURL oci://…, targetRevision a digest.
  fleet.write("argocd/web.yaml",
              "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: web\n  namespace: argocd\n"
              "spec:\n  project: default\n  source:\n    repoURL: " + url + "\n    targetRevision: " + first +
                  "\n    path: deploy\n  destination:\n    server: https://kubernetes.default.svc\n    namespace: argo\n");
  fleet.commit("argo");
  fleet.push();
  std::string argo_policy = policy;
  argo_policy.replace(argo_policy.find("flux:\n      path: clusters/prod"), 31, "argocd:\n      path: argocd");
  auto argo = sync(argo_policy, cache.path().string());
  const DeclaredObject* argo_web = argo->find({"apps", "Deployment", "argo", "web"}).object;
  ASSERT_NE(argo_web, nullptr) << problems(*argo);
  EXPECT_EQ(json::parse(argo_web->json())["spec"]["replicas"], 1);

  auto missing = sync("apiVersion: gitgate.dev/v1alpha1\nkind: GatePolicy\nmetadata:\n  name: p\nspec:\n"
                      "  source:\n    url: " + fleet.file_url() + "\n    repositories:\n      - url: " + url +
                          "\n        tag: v9.9.9\n    flux:\n      path: clusters/prod\n" + tools(),
                      cache.path().string());
  EXPECT_NE(problems(*missing).find(url + " tag v9.9.9 could not be fetched ("), std::string::npos)
      << problems(*missing);

  // The registry gone: the artifact pinned by digest is not asked for again; the range's last pull is used.
  registry.stop();
  auto offline = sync(policy, cache.path().string());
  std::string offline_problems = problems(*offline);
  EXPECT_EQ(offline_problems.find("digest " + first.substr(0, 19) + " could not be fetched"), std::string::npos)
      << offline_problems;
  EXPECT_NE(offline_problems.find("semver '>=1.0.0 <2.0.0' could not be fetched"), std::string::npos)
      << offline_problems;
  ASSERT_NE(offline->find({"apps", "Deployment", "pinned", "web"}).object, nullptr) << offline_problems;
  ASSERT_NE(offline->find({"apps", "Deployment", "ranged", "web"}).object, nullptr) << offline_problems;
}

// Flux's source composition across repositories: an ArtifactGenerator copies the base from the policy's
// repository and the overlay from a listed one into one ExternalArtifact, and a Kustomization builds it. Each
// object cites the file it came from, in its own repository, at that repository's commit.
TEST(OtherRepositories, AnArtifactGeneratorComposesAListedRepositoryWithThePolicysOwn) {
  WorkRepo fleet, overlays;
  overlays.write("production/kustomization.yaml",
                 "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: shop\n"
                 "resources: [../base/web, settings.yaml]\npatches:\n  - patch: |-\n      - op: replace\n"
                 "        path: /spec/replicas\n        value: 6\n    target:\n      kind: Deployment\n");
  overlays.write("production/settings.yaml", gitstate::testing::config_map("settings", "prod"));
  std::string overlay_commit = overlays.commit("production overlay");
  overlays.push();
  fleet.write("apps/base/web/kustomization.yaml",
              "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [deployment.yaml]\n");
  fleet.write("apps/base/web/deployment.yaml", gitstate::testing::deployment("web", 1));
  fleet.write("clusters/prod/apps.yaml",
              "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: overlays\n"
              "  namespace: flux-system\nspec:\n  interval: 1m\n  url: " + overlays.file_url() +
                  "\n  ref:\n    branch: main\n---\n"
                  "apiVersion: source.extensions.fluxcd.io/v1beta1\nkind: ArtifactGenerator\nmetadata:\n"
                  "  name: apps\n  namespace: flux-system\nspec:\n  sources:\n    - alias: fleet\n"
                  "      kind: GitRepository\n      name: flux-system\n    - alias: overlays\n"
                  "      kind: GitRepository\n      name: overlays\n    - alias: chart\n      kind: HelmChart\n"
                  "      name: anything\n  artifacts:\n    - name: apps\n      copy:\n"
                  "        - from: \"@fleet/apps/base/**\"\n          to: \"@artifact/base/\"\n"
                  "        - from: \"@overlays/production/**\"\n          to: \"@artifact/production/\"\n"
                  "    - name: charted\n      copy:\n        - from: \"@chart/**\"\n          to: \"@artifact/\"\n"
                  "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n"
                  "  namespace: flux-system\nspec:\n  interval: 1h\n  sourceRef:\n    kind: ExternalArtifact\n"
                  "    name: apps\n  path: ./production\n  prune: true\n---\n"
                  "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: charted\n"
                  "  namespace: flux-system\nspec:\n  interval: 1h\n  sourceRef:\n    kind: ExternalArtifact\n"
                  "    name: charted\n  path: ./\n  prune: true\n");
  fleet.commit("composed apps");
  fleet.push();
  std::string policy = "apiVersion: gitgate.dev/v1alpha1\nkind: GatePolicy\nmetadata:\n  name: p\nspec:\n"
                       "  source:\n    url: " + fleet.file_url() + "\n    repositories:\n      - url: " +
                       overlays.file_url() + "\n    flux:\n      path: clusters/prod\n" + tools();
  TempDir cache;
  auto s = sync(policy, cache.path().string());
  std::string reported = problems(*s);
  const DeclaredObject* web = s->find({"apps", "Deployment", "shop", "web"}).object;
  ASSERT_NE(web, nullptr) << reported;
  EXPECT_EQ(json::parse(web->json())["spec"]["replicas"], 6) << "the listed repository's overlay";
  EXPECT_EQ(web->file(), "apps/base/web/deployment.yaml");
  const DeclaredObject* settings = s->find({"", "ConfigMap", "shop", "settings"}).object;
  ASSERT_NE(settings, nullptr) << reported;
  EXPECT_EQ(settings->file(), overlays.file_url() + "//production/settings.yaml");
  ASSERT_NE(settings->last_change(), nullptr);
  EXPECT_EQ(settings->last_change()->id, overlay_commit);
  EXPECT_TRUE(unbuilt(*s, "charted"));
  EXPECT_NE(reported.find("source 'chart': HelmChart flux-system/anything is not a source gitgate composes yet"),
            std::string::npos)
      << reported;
}

TEST(OtherRepositories, ThePolicyListsThemWithABranchAndCredentialsForFluxOrArgoCDOnly) {
  auto load = [](const std::string& source) {
    return policies::load_policies_from_text(
        "p.yaml", "apiVersion: gitgate.dev/v1alpha1\nkind: GatePolicy\nmetadata:\n  name: p\nspec:\n  source:\n"
                  "    url: https://git.example.com/fleet.git\n" + source);
  };
  auto good = load("    repositories:\n      - url: https://git.example.com/apps.git\n        branch: release\n"
                   "        credentials: /etc/gitgate/apps\n    flux:\n      path: clusters/prod\n");
  ASSERT_TRUE(good.ok()) << good.errors[0].to_string();
  const auto& listed = good.set.policies[0].source.repositories;
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].branch, "release");
  EXPECT_EQ(listed[0].credentials, "/etc/gitgate/apps");

  // One listed repository of a Flux policy, with these fields besides its url.
  auto listing = [&](const std::string& fields) {
    return load("    repositories:\n      - url: https://git.example.com/apps.git\n" + fields +
                "    flux:\n      path: clusters/prod\n");
  };
  auto tagged = listing("        tag: v1.2.0\n");
  ASSERT_TRUE(tagged.ok()) << tagged.errors[0].to_string();
  EXPECT_EQ(tagged.set.policies[0].source.repositories[0].ref(), "refs/tags/v1.2.0");
  auto both = listing("        branch: main\n        tag: v1.2.0\n");
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.errors[0].to_string().find("a branch or at a tag, not both"), std::string::npos)
      << both.errors[0].to_string();
  auto option = listing("        tag: --upload-pack=x\n");
  ASSERT_FALSE(option.ok());
  EXPECT_NE(option.errors[0].to_string().find("tag '--upload-pack=x' must not start with '-'"), std::string::npos)
      << option.errors[0].to_string();

  auto ranged = listing("        semver: '~1.2'\n");
  ASSERT_TRUE(ranged.ok()) << ranged.errors[0].to_string();
  EXPECT_EQ(ranged.set.policies[0].source.repositories[0].ref(), "semver:~1.2");
  auto bad_range = listing("        semver: '>>1'\n        branch: main\n");
  ASSERT_EQ(bad_range.errors.size(), 2u);
  std::string both_errors = bad_range.errors[0].to_string() + "\n" + bad_range.errors[1].to_string();
  EXPECT_NE(both_errors.find("semver constraint '>>1': '>>1' is not a comparator"), std::string::npos) << both_errors;
  EXPECT_NE(both_errors.find("a branch, a tag or a semver range, one of them"), std::string::npos) << both_errors;

  auto artifact = load("    repositories:\n      - url: oci://ghcr.io/example/manifests/apps\n"
                       "    flux:\n      path: clusters/prod\n");
  ASSERT_TRUE(artifact.ok()) << artifact.errors[0].to_string();
  EXPECT_EQ(artifact.set.policies[0].source.repositories[0].ref(), "refs/tags/latest") << "Flux's default tag";
  auto artifact_branch = load("    repositories:\n      - url: oci://ghcr.io/Example/apps\n        branch: main\n"
                              "    flux:\n      path: clusters/prod\n");
  ASSERT_EQ(artifact_branch.errors.size(), 2u);
  std::string artifact_errors = artifact_branch.errors[0].to_string() + "\n" + artifact_branch.errors[1].to_string();
  EXPECT_NE(artifact_errors.find("an OCI repository is lower-case"), std::string::npos) << artifact_errors;
  EXPECT_NE(artifact_errors.find("an OCI artifact has no branch"), std::string::npos) << artifact_errors;
  auto git_digest = listing("        digest: sha256:0123\n");
  ASSERT_EQ(git_digest.errors.size(), 2u);
  EXPECT_NE(git_digest.errors[0].to_string().find("only an oci:// artifact has a digest"), std::string::npos)
      << git_digest.errors[0].to_string();

  auto at_commit = listing("        commit: 0123456789ABCDEF0123456789abcdef01234567\n");
  ASSERT_TRUE(at_commit.ok()) << at_commit.errors[0].to_string();
  EXPECT_EQ(at_commit.set.policies[0].source.repositories[0].ref(), "commit:0123456789abcdef0123456789abcdef01234567");
  auto short_commit = listing("        commit: 0123456\n        tag: v1\n");
  ASSERT_EQ(short_commit.errors.size(), 2u);
  std::string commit_errors = short_commit.errors[0].to_string() + "\n" + short_commit.errors[1].to_string();
  EXPECT_NE(commit_errors.find("commit '0123456' is not a commit id: 40 hexadecimal digits"), std::string::npos)
      << commit_errors;
  EXPECT_NE(commit_errors.find("a semver range or a commit, one of them"), std::string::npos) << commit_errors;

  auto plain = load("    repositories:\n      - url: https://git.example.com/apps.git\n");
  ASSERT_FALSE(plain.ok());
  EXPECT_NE(plain.errors[0].to_string().find("needs flux or argocd"), std::string::npos) << plain.errors[0].to_string();
  auto password = load("    repositories:\n      - url: https://user:hunter2@git.example.com/apps.git\n"
                       "    flux:\n      path: clusters/prod\n");
  ASSERT_FALSE(password.ok());
  EXPECT_EQ(password.errors[0].to_string().find("hunter2"), std::string::npos) << "never echoes a password";
  auto cleartext = load("    repositories:\n      - url: http://git.example.com/apps.git\n        credentials: /x\n"
                        "    argocd:\n      path: argocd\n");
  ASSERT_FALSE(cleartext.ok());
  EXPECT_NE(cleartext.errors[0].to_string().find("unencrypted"), std::string::npos);
}

// The server's source fetches the listed repositories on its own schedule: a commit there is enforced by a
// later sync without a commit to the policy's repository.
TEST(OtherRepositories, TheServersSourceFetchesThemEveryIntervalAndPublishesWhatChanged) {
  WorkRepo fleet, apps;
  apps.write("deploy/web.yaml", gitstate::testing::deployment("web", 2));
  apps.commit("web");
  apps.push();
  fleet.write("argocd/web.yaml",
              "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: web\n  namespace: argocd\n"
              "spec:\n  project: default\n  source:\n    repoURL: " + apps.file_url() +
                  "\n    path: deploy\n  destination:\n    namespace: shop\n");
  fleet.commit("web");
  fleet.push();
  std::string policy = "apiVersion: gitgate.dev/v1alpha1\nkind: GatePolicy\nmetadata:\n  name: argo\nspec:\n"
                       "  source:\n    url: " + fleet.file_url() + "\n    interval: 1s\n    repositories:\n"
                       "      - url: " + apps.file_url() + "\n    argocd:\n      path: argocd\n" + tools();
  auto loaded = policies::load_policies_from_text("policy.yaml", policy);
  ASSERT_TRUE(loaded.ok()) << loaded.errors[0].to_string();
  TempDir cache;
  gitstate::SourceOptions options = gitstate::testing::test_options(fleet.file_url(), cache.path().string());
  options.spec = loaded.set.policies[0].source;
  auto source = gitstate::Source::create(options);
  ASSERT_TRUE(source.ok()) << source.error();
  (*source)->start();
  auto replicas = [&]() -> int {
    auto window = (*source)->window().load();
    const Snapshot* s = window ? window->current() : nullptr;
    if (s == nullptr) return -1;
    const DeclaredObject* web = s->find({"apps", "Deployment", "shop", "web"}).object;
    return web == nullptr ? 0 : json::parse(web->json())["spec"]["replicas"].get<int>();
  };
  ASSERT_TRUE(gitstate::testing::eventually([&] { return replicas() == 2; })) << replicas();
  apps.write("deploy/web.yaml", gitstate::testing::deployment("web", 7));
  apps.commit("scale");
  apps.push();
  EXPECT_TRUE(gitstate::testing::eventually([&] { return replicas() == 7; })) << replicas();
  (*source)->stop();
}

// With requireSignedCommits, another repository's commit must be signed too: a push there would otherwise
// change what is declared without a signature.
TEST(OtherRepositories, RequiredSignaturesHoldForTheirCommitsToo) {
  TempDir keys;
  std::string key = (keys.path() / "alice").string();
  ASSERT_EQ(gitgate::testing::run_command({"ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-C", "alice", "-f", key})
                .exit_code,
            0);
  std::string pub = gitgate::testing::read_file(key + ".pub");
  gitgate::testing::write_file(keys.path() / "allowed_signers",
                               "alice@example.com namespaces=\"git\" " + pub.substr(0, pub.rfind(' ')) + "\n");
  auto signed_commit = [&](WorkRepo& repo, const std::string& message) {
    repo.git({"add", "-A"});
    repo.git({"-c", "gpg.format=ssh", "-c", "user.signingkey=" + key, "commit", "-q", "-S", "-m", message});
    repo.push();
  };
  WorkRepo fleet, apps;
  apps.write("deploy/web.yaml", gitstate::testing::deployment("web", 2));
  apps.commit("unsigned");
  apps.push();
  fleet.write("argocd/web.yaml",
              "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: web\n  namespace: argocd\n"
              "spec:\n  project: default\n  source:\n    repoURL: " + apps.file_url() +
                  "\n    path: deploy\n  destination:\n    namespace: shop\n");
  signed_commit(fleet, "signed");
  std::string policy = "apiVersion: gitgate.dev/v1alpha1\nkind: GatePolicy\nmetadata:\n  name: argo\nspec:\n"
                       "  source:\n    url: " + fleet.file_url() + "\n    allowedSigners: " +
                       (keys.path() / "allowed_signers").string() + "\n    requireSignedCommits: true\n"
                       "    repositories:\n      - url: " + apps.file_url() + "\n    argocd:\n      path: argocd\n";
  TempDir cache;
  auto s = sync(policy, cache.path().string());
  std::string reported = problems(*s);
  EXPECT_EQ(s->find({"apps", "Deployment", "shop", "web"}).object, nullptr) << reported;
  EXPECT_TRUE(unbuilt(*s, "web")) << "declared with unknown values";
  EXPECT_NE(reported.find("is unsigned, and the policy requires commits verified against"), std::string::npos)
      << reported;

  apps.write("deploy/web.yaml", gitstate::testing::deployment("web", 3));
  signed_commit(apps, "signed");
  auto again = sync(policy, cache.path().string());
  EXPECT_NE(again->find({"apps", "Deployment", "shop", "web"}).object, nullptr) << problems(*again);
}

}  // namespace
}  // namespace gitgate::desired
