// libFuzzer target: any bytes as an ApplicationSet's Go template (desired::argocd::render_go_template), with
// parameters shaped like a git generator's and a list element's. Beyond "no crash, no hang, no runaway
// memory": a template that renders renders the same text again (evaluation is deterministic), within the
// output bound.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "desired/argocd/go_template.h"

namespace {

const nlohmann::json& params() {
  static const nlohmann::json p = {
      {"path", {{"path", "apps/web"}, {"basename", "web"}, {"segments", {"apps", "web"}}}},
      {"name", "web"},
      {"autoSync", "true"},
      {"replicas", 3},
      {"enabled", true},
      {"tags", {"a", "b"}},
      {"labels", {{"tier", "front"}}}};
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto first = gitgate::desired::argocd::render_go_template(text, params());
  if (!first) return 0;
  if (first->size() > 2 * 1024 * 1024) std::abort();
  auto second = gitgate::desired::argocd::render_go_template(text, params());
  if (!second || *second != *first) std::abort();
  return 0;
}
