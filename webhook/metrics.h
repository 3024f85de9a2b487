// Admission metrics in Prometheus text format. Each I/O thread owns a shard and counts into it with relaxed
// atomics; a new label combination takes the shard's lock once, and a scrape sums the shards. So the
// request path takes no lock in the steady state.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/admission.h"
#include "core/decision.h"

namespace gitgate::webhook {

// Upper bounds in seconds; the first is 0.25 ms.
inline constexpr std::array<double, 15> kLatencyBuckets = {0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                           0.1,     0.25,   0.5,   1.0,    2.5,   5.0,   10.0};

class AdmissionMetrics {
 public:
  class Shard {
   public:
    // A review answered with `decision`, `latency` after it was read.
    void observe(Operation operation, std::string_view kind, std::string_view ns, const Decision& decision,
                 std::chrono::microseconds latency);

   private:
    friend class AdmissionMetrics;
    struct Labels {
      std::string_view a, b, c, d;
    };
    struct Key {
      std::string a, b, c, d;
    };
    struct Hash {
      using is_transparent = void;
      size_t operator()(const Labels& l) const;
      size_t operator()(const Key& k) const { return (*this)(Labels{k.a, k.b, k.c, k.d}); }
    };
    struct Eq {
      using is_transparent = void;
      template <class X, class Y>
      bool operator()(const X& x, const Y& y) const {
        return x.a == y.a && x.b == y.b && x.c == y.c && x.d == y.d;
      }
    };
    using CounterMap = std::unordered_map<Key, std::atomic<uint64_t>, Hash, Eq>;
    void add(CounterMap& map, Labels labels);

    mutable std::mutex mutex_;  // guards insertions into the maps against a concurrent scrape
    CounterMap requests_;       // decision, reason, operation, kind
    CounterMap drift_denied_;   // namespace, kind
    std::array<std::atomic<uint64_t>, kLatencyBuckets.size()> buckets_{};
    std::atomic<uint64_t> latency_count_{0};
    std::atomic<uint64_t> latency_sum_us_{0};
  };

  // A shard for the calling thread to keep; lives as long as the metrics.
  Shard& new_shard();
  void count_rejected(int http_status);  // malformed or refused requests, by HTTP status
  void render(std::string& out) const;

 private:
  mutable std::mutex mutex_;
  std::list<Shard> shards_;
  std::array<std::atomic<uint64_t>, 6> rejected_{};  // 400 404 405 413 431 other
};

// Prometheus text helpers for other metric families.
void append_metric_header(std::string& out, std::string_view name, std::string_view type, std::string_view help);
void append_label_value(std::string& out, std::string_view value);
// A family of one unlabelled sample: its header and `name value`.
void append_metric(std::string& out, std::string_view name, std::string_view type, std::string_view help,
                   std::string_view value);

}  // namespace gitgate::webhook
