#include "core/subprocess.h"

#include <unistd.h>

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace gitgate
