// What became of a decision's audit record, for the answer that waits on it. Shared by the audit log
// (which reports it) and the webhook server (which answers by it), so neither depends on the other.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gitgate {

// The reason code of a review denied because its decision could not be recorded.
inline constexpr std::string_view kAuditUnavailableReason = "audit-unavailable";

struct RecordOutcome {
  // Not recorded as decided: the record says, and the answer must say, denied with `message` (reason
  // kAuditUnavailableReason).
  bool refused = false;
  std::string message;
};

// Called once, from any thread.
using RecordDone = std::function<void(RecordOutcome)>;

// The audit writer confirms a batch of records in one go. A receiver that must wake another thread to act
// on a confirmation (the I/O thread that answers the review) wakes it once per batch, not once per record:
// it hands the wake-up to `wake`, which runs it when the batch on this thread ends (at once outside one).
// Otherwise the first wake-up can let the woken thread run before the rest of the batch is confirmed, and
// each later confirmation wakes it again.
class ConfirmationBatch {
 public:
  ConfirmationBatch() : outer_(std::exchange(current(), this)) {}
  ~ConfirmationBatch() {
    current() = outer_;
    for (auto& wake : wakes_) wake();
  }
  ConfirmationBatch(const ConfirmationBatch&) = delete;
  ConfirmationBatch& operator=(const ConfirmationBatch&) = delete;

  static void wake(std::function<void()> wake) {
    if (ConfirmationBatch* batch = current()) return batch->wakes_.push_back(std::move(wake));
    wake();
  }

 private:
  static ConfirmationBatch*& current() {
    static thread_local ConfirmationBatch* batch = nullptr;
    return batch;
  }
  ConfirmationBatch* outer_;
  std::vector<std::function<void()>> wakes_;
};

}  // namespace gitgate
