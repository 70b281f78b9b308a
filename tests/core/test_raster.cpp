#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <utility>
#include <vector>

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

// Statistics gathered strip by strip (how `info` reads a band) are those of the whole band:
// 1, 2, 3 and 6 in three pieces, one of them without a valid pixel.
TEST(Raster, StatsGatheredPieceByPieceAreThoseOfTheWhole) {
  Raster whole(grid(2, 3), 1);
  whole.at(0, 0) = 1; whole.at(0, 1) = 2; whole.at(1, 0) = 500; whole.at(1, 1) = 500;
  whole.at(2, 0) = 3; whole.at(2, 1) = 6;
  whole.set_valid(0, 1, 0, false);
  whole.set_valid(0, 1, 1, false);
  BandStatsSum sum;
  for (int y = 0; y < 3; ++y) sum.add(whole.crop(0, y, 2, 1));
  const BandStats s = sum.result(), w = band_stats(whole);
  EXPECT_EQ(s.count, 4);
  EXPECT_DOUBLE_EQ(s.mean, 3.0);
  EXPECT_DOUBLE_EQ(s.stddev, std::sqrt(14.0 / 3.0));  // (4 + 1 + 0 + 9) / 3
  EXPECT_DOUBLE_EQ(s.min, 1.0);
  EXPECT_DOUBLE_EQ(s.max, 6.0);
  EXPECT_DOUBLE_EQ(s.mean, w.mean);
  EXPECT_DOUBLE_EQ(s.stddev, w.stddev);
  EXPECT_TRUE(std::isnan(BandStatsSum().result().mean));
}

// A borrowed raster reads the lender's floats in place, shares them with its copies, and takes
// its own copy at the first write, leaving the lender's memory as it was.
TEST(Raster, BorrowedValuesAreReadInPlaceAndCopiedOnWrite) {
  auto lender = std::make_shared<std::vector<float>>(2 * 3 * 4);
  for (size_t i = 0; i < lender->size(); ++i) (*lender)[i] = static_cast<float>(i);
  const float* floats = lender->data();
  std::weak_ptr<std::vector<float>> alive = lender;
  Raster r = Raster::borrowing(grid(4, 3), 2, std::shared_ptr<const float>(lender, floats));
  lender.reset();  // the raster's handle alone keeps the floats
  ASSERT_FALSE(alive.expired());
  EXPECT_TRUE(r.borrowed());
  EXPECT_FALSE(r.empty());
  const Raster& cr = r;
  EXPECT_EQ(cr.band(0), floats);  // no copy
  EXPECT_EQ(cr.band(1), floats + 12);
  EXPECT_EQ(cr.data().data(), floats);
  EXPECT_EQ(cr.data().size(), 24u);
  EXPECT_FLOAT_EQ(cr.at(1, 2, 3), 23.0f);
  EXPECT_EQ(cr.valid_count(1), 12);  // mask all valid, the raster's own
  r.set_valid(0, 1, 1, false);
  EXPECT_EQ(cr.band(0), floats);  // mask writes leave the values borrowed

  // Copies share the borrowed floats; crops and single bands copy what they hold.
  Raster copy = r;
  EXPECT_EQ(std::as_const(copy).band(0), floats);
  EXPECT_FALSE(copy.valid(0, 1, 1));
  const Raster c = cr.crop(1, 1, 2, 2);
  EXPECT_FLOAT_EQ(c.at(1, 0, 0), 17.0f);  // band 1, row 1, col 1
  EXPECT_FALSE(c.valid(0, 0, 0));
  EXPECT_FLOAT_EQ(cr.band_raster(1).at(2, 3), 23.0f);

  // The first write copies: the lender and the other copy keep their values.
  copy.at(0, 0, 0) = -1.0f;
  EXPECT_FALSE(copy.borrowed());
  EXPECT_NE(std::as_const(copy).band(0), floats);
  EXPECT_FLOAT_EQ(copy.at(0, 0, 0), -1.0f);
  EXPECT_FLOAT_EQ(copy.at(1, 2, 3), 23.0f);
  EXPECT_FLOAT_EQ(floats[0], 0.0f);
  EXPECT_TRUE(r.borrowed());
  EXPECT_FALSE(alive.expired());  // r still reads them
  r.paste(c, 0, 0);               // paste writes too
  EXPECT_FALSE(r.borrowed());
  EXPECT_FLOAT_EQ(r.at(1, 0, 0), 17.0f);
  EXPECT_FLOAT_EQ(r.at(1, 2, 3), 23.0f);
  EXPECT_TRUE(alive.expired());  // nothing borrows any more: the lender is released
}

TEST(Raster, ValuesViewComparesLikeTheVector) {
  Raster a(grid(2, 2), 1, 3.0f);
  const std::vector<float> same(4, 3.0f), other(4, 2.0f);
  const Raster& ca = a;
  EXPECT_TRUE(ca.data() == same);
  EXPECT_TRUE(ca.data() != other);
  EXPECT_TRUE(ca.data() == std::as_const(a).data());
  float sum = 0.0f;
  for (float v : ca.data()) sum += v;
  EXPECT_FLOAT_EQ(sum, 12.0f);
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
