// "Nothing lost, nothing crashes", end to end through the built executable: outputs that would
// overwrite inputs or foreign folders, implausible temperatures, numbers out of range, signals,
// full disks (a file-size limit) and one-line messages. docs/reliability.md lists each case.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <thread>

#include <fmt/format.h>

#include <gdal_priv.h>
#include <sys/wait.h>

#include "lstfuse/core/catalog.hpp"
#include "lstfuse/io/catalog_io.hpp"
#include "lstfuse/io/raster_io.hpp"
#include "test_support.hpp"

using namespace lstfuse;
namespace fs = std::filesystem;

namespace test_reliability_cli {  // file-local names stay apart in merged builds (LSTFUSE_UNITY_BUILD)

namespace {

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

test::CliResult sh(const std::string& script) { return test::run_shell(script); }

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

bool one_line(const std::string& s) {
  std::string t = s;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  return t.find('\n') == std::string::npos;
}

// Names of entries anywhere below `dir` that contain `part` (leftover temporaries).
std::vector<std::string> leftovers(const fs::path& dir, const std::string& part) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().filename().string().find(part) != std::string::npos) out.push_back(e.path().string());
  return out;
}

fs::path yanco() { return test::shared_data("yanco"); }

// Same mask and the same value at every valid pixel (invalid pixels may hold NaN).
bool same_values(const Raster& a, const Raster& b) {
  if (a.mask_data() != b.mask_data() || a.data().size() != b.data().size()) return false;
  for (size_t i = 0; i < a.data().size(); ++i)
    if (a.mask_data()[i] && a.data()[i] != b.data()[i]) return false;
  return true;
}

// A yanco catalog built once.
const fs::path& yanco_catalog() {
  static const test::TempDir dir;
  static const fs::path cat = [] {
    const auto c = dir.path() / "cat";
    const auto r = test::run_cli("ingest " + q(yanco()) + " -o " + q(c));
    if (r.exit_code != 0) throw std::runtime_error(r.output);
    return c;
  }();
  return cat;
}

std::string predict_files(const std::string& method = "starfm") {
  const auto y = yanco();
  return "predict --method " + method + " --fine1 " + q(y / "Landsat_LST_cloudrm_20160205.tif") + " --coarse1 " +
         q(y / "MOD11A1_LST_cloudrm_20160205.tif") + " --coarse0 " + q(y / "MOD11A1_LST_cloudrm_20160218.tif");
}

}  // namespace

// ------------------------------------------------------------------ outputs never inputs

TEST(ReliabilityCli, IngestNeverEmptiesTheCurrentOrAForeignFolder) {
  test::TempDir tmp;
  std::ofstream(tmp / "notes.txt") << "mine";
  auto r = sh("cd " + q(tmp.path()) + " && $L ingest " + q(yanco()) + " -o . --overwrite");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("current folder"), std::string::npos) << r.output;
  EXPECT_EQ(slurp(tmp / "notes.txt"), "mine");

  fs::create_directories(tmp / "thesis");
  std::ofstream(tmp / "thesis" / "chapter1.tex") << "work";
  r = test::run_cli("ingest " + q(yanco()) + " -o " + q(tmp / "thesis") + " --overwrite");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("is not a catalog"), std::string::npos) << r.output;
  EXPECT_TRUE(one_line(r.output)) << r.output;
  EXPECT_EQ(slurp(tmp / "thesis" / "chapter1.tex"), "work");

  // A previous catalog is replaced with --overwrite, and only then.
  ASSERT_EQ(test::run_cli("ingest " + q(yanco()) + " -o " + q(tmp / "cat")).exit_code, 0);
  r = test::run_cli("ingest " + q(yanco()) + " -o " + q(tmp / "cat"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  r = test::run_cli("ingest " + q(yanco()) + " -o " + q(tmp / "cat") + " --overwrite");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Catalog::load(tmp / "cat").observations().size(), 5u);
  EXPECT_TRUE(leftovers(tmp.path(), ".old-").empty());
}

TEST(ReliabilityCli, IngestIntoItsOwnInputFolderIsRefused) {
  test::TempDir tmp;
  fs::copy(yanco(), tmp / "in");
  fs::permissions(tmp / "in", fs::perms::owner_all, fs::perm_options::add);
  for (const auto& e : fs::directory_iterator(tmp / "in")) fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
  const auto before = slurp(tmp / "in" / "MOD11A1_LST_cloudrm_20160218.tif");
  for (const std::string out : {"in", "in/", "."}) {
    const auto r = sh("cd " + q(tmp.path()) + " && $L ingest in -o " + out + " --overwrite");
    EXPECT_NE(r.exit_code, 0) << out << ": " << r.output;
  }
  // The parent of the inputs would be replaced as a whole: refused as well.
  const auto r = test::run_cli("ingest " + q(tmp / "in") + " -o " + q(tmp.path()) + " --overwrite");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_EQ(slurp(tmp / "in" / "MOD11A1_LST_cloudrm_20160218.tif"), before);
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp / "in"), fs::directory_iterator{}), 6);
}

TEST(ReliabilityCli, PredictAndQuicklookNeverWriteOverTheirInputs) {
  test::TempDir tmp;
  fs::copy(yanco(), tmp / "in");
  fs::permissions(tmp / "in", fs::perms::owner_all, fs::perm_options::add);
  const fs::path c0 = tmp / "in" / "MOD11A1_LST_cloudrm_20160218.tif";
  fs::permissions(c0, fs::perms::owner_write, fs::perm_options::add);
  const auto before = slurp(c0);
  const auto y = tmp / "in";
  const std::string base = "predict --method starfm --fine1 " + q(y / "Landsat_LST_cloudrm_20160205.tif") +
                           " --coarse1 " + q(y / "MOD11A1_LST_cloudrm_20160205.tif") + " --coarse0 " + q(c0);
  auto r = test::run_cli(base + " -o " + q(y / "." / "MOD11A1_LST_cloudrm_20160218.tif"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("names one of the inputs"), std::string::npos) << r.output;
  r = test::run_cli(base + " -o " + q(tmp / "p.tif") + " --quality " + q(y / "MOD11A1_LST_cloudrm_20160205.tif"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  r = test::run_cli(base + " -o " + q(tmp / "p.tif") + " --quality " + q(tmp / "p.tif"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  // From a catalog: its own files are inputs too.
  const auto cat = yanco_catalog();
  const auto cat_file = cat / Catalog::load(cat).find(Date(2016, 2, 18), Role::Coarse)->path;
  const auto cat_before = slurp(cat_file);
  r = test::run_cli("predict --method starfm --catalog " + q(cat) + " --date 2016-02-18 -o " + q(cat_file));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_EQ(slurp(cat_file), cat_before);

  r = test::run_cli("quicklook " + q(c0) + " -o " + q(c0));
  EXPECT_NE(r.exit_code, 0) << r.output;
  r = test::run_cli("quicklook " + q(c0) + " --diff " + q(y / "MOD11A1_LST_cloudrm_20160205.tif") + " -o " +
                    q(y / "MOD11A1_LST_cloudrm_20160205.tif"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_EQ(slurp(c0), before);
  EXPECT_EQ(test::run_cli("quicklook " + q(c0) + " -o " + q(tmp / "ok.png")).exit_code, 0);
}

// One rule for every single-file output (predict -o/--quality and its implied OUT_quality.tif,
// train -o, quicklook -o): never inside a catalog or simulation, never over a file lstfuse did
// not write; its own earlier outputs are replaced.
TEST(ReliabilityCli, SingleFileOutputsNeverReplaceFilesLstfuseDidNotMake) {
  test::TempDir tmp;
  const auto y = yanco();
  const fs::path cat = tmp / "cat";
  ASSERT_EQ(test::run_cli("ingest " + q(y) + " -o " + q(cat)).exit_code, 0);
  const auto day_file = cat / Catalog::load(cat).find(Date(2016, 2, 5), Role::Coarse)->path;
  const auto day_before = slurp(day_file);
  const std::string from_cat = "predict --method additive --catalog " + q(cat) + " --date 2016-02-18";
  // A catalog file that is not an input of this run, and a new name inside the catalog.
  auto r = test::run_cli(from_cat + " -o " + q(day_file));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("lies inside"), std::string::npos) << r.output;
  EXPECT_EQ(slurp(day_file), day_before);
  r = test::run_cli(from_cat + " -o " + q(tmp / "p.tif") + " --quality " + q(cat / "q.tif"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_FALSE(fs::exists(cat / "q.tif"));
  EXPECT_FALSE(fs::exists(tmp / "p.tif"));
  // A user's text file, a GeoTIFF lstfuse did not write, and an implied quality layer over one.
  std::ofstream(tmp / "user.txt") << "mine";
  r = test::run_cli(from_cat + " -o " + q(tmp / "user.txt"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("is not a raster written by lstfuse"), std::string::npos) << r.output;
  EXPECT_TRUE(one_line(r.output)) << r.output;
  EXPECT_EQ(slurp(tmp / "user.txt"), "mine");
  fs::copy_file(y / "MOD11A1_LST_cloudrm_20160205.tif", tmp / "theirs.tif");
  fs::copy_file(y / "MOD11A1_LST_cloudrm_20160205.tif", tmp / "p_quality.tif");
  const auto theirs = slurp(tmp / "theirs.tif");
  EXPECT_NE(test::run_cli(from_cat + " -o " + q(tmp / "theirs.tif")).exit_code, 0);
  r = test::run_cli(from_cat + " -o " + q(tmp / "p.tif"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("p_quality.tif: exists and is not a raster"), std::string::npos) << r.output;
  EXPECT_EQ(slurp(tmp / "theirs.tif"), theirs);
  EXPECT_EQ(slurp(tmp / "p_quality.tif"), theirs);
  EXPECT_FALSE(fs::exists(tmp / "p.tif"));
  // lstfuse's own outputs are replaced: a second run over the first.
  fs::remove(tmp / "p_quality.tif");
  ASSERT_EQ(test::run_cli(from_cat + " -o " + q(tmp / "p.tif")).exit_code, 0);
  EXPECT_TRUE(io::is_lstfuse_raster((tmp / "p.tif").string()));
  r = test::run_cli(from_cat + " -o " + q(tmp / "p.tif"));
  EXPECT_EQ(r.exit_code, 0) << r.output;

  // quicklook: a GeoTIFF is not replaced by a PNG; its own PNG is.
  r = test::run_cli("quicklook " + q(tmp / "p.tif") + " -o " + q(tmp / "theirs.tif"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("is not a PNG written by lstfuse"), std::string::npos) << r.output;
  EXPECT_EQ(slurp(tmp / "theirs.tif"), theirs);
  ASSERT_EQ(test::run_cli("quicklook " + q(tmp / "p.tif") + " -o " + q(tmp / "map.png")).exit_code, 0);
  EXPECT_EQ(test::run_cli("quicklook " + q(tmp / "p.tif") + " -o " + q(tmp / "map.png")).exit_code, 0);
  EXPECT_NE(test::run_cli("quicklook " + q(tmp / "p.tif") + " -o " + q(cat / "map.png")).exit_code, 0);

  // train: a model file only (checked before any training or loading).
  r = test::run_cli("train --method stfnet --catalog " + q(cat) + " --series -o " + q(tmp / "theirs.tif"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("is not a model file written by lstfuse"), std::string::npos) << r.output;
  EXPECT_EQ(slurp(tmp / "theirs.tif"), theirs);
  r = test::run_cli("train --method stfnet --catalog " + q(cat) + " --series -o " + q(cat / "m.pt"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_FALSE(fs::exists(cat / "m.pt"));
}

// Folder outputs (benchmark, simulate, demo, fuse): new, empty or their own earlier output,
// never a catalog, a folder holding an input, a user's folder, or a folder inside a catalog.
TEST(ReliabilityCli, FolderOutputsAreNewEmptyOrTheirOwn) {
  test::TempDir tmp;
  const fs::path cat = tmp / "cat";
  ASSERT_EQ(test::run_cli("ingest " + q(yanco()) + " -o " + q(cat)).exit_code, 0);
  const auto manifest = slurp(cat / "manifest.json");
  fs::create_directories(tmp / "user");
  std::ofstream(tmp / "user" / "summary.md") << "mine";
  std::ofstream(tmp / "user" / "report.html") << "mine";
  for (const std::string& cmd : std::vector<std::string>{"benchmark --catalog " + q(cat) + " --methods additive --single-pair -o ",
                                "simulate --size 48 --days 60 -o ", "demo --size 64 --days 60 -o ",
                                "fuse --catalog " + q(cat) + " --method additive -o "}) {
    for (const fs::path& out : {tmp / "user", cat, cat / "sub"}) {
      const auto r = test::run_cli(cmd + q(out));
      EXPECT_NE(r.exit_code, 0) << cmd << out << ": " << r.output;
      EXPECT_TRUE(one_line(r.output)) << r.output;
    }
  }
  EXPECT_EQ(slurp(tmp / "user" / "summary.md"), "mine");
  EXPECT_EQ(slurp(tmp / "user" / "report.html"), "mine");
  EXPECT_EQ(slurp(cat / "manifest.json"), manifest);
  EXPECT_FALSE(fs::exists(cat / "sub"));
  EXPECT_EQ(std::distance(fs::directory_iterator(cat), fs::directory_iterator{}), 6);
  auto r = sh("cd " + q(tmp.path()) + " && $L simulate --size 48 --days 60 -o .");
  EXPECT_NE(r.exit_code, 0) << r.output;
  // Their own earlier output: run again into it.
  for (int i = 0; i < 2; ++i) {
    r = test::run_cli("simulate --size 48 --days 60 -o " + q(tmp / "sim"));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    r = test::run_cli("benchmark --catalog " + q(cat) + " --methods additive --single-pair --no-report -o " + q(tmp / "bench"));
    EXPECT_EQ(r.exit_code, 0) << r.output;
  }
  // Nothing inside a simulation either.
  r = test::run_cli("predict --method additive --catalog " + q(cat) + " --date 2016-02-18 -o " +
                    q(tmp / "sim" / "x.tif"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "sim" / "x.tif"));
}

// ingest --overwrite replaces a catalog, never what the user put beside its files, never an input
// given with --landcover, never the user's link.
TEST(ReliabilityCli, IngestOverwriteReplacesOnlyTheCatalogsOwnFiles) {
  test::TempDir tmp;
  const fs::path cat = tmp / "cat";
  const std::string ingest = "ingest " + q(yanco()) + " --overwrite -o ";
  ASSERT_EQ(test::run_cli(ingest + q(cat)).exit_code, 0);
  std::ofstream(cat / "NOTES.txt") << "mine";
  auto r = test::run_cli(ingest + q(cat));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("NOTES.txt"), std::string::npos) << r.output;
  EXPECT_TRUE(one_line(r.output)) << r.output;
  EXPECT_EQ(slurp(cat / "NOTES.txt"), "mine");
  fs::remove(cat / "NOTES.txt");
  // The land cover named as an input lies in the folder to be replaced.
  const auto lc = cat / Catalog::load(cat).observations()[0].path;
  const auto lc_before = slurp(lc);
  r = test::run_cli(ingest + q(cat) + " --landcover " + q(lc));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("holds the input"), std::string::npos) << r.output;
  EXPECT_EQ(slurp(lc), lc_before);
  // A link to the catalog stays a link (refused), and the catalog stays whole.
  fs::create_directory_symlink(cat, tmp / "link");
  r = test::run_cli(ingest + q(tmp / "link"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::is_symlink(tmp / "link"));
  EXPECT_EQ(Catalog::load(cat).observations().size(), 5u);
  // Its own files only: replaced.
  r = test::run_cli(ingest + q(cat));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // A manifest written by hand that lists the user's file: the file carries no lstfuse mark, so
  // it is still the user's (it was deleted with the catalog it claimed to belong to).
  const fs::path forged = tmp / "forged";
  fs::create_directory(forged);
  std::ofstream(forged / "keep.txt") << "mine";
  std::ofstream(forged / "manifest.json")
      << R"({"format": "lstfuse-catalog", "observations": [{"path": "keep.txt", "role": "fine", "date": "2024-01-01"}]})";
  r = test::run_cli(ingest + q(forged));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("keep.txt"), std::string::npos) << r.output;
  EXPECT_TRUE(one_line(r.output)) << r.output;
  EXPECT_EQ(slurp(forged / "keep.txt"), "mine");
}

// ------------------------------------------------------------------ plausible temperatures

TEST(ReliabilityCli, CelsiusWithoutUnitsAndZeroScaleAreRefused) {
  test::TempDir tmp;
  Raster k = io::read_raster((yanco() / "Landsat_LST_cloudrm_20160205.tif").string());
  Raster c = k;
  for (auto& v : c.data()) v -= 273.15f;
  io::write_raster((tmp / "Landsat_celsius_20160205.tif").string(), c);
  const auto in = q(tmp / "Landsat_celsius_20160205.tif");
  auto r = test::run_cli("ingest " + in + " -o " + q(tmp / "bad"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("Landsat_celsius_20160205.tif"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--units C"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "bad"));
  EXPECT_TRUE(leftovers(tmp.path(), ".ingest-").empty());
  r = test::run_cli("ingest " + in + " -o " + q(tmp / "good") + " --units C");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Catalog good = Catalog::load(tmp / "good");
  const Raster back = io::load_observation(good, good.observations()[0]);
  for (size_t i = 0; i < k.data().size(); i += 997) {
    if (k.mask_data()[i]) {
      ASSERT_NEAR(back.data()[i], k.data()[i], 1e-3);
    }
  }

  // Kelvin files converted as if they were Celsius (573 K) are implausible as well.
  r = test::run_cli("ingest " + q(yanco()) + " -o " + q(tmp / "c") + " --units C");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("plausible"), std::string::npos) << r.output;
  // --scale 0 made every pixel 0 K and valid.
  r = test::run_cli("ingest " + q(yanco()) + " -o " + q(tmp / "s") + " --scale 0");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("--scale"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "s"));
}

// An LST raster given as --landcover would become one saturated class; one file as both roles
// would be a pair of an image with itself. Both are refused, naming the file, with no catalog left.
TEST(ReliabilityCli, IngestRefusesAnLstRasterAsLandCoverAndOneFileInTwoRoles) {
  test::TempDir tmp;
  const auto y = yanco();
  const std::string fine = q(y / "Landsat_LST_cloudrm_20160205.tif"), coarse = q(y / "MOD11A1_LST_cloudrm_20160205.tif");
  auto r = test::run_cli("ingest --fine " + fine + " --coarse " + coarse + " --landcover " + fine + " -o " + q(tmp / "c"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("Landsat_LST_cloudrm_20160205.tif: --landcover: not a land-cover raster of integer classes"),
            std::string::npos) << r.output;
  EXPECT_TRUE(one_line(r.output)) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "c"));
  r = test::run_cli("ingest --fine " + fine + " --coarse " + fine + " -o " + q(tmp / "c"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("given as both --fine and --coarse"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "c"));
}

// ------------------------------------------------------------------ numbers

TEST(ReliabilityCli, NumbersOutOfRangeAreRefusedBeforeAnyWork) {
  test::TempDir tmp;
  const std::string out = " -o " + q(tmp / "p.tif");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {predict_files() + out + " --window 4294967297", "--window"},
      {predict_files() + out + " --window 4001", "--window"},
      {predict_files() + out + " --tile -5", "--tile"},
      {predict_files() + out + " --threads -1", "--threads"},
      {"simulate -o " + q(tmp / "sim") + " --size 4294967328", "--size"},
      {"simulate -o " + q(tmp / "sim") + " --epsg 4326", "--epsg"},
      {"simulate -o " + q(tmp / "sim") + " --size 16 --coarse-factor 4 --pixel-size 1e-300", "--pixel-size"},
      {"simulate -o " + q(tmp / "sim") + " --size 16 --coarse-factor 4 --psf-fwhm 1e300", "--psf-fwhm"},
      {"simulate -o " + q(tmp / "sim") + " --size 16 --coarse-factor 4 --pixel-size 1 --psf-fwhm 5000", "--psf-fwhm"},
      {"ingest " + q(yanco()) + " -o " + q(tmp / "c") + " --crs EPSG:32755 --res 0", "--res"},
      {"ingest " + q(yanco()) + " -o " + q(tmp / "c") + " --scale 1e308", "--scale"},
      {"ingest " + q(yanco()) + " -o " + q(tmp / "c") + " --offset 1e308", "--offset"},
      {"ingest " + q(yanco()) + " -o " + q(tmp / "c") + " --max-lst-error -5", "--max-lst-error"},
      {"ingest " + q(yanco()) + " -o " + q(tmp / "c") + " --crs EPSG:32755 --res 30 --extent 0 0 100 1e308", "--extent"},
      {"simulate -o " + q(tmp / "sim") + " --size 16 --coarse-factor 4 --origin-x 1e308", "--origin-x"},
      {"simulate -o " + q(tmp / "sim") + " --size 16 --coarse-factor 4 --landsat-noise 1e308", "--landsat-noise"},
      {"simulate -o " + q(tmp / "sim") + " --size 16 --coarse-factor 4 --modis-bias-mean -1e308", "--modis-bias-mean"},
      {"simulate -o " + q(tmp / "sim") + " --size 16 --coarse-factor 4 --days 20 --landsat-first-day 10000",
       "--landsat-first-day"},
      {"simulate -o " + q(tmp / "sim") + " --size 16 --coarse-factor 4 --truth-dates ,,", "--truth-dates"},
      // CLI11's range check lets NaN through: the demo simulated a year without clouds.
      {"demo -o " + q(tmp / "demo") + " --size 64 --days 60 --cloud-cover nan", "--cloud-cover"},
      {"benchmark --catalog " + q(yanco_catalog()) + " -o " + q(tmp / "b") + " --protocol split --train-fraction nan",
       "--train-fraction"},
      // Within their ranges, but the MODIS sinusoidal grid around such a scene took gigabytes and
      // ran for hours.
      {"simulate -o " + q(tmp / "sim") + " --size 32 --days 1 --coarse-factor 4 --modis-grid sinusoidal --origin-y 1e8",
       "--origin-y"},
      {"simulate -o " + q(tmp / "sim") + " --size 32 --days 1 --coarse-factor 4 --modis-grid sinusoidal --origin-y -1e8",
       "--origin-y"},
      {"simulate -o " + q(tmp / "sim") + " --size 32 --days 1 --coarse-factor 4 --modis-grid sinusoidal --origin-x 1e8",
       "--origin-x"},
      {"metrics " + q(yanco() / "Landsat_LST_cloudrm_20160205.tif") + " " + q(yanco() / "Landsat_LST_cloudrm_20160205.tif") +
           " --data-range 1e-300", "--data-range"},
      {"metrics " + q(yanco() / "Landsat_LST_cloudrm_20160205.tif") + " " + q(yanco() / "Landsat_LST_cloudrm_20160205.tif") +
           " --ergas-ratio inf", "--ergas-ratio"},
      {"metrics " + q(yanco() / "Landsat_LST_cloudrm_20160205.tif") + " " + q(yanco() / "Landsat_LST_cloudrm_20160205.tif") +
           " --ergas-ratio 1e-300", "--ergas-ratio must be 1e-06 to 1000"},
      {"metrics " + q(yanco() / "Landsat_LST_cloudrm_20160205.tif") + " " + q(yanco() / "Landsat_LST_cloudrm_20160205.tif") +
           " --coarse-res 1e-300", "--coarse-res must be 0.001 to 1000000 m"},
      // CLI11's own number checks let nan and 1e308 through; the ranges are lstfuse's.
      {"benchmark --catalog " + q(yanco_catalog()) + " --single-pair -o " + q(tmp / "b") + " --data-range -1", "--data-range"},
      {"benchmark --catalog " + q(yanco_catalog()) + " --single-pair -o " + q(tmp / "b") + " --data-range nan", "--data-range"},
      {"fuse --catalog " + q(yanco_catalog()) + " --method additive -o " + q(tmp / "f") + " --fine-noise nan", "--fine-noise"},
      {"fuse --catalog " + q(yanco_catalog()) + " --method additive -o " + q(tmp / "f") + " --fine-noise 1e308", "--fine-noise"},
      {"fuse --catalog " + q(yanco_catalog()) + " --method additive -o " + q(tmp / "f") + " --max-reference-steps -1",
       "--max-reference-steps"},
  };
  for (const auto& [args, option] : cases) {
    const auto r = test::run_cli(args);
    EXPECT_NE(r.exit_code, 0) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(option), std::string::npos) << args << "\n" << r.output;
    EXPECT_TRUE(one_line(r.output)) << r.output;
  }
  EXPECT_FALSE(fs::exists(tmp / "p.tif"));
  EXPECT_FALSE(fs::exists(tmp / "sim"));
  EXPECT_FALSE(fs::exists(tmp / "c"));
  EXPECT_FALSE(fs::exists(tmp / "b"));
  EXPECT_FALSE(fs::exists(tmp / "f"));
  EXPECT_FALSE(fs::exists(tmp / "demo"));
  // Within every range, but 3 889 images of 20000 x 20000 px: at least 1.6 TB. Refused before
  // any work where the disk has less room (one with more could hold it: nothing to check there).
  if (fs::space(tmp.path()).available < 1.5e12) {
    const auto r = test::run_cli("simulate -o " + q(tmp / "huge") + " --size 20000 --days 3660 --truth-dates all");
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("simulate: --size 20000 over --days 3660 writes 3889 fine images of 20000 x 20000 px, at least"),
              std::string::npos) << r.output;
    EXPECT_TRUE(one_line(r.output)) << r.output;
    EXPECT_FALSE(fs::exists(tmp / "huge"));
  }
  // A file system of no size (/proc) is no full disk: "at least 0 GB, and the disk has 0 GB free"
  // named room as the cause where the folder cannot be made at all.
  if (fs::exists("/proc/self") && fs::space("/proc").capacity == 0) {
    const auto r = test::run_cli("simulate -q -o /proc/lstfuse-sim --size 60 --days 30");
    EXPECT_NE(r.exit_code, 0) << r.output;
    EXPECT_EQ(r.output.find("GB free"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("/proc/lstfuse-sim"), std::string::npos) << r.output;
    EXPECT_TRUE(one_line(r.output)) << r.output;
  }
}

// Arguments that were misread without a word: an empty value taken as the option left out, a
// catalog given to ingest as if it were products, outputs named as another format, a manifest of
// a later version named by a field it lacks, files a manifest lists that are gone.
TEST(ReliabilityCli, EmptyValuesMisnamedOutputsAndStaleManifestsAreSaid) {
  test::TempDir tmp;
  auto r = test::run_cli("predict --method starfm --catalog " + q(yanco_catalog()) + " --date 2016-02-18 --pairs '' -o " +
                         q(tmp / "p.tif"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--pairs: is empty: give a value, or leave the option out"), std::string::npos) << r.output;
  r = test::run_cli("ingest " + q(yanco()) + " --date '' -o " + q(tmp / "c"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--date: is empty"), std::string::npos) << r.output;
  // The options every method and the simulation declare, and the folders and files of a run.
  for (const std::string& args : {"simulate -o " + q(tmp / "sim") + " --size 32 --days 3 --coarse-factor 4 --start ''",
                                  predict_files() + " -o " + q(tmp / "p.tif") + " --window ''",
                                  std::string("fuse --catalog '' -o ") + q(tmp / "f"),
                                  predict_files() + " -o " + q(tmp / "p.tif") + " --options ''"}) {
    r = test::run_cli(args);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_NE(r.output.find(": is empty"), std::string::npos) << args << "\n" << r.output;
  }
  EXPECT_FALSE(fs::exists(tmp / "sim") || fs::exists(tmp / "f"));
  // A boolean option given an empty value was read as the bare flag, "true"; the bare flag still
  // means true, and a value still counts.
  for (const std::string empty : {" --gain ''", " --gain=", " --series.gain ''"}) {
    r = test::run_cli(predict_files("series") + " -o " + q(tmp / "g.tif") + empty);
    EXPECT_EQ(r.exit_code, 1) << empty << "\n" << r.output;
    EXPECT_NE(r.output.find("gain: is empty: give true or false, or leave the value out"), std::string::npos)
        << empty << "\n" << r.output;
    EXPECT_FALSE(fs::exists(tmp / "g.tif")) << empty;
  }
  for (const std::string given : {" --gain", " --gain false"}) {
    r = test::run_cli(predict_files("series") + " -q -o " + q(tmp / "g.tif") + given);
    EXPECT_EQ(r.exit_code, 0) << given << "\n" << r.output;
    fs::remove(tmp / "g.tif");
    fs::remove(tmp / "g_quality.tif");
  }
  r = test::run_cli("ingest " + q(yanco_catalog()) + " -o " + q(tmp / "c"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("is a catalog made by 'lstfuse ingest': use it with --catalog"), std::string::npos) << r.output;
  r = test::run_cli(predict_files() + " -o " + q(tmp / "p.png"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("predict writes GeoTIFF"), std::string::npos) << r.output;
  r = test::run_cli("quicklook " + q(yanco() / "Landsat_LST_cloudrm_20160205.tif") + " -o " + q(tmp / "map.tif"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("quicklook writes a PNG: name the output FILE.png"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "p.tif") || fs::exists(tmp / "c") || fs::exists(tmp / "p.png") || fs::exists(tmp / "map.tif"));
  // A catalog whose file was removed: info says so; one of a later version is named as such.
  fs::copy(yanco_catalog(), tmp / "cat", fs::copy_options::recursive);
  const Catalog cat = Catalog::load(tmp / "cat");
  const std::string gone = cat.find(Date(2016, 2, 18), Role::Coarse)->path;
  fs::remove(tmp / "cat" / gone);
  r = test::run_cli("info " + q(tmp / "cat"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(gone + "  (MISSING)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("warning: 1 file(s) the manifest lists are missing"), std::string::npos) << r.output;
  auto j = nlohmann::json::parse(slurp(tmp / "cat" / "manifest.json"));
  j["version"] = 99;
  std::ofstream(tmp / "cat" / "manifest.json") << j.dump();
  r = test::run_cli("info " + q(tmp / "cat"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("catalog version 99 was written by a later lstfuse"), std::string::npos) << r.output;
  j["version"] = 1;
  j["format"] = "lstfuse-fill";
  std::ofstream(tmp / "cat" / "manifest.json") << j.dump();
  r = test::run_cli("info " + q(tmp / "cat"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("not a catalog manifest (format \"lstfuse-fill\")"), std::string::npos) << r.output;
  j["format"] = "lstfuse-catalog";
  for (const nlohmann::json& v : {nlohmann::json(0), nlohmann::json("1"), nlohmann::json(nullptr)}) {
    j["version"] = v;
    std::ofstream(tmp / "cat" / "manifest.json") << j.dump();
    r = test::run_cli("info " + q(tmp / "cat"));
    EXPECT_EQ(r.exit_code, 1) << v.dump();
    EXPECT_NE(r.output.find("catalog version " + v.dump() + " is not one lstfuse writes (1)"), std::string::npos) << r.output;
  }
}

TEST(ReliabilityCli, AStarfmWindowLargerThanTheImageIsRefusedAtOnce) {
  test::TempDir tmp;
  const auto t0 = std::chrono::steady_clock::now();
  // 1001 pixels on a 400 x 400 image: every window holds the whole image.
  const auto r = test::run_cli(predict_files() + " -o " + q(tmp / "p.tif") + " --window 1001");
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("larger than the whole image"), std::string::npos) << r.output;
  EXPECT_LT(s, 20.0);
}

TEST(ReliabilityCli, ThreadsBeyondTheMachineAreCapped) {
  test::TempDir tmp;
  const auto r = test::run_cli(predict_files() + " -o " + q(tmp / "p.tif") + " --threads 100000 --window 11");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto ref = test::run_cli(predict_files() + " -o " + q(tmp / "q.tif") + " --threads 1 --window 11");
  ASSERT_EQ(ref.exit_code, 0) << ref.output;
  EXPECT_TRUE(same_values(io::read_raster((tmp / "p.tif").string()), io::read_raster((tmp / "q.tif").string())));
}

TEST(ReliabilityCli, ImplausibleTemperaturesInPredictAndMetricsFilesAreRefused) {
  // The plausibility rule of ingest (150-380 K) also holds for files given directly: a coarse
  // image in degrees Celsius, or with a garbage value, is named instead of being fused.
  test::TempDir tmp;
  const auto y = yanco();
  Raster c = io::read_raster((y / "MOD11A1_LST_cloudrm_20160218.tif").string());
  Raster celsius = c, huge = c;
  for (auto& v : celsius.data()) v -= 273.15f;
  huge.data()[huge.data().size() / 2] = 1e30f;
  huge.set_valid(0, huge.height() / 2, huge.width() / 2, true);
  io::write_raster((tmp / "celsius_20160218.tif").string(), celsius);
  io::write_raster((tmp / "huge_20160218.tif").string(), huge);
  const std::string base = "predict --method additive --fine1 " + q(y / "Landsat_LST_cloudrm_20160205.tif") +
                           " --coarse1 " + q(y / "MOD11A1_LST_cloudrm_20160205.tif") + " --coarse0 ";
  for (const std::string f : {"celsius_20160218.tif", "huge_20160218.tif"}) {
    const auto r = test::run_cli(base + q(tmp / f) + " -o " + q(tmp / "p.tif"));
    EXPECT_NE(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find(f), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("150-380 K"), std::string::npos) << r.output;
    EXPECT_TRUE(one_line(r.output)) << r.output;
    EXPECT_FALSE(fs::exists(tmp / "p.tif"));
  }
  EXPECT_NE(test::run_cli(base + q(tmp / "celsius_20160218.tif") + " -o " + q(tmp / "p.tif")).output.find("degrees Celsius"),
            std::string::npos);
  const auto m = test::run_cli("metrics " + q(tmp / "celsius_20160218.tif") + " " +
                               q(y / "MOD11A1_LST_cloudrm_20160218.tif"));
  EXPECT_NE(m.exit_code, 0) << m.output;
  EXPECT_NE(m.output.find("celsius_20160218.tif"), std::string::npos) << m.output;
}

// A file this user may not read was "not a readable raster (GDAL gave no reason)", as if
// damaged, and a catalog whose manifest it may not read "not a catalog folder".
TEST(ReliabilityCli, AFileThatMayNotBeReadIsSaidToBeSo) {
  test::TempDir tmp;
  fs::permissions(tmp.path(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                  fs::perms::others_read | fs::perms::others_exec);
  fs::copy(yanco_catalog(), tmp / "cat", fs::copy_options::recursive);
  fs::copy_file(yanco() / "Landsat_LST_cloudrm_20160205.tif", tmp / "f.tif");
  fs::permissions(tmp / "f.tif", fs::perms::owner_write);
  fs::permissions(tmp / "cat" / "manifest.json", fs::perms::owner_write);
  // root reads every file: the commands run as nobody then.
  const std::string as = ::geteuid() == 0 ? "setpriv --reuid=65534 --regid=65534 --clear-groups " : "";
  auto r = sh(as + "$L info " + q(tmp / "f.tif"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("f.tif: permission denied"), std::string::npos) << r.output;
  r = sh(as + "$L info " + q(tmp / "cat"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("manifest.json: permission denied"), std::string::npos) << r.output;
}

TEST(ReliabilityCli, APipeOrAFolderWhereAFileIsExpectedIsNamed) {
  // GDAL waited forever for bytes from a named pipe; a folder as --options gave the C++ library's
  // "basic_filebuf::underflow" text.
  test::TempDir tmp;
  const auto r = sh("cd " + q(tmp.path()) + " && mkfifo pipe.tif && timeout 60 $L info pipe.tif 2>&1; echo rc=$?");
  EXPECT_NE(r.output.find("pipe.tif: is not a regular file"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("rc=124"), std::string::npos) << r.output;
  fs::create_directories(tmp / "opts.json");
  const auto o = test::run_cli(predict_files("additive") + " -o " + q(tmp / "p.tif") + " --options " + q(tmp / "opts.json"));
  EXPECT_NE(o.exit_code, 0) << o.output;
  EXPECT_NE(o.output.find("opts.json: the options file is not a regular file"), std::string::npos) << o.output;
  EXPECT_TRUE(one_line(o.output)) << o.output;
  // A missing one was "not a regular file" too.
  const auto m = test::run_cli(predict_files("additive") + " -o " + q(tmp / "p.tif") + " --options " + q(tmp / "no.json"));
  EXPECT_NE(m.output.find("no.json: the options file does not exist"), std::string::npos) << m.output;
  // A pipe as an output: the check whether it is an lstfuse output opened it and waited.
  const auto w = sh("cd " + q(tmp.path()) + " && mkfifo out.tif && timeout 60 $L " + predict_files("additive") +
                    " -o out.tif 2>&1; echo rc=$?; timeout 60 $L " + predict_files("additive") +
                    " -o p.tif --quality out.tif 2>&1; echo rc=$?");
  EXPECT_NE(w.output.find("out.tif: -o exists and is not a regular file"), std::string::npos) << w.output;
  EXPECT_NE(w.output.find("out.tif: --quality exists and is not a regular file"), std::string::npos) << w.output;
  EXPECT_EQ(w.output.find("rc=124"), std::string::npos) << w.output;
  EXPECT_FALSE(fs::exists(tmp / "p.tif"));
  // Nor a pipe in an output folder's place of its marker file: reading it waited for a writer.
  const auto f = sh("cd " + q(tmp.path()) + " && mkdir d && mkfifo d/simulation.json && timeout 60 $L simulate -q "
                    "--size 32 --days 5 --coarse-factor 4 -o d 2>&1; echo rc=$?");
  EXPECT_NE(f.output.find("d: exists and is not a simulation made by 'lstfuse simulate'"), std::string::npos) << f.output;
  EXPECT_EQ(f.output.find("rc=124"), std::string::npos) << f.output;
}

// A fine image whose grid is mirrored (pixel -30 x 30) became the catalog grid, and the good
// coarse image was then blamed for not overlapping it; a pixel of no size was "does not overlap"
// in ingest but "invalid geotransform" elsewhere; two grids that differ only in their rotation
// terms were said to differ in their CRS.
TEST(ReliabilityCli, AGridThatIsNotNorthUpIsNamedForWhatItIs) {
  test::TempDir tmp;
  Grid g;
  g.width = g.height = 40;
  g.transform = {400000.0, 30.0, 0.0, 6160000.0, 0.0, -30.0};
  g.crs = io::crs_to_wkt("EPSG:32755");
  Raster r(g, 1, 300.0f);
  const auto plain = (tmp / "Landsat_20240101.tif").string();
  io::write_raster(plain, r);
  Grid c = g;
  c.width = c.height = 4;
  c.transform = {400000.0, 300.0, 0.0, 6160000.0, 0.0, -300.0};
  const auto coarse = (tmp / "MODIS_20240101.tif").string();
  io::write_raster(coarse, Raster(c, 1, 301.0f));
  auto with_transform = [&](const std::string& name, std::array<double, 6> t) {
    const auto path = (tmp / name).string();
    io::write_raster(path, r);
    GDALDataset* ds = static_cast<GDALDataset*>(GDALOpen(path.c_str(), GA_Update));
    EXPECT_NE(ds, nullptr);
    if (ds) {
      ds->SetGeoTransform(t.data());
      GDALClose(ds);
    }
    return path;
  };
  const auto mirrored = with_transform("mirrored_20240101.tif", {401200.0, -30.0, 0.0, 6160000.0, 0.0, -30.0});
  const auto zero = with_transform("zero_20240101.tif", {400000.0, 0.0, 0.0, 6160000.0, 0.0, 0.0});
  const auto rotated = with_transform("rotated_20240101.tif", {400000.0, 30.0, 5.0, 6160000.0, 5.0, -30.0});
  auto r1 = test::run_cli("ingest --fine " + q(mirrored) + " --coarse " + q(coarse) + " --date 2024-01-01 -o " +
                          q(tmp / "c1"));
  EXPECT_NE(r1.exit_code, 0) << r1.output;
  EXPECT_NE(r1.output.find(mirrored + ": its grid is not north-up (pixel -30 x -30"), std::string::npos) << r1.output;
  EXPECT_TRUE(one_line(r1.output)) << r1.output;
  EXPECT_FALSE(fs::exists(tmp / "c1"));
  r1 = test::run_cli("ingest --fine " + q(mirrored) + " --coarse " + q(coarse) + " --date 2024-01-01 -o " +
                     q(tmp / "c1") + " --crs EPSG:32755 --res 30");
  EXPECT_EQ(r1.exit_code, 0) << r1.output;
  const auto r2 = test::run_cli("ingest --fine " + q(zero) + " --date 2024-01-01 -o " + q(tmp / "c2"));
  EXPECT_NE(r2.exit_code, 0) << r2.output;
  EXPECT_NE(r2.output.find(zero + ": has an invalid geotransform (pixel size 0 x 0)"), std::string::npos) << r2.output;
  EXPECT_FALSE(fs::exists(tmp / "c2"));
  const auto r3 = test::run_cli("metrics " + q(plain) + " " + q(rotated));
  EXPECT_NE(r3.exit_code, 0) << r3.output;
  EXPECT_NE(r3.output.find("pixel 30 x 30, rotation 5, 5, origin"), std::string::npos) << r3.output;
  EXPECT_EQ(r3.output.find("CRS"), std::string::npos) << r3.output;
}

// A grid CRS that does not fit the data: a UTM zone half the globe away gave a catalog at
// coordinates no map of the area uses; a geocentric CRS was "does not overlap"; a --res as large
// as the scene, or degrees beyond the globe, gave a catalog of nothing with a warning.
TEST(ReliabilityCli, AGridCrsThatDoesNotFitTheDataIsRefused) {
  test::TempDir tmp;
  const std::string fine = q(yanco() / "Landsat_LST_cloudrm_20160205.tif");
  const std::string base = "ingest --fine " + fine + " -o " + q(tmp / "c");
  for (const auto& [args, says] : std::vector<std::pair<std::string, std::string>>{
           {" --crs EPSG:32724 --res 100", "Landsat_LST_cloudrm_20160205.tif: lies at 146.2 E, 35.0 S, but --crs EPSG:32724"},
           {" --crs EPSG:4978 --res 30", "--crs EPSG:4978 (WGS 84 (EPSG:4978)) is not a map CRS"},
           {" --crs EPSG:32755 --res 1e9", "does not overlap the catalog grid (1 x 1 pixels, pixel 1e+09 x 1e+09"},
           {" --crs EPSG:4326 --res 0.1 --extent -400 -100 400 100", "--crs EPSG:4326 is in degrees"}}) {
    const auto r = test::run_cli(base + args);
    EXPECT_EQ(r.exit_code, 1) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(says), std::string::npos) << args << "\n" << r.output;
    EXPECT_TRUE(one_line(r.output)) << r.output;
    EXPECT_FALSE(fs::exists(tmp / "c"));
  }
  // The next zone (data across a zone boundary), a continental grid, and the northern zone of
  // the same longitudes (southern Landsat scenes come in those, with negative northings) fit.
  for (const std::string crs : {"EPSG:32756", "EPSG:3577", "EPSG:32655"}) {
    const auto r = test::run_cli(base + " --crs " + crs + " --res 100 --overwrite");
    EXPECT_EQ(r.exit_code, 0) << crs << "\n" << r.output;
  }
  // Images of which not one pixel is valid on the grid: a catalog of nothing.
  Raster none = io::read_raster((yanco() / "Landsat_LST_cloudrm_20160205.tif").string());
  std::fill(none.mask_data().begin(), none.mask_data().end(), 0);
  io::write_raster((tmp / "Landsat_empty_20160205.tif").string(), none);
  const auto r = test::run_cli("ingest --fine " + q(tmp / "Landsat_empty_20160205.tif") + " -o " + q(tmp / "e"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("none of the 1 image(s) has a valid pixel on the catalog grid"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "e"));
  // A scene across the antimeridian (UTM zone 1 at 60 N): the middle of its bounds in degrees
  // is 0 E; its centre is at 180 E, in the zone.
  auto s = test::run_cli("simulate -q -o " + q(tmp / "am") +
                         " --epsg 32601 --origin-x 331800 --origin-y 6660000 --size 64 --days 20 --coarse-factor 4");
  ASSERT_EQ(s.exit_code, 0) << s.output;
  s = test::run_cli("ingest -q " + q(tmp / "am") + " -o " + q(tmp / "amc") + " --crs EPSG:32601 --res 30");
  EXPECT_EQ(s.exit_code, 0) << s.output;
  // A simulation that lists no image at all reached the check with nothing to check (a crash).
  auto sim = nlohmann::json::parse(slurp(tmp / "am" / "simulation.json"));
  sim["observations"] = nlohmann::json::array();
  sim["truth"] = nlohmann::json::array();
  std::ofstream(tmp / "am" / "simulation.json") << sim.dump();
  s = test::run_cli("ingest " + q(tmp / "am") + " -o " + q(tmp / "amd") + " --crs EPSG:32601 --res 30");
  EXPECT_EQ(s.exit_code, 1) << s.output;
  EXPECT_NE(s.output.find("nothing to ingest"), std::string::npos) << s.output;
  EXPECT_FALSE(fs::exists(tmp / "amd"));
}

TEST(ReliabilityCli, AHugeOmpNumThreadsIsCapped) {
  // OMP_NUM_THREADS=100000 used to start that many threads in the first parallel loop and
  // crash inside the OpenMP runtime; the machine's thread count caps it.
  test::TempDir tmp;
  const auto r = sh("cd " + q(tmp.path()) + " && OMP_NUM_THREADS=100000 $L " + predict_files("additive") + " -o p.tif 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto ref = test::run_cli(predict_files("additive") + " -o " + q(tmp / "q.tif"));
  ASSERT_EQ(ref.exit_code, 0) << ref.output;
  EXPECT_TRUE(same_values(io::read_raster((tmp / "p.tif").string()), io::read_raster((tmp / "q.tif").string())));
}

TEST(ReliabilityCli, AbsurdGridsAndUnknownHdfGridsAreRefused) {
  test::TempDir tmp;
  const auto hdf = test::shared_data("mod11a1/MOD11A1.A2019305.h14v09.006.hdf");
  const auto t0 = std::chrono::steady_clock::now();
  auto r = test::run_cli("ingest " + q(hdf) + " -o " + q(tmp / "c") + " --crs EPSG:32724 --res 20");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("beyond lstfuse's limit"), std::string::npos) << r.output;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 30.0);
  EXPECT_FALSE(fs::exists(tmp / "c"));
  r = test::run_cli("ingest " + q("HDF4_EOS:EOS_GRID:\"" + hdf.string() + "\":NO_SUCH_GRID:LST_Day_1km") + " -o " +
                    q(tmp / "c"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("unknown HDF grid 'NO_SUCH_GRID'"), std::string::npos) << r.output;
}

TEST(ReliabilityCli, AManifestWithANegativeWidthIsRefused) {
  test::TempDir tmp;
  fs::copy(yanco_catalog(), tmp / "cat");
  std::string m = slurp(tmp / "cat" / "manifest.json");
  const auto at = m.find("\"width\": 400");
  ASSERT_NE(at, std::string::npos);
  m.replace(at, 12, "\"width\": -400");
  std::ofstream(tmp / "cat" / "manifest.json") << m;
  const auto r = test::run_cli("info " + q(tmp / "cat"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("manifest.json"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("-400 x 400"), std::string::npos) << r.output;
}

// ------------------------------------------------------------------ messages

TEST(ReliabilityCli, MessagesNameTheRealProblem) {
  test::TempDir tmp;
  // The README's own "-o yanco/", and a parent folder that does not exist yet.
  auto r = sh("cd " + q(tmp.path()) + " && $L ingest " + q(yanco()) + " -o yanco/");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(tmp / "yanco" / "manifest.json"));
  r = test::run_cli("ingest " + q(yanco()) + " -o " + q(tmp / "new" / "deeper" / "cat"));
  EXPECT_EQ(r.exit_code, 0) << r.output;

  // An impossible date is called that.
  fs::copy_file(yanco() / "MOD11A1_LST_cloudrm_20160218.tif", tmp / "MOD11A1_LST_20160230.tif");
  r = test::run_cli("ingest " + q(tmp / "MOD11A1_LST_20160230.tif") + " --fine " +
                    q(yanco() / "Landsat_LST_cloudrm_20160205.tif") + " -o " + q(tmp / "d"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("20160230, which is not a valid date"), std::string::npos) << r.output;

  // A CRS-only difference shows the two CRS.
  Raster c = io::read_raster((yanco() / "MOD11A1_LST_cloudrm_20160218.tif").string());
  c.grid().crs = io::crs_to_wkt("EPSG:4283");  // GDA94, same numbers
  io::write_raster((tmp / "MOD11A1_gda94_20160218.tif").string(), c);
  const auto y = yanco();
  r = test::run_cli("predict --method starfm --fine1 " + q(y / "Landsat_LST_cloudrm_20160205.tif") + " --coarse1 " +
                    q(y / "MOD11A1_LST_cloudrm_20160205.tif") + " --coarse0 " + q(tmp / "MOD11A1_gda94_20160218.tif") +
                    " -o " + q(tmp / "p.tif"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("GDA94"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("WGS 84"), std::string::npos) << r.output;

  // A broken JSON config: one line, no parser internals.
  std::ofstream(tmp / "bad.json") << "{\"window\": ";
  r = test::run_cli(predict_files() + " -o " + q(tmp / "p.tif") + " --options " + q(tmp / "bad.json"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("json.exception"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("bad.json: not valid JSON"), std::string::npos) << r.output;
  EXPECT_TRUE(one_line(r.output)) << r.output;
}

TEST(ReliabilityCli, FuseReadsEveryCatalogAndDateBeforeTheFirstCatalogsWork) {
  // A damaged second catalog, or a date that is no date: one line naming it, and nothing made
  // for the first catalog.
  test::TempDir tmp;
  fs::create_directories(tmp / "bad");
  std::ofstream(tmp / "bad" / "manifest.json") << "{\"format\": \"lstfuse-catalog\", \"grid\": {";
  auto r = test::run_cli("fuse --method starfm --catalog " + q(yanco_catalog()) + " --catalog " + q(tmp / "bad") +
                         " -o " + q(tmp / "out"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find((tmp / "bad" / "manifest.json").string() + ": malformed catalog manifest"), std::string::npos)
      << r.output;
  EXPECT_TRUE(one_line(r.output)) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "out"));
  r = test::run_cli("fuse --method starfm --catalog " + q(yanco_catalog()) + " --from 2016-13-45 -o " + q(tmp / "out"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--from: bad date '2016-13-45'"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "out"));
  // Work tiles of a pixel (minutes a date), and a folder whose index.json is the user's.
  r = test::run_cli("fuse --method starfm --catalog " + q(yanco_catalog()) + " --work-tile 1 -o " + q(tmp / "out"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--work-tile 1: give 0 (a date is one item) or at least 16 pixels"), std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(tmp / "out"));
  fs::create_directories(tmp / "mine");
  std::ofstream(tmp / "mine" / "index.json") << "{}";
  r = test::run_cli("fuse --method starfm --catalog " + q(yanco_catalog()) + " -o " + q(tmp / "mine"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("(its index.json is not one lstfuse wrote)"), std::string::npos) << r.output;

  // A catalog image converted to Celsius after ingest: the dates that read it fail, naming it.
  fs::copy(yanco_catalog(), tmp / "celsius", fs::copy_options::recursive);
  const Catalog cat = Catalog::load(tmp / "celsius");
  const auto coarse = cat.find(cat.coarse_only_dates().front(), Role::Coarse);
  ASSERT_TRUE(coarse);
  const fs::path file = tmp / "celsius" / coarse->path;
  Raster img = io::read_raster(file.string());
  for (int b = 0; b < img.bands(); ++b)
    for (size_t i = 0; i < img.band_size(); ++i) img.band(b)[i] -= 273.15f;
  fs::remove(file);
  io::write_raster(file.string(), img);
  r = test::run_cli("fuse -q --no-uncertainty --method starfm --catalog " + q(tmp / "celsius") + " -o " + q(tmp / "c"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(file.string() + ": LST"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("it looks like degrees Celsius"), std::string::npos) << r.output;
  // quicklook drew it as 27 K (and kelvin with --units C as 573 K): the same rule now, while a
  // quality layer (not LST) is still drawn.
  for (const std::string& args : {q(file), q(yanco_catalog() / cat.find(cat.coarse_only_dates().front(), Role::Coarse)->path) + " --units C"}) {
    r = test::run_cli("quicklook " + args + " -o " + q(tmp / "q.png"));
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("is outside the plausible 150-380 K"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(tmp / "q.png"));
  }
  ASSERT_EQ(test::run_cli("predict -q --method starfm --catalog " + q(yanco_catalog()) + " --date 2016-02-18 -o " +
                          q(tmp / "p.tif")).exit_code, 0);
  r = test::run_cli("quicklook " + q(tmp / "p_quality.tif") + " --band 2 -o " + q(tmp / "q.png"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST(ReliabilityCli, ACatalogImageEmptiedSinceIngestIsNamedAsChanged) {
  // A pair's fine image replaced after ingest by one without a valid pixel: the catalog still
  // calls the pair clear, so it was chosen and the method failed with "the pair has no valid
  // pixel", not naming the file or the cause.
  test::TempDir tmp;
  fs::copy(yanco_catalog(), tmp / "cat", fs::copy_options::recursive);
  const Catalog cat = Catalog::load(tmp / "cat");
  const auto fine = cat.find(cat.pair_dates().front(), Role::Fine);
  ASSERT_TRUE(fine);
  ASSERT_GT(fine->valid_fraction, 0.0);
  const fs::path file = tmp / "cat" / fine->path;
  Raster img = io::read_raster(file.string());
  std::fill(img.mask_data().begin(), img.mask_data().end(), uint8_t{0});
  fs::remove(file);
  io::write_raster(file.string(), img);
  const auto r = test::run_cli("predict --method starfm --catalog " + q(tmp / "cat") + " --date 2016-02-18 -o " +
                               q(tmp / "p.tif"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(file.string() + ": has no valid pixel, but the catalog recorded " +
                          fmt::format("{:.1f}", 100.0 * fine->valid_fraction) + " % valid pixels"),
            std::string::npos) << r.output;
  EXPECT_NE(r.output.find("re-run 'lstfuse ingest'"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "p.tif"));
}

TEST(ReliabilityCli, AllCloudyPairsAreReportedAsCloudy) {
  test::TempDir tmp;
  fs::copy(yanco_catalog(), tmp / "cat");
  auto j = nlohmann::json::parse(slurp(tmp / "cat" / "manifest.json"));
  for (auto& o : j["observations"])
    if (o["role"] == "fine") o["valid_fraction"] = 0.0;
  std::ofstream(tmp / "cat" / "manifest.json") << j.dump(2);
  const auto r = test::run_cli("predict --method starfm --catalog " + q(tmp / "cat") + " --date 2016-02-18 -o " +
                               q(tmp / "p.tif"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("2 pair date(s) set aside"), std::string::npos) << r.output;
}

// ------------------------------------------------------------------ signals and full disks

TEST(ReliabilityCli, SigtermDuringIngestRemovesTheBuildFolder) {
  test::TempDir tmp;
  const auto hdf = test::shared_data("mod11a1/MOD11A1.A2019305.h14v09.006.hdf");
  // A big enough grid to be caught in the middle (about 140 million pixels).
  const std::string script = "cd " + q(tmp.path()) + " && { $L ingest " + q(hdf) +
                             " -o cat --crs EPSG:32724 --res 100 > log 2>&1 & pid=$!; "
                             "for i in $(seq 1 600); do ls -a | grep -q '^.cat.ingest-' && break; sleep 0.05; done; "
                             "sleep 0.5; kill -TERM $pid; wait $pid; echo $? > rc; cat log; }";
  const auto r = sh(script);
  EXPECT_EQ(slurp(tmp / "rc"), "143\n") << r.output;
  EXPECT_NE(r.output.find("interrupted"), std::string::npos) << r.output;
  EXPECT_TRUE(leftovers(tmp.path(), ".ingest-").empty());
  EXPECT_FALSE(fs::exists(tmp / "cat"));
}

TEST(ReliabilityCli, AFullDiskDuringIngestAndPredictLeavesNothingAndKeepsEarlierOutputs) {
  test::TempDir tmp;
  // RLIMIT_FSIZE (ulimit -f, in KiB) makes every write past 200 KiB fail with EFBIG: the same
  // failure path as a full disk, without mounting a file system.
  auto r = sh("cd " + q(tmp.path()) + " && ulimit -f 200 && $L ingest " + q(yanco()) + " -o cat");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("write failed"), std::string::npos) << r.output;
  EXPECT_TRUE(one_line(r.output)) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "cat"));
  EXPECT_TRUE(leftovers(tmp.path(), ".ingest-").empty());

  // An earlier prediction stays as it was when a new one cannot be written over it.
  const std::string to_p = predict_files() + " -o " + q(tmp / "p.tif");
  ASSERT_EQ(test::run_cli(to_p + " --window 11").exit_code, 0);
  const auto before = slurp(tmp / "p.tif");
  ASSERT_GT(before.size(), 20u * 1024);
  for (const std::string extra : {"", " --stream"}) {
    r = sh("ulimit -f 20 && $L " + to_p + " --of GTiff --window 13" + extra);
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("p.tif"), std::string::npos) << r.output;
    EXPECT_TRUE(one_line(r.output)) << r.output;
    EXPECT_EQ(slurp(tmp / "p.tif"), before);
    EXPECT_TRUE(leftovers(tmp.path(), ".part").empty());
  }
}

TEST(ReliabilityCli, ConcurrentRunsIntoOneOutputEachFinish) {
  // Each process writes under its own temporary name (PID in it) and renames when done, so
  // neither moves or removes the other's half-written file; the last rename wins.
  test::TempDir tmp;
  const std::string one = "env --default-signal=INT $L " + predict_files("additive") + " -o same.tif > log$i 2>&1; echo $? > rc$i";
  const auto r = sh("cd " + q(tmp.path()) + " && for i in 1 2 3; do ( " + one + " ) & done; wait");
  for (int i = 1; i <= 3; ++i) EXPECT_EQ(slurp(tmp / ("rc" + std::to_string(i))), "0\n") << slurp(tmp / ("log" + std::to_string(i)));
  const Raster out = io::read_raster((tmp / "same.tif").string());
  EXPECT_GT(out.valid_count(0), 0LL);
  EXPECT_TRUE(leftovers(tmp.path(), ".part").empty());
}

TEST(ReliabilityCli, SigintDuringAStreamedPredictionRemovesThePartFile) {
  test::TempDir tmp;
  // A wide window makes the streamed prediction slow enough to be caught while writing.
  // A background job of a script starts with SIGINT ignored (and lstfuse keeps it so, as a
  // background job expects): env restores the default, as in an interactive terminal.
  const std::string script = "cd " + q(tmp.path()) + " && { env --default-signal=INT $L " + predict_files() +
                             " --window 101 --stream --tile 32 -o p.tif > log 2>&1 & pid=$!; "
                             "for i in $(seq 1 600); do ls p.tif.part-*.tif >/dev/null 2>&1 && break; sleep 0.05; done; "
                             "sleep 0.3; kill -INT $pid; wait $pid; echo $? > rc; cat log; }";
  const auto r = sh(script);
  EXPECT_EQ(slurp(tmp / "rc"), "130\n") << r.output;
  EXPECT_NE(r.output.find("interrupted"), std::string::npos) << r.output;
  EXPECT_TRUE(leftovers(tmp.path(), ".part").empty());
  EXPECT_FALSE(fs::exists(tmp / "p.tif"));
}

// simulate builds its folder beside the destination and moves it into place when complete: a
// SIGTERM leaves no half-written simulation, and an earlier one stays whole.
TEST(ReliabilityCli, SigtermDuringSimulateLeavesTheEarlierSimulationWhole) {
  test::TempDir tmp;
  auto r = test::run_cli("simulate -q --size 48 --days 60 -o " + q(tmp / "sim"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "");  // -q: nothing but warnings and errors
  const std::string manifest = slurp(tmp / "sim" / "simulation.json");
  for (const std::string out : {"sim", "new"}) {
    SCOPED_TRACE(out);
    const std::string script = "cd " + q(tmp.path()) + " && { $L simulate --size 400 --days 240 -o " + out +
                               " > log 2>&1 & pid=$!; "
                               "for i in $(seq 1 1200); do ls -a | grep -q '^." + out + ".simulate-' && break; sleep 0.05; done; "
                               "sleep 0.3; kill -TERM $pid; wait $pid; echo $? > rc; cat log; }";
    r = sh(script);
    EXPECT_EQ(slurp(tmp / "rc"), "143\n") << r.output;
    EXPECT_NE(r.output.find("interrupted"), std::string::npos) << r.output;
    EXPECT_TRUE(leftovers(tmp.path(), ".simulate-").empty());
  }
  EXPECT_EQ(slurp(tmp / "sim" / "simulation.json"), manifest);
  EXPECT_FALSE(fs::exists(tmp / "new"));
  // A file of the user's beside the simulation's own is named, never replaced with the folder.
  std::ofstream(tmp / "sim" / "notes.txt") << "mine";
  r = test::run_cli("simulate -q --size 48 --days 60 -o " + q(tmp / "sim"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("notes.txt"), std::string::npos) << r.output;
  EXPECT_EQ(slurp(tmp / "sim" / "notes.txt"), "mine");
  EXPECT_EQ(slurp(tmp / "sim" / "simulation.json"), manifest);
  // Nor when a hand-written simulation.json lists it: it carries no lstfuse mark.
  fs::create_directory(tmp / "forged");
  std::ofstream(tmp / "forged" / "notes.txt") << "mine";
  std::ofstream(tmp / "forged" / "simulation.json")
      << R"({"format": "lstfuse-simulation", "truth": [{"date": "2024-01-01", "path": "notes.txt"}]})";
  r = test::run_cli("simulate -q --size 48 --days 60 -o " + q(tmp / "forged"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("notes.txt"), std::string::npos) << r.output;
  EXPECT_EQ(slurp(tmp / "forged" / "notes.txt"), "mine");
  // A simulation without a Landsat date has an empty landsat/ of its own: run again, it is
  // replaced, not refused as someone else's folder.
  const std::string none = "simulate -q --size 16 --coarse-factor 4 --days 20 --landsat-first-day 100 -o " + q(tmp / "none");
  for (int i = 0; i < 2; ++i) {
    r = test::run_cli(none);
    EXPECT_EQ(r.exit_code, 0) << i << ": " << r.output;
  }
  EXPECT_TRUE(fs::is_directory(tmp / "none" / "landsat"));
}

// benchmark --options FILE: the file's options reach the methods (as the same flags would), a bad
// file is refused before any work; a run in which every prediction failed exits with an error.
TEST(ReliabilityCli, BenchmarkAppliesItsOptionsFileAndFailsWhenNothingSucceeds) {
  test::TempDir tmp;
  const std::string base = "benchmark --catalog " + q(yanco_catalog()) + " --methods starfm --single-pair --no-report -q -o ";
  auto starfm_rmse = [&](const std::string& dir) {
    std::ifstream in(tmp / dir / "results.csv");
    std::string line;
    std::vector<double> out;
    while (std::getline(in, line))
      if (line.rfind("starfm,", 0) == 0) out.push_back(std::stod(line.substr(line.find(',', 7) + 1)));
    return out;
  };
  std::ofstream(tmp / "w7.json") << R"({"window": 7})";
  std::ofstream(tmp / "starfm_w7.json") << R"({"method": "starfm", "options": {"window": 7}})";
  for (const auto& [dir, extra] : std::vector<std::pair<std::string, std::string>>{
           {"file", " --options " + q(tmp / "w7.json")},
           {"tagged", " --options " + q(tmp / "starfm_w7.json")},
           {"flag", " --starfm.window 7"},
           {"default", ""}}) {
    const auto r = test::run_cli(base + q(tmp / dir) + extra);
    ASSERT_EQ(r.exit_code, 0) << extra << "\n" << r.output;
  }
  ASSERT_EQ(starfm_rmse("flag").size(), 2u);
  // Tables only: no maps either (they were drawn all the same).
  EXPECT_FALSE(fs::exists(tmp / "flag" / "maps"));
  // ... and an earlier report's maps in the same folder stay with it.
  std::string reported = base;
  reported.replace(reported.find(" --no-report"), 12, "");
  ASSERT_EQ(test::run_cli(reported + q(tmp / "rep")).exit_code, 0);
  const auto maps_of = [&] {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(tmp / "rep" / "maps")) out.push_back(e.path().filename().string());
    return out;
  };
  const auto drawn = maps_of();
  ASSERT_FALSE(drawn.empty());
  ASSERT_EQ(test::run_cli(base + q(tmp / "rep")).exit_code, 0);
  EXPECT_EQ(maps_of().size(), drawn.size());
  EXPECT_EQ(starfm_rmse("file"), starfm_rmse("flag"));
  EXPECT_EQ(starfm_rmse("tagged"), starfm_rmse("flag"));
  EXPECT_NE(starfm_rmse("default"), starfm_rmse("flag"));
  // Bad files: named, one line, no folder made.
  std::ofstream(tmp / "unknown.json") << R"({"nosuch": 1})";
  std::ofstream(tmp / "even.json") << R"({"window": 4})";
  std::ofstream(tmp / "other.json") << R"({"method": "estarfm", "options": {"half-window": 9}})";
  std::ofstream(tmp / "broken.json") << "{bad";
  for (const auto& [file, says] : std::vector<std::pair<std::string, std::string>>{
           {"unknown.json", "option nosuch is known to none of the methods benchmarked"},
           {"even.json", "option --window must be odd and between 3 and 1001, got 4"},
           {"other.json", "holds options of estarfm, which is not benchmarked"},
           {"broken.json", "not valid JSON"}}) {
    const auto r = test::run_cli(base + q(tmp / "bad") + " --options " + q(tmp / file));
    EXPECT_EQ(r.exit_code, 1) << file << "\n" << r.output;
    EXPECT_NE(r.output.find((tmp / file).string() + ": "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(says), std::string::npos) << r.output;
    EXPECT_TRUE(one_line(r.output)) << r.output;
    EXPECT_FALSE(fs::exists(tmp / "bad"));
  }
  // A map asked of a date that is not predicted would silently be missing from the report.
  std::string with_report = base;
  with_report.replace(with_report.find(" --no-report"), 12, "");
  const auto map = test::run_cli(with_report + q(tmp / "map") + " --map-dates 2030-01-01");
  EXPECT_EQ(map.exit_code, 1) << map.output;
  EXPECT_NE(map.output.find("--map-dates 2030-01-01 is not one of the dates predicted"), std::string::npos) << map.output;
  EXPECT_FALSE(fs::exists(tmp / "map"));
  // Coarse-only days asked of a catalog without truth (real data): dropped without a word.
  const auto co = test::run_cli(base + q(tmp / "co") + " --coarse-only 3");
  EXPECT_EQ(co.exit_code, 1) << co.output;
  EXPECT_NE(co.output.find("--coarse-only 3: "), std::string::npos) << co.output;
  EXPECT_NE(co.output.find("has no simulated truth to score days without a fine image against"), std::string::npos)
      << co.output;
  EXPECT_FALSE(fs::exists(tmp / "co"));
  const auto both = test::run_cli(base + q(tmp / "map") + " --map-dates 2016-02-18");
  EXPECT_EQ(both.exit_code, 1) << both.output;
  EXPECT_NE(both.output.find("--map-dates draws maps for the report, and --no-report leaves it out"), std::string::npos)
      << both.output;
  EXPECT_FALSE(fs::exists(tmp / "map"));
  // The first pair's fine image cut short: the second date is predicted from it, so each of its
  // predictions fails, and the run says so with exit status 1 (the tables list the failures).
  fs::copy(yanco_catalog(), tmp / "cut", fs::copy_options::recursive);
  const Catalog cut = Catalog::load(tmp / "cut");
  const fs::path fine = cut.absolute(cut.find(cut.pair_dates().front(), Role::Fine)->path);
  fs::resize_file(fine, 300);
  const auto r = test::run_cli("benchmark --catalog " + q(tmp / "cut") + " --dates " + cut.pair_dates().back().iso() +
                               " --methods additive,starfm --single-pair --no-report -q -o " + q(tmp / "failed"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("benchmark: every prediction failed"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(tmp / "failed" / "summary.md"));
  // A method that needs two pairs, named with --single-pair: every row would fail, so it is
  // refused before any work (a group such as the default drops it instead).
  const auto two = test::run_cli("benchmark --catalog " + q(yanco_catalog()) +
                                 " --methods starfm,estarfm --single-pair --no-report -q -o " + q(tmp / "two"));
  EXPECT_EQ(two.exit_code, 1) << two.output;
  EXPECT_NE(two.output.find("benchmark entry 'estarfm': estarfm needs 2 pairs and --single-pair gives each prediction one"),
            std::string::npos) << two.output;
  EXPECT_FALSE(fs::exists(tmp / "two"));
  // Spelled with a blank after the comma, it is still named, and refused.
  const auto blank = test::run_cli("benchmark --catalog " + q(yanco_catalog()) +
                                   " --methods 'starfm, estarfm' --single-pair --no-report -q -o " + q(tmp / "two"));
  EXPECT_EQ(blank.exit_code, 1) << blank.output;
  EXPECT_FALSE(fs::exists(tmp / "two"));
  // A group drops it: the default 'baseline,classic' runs without ESTARFM's rows.
  const auto group = test::run_cli("benchmark --catalog " + q(yanco_catalog()) + " --single-pair --no-report -q -o " +
                                   q(tmp / "group"));
  ASSERT_EQ(group.exit_code, 0) << group.output;
  const auto rows = nlohmann::json::parse(slurp(tmp / "group" / "results.json"))["rows"];
  ASSERT_FALSE(rows.empty());
  for (const auto& row : rows) EXPECT_NE(row["method"], "estarfm") << row.dump();
}

// A benchmark folder whose predictions/ (or maps/) is a link into a folder of the user's: the
// rerun wrote there and removed the user's lstfuse rasters named like predictions.
TEST(ReliabilityCli, ABenchmarkEntrysOwnOptionWinsOverTheFlagsAndItsLabelSaysIt) {
  // --starfm.window 9 overrode starfm:window=5 and starfm:window=7: two rows of window 9 under
  // those labels, exit 0; a plain --window 9 was dropped for them without a word.
  test::TempDir tmp;
  const std::string base = "benchmark --catalog " + q(yanco_catalog()) + " --single-pair --no-report -q -o ";
  auto rmse_of = [&](const std::string& dir) {
    std::map<std::string, std::vector<double>> out;
    std::ifstream in(tmp / dir / "results.csv");
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
      const auto c1 = line.find(','), c2 = line.find(',', c1 + 1);
      out[line.substr(0, c1)].push_back(std::stod(line.substr(c2 + 1)));
    }
    return out;
  };
  auto r = test::run_cli(base + q(tmp / "mixed") + " --methods starfm:window=5,starfm --starfm.window 9");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_EQ(test::run_cli(base + q(tmp / "w5") + " --methods starfm:window=5").exit_code, 0);
  ASSERT_EQ(test::run_cli(base + q(tmp / "w9") + " --methods starfm:window=9").exit_code, 0);
  const auto mixed = rmse_of("mixed");
  ASSERT_EQ(mixed.size(), 2u);
  EXPECT_EQ(mixed.at("starfm:window=5"), rmse_of("w5").at("starfm:window=5"));
  EXPECT_EQ(mixed.at("starfm"), rmse_of("w9").at("starfm:window=9"));
  EXPECT_NE(mixed.at("starfm"), mixed.at("starfm:window=5"));
  // A flag every entry overrides changes nothing: refused, naming them, before any folder.
  for (const auto& [flag, says] : std::vector<std::pair<std::string, std::string>>{
           {"--starfm.window 9", "--starfm.window 9 changes nothing: every starfm entry sets window itself "
                                 "(starfm:window=5, starfm:window=7)"},
           {"--window 9", "--window 9 changes nothing: every entry that has window sets it itself "
                          "(starfm:window=5, starfm:window=7)"}}) {
    r = test::run_cli(base + q(tmp / "refused") + " --methods starfm:window=5,starfm:window=7 " + flag);
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find(says), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(tmp / "refused"));
  }
}

TEST(ReliabilityCli, ABenchmarksSubfolderThatIsALinkIsRefused) {
  test::TempDir tmp;
  const std::string cmd = "cd " + q(tmp.path()) + " && $L benchmark --catalog " + q(yanco_catalog()) +
                          " --methods additive --single-pair --no-report -o bench";
  auto r = sh(cmd);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  fs::create_directory(tmp / "mine");
  fs::copy_file(tmp / "bench" / "predictions" / "additive_20160205.tif", tmp / "mine" / "starfm_20160301.tif");
  fs::rename(tmp / "bench" / "predictions", tmp / "old");
  fs::create_directory_symlink(tmp / "mine", tmp / "bench" / "predictions");
  const std::string before = slurp(tmp / "bench" / "results.json");
  r = sh(cmd);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("predictions: is a symbolic link; the benchmark keeps its own predictions there"),
            std::string::npos)
      << r.output;
  EXPECT_TRUE(fs::exists(tmp / "mine" / "starfm_20160301.tif"));
  EXPECT_FALSE(fs::exists(tmp / "mine" / "additive_20160205.tif"));
  EXPECT_TRUE(fs::is_symlink(tmp / "bench" / "predictions"));
  EXPECT_EQ(slurp(tmp / "bench" / "results.json"), before);  // refused before the folder is marked
}

// A rerun without maps keeps the earlier maps (with the earlier report) and lists them, so that
// a later run with maps removes them: they were forgotten and stayed beside the new ones.
TEST(ReliabilityCli, ABenchmarkWithoutMapsKeepsTheEarlierOnesListed) {
  test::TempDir tmp;
  auto run = [&](const std::string& args) {
    const auto r = sh("cd " + q(tmp.path()) + " && $L benchmark -q --catalog " + q(yanco_catalog()) +
                      " --single-pair -o bench " + args);
    EXPECT_EQ(r.exit_code, 0) << args << ": " << r.output;
  };
  run("--methods additive");
  ASSERT_TRUE(fs::exists(tmp / "bench" / "maps" / "additive_20160308.png"));
  run("--methods starfm --no-report");
  EXPECT_TRUE(fs::exists(tmp / "bench" / "maps" / "additive_20160308.png"));
  EXPECT_FALSE(fs::exists(tmp / "bench" / "predictions" / "additive_20160308.tif"));
  run("--methods bilinear");
  EXPECT_TRUE(fs::exists(tmp / "bench" / "maps" / "bilinear_20160308.png"));
  EXPECT_FALSE(fs::exists(tmp / "bench" / "maps" / "additive_20160308.png"));
  EXPECT_FALSE(fs::exists(tmp / "bench" / "predictions" / "starfm_20160308.tif"));
}

// benchmark marks its folder before the first prediction: an interrupted run leaves a folder
// that the same command resumes into, not one that lstfuse then refuses as foreign.
// An interrupted benchmark leaves no folder it made; an earlier run's folder, interrupted on
// a rerun, is kept and the same command runs into it again. A rerun with other methods keeps
// none of the earlier run's predictions and maps (the folder mixed two runs), and the user's file.
TEST(ReliabilityCli, AnInterruptedBenchmarkCanBeRunAgainIntoItsFolder) {
  test::TempDir tmp;
  auto cmd = [&](const std::string& methods) {
    return "$L benchmark --catalog " + q(yanco_catalog()) + " --methods " + methods + " --single-pair -o bench";
  };
  auto interrupted = [&](const std::string& methods) {
    // Killed once the run has made its predictions folder, or its first prediction there.
    return "cd " + q(tmp.path()) + " && { " + cmd(methods) + " > log 2>&1 & pid=$!; "
           "for i in $(seq 1 1200); do [ -f bench/predictions/starfm_20160205.tif ] && break; sleep 0.02; done; "
           "kill -TERM $pid; wait $pid; echo $? > rc; cat log; }";
  };
  auto r = sh(interrupted("starfm,additive"));
  EXPECT_FALSE(fs::exists(tmp / "bench")) << r.output;
  r = sh("cd " + q(tmp.path()) + " && " + cmd("starfm,additive"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_TRUE(fs::exists(tmp / "bench" / "predictions" / "additive_20160205.tif"));
  ASSERT_TRUE(fs::exists(tmp / "bench" / "maps" / "additive_20160308.png"));
  std::ofstream(tmp / "bench" / "predictions" / "notes.txt") << "mine";
  // A raster of the user's, written by lstfuse and named like a prediction, that no run listed.
  fs::copy_file(tmp / "bench" / "predictions" / "additive_20160205.tif", tmp / "bench" / "predictions" / "mine_20160101.tif");
  // The rerun is killed once it has written its own first prediction (the earlier one removed
  // here, so that the wait is for the new run's file): the folder stays, marked incomplete.
  fs::remove(tmp / "bench" / "predictions" / "starfm_20160205.tif");
  r = sh(interrupted("starfm"));
  ASSERT_TRUE(fs::exists(tmp / "bench" / "results.json")) << r.output;
  const auto first = nlohmann::json::parse(slurp(tmp / "bench" / "results.json"));
  EXPECT_EQ(first["format"], "lstfuse-benchmark");
  EXPECT_EQ(first["complete"], false) << r.output;
  // The earlier run's other files stay until a rerun succeeds.
  EXPECT_TRUE(fs::exists(tmp / "bench" / "predictions" / "additive_20160205.tif"));
  r = sh("cd " + q(tmp.path()) + " && " + cmd("starfm"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto done = nlohmann::json::parse(slurp(tmp / "bench" / "results.json"));
  EXPECT_EQ(done["complete"], true);
  EXPECT_FALSE(done["rows"].empty());
  EXPECT_TRUE(fs::exists(tmp / "bench" / "predictions" / "starfm_20160205.tif"));
  EXPECT_FALSE(fs::exists(tmp / "bench" / "predictions" / "additive_20160205.tif"));
  EXPECT_FALSE(fs::exists(tmp / "bench" / "maps" / "additive_20160308.png"));
  EXPECT_EQ(slurp(tmp / "bench" / "predictions" / "notes.txt"), "mine");
  EXPECT_TRUE(fs::exists(tmp / "bench" / "predictions" / "mine_20160101.tif"));
  // A file of another program where the run would write is refused before any work, kept.
  std::ofstream(tmp / "bench" / "predictions" / "starfm_20160205.tif") << "user";
  r = sh("cd " + q(tmp.path()) + " && " + cmd("starfm"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("starfm_20160205.tif: exists and is not a file lstfuse wrote"), std::string::npos) << r.output;
  EXPECT_EQ(slurp(tmp / "bench" / "predictions" / "starfm_20160205.tif"), "user");
  EXPECT_EQ(nlohmann::json::parse(slurp(tmp / "bench" / "results.json"))["complete"], true);
  // -o a symbolic link (even one to nowhere) is refused and left as it is; a failure into an
  // empty folder of the user's leaves it empty, and one into a new nested path leaves no parent.
  fs::create_symlink(tmp / "nowhere", tmp / "link");
  r = sh("cd " + q(tmp.path()) + " && $L benchmark --catalog " + q(yanco_catalog()) + " --methods starfm --single-pair -o link");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("link: is a symbolic link"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::is_symlink(tmp / "link"));
  fs::create_directory(tmp / "empty");
  for (const std::string out : {"empty", "new/deeper/b"}) {
    r = sh("cd " + q(tmp.path()) + " && { $L benchmark --catalog " + q(yanco_catalog()) +
           " --methods starfm,additive,series --single-pair -o " + out + " > log 2>&1 & pid=$!; "
           "for i in $(seq 1 1200); do [ -f " + out + "/predictions/starfm_20160205.tif ] && break; sleep 0.02; done; "
           "kill -TERM $pid; wait $pid; echo $? > rc; cat log; }");
    EXPECT_EQ(slurp(tmp / "rc"), "143\n") << out << "\n" << r.output;
  }
  EXPECT_TRUE(fs::is_directory(tmp / "empty") && fs::is_empty(tmp / "empty"));
  EXPECT_FALSE(fs::exists(tmp / "new"));
}

// demo checks its method names before the simulation (minutes of work), and makes no folder.
TEST(ReliabilityCli, DemoRefusesAnUnknownMethodBeforeAnyWork) {
  test::TempDir tmp;
  // --methods '' ran every method, as if it had not been given.
  for (const std::string flag : {"--methods additive,nosuch", "--fuse-method nosuch", "--methods ''"}) {
    const auto r = test::run_cli("demo " + flag + " -o " + q(tmp / "d"));
    EXPECT_NE(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find(flag == "--methods ''" ? "--methods" : "nosuch"), std::string::npos) << r.output;
    EXPECT_TRUE(one_line(r.output)) << r.output;
    EXPECT_FALSE(fs::exists(tmp / "d"));
  }
  // A scene too short for the benchmark fails after simulating and ingesting it: the new folder
  // goes, an empty one the user made stays, empty.
  fs::create_directory(tmp / "mine");
  for (const char* dir : {"d", "mine"}) {
    const auto r = test::run_cli("demo -q --size 64 --days 60 --methods estarfm --dates 1 --fuse-days 3 -o " + q(tmp / dir));
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("demo: the simulated 60 days of 64 x 64 px with --cloud-cover 0.3 gave 1 usable Landsat "
                            "date(s); the benchmark needs at least 3: give more --days"),
              std::string::npos) << r.output;
  }
  EXPECT_FALSE(fs::exists(tmp / "d"));
  EXPECT_TRUE(fs::is_directory(tmp / "mine") && fs::is_empty(tmp / "mine"));
}

TEST(ReliabilityCli, UnitsApplyOnlyToGenericGeoTiffs) {
  test::TempDir tmp;
  // Kelvin products: a simulation's Float32 Kelvin files and the MOD11A1 granule.
  auto r = test::run_cli("simulate -o " + q(tmp / "sim") + " --size 64 --days 20 --encoding kelvin");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = test::run_cli("ingest " + q(tmp / "sim") + " -o " + q(tmp / "k"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = test::run_cli("ingest " + q(tmp / "sim") + " -o " + q(tmp / "c") + " --units C --scale 2 --offset 5");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // Not applied, and said so (they were ignored without a word).
  EXPECT_NE(r.output.find("the inputs are products with their own encoding, so they are not applied"), std::string::npos)
      << r.output;
  // A simulation holds day LST only: --night is refused, not ignored.
  r = test::run_cli("ingest " + q(tmp / "sim") + " --night -o " + q(tmp / "n"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("is a simulation, which holds day LST only: drop --night"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "n"));
  const Catalog k = Catalog::load(tmp / "k"), c = Catalog::load(tmp / "c");
  ASSERT_EQ(k.observations().size(), c.observations().size());
  for (size_t i = 0; i < k.observations().size(); ++i) {
    EXPECT_TRUE(same_values(io::load_observation(k, k.observations()[i]), io::load_observation(c, c.observations()[i])));
  }
  const auto hdf = test::shared_data("mod11a1/MOD11A1.A2019305.h14v09.006.hdf");
  const std::string grid = " --qc any --crs EPSG:32724 --res 2000 --extent 322000 9305000 622000 9605000";
  ASSERT_EQ(test::run_cli("ingest " + q(hdf) + " -o " + q(tmp / "hk") + grid).exit_code, 0);
  r = test::run_cli("ingest " + q(hdf) + " -o " + q(tmp / "hc") + grid + " --units C");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Catalog hk = Catalog::load(tmp / "hk"), hc = Catalog::load(tmp / "hc");
  EXPECT_TRUE(same_values(io::load_observation(hk, hk.observations()[0]), io::load_observation(hc, hc.observations()[0])));
}

}  // namespace test_reliability_cli
