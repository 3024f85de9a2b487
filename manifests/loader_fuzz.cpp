// libFuzzer target (GITGATE_FUZZ=ON, clang): any bytes as a manifest file (YAML and JSON), as kustomize
// output, and as a kustomization to annotate. The loader must report problems, never crash, hang, leak an
// exception or produce invalid JSON.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <simdjson.h>

#include "manifests/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  gitgate::manifests::Limits limits;
  limits.max_nodes = 20000;  // keeps each run fast; the budget logic is the same
  gitgate::manifests::ParseOptions rendered;
  rendered.kustomize_origin = true;
  simdjson::dom::parser parser;
  for (auto [path, options] :
       {std::pair{"fuzz.yaml", gitgate::manifests::ParseOptions{}},
        std::pair{"fuzz.json", gitgate::manifests::ParseOptions{}}, std::pair{"rendered", rendered}}) {
    auto result = gitgate::manifests::parse_file(path, text, limits, options);
    for (const auto& problem : result.problems) (void)problem.to_string();
    for (const auto& doc : result.documents) {
      auto object = gitgate::manifests::declare(doc, path, "default");
      if (object->parse(parser).error()) std::abort();  // the stored JSON must always be valid
    }
  }
  (void)gitgate::manifests::with_origin_annotations(text);
  return 0;
}
