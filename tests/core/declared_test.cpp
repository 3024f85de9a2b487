#include "core/declared.h"

#include <gtest/gtest.h>

namespace gitgate {
namespace {

std::shared_ptr<const DeclaredObject> object(ObjectKey key, std::string file, bool unresolved = false) {
  return std::make_shared<DeclaredObject>(std::move(key), "v1", R"({"a":1})", std::move(file), 3, 1, unresolved);
}

TEST(Snapshot, FindsByGroupKindNamespaceName) {
  Snapshot s(std::make_shared<CommitInfo>(), "default",
             {object({"apps", "Deployment", "shop", "web"}, "shop/web.yaml")}, {});
  auto hit = s.find({"apps", "Deployment", "shop", "web"});
  ASSERT_TRUE(hit.declared());
  EXPECT_EQ(hit.object->file(), "shop/web.yaml");
  EXPECT_FALSE(hit.conflict());
  EXPECT_FALSE(s.find({"apps", "Deployment", "blog", "web"}).declared());
  EXPECT_FALSE(s.find({"", "Deployment", "shop", "web"}).declared());
}

TEST(Snapshot, DuplicateDeclarationsAreAConflictReportedForBothFiles) {
  Snapshot s(std::make_shared<CommitInfo>(), "default",
             {object({"", "ConfigMap", "shop", "cfg"}, "a.yaml"), object({"", "ConfigMap", "shop", "cfg"}, "b.yaml")},
             {});
  auto hit = s.find({"", "ConfigMap", "shop", "cfg"});
  ASSERT_TRUE(hit.conflict());
  ASSERT_EQ(s.problems().size(), 2u);
  EXPECT_NE(s.problems()[0].to_string().find("a.yaml:3, b.yaml:3"), std::string::npos);
}

TEST(Snapshot, CustomKindWithoutNamespaceMatchesNoneOrTheDefaultNamespace) {
  Snapshot s(std::make_shared<CommitInfo>(), "apps",
             {object({"example.com", "Widget", "", "w"}, "w.yaml", true)}, {});
  EXPECT_TRUE(s.find({"example.com", "Widget", "", "w"}).declared());
  EXPECT_TRUE(s.find({"example.com", "Widget", "apps", "w"}).declared());
  EXPECT_FALSE(s.find({"example.com", "Widget", "other", "w"}).declared());
}

TEST(Snapshot, BuiltinScopes) {
  EXPECT_EQ(builtin_kind_scope("", "Namespace"), KindScope::Cluster);
  EXPECT_EQ(builtin_kind_scope("apps", "Deployment"), KindScope::Namespaced);
  EXPECT_EQ(builtin_kind_scope("example.com", "Widget"), KindScope::Unknown);
  EXPECT_EQ(group_of_api_version("apps/v1beta1"), "apps");
  EXPECT_EQ(group_of_api_version("v1"), "");
}

}  // namespace
}  // namespace gitgate
