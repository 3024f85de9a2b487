#include "core/pattern.h"

#include <gtest/gtest.h>

namespace gitgate {
namespace {

TEST(Pattern, LiteralMatchesOnlyItself) {
  Pattern p("system:serviceaccount:flux-system:kustomize-controller");
  EXPECT_TRUE(p.matches("system:serviceaccount:flux-system:kustomize-controller"));
  EXPECT_FALSE(p.matches("system:serviceaccount:flux-system:kustomize-controllerX"));
  EXPECT_TRUE(p.is_literal());
}

TEST(Pattern, StarMatchesAnyRunIncludingEmpty) {
  Pattern p("system:serviceaccount:kube-system:*");
  EXPECT_TRUE(p.matches("system:serviceaccount:kube-system:horizontal-pod-autoscaler"));
  EXPECT_TRUE(p.matches("system:serviceaccount:kube-system:"));
  EXPECT_FALSE(p.matches("system:serviceaccount:kube-public:x"));
  EXPECT_TRUE(Pattern("*").matches(""));
  EXPECT_TRUE(Pattern("a*b*c").matches("aXXbYYbc"));
  EXPECT_FALSE(Pattern("a*b*c").matches("aXXbYYb"));
  EXPECT_TRUE(Pattern("*-controller").matches("kustomize-controller"));
}

TEST(Pattern, PathologicalPatternStaysFast) {
  std::string subject(10000, 'a');
  EXPECT_FALSE(Pattern("*a*a*a*a*a*a*a*a*b").matches(subject));
}

TEST(Pattern, IntersectionOfTenantPrefixes) {
  EXPECT_FALSE(Pattern::intersects(Pattern("team-a-*"), Pattern("team-b-*")));
  EXPECT_TRUE(Pattern::intersects(Pattern("team-*"), Pattern("*-prod")));
  EXPECT_TRUE(Pattern::intersects(Pattern("*"), Pattern("shop")));
  EXPECT_FALSE(Pattern::intersects(Pattern("shop"), Pattern("blog")));
  EXPECT_TRUE(Pattern::intersects(Pattern("a*"), Pattern("*b")));
}

TEST(Pattern, Covers) {
  EXPECT_TRUE(Pattern::covers(Pattern("*"), Pattern("team-*")));
  EXPECT_TRUE(Pattern::covers(Pattern("team-*"), Pattern("team-a-*")));
  EXPECT_TRUE(Pattern::covers(Pattern("team-*"), Pattern("team-a")));
  EXPECT_FALSE(Pattern::covers(Pattern("team-a-*"), Pattern("team-*")));
}

}  // namespace
}  // namespace gitgate
