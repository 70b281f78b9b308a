// A full disk while `ingest --overwrite` replaces an earlier catalog: the earlier catalog stays
// whole (manifest and every file), and nothing of the new one is left. The other commands'
// full-disk cases are in test_reliability_cli.cpp and test_reliability_deep_cli.cpp.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <map>

#include "lstfuse/core/catalog.hpp"
#include "test_support.hpp"

using namespace lstfuse;
namespace fs = std::filesystem;

namespace test_full_disk_cli {  // file-local names stay apart in merged builds (LSTFUSE_UNITY_BUILD)

namespace {

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

std::map<std::string, std::string> contents(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    out[fs::relative(e.path(), dir).string()] = {std::istreambuf_iterator<char>(in), {}};
  }
  return out;
}

}  // namespace

TEST(FullDiskCli, IngestOverwriteKeepsTheEarlierCatalogWhole) {
  test::TempDir tmp;
  const auto yanco = test::shared_data("yanco");
  ASSERT_EQ(test::run_cli("ingest " + q(yanco) + " -o " + q(tmp / "cat")).exit_code, 0);
  const auto before = contents(tmp / "cat");
  ASSERT_EQ(before.size(), 6u);  // five observations and the manifest
  // RLIMIT_FSIZE (KiB) stands in for a full disk: every write past it fails with EFBIG.
  const auto r = test::run_shell("cd " + q(tmp.path()) + " && ulimit -f 200 && $L ingest " + q(yanco) +
                                 " -o cat --overwrite --resampling average");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("write failed"), std::string::npos) << r.output;
  std::string line = r.output;
  while (!line.empty() && line.back() == '\n') line.pop_back();
  EXPECT_EQ(line.find('\n'), std::string::npos) << r.output;
  EXPECT_EQ(contents(tmp / "cat"), before);
  // Nothing else in the folder: no build folder, no moved-aside catalog.
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(tmp.path())) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"cat"});
}

}  // namespace test_full_disk_cli
