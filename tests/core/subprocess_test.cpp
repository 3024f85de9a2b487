#include "core/subprocess.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <thread>

namespace gitgate {
namespace {

using namespace std::chrono_literals;

TEST(Subprocess, CollectsOutputAndExitCode) {
  ProcessOptions options;
  options.argv = {"sh", "-c", "echo out; echo err >&2; exit 3"};
  auto r = run_process(options);
  EXPECT_TRUE(r.started);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_FALSE(r.succeeded());
}

TEST(Subprocess, KillsTheWholeGroupAtTheDeadline) {
  ProcessOptions options;
  options.argv = {"sh", "-c", "sleep 30 & sleep 30"};
  options.timeout = 300ms;
  auto start = std::chrono::steady_clock::now();
  auto r = run_process(options);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_NE(r.outcome(options.timeout).find("killed after 300 ms"), std::string::npos);
}

TEST(Subprocess, StopsWhenCancelled) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ASSERT_EQ(write(fds[1], "x", 1), 1);
  ProcessOptions options;
  options.argv = {"sleep", "30"};
  options.cancel_fd = fds[0];
  auto start = std::chrono::steady_clock::now();
  auto r = run_process(options);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_TRUE(r.cancelled);
  close(fds[0]);
  close(fds[1]);
}

TEST(Subprocess, OutputOverTheLimitKillsTheProcess) {
  ProcessOptions options;
  options.argv = {"sh", "-c", "yes"};
  options.max_stdout = 1000;
  auto r = run_process(options);
  EXPECT_TRUE(r.stdout_overflow);
  EXPECT_EQ(r.out.size(), 1000u);
  EXPECT_FALSE(r.succeeded());
}

TEST(Subprocess, MissingProgramIsReported) {
  ProcessOptions options;
  options.argv = {"/nonexistent/program"};
  auto r = run_process(options);
  EXPECT_FALSE(r.started);
  EXPECT_NE(r.outcome(options.timeout).find("could not start"), std::string::npos);
  // Under the memory limit prlimit starts, and the missing program is its exit code 127: named as such.
  options.max_memory_bytes = 512u << 20;
  r = run_process(options);
  ASSERT_TRUE(r.started);
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_NE(r.outcome(options.timeout).find("command not found: is /nonexistent/program installed and on PATH?"),
            std::string::npos)
      << r.outcome(options.timeout);
}

// A standby pays its start before it is needed; its time limit starts at go().
TEST(StandbyProcess, StartsAheadAndRunsWhenToldTo) {
  ProcessOptions options;
  options.argv = {"sh", "-c", "read line; [ \"$line\" = go ] && echo working"};
  options.timeout = 300ms;
  StandbyProcess standby(options);
  std::this_thread::sleep_for(500ms);  // longer than its time limit: waiting does not count
  ASSERT_TRUE(standby.ready());
  auto r = standby.go();
  EXPECT_TRUE(r.succeeded()) << r.outcome(options.timeout) << " " << r.err;
  EXPECT_EQ(r.out, "working\n");
  EXPECT_FALSE(standby.ready()) << "a standby runs once";
}

TEST(StandbyProcess, OneNeverToldToGoEndsWithoutDoingItsWork) {
  char dir[] = "/tmp/gitgate-standby-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string marker = std::string(dir) + "/worked";
  {
    ProcessOptions options;
    options.argv = {"sh", "-c", "read line || exit 0; touch " + marker};
    StandbyProcess standby(options);
    ASSERT_TRUE(standby.ready());
  }
  EXPECT_NE(access(marker.c_str(), F_OK), 0) << "the unused standby did its work";
  rmdir(dir);
}

TEST(StandbyProcess, OneThatEndedEarlyIsNotReadyAndGoSaysSo) {
  ProcessOptions options;
  options.argv = {"sh", "-c", "exit 3"};
  StandbyProcess standby(options);
  for (int i = 0; i < 200 && standby.ready(); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_FALSE(standby.ready());
  auto r = standby.go();
  EXPECT_FALSE(r.started);
  EXPECT_NE(r.start_error.find("ended before it was used"), std::string::npos) << r.start_error;
}

TEST(StandbyProcess, TheTimeLimitAppliesAfterGo) {
  ProcessOptions options;
  options.argv = {"sh", "-c", "read line; sleep 30"};
  options.timeout = 300ms;
  StandbyProcess standby(options);
  auto start = std::chrono::steady_clock::now();
  auto r = standby.go();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_TRUE(r.timed_out);
}

TEST(StandbyProcess, AMissingProgramIsNotReady) {
  ProcessOptions options;
  options.argv = {"/nonexistent/program"};
  StandbyProcess standby(options);
  EXPECT_FALSE(standby.ready());
  EXPECT_FALSE(standby.go().started);
}

}  // namespace
}  // namespace gitgate
