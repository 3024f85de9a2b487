// gitgate serve: flags -> GateApp (policies, Git, audit) -> HTTPS server -> run until SIGTERM.
#include <malloc.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/gate_app.h"
#include "cli/options.h"
#include "core/duration.h"
#include "core/log.h"
#include "webhook/memory_budget.h"
#include "webhook/server.h"

namespace gitgate::cli {
namespace {

struct ServeFlags {
  webhook::ServerOptions server;
  GateOptions gate;
  std::string shutdown_delay = "5s";
  std::string audit_max_size = "100Mi";
  std::string audit_durability = "written";
  std::string audit_on_failure = "deny";
  size_t audit_backlog = 8192;  // about 7 MB of lines
  std::string log_level = "info";
  std::string request_memory_budget;
  size_t max_connections = 0;  // 0: from the container's memory limit
};

// The flag, else half the container's memory limit (the rest: the snapshots, the audit queue, connections,
// the allocator's slack), else 256 MiB.
Result<size_t> request_memory_budget(const std::string& flag, uint64_t limit) {
  if (!flag.empty()) {
    auto bytes = parse_byte_size(flag);
    if (!bytes) return Error{"--request-memory-budget: " + bytes.error()};
    if (*bytes < 4 * 1024 * 1024) return Error{"--request-memory-budget: at least 4Mi"};
    return static_cast<size_t>(*bytes);
  }
  if (limit > 0) {
    log::info("request memory budget: " + std::to_string(limit / 2 >> 20) + " MiB, half the container's " +
              std::to_string(limit >> 20) + " MiB memory limit");
    return static_cast<size_t>(limit / 2);
  }
  return size_t{256} * 1024 * 1024;
}

// The flag, else as many connections as a quarter of the container's memory limit holds (each keeps about
// 80 KiB of TLS state, however idle), else 10,000.
size_t max_connections(size_t flag, uint64_t limit) {
  if (flag == 0) {
    size_t n = webhook::default_max_connections(limit);
    if (limit > 0)
      log::info("at most " + std::to_string(n) + " webhook connections: a quarter of the container's " +
                std::to_string(limit >> 20) + " MiB memory limit at about " +
                std::to_string(webhook::kConnectionMemoryBytes >> 10) + " KiB each (--max-connections)");
    return n;
  }
  if (limit > 0 && flag > limit / 2 / webhook::kConnectionMemoryBytes)
    log::warn("--max-connections " + std::to_string(flag) + ": so many open connections hold about " +
              std::to_string(flag * webhook::kConnectionMemoryBytes >> 20) + " MiB, more than half the " +
              std::to_string(limit >> 20) + " MiB memory limit; the process may be killed for memory");
  return flag;
}

int serve(ServeFlags& flags) {
  log::Level level;
  if (!log::parse_level(flags.log_level, level)) {
    std::cerr << "gitgate serve: --log-level must be debug, info, warn or error\n";
    return 2;
  }
  log::set_level(level);
  auto delay = parse_duration(flags.shutdown_delay);
  if (!delay) {
    std::cerr << "gitgate serve: --shutdown-delay: " << delay.error() << "\n";
    return 2;
  }
  flags.server.shutdown_delay = std::chrono::duration_cast<std::chrono::milliseconds>(*delay);
  auto max_size = parse_byte_size(flags.audit_max_size);
  if (!max_size) {
    std::cerr << "gitgate serve: --audit-max-size: " << max_size.error() << "\n";
    return 2;
  }
  flags.gate.audit.max_file_bytes = *max_size;
  auto durability = audit::parse_durability(flags.audit_durability);
  if (!durability) {
    std::cerr << "gitgate serve: --audit-durability: " << durability.error() << "\n";
    return 2;
  }
  flags.gate.audit.durability = *durability;
  auto on_failure = audit::parse_on_failure(flags.audit_on_failure);
  if (!on_failure) {
    std::cerr << "gitgate serve: --audit-on-failure: " << on_failure.error() << "\n";
    return 2;
  }
  flags.gate.audit.on_failure = *on_failure;
  flags.gate.audit.backlog_capacity = flags.audit_backlog;
  const uint64_t memory_limit = webhook::container_memory_limit();
  auto budget = request_memory_budget(flags.request_memory_budget, memory_limit);
  if (!budget) {
    std::cerr << "gitgate serve: " << budget.error() << "\n";
    return 2;
  }
  flags.server.request_memory_budget = *budget;
  flags.server.max_connections = max_connections(flags.max_connections, memory_limit);
  flags.gate.audit_enabled = flags.gate.audit.to_stdout || !flags.gate.audit.file.empty();
  // async: about 7 MB of queued records at most; beyond that, answers wait for the disk (back-pressure).
  flags.gate.audit.queue_capacity = 8192;

  // glibc raises its mmap threshold to the largest block freed (up to 32 MiB): after one 7 MiB review, big
  // buffers come from the heap and stay with the process when freed. A fixed threshold hands them back.
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);

  auto app = GateApp::create(flags.gate);
  if (!app) {
    log::error("cannot start: " + app.error());
    return 1;
  }
  auto server = webhook::Server::create(flags.server, **app);
  if (!server) {
    log::error("cannot start: " + server.error());
    return 1;
  }
  (*app)->start();
  int code = (*server)->run();
  (*app)->stop();
  log::info("stopped");
  return code;
}

}  // namespace

void add_serve_command(CLI::App& app, ExitCode& exit) {
  auto flags = std::make_shared<ServeFlags>();
  auto* cmd = app.add_subcommand("serve", "Run the admission webhook server (HTTPS POST /validate)");
  cmd->set_config("--config", "", "Read flags from a TOML/INI file (flag = value per line)");
  cmd->add_option("--policies", flags->gate.policies_path, "Directory (or file) of GatePolicy YAML")->required();
  cmd->add_option("--cert", flags->server.tls.cert_file, "Serving certificate (PEM); reloaded when it changes")
      ->required();
  cmd->add_option("--key", flags->server.tls.key_file, "Serving key (PEM); reloaded when it changes")->required();
  cmd->add_option("--client-ca", flags->server.tls.client_ca_file,
                  "Require client certificates signed by this CA (mTLS with the API server)");
  cmd->add_option("--listen", flags->server.listen, "Webhook address")->capture_default_str();
  cmd->add_option("--metrics-listen", flags->server.metrics_listen, "Plain-HTTP /healthz, /readyz, /metrics address")
      ->capture_default_str();
  cmd->add_option("--threads", flags->server.threads, "I/O threads (0: one per CPU)")->capture_default_str();
  cmd->add_option("--shutdown-delay", flags->shutdown_delay,
                  "After SIGTERM, keep serving this long with /readyz false before draining")
      ->capture_default_str();
  cmd->add_option("--max-connections", flags->max_connections,
                  "Most open webhook connections (each holds about 80 KiB of TLS state): past it a newcomer "
                  "replaces the longest-idle one, and is refused when all are busy. Default: as many as a "
                  "quarter of the container's memory limit holds (819 under 256Mi), else 10000");
  cmd->add_option("--request-memory-budget", flags->request_memory_budget,
                  "Memory the reviews in flight may use (bytes, Ki, Mi, Gi): a review up to 256 KiB costs its "
                  "body, a larger one about 15x its body (parsed document, diff scratch). Past it a review "
                  "waits for room and is answered 503 at its timeout. Default: half the container's memory "
                  "limit (cgroup), else 256Mi");
  cmd->add_option("--cache-dir", flags->gate.cache_dir, "Where Git repositories are cached")->capture_default_str();
  cmd->add_flag("--audit-stdout", flags->gate.audit.to_stdout, "Write audit records as JSON lines on stdout");
  cmd->add_option("--audit-file", flags->gate.audit.file, "Write the hash-chained audit log to this file");
  cmd->add_option("--audit-max-size", flags->audit_max_size, "Rotate the audit file at this size (bytes, Ki, Mi, Gi)")
      ->capture_default_str();
  cmd->add_option("--audit-max-files", flags->gate.audit.max_files, "Audit files kept, the active one included")
      ->capture_default_str();
  cmd->add_option("--audit-hmac-key", flags->gate.audit.hmac_key_file,
                  "Chain audit records with HMAC-SHA256 under the key in this file");
  cmd->add_option(
         "--audit-durability", flags->audit_durability,
         "When a decision is answered: 'written' once its record is written to the audit file (or to "
         "stdout without a file), so it survives a crash of the process; 'synced' once it is also "
         "fdatasync'ed (survives power loss); 'async' at once (a crash loses the last records)")
      ->capture_default_str();
  cmd->add_option(
         "--audit-on-failure", flags->audit_on_failure,
         "While the audit file (or stdout without a file) cannot be written: 'deny' answers every review "
         "with a denial saying the audit log is unavailable; 'allow' answers as decided, recording to "
         "the other sink and counting what could not be written. Either way /readyz is false")
      ->capture_default_str();
  cmd->add_option(
         "--audit-backlog", flags->audit_backlog,
         "Records kept for a failing audit sink and written when it recovers; past this many, records "
         "are lost to it, counted, and a gap record in the chain says which")
      ->capture_default_str();
  cmd->add_option("--log-level", flags->log_level, "debug, info, warn or error")->capture_default_str();
  cmd->callback([flags, &exit] { exit.value = serve(*flags); });
}

}  // namespace gitgate::cli
