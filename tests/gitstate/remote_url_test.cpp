#include "gitstate/remote_url.h"

#include <gtest/gtest.h>

namespace gitgate::gitstate {
namespace {

TEST(RemoteUrl, ParsesSchemesHostsAndPorts) {
  auto https = parse_remote_url("https://git.example.com/org/repo.git");
  ASSERT_TRUE(https.ok());
  EXPECT_EQ(https->scheme, "https");
  EXPECT_EQ(https->host, "git.example.com");
  EXPECT_EQ(https->port, 443);
  auto ssh = parse_remote_url("ssh://git@git.example.com:2222/org/repo.git");
  ASSERT_TRUE(ssh.ok());
  EXPECT_EQ(ssh->user, "git");
  EXPECT_EQ(ssh->port, 2222);
  auto scp = parse_remote_url("git@github.com:org/repo.git");
  ASSERT_TRUE(scp.ok());
  EXPECT_EQ(scp->scheme, "ssh");
  EXPECT_EQ(scp->host, "github.com");
  EXPECT_EQ(scp->port, 22);
  auto v6 = parse_remote_url("ssh://[::1]:2200/repo");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 2200);
  EXPECT_TRUE(parse_remote_url("file:///srv/git/repo.git").ok());
  EXPECT_EQ(parse_remote_url("git://127.0.0.1:9418/repo")->port, 9418);
}

TEST(RemoteUrl, RefusesEmbeddedPasswordsWithoutEchoingThem) {
  for (auto url : {"https://user:hunter2@git.example.com/repo.git", "ssh://git:hunter2@host/repo"}) {
    auto parsed = parse_remote_url(url);
    ASSERT_FALSE(parsed.ok()) << url;
    EXPECT_NE(parsed.error().find("embeds a password"), std::string::npos);
    EXPECT_EQ(parsed.error().find("hunter2"), std::string::npos);
  }
}

TEST(RemoteUrl, RefusesUnknownSchemesAndJunk) {
  EXPECT_FALSE(parse_remote_url("ftp://host/repo").ok());
  EXPECT_FALSE(parse_remote_url("").ok());
  EXPECT_FALSE(parse_remote_url("https://host:99999/repo").ok());
  EXPECT_FALSE(parse_remote_url("https:///repo").ok());
  EXPECT_FALSE(parse_remote_url("https://host/repo\n").ok());
  EXPECT_FALSE(parse_remote_url("just-a-word").ok());
  EXPECT_FALSE(parse_remote_url("https://host/repo.git?private_token=abc").ok());
}

TEST(RemoteUrl, RedactsUserinfoFromMessages) {
  std::string url = "https://deploy-bot@git.example.com/org/repo.git";
  auto parsed = parse_remote_url(url);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->redacted, "https://git.example.com/org/repo.git");
  EXPECT_EQ(redact("failed to fetch " + url + ": 401", url, *parsed),
            "failed to fetch https://git.example.com/org/repo.git: 401");
}

}  // namespace
}  // namespace gitgate::gitstate
