#pragma once
// A small synthetic LST series for deep-engine tests and benchmarks until the simulator lands:
// a land-cover map of four classes, each with its own seasonal cycle (so change differs by class
// inside one coarse pixel), fixed fine-scale texture, and a smooth coarse version (block means
// over `factor` x `factor` fine pixels, bilinearly upsampled back to the fine grid, plus a small
// sensor bias). Pairs are every `step_days` days.
#include <vector>

#include "lstfuse/methods/method.hpp"

namespace lstfuse::deep {

struct SyntheticSeries {
  std::vector<ImagePair> pairs;  // fine = truth here (noise-free), coarse smooth
};
SyntheticSeries make_synthetic_series(int width, int height, int dates, int step_days = 16, int factor = 10,
                                      unsigned seed = 1);

}  // namespace lstfuse::deep
