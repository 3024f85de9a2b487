// libFuzzer target: any bytes as audit log files for `gitgate audit verify` (audit::verify_chain) and the
// record reader behind `audit query` (RecordParser::parse).
//
// Input: one flag byte, then up to four files separated by '\f'. Flag bit 0: HMAC-SHA256 instead of
// SHA-256; bit 1: "rechain", where the harness rewrites every `"prev":"<64 chars>"` with the real hash of
// the line before it (across the files, in input order), so mutations reach the checks behind a valid
// chain instead of stopping at the first hash. Files are memfds named by /proc/self/fd paths.
//
// Beyond "no crash, no leak, no hang" it checks "audit log tampering always detected" (docs/design.md): when
// a chain of two or more records verifies, changing any one byte of its first record must make it fail.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "audit/chain.h"
#include "audit/record.h"
#include "audit/verify.h"

namespace {

using gitgate::audit::ChainHasher;

constexpr size_t kMaxFiles = 4;

struct MemFiles {
  std::vector<int> fds;
  std::vector<std::string> paths;

  MemFiles() {
    for (size_t i = 0; i < kMaxFiles; ++i) {
      int fd = memfd_create(("audit.log." + std::to_string(i)).c_str(), MFD_CLOEXEC);
      if (fd < 0) std::abort();
      fds.push_back(fd);
      paths.push_back("/proc/self/fd/" + std::to_string(fd));
    }
  }

  // Overwrites, then cuts to size: truncating to zero first would free and re-zero the pages each time.
  void write(size_t i, std::string_view content) {
    size_t done = 0;
    while (done < content.size()) {
      ssize_t n = pwrite(fds[i], content.data() + done, content.size() - done, static_cast<off_t>(done));
      if (n <= 0) std::abort();
      done += static_cast<size_t>(n);
    }
    if (ftruncate(fds[i], static_cast<off_t>(content.size())) != 0) std::abort();
  }
};

ChainHasher make_hasher(bool keyed) {
  auto hasher = keyed ? ChainHasher::hmac_sha256("fuzz-key") : ChainHasher::sha256();
  if (!hasher) std::abort();
  return std::move(hasher).value();
}

// Rewrites each line's prev with the hash of the line before it, so the chain links.
void rechain(std::vector<std::string>& files, ChainHasher& hasher) {
  constexpr std::string_view kPrev = "\"prev\":\"";
  std::string previous_line;
  bool have_previous = false;
  for (std::string& file : files) {
    size_t begin = 0;
    while (begin < file.size()) {
      size_t end = file.find('\n', begin);
      if (end == std::string::npos) end = file.size();
      size_t at = file.find(kPrev, begin);
      if (at != std::string::npos && at + kPrev.size() + 64 <= end) {
        std::string digest = have_previous ? gitgate::audit::to_hex(hasher.hash(previous_line))
                                           : std::string(gitgate::audit::kZeroDigestHex);
        file.replace(at + kPrev.size(), 64, digest);
      }
      previous_line.assign(file, begin, end - begin);
      have_previous = true;
      begin = end + 1;
    }
  }
}

// The line of `files` holding the record with `seq` (unique in an intact chain): file index and offsets.
bool find_record(const std::vector<std::string>& files, uint64_t seq, size_t& file, size_t& begin,
                 size_t& end) {
  gitgate::audit::RecordParser parser;
  for (file = 0; file < files.size(); ++file) {
    const std::string& text = files[file];
    for (begin = 0; begin < text.size();) {
      end = text.find('\n', begin);
      if (end == std::string::npos) break;  // an unfinished line is no record
      auto chain = parser.parse_chain(std::string_view(text).substr(begin, end - begin));
      if (chain && chain->seq == seq) return true;
      begin = end + 1;
    }
  }
  return false;
}

bool verifies(MemFiles& mem, const std::vector<std::string>& files, bool keyed,
              gitgate::audit::VerifyReport* report = nullptr) {
  std::vector<std::string> paths;
  for (size_t i = 0; i < files.size(); ++i) {
    mem.write(i, files[i]);
    paths.push_back(mem.paths[i]);
  }
  ChainHasher hasher = make_hasher(keyed);
  auto result = gitgate::audit::verify_chain(paths, hasher);
  if (!result) std::abort();  // memfds cannot fail to read: any error here is a bug
  if (result->failure) (void)result->failure->to_string();
  for (const auto& note : result->notes) (void)note.to_string();
  bool intact = result->intact();
  if (report != nullptr) *report = std::move(*result);
  return intact;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static MemFiles mem;
  if (size == 0) return 0;
  const bool keyed = (data[0] & 1) != 0;
  const bool linked = (data[0] & 2) != 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);

  std::vector<std::string> files;
  for (size_t begin = 0; files.size() < kMaxFiles;) {
    size_t end = files.size() + 1 == kMaxFiles ? std::string_view::npos : rest.find('\f', begin);
    files.emplace_back(
        rest.substr(begin, end == std::string_view::npos ? std::string_view::npos : end - begin));
    if (end == std::string_view::npos) break;
    begin = end + 1;
  }
  if (linked) {
    ChainHasher hasher = make_hasher(keyed);
    rechain(files, hasher);
  }

  gitgate::audit::RecordParser parser;
  for (const std::string& file : files) {
    for (size_t begin = 0; begin < file.size();) {
      size_t end = file.find('\n', begin);
      if (end == std::string::npos) end = file.size();
      auto record = parser.parse(std::string_view(file).substr(begin, end - begin));
      if (!record && record.error().empty()) std::abort();
      begin = end + 1;
    }
  }

  gitgate::audit::VerifyReport report;
  if (!verifies(mem, files, keyed, &report) || report.records < 2) return 0;
  size_t file = 0, begin = 0, end = 0;
  if (!find_record(files, report.first_seq, file, begin, end)) std::abort();
  if (end == begin) std::abort();  // a record is never an empty line
  size_t at = begin + (static_cast<size_t>(data[size - 1]) % (end - begin));
  char original = files[file][at];
  char changed = static_cast<char>(original ^ 0x01);
  if (changed == '\n') changed = static_cast<char>(original ^ 0x02);
  files[file][at] = changed;
  if (verifies(mem, files, keyed)) std::abort();  // tampering went undetected
  return 0;
}
