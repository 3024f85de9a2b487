// Flux's ArtifactGenerator copy semantics (source-watcher's builder), on a directory tree: which files an
// ExternalArtifact holds and which Git path each comes from.
#include <gtest/gtest.h>

#include <fstream>

#include "desired/directory_tree.h"
#include "desired/flux/artifact.h"
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
        EXPECT_EQ(tree.read(path), base_.read(out[path]));
      }
    }
  }

  TempDir dir_;
  DirectoryTree base_{dir_.path().string()};
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
  copy(json::array({{{"from", "@repo/top.yaml"}, {"to", "@artifact/"}, {"strategy", "Merge"}}}), &error);
  EXPECT_NE(error.find("the Merge strategy is not built yet"), std::string::npos) << error;
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

}  // namespace
}  // namespace gitgate::desired::flux
