// Secret values must never reach the audit log, whatever the request carries.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "audit/log.h"
#include "audit/record.h"
#include "tests/audit/audit_test_support.h"
#include "tests/support/support.h"

namespace gitgate::audit {
namespace {

using gitgate::testing::TempDir;

// The values in tests/fixtures/audit/secret-apply.json, as they appear there: plain (stringData and
// the decoded form) and base64 (data, last-applied-configuration).
const char* const kSecretValues[] = {
    "NEW-hunter2-zq7Xw9",
    "OLD-correct-horse-battery-k3Lm",
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "TkVXLWh1bnRlcjItenE3WHc5",
    "T0xELWNvcnJlY3QtaG9yc2UtYmF0dGVyeS1rM0xt",
    "c2tfbGl2ZV80ZUMzOUhxTHlqV0Rhcmp0VDF6ZHA3ZGM=",
};

TEST(AuditSecrets, SecretDataNeverReachesTheFileOrStdout) {
  TempDir dir;
  const std::string fixture =
      gitgate::testing::read_file(gitgate::testing::fixture_path("audit/secret-apply.json"));
  for (const char* value : kSecretValues) {
    ASSERT_NE(fixture.find(value), std::string::npos) << "the fixture must carry " << value;
  }

  int captured = ::open((dir / "stdout").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(captured, 0);
  std::fflush(stdout);
  int saved = ::dup(STDOUT_FILENO);
  ::dup2(captured, STDOUT_FILENO);
  {
    AuditLog::Options options;
    options.file = (dir / "audit.log").string();
    options.to_stdout = true;
    auto log = AuditLog::open(options);
    if (log) {
      testing::FixtureRequest fixture_request("secret-apply.json");
      // What the engine decides for a person's change of a declared Secret: paths, never values. The
      // declaration itself holds a value from Git, which must not leak either.
      Decision d;
      d.allowed = false;
      d.violation = true;
      d.reason = "governed-path-changed";
      d.message =
          "gitgate: Secret shop/db-credentials is declared in Git (clusters/prod/shop/db.yaml:1 @ 3f2c1ab). "
          "/data/password changed. Change it in Git instead.";
      d.policy = "prod";
      d.identity = Identity::Person;
      d.snapshot_commit = testing::snapshot_commit();
      d.declared = std::make_shared<DeclaredObject>(
          ObjectKey{"", "Secret", "shop", "db-credentials"}, "v1",
          R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"db-credentials","namespace":"shop"},"data":{"password":"R0lULXZhbHVlLWZyb20tZ2l0"}})",
          "clusters/prod/shop/db.yaml", 1, 1);
      d.changed_paths = {"/data/password", "/data/api-key", "/stringData/password-plain"};
      (*log)->submit(make_record(fixture_request.request(), d, testing::kSampleStartUs, 120));
      (*log)->close();
    }
  }
  ::dup2(saved, STDOUT_FILENO);
  ::close(saved);
  ::close(captured);

  const std::string file = gitgate::testing::read_file(dir / "audit.log");
  const std::string out = gitgate::testing::read_file(dir / "stdout");
  ASSERT_NE(file.find(R"("name":"db-credentials")"), std::string::npos);
  ASSERT_NE(file.find(R"("changedPaths":["/data/password","/data/api-key","/stringData/password-plain"])"),
            std::string::npos);
  EXPECT_EQ(out, file);
  for (const char* value : kSecretValues) {
    EXPECT_EQ(file.find(value), std::string::npos) << value;
  }
  EXPECT_EQ(file.find("R0lULXZhbHVlLWZyb20tZ2l0"), std::string::npos);
  // Nothing of the request body beyond its metadata: no last-applied-configuration, no resourceVersion.
  EXPECT_EQ(file.find("last-applied"), std::string::npos);
  EXPECT_EQ(file.find("resourceVersion"), std::string::npos);
}

}  // namespace
}  // namespace gitgate::audit
