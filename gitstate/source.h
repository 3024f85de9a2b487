// A policy's Git source: clone once into the cache directory, fetch on a background thread every interval,
// and publish immutable snapshot windows that request threads read without locks.
//
// Every fetch runs in a child process (`<fetch_program> __fetch`, see fetch_child.h) killed at
// spec.fetch_timeout, because libgit2 1.5 has no network timeouts. Snapshots are built on the sync thread
// from the fetched commit's tree objects only. Whatever fails (fetch, signature requirement, render, a
// missing path), the last good snapshot stays in force and the error is in status().
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/declared.h"
#include "core/subprocess.h"
#include "core/published.h"
#include "core/result.h"
#include "core/source_spec.h"
#include "manifests/loader.h"

namespace gitgate::gitstate {

class SnapshotBuilder;

struct SourceOptions {
  std::string name;  // the policy's name, for the caller's messages (the Source's own do not repeat it)
  gitgate::SourceSpec spec;
  std::string cache_dir;                         // one bare repository per (url, branch) is kept below it
  std::string fetch_program = "/proc/self/exe";  // a gitgate binary: runs `__fetch`
  manifests::Limits limits;                      // max_file_bytes is taken from spec.max_file_bytes
  // request_sync() starts no fetch within this long of the previous one's start: it waits for that time.
  std::chrono::milliseconds sync_rate_limit = std::chrono::seconds(2);
  // Keep the next fetch child of the source's own repository started and waiting (StandbyProcess), so that
  // a fetch a review waits for does not also wait for a process to start (exec, linking, libgit2's
  // initialisation: about 35 ms). For servers; one-shot commands leave it off.
  bool standby_fetch = false;
};

class Source {
 public:
  struct Status {
    bool ready = false;             // a snapshot is published
    std::string commit;             // the published snapshot's commit id ("" before the first)
    // When the published snapshot was last confirmed as the branch head, by this process or, for a cached
    // commit served after a restart with the remote away, by the one before; 0 when never.
    int64_t last_success_unix_ms = 0;
    int64_t last_attempt_unix_ms = 0;  // last fetch attempt
    std::string last_error;         // of the last attempt; "" when it succeeded. Never holds credentials
    uint64_t fetches = 0;
    uint64_t fetch_errors = 0;  // failed attempts (fetch, signature requirement, render or build)
    std::vector<gitgate::Problem> problems;  // of the published snapshot: skipped files, conflicts
    size_t declared_objects = 0;
  };

  // Checks the options (URL scheme, no password in the URL, branch name, paths, cache directory) without
  // touching the network.
  static gitgate::Result<std::unique_ptr<Source>> create(SourceOptions options);
  ~Source();
  Source(const Source&) = delete;
  Source& operator=(const Source&) = delete;

  // Starts the sync thread: a fetch now, then one every spec.interval. Never throws; errors go to status().
  void start();
  // Prompt: wakes the thread, kills an in-flight fetch or render, joins. Pending request_sync callbacks are
  // called. Idempotent.
  void stop();

  // The current snapshot window; lock-free for readers (Published::Reader).
  const gitgate::Published<gitgate::SnapshotWindow>& window() const { return window_; }

  // Sync on miss: asks for a fetch now, or once sync_rate_limit has passed since the last one began (a storm
  // of misses costs the remote one fetch per sync_rate_limit, and a commit pushed just after a fetch is
  // still fetched for the request that needs it). Joins the fetch in flight or already requested. `done` is
  // called exactly once: on the sync thread after that fetch and its snapshot build finished, or by stop(),
  // or at once when a deferred fetch taking as long as the last one would end after `deadline` (the caller
  // answers from the snapshot it has; the fetch still happens, for its retry). Never blocks.
  void request_sync(std::function<void()> done, std::chrono::steady_clock::time_point deadline =
                                                    std::chrono::steady_clock::time_point::max());

  Status status() const;

  // The cache repository of this source (for tests and tools).
  const std::string& git_dir() const { return git_dir_; }

 private:
  explicit Source(SourceOptions options, std::string git_dir, std::unique_ptr<SnapshotBuilder> builder);
  void run();
  void sync();
  // `fetched`: the snapshot comes from a fetch that succeeded (not the cache with the remote away).
  void publish(std::shared_ptr<const gitgate::Snapshot> snapshot, bool fetched);
  void record_failure(const std::string& message);
  // Keeps, beside the cache, when the published commit was last confirmed as the branch head: a restart
  // with the remote away goes on from that time.
  void confirmed(int64_t unix_ms);
  void fetch_others();

  SourceOptions options_;
  std::string git_dir_;
  std::unique_ptr<SnapshotBuilder> builder_;  // sync thread only
  gitgate::Published<gitgate::SnapshotWindow> window_;
  std::string published_commit_;  // sync thread only
  bool signers_changed_ = false;  // sync thread only
  std::vector<std::chrono::steady_clock::time_point> other_fetched_at_;  // sync thread only
  std::unique_ptr<gitgate::StandbyProcess> standby_;  // sync thread only: the next sync's fetch child

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool started_ = false;
  bool stopping_ = false;
  bool sync_requested_ = false;
  bool in_flight_ = false;
  std::chrono::steady_clock::time_point last_fetch_start_{};
  std::chrono::steady_clock::duration last_fetch_duration_{};  // fetch and snapshot build
  std::vector<std::function<void()>> waiters_;
  Status status_;
  std::thread thread_;
  int stop_pipe_[2] = {-1, -1};  // written once by stop(): readable = stop now (polled by fetch and render)
};

// The cache repository for a source: <cache_dir>/<hash of url and branch>.git (never the raw URL).
std::string cache_repository(const std::string& cache_dir, const gitgate::SourceSpec& spec);
// The cache repository of one of spec.repositories (a branch's is the one a source at that branch uses).
std::string cache_repository(const std::string& cache_dir, const gitgate::OtherRepository& other);

// One-shot, for the offline CLI: fetch (unless `fetch` is false: read what the cache already holds) and
// build one snapshot. Blocks for at most the fetch and render time limits.
gitgate::Result<std::shared_ptr<const gitgate::SnapshotWindow>> sync_once(const SourceOptions& options,
                                                                          bool fetch);

}  // namespace gitgate::gitstate
