#include "manifests/scalar.h"

#include <gtest/gtest.h>

namespace gitgate::manifests {
namespace {

std::string quoted(std::string_view v) {
  std::string out;
  out += '"';
  out += v;
  out += '"';
  return out;
}

std::string json_of(ScalarTag tag, std::string_view value) {
  std::string buffer;
  auto s = resolve_scalar(tag, value, buffer);
  if (!s) return "<error>";
  switch (s->type) {
    case ScalarType::Null:
      return "null";
    case ScalarType::Bool:
      return std::string(s->text);
    case ScalarType::Number:
      return std::string(s->text);
    case ScalarType::String:
      return quoted(s->text);
  }
  return "?";
}

std::string plain(std::string_view v) {
  return json_of(ScalarTag::Plain, v);
}

TEST(Scalar, NullForms) {
  for (auto v : {"", "~", "null", "Null", "NULL"}) EXPECT_EQ(plain(v), "null") << v;
  EXPECT_EQ(plain("nULL"), "\"nULL\"");
}

TEST(Scalar, BooleansInTheirCaseVariantsOnly) {
  EXPECT_EQ(plain("true"), "true");
  EXPECT_EQ(plain("True"), "true");
  EXPECT_EQ(plain("FALSE"), "false");
  EXPECT_EQ(plain("tRUE"), "\"tRUE\"");
  // YAML 1.1 booleans are strings in the core schema.
  for (auto v : {"yes", "no", "on", "off", "y", "n"}) EXPECT_EQ(plain(v), quoted(v)) << v;
}

TEST(Scalar, IntegersBecomeValidJsonNumbers) {
  EXPECT_EQ(plain("0"), "0");
  EXPECT_EQ(plain("012"), "12");
  EXPECT_EQ(plain("+5"), "5");
  EXPECT_EQ(plain("-7"), "-7");
  EXPECT_EQ(plain("-0"), "0");
  EXPECT_EQ(plain("0x1F"), "31");
  EXPECT_EQ(plain("0o17"), "15");
  EXPECT_EQ(plain("18446744073709551615"), "18446744073709551615");
  EXPECT_EQ(plain("-9223372036854775808"), "-9223372036854775808");
  EXPECT_EQ(plain("123456789012345678901234567890"), "1.2345678901234568e+29");
  // Not integers in the core schema.
  for (auto v : {"1_000", "0b101", "0x", "0o8", "1:20", "0xFFFFFFFFFFFFFFFFFF"})
    EXPECT_EQ(plain(v), quoted(v)) << v;
}

TEST(Scalar, FloatsBecomeValidJsonNumbers) {
  EXPECT_EQ(plain(".5"), "0.5");
  EXPECT_EQ(plain("-.5"), "-0.5");
  EXPECT_EQ(plain("1."), "1");
  EXPECT_EQ(plain("-007."), "-7");
  EXPECT_EQ(plain("+1.50"), "1.50");
  EXPECT_EQ(plain("007.25"), "7.25");
  EXPECT_EQ(plain("1e3"), "1e3");
  EXPECT_EQ(plain("2.5E+07"), "2.5e07");
  EXPECT_EQ(plain("1e-3"), "1e-3");
  EXPECT_EQ(plain("1e-99999"), "0");
}

TEST(Scalar, ValuesJsonCannotHoldStayStrings) {
  for (auto v : {".inf", "-.Inf", "+.INF", ".nan", ".NaN", "1e400", "1.5.2", "1e", "."})
    EXPECT_EQ(plain(v), quoted(v)) << v;
}

TEST(Scalar, QuotedAndBlockScalarsAreStrings) {
  EXPECT_EQ(json_of(ScalarTag::NonPlain, "12"), "\"12\"");
  EXPECT_EQ(json_of(ScalarTag::NonPlain, "true"), "\"true\"");
  EXPECT_EQ(json_of(ScalarTag::NonPlain, ""), "\"\"");
}

TEST(Scalar, ExplicitTagsAreHonoured) {
  EXPECT_EQ(json_of(ScalarTag::Str, "12"), "\"12\"");
  EXPECT_EQ(json_of(ScalarTag::Str, "null"), "\"null\"");
  EXPECT_EQ(json_of(ScalarTag::Int, "0x10"), "16");
  EXPECT_EQ(json_of(ScalarTag::Float, "3"), "3");
  EXPECT_EQ(json_of(ScalarTag::Float, ".inf"), "\".inf\"");
  EXPECT_EQ(json_of(ScalarTag::Bool, "True"), "true");
  EXPECT_EQ(json_of(ScalarTag::Null, "anything"), "null");
  EXPECT_EQ(json_of(ScalarTag::Other, "aGVsbG8="), "\"aGVsbG8=\"");
}

TEST(Scalar, ExplicitTagThatDoesNotFitIsAnError) {
  EXPECT_EQ(json_of(ScalarTag::Int, "abc"), "<error>");
  EXPECT_EQ(json_of(ScalarTag::Int, "1.5"), "<error>");
  EXPECT_EQ(json_of(ScalarTag::Float, "x"), "<error>");
  EXPECT_EQ(json_of(ScalarTag::Bool, "yes"), "<error>");
}

TEST(Scalar, ParserTagsMapToScalarTags) {
  EXPECT_EQ(scalar_tag("?"), ScalarTag::Plain);
  EXPECT_EQ(scalar_tag("!"), ScalarTag::NonPlain);
  EXPECT_EQ(scalar_tag("tag:yaml.org,2002:int"), ScalarTag::Int);
  EXPECT_EQ(scalar_tag("tag:yaml.org,2002:binary"), ScalarTag::Other);
  EXPECT_EQ(scalar_tag("!local"), ScalarTag::Other);
}

}  // namespace
}  // namespace gitgate::manifests
