#include "webhook/memory_budget.h"

#include <simdjson.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

namespace gitgate::webhook {

class MemoryBudget::Waiter {
 public:
  Waiter(size_t wanted, bool is_large, std::function<void()> on_granted)
      : bytes(wanted), large(is_large), granted(std::move(on_granted)) {}
  size_t bytes;
  bool large;
  std::function<void()> granted;
};

size_t request_memory_cost(size_t body_bytes) {
  if (body_bytes <= kLargeBodyBytes) return body_bytes + simdjson::SIMDJSON_PADDING + 16 * 1024;
  // A 7 MB body of numbers and commas (the densest tape) peaked at 12.7 bytes per body byte: 12 of tape and
  // structural indexes, the body itself; the rest covers a widened copy and the engine's scratch.
  constexpr size_t kPerBodyByte = 15;
  constexpr size_t kFixed = 64 * 1024;
  return body_bytes * kPerBodyByte + simdjson::SIMDJSON_PADDING + kFixed;
}

namespace {

// The first line of a cgroup file as a byte count; 0 for "max", absent or unreadable.
uint64_t read_limit(const char* path) {
  std::ifstream in(path);
  std::string text;
  if (!in || !std::getline(in, text) || text.empty() || text == "max") return 0;
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return 0;
    if (value > (UINT64_MAX - 9) / 10) return 0;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  // cgroup v1 says "no limit" with a huge number (PAGE_COUNTER_MAX pages).
  if (value >= (uint64_t{1} << 60)) return 0;
  return value;
}

}  // namespace

uint64_t container_memory_limit() {
  if (uint64_t v2 = read_limit("/sys/fs/cgroup/memory.max"); v2 > 0) return v2;
  return read_limit("/sys/fs/cgroup/memory/memory.limit_in_bytes");
}

size_t default_max_connections(uint64_t memory_limit) {
  constexpr size_t kMost = 10000;
  if (memory_limit == 0) return kMost;
  return std::clamp<size_t>(static_cast<size_t>(memory_limit / 4 / kConnectionMemoryBytes), 64, kMost);
}

bool MemoryBudget::fits(size_t bytes, bool large) const {
  size_t limit = large ? large_capacity_ : capacity_;
  return bytes <= limit - std::min(limit, in_use_);
}

bool MemoryBudget::try_reserve(size_t bytes, bool large) {
  std::lock_guard lock(mutex_);
  if (!fits(bytes, large)) return false;
  in_use_ += bytes;
  peak_ = std::max(peak_, in_use_);
  return true;
}

std::shared_ptr<MemoryBudget::Waiter> MemoryBudget::wait(size_t bytes, bool large,
                                                         std::function<void()> granted) {
  auto waiter = std::make_shared<Waiter>(bytes, large, std::move(granted));
  {
    std::lock_guard lock(mutex_);
    ++waits_;
    if (!fits(bytes, large)) {
      waiters_.push_back(waiter);
      return waiter;
    }
    in_use_ += bytes;
    peak_ = std::max(peak_, in_use_);
  }
  waiter->granted();
  return waiter;
}

bool MemoryBudget::cancel(const std::shared_ptr<Waiter>& waiter) {
  std::lock_guard lock(mutex_);
  auto at = std::find(waiters_.begin(), waiters_.end(), waiter);
  if (at == waiters_.end()) return false;
  waiters_.erase(at);
  return true;
}

void MemoryBudget::release(size_t bytes) {
  std::vector<std::shared_ptr<Waiter>> granted;
  {
    std::lock_guard lock(mutex_);
    in_use_ -= std::min(bytes, in_use_);
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (fits((*it)->bytes, (*it)->large)) {
        in_use_ += (*it)->bytes;
        granted.push_back(std::move(*it));
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
    peak_ = std::max(peak_, in_use_);
  }
  for (auto& waiter : granted) waiter->granted();
}

MemoryBudget::Stats MemoryBudget::stats() const {
  std::lock_guard lock(mutex_);
  return Stats{capacity_, in_use_, peak_, waiters_.size(), waits_, refusals_};
}

void MemoryBudget::count_refusal() {
  std::lock_guard lock(mutex_);
  ++refusals_;
}

}  // namespace gitgate::webhook
