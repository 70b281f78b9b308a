#pragma once
// `series`: fusion that uses every pair of the series, not only the two around the target.
// docs/methods.md gives the equations; in short, per band:
//  1. Coarse bias. The coarse sensor's offset on each pair date, b_k = mean(M_k - L_k) over
//     the scene (prep/coarse_bias.hpp), and at the target date from a model of b in time
//     fitted to the b_k (ordinary kriging; with a bias that decorrelates within days this is
//     their mean). Corrected coarse images C_k = M_k - b_k, C_0 = M_0 - b_0.
//  2. Fine-coarse differences D_k = L_k - C_k on the pixels clear in both, and the pixel's
//     persistent difference P = mean_k D_k over every clear date.
//  3. Denoising. The anomaly D_k - P of each date is averaged over the pixels of a small
//     window whose persistent differences are close to the centre's (Gaussian weights in
//     |P_j - P_i|), so that the fine sensor's noise averages out without mixing fields.
//  4. Gain. How strongly the pixel follows its coarse signal: the least-squares slope of fine
//     changes on coarse changes between clear dates at most --gain-max-lag days apart, pooled
//     over a small window and shrunk towards 1 by a prior of --gain-prior K^2 (a pixel with
//     little coarse change keeps gain 1):  g = (sum dL dC + lambda) / (sum dC^2 + lambda).
//  4b. Response (default; off with --gain, which models the same): on every clear date, the
//     part of the denoised difference that interpolation in time from the pixel's neighbouring
//     clear dates misses, R_k, against the same miss of the coarse image, E_k. The slope of R
//     on E, pooled over similar pixels and shrunk to 0 (posterior mean under a prior
//     beta ~ N(0, --response-sd^2) with the residual variance of the fit), is how much more
//     or less the fine pixel reacts than its coarse pixel to what the neighbours did not show.
//  5. Per pixel, the nearest date before and the nearest after on which the pixel is clear
//     (cloudy pairs count where they are clear), weighted 1/|dt| times s / (s + |a_side|),
//     a_side the pixel's coarse change since that date less the scene's mean change (a harvest
//     or a rain cell the coarse image shows between that date and the target):
//       prediction = C_0 + sum_side w_side (P + smoothed anomaly_side + (g - 1)(C_0 - C_side))
//                    + beta (C_0 - sum_side w_side C_side).
// With one pair, gain 1 and no denoising this is `additive` with a bias correction.
//
// Quality bands: clear_dates (pair dates on which the pixel is clear), days_before and
// days_after (days to the dates used; 0: none on that side), gain, response (beta).
#include <algorithm>

#include "lstfuse/methods/method.hpp"

namespace lstfuse {

struct SeriesOptions {
  bool coarse_bias = true;      // correct the coarse images with the estimated sensor bias
  int max_gap = 0;              // days; pairs further from the target are ignored (0: none)
  int denoise_radius = 2;       // half window of the anomaly averaging (0: none)
  double denoise_sigma = 0.5;   // K, scale of |P_j - P_i| in the averaging weights
  double min_bias_share = 0.05; // a pair's bias is measured when its clear pixels are at
                                // least this share of the clearest pair's; else modelled
  bool gain = false;            // per-pixel gain on the coarse change (step 4)
  int gain_max_lag = 48;        // days between the two dates of a change
  int gain_radius = 2;          // half window of the pooling
  double gain_prior = 200.0;    // K^2: weight of the prior gain 1
  bool response = true;         // step 4b
  int response_radius = 1;      // half window of its pooling over similar pixels
  double response_sd = 0.03;    // prior sd of beta (its shrinkage towards 0)
  double event_scale = 1.0;     // K: step 5's event weights s / (s + |a|) (0: days only)
};

class SeriesMethod : public Method {
 public:
  SeriesMethod();
  const MethodInfo& info() const override;
  OptionSet& options() override { return option_set_; }
  int halo() const override {
    return std::max(opts.denoise_radius + (opts.response ? opts.response_radius : 0), opts.gain ? opts.gain_radius : 0);
  }
  void check_options() const override;
  FusionResult predict(const FusionInput& in) override;

  // The coarse biases used for a prediction (steps 1), for logs and tests.
  struct BiasReport {
    std::vector<Date> dates;      // the pairs'
    std::vector<double> pair;     // b_k used (measured or modelled), band 1
    std::vector<bool> measured;
    double target = 0.0, target_sd = 0.0;
  };
  const BiasReport& last_bias() const { return last_bias_; }

  SeriesOptions opts;

 private:
  OptionSet option_set_{"series"};
  BiasReport last_bias_;
};

}  // namespace lstfuse
