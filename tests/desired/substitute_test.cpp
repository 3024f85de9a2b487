// Flux's post-build substitution (drone/envsubst as kustomize-controller runs it), on one object's text.
#include "desired/flux/substitute.h"

#include <gtest/gtest.h>

namespace gitgate::desired::flux {
namespace {

TEST(FluxSubstitute, ValuesDefaultsAndEscapes) {
  Variables v{{{"APP", "web"}, {"EMPTY", ""}}, false};
  EXPECT_EQ(substitute("name: ${APP}", v), "name: web");
  EXPECT_EQ(substitute("a: ${MISSING:=x} b: ${EMPTY:-y} c: ${MISSING}", v), "a: x b: y c: ");
  EXPECT_EQ(substitute("literal: $${APP}", v), "literal: ${APP}");
  EXPECT_EQ(substitute("kept: ${APP^^} ${#APP}", v), "kept: ${APP^^} ${#APP}") << "forms Flux leaves alone";
  EXPECT_EQ(substitute("open: ${APP", v), "open: ${APP");
}

// A default holding expressions of its own, as bjw-s-labs/home-ops writes `name: "${CLAIM:-${APP}}"` in a
// component shared by many Kustomizations.
TEST(FluxSubstitute, ADefaultMayHoldExpressionsOfItsOwn) {
  Variables v{{{"APP", "web"}, {"CLAIM", "data"}}, false};
  EXPECT_EQ(substitute("name: \"${UNSET:-${APP}}\"", v), "name: \"web\"");
  EXPECT_EQ(substitute("name: ${CLAIM:-${APP}}-x", v), "name: data-x");
  EXPECT_EQ(substitute("name: ${A:-${B:-${APP}-2}}", v), "name: web-2");
  Variables partial{{{"APP", "web"}}, true};
  EXPECT_EQ(substitute("name: ${UNSET:-${APP}}", partial), "name: ${UNSET:-${APP}}")
      << "a variable gitgate cannot read may be set: the expression stays, and matches any value";
  std::string deep = "x";
  for (int i = 0; i < 40; ++i) deep = "${U" + std::to_string(i) + ":-" + deep + "}";
  EXPECT_EQ(substitute(deep, v).find("${"), 0u) << "nesting is bounded; beyond it, text is left as written";
}

}  // namespace
}  // namespace gitgate::desired::flux
