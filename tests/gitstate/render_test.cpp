// render: kustomize with the real `kubectl kustomize`: overlays over bases outside the rendered directory,
// origin-based provenance, and failures that keep the last good snapshot.
#include <gtest/gtest.h>

#include "tests/gitstate/git_helpers.h"

namespace gitgate::gitstate {
namespace {

using namespace std::chrono_literals;
using namespace gitgate::gitstate::testing;

std::string head_of(const Source& source) {
  auto window = source.window().load();
  return window && window->current() ? window->current()->commit().id : "";
}

class RenderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!gitgate::testing::have_command("kubectl")) GTEST_SKIP() << "kubectl is not installed";
    repo.write("base/kustomization.yaml", "resources:\n  - deployment.yaml\n");
    repo.write("base/deployment.yaml", "# the web tier\n" + deployment("web", 2));
    repo.write("overlays/prod/kustomization.yaml",
               "resources:\n  - ../../base\nnamePrefix: prod-\nnamespace: prod\n"
               "configMapGenerator:\n  - name: settings\n    literals: [mode=prod]\n");
    first = repo.commit("base and prod overlay");
    repo.push();
  }
  SourceOptions options() {
    auto o = test_options(repo.file_url(), cache.path().string());
    o.spec.render = Render::Kustomize;
    o.spec.paths = {"overlays/prod"};
    o.spec.render_timeout = 20s;
    return o;
  }
  std::unique_ptr<Source> started(const SourceOptions& o) {
    auto source = Source::create(o);
    if (!source.ok()) throw std::runtime_error(source.error());
    (*source)->start();
    return std::move(*source);
  }
  WorkRepo repo;
  TempDir cache;
  std::string first;
};

TEST_F(RenderTest, RendersOverlaysAndNamesTheSourceFiles) {
  auto source = started(options());
  ASSERT_TRUE(eventually([&] { return head_of(*source) == first; }, 20s)) << source->status().last_error;
  const Snapshot& s = *source->window().load()->current();
  auto web = s.find({"apps", "Deployment", "prod", "prod-web"});
  ASSERT_TRUE(web.declared());
  EXPECT_EQ(web.object->file(), "base/deployment.yaml");
  EXPECT_EQ(web.object->line(), 2u);
  EXPECT_EQ(web.object->json().find("config.kubernetes.io/origin"), std::string::npos) << web.object->json();
  ASSERT_TRUE(web.object->last_change());
  EXPECT_EQ(web.object->last_change()->id, first);
  const DeclaredObject* generated = nullptr;
  for (const auto& object : s.objects())
    if (object->key().kind == "ConfigMap") generated = object.get();
  ASSERT_NE(generated, nullptr);
  EXPECT_EQ(generated->key().ns, "prod");
  EXPECT_EQ(generated->file(), "overlays/prod/kustomization.yaml");
  EXPECT_TRUE(s.problems().empty());
}

TEST_F(RenderTest, BrokenKustomizationKeepsTheLastGoodSnapshot) {
  auto source = started(options());
  ASSERT_TRUE(eventually([&] { return head_of(*source) == first; }, 20s)) << source->status().last_error;
  repo.write("overlays/prod/kustomization.yaml", "resources:\n  - missing.yaml\n");
  repo.commit("break it");
  repo.push();
  ASSERT_TRUE(eventually([&] { return !source->status().last_error.empty(); }, 20s));
  EXPECT_NE(source->status().last_error.find("render: kubectl on 'overlays/prod' exited with 1"),
            std::string::npos)
      << source->status().last_error;
  EXPECT_EQ(head_of(*source), first);
}

TEST_F(RenderTest, RenderTimeLimitIsEnforced) {
  auto o = options();
  o.spec.kustomize_command = {"sh", "-c", "sleep 30", "sh"};  // the directory becomes $1
  o.spec.render_timeout = 300ms;
  auto source = started(o);
  ASSERT_TRUE(eventually([&] { return !source->status().last_error.empty(); }, 10s));
  EXPECT_NE(source->status().last_error.find("killed after 300 ms (time limit)"), std::string::npos)
      << source->status().last_error;
  EXPECT_FALSE(source->status().ready);
}

TEST_F(RenderTest, MissingKustomizationIsReported) {
  auto o = options();
  o.spec.paths = {"."};
  auto source = started(o);
  ASSERT_TRUE(eventually([&] { return !source->status().last_error.empty(); }, 10s));
  EXPECT_NE(source->status().last_error.find("needs a kustomization.yaml in '.'"), std::string::npos)
      << source->status().last_error;
}

}  // namespace
}  // namespace gitgate::gitstate
