// gitgate declared: the inventory a user needs to trust gitgate. For every policy, every declared object with
// its provenance chain (the file that declares it, the Kustomization or HelmRelease that builds it, the
// chart), what could not be built (declared with unknown values) and every skipped file, built exactly as
// `serve` builds it.
#include <algorithm>
#include <iostream>
#include <map>
#include <vector>

#include "cli/commands.h"
#include "cli/declared_state.h"
#include "core/json_writer.h"
#include "core/provenance.h"
#include "manifests/json_yaml.h"
#include "policies/loader.h"

namespace gitgate::cli {
namespace {

struct DeclaredFlags {
  std::string policies;
  std::string manifests;
  std::string cache_dir = default_cache_dir();
  bool offline = false;
  std::string output = "table";
};

// "HelmRelease", "Kustomization" or "Application": the kind of owner an UnbuiltOwner stands for.
std::string owner_kind(const UnbuiltOwner& u) {
  if (u.label_prefix == "helm.toolkit.fluxcd.io") return "HelmRelease";
  if (u.label_prefix == "kustomize.toolkit.fluxcd.io") return "Kustomization";
  auto slash = u.label_prefix.rfind('/');
  return slash == std::string::npos ? u.label_prefix : u.label_prefix.substr(slash + 1);
}

std::string name_of(const ObjectKey& key) {
  return key.ns.empty() ? key.name : key.ns + "/" + key.name;
}

std::string kind_of(const ObjectKey& key) {
  return key.group.empty() ? key.kind : key.kind + "." + key.group;
}

void write_link(JsonWriter& w, const ProvenanceLink& link) {
  w.begin_object()
      .field("what", link.what)
      .field("file", link.file)
      .field("line", static_cast<int64_t>(link.line));
  w.field("commit", link.commit ? link.commit->id : std::string());
  w.end_object();
}

void json_output(const policies::Policy& policy, const Snapshot& s, JsonWriter& w) {
  w.begin_object().field("policy", policy.name).field("commit", s.commit().id);
  w.key("objects").begin_array();
  for (const auto& o : s.objects()) {
    w.begin_object()
        .field("group", o->key().group)
        .field("kind", o->key().kind)
        .field("namespace", o->key().ns)
        .field("name", o->key().name)
        .field("file", o->file())
        .field("line", static_cast<int64_t>(o->line()))
        .field("fileCommit", o->last_change() ? o->last_change()->id : std::string());
    if (o->carried_from()) w.field("carriedFrom", o->carried_from()->id);
    if (const auto& b = o->built_by()) {
      w.field("applier", b->applier);
      w.key("builtBy").begin_array();
      for (const auto& link : b->chain) write_link(w, link);
      w.end_array();
    }
    w.end_object();
  }
  w.end_array();
  w.key("notBuilt").begin_array();
  for (const auto& u : s.unbuilt()) {
    w.begin_object()
        .field("owner", owner_kind(u))
        .field("namespace", u.ns)
        .field("name", u.name)
        .field("reason", u.build->unknown_reason)
        .field("applier", u.build->applier);
    w.key("builtBy").begin_array();
    for (const auto& link : u.build->chain) write_link(w, link);
    w.end_array();
    w.end_object();
  }
  w.end_array();
  w.key("problems").begin_array();
  for (const auto& p : s.problems()) w.value(p.to_string());
  w.end_array();
  w.end_object();
}

// Every declared object as the YAML of what gitgate compares requests with, each document headed by where it
// is declared: what `kubectl diff -f -` could read, and what a person denied a change can look at.
void yaml_output(const policies::Policy& policy, const Snapshot& s) {
  for (const auto& o : s.objects()) {
    std::string where = declared_where(*o, s.commit());
    std::replace(where.begin(), where.end(), '\n', ' ');
    std::cout << "---\n# policy " << policy.name << ": " << kind_of(o->key()) << " " << name_of(o->key()) << " "
              << where << "\n";
    auto value = nlohmann::ordered_json::parse(o->json(), nullptr, /*allow_exceptions=*/false);
    std::cout << (value.is_discarded() ? "# (not valid JSON)\n" : manifests::json_to_yaml(value));
  }
  for (const auto& u : s.unbuilt())
    std::cout << "---\n# policy " << policy.name << ": " << owner_kind(u) << " " << u.ns << "/" << u.name
              << " is not built (what it owns is declared with unknown values): " << u.build->unknown_reason << "\n";
}

void table_output(const policies::Policy& policy, const Snapshot& s) {
  std::map<std::string, size_t> by_builder;
  for (const auto& o : s.objects()) {
    const auto& b = o->built_by();
    by_builder[b && !b->chain.empty() ? b->chain.front().what : std::string("(plain files)")]++;
  }
  // What is not built is listed with its reason under NOT BUILT: the problems repeat it only in json output.
  std::vector<const Problem*> other_problems;
  for (const auto& p : s.problems())
    if (p.reason.find(" is not built: ") == std::string::npos) other_problems.push_back(&p);
  std::cout << "policy " << policy.name << " @ " << s.commit().short_id() << ": " << s.objects().size()
            << " declared objects from " << by_builder.size() << " builds, " << s.unbuilt().size()
            << " not built, " << other_problems.size() << " other problems\n\n";
  std::cout << "OBJECT\tPROVENANCE\n";
  for (const auto& o : s.objects()) {
    std::string where = declared_where(*o, s.commit());
    std::cout << kind_of(o->key()) << " " << name_of(o->key()) << "\t" << where;
    if (o->built_by() && !o->built_by()->applier.empty())
      std::cout << " Applied by " << o->built_by()->applier << ".";
    std::cout << "\n";
  }
  if (!s.unbuilt().empty()) {
    std::cout
        << "\nNOT BUILT (what they own is declared with unknown values: people are denied, agents audited)\n";
    for (const auto& u : s.unbuilt()) {
      const auto& chain = u.build->chain;
      std::cout << owner_kind(u) << " " << u.ns
                << "/" << u.name;
      if (!chain.empty())
        std::cout << " "
                  << cite(chain.front().file, chain.front().line, chain.front().commit.get(), s.commit());
      std::cout << ": " << u.build->unknown_reason << "\n";
    }
  }
  if (!other_problems.empty()) {
    std::cout << "\nPROBLEMS (skipped files and documents, fetches and builds that failed)\n";
    for (const Problem* p : other_problems) std::cout << p->to_string() << "\n";
  }
  std::cout << "\nBUILDS\n";
  for (const auto& [builder, count] : by_builder) std::cout << count << "\t" << builder << "\n";
}

int declared(const DeclaredFlags& flags) {
  if (flags.output != "table" && flags.output != "json" && flags.output != "yaml") {
    std::cerr << "gitgate declared: --output must be table, json or yaml, not '" << flags.output << "'\n";
    return 2;
  }
  auto loaded = policies::load_policies(flags.policies);
  if (!loaded.ok()) {
    for (const auto& d : loaded.errors) std::cerr << d.to_string() << "\n";
    return 2;
  }
  OfflineState state({flags.manifests, flags.cache_dir, !flags.offline});
  int status = 0;
  std::string json;
  JsonWriter w(json);
  w.begin_array();
  for (const auto& policy : loaded.set.policies) {
    const SnapshotWindow* window = state.window(policy);
    if (window == nullptr || window->current() == nullptr) {
      std::cerr << "gitgate declared: policy " << policy.name << ": " << state.error(policy) << "\n";
      status = 1;
      continue;
    }
    if (flags.output == "json") {
      json_output(policy, *window->current(), w);
    } else if (flags.output == "yaml") {
      yaml_output(policy, *window->current());
    } else {
      table_output(policy, *window->current());
    }
  }
  w.end_array();
  if (flags.output == "json") std::cout << json << "\n";
  return status;
}

}  // namespace

void add_declared_command(CLI::App& app, ExitCode& exit) {
  auto flags = std::make_shared<DeclaredFlags>();
  auto* cmd = app.add_subcommand(
      "declared",
      "List every declared object with its provenance chain, what could not be built and every skipped file");
  cmd->add_option("--policies", flags->policies, "Directory (or file) of GatePolicy YAML")->required();
  cmd->add_option("--cache-dir", flags->cache_dir, "Git cache (the policies' sources are fetched into it)")
      ->capture_default_str();
  cmd->add_flag("--offline", flags->offline, "Use what the cache holds; do not fetch");
  cmd->add_option("--manifests", flags->manifests,
                  "Use this directory as the repository for every policy (e.g. your working tree)");
  cmd->add_option("--output,-o", flags->output,
                  "table (default), json (objects with provenance chains), or yaml (every object's declared value, "
                  "headed by where it is declared)");
  cmd->callback([flags, &exit] { exit.value = declared(*flags); });
}

}  // namespace gitgate::cli
