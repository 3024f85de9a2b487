// Shared by the audit tests: requests decoded from fixtures, decisions with provenance, generated logs.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "audit/log.h"
#include "audit/record.h"
#include "core/admission.h"
#include "core/decision.h"
#include "webhook/codec.h"

namespace gitgate::audit::testing {

// An AdmissionRequest decoded from tests/fixtures/audit/<name> by the server's decoder; valid while
// this object lives.
class FixtureRequest {
 public:
  explicit FixtureRequest(std::string_view name);
  const AdmissionRequest& request() const { return request_; }

 private:
  webhook::PaddedBody body_;
  webhook::ReviewDecoder decoder_;
  AdmissionRequest request_;
};

// The commit a snapshot was built from, and a declaration of Deployment shop/web with its last change.
std::shared_ptr<const CommitInfo> snapshot_commit();
std::shared_ptr<const DeclaredObject> declared_web();

// What the engine decides for a person's edit of Deployment shop/web (enforce mode).
Decision deny_web_replicas();

// A record with varied fields: decision cycles allow/deny/warn, users and namespaces rotate, time grows
// by one second per index from 2026-11-23T10:00:00Z; every tenth (9, 19, ...) is a dry run.
Record sample_record(int index);
constexpr int64_t kSampleStartUs = 1'795'428'000'000'000;  // 2026-11-23T10:00:00Z

// Writes `count` sample records through an AuditLog with `options` (file set by the caller) and closes it.
void write_samples(AuditLog::Options options, int count, int first_index = 0);

std::vector<std::string> read_lines(const std::filesystem::path& path);
void write_lines(const std::filesystem::path& path, const std::vector<std::string>& lines);

}  // namespace gitgate::audit::testing
