#pragma once
// The baselines every benchmark carries (docs/methods.md):
// - bilinear: the target coarse image as given on the fine grid (ingest already resampled it);
// - additive: L_k + (M_0 - M_k), the mean of the pairs weighted by 1 / |t0 - t_k| (days) when
//   two pairs exist; a pixel valid in one pair only uses that pair.
#include "lstfuse/methods/method.hpp"

namespace lstfuse {

class BilinearMethod : public Method {
 public:
  const MethodInfo& info() const override;
  OptionSet& options() override { return option_set_; }
  FusionResult predict(const FusionInput& in) override;  // quality: "predicted" (0/1)

 private:
  OptionSet option_set_{"bilinear"};
};

class AdditiveMethod : public Method {
 public:
  const MethodInfo& info() const override;
  OptionSet& options() override { return option_set_; }
  FusionResult predict(const FusionInput& in) override;  // quality: "pairs_used"

 private:
  OptionSet option_set_{"additive"};
};

}  // namespace lstfuse
