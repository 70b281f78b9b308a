#pragma once
// ESTARFM (Zhu et al. 2010, the author's 2018 IDL revision); docs/methods.md gives its equations,
// with the ubESTARFM variants for LST available as named options.
//
// Quality bands: n_similar, rule (1 similar-pixel prediction, 2 out-of-range fallback to the
// weighted fine values, 3 five or fewer similar pixels: window-mean change), v (conversion
// coefficient of band 1), t1 (temporal weight of the first pair, band 1).
#include "lstfuse/methods/method.hpp"

namespace lstfuse {

struct EstarfmOptions {
  int half_window = 25;   // w: the window is (2w+1) x (2w+1)
  int classes = 4;        // similarity threshold = std(L_k) * 2 / classes
  double dn_min = 250.0;  // valid data range (K for LST)
  double dn_max = 350.0;
  // ubESTARFM variants for LST:
  bool std_threshold_without_factor = false;  // threshold = std(L_k), without 2 / classes
  bool fixed_v = false;                       // V = 1 (no regression)
  bool zero_bias = false;  // shift fine values by mean(M_cand) - mean(L_cand) per pair
};

class EstarfmMethod : public Method {
 public:
  EstarfmMethod();
  const MethodInfo& info() const override;
  OptionSet& options() override { return option_set_; }
  int halo() const override { return opts.half_window; }
  void check_options() const override;
  FusionResult predict(const FusionInput& in) override;

  EstarfmOptions opts;

 private:
  OptionSet option_set_{"estarfm"};
};

}  // namespace lstfuse
