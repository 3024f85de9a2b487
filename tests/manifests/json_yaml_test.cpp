// json_to_yaml: what `gitgate declared -o yaml` prints reads back, with gitgate's own YAML reader, as the very
// value it was written from, whatever the strings look like.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "manifests/json_yaml.h"
#include "manifests/yaml_document.h"

namespace gitgate::manifests {
namespace {

using json = nlohmann::json;

json read_back(const std::string& yaml) {
  auto docs = yaml_documents_as_json(yaml);
  if (!docs.ok() || docs->size() != 1) return "unreadable: " + yaml;
  return json::parse((*docs)[0]);
}

TEST(JsonToYaml, EveryValueReadsBackAsItself) {
  json object = {
      {"apiVersion", "v1"},
      {"kind", "ConfigMap"},
      {"metadata", {{"name", "settings"}, {"labels", {{"on", "yes"}, {"8080", "1.10"}}}}},
      {"data",
       {{"bool", "true"}, {"yes", "Yes"}, {"null", "null"}, {"tilde", "~"}, {"empty", ""}, {"octal", "0755"},
        {"hex", "0x1F"}, {"float", "1e3"}, {"negative", "-1"}, {"time", "12:30"}, {"version", "1.10"},
        {"colon", "a: b"}, {"hash", "a #b"}, {"leading", " spaced"}, {"star", "*alias"}, {"quote", "\"q\""},
        {"script", "#!/bin/sh\necho hi\n"}, {"no-final-newline", "a\nb"}, {"indented", "  first\nsecond\n"},
        {"unicode", "café ✓"}}},
      {"spec", {{"replicas", 3}, {"ratio", 0.5}, {"enabled", false}, {"nothing", nullptr}, {"list", {1, "2", json::array()}},
                {"empty", json::object()}}}};
  std::string yaml = json_to_yaml(object);
  EXPECT_EQ(read_back(yaml), object) << yaml;
  EXPECT_NE(yaml.find("kind: ConfigMap"), std::string::npos) << "plain where plain reads the same: " << yaml;
  EXPECT_NE(yaml.find("script: |"), std::string::npos) << "multi-line strings as blocks: " << yaml;
}

}  // namespace
}  // namespace gitgate::manifests
