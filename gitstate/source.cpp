#include "gitstate/source.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <charconv>
#include <filesystem>
#include <fstream>

#include "gitstate/fetch_child.h"
#include "gitstate/git.h"
#include "gitstate/remote_url.h"
#include "gitstate/snapshot_builder.h"
#include "core/subprocess.h"

namespace gitgate::gitstate {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Beside the cache repository, one line "<commit> <unix ms>": when a fetch last confirmed that commit as the
// branch head. A server restarted while the remote is away serves the cached commit; with this line its age
// (for /readyz and maxStaleness) goes on from the last confirmation instead of being unknown, so a rolling
// restart during a Git outage does not take every replica out of the Service at once. Best effort: written
// to a temporary file and renamed (a crash leaves the old line or the new one); a line that is missing,
// unreadable, for another commit or from the future counts as no confirmation.
std::string confirmed_path(const std::string& git_dir) {
  return git_dir + ".confirmed";
}

void save_confirmed(const std::string& git_dir, const std::string& commit, int64_t unix_ms) {
  const std::string path = confirmed_path(git_dir), temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << commit << ' ' << unix_ms << '\n';
    if (!out.flush()) return;
  }
  std::error_code ec;
  fs::rename(temporary, path, ec);
}

int64_t load_confirmed(const std::string& git_dir, const std::string& commit) {
  std::ifstream in(confirmed_path(git_dir));
  char buffer[128];
  in.read(buffer, sizeof buffer);
  std::string_view line(buffer, static_cast<size_t>(in.gcount()));
  auto space = line.find(' ');
  if (space == std::string_view::npos || line.substr(0, space) != commit || commit.empty()) return 0;
  int64_t unix_ms = 0;
  auto digits = line.substr(space + 1);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), unix_ms);
  if (ec != std::errc() || end == digits.data() || (end != digits.data() + digits.size() && *end != '\n'))
    return 0;
  return unix_ms > 0 && unix_ms <= now_unix_ms() ? unix_ms : 0;
}

std::string hex_sha256(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < size; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xF];
  }
  return out;
}

struct FetchOutcome {
  bool ok = false;
  std::string error;
};

ProcessOptions fetch_process(const SourceOptions& options, const FetchRequest& request, int cancel_fd) {
  ProcessOptions process;
  process.argv = fetch_child_argv(options.fetch_program, request);
  process.timeout = options.spec.fetch_timeout;
  process.max_stdout = 4096;
  process.max_stderr = 4096;
  process.cancel_fd = cancel_fd;
  return process;
}

ProcessOptions standby_process(const SourceOptions& options, FetchRequest request, int cancel_fd) {
  request.standby = true;
  return fetch_process(options, request, cancel_fd);
}

// Runs one fetch in a child process, killed at the deadline or when `cancel_fd` becomes readable; by
// `standby` when it was started for this request and still waits.
FetchOutcome fetch(const SourceOptions& options, const FetchRequest& request, int cancel_fd,
                   StandbyProcess* standby = nullptr) {
  ProcessResult run;
  if (standby != nullptr && standby->ready() &&
      standby->options().argv == standby_process(options, request, cancel_fd).argv)
    run = standby->go();
  if (!run.started) run = run_process(fetch_process(options, request, cancel_fd));
  if (run.succeeded()) return {true, {}};
  std::string detail = run.err;
  while (!detail.empty() && (detail.back() == '\n' || detail.back() == ' ')) detail.pop_back();
  if (run.timed_out || run.cancelled || !run.started || detail.empty())
    detail = "fetch " + run.outcome(options.spec.fetch_timeout) + (detail.empty() ? "" : ": " + detail);
  return {false, detail};
}

FetchRequest main_request(const SourceOptions& options, const std::string& git_dir) {
  return {git_dir, options.spec.url, options.spec.branch, options.spec.credentials, "", "", "", ""};
}

FetchRequest other_request(const SourceOptions& options, const OtherRepository& other) {
  FetchRequest request{cache_repository(options.cache_dir, other), other.url, other.branch, other.credentials,
                       other.tag, other.semver, other.commit, other.digest};
  if (other.oci() || !other.tag.empty() || !other.semver.empty() || !other.commit.empty()) request.branch.clear();
  return request;
}

Status validate(const SourceOptions& options) {
  auto url = parse_remote_url(options.spec.url);
  if (!url) return Error{url.error()};
  ensure_libgit2();
  int valid = 0;
  std::string ref = "refs/heads/" + options.spec.branch;
  if (options.spec.branch.empty() || git_reference_name_is_valid(&valid, ref.c_str()) != 0 || valid == 0)
    return Error{"'" + options.spec.branch + "' is not a valid branch name"};
  if (options.cache_dir.empty()) return Error{"no cache directory (--cache-dir) for Git sources"};
  if (options.spec.window < 1) return Error{"the snapshot window must keep at least 1 snapshot"};
  if (options.spec.interval <= std::chrono::microseconds::zero() ||
      options.spec.fetch_timeout <= std::chrono::microseconds::zero())
    return Error{"the fetch interval and timeout must be positive"};
  if (options.spec.render == Render::Kustomize && options.spec.kustomize_command.empty())
    return Error{"render: kustomize needs a command"};
  return Status::Ok();
}

manifests::Limits limits_of(const SourceOptions& options) {
  manifests::Limits limits = options.limits;
  limits.max_file_bytes = options.spec.max_file_bytes;
  return limits;
}

}  // namespace

std::string cache_repository(const std::string& cache_dir, const SourceSpec& spec) {
  std::string identity = spec.url;
  identity += '\0';
  identity += spec.branch;
  return (fs::path(cache_dir) / (hex_sha256(identity).substr(0, 24) + ".git")).string();
}

std::string cache_repository(const std::string& cache_dir, const OtherRepository& other) {
  SourceSpec at;
  at.url = other.url;
  at.branch = !other.oci() && other.tag.empty() && other.semver.empty() && other.commit.empty() ? other.branch : other.ref();  // a branch's is a source's
  return cache_repository(cache_dir, at);
}

Result<std::unique_ptr<Source>> Source::create(SourceOptions options) {
  std::string prefix = "source: ";
  if (gitgate::Status s = validate(options); !s.ok()) return Error{prefix + s.error()};
  std::error_code ec;
  fs::create_directories(options.cache_dir, ec);
  if (ec)
    return Error{prefix + "cannot create the cache directory " + options.cache_dir + ": " + ec.message()};
  std::string git_dir = cache_repository(options.cache_dir, options.spec);
  auto builder = SnapshotBuilder::create(git_dir, options.spec, limits_of(options));
  if (!builder) return Error{prefix + builder.error()};
  auto source =
      std::unique_ptr<Source>(new Source(std::move(options), std::move(git_dir), std::move(*builder)));
  if (source->stop_pipe_[0] < 0) return Error{prefix + "cannot create a pipe"};
  return source;
}

Source::Source(SourceOptions options, std::string git_dir, std::unique_ptr<SnapshotBuilder> builder)
    : options_(std::move(options)), git_dir_(std::move(git_dir)), builder_(std::move(builder)) {
  if (pipe2(stop_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) stop_pipe_[0] = stop_pipe_[1] = -1;
}

Source::~Source() {
  stop();
  for (int fd : stop_pipe_)
    if (fd >= 0) close(fd);
}

void Source::start() {
  std::lock_guard lock(mutex_);
  if (started_ || stopping_) return;
  started_ = true;
  thread_ = std::thread([this] { run(); });
}

void Source::stop() {
  std::vector<std::function<void()>> orphans;
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    if (stop_pipe_[1] >= 0) {
      char byte = 1;
      [[maybe_unused]] auto written = write(stop_pipe_[1], &byte, 1);
    }
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard lock(mutex_);
    orphans.swap(waiters_);
  }
  for (auto& done : orphans) done();
}

void Source::request_sync(std::function<void()> done, Clock::time_point deadline) {
  {
    std::unique_lock lock(mutex_);
    if (!stopping_) {
      if (in_flight_ || sync_requested_) {
        waiters_.push_back(std::move(done));
        return;
      }
      // The fetch starts now, or when the rate limit allows. A caller whose deadline would pass before that
      // fetch is done (if it takes as long as the last one) is answered at once; the fetch still happens,
      // for the retry.
      const auto now = Clock::now();
      const auto allowed = last_fetch_start_ + options_.sync_rate_limit;
      const bool wait = last_fetch_start_ == Clock::time_point{} || allowed <= now ||
                        allowed + last_fetch_duration_ < deadline;
      sync_requested_ = true;
      if (wait) waiters_.push_back(std::move(done));
      lock.unlock();
      wake_.notify_all();
      if (wait) return;
    }
  }
  done();
}

Source::Status Source::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

void Source::run() {
  std::unique_lock lock(mutex_);
  auto next_due = Clock::now();
  while (!stopping_) {
    // Due at the interval, or sooner when a sync was asked for, but never within sync_rate_limit of the
    // last fetch's start.
    auto due = next_due;
    if (sync_requested_) due = std::min(due, last_fetch_start_ + options_.sync_rate_limit);
    if (Clock::now() < due) {
      wake_.wait_until(lock, due);
      continue;  // a request, stop() or the time: decide again
    }
    sync_requested_ = false;
    in_flight_ = true;
    last_fetch_start_ = Clock::now();
    lock.unlock();
    try {
      sync();
    } catch (const std::exception& e) {  // the sync thread must survive anything a build throws
      record_failure(std::string("sync failed: ") + e.what());
    }
    lock.lock();
    in_flight_ = false;
    last_fetch_duration_ = Clock::now() - last_fetch_start_;
    next_due = last_fetch_start_ + options_.spec.interval;
    std::vector<std::function<void()>> finished;
    finished.swap(waiters_);
    lock.unlock();
    for (auto& done : finished) done();
    // Once the reviews that waited for this sync are answered: the next sync's fetch child starts, and the
    // builder lets go of the last repository handle.
    pollfd stop{stop_pipe_[0], POLLIN, 0};
    if (options_.standby_fetch && ::poll(&stop, 1, 0) == 0)
      standby_ = std::make_unique<StandbyProcess>(
          standby_process(options_, main_request(options_, git_dir_), stop_pipe_[0]));
    builder_->idle();
    lock.lock();
  }
}

void Source::record_failure(const std::string& message) {
  std::lock_guard lock(mutex_);
  status_.last_error = message;
  ++status_.fetch_errors;
}

void Source::publish(std::shared_ptr<const Snapshot> snapshot, bool fetched) {
  auto next = std::make_shared<SnapshotWindow>();
  next->snapshots.push_back(snapshot);
  if (auto current = window_.load()) {
    for (const auto& older : current->snapshots) {
      if (next->snapshots.size() >= static_cast<size_t>(options_.spec.window)) break;
      if (older->commit().id != snapshot->commit().id) next->snapshots.push_back(older);
    }
  }
  // The window and the status change under one lock: whoever sees the new window and then asks status()
  // sees its commit, and no error from before it (an ASan run once saw the new head with the old error).
  // The first snapshot, from the cache with the remote away: confirmed when the process before last fetched.
  const int64_t earlier =
      !fetched && published_commit_.empty() ? load_confirmed(git_dir_, snapshot->commit().id) : 0;
  const int64_t now = now_unix_ms();
  {
    std::lock_guard lock(mutex_);
    window_.publish(std::move(next));
    published_commit_ = snapshot->commit().id;
    status_.ready = true;
    status_.commit = snapshot->commit().id;
    status_.problems = snapshot->problems();
    status_.declared_objects = snapshot->object_count();
    if (earlier > 0) status_.last_success_unix_ms = earlier;
    if (fetched) {
      status_.last_success_unix_ms = now;
      status_.last_error.clear();
    }
  }
  if (fetched) confirmed(now);
}

// The file I/O stays outside the lock that status() takes.
void Source::confirmed(int64_t unix_ms) {
  save_confirmed(git_dir_, published_commit_, unix_ms);
}

void Source::sync() {
  {
    std::lock_guard lock(mutex_);
    status_.last_attempt_unix_ms = now_unix_ms();
    ++status_.fetches;
  }
  FetchOutcome fetched = fetch(options_, main_request(options_, git_dir_), stop_pipe_[0], standby_.get());
  standby_.reset();  // used, or not for this request
  if (!fetched.ok) {
    record_failure(fetched.error);
    // After a restart with the remote away, the cache still holds the last commit fetched: serve it.
    if (!published_commit_.empty()) return;
  }
  auto head = builder_->fetched_head();
  if (!head) {
    if (fetched.ok) record_failure("the fetch reported success but the cache holds no commit");
    return;
  }
  fetch_others();
  auto signers = builder_->refresh_signers();
  if (!signers) {
    record_failure(signers.error());
    return;
  }
  signers_changed_ = signers_changed_ || *signers;
  bool unchanged = *head == published_commit_ && !signers_changed_;
  auto nothing_new = [&] {
    const int64_t now = now_unix_ms();
    {
      std::lock_guard lock(mutex_);
      status_.last_success_unix_ms = now;
      status_.last_error.clear();
    }
    confirmed(now);
  };
  if (unchanged && !builder_->rebuilds_unchanged_commits()) return nothing_new();  // no parse, no new window
  std::string fingerprint = builder_->fingerprint();
  auto snapshot = builder_->build(*head, stop_pipe_[0]);
  if (!snapshot) {
    record_failure(snapshot.error());
    return;
  }
  if (unchanged && builder_->fingerprint() == fingerprint) return nothing_new();
  signers_changed_ = false;
  publish(std::move(*snapshot), fetched.ok);
}

// The other repositories Flux and Argo CD build from: each fetched at most once per interval (a sync on miss
// is for the policy's own branch), its outcome handed to the builder.
void Source::fetch_others() {
  const auto& others = options_.spec.repositories;
  if (others.empty()) return;
  auto now = std::chrono::steady_clock::now();
  other_fetched_at_.resize(others.size());
  for (size_t i = 0; i < others.size(); ++i) {
    if (other_fetched_at_[i] != std::chrono::steady_clock::time_point{} &&
        now - other_fetched_at_[i] < options_.spec.interval)
      continue;
    other_fetched_at_[i] = now;
    builder_->note_other_fetch(others[i], fetch(options_, other_request(options_, others[i]), stop_pipe_[0]).error);
  }
}

Result<std::shared_ptr<const SnapshotWindow>> sync_once(const SourceOptions& options, bool fetch_first) {
  if (gitgate::Status s = validate(options); !s.ok()) return Error{"source: " + s.error()};
  std::string git_dir = cache_repository(options.cache_dir, options.spec);
  if (fetch_first) {
    std::error_code ec;
    fs::create_directories(options.cache_dir, ec);
    FetchOutcome fetched = fetch(options, main_request(options, git_dir), -1);
    if (!fetched.ok) return Error{fetched.error};
  }
  auto builder = SnapshotBuilder::create(git_dir, options.spec, limits_of(options));
  if (!builder) return Error{"source: " + builder.error()};
  if (fetch_first)
    for (const auto& other : options.spec.repositories)
      (*builder)->note_other_fetch(other, fetch(options, other_request(options, other), -1).error);
  auto head = (*builder)->fetched_head();
  if (!head)
    return Error{"the cache " + git_dir + " holds nothing fetched from " +
                 parse_remote_url(options.spec.url)->redacted + " yet; fetch first"};
  auto signers = (*builder)->refresh_signers();
  if (!signers) return Error{signers.error()};
  auto snapshot = (*builder)->build(*head, -1);
  if (!snapshot) return Error{snapshot.error()};
  auto window = std::make_shared<SnapshotWindow>();
  window->snapshots.push_back(std::move(*snapshot));
  return std::shared_ptr<const SnapshotWindow>(std::move(window));
}

}  // namespace gitgate::gitstate
