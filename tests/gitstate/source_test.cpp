// A Source following a file:// remote: clone, new commits, force pushes, deleted branches, skipped files,
// sync on miss, stop.
#include <atomic>
#include <fstream>

#include <gtest/gtest.h>

#include "tests/gitstate/git_helpers.h"

namespace gitgate::gitstate {
namespace {

using namespace std::chrono_literals;
using namespace gitgate::gitstate::testing;

std::shared_ptr<const SnapshotWindow> window_of(const Source& source) {
  return source.window().load();
}

std::string head_of(const Source& source) {
  auto window = window_of(source);
  return window && window->current() ? window->current()->commit().id : "";
}

std::string problems_of(const Snapshot& s) {
  std::string out;
  for (const auto& p : s.problems()) out += p.to_string() + "\n";
  return out;
}

std::unique_ptr<Source> started(const SourceOptions& options) {
  auto source = Source::create(options);
  if (!source.ok()) throw std::runtime_error(source.error());
  (*source)->start();
  return std::move(*source);
}

class SourceTest : public ::testing::Test {
 protected:
  WorkRepo repo;
  TempDir cache;
  SourceOptions options() { return test_options(repo.file_url(), cache.path().string()); }
};

TEST_F(SourceTest, InitialCloneServesTheBranchWithProvenance) {
  repo.write("apps/web.yaml", deployment("web", 2));
  repo.write("apps/config.yaml", config_map("settings") + "---\n" + config_map("other"));
  repo.write("README.md", "not a manifest");
  std::string first = repo.commit("Add web and its settings\n\nLonger body.");
  repo.push();

  auto source = started(options());
  ASSERT_TRUE(eventually([&] { return source->status().ready; })) << source->status().last_error;
  auto status = source->status();
  EXPECT_EQ(status.commit, first);
  EXPECT_EQ(status.declared_objects, 3u);
  EXPECT_EQ(status.last_error, "");
  EXPECT_GT(status.last_success_unix_ms, 0);
  EXPECT_TRUE(status.problems.empty());

  auto window = window_of(*source);
  ASSERT_EQ(window->snapshots.size(), 1u);
  const Snapshot& s = *window->current();
  EXPECT_EQ(s.commit().subject, "Add web and its settings");
  EXPECT_EQ(s.commit().author_name, "Alice Example");
  EXPECT_EQ(s.commit().author_email, "alice@example.com");
  EXPECT_EQ(s.commit().time, 1700000060);
  EXPECT_EQ(s.commit().signature, SignatureStatus::Unsigned);
  auto web = s.find({"apps", "Deployment", "default", "web"});
  ASSERT_TRUE(web.declared());
  EXPECT_EQ(web.object->file(), "apps/web.yaml");
  EXPECT_EQ(web.object->line(), 1u);
  ASSERT_TRUE(web.object->last_change());
  EXPECT_EQ(web.object->last_change()->id, first);
  auto other = s.find({"", "ConfigMap", "default", "other"});
  ASSERT_TRUE(other.declared());
  EXPECT_EQ(other.object->line(), 8u);
  // The cache directory is named by a hash, never by the URL.
  EXPECT_EQ(source->git_dir().find("remote.git"), std::string::npos);
}

TEST_F(SourceTest, NewCommitIsPickedUpWithinOneIntervalAndOnlyItsFileReparsed) {
  repo.write("a.yaml", config_map("a"));
  repo.write("b.yaml", config_map("b"));
  std::string first = repo.commit("first");
  repo.push();
  auto source = started(options());
  ASSERT_TRUE(eventually([&] { return head_of(*source) == first; }));

  repo.write("b.yaml", config_map("b", "changed"));
  std::string second = repo.commit("change b");
  repo.push();
  auto pushed = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return head_of(*source) == second; }, 5s));
  // One interval (200 ms) plus a fetch and a build.
  EXPECT_LT(std::chrono::steady_clock::now() - pushed, 2s);

  auto window = window_of(*source);
  ASSERT_EQ(window->snapshots.size(), 2u);
  const Snapshot& now = *window->snapshots[0];
  const Snapshot& before = *window->snapshots[1];
  EXPECT_EQ(before.commit().id, first);
  auto a_now = now.find({"", "ConfigMap", "default", "a"});
  auto a_before = before.find({"", "ConfigMap", "default", "a"});
  EXPECT_EQ(a_now.object, a_before.object) << "unchanged files share their declared objects";
  EXPECT_EQ(a_now.object->last_change()->id, first);
  auto b_now = now.find({"", "ConfigMap", "default", "b"});
  EXPECT_NE(b_now.object, before.find({"", "ConfigMap", "default", "b"}).object);
  EXPECT_EQ(b_now.object->last_change()->id, second);
  EXPECT_NE(b_now.object->json().find("changed"), std::string::npos);
}

// As `gitgate serve` runs sources: the next fetch child waits, started, for the next sync; each commit is
// fetched by one, and a stopped source ends the one waiting.
TEST_F(SourceTest, FetchesThroughAStandbyChildPickUpEachCommit) {
  repo.write("a.yaml", config_map("a"));
  std::string first = repo.commit("first");
  repo.push();
  auto opts = options();
  opts.standby_fetch = true;
  auto source = started(opts);
  ASSERT_TRUE(eventually([&] { return head_of(*source) == first; })) << source->status().last_error;
  for (int i = 0; i < 3; ++i) {
    repo.write("a.yaml", config_map("a", std::to_string(i)));
    std::string next = repo.commit("change " + std::to_string(i));
    repo.push();
    ASSERT_TRUE(eventually([&] { return head_of(*source) == next; }, 5s)) << source->status().last_error;
  }
  EXPECT_EQ(source->status().fetch_errors, 0u);
  auto stopping = std::chrono::steady_clock::now();
  source.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - stopping, 2s);
}

TEST_F(SourceTest, UnchangedHeadPublishesNothing) {
  repo.write("a.yaml", config_map("a"));
  repo.commit("first");
  repo.push();
  auto source = started(options());
  ASSERT_TRUE(eventually([&] { return source->status().ready; }));
  uint64_t version = source->window().version();
  uint64_t fetches = source->status().fetches;
  ASSERT_TRUE(eventually([&] { return source->status().fetches >= fetches + 3; }, 5s));
  EXPECT_EQ(source->window().version(), version);
  EXPECT_EQ(source->status().last_error, "");
}

TEST_F(SourceTest, WindowKeepsTheLastNSnapshotsNewestFirst) {
  auto opts = options();
  opts.spec.window = 3;
  repo.write("a.yaml", config_map("a", "0"));
  repo.commit("c0");
  repo.push();
  auto source = started(opts);
  ASSERT_TRUE(eventually([&] { return source->status().ready; }));
  std::vector<std::string> commits;
  for (int i = 1; i <= 4; ++i) {
    repo.write("a.yaml", config_map("a", std::to_string(i)));
    commits.push_back(repo.commit("c" + std::to_string(i)));
    repo.push();
    ASSERT_TRUE(eventually([&] { return head_of(*source) == commits.back(); }, 5s));
  }
  auto window = window_of(*source);
  ASSERT_EQ(window->snapshots.size(), 3u);
  EXPECT_EQ(window->snapshots[0]->commit().id, commits[3]);
  EXPECT_EQ(window->snapshots[1]->commit().id, commits[2]);
  EXPECT_EQ(window->snapshots[2]->commit().id, commits[1]);
}

TEST_F(SourceTest, ForcePushIsJustANewHead) {
  repo.write("a.yaml", config_map("a", "one"));
  repo.commit("one");
  repo.write("a.yaml", config_map("a", "two"));
  std::string two = repo.commit("two");
  repo.push();
  auto source = started(options());
  ASSERT_TRUE(eventually([&] { return head_of(*source) == two; }));

  repo.git({"reset", "-q", "--hard", "HEAD~1"});
  repo.write("a.yaml", config_map("a", "rewritten"));
  std::string rewritten = repo.commit("rewrite history");
  repo.push(/*force=*/true);
  ASSERT_TRUE(eventually([&] { return head_of(*source) == rewritten; }, 5s));
  auto a = window_of(*source)->current()->find({"", "ConfigMap", "default", "a"});
  ASSERT_TRUE(a.declared());
  EXPECT_NE(a.object->json().find("rewritten"), std::string::npos);
  EXPECT_EQ(a.object->last_change()->id, rewritten);
}

TEST_F(SourceTest, DeletedBranchKeepsTheLastGoodSnapshotAndReportsIt) {
  repo.write("a.yaml", config_map("a"));
  std::string first = repo.commit("first");
  repo.push();
  auto source = started(options());
  ASSERT_TRUE(eventually([&] { return head_of(*source) == first; }));

  git(repo.remote_path(), {"update-ref", "-d", "refs/heads/main"});
  ASSERT_TRUE(eventually([&] { return !source->status().last_error.empty(); }, 5s));
  auto status = source->status();
  EXPECT_NE(status.last_error.find("branch 'main' not found"), std::string::npos) << status.last_error;
  EXPECT_GE(status.fetch_errors, 1u);
  EXPECT_TRUE(status.ready);
  EXPECT_EQ(head_of(*source), first);
}

TEST_F(SourceTest, RemoteDownKeepsTheLastGoodSnapshotAndRecovers) {
  repo.write("a.yaml", config_map("a"));
  std::string first = repo.commit("first");
  repo.push();
  auto source = started(options());
  ASSERT_TRUE(eventually([&] { return head_of(*source) == first; }));

  std::filesystem::rename(repo.remote_path(), repo.remote_path() + ".away");
  ASSERT_TRUE(eventually([&] { return !source->status().last_error.empty(); }, 5s));
  EXPECT_EQ(head_of(*source), first);

  std::filesystem::rename(repo.remote_path() + ".away", repo.remote_path());
  repo.write("b.yaml", config_map("b"));
  std::string second = repo.commit("second");
  repo.push();
  ASSERT_TRUE(eventually([&] { return head_of(*source) == second; }, 5s));
  EXPECT_EQ(source->status().last_error, "");
}

int64_t unix_ms_now() {
  auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  return std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count();
}

// The cached commit is served, and its age goes on from when the process before last confirmed it, so that a
// replica restarted during a Git outage stays ready until maxStaleness really runs out.
TEST_F(SourceTest, RestartWithTheRemoteDownServesTheCache) {
  repo.write("a.yaml", config_map("a"));
  std::string first = repo.commit("first");
  repo.push();
  int64_t confirmed_before = 0;
  {
    auto source = started(options());
    ASSERT_TRUE(eventually([&] { return head_of(*source) == first; }));
    confirmed_before = source->status().last_success_unix_ms;
  }
  ASSERT_GT(confirmed_before, 0);
  std::filesystem::rename(repo.remote_path(), repo.remote_path() + ".away");
  auto source = started(options());
  ASSERT_TRUE(eventually([&] { return head_of(*source) == first; }));
  auto status = source->status();
  EXPECT_TRUE(status.ready);
  EXPECT_NE(status.last_error, "");
  EXPECT_GE(status.last_success_unix_ms, confirmed_before) << "confirmed by the process before";
  EXPECT_LE(status.last_success_unix_ms, unix_ms_now());
}

// What the process before left beside the cache counts only for the commit it names, and only when it reads
// as a time that has passed; anything else is no confirmation at all.
TEST_F(SourceTest, RestartWithTheRemoteDownIgnoresAConfirmationItCannotTrust) {
  repo.write("a.yaml", config_map("a"));
  std::string first = repo.commit("first");
  repo.push();
  std::string git_dir;
  {
    auto source = started(options());
    ASSERT_TRUE(eventually([&] { return head_of(*source) == first; }));
    git_dir = source->git_dir();
  }
  std::filesystem::rename(repo.remote_path(), repo.remote_path() + ".away");
  const std::string future = std::to_string(unix_ms_now() + 3'600'000);
  for (const std::string& line : {std::string(40, 'a') + " 1700000000000\n", first + " " + future + "\n",
                                  first + " 12x\n", first + "\n", std::string(), std::string(4096, 'z')}) {
    {
      std::ofstream out(git_dir + ".confirmed", std::ios::trunc);
      out << line;
    }
    auto source = started(options());
    ASSERT_TRUE(eventually([&] { return head_of(*source) == first; }));
    EXPECT_EQ(source->status().last_success_unix_ms, 0) << line.substr(0, 80);
  }
}

TEST_F(SourceTest, SkipsSymlinkSubmoduleAndFiftyMegabyteFile) {
  repo.write("ok.yaml", config_map("ok"));
  repo.symlink("passwd.yaml", "/etc/passwd");
  std::string big;
  big.reserve(50u << 20);
  while (big.size() < (50u << 20)) big += "# padding that compresses well, fifty megabytes of it\n";
  repo.write("big.yaml", big);
  std::string first = repo.commit("first");
  // A submodule entry (gitlink) pointing at some commit.
  repo.git({"update-index", "--add", "--cacheinfo", "160000," + first + ",vendor/lib"});
  repo.git({"commit", "-q", "-m", "add submodule"});  // not commit(): `add -A` would drop the gitlink
  std::string second = repo.git({"rev-parse", "HEAD"});
  repo.push();

  auto source = started(options());
  ASSERT_TRUE(eventually([&] { return head_of(*source) == second; }, 20s)) << source->status().last_error;
  const Snapshot& s = *window_of(*source)->current();
  EXPECT_EQ(s.objects().size(), 1u);
  EXPECT_EQ(problems_of(s),
            "passwd.yaml: symbolic link, not followed; skipped\n"
            "vendor/lib: submodule (gitlink), not followed; skipped\n"
            "big.yaml: file is " +
                std::to_string(big.size()) + " bytes, over the limit of 1048576; skipped\n");
  EXPECT_EQ(source->status().problems.size(), 3u);
}

TEST_F(SourceTest, BillionLaughsAndDuplicatesAreReportedNotFatal) {
  repo.write("bomb.yaml",
             gitgate::testing::read_file(gitgate::testing::fixture_path("manifests/billion-laughs.yaml")));
  repo.write("one.yaml", deployment("web"));
  repo.write("two.yaml", deployment("web", 3));
  std::string first = repo.commit("first");
  repo.push();
  auto source = started(options());
  ASSERT_TRUE(eventually([&] { return head_of(*source) == first; }));
  const Snapshot& s = *window_of(*source)->current();
  auto web = s.find({"apps", "Deployment", "default", "web"});
  EXPECT_TRUE(web.conflict());
  std::string problems = problems_of(s);
  EXPECT_NE(problems.find("bomb.yaml:"), std::string::npos) << problems;
  EXPECT_NE(problems.find("once aliases are expanded"), std::string::npos) << problems;
  EXPECT_NE(problems.find("one.yaml:1: Deployment default/web is declared more than once"),
            std::string::npos);
  EXPECT_NE(problems.find("two.yaml:1: Deployment default/web"), std::string::npos);
}

TEST_F(SourceTest, PathsNarrowTheSnapshotAndAMissingPathKeepsTheLastGood) {
  repo.write("clusters/prod/a.yaml", config_map("a"));
  repo.write("clusters/dev/b.yaml", config_map("b"));
  std::string first = repo.commit("first");
  repo.push();
  auto opts = options();
  opts.spec.paths = {"./clusters/prod/"};
  opts.spec.default_namespace = "prod";
  auto source = started(opts);
  ASSERT_TRUE(eventually([&] { return head_of(*source) == first; }));
  const Snapshot& s = *window_of(*source)->current();
  EXPECT_EQ(s.objects().size(), 1u);
  EXPECT_TRUE(s.find({"", "ConfigMap", "prod", "a"}).declared());

  repo.remove("clusters/prod");
  repo.commit("remove prod");
  repo.push();
  ASSERT_TRUE(eventually([&] { return !source->status().last_error.empty(); }, 5s));
  EXPECT_NE(source->status().last_error.find("source path 'clusters/prod' not found"), std::string::npos);
  EXPECT_EQ(head_of(*source), first);
}

TEST_F(SourceTest, RequestSyncFetchesNowAndCallsBackOnce) {
  auto opts = options();
  opts.spec.interval = std::chrono::hours(1);
  opts.sync_rate_limit = std::chrono::milliseconds(0);
  repo.write("a.yaml", config_map("a"));
  repo.commit("first");
  repo.push();
  auto source = started(opts);
  ASSERT_TRUE(eventually([&] { return source->status().ready; }));

  repo.write("b.yaml", config_map("b"));
  std::string second = repo.commit("second");
  repo.push();
  std::atomic<int> calls{0};
  std::atomic<bool> saw_new_head{false};
  source->request_sync([&] {
    saw_new_head = head_of(*source) == second;
    ++calls;
  });
  source->request_sync([&] { ++calls; });  // joins the one requested
  ASSERT_TRUE(eventually([&] { return calls == 2; }, 5s));
  EXPECT_TRUE(saw_new_head) << "the callback runs after the snapshot is published";
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(calls, 2);
}

// A commit pushed right after a fetch: the agent applying it waits for the next allowed fetch (one for a
// storm of misses) when its deadline leaves time for it, instead of being turned away.
TEST_F(SourceTest, RequestSyncWithinTheRateLimitWaitsForTheNextAllowedFetch) {
  auto opts = options();
  opts.spec.interval = std::chrono::hours(1);
  opts.sync_rate_limit = std::chrono::seconds(1);
  repo.write("a.yaml", config_map("a"));
  repo.commit("first");
  repo.push();
  auto source = started(opts);
  ASSERT_TRUE(eventually([&] { return source->status().ready && source->status().fetches == 1; }));
  repo.write("b.yaml", config_map("b"));
  std::string second = repo.commit("second");
  repo.push();
  std::atomic<int> calls{0};
  std::atomic<int> saw_new_head{0};
  const auto deadline = std::chrono::steady_clock::now() + 8s;
  for (int i = 0; i < 5; ++i) {
    source->request_sync(
        [&] {
          if (head_of(*source) == second) ++saw_new_head;
          ++calls;
        },
        deadline);
  }
  EXPECT_EQ(calls, 0) << "rate-limited: waits for the next allowed fetch instead of answering at once";
  ASSERT_TRUE(eventually([&] { return calls == 5; }, 10s));
  EXPECT_EQ(saw_new_head, 5);
  EXPECT_EQ(source->status().fetches, 2u);
}

// A deadline that passes before the next allowed fetch could finish is answered at once; the fetch is still
// made, so the retry finds the new commit. The rate limit holds either way.
TEST_F(SourceTest, RequestSyncWhoseDeadlineCannotWaitForTheRateLimitIsAnsweredAtOnce) {
  auto opts = options();
  opts.spec.interval = std::chrono::hours(1);
  opts.sync_rate_limit = std::chrono::milliseconds(1500);
  repo.write("a.yaml", config_map("a"));
  repo.commit("first");
  repo.push();
  auto source = started(opts);
  ASSERT_TRUE(eventually([&] { return source->status().ready && source->status().fetches == 1; }));
  const auto first_fetch_done = std::chrono::steady_clock::now();
  repo.write("b.yaml", config_map("b"));
  std::string second = repo.commit("second");
  repo.push();
  std::atomic<bool> called{false};
  source->request_sync([&] { called = true; }, std::chrono::steady_clock::now() + 100ms);
  EXPECT_TRUE(called) << "the deadline comes before the next allowed fetch";
  ASSERT_TRUE(eventually([&] { return head_of(*source) == second; }, 10s)) << "the fetch for the retry";
  EXPECT_GE(std::chrono::steady_clock::now() - first_fetch_done, 1s) << "not before the rate limit allows";
  EXPECT_EQ(source->status().fetches, 2u);
}

TEST_F(SourceTest, StopCallsPendingCallbacksAndIsIdempotent) {
  repo.write("a.yaml", config_map("a"));
  repo.commit("first");
  repo.push();
  auto source = Source::create(options());
  ASSERT_TRUE(source.ok());
  std::atomic<int> calls{0};
  (*source)->request_sync([&] { ++calls; });  // before start: waits for the first sync
  (*source)->stop();
  (*source)->stop();
  EXPECT_EQ(calls, 1);
  (*source)->request_sync([&] { ++calls; });  // after stop: at once
  EXPECT_EQ(calls, 2);
}

TEST_F(SourceTest, CreateRefusesBadOptions) {
  auto bad_url = options();
  bad_url.spec.url = "https://bot:s3cret@example.com/repo.git";
  auto r = Source::create(bad_url);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().find("s3cret"), std::string::npos);
  auto bad_branch = options();
  bad_branch.spec.branch = "no..dots";
  EXPECT_FALSE(Source::create(bad_branch).ok());
  auto bad_path = options();
  bad_path.spec.paths = {"../outside"};
  EXPECT_FALSE(Source::create(bad_path).ok());
  auto no_cache = options();
  no_cache.cache_dir = "";
  EXPECT_FALSE(Source::create(no_cache).ok());
}

TEST_F(SourceTest, SyncOnceFetchesOrReadsTheCache) {
  repo.write("a.yaml", config_map("a"));
  std::string first = repo.commit("first");
  repo.push();
  auto opts = options();
  auto offline = sync_once(opts, /*fetch=*/false);
  EXPECT_FALSE(offline.ok()) << "nothing cached yet";
  auto fetched = sync_once(opts, /*fetch=*/true);
  ASSERT_TRUE(fetched.ok()) << fetched.error();
  EXPECT_EQ((*fetched)->current()->commit().id, first);
  std::filesystem::rename(repo.remote_path(), repo.remote_path() + ".away");
  auto cached = sync_once(opts, /*fetch=*/false);
  ASSERT_TRUE(cached.ok()) << cached.error();
  EXPECT_EQ((*cached)->current()->objects().size(), 1u);
  EXPECT_FALSE(sync_once(opts, /*fetch=*/true).ok());
}

// Every fetch that brought objects left a pack behind for good, and the server kept each pack it had read
// open and mapped: 12 KiB more RSS per new commit, without end (found by scripts/soak). Fetches now compact
// the cache past 32 packs, and each build opens the cache afresh; the history stays readable.
TEST_F(SourceTest, ThirtyFiveFetchedCommitsLeaveAFewPacksAndKeepTheHistory) {
  repo.write("apps/web.yaml", deployment("web", 2));
  std::string first = repo.commit("web");
  repo.push();
  auto source = started(options());
  ASSERT_TRUE(eventually([&] { return head_of(*source) == first; }));
  std::string head;
  for (int i = 0; i < 35; ++i) {
    repo.write("apps/cfg.yaml", config_map("cfg", std::to_string(i)));
    head = repo.commit("cfg " + std::to_string(i));
    repo.push();
    source->request_sync([] {});
    ASSERT_TRUE(eventually([&] { return head_of(*source) == head; })) << "commit " << i;
  }
  size_t packs = 0;
  for (const auto& entry : std::filesystem::directory_iterator(source->git_dir() + "/objects/pack"))
    packs += entry.path().extension() == ".pack";
  EXPECT_LE(packs, 33u);
  auto web = window_of(*source)->current()->find({"apps", "Deployment", "default", "web"});
  ASSERT_TRUE(web.declared());
  ASSERT_TRUE(web.object->last_change());
  EXPECT_EQ(web.object->last_change()->id, first) << "history read after the packs were compacted";
}

}  // namespace
}  // namespace gitgate::gitstate
