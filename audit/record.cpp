#include "audit/record.h"

#include <algorithm>
#include <charconv>

#include "audit/timestamp.h"
#include "core/json_writer.h"
#include "core/recorded.h"

namespace gitgate::audit {
namespace {

// Cuts at a UTF-8 character boundary so a bounded field stays readable.
std::string_view bounded(std::string_view s, size_t limit = kMaxFieldBytes) {
  if (s.size() <= limit) return s;
  size_t n = limit;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

void assign(std::string& out, std::string_view s) {
  out.assign(bounded(s));
}

// The line is written directly rather than through JsonWriter: keys are constants that need no escaping,
// and this runs once per decision on the writer thread.
template <class Int>
void append_integer(std::string& out, Int value) {
  char buf[24];
  auto end = std::to_chars(buf, buf + sizeof buf, value).ptr;
  out.append(buf, static_cast<size_t>(end - buf));
}

void append_string_list(std::string& out, const std::vector<std::string>& items) {
  out += '[';
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    append_json_string(out, items[i]);
  }
  out += ']';
}

}  // namespace

Record make_record(const AdmissionRequest& request, const Decision& decision, int64_t time_unix_us,
                   int64_t latency_us) {
  Record r;
  r.time_us = time_unix_us;
  assign(r.uid, request.uid);
  r.decision = decision.outcome();
  r.violation = decision.violation;
  r.mode = to_string(decision.mode);
  assign(r.reason, decision.reason);
  assign(r.message, decision.message);
  r.identity = to_string(decision.identity);
  assign(r.agent, decision.agent);
  assign(r.user, request.user.username);
  if (request.user.groups) {
    r.groups.reserve(std::min(request.user.groups->size(), kMaxListItems));
    for (auto group : *request.user.groups) {
      if (r.groups.size() == kMaxListItems) break;
      std::string_view text;
      if (!group.get(text)) r.groups.emplace_back(bounded(text));
    }
  }
  r.operation = to_string(request.operation);
  assign(r.group, request.kind.group);
  assign(r.version, request.kind.version);
  assign(r.kind, request.kind.kind);
  assign(r.resource, request.resource.resource);
  assign(r.subresource, request.sub_resource);
  assign(r.ns, request.ns);
  assign(r.name, request.name);
  r.dry_run = request.dry_run || decision.dry_run;
  assign(r.policy, decision.policy);
  if (decision.snapshot_commit) assign(r.commit, decision.snapshot_commit->id);
  if (decision.declared) {
    assign(r.file, decision.declared->file());
    r.line = decision.declared->line();
    assign(r.url, decision.url);
    if (const auto& change = decision.declared->last_change()) {
      assign(r.file_commit, change->id);
      if (!change->author_name.empty() || !change->author_email.empty()) {
        r.author.reserve(change->author_name.size() + change->author_email.size() + 3);
        r.author.append(bounded(change->author_name, kMaxFieldBytes / 2));
        r.author += " <";
        r.author.append(bounded(change->author_email, kMaxFieldBytes / 2));
        r.author += '>';
      }
      r.author_time = change->time;
      r.signature = to_string(change->signature);
      assign(r.signer, change->signer);
    }
  }
  const size_t paths = std::min(decision.changed_paths.size(), kMaxListItems);
  r.changed_paths.reserve(paths);
  for (size_t i = 0; i < paths; ++i) r.changed_paths.emplace_back(bounded(decision.changed_paths[i]));
  r.limit = decision.limit;
  r.latency_us = latency_us;
  assign(r.peer, request.peer_address);
  assign(r.peer_subject, request.peer_subject);
  return r;
}

void append_record_line(std::string& out, const Record& r, uint64_t seq, std::string_view prev_hex) {
  auto text = [&out](std::string_view key_and_colon, std::string_view value) {
    out += key_and_colon;
    append_json_string(out, value);
  };
  auto flag = [&out](std::string_view key_and_colon, bool value) {
    out += key_and_colon;
    out += value ? "true" : "false";
  };
  out += R"({"seq":)";
  append_integer(out, seq);
  out += R"(,"schema":)";
  append_integer(out, kRecordSchema);
  out += R"(,"time":")";
  append_rfc3339(out, r.time_us, true);
  out += '"';
  text(R"(,"uid":)", r.uid);
  text(R"(,"decision":)", r.decision);
  flag(R"(,"violation":)", r.violation);
  text(R"(,"mode":)", r.mode);
  text(R"(,"reason":)", r.reason);
  text(R"(,"message":)", r.message);
  text(R"(,"identity":)", r.identity);
  text(R"(,"agent":)", r.agent);
  text(R"(,"user":)", r.user);
  out += R"(,"groups":)";
  append_string_list(out, r.groups);
  text(R"(,"operation":)", r.operation);
  text(R"(,"group":)", r.group);
  text(R"(,"version":)", r.version);
  text(R"(,"kind":)", r.kind);
  text(R"(,"resource":)", r.resource);
  text(R"(,"subresource":)", r.subresource);
  text(R"(,"namespace":)", r.ns);
  text(R"(,"name":)", r.name);
  flag(R"(,"dryRun":)", r.dry_run);
  text(R"(,"policy":)", r.policy);
  text(R"(,"commit":)", r.commit);
  text(R"(,"file":)", r.file);
  out += R"(,"line":)";
  append_integer(out, r.line);
  text(R"(,"url":)", r.url);
  text(R"(,"fileCommit":)", r.file_commit);
  text(R"(,"author":)", r.author);
  out += R"(,"authorTime":")";
  if (r.author_time != 0) append_rfc3339(out, r.author_time * 1'000'000, false);
  out += '"';
  text(R"(,"signature":)", r.signature);
  text(R"(,"signer":)", r.signer);
  out += R"(,"changedPaths":)";
  append_string_list(out, r.changed_paths);
  text(R"(,"limit":)", r.limit);
  out += R"(,"latencyUs":)";
  append_integer(out, r.latency_us);
  text(R"(,"peer":)", r.peer);
  text(R"(,"peerSubject":)", r.peer_subject);
  text(R"(,"prev":)", prev_hex);
  out += '}';
}

const std::string& refuse(Record& record, std::string_view cause) {
  record.decision = "deny";
  record.reason.assign(kAuditUnavailableReason);
  record.message = "gitgate: denied because the audit log cannot record this decision (";
  record.message.append(bounded(cause, 512));
  record.message += "); nothing is admitted unrecorded. Try again shortly.";
  return record.message;
}

void append_gap_line(std::string& out, const Gap& gap, int64_t time_us, uint64_t seq,
                     std::string_view prev_hex) {
  out += R"({"seq":)";
  append_integer(out, seq);
  out += R"(,"time":")";
  append_rfc3339(out, time_us, true);
  out += R"(","gap":{"sink":)";
  append_json_string(out, gap.sink);
  out += R"(,"first":)";
  append_integer(out, gap.first);
  out += R"(,"last":)";
  append_integer(out, gap.last);
  out += R"(,"cause":)";
  append_json_string(out, bounded(gap.cause));
  out += R"(,"from":")";
  append_rfc3339(out, gap.from_us, true);
  out += R"(","to":")";
  append_rfc3339(out, gap.to_us, true);
  out += R"("},"prev":)";
  append_json_string(out, prev_hex);
  out += '}';
}

bool is_hex_digest(std::string_view text) {
  if (text.size() != 64) return false;
  // Without early exits the loop vectorises: it runs for every line verify and the report read.
  bool hex = true;
  for (char c : text) hex &= (c >= '0' && c <= '9') | (c >= 'a' && c <= 'f');
  return hex;
}

Result<simdjson::dom::object> RecordParser::parse_object(std::string_view line) {
  if (line.size() > kMaxLineBytes) return Error{"line longer than 1 MiB"};
  simdjson::dom::element doc;
  if (auto err = parser_.parse(line.data(), line.size(), true).get(doc)) {
    return Error{std::string("not JSON (") + simdjson::error_message(err) + ")"};
  }
  simdjson::dom::object object;
  if (doc.get(object)) return Error{"not a JSON object"};
  return object;
}

namespace {

Result<Gap> gap_fields(simdjson::dom::object gap) {
  Gap out;
  std::string_view text;
  if (gap["sink"].get(text)) return Error{"field 'gap.sink' is missing or not a string"};
  out.sink.assign(text);
  if (gap["first"].get(out.first) || gap["last"].get(out.last) || out.first == 0 || out.last < out.first) {
    return Error{"fields 'gap.first' and 'gap.last' must be seqs, first <= last"};
  }
  if (gap["cause"].get(text)) return Error{"field 'gap.cause' is missing or not a string"};
  out.cause.assign(text);
  for (auto [key, target] : {std::pair{"from", &out.from_us}, std::pair{"to", &out.to_us}}) {
    if (gap[key].get(text)) return Error{std::string("field 'gap.") + key + "' is missing or not a string"};
    auto parsed = parse_rfc3339(text);
    if (!parsed) return Error{std::string("field 'gap.") + key + "' is not an RFC 3339 time"};
    *target = *parsed;
  }
  return out;
}

Result<ChainFields> chain_fields(simdjson::dom::object object) {
  ChainFields fields;
  if (object["seq"].get(fields.seq)) return Error{"field 'seq' is missing or not an unsigned integer"};
  if (object["prev"].get(fields.prev) || !is_hex_digest(fields.prev)) {
    return Error{"field 'prev' is missing or not 64 lowercase hex digits"};
  }
  auto gap = object["gap"];
  if (gap.error() != simdjson::NO_SUCH_FIELD) {
    simdjson::dom::object gap_object;
    if (gap.get(gap_object)) return Error{"field 'gap' is not an object"};
    auto parsed = gap_fields(gap_object);
    if (!parsed) return std::move(parsed).take_error();
    if (parsed->last >= fields.seq) return Error{"a gap record must come after the records it names"};
    fields.gap = std::move(parsed).value();
  }
  return fields;
}

}  // namespace

Result<ChainFields> RecordParser::parse_chain(std::string_view line) {
  auto object = parse_object(line);
  if (!object) return std::move(object).take_error();
  return chain_fields(*object);
}

namespace {

// Reads the fields of a record object into a record that may be reused (strings keep their capacity); a
// missing key leaves an empty value. The first problem wins. The writer puts keys in a fixed order, so
// each key is first looked for where the previous one ended; only a line written otherwise costs a search.
class FieldReader {
 public:
  explicit FieldReader(simdjson::dom::object object)
      : object_(object), next_(object.begin()), end_(object.end()) {}

  void text(std::string_view key, std::string& out) {
    std::string_view value;
    if (get(key, value)) {
      out.assign(value);
    } else {
      out.clear();
    }
  }
  void time(std::string_view key, int64_t& out_us, bool required) {
    out_us = 0;
    std::string_view value;
    if (!get(key, value)) return;
    if (value.empty()) {
      if (required) fail(key, "is empty");
      return;
    }
    auto parsed = parse_rfc3339(value);
    if (!parsed) return fail(key, "is not an RFC 3339 time");
    out_us = *parsed;
  }
  void list(std::string_view key, std::vector<std::string>& out) {
    size_t n = 0;
    simdjson::dom::array items;
    if (get(key, items)) {
      for (auto item : items) {
        std::string_view value;
        if (item.get(value)) return fail(key, "holds a value that is not a string");
        if (n < out.size()) {
          out[n].assign(value);
        } else {
          out.emplace_back(value);
        }
        ++n;
      }
    }
    out.resize(n);
  }
  // Leaves `out` as it is when the key is missing: the caller sets the default.
  template <class T>
  void number(std::string_view key, T& out) {
    get(key, out);
  }
  void flag(std::string_view key, bool& out) {
    out = false;
    get(key, out);
  }

  // Steps over a key read elsewhere (seq), so the next one is found where it follows.
  void skip(std::string_view key) {
    if (next_ != end_ && next_.key() == key) ++next_;
  }

  const std::string& error() const { return error_; }

 private:
  template <class T>
  bool get(std::string_view key, T& out) {
    if (!error_.empty()) return false;
    simdjson::dom::element value;
    if (next_ != end_ && next_.key() == key) {
      value = next_.value();
      ++next_;
    } else {
      auto field = object_[key];
      if (field.error() == simdjson::NO_SUCH_FIELD) return false;  // older or newer writers: default value
      value = field.value_unsafe();
    }
    if (value.get(out)) {
      fail(key, "has the wrong type");
      return false;
    }
    return true;
  }
  void fail(std::string_view key, const char* what) { error_ = "field '" + std::string(key) + "' " + what; }

  simdjson::dom::object object_;
  simdjson::dom::object::iterator next_;
  simdjson::dom::object::iterator end_;
  std::string error_;
};

}  // namespace

Result<LoggedRecord> RecordParser::parse(std::string_view line) {
  LoggedRecord out;
  if (Status status = parse_into(line, out); !status) return Error{status.error()};
  return out;
}

Status RecordParser::parse_into(std::string_view line, LoggedRecord& out) {
  auto parsed = parse_object(line);
  if (!parsed) return std::move(parsed).take_error();
  simdjson::dom::object object = *parsed;
  auto chain = chain_fields(object);
  if (!chain) return std::move(chain).take_error();
  out.seq = chain->seq;
  out.prev.assign(chain->prev);
  if (object["time"].error() == simdjson::NO_SUCH_FIELD) return Error{"field 'time' is missing"};
  // A reused record keeps nothing of the line before: not its gap, not its decision's fields.
  out.gap = std::move(chain->gap);
  if (out.gap) {
    out.record = Record{};
    FieldReader f(object);
    f.time("time", out.record.time_us, true);
    if (!f.error().empty()) return Error{f.error()};
    return Status::Ok();
  }
  if (object["decision"].error() == simdjson::NO_SUCH_FIELD) return Error{"field 'decision' is missing"};
  Record& r = out.record;
  FieldReader f(object);
  f.skip("seq");
  uint64_t schema = 1;
  f.number("schema", schema);
  out.schema = static_cast<uint32_t>(std::min<uint64_t>(schema, UINT32_MAX));
  f.time("time", r.time_us, true);
  f.text("uid", r.uid);
  f.text("decision", r.decision);
  f.flag("violation", r.violation);
  f.text("mode", r.mode);
  f.text("reason", r.reason);
  f.text("message", r.message);
  f.text("identity", r.identity);
  f.text("agent", r.agent);
  f.text("user", r.user);
  f.list("groups", r.groups);
  f.text("operation", r.operation);
  f.text("group", r.group);
  f.text("version", r.version);
  f.text("kind", r.kind);
  f.text("resource", r.resource);
  f.text("subresource", r.subresource);
  f.text("namespace", r.ns);
  f.text("name", r.name);
  f.flag("dryRun", r.dry_run);
  f.text("policy", r.policy);
  f.text("commit", r.commit);
  f.text("file", r.file);
  uint64_t line_number = 0;
  f.number("line", line_number);
  r.line = static_cast<uint32_t>(std::min<uint64_t>(line_number, UINT32_MAX));
  f.text("url", r.url);
  f.text("fileCommit", r.file_commit);
  f.text("author", r.author);
  int64_t author_time_us = 0;
  f.time("authorTime", author_time_us, false);
  r.author_time = author_time_us / 1'000'000;
  f.text("signature", r.signature);
  f.text("signer", r.signer);
  f.list("changedPaths", r.changed_paths);
  f.text("limit", r.limit);
  r.latency_us = 0;
  f.number("latencyUs", r.latency_us);
  f.text("peer", r.peer);
  f.text("peerSubject", r.peer_subject);
  if (!f.error().empty()) return Error{f.error()};
  return Status::Ok();
}

}  // namespace gitgate::audit
