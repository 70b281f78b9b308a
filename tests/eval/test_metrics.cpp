// Metrics against hand-computed values on small images (docs/metrics.md definitions).
#include <cmath>
#include <vector>

#include <gtest/gtest.h>
#include <omp.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/eval/metrics.hpp"
#include "lstfuse/io/raster_io.hpp"

using lstfuse::Grid;
using lstfuse::Raster;
namespace ev = lstfuse::eval;

namespace {

Grid grid(int w, int h) {
  Grid g;
  g.width = w;
  g.height = h;
  return g;  // no CRS: pixel size 1 m
}

Raster raster(int w, int h, const std::vector<float>& v) {
  Raster r(grid(w, h), 1);
  for (int i = 0; i < w * h; ++i) r.data()[i] = v[i];
  return r;
}

// Smooth, non-trivial field of quarter-kelvin values (exact in float, so offsets are exact).
Raster field(int w, int h, float add = 0.0f) {
  Raster r(grid(w, h), 1);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) r.at(y, x) = 290.0f + 0.25f * static_cast<float>((y * 7 + x * 13) % 80) + add;
  return r;
}

constexpr double kDeg = 180.0 / M_PI;

}  // namespace

// x = 300 302 304 306, y = 301 301 305 308: e = 1 -1 1 2.
TEST(Metrics, HandComputedSmallImage) {
  const auto ref = raster(2, 2, {300, 302, 304, 306});
  const auto pred = raster(2, 2, {301, 301, 305, 308});
  ev::MetricsOptions o;
  o.ergas_ratio = 0.03;
  const auto r = ev::compute_metrics(pred, ref, o);
  const auto& m = r.overall;
  EXPECT_EQ(m.valid_pixels, 4);
  EXPECT_NEAR(m.bias, 0.75, 1e-12);
  EXPECT_NEAR(m.mae, 1.25, 1e-12);
  EXPECT_NEAR(m.rmse, std::sqrt(7.0 / 4.0), 1e-12);
  EXPECT_NEAR(m.ubrmse, std::sqrt(7.0 / 4.0 - 0.75 * 0.75), 1e-12);
  // mean x 303, dx = -3 -1 1 3; mean y 303.75, dy = -2.75 -2.75 1.25 4.25.
  EXPECT_NEAR(m.cc, 25.0 / std::sqrt(20.0 * 34.75), 1e-12);
  EXPECT_NEAR(m.r2, 1.0 - 7.0 / 20.0, 1e-12);
  EXPECT_DOUBLE_EQ(r.data_range, 6.0);
  EXPECT_EQ(r.data_range_source, "reference max-min");
  EXPECT_NEAR(m.psnr, 20.0 * std::log10(6.0 / std::sqrt(1.75)), 1e-10);
  // SAM of one band: angle between the images as 4-vectors.
  const double xy = 300.0 * 301 + 302.0 * 301 + 304.0 * 305 + 306.0 * 308;
  const double xx = 300.0 * 300 + 302.0 * 302 + 304.0 * 304 + 306.0 * 306;
  const double yy = 301.0 * 301 + 301.0 * 301 + 305.0 * 305 + 308.0 * 308;
  const long double cosang = xy / std::sqrt(static_cast<long double>(xx) * yy);
  EXPECT_NEAR(m.sam, std::acos(cosang) * kDeg, 1e-7);
  EXPECT_EQ(r.sam_mode, "image-vector");
  EXPECT_NEAR(m.ergas, 100.0 * 0.03 * std::sqrt(1.75) / 303.0, 1e-12);
  EXPECT_EQ(r.ergas_ratio_source, "given");
  // |e| = 1, 1, 1, 2: none below 0.5 or 1 (strict), 3 below 2, all below 3.
  ASSERT_EQ(m.errors.share_below.size(), 4u);
  EXPECT_DOUBLE_EQ(m.errors.share_below[0], 0.0);
  EXPECT_DOUBLE_EQ(m.errors.share_below[1], 0.0);
  EXPECT_DOUBLE_EQ(m.errors.share_below[2], 0.75);
  EXPECT_DOUBLE_EQ(m.errors.share_below[3], 1.0);
  ASSERT_EQ(m.errors.counts.size(), 40u);
  EXPECT_EQ(m.errors.counts[4], 3);  // [1.00, 1.25)
  EXPECT_EQ(m.errors.counts[8], 1);  // [2.00, 2.25)
  long long total = m.errors.overflow;
  for (auto c : m.errors.counts) total += c;
  EXPECT_EQ(total, 4);
  // A 2 x 2 image has no full 11 x 11 window.
  EXPECT_TRUE(std::isnan(m.ssim));
  EXPECT_EQ(m.ssim_windows, 0);
}

// Same four pixels plus pixels that must not count: invalid in the prediction (wild value),
// invalid in the reference, outside the mask (0) and invalid in the mask.
TEST(Metrics, MaskedPixelsAreLeftOut) {
  auto ref = raster(4, 2, {300, 302, 250, 1e30f, 304, 306, 200, 100});
  auto pred = raster(4, 2, {301, 301, 900, 300, 305, 308, -3.4e38f, 400});
  pred.set_valid(0, 0, 3, true);
  ref.set_valid(0, 0, 3, false);  // (0,3): reference invalid
  pred.set_valid(0, 1, 2, false);  // (1,2): prediction invalid
  Raster mask(grid(4, 2), 1, 1.0f);
  mask.at(0, 2) = 0.0f;             // (0,2): masked out by value
  mask.set_valid(0, 1, 3, false);   // (1,3): mask itself has no data
  ev::MetricsOptions o;
  o.mask = &mask;
  o.ergas_ratio = 0.03;
  const auto r = ev::compute_metrics(pred, ref, o);
  EXPECT_EQ(r.overall.valid_pixels, 4);
  EXPECT_NEAR(r.overall.bias, 0.75, 1e-12);
  EXPECT_NEAR(r.overall.rmse, std::sqrt(1.75), 1e-12);
  EXPECT_NEAR(r.overall.cc, 25.0 / std::sqrt(20.0 * 34.75), 1e-12);
  EXPECT_DOUBLE_EQ(r.data_range, 6.0);  // range of the counted reference pixels only
}

TEST(Metrics, ConstantOffset) {
  const auto ref = field(40, 30);
  const auto pred = field(40, 30, 2.5f);
  const auto r = ev::compute_metrics(pred, ref);
  const auto& m = r.overall;
  EXPECT_NEAR(m.rmse, 2.5, 1e-12);
  EXPECT_NEAR(m.bias, 2.5, 1e-12);
  EXPECT_NEAR(m.mae, 2.5, 1e-12);
  EXPECT_NEAR(m.ubrmse, 0.0, 1e-12);
  EXPECT_NEAR(m.cc, 1.0, 1e-12);
  EXPECT_DOUBLE_EQ(m.errors.share_below[3], 1.0);  // 2.5 < 3
  EXPECT_DOUBLE_EQ(m.errors.share_below[2], 0.0);
  EXPECT_EQ(m.errors.counts[10], 40 * 30);        // [2.5, 2.75)
  // R2 = 1 - N 2.5^2 / sum (x - mean)^2, computed here independently.
  double mean = 0;
  for (float v : ref.data()) mean += v;
  mean /= ref.data().size();
  double ss = 0;
  for (float v : ref.data()) ss += (v - mean) * (v - mean);
  EXPECT_NEAR(m.r2, 1.0 - 40 * 30 * 6.25 / ss, 1e-10);
}

TEST(Metrics, IdenticalImages) {
  const auto ref = field(30, 25);
  const auto r = ev::compute_metrics(ref, ref);
  const auto& m = r.overall;
  EXPECT_EQ(m.rmse, 0.0);
  EXPECT_EQ(m.bias, 0.0);
  EXPECT_EQ(m.mae, 0.0);
  EXPECT_EQ(m.sam, 0.0);
  EXPECT_NEAR(m.cc, 1.0, 1e-12);
  EXPECT_NEAR(m.r2, 1.0, 1e-12);
  EXPECT_NEAR(m.ssim, 1.0, 1e-12);
  EXPECT_EQ(m.ssim_windows, (30 - 10) * (25 - 10));
  EXPECT_TRUE(std::isinf(m.psnr));
  EXPECT_TRUE(std::isnan(m.ergas));  // a grid without CRS: its pixel size has no unit
  EXPECT_TRUE(r.to_json()["psnr"].is_null());  // infinity has no JSON form
}

// One 11 x 11 window: constant images 300 and 302 with L = 100 fixed, so the contrast and
// structure term is C2 / C2 and SSIM = (2 mx my + C1) / (mx^2 + my^2 + C1), C1 = (0.01 L)^2.
TEST(Metrics, SsimSingleWindowByHand) {
  Raster ref(grid(12, 11), 1, 300.0f);
  Raster pred(grid(12, 11), 1, 302.0f);
  ev::MetricsOptions o;
  o.data_range = 100.0;
  auto r = ev::compute_metrics(pred, ref, o);
  EXPECT_EQ(r.overall.ssim_windows, 2);  // centres at columns 5 and 6
  EXPECT_NEAR(r.overall.ssim, (2.0 * 300 * 302 + 1.0) / (300.0 * 300 + 302.0 * 302 + 1.0), 1e-12);
  EXPECT_EQ(r.data_range_source, "fixed");
  EXPECT_NEAR(r.overall.psnr, 20.0 * std::log10(100.0 / 2.0), 1e-12);
  // An invalid pixel in column 0 removes the window centred on column 5 only.
  pred.set_valid(0, 4, 0, false);
  r = ev::compute_metrics(pred, ref, o);
  EXPECT_EQ(r.overall.ssim_windows, 1);
  EXPECT_EQ(r.overall.valid_pixels, 12 * 11 - 1);
}

// Two bands, three pixels; band 2 has an invalid reference pixel.
TEST(Metrics, MultiBandSamAndErgas) {
  Raster ref(grid(3, 1), 2), pred(grid(3, 1), 2);
  const float x1[] = {300, 300, 290}, y1[] = {310, 300, 290};
  const float x2[] = {310, 300, 999}, y2[] = {300, 300, 290};
  for (int i = 0; i < 3; ++i) {
    ref.at(0, 0, i) = x1[i];
    pred.at(0, 0, i) = y1[i];
    ref.at(1, 0, i) = x2[i];
    pred.at(1, 0, i) = y2[i];
  }
  ref.set_valid(1, 0, 2, false);
  ev::MetricsOptions o;
  o.ergas_ratio = 0.03;
  const auto r = ev::compute_metrics(pred, ref, o);
  ASSERT_EQ(r.bands.size(), 2u);
  EXPECT_EQ(r.bands[0].valid_pixels, 3);
  EXPECT_EQ(r.bands[1].valid_pixels, 2);
  const double rmse1 = std::sqrt(100.0 / 3.0), mean1 = 890.0 / 3.0;
  const double rmse2 = std::sqrt(50.0), mean2 = 305.0;
  EXPECT_NEAR(r.bands[0].rmse, rmse1, 1e-12);
  EXPECT_NEAR(r.bands[1].rmse, rmse2, 1e-12);
  const double e1 = rmse1 / mean1, e2 = rmse2 / mean2;
  EXPECT_NEAR(r.overall.ergas, 100.0 * 0.03 * std::sqrt((e1 * e1 + e2 * e2) / 2.0), 1e-12);
  EXPECT_NEAR(r.bands[0].ergas, 100.0 * 0.03 * e1, 1e-12);
  // SAM: mean per-pixel angle over pixels valid in both bands (pixels 0 and 1).
  EXPECT_EQ(r.sam_mode, "per-pixel mean");
  EXPECT_EQ(r.sam_pixels, 2);
  const double a0 = std::acos((300.0 * 310 + 310.0 * 300) / (300.0 * 300 + 310.0 * 310)) * kDeg;
  EXPECT_NEAR(r.overall.sam, (a0 + 0.0) / 2.0, 1e-9);
  // Pooled over bands: errors 10 0 0 -10 0.
  EXPECT_EQ(r.overall.valid_pixels, 5);
  EXPECT_NEAR(r.overall.bias, 0.0, 1e-12);
  EXPECT_NEAR(r.overall.rmse, std::sqrt(40.0), 1e-12);
  EXPECT_NEAR(r.overall.ubrmse, std::sqrt(40.0), 1e-12);
  EXPECT_NEAR(r.overall.mae, 4.0, 1e-12);
  const double xs[] = {300, 300, 290, 310, 300}, ys[] = {310, 300, 290, 300, 300};
  double mx = 0, my = 0;
  for (int i = 0; i < 5; ++i) {
    mx += xs[i] / 5;
    my += ys[i] / 5;
  }
  double sxy = 0, sxx = 0, syy = 0;
  for (int i = 0; i < 5; ++i) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) * (xs[i] - mx);
    syy += (ys[i] - my) * (ys[i] - my);
  }
  EXPECT_NEAR(r.overall.cc, sxy / std::sqrt(sxx * syy), 1e-12);
  EXPECT_NEAR(r.overall.r2, 1.0 - 200.0 / sxx, 1e-12);
  EXPECT_DOUBLE_EQ(r.data_range, 310.0 - 290.0);
}

TEST(Metrics, GridMismatchIsAnError) {
  const auto ref = field(20, 20);
  EXPECT_THROW(ev::compute_metrics(field(21, 20), ref), lstfuse::Error);
  auto shifted = field(20, 20);
  shifted.grid().transform[0] = 5.0;  // same size, moved by 5 pixels
  EXPECT_THROW(ev::compute_metrics(shifted, ref), lstfuse::Error);
  Raster two(grid(20, 20), 2);
  EXPECT_THROW(ev::compute_metrics(two, ref), lstfuse::Error);
  Raster small_mask(grid(10, 10), 1, 1.0f);
  ev::MetricsOptions o;
  o.mask = &small_mask;
  EXPECT_THROW(ev::compute_metrics(ref, ref, o), lstfuse::Error);
  o = {};
  o.data_range = -1.0;
  EXPECT_THROW(ev::compute_metrics(ref, ref, o), lstfuse::Error);
  Raster none(grid(20, 20), 1, 300.0f, false);
  EXPECT_THROW(ev::compute_metrics(none, ref), lstfuse::Error);
}

TEST(Metrics, ErgasRatioFromGrids) {
  Grid fine = grid(10, 10), coarse = grid(10, 10);
  fine.crs = lstfuse::io::crs_to_wkt("EPSG:32755");
  coarse.crs = fine.crs;
  fine.transform = {500000, 30, 0, 6000000, 0, -30};
  coarse.transform = {500000, 1000, 0, 6000000, 0, -1000};
  EXPECT_NEAR(ev::pixel_size_m(fine), 30.0, 1e-9);
  EXPECT_NEAR(ev::ergas_ratio_from_grids(fine, coarse), 0.03, 1e-12);
  // Geographic 0.001 deg centred at 35 S: sqrt(dx dy) on a sphere of radius 6371008.8 m.
  Grid geo = grid(400, 400);
  geo.crs = lstfuse::io::crs_to_wkt("EPSG:4326");
  geo.transform = {146.0, 0.001, 0, -34.8, 0, -0.001};
  const double mdeg = 6371008.8 * M_PI / 180.0;
  const double expect = std::sqrt(0.001 * mdeg * std::cos(35.0 * M_PI / 180.0) * 0.001 * mdeg);
  EXPECT_NEAR(ev::pixel_size_m(geo), expect, 1e-6);
  // Default ERGAS ratio: fine pixel from the grid over 1000 m.
  Raster a(fine, 1, 300.0f), b(fine, 1, 301.0f);
  const auto r = ev::compute_metrics(b, a);
  EXPECT_NEAR(r.ergas_ratio, 0.03, 1e-12);
  EXPECT_NEAR(r.overall.ergas, 100.0 * 0.03 * 1.0 / 300.0, 1e-12);
  // Without a CRS the 30-unit pixels are not known to be metres: no ERGAS unless given.
  Grid bare = fine;
  bare.crs.clear();
  Raster c(bare, 1, 300.0f), d(bare, 1, 301.0f);
  const auto nr = ev::compute_metrics(d, c);
  EXPECT_TRUE(std::isnan(nr.overall.ergas));
  EXPECT_NE(nr.ergas_ratio_source.find("no CRS"), std::string::npos) << nr.ergas_ratio_source;
  EXPECT_NEAR(nr.overall.rmse, 1.0, 1e-6);
  ev::MetricsOptions given;
  given.ergas_ratio = 0.03;
  EXPECT_NEAR(ev::compute_metrics(d, c, given).overall.ergas, 100.0 * 0.03 * 1.0 / 300.0, 1e-12);
}

TEST(Metrics, JsonKeys) {
  const auto r = ev::compute_metrics(field(20, 20, 1.0f), field(20, 20));
  const auto j = r.to_json();
  for (const char* k : {"bias", "mae", "rmse", "ubrmse", "cc", "r2", "ssim", "psnr", "sam",
                        "ergas", "error_distribution", "valid_pixels", "conventions", "bands"}) {
    EXPECT_TRUE(j.contains(k)) << k;
  }
  const auto& c = j["conventions"];
  for (const char* k : {"ssim_window", "data_range", "sam_mode", "ergas_ratio", "valid_pixels"}) {
    EXPECT_TRUE(c.contains(k)) << k;
  }
  EXPECT_EQ(c["ssim_window"], "gaussian 11x11 sigma 1.5");
  EXPECT_EQ(c["valid_pixels"], 400);
  EXPECT_DOUBLE_EQ(j["rmse"].get<double>(), 1.0);
  EXPECT_EQ(j["error_distribution"]["share_below"].size(), 4u);
  EXPECT_FALSE(ev::format_metrics_table(r).empty());
}

// Partial sums are added in a fixed order: the same bits whatever the thread count.
TEST(Metrics, DeterministicAcrossThreadCounts) {
  Raster ref(grid(300, 260), 2), pred(grid(300, 260), 2);
  for (int b = 0; b < 2; ++b)
    for (int y = 0; y < 260; ++y)
      for (int x = 0; x < 300; ++x) {
        ref.at(b, y, x) = 300.0f + 5.0f * std::sin(0.05f * x + b) + 0.01f * ((x * 31 + y * 17) % 97);
        pred.at(b, y, x) = ref.at(b, y, x) + 0.3f * std::cos(0.07f * y) + 0.02f * ((x * 7 + y * 3) % 11);
        if ((x * 13 + y * 7 + b) % 53 == 0) pred.set_valid(b, y, x, false);
      }
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const auto one = ev::compute_metrics(pred, ref).to_json().dump();
  omp_set_num_threads(3);
  const auto three = ev::compute_metrics(pred, ref).to_json().dump();
  omp_set_num_threads(saved);
  EXPECT_EQ(one, three);
}

TEST(Metrics, ValueByNameMatchesTheFields) {
  lstfuse::eval::BandMetrics m;
  m.bias = 1; m.mae = 2; m.rmse = 3; m.ubrmse = 4; m.cc = 5;
  m.r2 = 6; m.ssim = 7; m.psnr = 8; m.sam = 9; m.ergas = 10;
  const char* names[] = {"bias", "mae", "rmse", "ubrmse", "cc", "r2", "ssim", "psnr", "sam", "ergas"};
  for (int i = 0; i < 10; ++i) EXPECT_EQ(lstfuse::eval::metric_value(m, names[i]), i + 1) << names[i];
  EXPECT_TRUE(std::isnan(lstfuse::eval::metric_value(m, "nse")));
}
