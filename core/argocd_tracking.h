// How Argo CD ties a live object to its Application (its resource tracking), shared by the builder that
// writes the tracking into declared objects and the engine that reads it on requests.
#pragma once

#include <string>
#include <string_view>

namespace gitgate::argocd {

inline constexpr std::string_view kInstanceLabel = "app.kubernetes.io/instance";
inline constexpr std::string_view kTrackingAnnotation = "argocd.argoproj.io/tracking-id";

struct ApplicationRef {
  std::string ns;
  std::string name;
};

// The value Argo CD's tracking gives an Application: its name in Argo CD's own namespace, else
// "<namespace>_<name>" (applications in any namespace).
std::string instance_name(std::string_view app_ns, std::string_view app_name, std::string_view argo_ns);

// The Application an instance value names ("web", or "team-a_web" outside Argo CD's namespace).
ApplicationRef application_of_instance(std::string_view instance, std::string_view argo_ns);

// The instance a tracking-id annotation names ("<app>:<group>/<kind>:<namespace>/<name>"), or "" when the
// value does not have that shape.
std::string tracked_instance(std::string_view tracking_id);

}  // namespace gitgate::argocd
