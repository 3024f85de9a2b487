// The Applications an ApplicationSet generates from what Git alone tells (list, git directories and files,
// matrix, merge; Go templates and fasttemplate), and the generators that need more, reported.
#include "desired/argocd/application_set.h"

#include <gtest/gtest.h>

#include "desired/directory_tree.h"
#include "tests/support/support.h"

namespace gitgate::desired::argocd {
namespace {

using json = nlohmann::json;
using gitgate::testing::TempDir;
using gitgate::testing::write_file;

class ApplicationSets : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(dir_ / "clusters/dev/config.json", R"({"cluster": {"name": "dev", "replicas": 1}})");
    write_file(dir_ / "clusters/prod/config.json", R"({"cluster": {"name": "prod", "replicas": 3}})");
    write_file(dir_ / "apps/web/deploy.yaml", "kind: ConfigMap\n");
    write_file(dir_ / "apps/api/deploy.yaml", "kind: ConfigMap\n");
    write_file(dir_ / "apps/legacy/deploy.yaml", "kind: ConfigMap\n");
  }

  gitgate::Result<std::vector<json>> generate(const std::string& yaml_json) {
    json set = json::parse(yaml_json);
    return generate_applications(set, view_, 100);
  }

  static std::vector<std::string> names(const std::vector<json>& apps) {
    std::vector<std::string> out;
    for (const auto& a : apps) out.push_back(a["metadata"]["name"]);
    return out;
  }

  TempDir dir_;
  DirectoryTree tree_{dir_.path().string()};
  bool other_repository_ = false;
  GitView view_{tree_, [this](const json&) -> gitgate::Status {
                  if (other_repository_) return Error{"another repository"};
                  return Status::Ok();
                }};
};

TEST_F(ApplicationSets, AMatrixOfGitDirectoriesAndAListRendersGoTemplates) {
  auto apps = generate(R"({"metadata": {"name": "apps", "namespace": "argocd"}, "spec": {
    "goTemplate": true,
    "generators": [{"matrix": {"generators": [
      {"git": {"repoURL": "x", "directories": [{"path": "apps/*"}, {"path": "apps/legacy", "exclude": true}]}},
      {"list": {"elements": [{"env": "dev"}, {"env": "prod"}]}}]}}],
    "template": {"metadata": {"name": "{{.path.basename}}-{{ .env }}"},
                 "spec": {"source": {"path": "{{.path.path}}"}, "destination": {"namespace": "{{.env}}"}}}}})");
  ASSERT_TRUE(apps.ok()) << apps.error();
  EXPECT_EQ(names(*apps), (std::vector<std::string>{"api-dev", "api-prod", "web-dev", "web-prod"}));
  EXPECT_EQ((*apps)[0]["spec"]["source"]["path"], "apps/api");
  EXPECT_EQ((*apps)[0]["metadata"]["namespace"], "argocd");
  EXPECT_EQ((*apps)[0]["kind"], "Application");
}

TEST_F(ApplicationSets, GitFilesAreFlattenedForFasttemplateAndMergedByKey) {
  auto apps = generate(R"({"metadata": {"name": "clusters", "namespace": "argocd"}, "spec": {
    "generators": [{"merge": {"mergeKeys": ["cluster.name"], "generators": [
      {"git": {"repoURL": "x", "files": [{"path": "clusters/*/config.json"}]}},
      {"list": {"elements": [{"cluster": {"name": "prod", "replicas": 5}}]}}]}}],
    "template": {"metadata": {"name": "web-{{cluster.name}}"},
                 "spec": {"source": {"helm": {"parameters": [{"name": "replicas", "value": "{{cluster.replicas}}"}]}},
                          "destination": {"namespace": "{{path.basename}}"}}}}})");
  ASSERT_TRUE(apps.ok()) << apps.error();
  EXPECT_EQ(names(*apps), (std::vector<std::string>{"web-dev", "web-prod"}));
  EXPECT_EQ((*apps)[0]["spec"]["source"]["helm"]["parameters"][0]["value"], "1");
  EXPECT_EQ((*apps)[1]["spec"]["source"]["helm"]["parameters"][0]["value"], "5") << "merged over the file";
  EXPECT_EQ((*apps)[1]["spec"]["destination"]["namespace"], "prod");
}

TEST_F(ApplicationSets, WhatGitAloneCannotTellIsReportedNotGuessed) {
  auto clusters = generate(R"({"spec": {"generators": [{"clusters": {}}], "template": {}}})");
  ASSERT_FALSE(clusters.ok());
  EXPECT_NE(clusters.error().find("the clusters generator needs the cluster's state"), std::string::npos);
  auto scm = generate(R"({"spec": {"generators": [{"scmProvider": {}}], "template": {}}})");
  ASSERT_FALSE(scm.ok());
  EXPECT_NE(scm.error().find("needs an API outside Git"), std::string::npos);
  auto functions = generate(R"({"spec": {"goTemplate": true, "generators": [{"list": {"elements": [{"a": "x"}]}}],
    "template": {"metadata": {"name": "{{ .a | upper }}"}}}})");
  ASSERT_FALSE(functions.ok());
  EXPECT_NE(functions.error().find("uses Go template functions"), std::string::npos) << functions.error();
  other_repository_ = true;
  auto other = generate(R"({"spec": {"generators": [{"git": {"repoURL": "y", "directories": [{"path": "*"}]}}],
    "template": {"metadata": {"name": "x"}}}})");
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error(), "another repository");
}

}  // namespace
}  // namespace gitgate::desired::argocd
