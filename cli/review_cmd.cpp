// gitgate review: evaluates one AdmissionReview without a server. The response JSON goes to stdout, a
// human explanation to stderr; exit 0 allowed, 1 denied, 2 error.
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>

#include "audit/log.h"
#include "cli/commands.h"
#include "cli/declared_state.h"
#include "cli/explain.h"
#include "policies/loader.h"
#include "webhook/codec.h"

namespace gitgate::cli {
namespace {

struct ReviewFlags {
  std::string policies;
  std::string request;
  std::string manifests;
  std::string cache_dir = default_cache_dir();
  bool offline = false;
  std::string audit_file;
};

int review(const ReviewFlags& flags) {
  std::ifstream in(flags.request, std::ios::binary);
  if (!in) {
    std::cerr << "gitgate review: cannot read " << flags.request << "\n";
    return 2;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  webhook::PaddedBody body(buffer.str());
  webhook::ReviewDecoder decoder;
  auto request = decoder.decode(body.view());
  if (!request) {
    std::cerr << "gitgate review: " << flags.request << ": " << request.error() << "\n";
    return 2;
  }
  auto loaded = policies::load_policies(flags.policies);
  if (!loaded.ok()) {
    for (const auto& d : loaded.errors) std::cerr << d.to_string() << "\n";
    return 2;
  }
  OfflineState state({flags.manifests, flags.cache_dir, !flags.offline});
  policies::Scratch scratch;
  auto start = std::chrono::steady_clock::now();
  Decision decision = policies::evaluate(*request, loaded.set, state, scratch);
  auto latency = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
  for (const auto& p : loaded.set.policies) {
    if (p.name == decision.policy && !state.error(p).empty())
      std::cerr << "gitgate review: policy " << p.name << ": Git state unavailable: " << state.error(p) << "\n";
  }
  std::cout << webhook::encode_response(request->uid, decision) << "\n";
  std::cerr << explain(*request, decision);
  if (!flags.audit_file.empty()) {
    audit::AuditLog::Options options;
    options.file = flags.audit_file;
    auto log = audit::AuditLog::open(options);
    if (!log) {
      std::cerr << "gitgate review: " << log.error() << "\n";
      return 2;
    }
    auto now = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch());
    (*log)->submit(audit::make_record(*request, decision, now.count(), latency.count()));
    (*log)->close();
  }
  return decision.allowed ? 0 : 1;
}

}  // namespace

void add_review_command(CLI::App& app, ExitCode& exit) {
  auto flags = std::make_shared<ReviewFlags>();
  auto* cmd = app.add_subcommand("review", "Evaluate one AdmissionReview offline (exit 0 allowed, 1 denied, 2 error)");
  cmd->add_option("--policies", flags->policies, "Directory (or file) of GatePolicy YAML")->required();
  cmd->add_option("--cache-dir", flags->cache_dir, "Git cache (the policies' sources are fetched into it)")
      ->capture_default_str();
  cmd->add_flag("--offline", flags->offline, "Use what the cache holds; do not fetch");
  cmd->add_option("--manifests", flags->manifests,
                  "Use this directory of manifests as Git's state for every policy (e.g. your working tree)");
  cmd->add_option("--audit-file", flags->audit_file, "Also record the decision in this audit log");
  cmd->add_option("request", flags->request, "AdmissionReview JSON file")->required();
  cmd->callback([flags, &exit] { exit.value = review(*flags); });
}

}  // namespace gitgate::cli
