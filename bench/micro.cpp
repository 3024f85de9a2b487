// gitgate_micro: Google Benchmark micro-benchmarks of the request path, piece by piece, on the same bodies
// the load test sends (the anchors' pod-create.json and deployment-update.json, bench/corpus/flux-apply.json)
// and the same 1,000-object Git state (bench/fixture.py, generated at build time).
//
//   build/bench/gitgate_micro [--benchmark_filter=Decode]
//
// Environment: GITGATE_ANCHORS_CORPUS (the anchors' corpus directory) and GITGATE_BENCH_FIXTURE (a directory
// written by bench/fixture.py) override the paths compiled in.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>

#include <benchmark/benchmark.h>

#include "audit/record.h"
#include "manifests/loader.h"
#include "policies/compare.h"
#include "policies/engine.h"
#include "policies/loader.h"
#include "webhook/codec.h"

namespace gitgate::bench {
namespace {

std::string path_from_env(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string corpus_file(const std::string& name) {
  if (name == "flux-apply.json") return read_file(std::string(GITGATE_BENCH_CORPUS) + "/" + name);
  return read_file(path_from_env("GITGATE_ANCHORS_CORPUS", GITGATE_ANCHORS_CORPUS) + "/" + name);
}

// The policy and the 1,000-object snapshot, loaded once for every benchmark.
class GitState final : public policies::DeclaredState {
 public:
  GitState() {
    std::string dir = path_from_env("GITGATE_BENCH_FIXTURE", GITGATE_BENCH_FIXTURE);
    auto loaded = policies::load_policies(dir + "/policies/bench.yaml");
    if (!loaded.ok()) throw std::runtime_error("bench policy: " + loaded.errors.at(0).to_string());
    policies = std::move(loaded.set);
    auto commit = std::make_shared<CommitInfo>();
    commit->id = "3f2c1ab9e4d84c1f0a6b2c3d4e5f60718293a4b5";
    commit->author_name = "alice";
    commit->author_email = "alice@example.com";
    commit->time = 1795168800;
    auto snapshot = manifests::snapshot_from_directory(dir + "/repo", policies.policies.at(0).source, commit);
    if (!snapshot) throw std::runtime_error("bench snapshot: " + snapshot.error());
    snapshots.snapshots.push_back(*snapshot);
  }
  const SnapshotWindow* window(const policies::Policy&) const override { return &snapshots; }

  policies::PolicySet policies;
  SnapshotWindow snapshots;
};

const GitState& git_state() {
  static const GitState state;
  return state;
}

// A decoded body; the request points into `decoder`.
struct Decoded {
  explicit Decoded(const std::string& name) : body(corpus_file(name)) {
    auto r = decoder.decode(body.view());
    if (!r) throw std::runtime_error(name + ": " + r.error());
    request = *r;
  }
  webhook::PaddedBody body;
  webhook::ReviewDecoder decoder;
  AdmissionRequest request;
};

void Decode(benchmark::State& state, const char* name) {
  webhook::PaddedBody body(corpus_file(name));
  webhook::ReviewDecoder decoder;
  for (auto _ : state) {
    auto request = decoder.decode(body.view());
    if (!request) state.SkipWithError(request.error().c_str());
    benchmark::DoNotOptimize(request);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.view().size()));
}
BENCHMARK_CAPTURE(Decode, pod_create, "pod-create.json");
BENCHMARK_CAPTURE(Decode, deployment_update, "deployment-update.json");
BENCHMARK_CAPTURE(Decode, flux_apply, "flux-apply.json");

// What the server does between reading a body and writing the answer, except the audit hand-off: decode,
// decide against the 1,000-object snapshot, encode the response. Checks the decision it benchmarks.
void DecodeDecideEncode(benchmark::State& state, const char* name, const char* expected_reason) {
  const GitState& git = git_state();
  webhook::PaddedBody body(corpus_file(name));
  webhook::ReviewDecoder decoder;
  policies::Scratch scratch;
  std::string out;
  for (auto _ : state) {
    auto request = decoder.decode(body.view());
    Decision decision = policies::evaluate(*request, git.policies, git, scratch);
    if (decision.reason != expected_reason) {
      state.SkipWithError(("unexpected decision " + decision.reason + ": " + decision.message).c_str());
      break;
    }
    out.clear();
    webhook::encode_response(out, request->uid, decision);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.view().size()));
}
BENCHMARK_CAPTURE(DecodeDecideEncode, pod_create, "pod-create.json", "unmanaged");
BENCHMARK_CAPTURE(DecodeDecideEncode, deployment_update, "deployment-update.json", "governed-path-changed");
BENCHMARK_CAPTURE(DecodeDecideEncode, flux_apply, "flux-apply.json", "agent-matches-git");

// The decision alone, on an already decoded request.
void Decide(benchmark::State& state, const char* name) {
  const GitState& git = git_state();
  Decoded d(name);
  policies::Scratch scratch;
  for (auto _ : state) {
    Decision decision = policies::evaluate(d.request, git.policies, git, scratch);
    benchmark::DoNotOptimize(decision);
  }
}
BENCHMARK_CAPTURE(Decide, pod_create, "pod-create.json");
BENCHMARK_CAPTURE(Decide, deployment_update, "deployment-update.json");
BENCHMARK_CAPTURE(Decide, flux_apply, "flux-apply.json");

// Git's shop/web ⊆ Flux's applied object: the agent check.
void ContainsFluxApply(benchmark::State& state) {
  const GitState& git = git_state();
  Decoded d("flux-apply.json");
  auto lookup = git.snapshots.current()->find({"apps", "Deployment", "shop", "web"});
  if (!lookup.declared()) throw std::runtime_error("shop/web is not declared in the bench fixture");
  simdjson::dom::parser parser;
  simdjson::dom::element declared = lookup.object->parse(parser).value();
  policies::CompareOptions options;
  for (auto _ : state) {
    bool contained = policies::contains(declared, *d.request.object, options);
    if (!contained) state.SkipWithError("flux-apply.json does not contain Git's shop/web");
    benchmark::DoNotOptimize(contained);
  }
}
BENCHMARK(ContainsFluxApply);

// oldObject -> object of a person's kubectl edit: the governed-path check.
void DiffPersonUpdate(benchmark::State& state) {
  Decoded d("deployment-update.json");
  std::vector<policies::Change> changes;
  for (auto _ : state) {
    changes.clear();
    policies::diff_objects(*d.request.old_object, *d.request.object, changes);
    benchmark::DoNotOptimize(changes.data());
  }
  state.counters["changes"] = static_cast<double>(changes.size());
}
BENCHMARK(DiffPersonUpdate);

// The audit record of the person's denied update: make_record runs on the request thread, the line encoding
// on the audit writer thread.
void AuditMakeRecord(benchmark::State& state) {
  const GitState& git = git_state();
  Decoded d("deployment-update.json");
  policies::Scratch scratch;
  Decision decision = policies::evaluate(d.request, git.policies, git, scratch);
  for (auto _ : state) {
    audit::Record record = audit::make_record(d.request, decision, 1795168800000000, 180);
    benchmark::DoNotOptimize(record);
  }
}
BENCHMARK(AuditMakeRecord);

void AuditRecordLine(benchmark::State& state) {
  const GitState& git = git_state();
  Decoded d("deployment-update.json");
  policies::Scratch scratch;
  Decision decision = policies::evaluate(d.request, git.policies, git, scratch);
  audit::Record record = audit::make_record(d.request, decision, 1795168800000000, 180);
  const std::string prev(64, 'a');
  std::string line;
  uint64_t seq = 0;
  for (auto _ : state) {
    line.clear();
    audit::append_record_line(line, record, ++seq, prev);
    benchmark::DoNotOptimize(line.data());
  }
  state.counters["bytes"] = static_cast<double>(line.size());
}
BENCHMARK(AuditRecordLine);

void EncodeResponse(benchmark::State& state, const char* name) {
  const GitState& git = git_state();
  Decoded d(name);
  policies::Scratch scratch;
  Decision decision = policies::evaluate(d.request, git.policies, git, scratch);
  std::string out;
  for (auto _ : state) {
    out.clear();
    webhook::encode_response(out, d.request.uid, decision);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["bytes"] = static_cast<double>(out.size());
}
BENCHMARK_CAPTURE(EncodeResponse, allow_pod_create, "pod-create.json");
BENCHMARK_CAPTURE(EncodeResponse, deny_deployment_update, "deployment-update.json");

}  // namespace
}  // namespace gitgate::bench

// Indexing a snapshot of N objects (what every rebuild pays once the files are parsed): the keys of
// bench/fixture.py's fleet, a Deployment, a Service and a ConfigMap per app in ten namespaces.
void SnapshotIndex(benchmark::State& state) {
  std::vector<std::shared_ptr<const gitgate::DeclaredObject>> objects;
  const char* kinds[][2] = {{"apps", "Deployment"}, {"", "Service"}, {"", "ConfigMap"}};
  for (int64_t i = 0; i < state.range(0); ++i) {
    const char* group = kinds[i % 3][0];
    const char* kind = kinds[i % 3][1];
    std::string app = "app-" + std::to_string(i / 3);
    objects.push_back(std::make_shared<gitgate::DeclaredObject>(
        gitgate::ObjectKey{group, kind, "team-" + std::to_string(i / 3 % 10), app}, "v1", "{}",
        "clusters/prod/team-" + std::to_string(i / 3 % 10) + "/" + app + ".yaml", 1, 1));
  }
  auto commit = std::make_shared<gitgate::CommitInfo>();
  for (auto _ : state) {
    gitgate::Snapshot snapshot(commit, "default", objects, {});
    benchmark::DoNotOptimize(snapshot);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(SnapshotIndex)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
