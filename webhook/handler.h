// What the HTTPS layer needs from the application. The server decodes, asks for a decision, encodes; it
// knows nothing of policies, Git or audit.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/admission.h"
#include "core/decision.h"
#include "core/recorded.h"

namespace gitgate::webhook {

// One per I/O thread (and one for the server's large-review lane), each used only by its thread, so it can
// keep parsers and snapshot readers without locks.
class Evaluator {
 public:
  virtual ~Evaluator() = default;
  // Decides on the calling thread; must not block or do I/O.
  virtual Decision decide(const AdmissionRequest& request) = 0;
  // Called once per review with its final decision, before the answer (audit, metrics of the application).
  // Returns the outcome when the answer need not wait; otherwise nullopt, and `done` is called once, from
  // any thread, when the record is durable or refused. Refused: the answer is a denial with its message.
  // `deadline`: when the answer is due (a record not written by then is refused).
  virtual std::optional<RecordOutcome> record(const AdmissionRequest& request, const Decision& decision,
                                              std::chrono::microseconds latency,
                                              std::chrono::steady_clock::time_point deadline,
                                              RecordDone done) = 0;
  // Called by the I/O thread once it has handed over the records of what it read in one go, so that
  // they are written together (one wake-up of a writer thread for many reviews).
  virtual void flush() {}
};

class Application {
 public:
  virtual ~Application() = default;
  virtual std::unique_ptr<Evaluator> make_evaluator() = 0;
  // Sync on miss: fetch the Git source behind `decision` now (rate-limited) and call `done` once, from any
  // thread, when a fresh snapshot may be there, or at once when no fetch can finish before `deadline`.
  // Returns false when there is nothing to wait for.
  virtual bool request_sync(const Decision& decision, std::chrono::steady_clock::time_point deadline,
                            std::function<void()> done) = 0;
  // Readiness beyond the server's own (e.g. the first snapshot loaded, not stale). Fills `why` when not.
  virtual bool ready(std::string& why) const = 0;
  // Metric families of the application (Git, audit), Prometheus text.
  virtual void render_metrics(std::string& out) const = 0;
};

}  // namespace gitgate::webhook
