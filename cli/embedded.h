// Files compiled into the binary (the demo's example repository, policy and requests).
#pragma once

#include <string_view>
#include <vector>

namespace gitgate::cli {

struct EmbeddedFile {
  std::string_view path;  // relative to examples/
  std::string_view content;
};

const std::vector<EmbeddedFile>& embedded_examples();

}  // namespace gitgate::cli
