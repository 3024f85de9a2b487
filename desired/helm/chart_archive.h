// A chart archive (the .tgz `helm package` and `helm pull` write) read without running anything: gzip through
// zlib, tar headers read here (ustar, PAX and GNU long names). Only regular files are kept; a path that is
// absolute or climbs out with ".." is refused, and the sizes are bounded. Used where source-controller changes
// a chart before helm renders it (HelmChart valuesFiles replace the chart's values.yaml).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"

namespace gitgate::desired::helm {

struct ArchiveLimits {
  uint64_t max_compressed_bytes = 16ull << 20;    // larger archives are refused unread
  uint64_t max_uncompressed_bytes = 64ull << 20;  // the whole tar stream
  size_t max_files = 10000;
};

struct ArchiveFile {
  std::string path;  // as in the archive, e.g. "web/templates/deployment.yaml"
  std::string data;
};

// The regular files of a .tgz, in archive order. Errors name the archive and what was wrong.
gitgate::Result<std::vector<ArchiveFile>> read_chart_archive(const std::string& path,
                                                             const ArchiveLimits& limits = {});

// The chart's directory in the archive: the top-level one holding Chart.yaml; "" when there is none.
std::string chart_root(const std::vector<ArchiveFile>& files);

// A file by its path inside the chart ("values-prod.yaml", "ci/values.yaml"); null when the chart has none.
const ArchiveFile* chart_file(const std::vector<ArchiveFile>& files, const std::string& root,
                              const std::string& path);

// Writes the files below `directory` (created), each at its archive path.
gitgate::Status write_files(const std::vector<ArchiveFile>& files, const std::string& directory);

}  // namespace gitgate::desired::helm
