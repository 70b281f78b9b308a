#include <gtest/gtest.h>

#include <cmath>

#include "lstfuse/core/raster.hpp"

using namespace lstfuse;

namespace {
Grid grid(int w, int h) {
  Grid g;
  g.width = w;
  g.height = h;
  g.transform = {500000.0, 30.0, 0.0, 4000000.0, 0.0, -30.0};
  g.crs = "EPSG:32633";
  return g;
}
}  // namespace

TEST(Raster, CropAndPasteRoundTrip) {
  Raster r(grid(5, 4), 2);
  for (int b = 0; b < 2; ++b)
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 5; ++x) r.at(b, y, x) = 100.0f * b + 10.0f * y + x;
  Raster c = r.crop(-1, 2, 3, 3);  // partly outside
  EXPECT_EQ(c.width(), 3);
  EXPECT_FALSE(c.valid(0, 0, 0));             // column -1
  EXPECT_TRUE(c.valid(1, 0, 1));
  EXPECT_FLOAT_EQ(c.at(1, 0, 1), 120.0f);     // band 1, row 2, col 0
  EXPECT_FALSE(c.valid(0, 2, 1));             // row 4 is outside
  EXPECT_DOUBLE_EQ(c.grid().transform[0], 500000.0 - 30.0);
  EXPECT_DOUBLE_EQ(c.grid().transform[3], 4000000.0 - 60.0);

  Raster back(grid(5, 4), 2, 0.0f, false);
  back.paste(c, -1, 2);
  EXPECT_FLOAT_EQ(back.at(1, 3, 1), 131.0f);
  EXPECT_TRUE(back.valid(0, 2, 0));
  EXPECT_FALSE(back.valid(0, 0, 0));
}

TEST(Raster, StatsUseValidPixelsOnly) {
  Raster r(grid(2, 2), 1);
  r.at(0, 0) = 1; r.at(0, 1) = 2; r.at(1, 0) = 3; r.at(1, 1) = 1000;
  r.set_valid(0, 1, 1, false);
  const auto s = band_stats(r);
  EXPECT_EQ(s.count, 3);
  EXPECT_DOUBLE_EQ(s.mean, 2.0);
  EXPECT_DOUBLE_EQ(s.stddev, 1.0);  // sample std of 1,2,3
  EXPECT_DOUBLE_EQ(s.max, 3.0);
  EXPECT_DOUBLE_EQ(r.valid_fraction(), 0.75);
}

TEST(Grid, SameGeometryToleratesRoundingOnly) {
  Grid a = grid(10, 10), b = grid(10, 10);
  b.transform[0] += 1e-6;
  EXPECT_TRUE(a.same_geometry(b));
  b.transform[0] += 30.0;  // one pixel shift
  EXPECT_FALSE(a.same_geometry(b));
  Grid c = grid(10, 10);
  c.crs = "EPSG:4326";
  EXPECT_FALSE(a.same_geometry(c));
}
