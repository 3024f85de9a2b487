#include "core/admission.h"

namespace gitgate {

std::string_view to_string(Operation op) {
  switch (op) {
    case Operation::Create: return "CREATE";
    case Operation::Update: return "UPDATE";
    case Operation::Delete: return "DELETE";
    case Operation::Connect: return "CONNECT";
  }
  return "UNKNOWN";
}

bool UserInfo::in_group(std::string_view group) const {
  if (!groups) return false;
  for (auto g : *groups) {
    std::string_view s;
    if (!g.get(s) && s == group) return true;
  }
  return false;
}

}  // namespace gitgate
