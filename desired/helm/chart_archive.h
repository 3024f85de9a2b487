// A .tgz read without running anything: gzip through zlib (every member), tar headers read here (ustar, pax and
// GNU long names, GNU base-256 numbers), streamed so that only the files are held. Regular files are kept (a
// later entry for a path replaces the earlier, as tar does); directories are implied; links, devices and fifos
// are listed as skipped. Names are read relative ("./" and "/" dropped); one that climbs out with ".." is
// refused, and the sizes are bounded. Used for chart archives, where source-controller changes a chart before
// helm renders it (HelmChart valuesFiles replace the chart's values.yaml), and for OCI artifacts' layers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace gitgate::desired::helm {

struct ArchiveLimits {
  uint64_t max_compressed_bytes = 16ull << 20;    // larger archives are refused unread
  uint64_t max_uncompressed_bytes = 64ull << 20;  // the whole tar stream
  size_t max_files = 10000;
};

struct ArchiveFile {
  std::string path;  // as in the archive, normalised: "web/templates/deployment.yaml"
  std::string data;
  bool executable = false;  // any x bit in the entry's mode
};

struct Archive {
  std::vector<ArchiveFile> files;    // in archive order
  std::vector<std::string> skipped;  // entries not extracted, each "path: why"
};

// The files of a tar+gzip held in memory. Errors say what is wrong and at which byte of the tar stream.
gitgate::Result<Archive> read_tar_gz(std::string_view compressed, const ArchiveLimits& limits = {});

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
