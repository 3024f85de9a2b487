// libFuzzer target (GITGATE_FUZZ=ON, clang): any bytes as a policy file, plus the kind and path pattern
// parsers. The loader must report problems, never crash, hang or leak an exception.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "policies/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto result = gitgate::policies::load_policies_from_text("fuzz.yaml", text);
  for (const auto& error : result.errors) (void)error.to_string();
  (void)gitgate::policies::parse_kind_pattern(text.substr(0, 400));
  (void)gitgate::policies::parse_path_pattern(text.substr(0, 2000));
  return 0;
}
