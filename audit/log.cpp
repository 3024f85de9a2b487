#include "audit/log.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <openssl/crypto.h>

#include "audit/chain.h"
#include "audit/reader.h"
#include "core/log.h"

namespace gitgate::audit {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string errno_text(int err) {
  return std::strerror(err);
}

std::string rotated_name(const std::string& path, int index) {
  return index == 0 ? path : path + "." + std::to_string(index);
}

void sync_directory_of(const std::string& path) {
  auto dir = fs::path(path).parent_path();
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

// The file being appended to: created 0600, locked against a second writer, rotated by size.
class ActiveFile {
 public:
  ActiveFile(std::string path, uint64_t max_bytes, int max_files)
      : path_(std::move(path)), max_bytes_(max_bytes), max_files_(max_files) {}
  ActiveFile(const ActiveFile&) = delete;
  ActiveFile& operator=(const ActiveFile&) = delete;
  ~ActiveFile() { close(); }

  Status open() {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) return Error{path_ + ": cannot open the audit log: " + errno_text(errno)};
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      close();
      if (err == EWOULDBLOCK) return Error{path_ + ": the audit log is in use by another writer"};
      return Error{path_ + ": cannot lock the audit log: " + errno_text(err)};
    }
    struct stat st {};
    if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
      close();
      return Error{path_ + ": the audit log is not a regular file"};
    }
    size_ = static_cast<uint64_t>(st.st_size);
    sync_directory_of(path_);
    return {};
  }

  // Whether `line_bytes` more fit after `unwritten` bytes still to be written: a file that would hold
  // something already takes no line that would carry it past the size limit.
  bool has_room_for(uint64_t unwritten, uint64_t line_bytes) const {
    const uint64_t used = size_ + unwritten;
    return used == 0 || used + line_bytes <= max_bytes_;
  }

  // Writes from `done` on; on failure `done` says how far it got.
  Status write(std::string_view data, size_t& done) {
    while (done < data.size()) {
      ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
      if (n > 0) {
        done += static_cast<size_t>(n);
        size_ += static_cast<uint64_t>(n);
        dirty_ = true;
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        return Error{path_ + ": write failed: " + (n < 0 ? errno_text(errno) : "no progress")};
      }
    }
    return {};
  }

  Status sync() {
    if (!dirty_ || fd_ < 0) return {};
    if (::fdatasync(fd_) != 0) return Error{path_ + ": fdatasync failed: " + errno_text(errno)};
    dirty_ = false;
    return {};
  }

  // path -> path.1 -> ... -> path.(max_files-1); the oldest is removed. Then a fresh path is opened.
  Status rotate() {
    Status synced = sync();
    close();
    if (max_files_ <= 1) {
      ::unlink(path_.c_str());
    } else {
      ::unlink(rotated_name(path_, max_files_ - 1).c_str());
      for (int i = max_files_ - 2; i >= 0; --i) {
        std::string from = rotated_name(path_, i);
        if (::rename(from.c_str(), rotated_name(path_, i + 1).c_str()) != 0 && errno != ENOENT) {
          return Error{from + ": rotation failed: " + errno_text(errno)};
        }
      }
    }
    Status opened = open();
    if (!opened) return opened;
    return synced;
  }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  uint64_t max_bytes_;
  int max_files_;
  int fd_ = -1;
  uint64_t size_ = 0;
  bool dirty_ = false;
};

// Where the chain continues: the last complete record among path, path.1, ... (a crash right after a
// rotation leaves the newest record in path.1).
struct ChainStart {
  uint64_t seq = 0;
  std::string prev_hex{kZeroDigestHex};
  uint64_t torn_bytes = 0;  // an unfinished last line in the active file
};

Result<ChainStart> find_chain_start(const std::string& path, int max_files, ChainHasher& hasher) {
  ChainStart start;
  for (int i = 0; i < max_files; ++i) {
    const std::string name = rotated_name(path, i);
    std::error_code ec;
    if (i > 0 && !fs::exists(name, ec)) break;
    auto tail = read_log_tail(name);
    if (!tail) return std::move(tail).take_error();
    if (i == 0) start.torn_bytes = tail->torn_bytes;
    if (!tail->last_line) continue;
    RecordParser parser;
    auto chain = parser.parse_chain(*tail->last_line);
    if (!chain) {
      return Error{name + ": the last line is not a gitgate audit record (" + chain.error() +
                   "); check it with 'gitgate audit verify', then move the file aside to start a new log"};
    }
    start.seq = chain->seq;
    start.prev_hex = to_hex(hasher.hash(*tail->last_line));
    break;
  }
  return start;
}

// Writes all of `data` to a pipe or file descriptor, waiting when it is non-blocking and full.
bool write_fd(int fd, std::string_view data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, 1000);
    } else {
      return false;
    }
  }
  return true;
}

constexpr size_t kRetainedBatchCapacity = 1024;
// While busy, the writer takes a batch every kBatchWindow, or as soon as this many records wait.
constexpr std::chrono::milliseconds kBatchWindow{2};
constexpr size_t kMaxWakeThreshold = 1024;
constexpr size_t kMaxWriteBytes = 1024 * 1024;  // one write(2) at most; bounds the writer's buffer
constexpr int kWriteAttemptsWhenClosing = 5;

}  // namespace

struct AuditLog::State {
  Options options;
  std::optional<ChainHasher> hasher;
  std::unique_ptr<ActiveFile> file;

  // The queue. `in_flight` counts records in `pending` plus those the writer is working on, so that
  // capacity bounds both.
  mutable std::mutex mu;
  std::condition_variable has_work;
  std::condition_variable not_full;
  std::vector<Record> pending;
  size_t in_flight = 0;
  size_t blocked_producers = 0;
  bool writer_idle = false;  // waiting with nothing to do: the next record wakes it
  size_t wake_threshold = 1;
  bool closing = false;
  bool stopped = false;
  std::atomic<bool> closing_flag{false};

  std::atomic<uint64_t> depth{0};
  std::atomic<uint64_t> written{0};
  std::atomic<uint64_t> errors{0};

  std::mutex close_mu;
  std::thread writer;

  // Writer-thread state.
  uint64_t seq = 0;
  std::string prev_hex;
  std::string out;
  std::string line;
  Clock::time_point last_sync = Clock::now();
  bool stdout_failed = false;

  void run();
  void write_batch(std::vector<Record>& batch);
  void flush(size_t records);
  void rotate();
  void sync(bool force);
  void report_error(const std::string& message);
};

void AuditLog::State::report_error(const std::string& message) {
  const uint64_t count = errors.fetch_add(1, std::memory_order_relaxed) + 1;
  // The first errors in full, then one line per 1000 so a full disk does not flood the log.
  if (count <= 10 || count % 1000 == 0) {
    log::error("audit log: " + message + " (write errors so far: " + std::to_string(count) + ")");
  }
}

void AuditLog::State::run() {
  std::vector<Record> batch;
  const auto batch_window = std::min<std::chrono::milliseconds>(kBatchWindow, options.flush_interval);
  bool busy = false;
  for (;;) {
    bool wake_producers = false;
    {
      std::unique_lock lock(mu);
      auto finished = [&] { return closing && pending.empty() && blocked_producers == 0; };
      if (busy) {
        // Records keep coming: let a batch gather without producers waking the writer for each one.
        has_work.wait_for(lock, batch_window, [&] { return closing || pending.size() >= wake_threshold; });
      }
      if (pending.empty() && !finished()) {
        writer_idle = true;
        has_work.wait_for(lock, options.flush_interval, [&] { return !pending.empty() || finished(); });
        writer_idle = false;
      }
      if (finished()) {
        stopped = true;
        break;
      }
      batch.swap(pending);
      busy = !batch.empty();
    }
    if (!batch.empty()) {
      write_batch(batch);
      const size_t done = batch.size();
      batch.clear();
      if (batch.capacity() > kRetainedBatchCapacity) std::vector<Record>().swap(batch);
      {
        std::lock_guard lock(mu);
        in_flight -= done;
        depth.store(in_flight, std::memory_order_relaxed);
        wake_producers = blocked_producers > 0;
      }
      if (wake_producers) not_full.notify_all();
    }
    sync(false);
  }
  not_full.notify_all();
  sync(true);
  if (options.to_stdout) ::fdatasync(STDOUT_FILENO);  // a regular file on stdout; a pipe just says EINVAL
  file.reset();
}

void AuditLog::State::write_batch(std::vector<Record>& batch) {
  out.clear();
  size_t records = 0;
  for (const Record& record : batch) {
    line.clear();
    append_record_line(line, record, seq + 1, prev_hex);
    if (file && !file->has_room_for(out.size(), line.size() + 1)) {
      flush(records);
      records = 0;
      rotate();
    }
    out += line;
    out += '\n';
    ++records;
    ++seq;
    prev_hex = to_hex(hasher->hash(line));
    if (out.size() >= kMaxWriteBytes) {
      flush(records);
      records = 0;
    }
  }
  flush(records);
}

// Writes `out` (holding `records` lines) to the sinks. A failing file write is retried, holding the
// queue back, until it succeeds or close() gives up on it.
void AuditLog::State::flush(size_t records) {
  if (out.empty()) return;
  if (file) {
    size_t done = 0;
    int attempts = 0;
    for (;;) {
      Status status = file->write(out, done);
      if (status) break;
      report_error(status.error());
      if (closing_flag.load(std::memory_order_relaxed) && ++attempts >= kWriteAttemptsWhenClosing) {
        log::error("audit log: giving up on " + std::to_string(records) + " records at shutdown");
        break;
      }
      std::this_thread::sleep_for(options.flush_interval);
    }
    if (done == out.size()) written.fetch_add(records, std::memory_order_relaxed);
  }
  if (options.to_stdout && !stdout_failed) {
    if (write_fd(STDOUT_FILENO, out)) {
      if (!file) written.fetch_add(records, std::memory_order_relaxed);
    } else {
      // A closed stdout stays closed: report once, keep writing the file.
      stdout_failed = true;
      report_error(std::string("writing to stdout failed: ") + errno_text(errno));
    }
  } else if (options.to_stdout && !file) {
    errors.fetch_add(1, std::memory_order_relaxed);
  }
  out.clear();
}

void AuditLog::State::rotate() {
  Status status = file->rotate();
  if (!status) report_error(status.error());
}

void AuditLog::State::sync(bool force) {
  if (!file) return;
  const auto now = Clock::now();
  if (!force && now - last_sync < options.flush_interval) return;
  last_sync = now;
  Status status = file->sync();
  if (!status) report_error(status.error());
}

Result<std::unique_ptr<AuditLog>> AuditLog::open(Options options) {
  if (!options.to_stdout && options.file.empty()) {
    return Error{"audit log: no sink; give --audit-stdout and/or --audit-file PATH"};
  }
  if (options.max_files < 1) return Error{"audit log: --audit-max-files must be at least 1"};
  if (options.max_file_bytes < 4096) return Error{"audit log: --audit-max-size must be at least 4 KiB"};
  if (options.queue_capacity < 1) return Error{"audit log: the queue capacity must be at least 1"};
  if (options.flush_interval.count() <= 0) return Error{"audit log: the flush interval must be positive"};

  auto state = std::make_unique<State>();
  if (options.hmac_key_file.empty()) {
    auto hasher = ChainHasher::sha256();
    if (!hasher) return std::move(hasher).take_error();
    state->hasher.emplace(std::move(hasher).value());
  } else {
    auto key = load_hmac_key(options.hmac_key_file);
    if (!key) return std::move(key).take_error();
    auto hasher = ChainHasher::hmac_sha256(*key);
    OPENSSL_cleanse(key->data(), key->size());
    if (!hasher) return Error{options.hmac_key_file + ": " + hasher.error()};
    state->hasher.emplace(std::move(hasher).value());
  }

  state->prev_hex = kZeroDigestHex;
  if (!options.file.empty()) {
    auto start = find_chain_start(options.file, options.max_files, *state->hasher);
    if (!start) return std::move(start).take_error();
    state->seq = start->seq;
    state->prev_hex = start->prev_hex;
    state->file = std::make_unique<ActiveFile>(options.file, options.max_file_bytes, options.max_files);
    Status opened = state->file->open();
    if (!opened) return Error{opened.error()};
    if (start->torn_bytes > 0) {
      log::warn("audit log: " + options.file + ": the last line is an unfinished record (" +
                std::to_string(start->torn_bytes) +
                " bytes, an interrupted write); keeping it and continuing the chain in a new file from seq " +
                std::to_string(start->seq));
      Status rotated = state->file->rotate();
      if (!rotated) return Error{rotated.error()};
    }
  }
  state->options = std::move(options);
  state->pending.reserve(std::min<size_t>(state->options.queue_capacity, kRetainedBatchCapacity));
  state->wake_threshold = std::clamp<size_t>(state->options.queue_capacity / 2, 1, kMaxWakeThreshold);
  State* raw = state.get();
  state->writer = std::thread([raw] { raw->run(); });
  return std::unique_ptr<AuditLog>(new AuditLog(std::move(state)));
}

AuditLog::AuditLog(std::unique_ptr<State> state) : state_(std::move(state)) {}

AuditLog::~AuditLog() {
  close();
}

void AuditLog::submit(Record&& record) {
  State& s = *state_;
  std::unique_lock lock(s.mu);
  if (s.in_flight >= s.options.queue_capacity && !s.stopped) {
    ++s.blocked_producers;
    s.not_full.wait(lock, [&] { return s.in_flight < s.options.queue_capacity || s.stopped; });
    --s.blocked_producers;
  }
  if (s.stopped) {
    lock.unlock();
    s.report_error("a record was submitted after close(); it was not written (uid " +
                   record.uid.substr(0, 64) + ")");
    return;
  }
  s.pending.push_back(std::move(record));
  ++s.in_flight;
  s.depth.store(s.in_flight, std::memory_order_relaxed);
  // A futex wake costs the request thread a system call (and a context switch on a one-core server):
  // only when the writer is idle or a batch is due.
  bool wake = s.writer_idle || s.pending.size() == s.wake_threshold;
  s.writer_idle = false;
  lock.unlock();
  if (wake) s.has_work.notify_one();
}

void AuditLog::close() {
  State& s = *state_;
  std::lock_guard guard(s.close_mu);
  if (!s.writer.joinable()) return;
  {
    std::lock_guard lock(s.mu);
    s.closing = true;
    s.closing_flag.store(true, std::memory_order_relaxed);
  }
  s.has_work.notify_one();
  s.writer.join();
}

uint64_t AuditLog::queue_depth() const {
  return state_->depth.load(std::memory_order_relaxed);
}
uint64_t AuditLog::records_written() const {
  return state_->written.load(std::memory_order_relaxed);
}
uint64_t AuditLog::write_errors() const {
  return state_->errors.load(std::memory_order_relaxed);
}

}  // namespace gitgate::audit
