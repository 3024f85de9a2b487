// The composition root of `gitgate serve` (and the demo): policies, one Git source per policy, the decision
// engine and the audit log, behind the webhook server's Application interface.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "audit/log.h"
#include "core/result.h"
#include "gitstate/source.h"
#include "policies/policy.h"
#include "webhook/handler.h"

namespace gitgate::cli {

struct GateOptions {
  std::string policies_path;
  std::string cache_dir = "/var/cache/gitgate";
  std::string fetch_program = "/proc/self/exe";
  std::chrono::milliseconds sync_rate_limit{2000};  // sync on miss: at most one fetch this often
  bool audit_enabled = false;
  audit::AuditLog::Options audit;
};

class GateApp final : public webhook::Application {
 public:
  // Loads and validates the policies (every problem named), prepares the Git sources (no network yet) and
  // opens the audit log.
  static Result<std::unique_ptr<GateApp>> create(GateOptions options);
  ~GateApp() override;

  void start();  // starts every source's sync thread
  void stop();   // stops the sources, then drains and closes the audit log

  const policies::PolicySet& policies() const { return policies_; }
  const std::vector<std::unique_ptr<gitstate::Source>>& sources() const { return sources_; }
  audit::AuditLog* audit_log() const { return audit_.get(); }

  std::unique_ptr<webhook::Evaluator> make_evaluator() override;
  bool request_sync(const Decision& decision, std::chrono::steady_clock::time_point deadline,
                    std::function<void()> done) override;
  bool ready(std::string& why) const override;
  void render_metrics(std::string& out) const override;

 private:
  GateApp() = default;

  policies::PolicySet policies_;
  std::vector<std::unique_ptr<gitstate::Source>> sources_;  // sources_[i] serves policies_.policies[i]
  std::unique_ptr<audit::AuditLog> audit_;
};

}  // namespace gitgate::cli
