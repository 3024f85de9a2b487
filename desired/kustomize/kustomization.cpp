#include "desired/kustomize/kustomization.h"

#include <algorithm>
#include <fstream>

#include "core/subprocess.h"
#include "manifests/yaml_document.h"

namespace gitgate::desired::kustomize {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr size_t kMaxGeneratedResources = 20000;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// fluxcd/pkg's generator: every *.yaml / *.yml file below `directory` (exact case), in lexical order, and
// every sub-directory holding a kustomization file as a whole (not descended into).
Status generate_resources(const fs::path& directory, const fs::path& at, json& resources) {
  std::vector<fs::directory_entry> entries;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(at, ec)) entries.push_back(entry);
  if (ec) return Error{"cannot list " + at.string() + ": " + ec.message()};
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.path().filename() < b.path().filename(); });
  for (const auto& entry : entries) {
    if (resources.size() > kMaxGeneratedResources) return Error{"more than 20000 manifests below the path"};
    std::string relative = "./" + fs::relative(entry.path(), directory).generic_string();
    if (entry.is_directory(ec)) {
      if (!kustomization_file(entry.path()).empty()) {
        resources.push_back(relative);
        continue;
      }
      if (Status s = generate_resources(directory, entry.path(), resources); !s.ok()) return s;
    } else if (entry.is_regular_file(ec)) {
      std::string name = entry.path().filename().string();
      if (name.ends_with(".yaml") || name.ends_with(".yml")) resources.push_back(relative);
    }
  }
  return Status::Ok();
}

void append(json& k, const char* field, const json& items) {
  if (!items.is_array() || items.empty()) return;
  if (!k[field].is_array()) k[field] = json::array();
  for (const auto& item : items) k[field].push_back(item);
}

// spec.images merged by name: the Flux entry's fields win; one that names no image of the file is added.
void merge_images(json& k, const json& images) {
  if (!images.is_array() || images.empty()) return;
  if (!k["images"].is_array()) k["images"] = json::array();
  for (const auto& image : images) {
    auto same = std::find_if(k["images"].begin(), k["images"].end(),
                             [&](const json& i) { return i.value("name", "") == image.value("name", ""); });
    if (same == k["images"].end()) {
      k["images"].push_back(image);
      continue;
    }
    if (image.contains("newTag") || image.contains("digest")) {
      same->erase("newTag");
      same->erase("digest");
    }
    for (const auto& [key, value] : image.items()) (*same)[key] = value;
  }
}

}  // namespace

std::string kustomization_file(const fs::path& directory) {
  for (const char* name : {"kustomization.yaml", "kustomization.yml", "Kustomization"}) {
    std::error_code ec;
    if (fs::is_regular_file(directory / name, ec)) return name;
  }
  return {};
}

Result<std::string> flux_kustomization(const fs::path& directory, const json& spec) {
  json k;
  std::string existing = kustomization_file(directory);
  if (!existing.empty()) {
    auto docs = manifests::yaml_documents_as_json(read_file(directory / existing));
    if (!docs) return Error{existing + ": " + docs.error()};
    if (docs->empty()) return Error{existing + " is empty"};
    try {
      k = json::parse(docs->front());
    } catch (const json::exception& e) {
      return Error{existing + ": " + e.what()};
    }
    if (!k.is_object()) return Error{existing + " is not a mapping"};
  } else {
    k = {{"apiVersion", "kustomize.config.k8s.io/v1beta1"},
         {"kind", "Kustomization"},
         {"resources", json::array()}};
    if (Status s = generate_resources(directory, directory, k["resources"]); !s.ok()) return Error{s.error()};
    if (k["resources"].empty()) k["namespace"] = "_placeholder";  // builds to nothing, as Flux's does
  }
  if (spec.contains("targetNamespace") && spec["targetNamespace"].is_string())
    k["namespace"] = spec["targetNamespace"];
  for (const char* field : {"namePrefix", "nameSuffix"})
    if (spec.contains(field) && spec[field].is_string()) k[field] = spec[field];
  append(k, "patches", spec.value("patches", json()));
  append(k, "components", spec.value("components", json()));
  append(k, "patchesStrategicMerge", spec.value("patchesStrategicMerge", json()));
  append(k, "patchesJson6902", spec.value("patchesJson6902", json()));
  merge_images(k, spec.value("images", json()));
  k["buildMetadata"] = json::array({"originAnnotations", "transformerAnnotations"});
  return k.dump();
}

std::string post_render_kustomization(const std::vector<std::string>& resources, const json& kustomize) {
  json k = {
      {"apiVersion", "kustomize.config.k8s.io/v1beta1"}, {"kind", "Kustomization"}, {"resources", resources}};
  if (kustomize.is_object()) {
    append(k, "patches", kustomize.value("patches", json()));
    append(k, "patchesStrategicMerge", kustomize.value("patchesStrategicMerge", json()));
    append(k, "patchesJson6902", kustomize.value("patchesJson6902", json()));
    merge_images(k, kustomize.value("images", json()));
  }
  return k.dump();
}

Result<std::string> build(const fs::path& directory, const fs::path& root, const RunOptions& options) {
  ProcessOptions process;
  process.argv = options.command;
  process.argv.insert(process.argv.end(), {"--load-restrictor", "LoadRestrictionsNone", directory.string()});
  process.working_directory = root.string();
  process.timeout = options.timeout;
  process.max_stdout = options.max_output_bytes;
  process.cancel_fd = options.cancel_fd;
  ProcessResult run = run_process(process);
  if (run.succeeded()) return std::move(run.out);
  std::string detail = run.err;
  std::string prefix = root.string() + "/";
  for (size_t at = detail.find(prefix); at != std::string::npos; at = detail.find(prefix, at))
    detail.erase(at, prefix.size());
  std::replace(detail.begin(), detail.end(), '\n', ' ');
  if (detail.size() > 512) detail.resize(512);
  std::string command = options.command.empty() ? "kustomize" : options.command.front();
  return Error{command + " " + run.outcome(options.timeout) + (detail.empty() ? "" : ": " + detail)};
}

std::vector<std::string> split_documents(const std::string& stream) {
  std::vector<std::string> out;
  std::string current;
  size_t start = 0;
  while (start <= stream.size()) {
    size_t end = stream.find('\n', start);
    std::string_view line =
        std::string_view(stream).substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (line == "---" || line.starts_with("--- ")) {
      if (current.find_first_not_of(" \n\t") != std::string::npos) out.push_back(std::move(current));
      current.clear();
    } else {
      current.append(line);
      current += '\n';
    }
    if (end == std::string::npos) break;
    start = end + 1;
  }
  if (current.find_first_not_of(" \n\t") != std::string::npos) out.push_back(std::move(current));
  return out;
}

}  // namespace gitgate::desired::kustomize
