// Audit sink faults under load against the real `gitgate serve` (default --audit-durability=written,
// --audit-on-failure=deny): a full disk, the backlog overflowing, SIGKILL, a file system that turns
// read-only, the directory deleted, a rotation failing half-way, SIGTERM during an outage. A client sends
// reviews with unique uids and notes every answer; afterwards every answered decision must be in the log as
// it was answered, the chain must verify, and no answer may come later than the review's timeout.
//
// Mounts happen in a private mount namespace (root); a full disk falls back to a file size limit on the
// server (EFBIG) where mounting is not allowed, the others are skipped. Each test prints its row of the
// fault table. Under sanitizers (FAULTS_RESOURCE_BOUNDS=0) the time bounds are printed, not asserted.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "audit/query.h"
#include "tests/faults/fault_support.h"

namespace gitgate::faults {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// One line of `faultkit load -answers`.
struct Answer {
  std::string uid;
  bool allowed = false;
  std::string reason;
  std::string message;
};

std::vector<Answer> read_answers(const std::string& path) {
  std::vector<Answer> out;
  std::istringstream in(testing::read_file(path));
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> fields;
    std::istringstream parts(line);
    for (std::string field; std::getline(parts, field, '\t');) fields.push_back(field);
    fields.resize(4);
    out.push_back({fields[0], fields[1] == "true", fields[2], fields[3]});
  }
  return out;
}

std::vector<std::string> audit_files(const fs::path& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().filename().string().starts_with("audit.log")) files.push_back(entry.path().string());
  }
  return files;
}

// What the log says against what the client was told.
struct Reconciled {
  size_t answered = 0;
  size_t records = 0;                  // decisions in the log (gap records not counted)
  size_t missing = 0;                  // answered, not in the log
  size_t mismatched = 0;               // in the log with another decision than answered
  size_t refused = 0;                  // answered with the audit-unavailable denial
  size_t refusals_without_reason = 0;  // of those, messages that do not say the audit log is why
  std::string example;
};

Reconciled reconcile(const std::vector<Answer>& answers, const std::vector<std::string>& files) {
  Reconciled r;
  std::map<std::string, std::pair<std::string, std::string>> logged;  // uid -> decision, reason
  std::vector<audit::ReadProblem> problems;
  Status read = audit::read_records(
      files,
      [&](const audit::LoggedRecord& record, std::string_view) {
        ++r.records;
        logged[record.record.uid] = {record.record.decision, record.record.reason};
      },
      problems);
  EXPECT_TRUE(read) << read.error();
  r.answered = answers.size();
  for (const auto& a : answers) {
    if (a.reason == "audit-unavailable") {
      ++r.refused;
      if (a.message.find("the audit log cannot record this decision") == std::string::npos)
        ++r.refusals_without_reason;
    }
    auto it = logged.find(a.uid);
    if (it == logged.end()) {
      ++r.missing;
      if (r.example.empty()) r.example = "not in the log: " + a.uid;
      continue;
    }
    const bool logged_allowed = it->second.first != "deny";
    if (logged_allowed != a.allowed || it->second.second != a.reason) {
      ++r.mismatched;
      if (r.example.empty()) r.example = a.uid + " answered " + a.reason + ", logged " + it->second.second;
    }
  }
  return r;
}

// `gitgate audit verify` over `files`: exit code and output.
testing::CommandResult verify(const std::vector<std::string>& files) {
  std::vector<std::string> argv{testing::gitgate_binary(), "audit", "verify"};
  argv.insert(argv.end(), files.begin(), files.end());
  return testing::run_command(argv, 60s);
}

std::string ms(const std::optional<std::chrono::milliseconds>& d) {
  return d ? std::to_string(d->count()) + " ms" : "never";
}

void print_row(const std::string& fault, const std::string& summary, const Reconciled& r,
               const std::string& unready, const std::string& recovered) {
  const auto answered = static_cast<long>(summary_number(summary, "answered"));
  const auto late = static_cast<long>(summary_number(summary, "late"));
  std::cout << "| " << fault << " | " << static_cast<long>(summary_number(summary, "sent")) << " | "
            << answered - late << " of " << answered << " | " << r.records
            << (r.records == r.answered ? " == " : " vs ") << r.answered << " (" << r.refused
            << " denied for the outage) | " << unready << " | " << recovered << " |\n";
}

// Writes zeros into `path` until the file system is full; returns the bytes written.
uint64_t fill(const fs::path& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  EXPECT_GE(fd, 0) << path;
  std::string zeros(64 * 1024, '\0');
  uint64_t total = 0;
  for (ssize_t n; (n = ::write(fd, zeros.data(), zeros.size())) > 0;) total += static_cast<uint64_t>(n);
  ::close(fd);
  return total;
}

// A disk that fills up and frees again: a 16 MiB tmpfs filled with a ballast file, or, where mounting is
// not allowed, a file size limit on the server process (its writes fail with EFBIG instead of ENOSPC).
class FullDisk {
 public:
  explicit FullDisk(const fs::path& dir) : dir_(dir) {
    std::string why;
    if (private_mount_namespace(why)) mount_ = Mount::tmpfs(dir, "size=16m", why);
    if (!mount_) {
      fs::create_directories(dir);
      std::cout << "no tmpfs (" << why << "): a file size limit on the server stands in for a full disk\n";
    }
  }
  void fill_up(pid_t server) {
    if (mount_) {
      fill(dir_ / "ballast");
      return;
    }
    rlimit limit{static_cast<rlim_t>(fs::file_size(dir_ / "audit.log")), RLIM_INFINITY};
    ASSERT_EQ(::prlimit(server, RLIMIT_FSIZE, &limit, nullptr), 0);
  }
  void free_up(pid_t server) {
    if (mount_) {
      fs::remove(dir_ / "ballast");
      return;
    }
    rlimit limit{RLIM_INFINITY, RLIM_INFINITY};
    ASSERT_EQ(::prlimit(server, RLIMIT_FSIZE, &limit, nullptr), 0);
  }
  std::string error() const { return mount_ ? "No space left on device" : "File too large"; }
  // A file size limit holds for every file the server writes, its stdout too; a full tmpfs only for the file.
  bool stdout_unaffected() const { return mount_ != nullptr; }
  std::string name() const { return mount_ ? "disk full (16 MiB tmpfs)" : "disk full (file size limit)"; }

 private:
  fs::path dir_;
  std::unique_ptr<Mount> mount_;
};

class AuditFault : public ::testing::Test {
 protected:
  GateServer::Options options(std::vector<std::string> extra = {}) {
    auto o = world.server_options(policies);
    o.extra_args = {"--audit-file", (audit_dir / "audit.log").string()};
    o.extra_args.insert(o.extra_args.end(), extra.begin(), extra.end());
    return o;
  }

  // 500 reviews/s, unique uids, half of them allowed by policy; the API server's 2 s timeout.
  std::unique_ptr<Faultkit> start_load(GateServer& server, int concurrency = 16, int rate = 500) {
    auto load = std::make_unique<Faultkit>(std::vector<std::string>{
        "load", "-backends", server.address(), "-ca", world.certs.ca, "-bodies",
        world.body_file("flux-apply-web") + "," + world.body_file("edit-web-replicas"), "-concurrency",
        std::to_string(concurrency), "-rate", std::to_string(rate), "-path", "/validate?timeout=2s",
        "-deadline", "2s", "-answers", answers_file});
    EXPECT_TRUE(load->wait_running()) << load->err();
    return load;
  }

  // The checks every fault shares, on the files holding the log (and the load's summary).
  void expect_every_answer_recorded(const std::string& summary, const Reconciled& r, bool expect_refusals) {
    ASSERT_FALSE(summary.empty());
    EXPECT_GT(summary_number(summary, "answered"), 200) << summary;
    EXPECT_EQ(summary_number(summary, "failed"), 0) << summary;
    if (resource_bounds()) {
      EXPECT_EQ(summary_number(summary, "late"), 0) << summary;
    }
    EXPECT_EQ(r.missing, 0u) << r.example;
    EXPECT_EQ(r.mismatched, 0u) << r.example;
    EXPECT_EQ(r.records, r.answered);
    if (expect_refusals) {
      EXPECT_GT(r.refused, 0u);
    }
    EXPECT_EQ(r.refusals_without_reason, 0u);
  }

  FaultWorld world;
  std::string policies = world.fleet.write_policy(world.fleet.file_url());
  fs::path audit_dir = world.dir / "audit";
  std::string answers_file = (world.dir / "answers.tsv").string();
};

TEST_F(AuditFault, DiskFullUnderLoadDeniesInTimeAndWritesEverythingOnceSpaceReturns) {
  FullDisk disk(audit_dir);
  GateServer server(options({"--audit-stdout"}));
  server.start();
  ASSERT_TRUE(server.wait_ready()) << server.log();
  auto load = start_load(server);
  std::this_thread::sleep_for(1s);

  disk.fill_up(server.pid());
  auto unready = wait_readyz(server.metrics_port(), 503, 10s);
  ASSERT_TRUE(unready.has_value()) << server.log();
  if (resource_bounds()) {
    EXPECT_LT(unready->count(), 1000);
  }
  std::string why = admin_get(server.metrics_port(), "/readyz").body;
  EXPECT_NE(why.find("audit log unavailable: " + (audit_dir / "audit.log").string() +
                     ": write failed: " + disk.error()),
            std::string::npos)
      << why;
  std::this_thread::sleep_for(2s);
  std::string metrics = admin_get(server.metrics_port(), "/metrics").body;
  EXPECT_EQ(metric_value(metrics, "gitgate_audit_sink_up{sink=\"file\"}"), 0) << metrics;
  EXPECT_GT(metric_value(metrics, "gitgate_audit_refused_total"), 0) << metrics;
  EXPECT_GT(metric_value(metrics, "gitgate_audit_backlog_records{sink=\"file\"}"), 0) << metrics;
  EXPECT_GE(metric_value(metrics, "gitgate_audit_outage_seconds"), 2) << metrics;

  disk.free_up(server.pid());
  auto ready = wait_readyz(server.metrics_port(), 200, 10s);
  ASSERT_TRUE(ready.has_value()) << server.log();
  std::this_thread::sleep_for(1s);
  std::string summary = load->finish();
  EXPECT_EQ(server.terminate(), 0) << server.log();
  metrics = admin_get(server.metrics_port(), "/metrics").body;

  auto files = audit_files(audit_dir);
  auto verified = verify(files);
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  auto answers = read_answers(answers_file);
  auto r = reconcile(answers, files);
  print_row(disk.name(), summary, r, ms(unready), ms(ready) + " after space returned");
  std::cout << "load: " << summary << "\nverify: " << verified.out;
  expect_every_answer_recorded(summary, r, true);
  if (disk.stdout_unaffected()) {
    // The stream went on while the disk was full: every record, as the file has them once written.
    testing::write_file(world.dir / "stdout.log", server.stdout_text());
    auto streamed = reconcile(answers, {(world.dir / "stdout.log").string()});
    EXPECT_EQ(streamed.records, r.records);
    EXPECT_EQ(streamed.missing, 0u) << streamed.example;
    EXPECT_EQ(verify({(world.dir / "stdout.log").string()}).exit_code, 0);
  }
}

TEST_F(AuditFault, PastTheBacklogLostRecordsAreCountedAndTheGapIsRecorded) {
  FullDisk disk(audit_dir);
  GateServer server(options({"--audit-backlog", "100"}));
  server.start();
  ASSERT_TRUE(server.wait_ready()) << server.log();
  auto load = start_load(server);
  std::this_thread::sleep_for(1s);
  disk.fill_up(server.pid());
  auto unready = wait_readyz(server.metrics_port(), 503, 10s);
  ASSERT_TRUE(unready.has_value()) << server.log();
  std::this_thread::sleep_for(2s);
  disk.free_up(server.pid());
  auto ready = wait_readyz(server.metrics_port(), 200, 10s);
  ASSERT_TRUE(ready.has_value()) << server.log();
  std::this_thread::sleep_for(1s);
  std::string summary = load->finish();
  std::string metrics = admin_get(server.metrics_port(), "/metrics").body;
  EXPECT_EQ(server.terminate(), 0) << server.log();

  const double lost = metric_value(metrics, "gitgate_audit_lost_records_total{sink=\"file\"}");
  EXPECT_GT(lost, 0) << metrics;
  auto files = audit_files(audit_dir);
  auto verified = verify(files);
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  EXPECT_NE(verified.out.find("gap record: records seq "), std::string::npos) << verified.out;
  EXPECT_NE(verified.out.find(" are missing here: the file sink could not write them (" +
                              (audit_dir / "audit.log").string() + ": write failed: " + disk.error()),
            std::string::npos)
      << verified.out;
  auto r = reconcile(read_answers(answers_file), files);
  print_row(disk.name() + ", --audit-backlog 100", summary, r, ms(unready),
            ms(ready) + " after space returned");
  std::cout << "lost (counted): " << lost << "\nverify: " << verified.out;
  EXPECT_EQ(summary_number(summary, "failed"), 0) << summary;
  if (resource_bounds()) {
    EXPECT_EQ(summary_number(summary, "late"), 0) << summary;
  }
  EXPECT_EQ(r.mismatched, 0u) << r.example;
  // What is missing is exactly what was counted as lost, and the gap record names.
  EXPECT_EQ(static_cast<double>(r.missing), lost);
  EXPECT_EQ(static_cast<double>(r.records) + lost, static_cast<double>(r.answered));
}

TEST_F(AuditFault, SigkillInTheMiddleOfALoadLosesNoAnsweredDecision) {
  fs::create_directories(audit_dir);
  GateServer server(options());
  server.start();
  ASSERT_TRUE(server.wait_ready()) << server.log();
  auto load = start_load(server, 32, 0);  // as fast as it answers
  std::this_thread::sleep_for(1500ms);
  ::kill(server.pid(), SIGKILL);
  auto killed_at = Clock::now();
  while (server.running() && Clock::now() - killed_at < 10s) std::this_thread::sleep_for(5ms);
  std::string summary = load->finish();

  auto files = audit_files(audit_dir);
  auto verified = verify(files);
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  auto r = reconcile(read_answers(answers_file), files);
  print_row("SIGKILL mid-load (written)", summary, r, "-", "-");
  std::cout << "verify: " << verified.out;
  EXPECT_GT(r.answered, 200u);
  EXPECT_EQ(r.missing, 0u) << r.example;
  EXPECT_EQ(r.mismatched, 0u) << r.example;
  // Records of decisions the client never heard of (written, then killed before the answer) may be there.
  EXPECT_GE(r.records, r.answered);
}

TEST_F(AuditFault, AFileSystemThatTurnsReadOnlyIsAnOutageUntilAFreshVolumeIsMounted) {
  std::string why;
  if (!private_mount_namespace(why)) GTEST_SKIP() << why;
  auto ext4 = Mount::ext4_image(world.dir / "audit.img", audit_dir, 32, "errors=remount-ro", why);
  if (!ext4) GTEST_SKIP() << "no ext4 on a loop device here: " << why;
  // A second view of the same file system, for reading what was written to it once another volume is
  // mounted over the first.
  fs::path old_view = world.dir / "old-volume";
  auto old_volume = Mount::bind(audit_dir, old_view, why);
  ASSERT_TRUE(old_volume) << why;
  GateServer server(options());
  server.start();
  ASSERT_TRUE(server.wait_ready()) << server.log();
  auto load = start_load(server);
  std::this_thread::sleep_for(1s);

  // What the kernel does on a disk error with errors=remount-ro: the file system turns read-only.
  testing::write_file("/sys/fs/ext4/" + ext4->device() + "/trigger_fs_error", "1");
  auto unready = wait_readyz(server.metrics_port(), 503, 10s);
  ASSERT_TRUE(unready.has_value()) << server.log();
  if (resource_bounds()) {
    EXPECT_LT(unready->count(), 1000);
  }
  std::string readyz = admin_get(server.metrics_port(), "/readyz").body;
  // The write that meets the error may fail with EIO before the remount makes the next ones EROFS.
  EXPECT_TRUE(readyz.find("Read-only file system") != std::string::npos ||
              readyz.find("Input/output error") != std::string::npos)
      << readyz;
  std::this_thread::sleep_for(2s);

  auto fresh = Mount::tmpfs(audit_dir, "size=16m", why);
  ASSERT_TRUE(fresh) << why;
  auto ready = wait_readyz(server.metrics_port(), 200, 10s);
  ASSERT_TRUE(ready.has_value()) << server.log();
  std::this_thread::sleep_for(1s);
  std::string summary = load->finish();
  EXPECT_EQ(server.terminate(), 0) << server.log();

  // The chain runs from the read-only volume into the fresh one.
  auto files = audit_files(old_view);
  auto fresh_files = audit_files(audit_dir);
  files.insert(files.end(), fresh_files.begin(), fresh_files.end());
  auto verified = verify(files);
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  auto r = reconcile(read_answers(answers_file), files);
  print_row("read-only file system (ext4 errors=remount-ro)", summary, r, ms(unready),
            ms(ready) + " after a fresh volume was mounted");
  std::cout << "verify: " << verified.out;
  expect_every_answer_recorded(summary, r, true);
}

TEST_F(AuditFault, ADeletedDirectoryIsAnOutageUntilItIsBack) {
  fs::create_directories(audit_dir);
  GateServer server(options());
  server.start();
  ASSERT_TRUE(server.wait_ready()) << server.log();
  auto load = start_load(server);
  std::this_thread::sleep_for(1s);
  // A second name for the file, so its records can be checked after the directory is gone.
  fs::create_directories(world.dir / "kept");
  fs::create_hard_link(audit_dir / "audit.log", world.dir / "kept" / "audit.log");
  fs::remove_all(audit_dir);
  auto unready = wait_readyz(server.metrics_port(), 503, 10s);
  ASSERT_TRUE(unready.has_value()) << server.log();
  if (resource_bounds()) {
    EXPECT_LT(unready->count(), 1000);
  }
  std::string readyz = admin_get(server.metrics_port(), "/readyz").body;
  EXPECT_NE(readyz.find("No such file or directory"), std::string::npos) << readyz;
  std::this_thread::sleep_for(2s);
  fs::create_directories(audit_dir);
  auto ready = wait_readyz(server.metrics_port(), 200, 10s);
  ASSERT_TRUE(ready.has_value()) << server.log();
  std::this_thread::sleep_for(1s);
  std::string summary = load->finish();
  EXPECT_EQ(server.terminate(), 0) << server.log();

  auto files = audit_files(world.dir / "kept");
  auto new_files = audit_files(audit_dir);
  files.insert(files.end(), new_files.begin(), new_files.end());
  auto verified = verify(files);
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  auto r = reconcile(read_answers(answers_file), files);
  print_row("directory deleted", summary, r, ms(unready), ms(ready) + " after it was created again");
  std::cout << "verify: " << verified.out;
  expect_every_answer_recorded(summary, r, true);
}

TEST_F(AuditFault, ARotationThatFailsHalfWayIsAnOutageAndResumes) {
  std::string why;
  if (!private_mount_namespace(why)) GTEST_SKIP() << why;
  auto tmpfs = Mount::tmpfs(audit_dir, "size=64m,nr_inodes=1000", why);
  ASSERT_TRUE(tmpfs) << why;
  GateServer server(options({"--audit-max-size", "64Ki", "--audit-max-files", "500"}));
  server.start();
  ASSERT_TRUE(server.wait_ready()) << server.log();
  auto load = start_load(server);
  std::this_thread::sleep_for(1s);

  // No inode left: the next rotation renames the files and then cannot create the new one.
  bool limited = false;
  for (int attempt = 0; attempt < 50 && !limited; ++attempt) {
    struct statvfs st {};
    ASSERT_EQ(::statvfs(audit_dir.c_str(), &st), 0);
    const std::string used = "nr_inodes=" + std::to_string(st.f_files - st.f_ffree);
    limited = ::mount("tmpfs", audit_dir.c_str(), "tmpfs", MS_REMOUNT, used.c_str()) == 0;
  }
  ASSERT_TRUE(limited) << std::strerror(errno);
  auto unready = wait_readyz(server.metrics_port(), 503, 10s);
  ASSERT_TRUE(unready.has_value()) << server.log();
  std::string readyz = admin_get(server.metrics_port(), "/readyz").body;
  EXPECT_NE(readyz.find("audit.log: cannot open the audit log: No space left on device"), std::string::npos)
      << readyz;
  std::this_thread::sleep_for(2s);
  ASSERT_EQ(::mount("tmpfs", audit_dir.c_str(), "tmpfs", MS_REMOUNT, "nr_inodes=1000"), 0)
      << std::strerror(errno);
  auto ready = wait_readyz(server.metrics_port(), 200, 10s);
  ASSERT_TRUE(ready.has_value()) << server.log();
  std::this_thread::sleep_for(1s);
  std::string summary = load->finish();
  EXPECT_EQ(server.terminate(), 0) << server.log();

  auto files = audit_files(audit_dir);
  EXPECT_GT(files.size(), 3u);
  auto verified = verify(files);
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  auto r = reconcile(read_answers(answers_file), files);
  print_row("rotation fails half-way (files renamed, no inode for the new one)", summary, r, ms(unready),
            ms(ready) + " after inodes were freed");
  std::cout << "verify: " << verified.out;
  expect_every_answer_recorded(summary, r, true);
}

TEST_F(AuditFault, SigtermDuringAnOutageExitsInTimeAndHandsOverWhatTheFileDidNotTake) {
  FullDisk disk(audit_dir);
  auto o = options();
  o.shutdown_delay = "1s";
  GateServer server(o);
  server.start();
  ASSERT_TRUE(server.wait_ready()) << server.log();
  auto load = start_load(server);
  std::this_thread::sleep_for(1s);
  disk.fill_up(server.pid());
  ASSERT_TRUE(wait_readyz(server.metrics_port(), 503, 10s).has_value()) << server.log();
  std::this_thread::sleep_for(1s);

  auto start = Clock::now();
  auto code = server.terminate(60s);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  std::string summary = load->finish();
  ASSERT_TRUE(code.has_value()) << "no exit within 60 s\n" << server.log();
  EXPECT_EQ(*code, 0) << server.log();
  // 1 s of shutdown delay, the drain, and at most 2 s of trying the full disk again.
  if (resource_bounds()) {
    EXPECT_LT(took.count(), 1000 + 4000) << server.log();
  }
  std::string log = server.log();
  EXPECT_NE(log.find("they follow on stderr, one per line"), std::string::npos) << log;

  // The records the disk did not take are on stderr, in chain order: with the file, a complete log.
  std::string handed_over;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("{\"seq\":", 0) == 0) handed_over += line + "\n";
  testing::write_file(world.dir / "stderr-records.log", handed_over);
  auto files = audit_files(audit_dir);
  files.push_back((world.dir / "stderr-records.log").string());
  auto verified = verify(files);
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  auto r = reconcile(read_answers(answers_file), files);
  print_row("SIGTERM during a full-disk outage (--shutdown-delay 1s): exit in " +
                std::to_string(took.count()) + " ms",
            summary, r, "-", "-");
  EXPECT_GT(r.answered, 200u);
  EXPECT_EQ(r.missing, 0u) << r.example;
  EXPECT_EQ(r.mismatched, 0u) << r.example;
}

}  // namespace
}  // namespace gitgate::faults
