#include "desired/helm/chart_archive.h"

#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string_view>

namespace gitgate::desired::helm {

namespace {

namespace fs = std::filesystem;
constexpr size_t kBlock = 512;

// The gzip stream of `compressed`, inflated; every member of a multi-member file, in order.
gitgate::Result<std::string> gunzip(const std::string& compressed, uint64_t limit) {
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return gitgate::Error{"cannot start zlib"};
  std::string out;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  z.avail_in = static_cast<uInt>(compressed.size());
  char buffer[64 * 1024];
  int rc = Z_OK;
  while (true) {
    z.next_out = reinterpret_cast<Bytef*>(buffer);
    z.avail_out = sizeof buffer;
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) break;
    out.append(buffer, sizeof buffer - z.avail_out);
    if (out.size() > limit) {
      inflateEnd(&z);
      return gitgate::Error{"it inflates to more than " + std::to_string(limit >> 20) + " MiB"};
    }
    if (rc == Z_STREAM_END) {
      if (z.avail_in == 0) break;
      inflateReset(&z);  // another gzip member follows
    }
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END)
    return gitgate::Error{std::string("it is not a complete gzip stream (") + (z.msg ? z.msg : "truncated") + ")"};
  return out;
}

// A tar header's octal (or GNU base-256) number field.
std::optional<uint64_t> number(std::string_view field) {
  if (!field.empty() && (static_cast<unsigned char>(field[0]) & 0x80)) {
    uint64_t value = static_cast<unsigned char>(field[0]) & 0x7f;
    for (size_t i = 1; i < field.size(); ++i) {
      if (value > (UINT64_MAX >> 8)) return std::nullopt;
      value = (value << 8) | static_cast<unsigned char>(field[i]);
    }
    return value;
  }
  uint64_t value = 0;
  bool digits = false;
  for (char c : field) {
    if (c == ' ' || c == '\0') {
      if (digits) break;
      continue;
    }
    if (c < '0' || c > '7' || value > (UINT64_MAX >> 3)) return std::nullopt;
    value = value * 8 + static_cast<uint64_t>(c - '0');
    digits = true;
  }
  return value;
}

std::string text(std::string_view field) {
  return std::string(field.substr(0, std::min(field.find('\0'), field.size())));
}

bool checksum_matches(std::string_view header) {
  auto stored = number(header.substr(148, 8));
  if (!stored) return false;
  uint64_t sum = 0;
  for (size_t i = 0; i < kBlock; ++i)
    sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(header[i]);
  return sum == *stored;
}

// The "path" record of a PAX extended header ("<length> path=<value>\n" records); "" when there is none.
std::string pax_path(std::string_view records) {
  std::string path;
  while (!records.empty()) {
    size_t space = records.find(' ');
    if (space == std::string_view::npos) break;
    size_t length = 0;
    for (char c : records.substr(0, space)) {
      if (c < '0' || c > '9' || length > records.size()) return path;
      length = length * 10 + static_cast<size_t>(c - '0');
    }
    if (length <= space + 1 || length > records.size()) break;
    std::string_view record = records.substr(space + 1, length - space - 2);  // without the newline
    if (record.starts_with("path=")) path = std::string(record.substr(5));
    records.remove_prefix(length);
  }
  return path;
}

// A relative path that stays inside the directory it is written to; "" when it does not.
std::string safe_path(std::string path) {
  while (path.starts_with("./")) path.erase(0, 2);
  if (path.empty() || path.front() == '/' || path.find('\0') != std::string::npos) return {};
  for (const auto& part : fs::path(path))
    if (part == "..") return {};
  return path;
}

}  // namespace

gitgate::Result<std::vector<ArchiveFile>> read_chart_archive(const std::string& path, const ArchiveLimits& limits) {
  const std::string where = "chart archive " + path + ": ";
  std::ifstream in(path, std::ios::binary);
  if (!in) return gitgate::Error{where + "cannot be read"};
  std::string compressed;
  char buffer[64 * 1024];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    compressed.append(buffer, static_cast<size_t>(in.gcount()));
    if (compressed.size() > limits.max_compressed_bytes)
      return gitgate::Error{where + "larger than " + std::to_string(limits.max_compressed_bytes >> 20) + " MiB"};
  }
  auto tar = gunzip(compressed, limits.max_uncompressed_bytes);
  if (!tar) return gitgate::Error{where + tar.error()};
  std::string_view stream(*tar);

  std::vector<ArchiveFile> files;
  std::string long_name;  // from a PAX or GNU header, for the entry that follows
  for (size_t at = 0;;) {
    if (at + kBlock > stream.size()) return gitgate::Error{where + "the tar stream ends inside a header"};
    std::string_view header = stream.substr(at, kBlock);
    if (header.find_first_not_of('\0') == std::string_view::npos) break;  // the end-of-archive blocks
    if (!checksum_matches(header))
      return gitgate::Error{where + "a tar header at byte " + std::to_string(at) + " has a wrong checksum"};
    auto size = number(header.substr(124, 12));
    if (!size || *size > stream.size() - at - kBlock)
      return gitgate::Error{where + "an entry at byte " + std::to_string(at) + " runs past the end"};
    std::string_view data = stream.substr(at + kBlock, *size);
    at += kBlock + (*size + kBlock - 1) / kBlock * kBlock;
    char type = header[156];
    if (type == 'x') {
      long_name = pax_path(data);
      continue;
    }
    if (type == 'L') {
      long_name = text(data);
      continue;
    }
    std::string name = text(header.substr(0, 100));
    std::string prefix = header.substr(257, 5) == "ustar" ? text(header.substr(345, 155)) : "";
    if (!prefix.empty()) name = prefix + "/" + name;
    if (!long_name.empty()) name = std::move(long_name);
    long_name.clear();
    if (type != '0' && type != '\0' && type != '7') continue;  // directories, links, global headers
    std::string safe = safe_path(name);
    if (safe.empty()) return gitgate::Error{where + "entry '" + name.substr(0, 200) + "' is not a relative path inside it"};
    if (files.size() >= limits.max_files)
      return gitgate::Error{where + "more than " + std::to_string(limits.max_files) + " files"};
    files.push_back({std::move(safe), std::string(data)});
  }
  return files;
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
