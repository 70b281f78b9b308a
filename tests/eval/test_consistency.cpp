#include <gtest/gtest.h>

#include <cmath>

#include "lstfuse/eval/consistency.hpp"

using namespace lstfuse;

namespace {

Grid grid(int w, int h) {
  Grid g;
  g.width = w;
  g.height = h;
  g.transform = {0.0, 30.0, 0.0, 0.0, 0.0, -30.0};
  return g;
}

}  // namespace

TEST(Consistency, BlockSizeFromPixelSize) {
  EXPECT_EQ(eval::coarse_block_size(grid(4, 4), 1000.0), 33);  // 1000 / 30 = 33.3
  EXPECT_EQ(eval::coarse_block_size(grid(4, 4), 60.0), 2);
  // A pixel of 1e-12 units: 1e15 pixels per block overflowed int and wrapped to a small block.
  Grid tiny = grid(4, 4);
  tiny.transform[1] = 1e-12;
  EXPECT_GE(eval::coarse_block_size(tiny, 1000.0), 1 << 28);
}

TEST(Consistency, HandComputedBlocks) {
  // 4 x 4 pixels in 2 x 2 blocks. Fused 302 in the top-left block, 300 elsewhere; coarse 299
  // in the bottom-right block, 300 elsewhere. Block residuals: 2, 0, 0, 1.
  Raster fused(grid(4, 4), 1, 300.0f), coarse(grid(4, 4), 1, 300.0f);
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 2; ++x) fused.at(y, x) = 302.0f;
  for (int y = 2; y < 4; ++y)
    for (int x = 2; x < 4; ++x) coarse.at(y, x) = 299.0f;
  Raster residual;
  const auto s = eval::coarse_consistency(fused, coarse, 2, nullptr, &residual);
  EXPECT_EQ(s.blocks, 4);
  EXPECT_NEAR(s.bias, 0.75, 1e-9);
  // Deviations 1.25, -0.75, -0.75, 0.25: mean square 2.75 / 4.
  EXPECT_NEAR(s.ubrmse, std::sqrt(2.75 / 4.0), 1e-9);
  EXPECT_FLOAT_EQ(residual.at(0, 1), 2.0f);
  EXPECT_FLOAT_EQ(residual.at(3, 3), 1.0f);

  // Three of the four coarse pixels of the top-left block are clouds: fewer than half the
  // block observed, so it is not scored; the three others are (0, 0, 1).
  for (int i : {0, 1, 4}) coarse.mask_data()[static_cast<size_t>(i)] = 0;
  const auto c = eval::coarse_consistency(fused, coarse, 2, nullptr, &residual);
  EXPECT_EQ(c.blocks, 3);
  EXPECT_NEAR(c.bias, 1.0 / 3.0, 1e-9);
  EXPECT_FALSE(residual.valid(0, 0));

  // Filled coarse pixels count as not observed: flag the bottom-right block entirely.
  Raster filled(grid(4, 4), 1, 0.0f);
  for (int y = 2; y < 4; ++y)
    for (int x = 2; x < 4; ++x) filled.at(y, x) = 1.0f;
  const auto f = eval::coarse_consistency(fused, coarse, 2, &filled);
  EXPECT_EQ(f.blocks, 2);
  EXPECT_NEAR(f.bias, 0.0, 1e-9);
  EXPECT_NEAR(f.ubrmse, 0.0, 1e-9);
}

TEST(Consistency, PartialEdgeBlocksAndHalfRule) {
  // 3 x 1 pixels, block 2: blocks {0,1} and {2}. Block 0 residual is the mean of its valid
  // pixels: (1 + 3) / 2 = 2; block 1 (one pixel) residual -1.
  Raster fused(grid(3, 1), 1, 0.0f), coarse(grid(3, 1), 1, 0.0f);
  fused.at(0, 0) = 1.0f;
  fused.at(0, 1) = 3.0f;
  fused.at(0, 2) = -1.0f;
  auto s = eval::coarse_consistency(fused, coarse, 2);
  EXPECT_EQ(s.blocks, 2);
  EXPECT_NEAR(s.bias, 0.5, 1e-9);
  EXPECT_NEAR(s.ubrmse, 1.5, 1e-9);
  // Half the block (1 of 2 pixels) still counts.
  fused.set_valid(0, 0, 1, false);
  s = eval::coarse_consistency(fused, coarse, 2);
  EXPECT_EQ(s.blocks, 2);
  EXPECT_NEAR(s.bias, 0.0, 1e-9);
}

TEST(Spearman, HandComputedWithTies) {
  // b's ranks: 1, 2, 3.5, 5, 3.5. Rank deviations from 3: (-2,-1,0,1,2) and (-2,-1,.5,2,.5):
  // sxy = 8, sxx = 10, syy = 9.5.
  EXPECT_NEAR(eval::spearman({1, 2, 3, 4, 5}, {5, 6, 7, 8, 7}), 8.0 / std::sqrt(95.0), 1e-12);
  EXPECT_NEAR(eval::spearman({1, 2, 3, 4}, {40, 30, 20, 10}), -1.0, 1e-12);
  EXPECT_NEAR(eval::spearman({1, 2, 3}, {1, 4, 9}), 1.0, 1e-12);  // monotone, not linear
}

TEST(Spearman, UndefinedCasesAreNaN) {
  EXPECT_TRUE(std::isnan(eval::spearman({1, 2}, {3, 4})));
  EXPECT_TRUE(std::isnan(eval::spearman({1, 2, 3}, {5, 5, 5})));
  // Non-finite pairs are dropped: three finite pairs remain.
  EXPECT_NEAR(eval::spearman({1, NAN, 2, 3}, {3, 1, 2, 1}), -1.0, 1e-12);
}
