#include "audit/verify.h"

#include <utility>

#include "audit/reader.h"
#include "audit/record.h"
#include "audit/timestamp.h"

namespace gitgate::audit {

std::string Finding::to_string() const {
  std::string out = file + ":" + std::to_string(line) + ": ";
  if (seq) out += "record seq " + std::to_string(*seq) + ": ";
  return out + what;
}

namespace {

// One line of the chain, reduced to what verification compares.
struct Entry {
  enum class Kind { Record, Malformed, Unfinished };
  Kind kind = Kind::Record;
  size_t file = 0;
  uint64_t line = 0;
  uint64_t seq = 0;
  std::string prev;  // hex, as written
  std::string hash;  // hex hash of this line
  std::string problem;
  uint64_t bytes = 0;
  std::optional<Gap> gap;  // a gap record: records the writer could not put in one sink
};

// Produces the entries of all files in chain order.
class ChainScanner {
 public:
  ChainScanner(const std::vector<std::string>& files, ChainHasher& hasher) : files_(files), hasher_(hasher) {}

  // False at the end of the last file; an I/O error is then in error().
  bool next(Entry& entry) {
    for (;;) {
      if (!reader_) {
        if (file_index_ == files_.size()) return false;
        auto opened = LogFileReader::open(files_[file_index_]);
        if (!opened) {
          error_ = opened.error();
          return false;
        }
        reader_.emplace(std::move(opened).value());
      }
      LogLine line;
      if (reader_->next(line)) {
        entry = describe(line);
        return true;
      }
      if (!reader_->error().empty()) {
        error_ = reader_->error();
        return false;
      }
      reader_.reset();
      ++file_index_;
    }
  }

  const std::string& error() const { return error_; }

 private:
  Entry describe(const LogLine& line) {
    Entry e;
    e.file = file_index_;
    e.line = line.number;
    e.bytes = line.text.size();
    if (!line.terminated) {
      e.kind = Entry::Kind::Unfinished;
      return e;
    }
    if (line.too_long) {
      e.kind = Entry::Kind::Malformed;
      e.problem = "line longer than 1 MiB";
      return e;
    }
    auto chain = parser_.parse_chain(line.text);
    if (!chain) {
      e.kind = Entry::Kind::Malformed;
      e.problem = chain.error();
      return e;
    }
    e.seq = chain->seq;
    e.prev.assign(chain->prev);
    e.gap = std::move(chain->gap);
    e.hash = to_hex(hasher_.hash(line.text));
    return e;
  }

  const std::vector<std::string>& files_;
  ChainHasher& hasher_;
  size_t file_index_ = 0;
  std::optional<LogFileReader> reader_;
  RecordParser parser_;
  std::string error_;
};

std::string seq_range(uint64_t first, uint64_t last) {
  if (first == last) return "record seq " + std::to_string(first) + " is";
  return "records seq " + std::to_string(first) + ".." + std::to_string(last) + " are";
}

class Verifier {
 public:
  Verifier(const std::vector<std::string>& files, bool keyed) : files_(files), keyed_(keyed) {}

  // Checks `cur` against the chain so far, with `next` (the following entry, if any) to tell an
  // insertion from an edit and a reordering from a deletion. False once a failure is found.
  bool check(const Entry& cur, const Entry* next) {
    const Entry* next_record = next != nullptr && next->kind == Entry::Kind::Record ? next : nullptr;
    switch (cur.kind) {
      case Entry::Kind::Unfinished:
        if (next == nullptr) {
          note(cur, "truncated tail: the last line is an unfinished record (" + std::to_string(cur.bytes) +
                        " bytes, no newline), as an interrupted write leaves it");
        } else {
          note(cur,
               "unfinished record (" + std::to_string(cur.bytes) +
                   " bytes, no newline) from an interrupted write; the writer continued the chain in the "
                   "next file");
        }
        return true;
      case Entry::Kind::Malformed:
        return fail(cur, std::nullopt,
                    "not a valid audit record (" + cur.problem + "): edited, inserted or corrupted" +
                        (last_ ? " (expected seq " + std::to_string(last_->seq + 1) + ")" : ""));
      case Entry::Kind::Record:
        break;
    }
    if (!last_) return check_first(cur);
    const Entry& last = *last_;
    const bool links = cur.prev == last.hash;
    if (cur.seq == last.seq + 1 && links) {
      if (cur.gap) note_gap(cur, false);
      return accept(cur);
    }
    // The writer's own account of records this file did not get: exactly the ones between. Its prev is the
    // hash of the last of them, so it is checked by the record after it instead.
    if (cur.gap && cur.gap->first == last.seq + 1 && cur.gap->last + 1 == cur.seq) {
      note_gap(cur, true);
      return accept(cur);
    }
    const bool next_follows_last =
        next_record != nullptr && next_record->seq == last.seq + 1 && next_record->prev == last.hash;
    if (cur.seq == last.seq + 1) {
      if (next_follows_last) return fail(cur, cur.seq, inserted_text(last, *next_record));
      std::string what = "altered: its hash no longer matches the prev of record seq " +
                         std::to_string(cur.seq) + " (" + where(cur) + ")";
      if (records_ == 1) {
        what += keyed_ ? ", or the log was written with another HMAC key"
                       : ", or the log was written with an HMAC key (verify with --hmac-key)";
      }
      return fail(last, last.seq, what);
    }
    if (cur.seq > last.seq + 1) {
      if (links) {
        return fail(cur, cur.seq,
                    "seq altered: it chains to record seq " + std::to_string(last.seq) +
                        ", so it must be seq " + std::to_string(last.seq + 1));
      }
      if (next_record != nullptr && next_record->seq > last.seq && next_record->seq < cur.seq) {
        return fail(cur, cur.seq,
                    "out of order: seq " + std::to_string(next_record->seq) + " comes after it (" +
                        where(*next_record) + "): records were reordered");
      }
      std::string what = seq_range(last.seq + 1, cur.seq - 1) + " missing before it";
      if (cur.file != last.file) {
        what += ", between " + files_[last.file] + " and " + files_[cur.file] +
                " (a rotated file is missing, or the end of one was cut)";
      } else {
        what += " (deleted)";
      }
      return fail(cur, cur.seq, what);
    }
    if (next_follows_last) return fail(cur, cur.seq, inserted_text(last, *next_record));
    // Two records claim the same predecessor and the chain goes on from the second: the first one is
    // the intruder (a forged record with a correctly computed prev).
    if (cur.prev == last.prev && next_record != nullptr && next_record->prev == cur.hash) {
      return fail(last, last.seq, inserted_text_before(cur, *next_record));
    }
    if (cur.seq == last.seq) {
      return fail(cur, cur.seq,
                  "duplicate: seq " + std::to_string(cur.seq) + " is also at " + where(last) +
                      " (a record was inserted or copied)");
    }
    return fail(cur, cur.seq,
                "out of order: it follows record seq " + std::to_string(last.seq) + " (" + where(last) +
                    "): records were reordered or copied");
  }

  VerifyReport take_report() { return std::move(report_); }

 private:
  bool check_first(const Entry& cur) {
    const bool zero_prev = cur.prev == kZeroDigestHex;
    if (cur.seq == 1 && !zero_prev) {
      return fail(cur, cur.seq, "altered: the first record of a log must have a prev of 64 zeros");
    }
    if (cur.seq != 1 && zero_prev) {
      return fail(cur, cur.seq, "altered: a prev of 64 zeros belongs to the first record (seq 1) only");
    }
    if (cur.seq != 1) {
      note(cur, "the chain starts at seq " + std::to_string(cur.seq) +
                    ": earlier records were rotated away or are in files not given");
    }
    if (cur.gap) note_gap(cur, false);
    report_.first_seq = cur.seq;
    return accept(cur);
  }

  // missing: the records are not in these files; else they are (a copy of the stream the sink missed).
  void note_gap(const Entry& e, bool missing) {
    const Gap& gap = *e.gap;
    std::string what =
        "gap record: " + seq_range(gap.first, gap.last) + (missing ? " missing here" : " here") + ": the " +
        gap.sink + " sink could not write " + (gap.first == gap.last ? "it" : "them") + " (" + gap.cause +
        "), decided " + format_rfc3339(gap.from_us, false) + " .. " + format_rfc3339(gap.to_us, false);
    report_.notes.push_back(Finding{files_[e.file], e.line, e.seq, std::move(what)});
  }

  bool accept(const Entry& cur) {
    last_ = cur;
    ++records_;
    report_.records = records_;
    report_.last_seq = cur.seq;
    report_.head = cur.hash;
    return true;
  }

  std::string inserted_text(const Entry& last, const Entry& next) const {
    return "inserted: not part of the chain (record seq " + std::to_string(next.seq) + " at " + where(next) +
           " follows record seq " + std::to_string(last.seq) + " directly)";
  }

  std::string inserted_text_before(const Entry& genuine, const Entry& next) const {
    return "inserted: not part of the chain (record seq " + std::to_string(next.seq) + " at " + where(next) +
           " follows record seq " + std::to_string(genuine.seq) + " at " + where(genuine) +
           ", which has the same prev)";
  }

  std::string where(const Entry& e) const { return files_[e.file] + ":" + std::to_string(e.line); }

  void note(const Entry& e, std::string what) {
    report_.notes.push_back(Finding{files_[e.file], e.line, std::nullopt, std::move(what)});
  }

  bool fail(const Entry& e, std::optional<uint64_t> seq, std::string what) {
    report_.failure = Finding{files_[e.file], e.line, seq, std::move(what)};
    return false;
  }

  const std::vector<std::string>& files_;
  bool keyed_;
  std::optional<Entry> last_;
  uint64_t records_ = 0;
  VerifyReport report_;
};

}  // namespace

Result<VerifyReport> verify_chain(const std::vector<std::string>& files, ChainHasher& hasher) {
  auto ordered = order_by_chain(files);
  if (!ordered) return std::move(ordered).take_error();
  ChainScanner scanner(*ordered, hasher);
  Verifier verifier(*ordered, hasher.keyed());
  Entry cur, next;
  bool have_cur = scanner.next(cur);
  while (have_cur) {
    const bool have_next = scanner.next(next);
    if (!verifier.check(cur, have_next ? &next : nullptr)) break;
    if (!have_next) break;
    cur = std::move(next);
  }
  if (!scanner.error().empty()) return Error{scanner.error()};
  return verifier.take_report();
}

}  // namespace gitgate::audit
