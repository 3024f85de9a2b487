// Runs a program (argv, never a shell) with a wall-clock limit and bounded output, and kills its whole
// process group at the deadline or when asked to stop. Used for the fetch child, kustomize and helm.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace gitgate {

struct ProcessOptions {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH when it has no '/'
  std::string working_directory;  // empty: inherit
  std::chrono::microseconds timeout = std::chrono::seconds(60);
  size_t max_stdout = 1024 * 1024;  // beyond this the process is killed and the run reported as failed
  size_t max_stderr = 64 * 1024;    // beyond this stderr is truncated (the process runs on)
  int cancel_fd = -1;               // readable means stop now (kill the process)
  std::vector<std::string> environment;  // "NAME=value" entries added to (or replacing) the inherited ones
  // Heap the process may use (RLIMIT_DATA, through util-linux's prlimit); 0: no limit of its own.
  uint64_t max_memory_bytes = 0;
};

struct ProcessResult {
  bool started = false;
  std::string start_error;  // why the program could not be started
  int exit_code = -1;       // -1 unless it exited normally
  int signal = 0;           // the signal that ended it, if any
  bool timed_out = false;
  bool cancelled = false;
  bool stdout_overflow = false;
  std::string out;
  std::string err;
  std::string argv0;  // the program run (options.argv[0]), for messages

  bool succeeded() const { return started && exit_code == 0 && !timed_out && !cancelled && !stdout_overflow; }
  // A short description of how it ended, for messages ("exited with 2", "killed after 30s").
  std::string outcome(std::chrono::microseconds timeout) const;
};

ProcessResult run_process(const ProcessOptions& options);

// A process started before it is needed, so that its start-up (exec, dynamic linking, initialisation) is
// paid while nothing waits for it: the program reads one line from its stdin before its work. go() sends
// that line ("go") and then runs it as run_process() does, the time limit counted from go(). A standby
// never sent it has its stdin closed (the program ends) and is reaped, killed if it lingers.
class StandbyProcess {
 public:
  explicit StandbyProcess(const ProcessOptions& options);  // starts it
  ~StandbyProcess();
  StandbyProcess(const StandbyProcess&) = delete;
  StandbyProcess& operator=(const StandbyProcess&) = delete;

  const ProcessOptions& options() const;
  // Started and still waiting: go() can be called (once).
  bool ready();
  ProcessResult go();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace gitgate
