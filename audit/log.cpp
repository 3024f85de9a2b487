#include "audit/log.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <thread>

#include <openssl/crypto.h>

#include "audit/chain.h"
#include "audit/reader.h"
#include "core/log.h"

namespace gitgate::audit {
namespace {

namespace fs = std::filesystem;
using Clock = AuditLog::Clock;

std::string errno_text(int err) {
  return std::strerror(err);
}

int64_t now_unix_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t steady_ns(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// Milliseconds as seconds with one decimal: 3140 -> "3.1 s".
std::string seconds_text(Clock::duration d) {
  auto tenths = std::chrono::duration_cast<std::chrono::milliseconds>(d).count() / 100;
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " s";
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

constexpr size_t kRetainedBatchCapacity = 1024;
// Records nobody waits for (async) gather this long, or until this many wait, before the writer takes them.
constexpr std::chrono::milliseconds kBatchWindow{2};
constexpr size_t kMaxWakeThreshold = 1024;
constexpr size_t kMaxWriteBytes = 1024 * 1024;        // one write(2) at most; bounds the writer's buffer
constexpr std::chrono::milliseconds kStreamPoll{10};  // how often a stream that takes nothing is tried
constexpr std::chrono::milliseconds kCloseGrace{1000};

// What the metrics say about one sink; written by the writer, read by anyone.
struct SinkCounters {
  std::atomic<bool> up{true};
  std::atomic<uint64_t> backlog{0};
  std::atomic<uint64_t> unwritten{0};
  std::atomic<uint64_t> lost{0};
};

// Where lines go. Each line ends with '\n'; `ends[i]` is one past line i's newline in `data`.
class Sink {
 public:
  virtual ~Sink() = default;
  // Writes the lines in order and returns how many are now in the sink (and synced, when `sync`). Short
  // of all of them, `error` says why, and no byte of a line not counted is left where it could be taken
  // back (a stream cannot take back a line it wrote in part: it counts it, and finishes it first next time).
  virtual size_t write(std::string_view data, const std::vector<size_t>& ends, bool sync,
                       std::string& error) = 0;
  virtual Status sync() = 0;
  // While idle: is the sink still where it should be (the file at its path)?
  virtual Status check() = 0;
  // During an outage with nothing to write: does the sink work again?
  virtual Status probe() = 0;
  virtual void release() = 0;                    // closes the descriptor: the writer is done
  virtual const std::string& label() const = 0;  // the path, or "stdout"
  virtual std::string_view kind() const = 0;     // "file" or "stdout": the metric label, the gap's sink
};

// The file being appended to: created 0600, locked against a second writer, rotated by size. When a write
// fails, the bytes of the line it cut are taken back (ftruncate), so the file always ends with a whole
// line; when even that fails, the next write continues the chain in a fresh file. A file deleted or moved
// away under the writer is noticed after each write (the path no longer names it): what went there is
// taken back and written again in a new file at the path.
class FileSink final : public Sink {
 public:
  FileSink(std::string path, uint64_t max_bytes, int max_files)
      : path_(std::move(path)), max_bytes_(max_bytes), max_files_(max_files) {}
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;
  ~FileSink() override { close(); }

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
    dev_ = st.st_dev;
    ino_ = st.st_ino;
    dirty_ = false;
    sync_directory_of(path_);
    return {};
  }

  // The last complete line of the file as opened (from its tail), to recognise it when opened again.
  void set_last_line(std::string line) { last_line_ = std::move(line); }

  size_t write(std::string_view data, const std::vector<size_t>& ends, bool sync,
               std::string& error) override {
    size_t accepted = 0;
    bool moved_once = false;
    for (;;) {
      if (Status ready = make_ready(); !ready) {
        error = ready.error();
        return accepted;
      }
      // This call's lines in the current file: taken back when a sync or the path check fails.
      size_t file_first = accepted;
      uint64_t file_start = size_;
      std::string line_before = last_line_;
      auto take_back = [&] {
        cut(file_start);
        last_line_ = line_before;
        return file_first;
      };
      size_t i = accepted;
      while (i < ends.size()) {
        const size_t begin = i == 0 ? 0 : ends[i - 1];
        size_t j = i;
        while (j < ends.size()) {
          const uint64_t before = (j == 0 ? 0 : ends[j - 1]) - begin;
          const uint64_t line = ends[j] - (j == 0 ? 0 : ends[j - 1]);
          if (!has_room_for(before, line) || (j > i && before + line > kMaxWriteBytes)) break;
          ++j;
        }
        if (j == i) {
          // Line i starts a new file; what this one holds is made durable first.
          if (Status synced = sync_file(); !synced) {
            error = synced.error();
            return take_back();
          }
          if (Status rotated = rotate(); !rotated) {
            error = rotated.error();
            return accepted;
          }
          file_first = i;
          file_start = size_;
          line_before.clear();
          continue;
        }
        const uint64_t chunk_start = size_;
        size_t done = 0;
        const int err = write_bytes(data.substr(begin, ends[j - 1] - begin), done);
        size_t whole = i;
        while (whole < j && ends[whole] - begin <= done) ++whole;
        if (whole > i) remember_last_line(data, ends, whole - 1);
        if (err != 0) {
          cut(chunk_start + (whole == i ? 0 : ends[whole - 1] - begin));
          // A full disk stays the same file; anything else (EIO, EROFS, ...) may be cured by opening again.
          if (err != ENOSPC && err != EDQUOT) reopen_ = true;
          error = path_ + ": write failed: " + errno_text(err);
          return whole;
        }
        i = accepted = j;
      }
      if (sync) {
        if (Status synced = sync_file(); !synced) {
          error = synced.error();
          return take_back();
        }
      }
      if (still_at_path()) return accepted;
      // Deleted or moved away: what this call wrote there would be lost with it.
      accepted = take_back();
      reopen_ = true;
      log::warn("audit log: " + path_ +
                " was deleted or moved away; the chain continues in a new file there");
      if (moved_once) {
        error = path_ + ": the audit file was deleted or moved away again while being written";
        return accepted;
      }
      moved_once = true;
    }
  }

  Status sync() override {
    Status synced = sync_file();
    if (!synced) reopen_ = true;
    return synced;
  }

  Status check() override {
    if (fd_ >= 0 && !reopen_ && still_at_path()) return {};
    if (fd_ >= 0 && !reopen_)
      log::warn("audit log: " + path_ +
                " was deleted or moved away; the chain continues in a new file there");
    reopen_ = true;
    return make_ready();
  }

  Status probe() override {
    if (Status ready = make_ready(); !ready) return ready;
    return sync();
  }

  void release() override { close(); }
  const std::string& label() const override { return path_; }
  std::string_view kind() const override { return "file"; }

  // path -> path.1 -> ... -> path.(max_files-1); the oldest is removed. Then a fresh path is opened. A
  // rotation that fails half-way resumes where it stopped, so no file is shifted twice.
  Status rotate() {
    if (rotation_step_ < 0) {
      close();
      rotation_step_ = max_files_ - 1;
    }
    while (rotation_step_ >= 0) {
      const int i = rotation_step_;
      const std::string from = rotated_name(path_, i);
      if (i == max_files_ - 1) {
        if (::unlink(from.c_str()) != 0 && errno != ENOENT)
          return Error{from + ": rotation failed: cannot remove the oldest file: " + errno_text(errno)};
      } else if (::rename(from.c_str(), rotated_name(path_, i + 1).c_str()) != 0 && errno != ENOENT) {
        return Error{from + ": rotation failed: " + errno_text(errno)};
      }
      --rotation_step_;
    }
    last_line_.clear();
    torn_ = false;
    reopen_ = false;
    return open();
  }

 private:
  // Whether `line_bytes` more fit after `unwritten` bytes still to be written: a file that would hold
  // something already takes no line that would carry it past the size limit.
  bool has_room_for(uint64_t unwritten, uint64_t line_bytes) const {
    const uint64_t used = size_ + unwritten;
    return used == 0 || used + line_bytes <= max_bytes_;
  }

  // Opens the path again when the descriptor is suspect, or resumes a rotation. A file found there that
  // does not end with the last line written to it (cut, or someone else's) is rotated away: the chain
  // continues in a fresh file.
  Status make_ready() {
    if (rotation_step_ >= 0) return rotate();
    if (fd_ >= 0 && !reopen_ && !torn_) return {};
    close();
    if (Status opened = open(); !opened) return opened;
    reopen_ = false;
    torn_ = false;
    auto tail = read_log_tail(path_);
    if (!tail) return Error{tail.error()};
    if (tail->torn_bytes > 0 || (tail->last_line && *tail->last_line != last_line_)) {
      log::warn("audit log: " + path_ + " does not end where the writer left it" +
                (tail->torn_bytes > 0 ? " (an unfinished line)" : "") +
                "; the chain continues in a fresh file");
      return rotate();
    }
    return {};
  }

  // Writes from `done` on; returns 0, or the errno of the failure (`done` says how far it got).
  int write_bytes(std::string_view data, size_t& done) {
    while (done < data.size()) {
      ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
      if (n > 0) {
        done += static_cast<size_t>(n);
        size_ += static_cast<uint64_t>(n);
        dirty_ = true;
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        return n < 0 ? errno : EIO;
      }
    }
    return 0;
  }

  Status sync_file() {
    if (!dirty_ || fd_ < 0) return {};
    if (::fdatasync(fd_) != 0) return Error{path_ + ": fdatasync failed: " + errno_text(errno)};
    dirty_ = false;
    return {};
  }

  // Takes back what was written past `size`; when the file cannot be cut, it is left behind at the next
  // write (its unfinished line stays, as after a crash).
  void cut(uint64_t size) {
    if (fd_ < 0 || size_ == size) return;
    if (::ftruncate(fd_, static_cast<off_t>(size)) == 0) {
      size_ = size;
    } else {
      torn_ = true;
    }
  }

  bool still_at_path() const {
    struct stat st {};
    return ::stat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_;
  }

  void remember_last_line(std::string_view data, const std::vector<size_t>& ends, size_t index) {
    const size_t begin = index == 0 ? 0 : ends[index - 1];
    last_line_.assign(data.substr(begin, ends[index] - begin - 1));
  }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  std::string path_;
  uint64_t max_bytes_;
  int max_files_;
  int fd_ = -1;
  uint64_t size_ = 0;
  bool dirty_ = false;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  bool reopen_ = false;     // the descriptor is suspect (EIO, EROFS, a file moved away): open the path again
  bool torn_ = false;       // bytes of a cut line could not be taken back
  int rotation_step_ = -1;  // a rotation under way: the file to move next (max_files-1: remove the oldest)
  std::string last_line_;   // without its newline
};

// stdout. Alone, it is the primary sink and a write waits for a slow reader (the writer's stall detection
// turns a reader that takes nothing into an outage). Next to a file, it is written without waiting: lines
// wait in a bounded buffer, and past it are lost to stdout alone.
class StreamSink final : public Sink {
 public:
  StreamSink(int fd, size_t capacity, std::chrono::milliseconds retry_interval,
             const std::atomic<bool>& give_up)
      : fd_(fd), capacity_(capacity), retry_interval_(retry_interval), give_up_(give_up) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return;
    socket_ = S_ISSOCK(st.st_mode);
    regular_ = S_ISREG(st.st_mode);
    if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
      // A description of our own, so O_NONBLOCK does not change the stream for whoever shares it.
      int own = ::open(("/proc/self/fd/" + std::to_string(fd)).c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
      if (own >= 0) {
        fd_ = own;
        own_fd_ = true;
      }
    }
  }
  StreamSink(const StreamSink&) = delete;
  StreamSink& operator=(const StreamSink&) = delete;
  ~StreamSink() override {
    if (own_fd_) ::close(fd_);
  }

  size_t write(std::string_view data, const std::vector<size_t>& ends, bool sync,
               std::string& error) override {
    if (!unfinished_.empty()) {
      size_t done = 0;
      if (!put_all(unfinished_, done, error)) {
        unfinished_.erase(0, done);
        return 0;
      }
      unfinished_.clear();
    }
    size_t done = 0;
    const bool complete = put_all(data, done, error);
    size_t accepted = 0;
    while (accepted < ends.size() && ends[accepted] <= done) ++accepted;
    if (!complete && accepted < ends.size() && done > (accepted == 0 ? 0 : ends[accepted - 1])) {
      unfinished_.assign(data.substr(done, ends[accepted] - done));
      ++accepted;
    }
    if (complete && sync) {
      if (Status synced = this->sync(); !synced) log::warn("audit log: " + synced.error());
    }
    return accepted;
  }

  Status sync() override {
    if (regular_ && ::fdatasync(fd_) != 0) return Error{"stdout: fdatasync failed: " + errno_text(errno)};
    return {};
  }
  Status check() override { return {}; }
  Status probe() override { return {}; }
  void release() override {
    if (own_fd_) ::close(fd_);
    own_fd_ = false;
  }
  const std::string& label() const override { return label_; }
  std::string_view kind() const override { return "stdout"; }

  // Secondary use. Queues a line without waiting; a line that does not fit, and every one after it until
  // the buffer is written out, is lost to stdout (counted; take_gap() then says which).
  void offer(std::string_view line, uint64_t seq, int64_t now_us) {
    if (failing_) counters.unwritten.fetch_add(1, std::memory_order_relaxed);
    if (!broken_ && !loss_ && sizes_.size() >= capacity_) pump(Clock::now());  // room, if the reader took some
    if (broken_ || loss_ || sizes_.size() >= capacity_) {
      if (!broken_) {
        if (!loss_) {
          if (!failing_) counters.unwritten.fetch_add(1, std::memory_order_relaxed);
          loss_ =
              Gap{"stdout", seq,   seq, cause_.empty() ? "stdout does not take lines fast enough" : cause_,
                  now_us,   now_us};
        }
        loss_->last = seq;
        loss_->to_us = now_us;
      }
      counters.lost.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    buffer_.append(line);
    sizes_.push_back(line.size());
    counters.backlog.store(sizes_.size(), std::memory_order_relaxed);
  }

  bool holds_lines() const { return !sizes_.empty(); }
  bool broken() const { return broken_; }

  // When the stream should be tried next (Clock::time_point::max(): nothing to do).
  Clock::time_point next_pump() const {
    if (broken_ || sizes_.empty()) return Clock::time_point::max();
    return failing_ ? next_retry_ : last_pump_ + kStreamPoll;
  }

  // Writes what it holds as far as the stream takes it now.
  void pump(Clock::time_point now) {
    if (broken_ || sizes_.empty() || (failing_ && now < next_retry_)) return;
    last_pump_ = now;
    while (head_ < buffer_.size()) {
      ssize_t n = put(buffer_.data() + head_, buffer_.size() - head_);
      if (n > 0) {
        consume(static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      fail(n < 0 ? errno : EIO, now);
      return;
    }
    if (failing_) {
      log::warn("audit log: stdout is written again");
      failing_ = false;
      cause_.clear();
      counters.up.store(true, std::memory_order_relaxed);
    }
    if (head_ == buffer_.size()) {
      buffer_.clear();
      head_ = 0;
    } else if (head_ > kMaxWriteBytes && head_ > buffer_.size() / 2) {
      buffer_.erase(0, head_);
      head_ = 0;
    }
  }

  // The lines lost to stdout, once everything before them is written: time to record the gap.
  std::optional<Gap> take_gap() {
    if (!loss_ || !sizes_.empty() || broken_) return std::nullopt;
    std::optional<Gap> gap = std::move(loss_);
    loss_.reset();
    return gap;
  }

  // What it still holds is lost (shutdown).
  uint64_t give_up_lines() {
    uint64_t held = sizes_.size();
    counters.lost.fetch_add(held, std::memory_order_relaxed);
    sizes_.clear();
    buffer_.clear();
    head_ = 0;
    counters.backlog.store(0, std::memory_order_relaxed);
    return held;
  }

  SinkCounters counters;

 private:
  ssize_t put(const char* data, size_t size) {
    if (socket_) return ::send(fd_, data, size, MSG_DONTWAIT | MSG_NOSIGNAL);
    return ::write(fd_, data, size);
  }

  // Writes all of `data` from `done` on, waiting while the reader is slow; false on an error or give_up.
  bool put_all(std::string_view data, size_t& done, std::string& error) {
    while (done < data.size()) {
      ssize_t n = put(data.data() + done, data.size() - done);
      if (n > 0) {
        done += static_cast<size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (give_up_.load(std::memory_order_relaxed)) {
          error = "stdout: the reader took nothing before shutdown";
          return false;
        }
        pollfd p{fd_, POLLOUT, 0};
        ::poll(&p, 1, 100);
      } else {
        error = "stdout: write failed: " + errno_text(n < 0 ? errno : EIO);
        return false;
      }
    }
    return true;
  }

  void consume(size_t n) {
    head_ += n;
    front_done_ += n;
    while (!sizes_.empty() && front_done_ >= sizes_.front()) {
      front_done_ -= sizes_.front();
      sizes_.pop_front();
    }
    counters.backlog.store(sizes_.size(), std::memory_order_relaxed);
  }

  void fail(int err, Clock::time_point now) {
    // A reader that is gone stays gone; anything else (a full disk under a redirected stdout) may pass.
    const bool gone = err == EPIPE || err == EBADF || err == EINVAL || err == ECONNRESET || err == ENOTCONN;
    const std::string cause = "stdout: write failed: " + errno_text(err);
    if (!failing_)
      log::error("audit log: " + cause + (gone ? "; no more records go to stdout" : "; records wait for it"));
    failing_ = true;
    cause_ = cause;
    next_retry_ = now + retry_interval_;
    counters.up.store(false, std::memory_order_relaxed);
    if (gone) {
      broken_ = true;
      give_up_lines();
    }
  }

  int fd_;
  bool own_fd_ = false;
  bool socket_ = false;
  bool regular_ = false;
  size_t capacity_;
  std::chrono::milliseconds retry_interval_;
  const std::atomic<bool>& give_up_;
  const std::string label_ = "stdout";
  std::string unfinished_;  // primary: the rest of a line a failed write cut
  // Secondary: bytes [head_, size) are not written yet; sizes_ are the lines they belong to.
  std::string buffer_;
  size_t head_ = 0;
  size_t front_done_ = 0;
  std::deque<size_t> sizes_;
  bool failing_ = false;
  bool broken_ = false;
  std::string cause_;
  Clock::time_point next_retry_;
  Clock::time_point last_pump_;
  std::optional<Gap> loss_;
};

// Where the chain continues: the last complete record among path, path.1, ... (a crash right after a
// rotation leaves the newest record in path.1).
struct ChainStart {
  uint64_t seq = 0;
  std::string prev_hex{kZeroDigestHex};
  uint64_t torn_bytes = 0;  // an unfinished last line in the active file
  std::string active_last_line;
};

Result<ChainStart> find_chain_start(const std::string& path, int max_files, ChainHasher& hasher) {
  ChainStart start;
  for (int i = 0; i < max_files; ++i) {
    const std::string name = rotated_name(path, i);
    std::error_code ec;
    if (i > 0 && !fs::exists(name, ec)) break;
    auto tail = read_log_tail(name);
    if (!tail) return std::move(tail).take_error();
    if (i == 0) {
      start.torn_bytes = tail->torn_bytes;
      if (tail->last_line) start.active_last_line = *tail->last_line;
    }
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

// A record in the queue. Without `done`, nobody waits: it is written as it is.
struct Queued {
  Record record;
  Clock::time_point deadline;
  RecordDone done;
  bool refused = false;
};

}  // namespace

std::string_view to_string(Durability durability) {
  switch (durability) {
    case Durability::Async:
      return "async";
    case Durability::Written:
      return "written";
    case Durability::Synced:
      return "synced";
  }
  return "written";
}

Result<Durability> parse_durability(std::string_view text) {
  for (auto d : {Durability::Async, Durability::Written, Durability::Synced})
    if (to_string(d) == text) return d;
  return Error{"'" + std::string(text) + "' is not a durability: use written, synced or async"};
}

std::string_view to_string(OnFailure on_failure) {
  return on_failure == OnFailure::Deny ? "deny" : "allow";
}

Result<OnFailure> parse_on_failure(std::string_view text) {
  for (auto f : {OnFailure::Deny, OnFailure::Allow})
    if (to_string(f) == text) return f;
  return Error{"'" + std::string(text) + "' is not a failure policy: use deny or allow"};
}

struct AuditLog::State {
  Options options;
  std::optional<ChainHasher> hasher;
  std::unique_ptr<Sink> primary;
  std::unique_ptr<StreamSink> secondary;  // stdout next to a file
  std::string primary_kind;

  // The queue.
  mutable std::mutex mu;
  std::condition_variable has_work;
  std::condition_variable finished_cv;
  std::vector<Queued> pending;
  size_t waiting = 0;    // records in `pending` whose caller waits: the writer takes them at once
  size_t in_writer = 0;  // records the writer took and has not finished
  bool writer_waiting = false;
  bool writer_idle = false;  // waiting with nothing queued: the next record wakes it
  size_t wake_threshold = 1;
  bool closing = false;
  bool stopped = false;   // takes no more records
  bool finished = false;  // the writer is done
  Clock::time_point close_started;
  std::atomic<bool> give_up{false};  // close(): a stream that takes nothing is not waited for any longer

  // The primary sink's health, read by producers and available() without the queue lock.
  std::atomic<bool> primary_failing{false};
  std::atomic<int64_t> write_started_ns{
      0};                        // a primary write or sync under way since (steady clock); 0: none
  mutable std::mutex status_mu;  // guards the two below
  std::string failure_cause;
  Clock::time_point failing_since;

  std::atomic<uint64_t> depth{0};
  std::atomic<uint64_t> written{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> refused{0};
  std::atomic<uint64_t> outages{0};
  SinkCounters primary_counts;

  std::mutex close_mu;
  std::thread writer;

  // Writer-thread state.
  uint64_t seq = 0;
  std::string prev_hex;
  std::string out;
  std::vector<size_t> ends;
  std::vector<Digest> digests;
  std::deque<std::string> backlog;  // lines the failing primary has not taken, oldest first
  std::optional<Gap> loss;          // lines lost to the primary since its backlog filled up
  Clock::time_point next_retry;
  Clock::time_point next_outage_log;
  Clock::time_point last_sync = Clock::now();
  uint64_t refused_before_outage = 0;
  uint64_t lost_before_outage = 0;

  void run();
  void finish();
  Clock::time_point next_timer() const;
  void process(std::vector<Queued>& batch);
  void append_line(const Record& record);
  void append_gap(const Gap& gap);
  void chain(size_t begin);
  size_t write_primary(std::string& error);
  void keep(uint64_t first_seq, size_t from);
  void offer_secondary(uint64_t first_seq, size_t from, size_t to);
  void acknowledge(std::vector<Queued>& batch, size_t from, size_t to);
  void begin_outage(const std::string& error);
  void retry_primary(Clock::time_point now);
  void end_outage(Clock::time_point now);
  void maintain(Clock::time_point now);
  void emit_gap(const Gap& gap, bool direct);
  bool failing(std::string& cause) const;
  void report_error(const std::string& message);
};

bool AuditLog::State::failing(std::string& cause) const {
  if (primary_failing.load(std::memory_order_acquire)) {
    std::lock_guard lock(status_mu);
    cause = failure_cause;
    return true;
  }
  const int64_t started = write_started_ns.load(std::memory_order_relaxed);
  if (started == 0) return false;
  const auto busy = std::chrono::nanoseconds(steady_ns(Clock::now()) - started);
  if (busy <= options.stall_after) return false;
  cause = primary->label() + ": a write has not returned for " + seconds_text(busy);
  return true;
}

void AuditLog::State::report_error(const std::string& message) {
  errors.fetch_add(1, std::memory_order_relaxed);
  log::error("audit log: " + message);
}

Clock::time_point AuditLog::State::next_timer() const {
  auto next = Clock::time_point::max();
  if (primary_failing.load(std::memory_order_relaxed)) {
    next = std::min(next, std::min(next_retry, next_outage_log));
  } else if (options.durability != Durability::Synced) {
    next = std::min(next, last_sync + options.flush_interval);
  }
  if (secondary) next = std::min(next, secondary->next_pump());
  return next;
}

void AuditLog::State::run() {
  std::vector<Queued> batch;
  for (;;) {
    {
      std::unique_lock lock(mu);
      in_writer = 0;
      depth.store(pending.size(), std::memory_order_relaxed);
      const auto cap = [](Clock::time_point t) {
        return std::min(t, Clock::now() + std::chrono::seconds(1));
      };
      if (pending.empty() && !closing) {
        writer_waiting = writer_idle = true;
        has_work.wait_until(lock, cap(next_timer()), [&] { return closing || !pending.empty(); });
        writer_waiting = writer_idle = false;
      }
      auto ready = [&] { return closing || waiting > 0 || pending.size() >= wake_threshold; };
      if (!pending.empty() && !ready()) {
        // Nobody waits for these: let a batch gather without producers waking the writer for each one.
        writer_waiting = true;
        has_work.wait_until(lock, std::min(cap(next_timer()), Clock::now() + kBatchWindow), ready);
        writer_waiting = false;
      }
      if (closing && pending.empty()) {
        stopped = true;
        break;
      }
      batch.swap(pending);
      in_writer = batch.size();
      waiting = 0;
    }
    if (!batch.empty()) {
      process(batch);
      batch.clear();
      if (batch.capacity() > kRetainedBatchCapacity) std::vector<Queued>().swap(batch);
    }
    maintain(Clock::now());
  }
  finish();
}

void AuditLog::State::append_line(const Record& record) {
  const size_t begin = out.size();
  append_record_line(out, record, seq + 1, prev_hex);
  chain(begin);
}

void AuditLog::State::append_gap(const Gap& gap) {
  const size_t begin = out.size();
  append_gap_line(out, gap, now_unix_us(), seq + 1, prev_hex);
  chain(begin);
}

// The line that starts at `begin` in `out` becomes the chain's last: hashed, ended, numbered.
void AuditLog::State::chain(size_t begin) {
  const Digest digest = hasher->hash(std::string_view(out).substr(begin));
  out += '\n';
  ends.push_back(out.size());
  digests.push_back(digest);
  ++seq;
  prev_hex = to_hex(digest);
}

size_t AuditLog::State::write_primary(std::string& error) {
  const auto start = Clock::now();
  write_started_ns.store(steady_ns(start), std::memory_order_relaxed);
  const size_t accepted = primary->write(out, ends, options.durability == Durability::Synced, error);
  write_started_ns.store(0, std::memory_order_relaxed);
  const auto took = Clock::now() - start;
  if (took > options.stall_after)
    log::warn("audit log: a write to " + primary->label() + " took " + seconds_text(took));
  return accepted;
}

// Decides what each record of the batch is, numbers it, and writes it. A record whose caller waits
// becomes the denial when the primary sink fails (OnFailure::Deny) or its deadline passed; if the sink
// fails in the middle of the batch, the rest is numbered again as what it now is.
void AuditLog::State::process(std::vector<Queued>& batch) {
  size_t start = 0;
  while (start < batch.size()) {
    std::string cause;
    const bool outage = primary_failing.load(std::memory_order_relaxed);
    if (outage) {
      std::lock_guard lock(status_mu);
      cause = failure_cause;
    }
    const auto now = Clock::now();
    out.clear();
    ends.clear();
    digests.clear();
    const uint64_t first_seq = seq + 1;
    const std::string prev_before = prev_hex;
    for (size_t i = start; i < batch.size(); ++i) {
      Queued& q = batch[i];
      if (q.done && q.record.decision != "deny") {
        if (outage && options.on_failure == OnFailure::Deny) {
          refuse(q.record, cause);
          q.refused = true;
        } else if (now > q.deadline) {
          refuse(q.record, primary->label() + " did not take it before the review's deadline");
          q.refused = true;
        }
        if (q.refused) refused.fetch_add(1, std::memory_order_relaxed);
      }
      append_line(q.record);
    }
    const size_t count = batch.size() - start;
    if (outage) {
      keep(first_seq, 0);
      offer_secondary(first_seq, 0, count);
      acknowledge(batch, start, batch.size());
      return;
    }
    std::string error;
    const size_t accepted = write_primary(error);
    written.fetch_add(accepted, std::memory_order_relaxed);
    offer_secondary(first_seq, 0, accepted);
    acknowledge(batch, start, start + accepted);
    if (accepted == count) return;
    begin_outage(error);
    seq = first_seq - 1 + accepted;
    prev_hex = accepted == 0 ? prev_before : to_hex(digests[accepted - 1]);
    start += accepted;
  }
}

// Lines `from`.. of `out` (seqs from first_seq + from) wait for the failing primary, or are lost to it.
void AuditLog::State::keep(uint64_t first_seq, size_t from) {
  const int64_t now_us = now_unix_us();
  std::string cause;
  for (size_t i = from; i < ends.size(); ++i) {
    const uint64_t line_seq = first_seq + i;
    primary_counts.unwritten.fetch_add(1, std::memory_order_relaxed);
    if (!loss && backlog.size() < options.backlog_capacity) {
      const size_t begin = i == 0 ? 0 : ends[i - 1];
      backlog.emplace_back(out, begin, ends[i] - begin);
      continue;
    }
    if (!loss) {
      if (cause.empty()) {
        std::lock_guard lock(status_mu);
        cause = failure_cause;
      }
      loss = Gap{primary_kind, line_seq, line_seq, cause, now_us, now_us};
      log::error("audit log: " + primary->label() + ": " + std::to_string(backlog.size()) +
                 " records wait for it, the most kept; from seq " + std::to_string(line_seq) +
                 " on, records are lost to it until it writes again (counted; a gap record will say which)");
    }
    loss->last = line_seq;
    loss->to_us = now_us;
    primary_counts.lost.fetch_add(1, std::memory_order_relaxed);
  }
  primary_counts.backlog.store(backlog.size(), std::memory_order_relaxed);
}

void AuditLog::State::offer_secondary(uint64_t first_seq, size_t from, size_t to) {
  if (!secondary) return;
  const int64_t now_us = now_unix_us();
  for (size_t i = from; i < to; ++i) {
    const size_t begin = i == 0 ? 0 : ends[i - 1];
    secondary->offer(std::string_view(out).substr(begin, ends[i] - begin), first_seq + i, now_us);
  }
}

void AuditLog::State::acknowledge(std::vector<Queued>& batch, size_t from, size_t to) {
  ConfirmationBatch confirmations;  // the receivers wake their threads once, when it ends
  for (size_t i = from; i < to; ++i) {
    Queued& q = batch[i];
    if (!q.done) continue;
    RecordOutcome outcome;
    outcome.refused = q.refused;
    if (q.refused) outcome.message = q.record.message;
    q.done(std::move(outcome));
    q.done = nullptr;
  }
}

void AuditLog::State::begin_outage(const std::string& error) {
  errors.fetch_add(1, std::memory_order_relaxed);
  const auto now = Clock::now();
  next_retry = now + options.retry_interval;
  if (primary_failing.load(std::memory_order_relaxed)) {
    std::lock_guard lock(status_mu);
    failure_cause = error;
    return;
  }
  {
    std::lock_guard lock(status_mu);
    failure_cause = error;
    failing_since = now;
  }
  primary_failing.store(true, std::memory_order_release);
  primary_counts.up.store(false, std::memory_order_relaxed);
  outages.fetch_add(1, std::memory_order_relaxed);
  next_outage_log = now + options.outage_log_interval;
  refused_before_outage = refused.load(std::memory_order_relaxed);
  lost_before_outage = primary_counts.lost.load(std::memory_order_relaxed);
  log::error("audit log: " + error + "; /readyz is false and reviews are " +
             (options.on_failure == OnFailure::Deny ? "denied" : "allowed (recorded to the other sinks)") +
             " until it writes again; up to " + std::to_string(options.backlog_capacity) +
             " records are kept for it");
}

// Writes what the failing primary did not take, in order; then, if lines were lost to it, the gap record
// that says which. Only then is the outage over, so the file never misses a line it is not told about.
void AuditLog::State::retry_primary(Clock::time_point now) {
  next_retry = now + options.retry_interval;
  uint64_t written_now = 0;
  while (!backlog.empty()) {
    out.clear();
    ends.clear();
    for (auto it = backlog.begin(); it != backlog.end(); ++it) {
      if (!out.empty() && out.size() + it->size() > kMaxWriteBytes) break;
      out += *it;
      ends.push_back(out.size());
    }
    std::string error;
    const size_t accepted = write_primary(error);
    backlog.erase(backlog.begin(), backlog.begin() + static_cast<std::ptrdiff_t>(accepted));
    primary_counts.backlog.store(backlog.size(), std::memory_order_relaxed);
    written.fetch_add(accepted, std::memory_order_relaxed);
    written_now += accepted;
    if (accepted < ends.size()) {
      begin_outage(error);
      return;
    }
  }
  if (loss) {
    Gap gap = std::move(*loss);
    loss.reset();
    emit_gap(gap, true);
    if (primary_failing.load(std::memory_order_relaxed) && !backlog.empty()) return;
  } else if (written_now == 0) {
    if (Status probed = primary->probe(); !probed) {
      begin_outage(probed.error());
      return;
    }
  }
  end_outage(now);
}

// A gap record goes into the chain like a record: to the primary and to stdout. `direct`: the primary
// takes it now (its own gap, once its backlog is written); else it queues behind what the primary holds.
void AuditLog::State::emit_gap(const Gap& gap, bool direct) {
  out.clear();
  ends.clear();
  digests.clear();
  const uint64_t first_seq = seq + 1;
  append_gap(gap);
  log::warn("audit log: records seq " + std::to_string(gap.first) + ".." + std::to_string(gap.last) +
            " were lost to " + gap.sink + " (" + gap.cause + "); gap record seq " +
            std::to_string(first_seq));
  if (!direct) {
    keep(first_seq, 0);
  } else {
    std::string error;
    const size_t accepted = write_primary(error);
    written.fetch_add(accepted, std::memory_order_relaxed);
    if (accepted == 0) {
      begin_outage(error);
      keep(first_seq, 0);
    }
  }
  offer_secondary(first_seq, 0, 1);
}

void AuditLog::State::end_outage(Clock::time_point now) {
  Clock::duration lasted{};
  {
    std::lock_guard lock(status_mu);
    lasted = now - failing_since;
    failure_cause.clear();
  }
  primary_failing.store(false, std::memory_order_release);
  primary_counts.up.store(true, std::memory_order_relaxed);
  const uint64_t lost = primary_counts.lost.load(std::memory_order_relaxed) - lost_before_outage;
  const uint64_t denied = refused.load(std::memory_order_relaxed) - refused_before_outage;
  log::warn("audit log: " + primary->label() + " is written again after " + seconds_text(lasted) +
            "; the records kept for it are written" +
            (lost > 0 ? ", " + std::to_string(lost) + " were lost to it (a gap record says which)" : "") +
            "; " + std::to_string(denied) + " reviews were denied for the outage");
  last_sync = now;
}

void AuditLog::State::maintain(Clock::time_point now) {
  if (primary_failing.load(std::memory_order_relaxed)) {
    if (now >= next_retry) retry_primary(now);
    if (primary_failing.load(std::memory_order_relaxed) && now >= next_outage_log) {
      next_outage_log = now + options.outage_log_interval;
      std::string cause;
      Clock::duration lasted{};
      {
        std::lock_guard lock(status_mu);
        cause = failure_cause;
        lasted = now - failing_since;
      }
      log::error("audit log: still failing after " + seconds_text(lasted) + " (" + cause +
                 "): " + std::to_string(backlog.size()) + " records wait for it, " +
                 std::to_string(primary_counts.lost.load(std::memory_order_relaxed) - lost_before_outage) +
                 " lost, " + std::to_string(refused.load(std::memory_order_relaxed) - refused_before_outage) +
                 " reviews denied");
    }
  } else if (now - last_sync >= options.flush_interval) {
    last_sync = now;
    write_started_ns.store(steady_ns(now), std::memory_order_relaxed);
    Status synced = options.durability == Durability::Synced ? Status{} : primary->sync();
    if (synced) synced = primary->check();
    write_started_ns.store(0, std::memory_order_relaxed);
    if (!synced) begin_outage(synced.error());
  }
  if (secondary) {
    secondary->pump(now);
    if (auto gap = secondary->take_gap()) emit_gap(*gap, !primary_failing.load(std::memory_order_relaxed));
  }
}

void AuditLog::State::finish() {
  {
    std::lock_guard lock(mu);
    in_writer = 0;
    depth.store(0, std::memory_order_relaxed);
  }
  const auto deadline = close_started + options.close_timeout;
  while (primary_failing.load(std::memory_order_relaxed) && Clock::now() < deadline) {
    std::this_thread::sleep_until(std::min(next_retry, deadline));
    retry_primary(Clock::now());
  }
  while (secondary && secondary->holds_lines() && !secondary->broken() && Clock::now() < deadline) {
    secondary->pump(Clock::now());
    if (secondary->holds_lines()) std::this_thread::sleep_for(kStreamPoll);
  }
  if (primary_failing.load(std::memory_order_relaxed) && !backlog.empty()) {
    primary_counts.lost.fetch_add(backlog.size(), std::memory_order_relaxed);
    std::string cause;
    {
      std::lock_guard lock(status_mu);
      cause = failure_cause;
    }
    log::error("audit log: shutting down with " + std::to_string(backlog.size()) + " records " +
               primary->label() + " did not take (" + cause + ")" +
               (secondary ? "; stdout carried them" : "; they follow on stderr, one per line"));
    if (!secondary) {
      for (const auto& line : backlog) {
        ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
        (void)ignored;
      }
    }
    backlog.clear();
    primary_counts.backlog.store(0, std::memory_order_relaxed);
  }
  if (secondary && secondary->holds_lines()) {
    const uint64_t held = secondary->give_up_lines();
    log::error("audit log: shutting down with " + std::to_string(held) + " records stdout did not take");
  }
  if (!primary_failing.load(std::memory_order_relaxed)) {
    if (Status synced = primary->sync(); !synced) report_error(synced.error());
  }
  if (secondary) {
    if (Status synced = secondary->sync(); !synced) report_error(synced.error());
    secondary->release();
  }
  primary->release();
  {
    std::lock_guard lock(mu);
    finished = true;
  }
  finished_cv.notify_all();
}

Result<std::unique_ptr<AuditLog>> AuditLog::open(Options options) {
  if (!options.to_stdout && options.file.empty()) {
    return Error{"audit log: no sink; give --audit-stdout and/or --audit-file PATH"};
  }
  if (options.max_files < 1) return Error{"audit log: --audit-max-files must be at least 1"};
  if (options.max_file_bytes < 4096) return Error{"audit log: --audit-max-size must be at least 4 KiB"};
  if (options.queue_capacity < 1) return Error{"audit log: the queue capacity must be at least 1"};
  if (options.backlog_capacity < 1) return Error{"audit log: --audit-backlog must be at least 1"};
  if (options.flush_interval.count() <= 0 || options.retry_interval.count() <= 0) {
    return Error{"audit log: the flush and retry intervals must be positive"};
  }

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
    auto file = std::make_unique<FileSink>(options.file, options.max_file_bytes, options.max_files);
    Status opened = file->open();
    if (!opened) return Error{opened.error()};
    file->set_last_line(start->active_last_line);
    if (start->torn_bytes > 0) {
      log::warn("audit log: " + options.file + ": the last line is an unfinished record (" +
                std::to_string(start->torn_bytes) +
                " bytes, an interrupted write); keeping it and continuing the chain in a new file from seq " +
                std::to_string(start->seq));
      Status rotated = file->rotate();
      if (!rotated) return Error{rotated.error()};
    }
    state->primary = std::move(file);
    if (options.to_stdout) {
      state->secondary = std::make_unique<StreamSink>(options.stdout_fd, options.backlog_capacity,
                                                      options.retry_interval, state->give_up);
    }
  } else {
    state->primary = std::make_unique<StreamSink>(options.stdout_fd, options.backlog_capacity,
                                                  options.retry_interval, state->give_up);
  }
  state->primary_kind = std::string(state->primary->kind());
  state->options = std::move(options);
  state->pending.reserve(std::min<size_t>(state->options.queue_capacity, kRetainedBatchCapacity));
  state->wake_threshold = std::clamp<size_t>(state->options.queue_capacity / 2, 1, kMaxWakeThreshold);
  State* raw = state.get();
  state->writer = std::thread([raw] {
    // The writer yields to the I/O threads: woken for a batch, it does not preempt the thread that woke it,
    // but runs when that one waits (or at its next tick), so a batch holds everything the I/O thread had
    // to hand over, and a server on one core switches threads once per batch, not once per review.
    sched_param unused{};
    pthread_setschedparam(pthread_self(), SCHED_BATCH, &unused);
    raw->run();
  });
  return std::unique_ptr<AuditLog>(new AuditLog(std::move(state)));
}

AuditLog::AuditLog(std::unique_ptr<State> state) : owned_(std::move(state)), state_(owned_.get()) {}

AuditLog::~AuditLog() {
  close();
}

std::optional<RecordOutcome> AuditLog::submit(Record&& record, Clock::time_point deadline, RecordDone done,
                                              bool wake) {
  State& s = *state_;
  std::optional<RecordOutcome> outcome;
  std::string cause;
  if (s.failing(cause)) {
    // The answer is known now: no waiting for a sink that cannot take the record.
    outcome.emplace();
    if (s.options.on_failure == OnFailure::Deny && record.decision != "deny") {
      outcome->refused = true;
      outcome->message = refuse(record, cause);
      s.refused.fetch_add(1, std::memory_order_relaxed);
    }
    done = nullptr;
  }
  std::unique_lock lock(s.mu);
  if (s.stopped) {
    lock.unlock();
    s.report_error("a record was submitted after close(); it was not written (uid " +
                   record.uid.substr(0, 64) + ")");
    return RecordOutcome{true,
                         "gitgate: the audit log is closed (the server is stopping); nothing is admitted "
                         "unrecorded. Try again."};
  }
  if (!outcome && s.options.durability == Durability::Async &&
      s.pending.size() + s.in_writer < s.options.queue_capacity) {
    outcome.emplace();
    done = nullptr;
  }
  const bool waits = static_cast<bool>(done);
  s.pending.push_back(Queued{std::move(record), deadline, std::move(done)});
  s.depth.store(s.pending.size() + s.in_writer, std::memory_order_relaxed);
  // A futex wake costs the request thread a system call (and a context switch on a one-core server): a
  // record someone waits for wakes the writer when the caller says so (once for its batch), one nobody
  // waits for only when the writer is idle or a batch is due.
  bool notify;
  if (waits) {
    ++s.waiting;
    notify = wake && s.writer_waiting;
  } else {
    notify = s.writer_idle || s.pending.size() == s.wake_threshold;
  }
  if (notify) s.writer_idle = false;
  lock.unlock();
  if (notify) s.has_work.notify_one();
  return outcome;
}

void AuditLog::submit(Record&& record) {
  State& s = *state_;
  std::unique_lock lock(s.mu);
  if (s.stopped) {
    lock.unlock();
    s.report_error("a record was submitted after close(); it was not written (uid " +
                   record.uid.substr(0, 64) + ")");
    return;
  }
  s.pending.push_back(Queued{std::move(record), {}, nullptr});
  s.depth.store(s.pending.size() + s.in_writer, std::memory_order_relaxed);
  bool notify = s.writer_idle || s.pending.size() == s.wake_threshold;
  if (notify) s.writer_idle = false;
  lock.unlock();
  if (notify) s.has_work.notify_one();
}

void AuditLog::wake() {
  State& s = *state_;
  std::unique_lock lock(s.mu);
  const bool notify = s.waiting > 0 && s.writer_waiting;
  lock.unlock();
  if (notify) s.has_work.notify_one();
}

void AuditLog::close() {
  State& s = *state_;
  std::lock_guard guard(s.close_mu);
  if (!s.writer.joinable()) return;
  {
    std::lock_guard lock(s.mu);
    s.closing = true;
    s.close_started = Clock::now();
  }
  s.has_work.notify_one();
  // The writer gives a failing sink up by itself at close_timeout. A write(2) that never returns (a hung
  // network file system) cannot be given up on: past a grace period, the process exits without it.
  std::unique_lock lock(s.mu);
  auto done = [&] { return s.finished; };
  if (!s.finished_cv.wait_for(lock, s.options.close_timeout + kCloseGrace, done)) {
    s.give_up.store(true, std::memory_order_relaxed);
    if (!s.finished_cv.wait_for(lock, kCloseGrace, done)) {
      lock.unlock();
      log::error("audit log: the writer is stuck in a write to " + s.primary->label() +
                 " that does not return; stopping without it (what it holds is lost)");
      s.writer.detach();
      static_cast<void>(owned_.release());  // the stuck thread still uses it
      return;
    }
  }
  lock.unlock();
  s.writer.join();
}

bool AuditLog::available(std::string& why) const {
  const State& s = *state_;
  std::string cause;
  if (!s.failing(cause)) return true;
  why = "audit log unavailable: " + cause + " (" + std::to_string(s.primary_counts.backlog.load()) +
        " records wait for it, " + std::to_string(s.primary_counts.lost.load()) + " lost)";
  return false;
}

AuditLog::Stats AuditLog::stats() const {
  const State& s = *state_;
  Stats stats;
  stats.queue_depth = s.depth.load(std::memory_order_relaxed);
  stats.records_written = s.written.load(std::memory_order_relaxed);
  stats.write_errors = s.errors.load(std::memory_order_relaxed);
  stats.refused = s.refused.load(std::memory_order_relaxed);
  stats.outages = s.outages.load(std::memory_order_relaxed);
  std::string cause;
  const bool failing = s.failing(cause);
  if (s.primary_failing.load(std::memory_order_acquire)) {
    std::lock_guard lock(s.status_mu);
    stats.outage_seconds = std::chrono::duration<double>(Clock::now() - s.failing_since).count();
  }
  auto sink = [](std::string name, const SinkCounters& c, bool up) {
    SinkStats out;
    out.name = std::move(name);
    out.up = up;
    out.backlog = c.backlog.load(std::memory_order_relaxed);
    out.unwritten = c.unwritten.load(std::memory_order_relaxed);
    out.lost = c.lost.load(std::memory_order_relaxed);
    return out;
  };
  stats.sinks.push_back(sink(s.primary_kind, s.primary_counts, !failing));
  if (s.secondary)
    stats.sinks.push_back(sink("stdout", s.secondary->counters, s.secondary->counters.up.load()));
  return stats;
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
