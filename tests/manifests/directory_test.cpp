#include <filesystem>

#include <gtest/gtest.h>

#include "manifests/loader.h"
#include "tests/support/support.h"

namespace gitgate::manifests {
namespace {

namespace fs = std::filesystem;
using gitgate::testing::fixture_path;
using gitgate::testing::TempDir;
using gitgate::testing::write_file;

std::string problems_of(const Snapshot& s) {
  std::string out;
  for (const auto& p : s.problems()) out += p.to_string() + "\n";
  return out;
}

SourceSpec spec_with_paths(std::vector<std::string> paths) {
  SourceSpec spec;
  spec.paths = std::move(paths);
  return spec;
}

TEST(Directory, ReadsManifestsUnderThePaths) {
  auto snapshot = snapshot_from_directory(fixture_path("manifests/repo"), spec_with_paths({"apps"}), nullptr);
  ASSERT_TRUE(snapshot.ok()) << snapshot.error();
  const Snapshot& s = **snapshot;
  EXPECT_EQ(problems_of(s), "");
  ASSERT_EQ(s.objects().size(), 2u);
  auto web = s.find({"apps", "Deployment", "default", "web"});
  ASSERT_TRUE(web.declared());
  EXPECT_FALSE(web.conflict());
  EXPECT_EQ(web.object->file(), "apps/web/deployment.yaml");
  EXPECT_EQ(web.object->line(), 1u);
  EXPECT_TRUE(s.find({"example.com", "Widget", "default", "gadget"}).declared());
  EXPECT_FALSE(s.find({"", "Namespace", "", "shop"}).declared());
  EXPECT_EQ(s.commit().id, "");
}

TEST(Directory, DuplicateDeclarationsAreAConflictNamingBothFiles) {
  auto snapshot = snapshot_from_directory(fixture_path("manifests/repo"), spec_with_paths({"."}), nullptr);
  ASSERT_TRUE(snapshot.ok()) << snapshot.error();
  const Snapshot& s = **snapshot;
  auto web = s.find({"apps", "Deployment", "default", "web"});
  ASSERT_TRUE(web.conflict());
  std::string problems = problems_of(s);
  EXPECT_NE(problems.find("apps/web/deployment.yaml:1: Deployment default/web is declared more than once"),
            std::string::npos)
      << problems;
  EXPECT_NE(problems.find("infra/duplicate.yaml:2: Deployment default/web"), std::string::npos) << problems;
  EXPECT_TRUE(s.find({"", "Namespace", "", "shop"}).declared());
}

TEST(Directory, OverlappingPathsReadEachFileOnce) {
  auto snapshot = snapshot_from_directory(fixture_path("manifests/repo"),
                                          spec_with_paths({"apps", "apps/web/", "./apps"}), nullptr);
  ASSERT_TRUE(snapshot.ok()) << snapshot.error();
  EXPECT_EQ((*snapshot)->objects().size(), 2u);
}

TEST(Directory, SkipsSymlinkToEtcPasswdAndOversizedFiles) {
  TempDir dir;
  write_file(dir / "ok.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n");
  fs::create_symlink("/etc/passwd", dir / "passwd.yaml");
  fs::create_directories(dir / "linked");
  fs::create_directory_symlink("/etc", dir / "linked" / "etc");
  write_file(dir / "big.yaml", std::string(2048, '#'));
  SourceSpec spec;
  spec.max_file_bytes = 1024;
  auto snapshot = snapshot_from_directory(dir.path().string(), spec, nullptr);
  ASSERT_TRUE(snapshot.ok()) << snapshot.error();
  EXPECT_EQ((*snapshot)->objects().size(), 1u);
  EXPECT_EQ(problems_of(**snapshot),
            "big.yaml: file is 2048 bytes, over the limit of 1024; skipped\n"
            "linked/etc: symbolic link, not followed; skipped\n"
            "passwd.yaml: symbolic link, not followed; skipped\n");
}

TEST(Directory, PathsOutsideTheDirectoryAreRefused) {
  auto up = snapshot_from_directory(fixture_path("manifests/repo"), spec_with_paths({"../.."}), nullptr);
  EXPECT_FALSE(up.ok());
  EXPECT_NE(up.error().find("climbs out"), std::string::npos);
  EXPECT_FALSE(
      snapshot_from_directory(fixture_path("manifests/repo"), spec_with_paths({"/etc"}), nullptr).ok());
  auto missing = snapshot_from_directory(fixture_path("manifests/repo"), spec_with_paths({"nope"}), nullptr);
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("'nope' not found"), std::string::npos);
}

TEST(Directory, SourcePathsAreNormalised) {
  EXPECT_EQ(*normalize_source_path("."), "");
  EXPECT_EQ(*normalize_source_path("./apps//web/"), "apps/web");
  EXPECT_EQ(*normalize_source_path("apps/./web"), "apps/web");
  EXPECT_FALSE(normalize_source_path("apps/../..").ok());
  EXPECT_FALSE(normalize_source_path("/abs").ok());
}

TEST(Directory, CommitDescribesTheSnapshot) {
  auto commit = std::make_shared<CommitInfo>();
  commit->id = "0123456789abcdef0123456789abcdef01234567";
  auto snapshot = snapshot_from_directory(fixture_path("manifests/repo"), spec_with_paths({"infra"}), commit);
  ASSERT_TRUE(snapshot.ok());
  EXPECT_EQ((*snapshot)->commit().short_id(), "0123456");
}

}  // namespace
}  // namespace gitgate::manifests
