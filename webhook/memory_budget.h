// Memory for the requests in flight, shared by every I/O thread. A review reserves what it will use (its body,
// and the parsed document and diff scratch estimated from the body's size) before its body is read; when the
// budget has no room it waits, and one that cannot get room before its deadline is refused. So no input, and
// no number of connections, takes the server past the budget plus a fixed overhead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>

namespace gitgate::webhook {

// Bodies above this are large: decoded and decided one at a time on the server's large-review lane, and
// their parsed document counts against the budget. Smaller ones are decoded on their I/O thread, whose
// parser keeps at most 12 bytes per byte of this (3 MiB) between reviews: part of the fixed overhead.
constexpr size_t kLargeBodyBytes = 256 * 1024;

// What one request body of `body_bytes` may cost while it is read, decoded and decided. Small: the body
// with simdjson's padding, and a fixed part (the answer, the decision, the audit record). Large: also
// simdjson's tape and string buffer (up to 12 bytes per body byte for a body of nothing but numbers and
// commas), a copy when big integers are widened, the duplicate-key scratch and the engine's diff.
size_t request_memory_cost(size_t body_bytes);

// The container's memory limit from cgroup v2 (memory.max) or v1 (memory.limit_in_bytes); 0 when there is
// none (unlimited, or not in a cgroup).
uint64_t container_memory_limit();

// What one open webhook connection holds however idle it is: Asio's TLS stream keeps two 17 KiB record
// buffers and its BIO pair two more, OpenSSL's SSL object, the HTTP read buffer. Measured: 3,000 TLS
// connections that had each sent one Pod review took the server from 17 to 246 MiB (78 KiB each).
constexpr size_t kConnectionMemoryBytes = 80 * 1024;

// How many connections may be open when none is asked for: as many as a quarter of the container's memory
// limit holds at kConnectionMemoryBytes each (819 under the chart's 256 MiB; the request budget takes half,
// snapshots and the audit queue the rest), between 64 and 10,000; 10,000 without a limit.
size_t default_max_connections(uint64_t memory_limit);

class MemoryBudget {
 public:
  // Large reviews may hold all but an eighth of the budget: the rest always has room for small ones.
  explicit MemoryBudget(size_t capacity) : capacity_(capacity), large_capacity_(capacity - capacity / 8) {}

  // A place in the queue of requests waiting for room.
  class Waiter;

  // Takes `bytes` when they fit now (`large`: within the large reviews' share).
  bool try_reserve(size_t bytes, bool large);
  // Queues for `bytes`; `granted` runs once, on the thread that made room (or this one), with the bytes
  // reserved. Requests are granted in order among those that fit: a large one waits while smaller ones pass.
  std::shared_ptr<Waiter> wait(size_t bytes, bool large, std::function<void()> granted);
  // Leaves the queue; false when the bytes were already granted (the `granted` callback has run or runs).
  bool cancel(const std::shared_ptr<Waiter>& waiter);
  void release(size_t bytes);

  size_t capacity() const { return capacity_; }
  // The most one large review may reserve.
  size_t large_capacity() const { return large_capacity_; }
  struct Stats {
    size_t capacity = 0;
    size_t in_use = 0;
    size_t peak = 0;
    size_t waiting = 0;
    uint64_t waits = 0;
    uint64_t refusals = 0;
  };
  Stats stats() const;
  // A request that got no room in time (answered 503), or whose body can never fit (413).
  void count_refusal();

 private:
  bool fits(size_t bytes, bool large) const;  // with mutex_ held

  const size_t capacity_;
  const size_t large_capacity_;
  mutable std::mutex mutex_;
  size_t in_use_ = 0;
  size_t peak_ = 0;
  uint64_t waits_ = 0;
  uint64_t refusals_ = 0;
  std::list<std::shared_ptr<Waiter>> waiters_;
};

// Bytes held from a budget, given back when destroyed or reset.
class MemoryLease {
 public:
  MemoryLease() = default;
  MemoryLease(MemoryBudget& budget, size_t bytes) : budget_(&budget), bytes_(bytes) {}
  MemoryLease(MemoryLease&& other) noexcept : budget_(other.budget_), bytes_(other.bytes_) { other.bytes_ = 0; }
  MemoryLease& operator=(MemoryLease&& other) noexcept {
    if (this != &other) {
      reset();
      budget_ = other.budget_;
      bytes_ = other.bytes_;
      other.bytes_ = 0;
    }
    return *this;
  }
  MemoryLease(const MemoryLease&) = delete;
  MemoryLease& operator=(const MemoryLease&) = delete;
  ~MemoryLease() { reset(); }

  void reset() {
    if (budget_ != nullptr && bytes_ > 0) budget_->release(bytes_);
    bytes_ = 0;
  }
  // Adds bytes granted by the same budget.
  void add(size_t bytes) { bytes_ += bytes; }
  size_t bytes() const { return bytes_; }

 private:
  MemoryBudget* budget_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace gitgate::webhook
