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
  GitView view_{[this](const json&) -> gitgate::Result<const SourceTree*> {
    if (other_repository_) return Error{"another repository"};
    return &tree_;
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

// Go template pipelines with the functions ApplicationSets commonly use, pathParamPrefix, and elementsYaml.
TEST_F(ApplicationSets, PipelinesPathParamPrefixAndElementsYamlAreEvaluatedAsArgoCDDoes) {
  auto apps = generate(R"({"metadata": {"name": "apps", "namespace": "argocd"}, "spec": {
    "goTemplate": true,
    "generators": [{"matrix": {"generators": [
      {"git": {"repoURL": "x", "pathParamPrefix": "app", "directories": [{"path": "apps/w*"}]}},
      {"list": {"elementsYaml": "- env: Dev_Env\n  tier: \"\"\n- env: prod\n  tier: gold\n"}}]}}],
    "template": {"metadata": {"name": "{{ .app.path.basename }}-{{ .env | normalize }}"},
                 "spec": {"source": {"path": "{{ index .app.path.segments 0 }}/{{ .app.path.basename | upper }}"},
                          "destination": {"namespace": "{{ .env | lower | replace \"_\" \"-\" | trimSuffix \"-env\" }}"},
                          "project": "{{ default \"silver\" .tier | quote }}"}}}})");
  ASSERT_TRUE(apps.ok()) << apps.error();
  EXPECT_EQ(names(*apps), (std::vector<std::string>{"web-dev-env", "web-prod"}));
  EXPECT_EQ((*apps)[0]["spec"]["source"]["path"], "apps/WEB");
  EXPECT_EQ((*apps)[0]["spec"]["destination"]["namespace"], "dev");
  EXPECT_EQ((*apps)[0]["spec"]["project"], "\"silver\"") << "default replaces an empty value";
  EXPECT_EQ((*apps)[1]["spec"]["project"], "\"gold\"");
  auto flat = generate(R"({"spec": {"generators": [{"git": {"repoURL": "x", "pathParamPrefix": "app",
    "files": [{"path": "clusters/*/config.json"}]}}],
    "template": {"metadata": {"name": "{{cluster.name}}-{{app.path.basename}}"}}}})");
  ASSERT_TRUE(flat.ok()) << flat.error();
  EXPECT_EQ(names(*flat), (std::vector<std::string>{"dev-dev", "prod-prod"}));
  auto out_of_range = generate(R"({"spec": {"goTemplate": true, "generators": [{"list": {"elements": [{"a": ["x"]}]}}],
    "template": {"metadata": {"name": "{{ index .a 3 }}"}}}})");
  ASSERT_FALSE(out_of_range.ok());
  EXPECT_NE(out_of_range.error().find("index out of range"), std::string::npos) << out_of_range.error();
}

TEST_F(ApplicationSets, WhatGitAloneCannotTellIsReportedNotGuessed) {
  auto clusters = generate(R"({"spec": {"generators": [{"clusters": {}}], "template": {}}})");
  ASSERT_FALSE(clusters.ok());
  EXPECT_NE(clusters.error().find("the clusters generator needs the cluster's state"), std::string::npos);
  auto scm = generate(R"({"spec": {"generators": [{"scmProvider": {}}], "template": {}}})");
  ASSERT_FALSE(scm.ok());
  EXPECT_NE(scm.error().find("needs an API outside Git"), std::string::npos);
  for (const char* expr : {"{{ .a | sha256sum }}", "{{ template \\\"x\\\" }}", "{{ range $i, $v, $w := .a }}{{ end }}",
                           "{{ index .a - }}", "{{ printf \\\"%x\\\" .a }}", "{{ eq .a 1 }}"}) {
    auto functions = generate(std::string(R"({"spec": {"goTemplate": true, "generators": [{"list": {"elements": [{"a": "x"}]}}],
      "template": {"metadata": {"name": ")") + expr + R"("}}}})");
    ASSERT_FALSE(functions.ok()) << expr;
    EXPECT_NE(functions.error().find("gitgate does not evaluate"), std::string::npos) << functions.error();
  }
  auto templated = generate(R"({"spec": {"generators": [{"list": {"elementsYaml": "{{ .x | toJson }}"}}],
    "template": {"metadata": {"name": "x"}}}})");
  ASSERT_FALSE(templated.ok());
  EXPECT_NE(templated.error().find("elementsYaml with templates"), std::string::npos) << templated.error();
  other_repository_ = true;
  auto other = generate(R"({"spec": {"generators": [{"git": {"repoURL": "y", "directories": [{"path": "*"}]}}],
    "template": {"metadata": {"name": "x"}}}})");
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error(), "another repository");
}

// templatePatch, as Argo CD applies it: rendered with the element's parameters (if, variables, range and
// the sprig functions people write there), then merged into the Application: maps merge, lists are replaced,
// null removes. A patch that turns automated sync off is what the controller writes, so it is declared.
TEST_F(ApplicationSets, TemplatePatchIsRenderedAndMergedAsTheControllerDoes) {
  auto apps = generate(R"({"metadata": {"name": "apps", "namespace": "argocd"}, "spec": {
    "goTemplate": true,
    "generators": [{"list": {"elements": [
      {"name": "web", "autoSync": "true", "syncOptions": ["CreateNamespace=true", "ServerSideApply=true"]},
      {"name": "db", "autoSync": "false", "annotations": {"team": "data"}}]}}],
    "template": {"metadata": {"name": "{{.name}}"},
                 "spec": {"project": "default", "source": {"path": "apps/{{.name}}"},
                          "syncPolicy": {"automated": {"prune": true, "selfHeal": true},
                                         "syncOptions": ["ApplyOutOfSyncOnly=true"]}}},
    "templatePatch": "{{- $manual := eq .autoSync \"false\" }}\n{{- if $manual }}\nspec:\n  syncPolicy:\n    automated: null\n{{- else }}\nspec:\n  syncPolicy:\n    syncOptions:\n    {{- range .syncOptions }}\n      - {{ . }}\n    {{- end }}\n{{- end }}\n{{- with .annotations }}\nmetadata:\n  annotations: {{ toJson . }}\n{{- end }}\n"}})");
  ASSERT_TRUE(apps.ok()) << apps.error();
  ASSERT_EQ(apps->size(), 2u);
  const json& web = (*apps)[0];
  const json& db = (*apps)[1];
  EXPECT_EQ(web["spec"]["syncPolicy"]["automated"]["selfHeal"], true);
  EXPECT_EQ(web["spec"]["syncPolicy"]["syncOptions"], json({"CreateNamespace=true", "ServerSideApply=true"}))
      << "a list is replaced, not merged";
  EXPECT_FALSE(db["spec"]["syncPolicy"].contains("automated")) << "null removes: " << db.dump();
  EXPECT_EQ(db["spec"]["syncPolicy"]["syncOptions"], json({"ApplyOutOfSyncOnly=true"}));
  EXPECT_EQ(db["metadata"]["annotations"]["team"], "data");
  EXPECT_EQ(db["metadata"]["namespace"], "argocd");
  EXPECT_EQ(db["spec"]["source"]["path"], "apps/db") << "the rest of the template stays";

  auto broken = generate(R"({"spec": {"goTemplate": true, "generators": [{"list": {"elements": [{"a": "x"}]}}],
    "template": {"metadata": {"name": "x"}}, "templatePatch": "spec: [unclosed"}})");
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.error().find("spec.templatePatch renders YAML that does not parse"), std::string::npos)
      << broken.error();
}

}  // namespace
}  // namespace gitgate::desired::argocd
