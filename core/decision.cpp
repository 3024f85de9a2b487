#include "core/decision.h"

namespace gitgate {

std::string_view to_string(Mode mode) {
  switch (mode) {
    case Mode::Enforce: return "enforce";
    case Mode::Warn: return "warn";
    case Mode::Audit: return "audit";
  }
  return "enforce";
}

std::string_view to_string(Identity identity) {
  switch (identity) {
    case Identity::None: return "none";
    case Identity::BreakGlass: return "break-glass";
    case Identity::Agent: return "agent";
    case Identity::Controller: return "controller";
    case Identity::Person: return "person";
  }
  return "none";
}

}  // namespace gitgate
