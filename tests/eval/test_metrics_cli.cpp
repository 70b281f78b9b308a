// `lstfuse metrics` and `lstfuse quicklook` end to end on small GeoTIFFs.
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
