// The baseline candidate every family keeps (DeepModel::predict_baseline's default): the
// additive estimate, weighted like the `additive` method.
#include <cmath>

#include "lstfuse/core/error.hpp"
#include "lstfuse/deep/model.hpp"

namespace lstfuse::deep {

torch::Tensor DeepModel::predict_baseline(const std::vector<Batch>& refs, torch::Tensor* weights) {
  if (refs.empty() || refs.size() > 2) throw Error("the baseline predicts from one or two references");
  std::vector<torch::Tensor> est;
  for (const auto& r : refs) est.push_back(r.fine_ref + (r.coarse_target - r.coarse_ref));
  if (refs.size() == 1) {
    if (weights) *weights = torch::ones_like(est[0].narrow(1, 0, 1));
    return est[0];
  }
  // 1/|dt| per sample, as `additive`; a reference on the target date itself takes all the weight.
  auto inv = [](const Batch& r, int64_t n) {
    auto dt = r.dt.to(torch::kFloat).abs().view({-1, 1, 1, 1});
    if (dt.size(0) != n) dt = dt.narrow(0, 0, 1).expand({n, 1, 1, 1});
    return torch::where(dt > 0, dt.clamp_min(1e-6).reciprocal(), torch::full_like(dt, 1e30));
  };
  const int64_t n = est[0].size(0);
  const auto w0 = inv(refs[0], n), w1 = inv(refs[1], n);
  const auto a = w0 / (w0 + w1), b = w1 / (w0 + w1);
  if (weights) {
    const auto shape = est[0].narrow(1, 0, 1);
    *weights = torch::cat({a.expand_as(shape), b.expand_as(shape)}, 1);
  }
  return a * est[0] + b * est[1];
}

}  // namespace lstfuse::deep
