#include "desired/argocd/application_set.h"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <string_view>

#include "desired/argocd/go_template.h"
#include "desired/common.h"
#include "manifests/yaml_document.h"

namespace gitgate::desired::argocd {
namespace {

using json = nlohmann::json;
using ParamSets = std::vector<json>;

constexpr size_t kMaxTreeEntries = 20000;
constexpr int kMaxGeneratorDepth = 3;

std::string basename_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string dirname_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

// Fasttemplate parameters are flat: nested maps become dotted keys.
void flatten(const json& value, const std::string& prefix, json& out) {
  if (value.is_object()) {
    for (const auto& [k, v] : value.items()) flatten(v, prefix.empty() ? k : prefix + "." + k, out);
    return;
  }
  out[prefix] = value;
}

// The parameters of a path: Go templates see `.path.path`, `.path.basename`, ...; fasttemplate `path`,
// `path.basename`, `path[0]`, ...
json path_params(const std::string& path, const std::string& file, bool go) {
  std::vector<std::string> segments;
  for (size_t start = 0; start <= path.size();) {
    size_t slash = path.find('/', start);
    segments.push_back(path.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  json p = {{"path", path}, {"basename", basename_of(path)}, {"basenameNormalized", normalized_name(basename_of(path))}};
  if (!file.empty()) {
    p["filename"] = file;
    p["filenameNormalized"] = normalized_name(file);
  }
  if (go) {
    p["segments"] = segments;
    return json{{"path", p}};
  }
  json flat = {{"path", path}};
  for (const auto& [k, v] : p.items())
    if (k != "path") flat["path." + k] = v;
  for (size_t i = 0; i < segments.size(); ++i) flat["path[" + std::to_string(i) + "]"] = segments[i];
  return flat;
}

// The value at a dotted path ("cluster.name") of Go-template parameters; nullptr when a part is missing or
// what holds it is not a map.
const json* at_path(const json& params, std::string_view path) {
  const json* at = &params;
  for (size_t start = 0; start <= path.size();) {
    size_t dot = path.find('.', start);
    std::string part(path.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (!at->is_object() || !at->contains(part)) return nullptr;
    at = &(*at)[part];
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return at;
}

bool glob(const std::string& pattern, const std::string& path) {
  int flags = pattern.find("**") == std::string::npos ? FNM_PATHNAME : 0;
  return fnmatch(pattern.c_str(), path.c_str(), flags) == 0;
}

class Generator {
 public:
  Generator(const GitView& git, bool go, size_t max) : git_(git), go_(go), max_(max) {}

  gitgate::Result<ParamSets> run(const json& generator, int depth) {
    if (depth > kMaxGeneratorDepth) return Error{"generators nest deeper than " + std::to_string(kMaxGeneratorDepth)};
    if (!generator.is_object() || generator.size() != 1)
      return Error{"a generator must name exactly one kind (list, git, matrix, merge, ...)"};
    // Not `*generator.items().begin()`: that names a member of a temporary that dies with the statement.
    const auto first = generator.begin();
    const std::string& kind = first.key();
    const json& spec = first.value();
    if (kind == "list") return list(spec);
    if (kind == "git") return git(spec);
    if (kind == "matrix") return matrix(spec, depth);
    if (kind == "merge") return merge(spec, depth);
    return Error{"the " + kind + " generator needs " +
                 (kind == "clusters" || kind == "clusterDecisionResource" ? std::string("the cluster's state")
                                                                          : std::string("an API outside Git")) +
                 ", which gitgate does not read"};
  }

 private:
  gitgate::Result<ParamSets> list(const json& spec) {
    json elements = field(spec, "elements");
    if (field(spec, "elementsYaml").is_string()) {
      // A YAML list of maps. One with templates is rendered from an earlier matrix generator's parameters,
      // with template functions (toJson, toYaml) gitgate does not evaluate.
      const std::string& text = spec["elementsYaml"].get_ref<const std::string&>();
      if (text.find("{{") != std::string::npos) return Error{"list.elementsYaml with templates is not evaluated"};
      auto docs = manifests::yaml_documents_as_json(text);
      if (!docs || docs->size() != 1) return Error{"list.elementsYaml is not one YAML list"};
      json parsed = json::parse((*docs)[0], nullptr, false);
      if (!parsed.is_array()) return Error{"list.elementsYaml is not a YAML list"};
      for (auto& element : parsed) elements.push_back(std::move(element));
    }
    ParamSets out;
    for (const auto& element : elements) {
      if (!element.is_object()) return Error{"list.elements holds something other than a map"};
      if (go_) {
        out.push_back(element);
      } else {
        json flat = json::object();
        flatten(element, "", flat);
        out.push_back(std::move(flat));
      }
      if (out.size() > max_) return Error{"the list generator yields more than " + std::to_string(max_) + " items"};
    }
    return out;
  }

  gitgate::Result<ParamSets> git(const json& spec) {
    auto tree = git_.tree_for(spec);
    if (!tree) return Error{tree.error()};
    const Listing& listing = listing_of(*tree);
    const std::string prefix = str(spec, "pathParamPrefix");
    // With pathParamPrefix the path parameters sit under it: `.prefix.path.basename`, `prefix.path.basename`.
    auto path_of = [&](const std::string& dir, const std::string& file) {
      json p = path_params(dir, file, go_);
      if (prefix.empty()) return p;
      if (go_) return json{{prefix, p}};
      json flat = json::object();
      for (const auto& [k, v] : p.items()) flat[prefix + "." + k] = v;
      return flat;
    };
    ParamSets out;
    if (field(spec, "directories").is_array()) {
      std::vector<std::string> included, excluded;
      for (const auto& d : spec["directories"])
        (flag(d, "exclude") ? excluded : included).push_back(str(d, "path"));
      for (const auto& dir : listing.directories) {
        bool in = std::any_of(included.begin(), included.end(), [&](const auto& p) { return glob(p, dir); });
        bool out_of = std::any_of(excluded.begin(), excluded.end(), [&](const auto& p) { return glob(p, dir); });
        if (!in || out_of) continue;
        out.push_back(path_of(dir, ""));
        if (out.size() > max_) return Error{"the git generator yields more than " + std::to_string(max_) + " directories"};
      }
      return out;
    }
    if (field(spec, "files").is_array()) {
      for (const auto& f : spec["files"]) {
        std::string pattern = str(f, "path");
        if (flag(f, "exclude")) continue;
        for (const auto& file : listing.files) {
          if (!glob(pattern, file)) continue;
          auto text = (*tree)->read(file);
          if (!text) continue;
          auto docs = manifests::yaml_documents_as_json(*text);
          if (!docs) return Error{"git generator file " + file + ": " + docs.error()};
          for (const auto& doc : *docs) {
            json parsed = json::parse(doc, nullptr, false);
            std::vector<json> items;
            if (parsed.is_array()) items.assign(parsed.begin(), parsed.end());
            else items.push_back(parsed);
            for (auto& item : items) {
              if (!item.is_object()) return Error{"git generator file " + file + " holds something other than a map"};
              json params = json::object();
              if (go_) params = item;
              else flatten(item, "", params);
              json path = path_of(dirname_of(file), basename_of(file));
              params.update(path);
              out.push_back(std::move(params));
              if (out.size() > max_) return Error{"the git generator yields more than " + std::to_string(max_) + " items"};
            }
          }
        }
      }
      return out;
    }
    return Error{"the git generator has neither directories nor files"};
  }

  gitgate::Result<ParamSets> matrix(const json& spec, int depth) {
    const json& generators = field(spec, "generators");
    if (!generators.is_array() || generators.size() != 2) return Error{"matrix takes exactly two generators"};
    auto first = run(generators[0], depth + 1);
    if (!first) return first;
    auto second = run(generators[1], depth + 1);
    if (!second) return second;
    ParamSets out;
    for (const auto& a : *first)
      for (const auto& b : *second) {
        json merged = a;
        merged.merge_patch(b);
        out.push_back(std::move(merged));
        if (out.size() > max_) return Error{"the matrix generator yields more than " + std::to_string(max_) + " items"};
      }
    return out;
  }

  gitgate::Result<ParamSets> merge(const json& spec, int depth) {
    const json& generators = field(spec, "generators");
    if (!generators.is_array() || generators.empty()) return Error{"merge takes generators"};
    std::vector<std::string> keys;
    for (const auto& k : field(spec, "mergeKeys"))
      if (k.is_string()) keys.push_back(k.get<std::string>());
    if (keys.empty()) return Error{"merge has no mergeKeys"};
    auto base = run(generators[0], depth + 1);
    if (!base) return base;
    auto key_of = [&](const json& params) {
      std::string out;
      for (const auto& k : keys) {
        const json* at = go_ ? at_path(params, k) : (params.contains(k) ? &params[k] : nullptr);
        out += (at == nullptr ? std::string("\x01") : at->dump()) + "\x02";
      }
      return out;
    };
    for (size_t i = 1; i < generators.size(); ++i) {
      auto other = run(generators[i], depth + 1);
      if (!other) return other;
      for (const auto& params : *other)
        for (auto& b : *base)
          if (key_of(b) == key_of(params)) b.merge_patch(params);
    }
    return base;
  }

  struct Listing {
    std::vector<std::string> directories, files;
  };

  // Every directory and file of a tree, sorted, listed once per tree.
  const Listing& listing_of(const SourceTree* tree) {
    auto [it, added] = listings_.try_emplace(tree);
    if (!added) return it->second;
    Listing& l = it->second;
    std::vector<std::string> dirs{""};
    size_t entries = 0;
    while (!dirs.empty() && entries < kMaxTreeEntries) {
      std::string dir = dirs.back();
      dirs.pop_back();
      for (const auto& e : tree->list(dir)) {
        if (++entries > kMaxTreeEntries) break;
        std::string path = dir.empty() ? e.name : dir + "/" + e.name;
        if (e.directory) {
          l.directories.push_back(path);
          dirs.push_back(path);
        } else {
          l.files.push_back(path);
        }
      }
    }
    std::sort(l.directories.begin(), l.directories.end());
    std::sort(l.files.begin(), l.files.end());
    return l;
  }

  const GitView& git_;
  bool go_;
  size_t max_;
  std::map<const SourceTree*, Listing> listings_;
};

// Renders `text`: as a Go template (goTemplate: true), or with fasttemplate, where each {{ name }} is a
// parameter.
gitgate::Result<std::string> render(const std::string& text, const json& params, bool go) {
  if (go) return render_go_template(text, params);
  std::string out;
  size_t at = 0;
  while (true) {
    size_t open = text.find("{{", at);
    if (open == std::string::npos) break;
    size_t close = text.find("}}", open + 2);
    if (close == std::string::npos) break;
    out += text.substr(at, open - at);
    std::string expr = text.substr(open + 2, close - open - 2);
    while (!expr.empty() && expr.front() == ' ') expr.erase(0, 1);
    while (!expr.empty() && expr.back() == ' ') expr.pop_back();
    if (!params.contains(expr)) return Error{"template expression {{" + expr + "}} names no parameter the generators give"};
    const json& value = params[expr];
    if (value.is_string()) out += value.get<std::string>();
    else if (value.is_primitive()) out += value.dump();
    else return Error{"template expression {{" + expr + "}} is a map or list, not a value"};
    at = close + 2;
  }
  return out + text.substr(at);
}

gitgate::Status render_all(json& node, const json& params, bool go) {
  if (node.is_string()) {
    auto text = render(node.get<std::string>(), params, go);
    if (!text) return Error{text.error()};
    node = *text;
  } else if (node.is_object() || node.is_array()) {
    for (auto& child : node)
      if (Status s = render_all(child, params, go); !s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace

gitgate::Result<std::vector<json>> generate_applications(const json& set, const GitView& git, size_t max) {
  const json& spec = field(set, "spec");
  bool go = flag(spec, "goTemplate");
  std::string patch = str(spec, "templatePatch");
  const json& generators = field(spec, "generators");
  if (!generators.is_array() || generators.empty()) return Error{"spec.generators is empty"};
  std::string ns = str(field(set, "metadata"), "namespace");
  std::vector<json> out;
  Generator generator(git, go, max);
  for (const auto& g : generators) {
    auto params = generator.run(g, 0);
    if (!params) return Error{params.error()};
    json tmpl = field(spec, "template");
    if (g.is_object() && !g.empty()) {
      const json& own = field(g.begin().value(), "template");
      if (own.is_object()) tmpl.merge_patch(own);
    }
    for (const auto& p : *params) {
      json app = tmpl;
      if (Status s = render_all(app, p, go); !s.ok()) return Error{s.error()};
      json result = {{"apiVersion", "argoproj.io/v1alpha1"}, {"kind", "Application"}};
      json meta = field(app, "metadata");
      if (!meta.is_object()) meta = json::object();
      if (!ns.empty()) meta["namespace"] = ns;
      result["metadata"] = meta;
      result["spec"] = field(app, "spec");
      if (!patch.empty()) {
        // Applied as the controller applies it: a strategic merge patch of the Application, whose type
        // declares no merge keys, so maps merge, lists are replaced and null removes.
        auto text = render(patch, p, go);
        if (!text) return Error{"spec.templatePatch: " + text.error()};
        auto documents = manifests::yaml_documents_as_json(*text);
        if (!documents) return Error{"spec.templatePatch renders YAML that does not parse: " + documents.error()};
        for (const auto& document : *documents) {
          json parsed = json::parse(document, nullptr, false);
          if (parsed.is_null()) continue;
          if (!parsed.is_object()) return Error{"spec.templatePatch renders something other than a map"};
          result.merge_patch(parsed);
        }
        if (!ns.empty()) result["metadata"]["namespace"] = ns;
        meta = field(result, "metadata");
      }
      if (str(meta, "name").empty()) return Error{"the template gives an Application without a name"};
      out.push_back(std::move(result));
      if (out.size() > max) return Error{"more than " + std::to_string(max) + " Applications"};
    }
  }
  return out;
}

}  // namespace gitgate::desired::argocd
