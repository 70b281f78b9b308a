#pragma once
// STARFM (Gao et al. 2006; equations in docs/methods.md): spectrally similar pixels in a
// moving window, filtered against the centre's spectral and temporal differences, weighted by
// 1 / ((|L-M|+1)(|M0-M|+1)(1+d/A)), predicting sum w (L + M0 - M) over candidates and pairs.
// Bands are processed independently (as Gao's code does); the quality layer describes band 1.
#include "lstfuse/methods/method.hpp"

namespace lstfuse {

struct StarfmOptions {
  int window = 31;               // moving window size in fine pixels (odd)
  double search_distance = 0.0;  // metres; > 0 overrides --window (half window = distance / res)
  int classes = 4;               // similarity threshold = std(L_k) * 2 / classes
  double fine_uncertainty = 0.5;    // K, sensor uncertainty of the fine images
  double coarse_uncertainty = 0.5;  // K, of the coarse images
};

class StarfmMethod : public Method {
 public:
  StarfmMethod();
  const MethodInfo& info() const override;
  OptionSet& options() override { return option_set_; }
  int halo() const override;
  int halo_on(const Grid& grid) const override { return half_window(grid); }
  FusionResult predict(const FusionInput& in) override;
  // Half window in pixels for a grid (search distance converted when set).
  int half_window(const Grid& grid) const;

  StarfmOptions opts;

 private:
  OptionSet option_set_{"starfm"};
  int halo_for_grid_ = -1;  // set from the last grid seen when search_distance is used
};

}  // namespace lstfuse
