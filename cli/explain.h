// A human explanation of a decision, for the offline commands' stderr.
#pragma once

#include <string>

#include "core/admission.h"
#include "core/decision.h"

namespace gitgate::cli {

std::string explain(const AdmissionRequest& request, const Decision& decision);

}  // namespace gitgate::cli
