// A value that one writer replaces now and then (a Git snapshot window, a TLS context) and many request
// threads read. Readers keep a cached copy and only touch the lock when the version moved, so the steady
// state of the request path takes no lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

namespace gitgate {

template <class T>
class Published {
 public:
  Published() = default;
  explicit Published(std::shared_ptr<const T> initial) : value_(std::move(initial)) {}

  void publish(std::shared_ptr<const T> value) {
    std::lock_guard lock(mutex_);
    value_ = std::move(value);
    version_.fetch_add(1, std::memory_order_release);
  }

  std::shared_ptr<const T> load() const {
    std::lock_guard lock(mutex_);
    return value_;
  }

  uint64_t version() const { return version_.load(std::memory_order_acquire); }

  // One per thread; not thread-safe itself.
  class Reader {
   public:
    explicit Reader(const Published& source) : source_(&source) {}
    const std::shared_ptr<const T>& get() {
      uint64_t v = source_->version();
      if (v != seen_) {
        cached_ = source_->load();
        seen_ = v;
      }
      return cached_;
    }

   private:
    const Published* source_;
    uint64_t seen_ = ~uint64_t{0};
    std::shared_ptr<const T> cached_;
  };

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const T> value_;
  std::atomic<uint64_t> version_{0};
};

}  // namespace gitgate
