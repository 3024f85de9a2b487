#include "manifests/yaml_json.h"

#include <unordered_set>

namespace gitgate::manifests {
namespace {

// Keys seen in one mapping: a short list scanned linearly, a hash set once the mapping grows.
class KeySet {
 public:
  bool insert(std::string_view key) {
    if (set_.empty() && keys_.size() < kLinearLimit) {
      for (const auto& k : keys_)
        if (k == key) return false;
      keys_.emplace_back(key);
      return true;
    }
    if (set_.empty()) set_.insert(keys_.begin(), keys_.end());
    return set_.emplace(key).second;
  }

 private:
  static constexpr size_t kLinearLimit = 16;
  std::vector<std::string> keys_;
  std::unordered_set<std::string> set_;
};

// Keys are quoted in messages, so keep them short and on one line.
std::string printable_key(std::string_view key) {
  std::string out;
  for (char c : key.substr(0, 64)) out += (static_cast<unsigned char>(c) < 0x20) ? '?' : c;
  if (key.size() > 64) out += "...";
  return out;
}

bool is_merge_key(const YamlStream& stream, const YamlNode& n) {
  // Only a scalar has text: a mapping or sequence key's begin/size index its children.
  return n.kind == YamlNode::Kind::Scalar && n.tag == ScalarTag::Plain && stream.scalar(n) == "<<";
}

}  // namespace

bool YamlToJson::fail(uint32_t line, std::string message) {
  if (error_.empty()) {
    error_ = std::move(message);
    error_line_ = line;
  }
  return false;
}

void YamlToJson::clear_error() {
  if (budget_spent_) return;
  error_.clear();
  error_line_ = 0;
}

bool YamlToJson::count(uint32_t id, int depth) {
  if (depth > max_depth_)
    return fail(node(id).line, "nested deeper than " + std::to_string(max_depth_) + " levels");
  if (++used_ > max_nodes_) {
    budget_spent_ = true;
    return fail(node(id).line, "more than " + std::to_string(max_nodes_) +
                                   " nodes once aliases are expanded (the limit guards against YAML bombs)");
  }
  return true;
}

std::optional<std::string> YamlToJson::key_text(uint32_t id) {
  const YamlNode& n = node(id);
  if (n.kind == YamlNode::Kind::Null) return std::string("null");
  if (n.kind != YamlNode::Kind::Scalar) {
    fail(n.line, "a mapping key must be a scalar, not a " +
                     std::string(n.kind == YamlNode::Kind::Mapping ? "mapping" : "sequence"));
    return std::nullopt;
  }
  auto scalar = resolve_scalar(n.tag, stream_.scalar(n), buffer_);
  if (!scalar) {
    fail(n.line, "a key does not match its explicit tag");
    return std::nullopt;
  }
  return std::string(scalar->text);
}

bool YamlToJson::collect(uint32_t mapping, int depth, std::vector<Pair>& out) {
  const YamlNode& m = node(mapping);
  const uint32_t* ids = stream_.child_ids(m);
  KeySet seen;
  std::vector<uint32_t> merges;
  for (uint32_t i = 0; i < m.size; ++i) {
    uint32_t key = ids[2 * i];
    uint32_t value = ids[2 * i + 1];
    if (!count(key, depth + 1)) return false;
    const YamlNode& k = node(key);
    if (is_merge_key(stream_, k)) {
      merges.push_back(value);
      continue;
    }
    auto text = key_text(key);
    if (!text) return false;
    if (!seen.insert(*text))
      return fail(k.line, "duplicate key \"" + printable_key(*text) + "\" in a mapping");
    out.push_back({std::move(*text), key, value});
  }
  for (uint32_t merge : merges) {
    const YamlNode& source = node(merge);
    std::vector<uint32_t> sources;
    if (source.kind == YamlNode::Kind::Mapping) {
      sources.push_back(merge);
    } else if (source.kind == YamlNode::Kind::Sequence) {
      const uint32_t* items = stream_.child_ids(source);
      sources.assign(items, items + source.size);
    } else {
      return fail(source.line, "a merge key (<<) must refer to a mapping or a list of mappings");
    }
    for (uint32_t s : sources) {
      if (node(s).kind != YamlNode::Kind::Mapping)
        return fail(node(s).line, "a merge key (<<) must refer to a mapping or a list of mappings");
      if (!count(s, depth + 1)) return false;
      std::vector<Pair> merged;
      if (!collect(s, depth + 1, merged)) return false;
      for (Pair& p : merged)
        if (seen.insert(p.key)) out.push_back(std::move(p));
    }
  }
  return true;
}

bool YamlToJson::pairs(uint32_t mapping, int depth, std::vector<Pair>& out) {
  out.clear();
  return collect(mapping, depth, out);
}

std::optional<std::string_view> YamlToJson::string_value(uint32_t id) {
  const YamlNode& n = node(id);
  if (n.kind != YamlNode::Kind::Scalar) return std::nullopt;
  auto scalar = resolve_scalar(n.tag, stream_.scalar(n), buffer_);
  if (!scalar || scalar->type != ScalarType::String) return std::nullopt;
  return scalar->text;
}

bool YamlToJson::write(uint32_t id, int depth, JsonWriter& writer) {
  if (!count(id, depth)) return false;
  const YamlNode& n = node(id);
  switch (n.kind) {
    case YamlNode::Kind::Null:
      writer.null();
      return true;
    case YamlNode::Kind::Scalar: {
      auto scalar = resolve_scalar(n.tag, stream_.scalar(n), buffer_);
      // The value is not quoted: it may be a Secret's.
      if (!scalar) return fail(n.line, "a value does not match its explicit tag");
      switch (scalar->type) {
        case ScalarType::Null:
          writer.null();
          break;
        case ScalarType::Bool:
          writer.value(scalar->text == "true");
          break;
        case ScalarType::Number:
          writer.raw(scalar->text);
          break;
        case ScalarType::String:
          writer.value(scalar->text);
          break;
      }
      return true;
    }
    case YamlNode::Kind::Sequence: {
      writer.begin_array();
      const uint32_t* items = stream_.child_ids(n);
      for (uint32_t i = 0; i < n.size; ++i)
        if (!write(items[i], depth + 1, writer)) return false;
      writer.end_array();
      return true;
    }
    case YamlNode::Kind::Mapping: {
      std::vector<Pair> entries;
      if (!pairs(id, depth, entries)) return false;
      writer.begin_object();
      for (const Pair& p : entries) {
        writer.key(p.key);
        if (!write(p.value, depth + 1, writer)) return false;
      }
      writer.end_object();
      return true;
    }
  }
  return true;
}

}  // namespace gitgate::manifests
