// The audit log: every decision the server makes becomes one JSON line, written by one writer thread to
// stdout (for the cluster's log pipeline) and/or a size-rotated, hash-chained file.
//
// Producers call submit() from request threads; it moves the record into a bounded FIFO queue and blocks
// while the queue is full (back-pressure: records are never dropped). The writer thread does all JSON
// encoding, hashing and I/O: each batch is written with write(2) as soon as it is taken from the queue,
// and the file is fdatasync'ed every `flush_interval` while records arrive, on rotation and on close().
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "audit/record.h"
#include "core/result.h"

namespace gitgate::audit {

class AuditLog {
 public:
  struct Options {
    bool to_stdout = false;  // the same lines, chain fields included, on stdout
    std::string file;        // empty: no file sink
    uint64_t max_file_bytes = 100 * 1024 * 1024;
    int max_files = 10;             // the active file plus max_files-1 rotated ones (file.1 is the newest)
    std::string hmac_key_file;      // empty: a SHA-256 chain; else an HMAC-SHA256 chain with this key
    size_t queue_capacity = 65536;  // records queued or being written; submit() blocks beyond
    std::chrono::milliseconds flush_interval{200};
  };

  // Opens the sinks. An existing file continues its chain from its last complete record; an unfinished
  // last line (a crash mid-write) is reported on stderr and left in place: the file is rotated so the
  // chain continues in a fresh one. Errors name the file and say what to do.
  static Result<std::unique_ptr<AuditLog>> open(Options options);

  ~AuditLog();  // close()
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Thread-safe, many producers. FIFO: records one thread submits are written in that order. Blocks while
  // the queue is full. A record submitted after close() has returned cannot be written: it is counted in
  // write_errors() and reported on stderr.
  void submit(Record&& record);

  // Drains the queue, writes, fdatasyncs and stops the writer thread. Idempotent and thread-safe.
  void close();

  uint64_t queue_depth() const;      // records submitted and not yet written
  uint64_t records_written() const;  // to the file (or to stdout when there is no file)
  uint64_t write_errors() const;     // failed writes, syncs and rotations, and records submitted after close

 private:
  struct State;  // the queue and the writer's state, in log.cpp
  explicit AuditLog(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace gitgate::audit
