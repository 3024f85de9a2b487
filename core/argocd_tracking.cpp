#include "core/argocd_tracking.h"

namespace gitgate::argocd {

std::string instance_name(std::string_view app_ns, std::string_view app_name, std::string_view argo_ns) {
  if (app_ns.empty() || app_ns == argo_ns) return std::string(app_name);
  return std::string(app_ns) + "_" + std::string(app_name);
}

ApplicationRef application_of_instance(std::string_view instance, std::string_view argo_ns) {
  // Namespace and Application names never hold '_', so the first one separates them.
  auto underscore = instance.find('_');
  if (underscore == std::string_view::npos) return {std::string(argo_ns), std::string(instance)};
  return {std::string(instance.substr(0, underscore)), std::string(instance.substr(underscore + 1))};
}

std::string tracked_instance(std::string_view id) {
  auto first = id.find(':');
  if (first == std::string_view::npos || first == 0) return {};
  auto second = id.find(':', first + 1);
  if (second == std::string_view::npos) return {};
  std::string_view type = id.substr(first + 1, second - first - 1);
  std::string_view object = id.substr(second + 1);
  if (type.find('/') == std::string_view::npos || object.find('/') == std::string_view::npos) return {};
  if (object.ends_with("/")) return {};
  return std::string(id.substr(0, first));
}

}  // namespace gitgate::argocd
