// gitgate test: runs policy test cases (GateTest files), like `kyverno test` or `gator verify`. Each case is
// an AdmissionReview file and the decision expected for it; exit 1 on any mismatch, with what differed.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "cli/commands.h"
#include "cli/declared_state.h"
#include "policies/loader.h"
#include "webhook/codec.h"

namespace gitgate::cli {
namespace {

namespace fs = std::filesystem;

struct Expectation {
  std::optional<bool> allowed;
  std::string reason;
  std::string message_contains;
  std::string warning_contains;
};

struct Case {
  std::string name;
  std::string request;  // resolved path
  Expectation expect;
  int line = 0;
};

struct TestFile {
  std::string path;
  std::string policies;
  std::string manifests;
  std::vector<Case> cases;
};

std::string where(const std::string& file, const YAML::Node& node) {
  return file + ":" + std::to_string(node.Mark().line + 1) + ":" + std::to_string(node.Mark().column + 1);
}

// Reads a GateTest file; errors name file:line:col.
Result<TestFile> read_test_file(const std::string& path) {
  YAML::Node doc;
  try {
    doc = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    return Error{path + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) + ": " + e.msg};
  }
  if (!doc.IsMap() || !doc["kind"] || doc["kind"].as<std::string>("") != "GateTest")
    return Error{path + ": not a GateTest (expected kind: GateTest)"};
  fs::path base = fs::path(path).parent_path();
  auto spec = doc["spec"];
  if (!spec || !spec.IsMap()) return Error{where(path, doc) + ": spec is missing"};
  TestFile file;
  file.path = path;
  try {
    for (auto field : spec) {
      auto key = field.first.as<std::string>();
      if (key != "policies" && key != "manifests" && key != "cases")
        return Error{where(path, field.first) + ": unknown field '" + key + "' (known: policies, manifests, cases)"};
    }
    if (!spec["policies"]) return Error{where(path, spec) + ": spec.policies is required"};
    file.policies = (base / spec["policies"].as<std::string>()).string();
    if (spec["manifests"]) file.manifests = (base / spec["manifests"].as<std::string>()).string();
    auto cases = spec["cases"];
    if (!cases || !cases.IsSequence() || cases.size() == 0) return Error{where(path, spec) + ": spec.cases needs at least one case"};
    for (auto c : cases) {
      Case tc;
      tc.line = c.Mark().line + 1;
      for (auto field : c) {
        auto key = field.first.as<std::string>();
        if (key != "name" && key != "request" && key != "expect")
          return Error{where(path, field.first) + ": unknown field '" + key + "' (known: name, request, expect)"};
      }
      if (!c["request"] || !c["expect"]) return Error{where(path, c) + ": a case needs request and expect"};
      tc.name = c["name"] ? c["name"].as<std::string>() : c["request"].as<std::string>();
      tc.request = (base / c["request"].as<std::string>()).string();
      for (auto field : c["expect"]) {
        auto key = field.first.as<std::string>();
        if (key == "allowed") tc.expect.allowed = field.second.as<bool>();
        else if (key == "reason") tc.expect.reason = field.second.as<std::string>();
        else if (key == "messageContains") tc.expect.message_contains = field.second.as<std::string>();
        else if (key == "warningContains") tc.expect.warning_contains = field.second.as<std::string>();
        else
          return Error{where(path, field.first) + ": unknown field '" + key +
                       "' (known: allowed, reason, messageContains, warningContains)"};
      }
      file.cases.push_back(std::move(tc));
    }
  } catch (const YAML::Exception& e) {
    return Error{path + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                 ": wrong type (" + e.msg + ")"};
  }
  return file;
}

// Empty when the decision meets the expectation, else what differed.
std::string mismatch(const Expectation& e, const Decision& d) {
  std::string out;
  if (e.allowed && *e.allowed != d.allowed)
    out += "\n      allowed: expected " + std::string(*e.allowed ? "true" : "false") + ", got " + (d.allowed ? "true" : "false");
  if (!e.reason.empty() && e.reason != d.reason) out += "\n      reason:  expected " + e.reason + ", got " + d.reason;
  if (!e.message_contains.empty() && d.message.find(e.message_contains) == std::string::npos)
    out += "\n      message: expected to contain \"" + e.message_contains + "\", got \"" + d.message + "\"";
  if (!e.warning_contains.empty()) {
    bool found = false;
    for (const auto& w : d.warnings) found = found || w.find(e.warning_contains) != std::string::npos;
    if (!found) out += "\n      warnings: expected one containing \"" + e.warning_contains + "\"";
  }
  return out;
}

std::vector<std::string> find_test_files(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  for (const auto& p : paths) {
    if (fs::is_directory(p)) {
      for (const auto& entry : fs::recursive_directory_iterator(p)) {
        auto name = entry.path().filename().string();
        if (entry.is_regular_file() && (name == "gitgate-test.yaml" || name.ends_with(".gitgate-test.yaml")))
          files.push_back(entry.path().string());
      }
    } else {
      files.push_back(p);
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

int run_tests(const std::vector<std::string>& paths, const std::string& cache_dir, bool offline) {
  auto files = find_test_files(paths);
  if (files.empty()) {
    std::cerr << "gitgate test: no gitgate-test.yaml found in the given paths\n";
    return 2;
  }
  int passed = 0, failed = 0;
  for (const auto& path : files) {
    auto file = read_test_file(path);
    if (!file) {
      std::cerr << file.error() << "\n";
      return 2;
    }
    auto loaded = policies::load_policies(file->policies);
    if (!loaded.ok()) {
      for (const auto& d : loaded.errors) std::cerr << d.to_string() << "\n";
      return 2;
    }
    OfflineState state({file->manifests, cache_dir, !offline});
    policies::Scratch scratch;
    webhook::ReviewDecoder decoder;
    std::cout << path << "\n";
    for (const auto& c : file->cases) {
      std::ifstream in(c.request, std::ios::binary);
      std::stringstream text;
      text << in.rdbuf();
      if (!in) {
        std::cerr << path << ":" << c.line << ": cannot read " << c.request << "\n";
        return 2;
      }
      webhook::PaddedBody body(text.str());
      auto request = decoder.decode(body.view());
      if (!request) {
        std::cerr << path << ":" << c.line << ": " << c.request << ": " << request.error() << "\n";
        return 2;
      }
      Decision d = policies::evaluate(*request, loaded.set, state, scratch);
      std::string diff = mismatch(c.expect, d);
      if (diff.empty()) {
        ++passed;
        std::cout << "  PASS  " << c.name << "\n";
      } else {
        ++failed;
        std::cout << "  FAIL  " << c.name << " (" << path << ":" << c.line << ")" << diff << "\n";
      }
    }
  }
  std::cout << (failed == 0 ? "OK" : "FAILED") << ": " << passed << " passed, " << failed << " failed\n";
  return failed == 0 ? 0 : 1;
}

}  // namespace

void add_test_command(CLI::App& app, ExitCode& exit) {
  auto paths = std::make_shared<std::vector<std::string>>();
  auto cache_dir = std::make_shared<std::string>(default_cache_dir());
  auto offline = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("test", "Run policy test cases: gitgate-test.yaml files (exit 1 on any mismatch)");
  cmd->add_option("paths", *paths, "Test files, or directories searched for gitgate-test.yaml")->required();
  cmd->add_option("--cache-dir", *cache_dir, "Git cache for cases without spec.manifests")->capture_default_str();
  cmd->add_flag("--offline", *offline, "Use what the Git cache holds; do not fetch");
  cmd->callback([paths, cache_dir, offline, &exit] { exit.value = run_tests(*paths, *cache_dir, *offline); });
}

}  // namespace gitgate::cli
