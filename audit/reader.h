// Reading audit log files back: line by line with a bound on line length, in chain order across rotated
// files, and the last complete record (where a writer continues the chain).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace gitgate::audit {

struct LogLine {
  std::string_view text;   // without the newline; valid until the next call to next()
  uint64_t number = 0;     // 1-based
  bool terminated = true;  // false for a last line without a newline: an interrupted write
  bool too_long = false;   // longer than kMaxLineBytes; `text` is empty
};

class LogFileReader {
 public:
  static Result<LogFileReader> open(const std::string& path);
  LogFileReader(LogFileReader&& other) noexcept;
  LogFileReader& operator=(LogFileReader&&) = delete;
  LogFileReader(const LogFileReader&) = delete;
  ~LogFileReader();

  // Reads the next line; false at the end of the file or on a read error (see error()).
  bool next(LogLine& line);
  const std::string& error() const { return error_; }
  const std::string& path() const { return path_; }

 private:
  LogFileReader(std::string path, int fd, size_t first_chunk);
  bool fill();

  std::string path_;
  int fd_ = -1;
  std::string buffer_;
  size_t begin_ = 0;  // first unread byte
  size_t end_ = 0;    // one past the last byte read
  size_t chunk_;      // bytes per read: the size at open (a small file needs no 256 KiB buffer), then 256 KiB
  bool eof_ = false;
  uint64_t number_ = 0;
  std::string error_;
};

// Sorts files into chain order by the seq of each file's first record (so "audit.log.3 audit.log.2
// audit.log.1 audit.log" in any order comes out oldest first). Files holding no record go last, in the
// order given. Duplicate paths are dropped.
Result<std::vector<std::string>> order_by_chain(std::vector<std::string> paths);

// The end of a log file, where a writer continues the chain.
struct LogTail {
  std::optional<std::string> last_line;  // the last complete line, if any
  uint64_t torn_bytes = 0;               // bytes after the last newline (an interrupted write)
};

// Reads the tail of `path`; a missing file is an empty tail.
Result<LogTail> read_log_tail(const std::string& path);

}  // namespace gitgate::audit
