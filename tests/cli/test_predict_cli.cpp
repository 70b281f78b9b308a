#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "lstfuse/io/raster_io.hpp"
#include "test_support.hpp"

using namespace lstfuse;
namespace fs = std::filesystem;

namespace test_predict_cli {  // file-local names stay apart in merged builds (LSTFUSE_UNITY_BUILD)

namespace {

Grid grid(int w, int h, double x0 = 400000.0) {
  Grid g;
  g.width = w;
  g.height = h;
  g.transform = {x0, 30.0, 0.0, 6200000.0, 0.0, -30.0};
  g.crs = io::crs_to_wkt("EPSG:32755");
  return g;
}

// Uniform scene: pair 2020-01-01 (fine 300, coarse 298), target coarse 2020-01-11 = 310 K.
struct Files {
  test::TempDir dir;
  std::string l1, m1, m0;
  Files() {
    l1 = (dir / "L_20200101.tif").string();
    m1 = (dir / "M_20200101.tif").string();
    m0 = (dir / "M_20200111.tif").string();
    io::write_raster(l1, Raster(grid(30, 20), 1, 300.0f));
    io::write_raster(m1, Raster(grid(30, 20), 1, 298.0f));
    io::write_raster(m0, Raster(grid(30, 20), 1, 310.0f));
  }
  std::string args(const std::string& method) const {
    return "predict --method " + method + " --fine1 " + l1 + " --coarse1 " + m1 + " --coarse0 " + m0;
  }
};

}  // namespace

TEST(PredictCli, FilesModeWritesPredictionAndQuality) {
  Files f;
  for (const std::string m : {"additive", "starfm"}) {
    const std::string out = (f.dir / (m + ".tif")).string();
    const auto r = test::run_cli(f.args(m) + " -o " + out + " --window 5 --tile 8 --threads 2");
    if (m == "additive") {  // additive has no --window option
      EXPECT_EQ(r.exit_code, 1);
      EXPECT_NE(r.output.find("window"), std::string::npos) << r.output;
      EXPECT_FALSE(fs::exists(out));
      continue;
    }
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const Raster p = io::read_raster(out);
    EXPECT_EQ(p.at(10, 10), 312.0f);  // dates from the file names
    const Raster q = io::read_raster((f.dir / (m + "_quality.tif")).string());
    EXPECT_EQ(q.bands(), 3);
  }
  const std::string out = (f.dir / "add.tif").string();
  auto r = test::run_cli(f.args("additive") + " -o " + out + " --of COG --stream --tile 16");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(io::read_raster(out).at(5, 5), 312.0f);
  EXPECT_TRUE(fs::exists(f.dir / "add_quality.tif"));
}

TEST(PredictCli, BadInputIsAClearErrorWithoutOutput) {
  Files f;
  const std::string out = (f.dir / "out.tif").string();
  auto expect_error = [&](const std::string& args, const std::string& words, int code = 1) {
    const auto r = test::run_cli(args + " -o " + out);
    EXPECT_EQ(r.exit_code, code) << args;
    EXPECT_NE(r.output.find(words), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(out)) << args;
    EXPECT_FALSE(fs::exists(f.dir / "out_quality.tif")) << args;
  };
  expect_error(f.args("nosuch"), "unknown method 'nosuch'");
  expect_error(f.args("starfm") + " --no-such-option 3", "no-such-option", 2);  // a usage error
  expect_error(f.args("estarfm"), "estarfm needs 2 pair(s)");
  expect_error("predict --method additive --fine1 " + (f.dir / "missing.tif").string() +
                   " --coarse1 " + f.m1 + " --coarse0 " + f.m0 + " --date1 2020-01-01",
               "missing.tif");
  expect_error(f.args("additive") + " --date0 2020-13-45", "2020-13-45");
  // Another grid (shifted by 10 pixels): the error names the file and says to align.
  const std::string shifted = (f.dir / "M_shift_20200101.tif").string();
  io::write_raster(shifted, Raster(grid(30, 20, 400300.0), 1, 298.0f));
  expect_error("predict --method additive --fine1 " + f.l1 + " --coarse1 " + shifted +
                   " --coarse0 " + f.m0,
               "lstfuse ingest");
  // All-cloud target.
  const std::string cloudy = (f.dir / "M_20200115.tif").string();
  io::write_raster(cloudy, Raster(grid(30, 20), 1, 0.0f, false));
  expect_error("predict --method additive --fine1 " + f.l1 + " --coarse1 " + f.m1 + " --coarse0 " +
                   cloudy,
               "no valid pixel");
  expect_error("predict --method additive --fine1 " + f.l1 + " --coarse1 " + f.m1 + " --coarse0 " +
                   cloudy + " --stream",
               "no valid pixel");
  // Two-band file against single-band ones.
  const std::string two = (f.dir / "L2b_20200101.tif").string();
  io::write_raster(two, Raster(grid(30, 20), 2, 300.0f));
  expect_error("predict --method additive --fine1 " + two + " --coarse1 " + f.m1 + " --coarse0 " + f.m0,
               "band");
  // Degrees Celsius read as kelvin: refused by both paths (the streamed one fused it into some
  // 34 K, exit 0), naming the file's own pixel wherever the window lies.
  Raster celsius(grid(30, 20), 1, 300.0f);
  celsius.at(0, 17, 25) = 26.85f;
  const std::string c_file = (f.dir / "C_20200101.tif").string();
  io::write_raster(c_file, celsius);
  for (const std::string extra : {"", " --stream --tile 8"})
    expect_error("predict --method additive --fine1 " + c_file + " --coarse1 " + f.m1 + " --coarse0 " + f.m0 + extra,
                 "C_20200101.tif: LST 26.85 K at pixel (25, 17) is outside the plausible 150-380 K; it looks like degrees Celsius");
}

// A date that has its own fine image (a check against Landsat) is predicted without it: not as
// a pair, and not in the coarse-bias step, which used that image's own Landsat-MODIS difference
// (on Yanco, -4.52 K on 2016-03-08 against -0.10 K from the other pair: RMSE 2.13 instead of 4.97 K).
TEST(PredictCli, TheTargetsOwnFineImageNeverReachesThePrediction) {
  test::TempDir tmp;
  const std::string cat = (tmp / "cat").string();
  ASSERT_EQ(test::run_cli("ingest '" + test::shared_data("yanco").string() + "' -o " + cat).exit_code, 0);
  const std::string base = "predict --method additive --catalog " + cat + " --date 2016-03-08";
  // With one other pair the bias model is one constant, taken off the pair's and the target's
  // coarse images alike: additive's difference of the two is unchanged by it.
  const std::string on = (tmp / "on.tif").string(), off = (tmp / "off.tif").string();
  auto r = test::run_cli(base + " --coarse-bias on -o " + on);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("coarse bias -0.10 K"), std::string::npos) << r.output;
  ASSERT_EQ(test::run_cli(base + " --coarse-bias off -o " + off).exit_code, 0);
  const Raster a = io::read_raster(on), b = io::read_raster(off);
  ASSERT_EQ(a.mask_data(), b.mask_data());
  double worst = 0;
  for (size_t i = 0; i < a.band_size(); ++i)
    if (a.mask(0)[i]) worst = std::max(worst, std::abs(double(a.band(0)[i]) - b.band(0)[i]));
  EXPECT_LT(worst, 1e-3);
  // Nor as a pair, in either mode.
  const std::string p = (tmp / "p.tif").string();
  r = test::run_cli(base + " --pairs 2016-03-08 -o " + p);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("--pairs: a pair on the target date 2016-03-08"), std::string::npos) << r.output;
  Files f;
  r = test::run_cli(f.args("additive") + " --date0 2020-01-01 -o " + p);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("a pair on the target date 2020-01-01"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(p));
}

}  // namespace test_predict_cli

TEST(PredictCli, AStreamedPredictionFromACatalogTakesTheBiasStepAsInMemory) {
  // --stream left the coarse-bias step out without a word (STARFM here: up to 0.16 K apart).
  test::TempDir tmp;
  const std::string cat = (tmp / "cat").string();
  ASSERT_EQ(test::run_cli("ingest '" + test::shared_data("yanco").string() + "' -o " + cat).exit_code, 0);
  const std::string base = "predict --method starfm --catalog " + cat + " --date 2016-03-08 -o ";
  const std::string mem = (tmp / "mem.tif").string(), str = (tmp / "str.tif").string(), off = (tmp / "off.tif").string();
  ASSERT_EQ(test::run_cli(base + mem).exit_code, 0);
  const auto r = test::run_cli(base + str + " --stream --tile 64");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("coarse bias -0.10 K removed"), std::string::npos) << r.output;
  ASSERT_EQ(test::run_cli(base + off + " --coarse-bias off --stream --tile 64").exit_code, 0);
  for (const std::string suffix : {"", "_quality"}) {
    auto with = [&](const std::string& path) { return path.substr(0, path.size() - 4) + suffix + ".tif"; };
    const Raster a = io::read_raster(with(mem)), b = io::read_raster(with(str));
    ASSERT_EQ(a.mask_data(), b.mask_data()) << suffix;
    size_t differ = 0;  // the same values to the bit
    for (size_t i = 0; i < a.data().size(); ++i) differ += a.mask_data()[i] && a.data()[i] != b.data()[i];
    EXPECT_EQ(differ, 0u) << suffix;
  }
  const Raster a = io::read_raster(mem), c = io::read_raster(off);
  double apart = 0;
  for (size_t i = 0; i < a.band_size(); ++i)
    if (a.mask(0)[i] && c.mask(0)[i]) apart = std::max(apart, std::abs(double(a.band(0)[i]) - c.band(0)[i]));
  EXPECT_GT(apart, 0.05);  // the step matters here, so the first comparison can tell
}
