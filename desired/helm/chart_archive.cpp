#include "desired/helm/chart_archive.h"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string_view>

namespace gitgate::desired::helm {

namespace {

namespace fs = std::filesystem;
using gitgate::Error;
using gitgate::Result;
using gitgate::Status;

constexpr size_t kBlock = 512;
constexpr size_t kMaxMetaEntryBytes = size_t{1} << 20;  // a pax header or a GNU long name
constexpr size_t kSnippetBytes = 200;

// `text` safe to show in one line of error: control characters replaced, cut short.
std::string printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, kSnippetBytes)) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  if (text.size() > kSnippetBytes) out += "…";
  return out;
}


// A tar header's number: octal (space or NUL terminated) or GNU base-256.
std::optional<uint64_t> tar_number(std::string_view field) {
  if (!field.empty() && (static_cast<unsigned char>(field[0]) & 0x80) != 0) {
    if ((static_cast<unsigned char>(field[0]) & 0x40) != 0) return std::nullopt;  // negative
    uint64_t value = static_cast<unsigned char>(field[0]) & 0x3f;
    for (size_t i = 1; i < field.size(); ++i) {
      if (value > (UINT64_MAX >> 8)) return std::nullopt;
      value = (value << 8) | static_cast<unsigned char>(field[i]);
    }
    return value;
  }
  uint64_t value = 0;
  size_t i = 0;
  while (i < field.size() && field[i] == ' ') ++i;
  for (; i < field.size() && field[i] != ' ' && field[i] != '\0'; ++i) {
    if (field[i] < '0' || field[i] > '7' || value > (UINT64_MAX >> 3)) return std::nullopt;
    value = value * 8 + static_cast<uint64_t>(field[i] - '0');
  }
  return value;
}

std::string tar_text(std::string_view field) {
  return std::string(field.substr(0, field.find('\0')));
}

// The stored checksum against the header's sum (unsigned, or signed as some old tars wrote it).
bool tar_checksum_matches(std::string_view header) {
  auto stored = tar_number(header.substr(148, 8));
  if (!stored) return false;
  int64_t unsigned_sum = 0, signed_sum = 0;
  for (size_t i = 0; i < kBlock; ++i) {
    char c = (i >= 148 && i < 156) ? ' ' : header[i];
    unsigned_sum += static_cast<unsigned char>(c);
    signed_sum += static_cast<signed char>(c);
  }
  return static_cast<int64_t>(*stored) == unsigned_sum || static_cast<int64_t>(*stored) == signed_sum;
}

// A path relative to the archive's root: "./" and "/" stripped, "a//./b" read as "a/b"; ".." and NUL
// refused.
Result<std::string> normalise_path(std::string_view name) {
  if (name.find('\0') != std::string_view::npos) return Error{"holds a NUL byte"};
  std::string out;
  for (size_t at = 0; at <= name.size();) {
    size_t end = std::min(name.find('/', at), name.size());
    std::string_view part = name.substr(at, end - at);
    if (part == "..") return Error{"climbs out with '..'"};
    if (!part.empty() && part != ".") out += (out.empty() ? "" : "/") + std::string(part);
    at = end + 1;
  }
  return out;
}

const char* skipped_because(char type) {
  switch (type) {
    case '1':
      return "hard link, not extracted";
    case '2':
      return "symbolic link, not extracted";
    case '3':
      return "character device, not extracted";
    case '4':
      return "block device, not extracted";
    case '6':
      return "fifo, not extracted";
    default:
      return nullptr;
  }
}

// Reads a tar stream handed over in pieces of any size, keeping its regular files in `out`.
class TarReader {
 public:
  TarReader(const ArchiveLimits& limits, Archive& out) : limits_(limits), out_(out) {}

  Status feed(std::string_view bytes) {
    while (!bytes.empty() && !ended_) {
      size_t n = 0;
      if (data_left_ > 0) {
        n = static_cast<size_t>(std::min<uint64_t>(data_left_, bytes.size()));
        if (sink_ != nullptr) sink_->append(bytes.substr(0, n));
        data_left_ -= n;
      } else if (padding_left_ > 0) {
        n = static_cast<size_t>(std::min<uint64_t>(padding_left_, bytes.size()));
        padding_left_ -= n;
      } else {
        n = std::min(kBlock - header_.size(), bytes.size());
        header_.append(bytes.substr(0, n));
      }
      bytes.remove_prefix(n);
      offset_ += n;
      if (header_.size() == kBlock) {
        header_offset_ = offset_ - kBlock;
        Status started = start_entry(header_);
        header_.clear();
        if (!started) return started;
      }
      if (in_entry_ && data_left_ == 0) {
        if (Status finished = finish_entry(); !finished) return finished;
      }
    }
    return Status::Ok();
  }

  // The stream ended: it may stop after the end-of-archive block or between entries, not inside one.
  Status finish() const {
    if (ended_ || (header_.empty() && !in_entry_ && padding_left_ == 0)) return Status::Ok();
    if (!header_.empty())
      return Error{"the tar stream ends inside the header at byte " +
                   std::to_string(offset_ - header_.size()) +
                   (offset_ == header_.size() ? " (not a tar stream?)" : "")};
    return Error{"the tar stream ends inside the entry at byte " + std::to_string(header_offset_)};
  }

 private:
  enum class Kind { Dropped, File, Pax, LongName };

  Status start_entry(std::string_view header) {
    if (header.find_first_not_of('\0') == std::string_view::npos) {
      ended_ = true;  // the end-of-archive block; what follows it is padding
      return Status::Ok();
    }
    const std::string at = "the tar entry at byte " + std::to_string(header_offset_);
    if (!tar_checksum_matches(header)) return Error{at + " has a wrong header checksum (not a tar stream?)"};
    auto size = tar_number(header.substr(124, 12));
    if (!size) return Error{at + " has an unreadable size"};
    const char type = header[156];
    const bool meta = type == 'x' || type == 'g' || type == 'L' || type == 'K';
    if (!meta && next_size_) size = next_size_;
    if (*size > limits_.max_uncompressed_bytes - std::min<uint64_t>(offset_, limits_.max_uncompressed_bytes))
      return Error{"it inflates to more than " + std::to_string(limits_.max_uncompressed_bytes) +
                   " bytes"};
    data_left_ = *size;
    padding_left_ = (kBlock - *size % kBlock) % kBlock;
    in_entry_ = true;
    kind_ = Kind::Dropped;
    sink_ = nullptr;

    if (type == 'x' || type == 'L') {
      if (*size > kMaxMetaEntryBytes)
        return Error{at + " has a " + (type == 'x' ? "pax header" : "long name") + " larger than 1 MiB"};
      kind_ = type == 'x' ? Kind::Pax : Kind::LongName;
      meta_.clear();
      sink_ = &meta_;
      return Status::Ok();
    }
    if (meta) return Status::Ok();  // a global pax header or a GNU long link name: nothing we use

    std::string name = tar_text(header.substr(0, 100));
    if (header.substr(257, 6) == std::string_view("ustar\0", 6)) {  // POSIX ustar: a prefix field
      std::string prefix = tar_text(header.substr(345, 155));
      if (!prefix.empty()) name = prefix + "/" + name;
    }
    if (next_path_) name = std::move(*next_path_);
    next_path_.reset();
    next_size_.reset();
    auto path = normalise_path(name);
    if (!path) return Error{at + " '" + printable(name) + "' " + path.error()};
    if (type == '5') return Status::Ok();  // directories exist through their files
    if (path->empty()) return Error{at + " has an empty name"};
    if (type == '0' || type == '\0') {
      if (index_.find(*path) == index_.end()) {
        if (Status counted = count(); !counted) return counted;
      }
      auto mode = tar_number(header.substr(100, 8));
      file_ = ArchiveFile{std::move(*path), {}, mode && (*mode & 0111) != 0};
      file_.data.reserve(static_cast<size_t>(*size));
      kind_ = Kind::File;
      sink_ = &file_.data;
      return Status::Ok();
    }
    if (Status counted = count(); !counted) return counted;
    const char* why = skipped_because(type);
    out_.skipped.push_back(
        printable(*path) + ": " +
        (why != nullptr ? why : "entry type '" + printable(std::string(1, type)) + "', not extracted"));
    return Status::Ok();
  }

  Status finish_entry() {
    in_entry_ = false;
    sink_ = nullptr;
    switch (kind_) {
      case Kind::Pax:
        return read_pax();
      case Kind::LongName: {
        std::string name = meta_.substr(0, meta_.find_last_not_of('\0') + 1);
        if (name.find('\0') != std::string::npos)
          return Error{"the long name at byte " + std::to_string(header_offset_) + " holds a NUL byte"};
        next_path_ = std::move(name);
        return Status::Ok();
      }
      case Kind::File: {
        auto [it, inserted] = index_.try_emplace(file_.path, out_.files.size());
        if (inserted) {
          out_.files.push_back(std::move(file_));
        } else {
          out_.files[it->second] = std::move(file_);  // a later entry replaces the earlier, as tar does
        }
        return Status::Ok();
      }
      case Kind::Dropped:
        return Status::Ok();
    }
    return Status::Ok();
  }

  // Records "<length> <key>=<value>\n"; `path` and `size` apply to the next entry.
  Status read_pax() {
    const std::string bad = "the pax header at byte " + std::to_string(header_offset_) + " is malformed";
    std::string_view records(meta_);
    while (!records.empty()) {
      size_t space = records.find(' ');
      if (space == std::string_view::npos || space == 0 || space > 8) return Error{bad};
      size_t length = 0;
      for (char c : records.substr(0, space)) {
        if (c < '0' || c > '9') return Error{bad};
        length = length * 10 + static_cast<size_t>(c - '0');
      }
      if (length <= space + 1 || length > records.size() || records[length - 1] != '\n') return Error{bad};
      std::string_view record = records.substr(space + 1, length - space - 2);
      size_t equals = record.find('=');
      if (equals == std::string_view::npos) return Error{bad};
      std::string_view key = record.substr(0, equals), value = record.substr(equals + 1);
      if (key == "path") {
        if (value.find('\0') != std::string_view::npos) return Error{bad + ": its path holds a NUL byte"};
        next_path_ = std::string(value);
      } else if (key == "size") {
        uint64_t size = 0;
        if (value.empty() || value.size() > 18 ||
            value.find_first_not_of("0123456789") != std::string_view::npos)
          return Error{bad + ": its size is not a number"};
        for (char c : value) size = size * 10 + static_cast<uint64_t>(c - '0');
        next_size_ = size;
      }
      records.remove_prefix(length);
    }
    return Status::Ok();
  }

  Status count() {
    if (out_.files.size() + out_.skipped.size() >= limits_.max_files)
      return Error{"it has more than " + std::to_string(limits_.max_files) + " entries"};
    return Status::Ok();
  }

  const ArchiveLimits& limits_;
  Archive& out_;
  std::string header_;          // the header block being read
  uint64_t offset_ = 0;         // bytes of the stream read so far
  uint64_t header_offset_ = 0;  // where the current entry's header starts
  uint64_t data_left_ = 0;      // the current entry's data still to come
  uint64_t padding_left_ = 0;   // then zeros up to the next block
  bool in_entry_ = false;
  bool ended_ = false;
  Kind kind_ = Kind::Dropped;
  std::string* sink_ = nullptr;           // where the current entry's data goes; null to drop it
  ArchiveFile file_;                             // the regular file being read
  std::string meta_;                      // a pax header's records or a GNU long name being read
  std::optional<std::string> next_path_;  // from a pax header or GNU long name, for the next entry
  std::optional<uint64_t> next_size_;
  std::map<std::string, size_t> index_;  // path → position in out_.files
};

// Inflates the gzip stream (every member, as Go's gzip reader does) into the tar reader, at most `limit`
// bytes.
Status gunzip_into(std::string_view compressed, uint64_t limit, TarReader& tar) {
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return Error{"cannot start zlib"};
  std::unique_ptr<z_stream, int (*)(z_stream*)> cleanup(&z, inflateEnd);
  std::vector<char> buffer(256 * 1024);
  size_t fed = 0, produced_total = 0;
  auto refill = [&] {
    size_t n = std::min<size_t>(compressed.size() - fed, UINT_MAX);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data() + fed));
    z.avail_in = static_cast<uInt>(n);
    fed += n;
  };
  refill();
  for (;;) {
    z.next_out = reinterpret_cast<Bytef*>(buffer.data());
    z.avail_out = static_cast<uInt>(buffer.size());
    int rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
      return Error{std::string("the gzip stream is corrupt (") + (z.msg != nullptr ? z.msg : "zlib error") +
                   ")"};
    size_t produced = buffer.size() - z.avail_out;
    produced_total += produced;
    if (produced_total > limit)
      return Error{"it inflates to more than " + std::to_string(limit) + " bytes"};
    if (Status fed_tar = tar.feed(std::string_view(buffer.data(), produced)); !fed_tar) return fed_tar;
    if (rc == Z_STREAM_END) {
      if (z.avail_in == 0 && fed == compressed.size()) return tar.finish();
      inflateReset(&z);  // another gzip member follows
      continue;
    }
    if (z.avail_in == 0) {
      if (fed < compressed.size()) {
        refill();
      } else if (produced == 0) {
        return Error{"the gzip stream is truncated"};
      }
    }
  }
}

}  // namespace

Result<Archive> read_tar_gz(std::string_view compressed, const ArchiveLimits& limits) {
  if (compressed.size() > limits.max_compressed_bytes)
    return Error{"larger than " + std::to_string(limits.max_compressed_bytes) + " bytes"};
  Archive archive;
  TarReader tar(limits, archive);
  if (Status done = gunzip_into(compressed, limits.max_uncompressed_bytes, tar); !done) return Error{done.error()};
  return archive;
}

Result<std::vector<ArchiveFile>> read_chart_archive(const std::string& path, const ArchiveLimits& limits) {
  const std::string where = "chart archive " + path + ": ";
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{where + "cannot be read"};
  std::string compressed;
  char buffer[64 * 1024];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    compressed.append(buffer, static_cast<size_t>(in.gcount()));
    if (compressed.size() > limits.max_compressed_bytes)
      return Error{where + "larger than " + std::to_string(limits.max_compressed_bytes >> 20) + " MiB"};
  }
  auto archive = read_tar_gz(compressed, limits);
  if (!archive) return Error{where + archive.error()};
  return std::move(archive->files);
}

std::string chart_root(const std::vector<ArchiveFile>& files) {
  for (const auto& file : files)
    if (auto slash = file.path.find('/'); slash != std::string::npos && file.path.substr(slash) == "/Chart.yaml")
      return file.path.substr(0, slash);
  return {};
}

const ArchiveFile* chart_file(const std::vector<ArchiveFile>& files, const std::string& root,
                              const std::string& path) {
  const std::string wanted = root + "/" + path;
  // The last of equal paths wins, as when the archive is unpacked.
  for (auto it = files.rbegin(); it != files.rend(); ++it)
    if (it->path == wanted) return &*it;
  return nullptr;
}

gitgate::Status write_files(const std::vector<ArchiveFile>& files, const std::string& directory) {
  for (const auto& file : files) {
    fs::path target = fs::path(directory) / file.path;
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    if (ec) return gitgate::Error{"cannot create " + target.parent_path().string() + ": " + ec.message()};
    std::ofstream out(target, std::ios::binary | std::ios::trunc);
    out.write(file.data.data(), static_cast<std::streamsize>(file.data.size()));
    if (!out) return gitgate::Error{"cannot write " + target.string()};
  }
  return gitgate::Status::Ok();
}

}  // namespace gitgate::desired::helm
