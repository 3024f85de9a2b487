// Writes nodes of a YamlStream as JSON, expanding aliases and merge keys under a node budget shared by
// the whole file (the billion-laughs guard) and a depth limit.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_writer.h"
#include "manifests/yaml_tree.h"

namespace gitgate::manifests {

class YamlToJson {
 public:
  struct Pair {
    std::string key;  // non-string scalar keys are stringified ("1", "true", "null")
    uint32_t key_node;
    uint32_t value;
  };

  YamlToJson(const YamlStream& stream, uint64_t max_nodes, int max_depth)
      : stream_(stream), max_nodes_(max_nodes), max_depth_(max_depth) {}

  // The effective pairs of a mapping node: its own keys, then keys merged in with `<<` that it does not
  // define itself. Fails on duplicate or non-scalar keys. `depth` is the mapping's own nesting depth.
  bool pairs(uint32_t mapping, int depth, std::vector<Pair>& out);
  // Writes `node`, nested `depth` levels below the document root's level.
  bool write(uint32_t node, int depth, JsonWriter& writer);
  // The value of a node that resolves to a JSON string; nullopt for anything else.
  std::optional<std::string_view> string_value(uint32_t node);

  const YamlNode& node(uint32_t id) const { return stream_.nodes[id]; }
  const uint32_t* child_ids(const YamlNode& n) const { return stream_.child_ids(n); }
  bool failed() const { return !error_.empty(); }
  // The budget is shared by every document of the file: once spent, the rest of the file cannot be read.
  bool budget_spent() const { return budget_spent_; }
  const std::string& error() const { return error_; }
  uint32_t error_line() const { return error_line_; }
  // Forgets a document-level failure so the next document of the file can be read.
  void clear_error();

 private:
  bool fail(uint32_t line, std::string message);
  bool count(uint32_t id, int depth);
  std::optional<std::string> key_text(uint32_t id);
  bool collect(uint32_t mapping, int depth, std::vector<Pair>& out);

  const YamlStream& stream_;
  uint64_t max_nodes_;
  int max_depth_;
  uint64_t used_ = 0;
  bool budget_spent_ = false;
  std::string error_;
  uint32_t error_line_ = 0;
  std::string buffer_;
};

}  // namespace gitgate::manifests
