#include "manifests/yaml_document.h"

#include "core/json_writer.h"
#include "manifests/yaml_json.h"
#include "manifests/yaml_tree.h"

namespace gitgate::manifests {
namespace {

class LeafCollector {
 public:
  LeafCollector(const YamlStream& stream, uint32_t line_offset, size_t max)
      : stream_(stream), offset_(line_offset), max_(max) {}

  void walk(uint32_t id, const std::string& path, int depth) {
    if (out.size() >= max_ || depth > 64) return;
    const YamlNode& n = stream_.nodes[id];
    switch (n.kind) {
      case YamlNode::Kind::Scalar:
        out.push_back({path, std::string(stream_.scalar(n)), n.line + offset_});
        return;
      case YamlNode::Kind::Sequence: {
        const uint32_t* ids = stream_.child_ids(n);
        for (uint32_t i = 0; i < n.size; ++i) walk(ids[i], path + "[" + std::to_string(i) + "]", depth + 1);
        return;
      }
      case YamlNode::Kind::Mapping: {
        const uint32_t* ids = stream_.child_ids(n);
        for (uint32_t i = 0; i < n.size; ++i) {
          const YamlNode& key = stream_.nodes[ids[2 * i]];
          if (key.kind != YamlNode::Kind::Scalar) continue;
          std::string k(stream_.scalar(key));
          walk(ids[2 * i + 1], path.empty() ? k : path + "." + k, depth + 1);
        }
        return;
      }
      default:
        return;
    }
  }

  std::vector<ScalarLeaf> out;

 private:
  const YamlStream& stream_;
  uint32_t offset_;
  size_t max_;
};

// The value of `key` in mapping node `id`, or UINT32_MAX.
uint32_t child(const YamlStream& stream, uint32_t id, std::string_view key) {
  const YamlNode& n = stream.nodes[id];
  if (n.kind != YamlNode::Kind::Mapping) return UINT32_MAX;
  const uint32_t* ids = stream.child_ids(n);
  for (uint32_t i = 0; i < n.size; ++i) {
    const YamlNode& k = stream.nodes[ids[2 * i]];
    if (k.kind == YamlNode::Kind::Scalar && stream.scalar(k) == key) return ids[2 * i + 1];
  }
  return UINT32_MAX;
}

bool scalar_is(const YamlStream& stream, uint32_t id, std::string_view value) {
  return id != UINT32_MAX && stream.nodes[id].kind == YamlNode::Kind::Scalar &&
         stream.scalar(stream.nodes[id]) == value;
}

}  // namespace

Result<std::vector<std::string>> yaml_documents_as_json(std::string_view content, const Limits& limits) {
  YamlStream stream = read_yaml_stream(content, limits.max_nodes);
  if (!stream.syntax_error.empty())
    return Error{"line " + std::to_string(stream.syntax_error_line) +
                 ": YAML syntax error: " + stream.syntax_error};
  YamlToJson converter(stream, limits.max_nodes, limits.max_depth);
  std::vector<std::string> out;
  for (const auto& doc : stream.documents) {
    if (!doc.error.empty()) return Error{"line " + std::to_string(doc.error_line) + ": " + doc.error};
    if (stream.nodes[doc.root].kind == YamlNode::Kind::Null) continue;
    std::string json;
    JsonWriter writer(json);
    if (!converter.write(doc.root, 0, writer))
      return Error{"line " + std::to_string(converter.error_line()) + ": " + converter.error()};
    out.push_back(std::move(json));
  }
  return out;
}

std::vector<ScalarLeaf> scalar_leaves(std::string_view content, std::string_view kind, std::string_view name,
                                      const std::vector<std::string>& prefix, size_t max_leaves) {
  YamlStream stream = read_yaml_stream(content, 1000000);
  for (const auto& doc : stream.documents) {
    if (!doc.error.empty()) continue;
    if (!scalar_is(stream, child(stream, doc.root, "kind"), kind)) continue;
    uint32_t metadata = child(stream, doc.root, "metadata");
    if (metadata == UINT32_MAX || !scalar_is(stream, child(stream, metadata, "name"), name)) continue;
    uint32_t at = doc.root;
    for (const auto& key : prefix) {
      at = child(stream, at, key);
      if (at == UINT32_MAX) return {};
    }
    LeafCollector collector(stream, 0, max_leaves);
    collector.walk(at, "", 0);
    return std::move(collector.out);
  }
  return {};
}

std::vector<ScalarLeaf> scalar_leaves(std::string_view content, uint32_t first_line, size_t max_leaves) {
  YamlStream stream = read_yaml_stream(content, 1000000);
  LeafCollector collector(stream, first_line - 1, max_leaves);
  for (const auto& doc : stream.documents)
    if (doc.error.empty()) collector.walk(doc.root, "", 0);
  return std::move(collector.out);
}

}  // namespace gitgate::manifests
