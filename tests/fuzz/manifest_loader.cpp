// libFuzzer target: any bytes as a manifest file from Git, read with the Limits a snapshot uses (1 MiB,
// depth 64) but a node budget of 10,000 instead of 100,000, as YAML, as JSON and as `kustomize build` output
// with origin annotations, and as a kustomization to annotate. The budget's code is the same at either
// size; at 100,000, the 1.4 % of the corpus that expands aliases up to it took 92 % of the time. Beyond "no crash, no leak,
// no hang" (the alias budget must bound the work of every input) it checks that each stored object is
// valid JSON without a repeated key, that a v1 Secret keeps no value in data/stringData and no field the API
// server does not know, and that declare() accepts every document.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <utility>
#include <vector>

#include <simdjson.h>

#include "manifests/loader.h"

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

bool secret_field(std::string_view key) {
  return key == "apiVersion" || key == "kind" || key == "metadata" || key == "type" || key == "immutable" ||
         key == "data" || key == "stringData";
}

// The engine relies on it: one value per key (member lookups would otherwise see only the first).
void check_unique_keys(element e) {
  switch (e.type()) {
    case element_type::OBJECT: {
      std::vector<std::string_view> keys;
      for (auto field : object(e)) {
        keys.push_back(field.key);
        check_unique_keys(field.value);
      }
      std::sort(keys.begin(), keys.end());
      if (std::adjacent_find(keys.begin(), keys.end()) != keys.end()) std::abort();
      break;
    }
    case element_type::ARRAY:
      for (element item : simdjson::dom::array(e)) check_unique_keys(item);
      break;
    default:
      break;
  }
}

void check_secret(element root) {
  object top;
  if (root.get(top)) std::abort();
  for (auto field : top) {
    if (!secret_field(field.key)) std::abort();  // an unknown field could carry a value
    if (field.key != "data" && field.key != "stringData") continue;
    if (field.value.is_null()) continue;
    object values;
    if (field.value.get(values)) std::abort();
    for (auto value : values) {
      std::string_view text;
      if (value.value.get(text) || !text.empty()) std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static simdjson::dom::parser parser;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  gitgate::manifests::Limits limits;
  limits.max_nodes = 10000;
  gitgate::manifests::ParseOptions rendered;
  rendered.kustomize_origin = true;
  // A .json file is read as a .yaml one unless it holds a \u escape (surrogate pairs are decoded first):
  // without one, that reading would only repeat the first.
  const bool escapes = text.find("\\u") != std::string_view::npos;
  for (auto [path, options] : {std::pair{"clusters/prod/fuzz.yaml", gitgate::manifests::ParseOptions{}},
                               std::pair{"clusters/prod/fuzz.json", gitgate::manifests::ParseOptions{}},
                               std::pair{"rendered", rendered}}) {
    if (!escapes && std::string_view(path).ends_with(".json")) continue;
    auto result = gitgate::manifests::parse_file(path, text, limits, options);
    for (const auto& problem : result.problems) (void)problem.to_string();
    for (const auto& doc : result.documents) {
      auto object = gitgate::manifests::declare(doc, path, "default");
      element root;
      if (object->parse(parser).get(root)) std::abort();
      if (root.type() != element_type::OBJECT) std::abort();
      check_unique_keys(root);
      if (doc.api_version == "v1" && doc.kind == "Secret") check_secret(root);
    }
  }
  (void)gitgate::manifests::with_origin_annotations(text);  // the same bytes as a kustomization.yaml
  return 0;
}
