#pragma once
// Truth-free quality of a fused day: how well the fused image, averaged over coarse-pixel-sized
// blocks, reproduces that day's coarse image. Only observed coarse pixels count (filled ones
// would test the filler, not the fusion). Also rank correlation (Spearman), with which the
// benchmark checks how well this score ranks methods and dates against the truth RMSE.
#include <limits>
#include <vector>

#include "lstfuse/core/raster.hpp"

namespace lstfuse::eval {

struct ConsistencyScore {
  double ubrmse = std::numeric_limits<double>::quiet_NaN();  // K, bias removed
  double bias = std::numeric_limits<double>::quiet_NaN();    // K, mean of fused - coarse
  long long blocks = 0;                                      // blocks scored
};

// Fine pixels per coarse pixel side: coarse_res_m / the fine pixel size, rounded, at least 1.
int coarse_block_size(const Grid& fine, double coarse_res_m = 1000.0);

// Blocks of `block` x `block` fine pixels from the grid origin (partial edge blocks included).
// A block is scored when at least half of its pixels have a valid fused value over an observed
// coarse value (valid in `coarse` and not flagged in `coarse_filled`, a 0/1 band that may be
// null); its residual is the mean of fused - coarse over those pixels. bias is the mean of the
// block residuals, ubrmse their standard deviation (population). When `residual` is given it
// receives, per fine pixel, its block's residual (invalid where the block was not scored).
ConsistencyScore coarse_consistency(const Raster& fused, const Raster& coarse, int block,
                                    const Raster* coarse_filled = nullptr,
                                    Raster* residual = nullptr);

// Spearman rank correlation of paired values (ties get their average rank; pairs where either
// value is not finite are dropped). NaN with fewer than 3 pairs or when a side is constant.
double spearman(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace lstfuse::eval
