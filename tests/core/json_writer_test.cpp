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

// The writer skips plain ASCII 8 bytes at a time: every byte that needs escaping or a UTF-8 check must be
// found wherever it falls in (or across) those 8-byte words, and nothing else may change.
TEST(JsonWriter, FindsEveryByteThatNeedsALookAtEveryOffset) {
  const std::pair<std::string, std::string> cases[] = {
      {"\"", "\\\""},
      {"\\", "\\\\"},
      {"\n", "\\n"},
      {std::string(1, '\0'), "\\u0000"},
      {"\x1f", "\\u001f"},
      {"\x7f", "\x7f"},
      {" ", " "},
      {"\xc3\xa9", "\xc3\xa9"},
      {"\xe2\x82\xac", "\xe2\x82\xac"},
      {"\xff", "\xEF\xBF\xBD"},
      {"!", "!"},
      {"#", "#"},
      {"[", "["},
      {"]", "]"},
  };
  const std::string filler = "abcdefghijklmnopqrstuvwxyz";
  for (const auto& [raw, escaped] : cases) {
    for (size_t at = 0; at <= 20; ++at) {
      for (size_t after : {size_t{0}, size_t{3}, size_t{8}}) {
        std::string in = filler.substr(0, at) + raw + filler.substr(at, after);
        std::string want = "\"" + filler.substr(0, at) + escaped + filler.substr(at, after) + "\"";
        EXPECT_EQ(quoted(std::string_view(in)), want)
            << "byte(s) " << testing::PrintToString(raw) << " at " << at;
      }
    }
  }
  const std::string long_text = std::string(64, 'x') + "\"" + std::string(64, 'y');
  EXPECT_EQ(quoted(std::string_view(long_text)),
            "\"" + std::string(64, 'x') + "\\\"" + std::string(64, 'y') + "\"");
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
