// Flux's ArtifactGenerator copy semantics (source-watcher's builder), on a directory tree: which files an
// ExternalArtifact holds and which Git path each comes from.
#include <gtest/gtest.h>

#include <fstream>

#include "desired/directory_tree.h"
#include "desired/flux/artifact.h"
#include "manifests/yaml_document.h"
#include "tests/support/support.h"

namespace gitgate::desired::flux {
namespace {

using json = nlohmann::json;
using gitgate::testing::TempDir;

class ArtifactCopy : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* path : {"apps/base/podinfo/kustomization.yaml", "apps/base/podinfo/release.yaml",
                             "apps/base/README.md", "apps/production/kustomization.yaml",
                             "apps/production/testdata/x.yaml", "infrastructure/configs/issuer.yaml",
                             "infrastructure/controllers/cert-manager.yaml", "infrastructure/notes.md", "top.yaml"}) {
      std::filesystem::create_directories((dir_ / path).parent_path());
      std::ofstream(dir_ / path) << "# " << path << "\n";
    }
  }

  // artifact path -> Git path, or the error.
  std::map<std::string, std::string> copy(const json& ops, std::string* error = nullptr) {
    std::map<std::string, ArtifactSource> sources{{"repo", {&base_, nullptr, ""}},
                                                  {"broken", {nullptr, nullptr, "it could not be fetched"}}};
    auto tree = build_artifact(sources, json{{"name", "a"}, {"copy", ops}});
    if (!tree) {
      if (error != nullptr) *error = tree.error();
      return {};
    }
    std::map<std::string, std::string> out;
    walk(**tree, "", out);
    return out;
  }

  void walk(const ArtifactTree& tree, const std::string& dir, std::map<std::string, std::string>& out) {
    for (const auto& e : tree.list(dir)) {
      std::string path = dir.empty() ? e.name : dir + "/" + e.name;
      if (e.directory) {
        walk(tree, path, out);
      } else {
        const ArtifactTree::Origin* from = tree.origin(path);
        ASSERT_NE(from, nullptr) << path;
        out[path] = from->path;
        if (from->content == nullptr) {
          EXPECT_EQ(tree.read(path), base_.read(out[path]));
        } else {
          contents_[path] = *from->content;
        }
      }
    }
  }

  void write(const std::string& path, const std::string& text) {
    std::filesystem::create_directories((dir_ / path).parent_path());
    std::ofstream(dir_ / path) << text;
  }

  TempDir dir_;
  DirectoryTree base_{dir_.path().string()};
  std::map<std::string, std::string> contents_;  // what merged and extracted files hold
};

TEST_F(ArtifactCopy, AGlobOfADirectorysContentsStripsItsPrefixAndCopiesSubdirectoriesWhole) {
  auto files = copy(json::array({{{"from", "@repo/apps/base/**"}, {"to", "@artifact/base/"}},
                                 {{"from", "@repo/apps/production/**"}, {"to", "@artifact/production/"}}}));
  std::map<std::string, std::string> want{
      {"base/podinfo/kustomization.yaml", "apps/base/podinfo/kustomization.yaml"},
      {"base/podinfo/release.yaml", "apps/base/podinfo/release.yaml"},
      {"base/README.md", "apps/base/README.md"},
      {"production/kustomization.yaml", "apps/production/kustomization.yaml"},
      {"production/testdata/x.yaml", "apps/production/testdata/x.yaml"}};
  EXPECT_EQ(files, want);
}

TEST_F(ArtifactCopy, ADirectoryIsCopiedAsASubdirectoryAndAFileToAPathOrIntoADirectory) {
  auto files = copy(json::array({{{"from", "@repo/infrastructure/configs/"}, {"to", "@artifact/infra/"}},
                                 {{"from", "@repo/top.yaml"}, {"to", "@artifact/renamed.yaml"}},
                                 {{"from", "@repo/top.yaml"}, {"to", "@artifact/infra/"}}}));
  std::map<std::string, std::string> want{{"infra/configs/issuer.yaml", "infrastructure/configs/issuer.yaml"},
                                          {"renamed.yaml", "top.yaml"},
                                          {"infra/top.yaml", "top.yaml"}};
  EXPECT_EQ(files, want);
}

TEST_F(ArtifactCopy, OtherGlobsKeepTheMatchedPathAndExcludesApplyByNameOrBelowTheSelection) {
  auto files = copy(json::array({{{"from", "@repo/infrastructure/*"},
                                  {"to", "@artifact/"},
                                  {"exclude", json::array({"*.md", "controllers/**"})}},
                                 {{"from", "@repo/apps/production/**"},
                                  {"to", "@artifact/prod/"},
                                  {"exclude", json::array({"**/testdata/**"})}}}));
  std::map<std::string, std::string> want{
      {"infrastructure/configs/issuer.yaml", "infrastructure/configs/issuer.yaml"},
      {"prod/kustomization.yaml", "apps/production/kustomization.yaml"}};
  EXPECT_EQ(files, want);
}

TEST_F(ArtifactCopy, LaterCopiesOverwriteEarlierOnes) {
  auto files = copy(json::array({{{"from", "@repo/top.yaml"}, {"to", "@artifact/x.yaml"}},
                                 {{"from", "@repo/infrastructure/notes.md"}, {"to", "@artifact/x.yaml"}}}));
  EXPECT_EQ(files, (std::map<std::string, std::string>{{"x.yaml", "infrastructure/notes.md"}}));
}

TEST_F(ArtifactCopy, WhatSourceWatcherRefusesOrGitgateCannotBuildFailsWithTheReason) {
  std::string error;
  copy(json::array({{{"from", "@repo/nothing/**"}, {"to", "@artifact/"}}}), &error);
  EXPECT_NE(error.find("no files match 'nothing/**'"), std::string::npos) << error;
  copy(json::array({{{"from", "@repo/missing.yaml"}, {"to", "@artifact/"}}}), &error);
  EXPECT_NE(error.find("source 'missing.yaml' does not exist"), std::string::npos) << error;
  copy(json::array({{{"from", "@other/top.yaml"}, {"to", "@artifact/"}}}), &error);
  EXPECT_NE(error.find("no source has the alias 'other'"), std::string::npos) << error;
  copy(json::array({{{"from", "@broken/top.yaml"}, {"to", "@artifact/"}}}), &error);
  EXPECT_NE(error.find("source 'broken': it could not be fetched"), std::string::npos) << error;
  copy(json::array({{{"from", "@repo/top.yaml"}, {"to", "artifact/"}}}), &error);
  EXPECT_NE(error.find("a destination starts with '@artifact/'"), std::string::npos) << error;
  copy(json::array({{{"from", "@repo/top.yaml"}, {"to", "@artifact/../x.yaml"}}}), &error);
  EXPECT_NE(error.find("leaves the artifact"), std::string::npos) << error;
  copy(json::array({{{"from", "@repo/top.yaml"}, {"to", "@artifact/"}, {"strategy", "Replace"}}}), &error);
  EXPECT_NE(error.find("unknown strategy 'Replace'"), std::string::npos) << error;
  copy(json::array({{{"from", "@repo/infrastructure/*.md"}, {"to", "@artifact/"}, {"exclude", {"*.md"}}}}), &error);
  EXPECT_NE(error.find("is excluded"), std::string::npos) << error;
}

TEST(ArtifactGlobs, PathMatchStaysInASegmentAndDoublestarCrossesThem) {
  EXPECT_TRUE(path_match("apps/*", "apps/web"));
  EXPECT_FALSE(path_match("apps/*", "apps/web/x.yaml"));
  EXPECT_TRUE(path_match("apps/**", "apps/web")) << "without doublestar, ** is *";
  EXPECT_TRUE(doublestar_match("**/testdata/**", "a/b/testdata/x.yaml"));
  EXPECT_TRUE(doublestar_match("**/testdata/**", "testdata/x.yaml"));
  EXPECT_FALSE(doublestar_match("testdata/*", "a/testdata/x.yaml"));
  EXPECT_TRUE(doublestar_match("*.md", "README.md"));
}

// Merge: a YAML file copied onto one the artifact holds is merged into it as Helm merges values (its
// documents as one map, maps key by key, lists replaced), and cites the file merged in; onto nothing, it is a
// copy. Extract: tarballs are unpacked into the destination, each file citing its tarball; a glob may use
// "**" and skips what is not a tarball.
TEST_F(ArtifactCopy, MergeDeepMergesYamlAndExtractUnpacksTarballs) {
  write("values/base.yaml", "image:\n  repository: web\n  tag: '1.0'\nreplicas: 1\nlist: [a, b]\n");
  write("values/prod.yaml", "image:\n  tag: '2.0'\nlist: [c]\n---\nextra: true\n");
  write("values/list.yaml", "- not\n- a map\n");
  auto files = copy(json::array({{{"from", "@repo/values/base.yaml"}, {"to", "@artifact/values.yaml"}},
                                 {{"from", "@repo/values/prod.yaml"}, {"to", "@artifact/values.yaml"}, {"strategy", "Merge"}},
                                 {{"from", "@repo/values/prod.yaml"}, {"to", "@artifact/fresh.yaml"}, {"strategy", "Merge"}}}));
  EXPECT_EQ(files["values.yaml"], "values/prod.yaml") << "a merge cites the file merged in";
  EXPECT_EQ(files["fresh.yaml"], "values/prod.yaml");
  EXPECT_FALSE(contents_.contains("fresh.yaml")) << "onto nothing, Merge copies";
  auto merged = manifests::yaml_documents_as_json(contents_["values.yaml"]);
  ASSERT_TRUE(merged.ok()) << merged.error();
  ASSERT_EQ(merged->size(), 1u);
  EXPECT_EQ(json::parse((*merged)[0]),
            json::parse(R"({"image":{"repository":"web","tag":"2.0"},"replicas":1,"list":["c"],"extra":true})"));
  std::string error;
  copy(json::array({{{"from", "@repo/values/base.yaml"}, {"to", "@artifact/v.yaml"}},
                    {{"from", "@repo/values/list.yaml"}, {"to", "@artifact/v.yaml"}, {"strategy", "Merge"}}}),
       &error);
  EXPECT_NE(error.find("'values/list.yaml' is not a YAML map"), std::string::npos) << error;

  TempDir chart;
  std::filesystem::create_directories(chart.path() / "web" / "templates");
  std::ofstream(chart.path() / "web" / "Chart.yaml") << "name: web\nversion: 1.0.0\n";
  std::ofstream(chart.path() / "web" / "templates" / "d.yaml") << "kind: Deployment\n";
  std::filesystem::create_directories(dir_ / "charts" / "nested");
  auto tar = gitgate::testing::run_command({"tar", "-czf", (dir_ / "charts" / "nested" / "web-1.0.0.tgz").string(), "-C",
                                            chart.path().string(), "web"},
                                           std::chrono::seconds(30));
  ASSERT_EQ(tar.exit_code, 0) << tar.err;
  write("charts/README.md", "not a tarball\n");
  auto extracted = copy(json::array({{{"from", "@repo/charts/**"}, {"to", "@artifact/vendor/"}, {"strategy", "Extract"}}}));
  EXPECT_EQ(extracted, (std::map<std::string, std::string>{{"vendor/web/Chart.yaml", "charts/nested/web-1.0.0.tgz"},
                                                           {"vendor/web/templates/d.yaml", "charts/nested/web-1.0.0.tgz"}}));
  EXPECT_EQ(contents_["vendor/web/Chart.yaml"], "name: web\nversion: 1.0.0\n");
  copy(json::array({{{"from", "@repo/charts/README.md"}, {"to", "@artifact/"}, {"strategy", "Extract"}}}), &error);
  EXPECT_NE(error.find("takes a .tar.gz or .tgz file, not 'charts/README.md'"), std::string::npos) << error;
  copy(json::array({{{"from", "@repo/charts"}, {"to", "@artifact/"}, {"strategy", "Extract"}}}), &error);
  EXPECT_NE(error.find("'charts' is a directory"), std::string::npos) << error;
}

}  // namespace
}  // namespace gitgate::desired::flux
