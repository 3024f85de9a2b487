#include "core/json_writer.h"

#include <gtest/gtest.h>

namespace gitgate {
namespace {

std::string quoted(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

TEST(JsonWriter, EscapesControlCharactersQuotesAndBackslashes) {
  EXPECT_EQ(quoted("a\"b\\c\n\t\x01"), "\"a\\\"b\\\\c\\n\\t\\u0001\"");
}

TEST(JsonWriter, KeepsValidUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(quoted("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
  EXPECT_EQ(quoted("a\xff" "b"), "\"a\xEF\xBF\xBD" "b\"");
  EXPECT_EQ(quoted("\xed\xa0\x80"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");  // UTF-16 surrogate
}

TEST(Utf8, FirstInvalidByteIsFoundAndValidTextHasNone) {
  EXPECT_EQ(invalid_utf8_offset(""), std::string_view::npos);
  EXPECT_EQ(invalid_utf8_offset("caf\xc3\xa9 \xf0\x9f\x98\x80"), std::string_view::npos);
  EXPECT_EQ(invalid_utf8_offset("ab\xff"), 2u);
  EXPECT_EQ(invalid_utf8_offset("a\xc3"), 1u);              // truncated sequence
  EXPECT_EQ(invalid_utf8_offset("\xc0\xaf"), 0u);           // overlong '/'
  EXPECT_EQ(invalid_utf8_offset("x\xed\xa0\x80"), 1u);     // UTF-16 surrogate
  EXPECT_EQ(invalid_utf8_offset("\xf4\x90\x80\x80"), 0u);  // beyond U+10FFFF
}

TEST(JsonWriter, WritesNestedStructures) {
  std::string out;
  JsonWriter w(out);
  w.begin_object().field("a", 1).key("b").begin_array().value("x").value(true).null().end_array().field("c", "d");
  w.end_object();
  EXPECT_EQ(out, R"({"a":1,"b":["x",true,null],"c":"d"})");
}

}  // namespace
}  // namespace gitgate
