#include "cli/explain.h"

namespace gitgate::cli {

std::string explain(const AdmissionRequest& request, const Decision& decision) {
  std::string out = decision.allowed ? (decision.warnings.empty() ? "ALLOWED" : "ALLOWED WITH WARNINGS") : "DENIED";
  out += " (" + decision.reason + ")";
  out += ": " + std::string(to_string(request.operation)) + " " + std::string(request.kind.kind);
  if (!request.sub_resource.empty()) out += "/" + std::string(request.sub_resource);
  // A Namespace arrives with its own name as its namespace.
  bool cluster_scoped = request.ns.empty() || (request.kind.group.empty() && request.kind.kind == "Namespace");
  out += " " + (cluster_scoped ? std::string() : std::string(request.ns) + "/") + std::string(request.name);
  out += " by " + std::string(request.user.username);
  if (decision.identity != Identity::None) {
    out += " (" + std::string(to_string(decision.identity));
    if (!decision.agent.empty()) out += " " + decision.agent;
    out += ")";
  }
  if (decision.dry_run) out += " [dry run]";
  out += "\n";
  if (!decision.policy.empty())
    out += "  policy: " + decision.policy + " (mode " + std::string(to_string(decision.mode)) + ")\n";
  if (decision.snapshot_commit) out += "  commit: " + decision.snapshot_commit->id + "\n";
  if (decision.declared) {
    out += "  declared in: " + decision.declared->file() + ":" + std::to_string(decision.declared->line()) + "\n";
    if (!decision.url.empty()) out += "  in Git: " + decision.url + "\n";
    if (const auto& c = decision.declared->last_change())
      out += "  last changed by: " + c->author_name + " <" + c->author_email + "> in " + std::string(c->short_id()) +
             " \"" + c->subject + "\" (" + std::string(to_string(c->signature)) + ")\n";
  }
  if (!decision.changed_paths.empty()) {
    out += "  changed:";
    for (const auto& p : decision.changed_paths) out += " " + p;
    out += "\n";
  }
  if (!decision.message.empty()) out += "  message: " + decision.message + "\n";
  for (const auto& w : decision.warnings) out += "  warning: " + w + "\n";
  return out;
}

}  // namespace gitgate::cli
