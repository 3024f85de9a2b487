// Helpers every test suite shares: fixture paths, temporary directories, subprocesses that are always
// killed by PID, free loopback ports.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gitgate::testing {

std::string source_dir();
std::string gitgate_binary();
std::string fixture_path(std::string_view relative);
std::string read_file(const std::filesystem::path& path);
void write_file(const std::filesystem::path& path, std::string_view content);

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1;  // -1 when killed at the deadline or by a signal
  bool timed_out = false;
  std::string out;
  std::string err;
};

// Runs argv (no shell) with stdin from `input`, waits at most `timeout`.
CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = std::chrono::seconds(60),
                          std::string_view input = {}, const std::map<std::string, std::string>& env = {});

// A background process whose output goes to files; killed (SIGKILL) on destruction if still running.
class Subprocess {
 public:
  Subprocess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {});
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  void signal(int sig);
  // Waits for exit; returns the exit code, or nullopt on timeout (the process keeps running).
  std::optional<int> wait(std::chrono::milliseconds timeout);
  std::string out() const;
  std::string err() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  TempDir logs_;
};

// A port on 127.0.0.1 that nothing listened on a moment ago.
int free_port();
// Polls until a TCP connect to 127.0.0.1:port succeeds.
bool wait_for_port(int port, std::chrono::milliseconds timeout = std::chrono::seconds(10));
bool have_command(std::string_view name);

// False under sanitizers (FAULTS_RESOURCE_BOUNDS=0, set by scripts/sanitizers): instrumented code is several
// times slower and larger, so latency and memory bounds are printed, not asserted. The release suite asserts them.
bool resource_bounds();

}  // namespace gitgate::testing
