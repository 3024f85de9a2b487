// Versions and constraints as source-controller resolves a GitRepository's ref.semver (Masterminds/semver v3).
#include <gtest/gtest.h>

#include "core/semver.h"

namespace gitgate::semver {
namespace {

bool allows(const std::string& constraint, const std::string& version) {
  auto c = Constraint::parse(constraint);
  if (!c.ok()) throw std::runtime_error(c.error());
  auto v = parse_version(version);
  if (!v) throw std::runtime_error("not a version: " + version);
  return c->allows(*v);
}

TEST(Semver, VersionsParseWithOrWithoutVAndOrderByPrecedence) {
  for (const char* bad : {"", "v", "1.2.3.4", "1.x", "a.b.c", "1.2.3-", "1.2.3-a..b", "1..2", "-1.0.0", "1.2.3+"})
    EXPECT_FALSE(parse_version(bad)) << bad;
  auto v = parse_version("v1.2");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->major, 1u);
  EXPECT_EQ(v->minor, 2u);
  EXPECT_EQ(v->patch, 0u);
  // 1.0.0-alpha < 1.0.0-alpha.1 < 1.0.0-alpha.beta < 1.0.0-beta < 1.0.0-beta.2 < 1.0.0-beta.11 < 1.0.0-rc.1 < 1.0.0
  std::vector<std::string> order{"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
                                 "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.10.0", "2.0.0+build.5"};
  for (size_t i = 0; i + 1 < order.size(); ++i)
    EXPECT_LT(compare(*parse_version(order[i]), *parse_version(order[i + 1])), 0) << order[i] << " < " << order[i + 1];
  EXPECT_EQ(compare(*parse_version("v2.0.0+a"), *parse_version("2.0.0+b")), 0) << "build metadata is ignored";
}

TEST(Semver, ComparatorsWildcardsRangesAndPreReleasesFollowMasterminds) {
  EXPECT_TRUE(allows(">=1.0.0", "1.0.0"));
  EXPECT_FALSE(allows(">=1.0.0", "0.9.9"));
  EXPECT_TRUE(allows(">=1.0.0 <2.0.0", "1.9.9"));
  EXPECT_FALSE(allows(">=1.0.0, <2.0.0", "2.0.0"));
  EXPECT_TRUE(allows("> 1.0.0", "1.0.1")) << "an operator may stand apart from its version";
  EXPECT_TRUE(allows("1.2.x", "1.2.9"));
  EXPECT_FALSE(allows("1.2.x", "1.3.0"));
  EXPECT_TRUE(allows("1.x", "1.9.0"));
  EXPECT_TRUE(allows("*", "7.0.0"));
  EXPECT_TRUE(allows("~1.2.3", "1.2.9"));
  EXPECT_FALSE(allows("~1.2.3", "1.3.0"));
  EXPECT_TRUE(allows("~1", "1.9.0"));
  EXPECT_TRUE(allows("^1.2.3", "1.9.0"));
  EXPECT_FALSE(allows("^1.2.3", "2.0.0"));
  EXPECT_TRUE(allows("^0.2.3", "0.2.9"));
  EXPECT_FALSE(allows("^0.2.3", "0.3.0"));
  EXPECT_TRUE(allows("^0.0.3", "0.0.3"));
  EXPECT_FALSE(allows("^0.0.3", "0.0.4"));
  EXPECT_TRUE(allows("<=1.2", "1.2.9")) << "<=1.2 is <1.3.0";
  EXPECT_FALSE(allows("<=1.2", "1.3.0"));
  EXPECT_FALSE(allows(">1.2", "1.2.5")) << ">1.2 is >=1.3.0";
  EXPECT_TRUE(allows(">1.2", "1.3.0"));
  EXPECT_TRUE(allows("!=1.2.3", "1.2.4"));
  EXPECT_FALSE(allows("!=1.2.3", "1.2.3"));
  EXPECT_TRUE(allows("!=1.2.3", "1.3.0-rc.1")) << "!= alone does not exclude pre-releases";
  EXPECT_FALSE(allows("!=1.2.x", "1.2.7"));
  EXPECT_TRUE(allows("!=1.2.x", "1.3.0"));
  EXPECT_FALSE(allows("!=1.x", "1.9.0"));
  EXPECT_TRUE(allows("!=1.x", "2.0.0"));
  EXPECT_TRUE(allows("1.2 - 1.4.5", "1.4.5"));
  EXPECT_FALSE(allows("1.2 - 1.4.5", "1.4.6"));
  EXPECT_TRUE(allows("<1.0.0 || >=3.0.0", "3.1.0"));
  EXPECT_FALSE(allows("<1.0.0 || >=3.0.0", "2.0.0"));
  EXPECT_FALSE(allows(">=1.0.0", "1.5.0-rc.1")) << "pre-releases only when a comparator names one";
  EXPECT_TRUE(allows(">=1.5.0-0", "1.5.0-rc.1"));
  for (const char* bad : {"", "abc", ">>1.0", "1.2.3 -", "=1.x.3", "|| 1.0", "%1.0"})
    EXPECT_FALSE(Constraint::parse(bad).ok()) << bad;
}

TEST(Semver, TheHighestAllowedTagWinsAndTagsThatAreNotVersionsAreSkipped) {
  auto c = Constraint::parse(">=1.0.0 <2.0.0");
  ASSERT_TRUE(c.ok());
  std::vector<std::string> tags{"latest", "v1.0.0", "v1.10.0", "v1.9.3", "v2.0.0", "1.11.0-rc.1", "release-1.12"};
  auto best = highest(*c, tags);
  ASSERT_TRUE(best);
  EXPECT_EQ(tags[*best], "v1.10.0");
  EXPECT_FALSE(highest(*Constraint::parse(">=3"), tags));
}

}  // namespace
}  // namespace gitgate::semver
