// Rewrites a kustomization so `kustomize build` annotates each object with the file it came from.
#include <yaml-cpp/yaml.h>

#include "manifests/loader.h"

namespace gitgate::manifests {

Result<std::string> with_origin_annotations(std::string_view kustomization_yaml) {
  try {
    YAML::Node root = YAML::Load(std::string(kustomization_yaml));
    if (!root.IsMap()) return Error{"the kustomization is not a mapping"};
    YAML::Node build_metadata = root["buildMetadata"];
    if (!build_metadata.IsDefined() || build_metadata.IsNull()) {
      root["buildMetadata"].push_back("originAnnotations");
    } else if (build_metadata.IsSequence()) {
      bool present = false;
      for (const auto& item : build_metadata)
        present = present || (item.IsScalar() && item.Scalar() == "originAnnotations");
      if (!present) build_metadata.push_back("originAnnotations");
    } else {
      return Error{"buildMetadata in the kustomization must be a list"};
    }
    YAML::Emitter out;
    out << root;
    if (!out.good()) return Error{"cannot write the kustomization: " + out.GetLastError()};
    return std::string(out.c_str(), out.size());
  } catch (const YAML::Exception& e) {
    return Error{"cannot read the kustomization: line " + std::to_string(e.mark.line + 1) + ": " + e.msg};
  }
}

}  // namespace gitgate::manifests
