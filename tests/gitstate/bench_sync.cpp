// gitstate_bench: figures for a 1,000-manifest repository (realistic Deployments, Services and ConfigMaps of
// 1-3 KB): time to the first snapshot (clone + build), time of a no-change sync, time of a one-file change,
// and the resident memory the snapshot adds. Not a test: it prints numbers.
//
//   build-*/tests/gitstate/gitstate_bench [manifests=1000]
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <string>

#include "gitstate/snapshot_builder.h"
#include "tests/gitstate/git_helpers.h"

using namespace gitgate;
using namespace gitgate::gitstate;
using namespace gitgate::gitstate::testing;
using Clock = std::chrono::steady_clock;

namespace {

long rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string app_deployment(int i) {
  std::string n = "app-" + std::to_string(i);
  return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " + n + "\n  namespace: team-" +
         std::to_string(i % 10) + "\n  labels:\n    app.kubernetes.io/name: " + n +
         "\n    app.kubernetes.io/part-of: shop\n    app.kubernetes.io/managed-by: flux\n  annotations:\n"
         "    owner: platform-team@example.com\nspec:\n  replicas: 3\n  revisionHistoryLimit: 5\n  "
         "selector:\n"
         "    matchLabels:\n      app.kubernetes.io/name: " +
         n +
         "\n  strategy:\n    type: RollingUpdate\n    rollingUpdate: {maxSurge: 25%, maxUnavailable: 0}\n"
         "  template:\n    metadata:\n      labels:\n        app.kubernetes.io/name: " +
         n + "\n    spec:\n      serviceAccountName: " + n +
         "\n      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}\n"
         "      containers:\n        - name: app\n          image: registry.example.com/shop/" +
         n +
         ":1.4.2\n          args: [\"--port=8080\", \"--log-format=json\"]\n          ports:\n"
         "            - {name: http, containerPort: 8080}\n          env:\n            - name: "
         "DATABASE_HOST\n"
         "              value: db.team.svc.cluster.local\n            - name: FEATURE_FLAGS\n"
         "              value: checkout,recommendations,search\n          resources:\n"
         "            requests: {cpu: 250m, memory: 256Mi}\n            limits: {cpu: \"1\", memory: 512Mi}\n"
         "          readinessProbe:\n            httpGet: {path: /healthz, port: http}\n"
         "            periodSeconds: 10\n          livenessProbe:\n            httpGet: {path: /livez, port: "
         "http}\n"
         "            initialDelaySeconds: 15\n          securityContext:\n"
         "            allowPrivilegeEscalation: false\n            readOnlyRootFilesystem: true\n"
         "            capabilities: {drop: [ALL]}\n          volumeMounts:\n"
         "            - {name: config, mountPath: /etc/app}\n      volumes:\n"
         "        - name: config\n          configMap: {name: " +
         n + "}\n";
}

std::string app_service(int i) {
  std::string n = "app-" + std::to_string(i);
  return "apiVersion: v1\nkind: Service\nmetadata:\n  name: " + n + "\n  namespace: team-" +
         std::to_string(i % 10) + "\n  labels:\n    app.kubernetes.io/name: " + n +
         "\n    app.kubernetes.io/part-of: shop\n  annotations:\n    prometheus.io/scrape: \"true\"\n"
         "    prometheus.io/port: \"8080\"\nspec:\n  type: ClusterIP\n  selector:\n    "
         "app.kubernetes.io/name: " +
         n +
         "\n  ports:\n    - name: http\n      port: 80\n      targetPort: http\n      protocol: TCP\n"
         "    - name: metrics\n      port: 9090\n      targetPort: 9090\n      protocol: TCP\n";
}

std::string app_config(int i) {
  std::string n = "app-" + std::to_string(i);
  std::string out = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + n + "\n  namespace: team-" +
                    std::to_string(i % 10) + "\n  labels:\n    app.kubernetes.io/name: " + n + "\ndata:\n";
  for (int k = 0; k < 12; ++k)
    out += "  setting-" + std::to_string(k) + ": \"value " + std::to_string(k * i) +
           " for the application, long enough to look like real configuration\"\n";
  out += "  app.properties: |\n    server.port=8080\n    cache.size=512\n    retry.max=5\n";
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int manifests = argc > 1 ? std::stoi(argv[1]) : 1000;
  WorkRepo repo;
  size_t bytes = 0;
  for (int i = 0; i < manifests; ++i) {
    int app = i / 3;
    std::string dir = "apps/app-" + std::to_string(app) + "/";
    std::string content = i % 3 == 0 ? app_deployment(app) : i % 3 == 1 ? app_service(app) : app_config(app);
    bytes += content.size();
    repo.write(dir + (i % 3 == 0   ? "deployment.yaml"
                      : i % 3 == 1 ? "service.yaml"
                                   : "configmap.yaml"),
               content);
  }
  repo.commit("1,000 manifests");
  repo.push();
  TempDir cache;
  auto options = test_options(repo.file_url(), cache.path().string());
  options.spec.interval = std::chrono::hours(1);
  options.sync_rate_limit = std::chrono::milliseconds(0);

  malloc_trim(0);
  long rss_before = rss_kib();
  size_t heap_before = mallinfo2().uordblks;
  auto created = Source::create(options);
  if (!created.ok()) {
    std::fprintf(stderr, "%s\n", created.error().c_str());
    return 1;
  }
  Source& source = **created;
  auto start = Clock::now();
  source.start();
  while (!source.status().ready) {
    if (!source.status().last_error.empty()) {
      std::fprintf(stderr, "%s\n", source.status().last_error.c_str());
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  double first_ms = ms_since(start);
  malloc_trim(0);
  long rss_after = rss_kib();
  size_t heap_after = mallinfo2().uordblks;
  auto window = source.window().load();
  size_t json_bytes = 0;
  for (const auto& o : window->current()->objects()) json_bytes += o->json().size();

  auto timed_sync = [&] {
    std::atomic<bool> done{false};
    auto t = Clock::now();
    source.request_sync([&] { done = true; });
    while (!done) std::this_thread::sleep_for(std::chrono::microseconds(100));
    return ms_since(t);
  };
  std::vector<double> unchanged;
  uint64_t version = source.window().version();
  for (int i = 0; i < 10; ++i) unchanged.push_back(timed_sync());
  std::sort(unchanged.begin(), unchanged.end());
  bool republished = source.window().version() != version;

  // The build alone, from the cache the source filled: parse every file, provenance from scratch.
  auto builder = SnapshotBuilder::create(source.git_dir(), options.spec, options.limits);
  auto build_start = Clock::now();
  auto rebuilt = (*builder)->build(window->current()->commit().id, -1);
  double build_ms = ms_since(build_start);
  if (!rebuilt.ok()) std::fprintf(stderr, "%s\n", rebuilt.error().c_str());

  repo.write("apps/app-7/configmap.yaml", app_config(7) + "  extra: one more key\n");
  repo.commit("change one file");
  repo.push();
  double one_file_ms = timed_sync();

  std::printf("manifests                 %d files, %zu KiB of YAML, %zu objects declared\n", manifests,
              bytes / 1024, window->current()->objects().size());
  std::printf("time to first snapshot    %.0f ms (clone in a child process + build)\n", first_ms);
  std::printf("  of which the build       %.0f ms (parse every file, provenance from scratch)\n", build_ms);
  std::printf("no-change sync            median %.1f ms, max %.1f ms over 10 (fetch child; %s)\n",
              unchanged[5], unchanged.back(), republished ? "REPUBLISHED" : "no re-parse, no new window");
  std::printf("one-file change sync      %.1f ms (fetch + re-parse of one file + provenance of one commit)\n",
              one_file_ms);
  std::printf("RSS added by the snapshot %.1f MiB (%ld KiB -> %ld KiB); stored JSON %.1f MiB\n",
              (rss_after - rss_before) / 1024.0, rss_before, rss_after, json_bytes / 1048576.0);
  std::printf("heap in use added          %.1f MiB (declared objects, parse cache, libgit2 object cache)\n",
              (static_cast<double>(heap_after) - static_cast<double>(heap_before)) / 1048576.0);
  std::printf("process RSS               %.1f MiB\n", rss_kib() / 1024.0);
  source.stop();
  return 0;
}
