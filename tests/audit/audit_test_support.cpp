#include "tests/audit/audit_test_support.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "tests/support/support.h"

namespace gitgate::audit::testing {

FixtureRequest::FixtureRequest(std::string_view name)
    : body_(gitgate::testing::read_file(gitgate::testing::fixture_path("audit/" + std::string(name)))) {
  auto decoded = decoder_.decode(body_.view());
  if (!decoded) throw std::runtime_error(std::string(name) + ": " + decoded.error());
  request_ = *decoded;
}

std::shared_ptr<const CommitInfo> snapshot_commit() {
  auto c = std::make_shared<CommitInfo>();
  c->id = "3f2c1ab9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3";
  c->author_name = "Flux Bot";
  c->author_email = "flux@example.com";
  c->time = 1'795'420'000;
  c->subject = "shop: bump web";
  c->signature = SignatureStatus::Verified;
  c->signer = "flux@example.com";
  return c;
}

std::shared_ptr<const DeclaredObject> declared_web() {
  auto object = std::make_shared<DeclaredObject>(
      ObjectKey{"apps", "Deployment", "shop", "web"}, "apps/v1",
      R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"shop"},"spec":{"replicas":3}})",
      "clusters/prod/shop/web.yaml", 12, 1);
  auto change = std::make_shared<CommitInfo>();
  change->id = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b";
  change->author_name = "Alice Example";
  change->author_email = "alice@example.com";
  change->time = 1'795'176'000;  // 2026-11-20T12:00:00Z
  change->subject = "shop/web: 3 replicas";
  change->signature = SignatureStatus::Verified;
  change->signer = "alice@example.com";
  object->set_last_change(change);
  return object;
}

Decision deny_web_replicas() {
  Decision d;
  d.allowed = false;
  d.violation = true;
  d.reason = "governed-path-changed";
  d.message =
      "gitgate: Deployment shop/web is declared in Git (clusters/prod/shop/web.yaml:12 @ 3f2c1ab, alice, "
      "2026-11-20, verified by alice@example.com). spec.replicas: Git has 3, request has 5. Change it in Git instead.";
  d.policy = "prod";
  d.mode = Mode::Enforce;
  d.identity = Identity::Person;
  d.snapshot_commit = snapshot_commit();
  d.declared = declared_web();
  d.changed_paths = {"/spec/replicas"};
  return d;
}

Record sample_record(int index) {
  static const char* kUsers[] = {"alice@example.com", "bob",
                                 "system:serviceaccount:flux-system:kustomize-controller"};
  static const char* kNamespaces[] = {"shop", "payments", ""};
  static const char* kKinds[][2] = {
      {"Deployment", "deployments"}, {"ConfigMap", "configmaps"}, {"ClusterRole", "clusterroles"}};
  static const char* kDecisions[] = {"allow", "deny", "warn"};
  static const char* kReasons[] = {"declared-match", "governed-path-changed", "break-glass"};
  Record r;
  r.time_us = kSampleStartUs + int64_t{index} * 1'000'000;
  r.uid = "uid-" + std::to_string(index);
  r.decision = kDecisions[index % 3];
  r.violation = r.decision != "allow";
  r.mode = "enforce";
  r.reason = kReasons[index % 3];
  r.message = r.violation ? "gitgate: declared in Git; change it in Git instead." : "";
  r.identity = index % 3 == 2 ? "agent" : "person";
  r.user = kUsers[index % 3];
  r.groups = {"system:authenticated"};
  r.operation = index % 2 == 0 ? "UPDATE" : "CREATE";
  const int k = (index / 3) % 3;
  r.group = k == 1 ? "" : k == 0 ? "apps" : "rbac.authorization.k8s.io";
  r.version = "v1";
  r.kind = kKinds[k][0];
  r.resource = kKinds[k][1];
  r.ns = kNamespaces[k];
  r.name = "object-" + std::to_string(index % 5);
  r.dry_run = index % 10 == 9;
  r.policy = "prod";
  r.commit =
      index < 50 ? "3f2c1ab9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3" : "77aa88bb99cc00dd11ee22ff33aa44bb55cc66dd";
  r.file = "clusters/prod/" + r.name + ".yaml";
  r.line = 1;
  r.changed_paths = {"/spec/replicas"};
  r.latency_us = 100 + index;
  return r;
}

void write_samples(AuditLog::Options options, int count, int first_index) {
  auto log = AuditLog::open(std::move(options));
  ASSERT_TRUE(log) << log.error();
  for (int i = first_index; i < first_index + count; ++i) (*log)->submit(sample_record(i));
  (*log)->close();
  ASSERT_EQ((*log)->records_written(), static_cast<uint64_t>(count));
}

std::vector<std::string> read_lines(const std::filesystem::path& path) {
  std::vector<std::string> lines;
  std::istringstream in(gitgate::testing::read_file(path));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

void write_lines(const std::filesystem::path& path, const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  gitgate::testing::write_file(path, text);
}

}  // namespace gitgate::audit::testing
