#include <gtest/gtest.h>

#include <cmath>

#include "lstfuse/core/error.hpp"
#include "lstfuse/io/raster_io.hpp"
#include "lstfuse/prep/align.hpp"

using namespace lstfuse;

namespace {

Grid grid(int w, int h, double res, double x0 = 500000.0, double y0 = 6000000.0, const char* crs = "EPSG:32755") {
  Grid g;
  g.width = w;
  g.height = h;
  g.transform = {x0, res, 0.0, y0, 0.0, -res};
  g.crs = io::crs_to_wkt(crs);
  return g;
}

// A field linear in map coordinates: bilinear interpolation reproduces it exactly.
float plane(const Grid& g, int x, int y) {
  const double mx = g.transform[0] + (x + 0.5) * g.transform[1];
  const double my = g.transform[3] + (y + 0.5) * g.transform[5];
  return static_cast<float>(300.0 + 0.01 * (mx - 500000.0) - 0.02 * (6000000.0 - my));
}

}  // namespace

TEST(Align, MakeGridCoversTheExtent) {
  const Grid g = prep::make_grid("EPSG:32724", 30.0, {395000, 9580000, 413000, 9598000});
  EXPECT_EQ(g.width, 600);
  EXPECT_EQ(g.height, 600);
  EXPECT_DOUBLE_EQ(g.transform[0], 395000);
  EXPECT_DOUBLE_EQ(g.transform[3], 9598000);
  EXPECT_EQ(prep::make_grid("EPSG:32724", 30.0, {0, 0, 31, 29}).width, 2);  // partial pixel kept
  EXPECT_THROW(prep::make_grid("EPSG:32724", 0.0, {0, 0, 1, 1}), Error);
  EXPECT_THROW(prep::resampling_from_string("lanczos"), Error);
}

TEST(Align, SameGridIsAnExactCopyWithMask) {
  Raster src(grid(50, 40, 30.0), 1);
  for (int y = 0; y < 40; ++y)
    for (int x = 0; x < 50; ++x) src.at(y, x) = 280.0f + 0.37f * x + 0.11f * y;
  src.set_valid(0, 3, 4, false);
  for (auto r : {prep::Resampling::Bilinear, prep::Resampling::Bicubic}) {
    prep::AlignOptions o;
    o.resampling = r;
    const Raster out = prep::align(prep::raster_source(src, "src.tif"), src.grid(), o);
    EXPECT_EQ(out.data().size(), src.data().size());
    for (size_t i = 0; i < src.band_size(); ++i) {
      ASSERT_EQ(out.mask(0)[i], src.mask(0)[i]);
      if (src.mask(0)[i]) {
        ASSERT_EQ(out.band(0)[i], src.band(0)[i]);
      }
    }
  }
  // A sub-window of the same lattice is a plain read too.
  const Raster sub = prep::align(prep::raster_source(src, "src.tif"), src.grid().window(10, 5, 7, 6));
  EXPECT_EQ(sub.at(0, 0), src.at(5, 10));
}

TEST(Align, BilinearReproducesAPlaneAndNeverLetsMaskedPixelsLeak) {
  // Source 6 x 6 at 60 m, target 12 x 12 at 30 m on the same extent.
  const Grid sg = grid(6, 6, 60.0);
  Raster src(sg, 1);
  for (int y = 0; y < 6; ++y)
    for (int x = 0; x < 6; ++x) src.at(y, x) = plane(sg, x, y);
  src.set_valid(0, 2, 3, false);
  src.at(2, 3) = 1e6f;  // a masked value that would show if it leaked
  const Grid tg = grid(12, 12, 30.0);
  const Raster out = prep::align(prep::raster_source(src, "src.tif"), tg);
  int valid = 0;
  for (int y = 0; y < 12; ++y) {
    for (int x = 0; x < 12; ++x) {
      // Target centre in source pixel-centre coordinates; both neighbours have weight 0.25/0.75.
      const double u = (x + 0.5) / 2.0 - 0.5, v = (y + 0.5) / 2.0 - 0.5;
      const int u0 = static_cast<int>(std::floor(u)), v0 = static_cast<int>(std::floor(v));
      bool expect = u0 >= 0 && v0 >= 0 && u0 + 1 < 6 && v0 + 1 < 6;
      for (int j = v0; j <= v0 + 1 && expect; ++j)
        for (int i = u0; i <= u0 + 1 && expect; ++i) expect = src.valid(j, i);
      ASSERT_EQ(out.valid(y, x), expect) << x << "," << y;
      if (expect) {
        ++valid;
        EXPECT_NEAR(out.at(y, x), plane(tg, x, y), 1e-3) << x << "," << y;
      }
    }
  }
  EXPECT_EQ(valid, 10 * 10 - 4 * 4);  // interior 10 x 10 minus the 4 x 4 around the hole
}

TEST(Align, AverageAggregatesValidPartOnly) {
  const Grid sg = grid(4, 4, 30.0);
  Raster src(sg, 1);
  for (int i = 0; i < 16; ++i) src.band(0)[i] = 290.0f + i;
  src.set_valid(0, 0, 0, false);                              // block (0,0): 3 of 4 valid
  for (int i : {2, 3, 6}) src.mask(0)[i] = 0;                 // block (1,0): 1 of 4 valid
  prep::AlignOptions o;
  o.resampling = prep::Resampling::Average;
  const Raster out = prep::align(prep::raster_source(src, "src.tif"), grid(2, 2, 60.0), o);
  ASSERT_TRUE(out.valid(0, 0));
  EXPECT_NEAR(out.at(0, 0), (291 + 294 + 295) / 3.0, 1e-3);
  EXPECT_FALSE(out.valid(0, 1));
  EXPECT_NEAR(out.at(1, 1), (300 + 301 + 304 + 305) / 4.0, 1e-3);
}

TEST(Align, AcrossCrsConstantFieldStaysConstantAndTilingDoesNotMatter) {
  // A geographic source covering a UTM target.
  Grid sg;
  sg.width = 200;
  sg.height = 200;
  sg.transform = {146.9, 0.001, 0.0, -35.9, 0.0, -0.001};
  sg.crs = io::crs_to_wkt("EPSG:4326");
  Raster src(sg, 1);
  for (int y = 0; y < 200; ++y)
    for (int x = 0; x < 200; ++x) src.at(y, x) = (x / 20 + y / 20) % 2 ? 300.0f : 310.0f;
  // UTM 55S around 147.0E 36.0S: x ~ 500000 + ..., y ~ 6015000.
  const auto b = prep::bounds_in(sg, io::crs_to_wkt("EPSG:32755"));
  ASSERT_TRUE(b.has_value());
  const Grid tg = prep::make_grid("EPSG:32755", 30.0, {(*b)[0] + 1000, (*b)[1] + 1000, (*b)[0] + 7000, (*b)[1] + 5500});
  prep::AlignOptions big, small;
  big.resampling = small.resampling = prep::Resampling::Nearest;
  small.tile = 64;
  const Raster a = prep::align(prep::raster_source(src, "geo.tif"), tg, big);
  const Raster t = prep::align(prep::raster_source(src, "geo.tif"), tg, small);
  EXPECT_EQ(a.valid_fraction(), 1.0);
  EXPECT_EQ(a.data(), t.data());
  for (float v : a.data()) ASSERT_TRUE(v == 300.0f || v == 310.0f);

  Raster flat(sg, 1, 295.5f);
  const Raster f = prep::align(prep::raster_source(flat, "flat.tif"), tg);
  EXPECT_EQ(f.valid_fraction(), 1.0);
  for (float v : f.data()) ASSERT_NEAR(v, 295.5f, 1e-4);
}

TEST(Align, NoOverlapIsAnErrorNamingTheSource) {
  Raster src(grid(10, 10, 30.0), 1, 300.0f);
  const Grid far = grid(10, 10, 30.0, 700000.0, 6000000.0);
  EXPECT_FALSE(prep::overlaps(src.grid(), far));
  try {
    prep::align(prep::raster_source(src, "/data/far_away.tif"), far);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/data/far_away.tif"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("overlap"), std::string::npos) << e.what();
  }
}
