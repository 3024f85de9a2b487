#include "core/subprocess.h"

#include <algorithm>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

extern char** environ;

namespace gitgate {
namespace {

using Clock = std::chrono::steady_clock;

class Pipe {
 public:
  Pipe() {
    if (pipe2(fds_, O_CLOEXEC) != 0) fds_[0] = fds_[1] = -1;
  }
  ~Pipe() {
    close_read();
    close_write();
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  bool ok() const { return fds_[0] >= 0; }
  int read_end() const { return fds_[0]; }
  int write_end() const { return fds_[1]; }
  void close_read() {
    if (fds_[0] >= 0) close(fds_[0]);
    fds_[0] = -1;
  }
  void close_write() {
    if (fds_[1] >= 0) close(fds_[1]);
    fds_[1] = -1;
  }

 private:
  int fds_[2];
};

void kill_group(pid_t pid) {
  kill(-pid, SIGKILL);
  kill(pid, SIGKILL);
}

}  // namespace

std::string ProcessResult::outcome(std::chrono::microseconds timeout) const {
  if (!started) return "could not start: " + start_error;
  if (cancelled) return "stopped";
  if (timed_out)
    return "killed after " +
           std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count()) +
           " ms (time limit)";
  if (stdout_overflow) return "killed: output over the limit";
  if (signal != 0) return "killed by signal " + std::to_string(signal);
  // The shell's and prlimit's codes for a command that is missing or not executable: say so, since the
  // command's own stderr may be empty or prlimit's.
  if (exit_code == 127) return "exited with 127 (command not found: is " + argv0 + " installed and on PATH?)";
  if (exit_code == 126) return "exited with 126 (" + argv0 + " is not executable)";
  return "exited with " + std::to_string(exit_code);
}

namespace {

struct Running {
  pid_t pid = -1;
  Pipe in, out, err;  // `in` is used by a standby only
};

// Starts options.argv with stdout and stderr on pipes and stdin from /dev/null (or the `in` pipe).
bool spawn(const ProcessOptions& options, bool standby, Running& running, ProcessResult& result) {
  if (options.argv.empty()) {
    result.start_error = "empty command";
    return false;
  }
  result.argv0 = options.argv[0];
  Pipe& out = running.out;
  Pipe& err = running.err;
  if (!out.ok() || !err.ok() || (standby && !running.in.ok())) {
    result.start_error = std::string("pipe: ") + std::strerror(errno);
    return false;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (standby) {
    posix_spawn_file_actions_adddup2(&actions, running.in.read_end(), 0);
  } else {
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  }
  posix_spawn_file_actions_adddup2(&actions, out.write_end(), 1);
  posix_spawn_file_actions_adddup2(&actions, err.write_end(), 2);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  if (!options.working_directory.empty())
    posix_spawn_file_actions_addchdir_np(&actions, options.working_directory.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Own process group, so the deadline kills everything it started; default signal handling and an empty
  // mask, whatever the server's threads block.
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  for (int s : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2})
    sigaddset(&defaults, s);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<std::string> command;
  if (options.max_memory_bytes != 0)
    command = {"prlimit", "--data=" + std::to_string(options.max_memory_bytes), "--"};
  command.insert(command.end(), options.argv.begin(), options.argv.end());
  std::vector<char*> argv;
  for (const auto& a : command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view entry(*e);
    std::string_view name = entry.substr(0, entry.find('='));
    bool replaced = std::any_of(options.environment.begin(), options.environment.end(), [&](const std::string& o) {
      return o.size() > name.size() && o.compare(0, name.size(), name) == 0 && o[name.size()] == '=';
    });
    if (!replaced) env.push_back(*e);
  }
  for (const auto& e : options.environment) env.push_back(const_cast<char*>(e.c_str()));
  env.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    result.start_error = options.argv[0] + ": " + std::strerror(rc);
    return false;
  }
  running.pid = pid;
  result.started = true;
  out.close_write();
  err.close_write();
  running.in.close_read();
  return true;
}

// Reads the output of a started process until it ends, the time limit passes or `cancel_fd` says stop.
void collect(Running& running, const ProcessOptions& options, ProcessResult& result) {
  pid_t pid = running.pid;
  Pipe& out = running.out;
  Pipe& err = running.err;
  auto deadline = Clock::now() + options.timeout;
  bool out_open = true, err_open = true;
  char buffer[16384];
  auto stop = [&](bool& flag) {
    flag = true;
    kill_group(pid);
  };
  while ((out_open || err_open) && !result.timed_out && !result.cancelled && !result.stdout_overflow) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      stop(result.timed_out);
      break;
    }
    pollfd fds[3] = {{out_open ? out.read_end() : -1, POLLIN, 0},
                     {err_open ? err.read_end() : -1, POLLIN, 0},
                     {options.cancel_fd, POLLIN, 0}};
    int n = poll(fds, 3, static_cast<int>(std::min<long long>(left, 1000)));
    if (n < 0 && errno != EINTR) break;
    if (fds[2].revents != 0) {
      stop(result.cancelled);
      break;
    }
    auto drain = [&](int index, int fd, std::string& sink, size_t limit, bool& open, bool is_stdout) {
      if (fds[index].revents == 0) return;
      ssize_t got = read(fd, buffer, sizeof buffer);
      if (got <= 0) {
        if (got == 0 || errno != EINTR) open = false;
        return;
      }
      size_t room = limit > sink.size() ? limit - sink.size() : 0;
      sink.append(buffer, std::min(room, static_cast<size_t>(got)));
      if (static_cast<size_t>(got) > room && is_stdout) stop(result.stdout_overflow);
    };
    drain(0, out.read_end(), result.out, options.max_stdout, out_open, true);
    drain(1, err.read_end(), result.err, options.max_stderr, err_open, false);
  }
  // The pipes are closed; wait for the exit, still bounded by the deadline.
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno != EINTR)) break;
    if (Clock::now() >= deadline && !result.timed_out) stop(result.timed_out);
    if (options.cancel_fd >= 0 && !result.cancelled) {
      pollfd cancel{options.cancel_fd, POLLIN, 0};
      if (poll(&cancel, 1, 0) > 0) stop(result.cancelled);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  running.pid = -1;
}

}  // namespace

ProcessResult run_process(const ProcessOptions& options) {
  ProcessResult result;
  Running running;
  if (spawn(options, false, running, result)) collect(running, options, result);
  return result;
}

struct StandbyProcess::State {
  ProcessOptions options;
  Running running;
  ProcessResult result;  // started, or why not
  bool used = false;
};

StandbyProcess::StandbyProcess(const ProcessOptions& options) : state_(std::make_unique<State>()) {
  state_->options = options;
  spawn(state_->options, true, state_->running, state_->result);
}

StandbyProcess::~StandbyProcess() {
  pid_t pid = state_->running.pid;
  if (pid <= 0) return;
  state_->running.in.close_write();  // end of input: the program ends without doing its work
  int status = 0;
  for (int i = 0; i < 100; ++i) {  // 200 ms
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno != EINTR)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  kill_group(pid);
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

const ProcessOptions& StandbyProcess::options() const {
  return state_->options;
}

bool StandbyProcess::ready() {
  if (state_->used || state_->running.pid <= 0) return false;
  int status = 0;
  if (waitpid(state_->running.pid, &status, WNOHANG) == 0) return true;
  state_->running.pid = -1;  // it ended (or cannot be waited for) before it was needed
  return false;
}

ProcessResult StandbyProcess::go() {
  ProcessResult result = state_->result;
  if (!ready()) {
    result.started = false;
    if (result.start_error.empty()) result.start_error = "the standby process ended before it was used";
    return result;
  }
  state_->used = true;
  static constexpr char kGo[] = "go\n";
  ssize_t wrote = write(state_->running.in.write_end(), kGo, sizeof kGo - 1);
  int write_error = errno;
  state_->running.in.close_write();
  if (wrote != static_cast<ssize_t>(sizeof kGo - 1)) {
    // It is gone (EPIPE): reap it; the caller runs the program afresh.
    kill_group(state_->running.pid);
    int status = 0;
    while (waitpid(state_->running.pid, &status, 0) < 0 && errno == EINTR) {
    }
    state_->running.pid = -1;
    result.started = false;
    result.start_error = std::string("the standby process could not be told to start: ") + std::strerror(write_error);
    return result;
  }
  collect(state_->running, state_->options, result);
  return result;
}

}  // namespace gitgate
