#include "manifests/loader.h"

#include <algorithm>
#include <cctype>

#include "core/json_writer.h"
#include "manifests/yaml_json.h"
#include "manifests/yaml_tree.h"

namespace gitgate::manifests {
namespace {

constexpr std::string_view kOriginAnnotation = "config.kubernetes.io/origin";
constexpr std::string_view kLastApplied = "kubectl.kubernetes.io/last-applied-configuration";

bool is_secret_field(std::string_view key) {
  return key == "apiVersion" || key == "kind" || key == "metadata" || key == "type" || key == "immutable" ||
         key == "data" || key == "stringData";
}

bool ends_with_ci(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  return std::equal(suffix.begin(), suffix.end(), s.end() - static_cast<std::ptrdiff_t>(suffix.size()),
                    [](char lower, char c) { return std::tolower(static_cast<unsigned char>(c)) == lower; });
}

std::string_view base_name(std::string_view path) {
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The code unit of a "\uXXXX" escape starting at s[i], or -1.
long unicode_escape(std::string_view s, size_t i) {
  if (i + 6 > s.size() || s[i] != '\\' || s[i + 1] != 'u') return -1;
  long v = 0;
  for (size_t k = i + 2; k < i + 6; ++k) {
    int h = hex_value(s[k]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

void append_utf8(std::string& out, unsigned long cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// JSON writes characters outside the BMP as surrogate pairs ("\ud83d\ude00"), which yaml-cpp rejects; turn
// them into UTF-8 inside strings (lone surrogates become U+FFFD). Line structure is unchanged.
std::string decode_surrogate_escapes(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool in_string = false;
  for (size_t i = 0; i < s.size();) {
    char c = s[i];
    if (c == '"') in_string = !in_string;
    if (!in_string || c != '\\' || i + 1 >= s.size()) {
      out += c;
      ++i;
      continue;
    }
    long unit = unicode_escape(s, i);
    if (unit >= 0xD800 && unit <= 0xDBFF) {
      long low = unicode_escape(s, i + 6);
      if (low >= 0xDC00 && low <= 0xDFFF) {
        append_utf8(out, 0x10000 + ((static_cast<unsigned long>(unit) - 0xD800) << 10) +
                             (static_cast<unsigned long>(low) - 0xDC00));
        i += 12;
        continue;
      }
    }
    if (unit >= 0xD800 && unit <= 0xDFFF) {
      out += "\xEF\xBF\xBD";
      i += 6;
      continue;
    }
    out.append(s.substr(i, 2));  // any other escape, kept for yaml-cpp, including \" and \\ .
    i += 2;
  }
  return out;
}

// The file in a kustomize origin annotation ("path: base/app.yaml\n..." or "configuredIn:
// kustomization.yaml").
std::string origin_path(std::string_view annotation) {
  std::string configured_in;
  size_t pos = 0;
  while (pos < annotation.size()) {
    size_t end = annotation.find('\n', pos);
    if (end == std::string_view::npos) end = annotation.size();
    std::string_view line = annotation.substr(pos, end - pos);
    pos = end + 1;
    auto value_of = [&](std::string_view key) -> std::optional<std::string> {
      if (line.substr(0, key.size()) != key) return std::nullopt;
      std::string_view v = line.substr(key.size());
      while (!v.empty() && (v.front() == ' ' || v.front() == '"' || v.front() == '\'')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == ' ' || v.back() == '"' || v.back() == '\'' || v.back() == '\r'))
        v.remove_suffix(1);
      return std::string(v);
    };
    if (auto p = value_of("path:")) return *p;
    if (auto c = value_of("configuredIn:")) configured_in = *c;
  }
  return configured_in;
}

class DocumentReader {
 public:
  DocumentReader(YamlToJson& yaml, std::string_view path, const ParseOptions& options, FileResult& result)
      : yaml_(yaml), path_(path), options_(options), result_(result) {}

  // Reads the object rooted at `root` (a document, or an item of a List) at nesting `depth`.
  void read(uint32_t root, int depth) {
    const YamlNode& n = yaml_.node(root);
    if (n.kind == YamlNode::Kind::Null) return;  // empty or comment-only document
    if (n.kind != YamlNode::Kind::Mapping) {
      problem(n.line, std::string("not a Kubernetes object: the document is a ") +
                          (n.kind == YamlNode::Kind::Sequence ? "sequence" : "scalar") +
                          ", not a mapping; skipped");
      return;
    }
    std::vector<YamlToJson::Pair> top;
    if (!yaml_.pairs(root, depth, top)) return conversion_failed();
    auto field = [&](std::string_view key) -> const YamlToJson::Pair* {
      for (const auto& p : top)
        if (p.key == key) return &p;
      return nullptr;
    };
    Document doc;
    doc.line = n.line;
    doc.column = n.column;
    if (const auto* p = field("apiVersion"))
      if (auto v = yaml_.string_value(p->value)) doc.api_version = *v;
    if (doc.api_version.starts_with("kustomize.config.k8s.io/")) return;
    if (const auto* p = field("kind"))
      if (auto v = yaml_.string_value(p->value)) doc.kind = *v;
    const auto* items = field("items");
    if (doc.kind.ends_with("List") && items != nullptr &&
        yaml_.node(items->value).kind == YamlNode::Kind::Sequence) {
      const YamlNode& list = yaml_.node(items->value);
      const uint32_t* members = yaml_.child_ids(list);
      for (uint32_t i = 0; i < list.size; ++i) {
        read(members[i], depth + 2);
        if (yaml_.budget_spent()) return;
        yaml_.clear_error();
      }
      return;
    }
    const auto* metadata = field("metadata");
    std::string annotation, generate_name;
    bool bad_namespace = false;
    if (metadata != nullptr && yaml_.node(metadata->value).kind == YamlNode::Kind::Mapping) {
      std::vector<YamlToJson::Pair> meta;
      if (!yaml_.pairs(metadata->value, depth + 1, meta)) return conversion_failed();
      for (const auto& p : meta) {
        if (p.key == "name") {
          if (auto v = yaml_.string_value(p.value)) doc.name = *v;
        } else if (p.key == "generateName") {
          if (auto v = yaml_.string_value(p.value)) generate_name = *v;
        } else if (p.key == "namespace") {
          auto v = yaml_.string_value(p.value);
          if (v) doc.ns = *v;
          bad_namespace = !v && yaml_.node(p.value).kind != YamlNode::Kind::Null;
        } else if (p.key == "annotations" && options_.kustomize_origin) {
          annotation = origin_annotation(p.value, depth + 2);
          if (yaml_.failed()) return conversion_failed();
        }
      }
    }
    // An object Git writes with only generateName (Argo CD's and Helm's hooks are created so) is declared
    // under "<generateName>*", a name no real object can have: what the API server names from it is
    // compared with it (policies/engine).
    if (doc.name.empty() && !generate_name.empty()) doc.name = generate_name + "*";
    std::string missing;
    for (auto [present, what] :
         {std::pair{!doc.api_version.empty(), "apiVersion"}, std::pair{!doc.kind.empty(), "kind"},
          std::pair{!doc.name.empty(), "metadata.name"}}) {
      if (present) continue;
      missing += missing.empty() ? "" : ", ";
      missing += what;
    }
    if (!missing.empty()) {
      problem(n.line,
              "not a Kubernetes object: no " + missing + " (each must be a non-empty string; generateName "
                  "may stand for metadata.name); skipped");
      return;
    }
    if (bad_namespace) {
      problem(n.line, doc.kind + " " + doc.name + ": metadata.namespace must be a string; skipped");
      return;
    }
    if (!annotation.empty()) doc.origin = origin_path(annotation);
    bool secret = doc.api_version == "v1" && doc.kind == "Secret";
    JsonWriter writer(doc.json);
    writer.begin_object();
    for (const auto& p : top) {
      if (p.key == "sops") continue;  // SOPS encryption metadata, never part of the object
      // A Secret keeps only the fields the API server knows, so no value can hide in an extra one.
      if (secret && !is_secret_field(p.key)) continue;
      writer.key(p.key);
      bool ok = true;
      if (secret && (p.key == "data" || p.key == "stringData")) {
        ok = write_blanked(p.value, depth + 1, writer);
      } else if (p.key == "metadata" && (options_.kustomize_origin || secret)) {
        ok = write_metadata(p.value, depth + 1, secret, writer);
      } else {
        ok = yaml_.write(p.value, depth + 1, writer);
      }
      if (!ok) return conversion_failed();
    }
    writer.end_object();
    result_.documents.push_back(std::move(doc));
  }

  void problem(uint32_t line, std::string reason) {
    result_.problems.push_back({std::string(path_), line, std::move(reason)});
  }

 private:
  void conversion_failed() {
    problem(yaml_.error_line(),
            yaml_.error() + (yaml_.budget_spent() ? "; file skipped from here" : "; skipped"));
  }

  std::string origin_annotation(uint32_t annotations, int depth) {
    if (yaml_.node(annotations).kind != YamlNode::Kind::Mapping) return {};
    std::vector<YamlToJson::Pair> entries;
    if (!yaml_.pairs(annotations, depth, entries)) return {};
    for (const auto& p : entries)
      if (p.key == kOriginAnnotation)
        if (auto v = yaml_.string_value(p.value)) return std::string(*v);
    return {};
  }

  // A Secret's data: keys kept, every value "" so no secret is ever stored or compared.
  bool write_blanked(uint32_t node, int depth, JsonWriter& writer) {
    if (yaml_.node(node).kind != YamlNode::Kind::Mapping) {
      writer.null();
      return true;
    }
    std::vector<YamlToJson::Pair> entries;
    if (!yaml_.pairs(node, depth, entries)) return false;
    writer.begin_object();
    for (const auto& p : entries) writer.field(p.key, "");
    writer.end_object();
    return true;
  }

  // Metadata without the annotations this module consumes (kustomize's origin) or must not keep (a Secret's
  // last-applied-configuration, which holds its data).
  bool write_metadata(uint32_t node, int depth, bool secret, JsonWriter& writer) {
    if (yaml_.node(node).kind != YamlNode::Kind::Mapping) return yaml_.write(node, depth, writer);
    std::vector<YamlToJson::Pair> meta;
    if (!yaml_.pairs(node, depth, meta)) return false;
    writer.begin_object();
    for (const auto& p : meta) {
      if (p.key != "annotations" || yaml_.node(p.value).kind != YamlNode::Kind::Mapping) {
        writer.key(p.key);
        if (!yaml_.write(p.value, depth + 1, writer)) return false;
        continue;
      }
      std::vector<YamlToJson::Pair> annotations;
      if (!yaml_.pairs(p.value, depth + 1, annotations)) return false;
      std::erase_if(annotations, [&](const auto& a) {
        return (options_.kustomize_origin && a.key == kOriginAnnotation) || (secret && a.key == kLastApplied);
      });
      if (annotations.empty()) continue;
      writer.key(p.key);
      writer.begin_object();
      for (const auto& a : annotations) {
        writer.key(a.key);
        if (!yaml_.write(a.value, depth + 2, writer)) return false;
      }
      writer.end_object();
    }
    writer.end_object();
    return true;
  }

  YamlToJson& yaml_;
  std::string_view path_;
  const ParseOptions& options_;
  FileResult& result_;
};

}  // namespace

bool is_manifest_path(std::string_view path) {
  return ends_with_ci(path, ".yaml") || ends_with_ci(path, ".yml") || ends_with_ci(path, ".json");
}

bool is_kustomization_path(std::string_view path) {
  std::string_view name = base_name(path);
  return name == "kustomization.yaml" || name == "kustomization.yml" || name == "Kustomization";
}

FileResult parse_file(std::string_view path, std::string_view content, const Limits& limits,
                      const ParseOptions& options) {
  FileResult result;
  if (content.size() > limits.max_file_bytes) {
    result.problems.push_back({std::string(path), 0,
                               "file is " + std::to_string(content.size()) + " bytes, over the limit of " +
                                   std::to_string(limits.max_file_bytes) + "; skipped"});
    return result;
  }
  if (is_kustomization_path(path)) return result;
  // YAML and JSON are UTF-8 here, as for kubectl, Flux and Argo CD, which refuse such a file; turning the
  // bad bytes into U+FFFD could also make two different keys one.
  if (size_t bad = invalid_utf8_offset(content); bad != std::string_view::npos) {
    auto line = static_cast<uint32_t>(1 + std::count(content.begin(), content.begin() + bad, '\n'));
    size_t column = bad - (content.rfind('\n', bad) + 1) + 1;  // content[bad] is no '\n'; npos + 1 == 0
    result.problems.push_back({std::string(path), line,
                               "column " + std::to_string(column) +
                                   ": not valid UTF-8 (manifests must be UTF-8 text); file skipped"});
    return result;
  }
  std::string decoded;
  if (ends_with_ci(path, ".json") && content.find("\\u") != std::string_view::npos) {
    decoded = decode_surrogate_escapes(content);
    content = decoded;
  }
  YamlStream stream = read_yaml_stream(content, limits.max_nodes);
  YamlToJson yaml(stream, limits.max_nodes, limits.max_depth);
  DocumentReader reader(yaml, path, options, result);
  for (const YamlDocument& doc : stream.documents) {
    if (!doc.error.empty()) {
      reader.problem(doc.error_line, doc.error + "; skipped");
      continue;
    }
    reader.read(doc.root, 1);
    if (yaml.budget_spent()) break;
    yaml.clear_error();
  }
  if (!stream.syntax_error.empty()) {
    reader.problem(stream.syntax_error_line,
                   "YAML syntax error: " + stream.syntax_error + "; the rest of the file is skipped");
  }
  return result;
}

std::shared_ptr<DeclaredObject> declare(const Document& document, std::string_view file,
                                        std::string_view default_namespace) {
  ObjectKey key{std::string(group_of_api_version(document.api_version)), document.kind, {}, document.name};
  bool unresolved = false;
  switch (builtin_kind_scope(key.group, key.kind)) {
    case KindScope::Cluster:
      break;  // the API server ignores a namespace on cluster-scoped objects
    case KindScope::Namespaced:
      key.ns = document.ns.empty() ? std::string(default_namespace) : document.ns;
      break;
    case KindScope::Unknown:
      key.ns = document.ns;
      unresolved = document.ns.empty();
      break;
  }
  return std::make_shared<DeclaredObject>(std::move(key), document.api_version, document.json,
                                          std::string(file), document.line, document.column, unresolved);
}

}  // namespace gitgate::manifests
