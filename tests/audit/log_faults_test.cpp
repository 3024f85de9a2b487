// The audit log when its sinks fail: answers wait for records (durability), a failing sink is an outage
// that never holds a caller up, what it could not take is written in order once it works again, past the
// backlog the gap is recorded, and stdout and the file fail independently. Faults are real: a file size
// limit (RLIMIT_FSIZE: EFBIG, as a full disk's ENOSPC), a pipe nobody reads, a deleted file or directory,
// an immutable file in the way of a rotation.
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
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
using namespace std::chrono_literals;
using Clock = AuditLog::Clock;
using gitgate::testing::TempDir;
using testing::read_lines;
using testing::sample_record;

AuditLog::Options fast_options(const fs::path& file) {
  AuditLog::Options o;
  o.file = file.string();
  o.flush_interval = 20ms;
  o.retry_interval = 20ms;
  o.close_timeout = 500ms;
  return o;
}

VerifyReport verify(const std::vector<std::string>& files) {
  auto hasher = ChainHasher::sha256();
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

std::vector<LoggedRecord> parse_lines(const std::vector<std::string>& lines) {
  RecordParser parser;
  std::vector<LoggedRecord> out;
  for (const auto& line : lines) {
    auto r = parser.parse(line);
    EXPECT_TRUE(r) << r.error() << ": " << line;
    if (r) out.push_back(*r);
  }
  return out;
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 10s) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

// The answers of submitted records, by uid, whether they came at once or through the callback.
class Answers {
 public:
  void submit(AuditLog& log, Record record, Clock::time_point deadline = Clock::now() + 10s) {
    std::string uid = record.uid;
    auto outcome =
        log.submit(std::move(record), deadline, [this, uid](RecordOutcome o) { add(uid, std::move(o)); });
    if (outcome) add(uid, std::move(*outcome), true);
  }
  bool wait_for(size_t count, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return got_.size() >= count; });
  }
  size_t size() {
    std::lock_guard lock(mu_);
    return got_.size();
  }
  RecordOutcome of(const std::string& uid) {
    std::lock_guard lock(mu_);
    return got_.at(uid);
  }
  size_t immediate() {
    std::lock_guard lock(mu_);
    return immediate_;
  }
  size_t refused() {
    std::lock_guard lock(mu_);
    return static_cast<size_t>(
        std::count_if(got_.begin(), got_.end(), [](const auto& entry) { return entry.second.refused; }));
  }
  // Called in the writer's callback: what the file holds at that moment.
  std::function<void(const std::string&)> on_answer;

 private:
  void add(const std::string& uid, RecordOutcome outcome, bool at_once = false) {
    if (on_answer) on_answer(uid);
    std::lock_guard lock(mu_);
    got_.emplace(uid, std::move(outcome));
    if (at_once) ++immediate_;
    cv_.notify_all();
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, RecordOutcome> got_;
  size_t immediate_ = 0;
};

// Files this process writes may not grow past `bytes` (writes fail with EFBIG, as on a full disk) until
// lift() or the end of the scope.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(uint64_t bytes) {
    ::signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &saved_);
    rlimit limit = saved_;
    limit.rlim_cur = bytes;
    EXPECT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
  }
  ~FileSizeLimit() { lift(); }
  void lift() { setrlimit(RLIMIT_FSIZE, &saved_); }

 private:
  rlimit saved_{};
};

// A pipe standing in for stdout; read only once start_reading() is called.
class Pipe {
 public:
  Pipe() {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    read_fd_ = fds[0];
    write_fd_ = fds[1];
  }
  ~Pipe() {
    close_write();
    start_reading();
    if (reader_.joinable()) reader_.join();
    ::close(read_fd_);
  }
  int write_fd() const { return write_fd_; }
  void start_reading() {
    if (reader_.joinable()) return;
    reader_ = std::thread([this] {
      char buf[65536];
      for (ssize_t n; (n = ::read(read_fd_, buf, sizeof buf)) > 0;) {
        std::lock_guard lock(mu_);
        data_.append(buf, static_cast<size_t>(n));
      }
    });
  }
  void close_write() {
    if (write_fd_ >= 0) ::close(write_fd_);
    write_fd_ = -1;
  }
  // Everything written, once the writer's end is closed.
  std::string finish() {
    close_write();
    start_reading();
    reader_.join();
    std::lock_guard lock(mu_);
    return data_;
  }

 private:
  int read_fd_ = -1;
  int write_fd_ = -1;
  std::thread reader_;
  std::mutex mu_;
  std::string data_;
};

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t begin = 0;
  for (size_t end; (end = text.find('\n', begin)) != std::string::npos; begin = end + 1)
    lines.push_back(text.substr(begin, end - begin));
  return lines;
}

TEST(AuditLogDurability, WrittenAnswersOnlyOnceTheRecordIsInTheFile) {
  Answers answers;  // outlives the log, whose writer calls it back
  TempDir dir;
  auto log = AuditLog::open(fast_options(dir / "audit.log"));
  ASSERT_TRUE(log) << log.error();
  std::atomic<int> missing{0};
  answers.on_answer = [&](const std::string& uid) {
    // The writer calls back after write(2): the line is in the file, whole.
    std::string text = gitgate::testing::read_file(dir / "audit.log");
    if (text.empty() || text.back() != '\n' || text.find("\"uid\":\"" + uid + "\"") == std::string::npos)
      ++missing;
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        Record r = sample_record(i);
        r.uid = std::to_string(t) + ":" + std::to_string(i);
        answers.submit(**log, std::move(r));
        if (i % 10 == 0) (*log)->wake();
      }
      (*log)->wake();
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(answers.wait_for(200));
  EXPECT_EQ(missing.load(), 0);
  EXPECT_EQ(answers.immediate(), 0u);
  EXPECT_EQ(answers.refused(), 0u);
  (*log)->close();
  EXPECT_EQ(read_lines(dir / "audit.log").size(), 200u);
}

TEST(AuditLogDurability, SyncedAnswersAfterTheRecordIsWrittenAndSynced) {
  Answers answers;  // outlives the log, whose writer calls it back
  TempDir dir;
  auto options = fast_options(dir / "audit.log");
  options.durability = Durability::Synced;
  auto log = AuditLog::open(options);
  ASSERT_TRUE(log) << log.error();
  for (int i = 0; i < 30; ++i) answers.submit(**log, sample_record(i));
  (*log)->wake();
  ASSERT_TRUE(answers.wait_for(30));
  EXPECT_EQ(answers.refused(), 0u);
  EXPECT_EQ(read_lines(dir / "audit.log").size(), 30u);
  (*log)->close();
}

TEST(AuditLogDurability, AsyncAnswersAtOnceUntilTheQueueIsFullThenWaits) {
  Answers answers;  // outlives the log, whose writer calls it back
  TempDir dir;
  Pipe out;  // stdout alone, and nobody reads it yet: the writer is held in its first write
  AuditLog::Options options;
  options.to_stdout = true;
  options.stdout_fd = out.write_fd();
  options.durability = Durability::Async;
  options.queue_capacity = 300;
  options.stall_after = 60s;
  auto log = AuditLog::open(options);
  ASSERT_TRUE(log) << log.error();
  for (int i = 0; i < 600; ++i) answers.submit(**log, sample_record(i));
  (*log)->wake();
  // The first 300 are answered at once; the pipe (64 KiB) holds fewer than that, so the writer is stuck
  // with the rest in the queue, and what comes beyond the capacity waits for it.
  std::this_thread::sleep_for(100ms);
  EXPECT_GE(answers.immediate(), 300u);
  EXPECT_LT(answers.size(), 600u);
  out.start_reading();
  ASSERT_TRUE(answers.wait_for(600));
  EXPECT_EQ(answers.refused(), 0u);
  (*log)->close();
  EXPECT_EQ(split_lines(out.finish()).size(), 600u);
}

TEST(AuditLogFaults, AFullDiskDeniesWaitingReviewsAndWritesThemInOrderWhenSpaceReturns) {
  Answers answers;  // outlives the log, whose writer calls it back
  TempDir dir;
  auto log = AuditLog::open(fast_options(dir / "audit.log"));
  ASSERT_TRUE(log) << log.error();
  for (int i = 0; i < 10; ++i) answers.submit(**log, sample_record(i));
  (*log)->wake();
  ASSERT_TRUE(answers.wait_for(10));
  std::string why;
  EXPECT_TRUE((*log)->available(why));

  FileSizeLimit full(fs::file_size(dir / "audit.log"));
  for (int i = 10; i < 40; ++i) answers.submit(**log, sample_record(i));
  (*log)->wake();
  ASSERT_TRUE(answers.wait_for(40));
  EXPECT_FALSE((*log)->available(why));
  EXPECT_NE(
      why.find("audit log unavailable: " + (dir / "audit.log").string() + ": write failed: File too large"),
      std::string::npos)
      << why;
  // Allowed and warned records became denials; denials stay as they were.
  for (int i = 10; i < 40; ++i) {
    auto outcome = answers.of("uid-" + std::to_string(i));
    EXPECT_EQ(outcome.refused, sample_record(i).decision != "deny") << i;
    if (outcome.refused) {
      EXPECT_NE(outcome.message.find("the audit log cannot record this decision"), std::string::npos);
      EXPECT_NE(outcome.message.find("File too large"), std::string::npos);
    }
  }
  // Answered at once, some of them: the writer files them a moment later.
  ASSERT_TRUE(wait_until([&] { return (*log)->stats().sinks[0].backlog == 30; }));
  auto stats = (*log)->stats();
  EXPECT_EQ(stats.refused, 20u);
  EXPECT_EQ(stats.outages, 1u);
  ASSERT_EQ(stats.sinks.size(), 1u);
  EXPECT_FALSE(stats.sinks[0].up);
  EXPECT_EQ(read_lines(dir / "audit.log").size(), 10u);

  full.lift();
  ASSERT_TRUE(wait_until([&] { return (*log)->available(why); }));
  (*log)->close();
  auto records = parse_lines(read_lines(dir / "audit.log"));
  ASSERT_EQ(records.size(), 40u);
  for (int i = 0; i < 40; ++i) {
    EXPECT_EQ(records[i].seq, static_cast<uint64_t>(i + 1));
    EXPECT_EQ(records[i].record.uid, "uid-" + std::to_string(i));
    const bool refused = i >= 10 && sample_record(i).decision != "deny";
    EXPECT_EQ(records[i].record.decision, refused ? "deny" : sample_record(i).decision) << i;
    if (refused) {
      EXPECT_EQ(records[i].record.reason, "audit-unavailable");
    }
  }
  auto report = verify({(dir / "audit.log").string()});
  EXPECT_TRUE(report.intact()) << report.failure->to_string();
  EXPECT_TRUE(report.notes.empty());
  EXPECT_EQ((*log)->stats().sinks[0].lost, 0u);
}

TEST(AuditLogFaults, OnFailureAllowAnswersAsDecidedAndCountsWhatWaits) {
  Answers answers;  // outlives the log, whose writer calls it back
  TempDir dir;
  auto options = fast_options(dir / "audit.log");
  options.on_failure = OnFailure::Allow;
  auto log = AuditLog::open(options);
  ASSERT_TRUE(log) << log.error();
  answers.submit(**log, sample_record(0));
  (*log)->wake();
  ASSERT_TRUE(answers.wait_for(1));
  FileSizeLimit full(fs::file_size(dir / "audit.log"));
  for (int i = 1; i < 21; ++i) answers.submit(**log, sample_record(i));
  (*log)->wake();
  ASSERT_TRUE(answers.wait_for(21));
  EXPECT_EQ(answers.refused(), 0u);
  std::string why;
  EXPECT_FALSE((*log)->available(why));
  EXPECT_TRUE(wait_until([&] { return (*log)->stats().sinks[0].unwritten == 20; }));
  full.lift();
  ASSERT_TRUE(wait_until([&] { return (*log)->available(why); }));
  (*log)->close();
  auto records = parse_lines(read_lines(dir / "audit.log"));
  ASSERT_EQ(records.size(), 21u);
  for (int i = 0; i < 21; ++i) EXPECT_EQ(records[i].record.decision, sample_record(i).decision);
  EXPECT_TRUE(verify({(dir / "audit.log").string()}).intact());
}

TEST(AuditLogFaults, PastTheBacklogRecordsAreLostAndAGapRecordSaysWhich) {
  TempDir dir;
  auto options = fast_options(dir / "audit.log");
  options.backlog_capacity = 5;
  auto log = AuditLog::open(options);
  ASSERT_TRUE(log) << log.error();
  for (int i = 0; i < 10; ++i) (*log)->submit(sample_record(i));
  ASSERT_TRUE(wait_until([&] { return (*log)->records_written() == 10; }));
  FileSizeLimit full(fs::file_size(dir / "audit.log"));
  for (int i = 10; i < 30; ++i) (*log)->submit(sample_record(i));
  ASSERT_TRUE(wait_until([&] { return (*log)->stats().sinks[0].lost == 15; }));
  full.lift();
  std::string why;
  ASSERT_TRUE(wait_until([&] { return (*log)->available(why); }));
  (*log)->submit(sample_record(30));
  (*log)->close();

  auto records = parse_lines(read_lines(dir / "audit.log"));
  ASSERT_EQ(records.size(), 17u);  // 10, the 5 kept, the gap record, one more
  EXPECT_EQ(records[14].seq, 15u);
  ASSERT_TRUE(records[15].gap.has_value());
  EXPECT_EQ(records[15].seq, 31u);
  EXPECT_EQ(records[15].gap->sink, "file");
  EXPECT_EQ(records[15].gap->first, 16u);
  EXPECT_EQ(records[15].gap->last, 30u);
  EXPECT_NE(records[15].gap->cause.find("File too large"), std::string::npos);
  EXPECT_EQ(records[16].seq, 32u);
  EXPECT_EQ(records[16].record.uid, "uid-30");
  auto report = verify({(dir / "audit.log").string()});
  ASSERT_TRUE(report.intact()) << report.failure->to_string();
  EXPECT_EQ(report.last_seq, 32u);
  ASSERT_EQ(report.notes.size(), 1u);
  EXPECT_NE(
      report.notes[0].to_string().find(":16: record seq 31: gap record: records seq 16..30 are missing here: "
                                       "the file sink could not write them ("),
      std::string::npos)
      << report.notes[0].to_string();
}

TEST(AuditLogFaults, ALineCutByAFullDiskIsTakenBackSoTheFileEndsWithAWholeRecord) {
  TempDir dir;
  auto log = AuditLog::open(fast_options(dir / "audit.log"));
  ASSERT_TRUE(log) << log.error();
  (*log)->submit(sample_record(0));
  ASSERT_TRUE(wait_until([&] { return (*log)->records_written() == 1; }));
  const auto size = fs::file_size(dir / "audit.log");
  FileSizeLimit full(size + 100);  // room for a part of the next line only
  (*log)->submit(sample_record(1));
  std::string why;
  ASSERT_TRUE(wait_until([&] { return !(*log)->available(why); }));
  EXPECT_EQ(fs::file_size(dir / "audit.log"), size);
  full.lift();
  ASSERT_TRUE(wait_until([&] { return (*log)->available(why); }));
  (*log)->close();
  auto report = verify({(dir / "audit.log").string()});
  EXPECT_TRUE(report.intact()) << report.failure->to_string();
  EXPECT_TRUE(report.notes.empty());
  EXPECT_EQ(report.records, 2u);
}

TEST(AuditLogFaults, StdoutKeepsTheStreamWhileTheFileFails) {
  Answers answers;  // outlives the log, whose writer calls it back
  TempDir dir;
  Pipe out;
  out.start_reading();
  auto options = fast_options(dir / "audit.log");
  options.to_stdout = true;
  options.stdout_fd = out.write_fd();
  options.on_failure = OnFailure::Allow;
  auto log = AuditLog::open(options);
  ASSERT_TRUE(log) << log.error();
  for (int i = 0; i < 5; ++i) (*log)->submit(sample_record(i));
  ASSERT_TRUE(wait_until([&] { return (*log)->records_written() == 5; }));
  FileSizeLimit full(fs::file_size(dir / "audit.log"));
  for (int i = 5; i < 25; ++i) answers.submit(**log, sample_record(i));
  (*log)->wake();
  ASSERT_TRUE(answers.wait_for(20));
  auto stats = (*log)->stats();
  ASSERT_EQ(stats.sinks.size(), 2u);
  EXPECT_FALSE(stats.sinks[0].up);
  EXPECT_EQ(stats.sinks[1].name, "stdout");
  EXPECT_TRUE(stats.sinks[1].up);
  full.lift();
  std::string why;
  ASSERT_TRUE(wait_until([&] { return (*log)->available(why); }));
  (*log)->close();
  auto streamed = split_lines(out.finish());
  EXPECT_EQ(streamed.size(), 25u);
  EXPECT_EQ(read_lines(dir / "audit.log"), streamed);  // the same bytes, in the same order
}

TEST(AuditLogFaults, AStdoutNobodyReadsDoesNotHoldUpTheFileAndItsLossIsRecorded) {
  Answers answers;  // outlives the log, whose writer calls it back
  TempDir dir;
  Pipe out;  // not read until the end
  auto options = fast_options(dir / "audit.log");
  options.to_stdout = true;
  options.stdout_fd = out.write_fd();
  options.backlog_capacity = 50;
  auto log = AuditLog::open(options);
  ASSERT_TRUE(log) << log.error();
  for (int i = 0; i < 400; ++i) answers.submit(**log, sample_record(i));
  (*log)->wake();
  ASSERT_TRUE(answers.wait_for(400, 5s));
  EXPECT_EQ(answers.refused(), 0u);
  auto stats = (*log)->stats();
  EXPECT_EQ(stats.records_written, 400u);
  EXPECT_GT(stats.sinks[1].lost, 0u);
  out.start_reading();
  ASSERT_TRUE(wait_until([&] { return (*log)->records_written() == 401; }));  // the gap record
  (*log)->close();

  auto report = verify({(dir / "audit.log").string()});
  ASSERT_TRUE(report.intact()) << report.failure->to_string();
  ASSERT_EQ(report.notes.size(), 1u);
  EXPECT_NE(report.notes[0].what.find("gap record: records seq "), std::string::npos) << report.notes[0].what;
  EXPECT_NE(report.notes[0].what.find(" here: the stdout sink could not write them"), std::string::npos);
  // The stream misses the lines it lost, and its copy of the gap record explains the jump.
  auto streamed = split_lines(out.finish());
  testing::write_lines(dir / "stdout.log", streamed);
  auto stream_report = verify({(dir / "stdout.log").string()});
  ASSERT_TRUE(stream_report.intact()) << stream_report.failure->to_string();
  EXPECT_EQ(stream_report.last_seq, 401u);
  EXPECT_EQ(streamed.size() + stats.sinks[1].lost, 401u);
  ASSERT_EQ(stream_report.notes.size(), 1u);
  EXPECT_NE(stream_report.notes[0].what.find(" missing here: the stdout sink"), std::string::npos);
}

TEST(AuditLogFaults, AFileDeletedWhileIdleIsNoticedAndTheChainContinuesInANewOne) {
  TempDir dir;
  auto log = AuditLog::open(fast_options(dir / "audit.log"));
  ASSERT_TRUE(log) << log.error();
  for (int i = 0; i < 5; ++i) (*log)->submit(sample_record(i));
  ASSERT_TRUE(wait_until([&] { return (*log)->records_written() == 5; }));
  fs::rename(dir / "audit.log", dir / "kept.log");  // moved away: the writer must not keep writing there
  ASSERT_TRUE(wait_until([&] { return fs::exists(dir / "audit.log"); }));
  for (int i = 5; i < 10; ++i) (*log)->submit(sample_record(i));
  (*log)->close();
  EXPECT_EQ(read_lines(dir / "kept.log").size(), 5u);
  auto report = verify({(dir / "kept.log").string(), (dir / "audit.log").string()});
  EXPECT_TRUE(report.intact()) << report.failure->to_string();
  EXPECT_EQ(report.records, 10u);
  EXPECT_EQ((*log)->write_errors(), 0u);
}

TEST(AuditLogFaults, ADeletedDirectoryIsAnOutageUntilItIsBack) {
  Answers answers;  // outlives the log, whose writer calls it back
  TempDir dir;
  fs::create_directories(dir / "audit");
  auto log = AuditLog::open(fast_options(dir / "audit" / "audit.log"));
  ASSERT_TRUE(log) << log.error();
  for (int i = 0; i < 5; ++i) (*log)->submit(sample_record(i));
  ASSERT_TRUE(wait_until([&] { return (*log)->records_written() == 5; }));
  fs::remove_all(dir / "audit");
  std::string why;
  ASSERT_TRUE(wait_until([&] { return !(*log)->available(why); }, 2s));
  EXPECT_NE(why.find("cannot open the audit log: No such file or directory"), std::string::npos) << why;
  for (int i = 5; i < 15; ++i) answers.submit(**log, sample_record(i));
  ASSERT_TRUE(answers.wait_for(10));
  EXPECT_EQ(answers.immediate(), 10u);
  fs::create_directories(dir / "audit");
  ASSERT_TRUE(wait_until([&] { return (*log)->available(why); }));
  (*log)->close();
  auto records = parse_lines(read_lines(dir / "audit" / "audit.log"));
  ASSERT_EQ(records.size(), 10u);
  EXPECT_EQ(records.front().seq, 6u);
  auto report = verify({(dir / "audit" / "audit.log").string()});
  EXPECT_TRUE(report.intact()) << report.failure->to_string();
}

// FS_IMMUTABLE_FL on a file: not even root may rename it. Cleared on destruction.
class Immutable {
 public:
  explicit Immutable(const fs::path& path) : path_(path) { ok_ = set(true); }
  ~Immutable() { release(); }
  bool ok() const { return ok_; }
  void release() {
    if (ok_) set(false);
    ok_ = false;
  }

 private:
  bool set(bool on) {
    int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    int flags = 0;
    bool done = ::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
    flags = on ? flags | FS_IMMUTABLE_FL : flags & ~FS_IMMUTABLE_FL;
    done = done && ::ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
    ::close(fd);
    return done;
  }
  fs::path path_;
  bool ok_ = false;
};

TEST(AuditLogFaults, ARotationThatFailsHalfWayResumesWhereItStopped) {
  TempDir dir;
  auto options = fast_options(dir / "audit.log");
  options.max_file_bytes = 4096;
  options.max_files = 10;
  auto log = AuditLog::open(options);
  ASSERT_TRUE(log) << log.error();
  int next = 0;
  // Three files: audit.log, .1, .2.
  while (!fs::exists(dir / "audit.log.2")) {
    (*log)->submit(sample_record(next++));
    ASSERT_TRUE(wait_until([&] { return (*log)->records_written() == static_cast<uint64_t>(next); }));
  }
  Immutable stuck(dir / "audit.log.1");
  if (!stuck.ok())
    GTEST_SKIP() << "cannot make a file immutable here (needs CAP_LINUX_IMMUTABLE and ext4/xfs)";
  // The next rotation moves .2 to .3, then fails to move .1: half-way.
  std::string why;
  while ((*log)->available(why)) {
    (*log)->submit(sample_record(next++));
    std::this_thread::sleep_for(2ms);
    ASSERT_LT(next, 200);
  }
  EXPECT_NE(why.find("audit.log.1: rotation failed: Operation not permitted"), std::string::npos) << why;
  EXPECT_TRUE(fs::exists(dir / "audit.log.3"));
  EXPECT_FALSE(fs::exists(dir / "audit.log.2"));
  for (int i = 0; i < 5; ++i) (*log)->submit(sample_record(next++));
  stuck.release();
  ASSERT_TRUE(wait_until([&] { return (*log)->available(why); }));
  (*log)->close();
  // Had the rotation started over, .3 would have moved again and a slot would be empty.
  for (int i = 1; i <= 3; ++i) EXPECT_TRUE(fs::exists(dir / ("audit.log." + std::to_string(i)))) << i;
  auto report = verify(log_files(dir.path()));
  ASSERT_TRUE(report.intact()) << report.failure->to_string();
  EXPECT_EQ(report.records, static_cast<uint64_t>(next));
  EXPECT_EQ(report.first_seq, 1u);
}

TEST(AuditLogFaults, AWriteThatDoesNotReturnIsAnOutageAfterStallAfter) {
  Answers answers;  // outlives the log, whose writer calls it back
  Pipe out;         // stdout alone, not read: the writer waits in its write
  AuditLog::Options options;
  options.to_stdout = true;
  options.stdout_fd = out.write_fd();
  options.stall_after = 200ms;
  auto log = AuditLog::open(options);
  ASSERT_TRUE(log) << log.error();
  for (int i = 0; i < 300; ++i) answers.submit(**log, sample_record(i));
  (*log)->wake();
  std::string why;
  ASSERT_TRUE(wait_until([&] { return !(*log)->available(why); }, 5s));
  EXPECT_NE(why.find("stdout: a write has not returned for "), std::string::npos) << why;
  // New reviews are answered at once (denied) instead of waiting behind the stuck write.
  const size_t before = answers.size();
  Record waiting = sample_record(1000);
  waiting.decision = "allow";
  answers.submit(**log, std::move(waiting));
  EXPECT_EQ(answers.size(), before + 1);
  EXPECT_TRUE(answers.of("uid-1000").refused);
  out.start_reading();
  ASSERT_TRUE(answers.wait_for(301));
  ASSERT_TRUE(wait_until([&] { return (*log)->available(why); }));
  (*log)->close();
  auto records = parse_lines(split_lines(out.finish()));
  ASSERT_EQ(records.size(), 301u);
  EXPECT_EQ(records.back().record.uid, "uid-1000");
  EXPECT_EQ(records.back().record.reason, "audit-unavailable");
}

TEST(AuditLogFaults, ARecordStillQueuedAtItsDeadlineBecomesADenial) {
  Answers answers;  // outlives the log, whose writer calls it back
  Pipe out;
  AuditLog::Options options;
  options.to_stdout = true;
  options.stdout_fd = out.write_fd();
  options.stall_after = 60s;
  auto log = AuditLog::open(options);
  ASSERT_TRUE(log) << log.error();
  for (int i = 0; i < 300; ++i) (*log)->submit(sample_record(i));  // fills the pipe: the writer waits
  std::this_thread::sleep_for(50ms);
  Record late = sample_record(300);
  late.uid = "late";
  late.decision = "allow";
  answers.submit(**log, std::move(late), Clock::now() + 50ms);
  (*log)->wake();
  std::this_thread::sleep_for(100ms);
  out.start_reading();
  ASSERT_TRUE(answers.wait_for(1));
  EXPECT_TRUE(answers.of("late").refused);
  EXPECT_NE(answers.of("late").message.find("did not take it before the review's deadline"),
            std::string::npos);
  (*log)->close();
  auto records = parse_lines(split_lines(out.finish()));
  ASSERT_EQ(records.size(), 301u);
  EXPECT_EQ(records.back().record.decision, "deny");
  EXPECT_EQ(records.back().record.message, answers.of("late").message);
}

TEST(AuditLogFaults, CloseGivesUpOnAFailingFileInTimeAndHandsItsRecordsToStderr) {
  TempDir dir;
  Pipe err;
  err.start_reading();
  auto log = AuditLog::open(fast_options(dir / "audit.log"));
  ASSERT_TRUE(log) << log.error();
  (*log)->submit(sample_record(0));
  ASSERT_TRUE(wait_until([&] { return (*log)->records_written() == 1; }));
  FileSizeLimit full(fs::file_size(dir / "audit.log"));
  for (int i = 1; i < 4; ++i) (*log)->submit(sample_record(i));
  std::string why;
  ASSERT_TRUE(wait_until([&] { return !(*log)->available(why); }));
  std::fflush(stderr);
  int saved = ::dup(STDERR_FILENO);
  ::dup2(err.write_fd(), STDERR_FILENO);
  auto start = Clock::now();
  (*log)->close();
  auto took = Clock::now() - start;
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  EXPECT_LT(took, 3s);
  std::string text = err.finish();
  EXPECT_NE(text.find("shutting down with 3 records"), std::string::npos) << text;
  for (int i = 1; i < 4; ++i)
    EXPECT_NE(text.find("\"uid\":\"uid-" + std::to_string(i) + "\""), std::string::npos);
  EXPECT_EQ((*log)->stats().sinks[0].lost, 3u);
}

}  // namespace
}  // namespace gitgate::audit
