#include "cli/gate_app.h"

#include <chrono>

#include "core/log.h"
#include "policies/engine.h"
#include "policies/loader.h"
#include "webhook/metrics.h"

namespace gitgate::cli {
namespace {

int64_t now_unix_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Milliseconds as seconds with three decimals: 3104 -> "3.104".
std::string seconds_text(int64_t ms) {
  std::string sign = ms < 0 ? "-" : "";
  ms = ms < 0 ? -ms : ms;
  std::string fraction = std::to_string(ms % 1000);
  return sign + std::to_string(ms / 1000) + "." + std::string(3 - fraction.size(), '0') + fraction;
}

// The snapshots of each policy's source, read lock-free by one I/O thread.
class SourceWindows final : public policies::DeclaredState {
 public:
  SourceWindows(const policies::PolicySet& set, const std::vector<std::unique_ptr<gitstate::Source>>& sources)
      : set_(set), sources_(sources) {
    for (const auto& s : sources) readers_.emplace_back(s->window());
  }
  const SnapshotWindow* window(const policies::Policy& policy) const override {
    size_t index = static_cast<size_t>(&policy - set_.policies.data());
    if (index >= readers_.size()) return nullptr;
    return readers_[index].get().get();
  }
  std::string unavailable_reason(const policies::Policy& policy) const override {
    size_t index = static_cast<size_t>(&policy - set_.policies.data());
    if (index >= sources_.size()) return {};
    return sources_[index]->status().last_error;
  }

 private:
  const policies::PolicySet& set_;
  const std::vector<std::unique_ptr<gitstate::Source>>& sources_;
  mutable std::vector<Published<SnapshotWindow>::Reader> readers_;
};

class GateEvaluator final : public webhook::Evaluator {
 public:
  GateEvaluator(const GateApp& app) : app_(app), windows_(app.policies(), app.sources()) {}

  Decision decide(const AdmissionRequest& request) override {
    return policies::evaluate(request, app_.policies(), windows_, scratch_);
  }

  std::optional<RecordOutcome> record(const AdmissionRequest& request, const Decision& decision,
                                      std::chrono::microseconds latency,
                                      std::chrono::steady_clock::time_point deadline,
                                      RecordDone done) override {
    auto* log = app_.audit_log();
    if (!log) return RecordOutcome{};
    return log->submit(audit::make_record(request, decision, now_unix_us(), latency.count()), deadline,
                       std::move(done), false);
  }

  void flush() override {
    if (auto* log = app_.audit_log()) log->wake();
  }

 private:
  const GateApp& app_;
  SourceWindows windows_;
  policies::Scratch scratch_;
};

// The audit log's metric families; each sink is labelled by what it is ("file", "stdout").
void render_audit_metrics(std::string& out, const audit::AuditLog::Stats& stats) {
  using webhook::append_label_value;
  using webhook::append_metric;
  using webhook::append_metric_header;
  append_metric(out, "gitgate_audit_queue_depth", "gauge", "Audit records waiting for the writer.",
                std::to_string(stats.queue_depth));
  append_metric(out, "gitgate_audit_records_total", "counter",
                "Audit records written to the primary sink (the file, or stdout without one).",
                std::to_string(stats.records_written));
  append_metric(out, "gitgate_audit_write_errors_total", "counter",
                "Audit writes, syncs, rotations and reopens that failed.",
                std::to_string(stats.write_errors));
  append_metric(out, "gitgate_audit_refused_total", "counter",
                "Reviews denied because their decision could not be recorded (audit-unavailable).",
                std::to_string(stats.refused));
  append_metric(out, "gitgate_audit_outages_total", "counter",
                "Times the primary audit sink started failing.", std::to_string(stats.outages));
  append_metric(out, "gitgate_audit_outage_seconds", "gauge",
                "How long the primary audit sink has been failing; 0 while it writes.",
                seconds_text(static_cast<int64_t>(stats.outage_seconds * 1000)));
  auto per_sink = [&](std::string_view name, std::string_view type, std::string_view help, auto value) {
    append_metric_header(out, name, type, help);
    for (const auto& sink : stats.sinks) {
      out.append(name).append("{sink=");
      append_label_value(out, sink.name);
      out += "} " + std::to_string(value(sink)) + "\n";
    }
  };
  using Sink = audit::AuditLog::SinkStats;
  per_sink("gitgate_audit_sink_up", "gauge", "1 while the audit sink writes, 0 while it fails.",
           [](const Sink& s) { return s.up ? 1 : 0; });
  per_sink("gitgate_audit_backlog_records", "gauge", "Audit records kept for a failing sink.",
           [](const Sink& s) { return s.backlog; });
  per_sink("gitgate_audit_unwritten_records_total", "counter",
           "Audit records a sink could not write when they were made (kept for later, or lost).",
           [](const Sink& s) { return s.unwritten; });
  per_sink("gitgate_audit_lost_records_total", "counter",
           "Audit records a sink never got: past its backlog, or still held at shutdown.",
           [](const Sink& s) { return s.lost; });
}

}  // namespace

Result<std::unique_ptr<GateApp>> GateApp::create(GateOptions options) {
  auto loaded = policies::load_policies(options.policies_path);
  if (!loaded.ok()) {
    std::string message = "the policies in " + options.policies_path + " are not valid:";
    for (const auto& d : loaded.errors) message += "\n  " + d.to_string();
    return Error{message};
  }
  if (loaded.set.policies.empty())
    log::warn("no GatePolicy in " + options.policies_path +
              ": nothing is governed, every request is allowed");
  std::unique_ptr<GateApp> app(new GateApp());
  app->policies_ = std::move(loaded.set);
  for (const auto& policy : app->policies_.policies) {
    gitstate::SourceOptions source;
    source.name = policy.name;
    source.spec = policy.source;
    source.cache_dir = options.cache_dir;
    source.fetch_program = options.fetch_program;
    source.sync_rate_limit = options.sync_rate_limit;
    source.standby_fetch = true;
    auto created = gitstate::Source::create(std::move(source));
    if (!created) return Error{"policy " + policy.name + " (" + policy.file + "): " + created.error()};
    app->sources_.push_back(std::move(*created));
  }
  if (options.audit_enabled) {
    auto log = audit::AuditLog::open(options.audit);
    if (!log) return std::move(log).take_error();
    app->audit_ = std::move(*log);
  }
  return app;
}

GateApp::~GateApp() {
  stop();
}

void GateApp::start() {
  for (auto& s : sources_) s->start();
}

void GateApp::stop() {
  for (auto& s : sources_) s->stop();
  if (audit_) audit_->close();
}

std::unique_ptr<webhook::Evaluator> GateApp::make_evaluator() {
  return std::make_unique<GateEvaluator>(*this);
}

bool GateApp::request_sync(const Decision& decision, std::chrono::steady_clock::time_point deadline,
                           std::function<void()> done) {
  for (size_t i = 0; i < policies_.policies.size(); ++i) {
    if (policies_.policies[i].name == decision.policy) {
      sources_[i]->request_sync(std::move(done), deadline);
      return true;
    }
  }
  return false;
}

bool GateApp::ready(std::string& why) const {
  // A replica that cannot record decisions denies them: the Service should send reviews elsewhere.
  if (audit_ && !audit_->available(why)) return false;
  int64_t now_ms = now_unix_us() / 1000;
  for (size_t i = 0; i < sources_.size(); ++i) {
    const auto& policy = policies_.policies[i];
    auto status = sources_[i]->status();
    if (!status.ready) {
      why = "policy " + policy.name + ": no Git snapshot yet" +
            (status.last_error.empty() ? "" : " (" + status.last_error + ")");
      return false;
    }
    auto max_age_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(policy.source.max_staleness).count();
    int64_t age_ms = now_ms - status.last_success_unix_ms;
    if (max_age_ms > 0 && age_ms > max_age_ms) {
      // A snapshot from the cache whose remote has not answered since start: its age is unknown.
      why = "policy " + policy.name + ": " +
            (status.last_success_unix_ms == 0
                 ? "the Git snapshot comes from the cache and the remote has not confirmed it since start"
                 : "Git snapshot is " + seconds_text(age_ms) + "s old") +
            ", over maxStaleness" + (status.last_error.empty() ? "" : " (" + status.last_error + ")");
      return false;
    }
  }
  return true;
}

void GateApp::render_metrics(std::string& out) const {
  using webhook::append_label_value;
  using webhook::append_metric;
  using webhook::append_metric_header;
  int64_t now_ms = now_unix_us() / 1000;
  std::vector<gitstate::Source::Status> statuses;
  for (const auto& s : sources_) statuses.push_back(s->status());
  auto per_policy = [&](std::string_view name, std::string_view type, std::string_view help, auto value) {
    append_metric_header(out, name, type, help);
    for (size_t i = 0; i < statuses.size(); ++i) {
      out.append(name).append("{policy=");
      append_label_value(out, policies_.policies[i].name);
      out += "} " + value(statuses[i]) + "\n";
    }
  };
  per_policy("gitgate_snapshot_age_seconds", "gauge",
             "Seconds since the snapshot was last confirmed as the branch head.",
             [&](const gitstate::Source::Status& s) {
               return s.ready ? seconds_text(now_ms - s.last_success_unix_ms) : std::string("NaN");
             });
  per_policy("gitgate_git_fetches_total", "counter", "Git fetch attempts.",
             [](const gitstate::Source::Status& s) { return std::to_string(s.fetches); });
  per_policy("gitgate_git_fetch_errors_total", "counter",
             "Failed Git syncs (fetch, signature, render or build).",
             [](const gitstate::Source::Status& s) { return std::to_string(s.fetch_errors); });
  per_policy("gitgate_skipped_manifests", "gauge",
             "Files and documents the current snapshot skipped, and conflicts.",
             [](const gitstate::Source::Status& s) { return std::to_string(s.problems.size()); });
  per_policy("gitgate_declared_objects", "gauge", "Objects the current snapshot declares.",
             [](const gitstate::Source::Status& s) { return std::to_string(s.declared_objects); });
  append_metric_header(out, "gitgate_snapshot_commit_info", "gauge",
                       "The commit each policy's snapshot is at.");
  for (size_t i = 0; i < statuses.size(); ++i) {
    if (!statuses[i].ready) continue;
    out += "gitgate_snapshot_commit_info{policy=";
    append_label_value(out, policies_.policies[i].name);
    out += ",commit=";
    append_label_value(out, statuses[i].commit);
    out += "} 1\n";
  }
  if (audit_) render_audit_metrics(out, audit_->stats());
}

}  // namespace gitgate::cli
