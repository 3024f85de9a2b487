// One audit record per admission decision: what was asked, what was decided, and the Git provenance that
// justified it. `make_record` runs on the request thread and only copies strings (no encoding, no
// hashing); the log's writer thread encodes the record as one JSON line (format in audit/README.md).
// A record never holds the request's `object`/`oldObject`, so Secret data cannot reach the log.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "core/admission.h"
#include "core/decision.h"
#include "core/result.h"

namespace gitgate::audit {

// Bounds that keep one record line well under kMaxLineBytes whatever the request carries.
constexpr size_t kMaxFieldBytes = 4096;
constexpr size_t kMaxListItems = 64;  // groups, changed paths: the first 64 are kept
constexpr size_t kMaxLineBytes = 1024 * 1024;

// The version of the line format (audit/README.md), written as `schema` in every record. Keys are only ever
// added, and readers ignore keys they do not know; the version says which keys a line is expected to hold.
// 1: no `schema` key (before links); 2: `schema` and `url`; 3: `peer` and `peerSubject`.
constexpr uint32_t kRecordSchema = 3;

struct Record {
  int64_t time_us = 0;   // when the decision was made, microseconds since the epoch (UTC)
  std::string uid;       // the AdmissionReview request uid
  std::string decision;  // allow | deny | warn
  bool violation = false;
  std::string mode;    // enforce | warn | audit
  std::string reason;  // stable reason code
  std::string message;
  std::string identity;  // none | break-glass | agent | controller | person
  std::string agent;     // the agent's name when identity is agent
  std::string user;
  std::vector<std::string> groups;
  std::string operation;  // CREATE | UPDATE | DELETE | CONNECT
  std::string group;      // of the object's kind; "" for the core group
  std::string version;
  std::string kind;
  std::string resource;
  std::string subresource;
  std::string ns;
  std::string name;
  bool dry_run = false;
  std::string policy;
  std::string commit;                      // the snapshot commit the decision relied on
  std::string file;                        // where Git declares the object
  uint32_t line = 0;                       // 0 when not declared
  std::string url;                         // `file`:`line` in the Git host's web UI; "" without a link
  std::string file_commit;                 // the last commit that changed `file`
  std::string author;                      // of file_commit, "name <email>"
  int64_t author_time = 0;                 // of file_commit, seconds since the epoch; 0 when unknown
  std::string signature;                   // of file_commit: verified | unsigned | invalid | unknown-key
  std::string signer;                      // the allowed_signers principal when verified
  std::vector<std::string> changed_paths;  // JSON pointers, never values
  std::string limit;                       // the bound that decided, "" when none was hit
  int64_t latency_us = 0;
  std::string peer;          // the TLS peer's address:port; "" in records before schema 3
  std::string peer_subject;  // its client certificate's subject (mTLS); "" without one
};

// Copies what the log records from a request and its decision. Safe to call with views that die right
// after: the record owns its strings. Never reads `object`, `oldObject` or `userInfo.extra`.
Record make_record(const AdmissionRequest& request, const Decision& decision, int64_t time_unix_us,
                   int64_t latency_us);

// Turns a record that cannot be written as decided into the denial answered in its place: decision
// `deny`, reason `audit-unavailable`, and a message that names `cause`. Returns the message.
const std::string& refuse(Record& record, std::string_view cause);

// Records one sink did not get: the seqs `first`..`last` (the sink's backlog was full while it failed).
// Written into the chain, to every sink, once that sink writes again, so the jump in its seqs is explained.
struct Gap {
  std::string sink;  // "file" or "stdout"
  uint64_t first = 0;
  uint64_t last = 0;
  std::string cause;    // why the sink failed, e.g. "audit.log: write failed: No space left on device"
  int64_t from_us = 0;  // the first and the last of the records lost, decision times
  int64_t to_us = 0;
};

// Appends the record as one compact JSON line (no newline) with the chain fields `seq` (first) and
// `prev` (last, 64 lowercase hex digits), and `schema` (kRecordSchema) after `seq`.
void append_record_line(std::string& out, const Record& record, uint64_t seq, std::string_view prev_hex);

// A gap record: {"seq":N,"time":T,"gap":{"sink","first","last","cause","from","to"},"prev":P}.
void append_gap_line(std::string& out, const Gap& gap, int64_t time_us, uint64_t seq,
                     std::string_view prev_hex);

// A line read back from a log: a decision's record, or a gap record (`gap` set, `record` empty).
struct LoggedRecord {
  uint64_t seq = 0;
  uint32_t schema = 1;  // a line without `schema` was written before the key existed
  std::string prev;
  Record record;
  std::optional<Gap> gap;
};

// The chain fields of a line, parsed without building a record.
struct ChainFields {
  uint64_t seq = 0;
  std::string_view prev;   // points into the parser; valid until the next parse
  std::optional<Gap> gap;  // a gap record
};

// Reads log lines back. Not thread-safe; reuse one parser for many lines.
class RecordParser {
 public:
  // Errors say what is wrong with the line ("not JSON", "field 'seq' is missing", ...), without the
  // line's content.
  Result<LoggedRecord> parse(std::string_view line);
  // The same into a record read before: its strings and lists keep their memory (readers of many lines).
  Status parse_into(std::string_view line, LoggedRecord& out);
  Result<ChainFields> parse_chain(std::string_view line);

 private:
  Result<simdjson::dom::object> parse_object(std::string_view line);
  simdjson::dom::parser parser_;
};

bool is_hex_digest(std::string_view text);

}  // namespace gitgate::audit
