// gitgate policy validate PATH...: check policy files the way the server loads them, and say what each
// policy governs. Errors go to stderr as file:line:col: message (exit 1); a missing path exits 2.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "cli/commands.h"
#include "core/duration.h"
#include "policies/loader.h"

namespace gitgate::cli {
namespace {

constexpr int kExitInvalid = 1;
constexpr int kExitUsage = 2;

// A command as posix_spawnp finds it: a path, or a name looked up in PATH.
bool executable(const std::string& command) {
  auto runs = [](const std::filesystem::path& p) { return ::access(p.c_str(), X_OK) == 0 && !std::filesystem::is_directory(p); };
  if (command.find('/') != std::string::npos) return runs(command);
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  for (size_t start = 0; start <= dirs.size();) {
    size_t end = dirs.find(':', start);
    std::string dir = dirs.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!dir.empty() && runs(std::filesystem::path(dir) / command)) return true;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return false;
}

std::string joined(const std::vector<Pattern>& patterns) {
  std::string out;
  for (const auto& p : patterns) out += (out.empty() ? "" : ",") + p.text();
  return out;
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

// One line: name, place, mode, where the desired state lives, and what the policy governs.
std::string summary(const policies::Policy& p) {
  std::string out =
      p.name + " (" + p.file + ":" + std::to_string(p.line) + "): mode=" + std::string(to_string(p.mode));
  out += " source=" + p.source.url + "@" + p.source.branch;
  if (p.source.flux)
    out += " flux=" + p.source.flux->path + " (namespace " + p.source.flux->ns + ")";
  else if (p.source.argocd)
    out += " argocd=" + p.source.argocd->path + " (namespace " + p.source.argocd->ns + ")";
  else
    out += " paths=" + joined(p.source.paths);
  if (p.source.render == Render::Kustomize) out += " render=kustomize";
  out += " interval=" + format_duration(p.source.interval);
  out += " scope: namespaces=" + (p.scope.include.empty() ? std::string("none") : joined(p.scope.include));
  // Only the exclusions that cut into an include are worth a reader's attention.
  std::vector<Pattern> cuts;
  for (const auto& e : p.scope.exclude) {
    bool cuts_in = std::any_of(p.scope.include.begin(), p.scope.include.end(),
                               [&](const Pattern& i) { return Pattern::intersects(i, e); });
    if (cuts_in) cuts.push_back(e);
  }
  if (!cuts.empty()) out += " except " + joined(cuts);
  out += p.scope.cluster_scoped ? " +cluster-scoped" : "";
  std::string kinds;
  for (const auto& k : p.scope.kinds) kinds += (kinds.empty() ? "" : ",") + k.text;
  out += " kinds=" + (kinds.empty() ? std::string("*") : kinds);
  out += " agents=";
  std::string agents;
  for (const auto& a : p.agents)
    agents += (agents.empty() ? "" : ",") + a.name + (a.must_match_git ? "" : "(trusted)");
  if (p.source.flux) agents += (agents.empty() ? "" : ",") + std::string("flux's controllers and service accounts");
  if (p.source.argocd) agents += (agents.empty() ? "" : ",") + std::string("argo cd's application-controller");
  out += agents.empty() ? std::string("none") : agents;
  return out;
}

int validate(const std::vector<std::string>& paths) {
  bool missing = false;
  for (const auto& path : paths) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
      std::cerr << "gitgate policy validate: " << path << ": no such file or directory\n";
      missing = true;
    }
  }
  if (missing) return kExitUsage;
  policies::LoadResult result = policies::load_policies(paths);
  if (!result.ok()) {
    for (const auto& error : result.errors) std::cerr << error.to_string() << "\n";
    return kExitInvalid;
  }
  size_t count = result.set.policies.size();
  if (count == 0) {
    // Most likely the wrong directory: say so rather than approve nothing.
    std::cerr
        << "gitgate policy validate: no GatePolicy documents found (policy files are *.yaml or *.yml)\n";
    return kExitInvalid;
  }
  std::cout << "OK: " << count << (count == 1 ? " policy" : " policies") << " in " << result.files
            << (result.files == 1 ? " file" : " files") << "\n";
  for (const auto& p : result.set.policies) std::cout << "  " << summary(p) << "\n";
  // A render whose tool is missing fails on every build, and every request then waits for a snapshot that
  // never comes: say so now (a warning: the server may run where this machine is not, e.g. the image).
  for (const auto& p : result.set.policies) {
    std::vector<std::pair<const char*, const std::vector<std::string>*>> tools;
    bool agent_build = p.source.flux || p.source.argocd;
    if (p.source.render == Render::Kustomize || agent_build) tools.emplace_back("kustomizeCommand", &p.source.kustomize_command);
    if (agent_build) tools.emplace_back("helmCommand", &p.source.helm_command);
    for (const auto& [field, argv] : tools) {
      if (argv->empty() || executable(argv->front())) continue;
      std::cerr << p.file << ":" << p.line << ": warning: policy " << p.name << ": spec.source." << field << " '"
                << argv->front() << "' is not an executable here, so renders would fail on this machine (the "
                << "gitgate image ships helm and kubectl)\n";
    }
  }
  return 0;
}

}  // namespace

void add_policy_command(CLI::App& app, ExitCode& exit) {
  auto* policy = app.add_subcommand("policy", "Policy file tools");
  policy->require_subcommand(1);
  auto paths = std::make_shared<std::vector<std::string>>();
  auto* validate_cmd = policy->add_subcommand(
      "validate",
      "Check GatePolicy files (a file, or every *.yaml/*.yml in a directory) as the server would load them; "
      "errors are printed as file:line:col: message. Exit 0 valid, 1 invalid, 2 a path does not exist.");
  validate_cmd->add_option("paths", *paths, "Policy files or directories")->required();
  validate_cmd->callback([paths, &exit] { exit.value = validate(*paths); });
}

}  // namespace gitgate::cli
