// `lstfuse metrics` and `lstfuse quicklook` end to end on small GeoTIFFs.
#include <cmath>
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "lstfuse/io/raster_io.hpp"
#include "test_support.hpp"

using lstfuse::Grid;
using lstfuse::Raster;

namespace {

Raster utm_field(int w, int h, float add) {
  Grid g;
  g.width = w;
  g.height = h;
  g.transform = {500000, 30, 0, 6100000, 0, -30};
  g.crs = lstfuse::io::crs_to_wkt("EPSG:32755");
  Raster r(g, 1);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) r.at(y, x) = 295.0f + 0.5f * static_cast<float>((x * 3 + y * 5) % 30) + add;
  return r;
}

}  // namespace

TEST(MetricsCli, JsonKeysAndValues) {
  lstfuse::test::TempDir tmp;
  const auto ref = (tmp / "ref.tif").string(), pred = (tmp / "pred.tif").string();
  lstfuse::io::write_raster(ref, utm_field(32, 24, 0.0f));
  lstfuse::io::write_raster(pred, utm_field(32, 24, -1.5f));
  const auto res = lstfuse::test::run_cli("metrics \"" + pred + "\" \"" + ref + "\" --json");
  ASSERT_EQ(res.exit_code, 0) << res.output;
  const auto j = nlohmann::json::parse(res.output);
  for (const char* k : {"bias", "mae", "rmse", "ubrmse", "cc", "r2", "ssim", "psnr", "sam",
                        "ergas", "error_distribution", "conventions", "bands", "valid_pixels"}) {
    EXPECT_TRUE(j.contains(k)) << k;
  }
  EXPECT_NEAR(j["rmse"].get<double>(), 1.5, 1e-9);
  EXPECT_NEAR(j["bias"].get<double>(), -1.5, 1e-9);
  EXPECT_NEAR(j["cc"].get<double>(), 1.0, 1e-9);
  EXPECT_EQ(j["valid_pixels"], 32 * 24);
  const auto& c = j["conventions"];
  EXPECT_EQ(c["sam_mode"], "image-vector");
  EXPECT_EQ(c["data_range_source"], "reference max-min");
  EXPECT_NEAR(c["data_range"].get<double>(), 14.5, 1e-9);
  EXPECT_NEAR(c["ergas_ratio"].get<double>(), 0.03, 1e-9);  // 30 m grid / default 1000 m
  EXPECT_EQ(c["ssim_window"], "gaussian 11x11 sigma 1.5");

  // Options reach the computation; the table is the default output.
  const auto fixed = lstfuse::test::run_cli("metrics \"" + pred + "\" \"" + ref +
                                            "\" --json --data-range 100 --coarse-res 300");
  ASSERT_EQ(fixed.exit_code, 0) << fixed.output;
  const auto jf = nlohmann::json::parse(fixed.output);
  EXPECT_EQ(jf["conventions"]["data_range"], 100.0);
  EXPECT_NEAR(jf["conventions"]["ergas_ratio"].get<double>(), 0.1, 1e-9);
  const auto table = lstfuse::test::run_cli("metrics \"" + pred + "\" \"" + ref + "\"");
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_NE(table.output.find("RMSE"), std::string::npos);
  EXPECT_NE(table.output.find("data range L"), std::string::npos);
}

TEST(MetricsCli, GridMismatchIsAnError) {
  lstfuse::test::TempDir tmp;
  const auto ref = (tmp / "ref.tif").string(), pred = (tmp / "pred.tif").string();
  lstfuse::io::write_raster(ref, utm_field(32, 24, 0.0f));
  lstfuse::io::write_raster(pred, utm_field(31, 24, 0.0f));
  const auto res = lstfuse::test::run_cli("metrics \"" + pred + "\" \"" + ref + "\" --json");
  EXPECT_EQ(res.exit_code, 1);
  EXPECT_NE(res.output.find("lstfuse: error:"), std::string::npos) << res.output;
  EXPECT_NE(res.output.find("grid"), std::string::npos) << res.output;
  EXPECT_NE(res.output.find(pred), std::string::npos) << res.output;
  EXPECT_EQ(res.output.find('{'), std::string::npos);  // no partial JSON
  const auto bad = lstfuse::test::run_cli("metrics \"" + ref + "\" \"" + ref + "\" --data-range 0");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("data range"), std::string::npos) << bad.output;
}

TEST(MetricsCli, AQualityLayerIsNamedAsSuchNotAsCelsius) {
  // A prediction's quality layer given by mistake: its small values were said to look like
  // degrees Celsius.
  lstfuse::test::TempDir tmp;
  const auto ref = (tmp / "ref.tif").string(), quality = (tmp / "p_quality.tif").string();
  lstfuse::io::write_raster(ref, utm_field(32, 24, 0.0f));
  Raster q = utm_field(32, 24, 0.0f);
  for (float& v : q.data()) v = 2.0f;
  lstfuse::io::WriteOptions wo;
  wo.metadata = {{"QUALITY_BANDS", "references_used"}};
  lstfuse::io::write_raster(quality, q, wo);
  for (const std::string& args : {"\"" + quality + "\" \"" + ref + "\"", "\"" + ref + "\" \"" + quality + "\""}) {
    const auto res = lstfuse::test::run_cli("metrics " + args);
    EXPECT_EQ(res.exit_code, 1) << res.output;
    EXPECT_NE(res.output.find(quality + ": is a quality layer written by lstfuse (references_used), not LST"),
              std::string::npos) << res.output;
  }
}

TEST(MetricsCli, HelpStatesConventions) {
  const auto res = lstfuse::test::run_cli("metrics --help");
  EXPECT_EQ(res.exit_code, 0);
  for (const char* s : {"sigma 1.5", "K1 0.01", "data range", "ERGAS", "SAM", "ubRMSE"}) {
    EXPECT_NE(res.output.find(s), std::string::npos) << s;
  }
}

TEST(QuicklookCli, WritesPngAndDiff) {
  lstfuse::test::TempDir tmp;
  const auto a = (tmp / "a.tif").string(), b = (tmp / "b.tif").string();
  lstfuse::io::write_raster(a, utm_field(32, 24, 0.0f));
  lstfuse::io::write_raster(b, utm_field(32, 24, 1.0f));
  const auto png = (tmp / "a.png").string(), dpng = (tmp / "d.png").string();
  auto res = lstfuse::test::run_cli("quicklook \"" + a + "\" -o \"" + png + "\" --range 290 320 --title T");
  ASSERT_EQ(res.exit_code, 0) << res.output;
  EXPECT_TRUE(std::filesystem::file_size(png) > 1000);
  EXPECT_NE(res.output.find("290.000 .. 320.000"), std::string::npos) << res.output;
  res = lstfuse::test::run_cli("quicklook \"" + a + "\" --diff \"" + b + "\" -o \"" + dpng + "\"");
  ASSERT_EQ(res.exit_code, 0) << res.output;
  EXPECT_NE(res.output.find("-1.000 .. 1.000"), std::string::npos) << res.output;
  lstfuse::io::write_raster(b, utm_field(30, 24, 1.0f));
  res = lstfuse::test::run_cli("quicklook \"" + a + "\" --diff \"" + b + "\" -o \"" + dpng + "\"");
  EXPECT_EQ(res.exit_code, 1);
  EXPECT_NE(res.output.find("grid"), std::string::npos) << res.output;
}

// Only the band shown is read and checked: a two-band file whose first band is in Celsius draws
// its second band, and the first is refused by name. A quality band's range is in kelvin only
// for the uncertainty; counts and flags have no unit.
TEST(QuicklookCli, ReadsAndLabelsOnlyTheBandShown) {
  lstfuse::test::TempDir tmp;
  Raster two(utm_field(32, 24, 0.0f).grid(), 2);
  const Raster k = utm_field(32, 24, 0.0f);
  for (int y = 0; y < 24; ++y)
    for (int x = 0; x < 32; ++x) {
      two.at(0, y, x) = k.at(y, x) - 273.15f;
      two.at(1, y, x) = k.at(y, x);
    }
  const auto lst = (tmp / "two.tif").string(), png = (tmp / "b.png").string();
  lstfuse::io::write_raster(lst, two);
  auto res = lstfuse::test::run_cli("quicklook \"" + lst + "\" --band 2 -o \"" + png + "\"");
  ASSERT_EQ(res.exit_code, 0) << res.output;
  EXPECT_NE(res.output.find(" K (robust"), std::string::npos) << res.output;
  res = lstfuse::test::run_cli("quicklook \"" + lst + "\" --band 1 -o \"" + png + "\"");
  EXPECT_EQ(res.exit_code, 1);
  EXPECT_NE(res.output.find("degrees Celsius"), std::string::npos) << res.output;

  Raster q(k.grid(), 2);
  q.band_names = {"n_similar", "uncertainty"};
  for (int y = 0; y < 24; ++y)
    for (int x = 0; x < 32; ++x) {
      q.at(0, y, x) = static_cast<float>(x % 7);
      q.at(1, y, x) = 1.0f + 0.1f * static_cast<float>(y);
    }
  lstfuse::io::WriteOptions wo;
  wo.metadata = {{"LSTFUSE_QUALITY_BANDS", "n_similar,uncertainty"}};
  const auto qf = (tmp / "q.tif").string();
  lstfuse::io::write_raster(qf, q, wo);
  res = lstfuse::test::run_cli("quicklook \"" + qf + "\" --band 1 -o \"" + png + "\"");
  ASSERT_EQ(res.exit_code, 0) << res.output;
  EXPECT_NE(res.output.find("0.000 .. 6.000 (robust"), std::string::npos) << res.output;
  res = lstfuse::test::run_cli("quicklook \"" + qf + "\" --band 2 -o \"" + png + "\"");
  ASSERT_EQ(res.exit_code, 0) << res.output;
  EXPECT_NE(res.output.find(" K (robust"), std::string::npos) << res.output;
  // A difference has the unit of its bands: none for counts, K for the uncertainty.
  for (int y = 0; y < 24; ++y)
    for (int x = 0; x < 32; ++x) q.at(0, y, x) += 1.0f;
  const auto qf2 = (tmp / "q2.tif").string();
  lstfuse::io::write_raster(qf2, q, wo);
  res = lstfuse::test::run_cli("quicklook \"" + qf + "\" --band 1 --diff \"" + qf2 + "\" -o \"" + png + "\"");
  ASSERT_EQ(res.exit_code, 0) << res.output;
  EXPECT_NE(res.output.find("1.000 ("), std::string::npos) << res.output;
  EXPECT_EQ(res.output.find(" K ("), std::string::npos) << res.output;
  res = lstfuse::test::run_cli("quicklook \"" + qf + "\" --band 2 --diff \"" + qf2 + "\" -o \"" + png + "\"");
  ASSERT_EQ(res.exit_code, 0) << res.output;
  EXPECT_NE(res.output.find(" K ("), std::string::npos) << res.output;
  // One band: the count is said as such.
  const auto one = (tmp / "one.tif").string();
  lstfuse::io::write_raster(one, k);
  res = lstfuse::test::run_cli("quicklook \"" + one + "\" --band 2 -o \"" + png + "\"");
  EXPECT_EQ(res.exit_code, 1);
  EXPECT_NE(res.output.find("has 1 band; --band 2 asked"), std::string::npos) << res.output;
}

// `info` reads a band in strips of about 2^24 pixels: a band of two strips (1024 rows of 16384
// px, then one more row) gives the statistics counted by hand. Values: 300 K on even rows,
// 302 K on odd rows, the last row invalid.
TEST(InfoCli, StatisticsOfABandReadInStrips) {
  lstfuse::test::TempDir tmp;
  Grid g;
  g.width = 16384;
  g.height = 1025;
  g.transform = {500000, 30, 0, 6100000, 0, -30};
  g.crs = lstfuse::io::crs_to_wkt("EPSG:32755");
  Raster r(g, 1);
  for (int y = 0; y < g.height; ++y)
    for (int x = 0; x < g.width; ++x) r.at(y, x) = y % 2 ? 302.0f : 300.0f;
  for (int x = 0; x < g.width; ++x) r.set_valid(0, 1024, x, false);
  const auto f = (tmp / "wide.tif").string();
  lstfuse::io::write_raster(f, r);
  const auto res = lstfuse::test::run_cli("info --json \"" + f + "\"");
  ASSERT_EQ(res.exit_code, 0) << res.output;
  const auto b = nlohmann::json::parse(res.output)["bands"][0];
  const double n = 1024.0 * 16384.0;
  EXPECT_EQ(b["count"].get<long long>(), 1024LL * 16384LL);
  EXPECT_DOUBLE_EQ(b["valid_fraction"].get<double>(), 1024.0 / 1025.0);
  EXPECT_DOUBLE_EQ(b["min"].get<double>(), 300.0);
  EXPECT_DOUBLE_EQ(b["max"].get<double>(), 302.0);
  EXPECT_DOUBLE_EQ(b["mean"].get<double>(), 301.0);
  EXPECT_NEAR(b["stddev"].get<double>(), std::sqrt(n / (n - 1.0)), 1e-12);  // deviations of +-1 K
}
