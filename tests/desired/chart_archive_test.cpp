// Chart archives read without helm (desired/helm/chart_archive): a chart `helm package` wrote, and tar streams
// written here byte by byte for what helm never writes but an archive from a chart repository may hold.
#include "desired/helm/chart_archive.h"
#include "desired/helm/helm.h"

#include <gtest/gtest.h>

#include <cstdio>

#include "tests/desired/chart_servers.h"
#include "tests/support/support.h"

namespace gitgate::desired::helm {
namespace {

using gitgate::testing::TempDir;

// One tar header (ustar) and its data, padded to 512-byte blocks.
std::string entry(const std::string& name, const std::string& data, char type = '0') {
  std::string header(512, '\0');
  header.replace(0, std::min<size_t>(name.size(), 100), name.substr(0, 100));
  std::snprintf(&header[100], 8, "%07o", 0644);
  std::snprintf(&header[124], 12, "%011lo", static_cast<unsigned long>(data.size()));
  std::snprintf(&header[136], 12, "%011o", 0);
  header[156] = type;
  header.replace(257, 6, std::string("ustar\0", 6));
  header.replace(263, 2, "00");
  header.replace(148, 8, "        ");
  unsigned sum = 0;
  for (unsigned char c : header) sum += c;
  std::snprintf(&header[148], 8, "%06o", sum);
  header[155] = ' ';
  std::string padded = data;
  padded.resize((data.size() + 511) / 512 * 512, '\0');
  return header + padded;
}

std::string pax(const std::string& path) {
  std::string record = " path=" + path + "\n";
  size_t length = record.size() + 1;
  while (std::to_string(length).size() + record.size() != length) ++length;
  return entry("PaxHeaders/x", std::to_string(length) + record, 'x');
}

// Writes `tar` (two zero blocks appended) gzipped to a file in `dir`; returns its path.
std::string gzipped(const TempDir& dir, const std::string& tar) {
  std::string path = (dir / "chart.tar").string();
  gitgate::testing::write_file(path, tar + std::string(1024, '\0'));
  auto r = gitgate::testing::run_command({"gzip", "-f", path});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return path + ".gz";
}

TEST(ChartArchive, ReadsAChartHelmPackagedWithItsFilesAtTheirPaths) {
  TempDir dir;
  std::string archive = testing::package_chart("web", "1.0.0", dir.path().string());
  auto files = read_chart_archive(archive);
  ASSERT_TRUE(files.ok()) << files.error();
  std::map<std::string, std::string> by_path;
  for (const auto& f : *files) by_path[f.path] = f.data;
  ASSERT_TRUE(by_path.count("web/Chart.yaml"));
  EXPECT_NE(by_path["web/Chart.yaml"].find("version: 1.0.0"), std::string::npos);
  EXPECT_EQ(by_path["web/values-prod.yaml"], gitgate::testing::read_file(gitgate::testing::fixture_path(
                                                 "flux/charts/web/values-prod.yaml")));
  ASSERT_TRUE(write_files(*files, (dir / "out").string()).ok());
  EXPECT_EQ(gitgate::testing::read_file(dir / "out/web/values.yaml"), by_path["web/values.yaml"]);
}

TEST(ChartArchive, LongNamesComeFromPaxHeadersAndLinksAndDirectoriesAreLeftOut) {
  TempDir dir;
  std::string deep = "web/" + std::string(120, 'd') + "/values.yaml";
  std::string tar = entry("web/", "", '5') + pax(deep) + entry("ignored-short-name", "a: 1\n") +
                    entry("web/link", "", '2') + entry("./web/Chart.yaml", "name: web\n");
  auto files = read_chart_archive(gzipped(dir, tar));
  ASSERT_TRUE(files.ok()) << files.error();
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[0].path, deep);
  EXPECT_EQ((*files)[0].data, "a: 1\n");
  EXPECT_EQ((*files)[1].path, "web/Chart.yaml") << "a leading ./ is dropped";
}

TEST(ChartArchive, PathsThatLeaveTheDirectoryAndBrokenOrHugeArchivesAreRefusedWithTheirCause) {
  TempDir dir;
  auto refused = [&](const std::string& tar, const ArchiveLimits& limits = {}) {
    auto files = read_chart_archive(gzipped(dir, tar), limits);
    EXPECT_FALSE(files.ok());
    return files.ok() ? std::string() : files.error();
  };
  EXPECT_NE(refused(entry("web/../../etc/cron.d/x", "x")).find("'web/../../etc/cron.d/x' climbs out with '..'"),
            std::string::npos);
  // An absolute name is read relative to the archive: it cannot leave the directory it is written to.
  auto absolute = read_chart_archive(gzipped(dir, pax("/etc/passwd") + entry("x", "x")));
  ASSERT_TRUE(absolute.ok()) << absolute.error();
  ASSERT_EQ(absolute->size(), 1u);
  EXPECT_EQ((*absolute)[0].path, "etc/passwd");
  std::string bad = entry("web/Chart.yaml", "name: web\n");
  bad[0] = 'X';  // the checksum no longer matches
  EXPECT_NE(refused(bad).find("wrong header checksum"), std::string::npos);
  EXPECT_NE(refused(entry("web/big", std::string(70000, 'x')), ArchiveLimits{16u << 20, 65536, 10})
                .find("inflates to more than"),
            std::string::npos);
  ArchiveLimits few;
  few.max_files = 1;
  EXPECT_NE(refused(entry("a", "1") + entry("b", "2"), few).find("more than 1 entries"), std::string::npos);

  gitgate::testing::write_file(dir / "truncated.tgz", "\x1f\x8b\x08\x00");
  auto truncated = read_chart_archive((dir / "truncated.tgz").string());
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.error().find("truncated.tgz: the gzip stream is truncated"), std::string::npos)
      << truncated.error();
  EXPECT_FALSE(read_chart_archive((dir / "absent.tgz").string()).ok());
}

// A chart in Git may name local charts as dependencies (file://../common), but only inside the repository:
// Git cannot make helm package the rest of the disk into declared objects.
TEST(HelmDependencies, AFileDependencyOutsideTheRepositoryIsRefusedBeforeHelmRuns) {
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "repo/charts/app");
  std::filesystem::create_directories(dir.path() / "repo/charts/common");
  std::filesystem::create_directories(dir.path() / "elsewhere");
  auto chart = [&](const std::string& repository) {
    gitgate::testing::write_file(dir.path() / "repo/charts/app/Chart.yaml",
                                 "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n  - name: common\n"
                                 "    version: 0.1.0\n    repository: " + repository + "\n");
  };
  Tool tool;
  tool.command = {"/bin/false"};  // helm must not run for a refused chart
  std::string root = (dir.path() / "repo").string(), app = (dir.path() / "repo/charts/app").string();
  chart("file://../../../elsewhere");
  Status refused = build_dependencies(tool, app, root, "");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error(), "Chart.yaml:7: dependency repository file://../../../elsewhere lies outside the repository");
  chart("file:///etc");
  EXPECT_FALSE(build_dependencies(tool, app, root, "").ok());
  chart("file://../common");  // inside: helm runs (and here fails, being /bin/false)
  Status inside = build_dependencies(tool, app, root, "");
  ASSERT_FALSE(inside.ok());
  EXPECT_NE(inside.error().find("helm dependency build"), std::string::npos) << inside.error();
}

}  // namespace
}  // namespace gitgate::desired::helm
