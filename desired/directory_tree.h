// A plain directory (a working tree given to `gitgate review --manifests`) as the builder reads a commit.
#pragma once

#include <string>

#include "desired/source_tree.h"

namespace gitgate::desired {

class DirectoryTree final : public SourceTree {
 public:
  explicit DirectoryTree(std::string root, uint64_t max_file_bytes = 1024 * 1024)
      : root_(std::move(root)), max_file_bytes_(max_file_bytes) {}

  std::optional<std::string> read(const std::string& path) const override;
  std::vector<Entry> list(const std::string& directory) const override;
  // A digest of the content (names and bytes, recursively for a directory).
  std::string id(const std::string& path) const override;
  gitgate::Status export_to(const std::string& directory,
                            std::vector<gitgate::Problem>& problems) const override;

 private:
  std::string root_;
  uint64_t max_file_bytes_;
};

}  // namespace gitgate::desired
