// Writes a realistic audit log for bench/audit-report through the real writer (hash chain, rotation at
// 100 MiB): COUNT decisions over 30 days ending 2026-11-23, a new snapshot commit every 12 hours, 5,000
// objects in 40 namespaces, 400 people, and a mix close to a busy cluster's: mostly agents applying what Git
// says and controllers, a tenth people denied, some warnings, break-glass uses and agent mismatches.
//
// Usage: audit_log_gen FILE COUNT
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "audit/log.h"
#include "core/web_url.h"

namespace {

using gitgate::audit::Record;

constexpr int64_t kEndUs = 1'795'428'000'000'000;  // 2026-11-23T10:00:00Z
constexpr int64_t kSpanUs = int64_t{30} * 86'400'000'000;
constexpr int64_t kCommitEveryUs = int64_t{12} * 3'600'000'000;
constexpr const char* kTemplate = "https://github.com/example/fleet/blob/{commit}/{path}#L{line}";

std::string commit_id(int64_t n) {
  char buf[41];
  std::snprintf(buf, sizeof buf, "%08llx%032llx",
                static_cast<unsigned long long>(n * 2654435761u % 4294967296u),
                static_cast<unsigned long long>(n) * 0x9E3779B97F4A7C15ull % 1000000000000000ull);
  return std::string(buf, 40);
}

struct Kind {
  const char* group;
  const char* kind;
  const char* resource;
};
constexpr Kind kKinds[] = {{"apps", "Deployment", "deployments"},
                           {"", "ConfigMap", "configmaps"},
                           {"", "Service", "services"},
                           {"apps", "StatefulSet", "statefulsets"},
                           {"networking.k8s.io", "Ingress", "ingresses"}};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: audit_log_gen FILE COUNT\n");
    return 2;
  }
  const long long count = std::atoll(argv[2]);
  gitgate::audit::AuditLog::Options options;
  options.file = argv[1];
  options.max_files = 50;
  auto log = gitgate::audit::AuditLog::open(options);
  if (!log) {
    std::fprintf(stderr, "audit_log_gen: %s\n", log.error().c_str());
    return 1;
  }
  std::mt19937_64 random(23);
  auto pick = [&](uint64_t n) { return random() % n; };
  for (long long i = 0; i < count; ++i) {
    Record r;
    r.time_us = kEndUs - kSpanUs + kSpanUs * i / count;
    const int64_t snapshot = (r.time_us - (kEndUs - kSpanUs)) / kCommitEveryUs;
    r.uid = std::to_string(random()) + "-" + std::to_string(i);
    const Kind& kind = kKinds[pick(5)];
    r.group = kind.group;
    r.version = "v1";
    r.kind = kind.kind;
    r.resource = kind.resource;
    const uint64_t object = pick(5000);
    r.ns = "team-" + std::to_string(object % 40);
    r.name = "app-" + std::to_string(object);
    r.policy = "prod";
    r.mode = "enforce";
    r.operation = "UPDATE";
    r.commit = commit_id(snapshot);
    r.file = "clusters/prod/" + r.ns + "/" + r.name + ".yaml";
    r.line = static_cast<uint32_t>(1 + pick(40));
    r.url = gitgate::expand_web_url(kTemplate, r.commit, r.file, r.line);
    r.file_commit = commit_id(snapshot - static_cast<int64_t>(pick(5)));
    r.author = "Alice Example <alice@example.com>";
    r.author_time = (r.time_us - static_cast<int64_t>(pick(86'400'000'000))) / 1'000'000;
    r.signature = "verified";
    r.signer = "alice@example.com";
    r.latency_us = static_cast<int64_t>(40 + pick(400));
    const std::string person = "user" + std::to_string(pick(400)) + "@example.com";
    const std::string cited = " is declared in Git (" + r.file + ":" + std::to_string(r.line) + " @ " +
                              r.commit.substr(0, 7) +
                              ", Alice Example, 2026-11-20, verified by alice@example.com).";
    const uint64_t roll = pick(1000);
    if (roll < 600) {
      r.decision = "allow";
      r.reason = "agent-matches-git";
      r.identity = "agent";
      r.agent = "flux";
      r.user = "system:serviceaccount:flux-system:kustomize-controller";
      r.groups = {"system:serviceaccounts", "system:serviceaccounts:flux-system", "system:authenticated"};
      r.dry_run = pick(4) == 0;
    } else if (roll < 780) {
      r.decision = "allow";
      r.reason = "controller-undeclared-paths";
      r.identity = "controller";
      r.user = "system:serviceaccount:kube-system:horizontal-pod-autoscaler";
      r.groups = {"system:serviceaccounts", "system:authenticated"};
      r.changed_paths = {"/status/replicas"};
    } else if (roll < 880) {
      r.decision = "deny";
      r.violation = true;
      r.reason = "governed-path-changed";
      r.identity = "person";
      r.user = person;
      r.groups = {"developers", "system:authenticated"};
      r.changed_paths = {"/spec/replicas"};
      r.message = "gitgate: " + std::string(r.kind) + " " + r.ns + "/" + r.name + cited +
                  " spec.replicas: Git has 3, request has 5. Change it in Git instead. " + r.url;
    } else if (roll < 940) {
      r.decision = "deny";
      r.violation = true;
      r.reason = "declared-object-delete";
      r.identity = "person";
      r.operation = "DELETE";
      r.user = person;
      r.groups = {"developers", "system:authenticated"};
      r.message = "gitgate: " + std::string(r.kind) + " " + r.ns + "/" + r.name + cited +
                  " Deleting it is not allowed: remove it from Git instead. " + r.url;
    } else if (roll < 990) {
      r.decision = "warn";
      r.mode = "warn";
      r.violation = true;
      r.reason = "governed-path-changed";
      r.identity = "person";
      r.user = person;
      r.groups = {"developers", "system:authenticated"};
      r.changed_paths = {"/spec/template/spec/containers/name=app/image"};
      r.message =
          "gitgate: " + std::string(r.kind) + " " + r.ns + "/" + r.name + cited +
          " spec.template.spec.containers[name=app].image: Git has \"app:1.4.2\", request has \"app:1.4.3\". "
          "Change it in Git instead. " +
          r.url;
    } else if (roll < 997) {
      r.decision = "warn";
      r.violation = true;
      r.reason = "break-glass";
      r.identity = "break-glass";
      r.user = "oncall" + std::to_string(pick(8)) + "@example.com";
      r.groups = {"sre", "gitgate:break-glass", "system:authenticated"};
      r.changed_paths = {"/spec/replicas"};
      r.message = "gitgate: " + std::string(r.kind) + " " + r.ns + "/" + r.name + cited +
                  " spec.replicas: Git has 3, request has 8. Change it in Git instead. " + r.url;
    } else {
      r.decision = "deny";
      r.violation = true;
      r.reason = "agent-git-mismatch";
      r.identity = "agent";
      r.agent = "flux";
      r.user = "system:serviceaccount:flux-system:kustomize-controller";
      r.groups = {"system:serviceaccounts", "system:serviceaccounts:flux-system", "system:authenticated"};
      r.message =
          "gitgate: " + std::string(r.kind) + " " + r.ns + "/" + r.name +
          " written by agent flux does not match Git (" + r.file + ":" + std::to_string(r.line) + " @ " +
          r.commit.substr(0, 7) +
          ") nor any of the 4 commits before it. spec.template.spec.containers[name=app].image: Git has "
          "\"app:1.4.2\", request has \"app:9.9.9\". Change it in Git instead. " +
          r.url;
    }
    (*log)->submit(std::move(r));
  }
  (*log)->close();
  std::printf("audit_log_gen: %lld records written to %s (and its rotations)\n", count, argv[1]);
  return 0;
}
