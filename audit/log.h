// The audit log: every decision the server makes becomes one JSON line, written by one writer thread to
// stdout (for the cluster's log pipeline) and/or a size-rotated, hash-chained file.
//
// The primary sink is the file, or stdout when there is no file: a decision waits for its record to reach
// it (Durability). The writer groups whatever records are waiting into one write(2) (group commit), so
// waiting costs a write per batch, not per record. Nothing here blocks a caller: a caller that must wait
// gets a callback.
//
// A primary sink that fails (ENOSPC, EIO, EROFS, its directory deleted, a write that does not return
// within `stall_after`) is an outage: available() turns false naming it, reviews get the outage's answer
// at once (OnFailure), and the lines it could not take are kept, up to `backlog_capacity`, and written in
// order, chain intact, when it writes again. Past the bound, records are lost to that sink, counted, and a
// gap record in the chain says which (audit/README.md). stdout next to a file is a secondary sink: it
// never holds the writer up, and fails, keeps and loses lines on its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include "audit/record.h"
#include "core/recorded.h"
#include "core/result.h"

namespace gitgate::audit {

// When a decision may be answered.
enum class Durability {
  Async,    // at once; records reach the sinks within a few milliseconds (lost if the process dies first)
  Written,  // once its record is written to the primary sink (write(2) returned: survives a process crash)
  Synced,   // once its record is written and fdatasync'ed (survives power loss)
};
std::string_view to_string(Durability durability);
Result<Durability> parse_durability(std::string_view text);

// What reviews get while the primary sink cannot be written.
enum class OnFailure {
  Deny,   // a denial saying the audit log is unavailable (nothing unrecorded is admitted)
  Allow,  // the decision as taken; the record goes to the other sinks and waits (bounded) for this one
};
std::string_view to_string(OnFailure on_failure);
Result<OnFailure> parse_on_failure(std::string_view text);

class AuditLog {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    bool to_stdout = false;  // the same lines, chain fields included, on stdout
    std::string file;        // empty: no file sink
    uint64_t max_file_bytes = 100 * 1024 * 1024;
    int max_files = 10;         // the active file plus max_files-1 rotated ones (file.1 is the newest)
    std::string hmac_key_file;  // empty: a SHA-256 chain; else an HMAC-SHA256 chain with this key
    Durability durability = Durability::Written;
    OnFailure on_failure = OnFailure::Deny;
    // Async: records queued before answers wait for the writer after all (back-pressure without blocking).
    size_t queue_capacity = 65536;
    // Lines kept for a failing sink; past this, lines are lost to it (counted, and a gap record says so).
    size_t backlog_capacity = 65536;
    std::chrono::milliseconds flush_interval{200};  // fdatasync period while records arrive (written, async)
    std::chrono::milliseconds retry_interval{250};  // how often a failing sink is tried again
    std::chrono::milliseconds stall_after{1000};    // a write(2) or fdatasync that takes longer is an outage
    std::chrono::milliseconds outage_log_interval{10000};  // a log line this often while an outage lasts
    // close(): how long a failing sink is tried again before what it holds is given up (written to stderr).
    std::chrono::milliseconds close_timeout{2000};
    int stdout_fd = STDOUT_FILENO;  // tests point it elsewhere
  };

  // Opens the sinks. An existing file continues its chain from its last complete record; an unfinished
  // last line (a crash mid-write) is reported on stderr and left in place: the file is rotated so the
  // chain continues in a fresh one. Errors name the file and say what to do.
  static Result<std::unique_ptr<AuditLog>> open(Options options);

  ~AuditLog();  // close()
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Queues the record of a decision to be answered; thread-safe, many producers; FIFO per producer. Never
  // blocks. Returns the outcome when it is known at once: the primary sink is failing (under Deny the
  // record is now a denial, and so must the answer be), Async durability below queue_capacity, or the log
  // is closed (refused). Otherwise returns nullopt and calls `done` once, from the writer thread, when the
  // record is durable, or refused (it could not be written, or not before `deadline`: the record is then the
  // denial). With wake false the writer is not woken for it: the caller calls wake() once it has queued
  // what it has (one wake-up per batch of reviews).
  std::optional<RecordOutcome> submit(Record&& record, Clock::time_point deadline, RecordDone done,
                                      bool wake = true);
  // Queues a record exactly as it is, with nothing waiting on it (e.g. `gitgate review --audit-file`).
  void submit(Record&& record);
  void wake();

  // Writes what is queued, tries a failing sink again for up to close_timeout, syncs and stops the writer
  // thread. Records a sink still holds then are counted as lost and, without stdout, written to stderr.
  // Idempotent and thread-safe.
  void close();

  // False while the primary sink is failing; `why` names the sink and the cause.
  bool available(std::string& why) const;

  struct SinkStats {
    std::string name;  // "file" or "stdout"
    bool up = true;
    uint64_t backlog = 0;    // lines kept for it while it fails
    uint64_t unwritten = 0;  // lines it could not write when they were made (kept, or lost)
    uint64_t lost = 0;       // lines it never got: past the backlog, or given up at close
  };
  struct Stats {
    uint64_t queue_depth = 0;      // records submitted and not yet handled by the writer
    uint64_t records_written = 0;  // to the primary sink
    uint64_t write_errors = 0;     // failed writes, syncs, rotations and reopens, records after close
    uint64_t refused = 0;          // records turned into denials because they could not be written
    uint64_t outages = 0;          // of the primary sink
    double outage_seconds = 0;     // the current one; 0 when up
    std::vector<SinkStats> sinks;  // the primary first
  };
  Stats stats() const;
  uint64_t queue_depth() const;
  uint64_t records_written() const;
  uint64_t write_errors() const;

 private:
  struct State;  // the queue, the sinks and the writer's state, in log.cpp
  explicit AuditLog(std::unique_ptr<State> state);
  std::unique_ptr<State> owned_;
  State* state_;  // stays valid when close() has to leave a writer stuck in the kernel behind
};

}  // namespace gitgate::audit
