// What became of a decision's audit record, for the answer that waits on it. Shared by the audit log
// (which reports it) and the webhook server (which answers by it), so neither depends on the other.
#pragma once

#include <functional>
#include <string>
#include <string_view>

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

}  // namespace gitgate
