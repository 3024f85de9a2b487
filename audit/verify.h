// Verifies the hash chain of audit log files: names the first record that was edited, deleted, inserted,
// reordered or cut, and tells a crash's unfinished last line and records rotated away (notes) apart from
// tampering (a failure).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "audit/chain.h"
#include "core/result.h"

namespace gitgate::audit {

struct Finding {
  std::string file;
  uint64_t line = 0;
  std::optional<uint64_t> seq;  // the record named, when it has one
  std::string what;

  // "FILE:LINE: record seq N: what" (or "FILE:LINE: what").
  std::string to_string() const;
};

struct VerifyReport {
  uint64_t records = 0;  // valid records checked before the first failure
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  std::string head;  // hash of the last record: compare with a copy kept elsewhere (stdout sink)
  std::optional<Finding> failure;
  std::vector<Finding> notes;  // gaps at the beginning, unfinished lines from interrupted writes

  bool intact() const { return !failure.has_value(); }
};

// Verifies `files` (any order: they are sorted into chain order first) with `hasher` (SHA-256, or
// HMAC-SHA256 with the log's key). Errors are I/O problems only.
Result<VerifyReport> verify_chain(const std::vector<std::string>& files, ChainHasher& hasher);

}  // namespace gitgate::audit
