// Last-change provenance through merges, reverts and long histories, and how much history each build walks.
#include <gtest/gtest.h>

#include <filesystem>

#include "gitstate/snapshot_builder.h"
#include "tests/gitstate/git_helpers.h"

namespace gitgate::gitstate {
namespace {

using namespace gitgate::gitstate::testing;

// Builds snapshots straight from the test's bare remote (no fetch): the builder only reads objects.
class ProvenanceTest : public ::testing::Test {
 protected:
  std::unique_ptr<SnapshotBuilder> builder(SourceSpec spec = {}) {
    return snapshot_builder(repo.remote_path(), std::move(spec));
  }
  std::shared_ptr<const Snapshot> build(SnapshotBuilder& b, const std::string& head) {
    return build_snapshot(b, head);
  }
  static std::string last_change(const Snapshot& s, const std::string& name) {
    auto found = s.find({"", "ConfigMap", "default", name});
    if (!found.declared()) return "<undeclared>";
    return found.object->last_change() ? found.object->last_change()->id : "<none>";
  }
  WorkRepo repo;
};

TEST_F(ProvenanceTest, MergedChangeIsAttributedToTheCommitThatMadeIt) {
  repo.write("a.yaml", config_map("a", "1"));
  repo.write("b.yaml", config_map("b", "1"));
  repo.commit("base");
  repo.git({"checkout", "-q", "-b", "side"});
  repo.write("a.yaml", config_map("a", "2"));
  std::string side = repo.commit("change a on a branch");
  repo.git({"checkout", "-q", "main"});
  repo.write("b.yaml", config_map("b", "2"));
  std::string on_main = repo.commit("change b on main");
  repo.git({"merge", "-q", "--no-ff", "-m", "Merge side", "side"});
  std::string merge = repo.git({"rev-parse", "HEAD"});
  repo.push();

  auto b = builder();
  auto s = build(*b, merge);
  EXPECT_EQ(last_change(*s, "a"), side);
  EXPECT_EQ(last_change(*s, "b"), on_main);
  EXPECT_EQ(s->find({"", "ConfigMap", "default", "a"}).object->last_change()->subject,
            "change a on a branch");
}

// The root commit's files and a change of mode: the root commit introduced every file it holds in
// subdirectories too; making a file executable changes no content, so it is not the file's last change.
TEST_F(ProvenanceTest, TheRootCommitIntroducesItsFilesAndAModeChangeIsNotAChange) {
  repo.write("apps/team-a/a.yaml", config_map("a", "1"));
  repo.write("apps/team-b/b.yaml", config_map("b", "1"));
  std::string root = repo.commit("root");
  std::filesystem::permissions(repo.path() / "apps/team-a/a.yaml", std::filesystem::perms::owner_exec,
                               std::filesystem::perm_options::add);
  std::string chmod = repo.commit("make a executable");
  repo.push();
  ASSERT_NE(repo.git({"diff", "--name-status", root, chmod}), "");
  auto s = build(*builder(), chmod);
  EXPECT_EQ(last_change(*s, "a"), root);
  EXPECT_EQ(last_change(*s, "b"), root);
}

TEST_F(ProvenanceTest, RevertSeenIncrementallyIsTheLastChange) {
  repo.write("a.yaml", config_map("a", "1"));
  std::string first = repo.commit("one");
  repo.push();
  auto b = builder();
  EXPECT_EQ(last_change(*build(*b, first), "a"), first);

  repo.write("a.yaml", config_map("a", "2"));
  repo.commit("two");
  repo.write("a.yaml", config_map("a", "1"));
  std::string revert = repo.commit("Revert \"two\"");
  repo.push();
  // Same content as the last snapshot, but changed twice since: the revert is the last change. It is the
  // newest commit, so the walk stops there.
  EXPECT_EQ(last_change(*build(*b, revert), "a"), revert);
  EXPECT_EQ(b->last_stats().commits_walked, 1u);
}

TEST_F(ProvenanceTest, NewCommitWalksOnlyTheNewHistoryAndParsesOnlyItsFiles) {
  for (int i = 0; i < 30; ++i) {
    repo.write("cm" + std::to_string(i) + ".yaml", config_map("cm" + std::to_string(i)));
    repo.commit("add cm" + std::to_string(i));
  }
  std::string before = repo.git({"rev-parse", "HEAD"});
  repo.push();
  auto b = builder();
  auto first = build(*b, before);
  EXPECT_EQ(b->last_stats().files_parsed, 30u);
  EXPECT_EQ(b->last_stats().commits_walked, 30u);
  EXPECT_EQ(first->objects().size(), 30u);

  repo.write("cm7.yaml", config_map("cm7", "changed"));
  std::string after = repo.commit("change cm7");
  repo.push();
  auto second = build(*b, after);
  EXPECT_EQ(b->last_stats().files_parsed, 1u);
  EXPECT_EQ(b->last_stats().commits_walked, 1u);
  EXPECT_EQ(last_change(*second, "cm7"), after);
  EXPECT_EQ(last_change(*second, "cm3"), last_change(*first, "cm3"));
}

TEST_F(ProvenanceTest, RebuildingTheSameHeadCostsNoWalk) {
  repo.write("a.yaml", config_map("a"));
  std::string head = repo.commit("one");
  repo.push();
  auto b = builder();
  build(*b, head);
  build(*b, head);
  EXPECT_EQ(b->last_stats().commits_walked, 0u);
  EXPECT_EQ(b->last_stats().files_parsed, 0u);
}

TEST_F(ProvenanceTest, ForcePushToUnrelatedHistoryStartsOver) {
  repo.write("a.yaml", config_map("a", "1"));
  std::string old_head = repo.commit("old");
  repo.push();
  auto b = builder();
  EXPECT_EQ(last_change(*build(*b, old_head), "a"), old_head);
  repo.git({"checkout", "-q", "--orphan", "fresh"});
  repo.write("a.yaml", config_map("a", "1"));
  std::string fresh = repo.commit("fresh start, same content");
  repo.push(/*force=*/true);
  EXPECT_EQ(last_change(*build(*b, fresh), "a"), fresh);
}

TEST_F(ProvenanceTest, BeyondTheHistoryLimitThereIsNoAnswer) {
  repo.write("a.yaml", config_map("a"));
  repo.commit("add a");
  for (int i = 0; i < 6; ++i) repo.commit("empty " + std::to_string(i));
  std::string head = repo.git({"rev-parse", "HEAD"});
  ensure_libgit2();
  git_repository* raw = nullptr;
  ASSERT_EQ(git_repository_open_bare(&raw, (repo.path() / ".git").c_str()), 0);
  RepositoryPtr git_repo(raw);
  git_oid head_id, blob;
  git_oid_fromstr(&head_id, head.c_str());
  git_oid_fromstr(&blob, repo.git({"rev-parse", "HEAD:a.yaml"}).c_str());
  ProvenanceTracker shallow(5);
  auto answers = shallow.update(git_repo.get(), head_id, {{"a.yaml", blob}}, {}, -1);
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_FALSE(answers[0]);
  ProvenanceTracker deep(10);
  answers = deep.update(git_repo.get(), head_id, {{"a.yaml", blob}}, {}, -1);
  ASSERT_EQ(answers.size(), 1u);
  ASSERT_TRUE(answers[0]);
  EXPECT_EQ(oid_hex(*answers[0]), repo.git({"rev-parse", "HEAD~6"}));
}

}  // namespace
}  // namespace gitgate::gitstate
