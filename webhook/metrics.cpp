#include "webhook/metrics.h"

#include "core/recorded.h"

#include <functional>
#include <map>
#include <tuple>

namespace gitgate::webhook {
namespace {

constexpr std::array<int, 5> kRejectedStatuses = {400, 404, 405, 413, 431};

std::string format_bound(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", seconds);
  return buf;
}

}  // namespace

size_t AdmissionMetrics::Shard::Hash::operator()(const Labels& l) const {
  std::hash<std::string_view> h;
  size_t seed = h(l.a);
  for (auto part : {l.b, l.c, l.d}) seed ^= h(part) + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2);
  return seed;
}

void AdmissionMetrics::Shard::add(CounterMap& map, Labels labels) {
  auto it = map.find(labels);
  if (it != map.end()) {
    it->second.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  std::lock_guard lock(mutex_);
  map.try_emplace(Key{std::string(labels.a), std::string(labels.b), std::string(labels.c), std::string(labels.d)}, 1);
}

void AdmissionMetrics::Shard::observe(Operation operation, std::string_view kind, std::string_view ns,
                                      const Decision& decision, std::chrono::microseconds latency) {
  add(requests_, {decision.outcome(), decision.reason, to_string(operation), kind});
  // Drift: denied for what Git declares, not for an audit log that could not record the decision.
  if (!decision.allowed && decision.declared && decision.reason != kAuditUnavailableReason)
    add(drift_denied_, {ns, kind, {}, {}});
  double seconds = static_cast<double>(latency.count()) / 1e6;
  for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
    if (seconds <= kLatencyBuckets[i]) {
      buckets_[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  latency_count_.fetch_add(1, std::memory_order_relaxed);
  latency_sum_us_.fetch_add(static_cast<uint64_t>(latency.count()), std::memory_order_relaxed);
}

AdmissionMetrics::Shard& AdmissionMetrics::new_shard() {
  std::lock_guard lock(mutex_);
  return shards_.emplace_back();
}

void AdmissionMetrics::count_rejected(int http_status) {
  size_t slot = kRejectedStatuses.size();
  for (size_t i = 0; i < kRejectedStatuses.size(); ++i)
    if (kRejectedStatuses[i] == http_status) slot = i;
  rejected_[slot].fetch_add(1, std::memory_order_relaxed);
}

void append_metric_header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ").append(name).append(" ");
  out.append(type).append("\n");
}

void append_metric(std::string& out, std::string_view name, std::string_view type, std::string_view help,
                   std::string_view value) {
  append_metric_header(out, name, type, help);
  out.append(name).append(" ").append(value).append("\n");
}

void append_label_value(std::string& out, std::string_view value) {
  out += '"';
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  out += '"';
}

void AdmissionMetrics::render(std::string& out) const {
  using Labels4 = std::tuple<std::string, std::string, std::string, std::string>;
  std::map<Labels4, uint64_t> requests, drift;
  std::array<uint64_t, kLatencyBuckets.size()> buckets{};
  uint64_t count = 0, sum_us = 0;
  {
    std::lock_guard lock(mutex_);
    for (const auto& shard : shards_) {
      std::lock_guard shard_lock(shard.mutex_);
      for (const auto& [k, v] : shard.requests_) requests[{k.a, k.b, k.c, k.d}] += v.load(std::memory_order_relaxed);
      for (const auto& [k, v] : shard.drift_denied_) drift[{k.a, k.b, k.c, k.d}] += v.load(std::memory_order_relaxed);
      for (size_t i = 0; i < buckets.size(); ++i) buckets[i] += shard.buckets_[i].load(std::memory_order_relaxed);
      count += shard.latency_count_.load(std::memory_order_relaxed);
      sum_us += shard.latency_sum_us_.load(std::memory_order_relaxed);
    }
  }
  append_metric_header(out, "gitgate_admission_requests_total", "counter",
                       "Admission reviews answered, by decision, reason code, operation and kind.");
  for (const auto& [k, v] : requests) {
    out += "gitgate_admission_requests_total{decision=";
    append_label_value(out, std::get<0>(k));
    out += ",reason=";
    append_label_value(out, std::get<1>(k));
    out += ",operation=";
    append_label_value(out, std::get<2>(k));
    out += ",kind=";
    append_label_value(out, std::get<3>(k));
    out += "} " + std::to_string(v) + "\n";
  }
  append_metric_header(out, "gitgate_drift_denied_total", "counter",
                       "Changes to Git-declared objects refused at the door, by namespace and kind.");
  for (const auto& [k, v] : drift) {
    out += "gitgate_drift_denied_total{namespace=";
    append_label_value(out, std::get<0>(k));
    out += ",kind=";
    append_label_value(out, std::get<1>(k));
    out += "} " + std::to_string(v) + "\n";
  }
  append_metric_header(
      out, "gitgate_admission_duration_seconds", "histogram",
      "Time from a complete request to its answer, the decision and its audit record included.");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < buckets.size(); ++i) {
    cumulative += buckets[i];
    out += "gitgate_admission_duration_seconds_bucket{le=\"" + format_bound(kLatencyBuckets[i]) + "\"} " +
           std::to_string(cumulative) + "\n";
  }
  out += "gitgate_admission_duration_seconds_bucket{le=\"+Inf\"} " + std::to_string(count) + "\n";
  char sum[64];
  std::snprintf(sum, sizeof sum, "%.6f", static_cast<double>(sum_us) / 1e6);
  out += std::string("gitgate_admission_duration_seconds_sum ") + sum + "\n";
  out += "gitgate_admission_duration_seconds_count " + std::to_string(count) + "\n";
  append_metric_header(out, "gitgate_http_rejected_total", "counter",
                       "Requests refused before any decision (malformed, wrong path or method, too large).");
  for (size_t i = 0; i <= kRejectedStatuses.size(); ++i) {
    std::string code = i < kRejectedStatuses.size() ? std::to_string(kRejectedStatuses[i]) : "other";
    out += "gitgate_http_rejected_total{code=\"" + code + "\"} " +
           std::to_string(rejected_[i].load(std::memory_order_relaxed)) + "\n";
  }
}

}  // namespace gitgate::webhook
