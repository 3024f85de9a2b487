// libFuzzer target: any bytes as the tar stream of a .tgz (desired::helm::read_tar_gz, which reads chart
// archives and OCI artifacts' layers, both from registries gitgate does not control). The input is gzipped
// here so the fuzzer works on tar headers, not deflate. Beyond "no crash, no hang": what is read stays inside
// the directory it would be written to, each path once, within the limits.
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>

#include "desired/helm/chart_archive.h"

namespace {

std::string gzip(const uint8_t* data, size_t size) {
  z_stream z{};
  if (deflateInit2(&z, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) std::abort();
  std::string out(deflateBound(&z, size) + 64, '\0');
  z.next_in = const_cast<Bytef*>(data);
  z.avail_in = static_cast<uInt>(size);
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) std::abort();
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 256 * 1024) return 0;
  gitgate::desired::helm::ArchiveLimits limits{1u << 20, 128u << 10, 64};
  auto archive = gitgate::desired::helm::read_tar_gz(gzip(data, size), limits);
  if (!archive) return 0;
  std::set<std::string> seen;
  uint64_t bytes = 0;
  for (const auto& file : archive->files) {
    const std::string& p = file.path;
    if (p.empty() || p.front() == '/' || p.find('\0') != std::string::npos || p == ".." ||
        p.starts_with("../") || p.ends_with("/..") || p.find("/../") != std::string::npos)
      std::abort();
    if (!seen.insert(p).second) std::abort();
    bytes += file.data.size();
  }
  if (bytes > limits.max_uncompressed_bytes) std::abort();
  if (archive->files.size() + archive->skipped.size() > limits.max_files) std::abort();
  return 0;
}
