#include "core/web_url.h"

#include <gtest/gtest.h>

namespace gitgate {
namespace {

constexpr std::string_view kCommit = "3f2c1ab9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3";

std::string link(std::string_view remote, std::string_view path = "clusters/prod/shop/web.yaml",
                 uint32_t line = 12) {
  return expand_web_url(derive_web_url_template(remote), kCommit, path, line);
}

TEST(WebUrl, GitHubHttpsSshAndScpLikeRemotesLinkToTheBlobLine) {
  const std::string expected =
      "https://github.com/example/fleet/blob/3f2c1ab9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3/clusters/prod/shop/"
      "web.yaml#L12";
  EXPECT_EQ(link("https://github.com/example/fleet.git"), expected);
  EXPECT_EQ(link("https://github.com/example/fleet"), expected);
  EXPECT_EQ(link("https://github.com/example/fleet/"), expected);
  EXPECT_EQ(link("ssh://git@github.com/example/fleet.git"), expected);
  EXPECT_EQ(link("ssh://git@ssh.github.com:443/example/fleet.git"), expected);
  EXPECT_EQ(link("git@github.com:example/fleet.git"), expected);
  EXPECT_EQ(link("HTTPS://GitHub.com/example/fleet.git"), expected);
}

TEST(WebUrl, GitLabKeepsNestedGroupsAndUsesTheDashRoute) {
  const std::string expected =
      "https://gitlab.com/platform/k8s/fleet/-/blob/3f2c1ab9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3/clusters/prod/"
      "shop/"
      "web.yaml#L12";
  EXPECT_EQ(link("https://gitlab.com/platform/k8s/fleet.git"), expected);
  EXPECT_EQ(link("ssh://git@gitlab.com/platform/k8s/fleet.git"), expected);
  EXPECT_EQ(link("git@gitlab.com:platform/k8s/fleet.git"), expected);
  EXPECT_EQ(
      link("https://gitlab.example.com/team/fleet.git"),
      "https://gitlab.example.com/team/fleet/-/blob/3f2c1ab9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3/clusters/prod/"
      "shop/web.yaml#L12");
}

TEST(WebUrl, BitbucketUsesSrcAndLinesFragment) {
  const std::string expected =
      "https://bitbucket.org/acme/fleet/src/3f2c1ab9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3/clusters/prod/shop/"
      "web.yaml#lines-12";
  EXPECT_EQ(link("https://bitbucket.org/acme/fleet.git"), expected);
  EXPECT_EQ(link("ssh://git@bitbucket.org/acme/fleet.git"), expected);
  EXPECT_EQ(link("git@bitbucket.org:acme/fleet.git"), expected);
}

TEST(WebUrl, GiteaStyleHostsUseSrcCommit) {
  EXPECT_EQ(link("https://codeberg.org/acme/fleet.git"),
            "https://codeberg.org/acme/fleet/src/commit/3f2c1ab9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3/clusters/"
            "prod/shop/"
            "web.yaml#L12");
  // The web port of an https remote is kept; an ssh port is not the web server's.
  EXPECT_EQ(link("https://gitea.example.com:3000/acme/fleet.git"),
            "https://gitea.example.com:3000/acme/fleet/src/commit/3f2c1ab9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3/"
            "clusters/prod/shop/web.yaml#L12");
  EXPECT_EQ(link("ssh://git@gitea.example.com:2222/acme/fleet.git"),
            "https://gitea.example.com/acme/fleet/src/commit/3f2c1ab9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3/"
            "clusters/prod/"
            "shop/web.yaml#L12");
  EXPECT_EQ(
      link("git@forgejo.example.org:acme/fleet.git"),
      "https://forgejo.example.org/acme/fleet/src/commit/3f2c1ab9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3/clusters/"
      "prod/shop/web.yaml#L12");
  EXPECT_EQ(link("https://gitea.example.com:443/acme/fleet.git").find(":443"), std::string::npos);
}

TEST(WebUrl, UnknownHostsAndLocalRemotesDeriveNothing) {
  EXPECT_EQ(derive_web_url_template("https://git.example.com/platform/fleet.git"), "");
  EXPECT_EQ(derive_web_url_template("file:///srv/git/fleet.git"), "");
  EXPECT_EQ(derive_web_url_template("/srv/git/fleet.git"), "");
  EXPECT_EQ(derive_web_url_template("https://github.com/example"), "");    // no repository
  EXPECT_EQ(derive_web_url_template("https://github.com/a/b/c.git"), "");  // not owner/repo
  EXPECT_EQ(derive_web_url_template("https://localhost/a/b.git"), "");
  EXPECT_EQ(derive_web_url_template(""), "");
}

TEST(WebUrl, NoCredentialEverReachesADerivedLink) {
  for (std::string_view remote : {"https://x-access-token:ghp_SECRET123@github.com/example/fleet.git",
                                  "https://ghp_SECRET123@github.com/example/fleet.git",
                                  "https://oauth2:glpat-SECRET123@gitlab.com/example/fleet.git",
                                  "https://github.com/example/fleet.git?access_token=SECRET123",
                                  "https://github.com/example/fleet.git#SECRET123",
                                  "ssh://deploy:SECRET123@bitbucket.org/example/fleet.git",
                                  "deploy-SECRET123@codeberg.org:example/fleet.git"}) {
    std::string tmpl = derive_web_url_template(remote);
    ASSERT_FALSE(tmpl.empty()) << remote;
    EXPECT_EQ(tmpl.find("SECRET"), std::string::npos) << tmpl;
    EXPECT_EQ(tmpl.find('@'), std::string::npos) << tmpl;
    EXPECT_TRUE(check_web_url_template(tmpl).ok()) << tmpl;
  }
}

TEST(WebUrl, CustomTemplateExpandsEveryPlaceholder) {
  std::string tmpl = "https://code.example.com/projects/OPS/repos/fleet/browse/{path}?at={commit}#{line}";
  ASSERT_TRUE(check_web_url_template(tmpl).ok());
  EXPECT_EQ(expand_web_url(tmpl, kCommit, "apps/web.yaml", 7),
            "https://code.example.com/projects/OPS/repos/fleet/browse/apps/web.yaml?at="
            "3f2c1ab9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3#7");
}

TEST(WebUrl, PathSegmentsArePercentEncoded) {
  std::string tmpl = "https://github.com/o/r/blob/{commit}/{path}#L{line}";
  EXPECT_EQ(expand_web_url(tmpl, kCommit, "a b/\"x\"<y>#{line}?.yaml", 3),
            "https://github.com/o/r/blob/3f2c1ab9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3/a%20b/"
            "%22x%22%3Cy%3E%23%7Bline%7D%3F.yaml#L3");
}

TEST(WebUrl, NoLinkWithoutACommitIdOrAPath) {
  std::string tmpl = "https://github.com/o/r/blob/{commit}/{path}#L{line}";
  EXPECT_EQ(expand_web_url(tmpl, "/home/alice/fleet", "web.yaml", 3), "");  // a working tree, not a commit
  EXPECT_EQ(expand_web_url(tmpl, "3f2c1ab", "web.yaml", 3), "");
  EXPECT_EQ(expand_web_url(tmpl, kCommit, "", 3), "");
  EXPECT_EQ(expand_web_url("", kCommit, "web.yaml", 3), "");
  EXPECT_EQ(expand_web_url(tmpl, std::string(64, 'a'), "web.yaml", 3),
            "https://github.com/o/r/blob/" + std::string(64, 'a') + "/web.yaml#L3");  // SHA-256 repositories
}

TEST(WebUrl, UnknownLineDropsTheLineFragment) {
  EXPECT_EQ(expand_web_url("https://github.com/o/r/blob/{commit}/{path}#L{line}", kCommit,
                           "k/kustomization.yaml", 0),
            "https://github.com/o/r/blob/3f2c1ab9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3/k/kustomization.yaml");
  EXPECT_EQ(expand_web_url("https://x.example/{commit}/{path}?line={line}", kCommit, "a.yaml", 0), "");
}

TEST(WebUrl, TemplateCheckRefusesCredentialsAndUnknownPlaceholders) {
  auto error = [](std::string_view tmpl) {
    auto s = check_web_url_template(tmpl);
    return s.ok() ? std::string("OK") : s.error();
  };
  EXPECT_EQ(error("https://github.com/o/r/blob/{commit}/{path}#L{line}"), "OK");
  EXPECT_EQ(error("http://gitea.local:3000/o/r/src/commit/{commit}/{path}"), "OK");
  EXPECT_NE(error("https://user:hunter2@github.com/o/r/blob/{commit}/{path}").find("credentials"),
            std::string::npos);
  EXPECT_EQ(error("https://user:hunter2@github.com/o/r/blob/{commit}/{path}").find("hunter2"),
            std::string::npos);
  EXPECT_NE(error("https://git.example.com/{path}?at={commit}&private_token=abc").find("credential"),
            std::string::npos);
  EXPECT_NE(error("https://git.example.com/{path}?at={commit}&Token=abc").find("credential"),
            std::string::npos);
  EXPECT_NE(error("https://git.example.com/{commit}/{file}").find("unknown placeholder '{file}'"),
            std::string::npos);
  EXPECT_NE(error("https://git.example.com/{commit}/{path}}").find("unmatched"), std::string::npos);
  EXPECT_NE(error("https://git.example.com/blob/main/{path}").find("{commit}"), std::string::npos);
  EXPECT_NE(error("https://{path}.example.com/{commit}").find("after the host"), std::string::npos);
  EXPECT_NE(error("javascript:alert(1)//{commit}{path}").find("https://"), std::string::npos);
  EXPECT_NE(error("file:///srv/{commit}/{path}").find("https://"), std::string::npos);
  EXPECT_NE(error("https://x.example/{commit}/ {path}").find("whitespace"), std::string::npos);
  EXPECT_NE(error("https:///{commit}/{path}").find("no host"), std::string::npos);
  EXPECT_NE(error("").find("empty"), std::string::npos);
}

}  // namespace
}  // namespace gitgate
