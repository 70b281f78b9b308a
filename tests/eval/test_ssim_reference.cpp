// SSIM of the library (separable, strip-wise) against a deliberately different, direct
// implementation of Wang et al. 2004: for every window centre, plain double loops over the
// 11 x 11 two-dimensional Gaussian weights, with centred (two-pass) window moments.
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "lstfuse/eval/metrics.hpp"
#include "lstfuse/io/raster_io.hpp"
#include "test_support.hpp"

using lstfuse::Raster;
namespace ev = lstfuse::eval;

namespace {

// Direct SSIM: mean over centres whose 11 x 11 window is inside and valid in pred, ref and
// the optional mask (valid and non-zero).
double direct_ssim(const Raster& pred, const Raster& ref, const Raster* mask, double L,
                   long long* windows) {
  double w2[11][11];
  double wsum = 0.0;
  for (int a = 0; a < 11; ++a)
    for (int b = 0; b < 11; ++b) {
      w2[a][b] = std::exp(-((a - 5.0) * (a - 5.0) + (b - 5.0) * (b - 5.0)) / (2.0 * 1.5 * 1.5));
      wsum += w2[a][b];
    }
  for (auto& row : w2)
    for (double& w : row) w /= wsum;
  const double C1 = (0.01 * L) * (0.01 * L), C2 = (0.03 * L) * (0.03 * L);
  auto ok = [&](int y, int x) {
    if (!pred.valid(y, x) || !ref.valid(y, x)) return false;
    return !mask || (mask->valid(y, x) && mask->at(y, x) != 0.0f);
  };
  double total = 0.0;
  long long n = 0;
  for (int cy = 5; cy < ref.height() - 5; ++cy) {
    for (int cx = 5; cx < ref.width() - 5; ++cx) {
      bool all = true;
      for (int a = 0; a < 11 && all; ++a)
        for (int b = 0; b < 11 && all; ++b) all = ok(cy - 5 + a, cx - 5 + b);
      if (!all) continue;
      double mx = 0, my = 0;
      for (int a = 0; a < 11; ++a)
        for (int b = 0; b < 11; ++b) {
          mx += w2[a][b] * ref.at(cy - 5 + a, cx - 5 + b);
          my += w2[a][b] * pred.at(cy - 5 + a, cx - 5 + b);
        }
      double vx = 0, vy = 0, cxy = 0;
      for (int a = 0; a < 11; ++a)
        for (int b = 0; b < 11; ++b) {
          const double dx = ref.at(cy - 5 + a, cx - 5 + b) - mx;
          const double dy = pred.at(cy - 5 + a, cx - 5 + b) - my;
          vx += w2[a][b] * dx * dx;
          vy += w2[a][b] * dy * dy;
          cxy += w2[a][b] * dx * dy;
        }
      total += ((2 * mx * my + C1) * (2 * cxy + C2)) / ((mx * mx + my * my + C1) * (vx + vy + C2));
      ++n;
    }
  }
  *windows = n;
  return total / static_cast<double>(n);
}

Raster read(const std::string& name) {
  return lstfuse::io::read_raster(lstfuse::test::shared_data("yanco/" + name).string());
}

}  // namespace

TEST(SsimReference, LandsatDatesMatchDirectImplementation) {
  const auto a = read("Landsat_LST_cloudrm_20160205.tif");
  const auto b = read("Landsat_LST_cloudrm_20160308.tif");
  const auto r = ev::compute_metrics(b, a);
  long long n = 0;
  const double expect = direct_ssim(b, a, nullptr, r.data_range, &n);
  EXPECT_EQ(r.overall.ssim_windows, n);
  EXPECT_GT(n, 100000);
  EXPECT_NEAR(r.overall.ssim, expect, 1e-4);
  EXPECT_NEAR(r.overall.ssim, expect, 1e-9);  // both in double: they agree far closer
  EXPECT_GT(r.overall.ssim, 0.1);
  EXPECT_LT(r.overall.ssim, 0.99);
}

TEST(SsimReference, ModisVsLandsatWithMaskAndFixedRange) {
  const auto ref = read("Landsat_LST_cloudrm_20160308.tif");
  const auto pred = read("MOD11A1_LST_cloudrm_20160308.tif");
  // A mask with a hole and a zero-valued stripe: windows touching them must be left out.
  Raster mask(ref.grid(), 1, 1.0f);
  for (int y = 150; y < 190; ++y)
    for (int x = 100; x < 160; ++x) mask.set_valid(0, y, x, false);
  for (int y = 0; y < ref.height(); ++y) mask.at(y, 300) = 0.0f;
  ev::MetricsOptions o;
  o.mask = &mask;
  o.data_range = 100.0;
  const auto r = ev::compute_metrics(pred, ref, o);
  long long n = 0;
  const double expect = direct_ssim(pred, ref, &mask, 100.0, &n);
  EXPECT_EQ(r.overall.ssim_windows, n);
  EXPECT_NEAR(r.overall.ssim, expect, 1e-4);
  EXPECT_NEAR(r.overall.ssim, expect, 1e-9);
}
