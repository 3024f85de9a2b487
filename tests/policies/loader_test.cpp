#include "policies/loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/support.h"

namespace gitgate::policies {
namespace {

using namespace std::chrono_literals;
using gitgate::testing::fixture_path;
using gitgate::testing::run_command;
using gitgate::testing::TempDir;
using gitgate::testing::write_file;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
namespace fs = std::filesystem;

// Diagnostics as `gitgate policy validate` prints them, with the fixture directory cut off the file names.
std::vector<std::string> messages(const LoadResult& result) {
  std::string prefix = fixture_path("policies") + "/";
  std::vector<std::string> out;
  for (const auto& d : result.errors) {
    std::string line = d.to_string();
    for (size_t at = line.find(prefix); at != std::string::npos; at = line.find(prefix, at))
      line.erase(at, prefix.size());
    out.push_back(line);
  }
  return out;
}

std::vector<std::string> fixture_errors(const std::string& name) {
  return messages(load_policies(fixture_path("policies/" + name)));
}

std::vector<std::string> texts(const std::vector<Pattern>& patterns) {
  std::vector<std::string> out;
  for (const auto& p : patterns) out.push_back(p.text());
  return out;
}

// A valid policy document with `spec_extra` appended to its spec (indented by two spaces per level).
std::string policy_text(const std::string& name, const std::string& spec_extra = "") {
  return "apiVersion: gitgate.dev/v1alpha1\nkind: GatePolicy\nmetadata:\n  name: " + name +
         "\nspec:\n  source:\n    url: https://git.example.com/" + name + ".git\n" + spec_extra;
}

Policy load_one(const std::string& text) {
  LoadResult result = load_policies_from_text("test.yaml", text);
  EXPECT_THAT(messages(result), IsEmpty());
  EXPECT_EQ(result.set.policies.size(), 1u);
  return result.set.policies.empty() ? Policy{} : result.set.policies.front();
}

// --- Defaults and fields ---------------------------------------------------------------------------

TEST(PolicyLoader, AppliesDefaultsToMinimalPolicy) {
  LoadResult result = load_policies(fixture_path("policies/valid/minimal.yaml"));
  ASSERT_THAT(messages(result), IsEmpty());
  ASSERT_EQ(result.set.policies.size(), 1u);
  const Policy& p = result.set.policies[0];
  EXPECT_EQ(p.name, "minimal");
  EXPECT_EQ(p.file, fixture_path("policies/valid/minimal.yaml"));
  EXPECT_EQ(p.line, 5u);
  EXPECT_EQ(p.mode, Mode::Enforce);
  EXPECT_EQ(p.source.url, "https://git.example.com/fleet.git");
  EXPECT_EQ(p.source.branch, "main");
  EXPECT_EQ(p.source.paths, std::vector<std::string>{"."});
  EXPECT_EQ(p.source.interval, 30s);
  EXPECT_EQ(p.source.fetch_timeout, 60s);
  EXPECT_EQ(p.source.max_staleness, 15min);
  EXPECT_EQ(p.source.render, Render::Plain);
  EXPECT_EQ(p.source.kustomize_command, (std::vector<std::string>{"kubectl", "kustomize"}));
  EXPECT_EQ(p.source.render_timeout, 30s);
  EXPECT_EQ(p.source.default_namespace, "default");
  EXPECT_EQ(p.source.credentials, "");
  EXPECT_EQ(p.source.allowed_signers, "");
  EXPECT_FALSE(p.source.require_signed_commits);
  EXPECT_EQ(p.source.window, 5);
  EXPECT_EQ(p.source.max_file_bytes, 1024u * 1024u);
  EXPECT_TRUE(p.source.substitute.empty());
  EXPECT_EQ(texts(p.scope.include), std::vector<std::string>{"*"});
  EXPECT_EQ(texts(p.scope.exclude),
            (std::vector<std::string>{"kube-system", "kube-public", "kube-node-lease"}));
  EXPECT_TRUE(p.scope.cluster_scoped);
  EXPECT_TRUE(p.scope.kinds.empty());
  EXPECT_TRUE(p.agents.empty());
  EXPECT_EQ(texts(p.controllers.users),
            (std::vector<std::string>{"system:serviceaccount:kube-system:*", "system:node:*"}));
  EXPECT_EQ(texts(p.controllers.groups), std::vector<std::string>{"system:nodes"});
  EXPECT_TRUE(p.break_glass.users.empty());
  EXPECT_TRUE(p.break_glass.groups.empty());
  EXPECT_EQ(p.unmanaged, Unmanaged::Allow);
  EXPECT_TRUE(p.ignore.empty());
  EXPECT_EQ(texts(p.ownership.labels),
            (std::vector<std::string>{"kustomize.toolkit.fluxcd.io/*", "helm.toolkit.fluxcd.io/*"}));
  EXPECT_EQ(texts(p.ownership.annotations), std::vector<std::string>{"argocd.argoproj.io/tracking-id"});
}

TEST(PolicyLoader, ReadsEveryFieldOfFullPolicy) {
  LoadResult result = load_policies(fixture_path("policies/valid/full.yaml"));
  ASSERT_THAT(messages(result), IsEmpty());
  ASSERT_EQ(result.set.policies.size(), 1u);
  const Policy& p = result.set.policies[0];
  EXPECT_EQ(p.mode, Mode::Warn);
  EXPECT_EQ(p.source.url, "ssh://git@git.example.com/fleet.git");
  EXPECT_EQ(p.source.branch, "release/2026");
  EXPECT_EQ(p.source.paths, (std::vector<std::string>{"clusters/prod", "./shared"}));
  EXPECT_EQ(p.source.interval, 90s);
  EXPECT_EQ(p.source.fetch_timeout, 20s);
  EXPECT_EQ(p.source.max_staleness, 1h);
  EXPECT_EQ(p.source.render, Render::Kustomize);
  EXPECT_EQ(p.source.kustomize_command,
            (std::vector<std::string>{"/usr/local/bin/kustomize", "build", "--enable-helm"}));
  EXPECT_EQ(p.source.render_timeout, 45s);
  EXPECT_EQ(p.source.default_namespace, "apps");
  EXPECT_EQ(p.source.credentials, "/etc/gitgate/git");
  EXPECT_EQ(p.source.allowed_signers, "/etc/gitgate/allowed_signers");
  EXPECT_TRUE(p.source.require_signed_commits);
  EXPECT_EQ(p.source.window, 12);
  EXPECT_EQ(p.source.max_file_bytes, 512u * 1024u);
  EXPECT_EQ(p.source.substitute,
            (std::map<std::string, std::string>{{"cluster_name", "prod-eu"}, {"replicas", "3"}}));
  EXPECT_EQ(texts(p.scope.include), (std::vector<std::string>{"shop", "team-*"}));
  EXPECT_EQ(texts(p.scope.exclude), std::vector<std::string>{"team-sandbox"});
  EXPECT_TRUE(p.scope.cluster_scoped);
  ASSERT_EQ(p.scope.kinds.size(), 4u);
  EXPECT_TRUE(p.scope.kinds[0].matches("apps", "Deployment"));
  EXPECT_TRUE(p.scope.kinds[1].matches("", "ConfigMap"));
  EXPECT_TRUE(p.scope.kinds[2].matches("", "Secret"));
  EXPECT_TRUE(p.scope.kinds[3].matches("networking.k8s.io", "Ingress"));
  ASSERT_EQ(p.agents.size(), 2u);
  EXPECT_EQ(p.agents[0].name, "flux");
  EXPECT_TRUE(p.agents[0].must_match_git);
  EXPECT_EQ(texts(p.agents[0].identities.users),
            std::vector<std::string>{"system:serviceaccount:flux-system:kustomize-controller"});
  EXPECT_EQ(p.agents[1].name, "ci-deployer");
  EXPECT_FALSE(p.agents[1].must_match_git);
  EXPECT_EQ(texts(p.agents[1].identities.groups), std::vector<std::string>{"ci:deployers"});
  EXPECT_EQ(texts(p.controllers.users),
            std::vector<std::string>{"system:serviceaccount:cert-manager:cert-manager"});
  EXPECT_EQ(texts(p.controllers.groups), std::vector<std::string>{"operators"});
  EXPECT_EQ(texts(p.break_glass.users), std::vector<std::string>{"alice@example.com"});
  EXPECT_EQ(texts(p.break_glass.groups), std::vector<std::string>{"gitgate:break-glass"});
  EXPECT_EQ(p.unmanaged, Unmanaged::Deny);
  ASSERT_EQ(p.ignore.size(), 2u);
  ASSERT_EQ(p.ignore[0].kinds.size(), 1u);
  EXPECT_EQ(p.ignore[0].kinds[0].text, "apps/Deployment");
  ASSERT_EQ(p.ignore[0].paths.size(), 2u);
  EXPECT_EQ(p.ignore[0].paths[0].segments, (std::vector<std::string>{"spec", "replicas"}));
  EXPECT_EQ(p.ignore[0].paths[1].segments,
            (std::vector<std::string>{"metadata", "annotations", "example.com/owner"}));
  EXPECT_TRUE(p.ignore[1].kinds.empty());
  EXPECT_EQ(p.ignore[1].paths[0].segments,
            (std::vector<std::string>{"spec", "template", "spec", "containers", "*", "image"}));
  EXPECT_EQ(p.ignore[1].paths[1].segments, (std::vector<std::string>{"data", "a~b"}));
  EXPECT_EQ(texts(p.ownership.labels), std::vector<std::string>{"example.com/managed-by"});
  EXPECT_TRUE(p.ownership.annotations.empty());
}

TEST(PolicyLoader, ClusterScopedDefaultsToTrueOnlyWhenIncludeMatchesEverything) {
  EXPECT_TRUE(
      load_one(policy_text("a", "  scope: {namespaces: {include: [shop, '*']}}\n")).scope.cluster_scoped);
  EXPECT_FALSE(load_one(policy_text("a", "  scope: {namespaces: {include: [shop, 'team-*']}}\n"))
                   .scope.cluster_scoped);
  EXPECT_TRUE(load_one(policy_text("a", "  scope: {namespaces: {include: [shop]}, clusterScoped: true}\n"))
                  .scope.cluster_scoped);
  EXPECT_FALSE(load_one(policy_text("a", "  scope: {clusterScoped: false}\n")).scope.cluster_scoped);
}

TEST(PolicyLoader, ControllersAlwaysIncludeDefaultsUnlessDisabled) {
  Policy listed =
      load_one(policy_text("a",
                           "  controllers:\n"
                           "    users: ['system:serviceaccount:cert-manager:cert-manager', 'system:node:*']\n"
                           "    groups: [operators]\n"));
  EXPECT_EQ(texts(listed.controllers.users),
            (std::vector<std::string>{"system:serviceaccount:kube-system:*", "system:node:*",
                                      "system:serviceaccount:cert-manager:cert-manager"}));
  EXPECT_EQ(texts(listed.controllers.groups), (std::vector<std::string>{"system:nodes", "operators"}));
  Policy without = load_one(policy_text("a", "  controllers: {includeDefaults: false, users: [hpa]}\n"));
  EXPECT_EQ(texts(without.controllers.users), std::vector<std::string>{"hpa"});
  EXPECT_TRUE(without.controllers.groups.empty());
}

TEST(PolicyLoader, ControllersListGivesEachItsGrantedPathsAndKeepsTheDefaults) {
  Policy p =
      load_one(policy_text("a",
                           "  controllers:\n"
                           "    - name: hpa\n"
                           "      users: ['system:serviceaccount:keda:keda-operator']\n"
                           "      kinds: [apps/Deployment]\n"
                           "      paths: [/spec/replicas]\n"
                           "    - name: cainjector\n"
                           "      users: ['system:serviceaccount:cert-manager:cert-manager-cainjector']\n"
                           "      paths: ['/webhooks/*/clientConfig/caBundle']\n"));
  EXPECT_EQ(texts(p.controllers.users),
            (std::vector<std::string>{"system:serviceaccount:kube-system:*", "system:node:*",
                                      "system:serviceaccount:keda:keda-operator",
                                      "system:serviceaccount:cert-manager:cert-manager-cainjector"}));
  std::vector<std::string> grants;
  for (const auto& g : p.controller_grants)
    for (const auto& path : g.paths) grants.push_back(g.name + " " + path.text);
  EXPECT_THAT(grants,
              ::testing::IsSupersetOf({"hpa /spec/replicas", "cainjector /webhooks/*/clientConfig/caBundle",
                                       "defaults /spec/volumeName", "defaults /spec/finalizers"}));
  Policy map_form = load_one(
      policy_text("a", "  controllers: {includeDefaults: false, users: [keda], paths: [/spec/replicas]}\n"));
  ASSERT_EQ(map_form.controller_grants.size(), 1u) << "no built-in grants without the default controllers";
  EXPECT_EQ(map_form.controller_grants[0].paths[0].text, "/spec/replicas");
}

TEST(PolicyLoader, ReportsBadControllerEntries) {
  auto result = load_policies_from_text("t.yaml", policy_text("a",
                                                              "  controllers:\n"
                                                              "    - name: x\n"
                                                              "      paths: [spec/replicas]\n"
                                                              "    - {users: [y], colour: blue}\n"));
  EXPECT_THAT(
      messages(result),
      ElementsAre(
          HasSubstr("t.yaml:9:7: spec.controllers[0]: lists no users or groups"),
          HasSubstr(
              "t.yaml:10:15: spec.controllers[0].paths[0]: path 'spec/replicas' must be a JSON pointer"),
          HasSubstr("t.yaml:11:20: unknown field 'colour'")));
}

TEST(PolicyLoader, GovernedMetadataAddsToTheDefaultKeys) {
  Policy p = load_one(policy_text("a", "  governedMetadata: ['example.com/cost-center', 'helm.sh/*']\n"));
  auto keys = texts(p.governed_metadata);
  EXPECT_THAT(keys, ::testing::IsSupersetOf({"*.fluxcd.io/*", "argocd.argoproj.io/*", "meta.helm.sh/*",
                                             "app.kubernetes.io/managed-by", "pod-security.kubernetes.io/*",
                                             "istio-injection", "example.com/cost-center"}));
  EXPECT_EQ(std::count(keys.begin(), keys.end(), "helm.sh/*"), 1) << "listed once";
  EXPECT_FALSE(p.allow_debug);
  EXPECT_TRUE(load_one(policy_text("a", "  allowDebug: true\n")).allow_debug);
  auto bad =
      load_policies_from_text("t.yaml", policy_text("a", "  governedMetadata: ['a b']\n  allowDebug: yes\n"));
  EXPECT_THAT(messages(bad), ElementsAre(HasSubstr("t.yaml:8:22: spec.governedMetadata[0]"),
                                         HasSubstr("t.yaml:9:15: spec.allowDebug: expected true or false")));
}

TEST(PolicyLoader, OwnershipLabelsIncludeArgoInstanceLabelOnlyWithArgoAgent) {
  Policy argo = load_one(policy_text(
      "a",
      "  agents: [{name: argocd, users: ['system:serviceaccount:argocd:argocd-application-controller']}]\n"));
  EXPECT_EQ(texts(argo.ownership.labels),
            (std::vector<std::string>{"kustomize.toolkit.fluxcd.io/*", "helm.toolkit.fluxcd.io/*",
                                      "app.kubernetes.io/instance"}));
  Policy flux = load_one(policy_text(
      "a", "  agents: [{name: flux, users: ['system:serviceaccount:flux-system:kustomize-controller']}]\n"));
  EXPECT_THAT(texts(flux.ownership.labels), Not(::testing::Contains("app.kubernetes.io/instance")));
}

TEST(PolicyLoader, ListedOwnershipReplacesDefaults) {
  Policy p = load_one(policy_text("a", "  ownership: {labels: ['example.com/*']}\n"));
  EXPECT_EQ(texts(p.ownership.labels), std::vector<std::string>{"example.com/*"});
  EXPECT_EQ(texts(p.ownership.annotations), std::vector<std::string>{"argocd.argoproj.io/tracking-id"});
}

TEST(PolicyLoader, AgentsMustMatchGitByDefault) {
  Policy p = load_one(policy_text("a", "  agents: [{name: flux, groups: ['flux:appliers']}]\n"));
  ASSERT_EQ(p.agents.size(), 1u);
  EXPECT_TRUE(p.agents[0].must_match_git);
}

TEST(PolicyLoader, ByteSizesAcceptIntegersAndQuantities) {
  std::string base =
      "apiVersion: gitgate.dev/v1alpha1\nkind: GatePolicy\nmetadata: {name: a}\nspec:\n  source:\n"
      "    url: file:///srv/git/a\n    maxFileSize: ";
  EXPECT_EQ(load_one(base + "2048\n").source.max_file_bytes, 2048u);
  EXPECT_EQ(load_one(base + "2Mi\n").source.max_file_bytes, 2u * 1024u * 1024u);
  EXPECT_EQ(load_one(base + "10M\n").source.max_file_bytes, 10'000'000u);
  EXPECT_EQ(load_one(base + "64Ki\n").source.max_file_bytes, 64u * 1024u);
  EXPECT_FALSE(load_policies_from_text("p.yaml", base + "65Mi\n").ok());
  EXPECT_FALSE(load_policies_from_text("p.yaml", base + "0\n").ok());
  EXPECT_FALSE(load_policies_from_text("p.yaml", base + "1.5Mi\n").ok());
}

TEST(PolicyLoader, EmptyDocumentsAndCommentOnlyFilesAreSkipped) {
  LoadResult comments = load_policies_from_text("empty.yaml", "# nothing here yet\n---\n---\n");
  EXPECT_TRUE(comments.ok());
  EXPECT_TRUE(comments.set.policies.empty());
  LoadResult two = load_policies_from_text(
      "two.yaml", "---\n" + policy_text("a", "  scope: {namespaces: {include: [a]}}\n") + "---\n---\n" +
                      policy_text("b", "  scope: {namespaces: {include: [b]}}\n"));
  EXPECT_THAT(messages(two), IsEmpty());
  ASSERT_EQ(two.set.policies.size(), 2u);
  EXPECT_EQ(two.set.policies[1].name, "b");
  EXPECT_EQ(two.set.policies[1].line, 15u);
}

// --- Validation rules, each with its place -----------------------------------------------------------

TEST(PolicyLoader, ReportsUnknownFieldsWithClosestKnownName) {
  EXPECT_THAT(
      fixture_errors("invalid/unknown-field.yaml"),
      ElementsAre(
          "invalid/unknown-field.yaml:8:5: unknown field 'brnach' (did you mean 'branch'?)",
          "invalid/unknown-field.yaml:12:7: unknown field 'mustMatchGti' (did you mean 'mustMatchGit'?)",
          "invalid/unknown-field.yaml:13:3: unknown field 'breakglass' (did you mean 'breakGlass'?)",
          "invalid/unknown-field.yaml:15:3: unknown field 'colour'"));
}

TEST(PolicyLoader, ReportsWrongTypesWithFieldPath) {
  EXPECT_THAT(
      fixture_errors("invalid/wrong-types.yaml"),
      ElementsAre(
          "invalid/wrong-types.yaml:7:10: spec.source.url: expected a string, got a list",
          "invalid/wrong-types.yaml:8:13: spec.source.window: expected an integer, got 'five'",
          "invalid/wrong-types.yaml:9:27: spec.source.requireSignedCommits: expected true or false, got "
          "'yes' (a "
          "quoted string is not a boolean)",
          "invalid/wrong-types.yaml:10:12: spec.source.paths: expected a list of strings, got "
          "'clusters/prod' "
          "(write ['clusters/prod'] for one item)",
          "invalid/wrong-types.yaml:12:17: spec.scope.namespaces: expected a map with 'include' and "
          "'exclude' "
          "lists, got a list",
          "invalid/wrong-types.yaml:15:14: spec.agents[0].users: expected a list of strings, got "
          "'system:serviceaccount:flux-system:kustomize-controller' (write "
          "['system:serviceaccount:flux-system:kustomize-controller'] for one item)",
          "invalid/wrong-types.yaml:16:21: spec.agents[0].mustMatchGit: expected true or false, got 'false' "
          "(a "
          "quoted string is not a boolean)",
          "invalid/wrong-types.yaml:17:7: spec.agents[1]: expected an agent (a map with name, users, groups, "
          "mustMatchGit), got 'flux-helm'",
          "invalid/wrong-types.yaml:20:9: spec.controllers.users[0]: expected a string, got a map",
          "invalid/wrong-types.yaml:21:11: spec.ignore: expected a list of ignore rules, got a map"));
}

TEST(PolicyLoader, ReportsMissingRequiredFields) {
  EXPECT_THAT(
      fixture_errors("invalid/missing-required.yaml"),
      ElementsAre("invalid/missing-required.yaml:3:1: metadata: missing required field 'name'",
                  "invalid/missing-required.yaml:6:3: spec.source: missing required field 'url'",
                  "invalid/missing-required.yaml:9:7: spec.agents[0]: missing required field 'name'",
                  "invalid/missing-required.yaml:10:7: spec.agents[1]: lists no users or groups, so it "
                  "matches nobody",
                  "invalid/missing-required.yaml:12:7: spec.ignore[0]: missing required field 'paths'",
                  "invalid/missing-required.yaml:14:1: missing required field 'apiVersion' "
                  "(gitgate.dev/v1alpha1)",
                  "invalid/missing-required.yaml:14:1: missing required field 'spec'"));
}

TEST(PolicyLoader, MissingSourceIsAnError) {
  LoadResult result = load_policies_from_text(
      "p.yaml",
      "apiVersion: gitgate.dev/v1alpha1\nkind: GatePolicy\nmetadata: {name: a}\nspec:\n  mode: warn\n");
  EXPECT_THAT(
      messages(result),
      ElementsAre("p.yaml:4:1: spec: missing required field 'source' (the Git repository that holds the "
                  "desired state)"));
}

TEST(PolicyLoader, ReportsBadEnumValues) {
  EXPECT_THAT(
      fixture_errors("invalid/bad-enums.yaml"),
      ElementsAre("invalid/bad-enums.yaml:6:9: spec.mode: 'enfroce' is not one of enforce, warn or audit "
                  "(did you mean 'enforce'?)",
                  "invalid/bad-enums.yaml:9:13: spec.source.render: 'helm' is not one of plain or kustomize",
                  "invalid/bad-enums.yaml:10:14: spec.unmanaged: 'block' is not one of allow, warn or deny"));
}

TEST(PolicyLoader, ReportsBadDurations) {
  EXPECT_THAT(
      fixture_errors("invalid/bad-durations.yaml"),
      ElementsAre(
          "invalid/bad-durations.yaml:8:15: spec.source.interval: invalid duration '30': missing unit (use "
          "e.g. 30s, 1m30s, 500ms)",
          "invalid/bad-durations.yaml:9:19: spec.source.fetchTimeout: invalid duration '1 minute': missing "
          "unit (use e.g. 30s, 1m30s, 500ms)",
          "invalid/bad-durations.yaml:10:20: spec.source.renderTimeout: '0' is shorter than the minimum 1ms",
          "invalid/bad-durations.yaml:11:19: spec.source.maxStaleness: 10s must be 0 (never stale) or "
          "longer than interval (30s), or readiness would flap between fetches"));
}

TEST(PolicyLoader, RejectsIntervalBelowTheFloor) {
  LoadResult result = load_policies_from_text(
      "p.yaml",
      "apiVersion: gitgate.dev/v1alpha1\nkind: GatePolicy\nmetadata: {name: a}\nspec:\n  source: {url: "
      "'file:///srv/a', interval: 10ms}\n");
  EXPECT_THAT(messages(result),
              ElementsAre("p.yaml:5:44: spec.source.interval: '10ms' is shorter than the minimum 100ms"));
}

TEST(PolicyLoader, ReportsBadIdentityNamespaceAndLabelPatterns) {
  EXPECT_THAT(
      fixture_errors("invalid/bad-patterns.yaml"),
      ElementsAre(
          "invalid/bad-patterns.yaml:10:17: spec.scope.namespaces.include[0]: namespace pattern 'Shop' may "
          "hold only lowercase letters, digits and '-' (and '*')",
          "invalid/bad-patterns.yaml:10:25: spec.scope.namespaces.include[1]: namespace pattern 'team-**' "
          "contains '**': a single '*' already matches any run of characters",
          "invalid/bad-patterns.yaml:10:36: spec.scope.namespaces.include[2]: empty namespace pattern",
          "invalid/bad-patterns.yaml:11:17: spec.scope.namespaces.exclude[0]: namespace pattern "
          "'kube_system' may hold only lowercase letters, digits and '-' (and '*')",
          "invalid/bad-patterns.yaml:14:15: spec.agents[0].users[0]: user pattern "
          "'system:serviceaccount:flux-system: kustomize-controller' contains whitespace or control "
          "characters, which Kubernetes identities never hold",
          "invalid/bad-patterns.yaml:14:74: spec.agents[0].users[1]: empty user pattern",
          "invalid/bad-patterns.yaml:15:16: spec.agents[0].groups[0]: group pattern 'flux**' contains "
          "'**': a single '*' already matches any run of characters",
          "invalid/bad-patterns.yaml:17:14: spec.breakGlass.groups[0]: group pattern 'on call' contains "
          "whitespace or control characters, which Kubernetes identities never hold",
          "invalid/bad-patterns.yaml:19:14: spec.ownership.labels[0]: label or annotation key pattern "
          "'example.com/a/b' has more than one '/' (write prefix/name)",
          "invalid/bad-patterns.yaml:19:33: spec.ownership.labels[1]: label or annotation key pattern 'bad "
          "label' may hold only letters, digits, '-', '_', '.', '/' and '*'"));
}

TEST(PolicyLoader, ReportsBadKindPatterns) {
  const std::string hint =
      " (write Kind, group/Kind, group/version/Kind, v1/Kind for the core group, or '*')";
  EXPECT_THAT(
      fixture_errors("invalid/bad-kinds.yaml"),
      ElementsAre(
          "invalid/bad-kinds.yaml:10:9: spec.scope.kinds[0]: kind pattern 'apps/deployments' must end in a "
          "Kind such as 'Deployment' (kinds start with a capital; 'deployments' is a resource name)" +
              hint,
          "invalid/bad-kinds.yaml:11:9: spec.scope.kinds[1]: kind pattern 'v2/ConfigMap' starts with the "
          "version 'v2': only the core group is written v1/Kind; other groups need group/Kind" +
              hint,
          "invalid/bad-kinds.yaml:12:9: spec.scope.kinds[2]: kind pattern 'apps/v1/Deployment/extra' has "
          "more than three parts" +
              hint,
          "invalid/bad-kinds.yaml:13:9: spec.scope.kinds[3]: kind pattern 'apps//Deployment' has an empty "
          "part" +
              hint,
          "invalid/bad-kinds.yaml:14:9: spec.scope.kinds[4]: kind pattern 'Apps/Deployment' has a group "
          "with characters other than lowercase letters, digits, '.', '-' and '*'" +
              hint,
          "invalid/bad-kinds.yaml:15:9: spec.scope.kinds[5]: kind pattern 'apps/stable/Deployment' has "
          "'stable' where a version such as v1 or v1beta1 belongs" +
              hint,
          "invalid/bad-kinds.yaml:16:9: spec.scope.kinds[6]: empty kind pattern (use '*' for every kind)"));
}

TEST(PolicyLoader, ReportsBadIgnorePaths) {
  EXPECT_THAT(
      fixture_errors("invalid/bad-paths.yaml"),
      ElementsAre(
          "invalid/bad-paths.yaml:11:11: spec.ignore[0].paths[0]: path 'spec.replicas' must be a JSON "
          "pointer starting with '/' (e.g. '/spec/replicas')",
          "invalid/bad-paths.yaml:12:11: spec.ignore[0].paths[1]: path '/spec//replicas' has an empty "
          "segment (remove the doubled or trailing '/')",
          "invalid/bad-paths.yaml:13:11: spec.ignore[0].paths[2]: path '/spec/replicas/' has an empty "
          "segment (remove the doubled or trailing '/')",
          "invalid/bad-paths.yaml:14:11: spec.ignore[0].paths[3]: path '/metadata/annotations/a~2b' has a "
          "'~' that is not '~0' (for '~') or '~1' (for '/')",
          "invalid/bad-paths.yaml:15:11: spec.ignore[0].paths[4]: path '/spec/containers/web*/image' has "
          "'*' inside a segment: '*' must be a whole segment (any key or item)",
          "invalid/bad-paths.yaml:17:14: spec.ignore[1].paths: empty list (name at least one path)"));
}

TEST(PolicyLoader, ReportsWindowOutOfRange) {
  EXPECT_THAT(
      fixture_errors("invalid/window-range.yaml"),
      ElementsAre("invalid/window-range.yaml:8:13: spec.source.window: 0 is out of range (1 to 50 snapshots)",
                  "invalid/window-range.yaml:19:13: spec.source.window: 51 is out of range (1 to 50 "
                  "snapshots)"));
}

TEST(PolicyLoader, RejectsOtherApiVersionsAndKinds) {
  EXPECT_THAT(
      fixture_errors("invalid/wrong-api.yaml"),
      ElementsAre("invalid/wrong-api.yaml:1:13: apiVersion: 'gitgate.dev/v1' is not supported (use "
                  "gitgate.dev/v1alpha1)",
                  "invalid/wrong-api.yaml:10:7: kind: 'ConfigMap' is not GatePolicy; policy files hold "
                  "GatePolicy documents only",
                  "invalid/wrong-api.yaml:16:1: expected a GatePolicy document (a map with apiVersion, kind, "
                  "metadata, spec), got a list"));
}

TEST(PolicyLoader, ReportsDuplicateYamlKeys) {
  EXPECT_THAT(fixture_errors("invalid/duplicate-keys.yaml"),
              ElementsAre("invalid/duplicate-keys.yaml:9:5: duplicate key 'url' (first at line 8)",
                          "invalid/duplicate-keys.yaml:10:3: duplicate key 'mode' (first at line 6)"));
}

TEST(PolicyLoader, RejectsCredentialsInUrlWithoutEchoingThem) {
  std::vector<std::string> errors = fixture_errors("invalid/url-credentials.yaml");
  const std::string embedded =
      ": spec.source.url: URL embeds credentials (%s://***@...): never put secrets in a policy; put them in "
      "the "
      "spec.source.credentials directory";
  auto expected = [&](const std::string& place, const std::string& scheme) {
    std::string text = embedded;
    text.replace(text.find("%s"), 2, scheme);
    return "invalid/url-credentials.yaml:" + place + text;
  };
  EXPECT_THAT(errors,
              ElementsAre(expected("7:10", "https"), expected("16:10", "https"), expected("25:10", "ssh"),
                          "invalid/url-credentials.yaml:34:10: spec.source.url: URL has no scheme: write "
                          "scp-like addresses as ssh://user@host/path"));
  for (const auto& e : errors) {
    EXPECT_THAT(e, AllOf(Not(HasSubstr("hunter2")), Not(HasSubstr("ghp_")), Not(HasSubstr("deploy:"))));
  }
}

TEST(PolicyLoader, AcceptsSshUserWithoutPassword) {
  Policy p = load_one(policy_text("a").replace(policy_text("a").find("https://"), 8, "ssh://git@"));
  EXPECT_EQ(p.source.url, "ssh://git@git.example.com/a.git");
}

TEST(PolicyLoader, ReportsDuplicateAgentNames) {
  EXPECT_THAT(
      fixture_errors("invalid/duplicate-agents.yaml"),
      ElementsAre("invalid/duplicate-agents.yaml:11:13: spec.agents[1].name: duplicate agent name 'flux' "
                  "(first at line 9)"));
}

TEST(PolicyLoader, ReportsIdentityInTwoClasses) {
  const std::string tail =
      "; an identity must belong to one class only (an agent, controllers or breakGlass)";
  EXPECT_THAT(
      fixture_errors("invalid/ambiguous-identities.yaml"),
      ElementsAre(
          "invalid/ambiguous-identities.yaml:12:15: spec.agents[1].users[0]: "
          "'system:serviceaccount:flux-system:helm-controller' overlaps agent 'flux' user "
          "'system:serviceaccount:flux-system:*' (spec.agents[0].users[0], line 10)" +
              tail,
          "invalid/ambiguous-identities.yaml:15:15: spec.agents[2].users[0]: "
          "'system:serviceaccount:kube-system:gitops' overlaps the default controller user "
          "'system:serviceaccount:kube-system:*' (spec.controllers.includeDefaults: false drops the "
          "defaults)" +
              tail,
          "invalid/ambiguous-identities.yaml:19:13: spec.breakGlass.users[0]: "
          "'system:serviceaccount:cert-manager:cert-manager' overlaps controllers user "
          "'system:serviceaccount:cert-manager:cert-manager' (spec.controllers.users[0], line 17)" +
              tail,
          "invalid/ambiguous-identities.yaml:20:14: spec.breakGlass.groups[0]: 'system:nodes' overlaps the "
          "default controller group 'system:nodes' (spec.controllers.includeDefaults: false drops the "
          "defaults)" +
              tail));
}

TEST(PolicyLoader, ReportsSourceRuleViolations) {
  EXPECT_THAT(
      fixture_errors("invalid/source-rules.yaml"),
      ElementsAre(
          "invalid/source-rules.yaml:8:13: spec.source.branch: branch '-delete' must not start with '-'",
          "invalid/source-rules.yaml:9:13: spec.source.paths[0]: path '../other-repo' must stay inside the "
          "repository (no '..')",
          "invalid/source-rules.yaml:9:28: spec.source.paths[1]: path '/etc' must be relative to the "
          "repository root",
          "invalid/source-rules.yaml:10:18: spec.source.credentials: credentials would travel unencrypted "
          "over "
          "http://; use an https:// URL",
          "invalid/source-rules.yaml:11:27: spec.source.requireSignedCommits: requires allowedSigners (an "
          "OpenSSH "
          "allowed_signers file to check signatures against)",
          "invalid/source-rules.yaml:12:18: spec.source.maxFileSize: invalid size '1Ti' (use bytes, or a "
          "quantity "
          "like 512Ki, 1Mi, 10M)",
          "invalid/source-rules.yaml:13:23: spec.source.defaultNamespace: namespace 'Default' may hold only "
          "lowercase letters, digits and '-'",
          "invalid/source-rules.yaml:14:23: spec.source.kustomizeCommand: empty command (e.g. [kubectl, "
          "kustomize])",
          "invalid/source-rules.yaml:16:7: spec.source.substitute: variable name 'cluster-name' must match "
          "[_a-zA-Z][_a-zA-Z0-9]*",
          "invalid/source-rules.yaml:17:15: spec.source.substitute.region: expected a string value"));
}

TEST(PolicyLoader, ReportsYamlSyntaxErrorWithPosition) {
  EXPECT_THAT(
      fixture_errors("invalid/syntax-error.yaml"),
      ElementsAre("invalid/syntax-error.yaml:9:7: YAML syntax error: end of sequence flow not found"));
}

TEST(PolicyLoader, ScopeThatGovernsNothingIsAnError) {
  LoadResult result =
      load_policies_from_text("p.yaml", policy_text("a", "  scope:\n    namespaces: {include: []}\n"));
  EXPECT_THAT(messages(result),
              ElementsAre("p.yaml:8:3: spec.scope: governs nothing (namespaces.include is empty "
                          "and clusterScoped is false)"));
}

TEST(PolicyLoader, InvalidSetIsEmptySoItCannotBeServed) {
  LoadResult result = load_policies(fixture_path("policies/invalid/window-range.yaml"));
  EXPECT_FALSE(result.ok());
  EXPECT_TRUE(result.set.policies.empty());
}

// --- Across policies and files ------------------------------------------------------------------------

TEST(PolicyLoader, ReportsOverlappingScopesAtBothPolicies) {
  const std::string fix = "; make the scopes disjoint (spec.scope.namespaces.exclude or kinds)";
  EXPECT_THAT(
      fixture_errors("overlap"),
      ElementsAre(
          "overlap/a-platform.yaml:4:9: policy 'platform' overlaps policy 'team-b' "
          "(overlap/b-tenants.yaml:15): both govern namespaces matching both '*' and 'team-b-*' of every "
          "kind" +
              fix,
          "overlap/a-platform.yaml:4:9: policy 'platform' overlaps policy 'crds' "
          "(overlap/b-tenants.yaml:26): "
          "both govern cluster-scoped objects of kinds '*' and "
          "'apiextensions.k8s.io/CustomResourceDefinition'" +
              fix,
          "overlap/b-tenants.yaml:15:9: policy 'team-b' overlaps policy 'platform' "
          "(overlap/a-platform.yaml:4): both govern namespaces matching both '*' and 'team-b-*' of every "
          "kind" +
              fix,
          "overlap/b-tenants.yaml:26:9: policy 'crds' overlaps policy 'platform' "
          "(overlap/a-platform.yaml:4): "
          "both govern cluster-scoped objects of kinds '*' and "
          "'apiextensions.k8s.io/CustomResourceDefinition'" +
              fix));
}

TEST(PolicyLoader, ReportsDuplicatePolicyNamesAcrossFiles) {
  EXPECT_THAT(
      fixture_errors("duplicate-names"),
      ElementsAre("duplicate-names/two.yaml:5:9: metadata.name: duplicate policy name 'shop' (first defined "
                  "at duplicate-names/one.yaml:4)"));
}

TEST(PolicyLoader, LoadsDirectoryInNameOrderSkippingDotfilesOtherFilesAndSubdirectories) {
  LoadResult result = load_policies(fixture_path("policies/tenants"));
  ASSERT_THAT(messages(result), IsEmpty());
  EXPECT_EQ(result.files, 2u);
  ASSERT_EQ(result.set.policies.size(), 2u);
  EXPECT_EQ(result.set.policies[0].name, "team-a");
  EXPECT_EQ(result.set.policies[1].name, "team-b");
  EXPECT_EQ(result.set.policies[1].file, fixture_path("policies/tenants") + "/team-b.yml");
}

TEST(PolicyLoader, LoadsSeveralPathsAsOneSet) {
  LoadResult result = load_policies(std::vector<std::string>{
      fixture_path("policies/duplicate-names/one.yaml"), fixture_path("policies/tenants")});
  EXPECT_THAT(messages(result), IsEmpty());
  EXPECT_EQ(result.set.policies.size(), 3u);
  EXPECT_EQ(result.files, 3u);
}

TEST(PolicyLoader, FileNamedTwiceLoadsOnce) {
  LoadResult result = load_policies(std::vector<std::string>{fixture_path("policies/tenants/team-a.yaml"),
                                                             fixture_path("policies/tenants")});
  EXPECT_THAT(messages(result), IsEmpty());
  EXPECT_EQ(result.set.policies.size(), 2u);
}

TEST(PolicyLoader, LoadsConfigMapVolumeOncePerPolicy) {
  // The layout kubelet writes for a ConfigMap volume: a timestamped directory, a ..data link to it, and
  // one top-level link per key into ..data/.
  TempDir dir;
  fs::path stamped = dir / "..2026_11_23_12_00_00.123456789";
  write_file(stamped / "prod.yaml", policy_text("prod", "  scope: {namespaces: {include: [prod]}}\n"));
  write_file(stamped / "staging.yaml",
             policy_text("staging", "  scope: {namespaces: {include: [staging]}}\n"));
  fs::create_directory_symlink(stamped.filename(), dir / "..data");
  fs::create_symlink("..data/prod.yaml", dir / "prod.yaml");
  fs::create_symlink("..data/staging.yaml", dir / "staging.yaml");

  LoadResult result = load_policies(dir.path().string());
  ASSERT_THAT(messages(result), IsEmpty());
  EXPECT_EQ(result.files, 2u);
  ASSERT_EQ(result.set.policies.size(), 2u);
  EXPECT_EQ(result.set.policies[0].name, "prod");
  EXPECT_EQ(result.set.policies[0].file, (dir / "prod.yaml").string());
  EXPECT_EQ(result.set.policies[1].name, "staging");
}

TEST(PolicyLoader, SkipsDanglingSymlinkInDirectory) {
  TempDir dir;
  write_file(dir / "a.yaml", policy_text("a"));
  fs::create_symlink("..data/removed.yaml", dir / "removed.yaml");
  LoadResult result = load_policies(dir.path().string());
  EXPECT_THAT(messages(result), IsEmpty());
  EXPECT_EQ(result.set.policies.size(), 1u);
}

TEST(PolicyLoader, MissingPathIsReported) {
  LoadResult result = load_policies("/nonexistent/gitgate-policies");
  EXPECT_THAT(messages(result), ElementsAre("/nonexistent/gitgate-policies: no such file or directory"));
}

// --- Limits: errors, never crashes or stalls ----------------------------------------------------------

TEST(PolicyLoader, RejectsFileOverOneMiB) {
  TempDir dir;
  std::string text = policy_text("big") + "# " + std::string(kMaxPolicyFileBytes, 'x') + "\n";
  write_file(dir / "big.yaml", text);
  LoadResult result = load_policies((dir / "big.yaml").string());
  EXPECT_THAT(messages(result),
              ElementsAre((dir / "big.yaml").string() + ": file is larger than 1 MiB; split it"));
  EXPECT_THAT(messages(load_policies_from_text("big.yaml", text)),
              ElementsAre("big.yaml: file is larger than 1 MiB; split it"));
}

TEST(PolicyLoader, RejectsMoreThanAThousandPolicies) {
  std::string text;
  for (size_t i = 0; i <= kMaxPolicies; ++i)
    text += "---\n" + policy_text("p" + std::to_string(i),
                                  "  scope: {namespaces: {include: [ns" + std::to_string(i) + "]}}\n");
  LoadResult result = load_policies_from_text("many.yaml", text);
  EXPECT_THAT(messages(result), ElementsAre("many.yaml:9005:9: more than 1000 policies; merge some"));
}

TEST(PolicyLoader, RejectsDeepNestingWithoutCrashing) {
  std::string flow =
      policy_text("deep") + "  ignore: " + std::string(100000, '[') + std::string(100000, ']') + "\n";
  EXPECT_THAT(messages(load_policies_from_text("deep.yaml", flow)),
              ElementsAre("deep.yaml:8:73: YAML nesting deeper than 64 levels"));

  std::string block = policy_text("deep") + "  ignore:\n";
  for (int i = 0; i < 500; ++i) block += std::string(4 + 2 * i, ' ') + "-\n";
  LoadResult result = load_policies_from_text("deep.yaml", block);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].message, "YAML nesting deeper than 64 levels");
}

TEST(PolicyLoader, StrayCommaIsASyntaxErrorNotAHang) {
  // yaml-cpp 0.7's LoadAll never returns on these (jbeder/yaml-cpp#1040).
  EXPECT_THAT(
      messages(load_policies_from_text("comma.yaml", ",")),
      ElementsAre("comma.yaml:1:1: YAML syntax error: unexpected content where a document should start"));
  EXPECT_THAT(
      messages(load_policies_from_text("comma.yaml", "{apiVersion: gitgate.dev/v1alpha1}\n, b\n")),
      ElementsAre("comma.yaml:2:1: YAML syntax error: unexpected content where a document should start"));
}

TEST(PolicyLoader, RejectsMoreYamlNodesThanTheLimit) {
  std::string text = "# only scalars\n";
  for (size_t i = 0; i <= kMaxYamlNodes; ++i) text += "- a\n";
  LoadResult result = load_policies_from_text("nodes.yaml", text);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].message, "more than 100000 YAML nodes in one file; split it");
}

TEST(PolicyLoader, BoundsAliasExpansion) {
  std::string doc = policy_text("laughs") + "  ignore:\n";
  // 1000 rules, each pointing at the same 1000-path list: a million paths if expanded naively.
  std::string paths = "    - paths: &p [";
  for (int i = 0; i < 1000; ++i) {
    if (i != 0) paths += ',';
    paths += "/a";
    paths += std::to_string(i);
  }
  paths += "]\n";
  doc += paths;
  for (int i = 0; i < 999; ++i) doc += "    - paths: *p\n";
  LoadResult result = load_policies_from_text("laughs.yaml", doc);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_THAT(
      result.errors[0].message,
      HasSubstr("document has more than 10000 entries (aliases expanded); split it into several policies"));
}

TEST(PolicyLoader, CyclicAliasIsAnErrorNotAHang) {
  // yaml-cpp places an alias where its anchor is written.
  std::string doc = policy_text("cycle") + "  controllers:\n    users: &u [*u]\n";
  LoadResult result = load_policies_from_text("cycle.yaml", doc);
  EXPECT_THAT(messages(result),
              ElementsAre("cycle.yaml:9:12: spec.controllers.users[0]: expected a string, got a list"));
}

TEST(PolicyLoader, RejectsListOverTheItemLimit) {
  std::string users = "[";
  for (size_t i = 0; i <= kMaxListItems; ++i) {
    if (i != 0) users += ',';
    users += 'u';
    users += std::to_string(i);
  }
  LoadResult result =
      load_policies_from_text("long.yaml", policy_text("long", "  breakGlass: {users: " + users + "]}\n"));
  EXPECT_THAT(messages(result), ElementsAre("long.yaml:8:23: spec.breakGlass.users: more than 1000 items"));
}

TEST(PolicyLoader, ManyDisjointTenantsLoadQuickly) {
  std::string text;
  for (size_t i = 0; i < kMaxPolicies; ++i) {
    std::string n = std::to_string(i);
    text += "---\n" +
            policy_text("t" + n, "  scope: {namespaces: {include: [team-" + n + ", team-" + n + "-*]}}\n");
  }
  LoadResult result = load_policies_from_text("tenants.yaml", text);
  EXPECT_THAT(messages(result), IsEmpty());
  EXPECT_EQ(result.set.policies.size(), kMaxPolicies);
}

TEST(PolicyLoader, ListsAtMostAThousandProblems) {
  // 60 policies that all govern everything: 60 * 59 overlap reports.
  std::string text;
  for (int i = 0; i < 60; ++i) text += "---\n" + policy_text("p" + std::to_string(i));
  LoadResult result = load_policies_from_text("all.yaml", text);
  ASSERT_EQ(result.errors.size(), kMaxDiagnostics + 1);
  EXPECT_EQ(result.errors.back().to_string(),
            "all.yaml: more problems not listed (only the first 1000 are shown)");
}

TEST(PolicyLoader, BinaryGarbageIsAnErrorNotACrash) {
  std::string garbage;
  for (int i = 0; i < 4096; ++i) garbage += static_cast<char>((i * 7919) % 256);
  EXPECT_FALSE(load_policies_from_text("garbage.yaml", garbage).ok());
  EXPECT_FALSE(load_policies_from_text("nul.yaml", std::string("apiVersion: \0x\n", 15)).ok());
}

// --- Kind and path patterns --------------------------------------------------------------------------

TEST(KindPattern, ParsesGroupKindForms) {
  struct Case {
    const char* text;
    const char* group;
    const char* kind;
    bool matches;
  };
  const Case cases[] = {
      {"apps/Deployment", "apps", "Deployment", true},
      {"apps/Deployment", "extensions", "Deployment", false},
      {"apps/v1/Deployment", "apps", "Deployment", true},
      {"v1/ConfigMap", "", "ConfigMap", true},
      {"v1/ConfigMap", "apps", "ConfigMap", false},
      {"core/ConfigMap", "", "ConfigMap", true},
      {"core/v1/ConfigMap", "", "ConfigMap", true},
      {"Deployment", "apps", "Deployment", true},
      {"Deployment", "", "Deployment", true},
      {"apps/*", "apps", "StatefulSet", true},
      {"apps/*", "batch", "Job", false},
      {"*Binding", "rbac.authorization.k8s.io", "ClusterRoleBinding", true},
      {"*.k8s.io/*", "networking.k8s.io", "Ingress", true},
      {"*", "", "Secret", true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto parsed = parse_kind_pattern(c.text);
    ASSERT_TRUE(parsed.ok()) << parsed.error();
    EXPECT_EQ(parsed->text, c.text);
    EXPECT_EQ(parsed->matches(c.group, c.kind), c.matches);
  }
}

TEST(KindPattern, RejectsResourceNamesVersionsAndEmptyParts) {
  for (const char* text :
       {"", "deployments", "apps/deployment", "apps/v1", "v1beta1/Foo", "a/b/c/D", "apps//Foo",
        "apps/Deploy ment", "APPS/Deployment", "apps/**", "apps/beta/Deployment"}) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(parse_kind_pattern(text).ok());
  }
}

TEST(PathPattern, UnescapesJsonPointerSegments) {
  auto path = parse_path_pattern("/metadata/annotations/kubectl.kubernetes.io~1restartedAt");
  ASSERT_TRUE(path.ok()) << path.error();
  EXPECT_EQ(path->segments,
            (std::vector<std::string>{"metadata", "annotations", "kubectl.kubernetes.io/restartedAt"}));
  EXPECT_EQ(parse_path_pattern("/data/a~0~1b")->segments, (std::vector<std::string>{"data", "a~/b"}));
  EXPECT_EQ(parse_path_pattern("/spec/containers/*/image")->segments,
            (std::vector<std::string>{"spec", "containers", "*", "image"}));
  EXPECT_EQ(parse_path_pattern("/spec/containers/name=web/image")->segments,
            (std::vector<std::string>{"spec", "containers", "name=web", "image"}));
  EXPECT_EQ(parse_path_pattern("/spec/ports/0")->segments, (std::vector<std::string>{"spec", "ports", "0"}));
}

TEST(PathPattern, RejectsMalformedPointers) {
  for (const char* text : {"", "/", "spec/replicas", "/spec/", "//spec", "/a~", "/a~2", "/a*", "/*x"}) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(parse_path_pattern(text).ok());
  }
  std::string deep;
  for (int i = 0; i < 65; ++i) deep += "/a";
  EXPECT_FALSE(parse_path_pattern(deep).ok());
}

// --- Scope overlap -----------------------------------------------------------------------------------

Scope scope_of(std::vector<std::string> include, std::vector<std::string> exclude, bool cluster,
               std::vector<std::string> kinds = {}) {
  Scope s;
  s.include.clear();
  s.exclude.clear();
  for (auto& i : include) s.include.emplace_back(i);
  for (auto& e : exclude) s.exclude.emplace_back(e);
  s.cluster_scoped = cluster;
  for (auto& k : kinds) s.kinds.push_back(*parse_kind_pattern(k));
  return s;
}

TEST(ScopeOverlap, DisjointTenantPrefixesDoNotOverlap) {
  EXPECT_FALSE(scopes_overlap(scope_of({"team-a-*"}, {}, false), scope_of({"team-b-*"}, {}, false)));
  EXPECT_TRUE(scopes_overlap(scope_of({"team-*"}, {}, false), scope_of({"team-b-*"}, {}, false)));
}

TEST(ScopeOverlap, ExcludeOfEitherPolicyResolvesOverlap) {
  EXPECT_FALSE(scopes_overlap(scope_of({"*"}, {"team-*"}, false), scope_of({"team-a"}, {}, false)));
  EXPECT_FALSE(scopes_overlap(scope_of({"team-a"}, {}, false), scope_of({"*"}, {"team-a"}, false)));
  EXPECT_FALSE(scopes_overlap(scope_of({"shop"}, {"shop"}, false), scope_of({"*"}, {}, false)));
  EXPECT_TRUE(scopes_overlap(scope_of({"*"}, {"team-b"}, false), scope_of({"team-a"}, {}, false)));
}

TEST(ScopeOverlap, ClusterScopedOverlapDependsOnKinds) {
  EXPECT_TRUE(scopes_overlap(scope_of({}, {}, true), scope_of({}, {}, true)));
  EXPECT_FALSE(scopes_overlap(scope_of({}, {}, true, {"rbac.authorization.k8s.io/*"}),
                              scope_of({}, {}, true, {"apiextensions.k8s.io/CustomResourceDefinition"})));
  EXPECT_FALSE(scopes_overlap(scope_of({"a"}, {}, true), scope_of({"b"}, {}, false)));
}

TEST(ScopeOverlap, DisjointKindsInOneNamespaceDoNotOverlap) {
  EXPECT_FALSE(scopes_overlap(scope_of({"shop"}, {}, false, {"apps/Deployment"}),
                              scope_of({"shop"}, {}, false, {"v1/ConfigMap", "batch/*"})));
  EXPECT_TRUE(scopes_overlap(scope_of({"shop"}, {}, false, {"Deployment"}),
                             scope_of({"shop"}, {}, false, {"apps/*"})));
}

// --- Shipped examples ----------------------------------------------------------------------------------

TEST(PolicyExamples, EachShippedExampleValidates) {
  const std::pair<const char*, size_t> examples[] = {
      {"prod.yaml", 1}, {"flux-single-tenant.yaml", 1}, {"flux-multi-tenant.yaml", 3}, {"argocd.yaml", 1}};
  for (const auto& [name, count] : examples) {
    SCOPED_TRACE(name);
    LoadResult result = load_policies(gitgate::testing::source_dir() + "/policies/examples/" + name);
    EXPECT_THAT(messages(result), IsEmpty());
    EXPECT_EQ(result.set.policies.size(), count);
  }
  size_t shipped = 0;
  for (const auto& entry : fs::directory_iterator(gitgate::testing::source_dir() + "/policies/examples"))
    shipped += entry.path().extension() == ".yaml";
  EXPECT_EQ(shipped, std::size(examples)) << "a new example needs a line here";
}

TEST(PolicyExamples, ArgoExampleTreatsOnlyTheApplicationControllerAsAgent) {
  LoadResult result = load_policies(gitgate::testing::source_dir() + "/policies/examples/argocd.yaml");
  ASSERT_EQ(result.set.policies.size(), 1u);
  const Policy& p = result.set.policies[0];
  ASSERT_EQ(p.agents.size(), 1u);
  EXPECT_EQ(texts(p.agents[0].identities.users),
            std::vector<std::string>{"system:serviceaccount:argocd:argocd-application-controller"});
  EXPECT_FALSE(matches_any(p.agents[0].identities.users, "system:serviceaccount:argocd:argocd-server"));
  EXPECT_THAT(texts(p.ownership.labels), ::testing::Contains("app.kubernetes.io/instance"));
  ASSERT_TRUE(p.source.argocd.has_value());
  EXPECT_EQ(p.source.argocd->path, "argocd/apps");
  EXPECT_TRUE(p.ownership.annotations.empty()) << "tracking: label, so Argo CD reads no tracking annotation";
}

TEST(PolicyLoader, ArgoSourceIsExclusiveWithPathsRenderAndFluxAndNamesItsErrors) {
  auto r = load_policies_from_text("t.yaml", policy_text("a", "    paths: [x]\n    render: kustomize\n"
                                                              "    flux:\n      path: clusters/prod\n"
                                                              "    argocd:\n      tracking: labels\n"
                                                              "      destinations: []\n"));
  EXPECT_THAT(messages(r),
              ::testing::IsSupersetOf({HasSubstr("spec.source.argocd: missing required field 'path'"),
                                       HasSubstr("'labels' is not a tracking method; use label, annotation or "
                                                 "annotation+label"),
                                       HasSubstr("a source follows either plain paths or argocd, not both"),
                                       HasSubstr("argocd builds as Argo CD does; leave render out"),
                                       HasSubstr("a source follows either flux or argocd, not both"),
                                       HasSubstr("destinations: empty list; name this cluster as Applications "
                                                 "do")}));
  for (const auto& d : r.errors) EXPECT_THAT(d.to_string(), ::testing::StartsWith("t.yaml:")) << "file:line:col";
}

TEST(PolicyLoader, ArgoTrackingChoosesTheOwnershipKeys) {
  auto annotation = load_policies_from_text(
      "t.yaml", policy_text("a", "    argocd:\n      path: apps\n      tracking: annotation\n"));
  ASSERT_TRUE(annotation.ok()) << messages(annotation).front();
  const Policy& p = annotation.set.policies[0];
  EXPECT_EQ(p.source.argocd->ns, "argocd");
  EXPECT_THAT(texts(p.ownership.labels), Not(::testing::Contains("app.kubernetes.io/instance")));
  EXPECT_THAT(texts(p.ownership.annotations), ::testing::Contains("argocd.argoproj.io/tracking-id"));
  auto both = load_policies_from_text(
      "t.yaml", policy_text("a", "    argocd:\n      path: apps\n      namespace: gitops\n"
                                 "      tracking: annotation+label\n"));
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both.set.policies[0].source.argocd->ns, "gitops");
  EXPECT_THAT(texts(both.set.policies[0].ownership.labels), ::testing::Contains("app.kubernetes.io/instance"));
  EXPECT_THAT(texts(both.set.policies[0].ownership.annotations),
              ::testing::Contains("argocd.argoproj.io/tracking-id"));
}

// --- gitgate policy validate -------------------------------------------------------------------------

TEST(PolicyValidateCommand, PrintsSummaryAndExitsZeroForValidPolicies) {
  auto r = run_command({gitgate::testing::gitgate_binary(), "policy", "validate",
                        gitgate::testing::source_dir() + "/policies/examples/flux-multi-tenant.yaml"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_THAT(r.out, HasSubstr("OK: 3 policies in 1 file\n"));
  EXPECT_THAT(r.out, HasSubstr("team-a ("));
  EXPECT_THAT(r.out, HasSubstr("mode=warn source=https://github.com/example/team-b.git@main paths=k8s"));
  EXPECT_THAT(r.out, HasSubstr("scope: namespaces=team-b,team-b-*"));
}

TEST(PolicyValidateCommand, WarnsWhenARenderToolIsMissingHereAndSaysWhatTheFluxSourceFollows) {
  TempDir dir;
  write_file(dir / "flux.yaml", policy_text("fleet", "    flux:\n      path: clusters/prod\n"
                                                     "    helmCommand: [/nonexistent/helm]\n"
                                                     "    kustomizeCommand: [sh, -c]\n"));
  auto r = run_command({gitgate::testing::gitgate_binary(), "policy", "validate", (dir / "flux.yaml").string()});
  EXPECT_EQ(r.exit_code, 0) << "a warning, not an error: the server may run elsewhere";
  EXPECT_THAT(r.out, HasSubstr("flux=clusters/prod (namespace flux-system)"));
  EXPECT_THAT(r.err, HasSubstr("warning: policy fleet: spec.source.helmCommand '/nonexistent/helm' is not an executable here"));
  EXPECT_THAT(r.err, Not(HasSubstr("kustomizeCommand")));
}

TEST(PolicyLoader, FluxSourceIsExclusiveWithPathsAndRender) {
  auto r = load_policies_from_text("t.yaml", policy_text("a", "    paths: [x]\n    render: kustomize\n"
                                                              "    flux:\n      namespace: Flux\n"));
  EXPECT_THAT(messages(r), ::testing::IsSupersetOf({HasSubstr("spec.source.flux: missing required field 'path'"),
                                                    HasSubstr("spec.source.flux.namespace: "),
                                                    HasSubstr("a source follows either plain paths or flux, not both"),
                                                    HasSubstr("flux builds as Flux does; leave render out")}));
}

TEST(PolicyValidateCommand, PrintsEachErrorAndExitsOne) {
  std::string file = fixture_path("policies/invalid/duplicate-keys.yaml");
  auto r = run_command({gitgate::testing::gitgate_binary(), "policy", "validate", file});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, file + ":9:5: duplicate key 'url' (first at line 8)\n" + file +
                       ":10:3: duplicate key 'mode' (first at line 6)\n");
}

TEST(PolicyValidateCommand, ChecksSeveralPathsTogether) {
  auto r = run_command({gitgate::testing::gitgate_binary(), "policy", "validate",
                        fixture_path("policies/duplicate-names/one.yaml"),
                        fixture_path("policies/duplicate-names/two.yaml")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("duplicate policy name 'shop'"));
}

TEST(PolicyValidateCommand, DirectoryWithoutPoliciesIsAnError) {
  TempDir dir;
  write_file(dir / "notes.txt", "not a policy\n");
  auto r = run_command({gitgate::testing::gitgate_binary(), "policy", "validate", dir.path().string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("no GatePolicy documents found"));
}

TEST(PolicyValidateCommand, ExitsTwoWhenPathDoesNotExist) {
  auto r = run_command({gitgate::testing::gitgate_binary(), "policy", "validate", "/nonexistent/policies"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("/nonexistent/policies: no such file or directory"));
}

TEST(PolicyValidateCommand, HelpDescribesValidate) {
  auto r = run_command({gitgate::testing::gitgate_binary(), "policy", "validate", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("file:line:col"));
  auto policy = run_command({gitgate::testing::gitgate_binary(), "policy", "--help"});
  EXPECT_EQ(policy.exit_code, 0);
  EXPECT_THAT(policy.out, HasSubstr("validate"));
}

}  // namespace
}  // namespace gitgate::policies
