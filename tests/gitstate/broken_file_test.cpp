// A manifest file that stops parsing must not undeclare its objects (SPEC §2): they stay declared as the file
// had them at the newest commit where it parsed, until it parses again or is deleted.
#include <gtest/gtest.h>

#include "gitstate/snapshot_builder.h"
#include "tests/gitstate/git_helpers.h"

namespace gitgate::gitstate {
namespace {

using namespace gitgate::gitstate::testing;

class BrokenFileTest : public ::testing::Test {
 protected:
  std::unique_ptr<SnapshotBuilder> builder() { return snapshot_builder(repo.remote_path()); }
  static std::shared_ptr<const Snapshot> build(SnapshotBuilder& b, const std::string& head) {
    return build_snapshot(b, head);
  }
  static const DeclaredObject* web(const Snapshot& s) {
    return s.find({"apps", "Deployment", "default", "web"}).object;
  }
  static bool reported(const Snapshot& s, const std::string& part) {
    for (const auto& p : s.problems())
      if (p.to_string().find(part) != std::string::npos) return true;
    return false;
  }

  WorkRepo repo;
};

TEST_F(BrokenFileTest, ObjectsOfAFileThatStopsParsingStayDeclaredFromTheLastCommitWhereItParsed) {
  repo.write("web.yaml", deployment("web", 3));
  std::string wrote = repo.commit("web: 3 replicas");
  repo.write("other.yaml", config_map("other"));
  std::string last_good = repo.commit("unrelated");
  repo.write("web.yaml", deployment("web", 3) + "  broken: [unclosed\n");
  std::string broken = repo.commit("web: a typo");
  repo.push();

  // A fresh builder (a restarted pod) finds the old version in history; one that saw the good commit too.
  auto cold = builder();
  auto warm = builder();
  build(*warm, last_good);
  for (auto* b : {cold.get(), warm.get()}) {
    auto s = build(*b, broken);
    const DeclaredObject* declared = web(*s);
    ASSERT_NE(declared, nullptr) << "a broken file undeclared its Deployment";
    ASSERT_TRUE(declared->carried_from());
    EXPECT_EQ(declared->carried_from()->id, last_good) << "the newest commit where the file parsed";
    ASSERT_TRUE(declared->last_change());
    EXPECT_EQ(declared->last_change()->id, wrote) << "the commit that wrote that version";
    EXPECT_NE(declared->json().find("\"replicas\":3"), std::string::npos);
    EXPECT_TRUE(reported(*s, "YAML syntax error"));
    EXPECT_TRUE(
        reported(*s, "web.yaml: 1 object(s) it declared at " + last_good.substr(0, 7) + " stay declared"));
  }
}

TEST_F(BrokenFileTest, DocumentsThatStillParseAreCurrentAndOnlyTheLostOnesAreCarried) {
  repo.write("shop.yaml", config_map("cfg", "old") + "---\n" + deployment("web", 3));
  std::string good = repo.commit("shop");
  repo.write("shop.yaml",
             config_map("cfg", "new") + "---\n" + deployment("web", 5) + "  broken: [unclosed\n");
  std::string broken = repo.commit("shop: edit");
  repo.push();

  auto s = build(*builder(), broken);
  const DeclaredObject* cfg = s->find({"", "ConfigMap", "default", "cfg"}).object;
  ASSERT_NE(cfg, nullptr);
  EXPECT_FALSE(cfg->carried_from()) << "the ConfigMap still parses at the head";
  EXPECT_NE(cfg->json().find("new"), std::string::npos);
  ASSERT_NE(web(*s), nullptr);
  ASSERT_TRUE(web(*s)->carried_from());
  EXPECT_EQ(web(*s)->carried_from()->id, good);
  EXPECT_NE(web(*s)->json().find("\"replicas\":3"), std::string::npos);
}

TEST_F(BrokenFileTest, TwoBrokenCommitsInARowReachBackToTheLastGoodOne) {
  repo.write("web.yaml", deployment("web", 2));
  std::string good = repo.commit("good");
  repo.write("web.yaml", "kind: [\n");
  repo.commit("broken once");
  repo.write("web.yaml", "kind: {\n");
  std::string again = repo.commit("broken twice");
  repo.push();
  auto s = build(*builder(), again);
  ASSERT_NE(web(*s), nullptr);
  EXPECT_EQ(web(*s)->carried_from()->id, good);
}

TEST_F(BrokenFileTest, AFixedFileIsCurrentAgainAndADeletedOneUndeclaresItsObjects) {
  repo.write("web.yaml", deployment("web", 3));
  repo.commit("good");
  repo.write("web.yaml", "apiVersion: apps/v1\nkind: [\n");
  std::string broken = repo.commit("broken");
  repo.write("web.yaml", deployment("web", 4));
  std::string fixed = repo.commit("fixed");
  repo.remove("web.yaml");
  repo.write("keep.yaml", config_map("keep"));
  std::string deleted = repo.commit("web removed");
  repo.push();

  auto b = builder();
  EXPECT_TRUE(web(*build(*b, broken))->carried_from());
  auto s = build(*b, fixed);
  ASSERT_NE(web(*s), nullptr);
  EXPECT_FALSE(web(*s)->carried_from());
  EXPECT_NE(web(*s)->json().find("\"replicas\":4"), std::string::npos);
  EXPECT_EQ(web(*build(*b, deleted)), nullptr) << "deleting the file in Git undeclares what it held";
}

TEST_F(BrokenFileTest, AFileBornBrokenDeclaresNothing) {
  repo.write("keep.yaml", config_map("keep"));
  repo.commit("base");
  repo.write("web.yaml", "apiVersion: apps/v1\nkind: [\n");
  std::string broken = repo.commit("new and broken");
  repo.push();
  auto s = build(*builder(), broken);
  EXPECT_EQ(web(*s), nullptr);
  EXPECT_EQ(s->objects().size(), 1u);
}

}  // namespace
}  // namespace gitgate::gitstate
