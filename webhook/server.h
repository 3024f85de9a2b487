// The HTTPS webhook server (POST /validate) and its plain-HTTP admin port (/healthz, /readyz, /metrics).
// One io_context per I/O thread; a connection lives on one thread from accept to close. Every connection
// has a handshake, idle, request and write deadline, bodies are capped at 7 MiB, headers at 16 KiB, and
// connections beyond the limit are closed at once. Each review reserves its memory from a budget before its
// body is read (memory_budget.h); reviews over 256 KiB are decided on one thread of their own. SIGTERM/SIGINT: /readyz turns false, the server keeps
// serving for the shutdown delay, stops accepting, answers what is in flight, closes idle connections and
// returns from run().
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "core/result.h"
#include "webhook/handler.h"
#include "webhook/tls.h"

namespace gitgate::webhook {

struct ServerOptions {
  std::string listen = "0.0.0.0:8443";
  std::string metrics_listen = "0.0.0.0:9090";
  unsigned threads = 0;  // 0: one per CPU
  TlsOptions tls;
  std::chrono::milliseconds shutdown_delay{5000};
  std::chrono::milliseconds drain_timeout{20000};
  std::chrono::milliseconds handshake_timeout{10000};
  std::chrono::milliseconds idle_timeout{120000};    // keep-alive: the API server pools connections
  std::chrono::milliseconds request_timeout{10000};  // first byte to complete body (slowloris)
  std::chrono::milliseconds write_timeout{10000};
  std::chrono::milliseconds max_review_timeout{30000};  // cap on ?timeout=
  std::chrono::milliseconds tls_reload_interval{1000};
  // How often free heap memory is handed back to the system (glibc keeps what a burst of requests used);
  // 0: never.
  std::chrono::milliseconds memory_trim_interval{30000};
  // Memory for requests in flight (bodies, parsed documents, diff scratch; see memory_budget.h). A review
  // that finds no room waits, and is answered 503 at its deadline; 0: 256 MiB.
  size_t request_memory_budget = 0;
  size_t max_connections = 10000;
  size_t max_header_bytes = 16 * 1024;
};

class Server {
 public:
  static Result<std::unique_ptr<Server>> create(ServerOptions options, Application& app);
  virtual ~Server() = default;

  // Serves until a shutdown completes (signal or shutdown()). Returns the process exit status.
  virtual int run() = 0;
  // Starts the shutdown sequence as SIGTERM would; thread-safe.
  virtual void shutdown() = 0;
  // Bound ports (useful with port 0).
  virtual unsigned short port() const = 0;
  virtual unsigned short metrics_port() const = 0;
};

// "host:port" -> parts; IPv6 as "[::1]:8443".
Result<std::pair<std::string, unsigned short>> parse_listen_address(const std::string& text);

}  // namespace gitgate::webhook
