#include "core/duration.h"

#include <gtest/gtest.h>

namespace gitgate {
namespace {

using std::chrono::microseconds;

TEST(Duration, ParsesGoStyleDurations) {
  EXPECT_EQ(parse_duration("30s").value(), microseconds(30'000'000));
  EXPECT_EQ(parse_duration("1m30s").value(), microseconds(90'000'000));
  EXPECT_EQ(parse_duration("500ms").value(), microseconds(500'000));
  EXPECT_EQ(parse_duration("1.5h").value(), microseconds(5'400'000'000));
  EXPECT_EQ(parse_duration("250us").value(), microseconds(250));
  EXPECT_EQ(parse_duration("0").value(), microseconds(0));
}

TEST(Duration, RejectsMalformedWithTheInputInTheMessage) {
  for (const char* bad : {"", "30", "s", "10x", "1..5s", "-1s", "99999999999999999h"}) {
    auto r = parse_duration(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().find(std::string("'") + bad + "'"), std::string::npos) << r.error();
  }
}

TEST(Duration, FormatsRoundTrip) {
  EXPECT_EQ(format_duration(microseconds(30'000'000)), "30s");
  EXPECT_EQ(format_duration(microseconds(300'000'000)), "5m");
  EXPECT_EQ(format_duration(microseconds(1500)), "1500us");
}

}  // namespace
}  // namespace gitgate
