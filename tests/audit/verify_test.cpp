// Tampering with the audit log, one kind at a time, and what `verify` says about it.
#include <gtest/gtest.h>

#include <algorithm>

#include "audit/chain.h"
#include "audit/log.h"
#include "audit/record.h"
#include "audit/verify.h"
#include "tests/audit/audit_test_support.h"
#include "tests/support/support.h"

namespace gitgate::audit {
namespace {

namespace fs = std::filesystem;
using gitgate::testing::TempDir;
using testing::read_lines;
using testing::write_lines;

VerifyReport verify(const std::vector<std::string>& files) {
  auto hasher = ChainHasher::sha256();
  EXPECT_TRUE(hasher);
  auto report = verify_chain(files, *hasher);
  EXPECT_TRUE(report) << report.error();
  return report ? *report : VerifyReport{};
}

std::string failure_of(const std::vector<std::string>& files) {
  auto report = verify(files);
  return report.failure ? report.failure->to_string() : "OK";
}

// One file of 20 records.
class TamperedLog : public ::testing::Test {
 protected:
  void SetUp() override {
    AuditLog::Options options;
    options.file = path_;
    testing::write_samples(options, 20);
    lines_ = read_lines(path_);
    ASSERT_EQ(lines_.size(), 20u);
  }
  // "FILE:N" for line N (1-based).
  std::string at(int line) const { return path_ + ":" + std::to_string(line); }
  std::string verify_after(const std::vector<std::string>& lines) {
    write_lines(path_, lines);
    return failure_of({path_});
  }

  TempDir dir_;
  std::string path_ = (dir_ / "audit.log").string();
  std::vector<std::string> lines_;
};

TEST_F(TamperedLog, IntactLogVerifies) {
  auto report = verify({path_});
  EXPECT_TRUE(report.intact());
  EXPECT_EQ(report.records, 20u);
  EXPECT_EQ(report.first_seq, 1u);
  EXPECT_EQ(report.last_seq, 20u);
  EXPECT_TRUE(report.notes.empty());
}

TEST_F(TamperedLog, EditedFieldNamesTheEditedRecord) {
  auto lines = lines_;
  auto at_user = lines[6].find(R"("user":"alice@example.com")");
  ASSERT_NE(at_user, std::string::npos);
  lines[6].replace(at_user, 26, R"("user":"alice@example.org")");
  EXPECT_EQ(
      verify_after(lines),
      at(7) + ": record seq 7: altered: its hash no longer matches the prev of record seq 8 (" + at(8) + ")");
}

TEST_F(TamperedLog, EditedDecisionIsCaughtEvenWithTheSameLength) {
  auto lines = lines_;
  auto at_decision = lines[4].find(R"("decision":"deny")");
  ASSERT_NE(at_decision, std::string::npos);
  lines[4].replace(at_decision, 17, R"("decision":"warn")");
  EXPECT_EQ(
      verify_after(lines),
      at(5) + ": record seq 5: altered: its hash no longer matches the prev of record seq 6 (" + at(6) + ")");
}

TEST_F(TamperedLog, DeletedLineIsNamed) {
  auto lines = lines_;
  lines.erase(lines.begin() + 6);
  EXPECT_EQ(verify_after(lines), at(7) + ": record seq 8: record seq 7 is missing before it (deleted)");
}

TEST_F(TamperedLog, SeveralDeletedLinesAreNamedAsARange) {
  auto lines = lines_;
  lines.erase(lines.begin() + 6, lines.begin() + 10);
  EXPECT_EQ(verify_after(lines),
            at(7) + ": record seq 11: records seq 7..10 are missing before it (deleted)");
}

TEST_F(TamperedLog, InsertedCopyIsNamed) {
  auto lines = lines_;
  lines.insert(lines.begin() + 10, lines[2]);
  EXPECT_EQ(verify_after(lines), at(11) +
                                     ": record seq 3: inserted: not part of the chain (record seq 11 at " +
                                     at(12) + " follows record seq 10 directly)");
}

TEST_F(TamperedLog, InsertedForgeryWithTheRightPrevIsNamed) {
  // A forged record that copies the genuine one's seq and prev: only the next link tells them apart.
  auto lines = lines_;
  std::string forged = lines[10];
  auto at_user = forged.find(R"("user":"bob")");
  ASSERT_NE(at_user, std::string::npos);
  forged.replace(at_user, 12, R"("user":"mallory")");
  lines.insert(lines.begin() + 10, forged);
  EXPECT_EQ(verify_after(lines),
            at(11) + ": record seq 11: inserted: not part of the chain (record seq 12 at " + at(13) +
                " follows record seq 11 at " + at(12) + ", which has the same prev)");
}

TEST_F(TamperedLog, InsertedForgeryWithAWrongPrevIsNamed) {
  auto lines = lines_;
  std::string forged = lines[10];
  forged.replace(forged.find(R"("prev":")") + 8, 4, "beef");
  lines.insert(lines.begin() + 10, forged);
  EXPECT_EQ(verify_after(lines), at(11) +
                                     ": record seq 11: inserted: not part of the chain (record seq 11 at " +
                                     at(12) + " follows record seq 10 directly)");
}

TEST_F(TamperedLog, SwappedLinesAreNamed) {
  auto lines = lines_;
  std::swap(lines[6], lines[7]);
  EXPECT_EQ(verify_after(lines), at(7) + ": record seq 8: out of order: seq 7 comes after it (" + at(8) +
                                     "): records were reordered");
}

TEST_F(TamperedLog, RecordMovedLaterIsFirstSeenAsMissing) {
  auto lines = lines_;
  std::rotate(lines.begin() + 3, lines.begin() + 4, lines.begin() + 12);  // line 4 moved after line 12
  EXPECT_EQ(verify_after(lines), at(4) + ": record seq 5: record seq 4 is missing before it (deleted)");
}

TEST_F(TamperedLog, EditedSeqIsNamed) {
  auto lines = lines_;
  lines[6].replace(0, 8, R"({"seq":70)");
  ASSERT_EQ(lines[6].rfind(R"({"seq":70,)", 0), 0u);
  EXPECT_EQ(verify_after(lines),
            at(7) + ": record seq 70: seq altered: it chains to record seq 6, so it must be seq 7");
}

TEST_F(TamperedLog, LineCutInTheMiddleIsNamed) {
  auto lines = lines_;
  lines[6].resize(lines[6].size() / 2);
  std::string finding = verify_after(lines);
  EXPECT_EQ(finding.rfind(at(7) + ": not a valid audit record (not JSON", 0), 0u) << finding;
  EXPECT_TRUE(finding.ends_with("): edited, inserted or corrupted (expected seq 7)")) << finding;
}

TEST_F(TamperedLog, GarbageLineIsNamed) {
  auto lines = lines_;
  lines.insert(lines.begin() + 5, "");
  EXPECT_EQ(verify_after(lines).rfind(at(6) + ": not a valid audit record", 0), 0u);
}

TEST_F(TamperedLog, OverlongLineIsNamed) {
  auto lines = lines_;
  lines.insert(lines.begin() + 4, std::string(kMaxLineBytes + 10, 'x'));
  EXPECT_EQ(verify_after(lines),
            at(5) +
                ": not a valid audit record (line longer than 1 MiB): edited, inserted or "
                "corrupted (expected seq 5)");
}

TEST_F(TamperedLog, EmptyFileHasNothingToVerify) {
  write_lines(path_, {});
  auto report = verify({path_});
  EXPECT_TRUE(report.intact());
  EXPECT_EQ(report.records, 0u);
}

TEST_F(TamperedLog, UnfinishedLastLineIsATruncatedTailNotTampering) {
  std::string text;
  for (int i = 0; i < 19; ++i) text += lines_[i] + "\n";
  text += lines_[19].substr(0, 100);
  gitgate::testing::write_file(path_, text);
  auto report = verify({path_});
  EXPECT_TRUE(report.intact());
  EXPECT_EQ(report.last_seq, 19u);
  ASSERT_EQ(report.notes.size(), 1u);
  EXPECT_EQ(report.notes[0].to_string(),
            at(20) +
                ": truncated tail: the last line is an unfinished record (100 bytes, no newline), as an "
                "interrupted write leaves it");
}

TEST_F(TamperedLog, RecordsCutFromTheEndShowOnlyInTheHead) {
  const std::string full_head = verify({path_}).head;
  auto lines = lines_;
  lines.resize(15);
  write_lines(path_, lines);
  auto report = verify({path_});
  // The chain alone cannot see a clean cut at the end; the head hash differs from a copy kept elsewhere.
  EXPECT_TRUE(report.intact());
  EXPECT_EQ(report.last_seq, 15u);
  EXPECT_NE(report.head, full_head);
}

TEST_F(TamperedLog, FirstRecordWithANonZeroPrevIsNamed) {
  auto lines = lines_;
  lines[0][lines[0].find(R"("prev":"0)") + 8] = '1';
  EXPECT_EQ(verify_after(lines),
            at(1) + ": record seq 1: altered: the first record of a log must have a prev of 64 zeros");
}

// Three or more files from rotation.
class TamperedRotatedLog : public ::testing::Test {
 protected:
  void SetUp() override {
    AuditLog::Options options;
    options.file = base_;
    options.max_file_bytes = 4096;
    testing::write_samples(options, 40);
    ASSERT_TRUE(fs::exists(base_ + ".2"));
    for (int i = 0; fs::exists(name(i)); ++i) files_.push_back(name(i));
  }
  std::string name(int i) const { return i == 0 ? base_ : base_ + "." + std::to_string(i); }
  uint64_t first_seq(const std::string& file) const { return seq_of(read_lines(file).front()); }
  uint64_t last_seq(const std::string& file) const { return seq_of(read_lines(file).back()); }
  static uint64_t seq_of(const std::string& line) {
    RecordParser parser;
    return parser.parse_chain(line)->seq;
  }

  TempDir dir_;
  std::string base_ = (dir_ / "audit.log").string();
  std::vector<std::string> files_;
};

TEST_F(TamperedRotatedLog, IntactFilesVerifyInAnyOrder) {
  auto shuffled = files_;
  std::rotate(shuffled.begin(), shuffled.begin() + 1, shuffled.end());
  auto report = verify(shuffled);
  EXPECT_TRUE(report.intact());
  EXPECT_EQ(report.records, 40u);
}

TEST_F(TamperedRotatedLog, EditInARotatedFileIsNamed) {
  auto lines = read_lines(name(1));
  ASSERT_GE(lines.size(), 3u);
  lines[1].replace(lines[1].find(R"("latencyUs":)"), 13, R"("latencyUs":9)");
  write_lines(name(1), lines);
  const uint64_t seq = first_seq(name(1)) + 1;
  EXPECT_EQ(failure_of(files_), name(1) + ":2: record seq " + std::to_string(seq) +
                                    ": altered: its hash no longer matches the prev of record seq " +
                                    std::to_string(seq + 1) + " (" + name(1) + ":3)");
}

TEST_F(TamperedRotatedLog, EditOfTheLastLineOfARotatedFileIsNamedInThatFile) {
  auto lines = read_lines(name(2));
  lines.back().replace(lines.back().find(R"("mode":"enforce")"), 16, R"("mode":"audit"  )");
  write_lines(name(2), lines);
  EXPECT_EQ(failure_of(files_), name(2) + ":" + std::to_string(lines.size()) + ": record seq " +
                                    std::to_string(last_seq(name(2))) +
                                    ": altered: its hash no longer matches the prev of record seq " +
                                    std::to_string(first_seq(name(1))) + " (" + name(1) + ":1)");
}

TEST_F(TamperedRotatedLog, MissingMiddleFileIsNamed) {
  const uint64_t first = first_seq(name(1));
  const uint64_t last = last_seq(name(1));
  fs::remove(name(1));
  std::vector<std::string> remaining;
  for (const auto& f : files_) {
    if (f != name(1)) remaining.push_back(f);
  }
  EXPECT_EQ(failure_of(remaining), name(0) + ":1: record seq " + std::to_string(last + 1) + ": records seq " +
                                       std::to_string(first) + ".." + std::to_string(last) +
                                       " are missing before it, between " + name(2) + " and " + name(0) +
                                       " (a rotated file is missing, or the end of one was cut)");
}

TEST_F(TamperedRotatedLog, CutEndOfARotatedFileIsNamed) {
  auto lines = read_lines(name(1));
  const uint64_t last = last_seq(name(1));
  lines.pop_back();
  write_lines(name(1), lines);
  EXPECT_EQ(failure_of(files_), name(0) + ":1: record seq " + std::to_string(last + 1) + ": record seq " +
                                    std::to_string(last) + " is missing before it, between " + name(1) +
                                    " and " + name(0) +
                                    " (a rotated file is missing, or the end of one was cut)");
}

TEST_F(TamperedRotatedLog, MissingNewestFileLooksLikeACleanEnd) {
  std::vector<std::string> older(files_.begin() + 1, files_.end());
  auto report = verify(older);
  EXPECT_TRUE(report.intact());
  EXPECT_EQ(report.last_seq, last_seq(name(1)));
}

// A chain as the writer leaves it when the file lost records 6..9 past its backlog: records 1..5, then
// (in the file) the gap record seq 10 that names 6..9, then records 11..12. `lines` holds the file;
// `stream` the same chain with nothing lost (what stdout carried).
class GapInTheChain : public ::testing::Test {
 protected:
  void SetUp() override {
    auto hasher = ChainHasher::sha256();
    ASSERT_TRUE(hasher);
    std::string prev(kZeroDigestHex);
    auto add = [&](const std::string& line, bool in_file) {
      stream_.push_back(line);
      if (in_file) lines_.push_back(line);
      prev = to_hex(hasher->hash(line));
    };
    for (int seq = 1; seq <= 9; ++seq) {
      std::string line;
      append_record_line(line, testing::sample_record(seq), seq, prev);
      add(line, seq <= 5);
    }
    Gap gap{"file",
            6,
            9,
            "audit.log: write failed: No space left on device",
            testing::kSampleStartUs,
            testing::kSampleStartUs + 3'000'000};
    std::string gap_line;
    append_gap_line(gap_line, gap, testing::kSampleStartUs + 4'000'000, 10, prev);
    add(gap_line, true);
    for (int seq = 11; seq <= 12; ++seq) {
      std::string line;
      append_record_line(line, testing::sample_record(seq), seq, prev);
      add(line, true);
    }
  }

  std::string verify_lines(const std::vector<std::string>& lines) {
    write_lines(path_, lines);
    auto report = verify({path_});
    std::string out;
    for (const auto& note : report.notes) out += "note: " + note.to_string() + "\n";
    return out + (report.failure ? report.failure->to_string() : "OK");
  }

  TempDir dir_;
  std::string path_ = (dir_ / "audit.log").string();
  std::vector<std::string> lines_;
  std::vector<std::string> stream_;
};

TEST_F(GapInTheChain, AGapRecordExplainsTheJumpWithItsCauseNotAsTampering) {
  EXPECT_EQ(
      verify_lines(lines_),
      "note: " + path_ +
          ":6: record seq 10: gap record: records seq 6..9 are missing here: the file sink could not "
          "write them (audit.log: write failed: No space left on device), decided 2026-11-23T10:00:00Z .. "
          "2026-11-23T10:00:03Z\nOK");
}

TEST_F(GapInTheChain, TheStreamThatHasTheRecordsNotesTheGapRecordOnly) {
  EXPECT_EQ(
      verify_lines(stream_),
      "note: " + path_ +
          ":10: record seq 10: gap record: records seq 6..9 are here: the file sink could not write them "
          "(audit.log: write failed: No space left on device), decided 2026-11-23T10:00:00Z .. "
          "2026-11-23T10:00:03Z\nOK");
}

TEST_F(GapInTheChain, RecordsDeletedAfterAGapRecordAreStillFound) {
  auto lines = lines_;
  lines.erase(lines.begin() + 6);  // record 11
  EXPECT_NE(
      verify_lines(lines).find(path_ + ":7: record seq 12: record seq 11 is missing before it (deleted)"),
      std::string::npos)
      << verify_lines(lines);
}

TEST_F(GapInTheChain, AGapRecordThatDoesNotNameTheMissingRecordsIsNoExcuse) {
  auto lines = lines_;
  lines.erase(lines.begin() + 4);  // record 5, just before the gap
  EXPECT_NE(
      verify_lines(lines).find(path_ + ":5: record seq 10: records seq 5..9 are missing before it (deleted)"),
      std::string::npos)
      << verify_lines(lines);
}

TEST_F(GapInTheChain, AnEditedGapRecordIsCaught) {
  auto lines = lines_;
  const std::string from = "No space left on device", to = "Nothing to see here.....";
  lines[5].replace(lines[5].find(from), from.size(), to);
  EXPECT_NE(
      verify_lines(lines).find(path_ + ":6: record seq 10: altered: its hash no longer matches the prev of "
                                       "record seq 11"),
      std::string::npos)
      << verify_lines(lines);
}

TEST(AuditVerify, UnreadableFileIsAnError) {
  auto hasher = ChainHasher::sha256();
  ASSERT_TRUE(hasher);
  auto report = verify_chain({"/nonexistent/audit.log"}, *hasher);
  ASSERT_FALSE(report);
  EXPECT_NE(report.error().find("/nonexistent/audit.log: cannot open"), std::string::npos);
}

}  // namespace
}  // namespace gitgate::audit
