#include "audit/reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "audit/record.h"

namespace gitgate::audit {
namespace {

constexpr size_t kReadChunk = 256 * 1024;

std::string errno_text() {
  return std::strerror(errno);
}

ssize_t read_retrying(int fd, char* data, size_t size) {
  ssize_t n;
  do {
    n = ::read(fd, data, size);
  } while (n < 0 && errno == EINTR);
  return n;
}

}  // namespace

LogFileReader::LogFileReader(std::string path, int fd, size_t first_chunk)
    : path_(std::move(path)), fd_(fd), chunk_(first_chunk) {}

LogFileReader::LogFileReader(LogFileReader&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(std::exchange(other.fd_, -1)),
      buffer_(std::move(other.buffer_)),
      begin_(other.begin_),
      end_(other.end_),
      chunk_(other.chunk_),
      eof_(other.eof_),
      number_(other.number_),
      error_(std::move(other.error_)) {}

LogFileReader::~LogFileReader() {
  if (fd_ >= 0) ::close(fd_);
}

Result<LogFileReader> LogFileReader::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error{path + ": cannot open: " + errno_text()};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Error{path + ": not a regular file"};
  }
  // One byte more than the file holds, so a file that did not grow is read to its end in one call.
  const auto size = static_cast<uint64_t>(st.st_size);
  return LogFileReader(path, fd, static_cast<size_t>(std::clamp<uint64_t>(size + 1, 4096, kReadChunk)));
}

// Moves unread bytes to the front and reads one more chunk; false at the end of the file or on error.
bool LogFileReader::fill() {
  if (eof_) return false;
  if (begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (buffer_.size() < end_ + chunk_) buffer_.resize(end_ + chunk_);
  ssize_t n = read_retrying(fd_, buffer_.data() + end_, chunk_);
  if (n < 0) {
    error_ = path_ + ": read failed: " + errno_text();
    eof_ = true;
    return false;
  }
  if (n == 0) {
    eof_ = true;
    return false;
  }
  // A full chunk: the file is longer than it was at open (or is being written), so read in full chunks.
  if (static_cast<size_t>(n) == chunk_) chunk_ = kReadChunk;
  end_ += static_cast<size_t>(n);
  return true;
}

bool LogFileReader::next(LogLine& line) {
  bool too_long = false;
  size_t scan_from = begin_;
  for (;;) {
    const void* newline = std::memchr(buffer_.data() + scan_from, '\n', end_ - scan_from);
    if (newline != nullptr) {
      size_t at = static_cast<size_t>(static_cast<const char*>(newline) - buffer_.data());
      line.number = ++number_;
      line.terminated = true;
      line.too_long = too_long || at - begin_ > kMaxLineBytes;
      line.text = line.too_long ? std::string_view() : std::string_view(buffer_.data() + begin_, at - begin_);
      begin_ = at + 1;
      return true;
    }
    // Keep memory bounded: drop what is already known to be an over-long line.
    if (end_ - begin_ > kMaxLineBytes) {
      too_long = true;
      begin_ = end_;
    }
    const size_t scanned = end_ - begin_;
    if (!fill()) break;
    scan_from = scanned;  // fill() moved the unread bytes to the front
  }
  if (end_ == begin_ && !too_long) return false;
  line.number = ++number_;
  line.terminated = false;
  line.too_long = too_long || end_ - begin_ > kMaxLineBytes;
  line.text = line.too_long ? std::string_view() : std::string_view(buffer_.data() + begin_, end_ - begin_);
  begin_ = end_;
  return true;
}

namespace {

// "audit.log.3" -> ("audit.log", 3); "audit.log" -> ("audit.log", 0).
std::pair<std::string, int> rotation_of(const std::string& path) {
  size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || dot + 1 == path.size() || path.size() - dot > 6) return {path, 0};
  int n = 0;
  for (size_t i = dot + 1; i < path.size(); ++i) {
    if (path[i] < '0' || path[i] > '9') return {path, 0};
    n = n * 10 + (path[i] - '0');
  }
  return {path.substr(0, dot), n};
}

}  // namespace

Result<std::vector<std::string>> order_by_chain(std::vector<std::string> paths) {
  struct Entry {
    std::string path;
    std::optional<uint64_t> first_seq;
  };
  std::vector<Entry> with_records;
  std::vector<std::string> without_records;
  std::set<std::string> seen;
  RecordParser parser;
  for (auto& path : paths) {
    std::error_code ec;
    auto canonical = std::filesystem::weakly_canonical(path, ec).string();
    if (!seen.insert(ec ? path : canonical).second) continue;
    auto reader = LogFileReader::open(path);
    if (!reader) return std::move(reader).take_error();
    Entry entry{path, std::nullopt};
    LogLine line;
    while (!entry.first_seq && reader->next(line)) {
      if (!line.terminated || line.too_long) continue;
      if (auto chain = parser.parse_chain(line.text)) entry.first_seq = chain->seq;
    }
    if (!reader->error().empty()) return Error{reader->error()};
    if (entry.first_seq) {
      with_records.push_back(std::move(entry));
    } else {
      without_records.push_back(std::move(entry.path));
    }
  }
  std::stable_sort(with_records.begin(), with_records.end(),
                   [](const Entry& a, const Entry& b) { return *a.first_seq < *b.first_seq; });
  std::vector<std::string> out;
  out.reserve(with_records.size() + without_records.size());
  for (auto& e : with_records) out.push_back(std::move(e.path));
  // A file without a record (empty, or only an unfinished line a crash left) goes where its rotation
  // number puts it: just before the next newer file of the same log, if given; else at the end.
  for (auto& path : without_records) {
    auto [base, number] = rotation_of(path);
    auto newer = std::find_if(out.begin(), out.end(), [&, b = base, n = number](const std::string& other) {
      auto [other_base, other_number] = rotation_of(other);
      return other_base == b && other_number < n;
    });
    out.insert(newer, std::move(path));
  }
  return out;
}

Result<LogTail> read_log_tail(const std::string& path) {
  LogTail tail;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return tail;
    return Error{path + ": cannot open: " + errno_text()};
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Error{path + ": not a regular file"};
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  // The last line plus the newline before it, plus a torn tail after it: two bounded lines at most.
  const uint64_t window = std::min<uint64_t>(size, 2 * (kMaxLineBytes + 1));
  std::string data(window, '\0');
  size_t got = 0;
  while (got < window) {
    ssize_t n = ::pread(fd, data.data() + got, window - got, static_cast<off_t>(size - window + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string why = n < 0 ? errno_text() : "file shrank while reading";
      ::close(fd);
      return Error{path + ": read failed: " + why};
    }
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  const bool window_is_whole_file = window == size;
  size_t last_newline = data.rfind('\n');
  if (last_newline == std::string::npos) {
    if (!window_is_whole_file) return Error{path + ": the last line is longer than 1 MiB; not an audit log?"};
    tail.torn_bytes = data.size();
    return tail;
  }
  tail.torn_bytes = data.size() - last_newline - 1;
  size_t line_start = last_newline == 0 ? std::string::npos : data.rfind('\n', last_newline - 1);
  if (line_start == std::string::npos) {
    if (!window_is_whole_file) return Error{path + ": the last line is longer than 1 MiB; not an audit log?"};
    line_start = 0;
  } else {
    ++line_start;
  }
  tail.last_line = data.substr(line_start, last_newline - line_start);
  return tail;
}

}  // namespace gitgate::audit
