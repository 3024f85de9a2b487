#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <thread>

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
using testing::sample_record;
using testing::write_samples;

AuditLog::Options file_options(const fs::path& file) {
  AuditLog::Options o;
  o.file = file.string();
  return o;
}

VerifyReport verify(const std::vector<std::string>& files, std::string_view key = {}) {
  auto hasher = key.empty() ? ChainHasher::sha256() : ChainHasher::hmac_sha256(key);
  EXPECT_TRUE(hasher);
  auto report = verify_chain(files, *hasher);
  EXPECT_TRUE(report) << report.error();
  return report ? *report : VerifyReport{};
}

std::vector<std::string> log_files(const fs::path& dir) {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename().string().starts_with("audit.log")) files.push_back(entry.path().string());
  }
  return files;
}

std::vector<LoggedRecord> parse_all(const fs::path& file) {
  RecordParser parser;
  std::vector<LoggedRecord> out;
  for (const auto& line : read_lines(file)) {
    auto r = parser.parse(line);
    EXPECT_TRUE(r) << r.error();
    if (r) out.push_back(*r);
  }
  return out;
}

TEST(AuditLog, WritesOneChainedLinePerRecord) {
  TempDir dir;
  write_samples(file_options(dir / "audit.log"), 25);
  auto lines = read_lines(dir / "audit.log");
  ASSERT_EQ(lines.size(), 25u);
  auto hasher = ChainHasher::sha256();
  ASSERT_TRUE(hasher);
  std::string prev(kZeroDigestHex);
  RecordParser parser;
  for (size_t i = 0; i < lines.size(); ++i) {
    auto r = parser.parse(lines[i]);
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->seq, i + 1);
    EXPECT_EQ(r->prev, prev);
    EXPECT_EQ(r->record.uid, "uid-" + std::to_string(i));
    prev = to_hex(hasher->hash(lines[i]));
  }
  auto report = verify({(dir / "audit.log").string()});
  EXPECT_TRUE(report.intact());
  EXPECT_EQ(report.records, 25u);
  EXPECT_EQ(report.head, prev);
  EXPECT_EQ(fs::status(dir / "audit.log").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
}

TEST(AuditLog, ReopeningContinuesTheChain) {
  TempDir dir;
  write_samples(file_options(dir / "audit.log"), 10);
  write_samples(file_options(dir / "audit.log"), 10, 10);
  auto records = parse_all(dir / "audit.log");
  ASSERT_EQ(records.size(), 20u);
  EXPECT_EQ(records[10].seq, 11u);
  auto report = verify({(dir / "audit.log").string()});
  EXPECT_TRUE(report.intact()) << report.failure->to_string();
  EXPECT_EQ(report.last_seq, 20u);
}

TEST(AuditLog, RotationKeepsTheChainAcrossFiles) {
  TempDir dir;
  auto options = file_options(dir / "audit.log");
  options.max_file_bytes = 4096;
  options.max_files = 10;
  write_samples(options, 40);
  auto files = log_files(dir.path());
  ASSERT_GE(files.size(), 3u);
  ASSERT_LE(files.size(), 10u);
  for (const auto& f : files) EXPECT_LE(fs::file_size(f), 4096u) << f;
  // Given newest first, as a shell glob sorts them or not: verify puts them in chain order.
  std::sort(files.begin(), files.end(), std::greater<>());
  auto report = verify(files);
  EXPECT_TRUE(report.intact()) << report.failure->to_string();
  EXPECT_EQ(report.records, 40u);
  EXPECT_EQ(report.first_seq, 1u);
  EXPECT_TRUE(report.notes.empty());
  // audit.log.1 holds the records just before audit.log's first.
  auto newest = parse_all(dir / "audit.log");
  auto previous = parse_all(dir / "audit.log.1");
  ASSERT_FALSE(newest.empty());
  ASSERT_FALSE(previous.empty());
  EXPECT_EQ(previous.back().seq + 1, newest.front().seq);
}

TEST(AuditLog, RotationDropsTheOldestFileAndVerifyNotesTheGap) {
  TempDir dir;
  auto options = file_options(dir / "audit.log");
  options.max_file_bytes = 4096;
  options.max_files = 3;
  write_samples(options, 60);
  auto files = log_files(dir.path());
  EXPECT_EQ(files.size(), 3u);
  EXPECT_FALSE(fs::exists(dir / "audit.log.3"));
  auto report = verify(files);
  EXPECT_TRUE(report.intact()) << report.failure->to_string();
  EXPECT_EQ(report.last_seq, 60u);
  EXPECT_GT(report.first_seq, 1u);
  ASSERT_EQ(report.notes.size(), 1u);
  EXPECT_NE(report.notes[0].to_string().find("the chain starts at seq " + std::to_string(report.first_seq) +
                                             ": earlier records were rotated away"),
            std::string::npos);
}

TEST(AuditLog, ReopenAfterACrashRightAfterRotationContinuesFromTheRotatedFile) {
  TempDir dir;
  auto options = file_options(dir / "audit.log");
  options.max_file_bytes = 8192;  // the 5 records after the crash fit in one file
  write_samples(options, 30);
  // Rotate by hand as the writer does, and leave the fresh active file empty, as a crash would.
  int files = 1;
  while (fs::exists(dir / ("audit.log." + std::to_string(files)))) ++files;
  for (int i = files - 1; i >= 1; --i) {
    fs::rename(dir / ("audit.log." + std::to_string(i)), dir / ("audit.log." + std::to_string(i + 1)));
  }
  fs::rename(dir / "audit.log", dir / "audit.log.1");
  testing::write_lines(dir / "audit.log", {});
  write_samples(options, 5, 30);
  auto records = parse_all(dir / "audit.log");
  ASSERT_EQ(records.size(), 5u);
  EXPECT_EQ(records.front().seq, 31u);
  auto report = verify(log_files(dir.path()));
  EXPECT_TRUE(report.intact()) << report.failure->to_string();
  EXPECT_EQ(report.records, 35u);
}

TEST(AuditLog, AnUnfinishedLastLineIsKeptAndTheChainContinuesInANewFile) {
  TempDir dir;
  write_samples(file_options(dir / "audit.log"), 10);
  auto lines = read_lines(dir / "audit.log");
  // A crash in the middle of writing record 11.
  std::string text = gitgate::testing::read_file(dir / "audit.log") + lines[3].substr(0, 40);
  gitgate::testing::write_file(dir / "audit.log", text);
  write_samples(file_options(dir / "audit.log"), 5, 10);

  EXPECT_EQ(gitgate::testing::read_file(dir / "audit.log.1"), text);  // kept as it was
  auto records = parse_all(dir / "audit.log");
  ASSERT_EQ(records.size(), 5u);
  EXPECT_EQ(records.front().seq, 11u);
  auto report = verify({(dir / "audit.log").string(), (dir / "audit.log.1").string()});
  EXPECT_TRUE(report.intact()) << report.failure->to_string();
  EXPECT_EQ(report.records, 15u);
  ASSERT_EQ(report.notes.size(), 1u);
  EXPECT_EQ(report.notes[0].file, (dir / "audit.log.1").string());
  EXPECT_EQ(report.notes[0].line, 11u);
  EXPECT_NE(report.notes[0].what.find("unfinished record (40 bytes, no newline)"), std::string::npos);
}

TEST(AuditLog, ACrashDuringTheFirstLineAfterRotationIsANoteNotTampering) {
  TempDir dir;
  auto options = file_options(dir / "audit.log");
  options.max_file_bytes = 8192;  // the 5 records after the crash fit in one file
  write_samples(options, 20);
  // Rotate by hand, then leave only part of a line in the fresh active file, as a crash would.
  int files = 1;
  while (fs::exists(dir / ("audit.log." + std::to_string(files)))) ++files;
  for (int i = files - 1; i >= 1; --i) {
    fs::rename(dir / ("audit.log." + std::to_string(i)), dir / ("audit.log." + std::to_string(i + 1)));
  }
  fs::rename(dir / "audit.log", dir / "audit.log.1");
  gitgate::testing::write_file(dir / "audit.log", R"({"seq":21,"time":"2026-11-2)");
  write_samples(options, 5, 20);

  EXPECT_EQ(gitgate::testing::read_file(dir / "audit.log.1"), R"({"seq":21,"time":"2026-11-2)");
  EXPECT_EQ(parse_all(dir / "audit.log").front().seq, 21u);
  auto report = verify(log_files(dir.path()));
  EXPECT_TRUE(report.intact()) << report.failure->to_string();
  EXPECT_EQ(report.records, 25u);
  ASSERT_EQ(report.notes.size(), 1u);
  EXPECT_EQ(
      report.notes[0].to_string(),
      (dir / "audit.log.1").string() +
          ":1: unfinished record (27 bytes, no newline) from an interrupted write; the writer continued the "
          "chain in the next file");
}

TEST(AuditLog, RefusesToContinueAfterALastLineThatIsNotARecord) {
  TempDir dir;
  gitgate::testing::write_file(dir / "audit.log", "hello\n");
  auto log = AuditLog::open(file_options(dir / "audit.log"));
  ASSERT_FALSE(log);
  EXPECT_NE(log.error().find("audit.log: the last line is not a gitgate audit record"), std::string::npos);
}

TEST(AuditLog, TenThousandConcurrentRecordsArriveOnceEachInSubmissionOrder) {
  TempDir dir;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 1250;
  auto log = AuditLog::open(file_options(dir / "audit.log"));
  ASSERT_TRUE(log) << log.error();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        Record r = sample_record(i);
        r.uid = std::to_string(t) + ":" + std::to_string(i);
        (*log)->submit(std::move(r));
      }
    });
  }
  for (auto& th : threads) th.join();
  (*log)->close();
  EXPECT_EQ((*log)->records_written(), 10000u);
  EXPECT_EQ((*log)->queue_depth(), 0u);
  EXPECT_EQ((*log)->write_errors(), 0u);

  auto records = parse_all(dir / "audit.log");
  ASSERT_EQ(records.size(), 10000u);
  std::map<int, int> next_of_thread;
  for (size_t i = 0; i < records.size(); ++i) {
    ASSERT_EQ(records[i].seq, i + 1);
    const auto& uid = records[i].record.uid;
    int thread = std::stoi(uid.substr(0, uid.find(':')));
    int index = std::stoi(uid.substr(uid.find(':') + 1));
    ASSERT_EQ(index, next_of_thread[thread])
        << "thread " << thread << " out of order at seq " << records[i].seq;
    ++next_of_thread[thread];
  }
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(next_of_thread[t], kPerThread);
  EXPECT_TRUE(verify({(dir / "audit.log").string()}).intact());
}

TEST(AuditLog, CloseDrainsEverythingQueuedPromptlyAndIsIdempotent) {
  TempDir dir;
  auto options = file_options(dir / "audit.log");
  options.flush_interval = std::chrono::seconds(30);  // close() must not wait for the next flush
  auto log = AuditLog::open(options);
  ASSERT_TRUE(log) << log.error();
  for (int i = 0; i < 5000; ++i) (*log)->submit(sample_record(i));
  auto start = std::chrono::steady_clock::now();
  (*log)->close();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ((*log)->records_written(), 5000u);
  EXPECT_EQ(read_lines(dir / "audit.log").size(), 5000u);
  (*log)->close();
  EXPECT_EQ((*log)->records_written(), 5000u);
}

TEST(AuditLog, EveryRecordIsWrittenOrCountedWhenCloseRacesProducers) {
  TempDir dir;
  auto options = file_options(dir / "audit.log");
  options.queue_capacity = 1;
  auto log = AuditLog::open(options);
  ASSERT_TRUE(log) << log.error();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 300; ++i) (*log)->submit(sample_record(i));
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  (*log)->close();
  for (auto& th : threads) th.join();
  const uint64_t written = (*log)->records_written();
  EXPECT_EQ(written + (*log)->write_errors(), 1200u);
  EXPECT_EQ(read_lines(dir / "audit.log").size(), written);
  EXPECT_TRUE(verify({(dir / "audit.log").string()}).intact());
}

TEST(AuditLog, ARecordSubmittedAfterCloseIsCountedAsAnError) {
  TempDir dir;
  auto log = AuditLog::open(file_options(dir / "audit.log"));
  ASSERT_TRUE(log) << log.error();
  (*log)->submit(sample_record(0));
  (*log)->close();
  (*log)->submit(sample_record(1));
  EXPECT_EQ((*log)->records_written(), 1u);
  EXPECT_EQ((*log)->write_errors(), 1u);
}

TEST(AuditLog, HmacChainVerifiesOnlyWithItsKey) {
  TempDir dir;
  gitgate::testing::write_file(dir / "key", "s3cr3t-audit-key-0123456789\n");
  auto options = file_options(dir / "audit.log");
  options.hmac_key_file = (dir / "key").string();
  write_samples(options, 12);
  write_samples(options, 3, 12);  // reopening with the key continues the HMAC chain
  const std::vector<std::string> files{(dir / "audit.log").string()};

  auto with_key = verify(files, "s3cr3t-audit-key-0123456789");
  EXPECT_TRUE(with_key.intact()) << with_key.failure->to_string();
  EXPECT_EQ(with_key.records, 15u);

  auto without_key = verify(files);
  ASSERT_FALSE(without_key.intact());
  EXPECT_EQ(without_key.failure->line, 1u);
  EXPECT_NE(without_key.failure->what.find("written with an HMAC key (verify with --hmac-key)"),
            std::string::npos);

  auto wrong_key = verify(files, "another-key");
  ASSERT_FALSE(wrong_key.intact());
  EXPECT_NE(wrong_key.failure->what.find("another HMAC key"), std::string::npos);
  EXPECT_EQ(gitgate::testing::read_file(dir / "audit.log").find("s3cr3t"), std::string::npos);
}

TEST(AuditLog, KeyFileProblemsNameTheFileNotTheKey) {
  TempDir dir;
  auto options = file_options(dir / "audit.log");
  options.hmac_key_file = (dir / "missing").string();
  auto missing = AuditLog::open(options);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().find("missing: cannot read the HMAC key file"), std::string::npos);

  gitgate::testing::write_file(dir / "big", std::string(5000, 'k'));
  options.hmac_key_file = (dir / "big").string();
  auto big = AuditLog::open(options);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().find("kkkk"), std::string::npos);
}

TEST(AuditLog, StdoutCarriesTheSameLinesAsTheFile) {
  TempDir dir;
  // Point fd 1 at a file for the duration of the log.
  int captured = ::open((dir / "stdout").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(captured, 0);
  std::fflush(stdout);
  int saved = ::dup(STDOUT_FILENO);
  ::dup2(captured, STDOUT_FILENO);
  auto options = file_options(dir / "audit.log");
  options.to_stdout = true;
  {
    auto log = AuditLog::open(options);
    if (log) {
      for (int i = 0; i < 30; ++i) (*log)->submit(sample_record(i));
      (*log)->close();
    }
  }
  ::dup2(saved, STDOUT_FILENO);
  ::close(saved);
  ::close(captured);
  auto file = gitgate::testing::read_file(dir / "audit.log");
  EXPECT_EQ(read_lines(dir / "audit.log").size(), 30u);
  EXPECT_EQ(gitgate::testing::read_file(dir / "stdout"), file);
}

TEST(AuditLog, StdoutAloneCountsRecordsWritten) {
  TempDir dir;
  int captured = ::open((dir / "stdout").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(captured, 0);
  std::fflush(stdout);
  int saved = ::dup(STDOUT_FILENO);
  ::dup2(captured, STDOUT_FILENO);
  uint64_t written = 0;
  {
    AuditLog::Options options;
    options.to_stdout = true;
    auto log = AuditLog::open(options);
    if (log) {
      for (int i = 0; i < 7; ++i) (*log)->submit(sample_record(i));
      (*log)->close();
      written = (*log)->records_written();
    }
  }
  ::dup2(saved, STDOUT_FILENO);
  ::close(saved);
  ::close(captured);
  EXPECT_EQ(written, 7u);
  EXPECT_EQ(read_lines(dir / "stdout").size(), 7u);
}

TEST(AuditLog, RejectsASecondWriterOnTheSameFile) {
  TempDir dir;
  auto first = AuditLog::open(file_options(dir / "audit.log"));
  ASSERT_TRUE(first) << first.error();
  auto second = AuditLog::open(file_options(dir / "audit.log"));
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().find("in use by another writer"), std::string::npos);
}

TEST(AuditLog, RejectsOptionsWithoutASinkOrWithBadLimits) {
  EXPECT_NE(AuditLog::open({}).error().find("no sink"), std::string::npos);
  TempDir dir;
  auto options = file_options(dir / "audit.log");
  options.max_files = 0;
  EXPECT_NE(AuditLog::open(options).error().find("--audit-max-files"), std::string::npos);
  options = file_options(dir / "missing-dir" / "audit.log");
  EXPECT_NE(AuditLog::open(options).error().find("missing-dir/audit.log: cannot open"), std::string::npos);
}

}  // namespace
}  // namespace gitgate::audit
