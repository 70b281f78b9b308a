// Symbolic links inside a catalog folder: those that stay inside are followed, those that lead
// out of it (a file link, or a link to a folder on the way) are refused, when the manifest is
// loaded and again whenever a file is looked up.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "lstfuse/core/catalog.hpp"
#include "lstfuse/core/error.hpp"
#include "lstfuse/pipeline/ingest.hpp"
#include "test_support.hpp"

using namespace lstfuse;
namespace fs = std::filesystem;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// A catalog folder `cat` with one fine observation at `path` (and optionally a land cover).
void write_manifest(const fs::path& cat, const std::string& path, const std::string& landcover = "") {
  nlohmann::json j = {{"format", "lstfuse-catalog"},
                      {"grid", {{"width", 4}, {"height", 4}, {"transform", {0, 30, 0, 0, 0, -30}}, {"crs", ""}}},
                      {"observations", {{{"date", "2020-01-01"}, {"role", "fine"}, {"path", path}}}}};
  if (!landcover.empty()) j["landcover"] = {{"path", landcover}, {"classes", {{"1", "crop"}}}};
  fs::create_directories(cat);
  std::ofstream(cat / "manifest.json") << j.dump();
}

}  // namespace

TEST(CatalogLinks, LinksLeadingOutOfTheCatalogAreRefused) {
  test::TempDir tmp;
  const fs::path cat = tmp / "cat", outside = tmp / "outside";
  fs::create_directories(cat / "fine");
  fs::create_directories(outside);
  std::ofstream(outside / "secret.tif") << "not yours";
  std::ofstream(cat / "fine" / "a.tif") << "ours";

  // A file link to an absolute path outside.
  fs::create_symlink(outside / "secret.tif", cat / "fine" / "abs.tif");
  write_manifest(cat, "fine/abs.tif");
  std::string msg = error_of([&] { Catalog::load(cat); });
  EXPECT_NE(msg.find("manifest.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("fine/abs.tif"), std::string::npos) << msg;
  EXPECT_NE(msg.find("symbolic link"), std::string::npos) << msg;
  EXPECT_NE(msg.find("secret.tif"), std::string::npos) << msg;

  // A relative link climbing out ("../../outside/secret.tif"): the manifest names no "..".
  fs::create_symlink("../../outside/secret.tif", cat / "fine" / "rel.tif");
  write_manifest(cat, "fine/rel.tif");
  msg = error_of([&] { Catalog::load(cat); });
  EXPECT_NE(msg.find("symbolic link"), std::string::npos) << msg;

  // A link to a folder on the way ("sub -> outside").
  fs::create_directory_symlink(outside, cat / "sub");
  write_manifest(cat, "sub/secret.tif");
  msg = error_of([&] { Catalog::load(cat); });
  EXPECT_NE(msg.find("symbolic link"), std::string::npos) << msg;

  // The land cover is a catalog path too: absolute, "..", and links out are refused.
  for (const char* lc : {"/etc/passwd", "../outside/secret.tif", "fine/abs.tif"}) {
    write_manifest(cat, "fine/a.tif", lc);
    msg = error_of([&] { Catalog::load(cat); });
    EXPECT_NE(msg.find("manifest.json"), std::string::npos) << lc << ": " << msg;
    EXPECT_NE(msg.find("catalog folder"), std::string::npos) << lc << ": " << msg;
  }
}

TEST(CatalogLinks, LinksInsideTheCatalogAndItsOwnLinkedRootAreFine) {
  test::TempDir tmp;
  const fs::path cat = tmp / "cat";
  fs::create_directories(cat / "fine");
  std::ofstream(cat / "fine" / "a.tif") << "ours";
  fs::create_symlink("a.tif", cat / "fine" / "b.tif");  // inside: fine
  fs::create_directory_symlink("fine", cat / "alias");  // a folder link inside: fine
  write_manifest(cat, "fine/b.tif", "alias/a.tif");
  Catalog c;
  ASSERT_NO_THROW(c = Catalog::load(cat));
  EXPECT_EQ(c.absolute("fine/b.tif"), cat / "fine" / "b.tif");
  EXPECT_EQ(c.absolute("alias/a.tif"), cat / "alias" / "a.tif");
  // The user may reach the catalog itself through a link: its files are inside what it names.
  fs::create_directory_symlink(cat, tmp / "link-to-cat");
  EXPECT_NO_THROW(Catalog::load(tmp / "link-to-cat"));
  // A file that does not exist is no link: looking it up works, opening it will fail.
  EXPECT_EQ(c.absolute("fine/missing.tif"), cat / "fine" / "missing.tif");
}

TEST(CatalogLinks, ALinkSwappedInAfterLoadingIsRefusedWhenTheFileIsLookedUp) {
  test::TempDir tmp;
  const fs::path cat = tmp / "cat";
  fs::create_directories(cat / "fine");
  std::ofstream(cat / "fine" / "a.tif") << "ours";
  std::ofstream(tmp / "secret.tif") << "not yours";
  write_manifest(cat, "fine/a.tif");
  const Catalog c = Catalog::load(cat);
  fs::remove(cat / "fine" / "a.tif");
  fs::create_symlink(tmp / "secret.tif", cat / "fine" / "a.tif");
  const std::string msg = error_of([&] { c.absolute("fine/a.tif"); });
  EXPECT_NE(msg.find("symbolic link"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { c.absolute("/etc/passwd"); }).find("inside the catalog folder"), std::string::npos);
}

// A simulation folder is read by the same rule: its manifest may name only files of the folder,
// links leading out of it are refused, and its CRS may be no file or URL for GDAL to read.
TEST(CatalogLinks, SimulationFoldersFollowTheSameRule) {
  test::TempDir tmp;
  const fs::path sim = tmp / "sim";
  fs::create_directories(sim / "landsat");
  std::ofstream(sim / "landsat" / "a.tif") << "ours";
  std::ofstream(tmp / "secret.tif") << "not yours";
  fs::create_symlink(tmp / "secret.tif", sim / "landsat" / "out.tif");
  fs::create_symlink("a.tif", sim / "landsat" / "same.tif");
  auto write = [&](const std::string& path, const std::string& crs) {
    nlohmann::json j = {{"format", "lstfuse-simulation"},
                        {"fine_grid", {{"width", 4}, {"height", 4}, {"transform", {0, 30, 0, 0, 0, -30}}, {"crs", crs}}},
                        {"observations", {{{"date", "2024-01-01"}, {"role", "fine"}, {"path", path}, {"product", "kelvin"}}}}};
    std::ofstream(sim / "simulation.json") << j.dump();
  };
  auto read = [&] {
    std::vector<io::ProductFile> products;
    std::optional<Grid> grid;
    std::optional<LandCoverLayer> landcover;
    pipeline::read_simulation(sim, products, grid, landcover);
    return products;
  };
  write("landsat/same.tif", "EPSG:32755");
  ASSERT_EQ(read().size(), 1u);
  write("landsat/out.tif", "EPSG:32755");
  std::string msg = error_of([&] { read(); });
  EXPECT_NE(msg.find("simulation.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("symbolic link"), std::string::npos) << msg;
  // GDAL reads a CRS from a file named in its place ("/etc/hostname" would be opened): refused.
  std::ofstream(tmp / "crs.wkt") << "EPSG:32755";
  write("landsat/a.tif", (tmp / "crs.wkt").string());
  msg = error_of([&] { read(); });
  EXPECT_NE(msg.find("simulation.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unknown CRS"), std::string::npos) << msg;
}
