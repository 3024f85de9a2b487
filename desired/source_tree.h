// What the desired-state builder reads: one commit's files, handed over by gitstate (the only libgit2 user)
// as this read-only view.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/declared.h"
#include "core/result.h"
#include "core/source_spec.h"

namespace gitgate::desired {

class SourceTree {
 public:
  struct Entry {
    std::string name;
    bool directory = false;
  };

  virtual ~SourceTree() = default;

  // The content of a regular file ("" is the root; "a/b.yaml"), nullopt when absent or not a regular file.
  virtual std::optional<std::string> read(const std::string& path) const = 0;
  // The regular files and directories in a directory, in name order; empty when absent.
  virtual std::vector<Entry> list(const std::string& directory) const = 0;
  // A stable id of a file's or directory's content (the Git object id), "" when absent: build cache keys.
  virtual std::string id(const std::string& path) const = 0;
  // Writes every regular file below `directory` on disk (symbolic links and submodules left out, each
  // reported in `problems`), so kustomize can build it.
  virtual gitgate::Status export_to(const std::string& directory,
                                    std::vector<gitgate::Problem>& problems) const = 0;
};

// Another repository the agent builds from (SourceSpec::repositories), at the commit its cache holds.
struct OtherTree {
  gitgate::OtherRepository repository;
  const SourceTree* tree = nullptr;  // null when nothing has been fetched
  std::string commit;                // full id of the commit `tree` is
  std::string digest;                // an OCI artifact's manifest digest ("" for Git)
  std::string problem;               // why it is missing or stale ("" when the last fetch succeeded)
  // What its files are cited as before "//<path>": the URL, or "<url>@<ref>" when the policy lists the same URL
  // at more than one ref (each file then names the one it was read at).
  std::string cited_as;
};

}  // namespace gitgate::desired
