#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "audit/reader.h"
#include "tests/support/support.h"

namespace gitgate::audit {
namespace {

using gitgate::testing::TempDir;

void append(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::app | std::ios::binary) << text;
}

std::vector<std::string> read_all(LogFileReader& reader, bool* last_terminated = nullptr) {
  std::vector<std::string> lines;
  LogLine line;
  while (reader.next(line)) {
    lines.emplace_back(line.text);
    if (last_terminated != nullptr) *last_terminated = line.terminated;
  }
  EXPECT_EQ(reader.error(), "");
  return lines;
}

// The first read is sized by the file at open; what a writer appends afterwards is still read in full.
TEST(AuditReader, ReadsLinesAppendedAfterOpenAcrossChunkBoundaries) {
  TempDir dir;
  const auto path = dir / "audit.log";
  append(path, "first\nsecond\n");
  auto reader = LogFileReader::open(path.string());
  ASSERT_TRUE(reader) << reader.error();
  const std::string long_line(300 * 1024, 'x');  // longer than one 256 KiB read
  append(path, "third\n" + long_line + "\nfifth");
  bool terminated = true;
  auto lines = read_all(*reader, &terminated);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0], "first");
  EXPECT_EQ(lines[1], "second");
  EXPECT_EQ(lines[2], "third");
  EXPECT_EQ(lines[3], long_line);
  EXPECT_EQ(lines[4], "fifth");
  EXPECT_FALSE(terminated);
}

TEST(AuditReader, ASmallFileAndAnEmptyFileReadInOneGo) {
  TempDir dir;
  append(dir / "small", "a\nbb\n");
  append(dir / "empty", "");
  auto small = LogFileReader::open((dir / "small").string());
  ASSERT_TRUE(small) << small.error();
  EXPECT_EQ(read_all(*small), (std::vector<std::string>{"a", "bb"}));
  auto empty = LogFileReader::open((dir / "empty").string());
  ASSERT_TRUE(empty) << empty.error();
  EXPECT_TRUE(read_all(*empty).empty());
}

}  // namespace
}  // namespace gitgate::audit
